//! Device usage (`sync --include usage`): GetSnowballUsage for every
//! (account, region) the run lists, at most `--concurrency` at once, after
//! the listings; a history row only when the figures change. Each call is a
//! listing of kind `usage` in sync_run_listings; a refusal or failure makes
//! the run partial with one line, the rest written.

use std::collections::BTreeMap;

use chrono::Utc;
use tokio::task::JoinSet;

use super::sources::Source;
use super::writing::Sink;
use crate::db::runs::ListingRecord;
use crate::db::usage::Observation;
use crate::snowball::{self, DescribeError};

/// Calls and stores usage; notes in `end` what it wrote and what failed.
pub(crate) async fn run(
    sink: &Sink,
    run_id: i64,
    sources: &[Source],
    regions: &[String],
    concurrency: usize,
    counter: &snowball::ApiCounter,
    end: &mut super::RunEnd,
) -> anyhow::Result<()> {
    let mut calls = JoinSet::new();
    let mut answers = Vec::new();
    for source in sources {
        for region in regions {
            while calls.len() >= concurrency.max(1) {
                if let Some(done) = calls.join_next().await {
                    answers.push(done?);
                }
            }
            let client = snowball::client(&source.sdk, region, counter);
            let (account_id, region) = (source.account_id.clone(), region.clone());
            calls.spawn(async move {
                let started_at = Utc::now();
                let answer = snowball::get_usage(&client).await;
                (account_id, region, started_at, answer)
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        answers.push(done?);
    }
    answers.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

    let mut observations = Vec::new();
    let mut listings = Vec::new();
    let mut denied: BTreeMap<String, String> = BTreeMap::new();
    let mut failed = Vec::new();
    for (account_id, region, started_at, answer) in answers {
        let error = match answer {
            Ok((limit, in_use)) => {
                observations.push(Observation {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    snowball_limit: limit,
                    snowballs_in_use: in_use,
                });
                None
            }
            Err(DescribeError::AccessDenied(why)) => {
                tracing::error!(account_id, region, error = why, "GetSnowballUsage refused");
                denied.entry(account_id.clone()).or_insert(why.clone());
                Some(why)
            }
            Err(DescribeError::Failed(why)) => {
                tracing::warn!(account_id, region, error = why, "GetSnowballUsage failed");
                failed.push(format!("{account_id} {region} ({why})"));
                Some(why)
            }
        };
        listings.push(ListingRecord {
            account_id,
            region,
            succeeded: error.is_none(),
            pages: i32::from(error.is_none()),
            jobs_seen: 0,
            error,
            started_at,
            finished_at: Utc::now(),
        });
    }
    let written = sink.record_usage(run_id, &observations).await?;
    sink.record_listings(run_id, "usage", &listings).await?;
    end.totals.usage_changes = Some(super::clamp(written as i64));
    let mut parts: Vec<String> = denied
        .keys()
        .map(|account| {
            format!(
                "account {account} may not call GetSnowballUsage (AccessDeniedException): grant snowball:GetSnowballUsage (contrib/iam-policy-estate.json)"
            )
        })
        .collect();
    if !failed.is_empty() {
        parts.push(format!("device usage not read for {}", failed.join(", ")));
    }
    if !parts.is_empty() {
        let line = parts.join("; ");
        end.estate_error = Some(match end.estate_error.take() {
            Some(earlier) => format!("{earlier}; {line}"),
            None => line,
        });
    }
    Ok(())
}
