//! Test support: starts the real Anki test backend (the `anki` Python package behind an AnkiConnect-protocol
//! server) and Anki's own sync server, each on a free loopback port, torn down on drop.
