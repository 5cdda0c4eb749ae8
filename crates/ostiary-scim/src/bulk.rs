//! Bulk requests (RFC 7644 §3.7): parsing, `bulkId` references, execution order with cycle
//! detection, and the BulkResponse.

use crate::error::{ScimError, ScimType};
use crate::value::get_ci;
use crate::{SCHEMA_BULK_REQUEST, SCHEMA_BULK_RESPONSE};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkOp {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    pub fail_on_errors: Option<u32>,
    pub operations: Vec<BulkOp>,
}

/// Longest `bulkId` accepted.
const MAX_BULK_ID_LEN: usize = 256;

fn bad(t: ScimType, d: impl Into<String>) -> ScimError {
    ScimError::bad(t, d)
}

/// Parses a BulkRequest: `schemas` must list the BulkRequest URN and `Operations` be an array (400
/// `invalidSyntax`); more than `max_operations` is 413 (RFC 7644 §3.7.4); each operation needs a
/// known `method` (case-insensitive) and a `path` starting with '/'; POST needs a `bulkId`;
/// POST/PUT/PATCH need an object `data` (400 `invalidValue` / `invalidSyntax`). Duplicate `bulkId`s
/// are 400 `invalidValue`.
pub fn parse_bulk(body: &Value, max_operations: u32) -> Result<BulkRequest, ScimError> {
    let o = body.as_object().ok_or_else(|| bad(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    let listed = get_ci(o, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SCHEMA_BULK_REQUEST))));
    if !listed {
        return Err(bad(ScimType::InvalidSyntax, format!("'schemas' must contain '{SCHEMA_BULK_REQUEST}'")));
    }
    let fail_on_errors = match get_ci(o, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(ScimType::InvalidValue, "'failOnErrors' must be a non-negative integer"))?,
        ),
    };
    let ops = get_ci(o, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(ScimType::InvalidSyntax, "'Operations' must be an array"))?;
    if ops.len() > max_operations as usize {
        return Err(ScimError::too_large(format!(
            "The number of operations ({}) exceeds the maxOperations ({max_operations})",
            ops.len()
        )));
    }
    let mut operations = Vec::with_capacity(ops.len());
    let mut ids = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        let op = parse_op(i, op)?;
        if let Some(id) = &op.bulk_id
            && !ids.insert(id.clone())
        {
            return Err(bad(ScimType::InvalidValue, format!("operation {i}: duplicate bulkId '{id}'")));
        }
        operations.push(op);
    }
    Ok(BulkRequest { fail_on_errors, operations })
}

fn parse_op(i: usize, op: &Value) -> Result<BulkOp, ScimError> {
    let o = op.as_object().ok_or_else(|| bad(ScimType::InvalidSyntax, format!("operation {i} is not an object")))?;
    let method = match get_ci(o, "method").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("POST") => BulkMethod::Post,
        Some("PUT") => BulkMethod::Put,
        Some("PATCH") => BulkMethod::Patch,
        Some("DELETE") => BulkMethod::Delete,
        _ => return Err(bad(ScimType::InvalidValue, format!("operation {i}: unknown 'method'"))),
    };
    let opt_str = |name: &str| -> Result<Option<String>, ScimError> {
        match get_ci(o, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(ScimType::InvalidValue, format!("operation {i}: '{name}' must be a string"))),
        }
    };
    let bulk_id = opt_str("bulkId")?;
    if bulk_id.as_ref().is_some_and(|b| b.is_empty() || b.len() > MAX_BULK_ID_LEN) {
        return Err(bad(ScimType::InvalidValue, format!("operation {i}: invalid 'bulkId'")));
    }
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(bad(ScimType::InvalidValue, format!("operation {i}: POST requires a 'bulkId'")));
    }
    let path = opt_str("path")?.filter(|p| p.starts_with('/')).ok_or_else(|| {
        bad(ScimType::InvalidValue, format!("operation {i}: 'path' must be a string starting with '/'"))
    })?;
    let data = match (method, get_ci(o, "data")) {
        (BulkMethod::Delete, _) => None,
        (_, Some(d @ Value::Object(_))) => Some(d.clone()),
        _ => return Err(bad(ScimType::InvalidSyntax, format!("operation {i}: 'data' must be an object"))),
    };
    Ok(BulkOp { method, bulk_id, version: opt_str("version")?, path, data })
}

const PREFIX: &str = "bulkId:";

fn walk(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX) {
                f(id);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// The `bulkId`s an operation refers to, in its `data` and in its `path` (`/Groups/bulkId:x`).
fn refs(op: &BulkOp) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = &op.data {
        walk(d, &mut |id| out.push(id.to_owned()));
    }
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix(PREFIX) {
            out.push(id.to_owned());
        }
    }
    out
}

/// Replaces every string `"bulkId:<id>"` anywhere in `data` with the created resource's id;
/// `Err(id)` for the first unknown id (RFC 7644 §3.7.2: the operation then fails with 409).
pub fn resolve_bulk_ids(data: &mut Value, created: &HashMap<String, String>) -> Result<(), String> {
    match data {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX) {
                let real = created.get(id).ok_or_else(|| id.to_owned())?;
                *s = real.clone();
            }
            Ok(())
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve_bulk_ids(x, created)),
        Value::Object(o) => o.values_mut().try_for_each(|x| resolve_bulk_ids(x, created)),
        _ => Ok(()),
    }
}

/// Resolves `bulkId:<id>` path segments (`/Groups/bulkId:qwerty`) like [`resolve_bulk_ids`].
pub fn resolve_bulk_path(path: &str, created: &HashMap<String, String>) -> Result<String, String> {
    let segs: Result<Vec<String>, String> = path
        .split('/')
        .map(|seg| match seg.strip_prefix(PREFIX) {
            Some(id) => created.get(id).cloned().ok_or_else(|| id.to_owned()),
            None => Ok(seg.to_owned()),
        })
        .collect();
    segs.map(|s| s.join("/"))
}

/// The order in which to run the operations so that each referenced `bulkId` is created first
/// (otherwise request order), and the operations that cannot run because they are in, or depend
/// on, a circular reference (answer 409 for them, RFC 7644 §3.7.1). References to `bulkId`s that no
/// operation defines do not constrain the order; they fail when resolved.
pub fn execution_order(ops: &[BulkOp]) -> (Vec<usize>, Vec<usize>) {
    let by_id: HashMap<&str, usize> =
        ops.iter().enumerate().filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i))).collect();
    let mut pending = vec![0usize; ops.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let mut deps: Vec<usize> = refs(op).iter().filter_map(|r| by_id.get(r.as_str()).copied()).collect();
        deps.sort_unstable();
        deps.dedup();
        for d in deps {
            if let (Some(p), Some(ds)) = (pending.get_mut(i), dependents.get_mut(d)) {
                *p += 1;
                ds.push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = pending.iter().enumerate().filter(|(_, p)| **p == 0).map(|(i, _)| i).collect();
    let mut order = Vec::with_capacity(ops.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in dependents.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(p) = pending.get_mut(j) {
                *p -= 1;
                if *p == 0 {
                    ready.insert(j);
                }
            }
        }
    }
    let circular = pending.iter().enumerate().filter(|(_, p)| **p > 0).map(|(i, _)| i).collect();
    (order, circular)
}

/// The BulkResponse envelope.
pub fn bulk_response(results: Vec<Value>) -> Value {
    json!({ "schemas": [SCHEMA_BULK_RESPONSE], "Operations": results })
}

/// One operation's result: `method`, `bulkId`, `location`, `version`, `status` (a string, as in RFC
/// 7644 §3.7.3) and, on error, `response` holding the SCIM error body.
pub fn bulk_op_result(
    method: &BulkMethod,
    bulk_id: Option<&str>,
    location: Option<&str>,
    version: Option<&str>,
    status: u16,
    error: Option<&ScimError>,
) -> Value {
    let mut o = Map::new();
    o.insert("method".into(), method.as_str().into());
    if let Some(b) = bulk_id {
        o.insert("bulkId".into(), b.into());
    }
    if let Some(l) = location {
        o.insert("location".into(), l.into());
    }
    if let Some(v) = version {
        o.insert("version".into(), v.into());
    }
    o.insert("status".into(), status.to_string().into());
    if let Some(e) = error {
        o.insert("response".into(), e.to_json());
    }
    Value::Object(o)
}
