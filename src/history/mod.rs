//! The `history` command: one job's timeline (its state stints and detail
//! changes), a cluster's, or a long-term pricing term's changes, in text,
//! JSON and CSV.

pub mod estate;
#[cfg(test)]
mod golden;

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::chain::hex;
use crate::config::HistoryConfig;
use crate::db;
use crate::db::timeline::{DetailChange, Interval};
use crate::detail::Progress;
use crate::error::Error;
use crate::format::TableFormat;
use crate::output::{Column, Document, Formats, Table, Value};
use crate::render::{human_bytes, text_time};

/// The `history` command.
pub async fn run(config: &HistoryConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = db::snapshot(&mut conn).await?;
    let id = &config.job_id;
    // A job, a cluster or a long-term pricing term: their ids never collide
    // (JID/MID, CID, LTPID), so the first table that knows the id says which.
    let text = if let Some(history) = History::load(&mut tx, id).await? {
        history.render(config.format)
    } else if let Some(cluster) = estate::ClusterHistory::load(&mut tx, id).await? {
        cluster.render(config.format)
    } else if let Some(term) = estate::TermHistory::load(&mut tx, id).await? {
        term.render(config.format)
    } else {
        return Err(Error::Failed(anyhow::anyhow!(
            "no such job, cluster or long-term pricing term: {id}"
        )));
    };
    tx.commit().await.context("ending the read-only snapshot")?;
    out.write_all(text.as_bytes())
        .context("writing the history")?;
    Ok(())
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

/// The detail fields of a change, in order: JSON's and CSV's names for
/// `detail_values`.
const DETAIL_FIELDS: [&str; 9] = [
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

/// A change's detail fields, in `DETAIL_FIELDS`' order.
fn detail_values(d: &Progress) -> [Value; 9] {
    [
        Value::text(&d.shipping_option),
        Value::text(&d.outbound_status),
        Value::text(&d.outbound_tracking_number),
        Value::text(&d.inbound_status),
        Value::text(&d.inbound_tracking_number),
        Value::opt(d.bytes_transferred, Value::Int),
        Value::opt(d.objects_transferred, Value::Int),
        Value::opt(d.total_bytes, Value::Int),
        Value::opt(d.total_objects, Value::Int),
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

/// A job's or cluster's stints, for text and JSON: how long each lasted,
/// the current one until `as_of`.
pub(crate) fn stints_table(stints: &[Interval], as_of: DateTime<Utc>) -> Table {
    let rows = stints
        .iter()
        .map(|s| {
            vec![
                Value::Text(s.state.clone()),
                Value::Time(s.entered_at),
                Value::opt(s.entered_after, Value::Time),
                Value::Until(s.left_at),
                Value::Elapsed(s.left_at.unwrap_or(as_of) - s.entered_at),
                Value::Bool(s.left_at.is_none()),
                Value::Int(s.sync_run_id),
                Value::Text(hex(&s.row_hash)),
            ]
        })
        .collect();
    Table::new(
        "stints",
        &[
            Column::new("state"),
            Column::headed("entered_at", "entered"),
            Column::new("entered_after"),
            Column::headed("left_at", "left"),
            Column::headed("duration_seconds", "duration"),
            Column::not_in_text("is_current"),
            Column::headed("sync_run_id", "sync_run"),
            Column::not_in_text("row_hash"),
        ],
        rows,
    )
    .in_formats(Formats::TEXT_AND_JSON)
}

impl History {
    pub fn render(&self, format: TableFormat) -> String {
        self.document().render(format)
    }

    /// The history as data: its stints, its changes (states and details
    /// interleaved; text shows them only when there are details), and for
    /// CSV one table of both.
    pub fn document(&self) -> Document {
        let changes = self.changes();
        let change_rows = changes
            .iter()
            .map(|change| {
                let (observed, summary, kind, state, run, hash, details) = match change {
                    Change::State(s) => (
                        s.entered_at,
                        format!("state {}", s.state),
                        "state",
                        Value::Text(s.state.clone()),
                        s.sync_run_id,
                        &s.row_hash,
                        [const { Value::Absent }; 9],
                    ),
                    Change::Details(d) => (
                        d.observed_at,
                        detail_summary(&d.progress),
                        "details",
                        Value::Absent,
                        d.sync_run_id,
                        &d.row_hash,
                        detail_values(&d.progress),
                    ),
                };
                [
                    Value::Time(observed),
                    Value::Text(summary),
                    Value::Text(kind.to_owned()),
                    state,
                    Value::Int(run),
                    Value::Text(hex(hash)),
                ]
                .into_iter()
                .chain(details)
                .collect()
            })
            .collect();
        let change_columns: Vec<Column> = [
            Column::headed("observed_at", "observed"),
            Column::text_only("change"),
            Column::json_only("kind"),
            Column::json_only("state"),
            Column::headed("sync_run_id", "sync_run"),
            Column::json_only("row_hash"),
        ]
        .into_iter()
        .chain(DETAIL_FIELDS.map(Column::json_only))
        .collect();
        let account = Value::text(&self.account_id);
        // One table, state stints and detail changes interleaved by time.
        let csv_rows = changes
            .iter()
            .map(|change| {
                let mut row = vec![Value::Text(self.job_id.clone())];
                match change {
                    Change::State(s) => {
                        row.extend([
                            Value::Text(s.state.clone()),
                            Value::Time(s.entered_at),
                            Value::opt(s.entered_after, Value::Time),
                            Value::opt(s.left_at, Value::Time),
                            Value::Elapsed(s.left_at.unwrap_or(self.as_of) - s.entered_at),
                            Value::Bool(s.left_at.is_none()),
                            Value::Int(s.sync_run_id),
                            account.clone(),
                            Value::Text("state".to_owned()),
                        ]);
                        row.extend([const { Value::Null }; 9]);
                        row.push(Value::Text(hex(&s.row_hash)));
                    }
                    Change::Details(d) => {
                        row.extend([
                            Value::Null,
                            Value::Time(d.observed_at),
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Int(d.sync_run_id),
                            account.clone(),
                            Value::Text("details".to_owned()),
                        ]);
                        row.extend(detail_values(&d.progress));
                        row.push(Value::Text(hex(&d.row_hash)));
                    }
                }
                row
            })
            .collect();
        let csv_columns: Vec<Column> = [
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
        ]
        .map(Column::csv_only)
        .into_iter()
        .chain(DETAIL_FIELDS.map(Column::csv_only))
        .chain([Column::csv_only("row_hash")])
        .collect();
        let changes = Table::new("changes", &change_columns, change_rows)
            .titled("State and detail changes, in order:")
            .in_formats(Formats {
                text: !self.details.is_empty(),
                json: true,
                csv: false,
            });
        Document {
            heading: format!(
                "{} (account {}, times UTC, as of {})",
                self.job_id,
                self.account_id.as_deref().unwrap_or("unknown"),
                text_time(self.as_of)
            ),
            fields: vec![
                ("job_id", Value::Text(self.job_id.clone())),
                ("account_id", account),
                ("as_of", Value::Time(self.as_of)),
            ],
            tables: vec![
                stints_table(&self.stints, self.as_of),
                changes,
                Table::new("timeline", &csv_columns, csv_rows).in_formats(Formats::CSV),
            ],
        }
    }
}

/// One entry of a job's timeline: a stint began, or its details changed.
enum Change<'a> {
    State(&'a Interval),
    Details(&'a DetailChange),
}

impl History {
    /// One job's history as the snapshot `tx` holds it; None when the
    /// database knows no such job.
    pub async fn load(
        tx: &mut sqlx::PgConnection,
        job_id: &str,
    ) -> anyhow::Result<Option<History>> {
        let Some(account_id) = db::timeline::job_account(&mut *tx, job_id).await? else {
            return Ok(None);
        };
        Ok(Some(History {
            details: db::timeline::job_detail_changes(&mut *tx, job_id).await?,
            job_id: job_id.to_owned(),
            account_id,
            as_of: db::now(&mut *tx).await?,
            stints: db::timeline::job_intervals(&mut *tx, job_id).await?,
        }))
    }

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
