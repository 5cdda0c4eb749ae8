//! Table-driven tests of Conditional Access semantics: one table per condition, then grants,
//! states, multiple policies, sessions and the sign-in log helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ostiary_policy::*;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use PolicyResultKind::{NotApplied as Na, Success as Ok_};

/// (case, conditions JSON, facts, expected result, reason substring)
type Case = (&'static str, serde_json::Value, SignInFacts, PolicyResultKind, &'static str);

/// Block policies: applying ⇒ failure, not applying ⇒ notApplied with the reason.
fn run(cases: Vec<Case>) {
    for (name, conditions, facts, expected, reason) in cases {
        let p = policy(json!({"id": name, "conditions": conditions}));
        let (result, reasons, _) = one(p, &facts);
        let expected = if expected == Ok_ { PolicyResultKind::Failure } else { expected };
        assert_eq!(result, expected, "{name}: {reasons}");
        assert!(reasons.contains(reason), "{name}: expected reason containing {reason:?}, got {reasons:?}");
    }
}

fn apps_all() -> serde_json::Value {
    json!({"includeApplications": ["All"]})
}

fn guest() -> SubjectFacts {
    SubjectFacts { id: id(OTHER_USER), group_ids: vec![], role_template_ids: vec![], is_guest: true }
}

fn in_groups(groups: &[u128]) -> SubjectFacts {
    SubjectFacts { group_ids: groups.iter().map(|g| id(*g)).collect(), ..member() }
}

fn admin() -> SubjectFacts {
    SubjectFacts { role_template_ids: vec![global_admin_role()], ..member() }
}

#[test]
fn users_groups_roles_guests() {
    let u = id(USER).to_string();
    let ga = id(GROUP_A).to_string();
    let gb = id(GROUP_B).to_string();
    run(vec![
        (
            "all",
            json!({"users": {"includeUsers": ["All"]}, "applications": apps_all()}),
            user_facts(member()),
            Ok_,
            "all conditions matched",
        ),
        (
            "none",
            json!({"users": {"includeUsers": ["None"]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "user not in includeUsers",
        ),
        ("by id", json!({"users": {"includeUsers": [u]}, "applications": apps_all()}), user_facts(member()), Ok_, ""),
        (
            "other id",
            json!({"users": {"includeUsers": [id(OTHER_USER).to_string()]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "user not in",
        ),
        (
            "exclude id beats All",
            json!({"users": {"includeUsers": ["All"], "excludeUsers": [u]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            &*format!("user excluded by excludeUsers {u}").leak(),
        ),
        ("group", json!({"users": {"includeGroups": [ga]}, "applications": apps_all()}), user_facts(member()), Ok_, ""),
        (
            "not in group",
            json!({"users": {"includeGroups": [gb]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "user not in",
        ),
        (
            "exclude group beats include group",
            json!({"users": {"includeGroups": [ga], "excludeGroups": [gb]}, "applications": apps_all()}),
            user_facts(in_groups(&[GROUP_A, GROUP_B])),
            Na,
            &*format!("user excluded by excludeGroups {gb}").leak(),
        ),
        (
            "exclude group beats include id",
            json!({"users": {"includeUsers": [u], "excludeGroups": [ga]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "excludeGroups",
        ),
        (
            "role",
            json!({"users": {"includeRoles": [GLOBAL_ADMIN_ROLE]}, "applications": apps_all()}),
            user_facts(admin()),
            Ok_,
            "",
        ),
        (
            "role missing",
            json!({"users": {"includeRoles": [GLOBAL_ADMIN_ROLE]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "user not in",
        ),
        (
            "exclude role",
            json!({"users": {"includeUsers": ["All"], "excludeRoles": [GLOBAL_ADMIN_ROLE]}, "applications": apps_all()}),
            user_facts(admin()),
            Na,
            &*format!("user excluded by excludeRoles {GLOBAL_ADMIN_ROLE}").leak(),
        ),
        (
            "guests included",
            json!({"users": {"includeUsers": ["GuestsOrExternalUsers"]}, "applications": apps_all()}),
            user_facts(guest()),
            Ok_,
            "",
        ),
        (
            "member not a guest",
            json!({"users": {"includeUsers": ["GuestsOrExternalUsers"]}, "applications": apps_all()}),
            user_facts(member()),
            Na,
            "user not in",
        ),
        (
            "guests excluded",
            json!({"users": {"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]}, "applications": apps_all()}),
            user_facts(guest()),
            Na,
            "GuestsOrExternalUsers (the user is a guest)",
        ),
        (
            "member not excluded as guest",
            json!({"users": {"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]}, "applications": apps_all()}),
            user_facts(member()),
            Ok_,
            "",
        ),
        ("no users condition", json!({"applications": apps_all()}), user_facts(member()), Na, "user not in"),
    ]);
}

#[test]
fn applications_and_user_actions() {
    let x = id(APP_X).to_string();
    let users = json!({"includeUsers": ["All"]});
    let mut to_y = user_facts(member());
    to_y.resource_app_id = Some(id(APP_Y));
    let mut to_graph = user_facts(member());
    to_graph.resource_app_id = Some(MICROSOFT_GRAPH_APP_ID);
    let mut register = user_facts(member());
    register.user_action = Some(UserAction::RegisterSecurityInfo);
    let mut register_device = user_facts(member());
    register_device.user_action = Some(UserAction::RegisterDevice);
    let mut nothing = user_facts(member());
    nothing.resource_app_id = None;
    let security_info = json!({"includeUserActions": ["urn:user:registersecurityinfo"]});
    run(vec![
        ("all apps", json!({"users": users, "applications": apps_all()}), user_facts(member()), Ok_, ""),
        (
            "specific app",
            json!({"users": users, "applications": {"includeApplications": [x]}}),
            user_facts(member()),
            Ok_,
            "",
        ),
        (
            "other app",
            json!({"users": users, "applications": {"includeApplications": [x]}}),
            to_y.clone(),
            Na,
            &*format!("application {} not in includeApplications", id(APP_Y)).leak(),
        ),
        (
            "exclude beats All",
            json!({"users": users, "applications": {"includeApplications": ["All"], "excludeApplications": [x]}}),
            user_facts(member()),
            Na,
            "excluded by excludeApplications",
        ),
        (
            "None",
            json!({"users": users, "applications": {"includeApplications": ["None"]}}),
            user_facts(member()),
            Na,
            "not in includeApplications",
        ),
        (
            "admin portals = Graph",
            json!({"users": users, "applications": {"includeApplications": ["MicrosoftAdminPortals"]}}),
            to_graph.clone(),
            Ok_,
            "",
        ),
        (
            "admin portals not app X",
            json!({"users": users, "applications": {"includeApplications": ["MicrosoftAdminPortals"]}}),
            user_facts(member()),
            Na,
            "not in includeApplications",
        ),
        (
            "exclude admin portals",
            json!({"users": users, "applications": {"includeApplications": ["All"], "excludeApplications": ["MicrosoftAdminPortals"]}}),
            to_graph,
            Na,
            "excludeApplications MicrosoftAdminPortals",
        ),
        ("user action matches", json!({"users": users, "applications": security_info}), register.clone(), Ok_, ""),
        (
            "user action policy, app request",
            json!({"users": users, "applications": security_info}),
            user_facts(member()),
            Na,
            "not in includeApplications",
        ),
        (
            "All apps never matches a user action",
            json!({"users": users, "applications": apps_all()}),
            register,
            Na,
            "urn:user:registersecurityinfo, which is not in includeUserActions",
        ),
        (
            "other user action",
            json!({"users": users, "applications": security_info}),
            register_device,
            Na,
            "urn:user:registerdevice",
        ),
        ("no app, no action", json!({"users": users, "applications": apps_all()}), nothing, Na, "names no cloud app"),
    ]);
}

#[test]
fn client_app_types() {
    let base = |types: serde_json::Value| json!({"users": {"includeUsers": ["All"]}, "applications": apps_all(), "clientAppTypes": types});
    let with = |t: ClientAppType| {
        let mut f = user_facts(member());
        f.client_app_type = t;
        f
    };
    use ClientAppType::*;
    run(vec![
        ("browser/browser", base(json!(["browser"])), with(Browser), Ok_, ""),
        (
            "browser/mobile",
            base(json!(["browser"])),
            with(MobileAppsAndDesktopClients),
            Na,
            "client app type mobileAppsAndDesktopClients not in clientAppTypes",
        ),
        ("all/other", base(json!(["all"])), with(Other), Ok_, ""),
        ("all/browser", base(json!(["all"])), with(Browser), Ok_, ""),
        ("empty/other", base(json!([])), with(Other), Ok_, ""),
        ("null/other", base(json!(null)), with(Other), Ok_, ""),
        ("eas/other", base(json!(["exchangeActiveSync", "easSupported"])), with(Other), Na, "client app type other"),
        ("mobile+other/other", base(json!(["mobileAppsAndDesktopClients", "other"])), with(Other), Ok_, ""),
    ]);
}

#[test]
fn platforms() {
    let base = |platforms: serde_json::Value| json!({"users": {"includeUsers": ["All"]}, "applications": apps_all(), "platforms": platforms});
    let on = |p: Option<Platform>| {
        let mut f = user_facts(member());
        f.platform = p;
        f
    };
    run(vec![
        ("iOS on iOS", base(json!({"includePlatforms": ["iOS"]})), on(Some(Platform::IOs)), Ok_, ""),
        (
            "iOS on android",
            base(json!({"includePlatforms": ["iOS"]})),
            on(Some(Platform::Android)),
            Na,
            "platform android not in includePlatforms (iOS)",
        ),
        (
            "iOS on unknown",
            base(json!({"includePlatforms": ["iOS"]})),
            on(None),
            Na,
            "platform unknown and policy includes iOS",
        ),
        ("all on unknown", base(json!({"includePlatforms": ["all"]})), on(None), Ok_, ""),
        (
            "all minus iOS on iOS",
            base(json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]})),
            on(Some(Platform::IOs)),
            Na,
            "platform iOS excluded by excludePlatforms",
        ),
        (
            "all minus iOS on unknown",
            base(json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]})),
            on(None),
            Ok_,
            "",
        ),
        ("not configured on unknown", base(json!(null)), on(None), Ok_, ""),
        (
            "windows+macOS on linux",
            base(json!({"includePlatforms": ["windows", "macOS"]})),
            on(Some(Platform::Linux)),
            Na,
            "platform linux not in includePlatforms (windows, macOS)",
        ),
    ]);
}

#[test]
fn locations_including_trusted_and_countries() {
    let base = |loc: serde_json::Value| json!({"users": {"includeUsers": ["All"]}, "applications": apps_all(), "locations": loc});
    let from = |ip: Option<&str>, country: Option<&str>| {
        let mut f = user_facts(member());
        f.ip = ip.map(|i| i.parse().unwrap());
        f.country = country.map(str::to_owned);
        f
    };
    let outside_trusted = json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]});
    run(vec![
        (
            "HQ excluded as trusted",
            base(outside_trusted.clone()),
            from(Some("10.0.0.7"), Some("US")),
            Na,
            "location AllTrusted excluded: 10.0.0.7 is in 'HQ'",
        ),
        (
            "HQ over IPv6",
            base(outside_trusted.clone()),
            from(Some("2001:db8:1::5"), None),
            Na,
            "2001:db8:1::5 is in 'HQ'",
        ),
        (
            "IPv4-mapped IPv6",
            base(outside_trusted.clone()),
            from(Some("::ffff:10.1.2.3"), None),
            Na,
            "10.1.2.3 is in 'HQ'",
        ),
        ("branch is not trusted", base(outside_trusted.clone()), from(Some("203.0.113.5"), Some("US")), Ok_, ""),
        ("unknown IP", base(outside_trusted.clone()), from(None, None), Ok_, ""),
        (
            "trusted country",
            base(outside_trusted),
            from(Some("198.51.100.1"), Some("CH")),
            Na,
            "location AllTrusted excluded: country CH is in 'TrustedCountry'",
        ),
        (
            "blocked country",
            base(json!({"includeLocations": ["loc-blocked"]})),
            from(Some("198.51.100.1"), Some("KP")),
            Ok_,
            "",
        ),
        (
            "country case-insensitive",
            base(json!({"includeLocations": ["loc-blocked"]})),
            from(None, Some("ir")),
            Ok_,
            "",
        ),
        (
            "not a blocked country",
            base(json!({"includeLocations": ["loc-blocked"]})),
            from(Some("198.51.100.1"), Some("FR")),
            Na,
            "location not in includeLocations: 198.51.100.1 (country FR) is in no included location",
        ),
        (
            "unknown country, no unknown flag",
            base(json!({"includeLocations": ["loc-blocked"]})),
            from(None, None),
            Na,
            "country unknown",
        ),
        ("unknown country included", base(json!({"includeLocations": ["loc-eu"]})), from(None, None), Ok_, ""),
        (
            "garbage country is unknown",
            base(json!({"includeLocations": ["loc-eu"]})),
            from(None, Some("France")),
            Ok_,
            "",
        ),
        ("europe FR", base(json!({"includeLocations": ["loc-eu"]})), from(None, Some("FR")), Ok_, ""),
        (
            "europe US",
            base(json!({"includeLocations": ["loc-eu"]})),
            from(None, Some("US")),
            Na,
            "location not in includeLocations",
        ),
        (
            "named IP location",
            base(json!({"includeLocations": ["loc-branch"]})),
            from(Some("203.0.113.250"), None),
            Ok_,
            "",
        ),
        (
            "named IP location miss",
            base(json!({"includeLocations": ["loc-branch"]})),
            from(Some("203.0.114.1"), None),
            Na,
            "203.0.114.1",
        ),
        (
            "exclude named",
            base(json!({"includeLocations": ["All"], "excludeLocations": ["loc-branch"]})),
            from(Some("203.0.113.9"), None),
            Na,
            "location 'Branch' excluded: 203.0.113.9 is in 'Branch'",
        ),
        (
            "AllTrusted included",
            base(json!({"includeLocations": ["AllTrusted"]})),
            from(Some("10.9.9.9"), None),
            Ok_,
            "",
        ),
        (
            "AllTrusted included, untrusted",
            base(json!({"includeLocations": ["AllTrusted"]})),
            from(Some("203.0.113.9"), None),
            Na,
            "location not in includeLocations",
        ),
        (
            "unknown location id never matches",
            base(json!({"includeLocations": ["nope"]})),
            from(Some("10.0.0.1"), Some("KP")),
            Na,
            "location not in includeLocations",
        ),
    ]);
}

#[test]
fn risk_levels() {
    let base = |field: &str, levels: serde_json::Value| {
        let mut c = json!({"users": {"includeUsers": ["All"]}, "applications": apps_all()});
        c[field] = levels;
        c
    };
    let risk = |sign_in: RiskLevel, user: RiskLevel| {
        let mut f = user_facts(member());
        f.sign_in_risk = sign_in;
        f.user_risk = user;
        f
    };
    use RiskLevel::*;
    run(vec![
        ("high at high", base("signInRiskLevels", json!(["high"])), risk(High, None), Ok_, ""),
        (
            "high at medium",
            base("signInRiskLevels", json!(["high"])),
            risk(Medium, None),
            Na,
            "sign-in risk medium not in signInRiskLevels",
        ),
        ("high at none", base("signInRiskLevels", json!(["high"])), risk(None, None), Na, "sign-in risk none"),
        ("medium+high at medium", base("signInRiskLevels", json!(["high", "medium"])), risk(Medium, None), Ok_, ""),
        ("none level at none", base("signInRiskLevels", json!(["none"])), risk(None, None), Ok_, ""),
        ("empty = any", base("signInRiskLevels", json!([])), risk(High, High), Ok_, ""),
        ("user risk", base("userRiskLevels", json!(["high"])), risk(None, High), Ok_, ""),
        (
            "user risk low",
            base("userRiskLevels", json!(["high"])),
            risk(High, Low),
            Na,
            "user risk low not in userRiskLevels",
        ),
        (
            "hidden never matches",
            base("signInRiskLevels", json!(["hidden"])),
            risk(High, None),
            Na,
            "sign-in risk high",
        ),
    ]);
}

fn workload(extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "users": {"includeUsers": ["None"]},
        "applications": apps_all(),
        "clientApplications": {"includeServicePrincipals": [id(SP).to_string()]},
    });
    if let (Some(c), serde_json::Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

#[test]
fn service_principals() {
    let mut other_sp = sp_facts();
    other_sp.subject = Subject::ServicePrincipal { id: id(OTHER_SP), app_id: id(99) };
    let mut by_app_id = sp_facts();
    by_app_id.subject = Subject::ServicePrincipal { id: id(98), app_id: id(SP) };
    let mut risky = sp_facts();
    risky.service_principal_risk = RiskLevel::High;
    let mut from_hq = sp_facts();
    from_hq.ip = Some("10.0.0.1".parse().unwrap());
    let in_tenant = json!({"includeServicePrincipals": ["ServicePrincipalsInMyTenant"], "excludeServicePrincipals": [id(SP).to_string()]});
    run(vec![
        ("workload policy, its SP", workload(json!({})), sp_facts(), Ok_, ""),
        ("workload policy, other SP", workload(json!({})), other_sp.clone(), Na, "not in includeServicePrincipals"),
        ("listed by appId", workload(json!({})), by_app_id, Ok_, ""),
        (
            "workload policy, a user",
            workload(json!({})),
            user_facts(member()),
            Na,
            "policy targets workload identities",
        ),
        (
            "user policy, an SP",
            json!({"users": {"includeUsers": ["All"]}, "applications": apps_all()}),
            sp_facts(),
            Na,
            "policy targets users",
        ),
        (
            "in tenant minus excluded",
            workload(json!({"clientApplications": in_tenant.clone()})),
            sp_facts(),
            Na,
            "excluded by excludeServicePrincipals",
        ),
        ("in tenant, other SP", workload(json!({"clientApplications": in_tenant})), other_sp, Ok_, ""),
        ("SP risk high at high", workload(json!({"servicePrincipalRiskLevels": ["high"]})), risky, Ok_, ""),
        (
            "SP risk high at none",
            workload(json!({"servicePrincipalRiskLevels": ["high"]})),
            sp_facts(),
            Na,
            "service principal risk none",
        ),
        (
            "SP from trusted location",
            workload(json!({"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}})),
            from_hq,
            Na,
            "AllTrusted excluded",
        ),
        // Platforms and client app types are not workload-identity conditions.
        ("SP ignores platforms", workload(json!({"platforms": {"includePlatforms": ["iOS"]}})), sp_facts(), Ok_, ""),
    ]);
    // Only block means anything for a workload identity: anything else cannot be met.
    let p = policy(
        json!({"conditions": workload(json!({})), "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
    );
    let (result, reasons, outcome) = one(p, &sp_facts());
    assert_eq!(result, PolicyResultKind::Failure, "{reasons}");
    assert_eq!(
        outcome,
        Outcome::Interrupt { requirements: vec![Requirement::Unsatisfiable { control: Control::Mfa }] }
    );
    assert!(reasons.contains("only block applies to workload identities"), "{reasons}");
    let (_, _, outcome) = one(policy(json!({"conditions": workload(json!({}))})), &sp_facts());
    assert_eq!(outcome, Outcome::Block { policy_ids: vec!["p".into()] });
    assert_eq!(outcome.aadsts(), Some(53003));
}

fn grant_policy(grant: serde_json::Value) -> ConditionalAccessPolicy {
    policy(json!({"grantControls": grant}))
}

fn signed_in(m: &[AuthMethod], device_compliant: Option<bool>, password_changed: bool) -> SignInFacts {
    let mut f = user_facts(member());
    f.authentication.methods = methods(m);
    f.device_compliant = device_compliant;
    f.authentication.password_changed_in_flow = password_changed;
    f
}

#[test]
fn grant_controls_and_or() {
    use AuthMethod::*;
    use Requirement as R;
    let pw = [Password];
    let pw_totp = [Password, SoftwareOath];
    let strength = |id: &str| json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": id}});
    let phishing_resistant = strength("00000000-0000-0000-0000-000000000004");
    let phishing_resistant_req = R::AuthenticationStrength {
        id: "00000000-0000-0000-0000-000000000004".into(),
        display_name: Some("Phishing resistant MFA".into()),
        allowed_combinations: vec![
            "windowsHelloForBusiness".into(),
            "fido2".into(),
            "x509CertificateMultiFactor".into(),
        ],
    };
    // (case, grant, facts, expected outcome, expected aadsts)
    let cases: Vec<(&str, serde_json::Value, SignInFacts, Outcome, Option<u32>)> = vec![
        (
            "mfa missing",
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            signed_in(&pw, None, false),
            Outcome::Interrupt { requirements: vec![R::Mfa] },
            Some(50076),
        ),
        (
            "mfa by totp",
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            signed_in(&pw_totp, None, false),
            Outcome::Allow,
            None,
        ),
        (
            "mfa by passkey alone",
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            signed_in(&[Fido2], None, false),
            Outcome::Allow,
            None,
        ),
        (
            "mfa by recovery code",
            json!({"operator": "OR", "builtInControls": ["mfa"]}),
            signed_in(&[Password, RecoveryCode], None, false),
            Outcome::Allow,
            None,
        ),
        (
            "OR: compliant device is enough",
            json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
            signed_in(&pw, Some(true), false),
            Outcome::Allow,
            None,
        ),
        (
            "OR: ask for the one that can be met",
            json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
            signed_in(&pw, None, false),
            Outcome::Interrupt { requirements: vec![R::Mfa] },
            Some(50076),
        ),
        (
            "OR: two interactive options",
            json!({"operator": "OR", "builtInControls": ["mfa", "passwordChange"]}),
            signed_in(&pw, None, false),
            Outcome::Interrupt { requirements: vec![R::OneOf(vec![R::Mfa, R::PasswordChange])] },
            Some(50076),
        ),
        (
            "OR: nothing can be met",
            json!({"operator": "OR", "builtInControls": ["compliantDevice", "domainJoinedDevice"]}),
            signed_in(&pw_totp, Some(false), false),
            Outcome::Interrupt { requirements: vec![R::Unsatisfiable { control: Control::CompliantDevice }] },
            Some(53000),
        ),
        (
            "AND: device missing",
            json!({"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}),
            signed_in(&pw_totp, None, false),
            Outcome::Interrupt { requirements: vec![R::Unsatisfiable { control: Control::CompliantDevice }] },
            Some(53000),
        ),
        (
            "AND: both missing, device decides the code",
            json!({"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}),
            signed_in(&pw, None, false),
            Outcome::Interrupt { requirements: vec![R::Mfa, R::Unsatisfiable { control: Control::CompliantDevice }] },
            Some(53000),
        ),
        (
            "AND: both met",
            json!({"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}),
            signed_in(&pw_totp, Some(true), false),
            Outcome::Allow,
            None,
        ),
        (
            "password change needed",
            json!({"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}),
            signed_in(&pw_totp, None, false),
            Outcome::Interrupt { requirements: vec![R::PasswordChange] },
            Some(50142),
        ),
        (
            "password changed",
            json!({"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}),
            signed_in(&pw_totp, None, true),
            Outcome::Allow,
            None,
        ),
        (
            "risk remediation",
            json!({"operator": "OR", "builtInControls": ["riskRemediation"]}),
            signed_in(&pw, None, false),
            Outcome::Interrupt { requirements: vec![R::PasswordChange] },
            Some(50142),
        ),
        (
            "approved app",
            json!({"operator": "OR", "builtInControls": ["approvedApplication"]}),
            signed_in(&pw_totp, Some(true), false),
            Outcome::Interrupt { requirements: vec![R::Unsatisfiable { control: Control::ApprovedApplication }] },
            Some(53002),
        ),
        (
            "phishing-resistant vs totp",
            phishing_resistant.clone(),
            signed_in(&pw_totp, None, false),
            Outcome::Interrupt { requirements: vec![phishing_resistant_req] },
            Some(50076),
        ),
        ("phishing-resistant by passkey", phishing_resistant, signed_in(&[Fido2], None, false), Outcome::Allow, None),
        (
            "MFA strength by totp",
            strength("00000000-0000-0000-0000-000000000002"),
            signed_in(&pw_totp, None, false),
            Outcome::Allow,
            None,
        ),
        (
            "MFA strength by recovery code",
            strength("00000000-0000-0000-0000-000000000002"),
            signed_in(&[Password, RecoveryCode], None, false),
            Outcome::Allow,
            None,
        ),
        (
            "passwordless strength vs recovery code",
            strength("00000000-0000-0000-0000-000000000003"),
            signed_in(&[Password, RecoveryCode], None, false),
            Outcome::Interrupt {
                requirements: vec![R::AuthenticationStrength {
                    id: "00000000-0000-0000-0000-000000000003".into(),
                    display_name: Some("Passwordless MFA".into()),
                    allowed_combinations: vec![
                        "windowsHelloForBusiness".into(),
                        "fido2".into(),
                        "x509CertificateMultiFactor".into(),
                        "deviceBasedPush".into(),
                    ],
                }],
            },
            Some(50076),
        ),
        (
            "custom strength Ostiary cannot meet",
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "11111111-1111-1111-1111-111111111111", "allowedCombinations": ["sms", "password,voice"]}}),
            signed_in(&pw_totp, None, false),
            Outcome::Interrupt { requirements: vec![R::Unsatisfiable { control: Control::AuthenticationStrength }] },
            Some(53003),
        ),
        (
            "custom strength inline",
            json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "11111111-1111-1111-1111-111111111111", "displayName": "TOTP", "allowedCombinations": ["password,softwareOath"]}}),
            signed_in(&pw_totp, None, false),
            Outcome::Allow,
            None,
        ),
        (
            "unknown control never met",
            json!({"operator": "OR", "builtInControls": ["thumbprint"]}),
            signed_in(&pw_totp, Some(true), true),
            Outcome::Interrupt { requirements: vec![R::Unsatisfiable { control: Control::Unknown }] },
            Some(53003),
        ),
        (
            "block",
            json!({"operator": "OR", "builtInControls": ["block"]}),
            signed_in(&pw_totp, Some(true), true),
            Outcome::Block { policy_ids: vec!["p".into()] },
            Some(53003),
        ),
    ];
    for (name, grant, facts, expected, code) in cases {
        let set = Arc::new(PolicySet::compile(&[grant_policy(grant)], &[]));
        let eval = set.evaluate(&facts);
        assert_eq!(eval.outcome, expected, "{name}: {:?}", eval.policies().next().unwrap().reasons());
        assert_eq!(eval.outcome.aadsts(), code, "{name}");
        let expected_result =
            if expected == Outcome::Allow { PolicyResultKind::Success } else { PolicyResultKind::Failure };
        assert_eq!(eval.policies().next().unwrap().result, expected_result, "{name}");
    }
}

#[test]
fn states_disabled_and_report_only() {
    use AuthMethod::*;
    let p = |state: &str, controls: serde_json::Value| {
        policy(json!({"id": state, "state": state, "grantControls": {"operator": "OR", "builtInControls": controls}}))
    };
    let ro = "enabledForReportingButNotEnforced";
    let mut elsewhere = signed_in(&[Password], None, false);
    elsewhere.resource_app_id = None;
    let cases: Vec<(ConditionalAccessPolicy, SignInFacts, PolicyResultKind)> = vec![
        (p("disabled", json!(["block"])), signed_in(&[Password], None, false), PolicyResultKind::NotEnabled),
        (p(ro, json!(["block"])), signed_in(&[Password], None, false), PolicyResultKind::ReportOnlyFailure),
        (p(ro, json!(["mfa"])), signed_in(&[Password], None, false), PolicyResultKind::ReportOnlyInterrupted),
        (p(ro, json!(["mfa"])), signed_in(&[Password, SoftwareOath], None, false), PolicyResultKind::ReportOnlySuccess),
        (p(ro, json!(["compliantDevice"])), signed_in(&[Password], None, false), PolicyResultKind::ReportOnlyFailure),
        (
            p(ro, json!(["mfa", "compliantDevice"])),
            signed_in(&[Password], None, false),
            PolicyResultKind::ReportOnlyInterrupted,
        ),
        (p(ro, json!(["block"])), elsewhere, PolicyResultKind::ReportOnlyNotApplied),
    ];
    for (policy, facts, expected) in cases {
        let set = Arc::new(PolicySet::compile(&[policy], &[]));
        let eval = set.evaluate(&facts);
        assert_eq!(eval.policies().next().unwrap().result, expected, "{:?}", eval.policies().next().unwrap().reasons());
        // Neither disabled nor report-only policies are ever enforced.
        assert_eq!(eval.outcome, Outcome::Allow);
        assert_eq!(eval.conditional_access_status(), "notApplied");
    }
    let set = Arc::new(PolicySet::compile(&[p("disabled", json!(["block"]))], &[]));
    assert_eq!(
        set.evaluate(&signed_in(&[Password], None, false)).policies().next().unwrap().reasons(),
        vec!["policy is disabled"]
    );
}

#[test]
fn several_policies_all_must_be_met_and_block_wins() {
    use AuthMethod::*;
    let mfa = |id: &str| policy(json!({"id": id, "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}));
    let device =
        policy(json!({"id": "device", "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}}));
    let block_y = policy(json!({"id": "block-y", "conditions": {"users": {"includeUsers": ["All"]},
        "applications": {"includeApplications": [id(APP_Y).to_string()]}}}));
    let block = policy(json!({"id": "block"}));
    let facts = signed_in(&[Password], None, false);

    let set = Arc::new(PolicySet::compile(&[mfa("mfa-1"), mfa("mfa-2"), device.clone(), block_y.clone()], &[]));
    let eval = set.evaluate(&facts);
    assert_eq!(
        eval.outcome,
        Outcome::Interrupt {
            requirements: vec![Requirement::Mfa, Requirement::Unsatisfiable { control: Control::CompliantDevice }]
        }
    );
    assert_eq!(eval.policy("block-y").unwrap().result, PolicyResultKind::NotApplied);

    let set = Arc::new(PolicySet::compile(&[mfa("mfa-1"), block.clone(), device, mfa("mfa-2")], &[]));
    assert_eq!(set.evaluate(&facts).outcome, Outcome::Block { policy_ids: vec!["block".into()] });

    // Met everywhere: success, and the status says so.
    let mut strong = signed_in(&[Password, SoftwareOath], Some(true), false);
    strong.resource_app_id = Some(id(APP_X));
    let set = Arc::new(PolicySet::compile(&[mfa("mfa-1"), mfa("mfa-2"), block_y], &[]));
    let eval = set.evaluate(&strong);
    assert_eq!(eval.outcome, Outcome::Allow);
    assert_eq!(eval.conditional_access_status(), "success");
}

#[test]
fn sessions_frequency_and_persistence() {
    use AuthMethod::*;
    let session =
        |id: &str, sc: serde_json::Value| policy(json!({"id": id, "grantControls": null, "sessionControls": sc}));
    let hours = |h: i64| json!({"signInFrequency": {"value": h, "type": "hours", "authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "timeBased", "isEnabled": true}});
    let aged = |primary: u64, mfa: Option<u64>| {
        let mut f = signed_in(&[Password, SoftwareOath], None, false);
        f.authentication.secs_since_primary = primary;
        f.authentication.secs_since_mfa = mfa;
        f
    };

    let set = Arc::new(PolicySet::compile(
        &[
            session("4h", hours(4)),
            session("1d", json!({"signInFrequency": {"value": 1, "type": "days", "isEnabled": true}})),
        ],
        &[],
    ));
    let fresh = set.evaluate(&aged(3600, Some(3600)));
    assert_eq!(fresh.outcome, Outcome::Allow);
    assert_eq!(fresh.session.sign_in_frequency, Some(FrequencyLimit { every_time: false, max_age_secs: 4 * 3600 }));
    assert_eq!(fresh.session.reauthenticate, None);
    let stale = set.evaluate(&aged(5 * 3600, Some(5 * 3600)));
    assert_eq!(
        stale.outcome,
        Outcome::Interrupt {
            requirements: vec![Requirement::Reauthenticate { factor: ReauthFactor::Primary, max_age_secs: 14_400 }]
        }
    );
    assert_eq!(stale.outcome.aadsts(), Some(70044));
    assert_eq!(stale.policy("4h").unwrap().result, PolicyResultKind::Failure);
    assert_eq!(stale.policy("1d").unwrap().result, PolicyResultKind::Success);
    assert!(
        stale
            .policy("4h")
            .unwrap()
            .reasons()
            .iter()
            .any(|r| r == "sign-in frequency 4 hours: the last sign-in is older")
    );

    let every = Arc::new(PolicySet::compile(
        &[session(
            "every",
            json!({"signInFrequency": {"value": null, "type": null, "frequencyInterval": "everyTime", "isEnabled": true}}),
        )],
        &[],
    ));
    assert_eq!(every.evaluate(&aged(100, Some(100))).outcome, Outcome::Allow);
    assert!(matches!(every.evaluate(&aged(600, Some(600))).outcome, Outcome::Interrupt { .. }));

    let mfa_only = Arc::new(PolicySet::compile(
        &[session(
            "mfa-1h",
            json!({"signInFrequency": {"value": 1, "type": "hours", "authenticationType": "secondaryAuthentication", "frequencyInterval": "timeBased", "isEnabled": true}}),
        )],
        &[],
    ));
    let eval = mfa_only.evaluate(&aged(60, Some(7200)));
    assert_eq!(eval.outcome.aadsts(), Some(50078));
    assert_eq!(eval.session.reauthenticate, Some(ReauthFactor::Mfa));
    assert_eq!(mfa_only.evaluate(&aged(60, None)).outcome, Outcome::Allow);

    let browser = |id: &str, mode: &str| session(id, json!({"persistentBrowser": {"mode": mode, "isEnabled": true}}));
    let set = Arc::new(PolicySet::compile(&[browser("always", "always"), browser("never", "never")], &[]));
    assert_eq!(set.evaluate(&aged(0, None)).session.persistent_browser, Some(BrowserPersistence::Never));
    let set = Arc::new(PolicySet::compile(&[browser("always", "always")], &[]));
    assert_eq!(set.evaluate(&aged(0, None)).session.persistent_browser, Some(BrowserPersistence::Always));

    // Report-only session controls are never enforced either.
    let mut ro = session("ro", hours(1));
    ro.state = PolicyState::EnabledForReportingButNotEnforced;
    let set = Arc::new(PolicySet::compile(&[ro], &[]));
    let eval = set.evaluate(&aged(5 * 3600, None));
    assert_eq!(eval.outcome, Outcome::Allow);
    assert_eq!(eval.session, SessionDecision::default());
    assert_eq!(eval.policies().next().unwrap().result, PolicyResultKind::ReportOnlyInterrupted);
}

#[test]
fn sign_in_log_helpers() {
    use AuthMethod::*;
    let mfa = policy(
        json!({"id": "mfa-id", "displayName": "Require MFA", "grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]},
        "sessionControls": {"signInFrequency": {"value": 4, "type": "hours", "isEnabled": true}}}),
    );
    let disabled = policy(json!({"id": "off", "displayName": "Off", "state": "disabled"}));
    let other_app =
        policy(json!({"id": "y", "displayName": "Y only", "conditions": {"users": {"includeUsers": ["All"]},
        "applications": {"includeApplications": [id(APP_Y).to_string()]}}}));
    let set = Arc::new(PolicySet::compile(&[mfa, disabled, other_app], &[]));
    let eval = set.evaluate(&signed_in(&[Password], None, false));
    assert_eq!(eval.conditional_access_status(), "failure");
    assert_eq!(
        eval.applied_policies_json(),
        json!([
            {"id": "mfa-id", "displayName": "Require MFA", "enforcedGrantControls": ["Mfa", "RequireCompliantDevice"],
             "enforcedSessionControls": ["SignInFrequency"], "result": "failure"},
            {"id": "off", "displayName": "Off", "enforcedGrantControls": [], "enforcedSessionControls": [], "result": "notEnabled"},
            {"id": "y", "displayName": "Y only", "enforcedGrantControls": ["Block"], "enforcedSessionControls": [], "result": "notApplied"},
        ])
    );
    // The borrowed view serializes to the same array.
    let text = serde_json::to_string(&eval.applied_policies()).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), eval.applied_policies_json());
    let reasons = eval.policy("mfa-id").unwrap().reasons();
    assert_eq!(
        reasons,
        vec![
            "all conditions matched",
            "grant (OR) missing: mfa (methods used: password)",
            "grant (OR) missing: compliantDevice (device compliance unknown)",
        ]
    );
    let ok = set.evaluate(&signed_in(&[Password, SoftwareOath], None, false));
    assert_eq!(ok.conditional_access_status(), "success");
    assert_eq!(
        ok.policy("mfa-id").unwrap().reasons(),
        vec![
            "all conditions matched",
            "grant (OR) satisfied: mfa",
            "grant (OR) missing: compliantDevice (device compliance unknown)",
            "OR grant: one satisfied control is enough",
        ]
    );
    let mut elsewhere = signed_in(&[Password], None, false);
    elsewhere.resource_app_id = Some(Uuid::nil());
    let none = Arc::new(PolicySet::compile(
        &[policy(json!({"conditions": {"users": {"includeUsers": ["All"]},
        "applications": {"includeApplications": [id(APP_Y).to_string()]}}}))],
        &[],
    ));
    assert_eq!(none.evaluate(&elsewhere).conditional_access_status(), "notApplied");
}

#[test]
fn empty_set_allows() {
    let set = Arc::new(PolicySet::compile(&[], &[]));
    assert!(set.is_empty());
    let eval = set.evaluate(&user_facts(member()));
    assert_eq!(eval.outcome, Outcome::Allow);
    assert_eq!(eval.applied_policies_json(), json!([]));
}
