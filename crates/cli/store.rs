//! The collection folder on disk: finding and parsing deck files, and writing files atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{self, DeckFile};
use ankiops_sync::{NoteId, NoteRef};

use crate::error::Result;

/// Markdown files at the root that are never deck files.
const NOT_DECKS: &[&str] = &[
    "README",
    "CHANGELOG",
    "CODE_OF_CONDUCT",
    "CONTRIBUTING",
    "FUNDING",
    "LICENSE",
    "SECURITY",
    "SUPPORT",
    "AGENTS",
    "CLAUDE",
];

/// Writes `bytes` to `path` through a temporary file in the same folder, fsynced, then renamed over `path`
/// (and the folder fsynced on unix, so the rename itself survives a power cut): a crash or a kill at any moment
/// leaves either the old file or the new one. The temporary name holds the pid, so two processes never share
/// one; `.gitignore` (init) ignores `.*.ankiops-tmp`, and a failed write removes its temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.ankiops-tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = fs_err::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs_err::remove_file(&tmp);
        return Err(e.into());
    }
    #[cfg(unix)]
    match fs_err::File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot fsync a folder; the rename is done all the same.
        Err(e) if !matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => {
            return Err(e.into());
        }
        _ => {}
    }
    Ok(())
}

/// Whether the file at `path` no longer holds `original`, the text it was read with (`""`: it did not exist):
/// the user saved it while the run was going, so it must not be replaced.
pub fn changed_since_read(path: &Path, original: &str) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => bytes != original.as_bytes(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => !original.is_empty(),
        Err(_) => true,
    }
}

/// One parsed deck file.
#[derive(Debug, Clone)]
pub struct DeckSource {
    pub path: PathBuf,
    /// The deck name the file name stands for.
    pub deck: String,
    pub file: DeckFile,
    /// The text as read, to rewrite the file only when it changes.
    pub original: String,
}

/// Every deck file of a collection, with the errors of those that could not be read.
#[derive(Debug, Default)]
pub struct Collection {
    pub decks: Vec<DeckSource>,
    /// `file:line:column: message`, every error of every file.
    pub errors: Vec<String>,
    /// Decks whose file has errors: their notes are left out of the run on every side.
    pub broken: BTreeSet<String>,
    /// Files that hold note ids but were not read as deck files (they do not parse, sit in a subfolder, are
    /// symbolic links): their notes are protected, never deleted, moved or removed by this run.
    pub held: Vec<Held>,
    /// A file that might be a deck file could not be opened at all: its ids are unknown, so every note missing
    /// from the Markdown is protected.
    pub unreadable: bool,
}

/// A file whose note ids hold their notes back.
#[derive(Debug, Clone)]
pub struct Held {
    pub path: PathBuf,
    pub ids: Vec<i64>,
    /// Why it was not read, and what to do, for the summary.
    pub why: &'static str,
}

/// Every `note_id: N` written in `bytes`, found without parsing (the file may be broken, or not UTF-8).
pub fn scan_note_ids(bytes: &[u8]) -> Vec<i64> {
    const KEY: &[u8] = b"note_id:";
    let mut ids = Vec::new();
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(KEY.len()).position(|w| w == KEY) {
        let mut j = i + at + KEY.len();
        while bytes.get(j).is_some_and(|b| *b == b' ' || *b == b'\t') {
            j += 1;
        }
        let start = j;
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if let Some(id) = std::str::from_utf8(&bytes[start..j]).ok().and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
        i = j.max(i + at + 1);
    }
    ids
}

/// Folders under the collection that are never searched for stray deck files.
const NOT_SCANNED: &[&str] = &["media", "note_types", "node_modules", "target"];

/// Markdown files below the top of the collection folder, and symbolic links at the top: not read as deck
/// files, but searched for note ids, so a deck file moved into a subfolder does not look deleted.
fn stray_markdown(root: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if name.starts_with('.') {
                continue;
            }
            if kind.is_dir() {
                if depth < 8 && !(depth == 0 && NOT_SCANNED.contains(&name.as_str())) {
                    stack.push((path, depth + 1));
                }
            } else if name.ends_with(".md") {
                if kind.is_symlink() {
                    out.push((
                        path,
                        "is a symbolic link, which ankiops does not follow: replace it with the file itself to sync it",
                    ));
                } else if depth > 0 && kind.is_file() {
                    out.push((
                        path,
                        "is in a subfolder, where ankiops reads no deck files: move it to the top of the collection folder to sync it",
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

/// Where a Markdown note sits: its deck file (an index into [`Collection::decks`]) and its index among that
/// file's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub deck: usize,
    pub note: usize,
}

/// Where every Markdown note of a run sits, by the plan's name for it ([`NoteRef`]).
#[derive(Debug, Default)]
pub struct Locations {
    by_id: BTreeMap<NoteId, Location>,
    /// Notes without an id, in the order of `Input::new_in_markdown`.
    new: Vec<Location>,
}

impl Locations {
    pub fn get(&self, note: NoteRef) -> Option<Location> {
        match note {
            NoteRef::Existing(id) => self.by_id.get(&id).copied(),
            NoteRef::New(i) => self.new.get(i).copied(),
        }
    }

    pub fn insert(&mut self, id: NoteId, at: Location) {
        self.by_id.insert(id, at);
    }

    pub fn remove(&mut self, id: NoteId) -> Option<Location> {
        self.by_id.remove(&id)
    }

    /// The next new note (`NoteRef::New(len)`) sits at `at`.
    pub fn push_new(&mut self, at: Location) {
        self.new.push(at);
    }

    pub fn iter(&self) -> impl Iterator<Item = (NoteRef, Location)> + '_ {
        let existing = self.by_id.iter().map(|(id, at)| (NoteRef::Existing(*id), *at));
        existing.chain(self.new.iter().enumerate().map(|(i, at)| (NoteRef::New(i), *at)))
    }
}

impl Collection {
    /// `file:line` of the note at `at`, the file relative to `root`, for messages.
    pub fn place(&self, at: Location, root: &Path) -> String {
        let source = &self.decks[at.deck];
        let line = source.file.notes.get(at.note).map_or(0, |note| note.line);
        format!("{}:{line}", source.path.strip_prefix(root).unwrap_or(&source.path).display())
    }

    /// The deck file for `deck`, by Anki's case-insensitive deck identity.
    pub fn deck_index(&self, deck: &str) -> Option<usize> {
        let key = deck::deck_key(deck);
        self.decks.iter().position(|d| deck::deck_key(&d.deck) == key)
    }
}

/// The deck files at the root of the collection folder, sorted by name.
pub fn deck_paths(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(stem) = name.strip_suffix(".md") else { continue };
        if NOT_DECKS.contains(&stem.to_ascii_uppercase().as_str()) || name.starts_with('.') {
            continue;
        }
        if let Some(deck) = deck::file_name_to_deck(name) {
            out.push((path, deck));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and parses every deck file. Files that fail to parse are reported, not loaded; two files for one deck
/// (names differing only in case) and a note id used in two files are errors too.
pub fn load(root: &Path, registry: &Registry) -> Result<Collection> {
    let mut collection = Collection::default();
    let mut keys: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, deck_name) in deck_paths(root)? {
        let display = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        let key = deck::deck_key(&deck_name);
        if let Some(other) = keys.get(&key) {
            collection.errors.push(format!(
                "{display}:1:1: this file and {} are the same Anki deck (deck names ignore case); merge them into one file",
                other.strip_prefix(root).unwrap_or(other).display()
            ));
            collection.broken.insert(deck_name.clone());
            match std::fs::read(&path) {
                Ok(bytes) => {
                    collection.hold(path, &bytes, "names the same deck as another file: merge them and run again")
                }
                Err(_) => collection.unreadable = true,
            }
            continue;
        }
        keys.insert(key, path.clone());
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                collection.errors.push(format!(
                    "{display}:1:1: cannot be read ({e}); no note is deleted while it cannot be read: fix its permissions and run again"
                ));
                collection.broken.insert(deck_name);
                collection.unreadable = true;
                continue;
            }
        };
        match deck::parse_deck_bytes(&bytes, registry) {
            Ok(file) => {
                let original = String::from_utf8(bytes).unwrap_or_default();
                collection.decks.push(DeckSource { path, deck: deck_name, file, original });
            }
            Err(errors) => {
                collection.errors.extend(errors.iter().map(|e| format!("{display}:{e}")));
                collection.broken.insert(deck_name);
                collection.hold(path, &bytes, "does not parse: fix the errors above and run again");
            }
        }
    }
    for (path, why) in stray_markdown(root) {
        match std::fs::read(&path) {
            Ok(bytes) => collection.hold(path, &bytes, why),
            Err(_) => collection.unreadable = true,
        }
    }
    // A note id in two files: neither file can be trusted to say where the note lives.
    let mut seen: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    let mut duplicated = BTreeSet::new();
    for (d, source) in collection.decks.iter().enumerate() {
        for note in &source.file.notes {
            if let Some(id) = note.note_id {
                if let Some((other, other_line)) = seen.get(&id) {
                    if *other != d {
                        let here = source.path.strip_prefix(root).unwrap_or(&source.path).display().to_string();
                        let there = &collection.decks[*other].path;
                        collection.errors.push(format!(
                            "{here}:{}:1: note_id {id} is also used in {}:{other_line}; keep it on one note and remove it from the copy (a note without an id is added as a new note)",
                            note.line,
                            there.strip_prefix(root).unwrap_or(there).display()
                        ));
                        duplicated.insert(d);
                        duplicated.insert(*other);
                    }
                } else {
                    seen.insert(id, (d, note.line));
                }
            }
        }
    }
    for d in duplicated.into_iter().rev() {
        let source = collection.decks.remove(d);
        collection.broken.insert(source.deck);
        let bytes = source.original.into_bytes();
        collection.hold(
            source.path,
            &bytes,
            "shares a note_id with another file: keep each id in one file and run again",
        );
    }
    Ok(collection)
}

impl Collection {
    fn hold(&mut self, path: PathBuf, bytes: &[u8], why: &'static str) {
        let ids = scan_note_ids(bytes);
        if !ids.is_empty() {
            self.held.push(Held { path, ids, why });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scan_note_ids;

    #[test]
    fn note_ids_are_found_without_parsing() {
        let text = b"<!-- deck_id: 5 -->\n<!-- note_id: 17 -->\nQ: a\n\xff\xfe<!-- note_id:18 -->\nnote_id: x\n<!--note_id:\t19-->";
        assert_eq!(scan_note_ids(text), vec![17, 18, 19]);
        assert!(scan_note_ids(b"deck_id: 5, no notes").is_empty());
        assert_eq!(
            scan_note_ids(b"note_id: 99999999999999999999999 note_id: 3"),
            vec![3],
            "an overflowing id is skipped"
        );
    }
}
