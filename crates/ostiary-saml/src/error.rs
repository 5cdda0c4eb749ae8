//! The single error type of this crate: a coarse kind the server maps to a status, plus a message.

/// What went wrong, coarsely: enough for the server to pick a SAML status or an error page, and for
/// tests to assert that hostile input fails for the right reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlErrorKind {
    /// Not well-formed XML, bad base64 / DEFLATE / URL encoding, or a required element or attribute
    /// missing or invalid.
    Malformed,
    /// A DTD, entity declaration, non-predefined entity reference or processing instruction.
    Forbidden,
    /// A size, depth, element-count, attribute-count or inflate limit was exceeded.
    TooLarge,
    /// Wrong SAML version, unknown message type, unsupported algorithm (e.g. SHA-1).
    Unsupported,
    /// A signature is missing where required, invalid, or not bound to the right element.
    Signature,
}

/// A failed SAML operation. Messages never echo long attacker-supplied strings, so they are safe to
/// log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SamlError {
    pub kind: SamlErrorKind,
    pub message: String,
}

impl SamlError {
    pub fn new(kind: SamlErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(SamlErrorKind::Malformed, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(SamlErrorKind::Forbidden, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(SamlErrorKind::TooLarge, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(SamlErrorKind::Unsupported, message)
    }

    pub fn signature(message: impl Into<String>) -> Self {
        Self::new(SamlErrorKind::Signature, message)
    }
}

/// Keeps attacker-controlled strings in error messages short (at most 64 characters).
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}
