//! Per-tenant in-memory state for the hot paths (token issuance, token validation, JWKS):
//! keys, clients, resources and app-role grants, rebuilt when the tenant's version counter in
//! the store changes. Local writes invalidate at once; other nodes' writes are seen within
//! `cache_check_interval`, at the cost of one tiny query per tenant per interval.

use crate::Core;
use crate::keys::{KeyError, KeyRing};
use ostiary_crypto::x509::Certificate;
use ostiary_model::{
    Application, DirectoryObject, KeyCredential, ObjectId, ObjectKind, ServicePrincipal, Tenant, TenantId,
};
use ostiary_store::{AssignmentsBy, ListQuery, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A client application as the token endpoint needs it.
pub struct ClientEntry {
    pub app: Application,
    pub sp: Option<ServicePrincipal>,
    /// Registered certificates, parsed once.
    pub certs: Vec<(KeyCredential, Certificate)>,
}

pub struct TenantState {
    pub tenant: Tenant,
    pub version: i64,
    pub keys: KeyRing,
    pub clients: HashMap<Uuid, Arc<ClientEntry>>,
    /// Resource service principals by lowercased name (appId, servicePrincipalNames) without
    /// a trailing slash.
    pub resources: HashMap<String, Arc<ServicePrincipal>>,
    /// Every service principal by object id.
    pub service_principals: HashMap<ObjectId, Arc<ServicePrincipal>>,
    /// App-role values granted to (principal, resource).
    pub grants: HashMap<(ObjectId, ObjectId), Vec<Uuid>>,
    /// Sign-in settings (changes bump the tenant version, so this stays current).
    pub settings: crate::settings::TenantSettings,
    /// Conditional Access policies and named locations, compiled.
    pub policies: Arc<ostiary_policy::PolicySet>,
    checked_ms: AtomicU64,
}

impl TenantState {
    pub fn resource(&self, name: &str) -> Option<&Arc<ServicePrincipal>> {
        self.resources.get(&normalize_resource(name))
    }
}

pub fn normalize_resource(name: &str) -> String {
    name.trim_end_matches('/').to_ascii_lowercase()
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("tenant not found")]
    NoTenant,
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct TenantCache {
    states: RwLock<HashMap<TenantId, Arc<TenantState>>>,
    domains: RwLock<HashMap<String, TenantId>>,
    reload: tokio::sync::Mutex<()>,
    base: Instant,
    interval: Duration,
}

impl TenantCache {
    pub fn new(interval: Duration) -> Self {
        TenantCache {
            states: RwLock::new(HashMap::new()),
            domains: RwLock::new(HashMap::new()),
            reload: tokio::sync::Mutex::new(()),
            base: Instant::now(),
            interval,
        }
    }

    pub fn invalidate(&self, tenant: TenantId) {
        if let Ok(mut m) = self.states.write() {
            m.remove(&tenant);
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cached(&self, tenant: TenantId) -> Option<Arc<TenantState>> {
        self.states.read().ok()?.get(&tenant).cloned()
    }
}

impl Core {
    /// The tenant's cached state, loading or refreshing it as needed.
    pub async fn tenant_state(&self, tenant: TenantId) -> Result<Arc<TenantState>, CacheError> {
        let cache = &self.cache;
        let retired = |s: &TenantState| s.keys.next_retirement.is_some_and(|r| r <= self.now());
        if let Some(s) = cache.cached(tenant).filter(|s| !retired(s)) {
            let now_ms = cache.elapsed_ms();
            let last = s.checked_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) < cache.interval.as_millis() as u64 {
                return Ok(s);
            }
            let v = self.store.tenant_version(tenant).await?;
            if v == s.version {
                s.checked_ms.store(now_ms, Ordering::Relaxed);
                return Ok(s);
            }
        }
        let _guard = cache.reload.lock().await;
        // Another task may have reloaded while we waited.
        if let Some(s) = cache.cached(tenant).filter(|s| !retired(s))
            && cache.elapsed_ms().saturating_sub(s.checked_ms.load(Ordering::Relaxed))
                < cache.interval.as_millis() as u64
        {
            return Ok(s);
        }
        let state = Arc::new(self.load_tenant_state(tenant).await?);
        if let Ok(mut m) = cache.states.write() {
            m.insert(tenant, state.clone());
        }
        Ok(state)
    }

    /// Resolves a tenant domain (case-insensitive) to its id, caching positive answers.
    pub async fn tenant_by_domain(&self, domain: &str) -> Result<Option<TenantId>, StoreError> {
        let key = domain.to_ascii_lowercase();
        if let Some(id) = self.cache.domains.read().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(Some(id));
        }
        let found = self.store.find_tenant_by_domain(&key).await?;
        if let Some(t) = &found
            && let Ok(mut m) = self.cache.domains.write()
        {
            m.insert(key, t.id);
        }
        Ok(found.map(|t| t.id))
    }

    async fn load_tenant_state(&self, tenant_id: TenantId) -> Result<TenantState, CacheError> {
        let tenant = self.store.get_tenant(tenant_id).await?.ok_or(CacheError::NoTenant)?;
        let version = self.store.tenant_version(tenant_id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => CacheError::NoTenant,
            other => CacheError::Store(other),
        })?;
        let now = self.now();
        let keys = KeyRing::load(tenant_id, &self.store.list_signing_keys(tenant_id).await?, &self.kek, now)?;

        let apps = self.list_all(tenant_id, ObjectKind::Application).await?;
        let sps = self.list_all(tenant_id, ObjectKind::ServicePrincipal).await?;
        let mut sp_by_app: HashMap<Uuid, ServicePrincipal> = HashMap::new();
        let mut resources = HashMap::new();
        let mut service_principals = HashMap::new();
        for o in sps {
            if let DirectoryObject::ServicePrincipal(sp) = o {
                let sp_arc = Arc::new(sp.clone());
                service_principals.insert(sp.id, sp_arc.clone());
                resources.insert(normalize_resource(&sp.app_id.to_string()), sp_arc.clone());
                for name in &sp.service_principal_names {
                    resources.insert(normalize_resource(name), sp_arc.clone());
                }
                sp_by_app.insert(sp.app_id, sp);
            }
        }
        let mut clients = HashMap::new();
        for o in apps {
            if let DirectoryObject::Application(app) = o {
                let certs = app
                    .key_credentials
                    .iter()
                    .filter_map(|kc| {
                        let der = ostiary_crypto::b64::std_decode(&kc.key).ok()?;
                        Certificate::from_der(&der).ok().map(|c| (kc.clone(), c))
                    })
                    .collect();
                let sp = sp_by_app.get(&app.app_id).cloned();
                clients.insert(app.app_id, Arc::new(ClientEntry { app, sp, certs }));
            }
        }
        let mut grants: HashMap<(ObjectId, ObjectId), Vec<Uuid>> = HashMap::new();
        for a in self.store.list_app_role_assignments(tenant_id, AssignmentsBy::All).await? {
            grants.entry((a.principal_id, a.resource_id)).or_default().push(a.app_role_id);
        }
        let settings = self.load_tenant_settings(tenant_id).await?;
        let policies = Arc::new(self.load_policy_set(tenant_id).await?);
        Ok(TenantState {
            tenant,
            version,
            keys,
            clients,
            resources,
            service_principals,
            grants,
            settings,
            policies,
            checked_ms: AtomicU64::new(self.cache.elapsed_ms()),
        })
    }

    async fn list_all(&self, tenant: TenantId, kind: ObjectKind) -> Result<Vec<DirectoryObject>, StoreError> {
        let mut out = Vec::new();
        let mut q = ListQuery { top: 999, ..ListQuery::default() };
        loop {
            let page = self.store.list_objects(tenant, kind, &q).await?;
            out.extend(page.items);
            match page.next {
                Some(n) => q.skip_token = Some(n),
                None => return Ok(out),
            }
        }
    }
}
