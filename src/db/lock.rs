//! The run lock: a session-level advisory lock held on its own connection for
//! the whole run, so two syncs never write the same database at once. A
//! killed process loses its connection and with it the lock.

use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::config::DatabaseConfig;

/// Arbitrary, fixed: b"snowsync" as a big-endian integer.
const LOCK_KEY: i64 = 0x736e_6f77_7379_6e63;

/// Holds the lock until dropped (closing the connection) or released.
pub struct RunLock {
    conn: PgConnection,
    database: DatabaseConfig,
}

/// Takes the lock, waiting for it when `wait`; `None` when another run holds it.
pub async fn acquire(
    mut conn: PgConnection,
    wait: bool,
    database: &DatabaseConfig,
) -> anyhow::Result<Option<RunLock>> {
    let acquired = if wait {
        sqlx::query!("SELECT pg_advisory_lock($1)", LOCK_KEY)
            .execute(&mut conn)
            .await
            .context("waiting for the run lock")?;
        true
    } else {
        try_lock(&mut conn).await?
    };
    Ok(acquired.then(|| RunLock {
        conn,
        database: database.clone(),
    }))
}

async fn try_lock(conn: &mut PgConnection) -> anyhow::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1) AS "acquired!""#,
        LOCK_KEY
    )
    .fetch_one(conn)
    .await
    .context("taking the run lock")
}

impl RunLock {
    /// The locked session, for work that must happen under the lock.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Makes sure the lock is still ours before a page commits. A server
    /// restart ends the session that held it; then it is taken again on a new
    /// connection, and if another run got it first, this run must stop: two
    /// runs writing at once could record one transition twice.
    pub async fn ensure_held(&mut self) -> anyhow::Result<()> {
        let alive = matches!(
            tokio::time::timeout(Duration::from_secs(5), self.conn.ping()).await,
            Ok(Ok(()))
        );
        if alive {
            return Ok(());
        }
        tracing::warn!("the database session holding the run lock is gone; taking the lock again");
        // A restarting server refuses connections for a moment: keep trying
        // for as long as a first connection may take.
        let deadline = tokio::time::Instant::now() + self.database.connect_timeout;
        let mut conn = loop {
            match crate::db::connect_one(&self.database).await {
                Ok(conn) => break conn,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(anyhow::anyhow!("{}", err.chain()))
                        .context("reconnecting to take the run lock again");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        if !try_lock(&mut conn).await? {
            bail!(
                "lost the run lock when the database session ended, and another run has taken it; stopping"
            );
        }
        self.conn = conn;
        Ok(())
    }

    pub async fn release(mut self) -> anyhow::Result<()> {
        sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", LOCK_KEY)
            .fetch_one(&mut self.conn)
            .await
            .context("releasing the run lock")?;
        Ok(())
    }
}
