//! The three-way sync engine: snapshots of Markdown, base and Anki in, a plan out. No I/O, no clock.
