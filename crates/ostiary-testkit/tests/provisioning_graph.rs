//! Outbound provisioning through the Graph HTTP surface only: `synchronization/secrets`, jobs
//! (create, read, update, delete, start, pause, restart, provisionOnDemand) and
//! `/auditLogs/provisioning` with its filters, against a small SCIM service provider on a
//! loopback port (an axum app using `ostiary-scim` for PATCH semantics). Also covered:
//! permission checks, tenant isolation, hostile bodies (never a 5xx), a job id that is not the
//! service principal's, and the secret token never appearing in any response or audit record.
//! Cycles are driven with `core.run_provisioning_cycle`. Runs on SQLite, and on PostgreSQL when
//! `OSTIARY_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ostiary_testkit::{GRAPH_SCOPE, Resp, TenantCreds, TestServer};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "Str0ng!Tr0ub4dor-9";
const TOKEN: &str = "graph-scim-bearer-5f1d0c9e7a";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const SYNC_READ: &str = "5ba43d2f-fa88-4db2-bd1c-a67c5f0fb1ce";

// --- a minimal SCIM target ----------------------------------------------------------------------

#[derive(Default)]
struct Target {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    next: u64,
    requests: usize,
    bad_auth: usize,
}

type Shared = Arc<Mutex<Target>>;

fn scim_error(status: u16, detail: &str) -> Response {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": detail});
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/scim+json")], body.to_string())
        .into_response()
}

fn scim_ok(status: StatusCode, v: &Value) -> Response {
    (status, [("content-type", "application/scim+json")], v.to_string()).into_response()
}

fn gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut t = s.lock().unwrap();
    t.requests += 1;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        t.bad_auth += 1;
        return Some(scim_error(401, "bad token"));
    }
    None
}

fn coll<'a>(t: &'a mut Target, name: &str) -> Option<&'a mut BTreeMap<String, Value>> {
    match name {
        "Users" => Some(&mut t.users),
        "Groups" => Some(&mut t.groups),
        _ => None,
    }
}

fn key_of(c: &str) -> &'static str {
    if c == "Users" { "userName" } else { "displayName" }
}

async fn create(State(s): State<Shared>, Path(c): Path<String>, headers: HeaderMap, body: String) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let mut body: Value = serde_json::from_str(&body).unwrap();
    let mut t = s.lock().unwrap();
    t.next += 1;
    let id = format!("{}-{}", c.to_lowercase(), t.next);
    let key = key_of(&c);
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    let wanted = body[key].as_str().unwrap_or("").to_lowercase();
    if map.values().any(|v| v[key].as_str().unwrap_or("").to_lowercase() == wanted) {
        return scim_error(409, "uniqueness");
    }
    body["id"] = json!(id);
    if c == "Groups" && body.get("members").is_none() {
        body["members"] = json!([]);
    }
    map.insert(id, body.clone());
    scim_ok(StatusCode::CREATED, &body)
}

async fn list(
    State(s): State<Shared>,
    Path(c): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let Ok(ostiary_scim::Filter::Compare { path, value: ostiary_scim::CompValue::Str(v), .. }) =
        ostiary_scim::parse_filter(&filter)
    else {
        return scim_error(400, "unsupported filter");
    };
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    let found: Vec<Value> =
        map.values().filter(|r| r[&path.attr].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&v))).cloned().collect();
    scim_ok(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": found.len(), "startIndex": 1, "itemsPerPage": found.len(), "Resources": found,
        }),
    )
}

async fn read(State(s): State<Shared>, Path((c, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    match map.get(&id) {
        Some(v) => scim_ok(StatusCode::OK, v),
        None => scim_error(404, "not found"),
    }
}

async fn patch(
    State(s): State<Shared>,
    Path((c, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let ops = match ostiary_scim::parse_patch(&body) {
        Ok(ops) => ops,
        Err(e) => return scim_error(e.status, &e.detail),
    };
    let rs = if c == "Users" { &ostiary_scim::USER_RESOURCE } else { &ostiary_scim::GROUP_RESOURCE };
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    let Some(res) = map.get_mut(&id) else { return scim_error(404, "not found") };
    match ostiary_scim::apply_patch(res, &ops, rs) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => scim_error(e.status, &e.detail),
    }
}

async fn delete(State(s): State<Shared>, Path((c, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    match map.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => scim_error(404, "not found"),
    }
}

async fn start_target() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/scim/{coll}", get(list).post(create))
        .route("/scim/{coll}/{id}", get(read).patch(patch).delete(delete))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/scim"), state)
}

// --- the directory side, through Graph only -----------------------------------------------------

struct Env {
    ts: TestServer,
    tok: String,
    sp: String,
    app_id: String,
    url: String,
    target: Shared,
    /// Every Graph response body seen, to check that the secret never comes back.
    seen: Mutex<Vec<String>>,
}

impl Env {
    async fn new() -> Env {
        let ts = TestServer::new().await;
        let tok = ts.admin_token().await;
        let app = ts.graph("POST", "/applications", &tok, Some(json!({"displayName": "SCIM Graph App"}))).await;
        assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
        let app_id = app.json["appId"].as_str().unwrap().to_string();
        let sp = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": app_id}))).await;
        assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.text);
        let sp = sp.json["id"].as_str().unwrap().to_string();
        let (url, target) = start_target().await;
        Env { ts, tok, sp, app_id, url, target, seen: Mutex::new(Vec::new()) }
    }

    /// A Graph call with the admin token, recorded.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_as(&self.tok, method, path, body).await
    }

    async fn call_as(&self, tok: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
        let r = self.ts.graph(method, path, tok, body).await;
        assert!(r.status.as_u16() < 500, "{method} {path}: {} {}", r.status, r.text);
        self.seen.lock().unwrap().push(r.text.clone());
        r
    }

    fn sync(&self, rest: &str) -> String {
        format!("/servicePrincipals/{}/synchronization/{rest}", self.sp)
    }

    fn upn(&self, local: &str) -> String {
        format!("{local}@{}", self.ts.t.domain)
    }

    async fn user(&self, local: &str) -> String {
        let body = json!({
            "accountEnabled": true,
            "displayName": format!("User {local}"),
            "mailNickname": local,
            "userPrincipalName": self.upn(local),
            "passwordProfile": { "forceChangePasswordNextSignIn": false, "password": PASSWORD },
        });
        let r = self.call("POST", "/users", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }

    async fn group(&self, name: &str) -> String {
        let body = json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true});
        let r = self.call("POST", "/groups", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }

    async fn add_member(&self, group: &str, member: &str) {
        let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
        let r = self.call("POST", &format!("/groups/{group}/members/$ref"), Some(body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    /// Assigns the app (default access) to a user or group through Graph.
    async fn assign(&self, principal: &str) {
        let body = json!({"principalId": principal, "resourceId": self.sp, "appRoleId": uuid::Uuid::nil()});
        let r = self.call("POST", &format!("/servicePrincipals/{}/appRoleAssignedTo", self.sp), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    async fn cycle(&self) -> ostiary_core::provisioning::CycleReport {
        self.ts.core.run_provisioning_cycle(self.ts.core.now()).await.unwrap()
    }

    async fn job(&self, id: &str) -> Value {
        let r = self.call("GET", &self.sync(&format!("jobs/{id}")), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json
    }

    async fn action(&self, id: &str, action: &str) {
        let r = self.call("POST", &self.sync(&format!("jobs/{id}/{action}")), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{action}: {}", r.text);
    }

    /// `/auditLogs/provisioning` with a `$filter`.
    async fn logs(&self, filter: &str) -> Resp {
        let path = format!("/auditLogs/provisioning?$filter={}&$top=1000", urlencode(filter));
        self.call("GET", &path, None).await
    }

    fn target_user(&self, local: &str) -> Option<Value> {
        let upn = self.upn(local).to_lowercase();
        let t = self.target.lock().unwrap();
        t.users.values().find(|u| u["userName"].as_str().unwrap_or("").to_lowercase() == upn).cloned()
    }

    fn target_group(&self, name: &str) -> Option<Value> {
        self.target.lock().unwrap().groups.values().find(|g| g["displayName"] == name).cloned()
    }

    /// Checks every response body seen, the job's audit records and the provisioning records
    /// for the secret token.
    async fn assert_secret_never_shown(&self) {
        let audits = self.call("GET", "/auditLogs/directoryAudits?$top=1000", None).await;
        assert_eq!(audits.status, StatusCode::OK, "{}", audits.text);
        assert!(
            audits.json["value"].as_array().unwrap().iter().any(|a| a["category"] == "ProvisioningManagement"),
            "job changes are audited: {}",
            audits.text
        );
        let recs = self.call("GET", "/auditLogs/provisioning?$top=1000", None).await;
        assert_eq!(recs.status, StatusCode::OK, "{}", recs.text);
        for text in self.seen.lock().unwrap().iter() {
            assert!(!text.contains(TOKEN), "the secret token came back: {text}");
        }
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn values(r: &Resp) -> Vec<Value> {
    r.json["value"].as_array().cloned().unwrap_or_default()
}

fn secrets(base: &str, token: &str) -> Value {
    json!({"value": [{"key": "BaseAddress", "value": base}, {"key": "SecretToken", "value": token}]})
}

/// A Graph token for a new application granted `roles` (Graph app-role ids) in the tenant of
/// `tok`.
async fn app_token(ts: &TestServer, t: &TenantCreds, tok: &str, name: &str, roles: &[&str]) -> String {
    let app = ts.graph("POST", "/applications", tok, Some(json!({"displayName": name}))).await;
    assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
    let sp = ts.graph("POST", "/servicePrincipals", tok, Some(json!({"appId": app.json["appId"]}))).await;
    assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.text);
    let pw = ts
        .graph(
            "POST",
            &format!("/applications/{}/addPassword", app.json["id"].as_str().unwrap()),
            tok,
            Some(json!({"passwordCredential": {"displayName": "t"}})),
        )
        .await;
    assert_eq!(pw.status, StatusCode::OK, "{}", pw.text);
    let graph = ts.graph("GET", &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"), tok, None).await;
    assert_eq!(graph.status, StatusCode::OK, "{}", graph.text);
    let graph_id = graph.json["id"].as_str().unwrap();
    for role in roles {
        let body = json!({"principalId": sp.json["id"], "resourceId": graph_id, "appRoleId": role});
        let r = ts.graph("POST", &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"), tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = ts
        .token_for(
            &t.tenant_id,
            app.json["appId"].as_str().unwrap(),
            pw.json["secretText"].as_str().unwrap(),
            GRAPH_SCOPE,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["access_token"].as_str().unwrap().to_string()
}

// --- tests --------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_surface_end_to_end() {
    let env = Env::new().await;
    let alice = env.user("alice").await;
    let bob = env.user("bob").await;
    let carol = env.user("carol").await;
    let sales = env.group("Sales").await;
    env.add_member(&sales, &bob).await;
    env.assign(&alice).await;
    env.assign(&sales).await;

    // No job yet.
    let r = env.call("GET", &env.sync("jobs"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(values(&r).is_empty());

    // Create the job (Entra's template id and SyncAll setting, Ostiary's configuration).
    let body = json!({
        "templateId": "scim",
        "synchronizationJobSettings": [{"name": "SyncAll", "value": "false"}],
        "ostiaryConfiguration": {"targetUrl": env.url, "matchingAttribute": "userName"},
    });
    let r = env.call("POST", &env.sync("jobs"), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job_id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["templateId"], "scim");
    assert_eq!(r.json["status"]["code"], "Paused", "a new job waits for start: {}", r.text);
    assert_eq!(r.json["synchronizationJobSettings"][0], json!({"name": "SyncAll", "value": "false"}));
    assert_eq!(r.json["ostiaryConfiguration"]["scope"], "assignedOnly");
    assert_eq!(r.json["ostiaryConfiguration"]["secretConfigured"], false);
    assert!(r.json["@odata.context"].as_str().unwrap().contains("/synchronization/jobs/$entity"));

    // The secret, Entra's way.
    let r = env.call("PUT", &env.sync("secrets"), Some(secrets(&env.url, TOKEN))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let job = env.job(&job_id).await;
    assert_eq!(job["ostiaryConfiguration"]["secretConfigured"], true);
    assert_eq!(job["ostiaryConfiguration"]["targetUrl"], env.url);
    let r = env.call("GET", &env.sync("jobs"), None).await;
    assert_eq!(values(&r).len(), 1);
    assert_eq!(values(&r)[0]["id"], job_id);

    // Paused: a cycle sends nothing.
    assert_eq!(env.cycle().await.jobs_run, 0);
    assert_eq!(env.target.lock().unwrap().requests, 0);

    // Start, run: Alice (assigned), Bob (through Sales) and Sales are provisioned; Carol is not.
    env.action(&job_id, "start").await;
    assert_eq!(env.job(&job_id).await["status"]["code"], "Active");
    assert_eq!(env.cycle().await.jobs_run, 1);
    assert!(env.target_user("alice").is_some());
    assert!(env.target_user("bob").is_some());
    assert!(env.target_user("carol").is_none());
    assert!(env.target_group("Sales").is_some());
    assert_eq!(env.target.lock().unwrap().bad_auth, 0, "the secret set through Graph is sent");
    let job = env.job(&job_id).await;
    assert_eq!(job["status"]["code"], "Active");
    assert_eq!(job["status"]["countSuccessiveCompleteFailures"], 0);
    assert!(job["status"]["lastExecution"]["timeEnded"].is_string(), "{job}");
    assert_eq!(job["ostiaryConfiguration"]["counters"]["created"], 3, "{job}");
    assert_eq!(job["ostiaryConfiguration"]["counters"]["failed"], 0);

    // Pause: changes wait; start: they are sent.
    env.action(&job_id, "pause").await;
    assert_eq!(env.job(&job_id).await["status"]["code"], "Paused");
    assert_eq!(env.job(&job_id).await["schedule"]["state"], "Paused");
    let r = env.call("PATCH", &format!("/users/{alice}"), Some(json!({"displayName": "Alice Liddell"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["displayName"], "User alice");
    env.action(&job_id, "start").await;
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["displayName"], "Alice Liddell");

    // Restart: counters reset, a new initial cycle matches what the target already has.
    env.action(&job_id, "restart").await;
    let job = env.job(&job_id).await;
    assert_eq!(job["status"]["code"], "Active");
    assert_eq!(job["ostiaryConfiguration"]["counters"]["created"], 0, "{job}");
    env.cycle().await;
    let job = env.job(&job_id).await;
    assert_eq!(job["ostiaryConfiguration"]["counters"]["created"], 0, "matched, not created again: {job}");
    assert_eq!(env.target.lock().unwrap().users.len(), 2);

    // PATCH: scope all (SyncAll) through the Entra setting; the job id stays.
    let r = env
        .call(
            "PATCH",
            &env.sync(&format!("jobs/{job_id}")),
            Some(json!({"synchronizationJobSettings": [{"name": "SyncAll", "value": true}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], job_id);
    assert_eq!(r.json["ostiaryConfiguration"]["scope"], "all");
    assert_eq!(r.json["synchronizationJobSettings"][0]["value"], "true");
    let r = env
        .call(
            "PATCH",
            &env.sync(&format!("jobs/{job_id}")),
            Some(json!({"synchronizationJobSettings": [{"name": "SyncAll", "value": "false"}]})),
        )
        .await;
    assert_eq!(r.json["ostiaryConfiguration"]["scope"], "assignedOnly");

    // On demand, paused: Carol is not in scope (skipped); once assigned she is created.
    env.action(&job_id, "pause").await;
    let od = |user: &str| json!({"parameters": [{"subjects": [{"objectId": user, "objectTypeName": "User"}], "ruleId": "r"}]});
    let r = env.call("POST", &env.sync(&format!("jobs/{job_id}/provisionOnDemand")), Some(od(&carol))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["key"], "provisioningObjectSummaries");
    let summaries: Value = serde_json::from_str(r.json["value"].as_str().unwrap()).unwrap();
    assert_eq!(summaries[0]["provisioningStatusInfo"]["status"], "skipped", "{}", r.text);
    assert_eq!(r.json["ostiaryProvisioningObjectSummaries"], summaries);
    assert!(env.target_user("carol").is_none());
    env.assign(&carol).await;
    let r = env.call("POST", &env.sync(&format!("jobs/{job_id}/provisionOnDemand")), Some(od(&carol))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let s = &r.json["ostiaryProvisioningObjectSummaries"][0];
    assert_eq!(s["provisioningAction"], "create", "{}", r.text);
    assert_eq!(s["provisioningStatusInfo"]["status"], "success");
    assert_eq!(s["initiatedBy"]["initiatorType"], "system", "an app-only caller is not a user");
    assert!(env.target_user("carol").is_some());

    // `/auditLogs/provisioning` and its filters.
    let all = env.logs(&format!("jobId eq '{job_id}'")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let all = values(&all);
    assert!(all.len() >= 5, "{all:#?}");
    assert!(all.iter().all(|r| r["jobId"] == job_id && r["servicePrincipal"]["id"] == env.sp.as_str()));
    let r = env.logs(&format!("sourceIdentity/id eq '{bob}'")).await;
    assert!(!values(&r).is_empty());
    assert!(values(&r).iter().all(|x| x["sourceIdentity"]["id"] == bob.as_str()));
    let creates = values(&env.logs("provisioningAction eq 'create'").await);
    assert_eq!(creates.len(), 4, "alice, bob, Sales, carol: {creates:#?}");
    assert!(creates.iter().all(|x| x["provisioningAction"] == "create"));
    // Skipped: Carol out of scope, and the restart's already-in-sync objects.
    let skipped = values(&env.logs("provisioningStatusInfo/status eq 'skipped'").await);
    assert!(skipped.len() >= 2, "{skipped:#?}");
    assert!(skipped.iter().all(|x| x["provisioningStatusInfo"]["status"] == "skipped"));
    let skipped = values(
        &env.logs(&format!("provisioningStatusInfo/status eq 'skipped' and sourceIdentity/id eq '{carol}'")).await,
    );
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0]["provisioningStatusInfo"]["errorInformation"]["errorCode"], "NotEffectivelyEntitled");
    assert!(values(&env.logs("provisioningStatusInfo/status eq 'failure'").await).is_empty());
    let bob_create = creates.iter().find(|x| x["sourceIdentity"]["id"] == bob.as_str()).unwrap();
    let cycle = bob_create["cycleId"].as_str().unwrap();
    let in_cycle = values(&env.logs(&format!("cycleId eq '{cycle}'")).await);
    assert!(in_cycle.iter().any(|x| x["id"] == bob_create["id"]));
    assert!(in_cycle.iter().all(|x| x["cycleId"] == cycle));
    let combined = values(
        &env.logs(&format!(
            "provisioningAction eq 'create' and sourceIdentity/id eq '{alice}' and provisioningStatusInfo/status eq 'success'"
        ))
        .await,
    );
    assert_eq!(combined.len(), 1, "{combined:#?}");
    let t = bob_create["activityDateTime"].as_str().unwrap();
    assert!(!values(&env.logs(&format!("activityDateTime ge {t}")).await).is_empty());
    let later = env.ts.core.now() + time::Duration::hours(1);
    let later = later.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert!(values(&env.logs(&format!("activityDateTime ge {later}")).await).is_empty());
    for bad in
        ["servicePrincipal/id eq 'x'", "provisioningStatusInfo/status eq 'meh'", "jobId ne 'x'", "result eq 'failure'"]
    {
        let r = env.logs(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.json["error"]["message"].as_str().unwrap().contains("Invalid filter clause"), "{}", r.text);
    }
    let one = env.call("GET", &format!("/auditLogs/provisioning/{}", bob_create["id"].as_str().unwrap()), None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json["id"], bob_create["id"]);
    let r = env.call("GET", &format!("/auditLogs/provisioning/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Paging.
    let page = env.call("GET", "/auditLogs/provisioning?$top=2", None).await;
    assert_eq!(values(&page).len(), 2);
    assert!(page.json["@odata.nextLink"].is_string());

    // A job id that is not this service principal's: 404 for every job operation.
    let other = uuid::Uuid::new_v4().to_string();
    for (m, suffix) in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/start"),
        ("POST", "/pause"),
        ("POST", "/restart"),
        ("POST", "/provisionOnDemand"),
    ] {
        let body = match (m, suffix) {
            ("PATCH", _) => Some(json!({})),
            (_, "/provisionOnDemand") => Some(od(&alice)),
            _ => None,
        };
        let r = env.call(m, &env.sync(&format!("jobs/{other}{suffix}")), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {suffix}: {}", r.text);
    }
    assert_eq!(env.job(&job_id).await["status"]["code"], "Paused", "nothing changed");

    env.assert_secret_never_shown().await;

    // Delete: gone; the target keeps its objects.
    let r = env.call("DELETE", &env.sync(&format!("jobs/{job_id}")), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(values(&env.call("GET", &env.sync("jobs"), None).await).is_empty());
    let r = env.call("GET", &env.sync(&format!("jobs/{job_id}")), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(env.target.lock().unwrap().users.len(), 3);
    let _ = env.app_id;
}

#[tokio::test]
async fn permissions_and_tenant_isolation() {
    let env = Env::new().await;
    let r = env.call("PUT", &env.sync("secrets"), Some(secrets(&env.url, TOKEN))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let job_id = values(&env.call("GET", &env.sync("jobs"), None).await)[0]["id"].as_str().unwrap().to_string();
    let t = env.ts.t.clone();

    // No Synchronization permission at all: 403 everywhere (also AuditLog-less logs).
    let none = app_token(&env.ts, &t, &env.tok, "No permissions", &[]).await;
    for (m, p, body) in [
        ("GET", env.sync("jobs"), None),
        ("GET", env.sync(&format!("jobs/{job_id}")), None),
        ("PUT", env.sync("secrets"), Some(secrets(&env.url, "stolen"))),
        ("POST", env.sync("jobs"), Some(json!({"templateId": "scim"}))),
        ("POST", env.sync(&format!("jobs/{job_id}/start")), None),
        ("DELETE", env.sync(&format!("jobs/{job_id}")), None),
        ("GET", "/auditLogs/provisioning".to_string(), None),
    ] {
        let r = env.call_as(&none, m, &p, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {p}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "Authorization_RequestDenied", "{}", r.text);
    }

    // Synchronization.Read.All reads but cannot change.
    let reader = app_token(&env.ts, &t, &env.tok, "Sync reader", &[SYNC_READ]).await;
    let r = env.call_as(&reader, "GET", &env.sync(&format!("jobs/{job_id}")), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], job_id);
    for (m, p, body) in [
        ("PUT", env.sync("secrets"), Some(secrets(&env.url, "stolen"))),
        ("POST", env.sync(&format!("jobs/{job_id}/start")), None),
        ("POST", env.sync(&format!("jobs/{job_id}/restart")), None),
        ("PATCH", env.sync(&format!("jobs/{job_id}")), Some(json!({"synchronizationJobSettings": []}))),
        ("DELETE", env.sync(&format!("jobs/{job_id}")), None),
    ] {
        let r = env.call_as(&reader, m, &p, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {p}: {}", r.text);
    }
    assert_eq!(env.job(&job_id).await["status"]["code"], "Paused");

    // Another tenant's administrator sees nothing and changes nothing.
    let other = env.ts.create_tenant("Fabrikam").await;
    let foreign = env.ts.graph_token(&other).await;
    let r = env.call_as(&foreign, "GET", &env.sync("jobs"), None).await;
    assert!(r.status == StatusCode::NOT_FOUND || values(&r).is_empty(), "{}", r.text);
    assert!(!r.text.contains(&job_id));
    for (m, p, body) in [
        ("GET", env.sync(&format!("jobs/{job_id}")), None),
        ("PUT", env.sync("secrets"), Some(secrets(&env.url, "stolen"))),
        ("POST", env.sync("jobs"), Some(json!({"templateId": "scim", "ostiaryConfiguration": {"targetUrl": env.url}}))),
        ("POST", env.sync(&format!("jobs/{job_id}/start")), None),
        ("DELETE", env.sync(&format!("jobs/{job_id}")), None),
    ] {
        let r = env.call_as(&foreign, m, &p, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {p}: {}", r.text);
    }
    let r = env.call_as(&foreign, "GET", "/auditLogs/directoryAudits?$top=1000", None).await;
    assert!(!r.text.contains(&job_id), "the job's audit records stay in their tenant");
    let job = env.job(&job_id).await;
    assert_eq!(job["status"]["code"], "Paused");
    assert_eq!(job["ostiaryConfiguration"]["secretConfigured"], true);

    // The secret is still the one set by the administrator.
    env.action(&job_id, "start").await;
    env.cycle().await;
    assert_eq!(env.target.lock().unwrap().bad_auth, 0);
    env.assert_secret_never_shown().await;
}

#[tokio::test]
async fn hostile_bodies_are_refused_without_server_errors() {
    let env = Env::new().await;
    let r = env.call("PUT", &env.sync("secrets"), Some(secrets(&env.url, TOKEN))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let job_id = values(&env.call("GET", &env.sync("jobs"), None).await)[0]["id"].as_str().unwrap().to_string();
    let job = |rest: &str| env.sync(&format!("jobs/{job_id}{rest}"));
    let long = "x".repeat(70_000);
    let cases: Vec<(&str, String, Value)> = vec![
        ("PUT", env.sync("secrets"), json!({})),
        ("PUT", env.sync("secrets"), json!({"value": "nope"})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "SecretToken", "value": 5}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "Password", "value": "x"}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "SecretToken", "value": long}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "SecretToken", "value": "a\nb"}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "BaseAddress", "value": "file:///etc/passwd"}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "BaseAddress", "value": "http://10.0.0.5/scim"}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"key": "BaseAddress", "value": "https://u:p@x.test/"}]})),
        ("PUT", env.sync("secrets"), json!({"value": [{"value": "no key"}]})),
        ("POST", env.sync("jobs"), json!({})),
        ("POST", env.sync("jobs"), json!({"templateId": "ldap"})),
        ("POST", env.sync("jobs"), json!({"templateId": "scim", "bogus": 1})),
        (
            "POST",
            env.sync("jobs"),
            json!({"templateId": "scim", "synchronizationJobSettings": [{"name": "Other", "value": "1"}]}),
        ),
        (
            "POST",
            env.sync("jobs"),
            json!({"templateId": "scim", "synchronizationJobSettings": [{"name": "SyncAll", "value": [1]}]}),
        ),
        ("POST", env.sync("jobs"), json!({"templateId": "scim", "ostiaryConfiguration": {"targetUrl": 7}})),
        ("POST", env.sync("jobs"), json!({"templateId": "scim", "ostiaryConfiguration": {"scope": "everyone"}})),
        (
            "POST",
            env.sync("jobs"),
            json!({"templateId": "scim", "ostiaryConfiguration": {"matchingAttribute": "nickName"}}),
        ),
        ("POST", env.sync("jobs"), json!({"templateId": "scim", "ostiaryConfiguration": {"objectMappings": []}})),
        (
            "POST",
            env.sync("jobs"),
            json!({"templateId": "scim", "ostiaryConfiguration": {"objectMappings": [{"source": "user", "mappings": [{"target": "userName", "expression": "Join(((("}]}]}}),
        ),
        (
            "POST",
            env.sync("jobs"),
            json!({"templateId": "scim", "ostiaryConfiguration": {"retry": {"quarantineAfter": 0}}}),
        ),
        ("POST", env.sync("jobs"), json!({"templateId": "scim", "ostiaryConfiguration": {"unknown": true}})),
        ("PATCH", job(""), json!({"templateId": "scim"})),
        ("PATCH", job(""), json!({"ostiaryConfiguration": {"targetUrl": "ftp://x.test/"}})),
        ("PATCH", job(""), json!([1, 2, 3])),
        ("POST", job("/provisionOnDemand"), json!({})),
        ("POST", job("/provisionOnDemand"), json!({"parameters": []})),
        ("POST", job("/provisionOnDemand"), json!({"parameters": [{"subjects": [{"objectId": "not-a-guid"}]}]})),
        (
            "POST",
            job("/provisionOnDemand"),
            json!({"parameters": [{"subjects": [{"objectId": uuid::Uuid::new_v4(), "objectTypeName": "Group"}]}]}),
        ),
        (
            "POST",
            job("/provisionOnDemand"),
            json!({"parameters": [{"subjects": [{"objectId": uuid::Uuid::new_v4()}, {"objectId": uuid::Uuid::new_v4()}]}]}),
        ),
        (
            "POST",
            job("/provisionOnDemand"),
            json!({"parameters": [{"subjects": [{"objectId": uuid::Uuid::new_v4()}]}]}),
        ),
        (
            "POST",
            job("/provisionOnDemand"),
            json!({"parameters": [{"subjects": [{"objectId": env.sp, "objectTypeName": "User"}]}]}),
        ),
        ("POST", job("/explode"), json!({})),
        ("POST", env.sync("nothing"), json!({})),
        ("GET", env.sync("jobs/a/b/c/d"), Value::Null),
        ("PUT", env.sync("jobs"), json!({})),
    ];
    for (m, p, body) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let shown = body.as_ref().map(|b| b.to_string().chars().take(200).collect::<String>());
        let r = env.call(m, &p, body).await;
        assert!(r.status.is_client_error(), "{m} {p} {shown:?}: {} {}", r.status, r.text);
        assert!(r.json["error"]["code"].is_string(), "{m} {p}: Graph error JSON: {}", r.text);
    }
    // Not JSON at all, and the wrong content type.
    for (ct, raw) in
        [("application/json", "{\"value\": ["), ("application/json", "\u{0}\u{1}"), ("text/plain", "hello")]
    {
        let req = Request::builder()
            .method("PUT")
            .uri(format!("/v1.0{}", env.sync("secrets")))
            .header("authorization", format!("Bearer {}", env.tok))
            .header("content-type", ct)
            .body(Body::from(raw))
            .unwrap();
        let r = env.ts.request(req).await;
        assert!(r.status.is_client_error(), "{ct} {raw:?}: {} {}", r.status, r.text);
    }
    // The job is as it was, with the original secret.
    let j = env.job(&job_id).await;
    assert_eq!(j["ostiaryConfiguration"]["targetUrl"], env.url);
    assert_eq!(j["ostiaryConfiguration"]["secretConfigured"], true);
    assert_eq!(j["ostiaryConfiguration"]["scope"], "assignedOnly");
    env.action(&job_id, "start").await;
    let alice = env.user("alice").await;
    env.assign(&alice).await;
    env.cycle().await;
    assert!(env.target_user("alice").is_some());
    assert_eq!(env.target.lock().unwrap().bad_auth, 0);
    env.assert_secret_never_shown().await;
}

#[tokio::test]
async fn an_unreachable_target_is_reported_on_the_job() {
    let env = Env::new().await;
    // A loopback port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/scim", l.local_addr().unwrap())
    };
    let body = json!({
        "templateId": "scim",
        "ostiaryConfiguration": {"targetUrl": dead, "retry": {"quarantineAfter": 2, "baseMs": 1, "capMs": 1}},
    });
    let r = env.call("POST", &env.sync("jobs"), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job_id = r.json["id"].as_str().unwrap().to_string();
    let r =
        env.call("PUT", &env.sync("secrets"), Some(json!({"value": [{"key": "SecretToken", "value": TOKEN}]}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let alice = env.user("alice").await;
    env.assign(&alice).await;
    env.action(&job_id, "start").await;
    for _ in 0..6 {
        env.ts.clock.advance(time::Duration::minutes(10));
        env.cycle().await;
    }
    let job = env.job(&job_id).await;
    assert_eq!(job["status"]["code"], "Quarantine", "{job}");
    assert!(job["status"]["countSuccessiveCompleteFailures"].as_u64().unwrap() >= 2, "{job}");
    assert!(!job["status"]["quarantine"].is_null(), "{job}");
    // Start resumes it (and it fails again later, but the admin's action is honoured).
    env.action(&job_id, "start").await;
    assert_eq!(env.job(&job_id).await["status"]["code"], "Active");
    env.assert_secret_never_shown().await;
}
