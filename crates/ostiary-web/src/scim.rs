//! The SCIM 2.0 service provider at `/scim/v2/{tenant}/…`: routing, bearer authentication
//! (our own Graph-audience tokens, tenant-bound), bodies, ETag headers, `attributes` /
//! `excludedAttributes` projection, and SCIM error JSON for every failure.

use crate::AppState;
use crate::meta::RequestMeta;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ostiary_core::scim::{MAX_BULK_OPERATIONS, MAX_BULK_PAYLOAD, MAX_RESULTS, ScimKind, ScimResource, list_json};
use ostiary_core::{Caller, Core};
use ostiary_scim::list::{ListParams, parse_list_params, parse_search_request};
use ostiary_scim::project::project;
use ostiary_scim::schema::{GROUP_RESOURCE, ProviderCaps, USER_RESOURCE};
use ostiary_scim::{CONTENT_TYPE, ScimError, ScimType};
use serde_json::Value;

/// Largest body of a single-resource request.
const MAX_RESOURCE_BODY: usize = 1024 * 1024;

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = scim_json(status, &e.to_json());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ostiary-scim\""));
    }
    r
}

fn plain(status: u16, detail: impl Into<String>) -> ScimError {
    ScimError { status, scim_type: None, detail: detail.into() }
}

fn resource_response(status: StatusCode, res: &ScimResource, body: Value) -> Response {
    let mut r = scim_json(status, &body);
    if let Ok(v) = HeaderValue::from_str(&res.etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&res.location)
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `/scim/v2/{tenant}` and everything below it.
pub async fn dispatch(
    State(st): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&st.core, &meta, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = error_response(&e.0);
            if let Some(s) = e.1
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

/// A SCIM error and, for 429, the seconds to wait.
struct Fail(ScimError, Option<u64>);

impl From<ScimError> for Fail {
    fn from(e: ScimError) -> Self {
        Fail(e, None)
    }
}

async fn authenticate(core: &Core, headers: &HeaderMap, tenant: &str) -> Result<Caller, ScimError> {
    let unauth = |m: &str| plain(401, m);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauth("A bearer token is required."))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| unauth("A bearer token is required."))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauth("A bearer token is required."));
    }
    let caller = core.authenticate_bearer(token.trim()).await.map_err(|e| unauth(&e.0))?;
    // The token's tenant is the only tenant it may touch.
    if !caller.tenant.to_string().eq_ignore_ascii_case(tenant) {
        return Err(unauth("The access token was issued for another tenant."));
    }
    Ok(caller)
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn read_json(body: Body, limit: usize) -> Result<Value, ScimError> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| plain(413, format!("The request body is larger than {limit} bytes.")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::bad(ScimType::InvalidSyntax, "The request body is empty; a JSON object was expected."));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::bad(
            ScimType::InvalidSyntax,
            format!("The request body is not valid JSON: {}", ostiary_oauth::error::sanitize(&e.to_string())),
        )
    })?;
    if !v.is_object() {
        return Err(ScimError::bad(ScimType::InvalidSyntax, "The request body must be a JSON object."));
    }
    if has_nul(&v) {
        return Err(ScimError::bad(ScimType::InvalidValue, "NUL characters are not allowed."));
    }
    Ok(v)
}

/// NUL can be neither shown nor stored (PostgreSQL text refuses it).
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn resource_schema(kind: ScimKind) -> &'static ostiary_scim::schema::ResourceSchema {
    match kind {
        ScimKind::User => &USER_RESOURCE,
        ScimKind::Group => &GROUP_RESOURCE,
    }
}

/// Whether a group's `members` or a user's `groups` survives the projection (so it must be read).
fn wants_relations(kind: ScimKind, p: &ListParams) -> bool {
    let attr = if kind == ScimKind::Group { "members" } else { "groups" };
    let named = |list: &[ostiary_scim::filter::AttrPath]| list.iter().any(|a| a.attr.eq_ignore_ascii_case(attr));
    !named(&p.excluded) && (p.attributes.is_empty() || named(&p.attributes))
}

fn method_not_allowed() -> ScimError {
    plain(405, "The method is not allowed on this endpoint.")
}

async fn handle(
    core: &Core,
    meta: &RequestMeta,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    let path = uri.path().strip_prefix("/scim/v2/").unwrap_or("");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let Some(tenant) = segs.first() else { return Err(ScimError::not_found("Unknown SCIM endpoint.").into()) };
    let mut caller = authenticate(core, headers, tenant).await?;
    caller.ctx = meta.context();
    if let Err(retry) = core.graph_throttle.check(caller.tenant, &caller.app_id, core.now()) {
        return Err(Fail(
            plain(429, "Too many requests; retry after the time in the Retry-After header."),
            Some(retry),
        ));
    }
    let base = core.scim_base(caller.tenant);
    let rest: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let ok = |v: Value| Ok(scim_json(StatusCode::OK, &v));
    match rest.as_slice() {
        [s] if s.eq_ignore_ascii_case("ServiceProviderConfig") => {
            if !get {
                return Err(method_not_allowed().into());
            }
            let caps = ProviderCaps {
                max_operations: MAX_BULK_OPERATIONS,
                max_payload_size: MAX_BULK_PAYLOAD,
                max_results: MAX_RESULTS,
                documentation_uri: None,
            };
            ok(ostiary_scim::schema::service_provider_config_json(&base, &caps))
        }
        [s] if s.eq_ignore_ascii_case("Schemas") => {
            if !get {
                return Err(method_not_allowed().into());
            }
            ok(ostiary_scim::schema::schemas_list_json(&base))
        }
        [s, id] if s.eq_ignore_ascii_case("Schemas") => {
            if !get {
                return Err(method_not_allowed().into());
            }
            let found = ostiary_scim::schema::ALL_SCHEMAS.iter().find(|sc| sc.id.eq_ignore_ascii_case(id));
            match found {
                Some(sc) => ok(ostiary_scim::schema::schema_json(sc, &base)),
                None => {
                    Err(ScimError::not_found(format!("Schema {} not found", ostiary_oauth::error::sanitize(id))).into())
                }
            }
        }
        [s] if s.eq_ignore_ascii_case("ResourceTypes") => {
            if !get {
                return Err(method_not_allowed().into());
            }
            ok(ostiary_scim::schema::resource_types_json(&base))
        }
        [s, name] if s.eq_ignore_ascii_case("ResourceTypes") => {
            if !get {
                return Err(method_not_allowed().into());
            }
            let rs = [&USER_RESOURCE, &GROUP_RESOURCE].into_iter().find(|r| r.name.eq_ignore_ascii_case(name));
            match rs {
                Some(rs) => ok(ostiary_scim::schema::resource_type_json(rs, &base)),
                None => Err(ScimError::not_found(format!(
                    "Resource type {} not found",
                    ostiary_oauth::error::sanitize(name)
                ))
                .into()),
            }
        }
        [s] if s.eq_ignore_ascii_case("Bulk") => {
            if method != Method::POST {
                return Err(method_not_allowed().into());
            }
            let limit = usize::try_from(MAX_BULK_PAYLOAD).unwrap_or(usize::MAX);
            let body = read_json(body, limit).await?;
            ok(core.scim_bulk(&caller, &body).await?)
        }
        [s] if s.eq_ignore_ascii_case(".search") => {
            if method != Method::POST {
                return Err(method_not_allowed().into());
            }
            let body = read_json(body, MAX_RESOURCE_BODY).await?;
            let params = parse_search_request(&body, MAX_RESULTS)?;
            ok(search_all(core, &caller, &params).await?)
        }
        [s, rest @ ..] if kind_of(s).is_some() => {
            let kind = kind_of(s).unwrap_or(ScimKind::User);
            resource_route(core, &caller, kind, method, uri, headers, body, rest).await
        }
        _ => Err(ScimError::not_found("Unknown SCIM endpoint.").into()),
    }
}

fn kind_of(seg: &str) -> Option<ScimKind> {
    if seg.eq_ignore_ascii_case("Users") {
        Some(ScimKind::User)
    } else if seg.eq_ignore_ascii_case("Groups") {
        Some(ScimKind::Group)
    } else {
        None
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource_route(
    core: &Core,
    caller: &Caller,
    kind: ScimKind,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    rest: &[&str],
) -> Result<Response, Fail> {
    let rs = resource_schema(kind);
    let pairs = query_pairs(uri);
    match (method.clone(), rest) {
        (Method::GET, []) => {
            let params = parse_list_params(&pairs, MAX_RESULTS)?;
            Ok(list(core, caller, kind, &params).await?)
        }
        (Method::POST, [s]) if s.eq_ignore_ascii_case(".search") => {
            let body = read_json(body, MAX_RESOURCE_BODY).await?;
            let params = parse_search_request(&body, MAX_RESULTS)?;
            Ok(list(core, caller, kind, &params).await?)
        }
        (Method::POST, []) => {
            let body = read_json(body, MAX_RESOURCE_BODY).await?;
            let res = core.scim_create(caller, kind, &body).await?;
            let params = parse_list_params(&pairs, MAX_RESULTS)?;
            let out = project(&res.body, rs, &params.attributes, &params.excluded);
            Ok(resource_response(StatusCode::CREATED, &res, out))
        }
        (Method::GET, [id]) => {
            let params = parse_list_params(&pairs, MAX_RESULTS)?;
            let res = core.scim_get(caller, kind, id, wants_relations(kind, &params)).await?;
            if let Some(inm) = header_str(headers, header::IF_NONE_MATCH)
                && ostiary_scim::etag::etag_matches(inm, &res.etag)
            {
                let mut r = StatusCode::NOT_MODIFIED.into_response();
                if let Ok(v) = HeaderValue::from_str(&res.etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                return Ok(r);
            }
            let out = project(&res.body, rs, &params.attributes, &params.excluded);
            Ok(resource_response(StatusCode::OK, &res, out))
        }
        (Method::PUT, [id]) => {
            let body = read_json(body, MAX_RESOURCE_BODY).await?;
            let res = core.scim_replace(caller, kind, id, &body, header_str(headers, header::IF_MATCH)).await?;
            let params = parse_list_params(&pairs, MAX_RESULTS)?;
            let out = project(&res.body, rs, &params.attributes, &params.excluded);
            Ok(resource_response(StatusCode::OK, &res, out))
        }
        (Method::PATCH, [id]) => {
            let body = read_json(body, MAX_RESOURCE_BODY).await?;
            let res = core.scim_patch(caller, kind, id, &body, header_str(headers, header::IF_MATCH)).await?;
            // Entra expects 204 for group PATCH; users get the resource back (RFC 7644 §3.5.2).
            if kind == ScimKind::Group && pairs.is_empty() {
                let mut r = StatusCode::NO_CONTENT.into_response();
                if let Ok(v) = HeaderValue::from_str(&res.etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                return Ok(r);
            }
            let params = parse_list_params(&pairs, MAX_RESULTS)?;
            let out = project(&res.body, rs, &params.attributes, &params.excluded);
            Ok(resource_response(StatusCode::OK, &res, out))
        }
        (Method::DELETE, [id]) => {
            core.scim_delete(caller, kind, id, header_str(headers, header::IF_MATCH)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (_, [] | [_]) => Err(method_not_allowed().into()),
        _ => Err(ScimError::not_found("Unknown SCIM endpoint.").into()),
    }
}

/// `POST /.search` at the root: users, then groups. A filter that names attributes only one
/// type has matches nothing of the other. Pages over at most `MAX_RESULTS` of each type.
async fn search_all(core: &Core, caller: &Caller, params: &ListParams) -> Result<Value, ScimError> {
    let mut resources = Vec::new();
    let mut total = 0;
    let mut all = params.clone();
    all.start_index = 1;
    all.count = Some(MAX_RESULTS);
    for kind in [ScimKind::User, ScimKind::Group] {
        let rs = resource_schema(kind);
        match core.scim_list(caller, kind, &all, wants_relations(kind, params)).await {
            Ok(page) => {
                total += page.total;
                resources.extend(page.resources.iter().map(|r| project(r, rs, &params.attributes, &params.excluded)));
            }
            Err(e) if e.scim_type == Some(ScimType::InvalidFilter) && params.filter.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    let start = params.start_index.max(1);
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = params.count.map_or(usize::MAX, |c| c as usize);
    let page: Vec<Value> = resources.into_iter().skip(skip).take(take).collect();
    Ok(ostiary_scim::list::list_response(page, total, start))
}

async fn list(core: &Core, caller: &Caller, kind: ScimKind, params: &ListParams) -> Result<Response, ScimError> {
    let rs = resource_schema(kind);
    let mut page = core.scim_list(caller, kind, params, wants_relations(kind, params)).await?;
    page.resources = page.resources.iter().map(|r| project(r, rs, &params.attributes, &params.excluded)).collect();
    Ok(scim_json(StatusCode::OK, &list_json(page)))
}
