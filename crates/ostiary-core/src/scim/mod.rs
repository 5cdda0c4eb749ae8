//! Inbound SCIM 2.0 (RFC 7643/7644): Users and Groups as views of the directory's users and
//! groups, with the same validation, uniqueness, audit trail and tenant isolation as Graph.
//! Writes are logged with `loggedByService: "Account Provisioning"`; `If-Match` is enforced by
//! a store precondition in the same transaction as the write, so it holds under races.

pub mod mapping;

use crate::Core;
use crate::audit::Actor;
use crate::auth::{Caller, Permission};
use crate::error::DirError;
use mapping::{apply_group, apply_user, compile_filter, group_view, member_json, new_group, new_user, user_view};
use ostiary_model::{DirectoryObject, Group, ObjectId, ObjectKind, User};
use ostiary_scim::bulk::{BulkMethod, BulkOp};
use ostiary_scim::list::ListParams;
use ostiary_scim::patch::{apply_patch, member_delta, parse_patch};
use ostiary_scim::resource::{Mode, check_immutables, normalize};
use ostiary_scim::{ScimError, ScimType};
use ostiary_store::{Change, ChangeSet, ListQuery, Relation};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The largest page a SCIM list returns (the store pages at most 999 objects per query).
pub const MAX_RESULTS: u32 = 999;
/// Operations per `/Bulk` request.
pub const MAX_BULK_OPERATIONS: u32 = 1000;
/// Largest `/Bulk` body in bytes.
pub const MAX_BULK_PAYLOAD: u64 = 4 * 1024 * 1024;
/// Users committed in one transaction by `/Bulk`.
const BULK_BATCH: usize = 200;
/// Members listed per store page while rendering a group.
const MEMBER_PAGE: u32 = 999;

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    fn is_user(self) -> bool {
        self == ScimKind::User
    }
    fn object_kind(self) -> ObjectKind {
        if self.is_user() { ObjectKind::User } else { ObjectKind::Group }
    }
    fn endpoint(self) -> &'static str {
        if self.is_user() { "Users" } else { "Groups" }
    }
    fn resource_type(self) -> &'static str {
        if self.is_user() { "User" } else { "Group" }
    }
}

/// A single resource answer: the SCIM JSON, its ETag and location.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResource {
    pub body: Value,
    pub etag: String,
    pub location: String,
}

/// The page of a list request, before projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimPage {
    pub resources: Vec<Value>,
    pub total: u64,
    pub start_index: u64,
}

/// Maps a directory error onto SCIM's error vocabulary.
pub fn scim_error(e: DirError) -> ScimError {
    let plain = |status: u16, detail: String| ScimError { status, scim_type: None, detail };
    match e {
        DirError::NotFound(what) => ScimError::not_found(format!("Resource {what} not found")),
        DirError::Conflict(m) => ScimError::conflict_uniqueness(m),
        DirError::BadRequest(m) | DirError::UnsupportedQuery(m) => ScimError::bad(ScimType::InvalidValue, m),
        DirError::Forbidden => plain(403, "Insufficient privileges to complete the operation.".into()),
        DirError::PreconditionFailed => {
            ScimError::precondition_failed("The resource changed since the version given in If-Match.")
        }
        DirError::Unavailable => plain(503, "The service is temporarily unavailable.".into()),
        DirError::Internal(m) => {
            tracing::error!(error = %m, "SCIM request failed");
            plain(500, "An internal error occurred.".into())
        }
    }
}

/// A user's validation failure; the UPN is derived from `userName`, so the message names it.
fn user_validation_error(e: DirError) -> ScimError {
    match e {
        DirError::BadRequest(m) if m.contains("userPrincipalName") => {
            ScimError::bad(ScimType::InvalidValue, format!("userName cannot be used: {m}"))
        }
        other => scim_error(other),
    }
}

fn store_err(e: ostiary_store::StoreError) -> ScimError {
    scim_error(DirError::from_store(e))
}

/// A weak ETag over the stored document: every write changes it.
fn etag_of(obj: &DirectoryObject) -> String {
    let doc = serde_json::to_vec(&obj.to_doc()).unwrap_or_default();
    let digest = ostiary_crypto::digest::sha256(&doc);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Resource {} not found", ostiary_oauth::error::sanitize(id)))
}

impl Core {
    /// `https://host/scim/v2/{tenant}`.
    pub fn scim_base(&self, tenant: ostiary_model::TenantId) -> String {
        format!("{}/scim/v2/{tenant}", self.config.public_base)
    }

    fn scim_actor(caller: &Caller) -> Actor {
        let mut a = Actor::from_caller(caller);
        a.via = Some("Account Provisioning");
        a
    }

    fn scim_require(caller: &Caller, kind: ScimKind, write: bool) -> Result<(), ScimError> {
        if caller.has(Permission::Provision) {
            return Ok(());
        }
        let p = match (kind, write) {
            (ScimKind::User, false) => Permission::ReadUsers,
            (ScimKind::User, true) => Permission::WriteUsers,
            (ScimKind::Group, false) => Permission::ReadGroups,
            (ScimKind::Group, true) => Permission::WriteGroups,
        };
        caller.require(p).map_err(scim_error)
    }

    async fn scim_domains(&self, caller: &Caller) -> Result<Vec<String>, ScimError> {
        self.tenant_domains(caller.tenant).await.map_err(scim_error)
    }

    async fn scim_load(&self, caller: &Caller, kind: ScimKind, id: &str) -> Result<DirectoryObject, ScimError> {
        let Ok(oid) = id.parse::<ObjectId>() else { return Err(not_found(id)) };
        match self.store.get_object(caller.tenant, oid).await.map_err(store_err)? {
            Some(o) if o.kind() == kind.object_kind() => Ok(o),
            _ => Err(not_found(id)),
        }
    }

    /// Every object of a direct relation, read page by page.
    async fn related_all(
        &self,
        caller: &Caller,
        relation: Relation,
        cast: Option<ObjectKind>,
    ) -> Result<Vec<DirectoryObject>, ScimError> {
        let mut out = Vec::new();
        let mut q = ListQuery { top: MEMBER_PAGE, cast, ..ListQuery::default() };
        loop {
            let page = self.store.list_related(caller.tenant, relation, &q).await.map_err(store_err)?;
            out.extend(page.items);
            match page.next {
                Some(n) => q.skip_token = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn scim_members(&self, caller: &Caller, group: ObjectId, base: &str) -> Result<Vec<Value>, ScimError> {
        let members = self.related_all(caller, Relation::Members { group, transitive: false }, None).await?;
        Ok(members
            .iter()
            .map(|o| {
                member_json(&o.id().to_string(), if o.kind() == ObjectKind::Group { "group" } else { "user" }, base)
            })
            .collect())
    }

    /// A user's direct groups (SCIM's read-only `User.groups`).
    async fn scim_user_groups(&self, caller: &Caller, user: ObjectId, base: &str) -> Result<Vec<Value>, ScimError> {
        let groups = self
            .related_all(caller, Relation::MemberOf { object: user, transitive: false }, Some(ObjectKind::Group))
            .await?;
        Ok(groups
            .iter()
            .filter_map(|o| match o {
                DirectoryObject::Group(g) => Some(mapping::group_ref_json(&g.id.to_string(), &g.display_name, base)),
                _ => None,
            })
            .collect())
    }

    /// Refuses a group `displayName` another group has (Entra's provisioning relies on it).
    async fn scim_unique_group_name(
        &self,
        caller: &Caller,
        name: &str,
        except: Option<ObjectId>,
    ) -> Result<(), ScimError> {
        let q = ListQuery {
            filter: Some(ostiary_store::Filter::Cmp {
                operand: ostiary_store::filter::Operand::Field {
                    name: "displayName",
                    ty: ostiary_store::filter::FieldType::String,
                },
                op: ostiary_odata::CmpOp::Eq,
                value: ostiary_store::filter::Value::Str(name.to_string()),
            }),
            top: 2,
            ..ListQuery::default()
        };
        let page = self.store.list_objects(caller.tenant, ObjectKind::Group, &q).await.map_err(store_err)?;
        if page.items.iter().any(|o| Some(o.id()) != except) {
            return Err(ScimError::conflict_uniqueness(format!(
                "A group with displayName '{}' already exists.",
                ostiary_oauth::error::sanitize(name)
            )));
        }
        Ok(())
    }

    /// The SCIM view of a stored object, with `meta`; `with_relations` reads a group's members
    /// or a user's groups.
    async fn scim_render(
        &self,
        caller: &Caller,
        obj: &DirectoryObject,
        with_relations: bool,
        domains: &[String],
    ) -> Result<ScimResource, ScimError> {
        let base = self.scim_base(caller.tenant);
        let etag = etag_of(obj);
        let (mut body, kind, created, modified) = match obj {
            DirectoryObject::User(u) => {
                let mut v = user_view(u, domains);
                let groups =
                    if with_relations { self.scim_user_groups(caller, u.id, &base).await? } else { Vec::new() };
                if let Some(m) = v.as_object_mut()
                    && !groups.is_empty()
                {
                    m.insert("groups".into(), Value::Array(groups));
                }
                (v, ScimKind::User, u.created_date_time, u.last_modified_date_time)
            }
            DirectoryObject::Group(g) => {
                let members = if with_relations { Some(self.scim_members(caller, g.id, &base).await?) } else { None };
                (group_view(g, members), ScimKind::Group, g.created_date_time, g.last_modified_date_time)
            }
            other => return Err(not_found(&other.id().to_string())),
        };
        let location = format!("{base}/{}/{}", kind.endpoint(), obj.id());
        if let Some(m) = body.as_object_mut() {
            m.insert("meta".into(), mapping::meta(kind.resource_type(), created, modified, &location, &etag));
        }
        Ok(ScimResource { body, etag, location })
    }

    /// `GET /Users/{id}`, `GET /Groups/{id}`.
    pub async fn scim_get(
        &self,
        caller: &Caller,
        kind: ScimKind,
        id: &str,
        with_relations: bool,
    ) -> Result<ScimResource, ScimError> {
        Self::scim_require(caller, kind, false)?;
        let obj = self.scim_load(caller, kind, id).await?;
        let domains = self.scim_domains(caller).await?;
        self.scim_render(caller, &obj, with_relations, &domains).await
    }

    /// `GET /Users?filter=…&sortBy=…&startIndex=…&count=…` (and `.search`).
    pub async fn scim_list(
        &self,
        caller: &Caller,
        kind: ScimKind,
        params: &ListParams,
        with_relations: bool,
    ) -> Result<ScimPage, ScimError> {
        Self::scim_require(caller, kind, false)?;
        let domains = self.scim_domains(caller).await?;
        let filter = params.filter.as_ref().map(|f| compile_filter(f, kind.is_user(), &domains)).transpose()?;
        let order_by = match &params.sort_by {
            Some(p) => vec![mapping::sort_key(p, kind.is_user(), params.descending)?],
            None => Vec::new(),
        };
        let start_index = params.start_index.max(1);
        // Without `count`, a full page: clients (and scim2-tester) look for what they just
        // created in an unpaged list.
        let count = params.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
        let q = ListQuery {
            filter,
            order_by,
            top: count.max(1),
            skip_token: (start_index > 1).then(|| ostiary_store::query::encode_offset_token(start_index - 1)),
            count: true,
            cast: None,
        };
        let page = self.store.list_objects(caller.tenant, kind.object_kind(), &q).await.map_err(store_err)?;
        let mut resources = Vec::with_capacity(page.items.len());
        if count > 0 {
            for o in &page.items {
                resources.push(self.scim_render(caller, o, with_relations, &domains).await?.body);
            }
        }
        Ok(ScimPage { resources, total: page.count.unwrap_or(0), start_index })
    }

    async fn scim_check_members(&self, caller: &Caller, ids: &[String]) -> Result<Vec<ObjectId>, ScimError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        for id in ids {
            let bad = || {
                ScimError::bad(
                    ScimType::InvalidValue,
                    format!("member {} does not exist", ostiary_oauth::error::sanitize(id)),
                )
            };
            let oid: ObjectId = id.parse().map_err(|_| bad())?;
            match self.store.get_object(caller.tenant, oid).await.map_err(store_err)? {
                Some(o) if matches!(o.kind(), ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal) => {}
                _ => return Err(bad()),
            }
            if seen.insert(oid) {
                out.push(oid);
            }
        }
        Ok(out)
    }

    fn member_ids(resource: &Value) -> Vec<String> {
        resource
            .get("members")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|m| m.get("value").and_then(Value::as_str)).map(String::from).collect())
            .unwrap_or_default()
    }

    /// `POST /Users`, `POST /Groups`.
    pub async fn scim_create(&self, caller: &Caller, kind: ScimKind, body: &Value) -> Result<ScimResource, ScimError> {
        Self::scim_require(caller, kind, true)?;
        let rs = mapping::resource_schema(kind.is_user());
        let resource = normalize(body, rs, Mode::Create)?;
        let domains = self.scim_domains(caller).await?;
        let now = self.now_seconds();
        let id = ObjectId::from_uuid(self.new_uuid());
        let mut cs = ChangeSet::new();
        let obj = match kind {
            ScimKind::User => {
                let mut u = new_user(&resource, &domains, now);
                u.id = id;
                u.last_modified_date_time = Some(now);
                self.scim_validate_user(caller, &u).await?;
                if let Some(p) = mapping::password_of(&resource) {
                    self.scim_set_password(caller, &mut u, p).await?;
                }
                DirectoryObject::User(u)
            }
            ScimKind::Group => {
                let mut g = new_group(&resource, now);
                self.scim_unique_group_name(caller, &g.display_name, None).await?;
                g.id = id;
                g.last_modified_date_time = Some(now);
                Self::validate_group(&g).map_err(scim_error)?;
                DirectoryObject::Group(g)
            }
        };
        cs.push(Change::CreateObject(obj.clone()));
        if kind == ScimKind::Group {
            for m in self.scim_check_members(caller, &Self::member_ids(&resource)).await? {
                cs.push(Change::AddMember { group: id, member: m });
            }
        }
        self.commit_as(&Self::scim_actor(caller), cs).await.map_err(scim_error)?;
        // A new user is in no group yet: skip that read.
        self.scim_render(caller, &obj, kind == ScimKind::Group, &domains).await
    }

    async fn scim_validate_user(&self, caller: &Caller, u: &User) -> Result<(), ScimError> {
        self.validate_user(caller, u).await.map_err(user_validation_error)
    }

    async fn scim_set_password(&self, caller: &Caller, u: &mut User, password: String) -> Result<(), ScimError> {
        self.check_password(caller.tenant, &password).await.map_err(scim_error)?;
        let hash = self.hash_password(password).await.map_err(|e| scim_error(DirError::Internal(e.to_string())))?;
        u.password_hash = Some(hash);
        u.last_password_change_date_time = Some(self.now_seconds());
        Ok(())
    }

    fn check_if_match(obj: &DirectoryObject, if_match: Option<&str>) -> Result<(), ScimError> {
        match if_match {
            Some(h) if !ostiary_scim::etag::etag_matches(h, &etag_of(obj)) => {
                Err(ScimError::precondition_failed("The resource changed since the version given in If-Match."))
            }
            _ => Ok(()),
        }
    }

    /// Writes a new version of a user or group from its full SCIM resource (PUT, and PATCH
    /// after the patch is applied): Graph properties, the stored resource, and member changes.
    async fn scim_write(
        &self,
        caller: &Caller,
        old: DirectoryObject,
        resource: Value,
        members: Option<(Vec<ObjectId>, Vec<ObjectId>)>,
        domains: &[String],
    ) -> Result<DirectoryObject, ScimError> {
        let now = self.now_seconds();
        let mut cs = ChangeSet::new();
        cs.push(Change::Expect(old.clone()));
        let new = match &old {
            DirectoryObject::User(u) => {
                let mut n = u.clone();
                apply_user(&resource, &mut n, domains);
                n.ostiary_scim = Some(mapping::stored_resource(&resource));
                n.last_modified_date_time = Some(now);
                self.scim_validate_user(caller, &n).await?;
                if let Some(p) = mapping::password_of(&resource) {
                    self.scim_set_password(caller, &mut n, p).await?;
                }
                DirectoryObject::User(n)
            }
            DirectoryObject::Group(g) => {
                let mut n: Group = g.clone();
                apply_group(&resource, &mut n);
                if !n.display_name.eq_ignore_ascii_case(&g.display_name) {
                    self.scim_unique_group_name(caller, &n.display_name, Some(g.id)).await?;
                }
                n.last_modified_date_time = Some(now);
                Self::validate_group(&n).map_err(scim_error)?;
                DirectoryObject::Group(n)
            }
            other => return Err(not_found(&other.id().to_string())),
        };
        cs.push(Change::UpdateObject(new.clone()));
        if let Some((add, remove)) = members {
            for m in add {
                cs.push(Change::AddMember { group: old.id(), member: m });
            }
            for m in remove {
                cs.push(Change::RemoveMember { group: old.id(), member: m });
            }
        }
        self.commit_as(&Self::scim_actor(caller), cs).await.map_err(scim_error)?;
        Ok(new)
    }

    async fn current_member_ids(&self, caller: &Caller, group: ObjectId) -> Result<HashSet<ObjectId>, ScimError> {
        let members = self.related_all(caller, Relation::Members { group, transitive: false }, None).await?;
        Ok(members.iter().map(DirectoryObject::id).collect())
    }

    /// Members to add and remove so that the group's members become `wanted`.
    async fn member_diff(
        &self,
        caller: &Caller,
        group: ObjectId,
        wanted: &[String],
    ) -> Result<(Vec<ObjectId>, Vec<ObjectId>), ScimError> {
        let wanted: HashSet<ObjectId> = self.scim_check_members(caller, wanted).await?.into_iter().collect();
        let current = self.current_member_ids(caller, group).await?;
        let add = wanted.difference(&current).copied().collect();
        let remove = current.difference(&wanted).copied().collect();
        Ok((add, remove))
    }

    /// `PUT /Users/{id}`, `PUT /Groups/{id}`.
    pub async fn scim_replace(
        &self,
        caller: &Caller,
        kind: ScimKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimResource, ScimError> {
        Self::scim_require(caller, kind, true)?;
        let rs = mapping::resource_schema(kind.is_user());
        let resource = normalize(body, rs, Mode::Replace)?;
        let old = self.scim_load(caller, kind, id).await?;
        Self::check_if_match(&old, if_match)?;
        let domains = self.scim_domains(caller).await?;
        let current = self.scim_render(caller, &old, false, &domains).await?;
        check_immutables(&current.body, &resource, rs)?;
        let members = match kind {
            ScimKind::Group => Some(self.member_diff(caller, old.id(), &Self::member_ids(&resource)).await?),
            ScimKind::User => None,
        };
        let new = self.scim_write(caller, old, resource, members, &domains).await?;
        self.scim_render(caller, &new, true, &domains).await
    }

    /// `PATCH /Users/{id}`, `PATCH /Groups/{id}`. Returns the new resource.
    pub async fn scim_patch(
        &self,
        caller: &Caller,
        kind: ScimKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimResource, ScimError> {
        Self::scim_require(caller, kind, true)?;
        let ops = parse_patch(body)?;
        let old = self.scim_load(caller, kind, id).await?;
        Self::check_if_match(&old, if_match)?;
        let domains = self.scim_domains(caller).await?;
        let rs = mapping::resource_schema(kind.is_user());
        // Entra's member PATCH (add/remove by id) does not need the whole member list.
        if kind == ScimKind::Group
            && let Some((add, remove)) = member_delta(&ops)
        {
            let current = self.current_member_ids(caller, old.id()).await?;
            let add: Vec<ObjectId> =
                self.scim_check_members(caller, &add).await?.into_iter().filter(|m| !current.contains(m)).collect();
            let remove: Vec<ObjectId> = remove
                .iter()
                .filter_map(|r| r.parse::<ObjectId>().ok())
                .filter(|m| current.contains(m))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let resource = self.scim_render(caller, &old, false, &domains).await?.body;
            let new = self.scim_write(caller, old, resource, Some((add, remove)), &domains).await?;
            return self.scim_render(caller, &new, true, &domains).await;
        }
        let mut resource = self.scim_render(caller, &old, kind == ScimKind::Group, &domains).await?.body;
        let before = resource.clone();
        apply_patch(&mut resource, &ops, rs)?;
        // Validate the result as a whole, like a PUT of it would be.
        let resource = normalize(&resource, rs, Mode::Replace)?;
        let members = match kind {
            ScimKind::Group => {
                let (old_ids, new_ids) = (Self::member_ids(&before), Self::member_ids(&resource));
                if old_ids == new_ids { None } else { Some(self.member_diff(caller, old.id(), &new_ids).await?) }
            }
            ScimKind::User => None,
        };
        let new = self.scim_write(caller, old, resource, members, &domains).await?;
        self.scim_render(caller, &new, true, &domains).await
    }

    /// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
    pub async fn scim_delete(
        &self,
        caller: &Caller,
        kind: ScimKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        Self::scim_require(caller, kind, true)?;
        let old = self.scim_load(caller, kind, id).await?;
        Self::check_if_match(&old, if_match)?;
        let mut cs = ChangeSet::new();
        cs.push(Change::Expect(old.clone()));
        cs.push(Change::DeleteObject(old.id()));
        self.commit_as(&Self::scim_actor(caller), cs).await.map_err(scim_error)
    }

    /// `POST /Bulk`: runs the operations in dependency order (a `bulkId:` reference waits for the
    /// operation that creates it), each on its own, and stops after `failOnErrors` failures.
    pub async fn scim_bulk(&self, caller: &Caller, body: &Value) -> Result<Value, ScimError> {
        let req = ostiary_scim::bulk::parse_bulk(body, MAX_BULK_OPERATIONS)?;
        let (order, circular) = ostiary_scim::bulk::execution_order(&req.operations);
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<(usize, Value)> = Vec::with_capacity(req.operations.len());
        let mut errors = 0u32;
        for i in circular {
            let op = &req.operations[i];
            let e = ScimError::conflict_uniqueness("circular bulkId reference");
            let e = ScimError { status: 409, scim_type: None, detail: e.detail };
            results.push((
                i,
                ostiary_scim::bulk::bulk_op_result(&op.method, op.bulk_id.as_deref(), None, None, 409, Some(&e)),
            ));
            errors += 1;
        }
        let mut k = 0;
        while k < order.len() {
            if req.fail_on_errors.is_some_and(|n| errors >= n) {
                break;
            }
            // Plain user creates (no bulkId references, no password) are committed together:
            // one transaction for a run instead of one per user.
            let batchable = |i: usize| req.fail_on_errors.is_none() && Self::batchable_create(&req.operations[i]);
            if batchable(order[k]) {
                let mut run = Vec::new();
                while k < order.len() && batchable(order[k]) && run.len() < BULK_BATCH {
                    run.push(order[k]);
                    k += 1;
                }
                let datas: Vec<&Value> = run.iter().filter_map(|&i| req.operations[i].data.as_ref()).collect();
                let outcomes = self.scim_create_users_batch(caller, &datas).await;
                for (&i, outcome) in run.iter().zip(outcomes) {
                    let op = &req.operations[i];
                    let r = Self::bulk_result(op, outcome.map(|r| (201, Some(r))), &mut created, &mut errors);
                    results.push((i, r));
                }
                continue;
            }
            let i = order[k];
            k += 1;
            let op = &req.operations[i];
            let outcome = self.scim_bulk_op(caller, op, &created).await;
            let r = Self::bulk_result(op, outcome, &mut created, &mut errors);
            results.push((i, r));
        }
        results.sort_by_key(|(i, _)| *i);
        Ok(ostiary_scim::bulk::bulk_response(results.into_iter().map(|(_, v)| v).collect()))
    }

    fn batchable_create(op: &BulkOp) -> bool {
        op.method == BulkMethod::Post
            && op.path.trim_end_matches('/').eq_ignore_ascii_case("/Users")
            && op.data.as_ref().is_some_and(|d| {
                d.is_object()
                    && !d.as_object().is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case("password")))
                    && !d.to_string().contains("bulkId:")
            })
    }

    /// The Bulk response entry of one operation; remembers created ids and counts errors.
    fn bulk_result(
        op: &BulkOp,
        outcome: Result<(u16, Option<ScimResource>), ScimError>,
        created: &mut HashMap<String, String>,
        errors: &mut u32,
    ) -> Value {
        match outcome {
            Ok((status, res)) => {
                if let (Some(b), Some(r)) = (&op.bulk_id, &res)
                    && op.method == BulkMethod::Post
                    && let Some(id) = r.body.get("id").and_then(Value::as_str)
                {
                    created.insert(b.clone(), id.to_string());
                }
                ostiary_scim::bulk::bulk_op_result(
                    &op.method,
                    op.bulk_id.as_deref(),
                    res.as_ref().map(|r| r.location.as_str()),
                    res.as_ref().map(|r| r.etag.as_str()),
                    status,
                    None,
                )
            }
            Err(e) => {
                *errors += 1;
                ostiary_scim::bulk::bulk_op_result(&op.method, op.bulk_id.as_deref(), None, None, e.status, Some(&e))
            }
        }
    }

    /// Creates users in one transaction; if it fails (a duplicate inside the run, a race), each
    /// user is created on its own so every operation gets its own answer.
    async fn scim_create_users_batch(&self, caller: &Caller, datas: &[&Value]) -> Vec<Result<ScimResource, ScimError>> {
        if let Err(e) = Self::scim_require(caller, ScimKind::User, true) {
            return datas.iter().map(|_| Err(e.clone())).collect();
        }
        let domains = match self.scim_domains(caller).await {
            Ok(d) => d,
            Err(e) => return datas.iter().map(|_| Err(e.clone())).collect(),
        };
        let now = self.now_seconds();
        let prepared: Vec<Result<DirectoryObject, ScimError>> = datas
            .iter()
            .map(|d| {
                let resource = normalize(d, mapping::resource_schema(true), Mode::Create)?;
                let mut u = new_user(&resource, &domains, now);
                u.id = ObjectId::from_uuid(self.new_uuid());
                u.last_modified_date_time = Some(now);
                Self::validate_user_in(&u, &domains).map_err(user_validation_error)?;
                Ok(DirectoryObject::User(u))
            })
            .collect();
        let mut cs = ChangeSet::new();
        for p in prepared.iter().flatten() {
            cs.push(Change::CreateObject(p.clone()));
        }
        if cs.is_empty() || self.commit_as(&Self::scim_actor(caller), cs).await.is_ok() {
            let mut out = Vec::with_capacity(prepared.len());
            for p in prepared {
                out.push(match p {
                    Ok(obj) => self.scim_render(caller, &obj, false, &domains).await,
                    Err(e) => Err(e),
                });
            }
            return out;
        }
        let mut out = Vec::with_capacity(prepared.len());
        for (d, p) in datas.iter().zip(prepared) {
            out.push(match p {
                Ok(_) => self.scim_create(caller, ScimKind::User, d).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn scim_bulk_op(
        &self,
        caller: &Caller,
        op: &BulkOp,
        created: &HashMap<String, String>,
    ) -> Result<(u16, Option<ScimResource>), ScimError> {
        let path = op.path.trim_end_matches('/');
        let mut segs = path.trim_start_matches('/').splitn(2, '/');
        let kind = match segs.next() {
            Some(s) if s.eq_ignore_ascii_case("Users") => ScimKind::User,
            Some(s) if s.eq_ignore_ascii_case("Groups") => ScimKind::Group,
            _ => {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!("unsupported bulk path {}", ostiary_oauth::error::sanitize(path)),
                ));
            }
        };
        let id = match segs.next() {
            Some(s) => match s.strip_prefix("bulkId:") {
                Some(b) => Some(created.get(b).cloned().ok_or_else(|| {
                    ScimError::bad(
                        ScimType::InvalidValue,
                        format!("unknown bulkId {}", ostiary_oauth::error::sanitize(b)),
                    )
                })?),
                None => Some(s.to_string()),
            },
            None => None,
        };
        let mut data = op.data.clone().unwrap_or(Value::Null);
        ostiary_scim::bulk::resolve_bulk_ids(&mut data, created).map_err(|b| {
            ScimError::bad(ScimType::InvalidValue, format!("unknown bulkId {}", ostiary_oauth::error::sanitize(&b)))
        })?;
        let version = op.version.as_deref();
        match (&op.method, id) {
            (BulkMethod::Post, None) => Ok((201, Some(self.scim_create(caller, kind, &data).await?))),
            (BulkMethod::Put, Some(id)) => Ok((200, Some(self.scim_replace(caller, kind, &id, &data, version).await?))),
            (BulkMethod::Patch, Some(id)) => Ok((200, Some(self.scim_patch(caller, kind, &id, &data, version).await?))),
            (BulkMethod::Delete, Some(id)) => {
                self.scim_delete(caller, kind, &id, version).await?;
                Ok((204, None))
            }
            _ => Err(ScimError::bad(ScimType::InvalidPath, "the bulk operation's method does not fit its path")),
        }
    }
}

/// `{"schemas":[…ListResponse],"totalResults":…}` of a page after projection.
pub fn list_json(page: ScimPage) -> Value {
    ostiary_scim::list::list_response(page.resources, page.total, page.start_index)
}
