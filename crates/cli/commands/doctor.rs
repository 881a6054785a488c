//! `ankiops doctor`: check everything a run needs, and say how to fix what is wrong.

use crate::context::Context;
use crate::error::{EXIT_INCOMPLETE, EXIT_OK, Result};

/// Check that ankiops can work: AnkiConnect reachable, its version and actions, apiKey, the Anki profile, the
/// note types, and (with --web) the AnkiWeb login. Every failed check comes with the fix.
///
/// Example: ankiops doctor --web
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also check the AnkiWeb login, by asking Anki to sync (AnkiConnect can tell no other way)
    #[arg(long)]
    pub web: bool,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub fn cmd_doctor(ctx: &Context, args: &DoctorArgs) -> Result<i32> {
    let mut checks = Vec::new();
    let client = ctx.client();
    let url = ctx.url();
    match client.version() {
        Ok(v) => {
            checks.push(Check { name: "AnkiConnect", ok: true, detail: format!("reachable at {url}, API version {v}") })
        }
        Err(e) => {
            checks.push(Check { name: "AnkiConnect", ok: false, detail: e.to_string() });
            return finish(ctx, &checks);
        }
    }
    match client.request_permission() {
        Ok(p)
            if p.require_api_key && ctx.args.api_key.is_none() && std::env::var(&ctx.settings.api_key_env).is_err() =>
        {
            checks.push(Check {
                name: "apiKey",
                ok: false,
                detail: format!("AnkiConnect requires an apiKey: set {} or pass --api-key", ctx.settings.api_key_env),
            })
        }
        Ok(p) => checks.push(Check {
            name: "apiKey",
            ok: true,
            detail: if p.require_api_key { "required and given".into() } else { "not required".into() },
        }),
        Err(e) => checks.push(Check { name: "apiKey", ok: false, detail: e.to_string() }),
    }
    match client.capabilities() {
        Ok(caps) => {
            let missing: Vec<&str> = [
                "findNotes",
                "notesInfo",
                "multi",
                "addNote",
                "updateNoteFields",
                "getDecks",
                "changeDeck",
                "storeMediaFile",
            ]
            .into_iter()
            .filter(|a| !caps.has(a))
            .collect();
            let modern = caps.has_notes_mod_time();
            checks.push(Check {
                name: "actions",
                ok: missing.is_empty(),
                detail: if !missing.is_empty() {
                    format!(
                        "AnkiConnect lacks {}: update the add-on (Tools > Add-ons > Check for Updates)",
                        missing.join(", ")
                    )
                } else if modern {
                    "every action ankiops uses is there".into()
                } else {
                    "an add-on from before July 2024: runs read every note each time; update it for speed".into()
                },
            });
        }
        Err(e) => checks.push(Check { name: "actions", ok: false, detail: e.to_string() }),
    }
    match (client.get_active_profile(), &ctx.settings.profile) {
        (Ok(Some(active)), Some(expected)) if &active == expected => {
            checks.push(Check { name: "profile", ok: true, detail: format!("'{active}' is open, as recorded") })
        }
        (Ok(active), Some(expected)) => checks.push(Check {
            name: "profile",
            ok: false,
            detail: format!(
                "this collection belongs to '{expected}' but Anki has {} open: switch profiles in Anki (File > Switch Profile)",
                active.map_or("no profile".to_string(), |a| format!("'{a}'"))
            ),
        }),
        (Ok(active), None) => checks.push(Check {
            name: "profile",
            ok: !ctx.is_initialized(),
            detail: format!(
                "no profile recorded (Anki has {} open): run `ankiops init` in the collection folder",
                active.map_or("none".to_string(), |a| format!("'{a}'"))
            ),
        }),
        (Err(e), _) => checks.push(Check { name: "profile", ok: false, detail: e.to_string() }),
    }
    match (crate::models::definitions(&ctx.root), client.model_names()) {
        (Ok(defs), Ok(names)) => {
            let missing: Vec<&str> =
                defs.iter().map(|d| d.spec.name.as_str()).filter(|n| !names.iter().any(|m| m == n)).collect();
            checks.push(Check {
                name: "note types",
                ok: true,
                detail: if missing.is_empty() {
                    format!("{} managed note types present in Anki", defs.len())
                } else {
                    format!(
                        "not in Anki yet (created by the next `ankiops ma` that needs them): {}",
                        missing.join(", ")
                    )
                },
            });
        }
        (Err(e), _) => checks.push(Check { name: "note types", ok: false, detail: e.to_string() }),
        (_, Err(e)) => checks.push(Check { name: "note types", ok: false, detail: e.to_string() }),
    }
    if args.web {
        match crate::commands::web::sync_with_ankiweb(&client) {
            Ok(outcome) => checks.push(Check { name: "AnkiWeb", ok: true, detail: outcome }),
            Err(e) => checks.push(Check {
                name: "AnkiWeb",
                ok: false,
                detail: std::iter::once(e.message).chain(e.hints).collect::<Vec<_>>().join(": "),
            }),
        }
    } else {
        checks.push(Check {
            name: "AnkiWeb",
            ok: true,
            detail: "login not checked: `ankiops doctor --web` checks it by syncing".into(),
        });
    }
    finish(ctx, &checks)
}

fn finish(ctx: &Context, checks: &[Check]) -> Result<i32> {
    let ok = checks.iter().all(|c| c.ok);
    if ctx.args.json {
        let list: Vec<_> =
            checks.iter().map(|c| serde_json::json!({"check": c.name, "ok": c.ok, "detail": c.detail})).collect();
        println!("{}", serde_json::json!({"ok": ok, "checks": list}));
    } else {
        for c in checks {
            eprintln!("{} {}: {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail);
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_INCOMPLETE })
}
