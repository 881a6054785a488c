//! Deck names the user typed (`am --deck NAME`): whether Anki has that deck, and which of its decks are close.

use ankiops_markdown::deck::deck_key;

use crate::error::{CliError, Result};

/// How many close decks an error names at most.
const MAX_SUGGESTIONS: usize = 5;

/// Succeeds if Anki has the deck `wanted` or a subdeck of it (names compared as Anki does, ignoring case).
/// Otherwise the error names the decks of `anki` that are close to it, and says what to do; `markdown` are the
/// decks of the collection's files, to tell a deck that was never pushed from a typo.
pub fn require_in_anki<'a>(
    wanted: &str,
    anki: impl IntoIterator<Item = &'a String>,
    markdown: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let key = deck_key(wanted);
    let anki: Vec<&String> = anki.into_iter().collect();
    if anki.iter().any(|name| in_deck(&key, name)) {
        return Ok(());
    }
    let message =
        format!("Anki has no deck \"{wanted}\" (nor a subdeck of it), so --deck \"{wanted}\" has nothing to pull");
    if let Some(file) = markdown.into_iter().find(|name| in_deck(&key, name)) {
        return Err(CliError::input(message).hint(format!(
            "the deck \"{file}\" is only in the Markdown: run `ankiops ma` first to create it in Anki"
        )));
    }
    let close = close_decks(wanted, anki.iter().map(|n| n.as_str()));
    let error = CliError::input(message);
    Err(match close.as_slice() {
        [] if anki.is_empty() => error.hint("Anki has no decks at all: check the profile open in Anki"),
        [] => error.hint(format!(
            "no deck of Anki has a name close to it; Anki's decks are {}; pass one of them (in quotes if it has spaces)",
            quoted(anki.iter().map(|n| n.as_str()).take(20))
        )),
        [one] => error.hint(format!("did you mean \"{one}\"? run again with --deck \"{one}\"")),
        many => error.hint(format!("close decks in Anki: {}; run again with --deck and one of them", quoted(many.iter().copied()))),
    })
}

/// Whether the deck `name` is the deck whose key is `key`, or one of its subdecks.
fn in_deck(key: &str, name: &str) -> bool {
    let name = deck_key(name);
    name == key || name.strip_prefix(key).is_some_and(|rest| rest.starts_with("::"))
}

/// The names of `decks` close to `wanted`, closest first: ignoring case, one is a prefix or a part of the other,
/// or they are a few edits apart (a third of the length, at least one); the last component of a nested name
/// (`Languages::Spanish`) counts as well as the whole.
fn close_decks<'a>(wanted: &str, decks: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = deck_key(wanted);
    let wanted_len = wanted.chars().count();
    let mut scored: Vec<(usize, &str)> = decks
        .into_iter()
        .filter_map(|name| {
            let key = deck_key(name);
            let leaf = key.rsplit("::").next().unwrap_or(&key).to_owned();
            let score = [key, leaf]
                .iter()
                .filter_map(|candidate| {
                    if candidate.contains(&wanted) || wanted.contains(candidate.as_str()) {
                        // Containment ranks by how much is left over, before any misspelling.
                        return Some(candidate.chars().count().abs_diff(wanted_len));
                    }
                    let distance = levenshtein(&wanted, candidate);
                    let allowed = (wanted_len.max(candidate.chars().count()) / 3).max(1);
                    (distance <= allowed).then_some(distance * 100)
                })
                .min()?;
            Some((score, name))
        })
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, name)| name).take(MAX_SUGGESTIONS).collect()
}

/// The number of single-character insertions, deletions and substitutions that turn `a` into `b`.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("spansh", "spanish"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("über", "uber"), 1);
    }

    #[test]
    fn close_decks_are_found_ignoring_case() {
        let decks = ["Spanish", "Languages::Spanish Verbs", "French", "Biology::Cells", "Default"];
        let close = |wanted| close_decks(wanted, decks);
        assert_eq!(close("Spansh"), ["Spanish"]);
        assert_eq!(close("spanish"), ["Spanish", "Languages::Spanish Verbs"]);
        assert_eq!(close("cell"), ["Biology::Cells"]);
        assert_eq!(close("BIO"), ["Biology::Cells"]);
        assert_eq!(close("frnch"), ["French"]);
        assert!(close("Chemistry").is_empty());
    }

    #[test]
    fn a_deck_or_its_subdeck_is_enough() {
        let anki = ["Bio::Cells".to_owned(), "Spanish".to_owned()];
        assert!(require_in_anki("bio", &anki, []).is_ok());
        assert!(require_in_anki("SPANISH", &anki, []).is_ok());
        let err = require_in_anki("Bi", &anki, []).unwrap_err();
        assert!(err.to_string().contains("Anki has no deck \"Bi\""), "{err}");
        let err = require_in_anki("Spansh", &anki, []).unwrap_err();
        assert_eq!(err.hints, ["did you mean \"Spanish\"? run again with --deck \"Spanish\""]);
        let err = require_in_anki("New", &anki, ["New::Deck"]).unwrap_err();
        assert!(err.hints[0].contains("\"New::Deck\" is only in the Markdown: run `ankiops ma` first"), "{err:?}");
    }
}
