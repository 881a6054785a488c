//! Hidden commands behind `cargo xtask completions` and `cargo xtask man`: shell completions and man pages
//! generated from the CLI's own clap definition, so they can never drift from the code.
//!
//! They live in the binary because only the binary holds the `clap::Command` (the CLI is not a library that
//! xtask could link); xtask runs them and puts the output in place. They are parsed apart from the CLI, before
//! it, so that neither `--help`, the completions nor the man pages they write list them.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use crate::error::{EXIT_FAILED, EXIT_OK, Result};

/// The generators' own command line: `ankiops generate-completions SHELL` or `ankiops generate-man DIR`.
#[derive(Debug, Parser)]
#[command(name = "ankiops")]
enum Generate {
    GenerateCompletions(CompletionsArgs),
    GenerateMan(ManArgs),
}

const NAMES: [&str; 2] = ["generate-completions", "generate-man"];

/// Runs a generator if the first argument names one, and returns its exit code; `None` for every other command
/// line. `cli` gives the CLI's definition.
pub fn intercept(cli: fn() -> clap::Command) -> Option<i32> {
    let first = std::env::args_os().nth(1)?;
    if !NAMES.iter().any(|name| first == *name) {
        return None;
    }
    let result = match Generate::parse() {
        Generate::GenerateCompletions(args) => cmd_generate_completions(cli(), &args),
        Generate::GenerateMan(args) => cmd_generate_man(cli(), &args),
    };
    Some(result.unwrap_or_else(|err| {
        eprintln!("error: {err}");
        EXIT_FAILED
    }))
}

/// Print the completion script for SHELL on stdout (used by `cargo xtask completions`).
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Write the man pages, ankiops.1 and one ankiops-<command>.1 per command, into DIR (used by `cargo xtask man`).
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn cmd_generate_completions(mut cli: clap::Command, args: &CompletionsArgs) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "ankiops", &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out).and_then(|()| stdout.flush())?;
    Ok(EXIT_OK)
}

pub fn cmd_generate_man(cli: clap::Command, args: &ManArgs) -> Result<i32> {
    fs_err::create_dir_all(&args.dir)?;
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    for page in pages(cli) {
        let man = clap_mangen::Man::new(page);
        let mut text = Vec::new();
        man.render(&mut text)?;
        crate::store::write_atomic(&args.dir.join(man.get_filename()), &text)?;
    }
    Ok(EXIT_OK)
}

/// The command and its visible subcommands, depth first.
fn pages(cmd: clap::Command) -> Vec<clap::Command> {
    let mut out = vec![cmd.clone()];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.extend(pages(sub.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        crate::Cli::command().debug_assert();
        super::Generate::command().debug_assert();
    }
}
