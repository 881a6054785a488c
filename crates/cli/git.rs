//! Git integration (design.md §5): commits of the collection folder before and after a run, and the base
//! snapshot on the private ref `refs/ankiops/base`. Uses libgit2; no `git` binary is needed.

use std::path::{Component, Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, Signature};

use crate::error::{CliError, Result};

/// The private ref holding the base snapshot; user Git operations never move it.
pub const BASE_REF: &str = "refs/ankiops/base";
const BASE_FILE: &str = "base.json";
/// The merge driver `.gitattributes` names for deck files (`*.md merge=ankiops`), defined in the repository's
/// config as `merge.ankiops.driver`.
pub const MERGE_DRIVER: &str = "ankiops";
const MERGE_DRIVER_NAME: &str = "ankiops: deck files merged note by note";

/// The collection's repository and where the collection sits inside it.
pub struct Repo {
    repo: Repository,
    /// The collection folder relative to the work tree (`""` when it is the root).
    prefix: PathBuf,
}

impl Repo {
    /// Opens the repository holding `root`.
    pub fn open(root: &Path) -> Result<Repo> {
        let repo = Repository::discover(root).map_err(|_| {
            CliError::input(format!("{} is not inside a Git repository", root.display()))
                .hint("run `ankiops init` in the collection folder first")
        })?;
        let prefix = relative_to_workdir(&repo, root)?;
        if ignores(&repo, &prefix) {
            return Err(CliError::input(format!(
                "{} is ignored by the Git repository around it, so its history would not be kept",
                root.display()
            ))
            .hint("run `ankiops init` in the collection folder to give it a repository of its own"));
        }
        Ok(Repo { repo, prefix })
    }

    /// Opens the repository holding `root`, creating one at `root` if there is none. Returns whether it was created.
    pub fn open_or_init(root: &Path) -> Result<(Repo, bool)> {
        match Repository::discover(root) {
            // A folder the surrounding repository ignores (say, under `target/`) gets a repository of its own.
            Ok(repo) if !ignores(&repo, &relative_to_workdir(&repo, root)?) => {
                let prefix = relative_to_workdir(&repo, root)?;
                Ok((Repo { repo, prefix }, false))
            }
            _ => {
                let repo = Repository::init(root)?;
                Ok((Repo { repo, prefix: PathBuf::new() }, true))
            }
        }
    }

    fn signature(&self) -> Signature<'static> {
        match self.repo.signature() {
            Ok(sig) => sig.to_owned(),
            Err(_) => Signature::now("ankiops", "ankiops@localhost").expect("a fixed name and email are valid"),
        }
    }

    /// Commits the collection folder (and nothing outside it): every change to a tracked file, and the untracked
    /// files ankiops owns ([`owned_by_ankiops`]); other untracked files are left out until the user `git add`s
    /// them. Returns the new commit, or `None` when nothing changed. libgit2 runs no Git hooks.
    pub fn commit_collection(&self, message: &str) -> Result<Option<Oid>> {
        self.commit(message, false)
    }

    /// Like [`Repo::commit_collection`], but commits even when no file changed, so a run that changed only
    /// Anki still appears in `ankiops log`.
    pub fn commit_run(&self, message: &str) -> Result<Option<Oid>> {
        self.commit(message, true)
    }

    fn commit(&self, message: &str, allow_empty: bool) -> Result<Option<Oid>> {
        let mut index = self.repo.index()?;
        let spec = if self.prefix.as_os_str().is_empty() {
            "*".to_string()
        } else {
            format!("{}/*", self.prefix.to_string_lossy().replace('\\', "/"))
        };
        // Tracked files first (changes and deletions), then the untracked files ankiops owns; anything else the
        // user keeps in the folder is theirs to `git add`.
        index.update_all([spec.as_str()], None)?;
        let mut filter = |path: &Path, _: &[u8]| -> i32 {
            if path.strip_prefix(&self.prefix).is_ok_and(owned_by_ankiops) { 0 } else { 1 }
        };
        index.add_all([spec.as_str()], IndexAddOption::DEFAULT, Some(&mut filter))?;
        index.write()?;
        let tree_id = index.write_tree()?;
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        if let Some(parent) = &parent
            && parent.tree_id() == tree_id
            && !allow_empty
        {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id)?;
        let sig = self.signature();
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid = self.repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
        Ok(Some(oid))
    }

    /// Registers `command` as the merge driver [`MERGE_DRIVER`] in the repository's own config (`.git/config`:
    /// a clone does not copy it), with a name `git` shows. Returns whether anything changed.
    pub fn set_merge_driver(&self, command: &str) -> Result<bool> {
        let mut config = self.repo.config()?.open_level(git2::ConfigLevel::Local)?;
        let name_key = format!("merge.{MERGE_DRIVER}.name");
        let driver_key = format!("merge.{MERGE_DRIVER}.driver");
        let has = |config: &git2::Config, key: &str, value: &str| config.get_string(key).is_ok_and(|v| v == value);
        if has(&config, &name_key, MERGE_DRIVER_NAME) && has(&config, &driver_key, command) {
            return Ok(false);
        }
        config.set_str(&name_key, MERGE_DRIVER_NAME)?;
        config.set_str(&driver_key, command)?;
        Ok(true)
    }

    /// The repository's own config file (shared by its worktrees), whose bytes `init` restores if it fails.
    pub fn config_file(&self) -> PathBuf {
        self.repo.commondir().join("config")
    }

    /// The base snapshot (JSON) stored by the last successful run, if any.
    pub fn read_base(&self) -> Result<Option<String>> {
        let Ok(reference) = self.repo.find_reference(BASE_REF) else { return Ok(None) };
        let commit = reference.peel_to_commit()?;
        let tree = commit.tree()?;
        let Some(entry) = tree.get_name(BASE_FILE) else { return Ok(None) };
        let blob = self.repo.find_blob(entry.id())?;
        let text = String::from_utf8(blob.content().to_vec())
            .map_err(|_| CliError::input(format!("{BASE_REF} holds a base that is not UTF-8")))?;
        Ok(Some(text))
    }

    /// Stores the base snapshot as a new commit on the private ref.
    pub fn write_base(&self, json: &str, message: &str) -> Result<()> {
        let blob = self.repo.blob(json.as_bytes())?;
        let mut builder = self.repo.treebuilder(None)?;
        builder.insert(BASE_FILE, blob, 0o100644)?;
        let tree = self.repo.find_tree(builder.write()?)?;
        let parent = self.repo.find_reference(BASE_REF).ok().and_then(|r| r.peel_to_commit().ok());
        if let Some(p) = &parent
            && p.tree_id() == tree.id()
        {
            return Ok(());
        }
        let sig = self.signature();
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid = self.repo.commit(None, &sig, &sig, message, &tree, &parents)?;
        self.repo.reference(BASE_REF, oid, true, "ankiops: base")?;
        Ok(())
    }

    /// Commits on the current branch whose message starts with `ankiops:`, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunEntry>> {
        let mut walk = self.repo.revwalk()?;
        if walk.push_head().is_err() {
            return Ok(Vec::new());
        }
        let mut runs = Vec::new();
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            let message = commit.message().unwrap_or_default().trim().to_string();
            if message.starts_with("ankiops:") {
                runs.push(RunEntry { id: commit.id().to_string(), time: commit.time().seconds(), message });
                if runs.len() == limit {
                    break;
                }
            }
        }
        Ok(runs)
    }

    /// Restores the collection folder's files as they were at `rev` into the work tree (files that did not
    /// exist then are removed). Other paths are not touched.
    pub fn restore_collection(&self, rev: &str, root: &Path) -> Result<()> {
        let object = self.repo.revparse_single(rev).map_err(|_| {
            CliError::input(format!("no revision `{rev}` in this repository")).hint("`ankiops log` lists past runs")
        })?;
        let commit = object.peel_to_commit()?;
        let tree = commit.tree()?;
        let sub = if self.prefix.as_os_str().is_empty() {
            tree
        } else {
            let entry = tree.get_path(&self.prefix)?;
            self.repo.find_tree(entry.id())?
        };
        // Deck files (top-level *.md) and media/ are restored; the configuration and other files stay.
        for entry in fs_err::read_dir(root)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "md")
                && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| sub.get_name(n).is_none())
            {
                fs_err::remove_file(&path)?;
            }
        }
        for entry in sub.iter() {
            let Ok(name) = entry.name() else { continue };
            if name.ends_with(".md") && entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = self.repo.find_blob(entry.id())?;
                crate::store::write_atomic(&root.join(name), blob.content())?;
            }
            if name == "media" && entry.kind() == Some(git2::ObjectType::Tree) {
                let media = self.repo.find_tree(entry.id())?;
                fs_err::create_dir_all(root.join("media"))?;
                for file in media.iter() {
                    if let (Ok(n), Some(git2::ObjectType::Blob)) = (file.name(), file.kind()) {
                        let blob = self.repo.find_blob(file.id())?;
                        crate::store::write_atomic(&root.join("media").join(n), blob.content())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One past run, from the Git history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunEntry {
    pub id: String,
    pub time: i64,
    pub message: String,
}

/// Whether a path (relative to the collection folder) is one ankiops writes or reads, so it belongs in a snapshot
/// even before the user `git add`s it: the deck files at the top, `media/`, `note_types/`, `ankiops.json`,
/// `.gitignore` and `.gitattributes`.
fn owned_by_ankiops(path: &Path) -> bool {
    let mut parts = path.components();
    let Some(Component::Normal(first)) = parts.next() else { return false };
    let Some(first) = first.to_str() else { return false };
    if parts.next().is_some() {
        return first == crate::media::MEDIA_DIR || first == "note_types";
    }
    matches!(first, crate::settings::CONFIG_FILE | ".gitignore" | ".gitattributes")
        || (!first.starts_with('.') && ankiops_markdown::deck::file_name_to_deck(first).is_some())
}

/// Whether the repository ignores the folder at `prefix` (relative to its work tree).
/// Rules like `/target` match the folder itself, not the paths below it, so every ancestor is asked, with and
/// without the trailing slash that directory-only rules (`target/`) need.
fn ignores(repo: &Repository, prefix: &Path) -> bool {
    prefix.ancestors().filter(|p| !p.as_os_str().is_empty()).any(|p| {
        let dir = format!("{}/", p.to_string_lossy());
        repo.is_path_ignored(p).unwrap_or(false) || repo.is_path_ignored(Path::new(&dir)).unwrap_or(false)
    })
}

fn relative_to_workdir(repo: &Repository, root: &Path) -> Result<PathBuf> {
    let workdir =
        repo.workdir().ok_or_else(|| CliError::input("the Git repository is bare: ankiops needs a work tree"))?;
    let workdir = fs_err::canonicalize(workdir)?;
    let root = fs_err::canonicalize(root)?;
    Ok(root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_collection_folder_of_a_larger_repository() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path();
        Repository::init(outer).unwrap();
        fs_err::create_dir(outer.join("cards")).unwrap();
        fs_err::write(outer.join("cards/Bio.md"), "Q: q\nA: a\n").unwrap();
        fs_err::write(outer.join("unrelated.txt"), "work in progress").unwrap();
        let repo = Repo::open(&outer.join("cards")).unwrap();
        assert!(repo.commit_collection("ankiops: snapshot before ma").unwrap().is_some());
        let head = repo.repo.head().unwrap().peel_to_commit().unwrap();
        let tree = head.tree().unwrap();
        assert!(tree.get_path(Path::new("cards/Bio.md")).is_ok());
        assert!(tree.get_name("unrelated.txt").is_none());
        // Nothing changed: no empty commit.
        assert!(repo.commit_collection("ankiops: again").unwrap().is_none());
        // A deletion is committed too.
        fs_err::remove_file(outer.join("cards/Bio.md")).unwrap();
        assert!(repo.commit_collection("ankiops: deleted").unwrap().is_some());
    }

    #[test]
    fn snapshots_hold_what_ankiops_owns_and_what_the_user_tracks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (repo, _) = Repo::open_or_init(root).unwrap();
        for (name, text) in [
            ("Bio__Cells.md", "Q: q\nA: a\n"),
            ("ankiops.json", "{}\n"),
            (".gitignore", "/.ankiops/\n"),
            ("media/x.png", "png"),
            ("note_types/Mine/Front.html", "{{Front}}"),
            ("notes.txt", "my notes"),
            ("scratch/draft.md", "Q: draft"),
            ("README.md", "about"),
        ] {
            fs_err::create_dir_all(root.join(name).parent().unwrap()).unwrap();
            fs_err::write(root.join(name), text).unwrap();
        }
        let files = |repo: &Repo| {
            let mut files = Vec::new();
            let tree = repo.repo.head().unwrap().peel_to_commit().unwrap().tree().unwrap();
            tree.walk(git2::TreeWalkMode::PreOrder, |at, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    files.push(format!("{at}{}", entry.name().unwrap()));
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
            files.sort();
            files
        };
        repo.commit_collection("ankiops: snapshot").unwrap().expect("a first commit");
        assert_eq!(
            files(&repo),
            [".gitignore", "Bio__Cells.md", "ankiops.json", "media/x.png", "note_types/Mine/Front.html"]
        );
        // What the user adds is kept up to date, and deleted with the file.
        let mut index = repo.repo.index().unwrap();
        index.add_path(Path::new("notes.txt")).unwrap();
        index.write().unwrap();
        fs_err::write(root.join("notes.txt"), "more notes").unwrap();
        repo.commit_collection("ankiops: snapshot").unwrap().expect("a commit");
        assert!(files(&repo).contains(&"notes.txt".to_owned()));
        let tree = repo.repo.head().unwrap().peel_to_commit().unwrap().tree().unwrap();
        let blob = repo.repo.find_blob(tree.get_name("notes.txt").unwrap().id()).unwrap();
        assert_eq!(blob.content(), b"more notes");
        fs_err::remove_file(root.join("notes.txt")).unwrap();
        repo.commit_collection("ankiops: snapshot").unwrap().expect("a commit");
        assert!(!files(&repo).contains(&"notes.txt".to_owned()));
    }

    #[test]
    fn a_folder_ignored_by_the_surrounding_repository_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path();
        Repository::init(outer).unwrap();
        fs_err::write(outer.join(".gitignore"), "/target\n").unwrap();
        let inner = outer.join("target/demo");
        fs_err::create_dir_all(&inner).unwrap();
        let err = Repo::open(&inner).err().expect("an ignored folder is refused");
        assert!(err.to_string().contains("is ignored by the Git repository"), "{err}");
        let (repo, created) = Repo::open_or_init(&inner).unwrap();
        assert!(created);
        assert_eq!(fs_err::canonicalize(repo.repo.workdir().unwrap()).unwrap(), fs_err::canonicalize(&inner).unwrap());
        assert!(Repo::open(&inner).is_ok());
    }

    #[test]
    fn the_merge_driver_is_registered_once_in_the_repository_config() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, _) = Repo::open_or_init(dir.path()).unwrap();
        assert!(repo.set_merge_driver("ankiops merge-file %O %A %B").unwrap());
        assert!(!repo.set_merge_driver("ankiops merge-file %O %A %B").unwrap(), "nothing changes the second time");
        let config = git2::Config::open(&repo.config_file()).unwrap();
        assert_eq!(config.get_string("merge.ankiops.driver").unwrap(), "ankiops merge-file %O %A %B");
        assert_eq!(config.get_string("merge.ankiops.name").unwrap(), MERGE_DRIVER_NAME);
        assert!(repo.set_merge_driver("/opt/ankiops merge-file %O %A %B").unwrap(), "another program is recorded");
    }

    #[test]
    fn the_base_lives_on_a_private_ref_that_checkout_does_not_move() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, created) = Repo::open_or_init(dir.path()).unwrap();
        assert!(created);
        assert_eq!(repo.read_base().unwrap(), None);
        repo.write_base("{\"v\":1}", "ankiops: base").unwrap();
        repo.write_base("{\"v\":2}", "ankiops: base").unwrap();
        assert_eq!(repo.read_base().unwrap().as_deref(), Some("{\"v\":2}"));
        let commit = repo.repo.find_reference(BASE_REF).unwrap().peel_to_commit().unwrap();
        assert_eq!(commit.parent_count(), 1, "each base keeps its history");
        assert!(repo.repo.head().is_err(), "HEAD is untouched by the base");
    }
}
