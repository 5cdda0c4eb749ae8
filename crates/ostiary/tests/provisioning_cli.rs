//! `ostiary provisioning …` and `ostiary logs provisioning` against the real binary: `serve` on
//! a fresh data dir (its background loop runs provisioning cycles every 3 seconds), a small SCIM
//! target on a loopback port (axum on its own runtime thread), and a second job whose target
//! is unreachable and reports its last error. The bearer token goes in through a file and
//! stdin, never argv, and never comes back out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ostiary");
const TOKEN: &str = "cli-scim-bearer-8d2e61f0";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ostiary-cli-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ostiary_command(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("OSTIARY_CONFIG_DIR", dir.join("cli-profile"))
        .env_remove("OSTIARY_KEK")
        .env_remove("OSTIARY_DATABASE_URL")
        .stdin(Stdio::null());
    cmd
}

fn ostiary(args: &[&str], dir: &Path) -> std::process::Output {
    ostiary_command(args, dir).output().unwrap()
}

fn start(dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--data-dir", dir.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("OSTIARY_KEK")
        .env_remove("OSTIARY_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Server { child, dir: dir.to_path_buf() };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("bootstrap-credentials.json").exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        if let Some(status) = s.child.try_wait().unwrap() {
            panic!("server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "server not ready in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
    text
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

// --- a small SCIM target ------------------------------------------------------------------------

#[derive(Default)]
struct Target {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    next: u64,
    bad_auth: usize,
}

type Shared = Arc<Mutex<Target>>;

fn scim(status: StatusCode, v: &Value) -> Response {
    (status, [("content-type", "application/scim+json")], v.to_string()).into_response()
}

fn refused(h: &HeaderMap, s: &Shared) -> Option<Response> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}")) {
        return None;
    }
    s.lock().unwrap().bad_auth += 1;
    Some(scim(StatusCode::UNAUTHORIZED, &json!({"status": "401", "detail": "bad token"})))
}

async fn list(State(s): State<Shared>, h: HeaderMap) -> Response {
    if let Some(r) = refused(&h, &s) {
        return r;
    }
    // Matching queries find nothing: every object is created once, then remembered by id.
    scim(
        StatusCode::OK,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}),
    )
}

async fn create(State(s): State<Shared>, UrlPath(c): UrlPath<String>, h: HeaderMap, body: String) -> Response {
    if let Some(r) = refused(&h, &s) {
        return r;
    }
    let mut v: Value = serde_json::from_str(&body).unwrap();
    let mut t = s.lock().unwrap();
    t.next += 1;
    let id = format!("t-{}", t.next);
    v["id"] = json!(id);
    if c == "Users" {
        t.users.insert(id, v.clone());
    } else {
        t.groups.insert(id, v.clone());
    }
    scim(StatusCode::CREATED, &v)
}

async fn item(State(s): State<Shared>, h: HeaderMap) -> Response {
    if let Some(r) = refused(&h, &s) {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Starts the target on its own runtime thread; returns its base URL.
fn start_target(state: Shared) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/scim/{coll}", get(list).post(create))
                .route("/scim/{coll}/{id}", get(item).patch(item).delete(item))
                .with_state(state);
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{addr}/scim")
}

// --- the test -----------------------------------------------------------------------------------

#[test]
fn provisioning_cli_configures_runs_and_reports() {
    let dir = temp_dir("provisioning");
    let server = start(&dir);
    let creds_path = dir.join("bootstrap-credentials.json");
    let creds: Value = serde_json::from_slice(&std::fs::read(&creds_path).unwrap()).unwrap();
    ok(&ostiary(&["login", "--bootstrap-file", creds_path.to_str().unwrap()], &dir));
    let domain = creds["tenantDomain"].as_str().unwrap();
    let upn = format!("petra@{domain}");
    ok(&ostiary(&["users", "create", "--upn", &upn, "--display-name", "Petra", "--password-generate"], &dir));
    let app = json_of(&ostiary(&["apps", "create", "--name", "SCIM CLI App", "--output", "json"], &dir));
    let app_id = app["appId"].as_str().or(app["application"]["appId"].as_str()).unwrap().to_string();
    let state: Shared = Arc::default();
    let url = start_target(state.clone());
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    // Usage errors: no such flag for the token, no application, a job without a URL.
    let out = ostiary(&["provisioning", "configure", "--app", &app_id, "--url", &url, "--token", TOKEN], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = ostiary(&["provisioning", "status"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = ostiary(&["provisioning", "configure", "--app", &app_id, "--scope", "all"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
    // No job yet: an API error (exit 1).
    let out = ostiary(&["provisioning", "status", "--app", &app_id], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // A target URL the server refuses.
    let out = ostiary(&["provisioning", "configure", "--app", &app_id, "--url", "http://scim.example.com/"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // Configure with the token from a file: paused, secret set, every user in scope.
    let job = json_of(&ostiary(
        &[
            "provisioning",
            "configure",
            "--app",
            &app_id,
            "--url",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--scope",
            "all",
            "--matching-attribute",
            "userName",
            "--output",
            "json",
        ],
        &dir,
    ));
    assert_eq!(job["status"]["code"], "Paused", "{job}");
    assert_eq!(job["ostiaryConfiguration"]["secretConfigured"], true);
    assert_eq!(job["ostiaryConfiguration"]["scope"], "all");
    let job_id = job["id"].as_str().unwrap().to_string();
    let table = ok(&ostiary(&["provisioning", "status", "--app", &app_id], &dir));
    assert!(table.contains("Paused") && table.contains("configured") && table.contains(&url), "{table}");

    // Start: the server's loop provisions Petra (and the bootstrap administrator).
    let table = ok(&ostiary(&["provisioning", "start", "--app", &app_id], &dir));
    assert!(table.contains("Active"), "{table}");
    eventually(30, "Petra in the target", || {
        let t = state.lock().unwrap();
        t.users.values().any(|u| u["userName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&upn))).then_some(())
    });
    assert_eq!(state.lock().unwrap().bad_auth, 0, "the token from the file is sent");
    let job = eventually(30, "the counters", || {
        let job = json_of(&ostiary(&["provisioning", "status", "--app", &app_id, "-o", "json"], &dir));
        (job["ostiaryConfiguration"]["counters"]["created"].as_u64().unwrap_or(0) >= 2).then_some(job)
    });
    assert_eq!(job["id"], job_id);

    // The records, by application and by user, as JSON and as a table.
    let recs = json_of(&ostiary(&["logs", "provisioning", "--app", &app_id, "--output", "json"], &dir));
    let recs = recs.as_array().unwrap();
    assert!(recs.iter().any(|r| r["provisioningAction"] == "create"), "{recs:?}");
    assert!(recs.iter().all(|r| r["jobId"] == job_id.as_str()));
    let mine = json_of(&ostiary(&["logs", "provisioning", "--user", &upn, "--action", "create", "-o", "json"], &dir));
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["sourceIdentity"]["displayName"].as_str().unwrap().to_lowercase(), upn.to_lowercase());
    let failures = json_of(&ostiary(&["logs", "provisioning", "--app", &app_id, "--failures", "-o", "json"], &dir));
    assert!(failures.as_array().unwrap().is_empty(), "{failures}");
    let table = ok(&ostiary(&["logs", "provisioning", "--since", "1h", "--top", "5"], &dir));
    assert!(table.starts_with("TIME") && table.contains("create"), "{table}");

    // --follow prints the latest record at once (NDJSON with --output json), then polls.
    let mut follow =
        ostiary_command(&["logs", "provisioning", "--app", &app_id, "--follow", "--top", "1", "-o", "json"], &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(follow.stdout.take().unwrap()), &mut line).unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["jobId"], job_id.as_str(), "{line}");

    // Pause, on demand while paused, restart.
    let sp = job["ostiaryConfiguration"]["servicePrincipalId"].as_str().unwrap();
    let table = ok(&ostiary(&["provisioning", "pause", "--sp", sp], &dir));
    assert!(table.contains("Paused"), "{table}");
    let od = json_of(&ostiary(&["provisioning", "on-demand", "--app", &app_id, "--user", &upn, "-o", "json"], &dir));
    assert_eq!(od[0]["initiatedBy"]["initiatorType"], "system", "{od}");
    assert!(od[0]["provisioningAction"].is_string(), "{od}");
    let table = ok(&ostiary(&["provisioning", "on-demand", "--app", &app_id, "--user", &upn], &dir));
    assert!(table.starts_with("ACTION"), "{table}");
    let job = json_of(&ostiary(&["provisioning", "restart", "--app", &app_id, "-o", "json"], &dir));
    assert_eq!(job["status"]["code"], "Active");
    assert_eq!(job["ostiaryConfiguration"]["counters"]["created"], 0);

    // A new token through stdin.
    let mut child = ostiary_command(&["provisioning", "configure", "--app", &app_id, "--token-stdin"], &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{TOKEN}\n").as_bytes()).unwrap();
    ok(&child.wait_with_output().unwrap());

    // A second application whose target is down: the job reports its failure.
    let dead_app = json_of(&ostiary(&["apps", "create", "--name", "Dead Target", "--output", "json"], &dir));
    let dead_id = dead_app["appId"].as_str().or(dead_app["application"]["appId"].as_str()).unwrap().to_string();
    let dead_url = format!("http://127.0.0.1:{}/scim", free_port());
    ok(&ostiary(
        &[
            "provisioning",
            "configure",
            "--app",
            &dead_id,
            "--url",
            &dead_url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--scope",
            "all",
        ],
        &dir,
    ));
    ok(&ostiary(&["provisioning", "start", "--app", &dead_id], &dir));
    let job = eventually(30, "the dead target's failure", || {
        let job = json_of(&ostiary(&["provisioning", "status", "--app", &dead_id, "-o", "json"], &dir));
        job["ostiaryConfiguration"]["health"]["lastError"].is_string().then_some(job)
    });
    assert!(job["status"]["countSuccessiveCompleteFailures"].as_u64().unwrap() >= 1, "{job}");
    let table = ok(&ostiary(&["provisioning", "status", "--app", &dead_id], &dir));
    assert!(table.contains("LAST ERROR"), "{table}");

    // Delete: status is then an API error.
    let out = ok(&ostiary(&["provisioning", "delete", "--app", &dead_id], &dir));
    assert!(out.contains("deleted"), "{out}");
    let out = ostiary(&["provisioning", "status", "--app", &dead_id], &dir);
    assert_eq!(out.status.code(), Some(1));

    // The token is in no audit record.
    let audits = ok(&ostiary(&["logs", "audits", "--top", "500", "-o", "json"], &dir));
    assert!(audits.contains("provisioning job"), "job changes are audited");
    drop(server);
}
