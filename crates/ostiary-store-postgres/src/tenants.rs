//! Tenants, their signing keys and the client-assertion replay cache.

use crate::codec::{has_nul, parse_ts, ts};
use crate::error::{db_err, is_foreign_key_violation};
use crate::log;
use crate::write::{apply, bump_version};
use ostiary_model::{StoredSigningKey, Tenant, TenantId};
use ostiary_store::{ChangeSet, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

const TENANT_COLUMNS: &str = "SELECT id, display_name, initial_domain, created_at FROM tenants";

fn tenant_from_row(row: &PgRow) -> Result<Tenant, StoreError> {
    let get = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    Ok(Tenant {
        id: TenantId::from_uuid(row.try_get(0).map_err(db_err)?),
        display_name: get(1)?,
        initial_domain: get(2)?,
        created_date_time: parse_ts(&get(3)?)?,
    })
}

pub(crate) async fn create_tenant(
    pool: &PgPool,
    tenant: &Tenant,
    initial: &ChangeSet,
    keys: &[StoredSigningKey],
) -> Result<(), StoreError> {
    let id = tenant.id.as_uuid();
    let domain_lower = tenant.initial_domain.to_lowercase();
    let audit = log::encode(&initial.audit, Some(id))?;
    let mut tx = pool.begin().await.map_err(db_err)?;
    let r = sqlx::query(
        "INSERT INTO tenants (id, display_name, initial_domain, initial_domain_lower, created_at, version) \
         VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(&tenant.display_name)
    .bind(&tenant.initial_domain)
    .bind(&domain_lower)
    .bind(ts(tenant.created_date_time)?)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        // Which rule was hit? The id takes precedence, as it does in the SQLite backend.
        let taken: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        let key = if taken { "tenant" } else { "domain" };
        return Err(StoreError::Conflict { key: key.into() });
    }
    apply(&mut tx, id, initial).await?;
    for key in keys {
        upsert_key(&mut tx, id, key).await?;
    }
    log::insert(&mut tx, &audit).await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn get_tenant(pool: &PgPool, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(TENANT_COLUMNS);
    qb.push(" WHERE id = ").push_bind(id.as_uuid());
    let row = qb.build().fetch_optional(pool).await.map_err(db_err)?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(crate) async fn find_tenant_by_domain(pool: &PgPool, domain: &str) -> Result<Option<Tenant>, StoreError> {
    if has_nul(domain) {
        return Ok(None);
    }
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(TENANT_COLUMNS);
    qb.push(" WHERE initial_domain_lower = ").push_bind(domain.to_lowercase());
    let row = qb.build().fetch_optional(pool).await.map_err(db_err)?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(crate) async fn list_tenants(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(TENANT_COLUMNS);
    qb.push(" ORDER BY created_at, id");
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(tenant_from_row).collect()
}

pub(crate) async fn tenant_version(pool: &PgPool, tenant: TenantId) -> Result<i64, StoreError> {
    let id = tenant.as_uuid();
    let row = sqlx::query("SELECT version FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound { what: format!("tenant {id}") })?;
    row.try_get(0).map_err(db_err)
}

pub(crate) async fn commit(pool: &PgPool, tenant: TenantId, changes: &ChangeSet) -> Result<(), StoreError> {
    let id = tenant.as_uuid();
    let audit = log::encode(&changes.audit, Some(id))?;
    let mut tx = pool.begin().await.map_err(db_err)?;
    bump_version(&mut tx, id).await?;
    apply(&mut tx, id, changes).await?;
    // Last: a change that fails leaves no record, and the log counter stays locked only
    // until the imminent commit.
    log::insert(&mut tx, &audit).await?;
    tx.commit().await.map_err(db_err)
}

// --- signing keys ---------------------------------------------------------------------------

async fn upsert_key(conn: &mut PgConnection, tenant: Uuid, key: &StoredSigningKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys \
         (tenant_id, kid, alg, cert_der, sealed_private_key, kek_id, created_at, sign_from, retire_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (tenant_id, kid) DO UPDATE SET alg = EXCLUDED.alg, cert_der = EXCLUDED.cert_der, \
         sealed_private_key = EXCLUDED.sealed_private_key, kek_id = EXCLUDED.kek_id, \
         created_at = EXCLUDED.created_at, sign_from = EXCLUDED.sign_from, retire_at = EXCLUDED.retire_at",
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

fn key_from_row(row: &PgRow) -> Result<StoredSigningKey, StoreError> {
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

pub(crate) async fn list_signing_keys(pool: &PgPool, tenant: TenantId) -> Result<Vec<StoredSigningKey>, StoreError> {
    let rows = sqlx::query(
        "SELECT kid, alg, cert_der, sealed_private_key, kek_id, created_at, sign_from, retire_at \
         FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid",
    )
    .bind(tenant.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(key_from_row).collect()
}

pub(crate) async fn put_signing_key(pool: &PgPool, tenant: TenantId, key: &StoredSigningKey) -> Result<(), StoreError> {
    let id = tenant.as_uuid();
    let mut tx = pool.begin().await.map_err(db_err)?;
    bump_version(&mut tx, id).await?;
    upsert_key(&mut tx, id, key).await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn delete_signing_key(pool: &PgPool, tenant: TenantId, kid: &str) -> Result<(), StoreError> {
    let id = tenant.as_uuid();
    let mut tx = pool.begin().await.map_err(db_err)?;
    bump_version(&mut tx, id).await?;
    let r = sqlx::query("DELETE FROM signing_keys WHERE tenant_id = $1 AND kid = $2")
        .bind(id)
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
    pool: &PgPool,
    tenant: TenantId,
    client_id: &str,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let id = tenant.as_uuid();
    if has_nul(client_id) || has_nul(jti) {
        return Err(StoreError::InvalidQuery("client id or jti contains a NUL character".into()));
    }
    // One round trip: the CTE purges a bounded batch of this tenant's expired entries (never
    // the row being recorded); the upsert inserts a fresh row, replaces an expired one, and
    // leaves a live one alone (0 rows: a replay). Concurrent purges of the same rows are harmless.
    let r = sqlx::query(
        "WITH purged AS (DELETE FROM used_assertions WHERE (tenant_id, client_id, jti) IN \
         (SELECT tenant_id, client_id, jti FROM used_assertions \
          WHERE tenant_id = $1 AND expires_at < $5 AND NOT (client_id = $2 AND jti = $3) LIMIT $6)) \
         INSERT INTO used_assertions (tenant_id, client_id, jti, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at \
         WHERE used_assertions.expires_at < $5",
    )
    .bind(id)
    .bind(client_id)
    .bind(jti)
    .bind(ts(expires_at)?)
    .bind(ts(now)?)
    .bind(PURGE_BATCH)
    .execute(pool)
    .await
    .map_err(|e| {
        if is_foreign_key_violation(&e) { StoreError::NotFound { what: format!("tenant {id}") } } else { db_err(e) }
    })?;
    Ok(r.rows_affected() > 0)
}
