//! `cargo xtask anki`: the test backend as a long-running AnkiConnect server on a persistent collection,
//! for trying ankiops on a machine without Anki desktop.

use std::path::PathBuf;

use ankiops_testkit::{Backend, target_dir};

const HELP: &str = "usage: cargo xtask anki [--dir PATH] [--port 8765] [--profile NAME] [--api-key KEY]

Serves a real Anki collection (the official `anki` Python package) over the AnkiConnect protocol
until Ctrl-C. The collection persists in --dir (default: target/anki-demo), one folder per profile.

options:
  --dir PATH        base folder holding the profile folders (default: target/anki-demo)
  --port PORT       port on 127.0.0.1 (default: 8765, AnkiConnect's; 0 picks a free one)
  --profile NAME    profile to open (default: User 1)
  --api-key KEY     require this apiKey on every request, like AnkiConnect's apiKey setting";

struct Args {
    dir: PathBuf,
    port: u16,
    profile: String,
    api_key: Option<String>,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut parsed =
        Args { dir: target_dir().join("anki-demo"), port: 8765, profile: "User 1".to_owned(), api_key: None };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if matches!(name, "-h" | "--help") {
            return Ok(None);
        }
        let mut value =
            || inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value\n\n{HELP}"));
        match name {
            "--dir" => parsed.dir = PathBuf::from(value()?),
            "--port" => {
                let v = value()?;
                parsed.port = v.parse().map_err(|_| format!("--port takes a number from 0 to 65535, not {v:?}"))?;
            }
            "--profile" => parsed.profile = value()?,
            "--api-key" => parsed.api_key = Some(value()?),
            other => return Err(format!("unknown option {other:?}\n\n{HELP}")),
        }
    }
    Ok(Some(parsed))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(args) = parse(args)? else {
        println!("{HELP}");
        return Ok(());
    };
    if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        drop(listener);
    } else {
        return Err(format!(
            "port {} is in use (is Anki desktop with AnkiConnect running?): pick another with --port",
            args.port
        ));
    }
    let mut builder = Backend::builder().dir(&args.dir).port(args.port).profile(&args.profile).inherit_stderr(true);
    if let Some(key) = &args.api_key {
        builder = builder.api_key(key);
    }
    let backend = builder.start();
    println!(
        "AnkiConnect test backend on {} (profile {:?}, collection in {})",
        backend.url(),
        backend.profile(),
        backend.profile_dir().display()
    );
    println!("try: curl -s {} -d '{{\"action\": \"deckNames\", \"version\": 6}}'", backend.url());
    println!("Ctrl-C stops it; the collection stays.");
    let status = backend.wait();
    if status.success() { Ok(()) } else { Err(format!("the backend exited with {status}")) }
}
