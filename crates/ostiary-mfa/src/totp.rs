//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): secrets, codes, verification
//! with clock-skew tolerance and replay protection, and `otpauth://` enrolment URIs.
//!
//! Our own ~60 lines on aws-lc-rs HMAC rather than a TOTP crate (as Kanidm does): the algorithm
//! is tiny and fully pinned by the RFC test vectors below. The defaults — SHA-1, 6 digits,
//! 30-second steps — are what every authenticator app supports; SHA-256/512 and 8 digits exist
//! for completeness of the `otpauth` parameters.

use std::fmt;

use aws_lc_rs::hmac;
use ostiary_crypto::digest::ct_eq;
use ostiary_crypto::rand::Random;
use ostiary_crypto::secret::Secret;
use serde::{Deserialize, Serialize};

use crate::base32;

/// Length of generated secrets: 160 bits, the HMAC-SHA-1 block-size recommendation of RFC 4226.
pub const SECRET_LEN: usize = 20;
/// RFC 4226 R6: the shared secret MUST be at least 128 bits.
pub const MIN_SECRET_LEN: usize = 16;
/// Generous upper bound (RFC 6238's SHA-512 test seed is 64 bytes).
pub const MAX_SECRET_LEN: usize = 128;
/// Steps either side of the current one that are still accepted (RFC 6238 section 5.2 suggests
/// one step of network delay; it also absorbs small clock drift on the phone).
pub const SKEW_STEPS: u64 = 1;

/// Why a TOTP operation failed. Messages never contain secrets or codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The input is not a code of the expected shape (wrong length or a non-digit).
    #[error("malformed code")]
    Malformed,
    /// Well-formed, but matches no step inside the accepted window.
    #[error("invalid code")]
    Invalid,
    /// The code is correct for a step at or before the last step already used: a replay (or an
    /// older code after a newer one), refused so that an observed code is worth nothing.
    #[error("code already used")]
    Replayed,
    /// `now` is before the Unix epoch.
    #[error("time before the epoch")]
    InvalidTime,
    /// Unsupported digits or period.
    #[error("unsupported TOTP parameters: {0}")]
    InvalidParams(&'static str),
    /// The secret is too short, too long, or not base32.
    #[error("invalid TOTP secret: {0}")]
    InvalidSecret(&'static str),
}

/// The HMAC behind the codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1: the only one every app supports. Its collision weakness is irrelevant to HMAC.
    #[default]
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl TotpAlgorithm {
    /// The `algorithm` value of an `otpauth` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A TOTP shared secret. `Debug` is redacted and the bytes are zeroized on drop; the caller
/// seals [`TotpSecret::as_bytes`] with its key-encryption key before storing it.
#[derive(Clone)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    /// A fresh 20-byte secret from `rng`.
    pub fn generate(rng: &dyn Random) -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rng.fill(&mut bytes);
        Self(Secret::new(bytes))
    }

    /// Wraps stored secret bytes (after unsealing). 16 to 128 bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, TotpError> {
        let secret = Secret::new(bytes);
        let len = secret.expose().len();
        if len < MIN_SECRET_LEN {
            return Err(TotpError::InvalidSecret("shorter than 128 bits"));
        }
        if len > MAX_SECRET_LEN {
            return Err(TotpError::InvalidSecret("too long"));
        }
        Ok(Self(secret))
    }

    /// Parses the base32 form; spaces and dashes (as apps display it in groups) are ignored.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        if text.len() > MAX_SECRET_LEN * 2 {
            return Err(TotpError::InvalidSecret("too long"));
        }
        let compact: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
        let bytes = base32::decode(&compact).map_err(|_| TotpError::InvalidSecret("not base32"))?;
        Self::from_bytes(bytes)
    }

    /// The raw secret, for sealing. Named so that uses are easy to audit.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.expose()
    }

    /// Upper-case, unpadded base32: what a user types into an app that cannot scan the QR code.
    pub fn to_base32(&self) -> String {
        base32::encode(self.as_bytes())
    }

    /// The `otpauth://` enrolment URI with the default parameters (SHA-1, 6 digits, 30 s).
    pub fn otpauth_uri(&self, issuer: &str, account_name: &str) -> String {
        TotpParams::default().otpauth_uri(self, issuer, account_name)
    }
}

/// Algorithm, number of digits and step length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpParams {
    /// The HMAC.
    pub algorithm: TotpAlgorithm,
    /// 6 or 8.
    pub digits: u8,
    /// Step length in seconds (30 by default).
    pub period: u32,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self { algorithm: TotpAlgorithm::Sha1, digits: 6, period: 30 }
    }
}

impl TotpParams {
    /// Checked constructor: 6 or 8 digits (the `otpauth` values), a period of 1 s to 1 h.
    pub fn new(algorithm: TotpAlgorithm, digits: u8, period: u32) -> Result<Self, TotpError> {
        let params = Self { algorithm, digits, period };
        params.check()?;
        Ok(params)
    }

    fn check(&self) -> Result<(), TotpError> {
        if self.digits != 6 && self.digits != 8 {
            return Err(TotpError::InvalidParams("digits must be 6 or 8"));
        }
        if self.period == 0 || self.period > 3600 {
            return Err(TotpError::InvalidParams("period must be 1..=3600 seconds"));
        }
        Ok(())
    }

    /// The time step that contains `now` (unix seconds).
    pub fn step_at(&self, now: i64) -> Result<u64, TotpError> {
        self.check()?;
        let now = u64::try_from(now).map_err(|_| TotpError::InvalidTime)?;
        Ok(now / u64::from(self.period))
    }

    /// The code for `step` (RFC 4226 HOTP with the step as counter), zero-padded.
    pub fn code_at_step(&self, secret: &TotpSecret, step: u64) -> String {
        let key = hmac::Key::new(self.algorithm.hmac(), secret.as_bytes());
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        // Dynamic truncation (RFC 4226 5.3): the low nibble of the last byte picks 4 bytes. Tags
        // are at least 20 bytes, so offset + 3 <= 18 is always in range; `get` keeps it
        // panic-free regardless.
        let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
        let word = mac.get(offset..offset + 4).map_or(0, |b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]));
        let digits = usize::from(if self.digits == 8 { 8u8 } else { 6 });
        let modulus = 10u32.pow(digits as u32);
        format!("{:0width$}", word % modulus, width = digits)
    }

    /// The code that is current at `now`.
    pub fn code_at(&self, secret: &TotpSecret, now: i64) -> Result<String, TotpError> {
        Ok(self.code_at_step(secret, self.step_at(now)?))
    }

    /// Verifies a code typed by the user. Returns the matched step, which the caller stores and
    /// passes back as `last_used_step` next time.
    ///
    /// Accepts the current step and [`SKEW_STEPS`] either side. Every candidate is compared in
    /// constant time and all are computed (no early exit). A match at a step `<= last_used_step`
    /// is [`TotpError::Replayed`]. Spaces are ignored (apps show `123 456`); anything else that
    /// is not exactly `digits` ASCII digits is [`TotpError::Malformed`].
    pub fn verify(
        &self,
        secret: &TotpSecret,
        code: &str,
        now: i64,
        last_used_step: Option<u64>,
    ) -> Result<u64, TotpError> {
        let current = self.step_at(now)?;
        // Bound the work on hostile input before filtering.
        if code.len() > 32 {
            return Err(TotpError::Malformed);
        }
        let code: String = code.chars().filter(|c| *c != ' ').collect();
        if code.len() != usize::from(self.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::Malformed);
        }
        let mut fresh: Option<u64> = None;
        let mut replayed = false;
        let first = current.saturating_sub(SKEW_STEPS);
        let last = current.saturating_add(SKEW_STEPS);
        for step in first..=last {
            if ct_eq(self.code_at_step(secret, step).as_bytes(), code.as_bytes()) {
                if last_used_step.is_some_and(|used| step <= used) {
                    replayed = true;
                } else {
                    // Ascending loop: the highest fresh step wins, so a later code can't be
                    // followed by an earlier one from the same window.
                    fresh = Some(step);
                }
            }
        }
        match (fresh, replayed) {
            (Some(step), _) => Ok(step),
            (None, true) => Err(TotpError::Replayed),
            (None, false) => Err(TotpError::Invalid),
        }
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…`
    /// (Google's Key Uri Format). Issuer and account are percent-encoded (RFC 3986; `@` kept
    /// readable in the label); the issuer is repeated as a parameter, which apps prefer.
    pub fn otpauth_uri(&self, secret: &TotpSecret, issuer: &str, account_name: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            percent_encode(issuer),
            percent_encode(account_name),
            secret.to_base32(),
            percent_encode(issuer),
            self.algorithm.as_str(),
            self.digits,
            self.period
        )
    }
}

/// Verifies with the default parameters (SHA-1, 6 digits, 30 s). See [`TotpParams::verify`].
pub fn verify(secret: &TotpSecret, code: &str, now: i64, last_used_step: Option<u64>) -> Result<u64, TotpError> {
    TotpParams::default().verify(secret, code, now, last_used_step)
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `@`: a label with a
/// colon, slash, space, `&` or `#` can't break the URI apart.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seed(algorithm: TotpAlgorithm) -> TotpSecret {
        let ascii = "1234567890".repeat(7);
        let len = match algorithm {
            TotpAlgorithm::Sha1 => 20,
            TotpAlgorithm::Sha256 => 32,
            TotpAlgorithm::Sha512 => 64,
        };
        TotpSecret::from_bytes(ascii.as_bytes()[..len].to_vec()).unwrap()
    }

    #[test]
    fn rfc6238_appendix_b() {
        const TABLE: &[(i64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for &(time, sha1, sha256, sha512) in TABLE {
            for (algorithm, expected) in
                [(TotpAlgorithm::Sha1, sha1), (TotpAlgorithm::Sha256, sha256), (TotpAlgorithm::Sha512, sha512)]
            {
                let params = TotpParams::new(algorithm, 8, 30).unwrap();
                let secret = seed(algorithm);
                assert_eq!(params.code_at(&secret, time).unwrap(), expected, "{algorithm:?} at {time}");
                assert_eq!(params.verify(&secret, expected, time, None).unwrap(), time as u64 / 30);
                // 6 digits are the low 6 digits of the same value.
                let six = TotpParams::new(algorithm, 6, 30).unwrap();
                assert_eq!(six.code_at(&secret, time).unwrap(), &expected[2..]);
            }
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        let secret = seed(TotpAlgorithm::Sha1);
        let params = TotpParams::default();
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(params.code_at_step(&secret, counter as u64), *code);
        }
    }

    #[test]
    fn skew_window() {
        let secret = seed(TotpAlgorithm::Sha1);
        let p = TotpParams::default();
        let now = 1_700_000_015; // step 56_666_667
        let step = p.step_at(now).unwrap();
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = p.code_at_step(&secret, (step as i64 + offset) as u64);
            let result = verify(&secret, &code, now, None);
            if accepted {
                assert_eq!(result, Ok((step as i64 + offset) as u64), "offset {offset}");
            } else {
                assert_eq!(result, Err(TotpError::Invalid), "offset {offset}");
            }
        }
        // Skew at step 0 does not underflow.
        let code = p.code_at_step(&secret, 0);
        assert_eq!(verify(&secret, &code, 5, None), Ok(0));
        assert_eq!(verify(&secret, &p.code_at_step(&secret, 1), 5, None), Ok(1));
    }

    #[test]
    fn replay_protection() {
        let secret = seed(TotpAlgorithm::Sha1);
        let p = TotpParams::default();
        let now = 1_700_000_015;
        let step = p.step_at(now).unwrap();
        let code = p.code_at_step(&secret, step);
        let used = verify(&secret, &code, now, None).unwrap();
        assert_eq!(used, step);
        // The same code again, even in the next step, is refused.
        assert_eq!(verify(&secret, &code, now, Some(used)), Err(TotpError::Replayed));
        assert_eq!(verify(&secret, &code, now + 30, Some(used)), Err(TotpError::Replayed));
        // An older code (previous step, still inside the window) after a newer one is refused.
        let older = p.code_at_step(&secret, step - 1);
        assert_eq!(verify(&secret, &older, now, Some(used)), Err(TotpError::Replayed));
        // The next step's code is fine.
        let newer = p.code_at_step(&secret, step + 1);
        assert_eq!(verify(&secret, &newer, now, Some(used)), Ok(step + 1));
        // A used step far in the future (clock moved back) blocks everything up to it.
        assert_eq!(verify(&secret, &code, now, Some(step + 10)), Err(TotpError::Replayed));
    }

    #[test]
    fn malformed_codes() {
        let secret = seed(TotpAlgorithm::Sha1);
        let now = 1_700_000_015;
        let good = TotpParams::default().code_at(&secret, now).unwrap();
        let spaced = format!("{} {}", &good[..3], &good[3..]);
        assert!(verify(&secret, &spaced, now, None).is_ok());
        for bad in
            ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "+12345", "-12345", "12 34 5", "123456\n", "１２３４５６"]
        {
            assert_eq!(verify(&secret, bad, now, None), Err(TotpError::Malformed), "{bad:?}");
        }
        assert_eq!(verify(&secret, &"1".repeat(1000), now, None), Err(TotpError::Malformed));
        let eight = TotpParams::new(TotpAlgorithm::Sha1, 8, 30).unwrap();
        assert_eq!(eight.verify(&secret, &good, now, None), Err(TotpError::Malformed));
        assert_eq!(verify(&secret, &good, -1, None), Err(TotpError::InvalidTime));
    }

    #[test]
    fn params_are_checked() {
        assert!(TotpParams::new(TotpAlgorithm::Sha1, 7, 30).is_err());
        assert!(TotpParams::new(TotpAlgorithm::Sha1, 6, 0).is_err());
        assert!(TotpParams::new(TotpAlgorithm::Sha1, 6, 3601).is_err());
        let bogus = TotpParams { algorithm: TotpAlgorithm::Sha1, digits: 9, period: 30 };
        assert!(bogus.step_at(0).is_err());
        assert_eq!(
            serde_json::to_string(&TotpParams::default()).unwrap(),
            r#"{"algorithm":"SHA1","digits":6,"period":30}"#
        );
    }

    #[test]
    fn secrets() {
        struct Counting;
        impl Random for Counting {
            fn fill(&self, buf: &mut [u8]) {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = i as u8;
                }
            }
        }
        let s = TotpSecret::generate(&Counting);
        assert_eq!(s.as_bytes(), (0..20).collect::<Vec<u8>>());
        assert_eq!(s.to_base32(), "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT");
        assert_eq!(format!("{s:?}"), "TotpSecret(***)");
        let parsed = TotpSecret::from_base32("aaaq-eaye audaocaj BIFQYDIOB4IBCEQT").unwrap();
        assert_eq!(parsed.as_bytes(), s.as_bytes());
        assert!(TotpSecret::from_bytes(vec![0; 15]).is_err());
        assert!(TotpSecret::from_bytes(vec![0; 129]).is_err());
        assert!(TotpSecret::from_base32("AAAAAAAAAAAAAAAA").is_err(), "80-bit secret");
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert!(TotpSecret::from_base32(&"A".repeat(10_000)).is_err());
    }

    #[test]
    fn otpauth_uri_encoding() {
        let secret = seed(TotpAlgorithm::Sha1);
        assert_eq!(
            secret.otpauth_uri("Ostiary", "alice@contoso.com"),
            "otpauth://totp/Ostiary:alice@contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Ostiary&algorithm=SHA1&digits=6&period=30"
        );
        let p = TotpParams::new(TotpAlgorithm::Sha256, 8, 60).unwrap();
        assert_eq!(
            p.otpauth_uri(&secret, "Contoso: IT & Co", "bob smith/ops?#é"),
            "otpauth://totp/Contoso%3A%20IT%20%26%20Co:bob%20smith%2Fops%3F%23%C3%A9?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Contoso%3A%20IT%20%26%20Co&algorithm=SHA256&digits=8&period=60"
        );
    }
}
