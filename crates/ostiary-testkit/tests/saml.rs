//! SAML 2.0 IdP end to end in-process: configuration through Graph, SP-initiated sign-in over
//! the Redirect and POST bindings through the real sign-in page, SSO, ForceAuthn, IsPassive,
//! NameID policy, IdP-initiated sign-in, claims, assignment required, single logout, metadata,
//! and the refusals: unregistered reply URL, unknown issuer, replay, stale requests, wrong
//! Destination, unsigned or badly signed requests, hostile XML and deflate bombs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_crypto::x509::Certificate;
use ostiary_saml::xml::{Element, Limits, parse};
use ostiary_testkit::browser::{Browser, forms};
use ostiary_testkit::{Resp, TestServer};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SP_ENTITY: &str = "https://sp.test/metadata";
const ACS: &str = "https://sp.test/acs";
const ACS2: &str = "https://sp.test/acs-two";
const SLO: &str = "https://sp.test/slo";

struct Setup {
    ts: TestServer,
    admin: String,
    app_id: String,
    app_object: String,
    sp: String,
    alice: String,
    alice_id: String,
    password: String,
}

async fn setup() -> Setup {
    let ts = TestServer::new().await;
    let admin = ts.admin_token().await;
    let app = ts
        .graph(
            "POST",
            "/applications",
            &admin,
            Some(json!({
                "displayName": "Expense SAML",
                "identifierUris": [SP_ENTITY],
                "web": {"redirectUris": [ACS], "redirectUriSettings": [{"uri": ACS2, "index": 7}], "logoutUrl": SLO},
                "groupMembershipClaims": "SecurityGroup",
                "appRoles": [{"id": uuid::Uuid::new_v4(), "value": "Approver", "displayName": "Approver",
                    "description": "Approves expenses", "allowedMemberTypes": ["User"], "isEnabled": true}],
            })),
        )
        .await;
    assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
    let app_id = app.json["appId"].as_str().unwrap().to_string();
    let sp = ts.graph("POST", "/servicePrincipals", &admin, Some(json!({"appId": app_id}))).await;
    let sp_id = sp.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph(
            "PATCH",
            &format!("/servicePrincipals/{sp_id}"),
            &admin,
            Some(json!({"preferredSingleSignOnMode": "saml", "samlSingleSignOnSettings": {"relayState": "/home"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let cert = ts
        .graph(
            "POST",
            &format!("/servicePrincipals/{sp_id}/addTokenSigningCertificate"),
            &admin,
            Some(json!({"displayName": "CN=Expense SAML"})),
        )
        .await;
    assert_eq!(cert.status, StatusCode::OK, "{}", cert.text);
    let password = "Correct-Horse-42!".to_string();
    let alice = format!("alice@{}", ts.t.domain);
    let u = ts
        .graph("POST", "/users", &admin, Some(json!({
            "accountEnabled": true, "displayName": "Alice Example", "mailNickname": "alice", "userPrincipalName": alice,
            "mail": alice, "givenName": "Alice", "surname": "Example", "department": "Finance",
            "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false}
        })))
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.text);
    Setup {
        alice_id: u.json["id"].as_str().unwrap().to_string(),
        ts,
        admin,
        app_id,
        app_object: app.json["id"].as_str().unwrap().to_string(),
        sp: sp_id,
        alice,
        password,
    }
}

fn now(s: &Setup) -> OffsetDateTime {
    s.ts.core.now()
}

fn endpoint(s: &Setup) -> String {
    format!("/{}/saml2", s.ts.t.tenant_id)
}

fn instant(t: OffsetDateTime) -> String {
    ostiary_saml::response::format_instant(t)
}

struct Req {
    id: String,
    issuer: String,
    acs: Option<String>,
    index: Option<u16>,
    issued: OffsetDateTime,
    destination: Option<String>,
    extra_attrs: String,
    name_id_policy: Option<String>,
}

fn req(s: &Setup) -> Req {
    Req {
        id: format!("_{}", uuid::Uuid::new_v4().simple()),
        issuer: SP_ENTITY.into(),
        acs: Some(ACS.into()),
        index: None,
        issued: now(s),
        destination: Some(format!("{}{}", ostiary_testkit::BASE, endpoint(s))),
        extra_attrs: String::new(),
        name_id_policy: None,
    }
}

fn authn_xml(r: &Req) -> String {
    let mut attrs = format!("ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"", r.id, instant(r.issued));
    if let Some(d) = &r.destination {
        attrs.push_str(&format!(" Destination=\"{d}\""));
    }
    if let Some(a) = &r.acs {
        attrs.push_str(&format!(
            " AssertionConsumerServiceURL=\"{a}\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\""
        ));
    }
    if let Some(i) = r.index {
        attrs.push_str(&format!(" AssertionConsumerServiceIndex=\"{i}\""));
    }
    attrs.push_str(&r.extra_attrs);
    let policy = r
        .name_id_policy
        .as_ref()
        .map(|f| format!("<samlp:NameIDPolicy Format=\"{f}\" AllowCreate=\"true\"/>"))
        .unwrap_or_default();
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" {attrs}><saml:Issuer>{}</saml:Issuer>{policy}</samlp:AuthnRequest>",
        r.issuer
    )
}

fn redirect_url(s: &Setup, xml: &str, relay: Option<&str>, key: Option<&SigningKey>) -> String {
    let q = ostiary_saml::binding::encode_redirect(xml, "SAMLRequest", relay, key).unwrap();
    format!("{}?{q}", endpoint(s))
}

/// Submits the page's first form with `overrides`.
async fn submit(b: &mut Browser, ts: &TestServer, page: &Resp, overrides: &[(&str, &str)]) -> Resp {
    let mut form = forms(&page.text).into_iter().next().unwrap_or_else(|| panic!("no form in page: {}", page.text));
    for (k, v) in overrides {
        form.set(k, v);
    }
    b.post(ts, &form.action, &form.fields).await
}

/// The auto-posting form to the SP, if the page is one: (action, SAMLResponse XML, RelayState).
fn saml_post(page: &Resp) -> Option<(String, String, Option<String>)> {
    let form = forms(&page.text).into_iter().find(|f| f.get("SAMLResponse").is_some())?;
    let xml = ostiary_saml::binding::decode_post(form.get("SAMLResponse")?).unwrap();
    Some((form.action.clone(), xml, form.get("RelayState").map(str::to_string)))
}

/// Drives the browser from `url` through the sign-in page until the SAML form post.
async fn sign_in(s: &Setup, b: &mut Browser, url: &str, user: &str) -> (String, String, Option<String>) {
    let r = b.get(&s.ts, url).await;
    let (mut page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    for _ in 0..4 {
        if let Some(p) = saml_post(&page) {
            return p;
        }
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("name=\"password\""), "unexpected page: {}", page.text);
        let next = submit(b, &s.ts, &page, &[("username", user), ("password", &s.password)]).await;
        (page, _) = b.follow(&s.ts, next, "https://sp.test").await;
    }
    panic!("no SAML response reached");
}

async fn signing_cert(s: &Setup) -> Certificate {
    let md = s
        .ts
        .get(&format!("/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}", s.ts.t.tenant_id, s.app_id))
        .await;
    assert_eq!(md.status, StatusCode::OK, "{}", md.text);
    let doc = parse(&md.text, &Limits::default()).unwrap();
    let b64 = find_all(&doc.root, "X509Certificate").first().map(|e| e.text()).unwrap();
    let der = ostiary_crypto::b64::std_decode(&b64.split_whitespace().collect::<String>()).unwrap();
    Certificate::from_der(&der).unwrap()
}

fn find_all<'a>(el: &'a Element, local: &str) -> Vec<&'a Element> {
    let mut out = Vec::new();
    if el.local == local {
        out.push(el);
    }
    for c in &el.children {
        if let ostiary_saml::xml::Node::Element(e) = c {
            out.extend(find_all(e, local));
        }
    }
    out
}

fn first_text(root: &Element, local: &str) -> Option<String> {
    find_all(root, local).first().map(|e| e.text())
}

fn attributes(root: &Element) -> std::collections::HashMap<String, Vec<String>> {
    find_all(root, "Attribute")
        .into_iter()
        .map(|a| {
            (
                a.attr("Name").unwrap_or_default().to_string(),
                find_all(a, "AttributeValue").iter().map(|v| v.text()).collect(),
            )
        })
        .collect()
}

fn status_codes(root: &Element) -> Vec<String> {
    find_all(root, "StatusCode").iter().filter_map(|e| e.attr("Value").map(str::to_string)).collect()
}

#[tokio::test]
async fn sp_initiated_redirect_sign_in_yields_a_signed_assertion_with_the_checked_fields() {
    let s = setup().await;
    let cert = signing_cert(&s).await;
    let r = req(&s);
    let mut b = Browser::default();
    let (action, xml, relay) =
        sign_in(&s, &mut b, &redirect_url(&s, &authn_xml(&r), Some("rs-123"), None), &s.alice).await;
    assert_eq!(action, ACS);
    assert_eq!(relay.as_deref(), Some("rs-123"));
    let doc = parse(&xml, &Limits::default()).unwrap();
    let root = &doc.root;
    assert_eq!(root.local, "Response");
    assert_eq!(root.attr("InResponseTo"), Some(r.id.as_str()));
    assert_eq!(root.attr("Destination"), Some(ACS));
    assert_eq!(status_codes(root), vec![ostiary_saml::STATUS_SUCCESS]);
    let assertions = find_all(root, "Assertion");
    assert_eq!(assertions.len(), 1);
    let a = assertions[0];
    ostiary_saml::dsig::verify_enveloped(root, a, std::slice::from_ref(&cert)).unwrap();
    assert_eq!(first_text(a, "Issuer").unwrap(), format!("{}/{}/", ostiary_testkit::BASE, s.ts.t.tenant_id));
    assert_eq!(first_text(a, "NameID").unwrap(), s.alice);
    assert_eq!(first_text(a, "Audience").unwrap(), SP_ENTITY);
    let scd = find_all(a, "SubjectConfirmationData")[0];
    assert_eq!(scd.attr("Recipient"), Some(ACS));
    assert_eq!(scd.attr("InResponseTo"), Some(r.id.as_str()));
    assert_eq!(find_all(a, "AuthnStatement").len(), 1);
    let attrs = attributes(a);
    assert_eq!(attrs["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"], vec![s.alice.clone()]);
    assert_eq!(attrs["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"], vec!["Alice".to_string()]);
    assert_eq!(attrs["http://schemas.microsoft.com/identity/claims/objectidentifier"], vec![s.alice_id.clone()]);
    // A tampered assertion no longer verifies: the signature is real.
    let tampered = xml.replacen(&s.alice, &format!("mallory@{}", s.ts.t.domain), 1);
    let tdoc = parse(&tampered, &Limits::default()).unwrap();
    let ta = find_all(&tdoc.root, "Assertion")[0];
    assert!(ostiary_saml::dsig::verify_enveloped(&tdoc.root, ta, &[cert]).is_err());

    // The sign-in is in the sign-in log like any other.
    assert!(s.ts.core.log_writer.flush(std::time::Duration::from_secs(10)).await);
    let logs = s.ts.graph("GET", "/auditLogs/signIns", &s.admin, None).await;
    let found =
        logs.json["value"].as_array().unwrap().iter().any(|e| e["appId"] == s.app_id && e["status"]["errorCode"] == 0);
    assert!(found, "{}", logs.text);

    // Single sign-on: a second request with the session signs in without a page.
    let r2 = req(&s);
    let resp = b.get(&s.ts, &redirect_url(&s, &authn_xml(&r2), None, None)).await;
    let (action, xml, relay) = saml_post(&resp).unwrap_or_else(|| panic!("no SSO: {}", resp.text));
    assert_eq!((action.as_str(), relay), (ACS, None));
    assert!(xml.contains(&format!("InResponseTo=\"{}\"", r2.id)));

    // ForceAuthn: the session is not enough.
    let mut r3 = req(&s);
    r3.extra_attrs = " ForceAuthn=\"true\"".into();
    let resp = b.get(&s.ts, &redirect_url(&s, &authn_xml(&r3), None, None)).await;
    let (page, _) = b.follow(&s.ts, resp, "https://sp.test").await;
    assert!(page.text.contains("name=\"password\""), "ForceAuthn must show the sign-in page: {}", page.text);
}

#[tokio::test]
async fn post_binding_and_acs_index_and_response_signing_options() {
    let s = setup().await;
    let cert = signing_cert(&s).await;
    let r =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}", s.sp),
            &s.admin,
            Some(json!({"samlSingleSignOnSettings": {"signingOption": "ResponseAndToken"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut q = req(&s);
    q.acs = None;
    q.index = Some(7);
    let mut b = Browser::default();
    let first = b
        .post(
            &s.ts,
            &endpoint(&s),
            &[
                ("SAMLRequest".into(), ostiary_saml::binding::encode_post(&authn_xml(&q))),
                ("RelayState".into(), "post-rs".into()),
            ],
        )
        .await;
    let (page, _) = b.follow(&s.ts, first, "https://sp.test").await;
    let next = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (page, _) = b.follow(&s.ts, next, "https://sp.test").await;
    let (action, xml, relay) = saml_post(&page).unwrap_or_else(|| panic!("{}", page.text));
    assert_eq!(action, ACS2);
    assert_eq!(relay.as_deref(), Some("post-rs"));
    let doc = parse(&xml, &Limits::default()).unwrap();
    ostiary_saml::dsig::verify_enveloped(&doc.root, &doc.root, std::slice::from_ref(&cert)).unwrap();
    let a = find_all(&doc.root, "Assertion")[0];
    ostiary_saml::dsig::verify_enveloped(&doc.root, a, &[cert]).unwrap();
}

#[tokio::test]
async fn refusals_never_post_to_an_unregistered_url() {
    let s = setup().await;
    let mut b = Browser::default();
    let check = |r: &Resp, code: &str| {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains(code), "expected {code}: {}", r.text);
        assert!(saml_post(r).is_none(), "nothing may be posted: {}", r.text);
    };
    // Unregistered ACS URL.
    let mut q = req(&s);
    q.acs = Some("https://evil.test/acs".into());
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS50011");
    // Unknown ACS index.
    let mut q = req(&s);
    q.acs = None;
    q.index = Some(99);
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS50011");
    // Unknown issuer (wrong audience).
    let mut q = req(&s);
    q.issuer = "https://other.test/metadata".into();
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS700016");
    // Expired and future requests.
    let mut q = req(&s);
    q.issued = now(&s) - time::Duration::minutes(30);
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS75005");
    let mut q = req(&s);
    q.issued = now(&s) + time::Duration::minutes(30);
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS75005");
    // Another IdP's Destination.
    let mut q = req(&s);
    q.destination = Some("https://login.other.test/saml2".into());
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS75005");
    // Replay: the same request is accepted once.
    let q = req(&s);
    let url = redirect_url(&s, &authn_xml(&q), None, None);
    let first = b.get(&s.ts, &url).await;
    assert!(first.status.is_redirection(), "{}", first.text);
    check(&b.get(&s.ts, &url).await, "AADSTS75005");
    // Both an ACS URL and an index.
    let mut q = req(&s);
    q.index = Some(7);
    check(&b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await, "AADSTS75005");
    // Not SAML at all / missing parameter.
    check(&b.get(&s.ts, &endpoint(&s)).await, "AADSTS750054");
    check(&b.get(&s.ts, &format!("{}?SAMLRequest=%%%", endpoint(&s))).await, "AADSTS75005");
}

#[tokio::test]
async fn hostile_xml_and_deflate_bombs_are_refused_quickly() {
    let s = setup().await;
    let mut b = Browser::default();
    let q = req(&s);
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        authn_xml(&q).replace("</saml:Issuer>", "&x;</saml:Issuer>")
    );
    let laughs = format!(
        "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>{}",
        authn_xml(&req(&s)).replace("</saml:Issuer>", "&c;</saml:Issuer>")
    );
    for payload in [xxe, laughs] {
        let r = b.get(&s.ts, &redirect_url(&s, &payload, None, None)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(!r.text.contains("root:"), "file contents leaked");
        let r =
            b.post(&s.ts, &endpoint(&s), &[("SAMLRequest".into(), ostiary_saml::binding::encode_post(&payload))]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    // 16 MiB deflate to about 16 KiB: refused without inflating it all.
    let zeros = vec![b'<'; 16 * 1024 * 1024];
    let bomb = miniz_oxide::deflate::compress_to_vec(&zeros, 9);
    let b64 = ostiary_crypto::b64::std_encode(&bomb);
    let url =
        format!("{}?SAMLRequest={}", endpoint(&s), form_urlencoded::byte_serialize(b64.as_bytes()).collect::<String>());
    let started = std::time::Instant::now();
    let r = b.get(&s.ts, &url).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Deep nesting.
    let deep = format!("{}{}{}", "<a xmlns=\"urn:x\">".repeat(2000), "x", "</a>".repeat(2000));
    let r = b.get(&s.ts, &redirect_url(&s, &deep, None, None)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn signed_requests_when_required() {
    let s = setup().await;
    let t = now(&s);
    let (sp_key, _) =
        SigningKey::generate(Alg::RS256, "sp.test", t - time::Duration::hours(1), t + time::Duration::days(30))
            .unwrap();
    let (other_key, _) =
        SigningKey::generate(Alg::RS256, "evil.test", t - time::Duration::hours(1), t + time::Duration::days(30))
            .unwrap();
    let r =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}", s.sp),
            &s.admin,
            Some(json!({"samlSingleSignOnSettings": {
                "requireSignedRequests": true,
                "requestSigningCertificates": [ostiary_crypto::b64::std_encode(sp_key.cert_der())],
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut b = Browser::default();
    // Unsigned: refused.
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("AADSTS76021"), "{}", r.text);
    // Signed by someone else: refused.
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), Some("x"), Some(&other_key))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("AADSTS75016"), "{}", r.text);
    // RelayState changed after signing: refused.
    let url = redirect_url(&s, &authn_xml(&req(&s)), Some("good"), Some(&sp_key));
    let r = b.get(&s.ts, &url.replace("RelayState=good", "RelayState=evil")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Signed by the SP: the sign-in page.
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), Some("ok"), Some(&sp_key))).await;
    assert!(r.status.is_redirection(), "{}", r.text);
}

#[tokio::test]
async fn is_passive_name_id_policy_and_idp_initiated() {
    let s = setup().await;
    let mut b = Browser::default();
    // IsPassive without a session: a NoPassive error Response, posted to the validated ACS.
    let mut q = req(&s);
    q.extra_attrs = " IsPassive=\"true\"".into();
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), Some("p"), None)).await;
    let (action, xml, relay) = saml_post(&r).unwrap_or_else(|| panic!("{}", r.text));
    assert_eq!((action.as_str(), relay.as_deref()), (ACS, Some("p")));
    let doc = parse(&xml, &Limits::default()).unwrap();
    assert_eq!(status_codes(&doc.root), vec![ostiary_saml::STATUS_RESPONDER, ostiary_saml::STATUS_NO_PASSIVE]);
    assert!(find_all(&doc.root, "Assertion").is_empty());
    // A NameID format the app does not use.
    let mut q = req(&s);
    q.name_id_policy = Some(ostiary_saml::NAMEID_PERSISTENT.into());
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&q), None, None)).await;
    let (_, xml, _) = saml_post(&r).unwrap_or_else(|| panic!("{}", r.text));
    let doc = parse(&xml, &Limits::default()).unwrap();
    assert_eq!(status_codes(&doc.root)[1], ostiary_saml::STATUS_INVALID_NAMEID_POLICY);
    // Persistent NameID from the object id, once configured through the claims policy.
    let r =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}/claimsPolicy", s.sp),
            &s.admin,
            Some(json!({"claims": [
                {"@odata.type": "#microsoft.graph.samlNameIdClaim", "nameIdFormat": "persistent",
                 "configurations": [{"attribute": {"source": "user", "id": "objectId"}}]},
                {"@odata.type": "#microsoft.graph.customClaim", "name": "department",
                 "configurations": [{"attribute": {"source": "user", "id": "department"}}]},
                {"@odata.type": "#microsoft.graph.customClaim", "name": "tier", "namespace": "https://sp.test/claims",
                 "configurations": [{"attribute": {"source": "constant", "id": "gold"}}]},
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["claims"][0]["nameIdFormat"], "persistent");
    q.id = format!("_{}", uuid::Uuid::new_v4().simple());
    let (_, xml, _) = sign_in(&s, &mut b, &redirect_url(&s, &authn_xml(&q), None, None), &s.alice).await;
    let doc = parse(&xml, &Limits::default()).unwrap();
    let name_id = find_all(&doc.root, "NameID")[0];
    assert_eq!(name_id.text(), s.alice_id);
    assert_eq!(name_id.attr("Format"), Some(ostiary_saml::NAMEID_PERSISTENT));
    let attrs = attributes(&doc.root);
    assert_eq!(attrs["department"], vec!["Finance".to_string()]);
    assert_eq!(attrs["https://sp.test/claims/tier"], vec!["gold".to_string()]);
    // IdP-initiated: no InResponseTo, the configured RelayState, the default reply URL.
    let r = b.get(&s.ts, &format!("/{}/saml2/launch/{}", s.ts.t.tenant_id, s.app_id)).await;
    let (action, xml, relay) = saml_post(&r).unwrap_or_else(|| panic!("{}", r.text));
    assert_eq!((action.as_str(), relay.as_deref()), (ACS2, Some("/home")), "the indexed reply URL is the default");
    let doc = parse(&xml, &Limits::default()).unwrap();
    assert_eq!(doc.root.attr("InResponseTo"), None);
    assert_eq!(find_all(&doc.root, "Assertion").len(), 1);
}

#[tokio::test]
async fn assignment_required_groups_and_roles() {
    let s = setup().await;
    let r =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}", s.sp),
            &s.admin,
            Some(json!({"appRoleAssignmentRequired": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut b = Browser::default();
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    assert!(page.text.contains("AADSTS50105"), "{}", page.text);
    assert!(saml_post(&page).is_none());
    // Assigned through a group (with an app role): allowed, and the claims say so.
    let g =
        s.ts.graph(
            "POST",
            "/groups",
            &s.admin,
            Some(json!({"displayName": "Approvers", "mailNickname": "approvers",
            "securityEnabled": true, "mailEnabled": false})),
        )
        .await;
    let gid = g.json["id"].as_str().unwrap().to_string();
    let add =
        s.ts.graph(
            "POST",
            &format!("/groups/{gid}/members/$ref"),
            &s.admin,
            Some(json!({"@odata.id": format!("{}/v1.0/directoryObjects/{}", ostiary_testkit::BASE, s.alice_id)})),
        )
        .await;
    assert_eq!(add.status, StatusCode::NO_CONTENT, "{}", add.text);
    let sp = s.ts.graph("GET", &format!("/servicePrincipals/{}", s.sp), &s.admin, None).await;
    let role = sp.json["appRoles"][0]["id"].as_str().unwrap().to_string();
    let a =
        s.ts.graph(
            "POST",
            &format!("/groups/{gid}/appRoleAssignments"),
            &s.admin,
            Some(json!({"principalId": gid, "resourceId": s.sp, "appRoleId": role})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let mut b = Browser::default();
    let (_, xml, _) = sign_in(&s, &mut b, &redirect_url(&s, &authn_xml(&req(&s)), None, None), &s.alice).await;
    let attrs = attributes(&parse(&xml, &Limits::default()).unwrap().root);
    assert_eq!(attrs["http://schemas.microsoft.com/ws/2008/06/identity/claims/role"], vec!["Approver".to_string()]);
    assert_eq!(attrs["http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"], vec![gid]);
}

#[tokio::test]
async fn single_logout_ends_the_session_and_answers_the_sp() {
    let s = setup().await;
    let mut b = Browser::default();
    let (_, xml, _) = sign_in(&s, &mut b, &redirect_url(&s, &authn_xml(&req(&s)), None, None), &s.alice).await;
    let doc = parse(&xml, &Limits::default()).unwrap();
    let session_index = find_all(&doc.root, "AuthnStatement")[0].attr("SessionIndex").unwrap().to_string();
    let logout_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let logout = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{logout_id}\" Version=\"2.0\" IssueInstant=\"{}\"><saml:Issuer>{SP_ENTITY}</saml:Issuer><saml:NameID Format=\"{}\">{}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>",
        instant(now(&s)),
        ostiary_saml::NAMEID_EMAIL,
        s.alice
    );
    // A LogoutRequest naming another user (a forged cross-site request) does not end the session.
    let forged = logout
        .replace(&logout_id, &format!("_{}", uuid::Uuid::new_v4().simple()))
        .replace(&format!(">{}<", s.alice), ">mallory@evil.test<");
    let r = b.get(&s.ts, &redirect_url(&s, &forged, None, None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    assert!(saml_post(&r).is_some(), "the session survives a forged LogoutRequest: {}", r.text);
    let r = b.get(&s.ts, &redirect_url(&s, &logout, Some("bye"), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let page_forms = r.text.clone();
    let cont = page_forms
        .split("id=\"continue\"")
        .nth(1)
        .and_then(|t| t.split("href=\"").nth(1))
        .and_then(|t| t.split('"').next());
    let cont = cont.unwrap_or_else(|| panic!("no continue link: {}", r.text)).replace("&amp;", "&");
    assert!(cont.starts_with(&format!("{SLO}?SAMLResponse=")), "{cont}");
    let query = cont.split_once('?').unwrap().1;
    let msg = ostiary_saml::binding::decode_redirect(query, "SAMLResponse").unwrap();
    assert!(msg.xml.contains(&format!("InResponseTo=\"{logout_id}\"")), "{}", msg.xml);
    assert!(msg.xml.contains(ostiary_saml::STATUS_SUCCESS));
    assert_eq!(msg.relay_state.as_deref(), Some("bye"));
    msg.signature.expect("the LogoutResponse is signed").verify(&[signing_cert(&s).await]).unwrap();
    // The session is gone: the next request shows the sign-in page again.
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    assert!(page.text.contains("name=\"password\""), "{}", page.text);
}

#[tokio::test]
async fn configuration_api_metadata_import_certificates_and_expiry() {
    let s = setup().await;
    // IdP metadata: entity ID, both bindings, the app's certificate.
    let md = s
        .ts
        .get(&format!("/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}", s.ts.t.tenant_id, s.app_id))
        .await;
    assert!(md.text.contains(ostiary_saml::BINDING_REDIRECT) && md.text.contains(ostiary_saml::BINDING_POST));
    assert!(md.text.contains(&format!("entityID=\"{}/{}/\"", ostiary_testkit::BASE, s.ts.t.tenant_id)));
    let tenant_md = s.ts.get(&format!("/{}/federationmetadata/2007-06/federationmetadata.xml", s.ts.t.tenant_id)).await;
    assert_eq!(tenant_md.status, StatusCode::OK);
    // The service principal shows its SAML settings in Graph's shape.
    let sp = s.ts.graph("GET", &format!("/servicePrincipals/{}", s.sp), &s.admin, None).await;
    assert_eq!(sp.json["preferredSingleSignOnMode"], "saml");
    assert_eq!(sp.json["samlSingleSignOnSettings"]["relayState"], "/home");
    assert!(sp.json.get("ostiarySaml").is_none(), "{}", sp.text);
    assert_eq!(sp.json["keyCredentials"].as_array().unwrap().len(), 2);
    assert!(!sp.text.contains("sealedPrivateKey"));
    let first = sp.json["preferredTokenSigningKeyThumbprint"].as_str().unwrap().to_string();
    // Rotation: a second certificate is published at once, signs once made preferred.
    let c2 =
        s.ts.graph(
            "POST",
            &format!("/servicePrincipals/{}/addTokenSigningCertificate", s.sp),
            &s.admin,
            Some(json!({"displayName": "CN=Next", "endDateTime": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(c2.status, StatusCode::OK, "{}", c2.text);
    let thumb2 = c2.json["thumbprint"].as_str().unwrap().to_string();
    let md = s
        .ts
        .get(&format!("/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}", s.ts.t.tenant_id, s.app_id))
        .await;
    assert_eq!(md.text.matches("<ds:X509Certificate>").count(), 2, "{}", md.text);
    let r =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}", s.sp),
            &s.admin,
            Some(json!({"preferredTokenSigningKeyThumbprint": thumb2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let bad =
        s.ts.graph(
            "PATCH",
            &format!("/servicePrincipals/{}", s.sp),
            &s.admin,
            Some(json!({"preferredTokenSigningKeyThumbprint": "00"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_ne!(first, thumb2);
    // The expiry is a metric.
    let metrics = s.ts.get("/metrics").await;
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l.starts_with("ostiary_credential_expiry_seconds") && l.contains("samlSigningCertificate")),
        "no SAML certificate expiry metric"
    );
    // Import of SP metadata sets the identifier, reply URLs with indexes and the logout URL.
    let t = now(&s);
    let (sp_key, _) =
        SigningKey::generate(Alg::RS256, "sp2.test", t - time::Duration::hours(1), t + time::Duration::days(30))
            .unwrap();
    let app2 = s.ts.graph("POST", "/applications", &s.admin, Some(json!({"displayName": "Imported"}))).await;
    let app2_id = app2.json["appId"].as_str().unwrap().to_string();
    let sp2 = s.ts.graph("POST", "/servicePrincipals", &s.admin, Some(json!({"appId": app2_id}))).await;
    let sp2_id = sp2.json["id"].as_str().unwrap().to_string();
    let sp_md = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp2.test/sp"><md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp2.test/slo"/><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp2.test/acs" index="1" isDefault="true"/><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp2.test/acs2" index="2"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
        ostiary_crypto::b64::std_encode(sp_key.cert_der())
    );
    let imp =
        s.ts.graph(
            "POST",
            &format!("/servicePrincipals/{sp2_id}/importSamlMetadata"),
            &s.admin,
            Some(json!({"metadata": sp_md})),
        )
        .await;
    assert_eq!(imp.status, StatusCode::OK, "{}", imp.text);
    assert_eq!(imp.json["preferredSingleSignOnMode"], "saml");
    assert_eq!(imp.json["logoutUrl"], "https://sp2.test/slo");
    assert_eq!(imp.json["samlSingleSignOnSettings"]["requireSignedRequests"], true);
    let app2 = s.ts.graph("GET", &format!("/applications/{}", app2.json["id"].as_str().unwrap()), &s.admin, None).await;
    assert_eq!(app2.json["identifierUris"], json!(["https://sp2.test/sp"]));
    assert_eq!(app2.json["web"]["redirectUris"], json!(["https://sp2.test/acs", "https://sp2.test/acs2"]));
    // Hostile metadata is a 400, not a 500.
    let bad =
        s.ts.graph(
            "POST",
            &format!("/servicePrincipals/{sp2_id}/importSamlMetadata"),
            &s.admin,
            Some(json!({"metadata": "<!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><x>&a;</x>"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let _ = (&s.app_object, Value::Null);
}

#[tokio::test]
async fn conditional_access_applies_to_saml_sign_ins() {
    let s = setup().await;
    // MFA required for this SAML application: after the password the user is asked to set up a
    // second factor; nothing reaches the ACS.
    let mfa = s
        .ts
        .graph(
            "POST",
            "/identity/conditionalAccess/policies",
            &s.admin,
            Some(json!({"displayName": "MFA for Expense", "state": "enabled",
                "conditions": {"users": {"includeUsers": [s.alice_id]}, "applications": {"includeApplications": [s.app_id]}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})),
        )
        .await;
    assert_eq!(mfa.status, StatusCode::CREATED, "{}", mfa.text);
    let mut b = Browser::default();
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    assert!(saml_post(&page).is_none(), "MFA must come first: {}", page.text);
    assert!(page.text.to_lowercase().contains("verify your identity"), "{}", page.text);
    let del =
        s.ts.graph(
            "DELETE",
            &format!("/identity/conditionalAccess/policies/{}", mfa.json["id"].as_str().unwrap()),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    // A blocking policy: AADSTS53003 at the IdP, and a failure in the sign-in log.
    let block = s
        .ts
        .graph(
            "POST",
            "/identity/conditionalAccess/policies",
            &s.admin,
            Some(json!({"displayName": "Block Expense", "state": "enabled",
                "conditions": {"users": {"includeUsers": [s.alice_id]}, "applications": {"includeApplications": [s.app_id]}},
                "grantControls": {"operator": "OR", "builtInControls": ["block"]}})),
        )
        .await;
    assert_eq!(block.status, StatusCode::CREATED, "{}", block.text);
    let mut b = Browser::default();
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    assert!(page.text.contains("AADSTS53003"), "{}", page.text);
    assert!(saml_post(&page).is_none());
    assert!(s.ts.core.log_writer.flush(std::time::Duration::from_secs(10)).await);
    let logs = s.ts.graph("GET", "/auditLogs/signIns", &s.admin, None).await;
    let blocked = logs.json["value"].as_array().unwrap().iter().any(|e| {
        e["appId"] == s.app_id && e["status"]["errorCode"] == 53003 && e["conditionalAccessStatus"] == "failure"
    });
    assert!(blocked, "{}", logs.text);
    // Smart lockout counts SAML password failures like any other.
    let mut b = Browser::default();
    for _ in 0..12 {
        let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
        let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
        submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", "wrong-Password-1")]).await;
    }
    let r = b.get(&s.ts, &redirect_url(&s, &authn_xml(&req(&s)), None, None)).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    let r = submit(&mut b, &s.ts, &page, &[("username", &s.alice), ("password", &s.password)]).await;
    let (page, _) = b.follow(&s.ts, r, "https://sp.test").await;
    assert!(page.text.contains("locked"), "the right password is refused while locked: {}", page.text);
}

#[tokio::test]
async fn idp_initiated_logout_sends_signed_logout_requests_to_saml_apps() {
    let s = setup().await;
    let mut b = Browser::default();
    let (_, xml, _) = sign_in(&s, &mut b, &redirect_url(&s, &authn_xml(&req(&s)), None, None), &s.alice).await;
    let doc = parse(&xml, &Limits::default()).unwrap();
    let session_index = find_all(&doc.root, "AuthnStatement")[0].attr("SessionIndex").unwrap().to_string();
    // Signing out at Ostiary (the OIDC end-session endpoint) tells the SAML app, front-channel.
    let r = b.get(&s.ts, &format!("/{}/oauth2/v2.0/logout", s.ts.t.tenant_id)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let src = r
        .text
        .split("<iframe")
        .filter_map(|f| f.split("src=\"").nth(1).and_then(|t| t.split('"').next()))
        .map(|u| u.replace("&amp;", "&"))
        .find(|u| u.starts_with(SLO))
        .unwrap_or_else(|| panic!("no SAML logout iframe: {}", r.text));
    let csp = r.headers.get("content-security-policy").unwrap().to_str().unwrap().to_string();
    assert!(csp.contains("frame-src https://sp.test"), "{csp}");
    let msg = ostiary_saml::binding::decode_redirect(src.split_once('?').unwrap().1, "SAMLRequest").unwrap();
    msg.signature.expect("signed").verify(&[signing_cert(&s).await]).unwrap();
    let parsed = ostiary_saml::request::parse_message(&msg.xml).unwrap();
    let ostiary_saml::request::Message::LogoutRequest(lr) = parsed.message else { panic!("{}", msg.xml) };
    assert_eq!(lr.name_id.value, s.alice);
    assert_eq!(lr.session_indexes, vec![session_index]);
    assert_eq!(lr.destination.as_deref(), Some(SLO));
}
