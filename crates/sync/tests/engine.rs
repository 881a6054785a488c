//! Data-driven tests of the sync engine: base / markdown / anki snapshots in, the plan described as text out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ankiops_sync::{
    AnkiChange, AnkiHtml, Applied, Direction, HtmlDigest, Input, MarkdownChange, NoteRef, NoteState, Options, Plan,
    align, next_base, plan,
};

/// A note written compactly: `deck | Field=value; Field=value | tag tag`.
fn n(spec: &str) -> NoteState {
    let mut parts = spec.split('|').map(str::trim);
    let deck = parts.next().unwrap_or_default();
    let fields = parts.next().unwrap_or_default();
    let tags = parts.next().unwrap_or_default();
    let (note_type, deck) = match deck.split_once(' ') {
        Some((t, d)) if t.starts_with('@') => (t.trim_start_matches('@').to_string(), d.to_string()),
        _ => ("AnkiOpsQA".to_string(), deck.to_string()),
    };
    NoteState {
        note_type,
        deck,
        fields: fields
            .split(';')
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        tags: tags.split_whitespace().map(str::to_string).collect::<BTreeSet<_>>(),
    }
    .normalized()
}

fn show(s: &NoteState) -> String {
    let fields: Vec<String> = s.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let tags: Vec<&str> = s.tags.iter().map(String::as_str).collect();
    let ty = if s.note_type == "AnkiOpsQA" { String::new() } else { format!("@{} ", s.note_type) };
    format!("{ty}{} | {} | {}", s.deck, fields.join("; "), tags.join(" "))
}

fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    for (place, id) in &plan.recognised {
        writeln!(out, "recognised {place:?} as #{id}").unwrap();
    }
    for p in &plan.notes {
        let who = match p.note {
            NoteRef::Existing(id) => format!("#{id}"),
            NoteRef::New(i) => format!("new[{i}]"),
        };
        writeln!(out, "{who}:").unwrap();
        match &p.anki {
            Some(AnkiChange::Create(s)) => writeln!(out, "  anki create {}", show(s)).unwrap(),
            Some(AnkiChange::Update { after, .. }) => writeln!(out, "  anki update {}", show(after)).unwrap(),
            Some(AnkiChange::Delete(_)) => writeln!(out, "  anki delete").unwrap(),
            None => {}
        }
        match &p.markdown {
            Some(MarkdownChange::Write(s)) => writeln!(out, "  markdown write {}", show(s)).unwrap(),
            Some(MarkdownChange::WriteConflict { state, clashes }) => {
                writeln!(out, "  markdown conflict {}", show(state)).unwrap();
                for c in clashes {
                    let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "<absent>".into());
                    writeln!(
                        out,
                        "    {}: markdown={} base={} anki={}",
                        c.field,
                        side(&c.sides.markdown),
                        side(&c.sides.base),
                        side(&c.sides.anki)
                    )
                    .unwrap();
                }
            }
            Some(MarkdownChange::AssignId(id)) => writeln!(out, "  markdown assign-id #{id}").unwrap(),
            Some(MarkdownChange::Delete) => writeln!(out, "  markdown delete").unwrap(),
            None => {}
        }
        match p.new_base() {
            None => {}
            Some(Some(s)) => writeln!(out, "  base {}", show(s)).unwrap(),
            Some(None) => writeln!(out, "  base remove").unwrap(),
        }
        if let Some(c) = &p.conflict {
            let mut what: Vec<String> = c.fields.iter().map(|f| f.field.clone()).collect();
            if c.deck.is_some() {
                what.push("deck".into());
            }
            if c.note_type.is_some() {
                what.push("note type".into());
            }
            writeln!(out, "  conflict {:?} [{}]", c.kind, what.join(", ")).unwrap();
        }
        if let Some(s) = &p.skipped {
            writeln!(out, "  skipped {s:?}").unwrap();
        }
    }
    if out.is_empty() {
        out.push_str("nothing to do\n");
    }
    out
}

/// A fixture: lines `base|markdown|anki #ID deck | fields | tags` and `new deck | fields | tags` (a Markdown
/// note without an id). A line's side can be several, e.g. `base markdown anki #1 …`.
fn input_of(fixture: &str) -> Input {
    let mut input = Input::default();
    for line in fixture.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (sides, rest) = line.split_once('#').map_or((line, ""), |(s, r)| (s, r));
        if let Some(spec) = sides.strip_prefix("new ") {
            input.new_in_markdown.push(n(spec));
            continue;
        }
        if let Some(id) = sides.strip_prefix("unresolved ") {
            input.unresolved.insert(id.trim().parse().unwrap());
            continue;
        }
        if let Some(id) = sides.strip_prefix("protected ") {
            input.protected.insert(id.trim().parse().unwrap());
            continue;
        }
        let (id, spec) = rest.split_once(' ').unwrap();
        let id: i64 = id.parse().unwrap();
        for side in sides.split_whitespace() {
            let map: &mut BTreeMap<i64, NoteState> = match side {
                "base" => &mut input.base,
                "markdown" => &mut input.markdown,
                "anki" => &mut input.anki,
                other => panic!("unknown side {other}"),
            };
            map.insert(id, n(spec));
        }
    }
    input
}

fn options_of(mode: &str) -> Options {
    let (direction, force) = match mode {
        "sync" => (Direction::Both, false),
        "ma" => (Direction::ToAnki, false),
        "am" => (Direction::ToMarkdown, false),
        "ma --force" => (Direction::ToAnki, true),
        "am --force" => (Direction::ToMarkdown, true),
        other => panic!("unknown mode {other}"),
    };
    Options { direction, force, ..Options::default() }
}

#[track_caller]
fn check(mode: &str, fixture: &str, expect: &str) {
    let got = describe(&plan(&input_of(fixture), &options_of(mode)));
    assert_eq!(got.trim(), expect.trim(), "\n--- got ---\n{got}");
}

/// The base after the plan of `fixture` is carried out as `applied` says: `new[I]=#ID` or `#OLD=#ID` (Anki
/// created that entry under that id), `failed new[I]` or `failed #ID`, separated by `,`.
#[track_caller]
fn check_next_base(mode: &str, fixture: &str, applied: &str, expect: &str) {
    let input = input_of(fixture);
    let plan = plan(&input, &options_of(mode));
    let note = |s: &str| -> NoteRef {
        let s = s.trim();
        match s.strip_prefix("new[") {
            Some(i) => NoteRef::New(i.trim_end_matches(']').parse().unwrap()),
            None => NoteRef::Existing(s.trim_start_matches('#').parse().unwrap()),
        }
    };
    let mut done = Applied::default();
    for part in applied.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(what) = part.strip_prefix("failed ") {
            done.failed.insert(note(what));
        } else {
            let (entry, id) = part.split_once('=').unwrap();
            done.created.insert(note(entry), id.trim().trim_start_matches('#').parse().unwrap());
        }
    }
    let base = next_base(input.base.clone(), &plan, &done);
    let got: String = base.iter().map(|(id, s)| format!("#{id} {}\n", show(s))).collect();
    let got = if got.is_empty() { "empty\n".to_string() } else { got };
    assert_eq!(got.trim(), expect.trim(), "\n--- got ---\n{got}");
}

#[test]
fn nothing_changed_plans_nothing() {
    let fixture = "base markdown anki #1 Bio | Question=q; Answer=a | t";
    for mode in ["sync", "ma", "am", "ma --force", "am --force"] {
        check(mode, fixture, "nothing to do");
    }
}

#[test]
fn created_in_markdown() {
    let fixture = "new Bio | Question=q; Answer=a |";
    check("sync", fixture, "new[0]:\n  anki create Bio | Answer=a; Question=q | \n  base Bio | Answer=a; Question=q |");
    check("ma", fixture, "new[0]:\n  anki create Bio | Answer=a; Question=q | \n  base Bio | Answer=a; Question=q |");
    check("am", fixture, "new[0]:\n  skipped OnlyInMarkdown");
    check("am --force", fixture, "new[0]:\n  markdown delete");
}

#[test]
fn created_in_anki() {
    let fixture = "anki #5 Bio | Question=q; Answer=a | t";
    check(
        "sync",
        fixture,
        "#5:\n  markdown write Bio | Answer=a; Question=q | t\n  base Bio | Answer=a; Question=q | t",
    );
    check("am", fixture, "#5:\n  markdown write Bio | Answer=a; Question=q | t\n  base Bio | Answer=a; Question=q | t");
    check("ma", fixture, "#5:\n  skipped OnlyInAnki");
    check("ma --force", fixture, "#5:\n  anki delete");
}

#[test]
fn edited_in_markdown_only() {
    let fixture = "
        base anki #1 Bio | Question=q; Answer=a |
        markdown  #1 Bio | Question=q; Answer=A! |
    ";
    let pushed = "#1:\n  anki update Bio | Answer=A!; Question=q | \n  base Bio | Answer=A!; Question=q |";
    check("sync", fixture, pushed);
    check("ma", fixture, pushed);
    check("am", fixture, "#1:\n  skipped ChangedInMarkdown");
    check("am --force", fixture, "#1:\n  markdown write Bio | Answer=a; Question=q |");
}

#[test]
fn edited_in_anki_only() {
    let fixture = "
        base markdown #1 Bio | Question=q; Answer=a |
        anki          #1 Bio | Question=q; Answer=from phone |
    ";
    let pulled =
        "#1:\n  markdown write Bio | Answer=from phone; Question=q | \n  base Bio | Answer=from phone; Question=q |";
    check("sync", fixture, pulled);
    check("am", fixture, pulled);
    check("ma", fixture, "#1:\n  skipped ChangedInAnki");
    check("ma --force", fixture, "#1:\n  anki update Bio | Answer=a; Question=q |");
}

#[test]
fn different_fields_edited_on_both_sides_merge_cleanly() {
    let fixture = "
        base     #1 Bio | Question=q; Answer=a; Extra=e |
        markdown #1 Bio | Question=q2; Answer=a; Extra=e |
        anki     #1 Bio | Question=q; Answer=a; Extra=e2 |
    ";
    check(
        "sync",
        fixture,
        "#1:
  anki update Bio | Answer=a; Extra=e2; Question=q2 | 
  markdown write Bio | Answer=a; Extra=e2; Question=q2 | 
  base Bio | Answer=a; Extra=e2; Question=q2 |",
    );
    // `ma` pushes its own edit and leaves Anki's for `am`: the base is the Markdown, so the next run pulls Extra.
    check(
        "ma",
        fixture,
        "#1:
  anki update Bio | Answer=a; Extra=e2; Question=q2 | 
  base Bio | Answer=a; Extra=e; Question=q2 | 
  skipped ChangedInAnki",
    );
    check(
        "am",
        fixture,
        "#1:
  markdown write Bio | Answer=a; Extra=e2; Question=q2 | 
  base Bio | Answer=a; Extra=e2; Question=q | 
  skipped ChangedInMarkdown",
    );
}

#[test]
fn same_field_edited_on_both_sides_is_a_conflict() {
    let fixture = "
        base     #1 Bio | Question=q; Answer=a; Extra=e |
        markdown #1 Bio | Question=q; Answer=mine; Extra=e |
        anki     #1 Bio | Question=q; Answer=theirs; Extra=e2 |
    ";
    check(
        "sync",
        fixture,
        "#1:
  markdown conflict Bio | Answer=mine; Extra=e2; Question=q | 
    Answer: markdown=mine base=a anki=theirs
  base Bio | Answer=theirs; Extra=e2; Question=q | 
  conflict BothModified [Answer]",
    );
    check("ma", fixture, "#1:\n  conflict BothModified [Answer]\n  skipped Conflict");
    check("am", fixture, "#1:\n  conflict BothModified [Answer]\n  skipped Conflict");
    check(
        "ma --force",
        fixture,
        "#1:\n  anki update Bio | Answer=mine; Extra=e; Question=q | \n  base Bio | Answer=mine; Extra=e; Question=q |",
    );
}

#[test]
fn a_field_removed_on_one_side_and_edited_on_the_other_conflicts() {
    let fixture = "
        base     #1 Bio | Question=q; Answer=a; Extra=e |
        markdown #1 Bio | Question=q; Answer=a |
        anki     #1 Bio | Question=q; Answer=a; Extra=e2 |
    ";
    check(
        "sync",
        fixture,
        "#1:
  markdown conflict Bio | Answer=a; Question=q | 
    Extra: markdown=<absent> base=e anki=e2
  base Bio | Answer=a; Extra=e2; Question=q | 
  conflict BothModified [Extra]",
    );
}

#[test]
fn tags_added_on_one_side_and_removed_on_the_other_merge() {
    let fixture = "
        base     #1 Bio | Question=q | old keep
        markdown #1 Bio | Question=q | keep new
        anki     #1 Bio | Question=q | old keep phone
    ";
    check(
        "sync",
        fixture,
        "#1:
  anki update Bio | Question=q | keep new phone
  markdown write Bio | Question=q | keep new phone
  base Bio | Question=q | keep new phone",
    );
}

#[test]
fn moved_in_markdown() {
    let fixture = "
        base anki #1 Bio | Question=q |
        markdown  #1 Chem | Question=q |
    ";
    check("sync", fixture, "#1:\n  anki update Chem | Question=q | \n  base Chem | Question=q |");
    check("ma", fixture, "#1:\n  anki update Chem | Question=q | \n  base Chem | Question=q |");
}

#[test]
fn moved_in_anki() {
    let fixture = "
        base markdown #1 Bio | Question=q |
        anki          #1 Bio::Cells | Question=q |
    ";
    check("sync", fixture, "#1:\n  markdown write Bio::Cells | Question=q | \n  base Bio::Cells | Question=q |");
}

#[test]
fn moved_on_one_side_edited_on_the_other() {
    let fixture = "
        base     #1 Bio | Question=q; Answer=a |
        markdown #1 Chem | Question=q; Answer=a |
        anki     #1 Bio | Question=q; Answer=edited |
    ";
    check(
        "sync",
        fixture,
        "#1:
  anki update Chem | Answer=edited; Question=q | 
  markdown write Chem | Answer=edited; Question=q | 
  base Chem | Answer=edited; Question=q |",
    );
}

#[test]
fn moved_to_different_decks_on_both_sides_conflicts() {
    let fixture = "
        base     #1 Bio | Question=q |
        markdown #1 Chem | Question=q |
        anki     #1 Physics | Question=q |
    ";
    check(
        "sync",
        fixture,
        "#1:
  markdown conflict Chem | Question=q | 
  base Physics | Question=q | 
  conflict BothModified [deck]",
    );
}

#[test]
fn deck_renamed_in_anki_moves_every_note() {
    let fixture = "
        base markdown #1 Old | Question=q1 |
        base markdown #2 Old | Question=q2 |
        anki          #1 New | Question=q1 |
        anki          #2 New | Question=q2 |
    ";
    check(
        "sync",
        fixture,
        "#1:
  markdown write New | Question=q1 | 
  base New | Question=q1 | 
#2:
  markdown write New | Question=q2 | 
  base New | Question=q2 |",
    );
}

#[test]
fn deleted_in_markdown() {
    // A deck file deleted, or a note removed from it.
    let fixture = "base anki #1 Bio | Question=q |";
    check("sync", fixture, "#1:\n  anki delete\n  base remove");
    check("ma", fixture, "#1:\n  anki delete\n  base remove");
    check("am", fixture, "#1:\n  skipped ChangedInMarkdown");
}

#[test]
fn deleted_in_anki() {
    let fixture = "base markdown #1 Bio | Question=q |";
    check("sync", fixture, "#1:\n  markdown delete\n  base remove");
    check("am", fixture, "#1:\n  markdown delete\n  base remove");
    check("ma", fixture, "#1:\n  skipped ChangedInAnki");
}

#[test]
fn deleted_in_markdown_edited_in_anki_keeps_the_edit() {
    let fixture = "
        base #1 Bio | Question=q |
        anki #1 Bio | Question=q edited |
    ";
    check(
        "sync",
        fixture,
        "#1:
  markdown write Bio | Question=q edited | 
  base Bio | Question=q edited | 
  conflict MarkdownDeletedAnkiModified []",
    );
    check("ma", fixture, "#1:\n  conflict MarkdownDeletedAnkiModified []\n  skipped Conflict");
}

#[test]
fn edited_in_markdown_deleted_in_anki_adds_it_again() {
    let fixture = "
        base     #1 Bio | Question=q |
        markdown #1 Bio | Question=q edited |
    ";
    check(
        "sync",
        fixture,
        "#1:
  anki create Bio | Question=q edited | 
  base Bio | Question=q edited | 
  conflict MarkdownModifiedAnkiDeleted []",
    );
    check("am", fixture, "#1:\n  conflict MarkdownModifiedAnkiDeleted []\n  skipped Conflict");
}

#[test]
fn note_type_changed_in_markdown() {
    let fixture = "
        base anki #1 Bio | Question=q; Answer=a |
        markdown  #1 @AnkiOpsInput Bio | Question=q; Input=a |
    ";
    check(
        "sync",
        fixture,
        "#1:\n  anki update @AnkiOpsInput Bio | Input=a; Question=q | \n  base @AnkiOpsInput Bio | Input=a; Question=q |",
    );
}

#[test]
fn note_id_anki_does_not_know() {
    // A Markdown note with an id that neither the base nor Anki knows (made by another tool, or Anki lost it):
    // it is added, and the id Anki gives replaces the old one.
    let fixture = "markdown #9 Bio | Question=q |";
    check("sync", fixture, "#9:\n  anki create Bio | Question=q | \n  base Bio | Question=q |");
    check("ma", fixture, "#9:\n  anki create Bio | Question=q | \n  base Bio | Question=q |");
    check("am", fixture, "#9:\n  skipped OnlyInMarkdown");
}

#[test]
fn first_run_without_base() {
    // Without a base nothing says which side is newer: a difference is a conflict, unless `--force` picks a side.
    let fixture = "
        markdown #1 Bio | Question=q; Answer=mine |
        anki     #1 Bio | Question=q; Answer=theirs |
        markdown anki #2 Bio | Question=same |
    ";
    let conflict = "#1:\n  conflict BothAdded [Answer]\n  skipped Conflict\n#2:\n  base Bio | Question=same |";
    check("ma", fixture, conflict);
    check("am", fixture, conflict);
    check(
        "ma --force",
        fixture,
        "#1:\n  anki update Bio | Answer=mine; Question=q | \n  base Bio | Answer=mine; Question=q | \n#2:\n  base Bio | Question=same |",
    );
    check(
        "am --force",
        fixture,
        "#1:\n  markdown write Bio | Answer=theirs; Question=q | \n  base Bio | Answer=theirs; Question=q | \n#2:\n  base Bio | Question=same |",
    );
    check(
        "sync",
        fixture,
        "#1:
  markdown conflict Bio | Answer=mine; Question=q | 
    Answer: markdown=mine base=<absent> anki=theirs
  base Bio | Answer=theirs; Question=q | 
  conflict BothAdded [Answer]
#2:
  base Bio | Question=same |",
    );
}

#[test]
fn a_note_added_before_a_crash_is_adopted_not_added_twice() {
    // The last run added the note and died before writing its id back: Anki has it, the base does not.
    let fixture = "
        new Bio | Question=q; Answer=a | t
        anki #7 Bio | Question=q; Answer=a | t
    ";
    check("sync", fixture, "new[0]:\n  markdown assign-id #7\n  base Bio | Answer=a; Question=q | t");
    check("ma", fixture, "new[0]:\n  markdown assign-id #7\n  base Bio | Answer=a; Question=q | t");
}

#[test]
fn a_similar_note_in_anki_is_not_adopted() {
    let fixture = "
        new Bio | Question=q; Answer=a |
        anki #7 Bio | Question=q; Answer=different |
    ";
    check(
        "sync",
        fixture,
        "#7:
  markdown write Bio | Answer=different; Question=q | 
  base Bio | Answer=different; Question=q | 
new[0]:
  anki create Bio | Answer=a; Question=q | 
  base Bio | Answer=a; Question=q |",
    );
}

#[test]
fn unresolved_conflicts_are_never_pushed() {
    let fixture = "
        base anki #1 Bio | Question=q |
        markdown  #1 Bio | Question=q2 |
        unresolved 1
    ";
    for mode in ["sync", "ma", "ma --force"] {
        check(mode, fixture, "#1:\n  skipped UnresolvedConflict");
    }
}

#[test]
fn summary_counts_moves_and_updates_separately() {
    let mut input = Input::default();
    input.base.insert(1, n("Bio | Question=q |"));
    input.anki.insert(1, n("Bio | Question=q |"));
    input.markdown.insert(1, n("Chem | Question=q2 |"));
    input.new_in_markdown.push(n("Bio | Question=new |"));
    let p = plan(&input, &Options { direction: Direction::ToAnki, ..Options::default() });
    let s = p.summary(&input);
    assert_eq!((s.anki_created, s.anki_updated, s.anki_moved, s.anki_deleted), (1, 1, 1, 0));
}

#[test]
fn a_note_whose_id_line_was_deleted_keeps_its_id() {
    // The id line was deleted by accident (and the note moved to another file): the same note, not a new one.
    let fixture = "
        base anki #3 Bio | Question=q; Answer=a | t
        new Chem | Question=q; Answer=a | t
    ";
    let expect = "recognised New(0) as #3\n#3:\n  anki update Chem | Answer=a; Question=q | t\n  base Chem | Answer=a; Question=q | t";
    check("ma", fixture, expect);
    check("sync", fixture, expect);
    check("ma --force", fixture, expect);
    check("am", fixture, "recognised New(0) as #3\n#3:\n  skipped ChangedInMarkdown");
}

#[test]
fn a_mistyped_id_is_recognised_as_the_note_it_was() {
    let fixture = "
        base anki #3 Bio | Question=q; Answer=a |
        markdown  #4 Bio | Question=q; Answer=a |
    ";
    check("ma", fixture, "recognised UnknownId(4) as #3");
    check("sync", fixture, "recognised UnknownId(4) as #3");
}

#[test]
fn an_old_checkout_edited_since_keeps_every_id() {
    // The folder from before ids were written, while the notes were edited in Anki since: every note is found.
    let fixture = "
        base anki #1 Bio | Question=capital of France; Answer=Paris |
        base anki #2 Bio | Question=capital of Spain; Answer=Madrid (since) |
        base anki #3 Bio | Question=capital of Italy; Answer=Rome |
        new Bio | Question=capital of France; Answer=Paris |
        new Bio | Question=capital of Spain; Answer=Madrid |
        new Bio | Question=capital of Italy; Answer=Rome |
    ";
    let got_recognised = |mode: &str| {
        let mut input = Input::default();
        for (id, q, a) in [
            (1, "capital of France", "Paris"),
            (2, "capital of Spain", "Madrid (since)"),
            (3, "capital of Italy", "Rome"),
        ] {
            let s = n(&format!("Bio | Question={q}; Answer={a} |"));
            input.base.insert(id, s.clone());
            input.anki.insert(id, s);
        }
        for (q, a) in [("capital of France", "Paris"), ("capital of Spain", "Madrid"), ("capital of Italy", "Rome")] {
            input.new_in_markdown.push(n(&format!("Bio | Question={q}; Answer={a} |")));
        }
        let direction = if mode == "ma" { Direction::ToAnki } else { Direction::Both };
        let p = plan(&input, &Options { direction, ..Options::default() });
        assert!(p.notes.iter().all(|n| !matches!(n.anki, Some(AnkiChange::Create(_) | AnkiChange::Delete(_)))));
        p.recognised
    };
    for mode in ["ma", "sync"] {
        assert_eq!(
            got_recognised(mode),
            vec![
                (ankiops_sync::Recognised::New(0), 1),
                (ankiops_sync::Recognised::New(1), 2),
                (ankiops_sync::Recognised::New(2), 3)
            ]
        );
    }
    check(
        "ma",
        fixture,
        "recognised New(0) as #1
recognised New(1) as #2
recognised New(2) as #3
#2:
  anki update Bio | Answer=Madrid; Question=capital of Spain | 
  base Bio | Answer=Madrid; Question=capital of Spain |",
    );
}

#[test]
fn look_alike_notes_are_never_guessed_between() {
    // Two vanished notes share the question with a new one, and neither is a better match: no guess.
    let fixture = "
        base anki #1 Code | Question=output?; Answer=1 |
        base anki #2 Code | Question=output?; Answer=2 |
        new Code | Question=output?; Answer=3 |
    ";
    let got = {
        let mut input = Input::default();
        for (id, a) in [(1, "1"), (2, "2")] {
            let s = n(&format!("Code | Question=output?; Answer={a} |"));
            input.base.insert(id, s.clone());
            input.anki.insert(id, s);
        }
        input.new_in_markdown.push(n("Code | Question=output?; Answer=3 |"));
        plan(&input, &Options { direction: Direction::ToAnki, ..Options::default() })
    };
    assert!(got.recognised.is_empty(), "{:?}", got.recognised);
    check(
        "ma",
        fixture,
        "#1:\n  anki delete\n  base remove\n#2:\n  anki delete\n  base remove\nnew[0]:\n  anki create Code | Answer=3; Question=output? | \n  base Code | Answer=3; Question=output? |",
    );
}

#[test]
fn a_protected_note_is_never_deleted_moved_or_removed() {
    // Its id is written in a deck file that does not parse: it looks gone from the Markdown, and is not.
    let gone_from_markdown = "
        base anki #1 Bio | Question=q |
        protected 1
    ";
    let moved = "
        base anki #1 Bio | Question=q |
        markdown  #1 Chem | Question=q |
        protected 1
    ";
    let gone_from_anki = "
        base markdown #1 Bio | Question=q |
        protected 1
    ";
    for mode in ["sync", "ma", "am", "ma --force", "am --force"] {
        for fixture in [gone_from_markdown, moved, gone_from_anki] {
            check(mode, fixture, "#1:\n  skipped Protected");
        }
    }
    // Nor is it taken for a new note's twin.
    check(
        "ma",
        "base anki #1 Bio | Question=q |\nnew Bio | Question=q |\nprotected 1",
        "#1:\n  skipped Protected\nnew[0]:\n  anki create Bio | Question=q | \n  base Bio | Question=q |",
    );
}

#[test]
fn only_add_new_and_keep_orphans_are_options() {
    let mut input = Input::default();
    input.base.insert(1, n("Bio | Question=q |"));
    input.markdown.insert(1, n("Bio | Question=q |"));
    input.base.insert(2, n("Bio | Question=two |"));
    input.anki.insert(2, n("Bio | Question=two, edited |"));
    input.markdown.insert(2, n("Bio | Question=two |"));
    input.new_in_markdown.push(n("Bio | Question=new |"));
    let only_new = plan(&input, &Options { direction: Direction::ToAnki, only_add_new: true, ..Options::default() });
    assert_eq!(only_new.notes.iter().map(|p| p.note).collect::<Vec<_>>(), vec![NoteRef::New(0)]);
    let keep = plan(&input, &Options { direction: Direction::ToMarkdown, keep_orphans: true, ..Options::default() });
    assert!(keep.notes.iter().all(|p| p.markdown != Some(MarkdownChange::Delete)), "{keep:?}");
    let drop = plan(&input, &Options { direction: Direction::ToMarkdown, ..Options::default() });
    assert!(drop.notes.iter().any(|p| p.markdown == Some(MarkdownChange::Delete)), "{drop:?}");
}

#[test]
fn next_base_stores_a_created_note_under_the_id_anki_gave_it() {
    let fixture = "
        new Bio | Question=q; Answer=a
        base markdown anki #1 Bio | Question=old; Answer=a
    ";
    check_next_base(
        "ma",
        fixture,
        "new[0]=#50",
        "#1 Bio | Answer=a; Question=old | \n#50 Bio | Answer=a; Question=q |",
    );
}

#[test]
fn next_base_keeps_the_old_base_of_what_failed() {
    let fixture = "
        new Bio | Question=q; Answer=a
        base anki #1 Bio | Question=old; Answer=a
        markdown #1 Bio | Question=edited; Answer=a
        base markdown anki #2 Bio | Question=two; Answer=a
        markdown #3 Bio | Question=three
    ";
    // The edit of #1 was not applied and the creation failed: nothing of theirs moves.
    check_next_base(
        "ma",
        fixture,
        "failed #1, failed new[0], failed #3",
        "#1 Bio | Answer=a; Question=old | \n#2 Bio | Answer=a; Question=two |",
    );
    // Applied, #1 gets its new state.
    check_next_base(
        "ma",
        fixture,
        "failed new[0], failed #3",
        "#1 Bio | Answer=a; Question=edited | \n#2 Bio | Answer=a; Question=two |",
    );
}

#[test]
fn next_base_replaces_a_re_created_note_and_forgets_a_deleted_one() {
    // #1 was deleted in Anki and edited in the Markdown: added again under a new id. #2 was deleted in the
    // Markdown: deleted in Anki, and its base goes.
    let fixture = "
        base anki #2 Bio | Question=two
        base #1 Bio | Question=one
        markdown #1 Bio | Question=one, edited
    ";
    check_next_base("sync", fixture, "#1=#90", "#90 Bio | Question=one, edited |");
}

#[test]
fn next_base_of_an_adopted_note_is_under_the_id_written_back() {
    let fixture = "
        new Bio | Question=q; Answer=a | t
        anki #7 Bio | Question=q; Answer=a | t
    ";
    check_next_base("sync", fixture, "", "#7 Bio | Answer=a; Question=q | t");
    // A file that could not take the id (saved during the run) keeps it out of the base.
    check_next_base("sync", fixture, "failed new[0]", "empty");
}

#[test]
fn next_base_of_a_recognised_note_keeps_its_id() {
    let fixture = "
        base anki #5 Bio | Question=q; Answer=a
        new Bio | Question=q; Answer=a, edited
    ";
    check_next_base("ma", fixture, "", "#5 Bio | Answer=a, edited; Question=q |");
}

/// A stand-in for the converter: `__x__` and `**x**` are the same HTML; Anki's HTML is given per note.
struct ToyHtml(BTreeMap<i64, BTreeMap<String, String>>);

impl ToyHtml {
    fn html(markdown: &str) -> String {
        markdown.replace("__", "**")
    }
    fn digest(fields: impl Iterator<Item = (String, String)>) -> HtmlDigest {
        let mut d = [0u8; 20];
        for (i, b) in fields.flat_map(|(k, v)| format!("{k}={v};").into_bytes()).enumerate() {
            d[i % 20] = d[i % 20].wrapping_mul(31).wrapping_add(b);
        }
        d
    }
}

impl AnkiHtml for ToyHtml {
    fn markdown_digest(&self, note: &NoteState) -> HtmlDigest {
        ToyHtml::digest(note.fields.iter().map(|(k, v)| (k.clone(), ToyHtml::html(v))))
    }
    fn anki_digest(&self, id: i64) -> Option<HtmlDigest> {
        self.0.get(&id).map(|f| ToyHtml::digest(f.iter().map(|(k, v)| (k.clone(), v.clone()))))
    }
    fn field_is(&self, id: i64, field: &str, markdown: &str) -> bool {
        self.0.get(&id).and_then(|f| f.get(field)).map_or("", String::as_str) == ToyHtml::html(markdown)
    }
}

#[track_caller]
fn check_aligned(mode: &str, fixture: &str, anki_html: &[(i64, &str, &str)], expect: &str) {
    let mut input = input_of(fixture);
    let mut html: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    for (id, field, value) in anki_html {
        html.entry(*id).or_default().insert(field.to_string(), value.to_string());
    }
    align(&mut input, &ToyHtml(html));
    let got = describe(&plan(&input, &options_of(mode)));
    assert_eq!(got.trim(), expect.trim(), "\n--- got ---\n{got}");
}

#[test]
fn a_field_spelled_differently_with_the_same_html_is_not_an_edit() {
    let fixture = "
        base anki #1 Bio | Question=**bold**; Answer=a
        markdown #1 Bio | Question=__bold__; Answer=a
    ";
    // Without the HTML, the spelling reads as an edit to push.
    check(
        "ma",
        fixture,
        "#1:\n  anki update Bio | Answer=a; Question=__bold__ | \n  base Bio | Answer=a; Question=__bold__ |",
    );
    check_aligned(
        "ma",
        fixture,
        &[(1, "Question", "**bold**"), (1, "Answer", "a")],
        "#1:\n  base Bio | Answer=a; Question=__bold__ |",
    );
    // Different HTML stays an edit.
    check_aligned(
        "ma",
        fixture,
        &[(1, "Question", "**old**"), (1, "Answer", "a")],
        "#1:\n  anki update Bio | Answer=a; Question=__bold__ | \n  base Bio | Answer=a; Question=__bold__ |",
    );
}

#[test]
fn a_new_note_with_the_html_of_an_unknown_anki_note_is_that_note() {
    let fixture = "
        new Bio | Question=__q__; Answer=a | t
        anki #7 Bio | Question=**q**; Answer=a | t
    ";
    check_aligned(
        "ma",
        fixture,
        &[(7, "Question", "**q**"), (7, "Answer", "a")],
        "new[0]:\n  markdown assign-id #7\n  base Bio | Answer=a; Question=__q__ | t",
    );
    // Other tags: not the same note, so both stay.
    let other = "
        new Bio | Question=__q__; Answer=a | t
        anki #7 Bio | Question=**q**; Answer=a | other
    ";
    let got = {
        let mut input = input_of(other);
        let html = BTreeMap::from([(
            7,
            BTreeMap::from([("Question".to_string(), "**q**".to_string()), ("Answer".to_string(), "a".to_string())]),
        )]);
        align(&mut input, &ToyHtml(html));
        describe(&plan(&input, &options_of("ma")))
    };
    assert!(got.contains("anki create"), "{got}");
}
