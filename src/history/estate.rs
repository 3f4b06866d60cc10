//! `history CLUSTER_ID` (the cluster's state stints and its member jobs) and
//! `history LONG_TERM_PRICING_ID` (the term's changes), in text, JSON and CSV.

use chrono::{DateTime, Utc};

use super::stints_table;
use crate::chain::hex;
use crate::db;
use crate::db::timeline::Interval;
use crate::format::TableFormat;
use crate::output::{Column, Document, Formats, Table, Value};
use crate::render::text_time;

pub struct ClusterHistory {
    pub cluster_id: String,
    pub cluster: db::clusters::Cluster,
    pub as_of: DateTime<Utc>,
    pub stints: Vec<Interval>,
}

impl ClusterHistory {
    /// None when the database knows no such cluster.
    pub async fn load(
        tx: &mut sqlx::PgConnection,
        cluster_id: &str,
    ) -> anyhow::Result<Option<ClusterHistory>> {
        let Some(cluster) = db::clusters::cluster(&mut *tx, cluster_id).await? else {
            return Ok(None);
        };
        Ok(Some(ClusterHistory {
            stints: db::clusters::intervals(&mut *tx, cluster_id).await?,
            as_of: db::now(&mut *tx).await?,
            cluster_id: cluster_id.to_owned(),
            cluster,
        }))
    }

    pub fn render(&self, format: TableFormat) -> String {
        self.document().render(format)
    }

    /// The cluster's history as data: its stints and its members now, and
    /// for CSV one table of both.
    pub fn document(&self) -> Document {
        let account = Value::text(&self.cluster.account_id);
        let members = self
            .cluster
            .members
            .iter()
            .map(|m| {
                vec![
                    Value::Text(m.job_id.clone()),
                    Value::Text(m.job_state.clone()),
                    Value::Time(m.state_since),
                ]
            })
            .collect();
        let stint_rows = self.stints.iter().map(|s| {
            vec![
                Value::Text(self.cluster_id.clone()),
                Value::Text("state".to_owned()),
                Value::Text(s.state.clone()),
                Value::Time(s.entered_at),
                Value::opt(s.entered_after, Value::Time),
                Value::opt(s.left_at, Value::Time),
                Value::Int(s.sync_run_id),
                account.clone(),
                Value::Null,
                Value::Text(hex(&s.row_hash)),
            ]
        });
        let member_rows = self.cluster.members.iter().map(|m| {
            vec![
                Value::Text(self.cluster_id.clone()),
                Value::Text("member".to_owned()),
                Value::Text(m.job_state.clone()),
                Value::Time(m.state_since),
                Value::Null,
                Value::Null,
                Value::Null,
                account.clone(),
                Value::Text(m.job_id.clone()),
                Value::Null,
            ]
        });
        let csv_columns = [
            "cluster_id",
            "kind",
            "state",
            "entered_at",
            "entered_after",
            "left_at",
            "sync_run_id",
            "account_id",
            "job_id",
            "row_hash",
        ]
        .map(Column::csv_only);
        let shown_account = match self.cluster.account_id.as_deref() {
            None | Some("") => "unknown",
            Some(account) => account,
        };
        Document {
            heading: format!(
                "{} (cluster, account {shown_account}, times UTC, as of {})",
                self.cluster_id,
                text_time(self.as_of)
            ),
            fields: vec![
                ("cluster_id", Value::Text(self.cluster_id.clone())),
                ("account_id", account.clone()),
                (
                    "cluster_state",
                    Value::Text(self.cluster.cluster_state.clone()),
                ),
                ("as_of", Value::Time(self.as_of)),
            ],
            tables: vec![
                stints_table(&self.stints, self.as_of),
                Table::new(
                    "members",
                    &[
                        Column::new("job_id"),
                        Column::headed("job_state", "state"),
                        Column::headed("state_since", "since"),
                    ],
                    members,
                )
                .titled("Member jobs:")
                .in_formats(Formats::TEXT_AND_JSON),
                Table::new(
                    "timeline",
                    &csv_columns,
                    stint_rows.chain(member_rows).collect(),
                )
                .in_formats(Formats::CSV),
            ],
        }
    }
}

pub struct TermHistory {
    pub id: String,
    pub term: db::pricing::Term,
    pub as_of: DateTime<Utc>,
    pub changes: Vec<db::pricing::Change>,
}

impl TermHistory {
    /// None when the database knows no such term.
    pub async fn load(
        tx: &mut sqlx::PgConnection,
        id: &str,
    ) -> anyhow::Result<Option<TermHistory>> {
        let Some(term) = db::pricing::term(&mut *tx, id).await? else {
            return Ok(None);
        };
        Ok(Some(TermHistory {
            changes: db::pricing::changes(&mut *tx, id).await?,
            as_of: db::now(&mut *tx).await?,
            id: id.to_owned(),
            term,
        }))
    }

    pub fn render(&self, format: TableFormat) -> String {
        self.document().render(format)
    }

    /// The term's history as data: its changes, with the term's id and
    /// account on every CSV line.
    pub fn document(&self) -> Document {
        let t = &self.term;
        let time = |v: Option<DateTime<Utc>>| v.map(text_time).unwrap_or_default();
        let rows = self
            .changes
            .iter()
            .map(|c| {
                vec![
                    Value::Text(self.id.clone()),
                    Value::Time(c.observed_at),
                    Value::text(&c.status),
                    Value::opt(c.auto_renew, Value::Bool),
                    Value::opt(c.end_date, Value::Time),
                    Value::text(&c.current_active_job),
                    Value::text(&c.replacement_job),
                    Value::opt(c.job_ids.clone(), Value::List),
                    Value::Int(c.sync_run_id),
                    Value::text(&t.account_id),
                    Value::Text(hex(&c.row_hash)),
                ]
            })
            .collect();
        Document {
            heading: format!(
                "{} (long-term pricing, account {}, {} {}, {} to {}, {} days left{}, times UTC, as of {})",
                self.id,
                t.account_id.as_deref().unwrap_or("unknown"),
                t.pricing_type.as_deref().unwrap_or("?"),
                t.snowball_type.as_deref().unwrap_or("?"),
                time(t.start_date),
                time(t.end_date),
                t.days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "?".into()),
                if t.lapses {
                    ", LAPSES: no auto-renew"
                } else {
                    ""
                },
                text_time(self.as_of),
            ),
            fields: vec![
                ("long_term_pricing_id", Value::Text(self.id.clone())),
                ("account_id", Value::text(&t.account_id)),
                ("pricing_type", Value::text(&t.pricing_type)),
                ("snowball_type", Value::text(&t.snowball_type)),
                ("start_date", Value::opt(t.start_date, Value::Time)),
                ("end_date", Value::opt(t.end_date, Value::Time)),
                (
                    "days_left",
                    Value::opt(t.days_left, |d| Value::Int(d.into())),
                ),
                ("lapses", Value::Bool(t.lapses)),
                ("missing_since", Value::opt(t.missing_since, Value::Time)),
                ("as_of", Value::Time(self.as_of)),
            ],
            tables: vec![Table::new(
                "changes",
                &[
                    Column::csv_only("long_term_pricing_id"),
                    Column::headed("observed_at", "observed"),
                    Column::new("status"),
                    Column::new("auto_renew"),
                    Column::new("end_date"),
                    Column::new("current_active_job"),
                    Column::new("replacement_job"),
                    Column::new("job_ids"),
                    Column::headed("sync_run_id", "sync_run"),
                    Column::csv_only("account_id"),
                    Column::not_in_text("row_hash"),
                ],
                rows,
            )],
        }
    }
}
