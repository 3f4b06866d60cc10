//! snowball-sync: mirror AWS Snowball ListJobs into PostgreSQL, with an
//! append-only history of every JobState transition.

pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod exit_code;
pub mod job;
pub mod report;
pub mod simulator;
pub mod snowball;
pub mod sync;
pub mod telemetry;

use std::io::Write;

pub use config::Config;
pub use error::Error;
pub use exit_code::{ExitCode, Signal};

/// Runs one command to the end. Output for the user goes to `out`; logs go
/// to the tracing subscriber; the error, if any, is the caller's to print.
pub async fn run(config: Config, out: &mut (dyn Write + Send)) -> Result<ExitCode, Error> {
    match config {
        Config::Sync(sync) => {
            let summary = sync::run(&sync, out, shutdown_signal()).await?;
            writeln!(out, "{summary}").ok();
        }
        Config::Migrate(database) => {
            let mut conn = db::connect_one(&database).await?;
            db::migrate(&mut conn).await?;
            writeln!(out, "database schema is up to date ({})", database.target()).ok();
        }
        Config::Simulate(simulator) => simulator::run(&simulator, out, shutdown_signal()).await?,
        Config::Demo(demo) => demo::run(&demo, out).await?,
    }
    Ok(ExitCode::Success)
}

/// Resolves on SIGINT or SIGTERM, saying which.
pub async fn shutdown_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!(
            "cannot listen for signals; SIGINT and SIGTERM will end the process abruptly"
        );
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}
