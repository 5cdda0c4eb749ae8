//! Randomness behind a small trait so callers (and tests) can inject a source.

/// A source of cryptographically secure random bytes.
pub trait Random: Send + Sync {
    /// Fills `buf` entirely with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system CSPRNG via aws-lc.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRandom;

impl SystemRandom {
    /// Creates the system random source (no state, no IO at construction).
    pub fn new() -> Self {
        Self
    }
}

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        // AWS-LC's RAND_bytes aborts internally rather than fail; if it ever
        // did report failure, continuing with non-random bytes (predictable
        // keys, salts, nonces) would be far worse than stopping the process.
        if aws_lc_rs::rand::fill(buf).is_err() {
            std::process::abort();
        }
    }
}

/// Returns `N` random bytes.
pub fn random_bytes<const N: usize>(r: &dyn Random) -> [u8; N] {
    let mut out = [0u8; N];
    r.fill(&mut out);
    out
}

/// Returns `nbytes` random bytes encoded as base64url without padding.
pub fn random_token(r: &dyn Random, nbytes: usize) -> String {
    let mut buf = vec![0u8; nbytes];
    r.fill(&mut buf);
    crate::b64::url_encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_not_constant() {
        let r = SystemRandom::new();
        let a: [u8; 32] = random_bytes(&r);
        let b: [u8; 32] = random_bytes(&r);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn token_length() {
        let r = SystemRandom::new();
        assert_eq!(random_token(&r, 32).len(), 43);
        assert_eq!(random_token(&r, 0).len(), 0);
        let t = random_token(&r, 16);
        assert!(crate::b64::url_decode(&t).is_ok_and(|v| v.len() == 16));
    }
}
