//! Second authentication factors for Ostiary: TOTP (RFC 6238), recovery codes and passkeys
//! (WebAuthn via webauthn-rs), plus the QR code for TOTP enrolment.
//!
//! Pure ceremony logic: time (`now`, unix seconds) and randomness (`&dyn Random`) are
//! parameters, nothing is stored here. The caller keeps TOTP secrets sealed with its KEK,
//! recovery-code hashes, passkey records and short-lived ceremony state; see
//! [`passkey`] for the two places where webauthn-rs uses its own randomness and clock.

pub mod authdata;
pub mod base32;
pub mod passkey;
pub mod qr;
pub mod recovery;
pub mod totp;

#[cfg(test)]
mod fuzz;

pub use passkey::{AttestationPolicy, AuthOutcome, Conveyance, MfaError, Passkeys, StoredPasskey};
pub use qr::{QrError, qr_svg};
pub use recovery::RecoveryCodes;
pub use totp::{TotpAlgorithm, TotpError, TotpParams, TotpSecret};
/// webauthn-rs types that appear in this crate's API.
pub use webauthn_rs::prelude::{Passkey, WebauthnError};
