//! Anki field HTML -> canonical field Markdown, the inverse of `to_html`.
//!
//! The HTML is read the way Anki's editor writes it: `<div>`s are lines, `<br>` breaks lines,
//! two breaks make a paragraph. Lines become Markdown paragraphs (a single newline is a `<br>` on
//! the way back), extra empty lines become literal `<br>`s. Whatever Markdown cannot express is kept
//! as HTML. Text is escaped only where re-parsing would change its meaning, and the output is safe
//! for deck files: no `---`-like lines, no `LABEL:` at column 0, no conflict-marker lines, no setext
//! headings outside code blocks.

use super::html::{self, Element, Node};
use super::to_html::is_external;

/// Stand-in for a text `$` until its paragraph is complete and we know whether it must be escaped.
const DOLLAR: char = '\u{E000}';

/// Converts Anki field HTML to canonical field Markdown. Never panics.
pub fn html_to_markdown(html: &str) -> String {
    let nodes = html::parse(html);
    let mut partners = Partners::default();
    partners.count(&nodes);
    PARTNERS.with(|p| p.set(partners));
    let md = container(&nodes, false);
    let md = if md.contains(DOLLAR) { md.replace(DOLLAR, "\\$") } else { md };
    let md = super::normalize_markdown(&md);
    // The deck parser trims fields: keep visible leading whitespace (e.g. U+2002) as a reference.
    match md.chars().next() {
        Some(c) if c.is_whitespace() => format!("&#x{:X};{}", c as u32, &md[c.len_utf8()..]),
        _ => md,
    }
}

/// How many delimiter characters the field holds, in text and as Markdown written for elements.
///
/// A run of `*`, `_`, `~`, `^` or `=` in text can only change meaning if another run of the same
/// character exists in the field, so lone `5*` or `a ==> b` are written without escapes.
#[derive(Clone, Copy, Default)]
struct Partners {
    star: usize,
    underscore: usize,
    tilde: usize,
    caret: usize,
    equals: usize,
}

impl Partners {
    fn slot(&mut self, c: char) -> Option<&mut usize> {
        match c {
            '*' => Some(&mut self.star),
            '_' => Some(&mut self.underscore),
            '~' => Some(&mut self.tilde),
            '^' => Some(&mut self.caret),
            '=' => Some(&mut self.equals),
            _ => None,
        }
    }

    fn count(&mut self, nodes: &[Node]) {
        for n in nodes {
            match n {
                Node::Text(t) => {
                    for c in t.chars() {
                        if let Some(slot) = self.slot(c) {
                            *slot += 1;
                        }
                    }
                }
                Node::Comment(_) => {}
                // Code is written verbatim: neither its text nor its markup produces delimiters.
                Node::Element(e) if e.name == "pre" || e.name == "code" => {}
                Node::Element(e) => {
                    let delim = match e.name.as_str() {
                        "b" | "strong" | "i" | "em" => Some('*'),
                        "del" | "s" | "strike" | "sub" => Some('~'),
                        "mark" => Some('='),
                        "sup" => Some('^'),
                        _ => None,
                    };
                    let mut text = String::new();
                    text_content(&e.children, &mut text);
                    let visible = !text.trim().is_empty() || has_element(&e.children, &["img", "input"]);
                    if visible && let Some(slot) = delim.and_then(|d| self.slot(d)) {
                        *slot += 4;
                    }
                    self.count(&e.children);
                }
            }
        }
    }

    /// Whether a run of `run` characters `c` may pair with another run in the field.
    fn may_pair(mut self, c: char, run: usize) -> bool {
        self.slot(c).is_none_or(|n| *n > run)
    }
}

thread_local! {
    /// The [`Partners`] of the field being converted (set at the start of [`html_to_markdown`]).
    static PARTNERS: std::cell::Cell<Partners> = const { std::cell::Cell::new(Partners {
        star: usize::MAX,
        underscore: usize::MAX,
        tilde: usize::MAX,
        caret: usize::MAX,
        equals: usize::MAX,
    }) };
}

// ---------------------------------------------------------------------------------------------
// Classification

enum Class {
    Br,
    /// `<div>` without attributes: its boundaries are line boundaries.
    Line,
    /// `<p>` without attributes: its boundaries are paragraph boundaries.
    Para,
    /// `<span>`/`<font>` without attributes: only its children matter.
    Transparent,
    /// A Markdown block (list, code, table, heading, quote, rule) or a block kept as raw HTML.
    Block,
    Inline,
}

/// Block-level tags that start a CommonMark HTML block (types 1 and 6) when at a line start.
fn is_html_block_tag(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hr"
            | "html"
            | "iframe"
            | "legend"
            | "li"
            | "link"
            | "main"
            | "menu"
            | "menuitem"
            | "nav"
            | "noframes"
            | "ol"
            | "optgroup"
            | "option"
            | "p"
            | "param"
            | "search"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
            | "pre"
            | "script"
            | "style"
            | "textarea"
    )
}

fn classify(e: &Element) -> Class {
    match e.name.as_str() {
        "br" => Class::Br,
        "div" if e.attrs.is_empty() => Class::Line,
        "p" if e.attrs.is_empty() => Class::Para,
        "span" | "font" if e.attrs.is_empty() => Class::Transparent,
        name if !valid_name(name) => Class::Transparent,
        name if is_html_block_tag(name) => Class::Block,
        _ => Class::Inline,
    }
}

// ---------------------------------------------------------------------------------------------
// Containers: the Anki line model

enum Tok<'a> {
    Inline(&'a Node),
    Br,
    Soft,
    Para,
    Block(&'a Element),
}

fn flatten<'a>(nodes: &'a [Node], toks: &mut Vec<Tok<'a>>) {
    for n in nodes {
        match n {
            Node::Element(e) => match classify(e) {
                Class::Br => toks.push(Tok::Br),
                Class::Line => {
                    toks.push(Tok::Soft);
                    flatten(&e.children, toks);
                    toks.push(Tok::Soft);
                }
                Class::Para => {
                    toks.push(Tok::Para);
                    flatten(&e.children, toks);
                    toks.push(Tok::Para);
                }
                Class::Transparent => flatten(&e.children, toks),
                Class::Block => toks.push(Tok::Block(e)),
                Class::Inline => toks.push(Tok::Inline(n)),
            },
            _ => toks.push(Tok::Inline(n)),
        }
    }
}

enum Line<'a> {
    /// A rendered line; empty for an empty line.
    Text(String),
    /// A paragraph boundary from `<p>`: one empty line unless one is already there.
    Virtual,
    Block(&'a Element),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Para,
    List { ordered: bool, alt: bool, interrupts: bool },
    Other,
}

/// Renders a sequence of nodes that forms a block container (the field, a list item, a quote).
fn container(nodes: &[Node], in_item: bool) -> String {
    let mut toks = Vec::new();
    flatten(nodes, &mut toks);

    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut cur: Vec<&Node> = Vec::new();
    let soft_end = |cur: &mut Vec<&Node>, lines: &mut Vec<Line<'_>>| {
        if !cur.is_empty() {
            let s = render_line(cur);
            if !s.is_empty() {
                lines.push(Line::Text(s));
            }
            cur.clear();
        }
    };
    for tok in toks {
        match tok {
            Tok::Inline(n) => cur.push(n),
            Tok::Br => {
                lines.push(Line::Text(render_line(&cur)));
                cur.clear();
            }
            Tok::Soft => soft_end(&mut cur, &mut lines),
            Tok::Para => {
                soft_end(&mut cur, &mut lines);
                lines.push(Line::Virtual);
            }
            Tok::Block(e) => {
                soft_end(&mut cur, &mut lines);
                lines.push(Line::Block(e));
            }
        }
    }
    soft_end(&mut cur, &mut lines);

    let mut out = String::new();
    let mut prev: Option<Kind> = None;
    let mut run: Vec<Option<String>> = Vec::new();
    let emit = |kind: Kind, s: String, out: &mut String, prev: &mut Option<Kind>| {
        if s.is_empty() {
            return;
        }
        if !out.is_empty() {
            let tight = in_item && *prev == Some(Kind::Para) && matches!(kind, Kind::List { interrupts: true, .. });
            out.push_str(if tight { "\n" } else { "\n\n" });
        }
        out.push_str(&s);
        *prev = Some(kind);
    };
    for line in lines {
        match line {
            Line::Text(s) => run.push(Some(s)),
            Line::Virtual => run.push(None),
            Line::Block(e) => {
                if let Some(p) = paragraphs(std::mem::take(&mut run)) {
                    emit(Kind::Para, p, &mut out, &mut prev);
                }
                let (kind, s) = block(e, prev);
                emit(kind, s, &mut out, &mut prev);
            }
        }
    }
    if let Some(p) = paragraphs(run) {
        emit(Kind::Para, p, &mut out, &mut prev);
    }
    out
}

/// Turns a run of lines (`None` = paragraph boundary from `<p>`) into Markdown paragraphs.
fn paragraphs(run: Vec<Option<String>>) -> Option<String> {
    // Resolve virtual empty lines: none at the ends, none next to an empty line.
    let mut lines: Vec<String> = Vec::with_capacity(run.len());
    let n = run.len();
    for i in 0..n {
        match &run[i] {
            Some(s) => lines.push(s.clone()),
            None => {
                let prev_text = lines.last().is_some_and(|l| !l.is_empty());
                let next_text = run[i + 1..].iter().find_map(|l| l.as_ref()).is_some_and(|l| !l.is_empty());
                if prev_text && next_text {
                    lines.push(String::new());
                }
            }
        }
    }
    let first = lines.iter().position(|l| !l.is_empty());
    let Some(first) = first else {
        return (!lines.is_empty()).then(|| "<br>".repeat(lines.len()));
    };
    let last = lines.iter().rposition(|l| !l.is_empty()).unwrap_or(first);
    let mut out = "<br>".repeat(first);
    let mut empties = 0;
    for (i, line) in lines[first..=last].iter().enumerate() {
        if line.is_empty() {
            empties += 1;
            continue;
        }
        if i > 0 {
            if empties == 0 {
                out.push('\n');
            } else {
                out.push_str("\n\n");
                out.push_str(&"<br>".repeat(empties - 1));
            }
        }
        empties = 0;
        out.push_str(line);
    }
    let trailing = lines.len() - 1 - last;
    if trailing > 0 {
        out.push_str(&"<br>".repeat(trailing + 1));
    }
    Some(finish_paragraph(&out))
}

fn render_line(nodes: &[&Node]) -> String {
    let mut r = Inl::new('\n');
    r.list(nodes, After::END);
    trim_ws(&r.out).to_owned()
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\n')
}

// ---------------------------------------------------------------------------------------------
// Paragraph post-pass: line starts and dollars

/// Applies the line-start escapes and resolves `$` markers for one paragraph (or run of them).
fn finish_paragraph(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        escape_line_start(line, &mut out);
    }
    resolve_dollars(&out)
}

fn escape_line_start(line: &str, out: &mut String) {
    let bytes = line.as_bytes();
    let Some(&first) = bytes.first() else {
        return;
    };
    let after = |n: usize| bytes.get(n).is_none_or(|b| *b == b' ' || *b == b'\t');
    // Thematic breaks, setext underlines and table delimiter rows.
    let compact: Vec<u8> = line.bytes().filter(|b| *b != b' ' && *b != b'\t').collect();
    let same = |c: u8| !compact.is_empty() && compact.iter().all(|b| *b == c);
    let rule = compact.len() >= 3 && (same(b'-') || same(b'_') || same(b'*'));
    let setext = same(b'=') || same(b'-');
    let delimiter_row = compact.contains(&b'-') && compact.iter().all(|b| matches!(b, b'|' | b':' | b'-'));
    if (rule || setext || delimiter_row)
        && let Some(pos) = line.find(['-', '=', '_', '*'])
    {
        out.push_str(&line[..pos]);
        out.push('\\');
        out.push_str(&line[pos..]);
        return;
    }
    // Conflict markers.
    for m in [b'<', b'|', b'=', b'>'] {
        if bytes.len() >= 7 && bytes[..7].iter().all(|b| *b == m) {
            out.push('\\');
            out.push_str(line);
            return;
        }
    }
    match first {
        b'#' => {
            let n = bytes.iter().take_while(|b| **b == b'#').count();
            if n <= 6 && after(n) {
                out.push('\\');
            }
        }
        b'>' => out.push('\\'),
        b'-' | b'+' | b'*' if after(1) => out.push('\\'),
        b'[' if matches!(bytes.get(1..3), Some(b" ]" | b"x]" | b"X]")) && after(3) => out.push('\\'),
        b'0'..=b'9' => {
            let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            if n <= 9 && matches!(bytes.get(n), Some(b'.' | b')')) && after(n + 1) {
                out.push_str(&line[..n]);
                out.push('\\');
                out.push_str(&line[n..]);
                return;
            }
        }
        b'A'..=b'Z' => {
            let n = bytes.iter().take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_').count();
            if bytes.get(n) == Some(&b':') && after(n + 1) {
                out.push_str(&line[..n]);
                out.push('\\');
                out.push_str(&line[n..]);
                return;
            }
        }
        _ => {}
    }
    out.push_str(line);
}

/// Replaces `$` markers with `$` or `\$`, escaping exactly those that comrak would read as the
/// opening of dollar math (pandoc's rules: `$5 and $10` is not math).
fn resolve_dollars(s: &str) -> String {
    if !s.contains(DOLLAR) {
        return s.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut escaped = vec![false; chars.len()];
    let is_dollar = |c: char| c == '$' || c == DOLLAR;
    // Right to left: whether an opener forms math depends on which later dollars are escaped,
    // never the other way round (an escaped opener consumes nothing).
    let mut i = chars.len();
    while i > 0 {
        i -= 1;
        if chars[i] != DOLLAR || (i > 0 && chars[i - 1] == '\\') {
            continue;
        }
        let prev_dollar = i > 0 && is_dollar(chars[i - 1]);
        let next_dollar = chars.get(i + 1).is_some_and(|c| is_dollar(*c));
        if prev_dollar || next_dollar {
            // Part of a `$$` run: always escaped.
            escaped[i] = true;
            continue;
        }
        if chars.get(i + 1).is_none_or(|c| c.is_whitespace()) {
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() {
            if is_dollar(chars[j]) && !escaped[j] && chars[j - 1] != '\\' {
                let before = chars[j - 1];
                escaped[i] = !before.is_whitespace() && !chars.get(j + 1).is_some_and(char::is_ascii_digit);
                break;
            }
            j += 1;
        }
    }
    let mut out = String::with_capacity(s.len() + 4);
    for (k, c) in chars.into_iter().enumerate() {
        if c == DOLLAR {
            if escaped[k] {
                out.push('\\');
            }
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Blocks

fn block(e: &Element, prev: Option<Kind>) -> (Kind, String) {
    let md = match e.name.as_str() {
        "ul" | "ol" => {
            let ordered = e.name == "ol";
            let alt = matches!(prev, Some(Kind::List { ordered: o, alt, .. }) if o == ordered && !alt);
            if let Some((s, interrupts)) = list(e, ordered, alt) {
                return (Kind::List { ordered, alt, interrupts }, s);
            }
            None
        }
        "pre" => code_block(e),
        "table" => table(e),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if e.attrs.is_empty() => Some(heading(e)),
        "blockquote" if e.attrs.is_empty() => Some(blockquote(e)),
        "hr" => Some("***".to_owned()),
        _ => None,
    };
    match md {
        Some(s) => (Kind::Other, s),
        None => {
            let mut s = String::new();
            raw_html(&Node::Element(e.clone()), &mut s, false);
            (Kind::Other, s)
        }
    }
}

fn significant(children: &[Node]) -> impl Iterator<Item = &Node> {
    children.iter().filter(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()) && !matches!(n, Node::Comment(_)))
}

/// A list, or `None` if it must stay HTML. Also says whether it may directly follow a paragraph line.
fn list(e: &Element, ordered: bool, alt: bool) -> Option<(String, bool)> {
    let start: u64 = match e.attr("start") {
        Some(s) if ordered => s.trim().parse().ok().filter(|n| *n < 1_000_000_000)?,
        _ => 1,
    };
    if e.attrs.iter().any(|(n, _)| !(ordered && n == "start")) {
        return None;
    }
    let mut out = String::new();
    let mut interrupts = !ordered || start == 1;
    for (idx, item) in significant(&e.children).enumerate() {
        let Node::Element(li) = item else {
            return None;
        };
        if li.name != "li" || !li.attrs.is_empty() {
            return None;
        }
        let marker = if ordered {
            format!("{}{}", start + idx as u64, if alt { ')' } else { '.' })
        } else if alt {
            "*".to_owned()
        } else {
            "-".to_owned()
        };
        // Task list checkbox.
        let mut children: &[Node] = &li.children;
        let mut task = "";
        let first_sig = children.iter().position(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
        if let Some(pos) = first_sig
            && let Node::Element(input) = &children[pos]
            && input.name == "input"
            && input.attr("type").is_some_and(|t| t.eq_ignore_ascii_case("checkbox"))
            && input.attrs.iter().all(|(n, _)| matches!(n.as_str(), "type" | "checked" | "disabled"))
        {
            task = if input.attr("checked").is_some() { "[x]" } else { "[ ]" };
            children = &children[pos + 1..];
        }
        let content = container(children, true);
        if ordered && content.is_empty() && task.is_empty() {
            // comrak reads an empty ordered item (`1.` alone) as text: keep the list as HTML.
            return None;
        }
        if idx == 0 && content.is_empty() && task.is_empty() {
            interrupts = false;
        }
        if idx > 0 {
            out.push('\n');
        }
        out.push_str(&marker);
        let indent = " ".repeat(marker.len() + 1);
        if !task.is_empty() {
            out.push(' ');
            out.push_str(task);
        }
        for (i, line) in content.split('\n').enumerate() {
            if i == 0 {
                if !line.is_empty() {
                    out.push(' ');
                    out.push_str(line);
                }
            } else {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&indent);
                    out.push_str(line);
                }
            }
        }
    }
    if out.is_empty() {
        return None;
    }
    Some((out, interrupts))
}

fn code_block(pre: &Element) -> Option<String> {
    let sig: Vec<&Node> = significant(&pre.children).collect();
    // Attributes other than the language class (a style, say) are kept: the block stays HTML.
    if pre.attrs.iter().any(|(n, _)| n != "class") {
        return None;
    }
    let mut lang = language(pre);
    if let [Node::Element(code)] = sig.as_slice()
        && code.name == "code"
    {
        if code.attrs.iter().any(|(n, _)| n != "class") {
            return None;
        }
        if lang.is_empty() {
            lang = language(code);
        }
    }
    let mut text = String::new();
    text_content(&pre.children, &mut text);
    let was_empty = text.is_empty();
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let longest = longest_run(text, '`');
    let fence = "`".repeat(longest.max(2) + 1);
    Some(if was_empty { format!("{fence}{lang}\n{fence}") } else { format!("{fence}{lang}\n{text}\n{fence}") })
}

fn language(e: &Element) -> String {
    let Some(class) = e.attr("class") else {
        return String::new();
    };
    class
        .split_whitespace()
        .find_map(|c| c.strip_prefix("language-").or_else(|| c.strip_prefix("lang-")))
        .filter(|l| !l.is_empty() && !l.contains(['`', '~']))
        .unwrap_or("")
        .to_owned()
}

fn longest_run(s: &str, ch: char) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

fn text_content(nodes: &[Node], out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Comment(_) => {}
            Node::Element(e) if e.name == "br" => out.push('\n'),
            Node::Element(e) => {
                let line = e.name == "div" || e.name == "p";
                if line && !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                text_content(&e.children, out);
                if line && !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
}

fn heading(h: &Element) -> String {
    let level = h.name[1..].parse::<usize>().unwrap_or(1).clamp(1, 6);
    let mut r = Inl::new(' ');
    r.single_line = true;
    r.list(&h.children.iter().collect::<Vec<_>>(), After::END);
    let mut content = trim_ws(&r.out).to_owned();
    // A trailing `#` run after a space would be read as a closing sequence.
    let trimmed = content.trim_end_matches('#');
    if trimmed.len() < content.len() && (trimmed.is_empty() || trimmed.ends_with(' ')) {
        let pos = trimmed.len();
        content.insert(pos, '\\');
    }
    let content = resolve_dollars(&content);
    let hashes = "#".repeat(level);
    if content.is_empty() { hashes } else { format!("{hashes} {content}") }
}

fn blockquote(q: &Element) -> String {
    let inner = container(&q.children, false);
    if inner.is_empty() {
        return ">".to_owned();
    }
    let mut out = String::with_capacity(inner.len() + 16);
    for (i, line) in inner.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.is_empty() {
            out.push('>');
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
    }
    out
}

fn cell_align(cell: &Element) -> Option<Option<&'static str>> {
    let mut align = None;
    for (n, v) in &cell.attrs {
        match (n.as_str(), v.to_ascii_lowercase().as_str()) {
            ("align", "left") => align = Some("left"),
            ("align", "center") => align = Some("center"),
            ("align", "right") => align = Some("right"),
            _ => return None,
        }
    }
    Some(align)
}

/// A GFM pipe table, or `None` if the table needs HTML (spans, blocks in cells, no header...).
fn table(t: &Element) -> Option<String> {
    if !t.attrs.is_empty() {
        return None;
    }
    let mut rows: Vec<&Element> = Vec::new();
    for n in significant(&t.children) {
        let Node::Element(e) = n else { return None };
        match e.name.as_str() {
            "tr" => rows.push(e),
            "thead" | "tbody" | "tfoot" if e.attrs.is_empty() => {
                for r in significant(&e.children) {
                    match r {
                        Node::Element(r) if r.name == "tr" => rows.push(r),
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    let mut grid: Vec<Vec<&Element>> = Vec::new();
    for r in &rows {
        if !r.attrs.is_empty() {
            return None;
        }
        let mut cells = Vec::new();
        for c in significant(&r.children) {
            match c {
                Node::Element(c) if c.name == "td" || c.name == "th" => cells.push(c),
                _ => return None,
            }
        }
        grid.push(cells);
    }
    let (header, body) = grid.split_first()?;
    let cols = header.len();
    if cols == 0 || header.iter().any(|c| c.name != "th") {
        return None;
    }
    let aligns: Vec<Option<&str>> = header.iter().map(|c| cell_align(c)).collect::<Option<_>>()?;
    for row in body {
        if row.len() != cols {
            return None;
        }
        for (c, a) in row.iter().zip(&aligns) {
            if c.name != "td" || cell_align(c)? != *a {
                return None;
            }
        }
    }
    let all_cells = grid.iter().flatten();
    for c in all_cells {
        if has_block(&c.children) {
            return None;
        }
    }
    let mut out = String::new();
    let render_row = |row: &[&Element], out: &mut String| {
        out.push('|');
        for c in row {
            let mut r = Inl::new(' ');
            r.single_line = true;
            r.table = true;
            r.list(&c.children.iter().collect::<Vec<_>>(), After::END);
            let s = resolve_dollars(trim_ws(&r.out));
            out.push(' ');
            out.push_str(&s);
            out.push_str(" |");
        }
    };
    render_row(header, &mut out);
    out.push_str("\n|");
    for a in &aligns {
        out.push_str(match a {
            Some("left") => " :-- |",
            Some("center") => " :-: |",
            Some("right") => " --: |",
            _ => " --- |",
        });
    }
    for row in body {
        out.push('\n');
        render_row(row, &mut out);
    }
    Some(out)
}

fn has_element(nodes: &[Node], names: &[&str]) -> bool {
    nodes.iter().any(|n| match n {
        Node::Element(e) => names.contains(&e.name.as_str()) || has_element(&e.children, names),
        _ => false,
    })
}

fn has_block(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::Element(e) => (e.name != "br" && is_html_block_tag(&e.name)) || has_block(&e.children),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Raw HTML

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

fn open_tag(e: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    for (n, v) in &e.attrs {
        if !valid_attr_name(n) {
            continue;
        }
        out.push(' ');
        out.push_str(n);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\n' => out.push_str("&#10;"),
                _ => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('>');
}

/// Serialises a subtree as HTML on one line (newlines in text become spaces, in `<pre>` `&#10;`).
fn raw_html(node: &Node, out: &mut String, in_pre: bool) {
    match node {
        Node::Text(t) => {
            for c in t.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '\n' if in_pre => out.push_str("&#10;"),
                    '\n' | '\r' => out.push(' '),
                    '\u{a0}' => out.push_str("&nbsp;"),
                    // Characters Markdown would read when this HTML sits inside a paragraph.
                    '\\' | '`' | ':' | '@' | '*' | '_' | '~' | '^' | '=' | '$' | '[' | ']' | '|' | '!' | DOLLAR => {
                        out.push_str(&format!("&#{};", c as u32));
                    }
                    '.' if out.ends_with("www") => out.push_str("&#46;"),
                    _ => out.push(c),
                }
            }
        }
        Node::Comment(c) => {
            out.push_str("<!--");
            out.push_str(&c.replace(['\n', '\r'], " "));
            out.push_str("-->");
        }
        Node::Element(e) => {
            if !valid_name(&e.name) {
                for c in &e.children {
                    raw_html(c, out, in_pre);
                }
                return;
            }
            open_tag(e, out);
            if html::is_void(&e.name) {
                return;
            }
            if html::is_raw_text(&e.name) {
                for c in &e.children {
                    if let Node::Text(t) = c {
                        out.push_str(&t.replace(['\n', '\r'], " "));
                    }
                }
            } else {
                let pre = in_pre || matches!(e.name.as_str(), "pre" | "textarea" | "listing");
                // The parser drops a newline right after `<pre>`: one that belongs to the text is doubled.
                if matches!(e.name.as_str(), "pre" | "textarea" | "listing")
                    && matches!(e.children.first(), Some(Node::Text(t)) if t.starts_with('\n'))
                {
                    out.push_str("&#10;");
                }
                for c in &e.children {
                    raw_html(c, out, pre);
                }
            }
            out.push_str("</");
            out.push_str(&e.name);
            out.push('>');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inline content

/// What follows an inline node: its first character (a guess for elements) and whether it comes
/// from a sibling (as opposed to the closing delimiter of the parent).
#[derive(Clone, Copy)]
struct After {
    ch: char,
    sibling: bool,
}

impl After {
    const END: After = After { ch: '\n', sibling: false };
}

/// The first character the Markdown of `n` will most likely start with.
fn starts_with_space(nodes: &[Node]) -> bool {
    match nodes.first() {
        Some(Node::Text(t)) => t.starts_with(|c: char| c.is_whitespace()),
        Some(Node::Element(e)) if e.name != "br" => starts_with_space(&e.children),
        _ => false,
    }
}

fn lead(n: &Node) -> char {
    match n {
        Node::Text(t) => match t.chars().next() {
            Some(c) if c.is_whitespace() => ' ',
            Some(c) => c,
            None => ' ',
        },
        Node::Comment(_) => '<',
        Node::Element(e) if e.attrs.is_empty() && starts_with_space(&e.children) => ' ',
        Node::Element(e) => match e.name.as_str() {
            "b" | "strong" | "i" | "em" => '*',
            "del" | "s" | "strike" | "sub" => '~',
            "mark" => '=',
            "sup" => '^',
            "code" => '`',
            "a" => '[',
            "img" => '!',
            "br" | "div" | "p" => '\n',
            "span" | "font" if e.attrs.is_empty() => e.children.first().map_or(' ', lead),
            _ => '<',
        },
    }
}

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

/// Punctuation in CommonMark's sense, approximated: anything not alphanumeric or whitespace.
fn is_punct(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}

/// Characters that form emphasis-like delimiter runs in our Markdown dialect.
fn delim_char(c: char) -> bool {
    matches!(c, '*' | '_' | '~' | '^' | '=')
}

fn left_flanking(prev: char, next: char) -> bool {
    !is_ws(next) && (!is_punct(next) || is_ws(prev) || is_punct(prev))
}

fn right_flanking(prev: char, next: char) -> bool {
    !is_ws(prev) && (!is_punct(prev) || is_ws(next) || is_punct(next))
}

fn entity_like(rest: &[char]) -> bool {
    let mut i = 0;
    if rest.first() == Some(&'#') {
        i = 1;
        if matches!(rest.get(1), Some('x' | 'X')) {
            i = 2;
        }
    }
    let start = i;
    while i < rest.len() && rest[i].is_ascii_alphanumeric() && i - start < 32 {
        i += 1;
    }
    i > start && rest.get(i) == Some(&';')
}

/// Whether an email autolink could be recognised around `@`.
fn email_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')
}

struct Inl {
    out: String,
    /// The character before `out` (a delimiter for nested content, `\n` at a line start).
    start_prev: char,
    /// Breaks are written as `<br>` (headings, table cells).
    single_line: bool,
    /// Inside a table cell: `|` is escaped everywhere.
    table: bool,
    /// Inside link text or image alt: brackets are escaped, links are HTML.
    in_link: bool,
    /// The delimiter of the element whose content this is (`**` inside bold), if any.
    enclosing: &'static str,
}

impl Inl {
    fn new(start_prev: char) -> Inl {
        Inl { out: String::new(), start_prev, single_line: false, table: false, in_link: false, enclosing: "" }
    }

    fn sub(&self, start_prev: char) -> Inl {
        Inl {
            out: String::new(),
            start_prev,
            single_line: self.single_line,
            table: self.table,
            in_link: self.in_link,
            enclosing: "",
        }
    }

    fn prev(&self) -> char {
        self.out.chars().last().unwrap_or(self.start_prev)
    }

    fn at_line_start(&self) -> bool {
        self.prev() == '\n'
    }

    fn push_break(&mut self) {
        if self.single_line || self.at_line_start() {
            self.out.push_str("<br>");
        } else {
            self.out.push('\n');
        }
    }

    fn list(&mut self, nodes: &[&Node], after: After) {
        for (i, n) in nodes.iter().enumerate() {
            let next = nodes.get(i + 1);
            let after_i = match next {
                Some(next) => After { ch: lead(next), sibling: true },
                None => after,
            };
            if let Node::Element(e) = n
                && e.name == "img"
                && let Some(Node::Text(t)) = next
                && t.starts_with("{width=")
            {
                raw_html(n, &mut self.out, false);
                continue;
            }
            self.node(n, after_i);
        }
    }

    fn children(&mut self, e: &Element, after: After) {
        let nodes: Vec<&Node> = e.children.iter().collect();
        self.list(&nodes, after);
    }

    fn node(&mut self, n: &Node, after: After) {
        match n {
            Node::Text(t) => self.text(t, after),
            Node::Comment(c) => {
                if self.at_line_start() {
                    self.out.push_str("<span></span>");
                }
                self.out.push_str("<!--");
                self.out.push_str(&c.replace(['\n', '\r'], " "));
                self.out.push_str("-->");
            }
            Node::Element(e) => self.element(e, after),
        }
    }

    fn element(&mut self, e: &Element, after: After) {
        let plain = e.attrs.is_empty();
        match e.name.as_str() {
            "br" => self.push_break(),
            "b" | "strong" if plain => self.delimited("**", "b", e, after),
            "i" | "em" if plain => self.delimited("*", "i", e, after),
            "del" | "s" | "strike" if plain => self.delimited("~~", "del", e, after),
            "mark" if plain => self.delimited("==", "mark", e, after),
            "sup" if plain => self.delimited("^", "sup", e, after),
            "sub" if plain => self.delimited("~", "sub", e, after),
            "span" | "font" if plain => self.children(e, after),
            "code" => self.code(e, after),
            "a" => self.link(e, after),
            "img" => self.image(e),
            "div" | "p" if plain => {
                if !self.out.is_empty() && !self.at_line_start() {
                    self.push_break();
                }
                self.children(e, if after.sibling { After::END } else { after });
                if !self.out.is_empty() && !self.at_line_start() && !self.out.ends_with("<br>") {
                    self.push_break();
                }
            }
            name if is_html_block_tag(name) => {
                // At a line start this tag would open an HTML block and swallow the line; the empty
                // span (dropped when read back) keeps it inline, and is written every time for stability.
                self.out.push_str("<span></span>");
                raw_html(&Node::Element(e.clone()), &mut self.out, false);
            }
            _ => self.raw_inline(e, after),
        }
    }

    fn raw_inline(&mut self, e: &Element, after: After) {
        if !valid_name(&e.name) {
            self.children(e, after);
            return;
        }
        let line_start = self.at_line_start();
        let tag_pos = self.out.len();
        open_tag(e, &mut self.out);
        let content_pos = self.out.len();
        if !html::is_void(&e.name) {
            self.children(e, After { ch: '<', sibling: false });
            // A break at the end of an element renders nothing.
            while self.out.len() > content_pos && self.out.ends_with('\n') {
                self.out.pop();
            }
        }
        let lone = self.out.len() == content_pos || self.out[content_pos..].starts_with('\n');
        if line_start && lone {
            // A tag alone on its line would open an HTML block and swallow the lines below.
            self.out.insert_str(tag_pos, "<span></span>");
        }
        if html::is_void(&e.name) {
            return;
        }
        self.out.push_str("</");
        self.out.push_str(&e.name);
        self.out.push('>');
    }

    /// Emphasis-like elements: `**…**` if the delimiters are valid in context, else the HTML tag.
    fn delimited(&mut self, delim: &str, tag: &str, e: &Element, after: After) {
        let dch = delim.chars().next().unwrap_or('*');
        let mut inner = self.sub(dch);
        inner.enclosing = match delim {
            "**" => "**",
            "*" => "*",
            _ => "~",
        };
        inner.children(e, After { ch: dch, sibling: false });
        let s = inner.out;
        let body = s.trim_matches(|c: char| c == ' ' || c == '\n');
        let start = s.len() - s.trim_start_matches([' ', '\n']).len();
        let lead_ws = &s[..start];
        let trail_ws = &s[start + body.len()..];
        if !lead_ws.is_empty() {
            self.whitespace(lead_ws);
        }
        if body.is_empty() {
            if !trail_ws.is_empty() {
                self.whitespace(trail_ws);
            }
            return;
        }
        let prev = self.prev();
        let first = body.chars().next().unwrap_or(' ');
        let last = body.chars().last().unwrap_or(' ');
        let next = if trail_ws.is_empty() { after.ch } else { ' ' };
        // `***x***` (italic around bold or bold around italic) is the one adjacency that parses back;
        // any other run of the same delimiter character next to ours is written as HTML.
        let sole_nested = dch == '*'
            && self.out.is_empty()
            && !after.sibling
            && trail_ws.is_empty()
            && lead_ws.is_empty()
            && self.enclosing.starts_with('*')
            && self.enclosing.len() != delim.len();
        let mut sig = significant(&e.children);
        let sole_child = matches!((sig.next(), sig.next()), (Some(Node::Element(_)), None));
        let inner_conflict = ((first == dch || last == dch) && !sole_child) || body.chars().all(delim_char);
        // Whitespace moved out of the element does not separate it from a parent's delimiter for sure.
        let at_parent_start = self.out.trim().is_empty() && delim_char(self.start_prev);
        let at_parent_end = !after.sibling && delim_char(after.ch);
        // Next to another delimiter run (even of another kind) comrak may pair differently.
        // In link text comrak reads only `*` emphasis reliably.
        let prev_conflict =
            ((delim_char(prev) || at_parent_start) && !sole_nested) || inner_conflict || (self.in_link && dch != '*');
        let next_conflict = ((delim_char(next) && trail_ws.is_empty()) || at_parent_end) && !sole_nested;
        let ok = left_flanking(prev, first)
            && right_flanking(last, next)
            && !prev_conflict
            && !next_conflict
            && (prev != '\\');
        if ok {
            self.out.push_str(delim);
            self.out.push_str(body);
            self.out.push_str(delim);
        } else {
            self.out.push('<');
            self.out.push_str(tag);
            self.out.push('>');
            self.out.push_str(body);
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
        if !trail_ws.is_empty() {
            self.whitespace(trail_ws);
        }
    }

    fn whitespace(&mut self, ws: &str) {
        if ws.contains('\n') {
            self.push_break();
        } else if !matches!(self.prev(), ' ' | '\n') {
            self.out.push(' ');
        }
    }

    fn code(&mut self, e: &Element, after: After) {
        let only_text = e.children.iter().all(|c| matches!(c, Node::Text(_)));
        let mut raw_text = String::new();
        text_content(&e.children, &mut raw_text);
        // Formatting inside code that holds nothing visible is not worth keeping as HTML.
        let blank = raw_text.trim().is_empty() && !has_element(&e.children, &["img", "br", "input"]);
        // Formatting that wraps only whitespace inside code shows nothing: treat it as text.
        let invisible = e.children.iter().all(|c| match c {
            Node::Element(x) => {
                let mut t = String::new();
                text_content(&x.children, &mut t);
                t.trim().is_empty()
                    && !matches!(x.name.as_str(), "br" | "img" | "input")
                    && !has_element(&x.children, &["img", "br", "input"])
            }
            _ => true,
        });
        let simple = e.attrs.iter().all(|(n, _)| n == "class") && (only_text || blank || invisible);
        if !simple {
            // Formatted code stays HTML as a whole (its text is entity-protected from Markdown).
            let _ = after;
            if self.at_line_start() {
                self.out.push_str("<span></span>");
            }
            raw_html(&Node::Element(e.clone()), &mut self.out, false);
            return;
        }
        let mut text = String::new();
        {
            {
                for ch in raw_text.chars() {
                    let ch = if matches!(ch, '\n' | '\r' | '\t' | '\u{c}') { ' ' } else { ch };
                    if ch == ' ' && text.ends_with(' ') {
                        continue;
                    }
                    text.push(ch);
                }
            }
        }
        if text.is_empty() {
            return;
        }
        if self.table {
            text = text.replace('|', "\\|");
        }
        let ticks = "`".repeat(longest_run(&text, '`') + 1);
        let pad = text.starts_with('`')
            || text.ends_with('`')
            || (text.starts_with(' ') && text.ends_with(' ') && text.trim() != "");
        self.out.push_str(&ticks);
        if pad {
            self.out.push(' ');
        }
        self.out.push_str(&text);
        if pad {
            self.out.push(' ');
        }
        self.out.push_str(&ticks);
    }

    fn link(&mut self, e: &Element, after: After) {
        let Some(href) = e.attr("href") else {
            self.raw_inline(e, after);
            return;
        };
        if self.in_link || e.attrs.iter().any(|(n, _)| n != "href" && n != "title") {
            self.raw_inline(e, after);
            return;
        }
        let title = e.attr("title").unwrap_or("");
        // Autolinks.
        if title.is_empty()
            && let [Node::Text(t)] = e.children.as_slice()
        {
            if t == href && bare_autolink_ok(href, self.prev(), after.ch) {
                self.out.push_str(href);
                return;
            }
            if t == href && angle_autolink_ok(href) {
                self.out.push('<');
                self.out.push_str(href);
                self.out.push('>');
                return;
            }
            if let Some(mail) = href.strip_prefix("mailto:")
                && t == mail
                && email_ok(mail)
            {
                self.out.push('<');
                self.out.push_str(mail);
                self.out.push('>');
                return;
            }
        }
        let mut inner = self.sub('[');
        inner.in_link = true;
        inner.children(e, After { ch: ']', sibling: false });
        if inner.out.starts_with('^') {
            // `[^…]` reads as a footnote reference.
            self.raw_inline(e, after);
            return;
        }
        self.out.push('[');
        self.out.push_str(&inner.out);
        self.out.push_str("](");
        push_destination(href, &mut self.out);
        push_title(title, &mut self.out);
        self.out.push(')');
    }

    fn image(&mut self, e: &Element) {
        let mut width: Option<u32> = None;
        let mut ok = !self.in_link;
        for (n, v) in &e.attrs {
            match n.as_str() {
                "src" | "alt" | "title" => {}
                "style" => match style_width(v) {
                    Some(w) => width = Some(w),
                    None => ok = false,
                },
                "width" => {
                    let digits = v.trim().trim_end_matches("px");
                    match digits.parse::<u32>() {
                        Ok(w) if width.is_none_or(|x| x == w) => width = Some(w),
                        _ => ok = false,
                    }
                }
                _ => ok = false,
            }
        }
        let src = e.attr("src").unwrap_or("");
        if !ok || src.contains(['\n', '\r']) {
            raw_html(&Node::Element(e.clone()), &mut self.out, false);
            return;
        }
        // `src` is the file name as Anki stores it: the Markdown spells it so that it reads back the same.
        let dest = if src.is_empty() || is_external(src) {
            src.to_owned()
        } else {
            format!("media/{}", escape_media_name(src))
        };
        let mut alt = self.sub('[');
        alt.in_link = true;
        alt.text(e.attr("alt").unwrap_or(""), After { ch: ']', sibling: false });
        self.out.push_str("![");
        self.out.push_str(alt.out.trim_end_matches(' '));
        self.out.push_str("](");
        push_destination(&dest, &mut self.out);
        push_title(e.attr("title").unwrap_or(""), &mut self.out);
        self.out.push(')');
        if let Some(w) = width {
            self.out.push_str(&format!("{{width={w}}}"));
        }
    }

    /// Escapes a text node so that CommonMark (with our extensions) reads it back as this text.
    fn text(&mut self, t: &str, after: After) {
        // Collapse whitespace as HTML rendering does. A lone NBSP becomes a plain space; a run that renders
        // wider than one space (`a&nbsp;&nbsp;b`, `a&nbsp; b`) keeps its NBSPs, written `&nbsp;` below.
        let mut chars: Vec<char> = Vec::with_capacity(t.len());
        let before_text = self.prev();
        let mut last_ws = matches!(before_text, ' ' | '\n');
        let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}' | '\u{a0}');
        let source: Vec<char> = t.chars().collect();
        let mut k = 0;
        while k < source.len() {
            let c = source[k];
            if !is_space(c) {
                chars.push(c);
                last_ws = false;
                k += 1;
                continue;
            }
            let end = source[k..].iter().position(|&x| !is_space(x)).map_or(source.len(), |p| k + p);
            let run = &source[k..end];
            let nbsp = run.iter().filter(|&&x| x == '\u{a0}').count();
            let collapsible = run.len() > nbsp;
            if nbsp + usize::from(collapsible) >= 2 {
                for &x in run {
                    if x == '\u{a0}' {
                        chars.push(x);
                        last_ws = false;
                    } else if !last_ws {
                        chars.push(' ');
                        last_ws = true;
                    }
                }
            } else if !last_ws {
                chars.push(' ');
                last_ws = true;
            }
            k = end;
        }
        let n = chars.len();
        let mut i = 0;
        while i < n {
            let c = chars[i];
            // Math spans stay verbatim: `\(…\)` and `\[…\]`.
            if c == '\\'
                && let Some(&open) = chars.get(i + 1)
                && (open == '(' || open == '[')
            {
                let close = if open == '(' { ')' } else { ']' };
                if let Some(end) = (i + 2..n.saturating_sub(1)).find(|&k| chars[k] == '\\' && chars[k + 1] == close)
                    && end > i + 2
                {
                    for &m in &chars[i..end + 2] {
                        if m == '|' && self.table {
                            self.out.push('\\');
                        }
                        if m == DOLLAR {
                            self.out.push_str("&#xE000;");
                        } else {
                            self.out.push(m);
                        }
                    }
                    i = end + 2;
                    continue;
                }
            }
            if c == '\u{a0}' {
                self.out.push_str("&nbsp;");
                i += 1;
                continue;
            }
            if matches!(c, '*' | '_' | '~' | '^' | '=') {
                let run = chars[i..].iter().take_while(|&&x| x == c).count();
                let prev = self.prev();
                // A kept NBSP is written `&nbsp;`: a reader sees punctuation there.
                let next = match chars.get(i + run).copied().unwrap_or(after.ch) {
                    '\u{a0}' => '&',
                    x => x,
                };
                let l = left_flanking(prev, next);
                let r = right_flanking(prev, next);
                let flanking = match c {
                    '_' => (l && (!r || is_punct(prev))) || (r && (!l || is_punct(next))),
                    '=' => run >= 2 && (l || r),
                    _ => l || r,
                };
                // Inside emphasis-like delimiters any flanking run may interfere with them: escape.
                let escape = flanking && (!self.enclosing.is_empty() || PARTNERS.with(|p| p.get().may_pair(c, run)));
                for _ in 0..run {
                    if escape {
                        self.out.push('\\');
                    }
                    self.out.push(c);
                }
                i += run;
                continue;
            }
            let prev = self.prev();
            let next = chars.get(i + 1).copied().unwrap_or(after.ch);
            let escape = match c {
                '\\' => next.is_ascii_punctuation() || next == '\n' || next == DOLLAR,
                '`' => true,
                '[' => {
                    self.in_link || {
                        // Escape unless a `]` in this text closes it and is not followed by `(`, `[` or `:`.
                        match chars[i + 1..].iter().position(|&x| x == ']') {
                            Some(off) => {
                                let after_close = chars.get(i + 2 + off).copied().unwrap_or(after.ch);
                                matches!(after_close, '(' | '[' | ':') || chars[i + 1..i + 1 + off].contains(&'[')
                            }
                            None => true,
                        }
                    }
                }
                ']' => self.in_link,
                '<' => next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?'),
                '&' => entity_like(&chars[i + 1..]),
                '|' => self.table,
                '.' => {
                    // `www.` would become an autolink.
                    i >= 3
                        && chars[i - 3..i] == ['w', 'w', 'w']
                        && matches!(if i == 3 { before_text } else { chars[i - 4] }, ' ' | '\n' | '*' | '_' | '~' | '(')
                }
                ':' => chars.get(i + 1) == Some(&'/') && chars.get(i + 2) == Some(&'/') && prev.is_ascii_alphabetic(),
                '@' => email_char(prev) && next.is_ascii_alphanumeric(),
                '{' => false,
                _ => false,
            };
            if c == DOLLAR {
                self.out.push_str("&#xE000;");
            } else if c == '$' {
                self.out.push(DOLLAR);
            } else {
                if escape {
                    self.out.push('\\');
                }
                self.out.push(c);
            }
            i += 1;
        }
    }
}

fn style_width(style: &str) -> Option<u32> {
    let mut width = None;
    for decl in style.split(';') {
        let decl = decl.trim();
        if decl.is_empty() {
            continue;
        }
        let (prop, value) = decl.split_once(':')?;
        if !prop.trim().eq_ignore_ascii_case("width") {
            return None;
        }
        let num = value.trim().strip_suffix("px")?.trim();
        let int = num.split('.').next()?;
        width = Some(int.parse().ok()?);
    }
    width
}

fn bare_autolink_ok(href: &str, prev: char, next: char) -> bool {
    let Some(rest) = href.strip_prefix("https://").or_else(|| href.strip_prefix("http://")) else {
        return false;
    };
    let domain_end = rest.find('/').unwrap_or(rest.len());
    let domain = &rest[..domain_end];
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let path_ok = rest[domain_end..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '%' | '?' | '=' | '#' | '+'));
    let last_ok = href.chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '/');
    domain_ok && path_ok && last_ok && (prev.is_whitespace() || prev == '(') && (next.is_whitespace() || next == '\n')
}

fn angle_autolink_ok(href: &str) -> bool {
    let Some(colon) = href.find(':') else {
        return false;
    };
    let scheme = &href[..colon];
    (2..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        && !href.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '\\'))
        && !href.contains('&')
}

fn email_ok(mail: &str) -> bool {
    let Some((local, domain)) = mail.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local.chars().all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c))
        && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// The Markdown destination of an image in `media/`, for a `path` such as `media/my image (1).png` (the name
/// as Anki stores it): `%` before two hex digits becomes `%25` and an entity-like `&` `%26`, since `%XX` in a
/// media destination is decoded, and the destination is put in angle brackets when it has spaces, unbalanced parentheses or `<`/`>`.
pub fn media_destination(path: &str) -> String {
    let mut out = String::new();
    push_destination(&escape_media_name(path), &mut out);
    out
}

/// `100%20.png` -> `100%2520.png`: a `%` that a reader would decode with the two hex digits after it, and an
/// `&` that would start an entity (`x&amp;.png`, which comrak decodes even after a backslash), are written
/// as `%XX`, since `%XX` in a media destination is decoded.
fn escape_media_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    for (n, (i, c)) in name.char_indices().enumerate() {
        if c == '%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            out.push_str("%25");
        } else if c == '&' && entity_like(&chars[n + 1..]) {
            out.push_str("%26");
        } else {
            out.push(c);
        }
    }
    out
}

fn push_destination(dest: &str, out: &mut String) {
    if dest.is_empty() {
        return;
    }
    let mut depth: i32 = 0;
    let mut balanced = true;
    for c in dest.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    balanced = false;
                }
            }
            _ => {}
        }
    }
    let plain =
        balanced && depth == 0 && !dest.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    let chars: Vec<char> = dest.chars().collect();
    if !plain {
        out.push('<');
    }
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '<' | '>' if !plain => {
                out.push('\\');
                out.push(c);
            }
            '&' if entity_like(&chars[i + 1..]) => out.push_str("\\&"),
            '\n' | '\r' => out.push_str("%0A"),
            _ => out.push(c),
        }
    }
    if !plain {
        out.push('>');
    }
}

fn push_title(title: &str, out: &mut String) {
    if title.is_empty() {
        return;
    }
    out.push_str(" \"");
    let chars: Vec<char> = title.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '&' if entity_like(&chars[i + 1..]) => out.push_str("\\&"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::html_to_markdown as m;

    #[test]
    fn anki_editor_structure() {
        assert_eq!(m("<div>Hello</div><div>World</div>"), "Hello\nWorld");
        assert_eq!(m("<div>a</div><div><br></div><div>b</div>"), "a\n\nb");
        assert_eq!(m("Line 1<br><br>Line 2"), "Line 1\n\nLine 2");
        assert_eq!(m("a<br><br><br>b"), "a\n\n<br>b");
        assert_eq!(m("a<br>"), "a");
        assert_eq!(m("<h1>Title</h1>Text"), "# Title\n\nText");
        assert_eq!(m("a&nbsp;b &amp; c &lt;d&gt;"), "a b & c \\<d>");
    }

    #[test]
    fn inline_formatting() {
        assert_eq!(m("<b>bold</b> and <i>it</i>"), "**bold** and *it*");
        assert_eq!(m("<u>under</u>"), "<u>under</u>");
        assert_eq!(m("<b> x </b>y"), " **x** y".trim_start());
        assert_eq!(m("a<b>(x)</b>"), "a<b>(x)</b>");
        assert_eq!(m("<span style=\"color: red\">r</span>"), "<span style=\"color: red\">r</span>");
        assert_eq!(m("H<sub>2</sub>O"), "H~2~O");
    }

    #[test]
    fn escaping_is_minimal() {
        assert_eq!(m("C++ and C# and 2 * 3"), "C++ and C# and 2 * 3");
        assert_eq!(m("&lt;b&gt;x&lt;/b&gt;"), "\\<b>x\\</b>");
        assert_eq!(m("costs $5 and $10"), "costs $5 and $10");
        assert_eq!(m("$x$"), "\\$x$");
        assert_eq!(m("snake_case *star"), "snake_case *star");
        assert_eq!(m("*a* and *b"), "\\*a\\* and \\*b");
        assert_eq!(m("<i>a</i> and *b"), "*a* and \\*b");
        assert_eq!(m("\\(x_1\\)"), "\\(x_1\\)");
    }

    #[test]
    fn separator_and_label_safety() {
        assert_eq!(m("---"), "\\---");
        assert_eq!(m("<hr>"), "***");
        assert_eq!(m("A: text"), "A\\: text");
        assert_eq!(m("x<br>E:"), "x\nE\\:");
        assert_eq!(m("<<<<<<< ours"), "\\<<<<<<< ours");
        assert_eq!(m("a<br>==="), "a\n\\===");
        assert_eq!(m("- x"), "\\- x");
        assert_eq!(m("1. x"), "1\\. x");
    }

    #[test]
    fn blocks() {
        assert_eq!(m("<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul>"), "- a\n- b\n  - c");
        assert_eq!(m("<ol start=\"3\"><li>a</li></ol>"), "3. a");
        assert_eq!(
            m("<pre><code class=\"language-rust\"><span class=\"hl-kw\">fn</span> x</code></pre>"),
            "```rust\nfn x\n```"
        );
        assert_eq!(m("<blockquote>q<br>r</blockquote>"), "> q\n> r");
        assert_eq!(
            m("<table><tr><th>A</th><th>B</th></tr><tr><td>a | b</td><td><code>c | d</code></td></tr></table>"),
            "| A | B |\n| --- | --- |\n| a \\| b | `c \\| d` |"
        );
    }

    #[test]
    fn images_and_links() {
        assert_eq!(m("<img src=\"paste-a.png\" style=\"width: 971.502px;\">"), "![](media/paste-a.png){width=971}");
        assert_eq!(m("<img src=\"my image (1).png\" alt=\"x\">"), "![x](<media/my image (1).png>)");
        assert_eq!(m("<img src=\"a&amp;b.png\">"), "![](media/a&b.png)");
        assert_eq!(m("<img src=\"say &quot;hi&quot;.png\">"), "![](<media/say \"hi\".png>)");
        // The name as Anki stores it, never decoded: `my%20image.png` is a file of that name in Anki.
        assert_eq!(m("<img src=\"my%20image%20(1).png\" alt=\"x\">"), "![x](media/my%2520image%2520(1).png)");
        assert_eq!(m("<img src=\"100%.png\">"), "![](media/100%.png)");
        assert_eq!(m("<img src=\"x&amp;amp;.png\">"), "![](media/x%26amp;.png)");
        assert_eq!(m("<a href=\"https://e.com/x\">e</a>"), "[e](https://e.com/x)");
        assert_eq!(m("see <a href=\"https://e.com\">https://e.com</a>"), "see https://e.com");
    }

    #[test]
    fn deep_html_does_not_overflow() {
        for open in ["<ul><li>", "<b>", "<blockquote>", "<div>", "<span style=\"x\">", "<table><tr><td>", "<i><b>"] {
            // 5,000 levels, far past the flattening depth: html5ever's tree building is linear in the depth
            // for each block start tag, so 20,000 nested lists would take seconds, though never overflow.
            let html = open.repeat(5_000) + "x";
            let md = m(&html);
            let _ = crate::convert::markdown_to_html(&md);
        }
    }
}

#[cfg(test)]
mod browser_html {
    use super::html_to_markdown as m;
    use crate::convert::markdown_to_html as h;

    #[test]
    fn html_is_read_as_a_browser_reads_it() {
        assert_eq!(m("<b>bold <i>both</b> italic</i>"), "**bold <i>both</i>** *italic*");
        assert_eq!(m("a</br>b"), "a\nb");
        assert_eq!(m("one</p>two"), "one\n\ntwo");
        assert_eq!(m("&ocirc; &hearts; &copy 2020 &#150; &notin; &NotEqualTilde;"), "ô ♥ © 2020 – ∉ ≂̸");
    }

    #[test]
    fn spacing_typed_in_the_editor_survives() {
        let md = m("a&nbsp;&nbsp;&nbsp;&nbsp;b");
        assert_eq!(md, "a&nbsp;&nbsp;&nbsp;&nbsp;b");
        assert_eq!(h(&md), "a\u{a0}\u{a0}\u{a0}\u{a0}b");
        assert_eq!(m(&h(&md)), md);
        assert_eq!(m("a&nbsp; b"), "a&nbsp; b");
        assert_eq!(m("a&nbsp;b"), "a b", "a lone NBSP renders as one space");
        assert_eq!(m("x&nbsp;&nbsp;*y"), "x&nbsp;&nbsp;*y");
    }

    #[test]
    fn styled_pre_stays_html() {
        let html = "<pre style=\"background-color: #eee\">let x = 1;\nx</pre>";
        let md = m(html);
        assert_eq!(md, "<pre style=\"background-color: #eee\">let x &#61; 1;&#10;x</pre>");
        assert_eq!(h(&md), md);
        assert_eq!(
            m("<pre><code style=\"color: red\">x</code></pre>"),
            "<pre><code style=\"color: red\">x</code></pre>"
        );
        assert_eq!(m("<pre class=\"language-ruby\">puts 1</pre>"), "```ruby\nputs 1\n```");
        assert_eq!(m("<pre>\n\nx</pre>"), "```\n\nx\n```", "the first newline after <pre> is the parser's");
    }
}
