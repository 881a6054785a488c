//! Deck name <-> file name: `Bio::Cells` <-> `Bio__Cells.md`, reversible, compatible with Python AnkiOps,
//! and safe on every file system (no `/ \ : * ? " < > |`, no Windows device names, NFC).

use unicode_normalization::UnicodeNormalization;

/// Stems the Python AnkiOps never takes for decks (`README.md` and friends); such deck names get their
/// first character escaped.
const NOT_DECKS: [&str; 8] =
    ["CHANGELOG", "CODE_OF_CONDUCT", "CONTRIBUTING", "FUNDING", "LICENSE", "README", "SECURITY", "SUPPORT"];

/// Names Windows reserves for devices, whatever the extension.
const WINDOWS_RESERVED: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

/// The file name of a deck: `Bio::Cells` -> `Bio__Cells.md`.
///
/// Escapes (percent-encoding, so Python AnkiOps reads the names too): `%` -> `%25`, `__` -> `%5F%5F`,
/// `::` -> `__`, `/` -> `%2F`, `\` -> `%5C`, `: * ? " < > |` and control characters -> `%XX`, a `_`
/// next to `::` -> `%5F`, a leading `.` and a trailing `.` or space, and the first letter of Windows
/// device names (`CON`, `COM1`…) and of `README`-like names. Names AnkiOps handled come out the same,
/// except for those with `: * ? " < > |`. The name is NFC-normalised. An empty deck name (which Anki does
/// not allow) gives `.md`, which [`file_name_to_deck`] rejects.
pub fn deck_to_file_name(deck: &str) -> String {
    let deck: String = deck.nfc().collect();
    let parts: Vec<&str> = deck.split("::").collect();
    let mut stem = String::with_capacity(deck.len() + 8);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            stem.push_str("__");
        }
        let chars: Vec<char> = part.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            if c != '_' {
                if needs_escape(c) {
                    push_escaped(&mut stem, c);
                } else {
                    stem.push(c);
                }
                j += 1;
                continue;
            }
            // A run of underscores: pairs are escaped (as AnkiOps does), an odd last one only when it
            // touches a `::` separator.
            let run = chars[j..].iter().take_while(|x| **x == '_').count();
            for r in 0..run {
                let at = j + r;
                let in_pair = r < run - run % 2;
                let touches_separator = (at == 0 && i > 0) || (at + 1 == chars.len() && i + 1 < parts.len());
                if in_pair || touches_separator {
                    stem.push_str("%5F");
                } else {
                    stem.push('_');
                }
            }
            j += run;
        }
    }
    escape_edges(&mut stem);
    format!("{stem}.md")
}

/// Characters no file system (or Windows) allows in a file name, `%` itself, and control characters.
fn needs_escape(c: char) -> bool {
    matches!(c, '%' | '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control()
}

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// Escapes what makes a whole name a problem: a leading dot (hidden), a trailing dot or space (Windows
/// drops them), device names and `README`-like names.
fn escape_edges(stem: &mut String) {
    if stem.starts_with('.') {
        stem.replace_range(..1, "%2E");
    }
    if let Some(last) = stem.chars().last()
        && (last == '.' || last == ' ')
    {
        stem.pop();
        push_escaped(stem, last);
    }
    let base = stem.split('.').next().unwrap_or("").trim_end_matches(' ').to_ascii_uppercase();
    let device = WINDOWS_RESERVED.contains(&base.as_str())
        || (base.len() == 4
            && (base.starts_with("COM") || base.starts_with("LPT"))
            && base.as_bytes()[3].is_ascii_digit());
    let special = device || NOT_DECKS.iter().any(|n| stem.eq_ignore_ascii_case(n));
    if special && let Some(first) = stem.chars().next() {
        let mut escaped = String::new();
        push_escaped(&mut escaped, first);
        stem.replace_range(..first.len_utf8(), &escaped);
    }
}

/// The deck name of a file name: `Bio__Cells.md` -> `Bio::Cells`. `None` if it is not a deck file
/// (not `.md`, a `README.md`-like name, or escapes that are not UTF-8). Reads AnkiOps names too.
pub fn file_name_to_deck(file_name: &str) -> Option<String> {
    let split = file_name.len().checked_sub(3)?;
    let (stem, ext) = (file_name.get(..split)?, file_name.get(split..)?);
    if !ext.eq_ignore_ascii_case(".md") || stem.is_empty() || stem.contains(['/', '\\']) {
        return None;
    }
    if NOT_DECKS.iter().any(|n| stem.eq_ignore_ascii_case(n)) {
        return None;
    }
    let joined = stem.replace("__", "::");
    let mut bytes = Vec::with_capacity(joined.len());
    let raw = joined.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if raw[i] == b'%'
            && let (Some(h), Some(l)) = (raw.get(i + 1).and_then(|b| hex(*b)), raw.get(i + 2).and_then(|b| hex(*b)))
        {
            bytes.push((h * 16 + l) as u8);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    Some(name.nfc().collect())
}

/// The key under which Anki considers two deck names the same deck: NFC and case-folded, so
/// `Bio::Cells` and `bio::cells` (two files) can be detected as one deck.
pub fn deck_key(name: &str) -> String {
    let lower: String = name.nfc().flat_map(char::to_lowercase).collect();
    lower.nfc().collect()
}
