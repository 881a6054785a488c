//! Carrying a plan out in the deck files, after Anki: every file written whole and atomically, and only if it
//! still holds the bytes it was read with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ankiops_connect::Client;
use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckFile, FieldConflict, NoteBlock, deck_key, deck_to_file_name};
use ankiops_sync::{AnkiChange, MarkdownChange, NoteId, NoteRef, NoteState, Plan};
use indexmap::IndexMap;

use super::to_anki::{AnkiSide, Applied};
use crate::anki::{self, AnkiSnapshot};
use crate::error::Result;
use crate::report::{Problem, Report};
use crate::store::{self, Collection, Locations};

/// Carries the plan's Markdown changes out: ids of new and recognised notes, pulled notes written, moved or
/// removed, conflict markers. A deck file saved by the user during the run is left as saved, and its notes'
/// entries count as failed (their base stays, so the next run merges them).
pub(super) fn write(
    anki: &AnkiSide,
    root: &Path,
    collection: &mut Collection,
    plan: &Plan,
    locations: &Locations,
    applied: &mut Applied,
    report: &mut Report,
) -> Result<()> {
    let (client, registry, snapshot) = (anki.client, anki.registry, anki.snapshot);
    let mut removals: BTreeSet<(usize, usize)> = BTreeSet::new();
    // Deck files by Anki's case-insensitive deck identity, looked up once per note written.
    let mut by_key: BTreeMap<String, usize> =
        collection.decks.iter().enumerate().map(|(i, d)| (deck_key(&d.deck), i)).collect();
    let mut emptied: BTreeSet<usize> = BTreeSet::new();
    let location_of = |note: NoteRef| locations.get(note).map(|at| (at.deck, at.note));
    // Recognised notes keep the id of the note they are: written where they sit.
    for (_, id) in &plan.recognised {
        if let Some(at) = locations.get(NoteRef::Existing(*id)) {
            collection.decks[at.deck].file.set_note_id(at.note, *id);
        }
    }
    // Which notes each file gets Markdown changes for: a file saved by the user during the run is not
    // written, and its notes keep their old base.
    let mut writes_into: BTreeMap<usize, Vec<NoteRef>> = BTreeMap::new();
    for p in &plan.notes {
        let here = location_of(p.note);
        // Ids of notes Anki just accepted.
        if let (Some(id), Some((d, n))) = (applied.done.created.get(&p.note), here) {
            collection.decks[d].file.set_note_id(n, *id);
        }
        if applied.done.failed.contains(&p.note) {
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
                            path: root.join(name),
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
    // Without Anki (the run lost it part-way), decks are neither removed nor looked up.
    let anki_answers = applied.stopped.is_none();
    if anki_answers {
        remove_emptied_decks(client, collection, plan, snapshot, applied, report)?;
    }
    // Deck files get their `deck_id` once the deck exists in Anki (decks made by this run are looked up again).
    let mut deck_ids = snapshot.deck_ids.clone();
    let missing = collection
        .decks
        .iter()
        .any(|d| d.file.deck_id.is_none() && !deck_ids.contains_key(&d.deck) && !d.file.notes.is_empty());
    if missing && anki_answers && !applied.done.created.is_empty() {
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
            let shown = source.path.strip_prefix(root).unwrap_or(&source.path).display().to_string();
            report.problems.push(Problem::warning(format!(
                "{shown} was saved while this run was going, so it was left as you saved it; run the command again to bring in what this run would have written"
            )));
            for note in writes_into.get(&d).into_iter().flatten() {
                applied.done.failed.insert(*note);
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
        if applied.done.failed.contains(&p.note) {
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
