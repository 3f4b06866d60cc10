//! The estate beyond jobs (`sync --include usage,clusters,long-term-pricing`):
//! after the job listings, every (account, region) the run lists is read,
//! at most `--concurrency` at once, for each kind asked for:
//! - usage: GetSnowballUsage; a history row only when the figures change;
//! - clusters: ListClusters (every page), DescribeCluster for a cluster that
//!   is new, changed state or was never described, and ListClusterJobs for
//!   one not in a final state, that changed state or has no member yet;
//! - long-term-pricing: ListLongTermPricing (every page).
//!
//! Each is a listing of its kind in sync_run_listings. A refused call (one
//! line naming the permission) or a failed one makes the run partial; what
//! was read is written, and missing_since is set only after a complete
//! listing of that kind for that account and region.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::sources::Source;
use super::writing::Sink;
use crate::aws::{self, ApiError, ErrorKind, Operation};
use crate::config::EstateKinds;
use crate::db::clusters::Stored;
use crate::db::runs::ListingRecord;
use crate::db::usage::Observation;
use crate::estate::{ClusterRecord, TermRecord};

/// One call's answer and when it was made.
struct Read<T> {
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    answer: Result<T, Failure>,
}

/// Why a kind was not read whole: the call that failed, and how.
type Failure = ApiError;

/// ListClusters' clusters (described where needed) and pages, the member
/// jobs read, and the first follow-up call that failed, if any.
struct Clusters {
    listed: Vec<ClusterRecord>,
    pages: u32,
    members: Vec<(String, String)>,
    incomplete: Option<Failure>,
}

/// What one (account, region) gave.
struct PairRead {
    account_id: String,
    region: String,
    usage: Option<Read<(Option<i64>, Option<i64>)>>,
    clusters: Option<Read<Clusters>>,
    terms: Option<Read<(Vec<TermRecord>, u32)>>,
}

/// Reads the kinds asked for and stores them; notes in `end` what it wrote
/// and what failed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    (sink, lock): (&Sink, &tokio::sync::Mutex<crate::db::lock::RunLock>),
    run_id: i64,
    sources: &[Source],
    regions: &[String],
    kinds: EstateKinds,
    (concurrency, max_pages): (usize, u32),
    counter: &aws::ApiCounter,
    end: &mut super::RunEnd,
) -> anyhow::Result<()> {
    let accounts: Vec<String> = sources.iter().map(|s| s.account_id.clone()).collect();
    let stored = Arc::new(match kinds.clusters {
        true => sink.stored_clusters(&accounts).await?,
        false => HashMap::new(),
    });
    // A cluster listed by several US regions is described once a run.
    let claimed = Arc::new(Mutex::new(HashSet::new()));
    let mut calls = JoinSet::new();
    let mut reads = Vec::new();
    for source in sources {
        for region in regions {
            while calls.len() >= concurrency.max(1) {
                if let Some(done) = calls.join_next().await {
                    reads.push(done?);
                }
            }
            let client = aws::client(&source.access, region, counter);
            let pair = (source.account_id.clone(), region.clone());
            let (stored, claimed) = (stored.clone(), claimed.clone());
            calls.spawn(async move {
                read_pair(client, pair, kinds, max_pages, &stored, &claimed).await
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        reads.push(done?);
    }
    reads.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));

    let mut problems = Problems::default();
    if kinds.usage {
        let mut observations = Vec::new();
        let mut listings = Vec::new();
        for pair in &reads {
            let Some(read) = &pair.usage else { continue };
            if let Ok((limit, in_use)) = &read.answer {
                observations.push(Observation {
                    account_id: pair.account_id.clone(),
                    region: pair.region.clone(),
                    snowball_limit: *limit,
                    snowballs_in_use: *in_use,
                });
            }
            let failure = read.answer.as_ref().err();
            listings.push(listing(
                pair,
                read,
                1,
                0,
                failure,
                &mut problems,
                "device usage",
            ));
        }
        let written = sink.record_usage(lock, run_id, &observations).await?;
        sink.record_listings(lock, run_id, "usage", &listings)
            .await?;
        end.estate_listings
            .extend(listings.into_iter().map(|l| ("usage", l)));
        end.totals.usage_changes = Some(super::clamp(written as i64));
    }
    if kinds.clusters {
        let mut listed = Vec::new();
        let mut members = Vec::new();
        let mut complete = Vec::new();
        let mut listings = Vec::new();
        for pair in &reads {
            let Some(read) = &pair.clusters else { continue };
            let (pages, seen, failure) = match &read.answer {
                Ok(clusters) => {
                    complete.push((pair.account_id.as_str(), pair.region.as_str()));
                    for cluster in &clusters.listed {
                        listed.push((pair.account_id.as_str(), pair.region.as_str(), cluster));
                    }
                    for (cluster, job) in &clusters.members {
                        members.push((cluster.as_str(), job.as_str()));
                    }
                    let seen = clusters.listed.len();
                    (clusters.pages, seen, clusters.incomplete.as_ref())
                }
                Err(failure) => (0, 0, Some(failure)),
            };
            listings.push(listing(
                pair,
                read,
                pages,
                seen,
                failure,
                &mut problems,
                "clusters",
            ));
        }
        let listed = once_each(listed);
        let listed: Vec<(&str, &str, &ClusterRecord)> =
            listed.iter().map(|(a, r, c)| (*a, *r, c)).collect();
        let (transitions, missing) = sink
            .record_clusters(lock, run_id, &listed, &members, &complete)
            .await?;
        if missing > 0 {
            tracing::warn!(
                missing,
                "clusters listed before are no longer listed; missing_since is set"
            );
        }
        sink.record_listings(lock, run_id, "clusters", &listings)
            .await?;
        end.estate_listings
            .extend(listings.into_iter().map(|l| ("clusters", l)));
        end.totals.cluster_transitions = Some(super::clamp(transitions as i64));
    }
    if kinds.pricing {
        let mut listed = Vec::new();
        let mut complete = Vec::new();
        let mut listings = Vec::new();
        for pair in &reads {
            let Some(read) = &pair.terms else { continue };
            let (pages, seen) = match &read.answer {
                Ok((terms, pages)) => {
                    complete.push((pair.account_id.as_str(), pair.region.as_str()));
                    for term in terms {
                        listed.push((pair.account_id.as_str(), pair.region.as_str(), term));
                    }
                    (*pages, terms.len())
                }
                Err(_) => (0, 0),
            };
            let failure = read.answer.as_ref().err();
            listings.push(listing(
                pair,
                read,
                pages,
                seen,
                failure,
                &mut problems,
                "long-term pricing",
            ));
        }
        let (changes, missing) = sink.record_terms(lock, run_id, &listed, &complete).await?;
        if missing > 0 {
            tracing::warn!(
                missing,
                "long-term pricing terms listed before are no longer listed; missing_since is set"
            );
        }
        sink.record_listings(lock, run_id, "long-term-pricing", &listings)
            .await?;
        end.estate_listings
            .extend(listings.into_iter().map(|l| ("long-term-pricing", l)));
        end.totals.pricing_changes = Some(super::clamp(changes as i64));
    }
    if let Some(line) = problems.line() {
        end.estate_error = Some(match end.estate_error.take() {
            Some(earlier) => format!("{earlier}; {line}"),
            None => line,
        });
    }
    Ok(())
}

/// Reads every kind asked for in one account and region, one call at a time.
async fn read_pair(
    client: aws::Snowball,
    (account_id, region): (String, String),
    kinds: EstateKinds,
    max_pages: u32,
    stored: &HashMap<String, Stored>,
    claimed: &Mutex<HashSet<String>>,
) -> PairRead {
    let usage = match kinds.usage {
        true => Some(read(aws::get_usage(&client)).await),
        false => None,
    };
    let clusters = match kinds.clusters {
        true => Some(read_clusters(&client, &region, max_pages, stored, claimed).await),
        false => None,
    };
    let terms = match kinds.pricing {
        true => Some(read(aws::list_long_term_pricing(&client, &region, max_pages)).await),
        false => None,
    };
    PairRead {
        account_id,
        region,
        usage,
        clusters,
        terms,
    }
}

async fn read<T>(call: impl std::future::Future<Output = Result<T, ApiError>>) -> Read<T> {
    let started_at = Utc::now();
    let answer = call.await;
    Read {
        started_at,
        finished_at: Utc::now(),
        answer,
    }
}

/// ListClusters, then for each cluster the calls it needs. A refused
/// DescribeCluster or ListClusterJobs is not asked again in this account and
/// region; any other failure is kept (the first) and the rest go on.
async fn read_clusters(
    client: &aws::Snowball,
    region: &str,
    max_pages: u32,
    stored: &HashMap<String, Stored>,
    claimed: &Mutex<HashSet<String>>,
) -> Read<Clusters> {
    let started_at = Utc::now();
    let answer = match aws::list_clusters(client, region, max_pages).await {
        Err(error) => Err(error),
        Ok((mut listed, pages)) => {
            let mut members = Vec::new();
            let mut incomplete: Option<Failure> = None;
            let mut refused: BTreeSet<Operation> = BTreeSet::new();
            for cluster in &mut listed {
                let first_claim = claimed
                    .lock()
                    .map(|mut c| c.insert(cluster.cluster_id.clone()))
                    .unwrap_or(true);
                if !first_claim {
                    continue;
                }
                let before = stored.get(&cluster.cluster_id);
                let changed = before.is_none_or(|s| s.cluster_state != cluster.cluster_state);
                if (changed || before.is_some_and(|s| !s.described))
                    && !refused.contains(&Operation::DescribeCluster)
                {
                    match aws::describe_cluster(client, &cluster.cluster_id).await {
                        Ok(described) => cluster.described = Some(described),
                        Err(error) => note(&mut refused, &mut incomplete, error),
                    }
                }
                let wants_members =
                    !cluster.is_final() || changed || before.is_some_and(|s| !s.has_members);
                if wants_members && !refused.contains(&Operation::ListClusterJobs) {
                    match aws::list_cluster_jobs(client, &cluster.cluster_id, max_pages).await {
                        Ok(jobs) => members
                            .extend(jobs.into_iter().map(|j| (cluster.cluster_id.clone(), j))),
                        Err(error) => note(&mut refused, &mut incomplete, error),
                    }
                }
            }
            Ok(Clusters {
                listed,
                pages,
                members,
                incomplete,
            })
        }
    };
    Read {
        started_at,
        finished_at: Utc::now(),
        answer,
    }
}

/// Each cluster once: several US regions list the same clusters, and only
/// the first listing to reach one describes it. The first region's entry
/// (the listings are sorted) with the description whichever listing made.
fn once_each<'a>(
    listed: Vec<(&'a str, &'a str, &'a ClusterRecord)>,
) -> Vec<(&'a str, &'a str, ClusterRecord)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut once: Vec<(&str, &str, ClusterRecord)> = Vec::new();
    for (account_id, region, cluster) in listed {
        match index.get(cluster.cluster_id.as_str()) {
            Some(&at) => {
                if once[at].2.described.is_none() {
                    once[at].2.described = cluster.described.clone();
                }
            }
            None => {
                index.insert(&cluster.cluster_id, once.len());
                once.push((account_id, region, cluster.clone()));
            }
        }
    }
    once
}

/// Keeps a follow-up call's failure (the first one) and whether it was refused.
fn note(refused: &mut BTreeSet<Operation>, incomplete: &mut Option<Failure>, error: ApiError) {
    if error.kind == ErrorKind::Denied {
        refused.insert(error.operation);
    }
    incomplete.get_or_insert(error);
}

/// One kind's listing record for an account and region, its failure (if
/// any) noted in `problems`.
fn listing<T>(
    pair: &PairRead,
    read: &Read<T>,
    pages: u32,
    seen: usize,
    failure: Option<&Failure>,
    problems: &mut Problems,
    what: &'static str,
) -> ListingRecord {
    let error = failure.map(|f| {
        problems.add(&pair.account_id, &pair.region, what, f);
        format!("{}: {}", f.operation, f.message)
    });
    ListingRecord {
        account_id: pair.account_id.clone(),
        region: pair.region.clone(),
        succeeded: error.is_none(),
        pages: i32::try_from(pages).unwrap_or(i32::MAX),
        jobs_seen: super::clamp(seen as i64),
        error,
        started_at: read.started_at,
        finished_at: read.finished_at,
    }
}

/// The run's one line about the estate: each refused operation once, with
/// the accounts refused and the permission to grant; then each kind's other
/// failures.
#[derive(Default)]
struct Problems {
    refused: BTreeMap<Operation, BTreeSet<String>>,
    failed: BTreeMap<&'static str, Vec<String>>,
}

impl Problems {
    fn add(&mut self, account_id: &str, region: &str, what: &'static str, failure: &Failure) {
        let (operation, why) = (failure.operation, &failure.message);
        match failure.kind {
            ErrorKind::Denied => {
                tracing::error!(account_id, region, error = why, "{operation} refused");
                self.refused
                    .entry(operation)
                    .or_default()
                    .insert(account_id.to_owned());
            }
            _ => {
                tracing::warn!(account_id, region, error = why, "{operation} failed");
                self.failed
                    .entry(what)
                    .or_default()
                    .push(format!("{account_id} {region} ({operation}: {why})"));
            }
        }
    }

    fn line(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        for (operation, accounts) in &self.refused {
            for account in accounts {
                parts.push(format!(
                    "account {account} may not call {operation} (AccessDeniedException): grant snowball:{operation} (contrib/iam-policy-estate.json)"
                ));
            }
        }
        for (what, each) in &self.failed {
            parts.push(format!("{what} not read for {}", each.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
