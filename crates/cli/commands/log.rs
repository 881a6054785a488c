//! `ankiops log`: past runs, from the Git history.

use crate::context::Context;
use crate::error::{EXIT_OK, Result};
use crate::git::Repo;

/// List past runs (date, command, counts) from the Git history, newest first.
///
/// Each run's commit id can be given to `ankiops rollback`.
///
/// Example: ankiops log -n 5
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// How many runs to show
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
}

pub fn cmd_log(ctx: &Context, args: &LogArgs) -> Result<i32> {
    let repo = Repo::open(&ctx.root)?;
    let runs = repo.runs(args.limit)?;
    if ctx.args.json {
        println!("{}", serde_json::to_string_pretty(&runs).expect("runs serialize"));
        return Ok(EXIT_OK);
    }
    if runs.is_empty() {
        eprintln!("no runs yet: `ankiops ma` or `ankiops sync` records one");
    }
    for run in runs {
        println!("{}  {}  {}", &run.id[..10], format_time(run.time), run.message);
    }
    Ok(EXIT_OK)
}

/// `YYYY-MM-DD HH:MM` in UTC, from epoch seconds.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_epoch_seconds_as_utc() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00");
        assert_eq!(super::format_time(1_795_312_281), "2026-11-22 01:51");
    }
}
