//! End-to-end tests: the `ankiops` binary against a real Anki collection served by the test backend.

mod cli;
mod collaborate;
mod complaints;
mod journey;
mod kill;
mod lock;
mod media;
mod messages;
mod recovery;
mod safety;
mod serialize;
mod support;
mod sync;
