//! Listing alone, the floor of an unchanged re-sync (scripts/bench.py
//! chain): pages through ListJobs with the tool's own client and
//! pagination, decoding every job, writing nothing.
//! usage: list-only ENDPOINT_URL REGION   (the simulator's credentials)

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(region)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: list-only ENDPOINT_URL REGION");
    };
    let regions = vec![snowball_sync::values::Region::parse(&region).map_err(anyhow::Error::msg)?];
    let access = snowball_sync::aws::load(&snowball_sync::config::AwsConfig::simulated(
        endpoint, regions,
    ))
    .await;
    let counter = snowball_sync::aws::ApiCounter::default();
    let client = snowball_sync::aws::client(&access, &region, &counter);
    let started = std::time::Instant::now();
    let mut jobs = 0usize;
    let pages = snowball_sync::aws::list_region(&client, "", &region, 100, u32::MAX, |page| {
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
