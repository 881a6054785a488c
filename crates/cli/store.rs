//! The collection folder on disk: finding and parsing deck files, and writing files atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{self, DeckFile};

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

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.ankiops-tmp"));
    {
        let mut file = fs_err::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs_err::rename(&tmp, path)?;
    Ok(())
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
}

impl Collection {
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
            continue;
        }
        keys.insert(key, path.clone());
        let bytes = fs_err::read(&path)?;
        match deck::parse_deck_bytes(&bytes, registry) {
            Ok(file) => {
                let original = String::from_utf8(bytes).unwrap_or_default();
                collection.decks.push(DeckSource { path, deck: deck_name, file, original });
            }
            Err(errors) => {
                collection.errors.extend(errors.iter().map(|e| format!("{display}:{e}")));
                collection.broken.insert(deck_name);
            }
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
    }
    Ok(collection)
}
