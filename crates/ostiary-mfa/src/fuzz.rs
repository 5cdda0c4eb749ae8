//! Deterministic hostile-input loops (xorshift) through every parser of the crate: nothing may
//! panic, and whatever is accepted must respect the documented invariants. The passkey loops
//! live in `passkey/tests.rs` and use [`Rng::mutate_json`].
#![allow(clippy::panic, clippy::unwrap_used)]

use serde_json::Value;

use crate::totp::{TotpError, TotpParams, TotpSecret};
use crate::{base32, qr, recovery, totp};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A string from hostile fragments and random characters.
    pub fn text(&mut self) -> String {
        const PARTS: &[&str] = &[
            "", "0", "1", "9", "12345", "123456", "1234567", "12345678", " ", "-", "=", "==", "A", "z", "2", "7", "8",
            "O", "I", "L", "é", "١", "\0", "\n", "%", "<", "\"", "'", "&", "ABCDE", "FGHJK", "\u{feff}", "𝟙",
        ];
        let n = self.below(8);
        let mut s = String::new();
        for _ in 0..n {
            if self.below(4) == 0 {
                s.push(char::from_u32(self.below(0x11_0000) as u32).unwrap_or('?'));
            } else {
                s.push_str(PARTS[self.below(PARTS.len())]);
            }
        }
        s
    }

    /// A random JSON value of small depth.
    pub fn json(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::from(self.next() as i64),
            3 => Value::from(self.text()),
            4 => Value::from(ostiary_crypto::b64::url_encode(&self.bytes(300))),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    m.insert(self.text(), self.json(depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    /// A mutation of `good`: a few leaves replaced, removed, retyped, or their base64url
    /// payload corrupted (bit flips, truncation, extension). Round 0 returns `good` unchanged.
    pub fn mutate_json(&mut self, good: &Value, round: usize) -> Value {
        let mut v = good.clone();
        if round == 0 {
            return v;
        }
        for _ in 0..=self.below(3) {
            let mut paths = Vec::new();
            collect_paths(&v, &mut Vec::new(), &mut paths);
            if paths.is_empty() {
                return self.json(0);
            }
            let path = paths[self.below(paths.len())].clone();
            let Some(slot) = pointer_mut(&mut v, &path) else { continue };
            *slot = match self.below(6) {
                0 => self.json(1),
                1 => Value::Null,
                2 => Value::from(self.text()),
                _ => match slot.as_str().and_then(|s| ostiary_crypto::b64::url_decode(s).ok()) {
                    Some(mut bytes) if !bytes.is_empty() => {
                        match self.below(3) {
                            0 => {
                                let i = self.below(bytes.len());
                                bytes[i] ^= 1 << self.below(8);
                            }
                            1 => bytes.truncate(self.below(bytes.len())),
                            _ => bytes.extend(self.bytes(64)),
                        }
                        Value::from(ostiary_crypto::b64::url_encode(&bytes))
                    }
                    _ => self.json(1),
                },
            };
        }
        v
    }
}

fn collect_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                collect_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(i.to_string());
                out.push(prefix.clone());
                collect_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(p)?,
            Value::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[test]
fn totp_verify_hostile_codes() {
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
    let mut rng = Rng::new(0x1234_5678);
    let now = 1_700_000_000;
    for _ in 0..20_000 {
        let code = rng.text();
        let last = if rng.below(2) == 0 { None } else { Some(rng.next() % 100_000_000) };
        match totp::verify(&secret, &code, now, last) {
            Ok(step) => {
                // Only a 6-digit code for a step inside the window, after `last`, is accepted.
                let compact: String = code.chars().filter(|c| *c != ' ').collect();
                assert_eq!(compact.len(), 6);
                assert!(step.abs_diff(now as u64 / 30) <= 1);
                assert!(last.is_none_or(|l| step > l));
                assert_eq!(TotpParams::default().code_at_step(&secret, step), compact);
            }
            Err(TotpError::Malformed | TotpError::Invalid | TotpError::Replayed) => {}
            Err(e) => panic!("unexpected {e:?} for {code:?}"),
        }
        let _ = TotpSecret::from_base32(&code);
        let _ = totp::verify(&secret, &code, rng.next() as i64, last);
    }
    // Every 6-digit code of the window is found, whatever the random time.
    for _ in 0..200 {
        let t = (rng.next() % 4_000_000_000) as i64;
        let code = TotpParams::default().code_at(&secret, t).unwrap();
        assert!(totp::verify(&secret, &code, t, None).is_ok());
    }
}

#[test]
fn base32_hostile_and_round_trip() {
    let mut rng = Rng::new(0xdead_beef);
    for _ in 0..20_000 {
        let s = rng.text();
        if let Ok(bytes) = base32::decode(&s) {
            // Canonical: re-encoding gives the input back, up to case and padding.
            assert_eq!(base32::encode(&bytes), s.trim_end_matches('=').to_ascii_uppercase());
        }
        let data = rng.bytes(40);
        assert_eq!(base32::decode(&base32::encode(&data)).unwrap(), data);
    }
}

#[test]
fn recovery_hostile_input() {
    let mut rng = Rng::new(0x0bad_f00d);
    let hashes = vec![
        "sha256$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
        String::new(),
        "$$$".into(),
    ];
    for _ in 0..20_000 {
        let s = rng.text();
        if let Some(n) = recovery::normalize(&s) {
            assert_eq!(n.len(), recovery::CODE_LEN);
            assert!(n.bytes().all(|b| recovery::ALPHABET.contains(&b)));
        }
        assert_eq!(recovery::verify(&s, &hashes), None);
    }
}

#[test]
fn qr_hostile_input() {
    let mut rng = Rng::new(0xfeed_face);
    for _ in 0..300 {
        let text = rng.text();
        let label = rng.text();
        let svg = qr::qr_svg(&text, &label).unwrap();
        assert_eq!(svg.matches('<').count(), 4, "label must not inject markup: {label:?}");
        let reference = qr::qr_svg(&text, "x").unwrap();
        assert_eq!(svg.matches('"').count(), reference.matches('"').count());
    }
}
