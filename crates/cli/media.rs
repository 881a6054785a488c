//! Media (design.md §8): the images deck files refer to live flat in `media/`, are uploaded to Anki when Anki
//! lacks them or holds other content, get a new content-hashed name when they change, and are downloaded when
//! notes pulled from Anki refer to them. Every name is confined to `media/`.
//!
//! A run uses it in four steps: [`prepare`] before the deck files are parsed (hashes, renames changed files
//! and rewrites their references on disk), [`Media::check`] after planning (refuses notes whose references
//! leave `media/`), [`Media::upload`] before notes reach Anki, [`Media::download`] after the Markdown is
//! written; [`Media::finish`] hands the names both sides agree on to the base.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use ankiops_connect::{Client, MediaSource};
use ankiops_markdown::convert::{media_destination, percent_decode};
use ankiops_sync::{BaseChange, Direction, MarkdownChange, NoteRef, Plan};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use unicode_normalization::UnicodeNormalization;

use crate::base::Base;
use crate::error::Result;
use crate::report::{Level, Problem, Report};
use crate::store::{self, Collection, Location, Locations};

/// The media folder, inside the collection folder.
pub const MEDIA_DIR: &str = "media";

/// The advice every refused reference ends with.
const KEEP_IN_MEDIA: &str = "keep images in media/ and refer to them by name";

// ---------------------------------------------------------------------------------------------------------
// References

/// How an image is written in the Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `![alt](dest)`; `span` covers `dest` with its angle brackets, if any.
    Markdown,
    /// `<img src="dest">`; `span` covers the attribute value without its quotes.
    Html,
}

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file in `media/`: one plain file name.
    Media(String),
    /// A web address or inline data: not media.
    External,
    /// Anything that could reach outside `media/`: why it is refused.
    Refused(String),
}

/// One image reference in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// 1-based line.
    pub line: usize,
    /// Byte range of the destination in the text (see [`Syntax`]).
    pub span: Range<usize>,
    /// The destination as written, without angle brackets or quotes.
    pub raw: String,
    pub syntax: Syntax,
    pub target: Target,
}

impl Reference {
    /// `image "x": why: keep images in media/ and refer to them by name`, for a refused reference.
    fn refusal(&self) -> Option<String> {
        match &self.target {
            Target::Refused(why) => Some(format!("image \"{}\" {why}: {KEEP_IN_MEDIA}", self.raw.escape_debug())),
            _ => None,
        }
    }
}

/// Every image reference in a Markdown text: `![alt](dest)` and `<img src="dest">`, outside code blocks and
/// code spans. Empty destinations are left out.
pub fn references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        let trimmed = &body[indent..];
        let marker = trimmed.bytes().next().filter(|b| indent < 4 && (*b == b'`' || *b == b'~'));
        if let Some(m) = marker {
            let run = trimmed.bytes().take_while(|b| *b == m).count();
            if run >= 3 {
                match fence {
                    None => {
                        fence = Some((m, run));
                        continue;
                    }
                    Some((open, len)) if open == m && run >= len && trimmed[run..].trim().is_empty() => {
                        fence = None;
                        continue;
                    }
                    Some(_) => {}
                }
            }
        }
        if fence.is_some() {
            continue;
        }
        scan_line(body, start, i + 1, &mut out);
    }
    out
}

/// The references of one line outside code spans; `start` is the line's byte offset in the text.
fn scan_line(line: &str, start: usize, number: usize, out: &mut Vec<Reference>) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => {
                let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
                let closer = "`".repeat(run);
                let mut j = i + run;
                // The span ends at the next run of exactly the same length; an unclosed run is literal.
                let mut end = None;
                while let Some(k) = line[j..].find(&closer) {
                    let at = j + k;
                    let len = bytes[at..].iter().take_while(|b| **b == b'`').count();
                    if len == run {
                        end = Some(at + run);
                        break;
                    }
                    j = at + len;
                }
                i = end.unwrap_or(i + run);
            }
            b'!' if bytes.get(i + 1) == Some(&b'[') => match markdown_image(line, i) {
                Some((span, raw, next)) => {
                    push(out, number, start, span, raw, Syntax::Markdown);
                    i = next;
                }
                None => i += 2,
            },
            b'<' if bytes.get(i + 1..i + 4).is_some_and(|tag| tag.eq_ignore_ascii_case(b"img")) => {
                match html_image(line, i) {
                    Some((span, raw, next)) => {
                        push(out, number, start, span, raw, Syntax::Html);
                        i = next;
                    }
                    None => i += 4,
                }
            }
            _ => i += 1,
        }
    }
}

fn push(out: &mut Vec<Reference>, line: usize, start: usize, span: Range<usize>, raw: String, syntax: Syntax) {
    if raw.trim().is_empty() {
        return;
    }
    let target = classify(&raw, syntax);
    out.push(Reference { line, span: start + span.start..start + span.end, raw, syntax, target });
}

/// `![alt](dest "title")` at `at`: the destination's span (with angle brackets), the destination, and where
/// scanning goes on.
fn markdown_image(line: &str, at: usize) -> Option<(Range<usize>, String, usize)> {
    let bytes = line.as_bytes();
    let mut i = at + 2;
    let mut depth = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if i >= bytes.len() || bytes.get(i + 1) != Some(&b'(') {
        return None;
    }
    let mut j = i + 2;
    while j < bytes.len() && bytes[j] == b' ' {
        j += 1;
    }
    if bytes.get(j) == Some(&b'<') {
        let close = line[j + 1..].find('>')? + j + 1;
        return Some((j..close + 1, line[j + 1..close].to_string(), close + 1));
    }
    let begin = j;
    let mut parens = 0;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 1,
            b'(' => parens += 1,
            b')' if parens == 0 => break,
            b')' => parens -= 1,
            b' ' | b'\t' => break,
            _ => {}
        }
        j += 1;
    }
    let j = j.min(bytes.len());
    Some((begin..j, line[begin..j].to_string(), j))
}

/// `<img … src="dest" …>` at `at`: the value's span (without quotes), the value, and where scanning goes on.
fn html_image(line: &str, at: usize) -> Option<(Range<usize>, String, usize)> {
    let bytes = line.as_bytes();
    let mut i = at + 4;
    if !bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            return None;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = &line[name_start..i];
        let mut k = i;
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        if bytes.get(k) != Some(&b'=') {
            continue;
        }
        k += 1;
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        let (span, next) = match bytes.get(k) {
            Some(q @ (b'"' | b'\'')) => {
                let close = line[k + 1..].find(*q as char)? + k + 1;
                (k + 1..close, close + 1)
            }
            Some(_) => {
                let mut e = k;
                while e < bytes.len() && !bytes[e].is_ascii_whitespace() && bytes[e] != b'>' {
                    e += 1;
                }
                (k..e, e)
            }
            None => return None,
        };
        if name.eq_ignore_ascii_case("src") {
            let raw = ankiops_markdown::convert::decode_entities(&line[span.clone()]);
            return Some((span, raw, next));
        }
        i = next;
    }
}

/// `a&b "1".png` -> `a&amp;b &quot;1&quot;.png`, for an attribute value in either kind of quotes.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// What a destination points at. A media name is the destination without a `media/` prefix: in `![](…)`
/// backslash escapes and `%XX` are decoded (a Markdown destination is a URL); an `<img src>` is the name as
/// Anki stores it, as it is sent to Anki. It must be one plain file name, read either way, or it is refused.
pub fn classify(raw: &str, syntax: Syntax) -> Target {
    let dest = raw.trim();
    let lower = dest.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("data:") {
        return Target::External;
    }
    if lower.starts_with("file:") {
        return Target::Refused("is a file: URL".into());
    }
    if let Some(colon) = dest.find(':') {
        let scheme = &dest[..colon];
        if scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Target::Refused(format!("is a {scheme}: URL, not a file in media/"));
        }
    }
    if dest.contains('\\') && !(syntax == Syntax::Markdown && only_punctuation_escapes(dest)) {
        return Target::Refused("is a path with backslashes".into());
    }
    let unescaped = if syntax == Syntax::Markdown { markdown_unescape(dest) } else { dest.to_string() };
    let decoded = percent_decode(&unescaped);
    for candidate in [unescaped.as_str(), decoded.as_str()] {
        if candidate.starts_with('/') || candidate.starts_with('\\') || is_drive_path(candidate) {
            return Target::Refused("is an absolute path".into());
        }
    }
    let strip = |s: &str| s.strip_prefix("media/").unwrap_or(s).to_string();
    let name = match syntax {
        Syntax::Markdown => strip(&decoded),
        Syntax::Html => {
            if let Err(why) = check_name(&strip(&decoded)) {
                return Target::Refused(why);
            }
            strip(&unescaped)
        }
    };
    match check_name(&name) {
        Ok(()) => Target::Media(name),
        Err(why) => Target::Refused(why),
    }
}

/// Why `name` is not one plain file name in `media/`, if it is not.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Err("points outside media/".into());
    }
    if name.contains(['/', '\\']) {
        return Err("is in a subfolder (media/ is flat)".into());
    }
    if name.chars().any(char::is_control) {
        return Err("has a control character in its name".into());
    }
    if name.starts_with('.') {
        return Err("is a hidden file name (it starts with a dot)".into());
    }
    if name.is_empty() {
        return Err("has no file name".into());
    }
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(part)), None) if part == name => Ok(()),
        _ => Err("is not a plain file name".into()),
    }
}

fn is_drive_path(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Whether every backslash escapes ASCII punctuation (CommonMark escapes), as in `a\_b.png`.
fn only_punctuation_escapes(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !chars.next().is_some_and(|n| n.is_ascii_punctuation() && n != '\\' && n != '/' && n != '.') {
            return false;
        }
    }
    true
}

fn markdown_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && n.is_ascii_punctuation()
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Names, hashes and rewriting

/// `photo.png` with content hash `3f2a…` -> `photo-3f2a19c0.png`; an earlier hash suffix is replaced.
pub fn hashed_name(name: &str, sha1: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let stem = match stem.rsplit_once('-') {
        Some((head, tail)) if !head.is_empty() && tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => stem,
    };
    let short = sha1.get(..8).unwrap_or(sha1);
    format!("{stem}-{short}{ext}")
}

/// The path of `name` in the media folder; `None` when the name could leave it (checked again on every write).
pub fn media_path(dir: &Path, name: &str) -> Option<PathBuf> {
    check_name(name).ok().map(|()| dir.join(name))
}

/// Hex SHA-1 of some bytes.
pub fn sha1_hex(bytes: &[u8]) -> String {
    let digest = Sha1::digest(bytes);
    let mut out = String::with_capacity(40);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `text` with every reference to `old` pointing at `new` instead, and how many were changed.
pub fn rewrite(text: &str, old: &str, new: &str) -> (String, usize) {
    rewrite_names(text, &BTreeSet::from([old.to_string()]), new)
}

/// `text` with every reference to one of `olds` pointing at `new`, keeping each reference's style (`media/`
/// prefix, angle brackets, `<img>`), and how many were changed.
pub fn rewrite_names(text: &str, olds: &BTreeSet<String>, new: &str) -> (String, usize) {
    let mut out = text.to_string();
    let mut count = 0;
    for r in references(text).iter().rev() {
        if !matches!(&r.target, Target::Media(name) if olds.contains(name)) {
            continue;
        }
        let prefix = if r.raw.trim().starts_with("media/") { "media/" } else { "" };
        let dest = match r.syntax {
            Syntax::Markdown => {
                let dest = media_destination(&format!("{prefix}{new}"));
                if text[r.span.start..].starts_with('<') && !dest.starts_with('<') { format!("<{dest}>") } else { dest }
            }
            Syntax::Html => {
                let quoted = r.span.start > 0 && matches!(text.as_bytes()[r.span.start - 1], b'"' | b'\'');
                let value = html_escape(&format!("{prefix}{new}"));
                if quoted { value } else { format!("\"{value}\"") }
            }
        };
        out.replace_range(r.span.clone(), &dest);
        count += 1;
    }
    (out, count)
}

/// The media names `refs` point at.
fn media_names(refs: &[Reference]) -> impl Iterator<Item = &String> {
    refs.iter().filter_map(|r| match &r.target {
        Target::Media(name) => Some(name),
        _ => None,
    })
}

/// The name Anki stores a file under when `storeMediaFile` is asked for `name` (measured with Anki 26.9.3):
/// NFC, without the characters Anki strips, a no-break space as a space, lower case (one character at a
/// time), and a `_` after a Windows device name (`con`, `com1` …) and after a trailing dot or space. Anki's
/// answer is still checked on upload: this prediction lets a run rename files before it reads the deck files,
/// and find two files Anki would store as one before anything is uploaded.
pub fn anki_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.nfc() {
        match c {
            '[' | ']' | '<' | '>' | ':' | '"' | '/' | '?' | '*' | '^' | '\\' | '|' => {}
            c if c.is_ascii_control() => {}
            '\u{a0}' => out.push(' '),
            c => out.extend(c.to_lowercase()),
        }
    }
    let first = out.split('.').next().unwrap_or_default().len();
    let stem = &out.as_bytes()[..first];
    let numbered =
        stem.len() == 4 && (stem.starts_with(b"com") || stem.starts_with(b"lpt")) && matches!(stem[3], b'1'..=b'9');
    if numbered || matches!(stem, b"con" | b"prn" | b"aux" | b"nul") {
        out.insert(first, '_');
    }
    if out.ends_with(['.', ' ']) {
        out.push('_');
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// The hash cache: `.git/ankiops/media-hashes.json`, keyed by path, size and mtime; never versioned.

#[derive(Debug, Default, Serialize, Deserialize)]
struct HashCache {
    files: BTreeMap<String, Cached>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    size: u64,
    mtime_ns: u64,
    sha1: String,
}

fn cache_path(root: &Path) -> Option<PathBuf> {
    let repo = git2::Repository::discover(root).ok()?;
    Some(repo.path().join("ankiops").join("media-hashes.json"))
}

fn stat(path: &Path) -> Option<(u64, u64)> {
    let meta = fs_err::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), u64::try_from(mtime.as_nanos()).unwrap_or(u64::MAX)))
}

// ---------------------------------------------------------------------------------------------------------
// The run

/// The media side of one run.
pub struct Media<'a> {
    root: PathBuf,
    dir: PathBuf,
    client: &'a Client,
    /// Whether this run pushes (`ma`, `sync`): only then are files renamed, checked and uploaded.
    pushes: bool,
    dry_run: bool,
    cache: HashCache,
    cache_file: Option<PathBuf>,
    cache_dirty: bool,
    /// Name -> SHA-1 that Anki and `media/` both hold (the base's map, updated by this run).
    agreed: BTreeMap<String, String>,
    /// The references of every deck file that parsed, after renames.
    refs: BTreeMap<PathBuf, Vec<Reference>>,
    /// Names (NFC) that deck files this run leaves alone (they do not parse) refer to: their files stay.
    frozen: BTreeSet<String>,
    /// Local files that are not uploaded (two files Anki would store as one, a rename that could not be
    /// done): the notes that use them are not pushed.
    blocked: BTreeSet<String>,
    /// Whether a deck file was rewritten, so the run reads the deck files again.
    rewrote: bool,
    /// Local files to upload, with their SHA-1.
    pending: BTreeMap<String, String>,
    /// Images of pulled notes that `media/` holds with other content under Anki's name: Anki's name -> the
    /// local name its content gets (`None`: the name is used as it is).
    pulled: BTreeMap<String, Option<String>>,
    /// Anki's bytes for those other local names, written by [`Media::download`].
    pulled_bytes: BTreeMap<String, Vec<u8>>,
    /// An error from Anki while planning, returned by the next step that may fail.
    failure: Option<crate::error::CliError>,
    /// Names in Anki's media folder, read once when needed.
    anki_names: Option<BTreeSet<String>>,
    /// The names in `media/`, read once when a name is not found as written.
    listing: Option<Vec<String>>,
    uploaded: usize,
    downloaded: usize,
}

/// Why a file in `media/` gets another name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Its content changed since it was last pushed: a content-hashed name.
    Changed,
    /// Anki stores it under another name (case, Unicode normalisation, characters it strips).
    AnkiName,
}

/// Before the deck files are read again: hashes the files the deck files that parsed refer to and, on a
/// pushing run, gives every file to upload the name Anki will store it under, and every file whose content
/// changed since it was last pushed a content-hashed name, rewriting its references in those deck files on
/// disk (dry runs only say they would). Deck files that do not parse are never touched, and the files they
/// refer to keep their names. Two files Anki would store under one name, with different contents, are an
/// error naming both, and neither is uploaded.
pub fn prepare<'a>(
    root: &Path,
    client: &'a Client,
    base: &Base,
    collection: &Collection,
    direction: Direction,
    dry_run: bool,
    report: &mut Report,
) -> Result<Media<'a>> {
    let cache_file = cache_path(root);
    let cache = cache_file
        .as_ref()
        .and_then(|p| fs_err::read_to_string(p).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut media = Media {
        root: root.to_path_buf(),
        dir: root.join(MEDIA_DIR),
        client,
        pushes: direction != Direction::ToMarkdown,
        dry_run,
        cache,
        cache_file,
        cache_dirty: false,
        agreed: base.media.clone(),
        refs: BTreeMap::new(),
        frozen: BTreeSet::new(),
        blocked: BTreeSet::new(),
        rewrote: false,
        pending: BTreeMap::new(),
        pulled: BTreeMap::new(),
        pulled_bytes: BTreeMap::new(),
        failure: None,
        anki_names: None,
        listing: None,
        uploaded: 0,
        downloaded: 0,
    };
    if !media.pushes {
        return Ok(media);
    }
    let loaded: BTreeSet<&Path> = collection.decks.iter().map(|d| d.path.as_path()).collect();
    for source in &collection.decks {
        let refs = references(&source.original);
        if !refs.is_empty() {
            media.refs.insert(source.path.clone(), refs);
        }
    }
    for (path, _) in store::deck_paths(root)? {
        if loaded.contains(path.as_path()) {
            continue;
        }
        let Ok(bytes) = fs_err::read(&path) else { continue };
        let refs = references(&String::from_utf8_lossy(&bytes));
        media.frozen.extend(media_names(&refs).map(|n| n.nfc().collect::<String>()));
    }

    // Every referenced name, by the file in `media/` it finds (`naïve.png` spelled NFD finds an NFC file).
    let names: BTreeSet<String> = media.refs.values().flat_map(|refs| media_names(refs)).cloned().collect();
    let mut files: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in names {
        if let Some(local) = media.local_name(&name) {
            files.entry(local).or_default().insert(name);
        }
    }
    let mut hashes = BTreeMap::new();
    for local in files.keys() {
        let path = media.dir.join(local);
        hashes.insert(local.clone(), media.hash(&path)?);
    }

    // Two files Anki would store under one name: with different contents, neither is uploaded.
    let mut by_anki_name: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for local in files.keys() {
        by_anki_name.entry(anki_name(local)).or_default().push(local);
    }
    for (stored, locals) in &by_anki_name {
        let contents: BTreeSet<&String> = locals.iter().map(|l| &hashes[*l]).collect();
        if contents.len() < 2 {
            continue;
        }
        let shown = locals.iter().map(|l| format!("{MEDIA_DIR}/{l}")).collect::<Vec<_>>().join(" and ");
        report.problems.push(Problem::error(format!(
            "{shown} differ but Anki would store both as \"{stored}\" (it ignores case and Unicode normalisation in names), so neither is uploaded and the notes using them are not pushed: rename one of them and its references, then run again"
        )));
        media.blocked.extend(locals.iter().map(|l| (*l).clone()));
    }

    for (local, spellings) in files {
        if media.blocked.contains(&local) {
            continue;
        }
        let hash = hashes[&local].clone();
        let (target, why, upload) = media.target(client, &local, &hash)?;
        let moved = target != local || spellings.iter().any(|s| *s != target);
        if moved && !media.relocate(&local, &spellings, &target, &hash, why, report)? {
            media.blocked.insert(local);
            continue;
        }
        if upload {
            let key = if media.dry_run { local } else { target };
            media.pending.insert(key, hash);
        }
    }
    media.save_cache();
    Ok(media)
}

impl Media<'_> {
    /// Whether a deck file was rewritten (the run must read the deck files again).
    pub fn rewrote_deck_files(&self) -> bool {
        self.rewrote
    }

    /// The file in `media/` a reference finds: the name as written, or else the one file whose name is the
    /// same in Unicode NFC (one spelling may be NFC, the other NFD).
    fn local_name(&mut self, name: &str) -> Option<String> {
        if media_path(&self.dir, name).is_some_and(|p| p.is_file()) {
            return Some(name.to_string());
        }
        let want: String = name.nfc().collect();
        if self.listing.is_none() {
            self.listing = Some(self.list());
        }
        let listing = self.listing.as_ref()?;
        let mut found = listing.iter().filter(|n| n.nfc().eq(want.chars()));
        match (found.next(), found.next()) {
            (Some(one), None) if self.dir.join(one).is_file() => Some(one.clone()),
            _ => None,
        }
    }

    /// The names in `media/` right now.
    fn list(&self) -> Vec<String> {
        let Ok(entries) = fs_err::read_dir(&self.dir) else { return Vec::new() };
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
    }

    /// The name a referenced file is to have, why it changes (if it does), and whether to upload it: the name
    /// Anki already holds with this content, or the name Anki stores it under (content-hashed when the content
    /// changed since it was last pushed, or Anki holds other content under that name).
    fn target(&mut self, client: &Client, local: &str, hash: &str) -> Result<(String, Option<Why>, bool)> {
        if self.agreed.get(local).map(String::as_str) == Some(hash) {
            return Ok((local.to_string(), None, false));
        }
        let stored = anki_name(local);
        let mut changed = self.agreed.contains_key(local);
        if !changed {
            let candidates =
                if stored == local { vec![local.to_string()] } else { vec![local.to_string(), stored.clone()] };
            for candidate in candidates {
                if !self.anki_holds(client, &candidate)? {
                    continue;
                }
                match client.retrieve_media_file(&candidate)? {
                    Some(bytes) if sha1_hex(&bytes) == hash => {
                        self.agreed.insert(candidate.clone(), hash.to_string());
                        let why = (candidate != local).then_some(Why::AnkiName);
                        return Ok((candidate, why, false));
                    }
                    Some(_) => changed = true,
                    None => {}
                }
            }
        }
        if changed && !local.starts_with('_') {
            return Ok((anki_name(&hashed_name(local, hash)), Some(Why::Changed), true));
        }
        let why = (stored != local).then_some(Why::AnkiName);
        Ok((stored, why, true))
    }

    /// The SHA-1 of a file in `media/`, from the cache while its size and mtime stay.
    fn hash(&mut self, path: &Path) -> Result<String> {
        let key = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let stat = stat(path);
        if let (Some((size, mtime_ns)), Some(cached)) = (stat, self.cache.files.get(&key))
            && cached.size == size
            && cached.mtime_ns == mtime_ns
        {
            return Ok(cached.sha1.clone());
        }
        let hash = sha1_hex(&fs_err::read(path)?);
        if let Some((size, mtime_ns)) = stat {
            self.cache.files.insert(key, Cached { size, mtime_ns, sha1: hash.clone() });
            self.cache_dirty = true;
        }
        Ok(hash)
    }

    fn save_cache(&mut self) {
        if !self.cache_dirty {
            return;
        }
        // Only a cache: a failure to write it costs a re-read next time, nothing else.
        if let Some(path) = &self.cache_file
            && let Some(dir) = path.parent()
            && fs_err::create_dir_all(dir).is_ok()
            && let Ok(text) = serde_json::to_string(&self.cache)
            && store::write_atomic(path, text.as_bytes()).is_ok()
        {
            self.cache_dirty = false;
        }
    }

    /// Whether Anki's media folder has a file of that name (one `getMediaFilesNames` per run).
    fn anki_holds(&mut self, client: &Client, name: &str) -> Result<bool> {
        if self.anki_names.is_none() {
            self.anki_names = Some(client.get_media_files_names("*")?.into_iter().collect());
        }
        Ok(self.anki_names.as_ref().is_some_and(|names| names.contains(name)))
    }

    /// Gives `media/{local}` the name `target` and points every reference spelled one of `spellings` at it:
    /// copy, rewrite the references, remove the old name, in that order, so an interruption at any point
    /// leaves every reference pointing at a file. The old name stays while a deck file that does not parse
    /// refers to it. `false` when it could not be done (reported).
    fn relocate(
        &mut self,
        local: &str,
        spellings: &BTreeSet<String>,
        target: &str,
        hash: &str,
        why: Option<Why>,
        report: &mut Report,
    ) -> Result<bool> {
        let (Some(from), Some(to)) = (media_path(&self.dir, local), media_path(&self.dir, target)) else {
            return Ok(false);
        };
        let files: Vec<PathBuf> = self
            .refs
            .iter()
            .filter(|(_, refs)| media_names(refs).any(|n| spellings.contains(n)))
            .map(|(p, _)| p.clone())
            .collect();
        let root = self.root.clone();
        let shown_files = files
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let reason = match why {
            Some(Why::Changed) => "changed since it was last pushed, so Anki and AnkiWeb see a new file",
            _ => "the name Anki stores it under",
        };
        let renamed = target != local;
        if self.dry_run {
            report.changes.push(if renamed {
                format!("media: would rename {MEDIA_DIR}/{local} -> {MEDIA_DIR}/{target} ({reason}) and update {shown_files}")
            } else {
                format!("media: would update the references to {MEDIA_DIR}/{target} spelled otherwise in {shown_files}")
            });
            return Ok(true);
        }
        // On a file system that ignores case or normalisation, `to` may be `from` under another spelling.
        let same_file = renamed && to.exists() && !self.list().iter().any(|n| n == target);
        if renamed && !same_file {
            if to.exists() {
                if self.hash(&to)? != hash {
                    report.problems.push(Problem::error(format!(
                        "{MEDIA_DIR}/{local} is to be renamed to {MEDIA_DIR}/{target} ({reason}), but {MEDIA_DIR}/{target} already exists with other content, so the notes using it are not pushed: rename one of them, then run again"
                    )));
                    return Ok(false);
                }
            } else {
                store::write_atomic(&to, &fs_err::read(&from)?)?;
                if let Some((size, mtime_ns)) = stat(&to) {
                    let key = to.strip_prefix(&self.root).unwrap_or(&to).to_string_lossy().replace('\\', "/");
                    self.cache.files.insert(key, Cached { size, mtime_ns, sha1: hash.to_string() });
                    self.cache_dirty = true;
                }
            }
        }
        let mut count = 0;
        for path in &files {
            let text = fs_err::read_to_string(path)?;
            let (rewritten, n) = rewrite_names(&text, spellings, target);
            if n > 0 {
                store::write_atomic(path, rewritten.as_bytes())?;
                self.refs.insert(path.clone(), references(&rewritten));
                report.files_written.push(path.clone());
                self.rewrote = true;
                count += n;
            }
        }
        let nfc: String = local.nfc().collect();
        let kept = renamed && !same_file && self.frozen.contains(&nfc);
        if same_file {
            fs_err::rename(&from, &to)?;
        } else if renamed && !kept {
            fs_err::remove_file(&from)?;
        }
        self.listing = None;
        if renamed {
            self.agreed.remove(local);
        }
        let s = crate::run::plural(count);
        let mut message = if renamed {
            format!(
                "media: renamed {MEDIA_DIR}/{local} -> {MEDIA_DIR}/{target} ({reason}); {count} reference{s} updated in {shown_files}"
            )
        } else {
            format!("media: {count} reference{s} to {MEDIA_DIR}/{target} spelled otherwise updated in {shown_files}")
        };
        if kept {
            message.push_str(&format!(
                "; {MEDIA_DIR}/{local} is kept, since a deck file that does not parse refers to it"
            ));
        }
        report.changes.push(message);
        Ok(true)
    }

    /// After planning: the images of notes written from Anki into the Markdown that `media/` holds with other
    /// content under Anki's name get another local name, in the Markdown written and on download (Anki's
    /// note keeps its image; the next push sends the new name, with Anki's content). Then, on a pushing run,
    /// a note with a reference that leaves `media/` or uses a file that is not uploaded is an error at its
    /// file and line and is not pushed; a pushed note's image missing from `media/` is a warning. Only images
    /// of notes in the run's scope are uploaded.
    pub fn check(&mut self, collection: &Collection, plan: &mut Plan, locations: &Locations, report: &mut Report) {
        self.separate_pulled(plan, report);
        if !self.pushes {
            return;
        }
        let note_at: BTreeMap<Location, NoteRef> = locations.iter().map(|(note, at)| (at, note)).collect();
        let pushed: BTreeSet<NoteRef> = plan.notes.iter().filter(|p| p.anki.is_some()).map(|p| p.note).collect();
        let mut refused = BTreeSet::new();
        let mut needed = BTreeSet::new();
        for (d, source) in collection.decks.iter().enumerate() {
            let Some(refs) = self.refs.get(&source.path).cloned() else { continue };
            let shown = source.path.strip_prefix(&self.root).unwrap_or(&source.path).display().to_string();
            for r in refs {
                let Some(n) = source.file.notes.iter().rposition(|note| note.line <= r.line) else { continue };
                let Some(note) = note_at.get(&Location { deck: d, note: n }).copied() else { continue };
                let location = Some(format!("{shown}:{}", r.line));
                match &r.target {
                    Target::Refused(_) => {
                        refused.insert(note);
                        let message = r.refusal().unwrap_or_default();
                        report.problems.push(Problem { level: Level::Error, note: Some(note), location, message });
                    }
                    Target::Media(name) => {
                        let local = self.local_name(name);
                        if local.as_ref().is_some_and(|l| self.blocked.contains(l)) {
                            if pushed.contains(&note) {
                                refused.insert(note);
                                report.problems.push(Problem {
                                    level: Level::Error,
                                    note: Some(note),
                                    location,
                                    message: format!(
                                        "not pushed: its image {MEDIA_DIR}/{name} is not uploaded (see the error about its name): rename the file and its references, then run again"
                                    ),
                                });
                            }
                        } else if local.is_none() && pushed.contains(&note) {
                            report.problems.push(Problem {
                                level: Level::Warning,
                                note: Some(note),
                                location,
                                message: format!(
                                    "{MEDIA_DIR}/{name} does not exist, so the image will not show: add the file or fix the reference"
                                ),
                            });
                        }
                        needed.insert(local.unwrap_or_else(|| name.clone()));
                    }
                    Target::External => {}
                }
            }
        }
        plan.notes.retain(|p| !(refused.contains(&p.note) && p.anki.is_some()));
        self.pending.retain(|name, _| needed.contains(name));
        if self.dry_run && !self.pending.is_empty() {
            report.changes.push(format!(
                "media: would upload {}",
                self.pending.keys().map(|n| format!("{MEDIA_DIR}/{n}")).collect::<Vec<_>>().join(", ")
            ));
        }
    }

    /// The notes the plan writes from Anki into the Markdown: an image that `media/` holds with other content
    /// under Anki's name is pointed at another local name in the Markdown written. The base keeps what Anki
    /// holds, so the next push sends the new name; Anki's own note is not touched by this run.
    fn separate_pulled(&mut self, plan: &mut Plan, report: &mut Report) {
        for p in &mut plan.notes {
            let state = match &mut p.markdown {
                Some(MarkdownChange::Write(state) | MarkdownChange::WriteConflict { state, .. }) => state,
                _ => continue,
            };
            let names: BTreeSet<String> = state
                .fields
                .values()
                .flat_map(|text| references(text))
                .filter_map(|r| match r.target {
                    Target::Media(name) => Some(name),
                    _ => None,
                })
                .collect();
            let mut renames = Vec::new();
            for name in names {
                match self.pulled_name(&name, report) {
                    Ok(Some(local)) => renames.push((name, local)),
                    Ok(None) => {}
                    Err(e) => {
                        self.failure.get_or_insert(e);
                        return;
                    }
                }
            }
            if renames.is_empty() {
                continue;
            }
            if p.base == BaseChange::SetToMarkdown {
                p.base = BaseChange::Set(state.clone());
            }
            for field in state.fields.values_mut() {
                for (old, new) in &renames {
                    *field = rewrite(field, old, new).0;
                }
            }
        }
    }

    /// The local name for Anki's image `name` in a pulled note, when `media/` holds other content under it
    /// (`None`: the name as it is; the file is downloaded if `media/` lacks it). Asked of Anki once per name.
    fn pulled_name(&mut self, name: &str, report: &mut Report) -> Result<Option<String>> {
        if let Some(done) = self.pulled.get(name) {
            return Ok(done.clone());
        }
        let found = self.pulled_name_uncached(name, report)?;
        self.pulled.insert(name.to_string(), found.clone());
        Ok(found)
    }

    fn pulled_name_uncached(&mut self, name: &str, report: &mut Report) -> Result<Option<String>> {
        let Some(path) = media_path(&self.dir, name).filter(|p| p.is_file()) else { return Ok(None) };
        let local_hash = self.hash(&path)?;
        if self.agreed.get(name) == Some(&local_hash) {
            return Ok(None);
        }
        let Some(bytes) = self.client.retrieve_media_file(name)? else { return Ok(None) };
        let anki_hash = sha1_hex(&bytes);
        if anki_hash == local_hash {
            self.agreed.insert(name.to_string(), local_hash);
            return Ok(None);
        }
        let other = anki_name(&hashed_name(name, &anki_hash));
        let Some(other_path) = media_path(&self.dir, &other) else { return Ok(None) };
        if other_path.exists() && self.hash(&other_path)? != anki_hash {
            report.problems.push(Problem::error(format!(
                "Anki's {MEDIA_DIR}/{name} differs from the file of that name here, and {MEDIA_DIR}/{other} is taken by another file too, so the pulled notes refer to the file here: rename {MEDIA_DIR}/{name} here, then run again"
            )));
            return Ok(None);
        }
        if !other_path.exists() {
            self.pulled_bytes.insert(other.clone(), bytes);
        }
        let would = if self.dry_run { "would be" } else { "is" };
        report.changes.push(format!(
            "media: Anki's {MEDIA_DIR}/{name} differs from {MEDIA_DIR}/{name} here, so it {would} downloaded as {MEDIA_DIR}/{other} and the notes pulled from Anki refer to that; {MEDIA_DIR}/{name} here stays as it is"
        ));
        Ok(Some(other))
    }

    /// Uploads the files Anki lacks or holds with other content, as base64 data (right wherever Anki runs).
    /// Anki refusing one file is an error for that file; losing Anki stops the run.
    pub fn upload(&mut self, client: &Client, report: &mut Report) -> Result<()> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        if !self.pushes || self.dry_run {
            return Ok(());
        }
        for name in std::mem::take(&mut self.pending).into_keys() {
            let Some(path) = media_path(&self.dir, &name) else { continue };
            let bytes = fs_err::read(&path)?;
            let hash = sha1_hex(&bytes);
            match client.store_media_file(&name, MediaSource::Data(&bytes), true) {
                Ok(stored) if stored == name => {
                    self.agreed.insert(name, hash);
                    self.uploaded += 1;
                }
                Ok(stored) => report.problems.push(Problem::error(format!(
                    "Anki stored {MEDIA_DIR}/{name} as \"{stored}\" (it changes names it cannot keep), so notes will not find it: rename the file to \"{stored}\" and its references, then run again"
                ))),
                Err(e @ ankiops_connect::Error::Anki { .. }) => {
                    report.problems.push(Problem::error(format!("{MEDIA_DIR}/{name} was not uploaded: {e}")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// After the Markdown is written: the images of the notes this run wrote from Anki that `media/` lacks are
    /// downloaded, Anki's content for a name `media/` holds with other content under its other local name.
    /// Names are checked again, so nothing is written outside `media/`.
    pub fn download(
        &mut self,
        client: &Client,
        plan: &Plan,
        failed: &BTreeSet<NoteRef>,
        report: &mut Report,
    ) -> Result<()> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        if self.dry_run {
            return Ok(());
        }
        let mut wanted: BTreeMap<String, NoteRef> = BTreeMap::new();
        for p in plan.notes.iter().filter(|p| !failed.contains(&p.note)) {
            let texts: Vec<&str> = match &p.markdown {
                Some(MarkdownChange::Write(state)) => state.fields.values().map(String::as_str).collect(),
                Some(MarkdownChange::WriteConflict { state, clashes }) => state
                    .fields
                    .values()
                    .map(String::as_str)
                    .chain(clashes.iter().filter_map(|c| c.sides.anki.as_deref()))
                    .collect(),
                _ => continue,
            };
            for r in texts.into_iter().flat_map(references) {
                match &r.target {
                    Target::Media(name) => {
                        wanted.entry(name.clone()).or_insert(p.note);
                    }
                    Target::Refused(why) => report.problems.push(Problem {
                        level: Level::Warning,
                        note: Some(p.note),
                        location: None,
                        message: format!(
                            "its image \"{}\" from Anki {why}, so it was not downloaded: {KEEP_IN_MEDIA}",
                            r.raw.escape_debug()
                        ),
                    }),
                    Target::External => {}
                }
            }
        }
        for (name, note) in wanted {
            let Some(path) = media_path(&self.dir, &name) else { continue };
            if let Some(bytes) = self.pulled_bytes.remove(&name) {
                if !path.exists() {
                    fs_err::create_dir_all(&self.dir)?;
                    store::write_atomic(&path, &bytes)?;
                    self.downloaded += 1;
                }
                continue;
            }
            if path.exists() {
                continue;
            }
            match client.retrieve_media_file(&name)? {
                Some(bytes) => {
                    fs_err::create_dir_all(&self.dir)?;
                    store::write_atomic(&path, &bytes)?;
                    self.agreed.insert(name, sha1_hex(&bytes));
                    self.downloaded += 1;
                }
                None => report.problems.push(Problem {
                    level: Level::Warning,
                    note: Some(note),
                    location: None,
                    message: format!(
                        "refers to {MEDIA_DIR}/{name}, which neither Anki nor the collection folder has: the image will not show"
                    ),
                }),
            }
        }
        Ok(())
    }

    /// The end of the run: the agreed names go into the new base, the cache is saved, the counts reported.
    pub fn finish(mut self, base: &mut Base, report: &mut Report) {
        base.media = std::mem::take(&mut self.agreed);
        self.save_cache();
        let mut parts = Vec::new();
        if self.uploaded > 0 {
            parts.push(format!("{} uploaded", self.uploaded));
        }
        if self.downloaded > 0 {
            parts.push(format!("{} downloaded", self.downloaded));
        }
        if !parts.is_empty() {
            report.changes.push(format!("media: {}", parts.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(text: &str) -> Vec<(usize, String, Target)> {
        references(text).into_iter().map(|r| (r.line, r.raw, r.target)).collect()
    }

    fn media(name: &str) -> Target {
        Target::Media(name.to_string())
    }

    #[test]
    fn finds_markdown_and_html_images_with_their_lines() {
        let text = "Q: What is this?\nA: ![a cell](cell.png){width=300} and ![](media/x%20y.png)\n\
                    E: <IMG alt='b' SRC=\"media/b.jpg\"> <img src=c.gif>\nM: ![x](<media/my image (1).png> \"t\")";
        assert_eq!(
            targets(text),
            vec![
                (2, "cell.png".into(), media("cell.png")),
                (2, "media/x%20y.png".into(), media("x y.png")),
                (3, "media/b.jpg".into(), media("b.jpg")),
                (3, "c.gif".into(), media("c.gif")),
                (4, "media/my image (1).png".into(), media("my image (1).png")),
            ]
        );
    }

    #[test]
    fn a_short_tag_before_a_non_ascii_letter_is_not_an_image() {
        // `<u>Ü`: byte 4 falls inside `Ü`; the scan must not slice there (it panicked).
        assert!(targets("A: <u>Übung</u> and <i>é</i><b>日本</b>").is_empty());
        assert_eq!(targets("<u>Ü</u><img src=\"ä.png\">").len(), 1);
    }

    #[test]
    fn code_is_not_an_image() {
        let text = "A: `![x](../a.png)` and ``![y](`b.png`)``\n```md\n![z](../../etc/passwd)\n```\n~~~\n<img src=\"/x\">\n~~~\n![ok](ok.png)";
        assert_eq!(targets(text), vec![(8, "ok.png".into(), media("ok.png"))]);
    }

    #[test]
    fn web_images_are_left_alone_and_empty_ones_skipped() {
        let text = "![](https://e.com/a.png) ![](HTTP://e.com/b.png) ![](data:image/png;base64,AAAA) ![](<>) ![]()";
        assert_eq!(references(text).iter().map(|r| &r.target).collect::<Vec<_>>(), vec![&Target::External; 3]);
    }

    #[test]
    fn references_that_leave_media_are_refused() {
        let refused = [
            "../../etc/passwd",
            "media/../secret.png",
            "/etc/passwd",
            "file:///etc/passwd",
            "FILE:x.png",
            "C:\\Users\\x.png",
            "..\\x.png",
            "sub/x.png",
            "media/sub/x.png",
            "%2e%2e/x.png",
            "..%2Fx.png",
            ".hidden.png",
            "..",
            "ftp://host/x.png",
            "x%00.png",
        ];
        for raw in refused {
            for syntax in [Syntax::Markdown, Syntax::Html] {
                assert!(matches!(classify(raw, syntax), Target::Refused(_)), "{raw} ({syntax:?}) was accepted");
            }
        }
        assert_eq!(classify("a\\_b.png", Syntax::Markdown), media("a_b.png"));
        assert_eq!(classify("_font.woff", Syntax::Html), media("_font.woff"));
        let text = "Q: x\nA: ![p](../../etc/passwd)";
        let r = &references(text)[0];
        assert_eq!(r.line, 2);
        assert_eq!(
            r.refusal().unwrap(),
            "image \"../../etc/passwd\" points outside media/: keep images in media/ and refer to them by name"
        );
    }

    #[test]
    fn names_from_anki_never_leave_media() {
        let dir = Path::new("/c/media");
        assert_eq!(media_path(dir, "a b.png"), Some(dir.join("a b.png")));
        for bad in ["../x", "a/b", "a\\b", ".x", "x\0y", "", "..", "/etc/passwd"] {
            assert_eq!(media_path(dir, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashed_names_replace_an_earlier_hash() {
        let h = "3f2a19c0aa0000000000000000000000000000ff";
        assert_eq!(hashed_name("photo.png", h), "photo-3f2a19c0.png");
        assert_eq!(hashed_name("photo-0123abcd.png", h), "photo-3f2a19c0.png");
        assert_eq!(hashed_name("my-photo.tar.gz", h), "my-photo.tar-3f2a19c0.gz");
        assert_eq!(hashed_name("README", h), "README-3f2a19c0");
        assert_eq!(hashed_name("-0123abcd.png", h), "-0123abcd-3f2a19c0.png");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn rewriting_keeps_each_reference_style() {
        let text = "A: ![a](cell.png){width=300} ![b](media/cell.png) ![c](<media/cell.png>)\n\
                    E: <img src=\"cell.png\"> `![d](cell.png)` ![e](other.png)";
        let (out, n) = rewrite(text, "cell.png", "cell-1234abcd.png");
        assert_eq!(n, 4);
        assert_eq!(
            out,
            "A: ![a](cell-1234abcd.png){width=300} ![b](media/cell-1234abcd.png) ![c](<media/cell-1234abcd.png>)\n\
             E: <img src=\"cell-1234abcd.png\"> `![d](cell.png)` ![e](other.png)"
        );
        let (out, _) = rewrite("![x](my%20cell.png) <img src='my cell.png'>", "my cell.png", "my cell-1.png");
        assert_eq!(out, "![x](<my cell-1.png>) <img src='my cell-1.png'>");
        // New names are escaped as each syntax needs, and an unquoted src gets quotes.
        let (out, n) = rewrite("![](media/x.png) <img src=x.png> <img src=\"x.png\">", "x.png", "a&b \"1\" 100%20.png");
        assert_eq!(n, 3);
        assert_eq!(
            out,
            "![](<media/a&b \"1\" 100%2520.png>) <img src=\"a&amp;b &quot;1&quot; 100%20.png\"> <img src=\"a&amp;b &quot;1&quot; 100%20.png\">"
        );
        let olds = BTreeSet::from(["na\u{ef}ve.png".to_string(), "nai\u{308}ve.png".to_string()]);
        let (out, n) = rewrite_names("![](na\u{ef}ve.png) ![](nai\u{308}ve.png)", &olds, "na\u{ef}ve.png");
        assert_eq!((out.as_str(), n), ("![](na\u{ef}ve.png) ![](na\u{ef}ve.png)", 2));
    }

    #[test]
    fn an_img_src_is_the_name_as_anki_stores_it() {
        assert_eq!(targets("<img src=\"a&amp;b.png\">")[0].2, media("a&b.png"));
        assert_eq!(targets("<img src='a&#38;b&#x26;c.png'>")[0].2, media("a&b&c.png"));
        assert_eq!(classify("my%20cell.png", Syntax::Html), media("my%20cell.png"));
        assert_eq!(classify("my%20cell.png", Syntax::Markdown), media("my cell.png"));
        assert_eq!(classify("media/100%2520.png", Syntax::Markdown), media("100%20.png"));
        let text = "<img src=\"say &quot;hi&quot; &amp; go.png\">";
        assert_eq!(targets(text), vec![(1, "say \"hi\" & go.png".into(), media("say \"hi\" & go.png"))]);
    }

    #[test]
    fn media_names_survive_markdown_html_markdown() {
        use ankiops_markdown::convert::{html_to_markdown, markdown_to_html};
        let names = [
            "my image (1).png",
            "screenshot a.svg",
            "na\u{ef}ve.png",
            "a&b.png",
            "a%20b.png",
            "x&amp;.png",
            "say \"hi\".png",
            "b(c.png",
            "100%.png",
        ];
        for name in names {
            let md = format!("![]({})", media_destination(&format!("media/{name}")));
            assert_eq!(targets(&md), vec![(1, targets(&md)[0].1.clone(), media(name))], "{md}");
            let html = markdown_to_html(&md);
            let src = format!("src=\"{}\"", html_escape(name).replace("&#39;", "'"));
            assert!(html.contains(&src), "{name}: {html} lacks {src}");
            assert_eq!(html_to_markdown(&html), md, "{name}");
        }
    }

    #[test]
    fn names_as_anki_stores_them() {
        // Measured with Anki 26.9.3: `storeMediaFile` asked for the left name stores the right one.
        let measured = [
            ("Screenshot A.svg", "screenshot a.svg"),
            ("my image (1).png", "my image (1).png"),
            ("nai\u{308}ve.png", "na\u{ef}ve.png"),
            ("a&b.png", "a&b.png"),
            ("a%20b.png", "a%20b.png"),
            ("caps.PNG", "caps.png"),
            ("Q?.png", "q.png"),
            ("a[b].png", "ab.png"),
            ("x'y\".png", "x'y.png"),
            ("x<y>.png", "xy.png"),
            ("tab\t.png", "tab.png"),
            ("x\u{7f}.png", "x.png"),
            ("a\u{a0}b.png", "a b.png"),
            ("\u{c4}\u{d6}\u{dc} \u{1e9e} \u{df}.png", "\u{e4}\u{f6}\u{fc} \u{df} \u{df}.png"),
            ("\u{3a3}\u{391}\u{3a3}.png", "\u{3c3}\u{3b1}\u{3c3}.png"),
            ("\u{212a}.png", "k.png"),
            ("\u{fb01}.png", "\u{fb01}.png"),
            ("con.png", "con_.png"),
            ("COM1.png", "com1_.png"),
            ("nul.tar.gz", "nul_.tar.gz"),
            ("lpt9", "lpt9_"),
            ("console.png", "console.png"),
            ("trail .png", "trail .png"),
            ("trail.png.", "trail.png._"),
            ("c. ", "c. _"),
            ("a{b}~!@$%=,;.png", "a{b}~!@$%=,;.png"),
            ("_Font.woff", "_font.woff"),
        ];
        for (asked, stored) in measured {
            assert_eq!(anki_name(asked), stored, "{asked:?}");
            assert_eq!(anki_name(stored), stored, "{stored:?} is kept as it is");
        }
        // A content-hashed name is one Anki keeps.
        assert_eq!(anki_name(&hashed_name("Cell.PNG", "3f2a19c0aa")), "cell-3f2a19c0.png");
    }
}
