//! Entra's three built-in authentication strengths, as data for
//! `/policies/authenticationStrengthPolicies`, and the matching of a session's methods against a
//! strength's allowed combinations.

use serde_json::{Value, json};

use crate::facts::{AuthMethod, AuthMethods};

/// One built-in `authenticationStrengthPolicy` (`policyType: builtIn`, `requirementsSatisfied: mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltInStrength {
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    /// Entra's `authenticationMethodModes` combinations, comma-joined as Graph returns them.
    pub allowed_combinations: &'static [&'static str],
}

pub const MFA_STRENGTH_ID: &str = "00000000-0000-0000-0000-000000000002";
pub const PASSWORDLESS_MFA_STRENGTH_ID: &str = "00000000-0000-0000-0000-000000000003";
pub const PHISHING_RESISTANT_MFA_STRENGTH_ID: &str = "00000000-0000-0000-0000-000000000004";

/// The lists and names are Graph's (`GET /policies/authenticationStrengthPolicies`).
pub const BUILT_IN_STRENGTHS: [BuiltInStrength; 3] = [
    BuiltInStrength {
        id: MFA_STRENGTH_ID,
        display_name: "Multifactor authentication",
        description: "Combinations of methods that satisfy strong authentication, such as a password + SMS",
        allowed_combinations: &[
            "windowsHelloForBusiness",
            "fido2",
            "x509CertificateMultiFactor",
            "deviceBasedPush",
            "temporaryAccessPassOneTime",
            "temporaryAccessPassMultiUse",
            "password,microsoftAuthenticatorPush",
            "password,softwareOath",
            "password,hardwareOath",
            "password,x509CertificateSingleFactor",
            "password,x509CertificateMultiFactor",
            "password,sms",
            "password,voice",
            "federatedMultiFactor",
            "microsoftAuthenticatorPush,federatedSingleFactor",
            "softwareOath,federatedSingleFactor",
            "hardwareOath,federatedSingleFactor",
            "sms,federatedSingleFactor",
            "voice,federatedSingleFactor",
        ],
    },
    BuiltInStrength {
        id: PASSWORDLESS_MFA_STRENGTH_ID,
        display_name: "Passwordless MFA",
        description: "Passwordless methods that satisfy strong authentication, such as Passwordless sign-in with the Microsoft Authenticator",
        allowed_combinations: &["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush"],
    },
    BuiltInStrength {
        id: PHISHING_RESISTANT_MFA_STRENGTH_ID,
        display_name: "Phishing resistant MFA",
        description: "Phishing resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
        allowed_combinations: &["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"],
    },
];

/// The built-in strengths, for `GET /policies/authenticationStrengthPolicies`.
pub fn builtin_strengths() -> &'static [BuiltInStrength] {
    &BUILT_IN_STRENGTHS
}

pub fn built_in_strength(id: &str) -> Option<&'static BuiltInStrength> {
    BUILT_IN_STRENGTHS.iter().find(|s| s.id.eq_ignore_ascii_case(id))
}

impl BuiltInStrength {
    /// The Graph `authenticationStrengthPolicy` JSON.
    pub fn to_graph_json(&self) -> Value {
        json!({
            "id": self.id,
            "createdDateTime": "2021-12-01T00:00:00Z",
            "modifiedDateTime": "2021-12-01T00:00:00Z",
            "displayName": self.display_name,
            "description": self.description,
            "policyType": "builtIn",
            "requirementsSatisfied": "mfa",
            "allowedCombinations": self.allowed_combinations,
            "combinationConfigurations": [],
        })
    }
}

/// A combination as a set of Ostiary methods, or `None` when it names a method Ostiary does not
/// have (SMS, Windows Hello, certificates, …): such a combination can never be met here.
pub(crate) fn combination_methods(combination: &str) -> Option<AuthMethods> {
    let mut methods = AuthMethods::empty();
    for mode in combination.split(',') {
        methods.insert(AuthMethod::from_entra_mode(mode.trim())?);
    }
    (methods != AuthMethods::empty()).then_some(methods)
}

/// Whether `used` covers one of the combinations.
pub(crate) fn satisfies(used: AuthMethods, combinations: &[AuthMethods]) -> bool {
    combinations.iter().any(|c| used.bits() & c.bits() == c.bits())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AuthMethod::*;

    fn combos(id: &str) -> Vec<AuthMethods> {
        built_in_strength(id).unwrap().allowed_combinations.iter().filter_map(|c| combination_methods(c)).collect()
    }

    #[test]
    fn built_in_strengths_against_ostiary_methods() {
        let set = |m: &[AuthMethod]| m.iter().copied().collect::<AuthMethods>();
        // (methods, mfa, passwordless, phishing-resistant)
        let cases: &[(&[AuthMethod], bool, bool, bool)] = &[
            (&[Password], false, false, false),
            (&[Password, SoftwareOath], true, false, false),
            (&[Fido2], true, true, true),
            (&[Password, Fido2], true, true, true),
            (&[RecoveryCode], true, false, false),
            (&[SoftwareOath], false, false, false),
        ];
        for (methods, mfa, pwless, phish) in cases {
            let used = set(methods);
            assert_eq!(satisfies(used, &combos(MFA_STRENGTH_ID)), *mfa, "{methods:?} mfa");
            assert_eq!(satisfies(used, &combos(PASSWORDLESS_MFA_STRENGTH_ID)), *pwless, "{methods:?} pwless");
            assert_eq!(satisfies(used, &combos(PHISHING_RESISTANT_MFA_STRENGTH_ID)), *phish, "{methods:?} phish");
        }
    }

    #[test]
    fn combination_parsing() {
        assert_eq!(
            combination_methods("password,softwareOath"),
            Some(AuthMethods::empty().with(Password).with(SoftwareOath))
        );
        assert_eq!(combination_methods("password, sms"), None);
        assert_eq!(combination_methods(""), None);
        assert_eq!(combination_methods(",,,"), None);
        let json = BUILT_IN_STRENGTHS[2].to_graph_json();
        assert_eq!(json["allowedCombinations"][1], "fido2");
        assert_eq!(json["policyType"], "builtIn");
        assert!(built_in_strength("00000000-0000-0000-0000-000000000004").is_some());
        assert!(built_in_strength("00000000-0000-0000-0000-000000000001").is_none());
    }
}
