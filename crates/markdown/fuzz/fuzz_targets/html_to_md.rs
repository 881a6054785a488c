//! Fuzz target: `html_to_markdown` and the HTML round trip never panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(html) = std::str::from_utf8(data) {
        let md = ankiops_markdown::convert::html_to_markdown(html);
        let _ = ankiops_markdown::convert::markdown_to_html(&md);
    }
});
