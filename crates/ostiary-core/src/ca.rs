//! Conditional Access in the directory: policies and named locations stored as Entra's Graph JSON
//! (KV entries that bump the tenant version, so every node recompiles), the facts of a sign-in
//! gathered for the pure engine in `ostiary-policy`, the lockout guard, and What-If.

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use crate::auth::{Caller, Permission};
use crate::error::DirError;
use ostiary_model::{DirectoryObject, ObjectId, TenantId, User};
use ostiary_policy as policy;
use ostiary_store::{KvEntry, KvOp, KvSelect, ListQuery, Relation, StoreError};
use serde_json::{Map, Value, json};
use std::net::IpAddr;
use uuid::Uuid;

pub const POLICY_KIND: &str = "caPolicy";
pub const LOCATION_KIND: &str = "namedLocation";
/// Entra's per-tenant limit.
pub const MAX_POLICIES: usize = 195;
pub const MAX_LOCATIONS: usize = 195;
/// Entra's Global Administrator role template id.
pub use crate::consent::GLOBAL_ADMIN_ROLE;

/// A method name of ours for an `amr` value of a token we issued.
pub fn method_from_amr(amr: &str) -> Option<&'static str> {
    match amr {
        "pwd" => Some("password"),
        "otp" => Some("softwareOath"),
        "fido" => Some("fido2"),
        "rc" => Some("recoveryCode"),
        _ => None,
    }
}

/// The `amr` values (RFC 8176) for methods of ours, plus `mfa` when they make two factors.
pub fn amr_values(methods: &[String], mfa: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = methods
        .iter()
        .filter_map(|m| match m.as_str() {
            "password" => Some("pwd"),
            "softwareOath" => Some("otp"),
            "fido2" => Some("fido"),
            "recoveryCode" => Some("rc"),
            _ => None,
        })
        .collect();
    if mfa {
        out.push("mfa");
    }
    out
}

/// What a request adds to the directory facts of its subject.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Browser (interactive web flows) or mobile/desktop (public clients, device code, refresh from a public client).
    pub browser: bool,
    /// The resource (cloud app) being accessed.
    pub resource_app_id: Option<Uuid>,
    /// The client application.
    pub client_app_id: Option<Uuid>,
    /// A user action instead of an app (`urn:user:registersecurityinfo`).
    pub user_action: Option<String>,
    pub sign_in_risk: Option<String>,
}

/// The authentication state of the session being evaluated.
#[derive(Debug, Clone, Default)]
pub struct AuthState {
    pub methods: Vec<String>,
    pub auth_time: Option<i64>,
    pub mfa_time: Option<i64>,
    pub secure_password_change: bool,
}

fn risk_level(s: Option<&str>) -> policy::RiskLevel {
    match s {
        Some("low") => policy::RiskLevel::Low,
        Some("medium") => policy::RiskLevel::Medium,
        Some("high") => policy::RiskLevel::High,
        _ => policy::RiskLevel::None,
    }
}

fn kv_doc(kind: &str, key: String, doc: Value) -> KvEntry {
    KvEntry { kind: kind.into(), key, doc, version: 1, expires_at: None, user_id: None, family_id: None }
}

fn bad(e: impl std::fmt::Display) -> DirError {
    DirError::BadRequest(e.to_string())
}

/// JSON merge (RFC 7396 without null deletion: Graph PATCH replaces what it names).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

impl Core {
    async fn kv_docs(&self, tenant: TenantId, kind: &str) -> Result<Vec<KvEntry>, StoreError> {
        self.store.kv_list(tenant, kind, &KvSelect::Prefix(String::new()), 1000, self.now()).await
    }

    /// The tenant's Conditional Access policies (unparseable entries are skipped and logged).
    pub async fn ca_policies(&self, tenant: TenantId) -> Result<Vec<policy::ConditionalAccessPolicy>, StoreError> {
        Ok(self
            .kv_docs(tenant, POLICY_KIND)
            .await?
            .into_iter()
            .filter_map(|e| match serde_json::from_value(e.doc) {
                Ok(p) => Some(p),
                Err(err) => {
                    tracing::error!(tenant = %tenant, key = %e.key, error = %err, "unreadable conditional access policy");
                    None
                }
            })
            .collect())
    }

    pub async fn named_locations(&self, tenant: TenantId) -> Result<Vec<policy::NamedLocation>, StoreError> {
        Ok(self
            .kv_docs(tenant, LOCATION_KIND)
            .await?
            .into_iter()
            .filter_map(|e| serde_json::from_value(e.doc).ok())
            .collect())
    }

    /// Compiles the tenant's policies (the cache calls this when the tenant version changes).
    pub(crate) async fn load_policy_set(&self, tenant: TenantId) -> Result<policy::PolicySet, StoreError> {
        let policies = self.ca_policies(tenant).await?;
        let locations = self.named_locations(tenant).await?;
        Ok(policy::PolicySet::compile(&policies, &locations))
    }

    /// The directory facts of a user: transitive groups, directory roles, guest or member.
    pub async fn user_subject(&self, tenant: TenantId, user: &User) -> Result<policy::SubjectFacts, StoreError> {
        let mut groups = Vec::new();
        let mut q = ListQuery { top: 999, ..Default::default() };
        loop {
            let page =
                self.store.list_related(tenant, Relation::MemberOf { object: user.id, transitive: true }, &q).await?;
            groups.extend(page.items.iter().map(|o| o.id().as_uuid()));
            match page.next {
                Some(next) if groups.len() < 10_000 => q.skip_token = Some(next),
                _ => break,
            }
        }
        let roles = self.directory_roles(tenant, user.id).await?;
        Ok(policy::SubjectFacts {
            id: user.id.as_uuid(),
            group_ids: groups,
            role_template_ids: roles.iter().filter_map(|r| Uuid::parse_str(r).ok()).collect(),
            is_guest: user.user_type.eq_ignore_ascii_case("Guest"),
        })
    }

    fn request_facts_common(&self, req: &RequestFacts) -> (Option<IpAddr>, Option<String>, Option<policy::Platform>) {
        let ip = req.ip.as_deref().and_then(|i| i.parse::<IpAddr>().ok());
        let country = self.country_of(req.ip.as_deref());
        let platform = req.user_agent.as_deref().and_then(policy::Platform::from_user_agent);
        (ip, country, platform)
    }

    /// The facts of a user's sign-in or token request.
    pub async fn user_facts(
        &self,
        tenant: TenantId,
        user: &User,
        req: &RequestFacts,
        auth: &AuthState,
    ) -> Result<policy::SignInFacts, StoreError> {
        let subject = self.user_subject(tenant, user).await?;
        let user_risk = self.user_risk_level(tenant, user.id).await?;
        let (ip, country, platform) = self.request_facts_common(req);
        let now = self.now().unix_timestamp();
        let age = |t: i64| u64::try_from(now - t).unwrap_or(0);
        Ok(policy::SignInFacts {
            subject: policy::Subject::User(subject),
            resource_app_id: req.resource_app_id,
            client_app_id: req.client_app_id,
            user_action: req.user_action.as_deref().and_then(policy::UserAction::parse),
            client_app_type: if req.browser {
                policy::ClientAppType::Browser
            } else {
                policy::ClientAppType::MobileAppsAndDesktopClients
            },
            platform,
            ip,
            country,
            sign_in_risk: risk_level(req.sign_in_risk.as_deref()),
            user_risk: risk_level(Some(user_risk.as_str())),
            service_principal_risk: policy::RiskLevel::None,
            device_compliant: None,
            authentication: policy::AuthenticationFacts {
                methods: policy::AuthMethods::from_names(&auth.methods),
                secs_since_primary: auth.auth_time.map(age).unwrap_or(0),
                secs_since_mfa: auth.mfa_time.map(age),
                password_changed_in_flow: auth.secure_password_change,
            },
        })
    }

    /// Evaluates the tenant's policies for a user's sign-in or token request.
    pub async fn evaluate_user(
        &self,
        tenant: TenantId,
        user: &User,
        req: &RequestFacts,
        auth: &AuthState,
    ) -> Result<policy::Evaluation, StoreError> {
        let state = self.tenant_state(tenant).await.map_err(|e| StoreError::Backend(e.to_string()))?;
        // No policies: nothing can depend on groups, roles or risk, so skip reading them (the
        // refresh path of a tenant without Conditional Access stays as fast as before).
        let facts = if state.policies.is_empty() {
            policy::SignInFacts::user(
                policy::SubjectFacts { id: user.id.as_uuid(), ..Default::default() },
                req.resource_app_id.unwrap_or_default(),
            )
        } else {
            self.user_facts(tenant, user, req, auth).await?
        };
        let started = std::time::Instant::now();
        let evaluation = state.policies.evaluate(&facts);
        self.metrics.conditional_access_evaluation_duration.observe(started.elapsed().as_secs_f64());
        Ok(evaluation)
    }

    /// Evaluates workload-identity policies for a client-credentials request.
    pub fn evaluate_workload(
        &self,
        state: &crate::cache::TenantState,
        sp_id: ObjectId,
        app_id: Uuid,
        resource_app_id: Option<Uuid>,
        ip: Option<&str>,
    ) -> policy::Evaluation {
        let req = RequestFacts { ip: ip.map(str::to_string), ..Default::default() };
        let (ip, country, _) = self.request_facts_common(&req);
        let facts = policy::SignInFacts {
            subject: policy::Subject::ServicePrincipal { id: sp_id.as_uuid(), app_id },
            resource_app_id,
            client_app_id: Some(app_id),
            user_action: None,
            client_app_type: policy::ClientAppType::Other,
            platform: None,
            ip,
            country,
            sign_in_risk: policy::RiskLevel::None,
            user_risk: policy::RiskLevel::None,
            service_principal_risk: policy::RiskLevel::None,
            device_compliant: None,
            authentication: policy::AuthenticationFacts::default(),
        };
        let started = std::time::Instant::now();
        let evaluation = state.policies.evaluate(&facts);
        self.metrics.conditional_access_evaluation_duration.observe(started.elapsed().as_secs_f64());
        evaluation
    }

    // --- Graph: /identity/conditionalAccess/policies and /namedLocations --------------------

    async fn kv_entry(&self, tenant: TenantId, kind: &str, id: &str) -> Result<KvEntry, DirError> {
        self.store
            .kv_get(tenant, kind, id, self.now())
            .await?
            .ok_or_else(|| DirError::NotFound(format!("Resource '{id}' does not exist.")))
    }

    pub async fn get_ca_doc(&self, caller: &Caller, kind: &str, id: &str) -> Result<Value, DirError> {
        caller.require(Permission::ReadPolicies)?;
        Ok(self.kv_entry(caller.tenant, kind, id).await?.doc)
    }

    pub async fn list_ca_docs(&self, caller: &Caller, kind: &str) -> Result<Vec<Value>, DirError> {
        caller.require(Permission::ReadPolicies)?;
        let mut docs: Vec<Value> = self.kv_docs(caller.tenant, kind).await?.into_iter().map(|e| e.doc).collect();
        docs.sort_by(|a, b| {
            let k = |v: &Value| v.get("createdDateTime").and_then(Value::as_str).unwrap_or("").to_string();
            k(a).cmp(&k(b))
        });
        Ok(docs)
    }

    /// The Global Administrators and emergency-access accounts the lockout guard protects.
    pub async fn lockout_population(&self, tenant: TenantId) -> Result<policy::Population, StoreError> {
        let now = self.now();
        let assignments =
            self.store.kv_list(tenant, "roleAssignment", &KvSelect::Prefix(String::new()), 1000, now).await?;
        let mut admins = Vec::new();
        for a in assignments {
            if a.doc.get("roleTemplateId").and_then(Value::as_str) != Some(GLOBAL_ADMIN_ROLE) {
                continue;
            }
            let Some(id) = a.user_id else { continue };
            if let Some(DirectoryObject::User(u)) = self.store.get_object(tenant, id).await?
                && u.account_enabled
            {
                admins.push(self.user_subject(tenant, &u).await?);
            }
        }
        let settings = self.tenant_settings(tenant).await?;
        Ok(policy::Population {
            global_admins: admins,
            emergency_access_ids: settings.emergency_access_accounts.iter().map(|o| o.as_uuid()).collect(),
            all_users: true,
            admin_app_ids: Vec::new(),
        })
    }

    fn check_lockout_text(risk: Option<policy::LockoutRisk>, force: bool) -> Result<(), DirError> {
        match risk {
            Some(r) if !force => Err(DirError::BadRequest(format!(
                "This policy would lock administrators out: {} To save it anyway, repeat the request with the \
                 header 'Ostiary-Allow-Lockout: true'.",
                r.explanation.trim_end()
            ))),
            _ => Ok(()),
        }
    }

    /// Creates a policy (Graph JSON). Refused if it would lock every administrator out, unless `force`.
    pub async fn create_ca_policy(&self, caller: &Caller, mut body: Value, force: bool) -> Result<Value, DirError> {
        caller.require(Permission::WriteConditionalAccess)?;
        let tenant = caller.tenant;
        let existing = self.kv_docs(tenant, POLICY_KIND).await?;
        if existing.len() >= MAX_POLICIES {
            return Err(bad(format!("A tenant can have at most {MAX_POLICIES} Conditional Access policies.")));
        }
        let Some(obj) = body.as_object_mut() else { return Err(bad("A JSON object was expected.")) };
        let id = self.new_uuid().to_string();
        let now = crate::ids::rfc3339(self.now());
        obj.insert("id".into(), Value::String(id.clone()));
        obj.insert("createdDateTime".into(), Value::String(now));
        obj.insert("modifiedDateTime".into(), Value::Null);
        obj.remove("@odata.context");
        let policy = self.checked_policy(tenant, &body, force).await?;
        let doc = serde_json::to_value(&policy).map_err(|e| DirError::Internal(e.to_string()))?;
        let mut target = Target::new(id.clone(), "Policy");
        target.display_name = Some(policy.display_name.clone());
        target.modified = crate::audit::diff(&Map::new(), doc.as_object().unwrap_or(&Map::new()));
        let activity = Activity::new("Add conditional access policy", "Policy", "Add").target(target);
        self.apply_policy_ops(caller, vec![KvOp::Insert(kv_doc(POLICY_KIND, id, doc.clone()))], activity).await?;
        Ok(doc)
    }

    async fn checked_policy(
        &self,
        tenant: TenantId,
        body: &Value,
        force: bool,
    ) -> Result<policy::ConditionalAccessPolicy, DirError> {
        let policy: policy::ConditionalAccessPolicy = serde_json::from_value(body.clone()).map_err(bad)?;
        let locations = self.named_locations(tenant).await?;
        policy::validate_policy(&policy, &locations).map_err(bad)?;
        let population = self.lockout_population(tenant).await?;
        // Excluding an emergency-access Global Administrator is Microsoft's documented way to keep a
        // door open: the break-glass account can still sign in and fix the policy.
        let risk = policy::lockout_check(&policy, &population).filter(|r| {
            !r.excluded_emergency_accounts.iter().any(|e| population.global_admins.iter().any(|a| a.id == *e))
        });
        Self::check_lockout_text(risk, force)?;
        Ok(policy)
    }

    async fn apply_policy_ops(&self, caller: &Caller, mut ops: Vec<KvOp>, activity: Activity) -> Result<(), DirError> {
        let actor = Actor::from_caller(caller);
        ops.push(self.audit_op(&actor, &activity));
        self.store.kv_apply(caller.tenant, &ops, true, self.now()).await.map_err(|e| match e {
            StoreError::Conflict { .. } => DirError::Conflict("The policy was changed concurrently; retry.".into()),
            other => other.into(),
        })?;
        self.cache.invalidate(caller.tenant);
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }

    pub async fn update_ca_policy(&self, caller: &Caller, id: &str, patch: Value, force: bool) -> Result<(), DirError> {
        caller.require(Permission::WriteConditionalAccess)?;
        let mut entry = self.kv_entry(caller.tenant, POLICY_KIND, id).await?;
        let before = entry.doc.clone();
        let mut doc = entry.doc.clone();
        let Some(p) = patch.as_object() else { return Err(bad("A JSON object was expected.")) };
        for k in ["id", "createdDateTime", "modifiedDateTime"] {
            if p.contains_key(k) && p.get(k) != doc.get(k) {
                return Err(bad(format!("Property '{k}' is read-only.")));
            }
        }
        merge(&mut doc, &patch);
        if let Some(o) = doc.as_object_mut() {
            o.insert("modifiedDateTime".into(), Value::String(crate::ids::rfc3339(self.now())));
        }
        let policy = self.checked_policy(caller.tenant, &doc, force).await?;
        let doc = serde_json::to_value(&policy).map_err(|e| DirError::Internal(e.to_string()))?;
        let mut target = Target::new(id.to_string(), "Policy");
        target.display_name = Some(policy.display_name.clone());
        if let (Some(old), Some(new)) = (before.as_object(), doc.as_object()) {
            target.modified = crate::audit::diff(old, new);
        }
        entry.doc = doc;
        let activity = Activity::new("Update conditional access policy", "Policy", "Update").target(target);
        self.apply_policy_ops(caller, vec![KvOp::Update(entry)], activity).await
    }

    pub async fn delete_ca_doc(&self, caller: &Caller, kind: &str, id: &str) -> Result<(), DirError> {
        let is_policy = kind == POLICY_KIND;
        caller.require(Permission::WriteConditionalAccess)?;
        let entry = self.kv_entry(caller.tenant, kind, id).await?;
        if !is_policy {
            let used = self.kv_docs(caller.tenant, POLICY_KIND).await?.iter().any(|e| {
                ["includeLocations", "excludeLocations"].iter().any(|k| {
                    e.doc
                        .pointer(&format!("/conditions/locations/{k}"))
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(id)))
                })
            });
            if used {
                return Err(bad("The named location is used by a Conditional Access policy; remove it there first."));
            }
        }
        let mut target = Target::new(id.to_string(), "Policy");
        target.display_name = entry.doc.get("displayName").and_then(Value::as_str).map(str::to_string);
        let name = if is_policy { "Delete conditional access policy" } else { "Delete named location" };
        let activity = Activity::new(name, "Policy", "Delete").target(target);
        self.apply_policy_ops(caller, vec![KvOp::Delete { kind: kind.into(), key: id.into() }], activity).await
    }

    pub async fn create_named_location(&self, caller: &Caller, mut body: Value) -> Result<Value, DirError> {
        caller.require(Permission::WriteConditionalAccess)?;
        if self.kv_docs(caller.tenant, LOCATION_KIND).await?.len() >= MAX_LOCATIONS {
            return Err(bad(format!("A tenant can have at most {MAX_LOCATIONS} named locations.")));
        }
        let Some(obj) = body.as_object_mut() else { return Err(bad("A JSON object was expected.")) };
        let id = self.new_uuid().to_string();
        let now = crate::ids::rfc3339(self.now());
        obj.insert("id".into(), Value::String(id.clone()));
        obj.insert("createdDateTime".into(), Value::String(now.clone()));
        obj.insert("modifiedDateTime".into(), Value::String(now));
        obj.remove("@odata.context");
        let location: policy::NamedLocation = serde_json::from_value(body).map_err(bad)?;
        policy::validate_location(&location).map_err(bad)?;
        let doc = serde_json::to_value(&location).map_err(|e| DirError::Internal(e.to_string()))?;
        let mut target = Target::new(id.clone(), "Policy");
        target.display_name = doc.get("displayName").and_then(Value::as_str).map(str::to_string);
        target.modified = crate::audit::diff(&Map::new(), doc.as_object().unwrap_or(&Map::new()));
        let activity = Activity::new("Add named location", "Policy", "Add").target(target);
        self.apply_policy_ops(caller, vec![KvOp::Insert(kv_doc(LOCATION_KIND, id, doc.clone()))], activity).await?;
        Ok(doc)
    }

    pub async fn update_named_location(&self, caller: &Caller, id: &str, patch: Value) -> Result<(), DirError> {
        caller.require(Permission::WriteConditionalAccess)?;
        let mut entry = self.kv_entry(caller.tenant, LOCATION_KIND, id).await?;
        let before = entry.doc.clone();
        let mut doc = entry.doc.clone();
        if !patch.is_object() {
            return Err(bad("A JSON object was expected."));
        }
        merge(&mut doc, &patch);
        if let Some(o) = doc.as_object_mut() {
            o.insert("id".into(), Value::String(id.to_string()));
            o.insert("createdDateTime".into(), before.get("createdDateTime").cloned().unwrap_or(Value::Null));
            o.insert("modifiedDateTime".into(), Value::String(crate::ids::rfc3339(self.now())));
        }
        let location: policy::NamedLocation = serde_json::from_value(doc).map_err(bad)?;
        policy::validate_location(&location).map_err(bad)?;
        let doc = serde_json::to_value(&location).map_err(|e| DirError::Internal(e.to_string()))?;
        let mut target = Target::new(id.to_string(), "Policy");
        target.display_name = doc.get("displayName").and_then(Value::as_str).map(str::to_string);
        if let (Some(old), Some(new)) = (before.as_object(), doc.as_object()) {
            target.modified = crate::audit::diff(old, new);
        }
        entry.doc = doc;
        let activity = Activity::new("Update named location", "Policy", "Update").target(target);
        self.apply_policy_ops(caller, vec![KvOp::Update(entry)], activity).await
    }

    /// What-If (`POST /identity/conditionalAccess/evaluate`, the shape of Entra's beta API): a
    /// hypothetical sign-in evaluated against the policies, with each policy's result and the
    /// reasons it applied or did not. Returns `{value: [...], ostiaryOutcome}`.
    pub async fn what_if(&self, caller: &Caller, body: &Value) -> Result<Value, DirError> {
        caller.require(Permission::ReadPolicies)?;
        let tenant = caller.tenant;
        let str_at = |p: &str| body.pointer(p).and_then(Value::as_str);
        let level = |p: &str| -> Result<policy::RiskLevel, DirError> {
            match str_at(p) {
                None | Some("none") => Ok(policy::RiskLevel::None),
                Some("low") => Ok(policy::RiskLevel::Low),
                Some("medium") => Ok(policy::RiskLevel::Medium),
                Some("high") => Ok(policy::RiskLevel::High),
                Some(other) => Err(bad(format!("Invalid risk level '{other}'."))),
            }
        };
        let conditions = "/signInConditions";
        let ip_text = str_at(&format!("{conditions}/ipAddress"));
        let ip = match ip_text {
            Some(t) => Some(t.parse::<IpAddr>().map_err(|_| bad(format!("Invalid ipAddress '{t}'.")))?),
            None => None,
        };
        let country = match str_at(&format!("{conditions}/country")) {
            Some(c) if c.len() == 2 && c.chars().all(|x| x.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
            Some(c) => return Err(bad(format!("Invalid country '{c}': use an ISO 3166 alpha-2 code."))),
            None => self.country_of(ip_text),
        };
        let platform = match str_at(&format!("{conditions}/devicePlatform")) {
            None => None,
            Some(p) => Some(
                policy::Platform::ALL
                    .into_iter()
                    .find(|x| x.as_str().eq_ignore_ascii_case(p))
                    .ok_or_else(|| bad(format!("Invalid devicePlatform '{p}'.")))?,
            ),
        };
        let client_app_type = match str_at(&format!("{conditions}/clientAppType")) {
            None | Some("browser") => policy::ClientAppType::Browser,
            Some("mobileAppsAndDesktopClients") => policy::ClientAppType::MobileAppsAndDesktopClients,
            Some("other") => policy::ClientAppType::Other,
            Some(other) => return Err(bad(format!("Invalid clientAppType '{other}'."))),
        };
        let (resource_app_id, user_action) = match str_at("/signInContext/@odata.type") {
            Some("#microsoft.graph.userActionContext") => {
                let action = match str_at("/signInContext/userAction") {
                    Some("registerSecurityInformation") => policy::UserAction::RegisterSecurityInfo,
                    Some("registerOrJoinDevices") => policy::UserAction::RegisterDevice,
                    other => return Err(bad(format!("Invalid userAction '{}'.", other.unwrap_or("")))),
                };
                (None, Some(action))
            }
            _ => {
                let app = body
                    .pointer("/signInContext/includeApplications/0")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("signInContext.includeApplications must name the app (appId)."))?;
                (Some(Uuid::parse_str(app).map_err(|_| bad(format!("Invalid application id '{app}'.")))?), None)
            }
        };
        let settings = self.tenant_settings(tenant).await?;
        let methods: Vec<String> = body
            .pointer(&format!("{conditions}/ostiaryAuthenticationMethods"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_else(|| vec!["password".to_string()]);
        let (subject, emergency) = match str_at("/signInIdentity/@odata.type") {
            Some("#microsoft.graph.servicePrincipalSignIn") => {
                let id = str_at("/signInIdentity/servicePrincipalId")
                    .ok_or_else(|| bad("servicePrincipalId is required."))?;
                let id: ObjectId = id.parse().map_err(|_| bad(format!("Invalid servicePrincipalId '{id}'.")))?;
                match self.store.get_object(tenant, id).await? {
                    Some(DirectoryObject::ServicePrincipal(sp)) => {
                        (policy::Subject::ServicePrincipal { id: sp.id.as_uuid(), app_id: sp.app_id }, false)
                    }
                    _ => return Err(DirError::NotFound(format!("Service principal '{id}' does not exist."))),
                }
            }
            _ => {
                let id = str_at("/signInIdentity/userId").ok_or_else(|| bad("signInIdentity.userId is required."))?;
                let id: ObjectId = id.parse().map_err(|_| bad(format!("Invalid userId '{id}'.")))?;
                match self.store.get_object(tenant, id).await? {
                    Some(DirectoryObject::User(u)) => (
                        policy::Subject::User(self.user_subject(tenant, &u).await?),
                        settings.emergency_access_accounts.contains(&u.id),
                    ),
                    _ => return Err(DirError::NotFound(format!("User '{id}' does not exist."))),
                }
            }
        };
        let facts = policy::SignInFacts {
            subject,
            resource_app_id,
            user_action,
            client_app_id: None,
            client_app_type,
            platform,
            ip,
            country,
            sign_in_risk: level(&format!("{conditions}/signInRiskLevel"))?,
            user_risk: level(&format!("{conditions}/userRiskLevel"))?,
            service_principal_risk: level(&format!("{conditions}/servicePrincipalRiskLevel"))?,
            device_compliant: None,
            authentication: policy::AuthenticationFacts {
                methods: policy::AuthMethods::from_names(&methods),
                secs_since_primary: 0,
                secs_since_mfa: None,
                password_changed_in_flow: false,
            },
        };
        let state = self.tenant_state(tenant).await.map_err(|e| DirError::Internal(e.to_string()))?;
        let eval = state.policies.evaluate(&facts);
        let docs: std::collections::HashMap<String, Value> =
            self.kv_docs(tenant, POLICY_KIND).await?.into_iter().map(|e| (e.key, e.doc)).collect();
        let applied_only = body.get("appliedPoliciesOnly").and_then(Value::as_bool).unwrap_or(false);
        let mut out = Vec::new();
        for r in eval.policies() {
            use policy::PolicyResultKind as K;
            let applies = matches!(
                r.result,
                K::Success | K::Failure | K::ReportOnlySuccess | K::ReportOnlyFailure | K::ReportOnlyInterrupted
            );
            if applied_only && !applies {
                continue;
            }
            let mut doc =
                docs.get(r.id).cloned().unwrap_or_else(|| json!({ "id": r.id, "displayName": r.display_name }));
            let reasons = r.reasons();
            if let Some(o) = doc.as_object_mut() {
                o.insert("policyApplies".into(), json!(applies));
                o.insert("analysisReasons".into(), json!(analysis_reason(&r)));
                o.insert("ostiaryResult".into(), json!(r.result.as_str()));
                o.insert("ostiaryExplanation".into(), json!(reasons));
            }
            out.push(doc);
        }
        let outcome = match &eval.outcome {
            policy::Outcome::Allow => "allow".to_string(),
            policy::Outcome::Block { .. } => "block (AADSTS53003)".to_string(),
            policy::Outcome::Interrupt { requirements } => {
                format!("interrupt: {}", requirements.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "))
            }
        };
        Ok(json!({ "value": out, "ostiaryOutcome": outcome, "ostiaryEmergencyAccessAccount": emergency }))
    }

    /// Marks (or unmarks) emergency-access ("break-glass") accounts, which the lockout guard and
    /// What-If name.
    pub async fn set_emergency_access(&self, caller: &Caller, user: ObjectId, on: bool) -> Result<(), DirError> {
        caller.require(Permission::WriteConditionalAccess)?;
        match self.store.get_object(caller.tenant, user).await? {
            Some(DirectoryObject::User(_)) => {}
            _ => return Err(DirError::NotFound(format!("Resource '{user}' does not exist."))),
        }
        let name = if on { "Add emergency access account" } else { "Remove emergency access account" };
        self.update_tenant_settings(&Actor::from_caller(caller), name, move |s| {
            s.emergency_access_accounts.retain(|u| *u != user);
            if on {
                s.emergency_access_accounts.push(user);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// The sign-in record's `appliedConditionalAccessPolicies`: the policies that applied (enforced or
/// report-only). Entra also lists every policy that did not apply; with up to 195 policies that
/// would put ~30 KB in every sign-in record (and every token request is one), so those are left
/// out here — What-If explains them.
pub fn logged_policies(eval: &policy::Evaluation) -> Value {
    use policy::PolicyResultKind as K;
    Value::Array(
        eval.policies()
            .filter(|p| !matches!(p.result, K::NotApplied | K::NotEnabled | K::ReportOnlyNotApplied))
            .map(|p| {
                json!({
                    "id": p.id,
                    "displayName": p.display_name,
                    "enforcedGrantControls": p.enforced_grant_controls,
                    "enforcedSessionControls": p.enforced_session_controls,
                    "result": p.result.as_str(),
                })
            })
            .collect(),
    )
}

/// Entra's `analysisReasons` flag for why a policy did not apply (`notSet` when it applied).
fn analysis_reason(r: &policy::PolicyResult<'_>) -> &'static str {
    use policy::NotApplied as N;
    match r.detail {
        policy::Detail::NotEnabled => "policyNotEnabled",
        policy::Detail::Applied(_) => "notSet",
        policy::Detail::NotApplied(n) => match n {
            N::TargetsWorkloadIdentities | N::ServicePrincipalNotIncluded(_) | N::ServicePrincipalExcluded(_) => {
                "workloadIdentities"
            }
            N::TargetsUsers | N::UserNotIncluded | N::UserExcluded(_) => "users",
            N::NoCloudApp | N::ApplicationNotIncluded(_) | N::ApplicationExcluded { .. } => "application",
            N::UserActionNotIncluded(_) => "userActions",
            N::ClientAppTypeNotIncluded(_) => "clientApps",
            N::PlatformUnknown { .. } | N::PlatformNotIncluded { .. } | N::PlatformExcluded { .. } => "devicePlatform",
            N::LocationNotIncluded { .. } | N::LocationExcluded { .. } => "location",
            N::SignInRiskNotIncluded(_) => "signInRisk",
            N::UserRiskNotIncluded(_) => "userRisk",
            N::ServicePrincipalRiskNotIncluded(_) => "servicePrincipalRisk",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_named_properties_and_recurses_into_objects() {
        let mut t = serde_json::json!({"a": 1, "c": {"x": [1], "y": 2}});
        merge(&mut t, &serde_json::json!({"a": 2, "c": {"x": [3]}}));
        assert_eq!(t, serde_json::json!({"a": 2, "c": {"x": [3], "y": 2}}));
    }

    #[test]
    fn amr_round_trip() {
        let methods = vec!["password".to_string(), "softwareOath".to_string()];
        let amr = amr_values(&methods, true);
        assert_eq!(amr, vec!["pwd", "otp", "mfa"]);
        let back: Vec<&str> = amr.iter().filter_map(|a| method_from_amr(a)).collect();
        assert_eq!(back, vec!["password", "softwareOath"]);
    }
}
