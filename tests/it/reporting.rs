//! The reporting views and the `history` and `report` commands, checked
//! row by row and byte by byte against a history built through the simulator.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use snowball_sync::db::timeline as queries;
use snowball_sync::format::{ReportFormat, TableFormat};
use snowball_sync::history::History;
use snowball_sync::render::{human_duration, rfc3339, text_table, text_time};
use snowball_sync::report::{Report, Scope};

use snowball_sync::values::Span;

use crate::support::*;

/// Three jobs over four syncs: JIDmany goes New -> PreparingAppliance ->
/// PreparingShipment, JIDonce is seen once in WithCustomer, JIDcancel is
/// cancelled after its first sighting. Returns the first observation time of
/// runs 1 to 3.
async fn known_history(db: &TestDb) -> [DateTime<Utc>; 3] {
    let sim = simulator(0, 70, &["us-east-1"]).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![
            entry("JIDmany", "New"),
            entry("JIDonce", "WithCustomer"),
            entry("JIDcancel", "New"),
        ],
    );
    let config = sync_config(db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    sim.sim.set_state("JIDmany", "PreparingAppliance");
    sim.sim.set_state("JIDcancel", "Cancelled");
    sync_ok(&config).await;
    sim.sim.set_state("JIDmany", "PreparingShipment");
    sync_ok(&config).await;
    sync_ok(&config).await;
    let mut times = [DateTime::<Utc>::MIN_UTC; 3];
    for (run, time) in times.iter_mut().enumerate() {
        *time = sqlx::query_scalar!(
            r#"SELECT min(observed_at) AS "t!" FROM snowball.job_state_history WHERE sync_run_id = $1"#,
            run as i64 + 1
        )
        .fetch_one(&db.pool)
        .await
        .expect("a run's observation time");
    }
    times
}

#[tokio::test]
async fn every_view_gives_the_exact_rows_of_a_known_history() {
    let db = TestDb::migrated().await;
    let [t1, t2, t3] = known_history(&db).await;

    let intervals = sqlx::query!(
        r#"SELECT job_id AS "job_id!", state AS "state!", entered_at AS "entered_at!", entered_after, left_at,
                  is_current AS "is_current!", sync_run_id AS "run!",
                  duration = coalesce(left_at, now()) - entered_at AS "duration_ok!"
             FROM snowball.job_state_intervals ORDER BY job_id, entered_at"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("intervals");
    let rows: Vec<_> = intervals
        .iter()
        .map(|r| {
            (
                r.job_id.as_str(),
                r.state.as_str(),
                r.entered_at,
                r.entered_after,
                r.left_at,
                r.is_current,
                r.run,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("JIDcancel", "New", t1, None, Some(t2), false, 1),
            ("JIDcancel", "Cancelled", t2, Some(t1), None, true, 2),
            ("JIDmany", "New", t1, None, Some(t2), false, 1),
            (
                "JIDmany",
                "PreparingAppliance",
                t2,
                Some(t1),
                Some(t3),
                false,
                2
            ),
            ("JIDmany", "PreparingShipment", t3, Some(t2), None, true, 3),
            ("JIDonce", "WithCustomer", t1, None, None, true, 1),
        ]
    );
    assert!(intervals.iter().all(|r| r.duration_ok));

    let counts = sqlx::query!(
        r#"SELECT job_state AS "s!", job_type, snowball_type, jobs AS "n!" FROM snowball.state_counts ORDER BY 1"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("state counts");
    let counts: Vec<_> = counts
        .iter()
        .map(|r| {
            (
                r.s.as_str(),
                r.job_type.as_deref(),
                r.snowball_type.as_deref(),
                r.n,
            )
        })
        .collect();
    let edge_import = |state| (state, Some("IMPORT"), Some("EDGE"), 1);
    assert_eq!(
        counts,
        [
            edge_import("Cancelled"),
            edge_import("PreparingShipment"),
            edge_import("WithCustomer")
        ]
    );

    let daily = sqlx::query!(
        r#"SELECT day AS "day!", from_state, to_state AS "to!", count AS "n!" FROM snowball.daily_transitions
            ORDER BY from_state NULLS FIRST, to_state"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("daily transitions");
    let today = t1.date_naive();
    let daily: Vec<_> = daily
        .iter()
        .map(|r| (r.day, r.from_state.as_deref(), r.to.as_str(), r.n))
        .collect();
    assert_eq!(
        daily,
        [
            (today, None, "New", 2),
            (today, None, "WithCustomer", 1),
            (today, Some("New"), "Cancelled", 1),
            (today, Some("New"), "PreparingAppliance", 1),
            (today, Some("PreparingAppliance"), "PreparingShipment", 1),
        ]
    );

    let stuck = sqlx::query!(
        r#"SELECT job_id AS "id!", job_state AS "s!", state_since AS "since!", age = now() - state_since AS "age_ok!"
             FROM snowball.stuck_jobs"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("stuck jobs");
    let stuck: Vec<_> = stuck
        .iter()
        .map(|r| (r.id.as_str(), r.s.as_str(), r.since, r.age_ok))
        .collect();
    assert_eq!(
        stuck,
        [
            ("JIDonce", "WithCustomer", t1, true),
            ("JIDmany", "PreparingShipment", t3, true)
        ]
    );

    let health = sqlx::query!(
        r#"SELECT h.day AS "day!", h.runs AS "runs!", h.succeeded AS "ok!", h.failed AS "failed!",
                  h.abandoned AS "abandoned!", h.running AS "running!",
                  h.mean_duration = (SELECT avg(finished_at - started_at) FROM snowball.sync_runs) AS "mean_ok!",
                  h.last_success = (SELECT max(finished_at) FROM snowball.sync_runs) AS "last_ok!"
             FROM snowball.sync_health h"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("sync health");
    let health: Vec<_> = health
        .iter()
        .map(|r| {
            (
                r.day,
                r.runs,
                r.ok,
                r.failed,
                r.abandoned,
                r.running,
                r.mean_ok,
                r.last_ok,
            )
        })
        .collect();
    assert_eq!(health, [(today, 4, 4, 0, 0, 0, true, true)]);
}

#[tokio::test]
async fn history_is_exact_in_text_json_and_csv() {
    let db = TestDb::migrated().await;
    let [t1, t2, t3] = known_history(&db).await;
    let as_of = t3 + TimeDelta::hours(1);
    let account = snowball_simulator::account_id(0);
    let history = History {
        details: Vec::new(),
        job_id: "JIDmany".into(),
        account_id: Some(account.clone()),
        as_of,
        stints: queries::job_intervals(&db.pool, "JIDmany")
            .await
            .expect("intervals"),
    };
    let secs = |d: TimeDelta| d.num_microseconds().expect("small") as f64 / 1e6;
    let hashes: Vec<String> = sqlx::query_scalar!(
        "SELECT row_hash FROM snowball.job_state_history WHERE job_id = 'JIDmany' ORDER BY id"
    )
    .fetch_all(&db.pool)
    .await
    .expect("row hashes")
    .iter()
    .map(|h| snowball_sync::chain::hex(h))
    .collect();
    let [h1, h2, h3] = [&hashes[0], &hashes[1], &hashes[2]];

    let rows = vec![
        vec![
            "New".into(),
            text_time(t1),
            String::new(),
            text_time(t2),
            human_duration((t2 - t1).num_seconds()),
            "1".into(),
        ],
        vec![
            "PreparingAppliance".into(),
            text_time(t2),
            text_time(t1),
            text_time(t3),
            human_duration((t3 - t2).num_seconds()),
            "2".into(),
        ],
        vec![
            "PreparingShipment".into(),
            text_time(t3),
            text_time(t2),
            "(current)".into(),
            "1h".into(),
            "3".into(),
        ],
    ];
    let expected_text = format!(
        "JIDmany (account {account}, times UTC, as of {})\n{}",
        text_time(as_of),
        text_table(
            &[
                "state",
                "entered",
                "entered_after",
                "left",
                "duration",
                "sync_run"
            ],
            &rows
        )
    );
    assert_eq!(history.render(TableFormat::Text), expected_text);
    assert!(
        expected_text.contains("PreparingShipment   "),
        "columns are aligned:\n{expected_text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&history.render(TableFormat::Json)).expect("JSON");
    assert_eq!(
        json,
        json!({
            "job_id": "JIDmany",
            "account_id": account,
            "as_of": rfc3339(as_of),
            "stints": [
                {"state": "New", "entered_at": rfc3339(t1), "entered_after": null, "left_at": rfc3339(t2),
                 "duration_seconds": secs(t2 - t1), "is_current": false, "sync_run_id": 1, "row_hash": h1},
                {"state": "PreparingAppliance", "entered_at": rfc3339(t2), "entered_after": rfc3339(t1), "left_at": rfc3339(t3),
                 "duration_seconds": secs(t3 - t2), "is_current": false, "sync_run_id": 2, "row_hash": h2},
                {"state": "PreparingShipment", "entered_at": rfc3339(t3), "entered_after": rfc3339(t2), "left_at": null,
                 "duration_seconds": 3600.0, "is_current": true, "sync_run_id": 3, "row_hash": h3},
            ],
            "changes": [
                {"observed_at": rfc3339(t1), "kind": "state", "state": "New", "sync_run_id": 1, "row_hash": h1},
                {"observed_at": rfc3339(t2), "kind": "state", "state": "PreparingAppliance", "sync_run_id": 2, "row_hash": h2},
                {"observed_at": rfc3339(t3), "kind": "state", "state": "PreparingShipment", "sync_run_id": 3, "row_hash": h3},
            ],
        })
    );

    let expected_csv = format!(
        "job_id,state,entered_at,entered_after,left_at,duration_seconds,is_current,sync_run_id,account_id,\
         kind,shipping_option,outbound_status,outbound_tracking_number,inbound_status,inbound_tracking_number,\
         bytes_transferred,objects_transferred,total_bytes,total_objects,row_hash\n\
         JIDmany,New,{},,{},{},false,1,{account},state,,,,,,,,,,{h1}\n\
         JIDmany,PreparingAppliance,{},{},{},{},false,2,{account},state,,,,,,,,,,{h2}\n\
         JIDmany,PreparingShipment,{},{},,3600,true,3,{account},state,,,,,,,,,,{h3}\n",
        rfc3339(t1),
        rfc3339(t2),
        secs(t2 - t1),
        rfc3339(t2),
        rfc3339(t1),
        rfc3339(t3),
        secs(t3 - t2),
        rfc3339(t3),
        rfc3339(t2),
    );
    assert_eq!(history.render(TableFormat::Csv), expected_csv);
}

#[tokio::test]
async fn the_history_command_knows_the_job_or_says_no_such_job() {
    let db = TestDb::migrated().await;
    known_history(&db).await;

    let unknown = run_bin(&["history", "JIDnope", "--database-url", &db.url], &[]).await;
    unknown.assert_code(1);
    assert_eq!(
        unknown.error_line(),
        "snowball-sync: no such job, cluster or long-term pricing term: JIDnope"
    );
    assert!(unknown.stdout().is_empty());

    let once = run_bin(
        &[
            "history",
            "JIDonce",
            "--format",
            "csv",
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;
    once.assert_code(0);
    let stdout = once.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", once.stdout());
    assert!(
        lines[1].starts_with("JIDonce,WithCustomer,")
            && lines[1].contains(&format!(
                ",true,1,{},state,,,,,,,,,,",
                snowball_simulator::account_id(0)
            )),
        "{}",
        lines[1]
    );
}

async fn known_report(db: &TestDb) -> (Report, [DateTime<Utc>; 3]) {
    let times = known_history(db).await;
    let as_of = times[2] + TimeDelta::days(1);
    let mut conn = db.pool.acquire().await.expect("a connection");
    let scope = Scope {
        past: false,
        period: Span::from_secs(7 * 86_400),
        stuck_after: Span::from_secs(20 * 3600),
        deadline_within: Span::from_secs(30 * 86_400),
        renewal_within: Span::from_secs(60 * 86_400),
        accounts: &[],
    };
    let report = Report::load(&mut conn, as_of, scope)
        .await
        .expect("the report loads");
    (report, times)
}

#[tokio::test]
async fn the_report_is_exact_in_json_csv_and_text() {
    let db = TestDb::migrated().await;
    let (report, [t1, _t2, t3]) = known_report(&db).await;
    let as_of = report.as_of;
    let since = as_of - TimeDelta::days(7);
    let finished = sqlx::query!(
        r#"SELECT max(finished_at) AS "last!", extract(epoch FROM avg(finished_at - started_at))::float8 AS "mean!"
             FROM snowball.sync_runs"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("runs");
    let age = |t: DateTime<Utc>| (as_of - t).num_microseconds().expect("small") as f64 / 1e6;
    // As JSON writes a number (86400.0, not 86400).
    let csv_age = |t: DateTime<Utc>| json!(age(t)).to_string();
    let day = t1.date_naive().to_string();
    let account = snowball_simulator::account_id(0);

    let json: serde_json::Value =
        serde_json::from_str(&report.render(ReportFormat::Json)).expect("JSON");
    assert_eq!(
        json,
        json!({
            "as_of": rfc3339(as_of),
            "states_from_history": false,
            "sections_as_today": [],
            "since": rfc3339(since),
            "stuck_after_seconds": 72_000,
            "deadline_within_seconds": 2_592_000,
            "data_transfer": [],
            "shipments_in_transit": [],
            "device_deadlines": [],
            "accounts": [],
            "jobs_by_account": [{"account_id": account, "jobs": 3, "active": 2, "missing": 0}],
            "jobs_by_state": [
                {"job_state": "Cancelled", "job_type": "IMPORT", "snowball_type": "EDGE", "jobs": 1},
                {"job_state": "PreparingShipment", "job_type": "IMPORT", "snowball_type": "EDGE", "jobs": 1},
                {"job_state": "WithCustomer", "job_type": "IMPORT", "snowball_type": "EDGE", "jobs": 1},
            ],
            "transitions": [
                {"from_state": null, "to_state": "New", "count": 2},
                {"from_state": null, "to_state": "WithCustomer", "count": 1},
                {"from_state": "New", "to_state": "Cancelled", "count": 1},
                {"from_state": "New", "to_state": "PreparingAppliance", "count": 1},
                {"from_state": "PreparingAppliance", "to_state": "PreparingShipment", "count": 1},
            ],
            "stuck_jobs": [
                {"job_id": "JIDonce", "job_state": "WithCustomer", "job_type": "IMPORT", "snowball_type": "EDGE",
                 "region": "us-east-1", "state_since": rfc3339(t1), "age_seconds": age(t1), "account_id": account},
                {"job_id": "JIDmany", "job_state": "PreparingShipment", "job_type": "IMPORT", "snowball_type": "EDGE",
                 "region": "us-east-1", "state_since": rfc3339(t3), "age_seconds": age(t3), "account_id": account},
            ],
            "jobs_lacking_reports": [],
            "device_usage": [],
            "clusters": [],
            "terms_ending": [],
            "sync_health": [
                {"day": day, "runs": 4, "succeeded": 4, "partial": 0, "failed": 0, "abandoned": 0, "running": 0,
                 "mean_duration_seconds": finished.mean, "last_success": rfc3339(finished.last)},
            ],
        })
    );

    // Every section's columns, in order of first appearance.
    let header = "section,account_id,jobs,active,missing,job_state,job_type,snowball_type,\
                  from_state,to_state,count,job_id,region,state_since,age_seconds,\
                  bytes_transferred,total_bytes,percent_done,bytes_per_second,status,tracking_number,\
                  prepared_at,approximate,deadline,days_left,completed_at,missing_reports,snowball_limit,snowballs_in_use,headroom,\
                  cluster_id,cluster_state,missing_since,member_jobs,member_states,long_term_pricing_id,\
                  pricing_type,end_date,auto_renew,lapses,current_active_job,replacement_job,day,runs,succeeded,partial,failed,\
                  abandoned,running,mean_duration_seconds,last_success";
    let empty = |n: usize| ",".repeat(n);
    let expected_csv = [
        header.to_owned(),
        format!("jobs_by_account,{account},3,2,0{}", empty(46)),
        format!("jobs_by_state,,1,,,Cancelled,IMPORT,EDGE{}", empty(43)),
        format!(
            "jobs_by_state,,1,,,PreparingShipment,IMPORT,EDGE{}",
            empty(43)
        ),
        format!("jobs_by_state,,1,,,WithCustomer,IMPORT,EDGE{}", empty(43)),
        format!("transitions{},New,2{}", empty(8), empty(40)),
        format!("transitions{},WithCustomer,1{}", empty(8), empty(40)),
        format!("transitions{}New,Cancelled,1{}", empty(8), empty(40)),
        format!(
            "transitions{}New,PreparingAppliance,1{}",
            empty(8),
            empty(40)
        ),
        format!(
            "transitions{}PreparingAppliance,PreparingShipment,1{}",
            empty(8),
            empty(40)
        ),
        format!(
            "stuck_jobs,{account},,,,WithCustomer,IMPORT,EDGE,,,,JIDonce,us-east-1,{},{}{}",
            rfc3339(t1),
            csv_age(t1),
            empty(36)
        ),
        format!(
            "stuck_jobs,{account},,,,PreparingShipment,IMPORT,EDGE,,,,JIDmany,us-east-1,{},{}{}",
            rfc3339(t3),
            csv_age(t3),
            empty(36)
        ),
        format!(
            "sync_health{}{day},4,4,0,0,0,0,{},{}",
            empty(42),
            finished.mean,
            rfc3339(finished.last)
        ),
    ]
    .map(|line| line.replace(' ', "") + "\n")
    .concat();
    assert_eq!(report.render(ReportFormat::Csv), expected_csv);

    let text = report.render(ReportFormat::Text);
    let expected_start = format!(
        "Snowball fleet report, {} to {} UTC (stuck after 20h)\n\n\
         Jobs by account (account_id empty: not yet listed by an identified run)\n{}\n\
         Jobs by state and type\n{}",
        text_time(since),
        text_time(as_of),
        text_table(
            &["account_id", "jobs", "active", "missing"],
            &[vec![account.clone(), "3".into(), "2".into(), "0".into()]]
        ),
        text_table(
            &["job_state", "job_type", "snowball_type", "jobs"],
            &[
                vec![
                    "Cancelled".into(),
                    "IMPORT".into(),
                    "EDGE".into(),
                    "1".into()
                ],
                vec![
                    "PreparingShipment".into(),
                    "IMPORT".into(),
                    "EDGE".into(),
                    "1".into()
                ],
                vec![
                    "WithCustomer".into(),
                    "IMPORT".into(),
                    "EDGE".into(),
                    "1".into()
                ],
            ]
        )
    );
    assert!(text.starts_with(&expected_start), "{text}");
    let stuck_rows = [
        vec![
            "JIDonce".into(),
            "WithCustomer".into(),
            "IMPORT".into(),
            "EDGE".into(),
            "us-east-1".into(),
            account.clone(),
            text_time(t1),
            human_duration(age(t1) as i64),
        ],
        vec![
            "JIDmany".into(),
            "PreparingShipment".into(),
            "IMPORT".into(),
            "EDGE".into(),
            "us-east-1".into(),
            account.clone(),
            text_time(t3),
            human_duration(age(t3) as i64),
        ],
    ];
    let stuck = format!(
        "\nStuck jobs: in a non-final state for 20h or more\n{}",
        text_table(
            &[
                "job_id",
                "job_state",
                "job_type",
                "snowball_type",
                "region",
                "account_id",
                "state_since",
                "age_seconds"
            ],
            &stuck_rows
        )
    );
    assert!(text.contains(&stuck), "{text}");
    assert!(text.contains("\nSync health by day\n"), "{text}");
}

#[tokio::test]
async fn the_html_report_is_one_self_contained_page_with_both_pictures() {
    let db = TestDb::migrated().await;
    let (report, _) = known_report(&db).await;

    let html = report.render(ReportFormat::Html);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg ").count(), 4);
    for forbidden in ["<script", "src=", "href=", "url(", "@import", "https://"] {
        assert!(
            !html.contains(forbidden),
            "the page would fetch or run something: {forbidden}"
        );
    }
    // Every job changed or appeared in the period, so each has a lane; the cancelled one shows it.
    for job in ["JIDmany", "JIDonce", "JIDcancel"] {
        assert!(
            html.contains(&format!(">{job}</text>")),
            "no lane for {job}"
        );
    }
    assert!(html.contains("JIDcancel: Cancelled from "));
    // Eight days of bars from the period; the last one holds the three jobs.
    assert!(html.contains(": 1 Cancelled</title>"));
}

#[tokio::test]
async fn the_report_command_writes_html_to_a_file() {
    let db = TestDb::migrated().await;
    known_history(&db).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.html");
    let path_arg = path.to_string_lossy().to_string();

    let out = run_bin(
        &[
            "report",
            "--format",
            "html",
            "--output",
            &path_arg,
            "--since",
            "36h",
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;

    out.assert_code(0);
    assert!(out.stdout().is_empty());
    let html = std::fs::read_to_string(&path).expect("the page");
    assert!(html.contains("JIDmany"));
    let bad = run_bin(
        &["report", "--since", "soon", "--database-url", &db.url],
        &[],
    )
    .await;
    bad.assert_code(2);
    assert!(bad.error_line().contains("--since"));
}

#[tokio::test]
async fn a_report_taken_while_a_sync_commits_counts_every_job_once_and_health_shows_partial() {
    let db = TestDb::migrated().await;
    let faults = snowball_simulator::Faults {
        page_latency: Duration::from_millis(30),
        ..Default::default()
    };
    let sim = simulator_with_faults(3000, 98, &["us-east-1"], faults).await;
    let args = sync_args(&db.url, &sim.endpoint_url(), &["--page-size", "20"]);
    let mut running = spawn_bin(&args);
    let mut reports = 0;
    while running.try_wait().expect("status").is_none() {
        let out = run_bin(
            &["report", "--format", "json", "--database-url", &db.url],
            &[],
        )
        .await;
        out.assert_code(0);
        let report: serde_json::Value = serde_json::from_str(&out.stdout()).expect("JSON");
        let total = |section: &str| -> i64 {
            report[section]
                .as_array()
                .expect("a section")
                .iter()
                .map(|row| row["jobs"].as_i64().expect("jobs"))
                .sum()
        };
        assert_eq!(total("jobs_by_state"), total("jobs_by_account"), "{report}");
        reports += 1;
    }
    assert!(reports >= 3, "only {reports} reports during the sync");

    // A partial run: one listing of two fails.
    sqlx::raw_sql(
        "INSERT INTO snowball.sync_runs (regions, status, finished_at, tool_version)
         VALUES ('{us-east-1}', 'partial', now(), 'test')",
    )
    .execute(&db.pool)
    .await
    .expect("a partial run");
    for format in ["text", "json", "csv", "html"] {
        let out = run_bin(
            &["report", "--format", format, "--database-url", &db.url],
            &[],
        )
        .await;
        out.assert_code(0);
        let text = out.stdout();
        assert!(text.contains("partial"), "{format}: {text}");
        if format == "json" {
            let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let day = &report["sync_health"][0];
            let parts: i64 = ["succeeded", "partial", "failed", "abandoned", "running"]
                .iter()
                .map(|k| day[k].as_i64().expect("a count"))
                .sum();
            assert_eq!(parts, day["runs"].as_i64().expect("runs"), "{day}");
            assert_eq!(day["partial"], 1);
        }
    }
}

/// Every job's state and since when, and the counts, as the tables say now.
async fn fleet_now(db: &TestDb) -> (Vec<(String, String, DateTime<Utc>)>, Vec<(String, i64)>) {
    let jobs =
        sqlx::query!("SELECT job_id, job_state, state_since FROM snowball.jobs ORDER BY job_id")
            .fetch_all(&db.pool)
            .await
            .expect("jobs")
            .into_iter()
            .map(|r| (r.job_id, r.job_state, r.state_since))
            .collect();
    let counts = sqlx::query!(
        r#"SELECT job_state AS "job_state!", sum(jobs)::bigint AS "jobs!"
             FROM snowball.state_counts GROUP BY 1 ORDER BY 1"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("counts")
    .into_iter()
    .map(|r| (r.job_state, r.jobs))
    .collect();
    (jobs, counts)
}

#[tokio::test]
async fn jobs_as_of_a_moment_equal_the_tables_as_they_stood_then() {
    let db = TestDb::migrated().await;
    let sim = simulator(60, 99, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let mut moments = Vec::new();
    for _ in 0..4 {
        sync_ok(&config).await;
        let at: DateTime<Utc> = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
            .fetch_one(&db.pool)
            .await
            .expect("the clock");
        moments.push((at, fleet_now(&db).await));
        sim.sim.advance(4);
    }
    sync_ok(&config).await;

    for (at, (jobs, counts)) in moments {
        let then: Vec<(String, String, DateTime<Utc>)> = sqlx::query!(
            r#"SELECT job_id AS "job_id!", job_state AS "job_state!", state_since AS "state_since!"
                 FROM snowball.jobs_as_of($1) ORDER BY job_id"#,
            at
        )
        .fetch_all(&db.pool)
        .await
        .expect("jobs_as_of")
        .into_iter()
        .map(|r| (r.job_id, r.job_state, r.state_since))
        .collect();
        assert_eq!(then, jobs, "jobs as of {at}");
        let counted: Vec<(String, i64)> = sqlx::query!(
            r#"SELECT job_state AS "job_state!", sum(jobs)::bigint AS "jobs!"
                 FROM snowball.state_counts_as_of($1) GROUP BY 1 ORDER BY 1"#,
            at
        )
        .fetch_all(&db.pool)
        .await
        .expect("state_counts_as_of")
        .into_iter()
        .map(|r| (r.job_state, r.jobs))
        .collect();
        assert_eq!(counted, counts, "counts as of {at}");
    }
}

#[tokio::test]
async fn a_report_as_of_a_moment_equals_in_every_state_section_the_report_taken_then() {
    let db = TestDb::migrated().await;
    let sim = simulator(80, 101, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let report = |extra: Vec<String>| {
        let url = db.url.clone();
        async move {
            let mut args: Vec<String> = [
                "report",
                "--format",
                "json",
                "--stuck-after",
                "0s",
                "--deadline-within",
                "360d",
            ]
            .map(String::from)
            .to_vec();
            args.extend(extra);
            args.extend(["--database-url".to_owned(), url]);
            let out = run_bin(&args, &[]).await;
            out.assert_code(0);
            serde_json::from_str::<serde_json::Value>(&out.stdout()).expect("JSON")
        }
    };
    for _ in 0..3 {
        sync_ok(&config).await;
        sim.sim.advance(4);
    }
    let then = report(Vec::new()).await;
    let at = then["as_of"].as_str().expect("as_of").to_owned();
    for _ in 0..3 {
        sim.sim.advance(4);
        sync_ok(&config).await;
    }
    let now = report(Vec::new()).await;
    assert_ne!(
        now["jobs_by_state"], then["jobs_by_state"],
        "the fleet moved on"
    );

    assert_ne!(
        then["device_deadlines"],
        serde_json::json!([]),
        "devices were with the customer then"
    );
    let past = report(vec!["--as-of".into(), at.clone()]).await;
    assert_eq!(past["as_of"], then["as_of"]);
    assert_eq!(past["states_from_history"], true);
    for section in [
        "jobs_by_state",
        "transitions",
        "stuck_jobs",
        "jobs_by_account",
        "device_deadlines",
    ] {
        assert_eq!(past[section], then[section], "{section} as of {at}");
    }
    let text = run_bin(&["report", "--as-of", &at, "--database-url", &db.url], &[]).await;
    assert!(
        text.stdout().starts_with("Snowball fleet report as of"),
        "{}",
        text.stdout()
    );
}

#[tokio::test]
async fn the_final_states_are_the_same_in_rust_and_in_sql() {
    use snowball_simulator::fleet::{CANCELLED, EXPORT, IMPORT, LOCAL_USE, MAIN_JOB};
    let db = TestDb::migrated().await;
    // Every state the simulated service moves jobs through, its clusters'
    // states, and names no release knows.
    let odd = [
        "AwaitingQuorum",
        "Pending",
        "InUse",
        "Listing",
        "complete",
        "",
    ];
    let states = [IMPORT, EXPORT, LOCAL_USE, MAIN_JOB, &[CANCELLED], &odd].concat();
    for state in states {
        let in_sql: bool = sqlx::query_scalar("SELECT snowball.is_final_state($1)")
            .bind(state)
            .fetch_one(&db.pool)
            .await
            .expect("snowball.is_final_state");
        assert_eq!(
            in_sql,
            snowball_sync::state::State::new(state).is_final(),
            "{state:?}"
        );
    }
}
