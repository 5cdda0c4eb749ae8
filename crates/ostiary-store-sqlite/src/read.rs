//! Read queries over directory objects, relations and app-role assignments.

use crate::codec::{decode_object, id_text, object_id, parse_kind, parse_ts, parse_uuid, principal_type};
use crate::error::db_err;
use crate::sql::{Qb, push_filter, push_order_by};
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId, ObjectKind, TenantId};
use ostiary_store::query::{decode_offset_token, encode_offset_token};
use ostiary_store::{AssignmentsBy, Filter, ListQuery, Page, Relation, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

/// Which objects a list query ranges over.
pub(crate) enum Source {
    Kind(ObjectKind),
    Related { relation: Relation, cast: Option<ObjectKind> },
}

fn object_from_row(row: &SqliteRow) -> Result<DirectoryObject, StoreError> {
    let id: String = row.try_get(0).map_err(db_err)?;
    let kind: String = row.try_get(1).map_err(db_err)?;
    let doc: String = row.try_get(2).map_err(db_err)?;
    decode_object(&id, &kind, &doc)
}

pub(crate) async fn get_object(
    pool: &SqlitePool,
    tenant: TenantId,
    id: ObjectId,
) -> Result<Option<DirectoryObject>, StoreError> {
    let row = sqlx::query("SELECT id, kind, doc FROM directory_objects WHERE tenant_id = ? AND id = ?")
        .bind(id_text(tenant.as_uuid()))
        .bind(id_text(id.as_uuid()))
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(object_from_row).transpose()
}

pub(crate) async fn get_objects(
    pool: &SqlitePool,
    tenant: TenantId,
    ids: &[ObjectId],
) -> Result<Vec<DirectoryObject>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One JSON array parameter instead of one parameter per id: no bind-count limit.
    let list: Vec<String> = ids.iter().map(|i| id_text(i.as_uuid())).collect();
    let list = serde_json::to_string(&list).map_err(|e| StoreError::Backend(e.to_string()))?;
    let rows = sqlx::query(
        "SELECT id, kind, doc FROM directory_objects \
         WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
    )
    .bind(id_text(tenant.as_uuid()))
    .bind(list)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(object_from_row).collect()
}

pub(crate) async fn find_by_unique_key(
    pool: &SqlitePool,
    tenant: TenantId,
    namespace: &str,
    value: &str,
) -> Result<Option<DirectoryObject>, StoreError> {
    let row = sqlx::query(
        "SELECT o.id, o.kind, o.doc FROM unique_keys u \
         JOIN directory_objects o ON o.tenant_id = u.tenant_id AND o.id = u.object_id \
         WHERE u.tenant_id = ? AND u.namespace = ? AND u.value = ?",
    )
    .bind(id_text(tenant.as_uuid()))
    .bind(namespace)
    .bind(value)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.as_ref().map(object_from_row).transpose()
}

/// The common `FROM ... WHERE ...` of a page query and its count, preceded by the relation
/// CTE when listing members / memberOf.
fn push_from_where(
    qb: &mut Qb,
    head: &str,
    tenant: &str,
    source: &Source,
    filter: Option<&Filter>,
) -> Result<(), StoreError> {
    match source {
        Source::Kind(kind) => {
            qb.push(head).push(" FROM directory_objects o");
            if filter.is_none() && head == COUNT {
                // All objects of a kind: most of the table for a big tenant, where SQLite's
                // cost model (which cannot see how wide the JSON rows are) prefers scanning
                // the table; the narrow (tenant_id, kind, id) index holds everything needed.
                qb.push(" INDEXED BY directory_objects_kind_id_idx");
            }
            qb.push(" WHERE o.tenant_id = ")
                .push_bind(tenant.to_string())
                .push(" AND o.kind = ")
                .push_bind(kind.as_str());
        }
        Source::Related { relation, cast } => {
            let (from_col, to_col, start, transitive) = match relation {
                Relation::Members { group, transitive } => ("group_id", "member_id", group, transitive),
                Relation::MemberOf { object, transitive } => ("member_id", "group_id", object, transitive),
            };
            qb.push(if *transitive { "WITH RECURSIVE rel(id) AS (" } else { "WITH rel(id) AS (" })
                .push(format_args!("SELECT {to_col} FROM memberships WHERE tenant_id = "))
                .push_bind(tenant.to_string())
                .push(format_args!(" AND {from_col} = "))
                .push_bind(id_text(start.as_uuid()));
            if *transitive {
                // UNION (not UNION ALL) drops revisited ids, so cycles terminate.
                qb.push(format_args!(
                    " UNION SELECT m.{to_col} FROM memberships m JOIN rel ON m.{from_col} = rel.id \
                     WHERE m.tenant_id = "
                ))
                .push_bind(tenant.to_string());
            }
            qb.push(") ")
                .push(head)
                .push(" FROM directory_objects o WHERE o.tenant_id = ")
                .push_bind(tenant.to_string())
                .push(" AND o.id IN (SELECT id FROM rel)");
            if let Some(kind) = cast {
                qb.push(" AND o.kind = ").push_bind(kind.as_str());
            }
        }
    }
    if let Some(f) = filter {
        qb.push(" AND ");
        push_filter(qb, f)?;
    }
    Ok(())
}

/// The page query of `list` (`prefix` is empty, or `EXPLAIN QUERY PLAN `).
fn page_query(prefix: &str, tenant: &str, source: &Source, query: &ListQuery, offset: i64) -> Result<Qb, StoreError> {
    let mut qb = Qb::new(prefix);
    push_from_where(&mut qb, "SELECT o.id, o.kind, o.doc", tenant, source, query.filter.as_ref())?;
    push_order_by(&mut qb, &query.order_by)?;
    qb.push(" LIMIT ").push_bind(i64::from(query.top) + 1).push(" OFFSET ").push_bind(offset);
    Ok(qb)
}

const COUNT: &str = "SELECT count(*)";

/// The count query of `list`.
fn count_query(prefix: &str, tenant: &str, source: &Source, query: &ListQuery) -> Result<Qb, StoreError> {
    let mut qb = Qb::new(prefix);
    push_from_where(&mut qb, COUNT, tenant, source, query.filter.as_ref())?;
    Ok(qb)
}

/// Validates the page size and decodes the skip token into an offset.
fn offset_of(query: &ListQuery) -> Result<i64, StoreError> {
    if query.top == 0 || query.top > 999 {
        return Err(StoreError::InvalidQuery("page size must be between 1 and 999".into()));
    }
    let offset = match &query.skip_token {
        Some(t) => decode_offset_token(t)?,
        None => 0,
    };
    i64::try_from(offset).map_err(|_| StoreError::InvalidQuery("invalid skip token".into()))
}

pub(crate) async fn list(
    pool: &SqlitePool,
    tenant: TenantId,
    source: Source,
    query: &ListQuery,
) -> Result<Page<DirectoryObject>, StoreError> {
    let offset = offset_of(query)?;
    let tenant = id_text(tenant.as_uuid());
    let mut qb = page_query("", &tenant, &source, query, offset)?;

    // One read transaction so that the page and the count see the same snapshot.
    let mut tx = pool.begin().await.map_err(db_err)?;
    let rows = qb.build().fetch_all(&mut *tx).await.map_err(db_err)?;
    let mut items = rows.iter().map(object_from_row).collect::<Result<Vec<_>, _>>()?;
    let top = usize::try_from(query.top).unwrap_or(usize::MAX);
    let next = if items.len() > top {
        items.truncate(top);
        let next = u64::try_from(offset).unwrap_or(0) + u64::from(query.top);
        Some(encode_offset_token(next))
    } else {
        None
    };
    let count = if query.count {
        let mut qb = count_query("", &tenant, &source, query)?;
        let n: i64 = qb.build().fetch_one(&mut *tx).await.map_err(db_err)?.try_get(0).map_err(db_err)?;
        Some(u64::try_from(n).unwrap_or(0))
    } else {
        None
    };
    tx.commit().await.map_err(db_err)?;
    Ok(Page { items, next, count })
}

/// `EXPLAIN QUERY PLAN` of exactly the SQL `list` runs: the page query, then (with
/// `query.count`) a line `-- count` and the count query's plan. One plan node per line,
/// indented by depth.
pub(crate) async fn explain_list(
    pool: &SqlitePool,
    tenant: TenantId,
    source: Source,
    query: &ListQuery,
) -> Result<String, StoreError> {
    const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";
    let offset = offset_of(query)?;
    let tenant = id_text(tenant.as_uuid());
    let mut out = String::new();
    let mut qb = page_query(EXPLAIN, &tenant, &source, query, offset)?;
    plan_lines(&mut out, &qb.build().fetch_all(pool).await.map_err(db_err)?)?;
    if query.count {
        out.push_str("-- count\n");
        let mut qb = count_query(EXPLAIN, &tenant, &source, query)?;
        plan_lines(&mut out, &qb.build().fetch_all(pool).await.map_err(db_err)?)?;
    }
    Ok(out)
}

/// Renders `EXPLAIN QUERY PLAN` rows (`id`, `parent`, `notused`, `detail`) as indented lines.
fn plan_lines(out: &mut String, rows: &[SqliteRow]) -> Result<(), StoreError> {
    let mut depth: Vec<(i64, usize)> = Vec::new();
    for row in rows {
        let id: i64 = row.try_get(0).map_err(db_err)?;
        let parent: i64 = row.try_get(1).map_err(db_err)?;
        let detail: String = row.try_get(3).map_err(db_err)?;
        let level = depth.iter().find(|(i, _)| *i == parent).map_or(0, |(_, l)| l + 1);
        depth.push((id, level));
        out.push_str(&"  ".repeat(level));
        out.push_str(&detail);
        out.push('\n');
    }
    Ok(())
}

pub(crate) async fn list_app_role_assignments(
    pool: &SqlitePool,
    tenant: TenantId,
    by: AssignmentsBy,
) -> Result<Vec<AppRoleAssignment>, StoreError> {
    let mut qb = Qb::new(
        "SELECT a.id, a.app_role_id, a.principal_id, a.resource_id, a.created_at, p.kind, \
         json_extract(p.doc, '$.displayName'), json_extract(r.doc, '$.displayName') \
         FROM app_role_assignments a \
         LEFT JOIN directory_objects p ON p.tenant_id = a.tenant_id AND p.id = a.principal_id \
         LEFT JOIN directory_objects r ON r.tenant_id = a.tenant_id AND r.id = a.resource_id \
         WHERE a.tenant_id = ",
    );
    qb.push_bind(id_text(tenant.as_uuid()));
    match by {
        AssignmentsBy::Principal(p) => {
            qb.push(" AND a.principal_id = ").push_bind(id_text(p.as_uuid()));
        }
        AssignmentsBy::Resource(r) => {
            qb.push(" AND a.resource_id = ").push_bind(id_text(r.as_uuid()));
        }
        AssignmentsBy::Id(id) => {
            qb.push(" AND a.id = ").push_bind(id);
        }
        AssignmentsBy::All => {}
    }
    qb.push(" ORDER BY a.created_at, a.id");
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(assignment_from_row).collect()
}

fn assignment_from_row(row: &SqliteRow) -> Result<AppRoleAssignment, StoreError> {
    let get = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    let get_opt = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db_err);
    let principal_type = match get_opt(5)? {
        Some(k) => principal_type(parse_kind(&k)?).to_string(),
        None => String::new(),
    };
    Ok(AppRoleAssignment {
        id: get(0)?,
        app_role_id: parse_uuid(&get(1)?)?,
        principal_id: object_id(&get(2)?)?,
        resource_id: object_id(&get(3)?)?,
        created_date_time: parse_ts(&get(4)?)?,
        principal_type,
        principal_display_name: get_opt(6)?.unwrap_or_default(),
        resource_display_name: get_opt(7)?.unwrap_or_default(),
    })
}
