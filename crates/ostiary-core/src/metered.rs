//! A `Store` decorator that times every store operation into
//! `ostiary_store_operation_duration_seconds{op}`: the database latency SLI, the same for
//! both backends and for every caller (request paths, jobs, exporters).

use ostiary_metrics::{HistogramVec, Metrics};
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind, StoredSigningKey, Tenant, TenantId};
use ostiary_store::{
    AssignmentsBy, ChangeSet, KvEntry, KvOp, KvSelect, ListQuery, LogKind, LogQuery, LogRecord, NewLogRecord, Page,
    PoolStatus, Relation, SchemaState, Store, StoreError,
};
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

/// Wraps a store; every call is timed by operation name.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    latency: Arc<HistogramVec>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: &Metrics) -> MeteredStore {
        MeteredStore { inner, latency: metrics.store_operation_duration.clone() }
    }

    fn observe(&self, op: &str, started: Instant) {
        self.latency.observe_duration(&[op], started.elapsed());
    }
}

#[async_trait::async_trait]
impl Store for MeteredStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn pool_status(&self) -> PoolStatus {
        self.inner.pool_status()
    }

    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let started = Instant::now();
        let r = self.inner.schema_state().await;
        self.observe("schema_state", started);
        r
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let started = Instant::now();
        let r = self.inner.migrate().await;
        self.observe("migrate", started);
        r
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.ping().await;
        self.observe("ping", started);
        r
    }

    async fn create_tenant(
        &self,
        tenant: &Tenant,
        initial: &ChangeSet,
        keys: &[StoredSigningKey],
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.create_tenant(tenant, initial, keys).await;
        self.observe("create_tenant", started);
        r
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let started = Instant::now();
        let r = self.inner.get_tenant(id).await;
        self.observe("get_tenant", started);
        r
    }

    async fn find_tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        let started = Instant::now();
        let r = self.inner.find_tenant_by_domain(domain).await;
        self.observe("find_tenant_by_domain", started);
        r
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let started = Instant::now();
        let r = self.inner.list_tenants().await;
        self.observe("list_tenants", started);
        r
    }

    async fn tenant_version(&self, tenant: TenantId) -> Result<i64, StoreError> {
        let started = Instant::now();
        let r = self.inner.tenant_version(tenant).await;
        self.observe("tenant_version", started);
        r
    }

    async fn get_object(&self, tenant: TenantId, id: ObjectId) -> Result<Option<DirectoryObject>, StoreError> {
        let started = Instant::now();
        let r = self.inner.get_object(tenant, id).await;
        self.observe("get_object", started);
        r
    }

    async fn get_objects(&self, tenant: TenantId, ids: &[ObjectId]) -> Result<Vec<DirectoryObject>, StoreError> {
        let started = Instant::now();
        let r = self.inner.get_objects(tenant, ids).await;
        self.observe("get_objects", started);
        r
    }

    async fn find_by_unique_key(
        &self,
        tenant: TenantId,
        namespace: &str,
        value: &str,
    ) -> Result<Option<DirectoryObject>, StoreError> {
        let started = Instant::now();
        let r = self.inner.find_by_unique_key(tenant, namespace, value).await;
        self.observe("find_by_unique_key", started);
        r
    }

    async fn list_objects(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let started = Instant::now();
        let r = self.inner.list_objects(tenant, kind, query).await;
        self.observe("list_objects", started);
        r
    }

    async fn list_related(
        &self,
        tenant: TenantId,
        relation: Relation,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let started = Instant::now();
        let r = self.inner.list_related(tenant, relation, query).await;
        self.observe("list_related", started);
        r
    }

    async fn list_app_role_assignments(
        &self,
        tenant: TenantId,
        by: AssignmentsBy,
    ) -> Result<Vec<AppRoleAssignment>, StoreError> {
        let started = Instant::now();
        let r = self.inner.list_app_role_assignments(tenant, by).await;
        self.observe("list_app_role_assignments", started);
        r
    }

    async fn commit(&self, tenant: TenantId, changes: &ChangeSet) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.commit(tenant, changes).await;
        self.observe("commit", started);
        r
    }

    async fn list_signing_keys(&self, tenant: TenantId) -> Result<Vec<StoredSigningKey>, StoreError> {
        let started = Instant::now();
        let r = self.inner.list_signing_keys(tenant).await;
        self.observe("list_signing_keys", started);
        r
    }

    async fn put_signing_key(&self, tenant: TenantId, key: &StoredSigningKey) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.put_signing_key(tenant, key).await;
        self.observe("put_signing_key", started);
        r
    }

    async fn delete_signing_key(&self, tenant: TenantId, kid: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.delete_signing_key(tenant, kid).await;
        self.observe("delete_signing_key", started);
        r
    }

    async fn kv_get(
        &self,
        tenant: TenantId,
        kind: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<KvEntry>, StoreError> {
        let started = Instant::now();
        let r = self.inner.kv_get(tenant, kind, key, now).await;
        self.observe("kv_get", started);
        r
    }

    async fn kv_list(
        &self,
        tenant: TenantId,
        kind: &str,
        select: &KvSelect,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<KvEntry>, StoreError> {
        let started = Instant::now();
        let r = self.inner.kv_list(tenant, kind, select, limit, now).await;
        self.observe("kv_list", started);
        r
    }

    async fn kv_apply(
        &self,
        tenant: TenantId,
        ops: &[KvOp],
        bump_version: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.kv_apply(tenant, ops, bump_version, now).await;
        self.observe("kv_apply", started);
        r
    }

    async fn kv_purge_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let started = Instant::now();
        let r = self.inner.kv_purge_expired(now, limit).await;
        self.observe("kv_purge_expired", started);
        r
    }

    async fn append_logs(&self, records: &[NewLogRecord]) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.append_logs(records).await;
        self.observe("append_logs", started);
        r
    }

    async fn query_logs(&self, tenant: TenantId, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let started = Instant::now();
        let r = self.inner.query_logs(tenant, q).await;
        self.observe("query_logs", started);
        r
    }

    async fn logs_after(&self, after: i64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        let started = Instant::now();
        let r = self.inner.logs_after(after, limit).await;
        self.observe("logs_after", started);
        r
    }

    async fn last_log_seq(&self) -> Result<i64, StoreError> {
        let started = Instant::now();
        let r = self.inner.last_log_seq().await;
        self.observe("last_log_seq", started);
        r
    }

    async fn purge_logs(&self, kind: LogKind, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let started = Instant::now();
        let r = self.inner.purge_logs(kind, before, limit).await;
        self.observe("purge_logs", started);
        r
    }

    async fn export_cursor(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let started = Instant::now();
        let r = self.inner.export_cursor(sink).await;
        self.observe("export_cursor", started);
        r
    }

    async fn set_export_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.set_export_cursor(sink, seq).await;
        self.observe("set_export_cursor", started);
        r
    }

    async fn record_assertion_jti(
        &self,
        tenant: TenantId,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let started = Instant::now();
        let r = self.inner.record_assertion_jti(tenant, client_id, jti, expires_at, now).await;
        self.observe("record_assertion_jti", started);
        r
    }
}
