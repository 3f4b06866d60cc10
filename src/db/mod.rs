//! The database: the one place that knows the schema. Connection set-up and
//! migrations here; one module per table that runs write, one per question
//! the read side answers (`fleet`, `timeline`, `health`, `evidence`).

pub mod archive;
pub mod chain;
pub mod clusters;
pub mod details;
pub mod evidence;
pub mod fleet;
pub mod health;
pub mod jobs;
pub mod lock;
pub mod notices;
pub mod pricing;
pub mod runs;
pub mod timeline;
pub mod usage;

use anyhow::Context;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::config::DatabaseConfig;
use crate::error::Error;

/// The migrations in migrations/, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// One connection, failing within the connect timeout with a message that
/// names the target (never the password).
pub async fn connect_one(db: &DatabaseConfig) -> Result<PgConnection, Error> {
    let options = db
        .connect
        .clone()
        .log_statements(tracing::log::LevelFilter::Trace);
    match tokio::time::timeout(db.connect_timeout, PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(Error::DatabaseUnreachable {
            target: db.target(),
            source: err.into(),
        }),
        Err(_) => Err(Error::DatabaseUnreachable {
            target: db.target(),
            source: anyhow::anyhow!(
                "no answer within {:?} (--connect-timeout)",
                db.connect_timeout
            ),
        }),
    }
}

/// A small pool for page writes; call after `connect_one` has shown the
/// server answers, since the pool itself retries refused connections until
/// its timeout.
pub async fn pool(db: &DatabaseConfig, max_connections: u32) -> Result<PgPool, Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(db.connect_timeout)
        .connect_with(
            db.connect
                .clone()
                .log_statements(tracing::log::LevelFilter::Trace),
        )
        .await
        .map_err(|err| Error::DatabaseUnreachable {
            target: db.target(),
            source: err.into(),
        })
}

/// Applies pending migrations (sqlx serialises concurrent callers itself).
/// A schema already up to date is left alone without taking sqlx's lock or
/// creating its table, so a role that may not change the schema (the writer
/// of contrib/postgres-roles.sql) syncs; with migrations pending, such a
/// role is told who applies them.
pub async fn migrate(conn: &mut PgConnection) -> anyhow::Result<()> {
    if pending_migrations(conn).await? == 0 {
        return Ok(());
    }
    MIGRATOR.run(conn).await.map_err(|err| {
        use sqlx::migrate::MigrateError::{Execute, ExecuteMigration};
        let denied = matches!(&err, Execute(sqlx::Error::Database(db)) | ExecuteMigration(sqlx::Error::Database(db), _)
            if db.code().as_deref() == Some("42501"));
        let err = anyhow::Error::new(err).context("applying database migrations");
        match denied {
            true => err.context(
                "this role may not change the schema: run `snowball-sync migrate` as the schema's owner (snowball_owner with contrib/postgres-roles.sql)",
            ),
            false => err,
        }
    })
}

/// Fails unless every embedded migration has been applied: a dry run must not
/// change the schema, and cannot work without it.
pub async fn ensure_migrated(conn: &mut PgConnection) -> anyhow::Result<()> {
    let pending = pending_migrations(conn).await?;
    if pending > 0 {
        anyhow::bail!(
            "the database schema is {pending} migration(s) behind; run `snowball-sync migrate` first"
        );
    }
    Ok(())
}

/// The embedded migrations the database has not applied.
async fn pending_migrations(conn: &mut PgConnection) -> anyhow::Result<usize> {
    use sqlx::migrate::Migrate;
    // sqlx keeps the applied migrations in _sqlx_migrations (the migrator's
    // default table, which this project never changes).
    let has_table =
        sqlx::query_scalar!(r#"SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS "exists!""#)
            .fetch_one(&mut *conn)
            .await
            .context("looking for the migrations table")?;
    let applied = if has_table {
        conn.list_applied_migrations(&MIGRATOR.table_name)
            .await
            .context("reading the applied migrations")?
    } else {
        Vec::new()
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .count())
}

/// One snapshot for everything a command prints: a report made while a sync
/// commits never counts one job in two states.
pub async fn snapshot(
    conn: &mut sqlx::PgConnection,
) -> anyhow::Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    use sqlx::Connection;
    conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .context("starting the read-only snapshot")
}

/// A moment as text for PostgreSQL's `timestamptz` input, to the nanosecond:
/// the server rounds it to the microsecond it stores, as it did when these
/// values reached it inside JSON.
pub(crate) fn timestamp_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The database's clock: reports are "as of" the moment they are made.
pub async fn now(db: impl sqlx::PgExecutor<'_>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(db)
        .await
        .context("reading the database clock")
}
