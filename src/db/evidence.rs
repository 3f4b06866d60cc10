//! The evidence read model: a job's attributes, the runs that observed it,
//! and the jobs an evidence export covers.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// What the database knows of a job itself, for an evidence packet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobAttributes {
    pub job_id: String,
    pub account_id: Option<String>,
    pub region: String,
    pub job_state: String,
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    pub is_master: Option<bool>,
    pub description: Option<String>,
    pub creation_date: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub state_since: DateTime<Utc>,
    pub missing_since: Option<DateTime<Utc>>,
}

pub async fn job_attributes(
    db: impl PgExecutor<'_>,
    job_id: &str,
) -> anyhow::Result<Option<JobAttributes>> {
    sqlx::query_as!(
        JobAttributes,
        "SELECT job_id, account_id, region, job_state, job_type, snowball_type, is_master,
                description, creation_date, first_seen_at, last_seen_at, state_since, missing_since
           FROM snowball.jobs WHERE job_id = $1",
        job_id
    )
    .fetch_optional(db)
    .await
    .with_context(|| format!("reading job {job_id}"))
}

/// A run that observed a job.
pub struct ObservingRun {
    pub id: i64,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub digest: Option<Vec<u8>>,
}

/// The runs that observed a job, by id: every run that recorded a row
/// about it (a state, detail or report row) or last listed it, and every run
/// whose listing of the job's account and region (any US region, for a US
/// job: each lists them all) succeeded within the job's first and last
/// sighting, which therefore returned it (unless the job was missing from
/// the service for a while in between: then those runs are listed too).
pub async fn runs_observing(
    db: impl PgExecutor<'_>,
    job_id: &str,
) -> anyhow::Result<Vec<ObservingRun>> {
    sqlx::query_as!(
        ObservingRun,
        r#"SELECT r.id, r.status, r.started_at, r.finished_at, r.digest
             FROM snowball.sync_runs r
            WHERE r.id IN (SELECT sync_run_id FROM snowball.job_state_history WHERE job_id = $1
                           UNION
                           SELECT sync_run_id FROM snowball.job_detail_history WHERE job_id = $1
                           UNION
                           SELECT sync_run_id FROM snowball.job_reports WHERE job_id = $1
                           UNION
                           SELECT last_sync_run_id FROM snowball.jobs WHERE job_id = $1
                           UNION
                           -- Times from the database clock on both sides (a
                           -- listing's own are the sync host's).
                           SELECT l.run_id
                             FROM snowball.jobs j
                             JOIN snowball.sync_run_listings l
                               ON l.account_id = j.account_id
                              AND (l.region = j.region
                                   OR (l.region LIKE 'us-%' AND l.region NOT LIKE 'us-gov-%'
                                       AND j.region LIKE 'us-%' AND j.region NOT LIKE 'us-gov-%'))
                             JOIN snowball.sync_runs lr ON lr.id = l.run_id
                            WHERE j.job_id = $1
                              AND l.kind = 'jobs'
                              AND l.status = 'succeeded'
                              AND lr.finished_at >= j.first_seen_at
                              AND lr.started_at <= j.last_seen_at)
            ORDER BY r.id"#,
        job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the runs that observed {job_id}"))
}

/// Jobs in state Complete that entered it at or after `since`, by id.
pub async fn completed_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT job_id FROM snowball.jobs
          WHERE job_state = 'Complete' AND state_since >= $1
          ORDER BY job_id",
        since
    )
    .fetch_all(db)
    .await
    .context("reading the jobs completed in the period")
}
