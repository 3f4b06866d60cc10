//! How values are written for people and files, the same in every
//! command's output: times, durations, sizes, terminal-safe text, aligned
//! text tables and formula-safe CSV.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn text_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn seconds(duration: chrono::TimeDelta) -> f64 {
    duration
        .num_microseconds()
        .map_or(duration.num_seconds() as f64, |us| us as f64 / 1e6)
}

/// A value from the API made safe for a terminal: control characters (ESC,
/// CR, the C1 range...) become visible escapes such as `\u{1b}`, so a job
/// description cannot move the cursor, recolour or overwrite a line.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c.is_control() {
                true => c.escape_unicode().to_string(),
                false => c.to_string(),
            })
            .collect(),
    )
}

/// A CSV cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab or CR first) gets a leading single quote, as OWASP recommends; numbers
/// such as `-5` stay numbers.
fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
    match risky {
        true => std::borrow::Cow::Owned(format!("'{cell}")),
        false => std::borrow::Cow::Borrowed(cell),
    }
}

/// One CSV line: fields quoted when they hold a comma, a quote or a line
/// break, and made formula-safe.
pub fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            let f = formula_safe(f);
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.into_owned()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// Left-aligned columns separated by two spaces, with a header and a rule;
/// every cell made `visible`.
pub fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| visible(cell).into_owned()).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    out += &line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A duration as a person reads it: `3d 4h`, `2h 5m`, `40s`.
pub fn human_duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let table = text_table(
            &["state", "jobs"],
            &[
                vec!["New".into(), "12".into()],
                vec!["InTransitToAWS".into(), "3".into()],
            ],
        );
        assert_eq!(
            table,
            "state           jobs\n--------------  ----\nNew             12\nInTransitToAWS  3\n"
        );
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("plain"), "plain");
        assert_eq!(visible("a\u{1b}[31mred\r"), "a\\u{1b}[31mred\\u{d}");
        assert_eq!(visible("\u{9b}2J"), "\\u{9b}2J");
    }

    #[test]
    fn csv_cells_that_would_be_formulas_are_quoted_and_numbers_stay() {
        assert_eq!(
            csv_line(&[
                "=HYPERLINK(1)".into(),
                "+1+1".into(),
                "@SUM".into(),
                "-5".into(),
                "ok".into()
            ]),
            "'=HYPERLINK(1),'+1+1,'@SUM,-5,ok\n"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(40), "40s");
        assert_eq!(human_duration(125), "2m 5s");
        assert_eq!(human_duration(7500), "2h 5m");
        assert_eq!(human_duration(273_600), "3d 4h");
        assert_eq!(human_duration(14 * 86_400), "14d");
        assert_eq!(human_duration(5400), "1h 30m");
        assert_eq!(human_duration(7200), "2h");
    }
}
