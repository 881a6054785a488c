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
    /// The format version read; written from `FORMAT_VERSION` by [`Base::to_json`].
    #[serde(default, skip_serializing)]
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
    pub html: FieldMap,
    /// The same fields as canonical Markdown.
    pub markdown: FieldMap,
    pub tags: Vec<String>,
    /// Card ids in template order; the first card's deck is the note's deck.
    pub cards: Vec<i64>,
    /// The second (epoch) in which the request that read this began. Anki's `mod` counts whole seconds, so
    /// the cache is trusted only when `mod` is older than that: an edit made after our read then has a later
    /// `mod`. A note modified in the same second as it was read is read again next time.
    #[serde(default)]
    pub observed: i64,
}

/// Field name to text, kept as a sorted list: a note has a handful of fields, and a map per field set costs
/// several times the memory at 10,000 notes. Serialised as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap(Vec<(String, String)>);

impl FieldMap {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| &self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

impl FromIterator<(String, String)> for FieldMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> FieldMap {
        let mut pairs: Vec<(String, String)> = iter.into_iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        pairs.shrink_to_fit();
        FieldMap(pairs)
    }
}

impl PartialEq<BTreeMap<String, String>> for FieldMap {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        self.0.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl Serialize for FieldMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<FieldMap, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

/// The time now in epoch seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The base with the format version this ankiops writes, serialised without copying the base.
#[derive(Serialize)]
struct Versioned<'a> {
    version: u32,
    #[serde(flatten)]
    base: &'a Base,
}

impl Base {
    pub fn parse(text: &str) -> Result<Base> {
        let unreadable = |e: serde_json::Error| {
            CliError::input(format!("the base snapshot on {} cannot be read: {e}", crate::git::BASE_REF)).hint(format!(
                "delete the ref (`git update-ref -d {}`) to start over as on a first run",
                crate::git::BASE_REF
            ))
        };
        // The version first: a newer format may not have the fields this one expects.
        #[derive(Deserialize)]
        struct VersionOnly {
            #[serde(default)]
            version: u32,
        }
        let VersionOnly { version } = serde_json::from_str(text).map_err(unreadable)?;
        if version > FORMAT_VERSION {
            return Err(CliError::input(format!(
                "the base snapshot was written by a newer ankiops (format {version}); this one reads format {FORMAT_VERSION}"
            ))
            .hint("update ankiops"));
        }
        let mut base: Base = serde_json::from_str(text).map_err(unreadable)?;
        base.version = version;
        Ok(base)
    }

    /// The base as JSON; `size_hint` (the previous base's length) saves the buffer's regrowth at scale.
    pub fn to_json(&self, size_hint: usize) -> String {
        let mut out = Vec::with_capacity(size_hint + size_hint / 16);
        serde_json::to_writer(&mut out, &Versioned { version: FORMAT_VERSION, base: self })
            .expect("the base always serializes");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_round_trips_with_its_format_version() {
        let mut base = Base::default();
        base.notes.insert(7, NoteState { note_type: "AnkiOpsQA".into(), deck: "Bio".into(), ..NoteState::default() });
        base.seen.insert(
            7,
            Seen {
                mod_time: 1,
                note_type: "AnkiOpsQA".into(),
                html: [("Question".to_string(), "<b>q</b>".to_string())].into_iter().collect(),
                markdown: [("Question".to_string(), "**q**".to_string())].into_iter().collect(),
                tags: vec![],
                cards: vec![70],
                observed: 2,
            },
        );
        let json = base.to_json(0);
        assert!(json.starts_with("{\"version\":1,"), "{json}");
        assert_eq!(json.matches("\"version\"").count(), 1);
        let back = Base::parse(&json).unwrap();
        assert_eq!(back.version, FORMAT_VERSION);
        assert_eq!(back.notes, base.notes);
        assert_eq!(back.seen, base.seen);
        assert_eq!(back.seen[&7].html.get("Question").map(String::as_str), Some("<b>q</b>"));
    }

    #[test]
    fn a_base_from_a_newer_ankiops_is_refused() {
        let err = Base::parse("{\"version\": 99}").unwrap_err().to_string();
        assert!(err.contains("newer ankiops"), "{err}");
    }
}
