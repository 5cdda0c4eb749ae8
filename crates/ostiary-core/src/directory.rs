//! Directory administration use cases behind the Graph-shaped API: users, groups and their
//! memberships, applications with their credentials, service principals, and app-role
//! assignments. Every write validates, checks the caller's permission, and commits one
//! `ChangeSet`; the tenant cache is invalidated afterwards.

use crate::Core;
use crate::audit::{self, Actor};
use crate::auth::{Caller, Permission};
use crate::error::DirError;
use crate::graph::MICROSOFT_TENANT;
use ostiary_crypto::secret::{Secret, generate_client_secret, hash_client_secret};
use ostiary_crypto::x509::Certificate;
use ostiary_model::validate;
use ostiary_model::{
    AppRoleAssignment, Application, DirectoryObject, Group, KeyCredential, ObjectId, ObjectKind, PasswordCredential,
    ServicePrincipal, TenantId, User,
};
use ostiary_store::{AssignmentsBy, Change, ChangeSet, ListQuery, Page, Relation};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;
use uuid::Uuid;

/// A certificate credential as a client sends it: a new certificate (`key`) or a reference to
/// an existing one by `key_id` (Graph's PATCH replaces the whole list).
#[derive(Debug, Clone, Default)]
pub struct KeyCredentialInput {
    pub key_id: Option<Uuid>,
    pub display_name: Option<String>,
    /// Base64 DER (or PEM) of the certificate.
    pub key: Option<String>,
    pub kind: Option<String>,
    pub usage: Option<String>,
    pub start_date_time: Option<OffsetDateTime>,
    pub end_date_time: Option<OffsetDateTime>,
}

fn read_permission(kind: ObjectKind) -> Permission {
    match kind {
        ObjectKind::User => Permission::ReadUsers,
        ObjectKind::Group => Permission::ReadGroups,
        ObjectKind::Application | ObjectKind::ServicePrincipal => Permission::ReadApps,
    }
}

fn write_permission(kind: ObjectKind) -> Permission {
    match kind {
        ObjectKind::User => Permission::WriteUsers,
        ObjectKind::Group => Permission::WriteGroups,
        ObjectKind::Application | ObjectKind::ServicePrincipal => Permission::WriteApps,
    }
}

/// Entra's rule: 8 to 256 characters and three of the four character classes.
pub fn check_password_policy(password: &str) -> Result<(), DirError> {
    let len = password.chars().count();
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if !(8..=256).contains(&len) || classes < 3 || password.chars().any(char::is_control) {
        return Err(DirError::bad(
            "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ));
    }
    Ok(())
}

impl Core {
    async fn commit(&self, caller: &Caller, cs: ChangeSet) -> Result<(), DirError> {
        self.commit_as(&Actor::from_caller(caller), cs).await
    }

    /// Commits directory changes together with their audit records (one transaction: no
    /// change without its record). The "before" images are read just ahead of the commit, so
    /// under concurrent writers to the same object an old value may already be stale.
    pub async fn commit_as(&self, actor: &Actor, mut cs: ChangeSet) -> Result<(), DirError> {
        let tenant = actor.tenant;
        let needed = audit::objects_needed(&cs.changes);
        let before: HashMap<ObjectId, DirectoryObject> = if needed.is_empty() {
            HashMap::new()
        } else {
            self.store.get_objects(tenant, &needed).await?.into_iter().map(|o| (o.id(), o)).collect()
        };
        let now = self.now();
        let activities = audit::activities_for(&cs.changes, &before);
        for a in &activities {
            cs.audit.push(a.to_record(actor, self.new_uuid(), now));
        }
        let r = self.store.commit(tenant, &cs).await;
        self.cache.invalidate(tenant);
        r.map_err(DirError::from_store)?;
        self.audit_committed(&activities);
        Ok(())
    }

    async fn load(&self, caller: &Caller, id: ObjectId) -> Result<DirectoryObject, DirError> {
        self.store.get_object(caller.tenant, id).await?.ok_or_else(|| DirError::NotFound(id.to_string()))
    }

    async fn load_kind(&self, caller: &Caller, kind: ObjectKind, id: ObjectId) -> Result<DirectoryObject, DirError> {
        match self.load(caller, id).await? {
            o if o.kind() == kind => Ok(o),
            _ => Err(DirError::NotFound(id.to_string())),
        }
    }

    /// `GET /{collection}/{id}`; `kind = None` for `/directoryObjects/{id}`.
    pub async fn get_object(
        &self,
        caller: &Caller,
        kind: Option<ObjectKind>,
        id: ObjectId,
    ) -> Result<DirectoryObject, DirError> {
        let obj = match kind {
            Some(k) => {
                caller.require(read_permission(k))?;
                self.load_kind(caller, k, id).await?
            }
            None => {
                let o = self.load(caller, id).await?;
                caller.require(read_permission(o.kind()))?;
                o
            }
        };
        Ok(obj)
    }

    /// `/users/{id | userPrincipalName}`.
    pub async fn find_user(&self, caller: &Caller, key: &str) -> Result<User, DirError> {
        caller.require(Permission::ReadUsers)?;
        let obj = match key.parse::<ObjectId>() {
            Ok(id) => self.store.get_object(caller.tenant, id).await?,
            Err(_) => self.store.find_by_unique_key(caller.tenant, "upn", &key.to_lowercase()).await?,
        };
        match obj {
            Some(DirectoryObject::User(u)) => Ok(u),
            _ => Err(DirError::NotFound(key.to_string())),
        }
    }

    pub async fn list_objects(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        q: &ListQuery,
    ) -> Result<Page<DirectoryObject>, DirError> {
        caller.require(read_permission(kind))?;
        Ok(self.store.list_objects(caller.tenant, kind, q).await?)
    }

    /// Members / memberOf of an object that must exist.
    pub async fn list_related(
        &self,
        caller: &Caller,
        relation: Relation,
        q: &ListQuery,
    ) -> Result<Page<DirectoryObject>, DirError> {
        caller.require(Permission::ReadGroups)?;
        match relation {
            Relation::Members { group, .. } => {
                self.load_kind(caller, ObjectKind::Group, group).await?;
            }
            Relation::MemberOf { object, .. } => {
                let o = self.load(caller, object).await?;
                caller.require(read_permission(o.kind()))?;
            }
        }
        Ok(self.store.list_related(caller.tenant, relation, q).await?)
    }

    pub(crate) async fn tenant_domains(&self, tenant: TenantId) -> Result<Vec<String>, DirError> {
        let t = self.store.get_tenant(tenant).await?.ok_or_else(|| DirError::NotFound(tenant.to_string()))?;
        Ok(vec![t.initial_domain.to_ascii_lowercase()])
    }

    pub(crate) async fn validate_user(&self, caller: &Caller, u: &User) -> Result<(), DirError> {
        Self::validate_user_in(u, &self.tenant_domains(caller.tenant).await?)
    }

    /// `validate_user` with the tenant's domains already read (batches read them once).
    pub(crate) fn validate_user_in(u: &User, domains: &[String]) -> Result<(), DirError> {
        validate::display_name("displayName", &u.display_name)?;
        validate::mail_nickname(&u.mail_nickname)?;
        let domain = validate::user_principal_name(&u.user_principal_name)?;
        if !domains.contains(&domain) {
            return Err(DirError::bad("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.".to_string()));
        }
        if !matches!(u.user_type.as_str(), "Member" | "Guest") {
            return Err(DirError::bad("Invalid value specified for property 'userType' of resource 'User'."));
        }
        for m in u.mail.iter().chain(u.other_mails.iter()) {
            if !m.contains('@') || m.len() > 256 {
                return Err(DirError::bad("Invalid value specified for property 'mail' of resource 'User'."));
            }
        }
        Ok(())
    }

    /// Creates a user; `id` and `createdDateTime` of `user` are assigned here.
    pub async fn create_user(
        &self,
        caller: &Caller,
        mut user: User,
        password: Option<String>,
    ) -> Result<User, DirError> {
        caller.require(Permission::WriteUsers)?;
        user.id = ObjectId::from_uuid(self.new_uuid());
        user.created_date_time = self.now_seconds();
        user.last_modified_date_time = Some(user.created_date_time);
        self.validate_user(caller, &user).await?;
        if let Some(p) = password {
            self.check_password(caller.tenant, &p).await?;
            user.password_hash = Some(self.hash_password(p).await.map_err(|e| DirError::Internal(e.to_string()))?);
            user.last_password_change_date_time = Some(user.created_date_time);
        }
        self.commit(caller, ChangeSet::one(Change::CreateObject(DirectoryObject::User(user.clone())))).await?;
        Ok(user)
    }

    /// Applies `patch` to the stored user; the patch may return a new password to set.
    pub async fn update_user<F>(&self, caller: &Caller, key: &str, patch: F) -> Result<User, DirError>
    where
        F: FnOnce(&mut User) -> Result<Option<String>, DirError> + Send,
    {
        caller.require(Permission::WriteUsers)?;
        let mut user = self.find_user(caller, key).await?;
        let id = user.id;
        let new_password = patch(&mut user)?;
        user.id = id;
        user.last_modified_date_time = Some(self.now_seconds());
        self.validate_user(caller, &user).await?;
        if let Some(p) = new_password {
            self.check_password(caller.tenant, &p).await?;
            user.password_hash = Some(self.hash_password(p).await.map_err(|e| DirError::Internal(e.to_string()))?);
            user.last_password_change_date_time = Some(self.now_seconds());
        }
        self.commit(caller, ChangeSet::one(Change::UpdateObject(DirectoryObject::User(user.clone())))).await?;
        Ok(user)
    }

    /// Deletes an object of `kind`. Deleting an application also deletes its service principal.
    pub async fn delete_object(&self, caller: &Caller, kind: ObjectKind, key: &str) -> Result<(), DirError> {
        caller.require(write_permission(kind))?;
        let obj = if kind == ObjectKind::User {
            DirectoryObject::User(self.find_user(caller, key).await?)
        } else {
            let id = key.parse::<ObjectId>().map_err(|_| DirError::NotFound(key.to_string()))?;
            self.load_kind(caller, kind, id).await?
        };
        let mut cs = ChangeSet::one(Change::DeleteObject(obj.id()));
        match &obj {
            DirectoryObject::Application(app) => {
                if let Some(DirectoryObject::ServicePrincipal(sp)) =
                    self.store.find_by_unique_key(caller.tenant, "spAppId", &app.app_id.to_string()).await?
                {
                    cs.push(Change::DeleteObject(sp.id));
                }
            }
            DirectoryObject::ServicePrincipal(sp) if sp.app_owner_organization_id == Some(MICROSOFT_TENANT) => {
                return Err(DirError::bad("First-party service principals cannot be deleted."));
            }
            DirectoryObject::ServicePrincipal(sp) if sp.id == caller.object_id => {
                return Err(DirError::bad("A service principal cannot delete itself."));
            }
            _ => {}
        }
        self.commit(caller, cs).await
    }

    pub(crate) fn validate_group(g: &Group) -> Result<(), DirError> {
        validate::display_name("displayName", &g.display_name)?;
        validate::mail_nickname(&g.mail_nickname)?;
        if let Some(d) = &g.description
            && d.chars().count() > 1024
        {
            return Err(DirError::bad("Invalid value specified for property 'description' of resource 'Group'."));
        }
        if g.mail_enabled && !g.group_types.iter().any(|t| t == "Unified") {
            return Err(DirError::bad(
                "Mail-enabled security groups and distribution lists cannot be created through this API.",
            ));
        }
        if !g.security_enabled && !g.group_types.iter().any(|t| t == "Unified") {
            return Err(DirError::bad(
                "A group must be a security group (securityEnabled: true) or a Microsoft 365 group (groupTypes: ['Unified']).",
            ));
        }
        for t in &g.group_types {
            if !matches!(t.as_str(), "Unified" | "DynamicMembership") {
                return Err(DirError::bad(format!(
                    "Invalid value '{}' for property 'groupTypes'.",
                    ostiary_oauth::error::sanitize(t)
                )));
            }
        }
        Ok(())
    }

    /// Creates a group with optional initial members (`members@odata.bind`).
    pub async fn create_group(
        &self,
        caller: &Caller,
        mut group: Group,
        members: Vec<ObjectId>,
    ) -> Result<Group, DirError> {
        caller.require(Permission::WriteGroups)?;
        group.id = ObjectId::from_uuid(self.new_uuid());
        group.created_date_time = self.now_seconds();
        group.last_modified_date_time = Some(group.created_date_time);
        Self::validate_group(&group)?;
        let mut cs = ChangeSet::one(Change::CreateObject(DirectoryObject::Group(group.clone())));
        let mut seen = HashSet::new();
        for m in members {
            if seen.insert(m) {
                // Same rule as `add_member`: the object must exist here and not be an application.
                if self.load(caller, m).await?.kind() == ObjectKind::Application {
                    return Err(DirError::bad(
                        "Applications cannot be group members; add the service principal instead.",
                    ));
                }
                cs.push(Change::AddMember { group: group.id, member: m });
            }
        }
        self.commit(caller, cs).await?;
        Ok(group)
    }

    pub async fn update_group<F>(&self, caller: &Caller, id: ObjectId, patch: F) -> Result<Group, DirError>
    where
        F: FnOnce(&mut Group) -> Result<(), DirError> + Send,
    {
        caller.require(Permission::WriteGroups)?;
        let DirectoryObject::Group(mut g) = self.load_kind(caller, ObjectKind::Group, id).await? else {
            return Err(DirError::NotFound(id.to_string()));
        };
        patch(&mut g)?;
        g.id = id;
        g.last_modified_date_time = Some(self.now_seconds());
        Self::validate_group(&g)?;
        self.commit(caller, ChangeSet::one(Change::UpdateObject(DirectoryObject::Group(g.clone())))).await?;
        Ok(g)
    }

    /// Adds `member` to `group`, refusing membership cycles.
    pub async fn add_member(&self, caller: &Caller, group: ObjectId, member: ObjectId) -> Result<(), DirError> {
        caller.require(Permission::WriteMembers)?;
        self.load_kind(caller, ObjectKind::Group, group).await?;
        let m = self.load(caller, member).await?;
        if m.kind() == ObjectKind::Application {
            return Err(DirError::bad("Applications cannot be group members; add the service principal instead."));
        }
        if m.kind() == ObjectKind::Group {
            if member == group {
                return Err(DirError::bad("A group cannot be a member of itself."));
            }
            let q = ListQuery { top: 999, cast: Some(ObjectKind::Group), ..ListQuery::default() };
            let mut q = q;
            loop {
                let page = self
                    .store
                    .list_related(caller.tenant, Relation::Members { group: member, transitive: true }, &q)
                    .await?;
                if page.items.iter().any(|o| o.id() == group) {
                    return Err(DirError::bad("Adding this member would create a circular group membership."));
                }
                match page.next {
                    Some(n) => q.skip_token = Some(n),
                    None => break,
                }
            }
        }
        self.commit(caller, ChangeSet::one(Change::AddMember { group, member })).await
    }

    pub async fn remove_member(&self, caller: &Caller, group: ObjectId, member: ObjectId) -> Result<(), DirError> {
        caller.require(Permission::WriteMembers)?;
        self.load_kind(caller, ObjectKind::Group, group).await?;
        self.commit(caller, ChangeSet::one(Change::RemoveMember { group, member })).await
    }

    fn validate_application(app: &Application, previous: Option<&Application>) -> Result<(), DirError> {
        validate::display_name("displayName", &app.display_name)?;
        if !matches!(
            app.sign_in_audience.as_str(),
            "AzureADMyOrg" | "AzureADMultipleOrgs" | "AzureADandPersonalMicrosoftAccount" | "PersonalMicrosoftAccount"
        ) {
            return Err(DirError::bad(
                "Invalid value specified for property 'signInAudience' of resource 'Application'.",
            ));
        }
        let mut uris = HashSet::new();
        for u in &app.identifier_uris {
            validate::identifier_uri(u)?;
            if !uris.insert(u.to_lowercase()) {
                return Err(DirError::bad("identifierUris contains duplicate values."));
            }
        }
        let (mut ids, mut values) = (HashSet::new(), HashSet::new());
        for r in &app.app_roles {
            if !ids.insert(r.id) {
                return Err(DirError::bad("appRoles contains duplicate ids."));
            }
            if let Some(v) = &r.value {
                if v.is_empty()
                    || v.len() > 249
                    || v.starts_with('.')
                    || v.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(DirError::bad(
                        "App role values must be 1 to 249 characters without spaces and must not start with '.'.",
                    ));
                }
                if !values.insert(v.clone()) {
                    return Err(DirError::bad("appRoles contains duplicate values."));
                }
            }
            if r.allowed_member_types.is_empty()
                || r.allowed_member_types.iter().any(|t| t != "User" && t != "Application")
            {
                return Err(DirError::bad("allowedMemberTypes must contain 'User' and/or 'Application'."));
            }
        }
        let mut scope_ids = HashSet::new();
        for s in &app.api.oauth2_permission_scopes {
            if !scope_ids.insert(s.id) || ids.contains(&s.id) {
                return Err(DirError::bad("oauth2PermissionScopes ids must be unique and differ from app role ids."));
            }
            if let Some(v) = &s.value
                && (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) || !values.insert(v.clone()))
            {
                return Err(DirError::bad("Permission scope values must be unique and contain no spaces."));
            }
        }
        if let Some(alg) = &app.api.access_token_signing_algorithm
            && alg != "RS256"
            && alg != "ES256"
        {
            return Err(DirError::bad("api.accessTokenSigningAlgorithm must be RS256 or ES256."));
        }
        for u in app.web.redirect_uris.iter().chain(&app.spa.redirect_uris).chain(&app.public_client.redirect_uris) {
            validate::redirect_uri(u)?;
        }
        if let Some(prev) = previous {
            // Graph refuses to drop or change an enabled role or scope: disable it first.
            for old in prev.app_roles.iter().filter(|r| r.is_enabled) {
                match app.app_roles.iter().find(|r| r.id == old.id) {
                    Some(new) if new.value == old.value => {}
                    _ => {
                        return Err(DirError::bad(
                            "CannotDeleteOrUpdateEnabledEntitlement: disable the app role before changing or removing it.",
                        ));
                    }
                }
            }
            for old in prev.api.oauth2_permission_scopes.iter().filter(|s| s.is_enabled) {
                match app.api.oauth2_permission_scopes.iter().find(|s| s.id == old.id) {
                    Some(new) if new.value == old.value => {}
                    _ => {
                        return Err(DirError::bad(
                            "CannotDeleteOrUpdateEnabledEntitlement: disable the permission scope before changing or removing it.",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Resolves Graph's whole-list `keyCredentials` semantics: inputs with a `key` add a
    /// certificate; inputs with only a `keyId` keep the existing one.
    pub fn resolve_key_credentials(
        &self,
        existing: &[KeyCredential],
        inputs: Vec<KeyCredentialInput>,
    ) -> Result<Vec<KeyCredential>, DirError> {
        if inputs.len() > 50 {
            return Err(DirError::bad("Too many keyCredentials."));
        }
        let mut out: Vec<KeyCredential> = Vec::new();
        for input in inputs {
            let kc = match (&input.key, input.key_id) {
                (Some(key), _) => {
                    let der = if key.contains("-----BEGIN") {
                        Certificate::from_pem(key)
                            .map(|c| c.der)
                            .map_err(|_| DirError::bad("keyCredentials.key is not a valid certificate."))?
                    } else {
                        ostiary_crypto::b64::std_decode(key.trim())
                            .map_err(|_| DirError::bad("keyCredentials.key must be base64."))?
                    };
                    let cert = Certificate::from_der(&der)
                        .map_err(|_| DirError::bad("keyCredentials.key is not a valid X.509 certificate."))?;
                    if !matches!(input.kind.as_deref(), None | Some("AsymmetricX509Cert"))
                        || !matches!(input.usage.as_deref(), None | Some("Verify"))
                    {
                        return Err(DirError::bad(
                            "Only keyCredentials of type AsymmetricX509Cert with usage Verify are supported.",
                        ));
                    }
                    let start = input.start_date_time.unwrap_or(cert.not_before).max(cert.not_before);
                    let end = input.end_date_time.unwrap_or(cert.not_after).min(cert.not_after);
                    if end <= start {
                        return Err(DirError::bad("The certificate credential's validity period is empty."));
                    }
                    KeyCredential {
                        key_id: input.key_id.unwrap_or_else(|| self.new_uuid()),
                        display_name: input
                            .display_name
                            .or_else(|| cert.subject_cn.clone().map(|cn| format!("CN={cn}"))),
                        kind: "AsymmetricX509Cert".into(),
                        usage: "Verify".into(),
                        custom_key_identifier: ostiary_crypto::b64::std_encode(&cert.sha1_thumbprint()),
                        sha256_thumbprint: ostiary_crypto::b64::url_encode(&cert.sha256_thumbprint()),
                        start_date_time: start.replace_nanosecond(0).unwrap_or(start),
                        end_date_time: end.replace_nanosecond(0).unwrap_or(end),
                        key: ostiary_crypto::b64::std_encode(&der),
                    }
                }
                (None, Some(id)) => existing
                    .iter()
                    .find(|k| k.key_id == id)
                    .cloned()
                    .ok_or_else(|| DirError::bad(format!("keyCredential {id} does not exist; provide its key.")))?,
                (None, None) => {
                    return Err(DirError::bad("Each keyCredential needs a key or the keyId of an existing one."));
                }
            };
            if out.iter().any(|k| k.key_id == kc.key_id || k.custom_key_identifier == kc.custom_key_identifier) {
                return Err(DirError::bad("keyCredentials contains the same certificate or keyId twice."));
            }
            out.push(kc);
        }
        Ok(out)
    }

    /// Creates an application; `id`, `appId` and `createdDateTime` are assigned here.
    pub async fn create_application(
        &self,
        caller: &Caller,
        mut app: Application,
        keys: Vec<KeyCredentialInput>,
    ) -> Result<Application, DirError> {
        caller.require(Permission::WriteApps)?;
        app.id = ObjectId::from_uuid(self.new_uuid());
        app.app_id = self.new_uuid();
        app.created_date_time = self.now_seconds();
        app.password_credentials.clear();
        app.key_credentials = self.resolve_key_credentials(&[], keys)?;
        Self::validate_application(&app, None)?;
        self.commit(caller, ChangeSet::one(Change::CreateObject(DirectoryObject::Application(app.clone())))).await?;
        Ok(app)
    }

    async fn load_application(&self, caller: &Caller, key: &str) -> Result<Application, DirError> {
        let obj = match key.parse::<ObjectId>() {
            Ok(id) => self.store.get_object(caller.tenant, id).await?,
            Err(_) => None,
        };
        match obj {
            Some(DirectoryObject::Application(a)) => Ok(a),
            _ => Err(DirError::NotFound(key.to_string())),
        }
    }

    /// `GET /applications(appId='...')` and friends.
    pub async fn find_application_by_app_id(&self, caller: &Caller, app_id: &str) -> Result<Application, DirError> {
        caller.require(Permission::ReadApps)?;
        let id = Uuid::parse_str(app_id).map_err(|_| DirError::NotFound(app_id.to_string()))?;
        match self.store.find_by_unique_key(caller.tenant, "appId", &id.to_string()).await? {
            Some(DirectoryObject::Application(a)) => Ok(a),
            _ => Err(DirError::NotFound(app_id.to_string())),
        }
    }

    pub async fn find_service_principal_by_app_id(
        &self,
        caller: &Caller,
        app_id: &str,
    ) -> Result<ServicePrincipal, DirError> {
        caller.require(Permission::ReadApps)?;
        let id = Uuid::parse_str(app_id).map_err(|_| DirError::NotFound(app_id.to_string()))?;
        match self.store.find_by_unique_key(caller.tenant, "spAppId", &id.to_string()).await? {
            Some(DirectoryObject::ServicePrincipal(s)) => Ok(s),
            _ => Err(DirError::NotFound(app_id.to_string())),
        }
    }

    /// Commits a changed application together with the mirrored fields of its service principal.
    async fn commit_application(&self, caller: &Caller, app: &Application) -> Result<(), DirError> {
        let mut cs = ChangeSet::one(Change::UpdateObject(DirectoryObject::Application(app.clone())));
        if let Some(DirectoryObject::ServicePrincipal(mut sp)) =
            self.store.find_by_unique_key(caller.tenant, "spAppId", &app.app_id.to_string()).await?
        {
            let mut names = vec![app.app_id.to_string()];
            names.extend(app.identifier_uris.iter().cloned());
            sp.service_principal_names = names;
            sp.app_roles = app.app_roles.clone();
            sp.oauth2_permission_scopes = app.api.oauth2_permission_scopes.clone();
            sp.display_name = app.display_name.clone();
            sp.sign_in_audience = Some(app.sign_in_audience.clone());
            sp.access_token_signing_algorithm = app.api.access_token_signing_algorithm.clone();
            cs.push(Change::UpdateObject(DirectoryObject::ServicePrincipal(sp)));
        }
        self.commit(caller, cs).await
    }

    pub async fn update_application<F>(
        &self,
        caller: &Caller,
        key: &str,
        keys: Option<Vec<KeyCredentialInput>>,
        patch: F,
    ) -> Result<Application, DirError>
    where
        F: FnOnce(&mut Application) -> Result<(), DirError> + Send,
    {
        caller.require(Permission::WriteApps)?;
        let before = self.load_application(caller, key).await?;
        let mut app = before.clone();
        patch(&mut app)?;
        app.id = before.id;
        app.app_id = before.app_id;
        app.created_date_time = before.created_date_time;
        app.password_credentials = before.password_credentials.clone();
        if let Some(k) = keys {
            app.key_credentials = self.resolve_key_credentials(&before.key_credentials, k)?;
        }
        Self::validate_application(&app, Some(&before))?;
        self.commit_application(caller, &app).await?;
        Ok(app)
    }

    /// `addPassword`: a server-generated secret, returned once.
    pub async fn add_password(
        &self,
        caller: &Caller,
        key: &str,
        display_name: Option<String>,
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<(PasswordCredential, Secret<String>), DirError> {
        caller.require(Permission::WriteApps)?;
        let mut app = self.load_application(caller, key).await?;
        if app.password_credentials.len() >= 20 {
            return Err(DirError::bad("An application can have at most 20 password credentials."));
        }
        if display_name.as_ref().is_some_and(|d| d.chars().count() > 256 || d.chars().any(char::is_control)) {
            return Err(DirError::bad("Invalid displayName for the password credential."));
        }
        let now = self.now_seconds();
        let start = start.unwrap_or(now);
        let end = end.unwrap_or(start + self.config.default_secret_lifetime);
        if end <= start {
            return Err(DirError::bad("endDateTime must be after startDateTime."));
        }
        let secret = generate_client_secret(self.rng.as_ref());
        let cred = PasswordCredential {
            key_id: self.new_uuid(),
            display_name,
            hint: Some(secret.expose().chars().take(3).collect()),
            start_date_time: start.replace_nanosecond(0).unwrap_or(start),
            end_date_time: end.replace_nanosecond(0).unwrap_or(end),
            secret_hash: hash_client_secret(secret.expose(), self.rng.as_ref()),
        };
        app.password_credentials.push(cred.clone());
        self.commit_application(caller, &app).await?;
        Ok((cred, secret))
    }

    pub async fn remove_password(&self, caller: &Caller, key: &str, key_id: Uuid) -> Result<(), DirError> {
        caller.require(Permission::WriteApps)?;
        let mut app = self.load_application(caller, key).await?;
        let before = app.password_credentials.len();
        app.password_credentials.retain(|c| c.key_id != key_id);
        if app.password_credentials.len() == before {
            return Err(DirError::bad(format!("No password credential found with keyId {key_id}.")));
        }
        self.commit_application(caller, &app).await
    }

    /// Creates the service principal of an application of this tenant.
    pub async fn create_service_principal<F>(
        &self,
        caller: &Caller,
        app_id: &str,
        patch: F,
    ) -> Result<ServicePrincipal, DirError>
    where
        F: FnOnce(&mut ServicePrincipal) -> Result<(), DirError> + Send,
    {
        caller.require(Permission::WriteApps)?;
        let app = self.find_application_by_app_id(caller, app_id).await.map_err(|e| match e {
            DirError::NotFound(_) => DirError::bad(format!(
                "The appId '{}' of the service principal does not reference a valid application object.",
                ostiary_oauth::error::sanitize(app_id)
            )),
            other => other,
        })?;
        let mut sp = self.service_principal_for(&app, caller.tenant, self.now_seconds());
        let (id, app_id) = (sp.id, sp.app_id);
        patch(&mut sp)?;
        sp.id = id;
        sp.app_id = app_id;
        validate::display_name("displayName", &sp.display_name)?;
        self.commit(caller, ChangeSet::one(Change::CreateObject(DirectoryObject::ServicePrincipal(sp.clone()))))
            .await?;
        Ok(sp)
    }

    pub async fn update_service_principal<F>(
        &self,
        caller: &Caller,
        id: ObjectId,
        patch: F,
    ) -> Result<ServicePrincipal, DirError>
    where
        F: FnOnce(&mut ServicePrincipal) -> Result<(), DirError> + Send,
    {
        caller.require(Permission::WriteApps)?;
        let DirectoryObject::ServicePrincipal(before) =
            self.load_kind(caller, ObjectKind::ServicePrincipal, id).await?
        else {
            return Err(DirError::NotFound(id.to_string()));
        };
        if before.app_owner_organization_id == Some(MICROSOFT_TENANT) {
            return Err(DirError::Forbidden);
        }
        let mut sp = before.clone();
        patch(&mut sp)?;
        // Mirrored and immutable fields stay as they were.
        sp.id = before.id;
        sp.app_id = before.app_id;
        sp.app_roles = before.app_roles.clone();
        sp.oauth2_permission_scopes = before.oauth2_permission_scopes.clone();
        sp.service_principal_names = before.service_principal_names.clone();
        sp.created_date_time = before.created_date_time;
        validate::display_name("displayName", &sp.display_name)?;
        self.commit(caller, ChangeSet::one(Change::UpdateObject(DirectoryObject::ServicePrincipal(sp.clone()))))
            .await?;
        Ok(sp)
    }

    /// Grants `app_role_id` of `resource` (a service principal) to `principal`.
    pub async fn assign_app_role(
        &self,
        caller: &Caller,
        principal: ObjectId,
        resource: ObjectId,
        app_role_id: Uuid,
    ) -> Result<AppRoleAssignment, DirError> {
        caller.require(Permission::WriteAppRoleAssignments)?;
        let p = self
            .load(caller, principal)
            .await
            .map_err(|_| DirError::bad(format!("The principal {principal} does not exist.")))?;
        let r = match self.load(caller, resource).await {
            Ok(DirectoryObject::ServicePrincipal(sp)) => sp,
            _ => {
                return Err(DirError::bad(format!(
                    "The resource {resource} is not a service principal of this tenant."
                )));
            }
        };
        let member_type = match p.kind() {
            ObjectKind::ServicePrincipal => "Application",
            ObjectKind::User | ObjectKind::Group => "User",
            ObjectKind::Application => {
                return Err(DirError::bad("App roles are assigned to service principals, not applications."));
            }
        };
        let default_access = app_role_id.is_nil() && member_type == "User";
        let ok = default_access
            || r.app_roles.iter().any(|role| {
                role.id == app_role_id && role.is_enabled && role.allowed_member_types.iter().any(|t| t == member_type)
            });
        if !ok {
            return Err(DirError::bad("Permission being assigned was not found on application"));
        }
        let a = AppRoleAssignment {
            id: self.new_assignment_id(),
            app_role_id,
            principal_id: principal,
            resource_id: resource,
            created_date_time: self.now_seconds(),
            principal_type: match p.kind() {
                ObjectKind::User => "User",
                ObjectKind::Group => "Group",
                _ => "ServicePrincipal",
            }
            .into(),
            principal_display_name: p.display_name().to_string(),
            resource_display_name: r.display_name.clone(),
        };
        self.commit(caller, ChangeSet::one(Change::AddAppRoleAssignment(a.clone()))).await?;
        Ok(a)
    }

    /// Assignments held by (`as_principal`) or granted on (`!as_principal`) an object.
    pub async fn list_app_role_assignments(
        &self,
        caller: &Caller,
        object: ObjectId,
        as_principal: bool,
    ) -> Result<Vec<AppRoleAssignment>, DirError> {
        let o = self.load(caller, object).await?;
        caller.require(read_permission(o.kind()))?;
        let by = if as_principal { AssignmentsBy::Principal(object) } else { AssignmentsBy::Resource(object) };
        Ok(self.store.list_app_role_assignments(caller.tenant, by).await?)
    }

    /// Removes assignment `id`, which must belong to `object` (as principal or resource).
    pub async fn remove_app_role_assignment(
        &self,
        caller: &Caller,
        object: ObjectId,
        id: &str,
    ) -> Result<(), DirError> {
        caller.require(Permission::WriteAppRoleAssignments)?;
        let found = self.store.list_app_role_assignments(caller.tenant, AssignmentsBy::Id(id.to_string())).await?;
        if !found.iter().any(|a| a.principal_id == object || a.resource_id == object) {
            return Err(DirError::NotFound(id.to_string()));
        }
        self.commit(caller, ChangeSet::one(Change::RemoveAppRoleAssignment { id: id.to_string() })).await
    }
}
