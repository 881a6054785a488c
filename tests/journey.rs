//! The rest of the user journey, end to end: AnkiWeb sync through Anki's own sync server, doctor, log and
//! rollback, init run twice, and every note type both ways.

use ankiops_testkit::{SyncServer, download_notes};
use serde_json::json;

use crate::support::{Env, note_ids};

#[test]
fn ma_with_web_reaches_a_second_device() {
    let env = Env::new();
    let sync = SyncServer::start();
    env.backend.sync_login(&sync);
    // Our note types are made on the first push; that schema change needs the one full upload a user
    // confirms in Anki, after which syncs are normal.
    env.write("Bio.md", "Q: first\nA: one\n");
    env.ankiops(&["ma"]).success();
    env.backend.full_sync(true);

    env.write("Bio.md", &format!("{}\n---\n\nQ: second\nA: two **bold**\n", env.read("Bio.md")));
    let run = env.ankiops(&["ma", "--web"]).success();
    assert!(run.stderr.contains("AnkiWeb: synced"), "{}", run.stderr);
    let ids = note_ids(&env.read("Bio.md"));
    let phone = download_notes(&sync);
    let second = phone.iter().find(|n| n["noteId"] == json!(ids[1])).expect("the new note reached the second device");
    assert_eq!(second["fields"]["Answer"], "two <b>bold</b>");
    assert_eq!(second["decks"], json!(["Bio"]));
}

#[test]
fn web_explains_a_missing_login_and_a_full_sync() {
    let env = Env::new();
    let run = env.ankiops(&["web"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not logged in to AnkiWeb"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: in Anki, click Sync once and log in"), "{}", run.stderr);

    let sync = SyncServer::start();
    env.backend.sync_login(&sync);
    write_vocab_type(&env, "");
    env.write("Words.md", "W: Haus\nMEANING: house\n");
    env.ankiops(&["ma"]).success();
    env.backend.full_sync(true);
    // A field added to a note type is a schema change: AnkiWeb then needs a full sync, which ankiops never forces.
    write_vocab_type(&env, r#", {"name": "Example", "prefix": "EX:", "required": false}"#);
    env.write("Words.md", &env.read("Words.md").replace("house", "the house"));
    let run = env.ankiops(&["ma", "--web"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("AnkiWeb needs a full sync"), "{}", run.stderr);
    assert!(run.stderr.contains("choose Upload"), "{}", run.stderr);
    let fields = env.backend.call("modelFieldNames", json!({"modelName": "Vocab"}));
    assert_eq!(fields, json!(["Word", "Meaning", "Example"]), "the push itself happened");
}

/// A custom note type `Vocab` (`W:` and `MEANING:`), with `extra_fields` appended to its field list.
fn write_vocab_type(env: &Env, extra_fields: &str) {
    let dir = env.path("note_types/Vocab");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("note_type.json"),
        format!(
            r#"{{"fields": [{{"name": "Word", "prefix": "W:", "required": true}}, {{"name": "Meaning", "prefix": "MEANING:", "required": true}}{extra_fields}],
                "templates": [{{"name": "Card 1", "front": "front.html", "back": "back.html"}}], "css": "style.css"}}"#
        ),
    )
    .unwrap();
    if !dir.join("front.html").exists() {
        std::fs::write(dir.join("front.html"), "<div class=word>{{Word}}</div>").unwrap();
    }
    std::fs::write(dir.join("back.html"), "{{FrontSide}}<hr id=answer>{{Meaning}}").unwrap();
    std::fs::write(dir.join("style.css"), ".word { font-size: 2em; }").unwrap();
}

#[test]
fn doctor_says_what_is_wrong_and_how_to_fix_it() {
    let env = Env::new();
    let run = env.ankiops(&["doctor"]).success();
    assert!(run.stderr.contains("ok   AnkiConnect: reachable at http://127.0.0.1:"), "{}", run.stderr);
    assert!(run.stderr.contains("ok   profile: 'User 1' is open, as recorded"), "{}", run.stderr);
    env.write("ankiops.json", "{\"profile\": \"Phone\"}\n");
    let run = env.ankiops(&["doctor"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("FAIL profile: this collection belongs to 'Phone' but Anki has 'User 1' open"),
        "{}",
        run.stderr
    );

    let run = env.ankiops(&["doctor", "--web"]);
    assert!(
        run.stderr.contains("FAIL AnkiWeb: AnkiWeb sync failed: Anki is not logged in to AnkiWeb"),
        "{}",
        run.stderr
    );

    let mut unreachable = env.command(&["doctor"]);
    unreachable.args(["--url", "http://127.0.0.1:9"]);
    let out = env.command_at(&["doctor"], "http://127.0.0.1:9").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAIL AnkiConnect: cannot reach AnkiConnect at http://127.0.0.1:9"), "{stderr}");
    assert!(stderr.contains("2055492159"), "{stderr}");
}

#[test]
fn log_lists_runs_and_rollback_restores_an_earlier_one() {
    let env = Env::new();
    env.write("Bio.md", "Q: q\nA: first version\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    env.write("Bio.md", &env.read("Bio.md").replace("first version", "second version"));
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_note(id).fields["Answer"], "second version");

    let log = env.ankiops(&["log", "--json"]).success().json();
    let runs = log.as_array().unwrap();
    let messages: Vec<&str> = runs.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert!(messages[0].starts_with("ankiops: ma — 0 created, 1 updated"), "{messages:?}");
    let first = runs.iter().find(|r| r["message"].as_str().unwrap().starts_with("ankiops: ma — 1 created")).unwrap();
    let rev = first["id"].as_str().unwrap();

    let dry = env.ankiops(&["rollback", rev, "--dry-run"]).success();
    assert!(dry.stderr.contains("-second version") && dry.stderr.contains("+first version"), "{}", dry.stderr);
    assert!(env.read("Bio.md").contains("second version"), "a dry run puts the files back");
    assert_eq!(env.anki_note(id).fields["Answer"], "second version");

    env.ankiops(&["rollback", rev]).success();
    assert!(env.read("Bio.md").contains("first version"));
    assert_eq!(env.anki_note(id).fields["Answer"], "first version");
    let log = env.git_log();
    assert!(log[0].starts_with("ankiops: rollback — 0 created, 1 updated"), "{log:?}");
    assert_eq!(log[1], format!("ankiops: restore the Markdown of {rev}"), "{log:?}");
}

#[test]
fn init_twice_keeps_the_users_edits() {
    let env = Env::bare();
    env.ankiops(&["init", "--tutorial"]).success();
    let settings = env.read("ankiops.json");
    assert!(settings.contains("\"profile\": \"User 1\""), "{settings}");
    env.write("ankiops Tutorial.md", "Q: mine now\nA: yes\n");
    env.write("ankiops.json", &settings.replace("\"web_sync\": false", "\"web_sync\": true"));
    env.ankiops(&["init", "--tutorial"]).success();
    assert_eq!(env.read("ankiops Tutorial.md"), "Q: mine now\nA: yes\n");
    assert!(env.read("ankiops.json").contains("\"web_sync\": true"));
}

#[test]
fn the_tutorial_deck_goes_to_anki_with_every_note_type() {
    let env = Env::bare();
    env.ankiops(&["init", "--tutorial"]).success();
    env.ankiops(&["ma"]).success();
    let types: std::collections::BTreeSet<String> = env.anki_notes().into_iter().map(|n| n.note_type).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        vec!["AnkiOpsChoice", "AnkiOpsCloze", "AnkiOpsInput", "AnkiOpsQA", "AnkiOpsReversed"]
    );
    let models = env.backend.call("modelNames", json!({}));
    assert!(models.as_array().unwrap().iter().any(|m| m == "AnkiOpsChoice"));
}

#[test]
fn every_note_type_syncs_both_ways() {
    let env = Env::new();
    env.write(
        "All.md",
        "Q: qa question\nA: qa answer\n\n---\n\nF: front\nB: back\n\n---\n\nT: a {{c1::cloze}}\n\n---\n\nQ: input question\nI: typed\n\n---\n\nQ: choice question\nC1: yes\nC2: no\nA: 1\n",
    );
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("All.md"));
    assert_eq!(ids.len(), 5);
    let edits = [(0, "Answer"), (1, "Back"), (2, "Text"), (3, "Input"), (4, "Choice 2")];
    for (i, field) in edits {
        let value = if field == "Text" { "a {{c1::changed}} cloze".to_string() } else { format!("changed {field}") };
        env.set_field(ids[i], field, &value);
    }
    env.ankiops(&["am"]).success();
    let text = env.read("All.md");
    for expected in [
        "A: changed Answer",
        "B: changed Back",
        "T: a {{c1::changed}} cloze",
        "I: changed Input",
        "C2: changed Choice 2",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn a_note_type_changed_in_markdown_changes_in_anki() {
    let env = Env::new();
    env.write("Bio.md", "Q: capital of France?\nA: Paris\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    env.write("Bio.md", &env.read("Bio.md").replace("A: Paris", "I: Paris"));
    env.ankiops(&["ma"]).success();
    let note = env.anki_note(id);
    assert_eq!(note.note_type, "AnkiOpsInput");
    assert_eq!(note.fields["Input"], "Paris");
}

#[test]
fn a_custom_note_type_and_a_template_change_reach_anki() {
    let env = Env::new();
    write_vocab_type(&env, "");
    let dir = env.path("note_types/Vocab");
    env.write("Words.md", "W: Haus\nMEANING: house\n");
    env.ankiops(&["ma"]).success();
    let ids = env.backend.call("findNotes", json!({"query": "note:Vocab"}));
    let info = env.backend.call("notesInfo", json!({"notes": ids}));
    assert_eq!(info[0]["fields"]["Meaning"]["value"], "house");
    assert_eq!(info[0]["fields"]["Word"]["value"], "Haus");

    std::fs::write(dir.join("front.html"), "<div class=word lang=de>{{Word}}</div>").unwrap();
    env.write("Words.md", &env.read("Words.md").replace("house", "the house"));
    env.ankiops(&["ma"]).success();
    let templates = env.backend.call("modelTemplates", json!({"modelName": "Vocab"}));
    assert_eq!(templates["Card 1"]["Front"], "<div class=word lang=de>{{Word}}</div>");
}
