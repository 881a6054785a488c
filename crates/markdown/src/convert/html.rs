//! A small tolerant HTML tokenizer and tree builder for Anki field HTML (no html5ever).
//!
//! It never fails: stray `<` is text, unknown entities stay literal, unclosed tags are closed at the
//! end, stray end tags are ignored, and nesting deeper than [`MAX_DEPTH`] is flattened so that the
//! recursive converter can never overflow the stack.

/// Nesting depth beyond which start tags are ignored (their text is kept).
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Text(String),
    Comment(String),
    Element(Element),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// Lowercase tag name.
    pub name: String,
    /// Attributes in source order, names lowercase, values decoded.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

pub(crate) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

fn is_raw_text(name: &str) -> bool {
    matches!(name, "script" | "style" | "textarea" | "title")
}

/// Tags whose start closes an open `<p>` (HTML's implied end tags).
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "div"
            | "dl"
            | "fieldset"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hr"
            | "main"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "table"
            | "ul"
    )
}

struct Builder {
    /// Open elements; index 0 is a synthetic root.
    stack: Vec<Element>,
    /// Start tags ignored because of the depth limit, whose end tags must be ignored too.
    skipped: Vec<String>,
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        if let Some(top) = self.stack.last_mut() {
            if let (Node::Text(t), Some(Node::Text(prev))) = (&node, top.children.last_mut()) {
                prev.push_str(t);
                return;
            }
            top.children.push(node);
        }
    }

    fn pop(&mut self) {
        if self.stack.len() > 1
            && let Some(el) = self.stack.pop()
        {
            self.push_node(Node::Element(el));
        }
    }

    fn open_index(&self, name: &str) -> Option<usize> {
        self.stack.iter().enumerate().skip(1).rev().find(|(_, e)| e.name == name).map(|(i, _)| i)
    }

    /// Closes an open element `name` if it is open above any of `barriers`.
    fn close_within(&mut self, name: &str, barriers: &[&str]) {
        for i in (1..self.stack.len()).rev() {
            let n = self.stack[i].name.as_str();
            if n == name {
                while self.stack.len() > i {
                    self.pop();
                }
                return;
            }
            if barriers.contains(&n) {
                return;
            }
        }
    }

    fn start(&mut self, name: String, attrs: Vec<(String, String)>, self_closing: bool) {
        if closes_p(&name) {
            self.close_within("p", &["div", "li", "td", "th", "blockquote"]);
        }
        match name.as_str() {
            "li" => self.close_within("li", &["ul", "ol"]),
            "dt" | "dd" => {
                self.close_within("dt", &["dl"]);
                self.close_within("dd", &["dl"]);
            }
            "td" | "th" => {
                self.close_within("td", &["tr", "table"]);
                self.close_within("th", &["tr", "table"]);
            }
            "tr" => self.close_within("tr", &["table"]),
            "thead" | "tbody" | "tfoot" => {
                self.close_within("thead", &["table"]);
                self.close_within("tbody", &["table"]);
                self.close_within("tfoot", &["table"]);
            }
            _ => {}
        }
        let el = Element { name, attrs, children: Vec::new() };
        if is_void(&el.name) || self_closing {
            self.push_node(Node::Element(el));
        } else if self.stack.len() > MAX_DEPTH {
            self.skipped.push(el.name);
        } else {
            self.stack.push(el);
        }
    }

    fn end(&mut self, name: &str) {
        if let Some(i) = self.open_index(name) {
            while self.stack.len() > i {
                self.pop();
            }
        } else if let Some(pos) = self.skipped.iter().rposition(|n| n == name) {
            self.skipped.remove(pos);
        }
    }
}

/// Parses an HTML fragment into a forest of nodes.
pub(crate) fn parse(html: &str) -> Vec<Node> {
    let mut b = Builder {
        stack: vec![Element { name: String::new(), attrs: Vec::new(), children: Vec::new() }],
        skipped: Vec::new(),
    };
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &html[i..];
        let tag_end;
        if let Some(body) = rest.strip_prefix("<!--") {
            flush_text(&mut b, &html[text_start..i]);
            let (comment, len) = match body.find("-->") {
                Some(e) => (&body[..e], 4 + e + 3),
                None => (body, rest.len()),
            };
            b.push_node(Node::Comment(comment.to_owned()));
            tag_end = i + len;
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            // Doctype or processing instruction: renders as nothing.
            flush_text(&mut b, &html[text_start..i]);
            tag_end = rest.find('>').map_or(html.len(), |e| i + e + 1);
        } else if let Some(tag) = scan_tag(rest) {
            flush_text(&mut b, &html[text_start..i]);
            tag_end = i + tag.len;
            if tag.end {
                b.end(&tag.name);
            } else if is_raw_text(&tag.name) && !tag.self_closing {
                // Raw text up to the matching end tag.
                let close = format!("</{}", tag.name);
                let body = &html[tag_end..];
                let body_end = find_ascii_ci(body, &close).unwrap_or(body.len());
                let raw = &body[..body_end];
                let name = tag.name.clone();
                b.start(tag.name, tag.attrs, false);
                if name == "textarea" || name == "title" {
                    b.push_node(Node::Text(decode_entities(raw)));
                } else {
                    b.push_node(Node::Text(raw.to_owned()));
                }
                b.end(&name);
                let after = tag_end + body_end;
                i = html[after..].find('>').map_or(html.len(), |e| after + e + 1);
                text_start = i;
                continue;
            } else {
                b.start(tag.name, tag.attrs, tag.self_closing);
            }
        } else {
            i += 1;
            continue;
        }
        i = tag_end;
        text_start = i;
    }
    flush_text(&mut b, &html[text_start..]);
    while b.stack.len() > 1 {
        b.pop();
    }
    let root = b.stack.pop().map(|r| r.children).unwrap_or_default();
    merge_adjacent(root)
}

fn flush_text(b: &mut Builder, text: &str) {
    if !text.is_empty() {
        b.push_node(Node::Text(decode_entities(text)));
    }
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    end: bool,
    self_closing: bool,
    len: usize,
}

/// Scans a tag at the start of `s` (which starts with `<`); `None` if it is not a tag.
fn scan_tag(s: &str) -> Option<Tag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let end = bytes.get(1) == Some(&b'/');
    if end {
        i += 1;
    }
    if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'/' && bytes[i] != b'>' {
        i += 1;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => {
                i += 1;
                break;
            }
            Some(b'/') => {
                if bytes.get(i + 1) == Some(&b'>') {
                    self_closing = true;
                    i += 2;
                    break;
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        let an_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'>' | b'=' | b'/') {
            i += 1;
        }
        // An attribute name may start with '=' or '/' in broken HTML; make progress anyway.
        if i == an_start {
            i += 1;
            continue;
        }
        let attr_name = s[an_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let vs = i + 1;
                    let ve = s[vs..].find(q as char).map(|e| vs + e)?;
                    value = decode_entities(&s[vs..ve]);
                    i = ve + 1;
                }
                _ => {
                    let vs = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&s[vs..i]);
                }
            }
        }
        if !end && !attrs.iter().any(|(n, _)| n == &attr_name) {
            attrs.push((attr_name, value));
        }
    }
    Some(Tag { name, attrs, end, self_closing, len: i })
}

/// Merges adjacent text nodes and adjacent identical attribute-less formatting elements
/// (`<b>a</b><b>b</b>` renders as `<b>ab</b>`), recursively.
fn merge_adjacent(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let node = match node {
            Node::Element(mut e) => {
                e.children = merge_adjacent(std::mem::take(&mut e.children));
                // Empty formatting renders nothing: drop it so that its neighbours meet.
                if e.children.is_empty()
                    && e.attrs.is_empty()
                    && matches!(
                        e.name.as_str(),
                        "b" | "strong"
                            | "i"
                            | "em"
                            | "del"
                            | "s"
                            | "strike"
                            | "mark"
                            | "u"
                            | "sub"
                            | "sup"
                            | "span"
                            | "font"
                            | "code"
                    )
                {
                    continue;
                }
                Node::Element(e)
            }
            other => other,
        };
        match (out.last_mut(), node) {
            (Some(Node::Text(prev)), Node::Text(t)) => prev.push_str(&t),
            (Some(Node::Element(prev)), Node::Element(e))
                if prev.name == e.name
                    && prev.attrs.is_empty()
                    && e.attrs.is_empty()
                    && matches!(
                        e.name.as_str(),
                        "b" | "strong" | "i" | "em" | "del" | "s" | "strike" | "mark" | "u"
                    ) =>
            {
                let merged = merge_adjacent(std::mem::take(&mut prev.children).into_iter().chain(e.children).collect());
                prev.children = merged;
            }
            (_, node) => out.push(node),
        }
    }
    out
}

/// Decodes character references; unknown named references are kept literally.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        if let Some(len) = entity(after, &mut out) {
            rest = &after[len..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Decodes an entity body after `&` into `out`; returns the consumed length (including `;`).
fn entity(s: &str, out: &mut String) -> Option<usize> {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits.bytes().take_while(|b| (*b as char).is_digit(radix)).count();
        if len == 0 || len > 8 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let semi = usize::from(digits.as_bytes().get(len) == Some(&b';'));
        let c = match char::from_u32(code) {
            Some('\0') | None => '\u{FFFD}',
            Some(c) => c,
        };
        out.push(c);
        return Some(skip + len + semi);
    }
    let len = s.bytes().take_while(u8::is_ascii_alphanumeric).take(32).count();
    if len == 0 || s.as_bytes().get(len) != Some(&b';') {
        return None;
    }
    let name = &s[..len];
    let text = NAMED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)?;
    out.push_str(text);
    Some(len + 1)
}

const NAMED: &[(&str, &str)] = &[
    ("nbsp", "\u{a0}"),
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("AMP", "&"),
    ("LT", "<"),
    ("GT", ">"),
    ("QUOT", "\""),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("hellip", "…"),
    ("mdash", "—"),
    ("ndash", "–"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("sbquo", "‚"),
    ("bdquo", "„"),
    ("times", "×"),
    ("divide", "÷"),
    ("deg", "°"),
    ("plusmn", "±"),
    ("middot", "·"),
    ("bull", "•"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("sect", "§"),
    ("para", "¶"),
    ("larr", "←"),
    ("rarr", "→"),
    ("uarr", "↑"),
    ("darr", "↓"),
    ("harr", "↔"),
    ("lArr", "⇐"),
    ("rArr", "⇒"),
    ("hArr", "⇔"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("asymp", "≈"),
    ("equiv", "≡"),
    ("infin", "∞"),
    ("sum", "∑"),
    ("prod", "∏"),
    ("radic", "√"),
    ("part", "∂"),
    ("nabla", "∇"),
    ("isin", "∈"),
    ("notin", "∉"),
    ("cap", "∩"),
    ("cup", "∪"),
    ("sub", "⊂"),
    ("sup", "⊃"),
    ("forall", "∀"),
    ("exist", "∃"),
    ("empty", "∅"),
    ("and", "∧"),
    ("or", "∨"),
    ("not", "¬"),
    ("minus", "−"),
    ("lowast", "∗"),
    ("prime", "′"),
    ("Prime", "″"),
    ("micro", "µ"),
    ("frac12", "½"),
    ("frac14", "¼"),
    ("frac34", "¾"),
    ("sup1", "¹"),
    ("sup2", "²"),
    ("sup3", "³"),
    ("iexcl", "¡"),
    ("iquest", "¿"),
    ("shy", "\u{ad}"),
    ("zwj", "\u{200d}"),
    ("zwnj", "\u{200c}"),
    ("thinsp", "\u{2009}"),
    ("ensp", "\u{2002}"),
    ("emsp", "\u{2003}"),
    ("lrm", "\u{200e}"),
    ("rlm", "\u{200f}"),
    ("acute", "´"),
    ("uml", "¨"),
    ("ordf", "ª"),
    ("ordm", "º"),
    ("szlig", "ß"),
    ("auml", "ä"),
    ("ouml", "ö"),
    ("uuml", "ü"),
    ("Auml", "Ä"),
    ("Ouml", "Ö"),
    ("Uuml", "Ü"),
    ("eacute", "é"),
    ("egrave", "è"),
    ("ecirc", "ê"),
    ("aacute", "á"),
    ("agrave", "à"),
    ("acirc", "â"),
    ("iacute", "í"),
    ("oacute", "ó"),
    ("uacute", "ú"),
    ("ntilde", "ñ"),
    ("ccedil", "ç"),
    ("Eacute", "É"),
    ("alpha", "α"),
    ("beta", "β"),
    ("gamma", "γ"),
    ("delta", "δ"),
    ("epsilon", "ε"),
    ("zeta", "ζ"),
    ("eta", "η"),
    ("theta", "θ"),
    ("iota", "ι"),
    ("kappa", "κ"),
    ("lambda", "λ"),
    ("mu", "μ"),
    ("nu", "ν"),
    ("xi", "ξ"),
    ("omicron", "ο"),
    ("pi", "π"),
    ("rho", "ρ"),
    ("sigma", "σ"),
    ("tau", "τ"),
    ("upsilon", "υ"),
    ("phi", "φ"),
    ("chi", "χ"),
    ("psi", "ψ"),
    ("omega", "ω"),
    ("Gamma", "Γ"),
    ("Delta", "Δ"),
    ("Theta", "Θ"),
    ("Lambda", "Λ"),
    ("Xi", "Ξ"),
    ("Pi", "Π"),
    ("Sigma", "Σ"),
    ("Phi", "Φ"),
    ("Psi", "Ψ"),
    ("Omega", "Ω"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, children: Vec<Node>) -> Node {
        Node::Element(Element { name: name.into(), attrs: vec![], children })
    }

    fn t(s: &str) -> Node {
        Node::Text(s.into())
    }

    #[test]
    fn parses_anki_editor_html() {
        assert_eq!(
            parse("<div>a&nbsp;b</div><div><br></div>"),
            vec![el("div", vec![t("a\u{a0}b")]), el("div", vec![el("br", vec![])])]
        );
    }

    #[test]
    fn tolerates_broken_html() {
        assert_eq!(parse("a < b"), vec![t("a < b")]);
        assert_eq!(parse("<b>x"), vec![el("b", vec![t("x")])]);
        assert_eq!(parse("x</i>y"), vec![t("xy")]);
        assert_eq!(parse("<ul><li>a<li>b</ul>"), vec![el("ul", vec![el("li", vec![t("a")]), el("li", vec![t("b")])])]);
        assert_eq!(parse("&bogus; &#x41;&#66"), vec![t("&bogus; AB")]);
        assert_eq!(parse("<b>a</b><b>b</b>"), vec![el("b", vec![t("ab")])]);
        assert_eq!(parse("<p>a<div>b</div>"), vec![el("p", vec![t("a")]), el("div", vec![t("b")])]);
    }

    #[test]
    fn deep_nesting_is_flattened() {
        let html = "<b>".repeat(10_000) + "x";
        let nodes = parse(&html);
        let mut depth = 0;
        let mut cur = &nodes;
        while let Some(Node::Element(e)) = cur.first() {
            depth += 1;
            cur = &e.children;
        }
        assert!(depth <= MAX_DEPTH + 1);
    }
}
