//! Deck-file speed: parsing and writing 10,000 notes in 500 files (design.md §9; target < 50 ms each).
//! Run with `cargo bench -p ankiops-markdown --bench deck`.

use std::hint::black_box;

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckFile, NoteBlock, parse_deck};
use criterion::{Criterion, criterion_group, criterion_main};

const FILES: usize = 500;
const NOTES_PER_FILE: usize = 20;

fn note(file: usize, i: usize) -> NoteBlock {
    let id = 1_700_000_000_000 + (file * NOTES_PER_FILE + i) as i64;
    let (note_type, fields): (&str, Vec<(&str, String)>) = match i % 4 {
        0 => (
            "AnkiOpsCloze",
            vec![("Text", format!("The {{{{c1::mitochondrion}}}} number {i} makes **ATP**.\nSee $x_{i}$."))],
        ),
        1 => (
            "AnkiOpsQA",
            vec![
                ("Question", format!("How does snippet {i} work?")),
                (
                    "Answer",
                    "It loops:\n\n```python\nfor x in range(3):\n    print('---')\n```\n\nThen it stops.".to_owned(),
                ),
            ],
        ),
        _ => (
            "AnkiOpsQA",
            vec![
                ("Question", format!("What is fact {i} of deck {file}?")),
                (
                    "Answer",
                    "A fairly ordinary answer with *emphasis*,\na second line, and a [link](https://example.org)."
                        .to_owned(),
                ),
                ("Extra", "- one\n- two".to_owned()),
            ],
        ),
    };
    NoteBlock {
        note_id: Some(id),
        note_type: note_type.to_owned(),
        tags: vec!["bench".to_owned(), format!("deck{file}")],
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ..NoteBlock::default()
    }
}

fn collection(registry: &Registry) -> Vec<String> {
    (0..FILES)
        .map(|f| {
            let mut file = DeckFile::new(Some(1_600_000_000_000 + f as i64));
            for i in 0..NOTES_PER_FILE {
                file.push_note(note(f, i));
            }
            file.to_text(registry)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let registry = Registry::builtin();
    let texts = collection(&registry);
    let parsed: Vec<DeckFile> = texts.iter().filter_map(|t| parse_deck(t, &registry).ok()).collect();
    assert_eq!(parsed.len(), FILES);
    let mut fresh: Vec<DeckFile> = Vec::new();
    for file in &parsed {
        let mut new = DeckFile::new(file.deck_id);
        for note in &file.notes {
            new.push_note(note.clone());
        }
        fresh.push(new);
    }

    let mut group = c.benchmark_group("deck 10k notes in 500 files");
    group.sample_size(20);
    group.bench_function("parse", |b| {
        b.iter(|| {
            for text in &texts {
                let _ = black_box(parse_deck(black_box(text), &registry));
            }
        })
    });
    group.bench_function("write unchanged", |b| {
        b.iter(|| {
            for file in &parsed {
                black_box(file.to_text(&registry));
            }
        })
    });
    group.bench_function("write rendered", |b| {
        b.iter(|| {
            for file in &fresh {
                black_box(file.to_text(&registry));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
