//! Fuzz target: `markdown_to_html` and the Markdown round trip never panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = std::str::from_utf8(data) {
        let html = ankiops_markdown::convert::markdown_to_html(md);
        let _ = ankiops_markdown::convert::html_to_markdown(&html);
        let _ = ankiops_markdown::convert::normalize_markdown(md);
    }
});
