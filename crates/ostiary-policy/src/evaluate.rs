//! One sign-in against a [`PolicySet`]: the decision (allow, block, or what the user must still
//! do), the session limits, and per policy the result Entra would log plus the reason, which is
//! the What-If explanation.
//!
//! Order of work: the subject's ids and the resource are looked up once in the set's indexes,
//! which marks the policies that include or exclude them; locations are resolved once; then one
//! pass over the policies tests bits and masks only.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::compile::{
    BrowserPersistence, CompiledPolicy, CompiledSession, Control, Controls, FrequencyLimit, IdIndex, LocationRule,
    Mode, PolicySet, client_app_type_bit,
};
use crate::facts::{
    AuthMethods, AuthenticationFacts, ClientAppType, Platform, RiskLevel, SignInFacts, Subject, UserAction,
};
use crate::location::{country_from_index, country_index};
use crate::strength::satisfies;

/// A policy's result in the sign-in log (`appliedConditionalAccessPolicies[].result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyResultKind {
    Success,
    Failure,
    NotApplied,
    NotEnabled,
    ReportOnlySuccess,
    ReportOnlyFailure,
    ReportOnlyNotApplied,
    ReportOnlyInterrupted,
}

impl PolicyResultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::NotApplied => "notApplied",
            Self::NotEnabled => "notEnabled",
            Self::ReportOnlySuccess => "reportOnlySuccess",
            Self::ReportOnlyFailure => "reportOnlyFailure",
            Self::ReportOnlyNotApplied => "reportOnlyNotApplied",
            Self::ReportOnlyInterrupted => "reportOnlyInterrupted",
        }
    }
}

/// Which factor a sign-in frequency wants again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReauthFactor {
    /// A full sign-in (AADSTS70044).
    Primary,
    /// Only the second factor (AADSTS50078).
    Mfa,
}

/// A grant need the sign-in has not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Mfa,
    AuthenticationStrength {
        id: String,
        display_name: Option<String>,
        allowed_combinations: Vec<String>,
    },
    /// A secure password change (`passwordChange` or `riskRemediation`).
    PasswordChange,
    Reauthenticate {
        factor: ReauthFactor,
        max_age_secs: u64,
    },
    /// An `OR` grant: meeting any one is enough.
    OneOf(Vec<Requirement>),
    /// Cannot be met in this flow (device compliance unknown, approved client app, …).
    Unsatisfiable {
        control: Control,
    },
}

impl Requirement {
    /// The AADSTS code to fail a non-interactive request with.
    ///
    /// MFA and strengths: 50076. Password change: 50142 ("PasswordChangeRequiredConditionalAccess";
    /// not in Entra's current error table, which lists 50135 for the risk-based case).
    /// Re-authentication: 70044 (sign-in frequency) or 50078 (MFA expired).
    pub fn aadsts(&self) -> u32 {
        match self {
            Self::Mfa | Self::AuthenticationStrength { .. } => 50076,
            Self::PasswordChange => 50142,
            Self::Reauthenticate { factor: ReauthFactor::Primary, .. } => 70044,
            Self::Reauthenticate { factor: ReauthFactor::Mfa, .. } => 50078,
            Self::OneOf(options) => options.first().map_or(53003, Requirement::aadsts),
            Self::Unsatisfiable { control } => control.aadsts(),
        }
    }

    /// Whether the user can meet it interactively here.
    pub fn is_satisfiable(&self) -> bool {
        match self {
            Self::Unsatisfiable { .. } => false,
            Self::OneOf(options) => options.iter().any(Requirement::is_satisfiable),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    /// AADSTS53003.
    Block {
        policy_ids: Vec<String>,
    },
    /// Every requirement must be met (each comes from an enforced policy that applied).
    Interrupt {
        requirements: Vec<Requirement>,
    },
}

impl Outcome {
    /// The AADSTS code to fail with, `None` when allowed. An unsatisfiable requirement decides
    /// over an interactive one: prompting for MFA first would be pointless.
    pub fn aadsts(&self) -> Option<u32> {
        match self {
            Self::Allow => None,
            Self::Block { .. } => Some(53003),
            Self::Interrupt { requirements } => requirements
                .iter()
                .find(|r| !r.is_satisfiable())
                .or_else(|| requirements.first())
                .map(Requirement::aadsts),
        }
    }
}

/// Session controls from the enforced policies that applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionDecision {
    /// Strictest `primaryAndSecondaryAuthentication` frequency.
    pub sign_in_frequency: Option<FrequencyLimit>,
    /// Strictest `secondaryAuthentication` frequency.
    pub mfa_frequency: Option<FrequencyLimit>,
    /// `never` wins over `always`.
    pub persistent_browser: Option<BrowserPersistence>,
    /// Set when the session is older than a limit allows.
    pub reauthenticate: Option<ReauthFactor>,
}

/// Where the sign-in came from, as the reasons show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub ip: Option<IpAddr>,
    /// Upper-case alpha-2, `None` = unknown.
    pub country: Option<[u8; 2]>,
}

impl Place {
    fn country_str(&self) -> Option<&str> {
        self.country.as_ref().and_then(|c| std::str::from_utf8(c).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserExclusion {
    User(Uuid),
    Group(Uuid),
    Role(Uuid),
    GuestsOrExternalUsers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppExclusion {
    Application,
    MicrosoftAdminPortals,
    Office365,
}

/// The location entry that matched (with the named location's display name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationMatch {
    All,
    AllTrusted { location: Arc<str>, by_country: bool },
    Named { location: Arc<str>, by_country: bool },
}

/// A set of platforms, as a policy's include list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platforms(pub(crate) u8);

impl Platforms {
    pub fn iter(self) -> impl Iterator<Item = Platform> {
        Platform::ALL.into_iter().filter(move |p| self.0 & p.bit() != 0)
    }
}

impl fmt::Display for Platforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(p.as_str())?;
        }
        if first {
            f.write_str("no platform Ostiary detects")?;
        }
        Ok(())
    }
}

/// The first condition that kept a policy from applying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotApplied {
    TargetsWorkloadIdentities,
    TargetsUsers,
    UserNotIncluded,
    UserExcluded(UserExclusion),
    ServicePrincipalNotIncluded(Uuid),
    ServicePrincipalExcluded(Uuid),
    NoCloudApp,
    UserActionNotIncluded(UserAction),
    ApplicationNotIncluded(Uuid),
    ApplicationExcluded { app: Uuid, by: AppExclusion },
    ClientAppTypeNotIncluded(ClientAppType),
    PlatformUnknown { included: Platforms },
    PlatformNotIncluded { platform: Platform, included: Platforms },
    PlatformExcluded { platform: Option<Platform> },
    LocationNotIncluded { place: Place },
    LocationExcluded { by: LocationMatch, place: Place },
    SignInRiskNotIncluded(RiskLevel),
    UserRiskNotIncluded(RiskLevel),
    ServicePrincipalRiskNotIncluded(RiskLevel),
}

struct ShowIp(Option<IpAddr>);

impl fmt::Display for ShowIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown IP"),
        }
    }
}

fn write_where(f: &mut fmt::Formatter<'_>, place: &Place, location: &str, by_country: bool) -> fmt::Result {
    match (by_country, place.country_str()) {
        (true, Some(c)) => write!(f, "country {c} is in '{location}'"),
        (true, None) => write!(f, "country unknown and '{location}' includes unknown countries"),
        (false, _) => write!(f, "{} is in '{location}'", ShowIp(place.ip)),
    }
}

impl fmt::Display for NotApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TargetsWorkloadIdentities => {
                f.write_str("policy targets workload identities (includeServicePrincipals); the subject is a user")
            }
            Self::TargetsUsers => f.write_str("policy targets users; the subject is a service principal"),
            Self::UserNotIncluded => f.write_str("user not in includeUsers, includeGroups or includeRoles"),
            Self::UserExcluded(UserExclusion::User(id)) => write!(f, "user excluded by excludeUsers {id}"),
            Self::UserExcluded(UserExclusion::Group(id)) => write!(f, "user excluded by excludeGroups {id}"),
            Self::UserExcluded(UserExclusion::Role(id)) => write!(f, "user excluded by excludeRoles {id}"),
            Self::UserExcluded(UserExclusion::GuestsOrExternalUsers) => {
                f.write_str("user excluded by excludeUsers GuestsOrExternalUsers (the user is a guest)")
            }
            Self::ServicePrincipalNotIncluded(id) => {
                write!(f, "service principal {id} not in includeServicePrincipals")
            }
            Self::ServicePrincipalExcluded(id) => {
                write!(f, "service principal {id} excluded by excludeServicePrincipals")
            }
            Self::NoCloudApp => f.write_str("the request names no cloud app and no user action"),
            Self::UserActionNotIncluded(action) => write!(
                f,
                "the request is the user action {}, which is not in includeUserActions (cloud apps, even All, never match a user action)",
                action.as_str()
            ),
            Self::ApplicationNotIncluded(app) => write!(f, "application {app} not in includeApplications"),
            Self::ApplicationExcluded { app, by: AppExclusion::Application } => {
                write!(f, "application {app} excluded by excludeApplications")
            }
            Self::ApplicationExcluded { app, by: AppExclusion::MicrosoftAdminPortals } => {
                write!(f, "application {app} excluded by excludeApplications MicrosoftAdminPortals")
            }
            Self::ApplicationExcluded { app, by: AppExclusion::Office365 } => {
                write!(f, "application {app} excluded by excludeApplications Office365")
            }
            Self::ClientAppTypeNotIncluded(t) => write!(f, "client app type {} not in clientAppTypes", t.as_str()),
            Self::PlatformUnknown { included } => write!(f, "platform unknown and policy includes {included}"),
            Self::PlatformNotIncluded { platform, included } => {
                write!(f, "platform {} not in includePlatforms ({included})", platform.as_str())
            }
            Self::PlatformExcluded { platform: Some(p) } => {
                write!(f, "platform {} excluded by excludePlatforms", p.as_str())
            }
            Self::PlatformExcluded { platform: None } => f.write_str("every platform excluded by excludePlatforms all"),
            Self::LocationNotIncluded { place } => write!(
                f,
                "location not in includeLocations: {} (country {}) is in no included location",
                ShowIp(place.ip),
                place.country_str().unwrap_or("unknown")
            ),
            Self::LocationExcluded { by: LocationMatch::All, .. } => f.write_str("location All excluded"),
            Self::LocationExcluded { by: LocationMatch::AllTrusted { location, by_country }, place } => {
                f.write_str("location AllTrusted excluded: ")?;
                write_where(f, place, location, *by_country)
            }
            Self::LocationExcluded { by: LocationMatch::Named { location, by_country }, place } => {
                write!(f, "location '{location}' excluded: ")?;
                write_where(f, place, location, *by_country)
            }
            Self::SignInRiskNotIncluded(r) => write!(f, "sign-in risk {} not in signInRiskLevels", r.as_str()),
            Self::UserRiskNotIncluded(r) => write!(f, "user risk {} not in userRiskLevels", r.as_str()),
            Self::ServicePrincipalRiskNotIncluded(r) => {
                write!(f, "service principal risk {} not in servicePrincipalRiskLevels", r.as_str())
            }
        }
    }
}

/// How a policy that applied fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedDetail {
    pub satisfied: Controls,
    pub missing: Controls,
    pub operator_or: bool,
    pub reauthenticate: Option<ReauthFactor>,
    methods: AuthMethods,
    device_compliant: Option<bool>,
    user: bool,
}

impl AppliedDetail {
    /// Whether the grant controls are met (a policy without grant controls always is).
    pub fn grant_satisfied(&self) -> bool {
        if self.missing.contains(Control::Block) {
            return false;
        }
        if self.operator_or { !self.satisfied.is_empty() || self.missing.is_empty() } else { self.missing.is_empty() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    NotEnabled,
    NotApplied(NotApplied),
    Applied(AppliedDetail),
}

/// One policy's line in the evaluation (a view into the [`Evaluation`] and its set).
#[derive(Debug, Clone, Copy)]
pub struct PolicyResult<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
    pub result: PolicyResultKind,
    /// Entra lists a policy's configured grant controls whatever the result (except notEnabled).
    pub enforced_grant_controls: &'a [&'static str],
    pub enforced_session_controls: &'a [&'static str],
    pub detail: &'a Detail,
    policy: &'a CompiledPolicy,
}

impl PolicyResult<'_> {
    /// The What-If explanation, one sentence per line.
    pub fn reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.detail {
            Detail::NotEnabled => out.push("policy is disabled".to_owned()),
            Detail::NotApplied(reason) => out.push(reason.to_string()),
            Detail::Applied(d) => {
                out.push("all conditions matched".to_owned());
                let grant = &self.policy.grant;
                if grant.controls.is_empty() {
                    out.push("no grant controls (session controls only)".to_owned());
                } else if d.missing.contains(Control::Block) {
                    out.push("grant control block: access is blocked".to_owned());
                } else {
                    let op = if d.operator_or { "OR" } else { "AND" };
                    let names = |set: Controls| set.iter().map(|c| c.graph_name()).collect::<Vec<_>>().join(", ");
                    if !d.satisfied.is_empty() {
                        out.push(format!("grant ({op}) satisfied: {}", names(d.satisfied)));
                    }
                    for control in d.missing.iter() {
                        out.push(format!("grant ({op}) missing: {}", self.why_missing(control, d)));
                    }
                    if d.grant_satisfied() && !d.missing.is_empty() {
                        out.push("OR grant: one satisfied control is enough".to_owned());
                    }
                }
                if let Some(factor) = d.reauthenticate {
                    let s = &self.policy.session;
                    let limit = match factor {
                        ReauthFactor::Primary => s.primary,
                        ReauthFactor::Mfa => s.secondary.or(s.primary),
                    };
                    let what = match factor {
                        ReauthFactor::Primary => "sign-in",
                        ReauthFactor::Mfa => "multifactor authentication",
                    };
                    match limit {
                        Some(FrequencyLimit { every_time: true, .. }) => {
                            out.push(format!("sign-in frequency every time: {what} must be repeated"))
                        }
                        Some(l) => out.push(format!(
                            "sign-in frequency {}: the last {what} is older",
                            describe_age(l.max_age_secs)
                        )),
                        None => {}
                    }
                }
            }
        }
        out
    }

    fn why_missing(&self, control: Control, d: &AppliedDetail) -> String {
        let name = control.graph_name();
        if !d.user && control != Control::Block {
            return format!("{name} (only block applies to workload identities; cannot be met)");
        }
        match control {
            Control::Mfa => format!("{name} (methods used: {})", describe_methods(d.methods)),
            Control::CompliantDevice => match d.device_compliant {
                Some(false) => format!("{name} (the device is not compliant)"),
                _ => format!("{name} (device compliance unknown)"),
            },
            Control::AuthenticationStrength => match &self.policy.grant.strength {
                Some(s) if s.usable.is_empty() => format!(
                    "authentication strength '{}' (no allowed combination can be met with Ostiary's methods)",
                    s.display_name.as_deref().unwrap_or(&s.id)
                ),
                Some(s) => format!(
                    "authentication strength '{}' (methods used: {})",
                    s.display_name.as_deref().unwrap_or(&s.id),
                    describe_methods(d.methods)
                ),
                None => name.to_owned(),
            },
            Control::PasswordChange | Control::RiskRemediation => {
                format!("{name} (no secure password change in this flow)")
            }
            Control::DomainJoinedDevice | Control::ApprovedApplication | Control::CompliantApplication => {
                format!("{name} (Ostiary cannot verify this; cannot be met)")
            }
            Control::Block | Control::Unknown => format!("{name} (cannot be met)"),
        }
    }
}

fn describe_methods(methods: AuthMethods) -> String {
    use crate::facts::AuthMethod::*;
    let list: Vec<&str> = [Password, SoftwareOath, Fido2, RecoveryCode]
        .into_iter()
        .filter(|m| methods.contains(*m))
        .map(|m| m.as_str())
        .collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

fn describe_age(secs: u64) -> String {
    if secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{} hours", secs / 3600)
    } else {
        format!("{secs} seconds")
    }
}

/// The result of [`PolicySet::evaluate`]. Owned (it keeps the set alive through an `Arc`), so
/// it can outlive the caller's handle on the tenant's cached set.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub session: SessionDecision,
    set: Arc<PolicySet>,
    rows: Vec<Row>,
}

#[derive(Debug, Clone)]
struct Row {
    result: PolicyResultKind,
    detail: Detail,
}

impl Evaluation {
    /// One result per policy, in the set's order.
    pub fn policies(&self) -> impl ExactSizeIterator<Item = PolicyResult<'_>> + '_ {
        self.set.policies.iter().zip(&self.rows).map(|(policy, row)| PolicyResult {
            id: &policy.id,
            display_name: &policy.display_name,
            result: row.result,
            enforced_grant_controls: &policy.grant_log_names,
            enforced_session_controls: &policy.session_log_names,
            detail: &row.detail,
            policy,
        })
    }

    pub fn policy(&self, id: &str) -> Option<PolicyResult<'_>> {
        self.policies().find(|p| p.id == id)
    }

    /// The sign-in's `conditionalAccessStatus`: `failure` when an enforced policy failed,
    /// `success` when enforced policies applied and all passed, else `notApplied`.
    pub fn conditional_access_status(&self) -> &'static str {
        let mut applied = false;
        for row in &self.rows {
            match row.result {
                PolicyResultKind::Failure => return "failure",
                PolicyResultKind::Success => applied = true,
                _ => {}
            }
        }
        if applied { "success" } else { "notApplied" }
    }

    /// The sign-in's `appliedConditionalAccessPolicies` as a JSON value.
    pub fn applied_policies_json(&self) -> Value {
        serde_json::to_value(self.applied_policies()).unwrap_or(Value::Array(Vec::new()))
    }

    /// The same array as a borrowed view that serializes straight into the log record, without
    /// building a `Value` first (the per-sign-in cost is then the writer's).
    pub fn applied_policies(&self) -> AppliedPolicies<'_> {
        AppliedPolicies(self)
    }
}

/// `appliedConditionalAccessPolicies`, serialized on demand. Entra lists a policy's configured
/// controls whatever its result, except for disabled policies.
#[derive(Debug, Clone, Copy)]
pub struct AppliedPolicies<'e>(&'e Evaluation);

impl Serialize for AppliedPolicies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.rows.len()))?;
        for p in self.0.policies() {
            let disabled = p.result == PolicyResultKind::NotEnabled;
            let empty: &[&str] = &[];
            seq.serialize_element(&AppliedPolicy {
                id: p.id,
                display_name: p.display_name,
                enforced_grant_controls: if disabled { empty } else { p.enforced_grant_controls },
                enforced_session_controls: if disabled { empty } else { p.enforced_session_controls },
                result: p.result.as_str(),
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppliedPolicy<'a> {
    id: &'a str,
    display_name: &'a str,
    enforced_grant_controls: &'a [&'a str],
    enforced_session_controls: &'a [&'a str],
    result: &'static str,
}

const INCLUDED: u8 = 1;
const EXCLUDED: u8 = 2;
const APP_INCLUDED: u8 = 4;
const APP_EXCLUDED: u8 = 8;

fn mark(hits: &mut [u8], index: &IdIndex, id: &Uuid, include: u8, exclude: u8) {
    let Some(postings) = index.get(id) else { return };
    for &i in &postings.include {
        if let Some(h) = hits.get_mut(i as usize) {
            *h |= include;
        }
    }
    for &i in &postings.exclude {
        if let Some(h) = hits.get_mut(i as usize) {
            *h |= exclude;
        }
    }
}

/// Per-evaluation facts shared by the policy loop.
struct Context<'f> {
    facts: &'f SignInFacts,
    place: Place,
    /// Bit per named location containing the sign-in.
    locations: Vec<u64>,
    first_trusted: Option<usize>,
    admin_portal: bool,
    office365: bool,
}

impl Context<'_> {
    fn in_location(&self, i: u32) -> bool {
        self.locations.get(i as usize / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

fn mask_has(mask: Option<u8>, bit: u8) -> bool {
    mask.is_none_or(|m| m & bit != 0)
}

impl PolicySet {
    /// Evaluates one sign-in. Pure and allocation-light: one `Vec` of results plus whatever the
    /// outcome needs. Takes the shared set so that the [`Evaluation`] can own a handle on it.
    pub fn evaluate(self: &Arc<Self>, facts: &SignInFacts) -> Evaluation {
        let mut hits = vec![0u8; self.policies.len()];
        match &facts.subject {
            Subject::User(user) => {
                mark(&mut hits, &self.users, &user.id, INCLUDED, EXCLUDED);
                for group in &user.group_ids {
                    mark(&mut hits, &self.groups, group, INCLUDED, EXCLUDED);
                }
                for role in &user.role_template_ids {
                    mark(&mut hits, &self.roles, role, INCLUDED, EXCLUDED);
                }
            }
            Subject::ServicePrincipal { id, app_id } => {
                // Entra lists object ids; an appId is accepted too (they never collide).
                mark(&mut hits, &self.service_principals, id, INCLUDED, EXCLUDED);
                if app_id != id {
                    mark(&mut hits, &self.service_principals, app_id, INCLUDED, EXCLUDED);
                }
            }
        }
        let (mut admin_portal, mut office365) = (false, false);
        if let (None, Some(app)) = (facts.user_action, &facts.resource_app_id) {
            mark(&mut hits, &self.apps, app, APP_INCLUDED, APP_EXCLUDED);
            admin_portal = self.admin_portal_apps.binary_search(app).is_ok();
            office365 = self.office365_apps.binary_search(app).is_ok();
        }

        let country = facts.country.as_deref().and_then(country_index);
        let place = Place { ip: facts.ip.map(|ip| ip.to_canonical()), country: country.map(country_from_index) };
        let mut ctx = Context { facts, place, locations: Vec::new(), first_trusted: None, admin_portal, office365 };
        if self.uses_locations {
            ctx.locations = vec![0u64; self.locations.len().div_ceil(64)];
            for (i, location) in self.locations.iter().enumerate() {
                if location.contains(place.ip, country) {
                    if let Some(word) = ctx.locations.get_mut(i / 64) {
                        *word |= 1 << (i % 64);
                    }
                    if location.trusted && ctx.first_trusted.is_none() {
                        ctx.first_trusted = Some(i);
                    }
                }
            }
        }

        let user = matches!(facts.subject, Subject::User(_));
        let mut results = Vec::with_capacity(self.policies.len());
        let mut blocked: Vec<String> = Vec::new();
        let mut requirements: Vec<Requirement> = Vec::new();
        let mut session = SessionDecision::default();
        for (i, policy) in self.policies.iter().enumerate() {
            let h = hits.get(i).copied().unwrap_or(0);
            let (result, detail) = if policy.mode == Mode::Disabled {
                (PolicyResultKind::NotEnabled, Detail::NotEnabled)
            } else {
                match self.conditions(policy, h, &ctx) {
                    Err(reason) => {
                        let kind = if policy.mode == Mode::ReportOnly {
                            PolicyResultKind::ReportOnlyNotApplied
                        } else {
                            PolicyResultKind::NotApplied
                        };
                        (kind, Detail::NotApplied(reason))
                    }
                    Ok(()) => {
                        let detail = applied(policy, facts, user);
                        let blocks = detail.missing.contains(Control::Block);
                        let granted = detail.grant_satisfied();
                        let kind = if policy.mode == Mode::Enforced {
                            if blocks {
                                blocked.push(policy.id.clone());
                            } else {
                                if !granted {
                                    policy_requirements(policy, &detail, &mut requirements);
                                }
                                absorb_session(&mut session, &policy.session, detail.reauthenticate);
                            }
                            if blocks || !granted || detail.reauthenticate.is_some() {
                                PolicyResultKind::Failure
                            } else {
                                PolicyResultKind::Success
                            }
                        } else if blocks || (!granted && grant_unsatisfiable(policy, &detail)) {
                            PolicyResultKind::ReportOnlyFailure
                        } else if !granted || detail.reauthenticate.is_some() {
                            PolicyResultKind::ReportOnlyInterrupted
                        } else {
                            PolicyResultKind::ReportOnlySuccess
                        };
                        (kind, Detail::Applied(detail))
                    }
                }
            };
            results.push(Row { result, detail });
        }

        if let Some(factor) = session.reauthenticate {
            let limit = match factor {
                ReauthFactor::Primary => session.sign_in_frequency,
                ReauthFactor::Mfa => session.mfa_frequency.or(session.sign_in_frequency),
            };
            let max_age_secs = limit.map_or(0, |l| l.max_age_secs);
            push_unique(&mut requirements, Requirement::Reauthenticate { factor, max_age_secs });
        }
        let outcome = if !blocked.is_empty() {
            Outcome::Block { policy_ids: blocked }
        } else if requirements.is_empty() {
            Outcome::Allow
        } else {
            Outcome::Interrupt { requirements }
        };
        Evaluation { outcome, session, set: Arc::clone(self), rows: results }
    }

    /// The first condition that fails, in Entra's order: assignments (users or workload
    /// identities, then target resources), then conditions.
    fn conditions(&self, p: &CompiledPolicy, hits: u8, ctx: &Context<'_>) -> Result<(), NotApplied> {
        let facts = ctx.facts;
        match &facts.subject {
            Subject::User(user) => {
                if p.workload {
                    return Err(NotApplied::TargetsWorkloadIdentities);
                }
                let included = p.users_all || (p.guests_include && user.is_guest) || hits & INCLUDED != 0;
                if !included {
                    return Err(NotApplied::UserNotIncluded);
                }
                if hits & EXCLUDED != 0 || (p.guests_exclude && user.is_guest) {
                    return Err(NotApplied::UserExcluded(user_exclusion(p, user)));
                }
            }
            Subject::ServicePrincipal { id, .. } => {
                if !p.workload {
                    return Err(NotApplied::TargetsUsers);
                }
                if !(p.sps_in_tenant || hits & INCLUDED != 0) {
                    return Err(NotApplied::ServicePrincipalNotIncluded(*id));
                }
                if hits & EXCLUDED != 0 {
                    return Err(NotApplied::ServicePrincipalExcluded(*id));
                }
            }
        }

        match (facts.user_action, facts.resource_app_id) {
            (Some(action), _) => {
                if p.actions & action.bit() == 0 {
                    return Err(NotApplied::UserActionNotIncluded(action));
                }
            }
            (None, Some(app)) => {
                let included = p.apps_all
                    || hits & APP_INCLUDED != 0
                    || (ctx.admin_portal && p.admin_portals_include)
                    || (ctx.office365 && p.office365_include);
                if !included {
                    return Err(NotApplied::ApplicationNotIncluded(app));
                }
                let by = if hits & APP_EXCLUDED != 0 {
                    Some(AppExclusion::Application)
                } else if ctx.admin_portal && p.admin_portals_exclude {
                    Some(AppExclusion::MicrosoftAdminPortals)
                } else if ctx.office365 && p.office365_exclude {
                    Some(AppExclusion::Office365)
                } else {
                    None
                };
                if let Some(by) = by {
                    return Err(NotApplied::ApplicationExcluded { app, by });
                }
            }
            (None, None) => return Err(NotApplied::NoCloudApp),
        }

        // Workload identities support only the location and service-principal-risk conditions.
        if matches!(facts.subject, Subject::User(_)) {
            if !mask_has(p.client_app_types, client_app_type_bit(facts.client_app_type)) {
                return Err(NotApplied::ClientAppTypeNotIncluded(facts.client_app_type));
            }
            if let Some(included) = p.include_platforms {
                match facts.platform {
                    None => return Err(NotApplied::PlatformUnknown { included: Platforms(included) }),
                    Some(platform) if included & platform.bit() == 0 => {
                        return Err(NotApplied::PlatformNotIncluded { platform, included: Platforms(included) });
                    }
                    Some(_) => {}
                }
            }
            if p.exclude_all_platforms || facts.platform.is_some_and(|pl| p.exclude_platforms & pl.bit() != 0) {
                return Err(NotApplied::PlatformExcluded { platform: facts.platform });
            }
        }

        if let Some(rule) = &p.include_locations
            && self.location_match(rule, ctx).is_none()
        {
            return Err(NotApplied::LocationNotIncluded { place: ctx.place });
        }
        if let Some(rule) = &p.exclude_locations
            && let Some(by) = self.location_match(rule, ctx)
        {
            return Err(NotApplied::LocationExcluded { by, place: ctx.place });
        }

        match &facts.subject {
            Subject::User(_) => {
                if !mask_has(p.sign_in_risk, facts.sign_in_risk.bit()) {
                    return Err(NotApplied::SignInRiskNotIncluded(facts.sign_in_risk));
                }
                if !mask_has(p.user_risk, facts.user_risk.bit()) {
                    return Err(NotApplied::UserRiskNotIncluded(facts.user_risk));
                }
            }
            Subject::ServicePrincipal { .. } => {
                if !mask_has(p.service_principal_risk, facts.service_principal_risk.bit()) {
                    return Err(NotApplied::ServicePrincipalRiskNotIncluded(facts.service_principal_risk));
                }
            }
        }
        Ok(())
    }

    fn location_match(&self, rule: &LocationRule, ctx: &Context<'_>) -> Option<LocationMatch> {
        if rule.all {
            return Some(LocationMatch::All);
        }
        if rule.all_trusted
            && let Some(i) = ctx.first_trusted
            && let Some(l) = self.locations.get(i)
        {
            return Some(LocationMatch::AllTrusted {
                location: Arc::clone(&l.display_name),
                by_country: l.is_country(),
            });
        }
        let i = *rule.ids.iter().find(|i| ctx.in_location(**i))?;
        let l = self.locations.get(i as usize)?;
        Some(LocationMatch::Named { location: Arc::clone(&l.display_name), by_country: l.is_country() })
    }
}

/// Names the exclusion that matched (cold path: only for excluded policies).
fn user_exclusion(p: &CompiledPolicy, user: &crate::facts::SubjectFacts) -> UserExclusion {
    if p.exclude_users.binary_search(&user.id).is_ok() {
        return UserExclusion::User(user.id);
    }
    if let Some(g) = user.group_ids.iter().find(|g| p.exclude_groups.binary_search(g).is_ok()) {
        return UserExclusion::Group(*g);
    }
    if let Some(r) = user.role_template_ids.iter().find(|r| p.exclude_roles.binary_search(r).is_ok()) {
        return UserExclusion::Role(*r);
    }
    UserExclusion::GuestsOrExternalUsers
}

fn control_satisfied(control: Control, p: &CompiledPolicy, facts: &SignInFacts, user: bool) -> bool {
    let auth = &facts.authentication;
    match control {
        Control::Block
        | Control::Unknown
        | Control::DomainJoinedDevice
        | Control::ApprovedApplication
        | Control::CompliantApplication => false,
        // For workload identities only block is meaningful; anything else cannot be met.
        _ if !user => false,
        Control::Mfa => auth.methods.satisfies_mfa(),
        Control::CompliantDevice => facts.device_compliant == Some(true),
        Control::PasswordChange | Control::RiskRemediation => auth.password_changed_in_flow,
        Control::AuthenticationStrength => {
            p.grant.strength.as_ref().is_some_and(|s| satisfies(auth.methods, &s.usable))
        }
    }
}

fn applied(p: &CompiledPolicy, facts: &SignInFacts, user: bool) -> AppliedDetail {
    let (mut satisfied, mut missing) = (Controls::default(), Controls::default());
    for &control in &p.grant.controls {
        if control_satisfied(control, p, facts, user) {
            satisfied.insert(control);
        } else {
            missing.insert(control);
        }
    }
    AppliedDetail {
        satisfied,
        missing,
        operator_or: p.grant.or,
        reauthenticate: if user { reauth_needed(&p.session, &facts.authentication) } else { None },
        methods: facts.authentication.methods,
        device_compliant: facts.device_compliant,
        user,
    }
}

fn reauth_needed(session: &CompiledSession, auth: &AuthenticationFacts) -> Option<ReauthFactor> {
    let mfa_older = |limit: FrequencyLimit| auth.secs_since_mfa.is_some_and(|age| age > limit.max_age_secs);
    if let Some(limit) = session.primary {
        if auth.secs_since_primary > limit.max_age_secs {
            return Some(ReauthFactor::Primary);
        }
        if mfa_older(limit) {
            return Some(ReauthFactor::Mfa);
        }
    }
    session.secondary.filter(|l| mfa_older(*l)).map(|_| ReauthFactor::Mfa)
}

fn stricter(a: Option<FrequencyLimit>, b: Option<FrequencyLimit>) -> Option<FrequencyLimit> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.max_age_secs < x.max_age_secs { y } else { x }),
        (x, y) => x.or(y),
    }
}

fn absorb_session(out: &mut SessionDecision, s: &CompiledSession, reauth: Option<ReauthFactor>) {
    out.sign_in_frequency = stricter(out.sign_in_frequency, s.primary);
    out.mfa_frequency = stricter(out.mfa_frequency, s.secondary);
    out.persistent_browser = match (out.persistent_browser, s.persistent_browser) {
        (Some(BrowserPersistence::Never), _) | (_, Some(BrowserPersistence::Never)) => Some(BrowserPersistence::Never),
        (a, b) => a.or(b),
    };
    out.reauthenticate = match (out.reauthenticate, reauth) {
        (Some(ReauthFactor::Primary), _) | (_, Some(ReauthFactor::Primary)) => Some(ReauthFactor::Primary),
        (a, b) => a.or(b),
    };
}

pub(crate) fn interactive(control: Control, p: &CompiledPolicy, user: bool) -> bool {
    user && match control {
        Control::Mfa | Control::PasswordChange | Control::RiskRemediation => true,
        Control::AuthenticationStrength => p.grant.strength.as_ref().is_some_and(|s| !s.usable.is_empty()),
        _ => false,
    }
}

/// Whether an unmet grant cannot be met interactively (report-only: failure vs interrupted).
fn grant_unsatisfiable(p: &CompiledPolicy, d: &AppliedDetail) -> bool {
    if d.operator_or {
        !d.missing.iter().any(|c| interactive(c, p, d.user))
    } else {
        d.missing.iter().any(|c| !interactive(c, p, d.user))
    }
}

fn requirement(control: Control, p: &CompiledPolicy, user: bool) -> Requirement {
    if !interactive(control, p, user) {
        return Requirement::Unsatisfiable { control };
    }
    match control {
        Control::Mfa => Requirement::Mfa,
        Control::AuthenticationStrength => match &p.grant.strength {
            Some(s) => Requirement::AuthenticationStrength {
                id: s.id.clone(),
                display_name: s.display_name.clone(),
                allowed_combinations: s.combinations.clone(),
            },
            None => Requirement::Unsatisfiable { control },
        },
        Control::PasswordChange | Control::RiskRemediation => Requirement::PasswordChange,
        _ => Requirement::Unsatisfiable { control },
    }
}

fn push_unique(out: &mut Vec<Requirement>, r: Requirement) {
    if !out.contains(&r) {
        out.push(r);
    }
}

fn policy_requirements(p: &CompiledPolicy, d: &AppliedDetail, out: &mut Vec<Requirement>) {
    // Policy order, so that requirements read in the order the admin wrote the controls.
    let missing = p.grant.controls.iter().copied().filter(|c| d.missing.contains(*c));
    if !d.operator_or {
        for control in missing {
            push_unique(out, requirement(control, p, d.user));
        }
        return;
    }
    let mut options: Vec<Requirement> = Vec::new();
    let mut first_missing = None;
    for control in missing {
        first_missing.get_or_insert(control);
        let r = requirement(control, p, d.user);
        if r.is_satisfiable() && !options.contains(&r) {
            options.push(r);
        }
    }
    match options.len() {
        0 => push_unique(out, Requirement::Unsatisfiable { control: first_missing.unwrap_or(Control::Unknown) }),
        1 => {
            for r in options {
                push_unique(out, r);
            }
        }
        _ => push_unique(out, Requirement::OneOf(options)),
    }
}
