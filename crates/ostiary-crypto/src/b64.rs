//! Base64 helpers: base64url without padding (JOSE) and standard base64 (x5c, PEM).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::CryptoError;

/// base64url, no padding on encode, padding optional on decode.
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url that rejects padding: RFC 7515 forbids it inside a JWS, and a
/// single canonical form keeps signature segments non-malleable.
pub(crate) const URL_STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Standard alphabet, padded on encode, padding optional on decode.
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes as base64url without padding.
pub fn url_encode(data: &[u8]) -> String {
    URL_LENIENT.encode(data)
}

/// Decodes base64url, with or without padding. Rejects characters outside the
/// url-safe alphabet (including `+`, `/` and whitespace).
pub fn url_decode(s: &str) -> Result<Vec<u8>, CryptoError> {
    URL_LENIENT.decode(s).map_err(|e| CryptoError::InvalidInput(format!("base64url: {e}")))
}

/// Encodes with the standard alphabet and padding.
pub fn std_encode(data: &[u8]) -> String {
    STD_LENIENT.encode(data)
}

/// Decodes the standard alphabet; missing padding is tolerated.
pub fn std_decode(s: &str) -> Result<Vec<u8>, CryptoError> {
    STD_LENIENT.decode(s).map_err(|e| CryptoError::InvalidInput(format!("base64: {e}")))
}

/// Strict JOSE decoding (no padding).
pub(crate) fn url_decode_strict(s: &str) -> Result<Vec<u8>, CryptoError> {
    URL_STRICT.decode(s).map_err(|e| CryptoError::InvalidInput(format!("base64url: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn url_round_trip_and_padding() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = url_encode(&data);
            assert!(!enc.contains('='));
            assert!(!enc.contains('+') && !enc.contains('/'));
            assert_eq!(url_decode(&enc).unwrap(), data);
            let padded = format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4));
            assert_eq!(url_decode(&padded).unwrap(), data);
        }
    }

    #[test]
    fn url_rejects_invalid() {
        assert!(url_decode("ab+c").is_err());
        assert!(url_decode("ab/c").is_err());
        assert!(url_decode("ab c").is_err());
        assert!(url_decode("a").is_err());
        assert!(url_decode_strict("YQ==").is_err());
        assert_eq!(url_decode_strict("YQ").unwrap(), b"a");
    }

    #[test]
    fn std_round_trip() {
        let data = [0xfbu8, 0xff, 0x01];
        assert_eq!(std_encode(&data), "+/8B");
        assert_eq!(std_encode(b"a"), "YQ==");
        assert_eq!(std_decode("YQ==").unwrap(), b"a");
        assert_eq!(std_decode("YQ").unwrap(), b"a");
        assert!(std_decode("Y-_Q").is_err());
    }
}
