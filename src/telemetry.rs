//! Logging: to stderr, level from RUST_LOG or from -v/-q.

use tracing_subscriber::EnvFilter;

/// `verbosity` is the count of -v minus the count of -q.
pub fn init(verbosity: i8) {
    let default = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "warn,snowball_sync=info",
        1 => "info,snowball_sync=debug",
        _ => "debug,snowball_sync=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
