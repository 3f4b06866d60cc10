//! `snowball-sync evidence`: one folder per job for an auditor, from one
//! snapshot of the database: the job's timeline (as `history --format csv`),
//! its archived reports byte for byte, the runs that observed it (with their
//! digests), a manifest, and SHA256SUMS so that `sha256sum -c SHA256SUMS`
//! passes inside the folder. Reports are copied a chunk at a time, so a
//! file of any size passes through in constant memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::chain::hex;
use crate::config::{EvidenceConfig, EvidenceJobs};
use crate::db;
use crate::error::Error;
use crate::format::TableFormat;
use crate::history::History;
use crate::render::{csv_line, rfc3339};

/// Each kind's file name in `reports/`.
fn file_name(kind: &str) -> String {
    match kind {
        "completion_report" => "completion_report.pdf".to_owned(),
        "success_log" => "success_log.csv".to_owned(),
        "failure_log" => "failure_log.csv".to_owned(),
        other => format!("{other}.bin"),
    }
}

/// A file written into the folder: its path relative to the folder, size
/// and SHA-256.
struct Written {
    name: String,
    bytes: u64,
    sha256: [u8; 32],
}

fn write_file(dir: &Path, name: &str, content: &[u8]) -> anyhow::Result<Written> {
    let path = dir.join(name);
    std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    Ok(Written {
        name: name.to_owned(),
        bytes: content.len() as u64,
        sha256: Sha256::digest(content).into(),
    })
}

/// `--out` must be empty (or not exist yet): an evidence folder holds
/// exactly what one snapshot says, nothing left from before.
/// Returns whether it created the directory.
fn prepare(out: &Path) -> Result<bool, Error> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Usage(format!(
                    "--out {} is not empty: give a new or empty directory",
                    out.display()
                )));
            }
            Ok(false)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(out)
            .with_context(|| format!("creating {}", out.display()))
            .map(|()| true)
            .map_err(Error::Failed),
        Err(err) => Err(Error::Failed(
            anyhow::Error::new(err).context(format!("reading {}", out.display())),
        )),
    }
}

/// The `evidence` command: the folder is written whole or not at all. On
/// any failure (no such job, a report that no longer matches its SHA-256,
/// the database) what it wrote is removed, and a folder it created too.
pub async fn run(config: &EvidenceConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let created = prepare(&config.out)?;
    let written = write_packets(config, out).await;
    if written.is_err() {
        // --out was empty or new (prepare): nothing of anyone else's is in it.
        if let Ok(entries) = std::fs::read_dir(&config.out) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = match path.is_dir() {
                    true => std::fs::remove_dir_all(&path),
                    false => std::fs::remove_file(&path),
                };
            }
        }
        if created {
            let _ = std::fs::remove_dir(&config.out);
        }
    }
    written
}

async fn write_packets(config: &EvidenceConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let mut conn = db::connect_one(&config.database).await?;
    db::ensure_migrated(&mut conn).await?;
    let mut tx = crate::db::snapshot(&mut conn).await?;
    let (jobs, one) = match &config.jobs {
        EvidenceJobs::One(job_id) => (vec![job_id.clone()], true),
        EvidenceJobs::CompletedSince(period) => {
            let now = db::now(&mut *tx).await?;
            let since = period
                .before(now)
                .context("--completed-since reaches before the calendar")?;
            (db::evidence::completed_since(&mut *tx, since).await?, false)
        }
    };
    for job_id in &jobs {
        let dir: PathBuf = match one {
            true => config.out.clone(),
            false => config.out.join(job_id),
        };
        let files = packet(&mut tx, job_id, &dir).await?;
        writeln!(out, "{job_id}: {} files in {}", files, dir.display()).ok();
    }
    if jobs.is_empty() {
        writeln!(out, "no job completed in the period").ok();
    }
    tx.commit()
        .await
        .context("ending the read-only snapshot")
        .map_err(Error::Failed)?;
    Ok(())
}

/// Writes one job's folder; returns how many files it holds. An export's
/// main job's folder holds its parts' timelines, runs and reports too.
async fn packet(tx: &mut sqlx::PgConnection, job_id: &str, dir: &Path) -> Result<usize, Error> {
    let no_such_job = |id: &str| Error::Failed(anyhow::anyhow!("no such job: {id}"));
    let history = History::load(&mut *tx, job_id)
        .await?
        .ok_or_else(|| no_such_job(job_id))?;
    let Some(job) = db::evidence::job_attributes(&mut *tx, job_id).await? else {
        return Err(no_such_job(job_id));
    };
    let parts = match job.is_master {
        Some(true) => db::details::parts_of(&mut *tx, job_id).await?,
        _ => Vec::new(),
    };
    let subjects: Vec<&str> = std::iter::once(job_id)
        .chain(parts.iter().map(String::as_str))
        .collect();
    std::fs::create_dir_all(dir.join("reports"))
        .with_context(|| format!("creating {}", dir.display()))?;

    // The job's history, then each part's rows (the job_id column tells
    // them apart).
    let mut timeline = history.render(TableFormat::Csv);
    for part in &parts {
        let csv = History::load(&mut *tx, part)
            .await?
            .ok_or_else(|| no_such_job(part))?
            .render(TableFormat::Csv);
        timeline += csv.split_once('\n').map_or("", |(_, rows)| rows);
    }
    let mut written = vec![write_file(dir, "timeline.csv", timeline.as_bytes())?];

    let mut observing = std::collections::BTreeMap::new();
    for subject in &subjects {
        for run in db::evidence::runs_observing(&mut *tx, subject).await? {
            observing.insert(run.id, run);
        }
    }
    let mut runs =
        csv_line(&["id", "status", "started_at", "finished_at", "digest"].map(String::from));
    for run in observing.into_values() {
        runs += &csv_line(&[
            run.id.to_string(),
            run.status,
            rfc3339(run.started_at),
            run.finished_at.map(rfc3339).unwrap_or_default(),
            run.digest.as_deref().map(hex).unwrap_or_default(),
        ]);
    }
    written.push(write_file(dir, "runs.csv", runs.as_bytes())?);

    let mut reports = Vec::new();
    let mut missing = Vec::new();
    for subject in &subjects {
        let folder = match *subject == job_id {
            true => "reports".to_owned(),
            false => format!("reports/{subject}"),
        };
        let held = db::archive::held(&mut *tx, subject).await?;
        for report in &held {
            let mut entry = json!({
                "job_id": subject,
                "kind": report.kind,
                "bytes": report.bytes,
                "sha256": hex(&report.sha256),
                "content_type": report.content_type,
                "stored": report.stored,
                "fetched_at": rfc3339(report.fetched_at),
                "sync_run_id": report.sync_run_id,
            });
            if report.stored {
                std::fs::create_dir_all(dir.join(&folder))
                    .with_context(|| format!("creating {folder}"))?;
                let name = format!("{folder}/{}", file_name(&report.kind));
                let copied = copy_report(&mut *tx, subject, &report.kind, &dir.join(&name)).await?;
                if copied.sha256.as_slice() != report.sha256.as_slice()
                    || i64::try_from(copied.bytes).ok() != Some(report.bytes)
                {
                    return Err(Error::Failed(anyhow::anyhow!(
                        "{subject}'s {} in the database does not match its recorded size and SHA-256; run `snowball-sync verify`",
                        report.kind
                    )));
                }
                entry["file"] = json!(name);
                written.push(Written { name, ..copied });
            } else {
                entry["note"] = json!(
                    "hashed only: larger than --report-max-bytes when archived; bytes and sha256 are the original file's"
                );
            }
            reports.push(entry);
        }
        let state = match *subject == job_id {
            true => Some(job.job_state.clone()),
            false => db::evidence::job_attributes(&mut *tx, subject)
                .await?
                .map(|j| j.job_state),
        };
        match db::archive::offered_kinds(&mut *tx, subject).await? {
            None if state
                .as_deref()
                .is_some_and(|s| crate::state::State::new(s).is_complete()) =>
            {
                missing.push(json!({
                "job_id": subject,
                "note": "no run with --include reports has described this job: its reports were never asked for",
                }))
            }
            None => {}
            Some(kinds) => missing.extend(
                kinds
                    .iter()
                    .filter(|k| !held.iter().any(|h| &h.kind == *k))
                    .map(|k| json!({"job_id": subject, "kind": k, "note": "offered by DescribeJob, not archived yet (a later sync --include reports fetches it)"})),
            ),
        }
    }

    let manifest = json!({
        "job": job,
        "parts": parts,
        "as_of": rfc3339(history.as_of),
        "files": written.iter().map(|w| json!({"name": w.name, "bytes": w.bytes, "sha256": hex(&w.sha256)})).collect::<Vec<_>>(),
        "reports": reports,
        "missing_reports": missing,
        "note": "timeline.csv is `snowball-sync history JOB_ID --format csv` at as_of (then each part's rows, for an export's main job); runs.csv lists the runs that observed the job (or a part): that recorded a row about it, last listed it, or completed a listing of its account and region between its first and last sighting; `snowball-sync verify` proves the rows and digests these come from.",
    });
    let text = serde_json::to_string_pretty(&manifest).context("encoding the manifest")? + "\n";
    written.push(write_file(dir, "manifest.json", text.as_bytes())?);

    let sums: String = written
        .iter()
        .map(|w| format!("{}  {}\n", hex(&w.sha256), w.name))
        .collect();
    std::fs::write(dir.join("SHA256SUMS"), sums)
        .with_context(|| format!("writing {}", dir.join("SHA256SUMS").display()))?;
    Ok(written.len() + 1)
}

/// Copies a stored report's chunks into `path`, hashing as it goes.
async fn copy_report(
    tx: &mut sqlx::PgConnection,
    job_id: &str,
    kind: &str,
    path: &Path,
) -> anyhow::Result<Written> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut chunks = db::archive::chunks(&mut *tx, job_id, kind);
    while let Some(chunk) = chunks
        .try_next()
        .await
        .with_context(|| format!("reading {job_id}'s {kind}"))?
    {
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    file.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Written {
        name: String::new(),
        bytes,
        sha256: hasher.finalize().into(),
    })
}
