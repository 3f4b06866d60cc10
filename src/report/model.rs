//! The report as data: each section once, as a title, named columns and rows
//! of the output model's values. Text and JSON write each section as the
//! output model's `Table`; the report's one CSV table of every section and
//! its HTML page are written from the same sections, so no format can forget
//! a column, and a new section is one function.
//!
//! Large because every section's columns live together, beside the CSV that
//! joins them: a section cannot drift from how it is written.

use serde_json::json;

use super::Report;
use crate::output::{Column, Table, Value};
use crate::render::{csv_line, human_duration, seconds, text_time};

/// One section of the report.
pub struct Section {
    /// Its name in JSON and in CSV's `section` column.
    pub key: &'static str,
    /// With --as-of: the section shows today's values, which the history
    /// does not keep; every format says so.
    pub as_today: bool,
    pub title: String,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Value>>,
}

/// The sections whose values have no history: with --as-of, today's.
const WITHOUT_HISTORY: [&str; 4] = [
    "data_transfer",
    "shipments_in_transit",
    "jobs_lacking_reports",
    "sync_health",
];

/// Every section, in the order every format shows them.
pub fn sections(r: &Report) -> Vec<Section> {
    let mut sections = all_sections(r);
    if r.past {
        for section in &mut sections {
            if WITHOUT_HISTORY.contains(&section.key) {
                section.as_today = true;
                section.title += " [as today: not kept in the history]";
            }
        }
    }
    sections
}

fn all_sections(r: &Report) -> Vec<Section> {
    vec![
        Section {
            key: "jobs_by_account",
            as_today: false,
            title: "Jobs by account (account_id empty: not yet listed by an identified run)".into(),
            columns: &["account_id", "jobs", "active", "missing"],
            rows: r
                .jobs_by_account
                .iter()
                .map(|a| {
                    vec![
                        Value::text(&a.account_id),
                        Value::Int(a.jobs),
                        Value::Int(a.active),
                        Value::Int(a.missing),
                    ]
                })
                .collect(),
        },
        Section {
            key: "jobs_by_state",
            as_today: false,
            title: "Jobs by state and type".into(),
            columns: &["job_state", "job_type", "snowball_type", "jobs"],
            rows: r
                .jobs_by_state
                .iter()
                .map(|c| {
                    vec![
                        Value::Text(c.job_state.clone()),
                        Value::text(&c.job_type),
                        Value::text(&c.snowball_type),
                        Value::Int(c.jobs),
                    ]
                })
                .collect(),
        },
        Section {
            key: "transitions",
            as_today: false,
            title: format!(
                "Transitions since {} (from_state empty: first seen)",
                text_time(r.since)
            ),
            columns: &["from_state", "to_state", "count"],
            rows: r
                .transitions
                .iter()
                .map(|t| {
                    vec![
                        Value::text(&t.from_state),
                        Value::Text(t.to_state.clone()),
                        Value::Int(t.count),
                    ]
                })
                .collect(),
        },
        Section {
            key: "stuck_jobs",
            as_today: false,
            title: format!(
                "Stuck jobs: in a non-final state for {} or more",
                human_duration(r.stuck_after.as_secs() as i64)
            ),
            columns: &[
                "job_id",
                "job_state",
                "job_type",
                "snowball_type",
                "region",
                "account_id",
                "state_since",
                "age_seconds",
            ],
            rows: r
                .stuck
                .iter()
                .map(|j| {
                    vec![
                        Value::Text(j.job_id.clone()),
                        Value::Text(j.job_state.clone()),
                        Value::text(&j.job_type),
                        Value::text(&j.snowball_type),
                        Value::Text(j.region.clone()),
                        Value::text(&j.account_id),
                        Value::Time(j.state_since),
                        Value::Seconds(seconds(r.as_of - j.state_since)),
                    ]
                })
                .collect(),
        },
        Section {
            key: "data_transfer",
            as_today: false,
            title: "Data transfer in progress".into(),
            columns: &[
                "job_id",
                "account_id",
                "job_state",
                "bytes_transferred",
                "total_bytes",
                "percent_done",
                "bytes_per_second",
            ],
            rows: r
                .transfers
                .iter()
                .map(|t| {
                    vec![
                        Value::Text(t.job_id.clone()),
                        Value::text(&t.account_id),
                        Value::Text(t.job_state.clone()),
                        Value::opt(t.bytes_transferred, Value::Bytes),
                        Value::opt(t.total_bytes, Value::Bytes),
                        Value::opt(t.percent_done, Value::Percent),
                        Value::opt(t.bytes_per_second, Value::BytesPerSecond),
                    ]
                })
                .collect(),
        },
        Section {
            key: "shipments_in_transit",
            as_today: false,
            title: "Shipments in transit".into(),
            columns: &[
                "job_id",
                "account_id",
                "job_state",
                "status",
                "tracking_number",
            ],
            rows: r
                .in_transit
                .iter()
                .map(|s| {
                    vec![
                        Value::Text(s.job_id.clone()),
                        Value::text(&s.account_id),
                        Value::Text(s.job_state.clone()),
                        Value::text(&s.status),
                        Value::text(&s.tracking_number),
                    ]
                })
                .collect(),
        },
        Section {
            key: "device_deadlines",
            as_today: false,
            title: format!(
                "Devices due back within {} (360 days from preparation; approximate: first seen already prepared)",
                human_duration(r.deadline_within.as_secs() as i64)
            ),
            columns: &[
                "job_id",
                "account_id",
                "job_state",
                "prepared_at",
                "approximate",
                "deadline",
                "days_left",
            ],
            rows: r
                .deadlines
                .iter()
                .map(|d| {
                    vec![
                        Value::Text(d.job_id.clone()),
                        Value::text(&d.account_id),
                        Value::Text(d.job_state.clone()),
                        Value::Time(d.prepared_at),
                        Value::Bool(d.approximate),
                        Value::Time(d.deadline),
                        Value::Int(i64::from(d.days_left)),
                    ]
                })
                .collect(),
        },
        Section {
            key: "jobs_lacking_reports",
            as_today: false,
            title: "Completed jobs lacking their reports (sync --include reports archives them; \"not yet asked\": no such run has described the job)".into(),
            columns: &["job_id", "account_id", "job_type", "completed_at", "missing_reports"],
            rows: r
                .lacking_reports
                .iter()
                .map(|l| {
                    vec![
                        Value::Text(l.job_id.clone()),
                        Value::text(&l.account_id),
                        Value::text(&l.job_type),
                        Value::Time(l.completed_at),
                        Value::Text(match &l.missing {
                            Some(kinds) => kinds.join(" "),
                            None => "not yet asked".to_owned(),
                        }),
                    ]
                })
                .collect(),
        },
        Section {
            key: "device_usage",
            as_today: false,
            title: "Device usage against the limit (sync --include usage; the latest figures)".into(),
            columns: &["account_id", "region", "snowball_limit", "snowballs_in_use", "headroom"],
            rows: r
                .usage
                .iter()
                .map(|u| {
                    vec![
                        Value::Text(u.account_id.clone()),
                        Value::Text(u.region.clone()),
                        Value::opt(u.snowball_limit, Value::Int),
                        Value::opt(u.snowballs_in_use, Value::Int),
                        Value::opt(u.headroom, Value::Int),
                    ]
                })
                .collect(),
        },
        Section {
            key: "clusters",
            as_today: false,
            title: "Clusters by state, with their member jobs' states (sync --include clusters)".into(),
            columns: &[
                "cluster_id",
                "account_id",
                "region",
                "cluster_state",
                "state_since",
                "missing_since",
                "member_jobs",
                "member_states",
            ],
            rows: r
                .clusters
                .iter()
                .map(|c| {
                    vec![
                        Value::Text(c.cluster_id.clone()),
                        Value::text(&c.account_id),
                        Value::Text(c.region.clone()),
                        Value::Text(c.cluster_state.clone()),
                        Value::Time(c.state_since),
                        Value::opt(c.missing_since, Value::Time),
                        Value::Int(c.member_jobs),
                        Value::text(&c.member_states),
                    ]
                })
                .collect(),
        },
        Section {
            key: "terms_ending",
            as_today: false,
            title: format!(
                "Long-term pricing terms ending within {}, lapsing ones (no auto-renew) first (sync --include long-term-pricing)",
                human_duration(r.renewal_within.as_secs() as i64)
            ),
            columns: &[
                "long_term_pricing_id",
                "account_id",
                "pricing_type",
                "snowball_type",
                "status",
                "end_date",
                "days_left",
                "auto_renew",
                "lapses",
                "current_active_job",
                "replacement_job",
            ],
            rows: r
                .terms_ending
                .iter()
                .map(|t| {
                    vec![
                        Value::Text(t.long_term_pricing_id.clone()),
                        Value::text(&t.account_id),
                        Value::text(&t.pricing_type),
                        Value::text(&t.snowball_type),
                        Value::text(&t.status),
                        Value::Time(t.end_date),
                        Value::Int(i64::from(t.days_left)),
                        Value::opt(t.auto_renew, Value::Bool),
                        Value::Bool(t.lapses),
                        Value::text(&t.current_active_job),
                        Value::text(&t.replacement_job),
                    ]
                })
                .collect(),
        },
        Section {
            key: "sync_health",
            as_today: false,
            title: "Sync health by day".into(),
            columns: &[
                "day",
                "runs",
                "succeeded",
                "partial",
                "failed",
                "abandoned",
                "running",
                "mean_duration_seconds",
                "last_success",
            ],
            rows: r
                .health
                .iter()
                .map(|h| {
                    vec![
                        Value::Day(h.day),
                        Value::Int(h.runs),
                        Value::Int(h.succeeded),
                        Value::Int(h.partial),
                        Value::Int(h.failed),
                        Value::Int(h.abandoned),
                        Value::Int(h.running),
                        Value::opt(h.mean_duration_seconds, Value::Seconds),
                        Value::opt(h.last_success, Value::Time),
                    ]
                })
                .collect(),
        },
    ]
}

impl Section {
    /// The section as the output model's table, which text and JSON render.
    pub fn table(&self) -> Table {
        let columns: Vec<Column> = self.columns.iter().map(|c| Column::new(c)).collect();
        Table::new(self.key, &columns, self.rows.clone()).titled(self.title.clone())
    }
}

/// Text: each section's title and an aligned table.
pub fn text(sections: &[Section]) -> String {
    sections.iter().map(|s| s.table().to_text()).collect()
}

/// JSON: each section under its key, an array of objects.
pub fn json(sections: &[Section], object: &mut serde_json::Map<String, serde_json::Value>) {
    let today: Vec<&str> = sections
        .iter()
        .filter(|s| s.as_today)
        .map(|s| s.key)
        .collect();
    object.insert("sections_as_today".to_owned(), json!(today));
    for section in sections {
        object.insert(section.key.to_owned(), section.table().to_json());
    }
}

/// CSV: one table for every section; `section` says which, and the columns
/// are every section's, in order of first appearance.
pub fn csv(sections: &[Section]) -> String {
    let mut columns: Vec<&str> = vec!["section"];
    for column in sections.iter().flat_map(|s| s.columns.iter()) {
        if !columns.contains(column) {
            columns.push(column);
        }
    }
    // With --as-of, a last column says which rows are today's.
    if sections.iter().any(|s| s.as_today) {
        columns.push("as_today");
    }
    let mut out = csv_line(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    for section in sections {
        for row in &section.rows {
            let line: Vec<String> = columns
                .iter()
                .map(|column| match *column {
                    "section" => section.key.to_owned(),
                    "as_today" => section.as_today.to_string(),
                    _ => section
                        .columns
                        .iter()
                        .position(|c| c == column)
                        .and_then(|i| row.get(i))
                        .map(Value::to_csv)
                        .unwrap_or_default(),
                })
                .collect();
            out += &csv_line(&line);
        }
    }
    out
}
