//! The embedded schema migrations and their runner (`schema_state`, `migrate`).

use crate::error::db_err;
use ostiary_store::{SchemaState, StoreError};
use sqlx::{Row, SqliteConnection, SqlitePool};

/// Every migration, ascending; the files are numbered like their versions.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_kv.sql")),
    (3, include_str!("../migrations/0003_logs.sql")),
    (4, include_str!("../migrations/0004_scim_indexes.sql")),
];

/// The schema version this binary expects.
pub(crate) fn binary_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS ostiary_schema_migrations (\
    version BIGINT NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)";

/// The highest applied version, `None` if the migrations table is missing or empty.
async fn db_version(conn: &mut SqliteConnection) -> Result<Option<i64>, StoreError> {
    let exists: i64 =
        sqlx::query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ostiary_schema_migrations'")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
    if exists == 0 {
        return Ok(None);
    }
    sqlx::query("SELECT max(version) FROM ostiary_schema_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?
        .try_get::<Option<i64>, _>(0)
        .map_err(db_err)
}

pub(crate) async fn schema_state(pool: &SqlitePool) -> Result<SchemaState, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let binary = binary_version();
    Ok(match db_version(&mut conn).await? {
        None => SchemaState::Empty,
        Some(db) if db == binary => SchemaState::Current(db),
        Some(db) if db < binary => SchemaState::Older { db, binary },
        Some(db) => SchemaState::Newer { db, binary },
    })
}

/// Applies each pending migration in its own write transaction (`BEGIN IMMEDIATE` serialises
/// concurrent migrators); refuses a database newer than this binary.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<Vec<i64>, StoreError> {
    let binary = binary_version();
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        sqlx::query(CREATE_TABLE).execute(&mut *tx).await.map_err(db_err)?;
        let current = db_version(&mut tx).await?.unwrap_or(0);
        if current > binary {
            return Err(StoreError::SchemaMismatch { db: current, binary });
        }
        if current >= *version {
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO ostiary_schema_migrations (version, applied_at) \
             VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        )
        .bind(*version)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(version, "applied SQLite schema migration");
        applied.push(*version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ascending_and_numbered_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1);
        }
    }
}
