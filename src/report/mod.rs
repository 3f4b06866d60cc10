//! What people read: `history` and `report` in text, JSON, CSV and HTML,
//! plus the plain text tables the demo prints. Formats are stable and
//! documented in docs/reporting.md: JSON has RFC 3339 timestamps and snake_case
//! keys; CSV has a header row.

pub mod estate;
mod html;
pub mod model;

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::config::{HistoryConfig, ReportConfig};
use crate::db;
use crate::db::report::{
    AccountCount, DailyState, Deadline, DetailChange, InTransit, Interval, StateTypeCount,
    StuckJob, SyncHealth, Transfer, TransferPoint, TransitionCount,
};
use crate::detail::Progress;
use crate::error::Error;
use crate::format::{ReportFormat, TableFormat};
use crate::values::Span;

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

/// A value from the API made safe for a terminal: control characters (ESC,
/// CR, the C1 range...) become visible escapes such as `\u{1b}`, so a job
/// description cannot move the cursor, recolour or overwrite a line.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c.is_control() {
                true => c.escape_unicode().to_string(),
                false => c.to_string(),
            })
            .collect(),
    )
}

/// A CSV cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab or CR first) gets a leading single quote, as OWASP recommends; numbers
/// such as `-5` stay numbers.
fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
    match risky {
        true => std::borrow::Cow::Owned(format!("'{cell}")),
        false => std::borrow::Cow::Borrowed(cell),
    }
}

/// One CSV line: fields quoted when they hold a comma, a quote or a line
/// break, and made formula-safe.
pub fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            let f = formula_safe(f);
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.into_owned()
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
        let Some(account_id) = db::report::job_account(&mut *tx, job_id).await? else {
            return Ok(None);
        };
        Ok(Some(History {
            details: db::report::job_detail_changes(&mut *tx, job_id).await?,
            job_id: job_id.to_owned(),
            account_id,
            as_of: db::report::now(&mut *tx).await?,
            stints: db::report::job_intervals(&mut *tx, job_id).await?,
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

/// Everything `report` shows, as of one moment of the database clock.
pub struct Report {
    pub as_of: DateTime<Utc>,
    /// `--as-of`: a moment in the past, the state sections read from history.
    pub past: bool,
    pub since: DateTime<Utc>,
    pub stuck_after: Span,
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
    pub deadline_within: Span,
    pub transfers: Vec<Transfer>,
    pub in_transit: Vec<InTransit>,
    pub deadlines: Vec<Deadline>,
    /// Completed jobs whose reports the archive lacks (as today, even with --as-of).
    pub lacking_reports: Vec<db::report::LackingReports>,
    /// Device usage against the limit, the latest per account and region.
    pub usage: Vec<db::usage::Usage>,
    /// Clusters with their member jobs' states (with --as-of, as they were).
    pub clusters: Vec<db::clusters::Overview>,
    /// `--renewal-within`: terms ending within this are listed.
    pub renewal_within: Span,
    /// Terms ending within `renewal_within`, lapsing ones first.
    pub terms_ending: Vec<db::pricing::Ending>,
    /// Every term not yet ended, for the HTML time line.
    pub terms: Vec<db::pricing::Ending>,
    /// For the HTML chart of data transferred over time.
    pub transfer_series: Vec<TransferPoint>,
}

/// What `Report::load` reports on.
pub struct Scope<'a> {
    /// `--as-of` given: states as the history stood at `as_of`.
    pub past: bool,
    pub period: Span,
    pub stuck_after: Span,
    pub deadline_within: Span,
    pub renewal_within: Span,
    pub accounts: &'a [String],
}

impl Report {
    pub async fn load(
        conn: &mut sqlx::PgConnection,
        as_of: DateTime<Utc>,
        scope: Scope<'_>,
    ) -> anyhow::Result<Report> {
        let Scope {
            past,
            period,
            stuck_after,
            deadline_within,
            renewal_within,
            accounts,
        } = scope;
        let renewal_until = as_of
            .checked_add_signed(renewal_within.as_delta())
            .context("--renewal-within reaches past the calendar")?;
        let deadline_days = i32::try_from(deadline_within.as_secs() / 86_400).unwrap_or(i32::MAX);
        let since = period
            .before(as_of)
            .context("--since reaches before the calendar")?;
        let stuck_before = stuck_after
            .before(as_of)
            .context("--stuck-after reaches before the calendar")?;
        // Now, the tables say it; at a moment past, the history does.
        let (jobs_by_account, jobs_by_state, stuck, deadlines) = match past {
            false => (
                db::report::account_counts(&mut *conn, accounts).await?,
                db::report::state_type_counts(&mut *conn, accounts).await?,
                db::report::stuck_jobs(&mut *conn, stuck_before, accounts).await?,
                db::report::deadlines_within(&mut *conn, deadline_days, accounts).await?,
            ),
            true => (
                db::report::account_counts_at(&mut *conn, as_of, accounts).await?,
                db::report::state_type_counts_at(&mut *conn, as_of, accounts).await?,
                db::report::stuck_jobs_at(&mut *conn, as_of, stuck_before, accounts).await?,
                db::report::deadlines_within_at(&mut *conn, as_of, deadline_days, accounts).await?,
            ),
        };
        // The estate has a history too: at a moment past, read from it.
        let never = DateTime::<Utc>::MAX_UTC;
        let (usage, clusters, terms_ending, terms) = match past {
            false => (
                db::usage::latest(&mut *conn, accounts).await?,
                db::clusters::overview(&mut *conn, accounts).await?,
                db::pricing::ending(&mut *conn, as_of, renewal_until, accounts).await?,
                db::pricing::ending(&mut *conn, as_of, never, accounts).await?,
            ),
            true => (
                db::usage::latest_at(&mut *conn, as_of, accounts).await?,
                db::clusters::overview_at(&mut *conn, as_of, accounts).await?,
                db::pricing::ending_at(&mut *conn, as_of, renewal_until, accounts).await?,
                db::pricing::ending_at(&mut *conn, as_of, never, accounts).await?,
            ),
        };
        Ok(Report {
            as_of,
            past,
            since,
            stuck_after,
            accounts: accounts.to_vec(),
            jobs_by_account,
            jobs_by_state,
            transitions: db::report::transitions_since(&mut *conn, since, as_of, accounts).await?,
            stuck,
            // Runs span accounts: their health is the database's, unfiltered.
            health: db::report::sync_health(&mut *conn, since).await?,
            daily: db::report::daily_states(&mut *conn, since, as_of, accounts).await?,
            timeline: db::report::timeline(&mut *conn, since, TIMELINE_LANES, accounts).await?,
            deadline_within,
            transfers: db::report::transfers_in_progress(&mut *conn, accounts).await?,
            in_transit: db::report::shipments_in_transit(&mut *conn, accounts).await?,
            deadlines,
            lacking_reports: db::report::lacking_reports(&mut *conn, accounts).await?,
            usage,
            clusters,
            renewal_within,
            terms_ending,
            terms,
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
        let sections = model::sections(self);
        match format {
            ReportFormat::Text => {
                format!(
                    "Snowball fleet report{}, {} to {} UTC (stuck after {}{})\n",
                    match self.past {
                        true =>
                            " as of the end of the period (states from the history; details and attributes as today)",
                        false => "",
                    },
                    text_time(self.since),
                    text_time(self.as_of),
                    human_duration(self.stuck_after.as_secs() as i64),
                    match self.accounts.is_empty() {
                        true => String::new(),
                        false => format!("; accounts {}", self.accounts.join(", ")),
                    }
                ) + &model::text(&sections)
            }
            ReportFormat::Json => {
                let mut object = serde_json::Map::new();
                for (key, value) in [
                    ("as_of", json!(rfc3339(self.as_of))),
                    ("states_from_history", json!(self.past)),
                    ("since", json!(rfc3339(self.since))),
                    ("stuck_after_seconds", json!(self.stuck_after.as_secs())),
                    (
                        "deadline_within_seconds",
                        json!(self.deadline_within.as_secs()),
                    ),
                    ("accounts", json!(self.accounts)),
                ] {
                    object.insert(key.to_owned(), value);
                }
                model::json(&sections, &mut object);
                serde_json::Value::Object(object).to_string() + "\n"
            }
            ReportFormat::Csv => model::csv(&sections),
            ReportFormat::Html => html::render(self, &sections),
        }
    }
}

/// One snapshot for everything a command prints: a report made while a sync
/// commits never counts one job in two states.
pub(crate) async fn snapshot(
    conn: &mut sqlx::PgConnection,
) -> anyhow::Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    use sqlx::Connection;
    conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .context("starting the read-only snapshot")
}

/// The `history` command.
pub async fn history_command(
    config: &HistoryConfig,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = snapshot(&mut conn).await?;
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

/// The `report` command.
pub async fn report_command(
    config: &ReportConfig,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = snapshot(&mut conn).await?;
    // now() is the snapshot's own moment: the transaction's start.
    let as_of = match config.as_of {
        Some(at) => at,
        None => db::report::now(&mut *tx).await?,
    };
    let scope = Scope {
        past: config.as_of.is_some(),
        period: config.since,
        stuck_after: config.stuck_after,
        deadline_within: config.deadline_within,
        renewal_within: config.renewal_within,
        accounts: &config.accounts,
    };
    // An account the database has never seen would only give an empty
    // report that looks like a quiet fleet.
    let unknown = db::report::unknown_accounts(&mut *tx, &config.accounts).await?;
    if !unknown.is_empty() {
        return Err(Error::Usage(format!(
            "--account {}: no job, cluster, term or run of {} in the database",
            unknown.join(", "),
            match unknown.len() {
                1 => "this account",
                _ => "these accounts",
            }
        )));
    }
    let report = Report::load(&mut tx, as_of, scope).await?;
    tx.commit().await.context("ending the read-only snapshot")?;
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

/// Left-aligned columns separated by two spaces, with a header and a rule;
/// every cell made `visible`.
pub fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| visible(cell).into_owned()).collect())
        .collect();
    let rows = rows.as_slice();
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
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("plain"), "plain");
        assert_eq!(visible("a\u{1b}[31mred\r"), "a\\u{1b}[31mred\\u{d}");
        assert_eq!(visible("\u{9b}2J"), "\\u{9b}2J");
    }

    #[test]
    fn csv_cells_that_would_be_formulas_are_quoted_and_numbers_stay() {
        assert_eq!(
            csv_line(&[
                "=HYPERLINK(1)".into(),
                "+1+1".into(),
                "@SUM".into(),
                "-5".into(),
                "ok".into()
            ]),
            "'=HYPERLINK(1),'+1+1,'@SUM,-5,ok\n"
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
