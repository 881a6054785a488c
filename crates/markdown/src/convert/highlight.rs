//! A small lexer-based syntax highlighter for fenced code blocks (no syntect, no regex).
//!
//! It emits `<span class="hl-…">` around tokens; the text between spans is the code, HTML-escaped,
//! so the text content of the output is exactly the input (the HTML -> Markdown direction relies on it).
//! Classes: `hl-kw` keyword, `hl-ty` type, `hl-str` string, `hl-num` number, `hl-com` comment,
//! `hl-fn` function name, `hl-lit` literal, `hl-meta` attribute/preprocessor/decorator.

/// CSS for the highlighting classes, light and dark (`.nightMode` / `.night_mode`), shipped in note type CSS.
pub const HIGHLIGHT_CSS: &str = r#"/* ankiops code highlighting: classes emitted by ankiops at conversion time */
pre code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
.hl-kw { color: #a626a4; }
.hl-ty { color: #c18401; }
.hl-str { color: #50a14f; }
.hl-num { color: #986801; }
.hl-com { color: #a0a1a7; font-style: italic; }
.hl-fn { color: #4078f2; }
.hl-lit { color: #0184bc; }
.hl-meta { color: #e45649; }
.nightMode .hl-kw, .night_mode .hl-kw { color: #c678dd; }
.nightMode .hl-ty, .night_mode .hl-ty { color: #e5c07b; }
.nightMode .hl-str, .night_mode .hl-str { color: #98c379; }
.nightMode .hl-num, .night_mode .hl-num { color: #d19a66; }
.nightMode .hl-com, .night_mode .hl-com { color: #7f848e; font-style: italic; }
.nightMode .hl-fn, .night_mode .hl-fn { color: #61afef; }
.nightMode .hl-lit, .night_mode .hl-lit { color: #56b6c2; }
.nightMode .hl-meta, .night_mode .hl-meta { color: #e06c75; }
"#;

/// How `#`, `@` and similar introduce metadata in a language.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Meta {
    None,
    /// `#include …` to the end of the line (C, C++).
    HashLine,
    /// `#[…]` / `#![…]` (Rust).
    RustAttr,
    /// `@name` (Python, Java, TypeScript decorators/annotations).
    At,
}

struct Lang {
    keywords: &'static [&'static str],
    types: &'static [&'static str],
    literals: &'static [&'static str],
    line_comments: &'static [&'static str],
    block_comment: Option<(&'static str, &'static str)>,
    quotes: &'static [char],
    triple_quotes: bool,
    meta: Meta,
    /// Identifiers starting with an uppercase letter are types.
    capitalized_types: bool,
    /// Keywords match case-insensitively (SQL).
    ignore_case: bool,
    /// `$NAME` / `${…}` variables are metadata (shells).
    shell_vars: bool,
}

const C_KW: &[&str] = &[
    "auto", "break", "case", "const", "continue", "default", "do", "else", "enum", "extern", "for", "goto", "if",
    "inline", "register", "restrict", "return", "sizeof", "static", "struct", "switch", "typedef", "union", "volatile",
    "while",
];
const C_TY: &[&str] = &[
    "char", "double", "float", "int", "long", "short", "signed", "unsigned", "void", "bool", "size_t", "int8_t",
    "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "FILE",
];
const CPP_KW: &[&str] = &[
    "auto",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "constexpr",
    "continue",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "operator",
    "private",
    "protected",
    "public",
    "return",
    "sizeof",
    "static",
    "static_cast",
    "dynamic_cast",
    "reinterpret_cast",
    "const_cast",
    "struct",
    "switch",
    "template",
    "this",
    "throw",
    "try",
    "typedef",
    "typename",
    "union",
    "using",
    "virtual",
    "volatile",
    "while",
    "co_await",
    "co_return",
    "co_yield",
    "concept",
    "requires",
    "override",
    "final",
];
const CPP_TY: &[&str] = &[
    "bool",
    "char",
    "double",
    "float",
    "int",
    "long",
    "short",
    "signed",
    "unsigned",
    "void",
    "size_t",
    "string",
    "vector",
    "map",
    "set",
    "unique_ptr",
    "shared_ptr",
    "wchar_t",
    "char8_t",
    "char16_t",
    "char32_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint32_t",
    "uint64_t",
];
const C_LIT: &[&str] = &["true", "false", "NULL", "nullptr"];

const RUST_KW: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "yield",
    "macro_rules",
];
const RUST_TY: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32", "f64", "bool",
    "char", "str", "String", "Vec", "Option", "Result", "Box",
];
const RUST_LIT: &[&str] = &["true", "false", "None", "Some", "Ok", "Err"];

const PY_KW: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield", "match", "case", "self",
];
const PY_TY: &[&str] =
    &["int", "float", "str", "bool", "list", "dict", "set", "tuple", "bytes", "object", "type", "complex", "frozenset"];
const PY_LIT: &[&str] = &["True", "False", "None"];

const JS_KW: &[&str] = &[
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "export",
    "extends",
    "finally",
    "for",
    "from",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "let",
    "new",
    "of",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];
const TS_KW: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "declare",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "finally",
    "for",
    "from",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "is",
    "keyof",
    "let",
    "namespace",
    "new",
    "of",
    "private",
    "protected",
    "public",
    "readonly",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "try",
    "type",
    "typeof",
    "var",
    "void",
    "while",
    "yield",
];
const TS_TY: &[&str] = &["string", "number", "boolean", "any", "unknown", "never", "object", "symbol", "bigint"];
const JS_LIT: &[&str] = &["true", "false", "null", "undefined", "NaN", "Infinity"];

const JAVA_KW: &[&str] = &[
    "abstract",
    "assert",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "interface",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "var",
    "volatile",
    "while",
    "record",
    "yield",
];
const JAVA_TY: &[&str] = &["boolean", "byte", "char", "double", "float", "int", "long", "short", "void"];
const JAVA_LIT: &[&str] = &["true", "false", "null"];

const GO_KW: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
];
const GO_TY: &[&str] = &[
    "bool",
    "byte",
    "complex64",
    "complex128",
    "error",
    "float32",
    "float64",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "rune",
    "string",
    "uint",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uintptr",
    "any",
];
const GO_LIT: &[&str] = &["true", "false", "nil", "iota"];

const SH_KW: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done", "in", "function",
    "select", "return", "exit", "export", "local", "readonly", "declare", "source", "echo", "cd", "set", "unset",
    "shift", "trap", "eval", "exec",
];
const SH_LIT: &[&str] = &["true", "false"];

const SQL_KW: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "insert",
    "into",
    "values",
    "update",
    "set",
    "delete",
    "create",
    "table",
    "drop",
    "alter",
    "add",
    "index",
    "on",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "full",
    "cross",
    "group",
    "by",
    "order",
    "having",
    "limit",
    "offset",
    "as",
    "distinct",
    "union",
    "all",
    "exists",
    "in",
    "is",
    "like",
    "between",
    "case",
    "when",
    "then",
    "else",
    "end",
    "primary",
    "key",
    "foreign",
    "references",
    "default",
    "unique",
    "check",
    "constraint",
    "view",
    "with",
    "returning",
    "asc",
    "desc",
    "begin",
    "commit",
    "rollback",
    "transaction",
    "if",
];
const SQL_TY: &[&str] = &[
    "int",
    "integer",
    "bigint",
    "smallint",
    "text",
    "varchar",
    "char",
    "boolean",
    "real",
    "float",
    "double",
    "decimal",
    "numeric",
    "date",
    "time",
    "timestamp",
    "blob",
    "serial",
];
const SQL_LIT: &[&str] = &["null", "true", "false"];

const CS_KW: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "base",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "default",
    "delegate",
    "do",
    "else",
    "enum",
    "event",
    "explicit",
    "extern",
    "finally",
    "fixed",
    "for",
    "foreach",
    "get",
    "goto",
    "if",
    "implicit",
    "in",
    "interface",
    "internal",
    "is",
    "lock",
    "namespace",
    "new",
    "operator",
    "out",
    "override",
    "params",
    "private",
    "protected",
    "public",
    "readonly",
    "ref",
    "return",
    "sealed",
    "set",
    "sizeof",
    "static",
    "struct",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "using",
    "var",
    "virtual",
    "void",
    "while",
    "yield",
];
const CS_TY: &[&str] = &[
    "bool", "byte", "char", "decimal", "double", "float", "int", "long", "object", "sbyte", "short", "string", "uint",
    "ulong", "ushort",
];

const KOTLIN_KW: &[&str] = &[
    "as",
    "break",
    "class",
    "continue",
    "do",
    "else",
    "for",
    "fun",
    "if",
    "in",
    "interface",
    "is",
    "object",
    "package",
    "return",
    "super",
    "this",
    "throw",
    "try",
    "typealias",
    "val",
    "var",
    "when",
    "while",
    "import",
    "private",
    "public",
    "internal",
    "override",
    "open",
    "data",
    "sealed",
    "companion",
    "suspend",
];

const fn lang(
    keywords: &'static [&'static str],
    types: &'static [&'static str],
    literals: &'static [&'static str],
) -> Lang {
    Lang {
        keywords,
        types,
        literals,
        line_comments: &["//"],
        block_comment: Some(("/*", "*/")),
        quotes: &['"', '\''],
        triple_quotes: false,
        meta: Meta::None,
        capitalized_types: true,
        ignore_case: false,
        shell_vars: false,
    }
}

const RUST: Lang = Lang { meta: Meta::RustAttr, quotes: &['"'], ..lang(RUST_KW, RUST_TY, RUST_LIT) };
const C: Lang = Lang { meta: Meta::HashLine, capitalized_types: false, ..lang(C_KW, C_TY, C_LIT) };
const CPP: Lang = Lang { meta: Meta::HashLine, capitalized_types: false, ..lang(CPP_KW, CPP_TY, C_LIT) };
const PYTHON: Lang = Lang {
    line_comments: &["#"],
    block_comment: None,
    triple_quotes: true,
    meta: Meta::At,
    ..lang(PY_KW, PY_TY, PY_LIT)
};
const JS: Lang = Lang { quotes: &['"', '\'', '`'], ..lang(JS_KW, &[], JS_LIT) };
const TS: Lang = Lang { quotes: &['"', '\'', '`'], meta: Meta::At, ..lang(TS_KW, TS_TY, JS_LIT) };
const JAVA: Lang = Lang { meta: Meta::At, ..lang(JAVA_KW, JAVA_TY, JAVA_LIT) };
const GO: Lang = Lang { quotes: &['"', '\'', '`'], ..lang(GO_KW, GO_TY, GO_LIT) };
const CSHARP: Lang = Lang { capitalized_types: true, ..lang(CS_KW, CS_TY, JAVA_LIT) };
const KOTLIN: Lang = Lang {
    meta: Meta::At,
    ..lang(KOTLIN_KW, &["Int", "Long", "String", "Boolean", "Double", "Float", "Unit", "Any"], JAVA_LIT)
};
const SHELL: Lang = Lang {
    line_comments: &["#"],
    block_comment: None,
    capitalized_types: false,
    shell_vars: true,
    ..lang(SH_KW, &[], SH_LIT)
};
const SQL: Lang =
    Lang { line_comments: &["--"], capitalized_types: false, ignore_case: true, ..lang(SQL_KW, SQL_TY, SQL_LIT) };
const JSON: Lang = Lang {
    line_comments: &[],
    block_comment: None,
    quotes: &['"'],
    capitalized_types: false,
    ..lang(&[], &[], JAVA_LIT)
};

fn lookup(lang: &str) -> Option<Kind> {
    let lower = lang.to_ascii_lowercase();
    let kind = match lower.as_str() {
        "rust" | "rs" => Kind::Generic(&RUST),
        "python" | "py" | "python3" => Kind::Generic(&PYTHON),
        "javascript" | "js" | "jsx" | "mjs" | "node" => Kind::Generic(&JS),
        "typescript" | "ts" | "tsx" => Kind::Generic(&TS),
        "c" | "h" => Kind::Generic(&C),
        "cpp" | "c++" | "cc" | "cxx" | "hpp" => Kind::Generic(&CPP),
        "java" => Kind::Generic(&JAVA),
        "go" | "golang" => Kind::Generic(&GO),
        "csharp" | "cs" | "c#" => Kind::Generic(&CSHARP),
        "kotlin" | "kt" => Kind::Generic(&KOTLIN),
        "bash" | "sh" | "shell" | "zsh" | "console" => Kind::Generic(&SHELL),
        "sql" | "sqlite" | "postgresql" | "mysql" => Kind::Generic(&SQL),
        "json" | "jsonc" => Kind::Generic(&JSON),
        "html" | "xml" | "svg" | "xhtml" => Kind::Markup,
        "css" | "scss" => Kind::Css,
        _ => return None,
    };
    Some(kind)
}

enum Kind {
    Generic(&'static Lang),
    Markup,
    Css,
}

/// Whether `lang` (a fence's first info word) is a language the highlighter knows.
#[cfg(test)]
pub(crate) fn is_supported(lang: &str) -> bool {
    lookup(lang).is_some()
}

/// Appends `code`, HTML-escaped, to `out`, with highlighting spans if `lang` is known.
pub(crate) fn highlight_into(lang: &str, code: &str, out: &mut String) {
    match lookup(lang) {
        Some(Kind::Generic(l)) => generic(l, code, out),
        Some(Kind::Markup) => markup(code, out),
        Some(Kind::Css) => css(code, out),
        None => escape_into(code, out),
    }
}

pub(crate) fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

fn span(class: &str, text: &str, out: &mut String) {
    if text.is_empty() {
        return;
    }
    out.push_str("<span class=\"");
    out.push_str(class);
    out.push_str("\">");
    escape_into(text, out);
    out.push_str("</span>");
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte length of the char at `i` (1 if `i` is not a boundary, which cannot happen with our cursors).
fn char_len(s: &str, i: usize) -> usize {
    s.get(i..).and_then(|r| r.chars().next()).map_or(1, char::len_utf8)
}

fn take_while(s: &str, start: usize, f: impl Fn(char) -> bool) -> usize {
    let Some(rest) = s.get(start..) else {
        return start;
    };
    match rest.char_indices().find(|&(_, c)| !f(c)) {
        Some((off, _)) => start + off,
        None => s.len(),
    }
}

/// End (exclusive) of a string literal starting at `start` with quote `q` (repeated 3 times if `triple`).
fn string_end(s: &str, start: usize, q: char, triple: bool) -> usize {
    let bytes = s.as_bytes();
    let qlen = if triple { 3 } else { 1 };
    let mut i = start + qlen;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            i += 1;
            if i < bytes.len() {
                i += char_len(s, i);
            }
            continue;
        }
        if !triple && b == b'\n' && q != '`' {
            return i;
        }
        if b == q as u8 {
            if !triple {
                return i + 1;
            }
            if bytes.get(i + 1) == Some(&(q as u8)) && bytes.get(i + 2) == Some(&(q as u8)) {
                return i + 3;
            }
        }
        i += char_len(s, i);
    }
    s.len()
}

fn number_end(s: &str, start: usize) -> usize {
    let bytes = s.as_bytes();
    let mut i = start;
    if bytes.get(i) == Some(&b'0') && matches!(bytes.get(i + 1), Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O')) {
        i += 2;
    }
    while i < bytes.len() {
        let b = bytes[i];
        let ok = b.is_ascii_alphanumeric()
            || b == b'_'
            || (b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || ((b == b'+' || b == b'-') && matches!(bytes.get(i - 1), Some(b'e' | b'E')) && {
                // Only inside a decimal exponent like 1e-9.
                !s[start..i].starts_with("0x")
            });
        if !ok {
            break;
        }
        i += 1;
    }
    i
}

fn in_list(list: &[&str], word: &str, ignore_case: bool) -> bool {
    if ignore_case { list.iter().any(|k| k.eq_ignore_ascii_case(word)) } else { list.contains(&word) }
}

fn generic(l: &Lang, s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut plain_start = 0;
    let mut at_line_start = true;
    let mut prev_word: &str = "";
    macro_rules! flush {
        () => {
            if plain_start < i {
                escape_into(&s[plain_start..i], out);
            }
        };
    }
    while i < bytes.len() {
        let b = bytes[i];
        let rest = &s[i..];
        // Comments.
        if let Some(lc) = l.line_comments.iter().find(|lc| rest.starts_with(**lc)) {
            // In shells `#` starts a comment only at a word start.
            let word_start =
                !(lc == &"#" && l.shell_vars) || i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b';';
            if word_start {
                flush!();
                let end = rest.find('\n').map_or(s.len(), |e| i + e);
                span("hl-com", &s[i..end], out);
                i = end;
                plain_start = i;
                continue;
            }
        }
        if let Some((open, close)) = l.block_comment
            && rest.starts_with(open)
        {
            flush!();
            let end = rest[open.len()..].find(close).map_or(s.len(), |e| i + open.len() + e + close.len());
            span("hl-com", &s[i..end], out);
            i = end;
            plain_start = i;
            continue;
        }
        // Metadata.
        match l.meta {
            Meta::HashLine if b == b'#' && at_line_start => {
                flush!();
                let end = rest.find('\n').map_or(s.len(), |e| i + e);
                span("hl-meta", &s[i..end], out);
                i = end;
                plain_start = i;
                continue;
            }
            Meta::RustAttr if rest.starts_with("#[") || rest.starts_with("#![") => {
                flush!();
                let end = rest.find(']').map_or(s.len(), |e| i + e + 1);
                span("hl-meta", &s[i..end], out);
                i = end;
                plain_start = i;
                continue;
            }
            Meta::At if b == b'@' => {
                let end = take_while(s, i + 1, |c| is_ident_char(c) || c == '.');
                if end > i + 1 {
                    flush!();
                    span("hl-meta", &s[i..end], out);
                    i = end;
                    plain_start = i;
                    continue;
                }
            }
            _ => {}
        }
        if l.shell_vars && b == b'$' {
            let end = if bytes.get(i + 1) == Some(&b'{') {
                rest.find('}').map_or(s.len(), |e| i + e + 1)
            } else {
                take_while(s, i + 1, is_ident_char)
            };
            if end > i + 1 {
                flush!();
                span("hl-meta", &s[i..end], out);
                i = end;
                plain_start = i;
                continue;
            }
        }
        // Strings.
        let c = rest.chars().next().unwrap_or(' ');
        if l.quotes.contains(&c) {
            // Rust lifetimes ('a) are not strings.
            let is_lifetime = c == '\''
                && std::ptr::eq(l, &RUST)
                && !rest[1..].starts_with("\\")
                && rest.get(2..3) != Some("'")
                && rest.chars().nth(2) != Some('\'');
            if !is_lifetime {
                flush!();
                let triple = l.triple_quotes && rest.starts_with(&format!("{c}{c}{c}"));
                let end = string_end(s, i, c, triple);
                span("hl-str", &s[i..end], out);
                i = end;
                plain_start = i;
                at_line_start = false;
                continue;
            }
        }
        // Numbers.
        if b.is_ascii_digit() && (i == 0 || !is_ident_char(s[..i].chars().last().unwrap_or(' '))) {
            flush!();
            let end = number_end(s, i);
            span("hl-num", &s[i..end], out);
            i = end;
            plain_start = i;
            at_line_start = false;
            continue;
        }
        // Words.
        if is_ident_start(c) {
            let end = take_while(s, i, is_ident_char);
            let word = &s[i..end];
            let next = s[end..].trim_start_matches([' ', '\t']);
            let class = if in_list(l.keywords, word, l.ignore_case) {
                Some("hl-kw")
            } else if in_list(l.literals, word, l.ignore_case) {
                Some("hl-lit")
            } else if in_list(l.types, word, l.ignore_case)
                || (l.capitalized_types && word.chars().next().is_some_and(char::is_uppercase))
            {
                Some("hl-ty")
            } else if next.starts_with('(')
                || (std::ptr::eq(l, &RUST) && next.starts_with('!'))
                || matches!(prev_word, "fn" | "def" | "func" | "function" | "fun")
            {
                Some("hl-fn")
            } else {
                None
            };
            if let Some(class) = class {
                flush!();
                span(class, word, out);
                plain_start = end;
            }
            prev_word = word;
            i = end;
            at_line_start = false;
            continue;
        }
        if b == b'\n' {
            at_line_start = true;
        } else if !b.is_ascii_whitespace() {
            at_line_start = false;
            prev_word = "";
        }
        i += char_len(s, i);
    }
    flush!();
}

fn markup(s: &str, out: &mut String) {
    let mut i = 0;
    let mut plain_start = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("<!--") {
            escape_into(&s[plain_start..i], out);
            let end = rest.find("-->").map_or(s.len(), |e| i + e + 3);
            span("hl-com", &s[i..end], out);
            i = end;
            plain_start = i;
            continue;
        }
        if rest.starts_with('<') {
            let name_start = if rest.starts_with("</") { i + 2 } else { i + 1 };
            let name_end = take_while(s, name_start, |c| c.is_alphanumeric() || c == '-' || c == ':' || c == '!');
            if name_end > name_start {
                escape_into(&s[plain_start..name_start], out);
                span("hl-kw", &s[name_start..name_end], out);
                i = name_end;
                // Attributes until '>'.
                let mut p = i;
                while p < s.len() && !s[p..].starts_with('>') {
                    let r = &s[p..];
                    if r.starts_with('"') || r.starts_with('\'') {
                        escape_into(&s[i..p], out);
                        let q = if r.starts_with('"') { '"' } else { '\'' };
                        let end = r[1..].find(q).map_or(s.len(), |e| p + e + 2);
                        span("hl-str", &s[p..end], out);
                        p = end;
                        i = p;
                    } else if r.chars().next().is_some_and(|c| c.is_alphabetic()) {
                        escape_into(&s[i..p], out);
                        let end = take_while(s, p, |c| c.is_alphanumeric() || c == '-' || c == ':');
                        span("hl-ty", &s[p..end], out);
                        p = end;
                        i = p;
                    } else {
                        p += char_len(s, p);
                    }
                }
                plain_start = i;
                continue;
            }
        }
        i += char_len(s, i);
    }
    if plain_start < s.len() {
        escape_into(&s[plain_start..], out);
    }
}

fn css(s: &str, out: &mut String) {
    let mut i = 0;
    let mut plain_start = 0;
    let mut in_block = false;
    macro_rules! flush {
        () => {
            if plain_start < i {
                escape_into(&s[plain_start..i], out);
            }
        };
    }
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if let Some(body) = rest.strip_prefix("/*") {
            flush!();
            let end = body.find("*/").map_or(s.len(), |e| i + e + 4);
            span("hl-com", &s[i..end], out);
            i = end;
            plain_start = i;
        } else if c == '"' || c == '\'' {
            flush!();
            let end = string_end(s, i, c, false);
            span("hl-str", &s[i..end], out);
            i = end;
            plain_start = i;
        } else if c == '@' {
            flush!();
            let end = take_while(s, i + 1, |c| c.is_alphanumeric() || c == '-');
            span("hl-meta", &s[i..end], out);
            i = end;
            plain_start = i;
        } else if c == '{' || c == '}' {
            in_block = c == '{';
            i += 1;
        } else if in_block && (c.is_ascii_digit() || (c == '#' && rest.len() > 1)) {
            flush!();
            let end = take_while(s, i + 1, |c| c.is_alphanumeric() || c == '.' || c == '%');
            span("hl-num", &s[i..end], out);
            i = end;
            plain_start = i;
        } else if c.is_alphabetic() || c == '-' {
            let end = take_while(s, i, |c| c.is_alphanumeric() || c == '-' || c == '_');
            let next = s[end..].trim_start();
            let class = if in_block && next.starts_with(':') {
                "hl-kw"
            } else if in_block && next.starts_with('(') {
                "hl-fn"
            } else if !in_block {
                "hl-ty"
            } else {
                ""
            };
            if !class.is_empty() {
                flush!();
                span(class, &s[i..end], out);
                plain_start = end;
            }
            i = end;
        } else {
            i += char_len(s, i);
        }
    }
    flush!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    }

    fn hl(lang: &str, code: &str) -> String {
        let mut out = String::new();
        highlight_into(lang, code, &mut out);
        out
    }

    #[test]
    fn rust_tokens() {
        let html = hl("rust", "#[derive(Debug)]\nfn main() { let x: u8 = 1; // hi\n}");
        assert!(html.contains(r#"<span class="hl-meta">#[derive(Debug)]</span>"#), "{html}");
        assert!(html.contains(r#"<span class="hl-kw">fn</span> <span class="hl-fn">main</span>"#), "{html}");
        assert!(html.contains(r#"<span class="hl-ty">u8</span>"#));
        assert!(html.contains(r#"<span class="hl-num">1</span>"#));
        assert!(html.contains(r#"<span class="hl-com">// hi</span>"#));
    }

    #[test]
    fn python_tokens() {
        let html = hl("py", "@cache\ndef f(x):\n    return None  # no\ns = '''a\nb'''");
        assert!(html.contains(r#"<span class="hl-meta">@cache</span>"#), "{html}");
        assert!(html.contains(r#"<span class="hl-lit">None</span>"#));
        assert!(html.contains(r#"<span class="hl-str">'''a"#));
    }

    #[test]
    fn text_is_preserved_for_every_language() {
        let code =
            "x = \"a<b>&c\" + 'q' /* c */ // d\n# e\n<div class=\"x\">y</div>\n@a 0x1F 1e-9 $HOME `t`\n'unterminated";
        for lang in [
            "rust",
            "python",
            "javascript",
            "typescript",
            "c",
            "cpp",
            "java",
            "go",
            "bash",
            "sql",
            "json",
            "html",
            "css",
            "csharp",
            "kotlin",
            "unknown",
        ] {
            assert_eq!(text_of(&hl(lang, code)), code, "{lang}");
            assert!(lang == "unknown" || is_supported(lang));
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for code in ["'", "\"", "/*", "#[", "@", "$", "${", "0x", "1e", "é'", "'é", "<", "</", "<a '"] {
            for lang in ["rust", "python", "c", "bash", "html", "css", "sql"] {
                let _ = hl(lang, code);
            }
        }
    }
}
