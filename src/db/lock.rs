//! The run locks: one session-level advisory lock per account, held on one
//! connection for the whole run, so two syncs never write one account's jobs
//! at once while runs over disjoint accounts go side by side. A killed
//! process loses its connection and with it its locks. (Migrations take
//! sqlx's own lock.)

use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool, Postgres, Transaction};
use tokio::sync::Mutex;

use crate::config::DatabaseConfig;
use crate::db::runs::{self, Standing};

/// The high bits of every account's key: b"snow" big-endian. Account ids
/// are below 10^12 < 2^40, so each account has a key of its own, apart from
/// the previous release's single database-wide key (b"snowsync").
const LOCK_SPACE: i64 = 0x736e_6f77 << 40;
/// The previous release's one lock, held exclusively by its runs. Every run
/// of this release holds it shared: runs of this release go side by side,
/// while a run of the old release (during an upgrade, say) excludes them all.
const LEGACY_KEY: i64 = 0x736e_6f77_7379_6e63;

/// The advisory lock key of an account.
pub fn key(account_id: &str) -> i64 {
    // Account ids are validated 12-digit strings; anything else (a test
    // double, say) still gets a stable key within the space.
    let number = account_id.parse::<i64>().unwrap_or_else(|_| {
        account_id
            .bytes()
            .fold(0i64, |h, b| h.wrapping_mul(31).wrapping_add(i64::from(b)))
    });
    LOCK_SPACE | (number & ((1 << 40) - 1))
}

/// Holds the locks until dropped (closing the connection) or released.
pub struct RunLock {
    conn: PgConnection,
    /// The backend holding the locks, as `pg_locks.pid` shows it.
    pid: i32,
    keys: Vec<i64>,
    database: DatabaseConfig,
}

/// Takes the locks of `accounts`, in sorted order (so two waiting runs can
/// never deadlock), waiting for each when `wait`; `None` when another run
/// holds one of them, with none left taken.
pub async fn acquire(
    mut conn: PgConnection,
    accounts: &[String],
    wait: bool,
    database: &DatabaseConfig,
) -> anyhow::Result<Option<RunLock>> {
    let mut keys: Vec<i64> = accounts.iter().map(|a| key(a)).collect();
    keys.sort_unstable();
    keys.dedup();
    if wait {
        sqlx::query!("SELECT pg_advisory_lock_shared($1)", LEGACY_KEY)
            .execute(&mut conn)
            .await
            .context("waiting for the run lock")?;
        for key in &keys {
            sqlx::query!("SELECT pg_advisory_lock($1)", key)
                .execute(&mut conn)
                .await
                .context("waiting for the run lock")?;
        }
    } else if !try_lock_all(&mut conn, &keys).await? {
        return Ok(None);
    }
    let pid = backend_pid(&mut conn).await?;
    Ok(Some(RunLock {
        conn,
        pid,
        keys,
        database: database.clone(),
    }))
}

/// Takes every key (and the legacy key, shared) or none.
async fn try_lock_all(conn: &mut PgConnection, keys: &[i64]) -> anyhow::Result<bool> {
    let shared = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock_shared($1) AS "acquired!""#,
        LEGACY_KEY
    )
    .fetch_one(&mut *conn)
    .await
    .context("taking the run lock")?;
    if !shared {
        return Ok(false);
    }
    for (taken, key) in keys.iter().enumerate() {
        let acquired =
            sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "acquired!""#, key)
                .fetch_one(&mut *conn)
                .await
                .context("taking the run lock")?;
        if !acquired {
            unlock(conn, &keys[..taken]).await?;
            return Ok(false);
        }
    }
    Ok(true)
}

async fn backend_pid(conn: &mut PgConnection) -> anyhow::Result<i32> {
    sqlx::query_scalar!(r#"SELECT pg_backend_pid() AS "pid!""#)
        .fetch_one(conn)
        .await
        .context("reading the run lock's session")
}

/// Releases `keys` and the shared legacy key.
async fn unlock(conn: &mut PgConnection, keys: &[i64]) -> anyhow::Result<()> {
    sqlx::query_scalar!("SELECT pg_advisory_unlock_shared($1)", LEGACY_KEY)
        .fetch_one(&mut *conn)
        .await
        .context("releasing the run lock")?;
    for key in keys {
        sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", key)
            .fetch_one(&mut *conn)
            .await
            .context("releasing the run lock")?;
    }
    Ok(())
}

impl RunLock {
    /// The locked session, for work that must happen under the lock.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Makes sure the locks are still ours before a page commits. A server
    /// restart ends the session that held them; then they are taken again on
    /// a new connection, and if another run got one first, this run must
    /// stop: two runs writing at once could record one transition twice.
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
        if !try_lock_all(&mut conn, &self.keys).await? {
            bail!(
                "lost the run lock when the database session ended, and another run has taken it; stopping"
            );
        }
        self.pid = backend_pid(&mut conn).await?;
        self.conn = conn;
        Ok(())
    }

    pub async fn release(mut self) -> anyhow::Result<()> {
        unlock(&mut self.conn, &self.keys).await
    }
}

/// Begins a transaction that writes for run `run_id`, after confirming
/// inside it that the run is still `running` and that its lock session still
/// holds every lock. The confirmation holds the run's row `FOR SHARE` until
/// the transaction ends, so a run that marks this one `abandoned` (and seals
/// it) waits for the write and sees its rows, or comes first and the write
/// finds the run ended and writes nothing ([`runs::EndedElsewhere`]). A lock
/// session that is gone is replaced once (a server restart ends it); the
/// run's status is confirmed again after that, so a run ended meanwhile
/// never carries on.
pub async fn begin_writing(
    pool: &PgPool,
    lock: &Mutex<RunLock>,
    run_id: i64,
) -> anyhow::Result<Transaction<'static, Postgres>> {
    let mut retaken = false;
    loop {
        let (pid, keys) = {
            let held = lock.lock().await;
            (held.pid, held.keys.clone())
        };
        let mut tx = pool.begin().await.context("starting a transaction")?;
        match runs::confirm_running(&mut tx, run_id, pid, &keys).await? {
            Standing::Holds => return Ok(tx),
            Standing::LockGone if !retaken => {
                tx.rollback().await.ok();
                lock.lock().await.ensure_held().await?;
                retaken = true;
            }
            Standing::LockGone => bail!(
                "the run lock is no longer held by its session, even after taking it again; stopping"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_has_its_own_key_apart_from_the_old_database_lock() {
        let a = key("012345678900");
        let b = key("012345678901");
        assert_ne!(a, b);
        assert_ne!(a, LEGACY_KEY);
        assert_eq!(a & ((1 << 40) - 1), 12_345_678_900);
    }
}
