//! Test support: starts the real Anki test backend (the `anki` Python package behind an AnkiConnect-protocol
//! server) and Anki's own sync server, each on a free loopback port, torn down on drop.
//!
//! The first use creates a Python virtual environment under `<target>/anki-venv` and installs the pinned
//! `anki` package into it; parallel test binaries wait for each other through a file lock.
//! Everything here panics with an actionable message when it cannot work: a test that needs Anki
//! fails loudly, it never skips.

mod http;
mod venv;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use http::{RawResponse, raw_request};
/// Re-exported so dependents (xtask) share one temp-dir helper without a dependency of their own.
pub use tempfile;
pub use venv::{ANKI_VERSION, python, target_dir, workspace_root};

/// Every action ankiops sends (reference/ankiconnect.md §D3): the backend's `apiReflect` must report them all.
pub const ANKIOPS_ACTIONS: &[&str] = &[
    "version",
    "requestPermission",
    "getProfiles",
    "getActiveProfile",
    "loadProfile",
    "sync",
    "multi",
    "apiReflect",
    "deckNamesAndIds",
    "deckNames",
    "createDeck",
    "changeDeck",
    "deleteDecks",
    "getDecks",
    "modelNames",
    "modelNamesAndIds",
    "modelFieldNames",
    "createModel",
    "modelTemplates",
    "modelStyling",
    "updateModelTemplates",
    "updateModelStyling",
    "modelFieldAdd",
    "modelTemplateAdd",
    "findNotes",
    "findCards",
    "notesInfo",
    "notesModTime",
    "cardsInfo",
    "addNote",
    "addNotes",
    "canAddNotesWithErrorDetail",
    "updateNoteFields",
    "updateNote",
    "updateNoteTags",
    "addTags",
    "removeTags",
    "deleteNotes",
    "updateNoteModel",
    "storeMediaFile",
    "retrieveMediaFile",
    "getMediaFilesNames",
    "getMediaDirPath",
    "deleteMediaFile",
];

/// The AnkiConnect-protocol server script (stdlib Python plus `anki`).
pub fn server_script() -> PathBuf {
    workspace_root().join("crates/testkit/backend/ankiconnect_server.py")
}

/// How long a server may take to print its port before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running AnkiConnect-protocol server on a real collection.
pub struct Backend {
    child: Child,
    url: String,
    port: u16,
    dir: PathBuf,
    profile: String,
    api_key: Option<String>,
    log: PathBuf,
    // Declared last so it is removed after the child is gone.
    _tmp: tempfile::TempDir,
}

/// Options for [`Backend::builder`].
#[derive(Debug, Clone, Default)]
pub struct BackendBuilder {
    profile: Option<String>,
    api_key: Option<String>,
    dir: Option<PathBuf>,
    port: Option<u16>,
    inherit_stderr: bool,
}

impl BackendBuilder {
    /// The profile opened at start (default `User 1`); created if missing.
    pub fn profile(mut self, name: &str) -> Self {
        self.profile = Some(name.to_owned());
        self
    }

    /// Require this apiKey on every request; [`Backend::call`] sends it.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// Base folder holding one folder per profile; kept after drop (default: a fresh temp dir).
    pub fn dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.dir = Some(path.into());
        self
    }

    /// Port on 127.0.0.1 (default 0: a free port chosen by the server).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Show the server's log on this process's stderr instead of keeping it in a file.
    pub fn inherit_stderr(mut self, yes: bool) -> Self {
        self.inherit_stderr = yes;
        self
    }

    /// Starts the server and waits until it listens; panics with its log if it cannot.
    pub fn start(self) -> Backend {
        let python = python();
        let tmp = tempfile::Builder::new()
            .prefix("ankiops-backend-")
            .tempdir()
            .expect("create a temp dir for the test backend");
        let dir = match &self.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .unwrap_or_else(|e| panic!("cannot create backend dir {}: {e}", dir.display()));
                std::path::absolute(dir).expect("make the backend dir absolute")
            }
            None => tmp.path().join("base"),
        };
        let profile = self.profile.clone().unwrap_or_else(|| "User 1".to_owned());
        let log = tmp.path().join("backend.log");
        let stderr = if self.inherit_stderr {
            Stdio::inherit()
        } else {
            Stdio::from(std::fs::File::create(&log).expect("create the backend log file"))
        };
        let mut cmd = Command::new(&python);
        cmd.arg("-u")
            .arg(server_script())
            .arg("--base")
            .arg(&dir)
            .arg("--profile")
            .arg(&profile)
            .arg("--port")
            .arg(self.port.unwrap_or(0).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(key) = &self.api_key {
            cmd.arg("--api-key").arg(key);
        }
        let mut child =
            cmd.spawn().unwrap_or_else(|e| panic!("cannot start the test backend with {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("backend stdout is piped");
        let line = wait_for_line(stdout, None, |l| l.starts_with("listening on "));
        let Ok(line) = line else {
            let _ = child.kill();
            let _ = child.wait();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "the test backend did not start within {}s (profile {profile:?}, dir {}); its log:\n{log_text}",
                START_TIMEOUT.as_secs(),
                dir.display()
            );
        };
        let url = line.trim_start_matches("listening on ").trim().to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the port from the backend's line {line:?}"));
        Backend { child, url, port, dir, profile, api_key: self.api_key, log, _tmp: tmp }
    }
}

impl Backend {
    /// A fresh collection in a temp dir, profile `User 1`, no apiKey.
    pub fn start() -> Backend {
        Backend::builder().start()
    }

    pub fn builder() -> BackendBuilder {
        BackendBuilder::default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base folder holding the profile folders.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The profile opened at start.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The folder of the profile opened at start (holds `collection.anki2` and `collection.media`).
    pub fn profile_dir(&self) -> PathBuf {
        self.dir.join(&self.profile)
    }

    /// The server's log so far (empty when it goes to the terminal).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a version 6 request (with the apiKey if configured); panics on an error reply.
    pub fn call(&self, action: &str, params: serde_json::Value) -> serde_json::Value {
        self.try_call(action, params).unwrap_or_else(|e| panic!("AnkiConnect action {action} failed: {e}"))
    }

    /// Sends a version 6 request; `Err` holds the `error` text of the reply.
    pub fn try_call(&self, action: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let mut body = serde_json::json!({"action": action, "version": 6, "params": params});
        if let Some(key) = &self.api_key {
            body["key"] = serde_json::Value::String(key.clone());
        }
        let reply = self.post_json(&body);
        let reply: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
            panic!("the backend answered {action} with non-JSON ({e}): {}", String::from_utf8_lossy(&reply.body))
        });
        match reply.get("error") {
            Some(serde_json::Value::Null) => Ok(reply.get("result").cloned().unwrap_or_default()),
            Some(serde_json::Value::String(e)) => Err(e.clone()),
            _ => panic!("the backend answered {action} without an envelope: {reply}"),
        }
    }

    /// POSTs a JSON body as is and returns the raw reply.
    pub fn post_json(&self, body: &serde_json::Value) -> RawResponse {
        let bytes = serde_json::to_vec(body).expect("serialize a JSON request");
        raw_request(self.port, "POST", Some("application/json"), &bytes)
            .unwrap_or_else(|e| panic!("cannot reach the test backend at {}: {e}\nits log:\n{}", self.url, self.log()))
    }

    /// Logs the open profile in to `sync`, as a user does in Preferences > Syncing.
    pub fn sync_login(&self, sync: &SyncServer) {
        self.call(
            "_testSyncLogin",
            serde_json::json!({"endpoint": sync.url(), "username": sync.user(), "password": sync.password()}),
        );
    }

    /// The full sync a user confirms in Anki's dialog: `upload` replaces the server's copy.
    pub fn full_sync(&self, upload: bool) {
        self.call("_testFullSync", serde_json::json!({ "upload": upload }));
    }

    /// Waits for the server to exit on its own (for `cargo xtask anki`).
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for the test backend")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Asks a child to stop (SIGTERM, so the collection is closed cleanly), then kills it.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads lines from the child's output until one matches; `Err` (with the lines seen) on timeout or end of output.
/// The remaining output is drained in the background so the child never blocks on a full pipe.
fn wait_for_line(
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    matches: fn(&str) -> bool,
) -> Result<String, Vec<String>> {
    let (tx, rx) = mpsc::channel::<String>();
    fn pump(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                // The receiver may be gone; keep draining anyway.
                let _ = tx.send(line);
            }
        });
    }
    pump(stdout, tx.clone());
    if let Some(stderr) = stderr {
        pump(stderr, tx.clone());
    }
    drop(tx);
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let plain = strip_ansi(&line);
                if matches(&plain) {
                    return Ok(plain);
                }
                seen.push(plain);
            }
            Err(_) => return Err(seen),
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Anki's own sync server (`python -m anki.syncserver`), standing in for AnkiWeb.
pub struct SyncServer {
    child: Child,
    url: String,
    _tmp: tempfile::TempDir,
}

impl SyncServer {
    const USER: &'static str = "tuser";
    const PASSWORD: &'static str = "tpass";

    /// Starts a sync server with one user on a free port and an empty store in a temp dir.
    pub fn start() -> SyncServer {
        let python = python();
        let tmp = tempfile::Builder::new()
            .prefix("ankiops-syncserver-")
            .tempdir()
            .expect("create a temp dir for the sync server");
        let mut child = Command::new(&python)
            .args(["-m", "anki.syncserver"])
            .env("SYNC_USER1", format!("{}:{}", Self::USER, Self::PASSWORD))
            .env("SYNC_BASE", tmp.path())
            .env("SYNC_HOST", "127.0.0.1")
            .env("SYNC_PORT", "0")
            .env("RUST_LOG", "anki=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the sync server with {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("sync server stdout is piped");
        let stderr = child.stderr.take().expect("sync server stderr is piped");
        let line = wait_for_line(stdout, Some(stderr), |l| l.contains("listening") && l.contains("127.0.0.1:"));
        let port = line.as_deref().ok().and_then(|l| {
            let rest = &l[l.find("127.0.0.1:")? + "127.0.0.1:".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u16>().ok()
        });
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let seen = line.err().unwrap_or_default().join("\n");
            panic!("the sync server (python -m anki.syncserver) did not report a port; its output:\n{seen}");
        };
        SyncServer { child, url: format!("http://127.0.0.1:{port}/"), _tmp: tmp }
    }

    /// The endpoint, with the trailing slash Anki expects.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn user(&self) -> &str {
        Self::USER
    }

    pub fn password(&self) -> &str {
        Self::PASSWORD
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

const DOWNLOAD_SNIPPET: &str = r#"
import json, os, sys
from anki.collection import Collection
endpoint, user, password, folder = sys.argv[1:5]
col = Collection(os.path.join(folder, "collection.anki2"))
auth = col.sync_login(user, password, endpoint)
col.close_for_full_sync()
col.full_upload_or_download(auth=auth, server_usn=None, upload=False)
col.reopen(after_full_sync=True)
notes = []
for nid in col.find_notes(""):
    note = col.get_note(nid)
    model = note.note_type()
    decks = sorted({col.decks.name(card.did) for card in note.cards()})
    notes.append({
        "noteId": note.id,
        "modelName": model["name"],
        "fields": {f["name"]: note.fields[f["ord"]] for f in model["flds"]},
        "tags": note.tags,
        "decks": decks,
    })
col.close()
print(json.dumps(notes))
"#;

/// A second, fresh device: a new collection downloads everything from `sync` (a full download)
/// and returns its notes as `{noteId, modelName, fields: {name: value}, tags, decks}`.
pub fn download_notes(sync: &SyncServer) -> Vec<serde_json::Value> {
    let tmp = tempfile::Builder::new()
        .prefix("ankiops-second-device-")
        .tempdir()
        .expect("create a temp dir for the second device");
    let out = Command::new(python())
        .arg("-c")
        .arg(DOWNLOAD_SNIPPET)
        .arg(sync.url())
        .arg(sync.user())
        .arg(sync.password())
        .arg(tmp.path())
        .output()
        .expect("run the second-device download with the venv's python");
    if !out.status.success() {
        panic!(
            "the second device could not download from the sync server ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the second device printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
