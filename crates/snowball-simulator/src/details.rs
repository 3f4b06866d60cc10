//! DescribeJob's JobMetadata for a simulated job, consistent with its
//! listing and lifecycle: tracking numbers appear as devices ship, shipment
//! statuses move with the state, imports (and export parts) transfer data
//! while InProgress, tick by tick. Everything is derived from the job id, its
//! state and the ticks it has spent there, so it is as deterministic as the
//! fleet. JobLogInfo (added for completed jobs, see reports.rs), PickupDetails
//! and TaxDocuments carry markers a test
//! looks for: they must never be stored, logged or printed.

use serde_json::{Value as Json, json};

use super::fleet::{CANCELLED, JobEntry, lifecycle};

/// In every JobLogInfo URL: pre-signed S3 URLs are credentials.
pub const JOB_LOG_MARKER: &str = "SIMULATED-PRESIGNED-SECRET";
/// In PickupDetails: personal data.
pub const PICKUP_MARKER: &str = "SIMULATED-PICKUP-PERSON";
/// In TaxDocuments: personal data.
pub const TAX_MARKER: &str = "SIMULATED-TAX-ID";

const CAPACITIES: [&str; 6] = ["T80", "T100", "T42", "T14", "T32", "NoPreference"];

fn hash(text: &str) -> u64 {
    super::fnv1a(text.as_bytes())
}

/// How far a job is along its lifecycle: the index of `state` in its path.
fn position(entry: &JobEntry, state: &str) -> Option<usize> {
    let path = lifecycle(
        entry.job_type.as_deref().unwrap_or("IMPORT"),
        entry.is_master,
    );
    path.iter().position(|s| *s == state)
}

fn reached(entry: &JobEntry, state: &str) -> bool {
    match (position(entry, &entry.job_state), position(entry, state)) {
        (Some(now), Some(target)) => now >= target,
        _ => false,
    }
}

/// `metadata` with a NUL byte in the middle of every string value.
pub fn with_nul(metadata: Json) -> Json {
    match metadata {
        Json::String(s) => {
            let middle = s
                .char_indices()
                .nth(s.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            Json::String(format!("{}\0{}", &s[..middle], &s[middle..]))
        }
        Json::Array(items) => Json::Array(items.into_iter().map(with_nul).collect()),
        Json::Object(fields) => {
            Json::Object(fields.into_iter().map(|(k, v)| (k, with_nul(v))).collect())
        }
        other => other,
    }
}

/// A job's JobMetadata in the service's wire field names; timestamps as
/// epoch seconds.
pub fn job_metadata(entry: &JobEntry, ticks_in_state: u64, account: &str) -> Json {
    let h = hash(&entry.job_id);
    let job_type = entry.job_type.as_deref().unwrap_or("IMPORT");
    let mut metadata = json!({
        "JobId": entry.job_id,
        "JobState": entry.job_state,
        "JobType": job_type,
        "SnowballType": entry.snowball_type,
        "Description": entry.description,
        "KmsKeyARN": format!("arn:aws:kms:us-east-1:{account}:key/{:08x}-0000-4000-8000-{:012x}", h >> 32, h & 0xffff_ffff_ffff),
        "RoleARN": format!("arn:aws:iam::{account}:role/snowball-{}", job_type.to_lowercase()),
        "AddressId": format!("ADID{:08x}-0000-4000-8000-000000000000", h >> 32),
        "SnowballCapacityPreference": CAPACITIES[(h % 6) as usize],
        "Notification": {
            "SnsTopicARN": format!("arn:aws:sns:us-east-1:{account}:snowball-jobs"),
            "NotifyAll": true,
        },
        "Resources": {
            "S3Resources": (0..1 + h % 2)
                .map(|i| json!({ "BucketArn": format!("arn:aws:s3:::fleet-data-{}-{i}", h % 1000) }))
                .collect::<Vec<_>>(),
        },
        "PickupDetails": {
            "Name": format!("{PICKUP_MARKER} Pat Doe"),
            "PhoneNumber": "+1-555-0100",
            "Email": "pat.doe@example.com",
            "IdentificationNumber": format!("{PICKUP_MARKER}-ID-4711"),
            "IdentificationIssuingOrg": "DMV",
        },
        "TaxDocuments": { "IND": { "GSTIN": format!("{TAX_MARKER}-22AAAAA0000A1Z5") } },
    });
    if let Some(created) = entry.creation_date {
        metadata["CreationDate"] = json!(created);
    }
    if entry.is_master {
        metadata["ShippingDetails"] = json!({ "ShippingOption": shipping_option(h) });
        return metadata;
    }
    if reached(entry, "PreparingShipment") {
        metadata["SnowballId"] = json!(format!("SID{:012x}", h & 0xffff_ffff_ffff));
    }
    metadata["ShippingDetails"] = shipping(entry, h);
    if let Some(progress) = transfer(entry, ticks_in_state, h) {
        metadata["DataTransferProgress"] = progress;
    }
    metadata
}

fn shipping_option(h: u64) -> &'static str {
    ["SECOND_DAY", "NEXT_DAY", "EXPRESS", "STANDARD"][(h >> 8) as usize % 4]
}

/// Outbound once the device left for the customer, inbound once it left for
/// AWS; each InTransit, then Delivered.
fn shipping(entry: &JobEntry, h: u64) -> Json {
    let mut details = json!({ "ShippingOption": shipping_option(h) });
    let state = entry.job_state.as_str();
    if state == CANCELLED {
        return details;
    }
    if reached(entry, "InTransitToCustomer") {
        details["OutboundShipment"] = json!({
            "Status": if state == "InTransitToCustomer" { "InTransit" } else { "Delivered" },
            "TrackingNumber": format!("1Z{:016X}", h.rotate_left(7)),
        });
    }
    if reached(entry, "InTransitToAWS") {
        details["InboundShipment"] = json!({
            "Status": if state == "InTransitToAWS" { "InTransit" } else { "Delivered" },
            "TrackingNumber": format!("1Z{:016X}", h.rotate_left(23)),
        });
    }
    details
}

/// Data moves while InProgress (imports at AWS after the device is back,
/// export parts before the device ships): totals known, figures rising with
/// each tick there, and complete from then on. Local use moves no data.
fn transfer(entry: &JobEntry, ticks_in_state: u64, h: u64) -> Option<Json> {
    if entry.job_type.as_deref() == Some("LOCAL_USE") || !reached(entry, "InProgress") {
        return None;
    }
    let total_objects = 1_000 + (h % 50_000) as i64;
    let total_bytes = total_objects * (1 << 20) * (1 + (h >> 16) as i64 % 64);
    let fraction = match entry.job_state.as_str() {
        "InProgress" => (ticks_in_state as f64 + 1.0) / (ticks_in_state as f64 + 2.0),
        _ => 1.0,
    };
    Some(json!({
        "BytesTransferred": (total_bytes as f64 * fraction) as i64,
        "ObjectsTransferred": (total_objects as f64 * fraction) as i64,
        "TotalBytes": total_bytes,
        "TotalObjects": total_objects,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(state: &str) -> JobEntry {
        JobEntry {
            job_id: "JID00000000-0000-4000-8000-000000000001".into(),
            job_state: state.into(),
            job_type: Some("IMPORT".into()),
            snowball_type: Some("EDGE".into()),
            is_master: false,
            creation_date: Some(1_767_225_600),
            description: None,
        }
    }

    #[test]
    fn tracking_numbers_appear_as_the_device_ships() {
        let at = |state| job_metadata(&import(state), 0, "012345678900")["ShippingDetails"].clone();
        assert!(at("PreparingShipment").get("OutboundShipment").is_none());
        assert_eq!(
            at("InTransitToCustomer")["OutboundShipment"]["Status"],
            "InTransit"
        );
        assert_eq!(
            at("WithCustomer")["OutboundShipment"]["Status"],
            "Delivered"
        );
        assert!(at("WithCustomer").get("InboundShipment").is_none());
        assert_eq!(
            at("InTransitToAWS")["InboundShipment"]["Status"],
            "InTransit"
        );
        assert_eq!(at("WithAWS")["InboundShipment"]["Status"], "Delivered");
    }

    #[test]
    fn imports_transfer_while_in_progress_and_finish_at_complete() {
        let progress = |state, ticks| {
            job_metadata(&import(state), ticks, "012345678900")["DataTransferProgress"].clone()
        };
        assert_eq!(progress("WithAWS", 0), Json::Null);
        let (first, later) = (progress("InProgress", 0), progress("InProgress", 3));
        assert!(first["BytesTransferred"].as_i64() < later["BytesTransferred"].as_i64());
        let done = progress("Complete", 0);
        assert_eq!(done["BytesTransferred"], done["TotalBytes"]);
        assert_eq!(done["ObjectsTransferred"], done["TotalObjects"]);
    }
}
