//! Shared fixtures of the integration tests: a SQLite store on a temp file, tenants, log
//! records, temp directories and a fixed clock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ostiary_export::Now;
use ostiary_model::{Tenant, TenantId};
use ostiary_store::{ChangeSet, LogKind, NewLogRecord, Store};
use ostiary_store_sqlite::SqliteStore;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// Records are timestamped from here on, one second apart.
pub const T0: OffsetDateTime = datetime!(2024-06-01 12:00:00 UTC);
/// The fixed "now" of the exporters under test: one hour after `T0`.
pub const NOW: OffsetDateTime = datetime!(2024-06-01 13:00:00 UTC);

pub fn now() -> Now {
    Arc::new(|| NOW)
}

/// A directory in the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A migrated SQLite store in `dir`.
pub async fn store(dir: &TempDir) -> Arc<dyn Store> {
    let s = SqliteStore::open(&dir.path().join("ostiary.db")).await.unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

pub async fn tenant(store: &dyn Store) -> TenantId {
    let id = Uuid::new_v4();
    let t = Tenant {
        id: TenantId::from_uuid(id),
        display_name: format!("Export {id}"),
        initial_domain: format!("e{}.ostiary.test", id.simple()),
        created_date_time: T0,
    };
    store.create_tenant(&t, &ChangeSet::new(), &[]).await.unwrap();
    t.id
}

/// Record number `i`: a sign-in (every 3rd an audit), every 5th a failure, with text that
/// exercises escaping and multi-byte UTF-8.
pub fn record(tenant: TenantId, i: i64) -> NewLogRecord {
    let kind = if i % 3 == 0 { LogKind::Audit } else { LogKind::SignIn };
    let id = Uuid::new_v4();
    let status = if i % 5 == 0 { 50126 } else { 0 };
    let time = T0 + time::Duration::seconds(i);
    let upn = format!("zoë.{i}@contoso.test");
    let doc = match kind {
        LogKind::SignIn => serde_json::json!({
            "id": id.to_string(),
            "createdDateTime": time.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "userPrincipalName": upn,
            "userDisplayName": format!("Zoë \"Z\" [{i}] \\ 日本"),
            "appDisplayName": "Test app",
            "status": {"errorCode": status, "failureReason": if status == 0 { "" } else { "Invalid password" }},
            "n": i,
        }),
        LogKind::Audit | LogKind::Provisioning => serde_json::json!({
            "id": id.to_string(),
            "activityDateTime": time.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "activityDisplayName": "Add user",
            "category": "UserManagement",
            "result": if status == 0 { "success" } else { "failure" },
            "n": i,
        }),
    };
    NewLogRecord {
        tenant,
        kind,
        id,
        time,
        principal_id: Some(Uuid::new_v4().to_string()),
        principal_name: Some(upn),
        app_id: Some(Uuid::new_v4().to_string()),
        correlation_id: Some(format!("corr-{i}\"]\\")),
        status,
        category: if kind == LogKind::SignIn { "interactive".into() } else { "UserManagement".into() },
        activity: if kind == LogKind::SignIn { String::new() } else { "Add user".into() },
        doc,
    }
}

/// Appends records `from..to` of `tenant`.
pub async fn append(store: &dyn Store, tenant: TenantId, from: i64, to: i64) {
    let recs: Vec<NewLogRecord> = (from..to).map(|i| record(tenant, i)).collect();
    store.append_logs(&recs).await.unwrap();
}

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Options that keep the tests fast: short polls and backoff.
pub fn fast_options() -> ostiary_export::ExportOptions {
    ostiary_export::ExportOptions {
        poll_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        jitter_seed: 7,
    }
}

/// A dev CA and a server certificate for 127.0.0.1 / localhost, written to `dir`:
/// returns (ca.pem, server.pem, server.key).
pub fn write_certs(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let not_before = datetime!(2020-01-01 00:00:00 UTC);
    let not_after = datetime!(2099-01-01 00:00:00 UTC);
    let ca = ostiary_crypto::tls::generate_dev_ca("Ostiary export test CA", not_before, not_after).unwrap();
    let (cert, key) = ostiary_crypto::tls::issue_server_cert(
        &ca,
        &["localhost".to_string()],
        &["127.0.0.1".parse().unwrap()],
        not_before,
        not_after,
    )
    .unwrap();
    let ca_path = dir.path().join("ca.pem");
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key.expose()).unwrap();
    (ca_path, cert_path, key_path)
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub mod receiver;
