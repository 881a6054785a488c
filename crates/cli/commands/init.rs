//! `ankiops init`: make a folder an ankiops collection.

use crate::context::{Context, GlobalArgs};
use crate::error::{CliError, EXIT_OK, Result};
use crate::git::Repo;
use crate::settings::{CONFIG_FILE, Settings};

/// Make the current folder (or --dir) a collection: ankiops.json, .gitignore, a Git repository if there is
/// none, and the Anki profile the collection belongs to.
///
/// Re-running it never overwrites your edits: existing files are kept and only missing pieces are added.
///
/// Example: ankiops init --tutorial
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Also write a tutorial deck that shows every note type, math, code, a table and an image
    #[arg(long)]
    pub tutorial: bool,
    /// The Anki profile this collection belongs to [default: the profile open in Anki]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Do not commit the Markdown before and after runs (the setting `auto_commit`)
    #[arg(long)]
    pub no_auto_commit: bool,
}

const GITIGNORE: &str = "# ankiops: temporary files of interrupted writes\n.*.ankiops-tmp\n";
const TUTORIAL_NAME: &str = "ankiops Tutorial.md";
const TUTORIAL: &str = include_str!("../../../collection/ankiops Tutorial.md");
const TUTORIAL_IMAGE: &[u8] = include_bytes!("../../../collection/media/ankiops-diagram.svg");

pub fn cmd_init(global: GlobalArgs, args: &InitArgs) -> Result<i32> {
    let root = match &global.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|e| CliError::input(format!("cannot read the current folder: {e}")))?,
    };
    fs_err::create_dir_all(&root)?;
    let mut global = global;
    global.dir = Some(root.clone());
    let ctx = Context::new(global)?;
    let mut settings = if ctx.is_initialized() { ctx.settings.clone() } else { Settings::default() };
    let mut said = Vec::new();

    let (_, created) = Repo::open_or_init(&root)?;
    if created {
        said.push("created a Git repository".to_string());
    }
    let gitignore = root.join(".gitignore");
    if !gitignore.exists() {
        crate::store::write_atomic(&gitignore, GITIGNORE.as_bytes())?;
        said.push("wrote .gitignore".to_string());
    }

    if let Some(profile) = &args.profile {
        settings.profile = Some(profile.clone());
    } else if settings.profile.is_none() {
        let client = ctx.client();
        match client.get_active_profile() {
            Ok(Some(profile)) => settings.profile = Some(profile),
            Ok(None) => {}
            Err(e) if e.is_unreachable() => {
                return Err(CliError::input(format!("{e}"))
                    .hint("start Anki so init can record its profile, or name it with --profile"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.no_auto_commit {
        settings.auto_commit = false;
    }
    if !ctx.is_initialized() || settings != ctx.settings {
        settings.save(&root)?;
        said.push(format!("wrote {CONFIG_FILE}"));
    }
    if let Some(profile) = &settings.profile {
        said.push(format!("collection belongs to the Anki profile '{profile}'"));
    }

    if args.tutorial {
        let path = root.join(TUTORIAL_NAME);
        if path.exists() {
            said.push(format!("kept your {TUTORIAL_NAME}"));
        } else {
            crate::store::write_atomic(&path, TUTORIAL.as_bytes())?;
            fs_err::create_dir_all(root.join("media"))?;
            let image = root.join("media/ankiops-diagram.svg");
            if !image.exists() {
                crate::store::write_atomic(&image, TUTORIAL_IMAGE)?;
            }
            said.push(format!("wrote {TUTORIAL_NAME}"));
        }
    }
    if settings.auto_commit {
        let repo = Repo::open(&root)?;
        repo.commit_collection("ankiops: init")?;
    }
    if ctx.args.json {
        println!("{}", serde_json::json!({"root": root, "done": said}));
    } else if !ctx.args.quiet {
        for line in &said {
            eprintln!("{line}");
        }
        eprintln!("next: write notes in a deck file (see {TUTORIAL_NAME} with --tutorial), then run `ankiops ma`");
    }
    Ok(EXIT_OK)
}
