//! `$orderby`, `$select`, `$top` and `$search` parsing.

use crate::{ParseError, PropPath, check_len, is_ident};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub prop: PropPath,
    pub dir: SortDir,
}

/// A Graph `$search` expression: quoted `"property:value"` terms joined by `AND`/`OR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    Property { prop: String, value: String },
    And(Box<SearchTerm>, Box<SearchTerm>),
    Or(Box<SearchTerm>, Box<SearchTerm>),
}

/// Splits on commas into trimmed items with their byte offsets; empty items are errors.
fn items<'a>(input: &'a str, what: &str) -> Result<Vec<(&'a str, usize)>, ParseError> {
    check_len(input)?;
    let mut out = Vec::new();
    let mut off = 0;
    for raw in input.split(',') {
        let pos = off + raw.len() - raw.trim_start().len();
        let item = raw.trim();
        if item.is_empty() {
            return Err(ParseError::new(format!("empty {what} item"), pos));
        }
        out.push((item, pos));
        off += raw.len() + 1;
    }
    Ok(out)
}

/// Parses `$orderby`, e.g. `displayName desc, passwordProfile/x`; direction defaults to ascending.
pub fn parse_orderby(input: &str) -> Result<Vec<OrderBy>, ParseError> {
    items(input, "$orderby")?
        .into_iter()
        .map(|(item, pos)| {
            let (path, rest) = item.split_once(char::is_whitespace).unwrap_or((item, ""));
            let mut segs = Vec::new();
            let mut seg_pos = pos;
            for seg in path.split('/') {
                if !is_ident(seg) {
                    return Err(ParseError::new("invalid property name", seg_pos));
                }
                segs.push(seg.to_owned());
                seg_pos += seg.len() + 1;
            }
            let dir_pos = pos + item.len() - rest.trim_start().len();
            let dir = match rest.trim() {
                "" => SortDir::Asc,
                d if d.eq_ignore_ascii_case("asc") => SortDir::Asc,
                d if d.eq_ignore_ascii_case("desc") => SortDir::Desc,
                _ => return Err(ParseError::new("expected 'asc' or 'desc'", dir_pos)),
            };
            Ok(OrderBy { prop: PropPath(segs), dir })
        })
        .collect()
}

/// Parses `$select`, e.g. `id, displayName`, into property names.
pub fn parse_select(input: &str) -> Result<Vec<String>, ParseError> {
    items(input, "$select")?
        .into_iter()
        .map(
            |(item, pos)| {
                if is_ident(item) { Ok(item.to_owned()) } else { Err(ParseError::new("invalid property name", pos)) }
            },
        )
        .collect()
}

/// Parses `$top`: ASCII digits only (no sign, no whitespace), fitting in `u32`.
pub fn parse_top(input: &str) -> Result<u32, ParseError> {
    if let Some(bad) = input.bytes().position(|c| !c.is_ascii_digit()) {
        return Err(ParseError::new("expected digits", bad));
    }
    if input.is_empty() {
        return Err(ParseError::new("expected digits", 0));
    }
    input.parse().map_err(|_| ParseError::new("number out of range", 0))
}

/// Parses Graph `$search`: `"prop:value"` terms joined by uppercase `AND`/`OR`
/// (`AND` binds tighter, both left-associative). Inside quotes `\"` and `\\` are escapes.
pub fn parse_search(input: &str) -> Result<SearchTerm, ParseError> {
    check_len(input)?;
    let b = input.as_bytes();
    let skip_ws = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let join = |acc: Option<SearchTerm>, t, f: fn(Box<SearchTerm>, Box<SearchTerm>) -> SearchTerm| match acc {
        Some(a) => f(Box::new(a), Box::new(t)),
        None => t,
    };
    let (mut ors, mut ands, mut i) = (None, None, 0);
    loop {
        skip_ws(&mut i);
        let term = search_term(input, &mut i)?;
        ands = Some(join(ands, term, SearchTerm::And));
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
        }
        match &input[start..i] {
            "AND" => {}
            "OR" => {
                if let Some(a) = ands.take() {
                    ors = Some(join(ors, a, SearchTerm::Or));
                }
            }
            _ => return Err(ParseError::new("expected AND or OR", start)),
        }
    }
    match ands {
        Some(a) => Ok(join(ors, a, SearchTerm::Or)),
        None => Err(ParseError::new("expected search term", i)),
    }
}

fn search_term(s: &str, i: &mut usize) -> Result<SearchTerm, ParseError> {
    let b = s.as_bytes();
    let start = *i;
    if b.get(start) != Some(&b'"') {
        return Err(ParseError::new("expected '\"'", start));
    }
    let (mut text, mut seg, mut j) = (String::new(), start + 1, start + 1);
    loop {
        match b.get(j) {
            None => return Err(ParseError::new("unterminated search term", start)),
            Some(b'\\') => {
                if !matches!(b.get(j + 1), Some(b'"' | b'\\')) {
                    return Err(ParseError::new("invalid escape", j));
                }
                text.push_str(&s[seg..j]);
                seg = j + 1;
                j += 2;
            }
            Some(b'"') => break,
            Some(_) => j += 1,
        }
    }
    text.push_str(&s[seg..j]);
    *i = j + 1;
    match text.split_once(':') {
        Some((prop, value)) if is_ident(prop) && !value.is_empty() => {
            Ok(SearchTerm::Property { prop: prop.to_owned(), value: value.to_owned() })
        }
        _ => Err(ParseError::new("expected \"property:value\"", start + 1)),
    }
}
