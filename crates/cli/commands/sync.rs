//! `ankiops sync`: both directions in one three-way merge.

use ankiops_sync::Direction;

use crate::context::Context;
use crate::error::Result;
use crate::run::{RunArgs, run};

/// Sync both ways: a three-way merge of the Markdown, Anki, and what both held after the last run.
///
/// Edits on one side reach the other; edits to different fields of one note on both sides merge. When both
/// sides changed the same field differently, both versions are written into the Markdown between conflict
/// markers, and the note stays as it is in Anki until you remove the markers.
///
/// Example: ankiops sync --web
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Show the plan, with a diff per note, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Delete notes in Anki without asking
    #[arg(long, short)]
    pub yes: bool,
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

pub fn cmd_sync(ctx: &Context, args: &SyncArgs) -> Result<i32> {
    run(
        ctx,
        &RunArgs {
            command: "sync",
            direction: Direction::Both,
            force: false,
            dry_run: args.dry_run,
            yes: args.yes,
            no_auto_commit: args.no_auto_commit,
            file: None,
            deck: None,
            only_add_new: false,
            keep_orphans: false,
            read_only: false,
            web: args.web,
            max_delete: args.max_delete,
        },
    )
}
