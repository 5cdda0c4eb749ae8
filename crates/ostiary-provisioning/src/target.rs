//! SCIM target paths of attribute mappings (`userName`, `name.givenName`,
//! `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`): parsed, resolved and
//! written by `ostiary-scim` (one path grammar for the inbound server and outbound provisioning),
//! and read back here from resources a target returned (attribute names case-insensitively, as
//! targets vary in case).

use ostiary_scim::{
    AttrPath, AttrType, CompValue, CompareOp, Filter, GROUP_RESOURCE, PatchOp, PatchOpKind, ResourceSchema,
    USER_RESOURCE, apply_patch, parse_attr_path, resolve,
};
use serde_json::{Map, Value};

/// A resolved target path.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPath {
    path: AttrPath,
    user: bool,
    /// `[type eq "work"]`: (sub-attribute, value).
    filter: Option<(String, String)>,
    case_exact: bool,
    ty: AttrType,
}

fn schema(user: bool) -> &'static ResourceSchema {
    if user { &USER_RESOURCE } else { &GROUP_RESOURCE }
}

/// Parses and resolves a path against the User (`user`) or Group resource type.
pub fn parse(text: &str, user: bool) -> Result<TargetPath, String> {
    let path = parse_attr_path(text.trim()).map_err(|e| e.detail)?;
    let resolved = resolve(schema(user), &path).ok_or_else(|| format!("unknown attribute '{}'", path.attr))?;
    let filter = match path.value_filter.as_deref() {
        None => None,
        Some(Filter::Compare { path: fp, op: CompareOp::Eq, value: CompValue::Str(v) })
            if fp.value_filter.is_none() && fp.sub.is_none() && fp.uri.is_none() =>
        {
            Some((fp.attr.clone(), v.clone()))
        }
        Some(_) => {
            return Err("a mapping target selects a value with one 'eq' comparison, e.g. [type eq \"work\"]".into());
        }
    };
    let def = resolved.sub.unwrap_or(resolved.attr);
    // References to other provisioned objects (group members, a user's manager): their values
    // are target ids the engine resolves, not expression results.
    let members = (!user && resolved.attr.name == "members") || (user && resolved.attr.name == "manager");
    if resolved.attr.multi_valued && !members {
        if filter.is_none() {
            return Err(format!(
                "'{}' is multi-valued: select one value with a filter such as [type eq \"work\"]",
                path.attr
            ));
        }
        if resolved.attr.ty == AttrType::Complex && path.sub.is_none() {
            return Err("a filtered path must name a sub-attribute".into());
        }
    }
    if def.ty == AttrType::Complex && !members {
        return Err(format!("'{text}' is a complex attribute: map its sub-attributes"));
    }
    Ok(TargetPath { case_exact: def.case_exact, ty: def.ty, path, user, filter })
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn text_eq(v: &Value, s: &str) -> bool {
    v.as_str().is_some_and(|t| t.eq_ignore_ascii_case(s))
}

fn lower(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|x| x.to_ascii_lowercase())
}

impl TargetPath {
    pub fn is_enterprise(&self) -> bool {
        self.path.uri.is_some()
    }

    pub fn case_exact(&self) -> bool {
        self.case_exact
    }

    /// Whether two paths name the same value (case-insensitively).
    pub fn same_as(&self, other: &TargetPath) -> bool {
        lower(&self.path.uri) == lower(&other.path.uri)
            && self.path.attr.eq_ignore_ascii_case(&other.path.attr)
            && lower(&self.path.sub) == lower(&other.path.sub)
            && self.filter.as_ref().map(|(a, v)| (a.to_ascii_lowercase(), v.to_ascii_lowercase()))
                == other.filter.as_ref().map(|(a, v)| (a.to_ascii_lowercase(), v.to_ascii_lowercase()))
    }

    /// The value at this path in a resource (Null when absent).
    pub fn get(&self, resource: &Value) -> Value {
        let Some(root) = resource.as_object() else { return Value::Null };
        let container = match &self.path.uri {
            Some(u) => match get_ci(root, u).and_then(Value::as_object) {
                Some(c) => c,
                None => return Value::Null,
            },
            None => root,
        };
        let Some(v) = get_ci(container, &self.path.attr) else { return Value::Null };
        let v = match &self.filter {
            Some((fa, fv)) => {
                let Some(item) = v.as_array().and_then(|items| {
                    items.iter().find(|i| i.as_object().and_then(|o| get_ci(o, fa)).is_some_and(|x| text_eq(x, fv)))
                }) else {
                    return Value::Null;
                };
                item
            }
            None => v,
        };
        match &self.path.sub {
            Some(s) => v.as_object().and_then(|o| get_ci(o, s)).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    }

    /// The value converted to the attribute's type (expressions produce text and booleans).
    /// A multi-valued source contributes its first value.
    fn coerce(&self, value: Value) -> Option<Value> {
        let value = match value {
            Value::Array(items) => items.into_iter().find(|v| !v.is_null())?,
            v => v,
        };
        Some(match (self.ty, value) {
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            (AttrType::String | AttrType::Reference | AttrType::DateTime | AttrType::Binary, Value::Bool(b)) => {
                Value::String(if b { "True" } else { "False" }.into())
            }
            (AttrType::String | AttrType::Reference, Value::Number(n)) => Value::String(n.to_string()),
            (_, v) => v,
        })
    }

    /// Writes `value` at this path with a SCIM `Replace`, which creates the containers and the
    /// filtered element (and adds the extension's schema URN) as needed.
    pub fn set(&self, resource: &mut Value, value: Value) -> Result<(), String> {
        let Some(value) = self.coerce(value) else { return Ok(()) };
        let op = PatchOp { op: PatchOpKind::Replace, path: Some(self.path.clone()), value: Some(value) };
        apply_patch(resource, &[op], schema(self.user)).map(|_| ()).map_err(|e| e.detail)
    }
}
