//! The validated configuration. Built once from the command line and the
//! environment; the rest of the program never sees clap.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use crate::cli::{self, Cli};
use crate::error::Error;

/// What to do, with everything it needs already checked.
#[derive(Debug, Clone)]
pub enum Config {
    Sync(Box<SyncConfig>),
    Migrate(DatabaseConfig),
    Simulate(SimulatorConfig),
    Demo(DemoConfig),
    History(HistoryConfig),
    Report(ReportConfig),
    Watch(WatchConfig),
    Completions(clap_complete::Shell),
    Man,
}

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub database: DatabaseConfig,
    pub job_id: String,
    pub format: cli::TableFormat,
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub database: DatabaseConfig,
    pub format: cli::LineFormat,
}

#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub database: DatabaseConfig,
    pub since: Duration,
    pub stuck_after: Duration,
    pub format: cli::ReportFormat,
    pub output: Option<std::path::PathBuf>,
    /// Report on these accounts only; empty for all.
    pub accounts: Vec<String>,
    /// Devices due back within this are listed.
    pub deadline_within: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub connect: PgConnectOptions,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub profile: Option<String>,
    /// Empty: take the region from the AWS configuration chain.
    pub regions: Vec<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    /// The SDK's first retry delay; its default (1 s) is right for AWS.
    pub initial_backoff: Duration,
    /// Fixed credentials instead of the provider chain (the simulator's demo and tests).
    pub static_credentials: Option<(String, String)>,
    /// Where the accounts to sync come from.
    pub accounts: AccountSources,
}

/// The accounts a run syncs: with no role and no organization, the base
/// credentials' own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSources {
    pub role_arns: Vec<String>,
    pub session_name: String,
    pub external_id: Option<String>,
    pub organization_role: Option<String>,
    pub skip_accounts: Vec<String>,
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

/// A 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The account of a role ARN, `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub fn role_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource]
            if !partition.is_empty()
                && is_account_id(account)
                && resource
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty()) =>
        {
            Some(account)
        }
        _ => None,
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
    pub migrate: bool,
    pub wait_lock: bool,
    pub dry_run: bool,
    pub output: cli::OutputFormat,
    /// Prometheus textfile written after every run.
    pub metrics_file: Option<std::path::PathBuf>,
}

/// What `simulate` serves: the simulator's own settings type.
pub use crate::simulator::ServeConfig as SimulatorConfig;

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

pub use cli::{
    DEFAULT_CONCURRENCY, DEFAULT_DETAILS_CONCURRENCY, DEFAULT_MAX_PAGES, MAX_CONCURRENCY,
    MAX_DETAILS_CONCURRENCY, MAX_PAGE_SIZE,
};

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, Error> {
        Ok(match cli.command {
            cli::Command::Sync(args) => Config::Sync(Box::new(SyncConfig::from_args(args)?)),
            cli::Command::Migrate(args) => Config::Migrate(DatabaseConfig::from_args(args)?),
            cli::Command::Simulate(args) => Config::Simulate(SimulatorConfig::from_args(args)?),
            cli::Command::Demo(args) => Config::Demo(DemoConfig::from_args(args)?),
            cli::Command::History(args) => Config::History(HistoryConfig {
                database: DatabaseConfig::from_args(args.database)?,
                job_id: args.job_id,
                format: args.format,
            }),
            cli::Command::Report(args) => Config::Report(ReportConfig {
                database: DatabaseConfig::from_args(args.database)?,
                since: parse_duration(&args.since)
                    .map_err(|e| Error::Usage(format!("--since: {e}")))?,
                stuck_after: parse_duration(&args.stuck_after)
                    .map_err(|e| Error::Usage(format!("--stuck-after: {e}")))?,
                deadline_within: parse_duration(&args.deadline_within)
                    .map_err(|e| Error::Usage(format!("--deadline-within: {e}")))?,
                format: args.format,
                output: args.output,
                accounts: match args.accounts.iter().find(|a| !is_account_id(a)) {
                    Some(bad) => {
                        return Err(Error::Usage(format!(
                            "--account {bad:?} is not a 12-digit account id"
                        )));
                    }
                    None => args.accounts,
                },
            }),
            cli::Command::Watch(args) => Config::Watch(WatchConfig {
                database: DatabaseConfig::from_args(args.database)?,
                format: args.format,
            }),
            cli::Command::Completions { shell } => Config::Completions(shell),
            cli::Command::Man => Config::Man,
        })
    }
}

impl DatabaseConfig {
    fn from_args(args: cli::DatabaseArgs) -> Result<Self, Error> {
        Ok(DatabaseConfig {
            connect: connect_options(args.database_url.as_deref())?,
            connect_timeout: parse_duration(&args.connect_timeout)
                .map_err(|e| Error::Usage(format!("--connect-timeout: {e}")))?,
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
        if args.max_attempts == 0 {
            return Err(Error::Usage("--max-attempts must be at least 1".into()));
        }
        for region in &args.regions {
            if region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(Error::Usage(format!(
                    "--region {region:?} is not a region name"
                )));
            }
        }
        for arn in &args.role_arns {
            if role_account(arn).is_none() {
                return Err(Error::Usage(format!(
                    "--role-arn {arn:?} is not a role ARN like arn:aws:iam::123456789012:role/NAME"
                )));
            }
        }
        for account in &args.skip_accounts {
            if !is_account_id(account) {
                return Err(Error::Usage(format!(
                    "--skip-account {account:?} is not a 12-digit account id"
                )));
            }
        }
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
        Ok(AwsConfig {
            accounts: AccountSources {
                role_arns: args.role_arns,
                session_name: args.role_session_name,
                external_id: args.external_id,
                organization_role: args.organization_role,
                skip_accounts: args.skip_accounts,
            },
            profile: args.profile,
            regions: args.regions,
            endpoint_url: args.endpoint_url,
            max_attempts: args.max_attempts,
            attempt_timeout: parse_duration(&args.timeout)
                .map_err(|e| Error::Usage(format!("--timeout: {e}")))?,
            operation_timeout: parse_duration(&args.operation_timeout)
                .map_err(|e| Error::Usage(format!("--operation-timeout: {e}")))?,
            initial_backoff: Duration::from_secs(1),
            static_credentials: None,
        })
    }
}

impl AwsConfig {
    /// For the project's own simulator (demo, tests): credentials it accepts
    /// and retries with short delays.
    pub fn simulated(endpoint_url: String, regions: Vec<String>) -> AwsConfig {
        AwsConfig {
            profile: None,
            regions,
            endpoint_url: Some(endpoint_url),
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(50),
            static_credentials: Some(("AKIDSNOWBALLSIMULATOR".into(), "simulator-secret".into())),
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
            migrate: true,
            wait_lock: false,
            dry_run: false,
            output: cli::OutputFormat::Text,
            metrics_file: None,
        }
    }

    fn from_args(args: cli::SyncArgs) -> Result<Self, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&args.page_size) {
            return Err(Error::Usage(format!(
                "--page-size must be between 1 and {MAX_PAGE_SIZE} (the API's MaxResults limit), got {}",
                args.page_size
            )));
        }
        if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
            return Err(Error::Usage(format!(
                "--concurrency must be between 1 and {MAX_CONCURRENCY}, got {}",
                args.concurrency
            )));
        }
        if !(1..=MAX_DETAILS_CONCURRENCY).contains(&args.details_concurrency) {
            return Err(Error::Usage(format!(
                "--details-concurrency must be between 1 and {MAX_DETAILS_CONCURRENCY}, got {}",
                args.details_concurrency
            )));
        }
        if args.max_pages == 0 {
            return Err(Error::Usage("--max-pages must be at least 1".into()));
        }
        Ok(SyncConfig {
            database: DatabaseConfig::from_args(args.database)?,
            aws: AwsConfig::from_args(args.aws)?,
            page_size: args.page_size as i32,
            max_pages: args.max_pages,
            concurrency: args.concurrency,
            details: args.details.then_some(args.details_concurrency),
            migrate: !args.no_migrate,
            wait_lock: args.wait_lock,
            dry_run: args.dry_run,
            output: args.output,
            metrics_file: args.metrics_file,
        })
    }
}

impl SimulatorConfig {
    fn from_args(args: cli::SimulateArgs) -> Result<SimulatorConfig, Error> {
        let listen = args.listen.parse().map_err(|_| {
            Error::Usage(format!(
                "--listen {:?} is not an address like 127.0.0.1:4566",
                args.listen
            ))
        })?;
        let tick = match args.tick {
            None => None,
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
                Some(Duration::from_secs_f64(seconds))
            }
            Some(seconds) => {
                return Err(Error::Usage(format!(
                    "--tick must be a positive number of seconds, got {seconds}"
                )));
            }
        };
        let every = |flag: &str, value: Option<u64>| match value {
            Some(0) => Err(Error::Usage(format!("{flag} must be at least 1"))),
            other => Ok(other),
        };
        if args.regions.iter().any(|r| r.is_empty()) {
            return Err(Error::Usage("--regions has an empty region name".into()));
        }
        if args.accounts == 0 {
            return Err(Error::Usage("--accounts must be at least 1".into()));
        }
        Ok(SimulatorConfig {
            listen,
            fleet: crate::simulator::FleetConfig {
                accounts: args.accounts,
                suspended: args.suspended,
                ..crate::simulator::FleetConfig::new(args.jobs, args.seed, args.regions)
            },
            tick,
            faults: crate::simulator::Faults {
                throttle_every: every("--throttle-every", args.throttle_every)?,
                error_every: every("--error-every", args.error_every)?,
                drop_every: every("--drop-every", args.drop_every)?,
                page_latency: Duration::from_millis(args.page_latency_ms),
                identity_latency: Duration::from_millis(args.identity_latency_ms),
                ..Default::default()
            },
        })
    }
}

impl DemoConfig {
    fn from_args(args: cli::DemoArgs) -> Result<Self, Error> {
        if args.accounts == 0 {
            return Err(Error::Usage("--accounts must be at least 1".into()));
        }
        if args.runs == 0 {
            return Err(Error::Usage("--runs must be at least 1".into()));
        }
        let database = match args.database_url {
            Some(url) => Some(DatabaseConfig {
                connect: connect_options(Some(&url))?,
                connect_timeout: Duration::from_secs(5),
            }),
            None => None,
        };
        let pause =
            parse_duration(&args.pause).map_err(|e| Error::Usage(format!("--pause: {e}")))?;
        Ok(DemoConfig {
            database,
            runs: args.runs,
            jobs: args.jobs,
            accounts: args.accounts,
            seed: args.seed,
            pause,
        })
    }
}

/// A duration such as `500ms`, `30s`, `90m`, `36h` or `14d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 90m, 36h or 14d"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use ms, s, m, h or d"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_documented_units() {
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("36h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn role_arns_name_their_account() {
        assert_eq!(
            role_account("arn:aws:iam::012345678901:role/snowball-reader"),
            Some("012345678901")
        );
        assert_eq!(
            role_account("arn:aws-us-gov:iam::012345678901:role/path/r"),
            Some("012345678901")
        );
        assert_eq!(role_account("arn:aws:iam::12345:role/r"), None);
        assert_eq!(role_account("arn:aws:iam::012345678901:user/u"), None);
        assert_eq!(role_account("snowball-reader"), None);
    }

    #[test]
    fn a_url_error_never_repeats_the_password() {
        let err = connect_options(Some("postgres://u:hunter2@host:notaport/db")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
