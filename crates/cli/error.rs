//! The CLI's error type: what went wrong, a hint on what to do next, and the exit code it maps to.

use std::fmt;

/// Exit codes (design.md §2).
pub const EXIT_OK: i32 = 0;
/// Done, but conflicts or per-note errors remain.
pub const EXIT_INCOMPLETE: i32 = 1;
/// Could not run: bad input, Anki unreachable, wrong profile.
pub const EXIT_FAILED: i32 = 2;

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// An error that stops a command, with the hints printed under it.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    /// Bad input or a state the user must fix.
    pub fn input(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), hints: Vec::new() }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::input(e.to_string())
    }
}

impl From<git2::Error> for CliError {
    fn from(e: git2::Error) -> CliError {
        CliError::input(format!("git: {}", e.message()))
    }
}

impl From<ankiops_connect::Error> for CliError {
    fn from(e: ankiops_connect::Error) -> CliError {
        let mut err = CliError::input(e.to_string());
        if e.is_auth() {
            err = err.hint("pass the apiKey with --api-key or the ANKICONNECT_API_KEY environment variable");
        } else if e.is_collection_unavailable() {
            err = err.hint("Anki is loading a profile: wait until its main window shows, then run this again");
        }
        err
    }
}
