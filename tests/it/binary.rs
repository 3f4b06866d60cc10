//! The built binary: exit codes, one-line errors, the lock between runs.

use std::time::{Duration, Instant};

use snowball_simulator::Faults;

use crate::support::*;

#[tokio::test]
async fn the_binary_syncs_and_prints_one_summary_line() {
    let db = TestDb::empty().await;
    let sim = simulator(150, 20, &["us-east-1"]).await;
    let url = sim.endpoint_url();

    let out = run_bin(&sync_args(&db.url, &url, &[]), &aws_test_env()).await;

    out.assert_code(0);
    assert_eq!(out.stdout().lines().count(), 1, "{}", out.stdout());
    assert!(
        out.stdout().starts_with(
            "synced us-east-1: 2 pages, 150 jobs seen, 150 new, 0 changed, 150 transitions in "
        ),
        "{}",
        out.stdout()
    );
    assert_eq!(count_jobs(&db.pool).await, 150);
}

#[tokio::test]
async fn page_size_out_of_range_exits_2_with_a_one_line_message() {
    for size in ["0", "101"] {
        let out = run_bin(
            &["sync", "--page-size", size, "--region", "us-east-1"],
            &aws_test_env(),
        )
        .await;
        out.assert_code(2);
        assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
        assert_eq!(
            out.error_line(),
            format!("snowball-sync: --page-size must be between 1 and 100, got {size}")
        );
    }
}

#[tokio::test]
async fn malformed_database_url_exits_2_with_a_one_line_message() {
    let out = run_bin(
        &[
            "sync",
            "--database-url",
            "postgres://u:hunter2@db.example:notaport/x",
            "--region",
            "us-east-1",
        ],
        &aws_test_env(),
    )
    .await;

    out.assert_code(2);
    assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
    assert!(
        out.error_line().contains("database URL is malformed"),
        "{}",
        out.stderr()
    );
    assert!(!out.stderr().contains("hunter2"));
}

#[tokio::test]
async fn unreachable_database_exits_1_with_a_clear_message_and_no_panic() {
    let sim = simulator(5, 21, &["us-east-1"]).await;
    let url = sim.endpoint_url();
    let started = Instant::now();

    // Port 1 on loopback: nothing listens, the connection is refused.
    let out = run_bin(
        &[
            "sync",
            "--database-url",
            "postgres://postgres:sekrit@127.0.0.1:1/postgres",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
        ],
        &aws_test_env(),
    )
    .await;

    out.assert_code(1);
    let line = out.error_line();
    assert!(line.starts_with("snowball-sync: cannot connect to PostgreSQL (host 127.0.0.1 port 1 database postgres user postgres)"), "{line}");
    assert!(!out.stderr().contains("sekrit"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_held_lock_makes_the_next_run_exit_75_and_wait_lock_waits() {
    let db = TestDb::migrated().await;
    let sim = simulator(20, 22, &["us-east-1"]).await;
    let url = sim.endpoint_url();
    let mut holder = db.pool.acquire().await.expect("a connection");
    sqlx::query!("SELECT pg_advisory_lock(x'736e6f7773796e63'::bigint)")
        .execute(&mut *holder)
        .await
        .expect("take the lock");

    let refused = run_bin(&sync_args(&db.url, &url, &[]), &aws_test_env()).await;
    refused.assert_code(75);
    assert!(
        refused
            .error_line()
            .contains("another snowball-sync run holds the lock"),
        "{}",
        refused.stderr()
    );
    assert_eq!(count_jobs(&db.pool).await, 0);

    let waiting = tokio::spawn({
        let args = sync_args(&db.url, &url, &["--wait-lock"]);
        async move { run_bin(&args, &aws_test_env()).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "--wait-lock returned while the lock was held"
    );
    sqlx::query_scalar!("SELECT pg_advisory_unlock(x'736e6f7773796e63'::bigint)")
        .fetch_one(&mut *holder)
        .await
        .expect("release");
    waiting.await.expect("the waiting run").assert_code(0);
    assert_eq!(count_jobs(&db.pool).await, 20);
}

#[tokio::test]
async fn two_concurrent_syncs_one_exits_75_and_no_transition_is_recorded_twice() {
    let db = TestDb::migrated().await;
    // Slow pages keep the first run busy while the second starts.
    let faults = Faults {
        page_latency: Duration::from_millis(300),
        ..Faults::default()
    };
    let sim = simulator_with_faults(250, 23, &["us-east-1"], faults).await;
    let url = sim.endpoint_url();

    let args = sync_args(&db.url, &url, &[]);
    let env = aws_test_env();
    let (a, b) = tokio::join!(run_bin(&args, &env), run_bin(&args, &env));

    let mut codes = [a.output.status.code(), b.output.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(75)],
        "\n--- a\n{}\n--- b\n{}",
        a.stderr(),
        b.stderr()
    );
    let history = history(&db.pool).await;
    assert_eq!(history.len(), 250);
    let mut ids: Vec<_> = history.iter().map(|(id, ..)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 250);
}

#[tokio::test]
async fn migrate_applies_the_schema_and_sync_no_migrate_needs_it() {
    let db = TestDb::empty().await;
    let sim = simulator(5, 24, &["us-east-1"]).await;
    let url = sim.endpoint_url();

    let without = run_bin(
        &sync_args(&db.url, &url, &["--no-migrate"]),
        &aws_test_env(),
    )
    .await;
    without.assert_code(1);
    without.error_line();

    run_bin(&["migrate", "--database-url", &db.url], &[])
        .await
        .assert_code(0);
    run_bin(
        &sync_args(&db.url, &url, &["--no-migrate"]),
        &aws_test_env(),
    )
    .await
    .assert_code(0);
    assert_eq!(count_jobs(&db.pool).await, 5);
}

#[tokio::test]
async fn no_region_anywhere_is_a_usage_error_before_the_database_is_touched() {
    let db = TestDb::empty().await;
    let sim = simulator(5, 25, &["us-east-1"]).await;
    let url = sim.endpoint_url();
    let out = run_bin(
        &["sync", "--database-url", &db.url, "--endpoint-url", &url],
        &aws_test_env(),
    )
    .await;

    out.assert_code(2);
    assert_eq!(
        out.error_line(),
        "snowball-sync: no AWS region: pass --region or set AWS_REGION"
    );
    let schema = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM pg_namespace WHERE nspname = 'snowball'"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("query");
    assert_eq!(schema, 0, "the schema was created before the usage error");
}

#[tokio::test]
async fn version_names_the_release_and_the_commit_it_was_built_from() {
    let out = run_bin(&["--version"], &[]).await;
    out.assert_code(0);
    let head = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .expect("git runs");
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert!(head.status.success() && commit.len() == 12, "{head:?}");
    assert_eq!(
        out.stdout(),
        format!(
            "snowball-sync {} (commit {commit})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
