//! `ankiops web`: ask Anki to sync with AnkiWeb, and say what came of it in words a user can act on.

use ankiops_connect::{Client, SyncOutcome};

use crate::context::Context;
use crate::error::{CliError, EXIT_OK, Result};

/// Ask Anki to sync with AnkiWeb (through AnkiConnect), so your phone gets the changes.
///
/// Anki must be logged in to AnkiWeb. When AnkiWeb needs a full sync (one side overwriting the other),
/// ankiops does not choose for you: it tells you which button to press in Anki.
///
/// Example: ankiops web
#[derive(Debug, clap::Args)]
pub struct WebArgs {}

pub fn cmd_web(ctx: &Context, _args: &WebArgs) -> Result<i32> {
    let client = ctx.client();
    ctx.check_profile(&client)?;
    let message = sync_with_ankiweb(&client)?;
    if ctx.args.json {
        println!("{}", serde_json::json!({"web": message}));
    } else if !ctx.args.quiet {
        eprintln!("{message}");
    }
    Ok(EXIT_OK)
}

/// Runs AnkiConnect's `sync` and turns its outcome into a sentence; failures come back as errors with hints.
pub fn sync_with_ankiweb(client: &Client) -> Result<String> {
    match client.sync() {
        Ok(SyncOutcome::Synced) => Ok("AnkiWeb: synced; your other devices get the changes when they sync".to_string()),
        Ok(SyncOutcome::Started) => Ok(
            "AnkiWeb: asked Anki to sync, but this AnkiConnect version does not report the result: check Anki's window"
                .to_string(),
        ),
        Err(ankiops_connect::Error::SyncNotLoggedIn) => Err(not_logged_in()),
        Err(ankiops_connect::Error::FullSyncRequired { .. }) => Err(full_sync_required()),
        Err(e) if e.anki_message().is_some() => Err(explain(&e)),
        Err(e) => Err(e.into()),
    }
}

fn explain(e: &ankiops_connect::Error) -> CliError {
    let message = e.anki_message().unwrap_or_default();
    if message.contains("auth not configured") {
        not_logged_in()
    } else if message.starts_with("Sync status") {
        full_sync_required()
    } else if message.to_lowercase().contains("network") || message.to_lowercase().contains("connect") {
        CliError::input(format!("AnkiWeb sync failed: a network problem: {message}"))
            .hint("check the internet connection, then run `ankiops web` again")
    } else if message.to_lowercase().contains("in progress") || message.to_lowercase().contains("another") {
        CliError::input(format!("AnkiWeb sync failed: another device seems to be syncing: {message}"))
            .hint("wait a minute and run `ankiops web` again")
    } else {
        CliError::input(format!("AnkiWeb sync failed: {e}")).hint("open Anki and click Sync to see what it says")
    }
}

fn not_logged_in() -> CliError {
    CliError::input("AnkiWeb sync failed: Anki is not logged in to AnkiWeb")
        .hint("in Anki, click Sync once and log in with your AnkiWeb account, then run `ankiops web` again")
}

fn full_sync_required() -> CliError {
    CliError::input("AnkiWeb sync stopped: AnkiWeb needs a full sync, where one side overwrites the other (this happens after a note type change or a first sync); nothing was transferred")
        .hint("in Anki, click Sync and choose Upload (keep this computer's collection) or Download (keep AnkiWeb's); ankiops will not choose for you")
}
