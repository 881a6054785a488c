//! The harness itself: sync reaches a second device, apiKey and profiles behave as in Anki desktop,
//! and every backend is independent.

use ankiops_testkit::{Backend, SyncServer, download_notes};
use serde_json::json;

#[test]
fn a_note_synced_by_the_backend_reaches_a_second_fresh_collection() {
    let sync = SyncServer::start();
    let backend = Backend::start();
    assert_eq!(backend.try_call("sync", json!({})), Err("sync: auth not configured".to_owned()));
    backend.sync_login(&sync);
    // The one-time full upload a user confirms in Anki desktop before normal syncs.
    backend.full_sync(true);

    backend.call("createDeck", json!({"deck": "Synced::Deck"}));
    let nid = backend.call(
        "addNote",
        json!({"note": {"deckName": "Synced::Deck", "modelName": "Basic",
                        "fields": {"Front": "über <b>front</b>", "Back": "back"}, "tags": ["e2e"]}}),
    );
    backend.call("storeMediaFile", json!({"filename": "e2e.txt", "data": "aGVsbG8="}));
    assert_eq!(backend.call("sync", json!({})), json!(null));

    let notes = download_notes(&sync);
    let note = notes
        .iter()
        .find(|n| n["noteId"] == nid)
        .unwrap_or_else(|| panic!("note {nid} did not reach the second device: {notes:?}"));
    assert_eq!(note["fields"]["Front"], "über <b>front</b>");
    assert_eq!(note["fields"]["Back"], "back");
    assert_eq!(note["tags"], json!(["e2e"]));
    assert_eq!(note["decks"], json!(["Synced::Deck"]));
}

#[test]
fn api_key_is_required_when_configured() {
    let backend = Backend::builder().api_key("secret").start();
    // call() sends the key.
    assert_eq!(backend.call("version", json!({})), json!(6));
    let reply = backend.post_json(&json!({"action": "deckNames", "version": 6}));
    let reply: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON reply");
    assert_eq!(reply["error"], "valid api key must be provided");
    // requestPermission needs no key and tells the client a key is needed.
    let reply = backend.post_json(&json!({"action": "requestPermission", "version": 6}));
    let reply: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON reply");
    assert_eq!(reply["result"], json!({"permission": "granted", "requireApikey": true, "version": 6}));
}

#[test]
fn profiles_are_folders_and_load_profile_switches() {
    let tmp = tempfile::tempdir().expect("temp dir");
    {
        let first = Backend::builder().dir(tmp.path()).profile("other").start();
        first.call("createDeck", json!({"deck": "Only In Other"}));
    }
    let backend = Backend::builder().dir(tmp.path()).start();
    assert_eq!(backend.call("getActiveProfile", json!({})), "User 1");
    assert_eq!(backend.call("getProfiles", json!({})), json!(["User 1", "other"]));
    assert_eq!(backend.call("loadProfile", json!({"name": "nope"})), json!(false));
    assert_eq!(backend.call("loadProfile", json!({"name": "other"})), json!(true));
    assert_eq!(backend.call("getActiveProfile", json!({})), "other");
    let decks = backend.call("deckNames", json!({}));
    assert!(decks.as_array().is_some_and(|d| d.contains(&json!("Only In Other"))), "{decks}");
    assert!(backend.dir().join("other/collection.anki2").is_file());
}

#[test]
fn backends_are_independent_and_updates_bump_mod() {
    let a = Backend::start();
    let b = Backend::start();
    assert_ne!(a.url(), b.url());
    let nid = a.call(
        "addNote",
        json!({"note": {"deckName": "Default", "modelName": "Basic", "fields": {"Front": "only in a"}}}),
    );
    assert_eq!(b.call("findNotes", json!({"query": ""})), json!([]));
    // NFC: Anki stores fields normalised.
    a.call("updateNoteFields", json!({"note": {"id": nid, "fields": {"Back": "e\u{301}"}}}));
    let info = a.call("notesInfo", json!({"notes": [nid]}));
    assert_eq!(info[0]["fields"]["Back"]["value"], "\u{e9}");
    assert_eq!(info[0]["profile"], "User 1");
}
