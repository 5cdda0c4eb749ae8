//! Integration tests of the Graph admin API's OData query options over a seeded directory:
//! `$filter` (simple and advanced), `$select`, `$top` with paging, `$orderby`, `$count`,
//! `$search`, and the rejected options.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::http::StatusCode;
use ostiary_core::Clock;
use ostiary_testkit::{BASE, Resp, TestServer};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};

const PASSWORD: &str = "Str0ng!Tr0ub4dor-9";
const EVENTUAL: &[(&str, &str)] = &[("ConsistencyLevel", "eventual")];

const FIRST: [&str; 30] = [
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia",
    "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Alina", "Bianca", "Natalie", "Quentin", "Rosalind",
    "Uma", "Xavier", "Yolanda", "Zach", "Kalinda", "Oscar",
];
const LAST: [&str; 5] = ["Anderson", "Brown", "Clark", "Dalton", "Evans"];
const DEPARTMENTS: [&str; 3] = ["Sales", "Engineering", "Marketing"];

/// One seeded user as the test knows it (the bootstrap admin included, as `admin`).
#[derive(Debug, Clone)]
struct Seed {
    display_name: String,
    upn: String,
    department: Option<String>,
    job_title: Option<String>,
    account_enabled: bool,
    mail: Option<String>,
}

fn seeds(domain: &str) -> Vec<Seed> {
    (0..30)
        .map(|i| {
            let local = format!("{}.{}", FIRST[i].to_lowercase(), i);
            let upn = format!("{local}@{domain}");
            Seed {
                display_name: format!("{} {}", FIRST[i], LAST[i % 5]),
                upn: upn.clone(),
                department: if i % 7 == 6 { None } else { Some(DEPARTMENTS[i % 3].to_string()) },
                job_title: match i % 3 {
                    0 => Some("Engineer".into()),
                    1 => Some("Manager".into()),
                    _ => None,
                },
                account_enabled: i % 5 != 0,
                mail: if i % 4 == 0 { Some(upn) } else { None },
            }
        })
        .collect()
}

/// A server with 30 seeded users; returns the server, an admin token, and every user
/// (seeded ones plus the bootstrap admin).
async fn seeded() -> (TestServer, String, Vec<Seed>) {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let mut all = seeds(&ts.t.domain);
    for s in &all {
        let mut body = json!({
            "accountEnabled": s.account_enabled,
            "displayName": s.display_name,
            "mailNickname": s.upn.split('@').next().unwrap().replace('.', ""),
            "userPrincipalName": s.upn,
            "passwordProfile": { "password": PASSWORD },
        });
        if let Some(d) = &s.department {
            body["department"] = json!(d);
        }
        if let Some(j) = &s.job_title {
            body["jobTitle"] = json!(j);
        }
        if let Some(m) = &s.mail {
            body["mail"] = json!(m);
        }
        let r = ts.graph("POST", "/users", &tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    all.push(Seed {
        display_name: "Global Administrator".into(),
        upn: ts.t.admin_upn.clone(),
        department: None,
        job_title: None,
        account_enabled: true,
        mail: None,
    });
    (ts, tok, all)
}

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// `path?k=v&...` with values form-encoded and keys as given (so `$filter` stays literal).
fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    format!("{path}?{}", q.join("&"))
}

async fn get(ts: &TestServer, tok: &str, path: &str, params: &[(&str, &str)]) -> Resp {
    ts.graph("GET", &with_query(path, params), tok, None).await
}

async fn get_eventual(ts: &TestServer, tok: &str, path: &str, params: &[(&str, &str)]) -> Resp {
    ts.graph_with("GET", &with_query(path, params), tok, None, EVENTUAL).await
}

fn values(r: &Resp) -> &Vec<Value> {
    r.json["value"].as_array().unwrap_or_else(|| panic!("no value array: {}", r.text))
}

fn names(r: &Resp) -> BTreeSet<String> {
    values(r).iter().map(|v| v["displayName"].as_str().unwrap().to_string()).collect()
}

fn expect(all: &[Seed], pred: impl Fn(&Seed) -> bool) -> BTreeSet<String> {
    all.iter().filter(|s| pred(s)).map(|s| s.display_name.clone()).collect()
}

/// A `$filter` on /users that must succeed and match `pred` exactly.
async fn check_filter(ts: &TestServer, tok: &str, all: &[Seed], filter: &str, pred: impl Fn(&Seed) -> bool) {
    let r = get(ts, tok, "/users", &[("$filter", filter), ("$top", "999")]).await;
    assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.text);
    let want = expect(all, pred);
    assert!(!want.is_empty() || filter.contains("nobody"), "test data should match something for {filter}");
    assert_eq!(names(&r), want, "{filter}");
    assert_eq!(values(&r).len(), want.len(), "{filter}: no duplicates");
}

#[track_caller]
fn assert_err(r: &Resp, code: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], code, "{}", r.text);
    assert!(r.json["error"]["innerError"]["request-id"].is_string(), "{}", r.text);
}

/// A predicate over seeded users giving the expected result of a filter.
type Pred = fn(&Seed) -> bool;

fn dept(s: &Seed, d: &str) -> bool {
    s.department.as_deref() == Some(d)
}

// ---------------------------------------------------------------------------------------
// $filter

#[tokio::test]
async fn filter_eq_is_case_insensitive_on_strings() {
    let (ts, tok, all) = seeded().await;
    check_filter(&ts, &tok, &all, "displayName eq 'alice anderson'", |s| s.display_name == "Alice Anderson").await;
    check_filter(&ts, &tok, &all, "displayName eq 'ALICE ANDERSON'", |s| s.display_name == "Alice Anderson").await;
    check_filter(&ts, &tok, &all, "department eq 'sales'", |s| dept(s, "Sales")).await;
    let upn = all[3].upn.to_uppercase();
    check_filter(&ts, &tok, &all, &format!("userPrincipalName eq '{upn}'"), |s| s.upn == all[3].upn).await;
    let r = get(&ts, &tok, "/users", &[("$filter", "displayName eq 'nobody at all'")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(values(&r).is_empty());
}

#[tokio::test]
async fn filter_startswith_in_and_or_parentheses() {
    let (ts, tok, all) = seeded().await;
    check_filter(&ts, &tok, &all, "startswith(displayName,'al')", |s| s.display_name.to_lowercase().starts_with("al"))
        .await;
    check_filter(&ts, &tok, &all, "startswith(displayName, 'Z')", |s| s.display_name.starts_with('Z')).await;
    check_filter(&ts, &tok, &all, "department in ('Sales','marketing')", |s| dept(s, "Sales") || dept(s, "Marketing"))
        .await;
    check_filter(&ts, &tok, &all, "department eq 'Sales' and accountEnabled eq true", |s| {
        dept(s, "Sales") && s.account_enabled
    })
    .await;
    check_filter(&ts, &tok, &all, "department eq 'Sales' or jobTitle eq 'Manager'", |s| {
        dept(s, "Sales") || s.job_title.as_deref() == Some("Manager")
    })
    .await;
    check_filter(
        &ts,
        &tok,
        &all,
        "(department eq 'Sales' or department eq 'Marketing') and accountEnabled eq false",
        |s| (dept(s, "Sales") || dept(s, "Marketing")) && !s.account_enabled,
    )
    .await;
    check_filter(
        &ts,
        &tok,
        &all,
        "department eq 'Sales' or (department eq 'Marketing' and jobTitle eq 'Engineer')",
        |s| dept(s, "Sales") || (dept(s, "Marketing") && s.job_title.as_deref() == Some("Engineer")),
    )
    .await;
}

#[tokio::test]
async fn filter_booleans_nulls_and_dates() {
    let (ts, tok, mut all) = seeded().await;
    check_filter(&ts, &tok, &all, "accountEnabled eq false", |s| !s.account_enabled).await;
    check_filter(&ts, &tok, &all, "accountEnabled eq true", |s| s.account_enabled).await;
    check_filter(&ts, &tok, &all, "mail eq null", |s| s.mail.is_none()).await;
    check_filter(&ts, &tok, &all, "department eq null", |s| s.department.is_none()).await;

    // Users created an hour later are the only ones at or after that instant.
    ts.clock.advance(time::Duration::hours(1));
    let cutoff = ts.clock.now();
    let tok = ts.admin_token().await;
    for i in 0..3 {
        let upn = format!("late{i}@{}", ts.t.domain);
        let body = json!({ "accountEnabled": true, "displayName": format!("Late {i}"), "mailNickname": format!("late{i}"),
                           "userPrincipalName": upn, "passwordProfile": { "password": PASSWORD } });
        assert_eq!(ts.graph("POST", "/users", &tok, Some(body)).await.status, StatusCode::CREATED);
        all.push(Seed {
            display_name: format!("Late {i}"),
            upn,
            department: None,
            job_title: None,
            account_enabled: true,
            mail: None,
        });
    }
    let ts_text = cutoff.format(&time::format_description::well_known::Rfc3339).unwrap();
    check_filter(&ts, &tok, &all, &format!("createdDateTime ge {ts_text}"), |s| s.display_name.starts_with("Late"))
        .await;
    check_filter(&ts, &tok, &all, &format!("createdDateTime lt {ts_text}"), |s| !s.display_name.starts_with("Late"))
        .await;
    let before = (cutoff - time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    check_filter(&ts, &tok, &all, &format!("createdDateTime ge {before}"), |_| true).await;
}

#[tokio::test]
async fn filter_lambdas_on_groups_and_applications() {
    let ts = TestServer::new().await;
    let tok = ts.admin_token().await;
    let unified = json!({ "displayName": "All Company", "mailEnabled": true, "mailNickname": "allcompany", "groupTypes": ["Unified"], "securityEnabled": false });
    let r = ts.graph("POST", "/groups", &tok, Some(unified)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["groupTypes"], json!(["Unified"]));
    let security =
        json!({ "displayName": "Admins", "mailEnabled": false, "mailNickname": "admins", "securityEnabled": true });
    assert_eq!(ts.graph("POST", "/groups", &tok, Some(security)).await.status, StatusCode::CREATED);
    let r = get(&ts, &tok, "/groups", &[("$filter", "groupTypes/any(c:c eq 'Unified')")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), BTreeSet::from(["All Company".to_string()]));
    let r = get(&ts, &tok, "/groups", &[("$filter", "securityEnabled eq true")]).await;
    assert_eq!(names(&r), BTreeSet::from(["Admins".to_string()]));

    for (name, uri) in [
        ("Api One", Some("api://one-x")),
        ("Api Two", Some("api://two-x")),
        ("Web", Some("https://web.example.test/app")),
        ("Plain", None),
    ] {
        let mut body = json!({ "displayName": name });
        if let Some(u) = uri {
            body["identifierUris"] = json!([u]);
        }
        assert_eq!(ts.graph("POST", "/applications", &tok, Some(body)).await.status, StatusCode::CREATED);
    }
    let r = get(&ts, &tok, "/applications", &[("$filter", "identifierUris/any(x:startswith(x,'api://'))")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), BTreeSet::from(["Api One".to_string(), "Api Two".to_string()]));
    let r = get(&ts, &tok, "/applications", &[("$filter", "identifierUris/any(x:x eq 'API://ONE-X')")]).await;
    assert_eq!(names(&r), BTreeSet::from(["Api One".to_string()]));
    // A lambda on a scalar or a non-lambda on a collection is rejected.
    assert_err(&get(&ts, &tok, "/groups", &[("$filter", "groupTypes eq 'Unified'")]).await, "Request_BadRequest");
    assert_err(&get(&ts, &tok, "/groups", &[("$filter", "displayName/any(c:c eq 'x')")]).await, "Request_BadRequest");
}

#[tokio::test]
async fn filter_advanced_operators_need_eventual_and_count() {
    let (ts, tok, all) = seeded().await;
    let advanced =
        ["displayName ne 'Alice Anderson'", "not(startswith(displayName,'A'))", "endswith(displayName,'son')"];
    for f in advanced {
        let r = get(&ts, &tok, "/users", &[("$filter", f)]).await;
        assert_err(&r, "Request_UnsupportedQuery");
        // The header alone is not enough; $count=true is needed too.
        let r = get_eventual(&ts, &tok, "/users", &[("$filter", f)]).await;
        assert_err(&r, "Request_UnsupportedQuery");
    }
    let cases: [(&str, Pred); 3] = [
        (advanced[0], |s| s.display_name != "Alice Anderson"),
        (advanced[1], |s| !s.display_name.starts_with('A')),
        (advanced[2], |s| s.display_name.ends_with("son")),
    ];
    for (f, pred) in cases {
        let r = get_eventual(&ts, &tok, "/users", &[("$filter", f), ("$count", "true"), ("$top", "999")]).await;
        assert_eq!(r.status, StatusCode::OK, "{f}: {}", r.text);
        let want = expect(&all, pred);
        assert_eq!(names(&r), want, "{f}");
        assert_eq!(r.json["@odata.count"], json!(want.len()), "{f}: {}", r.text);
    }
}

#[tokio::test]
async fn filter_ne_includes_objects_where_property_is_null() {
    let (ts, tok, all) = seeded().await;
    let r =
        get_eventual(&ts, &tok, "/users", &[("$filter", "department ne 'Sales'"), ("$count", "true"), ("$top", "999")])
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), expect(&all, |s| !dept(s, "Sales")));
}

#[tokio::test]
async fn filter_errors_are_400() {
    let (ts, tok, _) = seeded().await;
    for f in ["nope eq 'x'", "passwordHash eq 'x'"] {
        let r = get(&ts, &tok, "/users", &[("$filter", f)]).await;
        assert_err(&r, "Request_BadRequest");
        assert!(r.json["error"]["message"].as_str().unwrap().contains(f.split(' ').next().unwrap()), "{}", r.text);
    }
    for f in [
        "displayName eq",
        "displayName eq 'unterminated",
        "(displayName eq 'x'",
        "displayName xx 'a'",
        "accountEnabled eq 'yes'",
        "",
    ] {
        let r = get(&ts, &tok, "/users", &[("$filter", f)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{f:?}: {}", r.text);
        assert!(r.json["error"]["code"].as_str().unwrap().starts_with("Request_"), "{}", r.text);
    }
}

// ---------------------------------------------------------------------------------------
// $select, $top and paging, $orderby

#[tokio::test]
async fn select_returns_only_requested_properties() {
    let (ts, tok, _) = seeded().await;
    let r = get(&ts, &tok, "/users", &[("$select", "displayName,id")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for u in values(&r) {
        let keys: BTreeSet<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["@odata.type", "displayName", "id"]), "{u}");
    }
    let uid = values(&r)[0]["id"].as_str().unwrap().to_string();
    let one = get(&ts, &tok, &format!("/users/{uid}"), &[("$select", "userPrincipalName")]).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert!(one.json.get("userPrincipalName").is_some());
    assert!(one.json.get("displayName").is_none(), "{}", one.text);
    let r = get(&ts, &tok, "/users", &[("$select", "nope")]).await;
    assert_err(&r, "Request_BadRequest");
    assert!(r.json["error"]["message"].as_str().unwrap().contains("nope"), "{}", r.text);
    let r = get(&ts, &tok, "/users", &[("$select", "passwordHash")]).await;
    assert_err(&r, "Request_BadRequest");
}

#[tokio::test]
async fn top_and_next_link_page_through_every_user_once() {
    let (ts, tok, all) = seeded().await;
    let mut path = with_query("/users", &[("$top", "5")]);
    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let r = ts.graph("GET", &path, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        let page = values(&r);
        assert!(page.len() <= 5, "{}", r.text);
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        pages += 1;
        assert!(pages <= 20, "paging does not terminate");
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => {
                let prefix = format!("{BASE}/v1.0");
                path = next
                    .strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("nextLink not absolute under {prefix}: {next}"))
                    .to_string();
                assert!(!page.is_empty());
            }
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user appeared twice");
    assert_eq!(seen.len(), all.len());
    assert!(pages >= 7, "31 users at 5 per page need 7 pages, got {pages}");
}

#[tokio::test]
async fn next_link_keeps_filter_and_select() {
    let (ts, tok, all) = seeded().await;
    let mut path =
        with_query("/users", &[("$top", "2"), ("$filter", "department eq 'Sales'"), ("$select", "displayName")]);
    let mut got = BTreeSet::new();
    for _ in 0..20 {
        let r = ts.graph("GET", &path, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for u in values(&r) {
            assert!(u.get("department").is_none() && u.get("userPrincipalName").is_none(), "{u}");
            assert!(got.insert(u["displayName"].as_str().unwrap().to_string()), "duplicate {u}");
        }
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => path = next.strip_prefix(&format!("{BASE}/v1.0")).unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(got, expect(&all, |s| dept(s, "Sales")));
}

#[tokio::test]
async fn top_out_of_range_is_400() {
    let (ts, tok, _) = seeded().await;
    for t in ["0", "1000", "-1", "abc"] {
        let r = get(&ts, &tok, "/users", &[("$top", t)]).await;
        assert_err(&r, "Request_BadRequest");
    }
    let r = get(&ts, &tok, "/users", &[("$top", "999")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&ts, &tok, "/users", &[("$top", "1")]).await;
    assert_eq!(values(&r).len(), 1);
    assert!(r.json["@odata.nextLink"].is_string());
}

#[tokio::test]
async fn orderby_display_name_desc() {
    let (ts, tok, all) = seeded().await;
    let r = get(&ts, &tok, "/users", &[("$orderby", "displayName desc"), ("$top", "999")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got: Vec<String> = values(&r).iter().map(|u| u["displayName"].as_str().unwrap().to_string()).collect();
    let mut want: Vec<String> = all.iter().map(|s| s.display_name.clone()).collect();
    want.sort_by_key(|s| s.to_lowercase());
    want.reverse();
    assert_eq!(got, want);
    let r = get(&ts, &tok, "/users", &[("$orderby", "displayName"), ("$top", "999")]).await;
    let got: Vec<String> = values(&r).iter().map(|u| u["displayName"].as_str().unwrap().to_string()).collect();
    want.reverse();
    assert_eq!(got, want);
    // Ordered paging still visits everyone once, in order.
    let mut path = with_query("/users", &[("$orderby", "displayName desc"), ("$top", "4")]);
    let mut paged = Vec::new();
    for _ in 0..20 {
        let r = ts.graph("GET", &path, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        paged.extend(values(&r).iter().map(|u| u["displayName"].as_str().unwrap().to_string()));
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => path = next.strip_prefix(&format!("{BASE}/v1.0")).unwrap().to_string(),
            None => break,
        }
    }
    want.reverse();
    assert_eq!(paged, want);
    assert_err(&get(&ts, &tok, "/users", &[("$orderby", "nope desc")]).await, "Request_BadRequest");
}

// ---------------------------------------------------------------------------------------
// $count, $search, $expand, encodings

#[tokio::test]
async fn count_segment_needs_eventual_and_returns_plain_integer() {
    let (ts, tok, all) = seeded().await;
    let r = ts.graph_with("GET", "/users/$count", &tok, None, EVENTUAL).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"), "{:?}", r.headers);
    assert_eq!(r.text.trim().parse::<usize>().unwrap(), all.len());
    let r = ts.graph("GET", "/users/$count", &tok, None).await;
    assert_err(&r, "Request_BadRequest");
    let r = get_eventual(&ts, &tok, "/users/$count", &[("$filter", "accountEnabled eq false")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text.trim().parse::<usize>().unwrap(), all.iter().filter(|s| !s.account_enabled).count());
    let r = ts.graph_with("GET", "/groups/$count", &tok, None, EVENTUAL).await;
    assert_eq!(r.text.trim(), "0");
    let r = ts.graph_with("GET", "/servicePrincipals/$count", &tok, None, EVENTUAL).await;
    assert_eq!(r.text.trim(), "2", "Microsoft Graph and the bootstrap admin app");
}

#[tokio::test]
async fn count_true_adds_odata_count() {
    let (ts, tok, all) = seeded().await;
    let r = get_eventual(&ts, &tok, "/users", &[("$count", "true"), ("$top", "3")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["@odata.count"], json!(all.len()));
    assert_eq!(values(&r).len(), 3);
    let r = get(&ts, &tok, "/users", &[("$count", "true")]).await;
    assert_err(&r, "Request_BadRequest");
    let r = get(&ts, &tok, "/users", &[]).await;
    assert!(r.json.get("@odata.count").is_none());
}

#[tokio::test]
async fn expand_is_rejected() {
    let (ts, tok, _) = seeded().await;
    let r = get(&ts, &tok, "/users", &[("$expand", "memberOf")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["error"]["code"].as_str().unwrap().starts_with("Request_"));
    let r = get(&ts, &tok, "/groups", &[("$expand", "members")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn percent_encoded_dollar_keys_work() {
    let (ts, tok, all) = seeded().await;
    let path = format!("/users?%24filter={}&%24select=displayName", enc("department eq 'Engineering'"));
    let r = ts.graph("GET", &path, &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), expect(&all, |s| dept(s, "Engineering")));
    assert!(values(&r).iter().all(|u| u.get("department").is_none()));
    let r = ts.graph("GET", "/users?%24top=2", &tok, None).await;
    assert_eq!(values(&r).len(), 2);
    // The same option given twice (once encoded) is ambiguous.
    let r = ts.graph("GET", "/users?%24top=2&$top=3", &tok, None).await;
    assert_err(&r, "Request_BadRequest");
}

#[tokio::test]
async fn search_display_name_substring_with_eventual() {
    let (ts, tok, all) = seeded().await;
    let r = get_eventual(&ts, &tok, "/users", &[("$search", "\"displayName:ali\""), ("$top", "999")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let want = expect(&all, |s| s.display_name.to_lowercase().contains("ali"));
    assert!(want.len() >= 4, "{want:?}");
    assert_eq!(names(&r), want);
    let r = get(&ts, &tok, "/users", &[("$search", "\"displayName:ali\"")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Combined with a filter.
    let r = get_eventual(
        &ts,
        &tok,
        "/users",
        &[("$search", "\"displayName:ali\""), ("$filter", "accountEnabled eq true"), ("$top", "999")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), expect(&all, |s| s.display_name.to_lowercase().contains("ali") && s.account_enabled));
}

#[tokio::test]
async fn member_lists_support_filter_and_top() {
    let (ts, tok, all) = seeded().await;
    let g = ts
        .graph("POST", "/groups", &tok, Some(json!({ "displayName": "Everyone", "mailEnabled": false, "mailNickname": "everyone", "securityEnabled": true })))
        .await;
    let gid = g.json["id"].as_str().unwrap().to_string();
    let users = get(&ts, &tok, "/users", &[("$top", "999")]).await;
    for u in values(&users) {
        let r = ts
            .graph("POST", &format!("/groups/{gid}/members/$ref"), &tok, Some(json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", u["id"].as_str().unwrap()) })))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    let r = get(&ts, &tok, &format!("/groups/{gid}/members"), &[("$filter", "startswith(displayName,'al')")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), expect(&all, |s| s.display_name.to_lowercase().starts_with("al")));
    let mut path = with_query(&format!("/groups/{gid}/members"), &[("$top", "7")]);
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let r = ts.graph("GET", &path, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for u in values(&r) {
            assert!(seen.insert(u["id"].as_str().unwrap().to_string()), "duplicate member");
        }
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => path = next.strip_prefix(&format!("{BASE}/v1.0")).unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), all.len());
}

#[tokio::test]
async fn filter_literals_are_escaped() {
    let (ts, tok, _) = seeded().await;
    let body = json!({ "accountEnabled": true, "displayName": "Conan O'Brien", "mailNickname": "conan",
                       "userPrincipalName": format!("conan@{}", ts.t.domain), "passwordProfile": { "password": PASSWORD } });
    assert_eq!(ts.graph("POST", "/users", &tok, Some(body)).await.status, StatusCode::CREATED);
    let r = get(&ts, &tok, "/users", &[("$filter", "displayName eq 'Conan O''Brien'")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), BTreeSet::from(["Conan O'Brien".to_string()]));
    // LIKE wildcards in startswith are literal characters.
    for pattern in ["_", "%", "A_", "%a"] {
        let r = get(&ts, &tok, "/users", &[("$filter", &format!("startswith(displayName,'{pattern}')"))]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(values(&r).is_empty(), "{pattern}: {}", r.text);
    }
}

#[tokio::test]
async fn invalid_skip_token_is_400() {
    let (ts, tok, _) = seeded().await;
    let r = get(&ts, &tok, "/users", &[("$top", "1"), ("$skiptoken", "garbage")]).await;
    assert_err(&r, "Request_BadRequest");
}

#[tokio::test]
async fn member_lists_support_count_with_eventual() {
    let (ts, tok, _) = seeded().await;
    let g = ts
        .graph(
            "POST",
            "/groups",
            &tok,
            Some(json!({ "displayName": "Few", "mailEnabled": false, "mailNickname": "few", "securityEnabled": true })),
        )
        .await;
    let gid = g.json["id"].as_str().unwrap().to_string();
    let users = get(&ts, &tok, "/users", &[("$top", "4")]).await;
    for u in values(&users) {
        let odata_id = format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", u["id"].as_str().unwrap());
        let r = ts
            .graph("POST", &format!("/groups/{gid}/members/$ref"), &tok, Some(json!({ "@odata.id": odata_id })))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let r = get_eventual(&ts, &tok, &format!("/groups/{gid}/members"), &[("$count", "true"), ("$top", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["@odata.count"], json!(4));
    assert_eq!(values(&r).len(), 1);
}
