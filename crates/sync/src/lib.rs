//! The three-way sync engine: snapshots of Markdown, base and Anki in, a plan out. No I/O, no clock.
//!
//! The CLI reads the three snapshots (the deck files, the base stored in Git, what Anki holds now), calls
//! [`plan`], carries out the plan, and stores the new base. Everything here is a pure function of its input, so
//! every sync case is a data-driven test.

mod align;
mod engine;
mod merge;
mod model;
mod next;

pub use align::{AnkiHtml, HtmlDigest, align};
pub use engine::plan;
pub use merge::{Merge, Sides};
pub use model::{
    AnkiChange, BaseChange, Conflict, ConflictKind, Direction, FieldClash, Input, MarkdownChange, NoteId, NotePlan,
    NoteRef, NoteState, Options, Plan, Recognised, Skip, Summary,
};
pub use next::{Applied, next_base};
