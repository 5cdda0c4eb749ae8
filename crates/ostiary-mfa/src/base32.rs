//! RFC 4648 base32 (upper-case alphabet, no padding on output): the encoding authenticator apps
//! expect for TOTP secrets in `otpauth://` URIs and for manual entry.

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes `data` as upper-case base32 without `=` padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in data {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
        // Keep only the bits not yet emitted, so the shift above cannot overflow.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

fn symbol(index: u16) -> char {
    char::from(ALPHABET[usize::from(index & 0x1f)])
}

/// Why a base32 string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    /// A character outside `A-Z2-7` (either case), or `=` anywhere but at the end.
    #[error("invalid base32 character")]
    InvalidCharacter,
    /// The length (without padding) cannot come from whole bytes, or the unused trailing bits
    /// are not zero (a non-canonical encoding).
    #[error("invalid base32 length")]
    InvalidLength,
}

/// Decodes base32: either case, trailing `=` padding optional. Rejects whitespace, symbols
/// outside the alphabet, impossible lengths and non-zero trailing bits, so every byte string
/// has exactly one accepted spelling (up to case and padding).
pub fn decode(input: &str) -> Result<Vec<u8>, Base32Error> {
    let body = input.trim_end_matches('=');
    let padding = input.len() - body.len();
    // Padding, when present, must complete the last 8-character block.
    if padding > 0 && (padding > 6 || !input.len().is_multiple_of(8)) {
        return Err(Base32Error::InvalidLength);
    }
    // 1, 3 or 6 characters (mod 8) carry whole bytes plus 5 to 7 stray bits: no encoder
    // produces that.
    if matches!(body.len() % 8, 1 | 3 | 6) {
        return Err(Base32Error::InvalidLength);
    }
    let mut out = Vec::with_capacity(body.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for b in body.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a',
            b'2'..=b'7' => b - b'2' + 26,
            _ => return Err(Base32Error::InvalidCharacter),
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    if buffer != 0 {
        return Err(Base32Error::InvalidLength);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 4648 section 10, with the padding stripped for encoding.
    const VECTORS: &[(&str, &str)] = &[
        ("", ""),
        ("f", "MY======"),
        ("fo", "MZXQ===="),
        ("foo", "MZXW6==="),
        ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI======"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, padded) in VECTORS {
            let unpadded = padded.trim_end_matches('=');
            assert_eq!(encode(plain.as_bytes()), unpadded, "{plain}");
            assert_eq!(decode(padded).unwrap(), plain.as_bytes(), "{padded}");
            assert_eq!(decode(unpadded).unwrap(), plain.as_bytes(), "{unpadded}");
            assert_eq!(decode(&unpadded.to_ascii_lowercase()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn round_trip_all_lengths() {
        for len in 0usize..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 151 + 7) as u8).collect();
            let enc = encode(&data);
            assert_eq!(enc.len(), (len * 8).div_ceil(5));
            assert!(enc.bytes().all(|b| ALPHABET.contains(&b)));
            assert_eq!(decode(&enc).unwrap(), data);
        }
        assert_eq!(encode(&[0xff; 5]), "77777777");
        assert_eq!(encode(&[0; 5]), "AAAAAAAA");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "M",
            "MZX",
            "MZXW6Y",
            "MY=",
            "MY=====",
            "M=Y",
            "MZ======",
            "MZXW 6YTB",
            "MZXW-6YTB",
            "MZXW1",
            "MZXW0",
            "MZXW8",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // Non-zero trailing bits: "MZ" would carry 2 stray bits ("f" is "MY").
        assert_eq!(decode("MZ"), Err(Base32Error::InvalidLength));
        assert_eq!(decode("MZ!Q"), Err(Base32Error::InvalidCharacter));
        assert_eq!(decode("é"), Err(Base32Error::InvalidCharacter));
        assert_eq!(decode("Mé"), Err(Base32Error::InvalidLength));
    }
}
