//! Carrying a plan out in Anki: note types and decks first, then new notes, updates and moves, deletions, and
//! a read-back of everything written. A note edited in Anki since it was read is left alone.

use std::collections::{BTreeMap, BTreeSet};

use ankiops_connect::{Action, Client, NewNote, NotAdded};
use ankiops_markdown::Registry;
use ankiops_sync::{AnkiChange, HtmlDigest, NoteId, NotePlan, NoteRef, NoteState, Plan};

use super::input::html_digest;
use crate::anki::{self, AnkiSnapshot};
use crate::base::Seen;
use crate::error::{CliError, Result};
use crate::journal::Journal;
use crate::note_types::NoteTypeDef;
use crate::report::{Problem, Report};

/// Anki as this run reads and writes it: the client, the note types it knows, what was read at the start.
pub(super) struct AnkiSide<'a> {
    pub client: &'a Client,
    pub registry: &'a Registry,
    pub snapshot: &'a AnkiSnapshot,
}

/// ankiops' note types and the fingerprints of what Anki held of them after the last run.
pub(super) struct NoteTypes<'a> {
    pub defs: &'a [NoteTypeDef],
    pub known: &'a BTreeMap<String, String>,
}

/// What actually happened in Anki.
#[derive(Default)]
pub(super) struct Applied {
    /// Ids of the notes added and the plan entries not carried out, for the next base.
    pub done: ankiops_sync::Applied,
    pub failed_creates: usize,
    pub deleted: BTreeSet<NoteId>,
    pub read_back: BTreeMap<NoteId, Seen>,
    /// Note types now matching our definitions, with their hashes.
    pub note_types: BTreeMap<String, String>,
    /// Notes found changed in Anki when re-read before writing: what the base caches of them is dropped, so
    /// the next run reads them in full and merges them (their `mod` may not have moved).
    pub edited_during_run: BTreeSet<NoteId>,
    /// Whether any note was written to Anki.
    wrote: bool,
    /// What stopped the run part-way, after some writes landed (Anki closed, a batch failed): the rest of the
    /// plan's Anki changes count as failed, and the next run completes them.
    pub stopped: Option<CliError>,
}

impl Applied {
    fn fail(&mut self, note: NoteRef) {
        self.done.failed.insert(note);
    }
}

/// What was sent, per note: the state (borrowed from the plan) and a digest of its HTML, to check the
/// read-back against without keeping every field twice.
type Sent<'p> = BTreeMap<NoteId, (&'p NoteState, HtmlDigest)>;

type Changes<'p> = [(&'p NotePlan, &'p AnkiChange)];

/// Carries the plan's Anki changes out (note types are brought up to date only when `writes_anki`).
/// An error before anything was written stops the run as it is; after that, the run goes on without Anki
/// ([`Applied::stopped`]), so the ids of the notes added and the base of what landed are kept.
pub(super) fn apply(
    anki: &AnkiSide,
    types: NoteTypes,
    plan: &Plan,
    writes_anki: bool,
    journal: &mut Journal,
    report: &mut Report,
) -> Result<Applied> {
    let mut applied = Applied::default();
    let changes: Vec<(&NotePlan, &AnkiChange)> =
        plan.notes.iter().filter_map(|p| p.anki.as_ref().map(|a| (p, a))).collect();
    let mut steps = |applied: &mut Applied, report: &mut Report| -> Result<()> {
        applied.note_types = ensure_note_types(anki, &types, &changes, writes_anki, report)?;
        if changes.is_empty() {
            return Ok(());
        }
        create_decks(anki, &changes)?;
        recheck_before_writing(anki, &changes, applied, report)?;
        let mut sent = Sent::new();
        create_notes(anki, &changes, &mut sent, journal, applied, report)?;
        update_notes(anki, &changes, &mut sent, applied, report)?;
        delete_notes(anki, &changes, applied)?;
        read_back(anki, sent, applied, report)
    };
    match steps(&mut applied, report) {
        Ok(()) => Ok(applied),
        Err(e) if !applied.wrote => Err(e),
        Err(e) => {
            // Only what is known to have landed counts as done; the rest is planned again next time.
            for (p, _) in &changes {
                if !applied.done.created.contains_key(&p.note) {
                    applied.done.failed.insert(p.note);
                }
            }
            applied.read_back.clear();
            applied.stopped = Some(e);
            Ok(applied)
        }
    }
}

/// Note types the changes need are created when missing; types whose definition changed since the last run
/// (an edited template, a new ankiops version) are brought up to date even when no note changes.
fn ensure_note_types(
    anki: &AnkiSide,
    types: &NoteTypes,
    changes: &Changes,
    writes_anki: bool,
    report: &mut Report,
) -> Result<BTreeMap<String, String>> {
    let used: BTreeSet<&str> = changes
        .iter()
        .filter_map(|(_, c)| match c {
            AnkiChange::Create(s) | AnkiChange::Update { after: s, .. } => Some(s.note_type.as_str()),
            AnkiChange::Delete(_) => None,
        })
        .collect();
    let stale: BTreeSet<&str> = types
        .defs
        .iter()
        .filter(|d| writes_anki && types.known.get(&d.spec.name) != Some(&crate::models::definition_hash(d)))
        .map(|d| d.spec.name.as_str())
        .collect();
    crate::models::ensure_in_anki(anki.client, types.defs, &used, &stale, report)
}

/// Decks that new and moved notes go to, made when Anki lacks them.
fn create_decks(anki: &AnkiSide, changes: &Changes) -> Result<()> {
    let decks: BTreeSet<&str> = changes
        .iter()
        .filter_map(|(_, c)| match c {
            AnkiChange::Create(s) => Some(s.deck.as_str()),
            AnkiChange::Update { before, after } if before.deck != after.deck => Some(after.deck.as_str()),
            _ => None,
        })
        .filter(|d| !anki.snapshot.deck_ids.contains_key(*d))
        .collect();
    if !decks.is_empty() {
        let actions: Vec<Action> = decks.iter().map(|d| Action::create_deck(d)).collect();
        anki.client.multi_all(&actions, &mut |_, _| {})?;
    }
    Ok(())
}

/// A note edited in Anki since we read it is not overwritten. Its `mod` alone cannot tell (it counts whole
/// seconds), so the notes about to be written are read again and compared with what the plan was made from.
fn recheck_before_writing(
    anki: &AnkiSide,
    changes: &Changes,
    applied: &mut Applied,
    report: &mut Report,
) -> Result<()> {
    let touched: Vec<NoteId> = changes
        .iter()
        .filter_map(|(p, c)| match (p.note, c) {
            (NoteRef::Existing(id), AnkiChange::Update { .. } | AnkiChange::Delete(_)) => Some(id),
            _ => None,
        })
        .collect();
    if touched.is_empty() {
        return Ok(());
    }
    for (id, info) in touched.iter().zip(anki.client.notes_info(&touched)?) {
        let unchanged = match (info, anki.snapshot.seen.get(id)) {
            (Some(info), Some(seen)) => {
                let now = anki::seen_from_info(&info, Some(seen), anki.registry);
                now.html == seen.html && now.tags == seen.tags && now.note_type == seen.note_type
            }
            _ => false,
        };
        if !unchanged {
            applied.edited_during_run.insert(*id);
            applied.fail(NoteRef::Existing(*id));
            report.problems.push(Problem::note(
                NoteRef::Existing(*id),
                "was edited in Anki during this run, so it was left alone; run the command again".to_string(),
            ));
        }
    }
    Ok(())
}

/// Creations, in batches of `addNote`s inside `multi`: per-note ids and errors. A `multi` chunk at a time, so a
/// large import never holds every note's HTML at once.
///
/// Each batch is in the journal before it is sent, with the ids Anki gives once it answers, so a run killed or
/// cut off at any point never leads to a note added twice.
fn create_notes<'p>(
    anki: &AnkiSide,
    changes: &Changes<'p>,
    sent: &mut Sent<'p>,
    journal: &mut Journal,
    applied: &mut Applied,
    report: &mut Report,
) -> Result<()> {
    let creates: Vec<(&NotePlan, &NoteState)> = changes
        .iter()
        .filter_map(|(p, c)| match c {
            AnkiChange::Create(s) => Some((*p, s)),
            _ => None,
        })
        .collect();
    let mut bar = crate::report::progress(creates.len(), "adding notes");
    let mut stopped: Option<String> = None;
    for chunk in creates.chunks(ankiops_connect::MULTI_MAX_ACTIONS) {
        let mut fail = |note: NoteRef, why: String, applied: &mut Applied| {
            applied.fail(note);
            applied.failed_creates += 1;
            report.problems.push(Problem::note(note, why));
        };
        if let Some(why) = &stopped {
            for (p, _) in chunk {
                fail(p.note, why.clone(), applied);
            }
            continue;
        }
        let notes: Vec<NewNote> = chunk
            .iter()
            .map(|(_, s)| NewNote {
                deck_name: s.deck.clone(),
                model_name: s.note_type.clone(),
                fields: anki::fields_html(s, anki.registry),
                tags: s.tags.iter().cloned().collect(),
                allow_duplicate: true,
            })
            .collect();
        let done = applied.done.created.len() + applied.failed_creates;
        let digests: Vec<HtmlDigest> = notes.iter().map(|n| html_digest(n.fields.iter())).collect();
        let numbers = journal.sent(digests.iter().zip(chunk).map(|(d, (_, s))| (*d, (*s).clone())))?;
        match anki.client.add_notes(&notes, &mut |n, _| bar.set(done + n)) {
            Ok(results) => {
                let mut answered = Vec::new();
                for ((((p, state), digest), n), result) in chunk.iter().zip(digests).zip(&numbers).zip(results) {
                    match result {
                        Ok(id) => {
                            applied.wrote = true;
                            answered.push((*n, Some(id)));
                            applied.done.created.insert(p.note, id);
                            sent.insert(id, (*state, digest));
                        }
                        Err(NotAdded::Unknown(e)) => fail(p.note, unknown_outcome(&e), applied),
                        Err(NotAdded::Refused(message)) => {
                            answered.push((*n, None));
                            fail(p.note, format!("Anki refused to add it: {message}"), applied);
                        }
                        Err(NotAdded::NotSent(message)) => {
                            answered.push((*n, None));
                            fail(p.note, message, applied);
                        }
                    }
                }
                journal.answered(answered.into_iter())?;
            }
            Err(e) => {
                if e.is_outcome_unknown() {
                    applied.wrote = true;
                } else {
                    journal.answered(numbers.iter().map(|n| (*n, None)))?;
                }
                // Nothing was added yet: the run stops here, as any run that cannot reach Anki.
                if done == 0 && !e.is_outcome_unknown() {
                    return Err(e.into());
                }
                let why =
                    if e.is_outcome_unknown() { unknown_outcome(&e.to_string()) } else { format!("not added: {e}") };
                for (p, _) in chunk {
                    fail(p.note, why.clone(), applied);
                }
                stopped = Some(format!("not sent, the run stopped adding notes: {e}"));
            }
        }
    }
    bar.finish();
    Ok(())
}

fn unknown_outcome(e: &str) -> String {
    format!(
        "Anki may or may not have added it ({e}); ankiops keeps what it sent in .ankiops/journal, so the next run finds the note if it landed, even if you edit it meanwhile: let Anki finish, then run again"
    )
}

/// Updates and moves, batched: only the fields whose HTML differs from what Anki holds are sent.
fn update_notes<'p>(
    anki: &AnkiSide,
    changes: &Changes<'p>,
    sent: &mut Sent<'p>,
    applied: &mut Applied,
    report: &mut Report,
) -> Result<()> {
    let mut actions: Vec<(Option<NoteId>, Action)> = Vec::new();
    let mut moves: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (p, change) in changes {
        let (NoteRef::Existing(id), AnkiChange::Update { before, after }) = (p.note, change) else { continue };
        if applied.edited_during_run.contains(&id) {
            continue;
        }
        let html = anki::fields_html(after, anki.registry);
        sent.insert(id, (after, html_digest(html.iter())));
        let tags: Vec<String> = after.tags.iter().cloned().collect();
        if before.note_type != after.note_type {
            actions.push((Some(id), Action::update_note_model(id, &after.note_type, &html, &tags)));
        } else {
            let seen = anki.snapshot.seen.get(&id);
            let changed: BTreeMap<&String, &String> = html
                .iter()
                .filter(|(name, value)| {
                    seen.map(|s| s.html.get(name).map_or("", String::as_str)) != Some(value.as_str())
                })
                .collect();
            if before.fields != after.fields && !changed.is_empty() {
                actions.push((Some(id), Action::update_note_fields(id, &changed)));
            }
            if before.tags != after.tags {
                actions.push((Some(id), Action::update_note_tags(id, &tags)));
            }
        }
        if before.deck != after.deck
            && let Some(seen) = anki.snapshot.seen.get(&id)
        {
            moves.entry(after.deck.as_str()).or_default().extend(&seen.cards);
        }
    }
    for (deck, cards) in &moves {
        actions.push((None, Action::change_deck(cards, deck)));
    }
    if actions.is_empty() {
        return Ok(());
    }
    let only: Vec<Action> = actions.iter().map(|(_, a)| a.clone()).collect();
    let mut bar = crate::report::progress(only.len(), "updating notes");
    let results = anki.client.multi_writes(&only, &mut |done, _| bar.set(done))?;
    bar.finish();
    applied.wrote = true;
    for ((id, action), result) in actions.iter().zip(results) {
        let Err(message) = result else { continue };
        match id {
            Some(id) => {
                applied.fail(NoteRef::Existing(*id));
                report
                    .problems
                    .push(Problem::note(NoteRef::Existing(*id), format!("{} failed: {message}", action.action)));
            }
            None => report.problems.push(Problem::error(format!("{} failed: {message}", action.action))),
        }
    }
    Ok(())
}

fn delete_notes(anki: &AnkiSide, changes: &Changes, applied: &mut Applied) -> Result<()> {
    let deletes: Vec<NoteId> = changes
        .iter()
        .filter_map(|(p, c)| match (p.note, c) {
            (NoteRef::Existing(id), AnkiChange::Delete(_)) if !applied.edited_during_run.contains(&id) => Some(id),
            _ => None,
        })
        .collect();
    if !deletes.is_empty() {
        if let Err(e) = anki.client.delete_notes(&deletes) {
            if e.is_outcome_unknown() {
                applied.wrote = true;
            }
            return Err(e.into());
        }
        applied.wrote = true;
        applied.deleted.extend(&deletes);
    }
    Ok(())
}

/// Reads back what was written: a write that did not land is an error for that note. In chunks, so a first
/// import never holds every note Anki returns at once.
fn read_back(anki: &AnkiSide, mut sent: Sent, applied: &mut Applied, report: &mut Report) -> Result<()> {
    let written: Vec<NoteId> =
        sent.keys().copied().filter(|id| !applied.done.failed.contains(&NoteRef::Existing(*id))).collect();
    for chunk in written.chunks(1000) {
        let observed = crate::base::now_secs();
        for info in anki.client.notes_info(chunk)?.into_iter().flatten() {
            let Some((state, expected)) = sent.remove(&info.note_id) else { continue };
            // The note's fields as Anki holds them, for the fields of its type (others are not ours).
            let spec = anki.registry.get(&info.model_name);
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
            let mut seen = anki::seen_from_info(&info, Some(&as_sent), anki.registry);
            seen.observed = observed;
            if !landed {
                let note = applied
                    .done
                    .created
                    .iter()
                    .find(|(_, id)| **id == info.note_id)
                    .map_or(NoteRef::Existing(info.note_id), |(r, _)| *r);
                if let NoteRef::Existing(_) = note {
                    applied.fail(note);
                }
                report.problems.push(Problem::note(
                    NoteRef::Existing(info.note_id),
                    "the update did not land in Anki (is the note open in Anki's browser or editor? close it and run again)".into(),
                ));
            }
            applied.read_back.insert(info.note_id, seen);
        }
    }
    Ok(())
}
