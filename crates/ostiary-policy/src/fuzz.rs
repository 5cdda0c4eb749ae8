//! Deterministic hostile-input loops (xorshift): random and mutated JSON through every parser,
//! random policy sets and sign-ins through the evaluator. Nothing may panic, and what is
//! accepted must keep the documented invariants (round trip, report-only never enforced,
//! exclusion beats inclusion).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Keys and strings the model knows, so random documents reach the typed paths.
const KEYS: &[&str] = &[
    "id",
    "displayName",
    "state",
    "conditions",
    "users",
    "applications",
    "clientApplications",
    "locations",
    "platforms",
    "clientAppTypes",
    "signInRiskLevels",
    "userRiskLevels",
    "servicePrincipalRiskLevels",
    "includeUsers",
    "excludeUsers",
    "includeGroups",
    "excludeGroups",
    "includeRoles",
    "excludeRoles",
    "includeApplications",
    "excludeApplications",
    "includeUserActions",
    "includeServicePrincipals",
    "excludeServicePrincipals",
    "includeLocations",
    "excludeLocations",
    "includePlatforms",
    "excludePlatforms",
    "grantControls",
    "operator",
    "builtInControls",
    "authenticationStrength",
    "allowedCombinations",
    "sessionControls",
    "signInFrequency",
    "value",
    "type",
    "frequencyInterval",
    "authenticationType",
    "isEnabled",
    "persistentBrowser",
    "mode",
    "@odata.type",
    "ipRanges",
    "cidrAddress",
    "isTrusted",
    "countriesAndRegions",
    "includeUnknownCountriesAndRegions",
    "countryLookupMethod",
    "devices",
    "x",
    "",
];

const STRINGS: &[&str] = &[
    "All",
    "None",
    "GuestsOrExternalUsers",
    "AllTrusted",
    "Office365",
    "MicrosoftAdminPortals",
    "ServicePrincipalsInMyTenant",
    "urn:user:registersecurityinfo",
    "enabled",
    "disabled",
    "enabledForReportingButNotEnforced",
    "block",
    "mfa",
    "compliantDevice",
    "passwordChange",
    "AND",
    "OR",
    "and",
    "all",
    "iOS",
    "ios",
    "android",
    "browser",
    "other",
    "high",
    "hidden",
    "hours",
    "days",
    "everyTime",
    "timeBased",
    "never",
    "#microsoft.graph.ipNamedLocation",
    "#microsoft.graph.countryNamedLocation",
    "#microsoft.graph.iPv4CidrRange",
    "#microsoft.graph.iPv6CidrRange",
    "10.0.0.0/8",
    "1.2.3.4/33",
    "::/0",
    "2001:db8::/32",
    "12.34.221.11/22",
    "abc",
    "KP",
    "us",
    "ZZZ",
    "00000000-0000-0000-0000-000000000004",
    "10000000-0000-4000-8000-000000000001",
    "not-a-guid",
    "",
    "\u{0}",
    "é漢😀",
    "\u{202e}",
    "loc-1",
];

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match if depth > 4 { rng.below(5) } else { rng.below(8) } {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => match rng.below(4) {
            0 => json!(rng.next() as i64),
            1 => json!(rng.below(30) as i64 - 5),
            2 => json!(rng.next()),
            _ => json!((rng.next() % 1000) as f64 / 7.0),
        },
        3 | 4 => Value::String(rng.pick(STRINGS).to_owned()),
        5 => Value::Array((0..rng.below(5)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(7) {
                map.insert(rng.pick(KEYS).to_owned(), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

fn random_facts(rng: &mut Rng, ids: &[Uuid]) -> SignInFacts {
    let pick = |rng: &mut Rng| ids[rng.below(ids.len())];
    let mut facts = if rng.chance(80) {
        let user = SubjectFacts {
            id: pick(rng),
            group_ids: (0..rng.below(6)).map(|_| pick(rng)).collect(),
            role_template_ids: (0..rng.below(2)).map(|_| pick(rng)).collect(),
            is_guest: rng.chance(20),
        };
        SignInFacts::user(user, pick(rng))
    } else {
        SignInFacts::service_principal(pick(rng), pick(rng), pick(rng))
    };
    if rng.chance(10) {
        facts.resource_app_id = Some(MICROSOFT_GRAPH_APP_ID);
    }
    if rng.chance(10) {
        facts.user_action = Some(UserAction::RegisterSecurityInfo);
    }
    if rng.chance(5) {
        facts.resource_app_id = None;
    }
    facts.client_app_type =
        [ClientAppType::Browser, ClientAppType::MobileAppsAndDesktopClients, ClientAppType::Other][rng.below(3)];
    facts.platform = if rng.chance(20) { None } else { Some(Platform::ALL[rng.below(6)]) };
    let ips = ["10.1.2.3", "203.0.113.9", "2001:db8::1", "::ffff:10.0.0.1", "198.51.100.7", "0.0.0.0"];
    facts.ip = if rng.chance(20) { None } else { Some(rng.pick(&ips).parse::<IpAddr>().unwrap()) };
    facts.country =
        if rng.chance(30) { None } else { Some(rng.pick(&["KP", "FR", "us", "CH", "", "??", "XX"]).to_owned()) };
    let risks = [RiskLevel::None, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High];
    facts.sign_in_risk = risks[rng.below(4)];
    facts.user_risk = risks[rng.below(4)];
    facts.service_principal_risk = risks[rng.below(4)];
    facts.device_compliant = [None, Some(true), Some(false)][rng.below(3)];
    let all = [AuthMethod::Password, AuthMethod::SoftwareOath, AuthMethod::Fido2, AuthMethod::RecoveryCode];
    facts.authentication = AuthenticationFacts {
        methods: all.into_iter().filter(|_| rng.chance(40)).collect(),
        secs_since_primary: rng.next() % 200_000,
        secs_since_mfa: if rng.chance(50) { Some(rng.next() % 200_000) } else { None },
        password_changed_in_flow: rng.chance(10),
    };
    facts
}

/// A structurally valid policy with random content from a small id pool.
fn random_policy(rng: &mut Rng, n: usize, ids: &[Uuid]) -> Value {
    let some_ids = |rng: &mut Rng, specials: &[&str]| -> Value {
        let mut list: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            if !specials.is_empty() && rng.chance(30) {
                list.push(rng.pick(specials).to_owned());
            } else {
                list.push(ids[rng.below(ids.len())].to_string());
            }
        }
        json!(list)
    };
    let enums = |rng: &mut Rng, values: &[&str]| -> Value {
        json!((0..rng.below(3)).map(|_| rng.pick(values).to_owned()).collect::<Vec<_>>())
    };
    let workload = rng.chance(15);
    let controls = ["block", "mfa", "compliantDevice", "passwordChange", "approvedApplication", "riskRemediation"];
    json!({
        "id": format!("p{n}"),
        "displayName": format!("policy {n}"),
        "state": rng.pick(&["enabled", "enabled", "disabled", "enabledForReportingButNotEnforced"]),
        "conditions": {
            "users": {
                "includeUsers": if workload { json!(["None"]) } else { some_ids(rng, &["All", "GuestsOrExternalUsers", "None"]) },
                "excludeUsers": some_ids(rng, &["GuestsOrExternalUsers"]),
                "includeGroups": some_ids(rng, &[]),
                "excludeGroups": some_ids(rng, &[]),
                "includeRoles": some_ids(rng, &[]),
                "excludeRoles": if rng.chance(80) { json!([]) } else { some_ids(rng, &[]) },
            },
            "applications": if rng.chance(10) {
                json!({"includeUserActions": ["urn:user:registersecurityinfo"]})
            } else {
                json!({"includeApplications": some_ids(rng, &["All", "All", "MicrosoftAdminPortals"]),
                       "excludeApplications": if rng.chance(70) { json!([]) } else { some_ids(rng, &["MicrosoftAdminPortals"]) }})
            },
            "clientApplications": if workload {
                json!({"includeServicePrincipals": some_ids(rng, &["ServicePrincipalsInMyTenant"]), "excludeServicePrincipals": some_ids(rng, &[])})
            } else { Value::Null },
            "clientAppTypes": enums(rng, &["all", "browser", "mobileAppsAndDesktopClients", "other"]),
            "platforms": if rng.chance(70) { Value::Null } else {
                json!({"includePlatforms": enums(rng, &["all", "iOS", "android", "windows"]), "excludePlatforms": enums(rng, &["iOS", "linux"])})
            },
            "locations": if rng.chance(60) { Value::Null } else {
                json!({"includeLocations": enums(rng, &["All", "AllTrusted", "loc-hq", "loc-kp"]), "excludeLocations": enums(rng, &["AllTrusted", "loc-hq", "loc-kp"])})
            },
            "signInRiskLevels": if rng.chance(80) { json!([]) } else { enums(rng, &["low", "medium", "high", "none"]) },
            "userRiskLevels": if rng.chance(90) { json!([]) } else { enums(rng, &["high"]) },
            "servicePrincipalRiskLevels": if rng.chance(90) { json!([]) } else { enums(rng, &["high", "none"]) },
        },
        "grantControls": if rng.chance(10) { Value::Null } else {
            json!({"operator": rng.pick(&["AND", "OR"]), "builtInControls": enums(rng, &controls),
                   "authenticationStrength": if rng.chance(20) { json!({"id": rng.pick(&["00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000004", "zz"])}) } else { Value::Null }})
        },
        "sessionControls": if rng.chance(70) { Value::Null } else {
            json!({"signInFrequency": {"value": rng.below(30), "type": rng.pick(&["hours", "days"]), "isEnabled": rng.chance(80),
                                       "frequencyInterval": rng.pick(&["timeBased", "everyTime"])},
                   "persistentBrowser": {"mode": rng.pick(&["always", "never"]), "isEnabled": true}})
        },
    })
}

fn fuzz_locations() -> Vec<NamedLocation> {
    vec![
        NamedLocation::from_value(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-hq", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [{"cidrAddress": "10.0.0.0/8"}, {"cidrAddress": "2001:db8::/32"}, {"cidrAddress": "bogus"}]}))
        .unwrap(),
        NamedLocation::from_value(json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "loc-kp", "displayName": "KP",
            "countriesAndRegions": ["KP", "ZZZ", ""], "includeUnknownCountriesAndRegions": true}))
        .unwrap(),
    ]
}

#[test]
fn random_json_never_panics_and_round_trips() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let ids: Vec<Uuid> = (1..8u128).map(|n| Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)).collect();
    let (mut parsed, mut locations) = (0, 0);
    for _ in 0..8_000 {
        let mut value = random_value(&mut rng, 0);
        if rng.chance(50)
            && let Value::Object(map) = &mut value
        {
            map.insert("conditions".into(), random_value(&mut rng, 1));
        }
        if rng.chance(30)
            && let Value::Object(map) = &mut value
        {
            let kind = rng.pick(&["#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"]);
            map.insert("@odata.type".into(), json!(kind));
        }
        let text = value.to_string();
        if let Ok(policy) = ConditionalAccessPolicy::from_json(&text) {
            parsed += 1;
            let _ = validate_policy(&policy, &[]);
            // Normalised once (absent known properties become null), then stable.
            let once = policy.to_value();
            let again = ConditionalAccessPolicy::from_value(once.clone()).unwrap();
            assert_eq!(again.to_value(), once);
            let set = Arc::new(PolicySet::compile(std::slice::from_ref(&policy), &fuzz_locations()));
            let facts = random_facts(&mut rng, &ids);
            let eval = set.evaluate(&facts);
            assert_eq!(eval.policies().len(), 1);
            let _ = eval.applied_policies_json();
            let _ = eval.policies().next().unwrap().reasons();
            let _ = lockout_check(&policy, &Population { all_users: true, ..Population::default() });
        }
        if let Ok(location) = NamedLocation::from_json(&text) {
            locations += 1;
            let _ = validate_location(&location);
            let once = location.to_value();
            assert_eq!(NamedLocation::from_value(once.clone()).unwrap().to_value(), once);
        }
        // Raw bytes too: truncations and garbage.
        let cut = rng.below(text.len() + 1);
        let _ = ConditionalAccessPolicy::from_json(text.get(..cut).unwrap_or(""));
        let _ = NamedLocation::from_json(text.get(..cut).unwrap_or(""));
    }
    assert!(parsed > 500, "the generator must reach the typed paths ({parsed})");
    assert!(locations > 10, "{locations}");
}

fn scalar_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(json!(k));
                scalar_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(json!(i));
                scalar_paths(child, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn at<'v>(v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

#[test]
fn mutated_entra_samples_round_trip_exactly_when_accepted() {
    let policy: Value = serde_json::from_str(include_str!("../tests/fixtures/entra_policy_sample.json")).unwrap();
    let locations: Vec<Value> =
        serde_json::Deserializer::from_str(include_str!("../tests/fixtures/entra_named_locations_sample.jsonl"))
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut accepted = 0;
    for sample in std::iter::once(&policy).chain(&locations) {
        let mut paths = Vec::new();
        scalar_paths(sample, &mut Vec::new(), &mut paths);
        for _ in 0..1500 {
            let mut mutated = sample.clone();
            for _ in 0..1 + rng.below(3) {
                let path = &paths[rng.below(paths.len())];
                // Scalars only: a known property keeps its key, so the round trip must be exact.
                *at(&mut mutated, path) = loop {
                    let v = random_value(&mut rng, 5);
                    if !v.is_object() && !v.is_array() {
                        break v;
                    }
                };
            }
            if sample.get("@odata.type").is_some() {
                if let Ok(l) = NamedLocation::from_value(mutated.clone()) {
                    accepted += 1;
                    // Switching the type makes the other type's properties "absent", hence null.
                    if mutated["@odata.type"] == sample["@odata.type"] {
                        assert_eq!(l.to_value(), mutated);
                    }
                    let _ = validate_location(&l);
                    let _ = Arc::new(PolicySet::compile(&[], &[l]));
                }
            } else if let Ok(p) = ConditionalAccessPolicy::from_value(mutated.clone()) {
                accepted += 1;
                assert_eq!(p.to_value(), mutated);
                let _ = validate_policy(&p, &[]);
                let set = Arc::new(PolicySet::compile(&[p], &[]));
                let _ = set.evaluate(&SignInFacts::user(SubjectFacts::default(), Uuid::nil()));
            }
        }
    }
    assert!(accepted > 500, "{accepted}");
}

#[test]
fn report_only_and_disabled_never_change_the_decision() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut ids: Vec<Uuid> =
        (1..6u128).map(|n| Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)).collect();
    ids.push(MICROSOFT_GRAPH_APP_ID);
    let locations = fuzz_locations();
    let (mut blocked, mut interrupted) = (0, 0);
    for round in 0..400 {
        let policies: Vec<ConditionalAccessPolicy> = (0..1 + rng.below(12))
            .map(|n| ConditionalAccessPolicy::from_value(random_policy(&mut rng, n, &ids)).unwrap())
            .collect();
        let enforced: Vec<ConditionalAccessPolicy> =
            policies.iter().filter(|p| p.state == PolicyState::Enabled).cloned().collect();
        let full = Arc::new(PolicySet::compile(&policies, &locations));
        let only_enforced = Arc::new(PolicySet::compile(&enforced, &locations));
        for _ in 0..20 {
            let facts = random_facts(&mut rng, &ids);
            let a = full.evaluate(&facts);
            let b = only_enforced.evaluate(&facts);
            assert_eq!(a.outcome, b.outcome, "round {round}");
            assert_eq!(a.session, b.session, "round {round}");
            assert_eq!(a.policies().len(), policies.len());
            match &a.outcome {
                Outcome::Block { policy_ids } => {
                    blocked += 1;
                    for id in policy_ids {
                        let r = a.policy(id).unwrap();
                        assert_eq!(r.result, PolicyResultKind::Failure);
                        assert!(matches!(r.detail, Detail::Applied(d) if d.missing.contains(Control::Block)));
                    }
                }
                Outcome::Interrupt { requirements } => {
                    interrupted += 1;
                    assert!(!requirements.is_empty());
                    assert_eq!(a.conditional_access_status(), "failure");
                }
                Outcome::Allow => assert_ne!(a.conditional_access_status(), "failure"),
            }
            for (r, p) in a.policies().zip(&policies) {
                match p.state {
                    PolicyState::Disabled => assert_eq!(r.result, PolicyResultKind::NotEnabled),
                    PolicyState::EnabledForReportingButNotEnforced => {
                        assert!(r.result.as_str().starts_with("reportOnly"))
                    }
                    _ => assert!(!r.result.as_str().starts_with("reportOnly")),
                }
                assert!(!r.reasons().is_empty());
            }
            // Exclusion beats inclusion: excluding the user everywhere removes every decision.
            if let Subject::User(user) = &facts.subject {
                let excluded: Vec<ConditionalAccessPolicy> = policies
                    .iter()
                    .cloned()
                    .map(|mut p| {
                        let users = p.conditions.users.get_or_insert_with(Default::default);
                        users.exclude_users.get_or_insert_with(Vec::new).push(user.id.to_string());
                        p
                    })
                    .collect();
                let excluded_set = Arc::new(PolicySet::compile(&excluded, &locations));
                let eval = excluded_set.evaluate(&facts);
                assert_eq!(eval.outcome, Outcome::Allow);
                assert!(eval.policies().all(|r| !matches!(r.detail, Detail::Applied(_))));
            }
        }
    }
    assert!(blocked > 50 && interrupted > 50, "blocked {blocked}, interrupted {interrupted}");
}

#[test]
fn huge_lists_and_many_policies() {
    let group = |n: u128| Uuid::from_u128(0x2000_0000_0000_4000_8000_0000_0000_0000 + n);
    let groups: Vec<String> = (0..50_000u128).map(|n| group(n).to_string()).collect();
    let p = ConditionalAccessPolicy::from_value(json!({
        "id": "big", "displayName": "big", "state": "enabled",
        "conditions": {"users": {"includeGroups": groups, "excludeGroups": vec!["x"; 10]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }))
    .unwrap();
    let ranges: Vec<Value> = (0..20_000u32)
        .map(|i| json!({"cidrAddress": format!("{}.{}.{}.0/24", 11 + i / 65536, (i / 256) % 256, i % 256)}))
        .collect();
    let location = NamedLocation::from_value(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "l", "displayName": "many", "ipRanges": ranges})).unwrap();
    assert!(validate_location(&location).is_err(), "more than 2000 ranges");
    let set = Arc::new(PolicySet::compile(std::slice::from_ref(&p), &[location]));
    assert!(validate_policy(&p, &[]).is_err());
    let user = SubjectFacts {
        id: Uuid::nil(),
        group_ids: (40_000..140_000u128).map(group).collect(),
        ..SubjectFacts::default()
    };
    let eval = set.evaluate(&SignInFacts::user(user, Uuid::nil()));
    assert_eq!(eval.outcome, Outcome::Interrupt { requirements: vec![Requirement::Mfa] });

    let small = ConditionalAccessPolicy::from_value(json!({
        "displayName": "small", "state": "enabled",
        "conditions": {"users": {"includeGroups": [group(1).to_string()]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }))
    .unwrap();
    let many: Vec<ConditionalAccessPolicy> =
        (0..10_000).map(|n| ConditionalAccessPolicy { id: format!("p{n}"), ..small.clone() }).collect();
    let set = Arc::new(PolicySet::compile(&many, &[]));
    let eval = set.evaluate(&SignInFacts::user(SubjectFacts::default(), Uuid::nil()));
    assert_eq!(eval.policies().len(), 10_000);
    assert_eq!(eval.outcome, Outcome::Allow);
}
