//! One run of `ma`, `am`, `sync` or `status`: read the three snapshots, plan, confirm, apply to Anki and to
//! the Markdown, store the new base, commit. The order makes every step safe to interrupt: ids are written
//! back right after Anki accepts new notes, and the base is written last.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use ankiops_connect::{Action, Client, NewNote};
use ankiops_markdown::Registry;
use ankiops_markdown::convert::normalize_markdown;
use ankiops_markdown::deck::{DeckFile, FieldConflict, NoteBlock, deck_key, deck_to_file_name};
use ankiops_sync::{
    AnkiChange, BaseChange, Direction, Input, MarkdownChange, NoteId, NotePlan, NoteRef, NoteState, Options, Plan,
    Recognised, Skip,
};
use indexmap::IndexMap;
use serde_json::json;

use crate::anki::{self, AnkiSnapshot};
use crate::base::{Base, Seen};
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::git::Repo;
use crate::report::{Problem, Report};
use crate::store::{self, Collection};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub command: &'static str,
    pub direction: Direction,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub no_auto_commit: bool,
    /// Only this deck file (`ma --file`).
    pub file: Option<PathBuf>,
    /// Only this deck and its subdecks (`am --deck`).
    pub deck: Option<String>,
    /// `ma --only-add-new`: add new notes, change nothing else.
    pub only_add_new: bool,
    /// `am --keep-orphans`: keep Markdown notes whose Anki note is gone.
    pub keep_orphans: bool,
    /// Read-only (`status`): no commits, no writes.
    pub read_only: bool,
    /// Ask Anki to sync with AnkiWeb afterwards.
    pub web: bool,
    /// `--max-delete N`: the mass-deletion guard's limit for this run.
    pub max_delete: Option<usize>,
}

/// Where a Markdown note sits: deck file index and note index.
type Location = (usize, usize);

pub fn run(ctx: &Context, args: &RunArgs) -> Result<i32> {
    ctx.require_initialized()?;
    let client = ctx.client();
    let caps = client.capabilities()?;
    ctx.check_profile(&client)?;
    let defs = crate::models::definitions(&ctx.root)?;
    let registry = crate::models::registry_of(&defs);
    let repo = Repo::open(&ctx.root)?;
    let commits = !args.read_only && !args.dry_run && !args.no_auto_commit && ctx.settings.auto_commit;
    if commits {
        repo.commit_collection(&format!("ankiops: snapshot before {}", args.command))?;
    }

    let mut report = Report::new(args.command, args.dry_run || args.read_only);
    let (base, base_size) = match repo.read_base()? {
        Some(text) => (Base::parse(&text)?, text.len()),
        None => (Base::default(), 0),
    };
    // Media: files changed since they were pushed get content-hashed names, files Anki would store under another
    // name get that name, rewritten only in the deck files that parse (then read again); broken files stay as is.
    let dry = args.dry_run || args.read_only;
    let mut collection = store::load(&ctx.root, &registry)?;
    let mut media = crate::media::prepare(&ctx.root, &client, &base, &collection, args.direction, dry, &mut report)?;
    if media.rewrote_deck_files() {
        collection = store::load(&ctx.root, &registry)?;
    }
    for e in &collection.errors {
        report.problems.push(Problem::error(e.clone()));
    }
    let mut base = base;
    let mut snapshot = anki::read(&client, &caps, &registry, std::mem::take(&mut base.seen))?;
    report.fetched = snapshot.fetched;

    // Markdown deck names take Anki's spelling of the same deck, so case alone is never a move.
    let anki_deck_names: BTreeMap<String, String> =
        snapshot.deck_ids.keys().map(|name| (deck_key(name), name.clone())).collect();
    for source in &mut collection.decks {
        if let Some(name) = anki_deck_names.get(&deck_key(&source.deck)) {
            source.deck = name.clone();
        }
    }

    if let Some(deck) = &args.deck {
        let files = collection.decks.iter().map(|d| d.deck.as_str());
        crate::deck_names::require_in_anki(deck, snapshot.deck_ids.keys(), files)?;
    }
    let scope = Scope::new(ctx, args, &collection)?;
    let (mut input, locations, new_locations, unresolved_new, base_outside) =
        build_input(&collection, std::mem::take(&mut base.notes), std::mem::take(&mut snapshot.notes), &scope);
    for (d, line) in unresolved_new {
        let path =
            collection.decks[d].path.strip_prefix(&ctx.root).unwrap_or(&collection.decks[d].path).display().to_string();
        report.problems.push(Problem::error(format!(
            "{path}:{line}: a new note (no note_id) holds conflict markers: remove them, keeping the text you want"
        )));
    }
    protect_held_notes(&mut input, &collection, &ctx.root, &mut report);
    recognise_recreated(&mut input, &snapshot, &registry);
    align_identical_html(&mut input, &snapshot);
    let options = Options {
        direction: args.direction,
        force: args.force,
        only_add_new: args.only_add_new,
        keep_orphans: args.keep_orphans,
    };
    let mut plan = ankiops_sync::plan(&input, &options);
    let mut locations = locations;
    place_recognised(&plan, &input, &collection, &mut locations, &new_locations, &ctx.root, &mut report);
    media.check(&collection, &mut plan, &locations, &new_locations, &mut report);

    report.describe_plan(&plan, &input, &collection, &locations, &new_locations, &ctx.root);
    let limit = args.max_delete.or(ctx.settings.max_delete).unwrap_or(crate::settings::DEFAULT_MAX_DELETE);
    if let Some(stop) = deletion_guard(&plan, limit, &report) {
        if args.dry_run || args.read_only {
            report.problems.push(Problem::warning(format!("a real run would stop here: {stop}")));
        } else {
            report.problems.push(Problem::error(format!("stopped before changing anything: {stop}")));
            report.summary = plan.summary(&input);
            report.print(&ctx.args)?;
            return Ok(report.exit_code());
        }
    }
    if args.dry_run || args.read_only {
        report.summary = plan.summary(&input);
        report.print(&ctx.args)?;
        return Ok(report.exit_code());
    }

    confirm_deletions(&client, &mut plan, &snapshot, args, &mut report)?;

    media.upload(&client, &mut report)?;
    // Anki first: new notes, then their ids into the Markdown at once.
    let writes_anki = args.direction != Direction::ToMarkdown;
    let mut applied =
        apply_to_anki(&client, &defs, &registry, &plan, &base.note_types, writes_anki, &snapshot, &mut report)?;
    write_markdown(
        ctx,
        &client,
        &registry,
        &mut collection,
        &plan,
        &input,
        &snapshot,
        &locations,
        &new_locations,
        &mut applied,
        &mut report,
    )?;
    media.download(&client, &plan, &applied.failed, &mut report)?;
    // What Anki holds now: the notes read at the start (notes it no longer has are gone from that), then what
    // this run deleted and wrote.
    let mut new_base = base;
    new_base.seen = snapshot.seen;
    new_base.notes = base_outside;
    new_base.notes.append(&mut input.base);

    // The new base: agreed states, and what Anki holds now for the notes we wrote.
    for p in &plan.notes {
        if applied.failed.contains(&p.note) {
            continue;
        }
        let id = match (p.note, applied.created.get(&p.note)) {
            (_, Some(new_id)) => {
                if let NoteRef::Existing(old) = p.note {
                    new_base.notes.remove(&old);
                }
                Some(*new_id)
            }
            (NoteRef::Existing(id), None) => Some(id),
            (NoteRef::New(_), None) => match &p.markdown {
                Some(MarkdownChange::AssignId(id)) => Some(*id),
                _ => None,
            },
        };
        let Some(id) = id else { continue };
        match p.new_base() {
            None => {}
            Some(Some(state)) => {
                new_base.notes.insert(id, state.clone());
            }
            Some(None) => {
                new_base.notes.remove(&id);
            }
        }
    }
    for id in applied.deleted.iter().chain(&applied.edited_during_run) {
        new_base.seen.remove(id);
    }
    for (id, seen) in applied.read_back {
        new_base.seen.insert(id, seen);
    }
    new_base.note_types.extend(applied.note_types.clone());
    media.finish(&mut new_base, &mut report);
    report.summary = plan.summary(&input);
    report.summary.anki_created -= applied.failed_creates.min(report.summary.anki_created);
    // The snapshots are done with: free them before the base is serialised, the run's peak of memory.
    drop((input, plan, collection));
    repo.write_base(&new_base.to_json(base_size), &format!("ankiops: base after {}", args.command))?;
    if commits {
        if report.changed_anything() {
            repo.commit_run(&report.commit_message())?;
        } else {
            repo.commit_collection(&report.commit_message())?;
        }
    }
    if args.direction != Direction::ToMarkdown && (args.web || ctx.settings.web_sync) {
        match crate::commands::web::sync_with_ankiweb(&client) {
            Ok(outcome) => report.web = Some(outcome),
            Err(e) => {
                let hints: String = e.hints.iter().map(|h| format!("\nhint: {h}")).collect();
                report.problems.push(Problem::error(format!("{}{hints}", e.message)));
            }
        }
    }
    report.print(&ctx.args)?;
    Ok(report.exit_code())
}

/// Which decks a scoped run may touch; notes outside it are left out of every snapshot, so a scoped run never
/// deletes anything outside its scope. Decks whose file has errors are always out.
struct Scope {
    only: Option<String>,
    broken: BTreeSet<String>,
}

impl Scope {
    fn new(ctx: &Context, args: &RunArgs, collection: &Collection) -> Result<Scope> {
        let broken = collection.broken.iter().map(|d| deck_key(d)).collect();
        let only = if let Some(file) = &args.file {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let path = if file.is_absolute() { file.clone() } else { ctx.root.join(file) };
            let Some(deck) = ankiops_markdown::deck::file_name_to_deck(name).filter(|_| path.is_file()) else {
                return Err(CliError::input(format!("{} is not a deck file of this collection", file.display()))
                    .hint("pass a .md file at the top of the collection folder"));
            };
            Some(deck)
        } else {
            args.deck.clone()
        };
        Ok(Scope { only: only.map(|d| deck_key(&d)), broken })
    }

    fn contains(&self, deck: &str) -> bool {
        let key = deck_key(deck);
        let broken = self.broken.iter().any(|b| key == *b);
        let inside = match &self.only {
            None => true,
            Some(only) => key == *only || key.starts_with(&format!("{only}::")),
        };
        inside && !broken
    }
}

/// The engine's input, where each Markdown note sits (by id, and new notes in order), new notes holding
/// conflict markers (deck index, line), and the base notes outside the run's scope.
type MarkdownInput =
    (Input, BTreeMap<NoteId, Location>, Vec<Location>, Vec<(usize, usize)>, BTreeMap<NoteId, NoteState>);

/// `base` and `anki` are moved in (they are large); base notes outside the scope come back in `Input`'s
/// companion, so the new base keeps them.
fn build_input(
    collection: &Collection,
    base: BTreeMap<NoteId, NoteState>,
    anki: BTreeMap<NoteId, NoteState>,
    scope: &Scope,
) -> MarkdownInput {
    let mut input = Input::default();
    let mut locations = BTreeMap::new();
    let mut new_locations = Vec::new();
    let mut out_of_scope: BTreeSet<NoteId> = BTreeSet::new();
    let mut unresolved_new = Vec::new();
    for (d, source) in collection.decks.iter().enumerate() {
        let in_scope = scope.contains(&source.deck);
        for (n, note) in source.file.notes.iter().enumerate() {
            let state = markdown_state(note, &source.deck);
            match note.note_id {
                Some(id) => {
                    if !in_scope {
                        out_of_scope.insert(id);
                        continue;
                    }
                    locations.insert(id, (d, n));
                    if note.has_conflicts() {
                        input.unresolved.insert(id);
                    }
                    input.markdown.insert(id, state);
                }
                None if in_scope && note.has_conflicts() => {
                    // Markers in a note that was never pushed: nothing to sync until they are resolved.
                    unresolved_new.push((d, note.line));
                }
                None if in_scope => {
                    new_locations.push((d, n));
                    input.new_in_markdown.push(state);
                }
                None => {}
            }
        }
    }
    let mut outside = BTreeMap::new();
    for (id, state) in base {
        if scope.contains(&state.deck) && !out_of_scope.contains(&id) {
            input.base.insert(id, state);
        } else {
            out_of_scope.insert(id);
            outside.insert(id, state);
        }
    }
    for (id, state) in anki {
        if scope.contains(&state.deck) && !out_of_scope.contains(&id) {
            input.anki.insert(id, state);
        } else {
            out_of_scope.insert(id);
        }
    }
    // A note in scope on one side but not on another (moved across the scope's edge) is left alone entirely.
    for id in &out_of_scope {
        input.markdown.remove(id);
        if let Some(state) = input.base.remove(id) {
            outside.insert(*id, state);
        }
        input.anki.remove(id);
        input.unresolved.remove(id);
    }
    (input, locations, new_locations, unresolved_new, outside)
}

/// Ids written in files that were not read protect their notes on both sides ([`Input::protected`]); the
/// summary names each such file and how many notes it held back. When a file could not be opened at all its
/// ids are unknown, so every note missing from the Markdown is protected.
fn protect_held_notes(input: &mut Input, collection: &Collection, root: &std::path::Path, report: &mut Report) {
    for held in &collection.held {
        input.protected.extend(&held.ids);
        let shown = held.path.strip_prefix(root).unwrap_or(&held.path).display();
        let n = held.ids.len();
        report.problems.push(Problem::error(format!(
            "{shown} {}; the {n} note{} whose id{} it holds {} left alone in Anki and in the Markdown until then",
            held.why,
            plural(n),
            plural(n),
            if n == 1 { "is" } else { "are" }
        )));
    }
    if collection.unreadable {
        let unseen: Vec<NoteId> = input.base.keys().filter(|id| !input.markdown.contains_key(id)).copied().collect();
        input.protected.extend(unseen);
    }
}

/// Recognised notes sit where the note without a usable id was found; the summary says which.
/// Ids neither the base nor Anki knows, and not recognised, are reported with their file and line.
fn place_recognised(
    plan: &Plan,
    input: &Input,
    collection: &Collection,
    locations: &mut BTreeMap<NoteId, Location>,
    new_locations: &[Location],
    root: &std::path::Path,
    report: &mut Report,
) {
    let at = |loc| collection.place(loc, root);
    let mut renamed = BTreeSet::new();
    for (place, id) in &plan.recognised {
        let (loc, why) = match place {
            Recognised::New(i) => (new_locations.get(*i).copied(), "its note_id line is missing".to_string()),
            Recognised::UnknownId(old) => {
                renamed.insert(*old);
                (locations.remove(old), format!("its note_id {old} is not in Anki"))
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
        let Some(loc) = locations.get(id) else { continue };
        report.problems.push(Problem::warning(format!(
            "{}: note_id {id} is not in Anki: the note is added as a new note and its new id written in its place; if the id was mistyped, fix it before the next run",
            at(*loc)
        )));
    }
}

/// The mass-deletion guard: a plan deleting more notes than `limit` (in Anki and the Markdown together) is
/// stopped before anything changes, however it was confirmed. The message lists what it would delete.
fn deletion_guard(plan: &Plan, limit: usize, report: &Report) -> Option<String> {
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

/// The engine's view of a Markdown note.
pub fn markdown_state(note: &NoteBlock, deck: &str) -> NoteState {
    NoteState {
        note_type: note.note_type.clone(),
        deck: deck.to_string(),
        fields: note.fields.iter().map(|(k, v)| (k.clone(), normalize_markdown(v))).collect(),
        tags: note.tags.iter().cloned().collect(),
    }
    .normalized()
}

/// Deleting notes in Anki destroys their review history: say how much, and ask. Without a terminal, `--yes`
/// is needed; otherwise the deletions are skipped and reported.
fn confirm_deletions(
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
        plural(doomed.len()),
        cards.len(),
        plural(cards.len()),
        reviews,
        plural(reviews as usize)
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

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What actually happened in Anki.
#[derive(Default)]
struct Applied {
    /// Notes added, by plan entry.
    created: BTreeMap<NoteRef, NoteId>,
    failed: BTreeSet<NoteRef>,
    failed_creates: usize,
    deleted: BTreeSet<NoteId>,
    read_back: BTreeMap<NoteId, Seen>,
    /// Note types now matching our definitions, with their hashes.
    note_types: BTreeMap<String, String>,
    /// Notes found changed in Anki when re-read before writing: what the base caches of them is dropped, so
    /// the next run reads them in full and merges them (their `mod` may not have moved).
    edited_during_run: BTreeSet<NoteId>,
}

#[allow(clippy::too_many_arguments)]
fn apply_to_anki(
    client: &Client,
    defs: &[crate::note_types::NoteTypeDef],
    registry: &Registry,
    plan: &Plan,
    known_types: &BTreeMap<String, String>,
    direction_writes_anki: bool,
    snapshot: &AnkiSnapshot,
    report: &mut Report,
) -> Result<Applied> {
    let mut applied = Applied::default();
    let changes: Vec<(&NotePlan, &AnkiChange)> =
        plan.notes.iter().filter_map(|p| p.anki.as_ref().map(|a| (p, a))).collect();
    // Note types the changes need are created when missing; types whose definition changed since the last run
    // (an edited template, a new ankiops version) are brought up to date even when no note changes.
    let used_types: BTreeSet<&str> = changes
        .iter()
        .filter_map(|(_, c)| match c {
            AnkiChange::Create(s) | AnkiChange::Update { after: s, .. } => Some(s.note_type.as_str()),
            AnkiChange::Delete(_) => None,
        })
        .collect();
    let stale: BTreeSet<&str> = defs
        .iter()
        .filter(|d| direction_writes_anki && known_types.get(&d.spec.name) != Some(&crate::models::definition_hash(d)))
        .map(|d| d.spec.name.as_str())
        .collect();
    applied.note_types = crate::models::ensure_in_anki(client, defs, &used_types, &stale, report)?;
    if changes.is_empty() {
        return Ok(applied);
    }
    let decks: BTreeSet<&str> = changes
        .iter()
        .filter_map(|(_, c)| match c {
            AnkiChange::Create(s) => Some(s.deck.as_str()),
            AnkiChange::Update { before, after } if before.deck != after.deck => Some(after.deck.as_str()),
            _ => None,
        })
        .filter(|d| !snapshot.deck_ids.contains_key(*d))
        .collect();
    if !decks.is_empty() {
        let actions: Vec<Action> = decks.iter().map(|d| Action::new("createDeck", json!({"deck": d}))).collect();
        client.multi_all(&actions, &mut |_, _| {})?;
    }

    // A note edited in Anki since we read it is not overwritten. Its `mod` alone cannot tell (it counts whole
    // seconds), so the notes about to be written are read again and compared with what the plan was made from.
    let touched: Vec<NoteId> = changes
        .iter()
        .filter_map(|(p, c)| match (p.note, c) {
            (NoteRef::Existing(id), AnkiChange::Update { .. } | AnkiChange::Delete(_)) => Some(id),
            _ => None,
        })
        .collect();
    let mut moved_under_us = BTreeSet::new();
    if !touched.is_empty() {
        for (id, info) in touched.iter().zip(client.notes_info(&touched)?) {
            let unchanged = match (info, snapshot.seen.get(id)) {
                (Some(info), Some(seen)) => {
                    let now = anki::seen_from_info(&info, Some(seen), registry);
                    now.html == seen.html && now.tags == seen.tags && now.note_type == seen.note_type
                }
                _ => false,
            };
            if !unchanged {
                moved_under_us.insert(*id);
                applied.edited_during_run.insert(*id);
                applied.failed.insert(NoteRef::Existing(*id));
                report.problems.push(Problem::note(
                    NoteRef::Existing(*id),
                    "was edited in Anki during this run, so it was left alone; run the command again".to_string(),
                ));
            }
        }
    }

    // Creations, in one batch of `addNote`s: per-note ids and errors.
    // What we sent, per note: the state (borrowed from the plan) and its HTML, to check the read-back against.
    // What we sent, per note: the state (borrowed from the plan) and a digest of its HTML, to check the
    // read-back against without keeping every field twice.
    let mut sent: BTreeMap<NoteId, (&NoteState, [u8; 20])> = BTreeMap::new();
    let creates: Vec<(&NotePlan, &NoteState)> = changes
        .iter()
        .filter_map(|(p, c)| match c {
            AnkiChange::Create(s) => Some((*p, s)),
            _ => None,
        })
        .collect();
    let mut bar = crate::report::progress(creates.len(), "adding notes");
    let mut stopped: Option<String> = None;
    // A `multi` chunk at a time, so a large import never holds every note's HTML at once.
    for chunk in creates.chunks(ankiops_connect::MULTI_MAX_ACTIONS) {
        let mut fail = |note: NoteRef, why: String, applied: &mut Applied| {
            applied.failed.insert(note);
            applied.failed_creates += 1;
            report.problems.push(Problem::note(note, why));
        };
        if let Some(why) = &stopped {
            for (p, _) in chunk {
                fail(p.note, why.clone(), &mut applied);
            }
            continue;
        }
        let notes: Vec<NewNote> = chunk
            .iter()
            .map(|(_, s)| NewNote {
                deck_name: s.deck.clone(),
                model_name: s.note_type.clone(),
                fields: anki::fields_html(s, registry),
                tags: s.tags.iter().cloned().collect(),
                allow_duplicate: true,
            })
            .collect();
        let done = applied.created.len() + applied.failed_creates;
        match client.add_notes(&notes, &mut |n, _| bar.set(done + n)) {
            Ok(results) => {
                for (((p, state), note), result) in chunk.iter().zip(notes).zip(results) {
                    match result {
                        Ok(id) => {
                            applied.created.insert(p.note, id);
                            sent.insert(id, (*state, html_digest(note.fields.iter())));
                        }
                        Err(message) => fail(p.note, format!("Anki refused to add it: {message}"), &mut applied),
                    }
                }
            }
            // Nothing was added yet: the run stops here, as any run that cannot reach Anki.
            Err(e) if done == 0 => return Err(e.into()),
            // Earlier chunks landed: their ids are kept (and written to the Markdown); the rest is not sent.
            Err(e) => {
                let why = if e.is_outcome_unknown() {
                    format!("Anki may or may not have added it ({e}); the next run finds it if it did")
                } else {
                    format!("not added: {e}")
                };
                for (p, _) in chunk {
                    fail(p.note, why.clone(), &mut applied);
                }
                stopped = Some(format!("not sent, the run stopped adding notes: {e}"));
            }
        }
    }
    bar.finish();

    // Updates and moves, batched.
    let mut actions: Vec<(NoteId, Action)> = Vec::new();
    let mut moves: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (p, change) in &changes {
        let (NoteRef::Existing(id), AnkiChange::Update { before, after }) = (p.note, change) else { continue };
        if moved_under_us.contains(&id) {
            continue;
        }
        let html = anki::fields_html(after, registry);
        sent.insert(id, (after, html_digest(html.iter())));
        let tags: Vec<String> = after.tags.iter().cloned().collect();
        if before.note_type != after.note_type {
            actions.push((
                id,
                Action::new(
                    "updateNoteModel",
                    json!({"note": {"id": id, "modelName": after.note_type, "fields": html, "tags": tags}}),
                ),
            ));
        } else {
            let seen = snapshot.seen.get(&id);
            let changed: BTreeMap<&String, &String> = html
                .iter()
                .filter(|(name, value)| {
                    seen.map(|s| s.html.get(name).map_or("", String::as_str)) != Some(value.as_str())
                })
                .collect();
            if before.fields != after.fields && !changed.is_empty() {
                actions.push((id, Action::new("updateNoteFields", json!({"note": {"id": id, "fields": changed}}))));
            }
            if before.tags != after.tags {
                actions.push((id, Action::new("updateNoteTags", json!({"note": id, "tags": tags}))));
            }
        }
        if before.deck != after.deck
            && let Some(seen) = snapshot.seen.get(&id)
        {
            moves.entry(after.deck.as_str()).or_default().extend(&seen.cards);
        }
    }
    for (deck, cards) in &moves {
        actions.push((0, Action::new("changeDeck", json!({"cards": cards, "deck": deck}))));
    }
    if !actions.is_empty() {
        let only: Vec<Action> = actions.iter().map(|(_, a)| a.clone()).collect();
        let mut bar = crate::report::progress(only.len(), "updating notes");
        let results = client.multi(&only, &mut |done, _| bar.set(done))?;
        bar.finish();
        for ((id, action), result) in actions.iter().zip(results) {
            if let Err(message) = result {
                if *id != 0 {
                    applied.failed.insert(NoteRef::Existing(*id));
                    report
                        .problems
                        .push(Problem::note(NoteRef::Existing(*id), format!("{} failed: {message}", action.action)));
                } else {
                    report.problems.push(Problem::error(format!("{} failed: {message}", action.action)));
                }
            }
        }
    }

    // Deletions.
    let deletes: Vec<NoteId> = changes
        .iter()
        .filter_map(|(p, c)| match (p.note, c) {
            (NoteRef::Existing(id), AnkiChange::Delete(_)) if !moved_under_us.contains(&id) => Some(id),
            _ => None,
        })
        .collect();
    if !deletes.is_empty() {
        client.delete_notes(&deletes)?;
        applied.deleted.extend(&deletes);
    }

    // Read back what we wrote: a write that did not land is an error for that note.
    let written: Vec<NoteId> =
        sent.keys().copied().filter(|id| !applied.failed.contains(&NoteRef::Existing(*id))).collect();
    // In chunks, so a first import never holds every note Anki returns at once.
    for chunk in written.chunks(1000) {
        let observed = crate::base::now_secs();
        for info in client.notes_info(chunk)?.into_iter().flatten() {
            let Some((state, expected)) = sent.remove(&info.note_id) else { continue };
            // The note's fields as Anki holds them, for the fields of its type (others are not ours).
            let spec = registry.get(&info.model_name);
            let held: BTreeMap<&String, &String> = info
                .fields
                .iter()
                .filter(|(name, f)| !f.value.is_empty() && spec.is_none_or(|s| s.field_by_name(name).is_some()))
                .map(|(name, f)| (name, &f.value))
                .collect();
            let landed = html_digest(held.iter().map(|(k, v)| (*k, *v))) == expected;
            // Fields holding what we sent keep the Markdown we sent, unconverted.
            let as_sent = Seen {
                mod_time: 0,
                note_type: state.note_type.clone(),
                html: held.iter().map(|(k, v)| ((*k).clone(), (*v).clone())).collect(),
                markdown: state.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                tags: Vec::new(),
                cards: Vec::new(),
                observed: 0,
            };
            let mut seen = anki::seen_from_info(&info, Some(&as_sent), registry);
            seen.observed = observed;
            if landed {
                applied.read_back.insert(info.note_id, seen);
            } else {
                let note = applied
                    .created
                    .iter()
                    .find(|(_, id)| **id == info.note_id)
                    .map_or(NoteRef::Existing(info.note_id), |(r, _)| *r);
                if let NoteRef::Existing(_) = note {
                    applied.failed.insert(note);
                }
                report.problems.push(Problem::note(
                    NoteRef::Existing(info.note_id),
                    "the update did not land in Anki (is the note open in Anki's browser or editor? close it and run again)".into(),
                ));
                applied.read_back.insert(info.note_id, seen);
            }
        }
    }
    Ok(applied)
}

/// A digest of a note's field HTML: non-empty fields, by name, NFC (Anki stores NFC).
fn html_digest<'a>(fields: impl Iterator<Item = (&'a String, &'a String)>) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    use unicode_normalization::UnicodeNormalization;
    let mut sorted: Vec<(&String, &String)> = fields.filter(|(_, v)| !v.is_empty()).collect();
    sorted.sort();
    let mut hasher = Sha1::new();
    for (name, value) in sorted {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        if unicode_normalization::is_nfc(value) {
            hasher.update(value.as_bytes());
        } else {
            hasher.update(value.nfc().collect::<String>().as_bytes());
        }
        hasher.update([0]);
    }
    hasher.finalize().into()
}

fn unicode_eq(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    a == b || a.nfc().eq(b.nfc())
}

#[allow(clippy::too_many_arguments)]
fn write_markdown(
    ctx: &Context,
    client: &Client,
    registry: &Registry,
    collection: &mut Collection,
    plan: &Plan,
    _input: &Input,
    snapshot: &AnkiSnapshot,
    locations: &BTreeMap<NoteId, Location>,
    new_locations: &[Location],
    applied: &mut Applied,
    report: &mut Report,
) -> Result<()> {
    let mut removals: BTreeSet<Location> = BTreeSet::new();
    // Deck files by Anki's case-insensitive deck identity, looked up once per note written.
    let mut by_key: BTreeMap<String, usize> =
        collection.decks.iter().enumerate().map(|(i, d)| (deck_key(&d.deck), i)).collect();
    let mut emptied: BTreeSet<usize> = BTreeSet::new();
    let location_of = |note: NoteRef| match note {
        NoteRef::Existing(id) => locations.get(&id).copied(),
        NoteRef::New(i) => new_locations.get(i).copied(),
    };
    // Recognised notes keep the id of the note they are: written where they sit.
    for (_, id) in &plan.recognised {
        if let Some((d, n)) = locations.get(id) {
            collection.decks[*d].file.set_note_id(*n, *id);
        }
    }
    // Which notes each file gets Markdown changes for: a file saved by the user during the run is not
    // written, and its notes keep their old base.
    let mut writes_into: BTreeMap<usize, Vec<NoteRef>> = BTreeMap::new();
    for p in &plan.notes {
        let here = location_of(p.note);
        // Ids of notes Anki just accepted.
        if let (Some(id), Some((d, n))) = (applied.created.get(&p.note), here) {
            collection.decks[d].file.set_note_id(n, *id);
        }
        if applied.failed.contains(&p.note) {
            continue;
        }
        let Some(change) = &p.markdown else { continue };
        if let Some((d, _)) = here {
            writes_into.entry(d).or_default().push(p.note);
        }
        let id = match p.note {
            NoteRef::Existing(id) => Some(id),
            NoteRef::New(_) => None,
        };
        match change {
            MarkdownChange::AssignId(new_id) => {
                if let Some((d, n)) = here {
                    collection.decks[d].file.set_note_id(n, *new_id);
                }
            }
            MarkdownChange::Delete => {
                if let Some(loc) = here {
                    removals.insert(loc);
                }
            }
            MarkdownChange::Write(state) | MarkdownChange::WriteConflict { state, .. } => {
                let conflicts = match change {
                    MarkdownChange::WriteConflict { clashes, .. } => clashes
                        .iter()
                        .map(|c| FieldConflict {
                            field: c.field.clone(),
                            markdown: c.sides.markdown.clone(),
                            base: c.sides.base.clone(),
                            anki: c.sides.anki.clone(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let block = note_block(id, state, conflicts, registry);
                let key = deck_key(&state.deck);
                let target = match by_key.get(&key) {
                    Some(d) => *d,
                    None => {
                        let name = deck_to_file_name(&state.deck);
                        let deck_id = snapshot.deck_ids.get(&state.deck).copied();
                        collection.decks.push(store::DeckSource {
                            path: ctx.root.join(name),
                            deck: state.deck.clone(),
                            file: DeckFile::new(deck_id),
                            original: String::new(),
                        });
                        by_key.insert(key, collection.decks.len() - 1);
                        collection.decks.len() - 1
                    }
                };
                writes_into.entry(target).or_default().push(p.note);
                match here {
                    Some((d, n)) if d == target => collection.decks[d].file.replace_note(n, block),
                    Some(loc) => {
                        removals.insert(loc);
                        collection.decks[target].file.push_note(block);
                    }
                    None => collection.decks[target].file.push_note(block),
                }
            }
        }
    }
    for (d, n) in removals.iter().rev() {
        collection.decks[*d].file.remove_note(*n);
        emptied.insert(*d);
    }
    remove_emptied_decks(client, collection, plan, snapshot, applied, report)?;
    // Deck files get their `deck_id` once the deck exists in Anki (decks made by this run are looked up again).
    let mut deck_ids = snapshot.deck_ids.clone();
    let missing = collection
        .decks
        .iter()
        .any(|d| d.file.deck_id.is_none() && !deck_ids.contains_key(&d.deck) && !d.file.notes.is_empty());
    if missing && !applied.created.is_empty() {
        deck_ids = client.deck_names_and_ids()?;
    }
    // Write what changed; a file whose last note left is removed.
    for (d, source) in collection.decks.iter_mut().enumerate() {
        if source.file.deck_id.is_none()
            && let Some(id) = deck_ids.get(&source.deck)
        {
            source.file.set_deck_id(*id);
        }
        let removes = source.file.notes.is_empty() && emptied.contains(&d);
        let text = if removes { String::new() } else { source.file.to_text(registry) };
        if (removes || text != source.original) && store::changed_since_read(&source.path, &source.original) {
            let shown = source.path.strip_prefix(&ctx.root).unwrap_or(&source.path).display().to_string();
            report.problems.push(Problem::warning(format!(
                "{shown} was saved while this run was going, so it was left as you saved it; run the command again to bring in what this run would have written"
            )));
            for note in writes_into.get(&d).into_iter().flatten() {
                applied.failed.insert(*note);
            }
            continue;
        }
        if removes {
            if source.path.exists() {
                fs_err::remove_file(&source.path)?;
                report.files_removed.push(source.path.clone());
            }
            continue;
        }
        if text != source.original {
            store::write_atomic(&source.path, text.as_bytes())?;
            source.original = text;
            report.files_written.push(source.path.clone());
        }
    }
    Ok(())
}

/// A Markdown note for a state, fields in the note type's order.
fn note_block(id: Option<NoteId>, state: &NoteState, conflicts: Vec<FieldConflict>, registry: &Registry) -> NoteBlock {
    let mut fields = IndexMap::new();
    let in_conflict: BTreeSet<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    let order: Vec<String> = match registry.get(&state.note_type) {
        Some(spec) => spec.field_names().map(str::to_string).collect(),
        None => state.fields.keys().cloned().collect(),
    };
    for name in order {
        if in_conflict.contains(name.as_str()) {
            continue;
        }
        if let Some(value) = state.fields.get(&name) {
            fields.insert(name, value.clone());
        }
    }
    NoteBlock {
        note_id: id,
        note_type: state.note_type.clone(),
        tags: state.tags.iter().cloned().collect(),
        fields,
        conflicts,
        line: 0,
    }
}

/// A new Markdown note whose HTML is exactly what an Anki note unknown to the base holds (same deck, type and
/// tags) is that note: an earlier run added it and stopped before writing the id back. Its Anki side then reads
/// as the Markdown we would send, so the engine pairs them instead of adding a duplicate.
fn recognise_recreated(input: &mut Input, snapshot: &AnkiSnapshot, registry: &Registry) {
    if input.new_in_markdown.is_empty() {
        return;
    }
    let non_empty = |html: BTreeMap<String, String>| -> BTreeMap<String, String> {
        html.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    };
    let wanted: Vec<(BTreeMap<String, String>, &NoteState)> =
        input.new_in_markdown.iter().map(|s| (non_empty(anki::fields_html(s, registry)), s)).collect();
    let orphans: Vec<NoteId> = input
        .anki
        .keys()
        .filter(|id| !input.base.contains_key(id) && !input.markdown.contains_key(id))
        .copied()
        .collect();
    for id in orphans {
        let (Some(state), Some(seen)) = (input.anki.get(&id), snapshot.seen.get(&id)) else { continue };
        let found = wanted.iter().find(|(html, md)| {
            seen.html == *html && md.deck == state.deck && md.note_type == state.note_type && md.tags == state.tags
        });
        if let Some((_, md)) = found {
            input.anki.insert(id, (*md).clone());
        }
    }
}

/// Decks left empty by this run (every note moved out or deleted) and without a deck file are removed from
/// Anki, so a renamed deck file does not leave the old deck behind. A deck that still holds any card (of any
/// note type, or in a subdeck) is kept.
fn remove_emptied_decks(
    client: &Client,
    collection: &Collection,
    plan: &Plan,
    snapshot: &AnkiSnapshot,
    applied: &Applied,
    report: &mut Report,
) -> Result<()> {
    let mut left: BTreeSet<&str> = BTreeSet::new();
    for p in &plan.notes {
        if applied.failed.contains(&p.note) {
            continue;
        }
        match &p.anki {
            Some(AnkiChange::Update { before, after }) if before.deck != after.deck => {
                left.insert(before.deck.as_str());
            }
            Some(AnkiChange::Delete(before)) if matches!(p.note, NoteRef::Existing(id) if applied.deleted.contains(&id)) =>
            {
                left.insert(before.deck.as_str());
            }
            _ => {}
        }
    }
    let mut empty = Vec::new();
    for deck in left {
        if deck == "Default" || collection.deck_index(deck).is_some() || !snapshot.deck_ids.contains_key(deck) {
            continue;
        }
        if client.find_cards(&format!("\"deck:{}\"", anki::escape_search(deck)))?.is_empty() {
            empty.push(deck.to_string());
        }
    }
    if !empty.is_empty() {
        client.delete_decks(&empty)?;
        for deck in empty {
            report.problems.push(Problem::info(format!("removed the empty deck {deck} from Anki")));
        }
    }
    Ok(())
}

/// A field whose Markdown converts to exactly the HTML Anki holds is the same on both sides, however the Markdown
/// was spelled (a folder made by another tool, a first run, a field whose round trip is not exact). Only fields
/// that differ as Markdown are converted, so an untouched collection costs nothing here.
fn align_identical_html(input: &mut Input, snapshot: &AnkiSnapshot) {
    for (id, md) in &input.markdown {
        let (Some(anki), Some(seen)) = (input.anki.get_mut(id), snapshot.seen.get(id)) else { continue };
        if anki.fields == md.fields || anki.note_type != md.note_type {
            continue;
        }
        let names: BTreeSet<String> = md.fields.keys().chain(anki.fields.keys()).cloned().collect();
        for name in names {
            let (ours, theirs) = (md.field(&name), anki.field(&name));
            if ours == theirs {
                continue;
            }
            let html = if ours.is_empty() { String::new() } else { ankiops_markdown::convert::markdown_to_html(ours) };
            if unicode_eq(&html, seen.html.get(&name).map_or("", String::as_str)) {
                if ours.is_empty() {
                    anki.fields.remove(&name);
                } else {
                    anki.fields.insert(name, ours.to_string());
                }
            }
        }
    }
}
