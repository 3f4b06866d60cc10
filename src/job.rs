//! The project's own job record, and its one conversion from the SDK's
//! `JobListEntry`. Enum-like fields keep the wire string (`as_str()`), so a
//! value this SDK does not know is stored exactly as the service sent it.

use aws_sdk_snowball::types::JobListEntry;
use chrono::{DateTime, Datelike, Utc};

/// PostgreSQL's timestamptz begins in 4713 BC; chrono's range ends before
/// PostgreSQL's does, so only the lower bound needs a check.
const PG_MIN_YEAR: i32 = -4712;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: String,
    pub job_state: String,
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    pub is_master: Option<bool>,
    pub creation_date: Option<DateTime<Utc>>,
    pub description: Option<String>,
}

impl JobRecord {
    /// Converts one entry. An entry without JobId or JobState cannot be
    /// stored; it is logged and skipped (`None`), and the run goes on.
    pub fn from_entry(entry: JobListEntry, region: &str) -> Option<JobRecord> {
        let Some(job_id) = entry.job_id.as_deref().map(|id| text(id, "JobId", "?")) else {
            tracing::warn!(region, ?entry, "skipping a ListJobs entry without JobId");
            return None;
        };
        let Some(job_state) = entry
            .job_state
            .as_ref()
            .map(|s| text(s.as_str(), "JobState", &job_id))
        else {
            tracing::warn!(region, job_id, "skipping a ListJobs entry without JobState");
            return None;
        };
        let creation_date = entry
            .creation_date
            .and_then(|date| timestamp(date, "CreationDate", &job_id));
        Some(JobRecord {
            job_type: entry
                .job_type
                .as_ref()
                .map(|t| text(t.as_str(), "JobType", &job_id)),
            snowball_type: entry
                .snowball_type
                .as_ref()
                .map(|t| text(t.as_str(), "SnowballType", &job_id)),
            is_master: Some(entry.is_master),
            creation_date,
            description: entry
                .description
                .as_deref()
                .map(|d| text(d, "Description", &job_id)),
            job_id,
            job_state,
        })
    }
}

/// A timestamp PostgreSQL can hold, or None (logged) for one it cannot.
/// `id` names the job, cluster or term it belongs to.
pub(crate) fn timestamp(
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
pub(crate) fn chained_timestamp(
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
pub(crate) fn text(value: &str, field: &str, job_id: &str) -> String {
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
pub(crate) fn json(value: serde_json::Value, field: &str, id: &str) -> serde_json::Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_snowball::types::{JobState, JobType, SnowballType};

    #[test]
    fn wire_strings_are_kept_not_rust_variant_names() {
        let entry = JobListEntry::builder()
            .job_id("JID1")
            .job_state(JobState::InTransitToAws)
            .job_type(JobType::from("MOON_BASE"))
            .snowball_type(SnowballType::V35S)
            .build();
        let record = JobRecord::from_entry(entry, "us-east-1").expect("a complete entry");
        assert_eq!(record.job_state, "InTransitToAWS");
        assert_eq!(record.job_type.as_deref(), Some("MOON_BASE"));
        assert_eq!(record.snowball_type.as_deref(), Some("V3_5S"));
    }

    #[test]
    fn nul_bytes_are_removed() {
        let entry = JobListEntry::builder()
            .job_id("JID1")
            .job_state(JobState::New)
            .description("a\0b")
            .build();
        let record = JobRecord::from_entry(entry, "us-east-1").expect("a complete entry");
        assert_eq!(record.description.as_deref(), Some("ab"));
    }

    #[test]
    fn creation_dates_postgresql_cannot_hold_become_null() {
        use aws_sdk_snowball::primitives::DateTime as SdkDateTime;
        for (secs, stored) in [
            (0, true),
            (253_402_300_799, true),
            (-300_000_000_000, false),
            (10_000_000_000_000, false),
        ] {
            let entry = JobListEntry::builder()
                .job_id("JID1")
                .job_state(JobState::New)
                .creation_date(SdkDateTime::from_secs(secs))
                .build();
            let record = JobRecord::from_entry(entry, "r").expect("a complete entry");
            assert_eq!(record.creation_date.is_some(), stored, "{secs}");
        }
    }

    #[test]
    fn entries_without_id_or_state_are_skipped() {
        assert!(
            JobRecord::from_entry(
                JobListEntry::builder().job_state(JobState::New).build(),
                "r"
            )
            .is_none()
        );
        assert!(
            JobRecord::from_entry(JobListEntry::builder().job_id("JID1").build(), "r").is_none()
        );
    }
}
