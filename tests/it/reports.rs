//! The report archive (`sync --include reports`): each completed job's
//! completion report and logs, fetched through the real SDK's DescribeJob
//! answer from the simulator's pre-signed-looking URLs, kept byte for byte.

use std::time::Duration;

use sha2::{Digest, Sha256};
use snowball_simulator::{Faults, reports};
use snowball_sync::config::{ArchiveConfig, SyncConfig};
use snowball_sync::db::runs::RunStatus;

use crate::support::*;

const KINDS: [&str; 3] = ["completion_report", "success_log", "failure_log"];

fn archiving(mut config: SyncConfig, max_bytes: u64) -> SyncConfig {
    config.details = Some(4);
    config.reports = Some(ArchiveConfig {
        max_bytes,
        loopback_http: true,
        attempt_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(30),
    });
    config
}

/// Completed imports: a third of them have a failure log too.
fn completed_jobs() -> Vec<String> {
    (1..=6)
        .map(|i| format!("JIDreport-0000-4000-8000-{i:012}"))
        .collect()
}

/// Every (job, kind) the simulator serves for these jobs.
fn expected(jobs: &[String]) -> Vec<(String, &'static str)> {
    let mut all = Vec::new();
    for job in jobs {
        for kind in KINDS {
            if reports::report(job, kind, None).is_some() {
                all.push((job.clone(), kind));
            }
        }
    }
    // In the archive's order: by job, then kind.
    all.sort();
    all
}

async fn report_requests(sim: &snowball_simulator::RunningSimulator) -> u64 {
    sim.sim.report_stats().0
}

/// (job, kind, bytes, sha256, stored, content) of every archived report.
type Archived = (String, String, i64, Vec<u8>, bool, Option<Vec<u8>>);

async fn archived(pool: &sqlx::PgPool) -> Vec<Archived> {
    sqlx::query!(
        r#"SELECT r.job_id, r.kind, r.bytes, r.sha256, r.stored,
                  (SELECT string_agg(c.data, ''::bytea ORDER BY c.seq)
                     FROM snowball.job_report_chunks c
                    WHERE c.job_id = r.job_id AND c.kind = r.kind AND c.stored = r.stored) AS content
             FROM snowball.job_reports r ORDER BY r.job_id, r.kind, r.id"#
    )
    .fetch_all(pool)
    .await
    .expect("the archive")
    .into_iter()
    .map(|r| (r.job_id, r.kind, r.bytes, r.sha256, r.stored, r.content))
    .collect()
}

#[tokio::test]
async fn each_report_is_archived_once_byte_for_byte_and_a_second_run_downloads_nothing() {
    let db = TestDb::migrated().await;
    let jobs = completed_jobs();
    let sim = simulator_with_jobs(7, jobs.iter().map(|j| entry(j, "Complete")).collect()).await;
    let config = archiving(sync_config(&db, &sim, &["us-east-1"]), 512 << 20);
    let want = expected(&jobs);
    assert!(
        want.iter().any(|(_, k)| *k == "failure_log"),
        "some job has a failure log"
    );

    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .expect("listen");
    listener.listen("snowball_sync").await.expect("listen");
    let first = sync_ok(&config).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let notice: serde_json::Value =
        serde_json::from_str(listener.recv().await.expect("a notification").payload())
            .expect("JSON");
    let json = first.to_json();
    assert_eq!(first.totals.reports_archived, Some(want.len() as i32));
    let rows = archived(&db.pool).await;
    assert_eq!(rows.len(), want.len());
    let mut total = 0;
    for ((job, kind), (r_job, r_kind, bytes, sha256, stored, content)) in want.iter().zip(&rows) {
        let served = reports::report(job, kind, None).expect("served").content();
        assert_eq!((job, *kind), (r_job, r_kind.as_str()));
        assert_eq!(*bytes, served.len() as i64, "{job} {kind}");
        assert_eq!(*sha256, Sha256::digest(&served).to_vec(), "{job} {kind}");
        assert!(*stored);
        assert_eq!(content.as_deref(), Some(served.as_slice()), "{job} {kind}");
        total += *bytes;
    }
    assert_eq!(first.totals.report_bytes, Some(total));
    for published in [&notice, &json] {
        assert_eq!(published["reports_archived"], want.len(), "{published}");
        assert_eq!(published["report_bytes"], total, "{published}");
    }
    assert!(first.to_string().contains(&format!(
        "{} reports archived ({total} bytes; {} kept, 0 only hashed)",
        want.len(),
        want.len()
    )));
    let (runs_archived, runs_bytes) = sqlx::query!(
        "SELECT reports_archived, report_bytes FROM snowball.sync_runs WHERE id = $1",
        first.run_id
    )
    .fetch_one(&db.pool)
    .await
    .map(|r| (r.reports_archived, r.report_bytes))
    .expect("the run");
    assert_eq!(
        (runs_archived, runs_bytes),
        (Some(want.len() as i32), Some(total))
    );
    let requests = report_requests(&sim).await;
    assert_eq!(requests, want.len() as u64);

    let second = sync_ok(&config).await;
    assert_eq!(second.totals.reports_archived, Some(0));
    assert_eq!(
        report_requests(&sim).await,
        requests,
        "a second run downloads nothing"
    );
    assert_eq!(archived(&db.pool).await, rows);

    // The archive is in the chain: both verifiers recompute its rows and digests.
    if psycopg_available("each_report_is_archived_once") {
        let verdict = crate::verification::both_verify(&db.url, &[]).await;
        assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
        // A report's recorded SHA-256 rewritten by the superuser, triggers
        // off: both verifiers name the row (its run's digest covers the
        // stored row_hash, which a consistent rewrite would change too),
        // and its kept bytes no longer match it.
        sqlx::raw_sql(
            "SET session_replication_role = replica;
             UPDATE snowball.job_reports SET sha256 = sha256('forged'::bytea) WHERE id = 1;",
        )
        .execute(&db.pool)
        .await
        .expect("tampering");
        let verdict = crate::verification::both_verify(&db.url, &[]).await;
        assert_eq!(verdict.code, 1);
        assert_eq!(
            verdict.problems,
            [
                format!(
                    "snowball.job_reports row 1 (job {}): row_hash does not match the row",
                    rows[0].0
                ),
                format!(
                    "snowball.job_reports row 1 (job {}): its content in snowball.job_report_chunks does not match its bytes and sha256",
                    rows[0].0
                )
            ]
        );
    }
}

#[tokio::test]
async fn a_report_over_report_max_bytes_is_hashed_and_its_size_kept_not_its_content() {
    let db = TestDb::migrated().await;
    let jobs = completed_jobs();
    let sim = simulator_with_jobs(7, jobs.iter().map(|j| entry(j, "Complete")).collect()).await;
    let config = archiving(sync_config(&db, &sim, &["us-east-1"]), 200);
    sync_ok(&config).await;
    let rows = archived(&db.pool).await;
    assert_eq!(rows.len(), expected(&jobs).len());
    for (job, kind, bytes, sha256, stored, content) in rows {
        let served = reports::report(&job, &kind, None)
            .expect("served")
            .content();
        assert_eq!(bytes, served.len() as i64);
        assert_eq!(sha256, Sha256::digest(&served).to_vec());
        assert_eq!(stored, served.len() <= 200, "{job} {kind}: {bytes} bytes");
        assert_eq!(content.is_some(), stored, "{job} {kind}");
    }
}

#[tokio::test]
async fn a_failed_download_leaves_nothing_of_its_file_and_the_next_run_archives_it() {
    let faults = [
        (
            "an expired URL",
            Faults {
                expire_reports: 1,
                ..Faults::default()
            },
            "HTTP 403",
        ),
        (
            "5xx after retries",
            Faults {
                fail_reports: 3,
                ..Faults::default()
            },
            "HTTP 500",
        ),
        (
            "a connection cut midway",
            Faults {
                cut_reports: 3,
                ..Faults::default()
            },
            "cut",
        ),
        (
            "a download stalled past --timeout",
            Faults {
                stall_reports: 3,
                ..Faults::default()
            },
            "stalled",
        ),
    ];
    for (case, fault, why) in faults {
        let db = TestDb::migrated().await;
        let jobs = completed_jobs();
        let sim = simulator_with_jobs(7, jobs.iter().map(|j| entry(j, "Complete")).collect()).await;
        let config = archiving(sync_config(&db, &sim, &["us-east-1"]), 512 << 20);
        sim.sim.set_faults(fault);
        let err = sync(&config)
            .await
            .expect_err(&format!("{case}: the run is partial"))
            .chain();
        assert!(
            err.contains("not archived") && err.contains(why),
            "{case}: {err}"
        );
        let (status,): (String,) =
            sqlx::query_as("SELECT status FROM snowball.sync_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool)
                .await
                .expect("the run");
        assert_eq!(status, "partial", "{case}");
        let held = archived(&db.pool).await;
        let want = expected(&jobs);
        assert!(held.len() < want.len(), "{case}: something failed");
        for (job, kind, bytes, _, _, content) in &held {
            assert_eq!(
                content.as_ref().map(|c| c.len() as i64),
                Some(*bytes),
                "{case}: {job} {kind} is whole"
            );
        }
        let failed: Vec<&(String, &str)> = want
            .iter()
            .filter(|(job, kind)| !held.iter().any(|h| &h.0 == job && h.1 == *kind))
            .collect();
        for (job, kind) in &failed {
            assert!(
                err.contains(&format!("{job} {kind}")),
                "{case}: {err} names {job} {kind}"
            );
            let chunks: i64 = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM snowball.job_report_chunks WHERE job_id = $1 AND kind = $2"#,
                job,
                kind
            )
            .fetch_one(&db.pool)
            .await
            .expect("chunks");
            assert_eq!(chunks, 0, "{case}: nothing partial of {job} {kind}");
        }

        // The report names them until a run archives them.
        let report = run_bin(
            &["report", "--format", "json", "--database-url", &db.url],
            &[],
        )
        .await;
        report.assert_code(0);
        let report: serde_json::Value = serde_json::from_str(&report.stdout()).expect("JSON");
        let lacking = report["jobs_lacking_reports"]
            .as_array()
            .expect("the section");
        for (job, kind) in &failed {
            assert!(
                lacking.iter().any(|l| l["job_id"] == job.as_str()
                    && l["missing_reports"]
                        .as_str()
                        .is_some_and(|m| m.split(' ').any(|k| k == *kind))),
                "{case}: {job} {kind} in {lacking:?}"
            );
        }

        let next = sync_ok(&config).await;
        assert_eq!(
            next.status,
            RunStatus::Succeeded,
            "{case}: {:?}",
            next.error
        );
        assert_eq!(
            next.totals.reports_archived,
            Some(failed.len() as i32),
            "{case}"
        );
        assert_eq!(archived(&db.pool).await.len(), want.len(), "{case}");
        let report = run_bin(
            &["report", "--format", "json", "--database-url", &db.url],
            &[],
        )
        .await;
        let report: serde_json::Value = serde_json::from_str(&report.stdout()).expect("JSON");
        assert_eq!(
            report["jobs_lacking_reports"],
            serde_json::json!([]),
            "{case}"
        );
    }
}

#[tokio::test]
async fn the_archive_refuses_update_delete_and_truncate() {
    let db = TestDb::migrated().await;
    let jobs = completed_jobs();
    let sim = simulator_with_jobs(7, jobs.iter().map(|j| entry(j, "Complete")).collect()).await;
    sync_ok(&archiving(
        sync_config(&db, &sim, &["us-east-1"]),
        512 << 20,
    ))
    .await;
    assert_append_only(&db.pool, "snowball.job_reports", "bytes = 0").await;
    assert_append_only(&db.pool, "snowball.job_report_chunks", "data = ''").await;
    assert_eq!(archived(&db.pool).await.len(), expected(&jobs).len());
}

/// A CSV with the current stint's duration blanked: it grows with the
/// moment the history is read.
fn without_current_duration(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (duration, current) = (at("duration_seconds"), at("is_current"));
    let mut out = header.join(",") + "\n";
    for line in lines {
        let mut cells: Vec<&str> = line.split(',').collect();
        if cells.get(current) == Some(&"true") {
            cells[duration] = "";
        }
        out += &(cells.join(",") + "\n");
    }
    out
}

/// `snowball-sync evidence ARGS --out DIR` on the test's database.
async fn evidence(db_url: &str, args: &[&str], out: &std::path::Path) -> BinOutput {
    let out = out.to_string_lossy();
    let mut all = vec!["evidence"];
    all.extend(args);
    all.extend(["--out", &out, "--database-url", db_url]);
    run_bin(&all, &[]).await
}

/// `snowball-sync history JOB_ID --format csv`, which must succeed.
async fn history_csv(db_url: &str, job_id: &str) -> String {
    let history = run_bin(
        &[
            "history",
            job_id,
            "--format",
            "csv",
            "--database-url",
            db_url,
        ],
        &[],
    )
    .await;
    history.assert_code(0);
    history.stdout()
}

/// `sha256sum -c SHA256SUMS` passes inside an evidence folder.
fn assert_sha256sum_passes(dir: &std::path::Path) {
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "sha256sum -c in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// An evidence folder's manifest.json.
fn manifest(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"))
        .expect("JSON")
}

#[tokio::test]
async fn the_evidence_packet_checks_with_sha256sum_and_its_timeline_is_the_history() {
    let db = TestDb::migrated().await;
    let jobs = completed_jobs();
    let mut entries: Vec<_> = jobs.iter().map(|j| entry(j, "WithAWS")).collect();
    entries.push(entry("JIDreport-0000-4000-8000-000000000099", "InProgress"));
    let sim = simulator_with_jobs(7, entries).await;
    let config = archiving(sync_config(&db, &sim, &["us-east-1"]), 512 << 20);
    sync_ok(&config).await;
    for job in &jobs {
        sim.sim.set_state(job, "Complete");
    }
    // Its completion report one byte over --report-max-bytes: hashed only.
    let pdf = reports::report(&jobs[2], "completion_report", None)
        .expect("a report")
        .len;
    let small = archiving(config.clone(), pdf - 1);
    sync_ok(&small).await;
    // Two runs that list the job unchanged, under the same limit (a higher
    // one would fetch the report again to keep it): no row of theirs names it.
    sync_ok(&small).await;
    sync_ok(&small).await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_dir = dir.path().join("packet");
    let out = evidence(&db.url, &[&jobs[2]], &out_dir).await;
    out.assert_code(0);
    assert_sha256sum_passes(&out_dir);
    let history = history_csv(&db.url, &jobs[2]).await;
    let timeline = std::fs::read_to_string(out_dir.join("timeline.csv")).expect("timeline.csv");
    assert_eq!(
        without_current_duration(&timeline),
        without_current_duration(&history)
    );
    assert!(
        timeline
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with(",row_hash")
    );

    let manifest = manifest(&out_dir);
    assert_eq!(manifest["job"]["job_id"], jobs[2].as_str());
    for report in manifest["reports"].as_array().expect("reports") {
        let kind = report["kind"].as_str().expect("kind");
        let served = reports::report(&jobs[2], kind, None)
            .expect("served")
            .content();
        assert_eq!(report["bytes"], served.len() as i64, "{kind}");
        match report["stored"].as_bool() {
            Some(true) => {
                let file = out_dir.join(report["file"].as_str().expect("file"));
                assert_eq!(std::fs::read(&file).expect("the report"), served, "{kind}");
            }
            _ => assert!(
                report["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("hashed only")),
                "{report}"
            ),
        }
    }
    assert!(
        manifest["reports"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["stored"] == false)),
        "a report over --report-max-bytes is named hashed only: {manifest}"
    );
    let runs = std::fs::read_to_string(out_dir.join("runs.csv")).expect("runs.csv");
    assert!(
        runs.starts_with("id,status,started_at,finished_at,digest\n"),
        "{runs}"
    );
    let ids: Vec<&str> = runs
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4"],
        "every run observed the job: {runs}"
    );

    // A job never described by a run that archives: the manifest says so.
    let never = dir.path().join("never");
    evidence(&db.url, &["JIDreport-0000-4000-8000-000000000099"], &never)
        .await
        .assert_code(0);

    // A non-empty folder is refused, and nothing in it is touched.
    let refused = evidence(&db.url, &[&jobs[2]], &out_dir).await;
    refused.assert_code(2);
    assert!(
        refused.error_line().contains("is not empty"),
        "{}",
        refused.stderr()
    );

    // Every job completed in the period, one sub-folder each.
    let all = dir.path().join("all");
    evidence(&db.url, &["--completed-since", "1d"], &all)
        .await
        .assert_code(0);
    let mut folders: Vec<String> = std::fs::read_dir(&all)
        .expect("the folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    folders.sort();
    assert_eq!(folders, jobs);
}

/// Runs the binary's `sync` under python3's os.wait4 and returns its exit
/// code, stderr and peak RSS in bytes (the simulator, in this process, is
/// not counted).
async fn sync_measured(db_url: &str, endpoint: &str, extra: &[&str]) -> (i32, String, u64) {
    const WAIT4: &str = "import os, subprocess, sys\n\
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n\
err = p.stderr.read()\n\
_, status, usage = os.wait4(p.pid, 0)\n\
sys.stderr.buffer.write(err)\n\
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)\n";
    let mut args = vec![
        "-c".to_owned(),
        WAIT4.to_owned(),
        env!("CARGO_BIN_EXE_snowball-sync").to_owned(),
    ];
    args.extend(sync_args(db_url, endpoint, extra));
    let mut command = tokio::process::Command::new("python3");
    command
        .args(&args)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    for (key, value) in aws_test_env() {
        command.env(key, value);
    }
    let out = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("the sync finishes within 10 minutes")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut fields = stdout.split_whitespace();
    let code = fields.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    let rss = fields
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(u64::MAX);
    (code, stderr, rss)
}

#[tokio::test]
async fn a_512_mib_success_log_streams_through_in_constant_memory_and_over_the_limit_is_hashed_only()
 {
    const LONG: u64 = 512 << 20;
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python
        && skipped(
            "reports::a_512_mib_success_log",
            "python3 (to read the sync's peak RSS from wait4)",
        )
    {
        return;
    }
    let job = "JIDreport-0000-4000-8000-000000000512".to_owned();
    for (max, stored) in [("512MiB", true), ("64MiB", false)] {
        let db = TestDb::migrated().await;
        let sim = simulator_with_jobs(7, vec![entry(&job, "Complete")]).await;
        sim.sim.set_long_success_log(Some(LONG));
        let (code, stderr, rss) = sync_measured(
            &db.url,
            &sim.endpoint_url(),
            &["--include", "reports", "--report-max-bytes", max],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        eprintln!(
            "--report-max-bytes {max}: the sync's peak RSS {:.1} MiB",
            rss as f64 / 1048576.0
        );
        assert!(
            rss < 64 << 20,
            "--report-max-bytes {max}: peak RSS {} MiB",
            rss >> 20
        );
        assert_eq!(sim.sim.report_stats().1.as_deref(), Some(job.as_str()));
        let served = reports::report(&job, "success_log", Some(LONG)).expect("a success log");
        let mut hasher = Sha256::new();
        for chunk in served.chunks() {
            hasher.update(&chunk);
        }
        let row = sqlx::query!(
            r#"SELECT r.bytes, r.sha256, r.stored,
                      (SELECT count(*) FROM snowball.job_report_chunks c
                        WHERE c.job_id = r.job_id AND c.kind = r.kind) AS "chunks!",
                      (SELECT sum(length(c.data)) FROM snowball.job_report_chunks c
                        WHERE c.job_id = r.job_id AND c.kind = r.kind) AS chunk_bytes,
                      (SELECT sha256(string_agg(c.data, ''::bytea ORDER BY c.seq))
                         FROM snowball.job_report_chunks c
                        WHERE c.job_id = r.job_id AND c.kind = r.kind AND c.seq < 8) AS head
                 FROM snowball.job_reports r
                WHERE r.job_id = $1 AND r.kind = 'success_log'"#,
            job
        )
        .fetch_one(&db.pool)
        .await
        .expect("the long success log's row");
        assert_eq!(row.bytes, LONG as i64, "{max}");
        assert_eq!(row.sha256, hasher.finalize().to_vec(), "{max}");
        assert_eq!(row.stored, stored, "{max}");
        match stored {
            true => {
                assert_eq!(
                    (row.chunks, row.chunk_bytes),
                    (512, Some(LONG as i64)),
                    "1 MiB a chunk"
                );
                // The first 8 MiB as served, in order.
                let mut head = Sha256::new();
                let mut left = 8usize << 20;
                for chunk in served.chunks() {
                    let take = chunk.len().min(left);
                    head.update(&chunk[..take]);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                assert_eq!(row.head, Some(head.finalize().to_vec()));
            }
            false => assert_eq!(
                row.chunks, 0,
                "nothing of a file over --report-max-bytes is kept"
            ),
        }
    }
}

#[tokio::test]
async fn an_exports_main_jobs_packet_holds_its_parts_timelines_and_reports() {
    let db = TestDb::migrated().await;
    let sim = simulator(300, 92, &["us-east-1"]).await;
    sim.sim.advance(40);
    sync_ok(&archiving(
        sync_config(&db, &sim, &["us-east-1"]),
        512 << 20,
    ))
    .await;
    let (main, parts): (String, Vec<String>) = sqlx::query!(
        r#"SELECT main_job_id AS "main!", array_agg(job_id ORDER BY job_id) AS "parts!"
             FROM snowball.job_details WHERE main_job_id IS NOT NULL
            GROUP BY main_job_id ORDER BY count(*) DESC, main_job_id LIMIT 1"#
    )
    .fetch_one(&db.pool)
    .await
    .map(|r| (r.main, r.parts))
    .expect("an export with parts");
    let mut served = sim.sim.parts(&main);
    served.sort();
    assert_eq!(parts, served, "the parts DescribeJob gave with {main}");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_dir = dir.path().join("export");
    evidence(&db.url, &[&main], &out_dir).await.assert_code(0);
    assert_sha256sum_passes(&out_dir);
    let manifest = manifest(&out_dir);
    assert_eq!(manifest["parts"], serde_json::json!(parts));
    let timeline = std::fs::read_to_string(out_dir.join("timeline.csv")).expect("timeline.csv");
    for part in &parts {
        let history = history_csv(&db.url, part).await;
        for row in without_current_duration(&history).lines().skip(1) {
            assert!(
                without_current_duration(&timeline)
                    .lines()
                    .any(|line| line == row),
                "{part}'s row {row} is in the main job's timeline"
            );
        }
    }
    for report in manifest["reports"].as_array().expect("reports") {
        let (job, kind) = (
            report["job_id"].as_str().expect("job"),
            report["kind"].as_str().expect("kind"),
        );
        if let Some(file) = report["file"].as_str() {
            let content = reports::report(job, kind, None).expect("served").content();
            assert_eq!(
                std::fs::read(out_dir.join(file)).expect("the report"),
                content,
                "{file}"
            );
            assert!(
                job == main || file.starts_with(&format!("reports/{job}/")),
                "{file}"
            );
        }
    }
}

#[tokio::test]
async fn a_database_of_the_previous_release_is_upgraded_with_no_history_row_added_or_lost_and_its_digests_hold()
 {
    // Written by the release before the archive: chained rows and sealed runs.
    let db = TestDb::at_release("20261202100000").await;
    let account = snowball_simulator::account_id(0);
    let job = completed_jobs().remove(0);
    sqlx::raw_sql(
        sqlx::AssertSqlSafe(&*"INSERT INTO snowball.sync_runs (regions, accounts, status, finished_at, tool_version)
         VALUES ('{us-east-1}', '{ACCOUNT}', 'succeeded', now(), '0.5.0'),
                ('{us-east-1}', '{ACCOUNT}', 'succeeded', now(), '0.5.0');
         INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since, last_sync_run_id, account_id)
         VALUES ('JOB', 'Complete', 'us-east-1', now(), now(), now(), 2, 'ACCOUNT');
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id, prev_hash, row_hash)
         SELECT 'JOB', NULL, 'InProgress', now() - interval '1 day', NULL, 1, NULL,
                snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', 1, now() - interval '1 day'),
                                            'JOB', NULL, 'InProgress', NULL, NULL);
         INSERT INTO snowball.job_state_history (job_id, from_state, to_state, observed_at, from_state_last_seen_at, sync_run_id, prev_hash, row_hash)
         SELECT 'JOB', 'InProgress', 'Complete', now(), now() - interval '1 day', 2, h.row_hash,
                snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', 2, now()),
                                            'JOB', 'InProgress', 'Complete', now() - interval '1 day', h.row_hash)
           FROM snowball.job_state_history h WHERE h.job_id = 'JOB';
         SELECT snowball.seal_run(1);
         SELECT snowball.seal_run(2);"
            .replace("ACCOUNT", &account)
            .replace("JOB", &job)),
    )
    .execute(&db.pool)
    .await
    .expect("the previous release's rows");
    let before = history(&db.pool).await;
    let digests = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT digest FROM snowball.sync_runs ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("digests")
    };
    let sealed = digests().await;

    snowball_sync::db::MIGRATOR
        .run(&db.pool)
        .await
        .expect("this release's migrations");
    assert_eq!(
        history(&db.pool).await,
        before,
        "no history row added or lost"
    );
    assert_eq!(digests().await, sealed, "the sealed digests are unchanged");

    // The next run archives the completed job's reports, and everything verifies.
    let sim = simulator_with_jobs(7, vec![entry(&job, "Complete")]).await;
    let run = sync_ok(&archiving(
        sync_config(&db, &sim, &["us-east-1"]),
        512 << 20,
    ))
    .await;
    assert_eq!(
        run.totals.reports_archived,
        Some(expected(std::slice::from_ref(&job)).len() as i32)
    );
    assert_eq!(
        history(&db.pool).await,
        before,
        "an unchanged job gets no history row"
    );
    crate::verification::assert_both_verify(&db.url, "reports::upgrade").await;
}

#[tokio::test]
async fn a_report_without_a_content_length_that_grows_past_the_limit_is_hashed_only() {
    let db = TestDb::migrated().await;
    let job = "JIDreport-0000-4000-8000-000000000777".to_owned();
    let sim = simulator_with_jobs(7, vec![entry(&job, "Complete")]).await;
    sim.sim.set_long_success_log(Some(3 << 20));
    // Every download chunked: the archive learns the size only as it reads.
    sim.sim.set_faults(Faults {
        unsized_reports: 10,
        ..Faults::default()
    });
    // 2 MiB: two chunks are stored before the log passes the limit.
    sync_ok(&archiving(sync_config(&db, &sim, &["us-east-1"]), 2 << 20)).await;
    let served = reports::report(&job, "success_log", Some(3 << 20)).expect("a success log");
    let rows = archived(&db.pool).await;
    let log = rows
        .iter()
        .find(|r| r.1 == "success_log")
        .expect("the success log's row");
    assert_eq!(log.2, 3 << 20);
    assert_eq!(log.3, Sha256::digest(served.content()).to_vec());
    assert!(!log.4, "hashed only");
    assert_eq!(
        log.5, None,
        "the chunks stored before the limit was passed are rolled back"
    );
    let pdf = rows
        .iter()
        .find(|r| r.1 == "completion_report")
        .expect("the report's row");
    assert!(pdf.4, "a small file without a Content-Length is kept");
}

/// Reports in the lacking-reports section of `report --output json`.
async fn lacking(db: &TestDb) -> usize {
    let out = run_bin(
        &["report", "--database-url", &db.url, "--format", "json"],
        &[],
    )
    .await;
    out.assert_code(0);
    let report: serde_json::Value =
        serde_json::from_str(out.stdout().trim()).expect("one JSON object");
    report["jobs_lacking_reports"]
        .as_array()
        .expect("the section")
        .iter()
        .map(|j| {
            j["missing_reports"]
                .as_str()
                .map_or(0, |kinds| kinds.split_whitespace().count())
        })
        .sum()
}

#[tokio::test]
async fn reports_kept_only_hashed_are_counted_apart_and_kept_by_a_later_run_with_a_higher_limit() {
    let db = TestDb::migrated().await;
    let jobs = completed_jobs();
    let sim = simulator_with_jobs(7, jobs.iter().map(|j| entry(j, "Complete")).collect()).await;
    let config = sync_config(&db, &sim, &["us-east-1"]);
    let all = expected(&jobs);

    let small = sync_ok(&archiving(config.clone(), 200)).await;
    let hashed = archived(&db.pool)
        .await
        .iter()
        .filter(|(.., stored, _)| !stored)
        .count();
    assert!(
        hashed > 0 && hashed < all.len(),
        "{hashed} of {}",
        all.len()
    );
    assert_eq!(small.totals.reports_archived, Some(all.len() as i32));
    assert_eq!(small.totals.reports_hashed_only, Some(hashed as i32));
    assert!(
        small
            .to_string()
            .contains(&format!("{} reports archived", all.len()))
            && small.to_string().contains(&format!(
                "{} kept, {hashed} only hashed",
                all.len() - hashed
            )),
        "{small}"
    );
    // What is kept only hashed lacks its content: the report says so.
    assert_eq!(lacking(&db).await, hashed);

    // The same limit again: nothing to fetch.
    let requests = report_requests(&sim).await;
    let again = sync_ok(&archiving(config.clone(), 200)).await;
    assert_eq!(report_requests(&sim).await, requests);
    assert_eq!(again.totals.reports_archived, Some(0));

    // A higher limit: each report kept only hashed is fetched again and kept.
    let higher = sync_ok(&archiving(config.clone(), 512 << 20)).await;
    assert_eq!(report_requests(&sim).await, requests + hashed as u64);
    assert_eq!(higher.totals.reports_archived, Some(hashed as i32));
    assert_eq!(higher.totals.reports_hashed_only, Some(0));
    let rows = archived(&db.pool).await;
    assert_eq!(rows.len(), all.len() + hashed);
    for (job, kind) in &all {
        let kept: Vec<&Archived> = rows
            .iter()
            .filter(|r| &r.0 == job && r.1 == *kind && r.4)
            .collect();
        let served = reports::report(job, kind, None).expect("served").content();
        assert_eq!(kept.len(), 1, "{job} {kind}");
        assert_eq!(
            kept[0].5.as_deref(),
            Some(served.as_slice()),
            "{job} {kind}"
        );
    }
    assert_eq!(lacking(&db).await, 0);
    let runs: Vec<Option<i32>> =
        sqlx::query_scalar("SELECT reports_hashed_only FROM snowball.sync_runs ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("runs");
    assert_eq!(runs, [Some(hashed as i32), Some(0), Some(0)]);
    if psycopg_available("reports_kept_only_hashed") {
        let verdict = crate::verification::both_verify(&db.url, &[]).await;
        assert_eq!((verdict.code, verdict.problems), (0, Vec::<String>::new()));
    }
}

#[tokio::test]
async fn report_max_bytes_below_1_mib_is_refused_naming_the_bound() {
    for small in ["512", "0", "1023KiB"] {
        let out = run_bin(
            &[
                "sync",
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
                "--region",
                "us-east-1",
                "--include",
                "reports",
                "--report-max-bytes",
                small,
            ],
            &aws_test_env(),
        )
        .await;
        out.assert_code(2);
        assert!(
            out.error_line()
                .contains("below 1MiB, the least this takes"),
            "{}",
            out.stderr()
        );
    }
}
