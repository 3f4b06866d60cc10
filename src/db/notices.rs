//! The `snowball_sync` notification channel: what listeners read. The payload
//! is built by the database (snowball.run_notification) when a run's end is
//! recorded (db::runs); this module reads it back and the transitions it names.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

/// The channel every run's end is announced on.
pub const CHANNEL: &str = "snowball_sync";

/// A notification's payload, as documented in docs/operations.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunNotice {
    pub run_id: i64,
    pub status: String,
    pub transitions: i32,
    pub jobs_new: i32,
    pub jobs_changed: i32,
    pub jobs_missing: Option<i32>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The accounts the run was to list; None for runs before accounts were recorded.
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
    /// The run's digest (hex); None for notifications sent before runs
    /// were sealed.
    #[serde(default)]
    pub digest: Option<String>,
    /// Cluster state history rows and term changes the run wrote; None when
    /// it did not read that kind (or was notified before it existed).
    #[serde(default)]
    pub cluster_transitions: Option<i32>,
    #[serde(default)]
    pub pricing_changes: Option<i32>,
}

impl RunNotice {
    pub fn parse(payload: &str) -> anyhow::Result<RunNotice> {
        serde_json::from_str(payload).with_context(|| {
            // Quoted and cut: anyone may send anything on the channel.
            let start: String = payload.chars().take(200).collect();
            format!("reading a {CHANNEL} notification: {start:?}")
        })
    }
}

/// Runs whose end was recorded at or after `since`, as their notifications
/// said: for catching up on what a lost connection did not hear.
pub async fn finished_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<RunNotice>> {
    let payloads = sqlx::query_scalar!(
        r#"SELECT snowball.run_notification(r) AS "payload!"
             FROM snowball.sync_runs r
            WHERE r.status <> 'running' AND r.finished_at >= $1
            ORDER BY r.finished_at, r.id"#,
        since
    )
    .fetch_all(db)
    .await
    .context("reading the runs that ended while the connection was lost")?;
    payloads.iter().map(|p| RunNotice::parse(p)).collect()
}

/// One history row of a run, in write order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTransition {
    pub id: i64,
    pub job_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub observed_at: DateTime<Utc>,
}

/// A cluster state history row of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTransition {
    pub cluster_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub observed_at: DateTime<Utc>,
}

/// A run's cluster transitions, in write order (clusters are few).
pub async fn run_cluster_transitions(
    db: impl PgExecutor<'_>,
    run_id: i64,
) -> anyhow::Result<Vec<ClusterTransition>> {
    sqlx::query_as!(
        ClusterTransition,
        "SELECT cluster_id, from_state, to_state, observed_at
           FROM snowball.cluster_state_history
          WHERE sync_run_id = $1
          ORDER BY id",
        run_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the cluster transitions of run {run_id}"))
}

/// Up to `limit` of a run's transitions after history row `after_id`: a run
/// can have 100 000 of them, so they are read a slice at a time.
pub async fn run_transitions(
    db: impl PgExecutor<'_>,
    run_id: i64,
    after_id: i64,
    limit: i64,
) -> anyhow::Result<Vec<RunTransition>> {
    sqlx::query_as!(
        RunTransition,
        "SELECT id, job_id, from_state, to_state, observed_at
           FROM snowball.job_state_history
          WHERE sync_run_id = $1 AND id > $2
          ORDER BY id
          LIMIT $3",
        run_id,
        after_id,
        limit
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the transitions of run {run_id}"))
}
