//! The scenario table of docs/sync.md, row by row: `ma`, `am`, `sync` and `status` against the real backend.

use serde_json::json;

use crate::support::{Env, note_ids};

const BIO: &str = "Q: What is a cell?
A: The basic unit of *life*.

---

Q: What do mitochondria make?
A: ATP
E: Mostly.
";

/// Pushes `BIO` as `Bio.md` and returns the note ids written back.
fn pushed(env: &Env) -> Vec<i64> {
    env.write("Bio.md", BIO);
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("Bio.md"));
    assert_eq!(ids.len(), 2);
    ids
}

#[test]
fn new_notes_are_added_and_get_their_ids_written_back() {
    let env = Env::new();
    let run = env.ankiops(&["ma"]);
    assert_eq!(run.code, 0);
    env.write("Bio.md", BIO);
    let run = env.ankiops(&["ma"]).success();
    assert!(run.stderr.contains("2 created"), "{}", run.stderr);
    let text = env.read("Bio.md");
    assert!(text.starts_with("<!-- deck_id: "), "the deck id is the first line:\n{text}");
    let ids = note_ids(&text);
    let notes = env.anki_notes();
    assert_eq!(notes.iter().map(|n| n.id).collect::<Vec<_>>(), ids);
    assert_eq!(notes[0].deck, "Bio");
    assert_eq!(notes[0].note_type, "AnkiOpsQA");
    assert_eq!(notes[0].fields["Answer"], "The basic unit of <i>life</i>.");
    // Only the id lines were added: the user's text is otherwise untouched.
    let without_ids: String = text
        .lines()
        .filter(|l| !l.starts_with("<!-- note_id") && !l.starts_with("<!-- deck_id"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(without_ids, BIO);
    assert!(env.git_log()[0].starts_with("ankiops: ma — 2 created"), "{:?}", env.git_log());
}

#[test]
fn a_second_run_changes_nothing() {
    let env = Env::new();
    pushed(&env);
    let before = env.read("Bio.md");
    let commits = env.git_log().len();
    for command in ["ma", "am", "sync"] {
        let run = env.ankiops(&[command]).success();
        assert!(
            run.stderr.contains("0 created, 0 updated, 0 moved, 0 deleted; Markdown: 0 created, 0 updated"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(env.read("Bio.md"), before, "files keep their bytes");
    assert_eq!(env.git_log().len(), commits, "no empty commits");
    // Anki's modification times have a resolution of a second: once they are older than that, an untouched
    // collection is not read again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    env.ankiops(&["sync"]).success();
    let status = env.ankiops(&["status", "--json"]).success().json();
    assert_eq!(status["summary"]["anki_updated"], 0);
    assert_eq!(status["fetched"], 0, "an untouched collection needs no notesInfo");
}

#[test]
fn an_edit_in_markdown_reaches_anki() {
    let env = Env::new();
    let ids = pushed(&env);
    let text = env.read("Bio.md").replace("A: ATP", "A: ATP, by **oxidative phosphorylation**");
    env.write("Bio.md", &text);
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "ATP, by <b>oxidative phosphorylation</b>");
    assert_eq!(env.read("Bio.md"), text, "nothing to write back");
}

#[test]
fn an_edit_in_anki_reaches_the_markdown_and_ma_does_not_overwrite_it() {
    let env = Env::new();
    let ids = pushed(&env);
    env.set_field(ids[1], "Answer", "ATP (edited on the phone)");
    let before = env.read("Bio.md");
    let run = env.ankiops(&["ma"]).success();
    assert!(run.stderr.contains("changed in Anki"), "{}", run.stderr);
    assert_eq!(env.read("Bio.md"), before);
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "ATP (edited on the phone)", "ma never overwrites it");
    env.ankiops(&["am"]).success();
    let after = env.read("Bio.md");
    assert!(after.contains("A: ATP (edited on the phone)\nE: Mostly."), "{after}");
    // The other note keeps its bytes.
    assert_eq!(after.split("---").next(), before.split("---").next());
}

#[test]
fn edits_to_different_fields_on_both_sides_merge() {
    let env = Env::new();
    let ids = pushed(&env);
    env.set_field(ids[1], "Extra", "Mostly, in the matrix.");
    env.write(
        "Bio.md",
        &env.read("Bio.md").replace("Q: What do mitochondria make?", "Q: What do mitochondria produce?"),
    );
    env.ankiops(&["sync"]).success();
    let note = env.anki_note(ids[1]);
    assert_eq!(note.fields["Question"], "What do mitochondria produce?");
    assert_eq!(note.fields["Extra"], "Mostly, in the matrix.");
    let text = env.read("Bio.md");
    assert!(text.contains("Q: What do mitochondria produce?"), "{text}");
    assert!(text.contains("E: Mostly, in the matrix."), "{text}");
}

#[test]
fn the_same_field_changed_on_both_sides_becomes_a_conflict_to_resolve() {
    let env = Env::new();
    let ids = pushed(&env);
    env.set_field(ids[1], "Answer", "ATP from Anki");
    env.write("Bio.md", &env.read("Bio.md").replace("A: ATP", "A: ATP from Markdown"));

    let run = env.ankiops(&["sync"]);
    assert_eq!(run.code, 1, "conflicts exit 1:\n{}", run.snapshot());
    assert!(run.stderr.contains("conflict: Bio.md:"), "{}", run.stderr);
    let text = env.read("Bio.md");
    assert!(text.contains("<<<<<<<"), "markers are written:\n{text}");
    assert!(text.contains("ATP from Markdown") && text.contains("ATP from Anki"), "{text}");
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "ATP from Anki", "Anki is left alone");

    // Unchanged markers: still a conflict, nothing pushed.
    let again = env.ankiops(&["sync"]);
    assert!(again.stderr.contains("still has conflict markers"), "{}", again.stderr);
    assert_eq!(env.read("Bio.md"), text);

    // The user keeps a resolution: it wins.
    let start = text.find("<<<<<<<").unwrap();
    let end = text[start..].find(">>>>>>>").map(|e| start + e).unwrap();
    let end = end + text[end..].find('\n').unwrap() + 1;
    let resolved = format!("{}A: ATP, resolved\n{}", &text[..start], &text[end..]);
    env.write("Bio.md", &resolved);
    env.ankiops(&["sync"]).success();
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "ATP, resolved");
}

#[test]
fn a_note_moved_to_another_file_moves_its_cards() {
    let env = Env::new();
    let ids = pushed(&env);
    let text = env.read("Bio.md");
    let (first, second) = text.split_once("\n---\n\n").unwrap();
    env.write("Bio.md", &format!("{first}\n"));
    env.write("Chem.md", second);
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_note(ids[1]).deck, "Chem");
    assert_eq!(env.anki_note(ids[0]).deck, "Bio");
    assert_eq!(env.anki_notes().len(), 2, "a move is not a delete and an add");
}

#[test]
fn a_note_moved_in_anki_moves_to_its_deck_file() {
    let env = Env::new();
    let ids = pushed(&env);
    let cards = env.backend.call("findCards", json!({"query": format!("nid:{}", ids[0])}));
    env.backend.call("changeDeck", json!({"cards": cards, "deck": "Bio::Cells"}));
    env.ankiops(&["am"]).success();
    let cells = env.read("Bio__Cells.md");
    assert_eq!(note_ids(&cells), vec![ids[0]]);
    assert_eq!(note_ids(&env.read("Bio.md")), vec![ids[1]]);
}

#[test]
fn a_deck_file_renamed_renames_the_deck() {
    let env = Env::new();
    let ids = pushed(&env);
    std::fs::rename(env.path("Bio.md"), env.path("Biology.md")).unwrap();
    env.ankiops(&["ma"]).success();
    assert!(ids.iter().all(|id| env.anki_note(*id).deck == "Biology"));
    let decks = env.backend.call("deckNamesAndIds", json!({}));
    assert!(decks.get("Bio").is_none(), "the emptied old deck is removed: {decks}");
}

#[test]
fn deleting_notes_in_anki_needs_yes_without_a_terminal() {
    let env = Env::new();
    let ids = pushed(&env);
    let text = env.read("Bio.md");
    let (first, _) = text.split_once("\n---\n\n").unwrap();
    env.write("Bio.md", &format!("{first}\n"));
    let run = env.ankiops(&["ma"]);
    assert!(run.stderr.contains("delete 1 note from Anki") && run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(env.anki_notes().len(), 2, "nothing deleted without --yes");
    env.ankiops(&["ma", "--yes"]).success();
    let left: Vec<i64> = env.anki_notes().iter().map(|n| n.id).collect();
    assert_eq!(left, vec![ids[0]]);
}

#[test]
fn a_note_deleted_in_anki_is_removed_from_the_markdown() {
    let env = Env::new();
    let ids = pushed(&env);
    env.backend.call("deleteNotes", json!({"notes": [ids[0]]}));
    env.ankiops(&["am"]).success();
    assert_eq!(note_ids(&env.read("Bio.md")), vec![ids[1]]);
}

#[test]
fn a_run_that_died_after_adding_notes_does_not_add_them_twice() {
    let env = Env::new();
    env.write("Bio.md", BIO);
    env.ankiops(&["ma"]).success();
    // The ids never reached the file (as if the process was killed right after Anki accepted the notes), and
    // no base was written.
    env.write("Bio.md", BIO);
    let repo = git2::Repository::open(env.root()).unwrap();
    repo.find_reference("refs/ankiops/base").unwrap().delete().unwrap();
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_notes().len(), 2, "no duplicates");
    assert_eq!(note_ids(&env.read("Bio.md")), env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>());
}

#[test]
fn a_scoped_run_never_touches_other_decks() {
    let env = Env::new();
    pushed(&env);
    env.write("Chem.md", "Q: H2O?\nA: Water\n");
    env.ankiops(&["ma", "--file", "Chem.md"]).success();
    std::fs::remove_file(env.path("Bio.md")).unwrap();
    env.write("Chem.md", &env.read("Chem.md").replace("Water", "Water!"));
    env.ankiops(&["ma", "--file", "Chem.md", "--yes"]).success();
    assert_eq!(env.anki_notes().len(), 3, "Bio's notes survive a run scoped to Chem.md");
}

#[test]
fn the_wrong_profile_stops_the_run() {
    let env = Env::new();
    env.write("ankiops.json", "{\"profile\": \"Someone Else\"}\n");
    env.write("Bio.md", BIO);
    let run = env.ankiops(&["ma"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("'User 1' open, but this collection belongs to 'Someone Else'"), "{}", run.stderr);
    assert!(env.anki_notes().is_empty());
}

#[test]
fn a_broken_file_is_reported_and_its_notes_are_left_alone() {
    let env = Env::new();
    let ids = pushed(&env);
    env.write("Bio.md", &env.read("Bio.md").replace("A: ATP", "Z: ATP"));
    env.write("Chem.md", "Q: H2O?\nA: Water\n");
    let run = env.ankiops(&["ma", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("error: Bio.md:"), "the error names the file and line:\n{}", run.stderr);
    assert_eq!(env.anki_notes().len(), 3, "Bio's notes are not deleted, Chem's note is added");
    assert!(ids.iter().all(|id| env.anki_note(*id).deck == "Bio"));
}

#[test]
fn notes_of_other_note_types_are_never_touched() {
    let env = Env::new();
    env.backend.call("createDeck", json!({"deck": "Bio"}));
    let basic = env.backend.call(
        "addNote",
        json!({"note": {"deckName": "Bio", "modelName": "Basic", "fields": {"Front": "mine", "Back": "not yours"}}}),
    );
    pushed(&env);
    env.ankiops(&["am"]).success();
    assert!(!env.read("Bio.md").contains("mine"));
    env.ankiops(&["ma", "--force", "--yes"]).success();
    let still = env.backend.call("notesInfo", json!({"notes": [basic]}));
    assert_eq!(still[0]["fields"]["Front"]["value"], "mine");
}

#[test]
fn dry_run_shows_a_diff_and_changes_nothing() {
    let env = Env::new();
    pushed(&env);
    let text = env.read("Bio.md").replace("A: ATP", "A: ADP");
    env.write("Bio.md", &text);
    let run = env.ankiops(&["ma", "--dry-run"]).success();
    assert!(run.stderr.contains("-ATP") && run.stderr.contains("+ADP"), "{}", run.stderr);
    assert!(run.stderr.contains("dry run"), "{}", run.stderr);
    assert!(env.anki_notes().iter().any(|n| n.fields["Answer"] == "ATP"));
    assert_eq!(env.read("Bio.md"), text);
}

#[test]
fn json_reports_what_happened() {
    let env = Env::new();
    env.write("Bio.md", BIO);
    let report = env.ankiops(&["ma", "--json"]).success().json();
    assert_eq!(report["command"], "ma");
    assert_eq!(report["summary"]["anki_created"], 2);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn tags_added_on_one_side_and_removed_on_the_other_merge() {
    let env = Env::new();
    env.write("Bio.md", "<!-- tags: old keep -->\nQ: q\nA: a\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    env.backend.call("addTags", json!({"notes": [id], "tags": "phone"}));
    env.write("Bio.md", &env.read("Bio.md").replace("old keep", "keep new"));
    env.ankiops(&["sync"]).success();
    assert_eq!(env.anki_note(id).tags, vec!["keep", "new", "phone"]);
    assert!(env.read("Bio.md").contains("<!-- tags: keep new phone -->"), "{}", env.read("Bio.md"));
}

#[test]
fn a_folder_without_base_syncs_as_conflicts_not_overwrites() {
    let env = Env::new();
    let ids = pushed(&env);
    env.set_field(ids[1], "Answer", "ATP in Anki");
    // Forget the base, as in a folder copied from elsewhere.
    let repo = git2::Repository::open(env.root()).unwrap();
    repo.find_reference("refs/ankiops/base").unwrap().delete().unwrap();
    let run = env.ankiops(&["sync"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(env.read("Bio.md").contains("ATP in Anki") && env.read("Bio.md").contains("A: ATP\n"));
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "ATP in Anki");
}

#[test]
fn snapshot_and_result_commits_only_cover_the_collection() {
    let env = Env::new();
    env.write("Bio.md", BIO);
    env.ankiops(&["ma"]).success();
    let log = env.git_log();
    assert!(log[0].starts_with("ankiops: ma"), "{log:?}");
    assert_eq!(log[1], "ankiops: snapshot before ma", "{log:?}");
    assert_eq!(log.last().map(String::as_str), Some("ankiops: init"));
}

#[test]
fn a_folder_without_base_whose_notes_render_the_same_has_no_conflicts() {
    let env = Env::new();
    pushed(&env);
    // Spelled differently, rendered the same: `_life_` and `*life*` are both <i>life</i>.
    let text = env.read("Bio.md").replace("*life*", "_life_");
    env.write("Bio.md", &text);
    let repo = git2::Repository::open(env.root()).unwrap();
    repo.find_reference("refs/ankiops/base").unwrap().delete().unwrap();
    let run = env.ankiops(&["sync"]).success();
    assert!(run.stderr.contains("0 conflicts"), "{}", run.stderr);
    assert_eq!(env.read("Bio.md"), text, "the user's spelling is kept");
}

#[test]
fn a_note_edited_in_anki_while_a_run_writes_it_is_not_overwritten() {
    let env = Env::new();
    let ids = pushed(&env);
    env.write("Bio.md", &env.read("Bio.md").replace("A: ATP", "A: ATP from Markdown"));
    // While `ma` runs, after it read Anki and before it writes, the user saves an edit of the same note in Anki.
    let port = env.backend.port();
    let note = ids[1];
    let proxy = crate::support::Proxy::start(port, move |_, body, stage| {
        // `deckNamesAndIds` is the last read before the writes.
        if stage == crate::support::Stage::Received && body.contains("\"deckNamesAndIds\"") {
            let edit = json!({"action": "updateNoteFields", "version": 6,
                "params": {"note": {"id": note, "fields": {"Answer": "ATP, saved in Anki meanwhile"}}}});
            ankiops_testkit::raw_request(port, "POST", Some("application/json"), edit.to_string().as_bytes()).unwrap();
        }
        true
    });
    let run = env.run_at(&["ma"], &proxy.url);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("was edited in Anki during this run"), "{}", run.stderr);
    assert_eq!(env.anki_note(note).fields["Answer"], "ATP, saved in Anki meanwhile");
    // The next run sees both edits as what they are: a conflict, not an overwrite.
    let run = env.ankiops(&["sync"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(env.read("Bio.md").contains("ATP, saved in Anki meanwhile"));
}
