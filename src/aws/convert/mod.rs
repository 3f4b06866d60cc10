//! The one conversion of each SDK answer into the project's own records.
//! Enum-like fields keep the wire string (`as_str()`), so a value this SDK
//! does not know is stored exactly as the service sent it. Values PostgreSQL
//! cannot hold (NUL bytes, timestamps out of its range) are made storable
//! here, with a warning naming the record and the field. Secrets and
//! personal data (JobLogInfo, PickupDetails, TaxDocuments) are dropped here,
//! before anything can store, log or print them.

mod detail;
mod estate;
mod job;

pub(crate) use detail::report_links;

use chrono::{DateTime, Datelike, Utc};

/// PostgreSQL's timestamptz begins in 4713 BC; chrono's range ends before
/// PostgreSQL's does, so only the lower bound needs a check.
const PG_MIN_YEAR: i32 = -4712;

/// A timestamp PostgreSQL can hold, or None (logged) for one it cannot.
/// `id` names the job, cluster or term it belongs to.
fn timestamp(
    date: aws_sdk_snowball::primitives::DateTime,
    field: &str,
    id: &str,
) -> Option<DateTime<Utc>> {
    let converted = DateTime::from_timestamp(date.secs(), date.subsec_nanos())
        .filter(|d| d.year() >= PG_MIN_YEAR);
    if converted.is_none() {
        tracing::warn!(id, field, ?date, "timestamp out of range; stored as NULL");
    }
    converted
}

/// A timestamp for a hash-chained column: as `timestamp`, and None (logged)
/// before year 1, which the chain's encoding cannot tell from the same year
/// AD (the history refuses it; see the migration
/// 20261207100000_history_values_the_encoding_tells_apart.sql).
fn chained_timestamp(
    date: aws_sdk_snowball::primitives::DateTime,
    field: &str,
    id: &str,
) -> Option<DateTime<Utc>> {
    let converted = timestamp(date, field, id)?;
    if converted.year() < 1 {
        tracing::warn!(
            id,
            field,
            ?date,
            "timestamp before year 1, which the hash chain cannot tell from its year AD; stored as NULL"
        );
        return None;
    }
    Some(converted)
}

/// PostgreSQL text cannot hold NUL: store the rest of the string, and say so.
fn text(value: &str, field: &str, job_id: &str) -> String {
    if value.contains('\0') {
        tracing::warn!(
            job_id,
            field,
            "removed NUL bytes from a value PostgreSQL cannot store"
        );
        value.replace('\0', "")
    } else {
        value.to_owned()
    }
}

/// A JSON value from the API with every NUL removed from its strings and
/// keys (jsonb cannot hold `\u0000` either), warning once per field that had
/// one, named by its path under `field`.
fn json(value: serde_json::Value, field: &str, id: &str) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Json::String(s) => Json::String(text(&s, field, id)),
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| json(item, &format!("{field}[{i}]"), id))
                .collect(),
        ),
        Json::Object(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(key, item)| {
                    let key = text(&key, field, id);
                    let path = format!("{field}.{key}");
                    (key, json(item, &path, id))
                })
                .collect(),
        ),
        other => other,
    }
}
