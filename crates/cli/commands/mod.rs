//! One module per subcommand: its documented arguments (the doc comment is its `--help`) and one `cmd_*` function.

pub mod am;
pub mod deserialize;
pub mod doctor;
pub mod generate;
pub mod git_setup;
pub mod init;
pub mod log;
pub mod ma;
pub mod merge_file;
pub mod rollback;
pub mod serialize;
pub mod status;
pub mod sync;
pub mod web;
