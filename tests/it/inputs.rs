//! Inputs are total: every number and duration flag of every command, driven
//! with hostile values, exits 0, 1 or 2 with one line, never a panic; values
//! outside a flag's range exit 2 naming the flag; repeats are dropped.

use std::time::Duration;

use snowball_sync::limits::{self, MAX_CONCURRENCY, MAX_DETAILS_CONCURRENCY, MAX_PAGE_SIZE};
use snowball_sync::values::Span;
use tokio::io::AsyncReadExt;

use crate::support::*;

/// What a flag accepts.
#[derive(Clone, Copy)]
enum Range {
    Span(Span, Span),
    Number(u64, u64),
    Seconds(f64, f64),
    /// A size (`512MiB`): bytes, KiB, MiB or GiB, up to 1 TiB.
    Size,
    /// A size from 1 MiB (`--report-max-bytes`).
    ReportSize,
}

impl Range {
    /// 0, 1, each limit and its neighbours, and what no arithmetic holds.
    fn values(self) -> Vec<String> {
        let mut values: Vec<String> = ["0", "1", "18446744073709551615", "1e20s", "-1", ""]
            .map(String::from)
            .to_vec();
        match self {
            Range::Span(min, max) => {
                let (lo, hi) = (
                    min.as_std().as_millis() as u64,
                    max.as_std().as_millis() as u64,
                );
                for ms in [lo.saturating_sub(1), lo, lo + 1, hi - 1, hi, hi + 1] {
                    values.push(Span::from_millis(ms).to_string());
                }
                values.extend(["100000000d".into(), "18446744073709551615d".into()]);
            }
            Range::Number(lo, hi) => {
                for n in [lo.saturating_sub(1), lo, lo + 1, hi.saturating_sub(1), hi] {
                    values.push(n.to_string());
                }
                values.push((u128::from(hi) + 1).to_string());
                values.push("1e20".into());
            }
            Range::Seconds(lo, hi) => {
                for s in [lo / 10.0, lo, hi, hi + 0.1] {
                    values.push(s.to_string());
                }
                values.extend(["1e20", "1e-10", "NaN", "inf"].map(String::from));
            }
            Range::Size | Range::ReportSize => values.extend(
                [
                    "512MiB",
                    "64KiB",
                    "1023KiB",
                    "1MiB",
                    "1048575",
                    "1GiB",
                    "1024GiB",
                    "1025GiB",
                    "1099511627776",
                    "1099511627777",
                    "1.5MiB",
                    "1MB",
                    "MiB",
                    "18446744073709551615GiB",
                ]
                .map(String::from),
            ),
        }
        values
    }

    fn accepts(self, value: &str) -> bool {
        match self {
            Range::Span(min, max) => Span::parse(value).is_ok_and(|s| (min..=max).contains(&s)),
            Range::Number(lo, hi) => value.parse::<u64>().is_ok_and(|n| (lo..=hi).contains(&n)),
            Range::Seconds(lo, hi) => value
                .parse::<f64>()
                .is_ok_and(|s| s.is_finite() && (lo..=hi).contains(&s)),
            Range::Size => snowball_sync::values::parse_size(value).is_ok(),
            Range::ReportSize => snowball_sync::values::parse_size(value)
                .is_ok_and(|n| n >= snowball_sync::limits::REPORT_MAX_BYTES_MIN),
        }
    }
}

/// Runs the binary for at most `limit` (a command that would serve on,
/// like simulate or watch, is stopped then): its exit code (None when it
/// was stopped) and stderr.
async fn probe(args: Vec<String>, limit: Duration) -> (Vec<String>, Option<i32>, String) {
    let mut child = spawn_bin(&args);
    let code = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.expect("wait").code(),
        Err(_) => {
            child.kill().await.ok();
            None
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).await.ok();
    }
    (args, code, stderr)
}

#[tokio::test]
async fn every_number_and_duration_flag_of_every_command_exits_0_1_or_2_and_never_panics() {
    let db = TestDb::migrated().await;
    let sim = simulator(5, 95, &["us-east-1"]).await;
    let endpoint = sim.endpoint_url();
    let unreachable = "postgres://postgres@127.0.0.1:1/nothing".to_owned();
    // Every accepted `evidence` probe finds no job to write (its database
    // has none): the folder stays empty.
    let evidence = tempfile::tempdir().expect("a temporary directory");
    let evidence_db = TestDb::migrated().await;
    let evidence_dir = evidence.path().join("out").to_string_lossy().into_owned();
    let sync: Vec<String> = [
        "sync",
        "--database-url",
        &db.url,
        "--endpoint-url",
        &endpoint,
        "--region",
        "us-east-1",
        "--max-attempts",
        "1",
        "--timeout",
        "5s",
        "--operation-timeout",
        "10s",
        "--wait-lock",
    ]
    .map(String::from)
    .to_vec();
    let on_db = |command: &[&str], url: &str| -> Vec<String> {
        command
            .iter()
            .map(|s| s.to_string())
            .chain(["--database-url".into(), url.to_owned()])
            .collect()
    };
    let simulate: Vec<String> = ["simulate", "--listen", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    let u64_max = u64::MAX;
    let cases: Vec<(Vec<String>, &str, Range)> = vec![
        (
            sync.clone(),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            sync.clone(),
            "--timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            sync.clone(),
            "--operation-timeout",
            Range::Span(limits::OPERATION_TIMEOUT.0, limits::OPERATION_TIMEOUT.1),
        ),
        (
            sync.clone(),
            "--max-attempts",
            Range::Number(limits::MAX_ATTEMPTS.0.into(), limits::MAX_ATTEMPTS.1.into()),
        ),
        (
            sync.clone(),
            "--page-size",
            Range::Number(1, MAX_PAGE_SIZE as u64),
        ),
        (
            sync.clone(),
            "--max-pages",
            Range::Number(limits::MAX_PAGES.0.into(), limits::MAX_PAGES.1.into()),
        ),
        (
            sync.clone(),
            "--concurrency",
            Range::Number(1, MAX_CONCURRENCY as u64),
        ),
        (
            sync.clone(),
            "--details-concurrency",
            Range::Number(1, MAX_DETAILS_CONCURRENCY as u64),
        ),
        (
            on_db(&["migrate"], &db.url),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            on_db(&["report"], &db.url),
            "--since",
            Range::Span(limits::PERIOD.0, limits::PERIOD.1),
        ),
        (
            on_db(&["report"], &db.url),
            "--stuck-after",
            Range::Span(limits::AGE.0, limits::AGE.1),
        ),
        (
            on_db(&["report"], &db.url),
            "--deadline-within",
            Range::Span(limits::AGE.0, limits::AGE.1),
        ),
        (
            on_db(&["report"], &db.url),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            on_db(&["history", "JIDnone"], &db.url),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            on_db(&["watch"], &db.url),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            on_db(&["verify"], &db.url),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            simulate.clone(),
            "--jobs",
            Range::Number(0, limits::SIMULATED_JOBS.1 as u64),
        ),
        (simulate.clone(), "--seed", Range::Number(0, u64_max)),
        (
            simulate.clone(),
            "--accounts",
            Range::Number(1, limits::SIMULATED_ACCOUNTS.1 as u64),
        ),
        (
            simulate.clone(),
            "--tick",
            Range::Seconds(limits::TICK_SECONDS.0, limits::TICK_SECONDS.1),
        ),
        (
            simulate.clone(),
            "--page-latency-ms",
            Range::Number(limits::LATENCY_MS.0, limits::LATENCY_MS.1),
        ),
        (
            simulate.clone(),
            "--identity-latency-ms",
            Range::Number(limits::LATENCY_MS.0, limits::LATENCY_MS.1),
        ),
        (simulate.clone(), "--suspend-account", Range::Number(0, 0)),
        (
            simulate.clone(),
            "--throttle-every",
            Range::Number(1, u64_max),
        ),
        (simulate.clone(), "--error-every", Range::Number(1, u64_max)),
        (simulate.clone(), "--drop-every", Range::Number(1, u64_max)),
        (
            on_db(&["demo"], &unreachable),
            "--runs",
            Range::Number(limits::DEMO_RUNS.0.into(), limits::DEMO_RUNS.1.into()),
        ),
        (
            on_db(&["demo"], &unreachable),
            "--jobs",
            Range::Number(0, limits::DEMO_JOBS.1 as u64),
        ),
        (
            on_db(&["demo"], &unreachable),
            "--accounts",
            Range::Number(1, limits::DEMO_ACCOUNTS.1 as u64),
        ),
        (
            on_db(&["demo"], &unreachable),
            "--seed",
            Range::Number(0, u64_max),
        ),
        (sync.clone(), "--report-max-bytes", Range::ReportSize),
        (simulate.clone(), "--success-log-bytes", Range::Size),
        (
            on_db(&["evidence", "--out", &evidence_dir], &evidence_db.url),
            "--completed-since",
            Range::Span(limits::PERIOD.0, limits::PERIOD.1),
        ),
        (
            on_db(
                &["evidence", "JIDnone", "--out", &evidence_dir],
                &evidence_db.url,
            ),
            "--connect-timeout",
            Range::Span(limits::TIMEOUT.0, limits::TIMEOUT.1),
        ),
        (
            on_db(&["demo"], &unreachable),
            "--pause",
            Range::Span(limits::PAUSE.0, limits::PAUSE.1),
        ),
    ];

    let mut probes = Vec::new();
    for (command, flag, range) in &cases {
        // The flag under test replaces the command's own setting of it.
        let mut base = command.clone();
        if let Some(at) = base.iter().position(|a| a == flag) {
            base.drain(at..at + 2);
        }
        for value in range.values() {
            let mut args = base.clone();
            args.extend([flag.to_string(), value.clone()]);
            probes.push((args, range.accepts(&value)));
        }
    }
    let mut failures = Vec::new();
    // A few at a time: the accepted ones do real work.
    for chunk in probes.chunks(8) {
        let mut running = tokio::task::JoinSet::new();
        for (args, _) in chunk {
            running.spawn(probe(args.clone(), Duration::from_secs(3)));
        }
        let mut results = Vec::new();
        while let Some(done) = running.join_next().await {
            results.push(done.expect("a probe"));
        }
        for (args, code, stderr) in results {
            let accepted = chunk
                .iter()
                .find(|(a, _)| *a == args)
                .map(|(_, accepted)| *accepted)
                .expect("its case");
            let flag = &args[args.len() - 2];
            let fine = match code {
                _ if stderr.contains("panicked") => false,
                Some(2) => {
                    !accepted && stderr.lines().count() == 1 && stderr.contains(flag.as_str())
                }
                Some(0 | 1) | None => accepted,
                Some(_) => false,
            };
            if !fine {
                failures.push(format!(
                    "{} -> exit {code:?} (accepted: {accepted})\n{stderr}",
                    args.join(" ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn repeated_regions_roles_and_skipped_accounts_are_taken_once_in_first_order() {
    let db = TestDb::empty().await;
    let sim = organization(
        20,
        96,
        &["us-east-1", "eu-west-1"],
        3,
        &[],
        Default::default(),
    )
    .await;
    let (role1, role2) = (role_arn(1), role_arn(2));
    let skipped = snowball_simulator::account_id(2);
    let out = run_bin(
        &[
            "sync",
            "--database-url",
            &db.url,
            "--endpoint-url",
            &sim.endpoint_url(),
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--region",
            "us-east-1",
            "--role-arn",
            &role1,
            "--role-arn",
            &role2,
            "--role-arn",
            &role1,
            "--skip-account",
            &skipped,
            "--skip-account",
            &skipped,
            "--output",
            "json",
        ],
        &aws_test_env(),
    )
    .await;

    out.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout()).expect("JSON");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(
        summary["regions"],
        serde_json::json!(["us-east-1", "eu-west-1"])
    );
    assert_eq!(
        summary["accounts"],
        serde_json::json!([snowball_simulator::account_id(1)])
    );
    assert_eq!(summary["listings"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_region_that_is_not_an_aws_region_name_exits_2_before_anything_is_attempted() {
    for region in ["US-EAST-1", "us_east_1", "useast1", ""] {
        let out = run_bin(&["sync", "--region", region], &aws_test_env()).await;
        out.assert_code(2);
        assert!(
            out.error_line().contains("--region"),
            "{}",
            out.error_line()
        );
    }
}
