//! The process exit codes, documented in docs/running.md. They are part of the
//! interface: cron wrappers and systemd units branch on them.

/// How a command ended, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The command did what was asked.
    Success,
    /// The run failed: the API or the database gave up on us.
    Failure,
    /// Bad usage or configuration; nothing was attempted.
    Usage,
    /// Another run holds the lock on this database (sysexits EX_TEMPFAIL).
    LockHeld,
    /// Stopped by SIGINT (130) or SIGTERM (143), after recording why.
    Interrupted(Signal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::LockHeld => 75,
            ExitCode::Interrupted(Signal::Interrupt) => 130,
            ExitCode::Interrupted(Signal::Terminate) => 143,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_table() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::Failure.code(), 1);
        assert_eq!(ExitCode::Usage.code(), 2);
        assert_eq!(ExitCode::LockHeld.code(), 75);
        assert_eq!(ExitCode::Interrupted(Signal::Interrupt).code(), 130);
        assert_eq!(ExitCode::Interrupted(Signal::Terminate).code(), 143);
    }
}
