//! The sync pipeline: one fetcher per region pages through ListJobs and hands
//! pages over a bounded channel to one writer, which writes each page in its
//! own transaction. Fetching page k+1 overlaps writing page k; memory holds
//! at most a few pages, whatever the fleet size.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::SyncConfig;
use crate::db::{self, jobs::Transition, lock::RunLock, runs::RunStatus, runs::RunTotals};
use crate::error::Error;
use crate::exit_code::Signal;
use crate::job::JobRecord;
use crate::snowball::{self, Page};

/// Pages waiting between the fetchers and the writer: memory stays bounded
/// (a page is at most 100 jobs) whatever the fleet size.
const PAGE_BUFFER: usize = 8;
/// Most pages written in one transaction when the writer falls behind.
const MAX_BATCH_PAGES: usize = PAGE_BUFFER + 1;
/// A statement's parameters stay under about this size (two or three pages).
/// Measured with scripts/bench.py: larger statements were slower per job
/// (a 1 MiB statement re-synced 100 000 jobs in 2.5 s against 1.9 s), smaller
/// ones pay more round trips.
const STATEMENT_BYTES: usize = 32 * 1024;
/// Attempts at writing one page when the database connection fails under it.
const WRITE_ATTEMPTS: u32 = 3;

/// What a run reports, succeeded or failed: the summary line, `--output
/// json` and the metrics file are all made from it.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub regions: Vec<String>,
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
    pub dry_run: bool,
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
            "{}{} {}: {} pages, {} jobs seen, {} new, {} changed, {} transitions{} in {:.2} s{}",
            if self.dry_run { "dry run: " } else { "" },
            match self.status {
                RunStatus::Succeeded => "synced",
                RunStatus::Failed => "failed to sync",
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
    /// The `--output json` object; its fields are documented in the README.
    pub fn to_json(&self) -> serde_json::Value {
        let t = &self.totals;
        serde_json::json!({
            "run_id": self.run_id,
            "status": self.status.as_str(),
            "error": self.error,
            "dry_run": self.dry_run,
            "regions": self.regions,
            "pages": t.pages,
            "jobs_seen": t.jobs_seen,
            "jobs_new": t.jobs_new,
            "jobs_changed": t.jobs_changed,
            "transitions": t.transitions,
            "jobs_missing": self.missing,
            "api_requests": self.api_requests,
            "api_retries": self.api_retries,
            "duration_seconds": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "started_at": self.started_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "finished_at": self.finished_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        })
    }
}

/// Where pages go: committed a batch per transaction, or, for a dry run,
/// into one transaction that is rolled back at the end.
enum Sink {
    Live(PgPool),
    DryRun(Mutex<Transaction<'static, Postgres>>),
}

impl Sink {
    /// Batches written at once: two on their own connections (PostgreSQL
    /// does the work of a write, so the second core is used), one in a dry run.
    fn writers(&self) -> usize {
        match self {
            Sink::Live(_) => 2,
            Sink::DryRun(_) => 1,
        }
    }

    async fn start_run(&self, regions: &[String]) -> anyhow::Result<i64> {
        let host = hostname();
        match self {
            Sink::Live(pool) => db::runs::start(pool, regions, host.as_deref()).await,
            Sink::DryRun(tx) => {
                db::runs::start(&mut **tx.lock().await, regions, host.as_deref()).await
            }
        }
    }

    async fn write(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        pages: &[Page],
    ) -> anyhow::Result<Vec<Transition>> {
        match self {
            Sink::DryRun(tx) => {
                let mut tx = tx.lock().await;
                let mut transitions = Vec::new();
                for statement in statements(pages) {
                    transitions.extend(db::jobs::write_jobs(&mut **tx, run_id, &statement).await?);
                }
                Ok(transitions)
            }
            Sink::Live(pool) => {
                let mut attempt = 1;
                loop {
                    match write_committed(pool, lock, run_id, pages).await {
                        Ok(transitions) => return Ok(transitions),
                        // A lost connection (say, a server restart) rolled the
                        // batch back whole; writing it again is idempotent.
                        Err(err) if attempt < WRITE_ATTEMPTS && is_connection_error(&err) => {
                            tracing::warn!(error = %format!("{err:#}"), attempt, "page write lost its connection; retrying");
                            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt)))
                                .await;
                            attempt += 1;
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
        }
    }

    async fn mark_missing(&self, run_id: i64, regions: &[String]) -> anyhow::Result<u64> {
        match self {
            Sink::Live(pool) => db::jobs::mark_missing(pool, run_id, regions).await,
            Sink::DryRun(tx) => {
                db::jobs::mark_missing(&mut **tx.lock().await, run_id, regions).await
            }
        }
    }

    async fn count_seen(&self, run_id: i64) -> anyhow::Result<i64> {
        match self {
            Sink::Live(pool) => db::jobs::count_seen_by_run(pool, run_id).await,
            Sink::DryRun(tx) => db::jobs::count_seen_by_run(&mut **tx.lock().await, run_id).await,
        }
    }

    async fn finish(
        &self,
        run_id: i64,
        status: RunStatus,
        totals: &RunTotals,
        missing: u64,
        error: Option<&str>,
    ) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
        match self {
            Sink::Live(pool) => {
                db::runs::finish(pool, run_id, status, totals, missing, error).await
            }
            Sink::DryRun(tx) => {
                let tx = &mut **tx.lock().await;
                db::runs::finish(tx, run_id, status, totals, missing, error).await
            }
        }
    }
}

async fn write_committed(
    pool: &PgPool,
    lock: &Mutex<RunLock>,
    run_id: i64,
    pages: &[Page],
) -> anyhow::Result<Vec<Transition>> {
    let mut tx = pool.begin().await.context("starting a page transaction")?;
    let write = async {
        let mut transitions = Vec::new();
        for statement in statements(pages) {
            transitions.extend(db::jobs::write_jobs(&mut *tx, run_id, &statement).await?);
        }
        anyhow::Ok(transitions)
    };
    // The lock check runs beside the write, on its own connection, so it adds
    // no round trip to the batch's path.
    let (written, held) = tokio::join!(write, async { lock.lock().await.ensure_held().await });
    held?;
    let transitions = written?;
    tx.commit().await.context("committing a page")?;
    Ok(transitions)
}

/// The statements for a batch of pages, in listing order. A statement ends
/// before a job it already holds, so a job listed twice is written twice, in
/// the order received, each listing an observation of its own; and before it
/// would exceed `STATEMENT_BYTES`.
fn statements(pages: &[Page]) -> Vec<Vec<(&str, &JobRecord)>> {
    let mut statements = Vec::new();
    let mut current: Vec<(&str, &JobRecord)> = Vec::new();
    let mut ids = HashSet::new();
    let mut bytes = 0;
    for page in pages {
        for job in &page.jobs {
            let size = estimated_bytes(job);
            if !current.is_empty()
                && (ids.contains(job.job_id.as_str()) || bytes + size > STATEMENT_BYTES)
            {
                statements.push(std::mem::take(&mut current));
                ids.clear();
                bytes = 0;
            }
            ids.insert(job.job_id.as_str());
            bytes += size;
            current.push((page.region.as_str(), job));
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    statements
}

/// Roughly what a job adds to a statement's parameters on the wire.
fn estimated_bytes(job: &JobRecord) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    64 + job.job_id.len()
        + job.job_state.len()
        + text(&job.job_type)
        + text(&job.snowball_type)
        + text(&job.description)
}

fn is_connection_error(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Protocol(_)
            )
        ) || cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            // admin_shutdown, crash_shutdown, cannot_connect_now
            .is_some_and(|code| matches!(&*code, "57P01" | "57P02" | "57P03"))
    })
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Runs one sync. `out` receives the dry run's list of changes; `shutdown`
/// resolving stops the run between pages.
pub async fn run(
    config: &SyncConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<RunSummary, Failure> {
    let started = Instant::now();
    let started_at = Utc::now();
    let (sdk, conn) = tokio::join!(
        snowball::load_sdk_config(&config.aws),
        db::connect_one(&config.database)
    );
    // Settle the regions before anything is written: a usage error changes nothing.
    let regions = resolve_regions(config, &sdk)?;
    let mut lock = db::lock::acquire(conn?, config.wait_lock, &config.database)
        .await?
        .ok_or(Error::LockHeld)?;

    if config.dry_run {
        db::ensure_migrated(lock.connection()).await?;
    } else {
        if config.migrate {
            db::migrate(lock.connection()).await?;
        }
        let abandoned = db::runs::abandon_running(lock.connection()).await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "marked runs left 'running' by a killed process as 'abandoned'"
            );
        }
    }

    let pool = db::pool(&config.database, 3).await?;
    let sink = if config.dry_run {
        Sink::DryRun(Mutex::new(
            pool.begin()
                .await
                .context("starting the dry run's transaction")?,
        ))
    } else {
        Sink::Live(pool.clone())
    };
    let run_id = sink.start_run(&regions).await?;
    let span = tracing::info_span!("sync", run_id);
    span.in_scope(|| tracing::info!(?regions, dry_run = config.dry_run, "sync started"));
    let counter = snowball::ApiCounter::default();
    let listing = start_listing(config, &sdk, &regions, &counter, &span);
    let lock = Mutex::new(lock);
    let writer = PageWriter {
        sink: &sink,
        lock: &lock,
        run_id,
    };
    let outcome = pipeline(config, listing, writer, out, shutdown)
        .instrument(span.clone())
        .await;
    let mut totals = outcome.totals;
    let mut missing = 0;
    let failure = match (outcome.interrupted, outcome.failure) {
        (Some(signal), _) => Some(Error::Interrupted(signal)),
        (None, Some(err)) => Some(Error::Failed(err)),
        (None, None) => match complete(&sink, run_id, &regions, &mut totals).await {
            Ok(marked) => {
                missing = marked;
                None
            }
            Err(err) => Some(Error::Failed(err)),
        },
    };
    let (status, message) = match &failure {
        None => (RunStatus::Succeeded, None),
        Some(Error::Failed(err)) => (RunStatus::Failed, Some(format!("{err:#}"))),
        Some(Error::Interrupted(_)) => (RunStatus::Failed, Some("interrupted".to_owned())),
        Some(other) => (RunStatus::Failed, Some(other.chain())),
    };
    let (status, error, started_at, finished_at) = match sink
        .finish(run_id, status, &totals, missing, message.as_deref())
        .await
    {
        Ok((started_at, finished_at)) => (status, failure, started_at, finished_at),
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "could not record the end of the run; the next run will mark it abandoned");
            // A run whose success cannot be recorded has not succeeded.
            let error = failure.unwrap_or(Error::Failed(err));
            (RunStatus::Failed, Some(error), started_at, Utc::now())
        }
    };
    if let Sink::DryRun(tx) = sink
        && let Err(err) = tx.into_inner().rollback().await
    {
        tracing::warn!(error = %err, "rolling back the dry run failed; closing its connection rolls it back");
    }
    lock.into_inner().release().await.ok();
    pool.close().await;
    let summary = RunSummary {
        run_id,
        status,
        error: error.as_ref().map(Error::chain),
        regions,
        totals,
        missing,
        api_requests: counter.requests(),
        api_retries: counter.retries(),
        started_at,
        finished_at,
        elapsed: started.elapsed(),
        dry_run: config.dry_run,
    };
    // Log levels are what journald, Loki and -q key on: a run that did not
    // succeed ends on an ERROR line carrying the error.
    span.in_scope(|| match &summary.error {
        None => tracing::info!(run_id, %summary, "sync finished"),
        Some(error) => tracing::error!(run_id, error, %summary, "sync finished"),
    });
    match error {
        None => Ok(summary),
        Some(error) => Err(Failure {
            error,
            summary: Some(summary),
        }),
    }
}

/// After every listing ended well: count what the run saw and mark what it no
/// longer sees. Returns the jobs marked missing.
async fn complete(
    sink: &Sink,
    run_id: i64,
    regions: &[String],
    totals: &mut RunTotals,
) -> anyhow::Result<u64> {
    totals.jobs_seen = i32::try_from(sink.count_seen(run_id).await?).unwrap_or(i32::MAX);
    let missing = sink.mark_missing(run_id, regions).await?;
    if missing > 0 {
        tracing::warn!(
            missing,
            "jobs listed before are no longer listed; missing_since is set"
        );
    }
    Ok(missing)
}

fn resolve_regions(config: &SyncConfig, sdk: &aws_config::SdkConfig) -> Result<Vec<String>, Error> {
    let mut regions = if config.aws.regions.is_empty() {
        match sdk
            .region()
            .map(ToString::to_string)
            .filter(|r| !r.is_empty())
        {
            Some(region) => vec![region],
            None => {
                return Err(Error::Usage(
                    "no AWS region: pass --region or set AWS_REGION".into(),
                ));
            }
        }
    } else {
        config.aws.regions.clone()
    };
    regions.dedup();
    Ok(regions)
}

/// What the pipeline writes pages through.
#[derive(Clone, Copy)]
struct PageWriter<'a> {
    sink: &'a Sink,
    lock: &'a Mutex<RunLock>,
    run_id: i64,
}

struct Outcome {
    totals: RunTotals,
    failure: Option<anyhow::Error>,
    interrupted: Option<Signal>,
}

/// The regions' fetchers and the channel their pages arrive on.
struct Listing {
    fetchers: JoinSet<anyhow::Result<u32>>,
    pages: mpsc::Receiver<Page>,
}

/// Starts one fetcher per region; each waits once the channel is full.
fn start_listing(
    config: &SyncConfig,
    sdk: &aws_config::SdkConfig,
    regions: &[String],
    counter: &snowball::ApiCounter,
    span: &tracing::Span,
) -> Listing {
    let (tx, pages) = mpsc::channel::<Page>(PAGE_BUFFER);
    let mut fetchers = JoinSet::new();
    for region in regions {
        let client = snowball::client(sdk, region, counter);
        let region = region.clone();
        let tx = tx.clone();
        let (page_size, max_pages) = (config.page_size, config.max_pages);
        let fetch = async move {
            snowball::list_region(&client, &region, page_size, max_pages, |page| {
                let tx = tx.clone();
                async move {
                    tx.send(page)
                        .await
                        .map_err(|_| anyhow!("the writer stopped"))
                }
            })
            .await
        };
        // A spawned task leaves the run's span behind unless given it: its
        // log lines must carry the run id too.
        fetchers.spawn(fetch.instrument(span.clone()));
    }
    Listing { fetchers, pages }
}

async fn pipeline(
    config: &SyncConfig,
    listing: Listing,
    writer: PageWriter<'_>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Outcome {
    let Listing {
        mut fetchers,
        pages: mut rx,
    } = listing;
    let mut outcome = Outcome {
        totals: RunTotals::default(),
        failure: None,
        interrupted: None,
    };
    tokio::pin!(shutdown);
    let writers = writer.sink.writers();
    // Up to two batches are written at once, each in its own transaction.
    let mut slot_a: Option<Slot> = None;
    let mut slot_b: Option<Slot> = None;
    // A batch received but not yet started: it shares a job with a batch
    // being written, or every writer is busy.
    let mut pending: Option<Vec<Page>> = None;
    // The channel may still hold pages.
    let mut receiving = true;
    // A write failed or a signal came: start nothing more, finish what runs.
    let mut stopping = false;
    loop {
        if let Some(batch) = pending.take() {
            let ids = job_ids(&batch);
            // A batch sharing a job with one being written waits for it, so
            // the writes of each job keep the order the listings gave them.
            let clear = [&slot_a, &slot_b]
                .iter()
                .all(|slot| slot.as_ref().is_none_or(|s| s.ids.is_disjoint(&ids)));
            let free = if slot_a.is_none() {
                Some(&mut slot_a)
            } else if slot_b.is_none() && writers > 1 {
                Some(&mut slot_b)
            } else {
                None
            };
            match free {
                Some(free) if clear => *free = Some(start(writer, batch, ids)),
                _ => pending = Some(batch),
            }
        }
        let idle = slot_a.is_none() && slot_b.is_none() && pending.is_none();
        if idle && (stopping || !receiving) {
            break;
        }
        let can_receive = receiving
            && !stopping
            && pending.is_none()
            && (slot_a.is_none() || (writers > 1 && slot_b.is_none()));
        tokio::select! {
            biased;
            signal = &mut shutdown, if outcome.interrupted.is_none() => {
                tracing::warn!(?signal, "stopping: the pages being written are finished, nothing more is fetched");
                outcome.interrupted = Some(signal);
                fetchers.abort_all();
                stopping = true;
                pending = None;
            }
            Some(joined) = fetchers.join_next() => {
                // Pages already received are true observations: write them, then fail.
                if !fetched(&mut outcome, joined) {
                    fetchers.abort_all();
                }
            }
            (batch, result) = drive(&mut slot_a), if slot_a.is_some() => {
                slot_a = None;
                if !written(config, &mut outcome, out, &batch, result) {
                    fetchers.abort_all();
                    stopping = true;
                    pending = None;
                }
            }
            (batch, result) = drive(&mut slot_b), if slot_b.is_some() => {
                slot_b = None;
                if !written(config, &mut outcome, out, &batch, result) {
                    fetchers.abort_all();
                    stopping = true;
                    pending = None;
                }
            }
            page = rx.recv(), if can_receive => match page {
                None => receiving = false,
                Some(page) => {
                    // The pages waiting go into one transaction: fewer round
                    // trips and commits when the writers fall behind.
                    let mut batch = vec![page];
                    while batch.len() < MAX_BATCH_PAGES {
                        match rx.try_recv() {
                            Ok(page) => batch.push(page),
                            Err(_) => break,
                        }
                    }
                    pending = Some(batch);
                }
            },
            else => {
                // Unreachable by construction; never let pages go unwritten quietly.
                outcome.failure.get_or_insert(anyhow!("internal error: the sync pipeline stalled"));
                fetchers.abort_all();
                break;
            }
        }
    }
    // A listing's end closes its channel before the JoinSet reports it: collect
    // every fetcher's result here, or a failed listing would look complete.
    while let Some(joined) = fetchers.join_next().await {
        fetched(&mut outcome, joined);
    }
    outcome
}

/// Accounts for a finished fetcher; false when its listing failed.
fn fetched(
    outcome: &mut Outcome,
    joined: Result<anyhow::Result<u32>, tokio::task::JoinError>,
) -> bool {
    let failure = match joined {
        Ok(Ok(_pages)) => return true,
        Err(err) if err.is_cancelled() => return true,
        Ok(Err(err)) => err,
        Err(err) => anyhow!("a listing task failed: {err}"),
    };
    outcome.failure.get_or_insert(failure);
    false
}

/// A finished write: the batch and what became of it.
type Written = (Vec<Page>, anyhow::Result<Vec<Transition>>);

/// A batch being written.
struct Slot<'a> {
    ids: HashSet<String>,
    write: Pin<Box<dyn Future<Output = Written> + 'a>>,
}

fn start<'a>(writer: PageWriter<'a>, batch: Vec<Page>, ids: HashSet<String>) -> Slot<'a> {
    let write = async move {
        let result = writer.sink.write(writer.lock, writer.run_id, &batch).await;
        (batch, result)
    };
    Slot {
        ids,
        write: Box::pin(write),
    }
}

/// Runs a slot's write to its end; never resolves for an empty slot.
async fn drive(slot: &mut Option<Slot<'_>>) -> Written {
    match slot {
        Some(slot) => slot.write.as_mut().await,
        None => std::future::pending().await,
    }
}

fn job_ids(batch: &[Page]) -> HashSet<String> {
    batch
        .iter()
        .flat_map(|page| page.jobs.iter().map(|job| job.job_id.clone()))
        .collect()
}

/// Accounts for a finished write; false when it failed.
fn written(
    config: &SyncConfig,
    outcome: &mut Outcome,
    out: &mut (dyn Write + Send),
    batch: &[Page],
    result: anyhow::Result<Vec<Transition>>,
) -> bool {
    match result {
        Ok(transitions) => {
            outcome.totals.pages += batch.len() as i32;
            count(&mut outcome.totals, &transitions);
            tracing::debug!(
                pages = batch.len(),
                transitions = transitions.len(),
                "batch written"
            );
            if config.dry_run {
                report_changes(out, &transitions);
            }
            true
        }
        Err(err) => {
            outcome.failure.get_or_insert(err);
            false
        }
    }
}

fn count(totals: &mut RunTotals, transitions: &[Transition]) {
    for t in transitions {
        totals.transitions += 1;
        if t.from_state.is_some() {
            totals.jobs_changed += 1;
        } else {
            totals.jobs_new += 1;
        }
    }
}

fn report_changes(out: &mut (dyn Write + Send), transitions: &[Transition]) {
    for t in transitions {
        let line = match &t.from_state {
            None => writeln!(out, "would add {} ({})", t.job_id, t.to_state),
            Some(from) => writeln!(out, "would record {}: {} -> {}", t.job_id, from, t.to_state),
        };
        if line.is_err() {
            // stdout closed (e.g. piped into head): the run itself goes on.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(region: &str, ids: &[&str]) -> Page {
        let jobs = ids
            .iter()
            .map(|id| JobRecord {
                job_id: id.to_string(),
                job_state: "New".into(),
                job_type: None,
                snowball_type: None,
                is_master: None,
                creation_date: None,
                description: None,
            })
            .collect();
        Page {
            region: region.into(),
            number: 1,
            jobs,
        }
    }

    fn shape(statements: Vec<Vec<(&str, &JobRecord)>>) -> Vec<Vec<String>> {
        statements
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|(region, job)| format!("{region}:{}", job.job_id))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn waiting_pages_share_one_statement_until_a_job_repeats() {
        let pages = [
            page("a", &["J1", "J2"]),
            page("b", &["J3"]),
            page("b", &["J2", "J4"]),
        ];
        assert_eq!(
            shape(statements(&pages)),
            [vec!["a:J1", "a:J2", "b:J3"], vec!["b:J2", "b:J4"]]
        );
    }

    #[test]
    fn statements_stay_under_the_size_limit() {
        let ids: Vec<String> = (0..1000).map(|i| format!("JID{i:036}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let pages = [page("r", &refs)];
        let statements = statements(&pages);
        assert!(statements.len() > 1);
        assert_eq!(statements.iter().map(Vec::len).sum::<usize>(), 1000);
        for statement in &statements {
            let bytes: usize = statement.iter().map(|(_, job)| estimated_bytes(job)).sum();
            assert!(bytes <= STATEMENT_BYTES);
        }
    }
}
