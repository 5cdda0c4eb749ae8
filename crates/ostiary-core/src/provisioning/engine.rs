//! The provisioning engine: one run of a job. The initial cycle pages through the scope (users,
//! then groups, then earlier-provisioned objects that left it); incremental cycles read the
//! directory-audit records after the job's cursor, work out which users and groups they touch,
//! and bring each one's target object in line: create, update (minimal PATCH), disable
//! (`active=false`), delete, and group membership Add/Remove.
//!
//! Nothing is lost: the cursor advances past a batch of records only when every action it
//! caused succeeded or was recorded as a permanent failure and escrowed (retried later). A
//! throttled, failing or unreachable target stops the run where it is; the job backs off and
//! resumes from the same place. Every action, skip and failure is one provisioning record,
//! written in the same transaction as the progress it belongs to.

use super::target::{ResourceKind, ScimTarget, TargetError};
use super::{Counters, EscrowItem, InitialProgress, Job, JobState, MAX_ESCROW, OBJECT_KIND, Phase, Scope};
use crate::Core;
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind, ServicePrincipal, TenantId};
use ostiary_provisioning::mapping::Compiled;
use ostiary_provisioning::retry::{self, Decision, Operation, Outcome};
use ostiary_provisioning::summary::{Action, Identity, Status, StepType, Summary};
use ostiary_store::{AssignmentsBy, KvEntry, KvOp, KvSelect, ListQuery, LogKind, NewLogRecord, Relation, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

/// Objects per initial-cycle chunk (progress and records are saved after each).
pub const CHUNK: usize = 200;
/// Log records read from the feed at a time. The feed holds every tenant's records of every kind
/// (sign-ins too: the store has no per-tenant feed), so batches are large.
pub const FEED_BATCH: u32 = 2000;
/// Member references per membership PATCH.
const MEMBERS_PER_PATCH: usize = 100;

/// What a call of `run_provisioning_cycle` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub jobs_run: u32,
    /// Records written (actions, skips and failures).
    pub records: u64,
    /// Jobs that stopped early (throttled, failing target) and will resume.
    pub jobs_backing_off: u32,
    /// Jobs quarantined by this call.
    pub jobs_quarantined: u32,
}

/// Why a run stopped early.
#[derive(Debug)]
pub enum Halt {
    /// The target failed in a way that concerns the whole job (throttled, down, refusing the
    /// credentials); the detail is for `health.lastError`.
    Target(Outcome, String),
    /// The job's configuration cannot work (e.g. the secret cannot be opened).
    Config(String),
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Store(e)
    }
}

/// The link between a source object and its target object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectLink {
    pub source_id: String,
    /// "user" or "group".
    pub kind: String,
    pub target_id: String,
    /// Users: false once disabled in the target.
    pub active: bool,
    /// Groups: source member id → target member id, as added to the target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
    fn resource(self) -> ResourceKind {
        match self {
            Kind::User => ResourceKind::User,
            Kind::Group => ResourceKind::Group,
        }
    }
    fn object_kind(self) -> ObjectKind {
        match self {
            Kind::User => ObjectKind::User,
            Kind::Group => ObjectKind::Group,
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        match s {
            "user" => Some(Kind::User),
            "group" => Some(Kind::Group),
            _ => None,
        }
    }
}

/// Users and groups in scope of an assigned-only job.
struct ScopeSet {
    users: HashSet<ObjectId>,
    groups: HashSet<ObjectId>,
}

/// Graph properties that never flow to a target, whatever a mapping says: secrets and internal
/// bookkeeping.
const HIDDEN: &[&str] = &["passwordHash", "ostiaryScim", "forceChangePasswordNextSignIn", "lastPasswordChangeDateTime"];

/// The source object as mapping expressions see it: its Graph JSON without internal fields,
/// plus the attribute names Entra's default mappings use where Graph's differ.
fn source_view(obj: &DirectoryObject) -> Value {
    let mut v = obj.to_doc();
    if let Some(o) = v.as_object_mut() {
        for h in HIDDEN {
            o.remove(*h);
        }
        let alias = |o: &mut serde_json::Map<String, Value>, from: &str, to: &str| {
            if let Some(x) = o.get(from).cloned()
                && !o.contains_key(to)
            {
                o.insert(to.to_string(), x);
            }
        };
        alias(o, "mobilePhone", "mobile");
        alias(o, "officeLocation", "physicalDeliveryOfficeName");
        if let Some(first) = o.get("businessPhones").and_then(Value::as_array).and_then(|a| a.first()).cloned() {
            o.entry("telephoneNumber").or_insert(first);
        }
    }
    v
}

fn display_of(obj: &DirectoryObject) -> String {
    match obj {
        DirectoryObject::User(u) => u.user_principal_name.clone(),
        other => other.display_name().to_string(),
    }
}

/// All keys of `OBJECT_KIND` under `prefix` (see [`scan`]).
pub(crate) async fn scan_keys(core: &Core, tenant: TenantId, prefix: &str) -> Result<Vec<String>, StoreError> {
    Ok(scan(core, tenant, prefix).await?.into_iter().map(|e| e.key).collect())
}

/// All entries of `OBJECT_KIND` under `prefix`, however many, ordered by key: `kv_list`
/// returns at most 1,000 per call, so a full page is split by the next character (ids are
/// lowercase UUIDs).
pub(crate) async fn scan(core: &Core, tenant: TenantId, prefix: &str) -> Result<Vec<KvEntry>, StoreError> {
    let mut out: Vec<KvEntry> = Vec::new();
    let mut stack = vec![prefix.to_string()];
    while let Some(p) = stack.pop() {
        let page = core.store.kv_list(tenant, OBJECT_KIND, &KvSelect::Prefix(p.clone()), 1000, core.now()).await?;
        if page.len() < 1000 || p.len() > prefix.len() + 36 {
            out.extend(page);
        } else {
            for c in "0123456789abcdef-".chars().rev() {
                stack.push(format!("{p}{c}"));
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    Ok(out)
}

/// A uniform number in [0, 1) from the injected randomness (backoff jitter).
fn jitter(core: &Core) -> f64 {
    let b = ostiary_crypto::rand::random_bytes::<8>(core.rng.as_ref());
    #[allow(clippy::cast_precision_loss)]
    let x = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    x
}

struct Run<'a> {
    core: &'a Core,
    tenant: TenantId,
    job: Job,
    sp: ServicePrincipal,
    target: Arc<dyn ScimTarget>,
    users: Option<Compiled>,
    groups: Option<Compiled>,
    cycle_id: String,
    initiator: (String, String, bool),
    /// Records not yet written.
    records: Vec<NewLogRecord>,
    /// Link writes not yet applied, and the links as last known (read-through cache).
    pending: Vec<KvOp>,
    links: HashMap<String, Option<ObjectLink>>,
    /// Every link of the job is in `links` (preloaded for the initial cycle): a miss means none.
    links_complete: bool,
    scope: Option<ScopeSet>,
    /// Groups to re-sync after users of this run were created (memberships they missed).
    pending_groups: BTreeSet<ObjectId>,
    /// In the initial cycle, groups are processed after all users anyway.
    initial_mode: bool,
    /// Skip records for objects that are simply out of scope (incremental only).
    log_out_of_scope: bool,
    records_written: u64,
}

/// A step of a record under construction.
struct Rec {
    kind: Kind,
    source_id: String,
    source_name: String,
    target_id: String,
    action: Action,
    status: Status,
    steps: Vec<(StepType, Status, String)>,
    error: Option<(String, String)>,
    modified: Vec<(String, Option<String>, Option<String>)>,
    started: std::time::Instant,
}

impl Rec {
    fn new(kind: Kind, source_id: &str, source_name: &str) -> Rec {
        let mut r = Rec {
            kind,
            source_id: source_id.to_string(),
            source_name: source_name.to_string(),
            target_id: String::new(),
            action: Action::Other,
            status: Status::Success,
            steps: Vec::new(),
            error: None,
            modified: Vec::new(),
            started: std::time::Instant::now(),
        };
        r.steps.push((
            StepType::Import,
            Status::Success,
            format!("Received {} '{source_name}' from the directory", kind.name()),
        ));
        r
    }
    fn step(&mut self, ty: StepType, status: Status, text: impl Into<String>) {
        self.steps.push((ty, status, text.into()));
    }
}

impl<'a> Run<'a> {
    async fn new(
        core: &'a Core,
        tenant: TenantId,
        job: Job,
        sp: ServicePrincipal,
        initiator: (String, String, bool),
    ) -> Result<Run<'a>, Halt> {
        let secret = core.job_secret(tenant, &job).map_err(Halt::Config)?;
        let target =
            core.scim_connector().and_then(|c| c.connect(&job.target_url, secret.as_ref())).map_err(Halt::Config)?;
        let compile = |source: &str| -> Result<Option<Compiled>, Halt> {
            match job.mapping(source) {
                Some(m) if m.enabled => m.compile().map(Some).map_err(|e| Halt::Config(e.to_string())),
                _ => Ok(None),
            }
        };
        let users = compile("user")?;
        let groups = compile("group")?;
        Ok(Run {
            core,
            tenant,
            cycle_id: core.new_uuid().to_string(),
            job,
            sp,
            target,
            users,
            groups,
            initiator,
            records: Vec::new(),
            pending: Vec::new(),
            links: HashMap::new(),
            links_complete: false,
            scope: None,
            pending_groups: BTreeSet::new(),
            initial_mode: false,
            log_out_of_scope: true,
            records_written: 0,
        })
    }

    fn link_key(&self, source: &str) -> String {
        format!("{}/{source}", self.job.id)
    }

    /// The link of a source object (pending writes included).
    async fn link(&mut self, source: &str) -> Result<Option<ObjectLink>, StoreError> {
        let key = self.link_key(source);
        if let Some(l) = self.links.get(&key) {
            return Ok(l.clone());
        }
        if self.links_complete {
            return Ok(None);
        }
        let e = self.core.store.kv_get(self.tenant, OBJECT_KIND, &key, self.core.now()).await?;
        let l = e.and_then(|e| serde_json::from_value::<ObjectLink>(e.doc).ok());
        self.links.insert(key, l.clone());
        Ok(l)
    }

    fn put_link(&mut self, link: ObjectLink) {
        let key = self.link_key(&link.source_id);
        // Delete then insert is an unconditional upsert inside one batch.
        self.pending.push(KvOp::Delete { kind: OBJECT_KIND.into(), key: key.clone() });
        self.pending.push(KvOp::Insert(KvEntry {
            kind: OBJECT_KIND.into(),
            key: key.clone(),
            doc: serde_json::to_value(&link).unwrap_or(Value::Null),
            version: 1,
            expires_at: None,
            user_id: None,
            family_id: None,
        }));
        self.links.insert(key, Some(link));
    }

    fn drop_link(&mut self, source: &str) {
        let key = self.link_key(source);
        self.pending.push(KvOp::Delete { kind: OBJECT_KIND.into(), key: key.clone() });
        self.links.insert(key, None);
    }

    fn count(&mut self, action: Action, status: Status) {
        let c: &mut Counters = &mut self.job.counters;
        match (status, action) {
            (Status::Failure, _) => c.failed += 1,
            (Status::Skipped, _) => c.skipped += 1,
            (_, Action::Create) => c.created += 1,
            (_, Action::Update) => c.updated += 1,
            (_, Action::Disable) => c.disabled += 1,
            (_, Action::Delete | Action::StagedDelete) => c.deleted += 1,
            (_, Action::Other) => {}
        }
        self.core.metrics.provisioning_actions.inc(&[action.as_str(), status.as_str()]);
    }

    fn emit(&mut self, r: Rec) {
        let now = self.core.now();
        let id = self.core.new_uuid();
        let mut s = Summary::new(id.to_string(), now, r.action);
        s.job_id = self.job.id.clone();
        s.cycle_id = self.cycle_id.clone();
        s.change_id = self.core.new_uuid().to_string();
        s.duration_ms = u64::try_from(r.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        s.status = r.status;
        s.error = r.error.clone();
        for (ty, st, text) in &r.steps {
            s = s.step(*ty, *st, text.clone());
        }
        s.modified = r.modified.clone();
        s.service_principal = (self.sp.id.to_string(), self.sp.display_name.clone());
        let ty = r.kind.resource().identity_type().to_string();
        s.source =
            Identity { id: r.source_id.clone(), display_name: Some(r.source_name.clone()), identity_type: ty.clone() };
        s.target = Identity {
            id: r.target_id.clone(),
            display_name: Some(r.source_name.clone()).filter(|_| !r.target_id.is_empty()),
            identity_type: ty,
        };
        s.source_system = (self.tenant.to_string(), "Azure Active Directory".into());
        s.target_system = (self.job.id.clone(), self.sp.display_name.clone());
        s.initiated_by = self.initiator.clone();
        self.count(r.action, r.status);
        let status = match r.status {
            Status::Success => 0,
            Status::Failure => 1,
            Status::Skipped => 2,
            Status::Warning => 3,
        };
        self.records.push(NewLogRecord {
            tenant: self.tenant,
            kind: LogKind::Provisioning,
            id,
            time: now,
            principal_id: Some(r.source_id),
            principal_name: Some(r.source_name.to_lowercase()),
            app_id: Some(self.sp.app_id.to_string()),
            correlation_id: Some(self.cycle_id.clone()),
            status,
            category: r.action.as_str().to_string(),
            activity: self.job.id.clone(),
            doc: s.to_json(),
        });
    }

    /// A failed request: a job-level failure halts the run (after its record); anything else is
    /// this object's permanent failure, recorded and escrowed.
    fn failed(&mut self, mut r: Rec, op: Operation, err: &TargetError) -> Result<(), Halt> {
        let outcome = err.outcome(op, self.core.now());
        r.status = Status::Failure;
        r.step(StepType::Export, Status::Failure, format!("{op:?} failed: {err}"));
        r.error = Some((err.error_code(), err.to_string()));
        let (kind, source) = (r.kind, r.source_id.clone());
        self.emit(r);
        if outcome.is_job_failure() {
            return Err(Halt::Target(outcome, err.to_string()));
        }
        self.escrow(kind, &source, &err.to_string());
        Ok(())
    }

    fn escrow(&mut self, kind: Kind, source: &str, reason: &str) {
        let now = self.core.now();
        let policy = self.job.retry;
        let item = match self.job.escrow.iter_mut().find(|e| e.source_id == source) {
            Some(e) => e,
            None => {
                if self.job.escrow.len() >= MAX_ESCROW {
                    self.job.escrow.remove(0);
                }
                self.job.escrow.push(EscrowItem {
                    source_id: source.to_string(),
                    kind: kind.name().into(),
                    attempts: 0,
                    retry_at: now,
                    reason: String::new(),
                });
                let last = self.job.escrow.len() - 1;
                &mut self.job.escrow[last]
            }
        };
        item.attempts = item.attempts.saturating_add(1);
        item.reason = reason.to_string();
        // Permanent failures are retried, but not in a tight loop: at the capped backoff.
        item.retry_at =
            now + retry::backoff(item.attempts.min(30), &policy, 1.0).max(std::time::Duration::from_secs(60));
    }

    fn unescrow(&mut self, source: &str) {
        self.job.escrow.retain(|e| e.source_id != source);
    }

    // --- scope ------------------------------------------------------------------------------

    async fn scope_set(&mut self) -> Result<&ScopeSet, StoreError> {
        if self.scope.is_none() {
            let mut users = HashSet::new();
            let mut groups = HashSet::new();
            let assignments =
                self.core.store.list_app_role_assignments(self.tenant, AssignmentsBy::Resource(self.sp.id)).await?;
            for a in assignments {
                match a.principal_type.as_str() {
                    "User" => {
                        users.insert(a.principal_id);
                    }
                    "Group" => {
                        groups.insert(a.principal_id);
                        users.extend(self.transitive_users(a.principal_id).await?);
                    }
                    _ => {}
                }
            }
            self.scope = Some(ScopeSet { users, groups });
        }
        match &self.scope {
            Some(s) => Ok(s),
            None => Err(StoreError::Backend("scope not computed".into())),
        }
    }

    async fn transitive_users(&self, group: ObjectId) -> Result<Vec<ObjectId>, StoreError> {
        self.related(Relation::Members { group, transitive: true }, ObjectKind::User).await
    }

    async fn related(&self, rel: Relation, cast: ObjectKind) -> Result<Vec<ObjectId>, StoreError> {
        let mut out = Vec::new();
        let mut q = ListQuery { top: 999, cast: Some(cast), ..ListQuery::default() };
        loop {
            let page = self.core.store.list_related(self.tenant, rel, &q).await?;
            out.extend(page.items.iter().map(DirectoryObject::id));
            match page.next {
                Some(n) => q.skip_token = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    async fn in_scope(&mut self, kind: Kind, id: ObjectId) -> Result<bool, StoreError> {
        if self.job.scope == Scope::All {
            return Ok(true);
        }
        let s = self.scope_set().await?;
        Ok(match kind {
            Kind::User => s.users.contains(&id),
            Kind::Group => s.groups.contains(&id),
        })
    }

    fn compiled(&self, kind: Kind) -> Option<&Compiled> {
        match kind {
            Kind::User => self.users.as_ref(),
            Kind::Group => self.groups.as_ref(),
        }
    }

    // --- one object -------------------------------------------------------------------------

    /// Brings one source object's target object in line. `Ok` when done (including a recorded
    /// permanent failure); `Err` when the job must stop.
    async fn process(&mut self, kind: Kind, id: ObjectId, obj: Option<DirectoryObject>) -> Result<(), Halt> {
        if self.compiled(kind).is_none() {
            return Ok(());
        }
        let obj = match obj {
            Some(o) => Some(o),
            None => self.core.store.get_object(self.tenant, id).await?,
        };
        if obj.as_ref().is_some_and(|o| o.kind() != kind.object_kind()) {
            // Not an object of this kind (a stale or mistyped reference): never touch its link.
            return Ok(());
        }
        let source = id.to_string();
        let link = self.link(&source).await?;
        let Some(obj) = obj else {
            // Gone from the directory: delete the target object if we made or matched one.
            if let Some(link) = link {
                let r = Rec::new(kind, &source, &link.target_id);
                return self.delete_target(r, link).await;
            }
            return Ok(());
        };
        let name = display_of(&obj);
        let mut r = Rec::new(kind, &source, &name);
        if !self.in_scope(kind, id).await? {
            r.step(StepType::Scoping, Status::Skipped, "Not in scope: no assignment to the application");
            match link {
                Some(link) if kind == Kind::User && link.active => return self.disable(r, link).await,
                Some(link) if kind == Kind::Group => return self.delete_target(r, link).await,
                // Already disabled in the target, or never provisioned: nothing to send, but the
                // change is accounted for.
                Some(_) | None => {
                    if self.log_out_of_scope {
                        r.status = Status::Skipped;
                        r.error =
                            Some(("NotEffectivelyEntitled".into(), "The object is not in scope of the job.".into()));
                        self.emit(r);
                    }
                    return Ok(());
                }
            }
        }
        r.step(StepType::Scoping, Status::Success, "In scope");
        if let DirectoryObject::User(u) = &obj
            && !u.account_enabled
            && link.is_none()
        {
            r.status = Status::Skipped;
            r.error = Some(("NotEffectivelyEntitled".into(), "The user is disabled and not in the target.".into()));
            self.emit(r);
            return Ok(());
        }
        let src = source_view(&obj);
        self.upsert(r, kind, &src, link).await?;
        Ok(())
    }

    async fn disable(&mut self, mut r: Rec, mut link: ObjectLink) -> Result<(), Halt> {
        r.action = Action::Disable;
        r.target_id = link.target_id.clone();
        let ops = [json!({"op": "Replace", "path": "active", "value": false})];
        match self.target.patch(ResourceKind::User, &link.target_id, &ops).await {
            Ok(()) => {}
            Err(e) if e.outcome(Operation::Patch, self.core.now()) == Outcome::Missing => {}
            Err(e) => return self.failed(r, Operation::Patch, &e),
        }
        r.step(StepType::Export, Status::Success, "Disabled in the target (active = false)");
        r.modified.push(("active".into(), Some("true".into()), Some("false".into())));
        link.active = false;
        self.unescrow(&link.source_id);
        self.put_link(link);
        self.emit(r);
        Ok(())
    }

    async fn delete_target(&mut self, mut r: Rec, link: ObjectLink) -> Result<(), Halt> {
        r.action = Action::Delete;
        r.target_id = link.target_id.clone();
        let kind = Kind::parse(&link.kind).unwrap_or(r.kind);
        if let Err(e) = self.target.delete(kind.resource(), &link.target_id).await {
            return self.failed(r, Operation::Delete, &e);
        }
        r.step(StepType::Export, Status::Success, "Deleted from the target");
        self.unescrow(&link.source_id);
        self.drop_link(&link.source_id);
        self.emit(r);
        Ok(())
    }

    async fn upsert(&mut self, mut r: Rec, kind: Kind, src: &Value, link: Option<ObjectLink>) -> Result<(), Halt> {
        let rk = kind.resource();
        let Some(c) = self.compiled(kind).cloned() else { return Ok(()) };
        let built = c.desired(src, false).and_then(|d| {
            let b = if c.has_add_only() { c.desired(src, true)? } else { d.clone() };
            Ok((d, b))
        });
        let (desired, body) = match built {
            Ok(x) => x,
            Err(e) => {
                // Escrow cannot help: only a change of the source (which is an event) can.
                r.status = Status::Failure;
                r.step(StepType::Processing, Status::Failure, e.to_string());
                r.error = Some(("AttributeMappingError".into(), e.to_string()));
                self.emit(r);
                return Ok(());
            }
        };
        let mut current: Option<(String, Value)> = None;
        let mut members = BTreeMap::new();
        if let Some(l) = &link {
            members = l.members.clone();
            match self.target.get(rk, &l.target_id).await {
                Ok(v) => current = Some((l.target_id.clone(), v)),
                Err(e) if e.outcome(Operation::Get, self.core.now()) == Outcome::Missing => {
                    r.step(StepType::Matching, Status::Warning, "The linked target object is gone; provisioning anew");
                    members.clear();
                }
                Err(e) => return self.failed(r, Operation::Get, &e),
            }
        }
        if current.is_none() {
            match self.find(&c, rk, &desired).await {
                Ok(found) => current = found,
                Err(e) => return self.failed(r, Operation::Query, &e),
            }
            match &current {
                Some((tid, _)) => r.step(StepType::Matching, Status::Success, format!("Matched target object {tid}")),
                None => r.step(StepType::Matching, Status::Success, "No matching target object"),
            }
        }
        let target_id = match current {
            Some((tid, cur)) => {
                r.target_id = tid.clone();
                let ops = c.diff(&cur, &desired);
                if ops.is_empty() {
                    r.step(StepType::Processing, Status::Skipped, "Already in sync");
                    r.status = Status::Skipped;
                    r.error = Some(("RedundantExport".into(), "The target object is already in sync.".into()));
                } else {
                    r.action = if ops.len() == 1 && ops[0]["path"] == "active" && ops[0]["value"] == false {
                        Action::Disable
                    } else {
                        Action::Update
                    };
                    r.modified = c.changes(&cur, &ops);
                    if let Err(e) = self.target.patch(rk, &tid, &ops).await {
                        return self.failed(r, Operation::Patch, &e);
                    }
                    r.step(StepType::Export, Status::Success, format!("Updated {} attribute(s)", ops.len()));
                }
                tid
            }
            None => {
                r.action = Action::Create;
                let tid = match self.target.create(rk, &body).await {
                    Ok(created) => created.get("id").and_then(Value::as_str).map(str::to_string),
                    Err(e) if e.outcome(Operation::Create, self.core.now()) == Outcome::Conflict => {
                        // Exists after all (created concurrently, or the filter missed it).
                        match self.find(&c, rk, &desired).await {
                            Ok(Some((tid, cur))) => {
                                let ops = c.diff(&cur, &desired);
                                if !ops.is_empty()
                                    && let Err(e) = self.target.patch(rk, &tid, &ops).await
                                {
                                    return self.failed(r, Operation::Patch, &e);
                                }
                                r.action = Action::Update;
                                Some(tid)
                            }
                            Ok(None) => return self.failed(r, Operation::Create, &e),
                            Err(e) => return self.failed(r, Operation::Query, &e),
                        }
                    }
                    Err(e) => return self.failed(r, Operation::Create, &e),
                };
                let Some(tid) = tid else {
                    let e = TargetError {
                        status: Some(400),
                        retry_after: None,
                        detail: "the created resource has no id".into(),
                    };
                    return self.failed(r, Operation::Create, &e);
                };
                r.target_id = tid.clone();
                if r.action == Action::Create {
                    r.modified = body
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .filter(|(k, _)| *k != "schemas")
                                .map(|(k, v)| (k.clone(), None, Some(v.to_string())))
                                .collect()
                        })
                        .unwrap_or_default();
                }
                r.step(StepType::Export, Status::Success, format!("Created target object {tid}"));
                tid
            }
        };
        let active = desired.get("active").and_then(Value::as_bool).unwrap_or(true);
        let link = ObjectLink {
            source_id: r.source_id.clone(),
            kind: kind.name().into(),
            target_id: target_id.clone(),
            active,
            members,
        };
        let created = r.action == Action::Create;
        let source_id = r.source_id.clone();
        self.put_link(link);
        self.unescrow(&source_id);
        self.emit(r);
        if kind == Kind::Group {
            if let Ok(gid) = source_id.parse::<ObjectId>() {
                self.sync_members(gid).await?;
            }
        } else if created
            && !self.initial_mode
            && let Ok(uid) = source_id.parse::<ObjectId>()
        {
            // Groups already provisioned that this user belongs to must add it now.
            for g in self.related(Relation::MemberOf { object: uid, transitive: false }, ObjectKind::Group).await? {
                if self.link(&g.to_string()).await?.is_some() {
                    self.pending_groups.insert(g);
                }
            }
        }
        Ok(())
    }

    async fn find(
        &self,
        c: &Compiled,
        rk: ResourceKind,
        desired: &Value,
    ) -> Result<Option<(String, Value)>, TargetError> {
        let Some(filter) = c.matching_filter(desired) else { return Ok(None) };
        let found = self.target.query(rk, &filter).await?;
        Ok(found.into_iter().find_map(|v| Some((v.get("id")?.as_str()?.to_string(), v.clone()))))
    }

    /// Sends the membership changes of a provisioned group: its direct user members that are
    /// provisioned and active, against what was added before.
    async fn sync_members(&mut self, group: ObjectId) -> Result<(), Halt> {
        let gid = group.to_string();
        let Some(mut link) = self.link(&gid).await? else { return Ok(()) };
        let mut want: BTreeMap<String, String> = BTreeMap::new();
        for m in self.related(Relation::Members { group, transitive: false }, ObjectKind::User).await? {
            let ms = m.to_string();
            if let Some(ml) = self.link(&ms).await?
                && ml.active
            {
                want.insert(ms, ml.target_id);
            }
        }
        let add: Vec<(String, String)> =
            want.iter().filter(|(k, _)| !link.members.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut remove = Vec::new();
        for (k, v) in &link.members {
            if want.contains_key(k) {
                continue;
            }
            // A member whose target user was deleted left the group with it.
            if self.link(k).await?.is_none() {
                continue;
            }
            remove.push((k.clone(), v.clone()));
        }
        link.members.retain(|k, _| want.contains_key(k) || remove.iter().any(|(r, _)| r == k));
        let name = self.core.store.get_object(self.tenant, group).await?.map(|o| display_of(&o)).unwrap_or_default();
        for (op, list) in [("Add", add), ("Remove", remove)] {
            for chunk in list.chunks(MEMBERS_PER_PATCH) {
                let mut r = Rec::new(Kind::Group, &gid, &name);
                r.action = Action::Update;
                r.target_id = link.target_id.clone();
                // Adds as one value array; removals in RFC 7644's filter form, one op per member
                // (RFC-strict targets refuse a value on remove; Entra's newer mode sends this too).
                let ops: Vec<Value> = if op == "Add" {
                    let values: Vec<Value> = chunk.iter().map(|(_, t)| json!({"value": t})).collect();
                    vec![json!({"op": op, "path": "members", "value": values})]
                } else {
                    chunk
                        .iter()
                        .map(|(_, t)| {
                            let quoted = serde_json::to_string(t).unwrap_or_default();
                            json!({"op": op, "path": format!("members[value eq {quoted}]")})
                        })
                        .collect()
                };
                if let Err(e) = self.target.patch(ResourceKind::Group, &link.target_id, &ops).await {
                    // Keep what succeeded so far.
                    self.put_link(link.clone());
                    return self.failed(r, Operation::Patch, &e);
                }
                for (s, t) in chunk {
                    if op == "Add" {
                        link.members.insert(s.clone(), t.clone());
                    } else {
                        link.members.remove(s);
                    }
                }
                let ids: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
                let text = ids.join(",");
                r.modified.push((
                    "members".into(),
                    (op == "Remove").then(|| text.clone()),
                    (op == "Add").then_some(text),
                ));
                r.step(StepType::Export, Status::Success, format!("{op} {} member(s)", chunk.len()));
                self.emit(r);
            }
        }
        self.put_link(link);
        Ok(())
    }

    // --- persistence ------------------------------------------------------------------------

    /// Writes pending links, records and the job's progress in one transaction. Progress is
    /// dropped (links and records are still written) if the job was restarted or deleted
    /// meanwhile; the admin's state changes (pause) are kept.
    async fn save(&mut self, progress: bool) -> Result<(), StoreError> {
        for _ in 0..5 {
            let now = self.core.now();
            let mut ops: Vec<KvOp> = self.pending.clone();
            ops.extend(self.records.iter().map(|r| KvOp::AppendLog(Box::new(r.clone()))));
            let entry =
                self.core.store.kv_get(self.tenant, super::JOB_KIND, &self.job.service_principal_id, now).await?;
            let mut job_written = false;
            if progress
                && let Some(e) = &entry
                && let Ok(mut fresh) = serde_json::from_value::<Job>(e.doc.clone())
                && fresh.generation == self.job.generation
                && fresh.id == self.job.id
            {
                fresh.cursor = self.job.cursor;
                fresh.initial = self.job.initial;
                fresh.health = self.job.health.clone();
                fresh.counters = self.job.counters.clone();
                fresh.escrow = self.job.escrow.clone();
                fresh.last_cycle_date_time = self.job.last_cycle_date_time;
                if fresh.health.quarantine.is_some() && fresh.state == JobState::Active {
                    fresh.state = JobState::Quarantined;
                }
                let mut updated = e.clone();
                updated.doc = serde_json::to_value(&fresh).map_err(|e| StoreError::Backend(e.to_string()))?;
                ops.push(KvOp::Update(updated));
                job_written = true;
            }
            if ops.is_empty() {
                return Ok(());
            }
            match self.core.store.kv_apply(self.tenant, &ops, false, now).await {
                Ok(()) => {
                    self.records_written += self.records.len() as u64;
                    self.records.clear();
                    self.pending.clear();
                    if job_written {
                        self.core.log_writer.appended.notify_waiters();
                    }
                    return Ok(());
                }
                // The job entry changed under us (an admin action): read it again.
                Err(StoreError::Conflict { .. }) if job_written => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { key: "kv".into() })
    }

    // --- the cycle --------------------------------------------------------------------------

    async fn run(&mut self) -> Result<(), Halt> {
        if self.job.cursor.is_none() {
            // The feed position before the initial cycle reads the directory: changes made
            // while it runs are replayed by the incremental cycle (idempotent), none are missed.
            self.job.cursor = Some(self.core.store.last_log_seq().await?);
            self.job.initial = Some(InitialProgress { phase: Phase::Users, offset: 0 });
            self.save(true).await?;
        }
        if self.job.initial.is_some() {
            // One scan instead of a read per object: the initial cycle touches every link.
            for e in scan(self.core, self.tenant, &format!("{}/", self.job.id)).await? {
                let link = serde_json::from_value::<ObjectLink>(e.doc).ok();
                self.links.insert(e.key, link);
            }
            self.links_complete = true;
        }
        while let Some(p) = self.job.initial {
            self.initial_mode = true;
            self.log_out_of_scope = false;
            self.initial_chunk(p).await?;
        }
        self.initial_mode = false;
        self.log_out_of_scope = true;
        self.retry_escrow().await?;
        self.incremental().await
    }

    async fn initial_chunk(&mut self, p: InitialProgress) -> Result<(), Halt> {
        let offset = usize::try_from(p.offset).unwrap_or(usize::MAX);
        let (kind, items): (Kind, Vec<(ObjectId, Option<DirectoryObject>)>) = match p.phase {
            Phase::Users | Phase::Groups => {
                let kind = if p.phase == Phase::Users { Kind::User } else { Kind::Group };
                if self.compiled(kind).is_none() {
                    (kind, Vec::new())
                } else if self.job.scope == Scope::All {
                    let q = ListQuery {
                        top: u32::try_from(CHUNK).unwrap_or(200),
                        skip_token: (offset > 0).then(|| ostiary_store::query::encode_offset_token(p.offset)),
                        ..ListQuery::default()
                    };
                    let page = self.core.store.list_objects(self.tenant, kind.object_kind(), &q).await?;
                    (kind, page.items.into_iter().map(|o| (o.id(), Some(o))).collect())
                } else {
                    let s = self.scope_set().await?;
                    let mut ids: Vec<ObjectId> = if kind == Kind::User {
                        s.users.iter().copied().collect()
                    } else {
                        s.groups.iter().copied().collect()
                    };
                    ids.sort();
                    let slice: Vec<ObjectId> = ids.into_iter().skip(offset).take(CHUNK).collect();
                    let objs = self.core.store.get_objects(self.tenant, &slice).await?;
                    let mut by_id: HashMap<ObjectId, DirectoryObject> = objs.into_iter().map(|o| (o.id(), o)).collect();
                    (kind, slice.into_iter().map(|id| (id, by_id.remove(&id))).collect())
                }
            }
            Phase::Reconcile => return self.reconcile(Some(p)).await,
        };
        let n = items.len();
        for (i, (id, obj)) in items.into_iter().enumerate() {
            if obj.is_none() {
                continue;
            }
            if let Err(h) = self.process(kind, id, obj).await {
                self.job.initial = Some(InitialProgress { phase: p.phase, offset: p.offset + i as u64 });
                self.save(true).await?;
                return Err(h);
            }
        }
        self.job.initial = Some(if n < CHUNK {
            let next = if p.phase == Phase::Users { Phase::Groups } else { Phase::Reconcile };
            InitialProgress { phase: next, offset: 0 }
        } else {
            InitialProgress { phase: p.phase, offset: p.offset + n as u64 }
        });
        self.save(true).await?;
        Ok(())
    }

    /// Links whose source is gone or out of scope: disable or delete their target objects.
    /// In the initial cycle, progress is kept every `CHUNK` links (`p`); in incremental cycles
    /// (`None`) the batch's cursor covers it.
    async fn reconcile(&mut self, p: Option<InitialProgress>) -> Result<(), Halt> {
        self.scope = None;
        let entries = scan(self.core, self.tenant, &format!("{}/", self.job.id)).await?;
        let start = p.map_or(0, |p| usize::try_from(p.offset).unwrap_or(usize::MAX));
        let mut done = start;
        for chunk in entries.get(start..).unwrap_or(&[]).chunks(CHUNK) {
            let mut links = Vec::new();
            for e in chunk {
                let cached = self.links.get(&e.key).cloned();
                let link = match cached {
                    Some(l) => l,
                    None => serde_json::from_value::<ObjectLink>(e.doc.clone()).ok(),
                };
                if let Some(l) = link
                    && let (Ok(id), Some(kind)) = (l.source_id.parse::<ObjectId>(), Kind::parse(&l.kind))
                {
                    links.push((kind, id, l.active));
                }
            }
            let ids: Vec<ObjectId> = links.iter().map(|(_, id, _)| *id).collect();
            let mut objs: HashMap<ObjectId, DirectoryObject> =
                self.core.store.get_objects(self.tenant, &ids).await?.into_iter().map(|o| (o.id(), o)).collect();
            for (kind, id, active) in links {
                let obj = objs.remove(&id);
                let in_scope = obj.is_some() && self.in_scope(kind, id).await?;
                // A user already disabled in the target needs nothing until it is deleted.
                let settled = kind == Kind::User && !active && obj.is_some();
                if !in_scope
                    && !settled
                    && let Err(h) = self.process(kind, id, obj).await
                {
                    if let Some(p) = p {
                        self.job.initial = Some(InitialProgress { phase: p.phase, offset: done as u64 });
                    }
                    self.save(true).await?;
                    return Err(h);
                }
            }
            done += chunk.len();
            if let Some(p) = p {
                self.job.initial = Some(InitialProgress { phase: p.phase, offset: done as u64 });
                self.save(true).await?;
            }
        }
        if p.is_some() {
            self.job.initial = None;
            self.save(true).await?;
        }
        Ok(())
    }

    async fn retry_escrow(&mut self) -> Result<(), Halt> {
        let now = self.core.now();
        let due: Vec<EscrowItem> = self.job.escrow.iter().filter(|e| e.retry_at <= now).cloned().collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut users: Vec<(Kind, ObjectId)> = Vec::new();
        for e in &due {
            if let (Some(k), Ok(id)) = (Kind::parse(&e.kind), e.source_id.parse::<ObjectId>()) {
                users.push((k, id));
            }
        }
        users.sort();
        for (k, id) in users {
            let r = self.process(k, id, None).await;
            if let Err(h) = r {
                self.save(true).await?;
                return Err(h);
            }
        }
        self.save(true).await?;
        Ok(())
    }

    /// Follows the log feed from the cursor.
    async fn incremental(&mut self) -> Result<(), Halt> {
        loop {
            let cursor = self.job.cursor.unwrap_or(0);
            let batch = self.core.store.logs_after(cursor, FEED_BATCH).await?;
            let Some(last) = batch.last().map(|r| r.seq) else { break };
            let mut users: BTreeSet<ObjectId> = BTreeSet::new();
            let mut groups: BTreeSet<ObjectId> = BTreeSet::new();
            let mut reconcile = false;
            let tenant = self.tenant;
            for rec in batch.iter().filter(|r| r.record.tenant == tenant && r.record.kind == LogKind::Audit) {
                self.affected(&rec.record.doc, &mut users, &mut groups, &mut reconcile).await?;
            }
            for id in &users {
                if let Err(h) = self.process(Kind::User, *id, None).await {
                    self.save(true).await?;
                    return Err(h);
                }
            }
            let mut all_groups = groups;
            all_groups.append(&mut self.pending_groups);
            for id in &all_groups {
                if let Err(h) = self.process(Kind::Group, *id, None).await {
                    self.save(true).await?;
                    return Err(h);
                }
            }
            if reconcile {
                self.reconcile(None).await?;
            }
            self.job.cursor = Some(last);
            self.save(true).await?;
            if batch.len() < FEED_BATCH as usize {
                break;
            }
        }
        Ok(())
    }

    /// The users and groups an audit record touches (for this job's service principal).
    async fn affected(
        &mut self,
        doc: &Value,
        users: &mut BTreeSet<ObjectId>,
        groups: &mut BTreeSet<ObjectId>,
        reconcile: &mut bool,
    ) -> Result<(), StoreError> {
        let activity = doc.get("activityDisplayName").and_then(Value::as_str).unwrap_or("");
        let targets: Vec<(String, ObjectId)> = doc
            .get("targetResources")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        let ty = t.get("type")?.as_str()?.to_string();
                        let id = t.get("id")?.as_str()?.parse::<ObjectId>().ok()?;
                        Some((ty, id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if activity == "Remove app role assignment" {
            *reconcile = true;
            return Ok(());
        }
        if activity.starts_with("Add app role assignment") {
            let is_ours = targets.first().is_some_and(|(_, id)| *id == self.sp.id);
            if !is_ours {
                return Ok(());
            }
            // A new assignment widens the scope.
            self.scope = None;
            for (ty, id) in targets.iter().skip(1) {
                match ty.as_str() {
                    "User" => {
                        users.insert(*id);
                    }
                    "Group" => {
                        groups.insert(*id);
                        users.extend(self.transitive_users(*id).await?);
                    }
                    _ => {}
                }
            }
            return Ok(());
        }
        let membership = activity == "Add member to group" || activity == "Remove member from group";
        if membership {
            self.scope = None;
        }
        if activity == "Delete group" {
            // Members may have left the scope with it (their memberships went without records).
            *reconcile = true;
        }
        for (i, (ty, id)) in targets.iter().enumerate() {
            match ty.as_str() {
                "User" => {
                    users.insert(*id);
                }
                "Group" if membership && i > 0 => {
                    // A nested group joined or left: its users may have entered or left the scope.
                    users.extend(self.transitive_users(*id).await?);
                }
                "Group" => {
                    groups.insert(*id);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Runs one due job and records its health.
pub(crate) async fn run_job(
    core: &Core,
    tenant: TenantId,
    job: Job,
    now: OffsetDateTime,
    report: &mut CycleReport,
) -> Result<(), StoreError> {
    report.jobs_run += 1;
    let sp_id = job.service_principal_id.parse::<ObjectId>().ok();
    let sp = match sp_id {
        Some(id) => match core.store.get_object(tenant, id).await? {
            Some(DirectoryObject::ServicePrincipal(s)) => Some(s),
            _ => None,
        },
        None => None,
    };
    let initiator = (String::new(), "Azure AD Provisioning Service".to_string(), false);
    let policy = job.retry;
    let result = match sp {
        Some(sp) => match Run::new(core, tenant, job.clone(), sp, initiator).await {
            Ok(mut run) => {
                run.job.last_cycle_date_time = Some(now);
                run.job.counters.cycles += 1;
                let r = run.run().await;
                let outcome = match r {
                    Ok(()) => {
                        run.job.health.on_success();
                        Ok(())
                    }
                    Err(Halt::Target(outcome, detail)) => {
                        match run.job.health.on_failure(now, outcome, &detail, &policy, jitter(core)) {
                            Decision::Quarantined(q) => {
                                report.jobs_quarantined += 1;
                                tracing::warn!(tenant = %tenant, job = %run.job.id, reason = %q.reason, "provisioning job quarantined");
                            }
                            Decision::RetryAt(at) => {
                                report.jobs_backing_off += 1;
                                tracing::info!(tenant = %tenant, job = %run.job.id, retry_at = %at, error = %detail, "provisioning job backing off");
                            }
                        }
                        Ok(())
                    }
                    Err(Halt::Config(m)) => Err(m),
                    Err(Halt::Store(e)) => {
                        // Nothing to mark: the store is down; the next tick tries again.
                        return Err(e);
                    }
                };
                match outcome {
                    Ok(()) => {
                        run.save(true).await?;
                        report.records += run.records_written;
                        return Ok(());
                    }
                    Err(m) => m,
                }
            }
            Err(Halt::Config(m)) => m,
            Err(Halt::Store(e)) => return Err(e),
            Err(Halt::Target(_, m)) => m,
        },
        None => "The service principal no longer exists.".to_string(),
    };
    // A configuration that cannot work: quarantine with the reason, visible to the admin.
    quarantine_config(core, tenant, &job, now, &result).await?;
    report.jobs_quarantined += 1;
    Ok(())
}

async fn quarantine_config(
    core: &Core,
    tenant: TenantId,
    job: &Job,
    now: OffsetDateTime,
    reason: &str,
) -> Result<(), StoreError> {
    let Some(e) = core.store.kv_get(tenant, super::JOB_KIND, &job.service_principal_id, now).await? else {
        return Ok(());
    };
    let Ok(mut fresh) = serde_json::from_value::<Job>(e.doc.clone()) else { return Ok(()) };
    fresh.health.quarantine = Some(retry::Quarantine { reason: reason.to_string(), since: now });
    fresh.health.last_error = Some(reason.to_string());
    fresh.state = JobState::Quarantined;
    let mut updated = e;
    updated.doc = serde_json::to_value(&fresh).map_err(|e| StoreError::Backend(e.to_string()))?;
    match core.store.kv_apply(tenant, &[KvOp::Update(updated)], false, now).await {
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Provisions one user now (and re-syncs the provisioned groups it belongs to).
pub(crate) async fn on_demand(
    core: &Core,
    tenant: TenantId,
    job: Job,
    sp: ServicePrincipal,
    user: ObjectId,
    initiator: (String, String, bool),
) -> Result<Vec<Value>, Halt> {
    let mut run = Run::new(core, tenant, job, sp, initiator).await?;
    let result = run.process(Kind::User, user, None).await;
    // A target failure is reported in the records returned; the store's or the configuration's
    // is the caller's error.
    if let Err(e @ (Halt::Store(_) | Halt::Config(_))) = result {
        return Err(e);
    }
    if result.is_ok() {
        let groups = run.related(Relation::MemberOf { object: user, transitive: false }, ObjectKind::Group).await?;
        for g in groups {
            if run.link(&g.to_string()).await?.is_some() {
                run.pending_groups.insert(g);
            }
        }
        let pending: Vec<ObjectId> = std::mem::take(&mut run.pending_groups).into_iter().collect();
        for g in pending {
            if run.sync_members(g).await.is_err() {
                break;
            }
        }
    }
    let docs: Vec<Value> = run.records.iter().map(|r| r.doc.clone()).collect();
    // Escrow from an on-demand failure is the job's: save it with the records.
    run.save(true).await?;
    Ok(docs)
}
