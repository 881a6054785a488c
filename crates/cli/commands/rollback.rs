//! `ankiops rollback`: restore the Markdown of an earlier run and push it to Anki.

use ankiops_sync::Direction;

use crate::context::Context;
use crate::error::Result;
use crate::git::Repo;
use crate::run::{RunArgs, run};

/// Restore the deck files and media of an earlier run (see `ankiops log`) as a new commit, and push them to
/// Anki like `ankiops ma` (notes changed in Anki since are reported, not overwritten).
///
/// Example: ankiops rollback 3f2a9c1 --dry-run
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The commit to go back to (from `ankiops log`)
    pub rev: String,
    /// Show what would change in Anki, then put the files back as they are now
    #[arg(long)]
    pub dry_run: bool,
    /// Delete notes in Anki without asking
    #[arg(long, short)]
    pub yes: bool,
    /// Let this run delete up to N notes (in Anki and the Markdown together); the default limit is 20, or
    /// `max_delete` in ankiops.json
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
}

pub fn cmd_rollback(ctx: &Context, args: &RollbackArgs) -> Result<i32> {
    ctx.require_initialized()?;
    let repo = Repo::open(&ctx.root)?;
    repo.commit_collection("ankiops: snapshot before rollback")?;
    repo.restore_collection(&args.rev, &ctx.root)?;
    if !args.dry_run {
        repo.commit_collection(&format!("ankiops: restore the Markdown of {}", args.rev))?;
    }
    let result = run(
        ctx,
        &RunArgs {
            command: "rollback",
            direction: Direction::ToAnki,
            force: false,
            dry_run: args.dry_run,
            yes: args.yes,
            no_auto_commit: args.dry_run,
            file: None,
            deck: None,
            only_add_new: false,
            keep_orphans: false,
            read_only: false,
            web: false,
            max_delete: args.max_delete,
        },
    );
    if args.dry_run {
        // Put the files back as they were.
        repo.restore_collection("HEAD", &ctx.root)?;
    }
    result
}
