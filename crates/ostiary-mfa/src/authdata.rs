//! Reads the AAGUID (authenticator model id) out of a WebAuthn attestation object.
//!
//! webauthn-rs only reports the AAGUID for `packed`/`tpm` attestation, but browsers also send it
//! with `none` attestation (it is how a page can say "iCloud Keychain" or "YubiKey 5"). This is
//! a minimal CBOR walker: it skips any value, bounded in depth and by the input length, and
//! only extracts the `authData` byte string of the top-level map.

use uuid::Uuid;

const MAX_DEPTH: u32 = 16;

/// `authData` flags bit: attested credential data present.
const FLAG_AT: u8 = 0x40;
/// rpIdHash (32) + flags (1) + signCount (4).
const AAGUID_OFFSET: usize = 37;

/// The AAGUID in the attested credential data, `None` if absent, all zero, or if the object is
/// malformed. Never panics.
pub fn aaguid_from_attestation_object(attestation_object: &[u8]) -> Option<Uuid> {
    let auth_data = auth_data(attestation_object)?;
    let flags = *auth_data.get(32)?;
    if flags & FLAG_AT == 0 {
        return None;
    }
    let bytes: [u8; 16] = auth_data.get(AAGUID_OFFSET..AAGUID_OFFSET + 16)?.try_into().ok()?;
    let id = Uuid::from_bytes(bytes);
    (!id.is_nil()).then_some(id)
}

/// The `authData` bytes of the top-level attestation map.
fn auth_data(input: &[u8]) -> Option<&[u8]> {
    let mut r = Reader { data: input, pos: 0 };
    let (major, count) = r.head()?;
    if major != 5 {
        return None;
    }
    for _ in 0..count {
        let key_is_auth_data = match r.head()? {
            (3, len) => r.take(len)? == b"authData",
            (major, arg) => {
                r.skip_body(major, arg, 0)?;
                false
            }
        };
        if key_is_auth_data {
            return match r.head()? {
                (2, len) => r.take(len),
                _ => None,
            };
        }
        r.skip(0)?;
    }
    None
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let end = self.pos.checked_add(len)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Major type and argument of the next item. Indefinite lengths (not allowed in CTAP2
    /// canonical CBOR) are refused.
    fn head(&mut self) -> Option<(u8, u64)> {
        let initial = self.byte()?;
        let major = initial >> 5;
        let arg = match initial & 0x1f {
            n @ 0..=23 => u64::from(n),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((major, arg))
    }

    fn skip(&mut self, depth: u32) -> Option<()> {
        let (major, arg) = self.head()?;
        self.skip_body(major, arg, depth)
    }

    fn skip_body(&mut self, major: u8, arg: u64, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match major {
            0 | 1 | 7 => Some(()),
            2 | 3 => self.take(arg).map(|_| ()),
            // Each element needs at least one byte, so a claimed count beyond the remaining
            // input fails fast instead of looping for 2^64 iterations.
            4 | 5 => {
                let items = if major == 5 { arg.checked_mul(2)? } else { arg };
                if items > (self.data.len() - self.pos) as u64 {
                    return None;
                }
                for _ in 0..items {
                    self.skip(depth + 1)?;
                }
                Some(())
            }
            6 => self.skip(depth + 1),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn auth_data_with(aaguid: [u8; 16], flags: u8) -> Vec<u8> {
        let mut a = vec![7u8; 32];
        a.push(flags);
        a.extend_from_slice(&[0, 0, 0, 1]);
        a.extend_from_slice(&aaguid);
        a.extend_from_slice(&[0, 2, 0xaa, 0xbb]);
        a
    }

    /// {"fmt": "none", "attStmt": {}, "authData": h'…'} with an extra nested key first.
    fn object(auth: &[u8]) -> Vec<u8> {
        let mut o = vec![0xa4];
        o.extend_from_slice(&[0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e']);
        // "x": [1, -2, {"k": h'00'}, tag(1) 5, true]
        o.extend_from_slice(&[0x61, b'x', 0x85, 0x01, 0x21, 0xa1, 0x61, b'k', 0x41, 0x00, 0xc1, 0x05, 0xf5]);
        o.extend_from_slice(&[0x67, b'a', b't', b't', b'S', b't', b'm', b't', 0xa0]);
        o.extend_from_slice(&[0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a', 0x58, auth.len() as u8]);
        o.extend_from_slice(auth);
        o
    }

    #[test]
    fn extracts_aaguid() {
        let id = [0x11u8; 16];
        assert_eq!(aaguid_from_attestation_object(&object(&auth_data_with(id, 0x45))), Some(Uuid::from_bytes(id)));
        // No AT flag, nil AAGUID, truncated authData.
        assert_eq!(aaguid_from_attestation_object(&object(&auth_data_with(id, 0x05))), None);
        assert_eq!(aaguid_from_attestation_object(&object(&auth_data_with([0; 16], 0x45))), None);
        assert_eq!(aaguid_from_attestation_object(&object(&auth_data_with(id, 0x45)[..40])), None);
    }

    #[test]
    fn hostile_input_never_panics() {
        let good = object(&auth_data_with([0x22; 16], 0x45));
        for cut in 0..good.len() {
            let _ = aaguid_from_attestation_object(&good[..cut]);
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0usize..20_000 {
            let mut data = if round.is_multiple_of(2) { good.clone() } else { Vec::new() };
            let extra = (round % 64) + 1;
            for _ in 0..extra {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if data.is_empty() || x.is_multiple_of(3) {
                    data.push(x as u8);
                } else {
                    let i = (x >> 8) as usize % data.len();
                    data[i] = (x >> 16) as u8;
                }
            }
            let _ = aaguid_from_attestation_object(&data);
        }
        // Huge claimed lengths and deep nesting.
        for bad in [
            vec![0xa1, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xa1, 0x61, b'a', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [vec![0xa1, 0x61, b'a'], vec![0x81; 10_000]].concat(),
            [vec![0xa1, 0x61, b'a'], vec![0xc1; 10_000]].concat(),
            vec![0xbf, 0xff],
        ] {
            assert_eq!(aaguid_from_attestation_object(&bad), None);
        }
    }
}
