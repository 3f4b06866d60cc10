//! The validated configuration. Built once from the command line and the
//! environment; the rest of the program never sees clap.
//!
//! Large because it validates every command's settings, each flag against its
//! range, in one place.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use crate::cli::{self, Cli};
use crate::error::Error;
use crate::format;
use crate::limits;
use crate::values::{AccountId, Region, RoleArn, Span, first_occurrences};

/// What to do, with everything it needs already checked.
#[derive(Debug, Clone)]
pub enum Config {
    Sync(Box<SyncConfig>),
    Migrate(DatabaseConfig),
    Simulate(SimulatorConfig),
    Demo(DemoConfig),
    History(HistoryConfig),
    Evidence(EvidenceConfig),
    Report(ReportConfig),
    Watch(WatchConfig),
    Verify(VerifyConfig),
    Completions(format::Shell),
    /// None: the top page on stdout; Some: every page into that directory.
    Man(Option<std::path::PathBuf>),
}

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub database: DatabaseConfig,
    pub job_id: String,
    pub format: format::TableFormat,
}

#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    pub database: DatabaseConfig,
    pub jobs: EvidenceJobs,
    pub out: std::path::PathBuf,
}

/// Which jobs `evidence` writes folders for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceJobs {
    One(String),
    CompletedSince(crate::values::Span),
}

#[derive(Debug, Clone)]
pub struct VerifyConfig {
    pub database: DatabaseConfig,
    /// Digests kept outside the database, by run id; one per run.
    pub anchors: Vec<(i64, [u8; 32])>,
    pub output: format::OutputFormat,
}

impl VerifyConfig {
    fn from_args(args: cli::VerifyArgs) -> Result<VerifyConfig, Error> {
        let mut anchors: Vec<(i64, [u8; 32])> = Vec::new();
        let mut add = |run: i64, digest: [u8; 32], from: &dyn Fn() -> String| match anchors
            .iter()
            .find(|(r, _)| *r == run)
        {
            Some((_, d)) if *d != digest => Err(Error::Usage(format!(
                "{}: run {run} has two different anchors",
                from()
            ))),
            Some(_) => Ok(()),
            None => {
                anchors.push((run, digest));
                Ok(())
            }
        };
        for anchor in &args.anchor {
            let (run, digest) = anchor
                .split_once(':')
                .and_then(|(run, digest)| parse_anchor(run, digest))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--anchor must be RUN_ID:DIGEST (a run id and 64 hexadecimal digits), got {anchor:?}"
                    ))
                })?;
            add(run, digest, &|| format!("--anchor {anchor}"))?;
        }
        if let Some(path) = &args.anchors {
            let text = std::fs::read_to_string(path).map_err(|err| {
                Error::Usage(format!("--anchors: cannot read {}: {err}", path.display()))
            })?;
            let mut read = 0;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                read += 1;
                let from = || format!("--anchors {} line {}", path.display(), n + 1);
                let mut words = line.split_whitespace();
                let (run, digest) = match (words.next(), words.next(), words.next()) {
                    (Some(run), Some(digest), None) => parse_anchor(run, digest),
                    _ => None,
                }
                .ok_or_else(|| Error::Usage(format!("{}: expected `RUN_ID DIGEST`", from())))?;
                add(run, digest, &from)?;
            }
            // An anchors file a broken pipeline left empty would otherwise
            // verify as if nothing had been published.
            if read == 0 {
                return Err(Error::Usage(format!(
                    "--anchors {}: the file holds no anchor (`RUN_ID DIGEST` lines); the pipeline that wrote it may have failed",
                    path.display()
                )));
            }
        }
        Ok(VerifyConfig {
            database: DatabaseConfig::from_args(args.database)?,
            anchors,
            output: args.output.into(),
        })
    }
}

fn parse_anchor(run: &str, digest: &str) -> Option<(i64, [u8; 32])> {
    let run = run.trim().parse::<i64>().ok().filter(|r| *r > 0)?;
    Some((run, crate::chain::parse_digest(digest)?))
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub database: DatabaseConfig,
    pub format: format::LineFormat,
}

#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub database: DatabaseConfig,
    /// `--as-of`: the moment reported on; None for now.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    pub since: Span,
    pub stuck_after: Span,
    pub format: format::ReportFormat,
    pub output: Option<std::path::PathBuf>,
    /// Report on these accounts only; empty for all.
    pub accounts: Vec<AccountId>,
    /// Devices due back within this are listed.
    pub deadline_within: Span,
    /// Long-term pricing terms ending within this are listed.
    pub renewal_within: Span,
}

#[derive(Clone)]
pub struct DatabaseConfig {
    pub connect: PgConnectOptions,
    pub connect_timeout: Duration,
}

/// By hand: PgConnectOptions' own Debug prints the password.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("target", &self.target())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Fixed credentials; the secret key never appears in Debug.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub profile: Option<String>,
    /// Empty: take the region from the AWS configuration chain.
    pub regions: Vec<Region>,
    pub endpoint_url: Option<String>,
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    /// The SDK's first retry delay; its default (1 s) is right for AWS.
    pub initial_backoff: Duration,
    /// Fixed credentials instead of the provider chain (the simulator's demo and tests).
    pub static_credentials: Option<StaticCredentials>,
    /// Where the accounts to sync come from.
    pub accounts: AccountSources,
}

/// The accounts a run syncs: with no role and no organization, the base
/// credentials' own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSources {
    pub role_arns: Vec<RoleArn>,
    pub session_name: String,
    pub external_id: Option<String>,
    pub organization_role: Option<String>,
    pub skip_accounts: Vec<AccountId>,
}

impl Default for AccountSources {
    fn default() -> Self {
        AccountSources {
            role_arns: Vec::new(),
            session_name: "snowball-sync".to_owned(),
            external_id: None,
            organization_role: None,
            skip_accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub database: DatabaseConfig,
    pub aws: AwsConfig,
    pub page_size: i32,
    pub max_pages: u32,
    /// Listings in flight at once, across accounts and regions.
    pub concurrency: usize,
    /// `--details`: DescribeJob requests in flight at once; None without it.
    pub details: Option<usize>,
    /// `--include reports`: how reports are archived; None without it.
    pub reports: Option<ArchiveConfig>,
    /// `--include usage,clusters,long-term-pricing`: the estate beyond jobs.
    pub estate: EstateKinds,
    pub migrate: bool,
    pub wait_lock: bool,
    pub dry_run: bool,
    pub output: format::OutputFormat,
    /// Prometheus textfile written after every run.
    pub metrics_file: Option<std::path::PathBuf>,
    /// Which command the runs are recorded as made by.
    pub made_by: crate::db::runs::MadeBy,
}

/// The estate a run reads besides jobs and their details, for every account
/// and region it lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EstateKinds {
    /// GetSnowballUsage.
    pub usage: bool,
    /// ListClusters, DescribeCluster, ListClusterJobs.
    pub clusters: bool,
    /// ListLongTermPricing.
    pub pricing: bool,
}

impl EstateKinds {
    pub fn any(self) -> bool {
        self.usage || self.clusters || self.pricing
    }

    /// Every kind (`--include all`).
    pub fn all() -> EstateKinds {
        EstateKinds {
            usage: true,
            clusters: true,
            pricing: true,
        }
    }
}

/// How `sync --include reports` fetches and keeps reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// `--report-max-bytes`: a larger report is hashed, not kept.
    pub max_bytes: u64,
    /// Plain `http` is accepted for loopback addresses only, and only when
    /// `--endpoint-url` is one (the simulator); otherwise only `https`.
    pub loopback_http: bool,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
}

/// Whether a URL's host is a loopback address (127.0.0.0/8, ::1, localhost).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.split_once("://").map(|(_, rest)| rest) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What `simulate` serves: the simulator's own settings type.
pub use snowball_simulator::ServeConfig as SimulatorConfig;

#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// None: the local `snowball_demo` database, created when missing.
    pub database: Option<DatabaseConfig>,
    pub runs: u32,
    pub jobs: usize,
    pub accounts: usize,
    pub seed: u64,
    pub pause: Duration,
}

use limits::{
    DEFAULT_CONCURRENCY, DEFAULT_MAX_PAGES, MAX_CONCURRENCY, MAX_DETAILS_CONCURRENCY, MAX_PAGE_SIZE,
};

/// The endpoint variables the AWS SDK reads, checked like --endpoint-url.
pub const ENDPOINT_VARIABLES: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SNOWBALL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_ORGANIZATIONS",
];

/// An absolute http(s) URL with a host, or exit 2 naming where it came from.
fn endpoint(source: &str, text: &str) -> Result<String, Error> {
    let absolute = text.parse::<hyper::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    });
    match absolute {
        true => Ok(text.to_owned()),
        false => Err(Error::Usage(format!(
            "{source} {text:?} is not an absolute http(s) URL like https://snowball.us-east-1.amazonaws.com"
        ))),
    }
}

/// A duration flag's value within the flag's range, or exit 2 naming both.
fn span(flag: &str, text: &str, (min, max): (Span, Span)) -> Result<Span, Error> {
    Span::parse(text)
        .and_then(|span| span.within(flag, min, max))
        .map_err(|e| Error::Usage(format!("{flag}: {e}")))
}

/// A number flag's value within the flag's range, or exit 2 naming both.
fn number<T: PartialOrd + std::fmt::Display + Copy>(
    flag: &str,
    value: T,
    (min, max): (T, T),
) -> Result<T, Error> {
    match (min..=max).contains(&value) {
        true => Ok(value),
        false => Err(Error::Usage(format!(
            "{flag} must be between {min} and {max}, got {value}"
        ))),
    }
}

/// Each value parsed, repeats dropped (the first occurrence kept).
fn each<T: PartialEq>(
    flag: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, Error> {
    let parsed = values
        .iter()
        .map(|v| parse(v).map_err(|e| Error::Usage(format!("{flag} {e}"))))
        .collect::<Result<Vec<T>, Error>>()?;
    Ok(first_occurrences(parsed))
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, Error> {
        Ok(match cli.command {
            cli::Command::Sync(args) => Config::Sync(Box::new(SyncConfig::from_args(args)?)),
            cli::Command::Migrate(args) => Config::Migrate(DatabaseConfig::from_args(args)?),
            cli::Command::Simulate(args) => Config::Simulate(simulator_settings(args)?),
            cli::Command::Demo(args) => Config::Demo(DemoConfig::from_args(args)?),
            cli::Command::History(args) => Config::History(HistoryConfig {
                database: DatabaseConfig::from_args(args.database)?,
                job_id: args.job_id,
                format: args.format.into(),
            }),
            cli::Command::Evidence(args) => Config::Evidence(EvidenceConfig {
                database: DatabaseConfig::from_args(args.database)?,
                jobs: match (args.job_id, args.completed_since) {
                    (Some(job_id), None) => EvidenceJobs::One(job_id),
                    (None, Some(period)) => EvidenceJobs::CompletedSince(span(
                        "--completed-since",
                        &period,
                        limits::PERIOD,
                    )?),
                    _ => {
                        return Err(Error::Usage(
                            "give a JOB_ID or --completed-since, not both".into(),
                        ));
                    }
                },
                out: args.out,
            }),
            cli::Command::Report(args) => Config::Report(ReportConfig {
                database: DatabaseConfig::from_args(args.database)?,
                as_of: args
                    .as_of
                    .as_deref()
                    .map(crate::values::parse_moment)
                    .transpose()
                    .map_err(|e| Error::Usage(format!("--as-of {e}")))?,
                since: span("--since", &args.since, limits::PERIOD)?,
                stuck_after: span("--stuck-after", &args.stuck_after, limits::AGE)?,
                deadline_within: span("--deadline-within", &args.deadline_within, limits::AGE)?,
                renewal_within: span("--renewal-within", &args.renewal_within, limits::AGE)?,
                format: args.format.into(),
                output: args.output,
                accounts: each("--account", &args.accounts, AccountId::parse)?,
            }),
            cli::Command::Watch(args) => Config::Watch(WatchConfig {
                database: DatabaseConfig::from_args(args.database)?,
                format: args.format.into(),
            }),
            cli::Command::Verify(args) => Config::Verify(VerifyConfig::from_args(args)?),
            cli::Command::Completions { shell } => Config::Completions(shell.into()),
            cli::Command::Man { dir } => Config::Man(dir),
        })
    }
}

impl DatabaseConfig {
    /// The same database, without sqlx's "slow statement" warnings: for a
    /// session whose statements are long by design (waiting for a lock,
    /// streaming the whole history).
    pub fn without_slow_statement_warnings(&self) -> DatabaseConfig {
        use sqlx::ConnectOptions;
        DatabaseConfig {
            connect: self
                .connect
                .clone()
                .log_slow_statements(tracing::log::LevelFilter::Off, Duration::ZERO),
            connect_timeout: self.connect_timeout,
        }
    }

    fn from_args(args: cli::DatabaseArgs) -> Result<Self, Error> {
        Ok(DatabaseConfig {
            connect: connect_options(args.database_url.as_deref())?,
            connect_timeout: span("--connect-timeout", &args.connect_timeout, limits::TIMEOUT)?
                .as_std(),
        })
    }

    /// Where we connect, for messages: never the password.
    pub fn target(&self) -> String {
        describe_target(&self.connect)
    }
}

/// The options for a URL, or the libpq environment and defaults without one.
pub fn connect_options(url: Option<&str>) -> Result<PgConnectOptions, Error> {
    match url {
        // sqlx's parse errors can quote the URL, password included: say what is wrong without it.
        Some(url) => PgConnectOptions::from_str(url).map_err(|e| {
            Error::Usage(format!(
                "the database URL is malformed ({}); expected postgres://user@host:port/database",
                redact_url_error(&e.to_string(), url)
            ))
        }),
        None => Ok(PgConnectOptions::new()),
    }
}

fn redact_url_error(message: &str, url: &str) -> String {
    message.replace(url, "<url>")
}

pub fn describe_target(options: &PgConnectOptions) -> String {
    format!(
        "host {} port {} database {} user {}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
        options.get_username()
    )
}

impl AwsConfig {
    fn from_args(args: cli::AwsArgs) -> Result<Self, Error> {
        let max_attempts = number("--max-attempts", args.max_attempts, limits::MAX_ATTEMPTS)?;
        if args.role_session_name.is_empty() {
            return Err(Error::Usage("--role-session-name must not be empty".into()));
        }
        if args
            .organization_role
            .as_deref()
            .is_some_and(|name| name.is_empty() || name.contains(':'))
        {
            return Err(Error::Usage(
                "--organization-role takes a role name, not an ARN".into(),
            ));
        }
        // The SDK reads these itself; a malformed one would make it panic.
        for variable in ENDPOINT_VARIABLES {
            if let Ok(url) = std::env::var(variable) {
                endpoint(variable, &url)?;
            }
        }
        Ok(AwsConfig {
            accounts: AccountSources {
                role_arns: each("--role-arn", &args.role_arns, RoleArn::parse)?,
                session_name: args.role_session_name,
                external_id: args.external_id,
                organization_role: args.organization_role,
                skip_accounts: each("--skip-account", &args.skip_accounts, AccountId::parse)?,
            },
            profile: args.profile,
            regions: each("--region", &args.regions, Region::parse)?,
            endpoint_url: args
                .endpoint_url
                .as_deref()
                .map(|url| endpoint("--endpoint-url", url))
                .transpose()?,
            max_attempts,
            attempt_timeout: span("--timeout", &args.timeout, limits::TIMEOUT)?.as_std(),
            operation_timeout: span(
                "--operation-timeout",
                &args.operation_timeout,
                limits::OPERATION_TIMEOUT,
            )?
            .as_std(),
            initial_backoff: Duration::from_secs(1),
            static_credentials: None,
        })
    }
}

impl AwsConfig {
    /// For the project's own simulator (demo, tests): credentials it accepts
    /// and retries with short delays.
    pub fn simulated(endpoint_url: String, regions: Vec<Region>) -> AwsConfig {
        AwsConfig {
            profile: None,
            regions,
            endpoint_url: Some(endpoint_url),
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(50),
            static_credentials: Some(StaticCredentials {
                access_key_id: "AKIDSNOWBALLSIMULATOR".into(),
                secret_access_key: "simulator-secret".into(),
            }),
            accounts: AccountSources::default(),
        }
    }
}

impl SyncConfig {
    /// The command line's defaults for everything but where to read and write.
    pub fn new(database: DatabaseConfig, aws: AwsConfig) -> SyncConfig {
        SyncConfig {
            database,
            aws,
            page_size: MAX_PAGE_SIZE as i32,
            max_pages: DEFAULT_MAX_PAGES,
            concurrency: DEFAULT_CONCURRENCY,
            details: None,
            reports: None,
            estate: EstateKinds::default(),
            migrate: true,
            wait_lock: false,
            dry_run: false,
            output: format::OutputFormat::Text,
            metrics_file: None,
            made_by: crate::db::runs::MadeBy::Sync,
        }
    }

    fn from_args(args: cli::SyncArgs) -> Result<Self, Error> {
        let page_size = number("--page-size", args.page_size, (1, MAX_PAGE_SIZE))?;
        let concurrency = number("--concurrency", args.concurrency, (1, MAX_CONCURRENCY))?;
        let details_concurrency = number(
            "--details-concurrency",
            args.details_concurrency,
            (1, MAX_DETAILS_CONCURRENCY),
        )?;
        let aws = AwsConfig::from_args(args.aws)?;
        let max_bytes = crate::values::parse_size(&args.report_max_bytes)
            .and_then(|bytes| match bytes >= limits::REPORT_MAX_BYTES_MIN {
                true => Ok(bytes),
                false => Err(format!(
                    "'{}' is below 1MiB, the least this takes (a report is kept in chunks of 1MiB)",
                    args.report_max_bytes.trim()
                )),
            })
            .map_err(|why| Error::Usage(format!("--report-max-bytes: {why}")))?;
        let include = |kind| args.include.contains(&kind);
        // `all` is what the estate is: details, clusters, long-term pricing
        // and usage. Reports stay opt-in: they download files of any size.
        let all = include(cli::IncludeKind::All);
        let reports = include(cli::IncludeKind::Reports);
        let details = args.details || reports || all || include(cli::IncludeKind::Details);
        let estate = EstateKinds {
            usage: all || include(cli::IncludeKind::Usage),
            clusters: all || include(cli::IncludeKind::Clusters),
            pricing: all || include(cli::IncludeKind::LongTermPricing),
        };
        Ok(SyncConfig {
            database: DatabaseConfig::from_args(args.database)?,
            reports: reports.then(|| ArchiveConfig {
                max_bytes,
                loopback_http: aws.endpoint_url.as_deref().is_some_and(is_loopback_url),
                attempt_timeout: aws.attempt_timeout,
                operation_timeout: aws.operation_timeout,
            }),
            estate,
            aws,
            page_size: page_size as i32,
            max_pages: number("--max-pages", args.max_pages, limits::MAX_PAGES)?,
            concurrency,
            details: details.then_some(details_concurrency),
            migrate: !args.no_migrate,
            wait_lock: args.wait_lock,
            dry_run: args.dry_run,
            output: args.output.into(),
            metrics_file: args.metrics_file,
            made_by: crate::db::runs::MadeBy::Sync,
        })
    }
}

fn simulator_settings(args: cli::SimulateArgs) -> Result<SimulatorConfig, Error> {
    let listen = args.listen.parse().map_err(|_| {
        Error::Usage(format!(
            "--listen {:?} is not an address like 127.0.0.1:4566",
            args.listen
        ))
    })?;
    let tick = match args.tick {
        None => None,
        Some(seconds) => {
            let (min, max) = limits::TICK_SECONDS;
            match seconds.is_finite() && (min..=max).contains(&seconds) {
                true => Some(Duration::from_secs_f64(seconds)),
                false => {
                    return Err(Error::Usage(format!(
                        "--tick must be between {min} and {max} seconds, got {seconds}"
                    )));
                }
            }
        }
    };
    let every =
        |flag: &str, value: Option<u64>| value.map(|k| number(flag, k, (1, u64::MAX))).transpose();
    let regions = each("--regions", &args.regions, Region::parse)?;
    let accounts = number("--accounts", args.accounts, limits::SIMULATED_ACCOUNTS)?;
    let jobs = number("--jobs", args.jobs, limits::SIMULATED_JOBS)?;
    let clusters = number("--clusters", args.clusters, limits::SIMULATED_CLUSTERS)?;
    let terms = number("--terms", args.terms, limits::SIMULATED_TERMS)?;
    // What the simulator holds in memory: every job, cluster member and term.
    let fleet = accounts * regions.len() * (jobs + 5 * clusters + terms);
    if fleet > limits::SIMULATED_FLEET {
        return Err(Error::Usage(format!(
            "the fleet (--accounts x --regions x (--jobs + 5 x --clusters + --terms)) must hold at most {} jobs, got {fleet}",
            limits::SIMULATED_FLEET,
        )));
    }
    if let Some(bad) = args.suspended.iter().find(|i| **i >= accounts) {
        return Err(Error::Usage(format!(
            "--suspend-account must be between 0 and {}, got {bad}",
            accounts - 1
        )));
    }
    let latency =
        |flag: &str, ms: u64| number(flag, ms, limits::LATENCY_MS).map(Duration::from_millis);
    Ok(SimulatorConfig {
        listen,
        fleet: snowball_simulator::FleetConfig {
            accounts,
            suspended: args.suspended,
            clusters,
            terms,
            ..snowball_simulator::FleetConfig::new(
                jobs,
                args.seed,
                regions.iter().map(ToString::to_string).collect(),
            )
        },
        tick,
        long_success_log: match &args.success_log_bytes {
            None => None,
            Some(size) => Some(
                crate::values::parse_size(size)
                    .map_err(|why| Error::Usage(format!("--success-log-bytes: {why}")))?,
            ),
        },
        faults: snowball_simulator::Faults {
            throttle_every: every("--throttle-every", args.throttle_every)?,
            error_every: every("--error-every", args.error_every)?,
            drop_every: every("--drop-every", args.drop_every)?,
            page_latency: latency("--page-latency-ms", args.page_latency_ms)?,
            identity_latency: latency("--identity-latency-ms", args.identity_latency_ms)?,
            ..Default::default()
        },
    })
}

impl DemoConfig {
    fn from_args(args: cli::DemoArgs) -> Result<Self, Error> {
        let database = match args.database_url {
            Some(url) => Some(DatabaseConfig {
                connect: connect_options(Some(&url))?,
                connect_timeout: Duration::from_secs(5),
            }),
            None => None,
        };
        let jobs = number("--jobs", args.jobs, limits::DEMO_JOBS)?;
        let accounts = number("--accounts", args.accounts, limits::DEMO_ACCOUNTS)?;
        // The demo's simulator holds its whole fleet in memory, as `simulate` does.
        if jobs * accounts > limits::SIMULATED_FLEET {
            return Err(Error::Usage(format!(
                "the demo's fleet (--jobs x --accounts) must hold at most {} jobs, got {}",
                limits::SIMULATED_FLEET,
                jobs * accounts
            )));
        }
        Ok(DemoConfig {
            database,
            runs: number("--runs", args.runs, limits::DEMO_RUNS)?,
            jobs,
            accounts,
            seed: args.seed,
            pause: span("--pause", &args.pause, limits::PAUSE)?.as_std(),
        })
    }
}

// The command line's choices, as the project's own types.
impl From<cli::TableFormat> for format::TableFormat {
    fn from(format: cli::TableFormat) -> Self {
        match format {
            cli::TableFormat::Text => Self::Text,
            cli::TableFormat::Json => Self::Json,
            cli::TableFormat::Csv => Self::Csv,
        }
    }
}

impl From<cli::ReportFormat> for format::ReportFormat {
    fn from(format: cli::ReportFormat) -> Self {
        match format {
            cli::ReportFormat::Text => Self::Text,
            cli::ReportFormat::Json => Self::Json,
            cli::ReportFormat::Csv => Self::Csv,
            cli::ReportFormat::Html => Self::Html,
        }
    }
}

impl From<cli::OutputFormat> for format::OutputFormat {
    fn from(format: cli::OutputFormat) -> Self {
        match format {
            cli::OutputFormat::Text => Self::Text,
            cli::OutputFormat::Json => Self::Json,
        }
    }
}

impl From<cli::LineFormat> for format::LineFormat {
    fn from(format: cli::LineFormat) -> Self {
        match format {
            cli::LineFormat::Text => Self::Text,
            cli::LineFormat::Json => Self::Json,
        }
    }
}

impl From<cli::LogFormat> for format::LogFormat {
    fn from(format: cli::LogFormat) -> Self {
        match format {
            cli::LogFormat::Auto => Self::Auto,
            cli::LogFormat::Text => Self::Text,
            cli::LogFormat::Json => Self::Json,
        }
    }
}

impl From<cli::Shell> for format::Shell {
    fn from(shell: cli::Shell) -> Self {
        match shell {
            cli::Shell::Bash => Self::Bash,
            cli::Shell::Elvish => Self::Elvish,
            cli::Shell::Fish => Self::Fish,
            cli::Shell::PowerShell => Self::PowerShell,
            cli::Shell::Zsh => Self::Zsh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_error_never_repeats_the_password() {
        let err = connect_options(Some("postgres://u:hunter2@host:notaport/db")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn no_configuration_debug_prints_the_password() {
        let connect = connect_options(Some("postgres://u:hunter2@db.example:5432/snow")).unwrap();
        let database = DatabaseConfig {
            connect,
            connect_timeout: Duration::from_secs(10),
        };
        let sync = SyncConfig::new(
            database.clone(),
            AwsConfig::simulated("http://127.0.0.1:1".into(), Vec::new()),
        );
        for text in [
            format!("{database:?}"),
            format!("{sync:?}"),
            format!("{:?}", Config::Sync(Box::new(sync.clone()))),
            format!("{:?}", Config::Migrate(database.clone())),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("simulator-secret"), "{text}");
            assert!(text.contains("db.example"), "{text}");
        }
    }
}
