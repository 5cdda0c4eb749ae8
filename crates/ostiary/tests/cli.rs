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

fn ostiary(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("OSTIARY_CONFIG_DIR", dir.join("cli-profile"))
        .env_remove("OSTIARY_KEK")
        .env_remove("OSTIARY_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
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
