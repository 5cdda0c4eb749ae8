//! Grant and session state (`Store::kv_*`): JSON entries in the `kv` table, written in one
//! `BEGIN IMMEDIATE` transaction per batch (a batch of one statement runs on its own, which
//! is just as atomic) with compare-and-swap preconditions.
//!
//! Liveness everywhere is `expires_at IS NULL OR expires_at > now` (fixed-width text, so text
//! order is time order); dead entries are invisible to reads, replaceable by `Insert`, not
//! updatable, and purgeable. Every statement except the purge is scoped by `tenant_id`.

use crate::codec::{id_text, object_id, parse_ts, ts};
use crate::error::db_err;
use crate::log::{self, EncodedRecord, json_has_nul};
use crate::write::bump_version;
use ostiary_model::TenantId;
use ostiary_store::{KvEntry, KvOp, KvSelect, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

/// Upper bound of `kv_list`'s `limit`.
const MAX_LIST: u32 = 1000;

/// `SELECT` of the live entries of one tenant and kind; binds tenant, kind, now, then the tail's.
macro_rules! select_live {
    ($tail:literal) => {
        concat!(
            "SELECT kind, key, doc, version, expires_at, user_id, family_id FROM kv \
             WHERE tenant_id = ? AND kind = ? AND (expires_at IS NULL OR expires_at > ?)",
            $tail
        )
    };
}

const GET: &str = select_live!(" AND key = ?");
const LIST_ALL: &str = select_live!(" ORDER BY key LIMIT ?");
const LIST_RANGE: &str = select_live!(" AND key >= ? AND key < ? ORDER BY key LIMIT ?");
const LIST_FROM: &str = select_live!(" AND key >= ? ORDER BY key LIMIT ?");
const LIST_USER: &str = select_live!(" AND user_id = ? ORDER BY key LIMIT ?");
const LIST_FAMILY: &str = select_live!(" AND family_id = ? ORDER BY key LIMIT ?");

/// Inserts a fresh entry or replaces a dead one; 0 rows changed means a live entry exists or
/// the tenant does not (the `EXISTS` guard makes this independent of `foreign_keys`).
const INSERT: &str = "INSERT INTO kv (tenant_id, kind, key, doc, version, expires_at, user_id, family_id) \
     SELECT ?1, ?2, ?3, ?4, 1, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?1) \
     ON CONFLICT (tenant_id, kind, key) DO UPDATE SET doc = excluded.doc, version = 1, \
     expires_at = excluded.expires_at, user_id = excluded.user_id, family_id = excluded.family_id \
     WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?8";
/// Compare-and-swap on the version of a live entry; 0 rows changed means the precondition failed.
const UPDATE: &str = "UPDATE kv SET doc = ?, version = version + 1, expires_at = ?, user_id = ?, family_id = ? \
     WHERE tenant_id = ? AND kind = ? AND key = ? AND version = ? \
     AND (expires_at IS NULL OR expires_at > ?)";
const DELETE: &str = "DELETE FROM kv WHERE tenant_id = ? AND kind = ? AND key = ?";
/// The kinds come as one JSON array, so that any number of them is one cached statement.
const DELETE_BY_USER: &str =
    "DELETE FROM kv WHERE tenant_id = ? AND user_id = ? AND kind IN (SELECT value FROM json_each(?))";
const DELETE_BY_FAMILY: &str = "DELETE FROM kv WHERE tenant_id = ? AND family_id = ? AND kind = ?";
const PURGE: &str = "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at <= ? LIMIT ?)";

fn kv_conflict() -> StoreError {
    StoreError::Conflict { key: "kv".into() }
}

fn tenant_not_found(tenant: &str) -> StoreError {
    StoreError::NotFound { what: format!("tenant {tenant}") }
}

fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// NUL cannot be stored by the PostgreSQL backend (text and jsonb); both backends reject it
/// the same way so that callers see one behaviour.
fn check_nul(ops: &[KvOp]) -> Result<(), StoreError> {
    let bad = ops.iter().any(|op| match op {
        KvOp::Insert(e) | KvOp::Update(e) => {
            has_nul(&e.kind) || has_nul(&e.key) || e.family_id.as_deref().is_some_and(has_nul) || json_has_nul(&e.doc)
        }
        KvOp::Delete { kind, key } => has_nul(kind) || has_nul(key),
        KvOp::DeleteByUser { kinds, .. } => kinds.iter().any(|k| has_nul(k)),
        KvOp::DeleteByFamily { kind, family_id } => has_nul(kind) || has_nul(family_id),
        // Checked (with the same error kind) when the records are encoded.
        KvOp::AppendLog(_) => false,
    });
    if bad {
        return Err(StoreError::InvalidQuery("kv kinds, keys, family ids and documents cannot contain NUL".into()));
    }
    Ok(())
}

/// The smallest string greater than every string that starts with `prefix` (in code-point
/// order, which is UTF-8 byte order), or `None` if no such string exists.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn entry_from_row(row: &SqliteRow) -> Result<KvEntry, StoreError> {
    let kind: String = row.try_get(0).map_err(db_err)?;
    let key: String = row.try_get(1).map_err(db_err)?;
    let doc: String = row.try_get(2).map_err(db_err)?;
    let expires_at: Option<String> = row.try_get(4).map_err(db_err)?;
    let user_id: Option<String> = row.try_get(5).map_err(db_err)?;
    let doc = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(format!("kv {kind}: {e}")))?;
    Ok(KvEntry {
        doc,
        version: row.try_get(3).map_err(db_err)?,
        expires_at: expires_at.as_deref().map(parse_ts).transpose()?,
        user_id: user_id.as_deref().map(object_id).transpose()?,
        family_id: row.try_get(6).map_err(db_err)?,
        kind,
        key,
    })
}

pub(crate) async fn kv_get(
    pool: &SqlitePool,
    tenant: TenantId,
    kind: &str,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<KvEntry>, StoreError> {
    if has_nul(kind) || has_nul(key) {
        return Ok(None);
    }
    let row = sqlx::query(GET)
        .bind(id_text(tenant.as_uuid()))
        .bind(kind)
        .bind(ts(now)?)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(entry_from_row).transpose()
}

pub(crate) async fn kv_list(
    pool: &SqlitePool,
    tenant: TenantId,
    kind: &str,
    select: &KvSelect,
    limit: u32,
    now: OffsetDateTime,
) -> Result<Vec<KvEntry>, StoreError> {
    let limit = i64::from(limit.min(MAX_LIST));
    let nul = match select {
        KvSelect::Prefix(p) | KvSelect::Family(p) => has_nul(p),
        KvSelect::User(_) => false,
    };
    if limit == 0 || nul || has_nul(kind) {
        return Ok(Vec::new());
    }
    let tenant = id_text(tenant.as_uuid());
    let now = ts(now)?;
    let query = match select {
        KvSelect::Prefix(p) if p.is_empty() => sqlx::query(LIST_ALL).bind(tenant).bind(kind).bind(now),
        KvSelect::Prefix(p) => match prefix_end(p) {
            Some(end) => sqlx::query(LIST_RANGE).bind(tenant).bind(kind).bind(now).bind(p.as_str()).bind(end),
            None => sqlx::query(LIST_FROM).bind(tenant).bind(kind).bind(now).bind(p.as_str()),
        },
        KvSelect::User(user) => sqlx::query(LIST_USER).bind(tenant).bind(kind).bind(now).bind(id_text(user.as_uuid())),
        KvSelect::Family(family) => sqlx::query(LIST_FAMILY).bind(tenant).bind(kind).bind(now).bind(family.as_str()),
    };
    let rows = query.bind(limit).fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(entry_from_row).collect()
}

pub(crate) async fn kv_apply(
    pool: &SqlitePool,
    tenant: TenantId,
    ops: &[KvOp],
    bump: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    check_nul(ops)?;
    let tenant = id_text(tenant.as_uuid());
    let now = ts(now)?;
    let records = ops.iter().filter_map(|op| match op {
        KvOp::AppendLog(r) => Some(&**r),
        _ => None,
    });
    let logs = log::encode(records, Some(&tenant))?;
    if ops.len() + usize::from(bump) <= 1 && logs.is_empty() {
        // One writing statement is atomic by itself; the tenant check, if any, only reads.
        let mut conn = pool.acquire().await.map_err(db_err)?;
        return apply_all(&mut conn, &tenant, ops, bump, &now, &logs).await;
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    apply_all(&mut tx, &tenant, ops, bump, &now, &logs).await?;
    tx.commit().await.map_err(db_err)
}

/// Applies the ops in order, then the bump, then appends the log records (`logs`, the
/// encoded `AppendLog` ops: appending is independent of the other ops, so it comes last,
/// after every precondition held). The tenant is not looked up up front: a changed row proves
/// it exists (kv rows are only ever inserted for existing tenants), so only a failed
/// precondition or a batch without successful writes costs an extra lookup.
async fn apply_all(
    conn: &mut SqliteConnection,
    tenant: &str,
    ops: &[KvOp],
    bump: bool,
    now: &str,
    logs: &[EncodedRecord],
) -> Result<(), StoreError> {
    let mut tenant_known = false;
    for op in ops {
        if apply_op(conn, tenant, op, now).await? {
            tenant_known = true;
        } else if matches!(op, KvOp::Insert(_) | KvOp::Update(_)) {
            // A failed precondition: Conflict, unless the tenant is missing altogether.
            if !tenant_known && !tenant_exists(conn, tenant).await? {
                return Err(tenant_not_found(tenant));
            }
            return Err(kv_conflict());
        }
    }
    if bump {
        bump_version(conn, tenant).await?;
        tenant_known = true;
    }
    if !tenant_known && !tenant_exists(conn, tenant).await? {
        return Err(tenant_not_found(tenant));
    }
    log::insert(conn, logs).await
}

async fn tenant_exists(conn: &mut SqliteConnection, tenant: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM tenants WHERE id = ?")
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Applies one op; `Ok(true)` if an `Insert` or `Update` changed its row, `Ok(false)` if its
/// precondition failed (and always for deletes, which never fail, and for `AppendLog`, which
/// `apply_all` applies at the end).
async fn apply_op(conn: &mut SqliteConnection, tenant: &str, op: &KvOp, now: &str) -> Result<bool, StoreError> {
    match op {
        KvOp::Insert(e) => {
            let r = sqlx::query(INSERT)
                .bind(tenant)
                .bind(&e.kind)
                .bind(&e.key)
                .bind(doc_text(&e.doc)?)
                .bind(e.expires_at.map(ts).transpose()?)
                .bind(e.user_id.map(|u| id_text(u.as_uuid())))
                .bind(e.family_id.as_deref())
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            Ok(r.rows_affected() > 0)
        }
        KvOp::Update(e) => {
            let r = sqlx::query(UPDATE)
                .bind(doc_text(&e.doc)?)
                .bind(e.expires_at.map(ts).transpose()?)
                .bind(e.user_id.map(|u| id_text(u.as_uuid())))
                .bind(e.family_id.as_deref())
                .bind(tenant)
                .bind(&e.kind)
                .bind(&e.key)
                .bind(e.version)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            Ok(r.rows_affected() > 0)
        }
        KvOp::Delete { kind, key } => {
            sqlx::query(DELETE).bind(tenant).bind(kind).bind(key).execute(&mut *conn).await.map_err(db_err)?;
            Ok(false)
        }
        KvOp::DeleteByUser { kinds, user_id } => {
            if !kinds.is_empty() {
                let kinds = serde_json::to_string(kinds)
                    .map_err(|e| StoreError::Backend(format!("serialise kv kinds: {e}")))?;
                sqlx::query(DELETE_BY_USER)
                    .bind(tenant)
                    .bind(id_text(user_id.as_uuid()))
                    .bind(kinds)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
            }
            Ok(false)
        }
        KvOp::DeleteByFamily { kind, family_id } => {
            sqlx::query(DELETE_BY_FAMILY)
                .bind(tenant)
                .bind(family_id)
                .bind(kind)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            Ok(false)
        }
        KvOp::AppendLog(_) => Ok(false),
    }
}

fn doc_text(doc: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|e| StoreError::Backend(format!("serialise kv document: {e}")))
}

pub(crate) async fn kv_purge_expired(pool: &SqlitePool, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
    if limit == 0 {
        return Ok(0);
    }
    let r = sqlx::query(PURGE).bind(ts(now)?).bind(i64::from(limit)).execute(pool).await.map_err(db_err)?;
    Ok(r.rows_affected())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_string_after_all_extensions() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("ab"), Some("ac".into()));
        assert_eq!(prefix_end("a%"), Some("a&".into()));
        assert_eq!(prefix_end("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        // Every extension sorts below the bound (UTF-8 byte order = code-point order).
        let end = prefix_end("x\u{FFFF}").unwrap();
        for ext in ["", "\0", "z", "\u{10FFFF}\u{10FFFF}"] {
            assert!(format!("x\u{FFFF}{ext}").as_bytes() < end.as_bytes());
        }
    }
}
