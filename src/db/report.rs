//! Read-only queries for people: what the demo and `history` show.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub struct StateCount {
    pub job_state: String,
    pub jobs: i64,
}

pub async fn state_counts(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"SELECT job_state, count(*) AS "jobs!"
             FROM snowball.jobs
            GROUP BY job_state
            ORDER BY count(*) DESC, job_state"#
    )
    .fetch_all(db)
    .await
    .context("counting jobs by state")
}

pub struct TransitionRow {
    pub observed_at: DateTime<Utc>,
    pub job_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub sync_run_id: i64,
}

/// The latest state changes (first sightings left out).
pub async fn latest_transitions(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> anyhow::Result<Vec<TransitionRow>> {
    sqlx::query_as!(
        TransitionRow,
        "SELECT observed_at, job_id, from_state, to_state, sync_run_id
           FROM snowball.job_state_history
          WHERE from_state IS NOT NULL
          ORDER BY id DESC
          LIMIT $1",
        limit
    )
    .fetch_all(db)
    .await
    .context("reading the latest transitions")
}

/// The job with the most recorded states, for showing a timeline.
pub async fn busiest_job(db: impl PgExecutor<'_>) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT job_id
           FROM snowball.job_state_history
          GROUP BY job_id
          ORDER BY count(*) DESC, job_id
          LIMIT 1"
    )
    .fetch_optional(db)
    .await
    .context("finding a job with a long history")
}

pub struct Stint {
    pub state: String,
    pub entered_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub sync_run_id: i64,
}

/// One job's states in order: when each was first observed and when the next was.
pub async fn job_timeline(db: impl PgExecutor<'_>, job_id: &str) -> anyhow::Result<Vec<Stint>> {
    sqlx::query_as!(
        Stint,
        r#"SELECT to_state AS "state!",
                  observed_at AS "entered_at!",
                  lead(observed_at) OVER (ORDER BY id) AS left_at,
                  sync_run_id AS "sync_run_id!"
             FROM snowball.job_state_history
            WHERE job_id = $1
            ORDER BY id"#,
        job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the timeline of {job_id}"))
}

/// Succeeded runs so far: the demo continues its simulated timeline from here.
pub async fn succeeded_runs(db: impl PgExecutor<'_>) -> anyhow::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.sync_runs WHERE status = 'succeeded'"#
    )
    .fetch_one(db)
    .await
    .context("counting earlier runs")
}
