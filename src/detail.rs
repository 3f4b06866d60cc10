//! The project's own job-detail record: what DescribeJob tells of a job's
//! shipments and data transfer, typed, and the rest of its JobMetadata as
//! the service sent it (without what `aws::convert` drops).

use serde_json::Value as Json;

/// The fields a detail history row compares: a row is written when any differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub shipping_option: Option<String>,
    pub outbound_status: Option<String>,
    pub outbound_tracking_number: Option<String>,
    pub inbound_status: Option<String>,
    pub inbound_tracking_number: Option<String>,
    pub bytes_transferred: Option<i64>,
    pub objects_transferred: Option<i64>,
    pub total_bytes: Option<i64>,
    pub total_objects: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetailRecord {
    pub job_id: String,
    pub progress: Progress,
    pub snowball_capacity_preference: Option<String>,
    pub cluster_id: Option<String>,
    pub address_id: Option<String>,
    pub kms_key_arn: Option<String>,
    pub role_arn: Option<String>,
    pub long_term_pricing_id: Option<String>,
    pub snowball_id: Option<String>,
    pub impact_level: Option<String>,
    pub s3_bucket_arns: Vec<String>,
    /// The rest of the JobMetadata, wire field names, as a JSON object.
    pub metadata: Json,
}
