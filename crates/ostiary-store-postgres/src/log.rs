//! Sign-in and directory-audit logs (`Store::*_logs`) and the exporters' cursors.
//!
//! Ordering: every append (`append_logs`, `ChangeSet::audit`, `KvOp::AppendLog`) is one
//! statement that takes a block of sequence numbers from the one-row counter `log_seq`
//! (`UPDATE ... RETURNING`, in a CTE) and inserts the records with `UNNEST` over one array
//! per column. The counter row stays locked until the appending transaction ends, so appenders
//! serialise on it and a block is handed out only after every earlier block has committed (or
//! rolled back) and become visible: sequence order is commit order, and a reader never sees a
//! record without every committed record of a lower `seq`. The append is the last statement
//! of its transaction, so the lock is held only for the insert and the commit.
//!
//! Lock order: appends come after the tenant-version bump in every transaction that does both
//! (tenant row, then counter row), and a plain `append_logs` only needs the key-share lock of
//! the foreign key (compatible with the bump), so appenders cannot deadlock.

use crate::codec::{has_nul, parse_ts, ts};
use crate::error::{db_err, is_foreign_key_violation};
use ostiary_model::TenantId;
use ostiary_store::{LogKind, LogQuery, LogRecord, NewLogRecord, StatusMatch, StoreError};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Upper bound of `query_logs`' `limit` (the lower bound is 1).
const MAX_QUERY: u32 = 1000;
/// Upper bound of `logs_after`'s `limit`.
const MAX_FEED: u32 = 10_000;

/// The columns of `log_records`, in `record_from_row` order.
macro_rules! columns {
    () => {
        "seq, tenant_id, kind, id, time, principal_id, principal_name, app_id, correlation_id, \
         status, category, activity, doc"
    };
}

/// Takes `$1` numbers from the counter and inserts the rows of the arrays `$2..$13` with
/// `seq = first + ordinality - 1`, in array order. Inserts nothing if the counter is missing.
const INSERT: &str = "WITH s AS (UPDATE log_seq SET last = last + $1 WHERE id = 1 RETURNING last) \
     INSERT INTO log_records (seq, tenant_id, kind, id, time, principal_id, principal_name, app_id, \
     correlation_id, status, category, activity, doc) \
     SELECT s.last - $1 + u.ord, u.tenant_id, u.kind, u.id, u.time, u.principal_id, u.principal_name, \
     u.app_id, u.correlation_id, u.status, u.category, u.activity, u.doc \
     FROM s, UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], \
     $9::text[], $10::bigint[], $11::text[], $12::text[], $13::jsonb[]) WITH ORDINALITY \
     AS u(tenant_id, kind, id, time, principal_id, principal_name, app_id, correlation_id, status, category, \
     activity, doc, ord)";

/// Records in their column encodings, one array per column.
#[derive(Default)]
pub(crate) struct EncodedBatch<'a> {
    tenants: Vec<Uuid>,
    kinds: Vec<&'static str>,
    ids: Vec<Uuid>,
    times: Vec<String>,
    principal_ids: Vec<Option<&'a str>>,
    principal_names: Vec<Option<String>>,
    app_ids: Vec<Option<&'a str>>,
    correlation_ids: Vec<Option<&'a str>>,
    statuses: Vec<i64>,
    categories: Vec<&'a str>,
    activities: Vec<&'a str>,
    docs: Vec<Json<&'a serde_json::Value>>,
}

impl EncodedBatch<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

/// Whether any string (or object key) in `v` contains NUL.
pub(crate) fn json_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => has_nul(s),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| has_nul(k) || json_has_nul(v)),
        _ => false,
    }
}

/// PostgreSQL text and jsonb cannot hold NUL: refused up front (both backends do).
fn record_has_nul(r: &NewLogRecord) -> bool {
    [&r.principal_id, &r.principal_name, &r.app_id, &r.correlation_id].into_iter().flatten().any(|s| has_nul(s))
        || has_nul(&r.category)
        || has_nul(&r.activity)
        || json_has_nul(&r.doc)
}

/// The error for a record that rides along with a write of another tenant.
fn foreign_record(record: TenantId, batch: Uuid) -> StoreError {
    StoreError::InvalidQuery(format!(
        "a log record of tenant {record} cannot be written with a change of tenant {batch}"
    ))
}

/// Validates and encodes records; with `tenant`, every record must belong to it.
pub(crate) fn encode<'a>(
    records: impl IntoIterator<Item = &'a NewLogRecord>,
    tenant: Option<Uuid>,
) -> Result<EncodedBatch<'a>, StoreError> {
    let mut b = EncodedBatch::default();
    for r in records {
        if record_has_nul(r) {
            return Err(StoreError::InvalidQuery("log record fields and documents cannot contain NUL".into()));
        }
        if let Some(batch) = tenant
            && r.tenant.as_uuid() != batch
        {
            return Err(foreign_record(r.tenant, batch));
        }
        b.tenants.push(r.tenant.as_uuid());
        b.kinds.push(r.kind.as_str());
        b.ids.push(r.id);
        b.times.push(ts(r.time)?);
        b.principal_ids.push(r.principal_id.as_deref());
        b.principal_names.push(r.principal_name.as_deref().map(str::to_lowercase));
        b.app_ids.push(r.app_id.as_deref());
        b.correlation_ids.push(r.correlation_id.as_deref());
        b.statuses.push(r.status);
        b.categories.push(&r.category);
        b.activities.push(&r.activity);
        b.docs.push(Json(&r.doc));
    }
    Ok(b)
}

/// Appends the batch inside the caller's transaction, as its last statement (the counter row
/// stays locked until the commit). A missing tenant is `NotFound`.
pub(crate) async fn insert(conn: &mut PgConnection, b: &EncodedBatch<'_>) -> Result<(), StoreError> {
    if b.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(b.tenants.len()).map_err(|_| StoreError::Backend("too many log records".into()))?;
    let r = sqlx::query(INSERT)
        .bind(n)
        .bind(&b.tenants)
        .bind(&b.kinds)
        .bind(&b.ids)
        .bind(&b.times)
        .bind(&b.principal_ids)
        .bind(&b.principal_names)
        .bind(&b.app_ids)
        .bind(&b.correlation_ids)
        .bind(&b.statuses)
        .bind(&b.categories)
        .bind(&b.activities)
        .bind(&b.docs)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) { StoreError::NotFound { what: "tenant".into() } } else { db_err(e) }
        })?;
    if r.rows_affected() != n.unsigned_abs() {
        return Err(StoreError::Corrupt("the log sequence counter is missing".into()));
    }
    Ok(())
}

/// `Store::append_logs`: one transaction; `NotFound` (and nothing appended) if any record's
/// tenant does not exist.
pub(crate) async fn append(pool: &PgPool, records: &[NewLogRecord]) -> Result<(), StoreError> {
    let batch = encode(records, None)?;
    if batch.is_empty() {
        return Ok(());
    }
    let mut tenants = batch.tenants.clone();
    tenants.sort_unstable();
    tenants.dedup();
    let mut tx = pool.begin().await.map_err(db_err)?;
    // Before the counter is locked; the foreign key still catches a tenant deleted meanwhile.
    let found: Vec<Uuid> = sqlx::query("SELECT id FROM tenants WHERE id = ANY($1)")
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| row.try_get(0).map_err(db_err))
        .collect::<Result<_, _>>()?;
    if let Some(missing) = tenants.iter().find(|t| !found.contains(t)) {
        return Err(StoreError::NotFound { what: format!("tenant {missing}") });
    }
    insert(&mut tx, &batch).await?;
    tx.commit().await.map_err(db_err)
}

fn record_from_row(row: &PgRow) -> Result<LogRecord, StoreError> {
    let text = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    let opt = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db_err);
    let kind = text(2)?;
    Ok(LogRecord {
        seq: row.try_get(0).map_err(db_err)?,
        record: NewLogRecord {
            tenant: TenantId::from_uuid(row.try_get(1).map_err(db_err)?),
            kind: LogKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown log kind '{kind}'")))?,
            id: row.try_get(3).map_err(db_err)?,
            time: parse_ts(&text(4)?)?,
            principal_id: opt(5)?,
            principal_name: opt(6)?,
            app_id: opt(7)?,
            correlation_id: opt(8)?,
            status: row.try_get(9).map_err(db_err)?,
            category: text(10)?,
            activity: text(11)?,
            doc: row.try_get(12).map_err(db_err)?,
        },
    })
}

/// Whether a criterion can match no stored value (stored text never contains NUL).
fn query_has_nul(q: &LogQuery) -> bool {
    [&q.principal_id, &q.principal_name, &q.app_id, &q.correlation_id, &q.category, &q.activity]
        .into_iter()
        .flatten()
        .any(|s| has_nul(s))
}

pub(crate) async fn query_logs(pool: &PgPool, tenant: TenantId, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
    if query_has_nul(q) {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Postgres>::new(concat!("SELECT ", columns!(), " FROM log_records WHERE tenant_id = "));
    qb.push_bind(tenant.as_uuid()).push(" AND kind = ").push_bind(q.kind.as_str());
    // Lookups by id are rare (Graph `/auditLogs/signIns/{id}`) and not indexed: an index on a
    // random UUID would cost every append more than the lookups it would save.
    if let Some(id) = q.id {
        qb.push(" AND id = ").push_bind(id);
    }
    if let Some(since) = q.since {
        qb.push(" AND time >= ").push_bind(ts(since)?);
    }
    if let Some(until) = q.until {
        qb.push(" AND time < ").push_bind(ts(until)?);
    }
    let text_criteria = [
        (" AND principal_id = ", q.principal_id.clone()),
        (" AND principal_name = ", q.principal_name.as_deref().map(str::to_lowercase)),
        (" AND app_id = ", q.app_id.clone()),
        (" AND correlation_id = ", q.correlation_id.clone()),
        (" AND category = ", q.category.clone()),
        (" AND activity = ", q.activity.clone()),
    ];
    for (sql, value) in text_criteria {
        if let Some(value) = value {
            qb.push(sql).push_bind(value);
        }
    }
    match q.status {
        Some(StatusMatch::Eq(s)) => {
            qb.push(" AND status = ").push_bind(s);
        }
        Some(StatusMatch::Ne(s)) => {
            qb.push(" AND status <> ").push_bind(s);
        }
        None => {}
    }
    if let Some(before) = q.before_seq {
        qb.push(" AND seq < ").push_bind(before);
    }
    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(q.limit.clamp(1, MAX_QUERY)));
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(record_from_row).collect()
}

pub(crate) async fn logs_after(pool: &PgPool, after: i64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
    let limit = limit.min(MAX_FEED);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM log_records WHERE seq > $1 ORDER BY seq LIMIT $2"))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(record_from_row).collect()
}

pub(crate) async fn last_log_seq(pool: &PgPool) -> Result<i64, StoreError> {
    sqlx::query("SELECT last FROM log_seq WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::Corrupt("the log sequence counter is missing".into()))?
        .try_get(0)
        .map_err(db_err)
}

/// A bounded batch: the sub-select walks the purge index for at most `$3` keys, the delete
/// fetches exactly those by primary key. Records are never updated, so nothing is re-checked.
pub(crate) async fn purge_logs(
    pool: &PgPool,
    kind: LogKind,
    before: OffsetDateTime,
    limit: u32,
) -> Result<u64, StoreError> {
    if limit == 0 {
        return Ok(0);
    }
    let r = sqlx::query(
        "DELETE FROM log_records WHERE seq = ANY(ARRAY(\
         SELECT seq FROM log_records WHERE kind = $1 AND time < $2 LIMIT $3))",
    )
    .bind(kind.as_str())
    .bind(ts(before)?)
    .bind(i64::from(limit))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(r.rows_affected())
}

pub(crate) async fn export_cursor(pool: &PgPool, sink: &str) -> Result<Option<i64>, StoreError> {
    if has_nul(sink) {
        return Ok(None);
    }
    let row = sqlx::query("SELECT seq FROM export_cursors WHERE sink = $1")
        .bind(sink)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get(0).map_err(db_err)).transpose()
}

pub(crate) async fn set_export_cursor(pool: &PgPool, sink: &str, seq: i64) -> Result<(), StoreError> {
    if has_nul(sink) {
        return Err(StoreError::InvalidQuery("exporter names cannot contain NUL".into()));
    }
    sqlx::query(
        "INSERT INTO export_cursors (sink, seq, updated_at) \
         VALUES ($1, $2, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) \
         ON CONFLICT (sink) DO UPDATE SET seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at",
    )
    .bind(sink)
    .bind(seq)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
