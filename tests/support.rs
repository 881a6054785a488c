//! Shared helpers of the end-to-end tests: a collection folder next to a fresh test backend, and a way to
//! run the real `ankiops` binary on it hermetically (no user Git config, no terminal).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
        let output: Output = self.command(args).output().expect("run the ankiops binary");
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
