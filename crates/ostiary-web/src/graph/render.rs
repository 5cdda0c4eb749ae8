//! Rendering directory objects as Graph JSON: internal fields removed, write-only secrets
//! nulled, `@odata.type` added, and `$select` applied.

use crate::error::GraphErr;
use ostiary_model::{AppRoleAssignment, Application, DirectoryObject, ObjectKind};
use serde_json::{Map, Value, json};

/// Properties of the stored documents that are never shown.
const INTERNAL: &[&str] =
    &["passwordHash", "forceChangePasswordNextSignIn", "accessTokenSigningAlgorithm", "ostiaryScim", "ostiarySaml"];

fn credentials(app: &Application) -> (Value, Value) {
    let passwords: Vec<Value> = app
        .password_credentials
        .iter()
        .map(|c| {
            json!({
                "customKeyIdentifier": null,
                "displayName": c.display_name,
                "endDateTime": ostiary_store::filter::format_timestamp(c.end_date_time),
                "hint": c.hint,
                "keyId": c.key_id,
                "secretText": null,
                "startDateTime": ostiary_store::filter::format_timestamp(c.start_date_time),
            })
        })
        .collect();
    let keys: Vec<Value> = app
        .key_credentials
        .iter()
        .map(|k| {
            json!({
                "customKeyIdentifier": k.custom_key_identifier,
                "displayName": k.display_name,
                "endDateTime": ostiary_store::filter::format_timestamp(k.end_date_time),
                "key": null,
                "keyId": k.key_id,
                "startDateTime": ostiary_store::filter::format_timestamp(k.start_date_time),
                "type": k.kind,
                "usage": k.usage,
            })
        })
        .collect();
    (Value::Array(passwords), Value::Array(keys))
}

/// The Graph JSON of one object (every property; `$select` is applied by `select`).
pub fn object(obj: &DirectoryObject) -> Map<String, Value> {
    let mut m = match obj.to_doc() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for k in INTERNAL {
        m.remove(*k);
    }
    match obj {
        DirectoryObject::Application(app) => {
            let (p, k) = credentials(app);
            m.insert("passwordCredentials".into(), p);
            m.insert("keyCredentials".into(), k);
            m.insert("deletedDateTime".into(), Value::Null);
        }
        DirectoryObject::ServicePrincipal(sp) => {
            m.insert("appDisplayName".into(), json!(sp.display_name));
            m.insert("passwordCredentials".into(), json!([]));
            m.insert("keyCredentials".into(), json!([]));
            m.insert("replyUrls".into(), json!([]));
            super::samlcfg::render_sp(sp, &mut m);
            m.insert("deletedDateTime".into(), Value::Null);
        }
        DirectoryObject::User(_) | DirectoryObject::Group(_) => {
            m.insert("deletedDateTime".into(), Value::Null);
        }
    }
    let mut out = Map::with_capacity(m.len() + 1);
    out.insert("@odata.type".into(), json!(obj.kind().odata_type()));
    out.extend(m);
    out
}

/// Applies `$select`; unknown names are an error as in Graph.
pub fn select(
    mut m: Map<String, Value>,
    names: Option<&[String]>,
    kind: ObjectKind,
) -> Result<Map<String, Value>, GraphErr> {
    let Some(names) = names else { return Ok(m) };
    for n in names {
        if !m.contains_key(n) {
            return Err(GraphErr::bad(format!(
                "Could not find a property named '{}' on type 'microsoft.graph.{}'.",
                ostiary_oauth::error::sanitize(n),
                kind.as_str()
            )));
        }
    }
    m.retain(|k, _| k == "@odata.type" || k == "id" || names.iter().any(|n| n == k));
    Ok(m)
}

pub fn assignment(a: &AppRoleAssignment) -> Value {
    json!({
        "id": a.id,
        "appRoleId": a.app_role_id,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "principalDisplayName": a.principal_display_name,
        "resourceId": a.resource_id,
        "resourceDisplayName": a.resource_display_name,
        "createdDateTime": ostiary_store::filter::format_timestamp(a.created_date_time),
        "deletedDateTime": null,
    })
}
