//! The report archive (`sync --include reports`): a completed job's
//! completion report and logs, fetched from the pre-signed URLs DescribeJob
//! returns and stored byte for byte with their SHA-256 (db::archive), one
//! transaction a file, streamed in chunks of 1 MiB whatever the file's size.
//! The URLs are credentials for an hour: they live only in a `ReportLink`,
//! whose Debug hides them, and are never stored, logged or printed; errors
//! name the job and kind instead.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::aws::{DownloadError, Downloader};
use crate::config::ArchiveConfig;
use crate::db::archive::{self as stored, Fetched};
use crate::db::lock::RunLock;

/// A chunk row's content, at most (the table's CHECK says the same).
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Attempts at one file when the server fails (5xx) or the connection is cut.
const ATTEMPTS: u32 = 3;

/// One report a job has, and where to fetch it.
#[derive(Clone)]
pub struct ReportLink {
    pub job_id: String,
    pub kind: &'static str,
    url: String,
}

impl ReportLink {
    pub(crate) fn new(job_id: String, kind: &'static str, url: String) -> ReportLink {
        ReportLink { job_id, kind, url }
    }
}

impl std::fmt::Debug for ReportLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportLink")
            .field("job_id", &self.job_id)
            .field("kind", &self.kind)
            .field("url", &"<pre-signed, not shown>")
            .finish()
    }
}

/// What archiving one file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archived {
    pub bytes: u64,
    pub stored: bool,
}

/// Why a file was not archived: one line, without the URL.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt: a 5xx, a connection cut, a timeout.
    Transient(String),
    /// Not: a 4xx (an expired URL answers 403), a refused scheme, the database.
    Final(String),
    /// The run may not write any more (it was ended by another run, or its
    /// lock could not be confirmed): the run stops.
    Stop(anyhow::Error),
}

/// Why `archive` did not archive a file.
#[derive(Debug)]
pub enum NotArchived {
    /// This file failed (one line, without the URL); the run goes on.
    Failed(String),
    /// The run may not write any more; it stops.
    Stop(anyhow::Error),
}

/// Fetches reports through the project's HTTP stack.
pub struct Archiver {
    downloader: Downloader,
    config: ArchiveConfig,
}

impl Archiver {
    pub fn new(config: ArchiveConfig) -> Archiver {
        Archiver {
            downloader: Downloader::default(),
            config,
        }
    }

    /// Fetches and stores one report, whole or not at all, in a transaction
    /// that first confirms the run may still write.
    pub async fn archive(
        &self,
        pool: &PgPool,
        lock: &Mutex<RunLock>,
        run_id: i64,
        link: &ReportLink,
    ) -> Result<Archived, NotArchived> {
        self.allowed(&link.url).map_err(NotArchived::Failed)?;
        let mut attempt = 1;
        loop {
            match self.fetch_into(pool, lock, run_id, link).await {
                Ok(archived) => return Ok(archived),
                Err(Failure::Transient(why)) if attempt < ATTEMPTS => {
                    tracing::warn!(
                        job_id = link.job_id,
                        kind = link.kind,
                        error = why,
                        attempt,
                        "report download failed; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(Failure::Transient(why) | Failure::Final(why)) => {
                    return Err(NotArchived::Failed(why));
                }
                Err(Failure::Stop(err)) => return Err(NotArchived::Stop(err)),
            }
        }
    }

    /// `--report-max-bytes`: a larger report is kept only hashed.
    pub fn max_bytes(&self) -> i64 {
        i64::try_from(self.config.max_bytes).unwrap_or(i64::MAX)
    }

    /// Only https; plain http only to a loopback address, and only when
    /// --endpoint-url is one (the simulator).
    fn allowed(&self, url: &str) -> Result<(), String> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => Ok(()),
            Some("http") if self.config.loopback_http && crate::config::is_loopback_url(url) => {
                Ok(())
            }
            _ => Err("refused: the URL is not https".to_owned()),
        }
    }

    async fn fetch_into(
        &self,
        pool: &PgPool,
        lock: &Mutex<RunLock>,
        run_id: i64,
        link: &ReportLink,
    ) -> Result<Archived, Failure> {
        let call = self.downloader.get(&link.url);
        let mut response = match tokio::time::timeout(self.config.operation_timeout, call).await {
            Err(_) => {
                return Err(Failure::Transient(
                    "no answer within --operation-timeout".into(),
                ));
            }
            Ok(Err(err @ DownloadError::BadUrl)) => return Err(Failure::Final(err.to_string())),
            Ok(Err(err)) => return Err(Failure::Transient(err.to_string())),
            Ok(Ok(response)) => response,
        };
        let status = response.status;
        if status != 200 {
            let line = format!(
                "HTTP {status}{}",
                match status {
                    403 => " (the pre-signed URL expired or was refused)",
                    _ => "",
                }
            );
            return Err(match status {
                500..=599 => Failure::Transient(line),
                _ => Failure::Final(line),
            });
        }
        let content_type = response.content_type.take();
        let declared = response.content_length;
        let database = |err: anyhow::Error| Failure::Final(format!("{err:#}"));
        let mut tx = crate::db::lock::begin_writing(pool, lock, run_id)
            .await
            .map_err(Failure::Stop)?;
        // Content is kept unless the file is larger than --report-max-bytes;
        // one that turns out larger midway is rolled back to here.
        let mut storing = declared.is_none_or(|n| n <= self.config.max_bytes);
        if storing {
            sqlx::query!("SAVEPOINT report_content")
                .execute(&mut *tx)
                .await
                .map_err(|err| Failure::Final(format!("starting a report: {err}")))?;
        }
        let mut hasher = Sha256::new();
        let mut buffer: Vec<u8> = Vec::with_capacity(if storing { CHUNK_BYTES } else { 0 });
        let mut total: u64 = 0;
        let mut seq: i32 = 0;
        loop {
            let next = tokio::time::timeout(self.config.attempt_timeout, response.next()).await;
            let chunk = match next {
                Err(_) => {
                    return Err(Failure::Transient(
                        "the download stalled for --timeout".into(),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(err))) => return Err(Failure::Transient(err.to_string())),
                Ok(Some(Ok(chunk))) => chunk,
            };
            hasher.update(&chunk);
            total += chunk.len() as u64;
            if storing && total > self.config.max_bytes {
                sqlx::query!("ROLLBACK TO SAVEPOINT report_content")
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| Failure::Final(format!("dropping a report's content: {err}")))?;
                storing = false;
                buffer = Vec::new();
            }
            if !storing {
                continue;
            }
            let mut rest: &[u8] = &chunk;
            while !rest.is_empty() {
                let room = CHUNK_BYTES - buffer.len();
                let (now, later) = rest.split_at(room.min(rest.len()));
                buffer.extend_from_slice(now);
                rest = later;
                if buffer.len() == CHUNK_BYTES {
                    stored::insert_chunk(&mut tx, &link.job_id, link.kind, seq, &buffer)
                        .await
                        .map_err(database)?;
                    seq += 1;
                    buffer.clear();
                }
            }
        }
        if declared.is_some_and(|n| n != total) {
            return Err(Failure::Transient(format!(
                "the download was cut at {total} of {} bytes",
                declared.unwrap_or_default()
            )));
        }
        if storing && !buffer.is_empty() {
            stored::insert_chunk(&mut tx, &link.job_id, link.kind, seq, &buffer)
                .await
                .map_err(database)?;
        }
        let sha256 = hasher.finalize();
        let bytes =
            i64::try_from(total).map_err(|_| Failure::Final("a report over 8 EiB".into()))?;
        stored::insert_report(
            &mut tx,
            run_id,
            &Fetched {
                job_id: &link.job_id,
                kind: link.kind,
                bytes,
                sha256: &sha256,
                content_type: content_type.as_deref(),
                stored: storing,
            },
        )
        .await
        .map_err(database)?;
        tx.commit()
            .await
            .map_err(|err| Failure::Final(format!("committing a report: {err}")))?;
        Ok(Archived {
            bytes: total,
            stored: storing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archiver(loopback_http: bool) -> Archiver {
        Archiver::new(ArchiveConfig {
            max_bytes: 1,
            loopback_http,
            attempt_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
        })
    }

    #[test]
    fn only_https_is_fetched_and_plain_http_only_to_a_loopback_simulator() {
        let strict = archiver(false);
        let simulator = archiver(true);
        assert!(
            strict
                .allowed("https://awsie-job-reports.s3.amazonaws.com/x?X-Amz-Signature=1")
                .is_ok()
        );
        assert!(strict.allowed("HTTPS://bucket.s3.amazonaws.com/x").is_ok());
        assert!(
            strict
                .allowed("http://127.0.0.1:4566/_reports/J/success_log")
                .is_err()
        );
        assert!(
            simulator
                .allowed("http://127.0.0.1:4566/_reports/J/success_log")
                .is_ok()
        );
        assert!(
            simulator
                .allowed("http://[::1]:4566/_reports/J/success_log")
                .is_ok()
        );
        assert!(simulator.allowed("http://localhost:4566/x").is_ok());
        for refused in [
            "http://bucket.s3.amazonaws.com/x",
            "http://127.0.0.1.example.com/x",
            "http://user@10.0.0.1/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(simulator.allowed(refused).is_err(), "{refused}");
        }
        let error = strict
            .allowed("http://bucket/x?X-Amz-Security-Token=SECRET")
            .unwrap_err();
        assert!(
            !error.contains("SECRET"),
            "the refusal does not repeat the URL: {error}"
        );
    }

    #[test]
    fn a_links_debug_output_hides_its_url() {
        let link = ReportLink {
            job_id: "JID1".into(),
            kind: "success_log",
            url: "https://b/x?X-Amz-Security-Token=SECRET".into(),
        };
        assert!(!format!("{link:?}").contains("SECRET"));
    }
}
