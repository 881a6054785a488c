//! `ankiops am` (anki-to-markdown): pull Anki changes into the Markdown.

use ankiops_sync::Direction;

use crate::context::Context;
use crate::error::Result;
use crate::run::{RunArgs, run};

/// Pull Anki changes into the Markdown.
///
/// Notes added, edited, moved or deleted in Anki since the last run are written into the deck files. A note
/// that was also changed in the Markdown is reported and skipped, never overwritten (use `ankiops sync`, or
/// --force).
///
/// Example: ankiops am --deck Biology
#[derive(Debug, clap::Args)]
pub struct AmArgs {
    /// Only this deck (and its subdecks)
    #[arg(long, value_name = "DECK")]
    pub deck: Option<String>,
    /// Keep Markdown notes whose Anki note was deleted
    #[arg(long)]
    pub keep_orphans: bool,
    /// Show the plan, with a diff per note, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Make the Markdown match Anki exactly, overwriting changes made in the Markdown
    #[arg(long)]
    pub force: bool,
    /// Do not commit the Markdown before and after the run
    #[arg(long)]
    pub no_auto_commit: bool,
    /// Let this run delete up to N notes (in Anki and the Markdown together); the default limit is 20, or
    /// `max_delete` in ankiops.json
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
}

pub fn cmd_am(ctx: &Context, args: &AmArgs) -> Result<i32> {
    run(
        ctx,
        &RunArgs {
            command: "am",
            direction: Direction::ToMarkdown,
            force: args.force,
            dry_run: args.dry_run,
            yes: false,
            no_auto_commit: args.no_auto_commit,
            file: None,
            deck: args.deck.clone(),
            only_add_new: false,
            keep_orphans: args.keep_orphans,
            read_only: false,
            web: false,
            max_delete: args.max_delete,
        },
    )
}
