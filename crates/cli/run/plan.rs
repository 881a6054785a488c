//! Between plan and apply: where recognised notes sit, the mass-deletion guard, and the confirmation of
//! deletions in Anki.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;

use ankiops_connect::Client;
use ankiops_sync::{AnkiChange, BaseChange, Input, MarkdownChange, NoteId, NoteRef, Plan, Recognised, Skip};

use super::RunArgs;
use crate::anki::AnkiSnapshot;
use crate::error::Result;
use crate::report::{Problem, Report};
use crate::store::{Collection, Locations};

/// Recognised notes sit where the note without a usable id was found; the summary says which.
/// Ids neither the base nor Anki knows, and not recognised, are reported with their file and line.
pub(super) fn place_recognised(
    plan: &Plan,
    input: &Input,
    collection: &Collection,
    locations: &mut Locations,
    root: &Path,
    report: &mut Report,
) {
    let at = |loc| collection.place(loc, root);
    let mut renamed = BTreeSet::new();
    for (place, id) in &plan.recognised {
        let (loc, why) = match place {
            Recognised::New(i) => (locations.get(NoteRef::New(*i)), "its note_id line is missing".to_string()),
            Recognised::UnknownId(old) => {
                renamed.insert(*old);
                (locations.remove(*old), format!("its note_id {old} is not in Anki"))
            }
        };
        let Some(loc) = loc else { continue };
        locations.insert(*id, loc);
        report.problems.push(Problem::info(format!(
            "{}: recognised as note {id} ({why}): it keeps that id and its review history, and the id is written back",
            at(loc)
        )));
    }
    for id in input.markdown.keys() {
        if input.base.contains_key(id)
            || input.anki.contains_key(id)
            || input.protected.contains(id)
            || renamed.contains(id)
        {
            continue;
        }
        let Some(loc) = locations.get(NoteRef::Existing(*id)) else { continue };
        report.problems.push(Problem::warning(format!(
            "{}: note_id {id} is not in Anki: the note is added as a new note and its new id written in its place; if the id was mistyped, fix it before the next run",
            at(loc)
        )));
    }
}

/// The mass-deletion guard: a plan deleting more notes than `limit` (in Anki and the Markdown together) is
/// stopped before anything changes, however it was confirmed. The message lists what it would delete.
pub(super) fn deletion_guard(plan: &Plan, limit: usize, report: &Report) -> Option<String> {
    let mut doomed: Vec<String> = Vec::new();
    let (mut in_anki, mut in_markdown) = (0, 0);
    for p in &plan.notes {
        let who = || match (p.note, report.locations.get(&p.note)) {
            (NoteRef::Existing(id), Some(loc)) => format!("note {id} ({loc})"),
            (NoteRef::Existing(id), None) => format!("note {id}"),
            (NoteRef::New(_), _) => "a new note".to_string(),
        };
        if let (NoteRef::Existing(_), Some(AnkiChange::Delete(before))) = (p.note, &p.anki) {
            in_anki += 1;
            doomed.push(format!("  in Anki: {} in {}", who(), before.deck));
        }
        if matches!(p.markdown, Some(MarkdownChange::Delete)) {
            in_markdown += 1;
            doomed.push(format!("  in the Markdown: {}", who()));
        }
    }
    let total = in_anki + in_markdown;
    if total <= limit {
        return None;
    }
    let shown = 10;
    let more = if doomed.len() > shown { format!("\n  … and {} more", doomed.len() - shown) } else { String::new() };
    doomed.truncate(shown);
    Some(format!(
        "this run would delete {total} notes ({in_anki} in Anki, {in_markdown} in the Markdown), more than the limit of {limit}:\n{}{more}\nIf a deck file was deleted or an old branch checked out by accident, restore it (`git status`, `ankiops log`); if the deletions are meant, run again with --max-delete {total}, or set \"max_delete\" in ankiops.json",
        doomed.join("\n")
    ))
}

/// Deleting notes in Anki destroys their review history: say how much, and ask. Without a terminal, `--yes`
/// is needed; otherwise the deletions are skipped and reported.
pub(super) fn confirm_deletions(
    client: &Client,
    plan: &mut Plan,
    snapshot: &AnkiSnapshot,
    args: &RunArgs,
    report: &mut Report,
) -> Result<()> {
    let doomed: Vec<NoteId> = plan
        .notes
        .iter()
        .filter_map(|p| match (p.note, &p.anki) {
            (NoteRef::Existing(id), Some(AnkiChange::Delete(_))) => Some(id),
            _ => None,
        })
        .collect();
    if doomed.is_empty() || args.yes {
        return Ok(());
    }
    let cards: Vec<i64> = doomed.iter().filter_map(|id| snapshot.seen.get(id)).flat_map(|s| s.cards.clone()).collect();
    let reviews: i64 = client.cards_info(&cards)?.into_iter().flatten().map(|c| c.reps).sum();
    let question = format!(
        "delete {} note{} from Anki, with {} card{} and {} review{} of history?",
        doomed.len(),
        super::plural(doomed.len()),
        cards.len(),
        super::plural(cards.len()),
        reviews,
        super::plural(reviews as usize)
    );
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.read_only {
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    } else {
        report.problems.push(Problem::warning(format!(
            "skipped: {question} Run again with --yes to delete them, or restore the notes in the Markdown"
        )));
    }
    for p in &mut plan.notes {
        if matches!(p.anki, Some(AnkiChange::Delete(_))) {
            p.anki = None;
            p.base = BaseChange::Keep;
            p.skipped = Some(Skip::DeletionDeclined);
        }
    }
    Ok(())
}
