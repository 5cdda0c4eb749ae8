//! Errors of directory administration, mapped once to Graph error JSON by the web layer.

use ostiary_store::StoreError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirError {
    /// 400 `Request_BadRequest`.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `Request_UnsupportedQuery`.
    #[error("{0}")]
    UnsupportedQuery(String),
    /// 404 `Request_ResourceNotFound`.
    #[error("Resource '{0}' does not exist or one of its queried reference-property objects are not present.")]
    NotFound(String),
    /// 400 with Graph's conflict wording (Graph answers 400 for uniqueness violations).
    #[error("{0}")]
    Conflict(String),
    /// 412: a `Change::Expect` (If-Match) did not hold; the object changed since it was read.
    #[error("The resource was modified since it was read; read it again and retry.")]
    PreconditionFailed,
    /// 403 `Authorization_RequestDenied`.
    #[error("Insufficient privileges to complete the operation.")]
    Forbidden,
    /// 503: the store is unreachable.
    #[error("The service is temporarily unavailable.")]
    Unavailable,
    /// 500: a bug or corrupt data; details go to the log only.
    #[error("An internal error occurred.")]
    Internal(String),
}

impl DirError {
    pub fn bad(msg: impl Into<String>) -> Self {
        DirError::BadRequest(msg.into())
    }

    /// Maps store failures; `Conflict` keys become Graph's messages.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => DirError::NotFound(what),
            StoreError::Conflict { key } => DirError::Conflict(conflict_message(&key)),
            StoreError::InvalidQuery(m) => DirError::BadRequest(m),
            StoreError::PreconditionFailed => DirError::PreconditionFailed,
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store unavailable");
                DirError::Unavailable
            }
            other => DirError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for DirError {
    fn from(e: StoreError) -> Self {
        DirError::from_store(e)
    }
}

impl From<ostiary_model::ModelError> for DirError {
    fn from(e: ostiary_model::ModelError) -> Self {
        DirError::BadRequest(e.to_string())
    }
}

fn conflict_message(key: &str) -> String {
    let prop = match key {
        "upn" => "userPrincipalName",
        "appId" | "spAppId" => "appId",
        "identifierUri" => "identifierUris",
        "membership" => return "One or more added object references already exist for the following modified properties: 'members'.".into(),
        "appRoleAssignment" => return "Permission being assigned already exists on the object.".into(),
        other => other,
    };
    format!("Another object with the same value for property {prop} already exists.")
}
