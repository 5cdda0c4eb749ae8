//! Shared helpers over JSON values: case-insensitive keys, type checking and coercion of an
//! attribute value against its definition, `primary` handling, and RFC 3339 timestamps.

use crate::error::{ScimError, ScimType};
use crate::schema::{AttrDef, AttrType, Mutability};
use serde_json::{Map, Value};

/// The key in `o` equal to `name` ignoring ASCII case (the exact key wins).
pub(crate) fn key_of(o: &Map<String, Value>, name: &str) -> Option<String> {
    if o.contains_key(name) {
        return Some(name.to_owned());
    }
    o.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

pub(crate) fn get_ci<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.get(name).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// Removes every key equal to `name` ignoring case; returns the last removed value.
pub(crate) fn remove_ci(o: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let keys: Vec<String> = o.keys().filter(|k| k.eq_ignore_ascii_case(name)).cloned().collect();
    keys.into_iter().fold(None, |_, k| o.remove(&k))
}

/// An absent, null, empty-string, empty-array or empty-object value: "unassigned" (RFC 7643 §2.5).
pub(crate) fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn invalid(path: &str, what: &str) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, format!("attribute '{path}' {what}"))
}

/// Checks one simple (non-complex) value against its type; coerces `"True"`/`"False"` strings to
/// booleans (Entra and the Microsoft reference Postman suite send them).
fn simple(def: &AttrDef, v: &Value, path: &str) -> Result<Value, ScimError> {
    let ok = match (def.ty, v) {
        (AttrType::Boolean, Value::Bool(_)) => true,
        (AttrType::Boolean, Value::String(s)) => {
            return match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(invalid(path, "must be a boolean")),
            };
        }
        (AttrType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (AttrType::Decimal, Value::Number(_)) => true,
        (AttrType::DateTime, Value::String(s)) => parse_datetime(s).is_some(),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => true,
        _ => false,
    };
    if ok { Ok(v.clone()) } else { Err(invalid(path, &format!("must be of type {}", def.ty.as_str()))) }
}

/// Normalises one complex value: canonical sub-attribute names, unknown and readOnly sub-attributes
/// dropped, nulls dropped, types checked. A bare string stands for `{"value": s}`.
pub(crate) fn complex(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    let o = match v {
        Value::Object(o) => o,
        Value::String(_) if def.sub("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), v.clone());
            return complex(def, &Value::Object(m), path);
        }
        Value::Null => return Ok(None),
        _ => return Err(invalid(path, "must be a complex object")),
    };
    let mut out = Map::new();
    for (k, sv) in o {
        let Some(sd) = def.sub(k) else { continue };
        let sub_path = format!("{path}.{}", sd.name);
        if sd.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(nv) = single(sd, sv, &sub_path)? {
            out.insert(sd.name.to_owned(), nv);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Normalises a value for `def` (single- or multi-valued); `None` means unassigned.
pub(crate) fn normalize_attr(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if !def.multi_valued {
        if v.is_array() {
            return Err(invalid(path, "is single-valued"));
        }
        return single(def, v, path);
    }
    let items: &[Value] = match v {
        Value::Array(a) => a,
        Value::Null => return Ok(None),
        other => std::slice::from_ref(other),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(nv) = single(def, item, path)?
            && !out.contains(&nv)
        {
            out.push(nv);
        }
    }
    check_primary(def, &out, path)?;
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

pub(crate) fn single(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    match v {
        Value::Null => Ok(None),
        _ if def.ty == AttrType::Complex => complex(def, v, path),
        _ if def.multi_valued && v.is_array() => Err(invalid(path, "has a nested array")),
        _ => simple(def, v, path).map(Some),
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

/// RFC 7643 §2.4: the `primary` value `true` appears at most once.
pub(crate) fn check_primary(def: &AttrDef, items: &[Value], path: &str) -> Result<(), ScimError> {
    if def.sub("primary").is_some() && items.iter().filter(|v| is_primary(v)).count() > 1 {
        return Err(invalid(path, "has more than one primary value"));
    }
    Ok(())
}

/// After new elements were written: if one of `items[fresh..]` (or the marked ones) is primary,
/// clears `primary` on every other element.
pub(crate) fn keep_one_primary(items: &mut [Value], winner: Option<usize>) {
    let Some(w) = winner else { return };
    for (i, it) in items.iter_mut().enumerate() {
        if i != w
            && is_primary(it)
            && let Some(o) = it.as_object_mut()
        {
            o.insert("primary".into(), Value::Bool(false));
        }
    }
}

pub(crate) fn primary_index(items: &[Value], among: impl IntoIterator<Item = usize>) -> Option<usize> {
    among.into_iter().find(|&i| items.get(i).is_some_and(is_primary))
}

/// RFC 3339 date-time (`YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)`, also without seconds or offset as the
/// Microsoft reference accepts) → (seconds since the epoch in UTC, nanoseconds).
pub(crate) fn parse_datetime(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |i: usize, n: usize| -> Option<i64> {
        let d = b.get(i..i + n)?;
        d.iter().try_fold(0i64, |a, &c| c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0')))
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut h, mut mi, mut sec, mut nanos, mut i) = (0, 0, 0, 0u32, 10);
    if matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        h = num(11, 2)?;
        mi = num(14, 2)?;
        if b.get(13) != Some(&b':') || h > 23 || mi > 59 {
            return None;
        }
        i = 16;
        if b.get(16) == Some(&b':') {
            sec = num(17, 2)?;
            if sec > 60 {
                return None;
            }
            i = 19;
            if b.get(19) == Some(&b'.') {
                let digits = b.get(20..)?.iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let mut frac = 0u32;
                for k in 0..9 {
                    frac = frac * 10 + b.get(20 + k).filter(|_| k < digits).map_or(0, |c| u32::from(c - b'0'));
                }
                nanos = frac;
                i = 20 + digits;
            }
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset, nanos))
}
