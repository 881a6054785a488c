//! The journal of notes sent to Anki whose ids are not in the base yet: `.ankiops/journal`, one JSON line per
//! event, appended and flushed to disk before each batch of new notes is sent and again when Anki answers.
//!
//! A run killed, or cut off from Anki, between adding notes and writing the base leaves it behind. The next
//! run reads it before planning: every note Anki holds that the journal names (by the id Anki gave it, or, when
//! the answer never came, by a digest of the HTML that was sent) gets what was sent as its base. The engine
//! then recognises the note in the Markdown even if it was edited since, on either side, and never adds it a
//! second time. Entries Anki does not hold were never added and are dropped. A run that writes its base
//! rewrites the journal with what is still unknown, or removes it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use ankiops_sync::{HtmlDigest, NoteId, NoteState};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};
use crate::lock::STATE_DIR;

const JOURNAL_FILE: &str = "journal";

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
enum Event {
    /// About to be sent: the note as the Markdown had it and the digest of its field HTML.
    Sent { n: u64, digest: String, note: NoteState },
    /// Anki added it under this id.
    Added { n: u64, id: NoteId },
    /// Anki did not add it (refused, or never sent).
    Dropped { n: u64 },
}

/// A note sent to Anki and not yet in the base.
#[derive(Debug, Clone)]
pub struct Creation {
    pub digest: HtmlDigest,
    pub note: NoteState,
    /// The id Anki gave it; `None` while the outcome is unknown.
    pub id: Option<NoteId>,
}

/// The journal as read, plus what this run appends.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: BTreeMap<u64, Creation>,
    next: u64,
    /// Whether this run may write it (`status` and dry runs only read).
    writes: bool,
}

impl Journal {
    /// Reads `.ankiops/journal` of the collection at `root`; none is an empty journal.
    pub fn read(root: &Path, writes: bool) -> Result<Journal> {
        let path = root.join(STATE_DIR).join(JOURNAL_FILE);
        let mut journal = Journal { path, entries: BTreeMap::new(), next: 0, writes };
        let text = match std::fs::read_to_string(&journal.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(journal),
            Err(e) => return Err(CliError::input(format!("{}: {e}", journal.path.display()))),
        };
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            // A line cut short by a crash in the middle of an append is the last one: what it said was not
            // acted on (the batch is sent after the line is on disk).
            let Ok(event) = serde_json::from_str::<Event>(line) else {
                if i + 1 == text.lines().count() {
                    break;
                }
                return Err(CliError::input(format!(
                    "{}:{}: not a journal entry ankiops can read",
                    journal.path.display(),
                    i + 1
                ))
                .hint("it lists notes an interrupted run sent to Anki; if it came from a newer ankiops, use that version, else remove it (the next run may then add such notes twice)"));
            };
            match event {
                Event::Sent { n, digest, note } => {
                    let digest = from_hex(&digest).unwrap_or_default();
                    journal.entries.insert(n, Creation { digest, note, id: None });
                    journal.next = journal.next.max(n + 1);
                }
                Event::Added { n, id } => {
                    if let Some(c) = journal.entries.get_mut(&n) {
                        c.id = Some(id);
                    }
                }
                Event::Dropped { n } => {
                    journal.entries.remove(&n);
                }
            }
        }
        Ok(journal)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Gives what was sent as the base of every journal note Anki holds and the base lacks: by its id, or (the
    /// answer lost) the Anki note unknown to the base with the digest, deck and note type sent. Returns how
    /// many notes were found; entries Anki does not hold were never added and are forgotten.
    pub fn resolve(
        &mut self,
        base: &mut BTreeMap<NoteId, NoteState>,
        anki: &BTreeMap<NoteId, NoteState>,
        anki_digest: impl Fn(NoteId) -> Option<HtmlDigest>,
    ) -> usize {
        let mut found = 0;
        let mut taken: BTreeSet<NoteId> = BTreeSet::new();
        let unknown: Vec<NoteId> = anki.keys().filter(|id| !base.contains_key(id)).copied().collect();
        for creation in std::mem::take(&mut self.entries).into_values() {
            let id = creation.id.or_else(|| {
                unknown.iter().copied().find(|id| {
                    !taken.contains(id)
                        && anki
                            .get(id)
                            .is_some_and(|a| a.deck == creation.note.deck && a.note_type == creation.note.note_type)
                        && anki_digest(*id) == Some(creation.digest)
                })
            });
            let Some(id) = id.filter(|id| anki.contains_key(id)) else { continue };
            taken.insert(id);
            if let std::collections::btree_map::Entry::Vacant(slot) = base.entry(id) {
                slot.insert(creation.note);
                found += 1;
            }
        }
        found
    }

    /// Records notes about to be sent, on disk before they are sent; returns their journal numbers.
    pub fn sent(&mut self, notes: impl Iterator<Item = (HtmlDigest, NoteState)>) -> Result<Vec<u64>> {
        let mut lines = String::new();
        let mut numbers = Vec::new();
        for (digest, note) in notes {
            let n = self.next;
            self.next += 1;
            numbers.push(n);
            let event = Event::Sent { n, digest: to_hex(&digest), note: note.clone() };
            lines.push_str(&serde_json::to_string(&event).expect("journal events serialize"));
            lines.push('\n');
            self.entries.insert(n, Creation { digest, note, id: None });
        }
        self.append(&lines)?;
        Ok(numbers)
    }

    /// Records what Anki answered: `Some(id)` added, `None` not added. Entries not listed stay unknown.
    pub fn answered(&mut self, outcomes: impl Iterator<Item = (u64, Option<NoteId>)>) -> Result<()> {
        let mut lines = String::new();
        for (n, id) in outcomes {
            let event = match id {
                Some(id) => {
                    if let Some(c) = self.entries.get_mut(&n) {
                        c.id = Some(id);
                    }
                    Event::Added { n, id }
                }
                None => {
                    self.entries.remove(&n);
                    Event::Dropped { n }
                }
            };
            lines.push_str(&serde_json::to_string(&event).expect("journal events serialize"));
            lines.push('\n');
        }
        self.append(&lines)
    }

    /// After the base is written: only the notes whose outcome is still unknown stay.
    pub fn settle(&mut self) -> Result<()> {
        if !self.writes {
            return Ok(());
        }
        self.entries.retain(|_, c| c.id.is_none());
        if self.entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        let mut text = String::new();
        for (n, c) in &self.entries {
            let event = Event::Sent { n: *n, digest: to_hex(&c.digest), note: c.note.clone() };
            text.push_str(&serde_json::to_string(&event).expect("journal events serialize"));
            text.push('\n');
        }
        crate::store::write_atomic(&self.path, text.as_bytes())
    }

    /// Appends and flushes to disk: a line is acted on only once it is there.
    fn append(&self, lines: &str) -> Result<()> {
        if !self.writes || lines.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let mut file = fs_err::OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(lines.as_bytes())?;
        file.sync_data()?;
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<HtmlDigest> {
    let mut out = [0u8; 20];
    if text.len() != 40 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(q: &str) -> NoteState {
        NoteState {
            note_type: "AnkiOpsQA".into(),
            deck: "Bio".into(),
            fields: BTreeMap::from([("Question".to_string(), q.to_string())]),
            tags: Default::default(),
        }
    }

    #[test]
    fn a_journal_survives_a_restart_and_resolves_by_id_or_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::read(dir.path(), true).unwrap();
        let numbers = journal
            .sent([([1; 20], note("one")), ([2; 20], note("two")), ([3; 20], note("three"))].into_iter())
            .unwrap();
        // "one" added as 100, "three" refused, "two" never answered.
        journal.answered([(numbers[0], Some(100)), (numbers[2], None)].into_iter()).unwrap();
        drop(journal);

        let mut journal = Journal::read(dir.path(), true).unwrap();
        let mut base = BTreeMap::new();
        let anki = BTreeMap::from([(100, note("one, edited in Anki")), (200, note("two")), (300, note("other"))]);
        let digests = BTreeMap::from([(200, [2u8; 20]), (300, [9u8; 20])]);
        let found = journal.resolve(&mut base, &anki, |id| digests.get(&id).copied());
        assert_eq!(found, 2);
        assert_eq!(base.get(&100), Some(&note("one")), "the base is what was sent");
        assert_eq!(base.get(&200), Some(&note("two")));
        assert!(!base.contains_key(&300));
        journal.settle().unwrap();
        assert!(!dir.path().join(STATE_DIR).join(JOURNAL_FILE).exists());
    }

    #[test]
    fn a_line_cut_short_at_the_end_is_ignored_but_one_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::read(dir.path(), true).unwrap();
        journal.sent([([1; 20], note("one"))].into_iter()).unwrap();
        let path = dir.path().join(STATE_DIR).join(JOURNAL_FILE);
        let whole = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{whole}{{\"event\":\"sen")).unwrap();
        assert_eq!(Journal::read(dir.path(), true).unwrap().entries.len(), 1);
        std::fs::write(&path, format!("garbage\n{whole}")).unwrap();
        let err = Journal::read(dir.path(), true).unwrap_err();
        assert!(err.message.contains("journal:1"), "{}", err.message);
    }

    #[test]
    fn a_read_only_run_never_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::read(dir.path(), false).unwrap();
        journal.sent([([1; 20], note("one"))].into_iter()).unwrap();
        journal.settle().unwrap();
        assert!(!dir.path().join(STATE_DIR).exists());
    }
}
