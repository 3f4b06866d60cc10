//! The run ledger under concurrency: every run ends exactly once, with its
//! true status and one notification, and no live run is ever marked
//! abandoned; the statuses the database accepts.

use std::collections::HashMap;
use std::time::Duration;

use snowball_simulator::Faults;
use sqlx::Connection;
use sqlx::postgres::PgListener;

use crate::support::*;

/// Every notification on the channel until `count` have arrived, by run id.
async fn notifications(listener: &mut PgListener, count: usize) -> HashMap<i64, Vec<String>> {
    let mut by_run: HashMap<i64, Vec<String>> = HashMap::new();
    for _ in 0..count {
        let notification = tokio::time::timeout(Duration::from_secs(60), listener.recv())
            .await
            .unwrap_or_else(|_| panic!("only these notifications arrived: {by_run:#?}"))
            .expect("a notification");
        let payload: serde_json::Value =
            serde_json::from_str(notification.payload()).expect("a JSON payload");
        by_run
            .entry(payload["run_id"].as_i64().expect("run_id"))
            .or_default()
            .push(payload["status"].as_str().expect("status").to_owned());
    }
    // Nothing more comes: no run is announced twice.
    let extra = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(extra.is_err(), "an extra notification: {extra:?}");
    by_run
}

async fn statuses(db: &TestDb) -> HashMap<i64, String> {
    sqlx::query!("SELECT id, status FROM snowball.sync_runs")
        .fetch_all(&db.pool)
        .await
        .expect("read the runs")
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect()
}

#[tokio::test]
async fn a_run_whose_assume_role_failed_is_never_abandoned_by_a_run_reaching_that_account() {
    let db = TestDb::migrated().await;
    // Run A's view of AWS: account 1 slow, account 2's role refuses it.
    let for_a = Faults {
        page_latency: Duration::from_millis(100),
        deny_assume_role: vec![snowball_simulator::account_id(2)],
        ..Faults::default()
    };
    let sim_a = organization(150, 91, &["us-east-1"], 3, &[], for_a).await;
    // Run B's: the same organization, account 2 reachable.
    let sim_b = organization(150, 91, &["us-east-1"], 3, &[], Faults::default()).await;
    let mut listener = PgListener::connect(&db.url).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let mut a = member_sync(&sync_config(&db, &sim_a, &["us-east-1"]), &[1, 2]);
    a.page_size = 10;
    let b = member_sync(&sync_config(&db, &sim_b, &["us-east-1"]), &[2]);

    // The runs' futures are not Send: they run as local tasks.
    let local = tokio::task::LocalSet::new();
    let run_a = local.spawn_local(async move { sync(&a).await.map(|(s, _)| s) });
    // B starts once A is listing, and must wait for account 2's lock.
    let watched = async {
        let a_id = loop {
            if let Some((id, _)) = statuses(&db).await.into_iter().next() {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let run_b = tokio::task::spawn_local(async move { sync_ok(&b).await });
        while !run_a.is_finished() {
            assert_ne!(
                statuses(&db).await.get(&a_id).map(String::as_str),
                Some("abandoned"),
                "run A was marked abandoned while alive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let a_end = run_a.await.expect("run A's task");
        let b_summary = run_b.await.expect("run B's task");
        (a_id, a_end, b_summary)
    };
    let (a_id, a_end, b_summary) = local.run_until(watched).await;

    let a_error = a_end.expect_err("run A is partial: account 2 was unreachable");
    assert!(
        a_error.chain().contains("AssumeRole"),
        "{}",
        a_error.chain()
    );
    let heard = notifications(&mut listener, 2).await;
    assert_eq!(heard[&a_id], ["partial"]);
    assert_eq!(heard[&b_summary.run_id], ["succeeded"]);
    let stored = statuses(&db).await;
    assert_eq!(stored[&a_id], "partial");
    assert_eq!(stored[&b_summary.run_id], "succeeded");
}

/// The sets of member accounts eight runs sync at once; account 4's role
/// refuses every run.
const OVERLAPPING: [&[usize]; 8] = [
    &[1, 2],
    &[2, 3],
    &[1, 3],
    &[4],
    &[1, 4],
    &[3],
    &[1, 2, 3, 4],
    &[2],
];
const ROUNDS: usize = 10;

/// The history per job, in order: what the runs recorded, whoever wrote it.
async fn history_by_job(db: &TestDb) -> Vec<(String, Option<String>, String)> {
    sqlx::query!(
        "SELECT job_id, from_state, to_state FROM snowball.job_state_history ORDER BY job_id, id"
    )
    .fetch_all(&db.pool)
    .await
    .expect("read history")
    .into_iter()
    .map(|r| (r.job_id, r.from_state, r.to_state))
    .collect()
}

#[tokio::test]
async fn eight_overlapping_runs_started_together_each_end_once_and_equal_the_same_runs_in_turn() {
    let faults = || Faults {
        page_latency: Duration::from_millis(5),
        deny_assume_role: vec![snowball_simulator::account_id(4)],
        ..Faults::default()
    };
    let together = TestDb::migrated().await;
    let in_turn = TestDb::migrated().await;
    let sim_together = organization(30, 92, &["us-east-1"], 5, &[], faults()).await;
    let sim_in_turn = organization(30, 92, &["us-east-1"], 5, &[], faults()).await;
    let mut listener = PgListener::connect(&together.url).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let base = sync_config(&together, &sim_together, &["us-east-1"]);
    let base_in_turn = sync_config(&in_turn, &sim_in_turn, &["us-east-1"]);

    for round in 0..ROUNDS {
        // The runs' futures are not Send: they run as local tasks, together.
        let local = tokio::task::LocalSet::new();
        for accounts in OVERLAPPING {
            let config = member_sync(&base, accounts);
            // Partial and failed runs (account 4) are ends too.
            local.spawn_local(async move {
                let _ = sync(&config).await;
            });
        }
        local.await;
        for accounts in OVERLAPPING {
            let _ = sync(&member_sync(&base_in_turn, accounts)).await;
        }
        let heard = notifications(&mut listener, OVERLAPPING.len()).await;
        assert_eq!(heard.len(), OVERLAPPING.len(), "round {round}: {heard:#?}");
        assert!(
            heard.values().all(|s| s.len() == 1 && s[0] != "abandoned"),
            "round {round}: {heard:#?}"
        );
        sim_together.sim.advance(3);
        sim_in_turn.sim.advance(3);
    }
    let stored = statuses(&together).await;
    assert_eq!(stored.len(), ROUNDS * OVERLAPPING.len());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for status in stored.values() {
        *counts.entry(status.as_str()).or_default() += 1;
    }
    // Runs naming account 4 and others are partial; the one naming it alone failed.
    assert_eq!(
        counts,
        HashMap::from([
            ("succeeded", ROUNDS * 5),
            ("partial", ROUNDS * 2),
            ("failed", ROUNDS)
        ])
    );
    let history = history_by_job(&together).await;
    assert!(history.len() > 90, "{}", history.len());
    assert_eq!(history, history_by_job(&in_turn).await);
}

#[tokio::test]
async fn the_database_refuses_a_status_no_release_writes_after_upgrading_a_database_of_the_previous_release()
 {
    let db = TestDb::at_release("20261201100000").await;
    // What earlier releases wrote: every status they knew.
    sqlx::raw_sql(
        "INSERT INTO snowball.sync_runs (regions, accounts, status, tool_version)
         SELECT '{us-east-1}', '{012345678900}', s, '0.1.0'
           FROM unnest('{running,succeeded,partial,failed,abandoned}'::text[]) s;
         INSERT INTO snowball.sync_run_listings
                (run_id, account_id, region, status, started_at, finished_at)
         VALUES (2, '012345678900', 'us-east-1', 'succeeded', now(), now()),
                (4, '012345678900', 'us-east-1', 'failed', now(), now());",
    )
    .execute(&db.pool)
    .await
    .expect("the previous release's rows");

    snowball_sync::db::MIGRATOR
        .run(&db.pool)
        .await
        .expect("the migrations apply over every status written before");

    let run = sqlx::query!("UPDATE snowball.sync_runs SET status = 'done' WHERE id = 2")
        .execute(&db.pool)
        .await;
    assert!(
        run.expect_err("refused")
            .to_string()
            .contains("sync_runs_status_check")
    );
    let listing =
        sqlx::query!("UPDATE snowball.sync_run_listings SET status = 'partial' WHERE run_id = 2")
            .execute(&db.pool)
            .await;
    assert!(
        listing
            .expect_err("refused")
            .to_string()
            .contains("sync_run_listings_status_check")
    );
}

#[tokio::test]
async fn a_run_marked_ended_by_someone_else_stops_writing_says_so_and_sends_no_second_notification()
{
    let db = TestDb::migrated().await;
    let faults = Faults {
        page_latency: Duration::from_millis(50),
        ..Faults::default()
    };
    let sim = simulator_with_faults(400, 93, &["us-east-1"], faults).await;
    let mut listener = PgListener::connect(&db.url).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.page_size = 20;

    let local = tokio::task::LocalSet::new();
    let run = local.spawn_local(async move { sync(&config).await.map(|(s, _)| s) });
    let ended = local
        .run_until(async {
            // While it lists, someone ends its row by hand (no notification).
            loop {
                let marked = sqlx::query!(
                    "UPDATE snowball.sync_runs SET status = 'abandoned', finished_at = now()
                      WHERE status = 'running'"
                )
                .execute(&db.pool)
                .await
                .expect("mark the run");
                if marked.rows_affected() == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            run.await.expect("the run's task")
        })
        .await;

    // It stops at its next write, saying so; its end is not recorded.
    let error = ended.expect_err("its end could not be recorded").chain();
    assert!(
        error.contains("was ended while it was writing: it is now 'abandoned' (no reason recorded); it writes nothing more"),
        "{error}"
    );
    let silent = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(silent.is_err(), "a notification was sent: {silent:?}");
    assert_eq!(
        statuses(&db).await.into_values().collect::<Vec<_>>(),
        ["abandoned"]
    );
}

/// The sessions of a listing run are terminated (a failover, a pooler or an
/// administrator does it) while a second run waits for its lock: the second
/// takes the lock; the first writes nothing more, and ends either marked
/// abandoned by the second (saying so) or by itself, having found its lock
/// taken. The history verifies and each run is announced once.
#[tokio::test]
async fn a_run_whose_sessions_were_terminated_writes_nothing_after_another_run_seals_it() {
    let db = TestDb::migrated().await;
    let faults = Faults {
        page_latency: Duration::from_millis(60),
        ..Faults::default()
    };
    let sim = simulator_with_faults(3000, 71, &["us-east-1"], faults).await;
    let first = sync_config(&db, &sim, &["us-east-1"]);
    let mut second = sync_config(&db, &sim, &["us-east-1"]);
    second.wait_lock = true;

    let mut listener = PgListener::connect(&db.url).await.expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let listener_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut listener)
        .await
        .expect("the listener's session");
    let mut killer = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("a session of the test's own");

    let first_run = sync(&first);
    let second_run = async {
        // Start once the first run has written part of its listing.
        loop {
            let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM snowball.jobs")
                .fetch_one(&mut killer)
                .await
                .expect("count jobs");
            if jobs >= 300 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let first_sessions: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
        )
        .bind(listener_pid)
        .fetch_all(&mut killer)
        .await
        .expect("the first run's sessions");
        let terminate = async {
            // Once the second run waits for the lock.
            loop {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                )
                .fetch_one(&mut killer)
                .await
                .expect("lock waits");
                if waiting > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let terminated: i64 = sqlx::query_scalar(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest($1::int[]) pid",
            )
            .bind(&first_sessions)
            .fetch_one(&mut killer)
            .await
            .expect("terminate the first run's sessions");
            assert!(terminated >= 1, "no session of the first run to terminate");
        };
        let (second, ()) = tokio::join!(sync(&second), terminate);
        second
    };
    let (first_result, second_result) = tokio::join!(first_run, second_run);

    let (second_summary, _) = second_result.unwrap_or_else(|err| {
        panic!("the second run failed: {}", err.chain());
    });
    let error = match first_result {
        Ok((summary, _)) => panic!("the first run succeeded after losing its lock: {summary}"),
        Err(err) => {
            // A failure: exit code 1.
            assert!(
                matches!(err, snowball_sync::Error::Failed(_)),
                "{}",
                err.chain()
            );
            err.chain()
        }
    };
    let runs = statuses(&db).await;
    let first_id = runs
        .keys()
        .copied()
        .find(|id| *id != second_summary.run_id)
        .expect("the first run's row");
    assert_eq!(runs[&second_summary.run_id], "succeeded", "{runs:?}");
    let second_id = second_summary.run_id;
    // Either the second run marked it abandoned before it wrote again, and
    // it stopped naming that run; or it found its lock taken when it tried
    // to take it again and recorded its own end, before the second run
    // looked for dead runs. Never both, and never a write after the end.
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT error FROM snowball.sync_runs WHERE id = $1")
            .bind(first_id)
            .fetch_one(&db.pool)
            .await
            .expect("the first run's error");
    let marked = format!("run {second_id} found its locks free");
    let first_status = runs[&first_id].clone();
    match first_status.as_str() {
        "abandoned" => {
            assert!(error.contains(&marked), "{error}");
            assert!(
                recorded.as_deref().is_some_and(|e| e.contains(&marked)),
                "{recorded:?}"
            );
        }
        "failed" => {
            assert!(error.contains("another run has taken it"), "{error}");
            assert!(
                recorded
                    .as_deref()
                    .is_some_and(|e| e.contains("another run has taken it")),
                "{recorded:?}"
            );
        }
        other => panic!("the first run ended {other}: {runs:?}"),
    }
    // No row of the first run after its seal: its digest still matches its rows.
    crate::verification::assert_both_verify(
        &db.url,
        "a_run_whose_sessions_were_terminated_writes_nothing_after_another_run_seals_it",
    )
    .await;
    let by_run = notifications(&mut listener, 2).await;
    assert_eq!(by_run[&first_id], [first_status.as_str()], "{by_run:?}");
    assert_eq!(by_run[&second_id], ["succeeded"], "{by_run:?}");
    let firsts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM snowball.job_state_history WHERE from_state IS NULL",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count first sightings");
    assert_eq!(firsts, 3000);
    assert_eq!(count_jobs(&db.pool).await, 3000);
}
