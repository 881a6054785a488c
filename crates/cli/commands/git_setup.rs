//! `ankiops git-setup`: register `ankiops merge-file` as Git's merge driver for the collection's deck files
//! (docs/collaborate.md); `init` does the same for a new collection.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::error::{EXIT_OK, Result};
use crate::git::{MERGE_DRIVER, Repo};

/// Let Git merge this collection's deck files note by note, with `ankiops merge-file` as its merge driver.
///
/// Writes `*.md merge=ankiops` into the collection's .gitattributes (once; other lines are kept), and
/// `merge.ankiops.name` and `merge.ankiops.driver` into the config of its Git repository. That config is not
/// part of a clone, so run this once in every clone; commit .gitattributes so that collaborators have it.
/// `ankiops init` does both for a new collection. Running it again changes nothing.
///
/// The driver runs `ankiops` from your PATH when the `ankiops` found there is this program, so an upgrade keeps
/// working; otherwise it records this program's absolute path (run git-setup again if you move it).
///
/// Example: ankiops git-setup
#[derive(Debug, clap::Args)]
pub struct GitSetupArgs {}

/// The line `.gitattributes` holds for the deck files.
pub const ATTRIBUTES_LINE: &str = "*.md merge=ankiops";

pub fn cmd_git_setup(ctx: &Context, _args: &GitSetupArgs) -> Result<i32> {
    ctx.require_initialized()?;
    let repo = Repo::open(&ctx.root)?;
    let mut said = Vec::new();
    if write_gitattributes(&ctx.root)? {
        said.push(format!(
            "wrote `{ATTRIBUTES_LINE}` into .gitattributes; commit it so that every clone merges deck files note by note"
        ));
    }
    let command = driver_command();
    if repo.set_merge_driver(&command)? {
        said.push(format!("registered the merge driver in the repository's config: {command}"));
    }
    if said.is_empty() {
        said.push(format!("already set up: deck files merge with `{command}`"));
    }
    if ctx.args.json {
        println!("{}", serde_json::json!({"root": ctx.root, "driver": command, "done": said}));
    } else if !ctx.args.quiet {
        for line in &said {
            eprintln!("{line}");
        }
    }
    Ok(EXIT_OK)
}

/// Adds [`ATTRIBUTES_LINE`] to the collection's `.gitattributes` (made if missing) unless it is there already.
/// Returns whether the file changed.
pub fn write_gitattributes(root: &Path) -> Result<bool> {
    let path = root.join(".gitattributes");
    let old = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    if old.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["*.md", &format!("merge={MERGE_DRIVER}")]) {
        return Ok(false);
    }
    let eol = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let mut text = old;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(eol);
    }
    text.push_str(&format!(
        "# ankiops: Git merges deck files note by note (docs/collaborate.md){eol}{ATTRIBUTES_LINE}{eol}"
    ));
    crate::store::write_atomic(&path, text.as_bytes())?;
    Ok(true)
}

/// The command line Git runs to merge a deck file: `ankiops` when that is this program on PATH, else this
/// program's absolute path (quoted for the shell Git runs it with).
pub fn driver_command() -> String {
    let me = std::env::current_exe().ok();
    let program = match (&me, on_path("ankiops")) {
        (Some(me), Some(found)) if same_file(me, &found) => "ankiops".to_owned(),
        (Some(me), _) => shell_quote(&me.to_string_lossy()),
        (None, _) => "ankiops".to_owned(),
    };
    format!("{program} merge-file %O %A %B --path %P --base-label %S --ours-label %X --theirs-label %Y")
}

/// The first `name` (with `.exe` on Windows) in a folder of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(&file)).find(|p| p.is_file())
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((fs_err::canonicalize(a), fs_err::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// `s` as one word for `sh`: bare if it is made of safe characters, else in single quotes.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitattributes_get_the_line_once_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitattributes");
        fs_err::write(&path, "*.png binary").unwrap();
        assert!(write_gitattributes(dir.path()).unwrap());
        let once = fs_err::read_to_string(&path).unwrap();
        assert!(once.starts_with("*.png binary\n# ankiops:"), "{once}");
        assert!(once.ends_with("\n*.md merge=ankiops\n"), "{once}");
        assert!(!write_gitattributes(dir.path()).unwrap());
        assert_eq!(fs_err::read_to_string(&path).unwrap(), once);
        // Spelled with other spacing, the line is recognised too.
        fs_err::write(&path, "*.md   merge=ankiops\r\n").unwrap();
        assert!(!write_gitattributes(dir.path()).unwrap());
    }

    #[test]
    fn the_driver_names_every_placeholder_and_quotes_the_program() {
        let command = driver_command();
        assert!(command.ends_with(" merge-file %O %A %B --path %P --base-label %S --ours-label %X --theirs-label %Y"));
        assert_eq!(shell_quote("/usr/local/bin/ankiops"), "/usr/local/bin/ankiops");
        assert_eq!(shell_quote("/home/a b/it's/ankiops"), r"'/home/a b/it'\''s/ankiops'");
    }
}
