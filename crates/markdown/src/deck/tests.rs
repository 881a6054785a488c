//! Unit tests of the deck-file parser and writer: inline fixtures, checked against expected text.

use super::*;

fn registry() -> Registry {
    Registry::builtin()
}

#[track_caller]
fn roundtrip(text: &str) -> DeckFile {
    let file = parse_deck(text, &registry()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(file.to_text(&registry()), text);
    file
}

#[track_caller]
fn errors(text: &str) -> String {
    match parse_deck(text, &registry()) {
        Ok(file) => panic!("expected errors, got {file:?}"),
        Err(errors) => errors.iter().map(|e| format!("{e}\n")).collect(),
    }
}

#[test]
fn parses_a_simple_file() {
    let file = roundtrip("<!-- deck_id: 5 -->\n<!-- note_id: 17 -->\nQ: What?\nA: That.\n\n---\n\nT: {{c1::x}} y\n");
    assert_eq!(file.deck_id, Some(5));
    assert_eq!(file.notes.len(), 2);
    assert_eq!(file.notes[0].note_id, Some(17));
    assert_eq!(file.notes[0].note_type, "AnkiOpsQA");
    assert_eq!(file.notes[0].line, 2);
    assert_eq!(file.notes[1].note_type, "AnkiOpsCloze");
    assert_eq!(file.notes[1].line, 8);
}
