//! The run ledger: snowball.sync_runs and snowball.sync_run_listings. Every
//! change of a run's status is made here, and each statement says which
//! status it may change from, so a second writer can never overwrite a
//! first: a run starts `running`; it ends once, by `finish` (succeeded,
//! partial or failed) or, when its process died, by a later run's `abandon`.
//! The end, its digest and its one notification on `snowball_sync` are
//! one transaction.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{Acquire, PgExecutor};

/// A run's status, as stored in `status` (a CHECK constraint refuses others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Some listings or descriptions failed; the rest was written.
    Partial,
    Failed,
    /// Left running by a process that died; marked by a later run.
    Abandoned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Abandoned => "abandoned",
        }
    }
}

/// Which command made a run, as stored in `made_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeBy {
    Sync,
    /// `demo`, against its simulated fleet.
    Demo,
}

impl MadeBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MadeBy::Sync => "sync",
            MadeBy::Demo => "demo",
        }
    }
}

/// How one (account, region) listing ended, as stored in its `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingStatus {
    Succeeded,
    Failed,
}

impl ListingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Succeeded => "succeeded",
            ListingStatus::Failed => "failed",
        }
    }
}

/// The counters a run accumulates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub pages: i32,
    pub jobs_seen: i32,
    pub jobs_new: i32,
    pub jobs_changed: i32,
    pub transitions: i32,
    /// With --details: jobs described, and detail history rows written.
    pub jobs_described: Option<i32>,
    pub detail_changes: Option<i32>,
    /// With --include reports: reports archived, and their bytes; of them,
    /// those kept only hashed.
    pub reports_archived: Option<i32>,
    pub reports_hashed_only: Option<i32>,
    pub report_bytes: Option<i64>,
    /// With --include usage: device usage rows written (figures changed).
    pub usage_changes: Option<i32>,
    /// With --include clusters: cluster state history rows written.
    pub cluster_transitions: Option<i32>,
    /// With --include long-term-pricing: term history rows written.
    pub pricing_changes: Option<i32>,
}

/// How one listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRecord {
    pub account_id: String,
    pub region: String,
    pub succeeded: bool,
    pub pages: i32,
    pub jobs_seen: i32,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl ListingRecord {
    pub fn status(&self) -> ListingStatus {
        match self.succeeded {
            true => ListingStatus::Succeeded,
            false => ListingStatus::Failed,
        }
    }
}

/// The end of a run could not be recorded because the run had already
/// ended: another run marked it (it found the run's locks free, so the run
/// was thought dead).
#[derive(Debug, thiserror::Error)]
#[error(
    "run {run_id} was already '{status}'{} when it tried to record its end as '{wanted}'; its result is not recorded and no second notification was sent",
    why.as_ref().map(|why| format!(" ({why})")).unwrap_or_default()
)]
pub struct AlreadyEnded {
    pub run_id: i64,
    pub status: String,
    /// The error recorded by whoever ended it (`abandon` names the run).
    pub why: Option<String>,
    pub wanted: &'static str,
}

/// A run found ended by someone else when it went to write: it writes
/// nothing more.
#[derive(Debug, thiserror::Error)]
#[error(
    "run {run_id} was ended while it was writing: it is now '{status}' ({why}); it writes nothing more"
)]
pub struct EndedElsewhere {
    pub run_id: i64,
    pub status: String,
    pub why: String,
}

/// Whether a run may write, as [`confirm_running`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Still `running`, and its lock session holds every lock.
    Holds,
    /// Still `running`, but its lock session no longer holds its locks.
    LockGone,
}

/// Confirms, inside the transaction about to write for `run_id`, that the run
/// is still `running` and that the session `lock_pid` holds every one of
/// `keys`. The run's row stays locked `FOR SHARE` until the transaction
/// ends: `abandon`'s UPDATE waits for it. A run no longer `running` is
/// [`EndedElsewhere`].
pub async fn confirm_running(
    conn: &mut PgConnection,
    run_id: i64,
    lock_pid: i32,
    keys: &[i64],
) -> anyhow::Result<Standing> {
    // An advisory lock on a bigint key shows as classid (high half) and
    // objid (low half), objsubid 1.
    let row = sqlx::query!(
        r#"SELECT r.status, r.error,
                  (SELECT count(*) FROM pg_catalog.pg_locks l
                    WHERE l.locktype = 'advisory' AND l.pid = $2 AND l.granted
                      AND l.mode = 'ExclusiveLock' AND l.objsubid = 1
                      AND ((l.classid::int8 << 32) | l.objid::int8) = ANY($3)) AS "held!"
             FROM snowball.sync_runs r
            WHERE r.id = $1
              FOR SHARE OF r"#,
        run_id,
        lock_pid,
        keys,
    )
    .fetch_optional(&mut *conn)
    .await
    .context("confirming that the run still holds its lock")?;
    let Some(row) = row else {
        anyhow::bail!("run {run_id} has no row in snowball.sync_runs");
    };
    if row.status != RunStatus::Running.as_str() {
        return Err(EndedElsewhere {
            run_id,
            status: row.status,
            why: row.error.unwrap_or_else(|| "no reason recorded".to_owned()),
        }
        .into());
    }
    Ok(match usize::try_from(row.held) == Ok(keys.len()) {
        true => Standing::Holds,
        false => Standing::LockGone,
    })
}

/// Marks runs left 'running' by a killed process, sealing and announcing
/// each like `finish` does, in one transaction. `by` is the run doing it,
/// named in each one's error. Call only while holding the locks of
/// `accounts`: a live run holds the lock of every account it records, so a
/// 'running' run whose accounts are all among them is dead. Runs from before
/// accounts were recorded held the one database-wide lock of that release
/// (which this release holds shared) and are dead too. A run whose process
/// still lives finds itself ended at its next write ([`confirm_running`]):
/// this UPDATE waits for any write it has begun.
pub async fn abandon(conn: &mut PgConnection, accounts: &[String], by: i64) -> anyhow::Result<u64> {
    let mut tx = conn.begin().await.context("marking abandoned runs")?;
    let why = format!(
        "the process ended without recording a result, or lost its database session: run {by} found its locks free and marked it abandoned"
    );
    // Its counts are those of what it wrote: its history rows and the jobs
    // it saw last (a kind of row it wrote none of stays NULL, as for a run
    // that did not read that kind).
    let abandoned = sqlx::query_scalar!(
        "UPDATE snowball.sync_runs r
            SET status = 'abandoned', finished_at = now(), error = coalesce(r.error, $3),
                transitions = c.transitions, jobs_new = c.jobs_new, jobs_changed = c.jobs_changed,
                jobs_seen = c.jobs_seen, detail_changes = nullif(c.detail_changes, 0),
                reports_archived = nullif(c.reports, 0),
                reports_hashed_only = CASE WHEN c.reports > 0 THEN c.hashed_only END,
                report_bytes = CASE WHEN c.reports > 0 THEN c.report_bytes END,
                cluster_transitions = nullif(c.cluster_transitions, 0),
                pricing_changes = nullif(c.pricing_changes, 0)
           FROM snowball.sync_runs d
          CROSS JOIN LATERAL (
                SELECT s.transitions, s.jobs_new, s.transitions - s.jobs_new AS jobs_changed,
                       (SELECT count(*) FROM snowball.jobs j
                         WHERE j.last_sync_run_id = d.id)::int AS jobs_seen,
                       (SELECT count(*) FROM snowball.job_detail_history h
                         WHERE h.sync_run_id = d.id)::int AS detail_changes,
                       p.reports, p.report_bytes, p.hashed_only,
                       (SELECT count(*) FROM snowball.cluster_state_history h
                         WHERE h.sync_run_id = d.id)::int AS cluster_transitions,
                       (SELECT count(*) FROM snowball.long_term_pricing_history h
                         WHERE h.sync_run_id = d.id)::int AS pricing_changes
                  FROM (SELECT count(*)::int AS transitions,
                               (count(*) FILTER (WHERE h.from_state IS NULL))::int AS jobs_new
                          FROM snowball.job_state_history h WHERE h.sync_run_id = d.id) s,
                       (SELECT count(*)::int AS reports, sum(h.bytes)::bigint AS report_bytes,
                               (count(*) FILTER (WHERE NOT h.stored))::int AS hashed_only
                          FROM snowball.job_reports h WHERE h.sync_run_id = d.id) p
          ) c
          WHERE r.id = d.id
            AND r.status = 'running' AND (r.accounts IS NULL OR r.accounts <@ $1) AND r.id <> $2
      RETURNING r.id",
        accounts,
        by,
        why,
    )
    .fetch_all(&mut *tx)
    .await
    .context("marking abandoned runs")?;
    let mut abandoned = abandoned;
    abandoned.sort_unstable();
    for run_id in &abandoned {
        seal_and_announce(&mut tx, *run_id).await?;
    }
    tx.commit().await.context("marking abandoned runs")?;
    Ok(abandoned.len() as u64)
}

/// Seals an ended run's digest (`snowball.seal_run`) and sends its one
/// notification, which carries the digest. Call inside the transaction that
/// ended the run: the seal's lock is held until it commits.
async fn seal_and_announce(conn: &mut PgConnection, run_id: i64) -> anyhow::Result<[u8; 32]> {
    let digest = sqlx::query_scalar!(r#"SELECT snowball.seal_run($1) AS "digest!""#, run_id)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("sealing the digest of run {run_id}"))?;
    sqlx::query!(
        "SELECT pg_notify('snowball_sync', snowball.run_notification(r))
           FROM snowball.sync_runs r
          WHERE r.id = $1",
        run_id
    )
    .execute(&mut *conn)
    .await
    .with_context(|| format!("announcing the end of run {run_id}"))?;
    <[u8; 32]>::try_from(digest.as_slice())
        .map_err(|_| anyhow::anyhow!("run {run_id} was sealed with a digest that is not SHA-256"))
}

/// Records a run's start: a row in status 'running'.
pub async fn start(
    db: impl PgExecutor<'_>,
    regions: &[String],
    accounts: &[String],
    host: Option<&str>,
    made_by: MadeBy,
) -> anyhow::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO snowball.sync_runs (status, regions, accounts, tool_version, host, made_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id",
        RunStatus::Running.as_str(),
        regions,
        accounts,
        env!("CARGO_PKG_VERSION"),
        host,
        made_by.as_str(),
    )
    .fetch_one(db)
    .await
    .map_err(|err| {
        // 25006: read_only_sql_transaction, a standby or a demoted primary.
        let read_only = err
            .as_database_error()
            .is_some_and(|db| db.code().as_deref() == Some("25006"));
        let err = anyhow::Error::new(err).context("recording the start of the run");
        match read_only {
            true => err.context(
                "the database is read-only (a standby, or a primary after a failover): point DATABASE_URL at the primary",
            ),
            false => err,
        }
    })
}

/// Records a run's listings of one kind (`jobs`: ListJobs; `usage`:
/// GetSnowballUsage), in one statement.
pub async fn record_listings(
    db: impl PgExecutor<'_>,
    run_id: i64,
    kind: &str,
    listings: &[ListingRecord],
) -> anyhow::Result<()> {
    let accounts: Vec<&str> = listings.iter().map(|l| l.account_id.as_str()).collect();
    let regions: Vec<&str> = listings.iter().map(|l| l.region.as_str()).collect();
    let statuses: Vec<&str> = listings.iter().map(|l| l.status().as_str()).collect();
    let pages: Vec<i32> = listings.iter().map(|l| l.pages).collect();
    let seen: Vec<i32> = listings.iter().map(|l| l.jobs_seen).collect();
    let errors: Vec<Option<&str>> = listings.iter().map(|l| l.error.as_deref()).collect();
    let started: Vec<DateTime<Utc>> = listings.iter().map(|l| l.started_at).collect();
    let finished: Vec<DateTime<Utc>> = listings.iter().map(|l| l.finished_at).collect();
    sqlx::query!(
        "INSERT INTO snowball.sync_run_listings
                (run_id, kind, account_id, region, status, pages, jobs_seen, error, started_at,
                 finished_at)
         SELECT $1, $10, *
           FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[],
                       $8::timestamptz[], $9::timestamptz[])",
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
        &statuses as &[&str],
        &pages,
        &seen,
        &errors as &[Option<&str>],
        &started,
        &finished,
        kind,
    )
    .execute(db)
    .await
    .context("recording the run's listings")?;
    Ok(())
}

/// When a kind of listing last succeeded for an account and region: when
/// the figures of that kind were last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastListed {
    pub kind: String,
    pub account_id: String,
    pub region: String,
    pub at: DateTime<Utc>,
}

pub async fn last_listed(
    db: impl PgExecutor<'_>,
    kinds: &[&str],
) -> anyhow::Result<Vec<LastListed>> {
    sqlx::query_as!(
        LastListed,
        r#"SELECT kind, account_id, region, max(finished_at) AS "at!"
             FROM snowball.sync_run_listings
            WHERE status = 'succeeded' AND kind = ANY($1::text[])
            GROUP BY kind, account_id, region
            ORDER BY kind, account_id, region"#,
        kinds as &[&str]
    )
    .fetch_all(db)
    .await
    .context("reading when the estate was last observed")
}

/// How a run's end was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The run's digest, as stored in `sync_runs.digest`.
    pub digest: [u8; 32],
}

/// Records a run's end, seals its digest and sends its one notification on
/// the `snowball_sync` channel, in one transaction (a savepoint inside a dry
/// run's): listeners hear of a run exactly when its end is committed, and
/// never of a dry run, whose transaction is rolled back. Only a run still
/// 'running' changes; otherwise the error is `AlreadyEnded` and nothing is sent.
pub async fn finish(
    conn: &mut PgConnection,
    run_id: i64,
    status: RunStatus,
    totals: &RunTotals,
    missing: u64,
    error: Option<&str>,
) -> anyhow::Result<Ended> {
    let mut tx = conn.begin().await.context("recording the end of the run")?;
    // The outer SELECT tells a run with no row from one the UPDATE skipped.
    let row = sqlx::query!(
        r#"WITH finished AS (
               UPDATE snowball.sync_runs
                  SET status = $2, finished_at = now(), pages = $3, jobs_seen = $4,
                      jobs_new = $5, jobs_changed = $6, transitions = $7, jobs_missing = $8,
                      error = $9, jobs_described = $10, detail_changes = $11,
                      reports_archived = $12, report_bytes = $13,
                      cluster_transitions = $14, pricing_changes = $15,
                      reports_hashed_only = $16
                WHERE id = $1 AND status = 'running'
            RETURNING started_at, finished_at
           )
           SELECT r.id, f.started_at AS "started_at?",
                  f.finished_at AS "finished_at?"
             FROM snowball.sync_runs r
             LEFT JOIN finished f ON true
            WHERE r.id = $1"#,
        run_id,
        status.as_str(),
        totals.pages,
        totals.jobs_seen,
        totals.jobs_new,
        totals.jobs_changed,
        totals.transitions,
        i32::try_from(missing).unwrap_or(i32::MAX),
        error,
        totals.jobs_described,
        totals.detail_changes,
        totals.reports_archived,
        totals.report_bytes,
        totals.cluster_transitions,
        totals.pricing_changes,
        totals.reports_hashed_only,
    )
    .fetch_optional(&mut *tx)
    .await
    .context("recording the end of the run")?;
    let Some(row) = row else {
        return Err(anyhow::anyhow!(
            "run {run_id} has no row in snowball.sync_runs"
        ));
    };
    let (Some(started_at), Some(finished_at)) = (row.started_at, row.finished_at) else {
        // The UPDATE may have waited for the run that ended this one and then
        // skipped the row, while the statement's snapshot still shows it
        // 'running': read it again, as it is now.
        let now = sqlx::query!(
            "SELECT status, error FROM snowball.sync_runs WHERE id = $1",
            run_id
        )
        .fetch_one(&mut *tx)
        .await
        .context("reading how the run ended")?;
        return Err(AlreadyEnded {
            run_id,
            status: now.status,
            why: now.error,
            wanted: status.as_str(),
        }
        .into());
    };
    let digest = seal_and_announce(&mut tx, run_id).await?;
    tx.commit().await.context("recording the end of the run")?;
    Ok(Ended {
        started_at,
        finished_at,
        digest,
    })
}
