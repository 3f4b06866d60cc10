//! Details: after listing, DescribeJob for the jobs the run must describe
//! (see db::details::to_describe), at most `--details-concurrency` at once,
//! the exports' main jobs first so their parts come with them. Descriptions
//! are stored a batch at a time; the jobs to describe are read a slice at a
//! time, so memory stays bounded whatever the fleet size.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_snowball::Client;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::sources::Source;
use super::writing::Sink;
use crate::db::details::ToDescribe;
use crate::db::lock::RunLock;
use crate::detail::DetailRecord;
use crate::snowball::{self, DescribeError};

/// Jobs read from the database at a time.
const SLICE: i64 = 1000;
/// Descriptions stored in one statement.
const BATCH: usize = 200;
/// Failed jobs named in the run's error; the rest are counted.
const NAMED: usize = 10;

/// What the details step did.
#[derive(Debug, Default)]
pub struct Described {
    /// Jobs described (parts that came with their main job included).
    pub jobs: i64,
    /// History rows written: jobs whose shipments or transfer changed.
    pub changes: i64,
    /// Jobs that could not be described, with why.
    pub failed: Vec<(String, String)>,
    /// Accounts whose DescribeJob was refused, with the refusal.
    pub denied: BTreeMap<String, String>,
}

impl Described {
    /// One line for the run's error, naming the jobs not described; None
    /// when every job was.
    pub fn error(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let mut parts: Vec<String> = self
            .denied
            .iter()
            .map(|(account, refusal)| {
                format!(
                    "account {account} may not call DescribeJob ({refusal}): grant snowball:DescribeJob (contrib/iam-policy-details.json)"
                )
            })
            .collect();
        let named: Vec<String> = self
            .failed
            .iter()
            .take(NAMED)
            .map(|(job, why)| match why.is_empty() {
                true => job.clone(),
                false => format!("{job} ({why})"),
            })
            .collect();
        let more = self.failed.len().saturating_sub(NAMED);
        parts.push(format!(
            "{} job(s) not described: {}{}",
            self.failed.len(),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
        Some(parts.join("; "))
    }
}

/// The step's inputs.
pub struct Step<'a> {
    pub sink: &'a Sink,
    pub lock: &'a Mutex<RunLock>,
    pub run_id: i64,
    pub sources: &'a [Source],
    pub concurrency: usize,
    pub counter: &'a snowball::ApiCounter,
}

/// The details step of a run: describes, until done or `shutdown`, and
/// notes in `end` what it did and what it could not.
pub(crate) async fn run(
    step: Step<'_>,
    end: &mut super::RunEnd,
    shutdown: &mut (impl std::future::Future<Output = crate::exit_code::Signal> + Unpin),
) {
    let started = std::time::Instant::now();
    tokio::select! {
        signal = shutdown => end.failure = Some(crate::error::Error::Interrupted(signal)),
        described = describe(step) => match described {
            Ok(described) => {
                end.totals.jobs_described = Some(super::clamp(described.jobs));
                end.totals.detail_changes = Some(super::clamp(described.changes));
                end.details_error = described.error();
            }
            Err(err) => end.failure = Some(crate::error::Error::Failed(err)),
        },
    }
    end.details_elapsed = Some(started.elapsed());
}

/// Describes what the run must describe. Fails only when the database does;
/// jobs the API would not describe are in `failed`.
pub async fn describe(step: Step<'_>) -> anyhow::Result<Described> {
    let mut clients = Clients {
        sources: step.sources,
        counter: step.counter,
        built: HashMap::new(),
    };
    let concurrency = step.concurrency.max(1);
    let mut described = Described::default();
    let mut batch: Vec<DetailRecord> = Vec::new();
    // Main jobs first: their parts arrive with them and are not asked for again.
    for main_jobs in [true, false] {
        let mut after = String::new();
        loop {
            let slice = step
                .sink
                .to_describe(step.run_id, main_jobs, &after, SLICE)
                .await?;
            let Some(last) = slice.last() else { break };
            after = last.job_id.clone();
            let mut calls = JoinSet::new();
            for job in slice {
                // At most `concurrency` calls: wait for one to end, and
                // collect it first (it may be a refusal for this account).
                while calls.len() >= concurrency {
                    if let Some(done) = calls.join_next().await {
                        collect(&step, &mut described, &mut batch, done).await?;
                    }
                }
                while let Some(done) = calls.try_join_next() {
                    collect(&step, &mut described, &mut batch, done).await?;
                }
                // One refusal per account is enough to know.
                if described.denied.contains_key(&job.account_id) {
                    described.failed.push((job.job_id, String::new()));
                    continue;
                }
                let Some(client) = clients.get(&job) else {
                    described
                        .failed
                        .push((job.job_id, "no credentials for its account".into()));
                    continue;
                };
                calls.spawn(async move {
                    let answer = snowball::describe_job(&client, &job.job_id).await;
                    (job, answer)
                });
            }
            while let Some(done) = calls.join_next().await {
                collect(&step, &mut described, &mut batch, done).await?;
            }
            store(&step, &mut described, &mut batch).await?;
        }
    }
    Ok(described)
}

type Done = Result<(ToDescribe, Result<Vec<DetailRecord>, DescribeError>), tokio::task::JoinError>;

async fn collect(
    step: &Step<'_>,
    described: &mut Described,
    batch: &mut Vec<DetailRecord>,
    done: Done,
) -> anyhow::Result<()> {
    match done {
        Ok((_, Ok(records))) => batch.extend(records),
        Ok((job, Err(DescribeError::AccessDenied(why)))) => {
            tracing::error!(
                account_id = job.account_id,
                job_id = job.job_id,
                error = why,
                "DescribeJob refused; the account's jobs are not described"
            );
            described
                .denied
                .entry(job.account_id)
                .or_insert_with(|| "AccessDeniedException".to_owned());
            described.failed.push((job.job_id, String::new()));
        }
        Ok((job, Err(DescribeError::Failed(why)))) => {
            tracing::warn!(job_id = job.job_id, error = why, "could not describe a job");
            described.failed.push((job.job_id, why));
        }
        Err(err) => anyhow::bail!("a DescribeJob task failed: {err}"),
    }
    if batch.len() >= BATCH {
        store(step, described, batch).await?;
    }
    Ok(())
}

async fn store(
    step: &Step<'_>,
    described: &mut Described,
    batch: &mut Vec<DetailRecord>,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (stored, changes) = step
        .sink
        .write_details(step.lock, step.run_id, batch)
        .await?;
    described.jobs += stored;
    described.changes += changes;
    batch.clear();
    Ok(())
}

/// One Snowball client per (account, region), built when first needed.
struct Clients<'a> {
    sources: &'a [Source],
    counter: &'a snowball::ApiCounter,
    built: HashMap<(String, String), Client>,
}

impl Clients<'_> {
    fn get(&mut self, job: &ToDescribe) -> Option<Client> {
        let key = (job.account_id.clone(), job.region.clone());
        if let Some(client) = self.built.get(&key) {
            return Some(client.clone());
        }
        let source = self
            .sources
            .iter()
            .find(|s| s.account_id == job.account_id)?;
        let client = snowball::client(&source.sdk, &job.region, self.counter);
        self.built.insert(key, client.clone());
        Some(client)
    }
}
