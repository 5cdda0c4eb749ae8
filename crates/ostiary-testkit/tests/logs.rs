//! Integration tests of the sign-in and directory-audit logs: what each kind of sign-in
//! records, the Graph `/auditLogs` query surface (filters, paging, tenant isolation,
//! permissions), the transactional audit guarantee, secrets never appearing in records,
//! retention, the credential-expiry report, the batched writer's drain, and `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_core::audit::{Activity, Actor};
use ostiary_core::logs::{RequestContext, SignInEvent, SignInKind};
use ostiary_testkit::browser::{Browser, forms};
use ostiary_testkit::{GRAPH_SCOPE, Resp, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "Str0ng!Tr0ub4dor-9";

async fn flush(ts: &TestServer) {
    assert!(ts.core.log_writer.flush(Duration::from_secs(10)).await, "sign-in records not written in time");
}

async fn sign_ins(ts: &TestServer, tok: &str, query: &str) -> Resp {
    flush(ts).await;
    let r = ts.graph("GET", &format!("/auditLogs/signIns{query}"), tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r
}

async fn audits(ts: &TestServer, tok: &str, query: &str) -> Vec<Value> {
    let r = ts.graph("GET", &format!("/auditLogs/directoryAudits{query}"), tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["value"].as_array().unwrap().clone()
}

fn values(r: &Resp) -> Vec<Value> {
    r.json["value"].as_array().unwrap().clone()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn cc_with_correlation(ts: &TestServer, secret: &str, correlation: &str) -> Resp {
    let t = ts.t.clone();
    ts.post_form(
        &format!("/{}/oauth2/v2.0/token", t.tenant_id),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &t.client_id),
            ("client_secret", secret),
            ("scope", GRAPH_SCOPE),
        ],
        &[
            ("client-request-id", correlation),
            ("user-agent", "python-requests/2.32"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await
}

#[tokio::test]
async fn service_principal_sign_ins_are_logged_with_status_and_correlation() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let ok = cc_with_correlation(&ts, &ts.t.client_secret.clone(), "11111111-aaaa-4aaa-8aaa-000000000001").await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = cc_with_correlation(&ts, "wrong-secret", "11111111-aaaa-4aaa-8aaa-000000000002").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    // Entra echoes the client's request id.
    assert_eq!(bad.headers["client-request-id"], "11111111-aaaa-4aaa-8aaa-000000000002");

    let r =
        sign_ins(&ts, &tok, &format!("?$filter={}", enc("correlationId eq '11111111-aaaa-4aaa-8aaa-000000000002'")))
            .await;
    let v = values(&r);
    assert_eq!(v.len(), 1, "{}", r.text);
    let rec = &v[0];
    assert_eq!(rec["status"]["errorCode"], 7000215);
    assert!(rec["status"]["failureReason"].as_str().unwrap().contains("Invalid client secret"), "{rec}");
    assert_eq!(rec["appId"], ts.t.client_id.as_str());
    assert_eq!(rec["ipAddress"], "203.0.113.7");
    assert_eq!(rec["userAgent"], "python-requests/2.32");
    assert_eq!(rec["isInteractive"], false);
    assert_eq!(rec["signInEventTypes"], json!(["servicePrincipal"]));
    assert_eq!(rec["clientCredentialType"], "clientSecret");
    assert_eq!(rec["conditionalAccessStatus"], "notApplied");
    assert!(rec["id"].as_str().unwrap().len() == 36);

    let r =
        sign_ins(&ts, &tok, &format!("?$filter={}", enc("correlationId eq '11111111-aaaa-4aaa-8aaa-000000000001'")))
            .await;
    let v = values(&r);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["status"]["errorCode"], 0);
    assert_eq!(v[0]["status"]["failureReason"], Value::Null);
    assert_eq!(v[0]["resourceId"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(v[0]["resourceDisplayName"], "Microsoft Graph");
    assert!(v[0]["servicePrincipalId"].as_str().is_some());

    // Filters: failures only, by error code, by app and kind.
    let failures = values(&sign_ins(&ts, &tok, &format!("?$filter={}", enc("status/errorCode ne 0"))).await);
    assert_eq!(failures.len(), 1);
    let by_code = values(&sign_ins(&ts, &tok, &format!("?$filter={}", enc("status/errorCode eq 7000215"))).await);
    assert_eq!(by_code.len(), 1);
    let by_app = values(
        &sign_ins(
            &ts,
            &tok,
            &format!(
                "?$filter={}",
                enc(&format!("appId eq '{}' and signInEventTypes/any(t: t eq 'servicePrincipal')", ts.t.client_id))
            ),
        )
        .await,
    );
    // The admin token, the success and the failure.
    assert_eq!(by_app.len(), 3, "{by_app:?}");
    let interactive = values(&sign_ins(&ts, &tok, &format!("?$filter={}", enc("isInteractive eq true"))).await);
    assert!(interactive.is_empty());

    // Newest first.
    let all = values(&sign_ins(&ts, &tok, "").await);
    let times: Vec<&str> = all.iter().map(|r| r["createdDateTime"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert_eq!(all[0]["correlationId"], by_app[0]["correlationId"]);
}

#[tokio::test]
async fn time_filters_paging_and_single_records() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let start = ts.core.now();
    for i in 0..7 {
        ts.clock.advance(time::Duration::seconds(10));
        cc_with_correlation(&ts, "nope", &format!("corr-{i}")).await;
    }
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    // Records strictly after start + 25 s: the ones at +30 .. +70.
    let q = format!(
        "?$filter={}",
        enc(&format!(
            "createdDateTime gt {} and status/errorCode eq 7000215",
            fmt(start + time::Duration::seconds(25))
        ))
    );
    assert_eq!(values(&sign_ins(&ts, &tok, &q).await).len(), 5);
    let q = format!(
        "?$filter={}",
        enc(&format!(
            "createdDateTime ge {} and createdDateTime lt {}",
            fmt(start + time::Duration::seconds(20)),
            fmt(start + time::Duration::seconds(40))
        ))
    );
    let v = values(&sign_ins(&ts, &tok, &q).await);
    assert_eq!(v.iter().map(|r| r["correlationId"].as_str().unwrap()).collect::<Vec<_>>(), ["corr-2", "corr-1"]);

    // Pages of 3 through nextLink, newest first, each record once.
    let mut seen = Vec::new();
    let mut url = format!("/auditLogs/signIns?$top=3&$filter={}", enc("status/errorCode eq 7000215"));
    for _ in 0..5 {
        let r = ts.graph("GET", &url, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(values(&r).into_iter().map(|x| x["correlationId"].as_str().unwrap().to_string()));
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => url = next.split_once("/v1.0").unwrap().1.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).rev().map(|i| format!("corr-{i}")).collect::<Vec<_>>());

    // A single record by id; unknown ids are 404; bad options are 400.
    let one = &values(&sign_ins(&ts, &tok, "?$top=1").await)[0];
    let r = ts.graph("GET", &format!("/auditLogs/signIns/{}", one["id"].as_str().unwrap()), &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["correlationId"], one["correlationId"]);
    let r = ts.graph("GET", &format!("/auditLogs/signIns/{}", uuid::Uuid::new_v4()), &tok, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for bad in [
        "?$filter=ipAddress%20eq%20'1.2.3.4'",
        "?$filter=userId%20eq%20'a'%20or%20userId%20eq%20'b'",
        "?$filter=createdDateTime%20ge%20'soon'",
        "?$skiptoken=o5",
        "?$orderby=createdDateTime",
        "?$filter=status/errorCode%20eq",
    ] {
        let r = ts.graph("GET", &format!("/auditLogs/signIns{bad}"), &tok, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.json["error"]["code"].is_string(), "{}", r.text);
    }
    let r = ts.graph("POST", "/auditLogs/signIns", &tok, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn interactive_sign_ins_record_failures_and_successes() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let app = ts
        .graph(
            "POST",
            "/applications",
            &tok,
            Some(json!({"displayName": "Portal", "web": {"redirectUris": ["https://app.test/cb"]}})),
        )
        .await;
    let app_id = app.json["appId"].as_str().unwrap().to_string();
    ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": app_id}))).await;
    let upn = format!("ada@{}", ts.t.domain);
    let u = ts
        .graph("POST", "/users", &tok, Some(json!({"accountEnabled": true, "displayName": "Ada", "mailNickname": "ada",
            "userPrincipalName": upn, "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}})))
        .await;
    let user_id = u.json["id"].as_str().unwrap().to_string();
    let mut b = Browser::default();
    let url = format!(
        "/{}/oauth2/v2.0/authorize?client_id={app_id}&response_type=code&redirect_uri={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ts.t.tenant_id,
        enc("https://app.test/cb")
    );
    let r = b.get(&ts, &url).await;
    let (page, _) = b.follow(&ts, r, "https://app.test").await;
    let mut form = forms(&page.text).into_iter().next().unwrap();
    form.set("username", &upn).set("password", "Wrong-Password-1");
    let page = b.post(&ts, &form.action, &form.fields).await;
    assert!(page.text.contains("incorrect"), "{}", page.text);
    let mut form = forms(&page.text).into_iter().next().unwrap();
    form.set("username", &upn).set("password", PASSWORD);
    let r = b.post(&ts, &form.action, &form.fields).await;
    let (page, loc) = b.follow(&ts, r, "https://app.test").await;
    if loc.is_none() {
        // First use of the app: consent, then the code.
        let mut form = forms(&page.text).into_iter().next().unwrap_or_else(|| panic!("{}", page.text));
        form.set("decision", "accept");
        let r = b.post(&ts, &form.action, &form.fields).await;
        let (_, loc) = b.follow(&ts, r, "https://app.test").await;
        assert!(loc.is_some_and(|l| l.contains("code=")));
    }
    // Single sign-on: the session answers, no credentials; recorded as satisfied earlier.
    let r = b.get(&ts, &url).await;
    let (_, loc) = b.follow(&ts, r, "https://app.test").await;
    assert!(loc.is_some_and(|l| l.contains("code=")), "SSO should answer with a code");
    let q = format!("?$filter={}", enc(&format!("userPrincipalName eq '{upn}' and isInteractive eq true")));
    let v = values(&sign_ins(&ts, &tok, &q).await);
    assert_eq!(v.len(), 3, "{v:?}");
    assert_eq!(v[0]["authenticationDetails"][0]["authenticationMethod"], "Previously satisfied");
    assert_eq!(v[0]["authenticationProtocol"], "sso");
    assert_eq!(v[0]["status"]["errorCode"], 0);
    let v: Vec<Value> = v[1..].to_vec();
    let q = format!(
        "?$filter={}",
        enc(&format!("userPrincipalName eq '{}' and isInteractive eq true", upn.to_uppercase()))
    );
    assert_eq!(values(&sign_ins(&ts, &tok, &q).await).len(), 3, "names compare case-insensitively");
    assert_eq!(v[0]["status"]["errorCode"], 0);
    assert_eq!(v[0]["userId"], user_id.as_str());
    assert_eq!(v[0]["userDisplayName"], "Ada");
    assert_eq!(v[0]["appDisplayName"], "Portal");
    assert_eq!(v[0]["authenticationDetails"][0]["authenticationMethod"], "Password");
    assert_eq!(v[0]["authenticationDetails"][0]["succeeded"], true);
    assert_eq!(v[1]["status"]["errorCode"], 50126);
    assert_eq!(v[1]["authenticationDetails"][0]["succeeded"], false);
    // The failed attempt names the typed user but, as in Entra, no object id: failures must
    // not reveal whether the account exists.
    assert_eq!(v[1]["userId"], "");
    let by_user = values(&sign_ins(&ts, &tok, &format!("?$filter={}", enc(&format!("userId eq '{user_id}'")))).await);
    assert_eq!(by_user.len(), 2, "the password sign-in and the SSO one");
}

#[tokio::test]
async fn audit_records_describe_changes_with_old_and_new_values_and_no_secrets() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let upn = format!("grace@{}", ts.t.domain);
    let u = ts
        .graph_with("POST", "/users", &tok, Some(json!({"accountEnabled": true, "displayName": "Grace", "mailNickname": "grace",
            "userPrincipalName": upn, "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}})),
            &[("client-request-id", "corr-add-user")])
        .await;
    assert_eq!(u.status, StatusCode::CREATED);
    let uid = u.json["id"].as_str().unwrap().to_string();
    let r = ts
        .graph("PATCH", &format!("/users/{uid}"), &tok, Some(json!({"jobTitle": "Admiral", "accountEnabled": false})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ts
        .graph(
            "PATCH",
            &format!("/users/{uid}"),
            &tok,
            Some(
                json!({"passwordProfile": {"password": "An0ther!Str0ng-Pass", "forceChangePasswordNextSignIn": false}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let app = ts.graph("POST", "/applications", &tok, Some(json!({"displayName": "Billing"}))).await;
    let app_oid = app.json["id"].as_str().unwrap().to_string();
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{app_oid}/addPassword"),
            &tok,
            Some(json!({"passwordCredential": {"displayName": "ci"}})),
        )
        .await;
    let secret = pw.json["secretText"].as_str().unwrap().to_string();

    let add = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Add user'"))).await;
    let add: Vec<&Value> = add.iter().filter(|a| a["targetResources"][0]["id"] == uid.as_str()).collect();
    assert_eq!(add.len(), 1);
    let a = add[0];
    assert_eq!(a["category"], "UserManagement");
    assert_eq!(a["operationType"], "Add");
    assert_eq!(a["result"], "success");
    assert_eq!(a["correlationId"], "corr-add-user");
    assert_eq!(a["loggedByService"], "Core Directory");
    assert_eq!(a["initiatedBy"]["app"]["appId"], ts.t.client_id.as_str());
    assert_eq!(a["initiatedBy"]["user"], Value::Null);
    assert_eq!(a["targetResources"][0]["userPrincipalName"], upn.as_str());
    assert_eq!(a["targetResources"][0]["type"], "User");

    let upd = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Update user'"))).await;
    assert_eq!(upd.len(), 1, "{upd:?}");
    let props = upd[0]["targetResources"][0]["modifiedProperties"].as_array().unwrap();
    let prop = |n: &str| props.iter().find(|p| p["displayName"] == n).unwrap_or_else(|| panic!("{n} in {props:?}"));
    assert_eq!(prop("jobTitle")["oldValue"], "[]");
    assert_eq!(prop("jobTitle")["newValue"], "[\"Admiral\"]");
    assert_eq!(prop("accountEnabled")["oldValue"], "[true]");
    assert_eq!(prop("accountEnabled")["newValue"], "[false]");
    assert_eq!(props.len(), 2, "only what changed: {props:?}");

    let reset = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Reset user password'"))).await;
    assert_eq!(reset.len(), 1);
    let creds = audits(&ts, &tok, &format!("?$filter={}", enc("category eq 'ApplicationManagement'"))).await;
    assert!(
        creds.iter().any(|a| a["activityDisplayName"] == "Update application – Certificates and secrets management"),
        "{creds:?}"
    );

    // Nothing secret anywhere in the audit log: no password, no client secret, no hashes.
    let everything = ts.graph("GET", "/auditLogs/directoryAudits?$top=1000", &tok, None).await.text;
    for needle in [PASSWORD, "An0ther!Str0ng-Pass", secret.as_str(), "argon2", "secretHash", "passwordHash"] {
        assert!(!everything.contains(needle), "audit log leaks {needle}");
    }
    // The bootstrap itself is on record.
    let boot = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Add tenant'"))).await;
    assert_eq!(boot.len(), 1);
    assert_eq!(boot[0]["initiatedBy"]["app"]["displayName"], "Ostiary bootstrap");
}

#[tokio::test]
async fn an_audit_record_exists_exactly_when_its_change_committed() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let body = |n: &str| {
        json!({"accountEnabled": true, "displayName": n, "mailNickname": n,
        "userPrincipalName": format!("dup@{}", ts.t.domain),
        "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}})
    };
    assert_eq!(ts.graph("POST", "/users", &tok, Some(body("first"))).await.status, StatusCode::CREATED);
    // Same UPN: the store refuses the change, so no record of it may exist.
    let r = ts.graph("POST", "/users", &tok, Some(body("second"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let adds = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Add user'"))).await;
    let names: Vec<&str> = adds.iter().filter_map(|a| a["targetResources"][0]["displayName"].as_str()).collect();
    assert!(names.contains(&"first"));
    assert!(!names.contains(&"second"), "{names:?}");
    // Deleting twice: one record.
    let g = ts
        .graph(
            "POST",
            "/groups",
            &tok,
            Some(json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true})),
        )
        .await;
    let gid = g.json["id"].as_str().unwrap();
    assert_eq!(ts.graph("DELETE", &format!("/groups/{gid}"), &tok, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.graph("DELETE", &format!("/groups/{gid}"), &tok, None).await.status, StatusCode::NOT_FOUND);
    let dels = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Delete group'"))).await;
    assert_eq!(dels.len(), 1);
    // Consent grants and settings changes are audited too (they live in the KV store).
    let r = ts
        .graph(
            "PATCH",
            "/policies/authorizationPolicy",
            &tok,
            Some(json!({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": []}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let pol = audits(&ts, &tok, &format!("?$filter={}", enc("category eq 'Policy'"))).await;
    assert_eq!(pol.len(), 1);
    assert_eq!(pol[0]["activityDisplayName"], "Update authorization policy");
    let props = pol[0]["targetResources"][0]["modifiedProperties"].as_array().unwrap();
    assert!(props.iter().any(|p| p["displayName"] == "usersCanConsent" && p["newValue"] == "[false]"), "{props:?}");
}

#[tokio::test]
async fn logs_are_tenant_isolated_and_need_a_log_permission() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let other = ts.create_tenant("Fabrikam").await;
    let other_tok = ts.graph_token(&other).await;
    cc_with_correlation(&ts, "nope", "only-in-contoso").await;
    flush(&ts).await;
    let q = format!("?$filter={}", enc("correlationId eq 'only-in-contoso'"));
    assert_eq!(values(&sign_ins(&ts, &tok, &q).await).len(), 1);
    assert!(values(&sign_ins(&ts, &other_tok, &q).await).is_empty());
    // Fabrikam's audit log starts with its own bootstrap and holds nothing of Contoso's.
    let theirs = audits(&ts, &other_tok, "?$top=1000").await;
    assert!(theirs.iter().all(|a| a["initiatedBy"]["app"]["appId"] != ts.t.client_id.as_str()));
    let id = values(&sign_ins(&ts, &tok, &q).await)[0]["id"].as_str().unwrap().to_string();
    let r = ts.graph("GET", &format!("/auditLogs/signIns/{id}"), &other_tok, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // An app with only User.Read.All cannot read logs.
    let app = ts.graph("POST", "/applications", &tok, Some(json!({"displayName": "Reader"}))).await;
    let app_id = app.json["appId"].as_str().unwrap().to_string();
    let sp = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": app_id}))).await;
    let graph_sp =
        ts.graph("GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')", &tok, None).await;
    let r = ts
        .graph("POST", &format!("/servicePrincipals/{}/appRoleAssignedTo", graph_sp.json["id"].as_str().unwrap()), &tok,
            Some(json!({"principalId": sp.json["id"], "resourceId": graph_sp.json["id"], "appRoleId": "df021288-bdef-4463-88db-98f22de89214"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()),
            &tok,
            Some(json!({})),
        )
        .await;
    let t = ts.token_for(&ts.t.tenant_id, &app_id, pw.json["secretText"].as_str().unwrap(), GRAPH_SCOPE).await;
    let reader = t.json["access_token"].as_str().unwrap();
    let r = ts.graph("GET", "/auditLogs/signIns", reader, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = ts.graph("GET", "/auditLogs/directoryAudits", reader, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A refused write is on record (F6: access-denied audit entries); a refused read is not.
    let r = ts
        .graph(
            "POST",
            "/groups",
            reader,
            Some(json!({"displayName": "X", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let denied = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Access denied'"))).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["result"], "failure");
    assert_eq!(denied[0]["initiatedBy"]["app"]["appId"], app_id.as_str());
    assert_eq!(denied[0]["targetResources"][0]["displayName"], "POST /groups");
}

#[tokio::test]
async fn retention_purges_old_records_and_credential_expiry_is_reported_once() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    cc_with_correlation(&ts, "nope", "old-one").await;
    flush(&ts).await;
    let end = ts.core.now() + time::Duration::days(10);
    let app = ts.graph("POST", "/applications", &tok, Some(json!({"displayName": "Nightly"}))).await;
    let r = ts
        .graph("POST", &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()), &tok,
            Some(json!({"passwordCredential": {"displayName": "ci", "endDateTime": end.format(&time::format_description::well_known::Rfc3339).unwrap()}})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Soon-expiring credentials: reported once, not on every run.
    assert_eq!(ts.core.report_expiring_credentials(time::Duration::days(30)).await.unwrap(), 1);
    assert_eq!(ts.core.report_expiring_credentials(time::Duration::days(30)).await.unwrap(), 0);
    let exp =
        audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Application credential expiring'")))
            .await;
    assert_eq!(exp.len(), 1);
    assert_eq!(exp[0]["targetResources"][0]["displayName"], "Nightly");
    // The metric reports the nearest expiry per app (M5).
    let metrics = ts.get("/metrics").await.text;
    let app_id = app.json["appId"].as_str().unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("ostiary_credential_expiry_seconds{") && l.contains(app_id))
        .unwrap_or_else(|| panic!("no expiry metric for {app_id}"));
    let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((secs - 10.0 * 86400.0).abs() < 120.0, "{line}");

    // 31 days later the sign-in is past retention; after expiry the credential is reported
    // as expired, once.
    ts.clock.advance(time::Duration::days(31));
    assert_eq!(ts.core.report_expiring_credentials(time::Duration::days(30)).await.unwrap(), 1);
    let purged = ts.core.purge_logs(ostiary_core::jobs::Retention::default(), 10).await.unwrap();
    assert!(purged >= 2, "purged {purged}");
    let tok = ts.admin_token().await;
    let q = format!("?$filter={}", enc("correlationId eq 'old-one'"));
    assert!(values(&sign_ins(&ts, &tok, &q).await).is_empty());
    let expired =
        audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Application credential expired'")))
            .await;
    assert_eq!(expired.len(), 1, "recent records survive the purge");
}

#[tokio::test]
async fn the_writer_drains_every_queued_record_on_shutdown() {
    let ts = TestServer::new().await;
    let tenant: ostiary_model::TenantId = ts.t.tenant_id.parse().unwrap();
    let n = 5_000;
    for i in 0..n {
        let ctx = RequestContext { ip: None, user_agent: None, correlation_id: format!("storm-{i}") };
        ts.core.record_sign_in(SignInEvent::new(tenant, SignInKind::NonInteractive, ctx)).await;
    }
    ts.core.log_writer.shutdown().await;
    assert_eq!(ts.core.log_writer.stats.depth.load(std::sync::atomic::Ordering::SeqCst), 0);
    let written = ts.core.log_writer.stats.written.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(written, n);
    let all = ts.core.store.logs_after(0, 10_000).await.unwrap();
    let storm =
        all.iter().filter(|r| r.record.correlation_id.as_deref().is_some_and(|c| c.starts_with("storm-"))).count();
    assert_eq!(storm as u64, n);
    // Far fewer transactions than records: the writer batches.
    let seqs: Vec<i64> = all.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // After shutdown, records are counted as dropped rather than queued forever.
    let ctx = RequestContext::default();
    ts.core.record_sign_in(SignInEvent::new(tenant, SignInKind::NonInteractive, ctx)).await;
    assert_eq!(ts.core.log_writer.stats.dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn metrics_expose_the_slis_in_prometheus_format() {
    let ts = TestServer::new().await;
    let _ = ts.admin_token().await;
    cc_with_correlation(&ts, "nope", "m-1").await;
    flush(&ts).await;
    let r = ts.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let m = &r.text;
    let tenant = &ts.t.tenant_id;
    let client = &ts.t.client_id;
    assert!(m.contains(&format!(
        "ostiary_signin_attempts_total{{tenant_id=\"{tenant}\",app_id=\"{client}\",kind=\"service_principal\",result=\"success\",error_code=\"0\"}} 1"
    )), "{m}");
    assert!(m.contains(&format!(
        "ostiary_signin_attempts_total{{tenant_id=\"{tenant}\",app_id=\"{client}\",kind=\"service_principal\",result=\"failure\",error_code=\"7000215\"}} 1"
    )));
    assert!(m.contains("ostiary_token_issuance_duration_seconds_count{grant_type=\"client_credentials\"} 2"));
    assert!(m.contains("ostiary_tokens_issued_total{grant_type=\"client_credentials\"} 1"));
    assert!(
        m.contains(
            "ostiary_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",method=\"POST\",status=\"401\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("ostiary_signin_log_written_total 3") || m.contains("ostiary_signin_log_written_total 2"),
        "{m}"
    );
    assert!(m.contains("ostiary_certificate_expiry_seconds{"));
    assert!(
        m.contains("ostiary_audit_events_total{category=\"DirectoryManagement\"}")
            || m.contains("# TYPE ostiary_audit_events_total counter")
    );
    // Every family is declared.
    for name in ostiary_metrics::Metrics::names() {
        assert!(m.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
}

#[tokio::test]
async fn key_rotation_and_self_service_changes_are_audited() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let tenant: ostiary_model::TenantId = ts.t.tenant_id.parse().unwrap();
    ts.core.rotate_keys(tenant, time::Duration::hours(1)).await.unwrap();
    let rot = audits(&ts, &tok, &format!("?$filter={}", enc("activityDisplayName eq 'Rotate signing keys'"))).await;
    assert_eq!(rot.len(), 1);
    assert_eq!(rot[0]["category"], "KeyManagement");
    // A standalone record written by the core for events with no other write.
    let actor = Actor::system(tenant, "test", "corr-standalone".into());
    ts.core.record_audit(&actor, Activity::new("Something refused", "Policy", "Other").failed("denied")).await;
    let failed = audits(&ts, &tok, &format!("?$filter={}", enc("result eq 'failure'"))).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["resultReason"], "denied");
    assert_eq!(failed[0]["correlationId"], "corr-standalone");
}

#[tokio::test]
async fn graph_throttles_per_app_with_retry_after_and_counts_it() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    ts.core.graph_throttle.set_limit(ostiary_core::throttle::RateLimit { burst: 3, per_second: 0.5 });
    for _ in 0..3 {
        assert_eq!(ts.graph("GET", "/users?$top=1", &tok, None).await.status, StatusCode::OK);
    }
    let r = ts.graph("GET", "/users?$top=1", &tok, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.headers["retry-after"], "2");
    assert_eq!(r.json["error"]["code"], "TooManyRequests");
    // Another tenant's app is not affected.
    let other = ts.create_tenant("Northwind").await;
    let other_tok = ts.graph_token(&other).await;
    assert_eq!(ts.graph("GET", "/users?$top=1", &other_tok, None).await.status, StatusCode::OK);
    // Refilled after the advertised wait.
    ts.clock.advance(time::Duration::seconds(2));
    assert_eq!(ts.graph("GET", "/users?$top=1", &tok, None).await.status, StatusCode::OK);
    let m = ts.get("/metrics").await.text;
    assert!(m.contains("ostiary_throttled_responses_total{route=\"/v1.0/{*path}\"} 1"), "{m}");
    assert!(m.contains("ostiary_store_operation_duration_seconds_count{op=\"list_objects\"}"), "{m}");
    assert!(m.contains("ostiary_store_pool_connections{state=\"idle\"}"));
}

#[tokio::test]
async fn sign_ins_carry_the_country_when_a_geoip_database_is_configured() {
    let Ok(path) = std::env::var("OSTIARY_TEST_GEOIP_DB") else {
        assert!(
            std::env::var("OSTIARY_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "OSTIARY_TEST_GEOIP_DB is not set and OSTIARY_REQUIRE_TOOLS=1"
        );
        eprintln!("SKIP: OSTIARY_TEST_GEOIP_DB not set (scripts/test installs the database)");
        return;
    };
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    assert!(ts.core.set_geoip(ostiary_core::geo::GeoIp::from_bytes(std::fs::read(&path).unwrap()).unwrap()));
    for (ip, corr) in [("81.2.69.160", "geo-gb"), ("2001:4860:4860::8888", "geo-us"), ("10.1.2.3", "geo-private")] {
        let t = ts.t.clone();
        ts.post_form(
            &format!("/{}/oauth2/v2.0/token", t.tenant_id),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &t.client_id),
                ("client_secret", "x"),
                ("scope", GRAPH_SCOPE),
            ],
            &[("client-request-id", corr), ("x-forwarded-for", ip)],
        )
        .await;
    }
    let country = |corr: &'static str| {
        let ts = &ts;
        let tok = tok.clone();
        async move {
            let v =
                values(&sign_ins(ts, &tok, &format!("?$filter={}", enc(&format!("correlationId eq '{corr}'")))).await);
            v[0]["location"]["countryOrRegion"].clone()
        }
    };
    assert_eq!(country("geo-gb").await, "GB");
    assert_eq!(country("geo-us").await, "US");
    assert_eq!(country("geo-private").await, Value::Null);
}
