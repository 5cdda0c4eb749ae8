//! SQLite backend of the Ostiary store: one database file (or a private in-memory database
//! for tests), documents as JSON text, filters compiled to `json_extract` SQL.
//!
//! Opening a store never migrates it: callers check [`Store::schema_state`] and run
//! [`Store::migrate`] explicitly (`ostiary migrate`).

mod codec;
mod error;
mod kv;
mod log;
mod migrate;
mod read;
mod sql;
mod tenants;
mod write;

use async_trait::async_trait;
use error::db_err;
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind, StoredSigningKey, Tenant, TenantId};
use ostiary_store::{
    AssignmentsBy, ChangeSet, KvEntry, KvOp, KvSelect, ListQuery, LogKind, LogQuery, LogRecord, NewLogRecord, Page,
    Relation, SchemaState, Store, StoreError,
};
use read::Source;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a connection waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections of a file-backed store (WAL: many readers, one writer at a time).
const FILE_POOL_SIZE: u32 = 8;

/// A `Store` on SQLite. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite admits one writer at a time; a second writer waits in SQLite's busy handler,
    /// which sleeps in coarse steps and turns contention into latency spikes. Queueing writers
    /// here instead hands the lock over at once (readers are unaffected: WAL).
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`: WAL journal, foreign keys on,
    /// `synchronous=NORMAL`, 5 s busy timeout, up to 8 pooled connections. Connections are
    /// not pinged when taken from the pool: an in-process database cannot hang up, and the
    /// ping would cost a worker-thread round trip per operation.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(FILE_POOL_SIZE)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(SqliteStore { pool, write_lock: Default::default() })
    }

    /// Opens a fresh, private in-memory database that lives as long as this store (and its
    /// clones). It uses a single connection, so concurrent operations queue.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let name = format!("file:ostiary-mem-{}", uuid::Uuid::new_v4().simple());
        let options = SqliteConnectOptions::new()
            .filename(name)
            .in_memory(true)
            .shared_cache(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The database disappears with its last connection: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(SqliteStore { pool, write_lock: Default::default() })
    }

    /// Closes every pooled connection (an in-memory database is dropped).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The query plan (`EXPLAIN QUERY PLAN`) of exactly the SQL that
    /// [`Store::list_objects`] runs for these arguments: the page query, then (with
    /// `query.count`) a line `-- count` and the count query's plan. For tests and benchmarks
    /// that check that filters and paging stay on indexes.
    pub async fn explain_list_objects(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<String, StoreError> {
        read::explain_list(&self.pool, tenant, Source::Kind(kind), query).await
    }

    /// Runs `ANALYZE` so the query planner has statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        sqlx::query("ANALYZE").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_status(&self) -> ostiary_store::PoolStatus {
        ostiary_store::PoolStatus {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        migrate::schema_state(&self.pool).await
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let _writer = self.write_lock.lock().await;
        migrate::migrate(&self.pool).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &Tenant,
        initial: &ChangeSet,
        keys: &[StoredSigningKey],
    ) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        tenants::create_tenant(&self.pool, tenant, initial, keys).await
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        tenants::get_tenant(&self.pool, id).await
    }

    async fn find_tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        tenants::find_tenant_by_domain(&self.pool, domain).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        tenants::list_tenants(&self.pool).await
    }

    async fn tenant_version(&self, tenant: TenantId) -> Result<i64, StoreError> {
        tenants::tenant_version(&self.pool, tenant).await
    }

    async fn get_object(&self, tenant: TenantId, id: ObjectId) -> Result<Option<DirectoryObject>, StoreError> {
        read::get_object(&self.pool, tenant, id).await
    }

    async fn get_objects(&self, tenant: TenantId, ids: &[ObjectId]) -> Result<Vec<DirectoryObject>, StoreError> {
        read::get_objects(&self.pool, tenant, ids).await
    }

    async fn find_by_unique_key(
        &self,
        tenant: TenantId,
        namespace: &str,
        value: &str,
    ) -> Result<Option<DirectoryObject>, StoreError> {
        read::find_by_unique_key(&self.pool, tenant, namespace, value).await
    }

    async fn list_objects(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        read::list(&self.pool, tenant, Source::Kind(kind), query).await
    }

    async fn list_related(
        &self,
        tenant: TenantId,
        relation: Relation,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let source = Source::Related { relation, cast: query.cast };
        read::list(&self.pool, tenant, source, query).await
    }

    async fn list_app_role_assignments(
        &self,
        tenant: TenantId,
        by: AssignmentsBy,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        read::list_app_role_assignments(&self.pool, tenant, by).await
    }

    async fn commit(&self, tenant: TenantId, changes: &ChangeSet) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        tenants::commit(&self.pool, tenant, changes).await
    }

    async fn list_signing_keys(&self, tenant: TenantId) -> Result<Vec<StoredSigningKey>, StoreError> {
        tenants::list_signing_keys(&self.pool, tenant).await
    }

    async fn put_signing_key(&self, tenant: TenantId, key: &StoredSigningKey) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        tenants::put_signing_key(&self.pool, tenant, key).await
    }

    async fn delete_signing_key(&self, tenant: TenantId, kid: &str) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        tenants::delete_signing_key(&self.pool, tenant, kid).await
    }

    async fn kv_get(
        &self,
        tenant: TenantId,
        kind: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<KvEntry>, StoreError> {
        kv::kv_get(&self.pool, tenant, kind, key, now).await
    }

    async fn kv_list(
        &self,
        tenant: TenantId,
        kind: &str,
        select: &KvSelect,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<KvEntry>, StoreError> {
        kv::kv_list(&self.pool, tenant, kind, select, limit, now).await
    }

    async fn kv_apply(
        &self,
        tenant: TenantId,
        ops: &[KvOp],
        bump_version: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        kv::kv_apply(&self.pool, tenant, ops, bump_version, now).await
    }

    async fn kv_purge_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let _writer = self.write_lock.lock().await;
        kv::kv_purge_expired(&self.pool, now, limit).await
    }

    async fn append_logs(&self, records: &[NewLogRecord]) -> Result<(), StoreError> {
        let records = log::encode(records, None)?;
        if records.is_empty() {
            return Ok(());
        }
        let _writer = self.write_lock.lock().await;
        log::append(&self.pool, &records).await
    }

    async fn query_logs(&self, tenant: TenantId, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        log::query_logs(&self.pool, tenant, q).await
    }

    async fn logs_after(&self, after: i64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        log::logs_after(&self.pool, after, limit).await
    }

    async fn last_log_seq(&self) -> Result<i64, StoreError> {
        log::last_log_seq(&self.pool).await
    }

    async fn purge_logs(&self, kind: LogKind, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let _writer = self.write_lock.lock().await;
        log::purge_logs(&self.pool, kind, before, limit).await
    }

    async fn export_cursor(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        log::export_cursor(&self.pool, sink).await
    }

    async fn set_export_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().await;
        log::set_export_cursor(&self.pool, sink, seq).await
    }

    async fn record_assertion_jti(
        &self,
        tenant: TenantId,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let _writer = self.write_lock.lock().await;
        tenants::record_assertion_jti(&self.pool, tenant, client_id, jti, expires_at, now).await
    }
}
