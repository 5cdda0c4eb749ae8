//! Cryptographic building blocks for Ostiary: encodings, hashes, secrets,
//! password hashing, envelope encryption, X.509 parsing, JWS and dev TLS.
//!
//! Pure library: no IO, no clock (callers pass `now`), no global state.

pub mod b64;
mod der;
pub mod digest;
pub mod error;
pub mod jws;
pub mod kek;
pub mod password;
pub mod rand;
pub mod secret;
pub mod tls;
pub mod x509;

pub use error::CryptoError;

#[cfg(test)]
mod test_support;
