//! Micro-benchmark of sign-in log appends on PostgreSQL (not a timed assertion), in a fresh
//! database on the server of `OSTIARY_TEST_DATABASE_URL`:
//! `cargo test --release -p ostiary-store-postgres --test log_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{Tenant, TenantId};
use ostiary_store::{ChangeSet, LogKind, NewLogRecord, Store};
use ostiary_store_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::Instant;
use time::{Duration, OffsetDateTime};

const BATCH: usize = 500;
const BATCHES: usize = 100;
const WARMUP_BATCHES: usize = 10;
const APPENDERS: usize = 4;
const NOW: OffsetDateTime = time::macros::datetime!(2024-06-01 12:00:00 UTC);

#[allow(clippy::disallowed_methods)] // tests read their configuration from the environment
fn admin_url() -> Option<String> {
    std::env::var("OSTIARY_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// `url` with its database path replaced by `db`, keeping credentials and parameters.
fn url_for_database(url: &str, db: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let params = params.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{db}{params}", &base[..path])
}

async fn admin_exec(admin: &str, sql: String) {
    let mut conn = PgConnection::connect(admin).await.expect("connect as admin");
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.expect("admin statement");
    conn.close().await.expect("close admin connection");
}

/// A sign-in shaped like Graph's `signIn` resource (about 1 KB of JSON).
fn sign_in(tenant: TenantId, i: usize) -> NewLogRecord {
    let id = uuid::Uuid::new_v4();
    let user = format!("user{:04}@contoso.example", i % 1000);
    let user_id = uuid::Uuid::from_u128(i as u128 % 1000).to_string();
    let app_id = "0b5a8e0e-43c5-4b43-9a0e-6a3b1a0f2d11".to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let status = if i.is_multiple_of(10) { 50126 } else { 0 };
    let doc = serde_json::json!({
        "id": id, "createdDateTime": "2024-06-01T12:00:00Z", "userDisplayName": format!("User {}", i % 1000),
        "userPrincipalName": user, "userId": user_id, "appId": app_id, "appDisplayName": "Orders Portal",
        "ipAddress": "203.0.113.42", "clientAppUsed": "Browser", "correlationId": correlation,
        "conditionalAccessStatus": "notApplied", "isInteractive": true, "riskDetail": "none",
        "resourceDisplayName": "Microsoft Graph", "resourceId": "00000003-0000-0000-c000-000000000000",
        "status": { "errorCode": status, "failureReason": "Other.", "additionalDetails": null },
        "deviceDetail": { "operatingSystem": "Linux", "browser": "Chrome 125.0.0", "isCompliant": false },
        "location": { "city": "Redmond", "state": "Washington", "countryOrRegion": "US" },
        "authenticationRequirement": "singleFactorAuthentication", "signInEventTypes": ["interactiveUser"],
    });
    NewLogRecord {
        tenant,
        kind: LogKind::SignIn,
        id,
        time: NOW + Duration::milliseconds(i as i64),
        principal_id: Some(user_id),
        principal_name: Some(user),
        app_id: Some(app_id),
        correlation_id: Some(correlation),
        status,
        category: "interactive".into(),
        activity: String::new(),
        doc,
    }
}

async fn bench(store: PostgresStore) {
    store.migrate().await.unwrap();
    let id = uuid::Uuid::new_v4();
    let tenant = Tenant {
        id: TenantId::from_uuid(id),
        display_name: "Bench".into(),
        initial_domain: format!("b{}.ostiary.test", id.simple()),
        created_date_time: NOW,
    };
    store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
    let t = tenant.id;
    let batches: Vec<Vec<NewLogRecord>> =
        (0..WARMUP_BATCHES + BATCHES).map(|b| (0..BATCH).map(|i| sign_in(t, b * BATCH + i)).collect()).collect();
    for batch in &batches[..WARMUP_BATCHES] {
        store.append_logs(batch).await.unwrap();
    }

    // Sequential: one appender.
    let start = Instant::now();
    for batch in &batches[WARMUP_BATCHES..] {
        store.append_logs(batch).await.unwrap();
    }
    let elapsed = start.elapsed();
    let records = BATCH * BATCHES;
    println!(
        "postgres: {records} sign-ins in {BATCHES} sequential batches of {BATCH}: {:.3} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );

    // Concurrent: appenders serialise on the sequence counter until they commit.
    let start = Instant::now();
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|a| {
            let store = store.clone();
            let mine: Vec<Vec<NewLogRecord>> =
                batches[WARMUP_BATCHES..].iter().skip(a).step_by(APPENDERS).cloned().collect();
            tokio::spawn(async move {
                for batch in &mine {
                    store.append_logs(batch).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "postgres: {records} sign-ins in batches of {BATCH} by {APPENDERS} concurrent appenders: {:.3} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );
    let total = (WARMUP_BATCHES + 2 * BATCHES) * BATCH;
    assert_eq!(store.last_log_seq().await.unwrap(), total as i64, "every record got its seq");
    let mut cursor = 0;
    let mut exported = 0;
    loop {
        let page = store.logs_after(cursor, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        assert_eq!(last.seq, cursor + page.len() as i64, "no gaps without rollbacks");
        cursor = last.seq;
        exported += page.len();
    }
    assert_eq!(exported, total);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "micro-benchmark: run with --release --ignored --nocapture and OSTIARY_TEST_DATABASE_URL"]
async fn sign_in_append_throughput() {
    let Some(admin) = admin_url() else {
        eprintln!("skipping PostgreSQL benchmark: OSTIARY_TEST_DATABASE_URL is not set");
        return;
    };
    // The name comes from a UUID, never from input.
    let name = format!("ostiary_b_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&admin, format!("CREATE DATABASE {name}")).await;
    let url = url_for_database(&admin, &name);
    let result = tokio::spawn(async move { bench(PostgresStore::connect(&url).await.unwrap()).await }).await;
    admin_exec(&admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
