//! The sync against the simulator, in-process: what lands in the tables.

use chrono::{DateTime, Utc};
use snowball_simulator::JobEntry;

use crate::support::*;

#[tokio::test]
async fn two_hundred_fifty_jobs_in_pages_of_100_take_three_requests_and_store_250_rows() {
    let db = TestDb::migrated().await;
    let sim = simulator(250, 1, &["us-east-1"]).await;

    let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    assert_eq!(sim.sim.list_requests(), 3);
    assert_eq!(count_jobs(&db.pool).await, 250);
    assert_eq!(
        (
            summary.totals.pages,
            summary.totals.jobs_seen,
            summary.totals.jobs_new
        ),
        (3, 250, 250)
    );
}

#[tokio::test]
async fn first_sync_records_one_history_row_per_job_with_no_from_state() {
    let db = TestDb::migrated().await;
    let sim = simulator(120, 2, &["us-east-1"]).await;

    let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    let history = history(&db.pool).await;
    assert_eq!(history.len(), 120);
    assert!(
        history
            .iter()
            .all(|(_, from, _, run)| from.is_none() && *run == summary.run_id)
    );
    let mismatched = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.jobs j JOIN snowball.job_state_history h USING (job_id)
            WHERE h.to_state <> j.job_state OR h.observed_at <> j.first_seen_at OR j.state_since <> j.first_seen_at"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("query");
    assert_eq!(mismatched, 0);
    let run = sqlx::query!("SELECT status, pages, jobs_seen, jobs_new, jobs_changed, transitions, finished_at FROM snowball.sync_runs")
        .fetch_one(&db.pool)
        .await
        .expect("one run row");
    assert_eq!(run.status, "succeeded");
    assert_eq!(
        (
            run.pages,
            run.jobs_seen,
            run.jobs_new,
            run.jobs_changed,
            run.transitions
        ),
        (2, 120, 120, 0, 120)
    );
    assert!(run.finished_at.is_some());
}

#[tokio::test]
async fn a_state_change_between_syncs_records_exactly_one_transition() {
    let db = TestDb::migrated().await;
    let sim = simulator(0, 3, &["us-east-1"]).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![entry("JIDa", "New"), entry("JIDb", "New")],
    );
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let first = sync_ok(&config).await;
    let seen_before =
        sqlx::query_scalar!("SELECT last_seen_at FROM snowball.jobs WHERE job_id = 'JIDa'")
            .fetch_one(&db.pool)
            .await
            .expect("JIDa stored");

    sim.sim.set_state("JIDa", "PreparingAppliance");
    let second = sync_ok(&config).await;

    let changes: Vec<_> = history(&db.pool)
        .await
        .into_iter()
        .filter(|(_, from, _, _)| from.is_some())
        .collect();
    assert_eq!(
        changes,
        vec![(
            "JIDa".into(),
            Some("New".into()),
            "PreparingAppliance".into(),
            second.run_id
        )]
    );
    let row = sqlx::query!(
        "SELECT h.from_state_last_seen_at, h.observed_at, j.state_since, j.job_state
           FROM snowball.job_state_history h JOIN snowball.jobs j USING (job_id)
          WHERE h.job_id = 'JIDa' AND h.from_state IS NOT NULL"
    )
    .fetch_one(&db.pool)
    .await
    .expect("the transition");
    assert_eq!(row.from_state_last_seen_at, Some(seen_before));
    assert_eq!(row.state_since, row.observed_at);
    assert!(row.observed_at > seen_before);
    assert_eq!(row.job_state, "PreparingAppliance");
    assert_eq!(
        (
            second.totals.jobs_new,
            second.totals.jobs_changed,
            second.totals.transitions
        ),
        (0, 1, 1)
    );
    assert_ne!(first.run_id, second.run_id);
}

#[tokio::test]
async fn resync_of_unchanged_fleet_adds_no_history() {
    let db = TestDb::migrated().await;
    let sim = simulator(300, 4, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    let before = history(&db.pool).await;

    for _ in 0..3 {
        let again = sync_ok(&config).await;
        assert_eq!(
            (
                again.totals.jobs_new,
                again.totals.jobs_changed,
                again.totals.transitions
            ),
            (0, 0, 0)
        );
        assert_eq!(again.totals.jobs_seen, 300);
    }

    assert_eq!(history(&db.pool).await, before);
}

/// An unchanged job's new row version stays in its heap page (a heap-only
/// update, adding no index entry): the reason for the jobs table's
/// fillfactor (migration 20261204100000_jobs_fillfactor_45.sql). Later runs
/// also find the room once the previous versions are pruned, which PostgreSQL
/// does when nothing still sees them; the benchmark shows it, a test on a
/// busy server could not rely on it.
#[tokio::test]
async fn an_unchanged_resync_rewrites_every_job_within_its_own_page() {
    let db = TestDb::migrated().await;
    let sim = simulator(600, 4, &["us-east-1"]).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    let pages = job_pages(&db.pool).await;
    assert!(pages.len() == 600 && pages.iter().any(|p| p.1 > 1));

    sync_ok(&config).await;

    let moved: Vec<_> = job_pages(&db.pool)
        .await
        .into_iter()
        .filter(|page| !pages.contains(page))
        .collect();
    assert!(
        moved.is_empty(),
        "{} of 600 jobs moved to another page, e.g. {:?}",
        moved.len(),
        moved.first()
    );
}

/// A re-sync of 30 pages that finds most jobs unchanged (each batch's
/// unchanged jobs written by their own update, db::jobs::touch_unchanged):
/// the jobs changed, added and dropped anywhere in it are recorded exactly,
/// once each, and every job listed is marked seen by the run.
#[tokio::test]
async fn a_mostly_unchanged_resync_records_exactly_the_jobs_changed_anywhere_in_it() {
    let db = TestDb::migrated().await;
    let jobs: Vec<JobEntry> = (0..3000)
        .map(|i| entry(&format!("JID{i:04}"), "New"))
        .collect();
    let sim = simulator_with_jobs(7, jobs.clone()).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let first = sync_ok(&config).await;
    let before = history(&db.pool).await;
    let mut next = jobs;
    next[3].job_state = "PreparingAppliance".into();
    next[1420].job_state = "InTransitToCustomer".into();
    next[2999].job_state = "Cancelled".into();
    next.remove(2600);
    next.push(entry("JIDnew", "New"));
    sim.sim.replace_jobs("us-east-1", next);

    let second = sync_ok(&config).await;

    assert_eq!(
        (
            second.totals.jobs_seen,
            second.totals.jobs_new,
            second.totals.jobs_changed,
            second.totals.transitions,
            second.missing
        ),
        (3000, 1, 3, 4, 1)
    );
    let mut added = history(&db.pool).await.split_off(before.len());
    added.sort();
    let row = |job: &str, from: Option<&str>, to: &str| {
        (
            job.to_owned(),
            from.map(str::to_owned),
            to.to_owned(),
            second.run_id,
        )
    };
    assert_eq!(
        added,
        [
            row("JID0003", Some("New"), "PreparingAppliance"),
            row("JID1420", Some("New"), "InTransitToCustomer"),
            row("JID2999", Some("New"), "Cancelled"),
            row("JIDnew", None, "New"),
        ]
    );
    let stale = sqlx::query!(
        "SELECT job_id, missing_since IS NOT NULL AS \"missing!\", last_sync_run_id
           FROM snowball.jobs WHERE last_sync_run_id IS DISTINCT FROM $1",
        second.run_id
    )
    .fetch_all(&db.pool)
    .await
    .expect("jobs the re-sync did not see");
    let stale: Vec<_> = stale
        .into_iter()
        .map(|r| (r.job_id, r.missing, r.last_sync_run_id))
        .collect();
    assert_eq!(stale, [("JID2600".to_owned(), true, Some(first.run_id))]);
}

#[tokio::test]
async fn a_statement_holding_two_listings_writes_each_job_with_its_own_account_and_region() {
    use snowball_sync::db::jobs::{Expect, Listed, Transition, write_jobs};
    use snowball_sync::job::JobRecord;
    let db = TestDb::migrated().await;
    let accounts = ["111111111111".to_owned(), "222222222222".to_owned()];
    let regions = ["us-east-1".to_owned(), "eu-west-1".to_owned()];
    let (a, b) = (
        Listed {
            account_id: &accounts[0],
            region: &regions[0],
        },
        Listed {
            account_id: &accounts[1],
            region: &regions[1],
        },
    );
    let job = |id: &str, state: &str, description: &str| JobRecord {
        job_id: id.to_owned(),
        job_state: state.to_owned(),
        job_type: Some("IMPORT".into()),
        snowball_type: Some("EDGE".into()),
        is_master: Some(false),
        creation_date: None,
        description: Some(description.to_owned()),
    };
    // The listings interleave within the statement, as pages of two
    // listings do in one batch.
    let first = [
        (a, job("JIDa1", "New", "a1")),
        (a, job("JIDa2", "New", "a2")),
        (b, job("JIDb1", "New", "b1")),
        (b, job("JIDb2", "New", "b2")),
        (a, job("JIDa3", "New", "a3")),
    ];
    let second = [
        (a, job("JIDa1", "New", "a1")),
        (a, job("JIDa2", "PreparingAppliance", "a2")),
        (b, job("JIDb1", "New", "b1 renamed")),
        (b, job("JIDb2", "New", "b2")),
        (a, job("JIDa3", "Cancelled", "a3")),
    ];
    let mut conn = db.pool.acquire().await.expect("a connection");
    let mut runs = Vec::new();
    let mut written = Vec::new();
    for statement in [&first, &second] {
        let run = snowball_sync::db::runs::start(
            &mut *conn,
            &regions,
            &accounts,
            None,
            snowball_sync::db::runs::MadeBy::Sync,
        )
        .await
        .expect("a run");
        let jobs: Vec<(Listed<'_>, &JobRecord)> = statement.iter().map(|(l, j)| (*l, j)).collect();
        let mut transitions = write_jobs(&mut conn, run, &jobs, &Expect::default())
            .await
            .expect("the statement is written");
        transitions.sort_by(|x, y| x.job_id.cmp(&y.job_id));
        runs.push(run);
        written.push(transitions);
    }

    let t = |id: &str, from: Option<&str>, to: &str| Transition {
        job_id: id.to_owned(),
        from_state: from.map(str::to_owned),
        to_state: to.to_owned(),
    };
    assert_eq!(
        written[1],
        [
            t("JIDa2", Some("New"), "PreparingAppliance"),
            t("JIDa3", Some("New"), "Cancelled"),
        ]
    );
    let rows = sqlx::query!(
        r#"SELECT job_id, job_state, account_id AS "account_id!", region, description AS "description!",
                  last_sync_run_id AS "run!"
             FROM snowball.jobs ORDER BY job_id"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("the jobs");
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| {
            (
                r.job_id,
                r.job_state,
                r.account_id,
                r.region,
                r.description,
                r.run,
            )
        })
        .collect();
    let row = |id: &str, state: &str, listed: Listed<'_>, description: &str| {
        (
            id.to_owned(),
            state.to_owned(),
            listed.account_id.to_owned(),
            listed.region.to_owned(),
            description.to_owned(),
            runs[1],
        )
    };
    assert_eq!(
        rows,
        [
            row("JIDa1", "New", a, "a1"),
            row("JIDa2", "PreparingAppliance", a, "a2"),
            row("JIDa3", "Cancelled", a, "a3"),
            row("JIDb1", "New", b, "b1 renamed"),
            row("JIDb2", "New", b, "b2"),
        ]
    );
    assert_eq!(history(&db.pool).await.len(), 7);
}

#[tokio::test]
async fn a_job_listed_in_the_same_state_with_other_attributes_is_stored_as_listed_without_history()
{
    use snowball_sync::db::jobs::{Expect, Listed, write_jobs};
    use snowball_sync::job::JobRecord;
    let db = TestDb::migrated().await;
    let regions = ["us-east-1".to_owned()];
    let accounts = ["111111111111".to_owned()];
    let listed = Listed {
        account_id: &accounts[0],
        region: &regions[0],
    };
    let created: DateTime<Utc> = "2026-11-30T08:00:00.123456Z".parse().expect("a time");
    let before = JobRecord {
        job_id: "JIDattrs".to_owned(),
        job_state: "WithCustomer".to_owned(),
        job_type: Some("IMPORT".into()),
        snowball_type: Some("EDGE".into()),
        is_master: Some(false),
        creation_date: None,
        description: None,
    };
    // Each attribute on its own, then all at once back to the first values,
    // then the same again (the lean update's case).
    let mut listings = vec![before.clone()];
    for change in 0..5 {
        let mut job = listings.last().expect("a listing").clone();
        match change {
            0 => job.job_type = Some("EXPORT".into()),
            1 => job.snowball_type = None,
            2 => job.is_master = Some(true),
            3 => job.creation_date = Some(created),
            _ => job.description = Some(String::new()),
        }
        listings.push(job);
    }
    listings.push(before.clone());
    listings.push(before.clone());
    let mut conn = db.pool.acquire().await.expect("a connection");
    for (i, job) in listings.iter().enumerate() {
        let run = snowball_sync::db::runs::start(
            &mut *conn,
            &regions,
            &accounts,
            None,
            snowball_sync::db::runs::MadeBy::Sync,
        )
        .await
        .expect("a run");
        let transitions = write_jobs(&mut conn, run, &[(listed, job)], &Expect::default())
            .await
            .expect("the job is written");
        assert_eq!(transitions.len(), usize::from(i == 0), "listing {i}");
        let stored = sqlx::query!(
            r#"SELECT job_state, job_type, snowball_type, is_master, creation_date, description,
                      last_sync_run_id AS "run!"
                 FROM snowball.jobs WHERE job_id = 'JIDattrs'"#
        )
        .fetch_one(&mut *conn)
        .await
        .expect("the job");
        assert_eq!(
            (
                stored.job_state,
                stored.job_type,
                stored.snowball_type,
                stored.is_master,
                stored.creation_date,
                stored.description,
                stored.run
            ),
            (
                job.job_state.clone(),
                job.job_type.clone(),
                job.snowball_type.clone(),
                job.is_master,
                job.creation_date,
                job.description.clone(),
                run
            )
        );
    }
    assert_eq!(history(&db.pool).await.len(), 1);
}

/// Each job with the heap page its current row version is in.
async fn job_pages(pool: &sqlx::PgPool) -> std::collections::HashSet<(String, i64)> {
    sqlx::query!(r#"SELECT job_id, (ctid::text::point)[0]::bigint AS "page!" FROM snowball.jobs"#)
        .fetch_all(pool)
        .await
        .expect("read the jobs' pages")
        .into_iter()
        .map(|r| (r.job_id, r.page))
        .collect()
}

#[tokio::test]
async fn unknown_enum_values_are_stored_verbatim() {
    let db = TestDb::migrated().await;
    let sim = simulator(0, 5, &["us-east-1"]).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![
            JobEntry {
                job_state: "ReturnedToSender".into(),
                job_type: Some("MOON_IMPORT".into()),
                snowball_type: Some("V9_ORBITAL".into()),
                ..entry("JIDunknown", "")
            },
            JobEntry {
                snowball_type: Some("RACK_5U_C".into()),
                ..entry("JIDtransit", "InTransitToAWS")
            },
        ],
    );

    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    let rows = sqlx::query!(
        "SELECT job_id, job_state, job_type, snowball_type FROM snowball.jobs ORDER BY job_id"
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows");
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| (r.job_id, r.job_state, r.job_type, r.snowball_type))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "JIDtransit".into(),
                "InTransitToAWS".into(),
                Some("IMPORT".into()),
                Some("RACK_5U_C".into())
            ),
            (
                "JIDunknown".into(),
                "ReturnedToSender".into(),
                Some("MOON_IMPORT".into()),
                Some("V9_ORBITAL".into())
            ),
        ]
    );
}

#[tokio::test]
async fn documented_example_entry_round_trips_exactly() {
    let db = TestDb::migrated().await;
    let sim = simulator(0, 6, &["us-east-1"]).await;
    let created: DateTime<Utc> = "2016-04-14T23:56:26Z".parse().expect("a timestamp");
    sim.sim.replace_jobs(
        "us-east-1",
        vec![JobEntry {
            job_id: "JID123e4567-e89b-12d3-a456-426655440000".into(),
            job_state: "New".into(),
            job_type: Some("IMPORT".into()),
            snowball_type: Some("STANDARD".into()),
            is_master: false,
            creation_date: Some(created.timestamp()),
            description: Some("MyJob".into()),
        }],
    );

    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    let row = sqlx::query!(
        "SELECT job_id, job_state, job_type, snowball_type, is_master, creation_date, description, region FROM snowball.jobs"
    )
    .fetch_one(&db.pool)
    .await
    .expect("the job");
    assert_eq!(row.job_id, "JID123e4567-e89b-12d3-a456-426655440000");
    assert_eq!(row.job_state, "New");
    assert_eq!(row.job_type.as_deref(), Some("IMPORT"));
    assert_eq!(row.snowball_type.as_deref(), Some("STANDARD"));
    assert_eq!(row.is_master, Some(false));
    assert_eq!(row.creation_date, Some(created));
    assert_eq!(row.description.as_deref(), Some("MyJob"));
    assert_eq!(row.region, "us-east-1");
}

#[tokio::test]
async fn two_regions_listing_the_same_jobs_store_each_once() {
    let db = TestDb::migrated().await;
    // us-east-1 and us-west-2 share the US fleet, as the service lists every US region's jobs from any of them.
    let sim = simulator(230, 7, &["us-east-1", "eu-west-1"]).await;
    let config = sync_config(&db, &sim, &["us-west-2", "us-east-1", "eu-west-1"]);

    let summary = sync_ok(&config).await;

    assert_eq!(count_jobs(&db.pool).await, 460);
    assert_eq!(history(&db.pool).await.len(), 460);
    assert_eq!(summary.totals.jobs_seen, 460);
    let regions = sqlx::query!(
        r#"SELECT region, count(*) AS "n!" FROM snowball.jobs GROUP BY region ORDER BY region"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("regions");
    let regions: Vec<_> = regions.into_iter().map(|r| (r.region, r.n)).collect();
    // A job listed by two regions is attributed to the first region name.
    assert_eq!(
        regions,
        vec![("eu-west-1".into(), 230), ("us-east-1".into(), 230)]
    );

    let again = sync_ok(&config).await;
    assert_eq!(again.totals.transitions, 0);
    assert_eq!(history(&db.pool).await.len(), 460);
}

#[tokio::test]
async fn dry_run_writes_nothing_and_reports_changes() {
    let db = TestDb::migrated().await;
    let sim = simulator(0, 8, &["us-east-1"]).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![entry("JIDone", "New"), entry("JIDtwo", "WithCustomer")],
    );
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    sync_ok(&config).await;
    let history_before = history(&db.pool).await;
    sim.sim.set_state("JIDtwo", "InTransitToAWS");
    sim.sim.push_job("us-east-1", entry("JIDthree", "New"));

    config.dry_run = true;
    let (summary, out) = sync(&config).await.expect("dry run succeeds");

    assert_eq!(
        out,
        "would add JIDthree (New)\nwould record JIDtwo: WithCustomer -> InTransitToAWS\n"
    );
    assert_eq!(
        (summary.totals.jobs_new, summary.totals.jobs_changed),
        (1, 1)
    );
    assert!(summary.to_string().contains("nothing committed"));
    assert_eq!(history(&db.pool).await, history_before);
    assert_eq!(count_jobs(&db.pool).await, 2);
    let runs = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.sync_runs"#)
        .fetch_one(&db.pool)
        .await
        .expect("runs");
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn history_refuses_update_delete_and_truncate() {
    let db = TestDb::migrated().await;
    let sim = simulator(5, 9, &["us-east-1"]).await;
    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    assert_append_only(
        &db.pool,
        "snowball.job_state_history",
        "to_state = 'Complete'",
    )
    .await;
    assert_eq!(history(&db.pool).await.len(), 5);
}

#[tokio::test]
async fn the_next_run_marks_a_run_left_running_as_abandoned() {
    let db = TestDb::migrated().await;
    let sim = simulator(5, 10, &["us-east-1"]).await;
    let stale = sqlx::query_scalar!(
        "INSERT INTO snowball.sync_runs (regions, tool_version) VALUES ('{us-east-1}', 'killed') RETURNING id"
    )
    .fetch_one(&db.pool)
    .await
    .expect("insert a stale run");

    sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    let status = sqlx::query_scalar!("SELECT status FROM snowball.sync_runs WHERE id = $1", stale)
        .fetch_one(&db.pool)
        .await
        .expect("the stale run");
    assert_eq!(status, "abandoned");
}

#[tokio::test]
async fn a_job_listed_twice_in_one_page_is_written_once() {
    let db = TestDb::migrated().await;
    let sim = simulator(0, 11, &["us-east-1"]).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![
            entry("JIDdup", "New"),
            entry("JIDx", "New"),
            entry("JIDdup", "New"),
        ],
    );

    let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    assert_eq!(count_jobs(&db.pool).await, 2);
    assert_eq!(history(&db.pool).await.len(), 2);
    assert_eq!(summary.totals.jobs_seen, 2);
}

#[tokio::test]
async fn dry_run_against_an_unmigrated_database_fails_without_creating_the_schema() {
    let db = TestDb::empty().await;
    let sim = simulator(5, 12, &["us-east-1"]).await;
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.dry_run = true;

    let err = sync(&config).await.expect_err("a dry run needs the schema");

    assert!(
        err.chain().contains("snowball-sync migrate"),
        "{}",
        err.chain()
    );
    let schema = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM pg_namespace WHERE nspname = 'snowball'"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("query");
    assert_eq!(schema, 0);
}

#[tokio::test]
async fn an_api_failure_fails_the_run_and_records_it() {
    let db = TestDb::migrated().await;
    let faults = snowball_simulator::Faults {
        error_every: Some(1),
        ..Default::default()
    };
    let sim = simulator_with_faults(10, 13, &["us-east-1"], faults).await;

    let err = sync(&sync_config(&db, &sim, &["us-east-1"]))
        .await
        .expect_err("every request fails");

    assert_eq!(err.exit_code(), snowball_sync::ExitCode::Failure);
    assert!(
        err.chain().contains("ListJobs request 1 failed"),
        "{}",
        err.chain()
    );
    let run = sqlx::query!("SELECT status, error, finished_at FROM snowball.sync_runs")
        .fetch_one(&db.pool)
        .await
        .expect("run");
    assert_eq!(run.status, "failed");
    assert!(run.error.is_some_and(|e| e.contains("ListJobs")));
    assert!(run.finished_at.is_some());
    assert_eq!(
        sim.sim.list_requests(),
        5,
        "the SDK retried up to --max-attempts"
    );
}
