//! Pure text transformations for ankiops: Markdown <-> Anki HTML, and the deck-file syntax.
//!
//! Nothing in this crate does I/O: text in, text out.

pub mod convert;
pub mod deck;
pub mod note_types;

pub use note_types::{FieldSpec, NoteKind, NoteTypeSpec, Registry};
