//! Hostile input at every entry point: random and malformed forms, headers, paths, query
//! options, JSON bodies and tokens must get a clear 4xx, never a 5xx, a panic or a hang.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::body::Body;
use axum::http::Request;
use ostiary_testkit::TestServer;
use serde_json::json;

/// Deterministic xorshift so failures reproduce.
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
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

const TOKENS: &[&str] = &[
    "grant_type",
    "client_credentials",
    "client_id",
    "client_secret",
    "scope",
    "=",
    "&",
    "%",
    "%zz",
    "%00",
    "+",
    "client_assertion",
    "client_assertion_type",
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "/.default",
    "api://",
    "eyJhbGciOiJub25lIn0",
    ".",
    "ü",
    "\u{0}",
    "a",
    "'",
    "\"",
    "{",
    "}",
    "password",
    "refresh_token",
    "code",
];

fn status_ok(status: axum::http::StatusCode, what: &str) {
    assert!(status.is_client_error() || status.is_success(), "{what} gave {status}");
}

#[tokio::test]
async fn random_token_requests_never_fail_server_side() {
    let ts = TestServer::new().await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let tenants =
        [ts.t.tenant_id.clone(), ts.t.domain.clone(), "common".into(), "x".repeat(300), "%2e%2e".into(), "null".into()];
    for i in 0..1500 {
        let mut body = Vec::new();
        for _ in 0..(rng.next() % 12) {
            body.extend_from_slice(rng.pick(TOKENS).as_bytes());
        }
        if i % 7 == 0 {
            body.extend(rng.bytes(20));
        }
        let tenant = &tenants[i % tenants.len()];
        let mut b = Request::post(format!("/{}/oauth2/v2.0/token", tenant.replace('/', "")))
            .header("content-type", if i % 11 == 0 { "text/plain" } else { "application/x-www-form-urlencoded" });
        if i % 5 == 0 {
            let junk = ostiary_crypto::b64::std_encode(&rng.bytes(12));
            b = b.header("authorization", format!("Basic {junk}"));
        }
        let r = ts.request(b.body(Body::from(body.clone())).unwrap()).await;
        status_ok(r.status, &format!("token body {:?}", String::from_utf8_lossy(&body)));
        if !r.status.is_success() {
            assert!(r.json["error"].is_string(), "OAuth errors are JSON: {}", r.text);
        }
    }
}

#[tokio::test]
async fn malformed_assertions_are_invalid_client() {
    let ts = TestServer::new().await;
    let mut rng = Rng(42);
    let header = |h: serde_json::Value| ostiary_crypto::b64::url_encode(h.to_string().as_bytes());
    let mut cases = vec![
        String::new(),
        "a.b.c".into(),
        format!("{}.{}.", header(json!({"alg":"none"})), header(json!({}))),
        format!("{}.{}.sig", header(json!({"alg":"HS256","x5t":"AAAA"})), header(json!({"iss":"x"}))),
        format!("{}.{}.sig", header(json!({"alg":"RS256","crit":["exp"]})), header(json!({}))),
        format!("{}.{}.sig", header(json!([1, 2])), header(json!("str"))),
        "x".repeat(20_000),
    ];
    for _ in 0..300 {
        let parts: Vec<String> = (0..3)
            .map(|_| {
                let n = (rng.next() % 64) as usize;
                ostiary_crypto::b64::url_encode(&rng.bytes(n))
            })
            .collect();
        cases.push(parts.join("."));
    }
    for a in cases {
        let r = ts
            .post_form(
                &format!("/{}/oauth2/v2.0/token", ts.t.tenant_id),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", &a),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
                &[],
            )
            .await;
        status_ok(r.status, "assertion");
        assert!(
            r.json["error"] == "invalid_client"
                || r.json["error"] == "unauthorized_client"
                || r.json["error"] == "invalid_request",
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn random_graph_paths_queries_and_bodies_never_fail_server_side() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let mut rng = Rng(7);
    let segs = [
        "users",
        "groups",
        "applications",
        "servicePrincipals",
        "directoryObjects",
        "organization",
        "me",
        "$count",
        "$ref",
        "members",
        "transitiveMembers",
        "memberOf",
        "transitiveMemberOf",
        "appRoleAssignments",
        "appRoleAssignedTo",
        "addPassword",
        "removePassword",
        "microsoft.graph.user",
        "applications(appId='x')",
        "servicePrincipals(appId='')",
        "00000000-0000-0000-0000-000000000000",
        "%ZZ",
        "..",
        "a(b",
        "users(')",
        "ü",
    ];
    let queries = [
        "$filter=",
        "$filter=displayName eq",
        "$filter=(((",
        "$filter=a/any(x:x eq 1)",
        "$top=-1",
        "$top=99999999999",
        "$select=",
        "$select=a,,b",
        "$orderby=displayName sideways",
        "$count=maybe",
        "$search=\"x",
        "$skiptoken=zz",
        "$skiptoken=o-5",
        "$skiptoken=o99999999999999999999",
        "$expand=members",
        "$foo=1",
        "%24filter=id%20eq%20'x'",
        "$filter=createdDateTime ge 9999-99-99T00:00:00Z",
        "$filter=id eq 'not-a-guid'",
        "$top=1&$top=2",
    ];
    let methods = ["GET", "POST", "PATCH", "DELETE", "PUT"];
    let bodies = [
        None,
        Some("{".to_string()),
        Some("[]".into()),
        Some("null".into()),
        Some("{\"displayName\": 5}".into()),
        Some("{\"accountEnabled\": true, \"displayName\": \"x\", \"userPrincipalName\": \"@\", \"mailNickname\": \"x\", \"passwordProfile\": {\"password\": \"x\"}}".into()),
        Some("{\"@odata.id\": \"https://x/v1.0/directoryObjects/zz\"}".into()),
        Some("{\"principalId\": \"00000000-0000-0000-0000-000000000000\", \"resourceId\": \"00000000-0000-0000-0000-000000000000\", \"appRoleId\": \"00000000-0000-0000-0000-000000000000\"}".into()),
        Some("{\"keyCredentials\": [{\"key\": \"!!!!\"}]}".into()),
        Some("{\"passwordCredential\": {\"endDateTime\": \"yesterday\"}}".into()),
        Some("\u{0}\u{1}".into()),
    ];
    for _ in 0..1200 {
        let depth = 1 + rng.next() % 4;
        let path: Vec<&str> = (0..depth).map(|_| rng.pick(&segs)).collect();
        let mut uri = format!("/v1.0/{}", path.join("/"));
        if rng.next().is_multiple_of(2) {
            uri.push('?');
            uri.push_str(&rng.pick(&queries).replace(' ', "%20").replace('"', "%22"));
        }
        let method = rng.pick(&methods);
        let body = bodies[(rng.next() % bodies.len() as u64) as usize].clone();
        let mut b = Request::builder().method(method).uri(&uri).header("authorization", format!("Bearer {tok}"));
        if rng.next().is_multiple_of(3) {
            b = b.header("consistencylevel", "eventual");
        }
        let req = match body {
            Some(text) => b.header("content-type", "application/json").body(Body::from(text)).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let r = ts.request(req).await;
        assert!(r.status.as_u16() < 500, "{method} {uri} gave {}: {}", r.status, r.text);
        if !r.status.is_success() {
            assert!(r.json["error"]["code"].is_string(), "{method} {uri}: Graph errors are JSON: {}", r.text);
        }
    }
}

#[tokio::test]
async fn garbage_bearer_tokens_are_401() {
    let ts = TestServer::new().await;
    let mut rng = Rng(99);
    let real = ts.admin_token().await;
    let mut cases: Vec<String> =
        vec!["".into(), "x".into(), "a.b.c".into(), real[..real.len() - 3].to_string(), "Bearer".into()];
    for _ in 0..200 {
        let mut t = real.clone().into_bytes();
        let i = (rng.next() as usize) % t.len();
        t[i] = b"ABCxyz012-_."[(rng.next() % 12) as usize];
        cases.push(String::from_utf8(t).unwrap());
    }
    for c in cases {
        if c == real {
            continue;
        }
        let r = ts.graph("GET", "/users", &c, None).await;
        assert!(
            r.status == 401 || (r.status == 200 && ostiary_crypto::jws::decode_unverified(&c).is_ok()),
            "{}: {}",
            r.status,
            r.text
        );
    }
}

#[tokio::test]
async fn random_security_api_requests_never_fail_server_side() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let mut rng = Rng(5);
    let user = ts
        .graph(
            "POST",
            "/users",
            &tok,
            Some(json!({"accountEnabled": true, "displayName": "Hostile", "mailNickname": "hostile",
                "userPrincipalName": format!("hostile@{}", ts.t.domain),
                "passwordProfile": {"password": "Correct-Horse-42!", "forceChangePasswordNextSignIn": false}})),
        )
        .await;
    let uid = user.json["id"].as_str().unwrap().to_string();
    let prefixes = [
        "identity/conditionalAccess/policies".to_string(),
        "identity/conditionalAccess/namedLocations".to_string(),
        "identity/conditionalAccess/evaluate".to_string(),
        "identity/conditionalAccess/ostiaryEmergencyAccessAccounts".to_string(),
        "identity/conditionalAccess/authenticationStrength/policies".to_string(),
        "identity".to_string(),
        "identityProtection/riskyUsers".to_string(),
        "identityProtection/riskyUsers/confirmCompromised".to_string(),
        "identityProtection/riskyUsers/dismiss".to_string(),
        "identityProtection/riskDetections".to_string(),
        format!("users/{uid}/authentication/methods"),
        format!("users/{uid}/authentication/fido2Methods/x"),
        format!("users/{uid}/authentication/methods/ostiaryReset"),
        "users/nobody@x/authentication/methods".to_string(),
        "policies/authenticationMethodsPolicy".to_string(),
        "policies/authenticationStrengthPolicies".to_string(),
    ];
    let tails = ["", "/00000000-0000-0000-0000-000000000000", "/x", "/%ZZ", "/a/b/c", "/$count"];
    let sample = json!({"displayName": "P", "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let bodies: Vec<Option<String>> = vec![
        None,
        Some("{".into()),
        Some("[]".into()),
        Some("null".into()),
        Some("{\"state\": 7}".into()),
        Some(sample.to_string()),
        Some(sample.to_string().replace("mfa", "teleport")),
        Some(sample.to_string().replace("\"All\"", "\"not-a-guid\"")),
        Some("{\"displayName\": \"L\", \"@odata.type\": \"#microsoft.graph.ipNamedLocation\", \"ipRanges\": [{\"cidrAddress\": \"999.1.1.1/99\"}]}".into()),
        Some("{\"displayName\": \"C\", \"@odata.type\": \"#microsoft.graph.countryNamedLocation\", \"countriesAndRegions\": [\"ZZZ\"]}".into()),
        Some(format!("{{\"signInIdentity\": {{\"userId\": \"{uid}\"}}, \"signInContext\": {{\"includeApplications\": [\"x\"]}}}}")),
        Some(format!("{{\"signInIdentity\": {{\"userId\": \"{uid}\"}}, \"signInContext\": {{\"includeApplications\": [\"00000003-0000-0000-c000-000000000000\"]}}, \"signInConditions\": {{\"ipAddress\": \"::zz\", \"devicePlatform\": \"amiga\", \"signInRiskLevel\": \"extreme\"}}}}")),
        Some("{\"userIds\": [\"x\"]}".into()),
        Some("{\"userIds\": []}".into()),
        Some("{\"id\": \"00000000-0000-0000-0000-000000000000\"}".into()),
        Some("{\"registrationEnforcement\": {\"authenticationMethodsRegistrationCampaign\": {\"snoozeDurationInDays\": 99}}}".into()),
        Some("{\"authenticationMethodConfigurations\": [{\"id\": \"sms\", \"state\": \"enabled\"}]}".into()),
        Some("\u{0}\u{1}".into()),
    ];
    let methods = ["GET", "POST", "PATCH", "DELETE", "PUT"];
    for _ in 0..800 {
        let mut uri = format!("/v1.0/{}{}", prefixes[(rng.next() % prefixes.len() as u64) as usize], rng.pick(&tails));
        if rng.next().is_multiple_of(4) {
            uri.push_str("?$top=-1");
        }
        let method = rng.pick(&methods);
        let body = bodies[(rng.next() % bodies.len() as u64) as usize].clone();
        let mut b = Request::builder().method(method).uri(&uri).header("authorization", format!("Bearer {tok}"));
        if rng.next().is_multiple_of(5) {
            b = b.header("ostiary-allow-lockout", "true");
        }
        let req = match body {
            Some(text) => b.header("content-type", "application/json").body(Body::from(text)).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let r = ts.request(req).await;
        assert!(r.status.as_u16() < 500, "{method} {uri} gave {}: {}", r.status, r.text);
        if !r.status.is_success() {
            assert!(r.json["error"]["code"].is_string(), "{method} {uri}: Graph errors are JSON: {}", r.text);
        }
    }
}

#[tokio::test]
async fn random_mfa_form_posts_never_fail_server_side() {
    let ts = TestServer::new().await;
    let mut rng = Rng(11);
    let tenant = ts.t.tenant_id.to_string();
    let pages = ["login", "mfa", "mfa/register", "mfa/codes"];
    let fields = ["flow", "csrf", "method", "otp", "recovery_code", "credential", "username", "password"];
    let values = [
        "",
        "totp",
        "passkey",
        "recovery",
        "skip",
        "123456",
        "{\"id\":\"x\",\"rawId\":\"x\",\"type\":\"public-key\",\"response\":{}}",
        "{",
        "%00",
        "ü",
        "AAAA-BBBB",
    ];
    for _ in 0..300 {
        let page = rng.pick(&pages);
        let mut body = String::new();
        for _ in 0..(1 + rng.next() % 6) {
            let v = if rng.next().is_multiple_of(7) {
                String::from_utf8_lossy(&rng.bytes(40)).into_owned()
            } else {
                rng.pick(&values).to_string()
            };
            body.push_str(&format!("{}={}&", rng.pick(&fields), urlencode(&v)));
        }
        let method = if rng.next().is_multiple_of(3) { "GET" } else { "POST" };
        let uri = if method == "GET" { format!("/{tenant}/{page}?flow=abc") } else { format!("/{tenant}/{page}") };
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", "ostiary_browser=zzz")
            .body(Body::from(body))
            .unwrap();
        let r = ts.request(req).await;
        status_ok(r.status, &format!("{method} {uri}"));
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
