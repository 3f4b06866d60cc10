//! The simulated estate of one account's region beyond its jobs: clusters,
//! whose member jobs are jobs of the fleet (listed by ListJobs, moved with
//! their cluster), and long-term pricing terms, which renew or lapse as the
//! estate's clock passes their end and sometimes get a replacement device.
//! Deterministic from a seed and a start date; the clock moves an hour a
//! tick, or days at a time (`pass_days`): ahead of the wall clock, which the
//! database's days_left and lapses count from.

use serde_json::{Value as Json, json};

use super::details::TAX_MARKER;
use super::fleet::{CANCELLED, Fleet, JobEntry, LOCAL_USE, SplitMix64, id};

/// A cluster's state, from where its members are along their (local use)
/// lifecycle, all in step: AwaitingQuorum while New, Pending until they
/// reach the customer, InUse until they are back, then Complete.
fn cluster_state(step: usize) -> &'static str {
    match step {
        0 => "AwaitingQuorum",
        1..=3 => "Pending",
        _ if step + 1 < LOCAL_USE.len() => "InUse",
        _ => "Complete",
    }
}
/// Devices in a simulated cluster (the service asks for at least five).
const MEMBERS: usize = 5;
const DAY: i64 = 86_400;
const TICK_SECONDS: i64 = 3_600;
/// The chance, each tick, that an active term's device is replaced.
const REPLACEMENT_CHANCE: f64 = 0.002;

#[derive(Debug, Clone)]
pub struct Cluster {
    pub cluster_id: String,
    pub state: String,
    /// Where its members are along LOCAL_USE; None once cancelled.
    step: Option<usize>,
    pub snowball_type: String,
    pub creation_date: i64,
    pub description: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub id: String,
    pub pricing_type: &'static str,
    pub start: i64,
    pub end: i64,
    pub auto_renew: bool,
    pub status: &'static str,
    pub snowball_type: String,
    pub current_active_job: Option<String>,
    pub replacement_job: Option<String>,
    pub job_ids: Vec<String>,
}

fn period(pricing_type: &str) -> i64 {
    match pricing_type {
        "OneMonth" => 30 * DAY,
        "OneYear" => 365 * DAY,
        _ => 3 * 365 * DAY,
    }
}

#[derive(Debug, Clone)]
pub struct Estate {
    rng: SplitMix64,
    /// Epoch seconds, the estate's now.
    clock: i64,
    pub clusters: Vec<Cluster>,
    pub terms: Vec<Term>,
}

impl Estate {
    /// No clusters and no terms: what an account's region without any serves.
    pub fn empty() -> Estate {
        Estate {
            rng: SplitMix64(0),
            clock: 0,
            clusters: Vec::new(),
            terms: Vec::new(),
        }
    }

    /// `clusters` clusters (their members pushed into `fleet`) and `terms`
    /// terms, some on the fleet's jobs, ending from days to years after `now`.
    pub fn generate(
        seed: u64,
        now: i64,
        clusters: usize,
        terms: usize,
        fleet: &mut Fleet,
    ) -> Estate {
        let mut estate = Estate {
            rng: SplitMix64(seed),
            clock: now,
            clusters: Vec::new(),
            terms: Vec::new(),
        };
        for i in 0..clusters {
            let cluster_id = id(&mut estate.rng, "CID");
            let step = estate.rng.below(LOCAL_USE.len() as u64) as usize;
            let creation_date = now - (1 + estate.rng.below(90) as i64) * DAY;
            let description = format!("Edge cluster at field site {}", i + 1);
            let members = (0..MEMBERS)
                .map(|_| {
                    let job_id = id(&mut estate.rng, "JID");
                    fleet.push_fixed(JobEntry {
                        job_id: job_id.clone(),
                        job_state: LOCAL_USE[step].to_owned(),
                        job_type: Some("LOCAL_USE".to_owned()),
                        snowball_type: Some("EDGE_C".to_owned()),
                        is_master: false,
                        creation_date: Some(creation_date),
                        description: Some(description.clone()),
                    });
                    job_id
                })
                .collect();
            estate.clusters.push(Cluster {
                cluster_id,
                state: cluster_state(step).to_owned(),
                step: Some(step),
                snowball_type: "EDGE_C".to_owned(),
                creation_date,
                description,
                members,
            });
        }
        let jobs: Vec<String> = fleet
            .entries()
            .filter(|e| !e.is_master)
            .map(|e| e.job_id.clone())
            .collect();
        for i in 0..terms {
            let pricing_type = ["OneMonth", "OneYear", "ThreeYear"][i % 3];
            let end = now + (3 + estate.rng.below(120) as i64) * DAY;
            let job = match jobs.is_empty() {
                true => None,
                false => Some(jobs[estate.rng.below(jobs.len() as u64) as usize].clone()),
            };
            let term_id = id(&mut estate.rng, "LTPID");
            estate.terms.push(Term {
                id: term_id,
                pricing_type,
                start: end - period(pricing_type),
                end,
                auto_renew: i % 2 == 0,
                status: "ACTIVE",
                snowball_type: "EDGE_C".to_owned(),
                job_ids: job.iter().cloned().collect(),
                current_active_job: job,
                replacement_job: None,
            });
            // Every fifth term has had its device replaced already.
            if i % 5 == 4 {
                estate.replace_device(i, fleet);
            }
        }
        estate
    }

    /// The estate's clock, epoch seconds.
    pub fn now(&self) -> i64 {
        self.clock
    }

    /// One tick: an hour passes; each cluster's members may move one step
    /// along their lifecycle together (or be cancelled early on), and the
    /// cluster's state follows them.
    pub fn tick(&mut self, fleet: &mut Fleet) {
        for index in 0..self.clusters.len() {
            let roll = self.rng.unit();
            let Some(step) = self.clusters[index].step else {
                continue;
            };
            if step <= 1 && roll < 0.03 {
                self.move_members(index, None, fleet);
            } else if roll < 0.3 && step + 1 < LOCAL_USE.len() {
                self.move_members(index, Some(step + 1), fleet);
            }
        }
        // Now and then an active term's device is replaced.
        for index in 0..self.terms.len() {
            let term = &self.terms[index];
            if self.rng.unit() < REPLACEMENT_CHANCE
                && term.status == "ACTIVE"
                && term.replacement_job.is_none()
            {
                self.replace_device(index, fleet);
            }
        }
        self.pass(TICK_SECONDS);
    }

    /// Sets a cluster's state by hand (AwaitingQuorum, Pending, InUse,
    /// Complete or Cancelled), its members to the first step of it.
    pub fn set_cluster_state(&mut self, index: usize, state: &str, fleet: &mut Fleet) {
        let step = (0..LOCAL_USE.len()).find(|s| cluster_state(*s) == state);
        self.move_members(index, step, fleet);
    }

    fn move_members(&mut self, index: usize, step: Option<usize>, fleet: &mut Fleet) {
        let cluster = &mut self.clusters[index];
        cluster.step = step;
        cluster.state = step.map_or(CANCELLED, cluster_state).to_owned();
        for member in &cluster.members {
            fleet.set_state(member, step.map_or(CANCELLED, |s| LOCAL_USE[s]));
        }
    }

    /// Time passes: a term past its end renews one period on (auto-renew)
    /// or expires.
    pub fn pass(&mut self, seconds: i64) {
        self.clock += seconds;
        for term in &mut self.terms {
            while term.status == "ACTIVE" && term.end <= self.clock {
                match term.auto_renew {
                    true => term.end += period(term.pricing_type),
                    false => term.status = "EXPIRED",
                }
            }
        }
    }

    /// A term's device is replaced by a new job, pushed into `fleet`.
    pub fn replace_device(&mut self, index: usize, fleet: &mut Fleet) -> String {
        let job_id = id(&mut self.rng, "JID");
        fleet.push_fixed(JobEntry {
            job_id: job_id.clone(),
            job_state: "New".to_owned(),
            job_type: Some("LOCAL_USE".to_owned()),
            snowball_type: Some(self.terms[index].snowball_type.clone()),
            is_master: false,
            creation_date: Some(self.clock),
            description: Some("Replacement device".to_owned()),
        });
        let term = &mut self.terms[index];
        term.replacement_job = Some(job_id.clone());
        term.job_ids.push(job_id.clone());
        job_id
    }
}

/// ListClusters' entry.
pub fn cluster_entry(c: &Cluster) -> Json {
    json!({
        "ClusterId": c.cluster_id,
        "ClusterState": c.state,
        "CreationDate": c.creation_date,
        "Description": c.description,
    })
}

/// DescribeCluster's ClusterMetadata; TaxDocuments carries the marker a test
/// looks for: it must never be stored, logged or printed.
pub fn cluster_metadata(c: &Cluster, account: &str) -> Json {
    json!({
        "ClusterId": c.cluster_id,
        "Description": c.description,
        "KmsKeyARN": format!("arn:aws:kms:us-east-1:{account}:key/00000000-0000-4000-8000-{}", &c.cluster_id[c.cluster_id.len() - 12..]),
        "RoleARN": format!("arn:aws:iam::{account}:role/snowball-cluster"),
        "ClusterState": c.state,
        "JobType": "LOCAL_USE",
        "SnowballType": c.snowball_type,
        "CreationDate": c.creation_date,
        "Resources": { "S3Resources": [] },
        "AddressId": format!("ADID{}", &c.cluster_id[3..11]),
        "ShippingOption": "SECOND_DAY",
        "Notification": { "SnsTopicARN": format!("arn:aws:sns:us-east-1:{account}:snowball-clusters"), "NotifyAll": true },
        "TaxDocuments": { "IND": { "GSTIN": format!("{TAX_MARKER}-{}", &c.cluster_id[3..11]) } },
    })
}

/// ListLongTermPricing's entry.
pub fn term_entry(t: &Term) -> Json {
    let mut entry = json!({
        "LongTermPricingId": t.id,
        "LongTermPricingType": t.pricing_type,
        "LongTermPricingStartDate": t.start,
        "LongTermPricingEndDate": t.end,
        "IsLongTermPricingAutoRenew": t.auto_renew,
        "LongTermPricingStatus": t.status,
        "SnowballType": t.snowball_type,
        "JobIds": t.job_ids,
    });
    if let Some(job) = &t.current_active_job {
        entry["CurrentActiveJob"] = json!(job);
    }
    if let Some(job) = &t.replacement_job {
        entry["ReplacementJob"] = json!(job);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::is_allowed_step;

    #[test]
    fn members_move_one_lifecycle_step_at_a_time_and_their_cluster_follows() {
        let mut fleet = Fleet::fixed(Vec::new());
        let mut estate = Estate::generate(5, 1_767_225_600, 6, 0, &mut fleet);
        let state_of = |fleet: &Fleet, job: &str| {
            fleet
                .entries()
                .find(|e| e.job_id == job)
                .map(|e| e.job_state.clone())
                .expect("a member job")
        };
        let mut moved = 0;
        for _ in 0..200 {
            let before: Vec<String> = estate
                .clusters
                .iter()
                .flat_map(|c| c.members.iter().map(|m| state_of(&fleet, m)))
                .collect();
            estate.tick(&mut fleet);
            let members = estate.clusters.iter().flat_map(|c| c.members.iter());
            for (member, from) in members.zip(before) {
                let to = state_of(&fleet, member);
                assert!(
                    to == from || is_allowed_step("LOCAL_USE", false, &from, &to),
                    "{from} -> {to}"
                );
                moved += usize::from(to != from);
            }
            for cluster in &estate.clusters {
                let member = state_of(&fleet, &cluster.members[0]);
                let want = match cluster.step {
                    None => CANCELLED,
                    Some(step) => cluster_state(step),
                };
                assert_eq!(cluster.state, want);
                assert!(cluster.step.is_none_or(|s| LOCAL_USE[s] == member));
            }
        }
        assert!(moved > 0, "the clusters moved");
        assert!(
            estate
                .clusters
                .iter()
                .all(|c| c.state == "Complete" || c.state == CANCELLED),
            "two hundred ticks end every cluster"
        );
    }

    #[test]
    fn a_term_past_its_end_renews_one_period_on_or_expires() {
        let mut fleet = Fleet::fixed(Vec::new());
        let mut estate = Estate::generate(6, 0, 0, 2, &mut fleet);
        let ends: Vec<i64> = estate.terms.iter().map(|t| t.end).collect();
        estate.terms[0].auto_renew = true;
        estate.terms[1].auto_renew = false;
        estate.pass(130 * DAY);
        assert_eq!(estate.terms[0].status, "ACTIVE");
        assert!(estate.terms[0].end > estate.now(), "renewed past now");
        assert_eq!(
            (estate.terms[0].end - ends[0]) % period(estate.terms[0].pricing_type),
            0
        );
        assert_eq!(estate.terms[1].status, "EXPIRED");
        assert_eq!(
            estate.terms[1].end, ends[1],
            "an expired term keeps its end"
        );
    }
}
