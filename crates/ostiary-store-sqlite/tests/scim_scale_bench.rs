//! Scale benchmark of SCIM-shaped queries (not a timed assertion): loads 1,000,000 users into
//! a file-backed SQLite store, reports the load rate, then the plan and p50/p99 latency of each
//! query of `tests/scim_plans.rs`, with the default listing paged at startIndex 900,000:
//! `cargo test --release -p ostiary-store-sqlite --test scim_scale_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{ObjectKind, Tenant, TenantId};
use ostiary_store::{ChangeSet, Store, scale};
use ostiary_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USERS: usize = 1_000_000;
const BATCH: usize = 1_000;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale benchmark: run with --release --ignored --nocapture"]
async fn scim_queries_at_one_million_users() {
    let db = TempDb(std::env::temp_dir().join(format!("ostiary-scim-bench-{}.db", uuid::Uuid::new_v4().simple())));
    let store = SqliteStore::open(&db.0).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = Tenant {
        id: TenantId::from_uuid(uuid::Uuid::new_v4()),
        display_name: "Scale".into(),
        initial_domain: "scale.example".into(),
        created_date_time: scale::BASE,
    };
    store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();

    let started = Instant::now();
    let users = scale::load(&store, tenant.id, USERS, BATCH).await;
    let secs = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&db.0).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(format!("{}-wal", db.0.display())).map(|m| m.len()).unwrap_or(0);
    println!(
        "sqlite: loaded {USERS} users in {secs:.1} s ({:.0} users/s, commits of {BATCH}); database {:.0} MiB",
        USERS as f64 / secs,
        size as f64 / 1048576.0
    );

    // Planner statistics as a fresh database has them: the seed of migration 0004.
    for q in scale::queries(&users, 900_000) {
        let plan = store.explain_list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
        let times = scale::time_query(&store, tenant.id, &q, 200, Duration::from_secs(10)).await;
        println!("sqlite: {:<40} {}\n{plan}", q.name, scale::summary(&times));
    }
    store.close().await;
}
