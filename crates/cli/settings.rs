//! The collection's configuration file, `ankiops.json`, and how the collection folder is found.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The name of the configuration file that marks a collection folder.
pub const CONFIG_FILE: &str = "ankiops.json";

/// Settings of one collection, stored in `ankiops.json` at its root. Every key is optional in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The Anki profile this collection belongs to; runs refuse to touch another profile.
    pub profile: Option<String>,
    /// The AnkiConnect address; `--url` and `ANKICONNECT_URL` override it.
    pub url: Option<String>,
    /// The environment variable holding the AnkiConnect apiKey (the key itself never goes in this file).
    pub api_key_env: String,
    /// Commit the Markdown before and after each run.
    pub auto_commit: bool,
    /// Ask Anki to sync with AnkiWeb after every `ma` and `sync` (like passing `--web`).
    pub web_sync: bool,
    /// A run that would delete more notes than this (in Anki and the Markdown together) stops before changing
    /// anything; `--max-delete N` lets one run through. Default [`DEFAULT_MAX_DELETE`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delete: Option<usize>,
    /// How long, in seconds, to wait for Anki to answer a batch (adding notes, `multi`, AnkiWeb sync);
    /// `--timeout` overrides it. Default 300.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// How many notes a run may delete before the mass-deletion guard stops it.
pub const DEFAULT_MAX_DELETE: usize = 20;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            profile: None,
            url: None,
            api_key_env: "ANKICONNECT_API_KEY".into(),
            auto_commit: true,
            web_sync: false,
            max_delete: None,
            timeout: None,
        }
    }
}

impl Settings {
    pub fn load(root: &Path) -> Result<Settings> {
        let path = root.join(CONFIG_FILE);
        if !path.exists() {
            return Ok(Settings::default());
        }
        let text = fs_err::read_to_string(&path)?;
        parse(&text, &path)
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("settings always serialize");
        text.push('\n');
        crate::store::write_atomic(&root.join(CONFIG_FILE), text.as_bytes())
    }
}

/// Reads the text of `ankiops.json` found at `path`. A UTF-8 byte order mark (as some Windows editors write)
/// is skipped; the document must be one JSON object (serde alone would read `[]` as all defaults).
fn parse(text: &str, path: &Path) -> Result<Settings> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    if !start.starts_with('{') {
        let skipped = &text[..text.len() - start.len()];
        let line = 1 + skipped.matches('\n').count();
        let column = 1 + skipped.rsplit('\n').next().unwrap_or_default().chars().count();
        let found = match start.chars().next() {
            None => "it is empty".to_owned(),
            Some(c) => format!("it starts with `{c}`"),
        };
        return Err(CliError::input(format!(
            "{}:{line}:{column}: {CONFIG_FILE} must hold one JSON object, like {{\"profile\": \"User 1\"}}, but {found}",
            path.display()
        ))
        .hint("write the settings between `{` and `}` (docs/cli.md lists the keys), or write `{}` for the defaults"));
    }
    serde_json::from_str(text).map_err(|e| {
        CliError::input(format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
            .hint("fix the file, or delete it and run `ankiops init` again")
    })
}

/// The collection folder: `--dir` if given, else the nearest folder upward holding `ankiops.json`, else the
/// current folder.
pub fn find_root(dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = dir {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| CliError::input(format!("cannot read the current folder: {e}")))?;
    let mut at = cwd.as_path();
    loop {
        if at.join(CONFIG_FILE).is_file() {
            return Ok(at.to_path_buf());
        }
        match at.parent() {
            Some(parent) => at = parent,
            None => return Ok(cwd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_defaults() {
        let s: Settings = serde_json::from_str(r#"{"profile": "rig"}"#).unwrap();
        assert_eq!(s.profile.as_deref(), Some("rig"));
        assert!(s.auto_commit);
        assert_eq!(s.api_key_env, "ANKICONNECT_API_KEY");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let s = parse("\u{feff}{\"profile\": \"rig\"}\n", Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(s.profile.as_deref(), Some("rig"));
    }

    #[test]
    fn only_an_object_is_read() {
        for (text, want) in [
            ("[]", "dir/ankiops.json:1:1: ankiops.json must hold one JSON object"),
            ("\n  \"x\"", "dir/ankiops.json:2:3: ankiops.json must hold one JSON object"),
            ("", "but it is empty"),
            ("null", "but it starts with `n`"),
        ] {
            let err = parse(text, Path::new("dir/ankiops.json")).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(CONFIG_FILE), "{\n  \"profil\": \"x\"\n}\n").unwrap();
        let err = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ankiops.json:2:"), "{err}");
        assert!(err.contains("unknown field `profil`"), "{err}");
    }
}
