//! Applies a `ChangeSet` (and the tenant-version bump) inside an open write transaction.

use crate::codec::{doc_text, id_text, parse_kind, ts};
use crate::error::db_err;
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind};
use ostiary_store::{Change, ChangeSet, StoreError};
use sqlx::{Row, SqliteConnection};

fn not_found(what: String) -> StoreError {
    StoreError::NotFound { what }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Conflict { key: key.to_string() }
}

/// Increments the tenant's version; `NotFound` if the tenant does not exist.
pub(crate) async fn bump_version(conn: &mut SqliteConnection, tenant: &str) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE tenants SET version = version + 1 WHERE id = ?")
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
pub(crate) async fn apply(conn: &mut SqliteConnection, tenant: &str, changes: &ChangeSet) -> Result<(), StoreError> {
    for change in &changes.changes {
        match change {
            Change::Expect(obj) => expect_object(conn, tenant, obj).await?,
            Change::CreateObject(obj) => create_object(conn, tenant, obj).await?,
            Change::UpdateObject(obj) => update_object(conn, tenant, obj).await?,
            Change::DeleteObject(id) => delete_object(conn, tenant, *id).await?,
            Change::AddMember { group, member } => add_member(conn, tenant, *group, *member).await?,
            Change::RemoveMember { group, member } => remove_member(conn, tenant, *group, *member).await?,
            Change::AddAppRoleAssignment(a) => add_assignment(conn, tenant, a).await?,
            Change::RemoveAppRoleAssignment { id } => remove_assignment(conn, tenant, id).await?,
        }
    }
    Ok(())
}

async fn object_kind(conn: &mut SqliteConnection, tenant: &str, id: &str) -> Result<Option<ObjectKind>, StoreError> {
    let row = sqlx::query("SELECT kind FROM directory_objects WHERE tenant_id = ? AND id = ?")
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
    conn: &mut SqliteConnection,
    tenant: &str,
    id: &str,
    obj: &DirectoryObject,
) -> Result<(), StoreError> {
    for (namespace, value) in obj.unique_keys() {
        let r = sqlx::query(
            "INSERT INTO unique_keys (tenant_id, namespace, value, object_id) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
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

/// `PreconditionFailed` unless the stored object is exactly `obj`: same kind, and a document
/// equal to `obj`'s encoding (compared as normalised JSON, not as raw text). Writers are
/// serialised (one SQLite writer), so the check holds until this transaction commits.
async fn expect_object(conn: &mut SqliteConnection, tenant: &str, obj: &DirectoryObject) -> Result<(), StoreError> {
    let row =
        sqlx::query("SELECT json(doc) = json(?) FROM directory_objects WHERE tenant_id = ? AND id = ? AND kind = ?")
            .bind(doc_text(obj)?)
            .bind(tenant)
            .bind(id_text(obj.id().as_uuid()))
            .bind(obj.kind().as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    let same = match row {
        Some(row) => row.try_get::<bool, _>(0).map_err(db_err)?,
        None => false,
    };
    if same { Ok(()) } else { Err(StoreError::PreconditionFailed) }
}

async fn create_object(conn: &mut SqliteConnection, tenant: &str, obj: &DirectoryObject) -> Result<(), StoreError> {
    let id = id_text(obj.id().as_uuid());
    let r = sqlx::query(
        "INSERT INTO directory_objects (tenant_id, id, kind, doc) VALUES (?, ?, ?, ?) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(&id)
    .bind(obj.kind().as_str())
    .bind(doc_text(obj)?)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("id"));
    }
    insert_unique_keys(conn, tenant, &id, obj).await
}

async fn update_object(conn: &mut SqliteConnection, tenant: &str, obj: &DirectoryObject) -> Result<(), StoreError> {
    let id = id_text(obj.id().as_uuid());
    if object_kind(conn, tenant, &id).await? != Some(obj.kind()) {
        return Err(not_found(format!("{} {id}", obj.kind().as_str())));
    }
    sqlx::query("UPDATE directory_objects SET doc = ? WHERE tenant_id = ? AND id = ?")
        .bind(doc_text(obj)?)
        .bind(tenant)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query("DELETE FROM unique_keys WHERE tenant_id = ? AND object_id = ?")
        .bind(tenant)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    insert_unique_keys(conn, tenant, &id, obj).await
}

async fn delete_object(conn: &mut SqliteConnection, tenant: &str, id: ObjectId) -> Result<(), StoreError> {
    let id = id_text(id.as_uuid());
    let r = sqlx::query("DELETE FROM directory_objects WHERE tenant_id = ? AND id = ?")
        .bind(tenant)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("object {id}")));
    }
    // The foreign keys cascade; these make the cleanup independent of `foreign_keys=ON`.
    for sql in [
        "DELETE FROM memberships WHERE tenant_id = ? AND group_id = ?",
        "DELETE FROM memberships WHERE tenant_id = ? AND member_id = ?",
        "DELETE FROM app_role_assignments WHERE tenant_id = ? AND principal_id = ?",
        "DELETE FROM app_role_assignments WHERE tenant_id = ? AND resource_id = ?",
        "DELETE FROM unique_keys WHERE tenant_id = ? AND object_id = ?",
    ] {
        sqlx::query(sql).bind(tenant).bind(&id).execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

async fn add_member(
    conn: &mut SqliteConnection,
    tenant: &str,
    group: ObjectId,
    member: ObjectId,
) -> Result<(), StoreError> {
    let group = id_text(group.as_uuid());
    let member = id_text(member.as_uuid());
    if object_kind(conn, tenant, &group).await? != Some(ObjectKind::Group) {
        return Err(not_found(format!("group {group}")));
    }
    if object_kind(conn, tenant, &member).await?.is_none() {
        return Err(not_found(format!("object {member}")));
    }
    let r = sqlx::query(
        "INSERT INTO memberships (tenant_id, group_id, member_id) VALUES (?, ?, ?) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(&group)
    .bind(&member)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("membership"));
    }
    Ok(())
}

async fn remove_member(
    conn: &mut SqliteConnection,
    tenant: &str,
    group: ObjectId,
    member: ObjectId,
) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM memberships WHERE tenant_id = ? AND group_id = ? AND member_id = ?")
        .bind(tenant)
        .bind(id_text(group.as_uuid()))
        .bind(id_text(member.as_uuid()))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(not_found(format!("membership of {member} in {group}")));
    }
    Ok(())
}

async fn add_assignment(conn: &mut SqliteConnection, tenant: &str, a: &AppRoleAssignment) -> Result<(), StoreError> {
    let principal = id_text(a.principal_id.as_uuid());
    let resource = id_text(a.resource_id.as_uuid());
    if object_kind(conn, tenant, &principal).await?.is_none() {
        return Err(not_found(format!("principal {principal}")));
    }
    if object_kind(conn, tenant, &resource).await?.is_none() {
        return Err(not_found(format!("resource {resource}")));
    }
    let r = sqlx::query(
        "INSERT INTO app_role_assignments \
         (tenant_id, id, principal_id, resource_id, app_role_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(&a.id)
    .bind(&principal)
    .bind(&resource)
    .bind(id_text(a.app_role_id))
    .bind(ts(a.created_date_time)?)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if r.rows_affected() == 0 {
        return Err(conflict("appRoleAssignment"));
    }
    Ok(())
}

async fn remove_assignment(conn: &mut SqliteConnection, tenant: &str, id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM app_role_assignments WHERE tenant_id = ? AND id = ?")
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
