//! Errors every backend maps its failures into.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The object, relation or tenant the write refers to does not exist.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// A uniqueness rule was violated; `key` names it ("id", "upn", "appId", "spAppId",
    /// "identifierUri", "membership", "appRoleAssignment", "tenant", "domain").
    #[error("conflict on {key}")]
    Conflict { key: String },
    /// A `Change::Expect` did not hold: the object changed (or vanished) since it was read.
    /// Nothing of the `ChangeSet` was applied.
    #[error("the object was modified by another request")]
    PreconditionFailed,
    /// A skip token or query the backend cannot execute.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The database schema does not match this binary.
    #[error("database schema version {db} does not match this binary (expects {binary})")]
    SchemaMismatch { db: i64, binary: i64 },
    /// Connection or driver failure; the message never contains secrets.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<ostiary_model::ModelError> for StoreError {
    fn from(e: ostiary_model::ModelError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
