//! Crash recovery and faults whose outcome is unknown (docs/sync.md, "Guarantees"): a run killed after Anki
//! added notes, an answer lost or garbled after Anki applied a batch, a batch answered after ankiops gave up
//! waiting, Anki gone part-way. Whatever the user edits before the next run, on either side, no note is added
//! twice and no edit is lost.

use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::support::{Env, Proxy, Stage, Verdict, note_ids};

const DECK: &str = "Q: one\nA: 1\n\n---\n\nQ: two\nA: 2 with a tpyo\n\n---\n\nQ: three\nA: 3\n";

fn adds_notes(body: &str) -> bool {
    body.contains("\"addNote\"")
}

/// The questions of every note Anki holds, sorted, with their answers.
fn anki_cards(env: &Env) -> Vec<(String, String)> {
    let mut cards: Vec<(String, String)> = env
        .anki_notes()
        .into_iter()
        .map(|n| {
            (n.fields.get("Question").cloned().unwrap_or_default(), n.fields.get("Answer").cloned().unwrap_or_default())
        })
        .collect();
    cards.sort();
    cards
}

fn run_until_exit(slot: &Arc<Mutex<Option<Child>>>) {
    loop {
        let done = slot.lock().unwrap().as_mut().and_then(|c| c.try_wait().expect("wait"));
        if done.is_some() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_after_anki_added_notes_then_edited_on_both_sides_adds_nothing_twice() {
    let env = Env::new();
    env.write("Deck.md", DECK);
    let slot: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
    let killer = slot.clone();
    // Killed once Anki has answered the batch of new notes, before ankiops writes their ids anywhere else.
    let added = Arc::new(Mutex::new(false));
    let proxy = Proxy::start(env.backend.port(), move |_, body, stage| {
        let mut added = added.lock().unwrap();
        if *added && stage == Stage::Received {
            if let Some(child) = killer.lock().unwrap().as_mut() {
                let _ = child.kill();
            }
            return false;
        }
        if stage == Stage::Answered && adds_notes(body) {
            *added = true;
        }
        true
    });
    let mut cmd = env.command_at(&["ma"], &proxy.url);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    *slot.lock().unwrap() = Some(cmd.spawn().expect("run ankiops"));
    run_until_exit(&slot);
    assert_eq!(env.anki_notes().len(), 3, "Anki added the batch before the kill");
    assert!(note_ids(&env.read("Deck.md")).is_empty(), "killed before the ids reached the file");

    // Before the next run: a typo fixed in the Markdown, an answer edited in Anki.
    env.write("Deck.md", &DECK.replace("tpyo", "typo"));
    let three = env.anki_notes().into_iter().find(|n| n.fields["Question"] == "three").expect("three").id;
    env.set_field(three, "Answer", "3 from Anki");

    let run = env.ankiops(&["sync", "--yes"]).success();
    assert!(run.stderr.contains("an interrupted run had added to Anki"), "{}", run.snapshot());
    assert_eq!(
        anki_cards(&env),
        [("one".into(), "1".into()), ("three".into(), "3 from Anki".into()), ("two".into(), "2 with a typo".into())],
        "every note once, both edits kept:\n{}",
        run.snapshot()
    );
    let deck = env.read("Deck.md");
    assert!(deck.contains("A: 3 from Anki"), "{deck}");
    let mut in_file = note_ids(&deck);
    in_file.sort();
    let mut in_anki: Vec<i64> = env.anki_notes().iter().map(|n| n.id).collect();
    in_anki.sort();
    assert_eq!(in_file, in_anki, "the file names each Anki note:\n{deck}");
    assert!(!env.path(".ankiops/journal").exists(), "a finished run leaves no journal");
}

/// A batch of new notes whose answer never arrives (`verdict` at `Answered`), then a typo fixed before the
/// rerun: Anki ends up with each note once, the fix included.
fn lost_answer_then_edit(verdict: Verdict, extra: &[&str]) -> (String, String) {
    let env = Env::new();
    env.write("Deck.md", DECK);
    let proxy = Proxy::start_with(env.backend.port(), move |_, body, stage| {
        if stage == Stage::Answered && adds_notes(body) {
            if let Verdict::Reply(_) = &verdict {
                return verdict.clone();
            }
            // Slower than the run's patience, then lost.
            thread::sleep(Duration::from_millis(1500));
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    let mut args = vec!["ma"];
    args.extend_from_slice(extra);
    let first = env.run_at(&args, &proxy.url);
    assert_eq!(first.code, 1, "{}", first.snapshot());
    assert_eq!(env.anki_notes().len(), 3, "the batch landed");
    assert!(env.path(".ankiops/journal").exists(), "what was sent is kept");

    env.write("Deck.md", &DECK.replace("tpyo", "typo"));
    let second = env.ankiops(&["ma"]).success();
    assert_eq!(
        anki_cards(&env),
        [("one".into(), "1".into()), ("three".into(), "3".into()), ("two".into(), "2 with a typo".into())],
        "each note once, with the fix:\n{}\n{}",
        first.snapshot(),
        second.snapshot()
    );
    assert_eq!(note_ids(&env.read("Deck.md")).len(), 3);
    assert!(!env.path(".ankiops/journal").exists());
    (first.stderr, second.stderr)
}

#[test]
fn a_batch_answered_after_the_timeout_is_not_added_again_by_a_retry() {
    let (first, _) = lost_answer_then_edit(Verdict::Drop, &["--timeout", "1"]);
    assert!(first.contains("did not answer") && first.contains("--timeout"), "{first}");
    assert!(first.contains("let Anki finish"), "{first}");
}

#[test]
fn a_garbled_answer_to_added_notes_is_an_unknown_outcome_not_a_wrong_url() {
    let page = "<html><body><h1>500 Internal Server Error</h1></body></html>";
    let reply = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let (first, _) = lost_answer_then_edit(Verdict::Reply(reply.into_bytes()), &[]);
    assert!(first.contains("may or may not have added it"), "{first}");
    assert!(!first.contains("check the URL") && !first.contains("is not AnkiConnect"), "{first}");
}

#[test]
fn the_timeout_is_a_setting() {
    let env = Env::new();
    env.write("Deck.md", DECK);
    let settings = env.read("ankiops.json").replacen('{', "{\n  \"timeout\": 1,", 1);
    env.write("ankiops.json", &settings);
    let proxy = Proxy::start_with(env.backend.port(), move |_, body, stage| {
        if stage == Stage::Answered && adds_notes(body) {
            thread::sleep(Duration::from_millis(1500));
        }
        Verdict::Pass
    });
    let run = env.run_at(&["ma"], &proxy.url);
    assert!(run.stderr.contains("within 1s"), "{}", run.snapshot());
}

#[test]
fn anki_gone_part_way_the_run_says_what_it_did_and_the_next_run_completes_it() {
    let env = Env::new();
    env.write("Deck.md", "Q: kept\nA: old\n");
    env.ankiops(&["ma"]).success();
    let text = env.read("Deck.md").replace("A: old", "A: new");
    env.write("Deck.md", &format!("{text}\n---\n\nQ: added\nA: 1\n"));
    // Once the new note is added, Anki is gone: nothing after reaches it.
    let gone = Arc::new(Mutex::new(false));
    let flag = gone.clone();
    let proxy = Proxy::start_with(env.backend.port(), move |_, body, stage| {
        let mut gone = flag.lock().unwrap();
        if *gone {
            return Verdict::Drop;
        }
        if stage == Stage::Answered && adds_notes(body) {
            *gone = true;
        }
        Verdict::Pass
    });
    let run = env.run_at(&["ma"], &proxy.url);
    assert_eq!(run.code, 1, "some changes were applied:\n{}", run.snapshot());
    assert!(run.stderr.contains("stopped part-way"), "{}", run.snapshot());
    assert!(run.stderr.contains("1 note added"), "{}", run.snapshot());
    assert!(run.stderr.contains("Run `ankiops ma` again"), "{}", run.snapshot());
    let deck = env.read("Deck.md");
    assert_eq!(note_ids(&deck).len(), 2, "the added note's id is in the file:\n{deck}");

    let again = env.ankiops(&["ma"]).success();
    assert_eq!(anki_cards(&env), [("added".into(), "1".into()), ("kept".into(), "new".into())], "{}", again.snapshot());
}
