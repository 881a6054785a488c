//! The deck-file syntax: parse and write `Deck.md` files without loss (design.md §3).
