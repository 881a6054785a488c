//! Anki field HTML read the way a browser reads it: html5ever's HTML5 tree building (fragment parsing in a
//! `<div>`) into the converter's small tree of elements, text and comments.
//!
//! Misnested and implied tags, `</br>`, `</p>`, every named character reference (with and without `;`) and
//! the Windows-1252 numeric references come out as in a browser. It never fails, and nesting deeper than
//! [`MAX_DEPTH`] is flattened (the text is kept) so that the recursive converter cannot overflow the stack.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeBuilderOpts, TreeSink};
use html5ever::{Attribute, ParseOpts, QualName, local_name, ns};

/// Nesting depth beyond which elements are dropped (their children are kept in their place).
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Text(String),
    Comment(String),
    Element(Element),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// Tag name as the parser gives it: lowercase for HTML, SVG's camelCase names kept.
    pub name: String,
    /// Attributes in source order, values decoded (`xlink:href` keeps its prefix).
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
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements whose content the parser reads as raw text: it is written back without escapes.
pub(crate) fn is_raw_text(name: &str) -> bool {
    matches!(name, "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes")
}

/// Parses an HTML fragment (the inside of a field) into a forest of nodes.
pub(crate) fn parse(html: &str) -> Vec<Node> {
    if html.is_empty() {
        return Vec::new();
    }
    // Most fields are plain text: the parser would give the same single text node.
    if !html.contains(['<', '&', '\r', '\0']) {
        return vec![Node::Text(html.to_owned())];
    }
    let opts = ParseOpts {
        // Scripting off: `<noscript>` holds elements rather than raw text, so its content round-trips.
        tree_builder: TreeBuilderOpts { scripting_enabled: false, ..TreeBuilderOpts::default() },
        ..ParseOpts::default()
    };
    let context = QualName::new(None, ns!(html), local_name!("div"));
    let sink = html5ever::parse_fragment(Sink::default(), opts, context, Vec::new(), false).one(html);
    let mut slots = sink.slots.into_inner();
    // The fragment's nodes are the children of the `<html>` element the parser puts under the document.
    let root = slots.first().and_then(|doc| doc.children.first().copied());
    let children = root.and_then(|r| slots.get_mut(r)).map(|r| std::mem::take(&mut r.children)).unwrap_or_default();
    merge_adjacent(build(&mut slots, children))
}

/// Turns the arena into owned nodes, iteratively, flattening elements nested deeper than [`MAX_DEPTH`].
fn build(slots: &mut [Slot], top: Vec<usize>) -> Vec<Node> {
    struct Frame {
        element: Element,
        children: Vec<usize>,
        next: usize,
    }
    let root = Element { name: String::new(), attrs: Vec::new(), children: Vec::new() };
    let mut stack = vec![Frame { element: root, children: top, next: 0 }];
    loop {
        let deep = stack.len() > MAX_DEPTH;
        let Some(frame) = stack.last_mut() else {
            return Vec::new();
        };
        let Some(&id) = frame.children.get(frame.next) else {
            let done = stack.pop().map(|f| f.element);
            match (stack.last_mut(), done) {
                (Some(parent), Some(e)) => parent.element.children.push(Node::Element(e)),
                (None, Some(e)) => return e.children,
                _ => return Vec::new(),
            }
            continue;
        };
        frame.next += 1;
        let Some(slot) = slots.get_mut(id) else {
            continue;
        };
        match std::mem::replace(&mut slot.kind, Kind::Other) {
            Kind::Text(t) => frame.element.children.push(Node::Text(t)),
            Kind::Comment(c) => frame.element.children.push(Node::Comment(c)),
            Kind::Element { name, attrs } => {
                let children = std::mem::take(&mut slot.children);
                if children.is_empty() {
                    frame.element.children.push(Node::Element(Element { name, attrs, children: Vec::new() }));
                } else if deep {
                    frame.children.splice(frame.next..frame.next, children);
                } else {
                    stack.push(Frame { element: Element { name, attrs, children: Vec::new() }, children, next: 0 });
                }
            }
            Kind::Document | Kind::Other => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tree sink: an arena of slots, handles carrying their element's name

enum Kind {
    Document,
    Element {
        name: String,
        attrs: Vec<(String, String)>,
    },
    Text(String),
    Comment(String),
    /// Template contents, doctypes and processing instructions: render nothing.
    Other,
}

struct Slot {
    parent: Option<usize>,
    children: Vec<usize>,
    kind: Kind,
}

/// A node of the arena; the name is kept in the handle so that [`TreeSink::elem_name`] can lend it.
struct HandleData {
    id: usize,
    name: QualName,
}

type Handle = Rc<HandleData>;

struct Sink {
    slots: RefCell<Vec<Slot>>,
}

impl Default for Sink {
    fn default() -> Sink {
        Sink { slots: RefCell::new(vec![Slot { parent: None, children: Vec::new(), kind: Kind::Document }]) }
    }
}

fn blank_name() -> QualName {
    QualName::new(None, ns!(), local_name!(""))
}

fn attr_name(name: &QualName) -> String {
    match &name.prefix {
        Some(prefix) => format!("{}:{}", &**prefix, &*name.local),
        None => name.local.to_string(),
    }
}

impl Sink {
    fn new_slot(&self, kind: Kind, name: QualName) -> Handle {
        let mut slots = self.slots.borrow_mut();
        slots.push(Slot { parent: None, children: Vec::new(), kind });
        Rc::new(HandleData { id: slots.len() - 1, name })
    }

    fn detach(slots: &mut [Slot], id: usize) {
        if let Some(parent) = slots.get_mut(id).and_then(|s| s.parent.take())
            && let Some(p) = slots.get_mut(parent)
        {
            p.children.retain(|&c| c != id);
        }
    }

    /// Inserts `child` into `parent` at `pos` (the end if `None`), merging text with the text before it.
    fn insert(&self, parent: usize, pos: Option<usize>, child: NodeOrText<Handle>) {
        let mut slots = self.slots.borrow_mut();
        match child {
            NodeOrText::AppendText(text) => {
                let Some(p) = slots.get(parent) else { return };
                let at = pos.unwrap_or(p.children.len());
                let before = at.checked_sub(1).and_then(|i| p.children.get(i)).copied();
                if let Some(Slot { kind: Kind::Text(t), .. }) = before.and_then(|b| slots.get_mut(b)) {
                    t.push_str(&text);
                    return;
                }
                slots.push(Slot { parent: Some(parent), children: Vec::new(), kind: Kind::Text(text.to_string()) });
                let id = slots.len() - 1;
                if let Some(p) = slots.get_mut(parent) {
                    p.children.insert(at.min(p.children.len()), id);
                }
            }
            NodeOrText::AppendNode(node) => {
                let id = node.id;
                Sink::detach(&mut slots, id);
                if let Some(s) = slots.get_mut(id) {
                    s.parent = Some(parent);
                }
                if let Some(p) = slots.get_mut(parent) {
                    let at = pos.unwrap_or(p.children.len()).min(p.children.len());
                    p.children.insert(at, id);
                }
            }
        }
    }

    /// The parent of `id` and the position of `id` among its children.
    fn position(&self, id: usize) -> Option<(usize, usize)> {
        let slots = self.slots.borrow();
        let parent = slots.get(id)?.parent?;
        let pos = slots.get(parent)?.children.iter().position(|&c| c == id)?;
        Some((parent, pos))
    }
}

impl TreeSink for Sink {
    type Handle = Handle;
    type Output = Sink;
    type ElemName<'a> = &'a QualName;

    fn finish(self) -> Sink {
        self
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        Rc::new(HandleData { id: 0, name: blank_name() })
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> &'a QualName {
        &target.name
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        let attrs = attrs.iter().map(|a| (attr_name(&a.name), a.value.to_string())).collect();
        let handle = self.new_slot(Kind::Element { name: name.local.to_string(), attrs }, name);
        if flags.template {
            // Template contents live outside the tree: a slot of its own, one past the template's.
            self.new_slot(Kind::Other, blank_name());
        }
        handle
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        self.new_slot(Kind::Comment(text.to_string()), blank_name())
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Handle {
        self.new_slot(Kind::Other, blank_name())
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        self.insert(parent.id, None, child);
    }

    fn append_based_on_parent_node(&self, element: &Handle, prev_element: &Handle, child: NodeOrText<Handle>) {
        if self.position(element.id).is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _name: StrTendril, _public_id: StrTendril, _system_id: StrTendril) {}

    fn get_template_contents(&self, target: &Handle) -> Handle {
        Rc::new(HandleData { id: target.id + 1, name: blank_name() })
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        x.id == y.id
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        if let NodeOrText::AppendNode(node) = &new_node {
            Sink::detach(&mut self.slots.borrow_mut(), node.id);
        }
        if let Some((parent, pos)) = self.position(sibling.id) {
            self.insert(parent, Some(pos), new_node);
        }
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        let mut slots = self.slots.borrow_mut();
        if let Some(Slot { kind: Kind::Element { attrs: existing, .. }, .. }) = slots.get_mut(target.id) {
            for a in attrs {
                let name = attr_name(&a.name);
                if !existing.iter().any(|(n, _)| *n == name) {
                    existing.push((name, a.value.to_string()));
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &Handle) {
        Sink::detach(&mut self.slots.borrow_mut(), target.id);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        let mut slots = self.slots.borrow_mut();
        let children = slots.get_mut(node.id).map(|s| std::mem::take(&mut s.children)).unwrap_or_default();
        for &c in &children {
            if let Some(s) = slots.get_mut(c) {
                s.parent = Some(new_parent.id);
            }
        }
        if let Some(p) = slots.get_mut(new_parent.id) {
            p.children.extend(children);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// After parsing

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

/// Decodes the character references of an attribute value as a browser does: every named reference of HTML
/// (the legacy ones such as `&copy` also without `;`, unless a letter, digit or `=` follows), numeric references
/// with the Windows-1252 replacements of `&#128;`…`&#159;`, and U+FFFD for `&#0;`, surrogates and values past
/// U+10FFFF. Unknown references stay literal.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match char_ref(after, &mut out) {
            Some(len) => rest = &after[len..],
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the reference after a `&` into `out`; returns how many bytes of `s` it took.
fn char_ref(s: &str, out: &mut String) -> Option<usize> {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits.bytes().take_while(|b| (*b as char).is_digit(radix)).count();
        if len == 0 {
            return None;
        }
        let code = digits[..len]
            .chars()
            .filter_map(|c| c.to_digit(radix))
            .fold(0u32, |n, d| n.saturating_mul(radix).saturating_add(d));
        let c = match code {
            0x80..=0x9F => html5ever::data::C1_REPLACEMENTS[(code - 0x80) as usize].unwrap_or('\u{FFFD}'),
            0 => '\u{FFFD}',
            _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
        };
        // C1 code points without a replacement are kept as themselves, as browsers do.
        let c = if (0x80..=0x9F).contains(&code) && c == '\u{FFFD}' { char::from_u32(code).unwrap_or(c) } else { c };
        out.push(c);
        let semi = usize::from(digits.as_bytes().get(len) == Some(&b';'));
        return Some(prefix + len + semi);
    }
    // The longest name of the table that `s` starts with (names are ASCII letters and digits, at most 32 long).
    let run = s.bytes().take(40).take_while(u8::is_ascii_alphanumeric).count();
    let with_semi = run + usize::from(s.as_bytes().get(run) == Some(&b';'));
    let (len, chars) = (1..=with_semi).rev().find_map(|k| match html5ever::data::NAMED_ENTITIES.get(&s[..k]) {
        Some(&(c1, c2)) if c1 != 0 => Some((k, (c1, c2))),
        _ => None,
    })?;
    let legacy = !s[..len].ends_with(';');
    if legacy && s.as_bytes().get(len).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'=') {
        return None;
    }
    for code in [chars.0, chars.1] {
        if code != 0 {
            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
        }
    }
    Some(len)
}

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
    fn reads_html_as_a_browser_does() {
        // Misnested formatting: the italic survives the end of the bold (adoption agency).
        assert_eq!(
            parse("<b>bold <i>both</b> italic</i>"),
            vec![el("b", vec![t("bold "), el("i", vec![t("both")])]), el("i", vec![t(" italic")])]
        );
        assert_eq!(parse("a</br>b"), vec![t("a"), el("br", vec![]), t("b")]);
        assert_eq!(parse("one</p>two"), vec![t("one"), el("p", vec![]), t("two")]);
        assert_eq!(parse("&ocirc; &hearts; &copy 2020 &#150; &#x2014;"), vec![t("ô ♥ © 2020 – —")]);
        assert_eq!(parse("a\r\nb\rc"), vec![t("a\nb\nc")]);
        assert_eq!(
            parse("<table><tr><td>x</td></tr></table>"),
            vec![el("table", vec![el("tbody", vec![el("tr", vec![el("td", vec![t("x")])])])])]
        );
    }

    #[test]
    fn decodes_attribute_references() {
        assert_eq!(decode_entities("a&amp;b &ocirc; &hearts; &NotNestedGreaterGreater;"), "a&b ô ♥ \u{2aa2}\u{338}");
        assert_eq!(decode_entities("&copy 2020 &copy=x &copyx"), "© 2020 &copy=x &copyx");
        assert_eq!(decode_entities("&#150;&#x80;&#129;&#0;&#xD800;&#99999999999;"), "–€\u{81}\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(decode_entities("&bogus; & &# &#x;"), "&bogus; & &# &#x;");
        assert_eq!(decode_entities("日本&amp;語"), "日本&語");
    }

    #[test]
    fn deep_nesting_is_flattened() {
        for open in ["<b>", "<div>", "<span style=x>"] {
            let html = open.repeat(5_000) + "x";
            let nodes = parse(&html);
            let mut depth = 0;
            let mut cur = &nodes;
            while let Some(Node::Element(e)) = cur.first() {
                depth += 1;
                cur = &e.children;
            }
            assert!(depth <= MAX_DEPTH + 1, "{open}: {depth}");
            assert_eq!(cur.first(), Some(&t("x")), "{open}");
        }
    }
}
