//! `cargo xtask tidy`: mechanical checks of the architecture invariants; also run as a test.

use std::path::{Path, PathBuf};

use ankiops_testkit::workspace_root;

/// Library crates: they never print (data goes through their callers).
const LIBRARY_SOURCES: &[&str] =
    &["crates/markdown/src", "crates/connect/src", "crates/sync/src", "crates/testkit/src"];

/// The engine does no I/O, reads no clock and no environment.
const ENGINE: &str = "crates/sync";
const ENGINE_FORBIDDEN: &[&str] = &["std::fs", "std::net", "SystemTime", "std::env"];

/// Only the connect crate speaks HTTP.
const HTTP_CRATE: &str = "crates/connect";
const HTTP_LIBRARY: &str = "ureq";

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("tidy takes no arguments, got {arg:?}"));
    }
    let problems = check(&workspace_root());
    if problems.is_empty() {
        println!("tidy: all invariants hold");
        Ok(())
    } else {
        Err(format!("tidy found {} problem(s):\n{}", problems.len(), problems.join("\n")))
    }
}

/// Every violation as `path:line: message`, paths relative to `root`.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    let this_file = Path::new("xtask/src/tidy.rs");
    for rel in &files {
        let text = match std::fs::read_to_string(root.join(rel)) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", rel.display()));
                continue;
            }
        };
        let is_rs = rel.extension().is_some_and(|e| e == "rs");
        let shown = rel.display();
        if is_rs && !text.starts_with("//!") {
            problems.push(format!("{shown}:1: every .rs file starts with a `//!` line saying its job"));
        }
        if rel == this_file {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let code = line.trim_start();
            let is_comment = code.starts_with("//") || code.starts_with('#');
            if is_rs && rel.starts_with(ENGINE) && !is_comment {
                for word in ENGINE_FORBIDDEN {
                    if line.contains(word) {
                        problems
                            .push(format!("{shown}:{n}: the engine does no I/O: `{word}` is not allowed in {ENGINE}"));
                    }
                }
            }
            let is_member_manifest =
                rel.file_name().is_some_and(|f| f == "Cargo.toml") && rel != Path::new("Cargo.toml");
            if (is_rs || is_member_manifest)
                && !rel.starts_with(HTTP_CRATE)
                && !is_comment
                && line.contains(HTTP_LIBRARY)
            {
                problems
                    .push(format!("{shown}:{n}: only {HTTP_CRATE} speaks HTTP: `{HTTP_LIBRARY}` is not allowed here"));
            }
            if is_rs && LIBRARY_SOURCES.iter().any(|lib| rel.starts_with(lib)) && !is_comment {
                for mac in ["println!", "eprintln!", "print!(", "eprint!("] {
                    if line.contains(mac) {
                        problems.push(format!("{shown}:{n}: libraries never print: `{mac}` belongs in the CLI"));
                    }
                }
            }
        }
    }
    problems
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name.starts_with('.') || name == "target" {
                continue;
            }
            collect(root, &path, out);
        } else if (name.ends_with(".rs") || name == "Cargo.toml")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_holds_on_this_workspace() {
        let problems = check(&workspace_root());
        assert!(problems.is_empty(), "cargo xtask tidy:\n{}", problems.join("\n"));
    }

    #[test]
    fn tidy_catches_each_invariant() {
        let tmp = ankiops_testkit::tempfile::tempdir().expect("temp dir");
        let write = |rel: &str, text: &str| {
            let path = tmp.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("crates/sync/src/lib.rs", "//! engine\nuse std::fs;\n");
        write("crates/markdown/src/lib.rs", "fn f() { println!(\"x\"); }\n");
        write("crates/markdown/Cargo.toml", "[dependencies]\nureq = \"3\"\n");
        write("crates/connect/src/lib.rs", "//! client\nuse ureq;\n");
        let problems = check(tmp.path());
        let joined = problems.join("\n");
        assert!(joined.contains("crates/sync/src/lib.rs:2: the engine does no I/O"), "{joined}");
        assert!(joined.contains("crates/markdown/src/lib.rs:1: every .rs file starts"), "{joined}");
        assert!(joined.contains("crates/markdown/src/lib.rs:1: libraries never print"), "{joined}");
        assert!(joined.contains("crates/markdown/Cargo.toml:2: only crates/connect speaks HTTP"), "{joined}");
        assert_eq!(problems.len(), 4, "{joined}");
    }
}
