//! snowball.long_term_pricing (one row per term) and
//! snowball.long_term_pricing_history (append-only, chained per term): a
//! history row for a term's first sighting and for each observed change of
//! what decides whether it keeps a device (status, auto_renew, end_date,
//! current_active_job, replacement_job, job_ids).

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::estate::TermRecord;

/// Upserts the listed terms and writes their history rows, in one
/// statement. Returns the history rows written.
pub async fn write(
    db: impl PgExecutor<'_>,
    run_id: i64,
    terms: &[(&str, &str, &TermRecord)],
) -> anyhow::Result<u64> {
    // One array per column, as the jobs are written; dates and each term's
    // job ids go as text for PostgreSQL to read, as they always have.
    let accounts: Vec<&str> = terms.iter().map(|t| t.0).collect();
    let regions: Vec<&str> = terms.iter().map(|t| t.1).collect();
    let ids: Vec<&str> = terms
        .iter()
        .map(|t| t.2.long_term_pricing_id.as_str())
        .collect();
    let pricing_types: Vec<Option<&str>> =
        terms.iter().map(|t| t.2.pricing_type.as_deref()).collect();
    let starts: Vec<Option<String>> = terms
        .iter()
        .map(|t| t.2.start_date.map(super::timestamp_text))
        .collect();
    let ends: Vec<Option<String>> = terms
        .iter()
        .map(|t| t.2.end_date.map(super::timestamp_text))
        .collect();
    let auto_renews: Vec<Option<bool>> = terms.iter().map(|t| t.2.auto_renew).collect();
    let statuses: Vec<Option<&str>> = terms.iter().map(|t| t.2.status.as_deref()).collect();
    let snowball_types: Vec<Option<&str>> =
        terms.iter().map(|t| t.2.snowball_type.as_deref()).collect();
    let active_jobs: Vec<Option<&str>> = terms
        .iter()
        .map(|t| t.2.current_active_job.as_deref())
        .collect();
    let replacements: Vec<Option<&str>> = terms
        .iter()
        .map(|t| t.2.replacement_job.as_deref())
        .collect();
    let job_ids: Vec<String> = terms
        .iter()
        .map(|t| serde_json::json!(t.2.job_ids).to_string())
        .collect();
    let written = sqlx::query_scalar!(
        r#"
        WITH listed AS (
            -- Several US regions list one term: keep its first entry.
            SELECT DISTINCT ON (long_term_pricing_id)
                   account_id, region, long_term_pricing_id, pricing_type,
                   start_date::timestamptz AS start_date, end_date::timestamptz AS end_date,
                   auto_renew, status, snowball_type, current_active_job, replacement_job,
                   ARRAY(SELECT e.id
                           FROM jsonb_array_elements_text(job_ids::jsonb) WITH ORDINALITY AS e (id, n)
                          ORDER BY e.n) AS job_ids
              FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[],
                          $13::text[])
                   WITH ORDINALITY
                   AS l (account_id, region, long_term_pricing_id, pricing_type, start_date,
                         end_date, auto_renew, status, snowball_type, current_active_job,
                         replacement_job, job_ids, ord)
             ORDER BY long_term_pricing_id, ord
        ),
        before AS MATERIALIZED (
            SELECT t.long_term_pricing_id, t.status, t.auto_renew, t.end_date,
                   t.current_active_job, t.replacement_job, t.job_ids
              FROM snowball.long_term_pricing t
              JOIN listed USING (long_term_pricing_id)
        ),
        upserted AS (
            INSERT INTO snowball.long_term_pricing AS t
                   (long_term_pricing_id, account_id, region, pricing_type, start_date, end_date,
                    auto_renew, status, snowball_type, current_active_job, replacement_job,
                    job_ids, first_seen_at, last_seen_at, last_sync_run_id)
            SELECT long_term_pricing_id, account_id, region, pricing_type, start_date, end_date,
                   auto_renew, status, snowball_type, current_active_job, replacement_job,
                   job_ids, now(), now(), $1
              FROM listed
            ON CONFLICT (long_term_pricing_id) DO UPDATE
               SET account_id         = EXCLUDED.account_id,
                   -- Within a run, the first region name wins (as for jobs).
                   region             = CASE WHEN t.last_sync_run_id = $1 AND t.region < EXCLUDED.region
                                             THEN t.region ELSE EXCLUDED.region END,
                   pricing_type       = EXCLUDED.pricing_type,
                   start_date         = EXCLUDED.start_date,
                   end_date           = EXCLUDED.end_date,
                   auto_renew         = EXCLUDED.auto_renew,
                   status             = EXCLUDED.status,
                   snowball_type      = EXCLUDED.snowball_type,
                   current_active_job = EXCLUDED.current_active_job,
                   replacement_job    = EXCLUDED.replacement_job,
                   job_ids            = EXCLUDED.job_ids,
                   last_seen_at       = now(),
                   missing_since      = NULL,
                   last_sync_run_id   = $1
            RETURNING t.long_term_pricing_id, t.status, t.auto_renew, t.end_date,
                      t.current_active_job, t.replacement_job, t.job_ids
        ),
        changes AS (
            INSERT INTO snowball.long_term_pricing_history
                   (long_term_pricing_id, observed_at, sync_run_id, status, auto_renew, end_date,
                    current_active_job, replacement_job, job_ids, prev_hash, row_hash)
            SELECT u.long_term_pricing_id, now(), $1, u.status, u.auto_renew, u.end_date,
                   u.current_active_job, u.replacement_job, u.job_ids, head.row_hash,
                   snowball.long_term_pricing_row_hash(
                       (SELECT snowball.chain_prefix('snowball.long_term_pricing_history', $1, now())),
                       u.long_term_pricing_id, u.status, u.auto_renew, u.end_date,
                       u.current_active_job, u.replacement_job, u.job_ids, head.row_hash)
              FROM upserted u
              LEFT JOIN before b USING (long_term_pricing_id)
              -- The term's last row until now; a new term has none.
              LEFT JOIN LATERAL (
                    SELECT h.row_hash
                      FROM snowball.long_term_pricing_history h
                     WHERE h.long_term_pricing_id = u.long_term_pricing_id
                     ORDER BY h.id DESC
                     LIMIT 1
                   ) head ON true
             WHERE b.long_term_pricing_id IS NULL
                OR (b.status, b.auto_renew, b.end_date, b.current_active_job, b.replacement_job,
                    b.job_ids)
                   IS DISTINCT FROM
                   (u.status, u.auto_renew, u.end_date, u.current_active_job, u.replacement_job,
                    u.job_ids)
             ORDER BY u.long_term_pricing_id
            RETURNING 1
        )
        SELECT count(*) AS "written!" FROM changes
        "#,
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
        &ids as &[&str],
        &pricing_types as &[Option<&str>],
        &starts as &[Option<String>],
        &ends as &[Option<String>],
        &auto_renews as &[Option<bool>],
        &statuses as &[Option<&str>],
        &snowball_types as &[Option<&str>],
        &active_jobs as &[Option<&str>],
        &replacements as &[Option<&str>],
        &job_ids as &[String],
    )
    .fetch_one(db)
    .await
    .with_context(|| format!("writing {} long-term pricing terms", terms.len()))?;
    Ok(written as u64)
}

/// After complete ListLongTermPricing listings: marks the terms of each
/// (account, region) listed that this run did not list.
pub async fn mark_missing(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listed: &[(&str, &str)],
) -> anyhow::Result<u64> {
    let accounts: Vec<&str> = listed.iter().map(|l| l.0).collect();
    let regions: Vec<&str> = listed.iter().map(|l| l.1).collect();
    let done = sqlx::query!(
        "UPDATE snowball.long_term_pricing t
            SET missing_since = now()
           FROM UNNEST($2::text[], $3::text[]) AS l (account_id, region)
          WHERE t.account_id = l.account_id
            AND t.region = l.region
            AND t.last_sync_run_id IS DISTINCT FROM $1
            AND t.missing_since IS NULL",
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
    )
    .execute(db)
    .await
    .context("marking long-term pricing terms no longer listed")?;
    Ok(done.rows_affected())
}

/// A term as the latest listing had it.
pub struct Term {
    pub account_id: Option<String>,
    pub pricing_type: Option<String>,
    pub snowball_type: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub days_left: Option<i32>,
    pub lapses: bool,
    pub missing_since: Option<DateTime<Utc>>,
}

pub async fn term(db: impl PgExecutor<'_>, id: &str) -> anyhow::Result<Option<Term>> {
    sqlx::query_as!(
        Term,
        r#"SELECT account_id, pricing_type, snowball_type, start_date, end_date, days_left,
                  lapses AS "lapses!", missing_since
             FROM snowball.long_term_pricing_terms WHERE long_term_pricing_id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .context("looking the long-term pricing term up")
}

/// One row of a term's history.
pub struct Change {
    pub observed_at: DateTime<Utc>,
    pub sync_run_id: i64,
    pub status: Option<String>,
    pub auto_renew: Option<bool>,
    pub end_date: Option<DateTime<Utc>>,
    pub current_active_job: Option<String>,
    pub replacement_job: Option<String>,
    pub job_ids: Option<Vec<String>>,
    pub row_hash: Vec<u8>,
}

pub async fn changes(db: impl PgExecutor<'_>, id: &str) -> anyhow::Result<Vec<Change>> {
    sqlx::query_as!(
        Change,
        "SELECT observed_at, sync_run_id, status, auto_renew, end_date, current_active_job,
                replacement_job, job_ids, row_hash
           FROM snowball.long_term_pricing_history
          WHERE long_term_pricing_id = $1 ORDER BY id",
        id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the history of {id}"))
}

/// When each term ends, for the metrics file.
pub struct TermEnd {
    pub long_term_pricing_id: String,
    pub account_id: Option<String>,
    pub auto_renew: Option<bool>,
    pub end_date: DateTime<Utc>,
}

pub async fn ends(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<TermEnd>> {
    sqlx::query_as!(
        TermEnd,
        r#"SELECT long_term_pricing_id, account_id, auto_renew, end_date AS "end_date!"
             FROM snowball.long_term_pricing
            WHERE end_date IS NOT NULL
            ORDER BY long_term_pricing_id"#
    )
    .fetch_all(db)
    .await
    .context("reading when the long-term pricing terms end")
}

/// A term as the report lists it.
pub struct Ending {
    pub long_term_pricing_id: String,
    pub account_id: Option<String>,
    pub pricing_type: Option<String>,
    pub snowball_type: Option<String>,
    pub status: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: DateTime<Utc>,
    pub days_left: i32,
    pub auto_renew: Option<bool>,
    pub lapses: bool,
    pub current_active_job: Option<String>,
    pub replacement_job: Option<String>,
}

/// The terms of these accounts (`accounts` empty: all) ending after `from`
/// and by `until`, lapsing ones (no auto-renew) first, then soonest first;
/// days are counted from `from`, the report's moment. Now (`at` None), or
/// as the history stood at `at`: each term's status, auto-renew, end date
/// and jobs from its latest history row then (pricing type, device type and
/// start date have no history: today's); terms not yet seen then are left
/// out.
pub async fn ending(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    accounts: &[String],
) -> anyhow::Result<Vec<Ending>> {
    sqlx::query_as!(
        Ending,
        r#"SELECT long_term_pricing_id AS "long_term_pricing_id!", account_id, pricing_type,
                  snowball_type, status, start_date, end_date AS "end_date!",
                  floor(extract(epoch FROM end_date - $2) / 86400)::integer AS "days_left!",
                  auto_renew, auto_renew IS NOT TRUE AS "lapses!",
                  current_active_job, replacement_job
             FROM (SELECT long_term_pricing_id, account_id, pricing_type, snowball_type, status,
                          start_date, end_date, auto_renew, current_active_job, replacement_job
                     FROM snowball.long_term_pricing
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT t.long_term_pricing_id, t.account_id, t.pricing_type, t.snowball_type,
                          h.status, t.start_date, h.end_date, h.auto_renew, h.current_active_job,
                          h.replacement_job
                     FROM snowball.long_term_pricing t
                     JOIN LATERAL (SELECT h.status, h.end_date, h.auto_renew, h.current_active_job,
                                          h.replacement_job
                                     FROM snowball.long_term_pricing_history h
                                    WHERE h.long_term_pricing_id = t.long_term_pricing_id
                                      AND h.observed_at <= $1
                                    ORDER BY h.id DESC LIMIT 1) h ON true
                    WHERE $1 IS NOT NULL) t
            WHERE end_date > $2 AND end_date <= $3
              AND (cardinality($4::text[]) = 0 OR account_id = ANY($4))
            ORDER BY auto_renew IS NOT TRUE DESC, end_date, long_term_pricing_id"#,
        at,
        from,
        until,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading the long-term pricing terms ending")
}
