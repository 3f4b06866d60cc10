//! `watch`: LISTENs on the `snowball_sync` channel and prints every run that
//! ends, then its transitions, one line each, as text or JSON lines. When the
//! connection drops it connects again and catches up on the runs that ended
//! meanwhile (notifications are not queued for a lost listener).

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::config::WatchConfig;
use crate::db::{self, notices::RunNotice, notices::RunTransition};
use crate::error::Error;
use crate::exit_code::Signal;
use crate::format::LineFormat;

/// Transitions read per query: memory stays bounded however large a run is.
const TRANSITION_SLICE: i64 = 1000;
/// Run ids remembered so a catch-up never prints a run twice.
const REMEMBERED_RUNS: usize = 1024;
/// Wait between attempts to connect again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Watches until `shutdown` resolves (SIGINT or SIGTERM: a clean end) or
/// stdout closes.
pub async fn run(
    config: &WatchConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut watcher = Watcher {
        pool: db::pool(&config.database, 2).await?,
        format: config.format,
        since: db::now(&mut conn).await?,
        printed: VecDeque::new(),
    };
    drop(conn);
    tokio::pin!(shutdown);
    let mut listener = tokio::select! {
        signal = &mut shutdown => return stopped(signal),
        listener = watcher.listen() => listener?,
    };
    tracing::info!(channel = db::notices::CHANNEL, "watching for finished runs");
    loop {
        tokio::select! {
            signal = &mut shutdown => return stopped(signal),
            received = listener.try_recv() => match received {
                // Anyone may NOTIFY on the channel: a payload that is not a
                // run's is noted and skipped, never fatal.
                Ok(Some(notification)) => match RunNotice::parse(notification.payload()) {
                    Ok(notice) => {
                        if !watcher.print(&notice, out).await? {
                            return Ok(());
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "ignoring a notification that is not a run's");
                    }
                },
                // The connection dropped (a server restart, an idle reaper):
                // connect again, then print what ended in between.
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the database connection; reconnecting");
                    listener = tokio::select! {
                        signal = &mut shutdown => return stopped(signal),
                        listener = watcher.reconnect() => listener,
                    };
                    if !watcher.catch_up(out).await? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn stopped(signal: Signal) -> Result<(), Error> {
    tracing::info!(?signal, "stopped watching");
    Ok(())
}

struct Watcher {
    pool: PgPool,
    format: LineFormat,
    /// The end time of the latest run printed (or of the start of watching):
    /// a catch-up reads the runs that ended from then on.
    since: DateTime<Utc>,
    printed: VecDeque<i64>,
}

impl Watcher {
    async fn listen(&self) -> anyhow::Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .context("connecting to listen")?;
        listener
            .listen(db::notices::CHANNEL)
            .await
            .context("listening on the snowball_sync channel")?;
        Ok(listener)
    }

    /// Connects again, for as long as it takes.
    async fn reconnect(&self) -> PgListener {
        loop {
            match self.listen().await {
                Ok(listener) => {
                    tracing::info!("listening again");
                    return listener;
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot listen yet; trying again");
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        }
    }

    /// Prints the runs that ended since the latest one printed. False when
    /// stdout is closed.
    async fn catch_up(&mut self, out: &mut (dyn Write + Send)) -> anyhow::Result<bool> {
        for notice in db::notices::finished_since(&self.pool, self.since).await? {
            if !self.print(&notice, out).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Prints a run and its transitions, once. False when stdout is closed
    /// (the reader went away: not an error).
    async fn print(
        &mut self,
        notice: &RunNotice,
        out: &mut (dyn Write + Send),
    ) -> anyhow::Result<bool> {
        if self.printed.contains(&notice.run_id) {
            return Ok(true);
        }
        if self.printed.len() == REMEMBERED_RUNS {
            self.printed.pop_front();
        }
        self.printed.push_back(notice.run_id);
        if let Some(finished_at) = notice.finished_at {
            self.since = self.since.max(finished_at);
        }
        if writeln!(out, "{}", run_line(self.format, notice)).is_err() {
            return Ok(false);
        }
        let mut after_id = 0;
        loop {
            let slice =
                db::notices::run_transitions(&self.pool, notice.run_id, after_id, TRANSITION_SLICE)
                    .await?;
            for transition in &slice {
                if writeln!(out, "{}", transition_line(self.format, notice, transition)).is_err() {
                    return Ok(false);
                }
            }
            match slice.last() {
                Some(last) if slice.len() as i64 == TRANSITION_SLICE => after_id = last.id,
                _ => break,
            }
        }
        if notice.cluster_transitions.is_some_and(|n| n > 0) {
            for t in db::notices::run_cluster_transitions(&self.pool, notice.run_id).await? {
                if writeln!(out, "{}", cluster_line(self.format, notice, &t)).is_err() {
                    return Ok(false);
                }
            }
        }
        Ok(out.flush().is_ok())
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One line for a finished run.
pub fn run_line(format: LineFormat, notice: &RunNotice) -> String {
    match format {
        LineFormat::Json => {
            let mut line = serde_json::json!({ "event": "run" });
            if let (Some(line), Ok(serde_json::Value::Object(fields))) =
                (line.as_object_mut(), serde_json::to_value(notice))
            {
                line.extend(fields);
            }
            line.to_string()
        }
        LineFormat::Text => {
            let mut line = format!(
                "{} run {} {}: {} transitions, {} new, {} changed, {} no longer listed",
                notice.finished_at.map(timestamp).unwrap_or_default(),
                notice.run_id,
                notice.status,
                notice.transitions,
                notice.jobs_new,
                notice.jobs_changed,
                notice.jobs_missing.unwrap_or(0),
            );
            if let Some(n) = notice.cluster_transitions {
                line.push_str(&format!(", {n} cluster transitions"));
            }
            if let Some(n) = notice.pricing_changes {
                line.push_str(&format!(", {n} pricing changes"));
            }
            if let Some(digest) = &notice.digest {
                line.push_str(", digest ");
                line.push_str(digest);
            }
            if let Some(error) = &notice.error {
                line.push_str(": ");
                line.push_str(error);
            }
            crate::render::visible(&line).into_owned()
        }
    }
}

/// One line for a cluster's state change in a finished run.
pub fn cluster_line(
    format: LineFormat,
    notice: &RunNotice,
    t: &db::notices::ClusterTransition,
) -> String {
    match format {
        LineFormat::Json => serde_json::json!({
            "event": "cluster_transition",
            "run_id": notice.run_id,
            "cluster_id": t.cluster_id,
            "from_state": t.from_state,
            "to_state": t.to_state,
            "observed_at": t.observed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        })
        .to_string(),
        LineFormat::Text => crate::render::visible(&format!(
            "{} run {} cluster {}: {} -> {}",
            timestamp(t.observed_at),
            notice.run_id,
            t.cluster_id,
            t.from_state.as_deref().unwrap_or("(new)"),
            t.to_state,
        ))
        .into_owned(),
    }
}

/// One line for a transition of a finished run.
pub fn transition_line(format: LineFormat, notice: &RunNotice, t: &RunTransition) -> String {
    match format {
        LineFormat::Json => serde_json::json!({
            "event": "transition",
            "run_id": notice.run_id,
            "job_id": t.job_id,
            "from_state": t.from_state,
            "to_state": t.to_state,
            "observed_at": t.observed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        })
        .to_string(),
        LineFormat::Text => crate::render::visible(&format!(
            "{} run {} {}: {} -> {}",
            timestamp(t.observed_at),
            notice.run_id,
            t.job_id,
            t.from_state.as_deref().unwrap_or("(new)"),
            t.to_state,
        ))
        .into_owned(),
    }
}
