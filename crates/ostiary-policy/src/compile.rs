//! Turns Graph policies and named locations into a [`PolicySet`] that evaluates without parsing
//! or walking lists: ids are indexed (id → the policies that include or exclude it), CIDRs are
//! merged into sorted integer ranges, countries become bit sets, enum lists become bit masks.
//!
//! Compilation never fails. Input that validation would reject (bad GUIDs, unknown enum values,
//! unknown location ids) is compiled so that it can only make a policy stricter where that is
//! possible: an unknown grant control is unsatisfiable, an unmatchable include matches nothing,
//! an unmatchable exclude excludes nothing. Each such case is recorded in
//! [`PolicySet::warnings`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use uuid::{Uuid, uuid};

use crate::enums::{
    ConditionalAccessClientApp, ConditionalAccessDevicePlatform, ConditionalAccessGrantControl,
    ConditionalAccessRiskLevel, GrantOperator, PersistentBrowserMode, PolicyState, SignInFrequencyAuthenticationType,
    SignInFrequencyInterval, SignInFrequencyType,
};
use crate::error::shown;
use crate::facts::{AuthMethods, ClientAppType, Platform, RiskLevel, UserAction};
use crate::location::{NamedLocation, country_index};
use crate::model::{self, ConditionalAccessPolicy, items};
use crate::strength::{built_in_strength, combination_methods};

/// Microsoft Graph's appId; Ostiary serves Graph under it.
pub const MICROSOFT_GRAPH_APP_ID: Uuid = uuid!("00000003-0000-0000-c000-000000000000");

/// Entra's "every time" sign-in frequency tolerates five minutes of clock skew, so a session
/// younger than this does not re-prompt.
pub const EVERY_TIME_TOLERANCE_SECS: u64 = 300;

/// What the app-group keywords of `includeApplications` stand for in this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// `MicrosoftAdminPortals`: Ostiary's admin API is Graph, so by default this is
    /// [`MICROSOFT_GRAPH_APP_ID`]; add the admin UI's and CLI's app ids.
    pub admin_portal_app_ids: Vec<Uuid>,
    /// `Office365`: empty by default (no Microsoft 365 apps run against Ostiary).
    pub office365_app_ids: Vec<Uuid>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self { admin_portal_app_ids: vec![MICROSOFT_GRAPH_APP_ID], office365_app_ids: Vec::new() }
    }
}

/// Compiled policies and locations. Immutable, `Send + Sync`; share it in an `Arc` and
/// recompile when a policy or location changes.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub(crate) policies: Vec<CompiledPolicy>,
    pub(crate) locations: Vec<CompiledLocation>,
    pub(crate) users: IdIndex,
    pub(crate) groups: IdIndex,
    pub(crate) roles: IdIndex,
    pub(crate) apps: IdIndex,
    pub(crate) service_principals: IdIndex,
    pub(crate) admin_portal_apps: Vec<Uuid>,
    pub(crate) office365_apps: Vec<Uuid>,
    /// Whether any evaluated policy has a location condition (else IP lookups are skipped).
    pub(crate) uses_locations: bool,
    pub(crate) warnings: Vec<String>,
}

/// Ids are directory GUIDs chosen by the directory, not by callers, so a fixed fast hash is
/// safe and keeps the crate free of a randomness source (std's `RandomState` reads the OS).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's fmix64: the table indexes by the low bits, and sequential GUIDs differ
        // only in their last bytes, which the multiply above leaves in the high bits.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub(crate) type IdIndex = HashMap<Uuid, Postings, BuildHasherDefault<IdHasher>>;

/// The policies (by index) whose include or exclude list names one id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Postings {
    pub include: Vec<u32>,
    pub exclude: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Enforced,
    ReportOnly,
    Disabled,
}

/// A grant control as evaluated (the built-in ones plus an authentication strength).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    Block,
    Mfa,
    CompliantDevice,
    DomainJoinedDevice,
    ApprovedApplication,
    CompliantApplication,
    PasswordChange,
    RiskRemediation,
    AuthenticationStrength,
    /// A value Entra does not define (an unvalidated policy): never satisfied.
    Unknown,
}

impl Control {
    /// Graph's `builtInControls` spelling (`authenticationStrength` for a strength).
    pub fn graph_name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Mfa => "mfa",
            Self::CompliantDevice => "compliantDevice",
            Self::DomainJoinedDevice => "domainJoinedDevice",
            Self::ApprovedApplication => "approvedApplication",
            Self::CompliantApplication => "compliantApplication",
            Self::PasswordChange => "passwordChange",
            Self::RiskRemediation => "riskRemediation",
            Self::AuthenticationStrength => "authenticationStrength",
            Self::Unknown => "unknown",
        }
    }

    /// The sign-in log's `enforcedGrantControls` spelling.
    pub fn log_name(self) -> &'static str {
        match self {
            Self::Block => "Block",
            Self::Mfa => "Mfa",
            Self::CompliantDevice => "RequireCompliantDevice",
            Self::DomainJoinedDevice => "RequireDomainJoinedDevice",
            Self::ApprovedApplication => "RequireApprovedApp",
            Self::CompliantApplication => "RequireCompliantApp",
            Self::PasswordChange => "RequirePasswordChange",
            Self::RiskRemediation => "RequireRiskRemediation",
            Self::AuthenticationStrength => "RequireAuthenticationStrength",
            Self::Unknown => "Unknown",
        }
    }

    /// The AADSTS code when this control cannot be met.
    pub fn aadsts(self) -> u32 {
        match self {
            Self::CompliantDevice => 53000,
            Self::DomainJoinedDevice => 53001,
            Self::ApprovedApplication | Self::CompliantApplication => 53002,
            // MFA, a strength or a password change that cannot be met here (a workload
            // identity, a strength with no usable combination) is a plain CA block.
            _ => 53003,
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub(crate) const ALL: [Control; 10] = [
        Self::Block,
        Self::Mfa,
        Self::CompliantDevice,
        Self::DomainJoinedDevice,
        Self::ApprovedApplication,
        Self::CompliantApplication,
        Self::PasswordChange,
        Self::RiskRemediation,
        Self::AuthenticationStrength,
        Self::Unknown,
    ];

    fn from_wire(control: &ConditionalAccessGrantControl) -> Self {
        match control {
            ConditionalAccessGrantControl::Block => Self::Block,
            ConditionalAccessGrantControl::Mfa => Self::Mfa,
            ConditionalAccessGrantControl::CompliantDevice => Self::CompliantDevice,
            ConditionalAccessGrantControl::DomainJoinedDevice => Self::DomainJoinedDevice,
            ConditionalAccessGrantControl::ApprovedApplication => Self::ApprovedApplication,
            ConditionalAccessGrantControl::CompliantApplication => Self::CompliantApplication,
            ConditionalAccessGrantControl::PasswordChange => Self::PasswordChange,
            ConditionalAccessGrantControl::RiskRemediation => Self::RiskRemediation,
            ConditionalAccessGrantControl::Unknown(_) => Self::Unknown,
        }
    }
}

/// A set of [`Control`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Controls(pub(crate) u16);

impl Controls {
    pub fn contains(self, control: Control) -> bool {
        self.0 & control.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Control> {
        Control::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    pub(crate) fn insert(&mut self, control: Control) {
        self.0 |= control.bit();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledStrength {
    pub id: String,
    pub display_name: Option<String>,
    /// As configured (Entra spelling), for the interactive requirement.
    pub combinations: Vec<String>,
    /// The combinations Ostiary's methods can meet.
    pub usable: Vec<AuthMethods>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledGrant {
    pub or: bool,
    /// In policy order, the strength last.
    pub controls: Vec<Control>,
    pub strength: Option<CompiledStrength>,
}

/// A sign-in frequency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyLimit {
    /// `everyTime`: re-authenticate unless within [`EVERY_TIME_TOLERANCE_SECS`].
    pub every_time: bool,
    pub max_age_secs: u64,
}

/// `persistentBrowser.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserPersistence {
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompiledSession {
    /// `primaryAndSecondaryAuthentication` (the default).
    pub primary: Option<FrequencyLimit>,
    /// `secondaryAuthentication`: only the MFA is re-asked.
    pub secondary: Option<FrequencyLimit>,
    pub persistent_browser: Option<BrowserPersistence>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LocationRule {
    pub all: bool,
    pub all_trusted: bool,
    /// Indices into [`PolicySet::locations`].
    pub ids: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledPolicy {
    pub id: String,
    pub display_name: String,
    pub mode: Mode,
    pub workload: bool,
    pub users_all: bool,
    pub guests_include: bool,
    pub guests_exclude: bool,
    /// Sorted, for naming the exclusion in an explanation.
    pub exclude_users: Vec<Uuid>,
    pub exclude_groups: Vec<Uuid>,
    pub exclude_roles: Vec<Uuid>,
    pub sps_in_tenant: bool,
    pub apps_all: bool,
    pub admin_portals_include: bool,
    pub admin_portals_exclude: bool,
    pub office365_include: bool,
    pub office365_exclude: bool,
    pub actions: u8,
    /// `None` = any client app type.
    pub client_app_types: Option<u8>,
    /// `None` = any platform, unknown included.
    pub include_platforms: Option<u8>,
    pub exclude_platforms: u8,
    pub exclude_all_platforms: bool,
    pub include_locations: Option<LocationRule>,
    pub exclude_locations: Option<LocationRule>,
    pub sign_in_risk: Option<u8>,
    pub user_risk: Option<u8>,
    pub service_principal_risk: Option<u8>,
    pub grant: CompiledGrant,
    pub session: CompiledSession,
    pub grant_log_names: Vec<&'static str>,
    pub session_log_names: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub(crate) enum LocationKind {
    /// Merged, sorted, inclusive ranges.
    Ip { v4: Vec<(u32, u32)>, v6: Vec<(u128, u128)> },
    /// `AA`..`ZZ` bit set.
    Country { set: [u64; 11], include_unknown: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledLocation {
    /// Shared with the reasons that name it.
    pub display_name: Arc<str>,
    pub trusted: bool,
    pub kind: LocationKind,
}

impl CompiledLocation {
    pub fn contains(&self, ip: Option<IpAddr>, country: Option<u16>) -> bool {
        match &self.kind {
            LocationKind::Ip { v4, v6 } => match ip {
                Some(IpAddr::V4(a)) => in_ranges(v4, u32::from(a)),
                Some(IpAddr::V6(a)) => in_ranges(v6, u128::from(a)),
                None => false,
            },
            LocationKind::Country { set, include_unknown } => match country {
                Some(i) => set.get(usize::from(i / 64)).is_some_and(|w| w & (1 << (i % 64)) != 0),
                None => *include_unknown,
            },
        }
    }

    pub fn is_country(&self) -> bool {
        matches!(self.kind, LocationKind::Country { .. })
    }
}

fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let after = ranges.partition_point(|r| r.0 <= x);
    after > 0 && ranges.get(after - 1).is_some_and(|r| x <= r.1)
}

fn merge_ranges<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            // Overlapping or adjacent: extend.
            Some(last) if next(last.1).is_none_or(|n| start <= n) => {
                if end > last.1 {
                    last.1 = end;
                }
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn client_app_bit(app: &ConditionalAccessClientApp) -> u8 {
    match app {
        ConditionalAccessClientApp::Browser => 1,
        ConditionalAccessClientApp::MobileAppsAndDesktopClients => 2,
        ConditionalAccessClientApp::Other => 4,
        // Ostiary has no Exchange ActiveSync; these never match a sign-in here.
        _ => 0,
    }
}

pub(crate) fn client_app_type_bit(t: ClientAppType) -> u8 {
    match t {
        ClientAppType::Browser => 1,
        ClientAppType::MobileAppsAndDesktopClients => 2,
        ClientAppType::Other => 4,
    }
}

fn platform_bit(p: &ConditionalAccessDevicePlatform) -> u8 {
    match p {
        ConditionalAccessDevicePlatform::Android => Platform::Android.bit(),
        ConditionalAccessDevicePlatform::IOs => Platform::IOs.bit(),
        ConditionalAccessDevicePlatform::Windows => Platform::Windows.bit(),
        ConditionalAccessDevicePlatform::WindowsPhone => Platform::WindowsPhone.bit(),
        ConditionalAccessDevicePlatform::MacOs => Platform::MacOs.bit(),
        ConditionalAccessDevicePlatform::Linux => Platform::Linux.bit(),
        ConditionalAccessDevicePlatform::All | ConditionalAccessDevicePlatform::Unknown(_) => 0,
    }
}

fn risk_mask(levels: &[ConditionalAccessRiskLevel]) -> Option<u8> {
    if levels.is_empty() {
        return None;
    }
    Some(levels.iter().fold(0, |mask, level| {
        mask | match level {
            ConditionalAccessRiskLevel::None => RiskLevel::None.bit(),
            ConditionalAccessRiskLevel::Low => RiskLevel::Low.bit(),
            ConditionalAccessRiskLevel::Medium => RiskLevel::Medium.bit(),
            ConditionalAccessRiskLevel::High => RiskLevel::High.bit(),
            ConditionalAccessRiskLevel::Hidden | ConditionalAccessRiskLevel::Unknown(_) => 0,
        }
    }))
}

struct Compiler {
    set: PolicySet,
    location_ids: HashMap<String, u32>,
}

impl PolicySet {
    /// Compiles with [`CompileOptions::default`].
    pub fn compile(policies: &[ConditionalAccessPolicy], locations: &[NamedLocation]) -> PolicySet {
        Self::compile_with(policies, locations, &CompileOptions::default())
    }

    pub fn compile_with(
        policies: &[ConditionalAccessPolicy],
        locations: &[NamedLocation],
        options: &CompileOptions,
    ) -> PolicySet {
        let mut admin_portal_apps = options.admin_portal_app_ids.clone();
        admin_portal_apps.sort_unstable();
        let mut office365_apps = options.office365_app_ids.clone();
        office365_apps.sort_unstable();
        let mut compiler = Compiler {
            set: PolicySet {
                policies: Vec::with_capacity(policies.len()),
                locations: Vec::with_capacity(locations.len()),
                users: IdIndex::default(),
                groups: IdIndex::default(),
                roles: IdIndex::default(),
                apps: IdIndex::default(),
                service_principals: IdIndex::default(),
                admin_portal_apps,
                office365_apps,
                uses_locations: false,
                warnings: Vec::new(),
            },
            location_ids: HashMap::new(),
        };
        for location in locations {
            compiler.location(location);
        }
        for policy in policies {
            compiler.policy(policy);
        }
        compiler.set
    }

    /// Problems found while compiling input that validation would have rejected.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

impl Compiler {
    fn warn(&mut self, message: String) {
        // Bounded: hostile input must not turn warnings into a memory sink.
        if self.set.warnings.len() < 1000 {
            self.set.warnings.push(message);
        }
    }

    fn location(&mut self, location: &NamedLocation) {
        let kind = match location {
            NamedLocation::Ip(ip) => {
                let (mut v4, mut v6) = (Vec::new(), Vec::new());
                for range in items(&ip.ip_ranges) {
                    let Some(cidr) = range.cidr_address() else { continue };
                    // Entra accepts host bits (`12.34.221.11/22`); the network is what counts.
                    match cidr.trim().parse::<IpNet>() {
                        Ok(IpNet::V4(net)) => v4.push((u32::from(net.network()), u32::from(net.broadcast()))),
                        Ok(IpNet::V6(net)) => v6.push((u128::from(net.network()), u128::from(net.broadcast()))),
                        Err(_) => self.warn(format!(
                            "named location '{}': ignoring invalid cidrAddress '{}'",
                            shown(&ip.display_name),
                            shown(cidr)
                        )),
                    }
                }
                LocationKind::Ip {
                    v4: merge_ranges(v4, |x: u32| x.checked_add(1)),
                    v6: merge_ranges(v6, |x: u128| x.checked_add(1)),
                }
            }
            NamedLocation::Country(c) => {
                let mut set = [0u64; 11];
                for code in items(&c.countries_and_regions) {
                    match country_index(code) {
                        Some(i) => {
                            if let Some(word) = set.get_mut(usize::from(i / 64)) {
                                *word |= 1 << (i % 64);
                            }
                        }
                        None => self.warn(format!(
                            "named location '{}': ignoring invalid country '{}'",
                            shown(&c.display_name),
                            shown(code)
                        )),
                    }
                }
                LocationKind::Country { set, include_unknown: c.include_unknown_countries_and_regions == Some(true) }
            }
        };
        let index = self.set.locations.len() as u32;
        self.location_ids.entry(location.id().to_ascii_lowercase()).or_insert(index);
        self.set.locations.push(CompiledLocation {
            display_name: Arc::from(location.display_name()),
            trusted: location.is_trusted(),
            kind,
        });
    }

    /// Parses ids, sending specials to `special` and warning about the rest.
    fn ids(
        &mut self,
        policy: &str,
        property: &str,
        values: &[String],
        mut special: impl FnMut(&str) -> bool,
    ) -> Vec<Uuid> {
        let mut out = Vec::with_capacity(values.len());
        for value in values {
            if special(value) {
                continue;
            }
            match Uuid::parse_str(value) {
                Ok(id) => out.push(id),
                Err(_) => self.warn(format!(
                    "policy '{}': {property} value '{}' is not a GUID; ignored",
                    shown(policy),
                    shown(value)
                )),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn post(index: &mut IdIndex, ids: &[Uuid], policy: u32, include: bool) {
        for id in ids {
            let postings = index.entry(*id).or_default();
            if include { postings.include.push(policy) } else { postings.exclude.push(policy) }
        }
    }

    fn location_rule(&mut self, policy: &str, property: &str, values: &Option<Vec<String>>) -> Option<LocationRule> {
        let values = items(values);
        if values.is_empty() {
            return None;
        }
        let mut rule = LocationRule::default();
        for value in values {
            if value == model::ALL {
                rule.all = true;
            } else if value == model::ALL_TRUSTED {
                rule.all_trusted = true;
            } else if let Some(&i) = self.location_ids.get(&value.to_ascii_lowercase()) {
                rule.ids.push(i);
            } else {
                self.warn(format!(
                    "policy '{}': {property} names unknown location '{}', which never matches",
                    shown(policy),
                    shown(value)
                ));
            }
        }
        rule.ids.sort_unstable();
        rule.ids.dedup();
        Some(rule)
    }

    fn policy(&mut self, policy: &ConditionalAccessPolicy) {
        let index = self.set.policies.len() as u32;
        let name = policy.display_name.as_str();
        let c = &policy.conditions;
        let mode = match &policy.state {
            PolicyState::Enabled => Mode::Enforced,
            PolicyState::EnabledForReportingButNotEnforced => Mode::ReportOnly,
            PolicyState::Disabled => Mode::Disabled,
            PolicyState::Unknown(state) => {
                self.warn(format!("policy '{}': unknown state '{}'; treated as disabled", shown(name), shown(state)));
                Mode::Disabled
            }
        };
        // Disabled policies are never evaluated, so they stay out of the indexes.
        let indexed = mode != Mode::Disabled;

        let users = c.users.clone().unwrap_or_default();
        let (mut users_all, mut guests_include, mut guests_exclude) = (false, false, false);
        let include_users = self.ids(name, "includeUsers", items(&users.include_users), |v| match v {
            model::ALL => {
                users_all = true;
                true
            }
            model::GUESTS_OR_EXTERNAL_USERS => {
                guests_include = true;
                true
            }
            model::NONE => true,
            _ => false,
        });
        let exclude_users = self.ids(name, "excludeUsers", items(&users.exclude_users), |v| match v {
            model::GUESTS_OR_EXTERNAL_USERS => {
                guests_exclude = true;
                true
            }
            _ => false,
        });
        let include_groups = self.ids(name, "includeGroups", items(&users.include_groups), |_| false);
        let exclude_groups = self.ids(name, "excludeGroups", items(&users.exclude_groups), |_| false);
        let include_roles = self.ids(name, "includeRoles", items(&users.include_roles), |_| false);
        let exclude_roles = self.ids(name, "excludeRoles", items(&users.exclude_roles), |_| false);

        let client_apps = c.client_applications.clone().unwrap_or_default();
        let mut sps_in_tenant = false;
        let include_sps =
            self.ids(name, "includeServicePrincipals", items(&client_apps.include_service_principals), |v| {
                if v == model::SERVICE_PRINCIPALS_IN_MY_TENANT {
                    sps_in_tenant = true;
                    true
                } else {
                    false
                }
            });
        let exclude_sps =
            self.ids(name, "excludeServicePrincipals", items(&client_apps.exclude_service_principals), |_| false);
        let workload = !items(&client_apps.include_service_principals).is_empty();

        let apps = c.applications.clone().unwrap_or_default();
        let (mut apps_all, mut admin_in, mut admin_ex, mut o365_in, mut o365_ex) = (false, false, false, false, false);
        let include_apps = self.ids(name, "includeApplications", items(&apps.include_applications), |v| match v {
            model::ALL => {
                apps_all = true;
                true
            }
            model::MICROSOFT_ADMIN_PORTALS => {
                admin_in = true;
                true
            }
            model::OFFICE_365 => {
                o365_in = true;
                true
            }
            model::NONE => true,
            _ => false,
        });
        let exclude_apps = self.ids(name, "excludeApplications", items(&apps.exclude_applications), |v| match v {
            model::MICROSOFT_ADMIN_PORTALS => {
                admin_ex = true;
                true
            }
            model::OFFICE_365 => {
                o365_ex = true;
                true
            }
            _ => false,
        });
        let mut actions = 0u8;
        for action in items(&apps.include_user_actions) {
            match UserAction::parse(action) {
                Some(a) => actions |= a.bit(),
                None => self.warn(format!("policy '{}': unknown user action '{}' ignored", shown(name), shown(action))),
            }
        }

        let client_app_types = {
            let list = items(&c.client_app_types);
            if list.is_empty() || list.contains(&ConditionalAccessClientApp::All) {
                None
            } else {
                Some(list.iter().fold(0, |m, a| m | client_app_bit(a)))
            }
        };

        let platforms = c.platforms.clone().unwrap_or_default();
        let include_platforms = {
            let list = items(&platforms.include_platforms);
            if list.is_empty() || list.contains(&ConditionalAccessDevicePlatform::All) {
                None
            } else {
                Some(list.iter().fold(0, |m, p| m | platform_bit(p)))
            }
        };
        let exclude_list = items(&platforms.exclude_platforms);
        let exclude_platforms = exclude_list.iter().fold(0, |m, p| m | platform_bit(p));
        let exclude_all_platforms = exclude_list.contains(&ConditionalAccessDevicePlatform::All);

        let locations = c.locations.clone().unwrap_or_default();
        let include_locations = self.location_rule(name, "includeLocations", &locations.include_locations);
        let exclude_locations = self.location_rule(name, "excludeLocations", &locations.exclude_locations);
        if indexed && (include_locations.is_some() || exclude_locations.is_some()) {
            self.set.uses_locations = true;
        }

        let grant = self.grant(name, policy);
        let session = self.session(name, policy);
        let mut grant_log_names: Vec<&'static str> = grant.controls.iter().map(|c| c.log_name()).collect();
        grant_log_names.dedup();
        let mut session_log_names = Vec::new();
        if session.primary.is_some() || session.secondary.is_some() {
            session_log_names.push("SignInFrequency");
        }
        if session.persistent_browser.is_some() {
            session_log_names.push("PersistentBrowserSessionMode");
        }

        if indexed {
            Self::post(&mut self.set.users, &include_users, index, true);
            Self::post(&mut self.set.users, &exclude_users, index, false);
            Self::post(&mut self.set.groups, &include_groups, index, true);
            Self::post(&mut self.set.groups, &exclude_groups, index, false);
            Self::post(&mut self.set.roles, &include_roles, index, true);
            Self::post(&mut self.set.roles, &exclude_roles, index, false);
            Self::post(&mut self.set.service_principals, &include_sps, index, true);
            Self::post(&mut self.set.service_principals, &exclude_sps, index, false);
            Self::post(&mut self.set.apps, &include_apps, index, true);
            Self::post(&mut self.set.apps, &exclude_apps, index, false);
        }

        self.set.policies.push(CompiledPolicy {
            id: policy.id.clone(),
            display_name: policy.display_name.clone(),
            mode,
            workload,
            users_all,
            guests_include,
            guests_exclude,
            exclude_users,
            exclude_groups,
            exclude_roles,
            sps_in_tenant,
            apps_all,
            admin_portals_include: admin_in,
            admin_portals_exclude: admin_ex,
            office365_include: o365_in,
            office365_exclude: o365_ex,
            actions,
            client_app_types,
            include_platforms,
            exclude_platforms,
            exclude_all_platforms,
            include_locations,
            exclude_locations,
            sign_in_risk: risk_mask(items(&c.sign_in_risk_levels)),
            user_risk: risk_mask(items(&c.user_risk_levels)),
            service_principal_risk: risk_mask(items(&c.service_principal_risk_levels)),
            grant,
            session,
            grant_log_names,
            session_log_names,
        });
    }

    fn grant(&mut self, name: &str, policy: &ConditionalAccessPolicy) -> CompiledGrant {
        let Some(grant) = &policy.grant_controls else { return CompiledGrant::default() };
        let mut controls: Vec<Control> = Vec::new();
        for control in items(&grant.built_in_controls) {
            let c = Control::from_wire(control);
            if c == Control::Unknown {
                self.warn(format!(
                    "policy '{}': unknown grant control '{}' can never be satisfied",
                    shown(name),
                    shown(control.as_str())
                ));
            }
            if !controls.contains(&c) {
                controls.push(c);
            }
        }
        let strength = grant.authentication_strength.as_ref().map(|s| {
            let built_in = built_in_strength(&s.id);
            let combinations: Vec<String> = match (s.allowed_combinations(), built_in) {
                (Some(inline), _) => inline.into_iter().map(str::to_owned).collect(),
                (None, Some(b)) => b.allowed_combinations.iter().map(|c| (*c).to_owned()).collect(),
                (None, None) => Vec::new(),
            };
            let usable: Vec<AuthMethods> = combinations.iter().filter_map(|c| combination_methods(c)).collect();
            let display_name = s
                .extra
                .get("displayName")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .or_else(|| built_in.map(|b| b.display_name.to_owned()));
            CompiledStrength { id: s.id.clone(), display_name, combinations, usable }
        });
        if let Some(s) = &strength {
            controls.push(Control::AuthenticationStrength);
            if s.usable.is_empty() {
                self.warn(format!(
                    "policy '{}': authentication strength '{}' has no combination Ostiary's methods can meet",
                    shown(name),
                    shown(&s.id)
                ));
            }
        }
        // Entra requires an operator with several controls; without one, AND is the safe reading.
        let or = grant.operator == Some(GrantOperator::Or);
        CompiledGrant { or, controls, strength }
    }

    fn session(&mut self, name: &str, policy: &ConditionalAccessPolicy) -> CompiledSession {
        let mut out = CompiledSession::default();
        let Some(session) = &policy.session_controls else { return out };
        if let Some(f) = &session.sign_in_frequency
            && f.is_enabled != Some(false)
        {
            let limit = match (&f.frequency_interval, f.value, &f.kind) {
                (Some(SignInFrequencyInterval::EveryTime), _, _) => {
                    Some(FrequencyLimit { every_time: true, max_age_secs: EVERY_TIME_TOLERANCE_SECS })
                }
                (_, Some(value), Some(kind)) if value > 0 => {
                    let unit: u64 = match kind {
                        SignInFrequencyType::Hours => 3600,
                        SignInFrequencyType::Days => 86_400,
                        SignInFrequencyType::Unknown(_) => 0,
                    };
                    (unit > 0).then(|| FrequencyLimit {
                        every_time: false,
                        max_age_secs: (value as u64).saturating_mul(unit),
                    })
                }
                _ => None,
            };
            match limit {
                Some(limit) => {
                    if f.authentication_type == Some(SignInFrequencyAuthenticationType::SecondaryAuthentication) {
                        out.secondary = Some(limit);
                    } else {
                        out.primary = Some(limit);
                    }
                }
                None => self.warn(format!("policy '{}': signInFrequency is incomplete; ignored", shown(name))),
            }
        }
        if let Some(p) = &session.persistent_browser
            && p.is_enabled != Some(false)
        {
            out.persistent_browser = match &p.mode {
                Some(PersistentBrowserMode::Always) => Some(BrowserPersistence::Always),
                Some(PersistentBrowserMode::Never) => Some(BrowserPersistence::Never),
                _ => None,
            };
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_lookup() {
        let merged = merge_ranges(vec![(10u32, 20), (21, 30), (5, 12), (40, 50), (45, 45)], |x| x.checked_add(1));
        assert_eq!(merged, vec![(5, 30), (40, 50)]);
        for (x, hit) in [(4, false), (5, true), (30, true), (31, false), (40, true), (50, true), (51, false)] {
            assert_eq!(in_ranges(&merged, x), hit, "{x}");
        }
        let full = merge_ranges(vec![(0u32, u32::MAX), (7, 9)], |x| x.checked_add(1));
        assert_eq!(full, vec![(0, u32::MAX)]);
        assert!(!in_ranges::<u32>(&[], 1));
    }

    #[test]
    fn sequential_guids_spread_over_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut buckets = std::collections::HashSet::new();
        for n in 0..4096u128 {
            let id = Uuid::from_u128(0x2000_0000_0000_4000_8000_0000_0000_0000 + n);
            buckets.insert(build.hash_one(id) & 1023);
        }
        // A uniform hash fills ~98% of 1024 buckets with 4096 keys.
        assert!(buckets.len() > 950, "{}", buckets.len());
    }

    #[test]
    fn set_is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<PolicySet>();
        assert::<crate::Evaluation>();
    }
}
