//! The project's own records of the estate beyond jobs: a cluster
//! (ListClusters' entry, and DescribeCluster's metadata when it was
//! described) and a long-term pricing term (ListLongTermPricing's entry).
//! `aws::convert` makes them from the SDK's types.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

/// One ListClusters entry, with its description when this run made one.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRecord {
    pub cluster_id: String,
    pub cluster_state: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub described: Option<ClusterDescription>,
}

/// What DescribeCluster adds to a listed cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDescription {
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    /// The rest of ClusterMetadata, wire field names, TaxDocuments removed.
    pub metadata: Json,
}

impl ClusterRecord {
    pub fn is_final(&self) -> bool {
        crate::state::State::new(&self.cluster_state).is_final()
    }
}

/// One ListLongTermPricing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermRecord {
    pub long_term_pricing_id: String,
    pub pricing_type: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub auto_renew: Option<bool>,
    pub status: Option<String>,
    pub snowball_type: Option<String>,
    pub current_active_job: Option<String>,
    pub replacement_job: Option<String>,
    pub job_ids: Vec<String>,
}
