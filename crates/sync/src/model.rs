//! The engine's vocabulary: note snapshots going in, a plan coming out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::merge::Merge;

/// Anki's note id (epoch milliseconds at creation).
pub type NoteId = i64;

/// What one side knows about a managed note. Fields hold canonical Markdown; empty fields are left out, so
/// "absent" and "empty" compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct NoteState {
    pub note_type: String,
    pub deck: String,
    pub fields: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
}

impl NoteState {
    /// The field's Markdown, `""` when absent.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    /// Drops empty fields, so the state compares equal however its source spelled an empty field.
    pub fn normalized(mut self) -> NoteState {
        self.fields.retain(|_, v| !v.is_empty());
        self.tags.retain(|t| !t.is_empty());
        self
    }
}

/// Everything the engine looks at.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Notes in the deck files that carry a `note_id`.
    pub markdown: BTreeMap<NoteId, NoteState>,
    /// Notes in the deck files without a `note_id` yet, in file order; [`NoteRef::New`] indexes this.
    pub new_in_markdown: Vec<NoteState>,
    /// Notes whose Markdown still holds conflict markers: never pushed, never overwritten.
    pub unresolved: BTreeSet<NoteId>,
    /// What both sides agreed on at the end of the last successful run; empty on a first run.
    pub base: BTreeMap<NoteId, NoteState>,
    /// The managed notes Anki holds now.
    pub anki: BTreeMap<NoteId, NoteState>,
    /// Ids written in deck files that could not be read (they do not parse, are not UTF-8, cannot be opened, or
    /// sit where deck files are not read): whatever the other sides say, such a note is never deleted, moved
    /// or removed from a file, in any mode, even with `--force`.
    pub protected: BTreeSet<NoteId>,
}

/// Which way changes may flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// `sync`: both ways; conflicts are written into the Markdown.
    #[default]
    Both,
    /// `ma`: Markdown to Anki only.
    ToAnki,
    /// `am`: Anki to Markdown only.
    ToMarkdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub direction: Direction,
    /// Make the target match the source exactly (one-way mirror); ignored for [`Direction::Both`].
    pub force: bool,
    /// `ma --only-add-new`: plan only the creation of notes new in the Markdown.
    pub only_add_new: bool,
    /// `am --keep-orphans`: never remove a Markdown note whose Anki note is gone.
    pub keep_orphans: bool,
}

/// Which note a plan entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteRef {
    /// A note with an id (in the Markdown, the base or Anki).
    Existing(NoteId),
    /// `Input::new_in_markdown[i]`.
    New(usize),
}

/// A change to make in Anki.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnkiChange {
    /// Add the note. For [`NoteRef::Existing`] the old id is gone from Anki: the new id replaces it in the Markdown.
    Create(NoteState),
    Update {
        before: NoteState,
        after: NoteState,
    },
    /// Delete the note and its cards (review history is lost: the CLI asks first).
    Delete(NoteState),
}

/// A change to make in the deck files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkdownChange {
    /// Write the note (create it in its deck's file, or rewrite it, moving it if its deck changed).
    Write(NoteState),
    /// Write the note with conflict markers around the clashing fields; the rest is `state`.
    WriteConflict {
        state: NoteState,
        clashes: Vec<FieldClash>,
    },
    /// Write this id into a new Markdown note: Anki already holds the same note (a run that stopped after adding it).
    AssignId(NoteId),
    Delete,
}

/// How the base changes for this note once the plan is carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseChange {
    Keep,
    /// For a [`AnkiChange::Create`], set under the id Anki returns (and the old id, if any, is removed).
    Set(NoteState),
    /// Set to the state the plan writes to Anki (the `Create` or the `Update`'s `after`): not copied again, which
    /// at 10,000 new notes is a copy of every note saved.
    SetToAnki,
    /// Set to the state the plan writes to the Markdown (`Write`).
    SetToMarkdown,
    Remove,
}

/// Both sides changed the same thing differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub kind: ConflictKind,
    pub fields: Vec<FieldClash>,
    /// Moved to different decks on both sides.
    pub deck: Option<Merge<String>>,
    /// Changed to different note types on both sides.
    pub note_type: Option<Merge<String>>,
}

/// Conflict cases, named after both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    BothModified,
    /// No base (first run, or a note made on both sides) and the two sides differ.
    BothAdded,
    /// Deleted in the Markdown, edited in Anki: the edited note is kept.
    MarkdownDeletedAnkiModified,
    /// Edited in the Markdown, deleted in Anki: the edited note is added to Anki again.
    MarkdownModifiedAnkiDeleted,
}

/// One field changed differently on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldClash {
    pub field: String,
    pub sides: Merge<Option<String>>,
}

/// Why a note was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// The Markdown still holds conflict markers.
    UnresolvedConflict,
    /// `ma`: Anki has changes the Markdown lacks; `am` or `sync` brings them over.
    ChangedInAnki,
    /// `am`: the Markdown has changes Anki lacks; `ma` or `sync` pushes them.
    ChangedInMarkdown,
    /// `ma`: a note only Anki has (new there); `am` or `sync` brings it over.
    OnlyInAnki,
    /// `am`: a note only the Markdown has; `ma` or `sync` pushes it.
    OnlyInMarkdown,
    /// Both sides changed; `sync` writes the conflict into the Markdown.
    Conflict,
    /// Its id is written in a deck file that could not be read ([`Input::protected`]).
    Protected,
    /// Its deletion in Anki was declined (no `--yes`, or "no" at the prompt).
    DeletionDeclined,
}

/// What to do about one note. Notes with nothing to do are not in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotePlan {
    pub note: NoteRef,
    pub anki: Option<AnkiChange>,
    pub markdown: Option<MarkdownChange>,
    pub base: BaseChange,
    pub conflict: Option<Conflict>,
    pub skipped: Option<Skip>,
}

impl NotePlan {
    /// The note's base after the plan: `None` to keep it, `Some(None)` to remove it, `Some(Some(state))` to set it.
    pub fn new_base(&self) -> Option<Option<&NoteState>> {
        match &self.base {
            BaseChange::Keep => None,
            BaseChange::Remove => Some(None),
            BaseChange::Set(state) => Some(Some(state)),
            BaseChange::SetToAnki => match &self.anki {
                Some(AnkiChange::Create(state) | AnkiChange::Update { after: state, .. }) => Some(Some(state)),
                _ => None,
            },
            BaseChange::SetToMarkdown => match &self.markdown {
                Some(MarkdownChange::Write(state) | MarkdownChange::WriteConflict { state, .. }) => Some(Some(state)),
                _ => None,
            },
        }
    }
}

/// The engine's answer: one entry per note that needs something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub notes: Vec<NotePlan>,
    /// Markdown notes without a usable id (none, or one neither the base nor Anki knows) recognised as a note
    /// that vanished from the Markdown in the same plan: `(where the note sits, the id it keeps)`. The plan
    /// treats each as that note ([`NoteRef::Existing`]); the id is written back where the note sits.
    pub recognised: Vec<(Recognised, NoteId)>,
}

/// Where a recognised note sits in the Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recognised {
    /// `Input::new_in_markdown[i]`.
    New(usize),
    /// Under an id neither the base nor Anki knows (mistyped, or from another collection).
    UnknownId(NoteId),
}

/// Counts for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub anki_created: usize,
    pub anki_updated: usize,
    pub anki_moved: usize,
    pub anki_deleted: usize,
    pub markdown_created: usize,
    pub markdown_updated: usize,
    pub markdown_moved: usize,
    pub markdown_deleted: usize,
    pub skipped: usize,
    pub conflicts: usize,
}

impl Plan {
    /// Counts what the plan does, for the summary line.
    pub fn summary(&self, input: &Input) -> Summary {
        let mut s = Summary::default();
        for p in &self.notes {
            match &p.anki {
                Some(AnkiChange::Create(_)) => s.anki_created += 1,
                Some(AnkiChange::Update { before, after }) => {
                    if before.deck != after.deck {
                        s.anki_moved += 1;
                    }
                    if before.fields != after.fields || before.tags != after.tags || before.note_type != after.note_type
                    {
                        s.anki_updated += 1;
                    }
                }
                Some(AnkiChange::Delete(_)) => s.anki_deleted += 1,
                None => {}
            }
            let before = match p.note {
                NoteRef::Existing(id) => input.markdown.get(&id),
                NoteRef::New(i) => input.new_in_markdown.get(i),
            };
            match (&p.markdown, before) {
                (Some(MarkdownChange::Write(after) | MarkdownChange::WriteConflict { state: after, .. }), Some(b)) => {
                    if b.deck != after.deck {
                        s.markdown_moved += 1;
                    }
                    if b.fields != after.fields || b.tags != after.tags || b.note_type != after.note_type {
                        s.markdown_updated += 1;
                    }
                }
                (Some(MarkdownChange::Write(_) | MarkdownChange::WriteConflict { .. }), None) => {
                    s.markdown_created += 1
                }
                (Some(MarkdownChange::Delete), _) => s.markdown_deleted += 1,
                (Some(MarkdownChange::AssignId(_)) | None, _) => {}
            }
            if p.conflict.is_some() {
                s.conflicts += 1;
            }
            if p.skipped.is_some() && p.conflict.is_none() {
                s.skipped += 1;
            }
        }
        s
    }
}
