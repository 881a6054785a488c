//! The base a run leaves behind: what both sides agree on once the plan has been carried out, as far as it was.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{MarkdownChange, NoteId, NoteRef, NoteState, Plan};

/// What carrying out a plan did, as far as the base is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The ids Anki gave the notes the plan created, by plan entry.
    pub created: BTreeMap<NoteRef, NoteId>,
    /// Plan entries that were not carried out (refused, failed, edited on either side during the run): their
    /// base stays what it was, so the next run sees the same difference and plans it again.
    pub failed: BTreeSet<NoteRef>,
}

/// The next base, from the base the plan was made from (the run's scope; notes outside it are the caller's),
/// the plan and what was applied. A created note's base is stored under the id Anki gave it, and a note Anki
/// re-created under a new id leaves its old id behind; a new note that Anki already held gets the id written
/// into the Markdown ([`MarkdownChange::AssignId`]); a failed entry keeps its old base.
pub fn next_base(mut base: BTreeMap<NoteId, NoteState>, plan: &Plan, applied: &Applied) -> BTreeMap<NoteId, NoteState> {
    for p in &plan.notes {
        if applied.failed.contains(&p.note) {
            continue;
        }
        let id = match (p.note, applied.created.get(&p.note)) {
            (_, Some(new_id)) => {
                if let NoteRef::Existing(old) = p.note {
                    base.remove(&old);
                }
                *new_id
            }
            (NoteRef::Existing(id), None) => id,
            (NoteRef::New(_), None) => match &p.markdown {
                Some(MarkdownChange::AssignId(id)) => *id,
                _ => continue,
            },
        };
        match p.new_base() {
            None => {}
            Some(Some(state)) => {
                base.insert(id, state.clone());
            }
            Some(None) => {
                base.remove(&id);
            }
        }
    }
    base
}
