//! Builders shared by the integration tests: policies from compact JSON, fixed ids, facts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ostiary_policy::*;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)
}

pub const USER: u128 = 1;
pub const OTHER_USER: u128 = 2;
pub const GROUP_A: u128 = 10;
pub const GROUP_B: u128 = 11;
pub const APP_X: u128 = 20;
pub const APP_Y: u128 = 21;
pub const SP: u128 = 30;
pub const SP_APP: u128 = 31;
pub const OTHER_SP: u128 = 32;
pub const GLOBAL_ADMIN_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

pub fn global_admin_role() -> Uuid {
    Uuid::parse_str(GLOBAL_ADMIN_ROLE).unwrap()
}

/// A policy from partial JSON: `id`, `displayName`, `state: enabled` and a block grant are
/// filled in when absent; `conditions` default to All users / All apps.
pub fn policy(partial: Value) -> ConditionalAccessPolicy {
    let mut v = json!({
        "id": "p",
        "displayName": "p",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    let (Value::Object(base), Value::Object(over)) = (&mut v, partial) else { panic!("objects") };
    for (k, val) in over {
        base.insert(k, val);
    }
    if base.get("displayName") == Some(&json!("p")) {
        let id = base["id"].clone();
        base.insert("displayName".into(), id);
    }
    ConditionalAccessPolicy::from_value(v).unwrap()
}

pub fn location(v: Value) -> NamedLocation {
    NamedLocation::from_value(v).unwrap()
}

/// HQ (trusted, 10.0.0.0/8 and 2001:db8:1::/48), Branch (203.0.113.0/24, untrusted),
/// Blocked (KP, IR), Europe+unknown (FR, DE + unknown), TrustedCountry (CH, trusted).
pub fn locations() -> Vec<NamedLocation> {
    vec![
        location(json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-hq", "displayName": "HQ",
            "isTrusted": true, "ipRanges": [
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"},
                {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8:1::/48"}]})),
        location(
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-branch", "displayName": "Branch",
            "isTrusted": false, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]}),
        ),
        location(
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "loc-blocked", "displayName": "Blocked",
            "countriesAndRegions": ["KP", "IR"], "includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"}),
        ),
        location(
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "loc-eu", "displayName": "Europe",
            "countriesAndRegions": ["FR", "DE"], "includeUnknownCountriesAndRegions": true, "countryLookupMethod": "clientIpAddress"}),
        ),
        location(
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "loc-ch", "displayName": "TrustedCountry",
            "countriesAndRegions": ["CH"], "includeUnknownCountriesAndRegions": false, "isTrusted": true}),
        ),
    ]
}

pub fn member() -> SubjectFacts {
    SubjectFacts { id: id(USER), group_ids: vec![id(GROUP_A)], role_template_ids: vec![], is_guest: false }
}

pub fn user_facts(subject: SubjectFacts) -> SignInFacts {
    SignInFacts::user(subject, id(APP_X))
}

pub fn sp_facts() -> SignInFacts {
    SignInFacts::service_principal(id(SP), id(SP_APP), id(APP_X))
}

pub fn methods(list: &[AuthMethod]) -> AuthMethods {
    list.iter().copied().collect()
}

/// Evaluates one policy and returns its result and reasons.
pub fn one(p: ConditionalAccessPolicy, facts: &SignInFacts) -> (PolicyResultKind, String, Outcome) {
    let set = Arc::new(PolicySet::compile(&[p], &locations()));
    let eval = set.evaluate(facts);
    let r = &eval.policies().next().unwrap();
    (r.result, r.reasons().join(" | "), eval.outcome.clone())
}
