//! A simulated fleet of Snowball jobs for one region: generated from a seed,
//! advanced tick by tick along the service's documented lifecycles. The same
//! seed and tick count always give the same fleet, byte for byte.
//!
//! Large because the lifecycle of every job type and the fleet's generation
//! from a seed are one model.

use serde::Serialize;

/// A ListJobs entry as the simulator serves it, in the service's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobEntry {
    pub job_id: String,
    pub job_state: String,
    pub job_type: Option<String>,
    pub snowball_type: Option<String>,
    pub is_master: bool,
    /// Epoch seconds.
    pub creation_date: Option<i64>,
    pub description: Option<String>,
}

/// Every SnowballType of the current service model.
pub const SNOWBALL_TYPES: &[&str] = &[
    "STANDARD",
    "EDGE",
    "EDGE_C",
    "EDGE_CG",
    "EDGE_S",
    "SNC1_HDD",
    "SNC1_SSD",
    "V3_5C",
    "V3_5S",
    "RACK_5U_C",
];

pub const IMPORT: &[&str] = &[
    "New",
    "PreparingAppliance",
    "PreparingShipment",
    "InTransitToCustomer",
    "WithCustomer",
    "InTransitToAWS",
    "WithAWSSortingFacility",
    "WithAWS",
    "InProgress",
    "Complete",
];
/// Export job parts: AWS copies the data onto the device (InProgress) before shipping it.
pub const EXPORT: &[&str] = &[
    "New",
    "PreparingAppliance",
    "InProgress",
    "PreparingShipment",
    "InTransitToCustomer",
    "WithCustomer",
    "InTransitToAWS",
    "WithAWSSortingFacility",
    "WithAWS",
    "Complete",
];
/// Local use: the device comes back empty; nothing is imported.
pub const LOCAL_USE: &[&str] = &[
    "New",
    "PreparingAppliance",
    "PreparingShipment",
    "InTransitToCustomer",
    "WithCustomer",
    "InTransitToAWS",
    "WithAWSSortingFacility",
    "WithAWS",
    "Complete",
];
/// An export's main job: it has no device; it follows its parts.
pub const MAIN_JOB: &[&str] = &["New", "InProgress", "Complete"];

pub const CANCELLED: &str = "Cancelled";

/// The documented path a job of this kind follows.
pub fn lifecycle(job_type: &str, is_master: bool) -> &'static [&'static str] {
    match (job_type, is_master) {
        (_, true) => MAIN_JOB,
        ("EXPORT", false) => EXPORT,
        ("LOCAL_USE", false) => LOCAL_USE,
        _ => IMPORT,
    }
}

/// Whether one tick can move a job of this kind from `from` to `to`: the next
/// step of its lifecycle, or Cancelled early on (before the device ships; a
/// main job when all its parts were cancelled).
pub fn is_allowed_step(job_type: &str, is_master: bool, from: &str, to: &str) -> bool {
    let path = lifecycle(job_type, is_master);
    let Some(at) = path.iter().position(|s| *s == from) else {
        return false;
    };
    if to == CANCELLED {
        return if is_master {
            from != "Complete"
        } else {
            at <= 1
        };
    }
    path.get(at + 1) == Some(&to)
}

/// 2026-01-01T00:00:00Z: creation dates are anchored here, not to the wall
/// clock, so a fleet is a function of its seed and tick count alone.
const ANCHOR: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
/// Simulated time per tick, for the creation dates of new jobs.
const TICK_SECONDS: i64 = 3_600;
const ADVANCE_CHANCE: f64 = 0.35;
const CANCEL_CHANCE: f64 = 0.03;

#[derive(Debug, Clone)]
enum Life {
    /// Put in place by a test or control call; never moves on its own.
    Fixed,
    Path {
        path: &'static [&'static str],
        step: usize,
        cancelled: bool,
    },
    Main {
        parts: Vec<usize>,
        parts_due: u64,
        part_count: usize,
        snowball_type: String,
    },
}

#[derive(Debug, Clone)]
struct SimJob {
    entry: JobEntry,
    life: Life,
    /// The tick its current state was entered (DescribeJob's transfer
    /// figures rise with the ticks spent InProgress).
    state_since: u64,
}

/// One region's jobs, oldest first.
#[derive(Debug, Clone)]
pub struct Fleet {
    rng: SplitMix64,
    tick: u64,
    jobs: Vec<SimJob>,
    max_new_per_tick: u64,
}

impl Fleet {
    /// `size` jobs, exactly, in every stage of their lives.
    pub fn generate(seed: u64, size: usize) -> Fleet {
        let mut fleet = Fleet {
            rng: SplitMix64(seed),
            tick: 0,
            jobs: Vec::with_capacity(size),
            max_new_per_tick: (size as u64 / 50).max(1),
        };
        while fleet.jobs.len() < size {
            let age_days = fleet.rng.below(180) as i64;
            let created = ANCHOR - age_days * DAY - fleet.rng.below(DAY as u64) as i64;
            let budget = size - fleet.jobs.len();
            fleet.create_job(created, Some(age_days as f64 / 180.0), budget);
        }
        fleet
    }

    /// A fleet of exactly these entries, which never move on their own.
    pub fn fixed(entries: Vec<JobEntry>) -> Fleet {
        Fleet {
            rng: SplitMix64(0),
            tick: 0,
            jobs: entries
                .into_iter()
                .map(|entry| SimJob {
                    entry,
                    life: Life::Fixed,
                    state_since: 0,
                })
                .collect(),
            max_new_per_tick: 0,
        }
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn entry(&self, index: usize) -> Option<&JobEntry> {
        self.jobs.get(index).map(|j| &j.entry)
    }

    pub fn entries(&self) -> impl Iterator<Item = &JobEntry> {
        self.jobs.iter().map(|j| &j.entry)
    }

    /// Appends an entry that never moves on its own.
    pub fn push_fixed(&mut self, entry: JobEntry) {
        self.jobs.push(SimJob {
            entry,
            life: Life::Fixed,
            state_since: self.tick,
        });
    }

    /// Sets a job's state by hand (it stops following its lifecycle).
    pub fn set_state(&mut self, job_id: &str, state: &str) -> bool {
        match self.jobs.iter_mut().find(|j| j.entry.job_id == job_id) {
            Some(job) => {
                if job.entry.job_state != state {
                    job.state_since = self.tick;
                }
                job.entry.job_state = state.to_owned();
                job.life = Life::Fixed;
                true
            }
            None => false,
        }
    }

    /// What DescribeJob needs of a job: its entry, the ticks it has spent in
    /// its current state, and for an export's main job its parts (each with
    /// its ticks in state). None for an unknown job.
    pub fn describe(&self, job_id: &str) -> Option<Described<'_>> {
        let job = self.jobs.iter().find(|j| j.entry.job_id == job_id)?;
        let parts = match &job.life {
            Life::Main { parts, .. } => parts
                .iter()
                .map(|p| {
                    let part = &self.jobs[*p];
                    (&part.entry, self.tick - part.state_since)
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Described {
            entry: &job.entry,
            ticks_in_state: self.tick - job.state_since,
            parts,
        })
    }

    pub fn advance(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.step();
        }
    }

    fn step(&mut self) {
        self.tick += 1;
        let existing = self.jobs.len();
        for index in 0..existing {
            self.step_job(index);
        }
        let new_jobs = self.rng.below(self.max_new_per_tick + 1);
        for _ in 0..new_jobs {
            let created = ANCHOR
                + self.tick as i64 * TICK_SECONDS
                + self.rng.below(TICK_SECONDS as u64) as i64;
            self.create_job(created, None, usize::MAX);
        }
    }

    fn step_job(&mut self, index: usize) {
        let roll = self.rng.unit();
        let tick = self.tick;
        let mut new_parts = None;
        match &mut self.jobs[index].life {
            Life::Fixed => {}
            Life::Path {
                path,
                step,
                cancelled,
            } => {
                if *cancelled || *step + 1 == path.len() {
                    return;
                }
                if *step <= 1 && roll < CANCEL_CHANCE {
                    *cancelled = true;
                } else if roll < ADVANCE_CHANCE {
                    *step += 1;
                }
            }
            Life::Main {
                parts,
                parts_due,
                part_count,
                snowball_type,
            } => {
                if parts.is_empty() && *parts_due <= tick {
                    new_parts = Some((*part_count, snowball_type.clone()));
                }
            }
        }
        if let Some((count, snowball_type)) = new_parts {
            let created = ANCHOR + tick as i64 * TICK_SECONDS;
            let description = self.jobs[index].entry.description.clone();
            let parts = (0..count)
                .map(|_| {
                    self.push_path_job(
                        "JID",
                        "EXPORT",
                        &snowball_type,
                        created,
                        description.clone(),
                        0,
                    )
                })
                .collect();
            if let Life::Main { parts: slot, .. } = &mut self.jobs[index].life {
                *slot = parts;
            }
        }
        self.refresh_state(index);
    }

    /// Writes a job's JobState from its life; a main job follows its parts.
    fn refresh_state(&mut self, index: usize) {
        let state = match &self.jobs[index].life {
            Life::Fixed => return,
            Life::Path {
                cancelled: true, ..
            } => CANCELLED,
            Life::Path { path, step, .. } => path[*step],
            Life::Main { parts, .. } if parts.is_empty() => "New",
            Life::Main { parts, .. } => {
                let states: Vec<&str> = parts
                    .iter()
                    .map(|p| self.jobs[*p].entry.job_state.as_str())
                    .collect();
                if states.iter().all(|s| *s == CANCELLED) {
                    CANCELLED
                } else if states.iter().all(|s| *s == "Complete" || *s == CANCELLED) {
                    "Complete"
                } else {
                    "InProgress"
                }
            }
        };
        let job = &mut self.jobs[index];
        if job.entry.job_state != state {
            job.entry.job_state = state.to_owned();
            job.state_since = self.tick;
        }
    }

    /// Creates one job, or for an export a main job and (now or a few ticks
    /// later) its parts, using at most `budget` entries. `progress` places a
    /// job generated at start along its lifecycle (0 new, 1 old).
    fn create_job(&mut self, created: i64, progress: Option<f64>, budget: usize) {
        let roll = self.rng.unit();
        let job_type = if budget >= 2 && roll < 0.2 {
            "EXPORT"
        } else if roll < 0.4 {
            "LOCAL_USE"
        } else {
            "IMPORT"
        };
        let snowball_type = SNOWBALL_TYPES[self.rng.below(SNOWBALL_TYPES.len() as u64) as usize];
        let description = self.description();
        let step_for = |rng: &mut SplitMix64, len: usize| match progress {
            None => 0,
            Some(p) => ((p * 1.2 * len as f64) as usize + rng.below(2) as usize).min(len - 1),
        };
        if job_type != "EXPORT" {
            let path = lifecycle(job_type, false);
            let step = step_for(&mut self.rng, path.len());
            let index =
                self.push_path_job("JID", job_type, snowball_type, created, description, step);
            if step <= 1 && progress.is_some() && self.rng.unit() < CANCEL_CHANCE * 3.0 {
                if let Life::Path { cancelled, .. } = &mut self.jobs[index].life {
                    *cancelled = true;
                }
                self.refresh_state(index);
            }
            return;
        }
        let part_count = (1 + self.rng.below(3) as usize).min(budget - 1);
        let main = self.jobs.len();
        let job_id = self.job_id("MID");
        let parts_due = self.tick + 2 + self.rng.below(3);
        self.jobs.push(SimJob {
            entry: JobEntry {
                job_id,
                job_state: "New".to_owned(),
                job_type: Some("EXPORT".to_owned()),
                snowball_type: Some(snowball_type.to_owned()),
                is_master: true,
                creation_date: Some(created),
                description: description.clone(),
            },
            life: Life::Main {
                parts: Vec::new(),
                parts_due,
                part_count,
                snowball_type: snowball_type.to_owned(),
            },
            state_since: self.tick,
        });
        if progress.is_some() {
            let parts = (0..part_count)
                .map(|_| {
                    let step = step_for(&mut self.rng, EXPORT.len());
                    self.push_path_job(
                        "JID",
                        "EXPORT",
                        snowball_type,
                        created,
                        description.clone(),
                        step,
                    )
                })
                .collect();
            if let Life::Main { parts: slot, .. } = &mut self.jobs[main].life {
                *slot = parts;
            }
        }
        self.refresh_state(main);
    }

    fn push_path_job(
        &mut self,
        prefix: &str,
        job_type: &str,
        snowball_type: &str,
        created: i64,
        description: Option<String>,
        step: usize,
    ) -> usize {
        let path = lifecycle(job_type, false);
        let index = self.jobs.len();
        let job_id = self.job_id(prefix);
        self.jobs.push(SimJob {
            entry: JobEntry {
                job_id,
                job_state: path[step].to_owned(),
                job_type: Some(job_type.to_owned()),
                snowball_type: Some(snowball_type.to_owned()),
                is_master: false,
                creation_date: Some(created),
                description,
            },
            life: Life::Path {
                path,
                step,
                cancelled: false,
            },
            state_since: self.tick,
        });
        index
    }

    /// JID or MID and a UUID: 39 characters, the service's pattern.
    fn job_id(&mut self, prefix: &str) -> String {
        id(&mut self.rng, prefix)
    }

    fn description(&mut self) -> Option<String> {
        const SUBJECTS: &[&str] = &[
            "Data center migration wave",
            "Genomics archive batch",
            "Media library export",
            "Edge compute at field site",
            "Backup restore for branch",
            "Seismic survey upload",
            "Video surveillance archive",
            "Factory sensor data, line",
        ];
        if self.rng.unit() < 0.1 {
            return None;
        }
        let subject = SUBJECTS[self.rng.below(SUBJECTS.len() as u64) as usize];
        Some(format!("{subject} {}", 1 + self.rng.below(400)))
    }
}

/// An id as the service makes them: a prefix (JID, MID, CID, LTPID) and a UUID.
pub fn id(rng: &mut SplitMix64, prefix: &str) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{prefix}{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// A job as DescribeJob sees it.
pub struct Described<'a> {
    pub entry: &'a JobEntry,
    pub ticks_in_state: u64,
    pub parts: Vec<(&'a JobEntry, u64)>,
}

/// A small, fixed PRNG: its output must never change under a fleet, so no
/// external crate whose algorithm could change between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_fleet_has_exactly_the_requested_size() {
        for size in [0, 1, 2, 3, 250, 1000] {
            assert_eq!(Fleet::generate(9, size).len(), size);
        }
    }

    #[test]
    fn job_ids_match_the_service_pattern() {
        let fleet = Fleet::generate(3, 200);
        for entry in fleet.entries() {
            assert_eq!(entry.job_id.len(), 39, "{}", entry.job_id);
            assert!(entry.job_id.starts_with("JID") || entry.job_id.starts_with("MID"));
            assert_eq!(entry.job_id.starts_with("MID"), entry.is_master);
        }
    }
}
