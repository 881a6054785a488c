//! Never lose a note, and a note keeps its identity (docs/sync.md, "Guarantees"): ordinary accidents in the
//! Markdown cost at most a message.

use serde_json::json;

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

/// Reviews every card of note `id` once, so it has history to lose; returns its cards' total reps.
fn review(env: &Env, id: i64) -> i64 {
    let cards = env.backend.call("findCards", json!({"query": format!("nid:{id}")}));
    for card in cards.as_array().unwrap() {
        env.backend.call("_testAnswerCard", json!({"card": card, "ease": 3}));
    }
    reps(env, id)
}

fn reps(env: &Env, id: i64) -> i64 {
    let cards = env.backend.call("findCards", json!({"query": format!("nid:{id}")}));
    let info = env.backend.call("cardsInfo", json!({"cards": cards}));
    info.as_array().unwrap().iter().map(|c| c["reps"].as_i64().unwrap()).sum()
}

fn deck_of(env: &Env, id: i64) -> String {
    env.anki_note(id).deck
}

/// Issue 13's repro: A.md pasted, deck_id line and all, at the end of B.md, which then does not parse.
#[test]
fn a_file_that_does_not_parse_protects_the_notes_pasted_into_it() {
    let env = Env::new();
    env.write("A.md", "Q: from A\nA: a\n");
    env.write("B.md", "Q: from B\nA: b\n");
    env.ankiops(&["ma"]).success();
    let a = env.read("A.md");
    let id = note_ids(&a)[0];
    let history = review(&env, id);
    assert!(history > 0);
    std::fs::remove_file(env.path("A.md")).unwrap();
    let broken = format!("{}\n---\n\n{a}", env.read("B.md"));
    env.write("B.md", &broken);

    let run = env.ankiops(&["ma", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("B.md does not parse"), "{}", run.stderr);
    assert!(run.stderr.contains("the 2 notes whose ids it holds are left alone"), "{}", run.stderr);
    assert_eq!(env.read("B.md"), broken, "a file that does not parse is left byte for byte");
    assert_eq!(deck_of(&env, id), "A", "neither deleted nor moved");
    assert_eq!(reps(&env, id), history);
    // `sync` and `am` keep it too.
    assert_eq!(env.ankiops(&["sync", "--yes"]).code, 1);
    assert_eq!(env.ankiops(&["am"]).code, 1);
    assert_eq!(env.read("B.md"), broken);
    assert_eq!(deck_of(&env, id), "A");

    // Fixed: the note moves to B's deck, history and all.
    let deck_line = broken.lines().filter(|l| l.starts_with("<!-- deck_id")).nth(1).unwrap().to_string();
    env.write("B.md", &broken.replacen(&format!("{deck_line}\n"), "", 1));
    env.ankiops(&["ma", "--yes"]).success();
    assert_eq!(deck_of(&env, id), "B");
    assert_eq!(reps(&env, id), history);
    assert_eq!(env.anki_notes().len(), 2);
}

/// A deck file moved into a subfolder is not read, but its notes are not deleted either.
#[test]
fn a_deck_file_moved_into_a_subfolder_protects_its_notes() {
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    std::fs::create_dir(env.path("old")).unwrap();
    std::fs::rename(env.path("Bio.md"), env.path("old/Bio.md")).unwrap();
    let run = env.ankiops(&["ma", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("old/Bio.md is in a subfolder"), "{}", run.stderr);
    assert_eq!(env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>(), vec![id]);
}

/// The mass-deletion guard: deleting every deck file changes nothing, even with --yes, until --max-delete.
#[test]
fn deleting_every_deck_file_is_stopped_by_the_guard() {
    let env = Env::new();
    let notes: Vec<String> = (0..25).map(|i| format!("Q: question {i}\nA: answer {i}\n")).collect();
    env.write("Many.md", &notes.join("\n---\n\n"));
    env.write("Few.md", "Q: alone\nA: yes\n");
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_notes().len(), 26);
    std::fs::remove_file(env.path("Many.md")).unwrap();
    std::fs::remove_file(env.path("Few.md")).unwrap();

    let status = env.ankiops(&["status"]);
    assert!(status.stderr.contains("a real run would stop here"), "{}", status.snapshot());
    let run = env.ankiops(&["ma", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("stopped before changing anything"), "{}", run.stderr);
    assert!(run.stderr.contains("would delete 26 notes (26 in Anki, 0 in the Markdown), more than the limit of 20"));
    assert!(run.stderr.contains("--max-delete 26"), "{}", run.stderr);
    assert_eq!(env.anki_notes().len(), 26, "nothing deleted");

    env.ankiops(&["ma", "--yes", "--max-delete", "1000"]).success();
    assert!(env.anki_notes().is_empty());
}

/// A note_id line deleted by accident: the note keeps its id and history, with or without --yes.
#[test]
fn a_deleted_id_line_keeps_the_note() {
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n\n---\n\nQ: two\nA: 2\n");
    env.ankiops(&["ma"]).success();
    let text = env.read("Bio.md");
    let ids = note_ids(&text);
    let history = review(&env, ids[1]);
    let without = text.replacen(&format!("<!-- note_id: {} -->\n", ids[1]), "", 1);
    assert_ne!(without, text);
    env.write("Bio.md", &without);

    let run = env.ankiops(&["ma"]).success();
    assert!(run.stderr.contains(&format!("recognised as note {}", ids[1])), "{}", run.stderr);
    assert_eq!(note_ids(&env.read("Bio.md")), ids, "the id is written back");
    assert_eq!(env.anki_notes().len(), 2, "no second copy");
    assert_eq!(reps(&env, ids[1]), history);
    env.write("Bio.md", &without);
    env.ankiops(&["ma", "--yes"]).success();
    assert_eq!(env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>(), ids);
    assert_eq!(reps(&env, ids[1]), history);
}

/// A mistyped id is reported with its file and line, and the note keeps its real id.
#[test]
fn a_mistyped_id_is_reported_and_the_note_kept() {
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n");
    env.ankiops(&["ma"]).success();
    let text = env.read("Bio.md");
    let id = note_ids(&text)[0];
    env.write("Bio.md", &text.replace(&id.to_string(), "12345"));
    let run = env.ankiops(&["ma", "--yes"]).success();
    assert!(run.stderr.contains("its note_id 12345 is not in Anki"), "{}", run.stderr);
    assert!(run.stderr.contains("Bio.md:"), "{}", run.stderr);
    assert_eq!(note_ids(&env.read("Bio.md")), vec![id]);
    assert_eq!(env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>(), vec![id]);
}

/// An old checkout from before ids were written, pushed, then back on the branch: every note keeps its id.
#[test]
fn checking_out_a_snapshot_from_before_ids_keeps_every_id() {
    let env = Env::new();
    let before = "Q: one\nA: 1\n\n---\n\nQ: two\nA: 2\n\n---\n\nQ: three\nA: 3\n";
    env.write("Bio.md", before);
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("Bio.md"));
    let with_ids = env.read("Bio.md");
    // Edited in Anki since, so the old snapshot is not even the same text.
    env.set_field(ids[1], "Answer", "2, edited");
    env.ankiops(&["am"]).success();
    for args in [&["ma"][..], &["ma", "--yes"], &["sync", "--yes"]] {
        env.write("Bio.md", before);
        let run = env.ankiops(args);
        assert_ne!(run.code, 2, "{}", run.snapshot());
        assert_eq!(note_ids(&env.read("Bio.md")), ids, "{args:?}\n{}", run.snapshot());
        assert_eq!(env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>(), ids, "{args:?}");
    }
    env.write("Bio.md", &with_ids);
    env.ankiops(&["sync", "--yes"]);
    assert_eq!(env.anki_notes().iter().map(|n| n.id).collect::<Vec<_>>(), ids);
}

/// Without a base (the Git folder lost, `init` run again) a difference between the sides is a conflict.
#[test]
fn without_a_base_a_difference_is_a_conflict_not_an_overwrite() {
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    env.set_field(id, "Answer", "edited in Anki");
    std::fs::remove_dir_all(env.path(".git")).unwrap();
    env.ankiops(&["init"]).success();
    let run = env.ankiops(&["ma", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert_eq!(env.anki_note(id).fields["Answer"], "edited in Anki");
    env.ankiops(&["ma", "--force"]).success();
    assert_eq!(env.anki_note(id).fields["Answer"], "1");
}

/// A note whose fields changed in Anki while its mod did not move: the first run reports it, the second merges.
#[test]
fn an_edit_that_kept_its_mod_is_merged_by_the_next_run() {
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n");
    env.ankiops(&["ma"]).success();
    let id = note_ids(&env.read("Bio.md"))[0];
    // A run a second later reads the note again, so the base trusts its cached state from then on.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.ankiops(&["sync"]).success();
    env.backend.call("_testSetFieldKeepMod", json!({"note": id, "field": "Question", "value": "one, from the phone"}));
    env.write("Bio.md", &env.read("Bio.md").replace("A: 1", "A: 1, from the editor"));
    let first = env.ankiops(&["sync"]);
    assert!(first.stderr.contains("was edited in Anki during this run"), "{}", first.snapshot());
    let second = env.ankiops(&["sync"]).success();
    assert!(!second.stderr.contains("during this run"), "{}", second.snapshot());
    let note = env.anki_note(id);
    assert_eq!(note.fields["Question"], "one, from the phone");
    assert_eq!(note.fields["Answer"], "1, from the editor");
    assert!(env.read("Bio.md").contains("Q: one, from the phone"), "{}", env.read("Bio.md"));
}

/// Every note id written in any Markdown file of the folder, readable or not.
fn ids_written(env: &Env) -> std::collections::BTreeSet<i64> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![env.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".md") {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                let mut rest = text.as_str();
                while let Some(at) = rest.find("note_id:") {
                    rest = &rest[at + 8..];
                    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(id) = digits.parse() {
                        out.insert(id);
                    }
                }
            }
        }
    }
    out
}

/// A small seeded generator, so a failing case can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Random accidents to the deck files (blocks cut and pasted between files, lines deleted or duplicated, id
/// comments corrupted or copied, a file truncated, invalid UTF-8, a file moved into a subfolder), then
/// `ma --yes`, `am` and `sync --yes`: no note whose id is still written in some file is deleted in Anki, and
/// no id line of a note Anki still has disappears from the folder. The engine's property tests
/// (`crates/sync/tests/protect_props.rs`) run the same promise over a thousand generated inputs.
#[test]
fn random_accidents_never_delete_a_note_whose_id_is_written() {
    let env = Env::new();
    let deck = |name: &str, n: usize| (0..n).map(|i| format!("Q: {name} {i}\nA: answer {i}\n")).collect::<Vec<_>>();
    env.write("A.md", &deck("a", 4).join("\n---\n\n"));
    env.write("B.md", &deck("b", 4).join("\n---\n\n"));
    env.write("C.md", &deck("c", 3).join("\n---\n\n"));
    env.ankiops(&["ma"]).success();
    let settled: Vec<(&str, String)> = ["A.md", "B.md", "C.md"].into_iter().map(|f| (f, env.read(f))).collect();
    for seed in 1..=8u64 {
        // Each case starts from the settled folder.
        let _ = std::fs::remove_dir_all(env.path("old"));
        for (name, text) in &settled {
            env.write(name, text);
        }
        env.ankiops(&["sync", "--yes"]);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let files = ["A.md", "B.md", "C.md"];
        for _ in 0..2 {
            let name = files[rng.below(3)];
            let Ok(text) = std::fs::read_to_string(env.path(name)) else { continue };
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.is_empty() {
                continue;
            }
            let at = rng.below(lines.len());
            match rng.below(7) {
                0 => {
                    // Cut a block and paste it at the end of another file.
                    let end = (at + 1 + rng.below(6)).min(lines.len());
                    let block: Vec<String> = lines.drain(at..end).collect();
                    let other = files[rng.below(3)];
                    let mut there = std::fs::read_to_string(env.path(other)).unwrap_or_default();
                    there.push_str(&format!("\n{}\n", block.join("\n")));
                    env.write(name, &format!("{}\n", lines.join("\n")));
                    env.write(other, &there);
                    continue;
                }
                1 => {
                    lines.remove(at);
                }
                2 => {
                    let line = lines[at].clone();
                    lines.insert(at, line);
                }
                3 => lines[at] = lines[at].replace("note_id: ", "note_id: 9"),
                4 => lines.truncate(at),
                5 => {
                    let mut bytes = format!("{}\n", lines.join("\n")).into_bytes();
                    bytes.insert(bytes.len() / 2, 0xff);
                    std::fs::write(env.path(name), bytes).unwrap();
                    continue;
                }
                _ => {
                    std::fs::create_dir_all(env.path("old")).unwrap();
                    std::fs::rename(env.path(name), env.path(&format!("old/{name}"))).unwrap();
                    continue;
                }
            }
            env.write(name, &format!("{}\n", lines.join("\n")));
        }
        for args in [&["ma", "--yes"][..], &["am"], &["sync", "--yes"]] {
            let in_anki_before: std::collections::BTreeSet<i64> = env.anki_notes().iter().map(|n| n.id).collect();
            let written_before = ids_written(&env);
            let run = env.ankiops(args);
            assert_ne!(run.code, 2, "seed {seed} {args:?}:\n{}", run.snapshot());
            let in_anki: std::collections::BTreeSet<i64> = env.anki_notes().iter().map(|n| n.id).collect();
            let written = ids_written(&env);
            for id in written_before.intersection(&in_anki_before) {
                if written.contains(id) {
                    assert!(in_anki.contains(id), "seed {seed} {args:?}: note {id} deleted\n{}", run.snapshot());
                }
                if in_anki.contains(id) {
                    assert!(written.contains(id), "seed {seed} {args:?}: id {id} removed\n{}", run.snapshot());
                }
            }
        }
    }
}

/// A deck file saved by the user while `am` runs is not overwritten: it is left as saved, reported, and the
/// next run brings Anki's edit in beside the user's.
#[test]
fn a_deck_file_saved_during_a_run_is_left_as_saved() {
    use crate::support::{Proxy, Stage};
    let env = Env::new();
    env.write("Bio.md", "Q: one\nA: 1\n\n---\n\nQ: two\nA: 2\n");
    env.ankiops(&["ma"]).success();
    let ids = note_ids(&env.read("Bio.md"));
    env.set_field(ids[0], "Answer", "1, from the phone");
    let saved = env.read("Bio.md").replace("A: 2", "A: 2, from the editor");
    let path = env.path("Bio.md");
    let to_save = saved.clone();
    let proxy = Proxy::start(env.backend.port(), move |_, body, stage| {
        if stage == Stage::Received && body.contains("\"notesInfo\"") && !path.with_extension("saved").exists() {
            std::fs::write(&path, &to_save).unwrap();
            std::fs::write(path.with_extension("saved"), "").unwrap();
        }
        true
    });
    let run = env.run_at(&["am"], &proxy.url);
    assert!(run.stderr.contains("Bio.md was saved while this run was going"), "{}", run.snapshot());
    assert_eq!(env.read("Bio.md"), saved, "the user's save is kept");
    std::fs::remove_file(env.path("Bio.saved")).unwrap();
    env.ankiops(&["am"]).success();
    let text = env.read("Bio.md");
    assert!(text.contains("A: 1, from the phone"), "{text}");
    assert!(text.contains("A: 2, from the editor"), "{text}");
    env.ankiops(&["ma"]).success();
    assert_eq!(env.anki_note(ids[1]).fields["Answer"], "2, from the editor");
}
