//! One run at a time per collection (docs/cli.md, "One run at a time"), and `init` that completes or leaves
//! the folder as it was.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Env, Proxy, Stage, note_ids};

/// A proxy that holds every request until `release` is set, and sets `reached` when the first one arrives.
fn holding_proxy(env: &Env) -> (Proxy, Arc<AtomicBool>, Arc<AtomicBool>) {
    let reached = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (r, l) = (reached.clone(), release.clone());
    let proxy = Proxy::start(env.backend.port(), move |_, _, stage| {
        if stage == Stage::Received {
            r.store(true, Ordering::SeqCst);
            while !l.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
        }
        true
    });
    (proxy, reached, release)
}

fn spawn(env: &Env, args: &[&str], url: &str) -> Child {
    env.command_at(args, url).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run ankiops")
}

fn wait_until(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const HELD: &str = "another ankiops run is using this collection";

#[test]
fn of_two_runs_started_together_one_runs_and_the_other_names_it() {
    let env = Env::new();
    env.write("Deck.md", "Q: one\nA: 1\n");
    let (proxy, reached, release) = holding_proxy(&env);
    let mut runs = [spawn(&env, &["ma"], &proxy.url), spawn(&env, &["ma"], &proxy.url)];
    // The run that took the lock is held in its first request; the other cannot take it and gives up.
    let loser = loop {
        if let Some(i) = (0..2).find(|&i| runs[i].try_wait().expect("wait").is_some()) {
            break i;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(reached.load(Ordering::SeqCst), "the run holding the lock reached Anki");
    let winner_pid = runs[1 - loser].id();
    let [a, b] = runs;
    let (lost, won) = if loser == 0 { (a, b) } else { (b, a) };
    let lost = lost.wait_with_output().expect("output");
    let message = stderr(&lost);
    assert_eq!(lost.status.code(), Some(2), "{message}");
    assert!(message.contains(HELD), "{message}");
    assert!(message.contains(&format!("pid {winner_pid} (`ankiops ma`, started ")), "{message}");
    assert!(message.contains("waited 5 s and changed nothing"), "{message}");
    assert!(message.contains(&format!("hint: if it seems stuck, stop it (`kill {winner_pid}`)")), "{message}");
    release.store(true, Ordering::SeqCst);
    let won = won.wait_with_output().expect("output");
    assert_eq!(won.status.code(), Some(0), "{}", stderr(&won));
    assert_eq!(env.anki_notes().len(), 1);
    assert_eq!(note_ids(&env.read("Deck.md")).len(), 1);
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let env = Env::new();
    env.write("Deck.md", "Q: one\nA: 1\n");
    let (proxy, reached, release) = holding_proxy(&env);
    let mut child = spawn(&env, &["ma"], &proxy.url);
    wait_until(&reached);
    let record: Value = serde_json::from_str(&fs_err::read_to_string(env.path(".ankiops/lock")).unwrap()).unwrap();
    assert_eq!(record["pid"], child.id(), "the lock file names its holder");
    assert_eq!(record["command"], "ma");
    let pid = child.id();
    child.kill().expect("SIGKILL the run");
    child.wait().expect("reap it");
    release.store(true, Ordering::SeqCst);

    let run = env.ankiops(&["ma"]).success();
    assert!(
        run.stderr.contains(&format!("note: the earlier run pid {pid} (`ankiops ma`, started ")),
        "{}",
        run.snapshot()
    );
    assert!(run.stderr.contains("ended without finishing (it was killed or crashed)"), "{}", run.snapshot());
    assert_eq!(env.anki_notes().len(), 1);
    assert_eq!(fs_err::read_to_string(env.path(".ankiops/lock")).unwrap(), "", "released cleanly this time");
    let again = env.ankiops(&["status"]).success();
    assert!(!again.stderr.contains("note: the earlier run"), "{}", again.snapshot());
}

#[test]
fn two_runs_on_one_new_deck_of_200_notes_create_each_note_once() {
    let env = Env::new();
    let text: Vec<String> = (1..=200).map(|i| format!("Q: question {i}\nA: answer {i}\n")).collect();
    env.write("Big.md", &text.join("\n---\n\n"));
    let runs = [spawn(&env, &["ma"], env.backend.url()), spawn(&env, &["ma"], env.backend.url())];
    let mut succeeded = 0;
    for run in runs {
        let output = run.wait_with_output().expect("output");
        match output.status.code() {
            Some(0) => succeeded += 1,
            // The second run gave up waiting: it changed nothing and said so.
            Some(2) => assert!(stderr(&output).contains(HELD), "{}", stderr(&output)),
            code => panic!("exit {code:?}:\n{}", stderr(&output)),
        }
    }
    assert!(succeeded >= 1, "one of the runs did the work");
    let in_anki: BTreeSet<i64> = env.anki_notes().iter().map(|n| n.id).collect();
    assert_eq!(in_anki.len(), 200, "every note once in Anki");
    let deck = env.read("Big.md");
    let ids = note_ids(&deck);
    assert_eq!(ids.len(), 200, "each note got one id line");
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), in_anki, "the file names exactly Anki's notes");
    assert_eq!(deck.matches("<!-- deck_id:").count(), 1, "{}", &deck[..200]);
}

/// Every path under `root`, hidden ones included, relative to it.
fn entries(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs_err::read_dir(root.join(rel)).unwrap() {
            let entry = entry.unwrap();
            let child = rel.join(entry.file_name());
            out.push(child.clone());
            if entry.file_type().unwrap().is_dir() {
                walk(root, &child, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out.sort();
    out
}

/// An AnkiConnect address nothing listens on.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn init_with_anki_unreachable_leaves_the_folder_as_it_was() {
    let env = Env::bare();
    env.write("Mine.md", "Q: mine\nA: kept\n");
    fs_err::write(env.path(".hidden"), "x").unwrap();
    fs_err::create_dir(env.path("sub")).unwrap();
    let before = entries(env.root());
    let run = env.run_at(&["init"], &closed_url());
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("nothing was created"), "{}", run.snapshot());
    assert!(run.stderr.contains("hint: start Anki"), "{}", run.snapshot());
    assert_eq!(entries(env.root()), before);

    // A folder init would have to make is not made either.
    let missing = env.path("sub/new/collection");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ankiops"))
        .args(["init", "--dir"])
        .arg(&missing)
        .args(["--url", &closed_url()])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(entries(env.root()), before);
}

#[test]
fn init_that_fails_part_way_removes_what_it_created() {
    let env = Env::bare();
    env.write("Mine.md", "Q: mine\nA: kept\n");
    // `media` is a file, so the tutorial's image cannot be written: init fails after it created files.
    fs_err::write(env.path("media"), "not a folder").unwrap();
    let before = entries(env.root());
    let run = env.ankiops(&["init", "--tutorial"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("init undid what it had created, the folder is as it was"), "{}", run.snapshot());
    assert_eq!(entries(env.root()), before);
    assert_eq!(env.read("media"), "not a folder");

    fs_err::remove_file(env.path("media")).unwrap();
    env.ankiops(&["init", "--tutorial"]).success();
    for made in [".git", ".gitignore", "ankiops.json", ".ankiops/lock", "ankiops Tutorial.md", "media"] {
        assert!(env.path(made).exists(), "{made}");
    }
    let repo = git2::Repository::open(env.root()).unwrap();
    assert!(repo.is_path_ignored(".ankiops/lock").unwrap(), "the lock is never committed");
}

#[test]
fn init_does_not_change_the_recorded_profile_without_force() {
    let env = Env::new();
    let other = env.backend.dir().join("Other");
    fs_err::create_dir_all(&other).unwrap();
    fs_err::write(other.join("collection.anki2"), "").unwrap();
    let profile =
        |env: &Env| -> Value { serde_json::from_str::<Value>(&env.read("ankiops.json")).unwrap()["profile"].clone() };
    assert_eq!(profile(&env), "User 1");

    let run = env.ankiops(&["init", "--profile", "Other"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("this collection belongs to the Anki profile 'User 1'; init did not change it to 'Other'"),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stderr.contains("hint: to record 'Other', run `ankiops init --profile 'Other' --force`"),
        "{}",
        run.snapshot()
    );
    assert_eq!(profile(&env), "User 1");

    let run = env.ankiops(&["init", "--profile", "Nope", "--force"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("Anki has no profile 'Nope' (its profiles: 'Other', 'User 1')"), "{}", run.snapshot());
    assert_eq!(profile(&env), "User 1");

    env.ankiops(&["init", "--profile", "User 1"]).success();
    assert_eq!(profile(&env), "User 1");
    let run = env.ankiops(&["init", "--profile", "Other", "--force"]).success();
    assert!(run.stderr.contains("changed the recorded Anki profile from 'User 1' to 'Other'"), "{}", run.snapshot());
    assert_eq!(profile(&env), "Other");
}
