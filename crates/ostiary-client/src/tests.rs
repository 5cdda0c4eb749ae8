//! Unit tests: query building, error parsing, and the client against a tiny in-process HTTP
//! server on loopback (token caching, paging, retries, request shapes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use ostiary_api_types::{Application, UserUpdate};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

#[test]
fn query_strings() {
    assert_eq!(ListQuery::default().to_query_string(), "");
    let q = ListQuery {
        filter: Some("startswith(displayName,'Ada L')".into()),
        top: Some(5),
        select: vec!["id".into(), "displayName".into()],
    };
    assert_eq!(
        q.apply("/users"),
        "/users?$filter=startswith%28displayName%2C%27Ada%20L%27%29&$top=5&$select=id%2CdisplayName"
    );
    assert_eq!(odata_quote("O'Brien"), "'O''Brien'");
    assert_eq!(encode_query_value("a+b&c=d é"), "a%2Bb%26c%3Dd%20%C3%A9");
}

#[test]
fn graph_error_display() {
    let e = ClientError::from_response(
        403,
        br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2025-02-13T10:17:06","request-id":"r","client-request-id":"c"}}}"#,
    );
    assert_eq!(e.to_string(), "403 Authorization_RequestDenied: Insufficient privileges to complete the operation.");
    assert_eq!(e.code(), Some("Authorization_RequestDenied"));
    assert_eq!(e.status(), Some(403));
}

#[test]
fn oauth_and_text_error_display() {
    let e = ClientError::from_response(
        401,
        b"{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\\r\\nTrace ID: t\\r\\nCorrelation ID: c\\r\\nTimestamp: 2024-01-01 00:00:00Z\",\"error_codes\":[7000215]}",
    );
    assert_eq!(e.to_string(), "401 invalid_client: AADSTS7000215: Invalid client secret provided.");
    assert_eq!(e.code(), Some("invalid_client"));
    assert_eq!(e.message(), "AADSTS7000215: Invalid client secret provided.");

    assert_eq!(ClientError::from_response(502, b"bad gateway\n").to_string(), "502 bad gateway");
    assert_eq!(ClientError::from_response(404, b"").to_string(), "404 Not Found");
    let long = "x".repeat(2000);
    assert!(ClientError::from_response(500, long.as_bytes()).to_string().len() < 600);
    assert!(ClientError::not_found("ada@x").is_not_found());
}

#[tokio::test]
async fn config_validation() {
    let cfg = |authority: &str| ClientConfig {
        authority: authority.into(),
        tenant: "contoso.test".into(),
        client_id: "c".into(),
        client_secret: "s".into(),
        ca_pem: None,
    };
    let c = AdminClient::connect(cfg("https://127.0.0.1:8443/")).await.unwrap();
    assert_eq!(c.graph_base(), "https://127.0.0.1:8443/v1.0");
    assert_eq!(c.token_url(), "https://127.0.0.1:8443/contoso.test/oauth2/v2.0/token");
    assert_eq!(c.url("/users/x"), "https://127.0.0.1:8443/v1.0/users/x");
    assert!(!format!("{c:?}").contains("\"s\""));

    assert!(AdminClient::connect(cfg("http://127.0.0.1:8080")).await.is_ok());
    assert!(AdminClient::connect(cfg("http://[::1]:8080")).await.is_ok());
    for bad in ["http://example.com", "ftp://x", "https://h/path", "not a url"] {
        let e = AdminClient::connect(cfg(bad)).await.unwrap_err();
        assert!(matches!(e, ClientError::Config(_)), "{bad}: {e}");
    }
    let mut bad_tenant = cfg("https://h");
    bad_tenant.tenant = "../x".into();
    assert!(AdminClient::connect(bad_tenant).await.is_err());
    let mut bad_ca = cfg("https://h");
    bad_ca.ca_pem = Some("not pem".into());
    assert!(matches!(AdminClient::connect(bad_ca).await.unwrap_err(), ClientError::Config(_)));
}

// ------------------------------------------------------------------ mock server

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    authorization: Option<String>,
    body: String,
}

type Handler = dyn Fn(&Recorded, usize) -> (u16, String) + Send + Sync;

struct Mock {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves HTTP/1.1 on loopback, one request per connection; `handler` gets the request and its
/// index and returns status and JSON body.
async fn mock(handler: impl Fn(&Recorded, usize) -> (u16, String) + Send + Sync + 'static) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let handler: Arc<Handler> = Arc::new(handler);
    let reqs = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let reqs = reqs.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let header_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap().split(' ');
                let method = first.next().unwrap().to_owned();
                let target = first.next().unwrap().to_owned();
                let mut len = 0usize;
                let mut authorization = None;
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap();
                        }
                        if k.eq_ignore_ascii_case("authorization") {
                            authorization = Some(v.trim().to_owned());
                        }
                    }
                }
                while buf.len() < header_end + len {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[header_end..]).to_string();
                let rec = Recorded { method, target, authorization, body };
                let index = {
                    let mut r = reqs.lock().unwrap();
                    r.push(rec.clone());
                    r.len() - 1
                };
                let (status, body) = handler(&rec, index);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Mock { base, requests }
}

async fn client_for(m: &Mock) -> AdminClient {
    AdminClient::connect(ClientConfig {
        authority: m.base.clone(),
        tenant: "t1".into(),
        client_id: "cid".into(),
        client_secret: "sec ret&".into(),
        ca_pem: None,
    })
    .await
    .unwrap()
}

fn token(expires_in: u64, n: usize) -> (u16, String) {
    (200, json!({"token_type":"Bearer","expires_in":expires_in,"access_token":format!("tok{n}")}).to_string())
}

#[tokio::test]
async fn token_is_cached_and_paging_follows_next_link() {
    // The handler learns the server's own base after binding, to build absolute nextLinks.
    let self_base: Arc<Mutex<String>> = Arc::default();
    let sb = self_base.clone();
    let m = mock(move |r, i| {
        if r.target.ends_with("/oauth2/v2.0/token") {
            return token(3600, i);
        }
        let next = format!("{}/v1.0/users?$skiptoken=2", sb.lock().unwrap());
        match r.target.as_str() {
            "/v1.0/users" => (
                200,
                json!({"value":[{"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","displayName":"A"}],
                       "@odata.nextLink": next})
                .to_string(),
            ),
            "/v1.0/users?$skiptoken=2" => {
                (200, json!({"value":[{"id":"97d349ed-44d7-43e1-9a83-5f2406dee5bd","displayName":"B"}]}).to_string())
            }
            _ => (404, String::new()),
        }
    })
    .await;
    *self_base.lock().unwrap() = m.base.clone();
    let c = client_for(&m).await;
    let users = c.list_users(&ListQuery::default()).await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[1].display_name.as_deref(), Some("B"));
    // Second call reuses the cached token.
    let _ = c.list_users(&ListQuery::default()).await.unwrap();

    let reqs = m.requests();
    let token_reqs: Vec<_> = reqs.iter().filter(|r| r.target.contains("/token")).collect();
    assert_eq!(token_reqs.len(), 1, "{reqs:#?}");
    assert_eq!(token_reqs[0].target, "/t1/oauth2/v2.0/token");
    assert_eq!(token_reqs[0].method, "POST");
    let form = &token_reqs[0].body;
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(form.contains("client_id=cid"), "{form}");
    assert!(form.contains("client_secret=sec+ret%26"), "{form}");
    assert!(form.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"), "{form}");
    for r in reqs.iter().filter(|r| r.target.starts_with("/v1.0")) {
        assert_eq!(r.authorization.as_deref(), Some("Bearer tok0"));
    }
}

#[tokio::test]
async fn next_link_to_other_origin_is_refused() {
    let m = mock(|r, i| {
        if r.target.contains("/token") {
            return token(3600, i);
        }
        (200, json!({"value":[],"@odata.nextLink":"https://evil.example/v1.0/users?$skiptoken=x"}).to_string())
    })
    .await;
    let c = client_for(&m).await;
    let e = c.list_users(&ListQuery::default()).await.unwrap_err();
    assert!(matches!(e, ClientError::Decode(_)), "{e}");
    assert!(e.to_string().contains("outside the server"), "{e}");
}

#[tokio::test]
async fn short_lived_tokens_are_reacquired_and_401_retries_once() {
    let m = mock(|r, i| {
        if r.target.contains("/token") {
            // Lifetime 0: never cached beyond the call.
            return token(0, i);
        }
        if r.authorization.as_deref() == Some("Bearer tok0") {
            return (401, json!({"error":{"code":"InvalidAuthenticationToken","message":"expired"}}).to_string());
        }
        (200, json!({"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"}).to_string())
    })
    .await;
    let c = client_for(&m).await;
    let u = c.get_user("87d349ed-44d7-43e1-9a83-5f2406dee5bd").await.unwrap();
    assert_eq!(u.id.to_string(), "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    let methods: Vec<String> = m.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        methods,
        [
            "/t1/oauth2/v2.0/token",
            "/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "/t1/oauth2/v2.0/token",
            "/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd"
        ]
    );
}

#[tokio::test]
async fn token_errors_and_graph_errors_surface() {
    let m = mock(|r, _| {
        if r.target.contains("/token") {
            return (
                401,
                json!({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}).to_string(),
            );
        }
        (500, String::new())
    })
    .await;
    let c = client_for(&m).await;
    let e = c.fetch_token().await.unwrap_err();
    assert_eq!(e.to_string(), "401 invalid_client: AADSTS7000215: Invalid client secret provided.");
    // A Graph call surfaces the token error too (and is not retried endlessly).
    let e = c.list_groups(&ListQuery::default()).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_client"));
}

#[tokio::test]
async fn request_shapes() {
    let app_id = "65415bb1-9267-4313-bbf5-ae259732ee12";
    let obj = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    let existing_key = "2b4f816e-5eaf-48b9-8613-7923830595ad";
    let m = mock(move |r, i| {
        if r.target.contains("/token") {
            return token(3600, i);
        }
        let app = json!({"id": obj, "appId": app_id, "keyCredentials": [
            {"keyId": existing_key, "type": "AsymmetricX509Cert", "usage": "Verify", "key": null,
             "displayName": "old", "customKeyIdentifier": "AAAA", "startDateTime": null, "endDateTime": null}]});
        match (r.method.as_str(), r.target.as_str()) {
            ("GET", t) if t == format!("/v1.0/applications/{app_id}") => (
                404,
                json!({"error":{"code":"Request_ResourceNotFound","message":"nope"}}).to_string(),
            ),
            ("GET", "/v1.0/applications?$filter=appId%20eq%20%2765415bb1-9267-4313-bbf5-ae259732ee12%27") => {
                (200, json!({"value":[app]}).to_string())
            }
            ("GET", t) if t == format!("/v1.0/applications/{obj}") => (200, app.to_string()),
            ("PATCH", _) | ("DELETE", _) => (204, String::new()),
            ("POST", t) if t.ends_with("/members/$ref") || t.ends_with("/removePassword") => {
                (204, String::new())
            }
            ("POST", t) if t.ends_with("/addPassword") => (
                200,
                json!({"@odata.context": "x/$metadata#microsoft.graph.passwordCredential",
                       "keyId": existing_key, "secretText": "s3cr3t", "hint": "s3c", "displayName": "ci",
                       "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2025-01-01T00:00:00Z",
                       "customKeyIdentifier": null}).to_string(),
            ),
            ("POST", t) if t.ends_with("/appRoleAssignedTo") => (
                201,
                json!({"id":"opaque","appRoleId":"ef7437e6-4f94-4a0a-a110-a439eb2aa8f7",
                       "principalId":"33ad69f9-da99-4bed-acd0-3f24235cb296","resourceId":"9028d19c-26a9-4809-8e3f-20ff73e2d75e",
                       "principalType":"ServicePrincipal"}).to_string(),
            ),
            _ => (400, json!({"error":{"code":"Request_BadRequest","message":r.target}}).to_string()),
        }
    })
    .await;
    let c = client_for(&m).await;
    let app_uuid = Uuid::parse_str(app_id).unwrap();
    let obj_uuid = Uuid::parse_str(obj).unwrap();

    let app: Application = c.find_application(app_uuid).await.unwrap();
    assert_eq!(app.id, obj_uuid);

    let _ = c.add_certificate(obj_uuid, "MIIBcert", Some("new")).await.unwrap();
    let pc = c.add_password(obj_uuid, Some("ci"), Some("2025-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(pc.secret_text.as_deref(), Some("s3cr3t"));
    c.remove_password(obj_uuid, Uuid::parse_str(existing_key).unwrap()).await.unwrap();
    c.add_member(obj_uuid, app_uuid).await.unwrap();
    c.remove_member(obj_uuid, app_uuid).await.unwrap();
    c.update_user(obj_uuid, &UserUpdate { job_title: Some(None), ..UserUpdate::default() }).await.unwrap();
    let a = c
        .grant_app_role(
            Uuid::parse_str("33ad69f9-da99-4bed-acd0-3f24235cb296").unwrap(),
            Uuid::parse_str("9028d19c-26a9-4809-8e3f-20ff73e2d75e").unwrap(),
            Uuid::parse_str("ef7437e6-4f94-4a0a-a110-a439eb2aa8f7").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(a.principal_type.as_deref(), Some("ServicePrincipal"));

    let reqs = m.requests();
    let find = |method: &str, suffix: &str| -> Value {
        let r = reqs
            .iter()
            .find(|r| r.method == method && r.target.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {method} …{suffix}: {reqs:#?}"));
        if r.body.is_empty() { Value::Null } else { serde_json::from_str(&r.body).unwrap() }
    };
    // add_certificate PATCHes the full list: the old entry (by keyId, no key) plus the new one.
    let patch = find("PATCH", &format!("/applications/{obj}"));
    let keys = patch["keyCredentials"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["keyId"], existing_key);
    assert_eq!(keys[0]["key"], Value::Null);
    assert_eq!(keys[1]["key"], "MIIBcert");
    assert_eq!(keys[1]["type"], "AsymmetricX509Cert");
    assert_eq!(keys[1]["usage"], "Verify");
    assert_eq!(keys[1]["displayName"], "new");
    assert_eq!(patch.as_object().unwrap().len(), 1, "only keyCredentials is patched");

    assert_eq!(
        find("POST", "/addPassword"),
        json!({"passwordCredential":{"displayName":"ci","endDateTime":"2025-01-01T00:00:00Z"}})
    );
    assert_eq!(find("POST", "/removePassword"), json!({"keyId": existing_key}));
    assert_eq!(
        find("POST", &format!("/groups/{obj}/members/$ref")),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{app_id}")})
    );
    assert!(
        reqs.iter().any(|r| r.method == "DELETE" && r.target == format!("/v1.0/groups/{obj}/members/{app_id}/$ref"))
    );
    assert_eq!(find("PATCH", &format!("/users/{obj}")), json!({"jobTitle": null}));
    assert_eq!(
        find("POST", "/servicePrincipals/9028d19c-26a9-4809-8e3f-20ff73e2d75e/appRoleAssignedTo"),
        json!({"principalId":"33ad69f9-da99-4bed-acd0-3f24235cb296","resourceId":"9028d19c-26a9-4809-8e3f-20ff73e2d75e","appRoleId":"ef7437e6-4f94-4a0a-a110-a439eb2aa8f7"})
    );
}

#[tokio::test]
async fn get_user_by_upn_uses_filter() {
    let m = mock(|r, i| {
        if r.target.contains("/token") {
            return token(3600, i);
        }
        if r.target == "/v1.0/users?$filter=userPrincipalName%20eq%20%27o%27%27brien%40contoso.test%27" {
            return (200, json!({"value":[{"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]}).to_string());
        }
        (200, json!({"value":[]}).to_string())
    })
    .await;
    let c = client_for(&m).await;
    let u = c.get_user("o'brien@contoso.test").await.unwrap();
    assert_eq!(u.id.to_string(), "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    let e = c.get_user("nobody@contoso.test").await.unwrap_err();
    assert!(e.is_not_found());
    assert!(e.to_string().starts_with("404 Request_ResourceNotFound"), "{e}");
}
