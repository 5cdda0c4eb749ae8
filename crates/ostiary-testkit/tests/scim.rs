//! The inbound SCIM 2.0 server end to end in-process: discovery, authentication and tenant
//! isolation, Entra's provisioning request shapes (entra-compat §8) and the Microsoft reference
//! server's quirks, filters, paging and sorting, ETags, Bulk with bulkId references, uniqueness,
//! Graph ↔ SCIM consistency, the audit trail, and hostile input (never a 5xx).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ostiary_testkit::{Resp, TestServer};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

struct Scim {
    ts: TestServer,
    token: String,
}

impl Scim {
    async fn new() -> Scim {
        let ts = TestServer::new().await;
        let token = ts.admin_token().await;
        Scim { ts, token }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Resp {
        self.call_as(&self.token, &self.ts.t.tenant_id, method, path, body, headers).await
    }

    async fn call_as(
        &self,
        token: &str,
        tenant: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(format!("/scim/v2/{tenant}{path}"));
        if !token.is_empty() {
            b = b.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b.header("content-type", "application/scim+json").body(Body::from(v.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.ts.request(req).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, &[]).await
    }

    async fn graph(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.ts.graph(method, path, &self.token, body).await
    }

    /// Entra's POST /Users body (entra-compat §8).
    async fn create_entra_user(&self, user_name: &str, external_id: &str) -> Value {
        let r = self
            .call(
                "POST",
                "/Users",
                Some(json!({
                    "schemas": [USER, ENTERPRISE],
                    "externalId": external_id,
                    "userName": user_name,
                    "active": true,
                    "emails": [{"primary": true, "type": "work", "value": format!("{external_id}@testuser.com")}],
                    "meta": {"resourceType": "User"},
                    "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                    "roles": []
                })),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json
    }
}

fn assert_scim_error(r: &Resp, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["schemas"], json!([ERROR]), "{}", r.text);
    assert_eq!(r.json["status"], status.as_u16().to_string(), "{}", r.text);
    if let Some(t) = scim_type {
        assert_eq!(r.json["scimType"], t, "{}", r.text);
    }
    assert!(r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/scim+json"));
}

#[tokio::test]
async fn discovery_endpoints() {
    let s = Scim::new().await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/scim+json"));
    assert_eq!(r.json["patch"]["supported"], true);
    assert_eq!(r.json["bulk"]["supported"], true);
    assert_eq!(r.json["filter"]["supported"], true);
    assert_eq!(r.json["etag"]["supported"], true);
    let r = s.get("/Schemas").await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<&str> = r.json["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&USER) && ids.contains(&ENTERPRISE) && ids.contains(&GROUP), "{ids:?}");
    let r = s.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "userName"));
    let r = s.get("/ResourceTypes").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["totalResults"], 2);
    let r = s.get("/ResourceTypes/User").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["endpoint"], "/Users");
    for (m, p) in
        [("POST", "/ServiceProviderConfig"), ("PUT", "/Schemas"), ("DELETE", "/ResourceTypes"), ("PATCH", "/Schemas")]
    {
        let r = s.call(m, p, Some(json!({})), &[]).await;
        assert_scim_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    }
    assert_scim_error(&s.get("/Schemas/urn:nope").await, StatusCode::NOT_FOUND, None);
    assert_scim_error(&s.get("/Nope").await, StatusCode::NOT_FOUND, None);
    assert_scim_error(&s.get(&format!("/Users/{}", uuid::Uuid::new_v4())).await, StatusCode::NOT_FOUND, None);
    assert_scim_error(&s.get("/Users/not-a-guid").await, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn authentication_permissions_and_tenant_isolation() {
    let s = Scim::new().await;
    // No token.
    let r = s.call_as("", &s.ts.t.tenant_id, "GET", "/Users", None, &[]).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
    assert!(r.headers.get("www-authenticate").is_some());
    // A garbage token.
    let r = s.call_as("abc.def.ghi", &s.ts.t.tenant_id, "GET", "/Users", None, &[]).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
    // Another tenant's token on this tenant's URL.
    let other = s.ts.create_tenant("Fabrikam").await;
    let other_token = s.ts.graph_token(&other).await;
    s.create_entra_user("alice@example.com", "a1").await;
    let r = s.call_as(&other_token, &s.ts.t.tenant_id, "GET", "/Users", None, &[]).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
    // ... and on its own URL it sees only its own users.
    let r =
        s.call_as(&other_token, &other.tenant_id, "GET", "/Users?filter=externalId%20eq%20%22a1%22", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["totalResults"], 0);
    // An application without directory or provisioning permissions.
    let app = s.graph("POST", "/applications", Some(json!({"displayName": "No rights"}))).await;
    assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
    let app_id = app.json["appId"].as_str().unwrap().to_string();
    let sp = s.graph("POST", "/servicePrincipals", Some(json!({"appId": app_id}))).await;
    assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.text);
    let pw = s
        .graph("POST", &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()), Some(json!({})))
        .await;
    let secret = pw.json["secretText"].as_str().unwrap().to_string();
    let t = s.ts.token_for(&s.ts.t.tenant_id, &app_id, &secret, "https://graph.microsoft.com/.default").await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let weak = t.json["access_token"].as_str().unwrap().to_string();
    let r = s.call_as(&weak, &s.ts.t.tenant_id, "GET", "/Users", None, &[]).await;
    assert_scim_error(&r, StatusCode::FORBIDDEN, None);
    let r = s
        .call_as(&weak, &s.ts.t.tenant_id, "POST", "/Users", Some(json!({"schemas": [USER], "userName": "x"})), &[])
        .await;
    assert_scim_error(&r, StatusCode::FORBIDDEN, None);
}

#[tokio::test]
async fn entra_user_lifecycle() {
    let s = Scim::new().await;
    let created = s.create_entra_user("Test_User_dfeef4c5", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef").await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["userName"], "Test_User_dfeef4c5");
    assert_eq!(created["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created["meta"]["version"].as_str().unwrap().starts_with("W/\""));
    assert!(created["meta"]["location"].as_str().unwrap().ends_with(&format!("/Users/{id}")));
    assert!(created.get("password").is_none());

    // The same user through Graph.
    let g = s.graph("GET", &format!("/users/{id}"), None).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    let domain = s.ts.t.domain.clone();
    assert_eq!(g.json["userPrincipalName"], format!("Test_User_dfeef4c5@{domain}"));
    assert_eq!(g.json["givenName"], "givenName");
    assert_eq!(g.json["surname"], "familyName");
    assert_eq!(g.json["displayName"], "givenName familyName");
    assert_eq!(g.json["mail"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef@testuser.com");
    assert_eq!(g.json["accountEnabled"], true);
    assert!(g.json.get("ostiaryScim").is_none(), "internal document leaked: {}", g.text);

    // Entra's lookups: userName, externalId, and a miss (200 with an empty list, never 404).
    let r = s.get("/Users?filter=userName%20eq%20%22Test_User_dfeef4c5%22").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["schemas"], json!([LIST]));
    assert_eq!(r.json["totalResults"], 1);
    assert_eq!(r.json["Resources"][0]["id"], id.as_str());
    let r = s.get("/Users?filter=userName+eq+%22test_user_DFEEF4C5%22").await;
    assert_eq!(r.json["totalResults"], 1, "userName is case-insensitive: {}", r.text);
    let r = s.get("/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22").await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    let r = s.get("/Users?filter=userName%20eq%20%22nobody-here%22").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["totalResults"], 0);
    assert_eq!(r.json["Resources"], json!([]));
    let r = s
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%40testuser.com%22")
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);

    // PATCH: the email by value path and the family name (one op each, capitalised op).
    let r = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(r.json["name"]["familyName"], "updatedFamilyName");
    let g = s.graph("GET", &format!("/users/{id}"), None).await;
    assert_eq!(g.json["mail"], "updatedEmail@microsoft.com");
    assert_eq!(g.json["surname"], "updatedFamilyName");

    // Disable with the boolean as a string (Entra's default mode).
    let r = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}], "schemas": [PATCH_OP]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["active"], false);
    let g = s.graph("GET", &format!("/users/{id}"), None).await;
    assert_eq!(g.json["accountEnabled"], false);
    // A soft-deleted user is still returned.
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["active"], false);

    // Path-less replace with dotted keys and the enterprise URN (flagged mode), single-valued Add.
    let r = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "value": {
                    "active": true,
                    "name.givenName": "Barbara",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984"}},
                {"op": "Add", "path": "nickName", "value": "Babs"}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["name"]["givenName"], "Barbara");
    assert_eq!(r.json["nickName"], "Babs");
    assert_eq!(r.json[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(r.json["active"], true);
    let g = s.graph("GET", &format!("/users/{id}"), None).await;
    assert_eq!(g.json["givenName"], "Barbara");
    assert_eq!(g.json["employeeId"], "701984");
    assert_eq!(g.json["accountEnabled"], true);

    // Graph edits show through SCIM.
    let r = s.graph("PATCH", &format!("/users/{id}"), Some(json!({"jobTitle": "Pilot", "surname": "Jensen"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.json["title"], "Pilot");
    assert_eq!(r.json["name"]["familyName"], "Jensen");
    assert_eq!(r.json["nickName"], "Babs");

    // Delete, then 404 as a SCIM error.
    let r = s.call("DELETE", &format!("/Users/{id}"), None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_scim_error(&s.get(&format!("/Users/{id}")).await, StatusCode::NOT_FOUND, None);
    let g = s.graph("GET", &format!("/users/{id}"), None).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn validation_and_uniqueness() {
    let s = Scim::new().await;
    s.create_entra_user("dup@example.com", "d1").await;
    let r = s.call("POST", "/Users", Some(json!({"schemas": [USER], "userName": "DUP@example.com"})), &[]).await;
    assert_scim_error(&r, StatusCode::CONFLICT, Some("uniqueness"));
    let r = s.call("POST", "/Users", Some(json!({"schemas": [USER]})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    let r = s.call("POST", "/Users", Some(json!({"userName": "x"})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    let r = s.call("POST", "/Users", Some(json!({"schemas": [USER], "userName": "y", "active": 7})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    let r = s.call("POST", "/Groups", Some(json!({"schemas": [GROUP]})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    let r = s.call("GET", "/Users?filter=userName%20eq", None, &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    let r = s.call("GET", "/Users?filter=ims.value%20eq%20%22x%22", None, &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    let id = s.create_entra_user("imm@example.com", "i1").await["id"].as_str().unwrap().to_string();
    let r = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]})),
            &[],
        )
        .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("mutability"));
    let r = s.call("PATCH", &format!("/Users/{id}"), Some(json!({"schemas": [PATCH_OP], "Operations": []})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    // A password is checked against the tenant's policy and never returned.
    let r =
        s.call("POST", "/Users", Some(json!({"schemas": [USER], "userName": "pw1", "password": "short"})), &[]).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    let r = s
        .call(
            "POST",
            "/Users",
            Some(json!({"schemas": [USER], "userName": "pw2", "password": "Correct-Horse-42!"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.json.get("password").is_none());
    assert!(!r.text.contains("Correct-Horse"));
}

#[tokio::test]
async fn entra_group_lifecycle_and_members() {
    let s = Scim::new().await;
    let u1 = s.create_entra_user("m1@example.com", "m1").await["id"].as_str().unwrap().to_string();
    let u2 = s.create_entra_user("m2@example.com", "m2").await["id"].as_str().unwrap().to_string();
    let r = s
        .call(
            "POST",
            "/Groups",
            Some(
                json!({"schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
                        "meta": {"resourceType": "Group"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let gid = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["members"], json!([]));
    assert_eq!(r.json["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    let r = s.get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22displayName%22").await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    assert!(r.json["Resources"][0].get("members").is_none());
    // Add members (Entra's value array; the $ref is null).
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let members = s.graph("GET", &format!("/groups/{gid}/members"), None).await;
    assert_eq!(members.json["value"].as_array().unwrap().len(), 2, "{}", members.text);
    let r = s.get(&format!("/Groups/{gid}")).await;
    let vals: Vec<&str> = r.json["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert!(vals.contains(&u1.as_str()) && vals.contains(&u2.as_str()));
    assert_eq!(r.json["members"][0]["type"], "User");
    let r = s.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert!(r.json.get("members").is_none());
    // Adding an existing member again is a no-op.
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": [{"value": u1}]}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Remove with a value array (Entra's default mode) ...
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u1}]}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let members = s.graph("GET", &format!("/groups/{gid}/members"), None).await;
    assert_eq!(members.json["value"].as_array().unwrap().len(), 1);
    // ... and the RFC form.
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let members = s.graph("GET", &format!("/groups/{gid}/members"), None).await;
    assert_eq!(members.json["value"], json!([]));
    // Unknown members are refused.
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": [{"value": uuid::Uuid::new_v4().to_string()}]}]})),
            &[],
        )
        .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    // Rename.
    let r = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "Renamed"}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let g = s.graph("GET", &format!("/groups/{gid}"), None).await;
    assert_eq!(g.json["displayName"], "Renamed");
    // PUT replaces members.
    let r = s
        .call(
            "PUT",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [GROUP], "displayName": "Renamed", "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                        "members": [{"value": u2}]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["members"].as_array().unwrap().len(), 1);
    let r = s.call("DELETE", &format!("/Groups/{gid}"), None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_scim_error(&s.get(&format!("/Groups/{gid}")).await, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn etags_guard_concurrent_writers() {
    let s = Scim::new().await;
    let created = s.create_entra_user("etag@example.com", "e1").await;
    let id = created["id"].as_str().unwrap();
    let r = s.get(&format!("/Users/{id}")).await;
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(created["meta"]["version"], etag.as_str());
    let r = s.call("GET", &format!("/Users/{id}"), None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "A"}]});
    let r = s.call("PATCH", &format!("/Users/{id}"), Some(patch.clone()), &[("if-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new_etag = r.headers["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    // The old version no longer matches.
    let r = s.call("PATCH", &format!("/Users/{id}"), Some(patch.clone()), &[("if-match", &etag)]).await;
    assert_scim_error(&r, StatusCode::PRECONDITION_FAILED, None);
    let r = s.call("DELETE", &format!("/Users/{id}"), None, &[("if-match", &etag)]).await;
    assert_scim_error(&r, StatusCode::PRECONDITION_FAILED, None);
    let r = s.call("GET", &format!("/Users/{id}"), None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s.call("DELETE", &format!("/Users/{id}"), None, &[("if-match", &new_etag)]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn bulk_with_references_and_fail_on_errors() {
    let s = Scim::new().await;
    let r = s
        .call(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": [GROUP], "displayName": "Tour Guides", "members": [{"type": "User", "value": "bulkId:u1"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": {"schemas": [USER], "userName": "alice@example.com"}},
                    {"method": "PATCH", "path": "/Users/bulkId:u1",
                     "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Guide"}]}}
                ]
            })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ops = r.json["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "{}", r.text);
    for op in ops {
        let st = op["status"].as_str().unwrap();
        assert!(st == "201" || st == "200", "{}", r.text);
    }
    let g = s.get("/Groups?filter=displayName%20eq%20%22Tour%20Guides%22").await;
    assert_eq!(g.json["totalResults"], 1);
    let members = g.json["Resources"][0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{}", g.text);
    let u = s.get("/Users?filter=userName%20eq%20%22alice%40example.com%22").await;
    assert_eq!(members[0]["value"], u.json["Resources"][0]["id"]);
    assert_eq!(u.json["Resources"][0]["title"], "Guide");

    // failOnErrors = 1: the first failure stops the rest.
    let r = s
        .call(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "alice@example.com"}},
                    {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER], "userName": "bob@example.com"}}
                ]
            })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ops = r.json["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{}", r.text);
    assert_eq!(ops[0]["status"], "409");
    let u = s.get("/Users?filter=userName%20eq%20%22bob%40example.com%22").await;
    assert_eq!(u.json["totalResults"], 0);

    // Plain creates are committed as one transaction; a duplicate inside the run falls back
    // to one transaction per user, so each operation still gets its own answer.
    let ops: Vec<Value> = ["c1@example.com", "c2@example.com", "C1@example.com", "c3@example.com"]
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"schemas": [USER], "userName": n}}))
        .collect();
    let r = s
        .call(
            "POST",
            "/Bulk",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let st: Vec<&str> =
        r.json["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(st, ["201", "201", "409", "201"], "{}", r.text);
    for n in ["c1", "c2", "c3"] {
        let u = s.get(&format!("/Users?filter=userName%20eq%20%22{n}%40example.com%22")).await;
        assert_eq!(u.json["totalResults"], 1, "{n}");
    }
    let ok = ops_ok(&r.json);
    assert_eq!(ok, 3);
}

fn ops_ok(v: &Value) -> usize {
    v["Operations"].as_array().unwrap().iter().filter(|o| o["status"] == "201" && o["location"].is_string()).count()
}

#[tokio::test]
async fn paging_sorting_and_projection() {
    let s = Scim::new().await;
    for i in 0..25 {
        s.create_entra_user(&format!("user{i:02}@example.com"), &format!("x{i:02}")).await;
    }
    let r = s.get("/Users?filter=userName%20sw%20%22user%22&startIndex=1&count=10&sortBy=userName").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["totalResults"], 25);
    assert_eq!(r.json["itemsPerPage"], 10);
    assert_eq!(r.json["startIndex"], 1);
    assert_eq!(r.json["Resources"][0]["userName"], "user00@example.com");
    let r = s.get("/Users?filter=userName%20sw%20%22user%22&startIndex=21&count=10&sortBy=userName").await;
    assert_eq!(r.json["Resources"].as_array().unwrap().len(), 5);
    assert_eq!(r.json["Resources"][4]["userName"], "user24@example.com");
    let r = s.get("/Users?filter=externalId%20pr&sortBy=externalId&sortOrder=descending&count=1").await;
    assert_eq!(r.json["Resources"][0]["externalId"], "x24", "{}", r.text);
    let r = s.get("/Users?count=0").await;
    assert!(r.json["totalResults"].as_u64().unwrap() >= 25);
    assert_eq!(r.json["Resources"].as_array().map(Vec::len).unwrap_or(0), 0);
    let r = s.get("/Users?attributes=userName,emails&count=2").await;
    let first = &r.json["Resources"][0];
    assert!(first.get("userName").is_some() && first.get("id").is_some(), "{}", r.text);
    assert!(first.get("name").is_none(), "{}", r.text);
    let r = s.get("/Users?excludedAttributes=emails,name&count=2").await;
    assert!(r.json["Resources"][0].get("emails").is_none());
    assert!(r.json["Resources"][0].get("userName").is_some());
    // The reference server's quirks: mixed-case attribute names and unquoted values.
    let r = s.get("/Users?filter=name.FamilyName%20eq%20familyName%20and%20(emails.Value%20co%20x03%20or%20emails.Value%20co%20x04)").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["totalResults"], 2, "{}", r.text);
    let r = s.get("/Users?filter=meta.Created%20gt%202015-10-10T14:38:21.8617979-07:00").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["totalResults"].as_u64().unwrap() >= 25);
    // POST /.search
    let r = s
        .call(
            "POST",
            "/Users/.search",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": "externalId eq \"x07\"", "attributes": ["userName"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["totalResults"], 1);
    assert_eq!(r.json["Resources"][0]["userName"], "user07@example.com");
}

#[tokio::test]
async fn graph_users_appear_in_scim_and_changes_are_audited() {
    let s = Scim::new().await;
    let domain = s.ts.t.domain.clone();
    let r = s
        .graph(
            "POST",
            "/users",
            Some(json!({"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "adele",
                        "userPrincipalName": format!("adele@{domain}"), "department": "Sales",
                        "passwordProfile": {"password": "Correct-Horse-42!", "forceChangePasswordNextSignIn": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = s.get(&format!("/Users?filter=userName%20eq%20%22adele%40{domain}%22")).await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    let u = &r.json["Resources"][0];
    assert_eq!(u["displayName"], "Adele Vance");
    assert_eq!(u["active"], true, "{}", r.text);
    assert_eq!(u[ENTERPRISE]["department"], "Sales");
    assert_eq!(u["schemas"], json!([USER, ENTERPRISE]));

    // SCIM writes are on record, initiated by the SCIM client, logged by provisioning.
    let id = s.create_entra_user("audited@example.com", "au1").await["id"].as_str().unwrap().to_string();
    let a = s.graph("GET", "/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Add%20user'", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let rec = a.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["targetResources"][0]["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no audit record: {}", a.text))
        .clone();
    assert_eq!(rec["loggedByService"], "Account Provisioning");
    assert_eq!(rec["initiatedBy"]["app"]["appId"], s.ts.t.client_id.as_str());
}

/// Deterministic pseudo-random input (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[tokio::test]
async fn hostile_requests_never_fail_the_server() {
    let s = Scim::new().await;
    let id = s.create_entra_user("target@example.com", "t1").await["id"].as_str().unwrap().to_string();
    let gid = s.call("POST", "/Groups", Some(json!({"schemas": [GROUP], "displayName": "G"})), &[]).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rng = Rng(0x5eed_cafe_f00d_u64);
    let filters = [
        "userName eq",
        "((((((((((((((((((((((((((((((((((((a eq 1",
        "emails[type eq \"work\"",
        "not (",
        "x pr and",
        "userName eq \"\\u0000\"",
        "meta.created gt \"yesterday\"",
        "id eq 42",
        "active eq \"maybe\"",
        "userName co \"%_\\\\\"",
        "a.b.c.d eq 1",
        "urn:x:y eq 1",
        "emails[value eq \"x\"].type eq \"work\"",
        "userName sw \"\"",
        "",
        "title gt true",
        "displayName eq null",
        "members[value eq \"x\"]",
    ];
    let attrs = ["", "userName,", ",,,", "emails[type eq \"work\"]", "urn:", "name.", "a..b", "members"];
    let paths = [
        "",
        "name",
        "emails[",
        "emails[type eq \"work\"].value",
        "members[value eq \"x\"]",
        "meta.version",
        "id",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "x.y.z",
        "groups",
        "active",
    ];
    let values = [
        json!(null),
        json!("False"),
        json!(7),
        json!([]),
        json!({}),
        json!([{"value": "x"}]),
        json!({"a.b": 1}),
        json!("x".repeat(5000)),
        json!([{"value": null}]),
        json!(true),
    ];
    for i in 0..300 {
        let f = rng.pick(&filters);
        let a = rng.pick(&attrs);
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let target = if i % 2 == 0 { format!("/Users/{id}") } else { format!("/Groups/{gid}") };
        let r = match i % 5 {
            0 => {
                s.get(&format!(
                    "/Users?filter={}&attributes={}&startIndex={}&count={}",
                    enc(f),
                    enc(a),
                    rng.next() as i64 % 5,
                    rng.next() as i64 % 2000 - 100
                ))
                .await
            }
            1 => {
                s.get(&format!(
                    "/Groups?filter={}&excludedAttributes={}&sortBy={}",
                    enc(f),
                    enc(a),
                    enc(rng.pick(&paths))
                ))
                .await
            }
            2 => {
                let op = rng.pick(&["add", "Replace", "REMOVE", "copy", ""]);
                let path = rng.pick(&paths);
                let value = values[(rng.next() % values.len() as u64) as usize].clone();
                let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": path, "value": value}]});
                s.call("PATCH", &target, Some(body), &[]).await
            }
            3 => {
                let value = values[(rng.next() % values.len() as u64) as usize].clone();
                let body = json!({"schemas": [USER, ENTERPRISE], "userName": value.clone(), "emails": value.clone(),
                                  "name": value.clone(), ENTERPRISE: value});
                s.call(rng.pick(&["POST", "PUT"]), if i % 2 == 0 { "/Users" } else { &target }, Some(body), &[]).await
            }
            _ => {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": rng.next() % 3,
                    "Operations": [{"method": rng.pick(&["POST", "PUT", "GET", "PATCH", "DELETE"]), "path": rng.pick(&["/Users", "/Groups/bulkId:x", "/Nope", "", "/Users/../Groups"]),
                                    "bulkId": rng.pick(&["x", "", "bulkId:x"]), "data": values[(rng.next() % values.len() as u64) as usize].clone()}]});
                s.call("POST", "/Bulk", Some(body), &[]).await
            }
        };
        assert!(r.status.as_u16() < 500, "request {i} answered {}: {}", r.status, r.text);
        if !r.status.is_success() && r.status != StatusCode::NOT_MODIFIED {
            assert_eq!(r.json["schemas"], json!([ERROR]), "request {i}: {}", r.text);
        }
    }
    // Bodies that are not JSON objects.
    for raw in ["", "[]", "nul", "{\"schemas\":", "\"x\"", "{\"userName\":\"\\u0000\"}"] {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/scim/v2/{}/Users", s.ts.t.tenant_id))
            .header("authorization", format!("Bearer {}", s.token))
            .header("content-type", "application/scim+json")
            .body(Body::from(raw))
            .unwrap();
        let r = s.ts.request(req).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, None);
    }
    // The target is still intact and readable.
    assert_eq!(s.get(&format!("/Users/{id}")).await.status, StatusCode::OK);
}
