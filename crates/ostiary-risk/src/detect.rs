//! The detections: which ones a sign-in attempt raises, at which level, with Entra-style
//! `additionalInfo` evidence.
//!
//! Which attempts each detection looks at:
//! * failed password (`password_failure_codes`): `passwordSpray` (this user, and at the moment
//!   the threshold is met also the earlier real-user victims, as `offline` detections) and
//!   `bruteForce` (this account);
//! * any failure: `maliciousIPAddress`;
//! * success: `passwordSpray` (when the source sprayed within the look-back), `unlikelyTravel`,
//!   `unfamiliarFeatures`, `anonymizedIPAddress`, `maliciousIPAddress`, `leakedCredentials`.
//!
//! Detections are per user: attempts on unknown usernames raise none, although they count
//! towards a spray. Repeated detections across attempts (a user signing in from a Tor exit every
//! hour) are not folded here; the store may fold them by user, type and IP.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::attempt::Attempt;
use crate::config::RiskConfig;
use crate::geo::{country_centroid, haversine_km, valid_coordinates};
use crate::level::{DetectionTiming, RiskEventType, RiskLevel};
use crate::state::{AccountWindow, LastSuccess, SourceWindow, UserProfile};

/// One risk detection, ready to be stored as a `riskDetection` (`atRisk`, detail `none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// The user at risk; for spray victims other than the attempt's user, that victim.
    pub user_id: Uuid,
    pub account_key: String,
    pub event_type: RiskEventType,
    pub level: RiskLevel,
    pub timing: DetectionTiming,
    /// Unix seconds of the sign-in the detection is about (`activityDateTime`).
    pub activity_time: i64,
    pub ip: Option<IpAddr>,
    /// Entra's `additionalInfo`: a JSON string `[{"Key":"…","Value":"…"}]`.
    pub additional_info: String,
}

/// Assesses one attempt against the state as it was before it. Call this first, then
/// `UserProfile::observe`, `SourceWindow::record` and `AccountWindow::record` with the same
/// attempt. `password_breached` is the caller's lookup of the submitted password in a
/// [`crate::BreachedPasswords`] list (only meaningful for a success).
pub fn assess(
    attempt: &Attempt,
    profile: &UserProfile,
    source: &SourceWindow,
    account: &AccountWindow,
    cfg: &RiskConfig,
    password_breached: bool,
) -> Vec<Detection> {
    let mut out = Vec::new();
    let key = attempt.key();
    let now = attempt.time;
    let ip = attempt.ip_norm();
    let make = |user_id: Uuid, event_type, level, info: Vec<(&str, String)>| Detection {
        user_id,
        account_key: key.clone(),
        event_type,
        level,
        timing: DetectionTiming::Realtime,
        activity_time: now,
        ip,
        additional_info: additional_info(&info),
    };

    if !attempt.success {
        if cfg.is_password_failure(attempt.failure_code) {
            if let Some(f) = source.spray_finding(attempt, &key, cfg) {
                let info = |role: &str| {
                    vec![
                        ("accountsTargeted", f.distinct_accounts.to_string()),
                        ("windowMinutes", cfg.spray_window_minutes.to_string()),
                        ("role", role.to_string()),
                    ]
                };
                if let (true, Some(user)) = (f.current, attempt.user) {
                    out.push(make(
                        user,
                        RiskEventType::PasswordSpray,
                        cfg.levels.password_spray,
                        info("failedAttempt"),
                    ));
                }
                for v in &f.others {
                    out.push(Detection {
                        user_id: v.user,
                        account_key: v.account_key.clone(),
                        event_type: RiskEventType::PasswordSpray,
                        level: cfg.levels.password_spray,
                        timing: DetectionTiming::Offline,
                        activity_time: v.time,
                        ip,
                        additional_info: additional_info(&info("failedAttempt")),
                    });
                }
            }
            if let (Some(user), Some(f)) = (attempt.user, account.brute_force_finding(attempt, cfg)) {
                let info = vec![
                    ("failedAttempts", f.failures.to_string()),
                    ("distinctSourceIps", f.distinct_ips.to_string()),
                    ("windowMinutes", cfg.brute_force_window_minutes.to_string()),
                ];
                out.push(make(user, RiskEventType::BruteForce, cfg.levels.brute_force, info));
            }
        }
        if let (Some(user), Some(a)) = (attempt.user, ip)
            && cfg.malicious_ranges.contains(a)
        {
            out.push(make(
                user,
                RiskEventType::MaliciousIpAddress,
                cfg.levels.malicious_ip,
                vec![("signInResult", "failure".into())],
            ));
        }
        return out;
    }

    let Some(user) = attempt.user else {
        return out;
    };

    if let Some((accounts, targeted)) = source.spray_before_success(now, &key, cfg) {
        let level = if targeted { cfg.levels.password_spray } else { cfg.levels.password_spray_bystander };
        let info = vec![
            ("accountsTargeted", accounts.to_string()),
            ("lookbackMinutes", cfg.spray_success_lookback_minutes.to_string()),
            ("role", "successfulSignIn".to_string()),
            ("accountWasTargeted", targeted.to_string()),
        ];
        out.push(make(user, RiskEventType::PasswordSpray, level, info));
    }

    let profiled = attempt.interactive || !cfg.profile_interactive_only;
    let anonymized = ip.is_some_and(|a| cfg.anonymizing_ranges.contains(a));
    if profiled
        && !anonymized
        && let Some(info) = unlikely_travel(attempt, profile, cfg)
    {
        out.push(make(user, RiskEventType::UnlikelyTravel, cfg.levels.unlikely_travel, info));
    }
    if profiled && let Some((level, info)) = unfamiliar_features(attempt, profile, cfg) {
        out.push(make(user, RiskEventType::UnfamiliarFeatures, level, info));
    }
    if anonymized {
        out.push(make(user, RiskEventType::AnonymizedIpAddress, cfg.levels.anonymized_ip, vec![]));
    }
    if ip.is_some_and(|a| cfg.malicious_ranges.contains(a)) {
        out.push(make(
            user,
            RiskEventType::MaliciousIpAddress,
            cfg.levels.malicious_ip,
            vec![("signInResult", "success".into())],
        ));
    }
    if password_breached {
        out.push(make(
            user,
            RiskEventType::LeakedCredentials,
            cfg.levels.leaked_credentials,
            vec![("source", "breachedPasswordList".into())],
        ));
    }
    out
}

/// Sign-in risk (`riskLevelDuringSignIn`): the highest real-time detection on this attempt.
/// Offline detections (other spray victims) are about other sign-ins and do not count.
pub fn sign_in_risk(detections: &[Detection]) -> RiskLevel {
    detections.iter().filter(|d| d.timing == DetectionTiming::Realtime).fold(RiskLevel::None, |acc, d| acc.max(d.level))
}

/// Compares this success with the previous one. Skipped when either position is unknown, when
/// both come from the same /24 (/48), when the current network is already familiar (a VPN exit
/// the user routinely uses), when closer than `travel_min_distance_km`, or slower than
/// `travel_max_speed_kmh`. Times closer than a minute count as a minute, so simultaneous
/// sign-ins give a large finite speed rather than a division by zero; out-of-order times use
/// the absolute difference.
fn unlikely_travel(attempt: &Attempt, profile: &UserProfile, cfg: &RiskConfig) -> Option<Vec<(&'static str, String)>> {
    let prev = profile.last_success.as_ref()?;
    let now = attempt.time;
    if let (Some(a), Some(b)) = (attempt.network(), prev.ip.and_then(crate::attempt::network_of))
        && a == b
    {
        return None;
    }
    if let Some(net) = attempt.network()
        && profile.knows_network(&net, now, cfg)
    {
        return None;
    }
    let (to, to_src) = position(attempt.coords_norm(), attempt.country_norm().as_deref())?;
    let (from, from_src) = position(prev.coordinates, prev.country.as_deref())?;
    let km = haversine_km(from, to)?;
    if km < cfg.travel_min_distance_km {
        return None;
    }
    let secs = now.abs_diff(prev.time).max(60);
    let hours = secs as f64 / 3600.0;
    let speed = km / hours;
    // Written as a comparison that is false for NaN, so a broken limit never fires.
    if speed.partial_cmp(&cfg.travel_max_speed_kmh) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    Some(vec![
        ("distanceKm", format!("{km:.0}")),
        ("hours", format!("{hours:.2}")),
        ("speedKmh", format!("{speed:.0}")),
        ("previousCountry", country_or_unknown(prev)),
        ("country", attempt.country_norm().unwrap_or_else(|| "unknown".into())),
        ("previousSignInTime", prev.time.to_string()),
        ("locationSource", if from_src && to_src { "coordinates" } else { "countryCentroid" }.to_string()),
    ])
}

fn country_or_unknown(prev: &LastSuccess) -> String {
    prev.country.clone().unwrap_or_else(|| "unknown".into())
}

/// City coordinates when valid (`true`), else the country's centroid (`false`).
fn position(coords: Option<(f64, f64)>, country: Option<&str>) -> Option<((f64, f64), bool)> {
    if let Some(c) = coords.filter(|&c| valid_coordinates(c)) {
        return Some((c, true));
    }
    country_centroid(country?).map(|c| (c, false))
}

/// Counts which of country, network and client this success has not shown before. Nothing is
/// raised during the learning period; features the caller does not know (no IP, no country)
/// are never "new".
fn unfamiliar_features(
    attempt: &Attempt,
    profile: &UserProfile,
    cfg: &RiskConfig,
) -> Option<(RiskLevel, Vec<(&'static str, String)>)> {
    let now = attempt.time;
    if !profile.learned(now, cfg) {
        return None;
    }
    let mut new: BTreeSet<&'static str> = BTreeSet::new();
    let mut info = Vec::new();
    if let Some(c) = attempt.country_norm()
        && !profile.knows_country(&c, now, cfg)
    {
        new.insert("country");
        info.push(("country", c));
    }
    if let Some(n) = attempt.network()
        && !profile.knows_network(&n, now, cfg)
    {
        new.insert("network");
        info.push(("network", n.to_string()));
    }
    if let Some(c) = attempt.client_norm()
        && !profile.knows_client(&c, now, cfg)
    {
        new.insert("client");
        info.push(("client", c));
    }
    let count = new.len() as u32;
    if count == 0 || count < cfg.unfamiliar_min_new_features {
        return None;
    }
    let level = if count >= cfg.unfamiliar_medium_new_features { RiskLevel::Medium } else { RiskLevel::Low };
    info.insert(0, ("unfamiliarFeatures", new.into_iter().collect::<Vec<_>>().join(",")));
    Some((level, info))
}

#[derive(Serialize)]
struct KeyValue<'a> {
    #[serde(rename = "Key")]
    key: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

/// Entra's `additionalInfo` shape: a JSON array of `{"Key","Value"}` string pairs, as a string.
fn additional_info(pairs: &[(&str, String)]) -> String {
    let kv: Vec<KeyValue<'_>> = pairs.iter().map(|(k, v)| KeyValue { key: k, value: v }).collect();
    serde_json::to_string(&kv).unwrap_or_else(|_| "[]".to_string())
}
