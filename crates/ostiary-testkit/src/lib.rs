//! Test harness: boots the full HTTP router in-process over a fresh store (SQLite in memory by
//! default; a fresh PostgreSQL database when `OSTIARY_TEST_DATABASE_URL` is set and the test
//! asks for it), with a controllable clock, a bootstrapped tenant, and helpers to call the
//! token endpoint and the Graph API as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test support starts its manual clock at real time and reads the test database URL.
#![allow(clippy::disallowed_methods)]

pub mod browser;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ostiary_core::bootstrap::{NewTenant, TenantCredentials};
use ostiary_core::{Clock, Core, CoreConfig};
use ostiary_crypto::kek::Kek;
use ostiary_crypto::rand::SystemRandom;
use ostiary_store::Store;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

pub const BASE: &str = "https://ostiary.test";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A clock tests move by hand.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new() -> Self {
        let now = OffsetDateTime::now_utc();
        ManualClock(Mutex::new(now.replace_nanosecond(0).unwrap_or(now)))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A tenant's credentials, as the bootstrap file would have them.
#[derive(Clone)]
pub struct TenantCreds {
    pub tenant_id: String,
    pub domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub admin_upn: String,
    pub admin_password: String,
}

impl From<&TenantCredentials> for TenantCreds {
    fn from(c: &TenantCredentials) -> Self {
        TenantCreds {
            tenant_id: c.tenant.id.to_string(),
            domain: c.tenant.initial_domain.clone(),
            client_id: c.client_id.to_string(),
            client_secret: c.client_secret.expose().clone(),
            admin_upn: c.admin_user_principal_name.clone(),
            admin_password: c.admin_password.expose().clone(),
        }
    }
}

pub struct TestServer {
    pub core: Arc<Core>,
    pub clock: Arc<ManualClock>,
    pub router: axum::Router,
    /// The bootstrapped tenant.
    pub t: TenantCreds,
    kek: Arc<Kek>,
}

/// A response with its parsed JSON (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

fn fast_config() -> CoreConfig {
    let mut c = CoreConfig::new(BASE);
    // Small Argon2 parameters keep tests fast; production defaults are tested in the crypto crate.
    c.password_params = ostiary_crypto::password::PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 };
    c.cache_check_interval = std::time::Duration::from_millis(0);
    c
}

impl TestServer {
    /// A server on a fresh store: in-memory SQLite, or a new PostgreSQL database when
    /// `OSTIARY_TEST_DATABASE_URL` is set (so every HTTP-level suite runs on both backends).
    pub async fn new() -> TestServer {
        Self::with_store(fresh_store().await).await
    }

    /// A fresh store: PostgreSQL when `OSTIARY_TEST_DATABASE_URL` is set (a new database per call),
    /// else in-memory SQLite. Returns the backend name too.
    pub async fn new_any_backend() -> TestServer {
        Self::with_store(fresh_store().await).await
    }

    pub async fn with_store(store: Arc<dyn Store>) -> TestServer {
        store.migrate().await.unwrap();
        let kek = Arc::new(Kek::generate(&SystemRandom::new()));
        Self::with_store_and_kek(store, kek, Arc::new(ManualClock::new()), None).await
    }

    /// Builds a server over an existing store (a "restart"); bootstraps only when `t` is None.
    pub async fn with_store_and_kek(
        store: Arc<dyn Store>,
        kek: Arc<Kek>,
        clock: Arc<ManualClock>,
        t: Option<TenantCreds>,
    ) -> TestServer {
        let kek_copy = Kek::from_bytes(kek.to_bytes().expose()).unwrap();
        let core = Core::new(store, clock.clone(), Arc::new(SystemRandom::new()), kek_copy, fast_config());
        // The manual clock never refills Graph rate-limit buckets: suites that make thousands
        // of calls would be throttled. Throttling tests set their own limit.
        core.graph_throttle.set_limit(ostiary_core::throttle::RateLimit { burst: u32::MAX, per_second: 1.0 });
        let t = match t {
            Some(t) => t,
            None => {
                let creds = core
                    .create_tenant(NewTenant {
                        display_name: "Contoso".into(),
                        domain: Some(format!(
                            "contoso-{}.ostiary.test",
                            &uuid::Uuid::new_v4().simple().to_string()[..8]
                        )),
                    })
                    .await
                    .unwrap();
                TenantCreds::from(&creds)
            }
        };
        let router = ostiary_web::router(ostiary_web::AppState { core: core.clone() });
        TestServer { core, clock, router, t, kek }
    }

    /// A second server instance over the same store and KEK, as after a restart.
    pub fn restart(&self) -> impl std::future::Future<Output = TestServer> + '_ {
        let store = self.core.store.clone();
        Self::with_store_and_kek(store, self.kek.clone(), self.clock.clone(), Some(self.t.clone()))
    }

    pub async fn create_tenant(&self, name: &str) -> TenantCreds {
        let domain =
            format!("{}-{}.ostiary.test", name.to_lowercase(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        TenantCreds::from(
            &self.core.create_tenant(NewTenant { display_name: name.into(), domain: Some(domain) }).await.unwrap(),
        )
    }

    pub async fn request(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, text, json }
    }

    /// POST a form to `path` with extra headers.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut b = Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.request(b.body(Body::from(body)).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Request::get(path).body(Body::empty()).unwrap()).await
    }

    /// A client-credentials token for `scope` with a client secret, in tenant segment `tenant`.
    pub async fn token_for(&self, tenant: &str, client_id: &str, secret: &str, scope: &str) -> Resp {
        self.post_form(
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", scope),
            ],
            &[],
        )
        .await
    }

    /// A Graph token of the bootstrap admin application.
    pub async fn admin_token(&self) -> String {
        self.graph_token(&self.t.clone()).await
    }

    pub async fn graph_token(&self, t: &TenantCreds) -> String {
        let r = self.token_for(&t.tenant_id, &t.client_id, &t.client_secret, GRAPH_SCOPE).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json["access_token"].as_str().unwrap().to_string()
    }

    /// A Graph call with a bearer token; `body` is sent as JSON when present.
    pub async fn graph(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.graph_with(method, path, token, body, &[]).await
    }

    pub async fn graph_with(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/v1.0{path}"))
            .header("authorization", format!("Bearer {token}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.request(req).await
    }
}

/// Decodes a JWT's payload without verifying it (tests verify separately).
pub fn jwt_claims(token: &str) -> Value {
    let jwt = ostiary_crypto::jws::decode_unverified(token).unwrap();
    Value::Object(jwt.claims.clone())
}

pub fn jwt_header(token: &str) -> Value {
    let jwt = ostiary_crypto::jws::decode_unverified(token).unwrap();
    Value::Object(jwt.header.clone())
}

/// Verifies `token` against a JWKS document the way a resource server would.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<(), String> {
    let jwt = ostiary_crypto::jws::decode_unverified(token).map_err(|e| e.to_string())?;
    let kid = jwt.kid().ok_or("no kid")?;
    let key = jwks["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let pk = ostiary_crypto::jws::PublicKey::from_jwk(key).map_err(|e| e.to_string())?;
    jwt.verify_with(&pk).map_err(|e| e.to_string())
}

/// A fresh store for a test: a new PostgreSQL database if configured, else in-memory SQLite.
pub async fn fresh_store() -> Arc<dyn Store> {
    match std::env::var("OSTIARY_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            Arc::new(ostiary_store_postgres::PostgresStore::connect(&fresh_pg_database(&url).await).await.unwrap())
        }
        _ => Arc::new(ostiary_store_sqlite::SqliteStore::open_in_memory().await.unwrap()),
    }
}

/// Creates database `ostiary_kit_<pid>_<random>` through the admin URL and returns its URL.
///
/// A test server cannot drop its database when it ends (no async drop), so the first call
/// in each test process drops the databases that processes which have exited left behind:
/// at most one test binary's databases exist at a time, which keeps a whole PostgreSQL run
/// within a small disk.
pub async fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Connection;
    static REAPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let pid = std::process::id();
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    REAPED.get_or_init(|| reap_dead_process_databases(admin_url, pid)).await;
    let name = format!("ostiary_kit_{pid}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
    replace_db(admin_url, &name)
}

/// Drops `ostiary_kit_*` databases whose creating process is gone (best effort).
async fn reap_dead_process_databases(admin_url: &str, own_pid: u32) {
    use sqlx::Connection;
    let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await else { return };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ostiary\\_kit\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in names {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let owner = name
            .strip_prefix("ostiary_kit_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        let alive = match owner {
            Some(p) => p == own_pid || std::path::Path::new(&format!("/proc/{p}")).exists(),
            None => false,
        };
        if !alive {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await;
        }
    }
    let _ = conn.close().await;
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > base.find("://").map(|p| p + 2).unwrap_or(0) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}
