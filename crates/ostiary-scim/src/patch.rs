//! PATCH (RFC 7644 §3.5.2) with the quirks of Entra's provisioning service (entra-compat §8):
//! capitalised `op`, boolean strings, member removal by `path: "members"` plus a value array,
//! path-less replace with dotted and URN-qualified keys, single-valued `Add` as replace, and value
//! paths that create the element they target when none matches.

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, CompValue, CompareOp, Filter, parse_attr_path};
use crate::schema::{AttrDef, AttrType, Mutability, ResourceSchema};
use crate::value::{
    check_primary, get_ci, is_unassigned, keep_one_primary, key_of, normalize_attr, primary_index, remove_ci, single,
};
use crate::{MAX_PATCH_OPS, SCHEMA_PATCH_OP};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: PatchOpKind,
    pub path: Option<AttrPath>,
    pub value: Option<Value>,
}

fn bad(t: ScimType, d: impl Into<String>) -> ScimError {
    ScimError::bad(t, d)
}

/// Parses a PatchOp body: `schemas` must include the PatchOp URN; `Operations` (any key case) is a
/// non-empty array of at most [`MAX_PATCH_OPS`]; `op` is case-insensitive; `path` is an attribute
/// path (an empty path counts as absent); `add`/`replace` need a `value` (400 `invalidValue`),
/// `remove` needs a `path` (400 `noTarget`). Other members of an operation (`name`, …) are ignored.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let o = body.as_object().ok_or_else(|| bad(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    let schemas = get_ci(o, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SCHEMA_PATCH_OP)))) {
        return Err(bad(ScimType::InvalidSyntax, format!("'schemas' must contain '{SCHEMA_PATCH_OP}'")));
    }
    let ops = get_ci(o, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(ScimType::InvalidSyntax, "'Operations' must be an array"))?;
    if ops.is_empty() {
        return Err(bad(ScimType::InvalidValue, "'Operations' is empty"));
    }
    if ops.len() > MAX_PATCH_OPS {
        return Err(bad(ScimType::TooMany, format!("more than {MAX_PATCH_OPS} operations")));
    }
    ops.iter().enumerate().map(|(i, op)| parse_op(i, op)).collect()
}

fn parse_op(i: usize, op: &Value) -> Result<PatchOp, ScimError> {
    let o = op.as_object().ok_or_else(|| bad(ScimType::InvalidSyntax, format!("operation {i} is not an object")))?;
    let kind = match get_ci(o, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => PatchOpKind::Add,
        Some("remove") => PatchOpKind::Remove,
        Some("replace") => PatchOpKind::Replace,
        _ => return Err(bad(ScimType::InvalidSyntax, format!("operation {i}: 'op' must be add, remove or replace"))),
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            parse_attr_path(s.trim())
                .map_err(|e| ScimError::bad(ScimType::InvalidPath, format!("operation {i}: {}", e.detail)))?,
        ),
        Some(_) => return Err(bad(ScimType::InvalidPath, format!("operation {i}: 'path' must be a string"))),
    };
    let value = get_ci(o, "value").cloned();
    match kind {
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(bad(ScimType::InvalidValue, format!("operation {i}: 'value' is required")));
        }
        PatchOpKind::Remove if path.is_none() => {
            return Err(bad(ScimType::NoTarget, format!("operation {i}: 'remove' requires a 'path'")));
        }
        _ => {}
    }
    Ok(PatchOp { op: kind, path, value })
}

fn mutability(name: &str, what: &str) -> ScimError {
    bad(ScimType::Mutability, format!("attribute '{name}' is {what}"))
}

/// Applies `ops` in order to a full resource (as returned by GET, with `members` for groups).
/// All-or-nothing: on error `resource` is unchanged. Returns whether anything changed.
///
/// Semantics beyond the RFC, chosen for Entra and scim2-tester:
/// * a path that names an extension URN targets the whole extension object (add/replace merge into
///   it, remove deletes it); path-less values may use dotted keys, full-URN keys and URN keys
///   whose value is an object; unknown keys in a path-less value are ignored;
/// * `add`/`replace` through a value path that matches nothing append an element built from the
///   filter's `eq` terms (`emails[type eq "work"].value` → `{type:"work", value:…}`); a filter with
///   other operators then gives 400 `noTarget`. `remove` through a value path that matches nothing
///   succeeds without change (idempotent member removal);
/// * `remove` of a multi-valued complex attribute with a `value` array removes only the listed
///   elements (matched by `value`); `add` to a multi-valued attribute appends, merging an element
///   whose `value` is already present; `replace` of a multi-valued attribute replaces all;
///   `add`/`replace` of a single-valued complex attribute merge sub-attributes (RFC 7644 §3.5.2.3);
/// * `primary: true` written on one element clears it on the others;
/// * readOnly targets give 400 `mutability`, as does changing an immutable value that is set;
///   removing a required attribute, or replacing it by an empty value, gives 400 `invalidValue`;
///   an unknown attribute in a `path` gives 400 `invalidPath`.
pub fn apply_patch(resource: &mut Value, ops: &[PatchOp], rs: &ResourceSchema) -> Result<bool, ScimError> {
    let mut work = resource.clone();
    let root = work.as_object_mut().ok_or_else(|| bad(ScimType::InvalidSyntax, "the resource is not an object"))?;
    for op in ops {
        match &op.path {
            Some(p) => apply_path(root, op.op, p, op.value.as_ref(), rs, false)?,
            None => apply_pathless(root, op, rs)?,
        }
    }
    tidy(root, rs);
    for a in rs.core.attributes.iter().filter(|a| a.required) {
        let had = resource.get(a.name).is_some_and(|v| !is_unassigned(v));
        if had && root.get(a.name).is_none_or(is_unassigned) {
            return Err(bad(ScimType::InvalidValue, format!("attribute '{}' is required", a.name)));
        }
    }
    let changed = work != *resource;
    *resource = work;
    Ok(changed)
}

/// Lists present extensions in `schemas` and removes emptied extension objects with their URN.
fn tidy(root: &mut Map<String, Value>, rs: &ResourceSchema) {
    for ext in rs.extensions {
        let key = key_of(root, ext.id);
        let present = key.as_ref().and_then(|k| root.get(k)).is_some_and(|v| !is_unassigned(v));
        if let (Some(k), false) = (&key, present) {
            root.remove(k);
        }
        let schemas = root.entry("schemas").or_insert_with(|| Value::Array(vec![rs.core.id.into()]));
        if let Some(list) = schemas.as_array_mut() {
            let listed = list.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ext.id)));
            if present && !listed {
                list.push(ext.id.into());
            } else if !present {
                list.retain(|u| !u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ext.id)));
            }
        }
    }
}

fn apply_pathless(root: &mut Map<String, Value>, op: &PatchOp, rs: &ResourceSchema) -> Result<(), ScimError> {
    let value = op
        .value
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| bad(ScimType::InvalidValue, "an operation without 'path' needs an object 'value'"))?;
    for (k, v) in value {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        // `name.givenName`, `urn:…:User:employeeNumber`, or a bare extension URN (whole object).
        let p = parse_attr_path(k)?;
        apply_path(root, op.op, &p, Some(v), rs, true)?;
    }
    Ok(())
}

/// The object holding `schema`'s attributes: the resource itself, or its extension object (created
/// when `create`).
fn container<'a>(
    root: &'a mut Map<String, Value>,
    rs: &ResourceSchema,
    schema_id: &str,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    if schema_id == rs.core.id {
        return Some(root);
    }
    let key = match key_of(root, schema_id) {
        Some(k) => k,
        None if create => schema_id.to_owned(),
        None => return None,
    };
    let slot = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

fn apply_path(
    root: &mut Map<String, Value>,
    kind: PatchOpKind,
    p: &AttrPath,
    value: Option<&Value>,
    rs: &ResourceSchema,
    pathless: bool,
) -> Result<(), ScimError> {
    if let Some(ext) = p.whole_extension(rs) {
        if kind == PatchOpKind::Remove {
            remove_ci(root, ext.id);
            return Ok(());
        }
        let obj = value
            .and_then(Value::as_object)
            .ok_or_else(|| bad(ScimType::InvalidValue, format!("the value for '{}' must be an object", ext.id)))?;
        for (k, v) in obj {
            let mut sp = parse_attr_path(k)?;
            sp.uri = Some(ext.id.to_owned());
            apply_path(root, kind, &sp, Some(v), rs, true)?;
        }
        return Ok(());
    }
    let Some((schema, def)) = rs.attr(p.uri.as_deref(), &p.attr) else {
        if pathless {
            return Ok(());
        }
        return Err(bad(ScimType::InvalidPath, format!("unknown attribute '{p}'")));
    };
    if def.mutability == Mutability::ReadOnly {
        return Err(mutability(def.name, "readOnly"));
    }
    let Some(c) = container(root, rs, schema.id, kind != PatchOpKind::Remove) else { return Ok(()) };
    if let Some(k) = key_of(c, def.name)
        && k != def.name
        && let Some(v) = c.remove(&k)
    {
        c.insert(def.name.to_owned(), v);
    }
    match (&p.value_filter, &p.sub) {
        (None, None) => whole(c, def, kind, value),
        (None, Some(sub)) => sub_of_all(c, def, sub, kind, value),
        (Some(vf), sub) => filtered(c, def, vf, sub.as_deref(), kind, value),
    }
}

fn value_of(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(o) => get_ci(o, "value"),
        other => Some(other),
    }
}

/// The target is the attribute itself.
fn whole(c: &mut Map<String, Value>, def: &AttrDef, kind: PatchOpKind, value: Option<&Value>) -> Result<(), ScimError> {
    let current = c.get(def.name).filter(|v| !is_unassigned(v)).cloned();
    if kind == PatchOpKind::Remove {
        if let (Some(v), true) = (value, def.multi_valued && def.ty == AttrType::Complex) {
            // Entra quirk 3: remove just the listed elements.
            let drop: Vec<Value> = match v {
                Value::Array(a) => a.iter().filter_map(value_of).cloned().collect(),
                other => value_of(other).cloned().into_iter().collect(),
            };
            if let Some(Value::Array(items)) = c.get_mut(def.name) {
                items.retain(|e| !value_of(e).is_some_and(|x| drop.contains(x)));
                if items.is_empty() {
                    c.remove(def.name);
                }
            }
            return Ok(());
        }
        if current.is_some() && def.required {
            return Err(bad(ScimType::InvalidValue, format!("attribute '{}' is required", def.name)));
        }
        if current.is_some() && def.mutability == Mutability::Immutable {
            return Err(mutability(def.name, "immutable"));
        }
        c.remove(def.name);
        return Ok(());
    }
    let v = value.unwrap_or(&Value::Null);
    let Some(nv) = normalize_attr(def, v, def.name)? else {
        if kind == PatchOpKind::Replace && current.is_some() {
            if def.required {
                return Err(bad(ScimType::InvalidValue, format!("attribute '{}' is required", def.name)));
            }
            if def.mutability == Mutability::Immutable {
                return Err(mutability(def.name, "immutable"));
            }
            c.remove(def.name);
        }
        return Ok(());
    };
    if def.multi_valued {
        let new_items = match nv {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut items = match (kind, current) {
            (PatchOpKind::Add, Some(Value::Array(old))) => old,
            _ => Vec::new(),
        };
        let mut touched = Vec::new();
        for it in new_items {
            let same_value = |e: &Value| {
                def.sub("value").is_some() && it.get("value").is_some() && e.get("value") == it.get("value")
            };
            if let Some(i) = items.iter().position(|e| *e == it || same_value(e)) {
                if let (Some(Value::Object(old)), Value::Object(new)) = (items.get_mut(i), it) {
                    old.extend(new);
                }
                touched.push(i);
            } else {
                items.push(it);
                touched.push(items.len() - 1);
            }
        }
        let winner = primary_index(&items, touched);
        keep_one_primary(&mut items, winner);
        check_primary(def, &items, def.name)?;
        c.insert(def.name.to_owned(), Value::Array(items));
        return Ok(());
    }
    let nv = match (current, nv) {
        (Some(Value::Object(mut old)), Value::Object(new)) => {
            for sd in def.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
                if old.get(sd.name).is_some_and(|o| new.get(sd.name).is_some_and(|n| n != o)) {
                    return Err(mutability(&format!("{}.{}", def.name, sd.name), "immutable"));
                }
            }
            old.extend(new);
            Value::Object(old)
        }
        (Some(old), nv) if def.mutability == Mutability::Immutable && old != nv => {
            return Err(mutability(def.name, "immutable"));
        }
        (_, nv) => nv,
    };
    c.insert(def.name.to_owned(), nv);
    Ok(())
}

fn sub_def(def: &AttrDef, sub: &str) -> Result<&'static AttrDef, ScimError> {
    if def.ty != AttrType::Complex {
        return Err(bad(ScimType::InvalidPath, format!("'{}' has no sub-attributes", def.name)));
    }
    let sd =
        def.sub(sub).ok_or_else(|| bad(ScimType::InvalidPath, format!("unknown attribute '{}.{sub}'", def.name)))?;
    if sd.mutability == Mutability::ReadOnly {
        return Err(mutability(&format!("{}.{}", def.name, sd.name), "readOnly"));
    }
    Ok(sd)
}

/// Writes (or removes, for `None`) sub-attribute `sd` of one element, refusing immutable changes.
fn set_sub(elem: &mut Value, def: &AttrDef, sd: &AttrDef, nv: Option<&Value>) -> Result<(), ScimError> {
    if !elem.is_object() {
        *elem = Value::Object(Map::new());
    }
    let Some(o) = elem.as_object_mut() else { return Ok(()) };
    let old = o.get(sd.name).filter(|v| !is_unassigned(v));
    if sd.mutability == Mutability::Immutable && old.is_some() && old != nv {
        return Err(mutability(&format!("{}.{}", def.name, sd.name), "immutable"));
    }
    match nv {
        Some(v) => o.insert(sd.name.to_owned(), v.clone()),
        None => o.remove(sd.name),
    };
    Ok(())
}

/// `name.givenName` (single-valued parent) or `emails.type` (every element).
fn sub_of_all(
    c: &mut Map<String, Value>,
    def: &AttrDef,
    sub: &str,
    kind: PatchOpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let sd = sub_def(def, sub)?;
    let path = format!("{}.{}", def.name, sd.name);
    let nv = match kind {
        PatchOpKind::Remove => None,
        _ => normalize_attr(sd, value.unwrap_or(&Value::Null), &path)?,
    };
    if !def.multi_valued {
        if kind == PatchOpKind::Remove && !c.contains_key(def.name) {
            return Ok(());
        }
        let parent = c.entry(def.name).or_insert_with(|| Value::Object(Map::new()));
        set_sub(parent, def, sd, nv.as_ref())?;
        if is_unassigned(parent) {
            c.remove(def.name);
        }
        return Ok(());
    }
    let items = c.entry(def.name).or_insert_with(|| Value::Array(Vec::new()));
    if !items.is_array() {
        *items = Value::Array(Vec::new());
    }
    if let Value::Array(items) = items {
        if items.is_empty() && nv.is_some() {
            items.push(Value::Object(Map::new()));
        }
        for e in items.iter_mut() {
            set_sub(e, def, sd, nv.as_ref())?;
        }
        items.retain(|e| !is_unassigned(e));
        check_primary(def, items, def.name)?;
    }
    if c.get(def.name).is_some_and(is_unassigned) {
        c.remove(def.name);
    }
    Ok(())
}

/// The element an `add`/`replace` through a value path creates when nothing matches: the filter's
/// `eq` terms (joined by `and`) as sub-attributes.
fn seed(f: &Filter, def: &AttrDef, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::And(a, b) => seed(a, def, out) && seed(b, def, out),
        Filter::Compare { path, op: CompareOp::Eq, value }
            if path.uri.is_none() && path.sub.is_none() && path.value_filter.is_none() =>
        {
            let Some(sd) = def.sub(&path.attr) else { return false };
            let v = match value {
                CompValue::Str(s) => Value::from(s.as_str()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return false,
            };
            match normalize_attr(sd, &v, sd.name) {
                Ok(Some(v)) => {
                    out.insert(sd.name.to_owned(), v);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// `emails[type eq "work"]` and `emails[type eq "work"].value`.
fn filtered(
    c: &mut Map<String, Value>,
    def: &'static AttrDef,
    vf: &Filter,
    sub: Option<&str>,
    kind: PatchOpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !def.multi_valued || def.ty != AttrType::Complex {
        return Err(bad(ScimType::InvalidPath, format!("'{}' is not a multi-valued complex attribute", def.name)));
    }
    let sd = sub.map(|s| sub_def(def, s)).transpose()?;
    let mut items = match c.remove(def.name) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    let matched: Vec<usize> =
        (0..items.len()).filter(|&i| items.get(i).is_some_and(|e| vf.matches_element(e, def))).collect();
    let result = (|| -> Result<(), ScimError> {
        let nv = match (kind, sd) {
            (PatchOpKind::Remove, _) => None,
            (_, Some(sd)) => normalize_attr(sd, value.unwrap_or(&Value::Null), &format!("{}.{}", def.name, sd.name))?,
            (_, None) => {
                let v = match value {
                    Some(Value::Array(a)) if a.len() == 1 => a.first(),
                    v => v,
                };
                single(def, v.unwrap_or(&Value::Null), def.name)?
            }
        };
        let mut touched = matched.clone();
        match (kind, sd) {
            (PatchOpKind::Remove, None) => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !matched.contains(&(i - 1))
                });
                touched.clear();
            }
            (_, Some(sd)) => {
                for &i in &matched {
                    if let Some(e) = items.get_mut(i) {
                        set_sub(e, def, sd, nv.as_ref())?;
                    }
                }
                if matched.is_empty() && kind != PatchOpKind::Remove {
                    let Some(v) = nv else { return Ok(()) };
                    let mut m = Map::new();
                    if !seed(vf, def, &mut m) {
                        return Err(bad(ScimType::NoTarget, format!("no '{}' element matches the filter", def.name)));
                    }
                    m.insert(sd.name.to_owned(), v);
                    items.push(Value::Object(m));
                    touched.push(items.len() - 1);
                }
            }
            (_, None) => {
                let Some(Value::Object(new)) = nv else { return Ok(()) };
                for &i in &matched {
                    let Some(e) = items.get_mut(i) else { continue };
                    let mut merged = match (kind, e.clone()) {
                        (PatchOpKind::Add, Value::Object(old)) => old,
                        _ => Map::new(),
                    };
                    for sd in def.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
                        let old = e.get(sd.name).filter(|v| !is_unassigned(v));
                        if old.is_some() && new.get(sd.name).is_some_and(|n| Some(n) != old) {
                            return Err(mutability(&format!("{}.{}", def.name, sd.name), "immutable"));
                        }
                    }
                    merged.extend(new.clone());
                    *e = Value::Object(merged);
                }
                if matched.is_empty() {
                    let mut m = Map::new();
                    if !seed(vf, def, &mut m) {
                        return Err(bad(ScimType::NoTarget, format!("no '{}' element matches the filter", def.name)));
                    }
                    m.extend(new);
                    items.push(Value::Object(m));
                    touched.push(items.len() - 1);
                }
            }
        }
        items.retain(|e| !is_unassigned(e));
        let winner = primary_index(&items, touched);
        keep_one_primary(&mut items, winner);
        check_primary(def, &items, def.name)
    })();
    result?;
    if !items.is_empty() {
        c.insert(def.name.to_owned(), Value::Array(items));
    }
    Ok(())
}

fn is_members(p: &AttrPath) -> bool {
    p.attr.eq_ignore_ascii_case("members")
        && p.sub.is_none()
        && p.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(crate::SCHEMA_GROUP))
}

fn member_ids(v: &Value, out: &mut Vec<String>) -> Option<()> {
    let items: &[Value] = match v {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    for it in items {
        out.push(value_of(it)?.as_str()?.to_owned());
    }
    Some(())
}

/// `value eq "id"` terms joined by `or`.
fn filter_ids(f: &Filter, out: &mut Vec<String>) -> Option<()> {
    match f {
        Filter::Or(a, b) => {
            filter_ids(a, out)?;
            filter_ids(b, out)
        }
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(s) }
            if path.attr.eq_ignore_ascii_case("value") && path.sub.is_none() && path.uri.is_none() =>
        {
            out.push(s.clone());
            Some(())
        }
        _ => None,
    }
}

/// If every op only adds or removes group members by explicit id (`add members [..]`, path-less
/// `add {"members": [..]}`, `remove members [..]`, `remove members[value eq "x"]` with `or`ed
/// terms), returns `(to_add, to_remove)` so the server can avoid loading a large group; else `None`.
/// Ops apply in order, so an id added then removed ends in `to_remove` only (and vice versa).
pub fn member_delta(ops: &[PatchOp]) -> Option<(Vec<String>, Vec<String>)> {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for op in ops {
        let mut ids = Vec::new();
        match (op.op, &op.path, &op.value) {
            (PatchOpKind::Add, Some(p), Some(v)) if is_members(p) && p.value_filter.is_none() => {
                member_ids(v, &mut ids)?
            }
            (PatchOpKind::Add, None, Some(Value::Object(o))) if o.len() == 1 => {
                member_ids(o.iter().find(|(k, _)| k.eq_ignore_ascii_case("members"))?.1, &mut ids)?
            }
            (PatchOpKind::Remove, Some(p), Some(v)) if is_members(p) && p.value_filter.is_none() => {
                member_ids(v, &mut ids)?
            }
            (PatchOpKind::Remove, Some(p), None) if is_members(p) => filter_ids(p.value_filter.as_deref()?, &mut ids)?,
            _ => return None,
        }
        let (to, from) = if op.op == PatchOpKind::Add { (&mut add, &mut remove) } else { (&mut remove, &mut add) };
        for id in ids {
            from.retain(|x| *x != id);
            if !to.contains(&id) {
                to.push(id);
            }
        }
    }
    Some((add, remove))
}
