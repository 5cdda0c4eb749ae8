//! The single error type shared by every module of this crate.

/// Errors returned by `ostiary-crypto`.
///
/// Messages never contain secret material, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key (private, public or JWK) could not be parsed or is unacceptable.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A token (JWT/JWS) is malformed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// A well-formed input uses an algorithm or feature this crate does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Authenticated decryption failed (wrong key, wrong AAD, or tampered data).
    #[error("decryption failed")]
    Decrypt,
    /// The underlying crypto library failed unexpectedly.
    #[error("internal crypto error: {0}")]
    Internal(String),
    /// A certificate is malformed (DER/PEM structure, times, names).
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Any other malformed input: encodings, parameters, argument values.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
