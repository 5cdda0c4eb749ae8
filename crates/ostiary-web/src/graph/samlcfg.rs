//! SAML configuration in Graph's shape: the service principal's SAML properties (PATCH),
//! `addTokenSigningCertificate`, `claimsPolicy` (a customClaimsPolicy: the NameID and the
//! attributes), and Ostiary's `importSamlMetadata` and `removeTokenSigningCertificate` actions.

use super::{Ctx, no_content};
use crate::error::GraphErr;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_api_types as api;
use ostiary_core::saml::{SamlClaimsUpdate, SamlUpdate, thumbprint};
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind, SamlClaim, SamlSettings};
use serde::Deserialize;
use serde_json::{Value, json};

/// The SAML part of a service principal PATCH, if it has one.
pub(super) fn update_from(body: &api::ServicePrincipalUpdate) -> Option<SamlUpdate> {
    let s = body.saml_single_sign_on_settings.clone().unwrap_or_default();
    let u = SamlUpdate {
        mode: body.preferred_single_sign_on_mode.clone(),
        login_url: body.login_url.clone(),
        logout_url: body.logout_url.clone(),
        preferred_thumbprint: body.preferred_token_signing_key_thumbprint.clone(),
        relay_state: s.relay_state,
        signing_option: s.signing_option,
        require_signed_requests: s.require_signed_requests,
        request_signing_certificates: s.request_signing_certificates,
    };
    let any = u.mode.is_some()
        || u.login_url.is_some()
        || u.logout_url.is_some()
        || u.preferred_thumbprint.is_some()
        || body.saml_single_sign_on_settings.is_some();
    any.then_some(u)
}

/// The Graph properties of a service principal that come from its SAML settings.
pub(super) fn render_sp(sp: &ostiary_model::ServicePrincipal, m: &mut serde_json::Map<String, Value>) {
    let settings = sp.ostiary_saml.as_ref();
    m.insert(
        "samlSingleSignOnSettings".into(),
        match settings {
            Some(s) => json!({
                "relayState": s.relay_state,
                "signingOption": s.signing_option,
                "requireSignedRequests": s.require_signed_requests,
                "requestSigningCertificates": s.request_signing_certificates,
            }),
            None => Value::Null,
        },
    );
    m.insert("preferredTokenSigningKeyThumbprint".into(), json!(settings.and_then(|s| s.preferred_thumbprint.clone())));
    let keys: Vec<Value> =
        settings.map(|s| s.certificates.iter().flat_map(key_credentials).collect()).unwrap_or_default();
    m.insert("keyCredentials".into(), Value::Array(keys));
}

/// Entra lists a SAML signing certificate twice: the signing (private) half and the verifying half.
fn key_credentials(c: &ostiary_model::SamlCertificate) -> Vec<Value> {
    let custom = custom_key_identifier(&c.thumbprint);
    ["Sign", "Verify"]
        .iter()
        .map(|usage| {
            json!({
                "customKeyIdentifier": custom,
                "displayName": c.display_name,
                "endDateTime": ostiary_store::filter::format_timestamp(c.end_date_time),
                "key": null,
                "keyId": c.key_id,
                "startDateTime": ostiary_store::filter::format_timestamp(c.start_date_time),
                "type": if *usage == "Sign" { "X509CertAndPassword" } else { "AsymmetricX509Cert" },
                "usage": usage,
            })
        })
        .collect()
}

fn custom_key_identifier(thumb_hex: &str) -> String {
    let bytes: Vec<u8> = (0..thumb_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(thumb_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    ostiary_crypto::b64::std_encode(&bytes)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddCertificate {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    end_date_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RemoveCertificate {
    key_id: uuid::Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportMetadata {
    metadata: String,
}

/// `/servicePrincipals/{id}/{action}` for the SAML actions; `None` if `rest` is not one of them.
pub(super) async fn route(ctx: &mut Ctx<'_>, id: ObjectId, rest: &[&str]) -> Option<Result<Response, GraphErr>> {
    let r = match rest {
        ["addTokenSigningCertificate"] => add_certificate(ctx, id).await,
        ["removeTokenSigningCertificate"] => remove_certificate(ctx, id).await,
        ["importSamlMetadata"] => import_metadata(ctx, id).await,
        ["claimsPolicy"] => claims_policy(ctx, id).await,
        _ => return None,
    };
    Some(r)
}

async fn add_certificate(ctx: &mut Ctx<'_>, id: ObjectId) -> Result<Response, GraphErr> {
    if ctx.method != Method::POST {
        return Err(GraphErr::method());
    }
    let body: AddCertificate = if ctx.body.as_ref().is_none_or(|b| b.iter().all(u8::is_ascii_whitespace)) {
        AddCertificate::default()
    } else {
        ctx.json().await?
    };
    let end = super::input::parse_time(body.end_date_time.as_deref(), "endDateTime")?;
    let c = ctx.core.add_saml_signing_certificate(&ctx.caller, id, body.display_name, end).await?;
    let der = ostiary_crypto::b64::std_decode(&c.cert).unwrap_or_default();
    let out = json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.selfSignedCertificate", ctx.base()),
        "customKeyIdentifier": custom_key_identifier(&c.thumbprint),
        "displayName": c.display_name,
        "endDateTime": ostiary_store::filter::format_timestamp(c.end_date_time),
        "key": c.cert,
        "keyId": c.key_id,
        "startDateTime": ostiary_store::filter::format_timestamp(c.start_date_time),
        "thumbprint": thumbprint(&der),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    });
    Ok((StatusCode::OK, axum::Json(out)).into_response())
}

async fn remove_certificate(ctx: &mut Ctx<'_>, id: ObjectId) -> Result<Response, GraphErr> {
    if ctx.method != Method::POST {
        return Err(GraphErr::method());
    }
    let body: RemoveCertificate = ctx.json().await?;
    ctx.core.remove_saml_signing_certificate(&ctx.caller, id, body.key_id).await?;
    Ok(no_content())
}

async fn import_metadata(ctx: &mut Ctx<'_>, id: ObjectId) -> Result<Response, GraphErr> {
    if ctx.method != Method::POST {
        return Err(GraphErr::method());
    }
    let body: ImportMetadata = ctx.json().await?;
    let sp = ctx.core.import_saml_metadata(&ctx.caller, id, &body.metadata).await?;
    super::entity(ctx, &DirectoryObject::ServicePrincipal(sp), "servicePrincipals")
}

async fn claims_policy(ctx: &mut Ctx<'_>, id: ObjectId) -> Result<Response, GraphErr> {
    match ctx.method {
        Method::GET => {
            let sp = load_sp(ctx, id).await?;
            let settings = sp.ostiary_saml.clone().unwrap_or_default();
            Ok((StatusCode::OK, axum::Json(policy_json(ctx, id, &settings))).into_response())
        }
        Method::PUT | Method::PATCH => {
            let replace = ctx.method == Method::PUT;
            let body: Value = ctx.json().await?;
            let update = parse_policy(&body, replace)?;
            let sp = ctx.core.update_saml_claims(&ctx.caller, id, update).await?;
            let settings = sp.ostiary_saml.clone().unwrap_or_default();
            Ok((StatusCode::OK, axum::Json(policy_json(ctx, id, &settings))).into_response())
        }
        _ => Err(GraphErr::method()),
    }
}

async fn load_sp(ctx: &Ctx<'_>, id: ObjectId) -> Result<ostiary_model::ServicePrincipal, GraphErr> {
    match ctx.core.get_object(&ctx.caller, Some(ObjectKind::ServicePrincipal), id).await? {
        DirectoryObject::ServicePrincipal(sp) => Ok(sp),
        _ => Err(GraphErr::not_found(&id.to_string())),
    }
}

fn sourced(source: &str, id: &str) -> Value {
    json!({ "@odata.type": "#microsoft.graph.sourcedAttribute", "source": source, "id": id, "isExtensionAttribute": false })
}

fn policy_json(ctx: &Ctx<'_>, id: ObjectId, s: &SamlSettings) -> Value {
    let mut claims = vec![json!({
        "@odata.type": "#microsoft.graph.samlNameIdClaim",
        "nameIdFormat": s.name_id_format,
        "configurations": [{ "condition": null, "attribute": sourced("user", &s.name_id_source), "transformations": [] }],
    })];
    for c in &s.claims {
        let attribute = match c.source.as_str() {
            "constant" => {
                json!({ "@odata.type": "#microsoft.graph.sourcedAttribute", "source": "constant", "id": c.value })
            }
            "user" => sourced("user", c.value.as_deref().unwrap_or_default()),
            other => sourced(other, other),
        };
        claims.push(json!({
            "@odata.type": "#microsoft.graph.customClaim",
            "name": c.name,
            "namespace": c.namespace,
            "samlAttributeNameFormat": null,
            "tokenFormat": ["saml"],
            "configurations": [{ "condition": null, "attribute": attribute, "transformations": [] }],
        }));
    }
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#servicePrincipals('{id}')/claimsPolicy/$entity", ctx.base()),
        "id": id.to_string(),
        "includeBasicClaimSet": s.include_basic_claims,
        "includeApplicationIdInIssuer": false,
        "audienceOverride": null,
        "groupFilter": null,
        "claims": claims,
    })
}

/// Reads a customClaimsPolicy body. PUT replaces (absent parts become defaults); PATCH changes
/// what is present.
fn parse_policy(body: &Value, replace: bool) -> Result<SamlClaimsUpdate, GraphErr> {
    let obj = body.as_object().ok_or_else(|| GraphErr::bad("The body must be a claimsPolicy object."))?;
    const KNOWN: &[&str] = &[
        "@odata.type",
        "@odata.context",
        "id",
        "includeBasicClaimSet",
        "includeApplicationIdInIssuer",
        "audienceOverride",
        "groupFilter",
        "claims",
    ];
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(GraphErr::bad(format!(
            "Invalid property '{}'. The property does not exist on the resource.",
            ostiary_oauth::error::sanitize(k)
        )));
    }
    let mut u = SamlClaimsUpdate {
        include_basic_claims: match obj.get("includeBasicClaimSet") {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => replace.then_some(true),
            Some(_) => return Err(GraphErr::bad("includeBasicClaimSet must be a boolean.")),
        },
        ..SamlClaimsUpdate::default()
    };
    if replace {
        u.name_id_format = Some("emailAddress".into());
        u.name_id_source = Some("userPrincipalName".into());
        u.claims = Some(Vec::new());
    }
    let Some(claims) = obj.get("claims") else { return Ok(u) };
    let claims = claims.as_array().ok_or_else(|| GraphErr::bad("claims must be an array."))?;
    let mut custom = Vec::new();
    for c in claims {
        let kind = c.get("@odata.type").and_then(Value::as_str).unwrap_or("#microsoft.graph.customClaim");
        let attribute = c
            .get("configurations")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|conf| conf.get("attribute"))
            .filter(|a| a.is_object());
        let source = attribute.and_then(|a| a.get("source")).and_then(Value::as_str).unwrap_or("user");
        let value = attribute.and_then(|a| a.get("id").or_else(|| a.get("value"))).and_then(Value::as_str);
        match kind.trim_start_matches('#') {
            "microsoft.graph.samlNameIdClaim" => {
                if let Some(f) = c.get("nameIdFormat").and_then(Value::as_str) {
                    u.name_id_format = Some(f.to_string());
                }
                if let Some(v) = value {
                    if source != "user" {
                        return Err(GraphErr::bad("The NameID must come from a user property."));
                    }
                    u.name_id_source = Some(v.to_string());
                }
            }
            "microsoft.graph.customClaim" => {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| GraphErr::bad("A customClaim needs a name."))?;
                if attribute.is_none() {
                    return Err(GraphErr::bad(format!(
                        "Claim '{}' needs configurations[0].attribute.",
                        ostiary_oauth::error::sanitize(name)
                    )));
                }
                custom.push(SamlClaim {
                    name: name.to_string(),
                    namespace: c.get("namespace").and_then(Value::as_str).map(str::to_string),
                    source: source.to_string(),
                    value: match source {
                        "groups" | "roles" => None,
                        _ => value.map(str::to_string),
                    },
                });
            }
            other => {
                return Err(GraphErr::bad(format!(
                    "Unsupported claim type '{}': use microsoft.graph.customClaim or microsoft.graph.samlNameIdClaim.",
                    ostiary_oauth::error::sanitize(other)
                )));
            }
        }
    }
    u.claims = Some(custom);
    Ok(u)
}
