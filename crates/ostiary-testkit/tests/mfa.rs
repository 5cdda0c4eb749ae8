//! MFA, Conditional Access and Identity Protection end to end in-process: the Graph surface
//! (policies, named locations, What-If, emergency-access accounts, risk, authentication methods
//! and the methods policy), the lockout guard, and what a browser and the token endpoint see:
//! blocks, report-only policies, MFA step-up with authenticator-app registration, replay
//! protection and recovery codes, MFA carried by the SSO session, Conditional Access at refresh
//! and client credentials, risk-based blocking, a registration campaign, and sign-in frequency.
//! (Passkeys are covered by the browser suite: the software authenticator of `ostiary-mfa` is
//! test-only.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_testkit::browser::{Browser, Form, forms};
use ostiary_testkit::{Resp, TestServer, jwt_claims};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const REDIRECT: &str = "https://app.test/cb";
const PORTAL_REDIRECT: &str = "https://app.test/portal";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "Correct-Horse-42!";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const POLICIES: &str = "/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/identity/conditionalAccess/namedLocations";
const EVALUATE: &str = "/identity/conditionalAccess/evaluate";

struct Setup {
    ts: TestServer,
    admin: String,
    api_app_id: String,
    client_app_id: String,
    client_sp: String,
    client_secret: String,
    portal_app_id: String,
    /// The bootstrap administrator (a Global Administrator).
    admin_user: String,
    alice: User,
}

#[derive(Clone)]
struct User {
    upn: String,
    id: String,
}

async fn setup() -> Setup {
    setup_with(None).await
}

/// A tenant with an API, a confidential web client, a second web app (the portal) and Alice.
/// `protection` configures Identity Protection before anything uses it.
async fn setup_with(protection: Option<ostiary_core::risk::Protection>) -> Setup {
    let ts = TestServer::new().await;
    if let Some(p) = protection {
        assert!(ts.core.set_protection(p));
    }
    let admin = ts.admin_token().await;
    let api = ts
        .graph("POST", "/applications", &admin, Some(json!({
            "displayName": "Orders API",
            "identifierUris": ["api://orders"],
            "api": {"oauth2PermissionScopes": [{"id": uuid::Uuid::new_v4(), "value": "Orders.Read", "type": "User", "isEnabled": true,
                "adminConsentDisplayName": "Read orders", "adminConsentDescription": "Read all orders",
                "userConsentDisplayName": "Read your orders", "userConsentDescription": "Read your orders"}]},
        })))
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{}", api.text);
    let api_app_id = api.json["appId"].as_str().unwrap().to_string();
    ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": api_app_id}))).await;
    let mut apps = Vec::new();
    for (name, redirect) in [("Orders Web", REDIRECT), ("Portal", PORTAL_REDIRECT)] {
        let app = ts
            .graph(
                "POST",
                "/applications",
                &admin,
                Some(json!({"displayName": name, "web": {"redirectUris": [redirect]}})),
            )
            .await;
        assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
        let app_id = app.json["appId"].as_str().unwrap().to_string();
        let sp = ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": app_id}))).await;
        let pw = ts
            .graph(
                "POST",
                &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()),
                &admin,
                Some(json!({})),
            )
            .await;
        apps.push((
            app_id,
            sp.json["id"].as_str().unwrap().to_string(),
            pw.json["secretText"].as_str().unwrap().to_string(),
        ));
    }
    let admin_user = ts.graph("GET", &format!("/users/{}", ts.t.admin_upn), &admin, None).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (client, portal) = (apps.remove(0), apps.remove(0));
    let mut s = Setup {
        ts,
        admin,
        api_app_id,
        client_app_id: client.0,
        client_sp: client.1,
        client_secret: client.2,
        portal_app_id: portal.0,
        admin_user,
        alice: User { upn: String::new(), id: String::new() },
    };
    s.alice = add_user(&s, "alice", PASSWORD).await;
    s
}

async fn add_user(s: &Setup, nick: &str, password: &str) -> User {
    let upn = format!("{nick}@{}", s.ts.t.domain);
    let r =
        s.ts.graph(
            "POST",
            "/users",
            &s.admin,
            Some(json!({
                "accountEnabled": true, "displayName": nick, "mailNickname": nick, "userPrincipalName": upn,
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false}
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    User { upn, id: r.json["id"].as_str().unwrap().to_string() }
}

async fn add_group(s: &Setup, name: &str, members: &[&str]) -> String {
    let binds: Vec<String> =
        members.iter().map(|m| format!("https://graph.microsoft.com/v1.0/directoryObjects/{m}")).collect();
    let g =
        s.ts.graph(
            "POST",
            "/groups",
            &s.admin,
            Some(json!({"displayName": name, "mailEnabled": false, "mailNickname": name,
            "securityEnabled": true, "members@odata.bind": binds})),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    g.json["id"].as_str().unwrap().to_string()
}

/// Creates an enabled policy for `users` on the Orders API (the resource of every sign-in here).
async fn add_policy(s: &Setup, name: &str, users: &[&str], extra: Value) -> String {
    let mut body = json!({
        "displayName": name,
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": users},
            "applications": {"includeApplications": [s.api_app_id]},
        },
    });
    merge(&mut body, &extra);
    let r = s.ts.graph("POST", POLICIES, &s.admin, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn authorize_url(s: &Setup, client: &str, redirect: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "api://orders/Orders.Read openid profile offline_access")
        .append_pair("state", "st-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    format!("/{}/oauth2/v2.0/authorize?{}", s.ts.t.tenant_id, q.finish())
}

fn query_of(loc: &str) -> HashMap<String, String> {
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// What a page of the interactive flow is.
fn kind(page: &Resp) -> &'static str {
    let t = &page.text;
    if t.contains("id=\"recovery-codes\"") {
        "codes"
    } else if t.contains("<h1>Keep your account secure</h1>") {
        "register"
    } else if t.contains("<h1>Verify your identity</h1>") {
        "mfa"
    } else if t.contains("new_password") {
        "changepassword"
    } else if t.contains("name=\"password\"") {
        "signin"
    } else if t.contains("id=\"accept\"") {
        "consent"
    } else {
        "other"
    }
}

/// The page's form whose hidden `method` is `method` (or its first form).
fn form(page: &Resp, method: Option<&str>) -> Form {
    let all = forms(&page.text);
    match method {
        None => all.into_iter().next(),
        Some(m) => all.into_iter().find(|f| f.get("method") == Some(m)),
    }
    .unwrap_or_else(|| panic!("no form {method:?} in page: {}", page.text))
}

async fn submit(b: &mut Browser, ts: &TestServer, page: &Resp, method: Option<&str>, set: &[(&str, &str)]) -> Resp {
    let mut f = form(page, method);
    for (k, v) in set {
        f.set(k, v);
    }
    b.post(ts, &f.action, &f.fields).await
}

/// Where a walk through the flow stopped.
struct Walk {
    /// The redirect to the client, when reached.
    location: Option<String>,
    /// The last page (a page the walk does not answer: MFA, registration, an error).
    page: Resp,
    /// The kinds of the pages answered on the way.
    seen: Vec<&'static str>,
}

impl Walk {
    fn code(&self) -> String {
        let loc = self.location.as_deref().unwrap_or_else(|| panic!("no redirect; page: {}", self.page.text));
        query_of(loc).get("code").cloned().unwrap_or_else(|| panic!("no code in {loc}"))
    }
}

/// Follows the flow from `r`, answering the sign-in page with `creds` and accepting consent,
/// until the client's redirect or another page.
async fn walk(ts: &TestServer, b: &mut Browser, r: Resp, creds: Option<(&str, &str)>) -> Walk {
    let (mut page, mut location) = b.follow(ts, r, "https://app.test").await;
    let mut seen = Vec::new();
    for _ in 0..8 {
        if location.is_some() {
            break;
        }
        let next = match (kind(&page), creds) {
            // The credentials once: a sign-in page again means they were refused.
            ("signin", Some((u, p))) if !seen.contains(&"signin") => {
                seen.push("signin");
                submit(b, ts, &page, None, &[("username", u), ("password", p)]).await
            }
            ("consent", _) => {
                seen.push("consent");
                submit(b, ts, &page, None, &[("decision", "accept")]).await
            }
            _ => break,
        };
        (page, location) = b.follow(ts, next, "https://app.test").await;
    }
    Walk { location, page, seen }
}

/// Starts a sign-in of `user` to the Orders Web client in browser `b`.
async fn sign_in(s: &Setup, b: &mut Browser, user: &User, password: &str) -> Walk {
    let r = b.get(&s.ts, &authorize_url(s, &s.client_app_id, REDIRECT)).await;
    walk(&s.ts, b, r, Some((&user.upn, password))).await
}

async fn redeem(s: &Setup, code: &str) -> Resp {
    s.ts.post_form(
        &format!("/{}/oauth2/v2.0/token", s.ts.t.tenant_id),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &s.client_app_id),
            ("client_secret", &s.client_secret),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
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

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Sign-in records matching an OData filter, newest first.
async fn sign_ins(s: &Setup, filter: &str) -> Vec<Value> {
    assert!(s.ts.core.log_writer.flush(Duration::from_secs(10)).await);
    let r = s.ts.graph("GET", &format!("/auditLogs/signIns?$filter={}", enc(filter)), &s.admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["value"].as_array().unwrap().clone()
}

/// Interactive sign-in records of a user, newest first.
async fn interactive(s: &Setup, user: &User) -> Vec<Value> {
    sign_ins(s, &format!("userPrincipalName eq '{}' and isInteractive eq true", user.upn)).await
}

async fn audits(s: &Setup, activity: &str) -> Vec<Value> {
    let filter = enc(&format!("activityDisplayName eq '{activity}'"));
    let r = s.ts.graph("GET", &format!("/auditLogs/directoryAudits?$filter={filter}"), &s.admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["value"].as_array().unwrap().clone()
}

fn listed<'a>(record: &'a Value, policy: &str) -> Option<&'a Value> {
    record["appliedConditionalAccessPolicies"].as_array().unwrap().iter().find(|p| p["id"] == policy)
}

fn applied<'a>(record: &'a Value, policy: &str) -> &'a Value {
    listed(record, policy).unwrap_or_else(|| panic!("policy {policy} not in {record}"))
}

/// The authenticator code for `secret` at the server's current time.
fn totp_now(s: &Setup, secret: &str) -> String {
    let secret = ostiary_mfa::TotpSecret::from_base32(secret).unwrap();
    ostiary_mfa::TotpParams::default().code_at(&secret, s.ts.core.now().unix_timestamp()).unwrap()
}

/// A six-digit code that is wrong for `secret` at any step the server accepts now.
fn wrong_code(s: &Setup, secret: &str) -> String {
    let parsed = ostiary_mfa::TotpSecret::from_base32(secret).unwrap();
    let p = ostiary_mfa::TotpParams::default();
    let step = p.step_at(s.ts.core.now().unix_timestamp()).unwrap();
    let valid: Vec<String> = (step - 2..=step + 2).map(|st| p.code_at_step(&parsed, st)).collect();
    (0..10).map(|d| d.to_string().repeat(6)).find(|c| !valid.contains(c)).unwrap()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text.find(start).unwrap_or_else(|| panic!("{start} not in {text}")) + start.len();
    let j = text[i..].find(end).unwrap() + i;
    &text[i..j]
}

fn recovery_codes(page: &Resp) -> Vec<String> {
    between(&page.text, "id=\"recovery-codes\">", "</ul>")
        .split("<code>")
        .skip(1)
        .map(|c| c.split("</code>").next().unwrap().to_string())
        .collect()
}

/// Registration of an authenticator app from the register page: returns the secret, the code
/// used, and the page after it.
async fn register_totp(s: &Setup, b: &mut Browser, page: &Resp) -> (String, String, Resp) {
    assert_eq!(kind(page), "register", "{}", page.text);
    let secret = between(&page.text, "id=\"totp-secret\">", "</code>").to_string();
    let code = totp_now(s, &secret);
    let r = submit(b, &s.ts, page, Some("totp"), &[("otp", &code)]).await;
    let (after, _) = b.follow(&s.ts, r, "https://app.test").await;
    (secret, code, after)
}

/// Alice registers an authenticator app in a fresh browser under an MFA policy (which the
/// caller created); returns the browser, the secret, the code used and the recovery codes.
async fn enroll(s: &Setup, user: &User) -> (Browser, String, String, Vec<String>) {
    let mut b = Browser::default();
    let w = sign_in(s, &mut b, user, PASSWORD).await;
    assert!(w.location.is_none(), "MFA registration expected, got {:?}", w.location);
    let (secret, code, page) = register_totp(s, &mut b, &w.page).await;
    assert_eq!(kind(&page), "codes", "{}", page.text);
    let codes = recovery_codes(&page);
    let r = submit(&mut b, &s.ts, &page, None, &[]).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    (b, secret, code, codes)
}

fn mfa_policy() -> Value {
    json!({"grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
}

fn block() -> Value {
    json!({"grantControls": {"operator": "OR", "builtInControls": ["block"]}})
}

/// An app whose token carries only User.Read.All.
async fn reader_token(s: &Setup) -> String {
    let ts = &s.ts;
    let app = ts.graph("POST", "/applications", &s.admin, Some(json!({"displayName": "Reader"}))).await;
    let app_id = app.json["appId"].as_str().unwrap().to_string();
    let sp = ts.graph("POST", "/servicePrincipals", &s.admin, Some(json!({"appId": app_id}))).await;
    let graph_sp =
        ts.graph("GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')", &s.admin, None).await;
    let r = ts
        .graph("POST", &format!("/servicePrincipals/{}/appRoleAssignedTo", graph_sp.json["id"].as_str().unwrap()), &s.admin,
            Some(json!({"principalId": sp.json["id"], "resourceId": graph_sp.json["id"], "appRoleId": "df021288-bdef-4463-88db-98f22de89214"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()),
            &s.admin,
            Some(json!({})),
        )
        .await;
    let t = ts
        .token_for(&ts.t.tenant_id, &app_id, pw.json["secretText"].as_str().unwrap(), ostiary_testkit::GRAPH_SCOPE)
        .await;
    t.json["access_token"].as_str().unwrap().to_string()
}

/// The §6 sample of `/work/shared/reference/entra-compat.md`, report-only.
fn sample_policy() -> Value {
    json!({
        "displayName": "Demo",
        "state": "enabledForReportingButNotEnforced",
        "templateId": null,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"], "includeGroups": [], "excludeGroups": [],
                "includeRoles": [GLOBAL_ADMIN], "excludeRoles": [],
                "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null},
            "applications": {"includeApplications": ["All"], "excludeApplications": ["00000002-0000-0ff1-ce00-000000000000"],
                "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
            "clientApplications": {"includeServicePrincipals": [], "excludeServicePrincipals": [], "servicePrincipalFilter": null},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
            "platforms": {"includePlatforms": ["all"], "excludePlatforms": ["iOS", "windowsPhone"]},
            "clientAppTypes": ["browser", "mobileAppsAndDesktopClients"],
            "signInRiskLevels": ["high", "medium"], "userRiskLevels": [], "servicePrincipalRiskLevels": [],
            "devices": {"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}},
            "authenticationFlows": null, "insiderRiskLevels": null
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"], "customAuthenticationFactors": [],
            "termsOfUse": [], "authenticationStrength": null},
        "sessionControls": {
            "signInFrequency": {"value": 4, "type": "hours", "authenticationType": "primaryAndSecondaryAuthentication",
                "frequencyInterval": "timeBased", "isEnabled": true},
            "persistentBrowser": {"mode": "never", "isEnabled": true},
            "cloudAppSecurity": {"cloudAppSecurityType": "blockDownloads", "isEnabled": true},
            "applicationEnforcedRestrictions": null, "disableResilienceDefaults": null
        }
    })
}

// --- 1. Graph CRUD ---------------------------------------------------------------------------

#[tokio::test]
async fn policies_and_named_locations_round_trip_validate_audit_and_isolate() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    let sample = sample_policy();
    let r = ts.graph("POST", POLICIES, tok, Some(sample.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert!(r.json["createdDateTime"].is_string());
    assert_eq!(r.json["modifiedDateTime"], Value::Null);
    let got = ts.graph("GET", &format!("{POLICIES}/{id}"), tok, None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    for (k, v) in sample.as_object().unwrap() {
        assert_eq!(&got.json[k], v, "round trip of {k}: {}", got.text);
    }
    assert_eq!(got.json["id"], id.as_str());
    let list = ts.graph("GET", POLICIES, tok, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.json["value"].as_array().unwrap().iter().any(|p| p["id"] == id.as_str()));

    // PATCH changes what it names and stamps modifiedDateTime; read-only properties stay.
    let r = ts.graph("PATCH", &format!("{POLICIES}/{id}"), tok, Some(json!({"state": "disabled"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let got = ts.graph("GET", &format!("{POLICIES}/{id}"), tok, None).await;
    assert_eq!(got.json["state"], "disabled");
    assert!(got.json["modifiedDateTime"].is_string());
    assert_eq!(got.json["conditions"], sample["conditions"]);
    let r = ts.graph("PATCH", &format!("{POLICIES}/{id}"), tok, Some(json!({"id": uuid::Uuid::new_v4()}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Invalid policies: a Graph 400, never a 500.
    let valid = json!({"displayName": "x", "state": "disabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let bad_cases: Vec<(&str, Value)> = vec![
        ("no displayName", json!({"displayName": null})),
        ("unknown state", json!({"state": "sometimes"})),
        ("unknown control", json!({"grantControls": {"builtInControls": ["teleport"]}})),
        ("block with mfa", json!({"grantControls": {"builtInControls": ["block", "mfa"]}})),
        ("no controls", json!({"grantControls": null})),
        ("no users", json!({"conditions": {"users": null}})),
        ("unknown location", json!({"conditions": {"locations": {"includeLocations": [uuid::Uuid::new_v4()]}}})),
        ("bad platform", json!({"conditions": {"platforms": {"includePlatforms": ["amiga"]}}})),
        ("bad risk", json!({"conditions": {"signInRiskLevels": ["extreme"]}})),
        ("wrong type", json!({"conditions": {"users": {"includeUsers": "All"}}})),
        ("frequency without type", json!({"sessionControls": {"signInFrequency": {"value": 1, "isEnabled": true}}})),
    ];
    for (what, patch) in bad_cases {
        let mut body = valid.clone();
        merge(&mut body, &patch);
        let r = ts.graph("POST", POLICIES, tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert!(r.json["error"]["code"].is_string() && r.json["error"]["message"].is_string(), "{what}: {}", r.text);
    }
    for raw in ["[]", "not json", "{\"displayName\": 5}"] {
        let req = axum::http::Request::post("/v1.0/identity/conditionalAccess/policies")
            .header("authorization", format!("Bearer {tok}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(raw))
            .unwrap();
        let r = ts.request(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}: {}", r.text);
    }
    let r = ts.graph("PATCH", &format!("{POLICIES}/{id}"), tok, Some(json!({"state": "sometimes"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ts.graph("GET", &format!("{POLICIES}/{}", uuid::Uuid::new_v4()), tok, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Named locations: IP ranges and countries.
    let ip = ts
        .graph("POST", LOCATIONS, tok, Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/32"}]})))
        .await;
    assert_eq!(ip.status, StatusCode::CREATED, "{}", ip.text);
    assert_eq!(ip.json["@odata.type"], "#microsoft.graph.ipNamedLocation");
    assert_eq!(ip.json["ipRanges"][1]["cidrAddress"], "2001:db8::/32");
    let ip_id = ip.json["id"].as_str().unwrap().to_string();
    let country = ts
        .graph("POST", LOCATIONS, tok, Some(json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "Blocked",
            "countriesAndRegions": ["KP", "IR"], "includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"})))
        .await;
    assert_eq!(country.status, StatusCode::CREATED, "{}", country.text);
    let country_id = country.json["id"].as_str().unwrap().to_string();
    let got = ts.graph("GET", &format!("{LOCATIONS}/{country_id}"), tok, None).await;
    assert_eq!(got.json["countriesAndRegions"], json!(["KP", "IR"]));
    assert_eq!(got.json["@odata.type"], "#microsoft.graph.countryNamedLocation");
    let r = ts
        .graph(
            "PATCH",
            &format!("{LOCATIONS}/{ip_id}"),
            tok,
            Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Head office"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(ts.graph("GET", &format!("{LOCATIONS}/{ip_id}"), tok, None).await.json["displayName"], "Head office");
    for bad in [
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "300.1.2.3/8"}]}),
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": []}),
        json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x", "countriesAndRegions": ["Narnia"]}),
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]}),
        json!({"displayName": "no type"}),
    ] {
        let r = ts.graph("POST", LOCATIONS, tok, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    let locs = ts.graph("GET", LOCATIONS, tok, None).await;
    assert_eq!(locs.json["value"].as_array().unwrap().len(), 2);

    // A location a policy uses cannot be deleted.
    let uses = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(json!({"displayName": "Outside HQ", "state": "disabled",
            "conditions": {"users": {"includeUsers": [s.alice.id]}, "applications": {"includeApplications": ["All"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": [ip_id]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})),
        )
        .await;
    assert_eq!(uses.status, StatusCode::CREATED, "{}", uses.text);
    let r = ts.graph("DELETE", &format!("{LOCATIONS}/{ip_id}"), tok, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("used by a Conditional Access policy"));
    let uses_id = uses.json["id"].as_str().unwrap();
    assert_eq!(ts.graph("DELETE", &format!("{POLICIES}/{uses_id}"), tok, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.graph("DELETE", &format!("{LOCATIONS}/{ip_id}"), tok, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.graph("GET", &format!("{LOCATIONS}/{ip_id}"), tok, None).await.status, StatusCode::NOT_FOUND);

    // Permissions: an app without a policy permission can neither read nor write.
    let reader = reader_token(&s).await;
    assert_eq!(ts.graph("GET", POLICIES, &reader, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ts.graph("GET", &format!("{POLICIES}/{id}"), &reader, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ts.graph("POST", POLICIES, &reader, Some(valid.clone())).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ts.graph("GET", LOCATIONS, &reader, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(ts.graph("DELETE", &format!("{POLICIES}/{id}"), &reader, None).await.status, StatusCode::FORBIDDEN);

    // Tenant isolation: another tenant neither sees nor changes them.
    let other = ts.create_tenant("Fabrikam").await;
    let other_tok = ts.graph_token(&other).await;
    let theirs = ts.graph("GET", POLICIES, &other_tok, None).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(theirs.json["value"].as_array().unwrap().is_empty(), "{}", theirs.text);
    assert!(ts.graph("GET", LOCATIONS, &other_tok, None).await.json["value"].as_array().unwrap().is_empty());
    let path = format!("{POLICIES}/{id}");
    assert_eq!(ts.graph("GET", &path, &other_tok, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ts.graph("PATCH", &path, &other_tok, Some(json!({"state": "enabled"}))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ts.graph("DELETE", &path, &other_tok, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ts.graph("DELETE", &format!("{LOCATIONS}/{country_id}"), &other_tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ts.graph("GET", &path, tok, None).await.json["state"], "disabled");

    assert_eq!(ts.graph("DELETE", &path, tok, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.graph("GET", &path, tok, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(ts.graph("DELETE", &path, tok, None).await.status, StatusCode::NOT_FOUND);

    // Every write is in the directory audit log.
    for (activity, count) in [
        ("Add conditional access policy", 2),
        ("Update conditional access policy", 1),
        ("Delete conditional access policy", 2),
        ("Add named location", 2),
        ("Update named location", 1),
        ("Delete named location", 1),
    ] {
        let found = audits(&s, activity).await;
        assert_eq!(found.len(), count, "{activity}: {found:?}");
        assert_eq!(found[0]["category"], "Policy");
        assert_eq!(found[0]["result"], "success");
        assert_eq!(found[0]["initiatedBy"]["app"]["appId"], ts.t.client_id.as_str());
    }
    let add = audits(&s, "Add conditional access policy").await;
    assert!(
        add.iter()
            .any(|a| a["targetResources"][0]["id"] == id.as_str() && a["targetResources"][0]["displayName"] == "Demo")
    );
}

// --- 2. Lockout guard ------------------------------------------------------------------------

#[tokio::test]
async fn the_lockout_guard_refuses_policies_that_block_every_administrator() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    let block_all = |extra: Value| {
        let mut body = json!({"displayName": "Block everyone", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
        merge(&mut body, &extra);
        body
    };
    let r = ts.graph("POST", POLICIES, tok, Some(block_all(json!({})))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("lock administrators out") && msg.contains("Ostiary-Allow-Lockout"), "{msg}");
    assert!(msg.contains(&s.admin_user), "names the administrator: {msg}");
    assert!(!msg.contains(".."), "{msg}");
    assert!(ts.graph("GET", POLICIES, tok, None).await.json["value"].as_array().unwrap().is_empty());

    // Report-only and disabled policies are never enforced: accepted.
    for state in ["enabledForReportingButNotEnforced", "disabled"] {
        let r = ts.graph("POST", POLICIES, tok, Some(block_all(json!({"state": state})))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{state}: {}", r.text);
    }
    // Enabling one later is checked too.
    let disabled = ts.graph("GET", POLICIES, tok, None).await.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["state"] == "disabled")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ts.graph("PATCH", &format!("{POLICIES}/{disabled}"), tok, Some(json!({"state": "enabled"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Excluding the administrator, or a group holding them, keeps a way in.
    let r = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(block_all(json!({"conditions": {"users": {"excludeUsers": [s.admin_user]}}}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let admins = add_group(&s, "tenant-admins", &[&s.admin_user]).await;
    let r = ts
        .graph("POST", POLICIES, tok, Some(block_all(json!({"conditions": {"users": {"excludeGroups": [admins]}}}))))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(block_all(json!({"conditions": {"users": {"excludeRoles": [GLOBAL_ADMIN]}}}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A narrowing condition (a location) leaves a way in as well.
    let hq = ts
        .graph("POST", LOCATIONS, tok, Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]})))
        .await;
    let hq = hq.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(block_all(
                json!({"conditions": {"locations": {"includeLocations": ["All"], "excludeLocations": [hq]}}}),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Excluding an unrelated user does not help: every administrator is still blocked.
    let r = ts
        .graph("POST", POLICIES, tok, Some(block_all(json!({"conditions": {"users": {"excludeUsers": [s.alice.id]}}}))))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Forced: the administrator knowingly saves it.
    let r =
        ts.graph_with("POST", POLICIES, tok, Some(block_all(json!({}))), &[("Ostiary-Allow-Lockout", "true")]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = ts
        .graph_with(
            "PATCH",
            &format!("{POLICIES}/{disabled}"),
            tok,
            Some(json!({"state": "enabled"})),
            &[("Ostiary-Allow-Lockout", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn excluding_an_emergency_access_global_admin_satisfies_the_lockout_guard() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    let glass = add_user(&s, "breakglass", "Glass-Break-Only-9!").await;
    let tenant: ostiary_model::TenantId = ts.t.tenant_id.parse().unwrap();
    ts.core.assign_directory_role(tenant, glass.id.parse().unwrap(), GLOBAL_ADMIN).await.unwrap();
    let r = ts
        .graph("POST", "/identity/conditionalAccess/ostiaryEmergencyAccessAccounts", tok, Some(json!({"id": glass.id})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let listed = ts.graph("GET", "/identity/conditionalAccess/ostiaryEmergencyAccessAccounts", tok, None).await;
    assert_eq!(listed.json["value"], json!([{"id": glass.id}]));
    // Excluding a user who is not an emergency-access account does not open a door: refused,
    // and the message names the administrator it would lock out.
    let other = add_user(&s, "notglass", "Not-Glass-At-All-9!").await;
    let body = json!({"displayName": "Block all but someone", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [other.id]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let r = ts.graph("POST", POLICIES, tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&s.admin_user), "{msg}");
    // Excluding the emergency-access Global Administrator keeps the break-glass door open: accepted.
    let body = json!({"displayName": "Block all but break-glass", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [glass.id]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let r = ts.graph("POST", POLICIES, tok, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let audit = audits(&s, "Add emergency access account").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
}

// --- 3. Interactive block and report-only ----------------------------------------------------

#[tokio::test]
async fn a_block_policy_ends_the_flow_with_53003_and_report_only_is_logged_not_enforced() {
    let s = setup().await;
    let policy = add_policy(&s, "Block Orders", &[&s.alice.id], block()).await;
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    let loc = w.location.unwrap_or_else(|| panic!("expected an error redirect: {}", w.page.text));
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{loc}");
    assert!(q["error_description"].starts_with("AADSTS53003"), "{loc}");
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    assert!(!q.contains_key("code"));
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["status"]["errorCode"], 53003);
    assert_eq!(v[0]["conditionalAccessStatus"], "failure");
    let p = applied(&v[0], &policy);
    assert_eq!(p["result"], "failure");
    assert_eq!(p["displayName"], "Block Orders");
    assert_eq!(p["enforcedGrantControls"], json!(["Block"]));
    assert_eq!(v[0]["appId"], s.client_app_id.as_str());

    // SSO to the portal app with the same session is blocked too (the policy targets the resource).
    let r = b.get(&s.ts, &authorize_url(&s, &s.portal_app_id, PORTAL_REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    let loc = w.location.unwrap();
    assert!(query_of(&loc)["error_description"].starts_with("AADSTS53003"), "{loc}");

    // Report-only: evaluated and logged, never enforced.
    let r =
        s.ts.graph(
            "PATCH",
            &format!("{POLICIES}/{policy}"),
            &s.admin,
            Some(json!({"state": "enabledForReportingButNotEnforced"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    let code = w.code();
    assert_eq!(redeem(&s, &code).await.status, StatusCode::OK);
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["status"]["errorCode"], 0, "{}", v[0]);
    assert_eq!(v[0]["conditionalAccessStatus"], "notApplied");
    assert_eq!(applied(&v[0], &policy)["result"], "reportOnlyFailure");
    // The token redemption evaluated the policy too, and logged it.
    let nonint = sign_ins(&s, &format!("userPrincipalName eq '{}' and isInteractive eq false", s.alice.upn)).await;
    assert_eq!(nonint.len(), 1, "{nonint:?}");
    assert_eq!(applied(&nonint[0], &policy)["result"], "reportOnlyFailure");
}

// --- 4. MFA required -------------------------------------------------------------------------

#[tokio::test]
async fn mfa_policy_registers_an_authenticator_then_challenges_with_replay_protection_and_recovery_codes() {
    let s = setup().await;
    let policy = add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;

    // First sign-in: no method yet, so the user registers an authenticator app.
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert!(w.location.is_none(), "{:?}", w.location);
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    assert!(!w.page.text.contains("id=\"skip\""), "a policy's registration cannot be skipped");
    // A wrong code is refused on the register page.
    let secret = between(&w.page.text, "id=\"totp-secret\">", "</code>").to_string();
    let r = submit(&mut b, &s.ts, &w.page, Some("totp"), &[("otp", &wrong_code(&s, &secret))]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("id=\"error\""), "{}", r.text);
    let (secret, first_code, page) = register_totp(&s, &mut b, &r).await;
    assert_eq!(kind(&page), "codes", "{}", page.text);
    let codes = recovery_codes(&page);
    assert_eq!(codes.len(), 10, "{codes:?}");
    let unique: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    let r = submit(&mut b, &s.ts, &page, None, &[]).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    let t = redeem(&s, &w.code()).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let id_token = jwt_claims(t.json["id_token"].as_str().unwrap());
    assert_eq!(id_token["oid"], s.alice.id.as_str());
    // The refresh token carries the methods: refreshing under the MFA policy works.
    let r = refresh(&s, t.json["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let v = interactive(&s, &s.alice).await;
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[1]["status"]["errorCode"], 50079, "the interrupt: {}", v[1]);
    assert_eq!(v[1]["conditionalAccessStatus"], "failure");
    assert_eq!(v[0]["status"]["errorCode"], 0, "{}", v[0]);
    assert_eq!(v[0]["authenticationRequirement"], "multiFactorAuthentication");
    assert_eq!(v[0]["conditionalAccessStatus"], "success");
    assert_eq!(applied(&v[0], &policy)["result"], "success");
    let details = v[0]["authenticationDetails"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["authenticationMethod"] == "OATH verification code" && d["succeeded"] == true),
        "{details:?}"
    );

    // Single sign-on to another app in the same browser: MFA travels with the session.
    let r = b.get(&s.ts, &authorize_url(&s, &s.portal_app_id, PORTAL_REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{:?} {}", w.seen, w.page.text);
    assert!(!w.seen.contains(&"signin"));
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["appId"], s.portal_app_id.as_str());
    assert_eq!(v[0]["authenticationRequirement"], "multiFactorAuthentication");
    assert_eq!(v[0]["authenticationProtocol"], "sso");

    // Another browser: password, then the MFA page.
    let mut b2 = Browser::default();
    let w = sign_in(&s, &mut b2, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "mfa", "{}", w.page.text);
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["status"]["errorCode"], 50074, "{}", v[0]);
    // A wrong code is refused and logged.
    let r = submit(&mut b2, &s.ts, &w.page, Some("totp"), &[("otp", &wrong_code(&s, &secret))]).await;
    assert_eq!(kind(&r), "mfa");
    assert!(r.text.contains("That code didn"), "{}", r.text);
    let failed = sign_ins(&s, "status/errorCode eq 500121").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["userId"], s.alice.id.as_str());
    // The code used at registration is a replay.
    let r = submit(&mut b2, &s.ts, &r, Some("totp"), &[("otp", &first_code)]).await;
    assert!(r.text.contains("already used"), "{}", r.text);
    // The next time step's code works.
    s.ts.clock.advance(time::Duration::seconds(30));
    let next = totp_now(&s, &secret);
    assert_ne!(next, first_code);
    let r = submit(&mut b2, &s.ts, &r, Some("totp"), &[("otp", &next)]).await;
    let w = walk(&s.ts, &mut b2, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    assert_eq!(redeem(&s, &w.code()).await.status, StatusCode::OK);
    // ...once.
    let mut b3 = Browser::default();
    let w = sign_in(&s, &mut b3, &s.alice, PASSWORD).await;
    let r = submit(&mut b3, &s.ts, &w.page, Some("totp"), &[("otp", &next)]).await;
    assert!(r.text.contains("already used"), "{}", r.text);

    // A recovery code works once.
    let r = submit(&mut b3, &s.ts, &r, Some("recovery"), &[("recovery_code", &codes[0])]).await;
    let w = walk(&s.ts, &mut b3, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["authenticationRequirement"], "multiFactorAuthentication");
    let mut b4 = Browser::default();
    let w = sign_in(&s, &mut b4, &s.alice, PASSWORD).await;
    let r = submit(&mut b4, &s.ts, &w.page, Some("recovery"), &[("recovery_code", &codes[0])]).await;
    assert_eq!(kind(&r), "mfa", "a used recovery code is refused: {}", r.text);
    assert!(r.text.contains("id=\"error\""));
    let r = submit(&mut b4, &s.ts, &r, Some("recovery"), &[("recovery_code", &codes[1])]).await;
    let w = walk(&s.ts, &mut b4, r, None).await;
    assert!(w.location.is_some(), "{}", w.page.text);
}

// --- 5. Token endpoint -----------------------------------------------------------------------

#[tokio::test]
async fn refresh_after_a_new_mfa_policy_and_client_credentials_under_a_workload_policy() {
    let s = setup().await;
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    let t = redeem(&s, &w.code()).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let rt = t.json["refresh_token"].as_str().unwrap().to_string();
    let t = refresh(&s, &rt).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let rt = t.json["refresh_token"].as_str().unwrap().to_string();

    let policy = add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let r = refresh(&s, &rt).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"], "interaction_required");
    assert_eq!(r.json["error_codes"], json!([50076]));
    assert!(r.json["error_description"].as_str().unwrap().starts_with("AADSTS50076"), "{}", r.text);
    let v = sign_ins(&s, "status/errorCode eq 50076").await;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["isInteractive"], false);
    assert_eq!(v[0]["userId"], s.alice.id.as_str());
    assert_eq!(v[0]["conditionalAccessStatus"], "failure");
    assert_eq!(applied(&v[0], &policy)["result"], "failure");

    // Client credentials: a workload-identity policy blocks only the service principal it names.
    let scope = "api://orders/.default";
    let ok = s.ts.token_for(&s.ts.t.tenant_id, &s.client_app_id, &s.client_secret, scope).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let r =
        s.ts.graph(
            "POST",
            POLICIES,
            &s.admin,
            Some(json!({"displayName": "Block the web app's identity", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]},
                "clientApplications": {"includeServicePrincipals": [s.client_sp]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let workload = r.json["id"].as_str().unwrap().to_string();
    let r = s.ts.token_for(&s.ts.t.tenant_id, &s.client_app_id, &s.client_secret, scope).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"], "invalid_grant");
    assert_eq!(r.json["error_codes"], json!([53003]));
    // Other service principals are unaffected.
    let admin = s.ts.token_for(&s.ts.t.tenant_id, &s.ts.t.client_id, &s.ts.t.client_secret, scope).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);
    let v = sign_ins(&s, &format!("status/errorCode eq 53003 and appId eq '{}'", s.client_app_id)).await;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["signInEventTypes"], json!(["servicePrincipal"]));
    assert_eq!(v[0]["conditionalAccessStatus"], "failure");
    assert_eq!(applied(&v[0], &workload)["result"], "failure");
    // The user policy did not apply to the service principal: not listed.
    assert!(listed(&v[0], &policy).is_none(), "{}", v[0]);
}

// --- 6. What-If ------------------------------------------------------------------------------

#[tokio::test]
async fn what_if_explains_each_policy_for_groups_locations_platforms_and_risk() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    let bob = add_user(&s, "bob", PASSWORD).await;
    let exempt = add_group(&s, "mfa-exempt", &[&bob.id]).await;
    let hq = ts
        .graph("POST", LOCATIONS, tok, Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]})))
        .await;
    assert_eq!(hq.status, StatusCode::CREATED, "{}", hq.text);
    let both = [s.alice.id.as_str(), bob.id.as_str()];
    let mfa = add_policy(
        &s,
        "MFA except exempt",
        &["All"],
        json!({"conditions": {"users": {"excludeGroups": [exempt]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
    )
    .await;
    let outside = add_policy(&s, "Block outside trusted", &both, json!({"conditions": {"locations":
        {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}, "grantControls": {"operator": "OR", "builtInControls": ["block"]}})).await;
    let ios = add_policy(
        &s,
        "Block iOS",
        &both,
        json!({"conditions": {"platforms": {"includePlatforms": ["iOS"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    )
    .await;
    let risky = add_policy(
        &s,
        "Block high sign-in risk",
        &both,
        json!({"conditions": {"signInRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    )
    .await;

    let what_if = |user: &str, ip: &str, platform: &str, risk: &str| {
        json!({
            "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user},
            "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [s.api_app_id]},
            "signInConditions": {"ipAddress": ip, "devicePlatform": platform, "signInRiskLevel": risk, "clientAppType": "browser"},
        })
    };
    // (user, ip, platform, risk) → (policy → (applies, result, analysisReasons)), outcome
    type Expect<'a> = Vec<(&'a str, bool, &'a str, &'a str)>;
    let cases: Vec<(&str, Value, Expect, &str)> = vec![
        (
            "alice at HQ on Windows",
            what_if(&s.alice.id, "203.0.113.9", "windows", "none"),
            vec![
                (mfa.as_str(), true, "failure", "notSet"),
                (outside.as_str(), false, "notApplied", "location"),
                (ios.as_str(), false, "notApplied", "devicePlatform"),
                (risky.as_str(), false, "notApplied", "signInRisk"),
            ],
            "interrupt",
        ),
        (
            "exempt bob outside on iOS",
            what_if(&bob.id, "198.51.100.4", "iOS", "none"),
            vec![
                (mfa.as_str(), false, "notApplied", "users"),
                (outside.as_str(), true, "failure", "notSet"),
                (ios.as_str(), true, "failure", "notSet"),
                (risky.as_str(), false, "notApplied", "signInRisk"),
            ],
            "block",
        ),
        (
            "alice at HQ on Android with high risk",
            what_if(&s.alice.id, "203.0.113.9", "android", "high"),
            vec![
                (mfa.as_str(), true, "failure", "notSet"),
                (outside.as_str(), false, "notApplied", "location"),
                (ios.as_str(), false, "notApplied", "devicePlatform"),
                (risky.as_str(), true, "failure", "notSet"),
            ],
            "block",
        ),
    ];
    for (what, body, expect, outcome) in cases {
        let r = ts.graph("POST", EVALUATE, tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text);
        assert!(r.json["ostiaryOutcome"].as_str().unwrap().starts_with(outcome), "{what}: {}", r.text);
        assert_eq!(r.json["ostiaryEmergencyAccessAccount"], false);
        let values = r.json["value"].as_array().unwrap();
        assert_eq!(values.len(), 4, "{what}: {}", r.text);
        for (id, applies, result, reason) in expect {
            let p = values.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{what}: {id} missing"));
            assert_eq!(p["policyApplies"], applies, "{what} / {}: {p}", p["displayName"]);
            assert_eq!(p["ostiaryResult"], result, "{what} / {}: {p}", p["displayName"]);
            assert_eq!(p["analysisReasons"], reason, "{what} / {}: {p}", p["displayName"]);
            let why = p["ostiaryExplanation"].as_array().unwrap();
            assert!(!why.is_empty() && why.iter().all(Value::is_string), "{what}: {p}");
            assert!(p["conditions"].is_object(), "the policy itself is returned: {p}");
        }
    }
    // appliedPoliciesOnly filters to the policies that apply.
    let mut only = what_if(&bob.id, "198.51.100.4", "iOS", "none");
    only["appliedPoliciesOnly"] = json!(true);
    let r = ts.graph("POST", EVALUATE, tok, Some(only)).await;
    let ids: Vec<&str> = r.json["value"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&outside.as_str()) && ids.contains(&ios.as_str()));

    // A service principal's hypothetical sign-in: only workload-identity policies apply.
    let workload = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(json!({"displayName": "Block the web app's identity", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]},
                "clientApplications": {"includeServicePrincipals": [s.client_sp]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}})),
        )
        .await;
    assert_eq!(workload.status, StatusCode::CREATED, "{}", workload.text);
    let sp_body = |sp: &str| {
        json!({
        "signInIdentity": {"@odata.type": "#microsoft.graph.servicePrincipalSignIn", "servicePrincipalId": sp},
        "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [s.api_app_id]},
        "signInConditions": {"clientAppType": "other"}})
    };
    let r = ts.graph("POST", EVALUATE, tok, Some(sp_body(&s.client_sp))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["ostiaryOutcome"].as_str().unwrap().starts_with("block"), "{}", r.text);
    for p in r.json["value"].as_array().unwrap() {
        let is_workload = p["id"] == workload.json["id"];
        assert_eq!(p["policyApplies"], is_workload, "{p}");
        if !is_workload {
            assert_eq!(p["analysisReasons"], "users", "{p}");
        }
    }
    let r = ts.graph("POST", EVALUATE, tok, Some(what_if(&s.alice.id, "203.0.113.9", "windows", "none"))).await;
    let w = r.json["value"].as_array().unwrap().iter().find(|p| p["id"] == workload.json["id"]).unwrap().clone();
    assert_eq!(w["policyApplies"], false);
    assert_eq!(w["analysisReasons"], "workloadIdentities");
    let admin_sp = ts.graph("GET", &format!("/servicePrincipals(appId='{}')", ts.t.client_id), tok, None).await;
    let r = ts.graph("POST", EVALUATE, tok, Some(sp_body(admin_sp.json["id"].as_str().unwrap()))).await;
    assert!(r.json["ostiaryOutcome"].as_str().unwrap().starts_with("allow"), "{}", r.text);
    let r = s.ts.graph("DELETE", &format!("{POLICIES}/{}", workload.json["id"].as_str().unwrap()), tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Emergency-access accounts are flagged.
    let r = ts
        .graph("POST", "/identity/conditionalAccess/ostiaryEmergencyAccessAccounts", tok, Some(json!({"id": bob.id})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts.graph("POST", EVALUATE, tok, Some(what_if(&bob.id, "203.0.113.9", "windows", "none"))).await;
    assert_eq!(r.json["ostiaryEmergencyAccessAccount"], true);
    let r = ts.graph("POST", EVALUATE, tok, Some(what_if(&s.alice.id, "203.0.113.9", "windows", "none"))).await;
    assert_eq!(r.json["ostiaryEmergencyAccessAccount"], false);
    let r = ts
        .graph("DELETE", &format!("/identity/conditionalAccess/ostiaryEmergencyAccessAccounts/{}", bob.id), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = ts.graph("POST", EVALUATE, tok, Some(what_if(&bob.id, "203.0.113.9", "windows", "none"))).await;
    assert_eq!(r.json["ostiaryEmergencyAccessAccount"], false);

    // Bad input is a 400 with a Graph error.
    let bad: Vec<(&str, Value)> = vec![
        ("ip", what_if(&s.alice.id, "not-an-ip", "windows", "none")),
        ("platform", what_if(&s.alice.id, "203.0.113.9", "toaster", "none")),
        ("risk", what_if(&s.alice.id, "203.0.113.9", "windows", "extreme")),
        ("user id", what_if("nope", "203.0.113.9", "windows", "none")),
        ("no user", json!({"signInContext": {"includeApplications": [s.api_app_id]}})),
        ("no app", json!({"signInIdentity": {"userId": s.alice.id}})),
        ("app id", json!({"signInIdentity": {"userId": s.alice.id}, "signInContext": {"includeApplications": ["x"]}})),
        (
            "country",
            json!({"signInIdentity": {"userId": s.alice.id}, "signInContext": {"includeApplications": [s.api_app_id]},
            "signInConditions": {"country": "Narnia"}}),
        ),
    ];
    for (what, body) in bad {
        let r = ts.graph("POST", EVALUATE, tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert!(r.json["error"]["message"].is_string(), "{what}: {}", r.text);
    }
    let r = ts
        .graph(
            "POST",
            EVALUATE,
            tok,
            Some(what_if(&uuid::Uuid::new_v4().to_string(), "203.0.113.9", "windows", "none")),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(ts.graph("GET", EVALUATE, tok, None).await.status, StatusCode::METHOD_NOT_ALLOWED);
    let reader = reader_token(&s).await;
    let r = ts.graph("POST", EVALUATE, &reader, Some(what_if(&s.alice.id, "203.0.113.9", "windows", "none"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

// --- 7. Identity Protection ------------------------------------------------------------------

fn with_ip(ip: &str) -> Browser {
    Browser { headers: vec![("x-forwarded-for".into(), ip.into())], ..Default::default() }
}

#[tokio::test]
async fn identity_protection_detects_spray_and_leaks_and_user_risk_blocks_until_dismissed() {
    let config: ostiary_risk::RiskConfig = serde_json::from_value(json!({"spray_min_accounts": 3,
        "brute_force_min_failures": 3, "anonymizing_ranges": ["185.220.101.0/24"]}))
    .unwrap();
    let breached = ostiary_risk::BreachedPasswords::from_lines("Leaked-Summer-Pass-77\nsomething-else\n");
    let s = setup_with(Some(ostiary_core::risk::Protection { config, breached: Some(breached) })).await;
    let (ts, tok) = (&s.ts, &s.admin);
    let bob = add_user(&s, "bob", PASSWORD).await;
    let carol = add_user(&s, "carol", "Leaked-Summer-Pass-77").await;
    let dave = add_user(&s, "dave", PASSWORD).await;
    let ghost = User { upn: format!("ghost@{}", ts.t.domain), id: String::new() };

    // A password spray: wrong passwords for three accounts (one of them unknown) from one IP.
    for u in [&s.alice, &bob, &ghost] {
        let mut b = with_ip("198.51.100.66");
        let w = sign_in(&s, &mut b, u, "Spring2026!x").await;
        assert_eq!(kind(&w.page), "signin", "{}", w.page.text);
        assert!(w.page.text.contains("incorrect"), "{}", w.page.text);
    }
    let r = ts.graph("GET", "/identityProtection/riskDetections", tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let detections = r.json["value"].as_array().unwrap().clone();
    let spray: Vec<&Value> = detections.iter().filter(|d| d["riskEventType"] == "passwordSpray").collect();
    let mut victims: Vec<&str> = spray.iter().map(|d| d["userId"].as_str().unwrap()).collect();
    victims.sort();
    let mut expected = vec![s.alice.id.as_str(), bob.id.as_str()];
    expected.sort();
    assert_eq!(victims, expected, "{detections:?}");
    for d in &spray {
        assert_eq!(d["ipAddress"], "198.51.100.66");
        assert_eq!(d["riskLevel"], "high");
        assert_eq!(d["riskState"], "atRisk");
        for k in [
            "id",
            "requestId",
            "correlationId",
            "riskDetail",
            "source",
            "detectionTimingType",
            "activity",
            "tokenIssuerType",
            "activityDateTime",
            "detectedDateTime",
            "lastUpdatedDateTime",
            "userPrincipalName",
            "userDisplayName",
            "location",
            "additionalInfo",
        ] {
            assert!(d.get(k).is_some(), "riskDetection lacks {k}: {d}");
        }
        let info: Value = serde_json::from_str(d["additionalInfo"].as_str().unwrap()).unwrap();
        assert!(info.as_array().unwrap().iter().any(|kv| kv["Key"] == "accountsTargeted"), "{info}");
    }
    let alice_spray = spray.iter().find(|d| d["userId"] == s.alice.id.as_str()).unwrap();
    assert_eq!(alice_spray["userPrincipalName"], s.alice.upn.as_str());
    assert_eq!(alice_spray["userDisplayName"], "alice");
    let one = ts
        .graph("GET", &format!("/identityProtection/riskDetections/{}", alice_spray["id"].as_str().unwrap()), tok, None)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["riskEventType"], "passwordSpray");

    // A breached password is flagged when it succeeds.
    let mut b = with_ip("192.0.2.10");
    let w = sign_in(&s, &mut b, &carol, "Leaked-Summer-Pass-77").await;
    assert!(w.location.is_some(), "{}", w.page.text);
    let leaked: Vec<Value> = ts.graph("GET", "/identityProtection/riskDetections", tok, None).await.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["riskEventType"] == "leakedCredentials")
        .cloned()
        .collect();
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert_eq!(leaked[0]["userId"], carol.id.as_str());
    assert_eq!(leaked[0]["userPrincipalName"], carol.upn.as_str());
    let v = interactive(&s, &carol).await;
    assert_eq!(v[0]["riskLevelDuringSignIn"], "high", "{}", v[0]);
    assert_eq!(v[0]["riskEventTypes_v2"], json!(["leakedCredentials"]));
    assert_eq!(v[0]["riskState"], "atRisk");

    let risky = ts.graph("GET", "/identityProtection/riskyUsers", tok, None).await;
    assert_eq!(risky.status, StatusCode::OK, "{}", risky.text);
    let users = risky.json["value"].as_array().unwrap();
    let carol_risk = users.iter().find(|u| u["id"] == carol.id.as_str()).unwrap_or_else(|| panic!("{users:?}"));
    for k in ["isDeleted", "isProcessing", "riskLastUpdatedDateTime", "riskDetail"] {
        assert!(carol_risk.get(k).is_some(), "riskyUser lacks {k}: {carol_risk}");
    }
    assert_eq!(carol_risk["riskLevel"], "high");
    assert_eq!(carol_risk["riskState"], "atRisk");
    assert_eq!(carol_risk["userPrincipalName"], carol.upn.as_str());
    assert_eq!(carol_risk["userDisplayName"], "carol");
    assert!(users.iter().any(|u| u["id"] == s.alice.id.as_str()), "spray victims are risky users");

    // A user-risk policy blocks a user an administrator confirms compromised; dismiss lifts it.
    let policy = add_policy(
        &s,
        "Block high user risk",
        &[&dave.id],
        json!({"conditions": {"userRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    )
    .await;
    let mut b = Browser::default();
    assert!(sign_in(&s, &mut b, &dave, PASSWORD).await.location.unwrap().contains("code="));
    let r = ts
        .graph("POST", "/identityProtection/riskyUsers/confirmCompromised", tok, Some(json!({"userIds": [dave.id]})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let d = ts.graph("GET", &format!("/identityProtection/riskyUsers/{}", dave.id), tok, None).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    assert_eq!(d.json["riskState"], "confirmedCompromised");
    assert_eq!(d.json["riskLevel"], "high");
    assert_eq!(d.json["riskDetail"], "adminConfirmedUserCompromised");
    let mut b = Browser::default();
    let loc = sign_in(&s, &mut b, &dave, PASSWORD).await.location.unwrap();
    assert!(query_of(&loc)["error_description"].starts_with("AADSTS53003"), "{loc}");
    let v = interactive(&s, &dave).await;
    assert_eq!(applied(&v[0], &policy)["result"], "failure");
    let r = ts.graph("POST", "/identityProtection/riskyUsers/dismiss", tok, Some(json!({"userIds": [dave.id]}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let d = ts.graph("GET", &format!("/identityProtection/riskyUsers/{}", dave.id), tok, None).await;
    assert_eq!(d.json["riskState"], "dismissed");
    assert_eq!(d.json["riskLevel"], "none");
    assert_eq!(d.json["riskDetail"], "adminDismissedAllRiskForUser");
    let mut b = Browser::default();
    assert!(sign_in(&s, &mut b, &dave, PASSWORD).await.location.unwrap().contains("code="));
    for (activity, target) in [("Confirm user compromised", &dave.id), ("Dismiss user risk", &dave.id)] {
        let a = audits(&s, activity).await;
        assert_eq!(a.len(), 1, "{activity}: {a:?}");
        assert_eq!(a[0]["targetResources"][0]["id"], target.as_str());
        assert_eq!(a[0]["initiatedBy"]["app"]["appId"], ts.t.client_id.as_str());
    }
    // Brute force against one account from several addresses.
    let erin = add_user(&s, "erin", PASSWORD).await;
    for ip in ["192.0.2.21", "192.0.2.22", "192.0.2.23"] {
        let mut b = with_ip(ip);
        let w = sign_in(&s, &mut b, &erin, "Not-Her-Password-1").await;
        assert_eq!(kind(&w.page), "signin");
    }
    let brute: Vec<Value> = ts.graph("GET", "/identityProtection/riskDetections", tok, None).await.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["riskEventType"] == "bruteForce")
        .cloned()
        .collect();
    assert_eq!(brute.len(), 1, "{brute:?}");
    assert_eq!(brute[0]["userId"], erin.id.as_str());
    let failed = sign_ins(&s, &format!("userPrincipalName eq '{}' and status/errorCode eq 50126", erin.upn)).await;
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["userId"], "", "a failed attempt still does not name the account's object id");
    // Sign-in risk feeds Conditional Access in the same sign-in: an anonymizing address.
    let frank = add_user(&s, "frank", PASSWORD).await;
    let risky_policy = add_policy(
        &s,
        "Block risky sign-ins",
        &[&frank.id],
        json!({"conditions": {"signInRiskLevels": ["medium", "high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    )
    .await;
    let mut b = with_ip("185.220.101.9");
    let loc = sign_in(&s, &mut b, &frank, PASSWORD).await.location.unwrap();
    assert!(query_of(&loc)["error_description"].starts_with("AADSTS53003"), "{loc}");
    let v = interactive(&s, &frank).await;
    assert_eq!(v[0]["riskLevelDuringSignIn"], "medium", "{}", v[0]);
    assert_eq!(v[0]["riskEventTypes_v2"], json!(["anonymizedIPAddress"]));
    assert_eq!(applied(&v[0], &risky_policy)["result"], "failure");
    let mut b = with_ip("192.0.2.50");
    assert!(sign_in(&s, &mut b, &frank, PASSWORD).await.location.unwrap().contains("code="));

    // Bad requests and permissions.
    for body in [json!({"userIds": []}), json!({"userIds": "x"}), json!({"ids": [dave.id]})] {
        let r = ts.graph("POST", "/identityProtection/riskyUsers/dismiss", tok, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    let r = ts
        .graph("POST", "/identityProtection/riskyUsers/dismiss", tok, Some(json!({"userIds": [uuid::Uuid::new_v4()]})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = ts.graph("GET", &format!("/identityProtection/riskyUsers/{}", uuid::Uuid::new_v4()), tok, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let reader = reader_token(&s).await;
    assert_eq!(ts.graph("GET", "/identityProtection/riskyUsers", &reader, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        ts.graph("GET", "/identityProtection/riskDetections", &reader, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r =
        ts.graph("POST", "/identityProtection/riskyUsers/dismiss", &reader, Some(json!({"userIds": [dave.id]}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

// --- 8. Authentication methods -----------------------------------------------------------------

#[tokio::test]
async fn methods_are_listed_without_secrets_deleted_reset_and_governed_by_the_methods_policy() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let (_, secret, _, codes) = enroll(&s, &s.alice).await;
    let methods = format!("/users/{}/authentication/methods", s.alice.id);
    let r = ts.graph("GET", &methods, tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let types: Vec<&str> =
        r.json["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 3, "{types:?}");
    for t in [
        "#microsoft.graph.passwordAuthenticationMethod",
        "#microsoft.graph.softwareOathAuthenticationMethod",
        "#microsoft.graph.ostiaryRecoveryCodesAuthenticationMethod",
    ] {
        assert!(types.contains(&t), "{t} missing: {types:?}");
    }
    // No secret, seed or code hash anywhere.
    assert!(!r.text.contains(&secret) && !r.text.contains("sealed") && !r.text.contains("hashes"), "{}", r.text);
    assert!(codes.iter().all(|c| !r.text.contains(c.as_str())));
    assert_eq!(
        r.json["value"].as_array().unwrap().iter().find(|m| m["remainingCodes"].is_number()).unwrap()["remainingCodes"],
        10
    );
    // By UPN too.
    assert_eq!(
        ts.graph("GET", &format!("/users/{}/authentication/methods", s.alice.upn), tok, None).await.status,
        StatusCode::OK
    );
    let oath = ts.graph("GET", &format!("/users/{}/authentication/softwareOathMethods", s.alice.id), tok, None).await;
    let oath_items = oath.json["value"].as_array().unwrap();
    assert_eq!(oath_items.len(), 1, "{}", oath.text);
    let oath_id = oath_items[0]["id"].as_str().unwrap().to_string();
    let one = ts
        .graph("GET", &format!("/users/{}/authentication/softwareOathMethods/{oath_id}", s.alice.id), tok, None)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json["secretKey"], Value::Null);

    // Delete the authenticator app: the recovery codes remain.
    let r = ts
        .graph("DELETE", &format!("/users/{}/authentication/softwareOathMethods/{oath_id}", s.alice.id), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts
        .graph("DELETE", &format!("/users/{}/authentication/softwareOathMethods/{oath_id}", s.alice.id), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let left = ts.graph("GET", &methods, tok, None).await;
    assert_eq!(left.json["value"].as_array().unwrap().len(), 2, "{}", left.text);
    assert_eq!(audits(&s, "Admin deleted security info").await.len(), 1);
    // An admin reset removes every method, audited.
    let r = ts.graph("POST", &format!("{methods}/ostiaryReset"), tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let left = ts.graph("GET", &methods, tok, None).await;
    let types: Vec<&str> =
        left.json["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(types, ["#microsoft.graph.passwordAuthenticationMethod"]);
    let reset = audits(&s, "Admin reset security info").await;
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0]["targetResources"][0]["id"], s.alice.id.as_str());
    let registered = audits(&s, "User registered security info").await;
    assert_eq!(registered.len(), 2, "the app and the recovery codes: {registered:?}");
    // Another tenant cannot see the methods; a reader app cannot change them.
    let other = ts.create_tenant("Fabrikam").await;
    let other_tok = ts.graph_token(&other).await;
    assert_eq!(ts.graph("GET", &methods, &other_tok, None).await.status, StatusCode::NOT_FOUND);
    let reader = reader_token(&s).await;
    assert_eq!(ts.graph("POST", &format!("{methods}/ostiaryReset"), &reader, None).await.status, StatusCode::FORBIDDEN);

    // The methods policy: without software OATH the register page offers no authenticator app.
    let r = ts
        .graph("PATCH", "/policies/authenticationMethodsPolicy", tok, Some(json!({"authenticationMethodConfigurations":
            [{"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethodConfiguration", "id": "SoftwareOath", "state": "disabled"}]})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let p = ts.graph("GET", "/policies/authenticationMethodsPolicy", tok, None).await;
    let configs = p.json["authenticationMethodConfigurations"].as_array().unwrap();
    assert_eq!(configs.iter().find(|c| c["id"] == "SoftwareOath").unwrap()["state"], "disabled");
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    assert!(!w.page.text.contains("totp-secret"), "{}", w.page.text);
    assert!(w.page.text.contains("create-passkey"), "passkeys are still offered");
    // A code posted anyway is not accepted.
    let r = submit(&mut b, ts, &w.page, Some("passkey"), &[("method", "totp"), ("otp", "123456")]).await;
    assert_eq!(kind(&r), "register", "{}", r.text);
    assert_eq!(ts.graph("GET", &methods, tok, None).await.json["value"].as_array().unwrap().len(), 1);
    for bad in [
        json!({"authenticationMethodConfigurations": [{"id": "Sms", "state": "enabled"}]}),
        json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"snoozeDurationInDays": 99}}}),
        json!({"nonsense": true}),
    ] {
        let r = ts.graph("PATCH", "/policies/authenticationMethodsPolicy", tok, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    assert!(!audits(&s, "Update authentication methods policy").await.is_empty());
}

#[tokio::test]
async fn a_registration_campaign_asks_users_without_a_method_and_can_be_snoozed() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    let r = ts
        .graph(
            "PATCH",
            "/policies/authenticationMethodsPolicy",
            tok,
            Some(json!({"registrationEnforcement":
            {"authenticationMethodsRegistrationCampaign": {"state": "enabled", "snoozeDurationInDays": 1,
                "includeTargets": [{"id": "all_users", "targetType": "group"}]}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let p = ts.graph("GET", "/policies/authenticationMethodsPolicy", tok, None).await;
    let c = &p.json["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"];
    assert_eq!(c["state"], "enabled");
    assert_eq!(c["snoozeDurationInDays"], 1);

    let bob = add_user(&s, "bob", PASSWORD).await;
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{:?} {}", w.location, w.page.text);
    assert!(w.page.text.contains("id=\"skip\"") && w.page.text.contains("Not now"), "{}", w.page.text);
    let r = submit(&mut b, ts, &w.page, Some("skip"), &[]).await;
    let w = walk(ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    // The sign-in itself succeeded (a campaign is not an interrupt).
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["status"]["errorCode"], 0);
    // A silent request is never interrupted by the campaign (it is a nudge, not a requirement).
    let api_sp =
        ts.graph("GET", &format!("/servicePrincipals(appId='{}')", s.api_app_id), tok, None).await.json["id"].clone();
    let r = ts
        .graph(
            "POST",
            "/oauth2PermissionGrants",
            tok,
            Some(json!({"clientId": s.client_sp, "consentType": "AllPrincipals",
            "resourceId": api_sp, "scope": "Orders.Read openid profile offline_access"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = format!("{}&prompt=none", authorize_url(&s, &s.client_app_id, REDIRECT));
    let mut silent = Browser::default();
    let w = sign_in(&s, &mut silent, &bob, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    let r = silent.get(ts, &url).await;
    let (_, loc) = silent.follow(ts, r, "https://app.test").await;
    assert!(loc.as_deref().is_some_and(|l| l.contains("code=")), "{loc:?}");
    // Snoozed for a day: not asked in another browser.
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    // After the snooze, asked again; registering ends the campaign for this user.
    ts.clock.advance(time::Duration::days(1) + time::Duration::minutes(1));
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    let (_, _, page) = register_totp(&s, &mut b, &w.page).await;
    assert_eq!(kind(&page), "codes", "{}", page.text);
    let r = submit(&mut b, ts, &page, None, &[]).await;
    let w = walk(ts, &mut b, r, None).await;
    assert!(w.location.is_some(), "{}", w.page.text);
    ts.clock.advance(time::Duration::days(2));
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
}

// --- 9. Sign-in frequency --------------------------------------------------------------------

#[tokio::test]
async fn sign_in_frequency_asks_for_the_password_again_after_the_interval() {
    let s = setup().await;
    add_policy(
        &s,
        "Sign in every hour",
        &[&s.alice.id],
        json!({"sessionControls": {"signInFrequency":
        {"value": 1, "type": "hours", "authenticationType": "primaryAndSecondaryAuthentication",
         "frequencyInterval": "timeBased", "isEnabled": true}}}),
    )
    .await;
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert!(w.location.is_some(), "{}", w.page.text);
    // Within the hour: single sign-on.
    s.ts.clock.advance(time::Duration::minutes(30));
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{:?} {}", w.seen, w.page.text);
    // Past it: the password again, although the session is alive.
    s.ts.clock.advance(time::Duration::minutes(31));
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.is_none(), "SSO answered past the sign-in frequency: {:?}", w.location);
    assert_eq!(kind(&w.page), "signin", "{}", w.page.text);
    let r = submit(&mut b, &s.ts, &w.page, None, &[("username", &s.alice.upn), ("password", PASSWORD)]).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    let t = redeem(&s, &w.code()).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let auth_time = jwt_claims(t.json["id_token"].as_str().unwrap())["auth_time"].as_i64().unwrap();
    assert_eq!(auth_time, s.ts.core.now().unix_timestamp(), "a fresh sign-in");
    // And the silent request past the interval cannot answer without a page.
    s.ts.clock.advance(time::Duration::minutes(61));
    let url = format!("{}&prompt=none", authorize_url(&s, &s.client_app_id, REDIRECT));
    let r = b.get(&s.ts, &url).await;
    let (_, loc) = b.follow(&s.ts, r, "https://app.test").await;
    let q = query_of(&loc.unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("interaction_required"), "{q:?}");
    assert!(q["error_description"].starts_with("AADSTS70044"), "the sign-in frequency, not MFA: {q:?}");
}

// --- More conditions on real requests ----------------------------------------------------------

fn browser_with(headers: &[(&str, &str)]) -> Browser {
    Browser { headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0";

#[tokio::test]
async fn trusted_locations_and_device_platforms_come_from_the_request() {
    let s = setup().await;
    let bob = add_user(&s, "bob", PASSWORD).await;
    let hq = s
        .ts
        .graph("POST", LOCATIONS, &s.admin, Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]})))
        .await;
    assert_eq!(hq.status, StatusCode::CREATED, "{}", hq.text);
    let outside = add_policy(&s, "Block outside trusted", &[&s.alice.id], json!({"conditions": {"locations":
        {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}, "grantControls": {"operator": "OR", "builtInControls": ["block"]}})).await;
    let ios = add_policy(
        &s,
        "Block iOS",
        &[&bob.id],
        json!({"conditions": {"platforms": {"includePlatforms": ["iOS"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    )
    .await;
    let cases: [(&User, &str, &str, bool); 5] = [
        (&s.alice, "203.0.113.9", WINDOWS, true),
        (&s.alice, "198.51.100.9", WINDOWS, false),
        (&bob, "198.51.100.9", WINDOWS, true),
        (&bob, "203.0.113.9", IPHONE, false),
        (&s.alice, "203.0.113.77", IPHONE, true),
    ];
    for (user, ip, ua, allowed) in cases {
        let mut b = browser_with(&[("x-forwarded-for", ip), ("user-agent", ua)]);
        let w = sign_in(&s, &mut b, user, PASSWORD).await;
        let loc = w.location.unwrap_or_else(|| panic!("{}: {}", user.upn, w.page.text));
        let q = query_of(&loc);
        assert_eq!(q.contains_key("code"), allowed, "{} from {ip}: {loc}", user.upn);
        if !allowed {
            assert!(q["error_description"].starts_with("AADSTS53003"), "{loc}");
        }
        let v = interactive(&s, user).await;
        assert_eq!(v[0]["ipAddress"], ip);
        let policy = if user.upn == s.alice.upn { &outside } else { &ios };
        // Records list the policies that applied.
        match listed(&v[0], policy) {
            None => assert!(allowed, "{}", v[0]),
            Some(p) => assert!(!allowed && p["result"] == "failure", "{}", v[0]),
        }
    }
}

#[tokio::test]
async fn a_user_at_high_risk_remediates_with_mfa_and_a_secure_password_change() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let (_, secret, _, _) = enroll(&s, &s.alice).await;
    let r = ts
        .graph(
            "POST",
            POLICIES,
            tok,
            Some(json!({"displayName": "Remediate user risk", "state": "enabled",
            "conditions": {"users": {"includeUsers": [s.alice.id]}, "applications": {"includeApplications": ["All"]},
                "userRiskLevels": ["high"]},
            "grantControls": {"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let policy = r.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph("POST", "/identityProtection/riskyUsers/confirmCompromised", tok, Some(json!({"userIds": [s.alice.id]})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // The refresh token of the old session cannot be used silently.
    ts.clock.advance(time::Duration::seconds(30));
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "mfa", "MFA first: {}", w.page.text);
    let r = submit(&mut b, ts, &w.page, Some("totp"), &[("otp", &totp_now(&s, &secret))]).await;
    let (page, _) = b.follow(ts, r, "https://app.test").await;
    assert_eq!(kind(&page), "changepassword", "then the password change: {}", page.text);
    let new_password = "Brand-New-Secret-77!";
    let r = submit(
        &mut b,
        ts,
        &page,
        None,
        &[("current_password", PASSWORD), ("new_password", new_password), ("confirm_password", new_password)],
    )
    .await;
    let w = walk(ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    let d = ts.graph("GET", &format!("/identityProtection/riskyUsers/{}", s.alice.id), tok, None).await;
    assert_eq!(d.json["riskState"], "remediated", "{}", d.text);
    assert_eq!(d.json["riskDetail"], "userPerformedSecuredPasswordChange");
    assert_eq!(d.json["riskLevel"], "none");
    let a = audits(&s, "Remediate user risk").await;
    assert_eq!(a.len(), 1, "{a:?}");
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["status"]["errorCode"], 0, "{}", v[0]);
    assert!(listed(&v[0], &policy).is_none(), "no longer at risk: {}", v[0]);
    // The new password works; the user is no longer asked to change it.
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, new_password).await;
    assert_eq!(kind(&w.page), "mfa", "{}", w.page.text);
}

#[tokio::test]
async fn device_code_sign_in_steps_up_to_mfa_and_the_tokens_carry_it() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let (_, secret, _, _) = enroll(&s, &s.alice).await;
    let cli = ts
        .graph(
            "POST",
            "/applications",
            tok,
            Some(json!({"displayName": "Orders CLI",
            "publicClient": {"redirectUris": ["http://localhost"]}, "isFallbackPublicClient": true})),
        )
        .await;
    let cli_id = cli.json["appId"].as_str().unwrap().to_string();
    ts.graph("POST", "/servicePrincipals", tok, Some(json!({"appId": cli_id}))).await;
    let tid = ts.t.tenant_id.clone();
    let scope = "api://orders/Orders.Read openid offline_access";
    let r =
        ts.post_form(&format!("/{tid}/oauth2/v2.0/devicecode"), &[("client_id", &cli_id), ("scope", scope)], &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let device_code = r.json["device_code"].as_str().unwrap().to_string();
    let user_code = r.json["user_code"].as_str().unwrap().to_string();
    let mut b = Browser::default();
    let page = b.get(ts, r.json["verification_uri"].as_str().unwrap()).await;
    let r = submit(&mut b, ts, &page, None, &[("user_code", &user_code)]).await;
    let w = walk(ts, &mut b, r, Some((&s.alice.upn, PASSWORD))).await;
    assert_eq!(kind(&w.page), "mfa", "{:?} {}", w.seen, w.page.text);
    let r = submit(&mut b, ts, &w.page, Some("totp"), &[("otp", &wrong_code(&s, &secret))]).await;
    assert_eq!(kind(&r), "mfa");
    let failed = sign_ins(&s, "status/errorCode eq 500121").await;
    assert_eq!(failed[0]["authenticationProtocol"], "deviceCode", "{}", failed[0]);
    ts.clock.advance(time::Duration::seconds(30));
    let r = submit(&mut b, ts, &r, Some("totp"), &[("otp", &totp_now(&s, &secret))]).await;
    let w = walk(ts, &mut b, r, None).await;
    assert!(w.page.text.contains("You have signed in to Orders CLI"), "{}", w.page.text);
    ts.clock.advance(time::Duration::seconds(6));
    let p = ts
        .post_form(
            &format!("/{tid}/oauth2/v2.0/token"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &cli_id),
                ("device_code", &device_code),
            ],
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    let rt = p.json["refresh_token"].as_str().unwrap();
    let r = ts
        .post_form(
            &format!("/{tid}/oauth2/v2.0/token"),
            &[("grant_type", "refresh_token"), ("client_id", &cli_id), ("refresh_token", rt)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "the refresh carries the MFA of the device sign-in: {}", r.text);
    let v = interactive(&s, &s.alice).await;
    assert_eq!(v[0]["authenticationRequirement"], "multiFactorAuthentication", "{}", v[0]);
    assert_eq!(v[0]["authenticationProtocol"], "deviceCode");
}

#[tokio::test]
async fn controls_the_flow_cannot_satisfy_fail_with_their_own_codes() {
    let s = setup().await;
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let (_, secret, _, _) = enroll(&s, &s.alice).await;
    // A compliant device is unknown here: AADSTS53000.
    let bob = add_user(&s, "bob", PASSWORD).await;
    add_policy(
        &s,
        "Compliant devices",
        &[&bob.id],
        json!({"grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}}),
    )
    .await;
    let mut b = Browser::default();
    let loc = sign_in(&s, &mut b, &bob, PASSWORD).await.location.unwrap();
    assert!(query_of(&loc)["error_description"].starts_with("AADSTS53000"), "{loc}");
    // A phishing-resistant strength is not met by an authenticator app: the app is not offered
    // as if it were enough, and the flow ends rather than asking again and again.
    add_policy(
        &s,
        "Phishing-resistant",
        &[&s.alice.id],
        json!({"grantControls": {"operator": "OR",
        "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"}}}),
    )
    .await;
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    let mut pages = vec![kind(&w.page)];
    let mut page = w.page;
    let mut location = w.location;
    for _ in 0..3 {
        if location.is_some() || kind(&page) != "mfa" || !page.text.contains("name=\"otp\"") {
            break;
        }
        s.ts.clock.advance(time::Duration::seconds(30));
        let r = submit(&mut b, &s.ts, &page, Some("totp"), &[("otp", &totp_now(&s, &secret))]).await;
        let w = walk(&s.ts, &mut b, r, None).await;
        pages.push(kind(&w.page));
        (page, location) = (w.page, w.location);
    }
    assert!(pages.len() < 3, "the authenticator app was asked for again and again: {pages:?}");
    // What remains is registering a passkey: an authenticator app is not offered for it.
    assert!(location.is_none());
    assert_eq!(kind(&page), "register", "{pages:?}: {}", page.text);
    assert!(page.text.contains("create-passkey") && !page.text.contains("totp-secret"), "{}", page.text);
}

#[tokio::test]
async fn sign_in_frequency_for_the_second_factor_asks_for_mfa_again_not_the_password() {
    let s = setup().await;
    add_policy(&s, "MFA hourly", &[&s.alice.id], json!({"grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "sessionControls": {"signInFrequency": {"value": 1, "type": "hours", "authenticationType": "secondaryAuthentication",
            "frequencyInterval": "timeBased", "isEnabled": true}}})).await;
    let (mut b, secret, _, _) = enroll(&s, &s.alice).await;
    s.ts.clock.advance(time::Duration::minutes(61));
    let r = b.get(&s.ts, &authorize_url(&s, &s.client_app_id, REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert_eq!(kind(&w.page), "mfa", "{:?} {:?} {}", w.seen, w.location, w.page.text);
    let r = submit(&mut b, &s.ts, &w.page, Some("totp"), &[("otp", &totp_now(&s, &secret))]).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{}", w.page.text);
    // The fresh second factor is the session's now: SSO within the hour asks nothing.
    s.ts.clock.advance(time::Duration::minutes(30));
    let r = b.get(&s.ts, &authorize_url(&s, &s.portal_app_id, PORTAL_REDIRECT)).await;
    let w = walk(&s.ts, &mut b, r, None).await;
    assert!(w.location.as_deref().is_some_and(|l| l.contains("code=")), "{:?} {}", w.seen, w.page.text);
    assert!(!w.seen.contains(&"signin"));
}

#[tokio::test]
async fn registering_security_info_can_be_restricted_to_trusted_locations() {
    let s = setup().await;
    let hq = s
        .ts
        .graph("POST", LOCATIONS, &s.admin, Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]})))
        .await;
    assert_eq!(hq.status, StatusCode::CREATED);
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let r =
        s.ts.graph(
            "POST",
            POLICIES,
            &s.admin,
            Some(json!({"displayName": "Register only from HQ", "state": "enabled",
            "conditions": {"users": {"includeUsers": [s.alice.id]},
                "applications": {"includeApplications": [], "includeUserActions": ["urn:user:registersecurityinfo"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // From elsewhere: the register page is refused (the sign-in itself is not blocked by it).
    let mut b = with_ip("198.51.100.3");
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(w.page.status, StatusCode::FORBIDDEN, "{}", w.page.text);
    assert!(w.page.text.contains("AADSTS53003"), "{}", w.page.text);
    // From HQ: registration works.
    let mut b = with_ip("203.0.113.4");
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    let (_, _, page) = register_totp(&s, &mut b, &w.page).await;
    assert_eq!(kind(&page), "codes", "{}", page.text);
}

#[tokio::test]
async fn the_methods_policy_limits_a_method_to_groups() {
    let s = setup().await;
    let (ts, tok) = (&s.ts, &s.admin);
    add_policy(&s, "MFA for Orders", &[&s.alice.id], mfa_policy()).await;
    let g = ts
        .graph(
            "POST",
            "/groups",
            tok,
            Some(json!({"displayName": "App users", "mailEnabled": false,
            "mailNickname": "appusers", "securityEnabled": true})),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    let gid = g.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph(
            "PATCH",
            "/policies/authenticationMethodsPolicy",
            tok,
            Some(json!({"authenticationMethodConfigurations":
            [{"id": "SoftwareOath", "state": "enabled", "includeTargets": [{"id": gid, "targetType": "group"}]}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let p = ts.graph("GET", "/policies/authenticationMethodsPolicy", tok, None).await;
    let configs = p.json["authenticationMethodConfigurations"].as_array().unwrap();
    let oath = configs.iter().find(|c| c["id"] == "SoftwareOath").unwrap();
    assert_eq!(oath["includeTargets"][0]["id"], gid.as_str(), "{oath}");
    let fido = configs.iter().find(|c| c["id"] == "Fido2").unwrap();
    assert_eq!(fido["includeTargets"][0]["id"], "all_users", "{fido}");

    // Alice is not in the group: the authenticator app is not offered to her.
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    assert!(!w.page.text.contains("totp-secret"), "{}", w.page.text);
    // In the group (a member of it), she may register one.
    let r = ts
        .graph(
            "POST",
            &format!("/groups/{gid}/members/$ref"),
            tok,
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", s.alice.id)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut b = Browser::default();
    let w = sign_in(&s, &mut b, &s.alice, PASSWORD).await;
    assert_eq!(kind(&w.page), "register", "{}", w.page.text);
    assert!(w.page.text.contains("totp-secret"), "{}", w.page.text);
    // Back to all users.
    let r = ts
        .graph(
            "PATCH",
            "/policies/authenticationMethodsPolicy",
            tok,
            Some(json!({"authenticationMethodConfigurations":
            [{"id": "SoftwareOath", "includeTargets": [{"id": "all_users", "targetType": "group"}]}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let p = ts.graph("GET", "/policies/authenticationMethodsPolicy", tok, None).await;
    let configs = p.json["authenticationMethodConfigurations"].as_array().unwrap();
    assert_eq!(configs.iter().find(|c| c["id"] == "SoftwareOath").unwrap()["includeTargets"][0]["id"], "all_users");
}
