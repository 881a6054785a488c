//! Never lose a note, and a note keeps its identity (docs/sync.md, "Guarantees"): ordinary accidents in the
//! Markdown cost at most a message.

use crate::support::{Env, note_ids};

/// Raw HTML with a one-letter tag before a non-ASCII letter (the underline docs/format.md recommends) went
/// through the media scan, which sliced inside `Ü` and panicked for the whole collection.
#[test]
fn raw_underline_before_a_non_ascii_letter_pushes_and_pulls() {
    let env = Env::new();
    env.write("German.md", "Q: <u>Übung</u> macht den Meister\nA: practice makes perfect\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("German.md"))[0];
    assert_eq!(env.anki_note(id).fields["Question"], "<u>Übung</u> macht den Meister");
    env.set_field(id, "Answer", "<u>Ärger</u>");
    env.ankiops(&["am"]).success();
    assert!(env.read("German.md").contains("A: <u>Ärger</u>"), "{}", env.read("German.md"));
}
