//! User password hashing with Argon2id, stored as PHC strings.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroize;

use crate::CryptoError;
use crate::rand::Random;

/// Argon2id cost parameters.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PasswordParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// RFC 9106 §4, second recommended option: 64 MiB, t = 3, p = 4.
    fn default() -> Self {
        Self { memory_kib: 64 * 1024, iterations: 3, parallelism: 4 }
    }
}

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// Upper bounds applied to parameters read from stored hashes, so a tampered
/// or corrupt row cannot make a login request allocate gigabytes or spin for
/// minutes.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 64;

fn argon2_params(p: &PasswordParams) -> Result<Params, CryptoError> {
    if p.memory_kib > MAX_MEMORY_KIB || p.iterations > MAX_ITERATIONS || p.parallelism > MAX_PARALLELISM {
        return Err(CryptoError::InvalidInput("argon2 parameters exceed the supported maximum".into()));
    }
    Params::new(p.memory_kib, p.iterations, p.parallelism, Some(OUTPUT_LEN))
        .map_err(|e| CryptoError::InvalidInput(format!("argon2 parameters: {e}")))
}

/// Hashes a password with Argon2id (v=19) and a random 16-byte salt,
/// returning a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
pub fn hash_password(password: &str, params: &PasswordParams, r: &dyn Random) -> Result<String, CryptoError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params(params)?);
    let mut salt: [u8; SALT_LEN] = crate::rand::random_bytes(r);
    let result = argon
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Internal(format!("argon2: {e}")));
    salt.zeroize();
    result
}

/// Parses a stored hash and checks it is Argon2id with bounded parameters.
fn parse_stored(phc: &str) -> Option<(PasswordHash, PasswordParams)> {
    let hash = PasswordHash::new(phc).ok()?;
    if hash.algorithm.as_str() != "argon2id" || hash.salt.is_none() || hash.hash.is_none() {
        return None;
    }
    let params = Params::try_from(&hash).ok()?;
    let params =
        PasswordParams { memory_kib: params.m_cost(), iterations: params.t_cost(), parallelism: params.p_cost() };
    argon2_params(&params).ok()?;
    Some((hash, params))
}

/// Verifies a password against a PHC string (constant-time comparison).
/// Returns `false` on mismatch and on any malformed or out-of-bounds hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Some((hash, _)) = parse_stored(phc) else {
        return false;
    };
    // The verifier takes algorithm, version and costs from the stored hash.
    Argon2::default().verify_password(password.as_bytes(), &hash).is_ok()
}

/// True when a stored hash should be recomputed with `params` after a
/// successful login (costs changed, or the hash is not one of ours).
pub fn needs_rehash(phc: &str, params: &PasswordParams) -> bool {
    match parse_stored(phc) {
        Some((hash, stored)) => {
            stored != *params
                || hash.version != Some(u32::from(Version::V0x13))
                || hash.hash.map(|o| o.len()) != Some(OUTPUT_LEN)
        }
        None => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::rand::SystemRandom;

    fn small() -> PasswordParams {
        PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[test]
    fn default_is_rfc9106_second_option() {
        let d = PasswordParams::default();
        assert_eq!((d.memory_kib, d.iterations, d.parallelism), (65536, 3, 4));
    }

    #[test]
    fn hash_and_verify() {
        let r = SystemRandom::new();
        let h = hash_password("correct horse", &small(), &r).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("", &h));
        let h2 = hash_password("correct horse", &small(), &r).unwrap();
        assert_ne!(h, h2);
        assert!(!needs_rehash(&h, &small()));
        assert!(needs_rehash(&h, &PasswordParams::default()));
    }

    #[test]
    fn malformed_phc_is_false() {
        let r = SystemRandom::new();
        let h = hash_password("pw", &small(), &r).unwrap();
        let bad = [
            String::new(),
            "$argon2id$".into(),
            "plain-text-password".into(),
            h.replace("argon2id", "argon2i"),
            h.replace("m=1024", "m=99999999"),
            h.replace("t=1", "t=1000"),
            // A truncated output can still be canonical base64 (when its
            // trailing bits happen to be zero); it must not verify and must
            // count as not ours.
            h[..h.len() - 5].to_string(),
            h[..h.len() - 4].to_string(),
            format!("{h}$extra"),
            h.rsplit_once('$').unwrap().0.to_string(),
        ];
        for b in &bad {
            assert!(!verify_password("pw", b), "{b}");
            assert!(needs_rehash(b, &small()));
        }
        assert!(verify_password("pw", &h));
    }

    #[test]
    fn rejects_invalid_params() {
        let r = SystemRandom::new();
        let p = PasswordParams { memory_kib: 1, iterations: 1, parallelism: 1 };
        assert!(hash_password("pw", &p, &r).is_err());
        let p = PasswordParams { iterations: 0, ..small() };
        assert!(hash_password("pw", &p, &r).is_err());
    }
}
