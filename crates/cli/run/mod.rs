//! One run of `ma`, `am`, `sync` or `status`, as a list of steps: read the three snapshots, plan, confirm,
//! apply to Anki, then to the Markdown, store the new base, commit. The order makes every step safe to
//! interrupt: new notes are in `.ankiops/journal` before they are sent (journal.rs), and the base is written last.
//!
//! - [`input`]: the snapshots cut to the run's scope, protected ids, where each note sits;
//! - [`plan`]: recognised notes placed, the mass-deletion guard, confirming deletions;
//! - [`to_anki`] and [`to_markdown`]: carrying the plan out on each side.

mod input;
mod plan;
mod to_anki;
mod to_markdown;

use std::path::PathBuf;

use ankiops_sync::{AnkiHtml, Direction, Options};

use crate::anki;
use crate::base::Base;
use crate::context::Context;
use crate::error::Result;
use crate::git::Repo;
use crate::journal::Journal;
use crate::report::{Problem, Report};
use crate::store;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub command: &'static str,
    pub direction: Direction,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub no_auto_commit: bool,
    /// Only this deck file (`ma --file`).
    pub file: Option<PathBuf>,
    /// Only this deck and its subdecks (`am --deck`).
    pub deck: Option<String>,
    /// `ma --only-add-new`: add new notes, change nothing else.
    pub only_add_new: bool,
    /// `am --keep-orphans`: keep Markdown notes whose Anki note is gone.
    pub keep_orphans: bool,
    /// Read-only (`status`): no commits, no writes.
    pub read_only: bool,
    /// Ask Anki to sync with AnkiWeb afterwards.
    pub web: bool,
    /// `--max-delete N`: the mass-deletion guard's limit for this run.
    pub max_delete: Option<usize>,
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<i32> {
    ctx.require_initialized()?;
    let client = ctx.client();
    let caps = client.capabilities()?;
    ctx.check_profile(&client)?;
    let defs = crate::models::definitions(&ctx.root)?;
    let registry = crate::models::registry_of(&defs);
    let repo = Repo::open(&ctx.root)?;
    let dry = args.dry_run || args.read_only;
    let commits = !dry && !args.no_auto_commit && ctx.settings.auto_commit;
    if commits {
        repo.commit_collection(&format!("ankiops: snapshot before {}", args.command))?;
    }
    let mut report = Report::new(args.command, dry);
    let (mut base, base_size) = match repo.read_base()? {
        Some(text) => (Base::parse(&text)?, text.len()),
        None => (Base::default(), 0),
    };

    // Read. Media first: files changed since they were pushed get content-hashed names, files Anki would store
    // under another name get that name, rewritten only in the deck files that parse (then read again).
    let mut collection = store::load(&ctx.root, &registry)?;
    let mut media = crate::media::prepare(&ctx.root, &client, &base, &collection, args.direction, dry, &mut report)?;
    if media.rewrote_deck_files() {
        collection = store::load(&ctx.root, &registry)?;
    }
    report.problems.extend(collection.errors.iter().map(|e| Problem::error(e.clone())));
    let mut snapshot = anki::read(&client, &caps, &registry, std::mem::take(&mut base.seen))?;
    report.fetched = snapshot.fetched;
    input::take_anki_deck_spelling(&mut collection, &snapshot);
    if let Some(deck) = &args.deck {
        let files = collection.decks.iter().map(|d| d.deck.as_str());
        crate::deck_names::require_in_anki(deck, snapshot.deck_ids.keys(), files)?;
    }

    // Notes an interrupted run sent to Anki get what it sent as their base, so they are recognised, not added again.
    let mut journal = Journal::read(&ctx.root, !dry)?;
    if !journal.is_empty() {
        let html = input::SeenHtml { seen: &snapshot.seen, registry: &registry };
        let found = journal.resolve(&mut base.notes, &snapshot.notes, |id| html.anki_digest(id));
        if found > 0 {
            report.problems.push(Problem::info(format!(
                "found {found} note{} an interrupted run had added to Anki: {} recognised, not added again",
                plural(found),
                if found == 1 { "it is" } else { "they are" }
            )));
        }
    }

    // Plan.
    let scope = input::Scope::new(ctx, args, &collection)?;
    let base_notes = std::mem::take(&mut base.notes);
    let anki_notes = std::mem::take(&mut snapshot.notes);
    let input::Sides { mut input, mut locations, outside } =
        input::build(&collection, base_notes, anki_notes, &scope, &ctx.root, &mut report);
    ankiops_sync::align(&mut input, &input::SeenHtml { seen: &snapshot.seen, registry: &registry });
    let options = Options {
        direction: args.direction,
        force: args.force,
        only_add_new: args.only_add_new,
        keep_orphans: args.keep_orphans,
    };
    let mut plan = ankiops_sync::plan(&input, &options);
    plan::place_recognised(&plan, &input, &collection, &mut locations, &ctx.root, &mut report);
    media.check(&collection, &mut plan, &locations, &mut report);
    report.describe_plan(&plan, &input, &collection, &locations, &ctx.root);
    let limit = args.max_delete.or(ctx.settings.max_delete).unwrap_or(crate::settings::DEFAULT_MAX_DELETE);
    if let Some(stop) = plan::deletion_guard(&plan, limit, &report) {
        if !dry {
            report.problems.push(Problem::error(format!("stopped before changing anything: {stop}")));
            return report.finish(plan.summary(&input), &ctx.args);
        }
        report.problems.push(Problem::warning(format!("a real run would stop here: {stop}")));
    }
    if dry {
        return report.finish(plan.summary(&input), &ctx.args);
    }
    plan::confirm_deletions(&client, &mut plan, &snapshot, args, &mut report)?;

    // Apply: Anki first (new notes, then their ids into the Markdown at once), then the deck files and media.
    media.upload(&client, &mut report)?;
    let side = to_anki::AnkiSide { client: &client, registry: &registry, snapshot: &snapshot };
    let types = to_anki::NoteTypes { defs: &defs, known: &base.note_types };
    let writes_anki = args.direction != Direction::ToMarkdown;
    let mut applied = to_anki::apply(&side, types, &plan, writes_anki, &mut journal, &mut report)?;
    to_markdown::write(&side, &ctx.root, &mut collection, &plan, &locations, &mut applied, &mut report)?;
    if applied.stopped.is_none() {
        media.download(&client, &plan, &applied.done.failed, &mut report)?;
    }

    // The new base: agreed states (outside the scope as they were), and what Anki holds now: the notes read
    // at the start (notes it no longer has are gone from that), minus what this run deleted, plus what it wrote.
    let mut new_base = base;
    new_base.notes = ankiops_sync::next_base(std::mem::take(&mut input.base), &plan, &applied.done);
    new_base.notes.extend(outside);
    new_base.seen = snapshot.seen;
    for id in applied.deleted.iter().chain(&applied.edited_during_run) {
        new_base.seen.remove(id);
    }
    new_base.seen.extend(applied.read_back);
    new_base.note_types.extend(applied.note_types);
    media.finish(&mut new_base, &mut report);
    report.summary = plan.summary(&input);
    report.summary.anki_created -= applied.failed_creates.min(report.summary.anki_created);
    if applied.stopped.is_some() {
        // Only what landed: the rest of the plan waits for the next run.
        let failed = &applied.done.failed;
        let notes = plan.notes.iter().filter(|p| !failed.contains(&p.note)).cloned().collect();
        let conflicts = report.summary.conflicts;
        report.summary = ankiops_sync::Plan { notes, recognised: Vec::new() }.summary(&input);
        report.summary.conflicts = conflicts;
    }
    // The snapshots are done with: free them before the base is serialised, the run's peak of memory.
    drop((input, plan, collection));
    repo.write_base(&new_base.to_json(base_size), &format!("ankiops: base after {}", args.command))?;
    journal.settle()?;
    if commits {
        if report.changed_anything() {
            repo.commit_run(&report.commit_message())?;
        } else {
            repo.commit_collection(&report.commit_message())?;
        }
    }
    if let Some(e) = applied.stopped {
        report.problems.push(stopped_part_way(args.command, &e, &report));
    } else if writes_anki && (args.web || ctx.settings.web_sync) {
        match crate::commands::web::sync_with_ankiweb(&client) {
            Ok(outcome) => report.web = Some(outcome),
            Err(e) => {
                let hints: String = e.hints.iter().map(|h| format!("\nhint: {h}")).collect();
                report.problems.push(Problem::error(format!("{}{hints}", e.message)));
            }
        }
    }
    report.print(&ctx.args)?;
    Ok(report.exit_code())
}

/// A run that lost Anki part-way: what it did, and that the next run completes it.
fn stopped_part_way(command: &str, e: &crate::error::CliError, report: &Report) -> Problem {
    let s = &report.summary;
    let done = format!(
        "{} note{} added, {} updated, {} moved and {} deleted in Anki, {} file{} written",
        s.anki_created,
        plural(s.anki_created),
        s.anki_updated,
        s.anki_moved,
        s.anki_deleted,
        report.files_written.len(),
        plural(report.files_written.len())
    );
    let hints: String = e.hints.iter().map(|h| format!("\nhint: {h}")).collect();
    Problem::error(format!(
        "the run stopped part-way: {e}{hints}\nWhat landed is kept ({done} ; the ids of added notes are in the Markdown). Run `ankiops {command}` again once Anki answers: it completes the rest without adding anything twice"
    ))
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
