//! DescribeJob's JobMetadata: the detail record, and the reports it offers.
//! JobLogInfo (pre-signed URLs: credentials), PickupDetails and TaxDocuments
//! (personal data) never reach the record.

use aws_sdk_snowball::types::JobMetadata;
use serde_json::{Map, Value as Json};

use super::{json, text};
use crate::archive::ReportLink;
use crate::detail::{DetailRecord, Progress};

/// Never kept: credentials and personal data.
const NEVER_KEPT: &[&str] = &["JobLogInfo", "PickupDetails", "TaxDocuments"];
/// Kept in typed columns, so not again in `metadata`.
const TYPED: &[&str] = &[
    "ShippingDetails",
    "DataTransferProgress",
    "SnowballCapacityPreference",
    "ClusterId",
    "AddressId",
    "KmsKeyARN",
    "RoleARN",
    "LongTermPricingId",
    "SnowballId",
    "ImpactLevel",
];

impl DetailRecord {
    /// Converts one JobMetadata; `raw` is the same JobMetadata as the service
    /// sent it (for `metadata`), when it could be read. None without a JobId.
    pub fn from_metadata(metadata: &JobMetadata, raw: Option<&Json>) -> Option<DetailRecord> {
        let job_id = text(metadata.job_id().filter(|id| !id.is_empty())?, "JobId", "");
        let shipping = metadata.shipping_details();
        let outbound = shipping.and_then(|s| s.outbound_shipment());
        let inbound = shipping.and_then(|s| s.inbound_shipment());
        // The SDK reads an absent figure as 0; the raw answer tells them apart.
        let figure =
            |field: &str, typed: fn(&aws_sdk_snowball::types::DataTransfer) -> i64| match raw {
                Some(raw) => raw
                    .get("DataTransferProgress")
                    .and_then(|t| t.get(field))
                    .and_then(Json::as_i64),
                None => metadata.data_transfer_progress().map(typed),
            };
        let text = |value: Option<&str>, field: &str| value.map(|v| text(v, field, &job_id));
        Some(DetailRecord {
            progress: Progress {
                shipping_option: text(
                    shipping
                        .and_then(|s| s.shipping_option())
                        .map(|o| o.as_str()),
                    "ShippingDetails.ShippingOption",
                ),
                outbound_status: text(
                    outbound.and_then(|s| s.status()),
                    "ShippingDetails.OutboundShipment.Status",
                ),
                outbound_tracking_number: text(
                    outbound.and_then(|s| s.tracking_number()),
                    "ShippingDetails.OutboundShipment.TrackingNumber",
                ),
                inbound_status: text(
                    inbound.and_then(|s| s.status()),
                    "ShippingDetails.InboundShipment.Status",
                ),
                inbound_tracking_number: text(
                    inbound.and_then(|s| s.tracking_number()),
                    "ShippingDetails.InboundShipment.TrackingNumber",
                ),
                bytes_transferred: figure("BytesTransferred", |t| t.bytes_transferred()),
                objects_transferred: figure("ObjectsTransferred", |t| t.objects_transferred()),
                total_bytes: figure("TotalBytes", |t| t.total_bytes()),
                total_objects: figure("TotalObjects", |t| t.total_objects()),
            },
            snowball_capacity_preference: text(
                metadata.snowball_capacity_preference().map(|c| c.as_str()),
                "SnowballCapacityPreference",
            ),
            cluster_id: text(metadata.cluster_id(), "ClusterId"),
            address_id: text(metadata.address_id(), "AddressId"),
            kms_key_arn: text(metadata.kms_key_arn(), "KmsKeyARN"),
            role_arn: text(metadata.role_arn(), "RoleARN"),
            long_term_pricing_id: text(metadata.long_term_pricing_id(), "LongTermPricingId"),
            snowball_id: text(metadata.snowball_id(), "SnowballId"),
            impact_level: text(metadata.impact_level().map(|l| l.as_str()), "ImpactLevel"),
            s3_bucket_arns: metadata
                .resources()
                .map(|r| {
                    r.s3_resources()
                        .iter()
                        .filter_map(|s| text(s.bucket_arn(), "Resources.S3Resources.BucketArn"))
                        .collect()
                })
                .unwrap_or_default(),
            metadata: rest(raw, &job_id),
            job_id,
        })
    }
}

/// The JobMetadata fields without a column of their own, never the ones
/// that must not be kept.
fn rest(raw: Option<&Json>, job_id: &str) -> Json {
    let mut fields = match raw {
        Some(Json::Object(fields)) => fields.clone(),
        _ => {
            let mut fields = Map::new();
            fields.insert("JobId".into(), Json::String(job_id.to_owned()));
            fields
        }
    };
    for key in NEVER_KEPT.iter().chain(TYPED) {
        fields.remove(*key);
    }
    json(Json::Object(fields), "JobMetadata", job_id)
}

/// The reports DescribeJob's JobLogInfo names for a job in state Complete;
/// none for any other state (AWS writes them when a job completes).
pub(crate) fn report_links(metadata: &JobMetadata) -> Vec<ReportLink> {
    let (Some(job_id), Some(info)) = (metadata.job_id(), metadata.job_log_info()) else {
        return Vec::new();
    };
    if !metadata
        .job_state()
        .is_some_and(|s| crate::state::State::new(s.as_str()).is_complete())
    {
        return Vec::new();
    }
    [
        ("completion_report", info.job_completion_report_uri()),
        ("success_log", info.job_success_log_uri()),
        ("failure_log", info.job_failure_log_uri()),
    ]
    .into_iter()
    .filter_map(|(kind, url)| {
        let url = url.filter(|u| !u.is_empty())?;
        Some(ReportLink::new(
            job_id.replace('\0', ""),
            kind,
            url.to_owned(),
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_snowball::types::{DataTransfer, JobLogs, Shipment, ShippingDetails};

    #[test]
    fn secrets_and_personal_data_never_reach_the_record() {
        let metadata = JobMetadata::builder()
            .job_id("JID1")
            .job_log_info(
                JobLogs::builder()
                    .job_success_log_uri("https://secret")
                    .build(),
            )
            .shipping_details(
                ShippingDetails::builder()
                    .outbound_shipment(
                        Shipment::builder()
                            .status("InTransit")
                            .tracking_number("1Z9")
                            .build(),
                    )
                    .build(),
            )
            .data_transfer_progress(
                DataTransfer::builder()
                    .bytes_transferred(5)
                    .total_bytes(10)
                    .build(),
            )
            .build();
        let raw = serde_json::json!({
            "JobId": "JID1", "Description": "d", "JobLogInfo": {"JobSuccessLogURI": "https://secret"},
            "PickupDetails": {"Name": "someone"}, "TaxDocuments": {"IND": {"GSTIN": "x"}},
            "ShippingDetails": {}, "Resources": {"S3Resources": []},
            "DataTransferProgress": {"BytesTransferred": 5, "TotalBytes": 10},
        });
        let record = DetailRecord::from_metadata(&metadata, Some(&raw)).expect("a job id");
        assert_eq!(
            record.metadata,
            serde_json::json!({"JobId": "JID1", "Description": "d", "Resources": {"S3Resources": []}})
        );
        assert_eq!(
            record.progress.outbound_tracking_number.as_deref(),
            Some("1Z9")
        );
        assert_eq!(record.progress.bytes_transferred, Some(5));
        assert_eq!(record.progress.objects_transferred, None);
        assert!(!format!("{record:?}").contains("secret"));
    }
}
