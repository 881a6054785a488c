//! Typed wrappers for the actions of reference/ankiconnect.md D3, with the fallbacks for older add-on builds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::base64;
use crate::capabilities::Capabilities;
use crate::client::{Action, Client, decode, kind};
use crate::error::Error;
use crate::types::{
    CardInfo, CardTemplate, MediaSource, NewModel, NewNote, NoteInfo, NoteMod, Permission, PermissionWire, SyncOutcome,
};

/// Ids per `notesInfo`/`notesModTime` request, so that no single request freezes Anki for long.
const NOTE_READ_CHUNK: usize = 1000;
/// `notesModTime` answers two small numbers per note and renders nothing: a whole large collection (about
/// 60 bytes per note) fits in one request, which keeps a no-op run at a handful of requests.
const MOD_TIME_CHUNK: usize = 50_000;

/// Ids per `cardsInfo` request: it renders every card, so it is much more expensive per id.
const CARD_READ_CHUNK: usize = 250;

/// How often [`Client::wait_for_profile`] asks.
const PROFILE_POLL: Duration = Duration::from_millis(250);

/// Decodes a list in which `{}` (or `null`) marks an id the collection does not have.
fn optional_list<T: DeserializeOwned>(action: &str, value: Value, expected: usize) -> Result<Vec<Option<T>>, Error> {
    let items: Vec<Value> = decode(action, value)?;
    if items.len() != expected {
        return Err(Error::Malformed {
            action: action.to_owned(),
            detail: format!("{} entries for {} ids", items.len(), expected),
        });
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::Null => Ok(None),
            Value::Object(map) if map.is_empty() => Ok(None),
            other => decode(action, other).map(Some),
        })
        .collect()
}

fn expect_null(action: &str, value: Value) -> Result<(), Error> {
    match value {
        Value::Null => Ok(()),
        other => {
            Err(Error::Malformed { action: action.to_owned(), detail: format!("expected null, got {}", kind(&other)) })
        }
    }
}

/// Why a note of [`Client::add_notes`] has no id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAdded {
    /// Anki refused it (its message): it is not in the collection.
    Refused(String),
    /// It was sent and the reply was lost: Anki may or may not hold it.
    Unknown(String),
    /// It was not sent, or its request failed before Anki could apply it.
    NotSent(String),
}

impl std::fmt::Display for NotAdded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAdded::Refused(m) | NotAdded::Unknown(m) | NotAdded::NotSent(m) => f.write_str(m),
        }
    }
}

/// The write actions ankiops batches inside `multi`, with AnkiConnect's parameter shapes; the matching
/// [`Client`] methods send the same actions one at a time. Each answers `null`: [`Client::multi_writes`]
/// checks that.
impl Action {
    /// `createDeck`: the deck and its missing parents (an existing deck, matched case-insensitively, is kept).
    pub fn create_deck(name: &str) -> Action {
        Action::new("createDeck", json!({"deck": name}))
    }

    /// `updateNoteFields`: sets the named fields (case-sensitive; unknown names are ignored by Anki).
    pub fn update_note_fields(note: i64, fields: &BTreeMap<impl AsRef<str> + Ord, impl AsRef<str>>) -> Action {
        let fields: Map<String, Value> =
            fields.iter().map(|(k, v)| (k.as_ref().to_owned(), Value::from(v.as_ref()))).collect();
        Action::new("updateNoteFields", json!({"note": {"id": note, "fields": fields}}))
    }

    /// `updateNoteTags`: replaces the note's tags.
    pub fn update_note_tags(note: i64, tags: &[String]) -> Action {
        Action::new("updateNoteTags", json!({"note": note, "tags": tags}))
    }

    /// `updateNoteModel`: changes the note's type in place, fields reassigned by name, tags replaced (a schema
    /// change: the next AnkiWeb sync is a full one).
    pub fn update_note_model(note: i64, model: &str, fields: &BTreeMap<String, String>, tags: &[String]) -> Action {
        Action::new(
            "updateNoteModel",
            json!({"note": {"id": note, "modelName": model, "fields": fields, "tags": tags}}),
        )
    }

    /// `changeDeck`: moves cards (card ids, not note ids) to `deck`, creating it if needed.
    pub fn change_deck(cards: &[i64], deck: &str) -> Action {
        Action::new("changeDeck", json!({"cards": cards, "deck": deck}))
    }

    /// `getDecks`: which deck each card is in.
    pub fn get_decks(cards: &[i64]) -> Action {
        Action::new("getDecks", json!({"cards": cards}))
    }

    /// `deckNamesAndIds`: every deck with its id.
    pub fn deck_names_and_ids() -> Action {
        Action::new("deckNamesAndIds", Value::Null)
    }
}

impl Client {
    /// Runs write actions (each answering `null`) through [`Client::multi`]: one entry per action, `Ok` when
    /// Anki applied it, its error message otherwise (or why its outcome is unknown or it was not sent).
    pub fn multi_writes(
        &self,
        actions: &[Action],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Result<(), String>>, Error> {
        let results = self.multi(actions, progress)?;
        Ok(results
            .into_iter()
            .zip(actions)
            .map(|(result, action)| {
                result.and_then(|value| expect_null(&action.action, value).map_err(|e| e.to_string()))
            })
            .collect())
    }

    /// In one request: the deck each card is in (deck name to card ids) and every deck with its id.
    #[allow(clippy::type_complexity)]
    pub fn decks_of_cards_and_ids(
        &self,
        cards: &[i64],
    ) -> Result<(BTreeMap<String, Vec<i64>>, BTreeMap<String, i64>), Error> {
        let replies = self.multi_all(&[Action::get_decks(cards), Action::deck_names_and_ids()], &mut |_, _| {})?;
        let mut replies = replies.into_iter();
        let decks = decode("getDecks", replies.next().unwrap_or_default())?;
        let ids = decode("deckNamesAndIds", replies.next().unwrap_or_default())?;
        Ok((decks, ids))
    }
}

impl Client {
    fn caps(&self) -> Result<&Capabilities, Error> {
        if let Some(caps) = self.capabilities.get() {
            return Ok(caps);
        }
        let caps = match self.call_value("apiReflect", json!({"scopes": ["actions"], "actions": null})) {
            Ok(reply) => {
                let actions: Vec<String> = match reply.get("actions") {
                    Some(actions) => decode("apiReflect", actions.clone())?,
                    None => {
                        return Err(Error::Malformed {
                            action: "apiReflect".into(),
                            detail: "no `actions` in the reply".into(),
                        });
                    }
                };
                Capabilities::from_actions(actions)
            }
            Err(Error::Unsupported { .. }) => Capabilities::legacy(),
            Err(e) => return Err(e),
        };
        Ok(self.capabilities.get_or_init(|| caps))
    }

    /// What the add-on can do, asked once with `apiReflect` and then cached.
    pub fn capabilities(&self) -> Result<Capabilities, Error> {
        self.caps().cloned()
    }

    // ---- misc, permission and profiles ----

    /// The protocol version (always 6). A short timeout applies: use it to check that Anki is up.
    pub fn version(&self) -> Result<i64, Error> {
        let reply = self.call_value("version", Value::Null)?;
        reply.as_i64().ok_or_else(|| Error::NotAnkiConnect {
            url: self.url().to_owned(),
            action: "version".into(),
            detail: format!("{} instead of a version number", kind(&reply)),
        })
    }

    /// Asks for permission; a CLI (no `Origin` header) is always granted, and learns whether a key is needed.
    pub fn request_permission(&self) -> Result<Permission, Error> {
        let wire: PermissionWire = self.call("requestPermission", Value::Null)?;
        Ok(Permission {
            granted: wire.permission == "granted",
            require_api_key: wire.require_api_key,
            version: wire.version,
        })
    }

    pub fn get_profiles(&self) -> Result<Vec<String>, Error> {
        self.call("getProfiles", Value::Null)
    }

    /// The open profile; `None` if none is open or the add-on predates `getActiveProfile`.
    pub fn get_active_profile(&self) -> Result<Option<String>, Error> {
        if !self.caps()?.has_active_profile() {
            return Ok(None);
        }
        self.call("getActiveProfile", Value::Null)
    }

    /// Starts switching to profile `name`; `false` if there is no such profile.
    /// It returns before the switch completes: follow it with [`Client::wait_for_profile`].
    pub fn load_profile(&self, name: &str) -> Result<bool, Error> {
        self.call("loadProfile", json!({"name": name}))
    }

    /// Waits until profile `name` is open and its collection answers, for at most `timeout`.
    pub fn wait_for_profile(&self, name: &str, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = match self.get_active_profile() {
                Ok(Some(active)) if active != name => Ok(false),
                Ok(_) => self.call_value("deckNames", Value::Null).map(|_| true),
                Err(e) => Err(e),
            };
            match ready {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(Error::CollectionUnavailable { action: format!("loadProfile {name}") });
            }
            std::thread::sleep(PROFILE_POLL);
        }
    }

    /// Syncs the collection with AnkiWeb (blocking Anki's UI while it runs).
    ///
    /// Errors: [`Error::SyncNotLoggedIn`], [`Error::FullSyncRequired`], or Anki's own network error text.
    /// Add-on builds before July 2024 only press the Sync button and report nothing: [`SyncOutcome::Started`].
    pub fn sync(&self) -> Result<SyncOutcome, Error> {
        let modern = self.caps()?.sync_reports_errors();
        self.call_value("sync", Value::Null)?;
        Ok(if modern { SyncOutcome::Synced } else { SyncOutcome::Started })
    }

    // ---- decks ----

    /// Every deck (filtered ones too) with its id.
    pub fn deck_names_and_ids(&self) -> Result<BTreeMap<String, i64>, Error> {
        self.call("deckNamesAndIds", Value::Null)
    }

    /// Creates the deck and its missing parents; returns the id, also of an existing deck
    /// (matched case-insensitively).
    pub fn create_deck(&self, name: &str) -> Result<i64, Error> {
        let a = Action::create_deck(name);
        self.call(&a.action, a.params)
    }

    /// Moves cards (card ids, not note ids) to `deck`, creating it if needed. Unknown ids are ignored silently.
    pub fn change_deck(&self, cards: &[i64], deck: &str) -> Result<(), Error> {
        let a = Action::change_deck(cards, deck);
        let value = self.call_value(&a.action, a.params)?;
        expect_null("changeDeck", value)
    }

    /// Deletes the decks **with every card in them and in their subdecks**. Missing decks are skipped.
    pub fn delete_decks<S: AsRef<str>>(&self, decks: &[S]) -> Result<(), Error> {
        let decks: Vec<&str> = decks.iter().map(AsRef::as_ref).collect();
        let value = self.call_value("deleteDecks", json!({"decks": decks, "cardsToo": true}))?;
        expect_null("deleteDecks", value)
    }

    /// Which deck each card is in: deck name to card ids.
    pub fn get_decks(&self, cards: &[i64]) -> Result<BTreeMap<String, Vec<i64>>, Error> {
        let a = Action::get_decks(cards);
        self.call(&a.action, a.params)
    }

    // ---- models (note types) ----

    pub fn model_names(&self) -> Result<Vec<String>, Error> {
        self.call("modelNames", Value::Null)
    }

    pub fn model_names_and_ids(&self) -> Result<BTreeMap<String, i64>, Error> {
        self.call("modelNamesAndIds", Value::Null)
    }

    /// Field names in order.
    pub fn model_field_names(&self, model: &str) -> Result<Vec<String>, Error> {
        self.call("modelFieldNames", json!({"modelName": model}))
    }

    /// Creates a note type and returns Anki's full model dictionary.
    pub fn create_model(&self, model: &NewModel) -> Result<Value, Error> {
        let templates: Vec<Value> = model.templates.iter().map(CardTemplate::to_json).collect();
        self.call_value(
            "createModel",
            json!({
                "modelName": model.name,
                "inOrderFields": model.fields,
                "css": model.css,
                "isCloze": model.is_cloze,
                "cardTemplates": templates,
            }),
        )
    }

    /// The note type's card templates, in order.
    pub fn model_templates(&self, model: &str) -> Result<Vec<CardTemplate>, Error> {
        #[derive(serde::Deserialize)]
        struct Sides {
            #[serde(rename = "Front")]
            front: String,
            #[serde(rename = "Back")]
            back: String,
        }
        // serde_json keeps the reply's key order (the `preserve_order` feature), which is template order.
        let templates: Map<String, Value> = self.call("modelTemplates", json!({"modelName": model}))?;
        templates
            .into_iter()
            .map(|(name, sides)| {
                let sides: Sides = decode("modelTemplates", sides)?;
                Ok(CardTemplate { name, front: sides.front, back: sides.back })
            })
            .collect()
    }

    /// The note type's CSS.
    pub fn model_styling(&self, model: &str) -> Result<String, Error> {
        #[derive(serde::Deserialize)]
        struct Styling {
            css: String,
        }
        let styling: Styling = self.call("modelStyling", json!({"modelName": model}))?;
        Ok(styling.css)
    }

    /// Updates existing templates by name. Unknown names are ignored and empty sides are not written,
    /// both silently by the add-on: read back with [`Client::model_templates`].
    pub fn update_model_templates(&self, model: &str, templates: &[CardTemplate]) -> Result<(), Error> {
        let templates: Map<String, Value> =
            templates.iter().map(|t| (t.name.clone(), json!({"Front": t.front, "Back": t.back}))).collect();
        let value =
            self.call_value("updateModelTemplates", json!({"model": {"name": model, "templates": templates}}))?;
        expect_null("updateModelTemplates", value)
    }

    pub fn update_model_styling(&self, model: &str, css: &str) -> Result<(), Error> {
        let value = self.call_value("updateModelStyling", json!({"model": {"name": model, "css": css}}))?;
        expect_null("updateModelStyling", value)
    }

    /// Adds a field (at `index`, or last). A schema change: the next AnkiWeb sync will be a full sync.
    pub fn model_field_add(&self, model: &str, field: &str, index: Option<usize>) -> Result<(), Error> {
        let mut params = json!({"modelName": model, "fieldName": field});
        if let (Some(index), Value::Object(map)) = (index, &mut params) {
            map.insert("index".into(), Value::from(index));
        }
        let value = self.call_value("modelFieldAdd", params)?;
        expect_null("modelFieldAdd", value)
    }

    /// Adds a card template. A schema change: the next AnkiWeb sync will be a full sync.
    pub fn model_template_add(&self, model: &str, template: &CardTemplate) -> Result<(), Error> {
        let value = self.call_value("modelTemplateAdd", json!({"modelName": model, "template": template.to_json()}))?;
        expect_null("modelTemplateAdd", value)
    }

    // ---- notes: read ----

    /// Note ids matching an Anki search. `deck:X` includes subdecks; see ankiconnect.md for quoting.
    pub fn find_notes(&self, query: &str) -> Result<Vec<i64>, Error> {
        self.call("findNotes", json!({"query": query}))
    }

    pub fn find_cards(&self, query: &str) -> Result<Vec<i64>, Error> {
        self.call("findCards", json!({"query": query}))
    }

    /// The notes, one entry per id, `None` for an id the collection does not have.
    pub fn notes_info(&self, notes: &[i64]) -> Result<Vec<Option<NoteInfo>>, Error> {
        let mut all = Vec::with_capacity(notes.len());
        for chunk in notes.chunks(NOTE_READ_CHUNK) {
            let value = self.call_value("notesInfo", json!({"notes": chunk}))?;
            all.extend(optional_list("notesInfo", value, chunk.len())?);
        }
        Ok(all)
    }

    /// The notes matching an Anki search.
    pub fn notes_info_by_query(&self, query: &str) -> Result<Vec<NoteInfo>, Error> {
        let items: Vec<Value> = self.call("notesInfo", json!({"query": query}))?;
        let expected = items.len();
        Ok(optional_list("notesInfo", Value::Array(items), expected)?.into_iter().flatten().collect())
    }

    /// Modification times, one entry per id, `None` for an unknown id.
    /// Falls back to `notesInfo` on builds without `notesModTime`; builds before July 2024 report no time at all
    /// (`mod_time: None`), so change detection must then rely on content.
    pub fn notes_mod_time(&self, notes: &[i64]) -> Result<Vec<Option<NoteMod>>, Error> {
        if !self.caps()?.has_notes_mod_time() {
            return Ok(self
                .notes_info(notes)?
                .into_iter()
                .map(|info| info.map(|info| NoteMod { note_id: info.note_id, mod_time: info.mod_time }))
                .collect());
        }
        let mut all = Vec::with_capacity(notes.len());
        for chunk in notes.chunks(MOD_TIME_CHUNK) {
            let value = self.call_value("notesModTime", json!({"notes": chunk}))?;
            all.extend(optional_list("notesModTime", value, chunk.len())?);
        }
        Ok(all)
    }

    /// The cards, one entry per id, `None` for an unknown id. Expensive: Anki renders every card.
    /// For deck membership use [`Client::get_decks`].
    pub fn cards_info(&self, cards: &[i64]) -> Result<Vec<Option<CardInfo>>, Error> {
        let mut all = Vec::with_capacity(cards.len());
        for chunk in cards.chunks(CARD_READ_CHUNK) {
            let value = self.call_value("cardsInfo", json!({"cards": chunk}))?;
            all.extend(optional_list("cardsInfo", value, chunk.len())?);
        }
        Ok(all)
    }

    // ---- notes: write ----

    /// Adds one note and returns its id. `addNote` does not create decks: create the deck first.
    pub fn add_note(&self, note: &NewNote) -> Result<i64, Error> {
        self.call("addNote", json!({"note": note.to_json()}))
    }

    /// Adds notes through `multi` of `addNote` (never `addNotes`, which is all or nothing on recent builds
    /// and swallows errors on old ones): one entry per note, its id or the add-on's error message.
    pub fn add_notes(
        &self,
        notes: &[NewNote],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Result<i64, NotAdded>>, Error> {
        // One `multi` chunk at a time, so the requests of a large import are never all built at once.
        let total = notes.len();
        let mut out: Vec<Result<i64, NotAdded>> = Vec::with_capacity(total);
        for chunk in notes.chunks(crate::client::MULTI_MAX_ACTIONS) {
            let actions: Vec<Action> =
                chunk.iter().map(|note| Action::new("addNote", json!({"note": note.to_json()}))).collect();
            let done = out.len();
            match self.multi(&actions, &mut |n, _| progress(done + n, total)) {
                Ok(entries) => out.extend(entries.into_iter().map(|entry| match entry {
                    Ok(Value::Number(id)) => {
                        id.as_i64().ok_or_else(|| NotAdded::Refused(format!("malformed note id {id}")))
                    }
                    Ok(Value::Null) => Err(NotAdded::Refused("the note was not added".to_owned())),
                    Ok(other) => {
                        Err(NotAdded::Refused(format!("malformed reply: {} instead of a note id", kind(&other))))
                    }
                    Err(message) if message.starts_with(crate::client::OUTCOME_UNKNOWN) => {
                        Err(NotAdded::Unknown(message))
                    }
                    Err(message) if message.starts_with("not ") => Err(NotAdded::NotSent(message)),
                    Err(message) => Err(NotAdded::Refused(message)),
                })),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    // Earlier chunks landed: keep their ids, and say what became of the rest.
                    let flying = if e.is_outcome_unknown() {
                        NotAdded::Unknown(e.to_string())
                    } else {
                        NotAdded::NotSent(e.to_string())
                    };
                    out.extend((0..chunk.len()).map(|_| Err(flying.clone())));
                    let rest = NotAdded::NotSent(format!("not sent: {e}"));
                    out.extend((out.len()..total).map(|_| Err(rest.clone())));
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Whether each note could be added, with the reason when not; writes nothing.
    /// Builds before February 2024 give no reason (falls back to `canAddNotes`).
    pub fn can_add_notes_with_error_detail(&self, notes: &[NewNote]) -> Result<Vec<Result<(), String>>, Error> {
        let wire: Vec<Value> = notes.iter().map(NewNote::to_json).collect();
        if !self.caps()?.has_can_add_detail() {
            let can: Vec<bool> = self.call("canAddNotes", json!({"notes": wire}))?;
            return Ok(can
                .into_iter()
                .map(|ok| {
                    if ok {
                        Ok(())
                    } else {
                        Err("cannot add the note (this AnkiConnect version gives no reason)".to_owned())
                    }
                })
                .collect());
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Detail {
            can_add: bool,
            #[serde(default)]
            error: Option<String>,
        }
        let details: Vec<Detail> = self.call("canAddNotesWithErrorDetail", json!({"notes": wire}))?;
        if details.len() != notes.len() {
            return Err(Error::Malformed {
                action: "canAddNotesWithErrorDetail".into(),
                detail: format!("{} entries for {} notes", details.len(), notes.len()),
            });
        }
        Ok(details
            .into_iter()
            .map(|d| if d.can_add { Ok(()) } else { Err(d.error.unwrap_or_else(|| "cannot add the note".to_owned())) })
            .collect())
    }

    /// Sets fields by name. Names are case-sensitive here and unknown names are ignored silently;
    /// an open Browser on the note can overwrite the change: read back to verify.
    pub fn update_note_fields(&self, note: i64, fields: &BTreeMap<String, String>) -> Result<(), Error> {
        let a = Action::update_note_fields(note, fields);
        let value = self.call_value(&a.action, a.params)?;
        expect_null("updateNoteFields", value)
    }

    /// Sets fields, then tags (fields stay changed if the tags fail). At least one must be given.
    pub fn update_note(
        &self,
        note: i64,
        fields: Option<&BTreeMap<String, String>>,
        tags: Option<&[String]>,
    ) -> Result<(), Error> {
        let mut inner = Map::new();
        inner.insert("id".into(), Value::from(note));
        if let Some(fields) = fields {
            inner.insert("fields".into(), json!(fields));
        }
        if let Some(tags) = tags {
            inner.insert("tags".into(), json!(tags));
        }
        let value = self.call_value("updateNote", json!({"note": inner}))?;
        expect_null("updateNote", value)
    }

    /// Replaces the note's tags. This bumps the note's `mod` even when the set is unchanged:
    /// call it only when the canonical tag set differs, or use [`Client::add_tags`]/[`Client::remove_tags`].
    pub fn update_note_tags(&self, note: i64, tags: &[String]) -> Result<(), Error> {
        let a = Action::update_note_tags(note, tags);
        let value = self.call_value(&a.action, a.params)?;
        expect_null("updateNoteTags", value)
    }

    /// Adds tags (each without spaces) to the notes.
    pub fn add_tags<S: AsRef<str>>(&self, notes: &[i64], tags: &[S]) -> Result<(), Error> {
        let value = self.call_value("addTags", json!({"notes": notes, "tags": join_tags(tags)}))?;
        expect_null("addTags", value)
    }

    /// Removes tags (each without spaces) from the notes.
    pub fn remove_tags<S: AsRef<str>>(&self, notes: &[i64], tags: &[S]) -> Result<(), Error> {
        let value = self.call_value("removeTags", json!({"notes": notes, "tags": join_tags(tags)}))?;
        expect_null("removeTags", value)
    }

    /// Deletes the notes and their cards. Unknown ids are ignored silently.
    pub fn delete_notes(&self, notes: &[i64]) -> Result<(), Error> {
        let value = self.call_value("deleteNotes", json!({"notes": notes}))?;
        expect_null("deleteNotes", value)
    }

    /// Changes the note's type in place; fields are reassigned by name and the tags replaced.
    /// A schema change: the next AnkiWeb sync will be a full sync.
    pub fn update_note_model(
        &self,
        note: i64,
        model: &str,
        fields: &BTreeMap<String, String>,
        tags: &[String],
    ) -> Result<(), Error> {
        let a = Action::update_note_model(note, model, fields, tags);
        let value = self.call_value(&a.action, a.params)?;
        expect_null("updateNoteModel", value)
    }

    // ---- media ----

    /// Stores a media file and returns the name it was stored under, which can differ from `filename`
    /// (directories are stripped; with `delete_existing == false` a clash gets a hash suffix): always use it.
    pub fn store_media_file(
        &self,
        filename: &str,
        source: MediaSource<'_>,
        delete_existing: bool,
    ) -> Result<String, Error> {
        let mut params = Map::new();
        params.insert("filename".into(), Value::from(filename));
        match source {
            MediaSource::Data(bytes) => params.insert("data".into(), Value::from(base64::encode(bytes))),
            MediaSource::Path(path) => params.insert("path".into(), Value::from(path.to_string_lossy().as_ref())),
            MediaSource::Url(url) => params.insert("url".into(), Value::from(url)),
        };
        params.insert("deleteExisting".into(), Value::from(delete_existing));
        self.call("storeMediaFile", Value::Object(params))
    }

    /// The file's bytes, or `None` if the media folder has no such file.
    pub fn retrieve_media_file(&self, filename: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.call_value("retrieveMediaFile", json!({"filename": filename}))? {
            Value::Bool(false) | Value::Null => Ok(None),
            Value::String(data) => base64::decode(&data).map(Some).ok_or_else(|| Error::Malformed {
                action: "retrieveMediaFile".into(),
                detail: "the file's data is not base64".into(),
            }),
            other => Err(Error::Malformed {
                action: "retrieveMediaFile".into(),
                detail: format!("{} instead of base64 data or false", kind(&other)),
            }),
        }
    }

    /// Names of the media files matching a glob (`*` for all).
    pub fn get_media_files_names(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.call("getMediaFilesNames", json!({"pattern": pattern}))
    }

    /// The absolute path of the media folder on Anki's machine.
    pub fn get_media_dir_path(&self) -> Result<String, Error> {
        self.call("getMediaDirPath", Value::Null)
    }

    /// Moves the file to Anki's media trash; the deletion reaches AnkiWeb with the next media sync.
    pub fn delete_media_file(&self, filename: &str) -> Result<(), Error> {
        let value = self.call_value("deleteMediaFile", json!({"filename": filename}))?;
        expect_null("deleteMediaFile", value)
    }
}

fn join_tags<S: AsRef<str>>(tags: &[S]) -> String {
    tags.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}
