//! `ankiops init`: make a folder an ankiops collection, completely or not at all.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::git_setup;
use crate::context::{Context, GlobalArgs};
use crate::error::{CliError, EXIT_OK, Result};
use crate::git::Repo;
use crate::lock::{self, STATE_DIR};
use crate::settings::{CONFIG_FILE, Settings};

/// Make the current folder (or --dir) a collection: ankiops.json, .gitignore, a Git repository if there is
/// none, and the Anki profile the collection belongs to.
///
/// It also makes Git merge deck files note by note (as `ankiops git-setup` does): `*.md merge=ankiops` in
/// .gitattributes and the `ankiops merge-file` driver in the repository's config (see docs/collaborate.md).
///
/// Re-running it never overwrites your edits: existing files are kept and only missing pieces are added.
/// It checks Anki before it creates anything, and if it fails part-way it removes what it created, so the
/// folder is either a collection or as it was. Changing the recorded profile of a collection needs --force.
///
/// Example: ankiops init --tutorial
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Also write a tutorial deck that shows every note type, math, code, a table and an image
    #[arg(long)]
    pub tutorial: bool,
    /// The Anki profile this collection belongs to [default: the profile open in Anki]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Do not commit the Markdown before and after runs (the setting `auto_commit`)
    #[arg(long)]
    pub no_auto_commit: bool,
    /// Record --profile even though the collection already belongs to another profile
    #[arg(long, requires = "profile")]
    pub force: bool,
}

const GITIGNORE: &str = "# ankiops: temporary files of interrupted writes, and its private state (the run lock)\n.*.ankiops-tmp\n/.ankiops/\n";
const TUTORIAL_NAME: &str = "ankiops Tutorial.md";
const TUTORIAL: &str = include_str!("../../../collection/ankiops Tutorial.md");
const TUTORIAL_IMAGE: &[u8] = include_bytes!("../../../collection/media/ankiops-diagram.svg");

pub fn cmd_init(global: GlobalArgs, args: &InitArgs) -> Result<i32> {
    let root = match &global.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|e| CliError::input(format!("cannot read the current folder: {e}")))?,
    };
    let mut created = Created::default();
    let result = init(global, args, &root, &mut created);
    if let Err(err) = result {
        return Err(created.undo(err));
    }
    result
}

fn init(mut global: GlobalArgs, args: &InitArgs, root: &Path, created: &mut Created) -> Result<i32> {
    // Everything that can fail without touching the folder comes first: its settings, then Anki.
    if root.exists() && !root.is_dir() {
        return Err(CliError::input(format!("{} is not a folder", root.display()))
            .hint("pass a folder (new or existing) with --dir"));
    }
    let config = root.join(CONFIG_FILE);
    let initialized = config.is_file();
    let recorded = if initialized { Settings::load(root)? } else { Settings::default() };
    global.dir = Some(root.to_path_buf());
    let ctx = Context { args: global, root: root.to_path_buf(), settings: recorded.clone() };
    let mut said = Vec::new();
    let mut settings = recorded.clone();
    settings.profile = choose_profile(&ctx, args, initialized, &mut said)?;
    if args.no_auto_commit {
        settings.auto_commit = false;
    }

    // From here on every file and folder made is recorded in `created`, and removed again if a later step fails.
    if !root.exists() {
        created.dir(topmost_missing(root));
        fs_err::create_dir_all(root)?;
    }
    if !root.join(STATE_DIR).exists() {
        created.dir(root.join(STATE_DIR));
    }
    let _lock = lock::acquire(root, "init", ctx.args.quiet)?;

    let (repo, repo_created) = Repo::open_or_init(root)?;
    if repo_created {
        created.dir(root.join(".git"));
        said.push("created a Git repository".to_string());
    }
    let gitignore = root.join(".gitignore");
    if !gitignore.exists() {
        created.file(gitignore.clone());
        crate::store::write_atomic(&gitignore, GITIGNORE.as_bytes())?;
        said.push("wrote .gitignore".to_string());
    }
    // Git merges deck files note by note (commands/git_setup.rs); a repository that was there gets its config back
    // if init fails.
    let attributes = root.join(".gitattributes");
    match fs_err::read(&attributes) {
        Ok(bytes) => created.restore(attributes, bytes),
        Err(_) => created.file(attributes),
    }
    if git_setup::write_gitattributes(root)? {
        said.push(format!("wrote `{}` into .gitattributes", git_setup::ATTRIBUTES_LINE));
    }
    if !repo_created && let Ok(bytes) = fs_err::read(repo.config_file()) {
        created.restore(repo.config_file(), bytes);
    }
    if repo.set_merge_driver(&git_setup::driver_command())? {
        said.push("registered `ankiops merge-file` as Git's merge driver for deck files".to_string());
    }
    if !initialized || settings != recorded {
        if initialized {
            created.restore(config.clone(), fs_err::read(&config)?);
        } else {
            created.file(config.clone());
        }
        settings.save(root)?;
        said.push(format!("wrote {CONFIG_FILE}"));
    }
    if let Some(profile) = &settings.profile {
        said.push(format!("collection belongs to the Anki profile '{profile}'"));
    }

    if args.tutorial {
        let path = root.join(TUTORIAL_NAME);
        if path.exists() {
            said.push(format!("kept your {TUTORIAL_NAME}"));
        } else {
            created.file(path.clone());
            crate::store::write_atomic(&path, TUTORIAL.as_bytes())?;
            let media = root.join("media");
            if !media.exists() {
                created.dir(media.clone());
            }
            fs_err::create_dir_all(&media)?;
            let image = media.join("ankiops-diagram.svg");
            if !image.exists() {
                created.file(image.clone());
                crate::store::write_atomic(&image, TUTORIAL_IMAGE)?;
            }
            said.push(format!("wrote {TUTORIAL_NAME}"));
        }
    }
    if settings.auto_commit {
        let repo = Repo::open(root)?;
        repo.commit_collection("ankiops: init")?;
    }
    if ctx.args.json {
        println!("{}", serde_json::json!({"root": root, "done": said}));
    } else if !ctx.args.quiet {
        for line in &said {
            eprintln!("{line}");
        }
        eprintln!("next: write notes in a deck file (see {TUTORIAL_NAME} with --tutorial), then run `ankiops ma`");
    }
    Ok(EXIT_OK)
}

/// The profile to record. `--profile` must be one Anki has (when Anki can be asked), and replaces a different
/// recorded profile only with `--force` or a yes on a terminal; without `--profile`, a recorded profile stays
/// and a new collection gets the profile open in Anki.
fn choose_profile(ctx: &Context, args: &InitArgs, initialized: bool, said: &mut Vec<String>) -> Result<Option<String>> {
    let recorded = ctx.settings.profile.clone().filter(|_| initialized);
    let Some(wanted) = &args.profile else {
        if recorded.is_some() {
            return Ok(recorded);
        }
        return match ctx.client().get_active_profile() {
            Ok(profile) => Ok(profile),
            Err(e) if e.is_unreachable() => Err(CliError::input(format!("{e}; nothing was created"))
                .hint("start Anki so init can record its profile, or name it with --profile")),
            Err(e) => Err(e.into()),
        };
    };
    match ctx.client().get_profiles() {
        Ok(profiles) if !profiles.contains(wanted) => {
            let list = profiles.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ");
            return Err(CliError::input(format!(
                "Anki has no profile '{wanted}' (its profiles: {list}); nothing was changed"
            ))
            .hint("pass one of those with --profile (names are case-sensitive), or add the profile in Anki (File > Switch Profile > Add) and run this again"));
        }
        Ok(_) => {}
        Err(e) if e.is_unreachable() => {
            said.push(format!("Anki is not running, so ankiops could not check that it has a profile '{wanted}'"));
        }
        Err(e) => return Err(e.into()),
    }
    let Some(old) = recorded.filter(|old| old != wanted) else { return Ok(Some(wanted.clone())) };
    let consequence = format!(
        "runs then compare the Markdown with the notes of '{wanted}' instead of '{old}'; see what they would do with `ankiops status` first"
    );
    if args.force || ask(&format!("this collection belongs to the Anki profile '{old}'; record '{wanted}' instead?"))? {
        said.push(format!("changed the recorded Anki profile from '{old}' to '{wanted}': {consequence}"));
        return Ok(Some(wanted.clone()));
    }
    Err(CliError::input(format!(
        "this collection belongs to the Anki profile '{old}'; init did not change it to '{wanted}', and changed nothing"
    ))
    .hint(format!("to record '{wanted}', run `ankiops init --profile '{wanted}' --force` ({consequence})"))
    .hint(format!(
        "to run with '{old}', switch Anki to it (File > Switch Profile); there is no need to run init again"
    )))
}

/// Asks a yes/no question on a terminal; `false` without one.
fn ask(question: &str) -> Result<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The outermost folder `create_dir_all(path)` would create.
fn topmost_missing(path: &Path) -> PathBuf {
    let mut top = path;
    while let Some(parent) = top.parent() {
        if parent.as_os_str().is_empty() || parent.exists() {
            break;
        }
        top = parent;
    }
    top.to_path_buf()
}

/// What init made in the folder so far, undone in reverse order if a later step fails. Only what did not
/// exist before is listed (and `ankiops.json` with the bytes it had), so undoing never removes the user's files.
#[derive(Default)]
struct Created {
    steps: Vec<Step>,
}

enum Step {
    File(PathBuf),
    Dir(PathBuf),
    Restore(PathBuf, Vec<u8>),
}

impl Created {
    fn file(&mut self, path: PathBuf) {
        self.steps.push(Step::File(path));
    }

    fn dir(&mut self, path: PathBuf) {
        self.steps.push(Step::Dir(path));
    }

    fn restore(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.steps.push(Step::Restore(path, bytes));
    }

    /// Undoes every step, and says on `err` what was undone and what could not be.
    fn undo(self, mut err: CliError) -> CliError {
        let mut left = Vec::new();
        for step in self.steps.into_iter().rev() {
            let (path, done) = match &step {
                Step::File(path) => (path, remove_if_there(fs_err::remove_file(path))),
                Step::Dir(path) => (path, remove_if_there(fs_err::remove_dir_all(path))),
                Step::Restore(path, bytes) => (path, crate::store::write_atomic(path, bytes).map_err(|e| e.message)),
            };
            if let Err(why) = done {
                left.push(format!("{}: {why}", path.display()));
            }
        }
        if left.is_empty() {
            err.message.push_str("; init undid what it had created, the folder is as it was");
        } else {
            err.message.push_str(&format!("; init could not undo all it had created: {}", left.join("; ")));
            err = err.hint("remove what is listed above by hand, then run `ankiops init` again");
        }
        err
    }
}

/// A removal that found nothing to remove is done too.
fn remove_if_there(removed: std::io::Result<()>) -> std::result::Result<(), String> {
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_removes_what_was_created_and_restores_what_was_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::write(root.join("mine.md"), "kept").unwrap();
        fs_err::write(root.join(CONFIG_FILE), "{}\n").unwrap();
        let mut created = Created::default();
        created.dir(root.join("made/deeper"));
        fs_err::create_dir_all(root.join("made/deeper/x")).unwrap();
        created.file(root.join("new.txt"));
        fs_err::write(root.join("new.txt"), "new").unwrap();
        created.restore(root.join(CONFIG_FILE), b"{}\n".to_vec());
        fs_err::write(root.join(CONFIG_FILE), "{\"profile\": \"x\"}\n").unwrap();
        created.file(root.join("never-written.txt"));
        fs_err::create_dir(root.join("made")).ok();
        let err = created.undo(CliError::input("boom"));
        assert_eq!(err.message, "boom; init undid what it had created, the folder is as it was");
        assert!(!root.join("new.txt").exists() && !root.join("made/deeper").exists());
        assert_eq!(fs_err::read_to_string(root.join(CONFIG_FILE)).unwrap(), "{}\n");
        assert_eq!(fs_err::read_to_string(root.join("mine.md")).unwrap(), "kept");
    }

    #[test]
    fn the_topmost_missing_folder_is_the_first_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(topmost_missing(&dir.path().join("a/b/c")), dir.path().join("a"));
        assert_eq!(topmost_missing(&dir.path().join("a")), dir.path().join("a"));
    }
}
