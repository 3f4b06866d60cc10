//! The simulated Snowball service: one implementation behind `simulate`,
//! `demo`, the tests and the benchmark. It serves ListJobs on the wire in
//! both protocols, keeps a fleet per region, and injects the faults the real
//! service and network produce.
//!
//! A crate of its own so the tool ships none of it beyond what `demo` and
//! `simulate` run: the hooks the tests drive (`set_state`, `pass_days`,
//! `edit_term`, `forget_estate_item`, ...) are this crate's API, not the tool's.
//!
//! Large because the simulator's state and each operation's handling share
//! one lock and one set of faults.

mod details;
pub mod estate;
pub mod fleet;
pub mod organization;
mod organizations;
pub mod reports;
mod server;
mod sts;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

pub use details::{JOB_LOG_MARKER, PICKUP_MARKER, TAX_MARKER};
pub use fleet::{Fleet, JobEntry};
pub use organization::{Organization, account_id};
pub use server::{RunningSimulator, serve_until};
use wire::ApiError;

/// The fleets to generate.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Jobs in each region's fleet at start.
    pub jobs: usize,
    pub seed: u64,
    pub regions: Vec<String>,
    /// Accounts in the organization, each with fleets of its own (at least 1).
    pub accounts: usize,
    /// Indexes of SUSPENDED accounts.
    pub suspended: Vec<usize>,
    /// Clusters (of five member jobs each, beyond `jobs`) and long-term
    /// pricing terms in each region's estate.
    pub clusters: usize,
    pub terms: usize,
}

impl FleetConfig {
    /// One account's fleets of `jobs` jobs in each of `regions`.
    pub fn new(jobs: usize, seed: u64, regions: Vec<String>) -> FleetConfig {
        FleetConfig {
            jobs,
            seed,
            regions,
            accounts: 1,
            suspended: Vec::new(),
            clusters: 0,
            terms: 0,
        }
    }
}

/// What `simulate` serves, settled from the command line by `config`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub fleet: FleetConfig,
    pub tick: Option<Duration>,
    pub faults: Faults,
    /// `--success-log-bytes`: one job's success log this long.
    pub long_success_log: Option<u64>,
}

/// Faults injected into ListJobs requests, counted over all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Faults {
    /// Every k-th request: HTTP 400 ThrottlingException.
    pub throttle_every: Option<u64>,
    /// Every k-th request: HTTP 500.
    pub error_every: Option<u64>,
    /// Every k-th request: the connection is closed without an answer.
    pub drop_every: Option<u64>,
    /// Added before every ListJobs answer.
    #[serde(serialize_with = "as_millis")]
    pub page_latency: Duration,
    /// The next this-many requests that carry a NextToken are refused with
    /// InvalidNextTokenException, as if their tokens had expired.
    pub reject_tokens: u64,
    /// A page asked for with a token answers with that same token again: a
    /// service bug that would loop, or truncate a paginator that stops on it.
    pub repeat_tokens: bool,
    /// Added before every STS and Organizations answer.
    #[serde(serialize_with = "as_millis")]
    pub identity_latency: Duration,
    /// Accounts whose roles refuse AssumeRole (AccessDenied).
    pub deny_assume_role: Vec<String>,
    /// Accounts whose ListJobs answers AccessDeniedException.
    pub deny_list_jobs: Vec<String>,
    /// Accounts whose DescribeJob answers AccessDeniedException.
    pub deny_describe_job: Vec<String>,
    /// Accounts whose GetSnowballUsage answers AccessDeniedException.
    pub deny_usage: Vec<String>,
    /// Accounts whose ListClusters, DescribeCluster, ListClusterJobs or
    /// ListLongTermPricing answers AccessDeniedException.
    pub deny_list_clusters: Vec<String>,
    pub deny_describe_cluster: Vec<String>,
    pub deny_list_cluster_jobs: Vec<String>,
    pub deny_long_term_pricing: Vec<String>,
    /// Jobs DescribeJob no longer knows (InvalidResourceException), as if
    /// removed between listing and describing.
    pub forget_jobs: Vec<String>,
    /// The next this-many DescribeJob answers with JobLogInfo carry URLs
    /// issued two hours ago: expired, as if fetched too late.
    pub expire_reports: u64,
    /// The next this-many report downloads answer HTTP 500.
    pub fail_reports: u64,
    /// The next this-many report downloads are cut off halfway.
    pub cut_reports: u64,
    /// The next this-many report downloads stop sending halfway, for a
    /// minute, then are cut off.
    pub stall_reports: u64,
    /// The next this-many report downloads are sent without a
    /// Content-Length (chunked), as a proxy may.
    pub unsized_reports: u64,
    /// Every string value in DescribeJob's answers gets a NUL byte in its
    /// middle, as a broken or hostile backend might send.
    pub nul_in_descriptions: bool,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// A report download as the simulator will send it.
pub(crate) struct Download {
    pub report: reports::Report,
    /// Cut halfway after this pause; None: sent whole.
    pub cut: Option<Duration>,
    /// Whether the Content-Length is sent.
    pub sized: bool,
}

/// Whether DescribeJob gives a job JobLogInfo: a completed import or export
/// job (an export's parts; its main job has no transfer of its own).
fn has_reports(entry: &JobEntry) -> bool {
    entry.job_state == "Complete"
        && !entry.is_master
        && matches!(
            entry.job_type.as_deref(),
            Some("IMPORT") | Some("EXPORT") | None
        )
}

/// The fleet a region lists. Every US region lists the jobs of all US
/// regions, as the service does; GovCloud and other regions stand alone.
pub fn fleet_key(region: &str) -> String {
    if region.starts_with("us-") && !region.starts_with("us-gov-") {
        "us".to_owned()
    } else {
        region.to_owned()
    }
}

/// The fleet of an account's region: the management account's fleets keep
/// their region keys (and so their seeds) from before accounts existed.
fn account_fleet_key(org: &Organization, account: usize, region: &str) -> String {
    match account {
        0 => fleet_key(region),
        _ => format!("{}/{}", org.accounts[account].id, fleet_key(region)),
    }
}

/// A handle on the simulator's state, shared with its server.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    fleets: BTreeMap<String, Fleet>,
    org: Organization,
    faults: Faults,
    list_requests: u64,
    /// Snowball requests (ListJobs and DescribeJob): what the every-K-th faults count.
    snowball_requests: u64,
    /// The job ids DescribeJob was asked for, in order (the latest
    /// `DESCRIBED_LOG` of them: a long-running simulator must not grow).
    described: std::collections::VecDeque<String>,
    describe_requests: u64,
    /// STS and Organizations requests received.
    identity_requests: u64,
    token_key: u64,
    /// Report downloads asked for.
    report_requests: u64,
    /// `--success-log-bytes`: the length of one job's success log, the
    /// first job whose JobLogInfo DescribeJob returns (`long_log_job`).
    long_success_log: Option<u64>,
    long_log_job: Option<String>,
    /// Device limits set by tests, by (account, region).
    usage_limits: BTreeMap<(String, String), u64>,
    /// The default limits start from half the jobs a fleet starts with, so
    /// that a fleet's devices out stay within them.
    usage_base: u64,
    /// GetSnowballUsage requests received.
    usage_requests: u64,
    /// Clusters and terms, by the key of the fleet their members are in.
    estates: BTreeMap<String, estate::Estate>,
    /// Requests received per Snowball operation: the request log tests
    /// compare with what a run was asked to read.
    operations: BTreeMap<String, u64>,
}

/// What a ListJobs request gets, before protocol encoding.
pub(crate) enum Answer {
    Page {
        entries: Vec<JobEntry>,
        next_token: Option<String>,
    },
    Described {
        metadata: serde_json::Value,
        parts: Vec<serde_json::Value>,
    },
    /// GetSnowballUsage's figures.
    Usage {
        limit: u64,
        in_use: u64,
    },
    /// Any other output, in the service's field names.
    Json(serde_json::Value),
    Error(ApiError),
    Drop,
}

impl Simulator {
    pub fn new(config: &FleetConfig, faults: Faults) -> Simulator {
        let org = Organization::new(config.accounts, &config.suspended);
        let mut fleets = BTreeMap::new();
        let mut estates = BTreeMap::new();
        // Terms end relative to today; the fleets stay a function of their seed.
        let today = chrono::Utc::now().timestamp() / 86_400 * 86_400;
        for account in 0..org.accounts.len() {
            for region in &config.regions {
                let key = account_fleet_key(&org, account, region);
                let seed = config.seed ^ fnv1a(key.as_bytes());
                let fleet = fleets
                    .entry(key.clone())
                    .or_insert_with(|| Fleet::generate(seed, config.jobs));
                if (config.clusters > 0 || config.terms > 0) && !estates.contains_key(&key) {
                    let generated = estate::Estate::generate(
                        seed.rotate_left(7),
                        today,
                        config.clusters,
                        config.terms,
                        fleet,
                    );
                    estates.insert(key, generated);
                }
            }
        }
        Simulator {
            state: Arc::new(Mutex::new(State {
                fleets,
                org,
                faults,
                list_requests: 0,
                snowball_requests: 0,
                described: std::collections::VecDeque::new(),
                describe_requests: 0,
                identity_requests: 0,
                token_key: random_key(),
                report_requests: 0,
                long_success_log: None,
                long_log_job: None,
                usage_limits: BTreeMap::new(),
                usage_base: config.jobs as u64 / 2,
                usage_requests: 0,
                estates,
                operations: BTreeMap::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Advances every fleet by `ticks`, taking the lock for one tick at a
    /// time so that requests are answered in between.
    pub fn advance(&self, ticks: u64) -> u64 {
        let mut tick = self.tick();
        for _ in 0..ticks {
            let mut guard = self.state();
            let state = &mut *guard;
            for fleet in state.fleets.values_mut() {
                fleet.advance(1);
                tick = fleet.tick();
            }
            for (key, estate) in &mut state.estates {
                if let Some(fleet) = state.fleets.get_mut(key) {
                    estate.tick(fleet);
                }
            }
            drop(guard);
            // The lock is not fair: let a waiting request take it first.
            std::thread::yield_now();
        }
        tick
    }

    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// Replaces a region's fleet with exactly these entries.
    pub fn replace_jobs(&self, region: &str, entries: Vec<JobEntry>) {
        self.state()
            .fleets
            .insert(fleet_key(region), Fleet::fixed(entries));
    }

    /// Appends an entry to a region's fleet.
    pub fn push_job(&self, region: &str, entry: JobEntry) {
        self.state()
            .fleets
            .entry(fleet_key(region))
            .or_insert_with(|| Fleet::fixed(Vec::new()))
            .push_fixed(entry);
    }

    /// Sets a job's state by hand; false when no fleet has it.
    pub fn set_state(&self, job_id: &str, state: &str) -> bool {
        self.state()
            .fleets
            .values_mut()
            .any(|fleet| fleet.set_state(job_id, state))
    }

    /// Every token handed out so far becomes stale.
    pub fn invalidate_tokens(&self) {
        self.state().token_key = random_key();
    }

    /// Ticks the fleets have advanced since start.
    pub fn tick(&self) -> u64 {
        self.state()
            .fleets
            .values()
            .map(Fleet::tick)
            .max()
            .unwrap_or(0)
    }

    /// ListJobs requests received (faulted ones included).
    pub fn list_requests(&self) -> u64 {
        self.state().list_requests
    }

    /// STS and Organizations requests received.
    pub fn identity_requests(&self) -> u64 {
        self.state().identity_requests
    }

    /// Every fleet's entries, oldest first, as JSON: the byte-for-byte view
    /// of determinism.
    pub fn dump(&self) -> String {
        let state = self.state();
        let fleets: BTreeMap<&String, Vec<&JobEntry>> = state
            .fleets
            .iter()
            .map(|(key, fleet)| (key, fleet.entries().collect()))
            .collect();
        serde_json::to_string_pretty(&fleets).unwrap_or_default()
    }

    /// Decides a ListJobs request: faults first, then the page. Newest jobs
    /// are listed first; the token is the index to continue below, with a
    /// keyed check so a forged or stale token is refused.
    pub(crate) fn list_jobs(
        &self,
        access_key: &str,
        region: &str,
        input: &wire::ListJobsInput,
    ) -> (Answer, Duration) {
        let mut state = self.state();
        state.list_requests += 1;
        let latency = state.faults.page_latency;
        if let Some(fault) = state.fault() {
            return (fault, latency);
        }
        let account = match state.authorize(access_key, "ListJobs") {
            Ok(account) => account,
            Err(error) => return (Answer::Error(error), latency),
        };
        let max = match input.max_results {
            None | Some(0) => 100,
            Some(n @ 1..=100) => n as usize,
            Some(n) => {
                let message = format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 0 and 100"
                );
                return (
                    Answer::Error(ApiError::client("ValidationException", message)),
                    latency,
                );
            }
        };
        if input.next_token.is_some() && state.faults.reject_tokens > 0 {
            state.faults.reject_tokens -= 1;
            let error = ApiError::client(
                "InvalidNextTokenException",
                "The token is invalid or has expired.",
            );
            return (Answer::Error(error), latency);
        }
        let repeat = state
            .faults
            .repeat_tokens
            .then(|| input.next_token.clone())
            .flatten();
        let key = account_fleet_key(&state.org, account, region);
        let token_key = state.token_key;
        let Some(fleet) = state.fleets.get(&key) else {
            return (
                Answer::Page {
                    entries: Vec::new(),
                    next_token: None,
                },
                latency,
            );
        };
        let end = match &input.next_token {
            None => fleet.len(),
            Some(token) => match decode_token(token_key, &key, token) {
                Some(end) if end <= fleet.len() && end > 0 => end,
                _ => {
                    let error = ApiError::client(
                        "InvalidNextTokenException",
                        "The token is invalid or has expired.",
                    );
                    return (Answer::Error(error), latency);
                }
            },
        };
        let start = end.saturating_sub(max);
        let entries = (start..end)
            .rev()
            .filter_map(|i| fleet.entry(i).cloned())
            .collect();
        let next_token =
            repeat.or_else(|| (start > 0).then(|| encode_token(token_key, &key, start)));
        (
            Answer::Page {
                entries,
                next_token,
            },
            latency,
        )
    }
}

impl Simulator {
    /// An STS request (awsQuery): GetCallerIdentity or AssumeRole, as the
    /// HTTP status and XML body, and the latency to wait first.
    pub(crate) fn sts(&self, access_key: &str, body: &[u8]) -> (u16, String, Duration) {
        let mut state = self.state();
        state.identity_requests += 1;
        let latency = state.faults.identity_latency;
        let params = sts::form(body);
        let action = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.as_str());
        let (status, xml) = match (action, state.org.account_of_key(access_key)) {
            (_, None) => sts::error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            (Some("GetCallerIdentity"), Some(account)) => {
                sts::get_caller_identity(&state.org, account)
            }
            (Some("AssumeRole"), Some(_)) => {
                sts::assume_role(&state.org, &params, &state.faults.deny_assume_role)
            }
            (other, Some(_)) => sts::error(
                400,
                "InvalidAction",
                &format!("the simulator serves GetCallerIdentity and AssumeRole, not {other:?}"),
            ),
        };
        (status, xml, latency)
    }

    /// An Organizations request (awsJson1_1): ListAccounts, from the
    /// management account only.
    pub(crate) fn organizations(
        &self,
        access_key: &str,
        operation: &str,
        body: &[u8],
    ) -> (Result<serde_json::Value, ApiError>, Duration) {
        let mut state = self.state();
        state.identity_requests += 1;
        let latency = state.faults.identity_latency;
        let answer = match (operation, state.org.account_of_key(access_key)) {
            ("ListAccounts", Some(0)) => organizations::list_accounts(&state.org, body),
            ("ListAccounts", _) => Err(ApiError::client(
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            )),
            (other, _) => Err(ApiError::client(
                "UnknownOperationException",
                format!("the simulator serves ListAccounts only, not {other}"),
            )),
        };
        (answer, latency)
    }

    /// The organization's accounts.
    pub fn accounts(&self) -> Vec<organization::Account> {
        self.state().org.accounts.clone()
    }
}

impl State {
    /// The account whose credentials made a Snowball request, unless the
    /// faults deny that account the operation.
    fn authorize(&self, access_key: &str, operation: &str) -> Result<usize, ApiError> {
        let denied = match operation {
            "ListJobs" => &self.faults.deny_list_jobs,
            "GetSnowballUsage" => &self.faults.deny_usage,
            "ListClusters" => &self.faults.deny_list_clusters,
            "DescribeCluster" => &self.faults.deny_describe_cluster,
            "ListClusterJobs" => &self.faults.deny_list_cluster_jobs,
            "ListLongTermPricing" => &self.faults.deny_long_term_pricing,
            _ => &self.faults.deny_describe_job,
        };
        match self.org.account_of_key(access_key) {
            Some(account) if !denied.contains(&self.org.accounts[account].id) => Ok(account),
            _ => Err(ApiError::client(
                "AccessDeniedException",
                format!("User is not authorized to perform: snowball:{operation}"),
            )),
        }
    }

    /// Gives the described jobs that have reports (`flags`: the main job,
    /// then each part) their JobLogInfo, pointing at `base`.
    fn add_job_logs(
        &mut self,
        base: &str,
        flags: Vec<bool>,
        mut metadata: serde_json::Value,
        mut parts: Vec<serde_json::Value>,
    ) -> Answer {
        let issued = chrono::Utc::now().timestamp();
        let expired = self.faults.expire_reports > 0 && flags.iter().any(|f| *f);
        if expired {
            self.faults.expire_reports -= 1;
        }
        let at = match expired {
            true => issued - 2 * reports::EXPIRES_SECONDS,
            false => issued,
        };
        let values = std::iter::once(&mut metadata).chain(parts.iter_mut());
        for (value, has) in values.zip(flags) {
            if !has {
                continue;
            }
            let id = value["JobId"].as_str().unwrap_or_default().to_owned();
            if self.long_success_log.is_some() && self.long_log_job.is_none() {
                self.long_log_job = Some(id.clone());
            }
            value["JobLogInfo"] = reports::job_log_info(base, &id, at);
        }
        Answer::Described { metadata, parts }
    }

    /// Counts a Snowball request and decides whether a fault answers it.
    fn fault(&mut self) -> Option<Answer> {
        self.snowball_requests += 1;
        let n = self.snowball_requests;
        let hits = |every: Option<u64>| every.is_some_and(|k| n.is_multiple_of(k));
        if hits(self.faults.drop_every) {
            return Some(Answer::Drop);
        }
        if hits(self.faults.throttle_every) {
            return Some(Answer::Error(ApiError::client(
                "ThrottlingException",
                "Rate exceeded",
            )));
        }
        if hits(self.faults.error_every) {
            return Some(Answer::Error(ApiError {
                status: 500,
                code: "InternalFailure",
                message: "simulated internal error".into(),
            }));
        }
        None
    }
}

impl Simulator {
    /// Decides a DescribeJob request: faults as for ListJobs, then the job's
    /// metadata from the fleet of the caller's account and region (and its
    /// parts', for an export's main job).
    pub(crate) fn describe_job(
        &self,
        access_key: &str,
        region: &str,
        job_id: &str,
        base: &str,
    ) -> (Answer, Duration) {
        let mut state = self.state();
        state.describe_requests += 1;
        if state.described.len() == DESCRIBED_LOG {
            state.described.pop_front();
        }
        state.described.push_back(job_id.to_owned());
        let latency = state.faults.page_latency;
        if let Some(fault) = state.fault() {
            return (fault, latency);
        }
        let account = match state.authorize(access_key, "DescribeJob") {
            Ok(account) => account,
            Err(error) => return (Answer::Error(error), latency),
        };
        let account_id = state.org.accounts[account].id.clone();
        let key = account_fleet_key(&state.org, account, region);
        let described = state
            .fleets
            .get(&key)
            .filter(|_| !state.faults.forget_jobs.iter().any(|j| j == job_id))
            .and_then(|f| f.describe(job_id));
        let answer = match described {
            // The model has no ResourceNotFoundException: an unknown job id is
            // an InvalidResourceException.
            None => Answer::Error(ApiError::client(
                "InvalidResourceException",
                format!("The specified job ID {job_id} is not valid for this account."),
            )),
            Some(job) => {
                let flags: Vec<bool> = std::iter::once(job.entry)
                    .chain(job.parts.iter().map(|(part, _)| *part))
                    .map(has_reports)
                    .collect();
                let nul = state.faults.nul_in_descriptions;
                let metadata = details::job_metadata(job.entry, job.ticks_in_state, &account_id);
                let parts: Vec<_> = job
                    .parts
                    .iter()
                    .map(|(part, ticks)| details::job_metadata(part, *ticks, &account_id))
                    .collect();
                let (metadata, parts) = match nul {
                    true => (
                        details::with_nul(metadata),
                        parts.into_iter().map(details::with_nul).collect(),
                    ),
                    false => (metadata, parts),
                };
                state.add_job_logs(base, flags, metadata, parts)
            }
        };
        (answer, latency)
    }

    /// GetSnowballUsage for the account of `access_key` in `region`: a limit
    /// per account and region (half the fleet's starting jobs, plus 10 to
    /// 50; or as set), and the devices out:
    /// that fleet's jobs from PreparingShipment until back at AWS.
    pub(crate) fn usage(&self, access_key: &str, region: &str) -> (Answer, Duration) {
        let mut state = self.state();
        state.usage_requests += 1;
        let latency = state.faults.page_latency;
        if let Some(fault) = state.fault() {
            return (fault, latency);
        }
        let account = match state.authorize(access_key, "GetSnowballUsage") {
            Ok(account) => account,
            Err(error) => return (Answer::Error(error), latency),
        };
        let account_id = state.org.accounts[account].id.clone();
        let key = account_fleet_key(&state.org, account, region);
        let out = [
            "PreparingShipment",
            "InTransitToCustomer",
            "WithCustomer",
            "InTransitToAWS",
        ];
        let in_use = state.fleets.get(&key).map_or(0, |fleet| {
            fleet
                .entries()
                .filter(|e| !e.is_master && out.contains(&e.job_state.as_str()))
                .count() as u64
        });
        let limit = state
            .usage_limits
            .get(&(account_id.clone(), region.to_owned()))
            .copied()
            .unwrap_or(
                state.usage_base + 10 + fnv1a(format!("{account_id}/{region}").as_bytes()) % 41,
            );
        (Answer::Usage { limit, in_use }, latency)
    }

    /// GetSnowballUsage requests received.
    pub fn usage_requests(&self) -> u64 {
        self.state().usage_requests
    }

    /// Sets an account's device limit in a region, as a support case would.
    pub fn set_usage_limit(&self, account_id: &str, region: &str, limit: u64) {
        self.state()
            .usage_limits
            .insert((account_id.to_owned(), region.to_owned()), limit);
    }

    /// Counts one request to a Snowball operation (the request log).
    pub(crate) fn log_operation(&self, operation: &str) {
        *self
            .state()
            .operations
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    /// Requests received per Snowball operation since start.
    pub fn operation_counts(&self) -> BTreeMap<String, u64> {
        self.state().operations.clone()
    }

    /// An estate operation of the account of `access_key` in `region`:
    /// ListClusters, DescribeCluster, ListClusterJobs or ListLongTermPricing
    /// (`id`: the ClusterId the two cluster calls name). Faults, denials and
    /// paging as for ListJobs.
    pub(crate) fn estate_call(
        &self,
        access_key: &str,
        region: &str,
        operation: &str,
        id: Option<&str>,
        input: &wire::ListJobsInput,
    ) -> (Answer, Duration) {
        let mut guard = self.state();
        let state = &mut *guard;
        let latency = state.faults.page_latency;
        if let Some(fault) = state.fault() {
            return (fault, latency);
        }
        let account = match state.authorize(access_key, operation) {
            Ok(account) => account,
            Err(error) => return (Answer::Error(error), latency),
        };
        let account_id = state.org.accounts[account].id.clone();
        let key = account_fleet_key(&state.org, account, region);
        let empty = estate::Estate::empty();
        let estate = state.estates.get(&key).unwrap_or(&empty);
        let cluster = id.and_then(|id| estate.clusters.iter().find(|c| c.cluster_id == id));
        let answer = match (operation, cluster) {
            ("ListClusters", _) => {
                let entries: Vec<_> = estate.clusters.iter().map(estate::cluster_entry).collect();
                state
                    .paged(&key, operation, entries, input)
                    .map(|(page, next)| {
                        Answer::Json(with_token(
                            serde_json::json!({ "ClusterListEntries": page }),
                            next,
                        ))
                    })
            }
            ("ListLongTermPricing", _) => {
                let entries: Vec<_> = estate.terms.iter().map(estate::term_entry).collect();
                state
                    .paged(&key, operation, entries, input)
                    .map(|(page, next)| {
                        Answer::Json(with_token(
                            serde_json::json!({ "LongTermPricingEntries": page }),
                            next,
                        ))
                    })
            }
            ("DescribeCluster", Some(cluster)) => Ok(Answer::Json(serde_json::json!({
                "ClusterMetadata": estate::cluster_metadata(cluster, &account_id)
            }))),
            ("ListClusterJobs", Some(cluster)) => {
                let fleet = state.fleets.get(&key);
                let entries: Vec<JobEntry> = cluster
                    .members
                    .iter()
                    .filter_map(|m| fleet?.entries().find(|e| &e.job_id == m).cloned())
                    .collect();
                let cluster_key = format!("{key}/{}", cluster.cluster_id);
                state
                    .paged(&cluster_key, operation, entries, input)
                    .map(|(entries, next_token)| Answer::Page {
                        entries,
                        next_token,
                    })
            }
            (_, _) => Err(ApiError::client(
                "InvalidResourceException",
                format!(
                    "The specified cluster ID {} is not valid for this account.",
                    id.unwrap_or_default()
                ),
            )),
        };
        (answer.unwrap_or_else(Answer::Error), latency)
    }

    /// Sets a cluster's state (and its members'), wherever it is; false when
    /// no estate has it.
    pub fn set_cluster_state(&self, cluster_id: &str, cluster_state: &str) -> bool {
        let mut guard = self.state();
        let state = &mut *guard;
        for (key, estate) in &mut state.estates {
            if let Some(index) = estate
                .clusters
                .iter()
                .position(|c| c.cluster_id == cluster_id)
                && let Some(fleet) = state.fleets.get_mut(key)
            {
                estate.set_cluster_state(index, cluster_state, fleet);
                return true;
            }
        }
        false
    }

    /// Every estate's clusters and terms, by fleet key.
    pub fn estates(&self) -> BTreeMap<String, (Vec<estate::Cluster>, Vec<estate::Term>)> {
        self.state()
            .estates
            .iter()
            .map(|(key, e)| (key.clone(), (e.clusters.clone(), e.terms.clone())))
            .collect()
    }

    /// Days pass in every estate: terms past their end renew or expire.
    pub fn pass_days(&self, days: i64) {
        for estate in self.state().estates.values_mut() {
            estate.pass(days * 86_400);
        }
    }

    /// Replaces the device of a term with a new job; its id, or None when
    /// no estate has the term.
    pub fn replace_term_device(&self, term_id: &str) -> Option<String> {
        let mut guard = self.state();
        let state = &mut *guard;
        for (key, estate) in &mut state.estates {
            if let Some(index) = estate.terms.iter().position(|t| t.id == term_id)
                && let Some(fleet) = state.fleets.get_mut(key)
            {
                return Some(estate.replace_device(index, fleet));
            }
        }
        None
    }

    /// Changes a term by hand, given the estate's clock (epoch seconds);
    /// false when no estate has it.
    pub fn edit_term(&self, term_id: &str, edit: impl FnOnce(&mut estate::Term, i64)) -> bool {
        for estate in self.state().estates.values_mut() {
            let now = estate.now();
            if let Some(term) = estate.terms.iter_mut().find(|t| t.id == term_id) {
                edit(term, now);
                return true;
            }
        }
        false
    }

    /// Drops a term or cluster from every estate, as if AWS no longer listed it.
    pub fn forget_estate_item(&self, id: &str) {
        for estate in self.state().estates.values_mut() {
            estate.clusters.retain(|c| c.cluster_id != id);
            estate.terms.retain(|t| t.id != id);
        }
    }

    /// A report download: the report, how long to pause before cutting it
    /// halfway (if it is), and whether to send its Content-Length; or why
    /// it is refused (status, code, message).
    pub(crate) fn report(&self, path: &str, query: &str) -> Result<Download, reports::Refusal> {
        let mut state = self.state();
        state.report_requests += 1;
        if let Some(refusal) = reports::refusal(query, chrono::Utc::now().timestamp()) {
            return Err(refusal);
        }
        if state.faults.fail_reports > 0 {
            state.faults.fail_reports -= 1;
            return Err((
                500,
                "InternalError",
                "We encountered an internal error. Please try again.".to_owned(),
            ));
        }
        // How long the body pauses halfway before it is cut, if it is.
        let cut = if state.faults.stall_reports > 0 {
            state.faults.stall_reports -= 1;
            Some(Duration::from_secs(60))
        } else if state.faults.cut_reports > 0 {
            state.faults.cut_reports -= 1;
            Some(Duration::from_millis(50))
        } else {
            None
        };
        let sized = state.faults.unsized_reports == 0;
        if !sized {
            state.faults.unsized_reports -= 1;
        }
        let (job_id, kind) = path.split_once('/').unwrap_or((path, ""));
        let long = match &state.long_log_job {
            Some(job) if job == job_id => state.long_success_log,
            _ => None,
        };
        match reports::report(job_id, kind, long) {
            Some(report) => Ok(Download { report, cut, sized }),
            None => Err((
                404,
                "NoSuchKey",
                "The specified key does not exist.".to_owned(),
            )),
        }
    }

    /// `--success-log-bytes`.
    pub fn set_long_success_log(&self, bytes: Option<u64>) {
        self.state().long_success_log = bytes;
    }

    /// Report downloads asked for, and the job with the long success log.
    pub fn report_stats(&self) -> (u64, Option<String>) {
        let state = self.state();
        (state.report_requests, state.long_log_job.clone())
    }

    /// The parts of an export's main job, in any fleet.
    pub fn parts(&self, main_job_id: &str) -> Vec<String> {
        self.state()
            .fleets
            .values()
            .find_map(|fleet| fleet.describe(main_job_id))
            .map(|job| job.parts.iter().map(|(p, _)| p.job_id.clone()).collect())
            .unwrap_or_default()
    }

    /// The job ids DescribeJob was asked for since the last call, in order.
    pub fn take_described(&self) -> Vec<String> {
        std::mem::take(&mut self.state().described).into()
    }

    /// DescribeJob requests received (faulted ones included).
    pub fn describe_requests(&self) -> u64 {
        self.state().describe_requests
    }
}

impl State {
    /// One page of `entries` in order: MaxResults (at most 100) from the
    /// token's index; the token faults (reject, repeat) apply as for ListJobs.
    fn paged<T>(
        &mut self,
        key: &str,
        operation: &str,
        entries: Vec<T>,
        input: &wire::ListJobsInput,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let max = match input.max_results {
            None | Some(0) => 100,
            Some(n @ 1..=100) => n as usize,
            Some(n) => {
                return Err(ApiError::client(
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
                    ),
                ));
            }
        };
        let invalid = || {
            ApiError::client(
                "InvalidNextTokenException",
                "The token is invalid or has expired.",
            )
        };
        if input.next_token.is_some() && self.faults.reject_tokens > 0 {
            self.faults.reject_tokens -= 1;
            return Err(invalid());
        }
        let key = format!("{key}/{operation}");
        let start = match &input.next_token {
            None => 0,
            Some(token) => match decode_token(self.token_key, &key, token) {
                Some(start) if start > 0 && start < entries.len() => start,
                _ => return Err(invalid()),
            },
        };
        let end = (start + max).min(entries.len());
        let repeat = self
            .faults
            .repeat_tokens
            .then(|| input.next_token.clone())
            .flatten();
        let next = repeat
            .or_else(|| (end < entries.len()).then(|| encode_token(self.token_key, &key, end)));
        let page = entries.into_iter().skip(start).take(end - start).collect();
        Ok((page, next))
    }
}

/// An output with its NextToken, when there is one.
fn with_token(mut output: serde_json::Value, next: Option<String>) -> serde_json::Value {
    if let Some(token) = next {
        output["NextToken"] = serde_json::json!(token);
    }
    output
}

/// DescribeJob requests remembered for `take_described`.
const DESCRIBED_LOG: usize = 100_000;

fn encode_token(key: u64, fleet: &str, index: usize) -> String {
    format!("{:016x}{:016x}", index, token_check(key, fleet, index))
}

fn decode_token(key: u64, fleet: &str, token: &str) -> Option<usize> {
    if token.len() != 32 || !token.is_ascii() {
        return None;
    }
    let index = usize::from_str_radix(&token[..16], 16).ok()?;
    let check = u64::from_str_radix(&token[16..], 16).ok()?;
    (check == token_check(key, fleet, index)).then_some(index)
}

fn token_check(key: u64, fleet: &str, index: usize) -> u64 {
    fleet::SplitMix64(key ^ fnv1a(fleet.as_bytes()) ^ (index as u64).rotate_left(17)).next_u64()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Tokens must not survive a restart of the simulator: a new key each start.
fn random_key() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The `simulate` command: serve until SIGINT or SIGTERM.
pub async fn run<S: std::fmt::Debug>(
    config: &ServeConfig,
    out: &mut (dyn std::io::Write + Send),
    shutdown: impl std::future::Future<Output = S>,
) -> anyhow::Result<S> {
    use anyhow::Context;
    let sim = Simulator::new(&config.fleet, config.faults.clone());
    sim.set_long_success_log(config.long_success_log);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr: SocketAddr = listener
        .local_addr()
        .context("reading the listening address")?;
    writeln!(out, "simulated Snowball API listening on http://{addr}").ok();
    out.flush().ok();
    tracing::info!(%addr, jobs = config.fleet.jobs, seed = config.fleet.seed, regions = ?config.fleet.regions, "simulator started");
    if let Some(every) = config.tick {
        let ticker = sim.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                let tick = ticker.advance(1);
                tracing::debug!(tick, "fleet advanced");
            }
        });
    }
    let signal = serve_until(listener, sim, shutdown).await;
    tracing::info!(?signal, "simulator stopped");
    Ok(signal)
}
