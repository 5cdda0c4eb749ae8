//! Device-flow user codes: 8 characters from a 20-letter consonant alphabet (no vowels, so no
//! accidental words; no look-alike digits), entered case-insensitively with optional dashes or
//! spaces.
//!
//! `user_code` in the `/devicecode` response and in `message` is the raw 8 characters (Entra
//! shows no dash; MSAL only displays `message`); [`format_user_code`] adds a dash for our own
//! pages.

/// The alphabet of user codes (RFC 8628 6.1 recommends a consonant-only base-20 set).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Length of a user code: 20^8 ≈ 2.56e10 codes (about 34.6 bits).
pub const USER_CODE_LEN: usize = 8;

/// 20^8.
const CODE_SPACE: u64 = 25_600_000_000;

/// Maps 8 random bytes to a user code.
///
/// The bytes are read as a big-endian `u64`, reduced modulo 20^8 and written as 8 base-20
/// digits. Because 2^64 is about 7.2e8 times 20^8, the modulo bias is below 1.4e-9 relative per
/// code: negligible, with no rejection loop (a per-byte `b % 20` would give 16 of the 20 letters
/// a 13/256 instead of 12/256 chance).
pub fn generate_user_code(random: &[u8; 8]) -> String {
    let mut n = u64::from_be_bytes(*random) % CODE_SPACE;
    let mut out = [0u8; USER_CODE_LEN];
    for slot in out.iter_mut().rev() {
        // n % 20 < 20, so the index is always in range; `get` keeps this panic-free anyway.
        *slot = USER_CODE_ALPHABET.get((n % 20) as usize).copied().unwrap_or(b'B');
        n /= 20;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Normalises what a user typed: ASCII upper case, spaces and dashes removed. `None` unless the
/// result is exactly 8 characters of the alphabet.
pub fn normalize_user_code(input: &str) -> Option<String> {
    // Generous bound for "B C D F - G H J K" style input; anything longer is not a code.
    if input.len() > 64 {
        return None;
    }
    let mut out = String::with_capacity(USER_CODE_LEN);
    for c in input.chars() {
        if c == '-' || c == ' ' {
            continue;
        }
        let u = c.to_ascii_uppercase();
        if !u.is_ascii() || !USER_CODE_ALPHABET.contains(&(u as u8)) {
            return None;
        }
        out.push(u);
        if out.len() > USER_CODE_LEN {
            return None;
        }
    }
    (out.len() == USER_CODE_LEN).then_some(out)
}

/// `ABCDEFGH` → `ABCD-EFGH` for display on our pages; anything that is not 8 ASCII characters is
/// returned unchanged.
pub fn format_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LEN && code.is_ascii() {
        let (a, b) = code.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    } else {
        code.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generate_shape() {
        assert_eq!(generate_user_code(&[0; 8]), "BBBBBBBB");
        for seed in [[0xff; 8], [1, 2, 3, 4, 5, 6, 7, 8], [0x80, 0, 0, 0, 0, 0, 0, 0]] {
            let c = generate_user_code(&seed);
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalize_user_code(&c).as_deref(), Some(c.as_str()));
        }
        // Small values map to the last digits.
        assert_eq!(generate_user_code(&[0, 0, 0, 0, 0, 0, 0, 1]), "BBBBBBBC");
        assert_eq!(generate_user_code(&[0, 0, 0, 0, 0, 0, 0, 20]), "BBBBBBCB");
        assert_eq!(generate_user_code(&(CODE_SPACE - 1).to_be_bytes()), "ZZZZZZZZ");
        assert_eq!(generate_user_code(&CODE_SPACE.to_be_bytes()), "BBBBBBBB");
    }

    #[test]
    fn generate_is_roughly_uniform() {
        // Every letter appears in every position with a fair share over many xorshift seeds.
        let mut counts = [[0u32; 20]; 8];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let n = 20_000;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let code = generate_user_code(&x.to_le_bytes());
            for (pos, b) in code.bytes().enumerate() {
                let idx = USER_CODE_ALPHABET.iter().position(|a| *a == b).unwrap();
                counts[pos][idx] += 1;
            }
        }
        for row in counts {
            for c in row {
                assert!((800..1200).contains(&c), "{c}");
            }
        }
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_user_code("BCDF-GHJK").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("bcdf ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code(" b-c-d-f-g-h-j-k ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("ZZZZZZZZ").as_deref(), Some("ZZZZZZZZ"));
        for bad in [
            "",
            "BCDFGHJ",
            "BCDFGHJKL",
            "ABCDEFGH",
            "BCDF-GHJ1",
            "BCDFGHJY",
            "BCDF_GHJK",
            "BCDF\u{2011}GHJK",
            "ＢＣＤＦＧＨＪＫ",
            "BCDFGHJ\u{0}",
            "BCDFGHJK\n",
            "BCDF\tGHJK",
            "ßCDFGHJK",
            "ıCDFGHJK",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad:?}");
        }
        assert_eq!(normalize_user_code(&format!("{}BCDFGHJK", " ".repeat(57))), None, "over 64 bytes");
        assert_eq!(normalize_user_code(&"-".repeat(10_000)), None);
    }

    #[test]
    fn format() {
        assert_eq!(format_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(format_user_code("short"), "short");
        assert_eq!(format_user_code("ééééé"), "ééééé");
        assert_eq!(format_user_code("éééé"), "éééé", "8 bytes but not ASCII");
        assert_eq!(normalize_user_code(&format_user_code("BCDFGHJK")).as_deref(), Some("BCDFGHJK"));
    }
}
