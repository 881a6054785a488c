//! The Anki side of a run: reading the managed notes into a snapshot with as few requests as possible, and
//! converting between Anki notes and the engine's canonical Markdown.

use std::collections::{BTreeMap, BTreeSet};

use ankiops_connect::{Capabilities, Client, NoteInfo};
use ankiops_markdown::Registry;
use ankiops_markdown::convert::{html_to_markdown, markdown_to_html, normalize_markdown};
use ankiops_sync::{NoteId, NoteState};

use crate::base::Seen;
use crate::error::Result;

/// Every managed note Anki holds, as the engine sees it, plus what was read for the next base.
pub struct AnkiSnapshot {
    pub notes: BTreeMap<NoteId, NoteState>,
    pub seen: BTreeMap<NoteId, Seen>,
    /// Deck name to id, for `deck_id` comments.
    pub deck_ids: BTreeMap<String, i64>,
    /// How many notes needed `notesInfo` (changed since the base).
    pub fetched: usize,
}

/// The search that finds every note of the managed note types.
pub fn managed_query(registry: &Registry) -> String {
    registry.iter().map(|t| format!("\"note:{}\"", escape_search(&t.name))).collect::<Vec<_>>().join(" OR ")
}

/// Escapes Anki search syntax inside a quoted term.
pub fn escape_search(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '*' | '_' | '\\' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reads the managed notes: `findNotes`, `notesModTime`, `notesInfo` only for notes whose `mod` moved since
/// the base, and `getDecks` for the deck of every note. A handful of requests at any size.
/// `previous` is what the base remembers Anki held (moved in: unchanged notes are taken over, not copied).
pub fn read(
    client: &Client,
    caps: &Capabilities,
    registry: &Registry,
    mut previous: BTreeMap<NoteId, Seen>,
) -> Result<AnkiSnapshot> {
    let ids = client.find_notes(&managed_query(registry))?;
    let mut changed: Vec<NoteId> = Vec::new();
    let mut seen: BTreeMap<NoteId, Seen> = BTreeMap::new();
    if caps.has_notes_mod_time() {
        for (id, m) in ids.iter().zip(client.notes_mod_time(&ids)?) {
            match (m.and_then(|m| m.mod_time), previous.get(id)) {
                (Some(now), Some(s)) if s.mod_time == now && now < s.observed => {
                    if let Some(s) = previous.remove(id) {
                        seen.insert(*id, s);
                    }
                }
                (Some(_), _) | (None, _) => changed.push(*id),
            }
        }
    } else {
        changed = ids.clone();
    }
    let fetched = changed.len();
    let observed = crate::base::now_secs();
    for info in client.notes_info(&changed)?.into_iter().flatten() {
        let before = previous.get(&info.note_id);
        let mut now = seen_from_info(&info, before, registry);
        now.observed = observed;
        seen.insert(info.note_id, now);
    }
    // Deck membership and deck ids in one request: `getDecks` of every note's first card and `deckNamesAndIds`.
    let cards: Vec<i64> = seen.values().filter_map(|s| s.cards.first().copied()).collect();
    let (decks, deck_ids) = client.decks_of_cards_and_ids(&cards)?;
    let mut deck_of_card: BTreeMap<i64, String> = BTreeMap::new();
    for (deck, cards) in decks {
        for card in cards {
            deck_of_card.insert(card, deck.clone());
        }
    }
    let notes = seen
        .iter()
        .map(|(id, s)| {
            let deck = s.cards.first().and_then(|c| deck_of_card.get(c)).cloned().unwrap_or_default();
            (*id, state_of(s, deck))
        })
        .collect();
    Ok(AnkiSnapshot { notes, seen, deck_ids, fetched })
}

/// The engine's view of a note Anki holds.
pub fn state_of(seen: &Seen, deck: String) -> NoteState {
    NoteState {
        note_type: seen.note_type.clone(),
        deck,
        fields: seen.markdown.to_map(),
        tags: seen.tags.iter().cloned().collect::<BTreeSet<_>>(),
    }
    .normalized()
}

/// Converts a note read from Anki. A field whose HTML is what Anki held last time keeps its Markdown from
/// then, so an imperfect round trip never shows up as a change. Only the managed type's fields are kept.
pub fn seen_from_info(info: &NoteInfo, previous: Option<&Seen>, registry: &Registry) -> Seen {
    let spec = registry.get(&info.model_name);
    let mut html = BTreeMap::new();
    let mut markdown = BTreeMap::new();
    for (name, value) in info.fields.iter().map(|(n, f)| (n, &f.value)) {
        if spec.is_some_and(|s| s.field_by_name(name).is_none()) || value.is_empty() {
            continue;
        }
        let md = match previous {
            Some(p) if p.html.get(name) == Some(value) => p.markdown.get(name).cloned().unwrap_or_default(),
            _ => normalize_markdown(&html_to_markdown(value)),
        };
        html.insert(name.clone(), value.clone());
        if !md.is_empty() {
            markdown.insert(name.clone(), md);
        }
    }
    let mut tags: Vec<String> = info.tags.iter().filter(|t| !t.is_empty()).cloned().collect();
    tags.sort();
    tags.dedup();
    Seen {
        mod_time: info.mod_time.unwrap_or_default(),
        note_type: info.model_name.clone(),
        html: html.into_iter().collect(),
        markdown: markdown.into_iter().collect(),
        tags,
        cards: info.cards.clone(),
        observed: 0,
    }
}

/// The field HTML to send for a note: every field of its type, empty ones as `""` so removed content is cleared.
pub fn fields_html(state: &NoteState, registry: &Registry) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match registry.get(&state.note_type) {
        Some(spec) => {
            for name in spec.field_names() {
                let md = state.field(name);
                out.insert(name.to_string(), if md.is_empty() { String::new() } else { markdown_to_html(md) });
            }
        }
        None => {
            for (name, md) in &state.fields {
                out.insert(name.clone(), markdown_to_html(md));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_query_quotes_and_escapes_type_names() {
        let q = managed_query(&Registry::builtin());
        assert!(q.starts_with("\"note:AnkiOpsQA\" OR \"note:AnkiOpsReversed\""), "{q}");
        assert_eq!(escape_search("My_Type: \"x\""), "My\\_Type\\: \\\"x\\\"");
    }
}
