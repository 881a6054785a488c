//! Collaborating through Git (docs/collaborate.md): real `git merge`s of two branches of a collection folder,
//! with `ankiops merge-file` as the merge driver `init` registered, then the next runs against Anki.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Env, note_ids};

/// Runs the git binary in `dir`, hermetically: no user or system config, a fixed author and time.
fn git_in(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T12:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T12:00:00Z")
        .output()
        .expect("run git")
}

#[track_caller]
fn git(env: &Env, args: &[&str]) -> String {
    let out = git_in(env.root(), args);
    assert!(out.status.success(), "git {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git merge feature`: whether it merged cleanly, and what it printed on stderr (the driver's messages).
fn merge(env: &Env) -> (bool, String) {
    let out = git_in(env.root(), &["merge", "--no-edit", "feature"]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

const DECK: &str = "Q: one\nA: uno\n\n---\n\nQ: two\nA: dos\n";

/// A collection with two notes in Anki (`Bio.md`, ids written back and committed), and its two ids.
fn collection() -> (Env, i64, i64) {
    let env = Env::new();
    let driver = git(&env, &["config", "--get", "merge.ankiops.driver"]);
    assert_eq!(
        driver.trim(),
        format!(
            "{} merge-file %O %A %B --path %P --base-label %S --ours-label %X --theirs-label %Y",
            env!("CARGO_BIN_EXE_ankiops")
        ),
        "init points the driver at this ankiops, which is not on PATH"
    );
    assert!(env.read(".gitattributes").contains("*.md merge=ankiops\n"));
    env.write("Bio.md", DECK);
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("Bio.md"));
    assert_eq!(git(&env, &["status", "--porcelain"]), "", "ma committed everything");
    (env, ids[0], ids[1])
}

/// Edits `Bio.md` on a new branch `feature` (committed), then on the branch we started from (committed).
fn branches(env: &Env, feature: impl Fn(&str) -> String, ours: impl Fn(&str) -> String) {
    git(env, &["checkout", "-q", "-b", "feature"]);
    env.write("Bio.md", &feature(&env.read("Bio.md")));
    git(env, &["commit", "-q", "-am", "feature"]);
    git(env, &["checkout", "-q", "-"]);
    env.write("Bio.md", &ours(&env.read("Bio.md")));
    git(env, &["commit", "-q", "-am", "ours"]);
}

#[test]
fn different_fields_of_one_note_merge_cleanly_and_ma_pushes_exactly_the_merge() {
    let (env, one, two) = collection();
    let before = env.anki_notes();
    branches(&env, |t| t.replace("Q: one", "Q: one, asked better"), |t| t.replace("A: uno", "A: uno (Spanish)"));
    let (clean, said) = merge(&env);
    assert!(clean, "{said}");
    let text = env.read("Bio.md");
    assert!(text.contains("Q: one, asked better\nA: uno (Spanish)\n"), "{text}");
    assert_eq!(note_ids(&text), [one, two]);

    let run = env.ankiops(&["ma", "--json"]).success();
    assert_eq!(run.json()["summary"]["anki_updated"], 1, "{}", run.snapshot());
    let mut expect = before.clone();
    let note = expect.iter_mut().find(|n| n.id == one).unwrap();
    note.fields.insert("Question".into(), "one, asked better".into());
    note.fields.insert("Answer".into(), "uno (Spanish)".into());
    assert_eq!(env.anki_notes(), expect, "Anki got the merged note and nothing else");
    assert_eq!(env.read("Bio.md"), text, "ma had nothing to write back");
    let status = env.ankiops(&["status", "--json"]).success();
    assert_eq!(status.json()["summary"]["anki_updated"], 0, "{}", status.snapshot());
}

#[test]
fn the_same_field_becomes_conflict_markers_that_sync_reports_and_never_pushes() {
    let (env, one, _) = collection();
    branches(&env, |t| t.replace("A: uno", "A: UNO"), |t| t.replace("A: uno", "A: uno!"));
    let (clean, said) = merge(&env);
    assert!(!clean, "{said}");
    assert!(
        said.contains(&format!("Bio.md:2: note {one}: field 'Answer' changed differently on both sides")),
        "{said}"
    );
    let text = env.read("Bio.md");
    assert!(text.contains("<<<<<<< HEAD\nA: uno!\n||||||| "), "{text}");
    assert!(text.contains("\nA: uno\n=======\nA: UNO\n>>>>>>> feature\n"), "{text}");

    let status = env.ankiops(&["status"]);
    assert!(status.stderr.contains("still has conflict markers"), "{}", status.snapshot());
    // Committed as it is, the conflict reaches the next sync, which leaves the note alone in Anki.
    git(&env, &["commit", "-q", "-am", "merge with a conflict"]);
    let sync = env.ankiops(&["sync", "--yes"]);
    assert!(sync.stderr.contains("still has conflict markers"), "{}", sync.snapshot());
    assert_eq!(env.anki_note(one).fields["Answer"], "uno");
    assert_eq!(env.read("Bio.md"), text, "the markers stay until you resolve them");

    // Resolved by hand, the kept side goes to Anki.
    let resolved =
        text.replace(&text[text.find("<<<<<<<").unwrap()..text.find(">>>>>>> feature\n").unwrap() + 16], "A: uno!\n");
    env.write("Bio.md", &resolved);
    env.ankiops(&["sync", "--yes"]).success();
    assert_eq!(env.anki_note(one).fields["Answer"], "uno!");
}

#[test]
fn notes_added_on_both_sides_at_the_end_are_all_kept_and_created() {
    let (env, one, two) = collection();
    branches(
        &env,
        // One of theirs comes from another profile: an id this Anki does not know.
        |t| format!("{t}\n---\n\nQ: theirs 1\nA: t1\n\n---\n\n<!-- note_id: 999 -->\nQ: theirs 2\nA: t2\n"),
        |t| format!("{t}\n---\n\nQ: ours 1\nA: o1\n\n---\n\nQ: ours 2\nA: o2\n"),
    );
    let (clean, said) = merge(&env);
    assert!(clean, "{said}");
    let text = env.read("Bio.md");
    let order: Vec<&str> = text.lines().filter(|l| l.starts_with("Q: ")).collect();
    assert_eq!(order, ["Q: one", "Q: two", "Q: ours 1", "Q: ours 2", "Q: theirs 1", "Q: theirs 2"], "{text}");

    let run = env.ankiops(&["ma", "--json"]).success();
    assert_eq!(run.json()["summary"]["anki_created"], 4, "{}", run.snapshot());
    assert!(run.stdout.contains("note_id 999 is not in Anki"), "{}", run.snapshot());
    let ids = note_ids(&env.read("Bio.md"));
    assert_eq!(ids.len(), 6);
    assert_eq!(&ids[..2], [one, two]);
    assert!(!ids.contains(&999), "the unknown id is replaced by the one this Anki gave");
    let questions: Vec<String> = env.anki_notes().iter().map(|n| n.fields["Question"].clone()).collect();
    assert_eq!(questions.len(), 6, "{questions:?}");
}

#[test]
fn deleted_on_one_side_and_edited_on_the_other_is_a_conflict_that_keeps_the_note() {
    let (env, one, two) = collection();
    let without_one = |t: &str| t[t.find("\n---\n\n").unwrap() + 6..].to_owned();
    branches(&env, |t| t.replace("A: uno", "A: uno, edited"), without_one);
    let (clean, said) = merge(&env);
    assert!(!clean, "{said}");
    assert!(said.contains(&format!("note {one}: deleted on our side and edited on theirs")), "{said}");
    let text = env.read("Bio.md");
    assert_eq!(note_ids(&text), [one, two], "{text}");
    assert!(text.contains("<<<<<<< HEAD (deleted the note)\n||||||| "), "{text}");
    assert!(text.contains("=======\nA: uno, edited\n>>>>>>> feature\n"), "{text}");

    let status = env.ankiops(&["status", "--json"]);
    assert!(status.stdout.contains("still has conflict markers"), "{}", status.snapshot());
    assert_eq!(status.json()["summary"]["anki_deleted"], 0, "{}", status.snapshot());
    git(&env, &["commit", "-q", "-am", "merge with a conflict"]);
    env.ankiops(&["ma", "--yes"]);
    assert_eq!(env.anki_note(one).fields["Answer"], "uno", "neither deleted nor updated while unresolved");
}

#[test]
fn a_side_that_does_not_parse_falls_back_to_the_line_merge_with_a_message() {
    let (env, _, _) = collection();
    branches(&env, |t| t.replace("Q: two", "Question: two"), |t| t.replace("A: uno", "A: uno!"));
    let (clean, said) = merge(&env);
    assert!(said.contains("their version (feature) of Bio.md does not parse at Bio.md:"), "{said}");
    assert!(said.contains("unknown field label 'Question:'"), "{said}");
    assert!(said.contains("merged line by line with `git merge-file`"), "{said}");
    // The two edits are far enough apart for Git's line merge to take both.
    assert!(clean, "{said}");
    let text = env.read("Bio.md");
    assert!(text.contains("A: uno!") && text.contains("Question: two"), "{text}");
}

#[test]
fn git_setup_registers_the_driver_in_a_clone() {
    let (env, _, _) = collection();
    let clone = tempfile::tempdir().unwrap();
    let out = git_in(env.root(), &["clone", "-q", ".", &clone.path().to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let driver =
        |dir: &Path| String::from_utf8_lossy(&git_in(dir, &["config", "merge.ankiops.driver"]).stdout).into_owned();
    assert_eq!(driver(clone.path()), "", "a clone does not copy the repository's config");
    let setup = Command::new(env!("CARGO_BIN_EXE_ankiops"))
        .args(["git-setup", "--dir"])
        .arg(clone.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    assert!(String::from_utf8_lossy(&setup.stderr).contains("registered the merge driver"));
    assert!(driver(clone.path()).contains(" merge-file %O %A %B --path %P"));
    // .gitattributes came with the clone and is left as it was.
    assert_eq!(fs_err::read_to_string(clone.path().join(".gitattributes")).unwrap(), env.read(".gitattributes"));
    let again = Command::new(env!("CARGO_BIN_EXE_ankiops"))
        .args(["git-setup", "--dir"])
        .arg(clone.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("already set up"));
}
