//! Crash safety (design.md §10): the binary is killed with SIGKILL right after Anki applied its N-th request,
//! for every N of a run; the next run must finish the work with no duplicate, no lost edit and no broken file.
//!
//! A proxy between the binary and the backend forwards each request, waits for Anki's reply, and for the
//! chosen request kills the process instead of passing the reply on.

use std::process::Child;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::support::{Env, Proxy, Stage, note_ids};

/// A proxy that, once Anki has answered request number `kill_at`, kills `child` instead of passing the reply on.
fn killing_proxy(backend_port: u16, kill_at: usize, child: Arc<Mutex<Option<Child>>>) -> Proxy {
    Proxy::start(backend_port, move |n, _body, stage| {
        if stage == Stage::Answered && n == kill_at {
            if let Some(child) = child.lock().unwrap().as_mut() {
                let _ = child.kill();
            }
            return false;
        }
        true
    })
}

const START: &str = "Q: kept
A: as is

---

Q: edited in Markdown
A: old

---

Q: edited in Anki
A: old

---

Q: deleted in Markdown
A: bye
";

/// Sets up a collection where a `sync` has everything to do: notes to add, to update both ways and to delete.
fn prepare(env: &Env) -> Vec<i64> {
    env.write("Deck.md", START);
    env.ankiops(&["ma"]).success();
    let text = env.read("Deck.md");
    let ids = note_ids(&text);
    env.set_field(ids[2], "Answer", "new from Anki");
    let mut blocks: Vec<&str> = text.split("\n---\n\n").collect();
    blocks.pop();
    let mut text = blocks
        .join("\n---\n\n")
        .replace("A: old\n\n---\n\n<!-- note_id", "A: new from Markdown\n\n---\n\n<!-- note_id");
    text.push_str("\n---\n\nQ: added one\nA: 1\n\n---\n\nT: added {{c1::two}}\n");
    env.write("Other.md", "Q: another file\nA: added too\n");
    env.write("Deck.md", &text);
    ids
}

fn check_outcome(env: &Env, ids: &[i64], kill_at: usize) {
    let notes = env.anki_notes();
    let questions: Vec<String> =
        notes.iter().map(|n| n.fields.get("Question").or(n.fields.get("Text")).cloned().unwrap_or_default()).collect();
    let mut sorted = questions.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["added one", "added {{c1::two}}", "another file", "edited in Anki", "edited in Markdown", "kept"],
        "after a kill at request {kill_at}: every note exactly once in Anki"
    );
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "new from Markdown", "kill at {kill_at}");
    assert_eq!(env.anki_note(ids[2]).fields["Answer"], "new from Anki", "kill at {kill_at}");
    let deck = env.read("Deck.md");
    assert!(deck.contains("A: new from Anki"), "kill at {kill_at}: the Anki edit reached the file:\n{deck}");
    assert!(deck.contains("A: new from Markdown"), "kill at {kill_at}:\n{deck}");
    let mut in_files = note_ids(&deck);
    in_files.extend(note_ids(&env.read("Other.md")));
    in_files.sort();
    assert_eq!(in_files, notes.iter().map(|n| n.id).collect::<Vec<_>>(), "kill at {kill_at}: files and Anki agree");
}

#[test]
fn killing_the_binary_after_any_request_loses_nothing_and_duplicates_nothing() {
    // How many requests does an uninterrupted run make?
    let env = Env::new();
    prepare(&env);
    let total = {
        let proxy = killing_proxy(env.backend.port(), usize::MAX, Arc::new(Mutex::new(None)));
        let mut cmd = env.command_at(&["sync", "--yes"], &proxy.url);
        let status = cmd.output().expect("run ankiops").status;
        assert!(status.success());
        proxy.count.load(Ordering::SeqCst)
    };
    assert!(total >= 8, "a sync with work to do makes several requests, saw {total}");

    let mut interrupted = 0;
    for kill_at in 1..=total {
        let env = Env::new();
        let ids = prepare(&env);
        let slot = Arc::new(Mutex::new(None));
        let proxy = killing_proxy(env.backend.port(), kill_at, slot.clone());
        let mut cmd = env.command_at(&["sync", "--yes"], &proxy.url);
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        *slot.lock().unwrap() = Some(cmd.spawn().expect("run ankiops"));
        loop {
            let done = slot.lock().unwrap().as_mut().and_then(|c| c.try_wait().expect("wait"));
            if done.is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let deck = env.read("Deck.md");
        if env.anki_notes().len() != 6 || !deck.contains("A: new from Anki") || note_ids(&deck).len() != 5 {
            interrupted += 1;
        }
        // Whatever state the kill left, the next run completes the work.
        let run = env.ankiops(&["sync", "--yes"]);
        assert!(run.code == 0, "kill at {kill_at}: the next run failed:\n{}", run.snapshot());
        check_outcome(&env, &ids, kill_at);
        let again = env.ankiops(&["sync", "--yes"]).success();
        assert!(
            again.stderr.contains("0 created, 0 updated, 0 moved, 0 deleted; Markdown: 0 created, 0 updated"),
            "kill at {kill_at}: a third run has nothing to do:\n{}",
            again.stderr
        );
    }
    assert!(interrupted * 2 >= total, "most kills must hit a run with work left ({interrupted} of {total})");
}
