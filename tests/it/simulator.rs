//! The simulator: determinism, lifecycles, protocol errors, faults on the
//! wire, an outside client, and the `simulate` and `demo` commands.

use std::time::Duration;

use aws_sdk_snowball::operation::list_jobs::ListJobsError;
use snowball_simulator::{Faults, FleetConfig, Simulator, fleet};
use snowball_sync::aws;
use snowball_sync::job::JobRecord;

use crate::support::*;

async fn rust_sdk_listing(
    sim: &snowball_simulator::RunningSimulator,
    region: &str,
    page_size: i32,
) -> Vec<JobRecord> {
    let db_less = sync_config_without_db(sim, region);
    let access = aws::load(&db_less).await;
    let client = aws::client(&access, region, &aws::ApiCounter::default());
    let mut all = Vec::new();
    aws::list_region(&client, "012345678900", region, page_size, 10_000, |page| {
        all.extend(page.jobs);
        async { Ok(()) }
    })
    .await
    .expect("the listing completes");
    all
}

fn sync_config_without_db(
    sim: &snowball_simulator::RunningSimulator,
    region: &str,
) -> snowball_sync::config::AwsConfig {
    snowball_sync::config::AwsConfig {
        max_attempts: 1,
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        ..snowball_sync::config::AwsConfig::simulated(
            sim.endpoint_url(),
            vec![snowball_sync::values::Region::parse(region).expect("a region name")],
        )
    }
}

async fn sdk_client(sim: &snowball_simulator::RunningSimulator) -> aws_sdk_snowball::Client {
    outside_sdk_client(&sim.endpoint_url(), "us-east-1")
}

/// Checks every recorded state change is a step the job's lifecycle allows;
/// returns the to_state of each change.
async fn assert_every_change_follows_a_lifecycle(db: &TestDb) -> Vec<String> {
    let steps = sqlx::query!(
        r#"SELECT h.job_id, h.from_state AS "from_state!", h.to_state, j.job_type, j.is_master
             FROM snowball.job_state_history h JOIN snowball.jobs j USING (job_id)
            WHERE h.from_state IS NOT NULL"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("transitions");
    for step in &steps {
        let job_type = step.job_type.as_deref().unwrap_or("IMPORT");
        let allowed = fleet::is_allowed_step(
            job_type,
            step.is_master.unwrap_or(false),
            &step.from_state,
            &step.to_state,
        );
        assert!(
            allowed,
            "{} ({job_type}) moved {} -> {}",
            step.job_id, step.from_state, step.to_state
        );
    }
    steps.into_iter().map(|step| step.to_state).collect()
}

#[test]
fn same_seed_and_ticks_give_the_same_fleet_byte_for_byte() {
    let config = FleetConfig::new(500, 42, vec!["us-east-1".into(), "eu-west-1".into()]);
    let a = Simulator::new(&config, Faults::default());
    let b = Simulator::new(&config, Faults::default());
    a.advance(7);
    b.advance(3);
    b.advance(4);
    assert_eq!(a.dump(), b.dump());

    let other = Simulator::new(&FleetConfig { seed: 43, ..config }, Faults::default());
    other.advance(7);
    assert_ne!(a.dump(), other.dump());
}

#[test]
fn fleets_cover_every_job_type_and_snowball_type_and_grow_over_time() {
    let mut fleet = fleet::Fleet::generate(5, 600);
    let types: std::collections::BTreeSet<_> =
        fleet.entries().filter_map(|e| e.job_type.clone()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["EXPORT", "IMPORT", "LOCAL_USE"]
    );
    for snowball_type in fleet::SNOWBALL_TYPES {
        assert!(
            fleet
                .entries()
                .any(|e| e.snowball_type.as_deref() == Some(*snowball_type)),
            "{snowball_type}"
        );
    }
    assert!(fleet.entries().any(|e| e.is_master));
    let created: Vec<i64> = fleet.entries().filter_map(|e| e.creation_date).collect();
    let span_days =
        (created.iter().max().unwrap_or(&0) - created.iter().min().unwrap_or(&0)) / 86_400;
    assert!(span_days > 90, "creation dates span {span_days} days");
    fleet.advance(10);
    assert!(fleet.len() > 600);
}

#[tokio::test]
async fn jobs_only_move_forward_along_their_documented_lifecycle() {
    let db = TestDb::migrated().await;
    let sim = simulator(400, 31, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    for _ in 0..15 {
        sim.sim.advance(1);
        sync_ok(&config).await;
    }

    let steps = assert_every_change_follows_a_lifecycle(&db).await;
    assert!(
        steps.len() > 400,
        "only {} transitions in 15 ticks",
        steps.len()
    );
    let parts_appeared = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.jobs
            WHERE job_type = 'EXPORT' AND NOT is_master AND first_seen_at > (SELECT min(first_seen_at) FROM snowball.jobs)"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert!(
        parts_appeared > 0,
        "no export job part appeared after the first sync"
    );
    let cancelled = steps.iter().filter(|to| *to == "Cancelled").count();
    assert!(cancelled > 0, "nothing was cancelled");
}

#[tokio::test]
async fn max_results_outside_0_to_100_is_a_validation_exception() {
    let sim = simulator(10, 32, &["us-east-1"]).await;
    let client = sdk_client(&sim).await;

    let err = client
        .list_jobs()
        .max_results(101)
        .send()
        .await
        .expect_err("101 is too many");
    let service_error = err.as_service_error().expect("a service error");
    assert_eq!(
        aws_sdk_snowball::error::ProvideErrorMetadata::code(service_error),
        Some("ValidationException")
    );

    let ok = client
        .list_jobs()
        .max_results(100)
        .send()
        .await
        .expect("100 is allowed");
    assert_eq!(ok.job_list_entries().len(), 10);
}

#[tokio::test]
async fn forged_and_stale_tokens_are_invalid_next_token_exceptions() {
    let sim = simulator(30, 33, &["us-east-1"]).await;
    let client = sdk_client(&sim).await;

    let forged = client
        .list_jobs()
        .next_token("0000000000000005ffffffffffffffff")
        .send()
        .await
        .expect_err("forged");
    assert!(
        forged
            .as_service_error()
            .is_some_and(ListJobsError::is_invalid_next_token_exception),
        "{forged:?}"
    );

    let first = client
        .list_jobs()
        .max_results(10)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("more pages").to_owned();
    client
        .list_jobs()
        .max_results(10)
        .next_token(&token)
        .send()
        .await
        .expect("a fresh token works");
    sim.sim.invalidate_tokens();
    let stale = client
        .list_jobs()
        .max_results(10)
        .next_token(&token)
        .send()
        .await
        .expect_err("stale");
    assert!(
        stale
            .as_service_error()
            .is_some_and(ListJobsError::is_invalid_next_token_exception),
        "{stale:?}"
    );
}

#[tokio::test]
async fn each_fault_kind_makes_the_sdk_retry_and_every_job_is_stored_once() {
    let kinds = [
        (
            "throttling",
            Faults {
                throttle_every: Some(3),
                ..Faults::default()
            },
        ),
        (
            "HTTP 500",
            Faults {
                error_every: Some(3),
                ..Faults::default()
            },
        ),
        (
            "dropped connection",
            Faults {
                drop_every: Some(3),
                ..Faults::default()
            },
        ),
        (
            "throttle every 3rd and 500 every 5th",
            Faults {
                throttle_every: Some(3),
                error_every: Some(5),
                ..Faults::default()
            },
        ),
    ];
    for (kind, faults) in kinds {
        let db = TestDb::migrated().await;
        let sim = simulator_with_faults(1000, 34, &["us-east-1"], faults).await;

        let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

        assert_eq!(summary.totals.pages, 10, "{kind}");
        assert!(sim.sim.list_requests() > 10, "{kind}: nothing was retried");
        assert_eq!(count_jobs(&db.pool).await, 1000, "{kind}");
        assert_eq!(history(&db.pool).await.len(), 1000, "{kind}");
    }
}

#[tokio::test]
async fn boto3_pages_the_same_fleet_as_the_rust_sdk() {
    if !boto3_available("boto3_pages_the_same_fleet_as_the_rust_sdk") {
        return;
    }
    let sim = simulator(230, 35, &["us-east-1", "eu-west-1"]).await;
    sim.sim.advance(3);
    for region in ["us-west-2", "eu-west-1"] {
        let ours: Vec<serde_json::Value> = rust_sdk_listing(&sim, region, 40)
            .await
            .into_iter()
            .map(|job| {
                serde_json::json!({
                    "job_id": job.job_id, "job_state": job.job_state, "job_type": job.job_type,
                    "snowball_type": job.snowball_type, "is_master": job.is_master.unwrap_or(false),
                    "creation_date": job.creation_date.map(|d| d.timestamp()), "description": job.description,
                })
            })
            .collect();
        assert!(ours.len() > 230);
        for protocol in ["json", "cbor"] {
            let theirs = outside_client(&[&sim.endpoint_url(), region, protocol, "40"]).await;
            assert_eq!(
                theirs, ours,
                "boto3 over {protocol} and the Rust SDK disagree for {region}"
            );
        }
    }
}

#[tokio::test]
async fn simulate_serves_until_sigterm() {
    let (mut child, endpoint) = spawn_simulate(&["--jobs", "120", "--seed", "3"]).await;

    let db = TestDb::empty().await;
    let args = [
        "sync",
        "--database-url",
        &db.url,
        "--endpoint-url",
        &endpoint,
        "--region",
        "us-east-1",
    ];
    run_bin(&args, &aws_test_env()).await.assert_code(0);
    assert_eq!(count_jobs(&db.pool).await, 120);

    let pid = child.id().expect("a pid").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within 10 s")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn simulate_takes_faults_from_flags_and_the_control_route_and_ticks_by_the_clock() {
    let (_child, endpoint) =
        spawn_simulate(&["--jobs", "150", "--tick", "0.2", "--throttle-every", "2"]).await;
    let db = TestDb::empty().await;
    let args = [
        "sync",
        "--output",
        "json",
        "--database-url",
        &db.url,
        "--endpoint-url",
        &endpoint,
        "--region",
        "us-east-1",
    ];

    let throttled = run_bin(&args, &aws_test_env()).await;
    throttled.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(&throttled.stdout()).expect("JSON");
    assert!(
        summary["api_retries"].as_u64() >= Some(1),
        "--throttle-every 2 made no retry: {summary}"
    );

    let faults = control(&endpoint, "POST", "/_sim/faults?throttle_every=0").await;
    assert_eq!(faults["throttle_every"], serde_json::Value::Null);
    let calm = run_bin(&args, &aws_test_env()).await;
    calm.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(&calm.stdout()).expect("JSON");
    assert_eq!(summary["api_retries"], 0);

    let before = control(&endpoint, "GET", "/_sim/stats").await["tick"]
        .as_u64()
        .expect("a tick");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = control(&endpoint, "GET", "/_sim/stats").await["tick"]
        .as_u64()
        .expect("a tick");
    assert!(
        later >= before + 2,
        "the clock did not tick: {before} then {later}"
    );
    let advanced = control(&endpoint, "POST", "/_sim/advance?ticks=5").await["tick"]
        .as_u64()
        .expect("a tick");
    assert!(advanced >= later + 5);
}

#[tokio::test]
async fn demo_fills_a_fresh_database_with_history() {
    let db = TestDb::empty().await;

    let out = run_bin(&["demo", "--database-url", &db.url], &[]).await;

    out.assert_code(0);
    let stdout = out.stdout();
    for expected in [
        "run 6/6: synced 3 accounts in us-east-1",
        " described, ",
        "Jobs by account now:",
        "Jobs by state now:",
        "Latest transitions:",
        "Timeline of ",
        "State and detail changes, in order:",
        " cluster transitions, ",
        "\nCluster CID",
        "Member jobs:",
        "Long-term pricing terms ending soonest:",
        "Device usage against the limit:",
        "SELECT",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    let changes = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.job_state_history WHERE from_state IS NOT NULL"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert!(changes > 50, "only {changes} transitions");
    let runs = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.sync_runs WHERE status = 'succeeded'"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(runs, 6);

    // A second demo continues the simulated timeline: nobody moves backwards.
    run_bin(
        &[
            "demo",
            "--database-url",
            &db.url,
            "--runs",
            "2",
            "--pause",
            "0s",
        ],
        &[],
    )
    .await
    .assert_code(0);
    assert_every_change_follows_a_lifecycle(&db).await;
}

#[tokio::test]
async fn demo_without_postgres_fails_within_seconds_and_says_what_it_tried() {
    let started = std::time::Instant::now();

    let out = run_bin(
        &["demo"],
        &[("PGHOST", "127.0.0.1".into()), ("PGPORT", "1".into())],
    )
    .await;

    out.assert_code(1);
    let line = out.error_line();
    assert!(line.contains("host 127.0.0.1 port 1"), "{line}");
    assert!(line.contains("--database-url"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_simulator_refuses_big_bodies_slow_headers_and_absurd_advances_and_stops_on_sigterm() {
    let (mut child, endpoint) = spawn_simulate(&["--jobs", "50", "--seed", "4"]).await;
    let address = endpoint.trim_start_matches("http://").to_owned();
    let big = vec![b'x'; 2 * 1024 * 1024];

    let declared = raw_http(
        &endpoint,
        &format!(
            "POST /service/AWSIESnowballJobManagementService/operation/ListJobs HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            big.len()
        ),
        &big,
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared:.200}");
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend(&big);
    chunked.extend(b"\r\n0\r\n\r\n");
    let streamed = raw_http(
        &endpoint,
        &format!(
            "POST /service/AWSIESnowballJobManagementService/operation/ListJobs HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ),
        &chunked,
    )
    .await;
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed:.200}");

    // Half a request's headers, then nothing: the server hangs up.
    let started = std::time::Instant::now();
    let slow = raw_http(&endpoint, "POST /_sim/advance HTTP/1.1\r\nHost: x\r\n", b"").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(9),
        "closed after {waited:?}: {slow:?}"
    );

    let absurd = raw_http(
        &endpoint,
        &format!("POST /_sim/advance?ticks=100000000000 HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        b"",
    )
    .await;
    assert!(absurd.starts_with("HTTP/1.1 400"), "{absurd}");

    // forget_jobs is taken from the control route, as the README says.
    let faults = control(&endpoint, "POST", "/_sim/faults?forget_jobs=JIDa,JIDb").await;
    assert_eq!(
        faults["forget_jobs"],
        serde_json::json!(["JIDa", "JIDb"]),
        "{faults}"
    );

    // The longest advance allowed leaves the simulator answering meanwhile,
    // and SIGTERM ends it within a second even then.
    let advancing = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { control(&endpoint, "POST", "/_sim/advance?ticks=10000").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = tokio::time::timeout(
        Duration::from_secs(1),
        control(&endpoint, "GET", "/_sim/stats"),
    )
    .await;
    assert!(answered.is_ok(), "stats waited for the advance");
    let pid = child.id().expect("a pid").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    let stopped = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(status.code(), Some(0));
    advancing.abort();
}

#[tokio::test]
async fn out_of_file_descriptors_the_simulator_backs_off_and_serves_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("stderr");
    // Few descriptors: a handful of connections exhaust them.
    let mut child = tokio::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "ulimit -n 24; exec {} --log-format json simulate --listen 127.0.0.1:0 --jobs 5 2>{}",
                env!("CARGO_BIN_EXE_snowball-sync"),
                log.display()
            ),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("simulate starts");
    let endpoint = simulator_endpoint(&mut child).await;
    let address = endpoint.trim_start_matches("http://").to_owned();

    let mut held = Vec::new();
    for _ in 0..40 {
        if let Ok(stream) = tokio::net::TcpStream::connect(&address).await {
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failures = std::fs::read_to_string(&log)
        .expect("the log")
        .matches("accept failed")
        .count();
    // Backing off 100 ms, about ten a second; spinning would be thousands.
    assert!(
        (1..=40).contains(&failures),
        "{failures} accept failures logged in a second"
    );

    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = raw_http(
        &endpoint,
        &format!("GET /_sim/stats HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
        b"",
    )
    .await;
    assert!(stats.starts_with("HTTP/1.1 200"), "{stats}");
}

/// What a database of real runs holds: runs, history rows, jobs marked
/// missing.
async fn holdings(db: &TestDb) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM snowball.sync_runs),
                (SELECT count(*) FROM snowball.job_state_history),
                (SELECT count(*) FROM snowball.jobs WHERE missing_since IS NOT NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count")
}

#[tokio::test]
async fn demo_never_writes_into_a_database_of_real_runs_named_by_database_url_or_the_environment() {
    let production = TestDb::migrated().await;
    let sim = simulator(40, 61, &["us-east-1"]).await;
    sync_ok(&sync_config(&production, &sim, &["us-east-1"])).await;
    let before = holdings(&production).await;

    // Named explicitly: refused before anything is written.
    let out = run_bin(
        &[
            "demo",
            "--database-url",
            &production.url,
            "--runs",
            "1",
            "--pause",
            "0s",
        ],
        &[],
    )
    .await;
    out.assert_code(2);
    assert!(
        out.error_line()
            .contains("holds 1 sync run(s) the demo did not make"),
        "{}",
        out.stderr()
    );
    assert_eq!(holdings(&production).await, before);

    // In the environment, as after sourcing the service's environment file:
    // the demo goes to its own database on that server instead. That is the
    // machine's own snowball_demo: one run of the default fleet continues
    // its timeline as `demo` would, and a database this test made is dropped.
    let url: sqlx::postgres::PgConnectOptions = production.url.parse().expect("a URL");
    let existed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'snowball_demo')",
    )
    .fetch_one(&production.pool)
    .await
    .expect("look for snowball_demo");
    let out = run_bin(
        &["demo", "--runs", "1", "--pause", "0s"],
        &[
            ("DATABASE_URL", production.url.clone()),
            ("PGDATABASE", production.name.clone()),
            ("PGHOST", url.get_host().to_owned()),
            ("PGPORT", url.get_port().to_string()),
            ("PGUSER", url.get_username().to_owned()),
        ],
    )
    .await;
    out.assert_code(0);
    if !existed {
        sqlx::query("DROP DATABASE IF EXISTS snowball_demo WITH (FORCE)")
            .execute(&production.pool)
            .await
            .expect("drop the demo database this test made");
    }
    assert!(
        out.stdout().contains("database snowball_demo"),
        "{}",
        out.stdout()
    );
    assert_eq!(holdings(&production).await, before);

    // A database the demo made is its own to continue.
    let own = TestDb::empty().await;
    for _ in 0..2 {
        run_bin(
            &[
                "demo",
                "--database-url",
                &own.url,
                "--runs",
                "1",
                "--pause",
                "0s",
                "--jobs",
                "5",
            ],
            &[],
        )
        .await
        .assert_code(0);
    }
    let made_by: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT made_by FROM snowball.sync_runs")
            .fetch_all(&own.pool)
            .await
            .expect("made_by");
    assert_eq!(made_by, ["demo"]);
}
