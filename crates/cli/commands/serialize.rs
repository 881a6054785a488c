//! `ankiops serialize`: the whole collection as one JSON document (docs/serialize.md), or a zip with its media.
//!
//! The format types live here and `deserialize` reads them back; both sides share [`confined_path`], the one
//! rule for which relative paths may be written inside a collection folder.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};

use ankiops_markdown::deck::{NoteBlock, deck_key};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{CliError, EXIT_OK, Result};
use crate::note_types::DECLARATION_FILE;
use crate::{models, store};

/// Write the whole collection as one JSON document: decks, notes (fields as Markdown), custom note types.
///
/// The output goes to stdout unless -o names a file. With --include-media it is a zip holding
/// `collection.json` and the files of media/. The format is described in docs/serialize.md;
/// `ankiops deserialize` turns it back into a collection folder. Anki is not contacted.
///
/// Example: ankiops serialize -o backup.json
///
/// Example, to share: ankiops serialize --no-ids --include-media -o share.zip
#[derive(Debug, clap::Args)]
pub struct SerializeArgs {
    /// Where to write it; `-` is stdout [default: stdout]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Leave out deck and note ids (to share the collection: the receiver's Anki gives new ones)
    #[arg(long)]
    pub no_ids: bool,
    /// Write a zip with collection.json and the files of media/ instead of plain JSON
    #[arg(long)]
    pub include_media: bool,
}

/// The `format` value every serialized collection carries.
pub const FORMAT: &str = "ankiops-collection";
/// The format version written; readers refuse other versions.
pub const VERSION: u32 = 1;
/// The JSON document's name inside a zip.
pub const ZIP_JSON: &str = "collection.json";
/// The media folder of a collection, and the prefix of media entries in a zip.
pub const MEDIA_DIR: &str = "media";
/// The folder of custom note types in a collection.
pub const NOTE_TYPES_DIR: &str = "note_types";

/// A whole collection. Field order here is the order in the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionJson {
    pub format: String,
    pub version: u32,
    /// Sorted by deck name.
    pub decks: Vec<DeckJson>,
    /// The custom note types of `note_types/`, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note_types: Vec<NoteTypeJson>,
    /// Files of `note_types/` outside any type folder (e.g. `_shared/colours.css`), by path relative to it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub note_type_shared_files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckJson {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deck_id: Option<i64>,
    /// In file order.
    pub notes: Vec<NoteJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<i64>,
    pub note_type: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Anki field name -> Markdown, in the note type's field order, only the fields the note has.
    #[serde(with = "ordered_fields")]
    pub fields: IndexMap<String, String>,
}

/// A JSON object as an [`IndexMap`], keeping its order (indexmap's own serde support is not enabled here).
mod ordered_fields {
    use std::fmt;

    use indexmap::IndexMap;
    use serde::de::{Error, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(map: &IndexMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(map)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = IndexMap<String, String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of field names to Markdown text")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = IndexMap::new();
                while let Some((name, text)) = access.next_entry::<String, String>()? {
                    if map.contains_key(&name) {
                        return Err(A::Error::custom(format!("the field {name:?} is given twice")));
                    }
                    map.insert(name, text);
                }
                Ok(map)
            }
        }
        d.deserialize_map(Fields)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteTypeJson {
    /// The folder name, which is the note type's name in Anki.
    pub name: String,
    /// The content of its `note_type.json`.
    pub declaration: serde_json::Value,
    /// Every other file of the folder (templates, CSS), by path relative to the folder.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl CollectionJson {
    pub fn note_count(&self) -> usize {
        self.decks.iter().map(|d| d.notes.len()).sum()
    }

    /// The pretty-printed document with a final newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a collection always serializes");
        text.push('\n');
        text
    }
}

pub fn cmd_serialize(ctx: &Context, args: &SerializeArgs) -> Result<i32> {
    ctx.require_initialized()?;
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    if args.include_media && to_stdout && std::io::stdout().is_terminal() {
        return Err(CliError::input("refusing to write a zip to the terminal")
            .hint("name the file with -o, e.g. `ankiops serialize --include-media -o collection.zip`"));
    }
    let collection = read_collection(&ctx.root, args.no_ids)?;
    let media = if args.include_media { read_media(&ctx.root)? } else { BTreeMap::new() };
    let bytes = if args.include_media { zip_bytes(&collection, &media)? } else { collection.to_text().into_bytes() };

    let summary = format!(
        "{} deck(s), {} note(s), {} custom note type(s){}",
        collection.decks.len(),
        collection.note_count(),
        collection.note_types.len(),
        if args.include_media { format!(", {} media file(s)", media.len()) } else { String::new() }
    );
    match args.output.as_deref().filter(|_| !to_stdout) {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes).and_then(|()| stdout.flush())?;
            if !ctx.args.quiet && !ctx.args.json {
                eprintln!("serialized {summary}");
            }
        }
        Some(path) => {
            store::write_atomic(path, &bytes)?;
            if ctx.args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "output": path,
                        "decks": collection.decks.len(),
                        "notes": collection.note_count(),
                        "note_types": collection.note_types.len(),
                        "media": media.len(),
                    })
                );
            } else if !ctx.args.quiet {
                eprintln!("serialized {summary} to {}", path.display());
            }
        }
    }
    Ok(EXIT_OK)
}

/// Reads the collection at `root` into the serialized form. Deck files that do not parse and notes with
/// unresolved conflicts stop it: serializing them would lose what they hold.
pub fn read_collection(root: &Path, no_ids: bool) -> Result<CollectionJson> {
    let defs = models::definitions(root)?;
    let registry = models::registry_of(&defs);
    let loaded = store::load(root, &registry)?;
    if !loaded.errors.is_empty() {
        let mut err = CliError::input(format!(
            "cannot serialize: {} problem(s) in the deck files:\n  {}",
            loaded.errors.len(),
            loaded.errors.join("\n  ")
        ));
        err = err.hint("fix the deck files, then serialize again");
        return Err(err);
    }
    let mut conflicts = Vec::new();
    let mut decks = Vec::new();
    for source in &loaded.decks {
        let display = source.path.strip_prefix(root).unwrap_or(&source.path).display().to_string();
        let mut notes = Vec::new();
        for note in &source.file.notes {
            if note.has_conflicts() {
                conflicts.push(format!("{display}:{}", note.line));
                continue;
            }
            notes.push(note_json(note, no_ids));
        }
        decks.push(DeckJson { name: source.deck.clone(), deck_id: source.file.deck_id.filter(|_| !no_ids), notes });
    }
    if !conflicts.is_empty() {
        return Err(CliError::input(format!(
            "cannot serialize: {} note(s) hold unresolved conflict markers: {}",
            conflicts.len(),
            conflicts.join(", ")
        ))
        .hint("resolve the conflicts (keep one side, remove the markers), then serialize again"));
    }
    decks.sort_by(|a, b| deck_key(&a.name).cmp(&deck_key(&b.name)).then_with(|| a.name.cmp(&b.name)));
    let (note_types, note_type_shared_files) = read_note_types(&root.join(NOTE_TYPES_DIR))?;
    Ok(CollectionJson { format: FORMAT.to_owned(), version: VERSION, decks, note_types, note_type_shared_files })
}

fn note_json(note: &NoteBlock, no_ids: bool) -> NoteJson {
    let mut tags = note.tags.clone();
    tags.sort();
    tags.dedup();
    NoteJson {
        note_id: note.note_id.filter(|_| !no_ids),
        note_type: note.note_type.clone(),
        tags,
        fields: note.fields.clone(),
    }
}

/// The custom note types (folders not starting with `.` or `_`) and the other files of `note_types/`.
fn read_note_types(dir: &Path) -> Result<(Vec<NoteTypeJson>, BTreeMap<String, String>)> {
    let mut types = Vec::new();
    let mut shared = BTreeMap::new();
    if !dir.is_dir() {
        return Ok((types, shared));
    }
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = utf8_name(&path)?;
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() && !name.starts_with('_') {
            let mut files = BTreeMap::new();
            collect_text_files(&path, "", &mut files)?;
            let declaration_text = files.remove(DECLARATION_FILE).unwrap_or_default();
            let declaration_path = path.join(DECLARATION_FILE);
            let declaration = serde_json::from_str(&declaration_text).map_err(|e| {
                CliError::input(format!("{}:{}:{}: {e}", declaration_path.display(), e.line(), e.column()))
                    .hint("fix the declaration, see docs/note-types.md")
            })?;
            types.push(NoteTypeJson { name, declaration, files });
        } else if kind.is_dir() {
            collect_text_files(&path, &format!("{name}/"), &mut shared)?;
        } else {
            collect_text_files(&path, "", &mut shared)?;
        }
    }
    Ok((types, shared))
}

/// Adds the text files at `path` (one file, or a folder walked recursively, skipping names starting with
/// `.`) to `out`, keyed by `prefix` + their path relative to `path` with `/` separators.
fn collect_text_files(path: &Path, prefix: &str, out: &mut BTreeMap<String, String>) -> Result<()> {
    walk_files(path, prefix, &mut |key, file| {
        let bytes = fs_err::read(file)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::input(format!("{} is not UTF-8 text: note types hold only text files", file.display()))
                .hint("save it as UTF-8, or move it out of note_types/")
        })?;
        out.insert(key, text);
        Ok(())
    })
}

/// The files of `media/`, keyed by their path relative to it with `/` separators.
pub fn read_media(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut media = BTreeMap::new();
    let dir = root.join(MEDIA_DIR);
    if dir.is_dir() {
        walk_files(&dir, "", &mut |key, file| {
            media.insert(key, fs_err::read(file)?);
            Ok(())
        })?;
    }
    Ok(media)
}

/// Calls `visit(key, path)` for every regular file at `path` (itself, or below it when it is a folder).
/// Names starting with `.` are skipped; a symbolic link is an error, so nothing outside the collection is read.
fn walk_files(path: &Path, prefix: &str, visit: &mut dyn FnMut(String, &Path) -> Result<()>) -> Result<()> {
    let kind = fs_err::symlink_metadata(path)?.file_type();
    if kind.is_symlink() {
        return Err(CliError::input(format!(
            "{} is a symbolic link: serialize copies only regular files and folders",
            path.display()
        ))
        .hint("replace the link with the file it points to"));
    }
    if kind.is_file() {
        let key = if prefix.is_empty() { utf8_name(path)? } else { prefix.trim_end_matches('/').to_owned() };
        return visit(key, path);
    }
    let mut entries: Vec<_> = fs_err::read_dir(path)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let child = entry.path();
        let name = utf8_name(&child)?;
        if name.starts_with('.') {
            continue;
        }
        walk_files(&child, &format!("{prefix}{name}/"), visit)?;
    }
    Ok(())
}

fn utf8_name(path: &Path) -> Result<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned).ok_or_else(|| {
        CliError::input(format!("{}: the name is not valid UTF-8", path.display()))
            .hint("rename it: serialized collections name their files in UTF-8")
    })
}

/// The zip of `--include-media`: `collection.json`, then `media/<path>` for each media file. Every entry has
/// the same fixed time stamp (1980-01-01), so the same collection gives the same bytes.
fn zip_bytes(collection: &CollectionJson, media: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>> {
    let zip_err = |e: zip::result::ZipError| CliError::input(format!("cannot write the zip: {e}"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(ZIP_JSON, options).map_err(zip_err)?;
    zip.write_all(collection.to_text().as_bytes())?;
    for (name, bytes) in media {
        zip.start_file(format!("{MEDIA_DIR}/{name}"), options).map_err(zip_err)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

/// The path a `/`-separated relative `name` (a zip entry or a file key in the JSON) stands for inside a
/// folder, or why it would land outside it: absolute paths, drive letters, `..`, and backslashes (a folder
/// separator on Windows) are refused.
pub fn confined_path(name: &str) -> std::result::Result<PathBuf, &'static str> {
    if name.contains('\\') {
        return Err("it holds a backslash, which Windows reads as a folder separator");
    }
    if name.contains('\0') {
        return Err("it holds a NUL character");
    }
    if name.starts_with('/') {
        return Err("it is an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err("it starts with a drive letter");
    }
    let mut out = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("it climbs out of the folder with `..`"),
            part => {
                // A last check with the platform's own rules (e.g. `C:` prefixes on Windows).
                let mut components = Path::new(part).components();
                match (components.next(), components.next()) {
                    (Some(Component::Normal(_)), None) => out.push(part),
                    _ => return Err("it is not a plain relative path"),
                }
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("it names no file");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn confined_path_accepts_plain_relative_paths() {
        assert_eq!(confined_path("media/a.png").unwrap(), Path::new("media").join("a.png"));
        assert_eq!(confined_path("./media//b.png").unwrap(), Path::new("media").join("b.png"));
    }

    #[test]
    fn confined_path_refuses_escapes() {
        for (name, why) in [
            ("../evil", "`..`"),
            ("media/../../evil", "`..`"),
            ("/etc/passwd", "absolute"),
            ("C:/Windows/x", "drive letter"),
            ("media\\..\\evil", "backslash"),
            ("", "names no file"),
            ("./", "names no file"),
        ] {
            let err = confined_path(name).unwrap_err();
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }

    #[test]
    fn reads_decks_sorted_with_and_without_ids() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "ankiops.json", "{}");
        write(root, "Zoo.md", "<!-- deck_id: 7 -->\n<!-- note_id: 11 -->\n<!-- tags: b a -->\nQ: one?\nA: **yes**\n");
        write(root, "Bio__Cells.md", "Q: two?\nA: no\n\n---\n\nT: {{c1::three}}\n");
        let json = read_collection(root, false).unwrap();
        let names: Vec<&str> = json.decks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["Bio::Cells", "Zoo"]);
        let zoo = &json.decks[1];
        assert_eq!(zoo.deck_id, Some(7));
        assert_eq!(zoo.notes[0].note_id, Some(11));
        assert_eq!(zoo.notes[0].tags, ["a", "b"]);
        assert_eq!(zoo.notes[0].fields["Answer"], "**yes**");
        assert_eq!(json.decks[0].notes[1].note_type, "AnkiOpsCloze");

        let anonymous = read_collection(root, true).unwrap();
        assert!(anonymous.decks.iter().all(|d| d.deck_id.is_none()));
        assert!(!anonymous.to_text().contains("_id"), "{}", anonymous.to_text());
    }

    #[test]
    fn refuses_deck_files_with_errors_or_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "ankiops.json", "{}");
        write(root, "Bad.md", "Q: only a question\n");
        let err = read_collection(root, false).unwrap_err();
        assert!(err.message.contains("Bad.md:1:"), "{}", err.message);

        fs_err::remove_file(root.join("Bad.md")).unwrap();
        write(
            root,
            "Torn.md",
            "Q: q\n<<<<<<< markdown\nA: mine\n||||||| base\nA: old\n=======\nA: theirs\n>>>>>>> anki\n",
        );
        match read_collection(root, false) {
            Err(err) => assert!(err.message.contains("Torn.md:1"), "{}", err.message),
            Ok(json) => panic!("conflict markers were serialized: {}", json.to_text()),
        }
    }

    #[test]
    fn reads_custom_note_types_and_shared_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "ankiops.json", "{}");
        write(
            root,
            "note_types/Vocab/note_type.json",
            r#"{"fields": [{"name": "Word", "prefix": "W:", "required": true}],
                "templates": [{"name": "Card 1", "front": "front.html", "back": "back.html"}],
                "css": ["../_shared/c.css"]}"#,
        );
        write(root, "note_types/Vocab/front.html", "{{Word}}");
        write(root, "note_types/Vocab/back.html", "{{FrontSide}}<hr>{{Word}}");
        write(root, "note_types/_shared/c.css", ".card {}");
        write(root, "Words.md", "W: hello\n");
        let json = read_collection(root, false).unwrap();
        assert_eq!(json.note_types.len(), 1);
        let vocab = &json.note_types[0];
        assert_eq!(vocab.name, "Vocab");
        assert_eq!(vocab.declaration["fields"][0]["prefix"], "W:");
        assert_eq!(vocab.files.keys().collect::<Vec<_>>(), ["back.html", "front.html"]);
        assert_eq!(json.note_type_shared_files["_shared/c.css"], ".card {}");
        assert_eq!(json.decks[0].notes[0].note_type, "Vocab");
    }

    #[test]
    fn the_zip_is_the_same_for_the_same_collection() {
        let json = CollectionJson {
            format: FORMAT.into(),
            version: VERSION,
            decks: Vec::new(),
            note_types: Vec::new(),
            note_type_shared_files: BTreeMap::new(),
        };
        let media = BTreeMap::from([("a.png".to_owned(), vec![1, 2, 3])]);
        let first = zip_bytes(&json, &media).unwrap();
        assert_eq!(first, zip_bytes(&json, &media).unwrap());
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
        let names: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert_eq!(names, ["collection.json", "media/a.png"]);
        assert!(archive.by_index(1).unwrap().is_file());
    }
}
