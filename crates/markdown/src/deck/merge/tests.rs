//! Unit tests of the deck-file merge: base, ours and theirs as inline text, the merged text and its conflicts out.

use super::*;

fn registry() -> Registry {
    Registry::builtin()
}

const LABELS: MergeLabels<'static> = MergeLabels { ours: "HEAD", base: "merged common ancestors", theirs: "feature" };

#[track_caller]
fn parse(text: &str) -> DeckFile {
    parse_deck(text, &registry()).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// Merges the three texts; the conflicts as `line: note id: kind` lines.
#[track_caller]
fn merge(base: &str, ours: &str, theirs: &str) -> (String, String) {
    let merged = merge_deck(&parse(base), &parse(ours), &parse(theirs), &registry(), LABELS);
    let conflicts = merged
        .conflicts
        .iter()
        .map(|c| format!("{}: {}: {}\n", c.line, c.note_id.map_or("new".to_owned(), |id| id.to_string()), c.kind))
        .collect();
    (merged.text, conflicts)
}

/// A clean merge giving `expect`, which parses.
#[track_caller]
fn clean(base: &str, ours: &str, theirs: &str, expect: &str) {
    let (text, conflicts) = merge(base, ours, theirs);
    assert_eq!(conflicts, "", "expected a clean merge of\n{text}");
    assert_eq!(text, expect);
    parse(&text);
}

const BASE: &str = "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ: one\nA: uno\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n";

#[test]
fn nothing_changed_keeps_the_bytes() {
    let odd = "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ:   one  \nA: uno\n\n\n---\n\n<!-- note_id: 20 -->\nQ: two\nA: dos";
    clean(odd, odd, odd, odd);
}

#[test]
fn different_fields_of_one_note_merge() {
    let ours = BASE.replace("A: uno", "A: uno (ours)");
    let theirs = BASE.replace("Q: one", "Q: one (theirs)");
    clean(
        BASE,
        &ours,
        &theirs,
        "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ: one (theirs)\nA: uno (ours)\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n",
    );
}

#[test]
fn a_field_added_on_one_side_and_another_edited_on_the_other() {
    let ours = BASE.replace("A: dos", "A: dos\nE: extra");
    let theirs = BASE.replace("Q: two", "Q: two?");
    clean(
        BASE,
        &ours,
        &theirs,
        "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ: one\nA: uno\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two?\nA: dos\nE: extra\n",
    );
}

#[test]
fn the_same_edit_on_both_sides_is_no_conflict() {
    let both = BASE.replace("A: uno", "A: one in Spanish");
    // Trailing spaces are not an edit: equality is on canonical Markdown.
    let spaced = BASE.replace("A: uno", "A: one in Spanish   ");
    clean(BASE, &both, &spaced, &both);
}

#[test]
fn the_same_field_edited_differently_is_a_conflict_labelled_with_the_branches() {
    let ours = BASE.replace("A: uno", "A: uno!");
    let theirs = BASE.replace("A: uno", "A: UNO");
    let (text, conflicts) = merge(BASE, &ours, &theirs);
    assert_eq!(
        text,
        "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ: one\n<<<<<<< HEAD\nA: uno!\n||||||| merged common ancestors\nA: uno\n=======\nA: UNO\n>>>>>>> feature\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n"
    );
    assert_eq!(
        conflicts,
        "2: 10: field 'Answer' changed differently on both sides; keep the version you want between the markers\n"
    );
    // The next sync reads it as an unresolved conflict, with both sides.
    let file = parse(&text);
    assert_eq!(
        file.notes[0].conflicts,
        [FieldConflict {
            field: "Answer".into(),
            markdown: Some("uno!".into()),
            base: Some("uno".into()),
            anki: Some("UNO".into()),
        }]
    );
}

#[test]
fn a_field_removed_on_one_side_and_edited_on_the_other_is_a_conflict() {
    let base = "Q: q\nA: a\nE: extra\n";
    let (text, conflicts) = merge(base, "Q: q\nA: a\n", "Q: q\nA: a\nE: more extra\n");
    assert_eq!(
        text,
        "Q: q\nA: a\n<<<<<<< HEAD\n||||||| merged common ancestors\nE: extra\n=======\nE: more extra\n>>>>>>> feature\n"
    );
    assert_eq!(
        conflicts,
        "1: new: field 'Extra' changed differently on both sides; keep the version you want between the markers\n"
    );
    assert!(parse(&text).notes[0].has_conflicts());
}

#[test]
fn notes_added_at_the_end_on_both_sides_are_all_kept_ours_first() {
    let ours = format!("{BASE}\n---\n\nQ: ours 1\nA: a\n\n---\n\nQ: ours 2\nA: a\n");
    let theirs = format!("{BASE}\n---\n\nQ: theirs 1\nA: a\n\n---\n\nQ: theirs 2\nA: a\n");
    clean(
        BASE,
        &ours,
        &theirs,
        &format!(
            "{BASE}\n---\n\nQ: ours 1\nA: a\n\n---\n\nQ: ours 2\nA: a\n\n---\n\nQ: theirs 1\nA: a\n\n---\n\nQ: theirs 2\nA: a\n"
        ),
    );
}

#[test]
fn the_same_new_note_on_both_sides_is_kept_once() {
    let both = format!("{BASE}\n---\n\nQ: same\nA: a\n");
    clean(BASE, &both, &both, &both);
}

#[test]
fn a_note_inserted_in_the_middle_goes_after_the_note_it_followed() {
    let base = "<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n\n---\n\n<!-- note_id: 3 -->\nQ: c\nA: c\n";
    let ours = base.replace("Q: c", "Q:   c, spaced as ours wrote it");
    let theirs = base.replace("Q: b\nA: b\n", "Q: b\nA: b\n\n---\n\nQ: new after b\nA:  x\n");
    clean(
        base,
        &ours,
        &theirs,
        "<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n\n---\n\nQ: new after b\nA:  x\n\n---\n\n<!-- note_id: 3 -->\nQ:   c, spaced as ours wrote it\nA: c\n",
    );
    // A new note at the very start stays first.
    let theirs = format!("Q: first\nA: f\n\n---\n\n{base}");
    clean(base, base, &theirs, &theirs);
}

#[test]
fn a_note_deleted_on_one_side_and_untouched_on_the_other_is_deleted() {
    let without_10 = "<!-- deck_id: 1 -->\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n";
    clean(BASE, BASE, without_10, without_10);
    clean(BASE, without_10, BASE, without_10);
    let ours = BASE.replace("A: dos", "A: dos!");
    clean(BASE, &ours, without_10, "<!-- deck_id: 1 -->\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos!\n");
}

#[test]
fn deleted_on_one_side_and_edited_on_the_other_is_a_conflict_that_keeps_the_note() {
    let without_10 = "<!-- deck_id: 1 -->\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n";
    let edited = BASE.replace("A: uno", "A: uno, edited");
    let (text, conflicts) = merge(BASE, without_10, &edited);
    assert_eq!(
        text,
        "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\n<<<<<<< HEAD (deleted the note)\n||||||| merged common ancestors\nQ: one\n=======\nQ: one\n>>>>>>> feature\n<<<<<<< HEAD (deleted the note)\n||||||| merged common ancestors\nA: uno\n=======\nA: uno, edited\n>>>>>>> feature\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: a b -->\nQ: two\nA: dos\n"
    );
    assert_eq!(
        conflicts,
        "2: 10: deleted on our side and edited on theirs; remove the note to delete it, or remove the markers to keep it\n"
    );
    let note = &parse(&text).notes[0];
    assert_eq!(note.note_id, Some(10));
    assert!(note.has_conflicts() && note.fields.is_empty());

    let (text, conflicts) = merge(BASE, &edited, without_10);
    assert!(text.contains("<<<<<<< HEAD\nA: uno, edited\n||||||| merged common ancestors\nA: uno\n=======\n>>>>>>> feature (deleted the note)\n"), "{text}");
    assert!(conflicts.contains("10: edited on our side and deleted on theirs"), "{conflicts}");
    assert!(parse(&text).notes[0].has_conflicts());
}

#[test]
fn tags_merge_one_by_one() {
    let ours = BASE.replace("<!-- tags: a b -->", "<!-- tags: a b c -->");
    let theirs = BASE.replace("<!-- tags: a b -->", "<!-- tags: b -->");
    clean(
        BASE,
        &ours,
        &theirs,
        "<!-- deck_id: 1 -->\n<!-- note_id: 10 -->\nQ: one\nA: uno\n\n---\n\n<!-- note_id: 20 -->\n<!-- tags: b c -->\nQ: two\nA: dos\n",
    );
}

#[test]
fn a_note_type_changed_on_one_side_is_taken_with_the_other_sides_tags() {
    let base = "<!-- note_id: 5 -->\n<!-- tags: t -->\nQ: front\nA: back\n";
    let ours = "<!-- note_id: 5 -->\n<!-- tags: t u -->\nQ: front\nA: back\n";
    let theirs = "<!-- note_id: 5 -->\n<!-- tags: t -->\nF: front\nB: back\n";
    clean(base, ours, theirs, "<!-- note_id: 5 -->\n<!-- tags: t u -->\nF: front\nB: back\n");
}

#[test]
fn a_note_type_changed_while_the_other_side_edited_fields_keeps_both_versions() {
    let base = "<!-- note_id: 5 -->\nQ: front\nA: back\n";
    let ours = "<!-- note_id: 5 -->\nQ: front\nA: back, edited\n";
    let theirs = "<!-- note_id: 5 -->\nF: front\nB: back\n";
    let (text, conflicts) = merge(base, ours, theirs);
    assert_eq!(
        text,
        "<!-- note_id: 5 -->\nQ: front\nA: back, edited\n\n---\n\n<!-- note_id: 5 -->\nF: front\nB: back\n"
    );
    assert_eq!(
        conflicts,
        "1: 5: note type changed to AnkiOpsQA on our side and AnkiOpsReversed on theirs; both versions are in the file, remove one\n"
    );
    // The parser holds the file back until one is removed.
    let errors = parse_deck(&text, &registry()).unwrap_err();
    assert!(errors[0].message.contains("note_id 5 is used twice"), "{errors:?}");
}

#[test]
fn a_reorder_on_one_side_is_kept() {
    let base = "<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n\n---\n\n<!-- note_id: 3 -->\nQ: c\nA: c\n";
    let ours = base.replace("A: b", "A: b!");
    let theirs = "<!-- note_id: 3 -->\nQ: c\nA: c\n\n---\n\n<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n";
    clean(
        base,
        &ours,
        theirs,
        "<!-- note_id: 3 -->\nQ: c\nA: c\n\n---\n\n<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b!\n",
    );
    // Reordered on both sides: ours.
    let ours = "<!-- note_id: 2 -->\nQ: b\nA: b\n\n---\n\n<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 3 -->\nQ: c\nA: c\n";
    clean(base, ours, theirs, ours);
}

#[test]
fn a_note_moved_to_another_file_leaves_this_one() {
    // Moving a note out of the file is, for this file, a deletion on that side.
    let base = "<!-- note_id: 1 -->\nQ: a\nA: a\n\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n";
    let theirs = "<!-- note_id: 1 -->\nQ: a\nA: a\n";
    let ours = base.replace("A: a", "A: a!");
    clean(base, &ours, theirs, "<!-- note_id: 1 -->\nQ: a\nA: a!\n");
    // And for the file it moved into, a new note.
    let into = "<!-- note_id: 7 -->\nQ: x\nA: x\n";
    let theirs_into = format!("{into}\n---\n\n<!-- note_id: 2 -->\nQ: b\nA: b\n");
    clean(into, into, &theirs_into, &theirs_into);
}

#[test]
fn an_id_written_on_one_side_joins_the_other_sides_edit() {
    // Base: a note never pushed; ours ran `ma` (the id line), theirs edited the answer.
    let base = "Q: q\nA: a\n";
    let ours = "<!-- deck_id: 3 -->\n<!-- note_id: 77 -->\nQ: q\nA: a\n";
    let theirs = "Q: q\nA: a, better\n";
    clean(base, ours, theirs, "<!-- deck_id: 3 -->\n<!-- note_id: 77 -->\nQ: q\nA: a, better\n");
    // The other way round.
    clean(base, theirs, ours, "<!-- deck_id: 3 -->\n<!-- note_id: 77 -->\nQ: q\nA: a, better\n");
}

#[test]
fn a_note_back_from_another_profile_under_another_id_is_the_same_note() {
    let base = "<!-- note_id: 1 -->\nQ: q\nA: a\n";
    let ours = "<!-- note_id: 1 -->\nQ: q\nA: a, edited\n";
    let theirs = "<!-- note_id: 900 -->\nQ: q\nA: a\n";
    // Not a deletion against an edit: one note, whose id theirs changed.
    clean(base, ours, theirs, "<!-- note_id: 900 -->\nQ: q\nA: a, edited\n");
}

#[test]
fn a_deleted_id_line_does_not_remove_the_id() {
    let base = "<!-- note_id: 1 -->\nQ: q\nA: a\n";
    clean(
        base,
        "Q: q\nA: a\n",
        "<!-- note_id: 1 -->\nQ: q\nA: a, edited\n",
        "<!-- note_id: 1 -->\nQ: q\nA: a, edited\n",
    );
}

#[test]
fn crlf_and_byte_order_mark_are_ours() {
    let base = "\u{feff}<!-- note_id: 1 -->\r\nQ: q\r\nA: a\r\n";
    let ours = "\u{feff}<!-- note_id: 1 -->\r\nQ: q\r\nA: a, ours\r\n";
    let theirs = "\u{feff}<!-- note_id: 1 -->\nQ: q\nA: a\n\n---\n\nQ: new\nA: multi\nline\n";
    clean(
        base,
        ours,
        theirs,
        "\u{feff}<!-- note_id: 1 -->\r\nQ: q\r\nA: a, ours\r\n\r\n---\r\n\r\nQ: new\r\nA: multi\r\nline\r\n",
    );
    // A merged note with a conflict is written with CRLF too.
    let (text, _) = merge(base, ours, "<!-- note_id: 1 -->\r\nQ: q\r\nA: a, theirs\r\n");
    assert_eq!(
        text,
        "\u{feff}<!-- note_id: 1 -->\r\nQ: q\r\n<<<<<<< HEAD\r\nA: a, ours\r\n||||||| merged common ancestors\r\nA: a\r\n=======\r\nA: a, theirs\r\n>>>>>>> feature\r\n"
    );
}

#[test]
fn deck_id_from_the_side_that_set_it() {
    let base = "Q: q\nA: a\n";
    clean(base, base, "<!-- deck_id: 42 -->\nQ: q\nA: a\n", "<!-- deck_id: 42 -->\nQ: q\nA: a\n");
}

#[test]
fn marker_like_content_in_code_is_neither_relabelled_nor_misread() {
    let base = "<!-- note_id: 1 -->\nQ: show\nA: ```\n<<<<<<< markdown\n```\nE: x\n";
    let ours = base.replace("E: x", "E: ours");
    let theirs = base.replace("E: x", "E: theirs");
    let (text, _) = merge(base, &ours, &theirs);
    assert_eq!(
        text,
        "<!-- note_id: 1 -->\nQ: show\nA: ```\n<<<<<<< markdown\n```\n<<<<<<< HEAD\nE: ours\n||||||| merged common ancestors\nE: x\n=======\nE: theirs\n>>>>>>> feature\n"
    );
    let note = &parse(&text).notes[0];
    assert_eq!(note.fields["Answer"], "```\n<<<<<<< markdown\n```");
    assert_eq!(note.conflicts[0].markdown.as_deref(), Some("ours"));
    // A side whose content looks like markers gets longer markers, relabelled all the same.
    let ours = base.replace("E: x", "E: ```\n>>>>>>>> not a marker\n```");
    let (text, _) = merge(base, &ours, &theirs);
    assert!(
        text.contains("<<<<<<<<< HEAD\nE: ```\n>>>>>>>> not a marker\n```\n||||||||| merged common ancestors\n"),
        "{text}"
    );
    assert!(text.ends_with("\n>>>>>>>>> feature\n"), "{text}");
    assert_eq!(parse(&text).notes[0].conflicts[0].anki.as_deref(), Some("theirs"));
}

#[test]
fn a_conflict_left_by_sync_keeps_its_labels() {
    let sync_conflict = "<<<<<<< markdown\nA: mine\n||||||| base\nA: old\n=======\nA: anki's\n>>>>>>> anki";
    let base = format!("<!-- note_id: 1 -->\nQ: q\n{sync_conflict}\nE: e\n");
    let ours = base.replace("E: e", "E: ours");
    let theirs = base.replace("E: e", "E: theirs");
    let (text, conflicts) = merge(&base, &ours, &theirs);
    assert!(text.contains(sync_conflict), "{text}");
    assert!(text.contains("<<<<<<< HEAD\nE: ours\n"), "{text}");
    assert_eq!(conflicts.lines().count(), 1, "{conflicts}");
    assert_eq!(parse(&text).notes[0].conflicts.len(), 2);
    // Resolved on one side, untouched on the other: the resolution wins.
    let resolved = "<!-- note_id: 1 -->\nQ: q\nA: mine\nE: e\n";
    clean(&base, &base, resolved, resolved);
}

#[test]
fn an_empty_base_as_git_gives_for_a_file_added_on_both_sides() {
    let ours = "<!-- note_id: 1 -->\nQ: q\nA: a\n\n---\n\nQ: only ours\nA: o\n";
    let theirs = "<!-- note_id: 1 -->\nQ: q\nA: a\nE: theirs\n\n---\n\nQ: only theirs\nA: t\n";
    clean(
        "",
        ours,
        theirs,
        "<!-- note_id: 1 -->\nQ: q\nA: a\nE: theirs\n\n---\n\nQ: only ours\nA: o\n\n---\n\nQ: only theirs\nA: t\n",
    );
    // The same id with different values on both sides and no base: a conflict with an empty base.
    let (text, conflicts) = merge("", "<!-- note_id: 1 -->\nQ: q\nA: a\n", "<!-- note_id: 1 -->\nQ: q\nA: b\n");
    assert!(
        text.contains("<<<<<<< HEAD\nA: a\n||||||| merged common ancestors\n=======\nA: b\n>>>>>>> feature"),
        "{text}"
    );
    assert_eq!(conflicts.lines().count(), 1);
}

#[test]
fn python_ankiops_note_keys_and_explicit_types_survive_a_merged_edit() {
    let base = "<!-- note_id: 1 -->\n<!-- note_key: k1 -->\n<!-- note_type: AnkiOpsQA -->\nQ: q\nA: a\n";
    let ours = base.replace("Q: q", "Q: q!");
    let theirs = base.replace("A: a", "A: a!");
    clean(
        base,
        &ours,
        &theirs,
        "<!-- note_id: 1 -->\n<!-- note_key: k1 -->\n<!-- note_type: AnkiOpsQA -->\nQ: q!\nA: a!\n",
    );
}
