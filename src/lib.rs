//! snowball-sync: mirror AWS Snowball ListJobs into PostgreSQL, with an
//! append-only history of every JobState transition.

pub mod archive;
pub mod aws;
pub mod chain;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod detail;
pub mod error;
pub mod estate;
pub mod evidence;
pub mod exit_code;
pub mod format;
pub mod history;
pub mod job;
pub mod limits;
pub mod metrics;
pub mod migrate;
pub mod output;
pub mod render;
pub mod report;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod values;
pub mod verify;
pub mod watch;

use std::io::Write;

pub use config::Config;
pub use error::Error;
pub use exit_code::{ExitCode, Signal};

/// Runs one command to the end. Output for the user goes to `out`; logs go
/// to the tracing subscriber; the error, if any, is the caller's to print.
pub async fn run(config: Config, out: &mut (dyn Write + Send)) -> Result<ExitCode, Error> {
    match config {
        Config::Sync(sync) => sync::command::run(&sync, out).await?,
        Config::Migrate(database) => migrate::run(&database, out).await?,
        Config::Simulate(simulator) => {
            snowball_simulator::run(&simulator, out, shutdown_signal()).await?;
        }
        Config::Demo(demo) => demo::run(&demo, out).await?,
        Config::History(history) => history::run(&history, out).await?,
        Config::Evidence(evidence) => evidence::run(&evidence, out).await?,
        Config::Report(config) => report::run(&config, out).await?,
        Config::Watch(watch) => watch::run(&watch, out, shutdown_signal()).await?,
        Config::Verify(verify) => verify::run(&verify, out).await?,
        Config::Completions(shell) => cli::completions(shell, out)?,
        Config::Man(dir) => cli::manual(dir.as_deref(), out)?,
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
