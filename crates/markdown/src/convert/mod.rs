//! Markdown <-> Anki HTML conversion (design.md §6).
