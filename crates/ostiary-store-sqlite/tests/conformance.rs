//! Runs the store conformance suite on SQLite (in memory and on a file) and checks the
//! migration state machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_store::{SchemaState, Store, StoreError};
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
    assert_eq!(applied, vec![1]);
    let SchemaState::Current(v) = store.schema_state().await.unwrap() else {
        panic!("not current after migrate");
    };
    assert_eq!(v, 1);
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
}

#[tokio::test]
async fn schema_states_and_newer_database() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.unwrap();
    schema_lifecycle(&store).await;
    store.close().await;

    // Another binary migrated further: pretend with a fake row.
    let raw = sqlx_like_insert(&db.0, 2).await;
    assert!(raw);
    let store = SqliteStore::open(&db.0).await.unwrap();
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 2, binary: 1 });
    assert_eq!(store.migrate().await, Err(StoreError::SchemaMismatch { db: 2, binary: 1 }));
    // Refusing changed nothing.
    assert_eq!(store.schema_state().await.unwrap(), SchemaState::Newer { db: 2, binary: 1 });
    store.close().await;
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
