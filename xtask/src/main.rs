//! `cargo xtask`: chores that are not `cargo build` or `cargo test` (test backend, demo, bench, tidy).

mod anki;
mod bench;
mod demo;
mod generate;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  anki [--dir PATH] [--port 8765] [--profile NAME] [--api-key KEY]
        serve a persistent Anki collection over AnkiConnect (no Anki desktop needed)
  demo  the main job end to end: a real Anki collection, init --tutorial, ma, an edit in Anki, am
  bench [--quick] [--reps N] [--tool ankiops|python|both]
        ankiops against the Python AnkiOps 0.6.6 on generated collections; writes docs/benchmarks.md
  completions [--out DIR]
        shell completions generated from the CLI (default: target/completions)
  man [--out DIR]
        man pages generated from the CLI (default: target/man)
  tidy  check the architecture invariants that can be checked mechanically";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "anki" => anki::run(rest),
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "completions" => generate::completions(rest),
        "man" => generate::man(rest),
        "tidy" => tidy::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
