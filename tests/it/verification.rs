//! The hash-chained history: `verify` and contrib/verify-history.py against
//! clean databases, tampered copies (as the superuser, triggers disabled),
//! concurrent runs and a database of the previous release.

use std::collections::BTreeSet;

use snowball_simulator::Faults;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::support::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// What one verifier said: its exit code and its PROBLEM lines.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) code: i32,
    pub(crate) problems: Vec<String>,
}

fn problems(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PROBLEM "))
        .map(str::to_owned)
        .collect()
}

async fn tool_verify(url: &str, anchors: &[String]) -> Verdict {
    let mut args = vec![
        "verify".to_owned(),
        "--database-url".to_owned(),
        url.to_owned(),
    ];
    for anchor in anchors {
        args.extend(["--anchor".to_owned(), anchor.clone()]);
    }
    let out = run_bin(&args, &[]).await;
    let code = out.output.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code}\n{}\n{}",
        out.command,
        out.stdout(),
        out.stderr()
    );
    if code == 1 {
        assert!(
            out.error_line().contains("does not verify"),
            "{}",
            out.stderr()
        );
    }
    Verdict {
        code,
        problems: problems(&out.stdout()),
    }
}

async fn python_verify(url: &str, anchors: &[String]) -> Verdict {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/verify-history.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(url)
        .args(anchors)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "verify-history.py {url}: exit {code}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Verdict {
        code,
        problems: problems(&stdout),
    }
}

/// Both verifiers, which must say the same, word for word.
pub(crate) async fn both_verify(url: &str, anchors: &[String]) -> Verdict {
    let tool = tool_verify(url, anchors).await;
    let python = python_verify(url, anchors).await;
    assert_eq!(
        tool, python,
        "snowball-sync verify and contrib/verify-history.py disagree"
    );
    tool
}

/// Both verifiers pass on the database at `url`, without anchors (when
/// psycopg is there; under CI=true its absence fails `test`).
pub(crate) async fn assert_both_verify(url: &str, test: &str) {
    if psycopg_available(test) {
        let verdict = both_verify(url, &[]).await;
        assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
    }
}

/// Runs as superuser with every trigger (append-only, foreign keys) off.
async fn tamper(db: &TestDb, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(&*format!(
        "SET session_replication_role = replica; {sql}"
    )))
    .execute(&db.pool)
    .await
    .unwrap_or_else(|err| panic!("tampering failed: {err}\n{sql}"));
}

/// A database of several runs over three accounts and two regions, with
/// details, one run partial (a member account denied). Returns it and each
/// run's published summary digest as an anchor `RUN_ID:DIGEST`.
async fn clean_history() -> (TestDb, Vec<String>) {
    let faults = Faults {
        deny_assume_role: vec![snowball_simulator::account_id(3)],
        ..Faults::default()
    };
    let db = TestDb::migrated().await;
    let sim = organization(40, 93, &REGIONS, 4, &[], Faults::default()).await;
    let mut config = sync_config(&db, &sim, &REGIONS);
    config.aws.accounts.organization_role = Some("SnowballSyncReader".into());
    config.details = Some(4);
    let mut anchors = Vec::new();
    for round in 0..4 {
        if round == 2 {
            sim.sim.set_faults(faults.clone());
        }
        // A partial run fails, with its summary.
        let mut out = Vec::new();
        let summary =
            match snowball_sync::sync::run(&config, &mut out, std::future::pending()).await {
                Ok(summary) => summary,
                Err(failure) => failure
                    .summary
                    .unwrap_or_else(|| panic!("round {round}: {}", failure.error.chain())),
            };
        anchors.push(format!(
            "{}:{}",
            summary.run_id,
            summary.digest_hex().expect("a recorded run has a digest")
        ));
        sim.sim.set_faults(Faults::default());
        sim.sim.advance(4);
    }
    (db, anchors)
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|err| panic!("{err}: {sql}"))
}

#[tokio::test]
async fn a_clean_history_verifies_and_every_way_of_tampering_with_it_is_named_by_both_verifiers() {
    if !psycopg_available("verification::tampering") {
        return;
    }
    let (clean, anchors) = clean_history().await;
    let pool = &clean.pool;
    // The history is varied enough to tamper with: jobs of several rows,
    // detail rows, a partial run.
    assert!(scalar(pool, "SELECT count(*) FROM snowball.job_detail_history").await > 0);
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM snowball.sync_runs WHERE status = 'partial'"
        )
        .await,
        1
    );
    let stored: Vec<String> = sqlx::query_scalar!(
        r#"SELECT id || ':' || encode(digest, 'hex') AS "a!" FROM snowball.sync_runs ORDER BY id"#
    )
    .fetch_all(pool)
    .await
    .expect("digests");
    assert_eq!(stored, anchors, "each summary published the stored digest");
    assert_eq!(
        both_verify(&clean.url, &anchors).await,
        Verdict {
            code: 0,
            problems: vec![]
        }
    );

    // Rows to tamper with: a middle row of a job with three rows or more
    // (its run, and the job's next row), a job's last row, another job.
    let row = |sql: &'static str| async move {
        sqlx::query_as::<_, (i64, String, i64)>(sql)
            .fetch_one(pool)
            .await
            .expect(sql)
    };
    let (middle, job, middle_run) = row(
        "SELECT h.id, h.job_id, h.sync_run_id FROM snowball.job_state_history h
          WHERE (SELECT count(*) FROM snowball.job_state_history o WHERE o.job_id = h.job_id) >= 3
            AND h.prev_hash IS NOT NULL
            AND EXISTS (SELECT FROM snowball.job_state_history n WHERE n.job_id = h.job_id AND n.id > h.id)
          ORDER BY h.id LIMIT 1",
    )
    .await;
    let next: i64 = scalar(
        pool,
        &format!(
            "SELECT min(id) FROM snowball.job_state_history WHERE job_id = '{job}' AND id > {middle}"
        ),
    )
    .await;
    let (last, _, last_run) = row(
        "SELECT h.id, h.job_id, h.sync_run_id FROM snowball.job_state_history h
          WHERE h.id = (SELECT max(id) FROM snowball.job_state_history o WHERE o.job_id = h.job_id)
            AND h.prev_hash IS NOT NULL
          ORDER BY h.id DESC LIMIT 1",
    )
    .await;
    let other: String = sqlx::query_scalar(
        "SELECT job_id FROM snowball.jobs WHERE job_id <> $1 ORDER BY job_id LIMIT 1",
    )
    .bind(&job)
    .fetch_one(pool)
    .await
    .expect("another job");
    // A run in the middle of the digest chain, which wrote rows.
    let (removed_run, after_run): (i64, i64) = sqlx::query_as(
        "SELECT r.id, n.id FROM snowball.sync_runs r
           JOIN snowball.sync_runs n ON n.digest_seq = r.digest_seq + 1
          WHERE EXISTS (SELECT FROM snowball.job_state_history h WHERE h.sync_run_id = r.id)
          ORDER BY r.digest_seq LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .expect("a run with a successor");
    let last_anchor = anchors.last().expect("anchors").clone();
    let last_run_id: i64 = last_anchor
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a run id");

    let state = |id: i64, job: &str, what: &str| {
        format!("snowball.job_state_history row {id} (job {job}): {what}")
    };
    let run = |id: i64, what: &str| format!("snowball.sync_runs run {id}: {what}");
    const ROW: &str = "row_hash does not match the row";
    const LINK: &str = "prev_hash does not link to the job's previous row";
    const DIGEST: &str = "digest does not match";
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "a changed to_state",
            format!("UPDATE snowball.job_state_history SET to_state = 'Cancelled' WHERE id = {middle}"),
            vec![state(middle, &job, ROW)],
        ),
        (
            "a changed observed_at",
            format!(
                "UPDATE snowball.job_state_history SET observed_at = observed_at - interval '1 hour' WHERE id = {middle}"
            ),
            vec![state(middle, &job, ROW)],
        ),
        (
            "a deleted middle row",
            format!("DELETE FROM snowball.job_state_history WHERE id = {middle}"),
            vec![state(next, &job, LINK), run(middle_run, DIGEST)],
        ),
        (
            "a deleted last row of a job",
            format!("DELETE FROM snowball.job_state_history WHERE id = {last}"),
            vec![run(last_run, DIGEST)],
        ),
        (
            // Inserted with a hash that fits the job's chain: only the
            // run's digest can tell.
            "an inserted row",
            format!(
                "INSERT INTO snowball.job_state_history
                        (job_id, from_state, to_state, observed_at, sync_run_id, prev_hash, row_hash)
                 SELECT h.job_id, h.to_state, 'Cancelled', now(), {last_run_id}, h.row_hash,
                        snowball.job_state_row_hash(
                            snowball.chain_prefix('snowball.job_state_history', {last_run_id}, now()),
                            h.job_id, h.to_state, 'Cancelled', NULL, h.row_hash)
                   FROM snowball.job_state_history h WHERE h.id = {last}"
            ),
            vec![run(last_run_id, DIGEST)],
        ),
        (
            "a row moved from one job to another",
            format!("UPDATE snowball.job_state_history SET job_id = '{other}' WHERE id = {middle}"),
            vec![state(middle, &other, ROW), state(next, &job, LINK)],
        ),
        (
            "a whole run's rows and its sync_runs row deleted",
            format!(
                "DELETE FROM snowball.job_state_history WHERE sync_run_id = {removed_run};
                 DELETE FROM snowball.job_detail_history WHERE sync_run_id = {removed_run};
                 DELETE FROM snowball.sync_run_listings WHERE run_id = {removed_run};
                 DELETE FROM snowball.sync_runs WHERE id = {removed_run};"
            ),
            vec![run(after_run, "the run sealed before it is missing")],
        ),
    ];
    for (case, sql, expected) in cases {
        let copy = TestDb::copy_of(&clean.name).await;
        tamper(&copy, &sql).await;
        let verdict = both_verify(&copy.url, &[]).await;
        assert_eq!(verdict.code, 1, "{case}: {verdict:#?}");
        for problem in &expected {
            assert!(
                verdict.problems.contains(problem),
                "{case}: expected {problem:?} among {:#?}",
                verdict.problems
            );
        }
    }

    // The whole history rewritten, every hash and digest recomputed
    // consistently: it verifies on its own; only an anchor kept outside
    // the database tells.
    let copy = TestDb::copy_of(&clean.name).await;
    tamper(
        &copy,
        &format!(
            "UPDATE snowball.job_state_history SET to_state = 'Cancelled' WHERE id = {middle};
         {REHASH}"
        ),
    )
    .await;
    assert_eq!(
        both_verify(&copy.url, &[]).await.code,
        0,
        "a consistent rewrite verifies alone"
    );
    let against_anchor = both_verify(&copy.url, std::slice::from_ref(&last_anchor)).await;
    assert_eq!(
        against_anchor,
        Verdict {
            code: 1,
            problems: vec![format!(
                "anchor run {last_run_id}: digest differs from the anchor"
            )]
        }
    );
}

/// What someone with the superuser and the specification does to rewrite the
/// history undetectably within the database: every chain rehashed in id
/// order, every run sealed again in its order.
const REHASH: &str = "
WITH RECURSIVE ranked AS MATERIALIZED (
    SELECT h.*, row_number() OVER (PARTITION BY h.job_id ORDER BY h.id) AS n
      FROM snowball.job_state_history h
), chain (id, job_id, n, prev_hash, row_hash) AS (
    SELECT r.id, r.job_id, r.n, NULL::bytea,
           snowball.job_state_row_hash(
               snowball.chain_prefix('snowball.job_state_history', r.sync_run_id, r.observed_at),
               r.job_id, r.from_state, r.to_state, r.from_state_last_seen_at, NULL)
      FROM ranked r WHERE r.n = 1
     UNION ALL
    SELECT r.id, r.job_id, r.n, c.row_hash,
           snowball.job_state_row_hash(
               snowball.chain_prefix('snowball.job_state_history', r.sync_run_id, r.observed_at),
               r.job_id, r.from_state, r.to_state, r.from_state_last_seen_at, c.row_hash)
      FROM chain c JOIN ranked r ON r.job_id = c.job_id AND r.n = c.n + 1
)
UPDATE snowball.job_state_history h SET prev_hash = c.prev_hash, row_hash = c.row_hash
  FROM chain c WHERE h.id = c.id;
CREATE TEMP TABLE sealed AS SELECT id, digest_seq FROM snowball.sync_runs WHERE digest_seq IS NOT NULL;
UPDATE snowball.sync_runs SET digest = NULL, digest_seq = NULL;
DO $$
DECLARE
    run bigint;
BEGIN
    FOR run IN SELECT id FROM sealed ORDER BY digest_seq LOOP
        PERFORM snowball.seal_run(run);
    END LOOP;
END
$$;";

#[tokio::test]
async fn the_digest_is_published_in_the_json_summary_the_notification_the_last_log_line_and_the_metrics_file()
 {
    let db = TestDb::migrated().await;
    let sim = simulator(30, 94, &["us-east-1"]).await;
    let mut listener = PgListener::connect(&db.url).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let metrics = dir.path().join("snowball.prom");
    let metrics_arg = metrics.to_string_lossy().into_owned();
    let out = run_bin(
        &sync_args(
            &db.url,
            &sim.endpoint_url(),
            &[
                "--output",
                "json",
                "--log-format",
                "json",
                "--metrics-file",
                &metrics_arg,
            ],
        ),
        &aws_test_env(),
    )
    .await;
    out.assert_code(0);

    let (run_id, stored): (i64, String) =
        sqlx::query_as("SELECT id, encode(digest, 'hex') FROM snowball.sync_runs")
            .fetch_one(&db.pool)
            .await
            .expect("the run's digest");
    assert_eq!(stored.len(), 64);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout().trim()).expect("one JSON object");
    assert_eq!(summary["digest"], stored.as_str(), "JSON summary");
    let last_log: serde_json::Value = out
        .stderr()
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON log line");
    assert_eq!(last_log["message"], "sync finished", "{last_log}");
    assert_eq!(last_log["digest"], stored.as_str(), "last log line");
    let notification = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification")
        .expect("the listener's connection holds");
    let payload: serde_json::Value =
        serde_json::from_str(notification.payload()).expect("a JSON payload");
    assert_eq!(payload["digest"], stored.as_str(), "notification");
    let text = std::fs::read_to_string(&metrics).expect("the metrics file");
    let line = format!("snowball_sync_last_run_info{{run_id=\"{run_id}\",digest=\"{stored}\"}} 1");
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");

    // An anchor from any of these checks the database.
    tool_verify(&db.url, &[format!("{run_id}:{stored}")]).await;
    let anchors = dir.path().join("anchors");
    std::fs::write(
        &anchors,
        format!("# from the JSON logs\n{run_id} {stored}\n\n"),
    )
    .expect("write");
    let out = run_bin(
        &[
            "verify",
            "--database-url",
            &db.url,
            "--anchors",
            &anchors.to_string_lossy(),
            "--output",
            "json",
        ],
        &[],
    )
    .await;
    out.assert_code(0);
    let verdict: serde_json::Value = serde_json::from_str(out.stdout().trim()).expect("JSON");
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["anchors"], 1, "{verdict}");
}

#[tokio::test]
async fn concurrent_runs_over_disjoint_accounts_each_get_a_digest_in_one_chain_without_fork() {
    let db = TestDb::migrated().await;
    let faults = Faults {
        page_latency: std::time::Duration::from_millis(3),
        ..Faults::default()
    };
    let sim = organization(30, 95, &["us-east-1"], 5, &[], faults).await;
    let base = sync_config(&db, &sim, &["us-east-1"]);
    for _ in 0..3 {
        let local = tokio::task::LocalSet::new();
        for account in 1..5 {
            let config = member_sync(&base, &[account]);
            local.spawn_local(async move { sync_ok(&config).await });
        }
        local.await;
        sim.sim.advance(3);
    }
    let seqs: Vec<(i64, Option<i64>, bool)> = sqlx::query_as(
        "SELECT id, digest_seq, digest IS NOT NULL FROM snowball.sync_runs ORDER BY digest_seq",
    )
    .fetch_all(&db.pool)
    .await
    .expect("runs");
    assert_eq!(seqs.len(), 12);
    assert!(seqs.iter().all(|(_, _, sealed)| *sealed), "{seqs:?}");
    let order: Vec<i64> = seqs.iter().filter_map(|(_, seq, _)| *seq).collect();
    assert_eq!(
        order,
        (1..=12).collect::<Vec<_>>(),
        "one chain: 1..12, no fork, no gap"
    );
    let runs: BTreeSet<i64> = seqs.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(runs.len(), 12);
    assert_eq!(
        tool_verify(&db.url, &[]).await,
        Verdict {
            code: 0,
            problems: vec![]
        }
    );
}

#[tokio::test]
async fn a_database_of_the_previous_release_is_chained_by_the_migration_without_losing_or_adding_a_row()
 {
    if !psycopg_available("verification::upgrade") {
        return;
    }
    // Written by the release before the chain: runs (one still running, as
    // if killed), transitions and details.
    let db = TestDb::at_release("20261201130000").await;
    let account = snowball_simulator::account_id(0);
    sqlx::raw_sql(
        sqlx::AssertSqlSafe(&*"INSERT INTO snowball.sync_runs (regions, accounts, status, finished_at, tool_version)
         VALUES ('{us-east-1}', '{012345678900}', 'succeeded', now(), '0.4.0'),
                ('{us-east-1}', '{012345678900}', 'partial', now(), '0.4.0'),
                ('{us-east-1}', '{012345678900}', 'running', NULL, '0.4.0');
         INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since, last_sync_run_id, account_id)
         VALUES ('JIDOLD-1', 'InProgress', 'us-east-1', now(), now(), now(), 2, '012345678900'),
                ('JIDOLD-2', 'New', 'us-east-1', now(), now(), now(), 1, '012345678900');
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id)
         VALUES ('JIDOLD-1', NULL, 'New', now() - interval '2 days', NULL, 1),
                ('JIDOLD-2', NULL, 'New', now() - interval '2 days', NULL, 1),
                ('JIDOLD-1', 'New', 'WithAWS', now() - interval '1 day', now() - interval '2 days', 2),
                ('JIDOLD-1', 'WithAWS', 'InProgress', now(), now() - interval '1 day', 3);
         INSERT INTO snowball.job_detail_history (job_id, observed_at, sync_run_id, inbound_status, bytes_transferred)
         VALUES ('JIDOLD-1', now() - interval '1 day', 2, 'DELIVERED', NULL),
                ('JIDOLD-1', now(), 2, 'DELIVERED', 42);"
            .replace("012345678900", &account)),
    )
    .execute(&db.pool)
    .await
    .expect("the previous release's rows");
    let before = history(&db.pool).await;
    let details = scalar(&db.pool, "SELECT count(*) FROM snowball.job_detail_history").await;

    snowball_sync::db::MIGRATOR
        .run(&db.pool)
        .await
        .expect("this release's migrations");
    assert_eq!(
        history(&db.pool).await,
        before,
        "no history row added or lost"
    );
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM snowball.job_detail_history").await,
        details
    );
    // Ended runs sealed in id order; the running one is left for the run
    // that will mark it abandoned.
    let sealed: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, digest_seq FROM snowball.sync_runs ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("runs");
    assert_eq!(sealed, vec![(1, Some(1)), (2, Some(2)), (3, None)]);
    let verdict = both_verify(&db.url, &[]).await;
    assert_eq!(verdict.code, 0, "{verdict:#?}");

    // The next run marks run 3 abandoned and seals it, then itself.
    let sim = simulator_with_jobs(96, vec![entry("JIDOLD-1", "Complete")]).await;
    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;
    let sealed: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, status, digest_seq FROM snowball.sync_runs ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("runs");
    assert_eq!(
        sealed,
        vec![
            (1, "succeeded".into(), Some(1)),
            (2, "partial".into(), Some(2)),
            (3, "abandoned".into(), Some(3)),
            (4, "succeeded".into(), Some(4))
        ]
    );
    assert_eq!(both_verify(&db.url, &[]).await.code, 0);
}

#[tokio::test]
async fn awkward_values_hash_alike_in_postgresql_rust_and_python() {
    if !psycopg_available("verification::awkward_values") {
        return;
    }
    let db = TestDb::migrated().await;
    // Rows hashed by the database's functions, as the writers hash them;
    // both verifiers recompute them on their own.
    sqlx::raw_sql(
        r#"
        INSERT INTO snowball.sync_runs (regions, status, tool_version) VALUES ('{us-east-1}', 'running', 't');
        INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since)
        SELECT v, 'New', 'us-east-1', now(), now(), now()
          FROM unnest(ARRAY['', 'é漢字🙂', E'a\nb\tc', 'it''s "quoted"', repeat('x', 70000)]) v;
        CREATE TEMP TABLE awkward (job_id text, from_state text, to_state text, observed_at timestamptz,
                                   last_seen timestamptz);
        INSERT INTO awkward
        SELECT v, s.f, s.t, s.at, s.seen
          FROM unnest(ARRAY['', 'é漢字🙂', E'a\nb\tc', 'it''s "quoted"', repeat('x', 70000)]) v,
               (VALUES (NULL, '', '2026-12-01 00:00:00.000001+00'::timestamptz, NULL::timestamptz),
                       ('', 'NULL', '1999-12-31 23:59:59.999999-05', '1999-12-31 00:00:00+14'),
                       ('NULL', 'Nouvel État', '2026-06-30 12:00:00+02', '2026-06-30 09:59:59.5+00')) s (f, t, at, seen);
        DO $$
        DECLARE
            r record;
            head bytea;
        BEGIN
            FOR r IN SELECT * FROM awkward ORDER BY job_id, observed_at LOOP
                SELECT h.row_hash INTO head FROM snowball.job_state_history h
                 WHERE h.job_id = r.job_id ORDER BY h.id DESC LIMIT 1;
                INSERT INTO snowball.job_state_history
                       (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id,
                        prev_hash, row_hash)
                VALUES (r.job_id, r.from_state, r.to_state, r.observed_at, r.last_seen, 1, head,
                        snowball.job_state_row_hash(
                            snowball.chain_prefix('snowball.job_state_history', 1, r.observed_at),
                            r.job_id, r.from_state, r.to_state, r.last_seen, head));
                INSERT INTO snowball.job_detail_history
                       (job_id, observed_at, sync_run_id, shipping_option, bytes_transferred,
                        objects_transferred, total_bytes, total_objects, prev_hash, row_hash)
                SELECT r.job_id, r.observed_at, 1, r.to_state, -1, 0, 9223372036854775807, NULL, p.row_hash,
                       snowball.job_detail_row_hash(
                           snowball.chain_prefix('snowball.job_detail_history', 1, r.observed_at),
                           r.job_id, r.to_state, NULL, NULL, NULL, NULL, -1, 0, 9223372036854775807,
                           NULL, p.row_hash)
                  FROM (SELECT (SELECT d.row_hash FROM snowball.job_detail_history d
                                 WHERE d.job_id = r.job_id ORDER BY d.id DESC LIMIT 1) AS row_hash) p;
            END LOOP;
        END
        $$;
        UPDATE snowball.sync_runs SET status = 'succeeded', finished_at = now();
        SELECT snowball.seal_run(1);
        "#,
    )
    .execute(&db.pool)
    .await
    .expect("awkward rows");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM snowball.job_state_history").await,
        15
    );
    assert_eq!(
        both_verify(&db.url, &[]).await,
        Verdict {
            code: 0,
            problems: vec![]
        }
    );
}

#[tokio::test]
async fn a_malformed_or_conflicting_anchor_exits_2_naming_it() {
    let db = TestDb::migrated().await;
    let digest = "ab".repeat(32);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("anchors");
    std::fs::write(&file, format!("# kept\n1 {digest}\n2 not-a-digest\n")).expect("write");
    let file = file.to_string_lossy().into_owned();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "# nothing was published\n\n").expect("write");
    let empty = empty.to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--anchor".into(), "7".into()],
            "--anchor must be RUN_ID:DIGEST".into(),
        ),
        (
            vec!["--anchor".into(), format!("0:{digest}")],
            "--anchor must be RUN_ID:DIGEST".into(),
        ),
        (
            vec!["--anchor".into(), format!("1:{}", &digest[1..])],
            "--anchor must be RUN_ID:DIGEST".into(),
        ),
        (
            vec![
                "--anchor".into(),
                format!("1:{digest}"),
                "--anchor".into(),
                format!("1:{}", "cd".repeat(32)),
            ],
            "run 1 has two different anchors".into(),
        ),
        (
            vec!["--anchors".into(), file.clone()],
            format!("--anchors {file} line 3: expected `RUN_ID DIGEST`"),
        ),
        (
            vec!["--anchors".into(), "/nonexistent/anchors".into()],
            "--anchors: cannot read /nonexistent/anchors".into(),
        ),
        (
            vec!["--anchors".into(), empty.clone()],
            format!("--anchors {empty}: the file holds no anchor"),
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "verify".to_owned(),
            "--database-url".to_owned(),
            db.url.clone(),
        ];
        args.extend(extra);
        let out = run_bin(&args, &[]).await;
        out.assert_code(2);
        let line = out.error_line();
        assert!(line.contains(&expected), "{line:?} should say {expected:?}");
        assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
    }
}

/// Term rows holding values no release writes, hashed and linked as the
/// database's own functions hash them: the history refuses them in new rows;
/// rows written before that (here: with the constraint dropped, as only the
/// schema's owner can) are checked by both verifiers, which agree with the
/// database on every hash (a year past 9999 is no problem), name each value
/// the encoding cannot tell from another (infinity, a year BC, a NULL
/// element, a nested array) on its row, go on, and name a second row
/// tampered with elsewhere.
#[tokio::test]
async fn values_no_release_writes_are_named_on_their_rows_and_verify_goes_on() {
    if !psycopg_available("verification::values_no_release_writes") {
        return;
    }
    let db = TestDb::migrated().await;
    let sim = estate_simulator(8, 57, &["us-east-1"], 1, (0, 1)).await;
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.estate = snowball_sync::config::EstateKinds::all();
    sync_ok(&config).await;
    let term: String =
        sqlx::query_scalar("SELECT min(long_term_pricing_id) FROM snowball.long_term_pricing")
            .fetch_one(&db.pool)
            .await
            .expect("a term");
    let refused = sqlx::query(
        "INSERT INTO snowball.long_term_pricing_history
                (long_term_pricing_id, observed_at, sync_run_id, end_date, row_hash)
         SELECT $1, now(), max(id), 'infinity', '\\x00' FROM snowball.sync_runs",
    )
    .bind(&term)
    .execute(&db.pool)
    .await
    .expect_err("a new row with an infinite end_date is refused");
    assert!(
        refused
            .to_string()
            .contains("long_term_pricing_history_values_the_encoding_tells_apart"),
        "{refused}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(&*format!(
        r#"
        ALTER TABLE snowball.long_term_pricing_history
              DROP CONSTRAINT long_term_pricing_history_values_the_encoding_tells_apart;
        INSERT INTO snowball.sync_runs (regions, status, tool_version) VALUES ('{{us-east-1}}', 'running', 't');
        DO $$
        DECLARE
            v record;
            head bytea;
            run bigint := (SELECT max(id) FROM snowball.sync_runs);
        BEGIN
            FOR v IN SELECT * FROM (VALUES
                    (1, '10000-01-01 00:00:00+00'::timestamptz, '{{a}}'::text[]),
                    (2, 'infinity', '{{a}}'),
                    (3, '-infinity', '{{a}}'),
                    (4, '0044-03-15 00:00:00+00 BC', '{{a}}'),
                    (5, '2030-01-01 00:00:00+00', '{{a,NULL,""}}'),
                    (6, '2030-01-01 00:00:00+00', '{{{{a,b}},{{c,d}}}}')) t (n, end_date, job_ids)
                  ORDER BY n LOOP
                SELECT h.row_hash INTO head FROM snowball.long_term_pricing_history h
                 WHERE h.long_term_pricing_id = '{term}' ORDER BY h.id DESC LIMIT 1;
                INSERT INTO snowball.long_term_pricing_history
                       (long_term_pricing_id, observed_at, sync_run_id, status, auto_renew, end_date,
                        current_active_job, replacement_job, job_ids, prev_hash, row_hash)
                VALUES ('{term}', '2026-12-01 00:00:00+00', run, 'ACTIVE', true, v.end_date, NULL, NULL,
                        v.job_ids, head,
                        snowball.long_term_pricing_row_hash(
                            snowball.chain_prefix('snowball.long_term_pricing_history', run,
                                                  '2026-12-01 00:00:00+00'),
                            '{term}', 'ACTIVE', true, v.end_date, NULL, NULL, v.job_ids, head));
            END LOOP;
        END
        $$;
        "#
    )))
    .execute(&db.pool)
    .await
    .expect("the writer's inserts");
    let first: i64 = scalar(
        &db.pool,
        "SELECT min(id) FROM snowball.long_term_pricing_history WHERE observed_at = '2026-12-01 00:00:00+00'",
    )
    .await;
    let (tampered, job): (i64, String) =
        sqlx::query_as("SELECT id, job_id FROM snowball.job_state_history ORDER BY id LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .expect("a state row");
    tamper(
        &db,
        &format!(
            "UPDATE snowball.job_state_history SET to_state = to_state || ' (edited)' WHERE id = {tampered}"
        ),
    )
    .await;

    let term_row = |n: i64, what: &str| {
        format!(
            "snowball.long_term_pricing_history row {} (term {term}): {what}",
            first + n - 1
        )
    };
    assert_eq!(
        both_verify(&db.url, &[]).await,
        Verdict {
            code: 1,
            problems: vec![
                format!(
                    "snowball.job_state_history row {tampered} (job {job}): row_hash does not match the row"
                ),
                term_row(
                    2,
                    "end_date is infinity, which the encoding cannot tell from NULL"
                ),
                term_row(
                    3,
                    "end_date is -infinity, which the encoding cannot tell from NULL"
                ),
                term_row(
                    4,
                    "end_date is in year 44 BC, which the encoding cannot tell from year 44 AD"
                ),
                term_row(5, "job_ids has a NULL element (element 2)"),
                term_row(6, "job_ids has 2 dimensions, which the encoding flattens"),
            ]
        }
    );
}

/// One byte changed in a kept report, a stray chunk after a gap in another:
/// each named on its report's row.
#[tokio::test]
async fn verify_checks_every_kept_reports_bytes_against_its_sha256() {
    if !psycopg_available("verification::report_content") {
        return;
    }
    let db = TestDb::migrated().await;
    let sim = simulator(60, 58, &["us-east-1"]).await;
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.details = Some(4);
    config.reports = Some(snowball_sync::config::ArchiveConfig {
        max_bytes: 512 * 1024 * 1024,
        loopback_http: true,
        attempt_timeout: std::time::Duration::from_secs(2),
        operation_timeout: std::time::Duration::from_secs(30),
    });
    let summary = sync_ok(&config).await;
    assert!(
        summary.totals.reports_archived.unwrap_or(0) >= 3,
        "{summary}"
    );
    let clean = both_verify(&db.url, &[]).await;
    assert_eq!((clean.code, clean.problems), (0, Vec::<String>::new()));

    let pool = &db.pool;
    let report = |sql: &'static str| async move {
        sqlx::query_as::<_, (i64, String, String)>(sql)
            .fetch_one(pool)
            .await
            .expect(sql)
    };
    let (changed, changed_job, changed_kind) =
        report("SELECT id, job_id, kind FROM snowball.job_reports WHERE stored AND bytes > 0 ORDER BY id LIMIT 1").await;
    let (cut, cut_job, cut_kind) =
        report("SELECT id, job_id, kind FROM snowball.job_reports WHERE stored AND bytes > 0 ORDER BY id OFFSET 1 LIMIT 1").await;
    tamper(
        &db,
        &format!(
            "UPDATE snowball.job_report_chunks SET data = overlay(data placing '\\x00'::bytea from 1 for 1)
              WHERE job_id = '{changed_job}' AND kind = '{changed_kind}' AND seq = 0;
             INSERT INTO snowball.job_report_chunks VALUES ('{cut_job}', '{cut_kind}', 7, '\\x00');"
        ),
    )
    .await;
    let verdict = both_verify(&db.url, &[]).await;
    assert_eq!(verdict.code, 1);
    let line = |id: i64, job: &str, what: &str| {
        format!("snowball.job_reports row {id} (job {job}): {what}")
    };
    let mut expected = vec![
        line(
            changed,
            &changed_job,
            "its content in snowball.job_report_chunks does not match its bytes and sha256",
        ),
        line(
            cut,
            &cut_job,
            "its content in snowball.job_report_chunks has a missing or misplaced chunk",
        ),
    ];
    let mut found = verdict.problems.clone();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}

/// The recipe in docs/verifying.md for collecting anchors, run by bash and jq on a log
/// as cron captures it: each run's summary line on stdout between the JSON
/// log lines of stderr, and a line from the shell. Every run's anchor is
/// kept, and `verify` says how many it checked.
#[tokio::test]
async fn the_anchor_recipe_keeps_every_digest_from_a_log_with_other_lines_between() {
    for tool in ["bash", "jq"] {
        if skipped_without(tool, "verification::the_anchor_recipe") {
            return;
        }
    }
    let db = TestDb::migrated().await;
    let sim = simulator(30, 59, &["us-east-1"]).await;
    let mut log = String::from("/bin/sh: 1: cd: can't cd to /var/lib/snowball-sync\n");
    for _ in 0..3 {
        let out = run_bin(
            &sync_args(&db.url, &sim.endpoint_url(), &["--log-format", "json"]),
            &aws_test_env(),
        )
        .await;
        out.assert_code(0);
        // What cron mails or journald keeps: both streams in one log.
        let stderr = out.stderr();
        let (first, rest) = stderr.split_at(stderr.find('\n').map_or(0, |n| n + 1));
        log.push_str(first);
        log.push_str(&out.stdout());
        log.push_str(rest);
        sim.sim.advance(3);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let captured = dir.path().join("cron.log");
    std::fs::write(&captured, &log).expect("write the log");
    let anchors = dir.path().join("anchors.txt");
    // The recipe as the manual gives it, reading the captured log.
    let recipe = format!(
        r#"jq -R -r 'fromjson? | select(.message == "sync finished" and .digest != null) | "\(.run_id) \(.digest)"' < {} > {}"#,
        captured.display(),
        anchors.display()
    );
    let status = tokio::process::Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {recipe}")])
        .status()
        .await
        .expect("bash runs");
    assert!(status.success(), "{recipe}\n{log}");
    let kept = std::fs::read_to_string(&anchors).expect("the anchors");
    assert_eq!(kept.lines().count(), 3, "{kept}\nfrom:\n{log}");
    let out = run_bin(
        &[
            "verify",
            "--database-url",
            &db.url,
            "--anchors",
            &anchors.to_string_lossy(),
        ],
        &[],
    )
    .await;
    out.assert_code(0);
    assert!(
        out.stdout().contains("3 anchors checked"),
        "{}",
        out.stdout()
    );
}

/// Runs sealed by this release (digest version 2) commit to their own
/// record and listings: an edited error, count, time, account list or
/// listing is named by both verifiers; runs sealed before keep version 1.
#[tokio::test]
async fn a_runs_record_and_listings_are_covered_by_its_digest() {
    if !psycopg_available("verification::run_record") {
        return;
    }
    let db = TestDb::migrated().await;
    let sim = simulator(30, 60, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let run = sync_ok(&config).await;
    let version: Option<i16> =
        sqlx::query_scalar("SELECT digest_version FROM snowball.sync_runs WHERE id = $1")
            .bind(run.run_id)
            .fetch_one(&db.pool)
            .await
            .expect("the run");
    assert_eq!(version, Some(2));
    let clean = both_verify(&db.url, &[]).await;
    assert_eq!((clean.code, clean.problems), (0, Vec::<String>::new()));
    let id = run.run_id;
    for (case, sql) in [
        (
            "an edited error",
            format!("UPDATE snowball.sync_runs SET error = 'all fine' WHERE id = {id}"),
        ),
        (
            "an edited count",
            format!("UPDATE snowball.sync_runs SET transitions = transitions + 1 WHERE id = {id}"),
        ),
        (
            "an edited time",
            format!(
                "UPDATE snowball.sync_runs SET finished_at = finished_at + interval '1 second' WHERE id = {id}"
            ),
        ),
        (
            "an edited account list",
            format!("UPDATE snowball.sync_runs SET accounts = '{{999999999999}}' WHERE id = {id}"),
        ),
        (
            "an edited listing",
            format!("UPDATE snowball.sync_run_listings SET pages = pages + 1 WHERE run_id = {id}"),
        ),
        (
            "a deleted listing",
            format!("DELETE FROM snowball.sync_run_listings WHERE run_id = {id}"),
        ),
    ] {
        let copy = TestDb::copy_of(&db.name).await;
        tamper(&copy, &sql).await;
        assert_eq!(
            both_verify(&copy.url, &[]).await,
            Verdict {
                code: 1,
                problems: vec![format!(
                    "snowball.sync_runs run {id}: digest does not match"
                )]
            },
            "{case}"
        );
    }
}

/// The specification (docs/verifying.md)'s worked examples: the database's functions give exactly the
/// hashes the specification (docs/verifying.md) states, the specification (docs/verifying.md) states them, and both verifiers,
/// which recompute everything on their own, agree.
#[tokio::test]
async fn the_worked_examples_are_what_the_database_and_both_verifiers_compute() {
    let db = TestDb::migrated().await;
    sqlx::raw_sql(include_str!("fixtures/worked-examples.sql"))
        .execute(&db.pool)
        .await
        .expect("the examples");
    let computed: Vec<(String, String)> = sqlx::query_as(
        "SELECT 'job_state_history', encode(row_hash, 'hex') FROM snowball.job_state_history
         UNION ALL SELECT 'job_detail_history', encode(row_hash, 'hex') FROM snowball.job_detail_history
         UNION ALL SELECT 'job_reports', encode(row_hash, 'hex') FROM snowball.job_reports
         UNION ALL SELECT 'device_usage_history', encode(row_hash, 'hex') FROM snowball.device_usage_history
         UNION ALL SELECT 'cluster_state_history', encode(row_hash, 'hex') FROM snowball.cluster_state_history
         UNION ALL SELECT 'long_term_pricing_history', encode(row_hash, 'hex') FROM snowball.long_term_pricing_history
         UNION ALL SELECT 'rows hash', encode(snowball.run_rows_hash(7), 'hex')
         UNION ALL SELECT 'listings hash', encode(snowball.run_listings_hash(7), 'hex')
         UNION ALL SELECT 'digest', encode(digest, 'hex') FROM snowball.sync_runs WHERE id = 7",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the hashes");
    let stated = [
        (
            "job_state_history",
            "515d042ab08269c9ae915481e76646982494176c0012161fdc7defe475639ca1",
        ),
        (
            "job_detail_history",
            "4b6a66ea50d582ed185922a017136c689817889071fe8af342cbe61161e0b04c",
        ),
        (
            "job_reports",
            "cb0d233f99a15442e55ed1744e2e7864b5db950103671d21329779154cbecb70",
        ),
        (
            "device_usage_history",
            "10d4c2d776ec16639c8e414ec1198795e2f2362da07a6f53c2e1e71915d6dcb8",
        ),
        (
            "cluster_state_history",
            "27aab4b77b358e5bb6c158dd1c0e37b5950446282c205d4648dc246a678d4041",
        ),
        (
            "long_term_pricing_history",
            "27f3388ea192f7b8dd4db4f3d4c0a170ae6ca7ba688204daa7b34739939dc0c2",
        ),
        (
            "rows hash",
            "6d3e3ad76f91b4dc89b904fdae2ad9b5d15927e927cbd6c2d8caa7b7fe133dec",
        ),
        (
            "listings hash",
            "d04a7d1c9b0e260c0c7a0d1846e0f1f4f9c3c71f347c2f8f4df3f8bc4ff3e8d2",
        ),
        (
            "digest",
            "93017777a6f3919d9ad624497bb4ce2e4176a2923d5e917d47cbf5323653f6f4",
        ),
    ];
    let stated: Vec<(String, String)> = stated
        .iter()
        .map(|(what, hex)| (what.to_string(), hex.to_string()))
        .collect();
    assert_eq!(computed, stated);
    let spec = include_str!("../../docs/verifying.md");
    for (what, hex) in &stated {
        assert!(
            spec.contains(hex.as_str()),
            "docs/verifying.md states {what}'s {hex}"
        );
    }
    // The encoding of the state row, byte by byte as docs/verifying.md shows it.
    let mut encoder = snowball_sync::chain::Encoder::new("snowball.job_state_history");
    encoder
        .integer(Some(7))
        .text(Some("2026-12-01T09:30:00.000000Z"))
        .text(Some("JID123"))
        .text(Some("New"))
        .text(Some("PreparingAppliance"))
        .text(Some("2026-12-01T08:30:00.000000Z"))
        .bytes(None);
    assert_eq!(snowball_sync::chain::hex(&encoder.finish()), stated[0].1);
    let verdict = tool_verify(&db.url, &[format!("7:{}", stated[8].1)]).await;
    assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
    if psycopg_available("verification::worked_examples") {
        let verdict = both_verify(&db.url, &[format!("7:{}", stated[8].1)]).await;
        assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
    }
}
