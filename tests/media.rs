//! Media end to end (docs/media.md): an image pushed, renamed under a content-hashed name when it changes,
//! pulled into a fresh folder by `am`, and a reference leaving `media/` refused with nothing pushed.

use std::path::Path;
use std::process::{Command, Stdio};

use ankiops_testkit::Backend;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

struct Out {
    stderr: String,
    code: i32,
}

/// Runs the real binary on `dir` against `backend`, hermetically.
fn ankiops(dir: &Path, backend: &Backend, args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_ankiops"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .arg("--url")
        .arg(backend.url())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("ANKICONNECT_API_KEY")
        .env_remove("ANKICONNECT_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run the ankiops binary");
    let out =
        Out { stderr: String::from_utf8_lossy(&output.stderr).into_owned(), code: output.status.code().unwrap_or(-1) };
    assert_ne!(out.code, 2, "`ankiops {}` could not run:\n{}", args.join(" "), out.stderr);
    out
}

/// A fresh collection folder on `backend`, `ankiops init` done.
fn collection(backend: &Backend) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("make a temp dir");
    let out = ankiops(dir.path(), backend, &["init"]);
    assert_eq!(out.code, 0, "init failed:\n{}", out.stderr);
    dir
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The field values of every managed note in Anki.
fn anki_fields(backend: &Backend) -> Vec<Value> {
    let ids = backend.call("findNotes", json!({"query": "note:AnkiOps*"}));
    let infos = backend.call("notesInfo", json!({"notes": ids}));
    infos.as_array().expect("notesInfo is a list").iter().map(|i| i["fields"].clone()).collect()
}

const FIRST: &[u8] = b"\x89PNG first version of the cell";
const SECOND: &[u8] = b"\x89PNG second version, redrawn";

#[test]
fn an_image_is_pushed_renamed_when_changed_and_pulled_into_a_fresh_folder() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    fs_err::create_dir_all(root.join("media")).unwrap();
    fs_err::write(root.join("media/cell.png"), FIRST).unwrap();
    fs_err::write(root.join("Bio.md"), "Q: What does a cell look like?\nA: ![a cell](cell.png){width=300}\n").unwrap();

    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("media: 1 uploaded"), "{}", out.stderr);
    assert_eq!(backend.call("retrieveMediaFile", json!({"filename": "cell.png"})), json!(base64(FIRST)));
    let fields = anki_fields(&backend);
    assert!(fields[0]["Answer"]["value"].as_str().unwrap().contains("<img src=\"cell.png\""), "{fields:?}");

    // Unchanged: nothing is uploaded again.
    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("uploaded"), "{}", out.stderr);

    // Changed: a new content-hashed name, on disk, in the Markdown and in Anki.
    fs_err::write(root.join("media/cell.png"), SECOND).unwrap();
    let hashed = format!("cell-{}.png", &sha1_hex(SECOND)[..8]);
    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("renamed media/cell.png -> media/{hashed}")), "{}", out.stderr);
    assert!(out.stderr.contains("1 updated"), "{}", out.stderr);
    let text = fs_err::read_to_string(root.join("Bio.md")).unwrap();
    assert!(text.contains(&format!("A: ![a cell]({hashed}){{width=300}}")), "{text}");
    assert!(!root.join("media/cell.png").exists());
    assert_eq!(fs_err::read(root.join("media").join(&hashed)).unwrap(), SECOND);
    assert_eq!(backend.call("retrieveMediaFile", json!({"filename": hashed})), json!(base64(SECOND)));
    let fields = anki_fields(&backend);
    assert!(fields[0]["Answer"]["value"].as_str().unwrap().contains(&format!("<img src=\"{hashed}\"")), "{fields:?}");

    // A fresh folder pulls the note and downloads its image.
    let fresh = collection(&backend);
    let out = ankiops(fresh.path(), &backend, &["am"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("media: 1 downloaded"), "{}", out.stderr);
    assert_eq!(fs_err::read(fresh.path().join("media").join(&hashed)).unwrap(), SECOND);
    assert!(fs_err::read_to_string(fresh.path().join("Bio.md")).unwrap().contains(&hashed));
    // Pulled media is agreed on: a push from the fresh folder uploads and renames nothing.
    let out = ankiops(fresh.path(), &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("media:"), "{}", out.stderr);
}

#[test]
fn a_reference_outside_media_is_refused_and_nothing_is_pushed() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    let text = "Q: Safe?\nA: yes\n\n---\n\nQ: What is in the password file?\nA: ![x](../../etc/passwd)\n\n---\n\nQ: And here?\nA: <img src=\"/etc/hostname\">\n";
    fs_err::write(root.join("Bio.md"), text).unwrap();

    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "Bio.md:7: new note: image \"../../etc/passwd\" points outside media/: keep images in media/ and refer to them by name"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Bio.md:12: new note: image \"/etc/hostname\" is an absolute path"), "{}", out.stderr);
    assert_eq!(anki_fields(&backend).len(), 1, "only the safe note reaches Anki");
    let written = fs_err::read_to_string(root.join("Bio.md")).unwrap();
    assert_eq!(written.matches("note_id").count(), 1, "{written}");
    assert_eq!(backend.call("getMediaFilesNames", json!({"pattern": "*passwd*"})), json!([]));
    assert_eq!(backend.call("getMediaFilesNames", json!({"pattern": "*hostname*"})), json!([]));
}

#[test]
fn a_name_from_anki_never_writes_outside_media() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    fs_err::write(root.join("Bio.md"), "Q: Pictures?\nA: none yet\n").unwrap();
    assert_eq!(ankiops(root, &backend, &["ma"]).code, 0);
    let id = backend.call("findNotes", json!({"query": "note:AnkiOps*"}))[0].clone();
    for name in ["ankiops-escape-test.png", "ok.png"] {
        backend.call("storeMediaFile", json!({"filename": name, "data": base64(b"bytes")}));
    }
    let html = "<img src=\"../ankiops-escape-test.png\"> <img src=\"ok.png\">";
    backend.call("updateNoteFields", json!({"note": {"id": id, "fields": {"Answer": html}}}));

    let out = ankiops(root, &backend, &["am"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("ankiops-escape-test.png\" from Anki points outside media/, so it was not downloaded"),
        "{}",
        out.stderr
    );
    assert_eq!(fs_err::read(root.join("media/ok.png")).unwrap(), b"bytes");
    assert!(!root.join("ankiops-escape-test.png").exists());
    assert!(!root.parent().unwrap().join("ankiops-escape-test.png").exists());
    assert!(!root.join("media/ankiops-escape-test.png").exists());
}
