//! Graph's security surface: `/identity/conditionalAccess/{policies,namedLocations}` (Entra's JSON,
//! validated, lockout-guarded), What-If (`/identity/conditionalAccess/evaluate`), emergency-access
//! accounts (Ostiary extension), `/identityProtection/{riskDetections,riskyUsers}` with
//! `confirmCompromised` and `dismiss`, `/users/{id}/authentication/methods`, and the
//! authentication methods and strength policies under `/policies`.

use super::{Ctx, no_content, parse_id};
use crate::error::GraphErr;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::DirError;
use ostiary_core::audit::Actor;
use ostiary_core::auth::Permission;
use ostiary_core::ca::{LOCATION_KIND, POLICY_KIND};
use ostiary_core::risk::{DETECTION_KIND, RISKY_USER_KIND};
use ostiary_model::ObjectId;
use serde_json::{Value, json};

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn entity(ctx: &Ctx<'_>, what: &str, doc: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("@odata.context".into(), json!(format!("{}/v1.0/$metadata#{what}/$entity", ctx.base())));
    if let Value::Object(mut o) = doc {
        m.append(&mut o);
    }
    Value::Object(m)
}

fn collection(ctx: &Ctx<'_>, what: &str, docs: Vec<Value>) -> Result<Response, GraphErr> {
    ctx.opts.check_known(&["top", "select"])?;
    let top = match ctx.opts.get("top") {
        Some(t) => ostiary_odata::parse_top(t).map_err(|e| GraphErr::bad(format!("Invalid $top: {e}")))? as usize,
        None => docs.len(),
    };
    let select = ctx.opts.select()?;
    let values: Vec<Value> = docs
        .into_iter()
        .take(top)
        .map(|d| match (d, select.as_deref()) {
            (Value::Object(m), Some(names)) => {
                Value::Object(m.into_iter().filter(|(k, _)| k == "id" || names.iter().any(|n| n == k)).collect())
            }
            (d, _) => d,
        })
        .collect();
    Ok(ok(json!({
        "@odata.context": format!("{}/v1.0/$metadata#{what}", ctx.base()),
        "value": values,
    })))
}

/// `Ostiary-Allow-Lockout: true` lets an administrator knowingly save a policy the lockout guard refuses.
fn forced(ctx: &Ctx<'_>) -> bool {
    ctx.allow_lockout
}

/// `/identity/...`
pub(super) async fn identity(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    let Some((&"conditionalAccess", rest)) = rest.split_first() else {
        return Err(GraphErr::segment(rest.first().copied().unwrap_or("identity")));
    };
    let (kind, what) = match rest.first() {
        Some(&"policies") => (POLICY_KIND, "identity/conditionalAccess/policies"),
        Some(&"namedLocations") => (LOCATION_KIND, "identity/conditionalAccess/namedLocations"),
        Some(&"evaluate") => return what_if(ctx, &rest[1..]).await,
        Some(&"ostiaryEmergencyAccessAccounts") => return emergency_access(ctx, &rest[1..]).await,
        Some(&"authenticationStrength") => return strengths(ctx, &rest[1..]).await,
        other => return Err(GraphErr::segment(other.copied().unwrap_or("conditionalAccess"))),
    };
    let core = ctx.core;
    match (&rest[1..], ctx.method.clone()) {
        ([], Method::GET) => {
            let docs = core.list_ca_docs(&ctx.caller, kind).await?;
            collection(ctx, what, docs)
        }
        ([], Method::POST) => {
            let body: Value = ctx.json().await?;
            let doc = if kind == POLICY_KIND {
                core.create_ca_policy(&ctx.caller, body, forced(ctx)).await?
            } else {
                core.create_named_location(&ctx.caller, body).await?
            };
            Ok((StatusCode::CREATED, axum::Json(entity(ctx, what, doc))).into_response())
        }
        ([id], Method::GET) => {
            let doc = core.get_ca_doc(&ctx.caller, kind, id).await?;
            Ok(ok(entity(ctx, what, doc)))
        }
        ([id], Method::PATCH) => {
            let body: Value = ctx.json().await?;
            if kind == POLICY_KIND {
                core.update_ca_policy(&ctx.caller, id, body, forced(ctx)).await?;
            } else {
                core.update_named_location(&ctx.caller, id, body).await?;
            }
            Ok(no_content())
        }
        ([id], Method::DELETE) => {
            core.delete_ca_doc(&ctx.caller, kind, id).await?;
            Ok(no_content())
        }
        ([_], _) | ([], _) => Err(GraphErr::method()),
        (more, _) => Err(GraphErr::segment(more.last().copied().unwrap_or(""))),
    }
}

async fn what_if(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    if !rest.is_empty() {
        return Err(GraphErr::segment(rest[0]));
    }
    if ctx.method != Method::POST {
        return Err(GraphErr::method());
    }
    let body: Value = ctx.json().await?;
    let mut result = ctx.core.what_if(&ctx.caller, &body).await?;
    if let Some(o) = result.as_object_mut() {
        o.insert(
            "@odata.context".into(),
            json!(format!("{}/v1.0/$metadata#Collection(microsoft.graph.conditionalAccessWhatIfPolicy)", ctx.base())),
        );
    }
    Ok(ok(result))
}

async fn emergency_access(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    let core = ctx.core;
    match (rest, ctx.method.clone()) {
        ([], Method::GET) => {
            ctx.caller.require(Permission::ReadPolicies)?;
            let s = core.tenant_settings(ctx.caller.tenant).await.map_err(DirError::from_store)?;
            let ids: Vec<Value> = s.emergency_access_accounts.iter().map(|u| json!({ "id": u.to_string() })).collect();
            Ok(ok(json!({ "value": ids })))
        }
        ([], Method::POST) => {
            let body: Value = ctx.json().await?;
            let id = body
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphErr::bad("The body must name the user: {\"id\": \"<user object id>\"}."))?;
            core.set_emergency_access(&ctx.caller, parse_id(id)?, true).await?;
            Ok(no_content())
        }
        ([id], Method::DELETE) => {
            core.set_emergency_access(&ctx.caller, parse_id(id)?, false).await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

async fn strengths(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    // `/identity/conditionalAccess/authenticationStrength/policies` (Entra's path) and
    // `/policies/authenticationStrengthPolicies` serve the same built-in strengths.
    match rest {
        ["policies"] | [] => authentication_strengths(ctx).await,
        [other, ..] => Err(GraphErr::segment(other)),
    }
}

pub(super) async fn authentication_strengths(ctx: &mut Ctx<'_>) -> Result<Response, GraphErr> {
    if ctx.method != Method::GET {
        return Err(GraphErr::method());
    }
    ctx.caller.require(Permission::ReadPolicies)?;
    let values: Vec<Value> = ostiary_policy::builtin_strengths()
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "displayName": s.display_name,
                "description": s.description,
                "policyType": "builtIn",
                "requirementsSatisfied": "mfa",
                "allowedCombinations": s.allowed_combinations,
            })
        })
        .collect();
    Ok(ok(json!({
        "@odata.context": format!("{}/v1.0/$metadata#policies/authenticationStrengthPolicies", ctx.base()),
        "value": values,
    })))
}

/// `/identityProtection/...`
pub(super) async fn identity_protection(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    let (kind, what) = match rest.first() {
        Some(&"riskDetections") => (DETECTION_KIND, "identityProtection/riskDetections"),
        Some(&"riskyUsers") => (RISKY_USER_KIND, "identityProtection/riskyUsers"),
        other => return Err(GraphErr::segment(other.copied().unwrap_or("identityProtection"))),
    };
    let core = ctx.core;
    match (&rest[1..], ctx.method.clone()) {
        ([], Method::GET) => {
            let docs = core.list_risk_docs(&ctx.caller, kind).await?;
            collection(ctx, what, docs)
        }
        ([action @ ("confirmCompromised" | "dismiss")], Method::POST) if kind == RISKY_USER_KIND => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields, rename_all = "camelCase")]
            struct Body {
                user_ids: Vec<String>,
            }
            let body: Body = ctx.json().await?;
            let ids = body.user_ids.iter().map(|s| parse_id(s)).collect::<Result<Vec<ObjectId>, _>>()?;
            core.decide_user_risk(&ctx.caller, &ids, *action == "confirmCompromised").await?;
            Ok(no_content())
        }
        ([id], Method::GET) => {
            let doc = core.get_risk_doc(&ctx.caller, kind, id).await?;
            Ok(ok(entity(ctx, what, doc)))
        }
        ([_] | [], _) => Err(GraphErr::method()),
        (more, _) => Err(GraphErr::segment(more.last().copied().unwrap_or(""))),
    }
}

/// `/users/{id}/authentication/...`
pub(super) async fn user_authentication(
    ctx: &mut Ctx<'_>,
    user: ObjectId,
    rest: &[&str],
) -> Result<Response, GraphErr> {
    let core = ctx.core;
    let tenant = ctx.caller.tenant;
    let what = format!("users('{user}')/authentication/methods");
    match (rest, ctx.method.clone()) {
        (["methods"], Method::GET)
        | (["fido2Methods"], Method::GET)
        | (["softwareOathMethods"], Method::GET)
        | (["passwordMethods"], Method::GET) => {
            ctx.caller.require(Permission::ReadAuthMethods)?;
            let docs = core.methods_of(tenant, user).await.map_err(DirError::from_store)?;
            let mut values: Vec<Value> = Vec::new();
            if matches!(rest, ["methods"] | ["passwordMethods"]) {
                values.push(json!({
                    "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                    "id": "28c10230-6103-485e-b985-444c60001490",
                    "password": null,
                    "createdDateTime": null,
                }));
            }
            for d in docs {
                let keep = match rest {
                    ["fido2Methods"] => d.method() == "fido2",
                    ["softwareOathMethods"] => d.method() == "softwareOath",
                    ["passwordMethods"] => false,
                    _ => true,
                };
                if keep {
                    values.push(d.to_graph());
                }
            }
            collection(ctx, &what, values)
        }
        ([_, id], Method::GET) => {
            ctx.caller.require(Permission::ReadAuthMethods)?;
            let docs = core.methods_of(tenant, user).await.map_err(DirError::from_store)?;
            let d = docs
                .iter()
                .find(|d| d.id() == *id)
                .ok_or_else(|| DirError::NotFound("The authentication method does not exist.".into()))?;
            Ok(ok(entity(ctx, &what, d.to_graph())))
        }
        ([_, id], Method::DELETE) => {
            ctx.caller.require(Permission::WriteAuthMethods)?;
            core.delete_methods(&Actor::from_caller(&ctx.caller), user, Some(id)).await?;
            Ok(no_content())
        }
        // Ostiary extension: remove every method (an admin reset: the user registers again).
        (["methods", "ostiaryReset"], Method::POST) => {
            ctx.caller.require(Permission::WriteAuthMethods)?;
            core.delete_methods(&Actor::from_caller(&ctx.caller), user, None).await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

/// `/policies/authenticationMethodsPolicy`: Entra's shape for the two methods Ostiary has
/// (fido2, softwareOath) and the registration campaign.
pub(super) async fn methods_policy(ctx: &mut Ctx<'_>) -> Result<Response, GraphErr> {
    let core = ctx.core;
    match ctx.method.clone() {
        Method::GET => {
            ctx.caller.require(Permission::ReadPolicies)?;
            let s = core.tenant_settings(ctx.caller.tenant).await.map_err(DirError::from_store)?;
            let p = &s.methods_policy;
            let state = |on: bool| if on { "enabled" } else { "disabled" };
            let targets = |groups: &[ObjectId]| -> Vec<Value> {
                if groups.is_empty() {
                    vec![
                        json!({ "id": "all_users", "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator" }),
                    ]
                } else {
                    groups.iter().map(|g| json!({ "id": g.to_string(), "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator" })).collect()
                }
            };
            Ok(ok(json!({
                "@odata.context": format!("{}/v1.0/$metadata#policies/authenticationMethodsPolicy/$entity", ctx.base()),
                "id": "authenticationMethodsPolicy",
                "displayName": "Authentication Methods Policy",
                "description": "The tenant-wide policy that controls which authentication methods are allowed.",
                "policyVersion": "1.5",
                "registrationEnforcement": {
                    "authenticationMethodsRegistrationCampaign": {
                        "state": state(p.campaign_enabled),
                        "snoozeDurationInDays": p.campaign_snooze_days,
                        "enforceRegistrationAfterAllowedSnoozes": p.campaign_snooze_days == 0,
                        "includeTargets": targets(&p.campaign_groups),
                        "excludeTargets": [],
                    }
                },
                "authenticationMethodConfigurations": [
                    {
                        "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
                        "id": "Fido2",
                        "state": state(p.fido2_enabled),
                        "isSelfServiceRegistrationAllowed": true,
                        "isAttestationEnforced": p.fido2_enforce_attestation,
                        "keyRestrictions": {
                            "isEnforced": !p.fido2_allowed_aaguids.is_empty(),
                            "enforcementType": "allow",
                            "aaGuids": p.fido2_allowed_aaguids,
                        },
                        "includeTargets": method_targets(&p.fido2_groups),
                        "excludeTargets": [],
                    },
                    {
                        "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethodConfiguration",
                        "id": "SoftwareOath",
                        "state": state(p.software_oath_enabled),
                        "includeTargets": method_targets(&p.software_oath_groups),
                        "excludeTargets": [],
                    }
                ],
            })))
        }
        Method::PATCH => {
            ctx.caller.require(Permission::WriteAuthMethodsPolicy)?;
            let body: Value = ctx.json().await?;
            let mut update = ostiary_core::settings::MethodsPolicy::default();
            let current = core.tenant_settings(ctx.caller.tenant).await.map_err(DirError::from_store)?.methods_policy;
            update.clone_from(&current);
            apply_methods_patch(&mut update, &body)?;
            core.update_tenant_settings(
                &Actor::from_caller(&ctx.caller),
                "Update authentication methods policy",
                move |s| {
                    s.methods_policy = update;
                    Ok(())
                },
            )
            .await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

/// A method configuration's `includeTargets`: `all_users` or the groups it is limited to.
fn method_targets(groups: &[ObjectId]) -> Vec<Value> {
    if groups.is_empty() {
        vec![json!({ "id": "all_users", "targetType": "group", "isRegistrationRequired": false })]
    } else {
        groups
            .iter()
            .map(|g| json!({ "id": g.to_string(), "targetType": "group", "isRegistrationRequired": false }))
            .collect()
    }
}

/// Parses `includeTargets` (`all_users` or group ids) into the group list (empty = all users).
fn parse_targets(v: &Value) -> Result<Vec<ObjectId>, GraphErr> {
    let list = v.as_array().ok_or_else(|| GraphErr::bad("includeTargets must be an array."))?;
    let mut groups = Vec::new();
    for target in list {
        match target.get("id").and_then(Value::as_str) {
            Some("all_users") => return Ok(Vec::new()),
            Some(id) => groups.push(super::parse_id(id)?),
            None => return Err(GraphErr::bad("Each include target needs an id.")),
        }
    }
    Ok(groups)
}

fn apply_methods_patch(p: &mut ostiary_core::settings::MethodsPolicy, body: &Value) -> Result<(), GraphErr> {
    let Some(obj) = body.as_object() else { return Err(GraphErr::bad("A JSON object was expected.")) };
    for (k, v) in obj {
        match k.as_str() {
            "@odata.type" | "@odata.context" | "id" | "displayName" | "description" | "policyVersion" => {}
            "registrationEnforcement" => {
                let c = v.get("authenticationMethodsRegistrationCampaign").ok_or_else(|| {
                    GraphErr::bad("registrationEnforcement needs authenticationMethodsRegistrationCampaign.")
                })?;
                if let Some(state) = c.get("state").and_then(Value::as_str) {
                    p.campaign_enabled = match state {
                        "enabled" => true,
                        "disabled" | "default" => false,
                        other => return Err(GraphErr::bad(format!("Invalid campaign state '{other}'."))),
                    };
                }
                if let Some(days) = c.get("snoozeDurationInDays") {
                    let d = days
                        .as_u64()
                        .filter(|d| *d <= 14)
                        .ok_or_else(|| GraphErr::bad("snoozeDurationInDays must be between 0 and 14."))?;
                    p.campaign_snooze_days = d as u32;
                }
                if let Some(t) = c.get("includeTargets").and_then(Value::as_array) {
                    let mut groups = Vec::new();
                    for target in t {
                        match target.get("id").and_then(Value::as_str) {
                            Some("all_users") => {}
                            Some(id) => groups.push(super::parse_id(id)?),
                            None => return Err(GraphErr::bad("Each include target needs an id.")),
                        }
                    }
                    p.campaign_groups = groups;
                }
            }
            "authenticationMethodConfigurations" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| GraphErr::bad("authenticationMethodConfigurations must be an array."))?;
                for c in list {
                    let enabled = match c.get("state").and_then(Value::as_str) {
                        Some("enabled") => Some(true),
                        Some("disabled") => Some(false),
                        None => None,
                        Some(other) => return Err(GraphErr::bad(format!("Invalid state '{other}'."))),
                    };
                    match c.get("id").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                        Some("fido2") => {
                            if let Some(e) = enabled {
                                p.fido2_enabled = e;
                            }
                            if let Some(t) = c.get("includeTargets") {
                                p.fido2_groups = parse_targets(t)?;
                            }
                            if let Some(a) = c.get("isAttestationEnforced").and_then(Value::as_bool) {
                                p.fido2_enforce_attestation = a;
                            }
                            if let Some(k) = c.get("keyRestrictions") {
                                let enforced = k.get("isEnforced").and_then(Value::as_bool).unwrap_or(false);
                                p.fido2_allowed_aaguids = if enforced {
                                    k.get("aaGuids")
                                        .and_then(Value::as_array)
                                        .map(|a| {
                                            a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect()
                                        })
                                        .unwrap_or_default()
                                } else {
                                    Vec::new()
                                };
                            }
                        }
                        Some("softwareoath") => {
                            if let Some(e) = enabled {
                                p.software_oath_enabled = e;
                            }
                            if let Some(t) = c.get("includeTargets") {
                                p.software_oath_groups = parse_targets(t)?;
                            }
                        }
                        Some(other) => {
                            return Err(GraphErr::bad(format!(
                                "Authentication method '{other}' is not available here (fido2 and softwareOath are)."
                            )));
                        }
                        None => return Err(GraphErr::bad("Each configuration needs an id.")),
                    }
                }
            }
            other => {
                return Err(GraphErr::bad(format!(
                    "Invalid property '{}'. The property does not exist on the resource.",
                    ostiary_oauth::error::sanitize(other)
                )));
            }
        }
    }
    Ok(())
}
