//! The hash chain's canonical encoding, as the specification
//! (docs/verifying.md) defines it. The database computes it when it writes (migration
//! 20261201130000_history_chain.sql); this is the independent recomputation
//! `verify` checks it with.

use sha2::{Digest, Sha256};

use crate::db::chain::{
    ClusterRow, DetailRow, ListingLine, PgTime, ReportRow, RunRecord, StateRow, TermRow, TextList,
    UsageRow,
};

/// The hash-chained tables, in the order a run's digest takes their rows.
pub const STATE_TABLE: &str = "snowball.job_state_history";
pub const DETAIL_TABLE: &str = "snowball.job_detail_history";
pub const REPORTS_TABLE: &str = "snowball.job_reports";
pub const USAGE_TABLE: &str = "snowball.device_usage_history";
pub const CLUSTER_TABLE: &str = "snowball.cluster_state_history";
pub const TERM_TABLE: &str = "snowball.long_term_pricing_history";
pub const RUNS_TABLE: &str = "snowball.sync_runs";

/// A SHA-256 over fields, each NULL-distinct and length-prefixed.
#[derive(Default)]
pub struct Encoder(Sha256);

impl Encoder {
    /// Starts a row or run: its table's name is its first field.
    pub fn new(table: &str) -> Encoder {
        let mut encoder = Encoder::default();
        encoder.text(Some(table));
        encoder
    }

    /// NULL is 0x00; a value is 0x01, its length as 4 bytes big-endian,
    /// then its bytes.
    pub fn bytes(&mut self, value: Option<&[u8]>) -> &mut Self {
        match value {
            None => self.0.update([0u8]),
            Some(bytes) => {
                self.0.update([1u8]);
                // Fields are identifiers, states and hashes: far below 4 GiB.
                self.0
                    .update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
                self.0.update(bytes);
            }
        }
        self
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.bytes(value.map(str::as_bytes))
    }

    pub fn integer(&mut self, value: Option<i64>) -> &mut Self {
        self.text(value.map(|v| v.to_string()).as_deref())
    }

    /// UTC with microseconds, as PostgreSQL's `to_char(v AT TIME ZONE 'UTC',
    /// 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` writes it (the database computes
    /// the stored hashes with it): `2026-12-01T12:00:00.000000Z`; the year
    /// has at least four digits and no sign or era (`10000-…`; 44 BC is
    /// `0044-…`); `infinity` and `-infinity` encode as NULL.
    pub fn time(&mut self, value: Option<PgTime>) -> &mut Self {
        self.text(value.and_then(timestamp_text).as_deref())
    }

    /// A list of text as PostgreSQL's `chain_field(text[])` encodes it: the
    /// elements in storage order (nested arrays flattened), a NULL element
    /// as a NULL field.
    pub fn text_list(&mut self, value: Option<&TextList>) -> &mut Self {
        let inner = value.map(|list| {
            let mut bytes = Vec::new();
            for item in &list.elements {
                match item {
                    None => bytes.push(0u8),
                    Some(item) => {
                        bytes.push(1u8);
                        bytes.extend(u32::try_from(item.len()).unwrap_or(u32::MAX).to_be_bytes());
                        bytes.extend(item.as_bytes());
                    }
                }
            }
            bytes
        });
        self.bytes(inner.as_deref())
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, value: Option<bool>) -> &mut Self {
        self.text(value.map(|v| if v { "true" } else { "false" }))
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Microseconds in a day.
const DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// A stored timestamp as the encoding writes it; None for ±infinity.
pub fn timestamp_text(t: PgTime) -> Option<String> {
    if t.0 == i64::MAX || t.0 == i64::MIN {
        return None;
    }
    let (days, micros) = (t.0.div_euclid(DAY), t.0.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days + PG_EPOCH_DAYS);
    // to_char's YYYY has no era: year 0 is 1 BC, -43 is 44 BC.
    let year = if year <= 0 { 1 - year } else { year };
    let seconds = micros / 1_000_000;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        micros % 1_000_000
    ))
}

/// The proleptic Gregorian date of a day counted from 1970-01-01, the year
/// astronomical (0 is 1 BC); H. Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Why a stored timestamp is a problem even when its hash matches: the
/// encoding cannot tell it from another value, and no release writes it.
pub fn odd_time(column: &str, t: Option<PgTime>) -> Option<String> {
    let t = t?;
    if t.0 == i64::MAX || t.0 == i64::MIN {
        return Some(format!(
            "{column} is {}infinity, which the encoding cannot tell from NULL",
            if t.0 == i64::MIN { "-" } else { "" }
        ));
    }
    let (year, _, _) = civil_from_days(t.0.div_euclid(DAY) + PG_EPOCH_DAYS);
    (year <= 0).then(|| {
        format!(
            "{column} is in year {} BC, which the encoding cannot tell from year {} AD",
            1 - year,
            1 - year
        )
    })
}

/// Why a stored list is a problem even when its hash matches: nested
/// arrays flatten, and no release writes NULL elements.
pub fn odd_list(column: &str, list: Option<&TextList>) -> Option<String> {
    let list = list?;
    if list.dimensions > 1 {
        return Some(format!(
            "{column} has {} dimensions, which the encoding flattens",
            list.dimensions
        ));
    }
    list.elements
        .iter()
        .position(Option::is_none)
        .map(|i| format!("{column} has a NULL element (element {})", i + 1))
}

/// A job_state_history row's hash, recomputed from its stored values.
pub fn state_row_hash(r: &StateRow) -> [u8; 32] {
    let mut e = Encoder::new(STATE_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.observed_at))
        .text(Some(&r.job_id))
        .text(r.from_state.as_deref())
        .text(Some(&r.to_state))
        .time(r.from_state_last_seen_at)
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// A job_detail_history row's hash, recomputed from its stored values.
pub fn detail_row_hash(r: &DetailRow) -> [u8; 32] {
    let mut e = Encoder::new(DETAIL_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.observed_at))
        .text(Some(&r.job_id))
        .text(r.shipping_option.as_deref())
        .text(r.outbound_status.as_deref())
        .text(r.outbound_tracking_number.as_deref())
        .text(r.inbound_status.as_deref())
        .text(r.inbound_tracking_number.as_deref())
        .integer(r.bytes_transferred)
        .integer(r.objects_transferred)
        .integer(r.total_bytes)
        .integer(r.total_objects)
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// A job_reports row's hash, recomputed from its stored values; `stored`
/// is encoded as the text `true` or `false`.
pub fn report_row_hash(r: &ReportRow) -> [u8; 32] {
    let mut e = Encoder::new(REPORTS_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.fetched_at))
        .text(Some(&r.job_id))
        .text(Some(&r.kind))
        .integer(Some(r.bytes))
        .bytes(Some(&r.sha256))
        .text(r.content_type.as_deref())
        .boolean(Some(r.stored))
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// A device_usage_history row's hash, recomputed from its stored values.
pub fn usage_row_hash(r: &UsageRow) -> [u8; 32] {
    let mut e = Encoder::new(USAGE_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.observed_at))
        .text(Some(&r.account_id))
        .text(Some(&r.region))
        .integer(r.snowball_limit)
        .integer(r.snowballs_in_use)
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// A cluster_state_history row's hash, recomputed from its stored values.
pub fn cluster_row_hash(r: &ClusterRow) -> [u8; 32] {
    let mut e = Encoder::new(CLUSTER_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.observed_at))
        .text(Some(&r.cluster_id))
        .text(r.from_state.as_deref())
        .text(Some(&r.to_state))
        .time(r.from_state_last_seen_at)
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// A long_term_pricing_history row's hash, recomputed from its stored values.
pub fn term_row_hash(r: &TermRow) -> [u8; 32] {
    let mut e = Encoder::new(TERM_TABLE);
    e.integer(Some(r.sync_run_id))
        .time(Some(r.observed_at))
        .text(Some(&r.long_term_pricing_id))
        .text(r.status.as_deref())
        .boolean(r.auto_renew)
        .time(r.end_date)
        .text(r.current_active_job.as_deref())
        .text(r.replacement_job.as_deref())
        .text_list(r.job_ids.as_ref())
        .bytes(r.prev_hash.as_deref());
    e.finish()
}

/// The hash of a run's rows: SHA-256 over the row_hash of every row it
/// wrote, job_state_history's in id order, then job_detail_history's, then
/// job_reports', device_usage_history's, cluster_state_history's and
/// long_term_pricing_history's.
#[derive(Default)]
pub struct RowsHash(Sha256);

impl RowsHash {
    pub fn add(&mut self, row_hash: &[u8]) {
        self.0.update(row_hash);
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A run's digest, from the digest of the run sealed before it.
pub fn run_digest(previous: Option<&[u8]>, run_id: i64, status: &str, rows: &[u8; 32]) -> [u8; 32] {
    let mut e = Encoder::new(RUNS_TABLE);
    e.bytes(previous)
        .integer(Some(run_id))
        .text(Some(status))
        .bytes(Some(rows));
    e.finish()
}

/// A run's digest, version 2: version 1's fields, then the version, the
/// run's own record and its listings hash (`listings_hash`).
pub fn run_digest_v2(
    previous: Option<&[u8]>,
    run: &RunRecord,
    status: &str,
    rows: &[u8; 32],
    listings: &[u8; 32],
) -> [u8; 32] {
    let mut e = Encoder::new(RUNS_TABLE);
    e.bytes(previous)
        .integer(Some(run.id))
        .text(Some(status))
        .bytes(Some(rows))
        .integer(Some(2))
        .time(Some(run.started_at))
        .time(run.finished_at)
        .text_list(Some(&run.regions))
        .text_list(run.accounts.as_ref())
        .integer(Some(run.pages))
        .integer(Some(run.jobs_seen))
        .integer(Some(run.jobs_new))
        .integer(Some(run.jobs_changed))
        .integer(Some(run.transitions))
        .integer(run.jobs_missing)
        .integer(run.jobs_described)
        .integer(run.detail_changes)
        .integer(run.reports_archived)
        .integer(run.report_bytes)
        .integer(run.reports_hashed_only)
        .integer(run.cluster_transitions)
        .integer(run.pricing_changes)
        .text(run.error.as_deref())
        .text(Some(&run.tool_version))
        .text(run.host.as_deref())
        .text(Some(&run.made_by))
        .bytes(Some(listings));
    e.finish()
}

/// A run's listings hash: SHA-256 over each listing's fields, listing after
/// listing, fed in byte order of (kind, account_id, region).
#[derive(Default)]
pub struct ListingsHash(Encoder);

impl ListingsHash {
    pub fn add(&mut self, l: &ListingLine) {
        self.0
            .text(Some(&l.kind))
            .text(Some(&l.account_id))
            .text(Some(&l.region))
            .text(Some(&l.status))
            .integer(Some(l.pages))
            .integer(Some(l.jobs_seen))
            .text(l.error.as_deref())
            .time(Some(l.started_at))
            .time(Some(l.finished_at));
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finish()
    }
}

/// Lowercase hexadecimal, as digests are published.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest as published: 64 hexadecimal digits.
pub fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_the_empty_string_encode_differently() {
        let mut a = Encoder::new("t");
        a.text(None);
        let mut b = Encoder::new("t");
        b.text(Some(""));
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn field_boundaries_are_part_of_the_encoding() {
        let mut a = Encoder::new("t");
        a.text(Some("ab")).text(Some("c"));
        let mut b = Encoder::new("t");
        b.text(Some("a")).text(Some("bc"));
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn timestamps_encode_as_postgresqls_to_char_writes_them_for_every_year() {
        // Each pair checked against PostgreSQL 15's to_char(v AT TIME ZONE
        // 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"').
        let at = |micros: i64| timestamp_text(PgTime(micros));
        assert_eq!(at(0).as_deref(), Some("2000-01-01T00:00:00.000000Z"));
        assert_eq!(at(-1).as_deref(), Some("1999-12-31T23:59:59.999999Z"));
        assert_eq!(
            at(848_666_096_123_456).as_deref(),
            Some("2026-11-22T12:34:56.123456Z")
        );
        // 10000-01-01, 44 BC (0044), 1 BC (0001), 294276-12-31.
        assert_eq!(
            at(252_455_616_000_000_000).as_deref(),
            Some("10000-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            at(-64_464_508_800_000_000).as_deref(),
            Some("0044-03-15T00:00:00.000000Z")
        );
        assert_eq!(
            at(-63_113_904_000_000_000).as_deref(),
            Some("0001-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            at(9_223_371_244_800_000_000).as_deref(),
            Some("294276-12-31T00:00:00.000000Z")
        );
        assert_eq!(at(i64::MAX), None);
        assert_eq!(at(i64::MIN), None);
        assert!(odd_time("end_date", Some(PgTime(i64::MAX))).is_some());
        assert!(odd_time("end_date", Some(PgTime(-63_113_904_000_000_000))).is_some());
        assert_eq!(odd_time("end_date", Some(PgTime(0))), None);
    }

    #[test]
    fn a_digest_reads_back_from_its_hex() {
        let digest = run_digest(None, 7, "succeeded", &RowsHash::default().finish());
        assert_eq!(parse_digest(&hex(&digest)), Some(digest));
        assert_eq!(parse_digest("zz"), None);
        assert_eq!(parse_digest(&"é".repeat(32)), None);
    }
}
