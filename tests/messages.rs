//! Messages and settings (issue 14): a binary deck file is one error, `ankiops.json` with a byte order mark is
//! read and one that is not an object is refused, `am --deck` names the close decks, and snapshot commits hold
//! only what ankiops owns or the user tracks.

use std::path::Path;

use crate::support::Env;

/// The files of HEAD's tree, sorted, with `/` between folders.
fn committed_files(root: &Path) -> Vec<String> {
    let repo = git2::Repository::open(root).expect("open the collection's repository");
    let tree = repo.head().expect("HEAD").peel_to_commit().expect("a commit").tree().expect("its tree");
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |at, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files.push(format!("{at}{}", entry.name().unwrap_or_default()));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk the tree");
    files.sort();
    files
}

/// A PNG saved as `.md` once printed one error per invalid byte (3,222 lines).
#[test]
fn a_binary_deck_file_is_one_error_line() {
    let env = Env::new();
    env.write("Good.md", "Q: q\nA: a\n");
    let mut blob = b"\x89PNG\r\n\x1a\n".to_vec();
    blob.extend((0..5000u32).map(|i| if i % 37 == 0 { b'\n' } else { [0xff, 0xc3, 0x80, 0xfe][(i % 4) as usize] }));
    fs_err::write(env.path("Picture.md"), &blob).unwrap();

    let run = env.ankiops(&["ma"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let utf8: Vec<&str> = run.stderr.lines().filter(|l| l.contains("invalid UTF-8")).collect();
    assert_eq!(utf8.len(), 1, "{}", run.snapshot());
    assert!(utf8[0].contains("Picture.md:1:1: invalid UTF-8 (byte offset 0, and "), "{}", run.snapshot());
    assert!(utf8[0].contains(" more places); save the file as UTF-8"), "{}", run.snapshot());
    assert!(run.stderr.lines().count() < 20, "{}", run.snapshot());
    assert_eq!(fs_err::read(env.path("Picture.md")).unwrap(), blob, "the file is left as it was");
    assert_eq!(env.anki_notes().len(), 1, "the other deck is pushed");
}

/// Notepad and some other Windows editors start a UTF-8 file with a byte order mark.
#[test]
fn settings_with_a_byte_order_mark_are_read() {
    let env = Env::new();
    let settings = env.read("ankiops.json");
    assert!(settings.contains("\"profile\""), "{settings}");
    env.write("ankiops.json", &format!("\u{feff}{settings}"));
    env.write("Deck.md", "Q: q\nA: a\n");
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_notes().len(), 1);

    // The profile recorded in that file is the one honoured.
    let mut wrong: serde_json::Value = serde_json::from_str(&settings).unwrap();
    wrong["profile"] = "Nobody".into();
    env.write("ankiops.json", &format!("\u{feff}{wrong}"));
    let run = env.ankiops(&["status"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("Nobody"), "{}", run.snapshot());
}

#[test]
fn settings_that_are_not_an_object_are_refused_naming_the_file() {
    let env = Env::new();
    env.write("Deck.md", "Q: q\nA: a\n");
    for text in ["[]\n", "\"x\"\n"] {
        env.write("ankiops.json", text);
        let run = env.ankiops(&["ma"]);
        assert_eq!(run.code, 2, "{text}: {}", run.snapshot());
        let file = env.path("ankiops.json").display().to_string();
        assert!(
            run.stderr.contains(&format!("{file}:1:1: ankiops.json must hold one JSON object")),
            "{text}: {}",
            run.snapshot()
        );
        assert!(run.stderr.contains("hint: write the settings between `{` and `}`"), "{}", run.snapshot());
    }
    assert!(env.anki_notes().is_empty(), "nothing was pushed");
}

#[test]
fn am_with_a_misspelt_deck_names_the_close_one() {
    let env = Env::new();
    env.write("Spanish.md", "Q: hola\nA: hello\n");
    env.write("French.md", "Q: bonjour\nA: hello\n");
    env.ankiops(&["ma"]).success();
    let before = env.read("Spanish.md");

    let run = env.ankiops(&["am", "--deck", "Spansh"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("Anki has no deck \"Spansh\""), "{}", run.snapshot());
    assert!(
        run.stderr.contains("hint: did you mean \"Spanish\"? run again with --deck \"Spanish\""),
        "{}",
        run.snapshot()
    );
    assert!(!run.stderr.contains("French"), "only close decks are named: {}", run.snapshot());
    assert_eq!(env.read("Spanish.md"), before);

    // Case alone is no typo, and a parent deck holds its subdecks.
    env.ankiops(&["am", "--deck", "spanish"]).success();
    let run = env.ankiops(&["am", "--deck", "Chemistry"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("Anki's decks are"), "{}", run.snapshot());
}

#[test]
fn snapshots_leave_untracked_files_of_the_user_out() {
    let env = Env::new();
    env.write("Deck.md", "Q: q\nA: a\n");
    fs_err::create_dir_all(env.path("media")).unwrap();
    fs_err::write(env.path("media/x.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    env.write("notes.txt", "my own notes");
    fs_err::create_dir_all(env.path("scratch")).unwrap();
    env.write("scratch/draft.txt", "a draft");
    env.ankiops(&["ma"]).success();

    let files = committed_files(env.root());
    for owned in ["Deck.md", "media/x.png", "ankiops.json", ".gitignore"] {
        assert!(files.iter().any(|f| f == owned), "{owned} is committed: {files:?}");
    }
    assert!(!files.iter().any(|f| f == "notes.txt" || f.starts_with("scratch/")), "{files:?}");

    // The git binary agrees: the user's files are still untracked, nothing else is.
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(env.root())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output();
    if let Ok(status) = status {
        assert_eq!(String::from_utf8_lossy(&status.stdout), "?? notes.txt\n?? scratch/draft.txt\n");
    }

    // Once the user adds a file, snapshots keep it up to date.
    let repo = git2::Repository::open(env.root()).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("notes.txt")).unwrap();
    index.write().unwrap();
    env.write("notes.txt", "my own notes, edited");
    env.write("Deck.md", &format!("{}\n---\n\nQ: q2\nA: a2\n", env.read("Deck.md")));
    env.ankiops(&["ma"]).success();
    assert!(committed_files(env.root()).contains(&"notes.txt".to_owned()));
    let head = repo.head().unwrap().peel_to_tree().unwrap();
    let blob = repo.find_blob(head.get_name("notes.txt").unwrap().id()).unwrap();
    assert_eq!(blob.content(), b"my own notes, edited");
}
