//! `--metrics-file`: the Prometheus text exposition of the last run, written
//! atomically (a temporary file in the same directory, then a rename), the
//! node_exporter textfile-collector convention.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::db::fleet::StateCount;
use crate::db::runs::RunStatus;
use crate::sync::RunSummary;

const LAST_SUCCESS: &str = "snowball_sync_last_success_timestamp_seconds";

/// What the file reports: the run (when it got as far as its row), whether
/// it succeeded, and the jobs by state afterwards (when the database answered).
pub struct Report<'a> {
    pub summary: Option<&'a RunSummary>,
    pub succeeded: bool,
    pub finished_at: DateTime<Utc>,
    pub jobs_by_state: Option<&'a [StateCount]>,
    /// The latest device usage per account and region, when the run read it.
    pub usage: Option<&'a [crate::db::usage::Usage]>,
    /// Clusters by account and state, when the run read clusters.
    pub clusters: Option<&'a [crate::db::clusters::StateCount]>,
    /// When each term ends, when the run read long-term pricing.
    pub terms: Option<&'a [crate::db::pricing::TermEnd]>,
    /// When each kind of the estate the run read was last observed, per
    /// account and region: the figures above may be older than this run.
    pub observed: Option<&'a [crate::db::runs::LastListed]>,
}

pub fn write(path: &Path, report: &Report<'_>) -> anyhow::Result<()> {
    // A failed run keeps the last success the previous file recorded.
    let last_success = match report.summary {
        Some(summary) if report.succeeded && summary.status == RunStatus::Succeeded => {
            Some(seconds(summary.finished_at))
        }
        _ => std::fs::read_to_string(path)
            .ok()
            .and_then(|old| previous_last_success(&old)),
    };
    let text = render(report, last_success);
    // A symlinked path is written through to its target, as node_exporter's
    // textfile collector reads it; renaming over the link would replace it.
    let target = match std::fs::read_link(path) {
        Ok(link) => path.parent().map_or(link.clone(), |dir| dir.join(link)),
        Err(_) => path.to_path_buf(),
    };
    let name = target
        .file_name()
        .context("the metrics path names no file")?
        .to_string_lossy();
    let temporary = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text)
        .with_context(|| format!("writing {}", temporary.display()))
        .and_then(|()| {
            std::fs::rename(&temporary, &target)
                .with_context(|| format!("renaming the metrics file into {}", target.display()))
        });
    if written.is_err() {
        // Never a temporary file left behind, run after run.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn render(report: &Report<'_>, last_success: Option<f64>) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "snowball_sync_last_run_success",
        "1 if the last run succeeded, 0 if it failed.",
        f64::from(u8::from(report.succeeded)),
    );
    gauge(
        "snowball_sync_last_run_timestamp_seconds",
        "When the last run ended (Unix time).",
        seconds(report.finished_at),
    );
    // 0 until a run succeeds, so that an alert on its age fires for a
    // deployment whose runs never succeeded.
    gauge(
        LAST_SUCCESS,
        "When the last successful run ended (Unix time); 0 until one has.",
        last_success.unwrap_or(0.0),
    );
    if let Some(s) = report.summary {
        let t = &s.totals;
        gauge(
            "snowball_sync_last_run_duration_seconds",
            "How long the last run took.",
            s.elapsed.as_secs_f64(),
        );
        gauge(
            "snowball_sync_last_run_pages",
            "ListJobs pages the last run wrote.",
            f64::from(t.pages),
        );
        gauge(
            "snowball_sync_last_run_jobs_seen",
            "Distinct jobs the last run listed.",
            f64::from(t.jobs_seen),
        );
        gauge(
            "snowball_sync_last_run_jobs_new",
            "Jobs the last run saw for the first time.",
            f64::from(t.jobs_new),
        );
        gauge(
            "snowball_sync_last_run_jobs_changed",
            "Jobs whose state the last run saw change.",
            f64::from(t.jobs_changed),
        );
        gauge(
            "snowball_sync_last_run_transitions",
            "History rows the last run wrote.",
            f64::from(t.transitions),
        );
        if let (Some(described), Some(changes)) = (t.jobs_described, t.detail_changes) {
            gauge(
                "snowball_sync_last_run_jobs_described",
                "Jobs the last run described with DescribeJob (--details).",
                f64::from(described),
            );
            gauge(
                "snowball_sync_last_run_detail_changes",
                "Detail history rows the last run wrote: jobs whose shipments or data transfer changed.",
                f64::from(changes),
            );
        }
        if let (Some(archived), Some(bytes)) = (t.reports_archived, t.report_bytes) {
            gauge(
                "snowball_sync_last_run_reports_archived",
                "Job reports (completion reports and logs) the last run archived (--include reports).",
                f64::from(archived),
            );
            gauge(
                "snowball_sync_last_run_report_bytes",
                "Bytes of the job reports the last run archived.",
                bytes as f64,
            );
            gauge(
                "snowball_sync_last_run_reports_hashed_only",
                "Of the reports the last run archived, those larger than --report-max-bytes: hashed, their content not kept.",
                f64::from(t.reports_hashed_only.unwrap_or(0)),
            );
        }
        gauge(
            "snowball_sync_last_run_api_requests",
            "HTTP requests to the Snowball API, retries included.",
            s.api_requests as f64,
        );
        gauge(
            "snowball_sync_last_run_api_retries",
            "Requests the SDK retried (throttling, 5xx, timeouts).",
            s.api_retries as f64,
        );
    }
    if let Some((s, digest)) = report.summary.and_then(|s| Some((s, s.digest_hex()?))) {
        // An info metric: what identifies the run, in labels. A copy of the
        // digest kept by Prometheus can anchor `verify`.
        let name = "snowball_sync_last_run_info";
        let _ = writeln!(
            out,
            "# HELP {name} The last run's id and its digest (sync_runs.digest, hex).\n# TYPE {name} gauge\n{name}{{run_id=\"{}\",digest=\"{digest}\"}} 1",
            s.run_id
        );
    }
    if let Some(states) = report.jobs_by_state {
        let name = "snowball_sync_jobs";
        let _ = writeln!(
            out,
            "# HELP {name} Jobs in snowball.jobs by account_id (empty: not yet known) and job_state.\n# TYPE {name} gauge"
        );
        for state in states {
            let _ = writeln!(
                out,
                "{name}{{account_id=\"{}\",job_state=\"{}\"}} {}",
                escape_label(state.account_id.as_deref().unwrap_or_default()),
                escape_label(&state.job_state),
                state.jobs
            );
        }
    }
    if let Some(usage) = report.usage {
        for (name, help, value) in [
            (
                "snowball_sync_devices_in_use",
                "Snowball devices in use by account_id and region (GetSnowballUsage, --include usage).",
                (|u: &crate::db::usage::Usage| u.snowballs_in_use)
                    as fn(&crate::db::usage::Usage) -> Option<i64>,
            ),
            (
                "snowball_sync_device_limit",
                "The Snowball device limit by account_id and region (GetSnowballUsage, --include usage).",
                |u: &crate::db::usage::Usage| u.snowball_limit,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for u in usage {
                if let Some(value) = value(u) {
                    let _ = writeln!(
                        out,
                        "{name}{{account_id=\"{}\",region=\"{}\"}} {value}",
                        escape_label(&u.account_id),
                        escape_label(&u.region),
                    );
                }
            }
        }
    }
    if let Some(clusters) = report.clusters {
        let name = "snowball_sync_clusters";
        let _ = writeln!(
            out,
            "# HELP {name} Clusters by account_id and cluster_state (--include clusters).\n# TYPE {name} gauge"
        );
        for c in clusters {
            let _ = writeln!(
                out,
                "{name}{{account_id=\"{}\",cluster_state=\"{}\"}} {}",
                escape_label(c.account_id.as_deref().unwrap_or_default()),
                escape_label(&c.cluster_state),
                c.clusters
            );
        }
    }
    if let Some(terms) = report.terms {
        let name = "snowball_sync_long_term_pricing_end_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} When each long-term pricing term ends, Unix seconds (--include long-term-pricing).\n# TYPE {name} gauge"
        );
        for t in terms {
            let _ = writeln!(
                out,
                "{name}{{long_term_pricing_id=\"{}\",account_id=\"{}\",auto_renew=\"{}\"}} {}",
                escape_label(&t.long_term_pricing_id),
                escape_label(t.account_id.as_deref().unwrap_or_default()),
                t.auto_renew
                    .map_or("unknown", |a| if a { "true" } else { "false" }),
                t.end_date.timestamp()
            );
        }
    }
    if let Some(observed) = report.observed.filter(|o| !o.is_empty()) {
        let name = "snowball_sync_estate_observed_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} When the estate's figures of a kind (usage, clusters, long-term-pricing) were last read for the account and region (Unix time).\n# TYPE {name} gauge"
        );
        for o in observed {
            let _ = writeln!(
                out,
                "{name}{{kind=\"{}\",account_id=\"{}\",region=\"{}\"}} {}",
                escape_label(&o.kind),
                escape_label(&o.account_id),
                escape_label(&o.region),
                seconds(o.at)
            );
        }
    }
    if let Some(s) = report.summary.filter(|s| s.all_listings().next().is_some()) {
        let name = "snowball_sync_listing_success";
        let _ = writeln!(
            out,
            "# HELP {name} 1 if the last run's listing of the kind (jobs, usage, clusters, long-term-pricing) in the account and region succeeded, 0 if it failed.\n# TYPE {name} gauge"
        );
        for (kind, listing) in s.all_listings() {
            let _ = writeln!(
                out,
                "{name}{{kind=\"{kind}\",account_id=\"{}\",region=\"{}\"}} {}",
                escape_label(&listing.account_id),
                escape_label(&listing.region),
                u8::from(listing.succeeded)
            );
        }
    }
    out
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn previous_last_success(old: &str) -> Option<f64> {
    old.lines()
        .find_map(|line| line.strip_prefix(LAST_SUCCESS)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_last_success_is_read_back() {
        let text = "# TYPE x gauge\nsnowball_sync_last_success_timestamp_seconds 1764350000.5\n";
        assert_eq!(previous_last_success(text), Some(1_764_350_000.5));
    }
}
