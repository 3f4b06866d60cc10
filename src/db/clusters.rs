//! snowball.clusters (one row per cluster) and snowball.cluster_state_history
//! (append-only, chained per cluster), written together like the jobs, and
//! snowball.jobs.cluster_id from ListClusterJobs.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::estate::ClusterRecord;

/// What a run needs to know of a stored cluster to decide its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub cluster_state: String,
    pub described: bool,
    /// Whether any job carries its cluster_id.
    pub has_members: bool,
}

/// Every stored cluster of these accounts (clusters are few: hundreds).
pub async fn stored(
    db: impl PgExecutor<'_>,
    accounts: &[String],
) -> anyhow::Result<HashMap<String, Stored>> {
    let rows = sqlx::query!(
        r#"SELECT c.cluster_id, c.cluster_state, c.described_at IS NOT NULL AS "described!",
                  EXISTS (SELECT FROM snowball.jobs j WHERE j.cluster_id = c.cluster_id)
                      AS "has_members!"
             FROM snowball.clusters c
            WHERE c.account_id = ANY($1)"#,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading the stored clusters")?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let stored = Stored {
                cluster_state: r.cluster_state,
                described: r.described,
                has_members: r.has_members,
            };
            (r.cluster_id, stored)
        })
        .collect())
}

/// Upserts the listed clusters and writes a history row for each that is
/// new or whose state changed, chained to its last row, in one statement.
/// A cluster's type and metadata change only when it was described. Returns
/// the history rows written.
pub async fn write(
    db: impl PgExecutor<'_>,
    run_id: i64,
    clusters: &[(&str, &str, &ClusterRecord)],
) -> anyhow::Result<u64> {
    // One array per column, as the jobs are written; the creation date and
    // the metadata go as text for PostgreSQL to read, as it always has.
    let accounts: Vec<&str> = clusters.iter().map(|c| c.0).collect();
    let regions: Vec<&str> = clusters.iter().map(|c| c.1).collect();
    let ids: Vec<&str> = clusters.iter().map(|c| c.2.cluster_id.as_str()).collect();
    let states: Vec<&str> = clusters
        .iter()
        .map(|c| c.2.cluster_state.as_str())
        .collect();
    let created: Vec<Option<String>> = clusters
        .iter()
        .map(|c| c.2.creation_date.map(super::timestamp_text))
        .collect();
    let descriptions: Vec<Option<&str>> = clusters
        .iter()
        .map(|c| c.2.description.as_deref())
        .collect();
    let job_types: Vec<Option<&str>> = clusters
        .iter()
        .map(|c| c.2.described.as_ref().and_then(|d| d.job_type.as_deref()))
        .collect();
    let snowball_types: Vec<Option<&str>> = clusters
        .iter()
        .map(|c| {
            c.2.described
                .as_ref()
                .and_then(|d| d.snowball_type.as_deref())
        })
        .collect();
    let metadata: Vec<Option<String>> = clusters
        .iter()
        .map(|c| c.2.described.as_ref().map(|d| d.metadata.to_string()))
        .collect();
    let written = sqlx::query_scalar!(
        r#"
        WITH listed AS (
            -- The caller names each cluster once (sync::estate merges what
            -- several US regions list); should one repeat, keep its first entry:
            -- a statement cannot upsert one row twice.
            SELECT DISTINCT ON (cluster_id)
                   account_id, region, cluster_id, cluster_state,
                   creation_date::timestamptz AS creation_date, description, job_type,
                   snowball_type, metadata::jsonb AS metadata
              FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::text[], $10::text[])
                   WITH ORDINALITY
                   AS l (account_id, region, cluster_id, cluster_state, creation_date,
                         description, job_type, snowball_type, metadata, ord)
             ORDER BY cluster_id, ord
        ),
        before AS MATERIALIZED (
            SELECT c.cluster_id, c.cluster_state, c.last_seen_at
              FROM snowball.clusters c
              JOIN listed USING (cluster_id)
        ),
        upserted AS (
            INSERT INTO snowball.clusters AS c
                   (cluster_id, account_id, region, cluster_state, job_type, snowball_type,
                    creation_date, description, first_seen_at, last_seen_at, state_since,
                    last_sync_run_id, described_at, metadata)
            SELECT cluster_id, account_id, region, cluster_state, job_type, snowball_type,
                   creation_date, description, now(), now(), now(), $1,
                   CASE WHEN metadata IS NOT NULL THEN now() END, metadata
              FROM listed
            ON CONFLICT (cluster_id) DO UPDATE
               SET cluster_state    = EXCLUDED.cluster_state,
                   creation_date    = EXCLUDED.creation_date,
                   description      = EXCLUDED.description,
                   -- Within a run, the first region name wins (as for jobs).
                   region           = CASE WHEN c.last_sync_run_id = $1 AND c.region < EXCLUDED.region
                                           THEN c.region ELSE EXCLUDED.region END,
                   account_id       = EXCLUDED.account_id,
                   last_seen_at     = now(),
                   missing_since    = NULL,
                   state_since      = CASE WHEN c.cluster_state = EXCLUDED.cluster_state
                                           THEN c.state_since ELSE now() END,
                   last_sync_run_id = $1,
                   -- Described by this run, or as described before.
                   job_type         = CASE WHEN EXCLUDED.described_at IS NULL THEN c.job_type
                                           ELSE EXCLUDED.job_type END,
                   snowball_type    = CASE WHEN EXCLUDED.described_at IS NULL THEN c.snowball_type
                                           ELSE EXCLUDED.snowball_type END,
                   metadata         = coalesce(EXCLUDED.metadata, c.metadata),
                   described_at     = coalesce(EXCLUDED.described_at, c.described_at)
            RETURNING c.cluster_id, c.cluster_state
        ),
        transitions AS (
            INSERT INTO snowball.cluster_state_history
                   (cluster_id, from_state, to_state, observed_at, from_state_last_seen_at,
                    sync_run_id, prev_hash, row_hash)
            SELECT u.cluster_id, b.cluster_state, u.cluster_state, now(), b.last_seen_at, $1,
                   head.row_hash,
                   snowball.cluster_state_row_hash(
                       (SELECT snowball.chain_prefix('snowball.cluster_state_history', $1, now())),
                       u.cluster_id, b.cluster_state, u.cluster_state, b.last_seen_at, head.row_hash)
              FROM upserted u
              LEFT JOIN before b USING (cluster_id)
              -- The cluster's last row until now; a new cluster has none.
              LEFT JOIN LATERAL (
                    SELECT h.row_hash
                      FROM snowball.cluster_state_history h
                     WHERE h.cluster_id = u.cluster_id
                     ORDER BY h.id DESC
                     LIMIT 1
                   ) head ON true
             WHERE b.cluster_state IS DISTINCT FROM u.cluster_state
             ORDER BY u.cluster_id
            RETURNING 1
        )
        SELECT count(*) AS "written!" FROM transitions
        "#,
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
        &ids as &[&str],
        &states as &[&str],
        &created as &[Option<String>],
        &descriptions as &[Option<&str>],
        &job_types as &[Option<&str>],
        &snowball_types as &[Option<&str>],
        &metadata as &[Option<String>],
    )
    .fetch_one(db)
    .await
    .with_context(|| format!("writing {} clusters", clusters.len()))?;
    Ok(written as u64)
}

/// Sets snowball.jobs.cluster_id of each (cluster, member job) pair's job,
/// where it differs; a job not yet listed is left to a later run.
pub async fn set_members(db: impl PgExecutor<'_>, members: &[(&str, &str)]) -> anyhow::Result<u64> {
    let clusters: Vec<&str> = members.iter().map(|m| m.0).collect();
    let jobs: Vec<&str> = members.iter().map(|m| m.1).collect();
    let done = sqlx::query!(
        "UPDATE snowball.jobs j
            SET cluster_id = m.cluster_id
           FROM UNNEST($1::text[], $2::text[]) AS m (cluster_id, job_id)
          WHERE j.job_id = m.job_id
            AND j.cluster_id IS DISTINCT FROM m.cluster_id",
        &clusters as &[&str],
        &jobs as &[&str],
    )
    .execute(db)
    .await
    .context("recording the clusters' member jobs")?;
    Ok(done.rows_affected())
}

/// After complete ListClusters listings: marks the clusters of each
/// (account, region) listed that this run did not list.
pub async fn mark_missing(
    db: impl PgExecutor<'_>,
    run_id: i64,
    listed: &[(&str, &str)],
) -> anyhow::Result<u64> {
    let accounts: Vec<&str> = listed.iter().map(|l| l.0).collect();
    let regions: Vec<&str> = listed.iter().map(|l| l.1).collect();
    let done = sqlx::query!(
        "UPDATE snowball.clusters c
            SET missing_since = now()
           FROM UNNEST($2::text[], $3::text[]) AS l (account_id, region)
          WHERE c.account_id = l.account_id
            AND c.region = l.region
            AND c.last_sync_run_id IS DISTINCT FROM $1
            AND c.missing_since IS NULL",
        run_id,
        &accounts as &[&str],
        &regions as &[&str],
    )
    .execute(db)
    .await
    .context("marking clusters no longer listed")?;
    Ok(done.rows_affected())
}

/// A cluster as `history` shows it: its account and its member jobs now.
pub struct Cluster {
    pub account_id: Option<String>,
    pub cluster_state: String,
    pub members: Vec<Member>,
}

pub struct Member {
    pub job_id: String,
    pub job_state: String,
    pub state_since: DateTime<Utc>,
}

/// A cluster and its member jobs; None when there is no such cluster.
pub async fn cluster(conn: &mut PgConnection, cluster_id: &str) -> anyhow::Result<Option<Cluster>> {
    let Some(row) = sqlx::query!(
        "SELECT account_id, cluster_state FROM snowball.clusters WHERE cluster_id = $1",
        cluster_id
    )
    .fetch_optional(&mut *conn)
    .await
    .context("looking the cluster up")?
    else {
        return Ok(None);
    };
    let members = sqlx::query_as!(
        Member,
        "SELECT job_id, job_state, state_since FROM snowball.jobs
          WHERE cluster_id = $1 ORDER BY job_id",
        cluster_id
    )
    .fetch_all(&mut *conn)
    .await
    .context("reading the cluster's jobs")?;
    Ok(Some(Cluster {
        account_id: row.account_id,
        cluster_state: row.cluster_state,
        members,
    }))
}

/// A cluster's stints, oldest first, as cluster_state_intervals has them
/// (`job_id` holds the cluster's id).
pub async fn intervals(
    db: impl PgExecutor<'_>,
    cluster_id: &str,
) -> anyhow::Result<Vec<crate::db::timeline::Interval>> {
    sqlx::query_as!(
        crate::db::timeline::Interval,
        r#"SELECT cluster_id AS job_id, to_state AS state, observed_at AS entered_at,
                  from_state_last_seen_at AS entered_after,
                  lead(observed_at) OVER (ORDER BY id) AS left_at, sync_run_id, row_hash
             FROM snowball.cluster_state_history
            WHERE cluster_id = $1
            ORDER BY id"#,
        cluster_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the history of {cluster_id}"))
}

/// Clusters per account and state, for the metrics file.
pub struct StateCount {
    pub account_id: Option<String>,
    pub cluster_state: String,
    pub clusters: i64,
}

pub async fn state_counts(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"SELECT account_id, cluster_state, count(*) AS "clusters!"
             FROM snowball.clusters
            GROUP BY account_id, cluster_state
            ORDER BY account_id, cluster_state"#
    )
    .fetch_all(db)
    .await
    .context("counting clusters by state")
}

/// A cluster as the report lists it: its members' states counted.
pub struct Overview {
    pub cluster_id: String,
    pub account_id: Option<String>,
    pub region: String,
    pub cluster_state: String,
    pub state_since: DateTime<Utc>,
    pub missing_since: Option<DateTime<Utc>>,
    pub member_jobs: i64,
    /// "STATE×N" per member state, by state.
    pub member_states: Option<String>,
}

/// Every cluster of these accounts (`accounts` empty: all), by state, with
/// its member jobs' states counted: now, or as the history stood at `at`
/// (each cluster's state then and since when, its members' states then;
/// clusters not yet seen then are left out; membership and `missing_since`
/// have no history: today's, `missing_since` shown only when it was already
/// set then).
pub async fn overview(
    db: impl PgExecutor<'_>,
    at: Option<DateTime<Utc>>,
    accounts: &[String],
) -> anyhow::Result<Vec<Overview>> {
    sqlx::query_as!(
        Overview,
        r#"SELECT cluster_id AS "cluster_id!", account_id, region AS "region!",
                  cluster_state AS "cluster_state!", state_since AS "state_since!",
                  missing_since, member_jobs AS "member_jobs!", member_states
             FROM (SELECT c.cluster_id, c.account_id, c.region, c.cluster_state, c.state_since,
                          c.missing_since, coalesce(m.jobs, 0) AS member_jobs,
                          m.states AS member_states
                     FROM snowball.clusters c
                     LEFT JOIN LATERAL (
                           SELECT sum(n)::bigint AS jobs,
                                  string_agg(job_state || '×' || n, ' ' ORDER BY job_state) AS states
                             FROM (SELECT j.job_state, count(*) AS n
                                     FROM snowball.jobs j
                                    WHERE j.cluster_id = c.cluster_id
                                    GROUP BY j.job_state) s
                          ) m ON true
                    WHERE $1::timestamptz IS NULL
                   UNION ALL
                   SELECT c.cluster_id, c.account_id, c.region, h.to_state, h.observed_at,
                          CASE WHEN c.missing_since <= $1 THEN c.missing_since END,
                          coalesce(m.jobs, 0), m.states
                     FROM snowball.clusters c
                     JOIN LATERAL (SELECT h.to_state, h.observed_at
                                     FROM snowball.cluster_state_history h
                                    WHERE h.cluster_id = c.cluster_id AND h.observed_at <= $1
                                    ORDER BY h.id DESC LIMIT 1) h ON true
                     LEFT JOIN LATERAL (
                           SELECT sum(n)::bigint AS jobs,
                                  string_agg(job_state || '×' || n, ' ' ORDER BY job_state) AS states
                             FROM (SELECT s.job_state, count(*) AS n
                                     FROM snowball.jobs j
                                     JOIN LATERAL (SELECT x.to_state AS job_state
                                                     FROM snowball.job_state_history x
                                                    WHERE x.job_id = j.job_id AND x.observed_at <= $1
                                                    ORDER BY x.id DESC LIMIT 1) s ON true
                                    WHERE j.cluster_id = c.cluster_id
                                    GROUP BY s.job_state) s
                          ) m ON true
                    WHERE $1 IS NOT NULL) o
            WHERE cardinality($2::text[]) = 0 OR account_id = ANY($2)
            ORDER BY cluster_state, cluster_id"#,
        at,
        accounts
    )
    .fetch_all(db)
    .await
    .context("reading the clusters")
}
