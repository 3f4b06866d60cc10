//! The error type at the library's edge: the kinds a caller branches on, and
//! everything else as an `anyhow` chain with context.

use crate::exit_code::{ExitCode, Signal};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or configuration; reported before anything is attempted.
    #[error("{0}")]
    Usage(String),
    #[error(
        "another snowball-sync run holds the lock on this database; not starting (pass --wait-lock to wait for it)"
    )]
    LockHeld,
    #[error("cannot connect to PostgreSQL ({target})")]
    DatabaseUnreachable {
        target: String,
        #[source]
        source: anyhow::Error,
    },
    #[error("interrupted by {}", signal_name(*.0))]
    Interrupted(Signal),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Interrupt => "SIGINT",
        Signal::Terminate => "SIGTERM",
    }
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::LockHeld => ExitCode::LockHeld,
            Error::Interrupted(signal) => ExitCode::Interrupted(*signal),
            Error::DatabaseUnreachable { .. } | Error::Failed(_) => ExitCode::Failure,
        }
    }

    /// The whole cause chain on one line, `outer: inner: root`.
    pub fn chain(&self) -> String {
        one_line(self)
    }
}

/// An error and its causes on one line, `outer: inner: root`. A cause whose
/// text the line already ends with is left out: anyhow repeats a context as
/// the source of a transparent wrapper, and the SDK repeats its causes.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}
