//! ListClusters' entries, DescribeCluster's metadata and ListLongTermPricing's
//! entries. TaxDocuments (personal data) is dropped here.

use aws_sdk_snowball::types::{ClusterListEntry, ClusterMetadata, LongTermPricingListEntry};
use serde_json::{Map, Value as Json};

use super::{chained_timestamp, json, text, timestamp};
use crate::estate::{ClusterDescription, ClusterRecord, TermRecord};

/// Never kept: personal data.
const NEVER_KEPT: &[&str] = &["TaxDocuments"];
/// Kept in typed columns, so not again in `metadata`.
const TYPED: &[&str] = &[
    "ClusterId",
    "ClusterState",
    "JobType",
    "SnowballType",
    "CreationDate",
    "Description",
];

impl ClusterRecord {
    /// Converts one entry; None (logged) without ClusterId or ClusterState.
    pub fn from_entry(entry: &ClusterListEntry, region: &str) -> Option<ClusterRecord> {
        let Some(cluster_id) = entry.cluster_id().map(|id| text(id, "ClusterId", "?")) else {
            tracing::warn!(region, "skipping a ListClusters entry without ClusterId");
            return None;
        };
        let Some(cluster_state) = entry
            .cluster_state()
            .map(|s| text(s.as_str(), "ClusterState", &cluster_id))
        else {
            tracing::warn!(
                region,
                cluster_id,
                "skipping a ListClusters entry without ClusterState"
            );
            return None;
        };
        Some(ClusterRecord {
            creation_date: entry
                .creation_date()
                .and_then(|d| timestamp(*d, "CreationDate", &cluster_id)),
            description: entry
                .description()
                .map(|d| text(d, "Description", &cluster_id)),
            described: None,
            cluster_id,
            cluster_state,
        })
    }
}

impl ClusterDescription {
    /// Converts DescribeCluster's ClusterMetadata; `raw` is the same
    /// metadata as the service sent it, when it could be read.
    pub fn from_metadata(metadata: &ClusterMetadata, raw: Option<&Json>) -> ClusterDescription {
        let id = metadata.cluster_id().unwrap_or("?");
        let mut fields = match raw {
            Some(Json::Object(fields)) => fields.clone(),
            _ => Map::new(),
        };
        for key in NEVER_KEPT.iter().chain(TYPED) {
            fields.remove(*key);
        }
        ClusterDescription {
            job_type: metadata.job_type().map(|t| text(t.as_str(), "JobType", id)),
            snowball_type: metadata
                .snowball_type()
                .map(|t| text(t.as_str(), "SnowballType", id)),
            metadata: json(Json::Object(fields), "ClusterMetadata", id),
        }
    }
}

impl TermRecord {
    /// Converts one entry; None (logged) without LongTermPricingId.
    pub fn from_entry(entry: &LongTermPricingListEntry, region: &str) -> Option<TermRecord> {
        let Some(id) = entry
            .long_term_pricing_id()
            .map(|id| text(id, "LongTermPricingId", "?"))
        else {
            tracing::warn!(
                region,
                "skipping a ListLongTermPricing entry without LongTermPricingId"
            );
            return None;
        };
        let field = |value: Option<&str>, name: &str| value.map(|v| text(v, name, &id));
        Some(TermRecord {
            pricing_type: field(
                entry.long_term_pricing_type().map(|t| t.as_str()),
                "LongTermPricingType",
            ),
            start_date: entry
                .long_term_pricing_start_date()
                .and_then(|d| timestamp(*d, "LongTermPricingStartDate", &id)),
            end_date: entry
                .long_term_pricing_end_date()
                .and_then(|d| chained_timestamp(*d, "LongTermPricingEndDate", &id)),
            auto_renew: entry.is_long_term_pricing_auto_renew(),
            status: field(entry.long_term_pricing_status(), "LongTermPricingStatus"),
            snowball_type: field(entry.snowball_type().map(|t| t.as_str()), "SnowballType"),
            current_active_job: field(entry.current_active_job(), "CurrentActiveJob"),
            replacement_job: field(entry.replacement_job(), "ReplacementJob"),
            job_ids: entry
                .job_ids()
                .iter()
                .map(|j| text(j, "JobIds", &id))
                .collect(),
            long_term_pricing_id: id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_documents_never_reach_the_cluster_record() {
        let metadata = ClusterMetadata::builder()
            .cluster_id("CID1")
            .job_type(aws_sdk_snowball::types::JobType::LocalUse)
            .build();
        let raw = serde_json::json!({
            "ClusterId": "CID1", "JobType": "LOCAL_USE", "AddressId": "ADID1",
            "TaxDocuments": {"IND": {"GSTIN": "secret"}},
        });
        let described = ClusterDescription::from_metadata(&metadata, Some(&raw));
        assert_eq!(
            described.metadata,
            serde_json::json!({"AddressId": "ADID1"})
        );
        assert_eq!(described.job_type.as_deref(), Some("LOCAL_USE"));
        assert!(!format!("{described:?}").contains("secret"));
    }
}
