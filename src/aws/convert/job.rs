//! ListJobs' entries.

use aws_sdk_snowball::types::JobListEntry;

use super::{text, timestamp};
use crate::job::JobRecord;

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
