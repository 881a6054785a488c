//! `cargo xtask bench`: ankiops against the Python AnkiOps 0.6.6 on the same generated collection and the
//! same test backend (design.md §9), behind a recording proxy on 127.0.0.1:8765.
//!
//! Per size and per tool, on a fresh backend: first import, a no-op push, a no-op pull, a push after editing
//! 1% of the notes in Markdown, a pull after editing 1% in Anki (by the bench, through AnkiConnect), and a full
//! export into an empty folder. Plus the bare baseline: the notes of ankiops' first import sent by hand as one
//! `multi` of `addNote`. Wall time is the median of the repetitions, peak memory is the measured process's
//! max RSS (`/usr/bin/time`), requests are counted by the proxy.

mod corpus;
mod proxy;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ankiops_testkit::Backend;
use serde_json::{Value, json};

use corpus::Collection;
use proxy::{Proxy, Record};

const HELP: &str = "usage: cargo xtask bench [--quick] [--reps N] [--tool ankiops|python|both] [--seed N] [--no-write]
       cargo xtask bench --generate DIR NOTES DECKS [--seed N]

Benchmarks ankiops (release build) against the Python AnkiOps 0.6.6 on generated collections of
1,000 notes / 50 decks and 10,000 notes / 500 decks, each tool on a fresh test backend, behind a
recording proxy on 127.0.0.1:8765 (the only address AnkiOps talks to). Writes docs/benchmarks.md.

options:
  --quick        1,000 notes only, and docs/benchmarks.md is left alone
  --reps N       repetitions per measured run, median reported (default 3; the 10k first import runs once)
  --tool T       ankiops, python or both (default both)
  --seed N       generator seed (default 42)
  --no-write     print the table only
  --generate DIR NOTES DECKS
                 only write a generated collection into DIR (to profile a tool by hand)";

/// This checkout: xtask's own manifest dir, not the testkit's (a shared target dir can hold a testkit built
/// from another copy of the repository).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Where AnkiOps looks for AnkiConnect, hard-coded.
const PROXY_PORT: u16 = 8765;
/// The pause between a run and the next measured one (see [`Bench::settle`]).
const SETTLE: Duration = Duration::from_secs(3);
const ANKIOPS_PY_VERSION: &str = "0.6.6";

struct Options {
    quick: bool,
    reps: usize,
    rust: bool,
    python: bool,
    seed: u64,
    write: bool,
    /// `--generate DIR NOTES DECKS`: only write a collection (for profiling by hand).
    generate: Option<(PathBuf, usize, usize)>,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options { quick: false, reps: 3, rust: true, python: true, seed: 42, write: true, generate: None };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value\n\n{HELP}"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "--no-write" => o.write = false,
            "--reps" => {
                let v = value()?;
                o.reps =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--reps takes a number ≥ 1, not {v:?}"))?;
            }
            "--seed" => {
                let v = value()?;
                o.seed = v.parse().map_err(|_| format!("--seed takes a number, not {v:?}"))?;
            }
            "--generate" => {
                let dir = PathBuf::from(value()?);
                let notes = value()?.parse().map_err(|_| "--generate DIR NOTES DECKS takes numbers".to_owned())?;
                let decks = value()?.parse().map_err(|_| "--generate DIR NOTES DECKS takes numbers".to_owned())?;
                std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
                o.generate = Some((dir, notes, decks));
            }
            "--tool" => match value()?.as_str() {
                "ankiops" => o.python = false,
                "python" => o.rust = false,
                "both" => {}
                other => return Err(format!("--tool takes ankiops, python or both, not {other:?}")),
            },
            other => return Err(format!("unknown option {other:?}\n\n{HELP}")),
        }
    }
    if o.quick {
        o.write = false;
    }
    Ok(Some(o))
}

/// One measured process run.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    /// Max resident set size in KiB; 0 when unknown (the bare baseline).
    pub rss_kb: u64,
    pub record: Record,
}

/// The outcome of one scenario for one tool.
#[derive(Debug, Clone)]
pub enum Cell {
    /// The repetitions, and a remark (e.g. a validation mismatch) if any.
    Ok(Vec<Run>, Option<String>),
    Failed(String),
    Skipped(String),
}

impl Cell {
    /// The run with the median wall time.
    pub fn median(&self) -> Option<&Run> {
        let Cell::Ok(runs, _) = self else { return None };
        let mut sorted: Vec<&Run> = runs.iter().collect();
        sorted.sort_by_key(|r| r.wall);
        sorted.get(sorted.len() / 2).copied()
    }
}

pub const SCENARIOS: [&str; 6] = [
    "first import",
    "no-op push",
    "no-op pull",
    "push after 1% edited in Markdown",
    "pull after 1% edited in Anki",
    "full export to an empty folder",
];

/// The results of one collection size.
pub struct SizeResult {
    pub notes: usize,
    pub decks: usize,
    pub rust: Vec<Cell>,
    pub python: Vec<Cell>,
    pub bare: Cell,
    /// ankiops' no-op `sync` (both directions), the §9 target.
    pub rust_sync: Cell,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(opts) = parse(args)? else {
        println!("{HELP}");
        return Ok(());
    };
    if let Some((dir, notes, decks)) = &opts.generate {
        Collection::generate(*notes, *decks, opts.seed).write(dir)?;
        println!("wrote {notes} notes in {decks} decks to {}", dir.display());
        return Ok(());
    }
    let proxy = Proxy::start(PROXY_PORT)?;
    let rust_bin = if opts.rust { Some(build_ankiops()?) } else { None };
    let python_bin = if opts.python {
        match python_ankiops() {
            Ok(bin) => Some(Ok(bin)),
            Err(e) => {
                eprintln!("bench: the Python AnkiOps cannot run: {e}");
                Some(Err(e))
            }
        }
    } else {
        None
    };
    let sizes: &[(usize, usize)] = if opts.quick { &[(1_000, 50)] } else { &[(1_000, 50), (10_000, 500)] };
    let mut results = Vec::new();
    for &(notes, decks) in sizes {
        eprintln!("bench: generating {notes} notes in {decks} decks (seed {})", opts.seed);
        let collection = Collection::generate(notes, decks, opts.seed);
        // The 10k first import needs a fresh backend per repetition: once is enough there.
        let import_reps = if notes >= 10_000 { 1 } else { opts.reps };
        let bench = Bench {
            last_end: std::cell::Cell::new(None),
            proxy: &proxy,
            collection: &collection,
            reps: opts.reps,
            import_reps,
        };
        let (rust, rust_sync, captured) = match &rust_bin {
            Some(bin) => bench.tool(&Tool::Rust(bin.clone())),
            None => (skipped_all("not selected (--tool)"), Cell::Skipped("not selected".into()), Vec::new()),
        };
        let python = match &python_bin {
            Some(Ok(bin)) => bench.tool(&Tool::Python(bin.clone())).0,
            Some(Err(e)) => skipped_all(&format!("AnkiOps could not run: {e}")),
            None => skipped_all("not selected (--tool)"),
        };
        let bare = if captured.is_empty() {
            Cell::Skipped("needs the ankiops first import".into())
        } else {
            bench.bare(&captured)
        };
        let result = SizeResult { notes, decks, rust, python, bare, rust_sync };
        println!("\n{}", report::table(&result));
        results.push(result);
    }
    let python_error = match &python_bin {
        Some(Err(e)) => Some(e.clone()),
        _ => None,
    };
    let text = report::document(&results, import_note(&opts), python_error.as_deref());
    if opts.write {
        let path = workspace_root().join("docs/benchmarks.md");
        report::write_document(&path, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn import_note(opts: &Options) -> String {
    format!("median of {} runs; the 10,000-note first import (and its bare baseline) ran once", opts.reps)
}

fn skipped_all(why: &str) -> Vec<Cell> {
    SCENARIOS.iter().map(|_| Cell::Skipped(why.to_owned())).collect()
}

/// `cargo build --release -p ankiops` (incremental) and the path of the binary.
fn build_ankiops() -> Result<PathBuf, String> {
    eprintln!("bench: cargo build --release -p ankiops");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "ankiops"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release -p ankiops failed ({status})"));
    }
    let bin = target_dir().join("release/ankiops");
    if bin.is_file() { Ok(bin) } else { Err(format!("{} is missing after the build", bin.display())) }
}

/// The AnkiOps 0.6.6 entry point in `target/bench-venv`, installed from PyPI on first use.
fn python_ankiops() -> Result<PathBuf, String> {
    let venv = target_dir().join("bench-venv");
    let bin = venv.join("bin/ankiops");
    let version = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let wanted = format!("ankiops {ANKIOPS_PY_VERSION}");
    if bin.is_file() && version(&bin) == wanted {
        return Ok(bin);
    }
    if !venv.join("bin/pip").is_file() {
        // The anki venv's interpreter is known to be ≥ 3.10; fall back to python3 from PATH.
        let anki_python = target_dir().join("anki-venv/bin/python3");
        let python = if anki_python.is_file() { anki_python } else { PathBuf::from("python3") };
        eprintln!("bench: creating {} with {}", venv.display(), python.display());
        let out = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!("python -m venv failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    eprintln!("bench: pip install ankiops=={ANKIOPS_PY_VERSION} into {}", venv.display());
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", &format!("ankiops=={ANKIOPS_PY_VERSION}")])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        return Err(format!("pip install ankiops=={ANKIOPS_PY_VERSION} failed: {}", tail(&out.stderr, 5)));
    }
    let got = version(&bin);
    if got == wanted { Ok(bin) } else { Err(format!("{} --version says {got:?}, not {wanted:?}", bin.display())) }
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" / ")
}

#[derive(Clone)]
enum Tool {
    Rust(PathBuf),
    Python(PathBuf),
}

impl Tool {
    fn name(&self) -> &'static str {
        match self {
            Tool::Rust(_) => "ankiops",
            Tool::Python(_) => "AnkiOps",
        }
    }

    fn command(&self, verb: &str) -> (PathBuf, Vec<String>) {
        match self {
            Tool::Rust(bin) => (bin.clone(), vec![verb.to_owned()]),
            Tool::Python(bin) => {
                let verb = match verb {
                    "ma" => "fa",
                    "am" => "af",
                    other => other,
                };
                // XTASK_BENCH_DEBUG=1 makes AnkiOps log every step (slower: for diagnosing failures only).
                let mut args = Vec::new();
                if std::env::var_os("XTASK_BENCH_DEBUG").is_some() {
                    args.push("--debug".to_owned());
                }
                args.push(verb.to_owned());
                (bin.clone(), args)
            }
        }
    }

    /// The comment each tool writes per synced note.
    fn id_marker(&self) -> &'static str {
        match self {
            Tool::Rust(_) => "<!-- note_id:",
            Tool::Python(_) => "<!-- note_key:",
        }
    }
}

struct Bench<'a> {
    /// When the last measured run ended, for [`Bench::settle`].
    last_end: std::cell::Cell<Option<Instant>>,
    proxy: &'a Proxy,
    collection: &'a Collection,
    reps: usize,
    import_reps: usize,
}

/// A collection folder outside any Git work tree (tools look upward for a repository).
fn fresh_dir(tag: &str) -> Result<ankiops_testkit::tempfile::TempDir, String> {
    let dir = ankiops_testkit::tempfile::Builder::new()
        .prefix(&format!("ankiops-bench-{tag}-"))
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| format!("create a temp dir: {e}"))?;
    let out = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(dir.path())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git init failed: {}", tail(&out.stderr, 3)));
    }
    Ok(dir)
}

impl Bench<'_> {
    /// Runs `verb` of `tool` in `dir` through the proxy; measured when `measure`.
    fn exec(&self, tool: &Tool, verb: &str, dir: &Path, capture: bool) -> Result<Run, String> {
        let (program, args) = tool.command(verb);
        let rss_file = dir.join(".bench-rss");
        self.proxy.reset(capture);
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(&program)
            .args(&args)
            .current_dir(dir)
            .env("ANKICONNECT_URL", self.proxy.url())
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
            .env("NO_COLOR", "1")
            .env_remove("ANKIOPS_CONNECT_URL")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run /usr/bin/time {}: {e}", program.display()))?;
        let wall = start.elapsed();
        self.last_end.set(Some(Instant::now()));
        let record = self.proxy.take();
        let rss_text = std::fs::read_to_string(&rss_file).unwrap_or_default();
        let _ = std::fs::remove_file(&rss_file);
        let log_dir = target_dir().join("bench-logs");
        let _ = std::fs::create_dir_all(&log_dir);
        let log = log_dir.join(format!("{}-{verb}.log", tool.name()));
        let _ = std::fs::write(&log, [out.stdout.as_slice(), out.stderr.as_slice()].concat());
        if !out.status.success() {
            let mut why = tail(&out.stderr, 4);
            if why.is_empty() {
                why = tail(&out.stdout, 4);
            }
            return Err(format!(
                "`{} {}` failed ({}): {why} (full output in {})",
                tool.name(),
                args.join(" "),
                out.status,
                log.display()
            ));
        }
        // /usr/bin/time prints the RSS on its last line (after any "Command exited" note).
        let rss_kb = rss_text.lines().filter_map(|l| l.trim().parse::<u64>().ok()).next_back().unwrap_or(0);
        eprintln!(
            "bench:   {} {verb}: {:.2} s (backend {:.2} s), {} MB, {} requests, {} KB up, {} KB down",
            tool.name(),
            wall.as_secs_f64(),
            record.backend.as_secs_f64(),
            rss_kb / 1024,
            record.requests,
            record.bytes_up / 1024,
            record.bytes_down / 1024
        );
        let actions: Vec<String> = record.actions.iter().map(|(a, n)| format!("{a}×{n}")).collect();
        eprintln!("bench:     actions: {}", actions.join(" "));
        Ok(Run { wall, rss_kb, record })
    }

    /// Waits until [`SETTLE`] has passed since the last run ended (not measured). Anki's modification times have
    /// one-second resolution, so ankiops re-reads every note modified in the second it was last read; a user's next
    /// run is never that close, a benchmark's would be.
    fn settle(&self) {
        if let Some(end) = self.last_end.get() {
            std::thread::sleep(SETTLE.saturating_sub(end.elapsed()));
        }
    }

    /// A fresh backend behind the proxy.
    fn backend(&self) -> Backend {
        let backend = Backend::builder().start();
        self.proxy.set_backend(backend.port());
        backend
    }

    /// A new collection folder for `tool`, initialised (not measured); with the generated decks if `decks`.
    fn folder(&self, tool: &Tool, decks: bool) -> Result<ankiops_testkit::tempfile::TempDir, String> {
        let dir = fresh_dir(if decks { "decks" } else { "export" })?;
        if decks {
            self.collection.write(dir.path())?;
        }
        self.exec(tool, "init", dir.path(), false)?;
        Ok(dir)
    }

    /// All six scenarios for one tool; also ankiops' no-op sync and the bodies of its first import.
    fn tool(&self, tool: &Tool) -> (Vec<Cell>, Cell, Vec<Vec<u8>>) {
        eprintln!("bench: {} on {} notes", tool.name(), self.collection.notes.len());
        let total = self.collection.notes.len();
        let mut cells = Vec::new();
        let mut captured = Vec::new();
        // First import, each repetition on a fresh backend; the last one's backend and folder are kept.
        let mut runs = Vec::new();
        let mut kept = None;
        let mut remark = None;
        for rep in 0..self.import_reps {
            let backend = self.backend();
            let attempt = self.folder(tool, true).and_then(|dir| {
                let last = rep + 1 == self.import_reps;
                let run = self.exec(tool, "ma", dir.path(), last && matches!(tool, Tool::Rust(_)))?;
                Ok((dir, run))
            });
            match attempt {
                Ok((dir, mut run)) => {
                    let in_anki = count_notes(&backend);
                    if in_anki != total {
                        remark = Some(format!("{in_anki} of {total} notes reached Anki"));
                    }
                    if rep + 1 == self.import_reps {
                        captured = std::mem::take(&mut run.record.bodies);
                        kept = Some((backend, dir));
                    }
                    runs.push(run);
                }
                Err(e) => {
                    cells.push(Cell::Failed(e.clone()));
                    let rest = format!("first import failed: {e}");
                    cells.extend(SCENARIOS[1..].iter().map(|_| Cell::Skipped(rest.clone())));
                    return (cells, Cell::Skipped(rest), Vec::new());
                }
            }
        }
        cells.push(Cell::Ok(runs, remark));
        let Some((backend, dir)) = kept else {
            return (skipped_all("no first import"), Cell::Skipped("no first import".into()), Vec::new());
        };
        let dir = dir.path();
        let settled = |verb: &str| {
            self.settle();
            self.exec(tool, verb, dir, false).map(|r| (r, None))
        };
        cells.push(self.repeat(|_| settled("ma")));
        cells.push(self.repeat(|_| settled("am")));
        let sync = match tool {
            Tool::Rust(_) => self.repeat(|_| settled("sync")),
            Tool::Python(_) => Cell::Skipped("AnkiOps has no two-way sync".into()),
        };
        // 1% edited in Markdown: a different 1% per repetition; checked in Anki afterwards.
        cells.push(self.repeat(|rep| {
            let marker = format!("zqmdedit{rep}");
            let residue = [3, 37, 71, 19, 53][rep % 5];
            self.settle();
            let edited = corpus::edit_markdown(self.collection, dir, &marker, |i| i % 100 == residue)?;
            let run = self.exec(tool, "ma", dir, false)?;
            let found = find_notes(&backend, &marker).len();
            let remark = (found != edited).then(|| format!("{found} of {edited} Markdown edits reached Anki"));
            Ok((run, remark))
        }));
        // 1% edited in Anki (updateNoteFields in one multi, not through the proxy); checked in the files.
        cells.push(self.repeat(|rep| {
            let marker = format!("zqankiedit{rep}");
            let residue = [11, 47, 83, 29, 61][rep % 5];
            self.settle();
            let edited = edit_in_anki(&backend, &marker, residue)?;
            // The edits land in a later second than the previous read, and the run comes as late as a user's would.
            self.last_end.set(Some(Instant::now()));
            self.settle();
            let run = self.exec(tool, "am", dir, false)?;
            let found = corpus::count_in_decks(dir, &marker)?;
            let remark = (found != edited).then(|| format!("{found} of {edited} Anki edits reached the files"));
            Ok((run, remark))
        }));
        // Full export into an empty, initialised folder.
        cells.push(self.repeat(|_| {
            let out = self.folder(tool, false)?;
            let run = self.exec(tool, "am", out.path(), false)?;
            let written = corpus::count_in_decks(out.path(), tool.id_marker())?;
            let remark = (written != total).then(|| format!("{written} of {total} notes exported"));
            Ok((run, remark))
        }));
        drop(backend);
        (cells, sync, captured)
    }

    fn repeat(&self, mut once: impl FnMut(usize) -> Result<(Run, Option<String>), String>) -> Cell {
        let mut runs = Vec::new();
        let mut remarks: Vec<String> = Vec::new();
        for rep in 0..self.reps {
            match once(rep) {
                Ok((run, remark)) => {
                    runs.push(run);
                    remarks.extend(remark);
                }
                Err(e) => return Cell::Failed(e),
            }
        }
        remarks.dedup();
        Cell::Ok(runs, (!remarks.is_empty()).then(|| remarks.join("; ")))
    }

    /// The bare baseline: the notes of ankiops' first import as one `multi` of `addNote`, on a fresh backend
    /// with the same note types and decks (created first, not measured).
    fn bare(&self, captured: &[Vec<u8>]) -> Cell {
        let mut setup = Vec::new();
        let mut notes = Vec::new();
        for body in captured {
            if let Ok(json) = serde_json::from_slice::<Value>(body) {
                collect(&json, &mut setup, &mut notes);
            }
        }
        if notes.is_empty() {
            return Cell::Failed("no addNote/addNotes found in ankiops' first import".into());
        }
        let request = json!({
            "action": "multi",
            "version": 6,
            "params": {"actions": notes.iter().map(|n| json!({"action": "addNote", "params": {"note": n}})).collect::<Vec<_>>()},
        });
        let mut runs = Vec::new();
        let mut remark = None;
        for _ in 0..self.import_reps {
            let backend = Backend::builder().start();
            for (action, params) in &setup {
                if let Err(e) = backend.try_call(action, params.clone()) {
                    return Cell::Failed(format!("replaying {action}: {e}"));
                }
            }
            let bytes = serde_json::to_vec(&request).map(|b| b.len()).unwrap_or(0);
            let start = Instant::now();
            let reply = backend.post_json(&request);
            let wall = start.elapsed();
            let failed = serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("result").and_then(Value::as_array).cloned())
                .map(|results| results.iter().filter(|r| !r.get("error").is_none_or(Value::is_null)).count());
            match failed {
                Some(0) => {}
                Some(n) => remark = Some(format!("{n} of {} addNote failed", notes.len())),
                None => remark = Some("the multi failed as a whole".into()),
            }
            eprintln!("bench:   bare multi of {} addNote: {:.2} s", notes.len(), wall.as_secs_f64());
            let record = Record { requests: 1, bytes_up: bytes, bytes_down: reply.body.len(), ..Record::default() };
            runs.push(Run { wall, rss_kb: 0, record });
        }
        Cell::Ok(runs, remark)
    }
}

/// Walks a request (and nested `multi`s): model and deck creation go to `setup`, notes to `notes`.
fn collect(request: &Value, setup: &mut Vec<(String, Value)>, notes: &mut Vec<Value>) {
    let action = request.get("action").and_then(Value::as_str).unwrap_or_default();
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    match action {
        "multi" => {
            for sub in params.get("actions").and_then(Value::as_array).into_iter().flatten() {
                collect(sub, setup, notes);
            }
        }
        "createModel" | "createDeck" | "storeMediaFile" => setup.push((action.to_owned(), params)),
        "addNote" => notes.extend(params.get("note").cloned()),
        "addNotes" => notes.extend(params.get("notes").and_then(Value::as_array).into_iter().flatten().cloned()),
        _ => {}
    }
}

fn find_notes(backend: &Backend, query: &str) -> Vec<i64> {
    backend
        .try_call("findNotes", json!({ "query": query }))
        .ok()
        .and_then(|v| v.as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()))
        .unwrap_or_default()
}

fn count_notes(backend: &Backend) -> usize {
    find_notes(backend, "deck:*").len()
}

/// Appends `marker` to the first field of every note whose position (by id) is `residue` mod 100, with one
/// `multi` of `updateNoteFields`. Returns how many notes were edited.
fn edit_in_anki(backend: &Backend, marker: &str, residue: usize) -> Result<usize, String> {
    let mut ids = find_notes(backend, "deck:*");
    ids.sort_unstable();
    let picked: Vec<i64> = ids.iter().enumerate().filter(|(i, _)| i % 100 == residue).map(|(_, id)| *id).collect();
    let infos = backend.try_call("notesInfo", json!({ "notes": picked }))?;
    let mut actions = Vec::new();
    for info in infos.as_array().into_iter().flatten() {
        let id = info.get("noteId").cloned().unwrap_or(Value::Null);
        let first = info
            .get("fields")
            .and_then(Value::as_object)
            .and_then(|fields| fields.iter().find(|(_, f)| f.get("order").and_then(Value::as_i64) == Some(0)));
        let Some((name, field)) = first else { continue };
        let value = field.get("value").and_then(Value::as_str).unwrap_or_default();
        actions.push(json!({
            "action": "updateNoteFields",
            "params": {"note": {"id": id, "fields": {name.clone(): format!("{value} {marker}")}}},
        }));
    }
    let edited = actions.len();
    let results = backend.try_call("multi", json!({ "actions": actions }))?;
    let errors: Vec<String> = results
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("error").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if let Some(e) = errors.first() {
        return Err(format!("{} of {edited} updateNoteFields failed, first: {e}", errors.len()));
    }
    Ok(edited)
}
