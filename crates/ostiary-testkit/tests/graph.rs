//! Integration tests of the Graph-shaped admin API (`/v1.0`): users, authentication and
//! permissions, tenant isolation, groups and memberships, applications and service
//! principals, app-role assignments, and general conventions. OData query options are in
//! `graph_odata.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ostiary_core::Clock;
use ostiary_testkit::{GRAPH_SCOPE, Resp, TenantCreds, TestServer, jwt_claims};
use serde_json::{Value, json};
use std::collections::HashSet;

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const USER_READ_ALL: &str = "df021288-bdef-4463-88db-98f22de89214";
const PASSWORD: &str = "Str0ng!Tr0ub4dor-9";

// ---------------------------------------------------------------------------------------
// Helpers

async fn setup() -> (TestServer, String) {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    (ts, tok)
}

fn upn(t: &TenantCreds, local: &str) -> String {
    format!("{local}@{}", t.domain)
}

fn user_body(t: &TenantCreds, local: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("User {local}"),
        "mailNickname": local,
        "userPrincipalName": upn(t, local),
        "passwordProfile": { "forceChangePasswordNextSignIn": false, "password": PASSWORD },
    })
}

async fn create_user_in(ts: &TestServer, t: &TenantCreds, tok: &str, local: &str) -> Value {
    let r = ts.graph("POST", "/users", tok, Some(user_body(t, local))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json
}

async fn create_user(ts: &TestServer, tok: &str, local: &str) -> Value {
    create_user_in(ts, &ts.t, tok, local).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn create_group(ts: &TestServer, tok: &str, name: &str) -> Value {
    let body = json!({ "displayName": name, "mailEnabled": false, "mailNickname": name.replace(' ', ""), "securityEnabled": true });
    let r = ts.graph("POST", "/groups", tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json
}

fn member_ref(oid: &str) -> Value {
    json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{oid}") })
}

async fn add_member(ts: &TestServer, tok: &str, gid: &str, mid: &str) -> Resp {
    ts.graph("POST", &format!("/groups/{gid}/members/$ref"), tok, Some(member_ref(mid))).await
}

async fn create_app(ts: &TestServer, tok: &str, body: Value) -> Value {
    let r = ts.graph("POST", "/applications", tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json
}

async fn create_sp(ts: &TestServer, tok: &str, app_id: &str) -> Value {
    let r = ts.graph("POST", "/servicePrincipals", tok, Some(json!({ "appId": app_id }))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json
}

/// `addPassword` on application object `oid`; returns the whole response.
async fn add_password(ts: &TestServer, tok: &str, oid: &str) -> Value {
    let r = ts
        .graph(
            "POST",
            &format!("/applications/{oid}/addPassword"),
            tok,
            Some(json!({ "passwordCredential": { "displayName": "ci" } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// An application with a secret and a service principal: (app, sp, secret).
async fn client_app(ts: &TestServer, tok: &str, name: &str) -> (Value, Value, String) {
    let app = create_app(ts, tok, json!({ "displayName": name })).await;
    let sp = create_sp(ts, tok, app["appId"].as_str().unwrap()).await;
    let secret = add_password(ts, tok, &id(&app)).await["secretText"].as_str().unwrap().to_string();
    (app, sp, secret)
}

/// A resource API application with one Application role and one User role: (app, sp, uri).
async fn resource_app(ts: &TestServer, tok: &str) -> (Value, Value, String) {
    let uri = format!("api://x-{}", rand_suffix());
    let app = create_app(
        ts,
        tok,
        json!({
            "displayName": "Orders API",
            "identifierUris": [uri],
            "appRoles": [
                { "id": ROLE_APP, "allowedMemberTypes": ["Application"], "displayName": "Read data", "description": "Read data", "isEnabled": true, "value": "Data.Read" },
                { "id": ROLE_USER, "allowedMemberTypes": ["User"], "displayName": "Reader", "description": "Human reader", "isEnabled": true, "value": "Reader" },
            ],
        }),
    )
    .await;
    let sp = create_sp(ts, tok, app["appId"].as_str().unwrap()).await;
    (app, sp, uri)
}

const ROLE_APP: &str = "6f0b1d6e-7d0c-4c0e-9a0a-0b5c1f1d2a01";
const ROLE_USER: &str = "6f0b1d6e-7d0c-4c0e-9a0a-0b5c1f1d2a02";
const ROLE_NEW: &str = "6f0b1d6e-7d0c-4c0e-9a0a-0b5c1f1d2a03";

async fn token_ok(ts: &TestServer, tenant: &str, client_id: &str, secret: &str, scope: &str) -> String {
    let r = ts.token_for(tenant, client_id, secret, scope).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["access_token"].as_str().unwrap().to_string()
}

#[track_caller]
fn assert_err(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"]["code"], code, "{}", r.text);
    assert!(r.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.json["error"]["innerError"]["request-id"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.json["error"]["innerError"]["date"].is_string(), "{}", r.text);
}

/// 400 Request_BadRequest.
#[track_caller]
fn assert_bad(r: &Resp) {
    assert_err(r, StatusCode::BAD_REQUEST, "Request_BadRequest");
}

fn values(r: &Resp) -> &Vec<Value> {
    r.json["value"].as_array().unwrap_or_else(|| panic!("no value array: {}", r.text))
}

fn ids(r: &Resp) -> HashSet<String> {
    values(r).iter().map(id).collect()
}

/// A request with a raw body.
async fn raw(ts: &TestServer, method: &str, path: &str, tok: Option<&str>, body: &str) -> Resp {
    let mut b =
        Request::builder().method(method).uri(format!("/v1.0{path}")).header("content-type", "application/json");
    if let Some(t) = tok {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    ts.request(b.body(Body::from(body.to_string())).unwrap()).await
}

// ---------------------------------------------------------------------------------------
// 1. Users

#[tokio::test]
async fn users_create_returns_201_with_graph_shape_and_no_password() {
    let (ts, tok) = setup().await;
    let r = ts.graph("POST", "/users", &tok, Some(user_body(&ts.t, "alice"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["@odata.type"], "#microsoft.graph.user");
    let uid = id(&r.json);
    assert!(uuid::Uuid::parse_str(&uid).is_ok(), "id is a GUID: {uid}");
    assert_eq!(r.json["userPrincipalName"], upn(&ts.t, "alice"));
    assert_eq!(r.json["displayName"], "User alice");
    assert_eq!(r.json["accountEnabled"], true);
    assert!(r.json["createdDateTime"].is_string());
    assert!(r.headers.get("location").and_then(|v| v.to_str().ok()).is_some_and(|l| l.ends_with(&uid)));
    for text in [
        &r.text,
        &ts.graph("GET", &format!("/users/{uid}"), &tok, None).await.text,
        &ts.graph("GET", "/users", &tok, None).await.text,
    ] {
        assert!(!text.contains("passwordHash"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
        assert!(!text.contains("\"password\""), "{text}");
    }
}

#[tokio::test]
async fn users_get_by_id_and_by_upn_case_insensitively() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "bob").await);
    let by_id = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.text);
    assert_eq!(by_id.json["@odata.type"], "#microsoft.graph.user");
    assert_eq!(id(&by_id.json), uid);
    let by_upn = ts.graph("GET", &format!("/users/{}", upn(&ts.t, "bob")), &tok, None).await;
    assert_eq!(by_upn.status, StatusCode::OK, "{}", by_upn.text);
    assert_eq!(id(&by_upn.json), uid);
    let upper = upn(&ts.t, "bob").to_uppercase();
    let by_upper = ts.graph("GET", &format!("/users/{upper}"), &tok, None).await;
    assert_eq!(by_upper.status, StatusCode::OK, "{}", by_upper.text);
    assert_eq!(id(&by_upper.json), uid);
    let missing = ts.graph("GET", &format!("/users/{}", upn(&ts.t, "nobody")), &tok, None).await;
    assert_err(&missing, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn users_list_contains_created_users_and_admin() {
    let (ts, tok) = setup().await;
    let a = id(&create_user(&ts, &tok, "alice").await);
    let b = id(&create_user(&ts, &tok, "bob").await);
    let r = ts.graph("GET", "/users", &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["@odata.context"].as_str().unwrap().ends_with("$metadata#users"), "{}", r.text);
    let got = ids(&r);
    assert!(got.contains(&a) && got.contains(&b));
    assert_eq!(got.len(), 3, "two users plus the bootstrap admin: {}", r.text);
    assert!(values(&r).iter().all(|u| u["@odata.type"] == "#microsoft.graph.user"));
    assert!(values(&r).iter().any(|u| u["userPrincipalName"] == ts.t.admin_upn));
}

#[tokio::test]
async fn users_patch_returns_204_and_changes_are_visible() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "carol").await);
    let r = ts
        .graph(
            "PATCH",
            &format!("/users/{uid}"),
            &tok,
            Some(json!({ "displayName": "Carol Changed", "jobTitle": "Engineer", "department": "R&D" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty());
    let g = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    assert_eq!(g.json["displayName"], "Carol Changed");
    assert_eq!(g.json["jobTitle"], "Engineer");
    assert_eq!(g.json["department"], "R&D");
    // PATCH by UPN also works.
    let r = ts
        .graph("PATCH", &format!("/users/{}", upn(&ts.t, "carol")), &tok, Some(json!({ "accountEnabled": false })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    assert_eq!(g.json["accountEnabled"], false);
    assert_eq!(g.json["displayName"], "Carol Changed", "untouched properties stay");
}

#[tokio::test]
async fn users_patch_null_clears_nullable_property() {
    let (ts, tok) = setup().await;
    let mut body = user_body(&ts.t, "dave");
    body["jobTitle"] = json!("Engineer");
    body["city"] = json!("Oslo");
    let r = ts.graph("POST", "/users", &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let uid = id(&r.json);
    assert_eq!(r.json["jobTitle"], "Engineer");
    let r = ts.graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "jobTitle": null }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    assert_eq!(g.json.get("jobTitle"), Some(&Value::Null), "{}", g.text);
    assert_eq!(g.json["city"], "Oslo", "other properties are untouched");
}

#[tokio::test]
async fn users_delete_returns_204_then_get_is_404() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "erin").await);
    let r = ts.graph("DELETE", &format!("/users/{uid}"), &tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    assert_err(&g, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let again = ts.graph("DELETE", &format!("/users/{uid}"), &tok, None).await;
    assert_err(&again, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    assert!(!ids(&ts.graph("GET", "/users", &tok, None).await).contains(&uid));
    // The UPN is free again.
    create_user(&ts, &tok, "erin").await;
}

#[tokio::test]
async fn users_invalid_upn_is_400() {
    let (ts, tok) = setup().await;
    for bad in [
        "no-at-sign".to_string(),
        "a@bad_domain".to_string(),
        "a@nodot".to_string(),
        "a@other.example.com".to_string(),
        format!("@{}", ts.t.domain),
    ] {
        let mut body = user_body(&ts.t, "x");
        body["userPrincipalName"] = json!(bad);
        let r = ts.graph("POST", "/users", &tok, Some(body)).await;
        assert_bad(&r);
    }
    assert_eq!(values(&ts.graph("GET", "/users", &tok, None).await).len(), 1, "nothing was created");
}

#[tokio::test]
async fn users_duplicate_upn_is_400_even_differing_in_case() {
    let (ts, tok) = setup().await;
    create_user(&ts, &tok, "frank").await;
    let r = ts.graph("POST", "/users", &tok, Some(user_body(&ts.t, "frank"))).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("userPrincipalName"), "{}", r.text);
    let mut body = user_body(&ts.t, "frank");
    body["userPrincipalName"] = json!(upn(&ts.t, "FRANK"));
    let r = ts.graph("POST", "/users", &tok, Some(body)).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("userPrincipalName"), "{}", r.text);
    // Renaming another user onto the taken UPN is refused too.
    let other = id(&create_user(&ts, &tok, "grace").await);
    let r = ts
        .graph("PATCH", &format!("/users/{other}"), &tok, Some(json!({ "userPrincipalName": upn(&ts.t, "Frank") })))
        .await;
    assert_bad(&r);
}

#[tokio::test]
async fn users_missing_required_property_is_400() {
    let (ts, tok) = setup().await;
    for prop in ["passwordProfile", "userPrincipalName", "displayName", "mailNickname", "accountEnabled"] {
        let mut body = user_body(&ts.t, "henry");
        body.as_object_mut().unwrap().remove(prop);
        let r = ts.graph("POST", "/users", &tok, Some(body)).await;
        assert_bad(&r);
        assert!(r.json["error"]["message"].as_str().unwrap().contains(prop), "{prop}: {}", r.text);
    }
    let mut body = user_body(&ts.t, "henry");
    body["passwordProfile"] = json!({ "forceChangePasswordNextSignIn": true });
    assert_bad(&ts.graph("POST", "/users", &tok, Some(body)).await);
}

#[tokio::test]
async fn users_weak_password_is_400() {
    let (ts, tok) = setup().await;
    for weak in ["password", "Short1!", "alllowercaseletters", "ALLUPPER12345"] {
        let mut body = user_body(&ts.t, "ivan");
        body["passwordProfile"]["password"] = json!(weak);
        let r = ts.graph("POST", "/users", &tok, Some(body)).await;
        assert_bad(&r);
        assert!(r.json["error"]["message"].as_str().unwrap().contains("password"), "{}", r.text);
    }
    let uid = id(&create_user(&ts, &tok, "ivan").await);
    let r = ts
        .graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "passwordProfile": { "password": "weak" } })))
        .await;
    assert_bad(&r);
}

#[tokio::test]
async fn users_unknown_property_is_400_naming_it() {
    let (ts, tok) = setup().await;
    let mut body = user_body(&ts.t, "judy");
    body["foo"] = json!(1);
    let r = ts.graph("POST", "/users", &tok, Some(body)).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("foo"), "{}", r.text);
    let uid = id(&create_user(&ts, &tok, "judy").await);
    let r = ts.graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "foo": 1 }))).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("foo"), "{}", r.text);
}

#[tokio::test]
async fn users_malformed_and_empty_bodies_are_400() {
    let (ts, tok) = setup().await;
    for body in ["{\"displayName\": ", "not json", "[1,2]", "\"string\""] {
        let r = raw(&ts, "POST", "/users", Some(&tok), body).await;
        assert_bad(&r);
    }
    let r = raw(&ts, "POST", "/users", Some(&tok), "").await;
    assert_bad(&r);
    let r = raw(&ts, "POST", "/users", Some(&tok), "   ").await;
    assert_bad(&r);
    let uid = id(&create_user(&ts, &tok, "kim").await);
    assert_bad(&raw(&ts, "PATCH", &format!("/users/{uid}"), Some(&tok), "").await);
    assert_bad(&raw(&ts, "PATCH", &format!("/users/{uid}"), Some(&tok), "{oops}").await);
}

#[tokio::test]
async fn users_body_over_one_mib_is_413() {
    let (ts, tok) = setup().await;
    let mut body = user_body(&ts.t, "big");
    body["displayName"] = json!("x".repeat(1024 * 1024 + 10));
    let r = ts.graph("POST", "/users", &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", &r.text[..r.text.len().min(300)]);
    assert!(r.json["error"]["code"].is_string());
    assert!(r.json["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn users_odata_type_annotation_in_body_is_accepted() {
    let (ts, tok) = setup().await;
    let mut body = user_body(&ts.t, "leo");
    body["@odata.type"] = json!("#microsoft.graph.user");
    body["passwordProfile"]["@odata.type"] = json!("#microsoft.graph.passwordProfile");
    let r = ts.graph("POST", "/users", &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = ts
        .graph(
            "PATCH",
            &format!("/users/{}", id(&r.json)),
            &tok,
            Some(json!({ "@odata.type": "#microsoft.graph.user", "surname": "L" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

// ---------------------------------------------------------------------------------------
// 2. Authentication and permissions

#[tokio::test]
async fn auth_no_token_is_401_with_www_authenticate() {
    let (ts, _) = setup().await;
    let r = ts.request(Request::get("/v1.0/users").body(Body::empty()).unwrap()).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(
        r.headers.get("www-authenticate").is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
        "{:?}",
        r.headers
    );
    let r = ts
        .request(Request::get("/v1.0/users").header("authorization", "Basic Zm9vOmJhcg==").body(Body::empty()).unwrap())
        .await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let r =
        ts.request(Request::get("/v1.0/users").header("authorization", "Bearer ").body(Body::empty()).unwrap()).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    // Unauthenticated writes do not happen.
    let r = raw(&ts, "POST", "/users", None, &user_body(&ts.t, "anon").to_string()).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn auth_garbage_token_is_401() {
    let (ts, _) = setup().await;
    for t in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0."] {
        let r = ts.graph("GET", "/users", t, None).await;
        assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
        assert!(r.headers.get("www-authenticate").is_some());
    }
}

#[tokio::test]
async fn auth_flipped_signature_byte_is_401() {
    let (ts, tok) = setup().await;
    assert_eq!(ts.graph("GET", "/users", &tok, None).await.status, StatusCode::OK);
    let parts: Vec<&str> = tok.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut sig = ostiary_crypto::b64::url_decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let forged = format!("{}.{}.{}", parts[0], parts[1], ostiary_crypto::b64::url_encode(&sig));
    let r = ts.graph("GET", "/users", &forged, None).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    // A tampered payload with the original signature fails too.
    let mut claims = jwt_claims(&tok);
    claims["roles"] = json!(["Directory.ReadWrite.All", "User.ReadWrite.All", "Application.ReadWrite.All"]);
    let forged =
        format!("{}.{}.{}", parts[0], ostiary_crypto::b64::url_encode(claims.to_string().as_bytes()), parts[2]);
    let r = ts.graph("GET", "/users", &forged, None).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn auth_token_for_other_resource_is_401() {
    let (ts, tok) = setup().await;
    let (_, _, uri) = resource_app(&ts, &tok).await;
    let other = token_ok(&ts, &ts.t.tenant_id, &ts.t.client_id, &ts.t.client_secret, &format!("{uri}/.default")).await;
    assert_ne!(jwt_claims(&other)["aud"], GRAPH_APP_ID);
    let r = ts.graph("GET", "/users", &other, None).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn auth_app_without_graph_permissions_is_403() {
    let (ts, tok) = setup().await;
    let (app, _, secret) = client_app(&ts, &tok, "No Permissions").await;
    let weak = token_ok(&ts, &ts.t.tenant_id, app["appId"].as_str().unwrap(), &secret, GRAPH_SCOPE).await;
    let r = ts.graph("GET", "/users", &weak, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("POST", "/users", &weak, Some(user_body(&ts.t, "sneaky"))).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("GET", "/groups", &weak, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("GET", "/applications", &weak, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("GET", &format!("/users/{}", ts.t.admin_upn), &weak, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    // Nothing was created by the refused POST.
    let r = ts.graph("GET", &format!("/users/{}", upn(&ts.t, "sneaky")), &tok, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn auth_user_read_all_can_read_users_only() {
    let (ts, tok) = setup().await;
    let (app, sp, secret) = client_app(&ts, &tok, "Reader App").await;
    let graph_sp = ts.graph("GET", &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"), &tok, None).await;
    assert_eq!(graph_sp.status, StatusCode::OK, "{}", graph_sp.text);
    assert_eq!(graph_sp.json["appId"], GRAPH_APP_ID);
    assert!(
        graph_sp.json["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == USER_READ_ALL && r["value"] == "User.Read.All")
    );
    let gid = id(&graph_sp.json);
    let r = ts
        .graph(
            "POST",
            &format!("/servicePrincipals/{gid}/appRoleAssignedTo"),
            &tok,
            Some(json!({ "principalId": id(&sp), "resourceId": gid, "appRoleId": USER_READ_ALL })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let reader = token_ok(&ts, &ts.t.tenant_id, app["appId"].as_str().unwrap(), &secret, GRAPH_SCOPE).await;
    assert_eq!(jwt_claims(&reader)["roles"], json!(["User.Read.All"]));
    let r = ts.graph("GET", "/users", &reader, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!values(&r).is_empty());
    let r = ts.graph("GET", &format!("/users/{}", ts.t.admin_upn), &reader, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = ts.graph("POST", "/users", &reader, Some(user_body(&ts.t, "nope"))).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("GET", "/applications", &reader, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = ts.graph("DELETE", &format!("/users/{}", ts.t.admin_upn), &reader, None).await;
    assert_err(&r, StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

#[tokio::test]
async fn auth_expired_token_is_401() {
    let (ts, tok) = setup().await;
    assert_eq!(ts.graph("GET", "/users", &tok, None).await.status, StatusCode::OK);
    ts.clock.advance(time::Duration::hours(2));
    let r = ts.graph("GET", "/users", &tok, None).await;
    assert_err(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(r.headers.get("www-authenticate").is_some());
    // A fresh token works again.
    let fresh = ts.admin_token().await;
    assert_eq!(ts.graph("GET", "/users", &fresh, None).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// 3. Tenant isolation

#[tokio::test]
async fn tenants_objects_of_a_are_invisible_to_b() {
    let (ts, tok_a) = setup().await;
    let b = ts.create_tenant("Fabrikam").await;
    let tok_b = ts.graph_token(&b).await;
    let ua = create_user(&ts, &tok_a, "alice").await;
    let uid = id(&ua);
    let ga = id(&create_group(&ts, &tok_a, "A Team").await);
    let app_a = create_app(&ts, &tok_a, json!({ "displayName": "A App" })).await;

    assert_err(
        &ts.graph("GET", &format!("/users/{uid}"), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("GET", &format!("/users/{}", upn(&ts.t, "alice")), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("GET", &format!("/groups/{ga}"), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("GET", &format!("/applications/{}", id(&app_a)), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("GET", &format!("/directoryObjects/{uid}"), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    let r =
        ts.graph("GET", &format!("/applications(appId='{}')", app_a["appId"].as_str().unwrap()), &tok_b, None).await;
    assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    // B cannot change or delete A's objects.
    assert_err(
        &ts.graph("PATCH", &format!("/users/{uid}"), &tok_b, Some(json!({ "displayName": "pwned" }))).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("DELETE", &format!("/users/{uid}"), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("DELETE", &format!("/groups/{ga}"), &tok_b, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    let still = ts.graph("GET", &format!("/users/{uid}"), &tok_a, None).await;
    assert_eq!(still.json["displayName"], "User alice");

    // B's lists never contain A's objects.
    create_group(&ts, &tok_b, "B Team").await;
    for coll in ["/users", "/groups", "/applications", "/servicePrincipals"] {
        let a_ids = ids(&ts.graph("GET", coll, &tok_a, None).await);
        let b_ids = ids(&ts.graph("GET", coll, &tok_b, None).await);
        assert!(!b_ids.is_empty(), "{coll}");
        assert!(a_ids.is_disjoint(&b_ids), "{coll}: tenant lists overlap");
    }
    let b_users = ts.graph("GET", "/users", &tok_b, None).await;
    assert!(values(&b_users).iter().all(|u| u["userPrincipalName"].as_str().unwrap().ends_with(&b.domain)));
}

#[tokio::test]
async fn tenants_b_cannot_add_a_user_to_b_group() {
    let (ts, tok_a) = setup().await;
    let b = ts.create_tenant("Fabrikam").await;
    let tok_b = ts.graph_token(&b).await;
    let ua = id(&create_user(&ts, &tok_a, "alice").await);
    let gb = id(&create_group(&ts, &tok_b, "B Team").await);
    let r = add_member(&ts, &tok_b, &gb, &ua).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    let members = ts.graph("GET", &format!("/groups/{gb}/members"), &tok_b, None).await;
    assert!(values(&members).is_empty(), "{}", members.text);
    // Nor via members@odata.bind on create.
    let r = ts
        .graph(
            "POST",
            "/groups",
            &tok_b,
            Some(json!({ "displayName": "Bind", "mailEnabled": false, "mailNickname": "bind", "securityEnabled": true,
                         "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{ua}")] })),
        )
        .await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    // And A's group cannot receive A's user through B's token.
    let ga = id(&create_group(&ts, &tok_a, "A Team").await);
    let r = add_member(&ts, &tok_b, &ga, &ua).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    assert!(values(&ts.graph("GET", &format!("/groups/{ga}/members"), &tok_a, None).await).is_empty());
}

#[tokio::test]
async fn tenants_same_local_part_in_each_domain_both_succeed() {
    let (ts, tok_a) = setup().await;
    let b = ts.create_tenant("Fabrikam").await;
    let tok_b = ts.graph_token(&b).await;
    let ua = create_user_in(&ts, &ts.t, &tok_a, "shared").await;
    let ub = create_user_in(&ts, &b, &tok_b, "shared").await;
    assert_ne!(id(&ua), id(&ub));
    // Each tenant may only use its own domain.
    let r = ts.graph("POST", "/users", &tok_b, Some(user_body(&ts.t, "intruder"))).await;
    assert_bad(&r);
    assert_eq!(ts.graph("GET", &format!("/users/{}", upn(&b, "shared")), &tok_b, None).await.status, StatusCode::OK);
    assert_eq!(
        ts.graph("GET", &format!("/users/{}", upn(&b, "shared")), &tok_a, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tenants_client_of_a_is_unknown_at_b_token_endpoint() {
    let (ts, _) = setup().await;
    let b = ts.create_tenant("Fabrikam").await;
    let r = ts.token_for(&b.tenant_id, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.json["error_codes"].as_array().unwrap().contains(&json!(700016)), "{}", r.text);
    assert!(r.json["error_description"].as_str().unwrap().starts_with("AADSTS700016"), "{}", r.text);
    assert!(r.json.get("access_token").is_none());
    let r = ts.token_for(&b.domain, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
    assert!(r.json["error_codes"].as_array().unwrap().contains(&json!(700016)), "{}", r.text);
}

// ---------------------------------------------------------------------------------------
// 4. Groups and memberships

#[tokio::test]
async fn groups_create_security_group_is_201() {
    let (ts, tok) = setup().await;
    let g = create_group(&ts, &tok, "Engineers").await;
    assert_eq!(g["@odata.type"], "#microsoft.graph.group");
    assert_eq!(g["securityEnabled"], true);
    assert_eq!(g["mailEnabled"], false);
    assert_eq!(g["groupTypes"], json!([]));
    let r = ts.graph("GET", &format!("/groups/{}", id(&g)), &tok, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["displayName"], "Engineers");
    // Neither security nor Unified; mail-enabled security groups; missing mailNickname.
    let bad = [
        json!({ "displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": false }),
        json!({ "displayName": "x", "mailEnabled": true, "mailNickname": "x", "securityEnabled": true }),
        json!({ "displayName": "x", "mailEnabled": false, "securityEnabled": true }),
    ];
    for body in bad {
        assert_bad(&ts.graph("POST", "/groups", &tok, Some(body)).await);
    }
}

#[tokio::test]
async fn groups_members_bind_on_create() {
    let (ts, tok) = setup().await;
    let u1 = id(&create_user(&ts, &tok, "u1").await);
    let u2 = id(&create_user(&ts, &tok, "u2").await);
    let body = json!({
        "displayName": "Bound", "mailEnabled": false, "mailNickname": "bound", "securityEnabled": true,
        "members@odata.bind": [
            format!("https://graph.microsoft.com/v1.0/directoryObjects/{u1}"),
            format!("https://graph.microsoft.com/v1.0/users/{u2}"),
        ],
    });
    let r = ts.graph("POST", "/groups", &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let members = ts.graph("GET", &format!("/groups/{}/members", id(&r.json)), &tok, None).await;
    assert_eq!(ids(&members), HashSet::from([u1, u2]));
}

#[tokio::test]
async fn groups_members_bind_to_unknown_object_creates_nothing() {
    let (ts, tok) = setup().await;
    let ghost = uuid::Uuid::new_v4();
    let body = json!({
        "displayName": "Ghostly", "mailEnabled": false, "mailNickname": "ghostly", "securityEnabled": true,
        "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{ghost}")],
    });
    let r = ts.graph("POST", "/groups", &tok, Some(body)).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    let groups = ts.graph("GET", "/groups", &tok, None).await;
    assert!(values(&groups).iter().all(|g| g["displayName"] != "Ghostly"), "{}", groups.text);
}

#[tokio::test]
async fn groups_add_member_ref_then_list_and_duplicate() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "mia").await);
    let gid = id(&create_group(&ts, &tok, "Team").await);
    let r = add_member(&ts, &tok, &gid, &uid).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let dup = add_member(&ts, &tok, &gid, &uid).await;
    assert_bad(&dup);
    let m = ts.graph("GET", &format!("/groups/{gid}/members"), &tok, None).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text);
    let v = values(&m);
    assert_eq!(v.len(), 1, "{}", m.text);
    assert_eq!(id(&v[0]), uid);
    assert_eq!(v[0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(v[0]["userPrincipalName"], upn(&ts.t, "mia"));
    // Bad references.
    assert_bad(
        &ts.graph("POST", &format!("/groups/{gid}/members/$ref"), &tok, Some(json!({ "@odata.id": "not-a-url" })))
            .await,
    );
    let ghost = add_member(&ts, &tok, &gid, &uuid::Uuid::new_v4().to_string()).await;
    assert!(ghost.status == StatusCode::BAD_REQUEST || ghost.status == StatusCode::NOT_FOUND, "{}", ghost.text);
    let to_missing_group = add_member(&ts, &tok, &uuid::Uuid::new_v4().to_string(), &uid).await;
    assert_err(&to_missing_group, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    // An application object cannot be a member.
    let app = create_app(&ts, &tok, json!({ "displayName": "App" })).await;
    assert_bad(&add_member(&ts, &tok, &gid, &id(&app)).await);
}

/// G1 ∋ G2 ∋ user.
async fn nested(ts: &TestServer, tok: &str) -> (String, String, String) {
    let uid = id(&create_user(ts, tok, "nina").await);
    let g1 = id(&create_group(ts, tok, "Outer").await);
    let g2 = id(&create_group(ts, tok, "Inner").await);
    assert_eq!(add_member(ts, tok, &g2, &uid).await.status, StatusCode::NO_CONTENT);
    assert_eq!(add_member(ts, tok, &g1, &g2).await.status, StatusCode::NO_CONTENT);
    (g1, g2, uid)
}

#[tokio::test]
async fn groups_nested_members_and_transitive_members() {
    let (ts, tok) = setup().await;
    let (g1, g2, uid) = nested(&ts, &tok).await;
    let direct = ts.graph("GET", &format!("/groups/{g1}/members"), &tok, None).await;
    assert_eq!(ids(&direct), HashSet::from([g2.clone()]), "{}", direct.text);
    assert_eq!(values(&direct)[0]["@odata.type"], "#microsoft.graph.group");
    let trans = ts.graph("GET", &format!("/groups/{g1}/transitiveMembers"), &tok, None).await;
    assert_eq!(trans.status, StatusCode::OK, "{}", trans.text);
    assert_eq!(ids(&trans), HashSet::from([g2.clone(), uid.clone()]), "{}", trans.text);
    assert_eq!(values(&trans).len(), 2, "no duplicates: {}", trans.text);
    let inner = ts.graph("GET", &format!("/groups/{g2}/transitiveMembers"), &tok, None).await;
    assert_eq!(ids(&inner), HashSet::from([uid]));
}

#[tokio::test]
async fn groups_user_member_of_vs_transitive_member_of() {
    let (ts, tok) = setup().await;
    let (g1, g2, uid) = nested(&ts, &tok).await;
    let mo = ts.graph("GET", &format!("/users/{uid}/memberOf"), &tok, None).await;
    assert_eq!(mo.status, StatusCode::OK, "{}", mo.text);
    assert_eq!(ids(&mo), HashSet::from([g2.clone()]), "{}", mo.text);
    let tmo = ts.graph("GET", &format!("/users/{uid}/transitiveMemberOf"), &tok, None).await;
    assert_eq!(ids(&tmo), HashSet::from([g1.clone(), g2.clone()]), "{}", tmo.text);
    assert!(values(&tmo).iter().all(|g| g["@odata.type"] == "#microsoft.graph.group"));
    // By UPN too, and for groups.
    let by_upn = ts.graph("GET", &format!("/users/{}/transitiveMemberOf", upn(&ts.t, "nina")), &tok, None).await;
    assert_eq!(ids(&by_upn), HashSet::from([g1.clone(), g2.clone()]));
    let gmo = ts.graph("GET", &format!("/groups/{g2}/memberOf"), &tok, None).await;
    assert_eq!(ids(&gmo), HashSet::from([g1.clone()]));
    let none = ts.graph("GET", &format!("/groups/{g1}/memberOf"), &tok, None).await;
    assert!(values(&none).is_empty());
}

#[tokio::test]
async fn groups_members_type_cast() {
    let (ts, tok) = setup().await;
    let (g1, g2, _) = nested(&ts, &tok).await;
    let direct_user = id(&create_user(&ts, &tok, "olga").await);
    assert_eq!(add_member(&ts, &tok, &g1, &direct_user).await.status, StatusCode::NO_CONTENT);
    let users = ts.graph("GET", &format!("/groups/{g1}/members/microsoft.graph.user"), &tok, None).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text);
    assert_eq!(ids(&users), HashSet::from([direct_user.clone()]), "{}", users.text);
    let groups = ts.graph("GET", &format!("/groups/{g1}/members/microsoft.graph.group"), &tok, None).await;
    assert_eq!(ids(&groups), HashSet::from([g2]));
    let bogus = ts.graph("GET", &format!("/groups/{g1}/members/microsoft.graph.banana"), &tok, None).await;
    assert_err(&bogus, StatusCode::BAD_REQUEST, "BadRequest");
    let tusers = ts.graph("GET", &format!("/groups/{g1}/transitiveMembers/microsoft.graph.user"), &tok, None).await;
    assert_eq!(values(&tusers).len(), 2, "{}", tusers.text);
    assert!(values(&tusers).iter().all(|u| u["@odata.type"] == "#microsoft.graph.user"));
}

#[tokio::test]
async fn groups_cycles_and_self_membership_are_400() {
    let (ts, tok) = setup().await;
    let (g1, g2, _) = nested(&ts, &tok).await;
    let cycle = add_member(&ts, &tok, &g2, &g1).await;
    assert_bad(&cycle);
    let self_add = add_member(&ts, &tok, &g1, &g1).await;
    assert_bad(&self_add);
    // A longer cycle: G3 ∋ G1; adding G3 into G2 would close G3 → G1 → G2 → G3.
    let g3 = id(&create_group(&ts, &tok, "Third").await);
    assert_eq!(add_member(&ts, &tok, &g3, &g1).await.status, StatusCode::NO_CONTENT);
    assert_bad(&add_member(&ts, &tok, &g2, &g3).await);
    assert!(!ids(&ts.graph("GET", &format!("/groups/{g2}/members"), &tok, None).await).contains(&g1));
}

#[tokio::test]
async fn groups_remove_member_ref() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "pat").await);
    let gid = id(&create_group(&ts, &tok, "Team").await);
    assert_eq!(add_member(&ts, &tok, &gid, &uid).await.status, StatusCode::NO_CONTENT);
    let r = ts.graph("DELETE", &format!("/groups/{gid}/members/{uid}/$ref"), &tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(values(&ts.graph("GET", &format!("/groups/{gid}/members"), &tok, None).await).is_empty());
    assert!(values(&ts.graph("GET", &format!("/users/{uid}/memberOf"), &tok, None).await).is_empty());
    // The member can be added again after removal.
    assert_eq!(add_member(&ts, &tok, &gid, &uid).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn groups_deleting_user_removes_it_from_members() {
    let (ts, tok) = setup().await;
    let (g1, g2, uid) = nested(&ts, &tok).await;
    assert_eq!(ts.graph("DELETE", &format!("/users/{uid}"), &tok, None).await.status, StatusCode::NO_CONTENT);
    assert!(values(&ts.graph("GET", &format!("/groups/{g2}/members"), &tok, None).await).is_empty());
    assert_eq!(
        ids(&ts.graph("GET", &format!("/groups/{g1}/transitiveMembers"), &tok, None).await),
        HashSet::from([g2.clone()])
    );
    // Deleting a nested group removes it too.
    assert_eq!(ts.graph("DELETE", &format!("/groups/{g2}"), &tok, None).await.status, StatusCode::NO_CONTENT);
    assert!(values(&ts.graph("GET", &format!("/groups/{g1}/members"), &tok, None).await).is_empty());
    assert_err(
        &ts.graph("GET", &format!("/groups/{g2}"), &tok, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
}

#[tokio::test]
async fn groups_patch_and_delete() {
    let (ts, tok) = setup().await;
    let gid = id(&create_group(&ts, &tok, "Old Name").await);
    let r = ts
        .graph(
            "PATCH",
            &format!("/groups/{gid}"),
            &tok,
            Some(json!({ "displayName": "New Name", "description": "desc" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = ts.graph("GET", &format!("/groups/{gid}"), &tok, None).await;
    assert_eq!(g.json["displayName"], "New Name");
    assert_eq!(g.json["description"], "desc");
    let r = ts.graph("PATCH", &format!("/groups/{gid}"), &tok, Some(json!({ "description": null }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        ts.graph("GET", &format!("/groups/{gid}"), &tok, None).await.json.get("description"),
        Some(&Value::Null)
    );
    assert_bad(&ts.graph("PATCH", &format!("/groups/{gid}"), &tok, Some(json!({ "bogus": true }))).await);
    assert_eq!(ts.graph("DELETE", &format!("/groups/{gid}"), &tok, None).await.status, StatusCode::NO_CONTENT);
    assert_err(
        &ts.graph("GET", &format!("/groups/{gid}"), &tok, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    // A user id is not a group.
    let uid = id(&create_user(&ts, &tok, "quinn").await);
    assert_err(
        &ts.graph("GET", &format!("/groups/{uid}"), &tok, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
}

// ---------------------------------------------------------------------------------------
// 5. Applications and service principals

#[tokio::test]
async fn apps_create_with_roles_and_identifier_uris() {
    let (ts, tok) = setup().await;
    let (app, _, uri) = resource_app(&ts, &tok).await;
    assert_eq!(app["@odata.type"], "#microsoft.graph.application");
    assert!(uuid::Uuid::parse_str(app["appId"].as_str().unwrap()).is_ok(), "{app}");
    assert_ne!(app["appId"], app["id"]);
    assert_eq!(app["passwordCredentials"], json!([]));
    assert_eq!(app["keyCredentials"], json!([]));
    assert_eq!(app["identifierUris"], json!([uri]));
    let roles = app["appRoles"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    assert!(roles.iter().any(|r| r["id"] == ROLE_APP && r["value"] == "Data.Read"));
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
}

#[tokio::test]
async fn apps_duplicate_identifier_uri_is_400() {
    let (ts, tok) = setup().await;
    let (_, _, uri) = resource_app(&ts, &tok).await;
    let r =
        ts.graph("POST", "/applications", &tok, Some(json!({ "displayName": "Dup", "identifierUris": [uri] }))).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("identifierUris"), "{}", r.text);
    let r = ts
        .graph(
            "POST",
            "/applications",
            &tok,
            Some(json!({ "displayName": "Dup", "identifierUris": [uri.to_uppercase()] })),
        )
        .await;
    assert_bad(&r);
    // Via PATCH too.
    let other = create_app(&ts, &tok, json!({ "displayName": "Other" })).await;
    let r = ts
        .graph("PATCH", &format!("/applications/{}", id(&other)), &tok, Some(json!({ "identifierUris": [uri] })))
        .await;
    assert_bad(&r);
    // Invalid URIs.
    for bad in ["not a uri", "api://x/.default", "api://x#frag"] {
        assert_bad(
            &ts.graph("POST", "/applications", &tok, Some(json!({ "displayName": "Bad", "identifierUris": [bad] })))
                .await,
        );
    }
}

#[tokio::test]
async fn apps_add_password_secret_works_and_is_shown_once() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Daemon" })).await;
    create_sp(&ts, &tok, app["appId"].as_str().unwrap()).await;
    let oid = id(&app);
    let cred = add_password(&ts, &tok, &oid).await;
    let secret = cred["secretText"].as_str().unwrap().to_string();
    assert_eq!(secret.chars().count(), 40, "{secret}");
    assert_eq!(cred["hint"], secret[..3]);
    assert_eq!(cred["displayName"], "ci");
    let key_id = cred["keyId"].as_str().unwrap().to_string();
    let tokr = ts.token_for(&ts.t.tenant_id, app["appId"].as_str().unwrap(), &secret, GRAPH_SCOPE).await;
    assert_eq!(tokr.status, StatusCode::OK, "{}", tokr.text);
    let got = ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await;
    assert!(!got.text.contains(&secret), "secret must not be shown again");
    assert!(!got.text.contains("secretHash") && !got.text.contains("secret_hash"), "{}", got.text);
    let creds = got.json["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{}", got.text);
    assert_eq!(creds[0]["keyId"], key_id);
    assert_eq!(creds[0]["secretText"], Value::Null);
    assert_eq!(creds[0]["hint"], secret[..3]);
    let list = ts.graph("GET", "/applications", &tok, None).await;
    assert!(!list.text.contains(&secret) && !list.text.contains("secretHash"));
}

#[tokio::test]
async fn apps_remove_password_revokes_secret() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Daemon" })).await;
    create_sp(&ts, &tok, app["appId"].as_str().unwrap()).await;
    let oid = id(&app);
    let cred = add_password(&ts, &tok, &oid).await;
    let keep = add_password(&ts, &tok, &oid).await;
    let secret = cred["secretText"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap();
    assert_eq!(ts.token_for(&ts.t.tenant_id, app_id, secret, GRAPH_SCOPE).await.status, StatusCode::OK);
    let r = ts
        .graph("POST", &format!("/applications/{oid}/removePassword"), &tok, Some(json!({ "keyId": cred["keyId"] })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.token_for(&ts.t.tenant_id, app_id, secret, GRAPH_SCOPE).await;
    assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["error_codes"].as_array().unwrap().contains(&json!(7000215)), "{}", r.text);
    // The other secret still works; removing an unknown keyId is 400.
    assert_eq!(
        ts.token_for(&ts.t.tenant_id, app_id, keep["secretText"].as_str().unwrap(), GRAPH_SCOPE).await.status,
        StatusCode::OK
    );
    let r = ts
        .graph("POST", &format!("/applications/{oid}/removePassword"), &tok, Some(json!({ "keyId": cred["keyId"] })))
        .await;
    assert_bad(&r);
    let got = ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await;
    assert_eq!(got.json["passwordCredentials"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn apps_patch_key_credentials_with_certificate() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Cert App" })).await;
    let oid = id(&app);
    let now = Clock::now(ts.clock.as_ref());
    let (key, _) = ostiary_crypto::jws::SigningKey::generate(
        ostiary_crypto::jws::Alg::RS256,
        "cn",
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    )
    .unwrap();
    let der = key.cert_der().to_vec();
    let b64 = ostiary_crypto::b64::std_encode(&der);
    let body = json!({ "keyCredentials": [{ "type": "AsymmetricX509Cert", "usage": "Verify", "key": b64, "displayName": "my cert" }] });
    let r = ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let got = ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await;
    let keys = got.json["keyCredentials"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{}", got.text);
    let thumb = ostiary_crypto::b64::std_encode(&ostiary_crypto::digest::sha1(&der));
    assert_eq!(keys[0]["customKeyIdentifier"], thumb);
    assert_eq!(keys[0]["key"], Value::Null);
    assert_eq!(keys[0]["type"], "AsymmetricX509Cert");
    assert_eq!(keys[0]["usage"], "Verify");
    assert_eq!(keys[0]["displayName"], "my cert");
    assert!(!got.text.contains(&b64), "the certificate body is not echoed");
    // Keeping it by keyId alone works (Graph PATCH replaces the list).
    let key_id = keys[0]["keyId"].clone();
    let r = ts
        .graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "keyCredentials": [{ "keyId": key_id }] })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await.json["keyCredentials"][0]["customKeyIdentifier"],
        thumb
    );
    // An empty list removes it.
    let r = ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "keyCredentials": [] }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await.json["keyCredentials"], json!([]));
}

#[tokio::test]
async fn apps_invalid_certificate_is_400() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Cert App" })).await;
    let oid = id(&app);
    for key in ["!!!not base64!!!", "aGVsbG8gd29ybGQ="] {
        let body = json!({ "keyCredentials": [{ "type": "AsymmetricX509Cert", "usage": "Verify", "key": key }] });
        assert_bad(&ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(body)).await);
    }
    assert_eq!(ts.graph("GET", &format!("/applications/{oid}"), &tok, None).await.json["keyCredentials"], json!([]));
}

#[tokio::test]
async fn apps_get_by_app_id_alternate_key() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Keyed" })).await;
    let app_id = app["appId"].as_str().unwrap();
    let r = ts.graph("GET", &format!("/applications(appId='{app_id}')"), &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], app["id"]);
    let r = ts
        .graph("PATCH", &format!("/applications(appId='{app_id}')"), &tok, Some(json!({ "displayName": "Renamed" })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        ts.graph("GET", &format!("/applications/{}", id(&app)), &tok, None).await.json["displayName"],
        "Renamed"
    );
    let missing = ts.graph("GET", &format!("/applications(appId='{}')", uuid::Uuid::new_v4()), &tok, None).await;
    assert_err(&missing, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn sps_create_for_app_copies_names_and_roles() {
    let (ts, tok) = setup().await;
    let (app, sp, uri) = resource_app(&ts, &tok).await;
    assert_eq!(sp["@odata.type"], "#microsoft.graph.servicePrincipal");
    assert_eq!(sp["appId"], app["appId"]);
    let names: Vec<&str> =
        sp["servicePrincipalNames"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(names.contains(&app["appId"].as_str().unwrap()), "{names:?}");
    assert!(names.contains(&uri.as_str()), "{names:?}");
    assert_eq!(sp["appRoles"], app["appRoles"]);
    assert_eq!(sp["displayName"], app["displayName"]);
    assert_eq!(sp["appOwnerOrganizationId"], ts.t.tenant_id.as_str());
    let by_app_id =
        ts.graph("GET", &format!("/servicePrincipals(appId='{}')", app["appId"].as_str().unwrap()), &tok, None).await;
    assert_eq!(by_app_id.json["id"], sp["id"]);
    // A second SP for the same app is refused.
    let r = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({ "appId": app["appId"] }))).await;
    assert_bad(&r);
}

#[tokio::test]
async fn sps_for_unknown_app_id_is_400() {
    let (ts, tok) = setup().await;
    let r =
        ts.graph("POST", "/servicePrincipals", &tok, Some(json!({ "appId": uuid::Uuid::new_v4().to_string() }))).await;
    assert_bad(&r);
    let r = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({ "appId": "not-a-guid" }))).await;
    assert_bad(&r);
    // An app of another tenant is unknown here.
    let b = ts.create_tenant("Fabrikam").await;
    let r = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({ "appId": b.client_id }))).await;
    assert_bad(&r);
}

#[tokio::test]
async fn apps_patch_roles_propagate_to_sp() {
    let (ts, tok) = setup().await;
    let (app, sp, _) = resource_app(&ts, &tok).await;
    let mut roles = app["appRoles"].as_array().unwrap().clone();
    roles.push(json!({ "id": ROLE_NEW, "allowedMemberTypes": ["Application"], "displayName": "Write", "description": "Write data", "isEnabled": true, "value": "Data.Write" }));
    let r = ts.graph("PATCH", &format!("/applications/{}", id(&app)), &tok, Some(json!({ "appRoles": roles }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let got = ts.graph("GET", &format!("/servicePrincipals/{}", id(&sp)), &tok, None).await;
    let sp_roles = got.json["appRoles"].as_array().unwrap();
    assert_eq!(sp_roles.len(), 3, "{}", got.text);
    assert!(sp_roles.iter().any(|r| r["id"] == ROLE_NEW && r["value"] == "Data.Write"));
}

#[tokio::test]
async fn apps_removing_enabled_role_needs_disable_first() {
    let (ts, tok) = setup().await;
    let (app, sp, _) = resource_app(&ts, &tok).await;
    let oid = id(&app);
    let roles = app["appRoles"].as_array().unwrap().clone();
    let without: Vec<Value> = roles.iter().filter(|r| r["id"] != ROLE_APP).cloned().collect();
    let r = ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "appRoles": without }))).await;
    assert_bad(&r);
    // Changing the value of an enabled role is refused as well.
    let mut renamed = roles.clone();
    for r in &mut renamed {
        if r["id"] == ROLE_APP {
            r["value"] = json!("Data.Renamed");
        }
    }
    assert_bad(&ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "appRoles": renamed }))).await);
    // Disable, then remove.
    let mut disabled = roles.clone();
    for r in &mut disabled {
        if r["id"] == ROLE_APP {
            r["isEnabled"] = json!(false);
        }
    }
    let r = ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "appRoles": disabled }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.graph("PATCH", &format!("/applications/{oid}"), &tok, Some(json!({ "appRoles": without }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let got = ts.graph("GET", &format!("/servicePrincipals/{}", id(&sp)), &tok, None).await;
    assert_eq!(got.json["appRoles"].as_array().unwrap().len(), 1, "{}", got.text);
}

#[tokio::test]
async fn apps_delete_also_deletes_sp() {
    let (ts, tok) = setup().await;
    let (app, sp, secret) = client_app(&ts, &tok, "Doomed").await;
    let r = ts.graph("DELETE", &format!("/applications/{}", id(&app)), &tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_err(
        &ts.graph("GET", &format!("/applications/{}", id(&app)), &tok, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert_err(
        &ts.graph("GET", &format!("/servicePrincipals/{}", id(&sp)), &tok, None).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    );
    assert!(!ids(&ts.graph("GET", "/servicePrincipals", &tok, None).await).contains(&id(&sp)));
    let r = ts.token_for(&ts.t.tenant_id, app["appId"].as_str().unwrap(), &secret, GRAPH_SCOPE).await;
    assert_ne!(r.status, StatusCode::OK, "deleted app can no longer get tokens");
}

#[tokio::test]
async fn sps_deleting_microsoft_graph_sp_is_400() {
    let (ts, tok) = setup().await;
    let graph_sp = ts.graph("GET", &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"), &tok, None).await;
    let gid = id(&graph_sp.json);
    let r = ts.graph("DELETE", &format!("/servicePrincipals/{gid}"), &tok, None).await;
    assert_bad(&r);
    assert_eq!(ts.graph("GET", &format!("/servicePrincipals/{gid}"), &tok, None).await.status, StatusCode::OK);
    // The admin token still works afterwards.
    assert_eq!(ts.graph("GET", "/users", &ts.admin_token().await, None).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// 6. App role assignments

async fn assign(ts: &TestServer, tok: &str, resource_sp: &str, principal: &str, role: &str) -> Resp {
    ts.graph(
        "POST",
        &format!("/servicePrincipals/{resource_sp}/appRoleAssignedTo"),
        tok,
        Some(json!({ "principalId": principal, "resourceId": resource_sp, "appRoleId": role })),
    )
    .await
}

#[tokio::test]
async fn assignments_grant_roles_in_tokens_and_can_be_listed() {
    let (ts, tok) = setup().await;
    let (_, rsp, uri) = resource_app(&ts, &tok).await;
    let (capp, csp, secret) = client_app(&ts, &tok, "Client App").await;
    let rid = id(&rsp);
    let cid = id(&csp);
    let client_id = capp["appId"].as_str().unwrap().to_string();
    let scope = format!("{uri}/.default");
    let before = token_ok(&ts, &ts.t.tenant_id, &client_id, &secret, &scope).await;
    assert!(jwt_claims(&before).get("roles").is_none(), "{}", jwt_claims(&before));

    let r = assign(&ts, &tok, &rid, &cid, ROLE_APP).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["principalType"], "ServicePrincipal");
    assert_eq!(r.json["principalId"], cid.as_str());
    assert_eq!(r.json["resourceId"], rid.as_str());
    assert_eq!(r.json["appRoleId"], ROLE_APP);
    assert_eq!(r.json["principalDisplayName"], "Client App");
    assert_eq!(r.json["resourceDisplayName"], "Orders API");
    let aid = r.json["id"].as_str().unwrap().to_string();

    let after = token_ok(&ts, &ts.t.tenant_id, &client_id, &secret, &scope).await;
    let claims = jwt_claims(&after);
    assert_eq!(claims["roles"], json!(["Data.Read"]), "{claims}");
    assert_eq!(claims["aud"], rsp["appId"]);

    let by_client = ts.graph("GET", &format!("/servicePrincipals/{cid}/appRoleAssignments"), &tok, None).await;
    assert_eq!(by_client.status, StatusCode::OK, "{}", by_client.text);
    assert_eq!(ids(&by_client), HashSet::from([aid.clone()]));
    let by_resource = ts.graph("GET", &format!("/servicePrincipals/{rid}/appRoleAssignedTo"), &tok, None).await;
    assert_eq!(ids(&by_resource), HashSet::from([aid.clone()]));
    assert_eq!(values(&by_resource)[0]["appRoleId"], ROLE_APP);
}

#[tokio::test]
async fn assignments_invalid_requests_are_400() {
    let (ts, tok) = setup().await;
    let (_, rsp, _) = resource_app(&ts, &tok).await;
    let (_, csp, _) = client_app(&ts, &tok, "Client App").await;
    let (_, other_sp, _) = client_app(&ts, &tok, "Other App").await;
    let rid = id(&rsp);
    let cid = id(&csp);
    assert_eq!(assign(&ts, &tok, &rid, &cid, ROLE_APP).await.status, StatusCode::CREATED);
    // Duplicate.
    assert_bad(&assign(&ts, &tok, &rid, &cid, ROLE_APP).await);
    // Unknown role id.
    assert_bad(&assign(&ts, &tok, &rid, &cid, &uuid::Uuid::new_v4().to_string()).await);
    // resourceId not the SP in the URL.
    let r = ts
        .graph(
            "POST",
            &format!("/servicePrincipals/{rid}/appRoleAssignedTo"),
            &tok,
            Some(json!({ "principalId": cid, "resourceId": id(&other_sp), "appRoleId": ROLE_APP })),
        )
        .await;
    assert_bad(&r);
    // A User-only role cannot be given to a service principal.
    assert_bad(&assign(&ts, &tok, &rid, &cid, ROLE_USER).await);
    // Unknown principal.
    assert_bad(&assign(&ts, &tok, &rid, &uuid::Uuid::new_v4().to_string(), ROLE_APP).await);
    // Only the first assignment exists.
    assert_eq!(
        values(&ts.graph("GET", &format!("/servicePrincipals/{rid}/appRoleAssignedTo"), &tok, None).await).len(),
        1
    );
}

#[tokio::test]
async fn assignments_to_users() {
    let (ts, tok) = setup().await;
    let (_, rsp, _) = resource_app(&ts, &tok).await;
    let rid = id(&rsp);
    let uid = id(&create_user(&ts, &tok, "rita").await);
    let r = ts
        .graph(
            "POST",
            &format!("/users/{uid}/appRoleAssignments"),
            &tok,
            Some(json!({ "principalId": uid, "resourceId": rid, "appRoleId": ROLE_USER })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["principalType"], "User");
    assert_eq!(r.json["principalDisplayName"], "User rita");
    let aid = r.json["id"].as_str().unwrap().to_string();
    let list = ts.graph("GET", &format!("/users/{uid}/appRoleAssignments"), &tok, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(ids(&list), HashSet::from([aid.clone()]));
    assert!(
        ids(&ts.graph("GET", &format!("/servicePrincipals/{rid}/appRoleAssignedTo"), &tok, None).await).contains(&aid)
    );
    // An Application-only role cannot be given to a user.
    let r = ts
        .graph(
            "POST",
            &format!("/users/{uid}/appRoleAssignments"),
            &tok,
            Some(json!({ "principalId": uid, "resourceId": rid, "appRoleId": ROLE_APP })),
        )
        .await;
    assert_bad(&r);
    // principalId must be the user in the URL.
    let other = id(&create_user(&ts, &tok, "sam").await);
    let r = ts
        .graph(
            "POST",
            &format!("/users/{uid}/appRoleAssignments"),
            &tok,
            Some(json!({ "principalId": other, "resourceId": rid, "appRoleId": ROLE_USER })),
        )
        .await;
    assert_bad(&r);
    // Removing through the user's collection.
    let r = ts.graph("DELETE", &format!("/users/{uid}/appRoleAssignments/{aid}"), &tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(values(&ts.graph("GET", &format!("/users/{uid}/appRoleAssignments"), &tok, None).await).is_empty());
}

#[tokio::test]
async fn assignments_delete_removes_roles_from_next_token() {
    let (ts, tok) = setup().await;
    let (_, rsp, uri) = resource_app(&ts, &tok).await;
    let (capp, csp, secret) = client_app(&ts, &tok, "Client App").await;
    let rid = id(&rsp);
    let r = assign(&ts, &tok, &rid, &id(&csp), ROLE_APP).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let aid = r.json["id"].as_str().unwrap().to_string();
    let client_id = capp["appId"].as_str().unwrap().to_string();
    let scope = format!("{uri}/.default");
    assert_eq!(
        jwt_claims(&token_ok(&ts, &ts.t.tenant_id, &client_id, &secret, &scope).await)["roles"],
        json!(["Data.Read"])
    );
    // An unrelated SP cannot be used to delete it.
    let (_, other, _) = client_app(&ts, &tok, "Other").await;
    let r = ts.graph("DELETE", &format!("/servicePrincipals/{}/appRoleAssignedTo/{aid}", id(&other)), &tok, None).await;
    assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let r = ts.graph("DELETE", &format!("/servicePrincipals/{rid}/appRoleAssignedTo/{aid}"), &tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let claims = jwt_claims(&token_ok(&ts, &ts.t.tenant_id, &client_id, &secret, &scope).await);
    assert!(claims.get("roles").is_none(), "{claims}");
    assert!(
        values(&ts.graph("GET", &format!("/servicePrincipals/{rid}/appRoleAssignedTo"), &tok, None).await).is_empty()
    );
    let again = ts.graph("DELETE", &format!("/servicePrincipals/{rid}/appRoleAssignedTo/{aid}"), &tok, None).await;
    assert_err(&again, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn assignments_disabled_role_is_not_in_tokens() {
    let (ts, tok) = setup().await;
    let (app, rsp, uri) = resource_app(&ts, &tok).await;
    let (capp, csp, secret) = client_app(&ts, &tok, "Client App").await;
    assert_eq!(assign(&ts, &tok, &id(&rsp), &id(&csp), ROLE_APP).await.status, StatusCode::CREATED);
    let mut roles = app["appRoles"].as_array().unwrap().clone();
    for r in &mut roles {
        if r["id"] == ROLE_APP {
            r["isEnabled"] = json!(false);
        }
    }
    let r = ts.graph("PATCH", &format!("/applications/{}", id(&app)), &tok, Some(json!({ "appRoles": roles }))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let t = token_ok(&ts, &ts.t.tenant_id, capp["appId"].as_str().unwrap(), &secret, &format!("{uri}/.default")).await;
    assert!(jwt_claims(&t).get("roles").is_none(), "{}", jwt_claims(&t));
}

// ---------------------------------------------------------------------------------------
// 8. Miscellaneous conventions

#[tokio::test]
async fn misc_organization_returns_tenant() {
    let (ts, tok) = setup().await;
    let r = ts.graph("GET", "/organization", &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let orgs = values(&r);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], ts.t.tenant_id.as_str());
    assert_eq!(orgs[0]["displayName"], "Contoso");
    assert_eq!(orgs[0]["verifiedDomains"][0]["name"], ts.t.domain.as_str());
    let one = ts.graph("GET", &format!("/organization/{}", ts.t.tenant_id), &tok, None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json["id"], ts.t.tenant_id.as_str());
    let b = ts.create_tenant("Fabrikam").await;
    let other = ts.graph("GET", &format!("/organization/{}", b.tenant_id), &tok, None).await;
    assert_err(&other, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn misc_me_is_400_for_app_tokens() {
    let (ts, tok) = setup().await;
    let r = ts.graph("GET", "/me", &tok, None).await;
    assert_bad(&r);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("/me"), "{}", r.text);
}

#[tokio::test]
async fn misc_unknown_segment_is_400_bad_request() {
    let (ts, tok) = setup().await;
    for path in ["/nothing", "/users/x/nothing", "/groups/00000000-0000-0000-0000-000000000001/bogus"] {
        let r = ts.graph("GET", path, &tok, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert!(
            r.json["error"]["code"] == "BadRequest" || r.json["error"]["code"] == "Request_ResourceNotFound",
            "{path}: {}",
            r.text
        );
    }
    assert_err(&ts.graph("GET", "/nothing", &tok, None).await, StatusCode::BAD_REQUEST, "BadRequest");
    let r = ts
        .request(Request::get("/v1.0").header("authorization", format!("Bearer {tok}")).body(Body::empty()).unwrap())
        .await;
    assert_err(&r, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn misc_wrong_method_is_405() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "tom").await);
    let gid = id(&create_group(&ts, &tok, "G").await);
    let cases = [
        ("PUT", "/users".to_string()),
        ("DELETE", "/users".to_string()),
        ("PUT", format!("/users/{uid}")),
        ("POST", format!("/users/{uid}")),
        ("POST", format!("/groups/{gid}/members")),
        ("GET", format!("/groups/{gid}/members/$ref")),
        ("PATCH", "/organization".to_string()),
    ];
    for (m, p) in cases {
        let r = ts.graph(m, &p, &tok, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}: {}", r.text);
        assert!(r.json["error"]["innerError"]["request-id"].is_string());
    }
}

#[tokio::test]
async fn misc_every_error_has_request_id_matching_header() {
    let (ts, tok) = setup().await;
    let responses = vec![
        ts.graph("GET", "/users", "garbage", None).await,
        ts.graph("GET", "/nothing", &tok, None).await,
        ts.graph("GET", &format!("/users/{}", uuid::Uuid::new_v4()), &tok, None).await,
        ts.graph("PUT", "/users", &tok, None).await,
        ts.graph("POST", "/users", &tok, Some(json!({ "foo": 1 }))).await,
        ts.graph("GET", "/users?$top=0", &tok, None).await,
        ts.graph("GET", "/me", &tok, None).await,
    ];
    let mut seen = HashSet::new();
    for r in responses {
        assert!(r.status.is_client_error(), "{}", r.text);
        let rid = r.json["error"]["innerError"]["request-id"]
            .as_str()
            .unwrap_or_else(|| panic!("no request-id: {}", r.text))
            .to_string();
        assert!(uuid::Uuid::parse_str(&rid).is_ok(), "{rid}");
        assert_eq!(r.headers.get("request-id").and_then(|v| v.to_str().ok()), Some(rid.as_str()));
        assert!(r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
        assert!(seen.insert(rid), "request ids are unique");
    }
}

#[tokio::test]
async fn misc_client_request_id_is_echoed() {
    let (ts, tok) = setup().await;
    let crid = uuid::Uuid::new_v4().to_string();
    let r = ts.graph_with("GET", "/users", &tok, None, &[("client-request-id", &crid)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get("client-request-id").and_then(|v| v.to_str().ok()), Some(crid.as_str()));
    assert!(r.headers.get("request-id").is_some());
    let r = ts.graph_with("GET", "/nothing", &tok, None, &[("client-request-id", &crid)]).await;
    assert_eq!(r.headers.get("client-request-id").and_then(|v| v.to_str().ok()), Some(crid.as_str()));
    assert_eq!(r.json["error"]["innerError"]["client-request-id"], crid.as_str());
    // Unsafe values are not reflected.
    let r = ts.graph_with("GET", "/users", &tok, None, &[("client-request-id", "<script>")]).await;
    assert!(r.headers.get("client-request-id").is_none());
}

#[tokio::test]
async fn misc_directory_objects_get_any_kind() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "uma").await);
    let gid = id(&create_group(&ts, &tok, "G").await);
    let u = ts.graph("GET", &format!("/directoryObjects/{uid}"), &tok, None).await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text);
    assert_eq!(u.json["@odata.type"], "#microsoft.graph.user");
    assert!(u.json.get("passwordHash").is_none());
    let g = ts.graph("GET", &format!("/directoryObjects/{gid}"), &tok, None).await;
    assert_eq!(g.json["@odata.type"], "#microsoft.graph.group");
}

// ---------------------------------------------------------------------------------------
// Regression tests for defects found while writing this suite, and further edge cases.

#[tokio::test]
async fn users_alternate_key_syntax() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "vera").await);
    let r = ts.graph("GET", &format!("/users(userPrincipalName='{}')", upn(&ts.t, "vera")), &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(id(&r.json), uid);
    let r = ts.graph("GET", &format!("/users(userPrincipalName='{}')/memberOf", upn(&ts.t, "vera")), &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn users_rename_upn_moves_the_key() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "old").await);
    let r = ts
        .graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "userPrincipalName": upn(&ts.t, "new") })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        ts.graph("GET", &format!("/users/{}", upn(&ts.t, "old")), &tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = ts.graph("GET", &format!("/users/{}", upn(&ts.t, "new")), &tok, None).await;
    assert_eq!(id(&r.json), uid);
    // The old UPN is free; a foreign domain is refused on PATCH as on create.
    create_user(&ts, &tok, "old").await;
    let r = ts
        .graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "userPrincipalName": "x@other.example.com" })))
        .await;
    assert_bad(&r);
    assert_bad(&ts.graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "displayName": "" }))).await);
    assert_bad(&ts.graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({ "mail": "no-at-sign" }))).await);
}

#[tokio::test]
async fn users_password_change_updates_last_change_time() {
    let (ts, tok) = setup().await;
    let created = create_user(&ts, &tok, "wade").await;
    let uid = id(&created);
    let before = created["lastPasswordChangeDateTime"].as_str().unwrap().to_string();
    ts.clock.advance(time::Duration::hours(1));
    let tok = ts.admin_token().await;
    let r = ts
        .graph(
            "PATCH",
            &format!("/users/{uid}"),
            &tok,
            Some(json!({ "passwordProfile": { "password": "An0ther!Secret" } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let after = ts.graph("GET", &format!("/users/{uid}"), &tok, None).await;
    let after = after.json["lastPasswordChangeDateTime"].as_str().unwrap().to_string();
    assert!(after > before, "{before} -> {after}");
    assert!(!ts.graph("GET", &format!("/users/{uid}"), &tok, None).await.text.contains("An0ther!Secret"));
}

#[tokio::test]
async fn operations_on_the_wrong_kind_of_object_are_404() {
    let (ts, tok) = setup().await;
    let uid = id(&create_user(&ts, &tok, "xena").await);
    let gid = id(&create_group(&ts, &tok, "G").await);
    let (app, sp, _) = client_app(&ts, &tok, "C").await;
    let (app_oid, sp_oid) = (id(&app), id(&sp));
    let cases = [
        ("DELETE", format!("/groups/{uid}")),
        ("DELETE", format!("/users/{gid}")),
        ("DELETE", format!("/applications/{sp_oid}")),
        ("DELETE", format!("/servicePrincipals/{app_oid}")),
        ("GET", format!("/users/{gid}")),
        ("GET", format!("/applications/{sp_oid}")),
        ("GET", format!("/servicePrincipals/{app_oid}")),
        ("GET", format!("/groups/{uid}/members")),
        ("PATCH", format!("/groups/{uid}")),
        ("PATCH", format!("/users/{gid}")),
        ("POST", format!("/applications/{sp_oid}/addPassword")),
    ];
    for (m, p) in cases {
        let body = if m == "GET" || m == "DELETE" { None } else { Some(json!({})) };
        let r = ts.graph(m, &p, &tok, body).await;
        assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    }
    // Everything is still there.
    for p in [
        format!("/users/{uid}"),
        format!("/groups/{gid}"),
        format!("/applications/{app_oid}"),
        format!("/servicePrincipals/{sp_oid}"),
    ] {
        assert_eq!(ts.graph("GET", &p, &tok, None).await.status, StatusCode::OK, "{p}");
    }
}

#[tokio::test]
async fn groups_members_cast_paging_keeps_the_cast() {
    let (ts, tok) = setup().await;
    let gid = id(&create_group(&ts, &tok, "Mixed").await);
    let mut users = HashSet::new();
    let mut groups = HashSet::new();
    for i in 0..3 {
        let u = id(&create_user(&ts, &tok, &format!("m{i}")).await);
        assert_eq!(add_member(&ts, &tok, &gid, &u).await.status, StatusCode::NO_CONTENT);
        users.insert(u);
        let g = id(&create_group(&ts, &tok, &format!("Sub{i}")).await);
        assert_eq!(add_member(&ts, &tok, &gid, &g).await.status, StatusCode::NO_CONTENT);
        groups.insert(g);
    }
    for (cast, want) in [("microsoft.graph.user", &users), ("microsoft.graph.group", &groups)] {
        let mut path = format!("/groups/{gid}/members/{cast}?$top=1");
        let mut seen = Vec::new();
        for _ in 0..10 {
            let r = ts.graph("GET", &path, &tok, None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
            seen.extend(values(&r).iter().map(id));
            match r.json["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.contains(cast), "nextLink lost the cast: {next}");
                    path = next.strip_prefix("https://ostiary.test/v1.0").unwrap().to_string();
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 3, "{cast}: {seen:?}");
        assert_eq!(&seen.into_iter().collect::<HashSet<_>>(), want, "{cast}");
    }
    // memberOf with a cast pages the same way.
    let uid = users.iter().next().unwrap().clone();
    for g in &groups {
        assert_eq!(add_member(&ts, &tok, g, &uid).await.status, StatusCode::NO_CONTENT);
    }
    let mut path = format!("/users/{uid}/memberOf/microsoft.graph.group?$top=2");
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let r = ts.graph("GET", &path, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(values(&r).iter().map(id));
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => path = next.strip_prefix("https://ostiary.test/v1.0").unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
}

#[tokio::test]
async fn groups_members_bind_refuses_applications() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Not a member" })).await;
    let body = json!({
        "displayName": "Bind", "mailEnabled": false, "mailNickname": "bind", "securityEnabled": true,
        "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id(&app))],
    });
    let r = ts.graph("POST", "/groups", &tok, Some(body)).await;
    assert_bad(&r);
    assert!(values(&ts.graph("GET", "/groups", &tok, None).await).is_empty(), "no group was created");
    // Service principals are fine members.
    let sp = create_sp(&ts, &tok, app["appId"].as_str().unwrap()).await;
    let body = json!({
        "displayName": "Bind", "mailEnabled": false, "mailNickname": "bind", "securityEnabled": true,
        "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", id(&sp))],
    });
    let r = ts.graph("POST", "/groups", &tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let m = ts.graph("GET", &format!("/groups/{}/members", id(&r.json)), &tok, None).await;
    assert_eq!(values(&m)[0]["@odata.type"], "#microsoft.graph.servicePrincipal");
}

#[tokio::test]
async fn groups_patch_cannot_make_a_mail_enabled_security_group() {
    let (ts, tok) = setup().await;
    let gid = id(&create_group(&ts, &tok, "Sec").await);
    let r = ts.graph("PATCH", &format!("/groups/{gid}"), &tok, Some(json!({ "mailEnabled": true }))).await;
    assert_bad(&r);
    assert_eq!(ts.graph("GET", &format!("/groups/{gid}"), &tok, None).await.json["mailEnabled"], false);
    let r = ts.graph("PATCH", &format!("/groups/{gid}"), &tok, Some(json!({ "securityEnabled": false }))).await;
    assert_bad(&r);
    // A Microsoft 365 group is mail-enabled and may stay so.
    let unified = json!({ "displayName": "M365", "mailEnabled": true, "mailNickname": "m365", "groupTypes": ["Unified"], "securityEnabled": false });
    let r = ts.graph("POST", "/groups", &tok, Some(unified)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = ts
        .graph("PATCH", &format!("/groups/{}", id(&r.json)), &tok, Some(json!({ "displayName": "M365 renamed" })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn groups_removing_a_non_member_is_404() {
    let (ts, tok) = setup().await;
    let gid = id(&create_group(&ts, &tok, "G").await);
    let uid = id(&create_user(&ts, &tok, "yuri").await);
    let r = ts.graph("DELETE", &format!("/groups/{gid}/members/{uid}/$ref"), &tok, None).await;
    assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let r = ts.graph("DELETE", &format!("/groups/{}/members/{uid}/$ref", uuid::Uuid::new_v4()), &tok, None).await;
    assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn apps_identifier_uri_change_updates_sp_and_token_resource() {
    let (ts, tok) = setup().await;
    let (app, sp, uri) = resource_app(&ts, &tok).await;
    let (capp, _, secret) = client_app(&ts, &tok, "Client").await;
    let client_id = capp["appId"].as_str().unwrap();
    let new_uri = format!("api://new-{}", rand_suffix());
    let r = ts
        .graph("PATCH", &format!("/applications/{}", id(&app)), &tok, Some(json!({ "identifierUris": [new_uri] })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let got = ts.graph("GET", &format!("/servicePrincipals/{}", id(&sp)), &tok, None).await;
    let names = got.json["servicePrincipalNames"].as_array().unwrap();
    assert!(names.contains(&json!(new_uri)) && !names.contains(&json!(uri)), "{}", got.text);
    let old = ts.token_for(&ts.t.tenant_id, client_id, &secret, &format!("{uri}/.default")).await;
    assert!(old.json["error_codes"].as_array().unwrap().contains(&json!(500011)), "{}", old.text);
    let new = token_ok(&ts, &ts.t.tenant_id, client_id, &secret, &format!("{new_uri}/.default")).await;
    assert_eq!(jwt_claims(&new)["aud"], app["appId"]);
    // The old URI is free for another application.
    create_app(&ts, &tok, json!({ "displayName": "Reuse", "identifierUris": [uri] })).await;
}

#[tokio::test]
async fn apps_password_credential_lifetimes() {
    let (ts, tok) = setup().await;
    let app = create_app(&ts, &tok, json!({ "displayName": "Short lived" })).await;
    create_sp(&ts, &tok, app["appId"].as_str().unwrap()).await;
    let app_id = app["appId"].as_str().unwrap();
    let now = Clock::now(ts.clock.as_ref());
    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = ts
        .graph(
            "POST",
            &format!("/applications(appId='{app_id}')/addPassword"),
            &tok,
            Some(json!({ "passwordCredential": { "endDateTime": rfc(now + time::Duration::hours(1)) } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let secret = r.json["secretText"].as_str().unwrap().to_string();
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store, no-cache"));
    assert_eq!(ts.token_for(&ts.t.tenant_id, app_id, &secret, GRAPH_SCOPE).await.status, StatusCode::OK);
    ts.clock.advance(time::Duration::hours(2));
    let r = ts.token_for(&ts.t.tenant_id, app_id, &secret, GRAPH_SCOPE).await;
    assert!(r.json["error_codes"].as_array().unwrap().contains(&json!(7000222)), "{}", r.text);
    let tok = ts.admin_token().await;
    let bad = json!({ "passwordCredential": { "startDateTime": "2030-01-02T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z" } });
    assert_bad(&ts.graph("POST", &format!("/applications/{}/addPassword", id(&app)), &tok, Some(bad)).await);
    let bad = json!({ "passwordCredential": { "endDateTime": "tomorrow" } });
    assert_bad(&ts.graph("POST", &format!("/applications/{}/addPassword", id(&app)), &tok, Some(bad)).await);
    assert_bad(
        &ts.graph(
            "POST",
            "/applications",
            &tok,
            Some(json!({ "displayName": "x", "passwordCredentials": [{ "displayName": "nope" }] })),
        )
        .await,
    );
}

#[tokio::test]
async fn sps_disabling_blocks_tokens() {
    let (ts, tok) = setup().await;
    let (app, sp, secret) = client_app(&ts, &tok, "Switch").await;
    let app_id = app["appId"].as_str().unwrap();
    let r = ts
        .graph("PATCH", &format!("/servicePrincipals/{}", id(&sp)), &tok, Some(json!({ "accountEnabled": false })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.token_for(&ts.t.tenant_id, app_id, &secret, GRAPH_SCOPE).await;
    assert!(r.json["error_codes"].as_array().unwrap().contains(&json!(7000112)), "{}", r.text);
    let r = ts
        .graph("PATCH", &format!("/servicePrincipals/{}", id(&sp)), &tok, Some(json!({ "accountEnabled": true })))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    token_ok(&ts, &ts.t.tenant_id, app_id, &secret, GRAPH_SCOPE).await;
}

#[tokio::test]
async fn sps_protected_principals() {
    let (ts, tok) = setup().await;
    // The caller's own service principal cannot delete itself.
    let own = ts.graph("GET", &format!("/servicePrincipals(appId='{}')", ts.t.client_id), &tok, None).await;
    assert_bad(&ts.graph("DELETE", &format!("/servicePrincipals/{}", id(&own.json)), &tok, None).await);
    // Microsoft Graph's service principal cannot be changed.
    let graph_sp = ts.graph("GET", &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"), &tok, None).await;
    let r = ts
        .graph(
            "PATCH",
            &format!("/servicePrincipals/{}", id(&graph_sp.json)),
            &tok,
            Some(json!({ "accountEnabled": false })),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
    assert_eq!(
        ts.graph("GET", &format!("/servicePrincipals/{}", id(&graph_sp.json)), &tok, None).await.json["accountEnabled"],
        true
    );
    token_ok(&ts, &ts.t.tenant_id, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
}

#[tokio::test]
async fn assignments_to_groups_and_cleanup_on_delete() {
    let (ts, tok) = setup().await;
    let (rapp, rsp, _) = resource_app(&ts, &tok).await;
    let (_, csp, _) = client_app(&ts, &tok, "Client").await;
    let rid = id(&rsp);
    let uid = id(&create_user(&ts, &tok, "zed").await);
    let gid = id(&create_group(&ts, &tok, "Readers").await);
    let r = ts
        .graph(
            "POST",
            &format!("/groups/{gid}/appRoleAssignments"),
            &tok,
            Some(json!({ "principalId": gid, "resourceId": rid, "appRoleId": ROLE_USER })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["principalType"], "Group");
    let group_assignment = r.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph(
            "POST",
            &format!("/users/{uid}/appRoleAssignments"),
            &tok,
            Some(json!({ "principalId": uid, "resourceId": rid, "appRoleId": ROLE_USER })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let client_assignment = assign(&ts, &tok, &rid, &id(&csp), ROLE_APP).await.json["id"].as_str().unwrap().to_string();
    // Deleting the user removes its assignment only.
    assert_eq!(ts.graph("DELETE", &format!("/users/{uid}"), &tok, None).await.status, StatusCode::NO_CONTENT);
    let left = ids(&ts.graph("GET", &format!("/servicePrincipals/{rid}/appRoleAssignedTo"), &tok, None).await);
    assert_eq!(left, HashSet::from([group_assignment, client_assignment]));
    // Deleting the resource application (and so its SP) removes the assignments granted on it.
    assert_eq!(
        ts.graph("DELETE", &format!("/applications/{}", id(&rapp)), &tok, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        values(&ts.graph("GET", &format!("/servicePrincipals/{}/appRoleAssignments", id(&csp)), &tok, None).await)
            .is_empty()
    );
    assert!(values(&ts.graph("GET", &format!("/groups/{gid}/appRoleAssignments"), &tok, None).await).is_empty());
}

#[tokio::test]
async fn tenants_cannot_assign_roles_across_tenants() {
    let (ts, tok_a) = setup().await;
    let b = ts.create_tenant("Fabrikam").await;
    let tok_b = ts.graph_token(&b).await;
    let (_, rsp_a, _) = resource_app(&ts, &tok_a).await;
    let (_, csp_b, _) = client_app(&ts, &tok_b, "B client").await;
    let r = assign(&ts, &tok_b, &id(&rsp_a), &id(&csp_b), ROLE_APP).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    let r = assign(&ts, &tok_a, &id(&rsp_a), &id(&csp_b), ROLE_APP).await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{}", r.text);
    let r = ts.graph("GET", &format!("/servicePrincipals/{}/appRoleAssignedTo", id(&rsp_a)), &tok_b, None).await;
    assert_err(&r, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    assert!(
        values(&ts.graph("GET", &format!("/servicePrincipals/{}/appRoleAssignedTo", id(&rsp_a)), &tok_a, None).await)
            .is_empty()
    );
}

#[tokio::test]
async fn patch_with_null_on_a_non_nullable_property_is_400() {
    let (ts, tok) = setup().await;
    let u = create_user(&ts, &tok, "nully").await;
    for body in [json!({"displayName": null}), json!({"accountEnabled": null}), json!({"userPrincipalName": null})] {
        let r = ts.graph("PATCH", &format!("/users/{}", id(&u)), &tok, Some(body.clone())).await;
        assert_bad(&r);
        assert!(r.json["error"]["message"].as_str().unwrap().contains("not nullable"), "{}", r.text);
    }
    // Nullable properties may still be cleared.
    let r = ts.graph("PATCH", &format!("/users/{}", id(&u)), &tok, Some(json!({"jobTitle": null}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = create_group(&ts, &tok, "nullg").await;
    let r = ts.graph("PATCH", &format!("/groups/{}", id(&g)), &tok, Some(json!({"securityEnabled": null}))).await;
    assert_bad(&r);
}

#[tokio::test]
async fn members_count_segments() {
    let (ts, tok) = setup().await;
    let g1 = create_group(&ts, &tok, "count-outer").await;
    let g2 = create_group(&ts, &tok, "count-inner").await;
    let a = create_user(&ts, &tok, "count-a").await;
    let b = create_user(&ts, &tok, "count-b").await;
    for (g, m) in [(&g1, &g2), (&g1, &a), (&g2, &b)] {
        assert_eq!(add_member(&ts, &tok, &id(g), &id(m)).await.status, StatusCode::NO_CONTENT);
    }
    let ev = [("consistencylevel", "eventual")];
    let count = |path: String| {
        let ts = &ts;
        let tok = tok.clone();
        async move {
            let r = ts.graph_with("GET", &path, &tok, None, &ev).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
            assert_eq!(r.headers.get("content-type").unwrap(), "text/plain");
            r.text.parse::<u64>().unwrap()
        }
    };
    assert_eq!(count(format!("/groups/{}/members/$count", id(&g1))).await, 2);
    assert_eq!(count(format!("/groups/{}/transitiveMembers/$count", id(&g1))).await, 3);
    assert_eq!(count(format!("/groups/{}/transitiveMembers/microsoft.graph.user/$count", id(&g1))).await, 2);
    assert_eq!(count(format!("/users/{}/transitiveMemberOf/$count", id(&b))).await, 2);
    let r = ts.graph("GET", &format!("/groups/{}/members/$count", id(&g1)), &tok, None).await;
    assert_bad(&r);
}
