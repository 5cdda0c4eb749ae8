//! Runs the store conformance suite on SQLite (in memory and on a file) and checks the
//! migration state machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_store::{Change, ChangeSet, SchemaState, Store, StoreError};
use ostiary_store_sqlite::SqliteStore;
use std::path::PathBuf;

/// A database path in the temp directory, removed (with its WAL files) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> TempDb {
        TempDb(std::env::temp_dir().join(format!("ostiary-test-{}.db", uuid::Uuid::new_v4().simple())))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_in_memory() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.migrate().await.unwrap();
    ostiary_store::conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_file() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.unwrap();
    store.migrate().await.unwrap();
    ostiary_store::conformance::run_all(&store).await;
    store.close().await;
    // Data survives reopening.
    let reopened = SqliteStore::open(&db.0).await.unwrap();
    assert!(matches!(reopened.schema_state().await.unwrap(), SchemaState::Current(_)));
    assert!(!reopened.list_tenants().await.unwrap().is_empty());
    reopened.close().await;
}

#[tokio::test]
async fn in_memory_stores_are_private() {
    let a = SqliteStore::open_in_memory().await.unwrap();
    let b = SqliteStore::open_in_memory().await.unwrap();
    a.migrate().await.unwrap();
    assert_eq!(b.schema_state().await.unwrap(), SchemaState::Empty);
}

async fn schema_lifecycle(store: &SqliteStore) {
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Empty);
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4]);
    let SchemaState::Current(v) = store.schema_state().await.unwrap() else {
        panic!("not current after migrate");
    };
    assert_eq!(v, 4);
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
}

#[tokio::test]
async fn schema_states_and_newer_database() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.unwrap();
    schema_lifecycle(&store).await;
    store.close().await;

    // Another binary migrated further: pretend with a fake row.
    let raw = sqlx_like_insert(&db.0, 5).await;
    assert!(raw);
    let store = SqliteStore::open(&db.0).await.unwrap();
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 5, binary: 4 });
    assert_eq!(store.migrate().await, Err(StoreError::SchemaMismatch { db: 5, binary: 4 }));
    // Refusing changed nothing.
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 5, binary: 4 });
    store.close().await;
}

/// Creates the schema exactly as the binary of schema version `version` left it.
async fn database_at_version(path: &std::path::Path, version: i64) {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true).foreign_keys(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let files = [include_str!("../migrations/0001_initial.sql"), include_str!("../migrations/0002_kv.sql")];
    sqlx::raw_sql(
        "CREATE TABLE ostiary_schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (v, sql) in (1..=version).zip(files) {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO ostiary_schema_migrations (version, applied_at) VALUES (?, '2024-01-01T00:00:00Z')")
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
    let db = TempDb::new();
    database_at_version(&db.0, version).await;

    let store = SqliteStore::open(&db.0).await.unwrap();
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
}

#[tokio::test]
async fn version_1_database_is_migrated() {
    older_database_is_migrated(1).await;
}

#[tokio::test]
async fn version_2_database_is_migrated() {
    older_database_is_migrated(2).await;
}

#[tokio::test]
async fn opening_does_not_migrate() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.unwrap();
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Empty);
    store.ping().await.unwrap();
    store.close().await;
    let store = SqliteStore::open(&db.0).await.unwrap();
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Empty);
    store.close().await;
}

/// Inserts a migration row the way a newer binary would have.
async fn sqlx_like_insert(path: &std::path::Path, version: i64) -> bool {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::query("INSERT INTO ostiary_schema_migrations (version, applied_at) VALUES (?, 'x')")
        .bind(version)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_tenant() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.unwrap();
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
    // Readers and writers interleave (WAL).
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    store.list_objects(tenant.id, ostiary_model::ObjectKind::User, &Default::default()).await.unwrap();
                }
            })
        })
        .collect();
    for i in 100..120 {
        let mut cs = ChangeSet::new();
        let mut doc = race_user(i).to_doc();
        doc["userPrincipalName"] = format!("racer{i}@race.ostiary.test").into();
        cs.push(Change::CreateObject(
            ostiary_model::DirectoryObject::from_doc(ostiary_model::ObjectKind::User, doc).unwrap(),
        ));
        store.commit(tenant.id, &cs).await.unwrap();
    }
    for r in readers {
        r.await.unwrap();
    }
    store.close().await;
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
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.migrate().await.unwrap();
    check_subsecond_timestamps(&store).await;
}
