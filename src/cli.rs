//! Command-line arguments as clap sees them. Doc comments are the `--help`
//! text. `config` turns these into a validated `Config`; nothing after that
//! touches clap.
//!
//! Large because it holds every flag's definition and help text, and nothing
//! else.

use clap::{Args, Parser, Subcommand};

use crate::limits::{
    DEFAULT_CONCURRENCY, DEFAULT_DETAILS_CONCURRENCY, DEFAULT_MAX_PAGES, MAX_PAGE_SIZE,
};

pub mod reference;

/// The end of `--help` and of the manual page.
const EXIT_CODES_AND_ENVIRONMENT: &str = "\
Exit codes: 0 success; 1 the run failed or was partial (the error is on stderr
and in snowball.sync_runs.error); 2 bad usage or configuration, nothing was
attempted; 75 another run holds the lock (try later); 130 and 143 stopped by
SIGINT and SIGTERM.

Environment: DATABASE_URL, else PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE, PGSSLMODE, PGSSLROOTCERT; the AWS credential chain
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, web identity, container and
instance credentials); AWS_REGION; AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_SNOWBALL, _STS, _ORGANIZATIONS; RUST_LOG; NO_COLOR. An empty
variable counts as unset.";

/// `--version`: the release, and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SNOWBALL_SYNC_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "snowball-sync",
    version = VERSION,
    about = "Mirror AWS Snowball ListJobs into PostgreSQL with an append-only JobState history", long_about = None, after_long_help = EXIT_CODES_AND_ENVIRONMENT)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log output on stderr (-q warnings only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log format on stderr: text, json (one object per line), or auto
    /// (text on a terminal, json otherwise, e.g. under cron or systemd).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// What `completions` takes: clap_complete's shells, by the names it gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Elvish,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
    Zsh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// What `sync --include` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IncludeKind {
    Details,
    Reports,
    Usage,
    Clusters,
    LongTermPricing,
    /// details, clusters, long-term-pricing and usage (not reports).
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One human line.
    Text,
    /// One JSON object (its fields: docs/operations.md).
    Json,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up and turned into a configuration: its size does
// not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Page through Snowball ListJobs and upsert every job into PostgreSQL,
    /// recording each JobState transition.
    Sync(SyncArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Serve a simulated Snowball API (both wire protocols) until stopped.
    Simulate(SimulateArgs),
    /// Run the real sync several times against an in-process simulator and
    /// show what it recorded.
    Demo(DemoArgs),
    /// Show one job's full timeline: every state, when it was entered and
    /// left; or a cluster's (with its member jobs), or a long-term pricing
    /// term's changes.
    History(HistoryArgs),
    /// Write an evidence folder for a job (or, with --completed-since, one
    /// per job completed in the period): its timeline, archived reports, the
    /// runs that observed it, a manifest and SHA256SUMS.
    Evidence(EvidenceArgs),
    /// Report on the fleet: jobs by state and type, transitions, stuck jobs,
    /// sync health; as text, JSON, CSV or a self-contained HTML page.
    Report(ReportArgs),
    /// Print every sync run as it ends, and its transitions, one line each
    /// (LISTEN on the `snowball_sync` channel), until SIGINT or SIGTERM.
    Watch(WatchArgs),
    /// Recompute every history row's hash, every job's chain and every run's
    /// digest; check digests kept outside the database (--anchor). Exits 0
    /// when everything holds, 1 on any mismatch. Needs only read access.
    Verify(VerifyArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff), e.g. `snowball-sync man > snowball-sync.1`,
    /// or with --dir write one page per subcommand there.
    Man {
        /// Write snowball-sync.1 and snowball-sync-SUBCOMMAND.1 into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. When unset, the libpq variables (PGHOST, PGPORT,
    /// PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE) and their defaults apply.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Give up connecting to PostgreSQL after this long (e.g. 10s, 2m).
    #[arg(
        long,
        default_value = "10s",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub connect_timeout: String,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS profile from the shared config and credentials files. As with
    /// the AWS CLI, an explicit --profile wins over AWS_ACCESS_KEY_ID and
    /// friends in the environment; AWS_PROFILE does not (the environment's
    /// keys, when set, come first in the standard chain).
    #[arg(long)]
    pub profile: Option<String>,

    /// Region to list (repeatable). Defaults to the region of the AWS
    /// configuration chain (AWS_REGION, the profile).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// Send every AWS API request (Snowball, STS, Organizations) here instead
    /// of the AWS endpoints. AWS_ENDPOINT_URL, and per service
    /// AWS_ENDPOINT_URL_SNOWBALL, _STS and _ORGANIZATIONS, work too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Assume this role and sync its account (repeatable); the base
    /// credentials' own account is then not synced unless named too.
    #[arg(long = "role-arn", value_name = "ARN")]
    pub role_arns: Vec<String>,

    /// Session name for the roles assumed.
    #[arg(long, default_value = "snowball-sync", value_name = "NAME")]
    pub role_session_name: String,

    /// External id to present when assuming roles.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,

    /// Sync every ACTIVE account of the AWS Organization (Organizations
    /// ListAccounts), assuming the role of this name in each; the caller's
    /// own account with the base credentials.
    #[arg(long, value_name = "NAME")]
    pub organization_role: Option<String>,

    /// Leave this account out (repeatable).
    #[arg(long = "skip-account", value_name = "ID")]
    pub skip_accounts: Vec<String>,

    /// Attempts per API request, the first included, before giving up.
    #[arg(
        long,
        default_value_t = 5,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub max_attempts: u32,

    /// Time limit for one attempt of an API request.
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub timeout: String,

    /// Time limit for one API request with all its retries.
    #[arg(
        long,
        default_value = "3m",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub operation_timeout: String,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Jobs per ListJobs request (MaxResults), 1 to 100.
    #[arg(long, default_value_t = MAX_PAGE_SIZE, value_name = "N", allow_negative_numbers = true)]
    pub page_size: i64,

    /// Fail the run when one region's listing exceeds this many pages.
    #[arg(long, default_value_t = DEFAULT_MAX_PAGES, value_name = "N", allow_negative_numbers = true)]
    pub max_pages: u32,

    /// Listings (account and region) in flight at once, 1 to 64.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N", allow_negative_numbers = true)]
    pub concurrency: usize,

    /// After listing, describe jobs with DescribeJob (needs
    /// snowball:DescribeJob): the ones in a non-final state, changed by this
    /// run, or never described. Keeps their shipments and data transfer.
    #[arg(long)]
    pub details: bool,

    /// What a run reads besides ListJobs, repeatable or comma-separated:
    /// `details` (as --details), `reports` (implies details: archives each
    /// completed job's completion report and logs; see docs/estate.md),
    /// `usage` (GetSnowballUsage: device limit and devices in use),
    /// `clusters` (ListClusters, DescribeCluster, ListClusterJobs),
    /// `long-term-pricing` (ListLongTermPricing), and `all` (every one of
    /// these but reports).
    #[arg(long, value_delimiter = ',', value_name = "KIND")]
    pub include: Vec<IncludeKind>,

    /// Reports larger than this are hashed and their size kept, not their
    /// content (a later run with a higher limit fetches them again to keep
    /// them); a whole number with KiB, MiB or GiB, from 1MiB to 1TiB.
    #[arg(
        long,
        default_value = "512MiB",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub report_max_bytes: String,

    /// DescribeJob requests in flight at once, 1 to 32.
    #[arg(long, default_value_t = DEFAULT_DETAILS_CONCURRENCY, value_name = "N", allow_negative_numbers = true)]
    pub details_concurrency: usize,

    /// Do not apply pending migrations first.
    #[arg(long)]
    pub no_migrate: bool,

    /// Wait for another run's lock instead of exiting with code 75.
    #[arg(long)]
    pub wait_lock: bool,

    /// Do the whole sync, print what would change, and commit nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The run summary on stdout: one human line, or one JSON object.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// After every run, success or failure, write Prometheus metrics here
    /// (atomically: the node_exporter textfile-collector convention).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LineFormat {
    /// Human lines.
    Text,
    /// One JSON object per line (the fields: docs/operations.md).
    Json,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[arg(long, value_enum, default_value_t = LineFormat::Text)]
    pub format: LineFormat,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Csv,
    /// One self-contained page with charts (inline CSS and SVG).
    Html,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The job (e.g. JID123e4567-e89b-12d3-a456-426655440000), cluster
    /// (CID...) or long-term pricing term (LTPID...).
    pub job_id: String,

    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The job, e.g. JID123e4567-e89b-12d3-a456-426655440000.
    #[arg(
        required_unless_present = "completed_since",
        conflicts_with = "completed_since"
    )]
    pub job_id: Option<String>,

    /// Every job that completed within this period before now (e.g. 30d),
    /// one sub-folder each, instead of one job.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub completed_since: Option<String>,

    /// The folder to write; it must be new or empty.
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A run's digest kept outside the database, as RUN_ID:DIGEST (the
    /// `digest` of the run's JSON summary, log line or notification).
    /// Repeatable.
    #[arg(long, value_name = "RUN_ID:DIGEST")]
    pub anchor: Vec<String>,

    /// A file of anchors: one `RUN_ID DIGEST` per line; blank lines and
    /// lines starting with # are skipped.
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<std::path::PathBuf>,

    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report as the record stood at this moment (RFC 3339, or a date for
    /// its start in UTC): states, stuck jobs, devices with the customer and
    /// transitions then. Transfers, shipments and attributes without history
    /// are today's.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,

    /// The period to report on, back from now (e.g. 36h, 7d).
    #[arg(
        long,
        default_value = "7d",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub since: String,

    /// A job in a non-final state for this long counts as stuck.
    #[arg(
        long,
        default_value = "14d",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub stuck_after: String,

    /// List the devices with the customer that are due back within this
    /// (a Snowball Edge locks 360 days after it was prepared).
    #[arg(
        long,
        default_value = "30d",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub deadline_within: String,

    /// List the long-term pricing terms that end within this, the ones that
    /// lapse (no auto-renew) first.
    #[arg(
        long,
        default_value = "60d",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub renewal_within: String,

    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Report on this account only (repeatable); sync health stays the
    /// database's, since a run can span accounts.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,

    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to serve on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:4566", value_name = "ADDR")]
    pub listen: String,

    /// Jobs in each region's fleet at start.
    #[arg(
        long,
        default_value_t = 250,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub jobs: usize,

    /// Seed for the fleet: the same seed and tick count give the same fleet.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "S",
        allow_negative_numbers = true
    )]
    pub seed: u64,

    /// Regions with a fleet; the US regions share one, as the service does.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "us-east-1",
        value_name = "R1,R2,..."
    )]
    pub regions: Vec<String>,

    /// Accounts in the simulated organization, each with its own fleets;
    /// requests are answered for the account of their access key id.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub accounts: usize,

    /// Make one job's success log this long (KiB, MiB, GiB accepted): the
    /// first job whose reports DescribeJob returns (GET /_sim/stats names it).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub success_log_bytes: Option<String>,

    /// Advance the fleet one tick every this many seconds (otherwise only
    /// through POST /_sim/advance).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub tick: Option<f64>,

    /// Extra latency for every ListJobs response.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub page_latency_ms: u64,

    /// Make the account of this index (0 is the management account)
    /// SUSPENDED in the organization (repeatable).
    #[arg(
        long = "suspend-account",
        value_name = "INDEX",
        allow_negative_numbers = true
    )]
    pub suspended: Vec<usize>,

    /// Clusters (of five member jobs each, beyond --jobs) in each region's
    /// estate, for ListClusters, DescribeCluster and ListClusterJobs; at most
    /// 100000, and the fleet at most 2000000 jobs with them.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub clusters: usize,

    /// Long-term pricing terms in each region's estate (ListLongTermPricing);
    /// at most 100000.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub terms: usize,

    /// Extra latency for every STS and Organizations response.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub identity_latency_ms: u64,

    /// Answer every K-th ListJobs request with a ThrottlingException.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub throttle_every: Option<u64>,

    /// Answer every K-th ListJobs request with an HTTP 500.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub error_every: Option<u64>,

    /// Drop the connection of every K-th ListJobs request without answering.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub drop_every: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// PostgreSQL URL of a database for the demo alone. When unset, the
    /// demo uses its own `snowball_demo` database (created if missing) on the
    /// local server (PGHOST, PGPORT and PGUSER choose the server); DATABASE_URL
    /// and PGDATABASE are ignored, so a demo never writes where real runs
    /// live. A database holding runs the demo did not make is refused.
    #[arg(long)]
    pub database_url: Option<String>,

    /// Syncs to run, advancing the simulated fleet between them.
    #[arg(
        long,
        default_value_t = 6,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub runs: u32,

    /// Jobs in each simulated account's fleet.
    #[arg(
        long,
        default_value_t = 300,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub jobs: usize,

    /// Accounts in the simulated AWS Organization, all synced by one run
    /// (--organization-role).
    #[arg(
        long,
        default_value_t = 3,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub accounts: usize,

    /// Seed for the simulated fleet.
    #[arg(
        long,
        default_value_t = 7,
        value_name = "S",
        allow_negative_numbers = true
    )]
    pub seed: u64,

    /// Wall-clock pause between syncs, so the recorded stints have lengths.
    #[arg(
        long,
        default_value = "1s",
        value_name = "DURATION",
        allow_negative_numbers = true
    )]
    pub pause: String,
}

/// The completion script for `shell`. clap_complete 4.6 names bash's
/// subcommand functions after the binary with its hyphen turned into
/// `__` in one place and into `__subcmd__` in another, so for
/// `snowball-sync` no subcommand matched; the script is written with one
/// spelling throughout.
pub fn completions(
    shell: crate::format::Shell,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), crate::Error> {
    use crate::format::Shell;
    use clap::CommandFactory;
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Elvish => clap_complete::Shell::Elvish,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::PowerShell => clap_complete::Shell::PowerShell,
        Shell::Zsh => clap_complete::Shell::Zsh,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "snowball-sync", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == Shell::Bash {
        script = script.replace(
            "snowball__subcmd__sync__subcmd__",
            "snowball__sync__subcmd__",
        );
    }
    out.write_all(script.as_bytes()).map_err(|err| {
        crate::Error::Failed(anyhow::Error::new(err).context("writing the completions"))
    })
}

/// The manual: one page on `out`, or with `dir` one page per subcommand
/// written there.
pub fn manual(
    dir: Option<&std::path::Path>,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), crate::Error> {
    use clap::CommandFactory;
    match dir {
        None => clap_mangen::Man::new(Cli::command())
            .render(out)
            .map_err(|err| {
                crate::Error::Failed(anyhow::Error::new(err).context("writing the manual page"))
            }),
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .map_err(|err| {
                crate::Error::Failed(
                    anyhow::Error::new(err)
                        .context(format!("writing the manual pages into {}", dir.display())),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
