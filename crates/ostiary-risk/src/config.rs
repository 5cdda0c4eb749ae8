//! Detection thresholds, IP lists and levels, with documented Entra-like defaults.

use serde::{Deserialize, Serialize};

use crate::error::RiskError;
use crate::iprange::IpRangeSet;
use crate::level::RiskLevel;
use crate::state::{MAX_ACCOUNT_FAILURES, MAX_SOURCE_FAILURES};

/// AADSTS50126: invalid username or password.
pub const AADSTS_INVALID_PASSWORD: u32 = 50126;

/// Tunables for [`crate::assess`]. Every field has a default, so a TOML table may set only what
/// it changes; unknown keys are rejected to catch typos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Failure codes that mean "the password was checked and was wrong". Only these feed the
    /// spray and brute-force windows; lockouts (50053) or disabled accounts (50057) do not,
    /// since no password was tried. Default `[50126]`.
    pub password_failure_codes: Vec<u32>,
    /// Distinct accounts failing from one IP, within the spray window, that make a spray. Default 10.
    pub spray_min_accounts: u32,
    /// Default 10 minutes.
    pub spray_window_minutes: u32,
    /// How long after a spray a successful sign-in from the same IP is still flagged. Default 60.
    pub spray_success_lookback_minutes: u32,
    /// Failed passwords against one account, within the window, that make a brute force. Default 10.
    /// Smart lockout blocks separately; this only records a detection.
    pub brute_force_min_failures: u32,
    /// Default 10 minutes.
    pub brute_force_window_minutes: u32,
    /// Speed above which two successful sign-ins are impossible travel. Default 900 km/h
    /// (a commercial jet, so any real flight passes).
    pub travel_max_speed_kmh: f64,
    /// Distances below this are never travel: country centroids and city-level GeoIP are both
    /// too coarse to tell. Default 500 km.
    pub travel_min_distance_km: f64,
    /// Learning period for `unfamiliarFeatures`: at least this many successful sign-ins...
    /// Default 5.
    pub unfamiliar_min_successes: u32,
    /// ...spread over at least this many days since the first one (Entra documents a
    /// five-day minimum). Default 5.
    pub unfamiliar_min_days: u32,
    /// New features (of country, network, client) needed to raise `unfamiliarFeatures`
    /// at `low`. Default 2: a new network alone is routine (home router, café Wi-Fi).
    pub unfamiliar_min_new_features: u32,
    /// New features needed to raise it at `medium` instead. Default 3 (all of them).
    pub unfamiliar_medium_new_features: u32,
    /// A familiar country, network or client is forgotten when unseen for this long. Default 90 days.
    pub familiar_ttl_days: u32,
    /// Only interactive sign-ins teach the profile and are checked for travel and unfamiliar
    /// features; token refreshes come from wherever the app runs. Default `true`.
    pub profile_interactive_only: bool,
    /// Anonymizing ranges (Tor exits, anonymous VPNs). Default empty.
    pub anonymizing_ranges: IpRangeSet,
    /// Known-malicious ranges (threat intelligence). Default empty.
    pub malicious_ranges: IpRangeSet,
    pub levels: DetectionLevels,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            password_failure_codes: vec![AADSTS_INVALID_PASSWORD],
            spray_min_accounts: 10,
            spray_window_minutes: 10,
            spray_success_lookback_minutes: 60,
            brute_force_min_failures: 10,
            brute_force_window_minutes: 10,
            travel_max_speed_kmh: 900.0,
            travel_min_distance_km: 500.0,
            unfamiliar_min_successes: 5,
            unfamiliar_min_days: 5,
            unfamiliar_min_new_features: 2,
            unfamiliar_medium_new_features: 3,
            familiar_ttl_days: 90,
            profile_interactive_only: true,
            anonymizing_ranges: IpRangeSet::default(),
            malicious_ranges: IpRangeSet::default(),
            levels: DetectionLevels::default(),
        }
    }
}

/// The level each detection is raised at. `unfamiliarFeatures` is low or medium by the number
/// of new features (see [`RiskConfig::unfamiliar_medium_new_features`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionLevels {
    /// A spray victim, or a success from a spraying IP by an account it targeted. Default high.
    pub password_spray: RiskLevel,
    /// A success from a spraying IP by an account the spray did not target (someone else
    /// behind the same NAT, or the attacker's own account). Default medium.
    pub password_spray_bystander: RiskLevel,
    /// Default medium: smart lockout limits what a brute force can achieve.
    pub brute_force: RiskLevel,
    /// Default medium (Entra's usual level for atypical travel).
    pub unlikely_travel: RiskLevel,
    /// Default medium: privacy tools are used legitimately too.
    pub anonymized_ip: RiskLevel,
    /// Default high.
    pub malicious_ip: RiskLevel,
    /// Default high: the right password is public.
    pub leaked_credentials: RiskLevel,
}

impl Default for DetectionLevels {
    fn default() -> Self {
        DetectionLevels {
            password_spray: RiskLevel::High,
            password_spray_bystander: RiskLevel::Medium,
            brute_force: RiskLevel::Medium,
            unlikely_travel: RiskLevel::Medium,
            anonymized_ip: RiskLevel::Medium,
            malicious_ip: RiskLevel::High,
            leaked_credentials: RiskLevel::High,
        }
    }
}

impl RiskConfig {
    /// Checks the values the detections depend on. Thresholds must fit under the window caps,
    /// or a detection could never fire.
    pub fn validate(&self) -> Result<(), RiskError> {
        let err = |field, reason| Err(RiskError::InvalidConfig { field, reason });
        if self.spray_min_accounts < 2 || self.spray_min_accounts as usize > MAX_SOURCE_FAILURES {
            return err("spray_min_accounts", "must be between 2 and the source window cap (512)");
        }
        if self.brute_force_min_failures < 2 || self.brute_force_min_failures as usize > MAX_ACCOUNT_FAILURES {
            return err("brute_force_min_failures", "must be between 2 and the account window cap (64)");
        }
        for (field, minutes) in [
            ("spray_window_minutes", self.spray_window_minutes),
            ("spray_success_lookback_minutes", self.spray_success_lookback_minutes),
            ("brute_force_window_minutes", self.brute_force_window_minutes),
        ] {
            if minutes == 0 || minutes > 7 * 24 * 60 {
                return err(field, "must be between 1 minute and 7 days");
            }
        }
        if !(self.travel_max_speed_kmh.is_finite() && self.travel_max_speed_kmh > 0.0) {
            return err("travel_max_speed_kmh", "must be a positive number");
        }
        if !(self.travel_min_distance_km.is_finite() && self.travel_min_distance_km >= 0.0) {
            return err("travel_min_distance_km", "must be zero or a positive number");
        }
        if self.unfamiliar_min_new_features == 0 || self.unfamiliar_min_new_features > 3 {
            return err("unfamiliar_min_new_features", "must be 1, 2 or 3");
        }
        if self.unfamiliar_medium_new_features < self.unfamiliar_min_new_features
            || self.unfamiliar_medium_new_features > 4
        {
            return err(
                "unfamiliar_medium_new_features",
                "must be at least unfamiliar_min_new_features (4 = never medium)",
            );
        }
        if self.familiar_ttl_days == 0 {
            return err("familiar_ttl_days", "must be at least 1");
        }
        Ok(())
    }

    pub(crate) fn spray_window_secs(&self) -> i64 {
        i64::from(self.spray_window_minutes) * 60
    }

    pub(crate) fn spray_lookback_secs(&self) -> i64 {
        i64::from(self.spray_success_lookback_minutes) * 60
    }

    /// How long a source window keeps entries: long enough for both uses.
    pub(crate) fn source_retention_secs(&self) -> i64 {
        self.spray_window_secs().max(self.spray_lookback_secs())
    }

    pub(crate) fn brute_window_secs(&self) -> i64 {
        i64::from(self.brute_force_window_minutes) * 60
    }

    pub(crate) fn familiar_ttl_secs(&self) -> i64 {
        i64::from(self.familiar_ttl_days) * 86_400
    }

    pub(crate) fn is_password_failure(&self, code: Option<u32>) -> bool {
        code.is_some_and(|c| self.password_failure_codes.contains(&c))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = RiskConfig::default();
        c.validate().unwrap();
        assert_eq!((c.spray_min_accounts, c.spray_window_minutes), (10, 10));
        assert_eq!((c.brute_force_min_failures, c.brute_force_window_minutes), (10, 10));
        assert_eq!(c.travel_max_speed_kmh, 900.0);
        assert_eq!(c.travel_min_distance_km, 500.0);
        assert_eq!(c.unfamiliar_min_successes, 5);
        assert_eq!(c.password_failure_codes, vec![50126]);
    }

    #[test]
    fn partial_json_uses_defaults() {
        let c: RiskConfig = serde_json::from_str(
            r#"{"spray_min_accounts":3,"anonymizing_ranges":["185.220.101.0/24"],"levels":{"brute_force":"high"}}"#,
        )
        .unwrap();
        assert_eq!(c.spray_min_accounts, 3);
        assert_eq!(c.spray_window_minutes, 10);
        assert!(c.anonymizing_ranges.contains("185.220.101.9".parse().unwrap()));
        assert_eq!(c.levels.brute_force, RiskLevel::High);
        assert_eq!(c.levels.malicious_ip, RiskLevel::High);
        assert!(serde_json::from_str::<RiskConfig>(r#"{"spray_min_acounts":3}"#).is_err());
        assert!(serde_json::from_str::<RiskConfig>(r#"{"malicious_ranges":["1.2.3.4/99"]}"#).is_err());
        let back: RiskConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validation_table() {
        type Edit = fn(&mut RiskConfig);
        let cases: &[(&str, Edit)] = &[
            ("spray_min_accounts", |c| c.spray_min_accounts = 1),
            ("spray_min_accounts", |c| c.spray_min_accounts = 513),
            ("brute_force_min_failures", |c| c.brute_force_min_failures = 65),
            ("spray_window_minutes", |c| c.spray_window_minutes = 0),
            ("brute_force_window_minutes", |c| c.brute_force_window_minutes = u32::MAX),
            ("travel_max_speed_kmh", |c| c.travel_max_speed_kmh = f64::NAN),
            ("travel_max_speed_kmh", |c| c.travel_max_speed_kmh = 0.0),
            ("travel_min_distance_km", |c| c.travel_min_distance_km = -1.0),
            ("unfamiliar_min_new_features", |c| c.unfamiliar_min_new_features = 0),
            ("unfamiliar_medium_new_features", |c| c.unfamiliar_medium_new_features = 1),
            ("familiar_ttl_days", |c| c.familiar_ttl_days = 0),
        ];
        for (field, edit) in cases {
            let mut c = RiskConfig::default();
            edit(&mut c);
            match c.validate() {
                Err(RiskError::InvalidConfig { field: f, .. }) => assert_eq!(f, *field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
