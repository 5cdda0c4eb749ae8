//! Graph JSON: the entra-compat §6 samples round-trip unchanged, unknown members survive, and
//! validation rejects what Entra rejects with a typed error and a Graph-400 message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ostiary_policy::*;
use serde_json::{Value, json};
use std::sync::Arc;

const POLICY_SAMPLE: &str = include_str!("fixtures/entra_policy_sample.json");
const LOCATIONS_SAMPLE: &str = include_str!("fixtures/entra_named_locations_sample.jsonl");

fn sample_locations() -> Vec<Value> {
    serde_json::Deserializer::from_str(LOCATIONS_SAMPLE).into_iter::<Value>().map(Result::unwrap).collect()
}

#[test]
fn entra_policy_sample_round_trips_unchanged() {
    let original: Value = serde_json::from_str(POLICY_SAMPLE).unwrap();
    let policy = ConditionalAccessPolicy::from_json(POLICY_SAMPLE).unwrap();
    assert_eq!(policy.to_value(), original);
    // Typed where evaluated…
    assert_eq!(policy.state, PolicyState::EnabledForReportingButNotEnforced);
    assert_eq!(
        policy.conditions.platforms.as_ref().unwrap().exclude_platforms,
        Some(vec![ConditionalAccessDevicePlatform::IOs, ConditionalAccessDevicePlatform::WindowsPhone])
    );
    assert_eq!(policy.session_controls.as_ref().unwrap().sign_in_frequency.as_ref().unwrap().value, Some(4));
    // …kept verbatim where not.
    assert_eq!(policy.conditions.extra["devices"]["deviceFilter"]["mode"], "exclude");
    assert_eq!(policy.conditions.extra["authenticationFlows"], Value::Null);
    assert_eq!(
        policy.session_controls.as_ref().unwrap().extra["cloudAppSecurity"]["cloudAppSecurityType"],
        "blockDownloads"
    );
    assert_eq!(policy.conditions.users.as_ref().unwrap().extra["includeGuestsOrExternalUsers"], Value::Null);
    // And the sample is a valid policy.
    validate_policy(&policy, &[]).unwrap();
}

#[test]
fn entra_named_location_samples_round_trip_unchanged() {
    let samples = sample_locations();
    assert_eq!(samples.len(), 2);
    for original in samples {
        let location = NamedLocation::from_value(original.clone()).unwrap();
        assert_eq!(location.to_value(), original);
        validate_location(&location).unwrap();
    }
    let ip = NamedLocation::from_value(sample_locations()[0].clone()).unwrap();
    assert!(ip.is_trusted());
    let NamedLocation::Ip(ip) = ip else { panic!("ip location") };
    assert_eq!(ip.extra["createdDateTime"], "…");
}

#[test]
fn unknown_members_everywhere_survive() {
    let mut v: Value = serde_json::from_str(POLICY_SAMPLE).unwrap();
    v["description"] = json!("new Graph property");
    v["conditions"]["users"]["excludeGuestsOrExternalUsers"] =
        json!({"guestOrExternalUserTypes": "b2bCollaborationGuest", "externalTenants": {"membershipKind": "all"}});
    v["conditions"]["applications"]["applicationFilter"] = json!({"mode": "include", "rule": "x"});
    v["conditions"]["insiderRiskLevels"] = json!("elevated");
    v["grantControls"]["termsOfUse"] = json!(["tou-1"]);
    v["grantControls"]["authenticationStrength"] = json!({"id": "00000000-0000-0000-0000-000000000004",
        "displayName": "Phishing resistant MFA", "allowedCombinations": ["fido2"], "policyType": "builtIn", "n": 1.5});
    v["sessionControls"]["signInFrequency"]["future"] = json!([1, null, {"a": true}]);
    v["sessionControls"]["persistentBrowser"]["extra"] = json!(u64::MAX);
    let policy = ConditionalAccessPolicy::from_value(v.clone()).unwrap();
    assert_eq!(policy.to_value(), v);
    assert_eq!(
        policy.grant_controls.as_ref().unwrap().authentication_strength.as_ref().unwrap().allowed_combinations(),
        Some(vec!["fido2"])
    );
}

#[test]
fn unknown_enum_values_round_trip_and_are_reported() {
    let mut v: Value = serde_json::from_str(POLICY_SAMPLE).unwrap();
    v["conditions"]["platforms"]["includePlatforms"] = json!(["all", "ChromeOS"]);
    let policy = ConditionalAccessPolicy::from_value(v.clone()).unwrap();
    assert_eq!(policy.to_value(), v);
    let err = validate_policy(&policy, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid value 'ChromeOS' for 'includePlatforms'. Allowed values: all, android, iOS, windows, windowsPhone, macOS, linux."
    );
    assert_eq!(err.graph_code(), "BadRequest");
}

#[test]
fn a_post_body_reads_with_absent_properties_as_null() {
    let body = json!({
        "displayName": "Block legacy", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["other"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    let policy = ConditionalAccessPolicy::from_value(body).unwrap();
    validate_policy(&policy, &[]).unwrap();
    let out = policy.to_value();
    assert_eq!(out["sessionControls"], Value::Null);
    assert_eq!(out["conditions"]["users"]["excludeUsers"], Value::Null);
    assert_eq!(out["conditions"]["clientAppTypes"], json!(["other"]));
    // Normalised once, stable afterwards.
    assert_eq!(ConditionalAccessPolicy::from_value(out.clone()).unwrap().to_value(), out);
}

#[test]
fn wrong_json_types_are_typed_errors() {
    for bad in [
        r#"{"conditions": {"users": {"includeUsers": "All"}}}"#,
        r#"{"state": 3}"#,
        r#"[]"#,
        r#"{"sessionControls": {"signInFrequency": {"value": 1.5}}}"#,
        "{",
    ] {
        let err = ConditionalAccessPolicy::from_json(bad).unwrap_err();
        assert!(matches!(err, PolicyError::InvalidJson { what: "conditionalAccessPolicy", .. }), "{bad}: {err}");
    }
    let err =
        NamedLocation::from_json(r##"{"@odata.type": "#microsoft.graph.compliantNetworkNamedLocation"}"##).unwrap_err();
    assert!(matches!(err, PolicyError::InvalidJson { what: "namedLocation", .. }));
}

fn valid() -> Value {
    json!({
        "displayName": "Valid", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    })
}

#[test]
fn validation_rules() {
    type Edit = fn(&mut Value);
    // (case, edit of a valid policy, expected message)
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("no name", |v| v["displayName"] = json!(" "), "The property 'displayName' is required."),
        (
            "no state",
            |v| {
                v.as_object_mut().unwrap().remove("state");
            },
            "The property 'state' is required.",
        ),
        (
            "bad state",
            |v| v["state"] = json!("on"),
            "Invalid value 'on' for 'state'. Allowed values: enabled, disabled, enabledForReportingButNotEnforced.",
        ),
        ("no users", |v| v["conditions"]["users"] = json!(null), "The policy has no user condition"),
        (
            "empty users",
            |v| v["conditions"]["users"] = json!({"includeUsers": [], "excludeUsers": ["GuestsOrExternalUsers"]}),
            "The policy has no user condition",
        ),
        (
            "no apps",
            |v| v["conditions"]["applications"] = json!({"includeApplications": []}),
            "The policy has no application condition",
        ),
        (
            "bad user id",
            |v| v["conditions"]["users"]["includeUsers"] = json!(["alice@contoso.test"]),
            "Invalid value 'alice@contoso.test' in 'includeUsers': expected a user id (GUID), All, None or GuestsOrExternalUsers",
        ),
        (
            "All plus id",
            |v| v["conditions"]["users"]["includeUsers"] = json!(["All", "10000000-0000-4000-8000-000000000001"]),
            "'All' and 'None' cannot be combined",
        ),
        (
            "exclude All",
            |v| v["conditions"]["users"]["excludeUsers"] = json!(["All"]),
            "Invalid value 'All' in 'excludeUsers'",
        ),
        (
            "bad group",
            |v| v["conditions"]["users"]["excludeGroups"] = json!(["admins"]),
            "Invalid value 'admins' in 'excludeGroups': expected a GUID",
        ),
        (
            "bad app",
            |v| v["conditions"]["applications"]["includeApplications"] = json!(["Graph"]),
            "Invalid value 'Graph' in 'includeApplications'",
        ),
        (
            "apps and actions",
            |v| v["conditions"]["applications"]["includeUserActions"] = json!(["urn:user:registersecurityinfo"]),
            "includeApplications and includeUserActions cannot both be set",
        ),
        (
            "bad action",
            |v| v["conditions"]["applications"] = json!({"includeUserActions": ["urn:user:register"]}),
            "Invalid value 'urn:user:register' in 'includeUserActions'",
        ),
        (
            "bad client app",
            |v| v["conditions"]["clientAppTypes"] = json!(["Browser"]),
            "Invalid value 'Browser' for 'clientAppTypes'",
        ),
        (
            "bad platform",
            |v| v["conditions"]["platforms"] = json!({"includePlatforms": ["ios"]}),
            "Invalid value 'ios' for 'includePlatforms'",
        ),
        (
            "exclude all platforms",
            |v| v["conditions"]["platforms"] = json!({"includePlatforms": ["android"], "excludePlatforms": ["all"]}),
            "'all' can only be included",
        ),
        (
            "exclude without include",
            |v| v["conditions"]["platforms"] = json!({"includePlatforms": [], "excludePlatforms": ["iOS"]}),
            "excludePlatforms requires includePlatforms.",
        ),
        (
            "unknown location",
            |v| {
                v["conditions"]["locations"] = json!({"includeLocations": ["All"], "excludeLocations": ["loc-nowhere"]})
            },
            "'excludeLocations' references the named location 'loc-nowhere', which does not exist.",
        ),
        (
            "exclude All locations",
            |v| v["conditions"]["locations"] = json!({"includeLocations": ["loc-hq"], "excludeLocations": ["All"]}),
            "'All' can only be included",
        ),
        (
            "locations exclude only",
            |v| v["conditions"]["locations"] = json!({"excludeLocations": ["AllTrusted"]}),
            "excludeLocations requires includeLocations.",
        ),
        (
            "bad risk",
            |v| v["conditions"]["signInRiskLevels"] = json!(["severe"]),
            "Invalid value 'severe' for 'signInRiskLevels'. Allowed values: low, medium, high, hidden, none.",
        ),
        ("no controls", |v| v["grantControls"] = json!(null), "The policy needs grantControls or sessionControls."),
        (
            "empty controls",
            |v| v["grantControls"] = json!({"operator": "OR", "builtInControls": []}),
            "The policy needs grantControls or sessionControls.",
        ),
        (
            "bad control",
            |v| v["grantControls"]["builtInControls"] = json!(["mfa", "faceId"]),
            "Invalid value 'faceId' for 'builtInControls'",
        ),
        (
            "block and mfa",
            |v| v["grantControls"]["builtInControls"] = json!(["block", "mfa"]),
            "The grant control 'block' cannot be combined with other grant controls.",
        ),
        (
            "block and strength",
            |v| v["grantControls"] = json!({"operator": "OR", "builtInControls": ["block"], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}}),
            "'block' cannot be combined",
        ),
        (
            "mfa and strength",
            |v| v["grantControls"]["authenticationStrength"] = json!({"id": "00000000-0000-0000-0000-000000000002"}),
            "'mfa' and 'authenticationStrength' cannot be combined",
        ),
        (
            "no operator",
            |v| {
                v["grantControls"].as_object_mut().unwrap().remove("operator");
            },
            "The property 'grantControls.operator' is required.",
        ),
        (
            "lower-case operator",
            |v| v["grantControls"]["operator"] = json!("or"),
            "Invalid value 'or' for 'grantControls.operator'. Allowed values: AND, OR.",
        ),
        (
            "frequency 24 hours",
            |v| v["sessionControls"] = json!({"signInFrequency": {"value": 24, "type": "hours", "isEnabled": true}}),
            "hours must be 1 to 23",
        ),
        (
            "frequency 0 days",
            |v| v["sessionControls"] = json!({"signInFrequency": {"value": 0, "type": "days", "isEnabled": true}}),
            "days must be 1 to 365",
        ),
        (
            "frequency no type",
            |v| v["sessionControls"] = json!({"signInFrequency": {"value": 3, "isEnabled": true}}),
            "The property 'signInFrequency.type' is required.",
        ),
        (
            "every time with value",
            |v| v["sessionControls"] = json!({"signInFrequency": {"value": 3, "type": "hours", "frequencyInterval": "everyTime", "isEnabled": true}}),
            "must have value and type null",
        ),
        (
            "browser mode",
            |v| v["sessionControls"] = json!({"persistentBrowser": {"mode": "sometimes", "isEnabled": true}}),
            "Invalid value 'sometimes' for 'persistentBrowser.mode'",
        ),
        (
            "workload with users",
            |v| {
                v["conditions"]["clientApplications"] =
                    json!({"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]})
            },
            "cannot also include users",
        ),
        (
            "huge list",
            |v| v["conditions"]["users"]["excludeGroups"] = json!(vec!["10000000-0000-4000-8000-000000000001"; 5001]),
            "'excludeGroups' has 5001 entries; at most 5000 are allowed.",
        ),
        (
            "hostile value shown short",
            |v| v["conditions"]["users"]["includeGroups"] = json!(["\u{0}".repeat(300)]),
            "Invalid value '\u{fffd}",
        ),
    ];
    let known = locations();
    validate_policy(&ConditionalAccessPolicy::from_value(valid()).unwrap(), &known).unwrap();
    for (name, edit, message) in cases {
        let mut v = valid();
        edit(&mut v);
        let policy = ConditionalAccessPolicy::from_value(v).unwrap();
        let err = validate_policy(&policy, &known).expect_err(name);
        let text = err.to_string();
        assert!(text.contains(message), "{name}: {text}");
        assert!(text.len() < 400, "{name}: message too long");
    }
}

#[test]
fn validation_accepts_entra_shapes() {
    let ok: Vec<Value> = vec![
        // Workload identity: users None, All apps, SPs, block only.
        json!({"displayName": "wl", "state": "enabled", "conditions": {"users": {"includeUsers": ["None"]},
            "applications": {"includeApplications": ["All"]},
            "clientApplications": {"includeServicePrincipals": ["ServicePrincipalsInMyTenant"], "excludeServicePrincipals": [id(SP).to_string()]},
            "servicePrincipalRiskLevels": ["high"]},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        // User action + strength.
        json!({"displayName": "register", "state": "enabledForReportingButNotEnforced", "conditions": {"users": {"includeRoles": [GLOBAL_ADMIN_ROLE]},
            "applications": {"includeUserActions": ["urn:user:registersecurityinfo"]}},
            "grantControls": {"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"}}}),
        // Session only, every time, locations by id (case-insensitively).
        json!({"displayName": "sif", "state": "disabled", "conditions": {"users": {"includeGroups": [id(GROUP_A).to_string()]},
            "applications": {"includeApplications": ["MicrosoftAdminPortals"], "excludeApplications": ["Office365"]},
            "locations": {"includeLocations": ["LOC-BLOCKED", "loc-eu"], "excludeLocations": ["AllTrusted"]}},
            "grantControls": null,
            "sessionControls": {"signInFrequency": {"value": null, "type": null, "frequencyInterval": "everyTime",
                "authenticationType": "primaryAndSecondaryAuthentication", "isEnabled": true}}}),
        // Authentication contexts count as the application condition.
        json!({"displayName": "ctx", "state": "enabled", "conditions": {"users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": [], "includeAuthenticationContextClassReferences": ["c1"]}},
            "grantControls": {"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}}),
    ];
    let known = locations();
    for v in ok {
        let policy = ConditionalAccessPolicy::from_value(v).unwrap();
        validate_policy(&policy, &known).unwrap_or_else(|e| panic!("{}: {e}", policy.display_name));
    }
}

#[test]
fn location_validation() {
    let ip = |cidr: &str, t: &str| {
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "isTrusted": false,
            "ipRanges": [{"@odata.type": t, "cidrAddress": cidr}]})
    };
    let v4 = "#microsoft.graph.iPv4CidrRange";
    let v6 = "#microsoft.graph.iPv6CidrRange";
    let bad: Vec<(Value, &str)> = vec![
        (ip("1.2.3.4/33", v4), "Invalid cidrAddress '1.2.3.4/33'"),
        (ip("1.2.3.4", v4), "expected an IPv4 or IPv6 CIDR"),
        (ip("abc", v4), "Invalid cidrAddress 'abc'"),
        (ip("", v4), "Invalid cidrAddress ''"),
        (ip("::/129", v6), "Invalid cidrAddress '::/129'"),
        (ip("1.0.0.0/7", v4), "prefixes shorter than /8 are not allowed"),
        (ip("0.0.0.0/0", v4), "prefixes shorter than /8"),
        (ip("2001:db8::/32", v4), "does not match the address family"),
        (ip("10.0.0.0/8", v6), "does not match the address family"),
        (ip("10.0.0.0/8", "#microsoft.graph.iPv4Range"), "does not match"),
        (
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x", "ipRanges": []}),
            "'ipRanges' is required",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "", "ipRanges": []}),
            "'displayName' is required",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x",
            "ipRanges": vec![json!({"cidrAddress": "10.0.0.0/8"}); 2001]}),
            "'ipRanges' has 2001 entries; at most 2000",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "c", "countriesAndRegions": ["UK"]}),
            "Invalid country or region 'UK': expected an ISO 3166-1 alpha-2 code such as 'US'.",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "c", "countriesAndRegions": ["us"]}),
            "'us'",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "c", "countriesAndRegions": []}),
            "'countriesAndRegions' is required",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "c", "countriesAndRegions": ["FR"],
            "countryLookupMethod": "gps"}),
            "Invalid value 'gps' for 'countryLookupMethod'",
        ),
    ];
    for (v, message) in bad {
        let location = NamedLocation::from_value(v.clone()).unwrap();
        let err = validate_location(&location).expect_err(message);
        assert!(err.to_string().contains(message), "{v}: {err}");
    }
    for good in [
        ip("12.34.221.11/22", v4),
        ip("2001:db8::/32", v6),
        ip("::ffff:10.0.0.0/104", v6),
        json!({"@odata.type": "microsoft.graph.ipNamedLocation", "displayName": "no hash", "ipRanges": [{"cidrAddress": "10.0.0.0/8"}]}),
        json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "unknown only", "countriesAndRegions": [],
            "includeUnknownCountriesAndRegions": true, "countryLookupMethod": "authenticatorAppGps"}),
    ] {
        let location = NamedLocation::from_value(good.clone()).unwrap();
        validate_location(&location).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn built_in_strengths_as_data() {
    let ids: Vec<&str> = BUILT_IN_STRENGTHS.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [
            "00000000-0000-0000-0000-000000000002",
            "00000000-0000-0000-0000-000000000003",
            "00000000-0000-0000-0000-000000000004"
        ]
    );
    let mfa = built_in_strength("00000000-0000-0000-0000-000000000002").unwrap();
    assert_eq!(mfa.display_name, "Multifactor authentication");
    assert!(mfa.allowed_combinations.contains(&"password,softwareOath"));
    let json = mfa.to_graph_json();
    assert_eq!(json["requirementsSatisfied"], "mfa");
    assert_eq!(json["allowedCombinations"].as_array().unwrap().len(), mfa.allowed_combinations.len());
    let phishing = built_in_strength("00000000-0000-0000-0000-000000000004").unwrap();
    assert_eq!(phishing.allowed_combinations, ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"]);
}

#[test]
fn compile_warns_about_what_validation_would_reject() {
    let p = policy(json!({"conditions": {"users": {"includeUsers": ["All"], "excludeGroups": ["not-a-guid"]},
        "applications": {"includeApplications": ["All"]}, "locations": {"includeLocations": ["ghost"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["retina"]}}));
    let bad_location =
        location(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "l", "displayName": "L",
        "ipRanges": [{"cidrAddress": "300.1.1.1/8"}]}));
    let set = Arc::new(PolicySet::compile(&[p], &[bad_location]));
    let warnings = set.warnings().join("\n");
    for expected in ["not-a-guid", "ghost", "retina", "300.1.1.1/8"] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }
}
