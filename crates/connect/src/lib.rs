//! The AnkiConnect client: the only code in ankiops that speaks HTTP.
