//! SCIM-shaped list queries over 20,000 users stay on indexes: for each query the plan of
//! exactly the SQL `list_objects` runs (`explain_list_objects`) must not scan
//! `directory_objects` without an index, must use the index meant for it, and (where the
//! index can deliver the order) must not sort; and the results must be right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_model::{ObjectKind, Tenant, TenantId};
use ostiary_store::{ChangeSet, Store, scale};
use ostiary_store_sqlite::SqliteStore;
use std::time::Instant;

const USERS: usize = 20_000;

/// Panics unless the plan reads `directory_objects` (alias `o`) only through indexes.
pub fn assert_indexed(name: &str, plan: &str, indexes: &[&str], index_ordered: bool) {
    for line in plan.lines() {
        let l = line.trim_start();
        assert!(!l.starts_with("SCAN o") || l.contains("INDEX"), "{name}: full scan of directory_objects:\n{plan}");
    }
    assert!(indexes.iter().any(|i| plan.contains(i)), "{name}: none of {indexes:?} used:\n{plan}");
    if index_ordered {
        assert!(!plan.contains("TEMP B-TREE"), "{name}: the index should deliver the order:\n{plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_queries_stay_on_indexes() {
    let store = SqliteStore::open_in_memory().await.unwrap();
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
    eprintln!("loaded {USERS} users in {:?}", started.elapsed());

    // Without statistics (as a fresh database is), and after ANALYZE.
    for analyzed in [false, true] {
        if analyzed {
            store.analyze().await.unwrap();
        }
        for q in scale::queries(&users, 1_000) {
            let plan = store.explain_list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
            eprintln!("{} (analyzed: {analyzed}):\n{plan}", q.name);
            assert_indexed(q.name, &plan, q.indexes, q.index_ordered);
            let page = store.list_objects(tenant.id, ObjectKind::User, &q.query).await.unwrap();
            q.check(&page);
        }
    }
}
