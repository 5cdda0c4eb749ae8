//! Runs the store conformance suite and the migration checks against PostgreSQL when
//! `OSTIARY_TEST_DATABASE_URL` (an account allowed to create databases) is set; each test
//! works in its own fresh database `ostiary_t_<random>` and drops it afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_store::{Change, ChangeSet, SchemaState, Store, StoreError};
use ostiary_store_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::future::Future;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Empty, "connect does not migrate");
        store.migrate().await.unwrap();
        ostiary_store::conformance::run_all(&store).await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn schema_states_and_newer_database() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Empty);
        assert_eq!(store.migrate().await.unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Current(4));
        assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());

        // Another binary migrated further: pretend with a fake row.
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO ostiary_schema_migrations (version, applied_at) VALUES (5, 'x')")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 5, binary: 4 });
        assert_eq!(store.migrate().await, Err(StoreError::SchemaMismatch { db: 5, binary: 4 }));
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 5, binary: 4 });
        store.close().await;
    })
    .await;
}

/// Creates the schema exactly as the binary of schema version `version` left it.
async fn database_at_version(url: &str, version: i64) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let files = [include_str!("../migrations/0001_initial.sql"), include_str!("../migrations/0002_kv.sql")];
    sqlx::raw_sql(
        "CREATE TABLE ostiary_schema_migrations (version bigint NOT NULL PRIMARY KEY, applied_at text NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (v, sql) in (1..=version).zip(files) {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO ostiary_schema_migrations (version, applied_at) VALUES ($1, '2024-01-01T00:00:00Z')")
            .bind(v)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

fn log_record(tenant: ostiary_model::TenantId) -> ostiary_store::NewLogRecord {
    ostiary_store::NewLogRecord {
        tenant,
        kind: ostiary_store::LogKind::Audit,
        id: uuid::Uuid::new_v4(),
        time: time::OffsetDateTime::UNIX_EPOCH,
        principal_id: None,
        principal_name: Some("Admin@Old.Ostiary.Test".into()),
        app_id: None,
        correlation_id: None,
        status: 0,
        category: "UserManagement".into(),
        activity: "Update tenant".into(),
        doc: serde_json::json!({ "upgraded": true }),
    }
}

/// A database left at `version` (1 or 2) by an older binary: reported as older, refused by the
/// operations of later versions, upgraded in place, and its data keeps working with the new
/// tables.
async fn older_database_is_migrated(version: i64) {
    with_database(move |url| async move {
        database_at_version(&url, version).await;
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Older { db: version, binary: 4 });
        let tenant = ostiary_model::Tenant {
            id: ostiary_model::TenantId::from_uuid(uuid::Uuid::new_v4()),
            display_name: "Old".into(),
            initial_domain: "old.ostiary.test".into(),
            created_date_time: time::OffsetDateTime::UNIX_EPOCH,
        };
        store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let entry = ostiary_store::KvEntry {
            kind: "settings".into(),
            key: "tenant".into(),
            doc: serde_json::json!({ "upgraded": true }),
            version: 1,
            expires_at: None,
            user_id: None,
            family_id: None,
        };
        if version < 2 {
            assert!(store.kv_get(tenant.id, "k", "k", now).await.is_err(), "no kv table before migrating");
        } else {
            store.kv_apply(tenant.id, &[ostiary_store::KvOp::Insert(entry.clone())], false, now).await.unwrap();
        }
        assert!(store.last_log_seq().await.is_err(), "no log tables before migrating");
        assert!(store.append_logs(&[log_record(tenant.id)]).await.is_err());

        let expected: Vec<i64> = (version + 1..=4).collect();
        assert_eq!(store.migrate().await.unwrap(), expected);
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Current(4));
        assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
        assert_eq!(store.get_tenant(tenant.id).await.unwrap(), Some(tenant.clone()), "data survives");
        let ops = [
            ostiary_store::KvOp::Delete { kind: "settings".into(), key: "tenant".into() },
            ostiary_store::KvOp::Insert(entry.clone()),
            ostiary_store::KvOp::AppendLog(Box::new(log_record(tenant.id))),
        ];
        store.kv_apply(tenant.id, &ops, true, now).await.unwrap();
        assert_eq!(store.kv_get(tenant.id, "settings", "tenant", now).await.unwrap(), Some(entry));
        assert_eq!(store.last_log_seq().await.unwrap(), 1, "the log sequence starts at 1");
        let q = ostiary_store::LogQuery::new(ostiary_store::LogKind::Audit);
        let logs = store.query_logs(tenant.id, &q).await.unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].seq, 1);
        assert_eq!(logs[0].record.principal_name.as_deref(), Some("admin@old.ostiary.test"));
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn version_1_database_is_migrated() {
    older_database_is_migrated(1).await;
}

#[tokio::test]
async fn version_2_database_is_migrated() {
    older_database_is_migrated(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_apply_each_migration_once() {
    with_database(|url| async move {
        let stores: Vec<PostgresStore> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(PostgresStore::connect(&url).await.unwrap());
            }
            v
        };
        let tasks: Vec<_> = stores.iter().cloned().map(|s| tokio::spawn(async move { s.migrate().await })).collect();
        let mut applied = Vec::new();
        for t in tasks {
            applied.extend(t.await.unwrap().unwrap());
        }
        applied.sort_unstable();
        assert_eq!(applied, vec![1, 2, 3, 4], "each migration applied exactly once");
        assert_eq!(stores[0].schema_state().await.unwrap(), SchemaState::Current(4));
        for s in &stores {
            s.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_tenant() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let tenant = ostiary_model::Tenant {
            id: ostiary_model::TenantId::from_uuid(uuid::Uuid::new_v4()),
            display_name: "Race".into(),
            initial_domain: "race.ostiary.test".into(),
            created_date_time: time::OffsetDateTime::UNIX_EPOCH,
        };
        store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
        let v0 = store.tenant_version(tenant.id).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                let changes = ChangeSet::one(Change::CreateObject(race_user(i)));
                tokio::spawn(async move { store.commit(tenant.id, &changes).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict { key }) => assert_eq!(key, "upn"),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1, "exactly one writer wins the UPN");
        assert_eq!(store.tenant_version(tenant.id).await.unwrap(), v0 + 1);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn connection_errors_do_not_leak_the_url() {
    let err = PostgresStore::connect("postgres://user:s3cret@[bad/db").await.unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let Some(admin) = admin_url() else {
        return;
    };
    // Same server, a role that does not exist, a password that must not show up.
    let authority = admin.find("://").map_or(0, |i| i + 3);
    let host = admin[authority..].split('@').next_back().unwrap_or_default();
    let url = format!("postgres://no_such_role_x:s3cret@{host}");
    let err = PostgresStore::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

fn race_user(i: u32) -> ostiary_model::DirectoryObject {
    let doc = serde_json::json!({
        "id": uuid::Uuid::new_v4(),
        "accountEnabled": true,
        "displayName": format!("Racer {i}"),
        "userPrincipalName": "racer@race.ostiary.test",
        "mailNickname": "racer",
        "userType": "Member",
        "createdDateTime": "2024-01-01T00:00:00Z",
    });
    ostiary_model::DirectoryObject::from_doc(ostiary_model::ObjectKind::User, doc).unwrap()
}

#[tokio::test]
async fn nul_characters_are_rejected_cleanly() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let tenant = ostiary_model::Tenant {
            id: ostiary_model::TenantId::from_uuid(uuid::Uuid::new_v4()),
            display_name: "Nul".into(),
            initial_domain: "nul.ostiary.test".into(),
            created_date_time: time::OffsetDateTime::UNIX_EPOCH,
        };
        store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
        assert_eq!(store.find_tenant_by_domain("nul\0.ostiary.test").await.unwrap(), None);
        assert_eq!(store.find_by_unique_key(tenant.id, "upn", "a\0b").await.unwrap(), None);
        let by = ostiary_store::AssignmentsBy::Id("x\0".into());
        assert!(store.list_app_role_assignments(tenant.id, by).await.unwrap().is_empty());
        let expr = ostiary_odata::parse_filter("displayName eq 'a\0b'").unwrap();
        let filter = ostiary_store::filter::compile(&expr, Some(ostiary_model::ObjectKind::User)).unwrap();
        let q = ostiary_store::ListQuery { filter: Some(filter), ..Default::default() };
        let r = store.list_objects(tenant.id, ostiary_model::ObjectKind::User, &q).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{r:?}");
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let r = store.record_assertion_jti(tenant.id, "c", "j\0", now, now).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{r:?}");
        // An unknown tenant is NotFound, not a driver error.
        let unknown = ostiary_model::TenantId::from_uuid(uuid::Uuid::new_v4());
        let r = store.record_assertion_jti(unknown, "c", "j", now, now).await;
        assert!(matches!(r, Err(StoreError::NotFound { .. })), "{r:?}");
        store.close().await;
    })
    .await;
}

/// Stored timestamps with fractions (the model serialises sub-seconds when present) still
/// compare and sort in time order against whole-second literals.
async fn check_subsecond_timestamps(store: &dyn Store) {
    let tenant = ostiary_model::Tenant {
        id: ostiary_model::TenantId::from_uuid(uuid::Uuid::new_v4()),
        display_name: "Fractions".into(),
        initial_domain: format!("f{}.ostiary.test", uuid::Uuid::new_v4().simple()),
        created_date_time: time::OffsetDateTime::UNIX_EPOCH,
    };
    store.create_tenant(&tenant, &ChangeSet::new(), &[]).await.unwrap();
    let mut cs = ChangeSet::new();
    for (name, created) in [
        ("whole", "2024-01-01T00:00:00Z"),
        ("half", "2024-01-01T00:00:00.5Z"),
        ("offset", "2024-01-01T01:00:00.25+01:00"),
        ("later", "2024-01-01T00:00:01Z"),
    ] {
        let doc = serde_json::json!({
            "id": uuid::Uuid::new_v4(), "accountEnabled": true, "displayName": name,
            "userPrincipalName": format!("{name}@f.test"), "mailNickname": name,
            "userType": "Member", "createdDateTime": created,
        });
        let user = ostiary_model::DirectoryObject::from_doc(ostiary_model::ObjectKind::User, doc).unwrap();
        cs.push(Change::CreateObject(user));
    }
    store.commit(tenant.id, &cs).await.unwrap();
    let kind = ostiary_model::ObjectKind::User;
    let names = |src: &'static str| async move {
        let expr = ostiary_odata::parse_filter(src).unwrap();
        let filter = ostiary_store::filter::compile(&expr, Some(kind)).unwrap();
        let order = vec![ostiary_store::SortKey {
            field: "createdDateTime",
            ty: ostiary_store::FieldType::DateTime,
            descending: false,
        }];
        let q = ostiary_store::ListQuery { filter: Some(filter), order_by: order, ..Default::default() };
        let page = store.list_objects(tenant.id, kind, &q).await.unwrap();
        page.items.iter().map(|o| o.display_name().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names("createdDateTime gt 2024-01-01T00:00:00Z").await, ["offset", "half", "later"]);
    assert_eq!(names("createdDateTime eq 2024-01-01T00:00:00Z").await, ["whole"]);
    assert_eq!(names("createdDateTime lt 2024-01-01T00:00:01Z").await, ["whole", "offset", "half"]);
}

#[tokio::test]
async fn subsecond_timestamps() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        check_subsecond_timestamps(&store).await;
        store.close().await;
    })
    .await;
}
