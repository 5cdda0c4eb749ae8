//! Maps driver errors into `StoreError` without leaking paths, URLs or other secrets.

use ostiary_store::StoreError;

/// Turns any `sqlx::Error` into a `StoreError`: decoding failures are `Corrupt`, everything
/// else is `Backend` with a message built only from the error's kind and the database's own
/// message (never the connection options).
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| format!(" {c}")).unwrap_or_default();
            StoreError::Backend(format!("database error{code}: {}", db.message()))
        }
        sqlx::Error::ColumnDecode { index, source } => StoreError::Corrupt(format!("column {index}: {source}")),
        sqlx::Error::Decode(source) => StoreError::Corrupt(source.to_string()),
        sqlx::Error::ColumnNotFound(c) => StoreError::Corrupt(format!("missing column {c}")),
        sqlx::Error::ColumnIndexOutOfBounds { index, len } => {
            StoreError::Corrupt(format!("column index {index} out of bounds ({len})"))
        }
        sqlx::Error::Io(io) => StoreError::Backend(format!("I/O error: {}", io.kind())),
        sqlx::Error::PoolTimedOut => StoreError::Backend("timed out waiting for a database connection".into()),
        sqlx::Error::PoolClosed => StoreError::Backend("the connection pool is closed".into()),
        sqlx::Error::WorkerCrashed => StoreError::Backend("the SQLite worker thread crashed".into()),
        sqlx::Error::Configuration(_) => StoreError::Backend("invalid database configuration".into()),
        sqlx::Error::Protocol(_) => StoreError::Backend("database protocol error".into()),
        sqlx::Error::Encode(e) => StoreError::Backend(format!("could not encode a value: {e}")),
        _ => StoreError::Backend("database driver error".into()),
    }
}

/// Whether `e` is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
