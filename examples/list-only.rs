//! Listing alone, the floor of an unchanged re-sync (scripts/bench.py
//! chain): pages through ListJobs with the tool's own client and
//! pagination, decoding every job, writing nothing.
//! usage: list-only ENDPOINT_URL REGION   (credentials from the environment)

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(region)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: list-only ENDPOINT_URL REGION");
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    let counter = snowball_sync::snowball::ApiCounter::default();
    let client = snowball_sync::snowball::client(&sdk, &region, &counter);
    let started = std::time::Instant::now();
    let mut jobs = 0usize;
    let pages = snowball_sync::snowball::list_region(&client, "", &region, 100, u32::MAX, |page| {
        jobs += page.jobs.len();
        async { Ok(()) }
    })
    .await
    .context("listing")?;
    println!(
        "{pages} pages, {jobs} jobs in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
