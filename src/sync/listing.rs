//! Listing: one fetcher per (account, region) pages through ListJobs and
//! hands its pages to the writer over one bounded channel. At most
//! `--concurrency` listings are in flight at once, whatever the number of
//! accounts; each one's end is recorded, and one failing never stops the others.

use std::sync::Arc;

use anyhow::anyhow;
use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::sources::Source;
use crate::aws::{self, Page};
use crate::config::SyncConfig;
use crate::db::runs::ListingRecord;

/// Pages waiting between the fetchers and the writer: memory stays bounded
/// (a page is at most 100 jobs) whatever the fleet size. With 8, a 0 ms
/// unchanged re-sync of 100 000 jobs kept its listing waiting on the
/// writers and took 1.22 and 1.42 s against 1.15 and 1.19 s with 64, in less
/// CPU (benchmarks/results/2026-12-02-page-buffer.md); a waiting page costs
/// about 60 kB.
pub const PAGE_BUFFER: usize = 64;

/// The fetchers and the channel their pages arrive on.
pub struct Listing {
    pub fetchers: JoinSet<ListingRecord>,
    pub pages: mpsc::Receiver<Page>,
}

/// Starts one fetcher per (account, region); each waits for one of
/// `--concurrency` permits before its first request, and whenever the
/// channel is full.
pub fn start(
    config: &SyncConfig,
    sources: &[Source],
    regions: &[String],
    counter: &aws::ApiCounter,
    span: &tracing::Span,
) -> Listing {
    let (tx, pages) = mpsc::channel::<Page>(PAGE_BUFFER);
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut fetchers = JoinSet::new();
    for source in sources {
        for region in regions {
            let (access, counter) = (source.access.clone(), counter.clone());
            let (account_id, region) = (source.account_id.clone(), region.clone());
            let (tx, permits) = (tx.clone(), permits.clone());
            let (page_size, max_pages) = (config.page_size, config.max_pages);
            let fetch = async move {
                let _permit = permits.acquire_owned().await;
                // Built once the listing may start: clients waiting for a
                // permit would hold memory for nothing.
                let client = aws::client(&access, &region, &counter);
                let started_at = Utc::now();
                let mut jobs_seen = 0;
                let listed = aws::list_region(
                    &client,
                    &account_id,
                    &region,
                    page_size,
                    max_pages,
                    |page| {
                        jobs_seen += page.jobs.len() as i32;
                        let tx = tx.clone();
                        async move {
                            tx.send(page)
                                .await
                                .map_err(|_| anyhow!("the writer stopped"))
                        }
                    },
                )
                .await;
                if let Err(err) = &listed {
                    tracing::warn!(account_id, region, error = %format!("{err:#}"), "a listing failed; the others go on");
                }
                ListingRecord {
                    succeeded: listed.is_ok(),
                    pages: listed.as_ref().map_or(0, |pages| *pages as i32),
                    jobs_seen,
                    error: listed.err().map(|err| format!("{err:#}")),
                    account_id,
                    region,
                    started_at,
                    finished_at: Utc::now(),
                }
            };
            // A spawned task leaves the run's span behind unless given it: its
            // log lines must carry the run id too.
            fetchers.spawn(fetch.instrument(span.clone()));
        }
    }
    Listing { fetchers, pages }
}
