//! Scale benchmark of SCIM-shaped queries on PostgreSQL (not a timed assertion), in a fresh
//! database on the server of `OSTIARY_TEST_DATABASE_URL`: loads 1,000,000 users, reports the
//! load rate, then (after `VACUUM ANALYZE`, as autovacuum would do) the plan and p50/p99
//! latency of each query of `tests/scim_plans.rs`, with the default listing paged at
//! startIndex 900,000:
//! `cargo test --release -p ostiary-store-postgres --test scim_scale_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{ObjectKind, Tenant, TenantId};
use ostiary_store::{ChangeSet, Store, scale};
use ostiary_store_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use std::time::{Duration, Instant};

const USERS: usize = 1_000_000;
const BATCH: usize = 1_000;

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

async fn bench(url: String) {
    let store = PostgresStore::connect(&url).await.unwrap();
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
    // Let the WAL writer flush the (asynchronous) commits so VACUUM can mark pages all-visible.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let vacuum = Instant::now();
    store.analyze().await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let size: i64 = sqlx::query("SELECT pg_total_relation_size('directory_objects')")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    conn.close().await.unwrap();
    println!(
        "postgres: loaded {USERS} users in {secs:.1} s ({:.0} users/s, commits of {BATCH}); VACUUM ANALYZE {:.1} s; \
         directory_objects with indexes {:.0} MiB",
        USERS as f64 / secs,
        vacuum.elapsed().as_secs_f64(),
        size as f64 / 1048576.0
    );

    for q in scale::queries(&users, 900_000) {
        let plan = store.explain_list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
        let times = scale::time_query(&store, tenant.id, &q, 200, Duration::from_secs(10)).await;
        println!("postgres: {:<40} {}\n{plan}", q.name, scale::summary(&times));
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale benchmark: run with --release --ignored --nocapture and OSTIARY_TEST_DATABASE_URL"]
async fn scim_queries_at_one_million_users() {
    let Some(admin) = admin_url() else {
        eprintln!("skipping PostgreSQL benchmark: OSTIARY_TEST_DATABASE_URL is not set");
        return;
    };
    // The name comes from a UUID, never from input.
    let name = format!("ostiary_t_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&admin, format!("CREATE DATABASE {name}")).await;
    let url = url_for_database(&admin, &name);
    let result = tokio::spawn(bench(url)).await;
    admin_exec(&admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
