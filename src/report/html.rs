//! `report --format html`: one self-contained page (inline CSS and SVG, no
//! script, no fetch) with two pictures and the report's tables.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use super::Report;
use super::model::Section;
use crate::output::Value;
use crate::render::{human_duration, rfc3339, text_time};

/// The lifecycle order, for stacking and for the legend; other states follow.
const STATE_ORDER: &[(&str, &str)] = &[
    ("New", "#9e9e9e"),
    ("Pending", "#bdbdbd"),
    ("Listing", "#78909c"),
    ("PreparingAppliance", "#8d6e63"),
    ("PreparingShipment", "#bcaaa4"),
    ("InTransitToCustomer", "#4fc3f7"),
    ("WithCustomer", "#1e88e5"),
    ("InTransitToAWS", "#5c6bc0"),
    ("WithAWSSortingFacility", "#9575cd"),
    ("WithAWS", "#ab47bc"),
    ("InProgress", "#ffa726"),
    ("Complete", "#66bb6a"),
    ("Cancelled", "#ef5350"),
];

fn colour(state: &str) -> String {
    match STATE_ORDER.iter().find(|(s, _)| *s == state) {
        Some((_, colour)) => (*colour).to_owned(),
        // A state this build does not know still gets a stable colour of its own.
        None => format!(
            "hsl({}, 45%, 55%)",
            state
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                % 360
        ),
    }
}

fn rank(state: &str) -> usize {
    STATE_ORDER
        .iter()
        .position(|(s, _)| *s == state)
        .unwrap_or(STATE_ORDER.len())
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn render(report: &Report, sections: &[Section]) -> String {
    let mut states: Vec<&str> = report
        .daily
        .iter()
        .map(|d| d.state.as_str())
        .chain(report.timeline.iter().map(|i| i.state.as_str()))
        .collect();
    states.sort_by_key(|s| (rank(s), s.to_string()));
    states.dedup();

    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Snowball fleet report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 2em; }}
table {{ border-collapse: collapse; margin: .5em 0; }}
th, td {{ padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.legend span {{ display: inline-block; margin-right: 1em; }}
.legend i {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
svg text {{ font: 11px system-ui, sans-serif; fill: #444; }}
.note {{ color: #666; }}
.wide {{ overflow-x: auto; }}
svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Snowball fleet report</h1>
<p class="note">From {} to {} (UTC). Jobs count as stuck after {} in a non-final state.</p>
"#,
        text_time(report.since),
        text_time(report.as_of),
        human_duration(report.stuck_after.as_secs() as i64)
    );
    page += "<div class=\"legend\">";
    for state in &states {
        let _ = write!(
            page,
            "<span><i style=\"background:{}\"></i>{}</span>",
            colour(state),
            escape(state)
        );
    }
    page += "</div>\n<h2>Jobs by state, day by day</h2>\n";
    page += &stacked_bars(report, &states);
    page += "<h2>Timeline of the jobs most recently active</h2>\n";
    page += &timeline(report);
    page += "<h2>Data transferred over time (share of each job's total)</h2>\n";
    page += &transfer_chart(report);
    page += "<h2>Long-term pricing terms, start to end (those lapsing within --renewal-within, without auto-renew, first and in red, as in the table below)</h2>\n";
    page += &term_timeline(report);
    page += &tables(sections);
    page += "</body></html>\n";
    page
}

fn stacked_bars(report: &Report, states: &[&str]) -> String {
    // Every day of the period gets its slot, with or without jobs.
    let days: Vec<NaiveDate> = report
        .since
        .date_naive()
        .iter_days()
        .take_while(|day| *day <= report.as_of.date_naive())
        .collect();
    let (width, height, left, bottom) = (900.0, 260.0, 50.0, 30.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="jobs by state per day">"#
    );
    if report.daily.is_empty() {
        svg += r#"<text x="10" y="20">No history in this period.</text></svg>"#;
        return svg;
    }
    let total = |day: NaiveDate| {
        report
            .daily
            .iter()
            .filter(|d| d.day == day)
            .map(|d| d.jobs)
            .sum::<i64>()
    };
    let max = days.iter().map(|d| total(*d)).max().unwrap_or(1).max(1) as f64;
    let plot_height = height - bottom - 10.0;
    let slot = (width - left - 20.0) / days.len() as f64;
    let _ = write!(
        svg,
        r#"<text x="0" y="14">{}</text><text x="0" y="{}">0</text>"#,
        max,
        plot_height + 10.0
    );
    for (index, day) in days.iter().enumerate() {
        let x = left + index as f64 * slot + slot * 0.1;
        let mut y = plot_height + 10.0;
        for state in states {
            let Some(count) = report
                .daily
                .iter()
                .find(|d| d.day == *day && d.state == *state)
                .map(|d| d.jobs)
            else {
                continue;
            };
            let h = count as f64 / max * plot_height;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{day}: {} {}</title></rect>"#,
                slot * 0.8,
                colour(state),
                count,
                escape(state)
            );
        }
        // Label at most about 15 days, so the labels never overlap.
        if index % days.len().div_ceil(15) == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + slot * 0.4,
                height - 8.0,
                day.format("%m-%d")
            );
        }
    }
    svg + "</svg>\n"
}

fn timeline(report: &Report) -> String {
    let mut jobs: Vec<&str> = report.timeline.iter().map(|i| i.job_id.as_str()).collect();
    jobs.dedup();
    let (width, lane, left, top) = (900.0, 16.0, 290.0, 22.0);
    let height = top + lane * jobs.len() as f64 + 24.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="timeline per job">"#
    );
    if jobs.is_empty() {
        svg += r#"<text x="10" y="20">No job changed state in this period.</text></svg>"#;
        return svg;
    }
    // The axis spans what there is to see: from the earliest stint shown (not
    // before the period) to the report's moment.
    let start: DateTime<Utc> = report
        .timeline
        .iter()
        .map(|i| i.entered_at.max(report.since))
        .min()
        .unwrap_or(report.since);
    let axis = TimeAxis::new(start, report.as_of, left, width);
    let x_of = |t| axis.x(t);
    svg += &axis.labels(12.0);
    for (row, job) in jobs.iter().enumerate() {
        let y = top + row as f64 * lane;
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.1}">{}</text>"#,
            y + lane * 0.75,
            escape(job)
        );
        for interval in report.timeline.iter().filter(|i| i.job_id == *job) {
            let end = interval.left_at.unwrap_or(report.as_of);
            let (x0, x1) = (x_of(interval.entered_at), x_of(end));
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} from {} to {}</title></rect>"#,
                y + 2.0,
                (x1 - x0).max(1.0),
                lane - 4.0,
                colour(&interval.state),
                escape(job),
                escape(&interval.state),
                rfc3339(interval.entered_at),
                interval.left_at.map_or_else(|| "now".to_owned(), rfc3339)
            );
        }
    }
    svg + "</svg>\n"
}

/// One bar per term not yet ended, from its start to its end, today marked
/// by a line; the terms lapsing within --renewal-within (the table's
/// `lapses`) come first, in red.
fn term_timeline(report: &Report) -> String {
    let lapsing = |t: &crate::db::pricing::Ending| {
        report
            .terms_ending
            .iter()
            .any(|e| e.lapses && e.long_term_pricing_id == t.long_term_pricing_id)
    };
    let mut terms: Vec<&crate::db::pricing::Ending> = report.terms.iter().collect();
    terms.sort_by_key(|t| (!lapsing(t), t.end_date));
    let (width, lane, left, top) = (900.0, 16.0, 290.0, 22.0);
    let height = top + lane * terms.len() as f64 + 24.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="long-term pricing terms">"#
    );
    if terms.is_empty() {
        svg += r#"<text x="10" y="20">No long-term pricing term (sync --include long-term-pricing records them).</text></svg>"#;
        return svg + "\n";
    }
    let start = terms
        .iter()
        .filter_map(|t| t.start_date)
        .min()
        .unwrap_or(report.as_of)
        .min(report.as_of);
    let end = terms
        .iter()
        .map(|t| t.end_date)
        .max()
        .unwrap_or(report.as_of);
    let axis = TimeAxis::new(start, end, left, width);
    let x_of = |t| axis.x(t);
    svg += &axis.labels(12.0);
    for (row, term) in terms.iter().enumerate() {
        let y = top + row as f64 * lane;
        let (x0, x1) = (x_of(term.start_date.unwrap_or(start)), x_of(term.end_date));
        let fill = if lapsing(term) { "#d62728" } else { "#1f77b4" };
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.1}">{}</text><rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}: {} to {}, {} days left, {}</title></rect>"#,
            y + lane * 0.75,
            escape(&term.long_term_pricing_id),
            y + 2.0,
            (x1 - x0).max(1.0),
            lane - 4.0,
            escape(&term.long_term_pricing_id),
            term.start_date.map_or_else(|| "?".to_owned(), rfc3339),
            rfc3339(term.end_date),
            term.days_left,
            match (lapsing(term), term.lapses) {
                (true, _) => "lapses within --renewal-within: no auto-renew",
                (false, true) => "no auto-renew, ends after --renewal-within",
                (false, false) => "auto-renews",
            }
        );
    }
    let today = x_of(report.as_of);
    let _ = write!(
        svg,
        r##"<line x1="{today:.1}" y1="{}" x2="{today:.1}" y2="{:.1}" stroke="#222" stroke-dasharray="3,2"/><text x="{today:.1}" y="{:.1}" text-anchor="middle">today</text>"##,
        top - 4.0,
        height - 16.0,
        height - 4.0
    );
    svg + "</svg>\n"
}

/// A horizontal time axis from `start` at x = `left` to `end` 10 px short of
/// `width`; earlier moments are drawn at its start.
struct TimeAxis {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    left: f64,
    width: f64,
}

impl TimeAxis {
    fn new(start: DateTime<Utc>, end: DateTime<Utc>, left: f64, width: f64) -> TimeAxis {
        TimeAxis {
            start,
            end,
            left,
            width,
        }
    }

    fn x(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.end - self.start).num_milliseconds().max(1) as f64;
        self.left
            + ((t.max(self.start) - self.start).num_milliseconds() as f64 / span)
                * (self.width - self.left - 10.0)
    }

    /// Its two ends' times, at height `y`.
    fn labels(&self, y: f64) -> String {
        format!(
            r#"<text x="{}" y="{y}">{}</text><text x="{}" y="{y}" text-anchor="end">{}</text>"#,
            self.left,
            text_time(self.start),
            self.width - 10.0,
            text_time(self.end)
        )
    }
}

/// One line per job moving data: the share of its total transferred at each
/// observation (`sync --details`), over the period.
fn transfer_chart(report: &Report) -> String {
    let (width, height, left, top, bottom) = (900.0, 220.0, 50.0, 10.0, 24.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="data transferred over time">"#
    );
    let series = &report.transfer_series;
    let Some(start) = series.iter().map(|p| p.observed_at).min() else {
        svg += r#"<text x="10" y="20">No data transfer observed in this period (sync --details records it).</text></svg>"#;
        return svg + "\n";
    };
    let axis = TimeAxis::new(start.max(report.since), report.as_of, left, width);
    let x_of = |t| axis.x(t);
    let plot = height - top - bottom;
    let y_of = |share: f64| top + plot * (1.0 - share.clamp(0.0, 1.0));
    for (share, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let y = y_of(share);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            width - 10.0,
            left - 4.0,
            y + 4.0
        );
    }
    svg += &axis.labels(height - 6.0);
    let mut jobs: Vec<&str> = series.iter().map(|p| p.job_id.as_str()).collect();
    jobs.dedup();
    for job in jobs {
        let points: Vec<String> = series
            .iter()
            .filter(|p| p.job_id == job)
            .filter_map(|p| {
                let total = p.total_bytes.filter(|t| *t > 0)?;
                let share = p.bytes_transferred as f64 / total as f64;
                Some(format!("{:.1},{:.1}", x_of(p.observed_at), y_of(share)))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke-width="2" stroke="{}" points="{}"><title>{}</title></polyline>"#,
            colour(job),
            points.join(" "),
            escape(job)
        );
    }
    svg + "</svg>\n"
}

fn tables(sections: &[Section]) -> String {
    let mut html = String::new();
    for section in sections {
        let _ = write!(
            html,
            "<h2>{}</h2>\n<div class=\"wide\"><table><tr>",
            escape(&section.title)
        );
        for header in section.columns {
            let _ = write!(html, "<th>{}</th>", escape(header));
        }
        html += "</tr>\n";
        for row in &section.rows {
            html += "<tr>";
            for cell in row {
                let class = if cell.is_numeric() {
                    " class=\"n\""
                } else {
                    ""
                };
                let _ = write!(html, "<td{class}>{}</td>", escape(&Value::to_text(cell)));
            }
            html += "</tr>\n";
        }
        html += "</table></div>\n";
    }
    html
}
