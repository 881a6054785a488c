//! A deterministic generator of realistic collections for `cargo xtask bench`: N notes over M decks, all five
//! built-in note types, with math, fenced code, tables, tags and a few images in `media/`.
//!
//! The same text is valid for ankiops and for the Python AnkiOps (both read notes without ids, separated by
//! `---` lines, with `<!-- tags: … -->` comments), so one rendering is written into both folders. The text
//! avoids what AnkiOps rejects or rewrites: no cloze syntax outside Cloze notes, no `---` inside code, no
//! content line starting with a field label, and no `-->`/`==>` arrows.

use std::fmt::Write as _;
use std::path::Path;

/// xorshift64*: small, fast and good enough to vary the text; the same seed gives the same collection.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SUBJECTS: [&str; 10] =
    ["Biology", "Chemistry", "Physics", "History", "Geography", "Mathematics", "Medicine", "Law", "Economics", "Music"];

const WORDS: [&str; 64] = [
    "cell",
    "membrane",
    "protein",
    "enzyme",
    "reaction",
    "energy",
    "force",
    "field",
    "wave",
    "particle",
    "empire",
    "treaty",
    "river",
    "mountain",
    "climate",
    "matrix",
    "vector",
    "integral",
    "series",
    "function",
    "theorem",
    "organ",
    "nerve",
    "muscle",
    "contract",
    "statute",
    "court",
    "market",
    "price",
    "demand",
    "supply",
    "interval",
    "chord",
    "rhythm",
    "scale",
    "signal",
    "pressure",
    "volume",
    "density",
    "mass",
    "charge",
    "current",
    "voltage",
    "gene",
    "allele",
    "species",
    "habitat",
    "process",
    "structure",
    "system",
    "model",
    "theory",
    "evidence",
    "method",
    "result",
    "cause",
    "effect",
    "origin",
    "period",
    "region",
    "layer",
    "bond",
    "acid",
    "base",
];

const VERBS: [&str; 16] = [
    "regulates",
    "transforms",
    "contains",
    "explains",
    "limits",
    "produces",
    "measures",
    "describes",
    "connects",
    "separates",
    "controls",
    "defines",
    "reduces",
    "increases",
    "stabilises",
    "encodes",
];

const MATH: [&str; 8] = [
    "$x_{i}^2 + y_{i}^2 = r^2$",
    "$\\frac{a}{b} = \\frac{c}{d}$",
    "$E = mc^2$",
    "$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$",
    "$\\int_0^1 x^2 \\, dx = \\frac{1}{3}$",
    "$\\Delta G = \\Delta H - T \\Delta S$",
    "$p \\cdot V = n R T$",
    "$\\lim_{n \\to \\infty} (1 + 1/n)^n = e$",
];

const CODE: [&str; 4] = [
    "```python\ndef area(r):\n    return 3.14159 * r ** 2\n\nprint(area(2))\n```",
    "```rust\nfn gcd(a: u64, b: u64) -> u64 {\n    if b == 0 { a } else { gcd(b, a % b) }\n}\n```",
    "```sql\nSELECT name, count(*)\nFROM notes\nGROUP BY name;\n```",
    "```js\nconst sum = (xs) => xs.reduce((a, b) => a + b, 0);\nconsole.log(sum([1, 2, 3]));\n```",
];

/// Images written into `media/` and referenced from a few notes.
pub const IMAGES: usize = 5;

/// One generated note: its deck index and its Markdown block (without the separator).
pub struct Note {
    pub deck: usize,
    pub text: String,
}

/// A generated collection: deck names and the notes, in file order.
pub struct Collection {
    pub decks: Vec<String>,
    pub notes: Vec<Note>,
}

impl Collection {
    /// `notes` notes spread evenly over `decks` decks, from `seed`.
    pub fn generate(notes: usize, decks: usize, seed: u64) -> Collection {
        let mut rng = Rng::new(seed);
        let deck_names: Vec<String> = (0..decks)
            .map(|d| format!("{}::Chapter {:03}", SUBJECTS[d % SUBJECTS.len()], d / SUBJECTS.len() + 1))
            .collect();
        let generated = (0..notes)
            .map(|i| {
                let deck = i * decks / notes.max(1);
                Note { deck, text: note_text(&mut rng, i, &deck_names[deck]) }
            })
            .collect();
        Collection { decks: deck_names, notes: generated }
    }

    /// Deck name -> file name, as both tools spell it for these names (`A::B` -> `A__B.md`).
    pub fn file_name(deck: &str) -> String {
        format!("{}.md", deck.replace("::", "__"))
    }

    /// Writes one file per deck and the images into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let media = dir.join("media");
        std::fs::create_dir_all(&media).map_err(|e| format!("create {}: {e}", media.display()))?;
        for i in 0..IMAGES {
            let svg = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"80\"><rect width=\"120\" height=\"80\" \
                 fill=\"#{:06x}\"/><text x=\"10\" y=\"45\">figure {}</text></svg>\n",
                (i * 0x3a5f17) % 0xffffff,
                i + 1
            );
            let path = media.join(format!("figure-{}.svg", i + 1));
            std::fs::write(&path, svg).map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        let mut files: Vec<String> = vec![String::new(); self.decks.len()];
        for note in &self.notes {
            let file = &mut files[note.deck];
            if !file.is_empty() {
                file.push_str("\n\n---\n\n");
            }
            file.push_str(&note.text);
        }
        for (deck, text) in self.decks.iter().zip(files) {
            if text.is_empty() {
                continue;
            }
            let path = dir.join(Self::file_name(deck));
            std::fs::write(&path, text + "\n").map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

fn sentence(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    let mut s = String::new();
    for k in 0..n {
        if k > 0 {
            s.push(' ');
        }
        if k % 3 == 1 {
            s.push_str(rng.pick(&VERBS));
        } else {
            s.push_str(rng.pick(&WORDS));
        }
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => s,
    }
}

/// Extra material appended to an answer: math, code, a table, a list or an image.
fn extras(rng: &mut Rng, out: &mut String) {
    if rng.chance(20) {
        let _ = write!(out, " Formally, {}.", rng.pick(&MATH));
    }
    if rng.chance(8) {
        let _ = write!(out, "\n\n{}", rng.pick(&CODE));
    }
    if rng.chance(6) {
        let (a, b) = (rng.pick(&WORDS), rng.pick(&WORDS));
        let _ = write!(
            out,
            "\n\n| term | meaning |\n|---|---|\n| {a} | {} |\n| {b} | {} |",
            sentence(rng, 2, 4),
            sentence(rng, 2, 4)
        );
    }
    if rng.chance(10) {
        let _ = write!(out, "\n\n- {}\n- {}\n- **{}**", sentence(rng, 2, 5), sentence(rng, 2, 5), rng.pick(&WORDS));
    }
    if rng.chance(3) {
        let _ = write!(out, "\n\n![figure](figure-{}.svg){{width=240}}", rng.below(IMAGES) + 1);
    }
}

fn note_text(rng: &mut Rng, index: usize, deck: &str) -> String {
    let mut out = String::new();
    if rng.chance(60) {
        let subject = deck.split("::").next().unwrap_or("misc").to_lowercase();
        let extra = if rng.chance(30) { " exam" } else { "" };
        let _ = writeln!(out, "<!-- tags: {subject} bench{extra} -->");
    }
    // A unique token in the first field keeps Anki's duplicate check quiet, as real notes would.
    let topic = format!("{} {}", rng.pick(&WORDS), index);
    match rng.below(100) {
        0..=39 => {
            let _ = writeln!(out, "Q: What does the {topic} do in this context?");
            let _ = write!(out, "A: {}.", sentence(rng, 6, 16));
            if rng.chance(50) {
                let _ = write!(out, "\n{}, *{}* and `{}`.", sentence(rng, 4, 9), rng.pick(&WORDS), rng.pick(&WORDS));
            }
            extras(rng, &mut out);
            if rng.chance(25) {
                let _ = write!(out, "\nE: {}.", sentence(rng, 4, 10));
            }
        }
        40..=54 => {
            let _ = writeln!(out, "F: The {topic}");
            let _ = write!(out, "B: {}.", sentence(rng, 4, 12));
            extras(rng, &mut out);
        }
        55..=74 => {
            let _ = write!(
                out,
                "T: The {topic} {} the {{{{c1::{}}}}}, which {} {{{{c2::{}}}}}.",
                rng.pick(&VERBS),
                rng.pick(&WORDS),
                rng.pick(&VERBS),
                sentence(rng, 1, 3).to_lowercase()
            );
            if rng.chance(30) {
                let _ = write!(out, "\nE: {}.", sentence(rng, 4, 10));
            }
        }
        75..=84 => {
            let _ = writeln!(out, "Q: Type the term for the {topic}.");
            let _ = write!(out, "I: {}", rng.pick(&WORDS));
        }
        _ => {
            let _ = writeln!(out, "Q: Which statements about the {topic} are true?");
            let choices = 3 + rng.below(3);
            for c in 1..=choices {
                let _ = writeln!(out, "C{c}: {}", sentence(rng, 2, 6));
            }
            let first = 1 + rng.below(choices);
            let second = 1 + rng.below(choices);
            if first == second {
                let _ = write!(out, "A: {first}");
            } else {
                let _ = write!(out, "A: {}, {}", first.min(second), first.max(second));
            }
        }
    }
    out
}

/// Appends `marker` to the first field line of the blocks whose global index satisfies `pick`, in the deck
/// files under `dir` (in the order [`Collection::write`] wrote them). Returns how many notes were edited.
pub fn edit_markdown(
    collection: &Collection,
    dir: &Path,
    marker: &str,
    pick: impl Fn(usize) -> bool,
) -> Result<usize, String> {
    let mut edited = 0;
    let mut index = 0;
    for (d, deck) in collection.decks.iter().enumerate() {
        let count = collection.notes.iter().filter(|n| n.deck == d).count();
        if count == 0 {
            continue;
        }
        let path = dir.join(Collection::file_name(deck));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let blocks: Vec<&str> = text.split("\n\n---\n\n").collect();
        if blocks.len() != count {
            return Err(format!("{} has {} blocks, expected {count}", path.display(), blocks.len()));
        }
        let mut changed = false;
        let mut out_blocks = Vec::with_capacity(blocks.len());
        for block in blocks {
            if pick(index) {
                let mut lines: Vec<String> = block.split('\n').map(str::to_owned).collect();
                if let Some(line) = lines.iter_mut().find(|l| ["Q: ", "F: ", "T: "].iter().any(|p| l.starts_with(p))) {
                    line.push(' ');
                    line.push_str(marker);
                    edited += 1;
                    changed = true;
                }
                out_blocks.push(lines.join("\n"));
            } else {
                out_blocks.push(block.to_owned());
            }
            index += 1;
        }
        if changed {
            std::fs::write(&path, out_blocks.join("\n\n---\n\n"))
                .map_err(|e| format!("write {}: {e}", path.display()))?;
        }
    }
    Ok(edited)
}

/// How often `needle` occurs in the `.md` files directly in `dir`.
pub fn count_in_decks(dir: &Path, needle: &str) -> Result<usize, String> {
    let mut count = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
            count += text.matches(needle).count();
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_text() {
        let a = Collection::generate(200, 10, 7);
        let b = Collection::generate(200, 10, 7);
        assert_eq!(a.notes.len(), 200);
        assert!(a.notes.iter().zip(&b.notes).all(|(x, y)| x.text == y.text && x.deck == y.deck));
        assert!(a.notes.iter().all(|n| !n.text.contains("\n\n---\n\n") && !n.text.contains("-->\n-->")));
    }

    #[test]
    fn every_note_type_appears() {
        let c = Collection::generate(300, 10, 1);
        for label in ["\nA: ", "F: ", "T: ", "I: ", "C1: "] {
            assert!(c.notes.iter().any(|n| n.text.contains(label)), "{label}");
        }
    }
}
