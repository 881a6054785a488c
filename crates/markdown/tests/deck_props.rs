//! Property tests of the deck-file format: `parse(write(notes)) == notes` for generated notes (fields full
//! of separators, labels, comments and conflict markers inside code fences), `write(parse(x)) == x` for
//! writer output (LF and CRLF) and for any text that parses, and no panic on hostile input.

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{
    DeckFile, FieldConflict, NoteBlock, deck_key, deck_to_file_name, file_name_to_deck, parse_deck, parse_deck_bytes,
};
use indexmap::IndexMap;
use proptest::prelude::*;

/// Lines that are content anywhere in a field.
const SAFE_LINES: &[&str] = &[
    "Note: not a label",
    "<!-- note_id: 3 -->",
    "<!-- tags: a b -->",
    "<!-- note_type: AnkiOpsCloze -->",
    "  Q: indented, so content",
    "=======",
    "===",
    "***",
    "--- not a separator",
    "- a list item",
    "> a quote",
    "$x_1$ and \\(y_2\\)",
    "| a | b |",
];

/// Lines that would be structure outside code, and are content inside it.
const CODE_LINES: &[&str] = &[
    "---",
    "",
    "Q: inside code",
    "A:",
    "<<<<<<< markdown",
    "||||||| base",
    "=======",
    ">>>>>>> anki",
    "<<<<<<<<<<<< longer",
    "<!-- note_id: 1 -->",
    "<!-- deck_id: 1 -->",
    "~~~",
    "  ```",
];

fn text_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "w[a-z0-9 *_#.,!?()\\[\\]`]{0,24}",
        1 => prop::sample::select(SAFE_LINES).prop_map(str::to_owned),
        1 => Just(String::new()),
    ]
}

fn code_block() -> impl Strategy<Value = String> {
    (prop::bool::ANY, prop::collection::vec(prop::sample::select(CODE_LINES), 0..6), "[a-z]{0,6}").prop_map(
        |(backticks, lines, info)| {
            let fence = if backticks { "```" } else { "~~~~" };
            let mut out = format!("{fence}{info}\n");
            // A line of backticks would close a ``` fence (`~~~` closes no ~~~~ fence).
            for l in lines.into_iter().filter(|l| !(backticks && l.trim_start().starts_with("```"))) {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str(fence);
            out
        },
    )
}

/// A field value as the converter would produce it: trimmed, separators and labels only inside code.
fn field_value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![3 => text_line(), 1 => code_block()], 0..6).prop_map(|parts| {
        let joined = parts.join("\n");
        joined.trim_matches(|c: char| c.is_ascii_whitespace()).to_owned()
    })
}

fn non_empty_value() -> impl Strategy<Value = String> {
    field_value().prop_map(|v| if v.is_empty() { "w".to_owned() } else { v })
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z][a-z0-9:_-]{0,8}", 0..4).prop_map(|mut t| {
        t.sort();
        t.dedup();
        t
    })
}

fn side() -> impl Strategy<Value = Option<String>> {
    prop::option::of(field_value())
}

/// A valid note of a built-in type; maybe with one field in conflict.
fn note() -> impl Strategy<Value = NoteBlock> {
    let kind = 0..5usize;
    (
        kind,
        prop::collection::vec(non_empty_value(), 8),
        prop::collection::vec(prop::option::of(field_value()), 3),
        tags(),
        prop::option::of((side(), side(), side())),
        0..4usize,
    )
        .prop_map(|(kind, values, optional, tags, conflict, choices)| {
            let mut fields: Vec<(&str, String)> = Vec::new();
            let note_type = match kind {
                0 => {
                    fields.push(("Question", values[0].clone()));
                    fields.push(("Answer", values[1].clone()));
                    "AnkiOpsQA"
                }
                1 => {
                    fields.push(("Front", values[0].clone()));
                    fields.push(("Back", values[1].clone()));
                    "AnkiOpsReversed"
                }
                2 => {
                    fields.push(("Text", format!("{}\n{{{{c1::x}}}}", values[0])));
                    "AnkiOpsCloze"
                }
                3 => {
                    fields.push(("Question", values[0].clone()));
                    fields.push(("Input", values[1].clone()));
                    "AnkiOpsInput"
                }
                _ => {
                    fields.push(("Question", values[0].clone()));
                    for i in 0..choices + 2 {
                        fields.push((
                            ["Choice 1", "Choice 2", "Choice 3", "Choice 4", "Choice 5"][i],
                            values[i + 1].clone(),
                        ));
                    }
                    fields.push(("Answer", if choices % 2 == 0 { "1".into() } else { "1, 2".into() }));
                    "AnkiOpsChoice"
                }
            };
            for (name, value) in ["Extra", "More", "AI Notes"].iter().zip(optional) {
                if let Some(v) = value {
                    fields.push((name, v));
                }
            }
            let mut conflicts = Vec::new();
            if let Some((markdown, base, anki)) = conflict {
                // The conflict replaces the last field (or adds Extra when all three sides are absent).
                let (name, _) = fields.pop().unwrap_or(("Extra", String::new()));
                let markdown =
                    if markdown.is_none() && base.is_none() && anki.is_none() { Some(String::new()) } else { markdown };
                conflicts.push(FieldConflict { field: name.to_owned(), markdown, base, anki });
            }
            NoteBlock {
                note_id: None,
                note_type: note_type.to_owned(),
                tags,
                fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<IndexMap<_, _>>(),
                conflicts,
                line: 0,
            }
        })
}

fn deck() -> impl Strategy<Value = (Option<i64>, Vec<(Option<bool>, NoteBlock)>)> {
    (prop::option::of(1i64..i64::MAX), prop::collection::vec((prop::option::of(prop::bool::ANY), note()), 0..6))
}

/// Notes with unique ids where the generator asked for one.
fn with_ids(notes: Vec<(Option<bool>, NoteBlock)>) -> Vec<NoteBlock> {
    notes
        .into_iter()
        .enumerate()
        .map(|(i, (id, mut note))| {
            note.note_id = id.map(|_| 1_700_000_000_000 + i as i64);
            note
        })
        .collect()
}

fn same_notes(a: &[NoteBlock], b: &[NoteBlock]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.note_id == y.note_id
                && x.note_type == y.note_type
                && x.tags == y.tags
                && x.fields.iter().eq(y.fields.iter())
                && x.conflicts == y.conflicts
        })
}

fn write(deck_id: Option<i64>, notes: &[NoteBlock], registry: &Registry) -> String {
    let mut file = DeckFile::new(deck_id);
    for note in notes {
        file.push_note(note.clone());
    }
    file.to_text(registry)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_write_gives_the_notes_back((deck_id, notes) in deck()) {
        let registry = Registry::builtin();
        let notes = with_ids(notes);
        let text = write(deck_id, &notes, &registry);
        let parsed = parse_deck(&text, &registry);
        prop_assert!(parsed.is_ok(), "{text}\n{parsed:?}");
        let Ok(parsed) = parsed else { return Ok(()) };
        prop_assert_eq!(parsed.deck_id, deck_id);
        prop_assert!(same_notes(&parsed.notes, &notes), "{text}\n{:#?}\n{:#?}", parsed.notes, notes);
    }

    #[test]
    fn write_of_parse_gives_the_same_bytes((deck_id, notes) in deck(), crlf in prop::bool::ANY) {
        let registry = Registry::builtin();
        let mut text = write(deck_id, &with_ids(notes), &registry);
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let parsed = parse_deck(&text, &registry);
        prop_assert!(parsed.is_ok(), "{text}\n{parsed:?}");
        let Ok(parsed) = parsed else { return Ok(()) };
        prop_assert_eq!(parsed.to_text(&registry), text);
    }

    #[test]
    fn changing_one_note_rewrites_only_that_note((deck_id, notes) in deck(), other in note(), at in any::<prop::sample::Index>()) {
        let registry = Registry::builtin();
        let notes = with_ids(notes);
        prop_assume!(!notes.is_empty());
        let text = write(deck_id, &notes, &registry);
        let Ok(mut file) = parse_deck(&text, &registry) else { return Err(TestCaseError::fail(text)) };
        let i = at.index(notes.len());
        let mut expected = notes.clone();
        expected[i] = NoteBlock { note_id: notes[i].note_id, ..other.clone() };
        file.replace_note(i, expected[i].clone());
        prop_assert_eq!(file.to_text(&registry), write(deck_id, &expected, &registry));
        file.set_note_id(i, 42);
        expected[i].note_id = Some(42);
        prop_assert_eq!(file.to_text(&registry), write(deck_id, &expected, &registry));
    }

    /// Any text that parses is written back unchanged, and nothing panics.
    #[test]
    fn any_text_that_parses_is_kept(parts in prop::collection::vec(prop_oneof![
        Just("---".to_owned()), Just(String::new()), Just("Q: q".to_owned()), Just("A: a".to_owned()),
        Just("T: {{c1::x}}".to_owned()), Just("E:".to_owned()), Just("```".to_owned()), Just("~~~".to_owned()),
        Just("<!-- note_id: 7 -->".to_owned()), Just("<!-- tags: b a -->".to_owned()), Just("<!-- deck_id: 1 -->".to_owned()),
        Just("<<<<<<< markdown".to_owned()), Just("||||||| base".to_owned()), Just("=======".to_owned()),
        Just(">>>>>>> anki".to_owned()), Just("   ".to_owned()), Just("\r".to_owned()), Just("\u{feff}".to_owned()),
        "[ -~]{0,12}",
        ".{0,12}",
    ], 0..24)) {
        let registry = Registry::builtin();
        let text = parts.join("\n");
        let _ = parse_deck_bytes(text.as_bytes(), &registry);
        if let Ok(file) = parse_deck(&text, &registry) {
            prop_assert_eq!(file.to_text(&registry), text);
        }
    }

    #[test]
    fn file_names_are_reversible(deck in "[a-zA-Z0-9 _:%/\\\\*?\"<>|.é-]{1,16}") {
        let name = deck_to_file_name(&deck);
        prop_assert_eq!(file_name_to_deck(&name), Some(deck.clone()), "{}", name);
        prop_assert!(!name[..name.len() - 3].contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|']));
        prop_assert!(!name.contains("___"));
        prop_assert_eq!(deck_key(&deck), deck_key(&deck.to_uppercase()));
    }
}
