//! Attribute mappings of a provisioning job (Entra's "Attribute Mapping" blade): for users and
//! groups, which source expression feeds which SCIM target path, which attribute matches
//! existing target objects, and whether a value flows always or only at creation.
//!
//! From a source object and its mapping come the desired SCIM resource (for a create), the
//! filter that finds an existing target object (`userName eq "…"`), and the minimal PATCH that
//! brings a target object in sync (only mapped attributes: what the target holds beyond them is
//! not ours to touch).

use crate::expr::{self, Expr};
use crate::target::{self, TargetPath};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Most attribute mappings per object mapping (Entra's UI shows a few dozen at most).
pub const MAX_MAPPINGS: usize = 100;

/// When a mapped value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Flow {
    /// On create and on every update.
    #[default]
    Always,
    /// Only when the target object is created (e.g. an initial password or a generated id).
    ObjectAddOnly,
}

/// One source expression → one target path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    /// Expression text (`[userPrincipalName]`, `Join(" ", [givenName], [surname])`, …).
    pub source: String,
    /// SCIM attribute path (`userName`, `emails[type eq "work"].value`, `urn:…:User:department`).
    pub target: String,
    /// 0 = not used for matching; otherwise the lowest number is tried first.
    #[serde(default)]
    pub matching_priority: u32,
    #[serde(default)]
    pub flow: Flow,
}

/// Which directory objects map to which SCIM resource type, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMapping {
    /// "user" or "group".
    pub source: String,
    /// "User" or "Group".
    pub target: String,
    pub mappings: Vec<AttributeMapping>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Why a mapping is refused or could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("mapping to '{target}': {error}")]
    Expression { target: String, error: expr::ParseError },
    #[error("'{0}' is not a valid target attribute: {1}")]
    Target(String, String),
    #[error("'{0}' is mapped more than once")]
    DuplicateTarget(String),
    #[error("exactly one attribute must have the lowest matching priority: {0}")]
    Matching(String),
    #[error("source must be 'user' or 'group' and target 'User' or 'Group' accordingly")]
    ObjectTypes,
    #[error("at most {MAX_MAPPINGS} attribute mappings")]
    TooMany,
    /// The value an expression produced does not fit the target attribute.
    #[error("cannot write '{target}': {error}")]
    Value { target: String, error: String },
}

fn m(source: &str, target: &str) -> AttributeMapping {
    AttributeMapping { source: source.into(), target: target.into(), matching_priority: 0, flow: Flow::Always }
}

/// Entra's default user mappings for a SCIM app (entra-compat §8), matching on `userName`.
pub fn default_user_mappings() -> ObjectMapping {
    let e = |a: &str| format!("{ENTERPRISE_SCHEMA}:{a}");
    let mut mappings = vec![
        m("[userPrincipalName]", "userName"),
        m("Not([IsSoftDeleted])", "active"),
        m("[displayName]", "displayName"),
        m("[mailNickname]", "externalId"),
        m("[givenName]", "name.givenName"),
        m("[surname]", "name.familyName"),
        m("[mail]", "emails[type eq \"work\"].value"),
        m("[jobTitle]", "title"),
        m("[telephoneNumber]", "phoneNumbers[type eq \"work\"].value"),
        m("[mobile]", "phoneNumbers[type eq \"mobile\"].value"),
        m("[facsimileTelephoneNumber]", "phoneNumbers[type eq \"fax\"].value"),
        m("[streetAddress]", "addresses[type eq \"work\"].streetAddress"),
        m("[postalCode]", "addresses[type eq \"work\"].postalCode"),
        m("[physicalDeliveryOfficeName]", "addresses[type eq \"other\"].formatted"),
        m("[proxyAddresses]", "emails[type eq \"other\"].value"),
        m("[department]", &e("department")),
        m("[employeeId]", &e("employeeNumber")),
        m("[manager]", &e("manager")),
    ];
    mappings[0].matching_priority = 1;
    ObjectMapping { source: "user".into(), target: "User".into(), mappings, enabled: true }
}

/// Entra's default group mappings, matching on `displayName`. `members` is a reference
/// attribute: the engine translates member ids to target ids and sends membership PATCHes.
pub fn default_group_mappings() -> ObjectMapping {
    let mut mappings =
        vec![m("[displayName]", "displayName"), m("[objectId]", "externalId"), m("[members]", "members")];
    mappings[0].matching_priority = 1;
    ObjectMapping { source: "group".into(), target: "Group".into(), mappings, enabled: true }
}

/// Whether a mapping is a reference to other provisioned objects: group `members` (the engine
/// sends membership PATCHes with target ids) or the enterprise `manager` (not sent yet: a
/// manager reference needs the manager's target id).
pub fn is_members(mapping: &AttributeMapping) -> bool {
    let t = mapping.target.to_ascii_lowercase();
    t == "members" || t.ends_with(":manager") || t == "manager"
}

/// A validated mapping, with expressions and paths parsed once.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub mapping: ObjectMapping,
    entries: Vec<(Expr, TargetPath, AttributeMapping)>,
    matching: usize,
}

impl ObjectMapping {
    /// The kind of SCIM resource this mapping produces.
    fn is_user(&self) -> bool {
        self.target == "User"
    }

    /// Checks every expression and target path, duplicate targets, and the matching attribute.
    pub fn compile(&self) -> Result<Compiled, MappingError> {
        match (self.source.as_str(), self.target.as_str()) {
            ("user", "User") | ("group", "Group") => {}
            _ => return Err(MappingError::ObjectTypes),
        }
        if self.mappings.len() > MAX_MAPPINGS {
            return Err(MappingError::TooMany);
        }
        let mut entries = Vec::new();
        for am in &self.mappings {
            let e = expr::parse(&am.source)
                .map_err(|error| MappingError::Expression { target: am.target.clone(), error })?;
            let p =
                target::parse(&am.target, self.is_user()).map_err(|e| MappingError::Target(am.target.clone(), e))?;
            if entries.iter().any(|(_, q, _): &(Expr, TargetPath, AttributeMapping)| q.same_as(&p)) {
                return Err(MappingError::DuplicateTarget(am.target.clone()));
            }
            entries.push((e, p, am.clone()));
        }
        let lowest = self.mappings.iter().map(|a| a.matching_priority).filter(|p| *p > 0).min();
        let Some(lowest) = lowest else {
            return Err(MappingError::Matching("no attribute is marked for matching".into()));
        };
        let at_lowest: Vec<usize> =
            self.mappings.iter().enumerate().filter(|(_, a)| a.matching_priority == lowest).map(|(i, _)| i).collect();
        let [matching] = at_lowest[..] else {
            return Err(MappingError::Matching(format!("{} attributes have priority {lowest}", at_lowest.len())));
        };
        if is_members(&self.mappings[matching]) {
            return Err(MappingError::Matching("members and manager cannot be matching attributes".into()));
        }
        Ok(Compiled { mapping: self.clone(), entries, matching })
    }
}

impl Compiled {
    fn schemas(&self) -> Vec<&'static str> {
        if self.mapping.is_user() {
            let mut s = vec![USER_SCHEMA];
            if self.entries.iter().any(|(_, p, _)| p.is_enterprise()) {
                s.push(ENTERPRISE_SCHEMA);
            }
            s
        } else {
            vec![GROUP_SCHEMA]
        }
    }

    /// Whether some value flows only at creation (then a create body differs from an update's).
    pub fn has_add_only(&self) -> bool {
        self.entries.iter().any(|(_, _, am)| am.flow == Flow::ObjectAddOnly)
    }

    /// The target path of the matching attribute (`userName`).
    pub fn matching_path(&self) -> &str {
        &self.entries[self.matching].2.target
    }

    /// The SCIM resource the source should look like. `create` includes add-only values.
    /// Members are left out (the engine adds them by target id after the group exists).
    pub fn desired(&self, source: &Value, create: bool) -> Result<Value, MappingError> {
        let mut resource = json!({ "schemas": self.schemas() });
        for (e, p, am) in &self.entries {
            if is_members(am) || (am.flow == Flow::ObjectAddOnly && !create) {
                continue;
            }
            let v = e.eval(source);
            if v.is_null() {
                continue;
            }
            p.set(&mut resource, v).map_err(|error| MappingError::Value { target: am.target.clone(), error })?;
        }
        Ok(resource)
    }

    /// The SCIM filter that finds the target object matching `desired` (None when the
    /// matching attribute has no value: the object cannot be matched and is created).
    pub fn matching_filter(&self, desired: &Value) -> Option<String> {
        let (_, p, am) = &self.entries[self.matching];
        let v = p.get(desired);
        let text = match v {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        // A SCIM compValue is a JSON string literal, so JSON escaping is exactly right.
        let lit = serde_json::to_string(&text).ok()?;
        Some(format!("{} eq {lit}", am.target))
    }

    /// The minimal PATCH `Operations` that make `current` (as the target returned it) match
    /// `desired` on the mapped attributes; empty when in sync. Add-only attributes and members
    /// are never patched here.
    pub fn diff(&self, current: &Value, desired: &Value) -> Vec<Value> {
        let mut ops = Vec::new();
        for (_, p, am) in &self.entries {
            if is_members(am) || am.flow == Flow::ObjectAddOnly {
                continue;
            }
            let want = p.get(desired);
            let have = p.get(current);
            if want.is_null() {
                if !is_empty(&have) {
                    ops.push(json!({ "op": "Remove", "path": am.target }));
                }
                continue;
            }
            if !same(&have, &want, p.case_exact()) {
                ops.push(json!({ "op": "Replace", "path": am.target, "value": want }));
            }
        }
        ops
    }

    /// `modifiedProperties` of an update: (target path, old, new) for each operation.
    pub fn changes(&self, current: &Value, ops: &[Value]) -> Vec<(String, Option<String>, Option<String>)> {
        ops.iter()
            .filter_map(|op| {
                let path = op.get("path")?.as_str()?;
                let (_, p, _) = self.entries.iter().find(|(_, _, am)| am.target == path)?;
                let old = Some(p.get(current)).filter(|v| !v.is_null()).map(|v| scalar_text(&v));
                let new = op.get("value").map(scalar_text);
                Some((path.to_string(), old, new))
            })
            .collect()
    }
}

/// The desired SCIM resource of `source` under `mapping` (see `Compiled::desired`).
pub fn desired(source: &Value, mapping: &ObjectMapping, create: bool) -> Result<Value, MappingError> {
    mapping.compile()?.desired(source, create)
}

/// The filter that finds `desired`'s target object (see `Compiled::matching_filter`).
pub fn matching_filter(desired: &Value, mapping: &ObjectMapping) -> Option<String> {
    mapping.compile().ok()?.matching_filter(desired)
}

/// The PATCH operations that bring `current` in sync with `desired` (see `Compiled::diff`).
pub fn diff(current: &Value, desired: &Value, mapping: &ObjectMapping) -> Result<Vec<Value>, MappingError> {
    Ok(mapping.compile()?.diff(current, desired))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// SCIM comparison: strings case-insensitively unless the attribute is case-exact; booleans
/// also equal their text (targets that store `"True"` are in sync with `true`).
fn same(have: &Value, want: &Value, case_exact: bool) -> bool {
    let eq_text = |a: &str, b: &str| if case_exact { a == b } else { a.to_lowercase() == b.to_lowercase() };
    match (have, want) {
        (Value::String(a), Value::String(b)) => eq_text(a, b),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::Bool(b)) | (Value::Bool(b), Value::String(a)) => {
            a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y, case_exact))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ada() -> Value {
        json!({
            "id": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userPrincipalName": "ada@contoso.com",
            "displayName": "Ada Lovelace",
            "mailNickname": "ada",
            "givenName": "Ada",
            "surname": "Lovelace",
            "mail": "ada@contoso.com",
            "jobTitle": null,
            "department": "R&D",
            "accountEnabled": true,
        })
    }

    #[test]
    fn defaults_validate() {
        default_user_mappings().compile().unwrap();
        default_group_mappings().compile().unwrap();
    }

    #[test]
    fn desired_user_resource() {
        let c = default_user_mappings().compile().unwrap();
        let d = c.desired(&ada(), true).unwrap();
        assert_eq!(
            d,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "ada@contoso.com",
                "active": true,
                "displayName": "Ada Lovelace",
                "externalId": "ada",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"type": "work", "value": "ada@contoso.com"}],
                ENTERPRISE_SCHEMA: {"department": "R&D"},
            })
        );
        let mut disabled = ada();
        disabled["accountEnabled"] = json!(false);
        assert_eq!(c.desired(&disabled, false).unwrap()["active"], json!(false));
    }

    #[test]
    fn desired_group_resource_leaves_members_to_the_engine() {
        let c = default_group_mappings().compile().unwrap();
        let d = c.desired(&json!({"id": "g1", "displayName": "Sales", "members": ["x"]}), true).unwrap();
        assert_eq!(d, json!({"schemas": [GROUP_SCHEMA], "displayName": "Sales", "externalId": "g1"}));
        assert_eq!(c.matching_filter(&d).unwrap(), "displayName eq \"Sales\"");
    }

    #[test]
    fn add_only_values_flow_on_create_only() {
        let mut om = default_user_mappings();
        om.mappings.push(AttributeMapping {
            source: "\"Welcome1!\"".into(),
            target: "password".into(),
            matching_priority: 0,
            flow: Flow::ObjectAddOnly,
        });
        let c = om.compile().unwrap();
        assert_eq!(c.desired(&ada(), true).unwrap()["password"], "Welcome1!");
        assert!(c.desired(&ada(), false).unwrap().get("password").is_none());
        let current = json!({"userName": "ada@contoso.com"});
        assert!(c.diff(&current, &c.desired(&ada(), true).unwrap()).iter().all(|op| op["path"] != "password"));
    }

    #[test]
    fn matching_filters_escape() {
        let c = default_user_mappings().compile().unwrap();
        let cases: &[(&str, Option<&str>)] = &[
            ("ada@contoso.com", Some(r#"userName eq "ada@contoso.com""#)),
            (r#"we"ird\name"#, Some(r#"userName eq "we\"ird\\name""#)),
            ("tab\there", Some(r#"userName eq "tab\there""#)),
        ];
        for (upn, want) in cases {
            let mut u = ada();
            u["userPrincipalName"] = json!(upn);
            assert_eq!(c.matching_filter(&c.desired(&u, true).unwrap()).as_deref(), *want, "{upn}");
        }
        let mut u = ada();
        u.as_object_mut().unwrap().remove("userPrincipalName");
        assert_eq!(c.matching_filter(&c.desired(&u, true).unwrap()), None);
    }

    #[test]
    fn diff_is_minimal() {
        let c = default_user_mappings().compile().unwrap();
        let desired = c.desired(&ada(), false).unwrap();
        // The target as it returned the object: same values, other case where allowed, extra
        // attributes we do not map, an id.
        let in_sync = json!({
            "id": "t-1",
            "schemas": [USER_SCHEMA],
            "userName": "ADA@contoso.com",
            "active": "True",
            "displayName": "Ada Lovelace",
            "externalId": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
            "emails": [{"type": "Work", "value": "ada@contoso.com", "primary": true}],
            "nickName": "not ours",
            ENTERPRISE_SCHEMA: {"department": "R&D"},
            "meta": {"resourceType": "User"},
        });
        assert_eq!(c.diff(&in_sync, &desired), Vec::<Value>::new());

        let cases: &[(&str, Value, Vec<Value>)] = &[
            (
                "/displayName",
                json!("Ada King"),
                vec![json!({"op": "Replace", "path": "displayName", "value": "Ada Lovelace"})],
            ),
            // externalId is case-exact.
            ("/externalId", json!("ADA"), vec![json!({"op": "Replace", "path": "externalId", "value": "ada"})]),
            ("/active", json!(false), vec![json!({"op": "Replace", "path": "active", "value": true})]),
            (
                "/emails/0/value",
                json!("old@contoso.com"),
                vec![json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@contoso.com"})],
            ),
            (
                "/name/familyName",
                json!("Byron"),
                vec![json!({"op": "Replace", "path": "name.familyName", "value": "Lovelace"})],
            ),
        ];
        for (ptr, value, want) in cases {
            let mut current = in_sync.clone();
            *current.pointer_mut(ptr).unwrap() = value.clone();
            assert_eq!(&c.diff(&current, &desired), want, "{ptr}");
        }
        // A value the source no longer has is removed; one the target never had stays absent.
        let mut current = in_sync.clone();
        current["title"] = json!("Countess");
        assert_eq!(c.diff(&current, &desired), vec![json!({"op": "Remove", "path": "title"})]);
        // A missing sub-object is added.
        let mut current = in_sync.clone();
        current.as_object_mut().unwrap().remove(ENTERPRISE_SCHEMA);
        assert_eq!(
            c.diff(&current, &desired),
            vec![json!({"op": "Replace", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "R&D"})]
        );
        let changes = c.changes(&in_sync, &[json!({"op": "Replace", "path": "displayName", "value": "X"})]);
        assert_eq!(changes, vec![("displayName".into(), Some("Ada Lovelace".into()), Some("X".into()))]);
    }

    #[test]
    fn validation_table() {
        let base = default_user_mappings;
        type Edit = fn(&mut ObjectMapping);
        let cases: &[(Edit, &str)] = &[
            (|o| o.mappings[0].source = "Join(".into(), "mapping to 'userName'"),
            (|o| o.mappings[0].target = "noSuchAttribute".into(), "not a valid target"),
            (|o| o.mappings[0].target = "emails[type eq".into(), "not a valid target"),
            (|o| o.mappings[2].target = "userName".into(), "mapped more than once"),
            (|o| o.mappings[0].matching_priority = 0, "no attribute is marked"),
            (|o| o.mappings[2].matching_priority = 1, "2 attributes have priority 1"),
            (|o| o.target = "Group".into(), "source must be"),
            (|o| o.mappings.push(m("[x]", "members")), "not a valid target"),
        ];
        for (edit, want) in cases {
            let mut om = base();
            edit(&mut om);
            let err = om.compile().unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
        // A second matching attribute with a higher priority is fine.
        let mut om = base();
        om.mappings[3].matching_priority = 2;
        assert_eq!(om.compile().unwrap().matching_path(), "userName");
        let mut g = default_group_mappings();
        g.mappings[0].matching_priority = 0;
        g.mappings[2].matching_priority = 1;
        assert!(g.compile().unwrap_err().to_string().contains("members and manager cannot"));
    }

    #[test]
    fn values_are_coerced_to_the_target_type() {
        let mut om = default_user_mappings();
        om.mappings[1].source = "\"False\"".into(); // a string constant into boolean `active`
        om.mappings[2].source = "[accountEnabled]".into(); // a boolean into string `displayName`
        let d = om.compile().unwrap().desired(&ada(), true).unwrap();
        assert_eq!(d["active"], json!(false));
        assert_eq!(d["displayName"], json!("True"));
        // A value that cannot become a boolean is refused, naming the target.
        om.mappings[1].source = "[givenName]".into();
        let err = om.compile().unwrap().desired(&ada(), true).unwrap_err();
        assert!(matches!(&err, MappingError::Value { target, .. } if target == "active"), "{err}");
        // Free functions compile on the fly.
        let om = default_user_mappings();
        let d = desired(&ada(), &om, true).unwrap();
        assert_eq!(matching_filter(&d, &om).unwrap(), "userName eq \"ada@contoso.com\"");
        assert!(diff(&d, &d, &om).unwrap().is_empty());
    }

    #[test]
    fn json_shape_round_trips() {
        let om = default_user_mappings();
        let j = serde_json::to_value(&om).unwrap();
        assert_eq!(
            j["mappings"][0],
            json!({"source": "[userPrincipalName]", "target": "userName", "matchingPriority": 1, "flow": "Always"})
        );
        assert_eq!(serde_json::from_value::<ObjectMapping>(j).unwrap(), om);
        let minimal: ObjectMapping = serde_json::from_value(json!({
            "source": "user", "target": "User", "mappings": [{"source": "mail", "target": "userName", "matchingPriority": 1}]
        }))
        .unwrap();
        assert!(minimal.enabled);
        assert_eq!(minimal.mappings[0].flow, Flow::Always);
    }
}
