//! Errors of the AnkiConnect client, each worded so that a user can act on it.

use std::time::Duration;

/// The boxed cause of a transport error (the HTTP library's own error).
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when talking to AnkiConnect.
///
/// The messages never contain the api key or a request body.
/// The CLI classifies errors with the `is_*` methods rather than by matching on variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing accepts connections at the URL (connection refused, unknown host, bad address).
    #[error(
        "cannot reach AnkiConnect at {url}: start Anki and check that the AnkiConnect add-on (2055492159) is installed and enabled"
    )]
    Unreachable {
        url: String,
        #[source]
        source: Source,
    },

    /// Something answered, but it does not speak the AnkiConnect protocol.
    #[error(
        "the server at {url} is not AnkiConnect (it answered `{action}` with {detail}): check the URL and the add-on's webBindPort setting"
    )]
    NotAnkiConnect { url: String, action: String, detail: String },

    /// The add-on has an apiKey configured and the request carried none.
    #[error(
        "AnkiConnect at {url} requires an api key: set ANKICONNECT_API_KEY or pass --api-key with the apiKey from the add-on's config"
    )]
    ApiKeyRequired { url: String },

    /// The request carried an api key, but the add-on has none configured (and then refuses every key).
    #[error(
        "AnkiConnect at {url} has no apiKey configured but ankiops sent one: unset ANKICONNECT_API_KEY or drop --api-key"
    )]
    ApiKeyUnexpected { url: String },

    /// The request carried an api key the add-on does not accept.
    #[error(
        "AnkiConnect at {url} rejected the api key: make ANKICONNECT_API_KEY or --api-key match the apiKey in the add-on's config, or unset it if the add-on has no apiKey"
    )]
    ApiKeyRejected { url: String },

    /// Anki has no collection open: a profile is loading, closing or being switched.
    #[error(
        "the Anki collection is not available for `{action}` (a profile is loading or Anki is between profiles): wait until Anki's main window shows a profile and retry"
    )]
    CollectionUnavailable { action: String },

    /// No complete reply within the time limit.
    #[error(
        "AnkiConnect at {url} did not answer `{action}` within {}s: Anki may be busy or waiting on a dialog (on macOS, App Nap slows it down); let Anki finish (its window responds again) before running again, or raise the limit with --timeout SECS or \"timeout\" in ankiops.json",
        .after.as_secs_f64()
    )]
    Timeout { url: String, action: String, after: Duration },

    /// The connection closed before the whole reply arrived.
    #[error("{}", dropped_message(.url, .action, *.write))]
    Dropped {
        url: String,
        action: String,
        /// Whether the action changes the collection, so that it may have been applied.
        write: bool,
        #[source]
        source: Source,
    },

    /// A write got a reply that is not AnkiConnect's (an HTML page, an HTTP error, broken JSON, a `multi` reply
    /// with too few results) from the address that answered this run's earlier requests: a fault on the way
    /// back, not a wrong URL, so the write may or may not have been applied.
    #[error(
        "AnkiConnect at {url} answered `{action}` with {detail}, although it answered this run's earlier requests: the change may or may not have been applied"
    )]
    Garbled { url: String, action: String, detail: String },

    /// The reply is JSON from AnkiConnect but not of the shape the action returns.
    #[error("malformed reply from AnkiConnect to `{action}`: {detail}")]
    Malformed { action: String, detail: String },

    /// The installed add-on does not know the action: it is older than ankiops needs.
    #[error("AnkiConnect does not support `{action}`: update the add-on (Tools > Add-ons > Check for Updates in Anki)")]
    Unsupported { action: String },

    /// `sync` on a profile that is not logged in to AnkiWeb.
    #[error("Anki is not logged in to AnkiWeb: click Sync in Anki once to log in, then retry (or skip syncing)")]
    SyncNotLoggedIn,

    /// `sync` found that only a one-way full sync can reconcile the collections.
    #[error(
        "AnkiWeb needs a one-way full sync (sync status {status}): click Sync in Anki and choose upload or download, then retry"
    )]
    FullSyncRequired { status: u32 },

    /// AnkiConnect answered with an error for the action.
    #[error("AnkiConnect `{action}` failed: {message}")]
    Anki { action: String, message: String },

    /// One sub-action of a `multi` batch failed (see [`crate::Client::multi_all`]).
    #[error("AnkiConnect `{action}` (entry {index} of the batch) failed: {message}")]
    SubAction { index: usize, action: String, message: String },

    /// A request could not be built (an invalid URL, for instance).
    #[error("invalid AnkiConnect request to {url}: {detail}")]
    Request { url: String, detail: String },
}

fn dropped_message(url: &str, action: &str, write: bool) -> String {
    let mut message = format!("AnkiConnect at {url} closed the connection before answering `{action}`");
    if write {
        message.push_str(": the change may or may not have been applied, so read the collection back before retrying");
    } else {
        message.push_str(": Anki may have been closing or busy; retry");
    }
    message
}

impl Error {
    /// Nothing listens at the URL: Anki is not running or the add-on is missing.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// Something other than AnkiConnect listens at the URL.
    pub fn is_not_anki_connect(&self) -> bool {
        matches!(self, Error::NotAnkiConnect { .. })
    }

    /// The api key is missing or wrong: a configuration error of the user.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::ApiKeyRequired { .. } | Error::ApiKeyRejected { .. } | Error::ApiKeyUnexpected { .. })
    }

    /// A profile is loading; the same request may succeed a moment later.
    pub fn is_collection_unavailable(&self) -> bool {
        matches!(self, Error::CollectionUnavailable { .. })
    }

    /// The request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// A transient condition: retrying later may succeed (timeout, dropped connection, profile loading).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::Dropped { .. } | Error::CollectionUnavailable { .. })
    }

    /// A write whose outcome is unknown: the collection must be read back before trying again.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::Dropped { write: true, .. } | Error::Garbled { .. })
            || matches!(self, Error::Timeout { action, .. } if !crate::client::is_read(action))
    }

    /// The add-on answered with an error message for the action (a rejected request, not a transport failure).
    pub fn anki_message(&self) -> Option<&str> {
        match self {
            Error::Anki { message, .. } | Error::SubAction { message, .. } => Some(message),
            _ => None,
        }
    }
}
