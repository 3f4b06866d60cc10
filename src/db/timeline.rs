//! The timeline read model: one job's stints in each state and its detail
//! changes, as `history` and evidence packets show them.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::detail::Progress;

/// A job's account: None when there is no such job, Some(None) when no
/// identified run has listed it yet.
pub async fn job_account(
    db: impl PgExecutor<'_>,
    job_id: &str,
) -> anyhow::Result<Option<Option<String>>> {
    let row = sqlx::query!(
        "SELECT account_id FROM snowball.jobs WHERE job_id = $1",
        job_id
    )
    .fetch_optional(db)
    .await
    .context("looking the job up")?;
    Ok(row.map(|r| r.account_id))
}

/// A stint of a job in a state, as `snowball.job_state_intervals` has it.
pub struct Interval {
    pub job_id: String,
    pub state: String,
    pub entered_at: DateTime<Utc>,
    pub entered_after: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    pub sync_run_id: i64,
    pub row_hash: Vec<u8>,
}

/// One job's stints, oldest first: the job_state_intervals view's columns,
/// computed over that job's rows alone.
pub async fn job_intervals(db: impl PgExecutor<'_>, job_id: &str) -> anyhow::Result<Vec<Interval>> {
    sqlx::query_as!(
        Interval,
        r#"SELECT job_id, to_state AS state, observed_at AS entered_at,
                  from_state_last_seen_at AS entered_after,
                  lead(observed_at) OVER (ORDER BY id) AS left_at, sync_run_id, row_hash
             FROM snowball.job_state_history
            WHERE job_id = $1
            ORDER BY id"#,
        job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the history of {job_id}"))
}

/// A job's detail history row, for `history`.
pub struct DetailChange {
    pub observed_at: DateTime<Utc>,
    pub sync_run_id: i64,
    pub progress: Progress,
    pub row_hash: Vec<u8>,
}

/// One job's detail changes, oldest first.
pub async fn job_detail_changes(
    db: impl PgExecutor<'_>,
    job_id: &str,
) -> anyhow::Result<Vec<DetailChange>> {
    let rows = sqlx::query!(
        "SELECT observed_at, sync_run_id, shipping_option, outbound_status, outbound_tracking_number,
                inbound_status, inbound_tracking_number, bytes_transferred, objects_transferred,
                total_bytes, total_objects, row_hash
           FROM snowball.job_detail_history
          WHERE job_id = $1
          ORDER BY id",
        job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the detail history of {job_id}"))?;
    Ok(rows
        .into_iter()
        .map(|r| DetailChange {
            observed_at: r.observed_at,
            sync_run_id: r.sync_run_id,
            row_hash: r.row_hash,
            progress: Progress {
                shipping_option: r.shipping_option,
                outbound_status: r.outbound_status,
                outbound_tracking_number: r.outbound_tracking_number,
                inbound_status: r.inbound_status,
                inbound_tracking_number: r.inbound_tracking_number,
                bytes_transferred: r.bytes_transferred,
                objects_transferred: r.objects_transferred,
                total_bytes: r.total_bytes,
                total_objects: r.total_objects,
            },
        })
        .collect())
}
