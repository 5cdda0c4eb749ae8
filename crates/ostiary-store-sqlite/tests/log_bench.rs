//! Micro-benchmark of sign-in log appends on a file-backed SQLite store (not a timed
//! assertion): `cargo test --release -p ostiary-store-sqlite --test log_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{Tenant, TenantId};
use ostiary_store::{ChangeSet, LogKind, LogQuery, NewLogRecord, StatusMatch, Store};
use ostiary_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

const BATCH: usize = 500;
const BATCHES: usize = 200;
const WARMUP_BATCHES: usize = 10;
const NOW: OffsetDateTime = time::macros::datetime!(2024-06-01 12:00:00 UTC);

/// A database path in the temp directory, removed (with its WAL files) on drop.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A sign-in shaped like Graph's `signIn` resource (about 1.3 KB of JSON).
fn sign_in(tenant: TenantId, i: usize) -> NewLogRecord {
    let id = uuid::Uuid::new_v4();
    let user = format!("user{:04}@contoso.example", i % 1000);
    let user_id = uuid::Uuid::from_u128(i as u128 % 1000).to_string();
    let app_id = "0b5a8e0e-43c5-4b43-9a0e-6a3b1a0f2d11".to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let time = NOW + Duration::milliseconds(i as i64);
    let status = if i.is_multiple_of(10) { 50126 } else { 0 };
    let doc = serde_json::json!({
        "id": id,
        "createdDateTime": "2024-06-01T12:00:00Z",
        "userDisplayName": format!("User {}", i % 1000),
        "userPrincipalName": user,
        "userId": user_id,
        "appId": app_id,
        "appDisplayName": "Orders Portal",
        "ipAddress": "203.0.113.42",
        "clientAppUsed": "Browser",
        "correlationId": correlation,
        "conditionalAccessStatus": "notApplied",
        "isInteractive": true,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes_v2": [],
        "resourceDisplayName": "Microsoft Graph",
        "resourceId": "00000003-0000-0000-c000-000000000000",
        "status": { "errorCode": status, "failureReason": if status == 0 { "Other." } else { "Invalid username or password." }, "additionalDetails": null },
        "deviceDetail": { "deviceId": "", "displayName": "", "operatingSystem": "Linux", "browser": "Chrome 125.0.0", "isCompliant": false, "isManaged": false, "trustType": "" },
        "location": { "city": "Redmond", "state": "Washington", "countryOrRegion": "US", "geoCoordinates": { "altitude": null, "latitude": 47.68, "longitude": -122.12 } },
        "appliedConditionalAccessPolicies": [],
        "authenticationMethodsUsed": ["Password"],
        "authenticationRequirement": "singleFactorAuthentication",
        "signInEventTypes": ["interactiveUser"],
    });
    NewLogRecord {
        tenant,
        kind: LogKind::SignIn,
        id,
        time,
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

async fn bench(store: SqliteStore) {
    store.migrate().await.unwrap();
    let id = uuid::Uuid::new_v4();
    let tenant = Tenant {
        id: TenantId::from_uuid(id),
        display_name: "Bench".into(),
        initial_domain: format!("b{}.ostiary.test", id.simple()),
        created_date_time: NOW,
    };
    store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
    let batches: Vec<Vec<NewLogRecord>> = (0..WARMUP_BATCHES + BATCHES)
        .map(|b| (0..BATCH).map(|i| sign_in(tenant.id, b * BATCH + i)).collect())
        .collect();
    let doc_bytes = serde_json::to_string(&batches[0][0].doc).unwrap().len();

    for batch in &batches[..WARMUP_BATCHES] {
        store.append_logs(batch).await.unwrap();
    }
    let start = Instant::now();
    for batch in &batches[WARMUP_BATCHES..] {
        store.append_logs(batch).await.unwrap();
    }
    let elapsed = start.elapsed();
    let records = BATCH * BATCHES;
    println!(
        "sqlite (file, WAL, synchronous=NORMAL): {records} sign-ins (~{doc_bytes} B documents) in {BATCHES} batches \
         of {BATCH}: {:.3} s = {:.0} records/s ({:.2} ms per batch)",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / BATCHES as f64
    );
    let total = (WARMUP_BATCHES + BATCHES) * BATCH;
    assert_eq!(store.last_log_seq().await.unwrap(), total as i64, "every record got its seq");

    // Reads over the filled table (one tenant, all records).
    let start = Instant::now();
    let mut found = 0;
    for i in 0..100 {
        let q = LogQuery {
            principal_name: Some(format!("USER{:04}@contoso.example", i * 7 % 1000)),
            status: Some(StatusMatch::Ne(0)),
            limit: 50,
            ..LogQuery::new(LogKind::SignIn)
        };
        found += store.query_logs(tenant.id, &q).await.unwrap().len();
    }
    let by_user = start.elapsed();
    let start = Instant::now();
    let mut before = None;
    let mut paged = 0;
    for _ in 0..100 {
        let q = LogQuery { before_seq: before, limit: 100, ..LogQuery::new(LogKind::SignIn) };
        let page = store.query_logs(tenant.id, &q).await.unwrap();
        before = page.last().map(|r| r.seq);
        paged += page.len();
    }
    let newest = start.elapsed();
    let start = Instant::now();
    let mut cursor = 0;
    let mut exported = 0;
    loop {
        let page = store.logs_after(cursor, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        exported += page.len();
    }
    let feed = start.elapsed();
    println!(
        "sqlite reads over {total} records: 100 queries by principal name + status ({found} rows) in {:.1} ms; \
         100 pages of 100 newest first ({paged} rows) in {:.1} ms; logs_after feed of {exported} rows in {:.3} s",
        by_user.as_secs_f64() * 1e3,
        newest.as_secs_f64() * 1e3,
        feed.as_secs_f64()
    );
    assert_eq!(exported, total);

    let start = Instant::now();
    let mut purged = 0;
    loop {
        let n = store.purge_logs(LogKind::SignIn, NOW + Duration::days(1), 5_000).await.unwrap();
        if n == 0 {
            break;
        }
        purged += n;
    }
    println!("sqlite purge of {purged} records in batches of 5000: {:.3} s", start.elapsed().as_secs_f64());
    assert_eq!(purged, total as u64);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "micro-benchmark: run with --release --ignored --nocapture"]
async fn sign_in_append_throughput() {
    let db = TempDb(std::env::temp_dir().join(format!("ostiary-log-bench-{}.db", uuid::Uuid::new_v4().simple())));
    bench(SqliteStore::open(&db.0).await.unwrap()).await;
}
