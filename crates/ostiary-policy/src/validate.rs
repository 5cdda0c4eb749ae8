//! Entra's write-time rules for policies and named locations, returning the first problem as a
//! [`PolicyError`] whose message fits a Graph 400.

use ipnet::IpNet;
use uuid::Uuid;

use crate::enums::{
    ConditionalAccessClientApp, ConditionalAccessDevicePlatform, ConditionalAccessGrantControl,
    ConditionalAccessRiskLevel, CountryLookupMethod, GrantOperator, PersistentBrowserMode, PolicyState,
    SignInFrequencyAuthenticationType, SignInFrequencyInterval, SignInFrequencyType,
};
use crate::error::{PolicyError, shown};
use crate::location::{IPV4_CIDR_RANGE, IPV6_CIDR_RANGE, NamedLocation, is_country_code};
use crate::model::{self, ConditionalAccessPolicy, GrantControls, SessionControls, items};

/// Entries per id list. Entra documents no number; this bounds hostile input while leaving
/// room for any real configuration.
pub const MAX_LIST_ENTRIES: usize = 5000;
/// Entra's limit on IP ranges per named location.
pub const MAX_IP_RANGES: usize = 2000;

macro_rules! check_enum {
    ($property:expr, $value:expr, $ty:ident) => {
        match $value {
            $ty::Unknown(text) if text.is_empty() => {
                return Err(PolicyError::Missing { property: $property });
            }
            $ty::Unknown(text) => {
                return Err(PolicyError::InvalidEnumValue {
                    property: $property,
                    value: shown(text),
                    allowed: $ty::VALUES.join(", "),
                });
            }
            _ => {}
        }
    };
}

fn check_len(property: &'static str, list: &[impl Sized], max: usize) -> Result<(), PolicyError> {
    if list.len() > max {
        return Err(PolicyError::TooMany { property, count: list.len(), max });
    }
    Ok(())
}

/// Each value is a GUID or one of `specials`.
fn check_ids(
    property: &'static str,
    values: &[String],
    specials: &[&str],
    reason: &'static str,
) -> Result<(), PolicyError> {
    check_len(property, values, MAX_LIST_ENTRIES)?;
    for value in values {
        if !specials.contains(&value.as_str()) && Uuid::try_parse(value).is_err() {
            return Err(PolicyError::InvalidValue { property, value: shown(value), reason });
        }
    }
    Ok(())
}

/// `All` / `None` must stand alone.
fn check_alone(values: &[String], message: &'static str) -> Result<(), PolicyError> {
    if values.len() > 1 && values.iter().any(|v| v == model::ALL || v == model::NONE) {
        return Err(PolicyError::Conflict(message));
    }
    Ok(())
}

pub fn validate_policy(policy: &ConditionalAccessPolicy, known_locations: &[NamedLocation]) -> Result<(), PolicyError> {
    if policy.display_name.trim().is_empty() {
        return Err(PolicyError::Missing { property: "displayName" });
    }
    check_enum!("state", &policy.state, PolicyState);
    let c = &policy.conditions;
    let workload = policy.targets_workload_identities();

    let mut user_condition = false;
    if let Some(users) = &c.users {
        let include_users = items(&users.include_users);
        check_ids(
            "includeUsers",
            include_users,
            &[model::ALL, model::NONE, model::GUESTS_OR_EXTERNAL_USERS],
            "expected a user id (GUID), All, None or GuestsOrExternalUsers",
        )?;
        check_alone(include_users, "'All' and 'None' cannot be combined with other values in includeUsers.")?;
        check_ids(
            "excludeUsers",
            items(&users.exclude_users),
            &[model::GUESTS_OR_EXTERNAL_USERS],
            "expected a user id (GUID) or GuestsOrExternalUsers",
        )?;
        let guid = "expected a GUID";
        check_ids("includeGroups", items(&users.include_groups), &[], guid)?;
        check_ids("excludeGroups", items(&users.exclude_groups), &[], guid)?;
        check_ids("includeRoles", items(&users.include_roles), &[], "expected a role template id (GUID)")?;
        check_ids("excludeRoles", items(&users.exclude_roles), &[], "expected a role template id (GUID)")?;
        user_condition = !include_users.is_empty()
            || !items(&users.include_groups).is_empty()
            || !items(&users.include_roles).is_empty();
        let targets_users = include_users.iter().any(|u| u != model::NONE)
            || !items(&users.include_groups).is_empty()
            || !items(&users.include_roles).is_empty();
        if workload && targets_users {
            return Err(PolicyError::Conflict(
                "A policy for workload identities (includeServicePrincipals) cannot also include users; set includeUsers to ['None'].",
            ));
        }
    }

    let mut app_condition = false;
    if let Some(apps) = &c.applications {
        let include = items(&apps.include_applications);
        let app_specials = [model::ALL, model::NONE, model::OFFICE_365, model::MICROSOFT_ADMIN_PORTALS];
        check_ids(
            "includeApplications",
            include,
            &app_specials,
            "expected an application id (GUID), All, None, Office365 or MicrosoftAdminPortals",
        )?;
        check_alone(include, "'All' and 'None' cannot be combined with other values in includeApplications.")?;
        check_ids(
            "excludeApplications",
            items(&apps.exclude_applications),
            &[model::OFFICE_365, model::MICROSOFT_ADMIN_PORTALS],
            "expected an application id (GUID), Office365 or MicrosoftAdminPortals",
        )?;
        let actions = items(&apps.include_user_actions);
        for action in actions {
            if action != model::REGISTER_SECURITY_INFO && action != model::REGISTER_DEVICE {
                return Err(PolicyError::InvalidValue {
                    property: "includeUserActions",
                    value: shown(action),
                    reason: "expected urn:user:registersecurityinfo or urn:user:registerdevice",
                });
            }
        }
        if !include.is_empty() && !actions.is_empty() {
            return Err(PolicyError::Conflict(
                "includeApplications and includeUserActions cannot both be set: a policy targets cloud apps or user actions.",
            ));
        }
        app_condition = !include.is_empty() || !actions.is_empty() || apps.authentication_contexts() > 0;
    }

    if let Some(client_apps) = &c.client_applications {
        check_ids(
            "includeServicePrincipals",
            items(&client_apps.include_service_principals),
            &[model::SERVICE_PRINCIPALS_IN_MY_TENANT],
            "expected a service principal id (GUID) or ServicePrincipalsInMyTenant",
        )?;
        check_ids(
            "excludeServicePrincipals",
            items(&client_apps.exclude_service_principals),
            &[],
            "expected a service principal id (GUID)",
        )?;
    }
    if !(user_condition || workload) {
        return Err(PolicyError::MissingUserCondition);
    }
    if !(app_condition || workload) {
        return Err(PolicyError::MissingApplicationCondition);
    }

    for t in items(&c.client_app_types) {
        check_enum!("clientAppTypes", t, ConditionalAccessClientApp);
    }
    if let Some(platforms) = &c.platforms {
        let (include, exclude) = (items(&platforms.include_platforms), items(&platforms.exclude_platforms));
        for p in include {
            check_enum!("includePlatforms", p, ConditionalAccessDevicePlatform);
        }
        for p in exclude {
            check_enum!("excludePlatforms", p, ConditionalAccessDevicePlatform);
            if *p == ConditionalAccessDevicePlatform::All {
                return Err(PolicyError::InvalidValue {
                    property: "excludePlatforms",
                    value: "all".into(),
                    reason: "'all' can only be included",
                });
            }
        }
        if include.is_empty() && !exclude.is_empty() {
            return Err(PolicyError::Conflict("excludePlatforms requires includePlatforms."));
        }
    }
    if let Some(locations) = &c.locations {
        let (include, exclude) = (items(&locations.include_locations), items(&locations.exclude_locations));
        check_locations("includeLocations", include, true, known_locations)?;
        check_locations("excludeLocations", exclude, false, known_locations)?;
        if include.is_empty() && !exclude.is_empty() {
            return Err(PolicyError::Conflict("excludeLocations requires includeLocations."));
        }
    }
    for (property, levels) in [
        ("signInRiskLevels", &c.sign_in_risk_levels),
        ("userRiskLevels", &c.user_risk_levels),
        ("servicePrincipalRiskLevels", &c.service_principal_risk_levels),
    ] {
        for level in items(levels) {
            check_enum!(property, level, ConditionalAccessRiskLevel);
        }
    }

    let has_grant = policy
        .grant_controls
        .as_ref()
        .is_some_and(|g| !items(&g.built_in_controls).is_empty() || g.authentication_strength.is_some());
    let has_session = policy.session_controls.as_ref().is_some_and(|s| {
        s.sign_in_frequency.is_some() || s.persistent_browser.is_some() || s.extra.values().any(|v| !v.is_null())
    });
    if !has_grant && !has_session {
        return Err(PolicyError::MissingControls);
    }
    if let Some(grant) = &policy.grant_controls {
        check_grant(grant, workload)?;
    }
    if let Some(session) = &policy.session_controls {
        if workload && has_session {
            return Err(PolicyError::Conflict(
                "Policies for workload identities support only the block grant control.",
            ));
        }
        check_session(session)?;
    }
    Ok(())
}

fn check_locations(
    property: &'static str,
    values: &[String],
    include: bool,
    known: &[NamedLocation],
) -> Result<(), PolicyError> {
    check_len(property, values, MAX_LIST_ENTRIES)?;
    for value in values {
        if value == model::ALL {
            if !include {
                return Err(PolicyError::InvalidValue {
                    property,
                    value: "All".into(),
                    reason: "'All' can only be included",
                });
            }
            continue;
        }
        if value == model::ALL_TRUSTED {
            continue;
        }
        if !known.iter().any(|l| l.id().eq_ignore_ascii_case(value)) {
            return Err(PolicyError::UnknownLocation { property, id: shown(value) });
        }
    }
    Ok(())
}

fn check_grant(grant: &GrantControls, workload: bool) -> Result<(), PolicyError> {
    let controls = items(&grant.built_in_controls);
    for control in controls {
        check_enum!("builtInControls", control, ConditionalAccessGrantControl);
    }
    let strength = grant.authentication_strength.as_ref();
    let count = controls.len() + usize::from(strength.is_some());
    if count == 0 {
        return Ok(());
    }
    match &grant.operator {
        None => return Err(PolicyError::Missing { property: "grantControls.operator" }),
        Some(op) => check_enum!("grantControls.operator", op, GrantOperator),
    }
    if controls.contains(&ConditionalAccessGrantControl::Block) && count > 1 {
        return Err(PolicyError::BlockCombined);
    }
    if let Some(s) = strength {
        if s.id.trim().is_empty() {
            return Err(PolicyError::Missing { property: "authenticationStrength.id" });
        }
        if controls.contains(&ConditionalAccessGrantControl::Mfa) {
            return Err(PolicyError::Conflict(
                "The grant controls 'mfa' and 'authenticationStrength' cannot be combined; a strength already requires multifactor authentication.",
            ));
        }
    }
    if workload && (count != 1 || !controls.contains(&ConditionalAccessGrantControl::Block)) {
        return Err(PolicyError::Conflict("Policies for workload identities support only the block grant control."));
    }
    Ok(())
}

fn check_session(session: &SessionControls) -> Result<(), PolicyError> {
    if let Some(f) = &session.sign_in_frequency
        && f.is_enabled != Some(false)
    {
        if let Some(t) = &f.authentication_type {
            check_enum!("signInFrequency.authenticationType", t, SignInFrequencyAuthenticationType);
        }
        if let Some(i) = &f.frequency_interval {
            check_enum!("signInFrequency.frequencyInterval", i, SignInFrequencyInterval);
        }
        if f.frequency_interval == Some(SignInFrequencyInterval::EveryTime) {
            if f.value.is_some() || f.kind.is_some() {
                return Err(PolicyError::Conflict(
                    "signInFrequency with frequencyInterval 'everyTime' must have value and type null.",
                ));
            }
        } else {
            let kind = f.kind.as_ref().ok_or(PolicyError::Missing { property: "signInFrequency.type" })?;
            check_enum!("signInFrequency.type", kind, SignInFrequencyType);
            let value = f.value.ok_or(PolicyError::Missing { property: "signInFrequency.value" })?;
            let max = if *kind == SignInFrequencyType::Hours { 23 } else { 365 };
            if value < 1 || value > max {
                return Err(PolicyError::InvalidValue {
                    property: "signInFrequency.value",
                    value: value.to_string(),
                    reason: if max == 23 { "hours must be 1 to 23" } else { "days must be 1 to 365" },
                });
            }
        }
    }
    if let Some(p) = &session.persistent_browser
        && p.is_enabled != Some(false)
    {
        let mode = p.mode.as_ref().ok_or(PolicyError::Missing { property: "persistentBrowser.mode" })?;
        check_enum!("persistentBrowser.mode", mode, PersistentBrowserMode);
    }
    Ok(())
}

pub fn validate_location(location: &NamedLocation) -> Result<(), PolicyError> {
    if location.display_name().trim().is_empty() {
        return Err(PolicyError::Missing { property: "displayName" });
    }
    match location {
        NamedLocation::Ip(ip) => {
            let ranges = items(&ip.ip_ranges);
            if ranges.is_empty() {
                return Err(PolicyError::Missing { property: "ipRanges" });
            }
            check_len("ipRanges", ranges, MAX_IP_RANGES)?;
            for range in ranges {
                let cidr = range.cidr_address().ok_or(PolicyError::Missing { property: "cidrAddress" })?;
                let net: IpNet = cidr.parse().map_err(|_| PolicyError::InvalidCidr {
                    value: shown(cidr),
                    reason: "expected an IPv4 or IPv6 CIDR such as 203.0.113.0/24 or 2001:db8::/32",
                })?;
                if net.prefix_len() < 8 {
                    return Err(PolicyError::InvalidCidr {
                        value: shown(cidr),
                        reason: "prefixes shorter than /8 are not allowed",
                    });
                }
                let expected = match net {
                    IpNet::V4(_) => IPV4_CIDR_RANGE,
                    IpNet::V6(_) => IPV6_CIDR_RANGE,
                };
                if let Some(t) = range.odata_type() {
                    let t = t.strip_prefix('#').unwrap_or(t);
                    if t != &expected[1..] {
                        return Err(PolicyError::InvalidCidr {
                            value: shown(cidr),
                            reason: "its @odata.type does not match the address family (iPv4CidrRange or iPv6CidrRange)",
                        });
                    }
                }
            }
        }
        NamedLocation::Country(country) => {
            let codes = items(&country.countries_and_regions);
            if codes.is_empty() && country.include_unknown_countries_and_regions != Some(true) {
                return Err(PolicyError::Missing { property: "countriesAndRegions" });
            }
            check_len("countriesAndRegions", codes, 300)?;
            for code in codes {
                if !is_country_code(code) {
                    return Err(PolicyError::InvalidCountry { value: shown(code) });
                }
            }
            if let Some(method) = &country.country_lookup_method {
                check_enum!("countryLookupMethod", method, CountryLookupMethod);
            }
        }
    }
    Ok(())
}
