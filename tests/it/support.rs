//! Shared test plumbing: a fresh database per test, the project's simulator
//! on a loopback port, sync configurations, and the built binary.

use std::process::Output;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use snowball_simulator::{Faults, FleetConfig, JobEntry, RunningSimulator, Simulator};
use snowball_sync::config::{AwsConfig, DatabaseConfig, SyncConfig};
use snowball_sync::sync::RunSummary;
use snowball_sync::values::{Region, RoleArn};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The server tests create their databases on; DATABASE_URL when set.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Logs of the code under test, shown when TEST_LOG is set (e.g. TEST_LOG=debug).
fn init_logging() {
    if let Ok(level) = std::env::var("TEST_LOG") {
        let filter = tracing_subscriber::EnvFilter::new(format!("warn,snowball_sync={level}"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// A database of its own for one test, dropped when the test passes and kept
/// for inspection when it fails.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// A fresh database with the migrations applied.
    pub async fn migrated() -> TestDb {
        let db = TestDb::empty().await;
        snowball_sync::db::MIGRATOR
            .run(&db.pool)
            .await
            .expect("migrations apply to a fresh database");
        db
    }

    /// A fresh database with the schema an earlier release left: every
    /// migration before `first_new` (a migration's version prefix).
    pub async fn at_release(first_new: &str) -> TestDb {
        let db = TestDb::empty().await;
        let previous = tempfile::tempdir().expect("a temporary directory");
        let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        for file in std::fs::read_dir(migrations).expect("the migrations") {
            let path = file.expect("a migration").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name < first_new {
                std::fs::copy(&path, previous.path().join(name)).expect("copy a migration");
            }
        }
        sqlx::migrate::Migrator::new(previous.path())
            .await
            .expect("the previous release's migrations")
            .run(&db.pool)
            .await
            .expect("the previous release's schema");
        db
    }

    /// A fresh, empty database.
    pub async fn empty() -> TestDb {
        TestDb::create(None).await
    }

    /// A copy of the database `template`; its sessions (its own pool's
    /// included) are ended.
    pub async fn copy_of(template: &str) -> TestDb {
        TestDb::create(Some(template)).await
    }

    async fn create(template: Option<&str>) -> TestDb {
        init_logging();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "snowball_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos
        );
        let admin = PgPool::connect(&admin_url())
            .await
            .expect("PostgreSQL answers at DATABASE_URL (default 127.0.0.1:5432)");
        // The name is ours (digits and underscores): nothing to inject.
        let template_name = template.unwrap_or_default().to_owned();
        let template = template.map_or_else(String::new, |t| format!(" TEMPLATE {t}"));
        let create = format!("CREATE DATABASE {name}{template}");
        // A template must have no session: its pool's idle connections, or
        // a server process still exiting after its client left (55006,
        // "being accessed by other users"), are ended first.
        let mut attempts = 0;
        while let Err(err) = sqlx::query(sqlx::AssertSqlSafe(&*create))
            .execute(&admin)
            .await
        {
            let busy = err
                .as_database_error()
                .is_some_and(|e| e.code().as_deref() == Some("55006"));
            attempts += 1;
            assert!(busy && attempts < 50, "create test database: {err}");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&template_name)
            .execute(&admin)
            .await
            .expect("end the template's sessions");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await;
        let url = database_url(&admin_url(), &name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(PgConnectOptions::from_str(&url).expect("test database URL"))
            .await
            .expect("connect to the test database");
        TestDb { name, url, pool }
    }

    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            connect: PgConnectOptions::from_str(&self.url).expect("test database URL"),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept database {} for inspection", self.name);
            return;
        }
        let name = self.name.clone();
        // Drop cannot await; a short-lived runtime on its own thread can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = PgPool::connect(&admin_url()).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(&*format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await
                .ok()
            })
        });
        dropped.join().ok();
    }
}

/// `url` with its database replaced by `name`.
pub fn database_url(url: &str, name: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a path");
    format!("{prefix}/{name}")
}

/// The simulator with a generated fleet, serving on a loopback port.
pub async fn simulator(jobs: usize, seed: u64, regions: &[&str]) -> RunningSimulator {
    simulator_with_faults(jobs, seed, regions, Faults::default()).await
}

pub async fn simulator_with_faults(
    jobs: usize,
    seed: u64,
    regions: &[&str],
    faults: Faults,
) -> RunningSimulator {
    let fleet = FleetConfig::new(jobs, seed, regions.iter().map(|r| r.to_string()).collect());
    RunningSimulator::start(Simulator::new(&fleet, faults))
        .await
        .expect("simulator binds a loopback port")
}

/// A sync of `regions` from `sim` into `db`, with test credentials and short
/// retry delays.
pub fn sync_config(db: &TestDb, sim: &RunningSimulator, regions: &[&str]) -> SyncConfig {
    let regions = regions
        .iter()
        .map(|r| Region::parse(r).expect("a region name"))
        .collect();
    let aws = AwsConfig {
        max_attempts: 5,
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(60),
        initial_backoff: Duration::from_millis(5),
        ..AwsConfig::simulated(sim.endpoint_url(), regions)
    };
    SyncConfig::new(db.config(), aws)
}

/// Runs a sync in-process; its dry-run output is returned beside the summary.
pub async fn sync(config: &SyncConfig) -> Result<(RunSummary, String), snowball_sync::Error> {
    let mut out = Vec::new();
    let summary = snowball_sync::sync::run(config, &mut out, std::future::pending())
        .await
        .map_err(|failure| failure.error)?;
    Ok((summary, String::from_utf8_lossy(&out).into_owned()))
}

pub async fn sync_ok(config: &SyncConfig) -> RunSummary {
    match sync(config).await {
        Ok((summary, _)) => summary,
        Err(err) => panic!("sync failed: {}", err.chain()),
    }
}

/// A ListJobs entry as the service would send it.
pub fn entry(job_id: &str, state: &str) -> JobEntry {
    JobEntry {
        job_id: job_id.to_owned(),
        job_state: state.to_owned(),
        job_type: Some("IMPORT".into()),
        snowball_type: Some("EDGE".into()),
        is_master: false,
        creation_date: Some(1_700_000_000),
        description: Some(format!("test job {job_id}")),
    }
}

/// History rows in write order: (job_id, from_state, to_state, sync_run_id).
pub async fn history(pool: &PgPool) -> Vec<(String, Option<String>, String, i64)> {
    sqlx::query!("SELECT job_id, from_state, to_state, sync_run_id FROM snowball.job_state_history ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("read history")
        .into_iter()
        .map(|r| (r.job_id, r.from_state, r.to_state, r.sync_run_id))
        .collect()
}

pub async fn count_jobs(pool: &PgPool) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM snowball.jobs"#)
        .fetch_one(pool)
        .await
        .expect("count jobs")
}

/// Environment for running the binary against the simulator, isolated from
/// any AWS configuration on the machine.
pub fn aws_test_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIDSNOWBALLTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/snowball-sync-test/config".into(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/snowball-sync-test/credentials".into(),
        ),
    ]
}

/// Arguments for `sync` from the simulator at `endpoint` into `db_url`
/// (region us-east-1), then `extra`.
pub fn sync_args(db_url: &str, endpoint: &str, extra: &[&str]) -> Vec<String> {
    let base = [
        "sync",
        "--database-url",
        db_url,
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// The built binary, run to completion with a clean environment of our choosing.
pub async fn run_bin<S: AsRef<str>>(args: &[S], env: &[(&str, String)]) -> BinOutput {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_snowball-sync"));
    command
        .args(&args)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the binary finishes within 2 minutes")
        .expect("the binary starts");
    BinOutput {
        command: format!("snowball-sync {}", args.join(" ")),
        output,
    }
}

pub struct BinOutput {
    pub command: String,
    pub output: Output,
}

impl BinOutput {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Checks the exit code, printing everything a reader needs when it is wrong.
    pub fn assert_code(&self, expected: i32) -> &Self {
        let code = self.output.status.code();
        assert_eq!(
            code,
            Some(expected),
            "\ncommand: {}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The error line: stderr's last line, which must start with the tool's name.
    pub fn error_line(&self) -> String {
        let stderr = self.stderr();
        let line = stderr.lines().last().unwrap_or_default().to_owned();
        assert!(
            line.starts_with("snowball-sync: "),
            "{}: stderr was\n{stderr}",
            self.command
        );
        assert!(
            !stderr.contains("panicked"),
            "{}: panicked\n{stderr}",
            self.command
        );
        line
    }
}

/// A bare HTTP/1.1 request to the simulator's control routes; the body of the answer.
pub async fn control(endpoint: &str, method: &str, path: &str) -> serde_json::Value {
    let address = endpoint.trim_start_matches("http://");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let response = raw_http(endpoint, &request, b"").await;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {response}"))
}

/// One raw HTTP exchange with the simulator: `head` (request line and
/// headers), then `body`; the whole response, status line first, as read
/// within 10 s.
pub async fn raw_http(endpoint: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the simulator answers");
    stream.write_all(head.as_bytes()).await.expect("send");
    // The server may answer (and close) before the whole body is sent.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// The built binary, started with piped stdout and stderr and the test AWS
/// environment; killed when dropped.
pub fn spawn_bin(args: &[String]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_snowball-sync"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .kill_on_drop(true);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in aws_test_env() {
        command.env(key, value);
    }
    command.spawn().expect("the binary starts")
}

/// The simulator with an organization of `accounts` accounts (the
/// `suspended` indexes SUSPENDED), each with its own fleets.
pub async fn organization(
    jobs: usize,
    seed: u64,
    regions: &[&str],
    accounts: usize,
    suspended: &[usize],
    faults: Faults,
) -> RunningSimulator {
    let fleet = FleetConfig {
        accounts,
        suspended: suspended.to_vec(),
        ..FleetConfig::new(jobs, seed, regions.iter().map(|r| r.to_string()).collect())
    };
    RunningSimulator::start(Simulator::new(&fleet, faults))
        .await
        .expect("simulator binds a loopback port")
}

/// The Rust SDK's Snowball client as an outside client (the credentials the
/// boto3 parity tests' client uses) of the simulator at `endpoint`.
pub fn outside_sdk_client(endpoint: &str, region: &str) -> aws_sdk_snowball::Client {
    let config = aws_sdk_snowball::Config::builder()
        .behavior_version(aws_sdk_snowball::config::BehaviorVersion::latest())
        .region(aws_sdk_snowball::config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_snowball::config::Credentials::new(
            "AKIDOUTSIDECLIENT",
            "outside-secret",
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_snowball::Client::from_conf(config)
}

/// The simulator with `clusters` clusters and `terms` long-term pricing
/// terms in each account's region, beside `jobs` jobs.
pub async fn estate_simulator(
    jobs: usize,
    seed: u64,
    regions: &[&str],
    accounts: usize,
    (clusters, terms): (usize, usize),
) -> RunningSimulator {
    let fleet = FleetConfig {
        accounts,
        clusters,
        terms,
        ..FleetConfig::new(jobs, seed, regions.iter().map(|r| r.to_string()).collect())
    };
    RunningSimulator::start(Simulator::new(&fleet, Faults::default()))
        .await
        .expect("simulator binds a loopback port")
}

/// The role the tests assume in a simulated account.
pub fn role_arn(account_index: usize) -> String {
    format!(
        "arn:aws:iam::{}:role/SnowballSyncReader",
        snowball_simulator::account_id(account_index)
    )
}

/// Jobs per account, as (account_id, jobs), NULL accounts as "".
pub async fn jobs_by_account(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query!(
        r#"SELECT coalesce(account_id, '') AS "account!", count(*) AS "n!"
             FROM snowball.jobs GROUP BY 1 ORDER BY 1"#
    )
    .fetch_all(pool)
    .await
    .expect("count jobs by account")
    .into_iter()
    .map(|r| (r.account, r.n))
    .collect()
}

/// `snowball-sync simulate` on a free port, and the endpoint it printed.
pub async fn spawn_simulate(extra: &[&str]) -> (tokio::process::Child, String) {
    spawn_simulate_of(env!("CARGO_BIN_EXE_snowball-sync"), extra).await
}

/// `simulate` of the binary at `program` (an installed one, say).
pub async fn spawn_simulate_of(program: &str, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(program)
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("simulate starts");
    let endpoint = simulator_endpoint(&mut child).await;
    (child, endpoint)
}

/// The endpoint a started `simulate` prints as its first stdout line.
pub async fn simulator_endpoint(child: &mut tokio::process::Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("an address within 20 s")
        .expect("read stdout")
        .expect("a line");
    let endpoint = first.rsplit(' ').next().expect("an address").to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{first}");
    endpoint
}

/// Whether a test may skip for want of `what`: false, and a line saying so,
/// on a developer's machine; a failure under CI=true, where a skipped test
/// would make a green run prove less than it says.
pub fn skipped(test: &str, what: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {what}; CI=true, so this fails instead of skipping");
    }
    eprintln!("SKIPPED {test}: {what}");
    true
}

/// Whether python3 can import psycopg (contrib/verify-history.py needs it);
/// fails under CI=true when not.
pub fn psycopg_available(test: &str) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", "import psycopg"])
        .output()
        .is_ok_and(|o| o.status.success());
    available || !skipped(test, "python3 with psycopg (pip install 'psycopg[binary]')")
}

/// A sync of the member accounts `accounts` (their roles), waiting for locks.
pub fn member_sync(config: &SyncConfig, accounts: &[usize]) -> SyncConfig {
    let mut config = config.clone();
    config.wait_lock = true;
    config.aws.accounts.role_arns = accounts
        .iter()
        .map(|i| RoleArn::parse(&role_arn(*i)).expect("a role ARN"))
        .collect();
    config
}

/// Whether python3 can import boto3; says the test was skipped when not
/// (and fails under CI=true).
pub fn boto3_available(test: &str) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    available || !skipped(test, "python3 with boto3 (pip install boto3)")
}

/// The simulator serving exactly these us-east-1 jobs, which move only when
/// a test sets their state.
pub async fn simulator_with_jobs(seed: u64, jobs: Vec<JobEntry>) -> RunningSimulator {
    let sim = simulator(0, seed, &["us-east-1"]).await;
    sim.sim.replace_jobs("us-east-1", jobs);
    sim
}

/// Checks that the database refuses to rewrite an append-only table:
/// UPDATE (setting `assignment`), DELETE and TRUNCATE all fail, naming it.
pub async fn assert_append_only(pool: &PgPool, table: &str, assignment: &str) {
    // The table and assignment are the tests' own literals: nothing to inject.
    let attempts = [
        ("UPDATE", format!("UPDATE {table} SET {assignment}")),
        ("DELETE", format!("DELETE FROM {table}")),
        ("TRUNCATE", format!("TRUNCATE {table} CASCADE")),
    ];
    for (what, sql) in attempts {
        let err = sqlx::query(sqlx::AssertSqlSafe(&*sql))
            .execute(pool)
            .await
            .expect_err(what);
        assert!(
            err.to_string().contains(&format!("{table} is append-only")),
            "{what}: {err}"
        );
    }
}

/// Runs tests/outside_client.py (boto3) with `args`; its JSON lines.
pub async fn outside_client<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<serde_json::Value> {
    outside_client_in(args, &[]).await
}

/// `outside_client` with `env` added to the environment (AWS_PROFILE
/// removed first, so boto3 resolves only what the test gives it).
pub async fn outside_client_in<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, String)],
) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/outside_client.py");
    let mut command = tokio::process::Command::new("python3");
    command.arg(script).args(args).env_remove("AWS_PROFILE");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.expect("python3 runs");
    assert!(
        output.status.success(),
        "boto3 failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Whether `tool` is missing (and the test may skip); fails under CI=true
/// when it is.
pub fn skipped_without(tool: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    !found && skipped(test, tool)
}
