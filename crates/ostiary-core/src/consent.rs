//! Delegated consent (Graph `oauth2PermissionGrant`: a client may call a resource with these
//! scopes, for all users or one user) and the directory-role markers used for admin consent
//! and the `wids` claim. Both are KV entries: grants are listed per client through the family
//! index; role assignments per principal through the user index.

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use crate::auth::Caller;
use crate::error::DirError;
use ostiary_model::{ObjectId, TenantId};
use ostiary_store::{KvEntry, KvOp, KvSelect, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Global Administrator's role template id (what appears in `wids`).
pub const GLOBAL_ADMIN_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionGrant {
    pub id: String,
    /// Object id of the client's service principal.
    pub client_id: ObjectId,
    /// "AllPrincipals" or "Principal".
    pub consent_type: String,
    pub principal_id: Option<ObjectId>,
    /// Object id of the resource's service principal.
    pub resource_id: ObjectId,
    /// Space-separated scope values.
    pub scope: String,
}

impl PermissionGrant {
    pub fn scopes(&self) -> BTreeSet<String> {
        self.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

fn grant_entry(g: &PermissionGrant) -> KvEntry {
    KvEntry {
        kind: "grant".into(),
        key: g.id.clone(),
        doc: serde_json::to_value(g).unwrap_or_default(),
        version: 1,
        expires_at: None,
        user_id: g.principal_id,
        family_id: Some(g.client_id.to_string()),
    }
}

impl Core {
    /// Every grant of a client service principal.
    pub async fn grants_of_client(
        &self,
        tenant: TenantId,
        client_sp: ObjectId,
    ) -> Result<Vec<(PermissionGrant, KvEntry)>, StoreError> {
        let entries =
            self.store.kv_list(tenant, "grant", &KvSelect::Family(client_sp.to_string()), 1000, self.now()).await?;
        Ok(entries.into_iter().filter_map(|e| serde_json::from_value(e.doc.clone()).ok().map(|g| (g, e))).collect())
    }

    /// The scopes `client_sp` may use on `resource_sp` for `user` (tenant-wide plus personal).
    pub async fn consented_scopes(
        &self,
        tenant: TenantId,
        client_sp: ObjectId,
        resource_sp: ObjectId,
        user: ObjectId,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut out = BTreeSet::new();
        for (g, _) in self.grants_of_client(tenant, client_sp).await? {
            let applies =
                g.resource_id == resource_sp && (g.consent_type == "AllPrincipals" || g.principal_id == Some(user));
            if applies {
                out.extend(g.scopes());
            }
        }
        Ok(out)
    }

    /// Adds scopes to the (client, resource, principal) grant, creating it if needed.
    pub async fn add_consent(
        &self,
        actor: &Actor,
        client_sp: ObjectId,
        resource_sp: ObjectId,
        principal: Option<ObjectId>,
        scopes: &[String],
    ) -> Result<PermissionGrant, StoreError> {
        let tenant = actor.tenant;
        let consent_type = if principal.is_some() { "Principal" } else { "AllPrincipals" };
        for _ in 0..3 {
            let existing = self.grants_of_client(tenant, client_sp).await?.into_iter().find(|(g, _)| {
                g.resource_id == resource_sp && g.consent_type == consent_type && g.principal_id == principal
            });
            let (grant, op) = match existing {
                Some((mut g, mut e)) => {
                    let mut all = g.scopes();
                    all.extend(scopes.iter().cloned());
                    g.scope = all.into_iter().collect::<Vec<_>>().join(" ");
                    e.doc = serde_json::to_value(&g).unwrap_or_default();
                    (g, KvOp::Update(e))
                }
                None => {
                    let g = PermissionGrant {
                        id: ostiary_crypto::rand::random_token(self.rng.as_ref(), 24),
                        client_id: client_sp,
                        consent_type: consent_type.into(),
                        principal_id: principal,
                        resource_id: resource_sp,
                        scope: scopes
                            .iter()
                            .cloned()
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    let e = grant_entry(&g);
                    (g, KvOp::Insert(e))
                }
            };
            let activity = Activity::new("Consent to application", "ApplicationManagement", "Assign")
                .target(Target::new(client_sp.to_string(), "ServicePrincipal"))
                .detail("ConsentType", consent_type)
                .detail("Scope", grant.scope.clone())
                .detail("ResourceId", resource_sp.to_string());
            let ops = [op, self.audit_op(actor, &activity)];
            match self.store.kv_apply(tenant, &ops, false, self.now()).await {
                Ok(()) => {
                    self.audit_committed(std::slice::from_ref(&activity));
                    return Ok(grant);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { key: "grant".into() })
    }

    /// Role template ids held by a principal (`wids`).
    pub async fn directory_roles(&self, tenant: TenantId, principal: ObjectId) -> Result<Vec<String>, StoreError> {
        let entries = self.store.kv_list(tenant, "roleAssignment", &KvSelect::User(principal), 100, self.now()).await?;
        Ok(entries
            .iter()
            .filter_map(|e| e.doc.get("roleTemplateId").and_then(|v| v.as_str()).map(str::to_string))
            .collect())
    }

    pub async fn assign_directory_role(
        &self,
        tenant: TenantId,
        principal: ObjectId,
        role_template: &str,
    ) -> Result<(), StoreError> {
        let e = KvEntry {
            kind: "roleAssignment".into(),
            key: format!("{principal}:{role_template}"),
            doc: serde_json::json!({ "principalId": principal, "roleTemplateId": role_template, "directoryScopeId": "/" }),
            version: 1,
            expires_at: None,
            user_id: Some(principal),
            family_id: None,
        };
        match self.store.kv_apply(tenant, &[KvOp::Insert(e)], false, self.now()).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // --- Graph /oauth2PermissionGrants ---------------------------------------------------

    fn require_grant_permission(caller: &Caller, write: bool) -> Result<(), DirError> {
        let ok = caller.roles.iter().any(|r| {
            r == "DelegatedPermissionGrant.ReadWrite.All"
                || r == "Directory.ReadWrite.All"
                || (!write && (r == "Directory.Read.All" || r == "DelegatedPermissionGrant.Read.All"))
        });
        if ok { Ok(()) } else { Err(DirError::Forbidden) }
    }

    pub async fn list_permission_grants(
        &self,
        caller: &Caller,
        client_sp: Option<ObjectId>,
    ) -> Result<Vec<PermissionGrant>, DirError> {
        Self::require_grant_permission(caller, false)?;
        let select = match client_sp {
            Some(c) => KvSelect::Family(c.to_string()),
            None => KvSelect::Prefix(String::new()),
        };
        let entries = self.store.kv_list(caller.tenant, "grant", &select, 1000, self.now()).await?;
        Ok(entries.into_iter().filter_map(|e| serde_json::from_value(e.doc).ok()).collect())
    }

    pub async fn get_permission_grant(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(PermissionGrant, KvEntry), DirError> {
        Self::require_grant_permission(caller, false)?;
        let e = self
            .store
            .kv_get(caller.tenant, "grant", id, self.now())
            .await?
            .ok_or_else(|| DirError::NotFound(id.to_string()))?;
        let g = serde_json::from_value(e.doc.clone()).map_err(|e| DirError::Internal(e.to_string()))?;
        Ok((g, e))
    }

    /// `POST /oauth2PermissionGrants`: validates the service principals and scope values.
    pub async fn create_permission_grant(
        &self,
        caller: &Caller,
        client_sp: ObjectId,
        consent_type: &str,
        principal: Option<ObjectId>,
        resource_sp: ObjectId,
        scope: &str,
    ) -> Result<PermissionGrant, DirError> {
        Self::require_grant_permission(caller, true)?;
        let principal = match (consent_type, principal) {
            ("AllPrincipals", None) => None,
            ("Principal", Some(p)) => Some(p),
            ("AllPrincipals", Some(_)) => {
                return Err(DirError::bad("principalId must be null when consentType is AllPrincipals."));
            }
            ("Principal", None) => return Err(DirError::bad("principalId is required when consentType is Principal.")),
            _ => return Err(DirError::bad("consentType must be AllPrincipals or Principal.")),
        };
        let scopes = self.validate_grant(caller.tenant, client_sp, resource_sp, principal, scope).await?;
        if self
            .grants_of_client(caller.tenant, client_sp)
            .await?
            .iter()
            .any(|(g, _)| g.resource_id == resource_sp && g.consent_type == consent_type && g.principal_id == principal)
        {
            return Err(DirError::Conflict("Permission entry already exists.".into()));
        }
        let g = PermissionGrant {
            id: ostiary_crypto::rand::random_token(self.rng.as_ref(), 24),
            client_id: client_sp,
            consent_type: consent_type.into(),
            principal_id: principal,
            resource_id: resource_sp,
            scope: scopes.join(" "),
        };
        let activity = grant_activity("Add delegated permission grant", "Assign", &g);
        let ops = [KvOp::Insert(grant_entry(&g)), self.audit_op(&Actor::from_caller(caller), &activity)];
        self.store.kv_apply(caller.tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(g)
    }

    pub async fn update_permission_grant_scope(&self, caller: &Caller, id: &str, scope: &str) -> Result<(), DirError> {
        Self::require_grant_permission(caller, true)?;
        let (mut g, mut e) = self.get_permission_grant(caller, id).await?;
        g.scope =
            self.validate_grant(caller.tenant, g.client_id, g.resource_id, g.principal_id, scope).await?.join(" ");
        e.doc = serde_json::to_value(&g).map_err(|e| DirError::Internal(e.to_string()))?;
        let activity = grant_activity("Update delegated permission grant", "Update", &g);
        let ops = [KvOp::Update(e), self.audit_op(&Actor::from_caller(caller), &activity)];
        self.store.kv_apply(caller.tenant, &ops, false, self.now()).await.map_err(|e| match e {
            StoreError::Conflict { .. } => DirError::Conflict("The grant changed concurrently; retry.".into()),
            other => DirError::from(other),
        })?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }

    pub async fn delete_permission_grant(&self, caller: &Caller, id: &str) -> Result<(), DirError> {
        Self::require_grant_permission(caller, true)?;
        let (g, _) = self.get_permission_grant(caller, id).await?;
        let activity = grant_activity("Remove delegated permission grant", "Unassign", &g);
        let ops = [
            KvOp::Delete { kind: "grant".into(), key: id.into() },
            self.audit_op(&Actor::from_caller(caller), &activity),
        ];
        self.store.kv_apply(caller.tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }

    async fn validate_grant(
        &self,
        tenant: TenantId,
        client_sp: ObjectId,
        resource_sp: ObjectId,
        principal: Option<ObjectId>,
        scope: &str,
    ) -> Result<Vec<String>, DirError> {
        use ostiary_model::DirectoryObject as D;
        let client = self.store.get_object(tenant, client_sp).await?;
        if !matches!(client, Some(D::ServicePrincipal(_))) {
            return Err(DirError::bad("clientId must be the object id of a service principal in this tenant."));
        }
        let Some(D::ServicePrincipal(resource)) = self.store.get_object(tenant, resource_sp).await? else {
            return Err(DirError::bad("resourceId must be the object id of a service principal in this tenant."));
        };
        if let Some(p) = principal
            && !matches!(self.store.get_object(tenant, p).await?, Some(D::User(_)))
        {
            return Err(DirError::bad("principalId must be a user of this tenant."));
        }
        let mut values: Vec<String> = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
        values.sort();
        values.dedup();
        if values.is_empty() || values.len() > 100 {
            return Err(DirError::bad("scope must list between 1 and 100 permission values."));
        }
        for v in &values {
            let known = crate::graph::OIDC_SCOPES.contains(&v.as_str())
                || resource
                    .oauth2_permission_scopes
                    .iter()
                    .any(|s| s.is_enabled && s.value.as_deref() == Some(v.as_str()));
            if !known {
                return Err(DirError::bad(format!(
                    "The scope '{}' is not a delegated permission of resource {}.",
                    ostiary_oauth::error::sanitize(v),
                    resource.display_name
                )));
            }
        }
        Ok(values)
    }
}

fn grant_activity(name: &str, operation: &'static str, g: &PermissionGrant) -> Activity {
    Activity::new(name, "ApplicationManagement", operation)
        .target(Target::new(g.client_id.to_string(), "ServicePrincipal"))
        .target(Target::new(g.resource_id.to_string(), "ServicePrincipal"))
        .detail("ConsentType", g.consent_type.clone())
        .detail("Scope", g.scope.clone())
}
