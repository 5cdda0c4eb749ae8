//! The Graph-shaped admin API under `/v1.0`. Graph URLs are OData paths (key segments such as
//! `applications(appId='...')`, type casts, `$ref`, `$count`), so one dispatcher parses the
//! path into segments and routes by hand instead of a route table.

mod identity;
pub mod input;
pub mod query;
pub mod render;
mod samlcfg;
mod sync;

use crate::AppState;
use crate::error::GraphErr;
use crate::meta::RequestMeta;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ostiary_api_types as api;
use ostiary_core::audit::Actor;
use ostiary_core::{Caller, Core, DirError};
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind};
use ostiary_store::{ListQuery, LogKind, Page, Relation};
use query::QueryOptions;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub async fn dispatch_root(State(st): State<AppState>, Extension(meta): Extension<RequestMeta>) -> Response {
    GraphErr::segment("v1.0").render(&meta, st.core.now())
}

pub async fn dispatch(
    State(st): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    match handle(core, &meta, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.render(&meta, core.now()),
    }
}

struct Ctx<'a> {
    core: &'a Core,
    caller: Caller,
    opts: QueryOptions,
    method: Method,
    /// The request body, read up front (bounded) so `Ctx` stays `Sync`; `None` if too large.
    body: Option<axum::body::Bytes>,
    /// `Ostiary-Allow-Lockout: true`: save a Conditional Access policy the lockout guard refuses.
    allow_lockout: bool,
}

impl Ctx<'_> {
    async fn json<T: DeserializeOwned>(&mut self) -> Result<T, GraphErr> {
        let bytes = self.body.take().ok_or_else(GraphErr::too_large)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(GraphErr::bad("The request body is empty; a JSON object was expected."));
        }
        // NUL can be neither displayed nor stored (PostgreSQL text refuses it): reject it here.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(GraphErr::bad("Invalid request body: NUL characters are not allowed."));
        }
        if self.method == Method::PATCH {
            reject_nulls(&bytes)?;
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            let text = e.to_string();
            if let Some(rest) = text.strip_prefix("unknown field `") {
                let name = rest.split('`').next().unwrap_or("");
                GraphErr::bad(format!(
                    "Invalid property '{}'. The property does not exist on the resource.",
                    ostiary_oauth::error::sanitize(name)
                ))
            } else {
                GraphErr::bad(format!("Invalid request body: {}", ostiary_oauth::error::sanitize(&text)))
            }
        })
    }

    fn base(&self) -> &str {
        &self.core.config.public_base
    }
}

/// Properties that exist on the resources here and may not be set to `null` (Graph answers 400;
/// silently ignoring the null would hide a client bug).
const NOT_NULLABLE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "userPrincipalName",
    "mailNickname",
    "passwordProfile",
    "businessPhones",
    "otherMails",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "signInAudience",
    "identifierUris",
    "appRoles",
    "api",
    "keyCredentials",
    "passwordCredentials",
    "web",
    "spa",
    "publicClient",
    "requiredResourceAccess",
    "tags",
    "appRoleAssignmentRequired",
    "userType",
];

fn reject_nulls(bytes: &[u8]) -> Result<(), GraphErr> {
    // A body that is not a JSON object is reported by the typed parse that follows.
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(bytes)
        && let Some(k) = m.iter().find(|(k, v)| v.is_null() && NOT_NULLABLE.contains(&k.as_str())).map(|(k, _)| k)
    {
        return Err(GraphErr::bad(format!("Invalid null value for property '{k}': the property is not nullable.")));
    }
    Ok(())
}

fn decode(seg: &str) -> String {
    percent_encoding::percent_decode_str(seg).decode_utf8_lossy().into_owned()
}

/// `applications(appId='...')` → ("applications", Some("appId", "...")).
fn key_segment(seg: &str) -> (String, Option<(String, String)>) {
    if let Some((name, rest)) = seg.split_once('(')
        && let Some(inner) = rest.strip_suffix(')')
    {
        let (k, v) = inner.split_once('=').unwrap_or(("id", inner));
        let v = v.trim().trim_matches('\'').to_string();
        return (name.to_string(), Some((k.trim().to_string(), v)));
    }
    (seg.to_string(), None)
}

async fn authenticate(core: &Core, headers: &HeaderMap) -> Result<Caller, GraphErr> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| GraphErr::unauthenticated("Access token is empty."))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| GraphErr::unauthenticated("Access token is empty."))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(GraphErr::unauthenticated("Access token is empty."));
    }
    core.authenticate_bearer(token.trim()).await.map_err(|e| GraphErr::unauthenticated(e.0))
}

async fn handle(
    core: &Core,
    meta: &RequestMeta,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphErr> {
    let mut caller = authenticate(core, headers).await?;
    caller.ctx = meta.context();
    core.graph_throttle.check(caller.tenant, &caller.app_id, core.now()).map_err(GraphErr::throttled)?;
    let eventual = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let opts = QueryOptions::parse(uri.query(), eventual)?;
    let path = uri.path().strip_prefix("/v1.0").unwrap_or("");
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    if segs.len() > 6 {
        return Err(GraphErr::segment(segs.last().map(String::as_str).unwrap_or("")));
    }
    let body = axum::body::to_bytes(body, crate::MAX_JSON_BODY).await.ok();
    let allow_lockout = headers
        .get("ostiary-allow-lockout")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut ctx = Ctx { core, caller, opts, method, body, allow_lockout };
    let Some(first) = segs.first() else { return Err(GraphErr::segment("v1.0")) };
    let (collection, key) = key_segment(first);
    let rest: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    let result = route(&mut ctx, &collection, key, &rest).await;
    // F6 (mis-scoped RBAC): a write refused for lack of permission is on record as a failed
    // activity, so "access denied" shows in the audit log and the SIEM.
    if let Err(e) = &result
        && e.status == StatusCode::FORBIDDEN
        && ctx.method != Method::GET
    {
        let mut target = ostiary_core::audit::Target::new(path.to_string(), "Other");
        target.display_name = Some(format!("{} {}", ctx.method, path));
        let activity = ostiary_core::audit::Activity::new("Access denied", "DirectoryManagement", "Other")
            .target(target)
            .failed("Insufficient privileges to complete the operation.");
        core.record_audit(&Actor::from_caller(&ctx.caller), activity).await;
    }
    result
}

async fn route(
    ctx: &mut Ctx<'_>,
    collection: &str,
    key: Option<(String, String)>,
    rest: &[&str],
) -> Result<Response, GraphErr> {
    match collection {
        "users" => users(ctx, key, rest).await,
        "groups" => groups(ctx, key, rest).await,
        "applications" => applications(ctx, key, rest).await,
        "servicePrincipals" => service_principals(ctx, key, rest).await,
        "directoryObjects" => directory_objects(ctx, rest).await,
        "organization" => organization(ctx, rest).await,
        "oauth2PermissionGrants" => permission_grants(ctx, rest).await,
        "policies" => policies(ctx, rest).await,
        "auditLogs" => audit_logs(ctx, rest).await,
        "identity" => identity::identity(ctx, rest).await,
        "identityProtection" => identity::identity_protection(ctx, rest).await,
        "me" => Err(GraphErr::bad("/me request is only valid with delegated authentication flow.")),
        other => Err(GraphErr::segment(other)),
    }
}

// ---------------------------------------------------------------------------------------
// Responses

fn with_context(mut m: serde_json::Map<String, Value>, ctx: &Ctx<'_>, what: &str) -> Value {
    let mut out = serde_json::Map::with_capacity(m.len() + 1);
    out.insert("@odata.context".into(), json!(format!("{}/v1.0/$metadata#{what}/$entity", ctx.base())));
    out.append(&mut m);
    Value::Object(out)
}

fn entity(ctx: &Ctx<'_>, obj: &DirectoryObject, what: &str) -> Result<Response, GraphErr> {
    let select = ctx.opts.select()?;
    let m = render::select(render::object(obj), select.as_deref(), obj.kind())?;
    Ok((StatusCode::OK, axum::Json(with_context(m, ctx, what))).into_response())
}

fn created(ctx: &Ctx<'_>, obj: &DirectoryObject, what: &str) -> Response {
    let body = with_context(render::object(obj), ctx, what);
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1.0/{what}/{}", ctx.base(), obj.id())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn collection(ctx: &Ctx<'_>, page: Page<DirectoryObject>, path: &str, what: &str) -> Result<Response, GraphErr> {
    let select = ctx.opts.select()?;
    let mut values = Vec::with_capacity(page.items.len());
    for o in &page.items {
        values.push(Value::Object(render::select(render::object(o), select.as_deref(), o.kind())?));
    }
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/v1.0/$metadata#{what}", ctx.base())));
    if let Some(c) = page.count {
        body.insert("@odata.count".into(), json!(c));
    }
    if let Some(next) = &page.next {
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/{path}?{}", ctx.base(), ctx.opts.next_query(next))),
        );
    }
    body.insert("value".into(), Value::Array(values));
    Ok((StatusCode::OK, axum::Json(Value::Object(body))).into_response())
}

fn assignments(ctx: &Ctx<'_>, list: &[ostiary_model::AppRoleAssignment]) -> Response {
    let body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#appRoleAssignments", ctx.base()),
        "value": list.iter().map(render::assignment).collect::<Vec<_>>(),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn count(ctx: &Ctx<'_>, kind: ObjectKind) -> Result<Response, GraphErr> {
    if !ctx.opts.eventual {
        return Err(GraphErr::bad("$count is not currently supported without the ConsistencyLevel: eventual header."));
    }
    let mut q = ctx.opts.list_query(Some(kind))?;
    q.count = true;
    q.top = 1;
    q.skip_token = None;
    let page = ctx.core.list_objects(&ctx.caller, kind, &q).await?;
    let mut resp = page.count.unwrap_or(0).to_string().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

fn cast_kind(seg: Option<&&str>) -> Result<Option<ObjectKind>, GraphErr> {
    match seg {
        None => Ok(None),
        Some(s) => match *s {
            "microsoft.graph.user" => Ok(Some(ObjectKind::User)),
            "microsoft.graph.group" => Ok(Some(ObjectKind::Group)),
            "microsoft.graph.servicePrincipal" => Ok(Some(ObjectKind::ServicePrincipal)),
            other => Err(GraphErr::segment(other)),
        },
    }
}

async fn related(
    ctx: &Ctx<'_>,
    relation: Relation,
    cast: Option<ObjectKind>,
    path: &str,
    count_only: bool,
) -> Result<Response, GraphErr> {
    let mut q: ListQuery = ctx.opts.list_query(cast)?;
    q.cast = cast;
    if count_only {
        if !ctx.opts.eventual {
            return Err(GraphErr::bad(
                "$count is not currently supported without the ConsistencyLevel: eventual header.",
            ));
        }
        q.count = true;
        q.top = 1;
        q.skip_token = None;
        let page = ctx.core.list_related(&ctx.caller, relation, &q).await?;
        let mut resp = page.count.unwrap_or(0).to_string().into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(resp);
    }
    let page = ctx.core.list_related(&ctx.caller, relation, &q).await?;
    // The next page must keep the type cast (`.../members/microsoft.graph.user`).
    let path = match cast {
        Some(k) => format!("{path}/{}", k.odata_type().trim_start_matches('#')),
        None => path.to_string(),
    };
    collection(ctx, page, &path, "directoryObjects")
}

fn parse_id(s: &str) -> Result<ObjectId, GraphErr> {
    s.parse::<ObjectId>().map_err(|_| GraphErr::not_found(s))
}

fn only_get(ctx: &Ctx<'_>) -> Result<(), GraphErr> {
    if ctx.method == Method::GET { Ok(()) } else { Err(GraphErr::method()) }
}

/// Shared handling of `/x/{id}/memberOf|transitiveMemberOf[/cast]`.
async fn member_of(ctx: &Ctx<'_>, id: ObjectId, rel: &str, rest: &[&str], path: &str) -> Result<Response, GraphErr> {
    only_get(ctx)?;
    let transitive = rel == "transitiveMemberOf";
    let (cast, count_only) = cast_and_count(rest)?;
    related(ctx, Relation::MemberOf { object: id, transitive }, cast, path, count_only).await
}

/// The tail of a relation path: an optional type cast, then an optional `$count`.
fn cast_and_count(rest: &[&str]) -> Result<(Option<ObjectKind>, bool), GraphErr> {
    match rest {
        [] => Ok((None, false)),
        ["$count"] => Ok((None, true)),
        [cast] => Ok((cast_kind(Some(cast))?, false)),
        [cast, "$count"] => Ok((cast_kind(Some(cast))?, true)),
        [_, other, ..] => Err(GraphErr::segment(other)),
    }
}

/// Shared handling of `/x/{id}/appRoleAssignments[/{aid}]` (the object as principal) and
/// `/servicePrincipals/{id}/appRoleAssignedTo[/{aid}]` (the object as resource).
async fn role_assignments(
    ctx: &mut Ctx<'_>,
    id: ObjectId,
    as_principal: bool,
    rest: &[&str],
) -> Result<Response, GraphErr> {
    match (rest, ctx.method.clone()) {
        ([], Method::GET) => {
            let list = ctx.core.list_app_role_assignments(&ctx.caller, id, as_principal).await?;
            Ok(assignments(ctx, &list))
        }
        ([], Method::POST) => {
            let body: api::AppRoleAssignmentCreate = ctx.json().await?;
            let (principal, resource) = (ObjectId::from_uuid(body.principal_id), ObjectId::from_uuid(body.resource_id));
            if as_principal && principal != id {
                return Err(GraphErr::bad("principalId must be the object in the request URL."));
            }
            if !as_principal && resource != id {
                return Err(GraphErr::bad("resourceId must be the service principal in the request URL."));
            }
            let a = ctx.core.assign_app_role(&ctx.caller, principal, resource, body.app_role_id).await?;
            Ok((StatusCode::CREATED, axum::Json(render::assignment(&a))).into_response())
        }
        ([aid], Method::DELETE) => {
            ctx.core.remove_app_role_assignment(&ctx.caller, id, aid).await?;
            Ok(no_content())
        }
        ([_], _) | ([], _) => Err(GraphErr::method()),
        (more, _) => Err(GraphErr::segment(more.last().copied().unwrap_or(""))),
    }
}

// ---------------------------------------------------------------------------------------
// Collections

async fn users(ctx: &mut Ctx<'_>, key: Option<(String, String)>, rest: &[&str]) -> Result<Response, GraphErr> {
    let (id_seg, rest) = match (key, rest) {
        (Some((_, v)), rest) => (Some(v), rest),
        (None, [first, more @ ..]) => (Some((*first).to_string()), more),
        (None, []) => (None, rest),
    };
    let Some(id_seg) = id_seg else {
        return match ctx.method {
            Method::GET => {
                let q = ctx.opts.list_query(Some(ObjectKind::User))?;
                let page = ctx.core.list_objects(&ctx.caller, ObjectKind::User, &q).await?;
                collection(ctx, page, "users", "users")
            }
            Method::POST => {
                let body: api::UserCreate = ctx.json().await?;
                let (user, password, _) = input::user_from_create(body)?;
                let u = ctx.core.create_user(&ctx.caller, user, password).await?;
                Ok(created(ctx, &DirectoryObject::User(u), "users"))
            }
            _ => Err(GraphErr::method()),
        };
    };
    if id_seg == "$count" {
        only_get(ctx)?;
        return count(ctx, ObjectKind::User).await;
    }
    match rest {
        [] => match ctx.method {
            Method::GET => {
                let u = ctx.core.find_user(&ctx.caller, &id_seg).await?;
                entity(ctx, &DirectoryObject::User(u), "users")
            }
            Method::PATCH => {
                let body: api::UserUpdate = ctx.json().await?;
                ctx.core.update_user(&ctx.caller, &id_seg, move |u| input::apply_user_update(u, body)).await?;
                Ok(no_content())
            }
            Method::DELETE => {
                ctx.core.delete_object(&ctx.caller, ObjectKind::User, &id_seg).await?;
                Ok(no_content())
            }
            _ => Err(GraphErr::method()),
        },
        [rel, cast @ ..] if *rel == "memberOf" || *rel == "transitiveMemberOf" => {
            let id = ctx.core.find_user(&ctx.caller, &id_seg).await?.id;
            member_of(ctx, id, rel, cast, &format!("users/{id}/{rel}")).await
        }
        ["appRoleAssignments", more @ ..] => {
            let id = ctx.core.find_user(&ctx.caller, &id_seg).await?.id;
            role_assignments(ctx, id, true, more).await
        }
        ["authentication", more @ ..] => {
            let id = ctx.core.resolve_user(ctx.caller.tenant, &id_seg).await?;
            identity::user_authentication(ctx, id, more).await
        }
        ["revokeSignInSessions"] => {
            if ctx.method != Method::POST {
                return Err(GraphErr::method());
            }
            ctx.caller.require(ostiary_core::Permission::WriteUsers)?;
            let id = ctx.core.find_user(&ctx.caller, &id_seg).await?.id;
            ctx.core.revoke_user_sessions(&Actor::from_caller(&ctx.caller), id).await.map_err(DirError::from_store)?;
            let body = json!({ "@odata.context": format!("{}/v1.0/$metadata#Edm.Boolean", ctx.base()), "value": true });
            Ok((StatusCode::OK, axum::Json(body)).into_response())
        }
        [other, ..] => Err(GraphErr::segment(other)),
    }
}

async fn groups(ctx: &mut Ctx<'_>, key: Option<(String, String)>, rest: &[&str]) -> Result<Response, GraphErr> {
    let (id_seg, rest) = match (key, rest) {
        (Some((_, v)), rest) => (Some(v), rest),
        (None, [first, more @ ..]) => (Some((*first).to_string()), more),
        (None, []) => (None, rest),
    };
    let Some(id_seg) = id_seg else {
        return match ctx.method {
            Method::GET => {
                let q = ctx.opts.list_query(Some(ObjectKind::Group))?;
                let page = ctx.core.list_objects(&ctx.caller, ObjectKind::Group, &q).await?;
                collection(ctx, page, "groups", "groups")
            }
            Method::POST => {
                let body: api::GroupCreate = ctx.json().await?;
                let (g, members) = input::group_from_create(body)?;
                let g = ctx.core.create_group(&ctx.caller, g, members).await?;
                Ok(created(ctx, &DirectoryObject::Group(g), "groups"))
            }
            _ => Err(GraphErr::method()),
        };
    };
    if id_seg == "$count" {
        only_get(ctx)?;
        return count(ctx, ObjectKind::Group).await;
    }
    let id = parse_id(&id_seg)?;
    match rest {
        [] => match ctx.method {
            Method::GET => {
                let g = ctx.core.get_object(&ctx.caller, Some(ObjectKind::Group), id).await?;
                entity(ctx, &g, "groups")
            }
            Method::PATCH => {
                let body: api::GroupUpdate = ctx.json().await?;
                ctx.core
                    .update_group(&ctx.caller, id, move |g| {
                        input::apply_group_update(g, body);
                        Ok(())
                    })
                    .await?;
                Ok(no_content())
            }
            Method::DELETE => {
                ctx.core.delete_object(&ctx.caller, ObjectKind::Group, &id_seg).await?;
                Ok(no_content())
            }
            _ => Err(GraphErr::method()),
        },
        ["members", "$ref"] => {
            if ctx.method != Method::POST {
                return Err(GraphErr::method());
            }
            let body: api::ReferenceCreate = ctx.json().await?;
            let member = input::object_id_from_ref(&body.odata_id)?;
            ctx.core.add_member(&ctx.caller, id, member).await?;
            Ok(no_content())
        }
        ["members", mid, "$ref"] => {
            if ctx.method != Method::DELETE {
                return Err(GraphErr::method());
            }
            ctx.core.remove_member(&ctx.caller, id, parse_id(mid)?).await?;
            Ok(no_content())
        }
        [rel, tail @ ..] if (*rel == "members" || *rel == "transitiveMembers") && tail.len() <= 2 => {
            only_get(ctx)?;
            let relation = Relation::Members { group: id, transitive: *rel == "transitiveMembers" };
            let (cast, count_only) = cast_and_count(tail)?;
            related(ctx, relation, cast, &format!("groups/{id}/{rel}"), count_only).await
        }
        [rel, cast @ ..] if *rel == "memberOf" || *rel == "transitiveMemberOf" => {
            member_of(ctx, id, rel, cast, &format!("groups/{id}/{rel}")).await
        }
        ["appRoleAssignments", more @ ..] => role_assignments(ctx, id, true, more).await,
        [other, ..] => Err(GraphErr::segment(other)),
    }
}

/// Resolves an application key (object id, or `appId='...'`) to its object id.
async fn application_id(ctx: &Ctx<'_>, key: &(String, String)) -> Result<String, GraphErr> {
    match key.0.as_str() {
        "appId" => Ok(ctx.core.find_application_by_app_id(&ctx.caller, &key.1).await?.id.to_string()),
        "id" => Ok(key.1.clone()),
        other => Err(GraphErr::bad(format!(
            "'{}' is not an alternate key of application.",
            ostiary_oauth::error::sanitize(other)
        ))),
    }
}

async fn applications(ctx: &mut Ctx<'_>, key: Option<(String, String)>, rest: &[&str]) -> Result<Response, GraphErr> {
    let (key, rest) = match (key, rest) {
        (Some(k), rest) => (Some(k), rest),
        (None, [first, more @ ..]) => (Some(("id".to_string(), (*first).to_string())), more),
        (None, []) => (None, rest),
    };
    let Some(key) = key else {
        return match ctx.method {
            Method::GET => {
                let q = ctx.opts.list_query(Some(ObjectKind::Application))?;
                let page = ctx.core.list_objects(&ctx.caller, ObjectKind::Application, &q).await?;
                collection(ctx, page, "applications", "applications")
            }
            Method::POST => {
                let body: api::ApplicationCreate = ctx.json().await?;
                let (app, keys) = input::application_from_create(body)?;
                let app = ctx.core.create_application(&ctx.caller, app, keys).await?;
                Ok(created(ctx, &DirectoryObject::Application(app), "applications"))
            }
            _ => Err(GraphErr::method()),
        };
    };
    if key.1 == "$count" && key.0 == "id" {
        only_get(ctx)?;
        return count(ctx, ObjectKind::Application).await;
    }
    let id = application_id(ctx, &key).await?;
    match rest {
        [] => match ctx.method {
            Method::GET => {
                let app = ctx.core.get_object(&ctx.caller, Some(ObjectKind::Application), parse_id(&id)?).await?;
                entity(ctx, &app, "applications")
            }
            Method::PATCH => {
                let body: api::ApplicationUpdate = ctx.json().await?;
                let (keys, patch) = input::application_update(body)?;
                ctx.core.update_application(&ctx.caller, &id, keys, patch).await?;
                Ok(no_content())
            }
            Method::DELETE => {
                ctx.core.delete_object(&ctx.caller, ObjectKind::Application, &id).await?;
                Ok(no_content())
            }
            _ => Err(GraphErr::method()),
        },
        ["addPassword"] => {
            if ctx.method != Method::POST {
                return Err(GraphErr::method());
            }
            let body: api::AddPasswordRequest = ctx.json().await?;
            let input = body.password_credential.unwrap_or_default();
            let start = input::parse_time(input.start_date_time.as_deref(), "startDateTime")?;
            let end = input::parse_time(input.end_date_time.as_deref(), "endDateTime")?;
            let (cred, secret) = ctx.core.add_password(&ctx.caller, &id, input.display_name, start, end).await?;
            let body = json!({
                "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.passwordCredential", ctx.base()),
                "customKeyIdentifier": null,
                "displayName": cred.display_name,
                "endDateTime": ostiary_store::filter::format_timestamp(cred.end_date_time),
                "hint": cred.hint,
                "keyId": cred.key_id,
                "secretText": secret.expose(),
                "startDateTime": ostiary_store::filter::format_timestamp(cred.start_date_time),
            });
            let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
            crate::error::no_store(&mut resp);
            Ok(resp)
        }
        ["removePassword"] => {
            if ctx.method != Method::POST {
                return Err(GraphErr::method());
            }
            let body: api::RemovePasswordRequest = ctx.json().await?;
            ctx.core.remove_password(&ctx.caller, &id, body.key_id).await?;
            Ok(no_content())
        }
        [other, ..] => Err(GraphErr::segment(other)),
    }
}

async fn service_principals(
    ctx: &mut Ctx<'_>,
    key: Option<(String, String)>,
    rest: &[&str],
) -> Result<Response, GraphErr> {
    let (key, rest) = match (key, rest) {
        (Some(k), rest) => (Some(k), rest),
        (None, [first, more @ ..]) => (Some(("id".to_string(), (*first).to_string())), more),
        (None, []) => (None, rest),
    };
    let Some(key) = key else {
        return match ctx.method {
            Method::GET => {
                let q = ctx.opts.list_query(Some(ObjectKind::ServicePrincipal))?;
                let page = ctx.core.list_objects(&ctx.caller, ObjectKind::ServicePrincipal, &q).await?;
                collection(ctx, page, "servicePrincipals", "servicePrincipals")
            }
            Method::POST => {
                let body: api::ServicePrincipalCreate = ctx.json().await?;
                let app_id = body.app_id.clone();
                let sp = ctx
                    .core
                    .create_service_principal(&ctx.caller, &app_id, move |sp| {
                        if let Some(v) = body.account_enabled {
                            sp.account_enabled = v;
                        }
                        if let Some(v) = body.app_role_assignment_required {
                            sp.app_role_assignment_required = v;
                        }
                        if let Some(v) = body.tags {
                            sp.tags = v;
                        }
                        if let Some(v) = body.display_name {
                            sp.display_name = v;
                        }
                        sp.description = body.description;
                        sp.notes = body.notes;
                        Ok(())
                    })
                    .await?;
                Ok(created(ctx, &DirectoryObject::ServicePrincipal(sp), "servicePrincipals"))
            }
            _ => Err(GraphErr::method()),
        };
    };
    if key.1 == "$count" && key.0 == "id" {
        only_get(ctx)?;
        return count(ctx, ObjectKind::ServicePrincipal).await;
    }
    let id = match key.0.as_str() {
        "appId" => ctx.core.find_service_principal_by_app_id(&ctx.caller, &key.1).await?.id,
        "id" => parse_id(&key.1)?,
        other => {
            return Err(GraphErr::bad(format!(
                "'{}' is not an alternate key of servicePrincipal.",
                ostiary_oauth::error::sanitize(other)
            )));
        }
    };
    match rest {
        [] => match ctx.method {
            Method::GET => {
                let sp = ctx.core.get_object(&ctx.caller, Some(ObjectKind::ServicePrincipal), id).await?;
                entity(ctx, &sp, "servicePrincipals")
            }
            Method::PATCH => {
                let body: api::ServicePrincipalUpdate = ctx.json().await?;
                let saml = samlcfg::update_from(&body);
                ctx.core
                    .update_service_principal(&ctx.caller, id, move |sp| {
                        if let Some(v) = body.account_enabled {
                            sp.account_enabled = v;
                        }
                        if let Some(v) = body.app_role_assignment_required {
                            sp.app_role_assignment_required = v;
                        }
                        if let Some(v) = body.tags {
                            sp.tags = v;
                        }
                        if let Some(v) = body.description {
                            sp.description = v;
                        }
                        if let Some(v) = body.notes {
                            sp.notes = v;
                        }
                        if let Some(v) = body.display_name {
                            sp.display_name = v;
                        }
                        Ok(())
                    })
                    .await?;
                if let Some(u) = saml {
                    ctx.core.update_saml_settings(&ctx.caller, id, u).await?;
                }
                Ok(no_content())
            }
            Method::DELETE => {
                ctx.core.delete_object(&ctx.caller, ObjectKind::ServicePrincipal, &id.to_string()).await?;
                Ok(no_content())
            }
            _ => Err(GraphErr::method()),
        },
        ["appRoleAssignedTo", more @ ..] => role_assignments(ctx, id, false, more).await,
        ["appRoleAssignments", more @ ..] => role_assignments(ctx, id, true, more).await,
        ["synchronization", more @ ..] => sync::synchronization(ctx, id, more).await,
        [action]
            if matches!(
                *action,
                "addTokenSigningCertificate" | "removeTokenSigningCertificate" | "importSamlMetadata" | "claimsPolicy"
            ) =>
        {
            match samlcfg::route(ctx, id, rest).await {
                Some(r) => r,
                None => Err(GraphErr::segment(action)),
            }
        }
        [rel, cast @ ..] if *rel == "memberOf" || *rel == "transitiveMemberOf" => {
            member_of(ctx, id, rel, cast, &format!("servicePrincipals/{id}/{rel}")).await
        }
        [other, ..] => Err(GraphErr::segment(other)),
    }
}

async fn directory_objects(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    match rest {
        [id] => {
            only_get(ctx)?;
            let obj = ctx.core.get_object(&ctx.caller, None, parse_id(id)?).await?;
            entity(ctx, &obj, "directoryObjects")
        }
        [] => Err(GraphErr::method()),
        [_, other, ..] => Err(GraphErr::segment(other)),
    }
}

async fn organization(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    if let [id, "branding"] = rest {
        if *id != ctx.caller.tenant.to_string() {
            return Err(GraphErr::not_found(id));
        }
        return branding(ctx).await;
    }
    if let [id, "ostiarySignInSettings"] = rest {
        if *id != ctx.caller.tenant.to_string() {
            return Err(GraphErr::not_found(id));
        }
        return sign_in_settings(ctx).await;
    }
    only_get(ctx)?;
    if !ctx.caller.has(ostiary_core::Permission::ReadUsers) && !ctx.caller.has(ostiary_core::Permission::ReadApps) {
        return Err(DirError::Forbidden.into());
    }
    let t = ctx
        .core
        .store
        .get_tenant(ctx.caller.tenant)
        .await
        .map_err(DirError::from_store)?
        .ok_or_else(|| GraphErr::not_found(&ctx.caller.tenant.to_string()))?;
    let org = json!({
        "@odata.type": "#microsoft.graph.organization",
        "id": t.id,
        "displayName": t.display_name,
        "createdDateTime": ostiary_store::filter::format_timestamp(t.created_date_time),
        "tenantType": "AAD",
        "verifiedDomains": [{ "name": t.initial_domain, "isDefault": true, "isInitial": true, "type": "Managed", "capabilities": "None" }],
    });
    match rest {
        [] => Ok((
            StatusCode::OK,
            axum::Json(json!({
                "@odata.context": format!("{}/v1.0/$metadata#organization", ctx.base()),
                "value": [org],
            })),
        )
            .into_response()),
        [id] if *id == t.id.to_string() => Ok((StatusCode::OK, axum::Json(org)).into_response()),
        [id, ..] => Err(GraphErr::not_found(id)),
    }
}

fn grant_json(ctx: &Ctx<'_>, g: &ostiary_core::consent::PermissionGrant, with_context: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "clientId": g.client_id,
        "consentType": g.consent_type,
        "principalId": g.principal_id,
        "resourceId": g.resource_id,
        "scope": g.scope,
    });
    if with_context {
        v["@odata.context"] = json!(format!("{}/v1.0/$metadata#oauth2PermissionGrants/$entity", ctx.base()));
    }
    v
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GrantCreate {
    #[serde(rename = "@odata.type", default)]
    _odata_type: Option<String>,
    client_id: uuid::Uuid,
    consent_type: String,
    #[serde(default)]
    principal_id: Option<uuid::Uuid>,
    resource_id: uuid::Uuid,
    scope: String,
    /// Accepted because SDKs send them (as null); ignored.
    #[serde(default, rename = "id")]
    _id: Option<Value>,
    #[serde(default, rename = "startTime")]
    _start_time: Option<Value>,
    #[serde(default, rename = "expiryTime")]
    _expiry_time: Option<Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GrantUpdate {
    #[serde(rename = "@odata.type", default)]
    _odata_type: Option<String>,
    scope: String,
}

/// `/oauth2PermissionGrants`: delegated consent as Graph exposes it.
async fn permission_grants(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    match (rest, ctx.method.clone()) {
        ([], Method::GET) => {
            ctx.opts.check_known(&["filter", "top"])?;
            let mut checks: Vec<(String, String)> = Vec::new();
            if let Some(f) = ctx.opts.get("filter") {
                let expr =
                    ostiary_odata::parse_filter(f).map_err(|e| GraphErr::bad(format!("Invalid filter clause: {e}")))?;
                collect_eq(&expr, &mut checks)?;
            }
            let client = match checks.iter().find(|(k, _)| k == "clientId") {
                Some((_, v)) => Some(v.parse::<ObjectId>().map_err(|_| GraphErr::bad("clientId must be a GUID."))?),
                None => None,
            };
            let list = ctx.core.list_permission_grants(&ctx.caller, client).await?;
            let values: Vec<Value> = list
                .iter()
                .filter(|g| {
                    checks.iter().all(|(k, v)| match k.as_str() {
                        "clientId" => g.client_id.to_string() == *v,
                        "resourceId" => g.resource_id.to_string() == *v,
                        "consentType" => g.consent_type.eq_ignore_ascii_case(v),
                        "principalId" => g.principal_id.map(|p| p.to_string()).as_deref() == Some(v.as_str()),
                        _ => false,
                    })
                })
                .map(|g| grant_json(ctx, g, false))
                .collect();
            let body = json!({ "@odata.context": format!("{}/v1.0/$metadata#oauth2PermissionGrants", ctx.base()), "value": values });
            Ok((StatusCode::OK, axum::Json(body)).into_response())
        }
        ([], Method::POST) => {
            let body: GrantCreate = ctx.json().await?;
            let g = ctx
                .core
                .create_permission_grant(
                    &ctx.caller,
                    ObjectId::from_uuid(body.client_id),
                    &body.consent_type,
                    body.principal_id.map(ObjectId::from_uuid),
                    ObjectId::from_uuid(body.resource_id),
                    &body.scope,
                )
                .await?;
            Ok((StatusCode::CREATED, axum::Json(grant_json(ctx, &g, true))).into_response())
        }
        ([id], Method::GET) => {
            let (g, _) = ctx.core.get_permission_grant(&ctx.caller, id).await?;
            Ok((StatusCode::OK, axum::Json(grant_json(ctx, &g, true))).into_response())
        }
        ([id], Method::PATCH) => {
            let body: GrantUpdate = ctx.json().await?;
            ctx.core.update_permission_grant_scope(&ctx.caller, id, &body.scope).await?;
            Ok(no_content())
        }
        ([id], Method::DELETE) => {
            ctx.core.delete_permission_grant(&ctx.caller, id).await?;
            Ok(no_content())
        }
        ([] | [_], _) => Err(GraphErr::method()),
        ([_, other, ..], _) => Err(GraphErr::segment(other)),
    }
}

/// Accepts only `prop eq 'value'` terms joined by `and`.
fn collect_eq(expr: &ostiary_odata::Expr, out: &mut Vec<(String, String)>) -> Result<(), GraphErr> {
    use ostiary_odata::{CmpOp, Expr, Literal};
    match expr {
        Expr::And(a, b) => {
            collect_eq(a, out)?;
            collect_eq(b, out)
        }
        Expr::Compare { prop, op: CmpOp::Eq, value: Literal::String(v) | Literal::Guid(v) } if prop.0.len() == 1 => {
            let name = prop.0[0].clone();
            if !matches!(name.as_str(), "clientId" | "resourceId" | "consentType" | "principalId") {
                return Err(GraphErr::unsupported(format!(
                    "Filtering on '{}' is not supported.",
                    ostiary_oauth::error::sanitize(&name)
                )));
            }
            out.push((name, v.to_lowercase()));
            Ok(())
        }
        _ => Err(GraphErr::unsupported(
            "Only 'eq' filters on clientId, resourceId, consentType and principalId, joined by 'and', are supported.",
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BrandingUpdate {
    #[serde(rename = "@odata.type", default)]
    _odata_type: Option<String>,
    #[serde(default, deserialize_with = "ostiary_api_types::double_option")]
    sign_in_page_text: Option<Option<String>>,
    #[serde(default, deserialize_with = "ostiary_api_types::double_option")]
    background_color: Option<Option<String>>,
    /// Ostiary extension: an https logo URL (Graph uploads logo streams instead).
    #[serde(default, deserialize_with = "ostiary_api_types::double_option")]
    banner_logo_url: Option<Option<String>>,
}

/// `/organization/{id}/branding`: the sign-in page's text, accent colour and logo.
async fn branding(ctx: &mut Ctx<'_>) -> Result<Response, GraphErr> {
    let tenant = ctx.caller.tenant;
    match ctx.method.clone() {
        Method::GET => {
            let s = ctx.core.tenant_settings(tenant).await.map_err(DirError::from_store)?;
            let body = json!({
                "@odata.context": format!("{}/v1.0/$metadata#organization('{tenant}')/branding/$entity", ctx.base()),
                "id": "0",
                "signInPageText": s.sign_in_page_text,
                "backgroundColor": s.background_color,
                "bannerLogoUrl": s.banner_logo_url,
            });
            Ok((StatusCode::OK, axum::Json(body)).into_response())
        }
        Method::PATCH => {
            let allowed =
                ctx.caller.roles.iter().any(|r| r == "Organization.ReadWrite.All" || r == "Directory.ReadWrite.All");
            if !allowed {
                return Err(DirError::Forbidden.into());
            }
            let body: BrandingUpdate = ctx.json().await?;
            ctx.core
                .update_tenant_settings(&Actor::from_caller(&ctx.caller), "Update company branding", move |s| {
                    if let Some(v) = body.sign_in_page_text {
                        if v.as_ref().is_some_and(|t| t.chars().count() > 1024) {
                            return Err(DirError::bad("signInPageText is limited to 1024 characters."));
                        }
                        s.sign_in_page_text = v;
                    }
                    if let Some(v) = body.background_color {
                        let ok = v.as_ref().is_none_or(|c| {
                            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
                        });
                        if !ok {
                            return Err(DirError::bad("backgroundColor must be a colour like #0b5cad."));
                        }
                        s.background_color = v;
                    }
                    if let Some(v) = body.banner_logo_url {
                        if v.as_ref().is_some_and(|u| !u.starts_with("https://") || u.len() > 2048) {
                            return Err(DirError::bad("bannerLogoUrl must be an https URL."));
                        }
                        s.banner_logo_url = v;
                    }
                    Ok(())
                })
                .await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

/// `/policies/authorizationPolicy`: whether users may consent to apps themselves.
async fn policies(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    const USER_DEFAULT: &str = "ManagePermissionGrantsForSelf.microsoft-user-default-legacy";
    match rest {
        ["authenticationMethodsPolicy"] => return identity::methods_policy(ctx).await,
        ["authenticationStrengthPolicies"] => return identity::authentication_strengths(ctx).await,
        _ => {}
    }
    if rest != ["authorizationPolicy"] {
        return Err(GraphErr::segment(rest.first().copied().unwrap_or("policies")));
    }
    let tenant = ctx.caller.tenant;
    match ctx.method.clone() {
        Method::GET => {
            let s = ctx.core.tenant_settings(tenant).await.map_err(DirError::from_store)?;
            let assigned: Vec<&str> = if s.users_can_consent { vec![USER_DEFAULT] } else { vec![] };
            let body = json!({
                "@odata.context": format!("{}/v1.0/$metadata#policies/authorizationPolicy/$entity", ctx.base()),
                "id": "authorizationPolicy",
                "displayName": "Authorization Policy",
                "defaultUserRolePermissions": { "permissionGrantPoliciesAssigned": assigned },
            });
            Ok((StatusCode::OK, axum::Json(body)).into_response())
        }
        Method::PATCH => {
            let allowed = ctx
                .caller
                .roles
                .iter()
                .any(|r| r == "Policy.ReadWrite.Authorization" || r == "Directory.ReadWrite.All");
            if !allowed {
                return Err(DirError::Forbidden.into());
            }
            let body: Value = ctx.json().await?;
            let Some(assigned) =
                body.pointer("/defaultUserRolePermissions/permissionGrantPoliciesAssigned").and_then(Value::as_array)
            else {
                return Err(GraphErr::bad(
                    "Only defaultUserRolePermissions.permissionGrantPoliciesAssigned can be changed.",
                ));
            };
            let allow =
                assigned.iter().any(|v| v.as_str().is_some_and(|p| p.starts_with("ManagePermissionGrantsForSelf.")));
            ctx.core
                .update_tenant_settings(&Actor::from_caller(&ctx.caller), "Update authorization policy", move |s| {
                    s.users_can_consent = allow;
                    Ok(())
                })
                .await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SignInSettingsUpdate {
    #[serde(rename = "@odata.type", default)]
    _odata_type: Option<String>,
    password_min_length: Option<usize>,
    banned_passwords: Option<Vec<String>>,
    users_can_consent: Option<bool>,
    session_lifetime_secs: Option<i64>,
    session_idle_secs: Option<i64>,
    refresh_inactive_secs: Option<i64>,
    refresh_absolute_secs: Option<i64>,
    lockout_threshold: Option<u32>,
    lockout_duration_secs: Option<i64>,
}

/// `/organization/{id}/ostiarySignInSettings` (Ostiary extension): password policy, smart
/// lockout, session and refresh-token lifetimes of the tenant.
async fn sign_in_settings(ctx: &mut Ctx<'_>) -> Result<Response, GraphErr> {
    let tenant = ctx.caller.tenant;
    match ctx.method.clone() {
        Method::GET => {
            if !ctx.caller.has(ostiary_core::Permission::ReadUsers) {
                return Err(DirError::Forbidden.into());
            }
            let s = ctx.core.tenant_settings(tenant).await.map_err(DirError::from_store)?;
            let mut v = serde_json::to_value(&s).map_err(|e| DirError::Internal(e.to_string()))?;
            if let Some(o) = v.as_object_mut() {
                for k in ["signInPageText", "backgroundColor", "bannerLogoUrl"] {
                    o.remove(k);
                }
            }
            Ok((StatusCode::OK, axum::Json(v)).into_response())
        }
        Method::PATCH => {
            if !ctx.caller.roles.iter().any(|r| r == "Policy.ReadWrite.Authorization" || r == "Directory.ReadWrite.All")
            {
                return Err(DirError::Forbidden.into());
            }
            let b: SignInSettingsUpdate = ctx.json().await?;
            let range = |v: Option<i64>, lo: i64, hi: i64, name: &str| -> Result<Option<i64>, DirError> {
                match v {
                    Some(x) if !(lo..=hi).contains(&x) => {
                        Err(DirError::bad(format!("{name} must be between {lo} and {hi}.")))
                    }
                    other => Ok(other),
                }
            };
            let session_lifetime = range(b.session_lifetime_secs, 300, 90 * 86_400, "sessionLifetimeSecs")?;
            let session_idle = range(b.session_idle_secs, 60, 90 * 86_400, "sessionIdleSecs")?;
            let rt_inactive = range(b.refresh_inactive_secs, 600, 365 * 86_400, "refreshInactiveSecs")?;
            let rt_absolute = range(b.refresh_absolute_secs, 3600, 365 * 86_400, "refreshAbsoluteSecs")?;
            let lock_duration = range(b.lockout_duration_secs, 10, 86_400, "lockoutDurationSecs")?;
            if b.password_min_length.is_some_and(|n| !(8..=256).contains(&n)) {
                return Err(DirError::bad("passwordMinLength must be between 8 and 256.").into());
            }
            if b.lockout_threshold.is_some_and(|n| !(1..=100).contains(&n)) {
                return Err(DirError::bad("lockoutThreshold must be between 1 and 100.").into());
            }
            if let Some(list) = &b.banned_passwords
                && (list.len() > 1000
                    || list.iter().any(|w| w.is_empty() || w.chars().count() > 64 || w.chars().any(char::is_control)))
            {
                return Err(DirError::bad("bannedPasswords takes at most 1000 words of 1 to 64 characters.").into());
            }
            ctx.core
                .update_tenant_settings(&Actor::from_caller(&ctx.caller), "Update sign-in settings", move |s| {
                    if let Some(v) = b.password_min_length {
                        s.password_min_length = v;
                    }
                    if let Some(v) = b.banned_passwords {
                        s.banned_passwords = v;
                    }
                    if let Some(v) = b.users_can_consent {
                        s.users_can_consent = v;
                    }
                    if let Some(v) = session_lifetime {
                        s.session_lifetime_secs = v;
                    }
                    if let Some(v) = session_idle {
                        s.session_idle_secs = v;
                    }
                    if let Some(v) = rt_inactive {
                        s.refresh_inactive_secs = v;
                    }
                    if let Some(v) = rt_absolute {
                        s.refresh_absolute_secs = v;
                    }
                    if let Some(v) = b.lockout_threshold {
                        s.lockout_threshold = v;
                    }
                    if let Some(v) = lock_duration {
                        s.lockout_duration_secs = v;
                    }
                    Ok(())
                })
                .await?;
            Ok(no_content())
        }
        _ => Err(GraphErr::method()),
    }
}

/// `/auditLogs/signIns` and `/auditLogs/directoryAudits` (and `/{id}`): newest first.
async fn audit_logs(ctx: &mut Ctx<'_>, rest: &[&str]) -> Result<Response, GraphErr> {
    if ctx.method != Method::GET {
        return Err(GraphErr::method());
    }
    let (kind, what) = match rest.first() {
        Some(&"signIns") => (LogKind::SignIn, "auditLogs/signIns"),
        Some(&"directoryAudits") => (LogKind::Audit, "auditLogs/directoryAudits"),
        Some(&"provisioning") => (LogKind::Provisioning, "auditLogs/provisioning"),
        other => return Err(GraphErr::segment(other.copied().unwrap_or("auditLogs"))),
    };
    match rest {
        [_] => {
            ctx.opts.check_known(&["filter", "top", "skiptoken", "select"])?;
            let filter = match ctx.opts.get("filter") {
                Some(f) => Some(
                    ostiary_odata::parse_filter(f).map_err(|e| GraphErr::bad(format!("Invalid filter clause: {e}")))?,
                ),
                None => None,
            };
            let top = match ctx.opts.get("top") {
                Some(t) => Some(ostiary_odata::parse_top(t).map_err(|e| GraphErr::bad(format!("Invalid $top: {e}")))?),
                None => None,
            };
            let q = ostiary_core::logquery::log_query(kind, filter.as_ref(), top, ctx.opts.get("skiptoken"))?;
            let (records, next) = ctx.core.list_logs(&ctx.caller, &q).await?;
            let select = ctx.opts.select()?;
            let mut body = serde_json::Map::new();
            body.insert("@odata.context".into(), json!(format!("{}/v1.0/$metadata#{what}", ctx.base())));
            if let Some(next) = next {
                body.insert(
                    "@odata.nextLink".into(),
                    json!(format!("{}/v1.0/{what}?{}", ctx.base(), ctx.opts.next_query(&next))),
                );
            }
            let values: Vec<Value> = records.into_iter().map(|r| select_log(r.record.doc, select.as_deref())).collect();
            body.insert("value".into(), Value::Array(values));
            Ok((StatusCode::OK, axum::Json(Value::Object(body))).into_response())
        }
        [_, id] => {
            ctx.opts.check_known(&["select"])?;
            let r = ctx.core.get_log(&ctx.caller, kind, id).await?;
            let select = ctx.opts.select()?;
            let mut m = match select_log(r.record.doc, select.as_deref()) {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            let mut out = serde_json::Map::new();
            out.insert("@odata.context".into(), json!(format!("{}/v1.0/$metadata#{what}/$entity", ctx.base())));
            out.append(&mut m);
            Ok((StatusCode::OK, axum::Json(Value::Object(out))).into_response())
        }
        _ => Err(GraphErr::segment(rest.last().copied().unwrap_or("auditLogs"))),
    }
}

/// `$select` on a log record: top-level properties only (unknown names are ignored, as the
/// record shapes are open).
fn select_log(doc: Value, select: Option<&[String]>) -> Value {
    match (doc, select) {
        (Value::Object(m), Some(names)) => {
            Value::Object(m.into_iter().filter(|(k, _)| k == "id" || names.iter().any(|n| n == k)).collect())
        }
        (doc, _) => doc,
    }
}
