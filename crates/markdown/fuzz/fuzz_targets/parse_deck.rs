//! Fuzz target: parsing any bytes as a deck file never panics, and a file that parses is written back
//! byte for byte, and its re-rendered form parses to the same notes.

#![no_main]

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckFile, parse_deck, parse_deck_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let registry = Registry::builtin();
    let Ok(file) = parse_deck_bytes(data, &registry) else { return };
    let Ok(text) = std::str::from_utf8(data) else { panic!("invalid UTF-8 was parsed") };
    assert_eq!(file.to_text(&registry), text, "an untouched file must be written back unchanged");

    let mut fresh = DeckFile::new(file.deck_id);
    for note in &file.notes {
        fresh.push_note(note.clone());
    }
    let rendered = fresh.to_text(&registry);
    if let Ok(again) = parse_deck(&rendered, &registry) {
        assert_eq!(again.notes.len(), file.notes.len(), "{rendered}");
    }
});
