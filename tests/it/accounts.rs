//! Many accounts, one database: identities, organizations, per-account
//! missing detection, partial runs and per-account locks.

use std::time::Duration;

use snowball_simulator::{Faults, account_id};

use crate::support::*;

/// `sync` of the simulator at `endpoint` into `db_url` over `regions`, then `extra`.
fn org_args(db_url: &str, endpoint: &str, regions: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["sync", "--database-url", db_url, "--endpoint-url", endpoint];
    for region in regions {
        args.extend(["--region", region]);
    }
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

async fn missing_jobs(pool: &sqlx::PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query!(
        "SELECT job_id, account_id FROM snowball.jobs WHERE missing_since IS NOT NULL ORDER BY job_id"
    )
    .fetch_all(pool)
    .await
    .expect("read missing jobs")
    .into_iter()
    .map(|r| (r.job_id, r.account_id))
    .collect()
}

#[tokio::test]
async fn two_accounts_synced_one_after_the_other_mark_nothing_missing() {
    let db = TestDb::empty().await;
    let sim = organization(50, 80, &["us-east-1"], 2, &[], Faults::default()).await;
    let endpoint = sim.endpoint_url();

    // One unit per account into one database: the base credentials' own
    // account, then a member account through its role.
    let first = run_bin(
        &org_args(&db.url, &endpoint, &["us-east-1"], &[]),
        &aws_test_env(),
    )
    .await;
    let role = role_arn(1);
    let second = run_bin(
        &org_args(&db.url, &endpoint, &["us-east-1"], &["--role-arn", &role]),
        &aws_test_env(),
    )
    .await;

    first.assert_code(0);
    second.assert_code(0);
    assert!(
        !second.stdout().contains("no longer listed"),
        "{}",
        second.stdout()
    );
    assert_eq!(missing_jobs(&db.pool).await, []);
    assert_eq!(
        jobs_by_account(&db.pool).await,
        [(account_id(0), 50), (account_id(1), 50)]
    );
    let runs = sqlx::query!("SELECT accounts FROM snowball.sync_runs ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("runs");
    let accounts: Vec<Option<Vec<String>>> = runs.into_iter().map(|r| r.accounts).collect();
    assert_eq!(
        accounts,
        [Some(vec![account_id(0)]), Some(vec![account_id(1)])]
    );
}

#[tokio::test]
async fn an_organization_run_lists_the_right_accounts_and_ends_partial_when_one_is_denied() {
    let db = TestDb::empty().await;
    // Accounts 0 (ours) to 4: 2 refuses AssumeRole, 3 is SUSPENDED, 4 is skipped.
    let faults = Faults {
        deny_assume_role: vec![account_id(2)],
        ..Faults::default()
    };
    let regions = ["us-east-1", "eu-west-1"];
    let sim = organization(30, 81, &regions, 5, &[3], faults).await;
    let skipped = account_id(4);
    let args = org_args(
        &db.url,
        &sim.endpoint_url(),
        &regions,
        &[
            "--organization-role",
            "SnowballSyncReader",
            "--skip-account",
            &skipped,
            "--output",
            "json",
        ],
    );

    let partial = run_bin(&args, &aws_test_env()).await;

    partial.assert_code(1);
    let error = partial.error_line();
    assert!(
        error.contains(&format!(
            "2 of 6 listings failed: {}: eu-west-1: assuming",
            account_id(2)
        )) && error.contains(&format!("{}: us-east-1: assuming", account_id(2)))
            && error.contains("AccessDenied"),
        "{error}"
    );
    let summary: serde_json::Value = serde_json::from_str(&partial.stdout()).expect("JSON");
    assert_eq!(summary["status"], "partial");
    assert_eq!(
        summary["accounts"],
        serde_json::json!([account_id(0), account_id(1), account_id(2)])
    );
    // Each account has its own fleets: the two US regions would share one,
    // but us-east-1 and eu-west-1 do not.
    assert_eq!(
        jobs_by_account(&db.pool).await,
        [(account_id(0), 60), (account_id(1), 60)]
    );
    let listings = sqlx::query!(
        "SELECT account_id, region, status, pages, jobs_seen, error IS NOT NULL AS \"has_error!\"
           FROM snowball.sync_run_listings ORDER BY account_id, region"
    )
    .fetch_all(&db.pool)
    .await
    .expect("listings");
    let listings: Vec<_> = listings
        .into_iter()
        .map(|l| {
            (
                l.account_id,
                l.region,
                l.status,
                l.pages,
                l.jobs_seen,
                l.has_error,
            )
        })
        .collect();
    let row = |a: usize, r: &str, ok: bool| {
        let (status, pages, seen) = if ok {
            ("succeeded", 1, 30)
        } else {
            ("failed", 0, 0)
        };
        (
            account_id(a),
            r.to_owned(),
            status.to_owned(),
            pages,
            seen,
            !ok,
        )
    };
    assert_eq!(
        listings,
        [
            row(0, "eu-west-1", true),
            row(0, "us-east-1", true),
            row(1, "eu-west-1", true),
            row(1, "us-east-1", true),
            row(2, "eu-west-1", false),
            row(2, "us-east-1", false),
        ]
    );
    let before = history(&db.pool).await;

    sim.sim.set_faults(Faults::default());
    let rerun = run_bin(&args, &aws_test_env()).await;

    rerun.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(&rerun.stdout()).expect("JSON");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["transitions"], 60, "only account 2's jobs are new");
    let after = history(&db.pool).await;
    assert_eq!(after[..before.len()], before[..], "no history row changed");
    assert_eq!(after.len(), before.len() + 60);
    assert_eq!(
        jobs_by_account(&db.pool).await,
        [
            (account_id(0), 60),
            (account_id(1), 60),
            (account_id(2), 60)
        ]
    );
    assert_eq!(missing_jobs(&db.pool).await, []);
}

#[tokio::test]
async fn a_job_of_an_account_whose_listing_failed_is_never_marked_missing() {
    let db = TestDb::migrated().await;
    let sim = organization(20, 82, &["us-east-1"], 2, &[], Faults::default()).await;
    sim.sim.replace_jobs(
        "us-east-1",
        vec![entry("JIDOWN-1", "New"), entry("JIDOWN-2", "New")],
    );
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.aws.accounts.organization_role = Some("SnowballSyncReader".into());
    sync_ok(&config).await;

    // Our account stops listing one job; the member account cannot be listed.
    sim.sim
        .replace_jobs("us-east-1", vec![entry("JIDOWN-1", "New")]);
    sim.sim.set_faults(Faults {
        deny_list_jobs: vec![account_id(1)],
        ..Faults::default()
    });
    let failure = snowball_sync::sync::run(&config, &mut Vec::new(), std::future::pending())
        .await
        .expect_err("one listing fails");

    let summary = failure.summary.expect("a recorded run");
    assert_eq!(summary.status.as_str(), "partial");
    assert_eq!(summary.missing, 1);
    assert!(
        failure.error.chain().contains(&format!(
            "{}: us-east-1: ListJobs request 1 failed: AccessDeniedException",
            account_id(1)
        )),
        "{}",
        failure.error.chain()
    );
    assert_eq!(
        missing_jobs(&db.pool).await,
        [("JIDOWN-2".to_owned(), Some(account_id(0)))]
    );
}

#[tokio::test]
async fn runs_over_disjoint_accounts_go_together_and_runs_sharing_one_exit_75() {
    let db = TestDb::migrated().await;
    // Slow pages keep each run busy while the other starts.
    let faults = Faults {
        page_latency: Duration::from_millis(300),
        ..Faults::default()
    };
    let sim = organization(250, 83, &["us-east-1"], 3, &[], faults).await;
    let endpoint = sim.endpoint_url();
    let (role1, role2) = (role_arn(1), role_arn(2));
    let own = org_args(&db.url, &endpoint, &["us-east-1"], &[]);
    let member = org_args(&db.url, &endpoint, &["us-east-1"], &["--role-arn", &role1]);
    let both = org_args(
        &db.url,
        &endpoint,
        &["us-east-1"],
        &["--role-arn", &role1, "--role-arn", &role2],
    );
    let env = aws_test_env();

    let (a, b) = tokio::join!(run_bin(&own, &env), run_bin(&member, &env));
    a.assert_code(0);
    b.assert_code(0);

    let (c, d) = tokio::join!(run_bin(&member, &env), run_bin(&both, &env));
    let mut codes = [c.output.status.code(), d.output.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(75)], "{}\n{}", c.stderr(), d.stderr());
    // The one that found the lock held listed nothing.
    let listings =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.sync_run_listings"#)
            .fetch_one(&db.pool)
            .await
            .expect("count listings");
    assert!(listings == 3 || listings == 4, "{listings}");
    assert_eq!(
        jobs_by_account(&db.pool).await.len(),
        if listings == 4 { 3 } else { 2 }
    );
}

#[tokio::test]
async fn a_database_of_the_previous_release_takes_accounts_without_losing_or_adding_history() {
    // The schema as the previous release left it: every migration before accounts.
    let db = TestDb::at_release("20261129100000").await;
    // What that release wrote: a run, three jobs and their first sightings.
    sqlx::raw_sql(
        "INSERT INTO snowball.sync_runs (regions, status, finished_at, jobs_seen, jobs_new, transitions, tool_version)
         VALUES ('{us-east-1}', 'succeeded', now(), 3, 3, 3, '0.1.0');
         INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since, last_sync_run_id)
         VALUES ('JIDOLD-1', 'New', 'us-east-1', now(), now(), now(), 1),
                ('JIDOLD-2', 'New', 'us-east-1', now(), now(), now(), 1),
                ('JIDOLD-3', 'New', 'us-east-1', now(), now(), now(), 1);
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, sync_run_id)
         VALUES ('JIDOLD-1', NULL, 'New', now(), 1),
                ('JIDOLD-2', NULL, 'New', now(), 1),
                ('JIDOLD-3', NULL, 'New', now(), 1);",
    )
    .execute(&db.pool)
    .await
    .expect("the previous release's rows");
    let before = history(&db.pool).await;
    let sim = simulator(0, 84, &["us-east-1"]).await;
    // Job 1 is unchanged, job 2 moved on, job 3 is no longer listed.
    sim.sim.replace_jobs(
        "us-east-1",
        vec![
            entry("JIDOLD-1", "New"),
            entry("JIDOLD-2", "PreparingAppliance"),
        ],
    );

    let summary = sync_ok(&sync_config(&db, &sim, &["us-east-1"])).await;

    let after = history(&db.pool).await;
    assert_eq!(after[..3], before[..], "no history row lost or changed");
    assert_eq!(
        after[3..],
        [(
            "JIDOLD-2".to_owned(),
            Some("New".to_owned()),
            "PreparingAppliance".to_owned(),
            summary.run_id
        )]
    );
    let jobs = sqlx::query!("SELECT job_id, account_id, missing_since IS NOT NULL AS \"missing!\" FROM snowball.jobs ORDER BY job_id")
        .fetch_all(&db.pool)
        .await
        .expect("jobs");
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|j| (j.job_id, j.account_id, j.missing))
        .collect();
    // Job 3's account is unknown: it is never marked missing by a run that
    // cannot know it was that account's.
    assert_eq!(
        jobs,
        [
            ("JIDOLD-1".to_owned(), Some(account_id(0)), false),
            ("JIDOLD-2".to_owned(), Some(account_id(0)), false),
            ("JIDOLD-3".to_owned(), None, false),
        ]
    );
}

#[tokio::test]
async fn views_and_report_are_per_account_and_report_account_filters() {
    let db = TestDb::migrated().await;
    let sim = organization(
        40,
        85,
        &["us-east-1", "us-west-2"],
        2,
        &[],
        Faults::default(),
    )
    .await;
    let mut config = sync_config(&db, &sim, &["us-east-1", "us-west-2"]);
    config.aws.accounts.organization_role = Some("SnowballSyncReader".into());
    let summary = sync_ok(&config).await;
    let (a0, a1) = (account_id(0), account_id(1));

    // Two US regions list the same jobs: each account's jobs are stored once.
    assert_eq!(summary.totals.jobs_seen, 80);
    assert_eq!(summary.listings.len(), 4);
    let counts = sqlx::query!(
        r#"SELECT account_id AS "account_id!", sum(jobs)::bigint AS "jobs!"
             FROM snowball.state_counts GROUP BY 1 ORDER BY 1"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("state counts");
    let counts: Vec<(String, i64)> = counts.into_iter().map(|r| (r.account_id, r.jobs)).collect();
    assert_eq!(counts, [(a0.clone(), 40), (a1.clone(), 40)]);
    let unattributed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM snowball.job_state_intervals i JOIN snowball.jobs j USING (job_id)
            WHERE i.account_id IS DISTINCT FROM j.account_id"#
    )
    .fetch_one(&db.pool)
    .await
    .expect("intervals");
    assert_eq!(unattributed, 0);
    let stuck_accounts = sqlx::query_scalar!(
        r#"SELECT DISTINCT account_id AS "a!" FROM snowball.stuck_jobs ORDER BY 1"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("stuck jobs");
    assert_eq!(stuck_accounts, [a0.clone(), a1.clone()]);

    let report = run_bin(
        &[
            "report",
            "--database-url",
            &db.url,
            "--format",
            "json",
            "--stuck-after",
            "0s",
            "--account",
            &a1,
        ],
        &[],
    )
    .await;

    report.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&report.stdout()).expect("JSON");
    assert_eq!(json["accounts"], serde_json::json!([a1]));
    assert_eq!(json["jobs_by_account"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["jobs_by_account"][0]["account_id"], a1);
    assert_eq!(json["jobs_by_account"][0]["jobs"], 40);
    let by_state: i64 = json["jobs_by_state"]
        .as_array()
        .expect("jobs_by_state")
        .iter()
        .filter_map(|c| c["jobs"].as_i64())
        .sum();
    assert_eq!(by_state, 40);
    let stuck = json["stuck_jobs"].as_array().expect("stuck_jobs");
    assert!(!stuck.is_empty());
    assert!(stuck.iter().all(|j| j["account_id"] == a1), "{stuck:?}");

    let bad = run_bin(
        &["report", "--database-url", &db.url, "--account", "12345"],
        &[],
    )
    .await;
    bad.assert_code(2);
    assert!(
        bad.error_line()
            .contains("--account \"12345\" is not a 12-digit account id")
    );
    // A well-formed account the database has never seen: not an empty report.
    let unknown = run_bin(
        &[
            "report",
            "--database-url",
            &db.url,
            "--account",
            "999999999999",
        ],
        &[],
    )
    .await;
    unknown.assert_code(2);
    assert!(
        unknown
            .error_line()
            .contains("--account 999999999999: no job, cluster, term or run of this account"),
        "{}",
        unknown.stderr()
    );
}

#[tokio::test]
async fn boto3_lists_the_organization_and_its_jobs_as_the_rust_sdks_do() {
    if !boto3_available("boto3_lists_the_organization_and_its_jobs_as_the_rust_sdks_do") {
        return;
    }
    let db = TestDb::migrated().await;
    // 25 accounts: ListAccounts takes two pages of at most 20.
    let sim = organization(30, 86, &["us-east-1"], 25, &[7], Faults::default()).await;
    sim.sim.advance(2);
    let mut config = sync_config(&db, &sim, &["us-east-1"]);
    config.aws.accounts.organization_role = Some("SnowballSyncReader".into());
    let summary = sync_ok(&config).await;

    let lines = outside_client(&[
        "organization",
        &sim.endpoint_url(),
        "us-east-1",
        "SnowballSyncReader",
    ])
    .await;
    let active: Vec<String> = lines
        .iter()
        .filter(|l| l["state"] == "ACTIVE")
        .map(|l| l["account"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.get("state").is_some()).count(),
        25
    );
    assert_eq!(
        active, summary.accounts,
        "the accounts the Rust SDKs listed"
    );
    let mut theirs: Vec<(String, String, String)> = lines
        .iter()
        .filter(|l| l.get("job_id").is_some())
        .map(|l| {
            let text = |k: &str| l[k].as_str().expect("text").to_owned();
            (text("account"), text("job_id"), text("job_state"))
        })
        .collect();
    theirs.sort();
    let ours: Vec<(String, String, String)> = sqlx::query!(
        r#"SELECT account_id AS "account_id!", job_id, job_state FROM snowball.jobs ORDER BY 1, 2, 3"#
    )
    .fetch_all(&db.pool)
    .await
    .expect("jobs")
    .into_iter()
    .map(|r| (r.account_id, r.job_id, r.job_state))
    .collect();
    assert!(theirs.len() >= 24 * 30, "{} jobs", theirs.len());
    assert_eq!(theirs, ours);
}

#[test]
fn the_iam_policies_grant_exactly_what_the_tool_calls() {
    let contrib = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib");
    let actions = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{contrib}/{file}")).expect("the policy");
        let policy: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let mut actions: Vec<String> = policy["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .map(|s| s["Action"].as_str().expect("one action").to_owned())
            .collect();
        actions.sort();
        actions
    };
    assert_eq!(actions("iam-policy.json"), ["snowball:ListJobs"]);
    assert_eq!(
        actions("iam-policy-details.json"),
        ["snowball:DescribeJob", "snowball:ListJobs"]
    );
    assert_eq!(
        actions("iam-policy-estate.json"),
        [
            "snowball:DescribeCluster",
            "snowball:DescribeJob",
            "snowball:GetSnowballUsage",
            "snowball:ListClusterJobs",
            "snowball:ListClusters",
            "snowball:ListJobs",
            "snowball:ListLongTermPricing"
        ]
    );
    assert_eq!(
        actions("iam-member-role-policy.json"),
        ["snowball:ListJobs"]
    );
    assert_eq!(
        actions("iam-member-role-trust-policy.json"),
        ["sts:AssumeRole"]
    );
    assert_eq!(
        actions("iam-organization-caller-policy.json"),
        [
            "organizations:ListAccounts",
            "snowball:ListJobs",
            "sts:AssumeRole"
        ]
    );
}

#[tokio::test]
async fn simulate_serves_an_organization_that_one_sync_lists_whole() {
    let db = TestDb::empty().await;
    let (mut child, endpoint) =
        spawn_simulate(&["--accounts", "3", "--suspend-account", "2", "--jobs", "20"]).await;

    let out = run_bin(
        &org_args(
            &db.url,
            &endpoint,
            &["us-east-1"],
            &[
                "--organization-role",
                "SnowballSyncReader",
                "--output",
                "json",
            ],
        ),
        &aws_test_env(),
    )
    .await;

    out.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout()).expect("JSON");
    assert_eq!(
        summary["accounts"],
        serde_json::json!([account_id(0), account_id(1)]),
        "the SUSPENDED account is left out"
    );
    assert_eq!(
        jobs_by_account(&db.pool).await,
        [(account_id(0), 20), (account_id(1), 20)]
    );
    child.kill().await.ok();
}

#[tokio::test]
async fn per_service_endpoint_variables_reach_snowball_sts_and_organizations() {
    let db = TestDb::empty().await;
    let sim = organization(10, 87, &["us-east-1"], 2, &[], Faults::default()).await;
    let endpoint = sim.endpoint_url();
    let mut env = aws_test_env();
    for name in [
        "AWS_ENDPOINT_URL_SNOWBALL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_ORGANIZATIONS",
    ] {
        env.push((name, endpoint.clone()));
    }
    let args: Vec<String> = [
        "sync",
        "--database-url",
        &db.url,
        "--region",
        "us-east-1",
        "--organization-role",
        "SnowballSyncReader",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let out = run_bin(&args, &env).await;

    out.assert_code(0);
    assert_eq!(
        jobs_by_account(&db.pool).await,
        [(account_id(0), 10), (account_id(1), 10)]
    );
}
