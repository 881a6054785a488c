//! The full note types ankiops pushes to Anki (fields, card templates, CSS): the built-in ones compiled in from
//! `crates/cli/note_types/`, the custom ones read from a collection's `note_types/<Name>/` folders, and the plan
//! of what must change in Anki to match them.
//!
//! Layout of the built-in files: `_base.css`, `_highlight.css` and `_extras.html` (the Extra, More and AI Notes
//! blocks of every back side, put in place of `<!-- ankiops: extras -->`) are shared; each type has a folder named after
//! it with `style.css` and its card templates, `front.html`/`back.html` for a one-card type and
//! `card1.front.html`, `card1.back.html`, `card2.front.html`, … for a type with several cards.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use ankiops_markdown::{FieldSpec, NoteKind, NoteTypeSpec, Registry};
use serde::Deserialize;

/// One card template: a name and the HTML of the question and the answer side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTemplate {
    pub name: String,
    pub front: String,
    pub back: String,
}

/// Everything ankiops pushes to Anki for one note type: fields (with their deck-file prefixes), templates, CSS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteTypeDef {
    pub spec: NoteTypeSpec,
    pub templates: Vec<CardTemplate>,
    pub css: String,
}

/// The styling every built-in type starts with; custom types get it too unless they opt out.
const BASE_CSS: &str = include_str!("note_types/_base.css");
const HIGHLIGHT_CSS: &str = include_str!("note_types/_highlight.css");

/// The files of one built-in type: its CSS and its templates as (name, front, back).
struct BuiltinFiles {
    name: &'static str,
    css: &'static str,
    templates: &'static [(&'static str, &'static str, &'static str)],
}

/// Template names are those of the Python AnkiOps, so its collections need no template rename.
const BUILTIN_FILES: &[BuiltinFiles] = &[
    BuiltinFiles {
        name: "AnkiOpsQA",
        css: include_str!("note_types/AnkiOpsQA/style.css"),
        templates: &[(
            "Card 1",
            include_str!("note_types/AnkiOpsQA/front.html"),
            include_str!("note_types/AnkiOpsQA/back.html"),
        )],
    },
    BuiltinFiles {
        name: "AnkiOpsReversed",
        css: include_str!("note_types/AnkiOpsReversed/style.css"),
        templates: &[
            (
                "Card 1",
                include_str!("note_types/AnkiOpsReversed/card1.front.html"),
                include_str!("note_types/AnkiOpsReversed/card1.back.html"),
            ),
            (
                "Card 2",
                include_str!("note_types/AnkiOpsReversed/card2.front.html"),
                include_str!("note_types/AnkiOpsReversed/card2.back.html"),
            ),
        ],
    },
    BuiltinFiles {
        name: "AnkiOpsCloze",
        css: include_str!("note_types/AnkiOpsCloze/style.css"),
        templates: &[(
            "Cloze",
            include_str!("note_types/AnkiOpsCloze/front.html"),
            include_str!("note_types/AnkiOpsCloze/back.html"),
        )],
    },
    BuiltinFiles {
        name: "AnkiOpsInput",
        css: include_str!("note_types/AnkiOpsInput/style.css"),
        templates: &[(
            "Card 1",
            include_str!("note_types/AnkiOpsInput/front.html"),
            include_str!("note_types/AnkiOpsInput/back.html"),
        )],
    },
    BuiltinFiles {
        name: "AnkiOpsChoice",
        css: include_str!("note_types/AnkiOpsChoice/style.css"),
        templates: &[(
            "Card 1",
            include_str!("note_types/AnkiOpsChoice/front.html"),
            include_str!("note_types/AnkiOpsChoice/back.html"),
        )],
    },
];

/// The choice card's script, shared by both sides: templates name it with this tag, and it is put in place (as
/// an inline script, so cards need no media file) when the built-in types are made.
const CHOICE_SCRIPT_TAG: &str = r#"<script src="ankiops:choice.js"></script>"#;
const CHOICE_SCRIPT: &str = include_str!("note_types/AnkiOpsChoice/choice.js");

/// The Extra, More and AI Notes blocks every built-in back side ends with, kept once in `_extras.html`.
const EXTRAS_TAG: &str = "<!-- ankiops: extras -->\n";
const EXTRAS: &str = include_str!("note_types/_extras.html");

/// Puts the shared pieces in place of their tags.
fn expand_shared_parts(html: &str) -> String {
    html.replace(CHOICE_SCRIPT_TAG, &format!("<script>\n{CHOICE_SCRIPT}</script>")).replace(EXTRAS_TAG, EXTRAS)
}

/// The shared CSS followed by a type's own, as one stylesheet.
fn with_shared_css(own: &str) -> String {
    format!("{BASE_CSS}\n{HIGHLIGHT_CSS}\n{own}")
}

/// The built-in note types, with the fields of [`Registry::builtin`] and our templates and CSS.
pub fn builtin() -> Vec<NoteTypeDef> {
    let registry = Registry::builtin();
    BUILTIN_FILES
        .iter()
        .filter_map(|files| {
            let spec = registry.get(files.name)?.clone();
            let templates = files
                .templates
                .iter()
                .map(|(name, front, back)| CardTemplate {
                    name: (*name).to_owned(),
                    front: expand_shared_parts(front),
                    back: expand_shared_parts(back),
                })
                .collect();
            Some(NoteTypeDef { spec, templates, css: with_shared_css(files.css) })
        })
        .collect()
}

/// Why the custom note types of a collection could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NoteTypeError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A declaration or one of its files is wrong; each problem says what to fix.
    #[error("{}:{}", path.display(), format_problems(problems))]
    Invalid { path: PathBuf, problems: Vec<String> },
}

fn format_problems(problems: &[String]) -> String {
    match problems {
        [one] => format!(" {one}"),
        many => many.iter().map(|p| format!("\n  - {p}")).collect(),
    }
}

/// The declaration file in each `note_types/<Name>/` folder.
pub const DECLARATION_FILE: &str = "note_type.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    fields: Vec<DeclaredField>,
    #[serde(default)]
    cloze: bool,
    templates: Vec<DeclaredTemplate>,
    #[serde(default)]
    css: CssFiles,
    /// Whether ankiops's shared styling (layout, dark mode, code highlighting) comes before the type's CSS.
    #[serde(default = "yes")]
    ankiops_css: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredField {
    name: String,
    prefix: String,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredTemplate {
    name: String,
    front: String,
    back: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum CssFiles {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl CssFiles {
    fn paths(&self) -> Vec<&str> {
        match self {
            CssFiles::None => Vec::new(),
            CssFiles::One(path) => vec![path.as_str()],
            CssFiles::Many(paths) => paths.iter().map(String::as_str).collect(),
        }
    }
}

/// Reads the custom note types declared in `dir` (a collection's `note_types/`), one per sub-folder, in name
/// order. A missing `dir` means no custom types. Folders whose names start with `.` or `_` are skipped, so
/// shared CSS can live in `note_types/_shared/`.
pub fn load_custom(dir: &Path) -> Result<Vec<NoteTypeDef>, NoteTypeError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut folders = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(invalid(entry.path(), "the folder name is not valid UTF-8: rename it".into()));
        };
        if name.starts_with('.') || name.starts_with('_') || !entry.file_type()?.is_dir() {
            continue;
        }
        folders.push(name.to_owned());
    }
    folders.sort();
    folders.iter().map(|name| load_one(dir, name)).collect()
}

fn invalid(path: PathBuf, problem: String) -> NoteTypeError {
    NoteTypeError::Invalid { path, problems: vec![problem] }
}

/// Reads and checks `dir/<name>/note_type.json` and the files it names.
fn load_one(dir: &Path, name: &str) -> Result<NoteTypeDef, NoteTypeError> {
    let folder = dir.join(name);
    let declaration_path = folder.join(DECLARATION_FILE);
    if !declaration_path.is_file() {
        return Err(invalid(
            folder,
            format!("no {DECLARATION_FILE} in this note type folder: add one (see docs/note-types.md)"),
        ));
    }
    let text = fs_err::read_to_string(&declaration_path)?;
    let declaration: Declaration = serde_json::from_str(&text)
        .map_err(|e| invalid(declaration_path.clone(), format!("not a valid declaration: {e}")))?;

    let mut problems = Vec::new();
    check_type_name(name, &mut problems);
    let fields = check_fields(&declaration.fields, &mut problems);

    let mut templates = Vec::new();
    let mut template_names = BTreeSet::new();
    if declaration.templates.is_empty() {
        problems.push("`templates` is empty: declare at least one card template".into());
    }
    if declaration.cloze && declaration.templates.len() > 1 {
        problems.push("a cloze type has exactly one template: remove the others".into());
    }
    for (i, declared) in declaration.templates.iter().enumerate() {
        let label = format!("template {} ({:?})", i + 1, declared.name);
        if declared.name.trim().is_empty() {
            problems.push(format!("template {} has an empty `name`: give it one, e.g. \"Card 1\"", i + 1));
        } else if !template_names.insert(declared.name.to_lowercase()) {
            problems.push(format!("{label}: the name is used twice: template names must be unique"));
        }
        let front = read_type_file(&folder, &declared.front, &format!("{label} `front`"), &mut problems);
        let back = read_type_file(&folder, &declared.back, &format!("{label} `back`"), &mut problems);
        if let (Some(front), Some(back)) = (front, back) {
            check_template(
                &label,
                &declared.front,
                &front,
                &declared.back,
                &back,
                &fields,
                declaration.cloze,
                &mut problems,
            );
            templates.push(CardTemplate { name: declared.name.clone(), front, back });
        }
    }

    let mut css = String::new();
    for path in declaration.css.paths() {
        if let Some(text) = read_type_file(&folder, path, "`css`", &mut problems) {
            if !css.is_empty() {
                css.push_str("\n\n");
            }
            css.push_str(&text);
        }
    }
    if declaration.ankiops_css {
        css = with_shared_css(&css);
    }

    if !problems.is_empty() {
        return Err(NoteTypeError::Invalid { path: declaration_path, problems });
    }
    let kind = if declaration.cloze { NoteKind::Cloze } else { NoteKind::Standard };
    Ok(NoteTypeDef { spec: NoteTypeSpec { name: name.to_owned(), kind, fields }, templates, css })
}

/// Anki refuses names with these characters in fields; we hold note type names to the same rule.
fn bad_name_char(c: char) -> bool {
    matches!(c, ':' | '{' | '}' | '"') || c.is_control()
}

fn check_type_name(name: &str, problems: &mut Vec<String>) {
    if name.chars().any(bad_name_char) {
        problems.push(format!(
            "the folder name {name:?} is the note type's name and must not contain `:`, `{{`, `}}` or `\"`: rename the folder"
        ));
    }
}

/// Whether `prefix` is `[A-Z][A-Z0-9_]*:`.
fn is_valid_prefix(prefix: &str) -> bool {
    let Some(label) = prefix.strip_suffix(':') else { return false };
    let mut chars = label.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn check_fields(declared: &[DeclaredField], problems: &mut Vec<String>) -> Vec<FieldSpec> {
    if declared.is_empty() {
        problems.push("`fields` is empty: declare at least one field".into());
        return Vec::new();
    }
    let mut names = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for (i, field) in declared.iter().enumerate() {
        let label = format!("field {} ({:?})", i + 1, field.name);
        let name = field.name.trim();
        if name.is_empty() {
            problems.push(format!("field {} has an empty `name`: give it the field's name in Anki", i + 1));
        } else if name != field.name {
            problems.push(format!("{label}: the name starts or ends with spaces: remove them"));
        } else if field.name.chars().any(bad_name_char) || field.name.starts_with(['#', '/', '^']) {
            problems.push(format!(
                "{label}: a field name must not contain `:`, `{{`, `}}` or `\"`, nor start with `#`, `/` or `^`: rename it"
            ));
        } else if SPECIAL_FIELDS.contains(&name) {
            problems.push(format!("{label}: {name} is a special field name in Anki's templates: choose another name"));
        } else if !names.insert(name.to_lowercase()) {
            problems.push(format!("{label}: the name is used twice: field names must be unique"));
        }
        if !is_valid_prefix(&field.prefix) {
            problems.push(format!(
                "{label}: the prefix {:?} is not valid: use capital letters, digits or `_`, starting with a letter and ending with `:`, e.g. \"Q:\"",
                field.prefix
            ));
        } else if !prefixes.insert(field.prefix.as_str()) {
            problems.push(format!("{label}: the prefix {} is used twice: prefixes must be unique", field.prefix));
        }
    }
    if !declared.iter().any(|f| f.required) {
        problems.push(
            "no field is `\"required\": true`: mark the fields every note must have (they identify the type)".into(),
        );
    }
    declared
        .iter()
        .map(|f| FieldSpec { name: f.name.clone(), prefix: f.prefix.clone(), required: f.required })
        .collect()
}

/// Reads a file named in a declaration, which must stay inside the type's folder or its parent `note_types/`.
fn read_type_file(folder: &Path, relative: &str, what: &str, problems: &mut Vec<String>) -> Option<String> {
    let path = Path::new(relative);
    let mut depth = 0i32;
    let mut confined = !relative.is_empty();
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => confined = false,
        }
        // `..` may climb to `note_types/` (for shared CSS) but no further.
        if depth < -1 {
            confined = false;
        }
    }
    if !confined {
        problems
            .push(format!("{what}: {relative:?} must be a path relative to the note type folder, inside note_types/"));
        return None;
    }
    let full = folder.join(path);
    match fs_err::read_to_string(&full) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!("{what}: the file {relative:?} does not exist: create it or fix the path"));
            None
        }
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    }
}

/// The names Anki fills in itself in a template.
const SPECIAL_FIELDS: &[&str] = &["FrontSide", "Tags", "Type", "Deck", "Subdeck", "Card", "CardFlag", "CardID"];

/// One `{{…}}` in a template: the field it names, the filters before it, and whether it opens or closes a
/// section (`{{#F}}`, `{{^F}}`, `{{/F}}`).
#[derive(Debug, PartialEq, Eq)]
struct FieldRef<'a> {
    field: &'a str,
    filters: Vec<&'a str>,
    section: bool,
}

fn field_refs(template: &str) -> Vec<FieldRef<'_>> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = after[..end].trim();
        rest = &after[end + 2..];
        let (section, inner) = match inner.strip_prefix(['#', '^', '/']) {
            Some(stripped) => (true, stripped.trim()),
            None => (false, inner),
        };
        let mut parts: Vec<&str> = inner.split(':').collect();
        let field = parts.pop().unwrap_or_default().trim();
        refs.push(FieldRef { field, filters: parts, section });
    }
    refs
}

/// Whether `name` is a cloze number Anki knows in conditionals, `c1`, `c2`, ….
fn is_cloze_number(name: &str) -> bool {
    name.strip_prefix('c').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[allow(clippy::too_many_arguments)]
fn check_template(
    label: &str,
    front_file: &str,
    front: &str,
    back_file: &str,
    back: &str,
    fields: &[FieldSpec],
    cloze: bool,
    problems: &mut Vec<String>,
) {
    let known = |name: &str| fields.iter().any(|f| f.name == name);
    for (file, text) in [(front_file, front), (back_file, back)] {
        for r in field_refs(text) {
            let special = SPECIAL_FIELDS.contains(&r.field) || is_cloze_number(r.field);
            if !known(r.field) && !special {
                problems.push(format!(
                    "{label}: {file} uses {{{{{}}}}}, but the type has no field {:?}: declare it or fix the name",
                    r.field, r.field
                ));
            }
            if r.filters.iter().any(|f| f.trim() == "cloze") && !cloze {
                problems.push(format!(
                    "{label}: {file} uses a {{{{cloze:…}}}} replacement: set `\"cloze\": true` or remove it"
                ));
            }
        }
    }
    let front_refs = field_refs(front);
    if !front_refs.iter().any(|r| !r.section && known(r.field)) {
        problems.push(format!(
            "{label}: {front_file} shows no field: put at least one {{{{Field}}}} on the front, or Anki makes no card"
        ));
    }
    if cloze
        && !front_refs.iter().any(|r| !r.section && known(r.field) && r.filters.iter().any(|f| f.trim() == "cloze"))
    {
        problems.push(format!("{label}: a cloze type needs {{{{cloze:Field}}}} on the front: add it to {front_file}"));
    }
}

/// A change to a note type in Anki that loses content or card history, or forces a full sync: it needs the
/// user's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestructiveChange {
    /// The field exists in Anki but not in the declaration: removing it wipes its content in every note.
    RemoveField { name: String },
    /// Anki's field `from` takes the place of our `to`: renaming keeps the content under the new name.
    RenameField { from: String, to: String },
    /// The template exists in Anki but not in the declaration: removing it deletes its cards and their reviews.
    RemoveTemplate { name: String },
    /// Anki's template `from` takes the place of our `to`: renaming keeps the cards.
    RenameTemplate { from: String, to: String },
}

impl fmt::Display for DestructiveChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestructiveChange::RemoveField { name } => {
                write!(f, "remove field {name:?} (its content in every note is lost)")
            }
            DestructiveChange::RenameField { from, to } => {
                write!(f, "rename field {from:?} to {to:?} (content kept)")
            }
            DestructiveChange::RemoveTemplate { name } => {
                write!(f, "remove card template {name:?} (its cards and their review history are lost)")
            }
            DestructiveChange::RenameTemplate { from, to } => {
                write!(f, "rename card template {from:?} to {to:?} (cards kept)")
            }
        }
    }
}

/// What must change in Anki for a note type to match ours.
///
/// Apply in this order: destructive changes (once confirmed), `add_fields`, `reposition_fields`,
/// `add_templates`, `update_templates`, `update_css`. If the user declines, [`plan_model_update_keeping_anki`]
/// is the plan that keeps every Anki field and template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelChange {
    /// Fields to append with `modelFieldAdd`, in our order; existing content is untouched.
    pub add_fields: Vec<String>,
    /// Whether our fields must then be moved into our order with `modelFieldReposition` (each of ours to its
    /// index; fields we do not know end up after them).
    pub reposition_fields: bool,
    /// Templates to create with `modelTemplateAdd`, in our order.
    pub add_templates: Vec<String>,
    /// Existing templates (by our name) whose HTML differs, for `updateModelTemplates`.
    pub update_templates: Vec<String>,
    /// Whether the CSS differs, for `updateModelStyling`.
    pub update_css: bool,
    /// Changes that need confirmation, in the order fields then templates.
    pub destructive: Vec<DestructiveChange>,
}

impl ModelChange {
    /// Nothing to do: Anki already matches.
    pub fn is_empty(&self) -> bool {
        *self == ModelChange::default()
    }

    /// Whether the plan needs the user's confirmation.
    pub fn is_destructive(&self) -> bool {
        !self.destructive.is_empty()
    }

    /// Whether Anki will ask for a one-way (full) AnkiWeb sync afterwards: any change to the fields or to the
    /// set of templates is a schema change; template HTML and CSS are not.
    pub fn forces_full_sync(&self) -> bool {
        !self.add_fields.is_empty() || self.reposition_fields || !self.add_templates.is_empty() || self.is_destructive()
    }
}

/// Line endings and trailing white space do not count as a difference.
fn same_text(a: &str, b: &str) -> bool {
    let normal = |s: &str| s.replace("\r\n", "\n").trim_end().to_owned();
    normal(a) == normal(b)
}

/// What must change in Anki for the model to match `ours`, given Anki's field names (in order), templates
/// (name to front and back) and CSS. Pure: reads nothing, changes nothing.
pub fn plan_model_update(
    ours: &NoteTypeDef,
    anki_fields: &[String],
    anki_templates: &BTreeMap<String, (String, String)>,
    anki_css: &str,
) -> ModelChange {
    plan(ours, anki_fields, anki_templates, anki_css, Extras::RemoveOrRename)
}

/// The plan when the user declined the destructive one: Anki's extra fields and templates stay as they are,
/// our missing ones are added, so nothing is lost. Never destructive.
pub fn plan_model_update_keeping_anki(
    ours: &NoteTypeDef,
    anki_fields: &[String],
    anki_templates: &BTreeMap<String, (String, String)>,
    anki_css: &str,
) -> ModelChange {
    plan(ours, anki_fields, anki_templates, anki_css, Extras::Keep)
}

/// What to do with fields and templates Anki has and we do not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extras {
    RemoveOrRename,
    Keep,
}

/// Pairs names only Anki has with names only we have, as renames, when there are equally many of each (in
/// order); otherwise they are removals and additions.
fn pair_renames(
    theirs_only: Vec<String>,
    ours_only: Vec<String>,
    extras: Extras,
) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    match extras {
        Extras::Keep => (Vec::new(), Vec::new(), ours_only),
        Extras::RemoveOrRename if !theirs_only.is_empty() && theirs_only.len() == ours_only.len() => {
            (theirs_only.into_iter().zip(ours_only).collect(), Vec::new(), Vec::new())
        }
        Extras::RemoveOrRename => (Vec::new(), theirs_only, ours_only),
    }
}

fn plan(
    ours: &NoteTypeDef,
    anki_fields: &[String],
    anki_templates: &BTreeMap<String, (String, String)>,
    anki_css: &str,
    extras: Extras,
) -> ModelChange {
    let mut plan = ModelChange::default();
    let our_fields: Vec<String> = ours.spec.field_names().map(str::to_owned).collect();

    let theirs_only: Vec<String> = anki_fields.iter().filter(|f| !our_fields.contains(f)).cloned().collect();
    let ours_only: Vec<String> = our_fields.iter().filter(|f| !anki_fields.contains(f)).cloned().collect();
    let (renames, removed, added) = pair_renames(theirs_only, ours_only, extras);
    // Anki's fields after the renames and removals, with the additions appended: ours must come first.
    let mut after: Vec<String> = anki_fields
        .iter()
        .filter(|f| !removed.contains(f))
        .map(|f| renames.iter().find(|(from, _)| from == f).map_or_else(|| f.clone(), |(_, to)| to.clone()))
        .collect();
    after.extend(added.iter().cloned());
    plan.reposition_fields = !after.starts_with(&our_fields);
    plan.add_fields = added;
    plan.destructive.extend(renames.into_iter().map(|(from, to)| DestructiveChange::RenameField { from, to }));
    plan.destructive.extend(removed.into_iter().map(|name| DestructiveChange::RemoveField { name }));

    let our_names: Vec<&str> = ours.templates.iter().map(|t| t.name.as_str()).collect();
    let theirs_only: Vec<String> =
        anki_templates.keys().filter(|name| !our_names.contains(&name.as_str())).cloned().collect();
    let ours_only: Vec<String> =
        our_names.iter().filter(|name| !anki_templates.contains_key(**name)).map(|n| (*n).to_owned()).collect();
    let (renames, removed, added) = pair_renames(theirs_only, ours_only, extras);
    for template in &ours.templates {
        let anki_name = renames.iter().find(|(_, to)| *to == template.name).map_or(&template.name, |(from, _)| from);
        if let Some((front, back)) = anki_templates.get(anki_name)
            && (!same_text(front, &template.front) || !same_text(back, &template.back))
        {
            plan.update_templates.push(template.name.clone());
        }
    }
    plan.add_templates = added;
    plan.destructive.extend(renames.into_iter().map(|(from, to)| DestructiveChange::RenameTemplate { from, to }));
    plan.destructive.extend(removed.into_iter().map(|name| DestructiveChange::RemoveTemplate { name }));

    plan.update_css = !same_text(anki_css, &ours.css);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_named(name: &str) -> NoteTypeDef {
        builtin().into_iter().find(|t| t.spec.name == name).expect("a built-in type of that name")
    }

    #[test]
    fn every_builtin_type_has_templates_and_css() {
        let defs = builtin();
        let names: Vec<&str> = defs.iter().map(|d| d.spec.name.as_str()).collect();
        let registry: Vec<String> = Registry::builtin().iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, registry);
        for def in &defs {
            assert!(def.css.starts_with(BASE_CSS), "{}", def.spec.name);
            assert!(def.css.contains(".hl-kw"), "{}", def.spec.name);
            for t in &def.templates {
                let mut problems = Vec::new();
                let cloze = def.spec.kind == NoteKind::Cloze;
                check_template(&t.name, "front", &t.front, "back", &t.back, &def.spec.fields, cloze, &mut problems);
                assert_eq!(problems, Vec::<String>::new(), "{} {}", def.spec.name, t.name);
            }
        }
        let templates =
            |name: &str| -> Vec<String> { builtin_named(name).templates.iter().map(|t| t.name.clone()).collect() };
        assert_eq!(templates("AnkiOpsReversed"), ["Card 1", "Card 2"]);
        assert_eq!(templates("AnkiOpsCloze"), ["Cloze"]);
    }

    #[test]
    fn builtin_templates_show_the_optional_fields_on_the_back() {
        for def in builtin() {
            for t in &def.templates {
                for part in ["{{#Extra}}", "{{Extra}}", "{{#More}}", "<details", "{{More}}", "{{AI Notes}}"] {
                    assert!(t.back.contains(part), "{} {}: back lacks {part}", def.spec.name, t.name);
                    assert!(!t.front.contains(part), "{} {}: front has {part}", def.spec.name, t.name);
                }
            }
        }
        assert!(builtin_named("AnkiOpsInput").templates[0].front.contains("{{type:Input}}"));
        assert!(builtin_named("AnkiOpsCloze").templates[0].front.contains("{{cloze:Text}}"));
    }

    #[test]
    fn every_built_in_back_side_shows_extra_more_and_ai_notes() {
        for def in builtin() {
            for t in &def.templates {
                assert!(!t.front.contains("<!-- ankiops:") && !t.back.contains("<!-- ankiops:"), "{}", def.spec.name);
                for field in ["{{#Extra}}", "{{More}}", "{{AI Notes}}"] {
                    assert!(t.back.contains(field), "{} {}: {field} missing", def.spec.name, t.name);
                }
            }
        }
    }

    #[test]
    fn the_choice_card_runs_the_same_script_on_both_sides_and_lists_every_choice() {
        let choice = builtin_named("AnkiOpsChoice");
        let t = &choice.templates[0];
        let script = |html: &str| -> String {
            let start = html.find("<script>").expect("a script");
            let end = html.find("</script>").expect("a closed script");
            html[start..end].to_owned()
        };
        assert_eq!(script(&t.front), script(&t.back));
        assert!(script(&t.front).contains("function"), "the shared script is inlined");
        assert!(!t.front.contains("ankiops:choice.js") && !t.back.contains("ankiops:choice.js"));
        for f in choice.spec.fields.iter().filter(|f| f.name.starts_with("Choice")) {
            let item = format!("{{{{#{0}}}}}<li class=\"ao-choice-item\" data-n=\"", f.name);
            assert!(t.front.contains(&item) && t.back.contains(&item), "{}", f.name);
        }
        // The script reads the field contents from the page, never pastes them into code.
        assert!(!script(&t.front).contains("{{"));
    }

    #[test]
    fn field_refs_understand_filters_and_sections() {
        let refs = field_refs("{{Front}} {{#Extra}}x{{/Extra}} {{type:Input}} {{text:hint:More}} {{ ^Back }}");
        let got: Vec<(&str, Vec<&str>, bool)> = refs.into_iter().map(|r| (r.field, r.filters, r.section)).collect();
        assert_eq!(
            got,
            vec![
                ("Front", vec![], false),
                ("Extra", vec![], true),
                ("Extra", vec![], true),
                ("Input", vec!["type"], false),
                ("More", vec!["text", "hint"], false),
                ("Back", vec![], true),
            ]
        );
    }

    #[test]
    fn prefixes_are_capitals_digits_and_underscores_with_a_colon() {
        for ok in ["Q:", "C1:", "IO_H:", "AI:"] {
            assert!(is_valid_prefix(ok), "{ok}");
        }
        for bad in ["q:", "Q", "1A:", ":", "Q-A:", "Q :", "É:"] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
    }

    /// A `note_types/` folder in a temporary directory, filled from (path, content) pairs.
    fn collection(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, content) in files {
            let full = dir.path().join(path);
            fs_err::create_dir_all(full.parent().expect("a parent")).expect("create the folder");
            fs_err::write(full, content).expect("write the file");
        }
        dir
    }

    const VOCAB_JSON: &str = r#"{
  "fields": [
    {"name": "Word", "prefix": "W:", "required": true},
    {"name": "Meaning", "prefix": "MEANING:", "required": true},
    {"name": "Example", "prefix": "EX:"}
  ],
  "templates": [{"name": "Recognise", "front": "front.html", "back": "back.html"}],
  "css": ["../_shared/colours.css", "style.css"]
}"#;

    fn vocab_files(json: &str) -> Vec<(&str, &str)> {
        vec![
            ("Vocab/note_type.json", json),
            ("Vocab/front.html", "<div class=\"ao\">{{Word}}</div>"),
            ("Vocab/back.html", "{{FrontSide}}<hr id=answer>{{Meaning}}{{#Example}}<p>{{Example}}</p>{{/Example}}"),
            ("Vocab/style.css", ".word { color: red; }"),
            ("_shared/colours.css", ":root { --x: 1; }"),
        ]
    }

    #[track_caller]
    fn check_error(files: &[(&str, &str)], expect: &str) {
        let dir = collection(files);
        let err = match load_custom(dir.path()) {
            Ok(defs) => panic!("expected an error, loaded {defs:?}"),
            Err(e) => e.to_string(),
        };
        let root = format!("{}/", dir.path().display());
        assert_eq!(err.replace(&root, ""), expect);
    }

    #[test]
    fn loads_a_custom_type() {
        let dir = collection(&vocab_files(VOCAB_JSON));
        let defs = load_custom(dir.path()).expect("a valid type");
        assert_eq!(defs.len(), 1);
        let def = &defs[0];
        assert_eq!(def.spec.name, "Vocab");
        assert_eq!(def.spec.kind, NoteKind::Standard);
        assert_eq!(def.spec.field_names().collect::<Vec<_>>(), ["Word", "Meaning", "Example"]);
        assert_eq!(def.spec.field_by_prefix("EX:").map(|f| f.required), Some(false));
        assert_eq!(def.templates[0].name, "Recognise");
        assert!(def.templates[0].back.starts_with("{{FrontSide}}"));
        assert!(def.css.starts_with(BASE_CSS));
        assert!(def.css.ends_with(":root { --x: 1; }\n\n.word { color: red; }"));
    }

    #[test]
    fn a_custom_type_may_leave_out_the_shared_css_and_a_missing_folder_is_no_types() {
        let json = VOCAB_JSON.replace(r#""css": ["../_shared/colours.css", "style.css"]"#, r#""ankiops_css": false"#);
        let dir = collection(&vocab_files(&json));
        let defs = load_custom(dir.path()).expect("a valid type");
        assert_eq!(defs[0].css, "");
        assert!(load_custom(&dir.path().join("absent")).expect("no types").is_empty());
    }

    #[test]
    fn a_cloze_type_needs_the_cloze_filter_on_the_front() {
        let json = r#"{"fields": [{"name": "Text", "prefix": "TX:", "required": true}], "cloze": true,
            "templates": [{"name": "Cloze", "front": "f.html", "back": "b.html"}]}"#;
        let good = collection(&[
            ("Gap/note_type.json", json),
            ("Gap/f.html", "{{cloze:Text}}"),
            ("Gap/b.html", "{{cloze:Text}}"),
        ]);
        assert_eq!(load_custom(good.path()).expect("a valid cloze type")[0].spec.kind, NoteKind::Cloze);
        check_error(
            &[("Gap/note_type.json", json), ("Gap/f.html", "{{Text}}"), ("Gap/b.html", "{{Text}}")],
            "Gap/note_type.json: template 1 (\"Cloze\"): a cloze type needs {{cloze:Field}} on the front: add it to f.html",
        );
    }

    #[test]
    fn a_folder_without_a_declaration_is_an_error() {
        check_error(
            &[("Vocab/front.html", "{{Word}}")],
            "Vocab: no note_type.json in this note type folder: add one (see docs/note-types.md)",
        );
    }

    #[test]
    fn malformed_json_names_the_line() {
        check_error(
            &[("Vocab/note_type.json", "{\n  \"fields\": [\n}")],
            "Vocab/note_type.json: not a valid declaration: expected value at line 3 column 1",
        );
        check_error(
            &[("Vocab/note_type.json", r#"{"feilds": []}"#)],
            "Vocab/note_type.json: not a valid declaration: unknown field `feilds`, expected one of `fields`, `cloze`, `templates`, `css`, `ankiops_css` at line 1 column 9",
        );
    }

    #[test]
    fn reports_every_problem_of_a_declaration() {
        let json = r#"{
  "fields": [
    {"name": "Word", "prefix": "w:"},
    {"name": "Word", "prefix": "W:"},
    {"name": "Meaning", "prefix": "W:"},
    {"name": "Bad:Name", "prefix": "B:"}
  ],
  "templates": [
    {"name": "Card", "front": "front.html", "back": "missing.html"},
    {"name": "Card", "front": "../../etc/passwd", "back": "back.html"},
    {"name": "Two", "front": "back.html", "back": "front.html"}
  ],
  "css": "style.css"
}"#;
        let mut files = vocab_files(json);
        files[2] = ("Vocab/back.html", "{{Meening}} {{cloze:Word}}");
        check_error(
            &files,
            "Vocab/note_type.json:\
            \n  - field 1 (\"Word\"): the prefix \"w:\" is not valid: use capital letters, digits or `_`, starting with a letter and ending with `:`, e.g. \"Q:\"\
            \n  - field 2 (\"Word\"): the name is used twice: field names must be unique\
            \n  - field 3 (\"Meaning\"): the prefix W: is used twice: prefixes must be unique\
            \n  - field 4 (\"Bad:Name\"): a field name must not contain `:`, `{`, `}` or `\"`, nor start with `#`, `/` or `^`: rename it\
            \n  - no field is `\"required\": true`: mark the fields every note must have (they identify the type)\
            \n  - template 1 (\"Card\") `back`: the file \"missing.html\" does not exist: create it or fix the path\
            \n  - template 2 (\"Card\"): the name is used twice: template names must be unique\
            \n  - template 2 (\"Card\") `front`: \"../../etc/passwd\" must be a path relative to the note type folder, inside note_types/\
            \n  - template 3 (\"Two\"): back.html uses {{Meening}}, but the type has no field \"Meening\": declare it or fix the name\
            \n  - template 3 (\"Two\"): back.html uses a {{cloze:…}} replacement: set `\"cloze\": true` or remove it",
        );
    }

    #[test]
    fn a_front_that_shows_no_field_is_an_error() {
        let mut files = vocab_files(VOCAB_JSON);
        files[1] = ("Vocab/front.html", "{{#Word}}only a section{{/Word}} {{Deck}}");
        check_error(
            &files,
            "Vocab/note_type.json: template 1 (\"Recognise\"): front.html shows no field: put at least one {{Field}} on the front, or Anki makes no card",
        );
    }

    #[test]
    fn empty_lists_are_errors() {
        check_error(
            &[("Empty/note_type.json", r#"{"fields": [], "templates": []}"#)],
            "Empty/note_type.json:\
            \n  - `fields` is empty: declare at least one field\
            \n  - `templates` is empty: declare at least one card template",
        );
    }

    fn anki_side(def: &NoteTypeDef) -> (Vec<String>, BTreeMap<String, (String, String)>, String) {
        let fields = def.spec.field_names().map(str::to_owned).collect();
        let templates = def.templates.iter().map(|t| (t.name.clone(), (t.front.clone(), t.back.clone()))).collect();
        (fields, templates, def.css.clone())
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_model_that_matches_needs_nothing() {
        let qa = builtin_named("AnkiOpsQA");
        let (fields, templates, css) = anki_side(&qa);
        let crlf = css.replace('\n', "\r\n") + "\n\n";
        let plan = plan_model_update(&qa, &fields, &templates, &crlf);
        assert!(plan.is_empty(), "{plan:?}");
        assert!(!plan.forces_full_sync());
    }

    #[test]
    fn changed_templates_and_css_are_safe_updates() {
        let rev = builtin_named("AnkiOpsReversed");
        let (fields, mut templates, _) = anki_side(&rev);
        templates.get_mut("Card 2").expect("card 2").1 = "old back".into();
        let plan = plan_model_update(&rev, &fields, &templates, "old css");
        assert_eq!(
            plan,
            ModelChange { update_templates: names(&["Card 2"]), update_css: true, ..ModelChange::default() }
        );
        assert!(!plan.is_destructive() && !plan.forces_full_sync());
    }

    #[test]
    fn missing_fields_and_templates_are_added() {
        let rev = builtin_named("AnkiOpsReversed");
        let (_, mut templates, css) = anki_side(&rev);
        templates.remove("Card 2");
        let plan = plan_model_update(&rev, &names(&["Front", "Back"]), &templates, &css);
        assert_eq!(
            plan,
            ModelChange {
                add_fields: names(&["Extra", "More", "AI Notes"]),
                add_templates: names(&["Card 2"]),
                ..ModelChange::default()
            }
        );
        assert!(!plan.is_destructive() && plan.forces_full_sync());
    }

    #[test]
    fn fields_out_of_order_are_repositioned() {
        let qa = builtin_named("AnkiOpsQA");
        let (_, templates, css) = anki_side(&qa);
        let plan =
            plan_model_update(&qa, &names(&["Answer", "Question", "Extra", "More", "AI Notes"]), &templates, &css);
        assert_eq!(plan, ModelChange { reposition_fields: true, ..ModelChange::default() });
    }

    #[test]
    fn extra_anki_fields_and_templates_are_destructive_removals() {
        // A model made by the Python AnkiOps, with its key field, and a template added by hand.
        let qa = builtin_named("AnkiOpsQA");
        let (mut fields, mut templates, css) = anki_side(&qa);
        fields.push("AnkiOps Key".into());
        templates.insert("Card 2".into(), ("{{Answer}}".into(), "{{Question}}".into()));
        let plan = plan_model_update(&qa, &fields, &templates, &css);
        assert_eq!(
            plan.destructive,
            vec![
                DestructiveChange::RemoveField { name: "AnkiOps Key".into() },
                DestructiveChange::RemoveTemplate { name: "Card 2".into() },
            ]
        );
        assert_eq!(
            plan.destructive.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "remove field \"AnkiOps Key\" (its content in every note is lost)",
                "remove card template \"Card 2\" (its cards and their review history are lost)",
            ]
        );
        assert!(!plan.reposition_fields);

        let kept = plan_model_update_keeping_anki(&qa, &fields, &templates, &css);
        assert!(kept.is_empty(), "{kept:?}");
    }

    #[test]
    fn a_field_or_template_in_the_place_of_ours_is_a_rename() {
        let qa = builtin_named("AnkiOpsQA");
        let (_, mut templates, css) = anki_side(&qa);
        let card = templates.remove("Card 1").expect("card 1");
        templates.insert("Forward".into(), (card.0, "old back".into()));
        let fields = names(&["Question", "Response", "Extra", "More", "AI Notes"]);
        let plan = plan_model_update(&qa, &fields, &templates, &css);
        assert_eq!(
            plan,
            ModelChange {
                update_templates: names(&["Card 1"]),
                destructive: vec![
                    DestructiveChange::RenameField { from: "Response".into(), to: "Answer".into() },
                    DestructiveChange::RenameTemplate { from: "Forward".into(), to: "Card 1".into() },
                ],
                ..ModelChange::default()
            }
        );

        // Declined: our field and template are added after Anki's, which stay.
        let kept = plan_model_update_keeping_anki(&qa, &fields, &templates, &css);
        assert_eq!(
            kept,
            ModelChange {
                add_fields: names(&["Answer"]),
                reposition_fields: true,
                add_templates: names(&["Card 1"]),
                ..ModelChange::default()
            }
        );
    }

    #[test]
    fn unequal_numbers_of_unknown_fields_are_removals_and_additions() {
        let qa = builtin_named("AnkiOpsQA");
        let (_, templates, css) = anki_side(&qa);
        let plan = plan_model_update(&qa, &names(&["Question", "Old 1", "Old 2", "Answer"]), &templates, &css);
        assert_eq!(plan.add_fields, names(&["Extra", "More", "AI Notes"]));
        assert_eq!(
            plan.destructive,
            vec![
                DestructiveChange::RemoveField { name: "Old 1".into() },
                DestructiveChange::RemoveField { name: "Old 2".into() },
            ]
        );
        assert!(!plan.reposition_fields);
    }
}
