//! The `history` command: one job's timeline (its state stints and detail
//! changes), a cluster's, or a long-term pricing term's changes, in text,
//! JSON and CSV.

pub mod estate;
#[cfg(test)]
mod golden;

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::HistoryConfig;
use crate::db;
use crate::db::timeline::{DetailChange, Interval};
use crate::detail::Progress;
use crate::error::Error;
use crate::format::TableFormat;
use crate::render::{
    csv_line, human_bytes, human_duration, rfc3339, seconds, text_table, text_time,
};

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

/// A job's or cluster's stints as a text table.
pub(crate) fn stints_table(stints: &[Interval], as_of: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = stints
        .iter()
        .map(|s| {
            vec![
                s.state.clone(),
                text_time(s.entered_at),
                s.entered_after.map(text_time).unwrap_or_default(),
                s.left_at.map_or_else(|| "(current)".to_owned(), text_time),
                human_duration((s.left_at.unwrap_or(as_of) - s.entered_at).num_seconds()),
                s.sync_run_id.to_string(),
            ]
        })
        .collect();
    text_table(
        &[
            "state",
            "entered",
            "entered_after",
            "left",
            "duration",
            "sync_run",
        ],
        &rows,
    )
}

/// A job's or cluster's stint as JSON.
pub(crate) fn stint_json(s: &Interval, as_of: DateTime<Utc>) -> serde_json::Value {
    json!({
        "state": s.state,
        "entered_at": rfc3339(s.entered_at),
        "entered_after": s.entered_after.map(rfc3339),
        "left_at": s.left_at.map(rfc3339),
        "duration_seconds": seconds(s.left_at.unwrap_or(as_of) - s.entered_at),
        "is_current": s.left_at.is_none(),
        "sync_run_id": s.sync_run_id,
        "row_hash": crate::chain::hex(&s.row_hash),
    })
}

impl History {
    pub fn render(&self, format: TableFormat) -> String {
        let duration = |s: &Interval| s.left_at.unwrap_or(self.as_of) - s.entered_at;
        match format {
            TableFormat::Text => {
                let mut text = format!(
                    "{} (account {}, times UTC, as of {})\n{}",
                    self.job_id,
                    self.account_id.as_deref().unwrap_or("unknown"),
                    text_time(self.as_of),
                    stints_table(&self.stints, self.as_of)
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
                    .map(|s| stint_json(s, self.as_of))
                    .collect();
                let changes: Vec<_> = self
                    .changes()
                    .into_iter()
                    .map(|change| match change {
                        Change::State(s) => json!({
                            "observed_at": rfc3339(s.entered_at), "kind": "state",
                            "state": s.state, "sync_run_id": s.sync_run_id,
                            "row_hash": crate::chain::hex(&s.row_hash),
                        }),
                        Change::Details(d) => {
                            let mut value = json!({
                                "observed_at": rfc3339(d.observed_at), "kind": "details",
                                "sync_run_id": d.sync_run_id,
                                "row_hash": crate::chain::hex(&d.row_hash),
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
                    "row_hash",
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
                            row.push(crate::chain::hex(&s.row_hash));
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
                            row.push(crate::chain::hex(&d.row_hash));
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
