//! Reading a deck file: lines and fenced code, note blocks between `---` separators, metadata comments,
//! fields by label, conflict markers, note types and validation, with every error of the file collected.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;

use super::{DeckError, DeckFile, FieldConflict, NoteBlock, RawNote};
use crate::note_types::{NoteKind, NoteTypeSpec, Registry};

/// The shortest conflict marker (jj and Git use 7).
pub(super) const MIN_MARKER_LEN: usize = 7;

/// Parses a deck file, reporting every error of the file at once (sorted by position).
pub fn parse_deck(text: &str, registry: &Registry) -> Result<DeckFile, Vec<DeckError>> {
    let prefixes = registry.prefixes();
    let mut label_starts = [false; 256];
    for p in &prefixes {
        if let Some(b) = p.as_bytes().first() {
            label_starts[usize::from(*b)] = true;
        }
    }
    let mut parser = Parser { text, registry, prefixes, label_starts, inferred: Vec::new(), errors: Vec::new() };
    let file = parser.file();
    let mut errors = parser.errors;
    if errors.is_empty() {
        return Ok(file);
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    Err(errors)
}

/// Like [`parse_deck`] for raw bytes. A file that is not valid UTF-8 gets one error, at its first invalid
/// byte (line, column and byte offset), saying how many more there are: a binary file is one message, not
/// one per byte.
pub fn parse_deck_bytes(bytes: &[u8], registry: &Registry) -> Result<DeckFile, Vec<DeckError>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_deck(text, registry),
        Err(first) => Err(vec![invalid_utf8(bytes, first.valid_up_to())]),
    }
}

/// The one error of a file that is not valid UTF-8, whose first invalid byte is at `offset`.
fn invalid_utf8(bytes: &[u8], offset: usize) -> DeckError {
    let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    let line = 1 + valid.matches('\n').count();
    let last_line = valid.rsplit('\n').next().unwrap_or_default();
    let column = 1 + last_line.strip_prefix('\u{feff}').unwrap_or(last_line).chars().count();
    let more = bytes.utf8_chunks().filter(|chunk| !chunk.invalid().is_empty()).count().saturating_sub(1);
    let more = match more {
        0 => String::new(),
        1 => ", and 1 more place".to_owned(),
        n => format!(", and {n} more places"),
    };
    DeckError {
        line,
        column,
        message: format!(
            "invalid UTF-8 (byte offset {offset}{more}); save the file as UTF-8, or move it out of the folder if it is not a deck file"
        ),
    }
}

/// One line of the file.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Without its line ending (`\n` or `\r\n`).
    text: &'a str,
    /// Byte offset of the line start in the file.
    start: usize,
    /// Byte offset just after the line's content (before the line ending).
    end: usize,
    /// Byte offset just after the line ending.
    next: usize,
    /// 1-based line number.
    number: usize,
    /// A fence line or inside fenced code: opaque content.
    code: bool,
    /// The field label at column 0, if any (content anyway when `code`).
    label: Option<&'a str>,
}

impl Line<'_> {
    fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

fn split_lines(text: &str, from: usize, first_number: usize) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut start = from;
    let mut number = first_number;
    while start < text.len() {
        let rest = &text[start..];
        let (content_len, next) = match rest.find('\n') {
            Some(i) => (i, start + i + 1),
            None => (rest.len(), text.len()),
        };
        let mut content = &rest[..content_len];
        if let Some(stripped) = content.strip_suffix('\r') {
            content = stripped;
        }
        lines.push(Line { text: content, start, end: start + content.len(), next, number, code: false, label: None });
        start = next;
        number += 1;
    }
    lines
}

/// If `line` opens a fenced code block: its character and length (CommonMark, any indentation).
pub(super) fn fence_open(line: &str) -> Option<(u8, usize)> {
    let t = line.trim_start_matches([' ', '\t']);
    let c = *t.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = t.bytes().take_while(|&b| b == c).count();
    if n < 3 || (c == b'`' && t[n..].contains('`')) {
        return None;
    }
    Some((c, n))
}

/// Whether `line` closes a fence opened with `n` times `c`.
pub(super) fn fence_closes(line: &str, c: u8, n: usize) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    let m = t.bytes().take_while(|&b| b == c).count();
    m >= n && t[m..].trim().is_empty()
}

/// A conflict-marker-like line: 7 or more of one of `<|=>` at column 0, then nothing or a space and a
/// label (`=` takes no label). Returns the character and the run length.
pub(super) fn marker(line: &str) -> Option<(u8, usize)> {
    let c = *line.as_bytes().first()?;
    if !matches!(c, b'<' | b'|' | b'=' | b'>') {
        return None;
    }
    let n = line.bytes().take_while(|&b| b == c).count();
    let rest = &line[n..];
    let ok = if c == b'=' { rest.trim().is_empty() } else { rest.is_empty() || rest.starts_with([' ', '\t']) };
    (n >= MIN_MARKER_LEN && ok).then_some((c, n))
}

/// Offset of the first `{{cN::` cloze deletion in `s`.
pub(super) fn find_cloze(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("{{c") {
        let at = from + i;
        let digits = b[at + 3..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && b[at + 3 + digits..].starts_with(b"::") {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// Trims the whitespace a field value never starts or ends with (ASCII only: a no-break space is content).
pub(super) fn trim_field(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// A `<!-- key: value -->` line: the key, the value (trimmed) and the value's byte offset in the line.
fn meta_comment(line: &str) -> Option<(&str, &str, usize)> {
    let t = line.trim();
    let inner = t.strip_prefix("<!--")?.strip_suffix("-->")?;
    let (key, value) = inner.split_once(':')?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    let value = value.trim();
    let offset = value.as_ptr() as usize - line.as_ptr() as usize;
    Some((key, value, offset))
}

/// A word followed by a colon at the start of a line, as field labels look: `Foo:`.
fn label_like(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let n = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-').count();
    if b.get(n) != Some(&b':') {
        return None;
    }
    match b.get(n + 1) {
        None | Some(b' ') => Some(&line[..=n]),
        _ => None,
    }
}

fn column(line: &str, byte_offset: usize) -> usize {
    line.get(..byte_offset).map_or(1, |s| s.chars().count() + 1)
}

fn parse_id(value: &str) -> Option<i64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|id| *id > 0)
}

struct Parser<'a> {
    text: &'a str,
    registry: &'a Registry,
    /// Longest first.
    prefixes: Vec<&'a str>,
    /// The first bytes of the prefixes, to reject most lines at once.
    label_starts: [bool; 256],
    /// Note types already recognised in this file, by their labels (most notes share a few label sets).
    inferred: Vec<(Vec<&'a str>, &'a NoteTypeSpec)>,
    errors: Vec<DeckError>,
}

/// A field as read: its label, where it is, and where its content is in the file.
#[derive(Debug, Default)]
struct FieldRaw<'a> {
    prefix: &'a str,
    /// Line number of the label.
    line: usize,
    /// Byte range of the content in the file: from after the label to the end of its last line.
    from: usize,
    to: usize,
}

impl<'a> FieldRaw<'a> {
    fn new(prefix: &'a str, line: &Line<'a>) -> FieldRaw<'a> {
        let rest = label_rest(line.text, prefix);
        FieldRaw { prefix, line: line.number, from: line.end - rest.len(), to: line.end }
    }

    fn content<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.from..self.to).unwrap_or("")
    }

    /// The field value: trimmed, with LF line endings.
    fn value(&self, text: &str) -> String {
        let value = trim_field(self.content(text));
        if value.contains('\r') { value.replace("\r\n", "\n") } else { value.to_owned() }
    }
}

/// A conflict block as read.
#[derive(Debug, Default)]
struct ConflictRaw<'a> {
    /// Marker length.
    n: usize,
    /// Line of the `<<<<<<<` marker.
    line: usize,
    /// 0 markdown, 1 base, 2 anki.
    section: usize,
    sides: [Option<FieldRaw<'a>>; 3],
}

/// Note metadata from the comment lines above the fields.
#[derive(Debug, Default)]
struct Meta<'a> {
    note_id: Option<(i64, usize, usize)>,
    note_type: Option<(&'a str, usize, usize)>,
    tags: Option<Vec<String>>,
    note_key: Option<&'a str>,
}

struct ParsedNote {
    note: NoteBlock,
    explicit_type: bool,
    note_key: Option<String>,
    /// Line and column of the note_id value.
    id_at: Option<(usize, usize)>,
}

impl<'a> Parser<'a> {
    fn error(&mut self, line: usize, column: usize, message: impl Into<String>) {
        self.errors.push(DeckError { line, column, message: message.into() });
    }

    fn file(&mut self) -> DeckFile {
        let text = self.text;
        let bom = text.starts_with('\u{feff}');
        let body_from = if bom { '\u{feff}'.len_utf8() } else { 0 };
        let crlf = text.find('\n').is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r');
        let mut lines = split_lines(text, body_from, 1);

        // The deck id line.
        let mut deck_id = None;
        let mut deck_line = None;
        let mut body_start = body_from;
        if let Some(first) = lines.first()
            && let Some(("deck_id", value, offset)) = meta_comment(first.text)
        {
            match parse_id(value) {
                Some(id) => {
                    deck_id = Some(id);
                    deck_line = Some((id, text[first.start..first.next].to_owned()));
                }
                None => self.error(
                    1,
                    column(first.text, offset),
                    format!("invalid deck_id '{value}': it must be a positive whole number; restore the id ankiops wrote or remove the line"),
                ),
            }
            body_start = first.next;
            lines.remove(0);
        }

        self.mark_code(&mut lines);

        // Separators: a `---` line outside code with blank lines (or the start / end) around it.
        let is_sep = |i: usize| {
            let l = &lines[i];
            !l.code
                && l.text.trim_end() == "---"
                && (i == 0 || lines[i - 1].is_blank())
                && (i + 1 == lines.len() || lines[i + 1].is_blank())
        };
        let mut blocks: Vec<(usize, usize)> = Vec::new();
        let mut from = 0;
        for i in 0..lines.len() {
            if is_sep(i) {
                blocks.push((from, i));
                from = i + 1;
            }
        }
        blocks.push((from, lines.len()));

        let mut notes = Vec::new();
        let mut raw = Vec::new();
        let mut prev_end: Option<usize> = None;
        let mut gap = None;
        let mut ids: HashMap<i64, usize> = HashMap::new();
        for (from, to) in blocks {
            let block = &lines[from..to];
            let Some(first) = block.iter().position(|l| !l.is_blank()) else { continue };
            let last = block.iter().rposition(|l| !l.is_blank()).unwrap_or(first);
            let block = &block[first..=last];
            let (start, end) = (block[0].start, block[block.len() - 1].end);
            let lead = match prev_end {
                Some(p) => text[p..start].to_owned(),
                None => {
                    gap = Some(text[body_start..start].to_owned());
                    String::new()
                }
            };
            prev_end = Some(end);
            let Some(parsed) = self.note(block) else { continue };
            if let (Some(id), Some((line, col))) = (parsed.note.note_id, parsed.id_at)
                && let Some(first_line) = ids.insert(id, line)
            {
                ids.insert(id, first_line);
                self.error(
                    line,
                    col,
                    format!("note_id {id} is used twice in this file (also at line {first_line}); keep one of the two notes, or remove the id line of a copy so it is created as a new note"),
                );
            }
            notes.push(parsed.note.clone());
            raw.push(Some(RawNote {
                lead,
                text: text[start..end].to_owned(),
                snapshot: parsed.note,
                explicit_type: parsed.explicit_type,
                note_key: parsed.note_key,
            }));
        }
        let tail = match prev_end {
            Some(p) => text[p..].to_owned(),
            None => {
                gap = Some(text[body_start..].to_owned());
                String::new()
            }
        };
        DeckFile { deck_id, notes, raw, bom, deck_line, gap, tail: Some(tail), crlf }
    }

    /// Marks fence lines and the lines inside fenced code; an unclosed fence is an error.
    fn mark_code(&mut self, lines: &mut [Line<'a>]) {
        let mut open: Option<(u8, usize, usize, usize)> = None;
        for line in lines.iter_mut() {
            line.label = self.label(line.text);
            match open {
                Some((c, n, _, _)) => {
                    line.code = true;
                    if fence_closes(line.text, c, n) {
                        open = None;
                    }
                }
                None => {
                    // A field's content may open a fence right after its label (`A: ```python`): the
                    // label line stays a label line, the lines after it are code.
                    let label = line.label;
                    let rest = label.map_or(line.text, |p| label_rest(line.text, p));
                    if let Some((c, n)) = fence_open(rest) {
                        line.code = label.is_none();
                        let indent = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                        let col = column(line.text, line.text.len() - rest.len() + indent);
                        open = Some((c, n, line.number, col));
                    }
                }
            }
        }
        if let Some((c, n, line, col)) = open {
            let fence = String::from_utf8(vec![c; n]).unwrap_or_default();
            self.error(
                line,
                col,
                format!("this code fence is never closed, so everything after it would be code; add a closing {fence} line where the code ends"),
            );
        }
    }

    /// The label at column 0 of `line` (a known prefix followed by a space or the end of the line).
    fn label(&self, line: &str) -> Option<&'a str> {
        if !self.label_starts[usize::from(*line.as_bytes().first()?)] {
            return None;
        }
        self.prefixes
            .iter()
            .copied()
            .find(|p| line.starts_with(p) && matches!(line.as_bytes().get(p.len()), None | Some(b' ')))
    }

    fn known_labels(&self) -> String {
        let mut all = self.prefixes.clone();
        all.sort();
        all.join(" ")
    }

    /// Reads one note block (no leading or trailing blank lines). `None` if it had errors.
    fn note(&mut self, block: &[Line<'a>]) -> Option<ParsedNote> {
        let errors_before = self.errors.len();
        let start_line = block.first().map_or(0, |l| l.number);
        let mut meta = Meta::default();
        let mut in_meta = true;
        let mut text_reported = false;
        let mut fields: Vec<FieldRaw<'a>> = Vec::new();
        let mut conflicts: Vec<ConflictRaw<'a>> = Vec::new();
        let mut open: Option<ConflictRaw<'a>> = None;
        let mut current: Option<usize> = None;
        // Errors in the metadata lines do not stop the checks of the fields.
        let mut meta_errors = 0;

        for line in block {
            let (n, s) = (line.number, line.text);
            if in_meta {
                if line.is_blank() {
                    continue;
                }
                let starts_conflict = !line.code && marker(s).is_some_and(|(c, _)| c == b'<');
                if line.code || (line.label.is_none() && !starts_conflict) {
                    let before = self.errors.len();
                    if self.meta_line(line, &mut meta, &mut text_reported) {
                        meta_errors += self.errors.len() - before;
                    }
                    continue;
                }
                in_meta = false;
            }

            // Fields.
            if let Some(conflict) = open.as_mut() {
                if !line.code
                    && let Some((c, len)) = marker(s)
                    && len == conflict.n
                {
                    match (c, conflict.section) {
                        (b'|', 0) => conflict.section = 1,
                        (b'=', 1) => conflict.section = 2,
                        (b'>', 2) => {
                            if let Some(done) = open.take() {
                                conflicts.push(done);
                            }
                        }
                        (b'=', 0) => {
                            self.error(n, 1, "this conflict has no base section; add a `||||||| base` line (same length as the markers) before `=======`, or resolve the conflict");
                            conflict.section = 2;
                        }
                        _ => self.error(
                            n,
                            1,
                            "conflict marker out of order; a conflict is `<<<<<<< markdown`, `||||||| base`, `=======`, `>>>>>>> anki`, in this order; resolve the conflict by keeping the field you want",
                        ),
                    }
                    continue;
                }
                let section = conflict.section.min(2);
                match (&mut conflict.sides[section], line.label) {
                    (side, Some(prefix)) if !line.code => {
                        if side.is_some() {
                            self.error(n, 1, "a conflict side holds one field only; resolve the conflict, or move this field out of the conflict markers");
                        } else {
                            *side = Some(FieldRaw::new(prefix, line));
                        }
                    }
                    (Some(side), _) => side.to = line.end,
                    (None, _) => {
                        if !line.is_blank() {
                            self.error(n, 1, "text in a conflict before the field label; each side of a conflict starts with the field's label, such as `A:`");
                        }
                    }
                }
                continue;
            }
            if !line.code
                && let Some((c, len)) = marker(s)
                && c != b'='
            {
                if c == b'<' {
                    current = None;
                    open = Some(ConflictRaw { n: len, line: n, ..ConflictRaw::default() });
                } else {
                    self.error(n, 1, "conflict marker without a `<<<<<<< markdown` line before it; resolve the conflict and remove the markers");
                }
                continue;
            }
            if !line.code
                && let Some(prefix) = line.label
            {
                current = Some(fields.len());
                fields.push(FieldRaw::new(prefix, line));
                continue;
            }
            match current.and_then(|i| fields.get_mut(i)) {
                Some(field) => field.to = line.end,
                None => {
                    if !line.is_blank() && !text_reported {
                        text_reported = true;
                        self.error(n, 1, "text after a conflict, outside any field; put it in a field (start a line with a label such as `A:`) or remove it");
                    }
                }
            }
        }
        if let Some(conflict) = open {
            let m = "<".repeat(conflict.n);
            let e = ">".repeat(conflict.n);
            self.error(
                conflict.line,
                1,
                format!("this conflict (`{m}`) is never closed; end it with a `{e} anki` line, or resolve it"),
            );
        }
        if fields.is_empty() && conflicts.is_empty() {
            if !text_reported && self.errors.len() == errors_before {
                self.error(
                    start_line,
                    1,
                    "a note with no fields; add fields such as `Q:` and `A:`, or remove the note",
                );
            }
            return None;
        }
        if self.errors.len() > errors_before + meta_errors {
            return None;
        }
        self.resolve(start_line, meta, fields, conflicts)
    }

    /// A line before the first field: a metadata comment, or an error. Returns false when an error there
    /// makes checking the fields pointless (a misspelt label would only give a second error).
    fn meta_line(&mut self, line: &Line<'a>, meta: &mut Meta<'a>, text_reported: &mut bool) -> bool {
        let (n, s) = (line.number, line.text);
        if line.code {
            if !*text_reported {
                *text_reported = true;
                self.error(
                    n,
                    1,
                    "code before the first field label; start the field with a label such as `Q:` on the line before",
                );
            }
            return false;
        }
        if let Some((key, value, offset)) = meta_comment(s) {
            let col = column(s, offset);
            let twice = |what: &str| format!("{what} given twice in one note; keep one of the two lines");
            match key {
                "note_id" => match parse_id(value) {
                    _ if meta.note_id.is_some() => self.error(n, 1, twice("note_id")),
                    Some(id) => meta.note_id = Some((id, n, col)),
                    None => self.error(
                        n,
                        col,
                        format!("invalid note_id '{value}': it must be a positive whole number; restore the number ankiops wrote (see the file's Git history)"),
                    ),
                },
                "note_type" if meta.note_type.is_some() => self.error(n, 1, twice("note_type")),
                "note_type" if value.is_empty() => {
                    self.error(n, col, "empty note_type; write the note type's name, or remove the line")
                }
                "note_type" => meta.note_type = Some((value, n, col)),
                "tags" if meta.tags.is_some() => self.error(n, 1, twice("tags")),
                "tags" => meta.tags = Some(value.split_whitespace().map(str::to_owned).collect()),
                "note_key" => meta.note_key = Some(value),
                "deck_id" => self.error(n, 1, "the deck_id comment belongs on the first line of the file; move it there"),
                _ => self.error(
                    n,
                    1,
                    format!("unknown comment '{key}' before the first field; notes take `note_id`, `note_type` and `tags` comments; move other text into a field"),
                ),
            }
            return true;
        }
        if s.trim_start().starts_with("<!--") {
            self.error(n, 1, "comment before the first field is not a metadata line; write `<!-- note_id: N -->`, `<!-- note_type: Name -->` or `<!-- tags: a b -->` on a line of its own, or move the comment into a field");
            return true;
        }
        let trimmed = s.trim_start();
        if let Some(label) = label_like(trimmed) {
            let col = s.len() - trimmed.len() + 1;
            if self.label(trimmed).is_some() {
                self.error(
                    n,
                    col,
                    format!("field label '{label}' must start at the beginning of the line; remove the indentation"),
                );
            } else {
                self.error(
                    n,
                    col,
                    format!("unknown field label '{label}'; use a label of a note type: {}", self.known_labels()),
                );
            }
            return false;
        }
        if !*text_reported {
            *text_reported = true;
            self.error(
                n,
                1,
                "text before the first field label; start the field with a label such as `Q:`, or remove the text",
            );
        }
        false
    }

    /// Resolves the note type and field names, then validates the note.
    fn resolve(
        &mut self,
        start_line: usize,
        meta: Meta<'a>,
        fields: Vec<FieldRaw<'a>>,
        conflicts: Vec<ConflictRaw<'a>>,
    ) -> Option<ParsedNote> {
        let errors_before = self.errors.len();
        // Labels in file order, with their lines; conflicts contribute the label of their sides.
        let mut labels: Vec<(&'a str, usize)> = fields.iter().map(|f| (f.prefix, f.line)).collect();
        let mut conflict_labels = Vec::new();
        for c in &conflicts {
            let sides: Vec<&FieldRaw<'a>> = c.sides.iter().flatten().collect();
            match sides.first() {
                None => {
                    self.error(c.line, 1, "a conflict with no field on any side; remove its markers");
                    conflict_labels.push(None);
                }
                Some(first) => {
                    if let Some(other) = sides.iter().find(|s| s.prefix != first.prefix) {
                        self.error(
                            other.line,
                            1,
                            format!("the sides of a conflict must hold the same field, but this is '{}' and another is '{}'; resolve the conflict by hand", other.prefix, first.prefix),
                        );
                    }
                    labels.push((first.prefix, c.line));
                    conflict_labels.push(Some(first.prefix));
                }
            }
        }
        labels.sort_by_key(|(_, line)| *line);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (prefix, line) in &labels {
            if let Some(first) = seen.get(prefix) {
                self.error(
                    *line,
                    1,
                    format!("duplicate field '{prefix}' (first at line {first}); merge the two into one"),
                );
            } else {
                seen.insert(prefix, *line);
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }
        let first_label_line = labels.first().map_or(start_line, |(_, l)| *l);
        let prefixes: Vec<&str> = labels.iter().map(|(p, _)| *p).collect();

        let spec: &NoteTypeSpec = match meta.note_type {
            Some((name, line, col)) => match self.registry.get(name) {
                Some(spec) => spec,
                None => {
                    let names: Vec<&str> = self.registry.iter().map(|t| t.name.as_str()).collect();
                    self.error(
                        line,
                        col,
                        format!(
                            "unknown note type '{name}'; use one of {}, or declare it in note_types/{name}/",
                            names.join(", ")
                        ),
                    );
                    return None;
                }
            },
            None => match self.inferred.iter().find(|(p, _)| *p == prefixes) {
                Some((_, spec)) => spec,
                None => match self.registry.infer(&prefixes) {
                    Ok(spec) => {
                        self.inferred.push((prefixes.clone(), spec));
                        spec
                    }
                    Err(e) => {
                        self.error(first_label_line, 1, e.to_string());
                        return None;
                    }
                },
            },
        };
        for (prefix, line) in &labels {
            if spec.field_by_prefix(prefix).is_none() {
                self.error(
                    *line,
                    1,
                    format!(
                        "'{prefix}' is not a field of note type {}; use its labels: {}",
                        spec.name,
                        type_labels(spec)
                    ),
                );
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }

        let mut by_name: BTreeMap<&str, &FieldRaw<'a>> = BTreeMap::new();
        for f in &fields {
            if let Some(fs) = spec.field_by_prefix(f.prefix) {
                by_name.insert(fs.name.as_str(), f);
            }
        }
        let mut conflict_by_name: BTreeMap<&str, &ConflictRaw<'a>> = BTreeMap::new();
        for (c, prefix) in conflicts.iter().zip(&conflict_labels) {
            if let Some(fs) = prefix.and_then(|p| spec.field_by_prefix(p)) {
                conflict_by_name.insert(fs.name.as_str(), c);
            }
        }
        let mut values = IndexMap::new();
        let mut field_conflicts = Vec::new();
        for fs in &spec.fields {
            if let Some(f) = by_name.get(fs.name.as_str()) {
                values.insert(fs.name.clone(), f.value(self.text));
            } else if let Some(c) = conflict_by_name.get(fs.name.as_str()) {
                let [m, b, a] = &c.sides;
                field_conflicts.push(FieldConflict {
                    field: fs.name.clone(),
                    markdown: m.as_ref().map(|f| f.value(self.text)),
                    base: b.as_ref().map(|f| f.value(self.text)),
                    anki: a.as_ref().map(|f| f.value(self.text)),
                });
            }
        }

        self.validate(spec, &values, &by_name, &conflict_by_name, first_label_line);
        if self.errors.len() > errors_before {
            return None;
        }
        let mut tags = meta.tags.unwrap_or_default();
        tags.sort();
        tags.dedup();
        let note = NoteBlock {
            note_id: meta.note_id.map(|(id, _, _)| id),
            note_type: spec.name.clone(),
            tags,
            fields: values,
            conflicts: field_conflicts,
            line: start_line,
        };
        Some(ParsedNote {
            note,
            explicit_type: meta.note_type.is_some(),
            note_key: meta.note_key.map(str::to_owned),
            id_at: meta.note_id.map(|(_, line, col)| (line, col)),
        })
    }

    /// Required fields, cloze and choice rules. Notes with conflicts are only checked for missing fields.
    fn validate(
        &mut self,
        spec: &NoteTypeSpec,
        values: &IndexMap<String, String>,
        raw: &BTreeMap<&str, &FieldRaw<'a>>,
        conflicts: &BTreeMap<&str, &ConflictRaw<'a>>,
        first_line: usize,
    ) {
        let is_choice = |name: &str| name.starts_with("Choice");
        for fs in spec.fields.iter().filter(|f| f.required) {
            let name = fs.name.as_str();
            if conflicts.contains_key(name) {
                continue;
            }
            match (values.get(name), raw.get(name)) {
                (None, _) => self.error(
                    first_line,
                    1,
                    format!("missing field '{name}' ({}); note type {} needs it", fs.prefix, spec.name),
                ),
                (Some(v), Some(f)) if v.is_empty() && !is_choice(name) => self.error(
                    f.line,
                    1,
                    format!("field '{name}' ({}) is empty; write its content, or remove the note", fs.prefix),
                ),
                _ => {}
            }
        }
        if !conflicts.is_empty() {
            return;
        }
        match spec.kind {
            NoteKind::Cloze => {
                if !values.values().any(|v| find_cloze(v).is_some()) {
                    let line =
                        spec.fields.first().and_then(|f| raw.get(f.name.as_str())).map_or(first_line, |f| f.line);
                    self.error(
                        line,
                        1,
                        format!("note type {} needs a cloze deletion such as {{{{c1::answer}}}}; add one, or use another note type", spec.name),
                    );
                }
            }
            NoteKind::Standard | NoteKind::Choice => {
                for fs in &spec.fields {
                    let Some(f) = raw.get(fs.name.as_str()) else { continue };
                    let found = f.content(self.text).split('\n').enumerate().find_map(|(i, text)| {
                        let label_width = if i == 0 { f.prefix.chars().count() + 1 } else { 0 };
                        find_cloze(text).map(|at| (f.line + i, column(text, at) + label_width))
                    });
                    if let Some((line, col)) = found {
                        self.error(
                            line,
                            col,
                            format!("note type {} must not contain cloze syntax {{{{cN::…}}}}; use a cloze note (T:) or remove it", spec.name),
                        );
                    }
                }
            }
        }
        if spec.kind == NoteKind::Choice {
            let choices: Vec<_> = spec.fields.iter().filter(|f| is_choice(&f.name)).collect();
            let filled: Vec<bool> =
                choices.iter().map(|f| values.get(&f.name).is_some_and(|v| !v.is_empty())).collect();
            if filled.iter().filter(|f| **f).count() < 2 {
                let labels: Vec<&str> = choices.iter().take(2).map(|f| f.prefix.as_str()).collect();
                self.error(
                    first_line,
                    1,
                    format!("a choice note needs at least 2 choices; add them as {} …", labels.join(" ")),
                );
            }
            if let Some(answer_spec) = spec.field_by_name("Answer")
                && let Some(answer) = values.get("Answer")
                && let Some(f) = raw.get("Answer")
                && !answer.is_empty()
            {
                let prefix = &answer_spec.prefix;
                let mut numbers = Vec::new();
                for part in answer.split(',') {
                    match part.trim().parse::<usize>() {
                        Ok(k) => numbers.push(k),
                        Err(_) => {
                            self.error(
                                f.line,
                                1,
                                format!("answer '{answer}' must list the numbers of the right choices, separated by commas; write e.g. `{prefix} 1` or `{prefix} 1, 3`"),
                            );
                            return;
                        }
                    }
                }
                for k in numbers {
                    if k == 0 || !filled.get(k - 1).copied().unwrap_or(false) {
                        let label =
                            choices.get(k.wrapping_sub(1)).map_or_else(|| format!("C{k}:"), |f| f.prefix.clone());
                        self.error(
                            f.line,
                            1,
                            format!("answer names choice {k}, but there is no `{label}` choice; fix the answer or add the choice"),
                        );
                    }
                }
            }
        }
    }
}

/// What follows a label on its line (after the space).
fn label_rest<'a>(line: &'a str, prefix: &str) -> &'a str {
    line.get(prefix.len()..).map_or("", |rest| rest.strip_prefix(' ').unwrap_or(rest))
}

fn type_labels(spec: &NoteTypeSpec) -> String {
    spec.fields.iter().map(|f| f.prefix.as_str()).collect::<Vec<_>>().join(" ")
}
