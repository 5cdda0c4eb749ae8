//! Entra-shaped protocol endpoints: OpenID discovery, JWKS and the token endpoint.

use crate::AppState;
use crate::error::{no_store, oauth_error};
use crate::meta::RequestMeta;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::ids::is_multi_tenant_alias;
use ostiary_core::token::TokenAudit;
use ostiary_oauth::{OAuthError, TokenRequest, parse_basic_auth};
use serde_json::json;

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    Extension(meta): Extension<RequestMeta>,
) -> Response {
    let core = &st.core;
    let base = &core.config.public_base;
    // On the multi-tenant aliases the issuer keeps Entra's `{tenantid}` placeholder.
    let (segment, issuer) = if is_multi_tenant_alias(&tenant) {
        (tenant.to_ascii_lowercase(), format!("{base}/{{tenantid}}/v2.0"))
    } else {
        match core.resolve_tenant(&tenant).await {
            Ok(id) => (id.to_string(), core.config.issuer(id)),
            Err(e) => return oauth_error(&e, &meta, core.now()),
        }
    };
    let doc = json!({
        "token_endpoint": format!("{base}/{segment}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "jwks_uri": format!("{base}/{segment}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{segment}/oauth2/v2.0/logout"),
        "introspection_endpoint": format!("{base}/{segment}/oauth2/v2.0/introspect"),
        "revocation_endpoint": format!("{base}/{segment}/oauth2/v2.0/revoke"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": "ostiary",
        "cloud_graph_host_name": base.trim_start_matches("https://"),
        "msgraph_host": base.trim_start_matches("https://"),
    });
    let mut resp = json_response(StatusCode::OK, &doc);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400, private"));
    resp
}

/// `GET /{tenant}/discovery/v2.0/keys`: pre-rendered per tenant.
pub async fn jwks(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    Extension(meta): Extension<RequestMeta>,
) -> Response {
    let core = &st.core;
    let id = match core.resolve_tenant(&tenant).await {
        Ok(id) => id,
        Err(e) => return oauth_error(&e, &meta, core.now()),
    };
    match core.tenant_state(id).await {
        Ok(state) => {
            let mut resp = Response::new(Body::from(state.keys.jwks.as_ref().clone()));
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            // Short cache: clients re-fetch on an unknown kid anyway; rotation publishes early.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300, public"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, tenant = %id, "cannot load keys");
            oauth_error(&OAuthError::temporarily_unavailable(), &meta, core.now())
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let fail = |e: OAuthError| oauth_error(&e, &meta, core.now());
    let is_form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return fail(OAuthError::invalid_request(
            900561,
            "The endpoint only accepts POST requests with Content-Type application/x-www-form-urlencoded.",
        ));
    }
    let bytes = match axum::body::to_bytes(body, crate::MAX_FORM_BODY).await {
        Ok(b) => b,
        Err(_) => return fail(OAuthError::invalid_request(90014, "The request body is too large.")),
    };
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_basic_auth) {
        Some(Ok(pair)) => Some(pair),
        Some(Err(e)) => return fail(e),
        None => None,
    };
    let req = match TokenRequest::parse(&fields, basic) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut audit = TokenAudit { ctx: meta.context(), ..TokenAudit::default() };
    let started = std::time::Instant::now();
    let result = core.token(&tenant, &req, &mut audit).await;
    core.record_token_request(&req.grant_type, &audit, result.as_ref(), meta.context(), started.elapsed()).await;
    match result {
        Ok(t) => {
            let mut body = json!({
                "token_type": t.token_type,
                "expires_in": t.expires_in,
                "ext_expires_in": t.expires_in,
                "access_token": t.access_token,
            });
            if let Some(u) = &t.user {
                body["scope"] = json!(u.scope);
                if let Some(id) = &u.id_token {
                    body["id_token"] = json!(id);
                }
                if let Some(rt) = &u.refresh_token {
                    body["refresh_token"] = json!(rt);
                }
                if let Some(ci) = &u.client_info {
                    body["client_info"] = json!(ci);
                }
            }
            let mut resp = json_response(StatusCode::OK, &body);
            no_store(&mut resp);
            resp
        }
        Err(e) => {
            // Every refusal is in the sign-in log; at info level a credential-stuffing storm would
            // flood the process log too.
            tracing::debug!(code = e.code, error = e.kind.as_str(), client_id = ?audit.client_id, tenant = ?audit.tenant, "token request refused");
            fail(e)
        }
    }
}

/// Authenticates a confidential client on introspection and revocation.
async fn confidential_client(
    st: &AppState,
    segment: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(std::sync::Arc<ostiary_core::cache::TenantState>, uuid::Uuid, String), OAuthError> {
    let core = &st.core;
    let bytes = axum::body::to_bytes(body, crate::MAX_FORM_BODY)
        .await
        .map_err(|_| OAuthError::invalid_request(90014, "The request body is too large."))?;
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_basic_auth) {
        Some(Ok(pair)) => Some(pair),
        Some(Err(e)) => return Err(e),
        None => None,
    };
    let req = TokenRequest::parse_client_request(&fields, basic)?;
    let tenant = core.resolve_tenant(segment).await?;
    let state = core.tenant_state(tenant).await.map_err(|_| OAuthError::temporarily_unavailable())?;
    let (client, azpacr) = core.authenticate_client(&state, tenant, segment, &req.client).await?;
    if azpacr == "0" {
        return Err(OAuthError::credentials_required());
    }
    let app_id = client.app.app_id;
    let token = req
        .param("token")
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| OAuthError::missing_parameter("token"))?;
    Ok((state, app_id, token))
}

/// `POST /{tenant}/oauth2/v2.0/introspect` (RFC 7662; an Ostiary extension: Entra has none).
pub async fn introspect(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let (state, app_id, token) = match confidential_client(&st, &segment, &headers, body).await {
        Ok(x) => x,
        Err(e) => return oauth_error(&e, &meta, core.now()),
    };
    let Some(client) = state.clients.get(&app_id) else {
        return oauth_error(&OAuthError::server_error(), &meta, core.now());
    };
    let body = core.introspect(&state, client, &token).await;
    let mut resp = json_response(StatusCode::OK, &body);
    no_store(&mut resp);
    resp
}

/// `POST /{tenant}/oauth2/v2.0/revoke` (RFC 7009; an Ostiary extension).
pub async fn revoke(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let (state, app_id, token) = match confidential_client(&st, &segment, &headers, body).await {
        Ok(x) => x,
        Err(e) => return oauth_error(&e, &meta, core.now()),
    };
    let Some(client) = state.clients.get(&app_id) else {
        return oauth_error(&OAuthError::server_error(), &meta, core.now());
    };
    match core.revoke(&state, client, &token).await {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => oauth_error(&e, &meta, core.now()),
    }
}
