//! Micro-benchmark of refresh-token rotation on a file-backed SQLite store (not a timed
//! assertion): `cargo test --release -p ostiary-store-sqlite --test kv_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{ObjectId, Tenant, TenantId};
use ostiary_store::{ChangeSet, KvEntry, KvOp, Store};
use ostiary_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

const ROTATIONS: usize = 5_000;
const WARMUP: usize = 200;
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

/// A refresh-token entry shaped like the core's (key = hash of the token).
fn token(family: &str, i: usize, user: ObjectId) -> KvEntry {
    KvEntry {
        kind: "refresh".into(),
        key: format!("{family}-{i:08}-Yt4S0c0mQp3n2vXJ7kq9b1ZrLw8uHfEeDgA6CsMiRoN"),
        doc: serde_json::json!({
            "clientId": "0b5a8e0e-43c5-4b43-9a0e-6a3b1a0f2d11",
            "scopes": ["openid", "profile", "offline_access", "api://orders/Orders.Read"],
            "authTime": 1_717_243_200,
            "amr": ["pwd"],
            "sid": "8c1f6e2a-7d4b-4a7e-9f21-3f1c2b9d0e55",
            "generation": i,
            "used": false,
        }),
        version: 1,
        expires_at: Some(NOW + Duration::days(90)),
        user_id: Some(user),
        family_id: Some(family.into()),
    }
}

/// Marks token `i` used (compare-and-swap) and inserts token `i + 1`, in one batch.
async fn rotate(store: &dyn Store, tenant: TenantId, family: &str, i: usize, user: ObjectId) {
    let mut used = token(family, i, user);
    used.doc["used"] = true.into();
    let ops = [KvOp::Update(used), KvOp::Insert(token(family, i + 1, user))];
    store.kv_apply(tenant, &ops, false, NOW).await.expect("rotation");
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
    let user = ObjectId::from_uuid(uuid::Uuid::new_v4());
    let t = tenant.id;

    // Sequential: one client rotating as fast as it can.
    store.kv_apply(t, &[KvOp::Insert(token("seq", 0, user))], false, NOW).await.unwrap();
    for i in 0..WARMUP {
        rotate(&store, t, "seq", i, user).await;
    }
    let start = Instant::now();
    for i in WARMUP..WARMUP + ROTATIONS {
        rotate(&store, t, "seq", i, user).await;
    }
    let elapsed = start.elapsed();
    let last = store.kv_get(t, "refresh", &token("seq", WARMUP + ROTATIONS, user).key, NOW).await.unwrap();
    assert!(last.is_some(), "the last token exists");
    println!(
        "sqlite (file, WAL, synchronous=NORMAL): {ROTATIONS} sequential rotations in {:.3} s = {:.0} rotations/s ({:.1} µs each)",
        elapsed.as_secs_f64(),
        ROTATIONS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / ROTATIONS as f64
    );

    // Concurrent: 8 clients, each its own family (SQLite serialises the writers).
    const CLIENTS: usize = 8;
    for c in 0..CLIENTS {
        store.kv_apply(t, &[KvOp::Insert(token(&format!("par{c}"), 0, user))], false, NOW).await.unwrap();
    }
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                let family = format!("par{c}");
                for i in 0..ROTATIONS / CLIENTS {
                    rotate(&store, t, &family, i, user).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "sqlite (file): {ROTATIONS} rotations by {CLIENTS} concurrent clients in {:.3} s = {:.0} rotations/s",
        elapsed.as_secs_f64(),
        ROTATIONS as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "micro-benchmark: run with --release --ignored --nocapture"]
async fn refresh_rotation_throughput() {
    let db = TempDb(std::env::temp_dir().join(format!("ostiary-bench-{}.db", uuid::Uuid::new_v4().simple())));
    bench(SqliteStore::open(&db.0).await.unwrap()).await;
}
