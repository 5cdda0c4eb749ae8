//! Backend conformance suite: [`run_all`] exercises every `Store` operation against the
//! documented semantics. Every check creates its own tenant(s) with random ids and unique
//! domains, so checks are independent of each other and of data already in the store.
//! Failures panic with the name of the check and the query that misbehaved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::filter::{self, FieldType, LikeKind, Operand, Value};
use crate::{
    AssignmentsBy, Change, ChangeSet, Filter, KvEntry, KvOp, KvSelect, ListQuery, LogKind, LogQuery, LogRecord,
    NewLogRecord, Page, Relation, SchemaState, SortKey, StatusMatch, Store, StoreError,
};
use ostiary_model::{
    AppRoleAssignment, Application, DirectoryObject, Group, ObjectId, ObjectKind, ServicePrincipal, StoredSigningKey,
    Tenant, TenantId, User,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Runs every check in sequence. Migrates the store first (idempotent).
pub async fn run_all(store: &dyn Store) {
    macro_rules! run {
        ($($check:ident),* $(,)?) => {
            $(
                eprintln!("conformance[{}]: {}", store.backend(), stringify!($check));
                $check(store).await;
            )*
        };
    }
    run!(
        schema_is_current,
        tenants,
        object_crud,
        unique_keys,
        atomicity,
        memberships,
        transitive_relations,
        delete_cascades,
        app_role_assignments,
        user_filters,
        scim_filters,
        dotted_fields,
        group_application_sp_filters,
        order_by,
        paging,
        invalid_queries,
        tenant_isolation,
        expect_precondition,
        tenant_version,
        signing_keys,
        assertion_replay,
        kv_crud_and_cas,
        kv_expiry,
        kv_list_by_prefix,
        kv_list_by_user_and_family,
        kv_delete_by_user_and_family,
        kv_atomicity,
        kv_bump_version,
        kv_unknown_tenant,
        kv_tenant_isolation,
        kv_purge,
        kv_concurrency,
        kv_nul,
        logs_append_and_query,
        logs_paging_and_limits,
        logs_tenant_isolation,
        logs_feed,
        logs_purge,
        logs_export_cursors,
        logs_commit_atomicity,
        logs_kv_atomicity,
        logs_validation,
        logs_concurrency,
        logs_provisioning,
    );
}

// --- fixtures -----------------------------------------------------------------------------

const T0: OffsetDateTime = datetime!(2024-01-01 00:00:00 UTC);

fn oid() -> ObjectId {
    ObjectId::from_uuid(Uuid::new_v4())
}

fn tenant_value() -> Tenant {
    let id = Uuid::new_v4();
    Tenant {
        id: TenantId::from_uuid(id),
        display_name: format!("Conformance {id}"),
        initial_domain: format!("c{}.ostiary.test", id.simple()),
        created_date_time: T0,
    }
}

async fn new_tenant(s: &dyn Store) -> TenantId {
    let t = tenant_value();
    s.create_tenant(&t, &ChangeSet::new(), &[]).await.expect("create tenant");
    t.id
}

fn user(upn: &str, name: &str) -> User {
    User {
        id: oid(),
        account_enabled: true,
        display_name: name.to_string(),
        user_principal_name: upn.to_string(),
        mail_nickname: upn.split('@').next().unwrap_or(upn).to_string(),
        given_name: None,
        surname: None,
        mail: None,
        job_title: None,
        department: None,
        office_location: None,
        company_name: None,
        employee_id: None,
        mobile_phone: None,
        business_phones: Vec::new(),
        city: None,
        state: None,
        country: None,
        street_address: None,
        postal_code: None,
        usage_location: None,
        preferred_language: None,
        user_type: "Member".to_string(),
        other_mails: Vec::new(),
        created_date_time: T0,
        password_hash: None,
        force_change_password_next_sign_in: false,
        last_password_change_date_time: None,
        external_id: None,
        last_modified_date_time: None,
        ostiary_scim: None,
    }
}

fn group(name: &str) -> Group {
    Group {
        id: oid(),
        display_name: name.to_string(),
        description: None,
        mail_enabled: false,
        mail_nickname: name.replace(' ', ""),
        security_enabled: true,
        group_types: Vec::new(),
        mail: None,
        visibility: None,
        is_assignable_to_role: None,
        created_date_time: T0,
        external_id: None,
        last_modified_date_time: None,
    }
}

fn application(name: &str, uris: &[&str]) -> Application {
    Application {
        id: oid(),
        app_id: Uuid::new_v4(),
        display_name: name.to_string(),
        description: None,
        sign_in_audience: "AzureADMyOrg".to_string(),
        identifier_uris: uris.iter().map(|u| u.to_string()).collect(),
        app_roles: Vec::new(),
        api: Default::default(),
        password_credentials: Vec::new(),
        key_credentials: Vec::new(),
        web: Default::default(),
        spa: Default::default(),
        public_client: Default::default(),
        is_fallback_public_client: None,
        required_resource_access: Vec::new(),
        tags: Vec::new(),
        notes: None,
        group_membership_claims: None,
        created_date_time: T0,
    }
}

fn service_principal(name: &str, app_id: Uuid) -> ServicePrincipal {
    ServicePrincipal {
        id: oid(),
        app_id,
        display_name: name.to_string(),
        account_enabled: true,
        service_principal_type: "Application".to_string(),
        app_role_assignment_required: false,
        app_owner_organization_id: None,
        service_principal_names: Vec::new(),
        tags: Vec::new(),
        app_roles: Vec::new(),
        oauth2_permission_scopes: Vec::new(),
        sign_in_audience: None,
        description: None,
        notes: None,
        access_token_signing_algorithm: None,
        preferred_single_sign_on_mode: None,
        login_url: None,
        logout_url: None,
        ostiary_saml: None,
        created_date_time: T0,
    }
}

fn assignment(principal: ObjectId, resource: ObjectId, role: Uuid) -> AppRoleAssignment {
    AppRoleAssignment {
        id: format!("ara-{}", Uuid::new_v4().simple()),
        app_role_id: role,
        principal_id: principal,
        resource_id: resource,
        created_date_time: T0,
        principal_type: String::new(),
        principal_display_name: String::new(),
        resource_display_name: String::new(),
    }
}

fn signing_key(kid: &str, created_at: OffsetDateTime) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_string(),
        alg: "RS256".to_string(),
        cert_der: vec![0x30, 0x82, 0x01, 0x0a, 0x00, 0xff],
        sealed_private_key: (0u8..=255).collect(),
        kek_id: "kek-1".to_string(),
        created_at,
        sign_from: created_at + Duration::hours(1),
        retire_at: None,
    }
}

fn u(x: &User) -> DirectoryObject {
    DirectoryObject::User(x.clone())
}
fn g(x: &Group) -> DirectoryObject {
    DirectoryObject::Group(x.clone())
}
fn a(x: &Application) -> DirectoryObject {
    DirectoryObject::Application(x.clone())
}
fn sp(x: &ServicePrincipal) -> DirectoryObject {
    DirectoryObject::ServicePrincipal(x.clone())
}

async fn commit(s: &dyn Store, t: TenantId, changes: Vec<Change>) -> Result<(), StoreError> {
    s.commit(t, &ChangeSet { changes, audit: Vec::new() }).await
}

async fn create(s: &dyn Store, t: TenantId, objects: Vec<DirectoryObject>) {
    let changes = objects.into_iter().map(Change::CreateObject).collect();
    commit(s, t, changes).await.expect("create objects");
}

fn member(group: &Group, member: ObjectId) -> Change {
    Change::AddMember { group: group.id, member }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Conflict { key: key.to_string() }
}

#[track_caller]
fn assert_not_found(r: Result<(), StoreError>, what: &str) {
    match r {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Parses and compiles a `$filter` for objects of `kind` (`None`: mixed directory objects).
fn flt(kind: Option<ObjectKind>, src: &str) -> Filter {
    let expr = ostiary_odata::parse_filter(src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    filter::compile(&expr, kind).unwrap_or_else(|e| panic!("compile {src:?}: {e}"))
}

fn query(filter: Option<Filter>) -> ListQuery {
    ListQuery { filter, top: 999, ..ListQuery::default() }
}

fn names(items: &[DirectoryObject]) -> Vec<String> {
    items.iter().map(|o| o.display_name().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()).collect())
}

/// Every object of `kind` matching `src`, following `next` links.
async fn all_objects(s: &dyn Store, t: TenantId, kind: ObjectKind, mut q: ListQuery) -> Vec<DirectoryObject> {
    let mut out = Vec::new();
    loop {
        let page = s.list_objects(t, kind, &q).await.expect("list_objects");
        out.extend(page.items);
        match page.next {
            Some(token) => q.skip_token = Some(token),
            None => return out,
        }
    }
}

async fn all_related(s: &dyn Store, t: TenantId, relation: Relation, mut q: ListQuery) -> Vec<DirectoryObject> {
    let mut out = Vec::new();
    loop {
        let page = s.list_related(t, relation, &q).await.expect("list_related");
        out.extend(page.items);
        match page.next {
            Some(token) => q.skip_token = Some(token),
            None => return out,
        }
    }
}

/// Asserts that `$filter=src` over `kind` returns exactly the objects named `want`.
async fn expect_filter(s: &dyn Store, t: TenantId, kind: ObjectKind, src: &str, want: &[&str]) {
    let got = all_objects(s, t, kind, query(Some(flt(Some(kind), src)))).await;
    assert_eq!(sorted(names(&got)), strs(want), "$filter={src}");
    let counted =
        s.list_objects(t, kind, &ListQuery { count: true, ..query(Some(flt(Some(kind), src))) }).await.expect("count");
    assert_eq!(counted.count, Some(want.len() as u64), "count of $filter={src}");
}

async fn related_names(s: &dyn Store, t: TenantId, relation: Relation, q: ListQuery) -> Vec<String> {
    sorted(names(&all_related(s, t, relation, q).await))
}

fn id_set(items: &[DirectoryObject]) -> BTreeSet<ObjectId> {
    items.iter().map(DirectoryObject::id).collect()
}

// --- schema and tenants -------------------------------------------------------------------

async fn schema_is_current(s: &dyn Store) {
    s.migrate().await.expect("migrate");
    assert_eq!(s.migrate().await.expect("second migrate"), Vec::<i64>::new(), "migrate is idempotent");
    match s.schema_state().await.expect("schema_state") {
        SchemaState::Current(v) => assert!(v >= 1, "schema version {v}"),
        other => panic!("after migrate: {other:?}"),
    }
    s.ping().await.expect("ping");
    assert!(!s.backend().is_empty());
}

async fn tenants(s: &dyn Store) {
    let t = tenant_value();
    let initial_user = user("admin@initial.test", "Initial Admin");
    let key = signing_key("kid-initial", T0);
    let initial = ChangeSet::one(Change::CreateObject(u(&initial_user)));
    s.create_tenant(&t, &initial, std::slice::from_ref(&key)).await.expect("create tenant");

    assert_eq!(s.get_tenant(t.id).await.unwrap(), Some(t.clone()));
    let upper = t.initial_domain.to_uppercase();
    assert_eq!(s.find_tenant_by_domain(&upper).await.unwrap(), Some(t.clone()), "domain lookup ignores case");
    assert_eq!(s.find_tenant_by_domain("nowhere.invalid").await.unwrap(), None);
    assert!(s.list_tenants().await.unwrap().contains(&t));
    assert_eq!(s.get_object(t.id, initial_user.id).await.unwrap(), Some(u(&initial_user)));
    assert_eq!(s.list_signing_keys(t.id).await.unwrap(), vec![key]);
    assert_eq!(s.get_tenant(TenantId::from_uuid(Uuid::new_v4())).await.unwrap(), None);

    // Same id, other domain.
    let mut dup_id = tenant_value();
    dup_id.id = t.id;
    assert_eq!(s.create_tenant(&dup_id, &ChangeSet::new(), &[]).await, Err(conflict("tenant")));
    // Other id, same domain in another case.
    let mut dup_domain = tenant_value();
    dup_domain.initial_domain = upper;
    assert_eq!(s.create_tenant(&dup_domain, &ChangeSet::new(), &[]).await, Err(conflict("domain")));
    assert_eq!(s.get_tenant(dup_domain.id).await.unwrap(), None);

    // A failing initial change set leaves no tenant behind.
    let broken = tenant_value();
    let mut cs = ChangeSet::new();
    cs.push(Change::CreateObject(u(&user("same@x.test", "One"))));
    cs.push(Change::CreateObject(u(&user("SAME@x.test", "Two"))));
    assert_eq!(s.create_tenant(&broken, &cs, &[]).await, Err(conflict("upn")));
    assert_eq!(s.get_tenant(broken.id).await.unwrap(), None);
    assert_eq!(s.find_tenant_by_domain(&broken.initial_domain).await.unwrap(), None);

    // Writes to an unknown tenant.
    let unknown = TenantId::from_uuid(Uuid::new_v4());
    assert_not_found(s.commit(unknown, &ChangeSet::new()).await, "commit on unknown tenant");
    assert_not_found(
        commit(s, unknown, vec![Change::CreateObject(u(&user("x@x.test", "X")))]).await,
        "create in unknown tenant",
    );
}

// --- objects --------------------------------------------------------------------------------

async fn object_crud(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mut alice = user("Alice@Contoso.test", "Alice");
    alice.other_mails = vec!["alice@home.test".into()];
    alice.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    alice.created_date_time = datetime!(2024-05-06 07:08:09 UTC);
    let team = group("Team");
    let app = application("Api", &["api://Conf-X"]);
    let app_sp = service_principal("Api", app.app_id);
    create(s, t, vec![u(&alice), g(&team), a(&app), sp(&app_sp)]).await;

    assert_eq!(s.get_object(t, alice.id).await.unwrap(), Some(u(&alice)));
    assert_eq!(s.get_object(t, team.id).await.unwrap(), Some(g(&team)));
    assert_eq!(s.get_object(t, app.id).await.unwrap(), Some(a(&app)));
    assert_eq!(s.get_object(t, app_sp.id).await.unwrap(), Some(sp(&app_sp)));
    assert_eq!(s.get_object(t, oid()).await.unwrap(), None);

    let got = s.get_objects(t, &[alice.id, oid(), team.id]).await.unwrap();
    assert_eq!(id_set(&got), BTreeSet::from([alice.id, team.id]));
    assert!(s.get_objects(t, &[]).await.unwrap().is_empty());

    let find = |ns: &'static str, v: String| async move { s.find_by_unique_key(t, ns, &v).await.unwrap() };
    assert_eq!(find("upn", "alice@contoso.test".into()).await, Some(u(&alice)));
    assert_eq!(find("appId", app.app_id.hyphenated().to_string()).await, Some(a(&app)));
    assert_eq!(find("spAppId", app.app_id.hyphenated().to_string()).await, Some(sp(&app_sp)));
    assert_eq!(find("identifierUri", "api://conf-x".into()).await, Some(a(&app)));
    assert_eq!(find("upn", "nobody@contoso.test".into()).await, None);
    assert_eq!(find("appId", Uuid::new_v4().to_string()).await, None);

    // Kind restriction of list_objects.
    let users = all_objects(s, t, ObjectKind::User, query(None)).await;
    assert_eq!(users, vec![u(&alice)]);
    let apps = all_objects(s, t, ObjectKind::Application, query(None)).await;
    assert_eq!(apps, vec![a(&app)]);
    let sps = all_objects(s, t, ObjectKind::ServicePrincipal, query(None)).await;
    assert_eq!(sps, vec![sp(&app_sp)]);

    // Update replaces the document.
    let mut renamed = alice.clone();
    renamed.display_name = "Alice Renamed".into();
    renamed.job_title = Some("CTO".into());
    commit(s, t, vec![Change::UpdateObject(u(&renamed))]).await.unwrap();
    assert_eq!(s.get_object(t, alice.id).await.unwrap(), Some(u(&renamed)));
    assert_eq!(find("upn", "alice@contoso.test".into()).await, Some(u(&renamed)));

    // Update of a missing object, or one that changes the kind.
    assert_not_found(
        commit(s, t, vec![Change::UpdateObject(u(&user("ghost@x.test", "Ghost")))]).await,
        "update missing",
    );
    let mut as_group = group("Impostor");
    as_group.id = alice.id;
    assert_not_found(commit(s, t, vec![Change::UpdateObject(g(&as_group))]).await, "update changing kind");
    assert_eq!(s.get_object(t, alice.id).await.unwrap(), Some(u(&renamed)));

    // Delete.
    commit(s, t, vec![Change::DeleteObject(team.id)]).await.unwrap();
    assert_eq!(s.get_object(t, team.id).await.unwrap(), None);
    assert_not_found(commit(s, t, vec![Change::DeleteObject(team.id)]).await, "delete twice");
    assert!(all_objects(s, t, ObjectKind::Group, query(None)).await.is_empty());
    commit(s, t, vec![Change::DeleteObject(app.id)]).await.unwrap();
    assert_eq!(find("appId", app.app_id.hyphenated().to_string()).await, None);
    assert_eq!(find("identifierUri", "api://conf-x".into()).await, None);
}

async fn unique_keys(s: &dyn Store) {
    let t = new_tenant(s).await;
    let first = user("Dup@X.test", "First");
    create(s, t, vec![u(&first)]).await;

    // Duplicate UPN (case-insensitive) and duplicate id.
    let second = user("dup@x.TEST", "Second");
    assert_eq!(commit(s, t, vec![Change::CreateObject(u(&second))]).await, Err(conflict("upn")));
    let mut same_id = user("other@x.test", "Same Id");
    same_id.id = first.id;
    assert_eq!(commit(s, t, vec![Change::CreateObject(u(&same_id))]).await, Err(conflict("id")));
    let mut group_same_id = group("Same Id Group");
    group_same_id.id = first.id;
    assert_eq!(commit(s, t, vec![Change::CreateObject(g(&group_same_id))]).await, Err(conflict("id")));

    // Applications and service principals.
    let app1 = application("One", &["api://One"]);
    create(s, t, vec![a(&app1)]).await;
    let mut app2 = application("Two", &[]);
    app2.app_id = app1.app_id;
    assert_eq!(commit(s, t, vec![Change::CreateObject(a(&app2))]).await, Err(conflict("appId")));
    let app3 = application("Three", &["API://one"]);
    assert_eq!(commit(s, t, vec![Change::CreateObject(a(&app3))]).await, Err(conflict("identifierUri")));
    let sp1 = service_principal("One", app1.app_id);
    create(s, t, vec![sp(&sp1)]).await;
    let sp2 = service_principal("One again", app1.app_id);
    assert_eq!(commit(s, t, vec![Change::CreateObject(sp(&sp2))]).await, Err(conflict("spAppId")));

    // An update that changes the UPN frees the old one.
    let mut moved = first.clone();
    moved.user_principal_name = "renamed@x.test".into();
    commit(s, t, vec![Change::UpdateObject(u(&moved))]).await.unwrap();
    assert_eq!(s.find_by_unique_key(t, "upn", "dup@x.test").await.unwrap(), None);
    assert_eq!(s.find_by_unique_key(t, "upn", "renamed@x.test").await.unwrap(), Some(u(&moved)));
    let taker = user("DUP@x.test", "Taker");
    create(s, t, vec![u(&taker)]).await;
    assert_eq!(s.find_by_unique_key(t, "upn", "dup@x.test").await.unwrap(), Some(u(&taker)));

    // An update onto a taken UPN conflicts and changes nothing.
    let mut clash = moved.clone();
    clash.user_principal_name = "Dup@x.test".into();
    assert_eq!(commit(s, t, vec![Change::UpdateObject(u(&clash))]).await, Err(conflict("upn")));
    assert_eq!(s.get_object(t, first.id).await.unwrap(), Some(u(&moved)));
    assert_eq!(s.find_by_unique_key(t, "upn", "renamed@x.test").await.unwrap(), Some(u(&moved)));

    // Updating identifier URIs re-synchronises them.
    let mut app1b = app1.clone();
    app1b.identifier_uris = vec!["api://one-b".into()];
    commit(s, t, vec![Change::UpdateObject(a(&app1b))]).await.unwrap();
    assert_eq!(s.find_by_unique_key(t, "identifierUri", "api://one").await.unwrap(), None);
    assert_eq!(s.find_by_unique_key(t, "identifierUri", "api://one-b").await.unwrap(), Some(a(&app1b)));
    create(s, t, vec![a(&app3)]).await;

    // Deleting frees the key.
    commit(s, t, vec![Change::DeleteObject(taker.id)]).await.unwrap();
    create(s, t, vec![u(&user("dup@x.test", "After Delete"))]).await;
}

async fn atomicity(s: &dyn Store) {
    let t = new_tenant(s).await;
    let v0 = s.tenant_version(t).await.unwrap();

    let first = user("p@x.test", "P One");
    let second = user("P@X.test", "P Two");
    let r = commit(s, t, vec![Change::CreateObject(u(&first)), Change::CreateObject(u(&second))]).await;
    assert_eq!(r, Err(conflict("upn")));
    assert_eq!(s.get_object(t, first.id).await.unwrap(), None, "first change rolled back");
    assert_eq!(s.find_by_unique_key(t, "upn", "p@x.test").await.unwrap(), None);
    assert_eq!(s.tenant_version(t).await.unwrap(), v0, "failed commit keeps the version");

    let team = group("Team");
    let r = commit(s, t, vec![Change::CreateObject(g(&team)), member(&team, oid())]).await;
    assert_not_found(r, "add member that does not exist");
    assert_eq!(s.get_object(t, team.id).await.unwrap(), None);

    // Later changes see earlier ones in the same set.
    let person = user("q@x.test", "Q");
    commit(s, t, vec![Change::CreateObject(g(&team)), Change::CreateObject(u(&person)), member(&team, person.id)])
        .await
        .unwrap();
    let rel = Relation::Members { group: team.id, transitive: false };
    assert_eq!(related_names(s, t, rel, query(None)).await, strs(&["Q"]));

    // Delete and re-create a UPN within one set.
    let again = user("q@x.test", "Q Again");
    commit(s, t, vec![Change::DeleteObject(person.id), Change::CreateObject(u(&again))]).await.unwrap();
    assert_eq!(s.find_by_unique_key(t, "upn", "q@x.test").await.unwrap(), Some(u(&again)));

    // A failing last change undoes a delete.
    let r = commit(s, t, vec![Change::DeleteObject(again.id), Change::DeleteObject(oid())]).await;
    assert_not_found(r, "delete missing");
    assert_eq!(s.get_object(t, again.id).await.unwrap(), Some(u(&again)));
}

// --- relations ------------------------------------------------------------------------------

async fn memberships(s: &dyn Store) {
    let t = new_tenant(s).await;
    let team = group("Team");
    let alice = user("alice@x.test", "Alice");
    let bob = user("bob@x.test", "Bob");
    create(s, t, vec![g(&team), u(&alice), u(&bob)]).await;

    commit(s, t, vec![member(&team, alice.id)]).await.unwrap();
    assert_eq!(commit(s, t, vec![member(&team, alice.id)]).await, Err(conflict("membership")));
    let not_a_group = Change::AddMember { group: alice.id, member: bob.id };
    assert_not_found(commit(s, t, vec![not_a_group]).await, "user as group");
    assert_not_found(commit(s, t, vec![member(&team, oid())]).await, "missing member");
    let missing_group = Change::AddMember { group: oid(), member: bob.id };
    assert_not_found(commit(s, t, vec![missing_group]).await, "missing group");
    let not_member = Change::RemoveMember { group: team.id, member: bob.id };
    assert_not_found(commit(s, t, vec![not_member]).await, "remove non-member");

    let direct = Relation::Members { group: team.id, transitive: false };
    assert_eq!(related_names(s, t, direct, query(None)).await, strs(&["Alice"]));
    let of_alice = Relation::MemberOf { object: alice.id, transitive: false };
    assert_eq!(related_names(s, t, of_alice, query(None)).await, strs(&["Team"]));

    commit(s, t, vec![Change::RemoveMember { group: team.id, member: alice.id }]).await.unwrap();
    assert!(related_names(s, t, direct, query(None)).await.is_empty());
    assert!(related_names(s, t, of_alice, query(None)).await.is_empty());
    // Memberships of a service principal and of a group in a group.
    let app_sp = service_principal("Daemon", Uuid::new_v4());
    let sub = group("Sub");
    create(s, t, vec![sp(&app_sp), g(&sub)]).await;
    commit(s, t, vec![member(&team, app_sp.id), member(&team, sub.id)]).await.unwrap();
    assert_eq!(related_names(s, t, direct, query(None)).await, strs(&["Daemon", "Sub"]));
}

async fn transitive_relations(s: &dyn Store) {
    let t = new_tenant(s).await;
    let (g1, g2, g3) = (group("G1"), group("G2"), group("G3"));
    let (u1, u2, u3) = (user("u1@x.test", "U1"), user("u2@x.test", "U2"), user("u3@x.test", "U3"));
    let daemon = service_principal("S1", Uuid::new_v4());
    create(s, t, vec![g(&g1), g(&g2), g(&g3), u(&u1), u(&u2), u(&u3), sp(&daemon)]).await;
    commit(
        s,
        t,
        vec![
            member(&g1, g2.id),
            member(&g2, g3.id),
            member(&g3, u3.id),
            member(&g1, u1.id),
            member(&g2, u2.id),
            member(&g3, daemon.id),
            // A diamond: U3 is reachable twice.
            member(&g1, u3.id),
        ],
    )
    .await
    .unwrap();

    let members = |group: &Group, transitive| Relation::Members { group: group.id, transitive };
    let member_of = |x: ObjectId, transitive| Relation::MemberOf { object: x, transitive };

    assert_eq!(related_names(s, t, members(&g1, false), query(None)).await, strs(&["G2", "U1", "U3"]));
    let all = related_names(s, t, members(&g1, true), query(None)).await;
    assert_eq!(all, strs(&["G2", "G3", "S1", "U1", "U2", "U3"]));
    assert_eq!(related_names(s, t, member_of(u3.id, false), query(None)).await, strs(&["G1", "G3"]));
    assert_eq!(related_names(s, t, member_of(u3.id, true), query(None)).await, strs(&["G1", "G2", "G3"]));
    assert_eq!(related_names(s, t, member_of(g1.id, true), query(None)).await, Vec::<String>::new());

    // Cast restricts kinds.
    let users_only = ListQuery { cast: Some(ObjectKind::User), ..query(None) };
    assert_eq!(related_names(s, t, members(&g1, true), users_only).await, strs(&["U1", "U2", "U3"]));
    let groups_only = ListQuery { cast: Some(ObjectKind::Group), ..query(None) };
    assert_eq!(related_names(s, t, members(&g1, true), groups_only).await, strs(&["G2", "G3"]));
    let sps_only = ListQuery { cast: Some(ObjectKind::ServicePrincipal), ..query(None) };
    assert_eq!(related_names(s, t, members(&g1, true), sps_only).await, strs(&["S1"]));

    // Filters (directory-object properties), count and paging on relations.
    let q = query(Some(flt(None, "displayName eq 'u2' or startswith(displayName, 'G')")));
    assert_eq!(related_names(s, t, members(&g1, true), q).await, strs(&["G2", "G3", "U2"]));
    let q = ListQuery {
        cast: Some(ObjectKind::User),
        ..query(Some(flt(Some(ObjectKind::User), "userPrincipalName eq 'U3@X.TEST'")))
    };
    assert_eq!(related_names(s, t, members(&g1, true), q).await, strs(&["U3"]));
    let q = ListQuery {
        top: 2,
        count: true,
        order_by: vec![SortKey { field: "displayName", ty: FieldType::String, descending: false }],
        ..ListQuery::default()
    };
    let page = s.list_related(t, members(&g1, true), &q).await.unwrap();
    assert_eq!(names(&page.items), vec!["G2", "G3"]);
    assert_eq!(page.count, Some(6));
    assert!(page.next.is_some());
    let ordered = all_related(s, t, members(&g1, true), q).await;
    assert_eq!(names(&ordered), vec!["G2", "G3", "S1", "U1", "U2", "U3"]);

    // A cycle terminates and includes both groups.
    let (ca, cb) = (group("Cycle A"), group("Cycle B"));
    create(s, t, vec![g(&ca), g(&cb)]).await;
    commit(s, t, vec![member(&ca, cb.id), member(&cb, ca.id)]).await.unwrap();
    let both = strs(&["Cycle A", "Cycle B"]);
    assert_eq!(related_names(s, t, members(&ca, true), query(None)).await, both);
    assert_eq!(related_names(s, t, member_of(ca.id, true), query(None)).await, both);
    assert_eq!(related_names(s, t, members(&ca, false), query(None)).await, strs(&["Cycle B"]));
    let counted = s.list_related(t, members(&cb, true), &ListQuery { count: true, ..query(None) }).await.unwrap();
    assert_eq!(counted.count, Some(2));

    // A self-cycle as well.
    let selfish = group("Self");
    create(s, t, vec![g(&selfish)]).await;
    commit(s, t, vec![member(&selfish, selfish.id)]).await.unwrap();
    assert_eq!(related_names(s, t, members(&selfish, true), query(None)).await, strs(&["Self"]));

    // Relations of a missing object are empty.
    assert!(related_names(s, t, member_of(oid(), true), query(None)).await.is_empty());
}

async fn delete_cascades(s: &dyn Store) {
    let t = new_tenant(s).await;
    let (outer, inner) = (group("Outer"), group("Inner"));
    let person = user("person@x.test", "Person");
    let resource = service_principal("Resource", Uuid::new_v4());
    let client = service_principal("Client", Uuid::new_v4());
    create(s, t, vec![g(&outer), g(&inner), u(&person), sp(&resource), sp(&client)]).await;
    let role = Uuid::new_v4();
    let by_person = assignment(person.id, resource.id, role);
    let by_inner = assignment(inner.id, resource.id, role);
    let by_client = assignment(client.id, resource.id, role);
    let on_client = assignment(person.id, client.id, role);
    commit(
        s,
        t,
        vec![
            member(&outer, inner.id),
            member(&inner, person.id),
            member(&outer, client.id),
            Change::AddAppRoleAssignment(by_person.clone()),
            Change::AddAppRoleAssignment(by_inner.clone()),
            Change::AddAppRoleAssignment(by_client.clone()),
            Change::AddAppRoleAssignment(on_client.clone()),
        ],
    )
    .await
    .unwrap();

    let ids = |v: Vec<AppRoleAssignment>| v.into_iter().map(|a| a.id).collect::<BTreeSet<_>>();
    let all = move || async move { ids(s.list_app_role_assignments(t, AssignmentsBy::All).await.unwrap()) };

    // Deleting a group removes its memberships in both directions and its assignments.
    commit(s, t, vec![Change::DeleteObject(inner.id)]).await.unwrap();
    let outer_members = Relation::Members { group: outer.id, transitive: true };
    assert_eq!(related_names(s, t, outer_members, query(None)).await, strs(&["Client"]));
    let person_of = Relation::MemberOf { object: person.id, transitive: true };
    assert!(related_names(s, t, person_of, query(None)).await.is_empty());
    assert_eq!(all().await, BTreeSet::from([by_person.id.clone(), by_client.id.clone(), on_client.id.clone()]));

    // Deleting a service principal removes assignments as principal and as resource.
    commit(s, t, vec![Change::DeleteObject(client.id)]).await.unwrap();
    assert_eq!(all().await, BTreeSet::from([by_person.id.clone()]));
    assert!(related_names(s, t, outer_members, query(None)).await.is_empty());
    // The removed assignment ids are gone, not just hidden.
    assert_not_found(
        commit(s, t, vec![Change::RemoveAppRoleAssignment { id: on_client.id.clone() }]).await,
        "assignment of deleted resource",
    );

    // Deleting the resource removes the rest; deleting the principal works on its own.
    commit(s, t, vec![Change::DeleteObject(resource.id)]).await.unwrap();
    assert!(all().await.is_empty());
    commit(s, t, vec![Change::DeleteObject(person.id)]).await.unwrap();
    // And the freed objects' keys are reusable.
    create(s, t, vec![u(&user("person@x.test", "Person 2"))]).await;
    let client2 = service_principal("Client 2", client.app_id);
    create(s, t, vec![sp(&client2)]).await;
}

async fn app_role_assignments(s: &dyn Store) {
    let t = new_tenant(s).await;
    let resource = service_principal("Resource API", Uuid::new_v4());
    let client = service_principal("Client App", Uuid::new_v4());
    let person = user("assignee@x.test", "Assignee User");
    let team = group("Assignee Group");
    create(s, t, vec![sp(&resource), sp(&client), u(&person), g(&team)]).await;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    let mut a1 = assignment(person.id, resource.id, r1);
    a1.created_date_time = datetime!(2024-01-01 00:00:01 UTC);
    let mut a2 = assignment(team.id, resource.id, r1);
    a2.created_date_time = datetime!(2024-01-01 00:00:02 UTC);
    let mut a3 = assignment(client.id, resource.id, r2);
    a3.created_date_time = datetime!(2024-01-01 00:00:03 UTC);
    let mut a4 = assignment(person.id, client.id, Uuid::nil());
    a4.created_date_time = datetime!(2024-01-01 00:00:04.5 UTC);
    let adds = [&a1, &a2, &a3, &a4].map(|x| Change::AddAppRoleAssignment(x.clone()));
    commit(s, t, adds.to_vec()).await.unwrap();

    let filled = |x: &AppRoleAssignment, ptype: &str, pname: &str, rname: &str| AppRoleAssignment {
        principal_type: ptype.into(),
        principal_display_name: pname.into(),
        resource_display_name: rname.into(),
        ..x.clone()
    };
    let e1 = filled(&a1, "User", "Assignee User", "Resource API");
    let e2 = filled(&a2, "Group", "Assignee Group", "Resource API");
    let e3 = filled(&a3, "ServicePrincipal", "Client App", "Resource API");
    let e4 = filled(&a4, "User", "Assignee User", "Client App");
    let by_id = |mut v: Vec<AppRoleAssignment>| {
        v.sort_by(|x, y| x.id.cmp(&y.id));
        v
    };
    let list = |by: AssignmentsBy| async move { by_id(s.list_app_role_assignments(t, by).await.unwrap()) };

    assert_eq!(list(AssignmentsBy::Principal(person.id)).await, by_id(vec![e1.clone(), e4.clone()]));
    assert_eq!(list(AssignmentsBy::Principal(team.id)).await, vec![e2.clone()]);
    assert_eq!(list(AssignmentsBy::Resource(resource.id)).await, by_id(vec![e1.clone(), e2.clone(), e3.clone()]));
    assert_eq!(list(AssignmentsBy::Resource(client.id)).await, vec![e4.clone()]);
    assert_eq!(list(AssignmentsBy::Id(a3.id.clone())).await, vec![e3.clone()]);
    assert!(list(AssignmentsBy::Id("missing".into())).await.is_empty());
    assert_eq!(list(AssignmentsBy::All).await, by_id(vec![e1.clone(), e2.clone(), e3.clone(), e4.clone()]));

    // Duplicates: same (principal, resource, role) under a new id, or a reused id.
    let dup = assignment(person.id, resource.id, r1);
    assert_eq!(commit(s, t, vec![Change::AddAppRoleAssignment(dup)]).await, Err(conflict("appRoleAssignment")));
    let mut reused = assignment(team.id, resource.id, r2);
    reused.id = a1.id.clone();
    assert_eq!(commit(s, t, vec![Change::AddAppRoleAssignment(reused)]).await, Err(conflict("appRoleAssignment")));
    // Same principal and resource with another role is fine.
    let other_role = assignment(person.id, resource.id, r2);
    commit(s, t, vec![Change::AddAppRoleAssignment(other_role.clone())]).await.unwrap();

    assert_not_found(
        commit(s, t, vec![Change::AddAppRoleAssignment(assignment(oid(), resource.id, r1))]).await,
        "missing principal",
    );
    assert_not_found(
        commit(s, t, vec![Change::AddAppRoleAssignment(assignment(person.id, oid(), r1))]).await,
        "missing resource",
    );

    // Display names follow the objects.
    let mut renamed = resource.clone();
    renamed.display_name = "Resource API v2".into();
    commit(s, t, vec![Change::UpdateObject(sp(&renamed))]).await.unwrap();
    let got = list(AssignmentsBy::Id(a2.id.clone())).await;
    assert_eq!(got[0].resource_display_name, "Resource API v2");

    // Removal.
    commit(s, t, vec![Change::RemoveAppRoleAssignment { id: a4.id.clone() }]).await.unwrap();
    assert!(list(AssignmentsBy::Id(a4.id.clone())).await.is_empty());
    assert_not_found(commit(s, t, vec![Change::RemoveAppRoleAssignment { id: a4.id.clone() }]).await, "remove twice");
    assert_eq!(list(AssignmentsBy::All).await.len(), 4);
}

// --- filters, sorting, paging -----------------------------------------------------------------

async fn user_filters(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mut alice = user("alice@x.test", "Alice Adams");
    alice.department = Some("Sales".into());
    alice.job_title = Some("Engineer".into());
    alice.city = Some("Paris".into());
    alice.mail = Some("alice@contoso.com".into());
    alice.other_mails = vec!["a1@x.com".into(), "ALICE@other.com".into()];
    alice.business_phones = vec!["+1 555 0100".into()];
    alice.created_date_time = datetime!(2024-01-01 00:00:00 UTC);
    let mut bob = user("bob@x.test", "Bob Brown");
    bob.department = Some("Engineering".into());
    bob.job_title = Some("Manager".into());
    bob.city = Some("Berlin".into());
    bob.account_enabled = false;
    bob.user_type = "Guest".into();
    bob.created_date_time = datetime!(2024-02-01 00:00:00 UTC);
    let mut carol = user("carol@x.test", "Carol 100% Real");
    carol.department = Some("R&D_Lab".into());
    carol.job_title = Some("100%_sure".into());
    carol.mail = Some("carol@contoso.com".into());
    carol.created_date_time = datetime!(2024-03-01 12:30:00 UTC);
    let mut dave = user("dave@x.test", "dave");
    dave.department = Some("sales".into());
    dave.city = Some("PARIS".into());
    dave.other_mails = vec!["dave@x.com".into()];
    dave.business_phones = vec!["+44 20".into()];
    dave.created_date_time = datetime!(2024-04-01 00:00:00 UTC);
    let mut eve = user("eve@x.test", "Eve_Underscore");
    eve.job_title = Some("x a_c y".into());
    eve.created_date_time = datetime!(2024-05-01 00:00:00 UTC);
    let mut frank = user("frank@x.test", "Frank");
    frank.department = Some("back\\slash".into());
    frank.job_title = Some("1000abc".into());
    frank.created_date_time = datetime!(2024-06-01 00:00:00 UTC);
    create(s, t, [&alice, &bob, &carol, &dave, &eve, &frank].map(u).to_vec()).await;
    // Noise in another kind and another tenant must never show up.
    create(s, t, vec![g(&group("Alice Adams"))]).await;
    let other = new_tenant(s).await;
    create(s, other, vec![u(&user("alice@x.test", "Alice Adams"))]).await;

    let k = ObjectKind::User;
    let (aa, bb, cc, dd, ee, ff) = ("Alice Adams", "Bob Brown", "Carol 100% Real", "dave", "Eve_Underscore", "Frank");
    let cases: Vec<(String, Vec<&str>)> = vec![
        // eq / ne, case-insensitive, ne matches missing values.
        ("displayName eq 'ALICE ADAMS'".into(), vec![aa]),
        ("department eq 'SALES'".into(), vec![aa, dd]),
        ("department ne 'sales'".into(), vec![bb, cc, ee, ff]),
        ("userType eq 'guest'".into(), vec![bb]),
        ("displayName eq 'nobody'".into(), vec![]),
        // Ranges on strings compare lowercased.
        ("displayName ge 'c'".into(), vec![cc, dd, ee, ff]),
        ("displayName gt 'DAVE'".into(), vec![ee, ff]),
        ("displayName lt 'B'".into(), vec![aa]),
        ("displayName le 'bob brown'".into(), vec![aa, bb]),
        ("department gt 'r'".into(), vec![cc, dd, aa]),
        // Date-time ranges.
        ("createdDateTime ge 2024-02-01T00:00:00Z and createdDateTime lt 2024-04-01T00:00:00Z".into(), vec![bb, cc]),
        ("createdDateTime gt 2024-02-01T00:00:00Z and createdDateTime le 2024-04-01T00:00:00Z".into(), vec![cc, dd]),
        ("createdDateTime eq 2024-03-01T12:30:00Z".into(), vec![cc]),
        ("createdDateTime eq 2024-03-01T13:30:00+01:00".into(), vec![cc]),
        ("createdDateTime ne 2024-03-01T12:30:00Z".into(), vec![aa, bb, dd, ee, ff]),
        ("createdDateTime lt 2024-01-15T00:00:00Z".into(), vec![aa]),
        ("createdDateTime ge 2024-06-01T00:00:00Z".into(), vec![ff]),
        // in
        ("department in ('SALES', 'engineering')".into(), vec![aa, bb, dd]),
        ("city in ('nowhere')".into(), vec![]),
        // String functions, wildcards taken literally.
        ("startswith(displayName,'al')".into(), vec![aa]),
        ("startswith(jobTitle,'100%')".into(), vec![cc]),
        ("startswith(jobTitle,'100')".into(), vec![cc, ff]),
        ("contains(jobTitle,'a_c')".into(), vec![ee]),
        ("contains(displayName,'%')".into(), vec![cc]),
        ("contains(displayName,'_')".into(), vec![ee]),
        ("endswith(displayName,'BROWN')".into(), vec![bb]),
        ("endswith(department,'_lab')".into(), vec![cc]),
        ("contains(department,'k\\s')".into(), vec![ff]),
        ("contains(department,'\\')".into(), vec![ff]),
        ("contains(mail,'CONTOSO')".into(), vec![aa, cc]),
        // Booleans.
        ("accountEnabled eq false".into(), vec![bb]),
        ("accountEnabled ne true".into(), vec![bb]),
        ("accountEnabled eq true and department eq 'sales'".into(), vec![aa, dd]),
        // Logic.
        ("department eq 'sales' or city eq 'berlin'".into(), vec![aa, bb, dd]),
        ("not(department eq 'sales')".into(), vec![bb, cc, ee, ff]),
        ("not(startswith(displayName,'a')) and accountEnabled eq true".into(), vec![cc, dd, ee, ff]),
        ("not(city eq 'paris' or city eq 'berlin')".into(), vec![cc, ee, ff]),
        ("(city eq 'paris' or jobTitle eq 'manager') and not(accountEnabled eq false)".into(), vec![aa, dd]),
        // Null.
        ("mail eq null".into(), vec![bb, dd, ee, ff]),
        ("mail ne null".into(), vec![aa, cc]),
        ("city eq null and department ne null".into(), vec![cc, ff]),
        ("not(mail eq null)".into(), vec![aa, cc]),
        // GUIDs, quoted (any case) or bare.
        (format!("id eq '{}'", alice.id.to_string().to_uppercase()), vec![aa]),
        (format!("id eq {}", bob.id), vec![bb]),
        (format!("id in ('{}', '{}')", alice.id, carol.id), vec![aa, cc]),
        (format!("id ne {}", bob.id), vec![aa, cc, dd, ee, ff]),
        // Lambdas.
        ("otherMails/any(m: startswith(m, 'alice@'))".into(), vec![aa]),
        ("otherMails/any(m: m eq 'DAVE@X.COM')".into(), vec![dd]),
        ("otherMails/any(m: m in ('a1@x.com', 'nobody@x.com'))".into(), vec![aa]),
        ("otherMails/any(m: contains(m, '%'))".into(), vec![]),
        ("otherMails/any()".into(), vec![aa, dd]),
        ("businessPhones/any()".into(), vec![aa, dd]),
        ("not(otherMails/any())".into(), vec![bb, cc, ee, ff]),
        ("otherMails/all(m: endswith(m, '@x.com'))".into(), vec![bb, cc, dd, ee, ff]),
        ("otherMails/all(m: endswith(m, '.com')) and otherMails/any()".into(), vec![aa, dd]),
        ("businessPhones/any(p: startswith(p, '+44')) or mail ne null".into(), vec![aa, cc, dd]),
    ];
    for (src, want) in &cases {
        expect_filter(s, t, k, src, want).await;
    }
}

/// The SCIM-shaped filters (on `externalId`, `lastModifiedDateTime`, and the polarity rules
/// the backends use to stay on indexes): `not` over missing values, `startswith` with LIKE
/// wildcards in the literal, mixed offsets and fractions in stored timestamps.
async fn scim_filters(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mut alice = user("alice@x.test", "Alice");
    alice.external_id = Some("EXT-1".into());
    alice.mail = Some("alice@contoso.com".into());
    alice.job_title = Some("100%_sure".into());
    alice.last_modified_date_time = Some(datetime!(2024-07-01 10:00:00 UTC));
    let mut bob = user("bob@x.test", "Bob_Builder");
    bob.external_id = Some("ext-2".into());
    bob.job_title = Some("1000abc".into());
    // Fractions and offsets are stored as given (RFC 3339); comparisons are in time order.
    bob.last_modified_date_time = Some(datetime!(2024-07-02 00:00:00.5 UTC));
    let mut carol = user("carol@x.test", "Carol%");
    carol.external_id = Some("ext_3".into());
    carol.mail = Some("carol@contoso.com".into());
    carol.last_modified_date_time = Some(datetime!(2024-07-03 01:00:00 +01:00));
    let dave = user("dave@x.test", "Dave");
    create(s, t, [&alice, &bob, &carol, &dave].map(u).to_vec()).await;
    let mut team = group("Team");
    team.external_id = Some("EXT-1".into());
    create(s, t, vec![g(&team)]).await;

    let k = ObjectKind::User;
    let (aa, bb, cc, dd) = ("Alice", "Bob_Builder", "Carol%", "Dave");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("externalId eq 'ext-1'", vec![aa]),
        ("externalId eq 'EXT-2' or externalId eq 'ext_3'", vec![bb, cc]),
        ("externalId in ('ext-1', 'EXT_3')", vec![aa, cc]),
        ("userPrincipalName eq 'BOB@x.test' and externalId eq 'ext-2'", vec![bb]),
        ("userPrincipalName eq 'bob@x.test' and externalId eq 'ext-1'", vec![]),
        // `not` over missing values: a missing value is unequal to everything.
        ("not(externalId eq 'ext-1')", vec![bb, cc, dd]),
        ("not(mail eq 'alice@contoso.com')", vec![bb, cc, dd]),
        ("not(not(mail eq 'alice@contoso.com'))", vec![aa]),
        ("not(mail in ('alice@contoso.com'))", vec![bb, cc, dd]),
        ("not(startswith(mail, 'alice'))", vec![bb, cc, dd]),
        ("not(jobTitle gt '100')", vec![cc, dd]),
        ("not(lastModifiedDateTime gt 2024-07-02T00:00:00Z)", vec![aa, dd]),
        ("not(lastModifiedDateTime lt 2024-07-02T00:00:00Z) and not(externalId eq 'ext_3')", vec![bb, dd]),
        ("not(externalId eq 'ext-1' or mail eq 'carol@contoso.com')", vec![bb, dd]),
        ("not(externalId eq 'ext-1') and not(mail eq 'carol@contoso.com')", vec![bb, dd]),
        ("externalId ne 'ext-1'", vec![bb, cc, dd]),
        // startswith: LIKE wildcards in the literal are literal.
        ("startswith(jobTitle, '100%')", vec![aa]),
        ("startswith(jobTitle, '100_')", vec![]),
        ("startswith(jobTitle, '100')", vec![aa, bb]),
        ("startswith(displayName, 'bob_')", vec![bb]),
        ("startswith(displayName, 'bob%')", vec![]),
        ("startswith(displayName, 'carol%')", vec![cc]),
        ("startswith(displayName, 'CAROL')", vec![cc]),
        ("startswith(externalId, 'ext_')", vec![cc]),
        ("startswith(externalId, 'EXT')", vec![aa, bb, cc]),
        ("startswith(jobTitle, '')", vec![aa, bb]),
        ("startswith(userPrincipalName, 'a') or startswith(userPrincipalName, 'd')", vec![aa, dd]),
        // Time ranges over stored values with fractions and offsets.
        ("lastModifiedDateTime gt 2024-07-02T00:00:00Z", vec![bb, cc]),
        ("lastModifiedDateTime ge 2024-07-03T00:00:00Z", vec![cc]),
        ("lastModifiedDateTime lt 2024-07-03T00:00:00Z", vec![aa, bb]),
        ("lastModifiedDateTime eq 2024-07-03T00:00:00Z", vec![cc]),
        ("lastModifiedDateTime gt 2024-07-01T00:00:00Z and lastModifiedDateTime lt 2024-07-02T12:00:00Z", vec![aa, bb]),
        ("lastModifiedDateTime eq null", vec![dd]),
    ];
    for (src, want) in &cases {
        expect_filter(s, t, k, src, want).await;
    }
    expect_filter(s, t, ObjectKind::Group, "externalId eq 'ext-1'", &["Team"]).await;
    expect_filter(s, t, ObjectKind::Group, "not(externalId eq 'ext-1')", &[]).await;

    // Ordered by the SCIM properties, with paging.
    let q = ListQuery { order_by: vec![key("externalId", FieldType::String, false)], top: 2, ..ListQuery::default() };
    assert_eq!(names(&all_objects(s, t, k, q).await), vec![aa, bb, cc, dd], "externalId asc, missing last");
    let q = ListQuery {
        order_by: vec![key("lastModifiedDateTime", FieldType::DateTime, true)],
        top: 3,
        ..ListQuery::default()
    };
    assert_eq!(names(&all_objects(s, t, k, q).await), vec![dd, cc, bb, aa], "lastModifiedDateTime desc, missing first");
}

/// Properties nested in objects, addressed by dotted paths (`Operand::Field` and `SortKey`
/// built directly, as the SCIM layer does).
async fn dotted_fields(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mk = |upn: &str, name: &str, scim: Option<serde_json::Value>| {
        let mut x = user(upn, name);
        x.ostiary_scim = scim;
        x
    };
    let ann = mk("ann@x.test", "Ann", Some(json!({ "nickName": "Nan", "name": { "honorificPrefix": "Dr." } })));
    let ben = mk("ben@x.test", "Ben", Some(json!({ "nickName": "benny_b" })));
    let cid = mk("cid@x.test", "Cid", Some(json!({ "title": "x" })));
    let dot = mk("dot@x.test", "Dot", None);
    create(s, t, [&ann, &ben, &cid, &dot].map(u).to_vec()).await;

    let nick = Operand::Field { name: "ostiaryScim.nickName", ty: FieldType::String };
    let prefix = Operand::Field { name: "ostiaryScim.name.honorificPrefix", ty: FieldType::String };
    let eq =
        |operand: Operand, v: &str| Filter::Cmp { operand, op: ostiary_odata::CmpOp::Eq, value: Value::Str(v.into()) };
    let not = |f: Filter| Filter::Not(Box::new(f));
    let run = |f: Filter| async move {
        let got = all_objects(s, t, ObjectKind::User, query(Some(f.clone()))).await;
        let counted = s.list_objects(t, ObjectKind::User, &ListQuery { count: true, ..query(Some(f)) }).await;
        assert_eq!(counted.expect("count").count, Some(got.len() as u64));
        sorted(names(&got))
    };
    assert_eq!(run(eq(nick, "NAN")).await, strs(&["Ann"]));
    assert_eq!(run(eq(prefix, "dr.")).await, strs(&["Ann"]));
    assert_eq!(run(not(eq(nick, "nan"))).await, strs(&["Ben", "Cid", "Dot"]), "missing nested values");
    assert_eq!(run(Filter::IsNull { operand: nick, negated: false }).await, strs(&["Cid", "Dot"]));
    let sw = |v: &str| Filter::Like { operand: nick, kind: LikeKind::StartsWith, value: v.into() };
    assert_eq!(run(sw("BENNY_")).await, strs(&["Ben"]));
    assert_eq!(run(sw("benny%")).await, strs(&[]));
    assert_eq!(run(not(sw("b"))).await, strs(&["Ann", "Cid", "Dot"]));

    let q = ListQuery { order_by: vec![key("ostiaryScim.nickName", FieldType::String, false)], ..ListQuery::default() };
    let ordered_names = names(&all_objects(s, t, ObjectKind::User, q).await);
    assert_eq!(&ordered_names[..2], &["Ben".to_string(), "Ann".to_string()], "benny_b < nan");
    assert_eq!(sorted(ordered_names[2..].to_vec()), strs(&["Cid", "Dot"]), "missing last");

    // Only identifier segments reach the SQL.
    for bad in ["ostiaryScim..nickName", "ostiaryScim.nick'Name", "a.b') OR 1=1 --", "ostiaryScim.", ".x"] {
        let f = eq(Operand::Field { name: bad, ty: FieldType::String }, "x");
        let r = s.list_objects(t, ObjectKind::User, &query(Some(f))).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{bad}: {r:?}");
        let q = ListQuery { order_by: vec![key(bad, FieldType::String, false)], ..ListQuery::default() };
        let r = s.list_objects(t, ObjectKind::User, &q).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "order by {bad}: {r:?}");
    }
}

async fn group_application_sp_filters(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mut g1 = group("Unified One");
    g1.group_types = vec!["Unified".into()];
    g1.mail_enabled = true;
    g1.security_enabled = false;
    g1.is_assignable_to_role = Some(true);
    g1.visibility = Some("Private".into());
    g1.mail = Some("one@x.test".into());
    g1.created_date_time = datetime!(2023-12-31 23:59:59 UTC);
    let mut g2 = group("Security Two");
    g2.description = Some("Locked down".into());
    let mut g3 = group("Third");
    g3.is_assignable_to_role = Some(false);
    create(s, t, vec![g(&g1), g(&g2), g(&g3)]).await;
    let k = ObjectKind::Group;
    expect_filter(s, t, k, "groupTypes/any(c: c eq 'unified')", &["Unified One"]).await;
    expect_filter(s, t, k, "not(groupTypes/any(c: c eq 'Unified'))", &["Security Two", "Third"]).await;
    expect_filter(s, t, k, "mailEnabled eq true", &["Unified One"]).await;
    expect_filter(s, t, k, "securityEnabled eq true", &["Security Two", "Third"]).await;
    expect_filter(s, t, k, "isAssignableToRole eq null", &["Security Two"]).await;
    expect_filter(s, t, k, "isAssignableToRole eq true", &["Unified One"]).await;
    expect_filter(s, t, k, "isAssignableToRole ne true", &["Security Two", "Third"]).await;
    expect_filter(s, t, k, "isAssignableToRole eq false", &["Third"]).await;
    expect_filter(s, t, k, "visibility eq 'private'", &["Unified One"]).await;
    expect_filter(s, t, k, "contains(description, 'LOCKED')", &["Security Two"]).await;
    expect_filter(s, t, k, "createdDateTime lt 2024-01-01T00:00:00Z", &["Unified One"]).await;

    let mut a1 = application("App One", &["api://one", "https://One.example/api"]);
    a1.tags = vec!["HR".into()];
    let a2 = application("App Two", &[]);
    let mut s1 = service_principal("App One", a1.app_id);
    s1.service_principal_names = vec!["api://one".into(), a1.app_id.to_string()];
    s1.app_owner_organization_id = Some(t.as_uuid());
    let mut s2 = service_principal("Managed", Uuid::new_v4());
    s2.service_principal_type = "ManagedIdentity".into();
    s2.account_enabled = false;
    s2.app_role_assignment_required = true;
    create(s, t, vec![a(&a1), a(&a2), sp(&s1), sp(&s2)]).await;
    let k = ObjectKind::Application;
    expect_filter(s, t, k, "identifierUris/any(x: startswith(x, 'API://'))", &["App One"]).await;
    expect_filter(s, t, k, "identifierUris/all(x: startswith(x, 'api://'))", &["App Two"]).await;
    expect_filter(s, t, k, &format!("appId eq '{}'", a2.app_id), &["App Two"]).await;
    expect_filter(s, t, k, &format!("appId eq {}", a1.app_id.to_string().to_uppercase()), &["App One"]).await;
    expect_filter(s, t, k, "tags/any(x: x eq 'hr')", &["App One"]).await;
    expect_filter(s, t, k, "signInAudience eq 'azureadmyorg'", &["App One", "App Two"]).await;
    let k = ObjectKind::ServicePrincipal;
    expect_filter(s, t, k, "servicePrincipalType eq 'managedidentity'", &["Managed"]).await;
    expect_filter(s, t, k, "accountEnabled eq true", &["App One"]).await;
    expect_filter(s, t, k, "appRoleAssignmentRequired eq true", &["Managed"]).await;
    expect_filter(s, t, k, "appOwnerOrganizationId eq null", &["Managed"]).await;
    expect_filter(s, t, k, &format!("appOwnerOrganizationId eq {}", t.as_uuid()), &["App One"]).await;
    expect_filter(s, t, k, &format!("servicePrincipalNames/any(n: n eq '{}')", a1.app_id), &["App One"]).await;
    expect_filter(s, t, k, &format!("appId in ('{}', '{}')", a1.app_id, s2.app_id), &["App One", "Managed"]).await;
}

fn key(field: &'static str, ty: FieldType, descending: bool) -> SortKey {
    SortKey { field, ty, descending }
}

async fn order_by(s: &dyn Store) {
    let t = new_tenant(s).await;
    let specs = [
        ("echo", "b", datetime!(2024-01-03 00:00:00 UTC)),
        ("Bravo", "a", datetime!(2024-01-05 00:00:00 UTC)),
        ("alpha", "b", datetime!(2024-01-01 00:00:00 UTC)),
        ("Delta", "a", datetime!(2024-01-02 00:00:00 UTC)),
        ("charlie", "B", datetime!(2024-01-04 00:00:00 UTC)),
        ("Same", "c", datetime!(2024-01-06 00:00:00 UTC)),
        ("same", "c", datetime!(2024-01-06 00:00:00 UTC)),
        ("SAME", "c", datetime!(2024-01-06 00:00:00 UTC)),
    ];
    let users: Vec<User> = specs
        .iter()
        .enumerate()
        .map(|(i, (name, dept, created))| {
            let mut x = user(&format!("o{i}@x.test"), name);
            x.department = Some(dept.to_string());
            x.created_date_time = *created;
            x
        })
        .collect();
    create(s, t, users.iter().map(u).collect()).await;

    // The ids of the three "same" users in ascending order: the tie-breaker.
    let mut same_ids: Vec<ObjectId> = users[5..].iter().map(|x| x.id).collect();
    same_ids.sort();
    let same_names: Vec<String> =
        same_ids.iter().map(|id| users.iter().find(|x| x.id == *id).unwrap().display_name.clone()).collect();
    let with = |mut front: Vec<&str>, back: bool| {
        let mut v: Vec<String> = Vec::new();
        if !back {
            v.extend(same_names.iter().cloned());
        }
        v.extend(front.drain(..).map(String::from));
        if back {
            v.extend(same_names.iter().cloned());
        }
        v
    };

    let run = |keys: Vec<SortKey>, top: u32| async move {
        let q = ListQuery { order_by: keys, top, ..ListQuery::default() };
        names(&all_objects(s, t, ObjectKind::User, q).await)
    };
    let name_asc = vec![key("displayName", FieldType::String, false)];
    let name_desc = vec![key("displayName", FieldType::String, true)];
    let created_desc = vec![key("createdDateTime", FieldType::DateTime, true)];
    let created_asc = vec![key("createdDateTime", FieldType::DateTime, false)];

    let asc = with(vec!["alpha", "Bravo", "charlie", "Delta", "echo"], true);
    assert_eq!(run(name_asc.clone(), 999).await, asc, "displayName asc");
    assert_eq!(run(name_asc, 3).await, asc, "displayName asc, paged");
    let desc = with(vec!["echo", "Delta", "charlie", "Bravo", "alpha"], false);
    assert_eq!(run(name_desc.clone(), 999).await, desc, "displayName desc (ties by id asc)");
    assert_eq!(run(name_desc, 2).await, desc, "displayName desc, paged");
    let by_created_desc = with(vec!["Bravo", "charlie", "echo", "Delta", "alpha"], false);
    assert_eq!(run(created_desc, 999).await, by_created_desc, "createdDateTime desc");
    let by_created_asc = with(vec!["alpha", "Delta", "echo", "charlie", "Bravo"], true);
    assert_eq!(run(created_asc, 4).await, by_created_asc, "createdDateTime asc");
    // Two keys: department asc (case-insensitive), then displayName desc.
    let two = vec![key("department", FieldType::String, false), key("displayName", FieldType::String, true)];
    let mut want: Vec<String> = ["Delta", "Bravo", "echo", "charlie", "alpha"].map(String::from).to_vec();
    want.extend(same_names.iter().cloned());
    assert_eq!(run(two, 999).await, want, "department asc, displayName desc");

    // Filter plus order.
    let q = ListQuery {
        filter: Some(flt(Some(ObjectKind::User), "department eq 'B'")),
        order_by: vec![key("displayName", FieldType::String, true)],
        ..ListQuery::default()
    };
    let got = names(&all_objects(s, t, ObjectKind::User, q).await);
    assert_eq!(got, vec!["echo", "charlie", "alpha"]);
}

async fn paging(s: &dyn Store) {
    let t = new_tenant(s).await;
    let users: Vec<User> = (0..250)
        .map(|i| {
            let mut x = user(&format!("pager{i:03}@x.test"), &format!("Pager {}", i % 10));
            x.created_date_time = T0 + Duration::seconds(i % 7);
            x
        })
        .collect();
    create(s, t, users.iter().map(u).collect()).await;

    // Default order: id ascending.
    let mut expected: Vec<ObjectId> = users.iter().map(|x| x.id).collect();
    expected.sort();
    let mut q = ListQuery { top: 100, count: true, ..ListQuery::default() };
    let mut sizes = Vec::new();
    let mut seen: Vec<ObjectId> = Vec::new();
    loop {
        let page: Page<DirectoryObject> = s.list_objects(t, ObjectKind::User, &q).await.unwrap();
        assert_eq!(page.count, Some(250), "count ignores paging");
        sizes.push(page.items.len());
        seen.extend(page.items.iter().map(DirectoryObject::id));
        match page.next {
            Some(token) => q.skip_token = Some(token),
            None => break,
        }
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(seen, expected, "pages are id-ordered, stable and non-overlapping");

    // Without count, no count.
    let page = s.list_objects(t, ObjectKind::User, &ListQuery { top: 5, ..ListQuery::default() }).await.unwrap();
    assert_eq!(page.count, None);
    assert_eq!(page.items.len(), 5);

    // Sorted with many ties: lowercased name desc, then id asc.
    let mut want: Vec<&User> = users.iter().collect();
    want.sort_by(|x, y| y.display_name.to_lowercase().cmp(&x.display_name.to_lowercase()).then(x.id.cmp(&y.id)));
    let want: Vec<ObjectId> = want.iter().map(|x| x.id).collect();
    let q = ListQuery { top: 100, order_by: vec![key("displayName", FieldType::String, true)], ..ListQuery::default() };
    let got: Vec<ObjectId> = all_objects(s, t, ObjectKind::User, q).await.iter().map(DirectoryObject::id).collect();
    assert_eq!(got, want, "sorted paging");

    // Sorted by a date-time with ties, ascending.
    let mut want: Vec<&User> = users.iter().collect();
    want.sort_by(|x, y| x.created_date_time.cmp(&y.created_date_time).then(x.id.cmp(&y.id)));
    let want: Vec<ObjectId> = want.iter().map(|x| x.id).collect();
    let q = ListQuery {
        top: 33,
        order_by: vec![key("createdDateTime", FieldType::DateTime, false)],
        ..ListQuery::default()
    };
    let got: Vec<ObjectId> = all_objects(s, t, ObjectKind::User, q).await.iter().map(DirectoryObject::id).collect();
    assert_eq!(got, want, "date-time sorted paging");

    // Filtered paging: 25 matches, 10 per page.
    let mut q = ListQuery {
        top: 10,
        count: true,
        filter: Some(flt(Some(ObjectKind::User), "startswith(displayName, 'pager 1')")),
        ..ListQuery::default()
    };
    let mut sizes = Vec::new();
    let mut ids = BTreeSet::new();
    loop {
        let page = s.list_objects(t, ObjectKind::User, &q).await.unwrap();
        assert_eq!(page.count, Some(25));
        sizes.push(page.items.len());
        ids.extend(page.items.iter().map(DirectoryObject::id));
        match page.next {
            Some(token) => q.skip_token = Some(token),
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(ids.len(), 25);

    // Exactly one full page has no `next`.
    let q = ListQuery {
        top: 25,
        filter: Some(flt(Some(ObjectKind::User), "displayName eq 'Pager 3'")),
        ..ListQuery::default()
    };
    let page = s.list_objects(t, ObjectKind::User, &q).await.unwrap();
    assert_eq!(page.items.len(), 25);
    assert_eq!(page.next, None);

    // A page past the end is empty, and the count still holds.
    let q = ListQuery {
        top: 10,
        count: true,
        skip_token: Some(crate::query::encode_offset_token(1000)),
        ..ListQuery::default()
    };
    let page = s.list_objects(t, ObjectKind::User, &q).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next, None);
    assert_eq!(page.count, Some(250));
}

async fn invalid_queries(s: &dyn Store) {
    let t = new_tenant(s).await;
    create(s, t, vec![u(&user("only@x.test", "Only"))]).await;
    for token in ["garbage", "o-1", "o", "o99999999999", "x10"] {
        let q = ListQuery { skip_token: Some(token.into()), ..ListQuery::default() };
        match s.list_objects(t, ObjectKind::User, &q).await {
            Err(StoreError::InvalidQuery(_)) => {}
            other => panic!("skip token {token:?}: expected InvalidQuery, got {other:?}"),
        }
        let rel = Relation::Members { group: oid(), transitive: true };
        match s.list_related(t, rel, &q).await {
            Err(StoreError::InvalidQuery(_)) => {}
            other => {
                panic!("skip token {token:?} on relation: expected InvalidQuery, got {other:?}")
            }
        }
    }
}

// --- isolation, versions, keys, replay ------------------------------------------------------

async fn tenant_isolation(s: &dyn Store) {
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    let alice_a = user("alice@shared.test", "Alice A");
    let team_a = group("Team A");
    let app_a = application("App A", &["api://shared"]);
    let sp_a = service_principal("SP A", app_a.app_id);
    let role = Uuid::new_v4();
    let grant_a = assignment(alice_a.id, sp_a.id, role);
    create(s, ta, vec![u(&alice_a), g(&team_a), a(&app_a), sp(&sp_a)]).await;
    commit(s, ta, vec![member(&team_a, alice_a.id), Change::AddAppRoleAssignment(grant_a.clone())]).await.unwrap();
    s.put_signing_key(ta, &signing_key("kid-a", T0)).await.unwrap();

    // The same unique keys may exist in another tenant, even the same object id.
    let alice_b = user("ALICE@shared.test", "Alice B");
    let mut app_b = application("App B", &["API://SHARED"]);
    app_b.app_id = app_a.app_id;
    let sp_b = service_principal("SP B", app_a.app_id);
    let mut twin = group("Twin in B");
    twin.id = team_a.id;
    create(s, tb, vec![u(&alice_b), a(&app_b), sp(&sp_b), g(&twin)]).await;

    // Reads in B never see A.
    assert_eq!(s.get_object(tb, alice_a.id).await.unwrap(), None);
    assert_eq!(s.get_object(tb, team_a.id).await.unwrap(), Some(g(&twin)));
    assert_eq!(s.get_object(ta, team_a.id).await.unwrap(), Some(g(&team_a)));
    assert!(s.get_objects(tb, &[alice_a.id, sp_a.id]).await.unwrap().is_empty());
    assert_eq!(s.find_by_unique_key(tb, "upn", "alice@shared.test").await.unwrap(), Some(u(&alice_b)));
    assert_eq!(s.find_by_unique_key(ta, "upn", "alice@shared.test").await.unwrap(), Some(u(&alice_a)));
    assert_eq!(s.find_by_unique_key(tb, "identifierUri", "api://shared").await.unwrap(), Some(a(&app_b)));
    assert_eq!(names(&all_objects(s, tb, ObjectKind::User, query(None)).await), vec!["Alice B"]);
    assert_eq!(names(&all_objects(s, ta, ObjectKind::User, query(None)).await), vec!["Alice A"]);
    let q = ListQuery { count: true, ..query(Some(flt(Some(ObjectKind::User), "startswith(displayName, 'alice')"))) };
    assert_eq!(s.list_objects(tb, ObjectKind::User, &q).await.unwrap().count, Some(1));
    // The twin group in B has no members; A's membership stays in A.
    let twin_members = Relation::Members { group: team_a.id, transitive: true };
    assert!(related_names(s, tb, twin_members, query(None)).await.is_empty());
    assert_eq!(related_names(s, ta, twin_members, query(None)).await, strs(&["Alice A"]));
    let alice_a_of = Relation::MemberOf { object: alice_a.id, transitive: true };
    assert!(related_names(s, tb, alice_a_of, query(None)).await.is_empty());
    assert!(s.list_app_role_assignments(tb, AssignmentsBy::All).await.unwrap().is_empty());
    assert!(s.list_app_role_assignments(tb, AssignmentsBy::Id(grant_a.id.clone())).await.unwrap().is_empty());
    assert!(s.list_app_role_assignments(tb, AssignmentsBy::Principal(alice_a.id)).await.unwrap().is_empty());
    assert!(s.list_signing_keys(tb).await.unwrap().is_empty());

    // Writes in B cannot touch A.
    let mut hijack = alice_a.clone();
    hijack.display_name = "Hijacked".into();
    assert_not_found(commit(s, tb, vec![Change::UpdateObject(u(&hijack))]).await, "update across tenants");
    assert_not_found(commit(s, tb, vec![Change::DeleteObject(alice_a.id)]).await, "delete across tenants");
    assert_not_found(
        commit(s, tb, vec![Change::AddMember { group: twin.id, member: alice_a.id }]).await,
        "add member across tenants",
    );
    assert_not_found(
        commit(s, tb, vec![Change::RemoveMember { group: team_a.id, member: alice_a.id }]).await,
        "remove member across tenants",
    );
    assert_not_found(
        commit(s, tb, vec![Change::AddAppRoleAssignment(assignment(alice_b.id, sp_a.id, role))]).await,
        "assignment to a resource of another tenant",
    );
    assert_not_found(
        commit(s, tb, vec![Change::RemoveAppRoleAssignment { id: grant_a.id.clone() }]).await,
        "remove assignment across tenants",
    );
    // Deleting B's twin leaves A's group and its membership alone.
    commit(s, tb, vec![Change::DeleteObject(twin.id)]).await.unwrap();
    assert_eq!(s.get_object(ta, team_a.id).await.unwrap(), Some(g(&team_a)));
    assert_eq!(related_names(s, ta, twin_members, query(None)).await, strs(&["Alice A"]));
    // Deleting B's user leaves A's unique key alone.
    commit(s, tb, vec![Change::DeleteObject(alice_b.id)]).await.unwrap();
    assert_eq!(s.find_by_unique_key(ta, "upn", "alice@shared.test").await.unwrap(), Some(u(&alice_a)));
    assert_eq!(s.get_object(ta, alice_a.id).await.unwrap(), Some(u(&alice_a)));
    assert_eq!(s.list_app_role_assignments(ta, AssignmentsBy::All).await.unwrap().len(), 1);
    // Keys.
    s.put_signing_key(tb, &signing_key("kid-a", T0 + Duration::days(1))).await.unwrap();
    assert_eq!(s.list_signing_keys(ta).await.unwrap(), vec![signing_key("kid-a", T0)]);
    s.delete_signing_key(tb, "kid-a").await.unwrap();
    assert_eq!(s.list_signing_keys(ta).await.unwrap().len(), 1);
}

/// `Change::Expect`: the commit applies only if the stored object is exactly the expected one.
async fn expect_precondition(s: &dyn Store) {
    let t = new_tenant(s).await;
    let mut ann = user("ann@x.test", "Ann");
    ann.last_modified_date_time = Some(datetime!(2024-07-01 10:00:00.123 UTC));
    ann.ostiary_scim = Some(json!({ "b": 1, "a": [1, 2, { "z": null }] }));
    let team = group("Team");
    create(s, t, vec![u(&ann), g(&team)]).await;
    let v0 = s.tenant_version(t).await.unwrap();

    // Holds: applied.
    let mut v1 = ann.clone();
    v1.display_name = "Ann One".into();
    commit(s, t, vec![Change::Expect(u(&ann)), Change::UpdateObject(u(&v1))]).await.unwrap();
    assert_eq!(s.get_object(t, ann.id).await.unwrap(), Some(u(&v1)));
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1);

    // Stale: nothing of the change set is applied, the version does not move.
    let mut v2 = ann.clone();
    v2.display_name = "Ann Two".into();
    let r = commit(
        s,
        t,
        vec![
            Change::AddMember { group: team.id, member: ann.id },
            Change::Expect(u(&ann)),
            Change::UpdateObject(u(&v2)),
        ],
    )
    .await;
    assert_eq!(r, Err(StoreError::PreconditionFailed), "stale expectation");
    assert_eq!(s.get_object(t, ann.id).await.unwrap(), Some(u(&v1)));
    assert!(all_related(s, t, Relation::Members { group: team.id, transitive: false }, query(None)).await.is_empty());
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1);

    // Absent, or of another kind, or in another tenant: fails.
    let ghost = user("ghost@x.test", "Ghost");
    assert_eq!(commit(s, t, vec![Change::Expect(u(&ghost))]).await, Err(StoreError::PreconditionFailed));
    let mut impostor = group("Impostor");
    impostor.id = ann.id;
    assert_eq!(commit(s, t, vec![Change::Expect(g(&impostor))]).await, Err(StoreError::PreconditionFailed));
    let other = new_tenant(s).await;
    assert_eq!(commit(s, other, vec![Change::Expect(u(&v1))]).await, Err(StoreError::PreconditionFailed));
    // An expectation alone, holding, is a valid (empty) write; so is a delete guarded by one.
    commit(s, t, vec![Change::Expect(u(&v1))]).await.unwrap();
    commit(s, t, vec![Change::Expect(g(&team)), Change::DeleteObject(team.id)]).await.unwrap();
    assert_eq!(s.get_object(t, team.id).await.unwrap(), None);

    // Two writers read the same version; exactly one wins, the other gets PreconditionFailed.
    for round in 0..5 {
        let base = match s.get_object(t, ann.id).await.unwrap() {
            Some(DirectoryObject::User(x)) => x,
            other => panic!("{other:?}"),
        };
        let writers: Vec<User> = (0..2)
            .map(|w| {
                let mut x = base.clone();
                x.display_name = format!("Ann r{round} w{w}");
                x
            })
            .collect();
        let futures =
            writers.iter().map(|x| commit(s, t, vec![Change::Expect(u(&base)), Change::UpdateObject(u(x))])).collect();
        let results = join_all(futures).await;
        let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins: {results:?}");
        let loser = 1 - winners[0];
        assert_eq!(results[loser], Err(StoreError::PreconditionFailed), "round {round}");
        assert_eq!(s.get_object(t, ann.id).await.unwrap(), Some(u(&writers[winners[0]])), "round {round}");
    }
}

async fn tenant_version(s: &dyn Store) {
    let t = new_tenant(s).await;
    let other = new_tenant(s).await;
    let other_v = s.tenant_version(other).await.unwrap();
    let v0 = s.tenant_version(t).await.unwrap();

    commit(s, t, vec![]).await.unwrap();
    let v1 = s.tenant_version(t).await.unwrap();
    assert!(v1 > v0, "empty commit bumps ({v0} -> {v1})");
    let person = user("v@x.test", "V");
    create(s, t, vec![u(&person)]).await;
    let v2 = s.tenant_version(t).await.unwrap();
    assert!(v2 > v1, "commit bumps");
    assert!(commit(s, t, vec![Change::DeleteObject(oid())]).await.is_err());
    assert_eq!(s.tenant_version(t).await.unwrap(), v2, "failed commit does not bump");
    s.put_signing_key(t, &signing_key("kid-v", T0)).await.unwrap();
    let v3 = s.tenant_version(t).await.unwrap();
    assert!(v3 > v2, "key put bumps");
    s.put_signing_key(t, &signing_key("kid-v", T0)).await.unwrap();
    let v4 = s.tenant_version(t).await.unwrap();
    assert!(v4 > v3, "key replace bumps");
    s.delete_signing_key(t, "kid-v").await.unwrap();
    let v5 = s.tenant_version(t).await.unwrap();
    assert!(v5 > v4, "key delete bumps");
    assert_eq!(s.tenant_version(other).await.unwrap(), other_v, "other tenants are unaffected");
}

async fn signing_keys(s: &dyn Store) {
    let t = new_tenant(s).await;
    let k1 = signing_key("kid-1", datetime!(2024-01-01 00:00:00 UTC));
    let mut k2 = signing_key("kid-2", datetime!(2024-02-01 00:00:00 UTC));
    k2.alg = "ES256".into();
    k2.sign_from = datetime!(2024-02-01 10:00:00.123456 UTC);
    s.put_signing_key(t, &k1).await.unwrap();
    s.put_signing_key(t, &k2).await.unwrap();
    let by_kid = |mut v: Vec<StoredSigningKey>| {
        v.sort_by(|x, y| x.kid.cmp(&y.kid));
        v
    };
    assert_eq!(by_kid(s.list_signing_keys(t).await.unwrap()), vec![k1.clone(), k2.clone()]);

    // Replace by kid.
    let mut k1b = k1.clone();
    k1b.retire_at = Some(datetime!(2024-03-01 00:00:00 UTC));
    k1b.sealed_private_key = vec![7; 48];
    k1b.kek_id = "kek-2".into();
    s.put_signing_key(t, &k1b).await.unwrap();
    assert_eq!(by_kid(s.list_signing_keys(t).await.unwrap()), vec![k1b.clone(), k2.clone()]);

    s.delete_signing_key(t, "kid-2").await.unwrap();
    assert_eq!(s.list_signing_keys(t).await.unwrap(), vec![k1b]);
}

async fn assertion_replay(s: &dyn Store) {
    let t = new_tenant(s).await;
    let other = new_tenant(s).await;
    let now = datetime!(2024-06-01 12:00:00 UTC);
    let exp = now + Duration::minutes(5);
    assert!(rec(s, t, "client-1", "jti-1", exp, now).await, "fresh");
    assert!(!rec(s, t, "client-1", "jti-1", exp, now + Duration::minutes(1)).await, "replay");
    assert!(!rec(s, t, "client-1", "jti-1", exp, exp).await, "replay at the expiry instant");
    assert!(rec(s, t, "client-2", "jti-1", exp, now).await, "other client");
    assert!(rec(s, t, "client-1", "jti-2", exp, now).await, "other jti");
    assert!(rec(s, other, "client-1", "jti-1", exp, now).await, "other tenant");

    // After expiry the jti counts as fresh again, with the new expiry.
    let later = now + Duration::minutes(10);
    let exp2 = later + Duration::minutes(10);
    assert!(rec(s, t, "client-1", "jti-1", exp2, later).await, "expired entry is replaced");
    assert!(!rec(s, t, "client-1", "jti-1", exp2, later + Duration::minutes(1)).await, "replay of the new entry");

    // Many expired entries: purging is bounded but never breaks recording.
    for i in 0..150 {
        assert!(rec(s, t, "bulk", &format!("bulk-{i}"), now + Duration::seconds(1), now).await);
    }
    let much_later = now + Duration::hours(1);
    for i in 0..150 {
        let jti = format!("bulk-{i}");
        let fresh = rec(s, t, "bulk", &jti, much_later + Duration::minutes(5), much_later).await;
        assert!(fresh, "{jti} expired");
    }
    assert!(!rec(s, t, "bulk", "bulk-0", much_later + Duration::minutes(5), much_later).await);
}

async fn rec(
    s: &dyn Store,
    t: TenantId,
    client: &str,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    s.record_assertion_jti(t, client, jti, expires_at, now).await.expect("record_assertion_jti")
}

// --- grant and session state (kv) ------------------------------------------------------------

/// The `now` of the kv checks.
const KV_NOW: OffsetDateTime = datetime!(2024-06-01 12:00:00 UTC);

fn kv(kind: &str, key: &str, doc: serde_json::Value) -> KvEntry {
    KvEntry {
        kind: kind.to_string(),
        key: key.to_string(),
        doc,
        version: 1,
        expires_at: None,
        user_id: None,
        family_id: None,
    }
}

fn kv_expiring(kind: &str, key: &str, expires_at: OffsetDateTime) -> KvEntry {
    KvEntry { expires_at: Some(expires_at), ..kv(kind, key, json!({ "key": key })) }
}

fn kv_owned(kind: &str, key: &str, user: Option<ObjectId>, family: Option<&str>) -> KvEntry {
    KvEntry { user_id: user, family_id: family.map(str::to_string), ..kv(kind, key, json!({ "key": key })) }
}

fn kv_conflict() -> StoreError {
    conflict("kv")
}

async fn kv_apply(s: &dyn Store, t: TenantId, ops: Vec<KvOp>) -> Result<(), StoreError> {
    s.kv_apply(t, &ops, false, KV_NOW).await
}

async fn kv_insert(s: &dyn Store, t: TenantId, entries: Vec<KvEntry>) {
    kv_apply(s, t, entries.into_iter().map(KvOp::Insert).collect()).await.expect("kv insert");
}

async fn kv_get(s: &dyn Store, t: TenantId, kind: &str, key: &str) -> Option<KvEntry> {
    s.kv_get(t, kind, key, KV_NOW).await.expect("kv_get")
}

/// Whether the entry exists at all, dead or alive (read at the beginning of time).
async fn kv_stored(s: &dyn Store, t: TenantId, kind: &str, key: &str) -> bool {
    s.kv_get(t, kind, key, OffsetDateTime::UNIX_EPOCH).await.expect("kv_get").is_some()
}

async fn kv_keys(s: &dyn Store, t: TenantId, kind: &str, select: KvSelect, limit: u32) -> Vec<String> {
    let entries = s.kv_list(t, kind, &select, limit, KV_NOW).await.expect("kv_list");
    entries.into_iter().map(|e| e.key).collect()
}

fn sorted_keys(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort();
    v
}

/// Polls all futures concurrently on the current task (no `'static` bound, unlike spawning)
/// and returns their outputs in order; the database work they start runs truly in parallel.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future completed")).collect()
}

/// Index of the single `Ok` among `results`; every other result must be `Conflict { kv }`.
#[track_caller]
fn single_winner(results: &[Result<(), StoreError>], what: &str) -> usize {
    let mut winners = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(()) => winners.push(i),
            Err(StoreError::Conflict { key }) if key == "kv" => {}
            Err(e) => panic!("{what}: attempt {i} failed with {e:?}, expected Ok or Conflict"),
        }
    }
    assert_eq!(winners.len(), 1, "{what}: exactly one attempt must win, winners: {winners:?}");
    winners[0]
}

async fn kv_crud_and_cas(s: &dyn Store) {
    let t = new_tenant(s).await;
    let owner = oid();
    let doc = json!({
        "sub": "x", "scopes": ["openid", "profile"], "n": 42, "neg": -7, "f": 1.5, "big": 9_007_199_254_740_993_u64,
        "nested": { "ü": "✓ 日本", "null": null, "t": true, "empty": {}, "list": [] },
    });
    let e = KvEntry {
        version: 42, // ignored by Insert
        expires_at: Some(KV_NOW + Duration::hours(1) + Duration::nanoseconds(123_456_789)),
        user_id: Some(owner),
        family_id: Some("fam-1".into()),
        ..kv("session", "s-1", doc)
    };
    kv_apply(s, t, vec![KvOp::Insert(e.clone())]).await.expect("insert");
    let stored = kv_get(s, t, "session", "s-1").await.expect("inserted entry");
    assert_eq!(stored, KvEntry { version: 1, ..e.clone() }, "insert stores every field (nanoseconds too), version 1");
    assert_eq!(kv_get(s, t, "session", "s-2").await, None);
    assert_eq!(kv_get(s, t, "code", "s-1").await, None, "kinds are separate namespaces");
    assert_eq!(kv_get(s, t, "session", "S-1").await, None, "keys are case-sensitive");

    // Insert on a live key conflicts and changes nothing.
    let r = kv_apply(s, t, vec![KvOp::Insert(kv("session", "s-1", json!({ "other": 1 })))]).await;
    assert_eq!(r, Err(kv_conflict()), "insert on a live key");
    assert_eq!(kv_get(s, t, "session", "s-1").await, Some(stored.clone()));

    // Compare-and-swap: every field is replaced, the version goes up by one.
    let next = KvEntry {
        doc: json!({ "rotated": true }),
        expires_at: Some(KV_NOW + Duration::hours(2)),
        user_id: None,
        family_id: Some("fam-2".into()),
        ..stored.clone()
    };
    kv_apply(s, t, vec![KvOp::Update(next.clone())]).await.expect("update with the current version");
    let updated = kv_get(s, t, "session", "s-1").await.expect("updated entry");
    assert_eq!(updated, KvEntry { version: 2, ..next.clone() });

    // Stale and future versions conflict and change nothing.
    let stale = KvEntry { doc: json!({ "stale": true }), ..next.clone() };
    assert_eq!(kv_apply(s, t, vec![KvOp::Update(stale)]).await, Err(kv_conflict()), "stale version");
    let ahead = KvEntry { version: 3, doc: json!({ "ahead": true }), ..updated.clone() };
    assert_eq!(kv_apply(s, t, vec![KvOp::Update(ahead)]).await, Err(kv_conflict()), "future version");
    assert_eq!(kv_get(s, t, "session", "s-1").await, Some(updated.clone()), "failed updates change nothing");
    let missing = kv("session", "missing", json!({}));
    assert_eq!(kv_apply(s, t, vec![KvOp::Update(missing)]).await, Err(kv_conflict()), "update of a missing key");
    assert_eq!(kv_get(s, t, "session", "missing").await, None, "update does not create");
    let wrong_kind = KvEntry { kind: "code".into(), ..updated.clone() };
    assert_eq!(kv_apply(s, t, vec![KvOp::Update(wrong_kind)]).await, Err(kv_conflict()), "update in another kind");

    // Documents need not be objects.
    let scalar = KvEntry { doc: json!(3), ..updated.clone() };
    kv_apply(s, t, vec![KvOp::Update(scalar.clone())]).await.expect("second update");
    assert_eq!(kv_get(s, t, "session", "s-1").await, Some(KvEntry { version: 3, ..scalar }));

    // Delete, also of missing keys; the key can be inserted again, starting over at version 1.
    kv_apply(s, t, vec![KvOp::Delete { kind: "session".into(), key: "s-1".into() }]).await.expect("delete");
    assert_eq!(kv_get(s, t, "session", "s-1").await, None);
    assert!(!kv_stored(s, t, "session", "s-1").await);
    kv_apply(s, t, vec![KvOp::Delete { kind: "session".into(), key: "s-1".into() }]).await.expect("delete again");
    kv_apply(s, t, vec![KvOp::Delete { kind: "nope".into(), key: "never".into() }]).await.expect("delete missing");
    kv_apply(s, t, vec![]).await.expect("empty batch");
    kv_apply(s, t, vec![KvOp::Insert(kv("session", "s-1", json!("again")))]).await.expect("insert after delete");
    assert_eq!(kv_get(s, t, "session", "s-1").await, Some(kv("session", "s-1", json!("again"))));
}

async fn kv_expiry(s: &dyn Store) {
    let t = new_tenant(s).await;
    let exp = KV_NOW + Duration::minutes(5);
    let e = kv_expiring("code", "c-1", exp);
    kv_insert(s, t, vec![e.clone()]).await;

    // Live strictly before `expires_at`, dead from that instant on.
    let just_before = exp - Duration::nanoseconds(1);
    assert_eq!(s.kv_get(t, "code", "c-1", just_before).await.unwrap(), Some(e.clone()));
    assert_eq!(s.kv_get(t, "code", "c-1", exp).await.unwrap(), None, "dead at expires_at");
    assert_eq!(s.kv_get(t, "code", "c-1", exp + Duration::days(1)).await.unwrap(), None);
    let all = KvSelect::Prefix(String::new());
    assert_eq!(s.kv_list(t, "code", &all, 10, just_before).await.unwrap(), vec![e.clone()]);
    assert!(s.kv_list(t, "code", &all, 10, exp).await.unwrap().is_empty(), "list skips dead entries");

    // A dead entry cannot be updated, even with the right version.
    let r = s.kv_apply(t, &[KvOp::Update(e.clone())], false, exp).await;
    assert_eq!(r, Err(kv_conflict()), "update of a dead entry");
    // Deleting a dead entry is fine.
    s.kv_apply(t, &[KvOp::Delete { kind: "code".into(), key: "c-1".into() }], false, exp).await.unwrap();
    assert!(!kv_stored(s, t, "code", "c-1").await);

    // Insert over a dead entry replaces every field and restarts the version.
    let user = oid();
    let old = KvEntry { user_id: Some(user), family_id: Some("f-old".into()), ..kv_expiring("code", "c-2", exp) };
    kv_insert(s, t, vec![old.clone()]).await;
    kv_apply(s, t, vec![KvOp::Update(old.clone())]).await.unwrap();
    assert_eq!(kv_get(s, t, "code", "c-2").await.unwrap().version, 2);
    let fresh = kv_expiring("code", "c-2", exp + Duration::hours(1));
    let r = s.kv_apply(t, &[KvOp::Insert(fresh.clone())], false, exp - Duration::seconds(1)).await;
    assert_eq!(r, Err(kv_conflict()), "still live a second before");
    s.kv_apply(t, &[KvOp::Insert(fresh.clone())], false, exp).await.expect("insert over a dead entry");
    assert_eq!(s.kv_get(t, "code", "c-2", exp).await.unwrap(), Some(fresh.clone()));
    let by_user = s.kv_list(t, "code", &KvSelect::User(user), 10, KV_NOW).await.unwrap();
    assert!(by_user.is_empty(), "the replaced entry's user index is gone: {by_user:?}");

    // An entry inserted already dead is stored but invisible; one without expiry never dies.
    kv_insert(s, t, vec![kv_expiring("code", "c-3", KV_NOW - Duration::hours(1))]).await;
    assert_eq!(kv_get(s, t, "code", "c-3").await, None);
    assert!(kv_stored(s, t, "code", "c-3").await);
    kv_insert(s, t, vec![kv("code", "c-4", json!({}))]).await;
    let far = datetime!(9999-12-31 23:59:59 UTC);
    assert!(s.kv_get(t, "code", "c-4", far).await.unwrap().is_some(), "no expiry = live forever");

    // The limit counts live entries only.
    let t2 = new_tenant(s).await;
    let mut entries = Vec::new();
    for key in ["a", "b", "c"] {
        entries.push(kv_expiring("x", key, KV_NOW));
    }
    for key in ["d", "e", "f"] {
        entries.push(kv_expiring("x", key, KV_NOW + Duration::seconds(1)));
    }
    kv_insert(s, t2, entries).await;
    assert_eq!(kv_keys(s, t2, "x", KvSelect::Prefix(String::new()), 2).await, sorted_keys(&["d", "e"]));
}

async fn kv_list_by_prefix(s: &dyn Store) {
    let t = new_tenant(s).await;
    // LIKE and GLOB metacharacters, escape characters, case, non-ASCII, the largest code point.
    let mut keys: Vec<String> = ["a", "a%", "a%b", "a%b%", "a%c", "a_b", "aXb", "ab", "a\\%", "a\\b", "a*", "a*b"]
        .into_iter()
        .chain(["a?b", "a[b]", "A%b", "b", "ä", "äb", "y"])
        .map(str::to_string)
        .collect();
    let max = char::MAX;
    keys.extend([format!("{max}x"), format!("{max}"), format!("x{max}")]);
    let mut entries: Vec<KvEntry> = keys.iter().map(|k| kv("grant", k, json!({ "k": k }))).collect();
    entries.extend(keys.iter().map(|k| kv("other", k, json!({}))));
    kv_insert(s, t, entries).await;

    let list = |prefix: &str, limit: u32| kv_keys(s, t, "grant", KvSelect::Prefix(prefix.to_string()), limit);
    let want = |prefix: &str| {
        let mut v: Vec<String> = keys.iter().filter(|k| k.starts_with(prefix)).cloned().collect();
        v.sort();
        v
    };
    let mut prefixes: Vec<String> = ["", "a", "a%", "a%b", "a_", "a\\", "a\\%", "a*", "a?", "a[", "a[b", "A", "ä", "x"]
        .into_iter()
        .chain(["zzz"])
        .map(str::to_string)
        .collect();
    prefixes.extend([format!("{max}"), format!("x{max}")]);
    for prefix in &prefixes {
        assert_eq!(list(prefix, 1000).await, want(prefix), "prefix {prefix:?}");
    }
    assert_eq!(list("a_", 1000).await, vec!["a_b".to_string()], "_ is literal");
    assert_eq!(list("a%", 1000).await, sorted_keys(&["a%", "a%b", "a%b%", "a%c"]), "% is literal");
    // Ordered by key in byte order, limited.
    assert_eq!(list("", 1000).await.first().map(String::as_str), Some("A%b"));
    assert_eq!(list("a", 3).await, sorted_keys(&["a", "a%", "a%b"]));
    assert_eq!(list("", 1).await, vec!["A%b".to_string()]);
    assert!(list("", 0).await.is_empty(), "limit 0");
    // Full entries come back.
    let got = s.kv_list(t, "grant", &KvSelect::Prefix("a_".into()), 10, KV_NOW).await.unwrap();
    assert_eq!(got, vec![kv("grant", "a_b", json!({ "k": "a_b" }))]);

    // The limit is capped at 1000.
    let bulk: Vec<KvEntry> = (0..1001).map(|i| kv("bulk", &format!("k{i:05}"), json!(i))).collect();
    kv_insert(s, t, bulk).await;
    let all = kv_keys(s, t, "bulk", KvSelect::Prefix(String::new()), u32::MAX).await;
    assert_eq!(all.len(), 1000, "limit capped at 1000");
    assert_eq!(all.first().map(String::as_str), Some("k00000"));
    assert_eq!(all.last().map(String::as_str), Some("k00999"));
    assert_eq!(kv_keys(s, t, "bulk", KvSelect::Prefix("k01".into()), 5000).await, vec!["k01000".to_string()]);
}

async fn kv_list_by_user_and_family(s: &dyn Store) {
    let t = new_tenant(s).await;
    let (u1, u2) = (oid(), oid());
    kv_insert(
        s,
        t,
        vec![
            kv_owned("refresh", "r-3", Some(u1), Some("A")),
            kv_owned("refresh", "r-1", Some(u1), Some("A")),
            kv_owned("refresh", "r-2", Some(u1), Some("B")),
            kv_owned("refresh", "r-4", Some(u2), Some("A")),
            kv_owned("refresh", "r-0", None, Some("A")),
            KvEntry { expires_at: Some(KV_NOW), ..kv_owned("refresh", "r-5", Some(u1), Some("A")) },
            kv_owned("session", "s-1", Some(u1), None),
            kv_owned("session", "s-2", None, Some("A")),
        ],
    )
    .await;
    let list = |kind: &'static str, select: KvSelect, limit: u32| kv_keys(s, t, kind, select, limit);
    assert_eq!(list("refresh", KvSelect::User(u1), 100).await, sorted_keys(&["r-1", "r-2", "r-3"]));
    assert_eq!(list("refresh", KvSelect::User(u1), 2).await, sorted_keys(&["r-1", "r-2"]));
    assert_eq!(list("refresh", KvSelect::User(u2), 100).await, sorted_keys(&["r-4"]));
    assert_eq!(list("session", KvSelect::User(u1), 100).await, sorted_keys(&["s-1"]));
    assert!(list("refresh", KvSelect::User(oid()), 100).await.is_empty());
    assert_eq!(list("refresh", KvSelect::Family("A".into()), 100).await, sorted_keys(&["r-0", "r-1", "r-3", "r-4"]));
    assert_eq!(list("refresh", KvSelect::Family("A".into()), 1).await, sorted_keys(&["r-0"]));
    assert_eq!(list("refresh", KvSelect::Family("B".into()), 100).await, sorted_keys(&["r-2"]));
    assert_eq!(list("session", KvSelect::Family("A".into()), 100).await, sorted_keys(&["s-2"]));
    assert!(list("refresh", KvSelect::Family("a".into()), 100).await.is_empty(), "family ids are case-sensitive");
    assert!(list("refresh", KvSelect::Family(String::new()), 100).await.is_empty());
    let got = s.kv_list(t, "refresh", &KvSelect::Family("B".into()), 10, KV_NOW).await.unwrap();
    assert_eq!(got, vec![kv_owned("refresh", "r-2", Some(u1), Some("B"))]);
}

async fn kv_delete_by_user_and_family(s: &dyn Store) {
    let t = new_tenant(s).await;
    let (u1, u2) = (oid(), oid());
    kv_insert(
        s,
        t,
        vec![
            kv_owned("session", "s1", Some(u1), None),
            kv_owned("refresh", "r1", Some(u1), Some("F1")),
            kv_owned("grant", "g1", Some(u1), None),
            kv_owned("settings", "x1", Some(u1), None),
            KvEntry { expires_at: Some(KV_NOW - Duration::hours(1)), ..kv_owned("session", "s4", Some(u1), None) },
            kv_owned("session", "s2", Some(u2), None),
            kv_owned("refresh", "r2", Some(u2), Some("F1")),
            kv_owned("session", "s3", None, None),
        ],
    )
    .await;
    let kinds = vec!["session".to_string(), "refresh".to_string()];
    kv_apply(s, t, vec![KvOp::DeleteByUser { kinds: kinds.clone(), user_id: u1 }]).await.expect("delete by user");
    for (kind, key) in [("session", "s1"), ("refresh", "r1"), ("session", "s4")] {
        assert!(!kv_stored(s, t, kind, key).await, "{kind}/{key} of the user is deleted (dead ones too)");
    }
    for (kind, key) in [("grant", "g1"), ("settings", "x1"), ("session", "s2"), ("refresh", "r2"), ("session", "s3")] {
        assert!(kv_get(s, t, kind, key).await.is_some(), "{kind}/{key} is not the user's or not of those kinds");
    }
    // Nothing to delete is fine, as are no kinds at all.
    kv_apply(s, t, vec![KvOp::DeleteByUser { kinds: kinds.clone(), user_id: u1 }]).await.expect("again");
    kv_apply(s, t, vec![KvOp::DeleteByUser { kinds: vec![], user_id: u2 }]).await.expect("no kinds");
    assert!(kv_get(s, t, "session", "s2").await.is_some(), "no kinds deletes nothing");
    kv_apply(s, t, vec![KvOp::DeleteByUser { kinds, user_id: oid() }]).await.expect("unknown user");

    kv_insert(
        s,
        t,
        vec![
            kv_owned("refresh", "f3a", Some(u1), Some("F3")),
            KvEntry { expires_at: Some(KV_NOW), ..kv_owned("refresh", "f3b", Some(u2), Some("F3")) },
            kv_owned("code", "f3c", Some(u1), Some("F3")),
            kv_owned("refresh", "f4", Some(u1), Some("F4")),
            kv_owned("refresh", "f3-upper", Some(u1), Some("f3")),
        ],
    )
    .await;
    let by_family = |family: &str| KvOp::DeleteByFamily { kind: "refresh".into(), family_id: family.to_string() };
    kv_apply(s, t, vec![by_family("F3")]).await.expect("delete by family");
    assert!(!kv_stored(s, t, "refresh", "f3a").await);
    assert!(!kv_stored(s, t, "refresh", "f3b").await, "dead members go too");
    assert!(kv_get(s, t, "code", "f3c").await.is_some(), "other kinds of the family stay");
    assert!(kv_get(s, t, "refresh", "f4").await.is_some(), "other families stay");
    assert!(kv_get(s, t, "refresh", "f3-upper").await.is_some(), "family ids are case-sensitive");
    assert!(kv_get(s, t, "refresh", "r2").await.is_some());
    kv_apply(s, t, vec![by_family("F3"), by_family("nope")]).await.expect("missing families");
}

async fn kv_atomicity(s: &dyn Store) {
    let t = new_tenant(s).await;
    let a = kv("grant", "a", json!({ "v": "a1" }));
    let b = kv("grant", "b", json!({ "v": "b1" }));
    kv_insert(s, t, vec![a.clone(), b.clone()]).await;
    let b2 = KvEntry { doc: json!({ "v": "b2" }), ..b.clone() };

    // The third op fails: the first two are undone.
    let r = kv_apply(
        s,
        t,
        vec![KvOp::Insert(kv("grant", "c", json!({}))), KvOp::Update(b2.clone()), KvOp::Insert(a.clone())],
    )
    .await;
    assert_eq!(r, Err(kv_conflict()), "third op inserts a live key");
    assert_eq!(kv_get(s, t, "grant", "c").await, None, "first op undone");
    assert_eq!(kv_get(s, t, "grant", "b").await, Some(b.clone()), "second op undone");

    let r = kv_apply(
        s,
        t,
        vec![
            KvOp::Delete { kind: "grant".into(), key: "a".into() },
            KvOp::Update(b2.clone()),
            KvOp::Update(b2.clone()), // now stale: the batch sees its own writes
        ],
    )
    .await;
    assert_eq!(r, Err(kv_conflict()), "third op has a stale version");
    assert_eq!(kv_get(s, t, "grant", "a").await, Some(a.clone()), "delete undone");
    assert_eq!(kv_get(s, t, "grant", "b").await, Some(b.clone()), "update undone");

    let r = kv_apply(
        s,
        t,
        vec![
            KvOp::DeleteByFamily { kind: "grant".into(), family_id: "none".into() },
            KvOp::Delete { kind: "grant".into(), key: "b".into() },
            KvOp::Update(kv("grant", "zz", json!({}))),
        ],
    )
    .await;
    assert_eq!(r, Err(kv_conflict()), "third op updates a missing key");
    assert_eq!(kv_get(s, t, "grant", "b").await, Some(b.clone()), "delete undone");

    // Later ops see earlier ones.
    let d = kv("grant", "d", json!(1));
    let d2 = KvEntry { doc: json!(2), ..d.clone() };
    let d3 = KvEntry { doc: json!(3), version: 2, ..d.clone() };
    kv_apply(s, t, vec![KvOp::Insert(d.clone()), KvOp::Update(d2), KvOp::Update(d3.clone())]).await.unwrap();
    assert_eq!(kv_get(s, t, "grant", "d").await, Some(KvEntry { version: 3, ..d3 }));
    let a2 = kv("grant", "a", json!({ "v": "a2" }));
    kv_apply(s, t, vec![KvOp::Delete { kind: "grant".into(), key: "a".into() }, KvOp::Insert(a2.clone())])
        .await
        .expect("delete then insert of a live key");
    assert_eq!(kv_get(s, t, "grant", "a").await, Some(a2));
    let user = oid();
    let mine = kv_owned("grant", "mine", Some(user), None);
    kv_insert(s, t, vec![mine.clone()]).await;
    kv_apply(s, t, vec![KvOp::DeleteByUser { kinds: vec!["grant".into()], user_id: user }, KvOp::Insert(mine.clone())])
        .await
        .expect("delete by user then insert");
    assert_eq!(kv_get(s, t, "grant", "mine").await, Some(mine));
}

async fn kv_bump_version(s: &dyn Store) {
    let t = new_tenant(s).await;
    let other = new_tenant(s).await;
    let other_v = s.tenant_version(other).await.unwrap();
    let v0 = s.tenant_version(t).await.unwrap();

    kv_apply(s, t, vec![KvOp::Insert(kv("settings", "a", json!({})))]).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0, "without bump_version the version stays");
    kv_apply(s, t, vec![KvOp::Delete { kind: "settings".into(), key: "a".into() }]).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0);

    let settings = kv("settings", "tenant", json!({ "mfa": true }));
    s.kv_apply(t, &[KvOp::Insert(settings.clone())], true, KV_NOW).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1, "bump_version increments");
    assert_eq!(kv_get(s, t, "settings", "tenant").await, Some(settings.clone()));
    let updated = KvEntry { doc: json!({ "mfa": false }), ..settings.clone() };
    let two = [KvOp::Update(updated), KvOp::Insert(kv("settings", "b", json!(null)))];
    s.kv_apply(t, &two, true, KV_NOW).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 2, "once per batch");
    s.kv_apply(t, &[], true, KV_NOW).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 3, "an empty batch bumps too");
    s.kv_apply(t, &[KvOp::Delete { kind: "x".into(), key: "y".into() }], true, KV_NOW).await.unwrap();
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 4, "a batch that deletes nothing bumps too");

    // A failed batch does not bump.
    let r = s.kv_apply(t, &[KvOp::Insert(settings.clone())], true, KV_NOW).await;
    assert_eq!(r, Err(kv_conflict()));
    let stale = [KvOp::Delete { kind: "settings".into(), key: "b".into() }, KvOp::Update(settings)];
    assert_eq!(s.kv_apply(t, &stale, true, KV_NOW).await, Err(kv_conflict()));
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 4, "failed batches do not bump");
    assert!(kv_get(s, t, "settings", "b").await.is_some());
    assert_eq!(s.tenant_version(other).await.unwrap(), other_v, "other tenants are unaffected");
}

async fn kv_unknown_tenant(s: &dyn Store) {
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    let e = kv("session", "s", json!({}));
    let batches = vec![
        vec![],
        vec![KvOp::Insert(e.clone())],
        vec![KvOp::Update(e.clone())],
        vec![KvOp::Delete { kind: "session".into(), key: "s".into() }],
        vec![KvOp::DeleteByUser { kinds: vec!["session".into()], user_id: oid() }],
        vec![KvOp::DeleteByFamily { kind: "session".into(), family_id: "f".into() }],
        vec![KvOp::Insert(e.clone()), KvOp::Insert(kv("session", "t", json!({})))],
        vec![KvOp::Delete { kind: "session".into(), key: "s".into() }, KvOp::Update(e.clone())],
        vec![
            KvOp::Delete { kind: "session".into(), key: "s".into() },
            KvOp::Delete { kind: "a".into(), key: "b".into() },
        ],
    ];
    for ops in &batches {
        for bump in [false, true] {
            let r = s.kv_apply(ghost, ops, bump, KV_NOW).await;
            assert_not_found(r, &format!("kv_apply on an unknown tenant (bump {bump}): {ops:?}"));
        }
    }
    assert_eq!(s.kv_get(ghost, "session", "s", KV_NOW).await.unwrap(), None);
    assert!(s.kv_list(ghost, "session", &KvSelect::Prefix(String::new()), 10, KV_NOW).await.unwrap().is_empty());
    assert_not_found(s.tenant_version(ghost).await.map(|_| ()), "no tenant was created");
}

async fn kv_tenant_isolation(s: &dyn Store) {
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    let user = oid();
    let a = KvEntry { doc: json!("A"), ..kv_owned("refresh", "same", Some(user), Some("fam")) };
    let b = KvEntry { doc: json!("B"), ..kv_owned("refresh", "same", Some(user), Some("fam")) };
    kv_insert(s, ta, vec![a.clone(), kv_owned("session", "sa", Some(user), Some("fam"))]).await;
    kv_insert(s, tb, vec![b.clone(), kv_owned("session", "sb", Some(user), Some("fam"))]).await;
    assert_eq!(kv_get(s, ta, "refresh", "same").await, Some(a.clone()), "the same key in another tenant");
    assert_eq!(kv_get(s, tb, "refresh", "same").await, Some(b.clone()));
    assert_eq!(kv_get(s, tb, "session", "sa").await, None);

    // Versions are per tenant.
    let a2 = KvEntry { doc: json!("A2"), ..a.clone() };
    kv_apply(s, ta, vec![KvOp::Update(a2.clone())]).await.unwrap();
    let b_with_a_version = KvEntry { version: 2, doc: json!("hijack"), ..b.clone() };
    assert_eq!(kv_apply(s, tb, vec![KvOp::Update(b_with_a_version)]).await, Err(kv_conflict()));
    let b2 = KvEntry { doc: json!("B2"), ..b.clone() };
    kv_apply(s, tb, vec![KvOp::Update(b2.clone())]).await.unwrap();
    assert_eq!(kv_get(s, ta, "refresh", "same").await, Some(KvEntry { version: 2, ..a2.clone() }));
    assert_eq!(kv_get(s, tb, "refresh", "same").await, Some(KvEntry { version: 2, ..b2 }));

    // Lists stay within the tenant.
    for (t, want) in [(ta, "sa"), (tb, "sb")] {
        assert_eq!(kv_keys(s, t, "session", KvSelect::Prefix(String::new()), 10).await, vec![want.to_string()]);
        assert_eq!(kv_keys(s, t, "session", KvSelect::User(user), 10).await, vec![want.to_string()]);
        assert_eq!(kv_keys(s, t, "session", KvSelect::Family("fam".into()), 10).await, vec![want.to_string()]);
    }

    // Deletes in A never touch B, and the other way round.
    let kinds = vec!["refresh".to_string(), "session".to_string()];
    kv_apply(s, ta, vec![KvOp::DeleteByUser { kinds, user_id: user }]).await.unwrap();
    assert_eq!(kv_get(s, ta, "refresh", "same").await, None);
    assert!(kv_get(s, tb, "refresh", "same").await.is_some(), "DeleteByUser in A leaves B alone");
    assert!(kv_get(s, tb, "session", "sb").await.is_some());
    kv_insert(s, ta, vec![a.clone()]).await;
    kv_apply(s, tb, vec![KvOp::DeleteByFamily { kind: "refresh".into(), family_id: "fam".into() }]).await.unwrap();
    assert_eq!(kv_get(s, tb, "refresh", "same").await, None);
    assert_eq!(kv_get(s, ta, "refresh", "same").await, Some(a.clone()), "DeleteByFamily in B leaves A alone");
    kv_apply(s, tb, vec![KvOp::Delete { kind: "refresh".into(), key: "same".into() }]).await.unwrap();
    assert_eq!(kv_get(s, ta, "refresh", "same").await, Some(a.clone()), "Delete in B leaves A alone");
    // A live key in A does not block an insert in B.
    kv_insert(s, tb, vec![b.clone()]).await;
    assert_eq!(kv_get(s, ta, "refresh", "same").await, Some(a));
}

async fn kv_purge(s: &dyn Store) {
    // Long before every other instant the suite uses, so that the counts are exact even
    // though purging spans all tenants.
    let p0 = datetime!(1990-01-01 00:00:00 UTC);
    let at = p0 + Duration::seconds(10);
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    let sec = Duration::seconds;
    kv_insert(
        s,
        ta,
        vec![
            kv_expiring("code", "e1", p0 + sec(1)),
            kv_expiring("code", "e2", p0 + sec(2)),
            kv_expiring("session", "e3", p0 + sec(3)),
            kv_expiring("code", "e6", at), // dead at `at`
            kv_expiring("code", "live", at + Duration::nanoseconds(1)),
            kv_expiring("code", "later", p0 + Duration::days(1)),
            kv("code", "never", json!({})),
        ],
    )
    .await;
    kv_insert(s, tb, vec![kv_expiring("code", "e4", p0 + sec(1)), kv_expiring("code", "e5", p0 + sec(4))]).await;

    assert_eq!(s.kv_purge_expired(at, 0).await.unwrap(), 0, "limit 0");
    assert_eq!(s.kv_purge_expired(p0, 100).await.unwrap(), 0, "nothing expired yet");
    assert_eq!(s.kv_purge_expired(at, 4).await.unwrap(), 4, "the limit is respected");
    assert_eq!(s.kv_purge_expired(at, 100).await.unwrap(), 2, "the rest, across tenants");
    assert_eq!(s.kv_purge_expired(at, 100).await.unwrap(), 0);
    for (t, kind, key) in
        [(ta, "code", "e1"), (ta, "code", "e2"), (ta, "session", "e3"), (ta, "code", "e6"), (tb, "code", "e4")]
    {
        assert!(!kv_stored(s, t, kind, key).await, "{key} purged");
    }
    assert!(!kv_stored(s, tb, "code", "e5").await, "e5 purged");
    for key in ["live", "later", "never"] {
        assert!(s.kv_get(ta, "code", key, at).await.unwrap().is_some(), "{key} is live and kept");
    }
    // Later, the next ones go; entries without expiry never do.
    assert_eq!(s.kv_purge_expired(p0 + Duration::days(2), 100).await.unwrap(), 2);
    assert!(kv_get(s, ta, "code", "never").await.is_some());
}

async fn kv_concurrency(s: &dyn Store) {
    let t = new_tenant(s).await;
    const RACERS: usize = 16;

    // Racing compare-and-swap updates with the same expected version: exactly one wins.
    let base = kv("refresh", "r", json!({ "winner": null }));
    kv_insert(s, t, vec![base.clone()]).await;
    let updates: Vec<Vec<KvOp>> =
        (0..RACERS).map(|i| vec![KvOp::Update(KvEntry { doc: json!({ "winner": i }), ..base.clone() })]).collect();
    let results = join_all(updates.iter().map(|ops| s.kv_apply(t, ops, false, KV_NOW)).collect()).await;
    let winner = single_winner(&results, "racing updates");
    let stored = kv_get(s, t, "refresh", "r").await.unwrap();
    assert_eq!((stored.version, stored.doc), (2, json!({ "winner": winner })), "the winner's write is stored");

    // Racing inserts of one key: exactly one wins.
    let inserts: Vec<Vec<KvOp>> =
        (0..RACERS).map(|i| vec![KvOp::Insert(kv("code", "race", json!({ "winner": i })))]).collect();
    let results = join_all(inserts.iter().map(|ops| s.kv_apply(t, ops, false, KV_NOW)).collect()).await;
    let winner = single_winner(&results, "racing inserts");
    assert_eq!(kv_get(s, t, "code", "race").await, Some(kv("code", "race", json!({ "winner": winner }))));

    // Racing refresh-token rotations (CAS of the old token + insert of a new one): exactly one
    // new token exists afterwards.
    let old = KvEntry { family_id: Some("fam".into()), ..kv("refresh", "old", json!({})) };
    kv_insert(s, t, vec![old.clone()]).await;
    let v0 = s.tenant_version(t).await.unwrap();
    let rotations: Vec<Vec<KvOp>> = (0..RACERS)
        .map(|i| {
            let used = KvEntry { doc: json!({ "rotatedTo": format!("new-{i:02}") }), ..old.clone() };
            let new = KvEntry { family_id: Some("fam".into()), ..kv("refresh", &format!("new-{i:02}"), json!({})) };
            vec![KvOp::Update(used), KvOp::Insert(new)]
        })
        .collect();
    let results = join_all(rotations.iter().map(|ops| s.kv_apply(t, ops, true, KV_NOW)).collect()).await;
    let winner = single_winner(&results, "racing rotations");
    let fam = kv_keys(s, t, "refresh", KvSelect::Family("fam".into()), 100).await;
    let winner_key = format!("new-{winner:02}");
    assert_eq!(fam, sorted_keys(&[winner_key.as_str(), "old"]), "only the winner's new token exists");
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1, "only the winner bumped the version");
}

async fn kv_nul(s: &dyn Store) {
    // PostgreSQL cannot store NUL in text or jsonb; both backends refuse it the same way.
    let t = new_tenant(s).await;
    let ok = kv("code", "fine", json!({}));
    let bad_entries = [
        kv("code", "a\0b", json!({})),
        kv("co\0de", "k", json!({})),
        kv("code", "k", json!({ "s": ["x\0"] })),
        kv("code", "k", json!({ "k\0": 1 })),
        KvEntry { family_id: Some("f\0".into()), ..kv("code", "k", json!({})) },
    ];
    for bad in bad_entries {
        for op in [KvOp::Insert(bad.clone()), KvOp::Update(bad.clone())] {
            let r = kv_apply(s, t, vec![KvOp::Insert(ok.clone()), op]).await;
            assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{bad:?}: {r:?}");
        }
    }
    for op in [
        KvOp::Delete { kind: "code".into(), key: "\0".into() },
        KvOp::DeleteByUser { kinds: vec!["\0".into()], user_id: oid() },
        KvOp::DeleteByFamily { kind: "code".into(), family_id: "\0".into() },
    ] {
        let r = kv_apply(s, t, vec![op]).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{r:?}");
    }
    assert_eq!(kv_get(s, t, "code", "fine").await, None, "the whole batch was refused");
    assert_eq!(kv_get(s, t, "code", "a\0b").await, None);
    assert_eq!(kv_get(s, t, "c\0", "x").await, None);
    assert!(kv_keys(s, t, "code", KvSelect::Prefix("a\0".into()), 10).await.is_empty());
    assert!(kv_keys(s, t, "code", KvSelect::Family("\0".into()), 10).await.is_empty());
}

// --- sign-in and audit logs -------------------------------------------------------------------

/// The time base of the log checks. Purging spans all tenants, so `logs_purge` uses instants
/// long before this one (and before every other instant the suite uses).
const LOG_T0: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);

/// A record of `kind` at `time`, named `name` (in `doc.name`) for assertions.
fn log_rec(t: TenantId, kind: LogKind, time: OffsetDateTime, name: &str) -> NewLogRecord {
    let id = Uuid::new_v4();
    let (category, activity) = match kind {
        LogKind::SignIn => ("interactive", ""),
        LogKind::Audit => ("UserManagement", "Add user"),
        LogKind::Provisioning => ("ProvisioningManagement", "Create"),
    };
    NewLogRecord {
        tenant: t,
        kind,
        id,
        time,
        principal_id: None,
        principal_name: None,
        app_id: None,
        correlation_id: None,
        status: 0,
        category: category.to_string(),
        activity: activity.to_string(),
        doc: json!({
            "id": id, "name": name, "n": -7, "big": 9_007_199_254_740_993_u64, "f": 1.5,
            "nested": { "ü": "✓ 日本", "null": null, "list": [1, "x", true] },
        }),
    }
}

fn sign_in(t: TenantId, time: OffsetDateTime, name: &str) -> NewLogRecord {
    log_rec(t, LogKind::SignIn, time, name)
}

fn audit_rec(t: TenantId, name: &str) -> NewLogRecord {
    log_rec(t, LogKind::Audit, LOG_T0, name)
}

/// The record as the store returns it: `principal_name` lowercased.
fn as_stored(r: &NewLogRecord) -> NewLogRecord {
    NewLogRecord { principal_name: r.principal_name.as_ref().map(|n| n.to_lowercase()), ..r.clone() }
}

/// Owned strings in the given order (unlike `strs`, which sorts).
fn ordered(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn log_name(r: &LogRecord) -> String {
    r.record.doc["name"].as_str().unwrap_or_default().to_string()
}

fn log_names(records: &[LogRecord]) -> Vec<String> {
    records.iter().map(log_name).collect()
}

async fn append_logs(s: &dyn Store, records: &[NewLogRecord]) {
    s.append_logs(records).await.expect("append_logs");
}

async fn query_logs(s: &dyn Store, t: TenantId, q: &LogQuery) -> Vec<LogRecord> {
    let records = s.query_logs(t, q).await.unwrap_or_else(|e| panic!("query_logs {q:?}: {e:?}"));
    for r in &records {
        assert_eq!(r.record.tenant, t, "query_logs returns only the tenant's records: {q:?}");
        assert_eq!(r.record.kind, q.kind, "query_logs returns only the kind's records: {q:?}");
    }
    for pair in records.windows(2) {
        assert!(pair[0].seq > pair[1].seq, "newest first: {q:?}");
    }
    records
}

/// Names of the records `q` matches, newest first (all pages).
async fn logged(s: &dyn Store, t: TenantId, q: LogQuery) -> Vec<String> {
    log_names(&query_logs(s, t, &LogQuery { limit: 1000, ..q }).await)
}

fn log_query(kind: LogKind) -> LogQuery {
    LogQuery::new(kind)
}

/// Every record of the tenant and kind, newest first.
async fn tenant_logs(s: &dyn Store, t: TenantId, kind: LogKind) -> Vec<LogRecord> {
    query_logs(s, t, &LogQuery { limit: 1000, ..log_query(kind) }).await
}

async fn logs_append_and_query(s: &dyn Store) {
    let t = new_tenant(s).await;
    let sec = Duration::seconds;
    let alice = oid().to_string();
    let app = Uuid::new_v4().to_string();
    let records = vec![
        NewLogRecord {
            principal_id: Some(alice.clone()),
            principal_name: Some("Alice@Contoso.COM".into()),
            app_id: Some(app.clone()),
            correlation_id: Some("corr-1".into()),
            ..sign_in(t, LOG_T0, "r0")
        },
        NewLogRecord {
            principal_id: Some(alice.clone()),
            principal_name: Some("alice@contoso.com".into()),
            status: 50126,
            ..sign_in(t, LOG_T0 + sec(1), "r1")
        },
        NewLogRecord {
            principal_name: Some("bob@contoso.com".into()),
            app_id: Some(app.clone()),
            correlation_id: Some("corr-1".into()),
            category: "nonInteractive".into(),
            ..sign_in(t, LOG_T0 + sec(1) + Duration::nanoseconds(1), "r2")
        },
        NewLogRecord { status: 50126, category: "servicePrincipal".into(), ..sign_in(t, LOG_T0 + sec(2), "r3") },
        // Appended after r3 but happened before: order is by seq, not by time.
        sign_in(t, LOG_T0 - sec(1), "r4"),
    ];
    append_logs(s, &records).await;

    // Round trip: every field as appended (the name lowercased), seq in slice order.
    let all = tenant_logs(s, t, LogKind::SignIn).await;
    assert_eq!(log_names(&all), ordered(&["r4", "r3", "r2", "r1", "r0"]), "newest (highest seq) first");
    for (stored, appended) in all.iter().rev().zip(&records) {
        assert_eq!(stored.record, as_stored(appended), "round trip of {}", log_name(stored));
    }
    assert_eq!(all[1].record.principal_name, None);
    assert_eq!(all[4].record.principal_name.as_deref(), Some("alice@contoso.com"), "stored lowercased");

    let q = || log_query(LogKind::SignIn);
    // Time range: since inclusive, until exclusive, to the nanosecond.
    assert_eq!(logged(s, t, LogQuery { since: Some(LOG_T0 + sec(1)), ..q() }).await, ordered(&["r3", "r2", "r1"]));
    assert_eq!(logged(s, t, LogQuery { until: Some(LOG_T0 + sec(1)), ..q() }).await, ordered(&["r4", "r0"]));
    let just_after = LOG_T0 + sec(1) + Duration::nanoseconds(1);
    assert_eq!(logged(s, t, LogQuery { until: Some(just_after), ..q() }).await, ordered(&["r4", "r1", "r0"]));
    assert_eq!(logged(s, t, LogQuery { since: Some(just_after), ..q() }).await, ordered(&["r3", "r2"]));
    let window = LogQuery { since: Some(LOG_T0), until: Some(LOG_T0 + sec(2)), ..q() };
    assert_eq!(logged(s, t, window).await, ordered(&["r2", "r1", "r0"]));
    let empty = LogQuery { since: Some(LOG_T0 + sec(2)), until: Some(LOG_T0 + sec(2)), ..q() };
    assert!(logged(s, t, empty).await.is_empty(), "an empty range");
    // Principal id; principal name in any case.
    assert_eq!(logged(s, t, LogQuery { principal_id: Some(alice.clone()), ..q() }).await, ordered(&["r1", "r0"]));
    for name in ["alice@contoso.com", "ALICE@CONTOSO.COM", "Alice@contoso.Com"] {
        let got = logged(s, t, LogQuery { principal_name: Some(name.into()), ..q() }).await;
        assert_eq!(got, ordered(&["r1", "r0"]), "principal name {name}");
    }
    assert!(logged(s, t, LogQuery { principal_name: Some("alice".into()), ..q() }).await.is_empty(), "no prefix");
    // App, correlation id, category.
    assert_eq!(logged(s, t, LogQuery { app_id: Some(app.clone()), ..q() }).await, ordered(&["r2", "r0"]));
    assert_eq!(logged(s, t, LogQuery { correlation_id: Some("corr-1".into()), ..q() }).await, ordered(&["r2", "r0"]));
    assert!(logged(s, t, LogQuery { correlation_id: Some("CORR-1".into()), ..q() }).await.is_empty());
    assert_eq!(logged(s, t, LogQuery { category: Some("nonInteractive".into()), ..q() }).await, ordered(&["r2"]));
    assert_eq!(
        logged(s, t, LogQuery { category: Some("interactive".into()), ..q() }).await,
        ordered(&["r4", "r1", "r0"])
    );
    // Status.
    let status = |m| LogQuery { status: Some(m), ..q() };
    assert_eq!(logged(s, t, status(StatusMatch::Eq(0))).await, ordered(&["r4", "r2", "r0"]));
    assert_eq!(logged(s, t, status(StatusMatch::Ne(0))).await, ordered(&["r3", "r1"]));
    assert_eq!(logged(s, t, status(StatusMatch::Eq(50126))).await, ordered(&["r3", "r1"]));
    assert_eq!(logged(s, t, status(StatusMatch::Ne(50126))).await, ordered(&["r4", "r2", "r0"]));
    assert!(logged(s, t, status(StatusMatch::Eq(1))).await.is_empty());
    // A conjunction.
    let failed_alice =
        LogQuery { principal_name: Some("ALICE@contoso.com".into()), status: Some(StatusMatch::Ne(0)), ..q() };
    assert_eq!(logged(s, t, failed_alice).await, ordered(&["r1"]));
    let none = LogQuery { app_id: Some(app.clone()), category: Some("servicePrincipal".into()), ..q() };
    assert!(logged(s, t, none).await.is_empty(), "both criteria must hold");
    // Kinds are separate; activity applies to audits.
    assert!(tenant_logs(s, t, LogKind::Audit).await.is_empty(), "no audits yet");
    let audits = vec![
        audit_rec(t, "a0"),
        NewLogRecord { activity: "Delete user".into(), status: 1, ..audit_rec(t, "a1") },
        NewLogRecord {
            category: "GroupManagement".into(),
            activity: "Add member to group".into(),
            ..audit_rec(t, "a2")
        },
    ];
    append_logs(s, &audits).await;
    let aq = || log_query(LogKind::Audit);
    assert_eq!(logged(s, t, aq()).await, ordered(&["a2", "a1", "a0"]));
    assert_eq!(logged(s, t, LogQuery { activity: Some("Delete user".into()), ..aq() }).await, ordered(&["a1"]));
    assert!(logged(s, t, LogQuery { activity: Some("delete user".into()), ..aq() }).await.is_empty());
    assert_eq!(
        logged(s, t, LogQuery { category: Some("UserManagement".into()), ..aq() }).await,
        ordered(&["a1", "a0"])
    );
    assert_eq!(logged(s, t, LogQuery { status: Some(StatusMatch::Eq(1)), ..aq() }).await, ordered(&["a1"]));
    assert_eq!(logged(s, t, q()).await.len(), 5, "sign-in queries never return audits");
    assert!(logged(s, t, LogQuery { activity: Some("Add user".into()), ..q() }).await.is_empty());
}

async fn logs_paging_and_limits(s: &dyn Store) {
    let t = new_tenant(s).await;
    let batch: Vec<NewLogRecord> =
        (0..7).map(|i| sign_in(t, LOG_T0 + Duration::seconds(i), &format!("p{i}"))).collect();
    append_logs(s, &batch).await;
    let all = tenant_logs(s, t, LogKind::SignIn).await;
    assert_eq!(log_names(&all), ordered(&["p6", "p5", "p4", "p3", "p2", "p1", "p0"]));

    // Keyset paging: before_seq = the last seq of the previous page.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = query_logs(s, t, &LogQuery { before_seq: before, limit: 3, ..log_query(LogKind::SignIn) }).await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3, "limit respected");
        before = page.last().map(|r| r.seq);
        pages.push(log_names(&page));
        assert!(pages.len() <= 3, "paging terminates");
    }
    assert_eq!(pages, vec![ordered(&["p6", "p5", "p4"]), ordered(&["p3", "p2", "p1"]), ordered(&["p0"])]);
    let below_oldest = LogQuery { before_seq: Some(all[6].seq), ..log_query(LogKind::SignIn) };
    assert!(query_logs(s, t, &below_oldest).await.is_empty());
    let below_p3 = LogQuery { before_seq: Some(all[3].seq), ..log_query(LogKind::SignIn) };
    assert_eq!(log_names(&query_logs(s, t, &below_p3).await), ordered(&["p2", "p1", "p0"]), "strictly below");
    // Paging composes with criteria.
    let since = LogQuery {
        since: Some(LOG_T0 + Duration::seconds(2)),
        before_seq: Some(all[1].seq),
        limit: 2,
        ..log_query(LogKind::SignIn)
    };
    assert_eq!(log_names(&query_logs(s, t, &since).await), ordered(&["p4", "p3"]));

    // limit is clamped to 1..=1000.
    let zero = LogQuery { limit: 0, ..log_query(LogKind::SignIn) };
    assert_eq!(log_names(&query_logs(s, t, &zero).await), ordered(&["p6"]), "limit 0 counts as 1");
    let one = LogQuery { limit: 1, ..log_query(LogKind::SignIn) };
    assert_eq!(query_logs(s, t, &one).await.len(), 1);
    // A batch larger than any single statement could bind, in one call.
    let bulk_tenant = new_tenant(s).await;
    let bulk: Vec<NewLogRecord> =
        (0..1003).map(|i| sign_in(bulk_tenant, LOG_T0 + Duration::milliseconds(i), &format!("b{i}"))).collect();
    append_logs(s, &bulk).await;
    let huge = LogQuery { limit: 5000, ..log_query(LogKind::SignIn) };
    let first = query_logs(s, bulk_tenant, &huge).await;
    assert_eq!(first.len(), 1000, "limit clamped to 1000");
    assert_eq!(log_name(&first[0]), "b1002");
    let rest = query_logs(s, bulk_tenant, &LogQuery { before_seq: first.last().map(|r| r.seq), ..huge.clone() }).await;
    assert_eq!(log_names(&rest), ordered(&["b2", "b1", "b0"]));
    let mut seqs: Vec<i64> = first.iter().chain(&rest).map(|r| r.seq).collect();
    seqs.reverse();
    for (i, pair) in seqs.windows(2).enumerate() {
        assert!(pair[0] < pair[1], "seqs follow slice order at {i}");
    }
    let stored: Vec<NewLogRecord> = first.iter().chain(&rest).rev().map(|r| r.record.clone()).collect();
    assert_eq!(stored, bulk, "every record of the batch round-trips, in order");
}

async fn logs_tenant_isolation(s: &dyn Store) {
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    let same = |t: TenantId, name: &str| NewLogRecord {
        principal_id: Some("p".into()),
        principal_name: Some("same@x.test".into()),
        app_id: Some("app".into()),
        correlation_id: Some("c".into()),
        ..sign_in(t, LOG_T0, name)
    };
    append_logs(s, &[same(ta, "a1"), same(tb, "b1"), same(ta, "a2")]).await;
    append_logs(s, &[audit_rec(ta, "a-audit")]).await;
    let a_seq_max = tenant_logs(s, ta, LogKind::SignIn).await[0].seq;
    assert_eq!(logged(s, ta, log_query(LogKind::SignIn)).await, ordered(&["a2", "a1"]));
    assert_eq!(logged(s, tb, log_query(LogKind::SignIn)).await, ordered(&["b1"]));
    let every = LogQuery {
        principal_id: Some("p".into()),
        principal_name: Some("same@x.test".into()),
        app_id: Some("app".into()),
        correlation_id: Some("c".into()),
        since: Some(LOG_T0),
        until: Some(LOG_T0 + Duration::seconds(1)),
        status: Some(StatusMatch::Eq(0)),
        category: Some("interactive".into()),
        activity: Some(String::new()),
        before_seq: Some(a_seq_max + 1),
        limit: 1000,
        ..log_query(LogKind::SignIn)
    };
    assert_eq!(logged(s, tb, every.clone()).await, ordered(&["b1"]), "B never sees A's records");
    assert_eq!(logged(s, ta, every).await, ordered(&["a2", "a1"]));
    assert!(tenant_logs(s, tb, LogKind::Audit).await.is_empty(), "nor A's audits");
    // By id: found in its tenant and kind only.
    let a1 = tenant_logs(s, ta, LogKind::SignIn).await.into_iter().find(|r| log_name(r) == "a1").expect("a1");
    let by_id = |kind: LogKind| LogQuery { id: Some(a1.record.id), ..log_query(kind) };
    assert_eq!(logged(s, ta, by_id(LogKind::SignIn)).await, ordered(&["a1"]));
    assert!(logged(s, tb, by_id(LogKind::SignIn)).await.is_empty(), "B cannot fetch A's record by id");
    assert!(logged(s, ta, by_id(LogKind::Audit)).await.is_empty(), "ids are per kind");
    let missing = LogQuery { id: Some(Uuid::new_v4()), ..log_query(LogKind::SignIn) };
    assert!(logged(s, ta, missing).await.is_empty());
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    assert!(tenant_logs(s, ghost, LogKind::SignIn).await.is_empty(), "an unknown tenant has no records");
}

async fn logs_feed(s: &dyn Store) {
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    let start = s.last_log_seq().await.unwrap();
    assert!(start >= 0);
    assert!(s.logs_after(start, 100).await.unwrap().is_empty(), "nothing after the last seq");
    let first = [sign_in(ta, LOG_T0, "f1"), audit_rec(tb, "f2"), sign_in(ta, LOG_T0 - Duration::days(1), "f3")];
    append_logs(s, &first).await;
    let second = [sign_in(tb, LOG_T0, "f4")];
    append_logs(s, &second).await;
    let third = [audit_rec(ta, "f5"), audit_rec(ta, "f6")];
    append_logs(s, &third).await;

    let feed = s.logs_after(start, 100).await.unwrap();
    assert_eq!(log_names(&feed), ordered(&["f1", "f2", "f3", "f4", "f5", "f6"]), "ascending, across tenants and kinds");
    let expected: Vec<NewLogRecord> = first.iter().chain(&second).chain(&third).cloned().collect();
    assert_eq!(feed.iter().map(|r| r.record.clone()).collect::<Vec<_>>(), expected);
    assert!(feed[0].seq > start);
    for pair in feed.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "strictly increasing");
    }
    assert_eq!(s.last_log_seq().await.unwrap(), feed[5].seq, "last_log_seq is the highest assigned");

    // The limit, and resuming from a cursor.
    assert!(s.logs_after(start, 0).await.unwrap().is_empty(), "limit 0");
    let page = s.logs_after(start, 4).await.unwrap();
    assert_eq!(log_names(&page), ordered(&["f1", "f2", "f3", "f4"]));
    let next = s.logs_after(page[3].seq, 4).await.unwrap();
    assert_eq!(log_names(&next), ordered(&["f5", "f6"]));
    assert_eq!(log_names(&s.logs_after(feed[2].seq - 1, 2).await.unwrap()), ordered(&["f3", "f4"]));
    assert!(s.logs_after(feed[5].seq, 10_000).await.unwrap().is_empty());
    assert!(s.logs_after(i64::MAX, 10).await.unwrap().is_empty());

    // Every record is also what query_logs returns, with the same seq.
    let a_signins = tenant_logs(s, ta, LogKind::SignIn).await;
    assert_eq!(a_signins.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![feed[2].seq, feed[0].seq]);
}

async fn logs_purge(s: &dyn Store) {
    // Long before every other instant of the suite, so that the counts are exact even though
    // purging spans all tenants.
    let p0 = datetime!(1975-01-01 00:00:00 UTC);
    let sec = Duration::seconds;
    let cut = p0 + sec(10);
    let ta = new_tenant(s).await;
    let tb = new_tenant(s).await;
    append_logs(
        s,
        &[
            sign_in(ta, p0 + sec(1), "old1"),
            sign_in(ta, p0 + sec(2), "old2"),
            sign_in(tb, p0 + sec(1), "old3"),
            sign_in(ta, cut - Duration::nanoseconds(1), "old4"),
            sign_in(ta, cut, "at-cut"), // time == before: kept
            sign_in(tb, p0 + Duration::days(1), "later"),
            log_rec(ta, LogKind::Audit, p0 + sec(1), "old-audit"),
        ],
    )
    .await;
    let last_before_purge = s.last_log_seq().await.unwrap();

    assert_eq!(s.purge_logs(LogKind::SignIn, cut, 0).await.unwrap(), 0, "limit 0");
    assert_eq!(s.purge_logs(LogKind::SignIn, p0, 100).await.unwrap(), 0, "nothing older yet");
    assert_eq!(s.purge_logs(LogKind::SignIn, cut, 3).await.unwrap(), 3, "the limit is respected");
    assert_eq!(s.purge_logs(LogKind::SignIn, cut, 100).await.unwrap(), 1, "the rest, across tenants");
    assert_eq!(s.purge_logs(LogKind::SignIn, cut, 100).await.unwrap(), 0);
    assert_eq!(logged(s, ta, log_query(LogKind::SignIn)).await, ordered(&["at-cut"]));
    assert_eq!(logged(s, tb, log_query(LogKind::SignIn)).await, ordered(&["later"]));
    assert_eq!(logged(s, ta, log_query(LogKind::Audit)).await, ordered(&["old-audit"]), "other kinds are kept");
    assert_eq!(s.last_log_seq().await.unwrap(), last_before_purge, "purging does not lower last_log_seq");

    // Purge everything of this check: the sequence still never goes back.
    let end = p0 + Duration::days(2);
    assert_eq!(s.purge_logs(LogKind::SignIn, end, 100).await.unwrap(), 2);
    assert_eq!(s.purge_logs(LogKind::Audit, end, 100).await.unwrap(), 1);
    assert!(tenant_logs(s, ta, LogKind::Audit).await.is_empty());
    assert_eq!(s.last_log_seq().await.unwrap(), last_before_purge);
    append_logs(s, &[sign_in(ta, p0, "after-purge")]).await;
    let fresh = tenant_logs(s, ta, LogKind::SignIn).await;
    assert_eq!(log_names(&fresh), ordered(&["after-purge"]));
    assert!(fresh[0].seq > last_before_purge, "a purged seq is never reused");
    assert_eq!(s.last_log_seq().await.unwrap(), fresh[0].seq);
    assert_eq!(s.purge_logs(LogKind::SignIn, end, 100).await.unwrap(), 1);
}

/// Provisioning records (`provisioningObjectSummary`) are a log kind of their own: appended,
/// queried, fed to exporters and purged like the others, never mixed with them.
async fn logs_provisioning(s: &dyn Store) {
    let t = new_tenant(s).await;
    let start = s.last_log_seq().await.unwrap();
    let p0 = datetime!(1976-01-01 00:00:00 UTC);
    let records = [
        log_rec(t, LogKind::Provisioning, p0, "prov-old"),
        sign_in(t, LOG_T0, "si"),
        NewLogRecord {
            principal_id: Some("ext-1".into()),
            correlation_id: Some("cycle-1".into()),
            status: 1,
            ..log_rec(t, LogKind::Provisioning, LOG_T0, "prov-new")
        },
        audit_rec(t, "au"),
    ];
    append_logs(s, &records).await;
    assert_eq!(logged(s, t, log_query(LogKind::Provisioning)).await, ordered(&["prov-new", "prov-old"]));
    assert_eq!(logged(s, t, log_query(LogKind::SignIn)).await, ordered(&["si"]));
    assert_eq!(logged(s, t, log_query(LogKind::Audit)).await, ordered(&["au"]));
    let q = LogQuery { correlation_id: Some("cycle-1".into()), ..log_query(LogKind::Provisioning) };
    assert_eq!(logged(s, t, q).await, ordered(&["prov-new"]));
    let q = LogQuery { status: Some(StatusMatch::Ne(0)), ..log_query(LogKind::Provisioning) };
    assert_eq!(logged(s, t, q).await, ordered(&["prov-new"]));
    let q = LogQuery { since: Some(LOG_T0), ..log_query(LogKind::Provisioning) };
    assert_eq!(logged(s, t, q).await, ordered(&["prov-new"]));

    let feed: Vec<LogRecord> =
        s.logs_after(start, 10_000).await.unwrap().into_iter().filter(|r| r.record.tenant == t).collect();
    assert_eq!(feed.iter().map(|r| r.record.clone()).collect::<Vec<_>>(), records.to_vec(), "fed as appended");

    let end = p0 + Duration::days(1);
    assert_eq!(s.purge_logs(LogKind::Provisioning, end, 100).await.unwrap(), 1);
    assert_eq!(logged(s, t, log_query(LogKind::Provisioning)).await, ordered(&["prov-new"]));
    assert_eq!(logged(s, t, log_query(LogKind::SignIn)).await, ordered(&["si"]), "other kinds are kept");
}

async fn logs_export_cursors(s: &dyn Store) {
    let sink = format!("splunk-{}", Uuid::new_v4().simple());
    let other = format!("sentinel-{}", Uuid::new_v4().simple());
    assert_eq!(s.export_cursor(&sink).await.unwrap(), None, "no cursor yet");
    s.set_export_cursor(&sink, 5).await.unwrap();
    assert_eq!(s.export_cursor(&sink).await.unwrap(), Some(5));
    assert_eq!(s.export_cursor(&other).await.unwrap(), None, "cursors are per sink");
    s.set_export_cursor(&sink, 42).await.unwrap();
    assert_eq!(s.export_cursor(&sink).await.unwrap(), Some(42), "overwritten");
    s.set_export_cursor(&other, 7).await.unwrap();
    s.set_export_cursor(&sink, 3).await.unwrap();
    assert_eq!(s.export_cursor(&sink).await.unwrap(), Some(3), "set replaces, even with a lower value");
    assert_eq!(s.export_cursor(&other).await.unwrap(), Some(7));
    let upper = sink.to_uppercase();
    assert_eq!(s.export_cursor(&upper).await.unwrap(), None, "sink names are exact");
}

async fn logs_commit_atomicity(s: &dyn Store) {
    let t = new_tenant(s).await;
    let v0 = s.tenant_version(t).await.unwrap();
    let alice = user("alice@audit.test", "Alice");
    let ok = ChangeSet {
        changes: vec![Change::CreateObject(u(&alice))],
        audit: vec![audit_rec(t, "created"), NewLogRecord { activity: "Update user".into(), ..audit_rec(t, "named") }],
    };
    s.commit(t, &ok).await.expect("commit with audit");
    assert_eq!(s.get_object(t, alice.id).await.unwrap(), Some(u(&alice)));
    let stored = tenant_logs(s, t, LogKind::Audit).await;
    assert_eq!(log_names(&stored), ordered(&["named", "created"]), "exactly the commit's records");
    assert_eq!(stored[1].record, ok.audit[0]);
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1);

    // The change fails (duplicate id): no record.
    let dup = ChangeSet { changes: vec![Change::CreateObject(u(&alice))], audit: vec![audit_rec(t, "dup")] };
    assert_eq!(s.commit(t, &dup).await, Err(conflict("id")));
    // The last of several changes fails: neither the changes nor the records stay.
    let bob = user("bob@audit.test", "Bob");
    let late_failure = ChangeSet {
        changes: vec![Change::CreateObject(u(&bob)), Change::DeleteObject(oid())],
        audit: vec![audit_rec(t, "bob"), audit_rec(t, "ghost")],
    };
    assert_not_found(s.commit(t, &late_failure).await, "delete of a missing object");
    assert_eq!(s.get_object(t, bob.id).await.unwrap(), None);
    // A record of another tenant cannot ride along: refused, and the change is not applied.
    let other = new_tenant(s).await;
    let foreign = ChangeSet { changes: vec![Change::CreateObject(u(&bob))], audit: vec![audit_rec(other, "foreign")] };
    let r = s.commit(t, &foreign).await;
    assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "a record of another tenant: {r:?}");
    assert_eq!(s.get_object(t, bob.id).await.unwrap(), None, "nothing applied");
    assert!(tenant_logs(s, other, LogKind::Audit).await.is_empty());
    // A record the store cannot hold (NUL) refuses the whole commit.
    let nul = ChangeSet {
        changes: vec![Change::CreateObject(u(&bob))],
        audit: vec![NewLogRecord { activity: "a\0b".into(), ..audit_rec(t, "nul") }],
    };
    let r = s.commit(t, &nul).await;
    assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "NUL: {r:?}");
    assert_eq!(s.get_object(t, bob.id).await.unwrap(), None, "nothing applied");
    assert_eq!(log_names(&tenant_logs(s, t, LogKind::Audit).await), ordered(&["named", "created"]), "no new records");
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1, "failed commits do not bump");

    // A commit of records only (no change) is fine; a commit on an unknown tenant is not.
    let only = ChangeSet { changes: Vec::new(), audit: vec![audit_rec(t, "only")] };
    s.commit(t, &only).await.unwrap();
    assert_eq!(logged(s, t, log_query(LogKind::Audit)).await, ordered(&["only", "named", "created"]));
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    let r = s.commit(ghost, &ChangeSet { changes: Vec::new(), audit: vec![audit_rec(ghost, "ghost")] }).await;
    assert_not_found(r, "commit with audit on an unknown tenant");
    assert!(tenant_logs(s, ghost, LogKind::Audit).await.is_empty());

    // create_tenant appends the initial set's records with the tenant.
    let fresh = tenant_value();
    let admin = user("admin@fresh.test", "Admin");
    let initial =
        ChangeSet { changes: vec![Change::CreateObject(u(&admin))], audit: vec![audit_rec(fresh.id, "init")] };
    s.create_tenant(&fresh, &initial, &[]).await.unwrap();
    assert_eq!(logged(s, fresh.id, log_query(LogKind::Audit)).await, ordered(&["init"]));
    // A failing initial set leaves neither tenant nor record.
    let broken = tenant_value();
    let bad = ChangeSet {
        changes: vec![Change::CreateObject(u(&admin)), Change::CreateObject(u(&admin))],
        audit: vec![audit_rec(broken.id, "broken")],
    };
    assert_eq!(s.create_tenant(&broken, &bad, &[]).await, Err(conflict("id")));
    assert_eq!(s.get_tenant(broken.id).await.unwrap(), None);
    assert!(tenant_logs(s, broken.id, LogKind::Audit).await.is_empty());
}

async fn logs_kv_atomicity(s: &dyn Store) {
    let t = new_tenant(s).await;
    let settings = kv("settings", "tenant", json!({ "mfa": true }));
    let append = |name: &str| KvOp::AppendLog(Box::new(audit_rec(t, name)));
    let audits = || async { logged(s, t, log_query(LogKind::Audit)).await };

    kv_apply(s, t, vec![KvOp::Insert(settings.clone()), append("k1")]).await.expect("insert with its record");
    assert_eq!(kv_get(s, t, "settings", "tenant").await, Some(settings.clone()));
    assert_eq!(audits().await, ordered(&["k1"]));

    // A failing precondition after the record: no record.
    let r = kv_apply(s, t, vec![append("k2"), KvOp::Insert(settings.clone())]).await;
    assert_eq!(r, Err(kv_conflict()), "insert of a live key");
    // ... before the record.
    let stale = KvEntry { version: 7, ..settings.clone() };
    let r = kv_apply(s, t, vec![KvOp::Update(stale), append("k3")]).await;
    assert_eq!(r, Err(kv_conflict()), "stale update");
    assert_eq!(audits().await, ordered(&["k1"]), "failed batches leave no record");

    // Records alone, several records, with the version bump.
    kv_apply(s, t, vec![append("k4")]).await.expect("a record alone");
    let v0 = s.tenant_version(t).await.unwrap();
    let updated = KvEntry { doc: json!({ "mfa": false }), ..settings.clone() };
    let ops = [append("k5"), KvOp::Update(updated.clone()), append("k6")];
    s.kv_apply(t, &ops, true, KV_NOW).await.expect("update with records and bump");
    assert_eq!(s.tenant_version(t).await.unwrap(), v0 + 1);
    assert_eq!(kv_get(s, t, "settings", "tenant").await.map(|e| e.doc), Some(updated.doc));
    assert_eq!(audits().await, ordered(&["k6", "k5", "k4", "k1"]), "the batch's records, in op order");

    // A record of another tenant is refused, with the whole batch.
    let other = new_tenant(s).await;
    let foreign = KvOp::AppendLog(Box::new(audit_rec(other, "foreign")));
    let r = kv_apply(s, t, vec![KvOp::Insert(kv("grant", "g", json!({}))), foreign]).await;
    assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "a record of another tenant: {r:?}");
    assert_eq!(kv_get(s, t, "grant", "g").await, None, "nothing applied");
    assert!(tenant_logs(s, other, LogKind::Audit).await.is_empty());
    // So is a record the store cannot hold.
    let nul = KvOp::AppendLog(Box::new(NewLogRecord { doc: json!({ "x": "\0" }), ..audit_rec(t, "nul") }));
    let r = kv_apply(s, t, vec![KvOp::Insert(kv("grant", "g", json!({}))), nul]).await;
    assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "NUL: {r:?}");
    assert_eq!(kv_get(s, t, "grant", "g").await, None, "nothing applied");
    // An unknown tenant is NotFound, record or not.
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    for bump in [false, true] {
        let ops = [KvOp::AppendLog(Box::new(audit_rec(ghost, "ghost")))];
        assert_not_found(s.kv_apply(ghost, &ops, bump, KV_NOW).await, "AppendLog on an unknown tenant");
    }
    assert!(tenant_logs(s, ghost, LogKind::Audit).await.is_empty());
    assert_eq!(audits().await, ordered(&["k6", "k5", "k4", "k1"]));
}

async fn logs_validation(s: &dyn Store) {
    let t = new_tenant(s).await;
    let before = s.last_log_seq().await.unwrap();
    s.append_logs(&[]).await.expect("an empty batch");
    assert_eq!(s.last_log_seq().await.unwrap(), before, "an empty batch takes no seq");

    // One record of an unknown tenant refuses the whole batch.
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    let r = s.append_logs(&[sign_in(t, LOG_T0, "v1"), sign_in(ghost, LOG_T0, "v2"), sign_in(t, LOG_T0, "v3")]).await;
    assert_not_found(r, "append for an unknown tenant");
    assert!(tenant_logs(s, t, LogKind::SignIn).await.is_empty(), "nothing of the batch was appended");

    // NUL anywhere is refused the same way on every backend.
    let bad = [
        NewLogRecord { principal_id: Some("a\0".into()), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { principal_name: Some("a\0".into()), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { app_id: Some("a\0".into()), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { correlation_id: Some("a\0".into()), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { category: "a\0".into(), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { activity: "a\0".into(), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { doc: json!({ "list": ["\0"] }), ..sign_in(t, LOG_T0, "n") },
        NewLogRecord { doc: json!({ "k\0": 1 }), ..sign_in(t, LOG_T0, "n") },
    ];
    for record in bad {
        let r = s.append_logs(&[sign_in(t, LOG_T0, "fine"), record.clone()]).await;
        assert!(matches!(r, Err(StoreError::InvalidQuery(_))), "{record:?}: {r:?}");
    }
    assert!(tenant_logs(s, t, LogKind::SignIn).await.is_empty(), "nothing was appended");
    let nul_queries = [
        LogQuery { principal_id: Some("\0".into()), ..log_query(LogKind::SignIn) },
        LogQuery { principal_name: Some("\0".into()), ..log_query(LogKind::SignIn) },
        LogQuery { activity: Some("x\0".into()), ..log_query(LogKind::Audit) },
    ];
    for q in nul_queries {
        assert!(s.query_logs(t, &q).await.unwrap().is_empty(), "{q:?}");
    }
    assert_eq!(s.export_cursor("a\0").await.unwrap(), None);
    assert!(matches!(s.set_export_cursor("a\0", 1).await, Err(StoreError::InvalidQuery(_))));
}

/// Concurrent appenders (plain batches, commits with audits, kv batches with records) and an
/// exporter following `logs_after` while they run: every record is delivered exactly once, in
/// strictly increasing seq, and each appender's records in its own order.
async fn logs_concurrency(s: &dyn Store) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WRITERS: usize = 8;
    const APPENDS: usize = 50;
    let t = new_tenant(s).await;
    let start = s.last_log_seq().await.unwrap();
    let finished = AtomicUsize::new(0);

    let writer = |w: usize| {
        let finished = &finished;
        async move {
            for i in 0..APPENDS {
                let name = |k: usize| format!("w{w}-{i:02}-{k}");
                match (w + i) % 5 {
                    // A batch of 1..=3 records.
                    0..=2 => {
                        let batch: Vec<NewLogRecord> = (0..1 + (i % 3)).map(|k| sign_in(t, LOG_T0, &name(k))).collect();
                        s.append_logs(&batch).await.expect("concurrent append");
                    }
                    3 => {
                        let cs = ChangeSet { changes: Vec::new(), audit: vec![audit_rec(t, &name(0))] };
                        s.commit(t, &cs).await.expect("concurrent commit with audit");
                    }
                    _ => {
                        let ops = [KvOp::AppendLog(Box::new(audit_rec(t, &name(0))))];
                        s.kv_apply(t, &ops, w.is_multiple_of(2), KV_NOW).await.expect("concurrent kv record");
                    }
                }
            }
            finished.fetch_add(1, Ordering::SeqCst);
            Vec::new()
        }
    };
    // The exporter: follows the feed with a small page until every writer is done and the
    // feed is drained.
    let exporter = async {
        let mut cursor = start;
        let mut seen: Vec<LogRecord> = Vec::new();
        loop {
            let done = finished.load(Ordering::SeqCst) == WRITERS;
            let page = s.logs_after(cursor, 7).await.expect("logs_after while appending");
            if let Some(last) = page.last() {
                cursor = last.seq;
            }
            let drained = page.is_empty();
            seen.extend(page);
            if done && drained {
                break;
            }
        }
        seen
    };
    type Task<'a> = Pin<Box<dyn Future<Output = Vec<LogRecord>> + Send + 'a>>;
    let mut tasks: Vec<Task<'_>> = (0..WRITERS).map(|w| Box::pin(writer(w)) as Task<'_>).collect();
    tasks.push(Box::pin(exporter));
    let seen = join_all(tasks).await.pop().expect("the exporter's output");

    // What the store holds afterwards.
    let mut all = Vec::new();
    let mut cursor = start;
    loop {
        let page = s.logs_after(cursor, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        all.extend(page);
    }
    let expected: usize =
        (0..WRITERS).map(|w| (0..APPENDS).map(|i| if (w + i) % 5 <= 2 { 1 + (i % 3) } else { 1 }).sum::<usize>()).sum();
    assert_eq!(all.len(), expected, "every record stored once");
    for pair in all.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "strictly increasing seq");
    }
    assert!(all.iter().all(|r| r.record.tenant == t));
    let names: BTreeSet<String> = all.iter().map(log_name).collect();
    assert_eq!(names.len(), expected, "no duplicates");
    assert_eq!(s.last_log_seq().await.unwrap(), all.last().map_or(start, |r| r.seq));
    // Each writer's records appear in the order it appended them.
    for w in 0..WRITERS {
        let prefix = format!("w{w}-");
        let mine: Vec<String> = all.iter().map(log_name).filter(|n| n.starts_with(&prefix)).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "writer {w}'s records in append order");
    }
    // The exporter that followed the feed while the writers ran saw exactly the same: a
    // record that became visible after a record with a higher seq would have been skipped.
    let seen: Vec<i64> = seen.iter().map(|r| r.seq).collect();
    let stored: Vec<i64> = all.iter().map(|r| r.seq).collect();
    if seen != stored {
        let delivered: BTreeSet<i64> = seen.iter().copied().collect();
        let skipped: Vec<i64> = stored.iter().copied().filter(|s| !delivered.contains(s)).take(10).collect();
        panic!(
            "an exporter following the feed must never skip or repeat a record (sequence order must be \
             commit order): delivered {} of {} records ({} distinct), first skipped seqs: {skipped:?}",
            seen.len(),
            stored.len(),
            delivered.len()
        );
    }
}
