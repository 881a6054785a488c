//! The planner: resolves every note three ways, per field, per tag, and for its deck and note type.

use std::collections::{BTreeMap, BTreeSet};

use crate::merge::Merge;
use crate::model::{
    AnkiChange, BaseChange, Conflict, ConflictKind, Direction, FieldClash, Input, MarkdownChange, NoteId, NotePlan,
    NoteRef, NoteState, Options, Plan, Recognised, Skip,
};

/// Plans a run: what to change in Anki and in the Markdown, which conflicts to report, and the new base.
pub fn plan(input: &Input, options: &Options) -> Plan {
    let adopted = adopt_recreated_notes(input);
    let adopted_ids: BTreeSet<NoteId> = adopted.values().copied().collect();
    let recognised = recognise_vanished_notes(input, &adopted);

    // The Markdown as the plan sees it: a recognised note stands under the id it keeps.
    let mut markdown: BTreeMap<NoteId, &NoteState> = input.markdown.iter().map(|(id, s)| (*id, s)).collect();
    let mut recognised_new: BTreeSet<usize> = BTreeSet::new();
    for (place, id) in &recognised {
        let state = match place {
            Recognised::New(i) => {
                recognised_new.insert(*i);
                &input.new_in_markdown[*i]
            }
            Recognised::UnknownId(old) => match markdown.remove(old) {
                Some(state) => state,
                None => continue,
            },
        };
        markdown.insert(*id, state);
    }

    let mut ids: BTreeSet<NoteId> = BTreeSet::new();
    ids.extend(markdown.keys());
    ids.extend(input.base.keys());
    ids.extend(input.anki.keys());

    // Sized up front: at 10,000 notes a growing vector of plans would briefly hold twice its size. Pages never
    // written (a run with little to do) cost nothing.
    let mut notes = Vec::with_capacity(ids.len() + input.new_in_markdown.len());
    for id in ids {
        if adopted_ids.contains(&id) {
            continue;
        }
        let note = NoteRef::Existing(id);
        if input.protected.contains(&id) {
            notes.push(NotePlan::skip(note, Skip::Protected));
            continue;
        }
        if input.unresolved.contains(&id) {
            notes.push(NotePlan::skip(note, Skip::UnresolvedConflict));
            continue;
        }
        let sides = Merge::new(markdown.get(&id).copied(), input.base.get(&id), input.anki.get(&id));
        if let Some(p) = plan_note(note, &sides, options) {
            notes.push(p);
        }
    }
    for (index, state) in input.new_in_markdown.iter().enumerate() {
        if recognised_new.contains(&index) {
            continue;
        }
        let note = NoteRef::New(index);
        if let Some(&id) = adopted.get(&index) {
            notes.push(NotePlan {
                note,
                anki: None,
                markdown: Some(MarkdownChange::AssignId(id)),
                base: BaseChange::Set(state.clone()),
                conflict: None,
                skipped: None,
            });
            continue;
        }
        let sides = Merge::new(Some(state), None, None);
        if let Some(p) = plan_note(note, &sides, options) {
            notes.push(p);
        }
    }
    if options.only_add_new {
        notes.retain(|p| matches!(p.note, NoteRef::New(_)));
    }
    if options.keep_orphans {
        notes.retain(|p| !matches!(p.markdown, Some(MarkdownChange::Delete)));
    }
    Plan { notes, recognised }
}

/// A new Markdown note that Anki already holds, unknown to the base and to the Markdown, is the same note: a
/// previous run added it and stopped before writing its id back. Matching on the whole note (type, deck,
/// fields, tags) means a re-run never adds it twice.
fn adopt_recreated_notes(input: &Input) -> BTreeMap<usize, NoteId> {
    let mut candidates: BTreeMap<&NoteState, Vec<NoteId>> = BTreeMap::new();
    for (id, state) in &input.anki {
        if !input.base.contains_key(id) && !input.markdown.contains_key(id) && !input.protected.contains(id) {
            candidates.entry(state).or_default().push(*id);
        }
    }
    let mut adopted = BTreeMap::new();
    for (index, state) in input.new_in_markdown.iter().enumerate() {
        if let Some(ids) = candidates.get_mut(state)
            && !ids.is_empty()
        {
            adopted.insert(index, ids.remove(0));
        }
    }
    adopted
}

/// A note that vanished from the Markdown (the base and Anki have it, no deck file names its id) and a Markdown
/// note without a usable id (none, or one neither the base nor Anki knows) are one note when their content
/// matches: an id line deleted or mistyped by accident, or an old checkout from before ids were written. The
/// note keeps its id, and so its cards and review history, instead of being deleted and added again.
///
/// First the same note type and fields as the vanished note's base or Anki side; then, for what is left, the
/// one vanished note of the same type sharing the most fields (equal values), when that is mutual and unique,
/// so a note edited since the checkout is still found but two look-alikes are never guessed between.
fn recognise_vanished_notes(input: &Input, adopted: &BTreeMap<usize, NoteId>) -> Vec<(Recognised, NoteId)> {
    let vanished: Vec<NoteId> = input
        .base
        .keys()
        .filter(|id| {
            input.anki.contains_key(id)
                && !input.markdown.contains_key(id)
                && !input.protected.contains(id)
                && !input.unresolved.contains(id)
        })
        .copied()
        .collect();
    if vanished.is_empty() {
        return Vec::new();
    }
    let mut sources: Vec<(Recognised, &NoteState)> = input
        .new_in_markdown
        .iter()
        .enumerate()
        .filter(|(i, _)| !adopted.contains_key(i))
        .map(|(i, s)| (Recognised::New(i), s))
        .collect();
    sources.extend(
        input
            .markdown
            .iter()
            .filter(|(id, _)| {
                !input.base.contains_key(id)
                    && !input.anki.contains_key(id)
                    && !input.protected.contains(id)
                    && !input.unresolved.contains(id)
            })
            .map(|(id, s)| (Recognised::UnknownId(*id), s)),
    );
    if sources.is_empty() {
        return Vec::new();
    }

    let sides = |id: &NoteId| [input.base.get(id), input.anki.get(id)].into_iter().flatten();
    let mut found: Vec<(Recognised, NoteId)> = Vec::new();
    let mut taken: BTreeSet<NoteId> = BTreeSet::new();
    let mut matched: BTreeSet<usize> = BTreeSet::new();

    // Exact content.
    let mut by_content: BTreeMap<(&str, &BTreeMap<String, String>), Vec<NoteId>> = BTreeMap::new();
    for id in &vanished {
        let mut keys: Vec<(&str, &BTreeMap<String, String>)> =
            sides(id).map(|s| (s.note_type.as_str(), &s.fields)).collect();
        keys.dedup();
        for key in keys {
            by_content.entry(key).or_default().push(*id);
        }
    }
    for (k, (place, state)) in sources.iter().enumerate() {
        let Some(ids) = by_content.get(&(state.note_type.as_str(), &state.fields)) else { continue };
        if let Some(id) = ids.iter().find(|id| !taken.contains(id)) {
            taken.insert(*id);
            matched.insert(k);
            found.push((*place, *id));
        }
    }

    // Most fields in common, mutual and unique.
    let mut by_field: BTreeMap<(&str, &str, &str), BTreeSet<NoteId>> = BTreeMap::new();
    for id in vanished.iter().filter(|id| !taken.contains(id)) {
        for side in sides(id) {
            for (name, value) in &side.fields {
                by_field.entry((side.note_type.as_str(), name.as_str(), value.as_str())).or_default().insert(*id);
            }
        }
    }
    let mut scores: BTreeMap<usize, BTreeMap<NoteId, usize>> = BTreeMap::new();
    for (k, (_, state)) in sources.iter().enumerate().filter(|(k, _)| !matched.contains(k)) {
        let mut hits: BTreeMap<NoteId, usize> = BTreeMap::new();
        for (name, value) in &state.fields {
            for id in by_field.get(&(state.note_type.as_str(), name.as_str(), value.as_str())).into_iter().flatten() {
                *hits.entry(*id).or_default() += 1;
            }
        }
        // At least half of the note's fields are as they were.
        hits.retain(|_, score| *score * 2 >= state.fields.len());
        if !hits.is_empty() {
            scores.insert(k, hits);
        }
    }
    let unique_best = |pairs: &mut dyn Iterator<Item = (usize, NoteId, usize)>| {
        let mut best: Option<(usize, NoteId, usize)> = None;
        let mut tie = false;
        for (k, id, score) in pairs {
            match best {
                Some((_, _, top)) if score < top => {}
                Some((_, _, top)) if score == top => tie = true,
                _ => {
                    best = Some((k, id, score));
                    tie = false;
                }
            }
        }
        if tie { None } else { best }
    };
    for (k, candidates) in &scores {
        let Some((_, id, _)) = unique_best(&mut candidates.iter().map(|(id, score)| (*k, *id, *score))) else {
            continue;
        };
        let mut rivals = scores.iter().filter_map(|(other, c)| c.get(&id).map(|score| (*other, id, *score)));
        if unique_best(&mut rivals).is_some_and(|(back, _, _)| back == *k) {
            taken.insert(id);
            found.push((sources[*k].0, id));
        }
    }
    found.sort();
    found
}

impl NotePlan {
    fn skip(note: NoteRef, why: Skip) -> NotePlan {
        NotePlan { note, anki: None, markdown: None, base: BaseChange::Keep, conflict: None, skipped: Some(why) }
    }
}

/// How the two sides of one note combine, before the direction decides what to apply.
enum Outcome {
    /// The merged note (`None`: deleted).
    Resolved(Option<NoteState>),
    /// Both sides edited it: `partial` holds everything that merged, with the Markdown's side where it did not.
    Clash { partial: NoteState, conflict: Conflict },
    /// One side deleted it, the other edited it.
    DeleteEdit(ConflictKind),
}

fn plan_note(note: NoteRef, sides: &Merge<Option<&NoteState>>, options: &Options) -> Option<NotePlan> {
    let (m, b, a) = (sides.markdown, sides.base, sides.anki);
    if m == a {
        // Both sides agree; only the base may need to catch up.
        return (b != m).then(|| NotePlan {
            note,
            anki: None,
            markdown: None,
            base: base_of(m),
            conflict: None,
            skipped: None,
        });
    }
    let outcome = if m == b {
        Outcome::Resolved(a.cloned())
    } else if a == b {
        Outcome::Resolved(m.cloned())
    } else {
        match (m, a) {
            (Some(m), Some(a)) => merge_fields(m, b, a),
            (None, Some(_)) => Outcome::DeleteEdit(ConflictKind::MarkdownDeletedAnkiModified),
            (Some(_), None) => Outcome::DeleteEdit(ConflictKind::MarkdownModifiedAnkiDeleted),
            (None, None) => unreachable!("m == a was handled above"),
        }
    };
    let mut p = NotePlan { note, anki: None, markdown: None, base: BaseChange::Keep, conflict: None, skipped: None };
    match options.direction {
        Direction::Both => match outcome {
            Outcome::Resolved(r) => {
                p.anki = anki_change(a, r.as_ref());
                p.markdown = markdown_change(m, r.as_ref());
                p.base = base_of(r.as_ref());
            }
            Outcome::Clash { partial, conflict } => {
                // The Markdown gets the merged note with markers; Anki stays untouched until they are gone. The base
                // becomes Anki's note, so whatever the user resolves to wins on the next run.
                p.markdown = Some(MarkdownChange::WriteConflict { state: partial, clashes: conflict.fields.clone() });
                p.base = base_of(a);
                p.conflict = Some(conflict);
            }
            Outcome::DeleteEdit(kind) => {
                // Nothing is lost: the edited note survives on both sides.
                let kept = if kind == ConflictKind::MarkdownDeletedAnkiModified { a } else { m };
                p.anki = anki_change(a, kept);
                p.markdown = markdown_change(m, kept);
                p.base = base_of(kept);
                p.conflict = Some(Conflict { kind, fields: Vec::new(), deck: None, note_type: None });
            }
        },
        Direction::ToAnki => match one_way_target(outcome, options.force, m, b, a, &mut p) {
            Some(r) => {
                p.anki = anki_change(a, r.as_ref());
                p.base = base_of(m);
                if r.as_ref() != m {
                    p.skipped = Some(if m.is_none() && b.is_none() { Skip::OnlyInAnki } else { Skip::ChangedInAnki });
                }
            }
            None => p.skipped = Some(Skip::Conflict),
        },
        Direction::ToMarkdown => match one_way_target(outcome, options.force, a, b, m, &mut p) {
            Some(r) => {
                p.markdown = markdown_change(m, r.as_ref());
                p.base = base_of(a);
                if r.as_ref() != a {
                    p.skipped =
                        Some(if a.is_none() && b.is_none() { Skip::OnlyInMarkdown } else { Skip::ChangedInMarkdown });
                }
            }
            None => p.skipped = Some(Skip::Conflict),
        },
    }
    // A base that would not change is kept as it is; a new note that Anki does not get has no base at all.
    let base_unchanged = match &p.base {
        BaseChange::Keep => true,
        BaseChange::Set(s) => Some(s) == b,
        BaseChange::Remove => b.is_none(),
        BaseChange::SetToAnki | BaseChange::SetToMarkdown => false,
    };
    if base_unchanged || (matches!(note, NoteRef::New(_)) && p.anki.is_none()) {
        p.base = BaseChange::Keep;
    }
    // A base equal to what is written points at it instead of holding a copy.
    if let BaseChange::Set(state) = &p.base {
        if matches!(&p.anki, Some(AnkiChange::Create(s) | AnkiChange::Update { after: s, .. }) if s == state) {
            p.base = BaseChange::SetToAnki;
        } else if matches!(&p.markdown, Some(MarkdownChange::Write(s)) if s == state) {
            p.base = BaseChange::SetToMarkdown;
        }
    }
    let idle = p.anki.is_none() && p.markdown.is_none() && p.conflict.is_none() && p.skipped.is_none();
    (!(idle && p.base == BaseChange::Keep)).then_some(p)
}

/// What a one-way run makes its target hold: the source as it is with `--force`, or when there is no base and
/// the target does not have the note; else the merged note. Without a base, two sides that differ are a
/// conflict: nothing says which edit is newer. `None` for a conflict, which is recorded in `p`.
fn one_way_target(
    outcome: Outcome,
    force: bool,
    source: Option<&NoteState>,
    base: Option<&NoteState>,
    target: Option<&NoteState>,
    p: &mut NotePlan,
) -> Option<Option<NoteState>> {
    if force || (base.is_none() && source.is_some() && target.is_none()) {
        return Some(source.cloned());
    }
    match outcome {
        Outcome::Resolved(r) => Some(r),
        Outcome::Clash { conflict, .. } => {
            p.conflict = Some(conflict);
            None
        }
        Outcome::DeleteEdit(kind) => {
            p.conflict = Some(Conflict { kind, fields: Vec::new(), deck: None, note_type: None });
            None
        }
    }
}

fn base_of(state: Option<&NoteState>) -> BaseChange {
    match state {
        Some(s) => BaseChange::Set(s.clone()),
        None => BaseChange::Remove,
    }
}

fn anki_change(current: Option<&NoteState>, target: Option<&NoteState>) -> Option<AnkiChange> {
    match (current, target) {
        (None, None) => None,
        (None, Some(t)) => Some(AnkiChange::Create(t.clone())),
        (Some(c), None) => Some(AnkiChange::Delete(c.clone())),
        (Some(c), Some(t)) => (c != t).then(|| AnkiChange::Update { before: c.clone(), after: t.clone() }),
    }
}

fn markdown_change(current: Option<&NoteState>, target: Option<&NoteState>) -> Option<MarkdownChange> {
    match (current, target) {
        (None, None) => None,
        (_, Some(t)) => (current != Some(t)).then(|| MarkdownChange::Write(t.clone())),
        (Some(_), None) => Some(MarkdownChange::Delete),
    }
}

/// Both sides edited the note: merge its parts one by one. Tags always merge (each tag is present or not);
/// fields, the deck and the note type may clash.
fn merge_fields(m: &NoteState, b: Option<&NoteState>, a: &NoteState) -> Outcome {
    let empty = NoteState::default();
    let base = b.unwrap_or(&empty);
    let kind = if b.is_some() { ConflictKind::BothModified } else { ConflictKind::BothAdded };

    let mut merged = NoteState::default();
    let mut conflict = Conflict { kind, fields: Vec::new(), deck: None, note_type: None };

    let note_type = Merge::new(m.note_type.clone(), base.note_type.clone(), a.note_type.clone());
    merged.note_type = match note_type.trivial() {
        Some(t) => t.clone(),
        None => {
            conflict.note_type = Some(note_type.clone());
            m.note_type.clone()
        }
    };
    let deck = Merge::new(m.deck.clone(), base.deck.clone(), a.deck.clone());
    merged.deck = match deck.trivial() {
        Some(d) => d.clone(),
        None => {
            conflict.deck = Some(deck.clone());
            m.deck.clone()
        }
    };

    let names: BTreeSet<&String> = m.fields.keys().chain(base.fields.keys()).chain(a.fields.keys()).collect();
    for name in names {
        let sides = Merge::new(m.fields.get(name), base.fields.get(name), a.fields.get(name));
        match sides.trivial() {
            Some(Some(v)) => {
                merged.fields.insert(name.clone(), (*v).clone());
            }
            Some(None) => {}
            None => {
                conflict.fields.push(FieldClash { field: name.clone(), sides: sides.map(|v| v.cloned()) });
                if let Some(v) = m.fields.get(name) {
                    merged.fields.insert(name.clone(), v.clone());
                }
            }
        }
    }

    let tags: BTreeSet<&String> = m.tags.iter().chain(base.tags.iter()).chain(a.tags.iter()).collect();
    for tag in tags {
        let present = Merge::new(m.tags.contains(tag), base.tags.contains(tag), a.tags.contains(tag));
        if *present.trivial().expect("a yes/no value always merges: two of three sides agree") {
            merged.tags.insert(tag.clone());
        }
    }

    if conflict.fields.is_empty() && conflict.deck.is_none() && conflict.note_type.is_none() {
        Outcome::Resolved(Some(merged))
    } else {
        Outcome::Clash { partial: merged, conflict }
    }
}
