//! Shared fixtures for unit tests: keys are generated once per test binary
//! because RSA key generation dominates test time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::jws::{Alg, SigningKey};
use crate::secret::Secret;

pub(crate) const NOT_BEFORE: OffsetDateTime = datetime!(2025-03-04 05:06:07 UTC);
/// After 2049, so the certificate uses GeneralizedTime for notAfter.
pub(crate) const NOT_AFTER: OffsetDateTime = datetime!(2051-06-30 23:59:58 UTC);

pub(crate) fn rs256() -> &'static (SigningKey, Secret<Vec<u8>>) {
    static KEY: OnceLock<(SigningKey, Secret<Vec<u8>>)> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Alg::RS256, "ostiary-test-rsa", NOT_BEFORE, NOT_AFTER).unwrap())
}

pub(crate) fn es256() -> &'static (SigningKey, Secret<Vec<u8>>) {
    static KEY: OnceLock<(SigningKey, Secret<Vec<u8>>)> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Alg::ES256, "ostiary-test-ec", NOT_BEFORE, NOT_AFTER).unwrap())
}

/// Deterministic xorshift64 generator for fuzz-style loops.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Shared server state holds these behind `Arc`, so they must stay
/// thread-safe; this fails to compile if a field ever breaks that.
#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<crate::jws::SigningKey>();
    check::<crate::kek::Kek>();
    check::<crate::x509::Certificate>();
    check::<crate::rand::SystemRandom>();
    check::<Secret<Vec<u8>>>();
    check::<crate::tls::DevCa>();
}
