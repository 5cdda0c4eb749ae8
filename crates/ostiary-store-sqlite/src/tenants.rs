//! Tenants, their signing keys and the client-assertion replay cache.

use crate::codec::{id_text, parse_ts, parse_uuid, ts};
use crate::error::{db_err, is_unique_violation};
use crate::log;
use crate::write::{apply, bump_version};
use ostiary_model::{StoredSigningKey, Tenant, TenantId};
use ostiary_store::{ChangeSet, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

const TENANT_COLUMNS: &str = "SELECT id, display_name, initial_domain, created_at FROM tenants";

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, StoreError> {
    let get = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    Ok(Tenant {
        id: TenantId::from_uuid(parse_uuid(&get(0)?)?),
        display_name: get(1)?,
        initial_domain: get(2)?,
        created_date_time: parse_ts(&get(3)?)?,
    })
}

async fn exists(conn: &mut SqliteConnection, sql: &'static str, value: &str) -> Result<bool, StoreError> {
    let row = sqlx::query(sql).bind(value).fetch_optional(&mut *conn).await.map_err(db_err)?;
    Ok(row.is_some())
}

pub(crate) async fn create_tenant(
    pool: &SqlitePool,
    tenant: &Tenant,
    initial: &ChangeSet,
    keys: &[StoredSigningKey],
) -> Result<(), StoreError> {
    let id = id_text(tenant.id.as_uuid());
    let domain_lower = tenant.initial_domain.to_lowercase();
    let audit = log::encode(&initial.audit, Some(&id))?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    if exists(&mut tx, "SELECT 1 FROM tenants WHERE id = ?", &id).await? {
        return Err(StoreError::Conflict { key: "tenant".into() });
    }
    if exists(&mut tx, "SELECT 1 FROM tenants WHERE initial_domain_lower = ?", &domain_lower).await? {
        return Err(StoreError::Conflict { key: "domain".into() });
    }
    sqlx::query(
        "INSERT INTO tenants (id, display_name, initial_domain, initial_domain_lower, created_at, version) \
         VALUES (?, ?, ?, ?, ?, 1)",
    )
    .bind(&id)
    .bind(&tenant.display_name)
    .bind(&tenant.initial_domain)
    .bind(&domain_lower)
    .bind(ts(tenant.created_date_time)?)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        // Only reachable if the checks above raced with another writer.
        if is_unique_violation(&e) { StoreError::Conflict { key: "tenant".into() } } else { db_err(e) }
    })?;
    apply(&mut tx, &id, initial).await?;
    for key in keys {
        upsert_key(&mut tx, &id, key).await?;
    }
    log::insert(&mut tx, &audit).await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn get_tenant(pool: &SqlitePool, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(TENANT_COLUMNS);
    qb.push(" WHERE id = ").push_bind(id_text(id.as_uuid()));
    let row = qb.build().fetch_optional(pool).await.map_err(db_err)?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(crate) async fn find_tenant_by_domain(pool: &SqlitePool, domain: &str) -> Result<Option<Tenant>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(TENANT_COLUMNS);
    qb.push(" WHERE initial_domain_lower = ").push_bind(domain.to_lowercase());
    let row = qb.build().fetch_optional(pool).await.map_err(db_err)?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(crate) async fn list_tenants(pool: &SqlitePool) -> Result<Vec<Tenant>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(TENANT_COLUMNS);
    qb.push(" ORDER BY created_at, id");
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(tenant_from_row).collect()
}

pub(crate) async fn tenant_version(pool: &SqlitePool, tenant: TenantId) -> Result<i64, StoreError> {
    let id = id_text(tenant.as_uuid());
    let row = sqlx::query("SELECT version FROM tenants WHERE id = ?")
        .bind(&id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound { what: format!("tenant {id}") })?;
    row.try_get(0).map_err(db_err)
}

pub(crate) async fn commit(pool: &SqlitePool, tenant: TenantId, changes: &ChangeSet) -> Result<(), StoreError> {
    let id = id_text(tenant.as_uuid());
    let audit = log::encode(&changes.audit, Some(&id))?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    bump_version(&mut tx, &id).await?;
    apply(&mut tx, &id, changes).await?;
    // Last: a change that fails leaves no record (the transaction rolls back either way).
    log::insert(&mut tx, &audit).await?;
    tx.commit().await.map_err(db_err)
}

// --- signing keys ---------------------------------------------------------------------------

async fn upsert_key(conn: &mut SqliteConnection, tenant: &str, key: &StoredSigningKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys \
         (tenant_id, kid, alg, cert_der, sealed_private_key, kek_id, created_at, sign_from, retire_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (tenant_id, kid) DO UPDATE SET alg = excluded.alg, cert_der = excluded.cert_der, \
         sealed_private_key = excluded.sealed_private_key, kek_id = excluded.kek_id, \
         created_at = excluded.created_at, sign_from = excluded.sign_from, retire_at = excluded.retire_at",
    )
    .bind(tenant)
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.cert_der)
    .bind(&key.sealed_private_key)
    .bind(&key.kek_id)
    .bind(ts(key.created_at)?)
    .bind(ts(key.sign_from)?)
    .bind(key.retire_at.map(ts).transpose()?)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn key_from_row(row: &SqliteRow) -> Result<StoredSigningKey, StoreError> {
    let text = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    let bytes = |i: usize| row.try_get::<Vec<u8>, _>(i).map_err(db_err);
    let retire_at: Option<String> = row.try_get(7).map_err(db_err)?;
    Ok(StoredSigningKey {
        kid: text(0)?,
        alg: text(1)?,
        cert_der: bytes(2)?,
        sealed_private_key: bytes(3)?,
        kek_id: text(4)?,
        created_at: parse_ts(&text(5)?)?,
        sign_from: parse_ts(&text(6)?)?,
        retire_at: retire_at.as_deref().map(parse_ts).transpose()?,
    })
}

pub(crate) async fn list_signing_keys(
    pool: &SqlitePool,
    tenant: TenantId,
) -> Result<Vec<StoredSigningKey>, StoreError> {
    let rows = sqlx::query(
        "SELECT kid, alg, cert_der, sealed_private_key, kek_id, created_at, sign_from, retire_at \
         FROM signing_keys WHERE tenant_id = ? ORDER BY created_at, kid",
    )
    .bind(id_text(tenant.as_uuid()))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(key_from_row).collect()
}

pub(crate) async fn put_signing_key(
    pool: &SqlitePool,
    tenant: TenantId,
    key: &StoredSigningKey,
) -> Result<(), StoreError> {
    let id = id_text(tenant.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    bump_version(&mut tx, &id).await?;
    upsert_key(&mut tx, &id, key).await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn delete_signing_key(pool: &SqlitePool, tenant: TenantId, kid: &str) -> Result<(), StoreError> {
    let id = id_text(tenant.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    bump_version(&mut tx, &id).await?;
    let r = sqlx::query("DELETE FROM signing_keys WHERE tenant_id = ? AND kid = ?")
        .bind(&id)
        .bind(kid)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound { what: format!("signing key {kid}") });
    }
    tx.commit().await.map_err(db_err)
}

// --- replay protection ----------------------------------------------------------------------

/// How many expired entries one call purges at most.
const PURGE_BATCH: i64 = 100;

pub(crate) async fn record_assertion_jti(
    pool: &SqlitePool,
    tenant: TenantId,
    client_id: &str,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let id = id_text(tenant.as_uuid());
    let now = ts(now)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    if !exists(&mut tx, "SELECT 1 FROM tenants WHERE id = ?", &id).await? {
        return Err(StoreError::NotFound { what: format!("tenant {id}") });
    }
    sqlx::query(
        "DELETE FROM used_assertions WHERE rowid IN (SELECT rowid FROM used_assertions \
         WHERE tenant_id = ? AND expires_at < ? LIMIT ?)",
    )
    .bind(&id)
    .bind(&now)
    .bind(PURGE_BATCH)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    // A fresh row inserts; an expired row is replaced; a live row is a replay (0 rows).
    let r = sqlx::query(
        "INSERT INTO used_assertions (tenant_id, client_id, jti, expires_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant_id, client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE used_assertions.expires_at < ?",
    )
    .bind(&id)
    .bind(client_id)
    .bind(jti)
    .bind(ts(expires_at)?)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(r.rows_affected() > 0)
}
