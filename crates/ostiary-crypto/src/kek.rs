//! Key-encryption key (KEK): AES-256-GCM envelope for secrets stored at rest.
//!
//! Envelope layout: `version (1) || nonce (12) || ciphertext || tag (16)`.
//! The version byte is also fed into the AAD so it cannot be swapped.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroize;

use crate::CryptoError;
use crate::digest::{hex, sha256};
use crate::rand::Random;
use crate::secret::Secret;

const KEY_LEN: usize = 32;
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// A 256-bit key-encryption key. The raw bytes are zeroized on drop and
/// never printed.
pub struct Kek {
    bytes: [u8; KEY_LEN],
    key: LessSafeKey,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(id={})", self.id())
    }
}

impl Drop for Kek {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl Kek {
    /// Builds a KEK from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidKey(format!("KEK must be {KEY_LEN} bytes")))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &arr)
            .map_err(|_| CryptoError::Internal("AES-256-GCM key setup failed".into()))?;
        Ok(Self { bytes: arr, key: LessSafeKey::new(unbound) })
    }

    /// Generates a fresh random KEK.
    pub fn generate(r: &dyn Random) -> Self {
        let mut bytes: [u8; KEY_LEN] = crate::rand::random_bytes(r);
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes);
        match unbound {
            Ok(unbound) => Self { bytes, key: LessSafeKey::new(unbound) },
            // AES key setup only fails for a wrong length, which the type
            // rules out; stopping beats returning an unusable key.
            Err(_) => {
                bytes.zeroize();
                std::process::abort()
            }
        }
    }

    /// The raw key bytes, for persisting the KEK itself (e.g. to a key file).
    pub fn to_bytes(&self) -> Secret<Vec<u8>> {
        Secret::new(self.bytes.to_vec())
    }

    /// First 8 hex characters of SHA-256(key). Stored next to sealed data to
    /// tell "wrong KEK configured" apart from "data corrupted"; it reveals
    /// nothing useful about a 256-bit key.
    pub fn id(&self) -> String {
        let mut h = hex(&sha256(&self.bytes));
        h.truncate(8);
        h
    }

    fn full_aad(aad: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + aad.len());
        v.push(VERSION);
        v.extend_from_slice(aad);
        v
    }

    /// Encrypts and authenticates `plaintext`, binding it to `aad` (e.g. the
    /// tenant and column the value belongs to) with a random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8], r: &dyn Random) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = crate::rand::random_bytes(r);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let sealed = match out.get_mut(HEADER_LEN..) {
            Some(body) => self.key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::full_aad(aad)),
                body,
            ),
            None => Err(aws_lc_rs::error::Unspecified),
        };
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                out
            }
            // GCM sealing only fails for inputs beyond ~64 GiB. Returning
            // anything here would silently store unrecoverable data, so the
            // process stops instead (after wiping the plaintext copy).
            Err(_) => {
                out.zeroize();
                std::process::abort()
            }
        }
    }

    /// Decrypts a value produced by [`Kek::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Secret<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + TAG_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (header, body) = sealed.split_at(HEADER_LEN);
        let (version, nonce) = header.split_at(1);
        if version != [VERSION] {
            return Err(CryptoError::Unsupported(format!(
                "sealed value version {}",
                version.first().copied().unwrap_or_default()
            )));
        }
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut buf = body.to_vec();
        match self.key.open_in_place(nonce, Aad::from(Self::full_aad(aad)), &mut buf) {
            Ok(plain) => {
                let n = plain.len();
                // Wipe the tag bytes left behind before shrinking the buffer.
                if let Some(tail) = buf.get_mut(n..) {
                    tail.zeroize();
                }
                buf.truncate(n);
                Ok(Secret::new(buf))
            }
            Err(_) => {
                buf.zeroize();
                Err(CryptoError::Decrypt)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::rand::SystemRandom;

    #[test]
    fn round_trip() {
        let r = SystemRandom::new();
        let kek = Kek::generate(&r);
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = kek.seal(&pt, b"tenant-1/app-secret", &r);
            assert_eq!(sealed.len(), 1 + 12 + len + 16);
            assert_eq!(sealed[0], 1);
            let opened = kek.open(&sealed, b"tenant-1/app-secret").unwrap();
            assert_eq!(opened.expose(), &pt);
        }
        // Random nonces: sealing twice gives different envelopes.
        assert_ne!(kek.seal(b"x", b"", &r), kek.seal(b"x", b"", &r));
    }

    #[test]
    fn failures() {
        let r = SystemRandom::new();
        let kek = Kek::generate(&r);
        let sealed = kek.seal(b"secret value", b"aad", &r);
        assert!(matches!(kek.open(&sealed, b"aaD"), Err(CryptoError::Decrypt)));
        assert!(matches!(kek.open(&sealed, b""), Err(CryptoError::Decrypt)));
        let other = Kek::generate(&r);
        assert!(matches!(other.open(&sealed, b"aad"), Err(CryptoError::Decrypt)));
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(kek.open(&t, b"aad").is_err(), "tampered byte {i}");
        }
        for len in 0..sealed.len() {
            assert!(kek.open(&sealed[..len], b"aad").is_err(), "truncated {len}");
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(matches!(kek.open(&v2, b"aad"), Err(CryptoError::Unsupported(_))));
    }

    #[test]
    fn id_and_bytes() {
        let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
        let again = Kek::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(kek.id(), again.id());
        assert_eq!(kek.id().len(), 8);
        assert_eq!(kek.id(), hex(&sha256(&[7u8; 32]))[..8]);
        assert_ne!(kek.id(), Kek::from_bytes(&[8u8; 32]).unwrap().id());
        assert_eq!(kek.to_bytes().expose(), &vec![7u8; 32]);
        assert!(Kek::from_bytes(&[0u8; 31]).is_err());
        assert!(Kek::from_bytes(&[0u8; 33]).is_err());
        let dbg = format!("{kek:?}");
        assert!(dbg.contains(&kek.id()) && !dbg.contains("7, 7"));
        // Data sealed under one instance opens under a reloaded one.
        let r = SystemRandom::new();
        let sealed = kek.seal(b"v", b"a", &r);
        assert_eq!(again.open(&sealed, b"a").unwrap().expose(), b"v");
    }
}
