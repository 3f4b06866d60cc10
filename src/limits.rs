//! Every number, duration and size flag's default and accepted range: what
//! the arithmetic behind it can hold, and no zero where zero means nothing.
//! `cli` shows them (defaults, the configuration reference) and `config`
//! enforces them; neither owns them.

use crate::values::Span;

/// The API's MaxResults limit, and the default page size.
pub const MAX_PAGE_SIZE: i64 = 100;
pub const DEFAULT_MAX_PAGES: u32 = 10_000;
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const MAX_CONCURRENCY: usize = 64;
pub const DEFAULT_DETAILS_CONCURRENCY: usize = 4;
pub const MAX_DETAILS_CONCURRENCY: usize = 32;

/// --report-max-bytes at least: one chunk of a kept report.
pub const REPORT_MAX_BYTES_MIN: u64 = 1 << 20;
/// --connect-timeout, --timeout.
pub const TIMEOUT: (Span, Span) = (Span::from_millis(1), Span::from_secs(3600));
pub const OPERATION_TIMEOUT: (Span, Span) = (Span::from_millis(1), Span::from_secs(86_400));
pub const MAX_ATTEMPTS: (u32, u32) = (1, 100);
pub const MAX_PAGES: (u32, u32) = (1, 1_000_000);
/// report --since: an empty period reports nothing.
pub const PERIOD: (Span, Span) = (Span::from_secs(1), Span::MAX);
/// report --stuck-after, --deadline-within.
pub const AGE: (Span, Span) = (Span::ZERO, Span::MAX);
/// demo --pause.
pub const PAUSE: (Span, Span) = (Span::ZERO, Span::from_secs(3600));
pub const DEMO_RUNS: (u32, u32) = (1, 1000);
pub const DEMO_JOBS: (usize, usize) = (0, 100_000);
pub const DEMO_ACCOUNTS: (usize, usize) = (1, 100);
/// simulate --tick, in seconds.
pub const TICK_SECONDS: (f64, f64) = (0.001, 86_400.0);
pub const SIMULATED_JOBS: (usize, usize) = (0, 1_000_000);
pub const SIMULATED_ACCOUNTS: (usize, usize) = (1, 1000);
/// Jobs across every account and region of a simulated fleet, clusters'
/// member jobs and terms counted as jobs (`simulate` and `demo`).
pub const SIMULATED_FLEET: usize = 2_000_000;
/// simulate --clusters, --terms: per region's estate.
pub const SIMULATED_CLUSTERS: (usize, usize) = (0, 100_000);
pub const SIMULATED_TERMS: (usize, usize) = (0, 100_000);
/// simulate --page-latency-ms, --identity-latency-ms.
pub const LATENCY_MS: (u64, u64) = (0, 60_000);
