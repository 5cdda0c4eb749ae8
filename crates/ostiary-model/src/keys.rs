//! A tenant's token-signing key as stored: certificate in clear, private key sealed by the KEK.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSigningKey {
    /// `kid` = `x5t` = base64url(SHA-1(certificate DER)).
    pub kid: String,
    /// "RS256" or "ES256".
    pub alg: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key sealed with the key-encryption key (AAD = tenant id + kid).
    pub sealed_private_key: Vec<u8>,
    /// Identifies the KEK that sealed it, so a wrong KEK is reported clearly.
    pub kek_id: String,
    pub created_at: OffsetDateTime,
    /// Published in JWKS from creation; used for signing only from this instant.
    pub sign_from: OffsetDateTime,
    /// Removed from JWKS after this instant (set when a newer key takes over).
    pub retire_at: Option<OffsetDateTime>,
}
