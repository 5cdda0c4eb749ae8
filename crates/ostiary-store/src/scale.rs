//! Fixtures of the backends' SCIM scale checks (feature `conformance`): realistic user
//! documents in bulk, and the SCIM-shaped list queries (as the core translates SCIM filters
//! into the filter IR) with their expected results and the plan properties they must keep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::filter::{self, FieldType};
use crate::{Change, ChangeSet, ListQuery, Page, SortKey, Store};
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind, TenantId, User};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// `createdDateTime` of user 0; user `i` is created `i` seconds later and last modified
/// `i` seconds after that.
pub const BASE: OffsetDateTime = datetime!(2024-01-01 00:00:00 UTC);

const GIVEN: [&str; 50] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
];
const SURNAMES: [&str; 40] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];
const DEPARTMENTS: [&str; 8] = ["Sales", "Engineering", "Finance", "Marketing", "Support", "Legal", "HR", "Operations"];

/// User number `i` of a scale tenant (about 700 bytes of JSON): unique UPN, mail and
/// `externalId`; 2,000 distinct display names; every tenth account disabled.
pub fn user(i: usize) -> User {
    let given = GIVEN[i % GIVEN.len()];
    let surname = SURNAMES[(i / GIVEN.len()) % SURNAMES.len()];
    let secs = i64::try_from(i).unwrap();
    User {
        id: ObjectId::from_uuid(uuid::Uuid::new_v4()),
        account_enabled: !i.is_multiple_of(10),
        display_name: format!("{given} {surname}"),
        user_principal_name: format!("user{i:07}@scale.example"),
        mail_nickname: format!("user{i:07}"),
        given_name: Some(given.to_string()),
        surname: Some(surname.to_string()),
        mail: Some(format!("{}.{}{i}@contoso.example", given.to_lowercase(), surname.to_lowercase())),
        job_title: Some("Analyst".into()),
        department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].to_string()),
        office_location: None,
        company_name: Some("Contoso".into()),
        employee_id: Some(format!("{i:07}")),
        mobile_phone: None,
        business_phones: vec![format!("+1 555 {:04}", i % 10_000)],
        city: Some("Seattle".into()),
        state: None,
        country: Some("US".into()),
        street_address: None,
        postal_code: None,
        usage_location: Some("US".into()),
        preferred_language: Some("en-US".into()),
        user_type: "Member".to_string(),
        other_mails: Vec::new(),
        created_date_time: BASE + Duration::seconds(secs),
        password_hash: None,
        force_change_password_next_sign_in: false,
        last_password_change_date_time: None,
        external_id: Some(format!("E{i:07}")),
        last_modified_date_time: Some(BASE + Duration::seconds(2 * secs)),
        ostiary_scim: None,
    }
}

/// Creates users `0..n` in `tenant` with commits of `batch` objects; returns them in order.
pub async fn load(s: &dyn Store, tenant: TenantId, n: usize, batch: usize) -> Vec<User> {
    let users: Vec<User> = (0..n).map(user).collect();
    for chunk in users.chunks(batch) {
        let changes = chunk.iter().map(|u| Change::CreateObject(DirectoryObject::User(u.clone()))).collect();
        s.commit(tenant, &ChangeSet { changes, audit: Vec::new() }).await.expect("load users");
    }
    users
}

/// One list query of the scale checks.
pub struct ScaleQuery {
    pub name: &'static str,
    pub query: ListQuery,
    /// The ids of the page, in order.
    pub want: Vec<ObjectId>,
    /// With `query.count`: the total.
    pub want_count: Option<u64>,
    /// The plan must use at least one of these indexes.
    pub indexes: &'static [&'static str],
    /// The index must deliver the requested order (no sort step).
    pub index_ordered: bool,
}

impl ScaleQuery {
    /// Panics unless `page` is the expected result.
    pub fn check(&self, page: &Page<DirectoryObject>) {
        let got: Vec<ObjectId> = page.items.iter().map(DirectoryObject::id).collect();
        assert_eq!(got.len(), self.want.len(), "{}: number of results", self.name);
        assert!(got == self.want, "{}: wrong results", self.name);
        assert_eq!(page.count, self.want_count, "{}: count", self.name);
    }
}

fn flt(src: &str) -> filter::Filter {
    let expr = ostiary_odata::parse_filter(src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    filter::compile(&expr, Some(ObjectKind::User)).unwrap_or_else(|e| panic!("compile {src:?}: {e}"))
}

/// The ids of `users` matching `pred`, in id order.
fn ids_where(users: &[User], pred: impl Fn(&User) -> bool) -> Vec<ObjectId> {
    let mut ids: Vec<ObjectId> = users.iter().filter(|u| pred(u)).map(|u| u.id).collect();
    ids.sort();
    ids
}

/// The SCIM-shaped queries over `users` (as loaded by [`load`]): `eq` on userName (UPN),
/// externalId, displayName and the work email (mail); `sw` on userName; `and` and `or` of two
/// `eq`s; `meta.lastModified gt` (selective); the default listing in id order at
/// `start_index` (0-based offset); ordered by userName; and the count of all users.
pub fn queries(users: &[User], start_index: u64) -> Vec<ScaleQuery> {
    let n = users.len();
    let pick = |f: f64| &users[((n as f64) * f) as usize % n];
    let (a, b, c) = (pick(0.37), pick(0.61), pick(0.83));
    let filtered = |src: String| ListQuery { filter: Some(flt(&src)), top: 100, ..ListQuery::default() };
    let first = |ids: Vec<ObjectId>| ids.into_iter().take(100).collect::<Vec<_>>();
    let upn_l = |u: &User| u.user_principal_name.to_lowercase();

    // A prefix shared by ten users: "user00123" + one more digit.
    let prefix = format!("user{:06}", (n / 2) / 10);
    // The 49 most recently modified users.
    let recent = users[n.saturating_sub(50)].last_modified_date_time.unwrap();
    let recent_text = filter::format_timestamp(recent);

    let mut by_id: Vec<ObjectId> = users.iter().map(|u| u.id).collect();
    by_id.sort();
    let start = usize::try_from(start_index).unwrap().min(n);
    let mut by_upn: Vec<&User> = users.iter().collect();
    by_upn.sort_by(|x, y| upn_l(x).cmp(&upn_l(y)).then(x.id.cmp(&y.id)));

    vec![
        ScaleQuery {
            name: "userName eq",
            query: filtered(format!("userPrincipalName eq '{}'", a.user_principal_name.to_uppercase())),
            want: vec![a.id],
            want_count: None,
            indexes: &["directory_objects_upn_idx"],
            index_ordered: true,
        },
        ScaleQuery {
            name: "externalId eq",
            query: filtered(format!("externalId eq '{}'", b.external_id.as_deref().unwrap())),
            want: vec![b.id],
            want_count: None,
            indexes: &["directory_objects_external_id_idx"],
            index_ordered: true,
        },
        ScaleQuery {
            name: "displayName eq",
            query: filtered(format!("displayName eq '{}'", c.display_name)),
            want: first(ids_where(users, |u| u.display_name == c.display_name)),
            want_count: None,
            indexes: &["directory_objects_display_name_idx"],
            index_ordered: true,
        },
        ScaleQuery {
            name: "emails[type eq \"work\"].value eq",
            query: filtered(format!("mail eq '{}'", a.mail.as_deref().unwrap())),
            want: vec![a.id],
            want_count: None,
            indexes: &["directory_objects_mail_idx"],
            index_ordered: true,
        },
        ScaleQuery {
            name: "userName sw",
            query: filtered(format!("startswith(userPrincipalName, '{prefix}')")),
            want: ids_where(users, |u| upn_l(u).starts_with(&prefix)),
            want_count: None,
            indexes: &["directory_objects_upn_idx"],
            index_ordered: false,
        },
        ScaleQuery {
            name: "externalId eq and userName eq",
            query: filtered(format!(
                "externalId eq '{}' and userPrincipalName eq '{}'",
                b.external_id.as_deref().unwrap(),
                b.user_principal_name
            )),
            want: vec![b.id],
            want_count: None,
            indexes: &["directory_objects_upn_idx", "directory_objects_external_id_idx"],
            index_ordered: false,
        },
        ScaleQuery {
            name: "userName eq or externalId eq",
            query: filtered(format!(
                "userPrincipalName eq '{}' or externalId eq '{}'",
                a.user_principal_name,
                c.external_id.as_deref().unwrap()
            )),
            want: ids_where(users, |u| u.id == a.id || u.id == c.id),
            want_count: None,
            indexes: &["directory_objects_upn_idx"],
            index_ordered: false,
        },
        ScaleQuery {
            name: "meta.lastModified gt",
            query: filtered(format!("lastModifiedDateTime gt {recent_text}")),
            want: ids_where(users, |u| u.last_modified_date_time.is_some_and(|t| t > recent)),
            want_count: None,
            indexes: &["directory_objects_modified_idx"],
            index_ordered: false,
        },
        ScaleQuery {
            name: "list by id, first page",
            query: ListQuery { top: 100, ..ListQuery::default() },
            want: by_id[..100.min(n)].to_vec(),
            want_count: None,
            indexes: &[
                "directory_objects_kind_id_idx",
                "directory_objects_pkey",
                "sqlite_autoindex_directory_objects_1",
            ],
            index_ordered: true,
        },
        ScaleQuery {
            name: "list by id, page at startIndex",
            query: ListQuery {
                top: 100,
                skip_token: (start > 0).then(|| crate::query::encode_offset_token(start as u64)),
                ..ListQuery::default()
            },
            want: by_id[start..(start + 100).min(n)].to_vec(),
            want_count: None,
            // Or the primary key (tenant_id, id), filtering kind, where nearly all objects
            // of the tenant are users.
            indexes: &[
                "directory_objects_kind_id_idx",
                "directory_objects_pkey",
                "sqlite_autoindex_directory_objects_1",
            ],
            // PostgreSQL pages past the first by ids, then sorts the page's rows.
            index_ordered: false,
        },
        ScaleQuery {
            name: "list sorted by userName",
            query: ListQuery {
                order_by: vec![SortKey { field: "userPrincipalName", ty: FieldType::String, descending: false }],
                top: 100,
                ..ListQuery::default()
            },
            want: by_upn.iter().take(100).map(|u| u.id).collect(),
            want_count: None,
            indexes: &["directory_objects_upn_idx"],
            index_ordered: true,
        },
        ScaleQuery {
            name: "count of all",
            query: ListQuery { top: 1, count: true, ..ListQuery::default() },
            want: vec![by_id[0]],
            want_count: Some(n as u64),
            indexes: &[
                "directory_objects_kind_id_idx",
                "directory_objects_pkey",
                "directory_objects_upn_idx",
                "directory_objects_external_id_idx",
                "directory_objects_display_name_idx",
                "directory_objects_mail_idx",
                "directory_objects_modified_idx",
            ],
            index_ordered: true,
        },
    ]
}

/// Runs `q` through `list_objects` until `max_runs` runs or `budget` elapsed (at least 5
/// runs, after 2 warm-up runs), checks the result once, and returns the latencies, sorted.
pub async fn time_query(
    s: &dyn Store,
    tenant: TenantId,
    q: &ScaleQuery,
    max_runs: usize,
    budget: std::time::Duration,
) -> Vec<std::time::Duration> {
    for _ in 0..2 {
        let page = s.list_objects(tenant, ObjectKind::User, &q.query).await.expect("list_objects");
        q.check(&page);
    }
    let started = std::time::Instant::now();
    let mut times = Vec::new();
    while times.len() < max_runs && (times.len() < 5 || started.elapsed() < budget) {
        let t = std::time::Instant::now();
        let page = s.list_objects(tenant, ObjectKind::User, &q.query).await.expect("list_objects");
        times.push(t.elapsed());
        std::hint::black_box(page);
    }
    times.sort();
    times
}

/// `p50 / p99 / max` of sorted latencies, in milliseconds.
pub fn summary(times: &[std::time::Duration]) -> String {
    let at = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    format!("p50 {:8.3} ms  p99 {:8.3} ms  max {:8.3} ms  ({} runs)", at(0.5), at(0.99), at(1.0), times.len())
}
