//! The output model: what a command prints, built once as data (tables of
//! named columns and typed values, and a document's own fields), and one
//! renderer per format for every table: text (aligned, terminal-safe), JSON
//! (an object per row), CSV (formula-safe). The formats have always named
//! some columns differently for people, and left some out (a row hash in a
//! text table); a column says so once, and every value is written by its
//! type, so no format can write a value its own way.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;

use crate::render::{
    csv_line, human_bytes, human_duration, rfc3339, seconds, text_table, text_time,
};

/// One cell. Its type decides how each format writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Not part of this row at all: left out of its JSON object, empty
    /// elsewhere (a state change has no shipping option).
    Absent,
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    /// When a stint ended; None while it lasts ("(current)" in text).
    Until(Option<DateTime<Utc>>),
    Day(NaiveDate),
    /// A duration in seconds, measured (text: `12.50s` under a minute).
    Seconds(f64),
    /// How long a stint lasted (text: `3d 4h`; CSV: its seconds as written
    /// by Rust, `42` for 42.0).
    Elapsed(TimeDelta),
    Bytes(i64),
    BytesPerSecond(f64),
    Percent(f64),
    /// Words (job ids): space-separated in text and CSV, an array in JSON.
    List(Vec<String>),
}

impl Value {
    pub fn text(v: &Option<String>) -> Value {
        v.clone().map_or(Value::Null, Value::Text)
    }

    pub fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }

    /// Right-aligned in tables.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::Int(_)
                | Value::Seconds(_)
                | Value::Bytes(_)
                | Value::BytesPerSecond(_)
                | Value::Percent(_)
        )
    }

    /// As a person reads it (text and HTML).
    pub fn to_text(&self) -> String {
        match self {
            Value::Null | Value::Absent => String::new(),
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Time(t) => text_time(*t),
            Value::Until(t) => t.map_or_else(|| "(current)".to_owned(), text_time),
            Value::Day(d) => d.to_string(),
            Value::Seconds(s) if *s < 60.0 => format!("{s:.2}s"),
            Value::Seconds(s) => human_duration(*s as i64),
            Value::Elapsed(d) => human_duration(d.num_seconds()),
            Value::Bytes(b) => human_bytes(*b),
            Value::BytesPerSecond(r) => format!("{}/s", human_bytes(*r as i64)),
            Value::Percent(p) => format!("{p:.1}%"),
            Value::List(words) => words.join(" "),
        }
    }

    /// Exact, for JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Absent | Value::Until(None) => serde_json::Value::Null,
            Value::Text(s) => json!(s),
            Value::Int(n) | Value::Bytes(n) => json!(n),
            Value::Bool(b) => json!(b),
            Value::Time(t) | Value::Until(Some(t)) => json!(rfc3339(*t)),
            Value::Day(d) => json!(d.to_string()),
            Value::Seconds(f) | Value::BytesPerSecond(f) | Value::Percent(f) => json!(f),
            Value::Elapsed(d) => json!(seconds(*d)),
            Value::List(words) => json!(words),
        }
    }

    /// Exact, for CSV: JSON's values without quotes, empty for null.
    pub fn to_csv(&self) -> String {
        match self {
            Value::Elapsed(d) => seconds(*d).to_string(),
            Value::List(words) => words.join(" "),
            _ => match self.to_json() {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            },
        }
    }
}

/// The formats a table or column is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub text: bool,
    pub json: bool,
    pub csv: bool,
}

impl Formats {
    pub const ALL: Formats = Formats {
        text: true,
        json: true,
        csv: true,
    };
    pub const CSV: Formats = Formats {
        text: false,
        json: false,
        csv: true,
    };
    pub const TEXT_AND_JSON: Formats = Formats {
        text: true,
        json: true,
        csv: false,
    };
}

/// A column: its name in JSON and CSV, its heading in text, and the formats
/// that show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub heading: &'static str,
    pub formats: Formats,
}

impl Column {
    const fn shown_in(key: &'static str, text: bool, json: bool, csv: bool) -> Column {
        Column {
            key,
            heading: key,
            formats: Formats { text, json, csv },
        }
    }

    /// Shown in every format under its key.
    pub const fn new(key: &'static str) -> Column {
        Column::shown_in(key, true, true, true)
    }

    /// Headed otherwise in text.
    pub const fn headed(key: &'static str, heading: &'static str) -> Column {
        Column {
            heading,
            ..Column::new(key)
        }
    }

    /// Left out of text.
    pub const fn not_in_text(key: &'static str) -> Column {
        Column::shown_in(key, false, true, true)
    }

    /// Shown in text alone (a summary for people).
    pub const fn text_only(key: &'static str) -> Column {
        Column::shown_in(key, true, false, false)
    }

    /// In JSON alone (what text sums up in another column).
    pub const fn json_only(key: &'static str) -> Column {
        Column::shown_in(key, false, true, false)
    }

    /// Left out of text and JSON (a CSV row's context).
    pub const fn csv_only(key: &'static str) -> Column {
        Column::shown_in(key, false, false, true)
    }
}

/// A table: its key (the JSON member holding its rows), its title in text,
/// its columns and rows, and the formats that show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub key: &'static str,
    pub title: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    pub formats: Formats,
}

impl Table {
    pub fn new(key: &'static str, columns: &[Column], rows: Vec<Vec<Value>>) -> Table {
        debug_assert!(rows.iter().all(|row| row.len() == columns.len()));
        Table {
            key,
            title: None,
            columns: columns.to_vec(),
            rows,
            formats: Formats::ALL,
        }
    }

    pub fn titled(self, title: impl Into<String>) -> Table {
        Table {
            title: Some(title.into()),
            ..self
        }
    }

    pub fn in_formats(self, formats: Formats) -> Table {
        Table { formats, ..self }
    }

    /// The columns `wanted` shows, with each one's cells.
    fn shown(&self, wanted: impl Fn(Formats) -> bool) -> (Vec<&Column>, Vec<Vec<&Value>>) {
        let keep: Vec<usize> = (0..self.columns.len())
            .filter(|&i| wanted(self.columns[i].formats))
            .collect();
        let columns = keep.iter().map(|&i| &self.columns[i]).collect();
        let rows = self
            .rows
            .iter()
            .map(|row| keep.iter().map(|&i| &row[i]).collect())
            .collect();
        (columns, rows)
    }

    /// Text: the title on its own line after a blank one, then an aligned
    /// table with the text columns' headings.
    pub fn to_text(&self) -> String {
        let (columns, rows) = self.shown(|f| f.text);
        let headings: Vec<&str> = columns.iter().map(|c| c.heading).collect();
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| row.iter().map(|v| v.to_text()).collect())
            .collect();
        let table = text_table(&headings, &rows);
        match &self.title {
            Some(title) => format!("\n{title}\n{table}"),
            None => table,
        }
    }

    /// JSON: an object per row, its absent values left out.
    pub fn to_json(&self) -> serde_json::Value {
        let (columns, rows) = self.shown(|f| f.json);
        rows.iter()
            .map(|row| {
                columns
                    .iter()
                    .zip(row)
                    .filter(|(_, value)| !matches!(value, Value::Absent))
                    .map(|(column, value)| (column.key.to_owned(), value.to_json()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect::<Vec<serde_json::Value>>()
            .into()
    }

    /// CSV: a header of the CSV columns' keys, then a line per row.
    pub fn to_csv(&self) -> String {
        let (columns, rows) = self.shown(|f| f.csv);
        let mut out = csv_line(&columns.iter().map(|c| c.key.to_owned()).collect::<Vec<_>>());
        for row in rows {
            out += &csv_line(&row.iter().map(|v| v.to_csv()).collect::<Vec<_>>());
        }
        out
    }
}

/// A document: a heading line for people, fields (JSON's top-level members)
/// and tables. Each format's renderer writes the parts it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub heading: String,
    pub fields: Vec<(&'static str, Value)>,
    pub tables: Vec<Table>,
}

impl Document {
    /// Text: the heading, then each text table.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.heading);
        for table in self.tables.iter().filter(|t| t.formats.text) {
            out += &table.to_text();
        }
        out
    }

    /// JSON: one object of the fields and the JSON tables, on one line.
    pub fn to_json(&self) -> String {
        let mut object = serde_json::Map::new();
        for (key, value) in &self.fields {
            object.insert((*key).to_owned(), value.to_json());
        }
        for table in self.tables.iter().filter(|t| t.formats.json) {
            object.insert(table.key.to_owned(), table.to_json());
        }
        serde_json::Value::Object(object).to_string() + "\n"
    }

    /// CSV: the one CSV table.
    pub fn to_csv(&self) -> String {
        self.tables
            .iter()
            .filter(|t| t.formats.csv)
            .map(Table::to_csv)
            .collect()
    }

    pub fn render(&self, format: crate::format::TableFormat) -> String {
        use crate::format::TableFormat;
        match format {
            TableFormat::Text => self.to_text(),
            TableFormat::Json => self.to_json(),
            TableFormat::Csv => self.to_csv(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(
            "rows",
            &[
                Column::headed("observed_at", "observed"),
                Column::new("state"),
                Column::not_in_text("row_hash"),
                Column::text_only("change"),
                Column::csv_only("job_id"),
            ],
            vec![vec![
                Value::Time(DateTime::<Utc>::UNIX_EPOCH),
                Value::Absent,
                Value::Text("ab".into()),
                Value::Text("state New".into()),
                Value::Text("JID1".into()),
            ]],
        )
    }

    #[test]
    fn every_format_writes_the_columns_it_shows_under_their_names_and_no_other() {
        let table = table();
        assert_eq!(
            table.to_text(),
            "observed             state  change\n\
             -------------------  -----  ---------\n\
             1970-01-01 00:00:00         state New\n"
        );
        assert_eq!(
            table.to_json().to_string(),
            r#"[{"observed_at":"1970-01-01T00:00:00.000000Z","row_hash":"ab"}]"#
        );
        assert_eq!(
            table.to_csv(),
            "observed_at,state,row_hash,job_id\n1970-01-01T00:00:00.000000Z,,ab,JID1\n"
        );
    }

    #[test]
    fn a_document_writes_its_fields_and_its_tables_of_each_format() {
        let document = Document {
            heading: "JID1 (as of then)".into(),
            fields: vec![("job_id", Value::Text("JID1".into()))],
            tables: vec![table().in_formats(Formats::TEXT_AND_JSON), {
                let mut csv = table().in_formats(Formats::CSV);
                csv.key = "csv";
                csv
            }],
        };
        assert!(
            document
                .to_text()
                .starts_with("JID1 (as of then)\nobserved ")
        );
        assert_eq!(document.to_text().matches("observed ").count(), 1);
        let json: serde_json::Value =
            serde_json::from_str(&document.to_json()).expect("one JSON object");
        assert_eq!(json["job_id"], "JID1");
        assert!(json.get("csv").is_none() && json["rows"].is_array());
        assert_eq!(document.to_csv().lines().count(), 2);
    }
}
