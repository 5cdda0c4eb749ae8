//! Grant and session state (`Store::kv_*`): `jsonb` entries in the `kv` table, written in one
//! transaction per batch with compare-and-swap preconditions.
//!
//! Liveness everywhere is `expires_at IS NULL OR expires_at > now` (fixed-width `COLLATE "C"`
//! text, so text order is time order); dead entries are invisible to reads, replaceable by
//! `Insert`, not updatable, and purgeable. Every statement except the purge is scoped by
//! `tenant_id`.
//!
//! Concurrency (READ COMMITTED): an `Update` is `UPDATE ... WHERE version = $n` — a racing
//! writer blocks on the row lock and then re-evaluates the condition against the committed
//! row, so of several updates expecting the same version exactly one changes a row. An
//! `Insert` is `INSERT ... ON CONFLICT DO UPDATE ... WHERE <dead>`, which either inserts,
//! replaces a dead row under its lock, or changes nothing; racing inserts of one key wait for
//! each other, so exactly one succeeds.
//!
//! Round trips: the tenant is not looked up before writing. An `Insert` proves the tenant by
//! passing the foreign key (a violation is `NotFound`), an `Update` or the version bump by
//! changing a row; only when nothing proved it (a failed `Update`, a batch of deletes) is
//! `tenants` queried. A batch of one statement runs without `BEGIN`/`COMMIT`.

use crate::codec::{has_nul, parse_ts, ts};
use crate::error::{db_err, is_foreign_key_violation};
use crate::log::{self, EncodedBatch, json_has_nul};
use crate::write::bump_version;
use ostiary_model::{ObjectId, TenantId};
use ostiary_store::{KvEntry, KvOp, KvSelect, StoreError};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Upper bound of `kv_list`'s `limit`.
const MAX_LIST: u32 = 1000;

/// `SELECT` of the live entries of one tenant and kind: $1 tenant, $2 kind, $3 now.
macro_rules! select_live {
    ($tail:literal) => {
        concat!(
            "SELECT kind, key, doc, version, expires_at, user_id, family_id FROM kv \
             WHERE tenant_id = $1 AND kind = $2 AND (expires_at IS NULL OR expires_at > $3)",
            $tail
        )
    };
}

const GET: &str = select_live!(" AND key = $4");
const LIST_ALL: &str = select_live!(" ORDER BY key LIMIT $4");
const LIST_RANGE: &str = select_live!(" AND key >= $4 AND key < $5 ORDER BY key LIMIT $6");
const LIST_FROM: &str = select_live!(" AND key >= $4 ORDER BY key LIMIT $5");
const LIST_USER: &str = select_live!(" AND user_id = $4 ORDER BY key LIMIT $5");
const LIST_FAMILY: &str = select_live!(" AND family_id = $4 ORDER BY key LIMIT $5");

/// Inserts a fresh entry or replaces a dead one; 0 rows means a live entry exists.
const INSERT: &str = "INSERT INTO kv (tenant_id, kind, key, doc, version, expires_at, user_id, family_id) \
     VALUES ($1, $2, $3, $4, 1, $5, $6, $7) \
     ON CONFLICT (tenant_id, kind, key) DO UPDATE SET doc = EXCLUDED.doc, version = 1, \
     expires_at = EXCLUDED.expires_at, user_id = EXCLUDED.user_id, family_id = EXCLUDED.family_id \
     WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= $8";
/// Compare-and-swap on the version of a live entry; 0 rows means the precondition failed.
const UPDATE: &str = "UPDATE kv SET doc = $1, version = version + 1, expires_at = $2, user_id = $3, family_id = $4 \
     WHERE tenant_id = $5 AND kind = $6 AND key = $7 AND version = $8 \
     AND (expires_at IS NULL OR expires_at > $9)";
const DELETE: &str = "DELETE FROM kv WHERE tenant_id = $1 AND kind = $2 AND key = $3";
const DELETE_BY_USER: &str = "DELETE FROM kv WHERE tenant_id = $1 AND user_id = $2 AND kind = ANY($3)";
const DELETE_BY_FAMILY: &str = "DELETE FROM kv WHERE tenant_id = $1 AND family_id = $2 AND kind = $3";
/// A bounded batch by physical row id: the sub-select walks the expiry index for at most `$2`
/// row ids, the delete fetches exactly those (TID scan). The outer expiry filter is re-checked
/// against the newest row version should a concurrent `Insert` have replaced the row meanwhile
/// (`IS TRUE` keeps it a filter: as an index condition it would make the planner scan every
/// expired row of the expiry index instead of fetching the batch by row id).
const PURGE: &str = "DELETE FROM kv WHERE ctid = ANY(ARRAY(SELECT ctid FROM kv WHERE expires_at <= $1 LIMIT $2)) \
     AND (expires_at <= $1) IS TRUE";

fn kv_conflict() -> StoreError {
    StoreError::Conflict { key: "kv".into() }
}

fn tenant_not_found(tenant: Uuid) -> StoreError {
    StoreError::NotFound { what: format!("tenant {tenant}") }
}

/// PostgreSQL text and jsonb cannot hold NUL: refuse it up front (both backends do) instead
/// of failing inside the transaction.
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
/// order, which is UTF-8 byte order and `COLLATE "C"` order), or `None` if none exists.
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

fn entry_from_row(row: &PgRow) -> Result<KvEntry, StoreError> {
    let expires_at: Option<String> = row.try_get(4).map_err(db_err)?;
    let user_id: Option<Uuid> = row.try_get(5).map_err(db_err)?;
    Ok(KvEntry {
        kind: row.try_get(0).map_err(db_err)?,
        key: row.try_get(1).map_err(db_err)?,
        doc: row.try_get(2).map_err(db_err)?,
        version: row.try_get(3).map_err(db_err)?,
        expires_at: expires_at.as_deref().map(parse_ts).transpose()?,
        user_id: user_id.map(ObjectId::from_uuid),
        family_id: row.try_get(6).map_err(db_err)?,
    })
}

pub(crate) async fn kv_get(
    pool: &PgPool,
    tenant: TenantId,
    kind: &str,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<KvEntry>, StoreError> {
    if has_nul(kind) || has_nul(key) {
        return Ok(None);
    }
    let row = sqlx::query(GET)
        .bind(tenant.as_uuid())
        .bind(kind)
        .bind(ts(now)?)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(entry_from_row).transpose()
}

pub(crate) async fn kv_list(
    pool: &PgPool,
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
    let tenant = tenant.as_uuid();
    let now = ts(now)?;
    let query = match select {
        KvSelect::Prefix(p) if p.is_empty() => sqlx::query(LIST_ALL).bind(tenant).bind(kind).bind(now),
        KvSelect::Prefix(p) => match prefix_end(p) {
            Some(end) => sqlx::query(LIST_RANGE).bind(tenant).bind(kind).bind(now).bind(p.as_str()).bind(end),
            None => sqlx::query(LIST_FROM).bind(tenant).bind(kind).bind(now).bind(p.as_str()),
        },
        KvSelect::User(user) => sqlx::query(LIST_USER).bind(tenant).bind(kind).bind(now).bind(user.as_uuid()),
        KvSelect::Family(family) => sqlx::query(LIST_FAMILY).bind(tenant).bind(kind).bind(now).bind(family.as_str()),
    };
    let rows = query.bind(limit).fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(entry_from_row).collect()
}

pub(crate) async fn kv_apply(
    pool: &PgPool,
    tenant: TenantId,
    ops: &[KvOp],
    bump: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    check_nul(ops)?;
    let tenant = tenant.as_uuid();
    let now = ts(now)?;
    let records = ops.iter().filter_map(|op| match op {
        KvOp::AppendLog(r) => Some(&**r),
        _ => None,
    });
    let logs = log::encode(records, Some(tenant))?;
    if ops.len() + usize::from(bump) <= 1 && logs.is_empty() {
        // One writing statement is atomic by itself; the tenant check, if any, only reads.
        let mut conn = pool.acquire().await.map_err(db_err)?;
        return apply_all(&mut conn, tenant, ops, bump, &now, &logs).await;
    }
    let mut tx = pool.begin().await.map_err(db_err)?;
    apply_all(&mut tx, tenant, ops, bump, &now, &logs).await?;
    tx.commit().await.map_err(db_err)
}

/// Applies the ops in order, then the bump, then appends the log records (`logs`, the encoded
/// `AppendLog` ops): appending is independent of the other ops, so it comes last, after every
/// precondition held, which also keeps the lock order tenant row → log counter.
async fn apply_all(
    conn: &mut PgConnection,
    tenant: Uuid,
    ops: &[KvOp],
    bump: bool,
    now: &str,
    logs: &EncodedBatch<'_>,
) -> Result<(), StoreError> {
    let mut tenant_known = false;
    for op in ops {
        tenant_known |= apply_op(conn, tenant, op, now, tenant_known).await?;
    }
    if bump {
        // Last, so that the tenant row stays locked only until the imminent commit.
        bump_version(conn, tenant).await?;
        tenant_known = true;
    }
    if !tenant_known && !tenant_exists(conn, tenant).await? {
        return Err(tenant_not_found(tenant));
    }
    log::insert(conn, logs).await
}

async fn tenant_exists(conn: &mut PgConnection, tenant: Uuid) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Applies one op; returns whether it proved that the tenant exists.
async fn apply_op(
    conn: &mut PgConnection,
    tenant: Uuid,
    op: &KvOp,
    now: &str,
    tenant_known: bool,
) -> Result<bool, StoreError> {
    match op {
        KvOp::Insert(e) => {
            let r = sqlx::query(INSERT)
                .bind(tenant)
                .bind(&e.kind)
                .bind(&e.key)
                .bind(Json(&e.doc))
                .bind(e.expires_at.map(ts).transpose()?)
                .bind(e.user_id.map(|u| u.as_uuid()))
                .bind(e.family_id.as_deref())
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(|err| if is_foreign_key_violation(&err) { tenant_not_found(tenant) } else { db_err(err) })?;
            // Either way a row of this tenant exists, so the tenant does.
            if r.rows_affected() == 0 {
                return Err(kv_conflict());
            }
            Ok(true)
        }
        KvOp::Update(e) => {
            let r = sqlx::query(UPDATE)
                .bind(Json(&e.doc))
                .bind(e.expires_at.map(ts).transpose()?)
                .bind(e.user_id.map(|u| u.as_uuid()))
                .bind(e.family_id.as_deref())
                .bind(tenant)
                .bind(&e.kind)
                .bind(&e.key)
                .bind(e.version)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            if r.rows_affected() == 0 {
                if !tenant_known && !tenant_exists(conn, tenant).await? {
                    return Err(tenant_not_found(tenant));
                }
                return Err(kv_conflict());
            }
            Ok(true)
        }
        KvOp::Delete { kind, key } => {
            sqlx::query(DELETE).bind(tenant).bind(kind).bind(key).execute(&mut *conn).await.map_err(db_err)?;
            Ok(false)
        }
        KvOp::DeleteByUser { kinds, user_id } => {
            if !kinds.is_empty() {
                sqlx::query(DELETE_BY_USER)
                    .bind(tenant)
                    .bind(user_id.as_uuid())
                    .bind(kinds.as_slice())
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
        // Applied by `apply_all`, after every other op.
        KvOp::AppendLog(_) => Ok(false),
    }
}

pub(crate) async fn kv_purge_expired(pool: &PgPool, now: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
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
        assert_eq!(prefix_end("a_"), Some("a`".into()));
        assert_eq!(prefix_end("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        let end = prefix_end("x\u{FFFF}").unwrap();
        for ext in ["", "z", "\u{10FFFF}\u{10FFFF}"] {
            assert!(format!("x\u{FFFF}{ext}").as_bytes() < end.as_bytes());
        }
    }

    #[test]
    fn nul_anywhere_in_a_document_is_found() {
        assert!(!json_has_nul(&serde_json::json!({"a": ["b", 1, null, {"c": "d"}]})));
        assert!(json_has_nul(&serde_json::json!({"a": ["b", {"c": "d\0"}]})));
        assert!(json_has_nul(&serde_json::json!({"a\0": 1})));
    }
}
