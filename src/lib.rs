//! snowball-sync: mirror AWS Snowball ListJobs into PostgreSQL, with an
//! append-only history of every JobState transition.

pub mod archive;
pub mod chain;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod detail;
pub mod error;
pub mod estate;
pub mod evidence;
pub mod exit_code;
pub mod format;
pub mod job;
pub mod limits;
pub mod metrics;
pub mod report;
pub mod snowball;
pub mod sync;
pub mod telemetry;
pub mod values;
pub mod verify;
pub mod watch;

use std::io::Write;

pub use config::Config;
pub use error::Error;
pub use exit_code::{ExitCode, Signal};

/// Runs one command to the end. Output for the user goes to `out`; logs go
/// to the tracing subscriber; the error, if any, is the caller's to print.
pub async fn run(config: Config, out: &mut (dyn Write + Send)) -> Result<ExitCode, Error> {
    match config {
        Config::Sync(sync) => {
            // With --output json, stdout holds the one JSON object: a dry
            // run's would-be changes go to stderr.
            let mut changes_to_stderr = std::io::stderr();
            let changes: &mut (dyn Write + Send) = match (sync.dry_run, sync.output) {
                (true, format::OutputFormat::Json) => &mut changes_to_stderr,
                _ => &mut *out,
            };
            let (summary, error) = match sync::run(&sync, changes, shutdown_signal()).await {
                Ok(summary) => (Some(summary), None),
                Err(failure) => (failure.summary, Some(failure.error)),
            };
            // A run that found the lock held did not run, and a dry run
            // committed nothing: neither writes metrics, so monitoring never
            // hears of a success that did not happen.
            let metrics_error = match (&sync.metrics_file, &error) {
                (None, _) | (_, Some(Error::LockHeld)) => None,
                _ if sync.dry_run => None,
                (Some(path), _) => {
                    write_metrics(&sync, path, summary.as_ref(), error.is_none()).await
                }
            };
            match (&summary, sync.output) {
                (Some(summary), format::OutputFormat::Json) => {
                    let mut json = summary.to_json();
                    json["metrics_file_error"] = serde_json::json!(metrics_error);
                    writeln!(out, "{json}").ok();
                }
                (Some(summary), format::OutputFormat::Text) if error.is_none() => {
                    match &metrics_error {
                        None => writeln!(out, "{summary}").ok(),
                        Some(why) => {
                            writeln!(out, "{summary}; metrics file not written: {why}").ok()
                        }
                    };
                }
                _ => {}
            }
            if let Some(error) = error {
                return Err(error);
            }
        }
        Config::Migrate(database) => {
            let mut conn = db::connect_one(&database).await?;
            db::migrate(&mut conn).await?;
            writeln!(out, "database schema is up to date ({})", database.target()).ok();
        }
        Config::Simulate(simulator) => {
            snowball_simulator::run(&simulator, out, shutdown_signal()).await?;
        }
        Config::Demo(demo) => demo::run(&demo, out).await?,
        Config::History(history) => report::history_command(&history, out).await?,
        Config::Evidence(evidence) => evidence::run(&evidence, out).await?,
        Config::Report(config) => report::report_command(&config, out).await?,
        Config::Watch(watch) => watch::run(&watch, out, shutdown_signal()).await?,
        Config::Verify(verify) => verify::run(&verify, out).await?,
        Config::Completions(shell) => cli::completions(shell, out)?,
        Config::Man(dir) => cli::manual(dir.as_deref(), out)?,
    }
    Ok(ExitCode::Success)
}

/// Writes the metrics file; a failure to do so is an ERROR line and the
/// returned text (for the summary), never fatal: the run itself is already
/// recorded, and the staleness alert catches a file that stops changing.
async fn write_metrics(
    config: &config::SyncConfig,
    path: &std::path::Path,
    summary: Option<&sync::RunSummary>,
    succeeded: bool,
) -> Option<String> {
    let (mut jobs_by_state, mut usage, mut clusters, mut terms, mut observed) =
        (None, None, None, None, None);
    if summary.is_some()
        && let Ok(mut conn) = db::connect_one(&config.database).await
    {
        let estate = config.estate;
        jobs_by_state = db::report::state_counts(&mut conn).await.ok();
        if estate.usage {
            usage = db::usage::latest(&mut conn, &[]).await.ok();
        }
        if estate.clusters {
            clusters = db::clusters::state_counts(&mut conn).await.ok();
        }
        if estate.pricing {
            terms = db::pricing::ends(&mut conn).await.ok();
        }
        let kinds: Vec<&str> = [
            (estate.usage, "usage"),
            (estate.clusters, "clusters"),
            (estate.pricing, "long-term-pricing"),
        ]
        .into_iter()
        .filter_map(|(read, kind)| read.then_some(kind))
        .collect();
        if !kinds.is_empty() {
            observed = db::runs::last_listed(&mut conn, &kinds).await.ok();
        }
    }
    let report = metrics::Report {
        summary,
        succeeded,
        finished_at: summary.map_or_else(chrono::Utc::now, |s| s.finished_at),
        jobs_by_state: jobs_by_state.as_deref(),
        usage: usage.as_deref(),
        clusters: clusters.as_deref(),
        terms: terms.as_deref(),
        observed: observed.as_deref(),
    };
    match metrics::write(path, &report) {
        Ok(()) => None,
        Err(err) => {
            let why = format!("{err:#}");
            tracing::error!(error = %why, "could not write the metrics file");
            Some(why)
        }
    }
}

/// Resolves on SIGINT or SIGTERM, saying which.
pub async fn shutdown_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!(
            "cannot listen for signals; SIGINT and SIGTERM will end the process abruptly"
        );
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}
