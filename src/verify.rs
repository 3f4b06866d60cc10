//! `snowball-sync verify`: recomputes every history row's hash and every
//! job's chain, then every run's digest, from the values stored, and checks
//! the digests against anchors kept outside the database. One read-only
//! snapshot, rows streamed: constant memory whatever the history's size.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::{ConnectOptions, Connection};

use crate::chain::{self, Encoder, RowsHash};
use crate::cli::OutputFormat;
use crate::config::VerifyConfig;
use crate::db;
use crate::error::Error;

/// Problems kept for the output; the rest are counted. A history rewritten
/// wholesale without its hashes would otherwise fill memory with them.
const PROBLEMS_KEPT: usize = 1000;

/// The history tables, in the order a run's digest takes their rows.
pub const STATE_TABLE: &str = "snowball.job_state_history";
pub const DETAIL_TABLE: &str = "snowball.job_detail_history";
const RUNS_TABLE: &str = "snowball.sync_runs";

/// One thing found wrong. `line` is what both verifiers print (this one and
/// contrib/verify-history.py), word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub table: &'static str,
    /// The row's id, or the run's for sync_runs and anchors.
    pub id: i64,
    /// The job, for history rows.
    pub subject: Option<String>,
    pub what: &'static str,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subject {
            Some(job) => write!(
                f,
                "{} row {} (job {}): {}",
                self.table, self.id, job, self.what
            ),
            None => write!(f, "{} run {}: {}", self.table, self.id, self.what),
        }
    }
}

#[derive(Debug, Default)]
struct Findings {
    kept: Vec<Problem>,
    total: u64,
}

impl Findings {
    fn add(&mut self, problem: Problem) {
        self.total += 1;
        if self.kept.len() < PROBLEMS_KEPT {
            self.kept.push(problem);
        }
    }
}

/// Rows and chains checked in one table.
#[derive(Debug, Default, Clone, Copy)]
struct TableCount {
    rows: u64,
    chains: u64,
}

/// Walks each job's rows in id order: every stored row_hash must be the
/// hash of the row's values and stored prev_hash, and every prev_hash the
/// stored row_hash of the job's previous row (NULL for its first).
struct ChainWalk {
    table: &'static str,
    job: Option<String>,
    head: Option<Vec<u8>>,
    count: TableCount,
}

impl ChainWalk {
    fn new(table: &'static str) -> ChainWalk {
        ChainWalk {
            table,
            job: None,
            head: None,
            count: TableCount::default(),
        }
    }

    fn row(
        &mut self,
        findings: &mut Findings,
        id: i64,
        job_id: String,
        prev_hash: Option<Vec<u8>>,
        row_hash: Vec<u8>,
        recomputed: [u8; 32],
    ) {
        self.count.rows += 1;
        if self.job.as_deref() != Some(job_id.as_str()) {
            self.count.chains += 1;
            self.head = None;
        }
        let problem = |what| Problem {
            table: self.table,
            id,
            subject: Some(job_id.clone()),
            what,
        };
        if row_hash != recomputed {
            findings.add(problem("row_hash does not match the row"));
        }
        if prev_hash != self.head {
            findings.add(problem("prev_hash does not link to the job's previous row"));
        }
        self.head = Some(row_hash);
        self.job = Some(job_id);
    }
}

/// What a run's stored line says, while its rows are hashed.
struct OpenRun {
    id: i64,
    line: Option<db::chain::RunLine>,
    rows: RowsHash,
}

#[derive(Debug, Default)]
struct RunCount {
    sealed: u64,
    running: u64,
}

fn run_problem(id: i64, what: &'static str) -> Problem {
    Problem {
        table: RUNS_TABLE,
        id,
        subject: None,
        what,
    }
}

/// Checks one run once its rows are hashed. Returns None when sync_runs
/// has no such run, else its stored digest (None when not sealed).
fn close_run(
    run: OpenRun,
    findings: &mut Findings,
    count: &mut RunCount,
) -> Option<Option<[u8; 32]>> {
    let Some(line) = run.line else {
        findings.add(run_problem(run.id, "rows of this run but no sync_runs row"));
        return None;
    };
    Some(seal_check(run.id, line, run.rows, findings, count))
}

fn seal_check(
    id: i64,
    line: db::chain::RunLine,
    rows: RowsHash,
    findings: &mut Findings,
    count: &mut RunCount,
) -> Option<[u8; 32]> {
    let problem = |what| run_problem(id, what);
    let status = line.status.unwrap_or_default();
    let (Some(digest), Some(seq)) = (line.digest, line.digest_seq) else {
        if status == "running" {
            count.running += 1;
        } else {
            findings.add(problem("ended but not sealed"));
        }
        return None;
    };
    count.sealed += 1;
    if seq > 1 && !line.previous_exists {
        findings.add(problem("the run sealed before it is missing"));
    } else if chain::run_digest(line.previous_digest.as_deref(), id, &status, &rows.finish())
        .as_slice()
        != digest.as_slice()
    {
        findings.add(problem("digest does not match"));
    }
    <[u8; 32]>::try_from(digest.as_slice()).ok()
}

/// The `verify` command. Exits 0 when everything holds, 1 on any problem.
pub async fn run(config: &VerifyConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    // Its queries stream the whole history: long by design, not slow.
    let mut database = config.database.clone();
    database.connect = database
        .connect
        .log_slow_statements(tracing::log::LevelFilter::Off, std::time::Duration::ZERO);
    let mut conn = db::connect_one(&database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .context("starting the read-only snapshot")?;
    let mut findings = Findings::default();

    let mut states = ChainWalk::new(STATE_TABLE);
    let mut rows = db::chain::state_rows(&mut *tx);
    while let Some(r) = rows.try_next().await.context("reading job_state_history")? {
        let mut e = Encoder::new(STATE_TABLE);
        e.integer(Some(r.sync_run_id))
            .time(Some(r.observed_at))
            .text(Some(&r.job_id))
            .text(r.from_state.as_deref())
            .text(Some(&r.to_state))
            .time(r.from_state_last_seen_at)
            .bytes(r.prev_hash.as_deref());
        states.row(
            &mut findings,
            r.id,
            r.job_id,
            r.prev_hash,
            r.row_hash,
            e.finish(),
        );
    }
    drop(rows);

    let mut details = ChainWalk::new(DETAIL_TABLE);
    let mut rows = db::chain::detail_rows(&mut *tx);
    while let Some(r) = rows
        .try_next()
        .await
        .context("reading job_detail_history")?
    {
        let mut e = Encoder::new(DETAIL_TABLE);
        e.integer(Some(r.sync_run_id))
            .time(Some(r.observed_at))
            .text(Some(&r.job_id))
            .text(r.shipping_option.as_deref())
            .text(r.outbound_status.as_deref())
            .text(r.outbound_tracking_number.as_deref())
            .text(r.inbound_status.as_deref())
            .text(r.inbound_tracking_number.as_deref())
            .integer(r.bytes_transferred)
            .integer(r.objects_transferred)
            .integer(r.total_bytes)
            .integer(r.total_objects)
            .bytes(r.prev_hash.as_deref());
        details.row(
            &mut findings,
            r.id,
            r.job_id,
            r.prev_hash,
            r.row_hash,
            e.finish(),
        );
    }
    drop(rows);

    // Runs: each run's own line, then its rows' hashes. Anchors are looked
    // up as the runs go by (they are few; the runs are not held).
    let mut anchors: BTreeMap<i64, ([u8; 32], bool)> = config
        .anchors
        .iter()
        .map(|(run, digest)| (*run, (*digest, false)))
        .collect();
    let mut runs = RunCount::default();
    let mut open: Option<OpenRun> = None;
    // `stored` is None for a run sync_runs does not hold: its anchor is
    // reported with those of no run at all, at the end.
    let mut check_anchor = |id: i64, stored: Option<Option<[u8; 32]>>, findings: &mut Findings| {
        if let (Some(stored), Some((anchored, seen))) = (stored, anchors.get_mut(&id)) {
            *seen = true;
            if stored != Some(*anchored) {
                findings.add(Problem {
                    table: "anchor",
                    id,
                    subject: None,
                    what: "digest differs from the anchor",
                });
            }
        }
    };
    let mut lines = db::chain::run_lines(&mut *tx);
    while let Some(line) = lines.try_next().await.context("reading the runs")? {
        if open.as_ref().is_none_or(|o| o.id != line.sync_run_id) {
            if let Some(done) = open.take() {
                let id = done.id;
                let stored = close_run(done, &mut findings, &mut runs);
                check_anchor(id, stored, &mut findings);
            }
            open = Some(OpenRun {
                id: line.sync_run_id,
                line: None,
                rows: RowsHash::default(),
            });
        }
        let Some(current) = open.as_mut() else {
            continue;
        };
        match &line.row_hash {
            Some(hash) if line.part > 0 => current.rows.add(hash),
            _ => current.line = Some(line),
        }
    }
    drop(lines);
    if let Some(done) = open.take() {
        let id = done.id;
        let stored = close_run(done, &mut findings, &mut runs);
        check_anchor(id, stored, &mut findings);
    }
    for (id, (_, seen)) in &anchors {
        if !seen {
            findings.add(Problem {
                table: "anchor",
                id: *id,
                subject: None,
                what: "no such run",
            });
        }
    }
    tx.commit().await.context("ending the read-only snapshot")?;

    let report = Report {
        states: states.count,
        details: details.count,
        runs,
        anchors: anchors.len(),
        findings,
    };
    let text = match config.output {
        OutputFormat::Text => report.text(),
        OutputFormat::Json => format!("{}\n", report.json()),
    };
    out.write_all(text.as_bytes())
        .context("writing the verification")?;
    match report.findings.total {
        0 => Ok(()),
        n => Err(Error::Failed(anyhow::anyhow!(
            "the history does not verify: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

struct Report {
    states: TableCount,
    details: TableCount,
    runs: RunCount,
    anchors: usize,
    findings: Findings,
}

impl Report {
    fn text(&self) -> String {
        let mut out = String::new();
        for problem in &self.findings.kept {
            out.push_str(&format!("PROBLEM {problem}\n"));
        }
        let unlisted = self.findings.total - self.findings.kept.len() as u64;
        if unlisted > 0 {
            out.push_str(&format!("PROBLEM and {unlisted} more not listed\n"));
        }
        for (table, count) in [(STATE_TABLE, self.states), (DETAIL_TABLE, self.details)] {
            out.push_str(&format!(
                "{table}: {} rows in {} chains checked\n",
                count.rows, count.chains
            ));
        }
        out.push_str(&format!(
            "{RUNS_TABLE}: {} run digests checked, {} runs still running, {} anchors checked\n",
            self.runs.sealed, self.runs.running, self.anchors
        ));
        out.push_str(match self.findings.total {
            0 => "the history verifies\n",
            _ => "the history does NOT verify\n",
        });
        out
    }

    fn json(&self) -> serde_json::Value {
        let table = |name: &str, c: TableCount| serde_json::json!({"table": name, "rows": c.rows, "chains": c.chains});
        serde_json::json!({
            "verified": self.findings.total == 0,
            "tables": [table(STATE_TABLE, self.states), table(DETAIL_TABLE, self.details)],
            "runs": {"sealed": self.runs.sealed, "running": self.runs.running},
            "anchors": self.anchors,
            "problems_total": self.findings.total,
            "problems": self.findings.kept.iter().map(|p| serde_json::json!({
                "table": p.table,
                "id": p.id,
                "job_id": p.subject,
                "problem": p.what,
                "line": p.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}
