//! Reading the hash chain back for `verify`: every history row in chain
//! order, and every run with the rows it wrote. Each is one streamed query,
//! so the check runs in constant memory whatever the history's size.

use futures_util::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, PgExecutor, Postgres, Type};

/// A `timestamptz` as PostgreSQL stores it: microseconds from 2000-01-01
/// 00:00 UTC, `i64::MAX` and `i64::MIN` for `infinity` and `-infinity`.
/// Read without converting, so no value PostgreSQL holds can fail `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTime(pub i64);

impl Type<Postgres> for PgTime {
    fn type_info() -> PgTypeInfo {
        <chrono::DateTime<chrono::Utc> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for PgTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Ok(PgTime(i64::from_be_bytes(value.as_bytes()?.try_into()?))),
            PgValueFormat::Text => Err("a timestamptz in text format".into()),
        }
    }
}

/// A `text[]` as stored: its elements in storage order (the order `unnest`
/// gives, whatever the dimensions), NULL elements included, and how many
/// dimensions it has. Read from PostgreSQL's binary array format, so no
/// array PostgreSQL holds can fail `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextList {
    pub dimensions: i32,
    pub elements: Vec<Option<String>>,
}

impl Type<Postgres> for TextList {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for TextList {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() != PgValueFormat::Binary {
            return Err("a text[] in text format".into());
        }
        let mut bytes = value.as_bytes()?;
        let mut int = || -> Result<i32, BoxDynError> {
            let (head, rest) = bytes.split_first_chunk::<4>().ok_or("a truncated array")?;
            bytes = rest;
            Ok(i32::from_be_bytes(*head))
        };
        let dimensions = int()?;
        let _has_nulls = int()?;
        let _element_type = int()?;
        let mut count: usize = if dimensions > 0 { 1 } else { 0 };
        for _ in 0..dimensions {
            let length = usize::try_from(int()?)?;
            let _lower_bound = int()?;
            count = count.checked_mul(length).ok_or("an array too large")?;
        }
        let mut elements = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let (head, rest) = bytes.split_first_chunk::<4>().ok_or("a truncated array")?;
            let length = i32::from_be_bytes(*head);
            bytes = rest;
            if length < 0 {
                elements.push(None);
                continue;
            }
            let length = usize::try_from(length)?;
            if bytes.len() < length {
                return Err("a truncated array".into());
            }
            let (element, rest) = bytes.split_at(length);
            elements.push(Some(std::str::from_utf8(element)?.to_owned()));
            bytes = rest;
        }
        Ok(TextList {
            dimensions,
            elements,
        })
    }
}

/// A job_state_history row as stored, hashes included.
#[derive(Debug)]
pub struct StateRow {
    pub id: i64,
    pub job_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub observed_at: PgTime,
    pub from_state_last_seen_at: Option<PgTime>,
    pub sync_run_id: i64,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every job_state_history row, in id order (the primary key's index: the
/// order the rows were written in).
pub fn state_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<StateRow>> {
    sqlx::query_as!(
        StateRow,
        r#"SELECT id, job_id, from_state, to_state, observed_at AS "observed_at: PgTime", from_state_last_seen_at AS "from_state_last_seen_at: PgTime",
                sync_run_id, prev_hash, row_hash
           FROM snowball.job_state_history
          ORDER BY id"#
    )
    .fetch(db)
}

/// A job_detail_history row as stored, hashes included.
#[derive(Debug)]
pub struct DetailRow {
    pub id: i64,
    pub job_id: String,
    pub observed_at: PgTime,
    pub sync_run_id: i64,
    pub shipping_option: Option<String>,
    pub outbound_status: Option<String>,
    pub outbound_tracking_number: Option<String>,
    pub inbound_status: Option<String>,
    pub inbound_tracking_number: Option<String>,
    pub bytes_transferred: Option<i64>,
    pub objects_transferred: Option<i64>,
    pub total_bytes: Option<i64>,
    pub total_objects: Option<i64>,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every job_detail_history row, in id order.
pub fn detail_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<DetailRow>> {
    sqlx::query_as!(
        DetailRow,
        r#"SELECT id, job_id, observed_at AS "observed_at: PgTime", sync_run_id, shipping_option, outbound_status,
                outbound_tracking_number, inbound_status, inbound_tracking_number,
                bytes_transferred, objects_transferred, total_bytes, total_objects,
                prev_hash, row_hash
           FROM snowball.job_detail_history
          ORDER BY id"#
    )
    .fetch(db)
}

/// A job_reports row as stored, hashes included.
#[derive(Debug)]
pub struct ReportRow {
    pub id: i64,
    pub job_id: String,
    pub kind: String,
    pub bytes: i64,
    pub sha256: Vec<u8>,
    pub content_type: Option<String>,
    pub stored: bool,
    pub fetched_at: PgTime,
    pub sync_run_id: i64,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every job_reports row, in id order.
pub fn report_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<ReportRow>> {
    sqlx::query_as!(
        ReportRow,
        r#"SELECT id, job_id, kind, bytes, sha256, content_type, stored, fetched_at AS "fetched_at: PgTime", sync_run_id,
                prev_hash, row_hash
           FROM snowball.job_reports
          ORDER BY id"#
    )
    .fetch(db)
}

/// One chunk of a stored report's content, with its report's row; a report
/// with no chunk comes once, with `seq` and `data` None.
#[derive(Debug)]
pub struct ContentChunk {
    pub report_id: i64,
    pub job_id: String,
    pub bytes: i64,
    pub sha256: Vec<u8>,
    pub stored: bool,
    pub seq: Option<i32>,
    pub data: Option<Vec<u8>>,
}

/// Every report with its content's chunks, by job, kind, then chunk: one
/// chunk (at most 1 MiB) in memory at a time.
pub fn report_contents<'e>(
    db: impl PgExecutor<'e> + 'e,
) -> BoxStream<'e, sqlx::Result<ContentChunk>> {
    sqlx::query_as!(
        ContentChunk,
        r#"SELECT r.id AS report_id, r.job_id, r.bytes, r.sha256, r.stored,
                  c.seq AS "seq?", c.data AS "data?"
             FROM snowball.job_reports r
             LEFT JOIN snowball.job_report_chunks c
                    ON c.job_id = r.job_id AND c.kind = r.kind AND c.stored = r.stored
            ORDER BY r.job_id, r.kind, c.seq"#
    )
    .fetch(db)
}

/// A device_usage_history row as stored, hashes included.
#[derive(Debug)]
pub struct UsageRow {
    pub id: i64,
    pub account_id: String,
    pub region: String,
    pub observed_at: PgTime,
    pub sync_run_id: i64,
    pub snowball_limit: Option<i64>,
    pub snowballs_in_use: Option<i64>,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every device_usage_history row, in id order.
pub fn usage_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<UsageRow>> {
    sqlx::query_as!(
        UsageRow,
        r#"SELECT id, account_id, region, observed_at AS "observed_at: PgTime", sync_run_id, snowball_limit, snowballs_in_use,
                prev_hash, row_hash
           FROM snowball.device_usage_history
          ORDER BY id"#
    )
    .fetch(db)
}

/// A cluster_state_history row as stored, hashes included.
#[derive(Debug)]
pub struct ClusterRow {
    pub id: i64,
    pub cluster_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub observed_at: PgTime,
    pub from_state_last_seen_at: Option<PgTime>,
    pub sync_run_id: i64,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every cluster_state_history row, in id order.
pub fn cluster_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<ClusterRow>> {
    sqlx::query_as!(
        ClusterRow,
        r#"SELECT id, cluster_id, from_state, to_state, observed_at AS "observed_at: PgTime", from_state_last_seen_at AS "from_state_last_seen_at: PgTime",
                sync_run_id, prev_hash, row_hash
           FROM snowball.cluster_state_history
          ORDER BY id"#
    )
    .fetch(db)
}

/// A long_term_pricing_history row as stored, hashes included.
#[derive(Debug)]
pub struct TermRow {
    pub id: i64,
    pub long_term_pricing_id: String,
    pub observed_at: PgTime,
    pub sync_run_id: i64,
    pub status: Option<String>,
    pub auto_renew: Option<bool>,
    pub end_date: Option<PgTime>,
    pub current_active_job: Option<String>,
    pub replacement_job: Option<String>,
    pub job_ids: Option<TextList>,
    pub prev_hash: Option<Vec<u8>>,
    pub row_hash: Vec<u8>,
}

/// Every long_term_pricing_history row, in id order.
pub fn term_rows<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<TermRow>> {
    sqlx::query_as!(
        TermRow,
        r#"SELECT id, long_term_pricing_id, observed_at AS "observed_at: PgTime", sync_run_id, status, auto_renew, end_date AS "end_date: PgTime",
                current_active_job, replacement_job, job_ids AS "job_ids: TextList", prev_hash, row_hash
           FROM snowball.long_term_pricing_history
          ORDER BY id"#
    )
    .fetch(db)
}

/// A run as its digest's check needs it: sync_runs' row and the digest of
/// the run sealed just before it.
#[derive(Debug)]
pub struct RunLine {
    pub sync_run_id: i64,
    pub status: Option<String>,
    pub digest: Option<Vec<u8>>,
    pub digest_seq: Option<i64>,
    /// The digest of the run sealed just before it (digest_seq - 1), and
    /// whether such a run exists.
    pub previous_digest: Option<Vec<u8>>,
    pub previous_exists: bool,
    /// The digest's version (None: 1; 2 also covers the run's record and
    /// listings).
    pub digest_version: Option<i16>,
}

/// Every run, by id. (Its rows hash is fed from the tables' walks.)
pub fn run_lines<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<RunLine>> {
    sqlx::query_as!(
        RunLine,
        r#"SELECT r.id AS sync_run_id, r.status AS "status?", r.digest, r.digest_seq,
                  p.digest AS previous_digest, p.id IS NOT NULL AS "previous_exists!",
                  r.digest_version
             FROM snowball.sync_runs r
             LEFT JOIN snowball.sync_runs p ON p.digest_seq = r.digest_seq - 1
            ORDER BY r.id"#
    )
    .fetch(db)
}

/// A run's own record, as digest version 2 covers it.
#[derive(Debug)]
pub struct RunRecord {
    pub id: i64,
    pub started_at: PgTime,
    pub finished_at: Option<PgTime>,
    pub regions: TextList,
    pub accounts: Option<TextList>,
    pub pages: i64,
    pub jobs_seen: i64,
    pub jobs_new: i64,
    pub jobs_changed: i64,
    pub transitions: i64,
    pub jobs_missing: Option<i64>,
    pub jobs_described: Option<i64>,
    pub detail_changes: Option<i64>,
    pub reports_archived: Option<i64>,
    pub report_bytes: Option<i64>,
    pub reports_hashed_only: Option<i64>,
    pub cluster_transitions: Option<i64>,
    pub pricing_changes: Option<i64>,
    pub error: Option<String>,
    pub tool_version: String,
    pub host: Option<String>,
    pub made_by: String,
}

/// The record of every run sealed with digest version 2, by id.
pub fn run_records<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<RunRecord>> {
    sqlx::query_as!(
        RunRecord,
        r#"SELECT id, started_at AS "started_at: PgTime", finished_at AS "finished_at: PgTime",
                  regions AS "regions: TextList", accounts AS "accounts: TextList",
                  pages::bigint AS "pages!", jobs_seen::bigint AS "jobs_seen!",
                  jobs_new::bigint AS "jobs_new!", jobs_changed::bigint AS "jobs_changed!",
                  transitions::bigint AS "transitions!", jobs_missing::bigint AS jobs_missing,
                  jobs_described::bigint AS jobs_described, detail_changes::bigint AS detail_changes,
                  reports_archived::bigint AS reports_archived, report_bytes,
                  reports_hashed_only::bigint AS reports_hashed_only,
                  cluster_transitions::bigint AS cluster_transitions,
                  pricing_changes::bigint AS pricing_changes, error, tool_version, host, made_by
             FROM snowball.sync_runs
            WHERE digest_version = 2
            ORDER BY id"#
    )
    .fetch(db)
}

/// One listing of a run sealed with digest version 2.
#[derive(Debug)]
pub struct ListingLine {
    pub run_id: i64,
    pub kind: String,
    pub account_id: String,
    pub region: String,
    pub status: String,
    pub pages: i64,
    pub jobs_seen: i64,
    pub error: Option<String>,
    pub started_at: PgTime,
    pub finished_at: PgTime,
}

/// The listings of every run sealed with digest version 2, by run, then in
/// byte order of (kind, account_id, region).
pub fn listing_lines<'e>(db: impl PgExecutor<'e> + 'e) -> BoxStream<'e, sqlx::Result<ListingLine>> {
    sqlx::query_as!(
        ListingLine,
        r#"SELECT l.run_id, l.kind, l.account_id, l.region, l.status, l.pages::bigint AS "pages!",
                  l.jobs_seen::bigint AS "jobs_seen!", l.error,
                  l.started_at AS "started_at: PgTime", l.finished_at AS "finished_at: PgTime"
             FROM snowball.sync_run_listings l
             JOIN snowball.sync_runs r ON r.id = l.run_id AND r.digest_version = 2
            ORDER BY l.run_id, l.kind COLLATE "C", l.account_id COLLATE "C", l.region COLLATE "C""#
    )
    .fetch(db)
}
