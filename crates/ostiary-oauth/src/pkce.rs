//! PKCE (RFC 7636): the verifier grammar and the constant-time challenge check.

use crate::authorize::PkceMethod;
use ostiary_crypto::{b64, digest};

/// Shortest verifier (and challenge) allowed by RFC 7636 4.1.
pub const MIN_LEN: usize = 43;
/// Longest verifier (and challenge) allowed by RFC 7636 4.1.
pub const MAX_LEN: usize = 128;

/// `true` when `s` is 43..=128 characters of `[A-Za-z0-9-._~]` (RFC 7636 4.1 `code-verifier`;
/// a `code_challenge` has the same grammar).
pub fn is_valid_verifier(s: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&s.len()) && s.bytes().all(is_unreserved)
}

/// RFC 3986 unreserved characters.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Checks a `code_verifier` against the `code_challenge` stored with the authorization code.
/// A malformed verifier never matches. `S256` compares `BASE64URL(SHA256(verifier))`, `plain`
/// the verifier itself; both in constant time.
pub fn verify_pkce(method: PkceMethod, challenge: &str, verifier: &str) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    match method {
        PkceMethod::S256 => {
            let computed = b64::url_encode(&digest::sha256(verifier.as_bytes()));
            digest::ct_eq(computed.as_bytes(), challenge.as_bytes())
        }
        PkceMethod::Plain => digest::ct_eq(verifier.as_bytes(), challenge.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert!(verify_pkce(PkceMethod::S256, CHALLENGE, VERIFIER));
        assert!(!verify_pkce(PkceMethod::Plain, CHALLENGE, VERIFIER));
        assert!(!verify_pkce(PkceMethod::S256, VERIFIER, VERIFIER));
    }

    #[test]
    fn s256_mismatches() {
        let mut other = VERIFIER.to_string();
        other.replace_range(0..1, "e");
        assert!(!verify_pkce(PkceMethod::S256, CHALLENGE, &other));
        // Padded, truncated or case-changed challenges never match.
        assert!(!verify_pkce(PkceMethod::S256, &format!("{CHALLENGE}="), VERIFIER));
        assert!(!verify_pkce(PkceMethod::S256, &CHALLENGE[..42], VERIFIER));
        assert!(!verify_pkce(PkceMethod::S256, &CHALLENGE.to_ascii_lowercase(), VERIFIER));
        assert!(!verify_pkce(PkceMethod::S256, "", VERIFIER));
    }

    #[test]
    fn plain() {
        assert!(verify_pkce(PkceMethod::Plain, VERIFIER, VERIFIER));
        assert!(!verify_pkce(PkceMethod::Plain, &VERIFIER.to_ascii_uppercase(), VERIFIER));
        // An empty or short "plain" pair must not pass even though the strings are equal.
        assert!(!verify_pkce(PkceMethod::Plain, "", ""));
        assert!(!verify_pkce(PkceMethod::Plain, "abc", "abc"));
    }

    #[test]
    fn verifier_grammar() {
        let ok43 = "a".repeat(43);
        let ok128 = "~._-".repeat(32);
        assert!(is_valid_verifier(&ok43));
        assert!(is_valid_verifier(&ok128));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        for bad in [" ", "+", "/", "=", "%", "\0", "\n", "é", "\u{202e}"] {
            let v = format!("{}{bad}", "a".repeat(43));
            assert!(!is_valid_verifier(&v), "{bad:?}");
            assert!(!verify_pkce(PkceMethod::Plain, &v, &v), "{bad:?}");
        }
        // Multi-byte characters are counted as bytes, so 43 'é' (86 bytes) is still rejected
        // for the character class.
        assert!(!is_valid_verifier(&"é".repeat(43)));
    }

    #[test]
    fn plain_with_valid_long_verifier() {
        let v = "Z".repeat(128);
        assert!(verify_pkce(PkceMethod::Plain, &v, &v));
        let c = b64::url_encode(&digest::sha256(v.as_bytes()));
        assert_eq!(c.len(), 43);
        assert!(verify_pkce(PkceMethod::S256, &c, &v));
    }
}
