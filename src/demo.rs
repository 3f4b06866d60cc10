//! `demo`: the real sync, run several times against an in-process simulator
//! (advancing the fleet between runs), then a look at what it recorded.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;

use crate::config::{AwsConfig, DatabaseConfig, DemoConfig, SyncConfig, describe_target};
use crate::db;
use crate::error::Error;
use crate::render::text_table;
use crate::values::Region;
use snowball_simulator::{Faults, FleetConfig, RunningSimulator, Simulator};

const DEMO_DATABASE: &str = "snowball_demo";
const CREATE_DEMO_DATABASE: &str = "CREATE DATABASE snowball_demo";
const REGION: &str = "us-east-1";
/// The role the demo assumes in each member account of the simulated organization.
const DEMO_ROLE: &str = "SnowballSyncReader";
/// Clusters and long-term pricing terms in each account's estate.
const DEMO_CLUSTERS: usize = 2;
const DEMO_TERMS: usize = 4;

pub async fn run(config: &DemoConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let database = match &config.database {
        Some(database) => {
            refuse_real_runs(database).await?;
            database.clone()
        }
        None => local_demo_database().await?,
    };
    writeln!(
        out,
        "snowball-sync demo: simulated Snowball fleet -> PostgreSQL ({})",
        database.target()
    )
    .ok();

    // Each demo sync is one tick of the simulated fleet. Continue from the runs
    // already recorded, so a second demo extends the history instead of
    // rewinding the fleet (which would record jobs moving backwards).
    let mut conn = db::connect_one(&database).await?;
    db::migrate(&mut conn).await?;
    let earlier = db::health::succeeded_runs(&mut conn).await?;
    let fleet = FleetConfig {
        accounts: config.accounts,
        clusters: DEMO_CLUSTERS,
        terms: DEMO_TERMS,
        ..FleetConfig::new(config.jobs, config.seed, vec![REGION.to_owned()])
    };
    let sim = Simulator::new(&fleet, Faults::default());
    sim.advance(earlier.max(0) as u64);
    let running = RunningSimulator::start(sim)
        .await
        .context("starting the simulator")?;
    writeln!(
        out,
        "simulator: {} account(s) of {} jobs, seed {}, serving {}\n",
        config.accounts,
        config.jobs,
        config.seed,
        running.endpoint_url()
    )
    .ok();

    let mut aws = AwsConfig::simulated(
        running.endpoint_url(),
        vec![Region::parse(REGION).map_err(|e| Error::Failed(anyhow::anyhow!(e)))?],
    );
    // One run for the whole organization, as in production.
    if config.accounts > 1 {
        aws.accounts.organization_role = Some(DEMO_ROLE.to_owned());
    }
    let sync = SyncConfig {
        migrate: false,
        // The demo reads everything (`--include all`): what DescribeJob adds
        // (shipments and data transfer), clusters, terms and device usage.
        details: Some(crate::limits::DEFAULT_DETAILS_CONCURRENCY),
        estate: crate::config::EstateKinds::all(),
        made_by: crate::db::runs::MadeBy::Demo,
        ..SyncConfig::new(database.clone(), aws)
    };
    for run in 1..=config.runs {
        if run > 1 {
            tokio::time::sleep(config.pause).await;
            running.sim.advance(1);
        }
        let mut quiet = std::io::sink();
        let summary = crate::sync::run(&sync, &mut quiet, std::future::pending())
            .await
            .map_err(|failure| failure.error)?;
        writeln!(out, "run {run}/{}: {summary}", config.runs).ok();
    }
    running.stop().await;

    show(&mut conn, out).await?;
    writeln!(
        out,
        "\nExplore further (connect with: psql {}):",
        psql_args(&database.connect)
    )
    .ok();
    for query in SUGGESTED_QUERIES {
        writeln!(out, "\n  {query}").ok();
    }
    Ok(())
}

const SUGGESTED_QUERIES: &[&str] = &[
    "-- what is on its way back to AWS?\n  SELECT job_id, snowball_type, state_since FROM snowball.jobs WHERE job_state = 'InTransitToAWS' ORDER BY state_since;",
    "-- every observed change of one job\n  SELECT from_state, to_state, observed_at, from_state_last_seen_at FROM snowball.job_state_history WHERE job_id = (SELECT job_id FROM snowball.jobs LIMIT 1) ORDER BY id;",
    "-- devices on their way, with tracking numbers (sync --details)\n  SELECT job_id, job_state, outbound_tracking_number, inbound_tracking_number FROM snowball.shipments ORDER BY job_state, job_id LIMIT 10;",
    "-- data moving into or out of S3, and how fast\n  SELECT job_id, percent_done, bytes_per_second FROM snowball.data_transfer_progress WHERE percent_done < 100 ORDER BY percent_done;",
    "-- long-term pricing terms, soonest end first; lapses: no auto-renew within 60 days\n  SELECT long_term_pricing_id, pricing_type, end_date, days_left, auto_renew, lapses FROM snowball.long_term_pricing_terms;",
    "-- how the syncs went\n  SELECT id, status, started_at, finished_at - started_at AS took, jobs_seen, transitions FROM snowball.sync_runs ORDER BY id DESC LIMIT 10;",
];

async fn show(conn: &mut sqlx::PgConnection, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let accounts = db::fleet::account_counts(&mut *conn, None, &[]).await?;
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.account_id.clone().unwrap_or_default(),
                a.jobs.to_string(),
                a.active.to_string(),
                a.missing.to_string(),
            ]
        })
        .collect();
    writeln!(
        out,
        "\nJobs by account now:\n{}",
        text_table(&["account_id", "jobs", "active", "missing"], &rows)
    )
    .ok();

    let mut by_state = std::collections::BTreeMap::<String, i64>::new();
    for count in db::fleet::state_counts(&mut *conn).await? {
        *by_state.entry(count.job_state).or_default() += count.jobs;
    }
    let mut by_state: Vec<(String, i64)> = by_state.into_iter().collect();
    by_state.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<String>> = by_state
        .into_iter()
        .map(|(state, jobs)| vec![state, jobs.to_string()])
        .collect();
    writeln!(
        out,
        "Jobs by state now:\n{}",
        text_table(&["job_state", "jobs"], &rows)
    )
    .ok();

    let latest = db::fleet::latest_transitions(&mut *conn, 8).await?;
    let rows: Vec<Vec<String>> = latest
        .iter()
        .map(|t| {
            vec![
                t.observed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                t.job_id.clone(),
                t.from_state.clone().unwrap_or_default(),
                t.to_state.clone(),
                t.sync_run_id.to_string(),
            ]
        })
        .collect();
    writeln!(
        out,
        "Latest transitions:\n{}",
        text_table(
            &["observed_at", "job_id", "from_state", "to_state", "run"],
            &rows
        )
    )
    .ok();

    // The job whose shipments and transfer changed most, or else the one
    // with the most states: its timeline, details interleaved.
    let job = match db::fleet::busiest_detail_job(&mut *conn).await? {
        Some(job) => Some(job),
        None => db::fleet::busiest_job(&mut *conn).await?,
    };
    if let Some(job_id) = job
        && let Some(history) = crate::history::History::load(&mut *conn, &job_id).await?
    {
        writeln!(
            out,
            "Timeline of {}",
            history.render(crate::format::TableFormat::Text)
        )
        .ok();
    }
    show_estate(conn, out).await
}

/// One cluster (the one that changed most), the terms ending soonest, and
/// the device usage.
async fn show_estate(
    conn: &mut sqlx::PgConnection,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let clusters = db::clusters::overview(&mut *conn, None, &[]).await?;
    let mut busiest: Option<(usize, crate::history::estate::ClusterHistory)> = None;
    for cluster in &clusters {
        if let Some(history) =
            crate::history::estate::ClusterHistory::load(&mut *conn, &cluster.cluster_id).await?
            && busiest
                .as_ref()
                .is_none_or(|(n, _)| history.stints.len() > *n)
        {
            busiest = Some((history.stints.len(), history));
        }
    }
    if let Some((_, history)) = busiest {
        writeln!(
            out,
            "\nCluster {}",
            history.render(crate::format::TableFormat::Text)
        )
        .ok();
    }
    let now = db::now(&mut *conn).await?;
    let mut terms = db::pricing::ending(
        &mut *conn,
        None,
        now,
        chrono::DateTime::<chrono::Utc>::MAX_UTC,
        &[],
    )
    .await?;
    terms.sort_by_key(|t| t.end_date);
    let rows: Vec<Vec<String>> = terms
        .iter()
        .take(5)
        .map(|t| {
            vec![
                t.long_term_pricing_id.clone(),
                t.pricing_type.clone().unwrap_or_default(),
                crate::render::text_time(t.end_date),
                t.days_left.to_string(),
                t.auto_renew.map(|a| a.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    writeln!(
        out,
        "Long-term pricing terms ending soonest:\n{}",
        text_table(
            &[
                "long_term_pricing_id",
                "type",
                "end_date",
                "days_left",
                "auto_renew"
            ],
            &rows
        )
    )
    .ok();
    let usage = db::usage::latest(&mut *conn, None, &[]).await?;
    let rows: Vec<Vec<String>> = usage
        .iter()
        .map(|u| {
            let figure = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
            vec![
                u.account_id.clone(),
                u.region.clone(),
                figure(u.snowball_limit),
                figure(u.snowballs_in_use),
                figure(u.headroom),
            ]
        })
        .collect();
    writeln!(
        out,
        "Device usage against the limit:\n{}",
        text_table(
            &["account_id", "region", "limit", "in_use", "headroom"],
            &rows
        )
    )
    .ok();
    Ok(())
}

/// The local `snowball_demo` database (libpq environment and defaults for
/// host and user), created when missing.
/// Refuses a database that holds runs the demo did not make: its simulated
/// accounts and transitions would mix with real ones (and the history
/// cannot be cleaned without a superuser). Checked before anything is
/// written, migrations included.
async fn refuse_real_runs(database: &DatabaseConfig) -> Result<(), Error> {
    let mut conn = db::connect_one(database).await?;
    let schema = sqlx::query!(
        r#"SELECT to_regclass('snowball.sync_runs') IS NOT NULL AS "runs!",
                  EXISTS (SELECT FROM pg_attribute
                           WHERE attrelid = to_regclass('snowball.sync_runs')
                             AND attname = 'made_by' AND NOT attisdropped) AS "made_by!""#
    )
    .fetch_one(&mut conn)
    .await
    .context("looking for runs the demo did not make")?;
    let real = match (schema.runs, schema.made_by) {
        (false, _) => 0,
        // Before made_by was recorded, no run was the demo's.
        (true, false) => sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.sync_runs"#)
            .fetch_one(&mut conn)
            .await
            .context("looking for runs the demo did not make")?,
        (true, true) => sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM snowball.sync_runs WHERE made_by <> 'demo'"#
        )
        .fetch_one(&mut conn)
        .await
        .context("looking for runs the demo did not make")?,
    };
    if real > 0 {
        return Err(Error::Usage(format!(
            "{} holds {real} sync run(s) the demo did not make; the demo writes only into a database of its own (leave out --database-url to use snowball_demo)",
            database.target()
        )));
    }
    Ok(())
}

async fn local_demo_database() -> Result<DatabaseConfig, Error> {
    let base = PgConnectOptions::new();
    let maintenance = DatabaseConfig {
        connect: base.clone().database("postgres"),
        connect_timeout: Duration::from_secs(5),
    };
    let mut conn = db::connect_one(&maintenance).await.map_err(|err| match err {
        Error::DatabaseUnreachable { target, source } => Error::DatabaseUnreachable {
            target,
            source: source.context(
                "the demo needs a PostgreSQL server; start one on this machine, or point the demo at one with PGHOST, PGPORT and PGUSER, or at a database of its own with --database-url",
            ),
        },
        other => other,
    })?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        DEMO_DATABASE
    )
    .fetch_one(&mut conn)
    .await
    .context("looking for the demo database")?;
    if !exists {
        // CREATE DATABASE takes no parameters; the name is a constant of ours.
        sqlx::query(CREATE_DEMO_DATABASE)
            .execute(&mut conn)
            .await
            .with_context(|| {
                format!(
                    "creating the {DEMO_DATABASE} database on {}",
                    describe_target(&maintenance.connect)
                )
            })?;
    }
    Ok(DatabaseConfig {
        connect: base.database(DEMO_DATABASE),
        connect_timeout: Duration::from_secs(5),
    })
}

/// How to reach the same database with psql, password left out.
fn psql_args(options: &PgConnectOptions) -> String {
    format!(
        "-h {} -p {} -U {} {}",
        options.get_host(),
        options.get_port(),
        options.get_username(),
        options.get_database().unwrap_or(DEMO_DATABASE)
    )
}
