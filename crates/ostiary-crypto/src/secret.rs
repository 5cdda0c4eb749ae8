//! Secret wrapper (redacted, zeroized) and server-generated client secrets.

use std::fmt;

use zeroize::Zeroize;

use crate::b64;
use crate::digest::{ct_eq, sha256};
use crate::rand::Random;

/// Holds sensitive data: `Debug` prints `Secret(***)`, there is no `Display`,
/// and the value is zeroized when dropped.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the secret value. Named loudly so uses are easy to audit.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Characters Entra uses in client secrets.
const SECRET_CHARSET: &[u8; 66] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
/// The prefix is alphanumeric only, so a secret never starts with `-` or `.`
/// (which shells and CLIs may treat as an option or a hidden file).
const PREFIX_CHARSET: &[u8] = SECRET_CHARSET.split_at(62).0;
const PREFIX_LEN: usize = 3;
const MARKER: &str = "8Q~";
const BODY_LEN: usize = 34;
/// Total length of a generated client secret.
pub const CLIENT_SECRET_LEN: usize = PREFIX_LEN + MARKER.len() + BODY_LEN;

const HASH_SCHEME: &str = "sha256";
const SALT_LEN: usize = 16;

/// Appends `count` characters drawn uniformly from `charset`.
///
/// Rejection sampling: bytes at or above the largest multiple of the charset
/// size are discarded so that `byte % len` has no modulo bias.
fn push_random_chars(out: &mut String, r: &dyn Random, charset: &[u8], count: usize) {
    let n = charset.len();
    let limit = 256 - (256 % n);
    let mut pool = [0u8; 64];
    let mut pushed = 0;
    while pushed < count {
        r.fill(&mut pool);
        for &b in &pool {
            if pushed == count {
                break;
            }
            let b = usize::from(b);
            if b < limit {
                out.push(char::from(charset[b % n]));
                pushed += 1;
            }
        }
    }
    pool.zeroize();
}

/// Generates a 40-character client secret in the Entra shape:
/// 3 random alphanumerics, the marker `8Q~`, then 34 characters from
/// `[A-Za-z0-9._~-]` (~223 bits of entropy).
pub fn generate_client_secret(r: &dyn Random) -> Secret<String> {
    let mut s = String::with_capacity(CLIENT_SECRET_LEN);
    push_random_chars(&mut s, r, PREFIX_CHARSET, PREFIX_LEN);
    s.push_str(MARKER);
    push_random_chars(&mut s, r, SECRET_CHARSET, BODY_LEN);
    Secret::new(s)
}

fn salted_digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut buf = Vec::with_capacity(salt.len() + secret.len());
    buf.extend_from_slice(salt);
    buf.extend_from_slice(secret.as_bytes());
    let d = sha256(&buf);
    buf.zeroize();
    d
}

/// Hashes a client secret for storage: `sha256$<b64url salt>$<b64url digest>`.
///
/// A fast salted hash is adequate because generated secrets carry 200+ bits
/// of entropy; a slow KDF would only add latency to every token request.
pub fn hash_client_secret(secret: &str, r: &dyn Random) -> String {
    let salt: [u8; SALT_LEN] = crate::rand::random_bytes(r);
    let digest = salted_digest(&salt, secret);
    format!("{HASH_SCHEME}${}${}", b64::url_encode(&salt), b64::url_encode(&digest))
}

/// Verifies a client secret against a stored hash in constant time.
/// Returns `false` for any malformed stored value.
pub fn verify_client_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(scheme), Some(salt), Some(digest), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if scheme != HASH_SCHEME {
        return false;
    }
    let (Ok(salt), Ok(expected)) = (b64::url_decode(salt), b64::url_decode(digest)) else {
        return false;
    };
    if salt.len() != SALT_LEN || expected.len() != 32 {
        return false;
    }
    ct_eq(&salted_digest(&salt, secret), &expected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::rand::SystemRandom;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn client_secret_shape() {
        let r = SystemRandom::new();
        for _ in 0..200 {
            let s = generate_client_secret(&r);
            let s = s.expose();
            assert_eq!(s.len(), 40);
            assert_eq!(&s[3..6], "8Q~");
            assert!(s[..3].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(s.bytes().all(|b| SECRET_CHARSET.contains(&b)));
        }
        assert_ne!(generate_client_secret(&r).expose(), generate_client_secret(&r).expose());
    }

    /// A source that returns only bytes the sampler must reject, then valid
    /// ones: exercises the rejection branch deterministically.
    struct Biased(std::sync::atomic::AtomicUsize);
    impl Random for Biased {
        fn fill(&self, buf: &mut [u8]) {
            let call = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            buf.fill(if call.is_multiple_of(2) { 255 } else { 1 });
        }
    }

    #[test]
    fn rejection_sampling_skips_biased_bytes() {
        let s = generate_client_secret(&Biased(Default::default()));
        // 255 is always rejected (>= 198 and >= 248), 1 maps to 'B'.
        assert_eq!(s.expose(), &format!("BBB8Q~{}", "B".repeat(34)));
    }

    #[test]
    fn hash_and_verify() {
        let r = SystemRandom::new();
        let secret = generate_client_secret(&r);
        let h1 = hash_client_secret(secret.expose(), &r);
        let h2 = hash_client_secret(secret.expose(), &r);
        assert_ne!(h1, h2, "salt must differ");
        assert!(h1.starts_with("sha256$"));
        assert!(verify_client_secret(secret.expose(), &h1));
        assert!(verify_client_secret(secret.expose(), &h2));
        assert!(!verify_client_secret("wrong", &h1));
        let other = generate_client_secret(&r);
        assert!(!verify_client_secret(other.expose(), &h1));
    }

    #[test]
    fn malformed_stored_is_false() {
        let r = SystemRandom::new();
        let h = hash_client_secret("s", &r);
        let parts: Vec<&str> = h.split('$').collect();
        for bad in [
            String::new(),
            "sha256".into(),
            "sha256$$".into(),
            format!("md5${}${}", parts[1], parts[2]),
            format!("sha256${}", parts[1]),
            format!("sha256${}${}$x", parts[1], parts[2]),
            format!("sha256${}${}", parts[1], &parts[2][1..]),
            format!("sha256${}${}", &parts[1][2..], parts[2]),
            format!("sha256${}${}*", parts[1], parts[2]),
        ] {
            assert!(!verify_client_secret("s", &bad), "{bad}");
        }
        assert!(verify_client_secret("s", &h));
    }
}
