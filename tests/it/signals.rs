//! Operator signals: plain and coloured logs, the level of a run's last line,
//! the `snowball_sync` notification and `watch`.

use std::time::Duration;

use snowball_simulator::Faults;
use sqlx::postgres::PgListener;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStderr, ChildStdout};

use crate::support::*;

/// A fault that makes every listing fail: the service repeats its NextToken.
fn failing_listing() -> Faults {
    Faults {
        repeat_tokens: true,
        ..Faults::default()
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn text_logs_written_to_a_pipe_have_no_colour_codes() {
    let db = TestDb::empty().await;
    let sim = simulator(30, 70, &["us-east-1"]).await;

    let out = run_bin(
        &sync_args(&db.url, &sim.endpoint_url(), &["--log-format", "text"]),
        &aws_test_env(),
    )
    .await;

    out.assert_code(0);
    let stderr = out.stderr();
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in piped logs:\n{stderr:?}"
    );
}

/// The sync's stderr and stdout as a terminal shows them: the binary runs
/// under `script`, which gives it a pseudo-terminal.
async fn on_a_terminal(db: &TestDb, endpoint: &str, no_color: Option<&str>) -> String {
    let args = sync_args(&db.url, endpoint, &["--log-format", "text"]);
    let command = std::iter::once(env!("CARGO_BIN_EXE_snowball-sync").to_owned())
        .chain(args)
        .map(|arg| format!("'{arg}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = tokio::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL");
    for (key, value) in aws_test_env() {
        script.env(key, value);
    }
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), script.output())
        .await
        .expect("the sync ends within a minute")
        .expect("`script` (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{command}\n{text}");
    text
}

#[tokio::test]
async fn colours_appear_on_a_terminal_and_no_color_turns_them_off() {
    let db = TestDb::empty().await;
    let sim = simulator(30, 71, &["us-east-1"]).await;

    let coloured = on_a_terminal(&db, &sim.endpoint_url(), None).await;
    let plain = on_a_terminal(&db, &sim.endpoint_url(), Some("1")).await;

    assert!(
        coloured.contains("\u{1b}["),
        "no colour on a terminal:\n{coloured:?}"
    );
    assert!(plain.contains("INFO"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR:\n{plain:?}"
    );
}

#[tokio::test]
async fn a_failed_run_ends_on_an_error_line_with_its_error_and_run_id() {
    let db = TestDb::empty().await;
    let good = simulator(30, 72, &["us-east-1"]).await;
    let bad = simulator_with_faults(250, 72, &["us-east-1"], failing_listing()).await;
    let json = ["--log-format", "json"];

    let succeeded = run_bin(
        &sync_args(&db.url, &good.endpoint_url(), &json),
        &aws_test_env(),
    )
    .await;
    let failed = run_bin(
        &sync_args(&db.url, &bad.endpoint_url(), &json),
        &aws_test_env(),
    )
    .await;

    succeeded.assert_code(0);
    failed.assert_code(1);
    let last = |lines: Vec<serde_json::Value>| lines.last().cloned().expect("a JSON log line");
    let end = last(json_lines(&succeeded.stderr()));
    assert_eq!(end["level"], "INFO", "{end}");
    assert_eq!(end["message"], "sync finished", "{end}");
    assert_eq!(end["run_id"], 1, "{end}");
    assert!(end.get("error").is_none(), "{end}");

    let end = last(json_lines(&failed.stderr()));
    assert_eq!(end["level"], "ERROR", "{end}");
    assert_eq!(end["message"], "sync finished", "{end}");
    assert_eq!(end["run_id"], 2, "{end}");
    let error = end["error"].as_str().expect("an error field");
    assert!(error.contains("repeated a NextToken"), "{end}");
    assert!(failed.error_line().contains("repeated a NextToken"));
}

async fn next_payload(listener: &mut PgListener) -> serde_json::Value {
    let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification within 10 s")
        .expect("the listener's connection holds");
    assert_eq!(notification.channel(), "snowball_sync");
    serde_json::from_str(notification.payload()).expect("a JSON payload")
}

/// The payload without its timestamps, which are checked for shape only.
fn without_times(mut payload: serde_json::Value) -> serde_json::Value {
    for key in ["started_at", "finished_at"] {
        let at = payload[key].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{key}: {payload}"
        );
        payload.as_object_mut().expect("an object").remove(key);
    }
    payload
}

#[tokio::test]
async fn each_run_sends_one_notification_and_a_dry_run_sends_none() {
    let db = TestDb::migrated().await;
    let sim = simulator(120, 73, &["us-east-1"]).await;
    let mut listener = PgListener::connect_with(&db.pool).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let mut config = sync_config(&db, &sim, &["us-east-1"]);

    let first = sync_ok(&config).await;
    sim.sim.advance(4);
    config.dry_run = true;
    sync_ok(&config).await;
    config.dry_run = false;
    sim.sim.set_faults(failing_listing());
    sync(&config).await.expect_err("the listing fails");

    assert_eq!(
        without_times(next_payload(&mut listener).await),
        serde_json::json!({
            "run_id": first.run_id, "status": "succeeded", "transitions": 120,
            "jobs_new": 120, "jobs_changed": 0, "jobs_missing": 0, "error": null,
            "accounts": [snowball_simulator::account_id(0)],
            "digest": first.digest_hex(),
            "reports_archived": null, "report_bytes": null,
            "cluster_transitions": null, "pricing_changes": null,
        })
    );
    // The dry run was run 2, rolled back: the next notification is run 3's.
    let failed = without_times(next_payload(&mut listener).await);
    let error = failed["error"].as_str().expect("an error").to_owned();
    assert!(error.contains("repeated a NextToken"), "{failed}");
    assert_eq!(failed["run_id"], first.run_id + 2, "{failed}");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), listener.recv())
            .await
            .is_err(),
        "one notification per run, none per job"
    );
}

#[tokio::test]
async fn the_readme_psql_listener_prints_the_notification() {
    let db = TestDb::migrated().await;
    let sim = simulator(10, 74, &["us-east-1"]).await;
    let mut psql = tokio::process::Command::new("psql")
        .args(["-X", &db.url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("psql starts");
    let mut stdin = psql.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(psql.stdout.take().expect("stdout")).lines();
    stdin
        .write_all(b"LISTEN snowball_sync;\n")
        .await
        .expect("send");
    wait_for_line(&mut stdout, "LISTEN").await;

    let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;
    stdin.write_all(b"SELECT 1;\n\\q\n").await.expect("send");
    drop(stdin);
    let output = psql.wait_with_output().await.expect("psql ends");
    let mut printed = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        printed.push_str(&line);
        printed.push('\n');
    }

    assert!(output.status.success());
    let expected = format!(
        r#"Asynchronous notification "snowball_sync" with payload "{{"run_id" : {}, "status" : "succeeded""#,
        summary.run_id
    );
    assert!(printed.contains(&expected), "{printed}");
}

/// Reads lines until one contains `needle`; the lines read, that one last.
async fn wait_for_line<R>(lines: &mut Lines<R>, needle: &str) -> Vec<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut seen = Vec::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line with {needle:?} within 20 s; read {seen:#?}"))
            .expect("read a line")
            .unwrap_or_else(|| panic!("ended before a line with {needle:?}; read {seen:#?}"));
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
}

/// A running `watch`: its stdout lines and its stderr (logs).
pub struct Watch {
    pub child: tokio::process::Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Watch {
    async fn start(db: &TestDb, format: &str) -> Watch {
        Watch::start_as(&db.url, format).await
    }

    /// Watching the database at `url` (which names the role).
    pub async fn start_as(url: &str, format: &str) -> Watch {
        let args: Vec<String> = ["watch", "--database-url", url, "--format", format]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut child = spawn_bin(&args);
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        wait_for_line(&mut stderr, "watching for finished runs").await;
        Watch {
            child,
            stdout,
            stderr,
        }
    }

    pub async fn lines(&mut self, count: usize) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..count {
            let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("watch printed only {lines:#?}"))
                .expect("read stdout")
                .expect("watch still running");
            lines.push(line);
        }
        lines
    }
}

#[tokio::test]
async fn watch_prints_each_run_and_its_transitions_and_survives_a_dropped_connection() {
    let db = TestDb::migrated().await;
    let sim = simulator(40, 75, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let mut json = Watch::start(&db, "json").await;
    let mut text = Watch::start(&db, "text").await;

    let first = sync_ok(&config).await;
    sim.sim.advance(5);
    let second = sync_ok(&config).await;

    let expected = 2 + (first.totals.transitions + second.totals.transitions) as usize;
    let lines: Vec<serde_json::Value> = json
        .lines(expected)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["event"], "run");
    assert_eq!(lines[0]["run_id"], first.run_id);
    assert_eq!(lines[0]["status"], "succeeded");
    assert_eq!(
        lines[0]["accounts"],
        serde_json::json!([snowball_simulator::account_id(0)])
    );
    let history = history(&db.pool).await;
    let printed: Vec<(String, Option<String>, String, i64)> = lines
        .iter()
        .filter(|l| l["event"] == "transition")
        .map(|l| {
            (
                l["job_id"].as_str().expect("job_id").to_owned(),
                l["from_state"].as_str().map(str::to_owned),
                l["to_state"].as_str().expect("to_state").to_owned(),
                l["run_id"].as_i64().expect("run_id"),
            )
        })
        .collect();
    assert_eq!(printed, history, "every transition, once, in order");
    let second_line = 1 + first.totals.transitions as usize;
    assert_eq!(lines[second_line]["event"], "run");
    assert_eq!(lines[second_line]["run_id"], second.run_id);
    assert_eq!(lines[second_line]["transitions"], second.totals.transitions);

    let text_lines = text.lines(expected).await;
    assert!(
        text_lines[0].ends_with(&format!(
            "run {} succeeded: 40 transitions, 40 new, 0 changed, 0 no longer listed, digest {}",
            first.run_id,
            first.digest_hex().expect("a digest")
        )),
        "{text_lines:#?}"
    );
    let (job, from, to, _) = &history[history.len() - 1];
    assert!(
        text_lines[expected - 1].ends_with(&format!(
            "run {} {job}: {} -> {to}",
            second.run_id,
            from.as_deref().unwrap_or("(new)")
        )),
        "{text_lines:#?}"
    );

    // The server ends the listening session; a run ending while watch is
    // away is printed once it is back, and only once.
    let terminated: Vec<bool> = sqlx::query_scalar!(
        r#"SELECT pg_terminate_backend(pid) AS "ok!" FROM pg_stat_activity
            WHERE datname = current_database() AND query ILIKE 'LISTEN%'"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("terminate the listeners");
    assert_eq!(terminated, [true, true]);
    sim.sim.advance(5);
    let third = sync_ok(&config).await;
    wait_for_line(&mut json.stderr, "listening again").await;
    sim.sim.advance(5);
    let fourth = sync_ok(&config).await;
    let lines = json
        .lines(2 + (third.totals.transitions + fourth.totals.transitions) as usize)
        .await;
    let runs: Vec<i64> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|l| l["event"] == "run")
        .map(|l| l["run_id"].as_i64().expect("run_id"))
        .collect();
    assert_eq!(runs, [third.run_id, fourth.run_id]);

    for watch in [&mut json, &mut text] {
        let pid = watch.child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let status = tokio::time::timeout(Duration::from_secs(5), watch.child.wait())
            .await
            .expect("watch ends within 5 s of SIGTERM")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
    }
}

#[tokio::test]
async fn watch_skips_a_strangers_notifications_and_keeps_listening() {
    let db = TestDb::migrated().await;
    let sim = simulator(3, 76, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let mut watch = Watch::start(&db, "json").await;

    let first = sync_ok(&config).await;
    // Anyone may send on the channel: text that is no JSON, and JSON that is no run's.
    sqlx::raw_sql(
        r#"NOTIFY snowball_sync, 'x';
           NOTIFY snowball_sync, '{"run_id": 7}';"#,
    )
    .execute(&db.pool)
    .await
    .expect("notify");
    sim.sim.advance(5);
    let second = sync_ok(&config).await;

    let runs: Vec<i64> = watch
        .lines(2 + (first.totals.transitions + second.totals.transitions) as usize)
        .await
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|l| l["event"] == "run")
        .map(|l| l["run_id"].as_i64().expect("run_id"))
        .collect();
    assert_eq!(runs, [first.run_id, second.run_id]);
    let warnings = wait_for_line(&mut watch.stderr, "is not a run's").await;
    assert!(
        warnings.iter().all(|l| !l.contains("panicked")),
        "{warnings:#?}"
    );
    assert!(
        watch.child.try_wait().expect("status").is_none(),
        "watch is still up"
    );
}
