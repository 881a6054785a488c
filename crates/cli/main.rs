//! The `ankiops` binary: parses the command line and dispatches to one command; prints the error chain once.

use clap::Parser;

#[allow(dead_code)] // wired to the sync commands by issue 7
mod note_types;

/// Keep Anki decks and a folder of Markdown files in sync, both ways, with Git as the safety net.
#[derive(Debug, Parser)]
#[command(name = "ankiops", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
