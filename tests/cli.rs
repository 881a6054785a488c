//! The command line itself: `--version`, `--help`, and an example in every command's help.

use std::process::Command;

fn ankiops(args: &[&str]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ankiops")).args(args).output().expect("run ankiops");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

const COMMANDS: &[&str] =
    &["init", "ma", "am", "sync", "status", "web", "log", "rollback", "serialize", "deserialize", "doctor"];

#[test]
fn version_and_help() {
    let (version, code) = ankiops(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(version.trim(), format!("ankiops {}", env!("CARGO_PKG_VERSION")));
    let (help, code) = ankiops(&["--help"]);
    assert_eq!(code, 0);
    for command in COMMANDS {
        assert!(help.contains(&format!("\n  {command} ")), "--help lists {command}:\n{help}");
    }
    assert!(help.contains("markdown-to-anki") && help.contains("anki-to-markdown"), "{help}");
}

#[test]
fn every_command_has_an_example_in_its_help() {
    for command in COMMANDS {
        let (help, code) = ankiops(&[command, "--help"]);
        assert_eq!(code, 0, "{command} --help");
        assert!(help.contains(&format!("Example: ankiops {command}")), "{command} --help has no example:\n{help}");
    }
}
