//! The engine's input for a run: the three snapshots cut to the run's scope, where each Markdown note sits,
//! the ids that protect their notes, and the HTML Anki holds for the rules that compare as HTML.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ankiops_markdown::Registry;
use ankiops_markdown::convert::normalize_markdown;
use ankiops_markdown::deck::{NoteBlock, deck_key};
use ankiops_sync::{AnkiHtml, HtmlDigest, Input, NoteId, NoteState};

use super::RunArgs;
use crate::anki::{self, AnkiSnapshot};
use crate::base::Seen;
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::report::{Problem, Report};
use crate::store::{Collection, Location, Locations};

/// Which decks a scoped run may touch; notes outside it are left out of every snapshot, so a scoped run never
/// deletes anything outside its scope. Decks whose file has errors are always out.
pub(super) struct Scope {
    only: Option<String>,
    broken: BTreeSet<String>,
}

impl Scope {
    pub(super) fn new(ctx: &Context, args: &RunArgs, collection: &Collection) -> Result<Scope> {
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

/// The engine's input and what goes with it.
pub(super) struct Sides {
    pub input: Input,
    pub locations: Locations,
    /// Base notes outside the run's scope: the new base keeps them as they are.
    pub outside: BTreeMap<NoteId, NoteState>,
}

/// Markdown deck names take Anki's spelling of the same deck, so case alone is never a move.
pub(super) fn take_anki_deck_spelling(collection: &mut Collection, snapshot: &AnkiSnapshot) {
    let anki_deck_names: BTreeMap<String, &String> =
        snapshot.deck_ids.keys().map(|name| (deck_key(name), name)).collect();
    for source in &mut collection.decks {
        if let Some(name) = anki_deck_names.get(&deck_key(&source.deck)) {
            source.deck = (*name).clone();
        }
    }
}

/// Builds the input. `base` and `anki` are moved in (they are large). New notes holding conflict markers are
/// reported with their file and line, and ids in files that were not read protect their notes.
pub(super) fn build(
    collection: &Collection,
    base: BTreeMap<NoteId, NoteState>,
    anki: BTreeMap<NoteId, NoteState>,
    scope: &Scope,
    root: &Path,
    report: &mut Report,
) -> Sides {
    let mut input = Input::default();
    let mut locations = Locations::default();
    let mut out_of_scope: BTreeSet<NoteId> = BTreeSet::new();
    for (d, source) in collection.decks.iter().enumerate() {
        let in_scope = scope.contains(&source.deck);
        for (n, note) in source.file.notes.iter().enumerate() {
            let at = Location { deck: d, note: n };
            match note.note_id {
                Some(id) if !in_scope => {
                    out_of_scope.insert(id);
                }
                Some(id) => {
                    locations.insert(id, at);
                    if note.has_conflicts() {
                        input.unresolved.insert(id);
                    }
                    input.markdown.insert(id, markdown_state(note, &source.deck));
                }
                None if in_scope && note.has_conflicts() => {
                    // Markers in a note that was never pushed: nothing to sync until they are resolved.
                    report.problems.push(Problem::error(format!(
                        "{}: a new note (no note_id) holds conflict markers: remove them, keeping the text you want",
                        collection.place(at, root)
                    )));
                }
                None if in_scope => {
                    locations.push_new(at);
                    input.new_in_markdown.push(markdown_state(note, &source.deck));
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
    protect_held_notes(&mut input, collection, root, report);
    Sides { input, locations, outside }
}

/// Ids written in files that were not read protect their notes on both sides ([`Input::protected`]); the
/// summary names each such file and how many notes it held back. When a file could not be opened at all its
/// ids are unknown, so every note missing from the Markdown is protected.
fn protect_held_notes(input: &mut Input, collection: &Collection, root: &Path, report: &mut Report) {
    for held in &collection.held {
        input.protected.extend(&held.ids);
        let shown = held.path.strip_prefix(root).unwrap_or(&held.path).display();
        let n = held.ids.len();
        report.problems.push(Problem::error(format!(
            "{shown} {}; the {n} note{} whose id{} it holds {} left alone in Anki and in the Markdown until then",
            held.why,
            super::plural(n),
            super::plural(n),
            if n == 1 { "is" } else { "are" }
        )));
    }
    if collection.unreadable {
        let unseen: Vec<NoteId> = input.base.keys().filter(|id| !input.markdown.contains_key(id)).copied().collect();
        input.protected.extend(unseen);
    }
}

/// The engine's view of a Markdown note.
fn markdown_state(note: &NoteBlock, deck: &str) -> NoteState {
    NoteState {
        note_type: note.note_type.clone(),
        deck: deck.to_string(),
        fields: note.fields.iter().map(|(k, v)| (k.clone(), normalize_markdown(v))).collect(),
        tags: note.tags.iter().cloned().collect(),
    }
    .normalized()
}

/// The HTML Anki holds, as read this run, and the converter, for [`ankiops_sync::align`].
pub(super) struct SeenHtml<'a> {
    pub seen: &'a BTreeMap<NoteId, Seen>,
    pub registry: &'a Registry,
}

impl AnkiHtml for SeenHtml<'_> {
    fn markdown_digest(&self, note: &NoteState) -> HtmlDigest {
        html_digest(anki::fields_html(note, self.registry).iter())
    }

    fn anki_digest(&self, id: NoteId) -> Option<HtmlDigest> {
        self.seen.get(&id).map(|seen| html_digest(seen.html.iter()))
    }

    fn field_is(&self, id: NoteId, field: &str, markdown: &str) -> bool {
        let Some(seen) = self.seen.get(&id) else { return false };
        let html =
            if markdown.is_empty() { String::new() } else { ankiops_markdown::convert::markdown_to_html(markdown) };
        unicode_eq(&html, seen.html.get(field).map_or("", String::as_str))
    }
}

/// A digest of a note's field HTML: non-empty fields, by name, NFC (Anki stores NFC).
pub(super) fn html_digest<'a>(fields: impl Iterator<Item = (&'a String, &'a String)>) -> HtmlDigest {
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
