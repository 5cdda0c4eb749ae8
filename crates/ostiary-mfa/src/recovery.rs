//! Recovery codes: one-time codes shown once at enrolment, for when every other factor is lost.
//!
//! Codes are 10 characters from a 31-symbol alphabet without look-alikes (no `0 O 1 I L`),
//! displayed as `XXXXX-XXXXX` and accepted in any case with or without spaces and dashes.
//!
//! Storage is a salted SHA-256 (`sha256$salt$digest`, the same scheme as client secrets in
//! `ostiary-crypto`), not a slow password hash: each code is server-generated with
//! 10 × log2(31) ≈ 49.5 bits of entropy, never user-chosen, so there is no dictionary to
//! exploit; online guessing is hopeless against the sign-in throttle, and the per-code salt
//! stops one offline guess from being tried against every stored code at once. A slow KDF
//! would cost ~10 hash runs per attempt for little gain.

use std::fmt;

use ostiary_crypto::digest::ct_eq;
use ostiary_crypto::rand::Random;
use ostiary_crypto::secret::{hash_client_secret, verify_client_secret};

/// The symbols of a recovery code: digits 2–9 and letters without I, L and O.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters per code (without the display dash).
pub const CODE_LEN: usize = 10;
/// How many codes [`RecoveryCodes::generate`] is normally asked for.
pub const DEFAULT_COUNT: usize = 10;
/// Upper bound on `count`, so a mistaken caller can't ask for millions.
pub const MAX_COUNT: usize = 100;

/// A freshly generated set: the plaintext codes to show once, and the hashes to store.
/// `Debug` never prints the codes.
pub struct RecoveryCodes {
    /// Display form `XXXXX-XXXXX`, in generation order.
    pub codes: Vec<String>,
    /// Storage form, one per code, same order.
    pub hashes: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodes").field("count", &self.codes.len()).finish_non_exhaustive()
    }
}

impl RecoveryCodes {
    /// Generates `count` codes (clamped to 1..=[`MAX_COUNT`]; [`DEFAULT_COUNT`] is the norm).
    /// Codes within one set are distinct.
    pub fn generate(rng: &dyn Random, count: usize) -> Self {
        let count = count.clamp(1, MAX_COUNT);
        let mut codes: Vec<String> = Vec::with_capacity(count);
        let mut hashes = Vec::with_capacity(count);
        while codes.len() < count {
            let raw = random_code(rng);
            let display = format!("{}-{}", &raw[..5], &raw[5..]);
            // A repeat has probability ~2^-49 per pair; skipping it keeps indices unambiguous
            // even with a broken or deterministic test rng.
            if codes.iter().any(|c| ct_eq(c.as_bytes(), display.as_bytes())) {
                continue;
            }
            hashes.push(hash_client_secret(&raw, rng));
            codes.push(display);
        }
        Self { codes, hashes }
    }
}

/// Ten symbols by rejection sampling: bytes >= 248 (8 × 31) are discarded, so `b % 31` is
/// exactly uniform.
fn random_code(rng: &dyn Random) -> String {
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(CODE_LEN);
    let mut pool = [0u8; 32];
    while out.len() < CODE_LEN {
        rng.fill(&mut pool);
        for &b in &pool {
            if out.len() == CODE_LEN {
                break;
            }
            if b < LIMIT {
                out.push(char::from(ALPHABET[usize::from(b % 31)]));
            }
        }
    }
    out
}

/// Canonical form of user input: upper case, spaces and dashes removed. `None` unless exactly
/// [`CODE_LEN`] alphabet symbols remain. Look-alikes are *not* mapped (`0`→`O` etc.): they are
/// simply not in the alphabet, so a mistyped code fails cleanly.
pub fn normalize(input: &str) -> Option<String> {
    if input.len() > 64 {
        return None;
    }
    let mut out = String::with_capacity(CODE_LEN);
    for c in input.chars() {
        if c == '-' || c == ' ' {
            continue;
        }
        let u = c.to_ascii_uppercase();
        if !u.is_ascii() || !ALPHABET.contains(&(u as u8)) || out.len() == CODE_LEN {
            return None;
        }
        out.push(u);
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// The index of the stored hash that `input` matches, if any. Every hash is checked (no early
/// exit) and each comparison is constant-time. Malformed stored values never match.
pub fn verify(input: &str, hashes: &[String]) -> Option<usize> {
    let code = normalize(input)?;
    let mut found = None;
    for (i, stored) in hashes.iter().enumerate() {
        if verify_client_secret(&code, stored) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// Verifies and, on success, removes the matching hash so the code cannot be used again.
/// Returns the index it had. The caller persists the shortened list (atomically with the
/// sign-in decision).
pub fn consume(input: &str, hashes: &mut Vec<String>) -> Option<usize> {
    let index = verify(input, hashes)?;
    hashes.remove(index);
    Some(index)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ostiary_crypto::rand::SystemRandom;
    use std::sync::atomic::{AtomicU8, Ordering};

    #[test]
    fn alphabet_has_no_lookalikes() {
        for c in b"01ILO" {
            assert!(!ALPHABET.contains(c));
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn generate_and_verify() {
        let rng = SystemRandom::new();
        let set = RecoveryCodes::generate(&rng, DEFAULT_COUNT);
        assert_eq!(set.codes.len(), 10);
        assert_eq!(set.hashes.len(), 10);
        for (i, code) in set.codes.iter().enumerate() {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(code.bytes().filter(|b| *b != b'-').all(|b| ALPHABET.contains(&b)), "{code}");
            assert!(set.hashes[i].starts_with("sha256$"));
            assert_eq!(verify(code, &set.hashes), Some(i));
            // Case, spaces and dashes don't matter.
            let sloppy = format!(" {} ", code.to_ascii_lowercase().replace('-', " - "));
            assert_eq!(verify(&sloppy, &set.hashes), Some(i));
            assert_eq!(verify(&code.replace('-', ""), &set.hashes), Some(i));
        }
        assert!(!format!("{set:?}").contains(&set.codes[0]));
        assert_eq!(RecoveryCodes::generate(&rng, 0).codes.len(), 1);
        assert_eq!(RecoveryCodes::generate(&rng, 1000).codes.len(), MAX_COUNT);
    }

    #[test]
    fn consume_is_single_use() {
        let rng = SystemRandom::new();
        let set = RecoveryCodes::generate(&rng, 3);
        let mut hashes = set.hashes.clone();
        assert_eq!(consume(&set.codes[1], &mut hashes), Some(1));
        assert_eq!(hashes.len(), 2);
        assert_eq!(consume(&set.codes[1], &mut hashes), None);
        assert_eq!(verify(&set.codes[2], &hashes), Some(1));
        assert_eq!(consume(&set.codes[0], &mut hashes), Some(0));
        assert_eq!(consume(&set.codes[2], &mut hashes), Some(0));
        assert!(hashes.is_empty());
    }

    #[test]
    fn rejects_wrong_and_malformed() {
        let rng = SystemRandom::new();
        let set = RecoveryCodes::generate(&rng, 2);
        let code = &set.codes[0];
        // One symbol changed.
        let mut wrong: Vec<u8> = code.bytes().collect();
        wrong[0] = if wrong[0] == b'2' { b'3' } else { b'2' };
        assert_eq!(verify(std::str::from_utf8(&wrong).unwrap(), &set.hashes), None);
        for bad in [
            "",
            "ABCDE",
            "ABCDE-FGHJK-M",
            "0BCDE-FGHJK",
            "IBCDE-FGHJK",
            "ABCDE_FGHJK",
            "ÄBCDE-FGHJK",
            "ABCDE-FGHJ\u{0}",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
            assert_eq!(verify(bad, &set.hashes), None);
        }
        assert_eq!(normalize(&"-".repeat(100)), None);
        // Garbage stored values never match (and never panic).
        let junk = vec![String::new(), "sha256$$".into(), "md5$a$b".into(), "sha256$!!$??".into()];
        assert_eq!(verify(code, &junk), None);
    }

    /// Counts up from 240 so the sampler sees rejected bytes (248..=255) deterministically.
    struct Ramp(AtomicU8);
    impl Random for Ramp {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn sampling_is_deterministic_and_rejects_high_bytes() {
        let rng = Ramp(AtomicU8::new(240));
        // 240..=247 map to indices 23..=30 (S..Z), 248..=255 are skipped, then 0 and 1.
        assert_eq!(random_code(&rng), "STUVWXYZ23");
    }
}
