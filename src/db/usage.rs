//! snowball.device_usage_history (append-only, chained per account and
//! region): GetSnowballUsage's figures, a row only when they change.

use anyhow::Context;
use sqlx::PgExecutor;

/// What GetSnowballUsage said for one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub account_id: String,
    pub region: String,
    pub snowball_limit: Option<i64>,
    pub snowballs_in_use: Option<i64>,
}

/// Writes a row for each observation whose figures differ from its account
/// and region's last row, or that has none; each chained to that last row.
/// The observations name each account and region once. Returns the rows
/// written.
pub async fn record(
    db: impl PgExecutor<'_>,
    run_id: i64,
    observations: &[Observation],
) -> anyhow::Result<u64> {
    let accounts: Vec<&str> = observations.iter().map(|o| o.account_id.as_str()).collect();
    let regions: Vec<&str> = observations.iter().map(|o| o.region.as_str()).collect();
    let limits: Vec<Option<i64>> = observations.iter().map(|o| o.snowball_limit).collect();
    let in_use: Vec<Option<i64>> = observations.iter().map(|o| o.snowballs_in_use).collect();
    let done = sqlx::query!(
        r#"
        WITH o AS (
            SELECT *
              FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[])
                   AS o (account_id, region, snowball_limit, snowballs_in_use)
        ),
        changed AS (
            SELECT o.*, last.row_hash AS prev_hash
              FROM o
              -- The account and region's last row, by (account_id, region, id).
              LEFT JOIN LATERAL (
                    SELECT h.row_hash, h.snowball_limit, h.snowballs_in_use
                      FROM snowball.device_usage_history h
                     WHERE h.account_id = o.account_id AND h.region = o.region
                     ORDER BY h.id DESC
                     LIMIT 1
                   ) last ON true
             WHERE last.row_hash IS NULL
                OR (last.snowball_limit, last.snowballs_in_use)
                   IS DISTINCT FROM (o.snowball_limit, o.snowballs_in_use)
        )
        INSERT INTO snowball.device_usage_history
               (account_id, region, observed_at, sync_run_id, snowball_limit, snowballs_in_use,
                prev_hash, row_hash)
        SELECT account_id, region, now(), $1, snowball_limit, snowballs_in_use, prev_hash,
               snowball.device_usage_row_hash(
                   (SELECT snowball.chain_prefix('snowball.device_usage_history', $1, now())),
                   account_id, region, snowball_limit, snowballs_in_use, prev_hash)
          FROM changed
         ORDER BY account_id, region
        "#,
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
        &limits as &[Option<i64>],
        &in_use as &[Option<i64>],
    )
    .execute(db)
    .await
    .context("recording device usage")?;
    Ok(done.rows_affected())
}

/// The latest figures per account and region (the device_usage view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub account_id: String,
    pub region: String,
    pub snowball_limit: Option<i64>,
    pub snowballs_in_use: Option<i64>,
    pub headroom: Option<i64>,
}

/// The latest figures per account and region: now (the device_usage view),
/// or the last observed at or before `at`.
pub async fn latest(
    db: impl PgExecutor<'_>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    accounts: &[String],
) -> anyhow::Result<Vec<Usage>> {
    sqlx::query_as!(
        Usage,
        r#"SELECT account_id AS "account_id!", region AS "region!", snowball_limit,
                  snowballs_in_use, headroom
             FROM (SELECT account_id, region, snowball_limit, snowballs_in_use, headroom
                     FROM snowball.device_usage
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT * FROM (SELECT DISTINCT ON (account_id, region)
                                         account_id, region, snowball_limit, snowballs_in_use,
                                         snowball_limit - snowballs_in_use AS headroom
                                    FROM snowball.device_usage_history
                                   WHERE observed_at <= $1
                                   ORDER BY account_id, region, id DESC) h
                    WHERE $1 IS NOT NULL) u
            WHERE cardinality($2::text[]) = 0 OR account_id = ANY($2)
            ORDER BY account_id, region"#,
        at,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading device usage")
}
