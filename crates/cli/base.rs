//! The base snapshot: what Markdown and Anki agreed on at the end of the last run, plus what Anki held then
//! (its HTML and modification time), so an untouched Anki note needs neither `notesInfo` nor a conversion.
//! Stored as JSON on the private Git ref (see `git.rs`).

use std::collections::BTreeMap;

use ankiops_sync::{NoteId, NoteState};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Base {
    pub version: u32,
    /// The agreed state of every managed note, as canonical Markdown.
    pub notes: BTreeMap<NoteId, NoteState>,
    /// What Anki held for each note when last read.
    pub seen: BTreeMap<NoteId, Seen>,
    /// Note type name -> hash of the definition (fields, templates, CSS) last brought into Anki; a definition
    /// whose hash moved (a template edited in `note_types/`, a new ankiops version) is updated in Anki.
    #[serde(default)]
    pub note_types: BTreeMap<String, String>,
    /// Media file name -> SHA-1 of the content Anki and `media/` both hold (last pushed or downloaded).
    #[serde(default)]
    pub media: BTreeMap<String, String>,
}

/// One Anki note as last read: enough to rebuild its snapshot without asking Anki again while `mod` stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    #[serde(rename = "mod")]
    pub mod_time: i64,
    pub note_type: String,
    /// Field HTML as Anki holds it (non-empty fields only).
    pub html: BTreeMap<String, String>,
    /// The same fields as canonical Markdown.
    pub markdown: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// Card ids in template order; the first card's deck is the note's deck.
    pub cards: Vec<i64>,
    /// The second (epoch) in which the request that read this began. Anki's `mod` counts whole seconds, so
    /// the cache is trusted only when `mod` is older than that: an edit made after our read then has a later
    /// `mod`. A note modified in the same second as it was read is read again next time.
    #[serde(default)]
    pub observed: i64,
}

/// The time now in epoch seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Base {
    pub fn parse(text: &str) -> Result<Base> {
        let base: Base = serde_json::from_str(text).map_err(|e| {
            CliError::input(format!("the base snapshot on {} cannot be read: {e}", crate::git::BASE_REF)).hint(format!(
                "delete the ref (`git update-ref -d {}`) to start over as on a first run",
                crate::git::BASE_REF
            ))
        })?;
        if base.version > FORMAT_VERSION {
            return Err(CliError::input(format!(
                "the base snapshot was written by a newer ankiops (format {}); this one reads format {FORMAT_VERSION}",
                base.version
            ))
            .hint("update ankiops"));
        }
        Ok(base)
    }

    pub fn to_json(&mut self) -> String {
        self.version = FORMAT_VERSION;
        serde_json::to_string(self).expect("the base always serializes")
    }
}
