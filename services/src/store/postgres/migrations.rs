//! Versioned schema migrations. A hub applies the ones its database lacks
//! when it starts, all in one transaction under an advisory lock, so several
//! hubs starting at once apply each exactly once and none sees half a
//! schema. A database whose schema is newer than the hub knows is refused.

use crate::error::Error;

/// One step of the schema.
#[derive(Debug)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every step, in order; a released step is never edited, only followed.
pub const MIGRATIONS: &[Migration] = &[Migration { version: 1, name: "log", sql: include_str!("0001_log.sql") }];

/// The schema version before and after [`migrate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    pub from: i32,
    pub to: i32,
}

/// The advisory lock the migrations take ("SAMPLAN" in ASCII).
const LOCK: i64 = 0x0053_414d_504c_414e;

/// Brings the database's schema up to the newest of [`MIGRATIONS`].
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<Migrated, Error> {
    let transaction = client.transaction().await.map_err(failed)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).await.map_err(failed)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS samplan_schema (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(failed)?;
    let from: i32 = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM samplan_schema", &[])
        .await
        .map_err(failed)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if from > known {
        return Err(Error::Storage(format!(
            "the database's schema is version {from}, newer than this hub knows ({known}): run the newer hub"
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        transaction.batch_execute(migration.sql).await.map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO samplan_schema (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(failed)?;
    }
    transaction.commit().await.map_err(failed)?;
    Ok(Migrated { from, to: known })
}

fn failed(error: tokio_postgres::Error) -> Error {
    Error::Storage(format!("migrating the PostgreSQL schema failed: {error}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_run_from_one_without_gaps() {
        for (expected, migration) in (1..).zip(super::MIGRATIONS) {
            assert_eq!(migration.version, expected, "{}", migration.name);
        }
    }
}
