//! End-to-end tests of `serialize` / `deserialize` (no Anki needed) and of the hidden generators behind
//! `cargo xtask completions` / `cargo xtask man`, on the real binary in temp folders.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What a run printed and how it ended.
struct Out {
    stdout: Vec<u8>,
    stderr: String,
    code: i32,
}

impl Out {
    #[track_caller]
    fn success(self) -> Out {
        assert_eq!(self.code, 0, "the run failed:\n{}", self.stderr);
        self
    }
}

/// Runs the binary in `cwd`, hermetically (no user Git config, no Anki address, no colours).
fn ankiops(cwd: &Path, args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_ankiops"))
        .current_dir(cwd)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .env_remove("ANKICONNECT_URL")
        .env_remove("ANKICONNECT_API_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("run ankiops");
    Out {
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// A collection with ids, tags, every built-in type, an empty deck, a custom note type with shared CSS, and
/// media (binary and in a sub-folder).
fn fixture(root: &Path) {
    write(root, "ankiops.json", b"{\"profile\": \"User 1\"}\n");
    write(
        root,
        "Bio__Cells.md",
        "<!-- deck_id: 1700000000001 -->\n<!-- note_id: 1700000000101 -->\n<!-- tags: bio cells -->\nQ: What is a cell?\nA: The basic unit\nof **life**.\n\n---\n\n<!-- note_id: 1700000000102 -->\nT: {{c1::Mitochondria}} are the powerhouse.\nE: ![](media/mito.png)\n\n---\n\nF: front\nB: back\n"
            .as_bytes(),
    );
    write(root, "Empty.md", b"<!-- deck_id: 1700000000002 -->\n");
    write(root, "Words.md", "W: Hallo ünd `code`\nMEANING: hello\n".as_bytes());
    write(
        root,
        "note_types/Vocab/note_type.json",
        br#"{
  "fields": [
    {"name": "Word", "prefix": "W:", "required": true},
    {"name": "Meaning", "prefix": "MEANING:", "required": true}
  ],
  "templates": [{"name": "Recognise", "front": "front.html", "back": "back.html"}],
  "css": ["../_shared/colours.css", "style.css"]
}"#,
    );
    write(root, "note_types/Vocab/front.html", b"<div class=\"ao\">{{Word}}</div>\n");
    write(root, "note_types/Vocab/back.html", b"{{FrontSide}}<hr id=answer>{{Meaning}}\n");
    write(root, "note_types/Vocab/style.css", b".ao { font-size: 2em; }\n");
    write(root, "note_types/_shared/colours.css", b":root { --accent: teal; }\n");
    write(root, "media/mito.png", &[0x89, b'P', b'N', b'G', 0, 1, 2, 255]);
    write(root, "media/sub/diagram.svg", b"<svg/>\n");
}

#[test]
fn json_round_trip_gives_identical_json() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fixture(&src);

    let stdout = ankiops(&src, &["serialize"]).success().stdout;
    ankiops(&src, &["serialize", "-o", "../a.json"]).success();
    let first = read(tmp.path().join("a.json"));
    assert_eq!(stdout, first, "stdout and -o write the same document");
    let json: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(json["format"], "ankiops-collection");
    assert_eq!(json["version"], 1);
    assert_eq!(json["decks"][0]["name"], "Bio::Cells");
    assert_eq!(json["decks"][0]["notes"][0]["fields"]["Answer"], "The basic unit\nof **life**.");
    assert_eq!(json["decks"][0]["notes"][0]["tags"], serde_json::json!(["bio", "cells"]));
    assert_eq!(json["note_types"][0]["name"], "Vocab");

    let out = ankiops(tmp.path(), &["deserialize", "a.json", "-d", "copy"]).success();
    assert!(out.stderr.contains("wrote 3 deck(s), 4 note(s), 1 custom note type(s)"), "{}", out.stderr);
    let copy = tmp.path().join("copy");
    assert!(copy.join("Bio__Cells.md").is_file());
    assert!(copy.join("ankiops.json").is_file());
    assert!(!copy.join("media").exists(), "plain JSON carries no media");
    let again = ankiops(&copy, &["serialize"]).success().stdout;
    assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(first).unwrap());
    // Nothing is left behind next to the target.
    let names: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains("ankiops-tmp")), "{names:?}");
}

#[test]
fn zip_round_trip_carries_the_media() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fixture(&src);

    ankiops(&src, &["serialize", "--include-media", "-o", "../a.zip"]).success();
    let zip = read(tmp.path().join("a.zip"));
    assert!(zip.starts_with(b"PK\x03\x04"));
    // The default target is a folder named after the file.
    ankiops(tmp.path(), &["deserialize", "a.zip"]).success();
    let copy = tmp.path().join("a");
    assert_eq!(read(copy.join("media/mito.png")), read(src.join("media/mito.png")));
    assert_eq!(read(copy.join("media/sub/diagram.svg")), b"<svg/>\n");
    ankiops(&copy, &["serialize", "--include-media", "-o", "../b.zip"]).success();
    assert_eq!(read(tmp.path().join("b.zip")), zip, "the same collection gives the same zip");
}

#[test]
fn no_ids_leaves_out_every_id() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let out = ankiops(tmp.path(), &["serialize", "--no-ids"]).success();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("deck_id") && !text.contains("note_id"), "{text}");
    assert!(text.contains("Mitochondria"), "{text}");
}

#[test]
fn deserialize_refuses_a_non_empty_folder_unless_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fixture(&src);
    ankiops(&src, &["serialize", "-o", "../a.json"]).success();
    write(tmp.path(), "busy/notes.txt", b"mine");
    write(tmp.path(), "busy/ankiops.json", b"{\"profile\": \"Mine\"}\n");

    let out = ankiops(tmp.path(), &["deserialize", "a.json", "-d", "busy"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("busy is not empty"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    assert!(!tmp.path().join("busy/Bio__Cells.md").exists());

    ankiops(tmp.path(), &["deserialize", "a.json", "-d", "busy", "--overwrite"]).success();
    assert!(tmp.path().join("busy/Bio__Cells.md").is_file());
    assert_eq!(read(tmp.path().join("busy/notes.txt")), b"mine", "other files stay");
    assert_eq!(read(tmp.path().join("busy/ankiops.json")), b"{\"profile\": \"Mine\"}\n", "the config is kept");
}

#[test]
fn deserialize_refuses_a_zip_whose_entries_escape_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let collection = br#"{"format": "ankiops-collection", "version": 1, "decks": []}"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("collection.json", &collection[..]),
        ("media/ok.png", b"fine"),
        ("../escape.txt", b"owned"),
        ("/tmp/absolute.txt", b"owned"),
        ("media/../../climb.txt", b"owned"),
        ("media\\..\\..\\back.txt", b"owned"),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.add_symlink("media/link", "/etc", options).unwrap();
    write(tmp.path(), "evil.zip", &zip.finish().unwrap().into_inner());

    let out = ankiops(tmp.path(), &["deserialize", "evil.zip", "-d", "target"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    for name in
        ["\"../escape.txt\"", "\"/tmp/absolute.txt\"", "\"media/../../climb.txt\"", "back.txt", "\"media/link\""]
    {
        assert!(out.stderr.contains(name), "the refusal names {name}:\n{}", out.stderr);
    }
    assert!(out.stderr.contains("refusing 5 zip entries"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert!(!tmp.path().join("target").exists());
    assert!(!tmp.path().join("escape.txt").exists());
    assert!(!tmp.path().parent().unwrap().join("escape.txt").exists());
    assert!(!Path::new("/tmp/absolute.txt").exists());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["evil.zip"]);
}

#[test]
fn deserialize_reports_every_problem_of_a_bad_document() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "bad.json",
        br#"{"format": "ankiops-collection", "version": 1, "decks": [
              {"name": "A", "notes": [{"note_type": "Nope", "fields": {"X": "x"}}]},
              {"name": "a", "notes": []}]}"#,
    );
    let out = ankiops(tmp.path(), &["deserialize", "bad.json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unknown note type \"Nope\""), "{}", out.stderr);
    assert!(out.stderr.contains("the same Anki deck"), "{}", out.stderr);
    assert!(!tmp.path().join("bad").exists());

    write(tmp.path(), "old.json", br#"{"decks": []}"#);
    let out = ankiops(tmp.path(), &["deserialize", "old.json"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("old.json is not a serialized ankiops collection"), "{}", out.stderr);
}

#[test]
fn serialize_refuses_a_collection_with_broken_deck_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "ankiops.json", b"{}\n");
    write(tmp.path(), "Broken.md", b"Q: a question without its answer\n");
    let out = ankiops(tmp.path(), &["serialize", "-o", "out.json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("Broken.md:1:"), "{}", out.stderr);
    assert!(!tmp.path().join("out.json").exists());
}

#[test]
fn hidden_generators_write_completions_and_man_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let bash = String::from_utf8(ankiops(tmp.path(), &["generate-completions", "bash"]).success().stdout).unwrap();
    assert!(bash.contains("serialize") && bash.contains("--include-media"), "{bash}");
    assert!(!bash.contains("generate-"), "hidden commands are not completed");

    ankiops(tmp.path(), &["generate-man", "man"]).success();
    let page = String::from_utf8(read(tmp.path().join("man/ankiops.1"))).unwrap();
    assert!(page.contains(".TH ankiops"), "{page}");
    let sub = String::from_utf8(read(tmp.path().join("man/ankiops-deserialize.1"))).unwrap();
    assert!(sub.contains("overwrite"), "{sub}");
    assert!(!tmp.path().join("man/ankiops-generate-man.1").exists());

    let help = String::from_utf8(ankiops(tmp.path(), &["--help"]).success().stdout).unwrap();
    assert!(help.contains("serialize") && !help.contains("generate-"), "{help}");
}
