//! `cargo xtask demo`: the main job of ankiops, end to end, on a fresh machine without Anki desktop.
//!
//! Starts the test backend (a real Anki collection), runs `ankiops init --tutorial` and `ankiops ma`, edits a
//! note through AnkiConnect as a user would in Anki, runs `ankiops am`, and shows the Markdown that changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use ankiops_testkit::{Backend, target_dir, workspace_root};
use serde_json::json;

pub fn run(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask demo (no options)".into());
    }
    step("building ankiops");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "ankiops"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build -p ankiops failed".into());
    }
    // Next to this xtask binary: the same target folder and profile.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("ankiops")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| target_dir().join("debug/ankiops"));

    step("starting a real Anki collection behind an AnkiConnect server (the first run installs anki from PyPI)");
    let backend = Backend::start();
    println!("  AnkiConnect at {}", backend.url());

    let dir = binary.parent().and_then(Path::parent).map_or_else(target_dir, Path::to_path_buf).join("demo-collection");
    if dir.exists() {
        fs_remove(&dir)?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ankiops = |args: &[&str]| -> Result<(), String> {
        println!("\n$ ankiops {}", args.join(" "));
        let status = Command::new(&binary)
            .args(args)
            .arg("--dir")
            .arg(&dir)
            .arg("--url")
            .arg(backend.url())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        if status.success() { Ok(()) } else { Err(format!("ankiops {} failed ({status})", args.join(" "))) }
    };

    step("making a collection folder with the tutorial deck");
    ankiops(&["init", "--tutorial"])?;
    step("pushing the Markdown to Anki");
    ankiops(&["ma"])?;

    let deck = dir.join("ankiops Tutorial.md");
    let before = read(&deck)?;
    let ids = backend.call("findNotes", json!({"query": "\"deck:ankiops Tutorial\" note:AnkiOpsQA"}));
    let id = ids.as_array().and_then(|a| a.first()).cloned().ok_or("the tutorial notes did not reach Anki")?;
    step(&format!("editing note {id} in Anki (through AnkiConnect, as the Anki editor would)"));
    backend.call(
        "updateNoteFields",
        json!({"note": {"id": id, "fields": {"Answer": "Edited <b>in Anki</b>: ankiops brings it back as <i>Markdown</i>."}}}),
    );
    step("pulling Anki's changes into the Markdown");
    ankiops(&["am"])?;
    let after = read(&deck)?;

    step(&format!("what changed in {}", deck.display()));
    let diff = similar::TextDiff::from_lines(&before, &after);
    print!("{}", diff.unified_diff().context_radius(2).header("before am", "after am"));
    if before == after {
        return Err("the edit made in Anki did not reach the Markdown".into());
    }
    println!("\nThe collection is in {}; run `ankiops --help` to see what else it can do.", dir.display());
    Ok(())
}

fn step(what: &str) {
    println!("\n==> {what}");
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn fs_remove(dir: &PathBuf) -> Result<(), String> {
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}
