//! The Python virtual environment with the pinned `anki` package, created under the workspace's target
//! directory on first use and shared by every test binary (guarded by an OS file lock).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `anki` release the backend and the sync server run (the transcripts were recorded on it).
pub const ANKI_VERSION: &str = "26.9.3";

/// The workspace root (this crate lives in `<root>/crates/testkit`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).expect("crates/testkit sits two levels below the workspace root").to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        _ => workspace_root().join("target"),
    }
}

/// The venv's python, creating `<target>/anki-venv` with `anki==ANKI_VERSION` on first use.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(ensure_venv).clone()
}

fn ensure_venv() -> PathBuf {
    let target = target_dir();
    std::fs::create_dir_all(&target)
        .unwrap_or_else(|e| panic!("cannot create the target dir {}: {e}", target.display()));
    let venv = target.join("anki-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("ankiops-pinned.txt");
    let pin = format!("anki=={ANKI_VERSION}\n");

    let lock_path = target.join("anki-venv.lock");
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create the venv lock {}: {e}", lock_path.display()));
    lock.lock().unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));

    if std::fs::read_to_string(&marker).ok().as_deref() == Some(pin.as_str()) && python.exists() {
        return python;
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .unwrap_or_else(|e| panic!("cannot remove the stale venv {}: {e}", venv.display()));
    }
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv (install Python 3.10+ with the venv module, e.g. apt-get install python3-venv)",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("anki=={ANKI_VERSION}")),
        &format!("pip install anki=={ANKI_VERSION} (needs PyPI access)"),
    );
    std::fs::write(&marker, &pin).unwrap_or_else(|e| panic!("cannot write the venv marker {}: {e}", marker.display()));
    // The lock is released when `lock` is dropped.
    drop(lock);
    python
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
