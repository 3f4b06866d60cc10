//! snowball.job_reports (one row per job and kind: size, SHA-256, whether
//! kept) and snowball.job_report_chunks (the content, 1 MiB a row), both
//! append-only. A report is written in one transaction: its chunks as they
//! arrive, then its row, chained to the job's previous report row.

use anyhow::Context;
use sqlx::{PgConnection, PgExecutor};

/// Kinds of report the job does not have yet, among `kinds`: neither kept,
/// nor kept only hashed because it is larger than `max_bytes` (one hashed
/// under a lower limit is fetched again to be kept).
pub async fn missing_kinds(
    db: impl PgExecutor<'_>,
    job_id: &str,
    kinds: &[&str],
    max_bytes: i64,
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT k AS "kind!"
             FROM UNNEST($2::text[]) AS k
            WHERE NOT EXISTS (SELECT 1 FROM snowball.job_reports r
                               WHERE r.job_id = $1 AND r.kind = k
                                 AND (r.stored OR r.bytes > $3))"#,
        job_id,
        kinds as &[&str],
        max_bytes,
    )
    .fetch_all(db)
    .await
    .context("reading which reports a job lacks")
}

/// Remembers, for each job just described, which kinds of report
/// DescribeJob offered (none, for most), so later runs know whether it still
/// lacks any without describing it again. `offered[i]` lists job i's kinds.
pub async fn set_offered_kinds(
    db: impl PgExecutor<'_>,
    job_ids: &[&str],
    offered: &[String],
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE snowball.job_details d
            SET report_kinds = string_to_array(o.kinds, ',')
           FROM UNNEST($1::text[], $2::text[]) AS o (job_id, kinds)
          WHERE d.job_id = o.job_id",
        job_ids as &[&str],
        offered,
    )
    .execute(db)
    .await
    .context("recording the reports described jobs have")?;
    Ok(())
}

pub async fn insert_chunk(
    tx: &mut PgConnection,
    job_id: &str,
    kind: &str,
    seq: i32,
    data: &[u8],
) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO snowball.job_report_chunks (job_id, kind, seq, data) VALUES ($1, $2, $3, $4)",
        job_id,
        kind,
        seq,
        data,
    )
    .execute(tx)
    .await
    .with_context(|| format!("storing part {seq} of {job_id}'s {kind}"))?;
    Ok(())
}

/// A fetched report, as its row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<'a> {
    pub job_id: &'a str,
    pub kind: &'a str,
    pub bytes: i64,
    pub sha256: &'a [u8],
    pub content_type: Option<&'a str>,
    pub stored: bool,
}

/// Writes a report's row, chained to the job's last report row (the
/// encoding is migration 20261202100000_job_reports.sql's). Run by the
/// transaction that wrote its chunks, after them.
pub async fn insert_report(
    tx: &mut PgConnection,
    run_id: i64,
    report: &Fetched<'_>,
) -> anyhow::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO snowball.job_reports
               (job_id, kind, bytes, sha256, content_type, stored, fetched_at, sync_run_id,
                prev_hash, row_hash)
        SELECT $1, $2, $3, $4, $5, $6, now(), $7, head.row_hash,
               snowball.job_report_row_hash(
                   snowball.chain_prefix('snowball.job_reports', $7, now()),
                   $1, $2, $3, $4, $5, $6, head.row_hash)
          FROM (SELECT (SELECT r.row_hash FROM snowball.job_reports r
                         WHERE r.job_id = $1 ORDER BY r.id DESC LIMIT 1) AS row_hash) head
        "#,
        report.job_id,
        report.kind,
        report.bytes,
        report.sha256,
        report.content_type,
        report.stored,
        run_id,
    )
    .execute(tx)
    .await
    .with_context(|| format!("recording {}'s {}", report.job_id, report.kind))?;
    Ok(())
}

/// A job's archived report, as its row records it.
#[derive(Debug, Clone)]
pub struct Held {
    pub kind: String,
    pub bytes: i64,
    pub sha256: Vec<u8>,
    pub content_type: Option<String>,
    pub stored: bool,
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    pub sync_run_id: i64,
}

/// A job's archived reports, by kind: the kept one where a kind was first
/// kept only hashed and later kept.
pub async fn held(db: impl PgExecutor<'_>, job_id: &str) -> anyhow::Result<Vec<Held>> {
    sqlx::query_as!(
        Held,
        "SELECT DISTINCT ON (kind) kind, bytes, sha256, content_type, stored, fetched_at, sync_run_id
           FROM snowball.job_reports WHERE job_id = $1 ORDER BY kind, stored DESC, id DESC",
        job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the reports of {job_id}"))
}

/// The kinds DescribeJob last offered for a job; None when no run that
/// archives reports has described it.
pub async fn offered_kinds(
    db: impl PgExecutor<'_>,
    job_id: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    Ok(sqlx::query_scalar!(
        "SELECT report_kinds FROM snowball.job_details WHERE job_id = $1",
        job_id
    )
    .fetch_optional(db)
    .await
    .with_context(|| format!("reading which reports {job_id} has"))?
    .flatten())
}

/// A stored report's content, chunk by chunk, in order: one streamed
/// query, so a file of any size passes through in constant memory.
pub fn chunks<'e>(
    db: impl PgExecutor<'e> + 'e,
    job_id: &'e str,
    kind: &'e str,
) -> futures_util::stream::BoxStream<'e, sqlx::Result<Vec<u8>>> {
    sqlx::query_scalar!(
        "SELECT data FROM snowball.job_report_chunks WHERE job_id = $1 AND kind = $2 ORDER BY seq",
        job_id,
        kind
    )
    .fetch(db)
}
