//! The sync: who the credentials are (sources), the listings of every
//! account and region (listing), the writer that turns their pages into
//! committed batches (writing), and the run's record, told here from start to
//! end: identities, locks, run row, pipeline, missing jobs, the run's end.
//!
//! Large because a run's life, from its start to its sealed end, reads best
//! in order in one file.

pub mod command;
mod details;
mod estate;
mod listing;
pub mod sources;
mod writing;

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::aws;
use crate::config::SyncConfig;
use crate::db::jobs::Listed;
use crate::db::runs::ListingRecord;
use crate::db::{self, runs::RunStatus, runs::RunTotals};
use crate::error::Error;
use crate::exit_code::Signal;
use sources::{Accounts, Unreachable};
use writing::{PageWriter, Sink, pipeline};

/// What a run reports, succeeded or failed: the summary line, `--output
/// json` and the metrics file are all made from it.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub regions: Vec<String>,
    /// The accounts the run was to list, sorted.
    pub accounts: Vec<String>,
    /// How each (account, region) ListJobs listing ended, sorted.
    pub listings: Vec<ListingRecord>,
    /// How each listing of the estate ended, with its kind (`usage`,
    /// `clusters`, `long-term-pricing`), as sync_run_listings records it.
    pub estate_listings: Vec<(&'static str, ListingRecord)>,
    pub totals: RunTotals,
    /// Jobs this run found no longer listed (their `missing_since` was set).
    pub missing: u64,
    /// HTTP requests to the API, retries included, and the retries alone.
    pub api_requests: u64,
    pub api_retries: u64,
    /// From the database clock when the run row could be written.
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub elapsed: Duration,
    /// How long the details step took (`--details`).
    pub details_elapsed: Option<Duration>,
    pub dry_run: bool,
    /// The digest sealed in `sync_runs.digest` when the run's end was
    /// recorded; None for a dry run and for an end that was not recorded.
    pub digest: Option<[u8; 32]>,
}

/// A run that failed; `summary` is there when the run got as far as its
/// row in snowball.sync_runs.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub summary: Option<RunSummary>,
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            error: error.into(),
            summary: None,
        }
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.totals;
        write!(
            f,
            "{}{} {}{}: {} pages, {} jobs seen, {} new, {} changed, {} transitions{}{}{}{}{}{} in {:.2} s{}",
            if self.dry_run { "dry run: " } else { "" },
            match self.status {
                RunStatus::Succeeded => "synced",
                RunStatus::Partial => "partially synced",
                RunStatus::Running => "still syncing",
                RunStatus::Failed | RunStatus::Abandoned => "failed to sync",
            },
            match self.accounts.len() {
                0 | 1 => String::new(),
                n => format!("{n} accounts in "),
            },
            self.regions.join(", "),
            t.pages,
            t.jobs_seen,
            t.jobs_new,
            t.jobs_changed,
            t.transitions,
            if self.missing > 0 {
                format!(", {} no longer listed", self.missing)
            } else {
                String::new()
            },
            match (t.jobs_described, t.detail_changes) {
                (Some(described), Some(changes)) => {
                    format!(", {described} described, {changes} detail changes")
                }
                _ => String::new(),
            },
            match (t.reports_archived, t.report_bytes) {
                (Some(archived), Some(bytes)) => format!(
                    ", {archived} reports archived ({bytes} bytes; {} kept, {} only hashed)",
                    archived - t.reports_hashed_only.unwrap_or(0),
                    t.reports_hashed_only.unwrap_or(0)
                ),
                _ => String::new(),
            },
            match t.usage_changes {
                Some(changes) => format!(", {changes} usage changes"),
                None => String::new(),
            },
            match t.cluster_transitions {
                Some(transitions) => format!(", {transitions} cluster transitions"),
                None => String::new(),
            },
            match t.pricing_changes {
                Some(changes) => format!(", {changes} pricing changes"),
                None => String::new(),
            },
            self.elapsed.as_secs_f64(),
            if self.dry_run {
                " (nothing committed)"
            } else {
                ""
            },
        )
    }
}

impl RunSummary {
    /// Every listing of the run with its kind: ListJobs (`jobs`) first, then
    /// the estate's.
    pub fn all_listings(&self) -> impl Iterator<Item = (&'static str, &ListingRecord)> {
        self.listings
            .iter()
            .map(|l| ("jobs", l))
            .chain(self.estate_listings.iter().map(|(kind, l)| (*kind, l)))
    }

    /// The digest as published (JSON, log line, metrics): hexadecimal.
    pub fn digest_hex(&self) -> Option<String> {
        self.digest.as_ref().map(|d| crate::chain::hex(d))
    }

    /// The `--output json` object; its fields are documented in docs/operations.md.
    pub fn to_json(&self) -> serde_json::Value {
        let t = &self.totals;
        serde_json::json!({
            "run_id": self.run_id,
            "status": self.status.as_str(),
            "error": self.error,
            "dry_run": self.dry_run,
            "regions": self.regions,
            "accounts": self.accounts,
            "listings": self.all_listings().map(|(kind, l)| serde_json::json!({
                "kind": kind,
                "account_id": l.account_id,
                "region": l.region,
                "status": l.status().as_str(),
                "pages": l.pages,
                "jobs_seen": l.jobs_seen,
                "error": l.error,
            })).collect::<Vec<_>>(),
            "pages": t.pages,
            "jobs_seen": t.jobs_seen,
            "jobs_new": t.jobs_new,
            "jobs_changed": t.jobs_changed,
            "transitions": t.transitions,
            "jobs_missing": self.missing,
            "jobs_described": t.jobs_described,
            "detail_changes": t.detail_changes,
            "reports_archived": t.reports_archived,
            "reports_hashed_only": t.reports_hashed_only,
            "report_bytes": t.report_bytes,
            "usage_changes": t.usage_changes,
            "cluster_transitions": t.cluster_transitions,
            "pricing_changes": t.pricing_changes,
            "api_requests": self.api_requests,
            "api_retries": self.api_retries,
            "duration_seconds": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "details_seconds": self
                .details_elapsed
                .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            "started_at": self.started_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "finished_at": self.finished_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "digest": self.digest_hex(),
        })
    }
}

/// Runs one sync. `out` receives the dry run's list of changes; `shutdown`
/// resolving stops the run between pages.
pub async fn run(
    config: &SyncConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<RunSummary, Failure> {
    let started = Instant::now();
    let counter = aws::ApiCounter::default();
    // Who the credentials are is settled while PostgreSQL connects; a usage
    // error (no region, no account left) changes nothing.
    // The lock's session waits for other runs with --wait-lock: long by
    // design, not a slow statement to warn about.
    let lock_database = match config.wait_lock {
        true => config.database.without_slow_statement_warnings(),
        false => config.database.clone(),
    };
    let (identified, conn) =
        tokio::join!(identify(config, &counter), db::connect_one(&lock_database));
    let (regions, accounts) = identified?;
    let account_ids = accounts.ids();
    // Every account the run records is locked, reachable or not: a run that
    // finds all of a 'running' run's accounts free knows that run is dead.
    let mut lock = db::lock::acquire(conn?, &account_ids, config.wait_lock, &config.database)
        .await?
        .ok_or(Error::LockHeld)?;

    // The writers' connections (and one to spare) open while the schema is
    // checked: the listing starts once the run row is made, and its log
    // lines carry the run's id.
    let (prepared, pool) = tokio::join!(
        prepare(config, &mut lock),
        db::pool(&config.database, writing::WRITERS as u32 + 1)
    );
    prepared?;
    let pool = pool?;
    let sink = Sink::open(&pool, config.dry_run).await?;
    let run_id = sink
        .start_run(
            &regions,
            &account_ids,
            hostname().as_deref(),
            config.made_by,
        )
        .await?;
    // After the run row exists, so that each run marked here is told which
    // run marked it.
    if !config.dry_run {
        let abandoned = db::runs::abandon(lock.connection(), &account_ids, run_id).await?;
        if abandoned > 0 {
            tracing::warn!(
                run_id,
                abandoned,
                "marked runs left 'running' by a killed process or a lost session as 'abandoned'"
            );
        }
    }
    let span = tracing::info_span!("sync", run_id);
    span.in_scope(|| tracing::info!(?regions, accounts = ?account_ids, dry_run = config.dry_run, "sync started"));
    let lock = Mutex::new(lock);
    tokio::pin!(shutdown);

    // List every account and region, writing pages as they arrive.
    let listing = listing::start(config, &accounts.sources, &regions, &counter, &span);
    let expect = db::jobs::Expect::default();
    let writer = PageWriter {
        sink: &sink,
        lock: &lock,
        run_id,
        expect: &expect,
    };
    let outcome = unless_panicked(pipeline(config, listing, writer, out, &mut shutdown))
        .instrument(span.clone())
        .await
        .unwrap_or_else(|err| writing::Outcome {
            totals: RunTotals::default(),
            listings: Vec::new(),
            failure: Some(err),
            interrupted: None,
        });
    let listings = all_listings(outcome.listings, &accounts.unreachable, &regions);
    let mut end = RunEnd {
        totals: outcome.totals,
        missing: 0,
        failure: match (outcome.interrupted, outcome.failure) {
            (Some(signal), _) => Some(Error::Interrupted(signal)),
            (None, Some(err)) => Some(Error::Failed(err)),
            (None, None) => None,
        },
        details_error: None,
        details_elapsed: None,
        estate_error: None,
        estate_listings: Vec::new(),
    };
    // The listings' record does not wait for the count: at once.
    let listed_in_full = end.failure.is_none();
    let (completed, recorded) = tokio::join!(
        async {
            if listed_in_full {
                Some(complete(&sink, &lock, run_id, &listings, &mut end.totals).await)
            } else {
                None
            }
        },
        sink.record_listings(&lock, run_id, "jobs", &listings)
    );
    match completed {
        Some(Ok(missing)) => end.missing = missing,
        Some(Err(err)) => end.failure = Some(Error::Failed(err)),
        None => {}
    }
    if let Err(err) = recorded {
        end.failure.get_or_insert(Error::Failed(err));
    }

    // The estate beyond jobs, per account and region listed.
    if let (true, None) = (config.estate.any(), &end.failure) {
        let estate = estate::run(
            (&sink, &lock),
            run_id,
            &accounts.sources,
            &regions,
            config.estate,
            (config.concurrency, config.max_pages),
            &counter,
            &mut end,
        );
        if let Err(err) = unless_panicked(estate)
            .instrument(span.clone())
            .await
            .and_then(|done| done)
        {
            end.failure = Some(Error::Failed(err));
        }
    }

    // Describe what changed; the listings' results stand whatever this does.
    if let (Some(concurrency), None) = (config.details, &end.failure) {
        let archiver = config.reports.map(crate::archive::Archiver::new);
        let step = details::Step {
            sink: &sink,
            lock: &lock,
            run_id,
            sources: &accounts.sources,
            concurrency,
            counter: &counter,
            archiver: archiver.as_ref(),
        };
        if let Err(err) = unless_panicked(details::run(step, &mut end, &mut shutdown))
            .instrument(span.clone())
            .await
        {
            end.failure = Some(Error::Failed(err));
        }
    }

    // The run's one end, recorded once.
    let (status, message) = end.status(&listings);
    let (status, error, started_at, finished_at, digest) = match sink
        .finish(run_id, status, &end.totals, end.missing, message.as_deref())
        .await
    {
        // A dry run's digest is rolled back with the rest: it is no one's.
        Ok(ended) => (
            status,
            end.failure,
            ended.started_at,
            ended.finished_at,
            (!config.dry_run).then_some(ended.digest),
        ),
        Err(err) => {
            // Ended by another run: that is the error to report. Otherwise
            // the run's own failure stands, or, had it succeeded, this one:
            // a run whose success cannot be recorded has not succeeded.
            let already_ended = err.downcast_ref::<db::runs::AlreadyEnded>().is_some();
            if !already_ended {
                tracing::error!(error = %format!("{err:#}"), "could not record the end of the run; the next run will mark it abandoned");
            }
            // A run that found itself ended while writing says who ended it.
            let ended_elsewhere = matches!(&end.failure, Some(Error::Failed(failure))
                if failure.chain().any(|c| c.is::<db::runs::EndedElsewhere>()));
            let error = match end.failure {
                Some(failure) if !already_ended || ended_elsewhere => failure,
                _ => Error::Failed(err),
            };
            (RunStatus::Failed, Some(error), Utc::now(), Utc::now(), None)
        }
    };
    sink.close().await;
    let (released, ()) = tokio::join!(lock.into_inner().release(), pool.close());
    released.ok();

    let summary = RunSummary {
        run_id,
        status,
        error: error.as_ref().map(Error::chain),
        regions,
        accounts: account_ids,
        listings,
        estate_listings: end.estate_listings,
        totals: end.totals,
        missing: end.missing,
        api_requests: counter.requests(),
        api_retries: counter.retries(),
        started_at,
        finished_at,
        elapsed: started.elapsed(),
        details_elapsed: end.details_elapsed,
        dry_run: config.dry_run,
        digest,
    };
    // Log levels are what journald, Loki and -q key on: a run that did not
    // succeed ends on an ERROR line carrying the error.
    span.in_scope(|| match &summary.error {
        None => tracing::info!(run_id, digest = summary.digest_hex(), %summary, "sync finished"),
        Some(error) => {
            tracing::error!(run_id, digest = summary.digest_hex(), error, %summary, "sync finished")
        }
    });
    match error {
        None => Ok(summary),
        Some(error) => Err(Failure {
            error,
            summary: Some(summary),
        }),
    }
}

/// Runs `future`, turning a panic inside it into an error, so that a run
/// records its end (`failed`, with one line) whatever happens in it. What
/// the future held is dropped: an open transaction rolls back.
async fn unless_panicked<T>(future: impl Future<Output = T>) -> anyhow::Result<T> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::Poll;
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                Poll::Ready(Err(anyhow!(
                    "the run panicked: {}",
                    message.replace('\n', " ")
                )))
            }
        },
    )
    .await
}

/// The schema, before the run row: migrated (or checked, for a dry run).
async fn prepare(config: &SyncConfig, lock: &mut db::lock::RunLock) -> Result<(), Error> {
    if config.dry_run {
        db::ensure_migrated(lock.connection()).await?;
        return Ok(());
    }
    match config.migrate {
        true => db::migrate(lock.connection()).await?,
        // --no-migrate on a schema that is behind (or absent) says so,
        // instead of failing at the first table it lacks.
        false => db::ensure_migrated(lock.connection()).await?,
    }
    Ok(())
}

/// What a run has come to, step by step, until its end is recorded.
pub(crate) struct RunEnd {
    pub totals: RunTotals,
    /// Jobs this run marked missing.
    pub missing: u64,
    /// What stopped the run: a failed write, the database, a signal.
    pub failure: Option<Error>,
    /// Jobs the details step could not describe, on one line.
    pub details_error: Option<String>,
    pub details_elapsed: Option<Duration>,
    /// What the estate's calls (usage, clusters, terms) could not read, on one line.
    pub estate_error: Option<String>,
    /// How the estate's listings ended, by kind.
    pub estate_listings: Vec<(&'static str, ListingRecord)>,
}

impl RunEnd {
    /// The status to record, and the error text with it. Listings or
    /// descriptions failing while some listings succeeded is `partial`:
    /// what the run got is written.
    fn status(&mut self, listings: &[ListingRecord]) -> (RunStatus, Option<String>) {
        let failed: Vec<&ListingRecord> = listings.iter().filter(|l| !l.succeeded).collect();
        let only_parts_failed = self.failure.is_none()
            && (!failed.is_empty() || self.details_error.is_some() || self.estate_error.is_some());
        if only_parts_failed {
            let mut parts = Vec::new();
            if !failed.is_empty() {
                parts.push(listing_failures(&failed, listings.len()));
            }
            parts.extend(self.details_error.take());
            parts.extend(self.estate_error.take());
            self.failure = Some(Error::Failed(anyhow!(parts.join("; "))));
        }
        match &self.failure {
            None => (RunStatus::Succeeded, None),
            Some(Error::Failed(err)) if only_parts_failed && failed.len() < listings.len() => {
                (RunStatus::Partial, Some(format!("{err:#}")))
            }
            Some(Error::Failed(err)) => (RunStatus::Failed, Some(format!("{err:#}"))),
            Some(Error::Interrupted(_)) => (RunStatus::Failed, Some("interrupted".to_owned())),
            Some(other) => (RunStatus::Failed, Some(other.chain())),
        }
    }
}

/// After every write went through: count what the run saw and, for each
/// listing that completed, mark what it no longer lists. Returns the jobs
/// marked missing.
async fn complete(
    sink: &Sink,
    lock: &Mutex<db::lock::RunLock>,
    run_id: i64,
    listings: &[ListingRecord],
    totals: &mut RunTotals,
) -> anyhow::Result<u64> {
    let complete: Vec<Listed<'_>> = listings
        .iter()
        .filter(|l| l.succeeded)
        .map(|l| Listed {
            account_id: &l.account_id,
            region: &l.region,
        })
        .collect();
    let (seen, gone) = sink.count_seen_and_missing(run_id, &complete).await?;
    totals.jobs_seen = clamp(seen);
    // The run holds its accounts' locks: no other run marks or lists these
    // jobs in between.
    let missing = match gone {
        0 => 0,
        _ => sink.mark_missing(lock, run_id, &complete).await?,
    };
    if missing > 0 {
        tracing::warn!(
            missing,
            "jobs listed before are no longer listed; missing_since is set"
        );
    }
    Ok(missing)
}

fn resolve_regions(config: &SyncConfig, access: &aws::Access) -> Result<Vec<String>, Error> {
    let regions = if config.aws.regions.is_empty() {
        match access.default_region().filter(|r| !r.is_empty()) {
            Some(region) => vec![region],
            None => {
                return Err(Error::Usage(
                    "no AWS region: pass --region or set AWS_REGION".into(),
                ));
            }
        }
    } else {
        // Parsed, and repeats dropped, in config.
        config.aws.regions.iter().map(ToString::to_string).collect()
    };
    Ok(regions)
}

/// The regions and the accounts of a run. No region, or no account left
/// after --skip-account, is a usage error.
async fn identify(
    config: &SyncConfig,
    counter: &aws::ApiCounter,
) -> Result<(Vec<String>, Accounts), Error> {
    let access = aws::load(&config.aws).await;
    let regions = resolve_regions(config, &access)?;
    aws::ensure_credentials(&access).await?;
    let accounts =
        sources::resolve(&config.aws.accounts, &access, config.concurrency, counter).await?;
    if accounts.sources.is_empty() && accounts.unreachable.is_empty() {
        return Err(Error::Usage(
            "no account left to sync: --skip-account leaves out every account".into(),
        ));
    }
    Ok((regions, accounts))
}

/// The listings that ran, and one failed listing per region of each account
/// whose credentials failed, sorted by account and region.
fn all_listings(
    mut listings: Vec<ListingRecord>,
    unreachable: &[Unreachable],
    regions: &[String],
) -> Vec<ListingRecord> {
    let now = Utc::now();
    for account in unreachable {
        for region in regions {
            listings.push(ListingRecord {
                account_id: account.account_id.clone(),
                region: region.clone(),
                succeeded: false,
                pages: 0,
                jobs_seen: 0,
                error: Some(format!("{region}: {}", account.error)),
                started_at: now,
                finished_at: now,
            });
        }
    }
    listings.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));
    listings
}

/// The failed listings on one line, each naming its account and region.
fn listing_failures(failed: &[&ListingRecord], total: usize) -> String {
    let each: Vec<String> = failed
        .iter()
        .map(|l| {
            format!(
                "{}: {}",
                l.account_id,
                l.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    match total {
        1 => each.join("; "),
        _ => format!(
            "{} of {total} listings failed: {}",
            failed.len(),
            each.join("; ")
        ),
    }
}

fn clamp(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_inside_a_run_becomes_its_one_line_error() {
        let caught = unless_panicked(async {
            tokio::task::yield_now().await;
            panic!("a bug\nover two lines")
        })
        .await;
        let err = caught.err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the run panicked: a bug over two lines")
        );
        assert_eq!(unless_panicked(async { 7 }).await.ok(), Some(7));
    }
}
