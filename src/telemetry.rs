//! Logging: to stderr, as text or one JSON object per line, level from
//! RUST_LOG or from -v/-q.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::format::LogFormat;

/// `verbosity` is the count of -v minus the count of -q.
pub fn init(verbosity: i8, format: LogFormat) {
    let default = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "warn,snowball_sync=info",
        1 => "info,snowball_sync=debug",
        _ => "debug,snowball_sync=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    // A closed or full stderr (a dead `| logger`, a journald hiccup) loses
    // log lines, never the run: tracing-subscriber would otherwise report the
    // failed write with eprintln!, which panics when stderr is gone.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    if json {
        // Event fields at the top level beside timestamp, level, target and
        // message; the run's span (with run_id) on every line inside a run.
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder
            .with_target(false)
            .with_ansi(colours(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .init();
    }
}

/// Colours only on a terminal, and never when NO_COLOR is set to anything
/// but the empty string (no-color.org): a log file or a pipe gets plain text.
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
        assert!(!colours(false, Some("1".into())));
    }
}
