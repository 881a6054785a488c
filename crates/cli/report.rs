//! What a run tells the user: the summary line, conflicts, errors with file:line and note id, the dry-run plan
//! with field diffs, the `--json` report, the commit message, the exit code, and progress bars.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use ankiops_sync::{AnkiChange, Input, MarkdownChange, NoteRef, NoteState, Plan, Skip, Summary};
use serde::Serialize;

use crate::context::GlobalArgs;
use crate::error::{EXIT_INCOMPLETE, EXIT_OK, Result};
use crate::store::{Collection, Locations};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Error,
    Conflict,
    Warning,
    Skipped,
}

/// One thing the user should know about, with where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn error(message: String) -> Problem {
        Problem { level: Level::Error, note: None, location: None, message }
    }
    pub fn info(message: String) -> Problem {
        Problem { level: Level::Info, note: None, location: None, message }
    }
    pub fn warning(message: String) -> Problem {
        Problem { level: Level::Warning, note: None, location: None, message }
    }
    pub fn note(note: NoteRef, message: String) -> Problem {
        Problem { level: Level::Error, note: Some(note), location: None, message }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub command: &'static str,
    pub dry_run: bool,
    pub summary: Summary,
    /// Notes read with `notesInfo` because they changed in Anki since the last run.
    pub fetched: usize,
    pub problems: Vec<Problem>,
    /// Planned changes, for `--dry-run` and `status`.
    pub changes: Vec<String>,
    pub files_written: Vec<PathBuf>,
    pub files_removed: Vec<PathBuf>,
    #[serde(skip)]
    pub locations: BTreeMap<NoteRef, String>,
    pub web: Option<String>,
}

impl Report {
    pub fn new(command: &'static str, dry_run: bool) -> Report {
        Report {
            command,
            dry_run,
            summary: Summary::default(),
            fetched: 0,
            problems: Vec::new(),
            changes: Vec::new(),
            files_written: Vec::new(),
            files_removed: Vec::new(),
            locations: BTreeMap::new(),
            web: None,
        }
    }

    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| p.level == Level::Error).count()
    }

    pub fn exit_code(&self) -> i32 {
        if self.errors() > 0 || self.summary.conflicts > 0 { EXIT_INCOMPLETE } else { EXIT_OK }
    }

    /// Sets the summary, prints the report, and gives the exit code: how a run that stops early ends.
    pub fn finish(&mut self, summary: Summary, args: &GlobalArgs) -> Result<i32> {
        self.summary = summary;
        self.print(args)?;
        Ok(self.exit_code())
    }

    /// Adds the plan's conflicts and skips as problems, and (for dry runs) one line per change with a field diff.
    pub fn describe_plan(
        &mut self,
        plan: &Plan,
        input: &Input,
        collection: &Collection,
        locations: &Locations,
        root: &Path,
    ) {
        for (note, at) in locations.iter() {
            self.locations.insert(note, collection.place(at, root));
        }
        self.add_plan_problems(plan);
        if !self.dry_run {
            return;
        }
        for p in &plan.notes {
            let who = self.who(p.note);
            let before_md = match p.note {
                NoteRef::Existing(id) => input.markdown.get(&id),
                NoteRef::New(i) => input.new_in_markdown.get(i),
            };
            match &p.anki {
                Some(AnkiChange::Create(s)) => {
                    self.changes.push(format!("anki: add {who} to {}\n{}", s.deck, diff(None, Some(s))))
                }
                Some(AnkiChange::Update { before, after }) => {
                    let moved = if before.deck != after.deck {
                        format!(" (move {} -> {})", before.deck, after.deck)
                    } else {
                        String::new()
                    };
                    self.changes.push(format!("anki: update {who}{moved}\n{}", diff(Some(before), Some(after))));
                }
                Some(AnkiChange::Delete(s)) => self.changes.push(format!("anki: delete {who} from {}", s.deck)),
                None => {}
            }
            match &p.markdown {
                Some(MarkdownChange::Write(s)) => {
                    self.changes.push(format!("markdown: write {who} in {}\n{}", s.deck, diff(before_md, Some(s))))
                }
                Some(MarkdownChange::WriteConflict { state, .. }) => {
                    self.changes.push(format!("markdown: write conflict markers into {who} in {}", state.deck))
                }
                Some(MarkdownChange::AssignId(id)) => {
                    self.changes.push(format!("markdown: {who} gets note_id {id} (already in Anki)"))
                }
                Some(MarkdownChange::Delete) => self.changes.push(format!("markdown: remove {who}")),
                None => {}
            }
        }
    }

    fn who(&self, note: NoteRef) -> String {
        let id = match note {
            NoteRef::Existing(id) => format!("note {id}"),
            NoteRef::New(_) => "new note".to_string(),
        };
        match self.locations.get(&note) {
            Some(loc) => format!("{id} ({loc})"),
            None => id,
        }
    }

    fn add_plan_problems(&mut self, plan: &Plan) {
        for p in &plan.notes {
            let location = self.locations.get(&p.note).cloned();
            if let Some(c) = &p.conflict {
                let mut what: Vec<String> = c.fields.iter().map(|f| f.field.clone()).collect();
                if c.deck.is_some() {
                    what.push("deck".into());
                }
                if c.note_type.is_some() {
                    what.push("note type".into());
                }
                let message = match c.kind {
                    ankiops_sync::ConflictKind::MarkdownDeletedAnkiModified => {
                        "deleted in the Markdown but edited in Anki: the edited note is kept; delete it again to delete it".to_string()
                    }
                    ankiops_sync::ConflictKind::MarkdownModifiedAnkiDeleted => {
                        "edited in the Markdown but deleted in Anki: it is added to Anki again as a new note".to_string()
                    }
                    _ if p.markdown.is_some() => format!(
                        "changed in both Markdown and Anki ({}): edit the conflict markers in the file, keep what you want, then run `ankiops sync`",
                        what.join(", ")
                    ),
                    _ => format!(
                        "changed in both Markdown and Anki ({}): run `ankiops sync` to write both versions into the file, or --force to overwrite one side",
                        what.join(", ")
                    ),
                };
                self.problems.push(Problem {
                    level: Level::Conflict,
                    note: Some(p.note),
                    location: location.clone(),
                    message,
                });
            }
            if let Some(skip) = p.skipped {
                let message = match skip {
                    Skip::UnresolvedConflict => {
                        "still has conflict markers: resolve them in the file first".to_string()
                    }
                    Skip::ChangedInAnki => {
                        "changed in Anki: `ankiops am` or `ankiops sync` brings the change over".to_string()
                    }
                    Skip::ChangedInMarkdown => {
                        "changed in the Markdown: `ankiops ma` or `ankiops sync` pushes the change".to_string()
                    }
                    Skip::OnlyInAnki => {
                        "new in Anki: `ankiops am` or `ankiops sync` adds it to the Markdown".to_string()
                    }
                    Skip::OnlyInMarkdown => "not in Anki yet: `ankiops ma` or `ankiops sync` adds it".to_string(),
                    // Said once per file and once per run, in the run's summary.
                    Skip::Conflict | Skip::Protected | Skip::DeletionDeclined => continue,
                };
                self.problems.push(Problem { level: Level::Skipped, note: Some(p.note), location, message });
            }
        }
    }

    /// Whether the run changed Anki or the Markdown.
    pub fn changed_anything(&self) -> bool {
        let s = &self.summary;
        s.anki_created
            + s.anki_updated
            + s.anki_moved
            + s.anki_deleted
            + s.markdown_created
            + s.markdown_updated
            + s.markdown_moved
            + s.markdown_deleted
            + s.conflicts
            > 0
    }

    /// The commit message for the result commit: `ankiops: ma — 3 created, 2 updated, 1 moved`.
    pub fn commit_message(&self) -> String {
        format!("ankiops: {} — {}", self.command, self.counts())
    }

    fn counts(&self) -> String {
        let s = &self.summary;
        let mut parts = Vec::new();
        let created = s.anki_created + s.markdown_created;
        let updated = s.anki_updated + s.markdown_updated;
        let moved = s.anki_moved + s.markdown_moved;
        let deleted = s.anki_deleted + s.markdown_deleted;
        for (n, what) in [(created, "created"), (updated, "updated"), (moved, "moved"), (deleted, "deleted")] {
            parts.push(format!("{n} {what}"));
        }
        if s.skipped > 0 {
            parts.push(format!("{} skipped", s.skipped));
        }
        if s.conflicts > 0 {
            parts.push(format!("{} conflict{}", s.conflicts, crate::run::plural(s.conflicts)));
        }
        let errors = self.errors();
        if errors > 0 {
            parts.push(format!("{errors} error{}", crate::run::plural(errors)));
        }
        parts.join(", ")
    }

    pub fn print(&mut self, args: &GlobalArgs) -> Result<()> {
        for p in &mut self.problems {
            if p.location.is_none()
                && let Some(note) = p.note
            {
                p.location = self.locations.get(&note).cloned();
            }
        }
        if args.json {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &self).map_err(std::io::Error::other)?;
            writeln!(out)?;
            return Ok(());
        }
        let mut err = std::io::stderr().lock();
        for change in &self.changes {
            writeln!(err, "{change}")?;
        }
        for p in &self.problems {
            if args.quiet && p.level != Level::Error {
                continue;
            }
            if p.level == Level::Skipped && !args.verbose && self.problems.len() > 20 {
                continue;
            }
            let level = match p.level {
                Level::Info => "note",
                Level::Error => "error",
                Level::Conflict => "conflict",
                Level::Warning => "warning",
                Level::Skipped => "skipped",
            };
            let note = match p.note {
                Some(NoteRef::Existing(id)) => format!("note {id}: "),
                Some(NoteRef::New(_)) => "new note: ".to_string(),
                None => String::new(),
            };
            match &p.location {
                Some(loc) => writeln!(err, "{level}: {loc}: {note}{}", p.message)?,
                None => writeln!(err, "{level}: {note}{}", p.message)?,
            }
        }
        if !args.quiet {
            let s = &self.summary;
            let verb = if self.dry_run { "would change" } else { "changed" };
            writeln!(
                err,
                "{}: {verb} Anki: {} created, {} updated, {} moved, {} deleted; Markdown: {} created, {} updated, {} moved, {} deleted; {} skipped, {} conflict{}, {} error{}",
                self.command,
                s.anki_created,
                s.anki_updated,
                s.anki_moved,
                s.anki_deleted,
                s.markdown_created,
                s.markdown_updated,
                s.markdown_moved,
                s.markdown_deleted,
                s.skipped,
                s.conflicts,
                crate::run::plural(s.conflicts),
                self.errors(),
                crate::run::plural(self.errors()),
            )?;
            if s.markdown_deleted > 0 && !self.dry_run {
                writeln!(
                    err,
                    "note: notes removed from the Markdown are still in Git: `ankiops log` and `ankiops rollback REV` bring them back"
                )?;
            }
            if let Some(web) = &self.web {
                writeln!(err, "{web}")?;
            }
            if self.dry_run && !self.changes.is_empty() {
                writeln!(err, "this was a dry run: nothing was changed; run without --dry-run to apply it")?;
            }
        }
        Ok(())
    }
}

/// A per-field diff of two note states, for dry runs.
pub fn diff(before: Option<&NoteState>, after: Option<&NoteState>) -> String {
    let empty = NoteState::default();
    let b = before.unwrap_or(&empty);
    let a = after.unwrap_or(&empty);
    let mut out = String::new();
    let names: std::collections::BTreeSet<&String> = b.fields.keys().chain(a.fields.keys()).collect();
    for name in names {
        let (old, new) = (b.field(name), a.field(name));
        if old == new {
            continue;
        }
        out.push_str(&format!("  {name}:\n"));
        let d = similar::TextDiff::from_lines(old, new);
        for change in d.iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            out.push_str(&format!("    {sign}{}", change.value()));
            if !change.value().ends_with('\n') {
                out.push('\n');
            }
        }
    }
    if b.tags != a.tags {
        let tags = |s: &NoteState| s.tags.iter().cloned().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("  tags: {} -> {}\n", tags(b), tags(a)));
    }
    if b.note_type != a.note_type && before.is_some() {
        out.push_str(&format!("  note type: {} -> {}\n", b.note_type, a.note_type));
    }
    out.trim_end().to_string()
}

/// A progress bar on stderr for long work; hidden when stderr is not a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

/// Set by `main` for `--json` and `--quiet`: no progress bars then.
pub static NO_PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn progress(total: usize, what: &'static str) -> Progress {
    if total < 200
        || !std::io::stderr().is_terminal()
        || !std::io::stdout().is_terminal()
        || NO_PROGRESS.load(std::sync::atomic::Ordering::Relaxed)
    {
        return Progress(None);
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_message(what);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        bar.set_style(style);
    }
    Progress(Some(bar))
}

impl Progress {
    pub fn set(&mut self, done: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(done as u64);
        }
    }
    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
