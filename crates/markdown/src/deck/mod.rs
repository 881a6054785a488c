//! The deck-file syntax: parse and write `Deck.md` files without loss (design.md §3).
//!
//! A [`DeckFile`] is what [`parse_deck`] reads from one file: the deck id and its notes, plus the bytes it
//! came from, so that [`DeckFile::to_text`] gives back the same bytes for every note nobody changed.
//! Notes that changed (or were added) are written in the canonical form of [`render_note`].
//! Nothing here does I/O.

mod file_name;
mod merge;
mod parse;
mod render;

use std::fmt;

use indexmap::IndexMap;

use crate::note_types::Registry;

pub use file_name::{deck_key, deck_to_file_name, file_name_to_deck};
pub use merge::{DeckMerge, MergeConflict, MergeConflictKind, MergeLabels, merge_deck};
pub use parse::{parse_deck, parse_deck_bytes};
pub use render::render_note;

/// One deck file: its deck id and its notes, in file order.
///
/// `notes` may be edited directly, but the methods keep the preserved bytes aligned with the notes, so they
/// give the smallest diffs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckFile {
    /// The id in the `<!-- deck_id: N -->` first line, if any.
    pub deck_id: Option<i64>,
    pub notes: Vec<NoteBlock>,
    /// Per note (same index as `notes`): the bytes it was parsed from; `None` for notes added since.
    raw: Vec<Option<RawNote>>,
    /// The file started with a UTF-8 byte order mark.
    bom: bool,
    /// The deck id line as read: its id and its bytes with the line ending.
    deck_line: Option<(i64, String)>,
    /// Bytes between the deck line (or the start) and the first note; `None` for a new file.
    gap: Option<String>,
    /// Bytes after the last note (its line ending and blank lines); `None` for a new file.
    tail: Option<String>,
    /// The file uses CRLF line endings.
    crlf: bool,
}

/// The bytes a note was parsed from, and what they meant then.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawNote {
    /// Bytes between the previous note and this one (separator and blank lines); empty for the first note.
    lead: String,
    /// The note's own bytes, from its first line to the end of its last non-blank line (no line ending).
    text: String,
    /// The note as parsed from `text`; while `notes[i]` equals it, `text` is written back as it was.
    snapshot: NoteBlock,
    /// The note had a `<!-- note_type: … -->` line; a re-rendered note keeps it.
    explicit_type: bool,
    /// A Python AnkiOps `<!-- note_key: … -->` value, kept when the note is re-rendered.
    note_key: Option<String>,
}

/// One note of a deck file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoteBlock {
    pub note_id: Option<i64>,
    /// The note type name, from `<!-- note_type: X -->` or recognised from the field labels.
    pub note_type: String,
    /// Sorted and deduplicated.
    pub tags: Vec<String>,
    /// Anki field name -> field Markdown (trimmed), in the note type's field order, only the fields present.
    /// A field in conflict is not here but in `conflicts`.
    pub fields: IndexMap<String, String>,
    /// Non-empty = unresolved conflict: the note must never be pushed to Anki.
    pub conflicts: Vec<FieldConflict>,
    /// 1-based line where the note starts (0 for notes not read from a file).
    pub line: usize,
}

/// A field changed differently in Markdown and in Anki, written as conflict markers around the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The Anki field name.
    pub field: String,
    /// Each side's field Markdown; `None` = the field is absent on that side.
    pub markdown: Option<String>,
    pub base: Option<String>,
    pub anki: Option<String>,
}

/// A problem in a deck file, with where it is. Display: `LINE:COL: message` (the caller prefixes the file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for DeckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for DeckError {}

impl NoteBlock {
    /// Whether the note holds unresolved conflict markers (and so must not be pushed).
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty()
    }

    /// Same note content, ignoring `line`, the order of `fields` and the order of `tags`.
    fn same_content(&self, other: &NoteBlock) -> bool {
        self.note_id == other.note_id
            && self.note_type == other.note_type
            && (self.tags == other.tags || normalized_tags(&self.tags) == normalized_tags(&other.tags))
            && self.fields == other.fields
            && self.conflicts == other.conflicts
    }
}

fn normalized_tags(tags: &[String]) -> Vec<&str> {
    let mut tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

impl DeckFile {
    /// An empty deck file, as for a deck that has no file yet.
    pub fn new(deck_id: Option<i64>) -> DeckFile {
        DeckFile {
            deck_id,
            notes: Vec::new(),
            raw: Vec::new(),
            bom: false,
            deck_line: None,
            gap: None,
            tail: None,
            crlf: false,
        }
    }

    /// Whether the file uses CRLF line endings (kept when writing).
    pub fn is_crlf(&self) -> bool {
        self.crlf
    }

    /// The file text: untouched notes keep their exact bytes, changed and new notes are rendered.
    pub fn to_text(&self, registry: &Registry) -> String {
        render::deck_to_text(self, registry)
    }

    pub fn set_deck_id(&mut self, id: i64) {
        self.deck_id = Some(id);
    }

    /// Sets a note's id; in the file only the id comment is added or replaced. Out of range: does nothing.
    pub fn set_note_id(&mut self, index: usize, id: i64) {
        let Some(note) = self.notes.get_mut(index) else { return };
        note.note_id = Some(id);
        if let Some(Some(raw)) = self.raw.get_mut(index) {
            raw.text = render::splice_note_id(&raw.text, id, self.crlf);
            raw.snapshot.note_id = Some(id);
        }
    }

    /// Replaces a note; only that note's bytes are rewritten (none, if it is equal). Out of range: does nothing.
    pub fn replace_note(&mut self, index: usize, note: NoteBlock) {
        if let Some(slot) = self.notes.get_mut(index) {
            *slot = note;
        }
    }

    /// Appends a note at the end of the file.
    pub fn push_note(&mut self, note: NoteBlock) {
        self.raw.resize(self.notes.len(), None);
        self.notes.push(note);
        self.raw.push(None);
    }

    /// Removes a note with its separator. Out of range: does nothing.
    pub fn remove_note(&mut self, index: usize) {
        if index >= self.notes.len() {
            return;
        }
        self.notes.remove(index);
        if index < self.raw.len() {
            self.raw.remove(index);
        }
    }
}

#[cfg(test)]
mod tests;
