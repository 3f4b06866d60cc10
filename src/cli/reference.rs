//! The configuration reference, `docs/configuration.md`, written from the
//! clap definition itself so that it cannot drift from `--help`: every
//! command, flag, environment variable, default and range. A test compares
//! the committed page with this; `scripts/config-reference` rewrites it.

use std::fmt::Write;

use clap::{Arg, Command, CommandFactory};

use super::Cli;
use crate::limits::{
    self, MAX_CONCURRENCY, MAX_DETAILS_CONCURRENCY, MAX_PAGE_SIZE, REPORT_MAX_BYTES_MIN,
};

/// The whole page, in Markdown.
pub fn markdown() -> String {
    let cli = Cli::command();
    let mut page = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from the command-line definition by scripts/config-reference; do not edit. -->\n\n\
         Every command and flag, as `snowball-sync --help` and the manual pages give them. \
         Durations are written `500ms`, `30s`, `90m`, `36h` or `14d` (a bare number is seconds); \
         sizes as bytes or a whole number of `KiB`, `MiB` or `GiB`. A value outside its range \
         exits 2 with one line naming the flag and the range. An empty environment variable \
         counts as unset.\n\n",
    );
    page.push_str("## Commands\n\n| command | what it does |\n|---|---|\n");
    for command in cli.get_subcommands() {
        let name = command.get_name();
        let _ = writeln!(
            page,
            "| [`{name}`](#snowball-sync-{name}) | {} |",
            cell(&about(command))
        );
    }
    page.push_str("\n## Options of every command\n\n");
    table(
        &mut page,
        "",
        cli.get_arguments().filter(|a| a.is_global_set()),
    );
    for command in cli.get_subcommands() {
        let name = command.get_name();
        let _ = write!(page, "\n## snowball-sync {name}\n\n{}\n\n", about(command));
        table(
            &mut page,
            name,
            command.get_arguments().filter(|a| !a.is_global_set()),
        );
    }
    if let Some(after) = cli.get_after_long_help() {
        let _ = write!(page, "\n## Exit codes and environment\n\n");
        for paragraph in after.to_string().split("\n\n") {
            let _ = write!(page, "{}\n\n", paragraph.replace('\n', " "));
        }
    }
    page.truncate(page.trim_end().len());
    page.push('\n');
    page
}

fn about(command: &Command) -> String {
    command
        .get_long_about()
        .or(command.get_about())
        .map(|text| text.to_string().replace('\n', " "))
        .unwrap_or_default()
}

/// One row per flag: how it is written, its environment variable, its
/// default, its range or values, and its help.
fn table<'a>(page: &mut String, command: &str, args: impl Iterator<Item = &'a Arg>) {
    page.push_str("| flag | environment | default | values | meaning |\n|---|---|---|---|---|\n");
    for arg in args.filter(|a| !a.is_hide_set() && a.get_id() != "help") {
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(long), Some(short)) => format!("`-{short}`, `--{long}`"),
            (Some(long), None) => format!("`--{long}`"),
            (None, Some(short)) => format!("`-{short}`"),
            (None, None) => String::new(),
        };
        let value = arg
            .get_value_names()
            .filter(|_| arg.get_action().takes_values())
            .map(|names| {
                names
                    .iter()
                    .map(|n| format!("<{n}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let flag = match (flag.is_empty(), value.is_empty()) {
            (true, _) => format!("`{value}`"),
            (false, true) => flag,
            (false, false) => format!("{flag} `{value}`"),
        };
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_default();
        let default = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ");
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        let long = arg.get_long().unwrap_or_default();
        let values = match range(command, long) {
            Some(range) => range,
            None if arg.get_action().takes_values() => possible.join(", "),
            None => String::new(),
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "| {flag} | {env} | {default} | {} | {} |",
            cell(&values),
            cell(&help)
        );
    }
}

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The accepted range of a number, duration or size flag of `command`, as
/// `config` enforces it (the same constants).
fn range(command: &str, flag: &str) -> Option<String> {
    let from_to = |min: &dyn std::fmt::Display, max: &dyn std::fmt::Display| {
        Some(format!("`{min}` to `{max}`"))
    };
    match (command, flag) {
        (_, "connect-timeout" | "timeout") => from_to(&limits::TIMEOUT.0, &limits::TIMEOUT.1),
        ("sync", "operation-timeout") => {
            from_to(&limits::OPERATION_TIMEOUT.0, &limits::OPERATION_TIMEOUT.1)
        }
        ("sync", "max-attempts") => from_to(&limits::MAX_ATTEMPTS.0, &limits::MAX_ATTEMPTS.1),
        ("sync", "max-pages") => from_to(&limits::MAX_PAGES.0, &limits::MAX_PAGES.1),
        ("sync", "page-size") => from_to(&1, &MAX_PAGE_SIZE),
        ("sync", "concurrency") => from_to(&1, &MAX_CONCURRENCY),
        ("sync", "details-concurrency") => from_to(&1, &MAX_DETAILS_CONCURRENCY),
        ("sync", "report-max-bytes") => {
            from_to(&format!("{}MiB", REPORT_MAX_BYTES_MIN >> 20), &"1TiB")
        }
        ("report", "since") | ("evidence", "completed-since") => {
            from_to(&limits::PERIOD.0, &limits::PERIOD.1)
        }
        ("report", "stuck-after" | "deadline-within" | "renewal-within") => {
            from_to(&limits::AGE.0, &limits::AGE.1)
        }
        ("demo", "pause") => from_to(&limits::PAUSE.0, &limits::PAUSE.1),
        ("demo", "runs") => from_to(&limits::DEMO_RUNS.0, &limits::DEMO_RUNS.1),
        ("demo", "jobs") => from_to(&limits::DEMO_JOBS.0, &limits::DEMO_JOBS.1),
        ("demo", "accounts") => from_to(&limits::DEMO_ACCOUNTS.0, &limits::DEMO_ACCOUNTS.1),
        ("simulate", "tick") => {
            from_to(&limits::TICK_SECONDS.0, &limits::TICK_SECONDS.1).map(|r| r + " seconds")
        }
        ("simulate", "jobs") => from_to(&limits::SIMULATED_JOBS.0, &limits::SIMULATED_JOBS.1)
            .map(|r| r + &fleet_bound()),
        ("simulate", "accounts") => {
            from_to(&limits::SIMULATED_ACCOUNTS.0, &limits::SIMULATED_ACCOUNTS.1)
        }
        ("simulate", "clusters") => {
            from_to(&limits::SIMULATED_CLUSTERS.0, &limits::SIMULATED_CLUSTERS.1)
                .map(|r| r + &fleet_bound())
        }
        ("simulate", "terms") => from_to(&limits::SIMULATED_TERMS.0, &limits::SIMULATED_TERMS.1)
            .map(|r| r + &fleet_bound()),
        ("simulate", "page-latency-ms" | "identity-latency-ms") => {
            from_to(&limits::LATENCY_MS.0, &limits::LATENCY_MS.1)
        }
        ("simulate", "throttle-every" | "error-every" | "drop-every") => {
            Some("`1` and up".to_owned())
        }
        ("simulate", "suspend-account") => Some("`0` to `--accounts` − 1".to_owned()),
        ("simulate", "success-log-bytes") => from_to(&"0", &"1TiB"),
        _ => None,
    }
}

fn fleet_bound() -> String {
    format!(
        "; the fleet (accounts × regions × (jobs + 5 × clusters + terms)) at most `{}`",
        limits::SIMULATED_FLEET
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_duration_and_size_flag_has_a_range_in_the_reference() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                let names = arg.get_value_names().unwrap_or_default();
                let measured = names.iter().any(|n| {
                    ["N", "DURATION", "SIZE", "SECONDS", "K", "INDEX"].contains(&n.as_str())
                });
                let long = arg.get_long().unwrap_or_default();
                if measured && range(command.get_name(), long).is_none() {
                    missing.push(format!("{} --{long}", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "no range for {missing:?}");
    }
}
