//! The run lock: a session-level advisory lock held on its own connection for
//! the whole run, so two syncs never write the same database at once. A
//! killed process loses its connection and with it the lock.

use anyhow::Context;
use sqlx::postgres::PgConnection;

/// Arbitrary, fixed: b"snowsync" as a big-endian integer.
const LOCK_KEY: i64 = 0x736e_6f77_7379_6e63;

/// Holds the lock until dropped (closing the connection) or released.
pub struct RunLock {
    conn: PgConnection,
}

/// Takes the lock, waiting for it when `wait`; `None` when another run holds it.
pub async fn acquire(mut conn: PgConnection, wait: bool) -> anyhow::Result<Option<RunLock>> {
    let acquired = if wait {
        sqlx::query!("SELECT pg_advisory_lock($1)", LOCK_KEY)
            .execute(&mut conn)
            .await
            .context("waiting for the run lock")?;
        true
    } else {
        sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_lock($1) AS "acquired!""#,
            LOCK_KEY
        )
        .fetch_one(&mut conn)
        .await
        .context("taking the run lock")?
    };
    Ok(acquired.then_some(RunLock { conn }))
}

impl RunLock {
    /// The locked session, for work that must happen under the lock.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    pub async fn release(mut self) -> anyhow::Result<()> {
        sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", LOCK_KEY)
            .fetch_one(&mut self.conn)
            .await
            .context("releasing the run lock")?;
        Ok(())
    }
}
