//! Details: after listing, DescribeJob for the jobs the run must describe
//! (see db::details::to_describe), at most `--details-concurrency` at once,
//! the exports' main jobs first so their parts come with them. Descriptions
//! are stored a batch at a time; the jobs to describe are read a slice at a
//! time, so memory stays bounded whatever the fleet size.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::sources::Source;
use super::writing::Sink;
use crate::archive::{Archiver, NotArchived, ReportLink};
use crate::aws::{self, ApiError, Description, ErrorKind};
use crate::db;
use crate::db::details::ToDescribe;
use crate::db::lock::RunLock;
use crate::detail::DetailRecord;

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
    /// Reports archived (`--include reports`), and their bytes; of them,
    /// those kept only hashed (larger than --report-max-bytes).
    pub reports_archived: i64,
    pub reports_hashed_only: i64,
    pub report_bytes: i64,
    /// Reports not archived: job, kind and why.
    pub reports_failed: Vec<(String, &'static str, String)>,
}

impl Described {
    /// One line for the run's error, naming the jobs not described; None
    /// when every job was.
    pub fn error(&self) -> Option<String> {
        let reports = self.reports_error();
        if self.failed.is_empty() {
            return reports;
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
        parts.extend(reports);
        Some(parts.join("; "))
    }

    /// The reports not archived, named by job and kind.
    fn reports_error(&self) -> Option<String> {
        if self.reports_failed.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .reports_failed
            .iter()
            .take(NAMED)
            .map(|(job, kind, why)| format!("{job} {kind} ({why})"))
            .collect();
        let more = self.reports_failed.len().saturating_sub(NAMED);
        Some(format!(
            "{} report(s) not archived, to be fetched by a later run: {}{}",
            self.reports_failed.len(),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ))
    }
}

/// The step's inputs.
pub struct Step<'a> {
    pub sink: &'a Sink,
    pub lock: &'a Mutex<RunLock>,
    pub run_id: i64,
    pub sources: &'a [Source],
    pub concurrency: usize,
    pub counter: &'a aws::ApiCounter,
    /// `--include reports`: archives completed jobs' reports.
    pub archiver: Option<&'a Archiver>,
}

/// The details step of a run: describes, until done or `shutdown`, and
/// notes in `end` what it did and what it could not.
pub(crate) async fn run(
    step: Step<'_>,
    end: &mut super::RunEnd,
    shutdown: &mut (impl std::future::Future<Output = crate::exit_code::Signal> + Unpin),
) {
    let started = std::time::Instant::now();
    let archiving = step.archiver.is_some();
    tokio::select! {
        signal = shutdown => end.failure = Some(crate::error::Error::Interrupted(signal)),
        described = describe(step) => match described {
            Ok(described) => {
                end.totals.jobs_described = Some(super::clamp(described.jobs));
                end.totals.detail_changes = Some(super::clamp(described.changes));
                if archiving {
                    end.totals.reports_archived = Some(super::clamp(described.reports_archived));
                    end.totals.reports_hashed_only =
                        Some(super::clamp(described.reports_hashed_only));
                    end.totals.report_bytes = Some(described.report_bytes);
                }
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
    let mut batch = Batch::default();
    // Main jobs first: their parts arrive with them and are not asked for again.
    for main_jobs in [true, false] {
        let mut after = String::new();
        loop {
            let slice = step
                .sink
                .to_describe(
                    step.run_id,
                    main_jobs,
                    step.archiver.map(Archiver::max_bytes),
                    &after,
                    SLICE,
                )
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
                    let answer = aws::describe_job(&client, &job.job_id).await;
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

type Done = Result<(ToDescribe, Result<Description, ApiError>), tokio::task::JoinError>;

/// Descriptions waiting to be stored, and the reports of their jobs, which
/// are fetched once the descriptions are (a report's row needs its job's).
#[derive(Default)]
struct Batch {
    records: Vec<DetailRecord>,
    links: Vec<ReportLink>,
    /// Export parts, each with the main job it came with.
    parts: Vec<(String, String)>,
}

async fn collect(
    step: &Step<'_>,
    described: &mut Described,
    batch: &mut Batch,
    done: Done,
) -> anyhow::Result<()> {
    match done {
        Ok((_, Ok(description))) => {
            if let Some((main, parts)) = description.records.split_first() {
                batch.parts.extend(
                    parts
                        .iter()
                        .map(|p| (p.job_id.clone(), main.job_id.clone())),
                );
            }
            batch.records.extend(description.records);
            if step.archiver.is_some() {
                batch.links.extend(description.links);
            }
        }
        Ok((job, Err(error))) if error.kind == ErrorKind::Denied => {
            tracing::error!(
                account_id = job.account_id,
                job_id = job.job_id,
                error = error.message,
                "DescribeJob refused; the account's jobs are not described"
            );
            described
                .denied
                .entry(job.account_id)
                .or_insert_with(|| "AccessDeniedException".to_owned());
            described.failed.push((job.job_id, String::new()));
        }
        Ok((job, Err(error))) => {
            tracing::warn!(
                job_id = job.job_id,
                error = error.message,
                "could not describe a job"
            );
            described.failed.push((job.job_id, error.message));
        }
        Err(err) => anyhow::bail!("a DescribeJob task failed: {err}"),
    }
    // URLs expire an hour after DescribeJob: a job with reports is stored
    // and archived soon after.
    if batch.records.len() >= BATCH || !batch.links.is_empty() {
        store(step, described, batch).await?;
    }
    Ok(())
}

async fn store(
    step: &Step<'_>,
    described: &mut Described,
    batch: &mut Batch,
) -> anyhow::Result<()> {
    if batch.records.is_empty() {
        return Ok(());
    }
    let (stored, changes) = match step
        .sink
        .write_details(step.lock, step.run_id, &batch.records)
        .await
    {
        Err(err) if refused_value(&err).is_some() => one_by_one(step, described, batch).await?,
        written => written?,
    };
    described.jobs += stored;
    described.changes += changes;
    if !batch.parts.is_empty() {
        let parts: Vec<&str> = batch.parts.iter().map(|(p, _)| p.as_str()).collect();
        let mains: Vec<&str> = batch.parts.iter().map(|(_, m)| m.as_str()).collect();
        step.sink
            .set_main_jobs(step.lock, step.run_id, &parts, &mains)
            .await?;
    }
    if let (Some(archiver), Some(pool)) = (step.archiver, step.sink.pool()) {
        let ids: Vec<&str> = batch.records.iter().map(|r| r.job_id.as_str()).collect();
        let offered: Vec<String> = ids
            .iter()
            .map(|id| {
                let kinds: Vec<&str> = batch
                    .links
                    .iter()
                    .filter(|l| l.job_id == *id)
                    .map(|l| l.kind)
                    .collect();
                kinds.join(",")
            })
            .collect();
        step.sink
            .set_offered_kinds(step.lock, step.run_id, &ids, &offered)
            .await?;
        archive(
            step,
            pool,
            archiver,
            described,
            std::mem::take(&mut batch.links),
        )
        .await?;
    }
    batch.records.clear();
    batch.links.clear();
    batch.parts.clear();
    Ok(())
}

/// Stores the batch's descriptions one at a time, after PostgreSQL refused a
/// value in the batch: a job whose description it refuses is named as not
/// described (its parts and reports wait for a later run), the others are
/// stored.
async fn one_by_one(
    step: &Step<'_>,
    described: &mut Described,
    batch: &mut Batch,
) -> anyhow::Result<(i64, i64)> {
    let mut done = (0, 0);
    let mut refused = Vec::new();
    for record in &batch.records {
        let one = std::slice::from_ref(record);
        match step.sink.write_details(step.lock, step.run_id, one).await {
            Ok((stored, changes)) => {
                done.0 += stored;
                done.1 += changes;
            }
            Err(err) => {
                let Some(why) = refused_value(&err) else {
                    return Err(err);
                };
                tracing::warn!(
                    job_id = record.job_id,
                    error = why,
                    "PostgreSQL refused a value of the job's description; the job is not described"
                );
                // A job refused in the main jobs' pass is asked for again
                // in the other: named once.
                if !described
                    .failed
                    .iter()
                    .any(|(job, _)| *job == record.job_id)
                {
                    described.failed.push((
                        record.job_id.clone(),
                        format!("PostgreSQL refused its description: {why}"),
                    ));
                }
                refused.push(record.job_id.clone());
            }
        }
    }
    batch.records.retain(|r| !refused.contains(&r.job_id));
    batch.links.retain(|l| !refused.contains(&l.job_id));
    batch
        .parts
        .retain(|(part, main)| !refused.contains(part) && !refused.contains(main));
    Ok(done)
}

/// The message of a value PostgreSQL refused (SQLSTATE class 22, data
/// exception), anywhere in `err`'s chain.
fn refused_value(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        let db = cause.downcast_ref::<sqlx::Error>()?.as_database_error()?;
        db.code()
            .is_some_and(|code| code.starts_with("22"))
            .then(|| db.message().replace('\n', " "))
    })
}

/// Fetches the reports the database does not hold yet, one file at a time
/// (a job's reports form one chain). A live run's reports are committed file
/// by file (a dry run fetches nothing).
async fn archive(
    step: &Step<'_>,
    pool: &sqlx::PgPool,
    archiver: &Archiver,
    described: &mut Described,
    links: Vec<ReportLink>,
) -> anyhow::Result<()> {
    let mut by_job: BTreeMap<String, Vec<ReportLink>> = BTreeMap::new();
    for link in links {
        by_job.entry(link.job_id.clone()).or_default().push(link);
    }
    for (job_id, links) in by_job {
        let kinds: Vec<&str> = links.iter().map(|l| l.kind).collect();
        let missing =
            db::archive::missing_kinds(pool, &job_id, &kinds, archiver.max_bytes()).await?;
        for link in links.iter().filter(|l| missing.iter().any(|k| k == l.kind)) {
            match archiver.archive(pool, step.lock, step.run_id, link).await {
                Ok(archived) => {
                    described.reports_archived += 1;
                    described.reports_hashed_only += i64::from(!archived.stored);
                    described.report_bytes += i64::try_from(archived.bytes).unwrap_or(i64::MAX);
                    tracing::info!(
                        job_id,
                        kind = link.kind,
                        bytes = archived.bytes,
                        stored = archived.stored,
                        "report archived"
                    );
                }
                Err(NotArchived::Stop(err)) => return Err(err),
                Err(NotArchived::Failed(why)) => {
                    tracing::warn!(job_id, kind = link.kind, error = why, "report not archived");
                    described
                        .reports_failed
                        .push((job_id.clone(), link.kind, why));
                }
            }
        }
    }
    Ok(())
}

/// One Snowball client per (account, region), built when first needed.
struct Clients<'a> {
    sources: &'a [Source],
    counter: &'a aws::ApiCounter,
    built: HashMap<(String, String), aws::Snowball>,
}

impl Clients<'_> {
    fn get(&mut self, job: &ToDescribe) -> Option<aws::Snowball> {
        let key = (job.account_id.clone(), job.region.clone());
        if let Some(client) = self.built.get(&key) {
            return Some(client.clone());
        }
        let source = self
            .sources
            .iter()
            .find(|s| s.account_id == job.account_id)?;
        let client = aws::client(&source.access, &job.region, self.counter);
        self.built.insert(key, client.clone());
        Some(client)
    }
}
