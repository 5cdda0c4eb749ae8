//! Token endpoint, discovery, JWKS and signing-key behaviour, driven over HTTP in-process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_testkit::{GRAPH_SCOPE, TestServer, jwt_claims, jwt_header, verify_with_jwks};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// An API app with one application role, a client app with a secret and an optional
/// certificate, and service principals for both.
struct Fixture {
    api_app_id: String,
    api_sp: String,
    identifier: String,
    role_id: String,
    client_app_object: String,
    client_app_id: String,
    client_sp: String,
    secret: String,
}

async fn fixture(ts: &TestServer, cert: Option<&SigningKey>) -> Fixture {
    let tok = ts.admin_token().await;
    let identifier = format!("api://orders-{}", uuid::Uuid::new_v4().simple());
    let role_id = uuid::Uuid::new_v4().to_string();
    let api = ts
        .graph("POST", "/applications", &tok, Some(json!({
            "displayName": "Orders API",
            "identifierUris": [identifier],
            "appRoles": [{"id": role_id, "value": "Orders.Read.All", "displayName": "Read orders", "description": "d", "allowedMemberTypes": ["Application"], "isEnabled": true}],
        })))
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{}", api.text);
    let api_app_id = api.json["appId"].as_str().unwrap().to_string();
    let api_sp = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": api_app_id}))).await;
    assert_eq!(api_sp.status, StatusCode::CREATED, "{}", api_sp.text);
    let mut body = json!({"displayName": "Orders client"});
    if let Some(k) = cert {
        body["keyCredentials"] = json!([{"type": "AsymmetricX509Cert", "usage": "Verify", "key": ostiary_crypto::b64::std_encode(k.cert_der())}]);
    }
    let client = ts.graph("POST", "/applications", &tok, Some(body)).await;
    assert_eq!(client.status, StatusCode::CREATED, "{}", client.text);
    let client_app_object = client.json["id"].as_str().unwrap().to_string();
    let client_app_id = client.json["appId"].as_str().unwrap().to_string();
    let sp = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": client_app_id}))).await;
    assert_eq!(sp.status, StatusCode::CREATED);
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{client_app_object}/addPassword"),
            &tok,
            Some(json!({"passwordCredential": {"displayName": "ci"}})),
        )
        .await;
    assert_eq!(pw.status, StatusCode::OK, "{}", pw.text);
    Fixture {
        api_app_id,
        api_sp: api_sp.json["id"].as_str().unwrap().to_string(),
        identifier,
        role_id,
        client_app_object,
        client_app_id,
        client_sp: sp.json["id"].as_str().unwrap().to_string(),
        secret: pw.json["secretText"].as_str().unwrap().to_string(),
    }
}

async fn grant(ts: &TestServer, f: &Fixture) {
    let tok = ts.admin_token().await;
    let r = ts
        .graph(
            "POST",
            &format!("/servicePrincipals/{}/appRoleAssignedTo", f.api_sp),
            &tok,
            Some(json!({
                "principalId": f.client_sp, "resourceId": f.api_sp, "appRoleId": f.role_id
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn jwks(ts: &TestServer) -> Value {
    let r = ts.get(&format!("/{}/discovery/v2.0/keys", ts.t.tenant_id)).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json
}

fn assert_oauth_error(r: &ostiary_testkit::Resp, status: StatusCode, error: &str, code: u64) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert_eq!(r.json["error_codes"], json!([code]), "{}", r.text);
    let d = r.json["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: ") && d.contains("\r\nTimestamp: "), "{d}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.json[k].is_string(), "missing {k}");
    }
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store, no-cache");
}

#[tokio::test]
async fn client_credentials_with_secret_issues_entra_v2_app_token() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    grant(&ts, &f).await;
    let r = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &f.secret, &format!("{}/.default", f.identifier)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 3599);
    assert!(r.json.get("refresh_token").is_none() && r.json.get("id_token").is_none());
    let at = r.json["access_token"].as_str().unwrap();
    let c = jwt_claims(at);
    let h = jwt_header(at);
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["kid"], h["x5t"]);
    assert_eq!(c["aud"], f.api_app_id);
    assert_eq!(c["iss"], format!("https://ostiary.test/{}/v2.0", ts.t.tenant_id));
    assert_eq!(c["tid"], ts.t.tenant_id);
    assert_eq!(c["azp"], f.client_app_id);
    assert_eq!(c["azpacr"], "1");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["oid"], f.client_sp);
    assert_eq!(c["sub"], f.client_sp);
    assert_eq!(c["roles"], json!(["Orders.Read.All"]));
    assert!(c["uti"].as_str().unwrap().len() >= 16);
    let (iat, nbf, exp) = (c["iat"].as_i64().unwrap(), c["nbf"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert_eq!(iat, nbf);
    assert_eq!(exp - iat, 3599);
    verify_with_jwks(at, &jwks(&ts).await).unwrap();
    // Two tokens never share a uti.
    let r2 = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &f.secret, &format!("{}/.default", f.identifier)).await;
    assert_ne!(jwt_claims(r2.json["access_token"].as_str().unwrap())["uti"], c["uti"]);
}

#[tokio::test]
async fn token_without_assignment_has_no_roles_and_appid_scope_works() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    let r = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &f.secret, &format!("{}/.default", f.api_app_id)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = jwt_claims(r.json["access_token"].as_str().unwrap());
    assert!(c.get("roles").is_none());
    assert_eq!(c["aud"], f.api_app_id);
}

#[tokio::test]
async fn basic_auth_domain_tenant_and_unknown_params() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    let basic =
        format!("Basic {}", ostiary_crypto::b64::std_encode(format!("{}:{}", f.client_app_id, f.secret).as_bytes()));
    let r = ts
        .post_form(
            &format!("/{}/oauth2/v2.0/token", ts.t.domain.to_uppercase()),
            &[
                ("grant_type", "client_credentials"),
                ("scope", &format!("{}/.default", f.identifier)),
                ("client_info", "1"),
                ("claims", r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
            ],
            &[("authorization", &basic)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = jwt_claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], ts.t.tenant_id, "domain form still yields the tenant GUID");
    assert_eq!(c["iss"], format!("https://ostiary.test/{}/v2.0", ts.t.tenant_id));
}

#[tokio::test]
async fn token_errors_are_entra_shaped() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    let scope = format!("{}/.default", f.identifier);
    let tid = ts.t.tenant_id.clone();

    let r = ts.token_for(&tid, &f.client_app_id, "wrong-secret", &scope).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);

    let r = ts.token_for(&tid, &uuid::Uuid::new_v4().to_string(), &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);
    let r = ts.token_for(&tid, "not-a-guid", &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);

    let r = ts.token_for(&uuid::Uuid::new_v4().to_string(), &f.client_app_id, &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 90002);
    let r = ts.token_for("nosuch.example.test", &f.client_app_id, &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 90002);

    for bad in ["api://x/read", "openid", &format!("{} {}", scope, scope)] {
        let r = ts.token_for(&tid, &f.client_app_id, &f.secret, bad).await;
        assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_scope", 70011);
    }
    let r = ts.token_for(&tid, &f.client_app_id, &f.secret, "api://does-not-exist/.default").await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_resource", 500011);

    let r = ts.token_for("common", &f.client_app_id, &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 9001023);

    let r = ts.post_form(&format!("/{tid}/oauth2/v2.0/token"), &[("client_id", &f.client_app_id)], &[]).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 900144);

    let r = ts
        .post_form(
            &format!("/{tid}/oauth2/v2.0/token"),
            &[("grant_type", "password"), ("client_id", &f.client_app_id)],
            &[],
        )
        .await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003);

    let r = ts
        .post_form(
            &format!("/{tid}/oauth2/v2.0/token"),
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_id", &f.client_app_id),
            ],
            &[],
        )
        .await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 90014);

    // A public-client style request without credentials.
    let r = ts
        .post_form(
            &format!("/{tid}/oauth2/v2.0/token"),
            &[("grant_type", "client_credentials"), ("client_id", &f.client_app_id), ("scope", &scope)],
            &[],
        )
        .await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000218);

    // JSON bodies are not accepted.
    let req = axum::http::Request::post(format!("/{tid}/oauth2/v2.0/token"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let r = ts.request(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "invalid_request");

    // Oversized body.
    let big = "x".repeat(70 * 1024);
    let r = ts.post_form(&format!("/{tid}/oauth2/v2.0/token"), &[("grant_type", &big)], &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn correlation_id_echoes_client_request_id() {
    let ts = TestServer::new().await;
    let cid = "3f0e7a52-5a7e-4a5b-9c1d-2b6f6c7d8e9f";
    let r = ts
        .post_form(
            &format!("/{}/oauth2/v2.0/token", ts.t.tenant_id),
            &[("grant_type", "client_credentials")],
            &[("client-request-id", cid)],
        )
        .await;
    assert_eq!(r.json["correlation_id"], cid);
    assert_eq!(r.headers.get("client-request-id").unwrap(), cid);
    assert!(r.json["error_description"].as_str().unwrap().contains(&format!("Correlation ID: {cid}")));
    assert_ne!(r.json["trace_id"], cid);
}

#[tokio::test]
async fn expired_secret_is_7000222_and_disabled_sp_is_refused() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    let tok = ts.admin_token().await;
    let scope = format!("{}/.default", f.identifier);
    let end = (OffsetDateTime::now_utc() + Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{}/addPassword", f.client_app_object),
            &tok,
            Some(json!({"passwordCredential": {"displayName": "short", "endDateTime": end}})),
        )
        .await;
    assert_eq!(pw.status, StatusCode::OK, "{}", pw.text);
    let short = pw.json["secretText"].as_str().unwrap().to_string();
    assert_eq!(ts.token_for(&ts.t.tenant_id, &f.client_app_id, &short, &scope).await.status, StatusCode::OK);
    ts.clock.advance(Duration::hours(2));
    let r = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &short, &scope).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000222);

    let tok = ts.admin_token().await;
    let r = ts
        .graph("PATCH", &format!("/servicePrincipals/{}", f.client_sp), &tok, Some(json!({"accountEnabled": false})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &f.secret, &scope).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 7000112);
}

fn assertion(key: &SigningKey, header: Value, aud: &str, client_id: &str, exp_offset: i64, jti: &str) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"aud": aud, "iss": client_id, "sub": client_id, "jti": jti, "nbf": now, "iat": now as f64 + 0.25, "exp": (now + exp_offset) as f64 + 0.5});
    key.sign_jwt_with_header(header.to_string().as_bytes(), claims.to_string().as_bytes()).unwrap()
}

async fn assertion_token(ts: &TestServer, f: &Fixture, assertion: &str, with_client_id: bool) -> ostiary_testkit::Resp {
    let scope = format!("{}/.default", f.identifier);
    let mut fields = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
        ("scope", scope.as_str()),
    ];
    if with_client_id {
        fields.push(("client_id", f.client_app_id.as_str()));
    }
    ts.post_form(&format!("/{}/oauth2/v2.0/token", ts.t.tenant_id), &fields, &[]).await
}

#[tokio::test]
async fn private_key_jwt_rs256_x5t_and_ps256_x5t_s256() {
    let ts = TestServer::new().await;
    let now = OffsetDateTime::now_utc();
    let (rsa, pkcs8) =
        SigningKey::generate(Alg::RS256, "client cert", now - Duration::hours(1), now + Duration::days(30)).unwrap();
    // The same RSA key signing with PSS, as MSAL does with a public certificate.
    let pss = SigningKey::from_parts(Alg::PS256, pkcs8.expose(), rsa.cert_der().to_vec()).unwrap();
    let f = fixture(&ts, Some(&rsa)).await;
    grant(&ts, &f).await;
    let aud = format!("https://ostiary.test/{}/oauth2/v2.0/token", ts.t.tenant_id);
    let sha1 = ostiary_crypto::b64::url_encode(&ostiary_crypto::digest::sha1(rsa.cert_der()));
    let sha256 = ostiary_crypto::b64::url_encode(&ostiary_crypto::digest::sha256(rsa.cert_der()));

    // RS256 with x5t (padded thumbprint, empty x5c, as MSAL's thumbprint mode sends).
    let a = assertion(
        &rsa,
        json!({"alg": "RS256", "typ": "JWT", "x5t": format!("{sha1}="), "x5c": []}),
        &aud,
        &f.client_app_id,
        600,
        "jti-1",
    );
    let r = assertion_token(&ts, &f, &a, true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = jwt_claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["azpacr"], "2");
    assert_eq!(c["roles"], json!(["Orders.Read.All"]));

    // Replay of the same jti is refused.
    let r = assertion_token(&ts, &f, &a, true).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);

    // PS256 with x5t#S256 (what MSAL sends with a public certificate), no client_id in the body.
    let a = assertion(
        &pss,
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": sha256}),
        &aud,
        &f.client_app_id,
        600,
        "jti-2",
    );
    let r = assertion_token(&ts, &f, &a, false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Domain-form audience is accepted too.
    let aud_domain = format!("https://ostiary.test/{}/oauth2/v2.0/token", ts.t.domain);
    let a = assertion(&rsa, json!({"alg": "RS256", "x5t": sha1}), &aud_domain, &f.client_app_id, 600, "jti-3");
    assert_eq!(assertion_token(&ts, &f, &a, true).await.status, StatusCode::OK);
}

#[tokio::test]
async fn private_key_jwt_rejections() {
    let ts = TestServer::new().await;
    let now = OffsetDateTime::now_utc();
    let (rsa, _) =
        SigningKey::generate(Alg::RS256, "client cert", now - Duration::hours(1), now + Duration::days(30)).unwrap();
    let f = fixture(&ts, Some(&rsa)).await;
    let aud = format!("https://ostiary.test/{}/oauth2/v2.0/token", ts.t.tenant_id);
    let sha1 = ostiary_crypto::b64::url_encode(&ostiary_crypto::digest::sha1(rsa.cert_der()));
    let hdr = json!({"alg": "RS256", "x5t": sha1});

    // Wrong audience.
    let a = assertion(&rsa, hdr.clone(), "https://elsewhere.test/token", &f.client_app_id, 600, "a1");
    assert_eq!(assertion_token(&ts, &f, &a, true).await.json["error"], "invalid_client");
    // Expired.
    let a = assertion(&rsa, hdr.clone(), &aud, &f.client_app_id, -3600, "a2");
    assert_oauth_error(&assertion_token(&ts, &f, &a, true).await, StatusCode::UNAUTHORIZED, "invalid_client", 700024);
    // Signed by an unregistered key that claims the registered thumbprint.
    let (other, _) =
        SigningKey::generate(Alg::RS256, "other", now - Duration::hours(1), now + Duration::days(1)).unwrap();
    let a = assertion(&other, hdr.clone(), &aud, &f.client_app_id, 600, "a3");
    assert_oauth_error(&assertion_token(&ts, &f, &a, true).await, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    // Unknown thumbprint.
    let a = assertion(
        &rsa,
        json!({"alg": "RS256", "x5t": ostiary_crypto::b64::url_encode(&[7u8; 20])}),
        &aud,
        &f.client_app_id,
        600,
        "a4",
    );
    assert_oauth_error(&assertion_token(&ts, &f, &a, true).await, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    // iss/sub not the client.
    let a = assertion(&rsa, hdr.clone(), &aud, &uuid::Uuid::new_v4().to_string(), 600, "a5");
    assert_eq!(assertion_token(&ts, &f, &a, true).await.json["error"], "invalid_client");
    // alg none and garbage.
    let none = format!(
        "{}.{}.",
        ostiary_crypto::b64::url_encode(br#"{"alg":"none"}"#),
        ostiary_crypto::b64::url_encode(b"{}")
    );
    assert_eq!(assertion_token(&ts, &f, &none, true).await.json["error"], "invalid_client");
    assert_eq!(assertion_token(&ts, &f, "not.a.jwt", true).await.json["error"], "invalid_client");
    // The valid one still works afterwards.
    let a = assertion(&rsa, hdr, &aud, &f.client_app_id, 600, "a6");
    assert_eq!(assertion_token(&ts, &f, &a, true).await.status, StatusCode::OK);
}

#[tokio::test]
async fn discovery_document_and_jwks() {
    let ts = TestServer::new().await;
    let tid = &ts.t.tenant_id;
    for seg in [tid.clone(), ts.t.domain.clone()] {
        let r = ts.get(&format!("/{seg}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(r.status, StatusCode::OK);
        let d = &r.json;
        assert_eq!(d["issuer"], format!("https://ostiary.test/{tid}/v2.0"));
        assert_eq!(d["token_endpoint"], format!("https://ostiary.test/{tid}/oauth2/v2.0/token"));
        assert_eq!(d["jwks_uri"], format!("https://ostiary.test/{tid}/discovery/v2.0/keys"));
        assert!(d["authorization_endpoint"].is_string());
        assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
    }
    let r = ts.get("/common/v2.0/.well-known/openid-configuration").await;
    assert_eq!(r.json["issuer"], "https://ostiary.test/{tenantid}/v2.0");
    let r = ts.get(&format!("/{}/v2.0/.well-known/openid-configuration", uuid::Uuid::new_v4())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error_codes"], json!([90002]));

    let keys = jwks(&ts).await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "one RS256 and one ES256 key");
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert_eq!(k["kid"], k["x5t"]);
        let der = ostiary_crypto::b64::std_decode(k["x5c"][0].as_str().unwrap()).unwrap();
        assert_eq!(k["kid"], ostiary_crypto::b64::url_encode(&ostiary_crypto::digest::sha1(&der)));
    }
    assert!(keys.iter().any(|k| k["kty"] == "RSA" && k["alg"] == "RS256"));
    assert!(keys.iter().any(|k| k["kty"] == "EC" && k["alg"] == "ES256"));
}

#[tokio::test]
async fn es256_resource_gets_es256_tokens() {
    let ts = TestServer::new().await;
    let f = fixture(&ts, None).await;
    let tok = ts.admin_token().await;
    let r = ts
        .graph(
            "PATCH",
            &format!("/applications(appId='{}')", f.api_app_id),
            &tok,
            Some(json!({"api": {"accessTokenSigningAlgorithm": "ES256"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.token_for(&ts.t.tenant_id, &f.client_app_id, &f.secret, &format!("{}/.default", f.identifier)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let at = r.json["access_token"].as_str().unwrap();
    assert_eq!(jwt_header(at)["alg"], "ES256");
    verify_with_jwks(at, &jwks(&ts).await).unwrap();
    let r = ts
        .graph(
            "PATCH",
            &format!("/applications(appId='{}')", f.api_app_id),
            &tok,
            Some(json!({"api": {"accessTokenSigningAlgorithm": "HS256"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn key_rotation_publishes_first_switches_after_overlap_and_keeps_old_keys() {
    let ts = TestServer::new().await;
    let tid: ostiary_model::TenantId = ts.t.tenant_id.parse().unwrap();
    let before = ts.token_for(&ts.t.tenant_id, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
    let old_token = before.json["access_token"].as_str().unwrap().to_string();
    let old_kid = jwt_header(&old_token)["kid"].as_str().unwrap().to_string();

    let new_kids = ts.core.rotate_keys(tid, Duration::hours(1)).await.unwrap();
    assert_eq!(new_kids.len(), 2);
    let keys = jwks(&ts).await;
    let kids: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 4, "old and new keys are both published");
    assert!(new_kids.iter().all(|k| kids.contains(&k.as_str())));

    // During the overlap the old key still signs.
    let during = ts.admin_token().await;
    assert_eq!(jwt_header(&during)["kid"], old_kid);
    ts.clock.advance(Duration::minutes(61));
    let after = ts.admin_token().await;
    let after_kid = jwt_header(&after)["kid"].as_str().unwrap().to_string();
    assert_ne!(after_kid, old_kid);
    assert!(new_kids.contains(&after_kid));
    // Tokens signed by the old key still verify, and still authenticate Graph calls.
    let keys = jwks(&ts).await;
    verify_with_jwks(&during, &keys).unwrap();
    verify_with_jwks(&after, &keys).unwrap();
    assert_eq!(ts.graph("GET", "/users", &during, None).await.status, StatusCode::OK);

    // Once every token the old key signed has expired, it leaves the JWKS.
    ts.clock.advance(Duration::hours(2));
    let keys = jwks(&ts).await;
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["kid"] != old_kid));
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn keys_and_tokens_survive_a_restart() {
    let ts = TestServer::new().await;
    let token = ts.admin_token().await;
    let keys_before = jwks(&ts).await;
    let ts2 = ts.restart().await;
    let keys_after = jwks(&ts2).await;
    assert_eq!(keys_before, keys_after);
    verify_with_jwks(&token, &keys_after).unwrap();
    assert_eq!(ts2.graph("GET", "/users", &token, None).await.status, StatusCode::OK);
    // The private keys are sealed: a server with another KEK refuses to load them.
    let other = TestServer::with_store_and_kek(
        ts.core.store.clone(),
        std::sync::Arc::new(ostiary_crypto::kek::Kek::generate(&ostiary_crypto::rand::SystemRandom::new())),
        ts.clock.clone(),
        Some(ts.t.clone()),
    )
    .await;
    let r = other.token_for(&ts.t.tenant_id, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn tokens_of_one_tenant_do_not_work_in_another() {
    let ts = TestServer::new().await;
    let other = ts.create_tenant("Fabrikam").await;
    // Tenant A's client at tenant B's endpoint.
    let r = ts.token_for(&other.tenant_id, &ts.t.client_id, &ts.t.client_secret, GRAPH_SCOPE).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);
    // Each tenant signs with its own keys.
    let a = ts.admin_token().await;
    let b = ts.graph_token(&other).await;
    assert_ne!(jwt_header(&a)["kid"], jwt_header(&b)["kid"]);
    let jwks_b = ts.get(&format!("/{}/discovery/v2.0/keys", other.tenant_id)).await.json;
    assert!(verify_with_jwks(&a, &jwks_b).is_err());
    // A token whose tid was swapped (re-signing impossible) is refused by Graph.
    let parts: Vec<&str> = a.split('.').collect();
    let mut claims = jwt_claims(&a);
    claims["tid"] = json!(other.tenant_id);
    let forged =
        format!("{}.{}.{}", parts[0], ostiary_crypto::b64::url_encode(claims.to_string().as_bytes()), parts[2]);
    assert_eq!(ts.graph("GET", "/users", &forged, None).await.status, StatusCode::UNAUTHORIZED);
}
