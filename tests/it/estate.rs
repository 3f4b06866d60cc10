//! The estate beyond jobs: device usage (`sync --include usage`,
//! GetSnowballUsage through the real SDK against the simulator).

use snowball_sync::config::SyncConfig;
use snowball_sync::simulator::{Faults, account_id};

use crate::support::*;

fn with_usage(mut config: SyncConfig) -> SyncConfig {
    config.usage = true;
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
    if psycopg_available("estate::device_usage") {
        let verdict = crate::verification::both_verify(&db.url, &[]).await;
        assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
    }
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
    let err = match sync(&config).await {
        Ok((summary, _)) => panic!("the run was {:?}, not partial", summary.status),
        Err(err) => err.chain(),
    };
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
        let config = aws_sdk_snowball::Config::builder()
            .behavior_version(aws_sdk_snowball::config::BehaviorVersion::latest())
            .region(aws_sdk_snowball::config::Region::new(region))
            .endpoint_url(sim.endpoint_url())
            .credentials_provider(aws_sdk_snowball::config::Credentials::new(
                "AKIDOUTSIDECLIENT",
                "outside-secret",
                None,
                None,
                "test",
            ))
            .build();
        let output = aws_sdk_snowball::Client::from_conf(config)
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
