//! The `migrate` command: apply the embedded migrations the database lacks.

use std::io::Write;

use crate::config::DatabaseConfig;
use crate::db;
use crate::error::Error;

pub async fn run(database: &DatabaseConfig, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let mut conn = db::connect_one(database).await?;
    db::migrate(&mut conn).await?;
    writeln!(out, "database schema is up to date ({})", database.target()).ok();
    Ok(())
}
