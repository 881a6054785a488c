//! What every command needs: the global flags, the collection folder and its settings, and a client for Anki.

use std::path::PathBuf;

use ankiops_connect::{Client, Config};

use crate::error::{CliError, Result};
use crate::settings::{self, Settings};

/// Flags that apply to every command.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The collection folder [default: the nearest folder upward holding ankiops.json, else the current one]
    #[arg(long, global = true, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// AnkiConnect's address [default: from ankiops.json, else http://127.0.0.1:8765]
    #[arg(long, global = true, env = "ANKICONNECT_URL", value_name = "URL")]
    pub url: Option<String>,
    /// AnkiConnect's apiKey, if one is configured in the add-on (never printed)
    #[arg(long, global = true, env = "ANKICONNECT_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Print a machine-readable JSON report on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Say more about what happens
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Seconds to wait for Anki to answer a batch (adding notes, updates, AnkiWeb sync) [default: from
    /// ankiops.json, else 300]
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

pub const DEFAULT_URL: &str = "http://127.0.0.1:8765";

pub struct Context {
    pub args: GlobalArgs,
    pub root: PathBuf,
    pub settings: Settings,
}

impl Context {
    pub fn new(args: GlobalArgs) -> Result<Context> {
        let root = settings::find_root(args.dir.as_deref())?;
        if !root.is_dir() {
            return Err(CliError::input(format!("{} is not a folder", root.display()))
                .hint("pass an existing collection folder with --dir"));
        }
        let settings = Settings::load(&root)?;
        Ok(Context { args, root, settings })
    }

    pub fn url(&self) -> String {
        self.args.url.clone().or_else(|| self.settings.url.clone()).unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    pub fn client(&self) -> Client {
        let api_key = self.args.api_key.clone().or_else(|| std::env::var(&self.settings.api_key_env).ok());
        let mut config = Config::new(self.url());
        config.api_key = api_key.filter(|k| !k.is_empty());
        if let Some(secs) = self.args.timeout.or(self.settings.timeout) {
            config.long_timeout = std::time::Duration::from_secs(secs);
            config.timeout = config.timeout.min(config.long_timeout);
        }
        Client::new(config)
    }

    /// Whether the collection has been set up with `ankiops init`.
    pub fn is_initialized(&self) -> bool {
        self.root.join(settings::CONFIG_FILE).is_file()
    }

    pub fn require_initialized(&self) -> Result<()> {
        if self.is_initialized() {
            Ok(())
        } else {
            Err(CliError::input(format!(
                "{} is not an ankiops collection (no {})",
                self.root.display(),
                settings::CONFIG_FILE
            ))
            .hint("run `ankiops init` in the folder, or pass the collection folder with --dir"))
        }
    }

    /// Checks that Anki's open profile is the one this collection belongs to.
    pub fn check_profile(&self, client: &Client) -> Result<()> {
        let Some(expected) = &self.settings.profile else { return Ok(()) };
        match client.get_active_profile()? {
            Some(active) if &active == expected => Ok(()),
            Some(active) => Err(CliError::input(format!(
                "Anki has the profile '{active}' open, but this collection belongs to '{expected}'; nothing was changed"
            ))
            .hint(format!("switch Anki to the profile '{expected}' (File > Switch Profile), then run this again"))),
            None => Ok(()),
        }
    }
}
