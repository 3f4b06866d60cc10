//! snowball.sync_runs: one row per sync, written at its start and its end.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// How a run ended, as stored in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    /// Some listings failed; the others were written.
    Partial,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

/// The counters a run accumulates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub pages: i32,
    pub jobs_seen: i32,
    pub jobs_new: i32,
    pub jobs_changed: i32,
    pub transitions: i32,
    /// With --details: jobs described, and detail history rows written.
    pub jobs_described: Option<i32>,
    pub detail_changes: Option<i32>,
}

/// Marks runs left 'running' by a killed process, announcing each end like
/// `finish` does. Call only while holding the locks of `accounts`: a live run
/// holds the locks of all its accounts, so a 'running' run sharing one of
/// them is dead. Runs from before accounts were recorded held the one
/// database-wide lock of that release and are dead too.
pub async fn abandon_running(db: impl PgExecutor<'_>, accounts: &[String]) -> anyhow::Result<u64> {
    let abandoned = sqlx::query_scalar!(
        r#"WITH abandoned AS (
               UPDATE snowball.sync_runs
                  SET status = 'abandoned', finished_at = now(),
                      error = coalesce(error, 'the process ended without recording a result')
                WHERE status = 'running' AND (accounts IS NULL OR accounts && $1)
            RETURNING *
           )
           SELECT pg_notify('snowball_sync', snowball.run_notification(abandoned)) AS "notified!"
             FROM abandoned"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("marking abandoned runs")?;
    Ok(abandoned.len() as u64)
}

pub async fn start(
    db: impl PgExecutor<'_>,
    regions: &[String],
    accounts: &[String],
    host: Option<&str>,
) -> anyhow::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO snowball.sync_runs (regions, accounts, tool_version, host)
         VALUES ($1, $2, $3, $4)
         RETURNING id",
        regions,
        accounts,
        env!("CARGO_PKG_VERSION"),
        host,
    )
    .fetch_one(db)
    .await
    .context("recording the start of the run")
}

/// Records a run's end and, in the same statement (so in the same
/// transaction), sends its one notification on the `snowball_sync` channel:
/// listeners hear of a run exactly when its end is committed, and never of a
/// dry run, whose transaction is rolled back.
pub async fn finish(
    db: impl PgExecutor<'_>,
    run_id: i64,
    status: RunStatus,
    totals: &RunTotals,
    missing: u64,
    error: Option<&str>,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let row = sqlx::query!(
        r#"WITH finished AS (
               UPDATE snowball.sync_runs
                  SET status = $2, finished_at = now(), pages = $3, jobs_seen = $4,
                      jobs_new = $5, jobs_changed = $6, transitions = $7, jobs_missing = $8,
                      error = $9, jobs_described = $10, detail_changes = $11
                WHERE id = $1
            RETURNING *
           )
           SELECT started_at, finished_at AS "finished_at!",
                  pg_notify('snowball_sync', snowball.run_notification(finished)) AS "notified!"
             FROM finished"#,
        run_id,
        status.as_str(),
        totals.pages,
        totals.jobs_seen,
        totals.jobs_new,
        totals.jobs_changed,
        totals.transitions,
        i32::try_from(missing).unwrap_or(i32::MAX),
        error,
        totals.jobs_described,
        totals.detail_changes,
    )
    .fetch_one(db)
    .await
    .context("recording the end of the run")?;
    Ok((row.started_at, row.finished_at))
}
