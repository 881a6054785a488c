//! Writing deck files: the canonical text of a note (with conflict markers), and a whole file that keeps
//! the bytes of every untouched note, separator and line ending.

use super::parse::{MIN_MARKER_LEN, fence_closes, fence_open, trim_field};
use super::{DeckFile, FieldConflict, NoteBlock};
use crate::note_types::Registry;

/// The canonical separator between two notes (with LF line endings).
const SEPARATOR: &str = "\n\n---\n\n";

/// The canonical text of one note, with LF line endings and no final line ending.
///
/// Metadata first (`note_id`, `note_type` when the labels do not tell it, `tags` if any), then the fields
/// in the note type's order, a conflicted field as conflict markers around its sides.
pub fn render_note(note: &NoteBlock, registry: &Registry) -> String {
    render_note_with(note, registry, false, None)
}

/// [`render_note`], also writing `note_type` when `explicit_type`, and a Python AnkiOps `note_key`.
pub(super) fn render_note_with(
    note: &NoteBlock,
    registry: &Registry,
    explicit_type: bool,
    note_key: Option<&str>,
) -> String {
    let spec = registry.get(&note.note_type);
    // The fields to write, in order: (label, either a value or a conflict).
    let mut parts: Vec<(String, Part<'_>)> = Vec::new();
    let label_of = |name: &str| -> String {
        spec.and_then(|s| s.field_by_name(name))
            .or_else(|| registry.iter().find_map(|t| t.field_by_name(name)))
            .map_or_else(|| format!("{name}:"), |f| f.prefix.clone())
    };
    if let Some(spec) = spec {
        for fs in &spec.fields {
            if let Some(value) = note.fields.get(&fs.name) {
                parts.push((fs.prefix.clone(), Part::Value(value)));
            } else if let Some(c) = note.conflicts.iter().find(|c| c.field == fs.name) {
                parts.push((fs.prefix.clone(), Part::Conflict(c)));
            }
        }
    }
    // Fields the type does not know (never produced by the parser): written so that reading them back
    // reports them, rather than dropping them.
    let known = |name: &str| spec.is_some_and(|s| s.field_by_name(name).is_some());
    for (name, value) in &note.fields {
        if !known(name) {
            parts.push((label_of(name), Part::Value(value)));
        }
    }
    for c in &note.conflicts {
        if !known(&c.field) {
            parts.push((label_of(&c.field), Part::Conflict(c)));
        }
    }

    let mut out = String::new();
    if let Some(id) = note.note_id {
        out.push_str(&format!("<!-- note_id: {id} -->\n"));
    }
    if let Some(key) = note_key {
        out.push_str(&format!("<!-- note_key: {key} -->\n"));
    }
    let labels: Vec<&str> = parts.iter().map(|(l, _)| l.as_str()).collect();
    let inferred = spec.is_some() && registry.infer(&labels).is_ok_and(|t| t.name == note.note_type);
    if explicit_type || !inferred {
        out.push_str(&format!("<!-- note_type: {} -->\n", note.note_type));
    }
    let mut tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
    tags.sort_unstable();
    tags.dedup();
    if !tags.is_empty() {
        out.push_str(&format!("<!-- tags: {} -->\n", tags.join(" ")));
    }
    for (i, (label, part)) in parts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match part {
            Part::Value(value) => out.push_str(&field_text(label, value)),
            Part::Conflict(c) => out.push_str(&conflict_text(label, c)),
        }
    }
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

enum Part<'a> {
    Value(&'a str),
    Conflict(&'a FieldConflict),
}

/// `Q: value`, or `Q:` for an empty field; the value trimmed and its fences closed.
fn field_text(label: &str, value: &str) -> String {
    let value = close_fences(trim_field(value));
    if value.is_empty() { label.to_owned() } else { format!("{label} {value}") }
}

/// The value with a closing fence added if it ends inside fenced code, so the code cannot run on into
/// the rest of the file.
fn close_fences(value: &str) -> String {
    let mut open: Option<(u8, usize)> = None;
    for line in value.lines() {
        match open {
            Some((c, n)) => {
                if fence_closes(line, c, n) {
                    open = None;
                }
            }
            None => open = fence_open(line),
        }
    }
    match open {
        Some((c, n)) => {
            let fence: String = std::iter::repeat_n(char::from(c), n).collect();
            format!("{value}\n{fence}")
        }
        None => value.to_owned(),
    }
}

/// The conflict markers around one field's sides. Markers are at least 7 long and longer than any
/// marker-like run in the sides (jj's rule), so no content line can be taken for a marker.
fn conflict_text(label: &str, c: &FieldConflict) -> String {
    let sides: Vec<Option<String>> =
        [&c.markdown, &c.base, &c.anki].iter().map(|s| s.as_ref().map(|v| field_text(label, v))).collect();
    let longest = sides
        .iter()
        .flatten()
        .flat_map(|s| s.lines())
        .map(|l| {
            let b = l.as_bytes();
            match b.first() {
                Some(&c) if b"<|=>".contains(&c) => b.iter().take_while(|x| **x == c).count(),
                _ => 0,
            }
        })
        .max()
        .unwrap_or(0);
    let n = (longest + 1).max(MIN_MARKER_LEN);
    let markers = [format!("{} markdown", "<".repeat(n)), format!("{} base", "|".repeat(n)), "=".repeat(n)];
    let mut out = String::new();
    for (marker, side) in markers.iter().zip(&sides) {
        out.push_str(marker);
        out.push('\n');
        if let Some(text) = side {
            out.push_str(text);
            out.push('\n');
        }
    }
    out.push_str(&format!("{} anki", ">".repeat(n)));
    out
}

fn with_line_endings(text: &str, crlf: bool) -> String {
    if crlf { text.replace('\n', "\r\n") } else { text.to_owned() }
}

/// Adds or replaces the `note_id` comment of a note's bytes, touching nothing else.
pub(super) fn splice_note_id(text: &str, id: i64, crlf: bool) -> String {
    let comment = format!("<!-- note_id: {id} -->");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim();
        let is_id = trimmed
            .strip_prefix("<!--")
            .and_then(|t| t.strip_suffix("-->"))
            .is_some_and(|inner| inner.split_once(':').is_some_and(|(key, _)| key.trim() == "note_id"));
        if is_id {
            let end = offset + content.len();
            return format!("{}{comment}{}", &text[..offset], &text[end..]);
        }
        if !trimmed.is_empty() && !trimmed.starts_with("<!--") {
            break; // the first field: no id comment in the metadata
        }
        offset += line.len();
    }
    let eol = if crlf { "\r\n" } else { "\n" };
    format!("{comment}{eol}{text}")
}

pub(super) fn deck_to_text(file: &DeckFile, registry: &Registry) -> String {
    let eol = if file.crlf { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(file.raw.iter().flatten().map(|r| r.text.len() + r.lead.len() + 2).sum());
    let mut modified = false;
    if file.bom {
        out.push('\u{feff}');
    }
    // Where the text proper starts: a byte order mark is not a line that needs ending.
    let start = out.len();
    match (file.deck_id, &file.deck_line) {
        (Some(id), Some((raw_id, text))) if id == *raw_id => out.push_str(text),
        (Some(id), _) => {
            modified = true;
            out.push_str(&format!("<!-- deck_id: {id} -->{eol}"));
        }
        (None, Some(_)) => modified = true,
        (None, None) => {}
    }
    let separator = with_line_endings(SEPARATOR, file.crlf);
    for (i, note) in file.notes.iter().enumerate() {
        let raw = file.raw.get(i).and_then(Option::as_ref);
        let lead = match (i, raw) {
            (0, _) => file.gap.as_deref().unwrap_or(""),
            (_, Some(r)) if !r.lead.is_empty() => r.lead.as_str(),
            _ => separator.as_str(),
        };
        if out.len() > start && !out.ends_with('\n') && !lead.starts_with(['\r', '\n']) {
            out.push_str(eol);
        }
        out.push_str(lead);
        match raw {
            Some(r) if r.snapshot.same_content(note) => out.push_str(&r.text),
            _ => {
                modified = true;
                let (explicit, key) = raw.map_or((false, None), |r| (r.explicit_type, r.note_key.as_deref()));
                out.push_str(&with_line_endings(&render_note_with(note, registry, explicit, key), file.crlf));
            }
        }
    }
    if file.notes.is_empty() {
        out.push_str(file.gap.as_deref().unwrap_or(""));
    }
    match &file.tail {
        Some(tail) => out.push_str(tail),
        None if !file.notes.is_empty() => out.push_str(eol),
        None => {}
    }
    if modified && !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    out
}
