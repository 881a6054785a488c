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

#[test]
fn fenced_code_is_opaque() {
    let text = "Q: code?\nA: ```\nQ: not a label\n\n---\n\n<<<<<<< markdown\n```\nE: after\n";
    let file = roundtrip(text);
    assert_eq!(file.notes.len(), 1);
    assert_eq!(file.notes[0].fields["Answer"], "```\nQ: not a label\n\n---\n\n<<<<<<< markdown\n```");
    assert_eq!(file.notes[0].fields["Extra"], "after");
}

#[test]
fn comments_after_a_label_are_content() {
    let file = roundtrip("Q: x\n<!-- note_id: 3 -->\nA: y\n");
    assert_eq!(file.notes[0].note_id, None);
    assert_eq!(file.notes[0].fields["Question"], "x\n<!-- note_id: 3 -->");
}

#[test]
fn fields_come_in_type_order() {
    let file = roundtrip("A: y\nQ: x\n");
    let names: Vec<&str> = file.notes[0].fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["Question", "Answer"]);
    assert_eq!(render_note(&file.notes[0], &registry()), "Q: x\nA: y");
}

#[test]
fn crlf_files_stay_crlf() {
    let text = "<!-- deck_id: 1 -->\r\nQ: a\r\nA: b\r\n\r\n---\r\n\r\nQ: c\r\nA: d\r\n";
    let mut file = roundtrip(text);
    assert!(file.is_crlf());
    assert_eq!(file.notes[0].fields["Answer"], "b");
    file.notes[1].fields.insert("Answer".into(), "e\nf".into());
    assert_eq!(
        file.to_text(&registry()),
        "<!-- deck_id: 1 -->\r\nQ: a\r\nA: b\r\n\r\n---\r\n\r\nQ: c\r\nA: e\r\nf\r\n"
    );
}

#[test]
fn set_ids_touches_nothing_else() {
    let text = "Q:   odd  spacing\nA: b\n\n\n---\n\n<!-- tags: t -->\nQ: c\nA: d";
    let mut file = roundtrip(text);
    file.set_deck_id(9);
    file.set_note_id(0, 11);
    file.set_note_id(1, 12);
    assert_eq!(
        file.to_text(&registry()),
        "<!-- deck_id: 9 -->\n<!-- note_id: 11 -->\nQ:   odd  spacing\nA: b\n\n\n---\n\n<!-- note_id: 12 -->\n<!-- tags: t -->\nQ: c\nA: d\n"
    );
    file.set_note_id(0, 13);
    assert!(file.to_text(&registry()).contains("<!-- note_id: 13 -->\nQ:   odd"));
}

#[test]
fn replace_push_and_remove() {
    let text = "<!-- deck_id: 1 -->\n<!-- note_id: 1 -->\nQ:  a\nA: b\n\n---\n\n<!-- note_id: 2 -->\nQ:  c\nA: d\n";
    let mut file = roundtrip(text);
    let mut note = file.notes[1].clone();
    note.tags = vec!["x".into()];
    file.replace_note(1, note);
    file.push_note(NoteBlock {
        note_type: "AnkiOpsCloze".into(),
        fields: [("Text".to_owned(), "{{c1::new}}".to_owned())].into_iter().collect(),
        ..NoteBlock::default()
    });
    assert_eq!(
        file.to_text(&registry()),
        "<!-- deck_id: 1 -->\n<!-- note_id: 1 -->\nQ:  a\nA: b\n\n---\n\n<!-- note_id: 2 -->\n<!-- tags: x -->\nQ: c\nA: d\n\n---\n\nT: {{c1::new}}\n"
    );
    file.remove_note(0);
    assert_eq!(
        file.to_text(&registry()),
        "<!-- deck_id: 1 -->\n<!-- note_id: 2 -->\n<!-- tags: x -->\nQ: c\nA: d\n\n---\n\nT: {{c1::new}}\n"
    );
}

#[test]
fn a_new_file() {
    let mut file = DeckFile::new(Some(4));
    assert_eq!(file.to_text(&registry()), "<!-- deck_id: 4 -->\n");
    let fields = [("Question".to_owned(), "q".to_owned()), ("Answer".to_owned(), "a".to_owned())];
    file.push_note(NoteBlock {
        note_type: "AnkiOpsQA".into(),
        fields: fields.into_iter().collect(),
        ..NoteBlock::default()
    });
    file.push_note(NoteBlock {
        note_id: Some(3),
        note_type: "AnkiOpsQA".into(),
        tags: vec!["b".into(), "a".into()],
        fields: [("Question".to_owned(), "q2".to_owned())].into_iter().collect(),
        ..NoteBlock::default()
    });
    assert_eq!(
        file.to_text(&registry()),
        "<!-- deck_id: 4 -->\nQ: q\nA: a\n\n---\n\n<!-- note_id: 3 -->\n<!-- note_type: AnkiOpsQA -->\n<!-- tags: a b -->\nQ: q2\n"
    );
}

#[test]
fn conflicts_round_trip() {
    let text = "<!-- note_id: 17 -->\nQ: What?\n<<<<<<< markdown\nA: my answer\n||||||| base\nA: old answer\n=======\nA: answer from anki\n>>>>>>> anki\n\n---\n\nQ: x\n<<<<<<< markdown\n||||||| base\nE: old\n=======\nE: new\n>>>>>>> anki\nA: y\n";
    let file = roundtrip(text);
    assert_eq!(
        file.notes[0].conflicts,
        [FieldConflict {
            field: "Answer".into(),
            markdown: Some("my answer".into()),
            base: Some("old answer".into()),
            anki: Some("answer from anki".into()),
        }]
    );
    assert!(!file.notes[0].fields.contains_key("Answer"));
    assert_eq!(
        render_note(&file.notes[1], &registry()),
        "Q: x\nA: y\n<<<<<<< markdown\n||||||| base\nE: old\n=======\nE: new\n>>>>>>> anki"
    );
}

#[test]
fn conflict_markers_outgrow_marker_like_content() {
    let note = NoteBlock {
        note_type: "AnkiOpsQA".into(),
        fields: [("Question".to_owned(), "q".to_owned())].into_iter().collect(),
        conflicts: vec![FieldConflict {
            field: "Answer".into(),
            markdown: Some("```\n<<<<<<<<< x\n=======\n```".into()),
            base: None,
            anki: Some("b".into()),
        }],
        ..NoteBlock::default()
    };
    let text = render_note(&note, &registry());
    assert!(text.contains("\n<<<<<<<<<< markdown\n"), "{text}");
    let file = parse_deck(&text, &registry()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(file.notes[0].conflicts, note.conflicts);
}

#[test]
fn reports_every_error_at_once() {
    let text = "\
<!-- note_id: 1 -->
Foo: bar
Q: x
A: y

---

just text

---

<!-- note_id: 1 -->
Q: a
A: b
Q: again

---

<!-- note_id: 1 -->
<!-- tags: a -->

---

<!-- note_type: Nope -->
Q: a
A: b

---

<!-- note_id: x7 -->
Q: a
A: {{c1::b}}

---

<!-- note_type: AnkiOpsCloze -->
T: no deletion

---

Q: which?
C1: a
A: 2, x

---

Q: which?
C1: a
C2: b
A: 3

---

  Q: indented
A: x

---

Q: a
A: b
<!-- note_id: 1 -->
|||||||
";
    insta_like(
        &errors(text),
        "\
2:1: unknown field label 'Foo:'; use a label of a note type: A: AI: B: C1: C2: C3: C4: C5: C6: C7: C8: E: F: I: M: Q: T:
8:1: text before the first field label; start the field with a label such as `Q:`, or remove the text
15:1: duplicate field 'Q:' (first at line 13); merge the two into one
19:1: a note with no fields; add fields such as `Q:` and `A:`, or remove the note
24:17: unknown note type 'Nope'; use one of AnkiOpsQA, AnkiOpsReversed, AnkiOpsCloze, AnkiOpsInput, AnkiOpsChoice, or declare it in note_types/Nope/
30:15: invalid note_id 'x7': it must be a positive whole number; restore the number ankiops wrote (see the file's Git history)
32:4: note type AnkiOpsQA must not contain cloze syntax {{cN::…}}; use a cloze note (T:) or remove it
37:1: note type AnkiOpsCloze needs a cloze deletion such as {{c1::answer}}; add one, or use another note type
41:1: a choice note needs at least 2 choices; add them as C1: C2: …
43:1: answer '2, x' must list the numbers of the right choices, separated by commas; write e.g. `A: 1` or `A: 1, 3`
50:1: answer names choice 3, but there is no `C3:` choice; fix the answer or add the choice
54:3: field label 'Q:' must start at the beginning of the line; remove the indentation
62:1: conflict marker without a `<<<<<<< markdown` line before it; resolve the conflict and remove the markers
",
    );
}

#[track_caller]
fn insta_like(got: &str, expect: &str) {
    if got != expect {
        panic!("got:\n{got}\nexpected:\n{expect}");
    }
}

#[test]
fn duplicate_ids_across_notes() {
    insta_like(
        &errors("<!-- note_id: 5 -->\nQ: a\nA: b\n\n---\n\n<!-- note_id: 5 -->\nQ: c\nA: d\n"),
        "7:15: note_id 5 is used twice in this file (also at line 1); keep one of the two notes, or remove the id line of a copy so it is created as a new note\n",
    );
}

#[test]
fn malformed_conflicts() {
    insta_like(
        &errors("Q: a\n<<<<<<< markdown\nA: x\n=======\nA: y\n>>>>>>> anki\n"),
        "4:1: this conflict has no base section; add a `||||||| base` line (same length as the markers) before `=======`, or resolve the conflict\n",
    );
    insta_like(
        &errors("Q: a\n<<<<<<< markdown\nA: x\n||||||| base\n"),
        "2:1: this conflict (`<<<<<<<`) is never closed; end it with a `>>>>>>> anki` line, or resolve it\n",
    );
    insta_like(
        &errors("Q: a\n<<<<<<< markdown\nA: x\n||||||| base\n=======\nE: y\n>>>>>>> anki\n"),
        "6:1: the sides of a conflict must hold the same field, but this is 'E:' and another is 'A:'; resolve the conflict by hand\n",
    );
    insta_like(
        &errors("Q: a\nA: ```\ncode\n"),
        "2:4: this code fence is never closed, so everything after it would be code; add a closing ``` line where the code ends\n",
    );
}

#[test]
fn invalid_utf8_is_reported_once_at_its_first_position() {
    let utf8_errors = |bytes: &[u8]| -> Vec<String> {
        parse_deck_bytes(bytes, &registry()).map(|_| ()).unwrap_err().iter().map(ToString::to_string).collect()
    };
    assert_eq!(
        utf8_errors(b"Q: a\nA: b\xff\xfe c\n\xc3"),
        [
            "2:5: invalid UTF-8 (byte offset 9, and 2 more places); save the file as UTF-8, or move it out of the folder if it is not a deck file"
        ]
    );
    assert_eq!(
        utf8_errors(b"Q: \xc3\xa9\xff"),
        [
            "1:5: invalid UTF-8 (byte offset 5); save the file as UTF-8, or move it out of the folder if it is not a deck file"
        ]
    );
    assert_eq!(
        utf8_errors(b"\xef\xbb\xbfQ: a\x80"),
        [
            "1:5: invalid UTF-8 (byte offset 7); save the file as UTF-8, or move it out of the folder if it is not a deck file"
        ]
    );
}

#[test]
fn a_binary_blob_is_one_utf8_error() {
    // A PNG-like blob: thousands of invalid bytes, many "lines".
    let blob: Vec<u8> =
        b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..8000u32).map(|i| (i * 7919 % 251) as u8 | 0x80)).collect();
    let errors = parse_deck_bytes(&blob, &registry()).map(|_| ()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].column), (1, 1));
    assert!(errors[0].message.starts_with("invalid UTF-8 (byte offset 0, and "), "{}", errors[0].message);
    assert!(errors[0].message.contains("more places)"), "{}", errors[0].message);
}

#[test]
fn python_note_keys_are_kept() {
    let mut file = roundtrip("<!-- note_key: 5f61164dce7b -->\n<!-- note_type: AnkiOpsQA -->\nQ: a\nA: b\n");
    file.notes[0].fields.insert("Answer".into(), "c".into());
    assert_eq!(
        file.to_text(&registry()),
        "<!-- note_key: 5f61164dce7b -->\n<!-- note_type: AnkiOpsQA -->\nQ: a\nA: c\n"
    );
}

#[test]
fn file_names() {
    let cases = [
        ("Bio::Cells", "Bio__Cells.md"),
        ("A/B::C", "A%2FB__C.md"),
        ("Lit__eral", "Lit%5F%5Feral.md"),
        ("100%", "100%25.md"),
        ("a_::b", "a%5F__b.md"),
        ("a::_b", "a__%5Fb.md"),
        ("a___b", "a%5F%5F_b.md"),
        ("Q: what? <x> | \"y\" *", "Q%3A what%3F %3Cx%3E %7C %22y%22 %2A.md"),
        ("CON", "%43ON.md"),
        ("com1.x", "%63om1.x.md"),
        ("README", "%52EADME.md"),
        ("end.", "end%2E.md"),
        (".hidden", "%2Ehidden.md"),
        ("back\\slash", "back%5Cslash.md"),
        ("e\u{301}", "\u{e9}.md"),
    ];
    for (deck, file) in cases {
        assert_eq!(deck_to_file_name(deck), file, "{deck}");
        let back: String = unicode_normalization::UnicodeNormalization::nfc(deck).collect();
        assert_eq!(file_name_to_deck(file).as_deref(), Some(back.as_str()), "{file}");
    }
    assert_eq!(file_name_to_deck("README.md"), None);
    assert_eq!(file_name_to_deck("notes.txt"), None);
    assert_eq!(file_name_to_deck("Deck.MD").as_deref(), Some("Deck"));
    assert_eq!(file_name_to_deck("Chapter 1: Intro.md").as_deref(), Some("Chapter 1: Intro"));
    assert_eq!(deck_key("Bio::CELLS"), deck_key("bio::cells"));
    assert_eq!(deck_key("Caf\u{e9}"), deck_key("CAFE\u{301}"));
}

#[test]
fn an_equal_replacement_keeps_the_bytes() {
    let text = "<!-- tags:   b a -->\nA:   y\nQ: x\n";
    let mut file = roundtrip(text);
    let mut note = file.notes[0].clone();
    note.tags = vec!["b".into(), "a".into(), "a".into()];
    note.fields = note.fields.into_iter().rev().collect();
    note.line = 0;
    file.replace_note(0, note);
    assert_eq!(file.to_text(&registry()), text);
}

#[test]
fn a_conflict_on_the_first_field() {
    let text = "<!-- note_id: 1 -->\n<<<<<<< markdown\nQ: a\n||||||| base\nQ: b\n=======\n>>>>>>> anki\nA: x\n";
    let file = roundtrip(text);
    let note = &file.notes[0];
    assert_eq!(note.conflicts[0].field, "Question");
    assert_eq!(note.conflicts[0].anki, None);
    assert_eq!(note.fields.keys().collect::<Vec<_>>(), ["Answer"]);
    let mut fresh = DeckFile::new(None);
    fresh.push_note(note.clone());
    assert_eq!(fresh.to_text(&registry()), text);
}

#[test]
fn custom_note_types_and_explicit_types() {
    use crate::note_types::{FieldSpec, NoteKind, NoteTypeSpec};
    let mut registry = Registry::builtin();
    let field = |name: &str, prefix: &str| FieldSpec { name: name.into(), prefix: prefix.into(), required: true };
    registry.insert(NoteTypeSpec {
        name: "MyQA".into(),
        kind: NoteKind::Standard,
        fields: vec![field("Front", "Q:"), field("Back", "A:")],
    });
    let errors: Vec<String> =
        parse_deck("Q: a\nA: b\n", &registry).map(|_| ()).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "1:1: the fields fit several note types (AnkiOpsQA, MyQA): add a `<!-- note_type: Name -->` line to choose one"
        ]
    );
    let file = parse_deck("<!-- note_type: MyQA -->\nQ: a\nA: b\n", &registry).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(file.notes[0].fields["Front"], "a");
    // The writer names the type, as the labels alone are ambiguous.
    let mut note = file.notes[0].clone();
    note.note_id = Some(8);
    assert_eq!(render_note(&note, &registry), "<!-- note_id: 8 -->\n<!-- note_type: MyQA -->\nQ: a\nA: b");
}

/// Found by the `parse_deck` fuzz target: a byte order mark directly followed by a note gained a blank line.
#[test]
fn a_byte_order_mark_before_the_first_note_is_kept_as_is() {
    roundtrip("\u{feff}Q: one\nA: 1\n\n---\n\nQ: two\nA: 2\n");
    let mut file = roundtrip("\u{feff}<!-- deck_id: 3 -->\nQ: one\nA: 1\n");
    file.set_note_id(0, 9);
    assert_eq!(file.to_text(&registry()), "\u{feff}<!-- deck_id: 3 -->\n<!-- note_id: 9 -->\nQ: one\nA: 1\n");
}
