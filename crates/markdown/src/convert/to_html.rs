//! Field Markdown -> Anki field HTML: comrak parses, this module renders its tree.
//!
//! The output follows Anki's editor model rather than a web page: paragraphs are not wrapped in
//! `<p>` but separated by `<br><br>`, a single newline is `<br>`, bold/italic are `<b>`/`<i>`,
//! math is `\(…\)`/`\[…\]` for MathJax, and code blocks are highlighted at conversion time.
//! `html_to_markdown` is the exact inverse on canonical Markdown.

use comrak::nodes::{AstNode, ListType, NodeValue, TableAlignment};
use comrak::{Arena, Options, parse_document};

use super::highlight::{escape_into, highlight_into};

/// The comrak options for field Markdown (GFM plus highlight, sub/superscript and math).
pub(crate) fn options() -> Options<'static> {
    let mut o = Options::default();
    let e = &mut o.extension;
    e.strikethrough = true;
    e.table = true;
    e.autolink = true;
    e.tasklist = true;
    e.superscript = true;
    e.subscript = true;
    e.highlight = true;
    e.math_dollars = true;
    e.math_latex = true;
    o.render.hardbreaks = true;
    o.render.r#unsafe = true;
    o
}

/// Renders field Markdown as Anki field HTML.
///
/// Never panics. Empty or whitespace-only input gives an empty string.
pub fn markdown_to_html(md: &str) -> String {
    if md.trim().is_empty() {
        return String::new();
    }
    let md = if md.contains('\r') {
        std::borrow::Cow::Owned(md.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(md)
    };
    let arena = Arena::new();
    let root = parse_document(&arena, &md, &options());
    let mut out = String::with_capacity(md.len() + md.len() / 2 + 16);
    blocks(root, &mut out);
    out
}

/// Whether a block renders as inline content in Anki's line model (paragraphs, `<br>`-only HTML).
fn is_inline_block(node: &AstNode<'_>) -> bool {
    match &node.data.borrow().value {
        NodeValue::Paragraph => true,
        NodeValue::HtmlBlock(h) => is_br_only(&h.literal),
        _ => false,
    }
}

fn is_br_only(s: &str) -> bool {
    let mut rest = s.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let lower = rest.get(..3).map(str::to_ascii_lowercase);
        if lower.as_deref() != Some("<br") {
            return false;
        }
        match rest.find('>') {
            Some(end) => rest = rest[end + 1..].trim_start(),
            None => return false,
        }
    }
    true
}

/// Nesting depth beyond which a subtree is rendered as plain text (the renderer is recursive).
const MAX_DEPTH: usize = 48;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `f` one level deeper, or renders `node`'s text iteratively when nesting is too deep.
fn nested<'a>(node: &'a AstNode<'a>, out: &mut String, f: impl FnOnce(&mut String)) {
    let depth = DEPTH.with(|d| d.get());
    if depth >= MAX_DEPTH {
        for d in node.descendants().skip(1) {
            match &d.data.borrow().value {
                NodeValue::Text(t) => escape_into(t, out),
                NodeValue::Code(c) => escape_into(&c.literal, out),
                NodeValue::SoftBreak | NodeValue::LineBreak => out.push_str("<br>"),
                _ => {}
            }
        }
        return;
    }
    DEPTH.with(|d| d.set(depth + 1));
    f(out);
    DEPTH.with(|d| d.set(depth));
}

fn blocks<'a>(parent: &'a AstNode<'a>, out: &mut String) {
    nested(parent, out, |out| blocks_inner(parent, out));
}

fn blocks_inner<'a>(parent: &'a AstNode<'a>, out: &mut String) {
    let mut prev_inline = false;
    for child in parent.children() {
        let inline = is_inline_block(child);
        if inline && prev_inline {
            out.push_str("<br><br>");
        }
        block(child, out);
        prev_inline = inline;
    }
}

fn block<'a>(node: &'a AstNode<'a>, out: &mut String) {
    let value = node.data.borrow().value.clone();
    match value {
        NodeValue::Paragraph => inlines(node, out),
        NodeValue::Heading(h) => {
            let level = h.level.clamp(1, 6);
            out.push_str(&format!("<h{level}>"));
            inlines(node, out);
            out.push_str(&format!("</h{level}>"));
        }
        NodeValue::BlockQuote | NodeValue::MultilineBlockQuote(_) => {
            out.push_str("<blockquote>");
            blocks(node, out);
            out.push_str("</blockquote>");
        }
        NodeValue::List(list) => {
            if list.list_type == ListType::Ordered {
                if list.start == 1 {
                    out.push_str("<ol>");
                } else {
                    out.push_str(&format!("<ol start=\"{}\">", list.start));
                }
                blocks(node, out);
                out.push_str("</ol>");
            } else {
                out.push_str("<ul>");
                blocks(node, out);
                out.push_str("</ul>");
            }
        }
        NodeValue::Item(_) => {
            out.push_str("<li>");
            blocks(node, out);
            out.push_str("</li>");
        }
        NodeValue::TaskItem(task) => {
            if task.symbol.is_some() {
                out.push_str("<li><input type=\"checkbox\" checked disabled> ");
            } else {
                out.push_str("<li><input type=\"checkbox\" disabled> ");
            }
            blocks(node, out);
            out.push_str("</li>");
        }
        NodeValue::CodeBlock(code) => {
            let lang = code.info.split_whitespace().next().unwrap_or("");
            let lang: String = lang.chars().filter(|c| !matches!(c, '"' | '<' | '>' | '&' | '\'')).collect();
            if lang.is_empty() {
                out.push_str("<pre><code>");
                escape_into(&code.literal, out);
            } else {
                out.push_str("<pre><code class=\"language-");
                out.push_str(&lang);
                out.push_str("\">");
                highlight_into(&lang, &code.literal, out);
            }
            out.push_str("</code></pre>");
        }
        NodeValue::HtmlBlock(html) => out.push_str(html.literal.trim_end_matches('\n')),
        NodeValue::ThematicBreak => out.push_str("<hr>"),
        NodeValue::Table(table) => {
            out.push_str("<table>");
            let mut in_body = false;
            for row in node.children() {
                let header = matches!(row.data.borrow().value, NodeValue::TableRow(true));
                if header {
                    out.push_str("<thead>");
                } else if !in_body {
                    out.push_str("<tbody>");
                    in_body = true;
                }
                out.push_str("<tr>");
                let tag = if header { "th" } else { "td" };
                for (i, cell) in row.children().enumerate() {
                    let align = match table.alignments.get(i) {
                        Some(TableAlignment::Left) => " align=\"left\"",
                        Some(TableAlignment::Center) => " align=\"center\"",
                        Some(TableAlignment::Right) => " align=\"right\"",
                        _ => "",
                    };
                    out.push_str(&format!("<{tag}{align}>"));
                    inlines(cell, out);
                    out.push_str(&format!("</{tag}>"));
                }
                out.push_str("</tr>");
                if header {
                    out.push_str("</thead>");
                }
            }
            if in_body {
                out.push_str("</tbody>");
            }
            out.push_str("</table>");
        }
        // Extensions that are not enabled, and the document itself: render children.
        _ => blocks(node, out),
    }
}

fn inlines<'a>(parent: &'a AstNode<'a>, out: &mut String) {
    nested(parent, out, |out| inlines_inner(parent, out));
}

fn inlines_inner<'a>(parent: &'a AstNode<'a>, out: &mut String) {
    let mut skip_width_of: Option<usize> = None;
    for child in parent.children() {
        let value = child.data.borrow().value.clone();
        if let Some(n) = skip_width_of.take()
            && let NodeValue::Text(t) = &value
        {
            escape_into(&t[n..], out);
            continue;
        }
        if let NodeValue::Image(link) = &value {
            let width = child.next_sibling().and_then(|next| match &next.data.borrow().value {
                NodeValue::Text(t) => width_attr(t),
                _ => None,
            });
            image(child, &link.url, &link.title, width.map(|(w, _)| w), out);
            skip_width_of = width.map(|(_, len)| len);
            continue;
        }
        inline(child, value, out);
    }
}

/// `{width=N}` at the start of `text`: (N, length of the attribute).
fn width_attr(text: &str) -> Option<(u32, usize)> {
    let rest = text.strip_prefix("{width=")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 6 || rest.as_bytes().get(digits) != Some(&b'}') {
        return None;
    }
    let n = rest[..digits].parse().ok()?;
    Some((n, "{width=".len() + digits + 1))
}

fn wrap<'a>(tag: &str, node: &'a AstNode<'a>, out: &mut String) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    inlines(node, out);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn inline<'a>(node: &'a AstNode<'a>, value: NodeValue, out: &mut String) {
    match value {
        NodeValue::Text(t) => escape_into(&t, out),
        NodeValue::SoftBreak | NodeValue::LineBreak => out.push_str("<br>"),
        NodeValue::Code(c) => {
            out.push_str("<code>");
            escape_into(&c.literal, out);
            out.push_str("</code>");
        }
        NodeValue::HtmlInline(h) | NodeValue::Raw(h) => out.push_str(&h),
        NodeValue::Emph => wrap("i", node, out),
        NodeValue::Strong => wrap("b", node, out),
        NodeValue::Strikethrough => wrap("del", node, out),
        NodeValue::Highlight => wrap("mark", node, out),
        NodeValue::Superscript => wrap("sup", node, out),
        NodeValue::Subscript => wrap("sub", node, out),
        NodeValue::Underline => wrap("u", node, out),
        NodeValue::Math(m) => {
            let (open, close) = if m.display_math { ("\\[", "\\]") } else { ("\\(", "\\)") };
            out.push_str(open);
            escape_into(&m.literal, out);
            out.push_str(close);
        }
        NodeValue::Link(link) => {
            out.push_str("<a href=\"");
            attr_escape_into(&link.url, out);
            out.push('"');
            if !link.title.is_empty() {
                out.push_str(" title=\"");
                attr_escape_into(&link.title, out);
                out.push('"');
            }
            out.push('>');
            inlines(node, out);
            out.push_str("</a>");
        }
        NodeValue::Image(link) => image(node, &link.url, &link.title, None, out),
        _ => inlines(node, out),
    }
}

pub(crate) fn attr_escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

fn image<'a>(node: &'a AstNode<'a>, url: &str, title: &str, width: Option<u32>, out: &mut String) {
    out.push_str("<img src=\"");
    let src = media_src(url);
    attr_escape_into(&src, out);
    out.push_str("\" alt=\"");
    let mut alt = String::new();
    plain_text(node, &mut alt);
    attr_escape_into(&alt, out);
    out.push('"');
    if !title.is_empty() {
        out.push_str(" title=\"");
        attr_escape_into(title, out);
        out.push('"');
    }
    if let Some(w) = width {
        out.push_str(&format!(" style=\"width: {w}px;\""));
    }
    out.push('>');
}

fn plain_text<'a>(node: &'a AstNode<'a>, out: &mut String) {
    for child in node.children() {
        match &child.data.borrow().value {
            NodeValue::Text(t) => out.push_str(t),
            NodeValue::Code(c) => out.push_str(&c.literal),
            NodeValue::Math(m) => out.push_str(&m.literal),
            NodeValue::SoftBreak | NodeValue::LineBreak => out.push(' '),
            _ => plain_text(child, out),
        }
    }
}

/// Whether a URL has a scheme (`https:`, `data:` …) or is absolute, i.e. is not a media file name.
pub(crate) fn is_external(url: &str) -> bool {
    if url.starts_with('/') || url.starts_with('#') {
        return true;
    }
    let Some(colon) = url.find(':') else {
        return false;
    };
    let scheme = &url[..colon];
    scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `media/my%20image.png` or `<media/my image.png>` -> `my image.png`: the prefix is dropped and `%XX` escapes
/// decoded, giving the file name exactly as Anki stores it. Never percent-encoded: Anki's Check Media compares
/// `src` with file names literally, so `my%20image.png` would be a missing file. The caller HTML-escapes it.
fn media_src(url: &str) -> String {
    if is_external(url) {
        return url.to_owned();
    }
    let name = url.strip_prefix("media/").unwrap_or(url);
    percent_decode(name)
}

/// Decodes `%XX` escapes (as in Anki's image names); invalid escapes or invalid UTF-8 leave the input unchanged.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::markdown_to_html as h;

    #[test]
    fn paragraphs_and_breaks() {
        assert_eq!(h("Line 1\n\nLine 2"), "Line 1<br><br>Line 2");
        assert_eq!(h("Line 1\nLine 2"), "Line 1<br>Line 2");
        assert_eq!(h("# Title\n\nText"), "<h1>Title</h1>Text");
        assert_eq!(h("- a\n- b\n\nAfter"), "<ul><li>a</li><li>b</li></ul>After");
        assert_eq!(h("   \n"), "");
    }

    #[test]
    fn inline_features() {
        assert_eq!(
            h("**b** *i* ~~s~~ ==m== H~2~O x^2^"),
            "<b>b</b> <i>i</i> <del>s</del> <mark>m</mark> H<sub>2</sub>O x<sup>2</sup>"
        );
        assert_eq!(h("`a<b>`"), "<code>a&lt;b&gt;</code>");
        assert_eq!(h("<u>x</u>"), "<u>x</u>");
        assert_eq!(h("{{c1::**x**::hint}}"), "{{c1::<b>x</b>::hint}}");
    }

    #[test]
    fn math_is_protected() {
        assert_eq!(h("$a_1 * b_2$ and $$x_i$$"), "\\(a_1 * b_2\\) and \\[x_i\\]");
        assert_eq!(h("\\(a<b\\)"), "\\(a&lt;b\\)");
        assert_eq!(h("costs $5 and $10"), "costs $5 and $10");
        assert_eq!(h("{{c1::$x^2$}}"), "{{c1::\\(x^2\\)}}");
        assert_eq!(h("`$x$`"), "<code>$x$</code>");
    }

    #[test]
    fn images() {
        assert_eq!(
            h("![Alt](media/photo.jpg){width=300} x"),
            "<img src=\"photo.jpg\" alt=\"Alt\" style=\"width: 300px;\"> x"
        );
        assert_eq!(h("![x](<media/my image (1).png>)"), "<img src=\"my image (1).png\" alt=\"x\">");
        assert_eq!(h("![](media/my%20image.png)"), "<img src=\"my image.png\" alt=\"\">");
        assert_eq!(h("![](media/a&b.png)"), "<img src=\"a&amp;b.png\" alt=\"\">");
        assert_eq!(h("![](<media/say \"hi\".png>)"), "<img src=\"say &quot;hi&quot;.png\" alt=\"\">");
        assert_eq!(h("![](media/100%2520.png)"), "<img src=\"100%20.png\" alt=\"\">", "a literal %20 in a name");
        assert_eq!(h("![](na\u{ef}ve.png)"), "<img src=\"na\u{ef}ve.png\" alt=\"\">");
        assert_eq!(h("![](https://e.com/a.gif)"), "<img src=\"https://e.com/a.gif\" alt=\"\">");
    }

    #[test]
    fn code_blocks() {
        assert_eq!(
            h("```python\nx = 1\n```"),
            "<pre><code class=\"language-python\">x = <span class=\"hl-num\">1</span>\n</code></pre>"
        );
        assert_eq!(h("```\n-->\n```"), "<pre><code>--&gt;\n</code></pre>");
        assert_eq!(h("```\n```"), "<pre><code></code></pre>");
    }

    #[test]
    fn tables_and_tasks() {
        assert_eq!(
            h("| a | b |\n| :-- | --- |\n| `c \\| d` | e |"),
            "<table><thead><tr><th align=\"left\">a</th><th>b</th></tr></thead><tbody><tr><td align=\"left\"><code>c | d</code></td><td>e</td></tr></tbody></table>"
        );
        assert_eq!(
            h("- [ ] a\n- [x] b"),
            "<ul><li><input type=\"checkbox\" disabled> a</li><li><input type=\"checkbox\" checked disabled> b</li></ul>"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        for md in [">".repeat(50_000), "- ".repeat(50_000), "*".repeat(50_000) + "a", "[".repeat(50_000)] {
            let html = h(&md);
            let _ = crate::convert::html_to_markdown(&html);
        }
    }
}
