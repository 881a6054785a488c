//! What users of other tools complain about (shared/reference/landscape.md §C), each as a test of ankiops.

use serde_json::json;

use crate::support::{Env, note_ids};

/// C1.9, C2.13: editing a note (a cloze here) updates it in place; it is never deleted and re-created.
#[test]
fn editing_a_cloze_keeps_the_note_and_its_cards() {
    let env = Env::new();
    env.write("Bio.md", "T: {{c1::Mitochondria}} make {{c2::ATP}}.\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    let cards = env.backend.call("findCards", json!({"query": format!("nid:{id}")}));
    env.write("Bio.md", &env.read("Bio.md").replace("make", "produce"));
    env.ankiops(&["ma"]).success();
    let notes = env.anki_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].id, id);
    assert_eq!(notes[0].fields["Text"], "{{c1::Mitochondria}} produce {{c2::ATP}}.");
    assert_eq!(
        env.backend.call("findCards", json!({"query": format!("nid:{id}")})),
        cards,
        "the same cards, history kept"
    );
}

/// C2.12, C2.14, C2.15: two notes with the same generic question are both added.
#[test]
fn notes_with_the_same_first_field_are_both_added() {
    let env = Env::new();
    env.write("Code.md", "Q: output?\nA: 1\n\n---\n\nQ: output?\nA: 2\n");
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_notes().len(), 2);
}

/// C4.27: cloze syntax in a note type without clozes is an error naming the file and line, before Anki sees it.
#[test]
fn cloze_syntax_in_a_basic_note_is_reported_with_its_line() {
    let env = Env::new();
    env.write("Bio.md", "Q: fine\nA: yes\n\n---\n\nQ: What is {{c1::this}}?\nA: a mistake\n");
    let run = env.ankiops(&["ma"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr.contains("error: Bio.md:6:12: note type AnkiOpsQA must not contain cloze syntax"),
        "{}",
        run.stderr
    );
    assert!(env.anki_notes().is_empty(), "nothing of a broken file reaches Anki");
}

/// C4.23-26: math keeps its underscores and reaches Anki as MathJax, also inside a cloze, and comes back intact.
#[test]
fn math_survives_both_ways() {
    let env = Env::new();
    env.write(
        "Math.md",
        "Q: Sum $a_1 + a_2$?\nA: $$\\sum_{i=1}^{n} a_i$$\n\n---\n\nT: {{c1::$x_1$}} is the first root\n",
    );
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("Math.md"));
    let qa = env.anki_note(ids[0]);
    assert_eq!(qa.fields["Question"], "Sum \\(a_1 + a_2\\)?");
    assert!(qa.fields["Answer"].contains("\\[\\sum_{i=1}^{n} a_i\\]"), "{}", qa.fields["Answer"]);
    assert!(!qa.fields["Answer"].contains("<em>"));
    assert_eq!(env.anki_note(ids[1]).fields["Text"], "{{c1::\\(x_1\\)}} is the first root");
    // An edit elsewhere in Anki brings the note back without touching the math.
    env.set_field(ids[0], "Extra", "from the phone");
    env.ankiops(&["am"]).success();
    let text = env.read("Math.md");
    assert!(text.contains("A: $$\\sum_{i=1}^{n} a_i$$"), "{text}");
    assert!(text.contains("E: from the phone"), "{text}");
}

/// C4.28: code is highlighted when converted, so it needs no JavaScript on any Anki client.
#[test]
fn code_is_highlighted_without_javascript() {
    let env = Env::new();
    env.write("Code.md", "Q: Hello?\nA: ```rust\nfn main() { println!(\"hi\"); }\n```\n");
    env.ankiops(&["ma"]).success();
    let answer = &env.anki_notes()[0].fields["Answer"];
    assert!(answer.contains("class=\"language-rust\""), "{answer}");
    assert!(answer.contains("hl-kw"), "keywords are marked up: {answer}");
    assert!(!answer.contains("<script"), "{answer}");
}

/// C3.19: a note deleted in Anki disappears from the Markdown, and Git keeps it: rollback brings it back.
#[test]
fn an_accidental_deletion_in_anki_can_be_rolled_back() {
    let env = Env::new();
    env.write("Bio.md", "Q: keep me\nA: please\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    let before_deletion = env.ankiops(&["log", "--json"]).success().json()[0]["id"].as_str().unwrap().to_string();
    env.backend.call("deleteNotes", json!({"notes": [id]}));
    let run = env.ankiops(&["sync"]).success();
    assert!(run.stderr.contains("ankiops rollback"), "the summary says how to undo it:\n{}", run.stderr);
    assert!(!env.path("Bio.md").exists());
    env.ankiops(&["rollback", &before_deletion]).success();
    let notes = env.anki_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].fields["Question"], "keep me");
}

/// C7.42-43: an apiKey set in AnkiConnect is sent when given, and its absence is explained.
#[test]
fn an_api_key_is_sent_and_a_missing_one_explained() {
    let backend = ankiops_testkit::Backend::builder().api_key("s3cret").start();
    let env = Env { backend, dir: tempfile::tempdir().unwrap() };
    let run = env.ankiops(&["init"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--api-key") || run.stderr.contains("ANKICONNECT_API_KEY"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"));
    let mut cmd = env.command(&["init"]);
    cmd.env("ANKICONNECT_API_KEY", "s3cret");
    assert!(cmd.status().unwrap().success());
    env.write("Bio.md", "Q: q\nA: a\n");
    let mut cmd = env.command(&["ma", "--api-key", "s3cret"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"), "the key is never printed");
}
