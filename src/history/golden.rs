//! The histories' output, byte for byte, in every format, for fixed values:
//! scripts and people read these, so a change of renderer must not change
//! a byte. `GOLDEN_WRITE=1 cargo test --lib history` rewrites the files
//! after an intended change.

use chrono::{DateTime, TimeZone, Utc};

use super::History;
use super::estate::{ClusterHistory, TermHistory};
use crate::db;
use crate::db::timeline::{DetailChange, Interval};
use crate::detail::Progress;
use crate::format::TableFormat;

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, second)
        .single()
        .expect("a valid moment")
}

fn stint(
    state: &str,
    entered: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    left: Option<DateTime<Utc>>,
    run: i64,
) -> Interval {
    Interval {
        job_id: "JIDgolden".to_owned(),
        state: state.to_owned(),
        entered_at: entered,
        entered_after: after,
        left_at: left,
        sync_run_id: run,
        row_hash: vec![run as u8; 32],
    }
}

fn stints() -> Vec<Interval> {
    vec![
        stint("New", at(1, 9, 0, 0), None, Some(at(1, 9, 0, 42)), 1),
        stint(
            "PreparingAppliance",
            at(1, 9, 0, 42),
            Some(at(1, 9, 0, 30)),
            Some(at(3, 17, 5, 0)),
            2,
        ),
        // A state the service may add one day, with a control character.
        stint("With\u{1b}Customer", at(3, 17, 5, 0), None, None, 3),
    ]
}

fn job() -> History {
    History {
        job_id: "JIDgolden".to_owned(),
        account_id: Some("012345678901".to_owned()),
        as_of: at(5, 12, 0, 0),
        stints: stints(),
        details: vec![
            DetailChange {
                observed_at: at(1, 9, 0, 42),
                sync_run_id: 2,
                progress: Progress {
                    shipping_option: Some("SECOND_DAY".to_owned()),
                    outbound_status: None,
                    outbound_tracking_number: None,
                    inbound_status: None,
                    inbound_tracking_number: None,
                    bytes_transferred: None,
                    objects_transferred: None,
                    total_bytes: None,
                    total_objects: None,
                },
                row_hash: vec![0xab; 32],
            },
            DetailChange {
                observed_at: at(3, 17, 5, 0),
                sync_run_id: 3,
                progress: Progress {
                    shipping_option: Some("SECOND_DAY".to_owned()),
                    outbound_status: Some("delivered".to_owned()),
                    // A formula to a spreadsheet, if written as it is.
                    outbound_tracking_number: Some("=1+1".to_owned()),
                    inbound_status: None,
                    inbound_tracking_number: None,
                    bytes_transferred: Some(1_500_000_000),
                    objects_transferred: Some(12),
                    total_bytes: Some(6_000_000_000),
                    total_objects: None,
                },
                row_hash: vec![0xcd; 32],
            },
        ],
    }
}

fn cluster() -> ClusterHistory {
    ClusterHistory {
        cluster_id: "CIDgolden".to_owned(),
        cluster: db::clusters::Cluster {
            account_id: None,
            cluster_state: "InUse".to_owned(),
            members: vec![
                db::clusters::Member {
                    job_id: "JIDmember1".to_owned(),
                    job_state: "WithCustomer".to_owned(),
                    state_since: at(2, 8, 0, 0),
                },
                db::clusters::Member {
                    job_id: "JIDmember2".to_owned(),
                    job_state: "InTransitToCustomer".to_owned(),
                    state_since: at(2, 8, 30, 0),
                },
            ],
        },
        as_of: at(5, 12, 0, 0),
        stints: stints().into_iter().take(2).collect(),
    }
}

fn term() -> TermHistory {
    TermHistory {
        id: "LTPIDgolden".to_owned(),
        term: db::pricing::Term {
            account_id: Some("012345678901".to_owned()),
            pricing_type: Some("OneYear".to_owned()),
            snowball_type: Some("EDGE".to_owned()),
            start_date: Some(at(1, 0, 0, 0)),
            end_date: Some(at(30, 0, 0, 0)),
            days_left: Some(24),
            lapses: true,
            missing_since: None,
        },
        as_of: at(5, 12, 0, 0),
        changes: vec![
            db::pricing::Change {
                observed_at: at(1, 9, 0, 0),
                sync_run_id: 1,
                status: Some("Active".to_owned()),
                auto_renew: Some(true),
                end_date: Some(at(30, 0, 0, 0)),
                current_active_job: None,
                replacement_job: None,
                job_ids: None,
                row_hash: vec![1; 32],
            },
            db::pricing::Change {
                observed_at: at(4, 10, 0, 0),
                sync_run_id: 4,
                status: Some("Active".to_owned()),
                auto_renew: Some(false),
                end_date: Some(at(30, 0, 0, 0)),
                current_active_job: Some("JIDgolden".to_owned()),
                replacement_job: Some("@SUM(A1)".to_owned()),
                job_ids: Some(vec!["JIDgolden".to_owned(), "JIDmember1".to_owned()]),
                row_hash: vec![4; 32],
            },
        ],
    }
}

/// Compares `rendered` with the golden file `name`, or writes it.
fn golden(name: &str, rendered: &str) {
    let path = format!("{}/src/history/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        std::fs::write(&path, rendered).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("the golden file");
    assert_eq!(rendered, expected, "{name} differs from {path}");
}

const FORMATS: [(TableFormat, &str); 3] = [
    (TableFormat::Text, "txt"),
    (TableFormat::Json, "json"),
    (TableFormat::Csv, "csv"),
];

#[test]
fn a_jobs_history_renders_byte_for_byte_as_before_in_every_format() {
    for (format, ext) in FORMATS {
        golden(&format!("job.{ext}"), &job().render(format));
    }
}

#[test]
fn a_clusters_history_renders_byte_for_byte_as_before_in_every_format() {
    for (format, ext) in FORMATS {
        golden(&format!("cluster.{ext}"), &cluster().render(format));
    }
}

#[test]
fn a_terms_history_renders_byte_for_byte_as_before_in_every_format() {
    for (format, ext) in FORMATS {
        golden(&format!("term.{ext}"), &term().render(format));
    }
}
