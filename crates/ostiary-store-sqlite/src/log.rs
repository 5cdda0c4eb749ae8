//! Sign-in and directory-audit logs (`Store::*_logs`) and the exporters' cursors.
//!
//! Every append (`append_logs`, `ChangeSet::audit`, `KvOp::AppendLog`) runs inside a write
//! transaction: it takes a block of sequence numbers from the one-row counter `log_seq` and
//! inserts the records with multi-row `INSERT`s. SQLite admits one writer at a time, so blocks
//! are handed out in commit order and a reader never sees a record without every record of a
//! lower `seq` (the exporters' no-skip guarantee); the counter only grows, so purging never
//! lets a sequence number be reused.
//!
//! Records are encoded (and validated) before the write lock is taken, so the time spent
//! holding it is only the database work.

use crate::codec::{id_text, parse_ts, parse_uuid, ts};
use crate::error::db_err;
use ostiary_model::TenantId;
use ostiary_store::{LogKind, LogQuery, LogRecord, NewLogRecord, StatusMatch, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::sync::{Arc, LazyLock};
use time::OffsetDateTime;

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
const COLUMNS: &str = columns!();
/// Bound parameters per inserted row (one per column).
const PARAMS_PER_ROW: usize = 13;
/// Rows per `INSERT` statement, largest first: a batch is cut into these sizes (its binary
/// representation below 64), so only seven distinct statements ever reach the statement
/// cache, and the largest binds 64 × 13 = 832 parameters, below even SQLite's historical
/// limit of 999.
const CHUNK_ROWS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// `INSERT` statements for each size of `CHUNK_ROWS`, built once.
static INSERTS: LazyLock<Vec<(usize, Arc<str>)>> = LazyLock::new(|| {
    CHUNK_ROWS
        .iter()
        .map(|&n| {
            let row = format!("({})", vec!["?"; PARAMS_PER_ROW].join(", "));
            let sql = format!("INSERT INTO log_records ({COLUMNS}) VALUES {}", vec![row; n].join(", "));
            (n, Arc::from(sql))
        })
        .collect()
});

/// One record in its column encodings.
pub(crate) struct EncodedRecord {
    tenant: String,
    kind: &'static str,
    id: String,
    time: String,
    principal_id: Option<String>,
    principal_name: Option<String>,
    app_id: Option<String>,
    correlation_id: Option<String>,
    status: i64,
    category: String,
    activity: String,
    doc: String,
}

fn has_nul(s: &str) -> bool {
    s.contains('\0')
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

/// NUL cannot be stored by the PostgreSQL backend; both backends refuse it the same way.
pub(crate) fn record_has_nul(r: &NewLogRecord) -> bool {
    [&r.principal_id, &r.principal_name, &r.app_id, &r.correlation_id].into_iter().flatten().any(|s| has_nul(s))
        || has_nul(&r.category)
        || has_nul(&r.activity)
        || json_has_nul(&r.doc)
}

fn nul_error() -> StoreError {
    StoreError::InvalidQuery("log record fields and documents cannot contain NUL".into())
}

/// The error for a record that rides along with a write of another tenant.
pub(crate) fn foreign_record(record: TenantId, batch: &str) -> StoreError {
    StoreError::InvalidQuery(format!(
        "a log record of tenant {record} cannot be written with a change of tenant {batch}"
    ))
}

/// Validates and encodes records; with `tenant`, every record must belong to it.
pub(crate) fn encode<'a>(
    records: impl IntoIterator<Item = &'a NewLogRecord>,
    tenant: Option<&str>,
) -> Result<Vec<EncodedRecord>, StoreError> {
    records
        .into_iter()
        .map(|r| {
            if record_has_nul(r) {
                return Err(nul_error());
            }
            let tenant_id = id_text(r.tenant.as_uuid());
            if let Some(batch) = tenant
                && tenant_id != batch
            {
                return Err(foreign_record(r.tenant, batch));
            }
            Ok(EncodedRecord {
                tenant: tenant_id,
                kind: r.kind.as_str(),
                id: id_text(r.id),
                time: ts(r.time)?,
                principal_id: r.principal_id.clone(),
                principal_name: r.principal_name.as_deref().map(str::to_lowercase),
                app_id: r.app_id.clone(),
                correlation_id: r.correlation_id.clone(),
                status: r.status,
                category: r.category.clone(),
                activity: r.activity.clone(),
                doc: serde_json::to_string(&r.doc)
                    .map_err(|e| StoreError::Backend(format!("serialise log document: {e}")))?,
            })
        })
        .collect()
}

/// Inserts encoded records inside the caller's write transaction, in slice order, with
/// sequence numbers taken from the counter. Their tenants must exist (the caller checks).
pub(crate) async fn insert(conn: &mut SqliteConnection, records: &[EncodedRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(records.len()).map_err(|_| StoreError::Backend("too many log records".into()))?;
    let last: i64 = sqlx::query("UPDATE log_seq SET last = last + ? WHERE id = 1 RETURNING last")
        .bind(n)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::Corrupt("the log sequence counter is missing".into()))?
        .try_get(0)
        .map_err(db_err)?;
    let mut seq = last - n + 1;
    let mut rest = records;
    for (size, sql) in INSERTS.iter() {
        while rest.len() >= *size {
            let (chunk, tail) = rest.split_at(*size);
            let mut query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
            for r in chunk {
                query = query
                    .bind(seq)
                    .bind(r.tenant.as_str())
                    .bind(r.kind)
                    .bind(r.id.as_str())
                    .bind(r.time.as_str())
                    .bind(r.principal_id.as_deref())
                    .bind(r.principal_name.as_deref())
                    .bind(r.app_id.as_deref())
                    .bind(r.correlation_id.as_deref())
                    .bind(r.status)
                    .bind(r.category.as_str())
                    .bind(r.activity.as_str())
                    .bind(r.doc.as_str());
                seq += 1;
            }
            query.execute(&mut *conn).await.map_err(db_err)?;
            rest = tail;
        }
    }
    Ok(())
}

/// `Store::append_logs` for records already encoded: one write transaction; `NotFound` (and
/// nothing appended) if any record's tenant does not exist. The caller holds the write lock.
pub(crate) async fn append(pool: &SqlitePool, records: &[EncodedRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let mut checked: Vec<&str> = Vec::new();
    for r in records {
        if checked.contains(&r.tenant.as_str()) {
            continue;
        }
        let row = sqlx::query("SELECT 1 FROM tenants WHERE id = ?")
            .bind(r.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if row.is_none() {
            return Err(StoreError::NotFound { what: format!("tenant {}", r.tenant) });
        }
        checked.push(&r.tenant);
    }
    insert(&mut tx, records).await?;
    tx.commit().await.map_err(db_err)
}

fn record_from_row(row: &SqliteRow) -> Result<LogRecord, StoreError> {
    let seq: i64 = row.try_get(0).map_err(db_err)?;
    let text = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    let opt = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db_err);
    let kind = text(2)?;
    let doc = text(12)?;
    Ok(LogRecord {
        seq,
        record: NewLogRecord {
            tenant: TenantId::from_uuid(parse_uuid(&text(1)?)?),
            kind: LogKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown log kind '{kind}'")))?,
            id: parse_uuid(&text(3)?)?,
            time: parse_ts(&text(4)?)?,
            principal_id: opt(5)?,
            principal_name: opt(6)?,
            app_id: opt(7)?,
            correlation_id: opt(8)?,
            status: row.try_get(9).map_err(db_err)?,
            category: text(10)?,
            activity: text(11)?,
            doc: serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(format!("log record {seq}: {e}")))?,
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

pub(crate) async fn query_logs(
    pool: &SqlitePool,
    tenant: TenantId,
    q: &LogQuery,
) -> Result<Vec<LogRecord>, StoreError> {
    if query_has_nul(q) {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM log_records WHERE tenant_id = "));
    qb.push_bind(id_text(tenant.as_uuid())).push(" AND kind = ").push_bind(q.kind.as_str());
    // Lookups by id are rare (Graph `/auditLogs/signIns/{id}`) and not indexed: an index on a
    // random UUID would cost every append more than the lookups it would save.
    if let Some(id) = q.id {
        qb.push(" AND id = ").push_bind(id_text(id));
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

pub(crate) async fn logs_after(pool: &SqlitePool, after: i64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
    let limit = limit.min(MAX_FEED);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM log_records WHERE seq > ? ORDER BY seq LIMIT ?"))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(record_from_row).collect()
}

pub(crate) async fn last_log_seq(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query("SELECT last FROM log_seq WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::Corrupt("the log sequence counter is missing".into()))?
        .try_get(0)
        .map_err(db_err)
}

/// One statement, so atomic by itself; the caller holds the write lock.
pub(crate) async fn purge_logs(
    pool: &SqlitePool,
    kind: LogKind,
    before: OffsetDateTime,
    limit: u32,
) -> Result<u64, StoreError> {
    if limit == 0 {
        return Ok(0);
    }
    let r = sqlx::query(
        "DELETE FROM log_records WHERE seq IN \
         (SELECT seq FROM log_records WHERE kind = ? AND time < ? LIMIT ?)",
    )
    .bind(kind.as_str())
    .bind(ts(before)?)
    .bind(i64::from(limit))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(r.rows_affected())
}

pub(crate) async fn export_cursor(pool: &SqlitePool, sink: &str) -> Result<Option<i64>, StoreError> {
    if has_nul(sink) {
        return Ok(None);
    }
    let row = sqlx::query("SELECT seq FROM export_cursors WHERE sink = ?")
        .bind(sink)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get(0).map_err(db_err)).transpose()
}

/// One statement; the caller holds the write lock.
pub(crate) async fn set_export_cursor(pool: &SqlitePool, sink: &str, seq: i64) -> Result<(), StoreError> {
    if has_nul(sink) {
        return Err(StoreError::InvalidQuery("exporter names cannot contain NUL".into()));
    }
    sqlx::query(
        "INSERT INTO export_cursors (sink, seq, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
         ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
    )
    .bind(sink)
    .bind(seq)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_stay_under_the_parameter_limit() {
        for (n, sql) in INSERTS.iter() {
            let params = sql.matches('?').count();
            assert_eq!(params, n * PARAMS_PER_ROW);
            assert!(params <= 999, "{params} parameters");
        }
        // Every batch size decomposes exactly.
        for len in 0..300 {
            let mut rest = len;
            for size in CHUNK_ROWS {
                rest -= (rest / size) * size;
            }
            assert_eq!(rest, 0, "{len}");
        }
    }
}
