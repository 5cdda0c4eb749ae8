//! Typed errors for the few inputs this crate parses: IP range lists, strict SHA-1 lists and
//! configuration values.

/// What went wrong, with the 1-based line number for list inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error("line {line}: not an IP address or CIDR range")]
    BadIpRange { line: usize },
    #[error("line {line}: not a 40-hex-digit SHA-1 with an optional `:count`")]
    BadSha1Line { line: usize },
    #[error("invalid risk configuration: `{field}` {reason}")]
    InvalidConfig { field: &'static str, reason: &'static str },
}
