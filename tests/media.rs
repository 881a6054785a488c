//! Media end to end (docs/media.md): an image pushed, renamed under a content-hashed name when it changes,
//! pulled into a fresh folder by `am`, a reference leaving `media/` refused with nothing pushed, names as Anki
//! stores them (Check Media finds nothing missing or unused), two files Anki would store as one refused, a
//! pulled image meeting another local file of its name, and a broken deck file left as it was.

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

/// What Anki's Tools > Check Media reports: (missing, unused).
fn check_media(backend: &Backend) -> (Vec<String>, Vec<String>) {
    let out = backend.call("_testCheckMedia", json!({}));
    let list = |key: &str| -> Vec<String> {
        out[key].as_array().expect("a list").iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
    };
    (list("missing"), list("unused"))
}

/// Files Git would commit or that differ from the last commit (a run commits what it changed).
fn uncommitted(root: &Path) -> Vec<String> {
    let repo = git2::Repository::open(root).expect("open the collection's repository");
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut options)).expect("git status");
    statuses.iter().filter_map(|s| s.path().ok().map(str::to_string)).collect()
}

const NFC: &str = "na\u{ef}ve.png";
const NFD: &str = "nai\u{308}ve.png";

#[test]
fn names_anki_keeps_pass_check_media_and_a_pull_writes_the_same_markdown() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    let media = root.join("media");
    fs_err::create_dir_all(&media).unwrap();
    fs_err::write(media.join("my image (1).png"), b"\x89PNG spaces and parentheses").unwrap();
    fs_err::write(media.join("Screenshot A.svg"), b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    fs_err::write(media.join(NFD), b"\x89PNG naive, spelled NFD on disk").unwrap();
    fs_err::write(media.join("a&b.png"), b"\x89PNG ampersand").unwrap();
    // Canonical Markdown (what a pull writes), with one `<img>` the converter keeps as HTML.
    let text = format!(
        "Q: Spaces?\nA: ![one](<media/my image (1).png>)\n\n---\n\nQ: Case?\nA: ![shot](<media/Screenshot A.svg>){{width=200}}\n\n---\n\n\
         Q: NFC?\nA: ![](media/{NFC})\n\n---\n\nQ: NFD?\nA: ![](media/{NFD})\n\n---\n\n\
         Q: Ampersand?\nA: ![](media/a&b.png) <img src=\"a&amp;b.png\" class=\"big\">\n"
    );
    fs_err::write(root.join("Bio.md"), &text).unwrap();

    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "renamed media/Screenshot A.svg -> media/screenshot a.svg (the name Anki stores it under); 1 reference updated in Bio.md"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&format!("renamed media/{NFD} -> media/{NFC}")), "{}", out.stderr);
    assert!(out.stderr.contains("media: 4 uploaded"), "{}", out.stderr);
    let mut names: Vec<String> =
        fs_err::read_dir(&media).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a&b.png", "my image (1).png", NFC, "screenshot a.svg"]);
    let pushed = fs_err::read_to_string(root.join("Bio.md")).unwrap();
    assert!(pushed.contains("A: ![shot](<media/screenshot a.svg>){width=200}"), "{pushed}");
    assert_eq!(pushed.matches(&format!("A: ![](media/{NFC})")).count(), 2, "{pushed}");
    assert!(!pushed.contains(NFD), "{pushed}");
    assert!(uncommitted(root).is_empty(), "the run commits its renames: {:?}", uncommitted(root));

    let html: Vec<String> =
        anki_fields(&backend).iter().map(|f| f["Answer"]["value"].as_str().unwrap().to_string()).collect();
    for src in ["src=\"my image (1).png\"", "src=\"screenshot a.svg\"", "src=\"a&amp;b.png\""] {
        assert!(html.iter().any(|h| h.contains(src)), "no field has {src}: {html:?}");
    }
    assert!(!html.iter().any(|h| h.contains('%')), "percent-encoded: {html:?}");
    assert_eq!(check_media(&backend), (vec![], vec![]), "Anki's Check Media: (missing, unused)");

    // A pull into the same folder changes nothing; into a fresh folder it writes the same Markdown.
    let out = ankiops(root, &backend, &["am"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(fs_err::read_to_string(root.join("Bio.md")).unwrap(), pushed);
    let fresh = collection(&backend);
    let out = ankiops(fresh.path(), &backend, &["am"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("media: 4 downloaded"), "{}", out.stderr);
    assert_eq!(fs_err::read_to_string(fresh.path().join("Bio.md")).unwrap(), pushed);
    for name in names {
        assert_eq!(
            fs_err::read(fresh.path().join("media").join(&name)).unwrap(),
            fs_err::read(media.join(&name)).unwrap()
        );
    }
    let out = ankiops(fresh.path(), &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("media:"), "{}", out.stderr);
    assert_eq!(check_media(&backend), (vec![], vec![]));
}

#[test]
fn two_files_anki_would_store_as_one_name_are_an_error_and_nothing_is_uploaded() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    fs_err::create_dir_all(root.join("media")).unwrap();
    fs_err::write(root.join("media/Cell.png"), FIRST).unwrap();
    fs_err::write(root.join("media/cell.png"), SECOND).unwrap();
    let text = "Q: Upper?\nA: ![](media/Cell.png)\n\n---\n\nQ: Lower?\nA: ![](media/cell.png)\n";
    fs_err::write(root.join("Bio.md"), text).unwrap();

    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "media/Cell.png and media/cell.png differ but Anki would store both as \"cell.png\" (it ignores case and Unicode normalisation in names), so neither is uploaded"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Bio.md:2"), "the notes are named: {}", out.stderr);
    assert_eq!(backend.call("getMediaFilesNames", json!({"pattern": "*"})), json!([]));
    assert!(anki_fields(&backend).is_empty(), "no note using them is pushed");
    assert_eq!(fs_err::read_to_string(root.join("Bio.md")).unwrap(), text);
    assert_eq!(fs_err::read(root.join("media/Cell.png")).unwrap(), FIRST);
    assert_eq!(fs_err::read(root.join("media/cell.png")).unwrap(), SECOND);
}

#[test]
fn a_pull_meeting_another_local_file_of_that_name_downloads_anki_s_under_another_name() {
    const LOCAL: &[u8] = b"\x89PNG the local drawing";
    const ANKI: &[u8] = b"\x89PNG the picture in Anki";
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    fs_err::write(root.join("Bio.md"), "Q: Picture?\nA: none yet\n").unwrap();
    assert_eq!(ankiops(root, &backend, &["ma"]).code, 0);
    let id = backend.call("findNotes", json!({"query": "note:AnkiOps*"}))[0].clone();
    backend.call("storeMediaFile", json!({"filename": "cell.png", "data": base64(ANKI)}));
    backend.call("updateNoteFields", json!({"note": {"id": id, "fields": {"Answer": "<img src=\"cell.png\">"}}}));
    fs_err::create_dir_all(root.join("media")).unwrap();
    fs_err::write(root.join("media/cell.png"), LOCAL).unwrap();

    let out = ankiops(root, &backend, &["am"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let other = format!("cell-{}.png", &sha1_hex(ANKI)[..8]);
    assert!(
        out.stderr.contains(&format!(
            "Anki's media/cell.png differs from media/cell.png here, so it is downloaded as media/{other}"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(fs_err::read(root.join("media/cell.png")).unwrap(), LOCAL, "the local file is kept");
    assert_eq!(fs_err::read(root.join("media").join(&other)).unwrap(), ANKI);
    let pulled = fs_err::read_to_string(root.join("Bio.md")).unwrap();
    assert!(pulled.contains(&format!("A: ![](media/{other})")), "{pulled}");
    assert_eq!(
        anki_fields(&backend)[0]["Answer"]["value"],
        json!("<img src=\"cell.png\">"),
        "Anki's note is untouched"
    );

    // The next push sends the new name, with Anki's picture: the note never shows the local drawing.
    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let answer = anki_fields(&backend)[0]["Answer"]["value"].as_str().unwrap().to_string();
    assert!(answer.contains(&format!("src=\"{other}\"")), "{answer}");
    assert_eq!(backend.call("retrieveMediaFile", json!({"filename": other})), json!(base64(ANKI)));
    assert_eq!(backend.call("retrieveMediaFile", json!({"filename": "cell.png"})), json!(base64(ANKI)));
    assert_eq!(fs_err::read(root.join("media/cell.png")).unwrap(), LOCAL);
    // And then nothing is left to do.
    let out = ankiops(root, &backend, &["sync"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("media:"), "{}", out.stderr);
    assert_eq!(fs_err::read_to_string(root.join("Bio.md")).unwrap(), pulled);
}

#[test]
fn a_deck_file_that_does_not_parse_is_left_byte_for_byte_when_its_image_changes() {
    let backend = Backend::start();
    let dir = collection(&backend);
    let root = dir.path();
    fs_err::create_dir_all(root.join("media")).unwrap();
    fs_err::write(root.join("media/cell.png"), FIRST).unwrap();
    fs_err::write(root.join("Good.md"), "Q: Good?\nA: ![](cell.png)\n").unwrap();
    fs_err::write(root.join("Broken.md"), "Q: Broken?\nA: ![](media/cell.png)\n").unwrap();
    assert_eq!(ankiops(root, &backend, &["ma"]).code, 0);
    let broken = format!("{}\n>>>>>>> anki\n", fs_err::read_to_string(root.join("Broken.md")).unwrap());
    fs_err::write(root.join("Broken.md"), &broken).unwrap();
    fs_err::write(root.join("media/cell.png"), SECOND).unwrap();

    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let hashed = format!("cell-{}.png", &sha1_hex(SECOND)[..8]);
    assert_eq!(fs_err::read(root.join("Broken.md")).unwrap(), broken.as_bytes(), "Broken.md is left as it was");
    assert!(fs_err::read_to_string(root.join("Good.md")).unwrap().contains(&format!("![]({hashed})")));
    assert!(
        out.stderr.contains(&format!(
            "renamed media/cell.png -> media/{hashed} (changed since it was last pushed, so Anki and AnkiWeb see a new file); 1 reference updated in Good.md; media/cell.png is kept, since a deck file that does not parse refers to it"
        )),
        "{}",
        out.stderr
    );
    assert!(root.join("media/cell.png").is_file(), "Broken.md still finds its image");

    // Fixed, the next run points it at the new name too and removes the old one.
    fs_err::write(root.join("Broken.md"), broken.replace("\n>>>>>>> anki\n", "")).unwrap();
    let out = ankiops(root, &backend, &["ma"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(fs_err::read_to_string(root.join("Broken.md")).unwrap().contains(&format!("![](media/{hashed})")));
    assert!(!root.join("media/cell.png").exists());
}
