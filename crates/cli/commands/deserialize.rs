//! `ankiops deserialize`: a serialized collection (JSON or zip) back into a collection folder, without Anki.
//!
//! Everything is written into a staging folder next to the target first and read back there with the same code
//! a run uses; only a collection that reads back cleanly is moved into place. A zip is checked entry by entry
//! before anything is written: a name that would land outside the folder refuses the whole archive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckFile, NoteBlock, deck_key, deck_to_file_name, file_name_to_deck};
use serde_json::Value;

use super::serialize::{CollectionJson, FORMAT, MEDIA_DIR, NOTE_TYPES_DIR, NoteJson, VERSION, ZIP_JSON, confined_path};
use crate::context::GlobalArgs;
use crate::error::{CliError, EXIT_INCOMPLETE, EXIT_OK, Result};
use crate::note_types::DECLARATION_FILE;
use crate::settings::{CONFIG_FILE, Settings};
use crate::{models, store};

/// Turn a collection written by `ankiops serialize` (JSON, or a zip with media) back into a collection folder.
///
/// It writes the deck files, note_types/, media/ (from a zip) and ankiops.json into a new or empty folder.
/// With --overwrite it writes into a folder that is not empty, replacing files of the same name; other files
/// stay, and an existing ankiops.json is kept. A zip entry that would land outside the folder (an absolute
/// path, `..`, a symbolic link) refuses the whole archive, and nothing is written.
/// Anki is not touched: run `ankiops init` in the folder, then `ankiops ma` to create the notes.
///
/// Example: ankiops deserialize share.zip -d ~/anki/shared
#[derive(Debug, clap::Args)]
pub struct DeserializeArgs {
    /// The serialized collection (.json or .zip); `-` reads stdin
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The folder to write the collection into [default: --dir, else a new folder named after FILE]
    #[arg(short = 'd', long = "dest", value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// Write into a folder that is not empty, replacing files of the same name
    #[arg(long)]
    pub overwrite: bool,
}

/// What a serialized file holds: the JSON text and, from a zip, the media files by path inside `media/`.
struct Package {
    json: String,
    /// Where the JSON came from, for messages: `share.json`, or `share.zip:collection.json`.
    json_name: String,
    media: Vec<(PathBuf, Vec<u8>)>,
    /// Zip entries that are neither the JSON nor media, left out.
    skipped: Vec<String>,
}

pub fn cmd_deserialize(global: &GlobalArgs, args: &DeserializeArgs) -> Result<i32> {
    let from_stdin = args.file == Path::new("-");
    let shown = if from_stdin { "stdin".to_owned() } else { args.file.display().to_string() };
    let bytes = if from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes)?;
        bytes
    } else {
        fs_err::read(&args.file)?
    };
    let package = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_zip(&bytes, &shown)?
    } else {
        let json = String::from_utf8(bytes).map_err(|_| {
            CliError::input(format!("{shown} is neither a zip nor UTF-8 JSON"))
                .hint("pass a file written by `ankiops serialize`")
        })?;
        Package { json, json_name: shown.clone(), media: Vec::new(), skipped: Vec::new() }
    };
    let collection = parse_collection(&package.json, &package.json_name)?;
    let problems = check(&collection);
    if !problems.is_empty() {
        return Err(CliError::input(format!(
            "cannot deserialize {}: {} problem(s), nothing was written:\n  - {}",
            package.json_name,
            problems.len(),
            problems.join("\n  - ")
        ))
        .hint("fix the file, or serialize the collection again"));
    }

    let dest = target(global, args)?;
    check_target(&dest, args.overwrite)?;
    // Over an existing collection, wait for any run on it to end (lock.rs); a new folder has no run to wait for.
    let _lock = if dest.join(CONFIG_FILE).is_file() {
        Some(crate::lock::acquire(&dest, "deserialize", global.quiet)?)
    } else {
        None
    };
    let staging = staging_dir(&dest)?;
    let warnings = match stage(&collection, &package.media, &staging) {
        Ok(warnings) => warnings,
        Err(err) => {
            let _ = fs_err::remove_dir_all(&staging);
            return Err(rename_staging(err, &staging, &package.json_name));
        }
    };
    let installed = install(&staging, &dest);
    let _ = fs_err::remove_dir_all(&staging);
    installed?;

    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "dir": dest,
                "decks": collection.decks.len(),
                "notes": collection.note_count(),
                "note_types": collection.note_types.len(),
                "media": package.media.len(),
                "skipped": package.skipped,
                "warnings": warnings,
            })
        );
    } else {
        for name in &package.skipped {
            eprintln!("warning: skipped the zip entry {name:?}: it is neither {ZIP_JSON} nor under {MEDIA_DIR}/");
        }
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        if !global.quiet {
            eprintln!(
                "wrote {} deck(s), {} note(s), {} custom note type(s), {} media file(s) to {}",
                collection.decks.len(),
                collection.note_count(),
                collection.note_types.len(),
                package.media.len(),
                dest.display()
            );
            eprintln!(
                "next: run `ankiops init` in {} (records your Anki profile), then `ankiops ma` to create the notes in Anki",
                dest.display()
            );
        }
    }
    Ok(if warnings.is_empty() { EXIT_OK } else { EXIT_INCOMPLETE })
}

/// Checks every entry of the zip before anything is written: each must stay inside the target folder.
fn read_zip(bytes: &[u8], shown: &str) -> Result<Package> {
    let unreadable = |e: zip::result::ZipError| {
        CliError::input(format!("{shown}: not a readable zip: {e}")).hint("pass a file written by `ankiops serialize`")
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unreadable)?;
    let mut refused = Vec::new();
    let mut json = None;
    let mut media = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(unreadable)?;
        let name = entry.name().map_err(unreadable)?.into_owned();
        let path = match confined_path(&name) {
            Ok(path) => path,
            Err(why) => {
                refused.push(format!("{name:?}: {why}"));
                continue;
            }
        };
        if entry.is_symlink() {
            refused.push(format!("{name:?}: it is a symbolic link, which could point outside the folder"));
            continue;
        }
        // The zip crate's own check, as a second line of defence.
        if entry.enclosed_name().is_none() {
            refused.push(format!("{name:?}: it would land outside the folder"));
            continue;
        }
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| CliError::input(format!("{shown}: zip entry {name:?}: {e}")))?;
        if path == Path::new(ZIP_JSON) {
            json = Some(String::from_utf8(data).map_err(|_| {
                CliError::input(format!("{shown}: {ZIP_JSON} is not UTF-8"))
                    .hint("pass a file written by `ankiops serialize`")
            })?);
        } else if let Ok(rel) = path.strip_prefix(MEDIA_DIR)
            && !rel.as_os_str().is_empty()
        {
            media.push((rel.to_path_buf(), data));
        } else {
            skipped.push(name);
        }
    }
    if !refused.is_empty() {
        return Err(CliError::input(format!(
            "{shown}: refusing {} zip entr{} that would land outside the target folder; nothing was written:\n  - {}",
            refused.len(),
            if refused.len() == 1 { "y" } else { "ies" },
            refused.join("\n  - ")
        ))
        .hint("this zip was not written by `ankiops serialize`, or was changed since: do not unpack it"));
    }
    let Some(json) = json else {
        return Err(CliError::input(format!("{shown}: the zip holds no {ZIP_JSON}"))
            .hint("pass a zip written by `ankiops serialize --include-media`"));
    };
    Ok(Package { json, json_name: format!("{shown}:{ZIP_JSON}"), media, skipped })
}

/// Parses the JSON, checking the format and version first so an old or foreign file gets a clear message.
fn parse_collection(text: &str, shown: &str) -> Result<CollectionJson> {
    let not_json = |e: serde_json::Error| {
        CliError::input(format!("{shown}:{}:{}: {e}", e.line(), e.column()))
            .hint("pass a file written by `ankiops serialize`, see docs/serialize.md")
    };
    let value: Value = serde_json::from_str(text).map_err(not_json)?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(CliError::input(format!(
            "{shown} is not a serialized ankiops collection (no \"format\": \"{FORMAT}\")"
        ))
        .hint("make one with `ankiops serialize`, see docs/serialize.md"));
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(CliError::input(format!(
                "{shown} has format version {v}, and this ankiops reads version {VERSION}"
            ))
            .hint("use the ankiops release that wrote it, or serialize the collection again with this one"));
        }
        None => {
            return Err(CliError::input(format!("{shown} has no format \"version\" number")).hint("add \"version\": 1"));
        }
    }
    serde_json::from_str(text).map_err(not_json)
}

/// Every problem the JSON alone shows, so they are all reported at once. What only reading the written deck
/// files can tell (fields a note type lacks, a cloze without deletions) is checked in [`stage`].
fn check(collection: &CollectionJson) -> Vec<String> {
    let mut problems = Vec::new();
    let builtin = Registry::builtin();
    let mut type_names = BTreeSet::new();
    for t in &collection.note_types {
        let plain = confined_path(&t.name).is_ok_and(|p| p.components().count() == 1);
        if !plain || t.name.starts_with(['.', '_']) {
            problems.push(format!(
                "note type {:?}: the name must be a plain folder name not starting with `.` or `_`",
                t.name
            ));
        } else if !type_names.insert(t.name.clone()) {
            problems.push(format!("note type {:?} is given twice", t.name));
        }
        if !t.declaration.is_object() {
            problems.push(format!("note type {:?}: `declaration` must be a JSON object", t.name));
        }
        for file in t.files.keys() {
            if file == DECLARATION_FILE {
                problems.push(format!(
                    "note type {:?}: {DECLARATION_FILE} belongs in `declaration`, not in `files`",
                    t.name
                ));
            } else if let Err(why) = confined_path(file) {
                problems.push(format!("note type {:?}: file {file:?}: {why}", t.name));
            }
        }
    }
    for file in collection.note_type_shared_files.keys() {
        match confined_path(file) {
            Err(why) => problems.push(format!("note_type_shared_files {file:?}: {why}")),
            Ok(path) => {
                let first = path.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
                if first.is_some_and(|f| type_names.contains(&f)) {
                    problems.push(format!(
                        "note_type_shared_files {file:?}: it is inside the folder of a note type; list it in that type's `files`"
                    ));
                }
            }
        }
    }

    let mut decks: BTreeMap<String, &str> = BTreeMap::new();
    let mut deck_ids = BTreeMap::new();
    let mut note_ids: BTreeMap<i64, String> = BTreeMap::new();
    for deck in &collection.decks {
        let name = deck.name.as_str();
        if file_name_to_deck(&deck_to_file_name(name)).as_deref() != Some(name) {
            problems.push(format!(
                "deck {name:?}: not a deck name ankiops can give a file (empty, or parts around `::` empty or with spaces at the ends)"
            ));
        }
        if let Some(other) = decks.insert(deck_key(name), name) {
            problems.push(format!("decks {other:?} and {name:?} are the same Anki deck (deck names ignore case)"));
        }
        if let Some(id) = deck.deck_id
            && let Some(other) = deck_ids.insert(id, name)
        {
            problems.push(format!("deck_id {id} is given to both {other:?} and {name:?}"));
        }
        for (i, note) in deck.notes.iter().enumerate() {
            let at = format!("deck {name:?}, note {}", i + 1);
            if builtin.get(&note.note_type).is_none() && !type_names.contains(&note.note_type) {
                problems.push(format!(
                    "{at}: unknown note type {:?}: add it to `note_types`, or use a built-in type",
                    note.note_type
                ));
            }
            if note.fields.is_empty() {
                problems.push(format!("{at}: no fields"));
            }
            if let Some(id) = note.note_id
                && let Some(other) = note_ids.insert(id, at.clone())
            {
                problems.push(format!("note_id {id} is given to both {other} and {at}"));
            }
        }
    }
    problems
}

/// The folder to write into: `-d`, else `--dir`, else a folder named after FILE in the current one.
fn target(global: &GlobalArgs, args: &DeserializeArgs) -> Result<PathBuf> {
    if let Some(dest) = args.dest.clone().or_else(|| global.dir.clone()) {
        return Ok(dest);
    }
    let stem = if args.file == Path::new("-") {
        "collection".to_owned()
    } else {
        args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "collection".to_owned())
    };
    Ok(PathBuf::from(stem))
}

fn check_target(dest: &Path, overwrite: bool) -> Result<()> {
    if !dest.exists() {
        return Ok(());
    }
    if !dest.is_dir() {
        return Err(CliError::input(format!("{} exists and is not a folder", dest.display()))
            .hint("choose the folder to write the collection into with -d DIR"));
    }
    if !overwrite && fs_err::read_dir(dest)?.next().is_some() {
        return Err(CliError::input(format!(
            "{} is not empty; deserialize writes a new collection and changes nothing in it",
            dest.display()
        ))
        .hint(
            "choose a new or empty folder with -d DIR, or pass --overwrite to replace files of the same name there",
        ));
    }
    Ok(())
}

/// A fresh folder next to `dest` (same file system, so its files can be renamed into place).
fn staging_dir(dest: &Path) -> Result<PathBuf> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "collection".to_owned());
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&parent)?;
    let staging = parent.join(format!(".{name}.{}.ankiops-tmp", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir(&staging)?;
    Ok(staging)
}

/// Errors from reading the staged collection name files inside the staging folder: name them as in the
/// target folder instead.
fn rename_staging(mut err: CliError, staging: &Path, json_name: &str) -> CliError {
    let prefix = format!("{}{}", staging.display(), std::path::MAIN_SEPARATOR);
    err.message = format!("cannot deserialize {json_name}, nothing was written: {}", err.message.replace(&prefix, ""));
    err
}

/// Writes the collection into `staging` and reads it back as a run would. Returns warnings for notes that
/// read back differently from the JSON.
fn stage(collection: &CollectionJson, media: &[(PathBuf, Vec<u8>)], staging: &Path) -> Result<Vec<String>> {
    let note_types = staging.join(NOTE_TYPES_DIR);
    for t in &collection.note_types {
        let folder = note_types.join(&t.name);
        let mut declaration = serde_json::to_string_pretty(&t.declaration).expect("a JSON value always serializes");
        declaration.push('\n');
        write_new(&folder.join(DECLARATION_FILE), declaration.as_bytes())?;
        for (file, text) in &t.files {
            write_new(&folder.join(confined(file)?), text.as_bytes())?;
        }
    }
    for (file, text) in &collection.note_type_shared_files {
        write_new(&note_types.join(confined(file)?), text.as_bytes())?;
    }
    let defs = models::definitions(staging)?;
    let registry = models::registry_of(&defs);

    for deck in &collection.decks {
        let mut file = DeckFile::new(deck.deck_id);
        for note in &deck.notes {
            file.push_note(note_block(note));
        }
        write_new(&staging.join(deck_to_file_name(&deck.name)), file.to_text(&registry).as_bytes())?;
    }
    let loaded = store::load(staging, &registry)?;
    if !loaded.errors.is_empty() {
        return Err(CliError::input(format!("the deck files would not read back:\n  {}", loaded.errors.join("\n  ")))
            .hint("fix the notes in the JSON (fields of the note type, required fields, cloze deletions)"));
    }
    let mut warnings = Vec::new();
    for deck in &collection.decks {
        let Some(index) = loaded.deck_index(&deck.name) else { continue };
        let read = &loaded.decks[index].file.notes;
        for (i, (json, back)) in deck.notes.iter().zip(read).enumerate() {
            if !same_note(&note_block(json), back) {
                warnings.push(format!(
                    "deck {:?}, note {}: the deck file reads back differently from the JSON; check it in {}",
                    deck.name,
                    i + 1,
                    deck_to_file_name(&deck.name)
                ));
            }
        }
    }

    for (rel, bytes) in media {
        write_new(&staging.join(MEDIA_DIR).join(rel), bytes)?;
    }
    Settings::default().save(staging)?;
    Ok(warnings)
}

fn confined(file: &str) -> Result<PathBuf> {
    confined_path(file).map_err(|why| CliError::input(format!("{file:?}: {why}")))
}

fn note_block(note: &NoteJson) -> NoteBlock {
    let mut tags = note.tags.clone();
    tags.sort();
    tags.dedup();
    NoteBlock {
        note_id: note.note_id,
        note_type: note.note_type.clone(),
        tags,
        fields: note.fields.clone(),
        ..NoteBlock::default()
    }
}

/// Equal up to the trimming a deck file does to field text.
fn same_note(a: &NoteBlock, b: &NoteBlock) -> bool {
    let fields = |n: &NoteBlock| -> BTreeMap<String, String> {
        n.fields.iter().map(|(k, v)| (k.clone(), v.trim().to_owned())).collect()
    };
    a.note_id == b.note_id && a.note_type == b.note_type && a.tags == b.tags && fields(a) == fields(b)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    store::write_atomic(path, bytes)
}

/// Moves the staged collection into `dest`: one rename if `dest` does not exist, else file by file (keeping an
/// existing ankiops.json), never writing through a symbolic link already in `dest`.
fn install(staging: &Path, dest: &Path) -> Result<()> {
    if !dest.exists() {
        fs_err::rename(staging, dest)?;
        return Ok(());
    }
    let mut files = Vec::new();
    staged_files(staging, Path::new(""), &mut files)?;
    for rel in files {
        let target = dest.join(&rel);
        if rel == Path::new(CONFIG_FILE) && target.exists() {
            continue;
        }
        let mut at = dest.to_path_buf();
        for component in rel.parent().into_iter().flat_map(Path::components) {
            at.push(component);
            if fs_err::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(CliError::input(format!(
                    "{} is a symbolic link: deserialize never writes through one",
                    at.display()
                ))
                .hint("remove the link, or deserialize into a new folder with -d DIR"));
            }
        }
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if target.is_dir() {
            return Err(CliError::input(format!(
                "{} is a folder, and the collection has a file there",
                target.display()
            ))
            .hint("move the folder away, or deserialize into a new folder with -d DIR"));
        }
        fs_err::rename(staging.join(&rel), &target)?;
    }
    Ok(())
}

fn staged_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs_err::read_dir(root.join(rel))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            staged_files(root, &child, out)?;
        } else {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::serialize::read_collection;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    fn json(text: &str) -> CollectionJson {
        parse_collection(text, "x.json").unwrap()
    }

    #[test]
    fn parse_names_the_format_and_version_problems() {
        let err = parse_collection(r#"{"decks": []}"#, "x.json").unwrap_err();
        assert!(err.message.contains("not a serialized ankiops collection"), "{}", err.message);
        let err =
            parse_collection(r#"{"format": "ankiops-collection", "version": 9, "decks": []}"#, "x.json").unwrap_err();
        assert!(err.message.contains("format version 9"), "{}", err.message);
        let err = parse_collection(r#"{"format": "ankiops-collection", "version": 1, "decks": [], "x": 1}"#, "x.json")
            .unwrap_err();
        assert!(err.message.starts_with("x.json:1:"), "{}", err.message);
    }

    #[test]
    fn check_collects_every_problem() {
        let collection = json(
            r#"{"format": "ankiops-collection", "version": 1,
                "decks": [
                  {"name": "A", "deck_id": 1, "notes": [
                    {"note_id": 5, "note_type": "AnkiOpsQA", "fields": {"Question": "q", "Answer": "a"}},
                    {"note_id": 5, "note_type": "Nope", "fields": {"X": "x"}}]},
                  {"name": "a", "deck_id": 1, "notes": []}],
                "note_types": [{"name": "../up", "declaration": {}, "files": {"/etc/x": ""}}],
                "note_type_shared_files": {"../../y": ""}}"#,
        );
        let problems = check(&collection).join("\n");
        for expected in [
            "unknown note type \"Nope\"",
            "note_id 5 is given to both",
            "decks \"A\" and \"a\" are the same Anki deck",
            "deck_id 1 is given to both",
            "note type \"../up\": the name must be a plain folder name",
            "file \"/etc/x\": it is an absolute path",
            "note_type_shared_files \"../../y\": it climbs out",
        ] {
            assert!(problems.contains(expected), "missing {expected:?} in:\n{problems}");
        }
    }

    #[test]
    fn round_trip_through_a_folder_gives_the_same_json() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        write(&source, "ankiops.json", "{}");
        write(
            &source,
            "Bio__Cells.md",
            "<!-- deck_id: 3 -->\n<!-- note_id: 4 -->\nQ: What?\nA: `code`\n\n---\n\nT: {{c1::x}}\n",
        );
        write(&source, "Empty.md", "<!-- deck_id: 9 -->\n");
        let original = read_collection(&source, false).unwrap();

        let staging = dir.path().join("staging");
        fs_err::create_dir(&staging).unwrap();
        assert!(stage(&original, &[], &staging).unwrap().is_empty());
        let dest = dir.path().join("dest");
        install(&staging, &dest).unwrap();
        assert_eq!(read_collection(&dest, false).unwrap().to_text(), original.to_text());
        assert!(dest.join(CONFIG_FILE).is_file());
    }

    #[test]
    fn stage_reports_notes_that_do_not_fit_their_type() {
        let collection = json(
            r#"{"format": "ankiops-collection", "version": 1, "decks": [{"name": "A", "notes": [
                 {"note_type": "AnkiOpsQA", "fields": {"Question": "q", "Text": "t"}}]}]}"#,
        );
        let dir = tempfile::tempdir().unwrap();
        let err = stage(&collection, &[], dir.path()).unwrap_err();
        assert!(err.message.contains("A.md:"), "{}", err.message);
    }

    #[test]
    fn install_keeps_an_existing_config_and_refuses_symlinked_folders() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        write(&staging, "ankiops.json", "{}\n");
        write(&staging, "media/a.png", "new");
        let dest = dir.path().join("dest");
        write(&dest, "ankiops.json", "{\"profile\": \"mine\"}\n");
        install(&staging, &dest).unwrap();
        assert_eq!(fs_err::read_to_string(dest.join("ankiops.json")).unwrap(), "{\"profile\": \"mine\"}\n");
        assert_eq!(fs_err::read_to_string(dest.join("media/a.png")).unwrap(), "new");

        #[cfg(unix)]
        {
            let outside = dir.path().join("outside");
            fs_err::create_dir(&outside).unwrap();
            let linked = dir.path().join("linked");
            write(&linked, "x.md", "");
            std::os::unix::fs::symlink(&outside, linked.join("media")).unwrap();
            write(&staging, "media/b.png", "b");
            let err = install(&staging, &linked).unwrap_err();
            assert!(err.message.contains("symbolic link"), "{}", err.message);
            assert!(fs_err::read_dir(&outside).unwrap().next().is_none());
        }
    }
}
