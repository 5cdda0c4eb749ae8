//! How SCIM resources map onto the directory's Graph-shaped users and groups: SCIM → Graph
//! properties on write, Graph → SCIM view on read, and SCIM filters → the store's filter IR.
//!
//! The SCIM resource last written over SCIM is kept in the user's document (`ostiaryScim`), so
//! values come back exactly as sent and attributes Graph has no property for survive. On read,
//! a mapped attribute is taken from Graph whenever Graph's value differs from what the stored
//! resource would produce, so changes made through Graph (or sign-in) show through SCIM.

use ostiary_model::{Group, User};
use ostiary_odata::CmpOp;
use ostiary_scim::filter::{AttrPath, CompValue, CompareOp, Filter as ScimFilter};
use ostiary_scim::patch::{PatchOp, PatchOpKind, apply_patch};
use ostiary_scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use ostiary_scim::{SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_USER, ScimError, ScimType};
use ostiary_store::filter::{FieldType, Filter, LikeKind, Operand, Value as FValue};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Characters kept when a `userName` must become the local part of a UPN.
fn upn_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// The UPN a SCIM `userName` is stored under. A UPN in one of the tenant's domains is kept; any
/// other value (a bare name, an address in a foreign domain) becomes `<name>@<initial domain>`
/// with `@` and characters a UPN cannot hold replaced by `_`, the way Entra names guests.
/// Deterministic, so `userName eq "x"` can be answered through the UPN index.
pub fn upn_for_user_name(user_name: &str, domains: &[String]) -> String {
    if let Some((local, domain)) = user_name.rsplit_once('@')
        && !local.is_empty()
        && !local.contains('@')
        && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    {
        return user_name.to_string();
    }
    let local: String = user_name.chars().map(|c| if upn_local_char(c) { c } else { '_' }).collect();
    let local = local.trim_matches('.');
    let local = if local.is_empty() { "user" } else { local };
    let domain = domains.first().map(String::as_str).unwrap_or("invalid");
    format!("{local}@{domain}")
}

/// A mail nickname derived from a UPN's local part (Graph requires one).
fn mail_nickname(upn: &str) -> String {
    let local = upn.split('@').next().unwrap_or("");
    let n: String = local.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(64).collect();
    if n.is_empty() { "user".into() } else { n }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = get_ci(cur, p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// Object member lookup ignoring case (SCIM attribute names are case-insensitive).
fn get_ci<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let m = v.as_object()?;
    m.get(name).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The element of a multi-valued attribute with `type` = `ty`.
fn typed<'a>(v: &'a Value, attr: &str, ty: &str) -> Option<&'a Value> {
    get_ci(v, attr)?
        .as_array()?
        .iter()
        .find(|e| get_ci(e, "type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(ty)))
}

fn typed_value(v: &Value, attr: &str, ty: &str, sub: &str) -> Option<String> {
    typed(v, attr, ty).and_then(|e| get_ci(e, sub)).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from)
}

/// The email Graph's `mail` mirrors: the work address, else the primary one, else the first.
fn mapped_email(v: &Value) -> Option<String> {
    if let Some(m) = typed_value(v, "emails", "work", "value") {
        return Some(m);
    }
    let list = get_ci(v, "emails")?.as_array()?;
    let primary = list.iter().find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true));
    primary
        .or(list.first())
        .and_then(|e| get_ci(e, "value"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn enterprise(v: &Value) -> Option<&Value> {
    get_ci(v, SCHEMA_ENTERPRISE_USER)
}

fn bool_of(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(String::from)
}

/// Sets the Graph properties a SCIM user resource determines. Deterministic: the same resource
/// always yields the same values (the read side relies on it to tell Graph edits apart).
pub fn apply_user(resource: &Value, u: &mut User, domains: &[String]) {
    let user_name = str_at(resource, &["userName"]).unwrap_or("");
    u.user_principal_name = upn_for_user_name(user_name, domains);
    let given = owned(str_at(resource, &["name", "givenName"]));
    let family = owned(str_at(resource, &["name", "familyName"]));
    u.display_name = owned(str_at(resource, &["displayName"]))
        .or_else(|| owned(str_at(resource, &["name", "formatted"])))
        .or_else(|| {
            let parts: Vec<&str> = [given.as_deref(), family.as_deref()].into_iter().flatten().collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| user_name.to_string());
    u.given_name = given;
    u.surname = family;
    u.job_title = owned(str_at(resource, &["title"]));
    u.preferred_language = owned(str_at(resource, &["preferredLanguage"]));
    u.account_enabled = bool_of(get_ci(resource, "active")).unwrap_or(true);
    u.mail = mapped_email(resource);
    u.business_phones = typed_value(resource, "phoneNumbers", "work", "value").into_iter().collect();
    u.mobile_phone = typed_value(resource, "phoneNumbers", "mobile", "value");
    u.street_address = typed_value(resource, "addresses", "work", "streetAddress");
    u.city = typed_value(resource, "addresses", "work", "locality");
    u.state = typed_value(resource, "addresses", "work", "region");
    u.postal_code = typed_value(resource, "addresses", "work", "postalCode");
    u.country = typed_value(resource, "addresses", "work", "country");
    let ent = enterprise(resource);
    let ent_str = |name: &str| ent.and_then(|e| str_at(e, &[name])).map(String::from);
    u.employee_id = ent_str("employeeNumber");
    u.department = ent_str("department");
    u.company_name = ent_str("organization");
    u.external_id = owned(str_at(resource, &["externalId"]));
}

/// A Graph value read from a user, for the mapped-attribute table.
type Getter = fn(&User) -> Value;

/// Mapped SCIM paths and the Graph property behind each (besides `userName`).
const USER_MAP: &[(&str, Getter)] = &[
    ("displayName", |u| json!(u.display_name)),
    ("name.givenName", |u| json!(u.given_name)),
    ("name.familyName", |u| json!(u.surname)),
    ("title", |u| json!(u.job_title)),
    ("preferredLanguage", |u| json!(u.preferred_language)),
    ("active", |u| json!(u.account_enabled)),
    ("emails[type eq \"work\"].value", |u| json!(u.mail)),
    ("phoneNumbers[type eq \"work\"].value", |u| json!(u.business_phones.first())),
    ("phoneNumbers[type eq \"mobile\"].value", |u| json!(u.mobile_phone)),
    ("addresses[type eq \"work\"].streetAddress", |u| json!(u.street_address)),
    ("addresses[type eq \"work\"].locality", |u| json!(u.city)),
    ("addresses[type eq \"work\"].region", |u| json!(u.state)),
    ("addresses[type eq \"work\"].postalCode", |u| json!(u.postal_code)),
    ("addresses[type eq \"work\"].country", |u| json!(u.country)),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", |u| json!(u.employee_id)),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", |u| json!(u.department)),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization", |u| json!(u.company_name)),
    ("externalId", |u| json!(u.external_id)),
];

fn overlay(resource: &mut Value, path: &str, value: Value) {
    let Ok(path) = ostiary_scim::filter::parse_attr_path(path) else { return };
    let op = if value.is_null() {
        PatchOp { op: PatchOpKind::Remove, path: Some(path), value: None }
    } else {
        PatchOp { op: PatchOpKind::Replace, path: Some(path), value: Some(value) }
    };
    // A failed overlay (e.g. removing what is not there) leaves the resource as it was.
    let _ = apply_patch(resource, std::slice::from_ref(&op), &USER_RESOURCE);
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `meta` of a resource.
pub fn meta(
    resource_type: &str,
    created: OffsetDateTime,
    modified: Option<OffsetDateTime>,
    location: &str,
    version: &str,
) -> Value {
    json!({
        "resourceType": resource_type,
        "created": rfc3339(created),
        "lastModified": rfc3339(modified.unwrap_or(created)),
        "location": location,
        "version": version,
    })
}

/// The SCIM view of a user (without `meta`, which the caller adds).
pub fn user_view(u: &User, domains: &[String]) -> Value {
    let stored = u.ostiary_scim.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let mut expected = u.clone();
    apply_user(&stored, &mut expected, domains);
    let mut r = stored;
    for (path, get) in USER_MAP {
        let now = get(u);
        if now != get(&expected) {
            overlay(&mut r, path, now);
        }
    }
    if let Some(m) = r.as_object_mut() {
        if u.user_principal_name != expected.user_principal_name || !m.contains_key("userName") {
            m.insert("userName".into(), json!(u.user_principal_name));
        }
        // `active` defaults to true, so a user that never came through SCIM would lack it (one
        // written over SCIM without `active` shows it absent, as written).
        if u.ostiary_scim.is_none() {
            m.entry("active").or_insert(json!(u.account_enabled));
        }
        m.remove("password");
        m.remove("meta");
        m.remove("groups");
        m.insert("id".into(), json!(u.id.to_string()));
        let mut schemas = vec![json!(SCHEMA_USER)];
        if m.contains_key(SCHEMA_ENTERPRISE_USER) {
            schemas.push(json!(SCHEMA_ENTERPRISE_USER));
        }
        m.insert("schemas".into(), Value::Array(schemas));
    }
    r
}

/// What is kept of a written SCIM user resource: everything but the server-owned and secret parts.
pub fn stored_resource(resource: &Value) -> Value {
    let mut r = resource.clone();
    if let Some(m) = r.as_object_mut() {
        for k in ["id", "meta", "password", "groups", "schemas"] {
            m.remove(k);
        }
    }
    r
}

/// The password a SCIM user resource sets, if any.
pub fn password_of(resource: &Value) -> Option<String> {
    get_ci(resource, "password").and_then(Value::as_str).map(String::from)
}

/// A new user from a SCIM resource (the caller assigns id and times).
pub fn new_user(resource: &Value, domains: &[String], now: OffsetDateTime) -> User {
    let mut u = User {
        id: ostiary_model::ObjectId::from_uuid(uuid::Uuid::nil()),
        account_enabled: true,
        display_name: String::new(),
        user_principal_name: String::new(),
        mail_nickname: String::new(),
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
        user_type: "Member".into(),
        other_mails: Vec::new(),
        created_date_time: now,
        password_hash: None,
        force_change_password_next_sign_in: false,
        last_password_change_date_time: None,
        external_id: None,
        last_modified_date_time: None,
        ostiary_scim: None,
    };
    apply_user(resource, &mut u, domains);
    u.mail_nickname = mail_nickname(&u.user_principal_name);
    u.ostiary_scim = Some(stored_resource(resource));
    u
}

/// A new security group from a SCIM resource (members are handled by the caller).
pub fn new_group(resource: &Value, now: OffsetDateTime) -> Group {
    let display_name = str_at(resource, &["displayName"]).unwrap_or("").to_string();
    let nick: String = display_name.chars().filter(|c| c.is_ascii_alphanumeric()).take(64).collect();
    Group {
        id: ostiary_model::ObjectId::from_uuid(uuid::Uuid::nil()),
        display_name,
        description: None,
        mail_enabled: false,
        mail_nickname: if nick.is_empty() { "group".into() } else { nick },
        security_enabled: true,
        group_types: Vec::new(),
        mail: None,
        visibility: None,
        is_assignable_to_role: None,
        created_date_time: now,
        external_id: owned(str_at(resource, &["externalId"])),
        last_modified_date_time: None,
    }
}

/// Sets the group properties a SCIM group resource determines.
pub fn apply_group(resource: &Value, g: &mut Group) {
    if let Some(d) = str_at(resource, &["displayName"]) {
        g.display_name = d.to_string();
    }
    g.external_id = owned(str_at(resource, &["externalId"]));
}

/// One member of a group as SCIM shows it. No `display`: clients compare members with what
/// they sent (`value`, `$ref`, `type`), and scim2-tester fails on an added `display`.
pub fn member_json(id: &str, kind: &str, base: &str) -> Value {
    let (ty, endpoint) = if kind == "group" { ("Group", "Groups") } else { ("User", "Users") };
    json!({"value": id, "type": ty, "$ref": format!("{base}/{endpoint}/{id}")})
}

/// One entry of a user's read-only `groups`.
pub fn group_ref_json(id: &str, display: &str, base: &str) -> Value {
    json!({"value": id, "display": display, "type": "direct", "$ref": format!("{base}/Groups/{id}")})
}

/// The SCIM view of a group; `members` is `None` when it was not asked for.
pub fn group_view(g: &Group, members: Option<Vec<Value>>) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), json!([SCHEMA_GROUP]));
    m.insert("id".into(), json!(g.id.to_string()));
    if let Some(e) = &g.external_id {
        m.insert("externalId".into(), json!(e));
    }
    m.insert("displayName".into(), json!(g.display_name));
    if let Some(ms) = members {
        m.insert("members".into(), Value::Array(ms));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Filters

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

/// A filter that matches nothing (an empty `in` list compiles to FALSE).
fn nothing() -> Filter {
    Filter::In { operand: Operand::Element, values: Vec::new() }
}

fn field(name: &'static str, ty: FieldType) -> Operand {
    Operand::Field { name, ty }
}

/// The store property behind a SCIM attribute path, for users.
fn user_operand(attr: &str, sub: Option<&str>, uri: Option<&str>) -> Option<Operand> {
    use FieldType::{Bool, DateTime, Guid, String as S};
    let enterprise = uri.is_some_and(|u| u.eq_ignore_ascii_case(SCHEMA_ENTERPRISE_USER));
    if enterprise {
        return match attr.to_ascii_lowercase().as_str() {
            "employeenumber" => Some(field("employeeId", S)),
            "department" => Some(field("department", S)),
            "organization" => Some(field("companyName", S)),
            _ => None,
        };
    }
    let sub = sub.map(str::to_ascii_lowercase);
    Some(match (attr.to_ascii_lowercase().as_str(), sub.as_deref()) {
        ("id", None) => field("id", Guid),
        ("externalid", None) => field("externalId", S),
        ("displayname", None) => field("displayName", S),
        ("name", Some("givenname")) => field("givenName", S),
        ("name", Some("familyname")) => field("surname", S),
        ("name", Some("formatted")) => field("ostiaryScim.name.formatted", S),
        ("name", Some("middlename")) => field("ostiaryScim.name.middleName", S),
        ("title", None) => field("jobTitle", S),
        ("preferredlanguage", None) => field("preferredLanguage", S),
        ("active", None) => field("accountEnabled", Bool),
        ("nickname", None) => field("ostiaryScim.nickName", S),
        ("usertype", None) => field("ostiaryScim.userType", S),
        ("locale", None) => field("ostiaryScim.locale", S),
        ("timezone", None) => field("ostiaryScim.timezone", S),
        ("profileurl", None) => field("ostiaryScim.profileUrl", S),
        ("meta", Some("created")) => field("createdDateTime", DateTime),
        ("meta", Some("lastmodified")) => field("lastModifiedDateTime", DateTime),
        ("employeenumber", None) => field("employeeId", S),
        ("department", None) => field("department", S),
        ("organization", None) => field("companyName", S),
        _ => return None,
    })
}

fn group_operand(attr: &str, sub: Option<&str>) -> Option<Operand> {
    use FieldType::{DateTime, Guid, String as S};
    let sub = sub.map(str::to_ascii_lowercase);
    Some(match (attr.to_ascii_lowercase().as_str(), sub.as_deref()) {
        ("id", None) => field("id", Guid),
        ("externalid", None) => field("externalId", S),
        ("displayname", None) => field("displayName", S),
        ("meta", Some("created")) => field("createdDateTime", DateTime),
        ("meta", Some("lastmodified")) => field("lastModifiedDateTime", DateTime),
        _ => return None,
    })
}

/// Strips a core-schema URN prefix (`urn:…:core:2.0:User:userName` means `userName`).
fn core_uri(uri: Option<&str>, kind_is_user: bool) -> Option<&str> {
    let core = if kind_is_user { SCHEMA_USER } else { SCHEMA_GROUP };
    uri.filter(|u| !u.eq_ignore_ascii_case(core))
}

fn value_for(op: &Operand, v: &CompValue) -> Result<Option<FValue>, ScimError> {
    let ty = op.ty();
    Ok(match (ty, v) {
        (_, CompValue::Null) => None,
        (FieldType::Bool, CompValue::Bool(b)) => Some(FValue::Bool(*b)),
        (FieldType::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => Some(FValue::Bool(true)),
        (FieldType::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => Some(FValue::Bool(false)),
        (FieldType::Bool, _) => return Err(invalid("a boolean attribute is compared with a non-boolean value")),
        (FieldType::DateTime, CompValue::Str(s)) => {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| invalid(format!("'{s}' is not an RFC 3339 date-time")))?;
            Some(FValue::DateTime(ostiary_store::filter::format_timestamp(t)))
        }
        (FieldType::Guid, CompValue::Str(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Some(FValue::Guid(u.to_string())),
            Err(_) => return Ok(Some(FValue::Guid(String::new()))),
        },
        (_, CompValue::Str(s)) => Some(FValue::Str(s.clone())),
        (_, CompValue::Num(n)) => Some(FValue::Str(n.to_string())),
        (_, CompValue::Bool(b)) => Some(FValue::Str(b.to_string())),
    })
}

fn compare(operand: Operand, op: CompareOp, v: &CompValue) -> Result<Filter, ScimError> {
    let value = value_for(&operand, v)?;
    // An id that is not a GUID matches no object.
    if matches!(&value, Some(FValue::Guid(g)) if g.is_empty()) {
        return Ok(if op == CompareOp::Ne { Filter::Not(Box::new(nothing())) } else { nothing() });
    }
    let Some(value) = value else {
        return match op {
            CompareOp::Eq => Ok(Filter::IsNull { operand, negated: false }),
            CompareOp::Ne => Ok(Filter::IsNull { operand, negated: true }),
            _ => Err(invalid("null can only be compared with eq or ne")),
        };
    };
    let like = |kind| match &value {
        FValue::Str(s) if operand.ty() == FieldType::String => Ok(Filter::Like { operand, kind, value: s.clone() }),
        _ => Err(invalid("co, sw and ew apply to string attributes only")),
    };
    Ok(match op {
        CompareOp::Eq => Filter::Cmp { operand, op: CmpOp::Eq, value },
        CompareOp::Ne => Filter::Cmp { operand, op: CmpOp::Ne, value },
        CompareOp::Gt => Filter::Cmp { operand, op: CmpOp::Gt, value },
        CompareOp::Ge => Filter::Cmp { operand, op: CmpOp::Ge, value },
        CompareOp::Lt => Filter::Cmp { operand, op: CmpOp::Lt, value },
        CompareOp::Le => Filter::Cmp { operand, op: CmpOp::Le, value },
        CompareOp::Co => like(LikeKind::Contains)?,
        CompareOp::Sw => like(LikeKind::StartsWith)?,
        CompareOp::Ew => like(LikeKind::EndsWith)?,
    })
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}
fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

const UPN: Operand = Operand::Field { name: "userPrincipalName", ty: FieldType::String };
const SCIM_USER_NAME: Operand = Operand::Field { name: "ostiaryScim.userName", ty: FieldType::String };

/// `userName op v`: the stored SCIM `userName` when the user came through SCIM, else the UPN.
/// `eq` also pins the UPN derived from the value, so it is answered through the UPN index.
fn user_name(op: CompareOp, v: &CompValue, domains: &[String]) -> Result<Filter, ScimError> {
    let on_scim = compare(SCIM_USER_NAME, op, v)?;
    let on_upn = and(Filter::IsNull { operand: SCIM_USER_NAME, negated: false }, compare(UPN, op, v)?);
    let either = or(on_scim, on_upn);
    match (op, v) {
        (CompareOp::Eq, CompValue::Str(s)) => {
            let pinned = Filter::Cmp { operand: UPN, op: CmpOp::Eq, value: FValue::Str(upn_for_user_name(s, domains)) };
            Ok(and(pinned, either))
        }
        _ => Ok(either),
    }
}

/// Email filters: the work (or primary) address is Graph's `mail`.
fn emails(
    sub: Option<&str>,
    value_filter: Option<&ScimFilter>,
    op: CompareOp,
    v: &CompValue,
) -> Result<Filter, ScimError> {
    if sub.is_some_and(|s| !s.eq_ignore_ascii_case("value")) {
        return Err(invalid("only emails.value can be filtered"));
    }
    if let Some(vf) = value_filter {
        let work_only = matches!(vf, ScimFilter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(t) }
            if path.attr.eq_ignore_ascii_case("type") && t.eq_ignore_ascii_case("work"));
        if !work_only {
            return Err(invalid("emails can be filtered by type \"work\" only"));
        }
    }
    compare(field("mail", FieldType::String), op, v)
}

/// Compiles a SCIM filter over users (`is_user`) or groups into the store's filter IR.
pub fn compile_filter(f: &ScimFilter, is_user: bool, domains: &[String]) -> Result<Filter, ScimError> {
    match f {
        ScimFilter::And(a, b) => Ok(and(compile_filter(a, is_user, domains)?, compile_filter(b, is_user, domains)?)),
        ScimFilter::Or(a, b) => Ok(or(compile_filter(a, is_user, domains)?, compile_filter(b, is_user, domains)?)),
        ScimFilter::Not(a) => Ok(Filter::Not(Box::new(compile_filter(a, is_user, domains)?))),
        ScimFilter::Present(path) => {
            let operand = operand_for(path, is_user)?;
            Ok(Filter::IsNull { operand, negated: true })
        }
        ScimFilter::ValuePath { path, filter } => {
            // `emails[value eq "x"]` / `emails[type eq "work" and value eq "x"]`.
            if is_user && path.attr.eq_ignore_ascii_case("emails") {
                return emails_value_path(filter);
            }
            Err(invalid(format!("filtering on {} is not supported", path.attr)))
        }
        ScimFilter::Compare { path, op, value } => {
            let uri = core_uri(path.uri.as_deref(), is_user);
            if is_user && uri.is_none() && path.attr.eq_ignore_ascii_case("userName") && path.sub.is_none() {
                return user_name(*op, value, domains);
            }
            if is_user && uri.is_none() && path.attr.eq_ignore_ascii_case("emails") {
                return emails(path.sub.as_deref(), path.value_filter.as_deref(), *op, value);
            }
            if path.value_filter.is_some() {
                return Err(invalid(format!("filtering on {}[...] is not supported", path.attr)));
            }
            compare(operand_for(path, is_user)?, *op, value)
        }
    }
}

fn emails_value_path(filter: &ScimFilter) -> Result<Filter, ScimError> {
    match filter {
        ScimFilter::Compare { path, op, value } if path.attr.eq_ignore_ascii_case("value") => {
            compare(field("mail", FieldType::String), *op, value)
        }
        ScimFilter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(t) }
            if path.attr.eq_ignore_ascii_case("type") && t.eq_ignore_ascii_case("work") =>
        {
            Ok(Filter::IsNull { operand: field("mail", FieldType::String), negated: true })
        }
        ScimFilter::And(a, b) => Ok(and(emails_value_path(a)?, emails_value_path(b)?)),
        _ => Err(invalid("emails[...] supports value comparisons and type eq \"work\"")),
    }
}

fn operand_for(path: &AttrPath, is_user: bool) -> Result<Operand, ScimError> {
    let uri = core_uri(path.uri.as_deref(), is_user);
    let found = if is_user {
        user_operand(&path.attr, path.sub.as_deref(), uri)
    } else if uri.is_none() {
        group_operand(&path.attr, path.sub.as_deref())
    } else {
        None
    };
    found.ok_or_else(|| {
        let name = match &path.sub {
            Some(s) => format!("{}.{s}", path.attr),
            None => path.attr.clone(),
        };
        invalid(format!("filtering or sorting on '{name}' is not supported"))
    })
}

/// The sort key for `sortBy`.
pub fn sort_key(path: &AttrPath, is_user: bool, descending: bool) -> Result<ostiary_store::SortKey, ScimError> {
    let uri = core_uri(path.uri.as_deref(), is_user);
    let operand = if is_user && uri.is_none() && path.attr.eq_ignore_ascii_case("userName") {
        UPN
    } else if is_user && uri.is_none() && path.attr.eq_ignore_ascii_case("emails") {
        field("mail", FieldType::String)
    } else {
        operand_for(path, is_user)?
    };
    match operand {
        Operand::Field { name, ty } => Ok(ostiary_store::SortKey { field: name, ty, descending }),
        Operand::Element => Err(invalid("unsupported sort attribute")),
    }
}

/// Resource schema of users or groups.
pub fn resource_schema(is_user: bool) -> &'static ostiary_scim::schema::ResourceSchema {
    if is_user { &USER_RESOURCE } else { &GROUP_RESOURCE }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["contoso.test".into()]
    }

    #[test]
    fn user_names_become_upns_deterministically() {
        let d = domains();
        assert_eq!(upn_for_user_name("ada@contoso.test", &d), "ada@contoso.test");
        assert_eq!(upn_for_user_name("Ada@CONTOSO.test", &d), "Ada@CONTOSO.test");
        assert_eq!(upn_for_user_name("ada@example.com", &d), "ada_example.com@contoso.test");
        assert_eq!(upn_for_user_name("Test_User_1", &d), "Test_User_1@contoso.test");
        assert_eq!(upn_for_user_name("a b<c>", &d), "a_b_c_@contoso.test");
        assert_eq!(upn_for_user_name("", &d), "user@contoso.test");
    }

    #[test]
    fn scim_view_round_trips_and_shows_graph_edits() {
        let d = domains();
        let body = json!({
            "schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER],
            "userName": "Test_User_1", "externalId": "ext-1", "active": true, "nickName": "Babs",
            "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
            "emails": [{"primary": true, "type": "work", "value": "bjensen@example.com"},
                       {"type": "home", "value": "babs@example.org"}],
            SCHEMA_ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Tour Operations"},
        });
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut u = new_user(&body, &d, now);
        assert_eq!(u.user_principal_name, "Test_User_1@contoso.test");
        assert_eq!(u.display_name, "Ms. Barbara J Jensen");
        assert_eq!(u.mail.as_deref(), Some("bjensen@example.com"));
        assert_eq!(u.employee_id.as_deref(), Some("701984"));
        assert_eq!(u.external_id.as_deref(), Some("ext-1"));
        let v = user_view(&u, &d);
        assert_eq!(v["userName"], "Test_User_1");
        assert_eq!(v["nickName"], "Babs");
        assert!(v.get("displayName").is_none(), "not sent, not invented: {v}");
        assert_eq!(v["emails"], body["emails"]);
        // Graph edits show through.
        u.surname = Some("Smith".into());
        u.account_enabled = false;
        u.mail = Some("b.smith@example.com".into());
        let v = user_view(&u, &d);
        assert_eq!(v["name"]["familyName"], "Smith");
        assert_eq!(v["name"]["givenName"], "Barbara");
        assert_eq!(v["active"], false);
        assert_eq!(v["emails"][0]["value"], "b.smith@example.com");
        assert_eq!(v["emails"][1]["value"], "babs@example.org");
    }

    #[test]
    fn graph_created_users_have_a_full_view() {
        let d = domains();
        let mut u = new_user(&json!({"userName": "x"}), &d, time::macros::datetime!(2026-01-01 00:00 UTC));
        u.ostiary_scim = None;
        u.user_principal_name = "adele@contoso.test".into();
        u.display_name = "Adele".into();
        u.department = Some("Sales".into());
        let v = user_view(&u, &d);
        assert_eq!(v["userName"], "adele@contoso.test");
        assert_eq!(v["displayName"], "Adele");
        assert_eq!(v[SCHEMA_ENTERPRISE_USER]["department"], "Sales");
        assert_eq!(v["schemas"], json!([SCHEMA_USER, SCHEMA_ENTERPRISE_USER]));
    }

    #[test]
    fn filters_map_to_indexed_properties() {
        let d = domains();
        let f = ostiary_scim::filter::parse_filter("userName eq \"Test_User_1\"").unwrap();
        let c = compile_filter(&f, true, &d).unwrap();
        let Filter::And(pinned, _) = c else { panic!("{c:?}") };
        assert_eq!(
            *pinned,
            Filter::Cmp { operand: UPN, op: CmpOp::Eq, value: FValue::Str("Test_User_1@contoso.test".into()) }
        );
        let f = ostiary_scim::filter::parse_filter("emails[type eq \"work\"].value eq \"a@b.c\"").unwrap();
        assert_eq!(
            compile_filter(&f, true, &d).unwrap(),
            Filter::Cmp {
                operand: field("mail", FieldType::String),
                op: CmpOp::Eq,
                value: FValue::Str("a@b.c".into())
            }
        );
        let f = ostiary_scim::filter::parse_filter("id eq \"not-a-guid\"").unwrap();
        assert_eq!(compile_filter(&f, true, &d).unwrap(), nothing());
        for bad in ["ims.value eq \"x\"", "members.value eq \"x\"", "x eq 1"] {
            let f = ostiary_scim::filter::parse_filter(bad).unwrap();
            assert!(compile_filter(&f, true, &d).is_err(), "{bad}");
        }
        let f = ostiary_scim::filter::parse_filter("meta.lastModified gt \"2011-05-13T04:42:34Z\"").unwrap();
        assert!(compile_filter(&f, false, &d).is_ok());
    }
}
