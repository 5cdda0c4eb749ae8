//! Applies a `ChangeSet` (and the tenant-version bump) inside an open write transaction.

use crate::codec::{doc_value, parse_kind, ts};
use crate::error::db_err;
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind};
use ostiary_store::{Change, ChangeSet, StoreError};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

fn not_found(what: String) -> StoreError {
    StoreError::NotFound { what }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Conflict { key: key.to_string() }
}

/// Increments the tenant's version; `NotFound` if the tenant does not exist. The row lock
/// taken here also serialises concurrent writers of the same tenant until commit.
pub(crate) async fn bump_version(conn: &mut PgConnection, tenant: Uuid) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE tenants SET version = version + 1 WHERE id = $1")
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("tenant {tenant}")));
    }
    Ok(())
}

/// Applies every change in order; the caller commits or rolls back the transaction.
pub(crate) async fn apply(conn: &mut PgConnection, tenant: Uuid, changes: &ChangeSet) -> Result<(), StoreError> {
    for change in &changes.changes {
        match change {
            Change::Expect(obj) => expect_object(conn, tenant, obj).await?,
            Change::CreateObject(obj) => create_object(conn, tenant, obj).await?,
            Change::UpdateObject(obj) => update_object(conn, tenant, obj).await?,
            Change::DeleteObject(id) => delete_object(conn, tenant, id.as_uuid()).await?,
            Change::AddMember { group, member } => add_member(conn, tenant, group.as_uuid(), member.as_uuid()).await?,
            Change::RemoveMember { group, member } => remove_member(conn, tenant, *group, *member).await?,
            Change::AddAppRoleAssignment(a) => add_assignment(conn, tenant, a).await?,
            Change::RemoveAppRoleAssignment { id } => remove_assignment(conn, tenant, id).await?,
        }
    }
    Ok(())
}

async fn object_kind(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<ObjectKind>, StoreError> {
    let row = sqlx::query("SELECT kind FROM directory_objects WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let kind: String = row.try_get(0).map_err(db_err)?;
            parse_kind(&kind).map(Some)
        }
    }
}

async fn insert_unique_keys(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    obj: &DirectoryObject,
) -> Result<(), StoreError> {
    for (namespace, value) in obj.unique_keys() {
        let r = sqlx::query(
            "INSERT INTO unique_keys (tenant_id, namespace, value, object_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(namespace)
        .bind(value)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(conflict(namespace));
        }
    }
    Ok(())
}

/// `PreconditionFailed` unless the stored object is exactly `obj`: same kind, and a `jsonb`
/// document equal to `obj`'s encoding. The row stays locked until commit, so no concurrent
/// writer can change it between this check and the changes that follow.
async fn expect_object(conn: &mut PgConnection, tenant: Uuid, obj: &DirectoryObject) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT 1 FROM directory_objects WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND doc = $4::jsonb \
         FOR UPDATE",
    )
    .bind(tenant)
    .bind(obj.id().as_uuid())
    .bind(obj.kind().as_str())
    .bind(Json(doc_value(obj)?))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    if row.is_some() { Ok(()) } else { Err(StoreError::PreconditionFailed) }
}

async fn create_object(conn: &mut PgConnection, tenant: Uuid, obj: &DirectoryObject) -> Result<(), StoreError> {
    let id = obj.id().as_uuid();
    let r = sqlx::query(
        "INSERT INTO directory_objects (tenant_id, id, kind, doc) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(id)
    .bind(obj.kind().as_str())
    .bind(Json(doc_value(obj)?))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("id"));
    }
    insert_unique_keys(conn, tenant, id, obj).await
}

async fn update_object(conn: &mut PgConnection, tenant: Uuid, obj: &DirectoryObject) -> Result<(), StoreError> {
    let id = obj.id().as_uuid();
    if object_kind(conn, tenant, id).await? != Some(obj.kind()) {
        return Err(not_found(format!("{} {id}", obj.kind().as_str())));
    }
    sqlx::query("UPDATE directory_objects SET doc = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(Json(doc_value(obj)?))
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query("DELETE FROM unique_keys WHERE tenant_id = $1 AND object_id = $2")
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    insert_unique_keys(conn, tenant, id, obj).await
}

async fn delete_object(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<(), StoreError> {
    // Memberships (both directions), assignments (as principal and as resource) and unique
    // keys go with the object through ON DELETE CASCADE.
    let r = sqlx::query("DELETE FROM directory_objects WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("object {id}")));
    }
    Ok(())
}

async fn add_member(conn: &mut PgConnection, tenant: Uuid, group: Uuid, member: Uuid) -> Result<(), StoreError> {
    if object_kind(conn, tenant, group).await? != Some(ObjectKind::Group) {
        return Err(not_found(format!("group {group}")));
    }
    if object_kind(conn, tenant, member).await?.is_none() {
        return Err(not_found(format!("object {member}")));
    }
    let r = sqlx::query(
        "INSERT INTO memberships (tenant_id, group_id, member_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(group)
    .bind(member)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("membership"));
    }
    Ok(())
}

async fn remove_member(
    conn: &mut PgConnection,
    tenant: Uuid,
    group: ObjectId,
    member: ObjectId,
) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3")
        .bind(tenant)
        .bind(group.as_uuid())
        .bind(member.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("membership of {member} in {group}")));
    }
    Ok(())
}

async fn add_assignment(conn: &mut PgConnection, tenant: Uuid, a: &AppRoleAssignment) -> Result<(), StoreError> {
    let principal = a.principal_id.as_uuid();
    let resource = a.resource_id.as_uuid();
    if object_kind(conn, tenant, principal).await?.is_none() {
        return Err(not_found(format!("principal {principal}")));
    }
    if object_kind(conn, tenant, resource).await?.is_none() {
        return Err(not_found(format!("resource {resource}")));
    }
    let r = sqlx::query(
        "INSERT INTO app_role_assignments \
         (tenant_id, id, principal_id, resource_id, app_role_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(&a.id)
    .bind(principal)
    .bind(resource)
    .bind(a.app_role_id)
    .bind(ts(a.created_date_time)?)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("appRoleAssignment"));
    }
    Ok(())
}

async fn remove_assignment(conn: &mut PgConnection, tenant: Uuid, id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("appRoleAssignment {id}")));
    }
    Ok(())
}
