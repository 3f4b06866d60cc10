//! snowball.sync_run_listings: one row per (run, account, region) listing.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// How one listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRecord {
    pub account_id: String,
    pub region: String,
    pub succeeded: bool,
    pub pages: i32,
    pub jobs_seen: i32,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl ListingRecord {
    pub fn status(&self) -> &'static str {
        if self.succeeded {
            "succeeded"
        } else {
            "failed"
        }
    }
}

/// Records a run's listings, in one statement.
pub async fn record(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listings: &[ListingRecord],
) -> anyhow::Result<()> {
    let accounts: Vec<&str> = listings.iter().map(|l| l.account_id.as_str()).collect();
    let regions: Vec<&str> = listings.iter().map(|l| l.region.as_str()).collect();
    let statuses: Vec<&str> = listings.iter().map(ListingRecord::status).collect();
    let pages: Vec<i32> = listings.iter().map(|l| l.pages).collect();
    let seen: Vec<i32> = listings.iter().map(|l| l.jobs_seen).collect();
    let errors: Vec<Option<&str>> = listings.iter().map(|l| l.error.as_deref()).collect();
    let started: Vec<DateTime<Utc>> = listings.iter().map(|l| l.started_at).collect();
    let finished: Vec<DateTime<Utc>> = listings.iter().map(|l| l.finished_at).collect();
    sqlx::query!(
        "INSERT INTO snowball.sync_run_listings
                (run_id, account_id, region, status, pages, jobs_seen, error, started_at, finished_at)
         SELECT $1, *
           FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[],
                       $8::timestamptz[], $9::timestamptz[])",
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
        &statuses as &[&str],
        &pages,
        &seen,
        &errors as &[Option<&str>],
        &started,
        &finished,
    )
    .execute(db)
    .await
    .context("recording the run's listings")?;
    Ok(())
}
