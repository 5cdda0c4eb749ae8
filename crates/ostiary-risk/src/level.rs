//! Entra's risk vocabulary: `riskLevel`, `riskState`, `riskDetail`, `riskEventType` and
//! `detectionTimingType`, with the exact wire spellings of Graph v1.0.

use serde::{Deserialize, Serialize};

/// `riskLevel`. Ordered by severity through [`RiskLevel::rank`]; `hidden` is a display value
/// (Entra shows it to callers without the licence/permission) and ranks like `none`: this crate
/// never produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RiskLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
    Hidden,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Hidden => "hidden",
        }
    }

    /// Severity for comparisons: none/hidden 0, low 1, medium 2, high 3.
    pub fn rank(self) -> u8 {
        match self {
            RiskLevel::None | RiskLevel::Hidden => 0,
            RiskLevel::Low => 1,
            RiskLevel::Medium => 2,
            RiskLevel::High => 3,
        }
    }

    /// The more severe of the two (the first on a tie).
    pub fn max(self, other: RiskLevel) -> RiskLevel {
        if other.rank() > self.rank() { other } else { self }
    }
}

/// `riskState` of a detection or a risky user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RiskState {
    #[default]
    None,
    ConfirmedSafe,
    Remediated,
    Dismissed,
    AtRisk,
    ConfirmedCompromised,
}

impl RiskState {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskState::None => "none",
            RiskState::ConfirmedSafe => "confirmedSafe",
            RiskState::Remediated => "remediated",
            RiskState::Dismissed => "dismissed",
            RiskState::AtRisk => "atRisk",
            RiskState::ConfirmedCompromised => "confirmedCompromised",
        }
    }

    /// `atRisk` and `confirmedCompromised` still count towards user risk; the others are closed.
    pub fn is_open(self) -> bool {
        matches!(self, RiskState::AtRisk | RiskState::ConfirmedCompromised)
    }
}

/// `riskDetail`: why a detection or user is in its state. All v1.0 members, including the
/// evolvable ones after `unknownFutureValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RiskDetail {
    #[default]
    None,
    AdminGeneratedTemporaryPassword,
    UserPerformedSecuredPasswordChange,
    UserPerformedSecuredPasswordReset,
    AdminConfirmedSigninSafe,
    AiConfirmedSigninSafe,
    #[serde(rename = "userPassedMFADrivenByRiskBasedPolicy")]
    UserPassedMfaDrivenByRiskBasedPolicy,
    AdminDismissedAllRiskForUser,
    AdminConfirmedSigninCompromised,
    Hidden,
    AdminConfirmedUserCompromised,
    UnknownFutureValue,
    #[serde(rename = "m365DAdminDismissedDetection")]
    M365DAdminDismissedDetection,
    AdminConfirmedServicePrincipalCompromised,
    AdminDismissedAllRiskForServicePrincipal,
    UserChangedPasswordOnPremises,
    AdminDismissedRiskForSignIn,
    AdminConfirmedAccountSafe,
}

impl RiskDetail {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskDetail::None => "none",
            RiskDetail::AdminGeneratedTemporaryPassword => "adminGeneratedTemporaryPassword",
            RiskDetail::UserPerformedSecuredPasswordChange => "userPerformedSecuredPasswordChange",
            RiskDetail::UserPerformedSecuredPasswordReset => "userPerformedSecuredPasswordReset",
            RiskDetail::AdminConfirmedSigninSafe => "adminConfirmedSigninSafe",
            RiskDetail::AiConfirmedSigninSafe => "aiConfirmedSigninSafe",
            RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy => "userPassedMFADrivenByRiskBasedPolicy",
            RiskDetail::AdminDismissedAllRiskForUser => "adminDismissedAllRiskForUser",
            RiskDetail::AdminConfirmedSigninCompromised => "adminConfirmedSigninCompromised",
            RiskDetail::Hidden => "hidden",
            RiskDetail::AdminConfirmedUserCompromised => "adminConfirmedUserCompromised",
            RiskDetail::UnknownFutureValue => "unknownFutureValue",
            RiskDetail::M365DAdminDismissedDetection => "m365DAdminDismissedDetection",
            RiskDetail::AdminConfirmedServicePrincipalCompromised => "adminConfirmedServicePrincipalCompromised",
            RiskDetail::AdminDismissedAllRiskForServicePrincipal => "adminDismissedAllRiskForServicePrincipal",
            RiskDetail::UserChangedPasswordOnPremises => "userChangedPasswordOnPremises",
            RiskDetail::AdminDismissedRiskForSignIn => "adminDismissedRiskForSignIn",
            RiskDetail::AdminConfirmedAccountSafe => "adminConfirmedAccountSafe",
        }
    }
}

/// `riskEventType` values this crate raises. All but `bruteForce` are Entra's spellings;
/// Entra has no public brute-force type, so `bruteForce` is an Ostiary extension.
/// `adminConfirmedUserCompromised` is the detection Entra itself records when an admin confirms
/// a user compromised (see [`crate::confirm_compromised`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskEventType {
    PasswordSpray,
    UnlikelyTravel,
    UnfamiliarFeatures,
    #[serde(rename = "anonymizedIPAddress")]
    AnonymizedIpAddress,
    #[serde(rename = "maliciousIPAddress")]
    MaliciousIpAddress,
    LeakedCredentials,
    /// Ostiary extension: many failed passwords against one account.
    BruteForce,
    AdminConfirmedUserCompromised,
}

impl RiskEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskEventType::PasswordSpray => "passwordSpray",
            RiskEventType::UnlikelyTravel => "unlikelyTravel",
            RiskEventType::UnfamiliarFeatures => "unfamiliarFeatures",
            RiskEventType::AnonymizedIpAddress => "anonymizedIPAddress",
            RiskEventType::MaliciousIpAddress => "maliciousIPAddress",
            RiskEventType::LeakedCredentials => "leakedCredentials",
            RiskEventType::BruteForce => "bruteForce",
            RiskEventType::AdminConfirmedUserCompromised => "adminConfirmedUserCompromised",
        }
    }
}

/// `detectionTimingType`: `realtime` when raised on the attempt being assessed, `offline` when
/// raised afterwards about an earlier attempt (the other victims of a spray).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DetectionTiming {
    NotDefined,
    Realtime,
    NearRealtime,
    Offline,
}

impl DetectionTiming {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionTiming::NotDefined => "notDefined",
            DetectionTiming::Realtime => "realtime",
            DetectionTiming::NearRealtime => "nearRealtime",
            DetectionTiming::Offline => "offline",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `as_str` and serde agree, so the Graph layer can use either.
    #[test]
    fn spellings_match_serde() {
        for l in [RiskLevel::None, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Hidden] {
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        for s in [
            RiskState::None,
            RiskState::ConfirmedSafe,
            RiskState::Remediated,
            RiskState::Dismissed,
            RiskState::AtRisk,
            RiskState::ConfirmedCompromised,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let details = [
            RiskDetail::None,
            RiskDetail::AdminGeneratedTemporaryPassword,
            RiskDetail::UserPerformedSecuredPasswordChange,
            RiskDetail::UserPerformedSecuredPasswordReset,
            RiskDetail::AdminConfirmedSigninSafe,
            RiskDetail::AiConfirmedSigninSafe,
            RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy,
            RiskDetail::AdminDismissedAllRiskForUser,
            RiskDetail::AdminConfirmedSigninCompromised,
            RiskDetail::Hidden,
            RiskDetail::AdminConfirmedUserCompromised,
            RiskDetail::UnknownFutureValue,
            RiskDetail::M365DAdminDismissedDetection,
            RiskDetail::AdminConfirmedServicePrincipalCompromised,
            RiskDetail::AdminDismissedAllRiskForServicePrincipal,
            RiskDetail::UserChangedPasswordOnPremises,
            RiskDetail::AdminDismissedRiskForSignIn,
            RiskDetail::AdminConfirmedAccountSafe,
        ];
        for d in details {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
            let back: RiskDetail = serde_json::from_value(serde_json::Value::from(d.as_str())).unwrap();
            assert_eq!(back, d);
        }
        let types = [
            RiskEventType::PasswordSpray,
            RiskEventType::UnlikelyTravel,
            RiskEventType::UnfamiliarFeatures,
            RiskEventType::AnonymizedIpAddress,
            RiskEventType::MaliciousIpAddress,
            RiskEventType::LeakedCredentials,
            RiskEventType::BruteForce,
            RiskEventType::AdminConfirmedUserCompromised,
        ];
        for t in types {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for t in [
            DetectionTiming::NotDefined,
            DetectionTiming::Realtime,
            DetectionTiming::NearRealtime,
            DetectionTiming::Offline,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn entra_spellings_with_acronyms() {
        assert_eq!(RiskEventType::AnonymizedIpAddress.as_str(), "anonymizedIPAddress");
        assert_eq!(RiskEventType::MaliciousIpAddress.as_str(), "maliciousIPAddress");
        assert_eq!(RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy.as_str(), "userPassedMFADrivenByRiskBasedPolicy");
    }

    #[test]
    fn level_order() {
        use RiskLevel::*;
        let cases = [
            (None, Low, Low),
            (Low, Medium, Medium),
            (High, Medium, High),
            (Hidden, Low, Low),
            (None, Hidden, None),
            (High, High, High),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.max(b), want, "{a:?} max {b:?}");
        }
    }
}
