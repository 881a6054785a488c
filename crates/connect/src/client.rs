//! The transport: one HTTP request per call, the reply envelope, `multi` batching, and error classification.
//!
//! Every AnkiConnect trap that concerns the wire is handled here (reference/ankiconnect.md D1, D4):
//! `version: 6` on every request and sub-action, both reply shapes, a fresh connection per request
//! (the add-on closes every socket without saying so), an explicit `Content-Length` (no chunked bodies),
//! the api key only as the `key` field, one retry of an idempotent read on a dropped connection.

use std::fmt;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::capabilities::Capabilities;
use crate::error::Error;

/// The protocol version sent on every request and every `multi` sub-action.
pub const API_VERSION: u32 = 6;

/// The add-on's default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8765";

/// At most this many sub-actions go into one `multi` request: a large `multi` freezes Anki's UI.
pub const MULTI_MAX_ACTIONS: usize = 250;

/// At most this many bytes of sub-actions go into one `multi` request (a single larger action goes alone).
pub const MULTI_MAX_BYTES: usize = 4 * 1024 * 1024;

/// `version` is a liveness probe: it never waits longer than this, whatever the configured timeout.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Replies larger than this are refused (a `retrieveMediaFile` of a big video is the largest expected).
const MAX_REPLY_BYTES: u64 = 1 << 30;

/// Where and how to reach AnkiConnect.
#[derive(Clone)]
pub struct Config {
    /// Base URL of the add-on, `http://127.0.0.1:8765` by default; a missing `http://` is added.
    pub url: String,
    /// The add-on's `apiKey`, if it has one; sent only as the `key` field of each request.
    pub api_key: Option<String>,
    /// Time limit for ordinary requests.
    pub timeout: Duration,
    /// Time limit for `sync`, `multi` batches and other actions whose duration grows with the collection.
    pub long_timeout: Duration,
}

impl Config {
    /// The default configuration for an add-on at `url`.
    pub fn new(url: impl Into<String>) -> Config {
        Config { url: url.into(), ..Config::default() }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            url: DEFAULT_URL.to_owned(),
            api_key: None,
            timeout: Duration::from_secs(30),
            long_timeout: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field("timeout", &self.timeout)
            .field("long_timeout", &self.long_timeout)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One sub-action of a `multi` batch; `version` and `key` are added by the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub action: String,
    /// The action's parameters: a JSON object, or `Value::Null` for none.
    pub params: Value,
}

impl Action {
    pub fn new(action: impl Into<String>, params: Value) -> Action {
        Action { action: action.into(), params }
    }
}

/// A client for one AnkiConnect add-on. Requests are sent one at a time, each on a fresh connection.
pub struct Client {
    pub(crate) config: Config,
    url: String,
    agent: ureq::Agent,
    pub(crate) capabilities: OnceLock<Capabilities>,
    /// Whether AnkiConnect has answered a request of this client: after that, a reply that is not
    /// AnkiConnect's is a fault on the way back ([`Error::Garbled`]), not a wrong address.
    answered: AtomicBool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How long an action may take.
#[derive(Clone, Copy)]
enum Budget {
    Probe,
    Normal,
    Long,
}

fn budget(action: &str) -> Budget {
    match action {
        "version" => Budget::Probe,
        "sync"
        | "multi"
        | "addNotes"
        | "deleteNotes"
        | "deleteDecks"
        | "notesInfo"
        | "notesModTime"
        | "cardsInfo"
        | "cardsModTime"
        | "canAddNotes"
        | "canAddNotesWithErrorDetail"
        | "storeMediaFile"
        | "retrieveMediaFile"
        | "getMediaFilesNames"
        | "createModel"
        | "updateModelTemplates"
        | "updateModelStyling"
        | "updateNoteModel"
        | "changeDeck"
        | "getDecks"
        | "findNotes"
        | "findCards"
        | "addTags"
        | "removeTags"
        | "loadProfile" => Budget::Long,
        _ if action.starts_with("modelField") || action.starts_with("modelTemplate") => Budget::Long,
        _ => Budget::Normal,
    }
}

/// Actions that only read, so that sending them twice is harmless.
pub(crate) fn is_read(action: &str) -> bool {
    matches!(
        action,
        "version"
            | "requestPermission"
            | "apiReflect"
            | "getProfiles"
            | "getActiveProfile"
            | "deckNames"
            | "deckNamesAndIds"
            | "deckNameFromId"
            | "getDecks"
            | "modelNames"
            | "modelNamesAndIds"
            | "modelNameFromId"
            | "modelFieldNames"
            | "modelTemplates"
            | "modelStyling"
            | "findModelsByName"
            | "findModelsById"
            | "findNotes"
            | "findCards"
            | "notesInfo"
            | "notesModTime"
            | "cardsInfo"
            | "cardsModTime"
            | "cardsToNotes"
            | "getNoteTags"
            | "getTags"
            | "canAddNotes"
            | "canAddNotesWithErrorDetail"
            | "retrieveMediaFile"
            | "getMediaFilesNames"
            | "getMediaDirPath"
    )
}

/// Whether a request for `action` may be sent again after the connection dropped.
/// `createDeck` is a write but idempotent (it returns the existing deck's id).
fn retry_safe(action: &str, params: &Value) -> bool {
    if action == "multi" {
        return params.get("actions").and_then(Value::as_array).is_some_and(|subs| {
            subs.iter().all(|sub| {
                let name = sub.get("action").and_then(Value::as_str).unwrap_or("");
                let params = sub.get("params").unwrap_or(&Value::Null);
                retry_safe(name, params)
            })
        });
    }
    is_read(action) || action == "createDeck"
}

impl Client {
    pub fn new(config: Config) -> Client {
        let url = if config.url.contains("://") { config.url.clone() } else { format!("http://{}", config.url) };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // The add-on closes every connection after replying, without a `Connection: close` header.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // Status codes are inspected here: anything but 200 means this is not AnkiConnect.
            .http_status_as_error(false)
            .max_redirects(0)
            // AnkiConnect is local; a proxy from the environment would only get in the way.
            .proxy(None)
            .build()
            .into();
        Client { config, url, agent, capabilities: OnceLock::new(), answered: AtomicBool::new(false) }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn timeout_for(&self, action: &str) -> Duration {
        match budget(action) {
            Budget::Probe => self.config.timeout.min(PROBE_TIMEOUT),
            Budget::Normal => self.config.timeout,
            Budget::Long => self.config.long_timeout.max(self.config.timeout),
        }
    }

    /// Calls any action and deserializes its result.
    pub fn call<T: DeserializeOwned>(&self, action: &str, params: Value) -> Result<T, Error> {
        let result = self.call_value(action, params)?;
        decode(action, result)
    }

    /// Calls any action and returns its result as JSON.
    pub fn call_value(&self, action: &str, params: Value) -> Result<Value, Error> {
        let retry = retry_safe(action, &params);
        let body = self.request_body(action, params);
        let timeout = self.timeout_for(action);
        let reply = self.post(action, &body, timeout, retry)?;
        self.unwrap_reply(action, reply)
    }

    /// The serialised sub-actions of the `multi` chunk starting at `start`, cut by count and by size, and where
    /// the chunk ends.
    fn chunk_bodies(&self, actions: &[Action], start: usize) -> (usize, Vec<String>) {
        let mut end = start;
        let mut bytes = 0;
        let mut bodies = Vec::new();
        while end < actions.len() && end - start < MULTI_MAX_ACTIONS {
            let body = self.request_object(&actions[end].action, actions[end].params.clone()).to_string();
            let size = body.len() + 1;
            if end > start && bytes + size > MULTI_MAX_BYTES {
                break;
            }
            bytes += size;
            bodies.push(body);
            end += 1;
        }
        (end, bodies)
    }

    fn request_object(&self, action: &str, params: Value) -> Value {
        let mut object = Map::new();
        object.insert("action".into(), Value::from(action));
        object.insert("version".into(), Value::from(API_VERSION));
        match params {
            Value::Null => {}
            params => {
                object.insert("params".into(), params);
            }
        }
        if let Some(key) = &self.config.api_key {
            object.insert("key".into(), Value::from(key.as_str()));
        }
        Value::Object(object)
    }

    fn request_body(&self, action: &str, params: Value) -> Vec<u8> {
        self.request_object(action, params).to_string().into_bytes()
    }

    /// Sends one request on a fresh connection and parses the reply as JSON.
    /// A dropped connection is retried once when `retry` says the request is safe to repeat.
    fn post(&self, action: &str, body: &[u8], timeout: Duration, retry: bool) -> Result<Value, Error> {
        let reply = match self.post_once(action, body, timeout, retry) {
            Err(Error::Dropped { .. }) if retry => {
                // The add-on accepts one connection per 25 ms tick; give it one.
                std::thread::sleep(Duration::from_millis(50));
                self.post_once(action, body, timeout, retry)
            }
            other => other,
        };
        match reply {
            Ok(value) => {
                self.answered.store(true, Ordering::Relaxed);
                Ok(value)
            }
            Err(e) => Err(self.garbled_if_write(e, !retry)),
        }
    }

    /// A write's reply that is not AnkiConnect's, from an address that already answered: outcome unknown.
    fn garbled_if_write(&self, e: Error, write: bool) -> Error {
        if !write || !self.answered.load(Ordering::Relaxed) {
            return e;
        }
        match e {
            Error::NotAnkiConnect { url, action, detail } => Error::Garbled { url, action, detail },
            Error::Malformed { action, detail } => Error::Garbled { url: self.url.clone(), action, detail },
            other => other,
        }
    }

    fn post_once(&self, action: &str, body: &[u8], timeout: Duration, read: bool) -> Result<Value, Error> {
        if !self.url.starts_with("http://") {
            return Err(Error::Request {
                url: self.url.clone(),
                detail: "only plain http:// URLs are supported (AnkiConnect does not speak TLS)".into(),
            });
        }
        let transport = |e: ureq::Error| self.transport_error(action, e, timeout, !read);
        let mut response = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Connection", "close")
            .content_type("application/json")
            .send(body)
            .map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(MAX_REPLY_BYTES).read_to_vec().map_err(transport)?;
        if status != 200 {
            return Err(self.not_anki_connect(action, format!("HTTP status {status}")));
        }
        serde_json::from_slice(&bytes).map_err(|_| self.not_anki_connect(action, describe(&bytes)))
    }

    fn not_anki_connect(&self, action: &str, detail: String) -> Error {
        Error::NotAnkiConnect { url: self.url.clone(), action: action.to_owned(), detail }
    }

    fn transport_error(&self, action: &str, e: ureq::Error, after: Duration, write: bool) -> Error {
        let url = self.url.clone();
        let action = action.to_owned();
        match e {
            ureq::Error::Timeout(_) => Error::Timeout { url, action, after },
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                Error::Unreachable { url, source: Box::new(e) }
            }
            ureq::Error::Io(io) => match io.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::NotFound => Error::Unreachable { url, source: Box::new(io) },
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout { url, action, after },
                _ => Error::Dropped { url, action, write, source: Box::new(io) },
            },
            ureq::Error::BadUri(detail) => Error::Request { url, detail },
            ureq::Error::Http(e) => Error::Request { url, detail: e.to_string() },
            ureq::Error::BodyExceedsLimit(limit) => {
                Error::Malformed { action, detail: format!("the reply is larger than {limit} bytes") }
            }
            other => Error::NotAnkiConnect { url, action, detail: format!("a reply that is not HTTP ({other})") },
        }
    }

    /// Unwraps the `{result, error}` envelope; anything else is a bare (version 4) result.
    fn unwrap_reply(&self, action: &str, reply: Value) -> Result<Value, Error> {
        match split_envelope(reply) {
            Envelope::Ok(result) | Envelope::Bare(result) => Ok(result),
            Envelope::Err(message) => Err(self.explain_key(self.anki_error(action, message))),
            Envelope::BadError(error) => Err(Error::Malformed {
                action: action.to_owned(),
                detail: format!("the error field is not a string: {error}"),
            }),
        }
    }

    /// A rejected key may be wrong or not expected at all (the add-on without an apiKey refuses every key):
    /// `requestPermission`, which needs no key, tells which.
    fn explain_key(&self, error: Error) -> Error {
        let Error::ApiKeyRejected { url } = error else {
            return error;
        };
        let body = br#"{"action":"requestPermission","version":6}"#;
        let needs_key =
            self.post("requestPermission", body, self.timeout_for("version"), true).ok().and_then(|reply| {
                match split_envelope(reply) {
                    Envelope::Ok(result) | Envelope::Bare(result) => {
                        result.get("requireApikey").or_else(|| result.get("requireApiKey")).and_then(Value::as_bool)
                    }
                    _ => None,
                }
            });
        match needs_key {
            Some(false) => Error::ApiKeyUnexpected { url },
            _ => Error::ApiKeyRejected { url },
        }
    }

    /// Turns an error message of the add-on into the error the user can act on.
    fn anki_error(&self, action: &str, message: String) -> Error {
        let url = self.url.clone();
        if message == "valid api key must be provided" {
            return if self.config.api_key.is_some() {
                Error::ApiKeyRejected { url }
            } else {
                Error::ApiKeyRequired { url }
            };
        }
        if message.contains("collection is not available") {
            return Error::CollectionUnavailable { action: action.to_owned() };
        }
        if message == "unsupported action" {
            return Error::Unsupported { action: action.to_owned() };
        }
        if action == "sync" {
            if message == "sync: auth not configured" {
                return Error::SyncNotLoggedIn;
            }
            if let Some(status) = message
                .strip_prefix("Sync status ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
            {
                return Error::FullSyncRequired { status };
            }
        }
        Error::Anki { action: action.to_owned(), message }
    }

    /// Runs the actions through `multi`, in chunks of at most [`MULTI_MAX_ACTIONS`] actions and
    /// [`MULTI_MAX_BYTES`] bytes, and returns one entry per action, in order: its result or its error message.
    ///
    /// `progress(done, total)` is called before the first chunk and after each chunk.
    /// Sub-actions run one after the other with no transaction: earlier ones stay applied when a later one fails.
    /// If a transport error happens before any chunk completed, it is returned as `Err`; after that, the
    /// entries of the failed chunk and of the chunks not sent are `Err` messages saying so, and the results of the
    /// completed chunks are kept (so that the ids of notes already added are not lost).
    pub fn multi(
        &self,
        actions: &[Action],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Result<Value, String>>, Error> {
        let total = actions.len();
        progress(0, total);
        let mut results: Vec<Result<Value, String>> = Vec::with_capacity(total);
        let mut start = 0;
        while start < total {
            // Only this chunk's bodies exist at a time: a large import is not held twice more in memory.
            let (end, bodies) = self.chunk_bodies(actions, start);
            match self.multi_chunk(&actions[start..end], &bodies) {
                Ok(chunk) => results.extend(chunk),
                Err(e) if results.is_empty() => return Err(e),
                Err(e) => {
                    fill_unfinished(&mut results, end - start, total, &e);
                    progress(total, total);
                    return Ok(results);
                }
            }
            start = end;
            progress(start, total);
        }
        Ok(results)
    }

    fn multi_chunk(&self, actions: &[Action], bodies: &[String]) -> Result<Vec<Result<Value, String>>, Error> {
        let mut body = String::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 96);
        body.push_str(r#"{"action":"multi","version":6,"params":{"actions":["#);
        for (i, sub) in bodies.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(sub);
        }
        body.push_str("]}");
        if let Some(key) = &self.config.api_key {
            body.push_str(r#","key":"#);
            body.push_str(&Value::from(key.as_str()).to_string());
        }
        body.push('}');
        let retry = actions.iter().all(|a| retry_safe(&a.action, &a.params));
        let reply = self.post("multi", body.as_bytes(), self.timeout_for("multi"), retry)?;
        let entries = match self.unwrap_reply("multi", reply)? {
            Value::Array(entries) => entries,
            other => {
                let wrong = Error::Malformed {
                    action: "multi".into(),
                    detail: format!("expected a list of results, got {}", kind(&other)),
                };
                return Err(self.garbled_if_write(wrong, !retry));
            }
        };
        if entries.len() != actions.len() {
            let short = Error::Malformed {
                action: "multi".into(),
                detail: format!("{} results for {} actions", entries.len(), actions.len()),
            };
            return Err(self.garbled_if_write(short, !retry));
        }
        Ok(entries
            .into_iter()
            .map(|entry| match split_envelope(entry) {
                Envelope::Ok(result) | Envelope::Bare(result) => Ok(result),
                Envelope::Err(message) => Err(message),
                Envelope::BadError(error) => Err(format!("malformed error: {error}")),
            })
            .collect())
    }

    /// Like [`Client::multi`], but every sub-action must succeed: the first failure becomes
    /// [`Error::SubAction`] with its index (or the classified error, such as a collection being unavailable).
    pub fn multi_all(&self, actions: &[Action], progress: &mut dyn FnMut(usize, usize)) -> Result<Vec<Value>, Error> {
        let results = self.multi(actions, progress)?;
        let mut values = Vec::with_capacity(results.len());
        for (index, (result, action)) in results.into_iter().zip(actions).enumerate() {
            match result {
                Ok(value) => values.push(value),
                Err(message) => return Err(self.sub_action_error(index, &action.action, message)),
            }
        }
        Ok(values)
    }

    pub(crate) fn sub_action_error(&self, index: usize, action: &str, message: String) -> Error {
        match self.anki_error(action, message) {
            Error::Anki { action, message } => Error::SubAction { index, action, message },
            classified => classified,
        }
    }
}

/// How [`Client::multi`] marks an entry sent in a request whose reply was lost: Anki may or may not have
/// applied it.
pub(crate) const OUTCOME_UNKNOWN: &str = "outcome unknown, read back before retrying";

/// After a chunk failed mid-`multi`: the entries of that chunk (`in_flight` of them) and of every chunk not sent
/// become errors saying which is which, up to `total` entries; the entries already in `results` stay.
pub(crate) fn fill_unfinished<T>(results: &mut Vec<Result<T, String>>, in_flight: usize, total: usize, e: &Error) {
    let flying = if e.is_outcome_unknown() { format!("{OUTCOME_UNKNOWN}: {e}") } else { format!("not applied: {e}") };
    results.extend((0..in_flight).map(|_| Err(flying.clone())));
    let rest = format!("not sent: {e}");
    let missing = total.saturating_sub(results.len());
    results.extend((0..missing).map(|_| Err(rest.clone())));
}

enum Envelope {
    Ok(Value),
    Err(String),
    BadError(Value),
    Bare(Value),
}

/// An object with an `error` key and no keys other than `result` and `error` is an envelope;
/// anything else is a bare result, as the add-on sends for requests without `version` (or version 4).
fn split_envelope(reply: Value) -> Envelope {
    match reply {
        Value::Object(mut map) if map.contains_key("error") && map.keys().all(|k| k == "result" || k == "error") => {
            match map.remove("error") {
                Some(Value::Null) | None => Envelope::Ok(map.remove("result").unwrap_or(Value::Null)),
                Some(Value::String(message)) => Envelope::Err(message),
                Some(other) => Envelope::BadError(other),
            }
        }
        other => Envelope::Bare(other),
    }
}

/// Deserializes an action's result, naming the action when it has an unexpected shape.
pub(crate) fn decode<T: DeserializeOwned>(action: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Malformed { action: action.to_owned(), detail: e.to_string() })
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Describes a reply body that is not JSON, for the "not AnkiConnect" error.
fn describe(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return "an empty reply".into();
    }
    if trimmed.starts_with('<') {
        return "an HTML page".into();
    }
    let snippet: String = trimmed.chars().take(40).collect();
    format!("a reply that is not JSON ({:?})", snippet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_and_bare_shapes() {
        assert!(matches!(split_envelope(json!({"result": 6, "error": null})), Envelope::Ok(v) if v == json!(6)));
        assert!(matches!(split_envelope(json!({"result": null, "error": "x"})), Envelope::Err(m) if m == "x"));
        assert!(matches!(split_envelope(json!(6)), Envelope::Bare(v) if v == json!(6)));
        assert!(matches!(split_envelope(json!(null)), Envelope::Bare(Value::Null)));
        assert!(matches!(split_envelope(json!({"Default": 1})), Envelope::Bare(_)));
        assert!(matches!(split_envelope(json!({"error": 3})), Envelope::BadError(_)));
    }

    #[test]
    fn chunks_by_count_and_size() {
        let client = Client::new(Config::new("http://127.0.0.1:9"));
        let actions = |n: usize, size: usize| -> Vec<Action> {
            (0..n).map(|_| Action::new("addNote", json!({"x": "x".repeat(size)}))).collect()
        };
        let small = actions(600, 10);
        assert_eq!(client.chunk_bodies(&small, 0).0, 250);
        assert_eq!(client.chunk_bodies(&small, 500).0, 600);
        let (end, bodies) = client.chunk_bodies(&small, 250);
        assert_eq!((end, bodies.len()), (500, 250));
        let big = actions(3, MULTI_MAX_BYTES / 2);
        assert_eq!(client.chunk_bodies(&big, 0).0, 1);
        let mut huge = actions(1, MULTI_MAX_BYTES * 2);
        huge.extend(actions(1, 1));
        assert_eq!(client.chunk_bodies(&huge, 0).0, 1, "an oversized action goes alone");
    }

    #[test]
    fn only_reads_and_create_deck_are_retried() {
        assert!(retry_safe("notesInfo", &json!({})));
        assert!(retry_safe("createDeck", &json!({})));
        assert!(!retry_safe("addNote", &json!({})));
        assert!(!retry_safe("sync", &Value::Null));
        let reads = json!({"actions": [{"action": "version"}, {"action": "findNotes"}]});
        assert!(retry_safe("multi", &reads));
        let mixed = json!({"actions": [{"action": "version"}, {"action": "deleteNotes"}]});
        assert!(!retry_safe("multi", &mixed));
    }

    #[test]
    fn version_never_waits_long() {
        let client = Client::new(Config::default());
        assert_eq!(client.timeout_for("version"), PROBE_TIMEOUT);
        assert_eq!(client.timeout_for("sync"), Duration::from_secs(300));
        assert_eq!(client.timeout_for("modelFieldAdd"), Duration::from_secs(300));
        assert_eq!(client.timeout_for("createDeck"), Duration::from_secs(30));
    }

    #[test]
    fn debug_hides_the_api_key() {
        let client = Client::new(Config { api_key: Some("s3cret-key".into()), ..Config::default() });
        let debug = format!("{client:?} {:?}", client.config);
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn scheme_is_added() {
        assert_eq!(Client::new(Config::new("localhost:8765")).url(), "http://localhost:8765");
    }
}
