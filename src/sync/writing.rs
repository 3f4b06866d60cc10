//! Writing: the pages that arrive become batches, each written whole in one
//! transaction, up to `WRITERS` batches at once on their own connections
//! (PostgreSQL does the work of a write, so every core is used). Fetching overlaps writing;
//! memory holds at most a few pages, whatever the fleet size.
//!
//! Large because the batching writer and its transaction discipline (the
//! lost-lock guard, a dry run's savepoints, job-disjoint batches) must be
//! read together.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context, anyhow};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{Mutex, mpsc};

use super::listing::Listing;
use crate::aws::Page;
use crate::config::SyncConfig;
use crate::db::details::ToDescribe;
use crate::db::jobs::{Expect, Listed, Transition};
use crate::db::runs::ListingRecord;
use crate::db::{self, lock::RunLock, runs::RunStatus, runs::RunTotals};
use crate::detail::DetailRecord;
use crate::exit_code::Signal;
use crate::job::JobRecord;

/// About the most a batch's jobs add to its statements' parameters
/// (`estimated_bytes`): the pages waiting when a writer is free go into one
/// transaction up to this (about 68 pages of the simulator's jobs, a few when
/// descriptions are long), so memory stays bounded whatever the pages hold.
/// Fewer transactions when the writers fall behind: nine pages at most took
/// a 0 ms unchanged re-sync of 100 000 jobs 1.20 s against 0.97 s for 64
/// (scripts/bench.py resync; benchmarks/results/2026-12-02-page-buffer.md).
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// A statement's parameters stay under about this size (two or three pages).
/// Measured with scripts/bench.py: larger statements were slower per job
/// (a 1 MiB statement re-synced 100 000 jobs in 2.5 s against 1.9 s), smaller
/// ones pay more round trips.
const STATEMENT_BYTES: usize = 32 * 1024;
/// Batches a live run writes at once, each on its own connection. With two,
/// a 100 000-job first sync at 0 ms used 1.5 of the machine's two cores (a
/// writer waits for its commit and its round trips); three took 1.94 s
/// against 2.07 s and re-synced it unchanged in 1.00 s against 1.09 s
/// (medians of eight alternations); four took 1.95 s and 1.02 s against
/// three's 1.92 s and 1.07 s in five, no clear gain for another connection.
pub const WRITERS: usize = 3;
/// Attempts at writing one page when the database connection fails under it.
const WRITE_ATTEMPTS: u32 = 3;

/// Where pages go: committed a batch per transaction, or, for a dry run,
/// into one transaction that is rolled back at the end.
pub enum Sink {
    Live(PgPool),
    DryRun(Mutex<Transaction<'static, Postgres>>),
}

/// Runs `$body` with `$db` bound to the sink's executor: the pool, or the
/// dry run's one transaction.
macro_rules! on_sink {
    ($sink:expr, |$db:ident| $body:expr) => {
        match $sink {
            Sink::Live(pool) => {
                let $db = pool;
                $body
            }
            Sink::DryRun(tx) => {
                let $db = &mut **tx.lock().await;
                $body
            }
        }
    };
}

impl Sink {
    /// The pool, or for a dry run one transaction on it.
    pub async fn open(pool: &PgPool, dry_run: bool) -> anyhow::Result<Sink> {
        Ok(match dry_run {
            true => Sink::DryRun(Mutex::new(
                pool.begin()
                    .await
                    .context("starting the dry run's transaction")?,
            )),
            false => Sink::Live(pool.clone()),
        })
    }

    /// Ends the sink: a dry run's transaction is rolled back.
    pub async fn close(self) {
        if let Sink::DryRun(tx) = self
            && let Err(err) = tx.into_inner().rollback().await
        {
            tracing::warn!(error = %err, "rolling back the dry run failed; closing its connection rolls it back");
        }
    }

    /// Batches written at once: WRITERS on their own connections, one in a
    /// dry run.
    pub fn writers(&self) -> usize {
        match self {
            Sink::Live(_) => WRITERS,
            Sink::DryRun(_) => 1,
        }
    }

    pub async fn start_run(
        &self,
        regions: &[String],
        accounts: &[String],
        host: Option<&str>,
        made_by: db::runs::MadeBy,
    ) -> anyhow::Result<i64> {
        on_sink!(self, |db| db::runs::start(
            db, regions, accounts, host, made_by
        )
        .await)
    }

    async fn write(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        pages: &[Page],
        expect: &Expect,
    ) -> anyhow::Result<Vec<Transition>> {
        match self {
            Sink::DryRun(tx) => {
                let mut tx = tx.lock().await;
                let mut transitions = Vec::new();
                for statement in statements(pages) {
                    transitions
                        .extend(db::jobs::write_jobs(&mut tx, run_id, &statement, expect).await?);
                }
                Ok(transitions)
            }
            Sink::Live(pool) => {
                let mut attempt = 1;
                loop {
                    match write_committed(pool, lock, run_id, pages, expect).await {
                        Ok(transitions) => return Ok(transitions),
                        // A lost connection (say, a server restart) or a job
                        // changed under the batch rolled it back whole;
                        // writing it again is idempotent.
                        Err(err) if attempt < WRITE_ATTEMPTS && is_retryable(&err) => {
                            tracing::warn!(error = %format!("{err:#}"), attempt, "page write failed and was rolled back; retrying");
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

    pub async fn mark_missing(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        listed: &[Listed<'_>],
    ) -> anyhow::Result<u64> {
        self.in_transaction(lock, run_id, "marking missing jobs", async |db| {
            db::jobs::mark_missing(db, run_id, listed).await
        })
        .await
    }

    pub async fn record_listings(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        kind: &str,
        listings: &[ListingRecord],
    ) -> anyhow::Result<()> {
        self.in_transaction(lock, run_id, "recording the run's listings", async |db| {
            db::runs::record_listings(db, run_id, kind, listings).await
        })
        .await
    }

    pub async fn record_usage(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        observations: &[db::usage::Observation],
    ) -> anyhow::Result<u64> {
        self.in_transaction(lock, run_id, "recording device usage", async |db| {
            db::usage::record(db, run_id, observations).await
        })
        .await
    }

    /// The stored clusters of these accounts, to decide each one's calls.
    pub async fn stored_clusters(
        &self,
        accounts: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, db::clusters::Stored>> {
        on_sink!(self, |db| db::clusters::stored(db, accounts).await)
    }

    /// Writes the listed clusters, their member jobs, and marks the clusters
    /// of each complete listing that it no longer lists, in one transaction.
    /// Returns the history rows written and the clusters marked missing.
    pub async fn record_clusters(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        listed: &[(&str, &str, &crate::estate::ClusterRecord)],
        members: &[(&str, &str)],
        complete: &[(&str, &str)],
    ) -> anyhow::Result<(u64, u64)> {
        self.in_transaction(lock, run_id, "writing the clusters", async |tx| {
            let transitions = db::clusters::write(&mut *tx, run_id, listed).await?;
            db::clusters::set_members(&mut *tx, members).await?;
            let missing = db::clusters::mark_missing(&mut *tx, run_id, complete).await?;
            Ok((transitions, missing))
        })
        .await
    }

    /// Writes the listed terms and marks the terms of each complete listing
    /// that it no longer lists, in one transaction. Returns the history rows
    /// written and the terms marked missing.
    pub async fn record_terms(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        listed: &[(&str, &str, &crate::estate::TermRecord)],
        complete: &[(&str, &str)],
    ) -> anyhow::Result<(u64, u64)> {
        self.in_transaction(
            lock,
            run_id,
            "writing the long-term pricing terms",
            async |tx| {
                let changes = db::pricing::write(&mut *tx, run_id, listed).await?;
                let missing = db::pricing::mark_missing(&mut *tx, run_id, complete).await?;
                Ok((changes, missing))
            },
        )
        .await
    }

    /// Runs what a run writes: a live run's `body` in a transaction of its
    /// own that first confirms the run may still write
    /// (`db::lock::begin_writing`); a dry run's in a savepoint of its one
    /// transaction, so that a statement PostgreSQL refuses leaves it usable,
    /// as a live run's own transaction would.
    async fn in_transaction<T>(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        what: &'static str,
        body: impl AsyncFnOnce(&mut sqlx::PgConnection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match self {
            Sink::Live(pool) => {
                let mut tx = db::lock::begin_writing(pool, lock, run_id)
                    .await
                    .context(what)?;
                let done = body(&mut tx).await?;
                tx.commit().await.context(what)?;
                Ok(done)
            }
            Sink::DryRun(tx) => {
                let mut outer = tx.lock().await;
                let mut savepoint = sqlx::Acquire::begin(&mut **outer).await.context(what)?;
                let done = body(&mut savepoint).await?;
                savepoint.commit().await.context(what)?;
                Ok(done)
            }
        }
    }

    /// The jobs the run has seen, and those `mark_missing` would mark.
    pub async fn count_seen_and_missing(
        &self,
        run_id: i64,
        listed: &[Listed<'_>],
    ) -> anyhow::Result<(i64, i64)> {
        on_sink!(self, |db| db::jobs::count_seen_and_missing(
            db, run_id, listed
        )
        .await)
    }

    pub async fn to_describe(
        &self,
        run_id: i64,
        main_jobs: bool,
        reports: Option<i64>,
        after: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<ToDescribe>> {
        on_sink!(self, |db| db::details::to_describe(
            db, run_id, main_jobs, reports, after, limit
        )
        .await)
    }

    pub async fn set_main_jobs(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        parts: &[&str],
        mains: &[&str],
    ) -> anyhow::Result<()> {
        self.in_transaction(lock, run_id, "recording main jobs", async |db| {
            db::details::set_main_jobs(db, parts, mains).await
        })
        .await
    }

    pub async fn set_offered_kinds(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        job_ids: &[&str],
        offered: &[String],
    ) -> anyhow::Result<()> {
        self.in_transaction(lock, run_id, "recording the reports offered", async |db| {
            db::archive::set_offered_kinds(db, job_ids, offered).await
        })
        .await
    }

    /// The pool of a live run; None for a dry run, which archives nothing.
    pub fn pool(&self) -> Option<&PgPool> {
        match self {
            Sink::Live(pool) => Some(pool),
            Sink::DryRun(_) => None,
        }
    }

    pub async fn write_details(
        &self,
        lock: &Mutex<RunLock>,
        run_id: i64,
        details: &[DetailRecord],
    ) -> anyhow::Result<(i64, i64)> {
        self.in_transaction(lock, run_id, "writing job details", async |db| {
            db::details::write_details(db, run_id, details).await
        })
        .await
    }

    pub async fn finish(
        &self,
        run_id: i64,
        status: RunStatus,
        totals: &RunTotals,
        missing: u64,
        error: Option<&str>,
    ) -> anyhow::Result<db::runs::Ended> {
        match self {
            Sink::Live(pool) => {
                let mut conn = pool
                    .acquire()
                    .await
                    .context("recording the end of the run")?;
                db::runs::finish(&mut conn, run_id, status, totals, missing, error).await
            }
            Sink::DryRun(tx) => {
                db::runs::finish(
                    &mut **tx.lock().await,
                    run_id,
                    status,
                    totals,
                    missing,
                    error,
                )
                .await
            }
        }
    }
}

async fn write_committed(
    pool: &PgPool,
    lock: &Mutex<RunLock>,
    run_id: i64,
    pages: &[Page],
    expect: &Expect,
) -> anyhow::Result<Vec<Transition>> {
    let mut tx = db::lock::begin_writing(pool, lock, run_id)
        .await
        .context("starting a page transaction")?;
    let mut transitions = Vec::new();
    for statement in statements(pages) {
        transitions.extend(db::jobs::write_jobs(&mut tx, run_id, &statement, expect).await?);
    }
    tx.commit().await.context("committing a page")?;
    Ok(transitions)
}

/// The statements for a batch of pages, in listing order. A statement ends
/// before a job it already holds, so a job listed twice is written twice, in
/// the order received, each listing an observation of its own; and before it
/// would exceed `STATEMENT_BYTES`.
fn statements(pages: &[Page]) -> Vec<Vec<(Listed<'_>, &JobRecord)>> {
    let mut statements = Vec::new();
    let mut current: Vec<(Listed<'_>, &JobRecord)> = Vec::new();
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
            let listed = Listed {
                account_id: &page.account_id,
                region: &page.region,
            };
            current.push((listed, job));
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    statements
}

/// A page and the pages waiting behind it, up to about `MAX_BATCH_BYTES`.
fn batch_from(first: Page, rx: &mut mpsc::Receiver<Page>) -> Vec<Page> {
    let page_bytes = |page: &Page| page.jobs.iter().map(estimated_bytes).sum::<usize>();
    let mut bytes = page_bytes(&first);
    let mut batch = vec![first];
    while bytes < MAX_BATCH_BYTES {
        match rx.try_recv() {
            Ok(page) => {
                bytes += page_bytes(&page);
                batch.push(page);
            }
            Err(_) => break,
        }
    }
    batch
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

/// A write worth trying again: the connection was lost, or a stored job
/// changed between the batch's lookup and its update (someone else wrote
/// the row: the update skips it and the insert meets the primary key, see
/// db::jobs::write_jobs).
fn is_retryable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let Some(err) = cause.downcast_ref::<sqlx::Error>() else {
            return false;
        };
        if matches!(
            err,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Protocol(_)
        ) {
            return true;
        }
        let Some(db) = err.as_database_error() else {
            return false;
        };
        // admin_shutdown, crash_shutdown, cannot_connect_now
        let lost = db
            .code()
            .is_some_and(|code| matches!(&*code, "57P01" | "57P02" | "57P03"));
        let changed_underneath =
            db.code().as_deref() == Some("23505") && db.constraint() == Some("jobs_pkey");
        lost || changed_underneath
    })
}

/// What the pipeline writes pages through.
#[derive(Clone, Copy)]
pub struct PageWriter<'a> {
    pub sink: &'a Sink,
    pub lock: &'a Mutex<RunLock>,
    pub run_id: i64,
    pub expect: &'a Expect,
}

/// What the pipeline did: its totals, each listing's end, and what stopped
/// it early (a failed write, or a signal).
pub struct Outcome {
    pub totals: RunTotals,
    pub listings: Vec<ListingRecord>,
    pub failure: Option<anyhow::Error>,
    pub interrupted: Option<Signal>,
}

pub async fn pipeline(
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
        listings: Vec::new(),
        failure: None,
        interrupted: None,
    };
    tokio::pin!(shutdown);
    // Up to `writers()` batches are written at once, each in its own transaction.
    let mut slots: Vec<Option<Slot>> = (0..writer.sink.writers()).map(|_| None).collect();
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
            let clear = slots
                .iter()
                .all(|slot| slot.as_ref().is_none_or(|s| s.ids.is_disjoint(&ids)));
            let free = slots.iter_mut().find(|slot| slot.is_none());
            match free {
                Some(free) if clear => *free = Some(start(writer, batch, ids)),
                _ => pending = Some(batch),
            }
        }
        let writing = slots.iter().any(Option::is_some);
        let idle = !writing && pending.is_none();
        if idle && (stopping || !receiving) {
            break;
        }
        let can_receive =
            receiving && !stopping && pending.is_none() && slots.iter().any(Option::is_none);
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
                // A failed listing stops nothing: the other listings go on,
                // and the pages it delivered are true observations.
                if !fetched(&mut outcome, joined) {
                    fetchers.abort_all();
                }
            }
            (done, (batch, result)) = any_written(&mut slots), if writing => {
                slots[done] = None;
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
                    pending = Some(batch_from(page, &mut rx));
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

/// Accounts for a finished fetcher; false when its task itself failed
/// (a panic: the run stops), true for any listing that ended, well or not.
fn fetched(outcome: &mut Outcome, joined: Result<ListingRecord, tokio::task::JoinError>) -> bool {
    match joined {
        Ok(listing) => {
            outcome.listings.push(listing);
            true
        }
        Err(err) if err.is_cancelled() => true,
        Err(err) => {
            outcome
                .failure
                .get_or_insert(anyhow!("a listing task failed: {err}"));
            false
        }
    }
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
        let result = writer
            .sink
            .write(writer.lock, writer.run_id, &batch, writer.expect)
            .await;
        (batch, result)
    };
    Slot {
        ids,
        write: Box::pin(write),
    }
}

/// The first of the slots' writes to end, with its slot; never resolves
/// while every slot is empty.
async fn any_written(slots: &mut [Option<Slot<'_>>]) -> (usize, Written) {
    std::future::poll_fn(|cx| {
        for (index, slot) in slots.iter_mut().enumerate() {
            if let Some(slot) = slot
                && let Poll::Ready(written) = slot.write.as_mut().poll(cx)
            {
                return Poll::Ready((index, written));
            }
        }
        Poll::Pending
    })
    .await
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
        use crate::render::visible;
        let (job, to) = (visible(&t.job_id), visible(&t.to_state));
        let line = match &t.from_state {
            None => writeln!(out, "would add {job} ({to})"),
            Some(from) => writeln!(out, "would record {job}: {} -> {to}", visible(from)),
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
            account_id: "012345678900".into(),
            region: region.into(),
            number: 1,
            jobs,
        }
    }

    fn shape(statements: Vec<Vec<(Listed<'_>, &JobRecord)>>) -> Vec<Vec<String>> {
        statements
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|(listed, job)| format!("{}:{}", listed.region, job.job_id))
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
    fn a_batch_takes_the_waiting_pages_up_to_its_size_limit() {
        let ids: Vec<String> = (0..100).map(|i| format!("JID{i:036}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let long = |mut page: Page| {
            for job in &mut page.jobs {
                job.description = Some("d".repeat(2000));
            }
            page
        };
        let (tx, mut rx) = mpsc::channel(64);
        for _ in 0..10 {
            tx.try_send(page("r", &refs)).expect("room in the channel");
        }
        // Ten pages of short jobs are far under the limit: all are taken.
        assert_eq!(batch_from(page("r", &refs), &mut rx).len(), 11);
        for _ in 0..10 {
            tx.try_send(long(page("r", &refs)))
                .expect("room in the channel");
        }
        // About 210 kB a page: the fifth crosses 1 MiB and ends the batch.
        let batch = batch_from(long(page("r", &refs)), &mut rx);
        assert_eq!(batch.len(), 5);
        assert_eq!(batch_from(long(page("r", &refs)), &mut rx).len(), 5);
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
