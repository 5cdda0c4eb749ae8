//! Validation errors. Each message is written for the `message` of a Graph 400
//! (`{"error":{"code":"BadRequest","message":…}}`) and echoes hostile input only shortened and
//! with control characters replaced.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("Invalid {what} JSON: {message}")]
    InvalidJson { what: &'static str, message: String },

    #[error("The property '{property}' is required.")]
    Missing { property: &'static str },

    #[error("Invalid value '{value}' for '{property}'. Allowed values: {allowed}.")]
    InvalidEnumValue { property: &'static str, value: String, allowed: String },

    #[error("Invalid value '{value}' in '{property}': {reason}")]
    InvalidValue { property: &'static str, value: String, reason: &'static str },

    #[error("'{property}' references the named location '{id}', which does not exist.")]
    UnknownLocation { property: &'static str, id: String },

    #[error("Invalid cidrAddress '{value}': {reason}")]
    InvalidCidr { value: String, reason: &'static str },

    #[error("Invalid country or region '{value}': expected an ISO 3166-1 alpha-2 code such as 'US'.")]
    InvalidCountry { value: String },

    #[error("'{property}' has {count} entries; at most {max} are allowed.")]
    TooMany { property: &'static str, count: usize, max: usize },

    #[error(
        "The policy has no user condition: set includeUsers, includeGroups or includeRoles \
         (or includeServicePrincipals for workload identities)."
    )]
    MissingUserCondition,

    #[error(
        "The policy has no application condition: set includeApplications, includeUserActions, \
         includeAuthenticationContextClassReferences or includeServicePrincipals."
    )]
    MissingApplicationCondition,

    #[error("The policy needs grantControls or sessionControls.")]
    MissingControls,

    #[error("The grant control 'block' cannot be combined with other grant controls.")]
    BlockCombined,

    #[error("{0}")]
    Conflict(&'static str),
}

impl PolicyError {
    /// The Graph error `code` for this error (always a 400).
    pub fn graph_code(&self) -> &'static str {
        "BadRequest"
    }
}

/// Input echoed in an error message: at most 80 characters, control characters replaced.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String =
        value.chars().take(80).map(|c| if c.is_control() || c == '\u{202e}' { '\u{fffd}' } else { c }).collect();
    if value.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_is_short_and_clean() {
        assert_eq!(shown("abc"), "abc");
        assert_eq!(shown("a\u{0}\nb"), "a\u{fffd}\u{fffd}b");
        let long = "x".repeat(500);
        assert_eq!(shown(&long).chars().count(), 81);
    }
}
