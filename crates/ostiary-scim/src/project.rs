//! Projection of a resource for a response: `attributes` / `excludedAttributes` (RFC 7644
//! §3.4.2.5) honouring each attribute's `returned` characteristic (RFC 7643 §7).

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, parse_attr_path};
use crate::schema::{AttrDef, AttrType, ResourceSchema, Returned};
use crate::value::{get_ci, key_of};
use crate::{MAX_ATTRIBUTE_PATHS, MAX_INPUT_LEN};
use serde_json::{Map, Value};

/// Parses a comma-separated attribute list (whitespace tolerant, URN-qualified names allowed). A
/// value filter (`emails[type eq "work"]`, sent by the Microsoft reference Postman suite) is
/// tolerated and ignored: it selects the whole attribute. Errors are 400 `invalidPath`.
pub fn parse_attribute_list(s: &str) -> Result<Vec<AttrPath>, ScimError> {
    if s.len() > MAX_INPUT_LEN {
        return Err(ScimError::bad(ScimType::InvalidPath, "attribute list too long"));
    }
    let (mut out, mut depth, mut in_str, mut esc, mut start) = (Vec::new(), 0usize, false, false, 0);
    let mut parts = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            _ if in_str && esc => esc = false,
            '\\' if in_str => esc = true,
            '"' => in_str = !in_str,
            '[' if !in_str => depth += 1,
            ']' if !in_str => depth = depth.saturating_sub(1),
            ',' if !in_str && depth == 0 => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() >= MAX_ATTRIBUTE_PATHS {
            return Err(ScimError::bad(ScimType::InvalidPath, "too many attributes"));
        }
        let mut p = parse_attr_path(part)?;
        p.value_filter = None;
        out.push(p);
    }
    Ok(out)
}

/// Where a path points: the container key (`None` = resource root, or an extension URN), the
/// definition, the sub-attribute name; `Whole(ext)` for a bare extension URN.
enum Target {
    Attr { ext: Option<&'static str>, def: &'static AttrDef, sub: Option<&'static AttrDef> },
    Whole(&'static str),
}

fn target(rs: &ResourceSchema, p: &AttrPath) -> Option<Target> {
    if let Some(ext) = p.whole_extension(rs) {
        return Some(Target::Whole(ext.id));
    }
    let (schema, def) = rs.attr(p.uri.as_deref(), &p.attr)?;
    let sub = match &p.sub {
        Some(s) => Some(def.sub(s)?),
        None => None,
    };
    let ext = (!std::ptr::eq(schema, rs.core)).then_some(schema.id);
    Some(Target::Attr { ext, def, sub })
}

fn returned_by_default(d: &AttrDef) -> bool {
    matches!(d.returned, Returned::Always | Returned::Default)
}

/// Drops `never` and `request` sub-attributes inside one value.
fn clean_value(def: &AttrDef, v: &mut Value) {
    if def.ty != AttrType::Complex {
        return;
    }
    let clean_obj = |o: &mut Map<String, Value>| {
        o.retain(|k, _| def.sub(k).is_none_or(returned_by_default));
    };
    match v {
        Value::Object(o) => clean_obj(o),
        Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).for_each(clean_obj),
        _ => {}
    }
}

/// The attributes of one container (the root or an extension object) as definitions.
fn container_defs<'a>(rs: &'a ResourceSchema, ext: Option<&str>) -> Box<dyn Iterator<Item = &'static AttrDef> + 'a> {
    match ext.and_then(|e| rs.extension(e)) {
        Some(s) => Box::new(s.attributes.iter()),
        None => Box::new(rs.core.attributes.iter().chain(crate::schema::COMMON_ATTRS.iter())),
    }
}

/// Removes `returned: never` attributes (`password`) and `returned: request` ones, at top level, in
/// extensions and among sub-attributes. Unknown keys are left alone.
pub fn strip_never(resource: &mut Value, rs: &ResourceSchema) {
    let Some(root) = resource.as_object_mut() else { return };
    strip_container(root, rs, None);
    for ext in rs.extensions {
        if let Some(k) = key_of(root, ext.id)
            && let Some(Value::Object(eo)) = root.get_mut(&k)
        {
            strip_container(eo, rs, Some(ext.id));
        }
    }
}

fn strip_container(o: &mut Map<String, Value>, rs: &ResourceSchema, ext: Option<&str>) {
    for d in container_defs(rs, ext) {
        if let Some(k) = key_of(o, d.name) {
            if !returned_by_default(d) {
                o.remove(&k);
            } else if let Some(v) = o.get_mut(&k) {
                clean_value(d, v);
            }
        }
    }
}

/// Copies the value at `t` from `src` into `dst` (only the sub-attribute when the path has one).
fn copy_target(src: &Map<String, Value>, dst: &mut Map<String, Value>, t: &Target) {
    match t {
        Target::Whole(id) => {
            if let Some(v) = get_ci(src, id) {
                dst.insert((*id).to_owned(), v.clone());
            }
        }
        Target::Attr { ext, def, sub } => {
            let from = match ext {
                Some(e) => get_ci(src, e).and_then(Value::as_object),
                None => Some(src),
            };
            let Some(v) = from.and_then(|f| get_ci(f, def.name)) else { return };
            let to = match ext {
                Some(e) => {
                    let slot = dst.entry((*e).to_owned()).or_insert_with(|| Value::Object(Map::new()));
                    match slot.as_object_mut() {
                        Some(o) => o,
                        None => return,
                    }
                }
                None => dst,
            };
            let picked = match sub {
                None => v.clone(),
                Some(sd) => {
                    let pick = |e: &Value| -> Option<Value> {
                        let mut m = Map::new();
                        m.insert(sd.name.to_owned(), get_ci(e.as_object()?, sd.name)?.clone());
                        Some(Value::Object(m))
                    };
                    match v {
                        Value::Array(items) => Value::Array(items.iter().filter_map(pick).collect()),
                        other => match pick(other) {
                            Some(p) => p,
                            None => return,
                        },
                    }
                }
            };
            match (to.get_mut(def.name), picked) {
                (Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
                (Some(Value::Array(a)), Value::Array(b)) => {
                    for (x, y) in a.iter_mut().zip(b) {
                        if let (Value::Object(x), Value::Object(y)) = (x, y) {
                            x.extend(y);
                        }
                    }
                }
                (_, p) => {
                    to.insert(def.name.to_owned(), p);
                }
            }
        }
    }
}

fn remove_target(dst: &mut Map<String, Value>, t: &Target) {
    match t {
        Target::Whole(id) => {
            if let Some(k) = key_of(dst, id) {
                dst.remove(&k);
            }
        }
        Target::Attr { ext, def, sub } => {
            if def.returned == Returned::Always && sub.is_none() {
                return;
            }
            let container = match ext {
                Some(e) => match key_of(dst, e).and_then(|k| dst.get_mut(&k)).and_then(Value::as_object_mut) {
                    Some(o) => o,
                    None => return,
                },
                None => dst,
            };
            let Some(k) = key_of(container, def.name) else { return };
            match sub {
                None => {
                    container.remove(&k);
                }
                Some(sd) => {
                    if let Some(v) = container.get_mut(&k) {
                        match v {
                            Value::Object(o) => {
                                o.remove(sd.name);
                            }
                            Value::Array(items) => {
                                for o in items.iter_mut().filter_map(Value::as_object_mut) {
                                    o.remove(sd.name);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// Projects `resource` for a response. With `attributes`, the result holds `schemas`, the
/// `returned: always` attributes (`id`) and the requested attributes or sub-attributes (`request`
/// ones included when asked for, `never` ones never); otherwise the resource minus `excluded` (which
/// cannot remove `always` attributes) and minus `never`/`request` attributes. Unknown paths are
/// ignored. `schemas` is reconciled with the extension objects left.
pub fn project(resource: &Value, rs: &ResourceSchema, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Some(src) = resource.as_object() else { return resource.clone() };
    let mut out = Map::new();
    if attributes.is_empty() {
        out = src.clone();
        let mut v = Value::Object(out);
        strip_never(&mut v, rs);
        out = match v {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        for t in excluded.iter().filter_map(|p| target(rs, p)) {
            remove_target(&mut out, &t);
        }
    } else {
        if let Some(s) = get_ci(src, "schemas") {
            out.insert("schemas".into(), s.clone());
        }
        for d in crate::schema::COMMON_ATTRS.iter().chain(rs.core.attributes).filter(|d| d.returned == Returned::Always)
        {
            if let Some(v) = get_ci(src, d.name) {
                out.insert(d.name.to_owned(), v.clone());
            }
        }
        for t in attributes.iter().filter_map(|p| target(rs, p)) {
            if let Target::Attr { def, sub, .. } = &t
                && (def.returned == Returned::Never || sub.is_some_and(|s| s.returned == Returned::Never))
            {
                continue;
            }
            copy_target(src, &mut out, &t);
        }
        for ext in rs.extensions {
            if let Some(Value::Object(eo)) = out.get_mut(ext.id) {
                strip_container(eo, rs, Some(ext.id));
            }
        }
    }
    for ext in rs.extensions {
        let present = key_of(&out, ext.id)
            .and_then(|k| out.get(&k))
            .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        if !present && let Some(k) = key_of(&out, ext.id) {
            out.remove(&k);
        }
        if let Some(Value::Array(list)) = out.get_mut("schemas") {
            let listed = list.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ext.id)));
            if present && !listed {
                list.push(ext.id.into());
            } else if !present && listed {
                list.retain(|u| !u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ext.id)));
            }
        }
    }
    Value::Object(out)
}
