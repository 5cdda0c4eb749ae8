//! The lockout guard against a small tenant: two Global Administrators, one emergency-access
//! account, an admin group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ostiary_policy::*;
use serde_json::{Value, json};
use uuid::Uuid;

const ADMIN_1: u128 = 100;
const ADMIN_2: u128 = 101;
const BREAK_GLASS: u128 = 102;
const ADMIN_GROUP: u128 = 110;
const ADMIN_APP: u128 = 120;

fn admin(n: u128, groups: &[u128]) -> SubjectFacts {
    SubjectFacts {
        id: id(n),
        group_ids: groups.iter().map(|g| id(*g)).collect(),
        role_template_ids: vec![global_admin_role()],
        is_guest: false,
    }
}

fn population() -> Population {
    Population {
        global_admins: vec![admin(ADMIN_1, &[ADMIN_GROUP]), admin(ADMIN_2, &[]), admin(BREAK_GLASS, &[])],
        emergency_access_ids: vec![id(BREAK_GLASS)],
        all_users: true,
        admin_app_ids: vec![id(ADMIN_APP)],
    }
}

fn check(conditions: Value, grant: Value) -> Option<LockoutRisk> {
    let p =
        policy(json!({"id": "guarded", "displayName": "Guarded", "conditions": conditions, "grantControls": grant}));
    lockout_check(&p, &population())
}

fn block() -> Value {
    json!({"operator": "OR", "builtInControls": ["block"]})
}

fn users_all_apps(users: Value) -> Value {
    json!({"users": users, "applications": {"includeApplications": ["All"]}})
}

#[test]
fn lockout_table() {
    let bg = id(BREAK_GLASS).to_string();
    let group = id(ADMIN_GROUP).to_string();
    let graph = MICROSOFT_GRAPH_APP_ID.to_string();
    let admin_app = id(ADMIN_APP).to_string();
    // (case, conditions, grant, expected kind)
    let cases: Vec<(&str, Value, Value, Option<LockoutKind>)> = vec![
        (
            "block all, no exclusion",
            users_all_apps(json!({"includeUsers": ["All"]})),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "block all, break-glass excluded",
            users_all_apps(json!({"includeUsers": ["All"], "excludeUsers": [bg]})),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "one admin kept by group exclusion",
            users_all_apps(json!({"includeUsers": ["All"], "excludeGroups": [group]})),
            block(),
            None,
        ),
        (
            "admins by role",
            users_all_apps(json!({"includeRoles": [GLOBAL_ADMIN_ROLE]})),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        ("other users only", users_all_apps(json!({"includeUsers": [id(USER).to_string()]})), block(), None),
        (
            "mfa can be met",
            users_all_apps(json!({"includeUsers": ["All"]})),
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            None,
        ),
        (
            "compliant device cannot",
            users_all_apps(json!({"includeUsers": ["All"]})),
            json!({"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "OR leaves mfa",
            users_all_apps(json!({"includeUsers": ["All"]})),
            json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
            None,
        ),
        (
            "strength Ostiary cannot meet",
            users_all_apps(json!({"includeUsers": ["All"]})),
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "x", "allowedCombinations": ["sms"]}}),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "narrowed by location",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}),
            block(),
            None,
        ),
        (
            "narrowed by platform",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
            "platforms": {"includePlatforms": ["android"]}}),
            block(),
            None,
        ),
        (
            "narrowed by client app type",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["other"]}),
            block(),
            None,
        ),
        (
            "every client app type is no narrowing",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["browser", "mobileAppsAndDesktopClients", "other"]}),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "narrowed by risk",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
            "signInRiskLevels": ["high"]}),
            block(),
            None,
        ),
        (
            "Graph only",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [graph]}}),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "admin portals",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["MicrosoftAdminPortals"]}}),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "Ostiary admin app",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [admin_app]}}),
            block(),
            Some(LockoutKind::AllGlobalAdministrators),
        ),
        (
            "an unrelated app",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [id(APP_X).to_string()]}}),
            block(),
            None,
        ),
        (
            "admin entry points excluded",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"], "excludeApplications": ["MicrosoftAdminPortals"]}}),
            block(),
            None,
        ),
        (
            "user action only",
            json!({"users": {"includeUsers": ["All"]}, "applications": {"includeUserActions": ["urn:user:registerdevice"]}}),
            block(),
            None,
        ),
    ];
    for (name, conditions, grant, expected) in cases {
        let risk = check(conditions, grant);
        assert_eq!(risk.as_ref().map(|r| r.kind), expected, "{name}: {risk:?}");
    }
}

#[test]
fn explanation_names_admins_and_emergency_accounts() {
    let bg = id(BREAK_GLASS);
    let risk =
        check(users_all_apps(json!({"includeUsers": ["All"], "excludeUsers": [bg.to_string()]})), block()).unwrap();
    assert_eq!(risk.policy_id, "guarded");
    assert_eq!(risk.control, Control::Block);
    assert_eq!(risk.locked_out_admins, vec![id(ADMIN_1), id(ADMIN_2)]);
    assert_eq!(risk.excluded_emergency_accounts, vec![bg]);
    assert!(risk.covered_emergency_accounts.is_empty());
    let e = &risk.explanation;
    assert!(
        e.starts_with("Policy 'Guarded' is enabled, requires block (which cannot be met), covers All cloud apps"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "every Global Administrator who is not an emergency-access account (2: {}, {})",
            id(ADMIN_1),
            id(ADMIN_2)
        )),
        "{e}"
    );
    assert!(e.contains(&format!("Emergency-access accounts it excludes: {bg}.")), "{e}");

    let risk = check(users_all_apps(json!({"includeUsers": ["All"]})), block()).unwrap();
    assert_eq!(risk.covered_emergency_accounts, vec![bg]);
    assert!(risk.explanation.contains("Emergency-access accounts it does not exclude"), "{}", risk.explanation);
}

#[test]
fn only_enabled_policies_and_all_users_rule() {
    let mut p = policy(json!({"conditions": users_all_apps(json!({"includeUsers": ["All"]}))}));
    for state in [PolicyState::Disabled, PolicyState::EnabledForReportingButNotEnforced] {
        p.state = state;
        assert_eq!(lockout_check(&p, &population()), None);
    }
    p.state = PolicyState::Enabled;
    // No administrators known: the All-users rule still catches it, when asked for.
    let empty = Population { all_users: true, ..Population::default() };
    let risk = lockout_check(&p, &empty).unwrap();
    assert_eq!(risk.kind, LockoutKind::AllUsersWithoutExclusions);
    assert!(risk.explanation.contains("includes All users and excludes no user, group or role"));
    assert_eq!(lockout_check(&p, &Population::default()), None);
    // Any exclusion takes it out of the All-users rule.
    let excluded = policy(
        json!({"conditions": users_all_apps(json!({"includeUsers": ["All"], "excludeGroups": [Uuid::nil().to_string()]}))}),
    );
    assert_eq!(lockout_check(&excluded, &empty), None);
    // Only emergency accounts are admins: they count, since nobody else could get in.
    let only_bg = Population {
        global_admins: vec![admin(BREAK_GLASS, &[])],
        emergency_access_ids: vec![id(BREAK_GLASS)],
        ..Population::default()
    };
    assert_eq!(lockout_check(&p, &only_bg).map(|r| r.kind), Some(LockoutKind::AllGlobalAdministrators));
    // Workload-identity policies never lock users out.
    let wl = policy(
        json!({"conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]},
        "clientApplications": {"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]}}}),
    );
    assert_eq!(lockout_check(&wl, &population()), None);
}
