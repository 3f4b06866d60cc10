//! `history CLUSTER_ID` (the cluster's state stints and its member jobs) and
//! `history LONG_TERM_PRICING_ID` (the term's changes), in text, JSON and CSV.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{stint_json, stints_table};
use crate::chain::hex;
use crate::db;
use crate::db::timeline::Interval;
use crate::format::TableFormat;
use crate::render::{csv_line, rfc3339, text_table, text_time};

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
        let account = self.cluster.account_id.clone().unwrap_or_default();
        match format {
            TableFormat::Text => {
                let members: Vec<Vec<String>> = self
                    .cluster
                    .members
                    .iter()
                    .map(|m| {
                        vec![
                            m.job_id.clone(),
                            m.job_state.clone(),
                            text_time(m.state_since),
                        ]
                    })
                    .collect();
                format!(
                    "{} (cluster, account {}, times UTC, as of {})\n{}\nMember jobs:\n{}",
                    self.cluster_id,
                    if account.is_empty() {
                        "unknown"
                    } else {
                        &account
                    },
                    text_time(self.as_of),
                    stints_table(&self.stints, self.as_of),
                    text_table(&["job_id", "state", "since"], &members),
                )
            }
            TableFormat::Json => {
                let stints: Vec<_> = self
                    .stints
                    .iter()
                    .map(|s| stint_json(s, self.as_of))
                    .collect();
                let members: Vec<_> = self
                    .cluster
                    .members
                    .iter()
                    .map(|m| json!({"job_id": m.job_id, "job_state": m.job_state, "state_since": rfc3339(m.state_since)}))
                    .collect();
                json!({
                    "cluster_id": self.cluster_id,
                    "account_id": self.cluster.account_id,
                    "cluster_state": self.cluster.cluster_state,
                    "as_of": rfc3339(self.as_of),
                    "stints": stints,
                    "members": members,
                })
                .to_string()
                    + "\n"
            }
            TableFormat::Csv => {
                let header = [
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
                ];
                let mut out = csv_line(&header.map(String::from));
                for s in &self.stints {
                    out += &csv_line(&[
                        self.cluster_id.clone(),
                        "state".to_owned(),
                        s.state.clone(),
                        rfc3339(s.entered_at),
                        s.entered_after.map(rfc3339).unwrap_or_default(),
                        s.left_at.map(rfc3339).unwrap_or_default(),
                        s.sync_run_id.to_string(),
                        account.clone(),
                        String::new(),
                        hex(&s.row_hash),
                    ]);
                }
                for m in &self.cluster.members {
                    out += &csv_line(&[
                        self.cluster_id.clone(),
                        "member".to_owned(),
                        m.job_state.clone(),
                        rfc3339(m.state_since),
                        String::new(),
                        String::new(),
                        String::new(),
                        account.clone(),
                        m.job_id.clone(),
                        String::new(),
                    ]);
                }
                out
            }
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
        let flag = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
        let time =
            |v: Option<DateTime<Utc>>, f: fn(DateTime<Utc>) -> String| v.map(f).unwrap_or_default();
        let jobs = |c: &db::pricing::Change| c.job_ids.clone().unwrap_or_default().join(" ");
        let t = &self.term;
        match format {
            TableFormat::Text => {
                let rows: Vec<Vec<String>> = self
                    .changes
                    .iter()
                    .map(|c| {
                        vec![
                            text_time(c.observed_at),
                            c.status.clone().unwrap_or_default(),
                            flag(c.auto_renew),
                            time(c.end_date, text_time),
                            c.current_active_job.clone().unwrap_or_default(),
                            c.replacement_job.clone().unwrap_or_default(),
                            jobs(c),
                            c.sync_run_id.to_string(),
                        ]
                    })
                    .collect();
                format!(
                    "{} (long-term pricing, account {}, {} {}, {} to {}, {} days left{}, times UTC, as of {})\n{}",
                    self.id,
                    t.account_id.as_deref().unwrap_or("unknown"),
                    t.pricing_type.as_deref().unwrap_or("?"),
                    t.snowball_type.as_deref().unwrap_or("?"),
                    time(t.start_date, text_time),
                    time(t.end_date, text_time),
                    t.days_left
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "?".into()),
                    if t.lapses {
                        ", LAPSES: no auto-renew"
                    } else {
                        ""
                    },
                    text_time(self.as_of),
                    text_table(
                        &[
                            "observed",
                            "status",
                            "auto_renew",
                            "end_date",
                            "current_active_job",
                            "replacement_job",
                            "job_ids",
                            "sync_run",
                        ],
                        &rows
                    )
                )
            }
            TableFormat::Json => {
                let changes: Vec<_> = self
                    .changes
                    .iter()
                    .map(|c| {
                        json!({
                            "observed_at": rfc3339(c.observed_at),
                            "status": c.status,
                            "auto_renew": c.auto_renew,
                            "end_date": c.end_date.map(rfc3339),
                            "current_active_job": c.current_active_job,
                            "replacement_job": c.replacement_job,
                            "job_ids": c.job_ids,
                            "sync_run_id": c.sync_run_id,
                            "row_hash": hex(&c.row_hash),
                        })
                    })
                    .collect();
                json!({
                    "long_term_pricing_id": self.id,
                    "account_id": t.account_id,
                    "pricing_type": t.pricing_type,
                    "snowball_type": t.snowball_type,
                    "start_date": t.start_date.map(rfc3339),
                    "end_date": t.end_date.map(rfc3339),
                    "days_left": t.days_left,
                    "lapses": t.lapses,
                    "missing_since": t.missing_since.map(rfc3339),
                    "as_of": rfc3339(self.as_of),
                    "changes": changes,
                })
                .to_string()
                    + "\n"
            }
            TableFormat::Csv => {
                let header = [
                    "long_term_pricing_id",
                    "observed_at",
                    "status",
                    "auto_renew",
                    "end_date",
                    "current_active_job",
                    "replacement_job",
                    "job_ids",
                    "sync_run_id",
                    "account_id",
                    "row_hash",
                ];
                let mut out = csv_line(&header.map(String::from));
                for c in &self.changes {
                    out += &csv_line(&[
                        self.id.clone(),
                        rfc3339(c.observed_at),
                        c.status.clone().unwrap_or_default(),
                        flag(c.auto_renew),
                        time(c.end_date, rfc3339),
                        c.current_active_job.clone().unwrap_or_default(),
                        c.replacement_job.clone().unwrap_or_default(),
                        jobs(c),
                        c.sync_run_id.to_string(),
                        t.account_id.clone().unwrap_or_default(),
                        hex(&c.row_hash),
                    ]);
                }
                out
            }
        }
    }
}
