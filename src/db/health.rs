//! The health read model: how the runs went, day by day.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Succeeded runs so far: the demo continues its simulated timeline from here.
pub async fn succeeded_runs(db: impl PgExecutor<'_>) -> anyhow::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.sync_runs WHERE status = 'succeeded'"#
    )
    .fetch_one(db)
    .await
    .context("counting earlier runs")
}

pub struct SyncHealth {
    pub day: chrono::NaiveDate,
    pub runs: i64,
    pub succeeded: i64,
    pub partial: i64,
    pub failed: i64,
    pub abandoned: i64,
    pub running: i64,
    /// Mean duration of the day's finished runs, in seconds.
    pub mean_duration_seconds: Option<f64>,
    pub last_success: Option<DateTime<Utc>>,
}

pub async fn sync_health(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<SyncHealth>> {
    sqlx::query_as!(
        SyncHealth,
        r#"SELECT day AS "day!", runs AS "runs!", succeeded AS "succeeded!", partial AS "partial!",
                  failed AS "failed!", abandoned AS "abandoned!", running AS "running!",
                  extract(epoch FROM mean_duration)::float8 AS mean_duration_seconds,
                  last_success
             FROM snowball.sync_health
            WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date
            ORDER BY day"#,
        since
    )
    .fetch_all(db)
    .await
    .context("reading sync health")
}
