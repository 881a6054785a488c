//! What the installed add-on can do, from `apiReflect` (reference/ankiconnect.md D0).
//!
//! The version number is 6 for every build, so behaviour is told apart by the actions a build reports:
//! `notesModTime` and `getActiveProfile` (July 2024) mark the builds whose `addNotes` is all or nothing and
//! whose `sync` reports errors; without them the GitHub 2023 behaviour applies.

use std::collections::BTreeSet;

/// Actions that builds without `apiReflect` are assumed to lack.
const RECENT_ACTIONS: &[&str] = &["notesModTime", "getActiveProfile", "canAddNotesWithErrorDetail", "apiReflect"];

/// The actions the add-on reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    actions: BTreeSet<String>,
    reflected: bool,
}

impl Capabilities {
    /// Capabilities from the list `apiReflect` returned.
    pub fn from_actions(actions: impl IntoIterator<Item = String>) -> Capabilities {
        Capabilities { actions: actions.into_iter().collect(), reflected: true }
    }

    /// Capabilities of a build too old to answer `apiReflect`: the classic actions, none of the recent ones.
    pub fn legacy() -> Capabilities {
        Capabilities { actions: BTreeSet::new(), reflected: false }
    }

    /// Whether the add-on has `action`.
    pub fn has(&self, action: &str) -> bool {
        if self.reflected { self.actions.contains(action) } else { !RECENT_ACTIONS.contains(&action) }
    }

    /// The actions `apiReflect` reported (empty for a build without it).
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().map(String::as_str)
    }

    /// A build from July 2024 or later: `notesInfo` has `mod`, `addNotes` is all or nothing, `sync` reports errors.
    pub fn is_modern(&self) -> bool {
        self.has("notesModTime") || self.has("getActiveProfile")
    }

    /// `notesModTime` exists (otherwise modification times come from `notesInfo`, and not at all before July 2024).
    pub fn has_notes_mod_time(&self) -> bool {
        self.has("notesModTime")
    }

    /// `getActiveProfile` exists.
    pub fn has_active_profile(&self) -> bool {
        self.has("getActiveProfile")
    }

    /// `canAddNotesWithErrorDetail` exists (February 2024 and later).
    pub fn has_can_add_detail(&self) -> bool {
        self.has("canAddNotesWithErrorDetail")
    }

    /// `sync` waits for the collection sync and reports its errors; older builds only press the Sync button.
    pub fn sync_reports_errors(&self) -> bool {
        self.is_modern()
    }
}
