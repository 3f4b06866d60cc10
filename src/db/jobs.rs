//! snowball.jobs (the current snapshot) and snowball.job_state_history (the
//! append-only trail of JobState transitions), written together, a batch of pages at a time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::job::JobRecord;

/// One history row written by `write_jobs`: `from_state` is None on a job's
/// first sighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub job_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
}

/// Where a job was listed: the account and the region whose listing returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
}

/// Whether a statement starts with the update of the unchanged jobs alone
/// (`touch_unchanged`): yes while most of the jobs written are unchanged, as
/// in every re-sync of a steady fleet; no while most are new or changed, as in
/// a first sync, where it would find nothing. It decides how fast a
/// statement is, never what it writes.
#[derive(Debug)]
pub struct Expect(AtomicBool);

impl Default for Expect {
    fn default() -> Self {
        Expect(AtomicBool::new(true))
    }
}

/// Upserts a statement's jobs, each with the account and region that listed
/// it, and records their transitions. Each job appears once: sync::writing
/// ends a statement before a job it already holds, so a job listed twice is
/// written twice, in listing order. Run it inside a transaction so a batch
/// is written whole or not at all.
///
/// The jobs stored as listed are written first by a
/// lean update of their own (`touch_unchanged`), the rest by the full
/// statement (`write_changed`): with the lean update's first form, an
/// unchanged re-sync of 100 000 jobs took 1.00 CPU seconds of PostgreSQL
/// against 1.26 with the full statement alone, 1.06 s against 1.14 s
/// (medians of four alternations); its current form is cheaper still (see
/// there). `expect` skips the lean update while it finds little.
pub async fn write_jobs(
    conn: &mut PgConnection,
    run_id: i64,
    jobs: &[(Listed<'_>, &JobRecord)],
    expect: &Expect,
) -> anyhow::Result<Vec<Transition>> {
    if !expect.0.load(Ordering::Relaxed) {
        let transitions = write_changed(&mut *conn, run_id, jobs).await?;
        if transitions.len() * 2 < jobs.len() {
            expect.0.store(true, Ordering::Relaxed);
        }
        return Ok(transitions);
    }
    // One update per listing in the statement (as a rule there is one): its
    // account and region are then two values, not two arrays of them.
    let mut untouched = Vec::new();
    for listing in jobs.chunk_by(|a, b| a.0 == b.0) {
        untouched.extend(touch_unchanged(&mut *conn, run_id, listing[0].0, listing).await?);
    }
    if untouched.is_empty() {
        return Ok(Vec::new());
    }
    if untouched.len() * 2 > jobs.len() {
        expect.0.store(false, Ordering::Relaxed);
    }
    let untouched: HashSet<&str> = untouched.iter().map(String::as_str).collect();
    let rest: Vec<_> = jobs
        .iter()
        .filter(|(_, job)| untouched.contains(job.job_id.as_str()))
        .copied()
        .collect();
    write_changed(conn, run_id, &rest).await
}

/// A statement's jobs as the parameter arrays both statements take (the
/// full statement takes each job's account and region too).
struct Columns<'a> {
    ids: Vec<&'a str>,
    states: Vec<&'a str>,
    types: Vec<Option<&'a str>>,
    snowball_types: Vec<Option<&'a str>>,
    masters: Vec<Option<bool>>,
    created: Vec<Option<DateTime<Utc>>>,
    descriptions: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(jobs: &[(Listed<'a>, &'a JobRecord)]) -> Columns<'a> {
        let mut c = Columns {
            ids: Vec::with_capacity(jobs.len()),
            states: Vec::with_capacity(jobs.len()),
            types: Vec::with_capacity(jobs.len()),
            snowball_types: Vec::with_capacity(jobs.len()),
            masters: Vec::with_capacity(jobs.len()),
            created: Vec::with_capacity(jobs.len()),
            descriptions: Vec::with_capacity(jobs.len()),
        };
        for (_, job) in jobs {
            c.ids.push(&job.job_id);
            c.states.push(&job.job_state);
            c.types.push(job.job_type.as_deref());
            c.snowball_types.push(job.snowball_type.as_deref());
            c.masters.push(job.is_master);
            c.created.push(job.creation_date);
            c.descriptions.push(job.description.as_deref());
        }
        c
    }
}

/// Writes the jobs stored as listed, state and every listed attribute (no
/// transition, so no history row and nothing of the stored row to read
/// back): only what the full statement would change in them, the run's
/// bookkeeping. Returns the ids of the others, the jobs new or changed in
/// anything: in a steady fleet's re-sync none, so nothing comes back but the
/// end of the statement. Comparing the attributes instead of writing them
/// again took 0.62–0.63 CPU seconds of PostgreSQL for 100 000 jobs against
/// 0.67–0.71 (benchmarks/results/2026-12-02-run-end-one-pass.md). Each job
/// appears once: a statement
/// ends before a job it already holds (sync::writing).
///
/// A connection's cached (generic) plan of this join assumes ten jobs a
/// statement: in psql, a hash join over a table of 500 jobs, a nested loop
/// over the primary key at 2 000, over the hash index on job_id
/// (20261205100000_jobs_job_id_hash_index.sql) at 10 000 and 100 000.
/// The full statement had to be kept from caching a plan made while a first
/// sync grows the table; this one runs in a first sync only while statements
/// find most jobs unchanged (`Expect`), and a poor plan would cost speed,
/// never a row.
async fn touch_unchanged(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listed: Listed<'_>,
    jobs: &[(Listed<'_>, &JobRecord)],
) -> anyhow::Result<Vec<String>> {
    let c = Columns::of(jobs);
    sqlx::query_scalar!(
        r#"
        WITH touched AS (
            UPDATE snowball.jobs AS j
               SET -- As in write_changed: the first region name of a run wins.
                   region           = CASE WHEN j.last_sync_run_id = $1 AND j.region < $3
                                           THEN j.region ELSE $3 END,
                   last_seen_at     = now(),
                   missing_since    = NULL,
                   last_sync_run_id = $1,
                   account_id       = $2
              FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $8::bool[],
                          $9::timestamptz[], $10::text[])
                   AS l (job_id, job_state, job_type, snowball_type, is_master, creation_date,
                         description)
             -- One probe by key per job, over the hash index on job_id in a
             -- table of 10 000 jobs or more (see above). Should someone else
             -- change the row first, PostgreSQL checks this condition again on
             -- the new row: a job whose state changed is not updated here and
             -- goes to the full statement.
             WHERE j.job_id = l.job_id
               AND j.job_state = l.job_state
               -- A job whose description (or anything else listed) changed
               -- goes to the full statement too: compared here, not written.
               AND j.job_type      IS NOT DISTINCT FROM l.job_type
               AND j.snowball_type IS NOT DISTINCT FROM l.snowball_type
               AND j.is_master     IS NOT DISTINCT FROM l.is_master
               AND j.creation_date IS NOT DISTINCT FROM l.creation_date
               AND j.description   IS NOT DISTINCT FROM l.description
            RETURNING j.job_id
        )
        -- The jobs not touched, rather than the touched: a re-sync's
        -- statement sends none back.
        SELECT l.job_id AS "job_id!"
          FROM UNNEST($4::text[]) AS l (job_id)
         WHERE NOT EXISTS (SELECT FROM touched t WHERE t.job_id = l.job_id)
        "#,
        run_id,
        listed.account_id,
        listed.region,
        &c.ids as &[&str],
        &c.states as &[&str],
        &c.types as &[Option<&str>],
        &c.snowball_types as &[Option<&str>],
        &c.masters as &[Option<bool>],
        &c.created as &[Option<DateTime<Utc>>],
        &c.descriptions as &[Option<&str>],
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("writing a batch of {} jobs", jobs.len()))
}

/// Upserts jobs and records their transitions, in one statement (one round
/// trip) whatever their number; a job given twice would be written once,
/// with its last entry. Should someone else change one of the stored
/// rows while it runs, it fails on `jobs_pkey` rather than skip that job, and
/// the batch can be written again.
async fn write_changed(
    db: impl PgExecutor<'_>,
    run_id: i64,
    jobs: &[(Listed<'_>, &JobRecord)],
) -> anyhow::Result<Vec<Transition>> {
    let c = Columns::of(jobs);
    let accounts: Vec<&str> = jobs.iter().map(|(listed, _)| listed.account_id).collect();
    let regions: Vec<&str> = jobs.iter().map(|(listed, _)| listed.region).collect();
    let rows = sqlx::query!(
        r#"
        WITH page AS (
            -- A statement cannot update one row twice, and the service may
            -- list a job twice: keep its last entry in the batch.
            SELECT DISTINCT ON (job_id)
                   region, job_id, job_state, job_type, snowball_type, is_master, creation_date, description,
                   account_id
              FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                          $8::timestamptz[], $9::text[], $10::text[])
                   WITH ORDINALITY
                   AS e (region, job_id, job_state, job_type, snowball_type, is_master, creation_date,
                         description, account_id, ord)
             ORDER BY job_id, ord DESC
        ),
        before AS MATERIALIZED (
            -- Every part of this statement sees the table as it was before it,
            -- so this is each stored job as it was until now, found once by
            -- key; `tid` lets the update below reach the row again without
            -- a second index search. MATERIALIZED: inlined, PostgreSQL's
            -- custom plans probed it once per upserted row (a 300-job
            -- statement took 35 ms instead of 5 ms in psql).
            -- A LATERAL lookup, which LIMIT 1 keeps from being flattened into
            -- a join: a connection caches this statement's plan early in a
            -- first sync, when snowball.jobs is nearly empty, and a join was
            -- then planned as a hash join over a sequential scan that every
            -- later statement repeated over the growing table (in psql, 17 ms
            -- per 250-job statement at first, 52 ms after 20 000 jobs).
            SELECT p.job_id, j.tid, j.job_state, j.last_seen_at
              FROM page p
             CROSS JOIN LATERAL (
                    SELECT ctid AS tid, job_state, last_seen_at
                      FROM snowball.jobs
                     WHERE job_id = p.job_id
                     LIMIT 1
                   ) j
        ),
        updated AS (
            UPDATE snowball.jobs AS j
               SET job_state        = p.job_state,
                   job_type         = p.job_type,
                   snowball_type    = p.snowball_type,
                   is_master        = p.is_master,
                   creation_date    = p.creation_date,
                   description      = p.description,
                   -- Several regions can list one job (every US region lists
                   -- all US jobs): within a run, the first region name wins,
                   -- whatever order the listings arrive in.
                   region           = CASE WHEN j.last_sync_run_id = $1 AND j.region < p.region
                                           THEN j.region ELSE p.region END,
                   last_seen_at     = now(),
                   missing_since    = NULL,
                   state_since      = CASE WHEN j.job_state = p.job_state
                                           THEN j.state_since ELSE now() END,
                   last_sync_run_id = $1,
                   -- A job written before accounts were recorded takes the
                   -- account of the first identified run that lists it.
                   account_id       = p.account_id
              FROM before b
              JOIN page p USING (job_id)
             WHERE j.ctid = b.tid
            RETURNING j.job_id, j.job_state
        ),
        inserted AS (
            -- Every job of the batch not updated above. Should someone else
            -- change a stored row under this statement, the update skips it
            -- and this insert fails on the primary key: the batch is rolled
            -- back whole (and written again), never half-observed.
            INSERT INTO snowball.jobs
                   (job_id, job_state, job_type, snowball_type, is_master, creation_date, description,
                    region, first_seen_at, last_seen_at, state_since, last_sync_run_id, account_id)
            SELECT job_id, job_state, job_type, snowball_type, is_master, creation_date, description,
                   region, now(), now(), now(), $1, account_id
              FROM page p
             WHERE NOT EXISTS (SELECT FROM updated u WHERE u.job_id = p.job_id)
            RETURNING job_id, job_state
        ),
        transitions AS (
            -- Each row chained to its job's last one (the migration
            -- 20261201130000_history_chain.sql defines the hash). A job
            -- appears once per statement, so at most one row per job here.
            INSERT INTO snowball.job_state_history
                   (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id,
                    prev_hash, row_hash)
            SELECT t.job_id, t.from_state, t.to_state, now(), t.from_state_last_seen_at, $1,
                   t.prev_hash,
                   -- The prefix (table, run, now()) is one value for the
                   -- statement: an InitPlan, computed once.
                   snowball.job_state_row_hash(
                       (SELECT snowball.chain_prefix('snowball.job_state_history', $1, now())),
                       t.job_id, t.from_state, t.to_state, t.from_state_last_seen_at, t.prev_hash)
              FROM (SELECT u.job_id, b.job_state AS from_state, u.job_state AS to_state,
                           b.last_seen_at AS from_state_last_seen_at, head.row_hash AS prev_hash
                      FROM updated u
                      JOIN before b USING (job_id)
                      -- The job's last row until now, by (job_id, id); a new
                      -- job has none: its first row starts its chain.
                      LEFT JOIN LATERAL (
                            SELECT h.row_hash
                              FROM snowball.job_state_history h
                             WHERE h.job_id = u.job_id
                             ORDER BY h.id DESC
                             LIMIT 1
                           ) head ON true
                     WHERE b.job_state IS DISTINCT FROM u.job_state
                     UNION ALL
                    SELECT i.job_id, NULL, i.job_state, NULL, NULL
                      FROM inserted i) t
             ORDER BY t.job_id
            RETURNING job_id, from_state, to_state
        )
        SELECT job_id AS "job_id!", from_state, to_state AS "to_state!"
          FROM transitions
         ORDER BY job_id
        "#,
        run_id,
        &regions as &[&str],
        &c.ids as &[&str],
        &c.states as &[&str],
        &c.types as &[Option<&str>],
        &c.snowball_types as &[Option<&str>],
        &c.masters as &[Option<bool>],
        &c.created as &[Option<DateTime<Utc>>],
        &c.descriptions as &[Option<&str>],
        &accounts as &[&str],
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("writing a batch of {} jobs", jobs.len()))?;
    Ok(rows
        .into_iter()
        .map(|r| Transition {
            job_id: r.job_id,
            from_state: r.from_state,
            to_state: r.to_state,
        })
        .collect())
}

/// After complete, successful listings: for each (account, region) listed,
/// marks the jobs of that account and region that earlier runs listed and
/// this one did not. Jobs of other accounts, of failed listings, and of no
/// known account (NULL) are never touched. Returns how many were marked.
/// `count_seen_and_missing` counts these jobs by the same condition: change
/// both together.
pub async fn mark_missing(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listings: &[Listed<'_>],
) -> anyhow::Result<u64> {
    let accounts: Vec<&str> = listings.iter().map(|l| l.account_id).collect();
    let regions: Vec<&str> = listings.iter().map(|l| l.region).collect();
    let done = sqlx::query!(
        "UPDATE snowball.jobs j
            SET missing_since = now()
           FROM UNNEST($2::text[], $3::text[]) AS l (account_id, region)
          WHERE j.account_id = l.account_id
            AND j.region = l.region
            AND j.last_sync_run_id IS DISTINCT FROM $1
            AND j.missing_since IS NULL",
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
    )
    .execute(db)
    .await
    .context("marking jobs no longer listed")?;
    Ok(done.rows_affected())
}

/// Jobs a run has seen, each counted once however many pages or regions
/// listed it, and how many `mark_missing` would mark for these listings:
/// one pass over the table, so that `mark_missing`'s own scan runs only when
/// a job is to be marked, which a steady fleet's runs never find.
pub async fn count_seen_and_missing(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listings: &[Listed<'_>],
) -> anyhow::Result<(i64, i64)> {
    let accounts: Vec<&str> = listings.iter().map(|l| l.account_id).collect();
    let regions: Vec<&str> = listings.iter().map(|l| l.region).collect();
    let row = sqlx::query!(
        r#"
        SELECT count(*) FILTER (WHERE last_sync_run_id = $1) AS "seen!",
               -- mark_missing's condition.
               count(*) FILTER (WHERE last_sync_run_id IS DISTINCT FROM $1
                                  AND missing_since IS NULL
                                  AND (account_id, region) IN (
                                        SELECT * FROM UNNEST($2::text[], $3::text[]))
               ) AS "gone!"
          FROM snowball.jobs
        "#,
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
    )
    .fetch_one(db)
    .await
    .context("counting the jobs this run saw")?;
    Ok((row.seen, row.gone))
}
