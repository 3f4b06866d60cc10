//! The output formats a command can be asked for, as the project's own
//! types: `config` maps the command line's choices onto these, and nothing
//! past `config` names a clap type.

/// `history` and `evidence`'s timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Text,
    Json,
    Csv,
}

/// `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
    Csv,
    Html,
}

/// The run summary of `sync` and the result of `verify`: one human line (or
/// lines), or one JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `watch`: human lines, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Text,
    Json,
}

/// The log on stderr: text, JSON lines, or text on a terminal and JSON
/// otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// The shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Elvish,
    Fish,
    PowerShell,
    Zsh,
}
