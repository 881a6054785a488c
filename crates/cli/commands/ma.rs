//! `ankiops ma` (markdown-to-anki): push Markdown changes to Anki.

use std::path::PathBuf;

use ankiops_sync::Direction;

use crate::context::Context;
use crate::error::Result;
use crate::run::{RunArgs, run};

/// Push Markdown changes to Anki.
///
/// Notes added, edited, moved or removed in the Markdown since the last run are changed in Anki. A note that
/// was also changed in Anki is reported and skipped, never overwritten (use `ankiops sync`, or --force).
/// Deleting notes in Anki asks first; without a terminal it needs --yes.
///
/// Example: ankiops ma --dry-run
#[derive(Debug, clap::Args)]
pub struct MaArgs {
    /// Only this deck file
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Only add notes that have no note_id yet; change nothing else
    #[arg(long)]
    pub only_add_new: bool,
    /// Show the plan, with a diff per note, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Delete notes in Anki without asking
    #[arg(long, short)]
    pub yes: bool,
    /// Make Anki match the Markdown exactly, overwriting changes made in Anki
    #[arg(long)]
    pub force: bool,
    /// Do not commit the Markdown before and after the run
    #[arg(long)]
    pub no_auto_commit: bool,
    /// Then ask Anki to sync with AnkiWeb
    #[arg(long)]
    pub web: bool,
    /// Let this run delete up to N notes (in Anki and the Markdown together); the default limit is 20, or
    /// `max_delete` in ankiops.json
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
}

pub fn cmd_ma(ctx: &Context, args: &MaArgs) -> Result<i32> {
    let code = run(
        ctx,
        &RunArgs {
            command: "ma",
            direction: Direction::ToAnki,
            force: args.force,
            dry_run: args.dry_run,
            yes: args.yes,
            no_auto_commit: args.no_auto_commit,
            file: args.file.clone(),
            deck: None,
            only_add_new: args.only_add_new,
            keep_orphans: false,
            read_only: false,
            web: args.web,
            max_delete: args.max_delete,
        },
    )?;
    Ok(code)
}
