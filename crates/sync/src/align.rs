//! Before planning: Markdown and Anki compared as the HTML Anki holds, for the two rules where spelling must
//! not count as an edit. The engine knows no HTML; the caller answers through [`AnkiHtml`].

use std::collections::BTreeMap;

use crate::model::{Input, NoteId, NoteState};

/// A digest of a note's field HTML (non-empty fields, by name).
pub type HtmlDigest = [u8; 20];

/// What the HTML Anki holds says, for [`align`].
pub trait AnkiHtml {
    /// The digest of the HTML `note`'s fields convert to.
    fn markdown_digest(&self, note: &NoteState) -> HtmlDigest;
    /// The same digest of the HTML Anki's note `id` holds; `None` when it was not read.
    fn anki_digest(&self, id: NoteId) -> Option<HtmlDigest>;
    /// Whether field `field` of Anki's note `id` holds exactly the HTML `markdown` converts to (`""`: empty).
    fn field_is(&self, id: NoteId, field: &str, markdown: &str) -> bool;
}

/// Makes Anki's side read as the Markdown wherever the HTML is the same, so the plan sees no change there:
/// - a field whose Markdown converts to exactly the HTML Anki holds is the same on both sides, however the
///   Markdown was spelled (a folder made by another tool, a first run, a field whose round trip is not exact);
/// - a new Markdown note whose HTML is exactly what an Anki note unknown to the base and to the Markdown holds
///   (same deck, type and tags) is that note: an earlier run added it and stopped before writing the id back.
///   The plan then pairs them ([`crate::MarkdownChange::AssignId`]) instead of adding a duplicate.
///
/// Only fields that differ as Markdown are compared, and each new note is converted once, so an untouched
/// collection costs nothing here.
pub fn align(input: &mut Input, html: &dyn AnkiHtml) {
    align_fields(input, html);
    align_recreated(input, html);
}

fn align_fields(input: &mut Input, html: &dyn AnkiHtml) {
    for (id, md) in &input.markdown {
        let Some(anki) = input.anki.get_mut(id) else { continue };
        if anki.fields == md.fields || anki.note_type != md.note_type {
            continue;
        }
        let names: Vec<String> = md.fields.keys().chain(anki.fields.keys()).cloned().collect();
        for name in names {
            let (ours, theirs) = (md.field(&name), anki.field(&name));
            if ours == theirs || !html.field_is(*id, &name, ours) {
                continue;
            }
            if ours.is_empty() {
                anki.fields.remove(&name);
            } else {
                anki.fields.insert(name, ours.to_string());
            }
        }
    }
}

fn align_recreated(input: &mut Input, html: &dyn AnkiHtml) {
    if input.new_in_markdown.is_empty() {
        return;
    }
    let orphans: Vec<NoteId> = input
        .anki
        .keys()
        .filter(|id| !input.base.contains_key(id) && !input.markdown.contains_key(id))
        .copied()
        .collect();
    if orphans.is_empty() {
        return;
    }
    let mut wanted: BTreeMap<HtmlDigest, Vec<usize>> = BTreeMap::new();
    for (i, state) in input.new_in_markdown.iter().enumerate() {
        wanted.entry(html.markdown_digest(state)).or_default().push(i);
    }
    for id in orphans {
        let (Some(anki), Some(digest)) = (input.anki.get(&id), html.anki_digest(id)) else { continue };
        let Some(candidates) = wanted.get(&digest) else { continue };
        let found = candidates
            .iter()
            .map(|i| &input.new_in_markdown[*i])
            .find(|md| md.deck == anki.deck && md.note_type == anki.note_type && md.tags == anki.tags);
        if let Some(md) = found {
            let md = md.clone();
            input.anki.insert(id, md);
        }
    }
}
