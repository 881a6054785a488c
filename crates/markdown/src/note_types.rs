//! The registry of managed note types: their fields, the prefixes that label them in deck files, and how a
//! note's type is recognised from the prefixes it uses.

use std::fmt;

/// One field of a note type, as it appears in a deck file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field name in Anki, e.g. `Question`.
    pub name: String,
    /// The label that starts the field in a deck file, with its colon, e.g. `Q:`.
    pub prefix: String,
    /// Whether the field identifies the note type and must be present and non-empty.
    pub required: bool,
}

/// What kind of cards a note type makes; it decides the validation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    Standard,
    /// Needs at least one `{{cN::…}}` deletion.
    Cloze,
    /// Multiple choice: `C1:`… choices and an `A:` listing the right ones.
    Choice,
}

/// A managed note type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteTypeSpec {
    pub name: String,
    pub kind: NoteKind,
    pub fields: Vec<FieldSpec>,
}

impl NoteTypeSpec {
    /// The field labelled by `prefix` (e.g. `Q:`), if this type has one.
    pub fn field_by_prefix(&self, prefix: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.prefix == prefix)
    }

    /// The field called `name` in Anki, if this type has one.
    pub fn field_by_name(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field names in Anki's order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

/// Why a note's type could not be recognised from its prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferError {
    /// No managed type has all these prefixes (and its required ones among them).
    NoMatch { prefixes: Vec<String> },
    /// More than one type fits; a `<!-- note_type: … -->` comment decides.
    Ambiguous { candidates: Vec<String> },
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InferError::NoMatch { prefixes } => write!(
                f,
                "no note type has the fields {}: check the labels, or add a `<!-- note_type: Name -->` line",
                prefixes.join(" ")
            ),
            InferError::Ambiguous { candidates } => write!(
                f,
                "the fields fit several note types ({}): add a `<!-- note_type: Name -->` line to choose one",
                candidates.join(", ")
            ),
        }
    }
}

impl std::error::Error for InferError {}

/// The set of note types ankiops manages: the built-in ones plus those declared in `note_types/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    types: Vec<NoteTypeSpec>,
}

fn field(name: &str, prefix: &str, required: bool) -> FieldSpec {
    FieldSpec { name: name.to_owned(), prefix: prefix.to_owned(), required }
}

/// `E:` (extra), `M:` (more, behind a button) and `AI:` (AI notes): optional on every built-in type.
fn optional_tail() -> [FieldSpec; 3] {
    [field("Extra", "E:", false), field("More", "M:", false), field("AI Notes", "AI:", false)]
}

impl Registry {
    /// The built-in note types, with the field names and prefixes of the Python AnkiOps, so its collections
    /// keep working.
    pub fn builtin() -> Registry {
        let mut choice = vec![field("Question", "Q:", true)];
        for i in 1..=8 {
            choice.push(field(&format!("Choice {i}"), &format!("C{i}:"), false));
        }
        choice.push(field("Answer", "A:", true));
        choice.extend(optional_tail());
        let types = vec![
            NoteTypeSpec {
                name: "AnkiOpsQA".into(),
                kind: NoteKind::Standard,
                fields: [field("Question", "Q:", true), field("Answer", "A:", true)]
                    .into_iter()
                    .chain(optional_tail())
                    .collect(),
            },
            NoteTypeSpec {
                name: "AnkiOpsReversed".into(),
                kind: NoteKind::Standard,
                fields: [field("Front", "F:", true), field("Back", "B:", true)]
                    .into_iter()
                    .chain(optional_tail())
                    .collect(),
            },
            NoteTypeSpec {
                name: "AnkiOpsCloze".into(),
                kind: NoteKind::Cloze,
                fields: [field("Text", "T:", true)].into_iter().chain(optional_tail()).collect(),
            },
            NoteTypeSpec {
                name: "AnkiOpsInput".into(),
                kind: NoteKind::Standard,
                fields: [field("Question", "Q:", true), field("Input", "I:", true)]
                    .into_iter()
                    .chain(optional_tail())
                    .collect(),
            },
            NoteTypeSpec { name: "AnkiOpsChoice".into(), kind: NoteKind::Choice, fields: choice },
        ];
        Registry { types }
    }

    /// Adds a custom note type, replacing a built-in one of the same name.
    pub fn insert(&mut self, spec: NoteTypeSpec) {
        match self.types.iter_mut().find(|t| t.name == spec.name) {
            Some(existing) => *existing = spec,
            None => self.types.push(spec),
        }
    }

    pub fn get(&self, name: &str) -> Option<&NoteTypeSpec> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &NoteTypeSpec> {
        self.types.iter()
    }

    /// Whether `prefix` (with its colon, e.g. `Q:`) labels a field of any managed type.
    pub fn is_prefix(&self, prefix: &str) -> bool {
        self.types.iter().any(|t| t.field_by_prefix(prefix).is_some())
    }

    /// Every prefix any managed type uses, deduplicated, longest first (so `C1:` is tried before `C:`).
    pub fn prefixes(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.types.iter().flat_map(|t| t.fields.iter().map(|f| f.prefix.as_str())).collect();
        all.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        all.dedup();
        all
    }

    /// Recognises a note's type from the prefixes it uses: the types that have all of them and whose
    /// required fields are all among them. A choice type also needs at least one `C…` choice.
    pub fn infer(&self, prefixes: &[&str]) -> Result<&NoteTypeSpec, InferError> {
        let candidates: Vec<&NoteTypeSpec> = self
            .types
            .iter()
            .filter(|t| prefixes.iter().all(|p| t.field_by_prefix(p).is_some()))
            .filter(|t| t.fields.iter().filter(|f| f.required).all(|f| prefixes.contains(&f.prefix.as_str())))
            .filter(|t| {
                t.kind != NoteKind::Choice
                    || t.fields.iter().any(|f| f.name.starts_with("Choice") && prefixes.contains(&f.prefix.as_str()))
            })
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => Err(InferError::NoMatch { prefixes: prefixes.iter().map(|p| p.to_string()).collect() }),
            many => Err(InferError::Ambiguous { candidates: many.iter().map(|t| t.name.clone()).collect() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(prefixes: &[&str], expect: &str) {
        let registry = Registry::builtin();
        let got = match registry.infer(prefixes) {
            Ok(t) => t.name.clone(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn infers_builtin_types_from_prefixes() {
        check(&["Q:", "A:"], "AnkiOpsQA");
        check(&["Q:", "A:", "E:", "M:"], "AnkiOpsQA");
        check(&["F:", "B:"], "AnkiOpsReversed");
        check(&["T:", "E:"], "AnkiOpsCloze");
        check(&["Q:", "I:"], "AnkiOpsInput");
        check(&["Q:", "C1:", "C2:", "A:"], "AnkiOpsChoice");
    }

    #[test]
    fn reports_fields_that_fit_no_type() {
        check(&["Q:"], "no note type has the fields Q:: check the labels, or add a `<!-- note_type: Name -->` line");
        check(
            &["Q:", "B:"],
            "no note type has the fields Q: B:: check the labels, or add a `<!-- note_type: Name -->` line",
        );
    }

    #[test]
    fn a_custom_type_with_the_same_prefixes_is_ambiguous() {
        let mut registry = Registry::builtin();
        registry.insert(NoteTypeSpec {
            name: "MyQA".into(),
            kind: NoteKind::Standard,
            fields: vec![field("Front", "Q:", true), field("Back", "A:", true)],
        });
        let err = registry.infer(&["Q:", "A:"]).unwrap_err();
        assert_eq!(err, InferError::Ambiguous { candidates: vec!["AnkiOpsQA".into(), "MyQA".into()] });
    }

    #[test]
    fn prefixes_are_deduplicated_longest_first() {
        let registry = Registry::builtin();
        let prefixes = registry.prefixes();
        assert_eq!(prefixes.iter().filter(|p| **p == "Q:").count(), 1);
        assert!(prefixes.iter().position(|p| *p == "AI:") < prefixes.iter().position(|p| *p == "A:"));
    }
}
