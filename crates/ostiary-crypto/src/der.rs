//! Minimal, strict DER reader used by the X.509 and key parsers.
//!
//! Only definite, minimally encoded lengths and low tag numbers are
//! accepted. Every access is bounds-checked and nesting is capped, so
//! hostile input yields an error rather than a panic or deep recursion.

use std::ops::Range;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;

/// Deepest nesting accepted; real certificates stay below 10.
const MAX_DEPTH: usize = 32;

/// A static description of what was wrong; callers wrap it in their own
/// error variant (certificate vs. key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

pub(crate) type DerResult<T> = Result<T, DerError>;

/// One tag-length-value element with its absolute position in the outermost
/// input, so callers can keep ranges instead of borrowed slices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    /// Offset of the tag byte.
    pub(crate) start: usize,
    /// Offset of the first value byte.
    pub(crate) value_start: usize,
    /// Offset one past the last value byte.
    pub(crate) end: usize,
}

impl Tlv<'_> {
    /// Range of the whole element (tag, length and value).
    pub(crate) fn full_range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// Range of the value bytes.
    pub(crate) fn value_range(&self) -> Range<usize> {
        self.value_start..self.end
    }

    pub(crate) fn is_constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }
}

/// Sequential reader over the contents of one constructed element.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, base: 0 }
    }

    /// Reader over the value of `tlv`, keeping absolute offsets.
    pub(crate) fn inside(tlv: &Tlv<'a>) -> Self {
        Self { data: tlv.value, pos: 0, base: tlv.value_start }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> DerResult<u8> {
        let b = self.data.get(self.pos).copied().ok_or(DerError("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads the next element, whatever its tag.
    pub(crate) fn read_any(&mut self) -> DerResult<Tlv<'a>> {
        let start = self.pos;
        let tag = self.next_byte()?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("high tag numbers are not supported"));
        }
        let first = self.next_byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(DerError("indefinite length"));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(DerError("length too large"));
            }
            let mut len: usize = 0;
            for i in 0..n {
                let b = self.next_byte()?;
                if i == 0 && b == 0 {
                    return Err(DerError("non-minimal length"));
                }
                len = (len << 8) | usize::from(b);
            }
            if len < 0x80 {
                return Err(DerError("non-minimal length"));
            }
            len
        };
        let value_start = self.pos;
        let end =
            value_start.checked_add(len).filter(|&e| e <= self.data.len()).ok_or(DerError("length exceeds input"))?;
        let value = self.data.get(value_start..end).ok_or(DerError("length exceeds input"))?;
        self.pos = end;
        Ok(Tlv { tag, value, start: self.base + start, value_start: self.base + value_start, end: self.base + end })
    }

    /// Reads the next element and requires the given tag.
    pub(crate) fn read(&mut self, tag: u8, what: &'static str) -> DerResult<Tlv<'a>> {
        match self.peek_tag() {
            Some(t) if t == tag => self.read_any(),
            _ => Err(DerError(what)),
        }
    }

    /// Reads the next element only if it has the given tag.
    pub(crate) fn read_optional(&mut self, tag: u8) -> DerResult<Option<Tlv<'a>>> {
        match self.peek_tag() {
            Some(t) if t == tag => self.read_any().map(Some),
            _ => Ok(None),
        }
    }

    /// Fails if any bytes remain.
    pub(crate) fn finish(&self, what: &'static str) -> DerResult<()> {
        if self.is_empty() { Ok(()) } else { Err(DerError(what)) }
    }
}

/// Parses `input` as exactly one element and validates its whole tree.
pub(crate) fn parse_single(input: &[u8]) -> DerResult<Tlv<'_>> {
    let mut r = Reader::new(input);
    let tlv = r.read_any()?;
    r.finish("trailing data")?;
    check_tree(&tlv, 0)?;
    Ok(tlv)
}

/// Recursively checks DER rules for every element under `tlv`: allowed
/// constructed forms, and the fixed shapes of the simple universal types.
fn check_tree(tlv: &Tlv<'_>, depth: usize) -> DerResult<()> {
    if depth > MAX_DEPTH {
        return Err(DerError("nesting too deep"));
    }
    let universal = tlv.tag & 0xc0 == 0;
    if tlv.is_constructed() {
        // DER forbids the constructed forms of strings; among universal
        // types only SEQUENCE and SET may be constructed.
        if universal && tlv.tag != SEQUENCE && tlv.tag != SET {
            return Err(DerError("constructed form of a primitive type"));
        }
        let mut r = Reader::inside(tlv);
        while !r.is_empty() {
            let child = r.read_any()?;
            check_tree(&child, depth + 1)?;
        }
        return Ok(());
    }
    if !universal {
        return Ok(());
    }
    let v = tlv.value;
    match tlv.tag {
        0x00 => Err(DerError("end-of-contents marker")),
        BOOLEAN => match v {
            [0x00] | [0xff] => Ok(()),
            _ => Err(DerError("invalid BOOLEAN")),
        },
        NULL if !v.is_empty() => Err(DerError("invalid NULL")),
        INTEGER if v.is_empty() => Err(DerError("empty INTEGER")),
        BIT_STRING => match v {
            [] => Err(DerError("empty BIT STRING")),
            [unused] if *unused != 0 => Err(DerError("invalid BIT STRING")),
            [unused, ..] if *unused > 7 => Err(DerError("invalid BIT STRING")),
            _ => Ok(()),
        },
        OID => check_oid(v),
        _ => Ok(()),
    }
}

/// OIDs must be non-empty, end on a final sub-identifier byte and have no
/// leading 0x80 padding in any sub-identifier.
fn check_oid(v: &[u8]) -> DerResult<()> {
    let Some(last) = v.last() else {
        return Err(DerError("empty OID"));
    };
    if last & 0x80 != 0 {
        return Err(DerError("truncated OID"));
    }
    let mut at_start = true;
    for &b in v {
        if at_start && b == 0x80 {
            return Err(DerError("non-minimal OID"));
        }
        at_start = b & 0x80 == 0;
    }
    Ok(())
}

/// Returns the magnitude of a non-negative, minimally encoded INTEGER with
/// the sign-padding zero stripped.
pub(crate) fn unsigned_integer(v: &[u8]) -> DerResult<&[u8]> {
    match v {
        [] => Err(DerError("empty INTEGER")),
        [first, ..] if first & 0x80 != 0 => Err(DerError("negative INTEGER")),
        [0, second, ..] if second & 0x80 == 0 => Err(DerError("non-minimal INTEGER")),
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(v),
    }
}

/// Small non-negative INTEGER (versions, path lengths).
pub(crate) fn small_integer(v: &[u8]) -> DerResult<u32> {
    let mag = unsigned_integer(v)?;
    if mag.len() > 4 {
        return Err(DerError("INTEGER too large"));
    }
    Ok(mag.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Contents of a BIT STRING that must have no unused bits.
pub(crate) fn bit_string_bytes(v: &[u8]) -> DerResult<&[u8]> {
    match v {
        [0, rest @ ..] => Ok(rest),
        _ => Err(DerError("BIT STRING with unused bits")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert!(parse_single(&[0x04, 0x01, 0xaa]).is_ok());
        assert_eq!(parse_single(&[0x04, 0x81, 0x01, 0xaa]).unwrap_err(), DerError("non-minimal length"));
        assert!(parse_single(&[0x30, 0x80, 0x00, 0x00]).is_err());
        assert!(parse_single(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_single(&[0x04, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
        assert!(parse_single(&[0x04, 0x02, 0xaa]).is_err());
        assert!(parse_single(&[0x04, 0x01, 0xaa, 0x00]).is_err());
        assert!(parse_single(&[0x1f, 0x81, 0x01, 0x00]).is_err());
        assert!(parse_single(&[]).is_err());
    }

    #[test]
    fn forms() {
        assert!(parse_single(&[0x24, 0x03, 0x04, 0x01, 0x00]).is_err());
        assert!(parse_single(&[0x01, 0x01, 0x01]).is_err());
        assert!(parse_single(&[0x05, 0x01, 0x00]).is_err());
        assert!(parse_single(&[0x06, 0x02, 0x80, 0x01]).is_err());
        assert!(parse_single(&[0x06, 0x01, 0x81]).is_err());
        assert!(parse_single(&[0x03, 0x01, 0x01]).is_err());
        assert!(parse_single(&[0x03, 0x02, 0x08, 0x00]).is_err());
    }

    #[test]
    fn depth_limit() {
        // 60 levels of nesting in 122 bytes: well-formed, but beyond the cap.
        let mut deep: Vec<u8> = vec![0x05, 0x00];
        for _ in 0..60 {
            let mut outer = vec![0x30, deep.len() as u8];
            outer.extend_from_slice(&deep);
            deep = outer;
        }
        assert_eq!(parse_single(&deep).unwrap_err(), DerError("nesting too deep"));
        let mut ok: Vec<u8> = vec![0x05, 0x00];
        for _ in 0..10 {
            let mut outer = vec![0x30, ok.len() as u8];
            outer.extend_from_slice(&ok);
            ok = outer;
        }
        assert!(parse_single(&ok).is_ok());
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_integer(&[0x00, 0x80]).unwrap(), &[0x80]);
        assert_eq!(unsigned_integer(&[0x00]).unwrap(), &[0x00]);
        assert!(unsigned_integer(&[0x00, 0x7f]).is_err());
        assert!(unsigned_integer(&[0x80]).is_err());
        assert_eq!(small_integer(&[0x02]).unwrap(), 2);
        assert!(small_integer(&[1, 2, 3, 4, 5]).is_err());
    }
}
