use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use snowball_sync::{Config, cli::Cli};

fn main() -> ExitCode {
    forget_empty_settings();
    // A panic is one line on stderr like every other error (the run that
    // panicked records it too); RUST_BACKTRACE=1 keeps Rust's own report.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let line = info.to_string().replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "snowball-sync: {line}");
        }));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        // A usage error is one line, like every other error: clap's first
        // paragraph (the error, then the valid values or the missing
        // arguments it lists below it), its lines joined.
        Err(err) => {
            let text = err.to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first.join(" ");
            return fail(&snowball_sync::Error::Usage(format!(
                "{} (see --help)",
                line.strip_prefix("error: ").unwrap_or(&line)
            )));
        }
    };
    // The demo's own output tells the story; its syncs' progress logs would only clutter it.
    let demo = matches!(cli.command, snowball_sync::cli::Command::Demo(_));
    snowball_sync::telemetry::init(
        cli.verbose.min(8) as i8 - cli.quiet.min(8) as i8 - i8::from(demo),
        cli.log_format.into(),
    );
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => return fail(&err),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(&snowball_sync::Error::Failed(
                anyhow::Error::new(err).context("starting the async runtime"),
            ));
        }
    };
    let mut stdout = std::io::stdout();
    let ended = runtime.block_on(snowball_sync::run(config, &mut stdout));
    // Blocking work still going (a simulator's advance, a latency wait) must
    // not hold the exit back: SIGTERM ends a process within a second.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match ended {
        Ok(code) => code.into(),
        Err(err) => fail(&err),
    }
}

fn fail(err: &snowball_sync::Error) -> ExitCode {
    // Not eprintln!, which panics when stderr is closed: the exit code says it.
    let _ = writeln!(std::io::stderr(), "snowball-sync: {}", err.chain());
    err.exit_code().into()
}

/// An empty environment variable (an `AWS_ENDPOINT_URL=` line in an env file)
/// means unset, as for the AWS CLI: the SDK would panic on an empty endpoint.
fn forget_empty_settings() {
    let named = [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "DATABASE_URL",
    ];
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(key, value)| {
            let key = key.to_string_lossy();
            value.is_empty()
                && (named.contains(&key.as_ref())
                    || key.starts_with("AWS_ENDPOINT_URL")
                    || key.starts_with("PG"))
        })
        .map(|(key, _)| key)
        .collect();
    for key in empty {
        // SAFETY: called first thing in main, before the runtime or any
        // other thread exists, so nothing reads the environment meanwhile.
        unsafe { std::env::remove_var(key) };
    }
}
