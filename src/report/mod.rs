//! What people read: `history` and `report` in text, JSON, CSV and HTML,
//! plus the plain text tables the demo prints. Formats are stable and
//! documented in docs/reporting.md: JSON has RFC 3339 timestamps and snake_case
//! keys; CSV has a header row.

mod html;
pub mod model;

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::ReportConfig;
use crate::db;
use crate::db::fleet::{
    AccountCount, DailyState, Deadline, InTransit, StateTypeCount, StuckJob, Transfer,
    TransferPoint, TransitionCount,
};
use crate::db::health::SyncHealth;
use crate::db::timeline::Interval;
use crate::error::Error;
use crate::format::ReportFormat;
use crate::render::{human_duration, rfc3339, text_time};
use crate::values::Span;

/// Jobs shown in the HTML timeline.
const TIMELINE_LANES: i64 = 40;
/// Jobs drawn in the HTML chart of data transferred over time.
const TRANSFER_LANES: i64 = 20;

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
    pub lacking_reports: Vec<db::fleet::LackingReports>,
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
        let at = past.then_some(as_of);
        let jobs_by_account = db::fleet::account_counts(&mut *conn, at, accounts).await?;
        let jobs_by_state = db::fleet::state_type_counts(&mut *conn, at, accounts).await?;
        let stuck = db::fleet::stuck_jobs(&mut *conn, at, stuck_before, accounts).await?;
        let deadlines =
            db::fleet::deadlines_within(&mut *conn, at, deadline_days, accounts).await?;
        let never = DateTime::<Utc>::MAX_UTC;
        let usage = db::usage::latest(&mut *conn, at, accounts).await?;
        let clusters = db::clusters::overview(&mut *conn, at, accounts).await?;
        let terms_ending =
            db::pricing::ending(&mut *conn, at, as_of, renewal_until, accounts).await?;
        let terms = db::pricing::ending(&mut *conn, at, as_of, never, accounts).await?;
        Ok(Report {
            as_of,
            past,
            since,
            stuck_after,
            accounts: accounts.to_vec(),
            jobs_by_account,
            jobs_by_state,
            transitions: db::fleet::transitions_since(&mut *conn, since, as_of, accounts).await?,
            stuck,
            // Runs span accounts: their health is the database's, unfiltered.
            health: db::health::sync_health(&mut *conn, since).await?,
            daily: db::fleet::daily_states(&mut *conn, since, as_of, accounts).await?,
            timeline: db::fleet::timeline(&mut *conn, since, TIMELINE_LANES, accounts).await?,
            deadline_within,
            transfers: db::fleet::transfers_in_progress(&mut *conn, accounts).await?,
            in_transit: db::fleet::shipments_in_transit(&mut *conn, accounts).await?,
            deadlines,
            lacking_reports: db::fleet::lacking_reports(&mut *conn, accounts).await?,
            usage,
            clusters,
            renewal_within,
            terms_ending,
            terms,
            transfer_series: db::fleet::transfer_series(
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

/// The `report` command.
pub async fn run(config: &ReportConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = db::snapshot(&mut conn).await?;
    // now() is the snapshot's own moment: the transaction's start.
    let as_of = match config.as_of {
        Some(at) => at,
        None => db::now(&mut *tx).await?,
    };
    // Bound as text[] in the queries.
    let accounts: Vec<String> = config
        .accounts
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let scope = Scope {
        past: config.as_of.is_some(),
        period: config.since,
        stuck_after: config.stuck_after,
        deadline_within: config.deadline_within,
        renewal_within: config.renewal_within,
        accounts: &accounts,
    };
    // An account the database has never seen would only give an empty
    // report that looks like a quiet fleet.
    let unknown = db::fleet::unknown_accounts(&mut *tx, &accounts).await?;
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
