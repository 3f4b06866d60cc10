//! The `sync` command: one run, then its summary on stdout (a line, or one
//! JSON object) and its metrics file.

use std::io::Write;

use crate::config::SyncConfig;
use crate::error::Error;
use crate::{db, format, metrics};

/// Runs one sync and reports it: the summary on `out`, the metrics file when
/// asked for; the run's error, if any, is returned for the caller to print.
pub async fn run(sync: &SyncConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    // With --output json, stdout holds the one JSON object: a dry
    // run's would-be changes go to stderr.
    let mut changes_to_stderr = std::io::stderr();
    let changes: &mut (dyn Write + Send) = match (sync.dry_run, sync.output) {
        (true, format::OutputFormat::Json) => &mut changes_to_stderr,
        _ => &mut *out,
    };
    let (summary, error) = match super::run(sync, changes, crate::shutdown_signal()).await {
        Ok(summary) => (Some(summary), None),
        Err(failure) => (failure.summary, Some(failure.error)),
    };
    // A run that found the lock held did not run, and a dry run
    // committed nothing: neither writes metrics, so monitoring never
    // hears of a success that did not happen.
    let metrics_error = match (&sync.metrics_file, &error) {
        (None, _) | (_, Some(Error::LockHeld)) => None,
        _ if sync.dry_run => None,
        (Some(path), _) => write_metrics(sync, path, summary.as_ref(), error.is_none()).await,
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
                Some(why) => writeln!(out, "{summary}; metrics file not written: {why}").ok(),
            };
        }
        _ => {}
    }
    match error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Writes the metrics file; a failure to do so is an ERROR line and the
/// returned text (for the summary), never fatal: the run itself is already
/// recorded, and the staleness alert catches a file that stops changing.
async fn write_metrics(
    config: &SyncConfig,
    path: &std::path::Path,
    summary: Option<&super::RunSummary>,
    succeeded: bool,
) -> Option<String> {
    let (mut jobs_by_state, mut usage, mut clusters, mut terms, mut observed) =
        (None, None, None, None, None);
    if summary.is_some()
        && let Ok(mut conn) = db::connect_one(&config.database).await
    {
        let estate = config.estate;
        jobs_by_state = db::fleet::state_counts(&mut conn).await.ok();
        if estate.usage {
            usage = db::usage::latest(&mut conn, None, &[]).await.ok();
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
