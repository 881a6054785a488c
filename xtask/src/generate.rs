//! `cargo xtask completions` and `cargo xtask man`: shell completions and man pages, generated from the CLI's
//! clap definition by the binary's hidden `generate-completions` / `generate-man` commands.
//!
//! Only the binary holds its `clap::Command` (the CLI is not a library xtask could link), so the generators
//! run there and this task only builds it, runs it and puts the files in place.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each shell clap_complete knows, with the file name its completion loader looks for.
const SHELLS: &[(&str, &str)] = &[
    ("bash", "ankiops.bash"),
    ("zsh", "_ankiops"),
    ("fish", "ankiops.fish"),
    ("elvish", "ankiops.elv"),
    ("powershell", "_ankiops.ps1"),
];

/// `cargo xtask completions [--out DIR]`: one completion script per shell into DIR [default: target/completions].
pub fn completions(args: &[String]) -> Result<(), String> {
    let out = out_dir(args, "completions")?;
    for (shell, file) in SHELLS {
        let script = ankiops(&["generate-completions", shell])?;
        let path = out.join(file);
        std::fs::write(&path, script).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("wrote completions for {} shells to {}", SHELLS.len(), out.display());
    Ok(())
}

/// `cargo xtask man [--out DIR]`: ankiops.1 and ankiops-<command>.1 into DIR [default: target/man].
pub fn man(args: &[String]) -> Result<(), String> {
    let out = out_dir(args, "man")?;
    let dir = out.to_str().ok_or_else(|| format!("{} is not valid UTF-8", out.display()))?;
    ankiops(&["generate-man", dir])?;
    println!("wrote man pages to {} (try: man -l {}/ankiops.1)", out.display(), out.display());
    Ok(())
}

/// `--out DIR` if given (created), else `target/<default>`.
fn out_dir(args: &[String], default: &str) -> Result<PathBuf, String> {
    let out = match args {
        [] => target_dir()?.join(default),
        [flag, dir] if flag == "--out" => {
            let dir = Path::new(dir);
            if dir.is_absolute() { dir.to_path_buf() } else { current_dir()?.join(dir) }
        }
        _ => return Err(format!("expected [--out DIR], got {args:?}")),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    Ok(out)
}

/// The workspace: the parent of xtask's folder, from `CARGO_MANIFEST_DIR` as `cargo xtask` sets it when it
/// runs (read at run time: the target folder may be shared by several checkouts).
fn workspace_root() -> Result<PathBuf, String> {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set: run this as `cargo xtask`")?;
    Path::new(&manifest).parent().map(Path::to_path_buf).ok_or_else(|| "xtask has no parent folder".to_owned())
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> Result<PathBuf, String> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Ok(workspace_root()?.join("target")),
    }
}

fn current_dir() -> Result<PathBuf, String> {
    std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))
}

/// Runs the ankiops binary (built if needed) with `args` and returns its stdout.
fn ankiops(args: &[&str]) -> Result<Vec<u8>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace_root()?)
        .args(["run", "--quiet", "--package", "ankiops", "--"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "ankiops {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
}
