//! Breached-password list: sorted SHA-1 digests (20 bytes each, no strings kept), loaded from
//! Have I Been Pwned style `SHA1HEX[:count]` lines or from plaintext passwords.
//!
//! SHA-1 is what HIBP publishes, and here it is only a lookup key, not a password hash: the list
//! is public data and the digests are never stored per user. A million entries take 20 MB;
//! lookups are one binary search.

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

use crate::error::RiskError;

pub type Sha1Digest = [u8; 20];

/// A set of breached passwords, by SHA-1 of their UTF-8 (or raw) bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreachedPasswords {
    digests: Vec<Sha1Digest>,
    skipped: usize,
}

/// How a list's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `SHA1HEX` or `SHA1HEX:count` per line (either case; HIBP uses upper case).
    Sha1Hex,
    /// One password per line, hashed on load.
    Plaintext,
}

impl BreachedPasswords {
    /// Loads a list, choosing the format from its first non-blank line: if that line is a SHA-1
    /// hex digest (optionally `:count`), every line is read as one and lines that are not are
    /// skipped (counted in [`Self::skipped`]); otherwise every line is a plaintext password.
    /// Deciding once per file, not per line, keeps a 40-hex-digit password in a plaintext list
    /// from being misread as a digest.
    pub fn from_lines(text: &str) -> Self {
        Self::from_bytes(text.as_bytes())
    }

    /// Same as [`Self::from_lines`] for lists that are not valid UTF-8 (many plaintext leak
    /// lists are Latin-1): plaintext lines are hashed as raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let format = lines(bytes)
            .find(|l| !trim_ascii(l).is_empty())
            .map(|first| if parse_sha1_line(first).is_some() { ListFormat::Sha1Hex } else { ListFormat::Plaintext })
            .unwrap_or(ListFormat::Plaintext);
        Self::load(bytes, format)
    }

    /// Loads a list in a known format, skipping (and counting) lines that do not fit it.
    pub fn load(bytes: &[u8], format: ListFormat) -> Self {
        // Reserve once: growing by doubling would briefly need twice the final memory.
        let mut digests = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'\n').count() + 1);
        let mut skipped = 0;
        for line in lines(bytes) {
            match format {
                ListFormat::Sha1Hex => {
                    if trim_ascii(line).is_empty() {
                        continue;
                    }
                    match parse_sha1_line(line) {
                        Some(d) => digests.push(d),
                        None => skipped += 1,
                    }
                }
                ListFormat::Plaintext => {
                    // Only the line terminator is removed: spaces can be part of a password.
                    let pw = line.strip_suffix(b"\r").unwrap_or(line);
                    if !pw.is_empty() {
                        digests.push(sha1(pw));
                    }
                }
            }
        }
        Self::from_digests_counted(digests, skipped)
    }

    /// Strict HIBP loading: the first malformed non-blank line is an error.
    pub fn from_sha1_lines(text: &str) -> Result<Self, RiskError> {
        let mut digests = Vec::new();
        for (i, line) in lines(text.as_bytes()).enumerate() {
            if trim_ascii(line).is_empty() {
                continue;
            }
            digests.push(parse_sha1_line(line).ok_or(RiskError::BadSha1Line { line: i + 1 })?);
        }
        Ok(Self::from_digests_counted(digests, 0))
    }

    pub fn from_digests(digests: impl IntoIterator<Item = Sha1Digest>) -> Self {
        Self::from_digests_counted(digests.into_iter().collect(), 0)
    }

    fn from_digests_counted(mut digests: Vec<Sha1Digest>, skipped: usize) -> Self {
        digests.sort_unstable();
        digests.dedup();
        digests.shrink_to_fit();
        BreachedPasswords { digests, skipped }
    }

    /// `true` when the password (as UTF-8 bytes) is on the list.
    pub fn contains(&self, password: &str) -> bool {
        self.contains_digest(&sha1(password.as_bytes()))
    }

    pub fn contains_digest(&self, d: &Sha1Digest) -> bool {
        self.digests.binary_search(d).is_ok()
    }

    /// Distinct entries.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Lines ignored while loading a SHA-1 list because they were not digests.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Heap bytes used by the digests.
    pub fn heap_bytes(&self) -> usize {
        self.digests.capacity() * std::mem::size_of::<Sha1Digest>()
    }
}

pub fn sha1(bytes: &[u8]) -> Sha1Digest {
    let d = digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let mut out = [0u8; 20];
    // SHA-1 output is always 20 bytes; copy defensively rather than index.
    for (o, b) in out.iter_mut().zip(d.as_ref()) {
        *o = *b;
    }
    out
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n')
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `40 hex digits` optionally followed by `:digits`, surrounding ASCII whitespace allowed.
fn parse_sha1_line(line: &[u8]) -> Option<Sha1Digest> {
    let line = trim_ascii(line);
    let (hex, count) = match line.iter().position(|&b| b == b':') {
        Some(i) => (line.get(..i)?, Some(line.get(i + 1..)?)),
        None => (line, None),
    };
    if let Some(c) = count
        && (c.is_empty() || !c.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = hex_val(*pair.first()?)?;
        let lo = hex_val(*pair.get(1)?)?;
        *o = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // SHA-1("password") and SHA-1("123456"), as published by HIBP.
    const PASSWORD: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
    const ONE_TO_SIX: &str = "7C4A8D09CA3762AF61E59520943DC26494F8941B";

    #[test]
    fn sha1_known_answers() {
        assert_eq!(sha1(b"password"), parse_sha1_line(PASSWORD.as_bytes()).unwrap());
        assert_eq!(sha1(b"123456"), parse_sha1_line(ONE_TO_SIX.as_bytes()).unwrap());
    }

    #[test]
    fn hibp_format() {
        let text = format!("{PASSWORD}:9545824\r\n{}:37359195\n\n{PASSWORD}:1\n", ONE_TO_SIX.to_lowercase());
        let list = BreachedPasswords::from_lines(&text);
        assert_eq!(list.len(), 2);
        assert_eq!(list.skipped(), 0);
        let cases = [("password", true), ("123456", true), ("Password", false), ("", false), ("password ", false)];
        for (pw, want) in cases {
            assert_eq!(list.contains(pw), want, "{pw:?}");
        }
    }

    #[test]
    fn hibp_bad_lines_skipped_or_rejected() {
        let text = format!("{PASSWORD}:3\nnot a hash\n{ONE_TO_SIX}:\n{ONE_TO_SIX}:12x\n{}\n", &ONE_TO_SIX[..39]);
        let list = BreachedPasswords::from_lines(&text);
        assert_eq!(list.len(), 1);
        assert_eq!(list.skipped(), 4);
        assert_eq!(BreachedPasswords::from_sha1_lines(&text), Err(RiskError::BadSha1Line { line: 2 }));
        let ok = BreachedPasswords::from_sha1_lines(&format!("{PASSWORD}\n\n{ONE_TO_SIX}:5\n")).unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn plaintext_format() {
        let text = "hunter2\r\ncorrect horse battery staple\n  spaced  \n\nhunter2\n";
        let list = BreachedPasswords::from_lines(text);
        assert_eq!(list.len(), 3);
        let cases = [
            ("hunter2", true),
            ("correct horse battery staple", true),
            ("  spaced  ", true),
            ("spaced", false),
            ("hunter2\r", false),
            ("Hunter2", false),
        ];
        for (pw, want) in cases {
            assert_eq!(list.contains(pw), want, "{pw:?}");
        }
    }

    #[test]
    fn format_decided_by_first_line() {
        // A plaintext list that contains a 40-hex "password" later on keeps it as plaintext.
        let list = BreachedPasswords::from_lines(&format!("letmein\n{PASSWORD}\n"));
        assert!(list.contains("letmein"));
        assert!(list.contains(PASSWORD));
        assert!(!list.contains("password"));
        // A BOM does not hide the format.
        let list = BreachedPasswords::from_bytes(format!("\u{FEFF}{PASSWORD}:1\n").as_bytes());
        assert!(list.contains("password"));
    }

    #[test]
    fn latin1_plaintext() {
        let list = BreachedPasswords::from_bytes(b"caf\xE9\nna\xEFve\n");
        assert_eq!(list.len(), 2);
        assert!(list.contains_digest(&sha1(b"caf\xE9")));
        // The UTF-8 spelling is a different password.
        assert!(!list.contains("café"));
    }

    #[test]
    fn empty_inputs() {
        for text in ["", "\n", "\r\n\r\n", "   "] {
            let list = BreachedPasswords::from_lines(text);
            assert!(!list.contains("password"), "{text:?}");
        }
        assert!(BreachedPasswords::from_lines("").is_empty());
    }

    #[test]
    fn memory_is_20_bytes_per_entry() {
        let list = BreachedPasswords::from_digests((0u32..10_000).map(|i| sha1(&i.to_le_bytes())));
        assert_eq!(list.len(), 10_000);
        assert_eq!(list.heap_bytes(), 200_000);
        assert!(list.contains_digest(&sha1(&42u32.to_le_bytes())));
        assert!(!list.contains_digest(&sha1(&10_000u32.to_le_bytes())));
    }
}
