//! Storage contract of Ostiary: the `Store` trait every backend implements, the atomic
//! `ChangeSet` write model, the validated filter IR that backends compile to SQL, and the
//! conformance suite every backend must pass.
//!
//! Tenant isolation is structural: every entry point that touches tenant data takes a
//! `TenantId`, and every tenant-owned table is keyed by it.

pub mod change;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod filter;
pub mod kv;
pub mod log;
pub mod query;
#[cfg(feature = "conformance")]
pub mod scale;

pub use change::{Change, ChangeSet};
pub use error::StoreError;
pub use filter::{FieldType, Filter, LikeKind, Operand, Value};
pub use kv::{KvEntry, KvOp, KvSelect};
pub use log::{LogKind, LogQuery, LogRecord, NewLogRecord, StatusMatch};
pub use query::{AssignmentsBy, ListQuery, Page, Relation, SortKey};

use async_trait::async_trait;
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind, StoredSigningKey, Tenant, TenantId};
use time::OffsetDateTime;

/// A connection pool's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
}

/// Where a database schema stands relative to this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// No Ostiary tables at all.
    Empty,
    /// Schema at `db`, binary expects `binary`.
    Older {
        db: i64,
        binary: i64,
    },
    Current(i64),
    Newer {
        db: i64,
        binary: i64,
    },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Connections of the pool right now (for the pool metric).
    fn pool_status(&self) -> PoolStatus;

    // --- schema -------------------------------------------------------------------------
    async fn schema_state(&self) -> Result<SchemaState, StoreError>;
    /// Applies pending migrations; returns the versions applied. Refuses a newer schema.
    async fn migrate(&self) -> Result<Vec<i64>, StoreError>;
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    // --- tenants (the only entry points without a TenantId) -------------------------------
    /// Creates the tenant, its initial objects and its signing keys in one transaction.
    /// `Conflict { key: "tenant" | "domain" }` if the id or initial domain exists.
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        initial: &ChangeSet,
        keys: &[StoredSigningKey],
    ) -> Result<(), StoreError>;
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Case-insensitive lookup of a tenant's initial domain.
    async fn find_tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Incremented by every successful `commit` and key change of the tenant; caches compare it.
    async fn tenant_version(&self, tenant: TenantId) -> Result<i64, StoreError>;

    // --- directory objects --------------------------------------------------------------
    async fn get_object(&self, tenant: TenantId, id: ObjectId) -> Result<Option<DirectoryObject>, StoreError>;
    /// Objects for the given ids that exist, in no particular order.
    async fn get_objects(&self, tenant: TenantId, ids: &[ObjectId]) -> Result<Vec<DirectoryObject>, StoreError>;
    /// Lookup through the unique-key table (`DirectoryObject::unique_keys`): namespaces
    /// "upn" (lowercased), "appId", "spAppId", "identifierUri" (lowercased).
    async fn find_by_unique_key(
        &self,
        tenant: TenantId,
        namespace: &str,
        value: &str,
    ) -> Result<Option<DirectoryObject>, StoreError>;
    async fn list_objects(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError>;
    /// Members / memberOf, direct or transitive (cycle-safe), filtered and paged like
    /// `list_objects`; `query.cast` restricts the kind of the returned objects.
    async fn list_related(
        &self,
        tenant: TenantId,
        relation: Relation,
        query: &ListQuery,
    ) -> Result<Page<DirectoryObject>, StoreError>;
    async fn list_app_role_assignments(
        &self,
        tenant: TenantId,
        by: AssignmentsBy,
    ) -> Result<Vec<AppRoleAssignment>, StoreError>;
    /// Applies every change atomically or none, appending `changes.audit` in the same
    /// transaction; bumps the tenant version.
    async fn commit(&self, tenant: TenantId, changes: &ChangeSet) -> Result<(), StoreError>;

    // --- signing keys -------------------------------------------------------------------
    async fn list_signing_keys(&self, tenant: TenantId) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Insert or replace by `kid`; bumps the tenant version.
    async fn put_signing_key(&self, tenant: TenantId, key: &StoredSigningKey) -> Result<(), StoreError>;
    async fn delete_signing_key(&self, tenant: TenantId, kid: &str) -> Result<(), StoreError>;

    // --- grant and session state (see `kv`) -----------------------------------------------
    /// The live entry (`expires_at` after `now`, or none), if any.
    async fn kv_get(
        &self,
        tenant: TenantId,
        kind: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<KvEntry>, StoreError>;
    /// Live entries of `kind` selected by `select`, ordered by key, at most `limit` (≤ 1000).
    async fn kv_list(
        &self,
        tenant: TenantId,
        kind: &str,
        select: &KvSelect,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<KvEntry>, StoreError>;
    /// Applies every op in one transaction, or none: the first failing precondition aborts the
    /// whole batch with `Conflict { key: "kv" }`. `now` decides which entries are expired.
    /// With `bump_version`, the tenant's version counter is incremented in the same transaction
    /// (for state that caches depend on, such as tenant settings). `NotFound` for an unknown tenant.
    async fn kv_apply(
        &self,
        tenant: TenantId,
        ops: &[KvOp],
        bump_version: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Deletes up to `limit` entries (any tenant) that expired before `now`; returns how many.
    async fn kv_purge_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;

    // --- sign-in and audit logs (see `log`) ------------------------------------------------
    /// Appends records (any tenants) in one transaction, in slice order. Directory audits
    /// normally ride along with their change (`ChangeSet::audit`, `KvOp::AppendLog`); this is
    /// for sign-in batches and for events with no other write.
    async fn append_logs(&self, records: &[NewLogRecord]) -> Result<(), StoreError>;
    /// The tenant's records matching `q`, newest first, at most `q.limit`.
    async fn query_logs(&self, tenant: TenantId, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError>;
    /// Records of any tenant with `seq > after`, ascending, at most `limit` (≤ 10000): the
    /// exporters' feed.
    async fn logs_after(&self, after: i64, limit: u32) -> Result<Vec<LogRecord>, StoreError>;
    /// The highest `seq` ever assigned (0 when none).
    async fn last_log_seq(&self) -> Result<i64, StoreError>;
    /// Deletes up to `limit` records of `kind` (any tenant) older than `before`; returns how many.
    async fn purge_logs(&self, kind: LogKind, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;
    /// An exporter's persisted cursor (the last `seq` it delivered), if it has one.
    async fn export_cursor(&self, sink: &str) -> Result<Option<i64>, StoreError>;
    /// Sets (inserts or replaces) an exporter's cursor.
    async fn set_export_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError>;

    // --- replay protection ----------------------------------------------------------------
    /// Records a client-assertion `jti`; `Ok(true)` the first time, `Ok(false)` on replay.
    /// Entries expire at `expires_at`; entries expired before `now` may be purged.
    async fn record_assertion_jti(
        &self,
        tenant: TenantId,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
