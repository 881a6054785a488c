//! Snapshot tests of the deck-file corpus in `tests/data/deck/`: each `NAME.md` is parsed and the result
//! (notes, or every error) compared with `NAME.expected`; valid files must also be written back byte for
//! byte. `UPDATE_EXPECT=1 cargo test -p ankiops-markdown --test deck_corpus` rewrites the expected files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckFile, parse_deck_bytes};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/deck")
}

/// A readable dump of a parsed file.
fn dump(file: &DeckFile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "deck_id: {:?}", file.deck_id);
    let _ = writeln!(out, "crlf: {}", file.is_crlf());
    for (i, note) in file.notes.iter().enumerate() {
        let _ = writeln!(out, "\n# note {} (line {})", i + 1, note.line);
        let _ = writeln!(out, "note_id: {:?}", note.note_id);
        let _ = writeln!(out, "note_type: {}", note.note_type);
        let _ = writeln!(out, "tags: {:?}", note.tags);
        for (name, value) in &note.fields {
            let _ = writeln!(out, "field {name}:");
            indent(&mut out, value);
        }
        for c in &note.conflicts {
            let _ = writeln!(out, "conflict {}:", c.field);
            for (side, value) in [("markdown", &c.markdown), ("base", &c.base), ("anki", &c.anki)] {
                match value {
                    None => {
                        let _ = writeln!(out, "  {side}: (absent)");
                    }
                    Some(v) => {
                        let _ = writeln!(out, "  {side}:");
                        indent(&mut out, v);
                    }
                }
            }
        }
    }
    out
}

fn indent(out: &mut String, value: &str) {
    for line in value.split('\n') {
        let _ = writeln!(out, "    |{line}");
    }
}

#[test]
fn corpus() {
    let registry = Registry::builtin();
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/deck is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the corpus is missing: {inputs:?}");
    let mut failures = Vec::new();
    for input in inputs {
        let bytes = std::fs::read(&input).expect("input is readable");
        let got = match parse_deck_bytes(&bytes, &registry) {
            Ok(file) => {
                let written = file.to_text(&registry);
                if written.as_bytes() != bytes.as_slice() {
                    failures.push(format!("{}: written back differently:\n{written}", input.display()));
                }
                format!("ok\n{}", dump(&file))
            }
            Err(errors) => errors.iter().map(|e| format!("error {e}\n")).collect(),
        };
        let expected_path = input.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).expect("expected file is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}: got\n{got}\nexpected ({}):\n{expected}",
                input.display(),
                expected_path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n(UPDATE_EXPECT=1 rewrites the expected files)", failures.join("\n\n"));
}
