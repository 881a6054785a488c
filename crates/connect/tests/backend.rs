//! Every action of the client against the real test backend (the `anki` engine behind the AnkiConnect protocol),
//! checking the typed results against what the recorded transcripts show Anki desktop answering.

use std::collections::BTreeMap;
use std::time::Duration;

use ankiops_connect::{
    Action, CardTemplate, Client, Config, Error, MediaSource, NewModel, NewNote, NotAdded, SyncOutcome,
};
use ankiops_testkit::{Backend, SyncServer, tempfile};
use serde_json::{Value, json};

fn client(backend: &Backend) -> Client {
    Client::new(Config::new(backend.url()))
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn note(deck: &str, model: &str, pairs: &[(&str, &str)], tags: &[&str]) -> NewNote {
    NewNote {
        deck_name: deck.to_owned(),
        model_name: model.to_owned(),
        fields: fields(pairs),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        allow_duplicate: false,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn envelope_permission_profiles_and_capabilities() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    assert_eq!(c.version().expect("version"), 6);
    let permission = c.request_permission().expect("permission");
    assert!(permission.granted && !permission.require_api_key);
    assert_eq!(permission.version, Some(6));
    assert_eq!(c.get_profiles().expect("profiles"), ["rig"]);
    assert_eq!(c.get_active_profile().expect("active").as_deref(), Some("rig"));

    let caps = c.capabilities().expect("capabilities");
    assert!(caps.is_modern() && caps.sync_reports_errors());
    let missing: Vec<&&str> = ankiops_testkit::ANKIOPS_ACTIONS.iter().filter(|a| !caps.has(a)).collect();
    assert!(missing.is_empty(), "apiReflect lacks {missing:?}");

    let err = c.call_value("noSuchAction", Value::Null).expect_err("unknown");
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    let err = c.call_value("deckNames", json!({"bogus": 1})).expect_err("bad param");
    assert_eq!(err.anki_message(), Some("AnkiConnect.deckNames() got an unexpected keyword argument 'bogus'"));
    let names: Vec<String> = c.call("deckNames", Value::Null).expect("generic call");
    assert_eq!(names, ["Default"]);
}

#[test]
fn api_key_missing_wrong_and_right() {
    let backend = Backend::builder().api_key("k").profile("rig").start();
    let err = client(&backend).version().expect_err("no key");
    assert!(matches!(err, Error::ApiKeyRequired { .. }), "{err:?}");

    let wrong = Client::new(Config { api_key: Some("wrong-key".into()), ..Config::new(backend.url()) });
    let err = wrong.deck_names_and_ids().expect_err("wrong key");
    assert!(matches!(err, Error::ApiKeyRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("--api-key"), "{err}");
    assert!(!format!("{err} {err:?} {wrong:?}").contains("wrong-key"));

    let right = Client::new(Config { api_key: Some("k".into()), ..Config::new(backend.url()) });
    assert!(right.request_permission().expect("permission").require_api_key);
    assert_eq!(right.version().expect("version"), 6);
    let results = right
        .multi(&[Action::new("version", Value::Null), Action::new("deckNames", Value::Null)], &mut |_, _| {})
        .expect("multi with keys");
    assert_eq!(results, [Ok(json!(6)), Ok(json!(["Default"]))]);
}

#[test]
fn a_key_the_add_on_does_not_expect() {
    let backend = Backend::start();
    let c = Client::new(Config { api_key: Some("stray".into()), ..Config::new(backend.url()) });
    let err = c.version().expect_err("key without apiKey");
    assert!(matches!(err, Error::ApiKeyUnexpected { .. }) && err.is_auth(), "{err:?}");
    assert!(err.to_string().contains("unset ANKICONNECT_API_KEY"), "{err}");
}

#[test]
fn a_stopped_backend_is_unreachable() {
    let backend = Backend::start();
    let c = client(&backend);
    assert_eq!(c.version().expect("up"), 6);
    drop(backend);
    let err = c.version().expect_err("down");
    assert!(err.is_unreachable(), "{err:?}");
}

#[test]
fn decks() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    assert_eq!(c.deck_names_and_ids().expect("decks"), BTreeMap::from([("Default".to_owned(), 1)]));
    let id = c.create_deck("Transcript Decks").expect("create");
    assert!(id > 1_000_000_000_000);
    assert_eq!(c.create_deck("Transcript Decks").expect("again"), id);
    assert_eq!(c.create_deck("transcript decks").expect("case"), id);
    let leaf = c.create_deck("Transcript Decks::Sub::Leaf").expect("nested");
    let decks = c.deck_names_and_ids().expect("decks");
    assert_eq!(decks["Transcript Decks::Sub::Leaf"], leaf);
    assert!(decks.contains_key("Transcript Decks::Sub"));

    let nid = c
        .add_note(&note("Transcript Decks", "Basic", &[("Front", "deck card front"), ("Back", "back")], &[]))
        .expect("add");
    let cards = c.find_cards("\"deck:Transcript Decks\"").expect("cards");
    assert_eq!(cards.len(), 1);
    assert_eq!(
        c.get_decks(&cards).expect("membership"),
        BTreeMap::from([("Transcript Decks".to_owned(), cards.clone())])
    );
    c.change_deck(&cards, "Transcript Decks::Created By Move").expect("move creates the deck");
    c.change_deck(&[1], "Transcript Decks").expect("unknown ids are ignored");
    assert_eq!(
        c.get_decks(&cards).expect("membership"),
        BTreeMap::from([("Transcript Decks::Created By Move".to_owned(), cards.clone())])
    );
    assert_eq!(c.find_notes("\"deck:Transcript Decks\"").expect("with subdecks"), [nid]);
    assert_eq!(
        c.find_notes("\"deck:Transcript Decks\" -\"deck:Transcript Decks::*\"").expect("without subdecks"),
        Vec::<i64>::new()
    );

    c.delete_decks(&["Transcript Decks::Sub", "No Such Deck"]).expect("delete");
    let decks = c.deck_names_and_ids().expect("decks");
    assert!(!decks.contains_key("Transcript Decks::Sub"));
    assert!(!decks.contains_key("Transcript Decks::Sub::Leaf"));
    assert!(decks.contains_key("Transcript Decks::Created By Move"));
}

#[test]
fn models() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    let names = c.model_names().expect("names");
    assert!(names.iter().any(|n| n == "Basic") && names.iter().any(|n| n == "Cloze"));
    let ids = c.model_names_and_ids().expect("ids");
    assert_eq!(ids.len(), names.len());
    assert_eq!(c.model_field_names("Basic").expect("fields"), ["Front", "Back"]);
    let err = c.model_field_names("Nope").expect_err("unknown");
    assert_eq!(err.anki_message(), Some("model was not found: Nope"));

    let qa = NewModel {
        name: "TranscriptQA".into(),
        fields: strings(&["Question", "Answer", "Extra"]),
        templates: vec![CardTemplate {
            name: "Card 1".into(),
            front: "{{Question}}".into(),
            back: "{{FrontSide}}<hr id=answer>{{Answer}}<br>{{Extra}}".into(),
        }],
        css: ".card { font-family: sans-serif; }".into(),
        is_cloze: false,
    };
    let created = c.create_model(&qa).expect("create");
    assert_eq!(created["name"], "TranscriptQA");
    assert_eq!(created["type"], 0);
    assert!(created["id"].as_i64().is_some_and(|id| id > 1_000_000_000_000));
    let err = c.create_model(&qa).expect_err("exists");
    assert_eq!(err.anki_message(), Some("Model name already exists"));

    let cloze = NewModel {
        name: "TranscriptCloze".into(),
        fields: strings(&["Text", "Extra"]),
        templates: vec![CardTemplate {
            name: "Cloze".into(),
            front: "{{cloze:Text}}".into(),
            back: "{{cloze:Text}}<br>{{Extra}}".into(),
        }],
        css: ".cloze { color: blue; }".into(),
        is_cloze: true,
    };
    assert_eq!(c.create_model(&cloze).expect("cloze")["type"], 1);

    assert_eq!(c.model_field_names("TranscriptQA").expect("fields"), ["Question", "Answer", "Extra"]);
    assert_eq!(c.model_templates("TranscriptQA").expect("templates"), qa.templates);
    assert_eq!(c.model_styling("TranscriptQA").expect("css"), qa.css);

    let updated = CardTemplate {
        name: "Card 1".into(),
        front: "<div class=q>{{Question}}</div>".into(),
        back: "{{FrontSide}}<hr id=answer>{{Answer}}".into(),
    };
    let unknown = CardTemplate { name: "Card 9".into(), front: "x".into(), back: "y".into() };
    c.update_model_templates("TranscriptQA", &[updated.clone(), unknown]).expect("update templates");
    assert_eq!(c.model_templates("TranscriptQA").expect("templates"), std::slice::from_ref(&updated));
    c.update_model_styling("TranscriptQA", ".card { color: black; }").expect("styling");
    assert_eq!(c.model_styling("TranscriptQA").expect("css"), ".card { color: black; }");
    let err = c.update_model_styling("Nope", "x").expect_err("unknown");
    assert_eq!(err.anki_message(), Some("model was not found: Nope"));

    c.model_field_add("TranscriptQA", "Hidden", Some(3)).expect("field add");
    c.model_field_add("TranscriptQA", "Last", None).expect("field add last");
    assert_eq!(c.model_field_names("TranscriptQA").expect("fields"), ["Question", "Answer", "Extra", "Hidden", "Last"]);
    let reverse = CardTemplate { name: "Reverse".into(), front: "{{Answer}}".into(), back: "{{Question}}".into() };
    c.model_template_add("TranscriptQA", &reverse).expect("template add");
    assert_eq!(c.model_templates("TranscriptQA").expect("templates"), [updated, reverse]);
}

fn qa_model(c: &Client) {
    c.create_model(&NewModel {
        name: "TranscriptQA".into(),
        fields: strings(&["Question", "Answer", "Extra"]),
        templates: vec![CardTemplate {
            name: "Card 1".into(),
            front: "{{Question}}".into(),
            back: "{{Answer}}".into(),
        }],
        css: String::new(),
        is_cloze: false,
    })
    .expect("model");
}

#[test]
fn adding_notes() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    qa_model(&c);
    c.create_deck("Transcript Notes").expect("deck");
    let first = note(
        "Transcript Notes",
        "TranscriptQA",
        &[("Question", "What is <b>2+2</b>?"), ("Answer", "4"), ("Extra", "")],
        &["math", "easy"],
    );
    let nid = c.add_note(&first).expect("add");
    assert!(nid > 1_000_000_000_000);

    let dup = note("Transcript Notes", "TranscriptQA", &[("Question", "What is <b>2+2</b>?"), ("Answer", "four")], &[]);
    let err = c.add_note(&dup).expect_err("duplicate");
    assert!(
        matches!(&err, Error::Anki { action, message } if action == "addNote" && message == "cannot create note because it is a duplicate"),
        "{err:?}"
    );
    let allowed = NewNote { allow_duplicate: true, ..dup.clone() };
    assert!(c.add_note(&allowed).expect("allowed duplicate") > nid);

    let err = c.add_note(&note("No Such Deck", "TranscriptQA", &[("Question", "q")], &[])).expect_err("deck");
    assert_eq!(err.anki_message(), Some("deck was not found: No Such Deck"));
    let err = c.add_note(&note("Transcript Notes", "NoSuchModel", &[("Question", "q")], &[])).expect_err("model");
    assert_eq!(err.anki_message(), Some("model was not found: NoSuchModel"));
    let err = c
        .add_note(&note("Transcript Notes", "TranscriptQA", &[("Question", ""), ("Answer", "a")], &[]))
        .expect_err("empty");
    assert_eq!(err.anki_message(), Some("cannot create note because it is empty"));

    let fresh = note("Transcript Notes", "TranscriptQA", &[("Question", "fresh"), ("Answer", "x")], &[]);
    let empty = note("Transcript Notes", "TranscriptQA", &[("Question", ""), ("Answer", "x")], &[]);
    assert_eq!(
        c.can_add_notes_with_error_detail(&[dup.clone(), fresh.clone(), empty]).expect("can add"),
        [
            Err("cannot create note because it is a duplicate".to_owned()),
            Ok(()),
            Err("cannot create note because it is empty".to_owned()),
        ]
    );
    assert!(c.find_notes("\"Question:fresh\"").expect("nothing written").is_empty());

    // Unlike `addNotes`, one duplicate does not stop the others, and each gets its own answer.
    let batch_one = note("Transcript Notes", "TranscriptQA", &[("Question", "batch one"), ("Answer", "1")], &["t"]);
    let mut progress = Vec::new();
    let added = c.add_notes(&[batch_one, dup, fresh], &mut |d, t| progress.push((d, t))).expect("add notes");
    assert_eq!(progress.first(), Some(&(0, 3)));
    assert_eq!(progress.last(), Some(&(3, 3)));
    assert!(added[0].is_ok() && added[2].is_ok(), "{added:?}");
    assert_eq!(added[1], Err(NotAdded::Refused("cannot create note because it is a duplicate".to_owned())));
    let infos = c.notes_info(&[*added[0].as_ref().expect("id")]).expect("info");
    let info = infos[0].as_ref().expect("added");
    assert_eq!(info.tags, ["t"]);
    assert_eq!(info.model_name, "TranscriptQA");
}

#[test]
fn reading_and_updating_notes() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    qa_model(&c);
    c.create_deck("Transcript Notes").expect("deck");
    let nid = c
        .add_note(&note(
            "Transcript Notes",
            "TranscriptQA",
            &[("Question", "What is <b>2+2</b>?"), ("Answer", "4")],
            &["math", "easy"],
        ))
        .expect("add");
    let other = c.add_note(&note("Transcript Notes", "Basic", &[("Front", "f"), ("Back", "b")], &[])).expect("add");

    assert_eq!(c.find_notes("note:TranscriptQA").expect("find"), [nid]);
    let err = c.find_notes("deck:(unclosed").expect_err("bad search");
    assert!(err.anki_message().is_some_and(|m| m.starts_with("Invalid search")), "{err:?}");

    let infos = c.notes_info(&[nid, 1]).expect("info");
    assert_eq!(infos.len(), 2);
    let info = infos[0].clone().expect("known");
    assert_eq!(infos[1], None, "unknown ids are None");
    assert_eq!(info.note_id, nid);
    assert_eq!(info.model_name, "TranscriptQA");
    assert_eq!(info.tags, ["easy", "math"]);
    assert_eq!(info.profile.as_deref(), Some("rig"));
    assert_eq!(info.fields_in_order(), [("Question", "What is <b>2+2</b>?"), ("Answer", "4"), ("Extra", "")]);
    assert_eq!(info.cards.len(), 1);
    let mod_time = info.mod_time.expect("mod");
    assert!((1_000_000_000..10_000_000_000).contains(&mod_time));
    assert_eq!(c.notes_info_by_query("note:Basic").expect("by query")[0].note_id, other);

    let mods = c.notes_mod_time(&[nid, 1]).expect("mod times");
    assert_eq!(mods[0].map(|m| (m.note_id, m.mod_time)), Some((nid, Some(mod_time))));
    assert_eq!(mods[1], None);

    let cards = c.cards_info(&[info.cards[0], 1]).expect("cards");
    let card = cards[0].as_ref().expect("known card");
    assert_eq!(cards[1], None);
    assert_eq!(card.card_id, info.cards[0]);
    assert_eq!(card.note, nid);
    assert_eq!(card.deck_name, "Transcript Notes");
    assert_eq!(card.model_name, "TranscriptQA");
    assert_eq!(card.reps, 0);
    assert!(card.question.contains("What is <b>2+2</b>?"));

    c.update_note_fields(nid, &fields(&[("Answer", "<i>four</i>")])).expect("update fields");
    c.update_note_fields(nid, &fields(&[("answer", "ignored")])).expect("wrong case is ignored");
    let err = c.update_note_fields(1, &fields(&[("Answer", "x")])).expect_err("unknown note");
    assert_eq!(err.anki_message(), Some("Note was not found: 1"));

    c.update_note(nid, Some(&fields(&[("Extra", "see also")])), Some(&strings(&["math", "revised"])))
        .expect("update note");
    let err = c.update_note(nid, None, None).expect_err("neither");
    assert_eq!(err.anki_message(), Some("Must provide a \"fields\" or \"tags\" property."));
    c.update_note_tags(nid, &strings(&["math", "revised"])).expect("tags");
    c.add_tags(&[nid], &["added", "another"]).expect("add tags");
    c.remove_tags(&[nid], &["another"]).expect("remove tags");

    let info = c.notes_info(&[nid]).expect("info")[0].clone().expect("known");
    assert_eq!(info.tags, ["added", "math", "revised"]);
    assert_eq!(
        info.fields_in_order(),
        [("Question", "What is <b>2+2</b>?"), ("Answer", "<i>four</i>"), ("Extra", "see also")]
    );

    c.update_note_model(
        other,
        "TranscriptQA",
        &fields(&[("Question", "moved"), ("Answer", "over")]),
        &strings(&["changed"]),
    )
    .expect("change note type");
    let moved = c.notes_info(&[other]).expect("info")[0].clone().expect("known");
    assert_eq!(moved.model_name, "TranscriptQA");
    assert_eq!(moved.tags, ["changed"]);
    assert_eq!(moved.fields["Question"].value, "moved");

    c.delete_notes(&[nid, 1]).expect("delete");
    assert_eq!(c.notes_info(&[nid]).expect("info"), [None]);
    assert_eq!(c.notes_mod_time(&[nid]).expect("mod"), [None]);
    assert_eq!(c.find_notes("note:TranscriptQA").expect("find"), [other]);
    assert!(c.notes_info(&[]).expect("no ids").is_empty());
}

#[test]
fn media() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    let dir = c.get_media_dir_path().expect("media dir");
    assert!(std::path::Path::new(&dir).is_absolute(), "{dir}");

    let png: &[u8] = b"\x89PNG\r\n\x1a\n not really a png";
    assert_eq!(
        c.store_media_file("transcript-dot.png", MediaSource::Data(png), true).expect("store"),
        "transcript-dot.png"
    );
    assert_eq!(c.retrieve_media_file("transcript-dot.png").expect("retrieve"), Some(png.to_vec()));
    c.store_media_file("transcript-dot.png", MediaSource::Data(b"other bytes"), true).expect("replace");
    assert_eq!(c.retrieve_media_file("transcript-dot.png").expect("retrieve"), Some(b"other bytes".to_vec()));
    let renamed = c.store_media_file("transcript-dot.png", MediaSource::Data(png), false).expect("keep both");
    assert!(renamed.starts_with("transcript-dot-") && renamed.ends_with(".png"), "{renamed}");
    assert_eq!(c.store_media_file("../escape.txt", MediaSource::Data(b"x"), true).expect("base name"), "escape.txt");
    assert_eq!(
        c.store_media_file("my image (1) é.png", MediaSource::Data(png), true).expect("unicode"),
        "my image (1) é.png"
    );

    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("from-path.txt");
    std::fs::write(&path, b"read by anki").expect("write");
    assert_eq!(
        c.store_media_file("from-path.txt", MediaSource::Path(&path), true).expect("from path"),
        "from-path.txt"
    );
    assert_eq!(c.retrieve_media_file("from-path.txt").expect("retrieve"), Some(b"read by anki".to_vec()));

    let mut names = c.get_media_files_names("transcript*").expect("names");
    names.sort();
    assert_eq!(names, [renamed.clone(), "transcript-dot.png".to_owned()]);
    assert_eq!(c.get_media_files_names("*").expect("all").len(), 5);

    assert_eq!(c.retrieve_media_file("missing.png").expect("missing"), None);
    c.delete_media_file("transcript-dot.png").expect("delete");
    assert_eq!(c.retrieve_media_file("transcript-dot.png").expect("deleted"), None);
}

#[test]
fn multi_batches() {
    let backend = Backend::builder().profile("rig").start();
    let c = client(&backend);
    let results = c
        .multi(
            &[
                Action::new("deckNames", Value::Null),
                Action::new("createDeck", json!({"deck": "Transcript Multi"})),
                Action::new("createDeck", json!({})),
            ],
            &mut |_, _| {},
        )
        .expect("multi");
    assert_eq!(results[0], Ok(json!(["Default"])));
    assert!(results[1].as_ref().is_ok_and(Value::is_i64));
    assert_eq!(results[2], Err("AnkiConnect.createDeck() missing 1 required positional argument: 'deck'".to_owned()));
    let err = c
        .multi_all(
            &[Action::new("version", Value::Null), Action::new("modelFieldNames", json!({"modelName": "Nope"}))],
            &mut |_, _| {},
        )
        .expect_err("second fails");
    assert!(
        matches!(&err, Error::SubAction { index: 1, action, message } if action == "modelFieldNames" && message == "model was not found: Nope"),
        "{err:?}"
    );
    assert!(c.multi(&[], &mut |_, _| {}).expect("empty").is_empty());

    // More than one chunk: 260 decks in two requests, all created.
    let actions: Vec<Action> =
        (0..260).map(|i| Action::new("createDeck", json!({"deck": format!("Bulk::{i:03}")}))).collect();
    let mut progress = Vec::new();
    let ids = c.multi_all(&actions, &mut |d, t| progress.push((d, t))).expect("bulk");
    assert_eq!(ids.len(), 260);
    assert_eq!(progress, [(0, 260), (250, 260), (260, 260)]);
    let decks = c.deck_names_and_ids().expect("decks");
    assert_eq!(decks.keys().filter(|d| d.starts_with("Bulk::")).count(), 260);
}

#[test]
fn sync_outcomes() {
    let sync = SyncServer::start();
    let backend = Backend::builder().profile("rig").start();
    let c = Client::new(Config { long_timeout: Duration::from_secs(120), ..Config::new(backend.url()) });
    let err = c.sync().expect_err("not logged in");
    assert!(matches!(err, Error::SyncNotLoggedIn), "{err:?}");

    backend.sync_login(&sync);
    backend.full_sync(true);
    assert_eq!(c.sync().expect("nothing to do"), SyncOutcome::Synced);
    c.create_deck("Transcript Sync").expect("deck");
    c.add_note(&note("Transcript Sync", "Basic", &[("Front", "synced front"), ("Back", "synced back")], &[]))
        .expect("note");
    assert_eq!(c.sync().expect("normal sync"), SyncOutcome::Synced);

    c.model_field_add("Basic", "Extra", Some(2)).expect("schema change");
    let err = c.sync().expect_err("full sync required");
    assert!(matches!(err, Error::FullSyncRequired { status: 2 }), "{err:?}");
}

#[test]
fn switching_profiles() {
    let tmp = tempfile::tempdir().expect("temp dir");
    drop(Backend::builder().dir(tmp.path()).profile("other").start());
    let backend = Backend::builder().dir(tmp.path()).profile("rig").start();
    let c = client(&backend);
    assert_eq!(c.get_profiles().expect("profiles"), ["other", "rig"]);
    assert!(!c.load_profile("nope").expect("unknown profile"));
    assert!(c.load_profile("other").expect("switch"));
    c.wait_for_profile("other", Duration::from_secs(30)).expect("switched");
    assert_eq!(c.get_active_profile().expect("active").as_deref(), Some("other"));
}
