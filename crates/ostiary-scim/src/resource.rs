//! Validation and normalisation of POSTed and PUT resources against a resource type: the `schemas`
//! list, canonical attribute names, type checks and coercions, readOnly and unknown attributes
//! dropped, required attributes, and the immutability check for PUT.

use crate::error::{ScimError, ScimType};
use crate::schema::{AttrDef, AttrType, Mutability, ResourceSchema, Schema};
use crate::value::{get_ci, is_unassigned, normalize_attr};
use serde_json::{Map, Value};

/// Whether a body creates (POST) or replaces (PUT) a resource. Both follow the same rules here; PUT
/// additionally goes through [`check_immutables`] against the stored resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Replace,
}

/// Schema URNs that clients list although they are not SCIM schemas; accepted and dropped. Entra
/// sends `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group` on group creation.
const TOLERATED_URN_PREFIXES: &[&str] = &["http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/"];

fn tolerated(urn: &str) -> bool {
    TOLERATED_URN_PREFIXES.iter().any(|p| urn.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

fn invalid(t: ScimType, d: impl Into<String>) -> ScimError {
    ScimError::bad(t, d)
}

/// Inserts `v` at `name`, merging objects (so `name` and `name.givenName` keys combine).
fn insert_merge(o: &mut Map<String, Value>, name: &str, v: Value) {
    match (o.get_mut(name), v) {
        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
        (_, v) => {
            o.insert(name.to_owned(), v);
        }
    }
}

/// Writes one body key (`attr` or dotted `attr.sub`) of `schema` into `out`; unknown and readOnly
/// attributes are dropped.
fn set_attr(
    rs: &ResourceSchema,
    schema: &Schema,
    key: &str,
    v: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let (name, sub) = match key.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (key, None),
    };
    let Some((_, def)) = rs.attr(Some(schema.id), name) else { return Ok(()) };
    if def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    match sub {
        None => {
            if let Some(nv) = normalize_attr(def, v, def.name)? {
                insert_merge(out, def.name, nv);
            }
        }
        Some(sub) if def.ty == AttrType::Complex && !def.multi_valued => {
            let Some(sd) = def.sub(sub).filter(|d| d.mutability != Mutability::ReadOnly) else { return Ok(()) };
            if let Some(nv) = normalize_attr(sd, v, &format!("{}.{}", def.name, sd.name))? {
                let mut m = Map::new();
                m.insert(sd.name.to_owned(), nv);
                insert_merge(out, def.name, Value::Object(m));
            }
        }
        Some(_) => {}
    }
    Ok(())
}

fn check_required(attrs: &[AttrDef], o: &Map<String, Value>) -> Result<(), ScimError> {
    for a in attrs.iter().filter(|a| a.required) {
        if o.get(a.name).is_none_or(is_unassigned) {
            return Err(invalid(ScimType::InvalidValue, format!("attribute '{}' is required", a.name)));
        }
    }
    Ok(())
}

/// Checks and normalises a POSTed/PUT resource: `schemas` must contain the core schema URN (400
/// `invalidSyntax` when missing or malformed, `invalidValue` when the core URN is absent or a URN is
/// unknown); extension data must be under its URN key (its URN is added to `schemas` if missing, and
/// only extensions with data are listed); attribute names are rewritten to canonical case; dotted keys
/// (`name.givenName`) and URN-qualified keys (`urn:…:User:userName`) are accepted; readOnly attributes
/// (`id`, `meta`, `groups`, `manager.displayName`, `members.display`) and unknown attributes are
/// dropped; `"True"`/`"False"` strings are coerced for booleans; a bare string element of a complex
/// multi-valued attribute means `{"value": …}`; nulls and empty arrays are unassigned; wrong types,
/// missing required attributes and more than one `primary: true` are 400 `invalidValue`.
pub fn normalize(body: &Value, rs: &ResourceSchema, mode: Mode) -> Result<Value, ScimError> {
    let _ = mode;
    let o = body.as_object().ok_or_else(|| invalid(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    let schemas = get_ci(o, "schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(ScimType::InvalidSyntax, "'schemas' must be an array of schema URNs"))?;
    let mut has_core = false;
    for s in schemas {
        let s = s.as_str().ok_or_else(|| invalid(ScimType::InvalidSyntax, "'schemas' must contain strings"))?;
        if s.eq_ignore_ascii_case(rs.core.id) {
            has_core = true;
        } else if rs.extension(s).is_none() && !tolerated(s) {
            return Err(invalid(ScimType::InvalidValue, format!("unknown schema '{s}' for {}", rs.name)));
        }
    }
    if !has_core {
        return Err(invalid(ScimType::InvalidValue, format!("'schemas' must contain '{}'", rs.core.id)));
    }
    let mut out = Map::new();
    let mut ext_out: Vec<(&Schema, Map<String, Value>)> = rs.extensions.iter().map(|e| (*e, Map::new())).collect();
    for (k, v) in o {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some((ext, m)) = ext_out.iter_mut().find(|(e, _)| e.id.eq_ignore_ascii_case(k)) {
            match v {
                Value::Object(eo) => {
                    for (ek, ev) in eo {
                        set_attr(rs, ext, ek, ev, m)?;
                    }
                }
                Value::Null => {}
                _ => return Err(invalid(ScimType::InvalidValue, format!("'{}' must be an object", ext.id))),
            }
            continue;
        }
        let urn_key = k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        match k.rfind(':').filter(|_| urn_key) {
            Some(i) => {
                let (uri, name) = (k.get(..i).unwrap_or_default(), k.get(i + 1..).unwrap_or_default());
                if rs.core.id.eq_ignore_ascii_case(uri) {
                    set_attr(rs, rs.core, name, v, &mut out)?;
                } else if let Some((ext, m)) = ext_out.iter_mut().find(|(e, _)| e.id.eq_ignore_ascii_case(uri)) {
                    set_attr(rs, ext, name, v, m)?;
                }
            }
            None => set_attr(rs, rs.core, k, v, &mut out)?,
        }
    }
    check_required(rs.core.attributes, &out)?;
    let mut listed = vec![Value::from(rs.core.id)];
    for (ext, m) in ext_out {
        check_required(ext.attributes, &m)?;
        if !m.is_empty() {
            listed.push(Value::from(ext.id));
            out.insert(ext.id.to_owned(), Value::Object(m));
        }
    }
    out.insert("schemas".into(), Value::Array(listed));
    Ok(Value::Object(out))
}

/// For PUT: refuses (400 `mutability`) a change to an immutable attribute, or immutable
/// sub-attribute of a single-valued complex attribute, that already has a value. Sub-attributes of
/// multi-valued attributes (`members.value`) identify elements, which may be added and removed.
pub fn check_immutables(old: &Value, new: &Value, rs: &ResourceSchema) -> Result<(), ScimError> {
    let scopes = std::iter::once((rs.core, None)).chain(rs.extensions.iter().map(|e| (*e, Some(e.id))));
    for (schema, key) in scopes {
        let pick = |v: &Value| -> Option<Map<String, Value>> {
            let o = v.as_object()?;
            match key {
                Some(k) => get_ci(o, k).and_then(Value::as_object).cloned(),
                None => Some(o.clone()),
            }
        };
        let (o, n) = (pick(old).unwrap_or_default(), pick(new).unwrap_or_default());
        for a in schema.attributes {
            let (ov, nv) = (get_ci(&o, a.name), get_ci(&n, a.name));
            let Some(ov) = ov.filter(|v| !is_unassigned(v)) else { continue };
            if a.mutability == Mutability::Immutable && Some(ov) != nv {
                return Err(ScimError::bad(ScimType::Mutability, format!("attribute '{}' is immutable", a.name)));
            }
            if a.ty == AttrType::Complex && !a.multi_valued {
                for sd in a.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
                    let osv = ov.get(sd.name).filter(|v| !is_unassigned(v));
                    if osv.is_some() && osv != nv.and_then(|v| v.get(sd.name)) {
                        return Err(ScimError::bad(
                            ScimType::Mutability,
                            format!("attribute '{}.{}' is immutable", a.name, sd.name),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
