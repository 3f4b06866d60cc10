//! The fleet read model: what `report`, `demo` and the metrics file say of
//! the jobs as a whole (counts, transitions, stuck jobs, deadlines, data
//! transfer, reports lacking). A question asked "as of" a moment takes it as
//! a parameter (None: now) and is one statement: the tables answer for now,
//! the history for a moment past, each branch run only when asked.
//!
//! Large because it holds every question asked of the fleet, each with its
//! statement and its row type beside it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::timeline::Interval;

pub struct StateCount {
    /// None for jobs no identified run has listed yet.
    pub account_id: Option<String>,
    pub job_state: String,
    pub jobs: i64,
}

/// Jobs per account and state, each account's largest state first.
pub async fn state_counts(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"SELECT account_id, job_state, count(*) AS "jobs!"
             FROM snowball.jobs
            GROUP BY account_id, job_state
            ORDER BY account_id NULLS LAST, count(*) DESC, job_state"#
    )
    .fetch_all(db)
    .await
    .context("counting jobs by state")
}

pub struct TransitionRow {
    pub observed_at: DateTime<Utc>,
    pub job_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub sync_run_id: i64,
}

/// The latest state changes (first sightings left out).
pub async fn latest_transitions(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> anyhow::Result<Vec<TransitionRow>> {
    sqlx::query_as!(
        TransitionRow,
        "SELECT observed_at, job_id, from_state, to_state, sync_run_id
           FROM snowball.job_state_history
          WHERE from_state IS NOT NULL
          ORDER BY id DESC
          LIMIT $1",
        limit
    )
    .fetch_all(db)
    .await
    .context("reading the latest transitions")
}

/// The job with the most recorded states, for showing a timeline.
pub async fn busiest_job(db: impl PgExecutor<'_>) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT job_id
           FROM snowball.job_state_history
          GROUP BY job_id
          ORDER BY count(*) DESC, job_id
          LIMIT 1"
    )
    .fetch_optional(db)
    .await
    .context("finding a job with a long history")
}

/// The job with the most detail changes, for showing its shipments and transfer.
pub async fn busiest_detail_job(db: impl PgExecutor<'_>) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT job_id
           FROM snowball.job_detail_history
          GROUP BY job_id
          ORDER BY count(*) DESC, job_id
          LIMIT 1"
    )
    .fetch_optional(db)
    .await
    .context("finding a job with a long detail history")
}

pub struct StateTypeCount {
    pub job_state: String,
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    pub jobs: i64,
}

pub struct AccountCount {
    /// None for jobs no identified run has listed yet.
    pub account_id: Option<String>,
    pub jobs: i64,
    /// Jobs in a state that is not final.
    pub active: i64,
    pub missing: i64,
}

pub struct TransitionCount {
    pub from_state: Option<String>,
    pub to_state: String,
    pub count: i64,
}

/// History rows from `since` to `until`, by from_state and to_state (first
/// sightings have no from_state), most frequent first.
pub async fn transitions_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    accounts: &[String],
) -> anyhow::Result<Vec<TransitionCount>> {
    sqlx::query_as!(
        TransitionCount,
        r#"SELECT h.from_state, h.to_state, count(*) AS "count!"
             FROM snowball.job_state_history h
             JOIN snowball.jobs j USING (job_id)
            WHERE h.observed_at >= $1 AND h.observed_at <= $3
              AND (cardinality($2::text[]) = 0 OR j.account_id = ANY($2))
            GROUP BY h.from_state, h.to_state
            ORDER BY count(*) DESC, h.from_state NULLS FIRST, h.to_state"#,
        since,
        accounts,
        until
    )
    .fetch_all(db)
    .await
    .context("counting transitions")
}

pub struct StuckJob {
    pub job_id: String,
    pub job_state: String,
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    pub region: String,
    pub state_since: DateTime<Utc>,
    pub account_id: Option<String>,
}

pub struct DailyState {
    pub day: chrono::NaiveDate,
    pub state: String,
    pub jobs: i64,
}

/// For each UTC day from `since` to `until`, the jobs in each state at the
/// day's end (or at `until`, for the last day). Read backwards from today's
/// states, so that it costs the jobs and the period's rows, never the whole
/// history: a job's state at a moment is the from_state of its first row
/// after that moment (none if that row is its first sighting), or its
/// current state when nothing came after.
pub async fn daily_states(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    accounts: &[String],
) -> anyhow::Result<Vec<DailyState>> {
    sqlx::query_as!(
        DailyState,
        r#"WITH days AS (
               SELECT d::date AS day, least((d + interval '1 day') AT TIME ZONE 'UTC', $2) AS at
                 FROM generate_series(($1::timestamptz AT TIME ZONE 'UTC')::date,
                                      ($2::timestamptz AT TIME ZONE 'UTC')::date,
                                      interval '1 day') AS d
           ),
           -- Per day, each job changed after the day's end, with its first
           -- change after it: the period's rows alone (the observed_at index
           -- finds them).
           later AS (
               SELECT DISTINCT ON (d.day, h.job_id) d.day, h.from_state, j.job_state
                 FROM snowball.job_state_history h
                 JOIN days d ON h.observed_at > d.at
                 JOIN snowball.jobs j USING (job_id)
                WHERE h.observed_at > ($1::timestamptz AT TIME ZONE 'UTC')::date AT TIME ZONE 'UTC'
                  AND (cardinality($3::text[]) = 0 OR j.account_id = ANY($3))
                ORDER BY d.day, h.job_id, h.id
           ),
           today AS (
               SELECT job_state AS state, count(*) AS jobs
                 FROM snowball.jobs
                WHERE cardinality($3::text[]) = 0 OR account_id = ANY($3)
                GROUP BY 1
           ),
           counted AS (
               SELECT d.day, t.state, t.jobs FROM days d CROSS JOIN today t
               UNION ALL
               SELECT day, job_state, -count(*) FROM later GROUP BY 1, 2
               UNION ALL
               SELECT day, from_state, count(*) FROM later WHERE from_state IS NOT NULL GROUP BY 1, 2
           )
           SELECT day AS "day!", state AS "state!", sum(jobs)::bigint AS "jobs!"
             FROM counted
            GROUP BY 1, 2
           HAVING sum(jobs) > 0
            ORDER BY 1, 2"#,
        since,
        until,
        accounts
    )
    .fetch_all(db)
    .await
    .context("counting jobs by state per day")
}

/// The stints, within the period, of the `lanes` jobs most recently active
/// in it, computed over those jobs' rows alone.
pub async fn timeline(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    lanes: i64,
    accounts: &[String],
) -> anyhow::Result<Vec<Interval>> {
    sqlx::query_as!(
        Interval,
        r#"WITH active AS (
               SELECT job_id, max(observed_at) AS last_change
                 FROM snowball.job_state_history
                 JOIN snowball.jobs j USING (job_id)
                WHERE observed_at >= $1
                  AND (cardinality($3::text[]) = 0 OR j.account_id = ANY($3))
                GROUP BY job_id
                ORDER BY max(observed_at) DESC, job_id
                LIMIT $2
           )
           SELECT a.job_id AS "job_id!", i.state AS "state!", i.entered_at AS "entered_at!",
                  i.entered_after, i.left_at, i.sync_run_id AS "sync_run_id!",
                  i.row_hash AS "row_hash!"
             FROM active a
            CROSS JOIN LATERAL (
                  SELECT h.to_state AS state, h.observed_at AS entered_at,
                         h.from_state_last_seen_at AS entered_after,
                         lead(h.observed_at) OVER (ORDER BY h.id) AS left_at, h.sync_run_id,
                         h.row_hash
                    FROM snowball.job_state_history h
                   WHERE h.job_id = a.job_id
                 ) i
            WHERE i.left_at IS NULL OR i.left_at >= $1
            ORDER BY a.job_id, i.entered_at"#,
        since,
        lanes,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading the timeline")
}

pub struct Transfer {
    pub job_id: String,
    pub account_id: Option<String>,
    pub job_state: String,
    pub bytes_transferred: Option<i64>,
    pub total_bytes: Option<i64>,
    pub percent_done: Option<f64>,
    pub bytes_per_second: Option<f64>,
}

/// Jobs moving data: transfer figures known and not complete.
pub async fn transfers_in_progress(
    db: impl PgExecutor<'_>,
    accounts: &[String],
) -> anyhow::Result<Vec<Transfer>> {
    sqlx::query_as!(
        Transfer,
        r#"SELECT job_id AS "job_id!", account_id, job_state AS "job_state!", bytes_transferred,
                  total_bytes, percent_done::float8 AS percent_done, bytes_per_second
             FROM snowball.data_transfer_progress
            WHERE (total_bytes IS NULL OR coalesce(bytes_transferred, 0) < total_bytes)
              AND (cardinality($1::text[]) = 0 OR account_id = ANY($1))
            ORDER BY percent_done NULLS FIRST, job_id"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading transfer progress")
}

pub struct InTransit {
    pub job_id: String,
    pub account_id: Option<String>,
    pub job_state: String,
    pub status: Option<String>,
    pub tracking_number: Option<String>,
}

/// Devices on their way, to the customer or back to AWS, with the tracking
/// number of that leg.
pub async fn shipments_in_transit(
    db: impl PgExecutor<'_>,
    accounts: &[String],
) -> anyhow::Result<Vec<InTransit>> {
    sqlx::query_as!(
        InTransit,
        r#"SELECT job_id AS "job_id!", account_id, job_state AS "job_state!",
                  CASE WHEN job_state = 'InTransitToAWS' THEN inbound_status ELSE outbound_status END AS status,
                  CASE WHEN job_state = 'InTransitToAWS' THEN inbound_tracking_number
                       ELSE outbound_tracking_number END AS tracking_number
             FROM snowball.shipments
            WHERE job_state IN ('InTransitToCustomer', 'InTransitToAWS')
              AND (cardinality($1::text[]) = 0 OR account_id = ANY($1))
            ORDER BY job_state, job_id"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading shipments in transit")
}

pub struct Deadline {
    pub job_id: String,
    pub account_id: Option<String>,
    pub job_state: String,
    pub prepared_at: DateTime<Utc>,
    pub approximate: bool,
    pub deadline: DateTime<Utc>,
    pub days_left: i32,
}

pub struct TransferPoint {
    pub job_id: String,
    pub observed_at: DateTime<Utc>,
    pub bytes_transferred: i64,
    pub total_bytes: Option<i64>,
}

/// Data transferred over the period by the `lanes` jobs that moved data most
/// recently in it, for the HTML chart.
pub async fn transfer_series(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    lanes: i64,
    accounts: &[String],
) -> anyhow::Result<Vec<TransferPoint>> {
    sqlx::query_as!(
        TransferPoint,
        r#"WITH moving AS (
               SELECT h.job_id
                 FROM snowball.job_detail_history h
                 JOIN snowball.jobs j USING (job_id)
                WHERE h.observed_at >= $1 AND h.bytes_transferred IS NOT NULL
                  AND (cardinality($3::text[]) = 0 OR j.account_id = ANY($3))
                GROUP BY h.job_id
                ORDER BY max(h.observed_at) DESC, h.job_id
                LIMIT $2
           )
           SELECT h.job_id, h.observed_at, h.bytes_transferred AS "bytes_transferred!", h.total_bytes
             FROM snowball.job_detail_history h
             JOIN moving USING (job_id)
            WHERE h.bytes_transferred IS NOT NULL
            ORDER BY h.job_id, h.id"#,
        since,
        lanes,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading data transferred over time")
}

/// A completed job whose reports are not all archived.
pub struct LackingReports {
    pub job_id: String,
    pub account_id: Option<String>,
    pub job_type: Option<String>,
    pub completed_at: DateTime<Utc>,
    /// The kinds DescribeJob offered and the archive lacks; None when no run
    /// that archives reports has described the job yet.
    pub missing: Option<Vec<String>>,
}

/// Completed imports and exports (their parts) whose reports the archive
/// lacks: kinds DescribeJob offered and not archived, or not yet asked for
/// (no `sync --include reports` has described the job). Oldest first.
pub async fn lacking_reports(
    db: impl PgExecutor<'_>,
    accounts: &[String],
) -> anyhow::Result<Vec<LackingReports>> {
    sqlx::query_as!(
        LackingReports,
        r#"SELECT job_id AS "job_id!", account_id, job_type, completed_at AS "completed_at!", missing
             FROM (SELECT j.job_id, j.account_id, j.job_type, j.state_since AS completed_at,
                          CASE WHEN d.report_kinds IS NOT NULL THEN
                               ARRAY(SELECT k FROM UNNEST(d.report_kinds) AS k
                                      WHERE NOT EXISTS (SELECT 1 FROM snowball.job_reports r
                                                         WHERE r.job_id = j.job_id AND r.kind = k
                                                           AND r.stored)
                                      ORDER BY k)
                          END AS missing
                     FROM snowball.jobs j
                     LEFT JOIN snowball.job_details d USING (job_id)
                    WHERE j.job_state = 'Complete'
                      AND j.is_master IS NOT TRUE
                      AND coalesce(j.job_type, 'IMPORT') IN ('IMPORT', 'EXPORT')
                      AND (cardinality($1::text[]) = 0 OR j.account_id = ANY($1))) c
            WHERE missing IS NULL OR cardinality(missing) > 0
            ORDER BY completed_at, job_id"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading completed jobs lacking their reports")
}

/// Those of `accounts` the database knows nothing of: no job, cluster or
/// term of theirs, and no run that listed them.
pub async fn unknown_accounts(
    db: impl PgExecutor<'_>,
    accounts: &[String],
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT a AS "account!"
             FROM UNNEST($1::text[]) AS a
            WHERE NOT EXISTS (SELECT 1 FROM snowball.jobs j WHERE j.account_id = a)
              AND NOT EXISTS (SELECT 1 FROM snowball.clusters c WHERE c.account_id = a)
              AND NOT EXISTS (SELECT 1 FROM snowball.long_term_pricing t WHERE t.account_id = a)
              AND NOT EXISTS (SELECT 1 FROM snowball.sync_runs r WHERE a = ANY (r.accounts))
            ORDER BY a"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("looking for the accounts asked for")
}

/// Jobs per account, now (`at` None) or as the history stood at `at`
/// (snowball.jobs_as_of; `missing` then counts the jobs whose missing_since,
/// which has no history, is at or before `at`). `accounts` empty: every
/// account; the same filter, `cardinality($n) = 0 OR account_id = ANY($n)`,
/// is in every query here that takes it.
pub async fn account_counts(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    accounts: &[String],
) -> anyhow::Result<Vec<AccountCount>> {
    sqlx::query_as!(
        AccountCount,
        r#"SELECT account_id, count(*) AS "jobs!",
                  count(*) FILTER (WHERE NOT snowball.is_final_state(job_state)) AS "active!",
                  count(*) FILTER (WHERE missing) AS "missing!"
             FROM (SELECT account_id, job_state, missing_since IS NOT NULL AS missing
                     FROM snowball.jobs
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT a.account_id, a.job_state, j.missing_since <= $1
                     FROM snowball.jobs_as_of($1) a
                     JOIN snowball.jobs j USING (job_id)
                    WHERE $1 IS NOT NULL) f
            WHERE cardinality($2::text[]) = 0 OR account_id = ANY($2)
            GROUP BY account_id
            ORDER BY account_id NULLS LAST"#,
        at,
        accounts
    )
    .fetch_all(db)
    .await
    .context("counting jobs by account")
}

/// Jobs by state and type, now or as the history stood at `at`.
pub async fn state_type_counts(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    accounts: &[String],
) -> anyhow::Result<Vec<StateTypeCount>> {
    sqlx::query_as!(
        StateTypeCount,
        r#"SELECT job_state AS "job_state!", job_type, snowball_type, sum(jobs)::bigint AS "jobs!"
             FROM (SELECT account_id, job_state, job_type, snowball_type, jobs
                     FROM snowball.state_counts
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT account_id, job_state, job_type, snowball_type, jobs
                     FROM snowball.state_counts_as_of($1)
                    WHERE $1 IS NOT NULL) c
            WHERE cardinality($2::text[]) = 0 OR account_id = ANY($2)
            GROUP BY job_state, job_type, snowball_type
            ORDER BY job_state, job_type NULLS LAST, snowball_type NULLS LAST"#,
        at,
        accounts
    )
    .fetch_all(db)
    .await
    .context("counting jobs by state and type")
}

/// Jobs in a non-final state since `before` or earlier, oldest first: now,
/// or as the history stood at `at`.
pub async fn stuck_jobs(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    before: DateTime<Utc>,
    accounts: &[String],
) -> anyhow::Result<Vec<StuckJob>> {
    sqlx::query_as!(
        StuckJob,
        r#"SELECT job_id AS "job_id!", job_state AS "job_state!", job_type, snowball_type,
                  region AS "region!", state_since AS "state_since!", account_id
             FROM (SELECT job_id, job_state, job_type, snowball_type, region, state_since,
                          account_id
                     FROM snowball.stuck_jobs
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT job_id, job_state, job_type, snowball_type, region, state_since,
                          account_id
                     FROM snowball.jobs_as_of($1)
                    WHERE $1 IS NOT NULL AND NOT snowball.is_final_state(job_state)) s
            WHERE state_since <= $2
              AND (cardinality($3::text[]) = 0 OR account_id = ANY($3))
            ORDER BY state_since, job_id"#,
        at,
        before,
        accounts
    )
    .fetch_all(db)
    .await
    .context("finding stuck jobs")
}

/// Devices with the customer due back within `days`, soonest first: now
/// (the device_deadlines view), or as the history stood at `at` (the view's
/// definition over the history up to `at`).
pub async fn deadlines_within(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    days: i32,
    accounts: &[String],
) -> anyhow::Result<Vec<Deadline>> {
    sqlx::query_as!(
        Deadline,
        r#"SELECT job_id AS "job_id!", account_id, job_state AS "job_state!",
                  prepared_at AS "prepared_at!", approximate AS "approximate!",
                  deadline AS "deadline!", days_left AS "days_left!"
             FROM (SELECT job_id, account_id, job_state, prepared_at, approximate, deadline,
                          days_left
                     FROM snowball.device_deadlines
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT j.job_id, j.account_id, j.job_state, p.prepared_at, p.approximate,
                          p.prepared_at + interval '360 days',
                          floor(extract(epoch FROM p.prepared_at + interval '360 days' - $1)
                                / 86400)::integer
                     FROM snowball.jobs_as_of($1) j
                     -- As in the view: when the history first shows the job
                     -- past PreparingAppliance, up to the moment.
                     JOIN LATERAL (
                           SELECT h.observed_at AS prepared_at, h.from_state IS NULL AS approximate
                             FROM snowball.job_state_history h
                            WHERE h.job_id = j.job_id AND h.observed_at <= $1
                              AND h.to_state NOT IN ('New', 'PreparingAppliance')
                            ORDER BY h.id
                            LIMIT 1
                          ) p ON true
                    WHERE $1 IS NOT NULL
                      AND j.job_state IN ('PreparingShipment', 'InTransitToCustomer', 'WithCustomer')
                  ) d
            WHERE days_left <= $2
              AND (cardinality($3::text[]) = 0 OR account_id = ANY($3))
            ORDER BY deadline, job_id"#,
        at,
        days,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading device deadlines")
}
