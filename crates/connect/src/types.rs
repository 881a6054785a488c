//! Typed requests and replies of the AnkiConnect actions ankiops uses.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The answer to `requestPermission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub granted: bool,
    /// Whether the add-on has an apiKey configured.
    pub require_api_key: bool,
    pub version: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct PermissionWire {
    pub permission: String,
    // The add-on's code spells it `requireApikey`; its README says `requireApiKey`.
    #[serde(default, rename = "requireApikey", alias = "requireApiKey")]
    pub require_api_key: bool,
    #[serde(default)]
    pub version: Option<i64>,
}

/// One field of a note as `notesInfo` and `cardsInfo` return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValue {
    pub value: String,
    /// The field's position in the note type.
    pub order: u32,
}

/// A note as `notesInfo` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteInfo {
    pub note_id: i64,
    pub model_name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// By field name; [`NoteInfo::fields_in_order`] gives them in note-type order.
    pub fields: BTreeMap<String, FieldValue>,
    /// Card ids, ordered by template.
    #[serde(default)]
    pub cards: Vec<i64>,
    /// Modification time in epoch seconds; `None` from add-on builds before July 2024.
    #[serde(default, rename = "mod")]
    pub mod_time: Option<i64>,
    /// The profile that was open; `None` from add-on builds before July 2024.
    #[serde(default)]
    pub profile: Option<String>,
}

impl NoteInfo {
    /// `(name, value)` pairs in the note type's field order.
    pub fn fields_in_order(&self) -> Vec<(&str, &str)> {
        let mut fields: Vec<(&str, &FieldValue)> = self.fields.iter().map(|(n, f)| (n.as_str(), f)).collect();
        fields.sort_by_key(|(_, f)| f.order);
        fields.into_iter().map(|(n, f)| (n, f.value.as_str())).collect()
    }
}

/// A note's modification time, as `notesModTime` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteMod {
    pub note_id: i64,
    /// Epoch seconds; `None` only from add-on builds before July 2024, which do not report it.
    #[serde(default, rename = "mod")]
    pub mod_time: Option<i64>,
}

/// A card as `cardsInfo` returns it (the scheduling preview `nextReviews` is left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardInfo {
    pub card_id: i64,
    /// The note's id.
    pub note: i64,
    #[serde(default)]
    pub deck_name: String,
    #[serde(default)]
    pub model_name: String,
    /// The template's ordinal.
    #[serde(default)]
    pub ord: u32,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldValue>,
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub answer: String,
    #[serde(default, rename = "type")]
    pub card_type: i64,
    #[serde(default)]
    pub queue: i64,
    #[serde(default)]
    pub due: i64,
    #[serde(default)]
    pub interval: i64,
    #[serde(default)]
    pub factor: i64,
    #[serde(default)]
    pub reps: i64,
    #[serde(default)]
    pub lapses: i64,
    #[serde(default)]
    pub flags: i64,
    #[serde(default, rename = "mod")]
    pub mod_time: Option<i64>,
}

/// A note to add.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewNote {
    pub deck_name: String,
    pub model_name: String,
    /// Field values by name. `addNote` matches names case-insensitively and drops unknown ones silently,
    /// so check them against `modelFieldNames` first.
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// Skip Anki's duplicate check (same note type and first field anywhere in the collection).
    pub allow_duplicate: bool,
}

impl NewNote {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "deckName": self.deck_name,
            "modelName": self.model_name,
            "fields": self.fields,
            "tags": self.tags,
            "options": {"allowDuplicate": self.allow_duplicate},
        })
    }
}

/// One card template of a note type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTemplate {
    pub name: String,
    pub front: String,
    pub back: String,
}

impl CardTemplate {
    pub(crate) fn to_json(&self) -> Value {
        json!({"Name": self.name, "Front": self.front, "Back": self.back})
    }
}

/// A note type to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewModel {
    pub name: String,
    /// Field names in order.
    pub fields: Vec<String>,
    pub templates: Vec<CardTemplate>,
    pub css: String,
    pub is_cloze: bool,
}

/// Where `storeMediaFile` takes the file's bytes from.
#[derive(Debug, Clone, Copy)]
pub enum MediaSource<'a> {
    /// The bytes themselves (sent base64-encoded).
    Data(&'a [u8]),
    /// A path Anki reads from its own file system; cheapest when Anki runs on this machine.
    Path(&'a Path),
    /// A URL Anki downloads.
    Url(&'a str),
}

/// The outcome of `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The collection sync finished (the media sync may still run in Anki).
    Synced,
    /// An add-on build before July 2024 only pressed Anki's Sync button: the result is unknown,
    /// and Anki may be showing a login or full-sync dialog.
    Started,
}
