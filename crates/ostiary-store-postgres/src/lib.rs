//! PostgreSQL backend of the Ostiary store: documents as `jsonb`, filters compiled to
//! `->>` SQL, a pool shared by all tenants, advisory-locked migrations.
//!
//! Connecting never migrates: callers check [`Store::schema_state`] and run
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
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// Upper bound of pooled connections per process.
const POOL_SIZE: u32 = 16;
/// How long an operation waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pooled connections idle at least this long are pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// A `Store` on PostgreSQL. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db?sslmode=...`) with a pool of
    /// up to 16 connections. Errors never echo the URL.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Backend("invalid PostgreSQL connection URL".into()))?
            .application_name("ostiary");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx pings every connection it takes from the pool (a round trip per operation)
            // and again when one is returned. The ping on return already weeds out broken
            // connections, so only connections that sat idle long enough for the server to
            // have gone away meanwhile are pinged before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| match e {
                // Refused connections are retried until the timeout.
                sqlx::Error::PoolTimedOut => StoreError::Backend(format!(
                    "could not connect to PostgreSQL within {} s (is the server running and reachable?)",
                    ACQUIRE_TIMEOUT.as_secs()
                )),
                e => db_err(e),
            })?;
        Ok(PostgresStore { pool })
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The query plan (`EXPLAIN`) of exactly the SQL that [`Store::list_objects`] runs for
    /// these arguments, with the same bound values: the page query, then (with `query.count`)
    /// a line `-- count` and the count query's plan. For tests and benchmarks that check that
    /// filters and paging stay on indexes.
    pub async fn explain_list_objects(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<String, StoreError> {
        read::explain_list(&self.pool, tenant, Source::Kind(kind), query).await
    }

    /// Runs `VACUUM ANALYZE directory_objects` (planner statistics and the visibility map that
    /// index-only scans need), as autovacuum would after a bulk load.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("VACUUM ANALYZE directory_objects").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
        tenants::commit(&self.pool, tenant, changes).await
    }

    async fn list_signing_keys(&self, tenant: TenantId) -> Result<Vec<StoredSigningKey>, StoreError> {
        tenants::list_signing_keys(&self.pool, tenant).await
    }

    async fn put_signing_key(&self, tenant: TenantId, key: &StoredSigningKey) -> Result<(), StoreError> {
        tenants::put_signing_key(&self.pool, tenant, key).await
    }

    async fn delete_signing_key(&self, tenant: TenantId, kid: &str) -> Result<(), StoreError> {
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
        kv::kv_apply(&self.pool, tenant, ops, bump_version, now).await
    }

    async fn kv_purge_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        kv::kv_purge_expired(&self.pool, now, limit).await
    }

    async fn append_logs(&self, records: &[NewLogRecord]) -> Result<(), StoreError> {
        log::append(&self.pool, records).await
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
        log::purge_logs(&self.pool, kind, before, limit).await
    }

    async fn export_cursor(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        log::export_cursor(&self.pool, sink).await
    }

    async fn set_export_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
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
        tenants::record_assertion_jti(&self.pool, tenant, client_id, jti, expires_at, now).await
    }
}
