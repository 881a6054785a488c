//! Markdown <-> Anki HTML conversion (design.md §6).
//!
//! All pure: [`markdown_to_html`] renders field Markdown for Anki, [`html_to_markdown`] turns Anki field HTML
//! back into canonical Markdown that a deck file can hold, [`normalize_markdown`] is the one normalisation used
//! for equality, and [`HIGHLIGHT_CSS`] styles the code-highlighting classes produced by [`markdown_to_html`].
//! Images in `media/`: an image's `src` is the file name exactly as Anki stores it (HTML-escaped, never
//! percent-encoded); [`media_destination`] spells such a name in Markdown and [`percent_decode`] reads it back.
//!
//! Contract (tested in `tests/convert_*.rs`): canonical Markdown survives Markdown -> HTML -> Markdown
//! unchanged, HTML -> Markdown -> HTML renders the same, and neither direction panics on any input.

mod highlight;
mod html;
mod to_html;
mod to_markdown;

pub use highlight::HIGHLIGHT_CSS;
pub use html::decode_entities;
pub use to_html::{markdown_to_html, percent_decode};
pub use to_markdown::{html_to_markdown, media_destination};

use unicode_normalization::UnicodeNormalization;

/// The one normalisation used for equality of field Markdown.
///
/// NFC, CRLF/CR -> LF, trailing whitespace removed from every line, leading and trailing blank
/// lines removed from the field. Idempotent and cheap.
pub fn normalize_markdown(md: &str) -> String {
    let text: String = if md.is_ascii() { md.to_owned() } else { md.nfc().collect() };
    let text = if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text };
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Drop leading blank lines (but keep the first line's indentation) and all trailing whitespace.
    let start = out.char_indices().take_while(|&(_, c)| c == '\n').count();
    let trimmed = out[start..].trim_end();
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_idempotent_and_trims() {
        let cases = [
            ("a  \r\nb\t\n\n\n", "a\nb"),
            ("\n\n  code\n", "  code"),
            ("e\u{301}", "\u{e9}"),
            ("", ""),
            ("x\ry", "x\ny"),
        ];
        for (input, want) in cases {
            let got = normalize_markdown(input);
            assert_eq!(got, want, "{input:?}");
            assert_eq!(normalize_markdown(&got), got);
        }
    }
}
