//! The AnkiConnect client: the only code in ankiops that speaks HTTP.
//!
//! Every trap listed in reference/ankiconnect.md is handled here, once:
//! `version: 6` on every request and `multi` sub-action, both reply shapes, a fresh connection per request,
//! `Content-Length` on every body, the api key only as the `key` field (never in `Debug` or errors),
//! `{}`/`false` for missing ids and files turned into `None`, `addNotes` replaced by a `multi` of `addNote`,
//! large batches chunked, and each failure turned into an [`Error`] the user can act on.
//!
//! ```no_run
//! use ankiops_connect::{Client, Config};
//! let client = Client::new(Config::default());
//! let decks = client.deck_names_and_ids()?;
//! # Ok::<(), ankiops_connect::Error>(())
//! ```

mod actions;
mod base64;
mod capabilities;
mod client;
mod error;
mod types;

pub use actions::NotAdded;
pub use capabilities::Capabilities;
pub use client::{API_VERSION, Action, Client, Config, DEFAULT_URL, MULTI_MAX_ACTIONS, MULTI_MAX_BYTES, PROBE_TIMEOUT};
pub use error::{Error, Source};
pub use types::{
    CardInfo, CardTemplate, FieldValue, MediaSource, NewModel, NewNote, NoteInfo, NoteMod, Permission, SyncOutcome,
};
