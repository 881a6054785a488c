//! One run at a time per collection: an exclusive OS lock on `.ankiops/lock`, naming the process that holds it.
//!
//! The lock is `File::try_lock` (`flock` on unix), which the operating system releases when the process
//! ends, however it ends: a run killed with SIGKILL leaves the file behind but not the lock, and the next run
//! takes it over. The file holds the holder's pid, command and start time, so a run that has to wait can say
//! whom it waits for. It is the one file ankiops writes in place rather than through
//! [`crate::store::write_atomic`]: a rename would swap the locked inode for an unlocked one.
//! The file is never deleted either (a run that opened it just before the deletion would lock an orphan);
//! a clean release empties it, so content left in it means its holder ended without releasing it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The folder of the collection that holds ankiops' private state (the lock); never committed.
pub const STATE_DIR: &str = ".ankiops";
/// The lock file inside [`STATE_DIR`].
pub const LOCK_FILE: &str = "lock";
/// How long a run waits for another one to finish before it gives up.
pub const WAIT: Duration = Duration::from_secs(5);
/// How often a waiting run tries again.
const POLL: Duration = Duration::from_millis(100);
/// `.ankiops/.gitignore`: the folder ignores itself, also in collections whose `.gitignore` predates it.
const IGNORE_ALL: &str = "# ankiops' private state (the run lock): never committed\n*\n";

/// Who holds (or last held) the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The subcommand, `ma` say; never the whole command line, which may hold an apiKey.
    pub command: String,
    /// When the run took the lock, in seconds since the Unix epoch.
    pub since: i64,
}

impl Holder {
    /// `pid 4242 (ankiops ma, started 2026-05-01 10:00 UTC, 8 s ago)`
    fn describe(&self) -> String {
        let ago = now_secs().saturating_sub(self.since).max(0);
        format!(
            "pid {} (`ankiops {}`, started {} UTC, {} ago)",
            self.pid,
            self.command,
            crate::commands::log::format_time(self.since),
            duration_words(ago)
        )
    }
}

/// The held lock; dropping it releases the collection. Keep it alive for the whole command.
#[derive(Debug)]
pub struct Lock {
    file: fs_err::File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Emptied on a clean release, so the next run can tell a clean end from a killed run. Closing the
        // file releases the OS lock.
        let _ = self.file.set_len(0);
    }
}

/// Takes the collection's lock for `command`, waiting up to [`WAIT`] for another run to finish, and says on
/// stderr (unless `quiet`) when it waits, or when it takes over the lock of a run that was killed.
pub fn acquire(root: &Path, command: &str, quiet: bool) -> Result<Lock> {
    let mut said = false;
    let (lock, stale) = acquire_within(root, command, WAIT, |holder| {
        if !quiet && !said {
            said = true;
            let who = holder.map_or_else(|| "another ankiops run".to_string(), Holder::describe);
            eprintln!("waiting up to {} s for {who} to finish with this collection", WAIT.as_secs());
        }
    })?;
    if let Some(stale) = stale
        && !quiet
    {
        eprintln!(
            "note: the earlier run {} ended without finishing (it was killed or crashed); its lock is taken over, and running that command again completes what it left undone",
            stale.describe()
        );
    }
    Ok(lock)
}

/// [`acquire`] without the printing: `waiting` is called on every try that finds the lock held. Returns the lock
/// and, when the file still named a holder, that holder (a run that ended without releasing it).
pub fn acquire_within(
    root: &Path,
    command: &str,
    wait: Duration,
    mut waiting: impl FnMut(Option<&Holder>),
) -> Result<(Lock, Option<Holder>)> {
    let dir = root.join(STATE_DIR);
    let path = dir.join(LOCK_FILE);
    let cannot = |e: std::io::Error| {
        CliError::input(format!("cannot open the lock file {}: {e}", path.display()))
            .hint("ankiops needs to write in the collection folder: check its permissions, then run this again")
    };
    fs_err::create_dir_all(&dir).map_err(cannot)?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        crate::store::write_atomic(&ignore, IGNORE_ALL.as_bytes())?;
    }
    let mut file =
        fs_err::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(cannot)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(&path);
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(held(&path, holder.as_ref(), wait));
                }
                waiting(holder.as_ref());
                std::thread::sleep(POLL.min(wait - waited));
            }
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!(
                    "warning: the file system of {} cannot lock files, so ankiops cannot keep two runs on this collection apart: do not start a second one until this one ends",
                    path.display()
                );
                break;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e)),
        }
    }
    let mut previous = String::new();
    file.seek(SeekFrom::Start(0))?;
    // A file that is not UTF-8 was not written by ankiops: there is no earlier holder to name.
    let _ = file.read_to_string(&mut previous);
    let stale = parse_holder(&previous);
    let holder = Holder { pid: std::process::id(), command: command.to_string(), since: now_secs() };
    let mut record = serde_json::to_string(&holder).expect("a holder always serializes");
    record.push('\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(record.as_bytes())?;
    file.flush()?;
    Ok((Lock { file }, stale))
}

/// The holder named in the lock file, if it names one (it is empty between runs, and for a moment after a run
/// took the lock).
pub fn read_holder(path: &Path) -> Option<Holder> {
    parse_holder(&fs_err::read_to_string(path).ok()?)
}

fn parse_holder(text: &str) -> Option<Holder> {
    serde_json::from_str(text.trim()).ok()
}

/// The error of a run that waited in vain.
fn held(path: &Path, holder: Option<&Holder>, wait: Duration) -> CliError {
    let waited = format!("waited {} s and changed nothing", wait.as_secs());
    match holder {
        Some(holder) => {
            CliError::input(format!("another ankiops run is using this collection: {}; {waited}", holder.describe()))
                .hint("wait until it finishes, then run this again")
                .hint(format!(
                    "if it seems stuck, stop it (`kill {}`); the next run completes what a stopped run left undone",
                    holder.pid
                ))
        }
        None => CliError::input(format!(
            "another ankiops run is using this collection (it holds {} but has not written who it is); {waited}",
            lock_display(path)
        ))
        .hint("wait until it finishes, then run this again; the lock is released when that process ends"),
    }
}

fn lock_display(path: &Path) -> String {
    let mut shown = PathBuf::from(STATE_DIR);
    shown.push(path.file_name().unwrap_or_default());
    shown.display().to_string()
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `8 s`, `3 min`, `5 h`, `2 days`.
fn duration_words(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7_200 {
        format!("{} min", secs / 60)
    } else if secs < 172_800 {
        format!("{} h", secs / 3_600)
    } else {
        format!("{} days", secs / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(root: &Path, command: &str) -> Result<(Lock, Option<Holder>)> {
        acquire_within(root, command, Duration::ZERO, |_| {})
    }

    #[test]
    fn a_second_run_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (_held, stale) = take(dir.path(), "ma").unwrap();
        assert_eq!(stale, None);
        let holder = read_holder(&dir.path().join(STATE_DIR).join(LOCK_FILE)).expect("the holder is written");
        assert_eq!((holder.pid, holder.command.as_str()), (std::process::id(), "ma"));
        let err = take(dir.path(), "am").unwrap_err();
        assert!(err.message.starts_with("another ankiops run is using this collection: pid "), "{}", err.message);
        assert!(
            err.message.contains(&format!("pid {} (`ankiops ma`, started ", std::process::id())),
            "{}",
            err.message
        );
        assert!(err.hints.iter().any(|h| h.contains(&format!("kill {}", std::process::id()))), "{:?}", err.hints);
    }

    #[test]
    fn a_waiting_run_is_told_who_it_waits_for() {
        let dir = tempfile::tempdir().unwrap();
        let _held = take(dir.path(), "sync").unwrap();
        let mut seen = Vec::new();
        let err = acquire_within(dir.path(), "ma", Duration::from_millis(250), |h| seen.push(h.cloned())).unwrap_err();
        assert!(!seen.is_empty(), "the waiting callback runs before giving up");
        assert!(seen.iter().all(|h| h.as_ref().is_some_and(|h| h.command == "sync")), "{seen:?}");
        assert!(err.message.contains("`ankiops sync`"), "{}", err.message);
    }

    #[test]
    fn a_released_lock_is_taken_again_with_no_stale_holder() {
        let dir = tempfile::tempdir().unwrap();
        drop(take(dir.path(), "ma").unwrap());
        let lock_file = dir.path().join(STATE_DIR).join(LOCK_FILE);
        assert_eq!(fs_err::read_to_string(&lock_file).unwrap(), "", "a clean release empties the file");
        let (_lock, stale) = take(dir.path(), "am").unwrap();
        assert_eq!(stale, None);
    }

    #[test]
    fn a_lock_file_left_by_a_dead_run_is_taken_over_and_its_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(STATE_DIR);
        fs_err::create_dir_all(&state).unwrap();
        fs_err::write(state.join(LOCK_FILE), "{\"pid\":999999,\"command\":\"sync\",\"since\":1795312281}\n").unwrap();
        let (_lock, stale) = take(dir.path(), "ma").unwrap();
        assert_eq!(stale, Some(Holder { pid: 999_999, command: "sync".into(), since: 1_795_312_281 }));
        assert!(stale.unwrap().describe().starts_with("pid 999999 (`ankiops sync`, started 2026-11-22 01:51 UTC, "));
        let now = read_holder(&state.join(LOCK_FILE)).unwrap();
        assert_eq!(now.pid, std::process::id(), "the new holder replaces the old record");
    }

    #[test]
    fn garbage_in_the_lock_file_is_no_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(STATE_DIR);
        fs_err::create_dir_all(&state).unwrap();
        fs_err::write(state.join(LOCK_FILE), b"\xff\xfe not json").unwrap();
        let (_lock, stale) = take(dir.path(), "ma").unwrap();
        assert_eq!(stale, None);
    }

    #[test]
    fn the_state_folder_ignores_itself_in_git() {
        let dir = tempfile::tempdir().unwrap();
        let _lock = take(dir.path(), "ma").unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        assert!(repo.is_path_ignored(Path::new(".ankiops/lock")).unwrap());
        assert!(repo.is_path_ignored(Path::new(".ankiops/.gitignore")).unwrap());
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(8), "8 s");
        assert_eq!(duration_words(300), "5 min");
        assert_eq!(duration_words(5 * 3_600), "5 h");
        assert_eq!(duration_words(3 * 86_400), "3 days");
    }
}
