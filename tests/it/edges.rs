//! What cron, systemd, shells and environment files do to the tool: a
//! closed stderr, dry runs beside monitoring, metrics files behind symlinks
//! or in unwritable directories.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn a_sync_with_stderr_on_a_closed_pipe_is_recorded_and_exits_0() {
    let db = TestDb::empty().await;
    let sim = simulator(30, 110, &["us-east-1"]).await;
    // -v: plenty of log lines, every one of them written into the closed pipe.
    let args = sync_args(&db.url, &sim.endpoint_url(), &["-v"]);
    let mut child = spawn_bin(&args);
    drop(child.stderr.take());

    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the run ends")
        .expect("wait");

    assert_eq!(status.code(), Some(0), "{status:?}");
    let recorded: Vec<String> = sqlx::query_scalar!("SELECT status FROM snowball.sync_runs")
        .fetch_all(&db.pool)
        .await
        .expect("runs");
    assert_eq!(recorded, ["succeeded"]);
    assert_eq!(count_jobs(&db.pool).await, 30);
}

#[tokio::test]
async fn a_dry_run_writes_no_metrics_and_its_json_is_one_object() {
    let db = TestDb::empty().await;
    let sim = simulator(12, 111, &["us-east-1"]).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("snowball-sync.prom");
    let metrics = path.to_string_lossy().to_string();
    run_bin(
        &sync_args(&db.url, &sim.endpoint_url(), &["--metrics-file", &metrics]),
        &aws_test_env(),
    )
    .await
    .assert_code(0);
    let before = std::fs::read_to_string(&path).expect("the real run's metrics");
    sim.sim.advance(5);

    let dry = run_bin(
        &sync_args(
            &db.url,
            &sim.endpoint_url(),
            &["--dry-run", "--output", "json", "--metrics-file", &metrics],
        ),
        &aws_test_env(),
    )
    .await;

    dry.assert_code(0);
    let summary: serde_json::Value =
        serde_json::from_str(&dry.stdout()).expect("stdout is one JSON object");
    assert_eq!(summary["dry_run"], true);
    assert!(summary["transitions"].as_i64().expect("transitions") > 0);
    assert!(dry.stderr().contains("would record"), "{}", dry.stderr());
    assert_eq!(
        std::fs::read_to_string(&path).expect("the metrics file"),
        before,
        "a dry run leaves the metrics as the last real run wrote them"
    );
}

#[tokio::test]
async fn a_symlinked_metrics_path_is_written_through_and_a_failed_write_leaves_no_temporary_file() {
    let db = TestDb::empty().await;
    let sim = simulator(8, 112, &["us-east-1"]).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir.path().join("real.prom");
    let link = dir.path().join("snowball-sync.prom");
    std::os::unix::fs::symlink("real.prom", &link).expect("a symlink");

    let sync_writing_metrics_to = |path: std::path::PathBuf| {
        let (url, endpoint) = (db.url.clone(), sim.endpoint_url());
        async move {
            let metrics = path.to_string_lossy().into_owned();
            run_bin(
                &sync_args(&url, &endpoint, &["--metrics-file", &metrics]),
                &aws_test_env(),
            )
            .await
        }
    };

    let out = sync_writing_metrics_to(link.clone()).await;

    out.assert_code(0);
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("the link")
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    let written = std::fs::read_to_string(&target).expect("the target holds the metrics");
    assert!(
        written.contains("snowball_sync_last_run_success 1"),
        "{written}"
    );

    // The target's place is taken by a directory: the rename fails.
    std::fs::remove_file(&target).expect("remove the target");
    std::fs::create_dir(&target).expect("a directory in its place");
    let failed = sync_writing_metrics_to(link.clone()).await;
    failed.assert_code(0);
    assert!(
        failed.stdout().contains("metrics file not written"),
        "the summary says so: {}",
        failed.stdout()
    );
    assert!(
        failed.stderr().contains("could not write the metrics file"),
        "{}",
        failed.stderr()
    );
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no temporary file left");

    // A directory that does not exist: an ERROR line, the summary says so, exit 0.
    let missing = dir.path().join("nowhere/snowball-sync.prom");
    let nowhere = sync_writing_metrics_to(missing).await;
    nowhere.assert_code(0);
    assert!(nowhere.stdout().contains("metrics file not written"));
}

/// What boto3 resolves for `env` and the shared files: the account it is.
async fn boto3_account(endpoint: &str, profile: Option<&str>, env: &[(&str, String)]) -> String {
    let mut args = vec!["identity", endpoint, "us-east-1"];
    args.extend(profile);
    let lines = outside_client_in(&args, env).await;
    lines[0]["account"].as_str().expect("an account").to_owned()
}

#[tokio::test]
async fn an_explicit_profile_wins_over_environment_keys_as_for_the_aws_cli_and_boto3() {
    if !boto3_available(
        "an_explicit_profile_wins_over_environment_keys_as_for_the_aws_cli_and_boto3",
    ) {
        return;
    }
    let sim = organization(4, 113, &["us-east-1"], 2, &[], Default::default()).await;
    let member = snowball_simulator::account_id(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let credentials = dir.path().join("credentials");
    // The member profile's keys are account 1's; the environment's are account 0's.
    std::fs::write(
        &credentials,
        format!(
            "[member]\naws_access_key_id = {}\naws_secret_access_key = member-secret\n",
            snowball_simulator::organization::assumed_access_key(&member)
        ),
    )
    .expect("the credentials file");
    let mut env = aws_test_env();
    env.retain(|(key, _)| *key != "AWS_SHARED_CREDENTIALS_FILE");
    env.push((
        "AWS_SHARED_CREDENTIALS_FILE",
        credentials.to_string_lossy().into(),
    ));
    let endpoint = sim.endpoint_url();
    let accounts = |out: &BinOutput| -> serde_json::Value {
        out.assert_code(0);
        serde_json::from_str::<serde_json::Value>(&out.stdout()).expect("JSON")["accounts"].clone()
    };

    let db = TestDb::empty().await;
    let explicit = run_bin(
        &sync_args(
            &db.url,
            &endpoint,
            &["--profile", "member", "--output", "json"],
        ),
        &env,
    )
    .await;
    assert_eq!(accounts(&explicit), serde_json::json!([member]));
    assert_eq!(boto3_account(&endpoint, Some("member"), &env).await, member);

    // AWS_PROFILE, as for the AWS CLI and boto3: the environment's keys come first.
    let mut with_variable = env.clone();
    with_variable.push(("AWS_PROFILE", "member".into()));
    let db = TestDb::empty().await;
    let variable = run_bin(
        &sync_args(&db.url, &endpoint, &["--output", "json"]),
        &with_variable,
    )
    .await;
    let boto3 = boto3_account(&endpoint, None, &with_variable).await;
    assert_eq!(accounts(&variable), serde_json::json!([boto3]));
}

#[tokio::test]
async fn empty_settings_mean_unset_and_malformed_ones_exit_2_with_one_line() {
    let db = TestDb::empty().await;
    let sim = simulator(6, 114, &["us-east-1"]).await;
    let endpoint = sim.endpoint_url();
    // Every variable the tool reads, empty, beside a working command line.
    let mut env = aws_test_env();
    for variable in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SNOWBALL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_ORGANIZATIONS",
        "AWS_REGION",
        "AWS_PROFILE",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
    ] {
        env.push((variable, String::new()));
    }
    let out = run_bin(&sync_args(&db.url, &endpoint, &[]), &env).await;
    out.assert_code(0);
    assert!(!out.stderr().contains("panicked"), "{}", out.stderr());

    // DATABASE_URL empty: unset, so the libpq defaults apply (this machine's
    // server answers on them, as root or postgres).
    let mut empty_url = aws_test_env();
    empty_url.push(("DATABASE_URL", String::new()));
    let out = run_bin(&["migrate", "--connect-timeout", "2s"], &empty_url).await;
    assert!(!out.stderr().contains("panicked"), "{}", out.stderr());
    assert!(out.output.status.code() != Some(101), "{}", out.stderr());

    for (flag_or_variable, value) in [
        ("--endpoint-url", ""),
        ("--endpoint-url", "notaurl"),
        ("--endpoint-url", "ftp://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL", "notaurl"),
        ("AWS_ENDPOINT_URL_SNOWBALL", "/relative"),
    ] {
        let mut env = aws_test_env();
        let mut args = vec!["sync", "--region", "us-east-1", "--database-url", &db.url];
        match flag_or_variable.starts_with("--") {
            true => args.extend([flag_or_variable, value]),
            false => env.push((flag_or_variable, value.to_owned())),
        }
        let out = run_bin(&args, &env).await;
        out.assert_code(2);
        assert_eq!(out.stderr().lines().count(), 1, "{}", out.stderr());
        assert!(
            out.error_line().contains(flag_or_variable),
            "{}",
            out.error_line()
        );
    }
}

#[tokio::test]
async fn no_credentials_anywhere_exits_2_naming_the_sources_before_anything_is_written() {
    let db = TestDb::migrated().await;
    let sim = simulator(6, 115, &["us-east-1"]).await;
    let env: Vec<(&str, String)> = aws_test_env()
        .into_iter()
        .filter(|(key, _)| !key.starts_with("AWS_ACCESS_KEY_ID") && *key != "AWS_SECRET_ACCESS_KEY")
        .collect();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_snowball-sync"));
    command
        .args(sync_args(&db.url, &sim.endpoint_url(), &[]))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent/snowball-sync-test");
    for (key, value) in &env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("ends")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let line = stderr.lines().last().unwrap_or_default();
    assert!(line.contains("no AWS credentials found"), "{stderr}");
    assert!(
        line.contains("AWS_ACCESS_KEY_ID") && line.contains("instance metadata"),
        "{line}"
    );
    let runs: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.sync_runs"#)
        .fetch_one(&db.pool)
        .await
        .expect("count runs");
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn values_from_the_api_are_escaped_in_text_formula_safe_in_csv_and_exact_in_json() {
    let db = TestDb::migrated().await;
    let hostile = "=HYPERLINK(\"http://x\")\u{1b}[31m\r";
    let sim = simulator_with_jobs(116, vec![entry("JIDevil", hostile)]).await;
    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;
    let report = |format: &'static str| {
        let url = db.url.clone();
        async move {
            let out = run_bin(
                &[
                    "report",
                    "--stuck-after",
                    "0s",
                    "--format",
                    format,
                    "--database-url",
                    &url,
                ],
                &[],
            )
            .await;
            out.assert_code(0);
            out.stdout()
        }
    };

    let text = report("text").await;
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(
        text.contains("=HYPERLINK(\"http://x\")\\u{1b}[31m\\u{d}"),
        "{text}"
    );
    let history = run_bin(&["history", "JIDevil", "--database-url", &db.url], &[]).await;
    assert!(
        !history.stdout().contains('\u{1b}'),
        "{:?}",
        history.stdout()
    );

    let csv = report("csv").await;
    let stuck = csv
        .lines()
        .find(|l| l.starts_with("stuck_jobs,"))
        .expect("a stuck job row");
    assert!(
        stuck.contains(",\"'=HYPERLINK(\"\"http://x\"\")"),
        "{stuck:?}"
    );
    assert!(!csv.contains(",\"=HYPERLINK"), "{csv:?}");

    let json: serde_json::Value = serde_json::from_str(&report("json").await).expect("JSON");
    assert_eq!(json["stuck_jobs"][0]["job_state"], hostile);
}

/// The smaller truths an operator met: each message says what is wrong and
/// what to do, and nothing is left behind.
#[tokio::test]
async fn usage_errors_name_the_valid_values_and_the_missing_argument() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["sync", "--include", "bogus"],
            "invalid value 'bogus' for '--include <KIND>' [possible values: details, reports, usage, clusters, long-term-pricing, all]",
        ),
        (
            &["history"],
            "the following required arguments were not provided: <JOB_ID>",
        ),
        (
            &["demo", "--jobs", "100000", "--accounts", "100"],
            "the demo's fleet (--jobs x --accounts) must hold at most 2000000 jobs, got 10000000",
        ),
    ];
    for (args, expected) in cases {
        let out = run_bin(args, &[]).await;
        out.assert_code(2);
        assert!(
            out.error_line().contains(expected),
            "{args:?}: {}",
            out.stderr()
        );
    }
    let out = run_bin(&["simulate", "--clusters", "100000000"], &[]).await;
    out.assert_code(2);
    assert!(
        out.error_line()
            .contains("--clusters must be between 0 and 100000"),
        "{}",
        out.stderr()
    );
    let out = run_bin(
        &["simulate", "--clusters", "100000", "--accounts", "10"],
        &[],
    )
    .await;
    out.assert_code(2);
    assert!(
        out.error_line().contains("must hold at most 2000000 jobs"),
        "{}",
        out.stderr()
    );
}

#[tokio::test]
async fn no_migrate_on_an_empty_database_and_a_read_only_database_say_what_is_wrong() {
    let db = TestDb::empty().await;
    let sim = simulator(5, 111, &["us-east-1"]).await;
    let out = run_bin(
        &sync_args(&db.url, &sim.endpoint_url(), &["--no-migrate"]),
        &aws_test_env(),
    )
    .await;
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("migration(s) behind; run `snowball-sync migrate` first"),
        "{}",
        out.stderr()
    );

    // Migrated, then read-only, as a standby or a demoted primary is.
    run_bin(&["migrate", "--database-url", &db.url], &[])
        .await
        .assert_code(0);
    sqlx::raw_sql(sqlx::AssertSqlSafe(&*format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        db.name
    )))
    .execute(&db.pool)
    .await
    .expect("make the database read-only");
    let out = run_bin(
        &sync_args(&db.url, &sim.endpoint_url(), &[]),
        &aws_test_env(),
    )
    .await;
    out.assert_code(1);
    assert!(
        out.error_line().contains("the database is read-only"),
        "{}",
        out.stderr()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(&*format!(
        "ALTER DATABASE \"{}\" RESET default_transaction_read_only",
        db.name
    )))
    .execute(&db.pool)
    .await
    .expect("writable again");
}

#[tokio::test]
async fn evidence_of_an_unknown_job_leaves_no_folder_behind() {
    let db = TestDb::migrated().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let new = dir.path().join("packet");
    let out = run_bin(
        &[
            "evidence",
            "JIDnone",
            "--out",
            &new.to_string_lossy(),
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;
    out.assert_code(1);
    assert!(
        out.error_line().contains("no such job: JIDnone"),
        "{}",
        out.stderr()
    );
    assert!(!new.exists(), "the folder it created is removed");
    // A folder that was there, empty, stays, empty.
    let out = run_bin(
        &[
            "evidence",
            "JIDnone",
            "--out",
            &dir.path().to_string_lossy(),
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;
    out.assert_code(1);
    assert!(dir.path().exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[tokio::test]
async fn a_run_waiting_for_the_lock_logs_no_slow_statement_warning() {
    let db = TestDb::migrated().await;
    let sim = simulator(5, 112, &["us-east-1"]).await;
    let key = snowball_sync::db::lock::key(&snowball_simulator::account_id(0));
    let mut holder = db.pool.acquire().await.expect("a session");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *holder)
        .await
        .expect("hold the account's lock");
    let args = sync_args(
        &db.url,
        &sim.endpoint_url(),
        &["--wait-lock", "--log-format", "json"],
    );
    let env = aws_test_env();
    let run = run_bin(&args, &env);
    let release = async {
        // Longer than sqlx's slow-statement threshold (1 s).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *holder)
            .await
            .expect("release");
    };
    let (out, ()) = tokio::join!(run, release);
    out.assert_code(0);
    assert!(!out.stderr().contains("slow statement"), "{}", out.stderr());
}
