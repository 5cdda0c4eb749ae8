//! SCIM-shaped list queries over 20,000 users stay on indexes: for each query the plan of
//! exactly the SQL `list_objects` runs (`explain_list_objects`) must have no sequential scan
//! of `directory_objects`, must use the index meant for it, and (where the index can deliver
//! the order) must not sort; and the results must be right. Runs when
//! `OSTIARY_TEST_DATABASE_URL` is set, in a fresh database that is dropped afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{ObjectKind, Tenant, TenantId};
use ostiary_store::{ChangeSet, Store, scale};
use ostiary_store_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::future::Future;
use std::time::Instant;

const USERS: usize = 20_000;

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

/// Runs `test` with the URL of a fresh database, then drops the database (also on failure).
async fn with_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin) = admin_url() else {
        eprintln!("skipping PostgreSQL test: OSTIARY_TEST_DATABASE_URL is not set");
        return;
    };
    // The name comes from a UUID, never from input.
    let name = format!("ostiary_t_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&admin, format!("CREATE DATABASE {name}")).await;
    let result = tokio::spawn(test(url_for_database(&admin, &name))).await;
    admin_exec(&admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Panics unless the plan reads `directory_objects` only through indexes.
pub fn assert_indexed(name: &str, plan: &str, indexes: &[&str], index_ordered: bool) {
    assert!(!plan.contains("Seq Scan on directory_objects"), "{name}: sequential scan:\n{plan}");
    assert!(indexes.iter().any(|i| plan.contains(i)), "{name}: none of {indexes:?} used:\n{plan}");
    if index_ordered {
        assert!(!plan.contains("Sort"), "{name}: the index should deliver the order:\n{plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_queries_stay_on_indexes() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let tenant = Tenant {
            id: TenantId::from_uuid(uuid::Uuid::new_v4()),
            display_name: "Scale".into(),
            initial_domain: "scale.example".into(),
            created_date_time: scale::BASE,
        };
        store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
        // A second tenant, so that the tenant condition is selective too.
        let other = Tenant {
            id: TenantId::from_uuid(uuid::Uuid::new_v4()),
            initial_domain: "other.example".into(),
            ..tenant.clone()
        };
        store.create_tenant(&other, &ChangeSet::new(), &[]).await.unwrap();

        let started = Instant::now();
        let users = scale::load(&store, tenant.id, USERS, 1_000).await;
        scale::load(&store, other.id, 1_000, 1_000).await;
        // VACUUM marks a page all-visible (what index-only scans need) only once the inserts'
        // commit hint bits are set, which waits for their WAL to be flushed: the throwaway test
        // cluster commits asynchronously (the WAL writer flushes within 200 ms).
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        store.analyze().await.unwrap();
        eprintln!("loaded {USERS} users in {:?}", started.elapsed());

        for q in scale::queries(&users, 1_000) {
            let plan = store.explain_list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
            eprintln!("{}:\n{plan}", q.name);
            assert_indexed(q.name, &plan, q.indexes, q.index_ordered);
            // Often enough that the pooled connections' prepared statements switch to generic
            // plans (after five executions), which must be right too.
            for _ in 0..8 {
                let page = store.list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
                q.check(&page);
            }
        }
        store.close().await;
    })
    .await;
}
