//! The estate beyond jobs: device usage, clusters and long-term pricing
//! (`sync --include usage,clusters,long-term-pricing`), through the real SDK
//! against the simulator.

use std::collections::BTreeMap;

use snowball_simulator::{Faults, TAX_MARKER, account_id};
use snowball_sync::config::{EstateKinds, SyncConfig};

use crate::support::*;

fn with_usage(mut config: SyncConfig) -> SyncConfig {
    config.estate.usage = true;
    config
}

/// (account, region, limit, in use) of every usage row, in write order.
async fn usage_rows(pool: &sqlx::PgPool) -> Vec<(String, String, Option<i64>, Option<i64>)> {
    sqlx::query!(
        "SELECT account_id, region, snowball_limit, snowballs_in_use
           FROM snowball.device_usage_history ORDER BY id"
    )
    .fetch_all(pool)
    .await
    .expect("usage rows")
    .into_iter()
    .map(|r| (r.account_id, r.region, r.snowball_limit, r.snowballs_in_use))
    .collect()
}

#[tokio::test]
async fn device_usage_gets_a_row_only_when_its_figures_change_and_only_with_include_usage() {
    let db = TestDb::migrated().await;
    let sim = simulator(40, 31, &["us-east-1", "eu-west-1"]).await;
    let regions = ["us-east-1", "eu-west-1"];
    let plain = sync_config(&db, &sim, &regions);
    sync_ok(&plain).await;
    assert_eq!(
        sim.sim.usage_requests(),
        0,
        "no GetSnowballUsage without --include usage"
    );
    assert!(usage_rows(&db.pool).await.is_empty());

    let config = with_usage(plain);
    let first = sync_ok(&config).await;
    assert_eq!(
        sim.sim.usage_requests(),
        2,
        "one call per account and region"
    );
    assert_eq!(first.totals.usage_changes, Some(2));
    let rows = usage_rows(&db.pool).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.2.is_some() && r.3.is_some()),
        "{rows:?}"
    );

    let unchanged = sync_ok(&config).await;
    assert_eq!(unchanged.totals.usage_changes, Some(0));
    assert_eq!(
        usage_rows(&db.pool).await,
        rows,
        "unchanged figures: no row"
    );

    let account = account_id(0);
    sim.sim.set_usage_limit(&account, "eu-west-1", 99);
    let raised = sync_ok(&config).await;
    assert_eq!(raised.totals.usage_changes, Some(1));
    let after = usage_rows(&db.pool).await;
    assert_eq!(after.len(), 3);
    assert_eq!(after[2].0, account);
    assert_eq!((after[2].1.as_str(), after[2].2), ("eu-west-1", Some(99)));

    let view: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT region, snowball_limit, headroom FROM snowball.device_usage ORDER BY region",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the view");
    assert_eq!(view[0].0, "eu-west-1");
    assert_eq!(view[0].1, Some(99));
    assert_eq!(view[0].2, Some(99 - after[2].3.expect("in use")));

    let report = run_bin(
        &["report", "--format", "json", "--database-url", &db.url],
        &[],
    )
    .await;
    report.assert_code(0);
    let report: serde_json::Value = serde_json::from_str(&report.stdout()).expect("JSON");
    assert_eq!(
        report["device_usage"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );

    assert_append_only(
        &db.pool,
        "snowball.device_usage_history",
        "snowball_limit = 0",
    )
    .await;
    crate::verification::assert_both_verify(&db.url, "estate::device_usage").await;
}

#[tokio::test]
async fn get_snowball_usage_denied_makes_the_run_partial_naming_the_permission_and_the_rest_is_written()
 {
    let db = TestDb::migrated().await;
    let sim = simulator(30, 32, &["us-east-1"]).await;
    let account = account_id(0);
    sim.sim.set_faults(Faults {
        deny_usage: vec![account.clone()],
        ..Faults::default()
    });
    let config = with_usage(sync_config(&db, &sim, &["us-east-1"]));
    let err = sync(&config).await.expect_err("the run is partial").chain();
    assert!(
        err.contains(&format!(
            "account {account} may not call GetSnowballUsage (AccessDeniedException): grant snowball:GetSnowballUsage (contrib/iam-policy-estate.json)"
        )),
        "{err}"
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM snowball.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .expect("the run");
    assert_eq!(status, "partial");
    assert_eq!(count_jobs(&db.pool).await, 30, "the listing is written");
    assert!(usage_rows(&db.pool).await.is_empty());
    let listings: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, status FROM snowball.sync_run_listings ORDER BY kind")
            .fetch_all(&db.pool)
            .await
            .expect("listings");
    assert_eq!(
        listings,
        [
            ("jobs".to_owned(), "succeeded".to_owned()),
            ("usage".to_owned(), "failed".to_owned())
        ]
    );
}

#[tokio::test]
async fn boto3_gets_the_same_device_usage_as_the_rust_sdk_in_both_protocols() {
    if !boto3_available("boto3_gets_the_same_device_usage_as_the_rust_sdk_in_both_protocols") {
        return;
    }
    let sim = simulator(60, 33, &["us-east-1", "eu-west-1"]).await;
    sim.sim.advance(6);
    for region in ["us-east-1", "eu-west-1"] {
        let output = outside_sdk_client(&sim.endpoint_url(), region)
            .get_snowball_usage()
            .send()
            .await
            .expect("GetSnowballUsage");
        let ours = serde_json::json!({
            "limit": output.snowball_limit(),
            "in_use": output.snowballs_in_use(),
        });
        assert!(
            ours["limit"].is_number() && ours["in_use"].is_number(),
            "{ours}"
        );
        for protocol in ["json", "cbor"] {
            let theirs = outside_client(&["usage", &sim.endpoint_url(), region, protocol]).await;
            assert_eq!(
                theirs,
                std::slice::from_ref(&ours),
                "boto3 over {protocol} in {region}"
            );
        }
    }
}

fn with_estate(mut config: SyncConfig, estate: EstateKinds) -> SyncConfig {
    config.estate = estate;
    config
}

const CLUSTERS: EstateKinds = EstateKinds {
    usage: false,
    clusters: true,
    pricing: false,
};
const PRICING: EstateKinds = EstateKinds {
    usage: false,
    clusters: false,
    pricing: true,
};

/// (from_state, to_state) of a cluster's history, in order.
async fn cluster_history(pool: &sqlx::PgPool, cluster_id: &str) -> Vec<(Option<String>, String)> {
    sqlx::query!(
        "SELECT from_state, to_state FROM snowball.cluster_state_history
          WHERE cluster_id = $1 ORDER BY id",
        cluster_id
    )
    .fetch_all(pool)
    .await
    .expect("cluster history")
    .into_iter()
    .map(|r| (r.from_state, r.to_state))
    .collect()
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// The requests of each operation the simulator received since `before`.
fn calls_since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

#[tokio::test]
async fn a_cluster_followed_through_its_lifecycle_gets_one_history_row_per_observed_change_and_its_members_carry_its_id()
 {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(20, 41, &["us-east-1"], 1, (2, 0)).await;
    let (_, (clusters, _)) = sim.sim.estates().into_iter().next().expect("an estate");
    let (a, b) = (clusters[0].clone(), clusters[1].clone());
    for cluster in [&a, &b] {
        assert!(
            sim.sim
                .set_cluster_state(&cluster.cluster_id, "AwaitingQuorum")
        );
    }
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), CLUSTERS);

    let before = sim.sim.operation_counts();
    let first = sync_ok(&config).await;
    assert_eq!(first.totals.cluster_transitions, Some(2));
    assert_eq!(
        calls_since(&before, &sim.sim.operation_counts()),
        ops(&[
            ("ListJobs", 1),
            ("ListClusters", 1),
            ("DescribeCluster", 2),
            ("ListClusterJobs", 2)
        ]),
        "a new cluster is described and its jobs listed"
    );
    for cluster in [&a, &b] {
        let members: Vec<String> = sqlx::query_scalar(
            "SELECT job_id FROM snowball.jobs WHERE cluster_id = $1 ORDER BY job_id",
        )
        .bind(&cluster.cluster_id)
        .fetch_all(&db.pool)
        .await
        .expect("members");
        let mut want = cluster.members.clone();
        want.sort();
        assert_eq!(
            members, want,
            "{}'s members carry its id",
            cluster.cluster_id
        );
    }
    let stored: (String, Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT cluster_state, job_type, snowball_type, account_id FROM snowball.clusters
          WHERE cluster_id = $1",
    )
    .bind(&a.cluster_id)
    .fetch_one(&db.pool)
    .await
    .expect("the cluster");
    assert_eq!(
        stored,
        (
            "AwaitingQuorum".to_owned(),
            Some("LOCAL_USE".to_owned()),
            Some("EDGE_C".to_owned()),
            account_id(0)
        )
    );

    let before = sim.sim.operation_counts();
    let unchanged = sync_ok(&config).await;
    assert_eq!(unchanged.totals.cluster_transitions, Some(0));
    assert_eq!(
        calls_since(&before, &sim.sim.operation_counts()),
        ops(&[("ListJobs", 1), ("ListClusters", 1), ("ListClusterJobs", 2)]),
        "unchanged: no DescribeCluster; ListClusterJobs for clusters not final"
    );
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM snowball.cluster_state_history"
        )
        .await,
        2,
        "an unchanged estate writes nothing"
    );

    for state in ["Pending", "InUse", "Complete"] {
        sim.sim.set_cluster_state(&a.cluster_id, state);
        let run = sync_ok(&config).await;
        assert_eq!(run.totals.cluster_transitions, Some(1), "{state}");
        assert_eq!(
            run.totals.transitions, 5,
            "the five member jobs move with their cluster to {state}"
        );
    }
    assert_eq!(
        cluster_history(&db.pool, &a.cluster_id).await,
        [
            (None, "AwaitingQuorum".to_owned()),
            (Some("AwaitingQuorum".to_owned()), "Pending".to_owned()),
            (Some("Pending".to_owned()), "InUse".to_owned()),
            (Some("InUse".to_owned()), "Complete".to_owned()),
        ]
    );
    let before = sim.sim.operation_counts();
    let settled = sync_ok(&config).await;
    assert_eq!(settled.totals.cluster_transitions, Some(0));
    assert_eq!(
        calls_since(&before, &sim.sim.operation_counts()),
        ops(&[("ListJobs", 1), ("ListClusters", 1), ("ListClusterJobs", 1)]),
        "a complete cluster's jobs are not listed again"
    );
    let intervals: Vec<(String, bool)> = sqlx::query_as(
        "SELECT state, is_current FROM snowball.cluster_state_intervals
          WHERE cluster_id = $1 ORDER BY entered_at",
    )
    .bind(&a.cluster_id)
    .fetch_all(&db.pool)
    .await
    .expect("intervals");
    assert_eq!(intervals.len(), 4);
    assert_eq!(intervals[3], ("Complete".to_owned(), true));
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM snowball.jobs WHERE cluster_id IS NOT NULL AND job_state = 'Complete'"
        )
        .await,
        5
    );
    let history = run_bin(
        &[
            "history",
            &a.cluster_id,
            "--format",
            "json",
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;
    history.assert_code(0);
    let history: serde_json::Value = serde_json::from_str(&history.stdout()).expect("JSON");
    assert_eq!(
        history["stints"].as_array().map(Vec::len),
        Some(4),
        "{history}"
    );
    assert_eq!(
        history["members"].as_array().map(Vec::len),
        Some(5),
        "{history}"
    );
    assert!(
        history["members"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m["job_state"] == "Complete"),
        "{history}"
    );
    assert_append_only(&db.pool, "snowball.cluster_state_history", "to_state = 'x'").await;
    crate::verification::assert_both_verify(&db.url, "estate::cluster_lifecycle").await;
}

/// (status, auto_renew, replacement_job, job_ids) of a term's history rows.
type TermChange = (
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<Vec<String>>,
);

async fn term_history(pool: &sqlx::PgPool, term_id: &str) -> Vec<TermChange> {
    sqlx::query_as(
        "SELECT status, auto_renew, replacement_job, job_ids
           FROM snowball.long_term_pricing_history
          WHERE long_term_pricing_id = $1 ORDER BY id",
    )
    .bind(term_id)
    .fetch_all(pool)
    .await
    .expect("term history")
}

/// (days_left, lapses, status) of a term in long_term_pricing_terms.
async fn term_view(pool: &sqlx::PgPool, term_id: &str) -> (i32, bool, Option<String>) {
    sqlx::query_as(
        "SELECT days_left, lapses, status FROM snowball.long_term_pricing_terms
          WHERE long_term_pricing_id = $1",
    )
    .bind(term_id)
    .fetch_one(pool)
    .await
    .expect("the term's view row")
}

#[tokio::test]
async fn terms_that_renew_lapse_or_get_a_replacement_are_told_apart_and_their_history_holds_exactly_the_changes()
 {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(10, 42, &["us-east-1"], 1, (0, 3)).await;
    let (_, (_, terms)) = sim.sim.estates().into_iter().next().expect("an estate");
    let ids: Vec<String> = terms.iter().map(|t| t.id.clone()).collect();
    let (renews, lapses, replaced) = (&ids[0], &ids[1], &ids[2]);
    // A month that auto-renews ending in 10 days, a year that does not
    // ending in 20, three years far off.
    for (id, days, auto_renew) in [
        (renews, 10, true),
        (lapses, 20, false),
        (replaced, 300, true),
    ] {
        assert!(sim.sim.edit_term(id, |t, now| {
            t.end = now + days * 86_400;
            t.auto_renew = auto_renew;
        }));
    }
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), PRICING);
    let first = sync_ok(&config).await;
    assert_eq!(first.totals.pricing_changes, Some(3));
    assert_eq!(first.totals.cluster_transitions, None, "clusters not read");
    let published = first.to_json();
    assert_eq!(
        (
            &published["pricing_changes"],
            &published["cluster_transitions"]
        ),
        (&serde_json::json!(3), &serde_json::Value::Null)
    );
    let (stored, notified): (Option<i32>, String) = sqlx::query_as(
        "SELECT pricing_changes, snowball.run_notification(r) FROM snowball.sync_runs r WHERE id = $1",
    )
    .bind(first.run_id)
    .fetch_one(&db.pool)
    .await
    .expect("the run");
    assert_eq!(stored, Some(3));
    let notified: serde_json::Value = serde_json::from_str(&notified).expect("JSON");
    assert_eq!(notified["pricing_changes"], 3, "{notified}");
    assert!(notified["cluster_transitions"].is_null(), "{notified}");
    let (days, lapsing, _) = term_view(&db.pool, lapses).await;
    assert!((19..=20).contains(&days) && lapsing, "{days} {lapsing}");
    let (days, lapsing, _) = term_view(&db.pool, renews).await;
    assert!(
        (9..=10).contains(&days) && !lapsing,
        "auto-renews: not lapsing"
    );
    let soonest: Vec<String> =
        sqlx::query_scalar("SELECT long_term_pricing_id FROM snowball.long_term_pricing_terms")
            .fetch_all(&db.pool)
            .await
            .expect("the view");
    assert_eq!(soonest, [renews.clone(), lapses.clone(), replaced.clone()]);

    let unchanged = sync_ok(&config).await;
    assert_eq!(unchanged.totals.pricing_changes, Some(0), "nothing changed");

    let device = sim.sim.replace_term_device(replaced).expect("the term");
    assert_eq!(sync_ok(&config).await.totals.pricing_changes, Some(1));
    sim.sim.pass_days(15);
    assert_eq!(
        sync_ok(&config).await.totals.pricing_changes,
        Some(1),
        "the month renewed"
    );
    // The database counts days from the wall clock, which the simulated
    // fifteen days did not move: the end is 10 + 30 days from it.
    let (days, lapsing, status) = term_view(&db.pool, renews).await;
    assert!((39..=40).contains(&days) && !lapsing, "renewed: {days}");
    assert_eq!(status.as_deref(), Some("ACTIVE"));
    sim.sim.pass_days(10);
    assert_eq!(
        sync_ok(&config).await.totals.pricing_changes,
        Some(1),
        "the year lapsed"
    );
    let (_, _, status) = term_view(&db.pool, lapses).await;
    assert_eq!(status.as_deref(), Some("EXPIRED"));

    let active = |auto: bool, replacement: Option<&str>, jobs: Vec<String>| {
        (
            Some("ACTIVE".to_owned()),
            Some(auto),
            replacement.map(str::to_owned),
            Some(jobs),
        )
    };
    let job_of = |id: &String| {
        terms
            .iter()
            .find(|t| &t.id == id)
            .expect("term")
            .job_ids
            .clone()
    };
    assert_eq!(
        term_history(&db.pool, renews).await,
        [
            active(true, None, job_of(renews)),
            active(true, None, job_of(renews))
        ],
        "first sighting, then the end moved on"
    );
    assert_eq!(
        term_history(&db.pool, lapses).await,
        [
            active(false, None, job_of(lapses)),
            (
                Some("EXPIRED".to_owned()),
                Some(false),
                None,
                Some(job_of(lapses))
            )
        ]
    );
    let mut with_device = job_of(replaced);
    with_device.push(device.clone());
    assert_eq!(
        term_history(&db.pool, replaced).await,
        [
            active(true, None, job_of(replaced)),
            active(true, Some(&device), with_device)
        ]
    );
    let history = run_bin(
        &[
            "history",
            lapses,
            "--format",
            "csv",
            "--database-url",
            &db.url,
        ],
        &[],
    )
    .await;
    history.assert_code(0);
    let lines: Vec<String> = history.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "a header and two changes: {lines:?}");
    assert!(lines[2].contains(",EXPIRED,false,"), "{}", lines[2]);
    assert_append_only(
        &db.pool,
        "snowball.long_term_pricing_history",
        "status = 'x'",
    )
    .await;
    crate::verification::assert_both_verify(&db.url, "estate::terms").await;
}

#[tokio::test]
async fn missing_clusters_and_terms_are_marked_only_after_a_complete_listing_of_their_kind_account_and_region()
 {
    let db = TestDb::migrated().await;
    let regions = ["us-east-1", "eu-west-1"];
    let sim = estate_simulator(6, 43, &regions, 2, (1, 1)).await;
    let mut config = with_estate(sync_config(&db, &sim, &regions), EstateKinds::all());
    config.aws.accounts.organization_role = Some("SnowballSyncReader".into());
    sync_ok(&config).await;
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM snowball.clusters").await,
        4
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM snowball.long_term_pricing").await,
        4
    );

    let estates = sim.sim.estates();
    let of = |account: usize, region: &str| {
        let key = match account {
            0 => snowball_simulator::fleet_key(region),
            _ => format!(
                "{}/{}",
                account_id(account),
                snowball_simulator::fleet_key(region)
            ),
        };
        estates[&key].clone()
    };
    let gone_cluster = of(0, "eu-west-1").0[0].cluster_id.clone();
    let gone_term = of(0, "eu-west-1").1[0].id.clone();
    let unlisted_cluster = of(1, "us-east-1").0[0].cluster_id.clone();
    for id in [&gone_cluster, &gone_term, &unlisted_cluster] {
        sim.sim.forget_estate_item(id);
    }
    sim.sim.set_faults(Faults {
        deny_list_clusters: vec![account_id(1)],
        ..Faults::default()
    });
    // Only clusters are read: the forgotten term is not marked yet.
    let clusters_only = with_estate(config.clone(), CLUSTERS);
    assert!(
        sync(&clusters_only).await.is_err(),
        "partial: account 1 denied"
    );
    let missing = |table: &str| {
        let sql = format!(
            "SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM (
               SELECT {} AS id FROM snowball.{table} WHERE missing_since IS NOT NULL) m",
            if table == "clusters" {
                "cluster_id"
            } else {
                "long_term_pricing_id"
            }
        );
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(&*sql))
                .fetch_one(&pool)
                .await
                .expect("missing")
        }
    };
    assert_eq!(
        missing("clusters").await,
        gone_cluster,
        "account 1's listing failed"
    );
    assert_eq!(
        missing("long_term_pricing").await,
        "",
        "terms were not listed"
    );
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM snowball.jobs WHERE missing_since IS NOT NULL"
        )
        .await,
        0
    );
    assert!(sync(&config).await.is_err(), "partial again");
    assert_eq!(missing("long_term_pricing").await, gone_term);
    assert_eq!(missing("clusters").await, gone_cluster);
    sim.sim.set_faults(Faults::default());
    sync_ok(&config).await;
    let mut both = [gone_cluster.clone(), unlisted_cluster.clone()];
    both.sort();
    assert_eq!(missing("clusters").await, both.join(","));
}

#[tokio::test]
async fn access_denied_on_each_estate_operation_alone_makes_the_run_partial_naming_it_and_writes_the_rest()
 {
    let account = account_id(0);
    for operation in [
        "GetSnowballUsage",
        "ListClusters",
        "DescribeCluster",
        "ListClusterJobs",
        "ListLongTermPricing",
    ] {
        let db = TestDb::migrated().await;
        let sim = estate_simulator(12, 44, &["us-east-1"], 1, (2, 2)).await;
        let denied = vec![account.clone()];
        let mut faults = Faults::default();
        match operation {
            "GetSnowballUsage" => faults.deny_usage = denied,
            "ListClusters" => faults.deny_list_clusters = denied,
            "DescribeCluster" => faults.deny_describe_cluster = denied,
            "ListClusterJobs" => faults.deny_list_cluster_jobs = denied,
            _ => faults.deny_long_term_pricing = denied,
        }
        sim.sim.set_faults(faults);
        let mut config = with_estate(sync_config(&db, &sim, &["us-east-1"]), EstateKinds::all());
        config.details = Some(4);
        let err = sync(&config)
            .await
            .expect_err(&format!("{operation}: the run does not succeed"))
            .chain();
        assert!(
            err.contains(&format!(
                "account {account} may not call {operation} (AccessDeniedException): grant snowball:{operation} (contrib/iam-policy-estate.json)"
            )),
            "{operation}: {err}"
        );
        assert_eq!(err.matches("may not call").count(), 1, "{operation}: {err}");
        let listings: Vec<(String, String)> =
            sqlx::query_as("SELECT kind, status FROM snowball.sync_run_listings ORDER BY kind")
                .fetch_all(&db.pool)
                .await
                .expect("listings");
        let failed_kind = match operation {
            "GetSnowballUsage" => "usage",
            "ListLongTermPricing" => "long-term-pricing",
            _ => "clusters",
        };
        for (kind, status) in &listings {
            let want = if kind == failed_kind {
                "failed"
            } else {
                "succeeded"
            };
            assert_eq!(status, want, "{operation}: {kind}");
        }
        assert_eq!(listings.len(), 4, "{operation}: {listings:?}");
        let status: String =
            sqlx::query_scalar("SELECT status FROM snowball.sync_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool)
                .await
                .expect("the run");
        assert_eq!(status, "partial", "{operation}");
        assert_eq!(
            count_jobs(&db.pool).await,
            22,
            "{operation}: jobs and members written"
        );
        let written = [
            ("device_usage_history", "GetSnowballUsage", 1),
            ("clusters", "ListClusters", 2),
            ("long_term_pricing", "ListLongTermPricing", 2),
            ("job_details", "-", 22),
        ];
        for (table, when_denied, want) in written {
            let n = count(&db.pool, &format!("SELECT count(*) FROM snowball.{table}")).await;
            let want = if operation == when_denied { 0 } else { want };
            assert_eq!(n, want, "{operation}: {table}");
        }
        let described = count(
            &db.pool,
            "SELECT count(*) FROM snowball.clusters WHERE described_at IS NOT NULL",
        )
        .await;
        let members = count(
            &db.pool,
            "SELECT count(*) FROM snowball.jobs WHERE cluster_id IS NOT NULL",
        )
        .await;
        match operation {
            "DescribeCluster" => assert_eq!((described, members), (0, 10)),
            "ListClusterJobs" => assert_eq!((described, members), (2, 0)),
            "ListClusters" => assert_eq!((described, members), (0, 0)),
            _ => assert_eq!((described, members), (2, 10), "{operation}"),
        }
    }
}

#[tokio::test]
async fn include_calls_exactly_the_operations_it_names_and_none_without_it() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(8, 45, &["us-east-1"], 1, (1, 1)).await;
    let (_, (clusters, _)) = sim.sim.estates().into_iter().next().expect("an estate");
    // Not final: its jobs are listed every run that reads clusters.
    sim.sim.set_cluster_state(&clusters[0].cluster_id, "InUse");
    let job = ["ListJobs"];
    let cases: [(&[&str], &[&str]); 7] = [
        (&[], &[]),
        (&["--include", "usage"], &["GetSnowballUsage"]),
        (
            &["--include", "clusters"],
            &["ListClusters", "ListClusterJobs"],
        ),
        (
            &["--include", "long-term-pricing"],
            &["ListLongTermPricing"],
        ),
        (
            &["--include", "long-term-pricing", "--include", "usage"],
            &["GetSnowballUsage", "ListLongTermPricing"],
        ),
        (&["--details"], &["DescribeJob"]),
        (
            &["--include", "all"],
            &[
                "DescribeJob",
                "GetSnowballUsage",
                "ListClusterJobs",
                "ListClusters",
                "ListLongTermPricing",
            ],
        ),
    ];
    let db_all = TestDb::migrated().await;
    let before = sim.sim.operation_counts();
    run_bin(
        &sync_args(&db_all.url, &sim.endpoint_url(), &["--include", "all"]),
        &aws_test_env(),
    )
    .await
    .assert_code(0);
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/iam-policy-estate.json"
        ))
        .expect("the policy"),
    )
    .expect("JSON");
    let granted: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            s["Action"]
                .as_str()?
                .strip_prefix("snowball:")
                .map(str::to_owned)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let called: Vec<String> = calls_since(&before, &sim.sim.operation_counts())
        .into_keys()
        .collect();
    assert_eq!(
        called, granted,
        "a first --include all calls exactly what contrib/iam-policy-estate.json grants"
    );
    for (include, want) in cases {
        let before = sim.sim.operation_counts();
        let out = run_bin(
            &sync_args(&db.url, &sim.endpoint_url(), include),
            &aws_test_env(),
        )
        .await;
        out.assert_code(0);
        let called: Vec<String> = calls_since(&before, &sim.sim.operation_counts())
            .into_keys()
            .filter(|op| op != "DescribeCluster")
            .collect();
        let mut want: Vec<String> = job.iter().chain(want).map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(called, want, "{include:?}");
    }
}

#[tokio::test]
async fn markers_in_tax_documents_appear_nowhere() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(10, 46, &["us-east-1"], 1, (2, 1)).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let metrics = dir.path().join("m.prom");
    let metrics_arg = metrics.to_string_lossy().into_owned();
    let mut printed = String::new();
    for extra in [
        vec![
            "--include",
            "all",
            "-vv",
            "--log-format",
            "json",
            "--output",
            "json",
            "--metrics-file",
            &metrics_arg,
        ],
        vec![
            "--include",
            "clusters",
            "-vv",
            "--log-format",
            "text",
            "--dry-run",
        ],
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
    let cluster: String = sqlx::query_scalar("SELECT cluster_id FROM snowball.clusters LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .expect("a cluster");
    for args in [
        vec!["report", "--format", "json"],
        vec!["report", "--format", "text"],
        vec!["report", "--format", "html"],
        vec!["history", &cluster, "--format", "json"],
    ] {
        let mut args = args.clone();
        args.extend(["--database-url", &db.url]);
        let out = run_bin(&args, &[]).await;
        out.assert_code(0);
        printed += &out.stdout();
        printed += &out.stderr();
    }
    let metrics_text = std::fs::read_to_string(&metrics).expect("metrics");
    for gauge in [
        "snowball_sync_clusters{account_id=",
        "snowball_sync_long_term_pricing_end_timestamp_seconds{long_term_pricing_id=",
        "snowball_sync_devices_in_use{account_id=",
        "snowball_sync_device_limit{account_id=",
    ] {
        assert!(
            metrics_text.contains(gauge),
            "no {gauge} in\n{metrics_text}"
        );
    }
    printed += &metrics_text;
    let stored: String =
        sqlx::query_scalar("SELECT string_agg(c::text, '') FROM snowball.clusters c")
            .fetch_one(&db.pool)
            .await
            .expect("clusters");
    assert!(
        stored.contains("ADID"),
        "the rest of ClusterMetadata is kept: {stored}"
    );
    assert!(!stored.contains("TaxDocuments"), "{stored}");
    assert!(!stored.contains(TAX_MARKER), "stored");
    assert!(!printed.contains(TAX_MARKER), "printed or logged");
}

#[tokio::test]
async fn boto3_gets_the_same_clusters_and_terms_as_the_rust_sdk_in_both_protocols() {
    if !boto3_available("boto3_gets_the_same_clusters_and_terms_as_the_rust_sdk_in_both_protocols")
    {
        return;
    }
    let sim = estate_simulator(10, 47, &["us-east-1"], 1, (5, 5)).await;
    sim.sim.advance(3);
    let client = outside_sdk_client(&sim.endpoint_url(), "us-east-1");
    let secs = |d: Option<&aws_sdk_snowball::primitives::DateTime>| d.map(|d| d.secs());
    let mut ours = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_clusters()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .expect("ListClusters");
        for entry in page.cluster_list_entries() {
            let id = entry.cluster_id().expect("an id");
            let described = client
                .describe_cluster()
                .cluster_id(id)
                .send()
                .await
                .expect("DescribeCluster");
            let metadata = described.cluster_metadata().expect("metadata");
            let jobs = client
                .list_cluster_jobs()
                .cluster_id(id)
                .send()
                .await
                .expect("ListClusterJobs");
            let mut members: Vec<&str> = jobs
                .job_list_entries()
                .iter()
                .filter_map(|j| j.job_id())
                .collect();
            members.sort();
            ours.push(serde_json::json!({
                "cluster_id": id,
                "state": entry.cluster_state().map(|s| s.as_str()),
                "creation_date": secs(entry.creation_date()),
                "description": entry.description(),
                "job_type": metadata.job_type().map(|t| t.as_str()),
                "snowball_type": metadata.snowball_type().map(|t| t.as_str()),
                "members": members,
            }));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let page = client
            .list_long_term_pricing()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .expect("ListLongTermPricing");
        for t in page.long_term_pricing_entries() {
            ours.push(serde_json::json!({
                "id": t.long_term_pricing_id(),
                "type": t.long_term_pricing_type().map(|v| v.as_str()),
                "start": secs(t.long_term_pricing_start_date()),
                "end": secs(t.long_term_pricing_end_date()),
                "auto_renew": t.is_long_term_pricing_auto_renew(),
                "status": t.long_term_pricing_status(),
                "snowball_type": t.snowball_type().map(|v| v.as_str()),
                "current_active_job": t.current_active_job(),
                "replacement_job": t.replacement_job(),
                "job_ids": t.job_ids(),
            }));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(ours.len(), 10, "{ours:?}");
    for protocol in ["json", "cbor"] {
        let theirs = outside_client(&["estate", &sim.endpoint_url(), "us-east-1", protocol]).await;
        assert_eq!(theirs, ours, "boto3 over {protocol}");
    }
}

#[tokio::test]
async fn watch_prints_cluster_state_changes_like_job_ones() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(0, 48, &["us-east-1"], 1, (1, 0)).await;
    let (_, (clusters, _)) = sim.sim.estates().into_iter().next().expect("an estate");
    let cluster = clusters[0].cluster_id.clone();
    sim.sim.set_cluster_state(&cluster, "Pending");
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), CLUSTERS);
    let mut json = crate::signals::Watch::start_as(&db.url, "json").await;
    let mut text = crate::signals::Watch::start_as(&db.url, "text").await;
    let run = sync_ok(&config).await;
    // The run, its five member jobs' first sightings, then the cluster's.
    let lines = json.lines(7).await;
    let run_line: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(run_line["cluster_transitions"], 1, "{run_line}");
    let last: serde_json::Value = serde_json::from_str(&lines[6]).expect("JSON");
    assert_eq!(
        (
            &last["event"],
            &last["run_id"],
            &last["cluster_id"],
            &last["from_state"],
            &last["to_state"]
        ),
        (
            &serde_json::json!("cluster_transition"),
            &serde_json::json!(run.run_id),
            &serde_json::json!(cluster),
            &serde_json::Value::Null,
            &serde_json::json!("Pending")
        )
    );
    let lines = text.lines(7).await;
    assert!(lines[0].contains(", 1 cluster transitions"), "{}", lines[0]);
    assert!(
        lines[6].ends_with(&format!(
            "run {} cluster {cluster}: (new) -> Pending",
            run.run_id
        )),
        "{}",
        lines[6]
    );
}

#[tokio::test]
async fn report_lists_clusters_with_their_members_states_and_terms_ending_lapsing_first_in_every_format()
 {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(0, 49, &["us-east-1"], 1, (1, 3)).await;
    let (_, (clusters, terms)) = sim.sim.estates().into_iter().next().expect("an estate");
    let cluster = clusters[0].cluster_id.clone();
    sim.sim.set_cluster_state(&cluster, "InUse");
    // Renews in 5 days; lapses in 40; lapses in 90 (beyond --renewal-within).
    for (term, days, auto_renew) in [
        (&terms[0], 5, true),
        (&terms[1], 40, false),
        (&terms[2], 90, false),
    ] {
        sim.sim.edit_term(&term.id, |t, now| {
            t.end = now + days * 86_400;
            t.auto_renew = auto_renew;
        });
    }
    sync_ok(&with_estate(
        sync_config(&db, &sim, &["us-east-1"]),
        EstateKinds::all(),
    ))
    .await;
    let report = |format: &'static str| {
        let url = db.url.clone();
        async move {
            let out = run_bin(&["report", "--format", format, "--database-url", &url], &[]).await;
            out.assert_code(0);
            out.stdout()
        }
    };
    let json: serde_json::Value = serde_json::from_str(&report("json").await).expect("JSON");
    let clusters = &json["clusters"];
    assert_eq!(clusters.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(clusters[0]["cluster_state"], "InUse");
    assert_eq!(clusters[0]["member_jobs"], 5);
    assert_eq!(clusters[0]["member_states"], "WithCustomer×5");
    let ending: Vec<(String, bool)> = json["terms_ending"]
        .as_array()
        .expect("terms_ending")
        .iter()
        .map(|t| {
            (
                t["long_term_pricing_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["lapses"] == true,
            )
        })
        .collect();
    assert_eq!(
        ending,
        [(terms[1].id.clone(), true), (terms[0].id.clone(), false)],
        "within 60 days, the lapsing one first"
    );
    let text = report("text").await;
    assert!(
        text.contains("WithCustomer×5") && text.contains(&terms[1].id),
        "{text}"
    );
    let csv = report("csv").await;
    assert!(
        csv.contains("terms_ending") && csv.contains(&cluster),
        "{csv}"
    );
    let html = report("html").await;
    let timeline = html
        .split("Long-term pricing terms, start to end")
        .nth(1)
        .expect("the terms' time line");
    assert!(timeline.contains(">today</text>"), "today is marked");
    let bars: Vec<&str> = timeline.split("<rect ").skip(1).take(3).collect();
    assert_eq!(bars.len(), 3, "every term not yet ended");
    // Red only for what the table marks lapsing (within --renewal-within),
    // first; then the rest by end date, the one lapsing after the window
    // blue like the renewing one.
    assert!(
        bars[0].contains("#d62728") && bars[0].contains(&terms[1].id),
        "{}",
        bars[0]
    );
    assert!(
        bars[1].contains("#1f77b4") && bars[1].contains(&terms[0].id),
        "{}",
        bars[1]
    );
    assert!(
        bars[2].contains("#1f77b4")
            && bars[2].contains(&terms[2].id)
            && bars[2].contains("no auto-renew, ends after --renewal-within"),
        "{}",
        bars[2]
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
}

#[tokio::test]
async fn a_database_of_the_release_before_clusters_and_terms_is_upgraded_with_no_history_row_added_or_lost()
 {
    // Written by the release before this one: a job's chained history, a
    // usage row and sealed runs.
    let db = TestDb::at_release("20261203100000").await;
    let account = account_id(0);
    sqlx::raw_sql(
        sqlx::AssertSqlSafe(&*"INSERT INTO snowball.sync_runs (regions, accounts, status, finished_at, tool_version)
         VALUES ('{us-east-1}', '{ACCOUNT}', 'succeeded', now(), '0.6.0'),
                ('{us-east-1}', '{ACCOUNT}', 'succeeded', now(), '0.6.0');
         INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since, last_sync_run_id, account_id)
         VALUES ('JIDold', 'WithCustomer', 'us-east-1', now(), now(), now(), 2, 'ACCOUNT');
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id, prev_hash, row_hash)
         SELECT 'JIDold', NULL, 'New', now() - interval '1 day', NULL, 1, NULL,
                snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', 1, now() - interval '1 day'),
                                            'JIDold', NULL, 'New', NULL, NULL);
         INSERT INTO snowball.device_usage_history (account_id, region, observed_at, sync_run_id, snowball_limit, snowballs_in_use, prev_hash, row_hash)
         SELECT 'ACCOUNT', 'us-east-1', now() - interval '1 day', 1, 10, 1, NULL,
                snowball.device_usage_row_hash(snowball.chain_prefix('snowball.device_usage_history', 1, now() - interval '1 day'),
                                               'ACCOUNT', 'us-east-1', 10, 1, NULL);
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id, prev_hash, row_hash)
         SELECT 'JIDold', 'New', 'WithCustomer', now(), now() - interval '1 day', 2, h.row_hash,
                snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', 2, now()),
                                            'JIDold', 'New', 'WithCustomer', now() - interval '1 day', h.row_hash)
           FROM snowball.job_state_history h WHERE h.job_id = 'JIDold';
         SELECT snowball.seal_run(1);
         SELECT snowball.seal_run(2);"
            .replace("ACCOUNT", &account)),
    )
    .execute(&db.pool)
    .await
    .expect("the previous release's rows");
    let sim = estate_simulator(15, 50, &["us-east-1"], 1, (2, 2)).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let rows = |table: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(&*format!(
                "SELECT row_hash FROM snowball.{table} ORDER BY id"
            )))
            .fetch_all(&pool)
            .await
            .expect("rows")
        }
    };
    let before = (
        rows("job_state_history").await,
        rows("device_usage_history").await,
    );
    let digests = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT digest FROM snowball.sync_runs ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("digests")
    };
    let sealed = digests().await;
    snowball_sync::db::MIGRATOR
        .run(&db.pool)
        .await
        .expect("this release's migrations");
    assert_eq!(
        (
            rows("job_state_history").await,
            rows("device_usage_history").await
        ),
        before,
        "no history row added or lost"
    );
    assert_eq!(digests().await, sealed, "the sealed digests are unchanged");
    let run = sync_ok(&with_estate(config, EstateKinds::all())).await;
    assert_eq!(run.totals.cluster_transitions, Some(2));
    assert_eq!(run.totals.pricing_changes, Some(2));
    crate::verification::assert_both_verify(&db.url, "estate::upgrade").await;
}

#[tokio::test]
async fn estate_listings_are_paged_by_the_tool_a_repeated_token_fails_them_and_an_invalid_one_restarts_once()
 {
    let db = TestDb::migrated().await;
    // More terms than one page of 100.
    let sim = estate_simulator(5, 51, &["us-east-1"], 1, (0, 150)).await;
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), PRICING);
    sim.sim.set_faults(Faults {
        repeat_tokens: true,
        ..Faults::default()
    });
    let err = sync(&config)
        .await
        .expect_err("the run does not succeed")
        .chain();
    assert!(
        err.contains("long-term pricing not read for")
            && err.contains("the service repeated a NextToken after 2 ListLongTermPricing pages"),
        "{err}"
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM snowball.long_term_pricing").await,
        0,
        "a listing that failed writes nothing"
    );
    sim.sim.set_faults(Faults {
        reject_tokens: 1,
        ..Faults::default()
    });
    let before = sim.sim.operation_counts();
    let run = sync_ok(&config).await;
    assert_eq!(run.totals.pricing_changes, Some(150));
    assert_eq!(
        calls_since(&before, &sim.sim.operation_counts())["ListLongTermPricing"],
        4,
        "page 1, page 2 refused, then both again"
    );
}

#[tokio::test]
async fn a_cluster_or_term_listed_by_several_us_regions_is_stored_once_and_described_once() {
    let db = TestDb::migrated().await;
    let regions = ["us-west-2", "us-east-1"];
    let sim = estate_simulator(5, 52, &regions, 1, (2, 2)).await;
    let config = with_estate(sync_config(&db, &sim, &regions), EstateKinds::all());
    let before = sim.sim.operation_counts();
    let run = sync_ok(&config).await;
    assert_eq!(run.totals.cluster_transitions, Some(2));
    assert_eq!(run.totals.pricing_changes, Some(2));
    let calls = calls_since(&before, &sim.sim.operation_counts());
    assert_eq!(calls["ListClusters"], 2, "each region lists");
    assert_eq!(calls["DescribeCluster"], 2, "each cluster described once");
    assert_eq!(
        calls["ListClusterJobs"], 2,
        "each cluster's jobs listed once"
    );
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT region, count(*) FROM (
           SELECT region FROM snowball.clusters UNION ALL SELECT region FROM snowball.long_term_pricing) r
          GROUP BY region",
    )
    .fetch_all(&db.pool)
    .await
    .expect("regions");
    assert_eq!(
        stored,
        [("us-east-1".to_owned(), 4)],
        "the first region name"
    );
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM snowball.clusters
              WHERE described_at IS NOT NULL AND metadata ? 'AddressId'"
        )
        .await,
        2,
        "whichever region described a cluster, its description is kept"
    );
    assert_eq!(
        sync_ok(&config).await.totals.cluster_transitions,
        Some(0),
        "listed twice, changed never"
    );
}

#[tokio::test]
async fn list_clusters_is_paged_by_the_tool_too_and_a_repeated_token_fails_it() {
    let db = TestDb::migrated().await;
    // More clusters than one page of 100.
    let sim = estate_simulator(0, 53, &["us-east-1"], 1, (105, 0)).await;
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), CLUSTERS);
    // The fault repeats every token, the jobs' (525 member jobs) as well.
    sim.sim.set_faults(Faults {
        repeat_tokens: true,
        ..Faults::default()
    });
    let err = sync(&config)
        .await
        .expect_err("the run does not succeed")
        .chain();
    assert!(
        err.contains(&format!(
            "clusters not read for {} us-east-1 (ListClusters: the service repeated a NextToken after 2 ListClusters pages; the listing would be truncated)",
            account_id(0)
        )),
        "{err}"
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM snowball.clusters").await,
        0,
        "a failed listing writes no cluster"
    );
    sim.sim.set_faults(Faults::default());
    let before = sim.sim.operation_counts();
    let run = sync_ok(&config).await;
    assert_eq!(run.totals.cluster_transitions, Some(105));
    let calls = calls_since(&before, &sim.sim.operation_counts());
    assert_eq!(calls["ListClusters"], 2, "{calls:?}");
    assert_eq!(calls["DescribeCluster"], 105);
}

#[tokio::test]
async fn a_changed_cluster_state_or_term_row_is_named_by_both_verifiers() {
    if !psycopg_available("estate::tampering") {
        return;
    }
    let db = TestDb::migrated().await;
    let sim = estate_simulator(0, 54, &["us-east-1"], 1, (1, 1)).await;
    sync_ok(&with_estate(
        sync_config(&db, &sim, &["us-east-1"]),
        EstateKinds::all(),
    ))
    .await;
    let (cluster_row, cluster): (i64, String) =
        sqlx::query_as("SELECT id, cluster_id FROM snowball.cluster_state_history")
            .fetch_one(&db.pool)
            .await
            .expect("a cluster row");
    let (term_row, term): (i64, String) =
        sqlx::query_as("SELECT id, long_term_pricing_id FROM snowball.long_term_pricing_history")
            .fetch_one(&db.pool)
            .await
            .expect("a term row");
    // As the superuser, triggers off.
    sqlx::raw_sql(
        "SET session_replication_role = replica;
         UPDATE snowball.cluster_state_history SET to_state = 'Forged';
         UPDATE snowball.long_term_pricing_history SET job_ids = job_ids || 'JIDforged'::text;",
    )
    .execute(&db.pool)
    .await
    .expect("tampering");
    let verdict = crate::verification::both_verify(&db.url, &[]).await;
    assert_eq!(verdict.code, 1);
    for line in [
        format!(
            "snowball.cluster_state_history row {cluster_row} (cluster {cluster}): row_hash does not match the row"
        ),
        format!(
            "snowball.long_term_pricing_history row {term_row} (term {term}): row_hash does not match the row"
        ),
    ] {
        assert!(
            verdict.problems.contains(&line),
            "{line} not in {:?}",
            verdict.problems
        );
    }
}

#[tokio::test]
async fn report_as_of_shows_clusters_usage_and_terms_as_they_were_and_marks_what_is_today() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(12, 47, &["us-east-1"], 1, (1, 1)).await;
    let (_, (clusters, terms)) = sim.sim.estates().into_iter().next().expect("an estate");
    let account = snowball_simulator::account_id(0);
    let (cluster, term) = (clusters[0].cluster_id.clone(), terms[0].id.clone());
    assert!(sim.sim.edit_term(&term, |t, now| {
        t.end = now + 10 * 86_400;
        t.auto_renew = true;
    }));
    sim.sim.set_usage_limit(&account, "us-east-1", 7);
    let config = with_estate(sync_config(&db, &sim, &["us-east-1"]), EstateKinds::all());
    sync_ok(&config).await;
    let report = |as_of: Option<String>| {
        let url = db.url.clone();
        async move {
            let mut args = vec![
                "report".to_owned(),
                "--database-url".to_owned(),
                url,
                "--format".to_owned(),
                "json".to_owned(),
                "--renewal-within".to_owned(),
                "400d".to_owned(),
            ];
            if let Some(at) = as_of {
                args.extend(["--as-of".to_owned(), at]);
            }
            let out = run_bin(&args, &[]).await;
            out.assert_code(0);
            serde_json::from_str::<serde_json::Value>(out.stdout().trim()).expect("JSON")
        }
    };
    let then = report(None).await;
    let between: String = sqlx::query_scalar(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    )
    .fetch_one(&db.pool)
    .await
    .expect("now");

    // Everything changes after that moment.
    let state_then = then["clusters"][0]["cluster_state"].clone();
    let other = match state_then.as_str() {
        Some("Complete") => "InUse",
        _ => "Complete",
    };
    assert!(sim.sim.set_cluster_state(&cluster, other));
    sim.sim.set_usage_limit(&account, "us-east-1", 11);
    assert!(sim.sim.edit_term(&term, |t, now| {
        t.end = now + 200 * 86_400;
        t.auto_renew = false;
    }));
    sync_ok(&config).await;
    let now = report(None).await;
    assert_eq!(now["clusters"][0]["cluster_state"], other);
    assert_eq!(now["device_usage"][0]["snowball_limit"], 11);

    let past = report(Some(between)).await;
    for section in ["clusters", "device_usage"] {
        assert_eq!(past[section], then[section], "{section}");
    }
    let terms = |r: &serde_json::Value| {
        r["terms_ending"]
            .as_array()
            .expect("terms")
            .iter()
            .map(|t| {
                (
                    t["long_term_pricing_id"].clone(),
                    t["auto_renew"].clone(),
                    t["end_date"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(terms(&past), terms(&then));
    assert_ne!(terms(&now), terms(&then));
    assert_eq!(past["states_from_history"], true);
    assert_eq!(
        past["sections_as_today"],
        serde_json::json!([
            "data_transfer",
            "shipments_in_transit",
            "jobs_lacking_reports",
            "sync_health"
        ])
    );
    assert_eq!(now["sections_as_today"], serde_json::json!([]));

    // Before anything was seen: no cluster, no usage, no term.
    let before = report(Some("1999-01-01T00:00:00Z".to_owned())).await;
    for section in ["clusters", "device_usage", "terms_ending"] {
        assert_eq!(before[section], serde_json::json!([]), "{section}");
    }
    // Text and CSV say which sections are today's too.
    let text = run_bin(
        &[
            "report",
            "--database-url",
            &db.url,
            "--as-of",
            "1999-01-01T00:00:00Z",
        ],
        &[],
    )
    .await;
    text.assert_code(0);
    assert_eq!(
        text.stdout()
            .matches("[as today: not kept in the history]")
            .count(),
        4,
        "{}",
        text.stdout()
    );
    let csv = run_bin(
        &[
            "report",
            "--database-url",
            &db.url,
            "--format",
            "csv",
            "--as-of",
            "1999-01-01T00:00:00Z",
        ],
        &[],
    )
    .await;
    csv.assert_code(0);
    assert!(
        csv.stdout()
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with(",as_today"),
        "{}",
        csv.stdout()
    );
}

#[tokio::test]
async fn the_html_report_colours_only_the_terms_its_table_marks_lapsing_and_wraps_wide_tables() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(6, 48, &["us-east-1"], 1, (0, 2)).await;
    let (_, (_, terms)) = sim.sim.estates().into_iter().next().expect("an estate");
    for (term, days) in [(&terms[0].id, 10), (&terms[1].id, 300)] {
        assert!(sim.sim.edit_term(term, |t, now| {
            t.end = now + days * 86_400;
            t.auto_renew = false;
        }));
    }
    sync_ok(&with_estate(
        sync_config(&db, &sim, &["us-east-1"]),
        PRICING,
    ))
    .await;
    let out = run_bin(
        &[
            "report",
            "--database-url",
            &db.url,
            "--format",
            "html",
            "--renewal-within",
            "60d",
        ],
        &[],
    )
    .await;
    out.assert_code(0);
    let html = out.stdout();
    // Two terms without auto-renew; only the one ending within 60 days lapses.
    assert_eq!(html.matches(r##"fill="#d62728""##).count(), 1, "{html}");
    assert_eq!(
        html.matches("lapses within --renewal-within").count(),
        1,
        "{html}"
    );
    // Every table scrolls inside its own box, never the page.
    assert_eq!(
        html.matches("<table>").count(),
        html.matches(r#"<div class="wide"><table>"#).count()
    );
    assert!(html.contains(".wide { overflow-x: auto; }"));
}

#[tokio::test]
async fn estate_dates_are_rounded_to_the_microsecond_as_postgresql_reads_them_and_a_rewrite_adds_no_row()
 {
    use chrono::{TimeZone, Utc};
    use snowball_sync::estate::{ClusterRecord, TermRecord};
    let db = TestDb::migrated().await;
    // Nanoseconds PostgreSQL cannot hold: it rounds them (to .123457), as it
    // did when these dates reached it inside JSON.
    let odd = Utc
        .timestamp_opt(1_800_000_000, 123_456_789)
        .single()
        .expect("a moment");
    let term = TermRecord {
        long_term_pricing_id: "LTPIDROUND".into(),
        pricing_type: Some("OneYear".into()),
        start_date: Some(odd),
        end_date: Some(odd),
        auto_renew: Some(false),
        status: Some("ACTIVE".into()),
        snowball_type: None,
        current_active_job: None,
        replacement_job: None,
        job_ids: vec!["JIDb".into(), "JIDa".into()],
    };
    let cluster = ClusterRecord {
        cluster_id: "CIDROUND".into(),
        cluster_state: "InUse".into(),
        creation_date: Some(odd),
        description: None,
        described: None,
    };
    let mut conn = db.pool.acquire().await.expect("a connection");
    let mut written = Vec::new();
    for _ in 0..2 {
        let run = snowball_sync::db::runs::start(
            &mut *conn,
            &["us-east-1".to_owned()],
            &["012345678900".to_owned()],
            None,
            snowball_sync::db::runs::MadeBy::Sync,
        )
        .await
        .expect("a run");
        let terms = snowball_sync::db::pricing::write(
            &mut *conn,
            run,
            &[("012345678900", "us-east-1", &term)],
        )
        .await
        .expect("the term is written");
        let clusters = snowball_sync::db::clusters::write(
            &mut *conn,
            run,
            &[("012345678900", "us-east-1", &cluster)],
        )
        .await
        .expect("the cluster is written");
        written.push((terms, clusters));
    }
    assert_eq!(
        written,
        [(1, 1), (0, 0)],
        "a rewrite of the same values adds no row"
    );
    let (end, created, job_ids): (bool, bool, Vec<String>) = sqlx::query_as(
        "SELECT t.end_date = '2027-01-15T08:00:00.123456789Z'::timestamptz
                AND t.end_date = '2027-01-15T08:00:00.123457Z'::timestamptz,
                c.creation_date = '2027-01-15T08:00:00.123457Z'::timestamptz,
                t.job_ids
           FROM snowball.long_term_pricing t, snowball.clusters c",
    )
    .fetch_one(&db.pool)
    .await
    .expect("the stored values");
    assert!(
        end && created,
        "stored as PostgreSQL reads the nanosecond text"
    );
    assert_eq!(job_ids, ["JIDb", "JIDa"], "job ids kept in their order");
}
