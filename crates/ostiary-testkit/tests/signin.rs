//! User sign-in flows end to end in-process: authorization code with PKCE, sessions and
//! prompts, consent, refresh rotation, device code, OBO, UserInfo, logout — and the security
//! cases: redirect-URI mismatch, PKCE, code replay, refresh reuse, CSRF, session fixation,
//! open redirects, cross-tenant use, smart lockout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_testkit::browser::{Browser, forms};
use ostiary_testkit::{Resp, TestServer, jwt_claims, jwt_header, verify_with_jwks};
use serde_json::{Value, json};

const REDIRECT: &str = "https://app.test/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Setup {
    ts: TestServer,
    admin: String,
    api_app_id: String,
    api_sp: String,
    client_app_id: String,
    client_sp: String,
    client_secret: String,
    public_app_id: String,
    scope: String,
    alice: String,
    password: String,
}

async fn setup() -> Setup {
    let ts = TestServer::new().await;
    let admin = ts.admin_token().await;
    let scope_id = uuid::Uuid::new_v4();
    let api = ts
        .graph("POST", "/applications", &admin, Some(json!({
            "displayName": "Orders API",
            "identifierUris": ["api://orders"],
            "api": {"oauth2PermissionScopes": [{"id": scope_id, "value": "Orders.Read", "type": "User", "isEnabled": true,
                "adminConsentDisplayName": "Read orders", "adminConsentDescription": "Read all orders",
                "userConsentDisplayName": "Read your orders", "userConsentDescription": "Read your orders"}]},
        })))
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{}", api.text);
    let api_app_id = api.json["appId"].as_str().unwrap().to_string();
    let api_sp = ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": api_app_id}))).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = ts
        .graph(
            "POST",
            "/applications",
            &admin,
            Some(json!({
                "displayName": "Orders Web",
                "web": {"redirectUris": [REDIRECT], "logoutUrl": "https://app.test/frontchannel-logout"},
            })),
        )
        .await;
    let client_app_id = client.json["appId"].as_str().unwrap().to_string();
    let client_sp =
        ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": client_app_id}))).await.json["id"]
            .as_str()
            .unwrap()
            .to_string();
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{}/addPassword", client.json["id"].as_str().unwrap()),
            &admin,
            Some(json!({})),
        )
        .await;
    let public = ts
        .graph(
            "POST",
            "/applications",
            &admin,
            Some(json!({
                "displayName": "Orders CLI",
                "publicClient": {"redirectUris": ["http://localhost"]},
                "isFallbackPublicClient": true,
            })),
        )
        .await;
    let public_app_id = public.json["appId"].as_str().unwrap().to_string();
    ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": public_app_id}))).await;
    let password = "Correct-Horse-42!".to_string();
    let alice = format!("alice@{}", ts.t.domain);
    let u = ts
        .graph("POST", "/users", &admin, Some(json!({
            "accountEnabled": true, "displayName": "Alice Example", "mailNickname": "alice", "userPrincipalName": alice,
            "mail": alice, "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false}
        })))
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.text);
    Setup {
        ts,
        admin,
        api_app_id,
        api_sp,
        client_app_id,
        client_sp,
        client_secret: pw.json["secretText"].as_str().unwrap().to_string(),
        public_app_id,
        scope: "api://orders/Orders.Read openid profile email offline_access".into(),
        alice,
        password,
    }
}

fn authorize_url(s: &Setup, client: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", &s.scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/{}/oauth2/v2.0/authorize?{}", s.ts.t.tenant_id, q.finish())
}

/// Submits the page's first form with `overrides`.
async fn submit(b: &mut Browser, ts: &TestServer, page: &Resp, overrides: &[(&str, &str)]) -> Resp {
    let mut form = forms(&page.text).into_iter().next().unwrap_or_else(|| panic!("no form in page: {}", page.text));
    for (k, v) in overrides {
        form.set(k, v);
    }
    b.post(ts, &form.action, &form.fields).await
}

/// Runs a browser through sign-in (and consent when asked) until the redirect to the client.
async fn browser_sign_in(s: &Setup, b: &mut Browser, url: &str, user: &str, password: &str) -> String {
    let r = b.get(&s.ts, url).await;
    let (mut page, mut loc) = b.follow(&s.ts, r, "https://app.test").await;
    for _ in 0..4 {
        if let Some(l) = loc {
            return l;
        }
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let next = if page.text.contains("name=\"password\"") && !page.text.contains("new_password") {
            submit(b, &s.ts, &page, &[("username", user), ("password", password)]).await
        } else if page.text.contains("id=\"accept\"") {
            submit(b, &s.ts, &page, &[("decision", "accept")]).await
        } else {
            panic!("unexpected page: {}", page.text);
        };
        (page, loc) = b.follow(&s.ts, next, "https://app.test").await;
    }
    panic!("did not reach the redirect URI");
}

fn query_of(loc: &str) -> std::collections::HashMap<String, String> {
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.split('#').next().unwrap_or("").as_bytes()).into_owned().collect()
}

async fn redeem(s: &Setup, code: &str, verifier: &str) -> Resp {
    s.ts.post_form(
        &format!("/{}/oauth2/v2.0/token", s.ts.t.tenant_id),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &s.client_app_id),
            ("client_secret", &s.client_secret),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_info", "1"),
        ],
        &[],
    )
    .await
}

async fn refresh(s: &Setup, rt: &str) -> Resp {
    s.ts.post_form(
        &format!("/{}/oauth2/v2.0/token", s.ts.t.tenant_id),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &s.client_app_id),
            ("client_secret", &s.client_secret),
            ("refresh_token", rt),
        ],
        &[],
    )
    .await
}

async fn code_for(s: &Setup, b: &mut Browser) -> String {
    let loc = browser_sign_in(s, b, &authorize_url(s, &s.client_app_id, REDIRECT, &[]), &s.alice, &s.password).await;
    let q = query_of(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
    q.get("code").cloned().unwrap_or_else(|| panic!("no code in {loc}"))
}

#[tokio::test]
async fn authorization_code_flow_issues_entra_shaped_tokens() {
    let s = setup().await;
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let r = redeem(&s, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let tid = &s.ts.t.tenant_id;
    let id = jwt_claims(r.json["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], s.client_app_id);
    assert_eq!(id["iss"], format!("https://ostiary.test/{tid}/v2.0"));
    assert_eq!(id["tid"], *tid);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["preferred_username"], s.alice);
    assert_eq!(id["name"], "Alice Example");
    assert_eq!(id["email"], s.alice);
    assert_eq!(id["ver"], "2.0");
    assert!(id["auth_time"].is_i64());
    assert_ne!(id["sub"], id["oid"], "sub is pairwise");
    let at = jwt_claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], s.api_app_id);
    assert_eq!(at["scp"], "Orders.Read");
    assert_eq!(at["azp"], s.client_app_id);
    assert_eq!(at["azpacr"], "1");
    assert_eq!(at["oid"], id["oid"]);
    assert!(at.get("idtyp").is_none());
    assert_eq!(jwt_header(r.json["id_token"].as_str().unwrap())["alg"], "RS256");
    let jwks = s.ts.get(&format!("/{tid}/discovery/v2.0/keys")).await.json;
    verify_with_jwks(r.json["id_token"].as_str().unwrap(), &jwks).unwrap();
    assert!(r.json["refresh_token"].as_str().unwrap().len() > 40);
    let ci: Value =
        serde_json::from_slice(&ostiary_crypto::b64::url_decode(r.json["client_info"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(ci["uid"], at["oid"]);
    assert_eq!(ci["utid"], *tid);
    assert!(r.json["scope"].as_str().unwrap().contains("api://orders/Orders.Read"));

    // The SSO session signs the user in silently next time, without asking again.
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "none")])).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    assert!(query_of(r.headers["location"].to_str().unwrap()).contains_key("code"));
}

#[tokio::test]
async fn form_post_and_fragment_response_modes() {
    let s = setup().await;
    let mut b = Browser::default();
    code_for(&s, &mut b).await; // session + consent
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("response_mode", "form_post")])).await;
    assert_eq!(r.status, StatusCode::OK);
    let form = forms(&r.text).remove(0);
    assert_eq!(form.action, REDIRECT);
    assert_eq!(form.get("state"), Some("st-123"));
    assert!(form.get("code").is_some_and(|c| !c.is_empty()));
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' https://app.test"), "{csp}");
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("response_mode", "fragment")])).await;
    let loc = r.headers["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&format!("{REDIRECT}#code=")), "{loc}");
}

#[tokio::test]
async fn redirect_uri_mismatch_shows_an_error_page_and_never_redirects() {
    let s = setup().await;
    let mut b = Browser::default();
    for bad in ["https://evil.test/cb", "https://app.test/cb/", "https://app.test/cb?x=1", "https://APP.test/cb"] {
        let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, bad, &[])).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers.get("location").is_none());
        assert!(r.text.contains("AADSTS50011"), "{bad}");
    }
    let r = b.get(&s.ts, &authorize_url(&s, &uuid::Uuid::new_v4().to_string(), REDIRECT, &[])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.headers.get("location").is_none());
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_checked_on_redemption() {
    let s = setup().await;
    let mut b = Browser::default();
    // Loopback redirect with any port for the native client, but no PKCE: refused at /authorize.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &s.public_app_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", "http://localhost:53123/")
        .append_pair("scope", &s.scope)
        .append_pair("state", "x");
    let r = b.get(&s.ts, &format!("/{}/oauth2/v2.0/authorize?{}", s.ts.t.tenant_id, q.finish())).await;
    let loc = r.headers["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://localhost:53123/"), "{loc}");
    assert_eq!(query_of(&loc)["error"], "invalid_request");
    // With PKCE, a wrong verifier fails and the right one works.
    let code = code_for(&s, &mut b).await;
    let r = redeem(&s, &code, "wrong-verifier-wrong-verifier-wrong-verifier-x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "invalid_grant");
}

#[tokio::test]
async fn code_replay_fails_and_revokes_the_tokens_of_the_first_redemption() {
    let s = setup().await;
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let first = redeem(&s, &code, VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = redeem(&s, &code, VERIFIER).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json["error_codes"], json!([54005]));
    let r = refresh(&s, first.json["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the refresh token of a replayed code is revoked");
    assert_eq!(r.json["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let s = setup().await;
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let t0 = redeem(&s, &code, VERIFIER).await;
    let rt1 = t0.json["refresh_token"].as_str().unwrap().to_string();
    let t1 = refresh(&s, &rt1).await;
    assert_eq!(t1.status, StatusCode::OK, "{}", t1.text);
    let rt2 = t1.json["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated on every use");
    assert_ne!(t1.json["access_token"], t0.json["access_token"]);
    assert_eq!(jwt_claims(t1.json["access_token"].as_str().unwrap())["scp"], "Orders.Read");
    // Reusing rt1 is detected: it fails, and so does the newest token of the family.
    let reuse = refresh(&s, &rt1).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.json["error"], "invalid_grant");
    assert_eq!(refresh(&s, &rt2).await.status, StatusCode::BAD_REQUEST);
    // Refresh tokens are bound to their client.
    let code = code_for(&s, &mut b).await;
    let rt = redeem(&s, &code, VERIFIER).await.json["refresh_token"].as_str().unwrap().to_string();
    let other =
        s.ts.post_form(
            &format!("/{}/oauth2/v2.0/token", s.ts.t.tenant_id),
            &[("grant_type", "refresh_token"), ("client_id", &s.public_app_id), ("refresh_token", &rt)],
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn prompt_login_max_age_and_prompt_none_without_session() {
    let s = setup().await;
    let mut fresh = Browser::default();
    let r = fresh.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "none")])).await;
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");
    let mut b = Browser::default();
    code_for(&s, &mut b).await;
    for extra in [("prompt", "login"), ("max_age", "0")] {
        s.ts.clock.advance(time::Duration::seconds(2));
        let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[extra])).await;
        let (page, loc) = b.follow(&s.ts, r, "https://app.test").await;
        assert!(loc.is_none(), "{extra:?} must show the sign-in page");
        assert!(page.text.contains("name=\"password\""));
    }
}

#[tokio::test]
async fn sign_in_and_consent_forms_are_csrf_protected_and_bound_to_the_browser() {
    let s = setup().await;
    let mut victim = Browser::default();
    let r = victim.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[])).await;
    let (page, _) = victim.follow(&s.ts, r, "https://app.test").await;
    let form = forms(&page.text).remove(0);
    // Wrong CSRF token from the right browser.
    let mut bad = form.clone();
    bad.set("csrf", "forged").set("username", &s.alice).set("password", &s.password);
    let r = victim.post(&s.ts, &bad.action, &bad.fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!victim.cookies.keys().any(|k| k.starts_with("ostiary_session_")));
    // Right form fields from another browser (an attacker replaying the form) fail too.
    let mut attacker = Browser::default();
    let mut stolen = form.clone();
    stolen.set("username", &s.alice).set("password", &s.password);
    let r = attacker.post(&s.ts, &stolen.action, &stolen.fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!attacker.cookies.keys().any(|k| k.starts_with("ostiary_session_")));
}

#[tokio::test]
async fn a_planted_session_cookie_is_replaced_at_sign_in() {
    let s = setup().await;
    let mut b = Browser::default();
    let name = format!("ostiary_session_{}", s.ts.t.tenant_id.replace('-', ""));
    b.cookies.insert(name.clone(), "planted-by-attacker".into());
    code_for(&s, &mut b).await;
    let now = b.cookies.get(&name).cloned().unwrap();
    assert_ne!(now, "planted-by-attacker");
    let tenant: ostiary_model::TenantId = s.ts.t.tenant_id.parse().unwrap();
    assert!(s.ts.core.session(tenant, "planted-by-attacker", None).await.unwrap().is_none());
}

#[tokio::test]
async fn logout_ends_the_session_and_only_redirects_to_registered_uris() {
    let s = setup().await;
    let mut b = Browser::default();
    code_for(&s, &mut b).await;
    let tid = &s.ts.t.tenant_id;
    let r = b
        .get(
            &s.ts,
            &format!(
                "/{tid}/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.test/&client_id={}",
                s.client_app_id
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text.contains("evil.test"), "no open redirect");
    assert!(r.text.contains("https://app.test/frontchannel-logout"), "front-channel logout of the session's app");
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "none")])).await;
    assert_eq!(query_of(r.headers["location"].to_str().unwrap())["error"], "login_required", "session ended");
    code_for(&s, &mut b).await;
    let r = b
        .get(
            &s.ts,
            &format!(
                "/{tid}/oauth2/v2.0/logout?post_logout_redirect_uri={}&state=abc",
                form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
            ),
        )
        .await;
    assert!(r.text.contains("href=\"https://app.test/cb?state=abc\""), "{}", r.text);
}

#[tokio::test]
async fn codes_and_users_do_not_cross_tenants() {
    let s = setup().await;
    let other = s.ts.create_tenant("Fabrikam").await;
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let r =
        s.ts.post_form(
            &format!("/{}/oauth2/v2.0/token", other.tenant_id),
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &s.client_app_id),
                ("client_secret", &s.client_secret),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Alice cannot sign in at the other tenant's pages.
    let tenant: ostiary_model::TenantId = other.tenant_id.parse().unwrap();
    let err = s.ts.core.password_sign_in(tenant, &s.alice, &s.password, "ip").await.unwrap_err();
    assert_eq!(err.aadsts(), 50126);
}

#[tokio::test]
async fn smart_lockout_locks_without_enumerating_and_spares_familiar_locations() {
    let s = setup().await;
    let tenant: ostiary_model::TenantId = s.ts.t.tenant_id.parse().unwrap();
    let core = &s.ts.core;
    // Alice signs in once from her usual place.
    core.password_sign_in(tenant, &s.alice, &s.password, "10.0.0.1").await.unwrap();
    // An attacker elsewhere guesses.
    let mut last = 0;
    for _ in 0..10 {
        last = core.password_sign_in(tenant, &s.alice, "Wrong-Guess-1!", "203.0.113.9").await.unwrap_err().aadsts();
    }
    assert_eq!(last, 50053);
    assert_eq!(
        core.password_sign_in(tenant, &s.alice, &s.password, "203.0.113.9").await.unwrap_err().aadsts(),
        50053,
        "locked even with the right password"
    );
    // Her familiar location is not locked out by the attacker.
    assert!(core.password_sign_in(tenant, &s.alice, &s.password, "10.0.0.1").await.is_ok());
    // Unknown accounts lock the same way, so lockout does not reveal which accounts exist.
    let ghost = format!("ghost@{}", s.ts.t.domain);
    let mut codes = Vec::new();
    for _ in 0..11 {
        codes.push(core.password_sign_in(tenant, &ghost, "Whatever-1!", "203.0.113.9").await.unwrap_err().aadsts());
    }
    assert_eq!(codes[0], 50126);
    assert_eq!(*codes.last().unwrap(), 50053);
    // The lock expires.
    s.ts.clock.advance(time::Duration::minutes(2));
    assert!(core.password_sign_in(tenant, &s.alice, &s.password, "203.0.113.9").await.is_ok());
}

#[tokio::test]
async fn consent_is_remembered_and_can_be_restricted_by_policy() {
    let s = setup().await;
    let mut b = Browser::default();
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[])).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (consent, _) = b.follow(&s.ts, r, "https://app.test").await;
    assert!(consent.text.contains("Read your orders"), "{}", consent.text);
    // Declining sends access_denied to the client.
    let r = submit(&mut b, &s.ts, &consent, &[("decision", "decline")]).await;
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    // Accepting once is remembered.
    code_for(&s, &mut b).await;
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[])).await;
    assert!(query_of(r.headers["location"].to_str().unwrap()).contains_key("code"));
    let grants = s
        .ts
        .graph("GET", &format!("/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'", s.client_sp), &s.admin, None)
        .await;
    assert_eq!(grants.json["value"][0]["consentType"], "Principal");
    assert!(grants.json["value"][0]["scope"].as_str().unwrap().contains("Orders.Read"));
    // With user consent disabled, a user without a grant gets consent_required.
    let r =
        s.ts.graph(
            "PATCH",
            "/policies/authorizationPolicy",
            &s.admin,
            Some(json!({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": []}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let bob = format!("bob@{}", s.ts.t.domain);
    s.ts.graph("POST", "/users", &s.admin, Some(json!({"accountEnabled": true, "displayName": "Bob", "mailNickname": "bob", "userPrincipalName": bob, "passwordProfile": {"password": s.password, "forceChangePasswordNextSignIn": false}}))).await;
    let mut bb = Browser::default();
    let r = bb.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[])).await;
    let (page, _) = bb.follow(&s.ts, r, "https://app.test").await;
    let r = submit(&mut bb, &s.ts, &page, &[("username", &bob), ("password", &s.password)]).await;
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "consent_required");
    // Admin consent through Graph lets Bob in.
    let r = s.ts.graph("POST", "/oauth2PermissionGrants", &s.admin, Some(json!({"clientId": s.client_sp, "consentType": "AllPrincipals", "resourceId": s.api_sp, "scope": "Orders.Read"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = bb.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "login")])).await;
    let (page, _) = bb.follow(&s.ts, r, "https://app.test").await;
    let r = submit(&mut bb, &s.ts, &page, &[("username", &bob), ("password", &s.password)]).await;
    assert!(query_of(r.headers["location"].to_str().unwrap()).contains_key("code"));
}

#[tokio::test]
async fn device_code_flow_with_polling_errors() {
    let s = setup().await;
    let tid = s.ts.t.tenant_id.clone();
    let r =
        s.ts.post_form(
            &format!("/{tid}/oauth2/v2.0/devicecode"),
            &[("client_id", &s.public_app_id), ("scope", &s.scope)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for k in ["device_code", "user_code", "verification_uri", "expires_in", "interval", "message"] {
        assert!(!r.json[k].is_null(), "{k}");
    }
    let device_code = r.json["device_code"].as_str().unwrap().to_string();
    let user_code = r.json["user_code"].as_str().unwrap().to_string();
    let token_path = format!("/{tid}/oauth2/v2.0/token");
    let fields = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", s.public_app_id.as_str()),
        ("device_code", device_code.as_str()),
    ];
    let poll = || s.ts.post_form(&token_path, &fields, &[]);
    let p = poll().await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(p.json["error"], "authorization_pending");
    assert_eq!(poll().await.json["error"], "slow_down", "polling faster than the interval");
    // The user enters the code in a browser, signs in and consents.
    let mut b = Browser::default();
    let page = b.get(&s.ts, r.json["verification_uri"].as_str().unwrap()).await;
    let bad = submit(&mut b, &s.ts, &page, &[("user_code", "BCDFGHJK")]).await;
    assert!(bad.text.contains("didn"), "unknown codes are refused");
    let r = submit(&mut b, &s.ts, &page, &[("user_code", &user_code.to_lowercase())]).await;
    let (mut page, _) = b.follow(&s.ts, r, "https://app.test").await;
    page = {
        let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
        b.follow(&s.ts, r, "https://app.test").await.0
    };
    if page.text.contains("id=\"accept\"") {
        let r = submit(&mut b, &s.ts, &page, &[("decision", "accept")]).await;
        page = b.follow(&s.ts, r, "https://app.test").await.0;
    }
    assert!(page.text.contains("You have signed in to Orders CLI"), "{}", page.text);
    s.ts.clock.advance(time::Duration::seconds(6));
    let p = poll().await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(jwt_claims(p.json["access_token"].as_str().unwrap())["azpacr"], "0");
    assert!(p.json["refresh_token"].is_string());
    s.ts.clock.advance(time::Duration::seconds(6));
    assert_eq!(poll().await.status, StatusCode::BAD_REQUEST, "a device code is used once");
    s.ts.clock.advance(time::Duration::minutes(16));
    assert_eq!(poll().await.json["error"], "expired_token");
}

#[tokio::test]
async fn on_behalf_of_exchanges_a_user_token_for_a_downstream_token() {
    let s = setup().await;
    let admin = &s.admin;
    // The middle tier is the Orders API itself: give it a secret and consent to call Graph.
    let api_obj = s.ts.graph("GET", &format!("/applications(appId='{}')", s.api_app_id), admin, None).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = s.ts.graph("POST", &format!("/applications/{api_obj}/addPassword"), admin, Some(json!({}))).await.json
        ["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let graph_sp = s
        .ts
        .graph("GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')", admin, None)
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let user_at = redeem(&s, &code, VERIFIER).await.json["access_token"].as_str().unwrap().to_string();
    let obo = |assertion: String| {
        let (secret, api) = (secret.clone(), s.api_app_id.clone());
        let ts = &s.ts;
        async move {
            ts.post_form(
                &format!("/{}/oauth2/v2.0/token", ts.t.tenant_id),
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("client_id", &api),
                    ("client_secret", &secret),
                    ("assertion", &assertion),
                    ("scope", "https://graph.microsoft.com/User.Read offline_access"),
                    ("requested_token_use", "on_behalf_of"),
                ],
                &[],
            )
            .await
        }
    };
    let r = obo(user_at.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no consent yet: {}", r.text);
    assert_eq!(r.json["error_codes"], json!([65001]));
    let g = s.ts.graph("POST", "/oauth2PermissionGrants", admin, Some(json!({"clientId": s.api_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"}))).await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    let r = obo(user_at.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = jwt_claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(c["azp"], s.api_app_id);
    assert_eq!(c["oid"], jwt_claims(&user_at)["oid"]);
    assert!(c["scp"].as_str().unwrap().contains("User.Read"));
    // A token whose audience is another app, or an app-only token, is refused.
    let admin_at = s.ts.admin_token().await;
    assert_eq!(obo(admin_at).await.json["error"], "invalid_grant");
}

#[tokio::test]
async fn userinfo_matches_the_id_token_subject() {
    let s = Setup { scope: "openid profile email offline_access".into(), ..setup().await };
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let t = redeem(&s, &code, VERIFIER).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let at = t.json["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["aud"], "00000003-0000-0000-c000-000000000000");
    let req = axum::http::Request::get("/oidc/userinfo")
        .header("authorization", format!("Bearer {at}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let r = s.ts.request(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["sub"], jwt_claims(t.json["id_token"].as_str().unwrap())["sub"]);
    assert_eq!(r.json["name"], "Alice Example");
    let app_token = s.ts.admin_token().await;
    let req = axum::http::Request::get("/oidc/userinfo")
        .header("authorization", format!("Bearer {app_token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(s.ts.request(req).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoke_sign_in_sessions_ends_sessions_and_refresh_tokens() {
    let s = setup().await;
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let rt = redeem(&s, &code, VERIFIER).await.json["refresh_token"].as_str().unwrap().to_string();
    let r = s.ts.graph("POST", &format!("/users/{}/revokeSignInSessions", s.alice), &s.admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["value"], true);
    assert_eq!(refresh(&s, &rt).await.status, StatusCode::BAD_REQUEST);
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "none")])).await;
    assert_eq!(query_of(r.headers["location"].to_str().unwrap())["error"], "login_required");
}

#[tokio::test]
async fn forced_password_change_happens_before_the_flow_completes() {
    let s = setup().await;
    let carol = format!("carol@{}", s.ts.t.domain);
    let r = s.ts.graph("POST", "/users", &s.admin, Some(json!({"accountEnabled": true, "displayName": "Carol", "mailNickname": "carol", "userPrincipalName": carol, "passwordProfile": {"password": "Temporary-Pass-1!", "forceChangePasswordNextSignIn": true}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut b = Browser::default();
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[])).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &carol), ("password", "Temporary-Pass-1!")]).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    assert!(page.text.contains("new_password"), "{}", page.text);
    let weak = submit(
        &mut b,
        &s.ts,
        &page,
        &[
            ("current_password", "Temporary-Pass-1!"),
            ("new_password", "password123"),
            ("confirm_password", "password123"),
        ],
    )
    .await;
    assert!(weak.text.contains("new_password"), "a banned password is refused");
    let r = submit(
        &mut b,
        &s.ts,
        &page,
        &[
            ("current_password", "Temporary-Pass-1!"),
            ("new_password", "Brand-New-Pass-9!"),
            ("confirm_password", "Brand-New-Pass-9!"),
        ],
    )
    .await;
    let (page, loc) = b.follow(&s.ts, r, "https://app.test").await;
    assert!(loc.is_some() || page.text.contains("id=\"accept\""), "{}", page.text);
    let tenant: ostiary_model::TenantId = s.ts.t.tenant_id.parse().unwrap();
    assert!(s.ts.core.password_sign_in(tenant, &carol, "Brand-New-Pass-9!", "x").await.is_ok());
}

#[tokio::test]
async fn introspection_and_revocation_for_confidential_clients() {
    let s = setup().await;
    let tid = s.ts.t.tenant_id.clone();
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let t = redeem(&s, &code, VERIFIER).await;
    let at = t.json["access_token"].as_str().unwrap().to_string();
    let rt = t.json["refresh_token"].as_str().unwrap().to_string();
    let call = |path: &'static str, token: String, id: String, secret: String| {
        let ts = &s.ts;
        let tid = tid.clone();
        async move {
            ts.post_form(
                &format!("/{tid}/oauth2/v2.0/{path}"),
                &[("token", &token), ("client_id", &id), ("client_secret", &secret)],
                &[],
            )
            .await
        }
    };
    let (cid, sec) = (s.client_app_id.clone(), s.client_secret.clone());
    let r = call("introspect", at.clone(), cid.clone(), sec.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["scope"], "Orders.Read");
    assert_eq!(r.json["client_id"], s.client_app_id);
    assert_eq!(r.json["username"], s.alice);
    let r = call("introspect", rt.clone(), cid.clone(), sec.clone()).await;
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["token_type"], "refresh_token");
    // Another client learns nothing about these tokens.
    let admin = (s.ts.t.client_id.clone(), s.ts.t.client_secret.clone());
    assert_eq!(call("introspect", at.clone(), admin.0.clone(), admin.1.clone()).await.json, json!({"active": false}));
    assert_eq!(call("introspect", rt.clone(), admin.0.clone(), admin.1.clone()).await.json, json!({"active": false}));
    // Garbage is inactive, a wrong secret is invalid_client, public clients may not introspect.
    assert_eq!(call("introspect", "nonsense".into(), cid.clone(), sec.clone()).await.json["active"], false);
    assert_eq!(call("introspect", at.clone(), cid.clone(), "wrong".into()).await.status, StatusCode::UNAUTHORIZED);
    let r = s
        .ts
        .post_form(&format!("/{tid}/oauth2/v2.0/introspect"), &[("token", &at), ("client_id", &s.public_app_id)], &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Revocation: another client's attempt changes nothing; the owner's revokes the family.
    assert_eq!(call("revoke", rt.clone(), admin.0.clone(), admin.1.clone()).await.status, StatusCode::OK);
    assert_eq!(call("introspect", rt.clone(), cid.clone(), sec.clone()).await.json["active"], true);
    assert_eq!(call("revoke", rt.clone(), cid.clone(), sec.clone()).await.status, StatusCode::OK);
    assert_eq!(call("introspect", rt.clone(), cid.clone(), sec.clone()).await.json["active"], false);
    assert_eq!(refresh(&s, &rt).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(call("revoke", "unknown-token".into(), cid.clone(), sec.clone()).await.status, StatusCode::OK);
    let r = call("revoke", at, cid, sec).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "unsupported_token_type");
}

#[tokio::test]
async fn group_and_role_claims_follow_group_membership_claims_with_overage() {
    let s = setup().await;
    let admin = &s.admin;
    // Alice is in two groups; the client asks for security groups and directory roles.
    let alice =
        s.ts.graph("GET", &format!("/users/{}", s.alice), admin, None).await.json["id"].as_str().unwrap().to_string();
    let mut groups = Vec::new();
    for name in ["g-one", "g-two"] {
        let g =
            s.ts.graph(
                "POST",
                "/groups",
                admin,
                Some(json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true})),
            )
            .await;
        let gid = g.json["id"].as_str().unwrap().to_string();
        let r =
            s.ts.graph(
                "POST",
                &format!("/groups/{gid}/members/$ref"),
                admin,
                Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{alice}")})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        groups.push(gid);
    }
    let client_obj = s.ts.graph("GET", &format!("/applications(appId='{}')", s.client_app_id), admin, None).await.json
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .ts
        .graph("PATCH", &format!("/applications/{client_obj}"), admin, Some(json!({"groupMembershipClaims": "All"})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let t = redeem(&s, &code, VERIFIER).await;
    let id = jwt_claims(t.json["id_token"].as_str().unwrap());
    let mut got: Vec<String> =
        id["groups"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    got.sort();
    groups.sort();
    assert_eq!(got, groups);
    // The bootstrap admin holds Global Administrator: `wids` in its tokens.
    let tenant: ostiary_model::TenantId = s.ts.t.tenant_id.parse().unwrap();
    let admin_user = s.ts.graph("GET", &format!("/users/{}", s.ts.t.admin_upn), admin, None).await.json["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        s.ts.core.directory_roles(tenant, admin_user).await.unwrap(),
        vec!["62e90394-69f5-4237-9190-012177145e10".to_string()]
    );
    // Above 200 groups, the overage form replaces the list.
    for i in 0..201 {
        let name = format!("many-{i}");
        let g = s.ts.graph("POST", "/groups", admin, Some(json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true, "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{alice}")]}))).await;
        assert_eq!(g.status, StatusCode::CREATED);
    }
    let code = code_for(&s, &mut b).await;
    let t = redeem(&s, &code, VERIFIER).await;
    let id = jwt_claims(t.json["id_token"].as_str().unwrap());
    assert!(id.get("groups").is_none());
    assert_eq!(id["_claim_names"]["groups"], "src1");
    assert!(
        id["_claim_sources"]["src1"]["endpoint"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/users/{alice}/getMemberObjects"))
    );
}

#[tokio::test]
async fn select_account_offers_the_session_account_or_another() {
    let s = setup().await;
    let mut b = Browser::default();
    code_for(&s, &mut b).await;
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "select_account")])).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    assert!(page.text.contains("Alice Example") && page.text.contains("Use another account"), "{}", page.text);
    // Continue as Alice.
    let r = submit(&mut b, &s.ts, &page, &[("account", "current")]).await;
    assert!(query_of(r.headers["location"].to_str().unwrap()).contains_key("code"));
    // Or choose another account: the sign-in page.
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT, &[("prompt", "select_account")])).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("account", "other")]).await;
    let (page, _) = b.follow(&s.ts, r, "https://app.test").await;
    assert!(page.text.contains("name=\"password\""));
}

#[tokio::test]
async fn common_and_organizations_find_the_home_tenant() {
    let s = setup().await;
    let _other = s.ts.create_tenant("Fabrikam").await;
    let mut b = Browser::default();
    for alias in ["common", "organizations"] {
        let url = authorize_url(&s, &s.client_app_id, REDIRECT, &[("login_hint", &s.alice)]).replacen(
            &s.ts.t.tenant_id,
            alias,
            1,
        );
        let r = b.get(&s.ts, &url).await;
        assert_eq!(r.status, StatusCode::FOUND, "{alias}: {}", r.text);
        let loc = r.headers["location"].to_str().unwrap();
        assert!(loc.starts_with(&format!("/{}/login", s.ts.t.tenant_id)), "{alias}: {loc}");
    }
    let url =
        authorize_url(&s, &uuid::Uuid::new_v4().to_string(), REDIRECT, &[]).replacen(&s.ts.t.tenant_id, "common", 1);
    assert_eq!(b.get(&s.ts, &url).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenant_sign_in_settings_drive_password_policy_and_refresh_lifetimes() {
    let s = setup().await;
    let tid = s.ts.t.tenant_id.clone();
    let path = format!("/organization/{tid}/ostiarySignInSettings");
    let r = s.ts.graph("GET", &path, &s.admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["passwordMinLength"], 8);
    assert_eq!(r.json["refreshAbsoluteSecs"], 90 * 86400);
    let r =
        s.ts.graph(
            "PATCH",
            &path,
            &s.admin,
            Some(json!({"passwordMinLength": 14, "bannedPasswords": ["contoso"], "refreshInactiveSecs": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    for (body, bad) in
        [(json!({"passwordMinLength": 3}), true), (json!({"lockoutThreshold": 0}), true), (json!({"nope": 1}), true)]
    {
        let r = s.ts.graph("PATCH", &path, &s.admin, Some(body)).await;
        assert_eq!(r.status == StatusCode::BAD_REQUEST, bad, "{}", r.text);
    }
    let mk = |pw: &str| json!({"accountEnabled": true, "displayName": "Dan", "mailNickname": "dan", "userPrincipalName": format!("dan@{}", s.ts.t.domain), "passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": false}});
    assert_eq!(
        s.ts.graph("POST", "/users", &s.admin, Some(mk("Short-Pass-1!"))).await.status,
        StatusCode::BAD_REQUEST,
        "below the tenant minimum"
    );
    assert_eq!(
        s.ts.graph("POST", "/users", &s.admin, Some(mk("Contoso-Rocks-2026!"))).await.status,
        StatusCode::BAD_REQUEST,
        "tenant-banned word"
    );
    assert_eq!(
        s.ts.graph("POST", "/users", &s.admin, Some(mk("Quiet-Harbour-Lamp-77"))).await.status,
        StatusCode::CREATED
    );
    // The sliding refresh lifetime now applies: an unused refresh token dies after an hour.
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let rt = redeem(&s, &code, VERIFIER).await.json["refresh_token"].as_str().unwrap().to_string();
    s.ts.clock.advance(time::Duration::minutes(61));
    let r = refresh(&s, &rt).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error_codes"], json!([700082]));
}

#[tokio::test]
async fn self_service_password_change_needs_a_session_and_the_current_password() {
    let s = setup().await;
    let tid = s.ts.t.tenant_id.clone();
    let mut stranger = Browser::default();
    assert_eq!(stranger.get(&s.ts, &format!("/{tid}/account/password")).await.status, StatusCode::UNAUTHORIZED);
    let mut b = Browser::default();
    code_for(&s, &mut b).await;
    let page = b.get(&s.ts, &format!("/{tid}/account/password")).await;
    assert_eq!(page.status, StatusCode::OK);
    let wrong = submit(
        &mut b,
        &s.ts,
        &page,
        &[
            ("current_password", "not-it"),
            ("new_password", "Another-Good-One-5!"),
            ("confirm_password", "Another-Good-One-5!"),
        ],
    )
    .await;
    assert!(wrong.text.contains("current password is incorrect"), "{}", wrong.text);
    let forged = b
        .post(
            &s.ts,
            &format!("/{tid}/account/password"),
            &[
                ("csrf".into(), "x".into()),
                ("current_password".into(), s.password.clone()),
                ("new_password".into(), "Another-Good-One-5!".into()),
                ("confirm_password".into(), "Another-Good-One-5!".into()),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "CSRF");
    let ok = submit(
        &mut b,
        &s.ts,
        &page,
        &[
            ("current_password", &s.password),
            ("new_password", "Another-Good-One-5!"),
            ("confirm_password", "Another-Good-One-5!"),
        ],
    )
    .await;
    assert!(ok.text.contains("Your password has been changed"), "{}", ok.text);
    let tenant: ostiary_model::TenantId = tid.parse().unwrap();
    assert!(s.ts.core.password_sign_in(tenant, &s.alice, "Another-Good-One-5!", "x").await.is_ok());
    assert!(s.ts.core.password_sign_in(tenant, &s.alice, &s.password, "x").await.is_err());
}

#[tokio::test]
async fn user_app_role_assignments_appear_as_roles_directly_and_through_groups() {
    let s = setup().await;
    let admin = &s.admin;
    let api_obj = s.ts.graph("GET", &format!("/applications(appId='{}')", s.api_app_id), admin, None).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (reader, approver) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let roles = json!({"appRoles": [
        {"id": reader, "value": "Orders.Reader", "displayName": "Reader", "description": "d", "allowedMemberTypes": ["User"], "isEnabled": true},
        {"id": approver, "value": "Orders.Approver", "displayName": "Approver", "description": "d", "allowedMemberTypes": ["User"], "isEnabled": true}
    ]});
    assert_eq!(
        s.ts.graph("PATCH", &format!("/applications/{api_obj}"), admin, Some(roles)).await.status,
        StatusCode::NO_CONTENT
    );
    let alice =
        s.ts.graph("GET", &format!("/users/{}", s.alice), admin, None).await.json["id"].as_str().unwrap().to_string();
    let direct =
        s.ts.graph(
            "POST",
            &format!("/users/{alice}/appRoleAssignments"),
            admin,
            Some(json!({"principalId": alice, "resourceId": s.api_sp, "appRoleId": reader})),
        )
        .await;
    assert_eq!(direct.status, StatusCode::CREATED, "{}", direct.text);
    let g = s.ts.graph("POST", "/groups", admin, Some(json!({"displayName": "approvers", "mailEnabled": false, "mailNickname": "approvers", "securityEnabled": true, "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{alice}")]}))).await;
    let gid = g.json["id"].as_str().unwrap().to_string();
    let via_group =
        s.ts.graph(
            "POST",
            &format!("/groups/{gid}/appRoleAssignments"),
            admin,
            Some(json!({"principalId": gid, "resourceId": s.api_sp, "appRoleId": approver})),
        )
        .await;
    assert_eq!(via_group.status, StatusCode::CREATED, "{}", via_group.text);
    let mut b = Browser::default();
    let code = code_for(&s, &mut b).await;
    let at = jwt_claims(redeem(&s, &code, VERIFIER).await.json["access_token"].as_str().unwrap());
    assert_eq!(at["roles"], json!(["Orders.Approver", "Orders.Reader"]));
    assert_eq!(at["scp"], "Orders.Read");
}
