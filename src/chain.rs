//! The hash chain's canonical encoding, as the README's "Verifying the
//! history" defines it. The database computes it when it writes (migration
//! 20261201130000_history_chain.sql); this is the independent recomputation
//! `verify` checks it with.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::chain::{ClusterRow, DetailRow, ReportRow, StateRow, TermRow, UsageRow};

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

    /// UTC with microseconds: 2026-12-01T12:00:00.000000Z.
    pub fn time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        self.text(
            value
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .as_deref(),
        )
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, value: Option<bool>) -> &mut Self {
        self.text(value.map(|v| if v { "true" } else { "false" }))
    }

    /// A list of text: one field holding each element encoded as a field.
    pub fn texts(&mut self, value: Option<&[String]>) -> &mut Self {
        let inner = value.map(|items| {
            let mut bytes = Vec::new();
            for item in items {
                bytes.push(1u8);
                bytes.extend(u32::try_from(item.len()).unwrap_or(u32::MAX).to_be_bytes());
                bytes.extend(item.as_bytes());
            }
            bytes
        });
        self.bytes(inner.as_deref())
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
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
        .texts(r.job_ids.as_deref())
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
    fn a_digest_reads_back_from_its_hex() {
        let digest = run_digest(None, 7, "succeeded", &RowsHash::default().finish());
        assert_eq!(parse_digest(&hex(&digest)), Some(digest));
        assert_eq!(parse_digest("zz"), None);
        assert_eq!(parse_digest(&"é".repeat(32)), None);
    }
}
