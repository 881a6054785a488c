//! `ankiops status`: what `sync` would do, read-only.

use ankiops_sync::Direction;

use crate::context::Context;
use crate::error::Result;
use crate::run::{RunArgs, run};

/// Show what `ankiops sync` would do, changing nothing (like `git status`).
///
/// Example: ankiops status --json
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

pub fn cmd_status(ctx: &Context, _args: &StatusArgs) -> Result<i32> {
    run(
        ctx,
        &RunArgs {
            command: "status",
            direction: Direction::Both,
            force: false,
            dry_run: true,
            yes: false,
            no_auto_commit: true,
            file: None,
            deck: None,
            only_add_new: false,
            keep_orphans: false,
            read_only: true,
            web: false,
            max_delete: None,
        },
    )
}
