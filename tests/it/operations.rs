//! Running under a scheduler: machine-readable output, metrics, roles, TLS,
//! secrets, unit files, completions.

use std::collections::HashMap;
use std::str::FromStr;

use snowball_simulator::Faults;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::support::*;

fn metrics(path: &std::path::Path) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).expect("the metrics file exists");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition");
    scrape
        .samples
        .into_iter()
        .map(|sample| {
            let value = match sample.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("unexpected sample type {other:?}"),
            };
            // metric{label=value,...}, labels sorted; the bare name without labels.
            let mut labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            let key = match labels.is_empty() {
                true => sample.metric,
                false => format!("{}{{{}}}", sample.metric, labels.join(",")),
            };
            (key, value)
        })
        .collect()
}

#[tokio::test]
async fn json_output_is_one_object_with_every_documented_field() {
    let db = TestDb::empty().await;
    let sim = simulator_with_faults(
        250,
        60,
        &["us-east-1"],
        Faults {
            throttle_every: Some(2),
            ..Faults::default()
        },
    )
    .await;

    let out = run_bin(
        &sync_args(&db.url, &sim.endpoint_url(), &["--output", "json"]),
        &aws_test_env(),
    )
    .await;

    out.assert_code(0);
    let stdout = out.stdout();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let keys: Vec<&str> = summary
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "run_id",
        "status",
        "error",
        "dry_run",
        "regions",
        "accounts",
        "listings",
        "pages",
        "jobs_seen",
        "jobs_new",
        "jobs_changed",
        "transitions",
        "jobs_missing",
        "api_requests",
        "api_retries",
        "duration_seconds",
        "started_at",
        "finished_at",
    ] {
        assert!(keys.contains(&key), "missing {key} in {summary}");
    }
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["regions"], serde_json::json!(["us-east-1"]));
    assert_eq!(
        (summary["pages"].as_i64(), summary["jobs_new"].as_i64()),
        (Some(3), Some(250))
    );
    // Every 2nd ListJobs request throttled: requests 2 and 4 are retried; 3
    // pages take 5 requests, after one STS GetCallerIdentity.
    assert_eq!(
        (
            summary["api_requests"].as_u64(),
            summary["api_retries"].as_u64()
        ),
        (Some(6), Some(2))
    );
    assert_eq!(
        summary["api_requests"].as_u64(),
        Some(sim.sim.list_requests() + 1)
    );
    assert_eq!(
        summary["accounts"],
        serde_json::json!([snowball_simulator::account_id(0)])
    );
    assert_eq!(
        summary["listings"],
        serde_json::json!([{
            "kind": "jobs", "account_id": snowball_simulator::account_id(0), "region": "us-east-1",
            "status": "succeeded", "pages": 3, "jobs_seen": 250, "error": null,
        }])
    );
    let started =
        chrono::DateTime::parse_from_rfc3339(summary["started_at"].as_str().expect("a string"))
            .expect("RFC 3339");
    let finished =
        chrono::DateTime::parse_from_rfc3339(summary["finished_at"].as_str().expect("a string"))
            .expect("RFC 3339");
    assert!(finished >= started);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_run_id_inside_a_run() {
    let db = TestDb::empty().await;
    let sim = simulator(150, 61, &["us-east-1"]).await;
    // Its conversion logs a warning from inside the region's fetcher task.
    let nul = snowball_simulator::JobEntry {
        description: Some("a\0b".into()),
        ..entry("JIDnul", "New")
    };
    sim.sim.push_job("us-east-1", nul);

    let out = run_bin(
        &sync_args(
            &db.url,
            &sim.endpoint_url(),
            &["--log-format", "json", "-v"],
        ),
        &aws_test_env(),
    )
    .await;

    out.assert_code(0);
    let lines: Vec<serde_json::Value> = out
        .stderr()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let run_id = sqlx::query_scalar!("SELECT max(id) AS \"id!\" FROM snowball.sync_runs")
        .fetch_one(&db.pool)
        .await
        .expect("run");
    let mut inside = 0;
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
        }
        let message = line["message"].as_str().unwrap_or_default();
        if [
            "sync started",
            "batch written",
            "sync finished",
            "removed NUL bytes from a value PostgreSQL cannot store",
        ]
        .contains(&message)
        {
            inside += 1;
            assert_eq!(line["span"]["run_id"].as_i64(), Some(run_id), "{line}");
        }
    }
    assert!(inside >= 4, "{}", out.stderr());
}

#[tokio::test]
async fn the_metrics_file_records_success_then_failure_and_keeps_the_last_success() {
    let db = TestDb::empty().await;
    let sim = simulator(250, 62, &["us-east-1"]).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("snowball-sync.prom");
    let metrics_arg = path.to_string_lossy().to_string();

    run_bin(
        &sync_args(
            &db.url,
            &sim.endpoint_url(),
            &["--metrics-file", &metrics_arg],
        ),
        &aws_test_env(),
    )
    .await
    .assert_code(0);

    let first = metrics(&path);
    assert_eq!(first["snowball_sync_last_run_success"], 1.0);
    assert_eq!(first["snowball_sync_last_run_pages"], 3.0);
    assert_eq!(first["snowball_sync_last_run_transitions"], 250.0);
    // One STS GetCallerIdentity, three ListJobs pages.
    assert_eq!(first["snowball_sync_last_run_api_requests"], 4.0);
    assert_eq!(first["snowball_sync_last_run_api_retries"], 0.0);
    let by_state: f64 = first
        .iter()
        .filter(|(k, _)| k.starts_with("snowball_sync_jobs{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(by_state, 250.0);
    let account = snowball_simulator::account_id(0);
    assert!(
        first
            .keys()
            .filter(|k| k.starts_with("snowball_sync_jobs{"))
            .all(|k| k.starts_with(&format!(
                "snowball_sync_jobs{{account_id={account},job_state="
            ))),
        "{first:?}"
    );
    assert_eq!(
        first[&format!(
            "snowball_sync_listing_success{{account_id={account},kind=jobs,region=us-east-1}}"
        )],
        1.0
    );
    let last_success = first["snowball_sync_last_success_timestamp_seconds"];
    assert_eq!(
        last_success,
        first["snowball_sync_last_run_timestamp_seconds"]
    );

    // The API goes away: the run fails, the file says so and keeps the last success.
    let failing = sync_args(
        &db.url,
        "http://127.0.0.1:1",
        &["--metrics-file", &metrics_arg, "--max-attempts", "1"],
    );
    run_bin(&failing, &aws_test_env()).await.assert_code(1);

    let second = metrics(&path);
    assert_eq!(second["snowball_sync_last_run_success"], 0.0);
    assert_eq!(
        second["snowball_sync_last_success_timestamp_seconds"],
        last_success
    );
    assert!(second["snowball_sync_last_run_timestamp_seconds"] > last_success);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(leftovers.len(), 1, "a temporary file was left behind");
}

#[tokio::test]
async fn the_metrics_file_has_a_last_success_of_0_until_a_run_succeeds_and_marks_a_failed_estate_listing()
 {
    let db = TestDb::migrated().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("snowball-sync.prom");
    let metrics_arg = path.to_string_lossy().to_string();

    // A deployment whose first run fails: the staleness alert has a series.
    let failing = sync_args(
        &db.url,
        "http://127.0.0.1:1",
        &["--metrics-file", &metrics_arg, "--max-attempts", "1"],
    );
    run_bin(&failing, &aws_test_env()).await.assert_code(1);
    let never = metrics(&path);
    assert_eq!(never["snowball_sync_last_success_timestamp_seconds"], 0.0);
    run_bin(&failing, &aws_test_env()).await.assert_code(1);
    assert_eq!(
        metrics(&path)["snowball_sync_last_success_timestamp_seconds"],
        0.0
    );

    // The estate read, then GetSnowballUsage and ListClusters refused.
    let sim = estate_simulator(20, 65, &["us-east-1"], 1, (2, 1)).await;
    let account = snowball_simulator::account_id(0);
    let args = sync_args(
        &db.url,
        &sim.endpoint_url(),
        &[
            "--include",
            "usage,clusters,long-term-pricing",
            "--metrics-file",
            &metrics_arg,
            "--output",
            "json",
        ],
    );
    run_bin(&args, &aws_test_env()).await.assert_code(0);
    let read = metrics(&path);
    let observed = |kind: &str| {
        format!(
            "snowball_sync_estate_observed_timestamp_seconds{{account_id={account},kind={kind},region=us-east-1}}"
        )
    };
    let first_read = read[&observed("usage")];
    assert!(first_read > 0.0, "{read:?}");
    sim.sim.set_faults(snowball_simulator::Faults {
        deny_usage: vec![account.clone()],
        deny_list_clusters: vec![account.clone()],
        ..snowball_simulator::Faults::default()
    });
    let out = run_bin(&args, &aws_test_env()).await;
    out.assert_code(1);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout().trim()).expect("one JSON object");
    let status = |kind: &str| {
        summary["listings"]
            .as_array()
            .expect("listings")
            .iter()
            .find(|l| l["kind"] == kind)
            .map(|l| l["status"].clone())
    };
    assert_eq!(status("jobs"), Some("succeeded".into()), "{summary}");
    assert_eq!(status("usage"), Some("failed".into()), "{summary}");
    assert_eq!(status("clusters"), Some("failed".into()), "{summary}");
    assert_eq!(
        status("long-term-pricing"),
        Some("succeeded".into()),
        "{summary}"
    );
    let refused = metrics(&path);
    let success = |kind: &str| {
        refused[&format!(
            "snowball_sync_listing_success{{account_id={account},kind={kind},region=us-east-1}}"
        )]
    };
    assert_eq!(
        (
            success("jobs"),
            success("usage"),
            success("clusters"),
            success("long-term-pricing")
        ),
        (1.0, 0.0, 0.0, 1.0)
    );
    // The usage and cluster figures still there are the earlier run's, and
    // say so; the terms were read now.
    assert_eq!(refused[&observed("usage")], first_read);
    assert_eq!(refused[&observed("clusters")], read[&observed("clusters")]);
    assert!(refused[&observed("long-term-pricing")] > read[&observed("long-term-pricing")]);
}

#[tokio::test]
async fn no_password_appears_in_stderr_stdout_logs_or_metrics() {
    let secret = "hunter2-s3cr3t";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("m.prom");
    let metrics_arg = path.to_string_lossy().to_string();
    let db = TestDb::migrated().await;
    // Trust authentication ignores the password, so this database answers.
    let reachable = db
        .url
        .replacen("postgres@", &format!("postgres:{secret}@"), 1);
    assert!(reachable.contains(secret), "{reachable}");
    let refused = format!("postgres://postgres:{secret}@127.0.0.1:1/postgres");

    for url in [&reachable, &refused] {
        let args = sync_args(
            url,
            "http://127.0.0.1:1",
            &[
                "--max-attempts",
                "1",
                "-vv",
                "--log-format",
                "json",
                "--metrics-file",
                &metrics_arg,
            ],
        );
        let out = run_bin(&args, &aws_test_env()).await;
        out.assert_code(1);
        assert!(
            !out.stderr().contains(secret),
            "the password leaked to stderr:\n{}",
            out.stderr()
        );
        assert!(!out.stdout().contains(secret));
        let written = std::fs::read_to_string(&path).expect("metrics written");
        assert!(!written.contains(secret));
    }
}

/// Every table the history is kept in: append-only for everyone.
const HISTORY_TABLES: [&str; 7] = [
    "snowball.job_state_history",
    "snowball.job_detail_history",
    "snowball.job_reports",
    "snowball.job_report_chunks",
    "snowball.device_usage_history",
    "snowball.cluster_state_history",
    "snowball.long_term_pricing_history",
];

#[tokio::test]
async fn with_the_roles_script_the_owner_migrates_the_writer_syncs_everything_and_cannot_change_the_history()
 {
    let db = TestDb::empty().await;
    apply_roles_script(&db).await;
    let as_role = |role: &str| {
        PgConnectOptions::from_str(&db.url)
            .expect("url")
            .username(role)
    };
    let url = |role: &str| as_role(role).to_url_lossy().to_string();
    let (owner, writer) = (url("snowball_owner"), url("snowball_writer"));
    let sim = estate_simulator(60, 63, &["us-east-1"], 1, (2, 2)).await;
    let sync_all = sync_args(
        &writer,
        &sim.endpoint_url(),
        &["--include", "all", "--include", "reports"],
    );

    // The writer may not change the schema, and is told who does.
    let out = run_bin(&sync_all, &aws_test_env()).await;
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("run `snowball-sync migrate` as the schema's owner"),
        "{}",
        out.stderr()
    );
    run_bin(&["migrate", "--database-url", &owner], &[])
        .await
        .assert_code(0);
    // Run again after a migrate: the writer's UPDATE on the new tables.
    apply_roles_script(&db).await;

    for _ in 0..3 {
        let out = run_bin(&sync_all, &aws_test_env()).await;
        out.assert_code(0);
        sim.sim.advance(4);
    }
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM snowball.job_detail_history),
                (SELECT count(*) FROM snowball.job_reports),
                (SELECT count(*) FROM snowball.device_usage_history),
                (SELECT count(*) FROM snowball.cluster_state_history),
                (SELECT count(*) FROM snowball.long_term_pricing_history)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("counts");
    assert!(
        counts.0 > 0 && counts.1 > 0 && counts.2 > 0 && counts.3 > 0 && counts.4 > 0,
        "every kind written as the writer: {counts:?}"
    );

    // The writer is refused every way of changing the history.
    let mut conn = PgConnection::connect_with(&as_role("snowball_writer"))
        .await
        .expect("the writer connects");
    for table in HISTORY_TABLES {
        for sql in [
            format!("UPDATE {table} SET job_id = job_id"),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
            format!("ALTER TABLE {table} DISABLE TRIGGER USER"),
            format!("ALTER TABLE {table} ADD COLUMN forged text"),
            format!("GRANT UPDATE, DELETE ON {table} TO snowball_writer"),
        ] {
            let sql = sql.replace(
                "job_id = job_id",
                match table {
                    "snowball.device_usage_history" => "region = region",
                    "snowball.cluster_state_history" => "cluster_id = cluster_id",
                    "snowball.long_term_pricing_history" => {
                        "long_term_pricing_id = long_term_pricing_id"
                    }
                    _ => "job_id = job_id",
                },
            );
            // A GRANT without the grant option is a warning, not an error:
            // what counts is that nothing was granted.
            let result = sqlx::raw_sql(sqlx::AssertSqlSafe(&*sql))
                .execute(&mut conn)
                .await;
            if sql.starts_with("GRANT") {
                continue;
            }
            let err = result.expect_err(&sql).to_string();
            assert!(
                err.contains("permission denied") || err.contains("must be owner"),
                "{sql}: {err}"
            );
        }
        let privileges: (bool, bool, bool) = sqlx::query_as(
            "SELECT has_table_privilege('snowball_writer', $1, 'UPDATE'),
                    has_table_privilege('snowball_writer', $1, 'DELETE'),
                    has_table_privilege('snowball_writer', $1, 'TRUNCATE')",
        )
        .bind(table)
        .fetch_one(&db.pool)
        .await
        .expect("privileges");
        assert_eq!(privileges, (false, false, false), "{table}");
    }
}

#[tokio::test]
async fn report_history_watch_verify_and_evidence_run_as_the_reader_role_on_a_database_the_owner_migrated()
 {
    let db = TestDb::empty().await;
    apply_roles_script(&db).await;
    let as_role = |role: &str| {
        PgConnectOptions::from_str(&db.url)
            .expect("url")
            .username(role)
            .to_url_lossy()
            .to_string()
    };
    let (owner, writer, reader) = (
        as_role("snowball_owner"),
        as_role("snowball_writer"),
        as_role("snowball_reader"),
    );
    run_bin(&["migrate", "--database-url", &owner], &[])
        .await
        .assert_code(0);
    apply_roles_script(&db).await;
    let sim = simulator(5, 64, &["us-east-1"]).await;
    let mut watch = crate::signals::Watch::start_as(&reader, "text").await;
    run_bin(
        &sync_args(&writer, &sim.endpoint_url(), &[]),
        &aws_test_env(),
    )
    .await
    .assert_code(0);

    let line = watch.lines(1).await;
    assert!(line[0].contains("succeeded: 5 transitions"), "{line:#?}");
    let report = run_bin(&["report", "--database-url", &reader], &[]).await;
    report.assert_code(0);
    assert!(report.stdout().contains("Jobs by state and type"));
    let job: String = sqlx::query_scalar!("SELECT min(job_id) AS \"j!\" FROM snowball.jobs")
        .fetch_one(&db.pool)
        .await
        .expect("a job");
    let history = run_bin(&["history", &job, "--database-url", &reader], &[]).await;
    history.assert_code(0);
    assert!(history.stdout().starts_with(&job), "{}", history.stdout());
    let verify = run_bin(&["verify", "--database-url", &reader], &[]).await;
    verify.assert_code(0);
    assert!(
        verify.stdout().ends_with("the history verifies\n"),
        "{}",
        verify.stdout()
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let folder = dir.path().join("packet");
    run_bin(
        &[
            "evidence",
            &job,
            "--out",
            &folder.to_string_lossy(),
            "--database-url",
            &reader,
        ],
        &[],
    )
    .await
    .assert_code(0);
    assert!(folder.join("SHA256SUMS").exists());
}

#[tokio::test]
async fn sslmode_from_the_url_or_pgsslmode_is_honoured() {
    let admin = TestDb::empty().await;
    let ssl: String =
        sqlx::query_scalar!(r#"SELECT setting AS "s!" FROM pg_settings WHERE name = 'ssl'"#)
            .fetch_one(&admin.pool)
            .await
            .expect("read the ssl setting");
    if ssl != "on"
        && skipped(
            "sslmode_from_the_url_or_pgsslmode_is_honoured",
            &format!("a server with ssl=on (it has ssl={ssl})"),
        )
    {
        return;
    }
    let url = format!("{}?sslmode=require", admin.url);
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("sslmode=require connects");
    let encrypted: Option<bool> =
        sqlx::query_scalar!("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_ssl");
    assert_eq!(encrypted, Some(true));

    let options = PgConnectOptions::from_str(&admin.url).expect("url");
    let libpq_env = |mode: &str, root: &str| {
        vec![
            ("PGHOST", options.get_host().to_owned()),
            ("PGPORT", options.get_port().to_string()),
            ("PGUSER", options.get_username().to_owned()),
            ("PGDATABASE", admin.name.clone()),
            ("PGSSLMODE", mode.to_owned()),
            ("PGSSLROOTCERT", root.to_owned()),
        ]
    };
    run_bin(&["migrate"], &libpq_env("require", "/nonexistent/ca.pem"))
        .await
        .assert_code(0);
    // verify-full needs a CA this server's certificate chains to: a missing one must fail.
    let refused = run_bin(
        &["migrate"],
        &libpq_env("verify-full", "/nonexistent/ca.pem"),
    )
    .await;
    refused.assert_code(1);
    refused.error_line();

    // Debian's default server certificate is the self-signed "snakeoil" one,
    // for the name localhost: with it as the CA, verify-full succeeds.
    let cert: String = sqlx::query_scalar!(
        r#"SELECT setting AS "s!" FROM pg_settings WHERE name = 'ssl_cert_file'"#
    )
    .fetch_one(&admin.pool)
    .await
    .expect("read ssl_cert_file");
    if std::fs::metadata(&cert).is_ok() && cert.contains("snakeoil") {
        let mut verified = libpq_env("verify-full", &cert);
        verified[0].1 = "localhost".into();
        run_bin(&["migrate"], &verified).await.assert_code(0);
    } else {
        skipped(
            "the verify-full half of sslmode_from_the_url_or_pgsslmode_is_honoured",
            &format!("Debian's snakeoil certificate (the server's is {cert})"),
        );
    }
}

#[tokio::test]
async fn completions_and_the_manual_page_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_bin(&["completions", shell], &[]).await;
        out.assert_code(0);
        assert!(
            out.stdout().contains("snowball-sync") && out.stdout().contains("page-size"),
            "{shell}"
        );
    }
    let man = run_bin(&["man"], &[]).await;
    man.assert_code(0);
    assert!(
        man.stdout().starts_with(".ie") || man.stdout().contains(".TH snowball-sync"),
        "{}",
        man.stdout()
    );
}

#[tokio::test]
async fn bash_completes_subcommands_and_their_flags_in_a_real_bash() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = dir.path().join("snowball-sync.bash");
    let out = run_bin(&["completions", "bash"], &[]).await;
    out.assert_code(0);
    std::fs::write(&script, out.stdout()).expect("the script");
    // What bash does on TAB: COMP_WORDS and COMP_CWORD set, then the function
    // `complete -p` names called with the command, the word and the one before.
    let complete = |line: &str| {
        format!(
            r#"source {script}; read -ra COMP_WORDS <<< "{line}"; COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ));
               f=$(complete -p snowball-sync | sed -E 's/.* -F ([^ ]+) .*/\1/');
               "$f" snowball-sync "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}";
               printf '%s\n' "${{COMPREPLY[@]}}""#,
            script = script.display()
        )
    };
    for (line, expected) in [
        ("snowball-sync report --f", vec!["--format"]),
        ("snowball-sync sync --dry", vec!["--dry-run"]),
        ("snowball-sync rep", vec!["report"]),
    ] {
        let output = std::process::Command::new("bash")
            .args(["--norc", "-c", &complete(line)])
            .output()
            .expect("bash runs");
        let words: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            words,
            expected,
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn one_manual_page_per_subcommand_renders_without_warnings() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pages = dir.path().join("man1");
    run_bin(&["man", "--dir", &pages.to_string_lossy()], &[])
        .await
        .assert_code(0);
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .expect("the pages")
        .map(|e| {
            e.expect("a page")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    for sub in [
        "sync", "migrate", "simulate", "demo", "history", "report", "watch",
    ] {
        assert!(
            names.contains(&format!("snowball-sync-{sub}.1")),
            "{names:?}"
        );
    }
    for name in &names {
        let rendered = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww"])
            .arg(pages.join(name))
            .output();
        let Ok(rendered) = rendered else {
            skipped(
                "one_manual_page_per_subcommand_renders_without_warnings",
                "groff (apt-get install groff-base)",
            );
            return;
        };
        let warnings = String::from_utf8_lossy(&rendered.stderr);
        assert!(
            rendered.status.success() && warnings.is_empty(),
            "{name}: {warnings}"
        );
    }
    let top = std::fs::read_to_string(pages.join("snowball-sync.1")).expect("the top page");
    assert!(
        top.contains("Exit codes") && top.contains("DATABASE_URL"),
        "{top}"
    );
    let sync = std::fs::read_to_string(pages.join("snowball-sync-sync.1")).expect("sync's page");
    assert!(sync.contains("dry\\-run"), "{sync}");
}

#[tokio::test]
async fn the_systemd_units_pass_systemd_analyze_verify() {
    let Ok(found) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        skipped(
            "the_systemd_units_pass_systemd_analyze_verify",
            "systemd-analyze (apt-get install systemd)",
        );
        return;
    };
    assert!(found.status.success());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let contrib = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/systemd");
    // verify checks that ExecStart exists: point it at the binary under test.
    let service = std::fs::read_to_string(format!("{contrib}/snowball-sync.service"))
        .expect("the service")
        .replace(
            "/usr/bin/snowball-sync",
            env!("CARGO_BIN_EXE_snowball-sync"),
        );
    std::fs::write(dir.path().join("snowball-sync.service"), service).expect("write");
    std::fs::copy(
        format!("{contrib}/snowball-sync.timer"),
        dir.path().join("snowball-sync.timer"),
    )
    .expect("copy");

    // verify also asks `man` for the unit's Documentation= page: the pages
    // the binary writes, as the package installs them.
    let man = dir.path().join("man");
    run_bin(&["man", "--dir", &man.join("man1").to_string_lossy()], &[])
        .await
        .assert_code(0);
    let verify = std::process::Command::new("systemd-analyze")
        .env("MANPATH", &man)
        .arg("verify")
        .arg(dir.path().join("snowball-sync.service"))
        .arg(dir.path().join("snowball-sync.timer"))
        .output()
        .expect("systemd-analyze runs");

    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn the_roles_script_takes_over_a_database_its_earlier_version_set_up() {
    let db = TestDb::empty().await;
    let as_role = |role: &str| {
        PgConnectOptions::from_str(&db.url)
            .expect("url")
            .username(role)
    };
    let writer = as_role("snowball_writer").to_url_lossy().to_string();
    // As an operator set it up before: the writer owns and migrates.
    apply_script(
        &db,
        include_str!("fixtures/postgres-roles-before-owner.sql"),
    )
    .await;
    run_bin(&["migrate", "--database-url", &writer], &[])
        .await
        .assert_code(0);
    apply_roles_script(&db).await;
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'snowball' AND c.relkind IN ('r', 'v')",
    )
    .fetch_all(&db.pool)
    .await
    .expect("owners");
    assert_eq!(owners, ["snowball_owner"]);
    let sim = simulator_with_jobs(
        7,
        (1..=3)
            .map(|i| entry(&format!("JIDreport-0000-4000-8000-{i:012}"), "Complete"))
            .collect(),
    )
    .await;
    let out = run_bin(
        &sync_args(&writer, &sim.endpoint_url(), &["--include", "reports"]),
        &aws_test_env(),
    )
    .await;
    out.assert_code(0);
    let reports: i64 = sqlx::query_scalar("SELECT count(*) FROM snowball.job_reports")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert!(reports > 0, "the writer archives reports");
    for table in HISTORY_TABLES {
        let privileges: (bool, bool) = sqlx::query_as(
            "SELECT has_table_privilege('snowball_writer', $1, 'UPDATE'),
                    has_table_privilege('snowball_writer', $1, 'DELETE')",
        )
        .bind(table)
        .fetch_one(&db.pool)
        .await
        .expect("privileges");
        assert_eq!(privileges, (false, false), "{table}");
    }
}

/// Applies `script` as the superuser, one at a time (roles belong to the
/// whole server).
async fn apply_script(db: &TestDb, script: &str) {
    let _turn = ROLES_SCRIPT.lock().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&db.pool)
        .await
        .expect("the roles script applies");
}

static ROLES_SCRIPT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Applies contrib/postgres-roles.sql as the superuser. Roles belong to the
/// whole server: tests applying it at once could both try to create them.
async fn apply_roles_script(db: &TestDb) {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/postgres-roles.sql"
    ))
    .expect("the script");
    apply_script(db, &script).await;
}
