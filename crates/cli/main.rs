//! The `ankiops` binary: parses the command line and dispatches to one command; prints the error once.

mod anki;
mod base;
mod commands;
mod context;
mod deck_names;
mod error;
mod git;
mod journal;
mod lock;
mod media;
mod models;
mod note_types;
mod report;
mod run;
mod settings;
mod store;

use std::io::Write;

use clap::{CommandFactory, Parser, Subcommand};

use crate::context::{Context, GlobalArgs};
use crate::error::{EXIT_FAILED, EXIT_OK};

/// Keep Anki decks and a folder of Markdown files in sync, both ways, with Git as the safety net.
///
/// Each deck is one Markdown file; each note a block in it. `ankiops sync` merges edits made on either side,
/// and writes real conflicts into the Markdown for you to resolve. Nothing is overwritten without --force.
#[derive(Debug, Parser)]
#[command(name = "ankiops", version, about, long_about, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  ankiops init                 make this folder a collection (records Anki's open profile)
  ankiops ma                   push Markdown edits to Anki
  ankiops am                   pull Anki edits into the Markdown
  ankiops sync --web           both ways, then sync Anki with AnkiWeb";

#[derive(Debug, Subcommand)]
enum Command {
    Init(commands::init::InitArgs),
    #[command(name = "ma", visible_alias = "markdown-to-anki")]
    Ma(commands::ma::MaArgs),
    #[command(name = "am", visible_alias = "anki-to-markdown")]
    Am(commands::am::AmArgs),
    Sync(commands::sync::SyncArgs),
    Status(commands::status::StatusArgs),
    Web(commands::web::WebArgs),
    Log(commands::log::LogArgs),
    Rollback(commands::rollback::RollbackArgs),
    Doctor(commands::doctor::DoctorArgs),
    Serialize(commands::serialize::SerializeArgs),
    Deserialize(commands::deserialize::DeserializeArgs),
    MergeFile(commands::merge_file::MergeFileArgs),
    GitSetup(commands::git_setup::GitSetupArgs),
}

fn main() {
    if let Some(code) = commands::generate::intercept(Cli::command) {
        std::process::exit(code);
    }
    let cli = Cli::parse();
    let json = cli.global.json;
    if json || cli.global.quiet {
        report::NO_PROGRESS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            if json {
                let body = serde_json::json!({"error": err.message, "hints": err.hints});
                let _ = writeln!(std::io::stdout(), "{body}");
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", err.message);
            for hint in &err.hints {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            EXIT_FAILED
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: Cli) -> error::Result<i32> {
    if let Command::Init(args) = cli.command {
        return commands::init::cmd_init(cli.global, &args);
    }
    if let Command::Deserialize(args) = &cli.command {
        return commands::deserialize::cmd_deserialize(&cli.global, args);
    }
    // Git runs the merge driver in the middle of a merge: no collection settings, no lock, no Anki.
    if let Command::MergeFile(args) = &cli.command {
        return commands::merge_file::cmd_merge_file(&cli.global, args);
    }
    let ctx = Context::new(cli.global)?;
    // One run at a time per collection (lock.rs); held until the command returns. A folder that is not a
    // collection gets no `.ankiops/` folder: the command itself says it is not one.
    let _lock = match locked_name(&cli.command) {
        Some(name) if ctx.is_initialized() => Some(lock::acquire(&ctx.root, name, ctx.args.quiet)?),
        _ => None,
    };
    match cli.command {
        Command::Init(_) => Ok(EXIT_OK),
        Command::Ma(args) => commands::ma::cmd_ma(&ctx, &args),
        Command::Am(args) => commands::am::cmd_am(&ctx, &args),
        Command::Sync(args) => commands::sync::cmd_sync(&ctx, &args),
        Command::Status(args) => commands::status::cmd_status(&ctx, &args),
        Command::Web(args) => commands::web::cmd_web(&ctx, &args),
        Command::Log(args) => commands::log::cmd_log(&ctx, &args),
        Command::Rollback(args) => commands::rollback::cmd_rollback(&ctx, &args),
        Command::Doctor(args) => commands::doctor::cmd_doctor(&ctx, &args),
        Command::Serialize(args) => commands::serialize::cmd_serialize(&ctx, &args),
        Command::Deserialize(_) | Command::MergeFile(_) => Ok(EXIT_OK),
        Command::GitSetup(args) => commands::git_setup::cmd_git_setup(&ctx, &args),
    }
}

/// The name a command records in the collection's lock, or `None` for commands that only read Git or check
/// the setup (`log`, `doctor`), or only set Git up (`git-setup`). `init` and `deserialize` take the lock
/// themselves, once they know the folder; `merge-file` never does: Git runs it during a merge, and a run holding
/// the lock would make the merge wait.
fn locked_name(command: &Command) -> Option<&'static str> {
    match command {
        Command::Ma(_) => Some("ma"),
        Command::Am(_) => Some("am"),
        Command::Sync(_) => Some("sync"),
        Command::Status(_) => Some("status"),
        Command::Web(_) => Some("web"),
        Command::Rollback(_) => Some("rollback"),
        Command::Serialize(_) => Some("serialize"),
        Command::Init(_)
        | Command::Deserialize(_)
        | Command::Log(_)
        | Command::Doctor(_)
        | Command::MergeFile(_)
        | Command::GitSetup(_) => None,
    }
}
