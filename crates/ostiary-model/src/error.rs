//! Validation errors of domain values.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A property value is not acceptable; `property` is the Graph property name.
    #[error("invalid value for property '{property}': {reason}")]
    Invalid { property: String, reason: String },
    /// A stored document could not be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl ModelError {
    pub fn invalid(property: &str, reason: impl Into<String>) -> Self {
        ModelError::Invalid { property: property.to_string(), reason: reason.into() }
    }
}
