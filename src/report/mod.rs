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
    AccountCount, DailyState, Interval, StateTypeCount, StuckJob, SyncHealth, TransitionCount,
};
use crate::error::Error;

/// Jobs shown in the HTML timeline.
const TIMELINE_LANES: i64 = 40;

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
                format!(
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
                )
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
                json!({ "job_id": self.job_id, "account_id": self.account_id, "as_of": rfc3339(self.as_of), "stints": stints })
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
                ];
                let mut out = csv_line(&header.map(String::from));
                for s in &self.stints {
                    out += &csv_line(&[
                        self.job_id.clone(),
                        s.state.clone(),
                        rfc3339(s.entered_at),
                        s.entered_after.map(rfc3339).unwrap_or_default(),
                        s.left_at.map(rfc3339).unwrap_or_default(),
                        seconds(duration(s)).to_string(),
                        s.left_at.is_none().to_string(),
                        s.sync_run_id.to_string(),
                        self.account_id.clone().unwrap_or_default(),
                    ]);
                }
                out
            }
        }
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
}

impl Report {
    pub async fn load(
        conn: &mut sqlx::PgConnection,
        as_of: DateTime<Utc>,
        period: Duration,
        stuck_after: Duration,
        accounts: &[String],
    ) -> anyhow::Result<Report> {
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
        const COLUMNS: [&str; 21] = [
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
    let report = Report::load(
        &mut conn,
        as_of,
        config.since,
        config.stuck_after,
        &config.accounts,
    )
    .await?;
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
