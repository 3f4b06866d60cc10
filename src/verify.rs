//! `snowball-sync verify`: recomputes every history row's hash and every
//! job's chain, then every run's digest, from the values stored, and checks
//! the digests against anchors kept outside the database. One read-only
//! snapshot, rows streamed: constant memory whatever the history's size.
//!
//! Large because the whole check (every history table, the chain heads, every
//! run's digest, the kept reports' bytes) is one pass over the database.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use anyhow::Context;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::chain::{
    self, CLUSTER_TABLE, DETAIL_TABLE, REPORTS_TABLE, RUNS_TABLE, RowsHash, STATE_TABLE,
    TERM_TABLE, USAGE_TABLE, odd_list, odd_time,
};
use crate::config::VerifyConfig;
use crate::db;
use crate::error::Error;
use crate::format::OutputFormat;

/// Problems kept for the output; the rest are counted. A history rewritten
/// wholesale without its hashes would otherwise fill memory with them.
const PROBLEMS_KEPT: usize = 1000;

/// One thing found wrong. `line` is what both verifiers print (this one and
/// contrib/verify-history.py), word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub table: &'static str,
    /// The row's id, or the run's for sync_runs and anchors.
    pub id: i64,
    /// The chain's subject, for history rows: a job, or an account and
    /// region (`ACCOUNT/REGION`), as `noun` says.
    pub subject: Option<String>,
    pub noun: &'static str,
    pub what: String,
}

/// What a table's chains are of: "job", "cluster", "term", or for device
/// usage "account and region".
fn noun(table: &str) -> &'static str {
    match table {
        USAGE_TABLE => "account and region",
        CLUSTER_TABLE => "cluster",
        TERM_TABLE => "term",
        _ => "job",
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subject {
            Some(subject) => write!(
                f,
                "{} row {} ({} {}): {}",
                self.table, self.id, self.noun, subject, self.what
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

/// Walks a table's rows in id order, the order they were written and,
/// nearly, the order they lie on disk (one pass, no jumping between chains):
/// every stored row_hash must be the hash of the row's values and stored
/// prev_hash, and every prev_hash the stored row_hash of the same subject's
/// previous row (a job's, or an account and region's; NULL for its first).
/// Each chain's last hash is kept: memory grows with the chains, never with
/// the rows.
struct ChainWalk {
    table: &'static str,
    heads: HashMap<String, Vec<u8>>,
    count: TableCount,
}

impl ChainWalk {
    fn new(table: &'static str) -> ChainWalk {
        ChainWalk {
            table,
            heads: HashMap::new(),
            count: TableCount::default(),
        }
    }

    fn row(&mut self, findings: &mut Findings, link: Link) {
        let Link {
            id,
            subject,
            prev_hash,
            row_hash,
            recomputed,
            odd,
            sync_run_id: _,
        } = link;
        self.count.rows += 1;
        let problem = |what: &str| Problem {
            table: self.table,
            id,
            subject: Some(subject.clone()),
            noun: noun(self.table),
            what: what.to_owned(),
        };
        if row_hash != recomputed {
            findings.add(problem("row_hash does not match the row"));
        }
        if prev_hash.as_ref() != self.heads.get(&subject) {
            findings.add(problem(&format!(
                "prev_hash does not link to the {}'s previous row",
                noun(self.table)
            )));
        }
        for what in odd.into_iter().flatten() {
            findings.add(problem(&what));
        }
        self.heads.insert(subject, row_hash);
        self.count.chains = self.heads.len() as u64;
    }
}

/// One stored row of a chained table, as a chain walk checks it.
struct Link {
    id: i64,
    /// The run that wrote it: its row_hash goes into that run's rows hash.
    sync_run_id: i64,
    subject: String,
    prev_hash: Option<Vec<u8>>,
    row_hash: Vec<u8>,
    /// The row's hash recomputed from its stored values.
    recomputed: [u8; 32],
    /// Values no release writes that the encoding cannot tell from others
    /// (`chain::odd_time`, `chain::odd_list`).
    odd: Vec<Option<String>>,
}

/// Checks one chained table, its rows streamed in id order, each turned
/// into a `Link` by `link`.
async fn walk<R>(
    table: &'static str,
    (findings, runs): (&mut Findings, &mut RunRows),
    mut rows: futures_util::stream::BoxStream<'_, sqlx::Result<R>>,
    link: impl Fn(R) -> Link,
) -> anyhow::Result<TableCount> {
    let mut chains = ChainWalk::new(table);
    while let Some(row) = rows
        .try_next()
        .await
        .with_context(|| format!("reading {table}"))?
    {
        let link = link(row);
        runs.add(link.sync_run_id, &link.row_hash);
        chains.row(findings, link);
    }
    Ok(chains.count)
}

/// Checks every report's stored content against its row: a report kept
/// (`stored`) must have chunks 0, 1, 2, … whose bytes together have the
/// row's `bytes` and `sha256`; a report only hashed must have none.
struct ContentWalk {
    /// The report being read: its row, the next chunk expected, the bytes
    /// so far, and whether its chunks are out of order.
    open: Option<(db::chain::ContentChunk, i32, u64, Sha256, bool)>,
    reports: u64,
    chunks: u64,
}

impl ContentWalk {
    fn chunk(&mut self, findings: &mut Findings, mut chunk: db::chain::ContentChunk) {
        if self
            .open
            .as_ref()
            .is_none_or(|(open, ..)| open.report_id != chunk.report_id)
        {
            self.close(findings);
            self.reports += 1;
            let data = chunk.data.take();
            let seq = chunk.seq;
            self.open = Some((chunk, 0, 0, Sha256::new(), false));
            if let Some(data) = data {
                self.add(seq, &data);
            }
            return;
        }
        if let Some(data) = chunk.data {
            self.add(chunk.seq, &data);
        }
    }

    fn add(&mut self, seq: Option<i32>, data: &[u8]) {
        self.chunks += 1;
        if let Some((_, next, total, hasher, misplaced)) = self.open.as_mut() {
            *misplaced |= seq != Some(*next);
            *next += 1;
            *total += data.len() as u64;
            hasher.update(data);
        }
    }

    fn close(&mut self, findings: &mut Findings) {
        let Some((report, chunks, total, hasher, misplaced)) = self.open.take() else {
            return;
        };
        let problem = |what: &str| Problem {
            table: REPORTS_TABLE,
            id: report.report_id,
            subject: Some(report.job_id.clone()),
            noun: "job",
            what: what.to_owned(),
        };
        if !report.stored {
            if chunks > 0 {
                findings.add(problem(
                    "content is kept in snowball.job_report_chunks although the row says it is only hashed",
                ));
            }
            return;
        }
        if misplaced {
            findings.add(problem(
                "its content in snowball.job_report_chunks has a missing or misplaced chunk",
            ));
        } else if i64::try_from(total) != Ok(report.bytes)
            || hasher.finalize()[..] != report.sha256[..]
        {
            findings.add(problem(
                "its content in snowball.job_report_chunks does not match its bytes and sha256",
            ));
        }
    }
}

fn run_problem(id: i64, what: &str) -> Problem {
    Problem {
        table: RUNS_TABLE,
        id,
        subject: None,
        noun: "run",
        what: what.to_owned(),
    }
}

fn anchor_problem(id: i64, what: &str) -> Problem {
    Problem {
        table: "anchor",
        id,
        subject: None,
        noun: "run",
        what: what.to_owned(),
    }
}

/// Each run's rows hash, fed while the tables are walked: the tables in the
/// digest's order, each in id order, so every run's row hashes arrive in the
/// order its digest takes them. One SHA-256 state per run: memory grows with
/// the runs, never with the rows.
#[derive(Default)]
struct RunRows(HashMap<i64, RowsHash>);

impl RunRows {
    fn add(&mut self, run_id: i64, row_hash: &[u8]) {
        self.0.entry(run_id).or_default().add(row_hash);
    }
}

/// Walks the runs in id order: every sealed run's digest must be the hash of
/// the previous sealed run's stored digest, its id, status and rows (and,
/// for version 2, its record and listings); every anchor must name a run
/// with that digest. Anchors are few and held; runs are not.
struct RunWalk {
    /// Anchored digests by run, and whether the run was found.
    anchors: BTreeMap<i64, ([u8; 32], bool)>,
    /// The record and listings hash of each run sealed with digest version
    /// 2 (memory grows with the runs, never with the rows).
    records: HashMap<i64, db::chain::RunRecord>,
    listings: HashMap<i64, [u8; 32]>,
    rows: RunRows,
    sealed: u64,
    running: u64,
}

impl RunWalk {
    fn new(
        anchors: &[(i64, [u8; 32])],
        records: HashMap<i64, db::chain::RunRecord>,
        listings: HashMap<i64, [u8; 32]>,
        rows: RunRows,
    ) -> RunWalk {
        RunWalk {
            anchors: anchors.iter().map(|(run, d)| (*run, (*d, false))).collect(),
            records,
            listings,
            rows,
            sealed: 0,
            running: 0,
        }
    }

    /// Checks one run, and its anchor.
    fn run(&mut self, findings: &mut Findings, line: db::chain::RunLine) {
        let id = line.sync_run_id;
        let rows = self.rows.0.remove(&id).unwrap_or_default();
        let status = line.status.unwrap_or_default();
        let stored = match (line.digest, line.digest_seq) {
            (Some(digest), Some(seq)) => {
                self.sealed += 1;
                let rows = rows.finish();
                let previous = line.previous_digest.as_deref();
                let expected = match (line.digest_version, self.records.get(&id)) {
                    (Some(2), Some(record)) => Some(chain::run_digest_v2(
                        previous,
                        record,
                        &status,
                        &rows,
                        &self
                            .listings
                            .get(&id)
                            .copied()
                            .unwrap_or_else(|| chain::ListingsHash::default().finish()),
                    )),
                    (None, _) => Some(chain::run_digest(previous, id, &status, &rows)),
                    // A version no release writes.
                    _ => None,
                };
                if seq > 1 && !line.previous_exists {
                    findings.add(run_problem(id, "the run sealed before it is missing"));
                } else if expected.is_none_or(|e| e.as_slice() != digest.as_slice()) {
                    findings.add(run_problem(id, "digest does not match"));
                }
                <[u8; 32]>::try_from(digest.as_slice()).ok()
            }
            _ if status == "running" => {
                self.running += 1;
                None
            }
            _ => {
                findings.add(run_problem(id, "ended but not sealed"));
                None
            }
        };
        if let Some((anchored, seen)) = self.anchors.get_mut(&id) {
            *seen = true;
            if stored != Some(*anchored) {
                findings.add(anchor_problem(id, "digest differs from the anchor"));
            }
        }
    }

    /// After every run: rows naming a run sync_runs does not hold, then the
    /// anchors of no run at all, each in id order.
    fn finish(&mut self, findings: &mut Findings) {
        let mut orphans: Vec<i64> = self.rows.0.keys().copied().collect();
        orphans.sort_unstable();
        for id in orphans {
            findings.add(run_problem(id, "rows of this run but no sync_runs row"));
        }
        for (id, (_, seen)) in &self.anchors {
            if !seen {
                findings.add(anchor_problem(*id, "no such run"));
            }
        }
    }
}

/// The `verify` command. Exits 0 when everything holds, 1 on any problem.
pub async fn run(config: &VerifyConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    // Its queries stream the whole history: long by design, not slow.
    let database = config.database.without_slow_statement_warnings();
    let mut conn = db::connect_one(&database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .context("starting the read-only snapshot")?;
    let mut findings = Findings::default();
    let mut run_rows = RunRows::default();

    let states = walk(
        STATE_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::state_rows(&mut *tx),
        |r| Link {
            recomputed: chain::state_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![
                odd_time("observed_at", Some(r.observed_at)),
                odd_time("from_state_last_seen_at", r.from_state_last_seen_at),
            ],
            id: r.id,
            subject: r.job_id,
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;
    let details = walk(
        DETAIL_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::detail_rows(&mut *tx),
        |r| Link {
            recomputed: chain::detail_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![odd_time("observed_at", Some(r.observed_at))],
            id: r.id,
            subject: r.job_id,
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;
    let reports = walk(
        REPORTS_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::report_rows(&mut *tx),
        |r| Link {
            recomputed: chain::report_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![odd_time("fetched_at", Some(r.fetched_at))],
            id: r.id,
            subject: r.job_id,
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;
    let usage = walk(
        USAGE_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::usage_rows(&mut *tx),
        |r| Link {
            recomputed: chain::usage_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![odd_time("observed_at", Some(r.observed_at))],
            id: r.id,
            subject: format!("{}/{}", r.account_id, r.region),
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;
    let clusters = walk(
        CLUSTER_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::cluster_rows(&mut *tx),
        |r| Link {
            recomputed: chain::cluster_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![
                odd_time("observed_at", Some(r.observed_at)),
                odd_time("from_state_last_seen_at", r.from_state_last_seen_at),
            ],
            id: r.id,
            subject: r.cluster_id,
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;
    let terms = walk(
        TERM_TABLE,
        (&mut findings, &mut run_rows),
        db::chain::term_rows(&mut *tx),
        |r| Link {
            recomputed: chain::term_row_hash(&r),
            sync_run_id: r.sync_run_id,
            odd: vec![
                odd_time("observed_at", Some(r.observed_at)),
                odd_time("end_date", r.end_date),
                odd_list("job_ids", r.job_ids.as_ref()),
            ],
            id: r.id,
            subject: r.long_term_pricing_id,
            prev_hash: r.prev_hash,
            row_hash: r.row_hash,
        },
    )
    .await?;

    let mut contents = ContentWalk {
        open: None,
        reports: 0,
        chunks: 0,
    };
    let mut chunks = db::chain::report_contents(&mut *tx);
    while let Some(chunk) = chunks
        .try_next()
        .await
        .context("reading snowball.job_report_chunks")?
    {
        contents.chunk(&mut findings, chunk);
    }
    drop(chunks);
    contents.close(&mut findings);

    // Digest version 2 covers each run's record and listings: read them
    // first, one run's listings in memory at a time.
    let mut listings = HashMap::new();
    let mut lines = db::chain::listing_lines(&mut *tx);
    let mut open: Option<(i64, chain::ListingsHash)> = None;
    while let Some(line) = lines
        .try_next()
        .await
        .context("reading the runs' listings")?
    {
        if open.as_ref().is_none_or(|(run, _)| *run != line.run_id) {
            if let Some((run, hash)) = open.take() {
                listings.insert(run, hash.finish());
            }
            open = Some((line.run_id, chain::ListingsHash::default()));
        }
        if let Some((_, hash)) = open.as_mut() {
            hash.add(&line);
        }
    }
    if let Some((run, hash)) = open.take() {
        listings.insert(run, hash.finish());
    }
    drop(lines);
    let mut records = HashMap::new();
    let mut stream = db::chain::run_records(&mut *tx);
    while let Some(record) = stream.try_next().await.context("reading the runs")? {
        records.insert(record.id, record);
    }
    drop(stream);

    let mut runs = RunWalk::new(&config.anchors, records, listings, run_rows);
    let mut lines = db::chain::run_lines(&mut *tx);
    while let Some(line) = lines.try_next().await.context("reading the runs")? {
        runs.run(&mut findings, line);
    }
    drop(lines);
    runs.finish(&mut findings);
    tx.commit().await.context("ending the read-only snapshot")?;

    let report = Report {
        tables: [
            (STATE_TABLE, states),
            (DETAIL_TABLE, details),
            (REPORTS_TABLE, reports),
            (USAGE_TABLE, usage),
            (CLUSTER_TABLE, clusters),
            (TERM_TABLE, terms),
        ],
        contents: (contents.reports, contents.chunks),
        sealed: runs.sealed,
        running: runs.running,
        anchors: runs.anchors.len(),
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
    /// Each chained table, in the order a run's digest takes their rows.
    tables: [(&'static str, TableCount); 6],
    /// Reports whose content was checked, and their chunks.
    contents: (u64, u64),
    sealed: u64,
    running: u64,
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
        for (table, count) in self.tables {
            out.push_str(&format!(
                "{table}: {} rows in {} chains checked\n",
                count.rows, count.chains
            ));
        }
        out.push_str(&format!(
            "snowball.job_report_chunks: the content of {} reports in {} chunks checked\n",
            self.contents.0, self.contents.1
        ));
        out.push_str(&format!(
            "{RUNS_TABLE}: {} run digests checked, {} runs still running, {} anchors checked\n",
            self.sealed, self.running, self.anchors
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
            "tables": self.tables.iter().map(|(name, c)| table(name, *c)).collect::<Vec<_>>(),
            "report_contents": {"reports": self.contents.0, "chunks": self.contents.1},
            "runs": {"sealed": self.sealed, "running": self.running},
            "anchors": self.anchors,
            "problems_total": self.findings.total,
            "problems": self.findings.kept.iter().map(|p| serde_json::json!({
                "table": p.table,
                "id": p.id,
                "job_id": p.subject.as_ref().filter(|_| p.noun == "job"),
                "subject": p.subject,
                "problem": p.what,
                "line": p.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}
