//! Directory audit records (Graph `directoryAudit`): who changed what, with old → new values
//! and secrets never shown. Built from a `ChangeSet` and the objects it replaces, then
//! committed in the same transaction as the change.

use crate::Caller;
use crate::logs::RequestContext;
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind, TenantId};
use ostiary_store::{Change, LogKind, NewLogRecord};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who made a change, as `initiatedBy` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub tenant: TenantId,
    pub user_id: Option<ObjectId>,
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    pub service_principal_id: Option<ObjectId>,
    pub ctx: RequestContext,
    /// The service that carried the change out, when not Graph (`loggedByService`): SCIM writes
    /// are logged as "Account Provisioning", like Entra's provisioning service.
    pub via: Option<&'static str>,
}

impl Actor {
    /// A Graph API caller: the user of a delegated token (with the app that called), or the
    /// application of an app-only token.
    pub fn from_caller(c: &Caller) -> Actor {
        Actor {
            tenant: c.tenant,
            user_id: (!c.is_app).then_some(c.object_id),
            user_principal_name: c.user_principal_name.clone(),
            app_id: Some(c.app_id.clone()).filter(|a| !a.is_empty()),
            app_display_name: c.app_display_name.clone(),
            service_principal_id: c.is_app.then_some(c.object_id),
            ctx: c.ctx.clone(),
            via: None,
        }
    }

    /// Ostiary itself (CLI, bootstrap, background jobs), named by `service`.
    pub fn system(tenant: TenantId, service: &str, correlation_id: String) -> Actor {
        Actor {
            tenant,
            user_id: None,
            user_principal_name: None,
            app_id: None,
            app_display_name: Some(service.to_string()),
            service_principal_id: None,
            ctx: RequestContext { ip: None, user_agent: None, correlation_id },
            via: None,
        }
    }

    /// A signed-in user acting on their own account (password change).
    pub fn user(tenant: TenantId, user: ObjectId, upn: &str, ctx: RequestContext) -> Actor {
        Actor {
            tenant,
            user_id: Some(user),
            user_principal_name: Some(upn.to_string()),
            app_id: None,
            app_display_name: None,
            service_principal_id: None,
            ctx,
            via: None,
        }
    }

    fn initiated_by(&self) -> Value {
        let user = self.user_id.map(|u| {
            json!({
                "id": u.to_string(),
                "displayName": null,
                "userPrincipalName": self.user_principal_name,
                "ipAddress": self.ctx.ip,
            })
        });
        let app = (self.app_id.is_some() || self.app_display_name.is_some()).then(|| {
            json!({
                "appId": self.app_id,
                "displayName": self.app_display_name,
                "servicePrincipalId": self.service_principal_id.map(|s| s.to_string()),
                "servicePrincipalName": null,
            })
        });
        json!({ "user": user, "app": app })
    }
}

/// A target of an audited activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    pub display_name: Option<String>,
    /// "User", "Group", "Application", "ServicePrincipal", "Policy", "Directory", "Other".
    pub kind: &'static str,
    pub user_principal_name: Option<String>,
    pub modified: Vec<Value>,
}

impl Target {
    pub fn new(id: impl Into<String>, kind: &'static str) -> Target {
        Target { id: id.into(), display_name: None, kind, user_principal_name: None, modified: Vec::new() }
    }

    pub fn of(obj: &DirectoryObject) -> Target {
        let upn = match obj {
            DirectoryObject::User(u) => Some(u.user_principal_name.clone()),
            _ => None,
        };
        Target {
            id: obj.id().to_string(),
            display_name: Some(display_name(obj)),
            kind: type_name(obj.kind()),
            user_principal_name: upn,
            modified: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "type": self.kind,
            "userPrincipalName": self.user_principal_name,
            "groupType": null,
            "modifiedProperties": self.modified,
        })
    }
}

/// One audited activity, before it becomes a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub name: String,
    pub category: &'static str,
    /// Add, Update, Delete, Assign, Unassign, Other.
    pub operation: &'static str,
    pub targets: Vec<Target>,
    pub success: bool,
    pub reason: String,
    pub details: Vec<(String, String)>,
}

impl Activity {
    pub fn new(name: impl Into<String>, category: &'static str, operation: &'static str) -> Activity {
        Activity {
            name: name.into(),
            category,
            operation,
            targets: Vec::new(),
            success: true,
            reason: String::new(),
            details: Vec::new(),
        }
    }

    pub fn target(mut self, t: Target) -> Activity {
        self.targets.push(t);
        self
    }

    pub fn failed(mut self, reason: impl Into<String>) -> Activity {
        self.success = false;
        self.reason = reason.into();
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Activity {
        self.details.push((key.to_string(), value.into()));
        self
    }

    /// The stored record.
    pub fn to_record(&self, actor: &Actor, id: uuid::Uuid, time: OffsetDateTime) -> NewLogRecord {
        let when = time.format(&Rfc3339).unwrap_or_default();
        let doc = json!({
            "id": id.to_string(),
            "category": self.category,
            "correlationId": actor.ctx.correlation_id,
            "result": if self.success { "success" } else { "failure" },
            "resultReason": self.reason,
            "activityDisplayName": self.name,
            "activityDateTime": when,
            "loggedByService": actor.via.unwrap_or("Core Directory"),
            "operationType": self.operation,
            "initiatedBy": actor.initiated_by(),
            "targetResources": self.targets.iter().map(Target::to_json).collect::<Vec<_>>(),
            "additionalDetails": self.details.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        });
        NewLogRecord {
            tenant: actor.tenant,
            kind: LogKind::Audit,
            id,
            time,
            principal_id: actor.user_id.or(actor.service_principal_id).map(|u| u.to_string()),
            principal_name: actor.user_principal_name.as_ref().map(|n| n.to_lowercase()),
            app_id: actor.app_id.clone(),
            correlation_id: Some(actor.ctx.correlation_id.clone()).filter(|c| !c.is_empty()),
            status: if self.success { 0 } else { 1 },
            category: self.category.to_string(),
            activity: self.name.clone(),
            doc,
        }
    }
}

fn type_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        ObjectKind::Application => "Application",
        ObjectKind::ServicePrincipal => "ServicePrincipal",
    }
}

fn kind_noun(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::User => ("user", "UserManagement"),
        ObjectKind::Group => ("group", "GroupManagement"),
        ObjectKind::Application => ("application", "ApplicationManagement"),
        ObjectKind::ServicePrincipal => ("service principal", "ApplicationManagement"),
    }
}

fn display_name(obj: &DirectoryObject) -> String {
    match obj {
        DirectoryObject::User(u) => u.display_name.clone(),
        DirectoryObject::Group(g) => g.display_name.clone(),
        DirectoryObject::Application(a) => a.display_name.clone(),
        DirectoryObject::ServicePrincipal(s) => s.display_name.clone(),
    }
}

/// Properties whose values are secret: their change is reported, their values never.
const SECRET_PROPERTIES: &[&str] = &["passwordHash"];

/// The stored document with secret material removed (hashes of client secrets; the
/// certificate bodies are public but large, so only their identifiers are kept).
fn redacted(obj: &DirectoryObject) -> Map<String, Value> {
    let mut doc = match obj.to_doc() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for list in ["passwordCredentials", "keyCredentials"] {
        if let Some(Value::Array(items)) = doc.get_mut(list) {
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    m.remove("secretHash");
                    m.remove("key");
                }
            }
        }
    }
    doc
}

/// Entra renders values as a JSON array in a string: `"[true]"`, `"[\"Ada\"]"`, `"[]"`.
fn entra_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "[]".to_string(),
        Some(v) => format!("[{v}]"),
    }
}

/// `modifiedProperties` between two versions of an object (either may be absent).
pub fn modified_properties(old: Option<&DirectoryObject>, new: Option<&DirectoryObject>) -> Vec<Value> {
    diff(&old.map(redacted).unwrap_or_default(), &new.map(redacted).unwrap_or_default())
}

/// `modifiedProperties` between two JSON objects (settings, policies).
pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<Value> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .filter(|k| !(old.get(*k).is_none() && new.get(*k).is_some_and(Value::is_null)))
        .map(|k| {
            if SECRET_PROPERTIES.contains(&k.as_str()) {
                json!({ "displayName": "passwordProfile", "oldValue": null, "newValue": null })
            } else {
                json!({
                    "displayName": k,
                    "oldValue": entra_value(old.get(k)),
                    "newValue": entra_value(new.get(k)),
                })
            }
        })
        .collect()
}

/// The activities a set of directory changes amounts to. `before` holds the stored objects
/// that updates and deletes replace, and every object that memberships and assignments
/// refer to (as far as they exist).
pub fn activities_for(changes: &[Change], before: &HashMap<ObjectId, DirectoryObject>) -> Vec<Activity> {
    let mut out = Vec::new();
    let lookup = |id: &ObjectId| -> Target {
        match before.get(id) {
            Some(o) => Target::of(o),
            None => Target::new(id.to_string(), "Other"),
        }
    };
    for change in changes {
        match change {
            // A precondition changes nothing and is not an activity.
            Change::Expect(_) => {}
            Change::CreateObject(o) => {
                let (noun, cat) = kind_noun(o.kind());
                let mut t = Target::of(o);
                t.modified = modified_properties(None, Some(o));
                out.push(Activity::new(format!("Add {noun}"), cat, "Add").target(t));
            }
            Change::UpdateObject(o) => {
                let (noun, cat) = kind_noun(o.kind());
                let old = before.get(&o.id());
                let mut t = Target::of(o);
                t.modified = modified_properties(old, Some(o));
                let names: Vec<&str> = t.modified.iter().filter_map(|m| m["displayName"].as_str()).collect();
                // A password set by someone else also touches its bookkeeping properties.
                let password_only = names.contains(&"passwordProfile")
                    && names.iter().all(|n| {
                        matches!(*n, "passwordProfile" | "lastPasswordChangeDateTime" | "forceChangePasswordNextSignIn")
                    });
                let name = if password_only {
                    "Reset user password".to_string()
                } else if o.kind() == ObjectKind::Application
                    && names.iter().any(|n| *n == "passwordCredentials" || *n == "keyCredentials")
                {
                    "Update application – Certificates and secrets management".to_string()
                } else {
                    format!("Update {noun}")
                };
                out.push(Activity::new(name, cat, "Update").target(t));
            }
            Change::DeleteObject(id) => match before.get(id) {
                Some(o) => {
                    let (noun, cat) = kind_noun(o.kind());
                    out.push(Activity::new(format!("Delete {noun}"), cat, "Delete").target(Target::of(o)));
                }
                None => out.push(
                    Activity::new("Delete directory object", "DirectoryManagement", "Delete")
                        .target(Target::new(id.to_string(), "Other")),
                ),
            },
            Change::AddMember { group, member } => out.push(
                Activity::new("Add member to group", "GroupManagement", "Assign")
                    .target(lookup(group))
                    .target(lookup(member)),
            ),
            Change::RemoveMember { group, member } => out.push(
                Activity::new("Remove member from group", "GroupManagement", "Unassign")
                    .target(lookup(group))
                    .target(lookup(member)),
            ),
            Change::AddAppRoleAssignment(a) => {
                let principal = lookup(&a.principal_id);
                let name = match principal.kind {
                    "User" => "Add app role assignment grant to user",
                    "Group" => "Add app role assignment to group",
                    _ => "Add app role assignment to service principal",
                };
                let mut resource = lookup(&a.resource_id);
                resource.modified = vec![json!({
                    "displayName": "AppRole.Id",
                    "oldValue": "[]",
                    "newValue": entra_value(Some(&json!(a.app_role_id.to_string()))),
                })];
                out.push(
                    Activity::new(name, "ApplicationManagement", "Assign")
                        .target(resource)
                        .target(principal)
                        .detail("AppRoleAssignmentId", a.id.clone()),
                );
            }
            Change::RemoveAppRoleAssignment { id } => out.push(
                Activity::new("Remove app role assignment", "ApplicationManagement", "Unassign")
                    .target(Target::new(id.clone(), "Other")),
            ),
        }
    }
    out
}

/// Ids of the stored objects `activities_for` needs for these changes.
pub fn objects_needed(changes: &[Change]) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    for c in changes {
        match c {
            Change::UpdateObject(o) => ids.push(o.id()),
            Change::DeleteObject(id) => ids.push(*id),
            Change::AddMember { group, member } | Change::RemoveMember { group, member } => {
                ids.push(*group);
                ids.push(*member);
            }
            Change::AddAppRoleAssignment(a) => {
                ids.push(a.principal_id);
                ids.push(a.resource_id);
            }
            Change::Expect(_) | Change::CreateObject(_) | Change::RemoveAppRoleAssignment { .. } => {}
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

impl crate::Core {
    /// The KV op that appends `activity`'s record inside a `kv_apply` batch.
    pub(crate) fn audit_op(&self, actor: &Actor, activity: &Activity) -> ostiary_store::KvOp {
        ostiary_store::KvOp::AppendLog(Box::new(activity.to_record(actor, self.new_uuid(), self.now())))
    }

    /// After audited changes committed: count them and wake the exporters.
    pub(crate) fn audit_committed(&self, activities: &[Activity]) {
        for a in activities {
            self.metrics.audit_events.inc(&[a.category]);
        }
        self.log_writer.appended.notify_waiters();
    }

    /// Records an activity that has no other write to ride with (key rotation, refused
    /// requests, expiry reports). Failures to record are logged, not returned: the caller's
    /// outcome does not depend on them.
    pub async fn record_audit(&self, actor: &Actor, activity: Activity) {
        let record = activity.to_record(actor, self.new_uuid(), self.now());
        match self.store.append_logs(std::slice::from_ref(&record)).await {
            Ok(()) => self.audit_committed(std::slice::from_ref(&activity)),
            Err(e) => tracing::error!(error = %e, activity = %activity.name, "cannot record an audit event"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entra_values() {
        assert_eq!(entra_value(None), "[]");
        assert_eq!(entra_value(Some(&json!(true))), "[true]");
        assert_eq!(entra_value(Some(&json!("Ada"))), "[\"Ada\"]");
    }
}
