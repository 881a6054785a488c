//! `ankiops merge-file`: Git's merge driver for deck files (docs/collaborate.md): three versions in, the
//! note-by-note merge of `ankiops_markdown::deck::merge_deck` written over ours, Git's own line merge for a
//! version that does not parse. Needs neither Anki nor the collection's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

use ankiops_markdown::Registry;
use ankiops_markdown::deck::{DeckError, DeckFile, MergeLabels, merge_deck, parse_deck_bytes};

use crate::context::GlobalArgs;
use crate::error::{CliError, EXIT_INCOMPLETE, EXIT_OK, Result};
use crate::settings::CONFIG_FILE;

/// Merge three versions of a deck file note by note: the merge driver Git runs for deck files.
///
/// Notes are matched by note_id and merged field by field and tag by tag, so edits to different fields of
/// one note, and notes added on both sides, merge cleanly. A field changed differently on both sides gets the
/// conflict markers `ankiops sync` writes, labelled with the branch names; a note deleted on one side and edited
/// on the other is kept between markers. The next `ankiops sync` or `status` reports such a note as unresolved
/// and never sends it to Anki. The result is written over OURS; the exit status is 0 for a clean merge and 1
/// for conflicts, as Git expects. A version that does not parse is merged line by line by `git merge-file`
/// instead, with a message naming the file and the line of the error; so are Markdown files that are not deck
/// files (in a subfolder, README.md).
///
/// `ankiops init` and `ankiops git-setup` register it; Git runs it as
/// `ankiops merge-file %O %A %B --path %P --base-label %S --ours-label %X --theirs-label %Y`.
///
/// Example: ankiops merge-file base.md ours.md theirs.md --path Bio.md
#[derive(Debug, clap::Args)]
pub struct MergeFileArgs {
    /// The common ancestor's version (Git's %O; empty when the file was added on both sides)
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// Our version, replaced by the merged file (Git's %A)
    #[arg(value_name = "OURS")]
    pub ours: PathBuf,
    /// Their version (Git's %B)
    #[arg(value_name = "THEIRS")]
    pub theirs: PathBuf,
    /// The file's path in the work tree (Git's %P): named in messages; its folder is the collection whose note
    /// types the deck files use [default: --dir, else the current folder]
    #[arg(long, value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// The label of our side's conflict markers (Git's %X)
    #[arg(long, value_name = "LABEL")]
    pub ours_label: Option<String>,
    /// The label of the base's conflict markers (Git's %S)
    #[arg(long, value_name = "LABEL")]
    pub base_label: Option<String>,
    /// The label of their side's conflict markers (Git's %Y)
    #[arg(long, value_name = "LABEL")]
    pub theirs_label: Option<String>,
}

pub fn cmd_merge_file(global: &GlobalArgs, args: &MergeFileArgs) -> Result<i32> {
    let shown = args.path.clone().unwrap_or_else(|| args.ours.clone()).display().to_string();
    // Git older than 2.44 passes `%S`, `%X` and `%Y` through as they are.
    let label = |given: &Option<String>, placeholder: &str, default: &'static str| -> String {
        match given {
            Some(l) if !l.is_empty() && l != placeholder => l.clone(),
            _ => default.to_owned(),
        }
    };
    let ours_label = label(&args.ours_label, "%X", "ours");
    let base_label = label(&args.base_label, "%S", "base");
    let theirs_label = label(&args.theirs_label, "%Y", "theirs");
    let labels = MergeLabels { ours: &ours_label, base: &base_label, theirs: &theirs_label };

    let collection = match &args.path {
        Some(path) => match deck_collection(path) {
            Some(root) => root,
            None => return line_merge(args, labels, &shown),
        },
        None => global.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
    };
    let registry = registry(&collection, &shown, global.quiet);

    let read = |path: &Path| fs_err::read(path).map_err(CliError::from);
    let versions = [("ours", &args.ours), ("base", &args.base), ("theirs", &args.theirs)];
    let mut parsed: Vec<DeckFile> = Vec::with_capacity(3);
    for (side, path) in versions {
        let bytes = read(path)?;
        match parse_deck_bytes(&bytes, &registry) {
            Ok(file) => parsed.push(file),
            Err(errors) => {
                let name = match side {
                    "ours" => format!("our version ({ours_label})"),
                    "theirs" => format!("their version ({theirs_label})"),
                    _ => format!("the common ancestor ({base_label})"),
                };
                eprintln!("{}", parse_failure(&shown, &name, &errors));
                return line_merge(args, labels, &shown);
            }
        }
    }
    let [ours, base, theirs] = <[DeckFile; 3]>::try_from(parsed).expect("three versions were parsed");
    let merged = merge_deck(&base, &ours, &theirs, &registry, labels);
    crate::store::write_atomic(&args.ours, merged.text.as_bytes())?;
    if merged.conflicts.is_empty() {
        return Ok(EXIT_OK);
    }
    for c in &merged.conflicts {
        let note = c.note_id.map_or_else(|| "a new note".to_owned(), |id| format!("note {id}"));
        eprintln!("ankiops merge-file: {shown}:{}: {note}: {}", c.line, c.kind);
    }
    let n = merged.conflicts.len();
    eprintln!(
        "ankiops merge-file: {shown}: {n} conflict{} left for you; `ankiops status` lists what is unresolved, and no conflicted note reaches Anki until its markers are gone",
        if n == 1 { "" } else { "s" }
    );
    Ok(EXIT_INCOMPLETE)
}

/// The collection folder whose deck file `path` is (the folder holding it has `ankiops.json`), or `None` when it
/// is some other Markdown file: in a subfolder, or a README beside the decks.
fn deck_collection(path: &Path) -> Option<PathBuf> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.join(CONFIG_FILE).is_file() {
        return None;
    }
    let name = path.file_name()?;
    if path.is_file() {
        // What a run reads as a deck file, by the same rule.
        let decks = crate::store::deck_paths(&folder).ok()?;
        return decks.iter().any(|(p, _)| p.file_name() == Some(name)).then_some(folder);
    }
    let name = name.to_str()?;
    (name.ends_with(".md") && !name.starts_with('.') && ankiops_markdown::deck::file_name_to_deck(name).is_some())
        .then_some(folder)
}

/// The note types of the collection at `root`; the built-in ones when its `note_types/` does not load (a deck
/// file using a custom type then does not parse, and is merged line by line).
fn registry(root: &Path, shown: &str, quiet: bool) -> Registry {
    match crate::models::definitions(root) {
        Ok(defs) => crate::models::registry_of(&defs),
        Err(e) => {
            if !quiet {
                eprintln!(
                    "ankiops merge-file: {shown}: note_types/ does not load ({}); merging with the built-in note types",
                    e.message
                );
            }
            Registry::builtin()
        }
    }
}

/// The message for a version that does not parse: the file, which version, the first error and how many more.
fn parse_failure(shown: &str, version: &str, errors: &[DeckError]) -> String {
    let first = errors.first().map_or_else(String::new, |e| format!(" at {shown}:{e}"));
    let more = match errors.len() {
        0 | 1 => String::new(),
        2 => " (and 1 more error)".to_owned(),
        n => format!(" (and {} more errors)", n - 1),
    };
    format!(
        "ankiops merge-file: {version} of {shown} does not parse{first}{more}; merged line by line with `git merge-file` instead: resolve any conflict markers it left so that the file parses again, then check with `ankiops status`"
    )
}

/// Git's own line merge (`git merge-file`), writing into OURS: 0 when clean, 1 with conflicts.
fn line_merge(args: &MergeFileArgs, labels: MergeLabels<'_>, shown: &str) -> Result<i32> {
    let status = Command::new("git")
        .arg("merge-file")
        .args(["-L", labels.ours, "-L", labels.base, "-L", labels.theirs])
        .arg(&args.ours)
        .arg(&args.base)
        .arg(&args.theirs)
        .status()
        .map_err(|e| {
            CliError::input(format!("cannot run `git merge-file` to merge {shown} line by line: {e}"))
                .hint("install Git, or merge the file by hand")
        })?;
    match status.code() {
        Some(0) => Ok(EXIT_OK),
        Some(1..=127) => Ok(EXIT_INCOMPLETE),
        _ => Err(CliError::input(format!("`git merge-file` could not merge {shown} ({status})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_failure_names_the_file_the_version_and_the_line() {
        let errors = [
            DeckError { line: 3, column: 1, message: "unknown field label 'X:'".into() },
            DeckError { line: 9, column: 1, message: "other".into() },
        ];
        let message = parse_failure("cards/Bio.md", "their version (feature)", &errors);
        assert!(
            message.starts_with(
                "ankiops merge-file: their version (feature) of cards/Bio.md does not parse at cards/Bio.md:3:1: unknown field label 'X:' (and 1 more error); merged line by line"
            ),
            "{message}"
        );
    }

    #[test]
    fn only_deck_files_of_a_collection_are_merged_note_by_note() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(deck_collection(&root.join("Bio.md")), None, "no ankiops.json");
        fs_err::write(root.join(CONFIG_FILE), "{}").unwrap();
        fs_err::write(root.join("Bio.md"), "Q: q\nA: a\n").unwrap();
        fs_err::write(root.join("README.md"), "# about").unwrap();
        fs_err::create_dir(root.join("notes")).unwrap();
        assert_eq!(deck_collection(&root.join("Bio.md")), Some(root.to_path_buf()));
        assert_eq!(deck_collection(&root.join("New.md")), Some(root.to_path_buf()), "added by the merge");
        assert_eq!(deck_collection(&root.join("README.md")), None);
        assert_eq!(deck_collection(&root.join("notes/todo.md")), None);
        assert_eq!(deck_collection(&root.join("picture.png")), None);
    }
}
