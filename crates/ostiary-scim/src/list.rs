//! Query parameters of list requests (RFC 7644 §3.4.2), the `/.search` body (§3.4.3), and the
//! ListResponse envelope.

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, Filter, parse_attr_path, parse_filter};
use crate::project::parse_attribute_list;
use crate::value::get_ci;
use crate::{SCHEMA_LIST_RESPONSE, SCHEMA_SEARCH_REQUEST};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    /// 1-based; values below 1 become 1.
    pub start_index: u64,
    /// Negative becomes 0; capped at the server's maximum. `None` = server default.
    pub count: Option<u32>,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

const NAMES: [&str; 7] = ["filter", "sortBy", "sortOrder", "startIndex", "count", "attributes", "excludedAttributes"];

fn invalid(d: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, d)
}

/// An integer that may not fit i64: all-digit text saturates.
fn int(name: &str, s: &str) -> Result<i64, ScimError> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(if neg { i64::MIN } else { i64::MAX });
    }
    Err(invalid(format!("'{name}' must be an integer")))
}

#[derive(Default)]
struct Raw {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

fn finish(r: Raw, max_results: u32) -> Result<ListParams, ScimError> {
    if !r.attributes.is_empty() && !r.excluded.is_empty() {
        return Err(invalid("'attributes' and 'excludedAttributes' are mutually exclusive"));
    }
    let filter = match r.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(parse_filter(f)?),
    };
    let sort_by = match r.sort_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_attr_path(s).map_err(|e| invalid(format!("sortBy: {}", e.detail)))?),
    };
    let descending = match r.sort_order.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("ascending") => false,
        Some("descending") => true,
        Some(_) => return Err(invalid("'sortOrder' must be 'ascending' or 'descending'")),
    };
    let start_index = r.start_index.map_or(1, |n| u64::try_from(n).unwrap_or(1).max(1));
    let count = r.count.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX).min(max_results));
    Ok(ListParams { filter, sort_by, descending, start_index, count, attributes: r.attributes, excluded: r.excluded })
}

/// Parses list query parameters (already percent-decoded). Names are matched case-insensitively;
/// unknown names are ignored; a repeated known name is 400 `invalidValue`; so are non-integer
/// `startIndex`/`count`, a bad `sortOrder`, and both `attributes` and `excludedAttributes` non-empty.
/// A bad filter is 400 `invalidFilter`.
pub fn parse_list_params(query: &[(String, String)], max_results: u32) -> Result<ListParams, ScimError> {
    let mut seen = [false; NAMES.len()];
    let mut r = Raw::default();
    for (k, v) in query {
        let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(k)) else { continue };
        if let Some(s) = seen.get_mut(i) {
            if *s {
                return Err(invalid(format!("query parameter '{k}' given twice")));
            }
            *s = true;
        }
        match i {
            0 => r.filter = Some(v.clone()),
            1 => r.sort_by = Some(v.clone()),
            2 => r.sort_order = Some(v.clone()),
            3 => r.start_index = Some(int("startIndex", v)?),
            4 => r.count = Some(int("count", v)?),
            5 => r.attributes = parse_attribute_list(v)?,
            _ => r.excluded = parse_attribute_list(v)?,
        }
    }
    finish(r, max_results)
}

fn str_list(name: &str, v: &Value) -> Result<Vec<AttrPath>, ScimError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => parse_attribute_list(s),
        Value::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                let s = it.as_str().ok_or_else(|| invalid(format!("'{name}' must hold strings")))?;
                out.extend(parse_attribute_list(s)?);
            }
            Ok(out)
        }
        _ => Err(invalid(format!("'{name}' must be an array of strings"))),
    }
}

fn num(name: &str, v: &Value) -> Result<Option<i64>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None if n.as_u64().is_some() => Ok(Some(i64::MAX)),
            None => Err(invalid(format!("'{name}' must be an integer"))),
        },
        Value::String(s) => int(name, s).map(Some),
        _ => Err(invalid(format!("'{name}' must be an integer"))),
    }
}

fn text(name: &str, v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid(format!("'{name}' must be a string"))),
    }
}

/// Parses a `POST …/.search` body (SearchRequest). `schemas`, when present, must list the
/// SearchRequest URN. Member names are matched case-insensitively; `attributes` may be an array or a
/// comma-separated string.
pub fn parse_search_request(body: &Value, max_results: u32) -> Result<ListParams, ScimError> {
    let o =
        body.as_object().ok_or_else(|| ScimError::bad(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    if let Some(s) = get_ci(o, "schemas") {
        let ok = s.as_array().is_some_and(|a| {
            a.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SCHEMA_SEARCH_REQUEST)))
        });
        if !ok {
            return Err(invalid(format!("'schemas' must contain '{SCHEMA_SEARCH_REQUEST}'")));
        }
    }
    let g = |n: &str| get_ci(o, n).unwrap_or(&Value::Null);
    let r = Raw {
        filter: text("filter", g("filter"))?,
        sort_by: text("sortBy", g("sortBy"))?,
        sort_order: text("sortOrder", g("sortOrder"))?,
        start_index: num("startIndex", g("startIndex"))?,
        count: num("count", g("count"))?,
        attributes: str_list("attributes", g("attributes"))?,
        excluded: str_list("excludedAttributes", g("excludedAttributes"))?,
    };
    finish(r, max_results)
}

/// The ListResponse envelope (RFC 7644 §3.4.2); `itemsPerPage` is the number of resources given.
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [SCHEMA_LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}
