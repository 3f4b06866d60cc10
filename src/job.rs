//! The project's own job record. Enum-like fields keep the wire string, so a
//! value this build does not know is stored exactly as the service sent it;
//! `aws::convert` makes it from the SDK's `JobListEntry`.

use chrono::{DateTime, Utc};

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
