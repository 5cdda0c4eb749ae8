//! The binary as an operator uses it: `serve` on a fresh data dir (bootstrap file, dev CA,
//! HTTPS), `tenant create` and `keys rotate` while it runs, the admin CLI against it, schema
//! refusal, and configuration redaction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ostiary");

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
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The binary with the admin CLI's profile in `dir`.
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
    let mut s = Server { child, port, dir: dir.to_path_buf() };
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

fn https(dir: &Path) -> reqwest::blocking::Client {
    let ca = std::fs::read(dir.join("dev-ca.pem")).unwrap();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap()
}

fn token(client: &reqwest::blocking::Client, port: u16, creds: &Value) -> reqwest::blocking::Response {
    client
        .post(format!("https://127.0.0.1:{port}/{}/oauth2/v2.0/token", creds["tenantId"].as_str().unwrap()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .unwrap()
}

#[test]
fn serve_bootstraps_then_store_commands_and_admin_cli_work_while_it_runs() {
    let dir = temp_dir("serve");
    let server = start(&dir);
    let port = server.port;

    // The bootstrap file: mode 0600, exactly the documented keys, the CA path exists.
    let path = dir.join("bootstrap-credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("kek.key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut keys: Vec<&str> = creds.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "adminPassword",
            "adminUserPrincipalName",
            "caCertificate",
            "clientId",
            "clientSecret",
            "issuer",
            "tenantDomain",
            "tenantId"
        ]
    );
    assert!(Path::new(creds["caCertificate"].as_str().unwrap()).is_absolute());
    assert!(Path::new(creds["caCertificate"].as_str().unwrap()).exists());
    assert_eq!(creds["issuer"], format!("https://127.0.0.1:{port}/{}/v2.0", creds["tenantId"].as_str().unwrap()));

    // Real TLS with the dev CA, and a token for the bootstrap client.
    let http = https(&dir);
    assert_eq!(http.get(format!("https://127.0.0.1:{port}/healthz")).send().unwrap().status(), 200);
    assert_eq!(http.get(format!("https://127.0.0.1:{port}/readyz")).send().unwrap().status(), 200);
    assert_eq!(token(&http, port, &creds).status(), 200);

    // `tenant create` against the same store while the server runs.
    let out = ostiary(&["tenant", "create", "--name", "Fabrikam", "--data-dir", dir.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fabrikam: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fabrikam["tenantDomain"], "fabrikam.ostiary.test");
    assert_ne!(fabrikam["tenantId"], creds["tenantId"]);
    let r = token(&http, port, &fabrikam);
    assert_eq!(r.status(), 200);
    let at: Value = r.json().unwrap();
    assert!(at["access_token"].is_string());

    // `keys rotate` while the server runs: the new keys are published within the cache interval.
    let jwks_url = format!("https://127.0.0.1:{port}/{}/discovery/v2.0/keys", creds["tenantId"].as_str().unwrap());
    let before: Value = http.get(&jwks_url).send().unwrap().json().unwrap();
    assert_eq!(before["keys"].as_array().unwrap().len(), 2);
    let out = ostiary(
        &["keys", "rotate", "--data-dir", dir.to_str().unwrap(), "--tenant", creds["tenantDomain"].as_str().unwrap()],
        &dir,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(1300));
    let after: Value = http.get(&jwks_url).send().unwrap().json().unwrap();
    assert_eq!(after["keys"].as_array().unwrap().len(), 4, "old and new keys are published during the overlap");

    // The admin CLI: login from the bootstrap file, then manage users and apps.
    let d = dir.to_str().unwrap();
    let out = ostiary(&["login", "--bootstrap-file", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(creds["clientSecret"].as_str().unwrap()), "login must not print the secret");
    let upn = format!("ada@{}", creds["tenantDomain"].as_str().unwrap());
    let out = ostiary(
        &["users", "create", "--upn", &upn, "--display-name", "Ada Lovelace", "--password-generate", "--data-dir", d],
        &dir,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ostiary(&["users", "list", "--output", "json"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&upn), "{listed}");
    let out = ostiary(&["users", "list"], &dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Ada Lovelace"));
    let out = ostiary(&["apps", "create", "--name", "CLI app", "--app-role", "Things.Read", "--output", "json"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ostiary(&["users", "get", "nobody@nowhere.test"], &dir);
    assert_eq!(out.status.code(), Some(1), "API errors exit 1");

    // Groups and members.
    let json = |out: std::process::Output| -> Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ada = json(ostiary(&["users", "get", &upn, "--output", "json"], &dir));
    let group = json(ostiary(&["groups", "create", "--name", "Engineers", "--output", "json"], &dir));
    let gid = group["id"].as_str().unwrap();
    let out = ostiary(&["groups", "add-member", gid, ada["id"].as_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let members = ostiary(&["groups", "members", gid, "--output", "json"], &dir);
    assert!(String::from_utf8_lossy(&members.stdout).contains(ada["id"].as_str().unwrap()));

    // An API app with a role, a client app with a secret and a certificate, and a role grant:
    // the client's token then carries the role.
    let api = json(ostiary(
        &[
            "apps",
            "create",
            "--name",
            "Orders",
            "--identifier-uri",
            "api://orders-cli",
            "--app-role",
            "Orders.Read",
            "--output",
            "json",
        ],
        &dir,
    ));
    let client = json(ostiary(&["apps", "create", "--name", "Orders client", "--output", "json"], &dir));
    let app_id = |v: &Value| -> String {
        v.pointer("/application/appId").or_else(|| v.get("appId")).and_then(Value::as_str).unwrap().to_string()
    };
    let (api_app_id, client_app_id) = (app_id(&api), app_id(&client));
    let secret = json(ostiary(
        &["apps", "add-secret", &client_app_id, "--name", "ci", "--days", "30", "--output", "json"],
        &dir,
    ));
    let secret_text = secret["secretText"].as_str().unwrap().to_string();
    let out = ostiary(
        &["apps", "grant-role", "--client", &client_app_id, "--resource", &api_app_id, "--role", "Orders.Read"],
        &dir,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = dir.join("client-cert.pem");
    // Any X.509 certificate will do as a credential; the dev CA's is at hand.
    std::fs::copy(dir.join("dev-ca.pem"), &cert).unwrap();
    let out = ostiary(&["apps", "add-cert", &client_app_id, "--cert-file", cert.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = json(ostiary(&["apps", "get", &client_app_id, "--output", "json"], &dir));
    assert_eq!(shown["keyCredentials"].as_array().unwrap().len(), 1, "{shown}");
    let r = http
        .post(format!("https://127.0.0.1:{port}/{}/oauth2/v2.0/token", creds["tenantId"].as_str().unwrap()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_app_id.as_str()),
            ("client_secret", secret_text.as_str()),
            ("scope", "api://orders-cli/.default"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let at: Value = r.json().unwrap();
    let payload = at["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    let claims: Value = serde_json::from_slice(&base64_url(&payload)).unwrap();
    assert_eq!(claims["roles"], serde_json::json!(["Orders.Read"]));
    assert_eq!(claims["aud"], api_app_id);
    let out = ostiary(&["apps", "remove-secret", &client_app_id, secret["keyId"].as_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}

/// A client-credentials token request with an explicit secret and `client-request-id`.
fn token_with(
    client: &reqwest::blocking::Client,
    port: u16,
    creds: &Value,
    secret: &str,
    correlation_id: &str,
) -> reqwest::blocking::Response {
    client
        .post(format!("https://127.0.0.1:{port}/{}/oauth2/v2.0/token", creds["tenantId"].as_str().unwrap()))
        .header("client-request-id", correlation_id)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .unwrap()
}

/// The JSON stdout of a successful command.
fn json_of(out: std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Calls `f` until it returns `Some`, for up to `secs` seconds.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The records of a `logs … --output json` array.
fn records(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

fn with_correlation<'a>(list: &'a [Value], correlation_id: &str) -> Vec<&'a Value> {
    list.iter().filter(|r| r["correlationId"] == correlation_id).collect()
}

/// Kills a spawned command when dropped, so that a failing assertion leaves no process.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn logs_cli_reads_filters_and_follows_sign_ins_and_audits() {
    let dir = temp_dir("logs");
    let server = start(&dir);
    let port = server.port;
    let path = dir.join("bootstrap-credentials.json");
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let out = ostiary(&["login", "--bootstrap-file", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // One failed and one successful client-credentials sign-in, each with its own
    // client-request-id (which becomes the correlation id).
    let http = https(&dir);
    let bad_corr = uuid::Uuid::new_v4().to_string();
    let ok_corr = uuid::Uuid::new_v4().to_string();
    let r = token_with(&http, port, &creds, "not-the-secret", &bad_corr);
    assert_eq!(r.status(), 401);
    let err: Value = r.json().unwrap();
    assert_eq!(err["error_codes"], serde_json::json!([7000215]), "{err}");
    let r = token_with(&http, port, &creds, creds["clientSecret"].as_str().unwrap(), &ok_corr);
    assert_eq!(r.status(), 200);

    // A user created through the CLI: an "Add user" directory audit.
    let upn = format!("grace@{}", creds["tenantDomain"].as_str().unwrap());
    let out =
        ostiary(&["users", "create", "--upn", &upn, "--display-name", "Grace Hopper", "--password-generate"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The sign-in log is written in batches: wait until both attempts are readable.
    let all = eventually(5, "both sign-ins in `logs signins`", || {
        let v = json_of(ostiary(&["logs", "signins", "--output", "json"], &dir));
        let list = records(&v);
        let found = !with_correlation(list, &bad_corr).is_empty() && !with_correlation(list, &ok_corr).is_empty();
        found.then(|| list.clone())
    });
    let bad = with_correlation(&all, &bad_corr);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["status"]["errorCode"], 7000215);
    assert_eq!(bad[0]["appId"], creds["clientId"]);
    assert!(bad[0]["status"]["failureReason"].as_str().is_some_and(|r| !r.is_empty()), "{}", bad[0]);
    let ok = with_correlation(&all, &ok_corr);
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["status"]["errorCode"], 0);
    assert_eq!(ok[0]["signInEventTypes"], serde_json::json!(["servicePrincipal"]));
    // Newest first, as the API returns them.
    let times: Vec<&str> = all.iter().map(|r| r["createdDateTime"].as_str().unwrap()).collect();
    let parsed: Vec<time::OffsetDateTime> = times
        .iter()
        .map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap())
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // --failures: only failed attempts, ours among them.
    let v = json_of(ostiary(&["logs", "signins", "--failures", "--output", "json"], &dir));
    let failures = records(&v);
    assert!(!failures.is_empty());
    assert!(failures.iter().all(|r| r["status"]["errorCode"] != 0), "{v}");
    assert_eq!(with_correlation(failures, &bad_corr).len(), 1);
    assert!(with_correlation(failures, &ok_corr).is_empty());
    let v = json_of(ostiary(&["logs", "signins", "--error-code", "7000215", "--output", "json"], &dir));
    assert!(records(&v).iter().all(|r| r["status"]["errorCode"] == 7000215), "{v}");
    assert_eq!(with_correlation(records(&v), &bad_corr).len(), 1);

    // --correlation-id: exactly the matching record.
    let v = json_of(ostiary(&["logs", "signins", "--correlation-id", &ok_corr, "--output", "json"], &dir));
    assert_eq!(records(&v).len(), 1, "{v}");
    assert_eq!(records(&v)[0]["id"], ok[0]["id"]);

    // --app, --kind and --user narrow; a kind that did not happen finds nothing of ours.
    let client_id = creds["clientId"].as_str().unwrap();
    let v = json_of(ostiary(
        &["logs", "signins", "--app", client_id, "--kind", "service-principal", "--output", "json"],
        &dir,
    ));
    assert!(records(&v).iter().all(|r| r["appId"] == client_id), "{v}");
    assert_eq!(with_correlation(records(&v), &ok_corr).len(), 1);
    let v = json_of(ostiary(&["logs", "signins", "--kind", "interactive", "--output", "json"], &dir));
    assert!(with_correlation(records(&v), &ok_corr).is_empty(), "{v}");

    // --top cuts the list (pages are followed up to it); --filter is ANDed with the options.
    let v = json_of(ostiary(&["logs", "signins", "--top", "1", "--output", "json"], &dir));
    assert_eq!(records(&v).len(), 1, "{v}");
    let raw = format!("correlationId eq '{bad_corr}'");
    let v = json_of(ostiary(&["logs", "signins", "--filter", &raw, "--failures", "--output", "json"], &dir));
    assert_eq!(records(&v).len(), 1, "{v}");
    let v = json_of(ostiary(&["logs", "signins", "--filter", &raw, "--error-code", "0", "--output", "json"], &dir));
    assert!(records(&v).is_empty(), "{v}");

    // --since / --until relative to now.
    let v = json_of(ostiary(&["logs", "signins", "--since", "1h", "--output", "json"], &dir));
    assert_eq!(with_correlation(records(&v), &ok_corr).len(), 1);
    assert_eq!(with_correlation(records(&v), &bad_corr).len(), 1);
    let v = json_of(ostiary(&["logs", "signins", "--until", "1h", "--output", "json"], &dir));
    assert!(records(&v).is_empty(), "nothing is older than the server: {v}");

    // Table output: the header and a row with the failure.
    let out = ostiary(&["logs", "signins", "--correlation-id", &bad_corr], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for column in ["TIME", "USER", "APP", "IP", "RESULT", "FAILURE REASON", "CORRELATION ID"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(lines[1].contains("AADSTS7000215") && lines[1].ends_with(&bad_corr), "{table}");

    // Directory audits: the "Add user" record targets the new user.
    let v = json_of(ostiary(&["logs", "audits", "--activity", "Add user", "--output", "json"], &dir));
    let adds = records(&v);
    assert!(adds.iter().all(|r| r["activityDisplayName"] == "Add user"), "{v}");
    let add = adds
        .iter()
        .find(|r| {
            r["targetResources"].as_array().is_some_and(|t| t.iter().any(|t| t["userPrincipalName"] == upn.as_str()))
        })
        .unwrap_or_else(|| panic!("no Add user audit for {upn}: {v}"));
    assert_eq!(add["result"], "success");
    assert_eq!(add["initiatedBy"]["app"]["appId"], creds["clientId"]);
    let v = json_of(ostiary(&["logs", "audits", "--failures", "--activity", "Add user", "--output", "json"], &dir));
    assert!(records(&v).is_empty(), "{v}");
    let out = ostiary(&["logs", "audits", "--activity", "Add user", "--since", "1h"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().is_some_and(|h| h.contains("ACTIVITY") && h.contains("INITIATED BY")), "{table}");
    // The target column shows the first target's displayName.
    assert!(table.lines().any(|l| l.contains("Add user") && l.contains("Grace Hopper")), "{table}");

    // Usage errors exit 2 before contacting the server.
    for args in [
        &["logs", "signins", "--since", "yesterday"][..],
        &["logs", "signins", "--kind", "robot"],
        &["logs", "signins", "--top", "-5"],
        &["logs", "signins", "--since", "1h", "--until", "2h"],
        &["logs", "audits", "--kind", "interactive"],
    ] {
        let out = ostiary(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // A filter the server cannot serve is its error (exit 1).
    let out = ostiary(&["logs", "signins", "--filter", "ipAddress eq '1.2.3.4'"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // --follow: prints what exists (NDJSON), then new sign-ins as they happen.
    let mut child = ostiary_command(&["logs", "signins", "--follow", "--output", "json"], &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let follower = Spawned(child);
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let record: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: not NDJSON: {line}"));
            if tx.send(record).is_err() {
                break;
            }
        }
    });
    let wait_for = |corr: &str, seen: &mut Vec<Value>| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.iter().any(|r| r["correlationId"] == corr) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => seen.push(r),
                Err(e) => panic!("{corr} not followed within 10 s ({e}); got {seen:?}"),
            }
        }
    };
    let mut seen = Vec::new();
    wait_for(&ok_corr, &mut seen);
    let new_corr = uuid::Uuid::new_v4().to_string();
    let r = token_with(&http, port, &creds, creds["clientSecret"].as_str().unwrap(), &new_corr);
    assert_eq!(r.status(), 200);
    wait_for(&new_corr, &mut seen);
    // Oldest first, each record once.
    let ids: Vec<&str> = seen.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let pos = |c: &str| seen.iter().position(|r| r["correlationId"] == c).unwrap();
    assert!(pos(&bad_corr) < pos(&ok_corr) && pos(&ok_corr) < pos(&new_corr));
    drop(follower);
    drop(server);
}

#[test]
fn apps_expiring_lists_credentials_within_the_window() {
    let dir = temp_dir("expiring");
    let server = start(&dir);
    let port = server.port;
    let path = dir.join("bootstrap-credentials.json");
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let out = ostiary(&["login", "--bootstrap-file", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let created = json_of(ostiary(&["apps", "create", "--name", "Expiring app", "--output", "json"], &dir));
    let app_id = created["application"]["appId"].as_str().unwrap().to_string();
    let object_id = created["application"]["id"].as_str().unwrap().to_string();
    let soon =
        json_of(ostiary(&["apps", "add-secret", &app_id, "--name", "soon", "--days", "10", "--output", "json"], &dir));
    let later = json_of(ostiary(
        &["apps", "add-secret", &app_id, "--name", "later", "--days", "400", "--output", "json"],
        &dir,
    ));
    // An already expired secret: the CLI only adds future ones, Graph takes any range.
    let http = https(&dir);
    let at: Value = token(&http, port, &creds).json().unwrap();
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let r = http
        .post(format!("https://127.0.0.1:{port}/v1.0/applications/{object_id}/addPassword"))
        .bearer_auth(at["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"passwordCredential": {
            "displayName": "gone",
            "startDateTime": fmt(now - time::Duration::days(20)),
            "endDateTime": fmt(now - time::Duration::days(3)),
        }}))
        .send()
        .unwrap();
    let status = r.status();
    let body = r.text().unwrap();
    assert!(status.is_success(), "{status}: {body}");
    let gone: Value = serde_json::from_str(&body).unwrap();

    let ours =
        |v: &Value| -> Vec<Value> { records(v).iter().filter(|c| c["appId"] == app_id.as_str()).cloned().collect() };
    let key = |c: &Value| c["keyId"].as_str().unwrap().to_string();
    let v = json_of(ostiary(&["apps", "expiring", "--within", "30d", "--output", "json"], &dir));
    let listed = ours(&v);
    assert_eq!(listed.iter().map(key).collect::<Vec<_>>(), [key(&gone), key(&soon)], "expired first: {v}");
    let (g, s) = (&listed[0], &listed[1]);
    assert_eq!(g["expired"], true);
    assert!((-4..=-3).contains(&g["daysLeft"].as_i64().unwrap()), "{g}");
    assert_eq!(s["expired"], false);
    assert!((9..=10).contains(&s["daysLeft"].as_i64().unwrap()), "{s}");
    assert_eq!(s["credentialType"], "secret");
    assert_eq!(s["displayName"], "soon");
    assert_eq!(s["appDisplayName"], "Expiring app");
    assert_eq!(s["endDateTime"], soon["endDateTime"]);
    // Every listed credential (of any app) is inside the window.
    assert!(records(&v).iter().all(|c| c["daysLeft"].as_i64().unwrap() <= 30), "{v}");

    let v = json_of(ostiary(&["apps", "expiring", "--within", "500d", "--output", "json"], &dir));
    let keys: Vec<String> = ours(&v).iter().map(key).collect();
    assert_eq!(keys, [key(&gone), key(&soon), key(&later)], "{v}");

    // The default window is 30 days; the table marks the expired credential.
    let out = ostiary(&["apps", "expiring"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().is_some_and(|h| h.contains("DAYS LEFT") && h.contains("APP ID")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("EXPIRED") && l.contains(&key(&gone))), "{table}");
    assert!(table.lines().any(|l| l.contains(&key(&soon))), "{table}");
    assert!(!table.contains(&key(&later)), "{table}");

    let out = ostiary(&["apps", "expiring", "--within", "3w"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}

#[test]
fn serve_refuses_a_schema_that_does_not_match() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // "Older" needs a second migration to exist; until then the store tests cover it.
    let (case, sql) =
        ("newer", "INSERT INTO ostiary_schema_migrations (version, applied_at) VALUES (999, '2026-01-01T00:00:00Z')");
    {
        let dir = temp_dir(case);
        let out = ostiary(&["migrate", "--data-dir", dir.to_str().unwrap()], &dir);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let db = dir.join("ostiary.db");
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        });
        let port = free_port().to_string();
        let out = Command::new(BIN)
            .args(["serve", "--data-dir", dir.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("OSTIARY_DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("schema"), "{err}");
        assert!(err.contains("newer"), "{err}");
        let out = ostiary(&["migrate", "--data-dir", dir.to_str().unwrap()], &dir);
        assert!(!out.status.success(), "migrate must refuse a newer schema");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn config_show_redacts_secrets_and_bad_config_is_a_usage_error() {
    let dir = temp_dir("config");
    let out = Command::new(BIN)
        .args([
            "config",
            "show",
            "--data-dir",
            dir.to_str().unwrap(),
            "--database-url",
            "postgres://ostiary:hunter2@db.example/ostiary",
        ])
        .env("OSTIARY_KEK", "c2VjcmV0LWtlay1ub3QtcmVhbGx5LTMyLWJ5dGVzISE=")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("postgres://ostiary:***@db.example/ostiary"), "{text}");
    assert!(!text.contains("c2VjcmV0"), "{text}");

    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\nunknown_setting = 1\n").unwrap();
    let out = Command::new(BIN).args(["config", "show", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_setting"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).unwrap()
}

#[test]
fn policies_cli_guards_lockout_and_explains_what_if() {
    let dir = temp_dir("policies");
    let server = start(&dir);
    let path = dir.join("bootstrap-credentials.json");
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let out = ostiary(&["login", "--bootstrap-file", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let domain = creds["tenantDomain"].as_str().unwrap();
    let upn = format!("wendy@{domain}");
    let user = json_of(ostiary(
        &["users", "create", "--upn", &upn, "--display-name", "Wendy", "--password-generate", "--output", "json"],
        &dir,
    ));
    let user_id = user["user"]["id"].as_str().or(user["id"].as_str()).unwrap().to_string();
    let write = |name: &str, v: Value| {
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };

    // Blocking every user, administrators included, is refused with an explanation (exit 1).
    let all = write(
        "all.json",
        serde_json::json!({"displayName": "Block everyone", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
    );
    let out = ostiary(&["policies", "create", "--file", &all], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("lock"), "{err}");

    // A trusted network, and an MFA policy for Wendy outside it.
    let hq = write(
        "hq.json",
        serde_json::json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ", "isTrusted": true,
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]}),
    );
    let loc = json_of(ostiary(&["policies", "locations", "create", "--file", &hq, "--output", "json"], &dir));
    assert!(loc["id"].as_str().is_some(), "{loc}");
    let mfa = write(
        "mfa.json",
        serde_json::json!({"displayName": "MFA outside HQ", "state": "enabled",
            "conditions": {"users": {"includeUsers": [user_id]}, "applications": {"includeApplications": ["All"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
    );
    let created = json_of(ostiary(&["policies", "create", "--file", &mfa, "--output", "json"], &dir));
    let policy_id = created["id"].as_str().unwrap().to_string();
    let out = ostiary(&["policies", "list"], &dir);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("MFA outside HQ") && table.contains("enabled"), "{table}");

    let graph = "00000003-0000-0000-c000-000000000000";
    let what_if = |ip: &str| {
        json_of(ostiary(&["policies", "what-if", "--user", &upn, "--app", graph, "--ip", ip, "--output", "json"], &dir))
    };
    let ours = |v: &Value| v.as_array().unwrap().iter().find(|p| p["id"] == policy_id.as_str()).cloned().unwrap();
    let inside = ours(&what_if("10.1.2.3"));
    assert_eq!(inside["policyApplies"], false, "{inside}");
    assert_eq!(inside["analysisReasons"], "location", "{inside}");
    assert!(inside["ostiaryExplanation"].to_string().contains("HQ"), "{inside}");
    let outside = ours(&what_if("203.0.113.9"));
    assert_eq!(outside["policyApplies"], true, "{outside}");
    assert_eq!(outside["ostiaryResult"], "failure", "{outside}");
    let out = ostiary(&["policies", "what-if", "--user", &upn, "--app", graph, "--ip", "203.0.113.9"], &dir);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("MFA outside HQ") && table.contains("outcome: interrupt"), "{table}");

    // Emergency access, report-only, delete.
    let admin = creds["adminUserPrincipalName"].as_str().unwrap();
    let out = ostiary(&["policies", "emergency-access", "add", admin], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = json_of(ostiary(&["policies", "emergency-access", "list", "--output", "json"], &dir));
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(1), "{listed}");
    let out = ostiary(&["policies", "set-state", &policy_id, "report-only"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = json_of(ostiary(&["policies", "show", &policy_id], &dir));
    assert_eq!(shown["state"], "enabledForReportingButNotEnforced");
    let out = ostiary(&["policies", "delete", &policy_id], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ostiary(&["policies", "show", &policy_id], &dir);
    assert_eq!(out.status.code(), Some(1));
    drop(server);
}

#[test]
fn saml_cli_configures_an_application_rotates_certificates_and_reports_expiry() {
    let dir = temp_dir("saml");
    let server = start(&dir);
    let port = server.port;
    let path = dir.join("bootstrap-credentials.json");
    let out = ostiary(&["login", "--bootstrap-file", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created = json_of(ostiary(&["apps", "create", "--name", "SAML via CLI", "--output", "json"], &dir));
    let app_id = created["application"]["appId"].as_str().unwrap().to_string();

    // A usage error needs no server round trip and exits 2.
    let out = ostiary(&["saml", "configure", "--app", &app_id, "--claim", "nosource"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    let v = json_of(ostiary(
        &[
            "saml",
            "configure",
            "--app",
            &app_id,
            "--entity-id",
            "https://sp.example/metadata",
            "--reply-url",
            "https://sp.example/acs",
            "--reply-url",
            "https://sp.example/acs-two=5",
            "--logout-url",
            "https://sp.example/slo",
            "--relay-state",
            "/start",
            "--sign",
            "both",
            "--name-id-format",
            "persistent",
            "--name-id-source",
            "objectId",
            "--claim",
            "dept=user:department",
            "--claim",
            "http://schemas.example.org/claims/Group=groups",
            "--output",
            "json",
        ],
        &dir,
    ));
    assert_eq!(v["preferredSingleSignOnMode"], "saml");
    assert_eq!(v["entityIds"], serde_json::json!(["https://sp.example/metadata"]));
    assert_eq!(v["replyUrls"], serde_json::json!(["https://sp.example/acs", "https://sp.example/acs-two"]));
    assert_eq!(v["logoutUrl"], "https://sp.example/slo");
    assert_eq!(v["samlSingleSignOnSettings"]["relayState"], "/start");
    assert_eq!(v["samlSingleSignOnSettings"]["signingOption"], "ResponseAndToken");
    let claims = records(&v["claimsPolicy"]["claims"]);
    assert_eq!(claims[0]["nameIdFormat"], "persistent");
    assert_eq!(claims[1]["name"], "dept");
    assert_eq!(claims[2]["namespace"], "http://schemas.example.org/claims");

    // Certificates: the first signs; a second is published, then activated; the active one
    // cannot be removed while another exists.
    let c1 = json_of(ostiary(
        &["saml", "add-cert", "--app", &app_id, "--name", "CN=First", "--years", "1", "--output", "json"],
        &dir,
    ));
    let v = json_of(ostiary(&["saml", "show", "--app", &app_id, "--output", "json"], &dir));
    assert_eq!(v["preferredTokenSigningKeyThumbprint"], c1["thumbprint"]);
    let c2 = json_of(ostiary(&["saml", "add-cert", "--app", &app_id, "--years", "2", "--output", "json"], &dir));
    let url = ostiary(&["saml", "metadata", "--app", &app_id], &dir);
    let url = String::from_utf8_lossy(&url.stdout).trim().to_string();
    assert!(url.starts_with(&format!("https://127.0.0.1:{port}/")), "{url}");
    let md = https(&dir).get(&url).send().unwrap().text().unwrap();
    assert!(
        md.contains(c1["key"].as_str().unwrap()) && md.contains(c2["key"].as_str().unwrap()),
        "both published: {md}"
    );
    let thumb2 = c2["thumbprint"].as_str().unwrap();
    let v = json_of(ostiary(&["saml", "activate-cert", "--app", &app_id, thumb2, "--output", "json"], &dir));
    assert_eq!(v["preferredTokenSigningKeyThumbprint"], thumb2);
    let out = ostiary(&["saml", "remove-cert", "--app", &app_id, c2["keyId"].as_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "the active certificate stays: {}", String::from_utf8_lossy(&out.stderr));

    // `apps expiring` names SAML signing certificates.
    let v = json_of(ostiary(&["apps", "expiring", "--within", "400d", "--output", "json"], &dir));
    let ours: Vec<&Value> = records(&v).iter().filter(|c| c["appId"] == app_id.as_str()).collect();
    assert_eq!(ours.len(), 1, "only the one-year certificate: {v}");
    assert_eq!(ours[0]["credentialType"], "samlSigningCertificate");
    assert_eq!(ours[0]["keyId"], c1["keyId"]);
    let v = json_of(ostiary(
        &["saml", "remove-cert", "--app", &app_id, c1["keyId"].as_str().unwrap(), "--output", "json"],
        &dir,
    ));
    assert_eq!(records(&v["keyCredentials"]).len(), 2, "one certificate (Sign + Verify) left: {v}");

    // Import of SP metadata; a missing file is a usage error, hostile XML a server refusal.
    let sp_md = dir.join("sp.xml");
    std::fs::write(&sp_md, r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://imported.example/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://imported.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#).unwrap();
    let v = json_of(ostiary(
        &["saml", "import-metadata", "--app", &app_id, "--file", sp_md.to_str().unwrap(), "--output", "json"],
        &dir,
    ));
    assert_eq!(v["entityIds"][0], "https://imported.example/sp");
    assert!(records(&v["replyUrls"]).iter().any(|u| u == "https://imported.example/acs"), "{v}");
    let out = ostiary(&["saml", "import-metadata", "--app", &app_id, "--file", "/nonexistent.xml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(&sp_md, "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>").unwrap();
    let out = ostiary(&["saml", "import-metadata", "--app", &app_id, "--file", sp_md.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}
