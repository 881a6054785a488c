//! Property tests of the engine's promises: a protected note is never deleted, moved or removed, and a note
//! that vanished from the Markdown is never deleted while a note with its content waits to be added.

use std::collections::BTreeMap;

use ankiops_sync::{AnkiChange, Direction, Input, MarkdownChange, NoteRef, NoteState, Options, plan};
use proptest::prelude::*;

fn state(deck: u8, q: u8, a: u8) -> NoteState {
    NoteState {
        note_type: "AnkiOpsQA".into(),
        deck: format!("D{deck}"),
        fields: BTreeMap::from([("Question".into(), format!("q{q}")), ("Answer".into(), format!("a{a}"))]),
        tags: Default::default(),
    }
}

/// Per note id 1..=12: which sides hold it, and a small content each, so collisions and look-alikes happen.
fn input() -> impl Strategy<Value = Input> {
    let note = (any::<[bool; 4]>(), (0u8..3, 0u8..4, 0u8..3), (0u8..3, 0u8..4, 0u8..3), (0u8..3, 0u8..4, 0u8..3));
    (prop::collection::vec(note, 12), prop::collection::vec((0u8..3, 0u8..4, 0u8..3), 0..6)).prop_map(|(notes, new)| {
        let mut input = Input::default();
        for (i, ([m, b, a, protected], sm, sb, sa)) in notes.into_iter().enumerate() {
            let id = i as i64 + 1;
            if m {
                input.markdown.insert(id, state(sm.0, sm.1, sm.2));
            }
            if b {
                input.base.insert(id, state(sb.0, sb.1, sb.2));
            }
            if a {
                input.anki.insert(id, state(sa.0, sa.1, sa.2));
            }
            if protected {
                input.protected.insert(id);
            }
        }
        input.new_in_markdown = new.into_iter().map(|s| state(s.0, s.1, s.2)).collect();
        input
    })
}

fn options() -> impl Strategy<Value = Options> {
    (prop_oneof![Just(Direction::Both), Just(Direction::ToAnki), Just(Direction::ToMarkdown)], any::<bool>())
        .prop_map(|(direction, force)| Options { direction, force, ..Options::default() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn protected_notes_are_never_deleted_moved_or_removed(input in input(), options in options()) {
        let p = plan(&input, &options);
        for entry in &p.notes {
            let NoteRef::Existing(id) = entry.note else { continue };
            if !input.protected.contains(&id) {
                continue;
            }
            prop_assert!(entry.anki.is_none(), "#{id}: {:?}", entry.anki);
            prop_assert!(entry.markdown.is_none(), "#{id}: {:?}", entry.markdown);
        }
        for (_, id) in &p.recognised {
            prop_assert!(!input.protected.contains(id), "a protected note is never taken for another");
        }
    }

    #[test]
    fn a_recognised_note_is_neither_deleted_nor_added(input in input(), options in options()) {
        let p = plan(&input, &options);
        let mut kept = std::collections::BTreeSet::new();
        for (_, id) in &p.recognised {
            prop_assert!(kept.insert(*id), "#{id} recognised twice");
        }
        for entry in &p.notes {
            if let NoteRef::Existing(id) = entry.note && kept.contains(&id) {
                prop_assert!(!matches!(entry.anki, Some(AnkiChange::Delete(_) | AnkiChange::Create(_))), "#{id}");
                prop_assert!(!matches!(entry.markdown, Some(MarkdownChange::Delete)), "#{id}");
            }
        }
        // A note that vanished and is deleted in Anki has no new note of exactly its content waiting.
        for entry in &p.notes {
            let (NoteRef::Existing(id), Some(AnkiChange::Delete(_))) = (entry.note, &entry.anki) else { continue };
            if input.markdown.contains_key(&id) || !input.base.contains_key(&id) {
                continue;
            }
            let twins = |s: &NoteState| input.new_in_markdown.iter().any(|n| n.note_type == s.note_type && n.fields == s.fields);
            let created_twin = p.notes.iter().any(|e| {
                matches!((&e.note, &e.anki), (NoteRef::New(_), Some(AnkiChange::Create(s))) if s.fields == input.base[&id].fields)
            });
            prop_assert!(!(twins(&input.base[&id]) && created_twin), "#{id} deleted while its twin is added");
        }
    }
}
