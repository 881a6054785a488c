//! Contracts (b) and (c): Anki HTML -> Markdown -> HTML renders the same, conversion never panics,
//! and the Markdown is always safe for deck files and stable on a second trip.
//!
//! "Renders the same" is judged on a normalised view of the DOM (html5ever's reference tree, as a browser
//! builds it), written here independently of the converter: Anki's line model (`<div>` = line, `<br>` =
//! break, `<p>` = paragraph), whitespace collapsed (NBSPs kept where they widen a space), synonyms unified (`strong`/`b`, `em`/`i`, `s`/`del`), highlighting spans in code
//! dropped, image widths and `src` encodings unified.

use ankiops_markdown::convert::{html_to_markdown, markdown_to_html};
use proptest::prelude::*;

mod support;
use support::corpus;

// ------------------------------------------------------------------------------------------------
// The HTML as a browser reads it, as a stream of tokens for the normaliser

#[derive(Debug)]
enum Tok {
    Text(String),
    Open(String, Vec<(String, String)>),
    Close(String),
}

/// The DOM of a field (html5ever's reference tree, HTML5 fragment parsing in a `<div>`), walked into tokens:
/// misnested tags, implied ends and character references are resolved as a browser resolves them.
fn tokenize(html: &str) -> Vec<Tok> {
    use html5ever::tendril::TendrilSink;
    use markup5ever_rcdom::{NodeData, RcDom};
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts { scripting_enabled: false, ..Default::default() },
        ..Default::default()
    };
    let context = html5ever::QualName::new(None, html5ever::ns!(html), html5ever::local_name!("div"));
    let dom = html5ever::parse_fragment(RcDom::default(), opts, context, Vec::new(), false).one(html);
    let mut toks = Vec::new();
    // (node, whether its children were already entered); iterative, fields may nest deeply.
    let root = dom.document.children.borrow().first().cloned();
    let mut stack: Vec<(markup5ever_rcdom::Handle, bool)> =
        root.map(|r| r.children.borrow().iter().rev().map(|c| (c.clone(), false)).collect()).unwrap_or_default();
    while let Some((node, entered)) = stack.pop() {
        match &node.data {
            NodeData::Text { contents } => toks.push(Tok::Text(contents.borrow().to_string())),
            NodeData::Element { name, attrs, .. } => {
                let tag = name.local.to_string();
                if entered {
                    toks.push(Tok::Close(tag));
                    continue;
                }
                let attrs = attrs.borrow().iter().map(|a| (a.name.local.to_string(), a.value.to_string())).collect();
                toks.push(Tok::Open(tag.clone(), attrs));
                if matches!(tag.as_str(), "script" | "style") {
                    let mut raw = String::new();
                    for c in node.children.borrow().iter() {
                        if let NodeData::Text { contents } = &c.data {
                            raw.push_str(&contents.borrow());
                        }
                    }
                    toks.push(Tok::Text(format!("[raw {}]", raw.split_whitespace().collect::<Vec<_>>().join(" "))));
                    toks.push(Tok::Close(tag));
                    continue;
                }
                if is_void(&tag) {
                    continue;
                }
                stack.push((node.clone(), true));
                for c in node.children.borrow().iter().rev() {
                    stack.push((c.clone(), false));
                }
            }
            _ => {}
        }
    }
    toks
}

// ------------------------------------------------------------------------------------------------
// The normalised view

#[derive(Debug, PartialEq)]
enum Line {
    Text(String),
    Virtual,
    Marker(String),
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

fn canonical_tag(name: &str, attrs: &[(String, String)]) -> Option<String> {
    let name = match name {
        "strong" => "b",
        "em" => "i",
        "s" | "strike" => "del",
        "span" | "font" | "tbody" | "thead" if attrs.is_empty() => return None,
        other => other,
    };
    let mut attrs: Vec<(String, String)> = attrs.to_vec();
    if name == "img" {
        let mut width = None;
        attrs.retain(|(n, v)| match n.as_str() {
            "style" => {
                let w = v.trim().trim_end_matches(';').trim();
                if let Some(px) = w.strip_prefix("width:").and_then(|x| x.trim().strip_suffix("px")) {
                    width = px.trim().split('.').next().map(str::to_owned);
                    false
                } else {
                    true
                }
            }
            "width" => {
                width = Some(v.trim_end_matches("px").to_owned());
                false
            }
            "alt" => !v.is_empty(),
            _ => true,
        });
        for (n, v) in &mut attrs {
            if n == "src" {
                *v = percent_decode(v);
            }
        }
        if let Some(w) = width {
            attrs.push(("width".into(), w));
        }
    }
    if name == "input" {
        return Some(if attrs.iter().any(|(n, _)| n == "checked") { "[x]" } else { "[ ]" }.into());
    }
    if name == "code" || name == "pre" {
        attrs.retain(|(n, _)| n != "class");
    }
    attrs.sort();
    let mut s = format!("<{name}");
    for (n, v) in attrs {
        s.push_str(&format!(" {n}={v:?}"));
    }
    s.push('>');
    Some(s)
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "ul" | "ol"
            | "li"
            | "table"
            | "tr"
            | "td"
            | "th"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "hr"
            | "pre"
            | "details"
            | "summary"
            | "script"
            | "style"
    )
}

fn is_void(name: &str) -> bool {
    matches!(name, "br" | "img" | "hr" | "input" | "meta" | "wbr" | "col")
}

/// An open element in the normaliser: its name, and its canonical open tag if it is inline formatting.
struct Open {
    name: String,
    inline_tag: Option<String>,
}

fn close_of(tag: &str) -> String {
    let name = tag.trim_start_matches('<').split([' ', '>']).next().unwrap_or("");
    format!("</{name}>")
}

/// The normalised rendering of an HTML field, one entry per visual line or block boundary.
fn view(html: &str) -> String {
    let toks = tokenize(html);
    let mut lines: Vec<Line> = Vec::new();
    let mut cur = String::new();
    let mut in_pre = 0usize;
    let mut lang = String::new();
    let mut stack: Vec<Open> = Vec::new();
    // Ends the current line; inline formatting still open continues on the next line.
    let flush = |cur: &mut String, lines: &mut Vec<Line>, stack: &[Open], hard: bool| {
        for o in stack.iter().rev() {
            if let Some(t) = &o.inline_tag {
                cur.push_str(&close_of(t));
            }
        }
        let t = tidy(cur);
        if hard || !t.is_empty() {
            lines.push(Line::Text(t));
        }
        cur.clear();
        for o in stack {
            if let Some(t) = &o.inline_tag {
                cur.push_str(t);
            }
        }
    };
    let pop_to = |name: &str, cur: &mut String, lines: &mut Vec<Line>, stack: &mut Vec<Open>| {
        if let Some(pos) = stack.iter().rposition(|o| o.name == name) {
            while stack.len() > pos {
                if let Some(o) = stack.pop() {
                    match &o.inline_tag {
                        Some(t) => cur.push_str(&close_of(t)),
                        None if is_block(&o.name) => lines.push(Line::Marker(format!("</{}>", o.name))),
                        None => {}
                    }
                }
            }
        }
    };
    for tok in toks {
        match tok {
            Tok::Text(t) => {
                if in_pre > 0 {
                    cur.push_str(&t.replace(' ', "\u{1}"));
                } else {
                    cur.push_str(&t);
                }
            }
            Tok::Open(name, attrs) => {
                if in_pre > 0 {
                    if name == "br" {
                        cur.push('\u{2}');
                    }
                    if name == "code"
                        && let Some((_, c)) = attrs.iter().find(|(n, _)| n == "class")
                    {
                        lang = c.clone();
                    }
                    continue;
                }
                let n = name.as_str();
                if n == "br" {
                    flush(&mut cur, &mut lines, &stack, true);
                    continue;
                }
                let line_box = (n == "div" || n == "p") && attrs.is_empty();
                if line_box || is_block(n) || n == "div" || n == "p" {
                    if n == "li" && stack.last().is_some_and(|o| o.name == "li") {
                        flush(&mut cur, &mut lines, &stack, false);
                        pop_to("li", &mut cur, &mut lines, &mut stack);
                    }
                    flush(&mut cur, &mut lines, &stack, false);
                    if n == "p" && attrs.is_empty() {
                        lines.push(Line::Virtual);
                    }
                    if !line_box {
                        if n == "pre" {
                            in_pre += 1;
                            cur.clear();
                            lang = attrs.iter().find(|(n, _)| n == "class").map(|(_, c)| c.clone()).unwrap_or_default();
                        }
                        let mut attrs = attrs;
                        if n == "ol" {
                            attrs.retain(|(a, v)| !(a == "start" && v == "1"));
                        }
                        if let Some(tag) = canonical_tag(n, &attrs) {
                            lines.push(Line::Marker(tag));
                        }
                    }
                    if !is_void(n) {
                        stack.push(Open { name: name.clone(), inline_tag: None });
                    }
                    continue;
                }
                if let Some(tag) = canonical_tag(n, &attrs) {
                    cur.push_str(&tag);
                    if !is_void(n) {
                        let fmt = !tag.contains(' ')
                            || tag.starts_with("<a ")
                            || tag.starts_with("<span")
                            || tag.starts_with("<font");
                        stack.push(Open { name: name.clone(), inline_tag: fmt.then_some(tag) });
                    }
                } else if !is_void(n) {
                    stack.push(Open { name: name.clone(), inline_tag: None });
                }
            }
            Tok::Close(name) => {
                if in_pre > 0 && name != "pre" {
                    continue;
                }
                if !stack.iter().any(|o| o.name == name) {
                    continue;
                }
                let n = name.as_str();
                if n == "pre" {
                    in_pre = in_pre.saturating_sub(1);
                    let text = cur.replace('\u{1}', " ").replace('\u{2}', "\n");
                    let text = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                    let l = lang.split_whitespace().find_map(|c| c.strip_prefix("language-")).unwrap_or("").to_owned();
                    lines.push(Line::Marker(format!("code {l:?} {text:?}")));
                    cur.clear();
                    pop_to(n, &mut cur, &mut lines, &mut stack);
                    continue;
                }
                let blockish = is_block(n) || n == "div" || n == "p";
                if blockish {
                    flush(&mut cur, &mut lines, &stack, false);
                }
                pop_to(n, &mut cur, &mut lines, &mut stack);
                if blockish {
                    // Inline formatting closed by this block end must not leak into the next line.
                    cur.clear();
                    for o in &stack {
                        if let Some(t) = &o.inline_tag {
                            cur.push_str(t);
                        }
                    }
                    if n == "p" {
                        lines.push(Line::Virtual);
                    }
                }
            }
        }
    }
    flush(&mut cur, &mut lines, &stack, false);
    // Virtual paragraph breaks count as one empty line between two lines of text, else nothing.
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match l {
            Line::Text(t) => out.push(t.clone()),
            Line::Marker(m) => out.push(m.clone()),
            Line::Virtual => {
                let prev_text = matches!(lines[..i].iter().rev().find(|l| !matches!(l, Line::Virtual)), Some(Line::Text(t)) if !t.is_empty());
                let next_text = matches!(lines[i + 1..].iter().find(|l| !matches!(l, Line::Virtual)), Some(Line::Text(t)) if !t.is_empty());
                if prev_text && next_text && out.last().is_some_and(|l| !l.is_empty()) {
                    out.push(String::new());
                }
            }
        }
    }
    // A trailing break at the end of a block renders nothing.
    out.join("\n")
}

/// Inline normalisation: whitespace collapsed and moved out of formatting, empty and adjacent
/// formatting merged, directly nested formatting sorted.
fn tidy(s: &str) -> String {
    // A whitespace run renders as one space unless NBSPs make it wider: then as that many NBSPs.
    let mut t: String = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_whitespace() {
            t.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| c.is_whitespace()).count();
        let nbsp = chars[i..i + run].iter().filter(|&&c| c == '\u{a0}').count();
        let width = nbsp + usize::from(run > nbsp);
        if width <= 1 {
            t.push(' ');
        } else {
            t.extend(std::iter::repeat_n('\u{a0}', width));
        }
        i += run;
    }
    let fmt = ["b", "i", "del", "mark", "sup", "sub", "u"];
    loop {
        let before = t.clone();
        for f in fmt {
            let open = format!("<{f}>");
            let close = format!("</{f}>");
            t = t.replace(&format!("{open} "), &format!(" {open}"));
            t = t.replace(&format!(" {close}"), &format!("{close} "));
            t = t.replace(&format!("{open}{close}"), "");
            t = t.replace(&format!("{close}{open}"), "");
            for g in fmt {
                if f < g {
                    t = t.replace(&format!("<{g}><{f}>"), &format!("<{f}><{g}>"));
                    t = t.replace(&format!("</{f}></{g}>"), &format!("</{g}></{f}>"));
                }
            }
        }
        t = t.replace("  ", " ");
        if t == before {
            break;
        }
    }
    t.trim().replace('\u{1}', " ").to_owned()
}

fn check_html(name: &str, html: &str) -> Result<(), String> {
    let md = html_to_markdown(html);
    let back = markdown_to_html(&md);
    let (a, b) = (view(html), view(&back));
    if a != b {
        return Err(format!(
            "--- {name}\n  html: {html:?}\n  md:   {md:?}\n  back: {back:?}\n  view before: {a:?}\n  view after:  {b:?}"
        ));
    }
    // Second trip: the Markdown is canonical.
    let md2 = html_to_markdown(&back);
    if md2 != md {
        return Err(format!("--- {name}: second trip differs\n  md:  {md:?}\n  md2: {md2:?}"));
    }
    deck_safe(&md).map_err(|e| format!("--- {name}: {e}\n  md: {md:?}"))
}

/// The deck-file guarantees: outside fenced code, no separator-like or label-like lines.
fn deck_safe(md: &str) -> Result<(), String> {
    if md != md.trim() || md.starts_with('\n') {
        return Err("leading or trailing blank lines".into());
    }
    let mut fence: Option<(char, usize)> = None;
    let mut prev_text = false;
    let mut prev_indent = 0usize;
    for line in md.lines() {
        if let Some((ch, n)) = fence {
            let t = line.trim_start();
            if t.chars().take_while(|c| *c == ch).count() >= n && t.trim_end_matches(ch).trim().is_empty() {
                fence = None;
            }
            continue;
        }
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let ticks = t.chars().take_while(|c| *c == '`').count();
        if ticks >= 3 && !t[ticks..].contains('`') {
            fence = Some(('`', ticks));
            continue;
        }
        let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        if indent < 4 && compact.len() >= 3 && (compact.chars().all(|c| c == '-') || compact.chars().all(|c| c == '_'))
        {
            return Err(format!("thematic break line {line:?}"));
        }
        if prev_text
            && indent >= prev_indent
            && indent < 4
            && !compact.is_empty()
            && (compact.chars().all(|c| c == '-') || compact.chars().all(|c| c == '='))
        {
            return Err(format!("setext underline {line:?}"));
        }
        let b = line.as_bytes();
        if b.first().is_some_and(u8::is_ascii_uppercase) {
            let n = b.iter().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_').count();
            if b.get(n) == Some(&b':') && b.get(n + 1).is_none_or(|c| *c == b' ') {
                return Err(format!("label line {line:?}"));
            }
        }
        for m in ["<<<<<<<", "|||||||", "=======", ">>>>>>>"] {
            if line.starts_with(m) {
                return Err(format!("conflict marker line {line:?}"));
            }
        }
        let marker = t.starts_with(['#', '>', '|', '<'])
            || t == "-"
            || t == "*"
            || t == "+"
            || t.starts_with("- ")
            || t.starts_with("* ")
            || t.starts_with("+ ")
            || t.split_once(['.', ')']).is_some_and(|(n, r)| {
                !n.is_empty()
                    && n.len() < 10
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (r.is_empty() || r.starts_with(' '))
            });
        prev_text = !t.is_empty() && !marker;
        prev_indent = indent;
    }
    Ok(())
}

#[test]
fn corpus_html_renders_the_same() {
    let cases = corpus(include_str!("data/convert/anki_html.txt"));
    assert!(cases.len() >= 100, "corpus has {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|(n, h)| check_html(n, h).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn markdown_corpus_html_is_stable() {
    // The HTML we write ourselves must come back to the same Markdown, and render the same.
    let cases = corpus(include_str!("data/convert/markdown_roundtrip.txt"));
    let failures: Vec<String> = cases.iter().filter_map(|(n, md)| check_html(n, &markdown_to_html(md)).err()).collect();
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// Arbitrary input

fn html_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 ]{1,10}",
        2 => prop::sample::select(vec![
            "*", "**", "_", "__", "~", "~~", "^", "==", "=", "$", "$$", "`", "```", "\\", "\\(", "\\)",
            "\\[", "\\]", "[", "]", "(", ")", "<", ">", "&", "&amp;", "&lt;", "&nbsp;", "#", "# ",
            "- ", "---", "+ ", "1. ", "> ", "|", ":", "A:", "E: ", "Q:", "{{c1::", "}}", "::", "!",
            "www.", "http://x.y", "@", "=======", "<<<<<<<", "\t", "\n", "  ", "中", "ש", "🎉", "'", "\"",
        ])
        .prop_map(str::to_owned),
        3 => prop::sample::select(vec![
            "<b>", "</b>", "<i>", "</i>", "<u>", "</u>", "<div>", "</div>", "<br>", "<p>", "</p>",
            "<ul><li>", "</li><li>", "</li></ul>", "<ol><li>", "</ol>", "<code>", "</code>",
            "<pre><code class=\"language-rust\">", "</code></pre>", "<sub>", "</sub>", "<sup>",
            "</sup>", "<del>", "</del>", "<mark>", "</mark>", "<a href=\"https://e.com\">", "</a>",
            "<img src=\"a b.png\" style=\"width: 30px\">", "<span style=\"color:red\">", "</span>",
            "<h2>", "</h2>", "<blockquote>", "</blockquote>", "<hr>", "<table><tr><th>", "</th><th>",
            "</th></tr><tr><td>", "</td><td>", "</td></tr></table>", "<!-- c -->", "<font color=red>",
            "</font>",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        let html = markdown_to_html(&s);
        let md = html_to_markdown(&s);
        let _ = html_to_markdown(&html);
        let _ = markdown_to_html(&md);
        prop_assert!(deck_safe(&md).is_ok(), "{:?} -> {:?}: {:?}", s, md, deck_safe(&md));
    }

    #[test]
    fn html_soup_is_deck_safe(html in html_soup()) {
        // Known gap: for some exotic soups (delimiters of several kinds nested across divs, math
        // split by blocks) the Markdown needs a second trip to settle, so only safety is asserted
        // here; stability is asserted on both corpora above.
        let md = html_to_markdown(&html);
        prop_assert!(deck_safe(&md).is_ok(), "{:?} -> {:?}: {:?}", html, md, deck_safe(&md));
        let md2 = html_to_markdown(&markdown_to_html(&md));
        prop_assert!(deck_safe(&md2).is_ok(), "{:?} -> {:?}", html, md2);
    }

    #[test]
    fn markdown_soup_never_panics_and_is_deck_safe(md in html_soup()) {
        let md1 = html_to_markdown(&markdown_to_html(&md));
        prop_assert!(deck_safe(&md1).is_ok(), "{:?} -> {:?}", md, md1);
    }
}
