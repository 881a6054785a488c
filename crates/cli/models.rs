//! Managed note types at run time: the registry the deck files are parsed with, and making sure Anki has our
//! note types (created when missing; templates, CSS and new fields brought up to date, never destructively).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ankiops_connect::{Client, NewModel};
use ankiops_markdown::{NoteKind, Registry};

use crate::error::{CliError, Result};
use crate::note_types::{self, NoteTypeDef};
use crate::report::{Problem, Report};

/// Every note type this collection manages: the built-in ones and those declared in `note_types/`.
pub fn definitions(root: &Path) -> Result<Vec<NoteTypeDef>> {
    let mut defs = note_types::builtin();
    let custom = note_types::load_custom(&root.join("note_types")).map_err(|e| {
        CliError::input(e.to_string()).hint("fix the declaration in note_types/, see docs/note-types.md")
    })?;
    for def in custom {
        match defs.iter_mut().find(|d| d.spec.name == def.spec.name) {
            Some(existing) => *existing = def,
            None => defs.push(def),
        }
    }
    Ok(defs)
}

/// The registry to parse deck files with.
pub fn registry_of(defs: &[NoteTypeDef]) -> Registry {
    let mut registry = Registry::builtin();
    for def in defs {
        registry.insert(def.spec.clone());
    }
    registry
}

/// Creates the note types `used` that Anki lacks and brings the others' templates and CSS up to date, adding
/// missing fields. Removing or renaming fields or templates wipes content and forces a full AnkiWeb sync, so
/// that is reported and left to the user, never done here.
/// `refresh` names types to bring up to date only if Anki already has them. Returns the hashes (see
/// [`definition_hash`]) of the types that now match ours.
pub fn ensure_in_anki(
    client: &Client,
    defs: &[NoteTypeDef],
    used: &BTreeSet<&str>,
    refresh: &BTreeSet<&str>,
    report: &mut Report,
) -> Result<BTreeMap<String, String>> {
    let mut current = BTreeMap::new();
    if used.is_empty() && refresh.is_empty() {
        return Ok(current);
    }
    let existing: BTreeSet<String> = client.model_names()?.into_iter().collect();
    for name in used.union(refresh) {
        let Some(def) = defs.iter().find(|d| d.spec.name == *name) else { continue };
        if !existing.contains(*name) {
            // Made from the current definition when first used; until then there is nothing to update.
            if used.contains(name) {
                client.create_model(&new_model(def))?;
            }
            current.insert(name.to_string(), definition_hash(def));
            continue;
        }
        current.insert(name.to_string(), definition_hash(def));
        if !refresh.contains(name) {
            // In Anki and unchanged since it was last brought up to date.
            continue;
        }
        let fields = client.model_field_names(name)?;
        let templates: BTreeMap<String, (String, String)> =
            client.model_templates(name)?.into_iter().map(|t| (t.name, (t.front, t.back))).collect();
        let css = client.model_styling(name)?;
        let full = note_types::plan_model_update(def, &fields, &templates, &css);
        let change = note_types::plan_model_update_keeping_anki(def, &fields, &templates, &css);
        if change.forces_full_sync() {
            report.problems.push(Problem::warning(format!(
                "note type {name}: adding fields or card templates is a schema change: the next AnkiWeb sync asks for a full sync (choose Upload in Anki)"
            )));
        }
        if change.is_empty() && !full.is_destructive() {
            continue;
        }
        for d in &full.destructive {
            report.problems.push(Problem::warning(format!(
                "note type {name}: Anki's version differs in a way ankiops will not change for you: {d}; change it in Anki (Tools > Manage Note Types) if you want it"
            )));
        }
        for field in &change.add_fields {
            client.model_field_add(name, field, None)?;
        }
        let ours: Vec<ankiops_connect::CardTemplate> = def.templates.iter().map(to_connect).collect();
        for template in ours.iter().filter(|t| change.add_templates.contains(&t.name)) {
            client.model_template_add(name, template)?;
        }
        let updates: Vec<ankiops_connect::CardTemplate> =
            ours.iter().filter(|t| change.update_templates.contains(&t.name)).cloned().collect();
        if !updates.is_empty() {
            client.update_model_templates(name, &updates)?;
        }
        if change.update_css {
            client.update_model_styling(name, &def.css)?;
        }
    }
    Ok(current)
}

/// A fingerprint of everything ankiops pushes for a note type.
pub fn definition_hash(def: &NoteTypeDef) -> String {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    for field in &def.spec.fields {
        hasher.update(field.name.as_bytes());
        hasher.update([0]);
    }
    for t in &def.templates {
        for part in [&t.name, &t.front, &t.back] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
    }
    hasher.update(def.css.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn to_connect(t: &note_types::CardTemplate) -> ankiops_connect::CardTemplate {
    ankiops_connect::CardTemplate { name: t.name.clone(), front: t.front.clone(), back: t.back.clone() }
}

fn new_model(def: &NoteTypeDef) -> NewModel {
    NewModel {
        name: def.spec.name.clone(),
        fields: def.spec.field_names().map(str::to_string).collect(),
        templates: def.templates.iter().map(to_connect).collect(),
        css: def.css.clone(),
        is_cloze: def.spec.kind == NoteKind::Cloze,
    }
}
