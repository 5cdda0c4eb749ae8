//! End-to-end tests of outbound SCIM provisioning: a job of a service principal provisions the
//! tenant's users and groups into a small in-process SCIM service provider (an axum app on a
//! loopback port, using `ostiary-scim` for PATCH semantics) over real HTTP. Covered: the initial
//! cycle (scope, matching of existing objects, creates, groups with members), incremental changes
//! from the directory's log feed (updates, membership, disable, delete, unassignment), 429 with
//! Retry-After then success with nothing lost, repeated 500 → quarantine → resume and restart,
//! an authentication failure, on-demand provisioning, configuration checks and the records.
//! Runs on SQLite, and on PostgreSQL when `OSTIARY_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ostiary_core::Caller;
use ostiary_core::provisioning::JobConfig;
use ostiary_crypto::secret::Secret;
use ostiary_model::{ObjectId, TenantId};
use ostiary_store::LogQuery;
use ostiary_testkit::TestServer;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use time::Duration;

const PASSWORD: &str = "Str0ng!Tr0ub4dor-9";
const TOKEN: &str = "scim-bearer-0123456789";

// --- the in-process SCIM target ---------------------------------------------------------------

#[derive(Default)]
struct Target {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    next: u64,
    /// Answers for the next requests, in order: (status, Retry-After).
    queued: VecDeque<(u16, Option<String>)>,
    /// Answer every request with this status while set.
    always: Option<u16>,
    /// (method, path) of every request that reached the handlers.
    log: Vec<(String, String)>,
    bad_auth: usize,
    /// (collection, lowercased userName / displayName) → id, so filters stay cheap at scale.
    index: HashMap<(String, String), String>,
}

type Shared = Arc<Mutex<Target>>;

fn scim_error(status: u16, detail: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    (
        code,
        [("content-type", "application/scim+json")],
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": detail})
            .to_string(),
    )
        .into_response()
}

fn ok_json(status: StatusCode, v: &Value) -> Response {
    (status, [("content-type", "application/scim+json")], v.to_string()).into_response()
}

/// Failure injection and the bearer check, before any handler logic.
fn gate(s: &Shared, method: &str, path: &str, headers: &HeaderMap) -> Option<Response> {
    let mut t = s.lock().unwrap();
    t.log.push((method.to_string(), path.to_string()));
    if let Some(status) = t.always {
        return Some(scim_error(status, "injected failure"));
    }
    if let Some((status, retry_after)) = t.queued.pop_front() {
        let mut r = scim_error(status, "injected failure");
        if let Some(ra) = retry_after {
            r.headers_mut().insert("retry-after", ra.parse().unwrap());
        }
        return Some(r);
    }
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

fn unique_key(name: &str) -> &'static str {
    if name == "Users" { "userName" } else { "displayName" }
}

async fn create(State(s): State<Shared>, Path(c): Path<String>, headers: HeaderMap, body: String) -> Response {
    if let Some(r) = gate(&s, "POST", &c, &headers) {
        return r;
    }
    let mut body: Value = serde_json::from_str(&body).unwrap();
    let mut t = s.lock().unwrap();
    t.next += 1;
    let id = format!("{}-{}", c.to_lowercase(), t.next);
    let key = unique_key(&c);
    let wanted = body[key].as_str().unwrap_or("").to_lowercase();
    let holder = t.index.get(&(c.clone(), wanted.clone())).cloned();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    // The index may be stale (renames, deletes): the holder must still hold the value.
    let taken =
        holder.and_then(|id| map.get(&id)).is_some_and(|v| v[key].as_str().unwrap_or("").to_lowercase() == wanted);
    if taken {
        return scim_error(409, "uniqueness");
    }
    body["id"] = json!(id);
    if c == "Groups" {
        body["members"] = json!([]);
    }
    map.insert(id.clone(), body.clone());
    t.index.insert((c.clone(), wanted), id);
    ok_json(StatusCode::CREATED, &body)
}

async fn list(
    State(s): State<Shared>,
    Path(c): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, "GET", &c, &headers) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let f = ostiary_scim::parse_filter(&filter).unwrap();
    let ostiary_scim::Filter::Compare { path, value: ostiary_scim::CompValue::Str(v), .. } = f else {
        return scim_error(400, "unsupported filter");
    };
    let mut t = s.lock().unwrap();
    let indexed = path.attr.eq_ignore_ascii_case(unique_key(&c));
    let hit = t.index.get(&(c.clone(), v.to_lowercase())).cloned();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    let matches = |r: &Value| r[&path.attr].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&v));
    let found: Vec<Value> = if indexed {
        // The index may be stale after a rename or delete: confirm against the resource.
        hit.and_then(|id| map.get(&id)).filter(|r| matches(r)).cloned().into_iter().collect()
    } else {
        map.values().filter(|r| matches(r)).cloned().collect()
    };
    ok_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": found.len(), "startIndex": 1, "itemsPerPage": found.len(), "Resources": found,
        }),
    )
}

async fn read(State(s): State<Shared>, Path((c, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, "GET", &format!("{c}/{id}"), &headers) {
        return r;
    }
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    match map.get(&id) {
        Some(v) => ok_json(StatusCode::OK, v),
        None => scim_error(404, "not found"),
    }
}

async fn patch(
    State(s): State<Shared>,
    Path((c, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = gate(&s, "PATCH", &format!("{c}/{id}"), &headers) {
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
        Ok(_) => {
            let key = res[unique_key(&c)].as_str().unwrap_or("").to_lowercase();
            t.index.insert((c, key), id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => scim_error(e.status, &e.detail),
    }
}

async fn delete(State(s): State<Shared>, Path((c, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, "DELETE", &format!("{c}/{id}"), &headers) {
        return r;
    }
    let mut t = s.lock().unwrap();
    let Some(map) = coll(&mut t, &c) else { return scim_error(404, "no such endpoint") };
    match map.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => scim_error(404, "not found"),
    }
}

/// Starts the target on a loopback port; returns its base URL and state.
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

// --- the directory side -----------------------------------------------------------------------

struct Env {
    ts: TestServer,
    tok: String,
    caller: Caller,
    sp: ObjectId,
    url: String,
    target: Shared,
}

impl Env {
    async fn new() -> Env {
        let ts = TestServer::new().await;
        let tok = ts.admin_token().await;
        let app = ts.graph("POST", "/applications", &tok, Some(json!({"displayName": "SCIM App"}))).await;
        assert_eq!(app.status, StatusCode::CREATED, "{}", app.text);
        let sp = ts.graph("POST", "/servicePrincipals", &tok, Some(json!({"appId": app.json["appId"]}))).await;
        assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.text);
        let sp: ObjectId = sp.json["id"].as_str().unwrap().parse().unwrap();
        let tenant: TenantId = ts.t.tenant_id.parse().unwrap();
        let caller = Caller {
            tenant,
            app_id: ts.t.client_id.clone(),
            object_id: ObjectId(uuid::Uuid::new_v4()),
            roles: vec!["Synchronization.ReadWrite.All".into(), "AuditLog.Read.All".into()],
            is_app: true,
            user_principal_name: None,
            app_display_name: Some("Provisioning test".into()),
            ctx: Default::default(),
        };
        let (url, target) = start_target().await;
        Env { ts, tok, caller, sp, url, target }
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
            "givenName": local,
            "surname": "Tester",
            "passwordProfile": { "forceChangePasswordNextSignIn": false, "password": PASSWORD },
        });
        let r = self.ts.graph("POST", "/users", &self.tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }

    async fn group(&self, name: &str) -> String {
        let body = json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true});
        let r = self.ts.graph("POST", "/groups", &self.tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }

    async fn add_member(&self, group: &str, member: &str) {
        let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
        let r = self.ts.graph("POST", &format!("/groups/{group}/members/$ref"), &self.tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    async fn remove_member(&self, group: &str, member: &str) {
        let r = self.ts.graph("DELETE", &format!("/groups/{group}/members/{member}/$ref"), &self.tok, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    /// Assigns the app's default access to a user or group; returns the assignment id.
    async fn assign(&self, principal: &str) -> String {
        let body = json!({"principalId": principal, "resourceId": self.sp.to_string(), "appRoleId": uuid::Uuid::nil()});
        let r = self
            .ts
            .graph("POST", &format!("/servicePrincipals/{}/appRoleAssignedTo", self.sp), &self.tok, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }

    async fn unassign(&self, assignment: &str) {
        let r = self
            .ts
            .graph("DELETE", &format!("/servicePrincipals/{}/appRoleAssignedTo/{assignment}", self.sp), &self.tok, None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    async fn patch_user(&self, id: &str, body: Value) {
        let r = self.ts.graph("PATCH", &format!("/users/{id}"), &self.tok, Some(body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    async fn configure(&self, extra: Value) -> Value {
        let mut cfg = json!({"targetUrl": self.url});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let config: JobConfig = serde_json::from_value(cfg).unwrap();
        let view = self.ts.core.configure_provisioning(&self.caller, self.sp, config).await.unwrap();
        self.ts.core.set_provisioning_secret(&self.caller, self.sp, Secret::new(TOKEN.to_string())).await.unwrap();
        view
    }

    async fn start(&self) {
        self.ts.core.start_provisioning(&self.caller, self.sp).await.unwrap();
    }

    async fn cycle(&self) -> ostiary_core::provisioning::CycleReport {
        self.ts.core.run_provisioning_cycle(self.ts.core.now()).await.unwrap()
    }

    async fn job(&self) -> Value {
        self.ts.core.get_provisioning_job(&self.caller, self.sp).await.unwrap()
    }

    async fn records(&self) -> Vec<Value> {
        let mut q = LogQuery::new(ostiary_store::LogKind::Provisioning);
        q.limit = 1000;
        self.ts.core.provisioning_logs(&self.caller, q).await.unwrap()
    }

    fn target_user(&self, local: &str) -> Option<Value> {
        let upn = self.upn(local).to_lowercase();
        let t = self.target.lock().unwrap();
        t.users.values().find(|u| u["userName"].as_str().unwrap_or("").to_lowercase() == upn).cloned()
    }

    fn target_group(&self, name: &str) -> Option<Value> {
        let t = self.target.lock().unwrap();
        t.groups.values().find(|g| g["displayName"] == name).cloned()
    }

    fn member_ids(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .target_group(name)
            .map(|g| {
                g["members"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    fn requests(&self) -> usize {
        self.target.lock().unwrap().log.len()
    }
}

fn count(records: &[Value], action: &str, status: &str) -> usize {
    records
        .iter()
        .filter(|r| r["provisioningAction"] == action && r["provisioningStatusInfo"]["status"] == status)
        .count()
}

// --- tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn initial_cycle_then_incremental_changes() {
    let env = Env::new().await;
    let alice = env.user("alice").await;
    let bob = env.user("bob").await;
    let carol = env.user("carol").await;
    let _dave = env.user("dave").await; // never in scope
    let sales = env.group("Sales").await;
    env.add_member(&sales, &bob).await;
    let alice_assignment = env.assign(&alice).await;
    env.assign(&sales).await;
    // Alice already exists in the target (different case): she is matched, not created again.
    {
        let mut t = env.target.lock().unwrap();
        let upn = env.upn("alice").to_uppercase();
        t.index.insert(("Users".into(), upn.to_lowercase()), "pre-1".into());
        t.users
            .insert("pre-1".into(), json!({"id": "pre-1", "userName": upn, "displayName": "Old Name", "active": true}));
    }

    let view = env.configure(json!({})).await;
    assert_eq!(view["state"], "paused");
    assert_eq!(view["secretConfigured"], false, "the secret is set after the view was taken");
    assert_eq!(view["matchingAttributes"]["user"], "userName");
    assert_eq!(env.cycle().await.jobs_run, 0, "a paused job does not run");
    assert_eq!(env.requests(), 0);
    env.start().await;
    let report = env.cycle().await;
    assert_eq!(report.jobs_run, 1);

    // Alice matched and updated, Bob created (via the assigned group), Carol and Dave not.
    let a = env.target_user("alice").unwrap();
    assert_eq!(a["id"], "pre-1");
    assert_eq!(a["displayName"], "User alice");
    assert_eq!(a["name"]["givenName"], "alice");
    let b = env.target_user("bob").unwrap();
    assert_eq!(b["active"], true);
    assert_eq!(b["externalId"], "bob");
    assert!(env.target_user("carol").is_none());
    assert!(env.target_user("dave").is_none());
    assert_eq!(env.target.lock().unwrap().users.len(), 2);
    let g = env.target_group("Sales").unwrap();
    assert_eq!(g["externalId"], sales);
    assert_eq!(env.member_ids("Sales"), vec![b["id"].as_str().unwrap().to_string()]);
    assert_eq!(env.target.lock().unwrap().bad_auth, 0, "the bearer secret is sent");

    let recs = env.records().await;
    assert_eq!(count(&recs, "create", "success"), 2, "{recs:#?}"); // bob, Sales
    assert!(count(&recs, "update", "success") >= 2, "alice's update and Sales' members"); // alice, members
    let bob_rec =
        recs.iter().find(|r| r["sourceIdentity"]["id"] == bob && r["provisioningAction"] == "create").unwrap();
    assert_eq!(bob_rec["targetIdentity"]["id"], b["id"]);
    assert_eq!(bob_rec["servicePrincipal"]["id"], env.sp.to_string());
    assert_eq!(bob_rec["jobId"], env.job().await["id"]);
    assert_eq!(bob_rec["initiatedBy"]["initiatorType"], "system");
    let job = env.job().await;
    assert_eq!(job["state"], "active");
    assert!(job["initial"].is_null(), "the initial cycle is done: {job}");
    assert_eq!(job["counters"]["created"], 2);
    assert!(job.get("sealedSecret").is_none() && job["secretConfigured"] == true);
    assert!(!job.to_string().contains(TOKEN));
    assert!(!recs.iter().any(|r| r.to_string().contains(TOKEN)));

    // A second cycle without changes sends nothing.
    let before = env.requests();
    env.cycle().await;
    assert_eq!(env.requests(), before, "no directory change, no request");

    // Update: only the changed attribute is patched.
    env.patch_user(&alice, json!({"displayName": "Alice Liddell"})).await;
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["displayName"], "Alice Liddell");
    let last_patch = env.target.lock().unwrap().log.iter().filter(|(m, _)| m == "PATCH").count();
    assert!(last_patch >= 1);

    // Carol joins Sales: she enters the scope, is created and added to the group.
    env.add_member(&sales, &carol).await;
    env.cycle().await;
    let c = env.target_user("carol").expect("carol provisioned");
    let mut want = vec![b["id"].as_str().unwrap().to_string(), c["id"].as_str().unwrap().to_string()];
    want.sort();
    assert_eq!(env.member_ids("Sales"), want);

    // Bob leaves Sales: out of scope → disabled, and removed from the group.
    env.remove_member(&sales, &bob).await;
    env.cycle().await;
    assert_eq!(env.target_user("bob").unwrap()["active"], false);
    assert_eq!(env.member_ids("Sales"), vec![c["id"].as_str().unwrap().to_string()]);

    // Alice is disabled in the directory → active=false.
    env.patch_user(&alice, json!({"accountEnabled": false})).await;
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["active"], false);
    env.patch_user(&alice, json!({"accountEnabled": true})).await;
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["active"], true, "re-enabled");

    // Alice's assignment is removed → disabled.
    env.unassign(&alice_assignment).await;
    env.cycle().await;
    assert_eq!(env.target_user("alice").unwrap()["active"], false);

    // Carol is deleted → deleted from the target (and so from the group).
    let r = env.ts.graph("DELETE", &format!("/users/{carol}"), &env.tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    env.cycle().await;
    assert!(env.target_user("carol").is_none());

    // Sales is renamed, then deleted.
    let r =
        env.ts.graph("PATCH", &format!("/groups/{sales}"), &env.tok, Some(json!({"displayName": "Sales EMEA"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    env.cycle().await;
    assert!(env.target_group("Sales EMEA").is_some());
    let r = env.ts.graph("DELETE", &format!("/groups/{sales}"), &env.tok, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    env.cycle().await;
    assert!(env.target.lock().unwrap().groups.is_empty());

    let recs = env.records().await;
    assert!(count(&recs, "disable", "success") >= 3, "bob, alice twice");
    assert!(count(&recs, "delete", "success") >= 2, "carol and the group");
    assert_eq!(count(&recs, "create", "failure") + count(&recs, "update", "failure"), 0, "{recs:#?}");
    let job = env.job().await;
    assert!(job["escrow"].as_array().unwrap().is_empty(), "{job}");
    assert_eq!(job["health"]["consecutiveFailures"], 0);
}

#[tokio::test]
async fn nested_groups_widen_and_narrow_the_scope() {
    let env = Env::new().await;
    let outer = env.group("Outer").await;
    let inner = env.group("Inner").await;
    let ivy = env.user("ivy").await;
    let jon = env.user("jon").await;
    env.add_member(&inner, &ivy).await;
    env.assign(&outer).await;
    env.configure(json!({})).await;
    env.start().await;
    env.cycle().await;
    assert!(env.target_user("ivy").is_none(), "Inner is not yet in Outer");
    assert!(env.target_group("Outer").is_some());
    assert!(env.target_group("Inner").is_none(), "only assigned groups are provisioned");

    // Inner joins Outer: its users enter the scope (transitively).
    env.add_member(&outer, &inner).await;
    env.cycle().await;
    assert_eq!(env.target_user("ivy").unwrap()["active"], true);
    // Jon joins Inner: in scope too.
    env.add_member(&inner, &jon).await;
    env.cycle().await;
    assert_eq!(env.target_user("jon").unwrap()["active"], true);
    assert!(env.member_ids("Outer").is_empty(), "only direct user members are sent");

    // Inner leaves Outer: both leave the scope and are disabled.
    env.remove_member(&outer, &inner).await;
    env.cycle().await;
    assert_eq!(env.target_user("ivy").unwrap()["active"], false);
    assert_eq!(env.target_user("jon").unwrap()["active"], false);
    let recs = env.records().await;
    assert_eq!(count(&recs, "disable", "success"), 2, "{recs:#?}");
}

#[tokio::test]
async fn throttling_with_retry_after_loses_nothing() {
    let env = Env::new().await;
    env.configure(json!({"scope": "all"})).await;
    env.start().await;
    env.cycle().await;
    let base_users = env.target.lock().unwrap().users.len(); // the bootstrap admin and others
    assert!(base_users >= 1);

    // Three new users; the target answers 429 (Retry-After: 30) then 503 (Retry-After: 10).
    let mut ids = Vec::new();
    for n in ["t1", "t2", "t3"] {
        ids.push(env.user(n).await);
    }
    env.target.lock().unwrap().queued.extend([(429, Some("30".to_string())), (503, Some("10".to_string()))]);
    let report = env.cycle().await;
    assert_eq!(report.jobs_backing_off, 1);
    let job = env.job().await;
    assert_eq!(job["state"], "active");
    assert_eq!(job["health"]["consecutiveFailures"], 0, "throttling with Retry-After does not count");
    assert!(job["health"]["nextAttempt"].is_string(), "{job}");
    let cursor = job["cursor"].clone();

    // Not due yet: nothing is sent.
    let before = env.requests();
    env.cycle().await;
    assert_eq!(env.requests(), before);
    env.ts.clock.advance(Duration::seconds(31));
    env.cycle().await; // the 503
    assert_eq!(env.job().await["cursor"], cursor, "the cursor stays until the batch succeeded");
    env.ts.clock.advance(Duration::seconds(11));
    env.cycle().await;
    for n in ["t1", "t2", "t3"] {
        assert!(env.target_user(n).is_some(), "{n} provisioned after the throttling");
    }
    assert_eq!(env.target.lock().unwrap().users.len(), base_users + 3);
    let recs = env.records().await;
    let throttled: Vec<&Value> = recs
        .iter()
        .filter(|r| {
            r["provisioningStatusInfo"]["errorInformation"]["errorCode"]
                == "SystemForCrossDomainIdentityManagementThrottled"
        })
        .collect();
    assert!(!throttled.is_empty(), "the throttled attempt is recorded");
    let job = env.job().await;
    assert_ne!(job["cursor"], cursor);
    assert!(job["health"]["nextAttempt"].is_null());
}

#[tokio::test]
async fn repeated_failures_quarantine_and_resume() {
    let env = Env::new().await;
    let u = env.user("quinn").await;
    env.assign(&u).await;
    env.configure(json!({"retry": {"baseMs": 1000, "capMs": 4000, "quarantineAfter": 3}})).await;
    env.start().await;
    env.target.lock().unwrap().always = Some(500);
    for i in 0..3 {
        let r = env.cycle().await;
        assert_eq!(r.jobs_run, 1, "attempt {i}");
        env.ts.clock.advance(Duration::seconds(5));
    }
    let job = env.job().await;
    assert_eq!(job["state"], "quarantined", "{job}");
    assert!(job["quarantine"]["reason"].as_str().unwrap().contains("3 consecutive failures"), "{job}");
    assert!(job["quarantine"]["since"].is_string());
    let metrics = env.ts.core.metrics.render();
    assert!(metrics.contains("ostiary_provisioning_quarantined_jobs 1"), "{metrics}");
    assert!(metrics.contains("ostiary_provisioning_actions_total{action=\"other\",result=\"failure\"}"), "{metrics}");
    // Quarantined: no more requests, however long we wait.
    let before = env.requests();
    env.ts.clock.advance(Duration::hours(2));
    assert_eq!(env.cycle().await.jobs_run, 0);
    assert_eq!(env.requests(), before);
    assert!(env.target_user("quinn").is_none());

    // The target recovers; the admin resumes the job: it continues where it stopped.
    env.target.lock().unwrap().always = None;
    let v = env.ts.core.start_provisioning(&env.caller, env.sp).await.unwrap();
    assert_eq!(v["state"], "active");
    assert!(v["quarantine"].is_null());
    env.cycle().await;
    assert!(env.target_user("quinn").is_some());
    let job = env.job().await;
    assert_eq!(job["health"]["consecutiveFailures"], 0);
    assert!(job["initial"].is_null());

    // A full restart matches what exists instead of creating duplicates.
    let users_before = env.target.lock().unwrap().users.len();
    let v = env.ts.core.restart_provisioning(&env.caller, env.sp).await.unwrap();
    assert_eq!(v["counters"]["created"], 0);
    env.cycle().await;
    assert_eq!(env.target.lock().unwrap().users.len(), users_before);
    let job = env.job().await;
    assert!(job["initial"].is_null());
    assert_eq!(job["counters"]["created"], 0, "{job}");
}

#[tokio::test]
async fn authentication_failure_quarantines_at_once() {
    let env = Env::new().await;
    let u = env.user("ursula").await;
    env.assign(&u).await;
    env.configure(json!({})).await;
    env.ts.core.set_provisioning_secret(&env.caller, env.sp, Secret::new("wrong".to_string())).await.unwrap();
    env.start().await;
    let r = env.cycle().await;
    assert_eq!(r.jobs_quarantined, 1);
    let job = env.job().await;
    assert_eq!(job["state"], "quarantined");
    assert!(job["quarantine"]["reason"].as_str().unwrap().contains("credentials"), "{job}");
    // Fixing the secret and resuming works.
    env.ts.core.set_provisioning_secret(&env.caller, env.sp, Secret::new(TOKEN.to_string())).await.unwrap();
    env.start().await;
    env.cycle().await;
    assert!(env.target_user("ursula").is_some());
}

#[tokio::test]
async fn on_demand_and_permanent_failures_are_escrowed() {
    let env = Env::new().await;
    let olga = env.user("olga").await;
    let sales = env.group("Ops").await;
    env.add_member(&sales, &olga).await;
    env.assign(&olga).await;
    env.configure(json!({})).await;

    // On demand works while the job is paused, and reports what it did.
    let recs = env.ts.core.provision_on_demand(&env.caller, env.sp, olga.parse().unwrap()).await.unwrap();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["provisioningAction"], "create");
    assert_eq!(recs[0]["initiatedBy"]["initiatorType"], "system", "an app-only caller is not a user");
    assert!(env.target_user("olga").is_some());
    // Not in scope: skipped, with the reason.
    let nina = env.user("nina").await;
    let recs = env.ts.core.provision_on_demand(&env.caller, env.sp, nina.parse().unwrap()).await.unwrap();
    assert_eq!(recs[0]["provisioningStatusInfo"]["status"], "skipped");
    assert_eq!(recs[0]["provisioningStatusInfo"]["errorInformation"]["errorCode"], "NotEffectivelyEntitled");
    assert!(env.target_user("nina").is_none());

    // A permanent refusal (400) of one object is recorded and escrowed; the job goes on.
    env.start().await;
    env.cycle().await;
    let pia = env.user("pia").await;
    env.assign(&pia).await;
    env.target.lock().unwrap().queued.push_back((400, None));
    env.cycle().await;
    let job = env.job().await;
    assert_eq!(job["state"], "active");
    let escrow = job["escrow"].as_array().unwrap();
    assert_eq!(escrow.len(), 1, "{job}");
    assert_eq!(escrow[0]["sourceId"], pia);
    let recs = env.records().await;
    assert!(
        recs.iter().any(|r| r["sourceIdentity"]["id"] == pia && r["provisioningStatusInfo"]["status"] == "failure")
    );
    // Escrowed objects are retried later, not dropped.
    env.ts.clock.advance(Duration::minutes(2));
    env.cycle().await;
    assert!(env.target_user("pia").is_some());
    assert!(env.job().await["escrow"].as_array().unwrap().is_empty());

    // Records are queryable by source object.
    let mut q = LogQuery::new(ostiary_store::LogKind::Provisioning);
    q.principal_id = Some(pia.clone());
    let by_pia = env.ts.core.provisioning_logs(&env.caller, q).await.unwrap();
    assert!(by_pia.len() >= 2 && by_pia.iter().all(|r| r["sourceIdentity"]["id"] == pia));
}

#[tokio::test]
async fn configuration_is_validated() {
    let env = Env::new().await;
    let core = &env.ts.core;
    let bad = |v: Value| serde_json::from_value::<JobConfig>(v).unwrap();
    for (cfg, want) in [
        (json!({"targetUrl": "http://scim.example.com/scim"}), "https is required"),
        (json!({"targetUrl": "https://user:pw@scim.example.com/"}), "credentials"),
        (json!({"targetUrl": "not a url"}), "targetUrl"),
        (json!({"targetUrl": "https://scim.example.com", "matchingAttribute": "nickName"}), "not a mapped target"),
        (
            json!({"targetUrl": "https://scim.example.com", "objectMappings": [
                {"source": "user", "target": "User", "mappings": [{"source": "Join(", "target": "userName", "matchingPriority": 1}]}
            ]}),
            "objectMappings",
        ),
    ] {
        let err = core.configure_provisioning(&env.caller, env.sp, bad(cfg.clone())).await.unwrap_err();
        assert!(err.to_string().contains(want), "{cfg}: {err}");
    }
    assert!(serde_json::from_value::<JobConfig>(json!({"targetUrl": "https://x", "unknown": 1})).is_err());
    // Loopback http and https are fine; matching can be switched to externalId.
    let v = core
        .configure_provisioning(
            &env.caller,
            env.sp,
            bad(json!({"targetUrl": "https://scim.example.com/v2", "matchingAttribute": "externalId"})),
        )
        .await
        .unwrap();
    assert_eq!(v["matchingAttributes"]["user"], "externalId");
    // Permissions: a reader cannot change the job.
    let mut reader = env.caller.clone();
    reader.roles = vec!["Synchronization.Read.All".into()];
    assert!(core.get_provisioning_job(&reader, env.sp).await.is_ok());
    assert!(core.start_provisioning(&reader, env.sp).await.is_err());
    // Unknown service principal.
    assert!(core.get_provisioning_job(&env.caller, ObjectId(uuid::Uuid::new_v4())).await.is_err());
    // The audit log shows the configuration changes.
    let audits = env.ts.graph("GET", "/auditLogs/directoryAudits", &env.tok, None).await;
    assert!(audits.text.contains("Add provisioning job"), "{}", audits.text);
    core.delete_provisioning_job(&env.caller, env.sp).await.unwrap();
    assert!(core.get_provisioning_job(&env.caller, env.sp).await.is_err());

    // Entra's order: credentials (BaseAddress + SecretToken) first, then the job.
    let secret = || Some(Secret::new(TOKEN.to_string()));
    assert!(core.set_provisioning_credentials(&env.caller, env.sp, None, secret()).await.is_err(), "no base address");
    assert!(core.set_provisioning_secret(&env.caller, env.sp, Secret::new(TOKEN.to_string())).await.is_err());
    let v = core.set_provisioning_credentials(&env.caller, env.sp, Some(env.url.clone()), secret()).await.unwrap();
    assert_eq!((v["state"].as_str(), v["secretConfigured"].as_bool()), (Some("paused"), Some(true)), "{v}");
    let again = core.configure_provisioning(&env.caller, env.sp, JobConfig::default()).await.unwrap();
    assert_eq!(again["id"], v["id"]);
    assert_eq!(again["targetUrl"], env.url.as_str());
    assert_eq!(core.list_provisioning_jobs(&env.caller).await.unwrap().len(), 1);
    assert!(core.set_provisioning_secret(&env.caller, env.sp, Secret::new("a\nb".to_string())).await.is_err());
}

struct NullConnector(Shared);
struct NullTarget(Shared);

impl ostiary_core::provisioning::ScimConnector for NullConnector {
    fn connect(
        &self,
        _: &str,
        _: Option<&Secret<String>>,
    ) -> Result<Arc<dyn ostiary_core::provisioning::ScimTarget>, String> {
        Ok(Arc::new(NullTarget(self.0.clone())))
    }
}

#[async_trait::async_trait]
impl ostiary_core::provisioning::ScimTarget for NullTarget {
    async fn create(
        &self,
        _: ostiary_core::provisioning::ResourceKind,
        r: &Value,
    ) -> Result<Value, ostiary_core::provisioning::TargetError> {
        let mut t = self.0.lock().unwrap();
        t.next += 1;
        let id = format!("n-{}", t.next);
        t.users.insert(id.clone(), r.clone());
        t.log.push(("POST".into(), id.clone()));
        Ok(json!({"id": id}))
    }
    async fn get(
        &self,
        _: ostiary_core::provisioning::ResourceKind,
        id: &str,
    ) -> Result<Value, ostiary_core::provisioning::TargetError> {
        Ok(self.0.lock().unwrap().users.get(id).cloned().unwrap_or(Value::Null))
    }
    async fn query(
        &self,
        _: ostiary_core::provisioning::ResourceKind,
        _: &str,
    ) -> Result<Vec<Value>, ostiary_core::provisioning::TargetError> {
        self.0.lock().unwrap().log.push(("GET".into(), String::new()));
        Ok(Vec::new())
    }
    async fn patch(
        &self,
        _: ostiary_core::provisioning::ResourceKind,
        _: &str,
        _: &[Value],
    ) -> Result<(), ostiary_core::provisioning::TargetError> {
        Ok(())
    }
    async fn delete(
        &self,
        _: ostiary_core::provisioning::ResourceKind,
        _: &str,
    ) -> Result<(), ostiary_core::provisioning::TargetError> {
        Ok(())
    }
}

/// Scale check of the engine alone (no admin HTTP): `PROVISIONING_BENCH_USERS` users (default
/// 2,000) written straight to the store, then one full initial cycle into the in-process target
/// over loopback HTTP. Ignored by default; run with
/// `PROVISIONING_BENCH_USERS=100000 cargo test --release -p ostiary-testkit --test provisioning -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn full_cycle_scale() {
    let n: usize = std::env::var("PROVISIONING_BENCH_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let env = Env::new().await;
    let tenant: TenantId = env.ts.t.tenant_id.parse().unwrap();
    let created = ostiary_core::ids::rfc3339(env.ts.core.now());
    let started = std::time::Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut cs = ostiary_store::ChangeSet::new();
        for i in chunk {
            let doc = json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "accountEnabled": true,
                "displayName": format!("Scale User {i}"),
                "userPrincipalName": format!("scale{i}@{}", env.ts.t.domain),
                "mailNickname": format!("scale{i}"),
                "givenName": "Scale",
                "surname": format!("User{i}"),
                "mail": format!("scale{i}@{}", env.ts.t.domain),
                "userType": "Member",
                "createdDateTime": created,
            });
            cs.push(ostiary_store::Change::CreateObject(
                ostiary_model::DirectoryObject::from_doc(ostiary_model::ObjectKind::User, doc).unwrap(),
            ));
        }
        env.ts.core.store.commit(tenant, &cs).await.unwrap();
    }
    println!("loaded {n} users in {:.1}s", started.elapsed().as_secs_f64());
    if std::env::var("PROVISIONING_BENCH_NULL").is_ok() {
        // The engine alone: a target that accepts everything at once, in process.
        env.ts.core.set_scim_connector(Arc::new(NullConnector(env.target.clone())));
    }
    env.configure(json!({"scope": "all"})).await;
    env.start().await;
    let started = std::time::Instant::now();
    let report = env.cycle().await;
    let secs = started.elapsed().as_secs_f64();
    let in_target = env.target.lock().unwrap().users.len();
    assert!(in_target > n, "every user is provisioned ({in_target})");
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / secs;
    println!(
        "full cycle: {n} users in {secs:.1}s ({rate:.0} users/s), {} records, {} requests, backend {}",
        report.records,
        env.requests(),
        env.ts.core.store.backend()
    );
    // A second cycle with no change costs (almost) nothing.
    let started = std::time::Instant::now();
    let before = env.requests();
    env.cycle().await;
    println!("idle cycle: {:.3}s, {} requests", started.elapsed().as_secs_f64(), env.requests() - before);
}
