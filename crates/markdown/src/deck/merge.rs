//! Merging three versions of one deck file, the job of the Git merge driver (`ankiops merge-file`): per note
//! by `note_id`, per field, per tag and for the note type, keeping the bytes of every note the merge leaves as
//! one side wrote it.
//!
//! The rules, in the order they apply:
//! - **Which notes are one note.** Notes with the same `note_id` are one note. A base note missing from a side
//!   is that side's note of exactly the same content (type, fields, tags) that carries no id, or an id neither
//!   the base nor the other side has: an id line written by `ma` on that side, or a note that came back from
//!   another profile under another id; failing that, the one note without an id of the same type sharing most
//!   fields (at least half) with it, when that is unique both ways (an edited note whose id line was never
//!   written or got lost). Notes new on both sides with the same content are one note.
//! - **Each value three ways**, as the sync engine does (`ankiops_sync::Merge::trivial`): the same on both
//!   sides, or changed on one side only, is taken; changed differently on both sides is a conflict. Field
//!   values are compared on canonical Markdown (`normalize_markdown`), an empty field is an absent one, tags
//!   merge one by one (so they never conflict), and an id a side lost is kept from the side that has it.
//! - **Conflicts are written the way `sync` writes them**, as conflict markers around the field, each side
//!   labelled with the name Git gives it, so the next `sync` or `status` reports the note as unresolved and never
//!   pushes it. A note deleted on one side and edited on the other is kept with every field between markers
//!   whose deleting side is empty. A note whose type changed in a way its fields cannot follow is written twice,
//!   both versions under the same id, which the parser reports until one is removed.
//! - **Order**: ours, unless ours kept the base's order of the notes common to all three and theirs did not;
//!   the other side's notes go right after the note they followed there.
//!
//! Only notes that differ from both sides are written in the canonical form; the start and end of the file,
//! its line endings and byte order mark are ours.
//!
//! The three-way rule is [`three_way`] here rather than `ankiops_sync::Merge`: this crate sits below the engine
//! and depends on nothing of it, and the merge needs the preserved bytes only [`DeckFile`] holds.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use indexmap::IndexMap;

use super::parse::{fence_closes, fence_open, marker};
use super::render::{render_note_with, splice_note_id};
use super::{DeckFile, FieldConflict, NoteBlock, RawNote, parse_deck};
use crate::convert::normalize_markdown;
use crate::note_types::Registry;

/// The names written after the conflict markers: `<<<<<<< ours`, `||||||| base`, `>>>>>>> theirs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeLabels<'a> {
    pub ours: &'a str,
    pub base: &'a str,
    pub theirs: &'a str,
}

impl Default for MergeLabels<'_> {
    fn default() -> Self {
        MergeLabels { ours: "ours", base: "base", theirs: "theirs" }
    }
}

/// What [`merge_deck`] made: the merged file and its conflicts (none: a clean merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckMerge {
    pub text: String,
    pub conflicts: Vec<MergeConflict>,
}

/// A note the merge could not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    pub note_id: Option<i64>,
    /// 1-based line of the note in the merged text.
    pub line: usize,
    pub kind: MergeConflictKind,
}

/// Conflict cases, named after both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeConflictKind {
    /// The field changed differently on both sides; written between conflict markers.
    BothModified { field: String },
    /// Deleted on our side, edited on theirs: kept, every field between markers with our side empty.
    OursDeletedTheirsModified,
    /// Edited on our side, deleted on theirs: kept, every field between markers with their side empty.
    OursModifiedTheirsDeleted,
    /// The note type changed (on both sides differently, or on one side while the other edited fields): both
    /// versions are written, one after the other, under the same id.
    NoteType { ours: String, theirs: String },
    /// The field already held conflict markers on one side and was changed on the other; those markers are kept.
    ConflictChanged { field: String },
}

impl fmt::Display for MergeConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeConflictKind::BothModified { field } => {
                write!(
                    f,
                    "field '{field}' changed differently on both sides; keep the version you want between the markers"
                )
            }
            MergeConflictKind::OursDeletedTheirsModified => {
                write!(
                    f,
                    "deleted on our side and edited on theirs; remove the note to delete it, or remove the markers to keep it"
                )
            }
            MergeConflictKind::OursModifiedTheirsDeleted => {
                write!(
                    f,
                    "edited on our side and deleted on theirs; remove the note to delete it, or remove the markers to keep it"
                )
            }
            MergeConflictKind::NoteType { ours, theirs } => write!(
                f,
                "note type changed to {ours} on our side and {theirs} on theirs; both versions are in the file, remove one"
            ),
            MergeConflictKind::ConflictChanged { field } => write!(
                f,
                "field '{field}' held conflict markers on one side and was changed on the other; resolve them by hand"
            ),
        }
    }
}

/// Merges `ours` and `theirs`, both edited from `base` (see the module documentation for the rules).
pub fn merge_deck(
    base: &DeckFile,
    ours: &DeckFile,
    theirs: &DeckFile,
    registry: &Registry,
    labels: MergeLabels<'_>,
) -> DeckMerge {
    let entities = match_notes(&base.notes, &ours.notes, &theirs.notes);
    let mut resolved: Vec<Vec<Merged>> = Vec::with_capacity(entities.len());
    fn pick(file: &DeckFile, index: Option<usize>) -> Option<&NoteBlock> {
        index.and_then(|i| file.notes.get(i))
    }
    for e in &entities {
        resolved.push(resolve(e, pick(base, e.base), pick(ours, e.ours), pick(theirs, e.theirs), registry));
    }
    let order = order(&entities, &resolved, ours.notes.len(), theirs.notes.len());

    let deck_id = match three_way(&ours.deck_id, &base.deck_id, &theirs.deck_id) {
        // Both sides set another deck id: ours is the id of the Anki this merge is for.
        Resolved::Ours | Resolved::Conflict => ours.deck_id,
        Resolved::Theirs => theirs.deck_id,
    };
    let mut file = DeckFile {
        deck_id,
        notes: Vec::new(),
        raw: Vec::new(),
        bom: ours.bom,
        deck_line: ours.deck_line.clone(),
        gap: ours.gap.clone(),
        tail: ours.tail.clone(),
        crlf: ours.crlf,
    };
    let mut kinds: Vec<(usize, Option<i64>, MergeConflictKind)> = Vec::new();
    let mut previous: Option<(Side, usize)> = None;
    for entity in order {
        for merged in std::mem::take(&mut resolved[entity]) {
            let (raw, from) = raw_for(&merged, ours, theirs, registry, labels);
            let keeps_lead = matches!((from, previous), (Some((s, i)), Some((p, j))) if s == p && i == j + 1);
            let raw = RawNote { lead: if keeps_lead { raw.lead } else { String::new() }, ..raw };
            previous = from;
            let at = file.notes.len();
            kinds.extend(merged.conflicts.iter().map(|k| (at, merged.note.note_id, k.clone())));
            file.notes.push(merged.note);
            file.raw.push(Some(raw));
        }
    }
    let mut text = file.to_text(registry);
    // Ours' last note without a line ending stays so; any other note last gets one.
    let ours_last = ours.notes.len().checked_sub(1).map(|i| (Side::Ours, i));
    if !text.ends_with('\n') && !file.notes.is_empty() && (previous.is_none() || previous != ours_last) {
        text.push_str(if file.crlf { "\r\n" } else { "\n" });
    }
    let conflicts = locate(&text, kinds, registry);
    DeckMerge { text, conflicts }
}

/// One note across the three versions: its index in each, if it is there.
#[derive(Debug, Default, Clone, Copy)]
struct Entity {
    base: Option<usize>,
    ours: Option<usize>,
    theirs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Theirs,
}

/// A note's content as merges compare it: type, tags, canonical non-empty fields, conflicts; not its id.
type Key = Vec<String>;

fn key(note: &NoteBlock) -> Key {
    let mut key = vec![note.note_type.clone(), note.tags.join(" ")];
    let mut fields: Vec<(&str, String)> =
        note.fields.iter().map(|(n, v)| (n.as_str(), normalize_markdown(v))).filter(|(_, v)| !v.is_empty()).collect();
    fields.sort();
    key.extend(fields.into_iter().map(|(n, v)| format!("f\0{n}\0{v}")));
    let side = |s: &Option<String>| s.as_deref().map_or("\u{1}".to_owned(), normalize_markdown);
    key.extend(
        note.conflicts
            .iter()
            .map(|c| format!("c\0{}\0{}\0{}\0{}", c.field, side(&c.markdown), side(&c.base), side(&c.anki))),
    );
    key
}

/// Pairs the notes of the three versions (the first rule of the module documentation).
fn match_notes(base: &[NoteBlock], ours: &[NoteBlock], theirs: &[NoteBlock]) -> Vec<Entity> {
    let by_id = |notes: &[NoteBlock]| -> HashMap<i64, usize> {
        notes.iter().enumerate().filter_map(|(i, n)| n.note_id.map(|id| (id, i))).collect()
    };
    let (base_ids, ours_ids, theirs_ids) = (by_id(base), by_id(ours), by_id(theirs));
    let mut taken_ours = vec![false; ours.len()];
    let mut taken_theirs = vec![false; theirs.len()];
    let mut entities: Vec<Entity> = Vec::with_capacity(base.len() + ours.len() + theirs.len());
    for (i, note) in base.iter().enumerate() {
        let ours = note.note_id.and_then(|id| ours_ids.get(&id).copied());
        let theirs = note.note_id.and_then(|id| theirs_ids.get(&id).copied());
        if let Some(j) = ours {
            taken_ours[j] = true;
        }
        if let Some(j) = theirs {
            taken_theirs[j] = true;
        }
        entities.push(Entity { base: Some(i), ours, theirs });
    }
    // A base note missing from a side: that side's note of the same content without an id, or with one only it has.
    let ours_found = pair_by_content(base, ours, &taken_ours, &base_ids, &theirs_ids, entities.iter().map(|e| e.ours));
    for (e, j) in ours_found {
        taken_ours[j] = true;
        entities[e].ours = Some(j);
    }
    let theirs_found =
        pair_by_content(base, theirs, &taken_theirs, &base_ids, &ours_ids, entities.iter().map(|e| e.theirs));
    for (e, j) in theirs_found {
        taken_theirs[j] = true;
        entities[e].theirs = Some(j);
    }

    // New notes: ours first; theirs join ours of the same id, or of the same content when neither has an id.
    let mut new_by_id: HashMap<i64, usize> = HashMap::new();
    let mut new_by_content: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (j, note) in ours.iter().enumerate().filter(|(j, _)| !taken_ours[*j]) {
        let e = entities.len();
        match note.note_id {
            Some(id) => {
                new_by_id.insert(id, e);
            }
            None => new_by_content.entry(key(note)).or_default().push_back(e),
        }
        entities.push(Entity { ours: Some(j), ..Entity::default() });
    }
    for (j, note) in theirs.iter().enumerate().filter(|(j, _)| !taken_theirs[*j]) {
        let joined = match note.note_id {
            Some(id) => new_by_id.get(&id).copied(),
            None => new_by_content.get_mut(&key(note)).and_then(VecDeque::pop_front),
        };
        match joined {
            Some(e) => entities[e].theirs = Some(j),
            None => entities.push(Entity { theirs: Some(j), ..Entity::default() }),
        }
    }
    entities
}

/// For the base notes (`found[i]`: the side's note paired with base note `i` so far) that `side` lacks, the
/// first free note of `side` with the same content whose id is none, or one neither the base nor the other side
/// has: `(base index, side index)` pairs.
fn pair_by_content(
    base: &[NoteBlock],
    side: &[NoteBlock],
    taken: &[bool],
    base_ids: &HashMap<i64, usize>,
    other_ids: &HashMap<i64, usize>,
    found: impl Iterator<Item = Option<usize>>,
) -> Vec<(usize, usize)> {
    let mut free: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (j, note) in side.iter().enumerate() {
        let own_id = note.note_id.is_none_or(|id| !base_ids.contains_key(&id) && !other_ids.contains_key(&id));
        if !taken[j] && own_id {
            free.entry(key(note)).or_default().push_back(j);
        }
    }
    let mut pairs = Vec::new();
    let mut unpaired = Vec::new();
    for (i, found) in found.enumerate().take(base.len()) {
        if found.is_some() {
            continue;
        }
        match free.get_mut(&key(&base[i])).and_then(VecDeque::pop_front) {
            Some(j) => pairs.push((i, j)),
            None => unpaired.push(i),
        }
    }
    // Then an edited note that lost its id, or never had one: the one note without an id of the same type that
    // shares most fields (at least half) with the base note, when the choice is unique both ways, as the sync
    // engine recognises a note.
    let mut taken: Vec<bool> = taken.to_vec();
    for &(_, j) in &pairs {
        taken[j] = true;
    }
    let candidates: Vec<usize> =
        (0..side.len()).filter(|&j| !taken[j] && side[j].note_id.is_none() && !side[j].fields.is_empty()).collect();
    let score = |b: &NoteBlock, n: &NoteBlock| -> usize {
        if b.note_type != n.note_type {
            return 0;
        }
        let shared = b
            .fields
            .iter()
            .filter(|(name, v)| n.fields.get(*name).is_some_and(|w| normalize_markdown(v) == normalize_markdown(w)))
            .count();
        if shared * 2 >= b.fields.len().max(n.fields.len()) { shared } else { 0 }
    };
    let best = |scores: &mut dyn Iterator<Item = (usize, usize)>| -> Option<usize> {
        let mut top: Option<(usize, usize)> = None;
        let mut tie = false;
        for (at, s) in scores {
            match top {
                _ if s == 0 => {}
                Some((_, t)) if s < t => {}
                Some((_, t)) if s == t => tie = true,
                _ => {
                    top = Some((at, s));
                    tie = false;
                }
            }
        }
        top.filter(|_| !tie).map(|(at, _)| at)
    };
    for &i in &unpaired {
        let Some(j) = best(&mut candidates.iter().map(|&j| (j, score(&base[i], &side[j])))) else { continue };
        if best(&mut unpaired.iter().map(|&k| (k, score(&base[k], &side[j])))) == Some(i) {
            pairs.push((i, j));
        }
    }
    pairs
}

/// How a three-way merge of one value came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Ours,
    Theirs,
    Conflict,
}

/// The sync engine's trivial merge: both sides agree or only one changed; else a conflict.
fn three_way<T: PartialEq>(ours: &T, base: &T, theirs: &T) -> Resolved {
    if ours == theirs || theirs == base {
        Resolved::Ours
    } else if ours == base {
        Resolved::Theirs
    } else {
        Resolved::Conflict
    }
}

/// One note of the merged file.
#[derive(Debug, Clone)]
struct Merged {
    note: NoteBlock,
    /// The versions whose bytes may be kept, if the note is still as that side wrote it.
    ours: Option<usize>,
    theirs: Option<usize>,
    /// The fields whose conflict markers this merge adds (and so labels), with the side that deleted the note
    /// if it did; conflicts the note already had are not listed and keep their labels.
    marked: Vec<(String, Option<Side>)>,
    conflicts: Vec<MergeConflictKind>,
}

impl Merged {
    fn kept(note: &NoteBlock, ours: Option<usize>, theirs: Option<usize>) -> Merged {
        Merged { note: note.clone(), ours, theirs, marked: Vec::new(), conflicts: Vec::new() }
    }
}

fn resolve(
    e: &Entity,
    base: Option<&NoteBlock>,
    ours: Option<&NoteBlock>,
    theirs: Option<&NoteBlock>,
    registry: &Registry,
) -> Vec<Merged> {
    match (ours, base, theirs) {
        (None, _, None) => Vec::new(),
        (Some(o), None, None) => vec![Merged::kept(o, e.ours, None)],
        (None, None, Some(t)) => vec![Merged::kept(t, None, e.theirs)],
        (None, Some(b), Some(t)) if key(t) == key(b) => Vec::new(),
        (Some(o), Some(b), None) if key(o) == key(b) => Vec::new(),
        (None, Some(b), Some(t)) => vec![deleted_and_edited(t, b, Side::Ours, e, registry)],
        (Some(o), Some(b), None) => vec![deleted_and_edited(o, b, Side::Theirs, e, registry)],
        (Some(o), b, Some(t)) => merge_note(o, b, t, e, registry),
    }
}

/// The surviving side's note with every field between conflict markers whose deleting side is empty.
fn deleted_and_edited(
    survivor: &NoteBlock,
    base: &NoteBlock,
    deleted: Side,
    e: &Entity,
    registry: &Registry,
) -> Merged {
    let mut note = survivor.clone();
    let same_type = base.note_type == survivor.note_type;
    let mut conflicts = Vec::new();
    let mut labelled = Vec::new();
    for name in field_order(&survivor.note_type, [survivor], registry) {
        if let Some(value) = survivor.fields.get(&name) {
            let base_value = if same_type { base.fields.get(&name).cloned() } else { None };
            let (mine, other) = (None, Some(value.clone()));
            let (markdown, anki) = if deleted == Side::Ours { (mine, other) } else { (other, mine) };
            conflicts.push(FieldConflict { field: name.clone(), markdown, base: base_value, anki });
            labelled.push(name);
        } else if let Some(c) = survivor.conflicts.iter().find(|c| c.field == name) {
            conflicts.push(c.clone());
        }
    }
    note.fields = IndexMap::new();
    note.conflicts = conflicts;
    note.line = 0;
    let kind = if deleted == Side::Ours {
        MergeConflictKind::OursDeletedTheirsModified
    } else {
        MergeConflictKind::OursModifiedTheirsDeleted
    };
    let (ours, theirs) = if deleted == Side::Ours { (None, e.theirs) } else { (e.ours, None) };
    Merged {
        note,
        ours,
        theirs,
        marked: labelled.into_iter().map(|f| (f, Some(deleted))).collect(),
        conflicts: vec![kind],
    }
}

/// The field names of notes of `note_type`, in its order, present in any of `notes` (as values or conflicts).
fn field_order<'a>(
    note_type: &str,
    notes: impl IntoIterator<Item = &'a NoteBlock> + Clone,
    registry: &Registry,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let present = |name: &str| {
        notes.clone().into_iter().any(|n| n.fields.contains_key(name) || n.conflicts.iter().any(|c| c.field == name))
    };
    if let Some(spec) = registry.get(note_type) {
        names.extend(spec.fields.iter().map(|f| f.name.clone()).filter(|n| present(n)));
    }
    for n in notes {
        for name in n.fields.keys().chain(n.conflicts.iter().map(|c| &c.field)) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// One side's field: absent, a value, or conflict markers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Absent,
    Value(String),
    Conflict(FieldConflict),
}

fn slot(note: &NoteBlock, name: &str) -> Slot {
    if let Some(v) = note.fields.get(name) {
        return Slot::Value(v.clone());
    }
    match note.conflicts.iter().find(|c| c.field == name) {
        Some(c) => Slot::Conflict(c.clone()),
        None => Slot::Absent,
    }
}

/// What a slot is compared on: an empty field is an absent one, values in canonical Markdown.
fn slot_key(slot: &Slot) -> Option<String> {
    match slot {
        Slot::Absent => None,
        Slot::Value(v) => Some(normalize_markdown(v)).filter(|v| !v.is_empty()),
        Slot::Conflict(c) => Some(format!("\0{c:?}")),
    }
}

fn merge_note(o: &NoteBlock, b: Option<&NoteBlock>, t: &NoteBlock, e: &Entity, registry: &Registry) -> Vec<Merged> {
    let both = |kind| {
        let mut theirs = Merged::kept(t, None, e.theirs);
        theirs.note.note_id = o.note_id.or(t.note_id);
        let mut ours = Merged::kept(o, e.ours, None);
        ours.conflicts.push(kind);
        vec![ours, theirs]
    };
    let type_conflict = MergeConflictKind::NoteType { ours: o.note_type.clone(), theirs: t.note_type.clone() };
    let base_type = b.map(|b| b.note_type.as_str());
    let fields_of = |n: &NoteBlock| (n.note_type.clone(), key(n)[2..].to_vec());
    // The note's fields come from one side whole when the other kept its type and its fields; merged field by
    // field when both sides have the same type.
    let (note_type, whole): (String, Option<&NoteBlock>) = if o.note_type == t.note_type {
        (o.note_type.clone(), None)
    } else {
        let b = match b {
            Some(_) if base_type != Some(o.note_type.as_str()) && base_type != Some(t.note_type.as_str()) => {
                return both(type_conflict);
            }
            Some(b) => b,
            None => return both(type_conflict),
        };
        let (changer, keeper) = if base_type == Some(o.note_type.as_str()) { (t, o) } else { (o, t) };
        if fields_of(keeper) != fields_of(b) {
            return both(type_conflict);
        }
        (changer.note_type.clone(), Some(changer))
    };

    let mut fields = IndexMap::new();
    let mut conflicts = Vec::new();
    let mut marked = Vec::new();
    let mut kinds = Vec::new();
    match whole {
        Some(n) => {
            fields = n.fields.clone();
            conflicts = n.conflicts.clone();
        }
        None => {
            let sides: Vec<&NoteBlock> = [Some(o), b, Some(t)].into_iter().flatten().collect();
            for name in field_order(&note_type, sides.iter().copied(), registry) {
                let so = slot(o, &name);
                let sb = b.map_or(Slot::Absent, |b| slot(b, &name));
                let st = slot(t, &name);
                let chosen = match three_way(&slot_key(&so), &slot_key(&sb), &slot_key(&st)) {
                    Resolved::Ours => so,
                    Resolved::Theirs => st,
                    Resolved::Conflict => match (&so, &sb, &st) {
                        (Slot::Conflict(_), _, _) | (_, _, Slot::Conflict(_)) => {
                            kinds.push(MergeConflictKind::ConflictChanged { field: name.clone() });
                            if matches!(so, Slot::Conflict(_)) { so } else { st }
                        }
                        _ => {
                            let value = |s: &Slot| match s {
                                Slot::Value(v) => Some(v.clone()),
                                _ => None,
                            };
                            kinds.push(MergeConflictKind::BothModified { field: name.clone() });
                            marked.push((name.clone(), None));
                            Slot::Conflict(FieldConflict {
                                field: name.clone(),
                                markdown: value(&so),
                                base: value(&sb),
                                anki: value(&st),
                            })
                        }
                    },
                };
                match chosen {
                    Slot::Absent => {}
                    Slot::Value(v) => {
                        fields.insert(name, v);
                    }
                    Slot::Conflict(c) => conflicts.push(c),
                }
            }
        }
    }

    let empty = Vec::new();
    let base_tags: BTreeSet<&String> = b.map_or(&empty, |b| &b.tags).iter().collect();
    let (ours_tags, theirs_tags): (BTreeSet<&String>, BTreeSet<&String>) =
        (o.tags.iter().collect(), t.tags.iter().collect());
    let mut tags: Vec<String> = ours_tags
        .union(&theirs_tags)
        .chain(base_tags.iter())
        .filter(|tag| {
            let has = |set: &BTreeSet<&String>| set.contains(*tag);
            match three_way(&has(&ours_tags), &has(&base_tags), &has(&theirs_tags)) {
                Resolved::Theirs => has(&theirs_tags),
                _ => has(&ours_tags),
            }
        })
        .map(|t| (*t).clone())
        .collect();
    tags.sort();
    tags.dedup();

    // An id is never removed on purpose: a side that lost it (a deleted id line) does not win over one that has it.
    let base_id = b.and_then(|b| b.note_id);
    let note_id = match three_way(&o.note_id, &base_id, &t.note_id) {
        Resolved::Theirs => t.note_id.or(o.note_id),
        _ => o.note_id.or(t.note_id),
    };
    let note = NoteBlock { note_id, note_type, tags, fields, conflicts, line: 0 };
    vec![Merged { note, ours: e.ours, theirs: e.theirs, marked, conflicts: kinds }]
}

/// The notes in the merged file's order: entity indexes (see the module documentation).
fn order(entities: &[Entity], resolved: &[Vec<Merged>], ours_len: usize, theirs_len: usize) -> Vec<usize> {
    let kept = |e: usize| !resolved[e].is_empty();
    let mut at_ours = vec![usize::MAX; ours_len];
    let mut at_theirs = vec![usize::MAX; theirs_len];
    let mut in_base = Vec::new();
    for (i, e) in entities.iter().enumerate() {
        if let Some(j) = e.ours {
            at_ours[j] = i;
        }
        if let Some(j) = e.theirs {
            at_theirs[j] = i;
        }
        if e.base.is_some() {
            in_base.push(i);
        }
    }
    // The relative order of the notes on all three sides, on each side.
    let common: BTreeSet<usize> =
        in_base.iter().copied().filter(|&i| entities[i].ours.is_some() && entities[i].theirs.is_some()).collect();
    let seq = |side: &[usize]| -> Vec<usize> { side.iter().copied().filter(|i| common.contains(i)).collect() };
    let mut base_seq: Vec<usize> = common.iter().copied().collect();
    base_seq.sort_by_key(|&i| entities[i].base);
    let ours_first = !(seq(&at_ours) == base_seq && seq(&at_theirs) != base_seq);
    let (first, second) = if ours_first { (&at_ours, &at_theirs) } else { (&at_theirs, &at_ours) };

    let mut placed = vec![false; entities.len()];
    let mut skeleton = Vec::new();
    for &e in first.iter() {
        if kept(e) && !placed[e] {
            placed[e] = true;
            skeleton.push(e);
        }
    }
    let in_skeleton = placed.clone();
    let mut after: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    let mut anchor = None;
    for &e in second.iter() {
        if in_skeleton[e] {
            anchor = Some(e);
        } else if kept(e) && !placed[e] {
            placed[e] = true;
            after.entry(anchor).or_default().push(e);
        }
    }
    // The other side's notes after an anchor come after the first side's new notes there too (Git's order for
    // two insertions at one place): both sides adding notes at the end gives ours, then theirs.
    let only_first = |e: usize| {
        let e = &entities[e];
        e.base.is_none() && if ours_first { e.theirs.is_none() } else { e.ours.is_none() }
    };
    let mut order = Vec::with_capacity(skeleton.len());
    let mut pending = after.remove(&None).unwrap_or_default();
    for e in skeleton {
        if !only_first(e) {
            order.append(&mut pending);
        }
        order.push(e);
        pending.extend(after.remove(&Some(e)).unwrap_or_default());
    }
    order.append(&mut pending);
    order
}

/// The bytes of one merged note: a side's own when the note is as that side wrote it (or differs only by its
/// id), else the canonical form with this merge's conflict markers labelled. Returns where the bytes came from.
fn raw_for(
    merged: &Merged,
    ours: &DeckFile,
    theirs: &DeckFile,
    registry: &Registry,
    labels: MergeLabels<'_>,
) -> (RawNote, Option<(Side, usize)>) {
    let crlf = ours.crlf;
    let sources = [(Side::Ours, ours, merged.ours), (Side::Theirs, theirs, merged.theirs)];
    let eol = |text: &str, from: &DeckFile| -> String {
        match (from.crlf, crlf) {
            (false, true) => text.replace('\n', "\r\n"),
            (true, false) => text.replace("\r\n", "\n"),
            _ => text.to_owned(),
        }
    };
    if merged.marked.is_empty() {
        for (side, file, index) in sources {
            let Some(raw) = index.and_then(|i| file.raw.get(i)).and_then(Option::as_ref) else { continue };
            let mut same = merged.note.clone();
            same.note_id = raw.snapshot.note_id;
            if !raw.snapshot.same_content(&same) {
                continue;
            }
            let mut text = eol(&raw.text, file);
            if let Some(id) = merged.note.note_id
                && raw.snapshot.note_id != Some(id)
            {
                text = splice_note_id(&text, id, crlf);
            }
            let raw = RawNote {
                lead: eol(&raw.lead, file),
                text,
                snapshot: merged.note.clone(),
                explicit_type: raw.explicit_type,
                note_key: raw.note_key.clone(),
            };
            return (raw, index.map(|i| (side, i)));
        }
    }
    let like = sources.iter().find_map(|(_, file, index)| index.and_then(|i| file.raw.get(i)).and_then(Option::as_ref));
    let explicit_type = like.is_some_and(|r| r.explicit_type);
    let note_key = like.and_then(|r| r.note_key.clone());
    let mut text = render_note_with(&merged.note, registry, explicit_type, note_key.as_deref());
    if !merged.marked.is_empty() {
        text = relabel(&text, merged, labels, registry);
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    (RawNote { lead: String::new(), text, snapshot: merged.note.clone(), explicit_type, note_key }, None)
}

/// The labels after the markers of one conflict this merge made: ours, base, theirs; the side that deleted the
/// note says so.
fn marker_labels(labels: MergeLabels<'_>, deleted: Option<Side>) -> [String; 3] {
    let name = |label: &str, side: Side| {
        let label = label.replace(['\n', '\r'], " ");
        if deleted == Some(side) { format!("{label} (deleted the note)") } else { label }
    };
    [name(labels.ours, Side::Ours), labels.base.replace(['\n', '\r'], " "), name(labels.theirs, Side::Theirs)]
}

/// Writes the labels after the markers of the conflicts this merge made in `text`, the canonical rendering of
/// `merged.note` (whose markers the renderer labels `markdown`, `base`, `anki`); conflicts the note already had
/// keep theirs. Conflicts are found as the parser finds them: a `<` marker at the start of a line outside fenced
/// code opens one, and only markers of its length continue and close it.
fn relabel(text: &str, merged: &Merged, labels: MergeLabels<'_>, registry: &Registry) -> String {
    let note = &merged.note;
    // The conflicts in the order the renderer writes them: the type's fields first, then fields it does not know.
    let spec = registry.get(&note.note_type);
    let known = |name: &str| spec.is_some_and(|s| s.field_by_name(name).is_some());
    let mut in_order: Vec<&str> = Vec::new();
    if let Some(spec) = spec {
        for f in &spec.fields {
            if !note.fields.contains_key(&f.name) && note.conflicts.iter().any(|c| c.field == f.name) {
                in_order.push(&f.name);
            }
        }
    }
    in_order.extend(note.conflicts.iter().map(|c| c.field.as_str()).filter(|f| !known(f)));
    let names_of = |field: &str| -> Option<[String; 3]> {
        merged.marked.iter().find(|(f, _)| f == field).map(|(_, deleted)| marker_labels(labels, *deleted))
    };
    let prefixes = registry.prefixes();
    let after_label = |line: &str| -> usize {
        prefixes
            .iter()
            .find(|p| line.starts_with(**p) && matches!(line.as_bytes().get(p.len()), None | Some(b' ')))
            .map_or(0, |p| (p.len() + 1).min(line.len()))
    };

    let mut out = String::with_capacity(text.len() + 64);
    let mut fence: Option<(u8, usize)> = None;
    // The open conflict: its marker length and the labels to write, if this merge made it.
    let mut open: Option<(usize, Option<[String; 3]>)> = None;
    let mut conflicts_seen = 0;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some((n, names)) = &open {
            let n = *n;
            match (marker(line), names) {
                (Some((c @ (b'|' | b'>'), len)), Some(names)) if len == n => {
                    let name = if c == b'|' { &names[1] } else { &names[2] };
                    out.push_str(&format!("{} {name}", char::from(c).to_string().repeat(n)));
                }
                _ => out.push_str(line),
            }
            if marker(line) == Some((b'>', n)) {
                open = None;
            }
            continue;
        }
        if let Some((c, n)) = fence {
            if fence_closes(line, c, n) {
                fence = None;
            }
            out.push_str(line);
            continue;
        }
        if let Some((b'<', n)) = marker(line) {
            let names = in_order.get(conflicts_seen).and_then(|f| names_of(f));
            conflicts_seen += 1;
            match &names {
                Some(names) => out.push_str(&format!("{} {}", "<".repeat(n), names[0])),
                None => out.push_str(line),
            }
            open = Some((n, names));
            continue;
        }
        fence = fence_open(&line[after_label(line)..]);
        out.push_str(line);
    }
    out
}

/// Where each conflicting note (by its index in the merged file) landed in `text`: the merged file parsed again,
/// or, when it does not parse (a note written twice), the line of its id comment.
fn locate(text: &str, kinds: Vec<(usize, Option<i64>, MergeConflictKind)>, registry: &Registry) -> Vec<MergeConflict> {
    let parsed = parse_deck(text, registry).ok();
    kinds
        .into_iter()
        .map(|(at, note_id, kind)| {
            let line = match (&parsed, note_id) {
                (Some(file), _) => file.notes.get(at).map_or(0, |n| n.line),
                (None, Some(id)) => {
                    let comment = format!("<!-- note_id: {id} -->");
                    text.lines().position(|l| l.trim() == comment).map_or(0, |i| i + 1)
                }
                (None, None) => 0,
            };
            MergeConflict { note_id, line, kind }
        })
        .collect()
}

#[cfg(test)]
mod tests;
