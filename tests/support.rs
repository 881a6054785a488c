//! Shared helpers of the end-to-end tests: a collection folder next to a fresh test backend, and a way to
//! run the real `ankiops` binary on it hermetically (no user Git config, no terminal).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ankiops_testkit::Backend;
use serde_json::{Value, json};

/// What a run of the binary printed, and how it ended.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// Normalised output in the jj style: stdout, stderr, exit status.
    pub fn snapshot(&self) -> String {
        format!("{}------- stderr -------\n{}[exit status: {}]", self.stdout, self.stderr, self.code)
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "the run failed:\n{}", self.snapshot());
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.snapshot()))
    }
}

/// A collection folder (with `ankiops init` done) and its own backend.
pub struct Env {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let env = Env::bare();
        env.ankiops(&["init"]).success();
        env
    }

    /// A folder and a backend, nothing initialised.
    pub fn bare() -> Env {
        Env { backend: Backend::start(), dir: tempfile::tempdir().expect("make a temp dir") }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_at(args, self.backend.url())
    }

    /// A command that reaches Anki at `url` (a proxy in front of the backend, say).
    pub fn command_at(&self, args: &[&str], url: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ankiops"));
        cmd.args(args)
            .arg("--dir")
            .arg(self.root())
            .arg("--url")
            .arg(url)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("ANKICONNECT_API_KEY")
            .env_remove("ANKICONNECT_URL")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    pub fn ankiops(&self, args: &[&str]) -> Run {
        self.run_at(args, self.backend.url())
    }

    /// Runs the binary against AnkiConnect at `url` (a [`Proxy`], say).
    pub fn run_at(&self, args: &[&str], url: &str) -> Run {
        let output: Output = self.command_at(args, url).output().expect("run the ankiops binary");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }

    pub fn write(&self, name: &str, text: &str) {
        fs_err::write(self.path(name), text).expect("write a deck file");
    }

    pub fn read(&self, name: &str) -> String {
        fs_err::read_to_string(self.path(name)).expect("read a deck file")
    }

    /// Every note of the managed types in Anki, by id: (deck, note type, fields, tags).
    pub fn anki_notes(&self) -> Vec<AnkiNote> {
        let ids = self.backend.call("findNotes", json!({"query": "note:AnkiOps*"}));
        let infos = self.backend.call("notesInfo", json!({"notes": ids}));
        let mut notes = Vec::new();
        for info in infos.as_array().expect("notesInfo is a list") {
            let cards = info["cards"].clone();
            let decks = self.backend.call("getDecks", json!({"cards": cards}));
            let deck = decks.as_object().and_then(|d| d.keys().next().cloned()).unwrap_or_default();
            let fields = info["fields"]
                .as_object()
                .expect("fields")
                .iter()
                .map(|(k, v)| (k.clone(), v["value"].as_str().unwrap_or_default().to_string()))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let mut tags: Vec<String> =
                info["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
            tags.sort();
            notes.push(AnkiNote {
                id: info["noteId"].as_i64().expect("noteId"),
                deck,
                note_type: info["modelName"].as_str().unwrap_or_default().to_string(),
                fields,
                tags,
            });
        }
        notes.sort_by_key(|n| n.id);
        notes
    }

    pub fn anki_note(&self, id: i64) -> AnkiNote {
        self.anki_notes().into_iter().find(|n| n.id == id).unwrap_or_else(|| panic!("note {id} is not in Anki"))
    }

    pub fn set_field(&self, id: i64, field: &str, html: &str) {
        self.backend.call("updateNoteFields", json!({"note": {"id": id, "fields": {field: html}}}));
    }

    /// Commits on HEAD, newest first (subject lines).
    pub fn git_log(&self) -> Vec<String> {
        let repo = git2::Repository::open(self.root()).expect("open the collection's repository");
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_head().expect("HEAD");
        walk.map(|oid| {
            repo.find_commit(oid.unwrap())
                .unwrap()
                .summary_bytes()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default()
        })
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnkiNote {
    pub id: i64,
    pub deck: String,
    pub note_type: String,
    pub fields: std::collections::BTreeMap<String, String>,
    pub tags: Vec<String>,
}

/// The note ids written into a deck file, in order.
pub fn note_ids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- note_id:"))
        .filter_map(|l| l.trim_end_matches("-->").trim().parse().ok())
        .collect()
}

/// When a [`Proxy`] hook is called for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the request goes to Anki.
    Received,
    /// Anki has applied it and answered; the hook's `false` drops the answer.
    Answered,
}

/// A loopback proxy in front of the backend that counts requests and lets a test act between them: edit a note
/// in Anki while a run is underway, or kill the run right after Anki applied a request.
pub struct Proxy {
    pub url: String,
    pub count: Arc<AtomicUsize>,
}

/// What a [`Proxy::start_with`] hook does with a request at a [`Stage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the request (at `Received`) or the answer (at `Answered`).
    Pass,
    /// Close the connection without a word: at `Received` Anki never sees the request (as if it had closed),
    /// at `Answered` it applied the request and the answer is lost.
    Drop,
    /// Send these bytes instead (an HTML error page, say): at `Answered`, after Anki applied the request.
    Reply(Vec<u8>),
}

impl Proxy {
    /// `hook(n, body, stage)`: `n` counts requests from 1; returning `false` at [`Stage::Answered`] withholds
    /// Anki's answer from the client.
    pub fn start(backend_port: u16, mut hook: impl FnMut(usize, &str, Stage) -> bool + Send + 'static) -> Proxy {
        Proxy::start_with(backend_port, move |n, body, stage| {
            let pass = hook(n, body, stage);
            if pass || stage == Stage::Received { Verdict::Pass } else { Verdict::Drop }
        })
    }

    /// Like [`Proxy::start`], with the hook deciding what becomes of each request and answer.
    pub fn start_with(
        backend_port: u16,
        mut hook: impl FnMut(usize, &str, Stage) -> Verdict + Send + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("proxy address").port());
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut client) = stream else { continue };
                let Some(request) = read_request(&mut client) else { continue };
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let body = String::from_utf8_lossy(&request).into_owned();
                match hook(n, &body, Stage::Received) {
                    Verdict::Pass => {}
                    Verdict::Drop => continue,
                    Verdict::Reply(bytes) => {
                        let _ = client.write_all(&bytes);
                        continue;
                    }
                }
                let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", backend_port)) else { continue };
                if upstream.write_all(&request).is_err() {
                    continue;
                }
                let mut reply = Vec::new();
                let _ = upstream.read_to_end(&mut reply);
                match hook(n, &body, Stage::Answered) {
                    Verdict::Pass => {
                        let _ = client.write_all(&reply);
                    }
                    Verdict::Drop => {}
                    Verdict::Reply(bytes) => {
                        let _ = client.write_all(&bytes);
                    }
                }
            }
        });
        Proxy { url, count }
    }
}

/// One HTTP request, headers and `Content-Length` body.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
