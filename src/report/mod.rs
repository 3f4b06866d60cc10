//! What people read: `history` and `report` in text, JSON, CSV and HTML,
//! plus the plain text tables the demo prints. Formats are stable and
//! documented in the README: JSON has RFC 3339 timestamps and snake_case
//! keys; CSV has a header row.

mod html;

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::cli::{ReportFormat, TableFormat};
use crate::config::{HistoryConfig, ReportConfig};
use crate::db;
use crate::db::report::{
    AccountCount, DailyState, Deadline, DetailChange, InTransit, Interval, StateTypeCount,
    StuckJob, SyncHealth, Transfer, TransferPoint, TransitionCount,
};
use crate::detail::Progress;
use crate::error::Error;

/// Jobs shown in the HTML timeline.
const TIMELINE_LANES: i64 = 40;
/// Jobs drawn in the HTML chart of data transferred over time.
const TRANSFER_LANES: i64 = 20;

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn text_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn seconds(duration: chrono::TimeDelta) -> f64 {
    duration
        .num_microseconds()
        .map_or(duration.num_seconds() as f64, |us| us as f64 / 1e6)
}

/// One CSV line: fields quoted when they hold a comma, a quote or a line break.
pub fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// One job's history, as of a moment (the current stint lasts until then).
pub struct History {
    pub job_id: String,
    /// None until an identified run lists the job.
    pub account_id: Option<String>,
    pub as_of: DateTime<Utc>,
    pub stints: Vec<Interval>,
    /// Its shipment and transfer changes (`sync --details`), oldest first.
    pub details: Vec<DetailChange>,
}

/// The detail fields of a change, in order, as (name, value) for JSON and CSV.
fn detail_fields(d: &Progress) -> [(&'static str, serde_json::Value); 9] {
    [
        ("shipping_option", json!(d.shipping_option)),
        ("outbound_status", json!(d.outbound_status)),
        (
            "outbound_tracking_number",
            json!(d.outbound_tracking_number),
        ),
        ("inbound_status", json!(d.inbound_status)),
        ("inbound_tracking_number", json!(d.inbound_tracking_number)),
        ("bytes_transferred", json!(d.bytes_transferred)),
        ("objects_transferred", json!(d.objects_transferred)),
        ("total_bytes", json!(d.total_bytes)),
        ("total_objects", json!(d.total_objects)),
    ]
}

/// A detail change as a person reads it.
fn detail_summary(d: &Progress) -> String {
    let mut parts = Vec::new();
    if let Some(option) = &d.shipping_option {
        parts.push(format!("shipping {option}"));
    }
    for (leg, status, tracking) in [
        ("outbound", &d.outbound_status, &d.outbound_tracking_number),
        ("inbound", &d.inbound_status, &d.inbound_tracking_number),
    ] {
        if status.is_some() || tracking.is_some() {
            parts.push(
                format!(
                    "{leg} {} {}",
                    status.as_deref().unwrap_or("?"),
                    tracking.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            );
        }
    }
    if d.bytes_transferred.is_some() || d.total_bytes.is_some() {
        parts.push(format!(
            "transferred {}{}",
            percent(d.bytes_transferred, d.total_bytes),
            d.objects_transferred
                .map(|o| format!(
                    ", {o} of {} objects",
                    d.total_objects.map_or("?".to_owned(), |t| t.to_string())
                ))
                .unwrap_or_default()
        ));
    }
    parts.join("; ")
}

/// `12.5% (1.2 GB of 9.8 GB)`, or the bytes alone when the total is unknown.
fn percent(bytes: Option<i64>, total: Option<i64>) -> String {
    match (bytes, total) {
        (Some(b), Some(t)) if t > 0 => format!(
            "{:.1}% ({} of {})",
            100.0 * b as f64 / t as f64,
            human_bytes(b),
            human_bytes(t)
        ),
        (Some(b), _) => human_bytes(b),
        (None, Some(t)) => format!("0 of {}", human_bytes(t)),
        (None, None) => String::new(),
    }
}

pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

impl History {
    pub fn render(&self, format: TableFormat) -> String {
        let duration = |s: &Interval| s.left_at.unwrap_or(self.as_of) - s.entered_at;
        match format {
            TableFormat::Text => {
                let rows: Vec<Vec<String>> = self
                    .stints
                    .iter()
                    .map(|s| {
                        vec![
                            s.state.clone(),
                            text_time(s.entered_at),
                            s.entered_after.map(text_time).unwrap_or_default(),
                            s.left_at.map_or_else(|| "(current)".to_owned(), text_time),
                            human_duration(duration(s).num_seconds()),
                            s.sync_run_id.to_string(),
                        ]
                    })
                    .collect();
                let mut text = format!(
                    "{} (account {}, times UTC, as of {})\n{}",
                    self.job_id,
                    self.account_id.as_deref().unwrap_or("unknown"),
                    text_time(self.as_of),
                    text_table(
                        &[
                            "state",
                            "entered",
                            "entered_after",
                            "left",
                            "duration",
                            "sync_run"
                        ],
                        &rows
                    )
                );
                if !self.details.is_empty() {
                    let rows: Vec<Vec<String>> = self
                        .changes()
                        .into_iter()
                        .map(|change| match change {
                            Change::State(s) => vec![
                                text_time(s.entered_at),
                                format!("state {}", s.state),
                                s.sync_run_id.to_string(),
                            ],
                            Change::Details(d) => vec![
                                text_time(d.observed_at),
                                detail_summary(&d.progress),
                                d.sync_run_id.to_string(),
                            ],
                        })
                        .collect();
                    text += &format!(
                        "\nState and detail changes, in order:\n{}",
                        text_table(&["observed", "change", "sync_run"], &rows)
                    );
                }
                text
            }
            TableFormat::Json => {
                let stints: Vec<_> = self
                    .stints
                    .iter()
                    .map(|s| {
                        json!({
                            "state": s.state,
                            "entered_at": rfc3339(s.entered_at),
                            "entered_after": s.entered_after.map(rfc3339),
                            "left_at": s.left_at.map(rfc3339),
                            "duration_seconds": seconds(duration(s)),
                            "is_current": s.left_at.is_none(),
                            "sync_run_id": s.sync_run_id,
                        })
                    })
                    .collect();
                let changes: Vec<_> = self
                    .changes()
                    .into_iter()
                    .map(|change| match change {
                        Change::State(s) => json!({
                            "observed_at": rfc3339(s.entered_at), "kind": "state",
                            "state": s.state, "sync_run_id": s.sync_run_id,
                        }),
                        Change::Details(d) => {
                            let mut value = json!({
                                "observed_at": rfc3339(d.observed_at), "kind": "details",
                                "sync_run_id": d.sync_run_id,
                            });
                            for (name, field) in detail_fields(&d.progress) {
                                value[name] = field;
                            }
                            value
                        }
                    })
                    .collect();
                json!({ "job_id": self.job_id, "account_id": self.account_id, "as_of": rfc3339(self.as_of), "stints": stints, "changes": changes })
                    .to_string()
                    + "\n"
            }
            TableFormat::Csv => {
                let header = [
                    "job_id",
                    "state",
                    "entered_at",
                    "entered_after",
                    "left_at",
                    "duration_seconds",
                    "is_current",
                    "sync_run_id",
                    "account_id",
                    "kind",
                    "shipping_option",
                    "outbound_status",
                    "outbound_tracking_number",
                    "inbound_status",
                    "inbound_tracking_number",
                    "bytes_transferred",
                    "objects_transferred",
                    "total_bytes",
                    "total_objects",
                ];
                let account = self.account_id.clone().unwrap_or_default();
                let mut out = csv_line(&header.map(String::from));
                // One table, state stints and detail changes interleaved by time.
                for change in self.changes() {
                    let mut row = vec![self.job_id.clone()];
                    match change {
                        Change::State(s) => {
                            row.extend([
                                s.state.clone(),
                                rfc3339(s.entered_at),
                                s.entered_after.map(rfc3339).unwrap_or_default(),
                                s.left_at.map(rfc3339).unwrap_or_default(),
                                seconds(duration(s)).to_string(),
                                s.left_at.is_none().to_string(),
                                s.sync_run_id.to_string(),
                                account.clone(),
                                "state".to_owned(),
                            ]);
                            row.extend(std::iter::repeat_n(String::new(), 9));
                        }
                        Change::Details(d) => {
                            row.extend([
                                String::new(),
                                rfc3339(d.observed_at),
                                String::new(),
                                String::new(),
                                String::new(),
                                String::new(),
                                d.sync_run_id.to_string(),
                                account.clone(),
                                "details".to_owned(),
                            ]);
                            row.extend(detail_fields(&d.progress).into_iter().map(
                                |(_, v)| match v {
                                    serde_json::Value::Null => String::new(),
                                    serde_json::Value::String(s) => s,
                                    other => other.to_string(),
                                },
                            ));
                        }
                    }
                    out += &csv_line(&row);
                }
                out
            }
        }
    }
}

/// One entry of a job's timeline: a stint began, or its details changed.
enum Change<'a> {
    State(&'a Interval),
    Details(&'a DetailChange),
}

impl History {
    /// Stints and detail changes interleaved by time; a state change before
    /// the detail change the same sync saw.
    fn changes(&self) -> Vec<Change<'_>> {
        let mut changes: Vec<(DateTime<Utc>, u8, Change<'_>)> = self
            .stints
            .iter()
            .map(|s| (s.entered_at, 0, Change::State(s)))
            .chain(
                self.details
                    .iter()
                    .map(|d| (d.observed_at, 1, Change::Details(d))),
            )
            .collect();
        changes.sort_by_key(|(at, kind, _)| (*at, *kind));
        changes.into_iter().map(|(_, _, change)| change).collect()
    }
}

/// Everything `report` shows, as of one moment of the database clock.
pub struct Report {
    pub as_of: DateTime<Utc>,
    pub since: DateTime<Utc>,
    pub stuck_after: Duration,
    /// `--account`: the accounts reported on; empty for all.
    pub accounts: Vec<String>,
    pub jobs_by_account: Vec<AccountCount>,
    pub jobs_by_state: Vec<StateTypeCount>,
    pub transitions: Vec<TransitionCount>,
    pub stuck: Vec<StuckJob>,
    pub health: Vec<SyncHealth>,
    pub daily: Vec<DailyState>,
    pub timeline: Vec<Interval>,
    /// `--deadline-within`: devices due back within this are listed.
    pub deadline_within: Duration,
    pub transfers: Vec<Transfer>,
    pub in_transit: Vec<InTransit>,
    pub deadlines: Vec<Deadline>,
    /// For the HTML chart of data transferred over time.
    pub transfer_series: Vec<TransferPoint>,
}

/// What `Report::load` reports on.
pub struct Scope<'a> {
    pub period: Duration,
    pub stuck_after: Duration,
    pub deadline_within: Duration,
    pub accounts: &'a [String],
}

impl Report {
    pub async fn load(
        conn: &mut sqlx::PgConnection,
        as_of: DateTime<Utc>,
        scope: Scope<'_>,
    ) -> anyhow::Result<Report> {
        let Scope {
            period,
            stuck_after,
            deadline_within,
            accounts,
        } = scope;
        let deadline_days = i32::try_from(deadline_within.as_secs() / 86_400).unwrap_or(i32::MAX);
        let since = as_of - chrono::TimeDelta::from_std(period).context("--since is too long")?;
        let stuck_before = as_of
            - chrono::TimeDelta::from_std(stuck_after).context("--stuck-after is too long")?;
        Ok(Report {
            as_of,
            since,
            stuck_after,
            accounts: accounts.to_vec(),
            jobs_by_account: db::report::account_counts(&mut *conn, accounts).await?,
            jobs_by_state: db::report::state_type_counts(&mut *conn, accounts).await?,
            transitions: db::report::transitions_since(&mut *conn, since, accounts).await?,
            stuck: db::report::stuck_jobs(&mut *conn, stuck_before, accounts).await?,
            // Runs span accounts: their health is the database's, unfiltered.
            health: db::report::sync_health(&mut *conn, since).await?,
            daily: db::report::daily_states(&mut *conn, since, as_of, accounts).await?,
            timeline: db::report::timeline(&mut *conn, since, TIMELINE_LANES, accounts).await?,
            deadline_within,
            transfers: db::report::transfers_in_progress(&mut *conn, accounts).await?,
            in_transit: db::report::shipments_in_transit(&mut *conn, accounts).await?,
            deadlines: db::report::deadlines_within(&mut *conn, deadline_days, accounts).await?,
            transfer_series: db::report::transfer_series(
                &mut *conn,
                since,
                TRANSFER_LANES,
                accounts,
            )
            .await?,
        })
    }

    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => {
                let mut out = format!(
                    "Snowball fleet report, {} to {} UTC (stuck after {}{})\n",
                    text_time(self.since),
                    text_time(self.as_of),
                    human_duration(self.stuck_after.as_secs() as i64),
                    match self.accounts.is_empty() {
                        true => String::new(),
                        false => format!("; accounts {}", self.accounts.join(", ")),
                    }
                );
                for (title, table) in sections(self) {
                    let headers: Vec<&str> = table.headers.iter().map(String::as_str).collect();
                    out += &format!("\n{title}\n{}", text_table(&headers, &table.rows));
                }
                out
            }
            ReportFormat::Json => self.to_json().to_string() + "\n",
            ReportFormat::Csv => self.to_csv(),
            ReportFormat::Html => html::render(self),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "as_of": rfc3339(self.as_of),
            "since": rfc3339(self.since),
            "stuck_after_seconds": self.stuck_after.as_secs(),
            "accounts": self.accounts,
            "jobs_by_account": self.jobs_by_account.iter().map(|a| json!({
                "account_id": a.account_id, "jobs": a.jobs, "active": a.active, "missing": a.missing,
            })).collect::<Vec<_>>(),
            "jobs_by_state": self.jobs_by_state.iter().map(|c| json!({
                "job_state": c.job_state, "job_type": c.job_type, "snowball_type": c.snowball_type, "jobs": c.jobs,
            })).collect::<Vec<_>>(),
            "transitions": self.transitions.iter().map(|t| json!({
                "from_state": t.from_state, "to_state": t.to_state, "count": t.count,
            })).collect::<Vec<_>>(),
            "stuck_jobs": self.stuck.iter().map(|j| json!({
                "job_id": j.job_id, "job_state": j.job_state, "job_type": j.job_type, "snowball_type": j.snowball_type,
                "region": j.region, "state_since": rfc3339(j.state_since), "age_seconds": seconds(self.as_of - j.state_since),
                "account_id": j.account_id,
            })).collect::<Vec<_>>(),
            "deadline_within_seconds": self.deadline_within.as_secs(),
            "data_transfer": self.transfers.iter().map(|t| json!({
                "job_id": t.job_id, "account_id": t.account_id, "job_state": t.job_state,
                "bytes_transferred": t.bytes_transferred, "total_bytes": t.total_bytes,
                "percent_done": t.percent_done, "bytes_per_second": t.bytes_per_second,
            })).collect::<Vec<_>>(),
            "shipments_in_transit": self.in_transit.iter().map(|s| json!({
                "job_id": s.job_id, "account_id": s.account_id, "job_state": s.job_state,
                "status": s.status, "tracking_number": s.tracking_number,
            })).collect::<Vec<_>>(),
            "device_deadlines": self.deadlines.iter().map(|d| json!({
                "job_id": d.job_id, "account_id": d.account_id, "job_state": d.job_state,
                "prepared_at": rfc3339(d.prepared_at), "approximate": d.approximate,
                "deadline": rfc3339(d.deadline), "days_left": d.days_left,
            })).collect::<Vec<_>>(),
            "sync_health": self.health.iter().map(|h| json!({
                "day": h.day.to_string(), "runs": h.runs, "succeeded": h.succeeded, "failed": h.failed,
                "abandoned": h.abandoned, "running": h.running, "mean_duration_seconds": h.mean_duration_seconds,
                "last_success": h.last_success.map(rfc3339),
            })).collect::<Vec<_>>(),
        })
    }

    /// One table for all sections: `section` says which, and each section
    /// fills its own columns.
    fn to_csv(&self) -> String {
        const COLUMNS: [&str; 31] = [
            "section",
            "job_id",
            "job_state",
            "job_type",
            "snowball_type",
            "region",
            "from_state",
            "to_state",
            "count",
            "state_since",
            "age_seconds",
            "day",
            "runs",
            "succeeded",
            "failed",
            "abandoned",
            "mean_duration_seconds",
            "last_success",
            "account_id",
            "active",
            "missing",
            "bytes_transferred",
            "total_bytes",
            "percent_done",
            "bytes_per_second",
            "status",
            "tracking_number",
            "prepared_at",
            "approximate",
            "deadline",
            "days_left",
        ];
        let mut out = csv_line(&COLUMNS.map(String::from));
        let row = |cells: &[(&str, String)]| {
            let fields: Vec<String> = COLUMNS
                .iter()
                .map(|column| {
                    cells
                        .iter()
                        .find(|(c, _)| c == column)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect();
            csv_line(&fields)
        };
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        for a in &self.jobs_by_account {
            out += &row(&[
                ("section", "jobs_by_account".into()),
                ("account_id", text(&a.account_id)),
                ("count", a.jobs.to_string()),
                ("active", a.active.to_string()),
                ("missing", a.missing.to_string()),
            ]);
        }
        for c in &self.jobs_by_state {
            out += &row(&[
                ("section", "jobs_by_state".into()),
                ("job_state", c.job_state.clone()),
                ("job_type", text(&c.job_type)),
                ("snowball_type", text(&c.snowball_type)),
                ("count", c.jobs.to_string()),
            ]);
        }
        for t in &self.transitions {
            out += &row(&[
                ("section", "transitions".into()),
                ("from_state", text(&t.from_state)),
                ("to_state", t.to_state.clone()),
                ("count", t.count.to_string()),
            ]);
        }
        for j in &self.stuck {
            out += &row(&[
                ("section", "stuck_jobs".into()),
                ("job_id", j.job_id.clone()),
                ("job_state", j.job_state.clone()),
                ("job_type", text(&j.job_type)),
                ("snowball_type", text(&j.snowball_type)),
                ("region", j.region.clone()),
                ("account_id", text(&j.account_id)),
                ("state_since", rfc3339(j.state_since)),
                (
                    "age_seconds",
                    seconds(self.as_of - j.state_since).to_string(),
                ),
            ]);
        }
        let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        let float = |v: Option<f64>| v.map(|n| n.to_string()).unwrap_or_default();
        for t in &self.transfers {
            out += &row(&[
                ("section", "data_transfer".into()),
                ("job_id", t.job_id.clone()),
                ("account_id", text(&t.account_id)),
                ("job_state", t.job_state.clone()),
                ("bytes_transferred", number(t.bytes_transferred)),
                ("total_bytes", number(t.total_bytes)),
                ("percent_done", float(t.percent_done)),
                ("bytes_per_second", float(t.bytes_per_second)),
            ]);
        }
        for s in &self.in_transit {
            out += &row(&[
                ("section", "shipments_in_transit".into()),
                ("job_id", s.job_id.clone()),
                ("account_id", text(&s.account_id)),
                ("job_state", s.job_state.clone()),
                ("status", text(&s.status)),
                ("tracking_number", text(&s.tracking_number)),
            ]);
        }
        for d in &self.deadlines {
            out += &row(&[
                ("section", "device_deadlines".into()),
                ("job_id", d.job_id.clone()),
                ("account_id", text(&d.account_id)),
                ("job_state", d.job_state.clone()),
                ("prepared_at", rfc3339(d.prepared_at)),
                ("approximate", d.approximate.to_string()),
                ("deadline", rfc3339(d.deadline)),
                ("days_left", d.days_left.to_string()),
            ]);
        }
        for h in &self.health {
            out += &row(&[
                ("section", "sync_health".into()),
                ("day", h.day.to_string()),
                ("runs", h.runs.to_string()),
                ("succeeded", h.succeeded.to_string()),
                ("failed", h.failed.to_string()),
                ("abandoned", h.abandoned.to_string()),
                (
                    "mean_duration_seconds",
                    h.mean_duration_seconds
                        .map(|s| format!("{s:.3}"))
                        .unwrap_or_default(),
                ),
                (
                    "last_success",
                    h.last_success.map(rfc3339).unwrap_or_default(),
                ),
            ]);
        }
        out
    }
}

/// A titled table, shared by the text and HTML renderings.
struct Table {
    headers: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

fn sections(report: &Report) -> Vec<(String, Table)> {
    let table = |headers: &[(&str, bool)], rows: Vec<Vec<String>>| Table {
        headers: headers.iter().map(|(h, _)| h.to_string()).collect(),
        numeric: headers.iter().map(|(_, n)| *n).collect(),
        rows,
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        (
            "Jobs by account (account_id empty: not yet listed by an identified run)".to_owned(),
            table(
                &[
                    ("account_id", false),
                    ("jobs", true),
                    ("active", true),
                    ("missing", true),
                ],
                report
                    .jobs_by_account
                    .iter()
                    .map(|a| {
                        vec![
                            text(&a.account_id),
                            a.jobs.to_string(),
                            a.active.to_string(),
                            a.missing.to_string(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "Jobs by state and type".to_owned(),
            table(
                &[
                    ("job_state", false),
                    ("job_type", false),
                    ("snowball_type", false),
                    ("jobs", true),
                ],
                report
                    .jobs_by_state
                    .iter()
                    .map(|c| {
                        vec![
                            c.job_state.clone(),
                            text(&c.job_type),
                            text(&c.snowball_type),
                            c.jobs.to_string(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            format!(
                "Transitions since {} (from_state empty: first seen)",
                text_time(report.since)
            ),
            table(
                &[("from_state", false), ("to_state", false), ("count", true)],
                report
                    .transitions
                    .iter()
                    .map(|t| vec![text(&t.from_state), t.to_state.clone(), t.count.to_string()])
                    .collect(),
            ),
        ),
        (
            format!(
                "Stuck jobs: in a non-final state for {} or more",
                human_duration(report.stuck_after.as_secs() as i64)
            ),
            table(
                &[
                    ("job_id", false),
                    ("job_state", false),
                    ("job_type", false),
                    ("snowball_type", false),
                    ("region", false),
                    ("account_id", false),
                    ("state_since", false),
                    ("age", true),
                ],
                report
                    .stuck
                    .iter()
                    .map(|j| {
                        vec![
                            j.job_id.clone(),
                            j.job_state.clone(),
                            text(&j.job_type),
                            text(&j.snowball_type),
                            j.region.clone(),
                            text(&j.account_id),
                            text_time(j.state_since),
                            human_duration((report.as_of - j.state_since).num_seconds()),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "Data transfer in progress".to_owned(),
            table(
                &[
                    ("job_id", false),
                    ("account_id", false),
                    ("job_state", false),
                    ("transferred", true),
                    ("rate", true),
                ],
                report
                    .transfers
                    .iter()
                    .map(|t| {
                        vec![
                            t.job_id.clone(),
                            text(&t.account_id),
                            t.job_state.clone(),
                            percent(t.bytes_transferred, t.total_bytes),
                            t.bytes_per_second
                                .map(|r| format!("{}/s", human_bytes(r as i64)))
                                .unwrap_or_default(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "Shipments in transit".to_owned(),
            table(
                &[
                    ("job_id", false),
                    ("account_id", false),
                    ("job_state", false),
                    ("status", false),
                    ("tracking_number", false),
                ],
                report
                    .in_transit
                    .iter()
                    .map(|s| {
                        vec![
                            s.job_id.clone(),
                            text(&s.account_id),
                            s.job_state.clone(),
                            text(&s.status),
                            text(&s.tracking_number),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            format!(
                "Devices due back within {} (360 days from preparation; ~ approximate)",
                human_duration(report.deadline_within.as_secs() as i64)
            ),
            table(
                &[
                    ("job_id", false),
                    ("account_id", false),
                    ("job_state", false),
                    ("prepared", false),
                    ("deadline", false),
                    ("days_left", true),
                ],
                report
                    .deadlines
                    .iter()
                    .map(|d| {
                        vec![
                            d.job_id.clone(),
                            text(&d.account_id),
                            d.job_state.clone(),
                            format!(
                                "{}{}",
                                if d.approximate { "~" } else { "" },
                                text_time(d.prepared_at)
                            ),
                            text_time(d.deadline),
                            d.days_left.to_string(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "Sync health by day".to_owned(),
            table(
                &[
                    ("day", false),
                    ("runs", true),
                    ("succeeded", true),
                    ("failed", true),
                    ("abandoned", true),
                    ("running", true),
                    ("mean_duration", true),
                    ("last_success", false),
                ],
                report
                    .health
                    .iter()
                    .map(|h| {
                        vec![
                            h.day.to_string(),
                            h.runs.to_string(),
                            h.succeeded.to_string(),
                            h.failed.to_string(),
                            h.abandoned.to_string(),
                            h.running.to_string(),
                            h.mean_duration_seconds
                                .map(|s| format!("{s:.2}s"))
                                .unwrap_or_default(),
                            h.last_success.map(text_time).unwrap_or_default(),
                        ]
                    })
                    .collect(),
            ),
        ),
    ]
}

/// The `history` command.
pub async fn history_command(
    config: &HistoryConfig,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let Some(account_id) = db::report::job_account(&mut conn, &config.job_id).await? else {
        return Err(Error::Failed(anyhow::anyhow!(
            "no such job: {}",
            config.job_id
        )));
    };
    let history = History {
        details: db::report::job_detail_changes(&mut conn, &config.job_id).await?,
        job_id: config.job_id.clone(),
        account_id,
        as_of: db::report::now(&mut conn).await?,
        stints: db::report::job_intervals(&mut conn, &config.job_id).await?,
    };
    out.write_all(history.render(config.format).as_bytes())
        .context("writing the history")?;
    Ok(())
}

/// The `report` command.
pub async fn report_command(
    config: &ReportConfig,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let as_of = db::report::now(&mut conn).await?;
    let scope = Scope {
        period: config.since,
        stuck_after: config.stuck_after,
        deadline_within: config.deadline_within,
        accounts: &config.accounts,
    };
    let report = Report::load(&mut conn, as_of, scope).await?;
    let text = report.render(config.format);
    match &config.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => out
            .write_all(text.as_bytes())
            .context("writing the report")?,
    }
    Ok(())
}

/// Left-aligned columns separated by two spaces, with a header and a rule.
pub fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    out += &line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A duration as a person reads it: `3d 4h`, `2h 5m`, `40s`.
pub fn human_duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let table = text_table(
            &["state", "jobs"],
            &[
                vec!["New".into(), "12".into()],
                vec!["InTransitToAWS".into(), "3".into()],
            ],
        );
        assert_eq!(
            table,
            "state           jobs\n--------------  ----\nNew             12\nInTransitToAWS  3\n"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(40), "40s");
        assert_eq!(human_duration(125), "2m 5s");
        assert_eq!(human_duration(7500), "2h 5m");
        assert_eq!(human_duration(273_600), "3d 4h");
        assert_eq!(human_duration(14 * 86_400), "14d");
        assert_eq!(human_duration(5400), "1h 30m");
        assert_eq!(human_duration(7200), "2h");
    }
}
