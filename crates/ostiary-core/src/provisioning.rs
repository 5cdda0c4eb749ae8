//! Outbound SCIM provisioning (Entra's "Provisioning" blade of an enterprise application): one
//! job per service principal, stored in KV like Conditional Access policies, with the target's
//! base URL, a bearer secret sealed with the KEK, attribute mappings (`ostiary-provisioning`),
//! the scope (assigned users and groups, or all), and the engine's progress: the cursor in the
//! commit-ordered log feed, initial-cycle progress, health, counters and escrowed objects.
//!
//! The admin surface (Graph `synchronization` endpoints, the CLI) is built on the `Core` methods
//! here; `run_provisioning_cycle` is what the server's background loop calls.
//!
//! KV kinds: `provisioningJob` (key = service principal id, doc = [`Job`]) and
//! `provisioningObject` (key = `{job id}/{source object id}`, doc = the source → target link).
//! Log records: `LogKind::Provisioning` with the Graph `provisioningObjectSummary` as doc,
//! `principal_id` = source object id, `principal_name` = its name (lowercased), `app_id` = the
//! service principal's appId, `correlation_id` = cycle id, `status` 0 success / 1 failure /
//! 2 skipped / 3 warning, `category` = provisioningAction, `activity` = job id.

pub mod engine;
pub mod target;

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use crate::auth::{Caller, Permission};
use crate::error::DirError;
use ostiary_crypto::secret::Secret;
use ostiary_model::{DirectoryObject, ObjectId, ServicePrincipal, TenantId};
use ostiary_provisioning::mapping::{self, ObjectMapping};
use ostiary_provisioning::retry::{Health, RetryPolicy};
use ostiary_store::{KvEntry, KvOp, KvSelect, LogKind, LogQuery, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

pub use engine::CycleReport;
pub use target::{HttpConnector, ResourceKind, ScimConnector, ScimTarget, TargetError};

pub const JOB_KIND: &str = "provisioningJob";
pub const OBJECT_KIND: &str = "provisioningObject";
/// Longest accepted bearer secret.
pub const MAX_SECRET_LEN: usize = 4096;
/// Escrowed objects kept per job; beyond it the oldest are dropped with a warning record (the
/// next full restart reconciles them).
pub const MAX_ESCROW: usize = 10_000;

/// Whether the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    Active,
    Paused,
    /// Stopped by the engine after repeated failures (see `health.quarantine`); `start` resumes.
    Quarantined,
}

/// Which users and groups the job provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Users with an app-role assignment to the service principal or in an assigned group
    /// (transitively), and the assigned groups themselves (Entra's default).
    #[default]
    AssignedOnly,
    /// Every user and group of the tenant.
    All,
}

/// Where the initial cycle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Users,
    Groups,
    /// Objects provisioned earlier that are no longer in scope.
    Reconcile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitialProgress {
    pub phase: Phase,
    /// Objects of the phase already processed.
    pub offset: u64,
}

/// What the job did since it was created (or restarted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub created: u64,
    pub updated: u64,
    pub disabled: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub failed: u64,
    pub cycles: u64,
}

/// An object whose last action failed permanently; retried at `retry_at`, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscrowItem {
    pub source_id: String,
    /// "user" or "group".
    pub kind: String,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub retry_at: OffsetDateTime,
    pub reason: String,
}

/// A provisioning job as stored (the sealed secret never leaves the core: see [`Job::view`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub service_principal_id: String,
    pub state: JobState,
    pub target_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sealed_secret: Option<String>,
    pub object_mappings: Vec<ObjectMapping>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Incremented by `restart`: progress saved by a cycle of an older generation is dropped.
    #[serde(default)]
    pub generation: u64,
    /// The last log sequence number whose directory changes were fully processed.
    #[serde(default)]
    pub cursor: Option<i64>,
    #[serde(default)]
    pub initial: Option<InitialProgress>,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub counters: Counters,
    #[serde(default)]
    pub escrow: Vec<EscrowItem>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_cycle_date_time: Option<OffsetDateTime>,
}

impl Job {
    /// The admin's view: everything but the secret, plus whether one is set and the matching
    /// attributes.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("sealedSecret");
            o.insert("secretConfigured".into(), Value::Bool(self.sealed_secret.is_some()));
            o.insert("quarantine".into(), serde_json::to_value(&self.health.quarantine).unwrap_or(Value::Null));
            let matching: serde_json::Map<String, Value> = self
                .object_mappings
                .iter()
                .filter_map(|m| Some((m.source.clone(), Value::String(m.compile().ok()?.matching_path().to_string()))))
                .collect();
            o.insert("matchingAttributes".into(), Value::Object(matching));
        }
        v
    }

    pub fn mapping(&self, source: &str) -> Option<&ObjectMapping> {
        self.object_mappings.iter().find(|m| m.source == source)
    }
}

/// What an admin sets (JSON, camelCase). Omitted fields keep their value (defaults on create).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobConfig {
    #[serde(default)]
    pub target_url: Option<String>,
    #[serde(default)]
    pub object_mappings: Option<Vec<ObjectMapping>>,
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Shortcut: the user mapping's target path to match on (priority 1; the others 0).
    #[serde(default)]
    pub matching_attribute: Option<String>,
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

/// https, or http to a loopback host (a target on the same machine, and tests).
pub fn validate_target_url(url: &str) -> Result<(), DirError> {
    let bad = |m: &str| DirError::BadRequest(format!("targetUrl: {m}"));
    let u = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("credentials belong in the secret token, not in the URL"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment"));
    }
    let Some(host) = u.host_str() else { return Err(bad("a host is required")) };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad("https is required (http only to a loopback host)")),
    }
}

fn validate_mappings(maps: &[ObjectMapping]) -> Result<(), DirError> {
    let users = maps.iter().filter(|m| m.source == "user").count();
    let groups = maps.iter().filter(|m| m.source == "group").count();
    if users != 1 || groups > 1 || users + groups != maps.len() {
        return Err(DirError::bad("objectMappings: exactly one user mapping and at most one group mapping"));
    }
    for m in maps {
        m.compile().map_err(|e| DirError::BadRequest(format!("objectMappings ({}): {e}", m.source)))?;
    }
    Ok(())
}

fn apply_matching(maps: &mut [ObjectMapping], attr: &str) -> Result<(), DirError> {
    let Some(user) = maps.iter_mut().find(|m| m.source == "user") else {
        return Err(DirError::bad("matchingAttribute: no user mapping"));
    };
    if !user.mappings.iter().any(|a| a.target.eq_ignore_ascii_case(attr)) {
        return Err(DirError::BadRequest(format!("matchingAttribute: '{attr}' is not a mapped target attribute")));
    }
    for a in &mut user.mappings {
        a.matching_priority = u32::from(a.target.eq_ignore_ascii_case(attr));
    }
    Ok(())
}

fn aad(tenant: TenantId, sp: &str) -> Vec<u8> {
    format!("ostiary-provisioning/{tenant}/{sp}/provisioning").into_bytes()
}

fn job_entry(job: &Job, version: i64) -> Result<KvEntry, DirError> {
    Ok(KvEntry {
        kind: JOB_KIND.into(),
        key: job.service_principal_id.clone(),
        doc: serde_json::to_value(job).map_err(|e| DirError::Internal(e.to_string()))?,
        version,
        expires_at: None,
        user_id: None,
        family_id: None,
    })
}

/// Runtime state of provisioning in this process.
pub(crate) struct Runtime {
    connector: std::sync::RwLock<Option<Arc<dyn ScimConnector>>>,
    /// One cycle or on-demand run at a time in this process (jobs share the target's limits).
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { connector: std::sync::RwLock::new(None), lock: tokio::sync::Mutex::new(()) }
    }
}

impl Core {
    /// Replaces how jobs reach their targets (tests inject failing targets; the default is
    /// [`HttpConnector`] with a 30-second timeout).
    pub fn set_scim_connector(&self, connector: Arc<dyn ScimConnector>) {
        if let Ok(mut c) = self.provisioning.connector.write() {
            *c = Some(connector);
        }
    }

    pub(crate) fn scim_connector(&self) -> Result<Arc<dyn ScimConnector>, String> {
        if let Ok(c) = self.provisioning.connector.read()
            && let Some(c) = c.as_ref()
        {
            return Ok(c.clone());
        }
        let c: Arc<dyn ScimConnector> = Arc::new(HttpConnector::new(std::time::Duration::from_secs(30))?);
        if let Ok(mut slot) = self.provisioning.connector.write() {
            *slot = Some(c.clone());
        }
        Ok(c)
    }

    async fn provisioning_sp(&self, tenant: TenantId, sp: ObjectId) -> Result<ServicePrincipal, DirError> {
        match self.store.get_object(tenant, sp).await? {
            Some(DirectoryObject::ServicePrincipal(s)) => Ok(s),
            _ => Err(DirError::NotFound(sp.to_string())),
        }
    }

    pub(crate) async fn load_job(&self, tenant: TenantId, sp: &str) -> Result<Option<(Job, i64)>, StoreError> {
        let Some(e) = self.store.kv_get(tenant, JOB_KIND, sp, self.now()).await? else { return Ok(None) };
        match serde_json::from_value::<Job>(e.doc) {
            Ok(j) => Ok(Some((j, e.version))),
            Err(err) => Err(StoreError::Backend(format!("unreadable provisioning job {sp}: {err}"))),
        }
    }

    async fn job_or_404(&self, tenant: TenantId, sp: ObjectId) -> Result<(Job, i64), DirError> {
        self.load_job(tenant, &sp.to_string())
            .await?
            .ok_or_else(|| DirError::NotFound(format!("provisioning job of {sp}")))
    }

    /// Writes the job with an audit record, compare-and-swap on `version` (0 = create).
    async fn save_job(&self, caller: &Caller, job: &Job, version: i64, activity: &str) -> Result<(), DirError> {
        let mut target = Target::new(job.service_principal_id.clone(), "ServicePrincipal");
        target.modified = vec![serde_json::json!({
            "displayName": "SynchronizationJob",
            "oldValue": null,
            "newValue": format!("[\"{}\"]", job.id),
        })];
        let activity = Activity::new(activity, "ProvisioningManagement", "Update").target(target);
        let op = if version == 0 { KvOp::Insert(job_entry(job, 1)?) } else { KvOp::Update(job_entry(job, version)?) };
        let ops = [op, self.audit_op(&Actor::from_caller(caller), &activity)];
        self.store.kv_apply(caller.tenant, &ops, false, self.now()).await.map_err(|e| match e {
            StoreError::Conflict { .. } => {
                DirError::Conflict("The provisioning job was changed concurrently; retry.".into())
            }
            other => other.into(),
        })?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }

    /// Creates or updates the provisioning job of a service principal. A new job starts paused
    /// with Entra's default mappings unless others are given; `start_provisioning` runs it.
    /// Returns the job's view.
    pub async fn configure_provisioning(
        &self,
        caller: &Caller,
        sp: ObjectId,
        config: JobConfig,
    ) -> Result<Value, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        self.provisioning_sp(caller.tenant, sp).await?;
        let existing = self.load_job(caller.tenant, &sp.to_string()).await?;
        let (mut job, version) = match existing {
            Some(j) => j,
            None => {
                let Some(url) = config.target_url.clone() else {
                    return Err(DirError::bad("targetUrl (the target's base address) is required"));
                };
                let job = Job {
                    id: self.new_uuid().to_string(),
                    service_principal_id: sp.to_string(),
                    state: JobState::Paused,
                    target_url: url,
                    sealed_secret: None,
                    object_mappings: vec![mapping::default_user_mappings(), mapping::default_group_mappings()],
                    scope: Scope::AssignedOnly,
                    retry: RetryPolicy::default(),
                    generation: 0,
                    cursor: None,
                    initial: None,
                    health: Health::default(),
                    counters: Counters::default(),
                    escrow: Vec::new(),
                    created_date_time: self.now_seconds(),
                    last_cycle_date_time: None,
                };
                (job, 0)
            }
        };
        if let Some(url) = config.target_url {
            job.target_url = url;
        }
        validate_target_url(&job.target_url)?;
        if let Some(maps) = config.object_mappings {
            job.object_mappings = maps;
        }
        if let Some(attr) = config.matching_attribute.as_deref() {
            apply_matching(&mut job.object_mappings, attr)?;
        }
        validate_mappings(&job.object_mappings)?;
        if let Some(scope) = config.scope {
            job.scope = scope;
        }
        if let Some(r) = config.retry {
            if r.quarantine_after == 0 || r.base_ms == 0 || r.cap_ms < r.base_ms {
                return Err(DirError::bad("retry: quarantineAfter and baseMs must be positive, capMs ≥ baseMs"));
            }
            job.retry = r;
        }
        let name = if version == 0 { "Add provisioning job" } else { "Update provisioning job" };
        self.save_job(caller, &job, version, name).await?;
        Ok(job.view())
    }

    /// The job's view (no secret).
    pub async fn get_provisioning_job(&self, caller: &Caller, sp: ObjectId) -> Result<Value, DirError> {
        caller.require(Permission::ReadSynchronization)?;
        Ok(self.job_or_404(caller.tenant, sp).await?.0.view())
    }

    /// Every job of the tenant.
    pub async fn list_provisioning_jobs(&self, caller: &Caller) -> Result<Vec<Value>, DirError> {
        caller.require(Permission::ReadSynchronization)?;
        let entries =
            self.store.kv_list(caller.tenant, JOB_KIND, &KvSelect::Prefix(String::new()), 1000, self.now()).await?;
        Ok(entries.into_iter().filter_map(|e| serde_json::from_value::<Job>(e.doc).ok()).map(|j| j.view()).collect())
    }

    /// Deletes the job and its source → target links (target objects stay as they are).
    pub async fn delete_provisioning_job(&self, caller: &Caller, sp: ObjectId) -> Result<(), DirError> {
        caller.require(Permission::WriteSynchronization)?;
        let (job, _) = self.job_or_404(caller.tenant, sp).await?;
        let mut target = Target::new(sp.to_string(), "ServicePrincipal");
        target.display_name = Some(job.id.clone());
        let activity = Activity::new("Delete provisioning job", "ProvisioningManagement", "Delete").target(target);
        let ops = [
            KvOp::Delete { kind: JOB_KIND.into(), key: sp.to_string() },
            self.audit_op(&Actor::from_caller(caller), &activity),
        ];
        self.store.kv_apply(caller.tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        // Links are bounded per batch; leftovers are unreachable (keyed by the dead job id).
        let keys = engine::scan_keys(self, caller.tenant, &format!("{}/", job.id)).await?;
        for chunk in keys.chunks(500) {
            let ops: Vec<KvOp> =
                chunk.iter().map(|k| KvOp::Delete { kind: OBJECT_KIND.into(), key: k.clone() }).collect();
            self.store.kv_apply(caller.tenant, &ops, false, self.now()).await?;
        }
        Ok(())
    }

    /// Sets the bearer secret the job sends to the target (sealed with the KEK; never logged,
    /// never returned). An empty secret removes it. The job must exist.
    pub async fn set_provisioning_secret(
        &self,
        caller: &Caller,
        sp: ObjectId,
        secret: Secret<String>,
    ) -> Result<(), DirError> {
        self.job_or_404(caller.tenant, sp).await?;
        self.set_provisioning_credentials(caller, sp, None, Some(secret)).await.map(|_| ())
    }

    /// Entra's `synchronization/secrets` (`BaseAddress`, `SecretToken`), which may come before
    /// the job exists: creates a paused job with the default mappings when there is none (a
    /// base address is then required), else updates the target URL and/or the secret. An empty
    /// secret removes it. Returns the job's view.
    pub async fn set_provisioning_credentials(
        &self,
        caller: &Caller,
        sp: ObjectId,
        base_address: Option<String>,
        secret: Option<Secret<String>>,
    ) -> Result<Value, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        if let Some(s) = &secret
            && (s.expose().len() > MAX_SECRET_LEN || s.expose().chars().any(char::is_control))
        {
            return Err(DirError::bad("The secret token is too long or holds control characters."));
        }
        if self.load_job(caller.tenant, &sp.to_string()).await?.is_none() || base_address.is_some() {
            let config = JobConfig { target_url: base_address, ..JobConfig::default() };
            self.configure_provisioning(caller, sp, config).await?;
        }
        let (mut job, version) = self.job_or_404(caller.tenant, sp).await?;
        let Some(secret) = secret else { return Ok(job.view()) };
        job.sealed_secret = if secret.expose().is_empty() {
            None
        } else {
            let sealed = self.kek.seal(
                secret.expose().as_bytes(),
                &aad(caller.tenant, &job.service_principal_id),
                self.rng.as_ref(),
            );
            Some(ostiary_crypto::b64::url_encode(&sealed))
        };
        self.save_job(caller, &job, version, "Update provisioning secret").await?;
        Ok(job.view())
    }

    /// The opened secret of a job (for the connector only).
    pub(crate) fn job_secret(&self, tenant: TenantId, job: &Job) -> Result<Option<Secret<String>>, String> {
        let Some(sealed) = &job.sealed_secret else { return Ok(None) };
        let raw = ostiary_crypto::b64::url_decode(sealed).map_err(|_| "the stored secret is corrupt".to_string())?;
        let opened = self
            .kek
            .open(&raw, &aad(tenant, &job.service_principal_id))
            .map_err(|_| "the stored secret cannot be opened with this key-encryption key".to_string())?;
        let text =
            String::from_utf8(opened.expose().clone()).map_err(|_| "the stored secret is corrupt".to_string())?;
        Ok(Some(Secret::new(text)))
    }

    /// Starts (or resumes a paused or quarantined) job: it runs at the next cycle, from where it
    /// stopped.
    pub async fn start_provisioning(&self, caller: &Caller, sp: ObjectId) -> Result<Value, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        let (mut job, version) = self.job_or_404(caller.tenant, sp).await?;
        job.state = JobState::Active;
        job.health.resume();
        self.save_job(caller, &job, version, "Start provisioning job").await?;
        Ok(job.view())
    }

    /// Pauses a job; its progress is kept.
    pub async fn pause_provisioning(&self, caller: &Caller, sp: ObjectId) -> Result<Value, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        let (mut job, version) = self.job_or_404(caller.tenant, sp).await?;
        job.state = JobState::Paused;
        self.save_job(caller, &job, version, "Pause provisioning job").await?;
        Ok(job.view())
    }

    /// Full reset: forgets the cursor, initial-cycle progress, escrow, counters and health, and
    /// runs a new initial cycle (matching finds the objects already in the target). Active.
    pub async fn restart_provisioning(&self, caller: &Caller, sp: ObjectId) -> Result<Value, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        let (mut job, version) = self.job_or_404(caller.tenant, sp).await?;
        job.state = JobState::Active;
        job.generation += 1;
        job.cursor = None;
        job.initial = None;
        job.escrow.clear();
        job.counters = Counters::default();
        job.health = Health::default();
        self.save_job(caller, &job, version, "Restart provisioning job").await?;
        Ok(job.view())
    }

    /// Provisions one user now, whatever the job's state (Entra's "Provision on demand"):
    /// returns the `provisioningObjectSummary` records of what happened (also logged).
    pub async fn provision_on_demand(
        &self,
        caller: &Caller,
        sp: ObjectId,
        user: ObjectId,
    ) -> Result<Vec<Value>, DirError> {
        caller.require(Permission::WriteSynchronization)?;
        let _guard = self.provisioning.lock.lock().await;
        let (job, _) = self.job_or_404(caller.tenant, sp).await?;
        let spo = self.provisioning_sp(caller.tenant, sp).await?;
        let initiator = (
            caller.object_id.to_string(),
            caller.user_principal_name.clone().or_else(|| caller.app_display_name.clone()).unwrap_or_default(),
            !caller.is_app,
        );
        engine::on_demand(self, caller.tenant, job, spo, user, initiator).await.map_err(|e| match e {
            engine::Halt::Store(e) => DirError::from_store(e),
            engine::Halt::Config(m) => DirError::BadRequest(m),
            engine::Halt::Target(..) => DirError::Unavailable,
        })
    }

    /// Provisioning records of the tenant, newest first. `q.kind` is forced to provisioning;
    /// `q.activity` selects a job id, `q.principal_id` a source object, `q.correlation_id` a
    /// cycle, `q.category` an action, `q.status` 0 success / 1 failure / 2 skipped / 3 warning.
    pub async fn provisioning_logs(&self, caller: &Caller, mut q: LogQuery) -> Result<Vec<Value>, DirError> {
        caller.require(Permission::ReadAuditLogs)?;
        q.kind = LogKind::Provisioning;
        q.limit = q.limit.clamp(1, 1000);
        Ok(self.store.query_logs(caller.tenant, &q).await?.into_iter().map(|r| r.record.doc).collect())
    }

    /// Runs every active job of every tenant whose backoff has passed: the initial cycle until
    /// done, escrowed objects that are due, then the directory changes after the job's cursor.
    /// The server's background loop calls this every few seconds.
    pub async fn run_provisioning_cycle(&self, now: OffsetDateTime) -> Result<CycleReport, StoreError> {
        let _guard = self.provisioning.lock.lock().await;
        let mut report = CycleReport::default();
        let mut quarantined = 0i64;
        for t in self.store.list_tenants().await? {
            let entries = self.store.kv_list(t.id, JOB_KIND, &KvSelect::Prefix(String::new()), 1000, now).await?;
            for e in entries {
                let job: Job = match serde_json::from_value(e.doc) {
                    Ok(j) => j,
                    Err(err) => {
                        tracing::error!(tenant = %t.id, key = %e.key, error = %err, "unreadable provisioning job");
                        continue;
                    }
                };
                if job.state == JobState::Quarantined {
                    quarantined += 1;
                }
                if job.state != JobState::Active || !job.health.due(now) {
                    continue;
                }
                engine::run_job(self, t.id, job, now, &mut report).await?;
            }
        }
        self.metrics.provisioning_quarantined_jobs.set_i64(quarantined + i64::from(report.jobs_quarantined));
        Ok(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        let cases: &[(&str, bool)] = &[
            ("https://scim.example.com/scim/v2", true),
            ("https://scim.example.com:8443", true),
            ("http://127.0.0.1:9000/scim", true),
            ("http://127.10.0.1/scim", true),
            ("http://localhost:8080/scim", true),
            ("http://LOCALHOST/scim", true),
            ("http://[::1]:9000/scim", true),
            ("http://scim.example.com/scim", false),
            ("http://10.0.0.5/scim", false),
            ("http://localhost.example.com/scim", false),
            ("https://user:pw@scim.example.com/", false),
            ("https://scim.example.com/scim?x=1", false),
            ("https://scim.example.com/scim#f", false),
            ("ftp://scim.example.com/", false),
            ("file:///etc/passwd", false),
            ("scim.example.com", false),
            ("", false),
        ];
        for (url, ok) in cases {
            assert_eq!(validate_target_url(url).is_ok(), *ok, "{url}");
        }
    }

    #[test]
    fn the_view_never_shows_the_secret() {
        let job = Job {
            id: "j".into(),
            service_principal_id: "sp".into(),
            state: JobState::Paused,
            target_url: "https://x".into(),
            sealed_secret: Some("c2VhbGVk".into()),
            object_mappings: vec![mapping::default_user_mappings(), mapping::default_group_mappings()],
            scope: Scope::All,
            retry: RetryPolicy::default(),
            generation: 0,
            cursor: None,
            initial: None,
            health: Health::default(),
            counters: Counters::default(),
            escrow: Vec::new(),
            created_date_time: OffsetDateTime::UNIX_EPOCH,
            last_cycle_date_time: None,
        };
        let stored = serde_json::to_value(&job).unwrap();
        assert_eq!(stored["sealedSecret"], "c2VhbGVk", "stored sealed");
        let v = job.view();
        assert!(v.get("sealedSecret").is_none());
        assert!(!v.to_string().contains("c2VhbGVk"));
        assert_eq!(v["secretConfigured"], true);
        assert_eq!(v["scope"], "all");
        assert_eq!(v["matchingAttributes"], serde_json::json!({"user": "userName", "group": "displayName"}));
        assert_eq!(serde_json::from_value::<Job>(stored).unwrap(), job);
    }

    #[test]
    fn mapping_sets_are_checked() {
        let u = mapping::default_user_mappings();
        let g = mapping::default_group_mappings();
        assert!(validate_mappings(&[u.clone(), g.clone()]).is_ok());
        assert!(validate_mappings(std::slice::from_ref(&u)).is_ok());
        assert!(validate_mappings(std::slice::from_ref(&g)).is_err(), "a user mapping is required");
        assert!(validate_mappings(&[u.clone(), u.clone()]).is_err());
        let mut maps = vec![u, g];
        apply_matching(&mut maps, "externalId").unwrap();
        let m = maps[0].compile().unwrap();
        assert_eq!(m.matching_path(), "externalId");
        assert!(apply_matching(&mut maps, "nickName").is_err());
    }
}
