//! Job details: DescribeJob enrichment, its history, which jobs are
//! described, failures, and what is never stored.

use std::collections::BTreeSet;

use snowball_simulator::{Faults, JOB_LOG_MARKER, PICKUP_MARKER, TAX_MARKER, account_id};
use snowball_sync::config::SyncConfig;

use crate::support::*;

fn with_details(mut config: SyncConfig) -> SyncConfig {
    config.details = Some(4);
    config
}

/// The job's detail history: (outbound status, outbound tracking, inbound
/// status, inbound tracking, bytes, objects, total bytes, total objects).
type DetailRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

async fn detail_history(pool: &sqlx::PgPool, job_id: &str) -> Vec<DetailRow> {
    sqlx::query!(
        "SELECT outbound_status, outbound_tracking_number, inbound_status, inbound_tracking_number,
                bytes_transferred, objects_transferred, total_bytes, total_objects
           FROM snowball.job_detail_history WHERE job_id = $1 ORDER BY id",
        job_id
    )
    .fetch_all(pool)
    .await
    .expect("detail history")
    .into_iter()
    .map(|r| {
        (
            r.outbound_status,
            r.outbound_tracking_number,
            r.inbound_status,
            r.inbound_tracking_number,
            r.bytes_transferred,
            r.objects_transferred,
            r.total_bytes,
            r.total_objects,
        )
    })
    .collect()
}

#[tokio::test]
async fn a_job_followed_through_its_lifecycle_keeps_its_shipments_and_transfer() {
    let db = TestDb::migrated().await;
    let job = "JIDdetail-0000-4000-8000-000000000001";
    let sim = simulator_with_jobs(90, vec![entry(job, "New")]).await;
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));
    let path = [
        "New",
        "PreparingAppliance",
        "PreparingShipment",
        "InTransitToCustomer",
        "WithCustomer",
        "InTransitToAWS",
        "WithAWSSortingFacility",
        "WithAWS",
        "WithAWS",
        "InProgress",
        "InProgress",
        "InProgress",
        "Complete",
        "Complete",
    ];
    let mut changes = Vec::new();
    for state in path {
        sim.sim.set_state(job, state);
        // A tick passes between syncs: a job InProgress moves more data.
        sim.sim.advance(1);
        let summary = sync_ok(&config).await;
        changes.push((
            state,
            summary.totals.jobs_described,
            summary.totals.detail_changes,
        ));
    }

    // Described while active, when it changed, and never again once Complete.
    let described: Vec<Option<i32>> = changes.iter().map(|c| c.1).collect();
    assert_eq!(
        described,
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0].map(Some)
    );
    let changed: Vec<&str> = changes
        .iter()
        .filter(|c| c.2 == Some(1))
        .map(|c| c.0)
        .collect();
    assert_eq!(
        changed,
        [
            "New",
            "InTransitToCustomer",
            "WithCustomer",
            "InTransitToAWS",
            "WithAWSSortingFacility",
            "InProgress",
            "InProgress",
            "InProgress",
            "Complete"
        ]
    );
    let rows = detail_history(&db.pool, job).await;
    assert_eq!(rows.len(), 9, "one row per observed change: {rows:#?}");
    let none = || (None, None, None, None, None, None, None, None);
    assert_eq!(rows[0], none());
    let outbound = rows[1].1.clone().expect("an outbound tracking number");
    assert_eq!(rows[1].0.as_deref(), Some("InTransit"));
    assert_eq!(rows[2].0.as_deref(), Some("Delivered"));
    assert_eq!(rows[2].1.as_ref(), Some(&outbound));
    assert_eq!(rows[2].3, None, "no inbound tracking before it ships back");
    let inbound = rows[3].3.clone().expect("an inbound tracking number");
    assert_ne!(inbound, outbound);
    assert_eq!(rows[3].2.as_deref(), Some("InTransit"));
    assert_eq!(rows[4].2.as_deref(), Some("Delivered"));
    // Transfer: totals known, figures rising, complete at Complete.
    let transfer: Vec<(i64, i64, i64, i64)> = rows[5..]
        .iter()
        .map(|r| {
            (
                r.4.expect("bytes"),
                r.5.expect("objects"),
                r.6.expect("total bytes"),
                r.7.expect("total objects"),
            )
        })
        .collect();
    assert!(
        transfer
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
        "{transfer:?}"
    );
    assert!(
        transfer
            .iter()
            .all(|t| t.2 == transfer[0].2 && t.3 == transfer[0].3)
    );
    let last = transfer[transfer.len() - 1];
    assert_eq!((last.0, last.1), (last.2, last.3));
    let progress = sqlx::query!(
        r#"SELECT percent_done::float8 AS "percent!", bytes_per_second FROM snowball.data_transfer_progress WHERE job_id = $1"#,
        job
    )
    .fetch_one(&db.pool)
    .await
    .expect("the transfer progress view");
    assert_eq!(progress.percent, 100.0);
    assert!(progress.bytes_per_second.is_some_and(|rate| rate > 0.0));
    let shipment = sqlx::query!(
        "SELECT outbound_tracking_number, inbound_status FROM snowball.shipments WHERE job_id = $1",
        job
    )
    .fetch_one(&db.pool)
    .await
    .expect("the shipments view");
    assert_eq!(shipment.outbound_tracking_number, Some(outbound));
    assert_eq!(shipment.inbound_status.as_deref(), Some("Delivered"));
}

#[tokio::test]
async fn only_active_changed_and_never_described_jobs_are_described() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_jobs(
        91,
        vec![
            entry("JIDcomplete", "Complete"),
            entry("JIDcancelled", "Cancelled"),
            entry("JIDimporting", "InProgress"),
            entry("JIDout", "WithCustomer"),
        ],
    )
    .await;
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));
    let described = || -> BTreeSet<String> { sim.sim.take_described().into_iter().collect() };
    let set = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| s.to_string()).collect() };

    sync_ok(&config).await;
    assert_eq!(
        described(),
        set(&["JIDcancelled", "JIDcomplete", "JIDimporting", "JIDout"]),
        "every job is new"
    );
    sync_ok(&config).await;
    assert_eq!(
        described(),
        set(&["JIDimporting", "JIDout"]),
        "final jobs described before are not again"
    );
    sim.sim.set_state("JIDimporting", "Complete");
    sync_ok(&config).await;
    assert_eq!(
        described(),
        set(&["JIDimporting", "JIDout"]),
        "the job that just completed, once more"
    );
    sync_ok(&config).await;
    assert_eq!(described(), set(&["JIDout"]));

    let plain = sync_config(&db, &sim, &["us-east-1"]);
    let summary = sync_ok(&plain).await;
    assert_eq!(described(), BTreeSet::new(), "no --details, no DescribeJob");
    assert_eq!(summary.totals.jobs_described, None);
}

#[tokio::test]
async fn an_exports_main_job_brings_its_parts_which_are_not_described_again() {
    let db = TestDb::migrated().await;
    let sim = simulator(300, 92, &["us-east-1"]).await;
    sim.sim.advance(6);
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));

    let summary = sync_ok(&config).await;

    let requested = sim.sim.take_described();
    let mains: Vec<&String> = requested
        .iter()
        .filter(|id| id.starts_with("MID"))
        .collect();
    assert!(!mains.is_empty());
    let parts: Vec<String> = mains.iter().flat_map(|m| sim.sim.parts(m)).collect();
    assert!(!parts.is_empty(), "the fleet has exports with parts");
    for part in &parts {
        assert!(!requested.contains(part), "{part} was described again");
    }
    let stored = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.job_details WHERE job_id = ANY($1) AND sync_run_id = $2"#,
        &parts,
        summary.run_id
    )
    .fetch_one(&db.pool)
    .await
    .expect("parts' details");
    assert_eq!(stored as usize, parts.len());
    assert_eq!(
        summary.totals.jobs_described,
        Some((requested.len() + parts.len()) as i32)
    );
    assert_eq!(
        count_jobs(&db.pool).await as usize,
        requested.len() + parts.len()
    );
}

#[tokio::test]
async fn throttled_descriptions_are_retried_and_all_land() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_faults(
        120,
        93,
        &["us-east-1"],
        Faults {
            throttle_every: Some(4),
            ..Faults::default()
        },
    )
    .await;
    let mut config = with_details(sync_config(&db, &sim, &["us-east-1"]));
    // Every 4th request of all those in flight is throttled: a job's retries
    // can meet that turn again, so allow the SDK a few more attempts.
    config.aws.max_attempts = 10;

    let summary = sync_ok(&config).await;

    let requested = sim.sim.take_described().len() as u64;
    let described = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.job_details"#)
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(described, 120, "every job described once");
    assert!(
        summary.api_retries > 0 && requested > 100,
        "{requested} requests"
    );
}

#[tokio::test]
async fn an_unknown_job_is_named_and_the_run_is_partial_with_the_rest_stored() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_jobs(
        94,
        vec![
            entry("JIDgone", "WithCustomer"),
            entry("JIDhere", "WithCustomer"),
        ],
    )
    .await;
    sim.sim.set_faults(Faults {
        forget_jobs: vec!["JIDgone".into()],
        ..Faults::default()
    });
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));

    let failure = snowball_sync::sync::run(&config, &mut Vec::new(), std::future::pending())
        .await
        .expect_err("a job could not be described");

    let error = failure.error.chain();
    assert!(
        error.contains("1 job(s) not described: JIDgone (InvalidResourceException (HTTP 400)"),
        "{error}"
    );
    let summary = failure.summary.expect("a recorded run");
    assert_eq!(summary.status.as_str(), "partial");
    assert_eq!(summary.totals.jobs_described, Some(1));
    assert_eq!(count_jobs(&db.pool).await, 2, "the listing stands");
}

#[tokio::test]
async fn a_job_whose_description_failed_when_it_completed_is_described_by_the_next_run_only() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_jobs(
        97,
        vec![
            entry("JIDdone", "InProgress"),
            // Final and unchanged: described once, in the first run.
            entry("JIDother", "Complete"),
        ],
    )
    .await;
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));
    let described_in = || async {
        sqlx::query_scalar!("SELECT sync_run_id FROM snowball.job_details WHERE job_id = 'JIDdone'")
            .fetch_one(&db.pool)
            .await
            .expect("JIDdone's details")
    };
    sync_ok(&config).await;
    let before = detail_history(&db.pool, "JIDdone").await;

    // It completes in a run whose DescribeJob for it fails.
    sim.sim.set_state("JIDdone", "Complete");
    sim.sim.set_faults(Faults {
        forget_jobs: vec!["JIDdone".into()],
        ..Faults::default()
    });
    let failed = snowball_sync::sync::run(&config, &mut Vec::new(), std::future::pending())
        .await
        .expect_err("JIDdone could not be described");
    let completed_in = failed.summary.expect("a recorded run").run_id;
    assert_ne!(described_in().await, completed_in);
    sim.sim.set_faults(Faults::default());
    sim.sim.take_described();

    let next = sync_ok(&config).await;
    assert_eq!(
        sim.sim.take_described(),
        ["JIDdone"],
        "described again: final, but changed since"
    );
    assert_eq!(described_in().await, next.run_id);
    let after = detail_history(&db.pool, "JIDdone").await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "its final figures: {after:#?}"
    );
    let last = after.last().expect("a row");
    assert!(
        last.4.is_some() && last.4 == last.6,
        "transfer complete: {last:?}"
    );

    let then = sync_ok(&config).await;
    assert_eq!(
        sim.sim.take_described(),
        Vec::<String>::new(),
        "and not again"
    );
    assert_ne!(described_in().await, then.run_id);
}

#[tokio::test]
async fn access_denied_on_describe_job_names_the_permission_and_the_listing_stands() {
    let db = TestDb::empty().await;
    let sim = simulator_with_faults(
        30,
        95,
        &["us-east-1"],
        Faults {
            deny_describe_job: vec![account_id(0)],
            ..Faults::default()
        },
    )
    .await;

    let out = run_bin(
        &sync_args(
            &db.url,
            &sim.endpoint_url(),
            &["--details", "--output", "json"],
        ),
        &aws_test_env(),
    )
    .await;

    out.assert_code(1);
    let line = out.error_line();
    assert!(
        line.contains(&format!(
            "account {} may not call DescribeJob",
            account_id(0)
        )) && line.contains("grant snowball:DescribeJob (contrib/iam-policy-details.json)"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout()).expect("JSON");
    assert_eq!(summary["status"], "partial");
    assert_eq!(summary["jobs_described"], 0);
    assert_eq!(summary["jobs_new"], 30, "the listing's results stand");
    // One refusal is enough: beyond the requests already in flight
    // (--details-concurrency, 4), the account's other jobs are not asked for.
    assert!(sim.sim.take_described().len() <= 4);
}

#[tokio::test]
async fn job_logs_pickup_details_and_tax_documents_are_never_stored_logged_or_printed() {
    let db = TestDb::empty().await;
    let sim = simulator(60, 96, &["us-east-1"]).await;
    sim.sim.advance(3);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let metrics = dir.path().join("m.prom");
    let metrics_arg = metrics.to_string_lossy().into_owned();
    let markers = [JOB_LOG_MARKER, PICKUP_MARKER, TAX_MARKER];
    let mut printed = String::new();
    for extra in [
        vec![
            "--include",
            "reports",
            "-vv",
            "--log-format",
            "json",
            "--output",
            "json",
            "--metrics-file",
            &metrics_arg,
        ],
        vec!["--details", "-v", "--log-format", "text", "--dry-run"],
    ] {
        let out = run_bin(
            &sync_args(&db.url, &sim.endpoint_url(), &extra),
            &aws_test_env(),
        )
        .await;
        out.assert_code(0);
        printed += &out.stdout();
        printed += &out.stderr();
    }
    for format in ["json", "text", "csv", "html"] {
        let out = run_bin(
            &["report", "--database-url", &db.url, "--format", format],
            &[],
        )
        .await;
        out.assert_code(0);
        printed += &out.stdout();
    }
    let job: String = sqlx::query_scalar!("SELECT job_id FROM snowball.job_details LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .expect("a described job");
    let history = run_bin(
        &[
            "history",
            &job,
            "--database-url",
            &db.url,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    history.assert_code(0);
    printed += &history.stdout();
    let metrics_text = std::fs::read_to_string(&metrics).expect("metrics");
    for gauge in [
        "snowball_sync_last_run_jobs_described ",
        "snowball_sync_last_run_detail_changes ",
        "snowball_sync_last_run_reports_archived ",
        "snowball_sync_last_run_report_bytes ",
    ] {
        assert!(
            metrics_text.contains(gauge),
            "no {gauge} in\n{metrics_text}"
        );
    }
    printed += &metrics_text;

    let tables: Vec<String> = sqlx::query_scalar!(
        r#"SELECT table_name AS "name!" FROM information_schema.tables
            WHERE table_schema = 'snowball' AND table_type = 'BASE TABLE'"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("tables");
    assert!(tables.contains(&"job_details".to_owned()));
    let mut stored = String::new();
    for table in tables {
        // The names come from the catalogue: nothing to inject.
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(&*format!(
            "SELECT string_agg(t::text, '') FROM snowball.{table} t"
        )))
        .fetch_one(&db.pool)
        .await
        .expect("read a table");
        stored += &rows.unwrap_or_default();
    }
    assert!(stored.contains("arn:aws:kms:"), "the details were stored");
    let archived: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.job_reports"#)
        .fetch_one(&db.pool)
        .await
        .expect("the archive");
    assert!(archived > 0, "reports were downloaded");
    assert!(printed.contains("described"), "the run printed its summary");
    for marker in markers {
        assert!(!stored.contains(marker), "{marker} is in a table");
        assert!(!printed.contains(marker), "{marker} was printed or logged");
    }
}

#[tokio::test]
async fn device_deadlines_count_360_days_from_preparation_and_say_when_approximate() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_jobs(
        97,
        vec![
            entry("JIDseen-new", "New"),
            entry("JIDseen-out", "WithCustomer"),
            entry("JIDback", "InTransitToAWS"),
        ],
    )
    .await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let first = sync_ok(&config).await;
    sim.sim.set_state("JIDseen-new", "PreparingShipment");
    let second = sync_ok(&config).await;
    let observed = |run: i64, job: &str| {
        let pool = db.pool.clone();
        let job = job.to_owned();
        async move {
            sqlx::query_scalar!(
                r#"SELECT observed_at AS "at!" FROM snowball.job_state_history WHERE sync_run_id = $1 AND job_id = $2"#,
                run,
                job
            )
            .fetch_one(&pool)
            .await
            .expect("a history row")
        }
    };
    let out_prepared = observed(first.run_id, "JIDseen-out").await;
    let new_prepared = observed(second.run_id, "JIDseen-new").await;

    let rows = sqlx::query!(
        r#"SELECT job_id AS "job_id!", prepared_at AS "prepared_at!", approximate AS "approximate!",
                  deadline AS "deadline!", days_left AS "days_left!"
             FROM snowball.device_deadlines"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("device deadlines");

    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| {
            (
                r.job_id,
                r.prepared_at,
                r.approximate,
                r.deadline,
                r.days_left,
            )
        })
        .collect();
    let days = chrono::TimeDelta::days(360);
    assert_eq!(
        rows,
        [
            (
                "JIDseen-out".to_owned(),
                out_prepared,
                true,
                out_prepared + days,
                359
            ),
            (
                "JIDseen-new".to_owned(),
                new_prepared,
                false,
                new_prepared + days,
                359
            ),
        ]
    );
}

#[tokio::test]
async fn report_and_history_show_transfers_shipments_and_deadlines_in_every_format() {
    let db = TestDb::migrated().await;
    let sim = simulator_with_jobs(
        98,
        vec![
            entry("JIDmoving", "InProgress"),
            entry("JIDshipping", "InTransitToCustomer"),
            entry("JIDout", "WithCustomer"),
        ],
    )
    .await;
    let config = with_details(sync_config(&db, &sim, &["us-east-1"]));
    sync_ok(&config).await;
    sim.sim.advance(1);
    sync_ok(&config).await;
    let report = |format: &'static str| {
        let url = db.url.clone();
        async move {
            let out = run_bin(
                &[
                    "report",
                    "--database-url",
                    &url,
                    "--format",
                    format,
                    "--deadline-within",
                    "400d",
                ],
                &[],
            )
            .await;
            out.assert_code(0);
            out.stdout()
        }
    };

    let json: serde_json::Value = serde_json::from_str(&report("json").await).expect("JSON");
    let transfer = &json["data_transfer"];
    assert_eq!(transfer.as_array().map(Vec::len), Some(1), "{transfer}");
    assert_eq!(transfer[0]["job_id"], "JIDmoving");
    let percent = transfer[0]["percent_done"].as_f64().expect("a percentage");
    assert!(percent > 50.0 && percent < 100.0, "{percent}");
    assert!(
        transfer[0]["bytes_per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
    );
    let shipping = &json["shipments_in_transit"];
    assert_eq!(shipping.as_array().map(Vec::len), Some(1), "{shipping}");
    assert_eq!(shipping[0]["job_id"], "JIDshipping");
    assert_eq!(shipping[0]["status"], "InTransit");
    assert!(
        shipping[0]["tracking_number"]
            .as_str()
            .is_some_and(|t| t.starts_with("1Z"))
    );
    let deadlines: Vec<(&str, bool)> = json["device_deadlines"]
        .as_array()
        .expect("deadlines")
        .iter()
        .map(|d| {
            (
                d["job_id"].as_str().unwrap_or_default(),
                d["approximate"] == true,
            )
        })
        .collect();
    assert_eq!(deadlines, [("JIDout", true), ("JIDshipping", true)]);

    let text = report("text").await;
    for expected in [
        "Data transfer in progress",
        "Shipments in transit",
        "Devices due back within 400d",
        "JIDmoving",
        "approximate",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let csv = report("csv").await;
    for (section, job) in [
        ("data_transfer,", ",JIDmoving,"),
        ("shipments_in_transit,", ",JIDshipping,"),
        ("device_deadlines,", ",JIDout,"),
    ] {
        assert!(
            csv.lines()
                .any(|line| line.starts_with(section) && line.contains(job)),
            "no {section:?} row of {job} in\n{csv}"
        );
    }
    let html = report("html").await;
    assert!(
        html.contains("<title>JIDmoving</title></polyline>"),
        "no transfer line"
    );

    let history = run_bin(&["history", "JIDmoving", "--database-url", &db.url], &[]).await;
    history.assert_code(0);
    let text = history.stdout();
    assert!(
        text.contains("State and detail changes, in order:"),
        "{text}"
    );
    assert!(text.contains("state InProgress"), "{text}");
    assert_eq!(text.matches("transferred ").count(), 2, "{text}");
    let history = run_bin(
        &[
            "history",
            "JIDmoving",
            "--database-url",
            &db.url,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&history.stdout()).expect("JSON");
    let kinds: Vec<&str> = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["state", "details", "details"]);
    let csv = run_bin(
        &[
            "history",
            "JIDmoving",
            "--database-url",
            &db.url,
            "--format",
            "csv",
        ],
        &[],
    )
    .await;
    let rows: Vec<String> = csv.stdout().lines().skip(1).map(str::to_owned).collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows[0].contains(",InProgress,") && rows[0].contains(",state,"));
    for row in &rows[1..] {
        assert!(
            row.starts_with("JIDmoving,,") && row.contains(",details,"),
            "{row}"
        );
    }
}

/// What a test compares of a DescribeJob answer, as outside_client.py prints it.
fn projection(
    output: &aws_sdk_snowball::operation::describe_job::DescribeJobOutput,
) -> serde_json::Value {
    let m = output.job_metadata().expect("JobMetadata");
    let shipping = m.shipping_details();
    let leg = |s: Option<&aws_sdk_snowball::types::Shipment>| {
        serde_json::json!({
            "Status": s.and_then(|s| s.status()),
            "TrackingNumber": s.and_then(|s| s.tracking_number()),
        })
    };
    serde_json::json!({
        "job_id": m.job_id(),
        "job_state": m.job_state().map(|s| s.as_str()),
        "job_type": m.job_type().map(|s| s.as_str()),
        "snowball_type": m.snowball_type().map(|s| s.as_str()),
        "creation_date": m.creation_date().map(|d| d.secs()),
        "description": m.description(),
        "kms_key_arn": m.kms_key_arn(),
        "role_arn": m.role_arn(),
        "address_id": m.address_id(),
        "capacity": m.snowball_capacity_preference().map(|c| c.as_str()),
        "snowball_id": m.snowball_id(),
        "shipping_option": shipping.and_then(|s| s.shipping_option()).map(|o| o.as_str()),
        "outbound": leg(shipping.and_then(|s| s.outbound_shipment())),
        "inbound": leg(shipping.and_then(|s| s.inbound_shipment())),
        "transfer": m.data_transfer_progress().map(|t| serde_json::json!({
            "BytesTransferred": t.bytes_transferred(), "ObjectsTransferred": t.objects_transferred(),
            "TotalBytes": t.total_bytes(), "TotalObjects": t.total_objects(),
        })),
        "buckets": m.resources().map(|r| r.s3_resources().iter().map(|s| s.bucket_arn()).collect::<Vec<_>>()).unwrap_or_default(),
        "has_job_logs": m.job_log_info().is_some(),
        "parts": output.sub_job_metadata().iter().map(|p| p.job_id()).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn boto3_describes_jobs_exactly_as_the_rust_sdk_does_in_both_protocols() {
    if !boto3_available("boto3_describes_jobs_exactly_as_the_rust_sdk_does_in_both_protocols") {
        return;
    }
    let db = TestDb::migrated().await;
    let sim = simulator(80, 99, &["us-east-1"]).await;
    sim.sim.advance(8);
    // The jobs as listed: every state, main export jobs among them.
    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;
    let ids: Vec<String> = sqlx::query_scalar!("SELECT job_id FROM snowball.jobs ORDER BY job_id")
        .fetch_all(&db.pool)
        .await
        .expect("job ids");
    assert!(ids.iter().any(|id| id.starts_with("MID")));
    let client = outside_sdk_client(&sim.endpoint_url(), "us-east-1");
    let mut ours = Vec::new();
    for id in &ids {
        let output = client
            .describe_job()
            .job_id(id)
            .send()
            .await
            .expect("DescribeJob");
        ours.push(projection(&output));
    }
    assert!(ours.iter().any(|p| p["transfer"].is_object()));
    assert!(
        ours.iter()
            .any(|p| p["inbound"]["TrackingNumber"].is_string())
    );

    for protocol in ["json", "cbor"] {
        let endpoint = sim.endpoint_url();
        let args: Vec<&str> = ["describe", &endpoint, "us-east-1", protocol]
            .into_iter()
            .chain(ids.iter().map(String::as_str))
            .collect();
        let theirs = outside_client(&args).await;
        assert_eq!(
            theirs, ours,
            "boto3 over {protocol} and the Rust SDK disagree"
        );
    }
}

#[tokio::test]
async fn detail_history_refuses_update_delete_and_truncate() {
    let db = TestDb::migrated().await;
    let sim = simulator(5, 100, &["us-east-1"]).await;
    sync_ok(&with_details(sync_config(&db, &sim, &["us-east-1"]))).await;
    let count = || async {
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.job_detail_history"#)
            .fetch_one(&db.pool)
            .await
            .expect("count")
    };
    let before = count().await;

    assert_append_only(
        &db.pool,
        "snowball.job_detail_history",
        "bytes_transferred = 0",
    )
    .await;

    assert_eq!(before, 5);
    assert_eq!(count().await, before);
}

/// Every column of job_details but the run's own (when, which run), as JSON,
/// by job.
async fn stored_details(pool: &sqlx::PgPool) -> Vec<(String, serde_json::Value)> {
    sqlx::query!(
        r#"SELECT job_id, (to_jsonb(d) - 'described_at' - 'sync_run_id')::text AS "row!"
             FROM snowball.job_details d ORDER BY job_id"#
    )
    .fetch_all(pool)
    .await
    .expect("job details")
    .into_iter()
    .map(|r| (r.job_id, serde_json::from_str(&r.row).expect("a JSON row")))
    .collect()
}

#[tokio::test]
async fn a_nul_byte_in_every_describe_job_value_is_removed_with_a_warning_and_every_job_is_described()
 {
    let clean = TestDb::migrated().await;
    let hostile = TestDb::migrated().await;
    let sim = simulator(60, 83, &["us-east-1"]).await;
    sync_ok(&with_details(sync_config(&clean, &sim, &["us-east-1"]))).await;

    sim.sim.set_faults(Faults {
        nul_in_descriptions: true,
        ..Faults::default()
    });
    let out = run_bin(
        &sync_args(
            &hostile.url,
            &sim.endpoint_url(),
            &["--details", "--log-format", "text"],
        ),
        &aws_test_env(),
    )
    .await;
    out.assert_code(0);
    // Stored as if the NULs had never been sent: every job, every field.
    let expected = stored_details(&clean.pool).await;
    assert_eq!(expected.len(), 60);
    assert_eq!(stored_details(&hostile.pool).await, expected);
    // Each removal is named by its job and field.
    let stderr = out.stderr();
    let (job_id, _) = &expected[0];
    for field in [
        "JobMetadata.Description",
        "JobMetadata.Notification.SnsTopicARN",
        "KmsKeyARN",
        "RoleARN",
        "AddressId",
        "SnowballCapacityPreference",
        "Resources.S3Resources.BucketArn",
    ] {
        assert!(
            stderr.lines().any(|l| l.contains("removed NUL bytes")
                && l.contains(job_id.as_str())
                && l.contains(field)),
            "no warning for {job_id} {field}:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn a_description_postgresql_refuses_fails_that_job_alone_and_names_it() {
    let db = TestDb::migrated().await;
    let sim = simulator(40, 84, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    let refused: String = sqlx::query_scalar("SELECT min(job_id) FROM snowball.jobs")
        .fetch_one(&db.pool)
        .await
        .expect("a job");
    // A value PostgreSQL refuses (SQLSTATE class 22), for this job only.
    sqlx::raw_sql(sqlx::AssertSqlSafe(&*format!(
        "CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.job_id = '{refused}' THEN
                 RAISE EXCEPTION 'a value this column cannot hold' USING ERRCODE = '22P05';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_one BEFORE INSERT OR UPDATE ON snowball.job_details
            FOR EACH ROW EXECUTE FUNCTION public.refuse_one();"
    )))
    .execute(&db.pool)
    .await
    .expect("install the refusal");

    let failure = match sync(&with_details(config.clone())).await {
        Ok((summary, _)) => panic!("the run succeeded: {summary}"),
        Err(err) => err.chain(),
    };
    assert!(
        failure.contains(&format!(
            "1 job(s) not described: {refused} (PostgreSQL refused its description: a value this column cannot hold)"
        )),
        "{failure}"
    );
    let described = stored_details(&db.pool).await;
    assert_eq!(described.len(), 39);
    assert!(described.iter().all(|(job, _)| *job != refused));
    let status: String =
        sqlx::query_scalar("SELECT status FROM snowball.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .expect("the run");
    assert_eq!(status, "partial");

    // Once PostgreSQL takes it, the next run describes it.
    sqlx::raw_sql("DROP TRIGGER refuse_one ON snowball.job_details")
        .execute(&db.pool)
        .await
        .expect("remove the refusal");
    sync_ok(&with_details(config)).await;
    assert_eq!(stored_details(&db.pool).await.len(), 40);
}
