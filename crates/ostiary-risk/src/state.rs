//! The state a caller persists between attempts (per user, per source IP, per account), how an
//! attempt updates it, and the caps that keep each record small.
//!
//! Caps, and why they are safe:
//! * Profile: 16 countries, 32 networks, 16 clients. Over the 90-day memory a person uses a
//!   handful of each; when full, the least recently seen entry goes, so the cost of the cap is
//!   at worst one extra "unfamiliar" signal for a rarely used place. A profile serialises to a
//!   few KB.
//! * Source window: 512 failures and 512 reported accounts. A spray needs at most 512 distinct
//!   accounts (the configured threshold is validated against this), and keeping the newest
//!   entries means a fast spray is still seen; only the oldest evidence of a huge spray is lost.
//! * Account window: 64 failures. The brute-force threshold is validated against this.
//! * Account keys and client strings are cut to 256 and 128 bytes.
//!
//! All "within a window" checks use `|now - t| <= window`, so events delivered slightly out of
//! order still count, and entries with absurd future times are pruned like old ones.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::attempt::Attempt;
use crate::config::RiskConfig;

pub const MAX_COUNTRIES: usize = 16;
pub const MAX_NETWORKS: usize = 32;
pub const MAX_CLIENTS: usize = 16;
pub const MAX_SOURCE_FAILURES: usize = 512;
pub const MAX_SOURCE_REPORTED: usize = 512;
pub const MAX_ACCOUNT_FAILURES: usize = 64;

/// A familiar value with when it was first and last seen and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen<T> {
    pub value: T,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u32,
}

/// Where and when the user last signed in successfully (the travel check's "from").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastSuccess {
    pub time: i64,
    pub country: Option<String>,
    pub coordinates: Option<(f64, f64)>,
    pub ip: Option<IpAddr>,
}

/// What a user's successful sign-ins look like.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserProfile {
    pub countries: Vec<Seen<String>>,
    /// IPv4 /24 and IPv6 /48 prefixes.
    pub networks: Vec<Seen<IpNet>>,
    pub clients: Vec<Seen<String>>,
    pub last_success: Option<LastSuccess>,
    pub successes: u64,
    pub first_success: Option<i64>,
}

impl UserProfile {
    /// Learns from a successful sign-in; failures teach nothing (an attacker's failed tries must
    /// not become familiar). With `profile_interactive_only`, non-interactive sign-ins are
    /// ignored too. Callers should observe only sign-ins that were finally allowed (for example
    /// after a risk-driven MFA challenge was passed), so a blocked attacker is not learned.
    pub fn observe(&mut self, attempt: &Attempt, cfg: &RiskConfig) {
        let now = attempt.time;
        let ttl = cfg.familiar_ttl_secs();
        prune_seen(&mut self.countries, now, ttl);
        prune_seen(&mut self.networks, now, ttl);
        prune_seen(&mut self.clients, now, ttl);
        if !attempt.success || (cfg.profile_interactive_only && !attempt.interactive) {
            return;
        }
        if let Some(c) = attempt.country_norm() {
            touch(&mut self.countries, c, now, MAX_COUNTRIES);
        }
        if let Some(n) = attempt.network() {
            touch(&mut self.networks, n, now, MAX_NETWORKS);
        }
        if let Some(c) = attempt.client_norm() {
            touch(&mut self.clients, c, now, MAX_CLIENTS);
        }
        self.successes = self.successes.saturating_add(1);
        self.first_success = Some(self.first_success.map_or(now, |f| f.min(now)));
        // An out-of-order older success must not replace the newer "from" point.
        if self.last_success.as_ref().is_none_or(|l| now >= l.time) {
            self.last_success = Some(LastSuccess {
                time: now,
                country: attempt.country_norm(),
                coordinates: attempt.coords_norm(),
                ip: attempt.ip_norm(),
            });
        }
    }

    /// `true` once the learning period is over: enough successes, spread over enough days.
    pub fn learned(&self, now: i64, cfg: &RiskConfig) -> bool {
        let span = i64::from(cfg.unfamiliar_min_days).saturating_mul(86_400);
        self.successes >= u64::from(cfg.unfamiliar_min_successes)
            && self.first_success.is_some_and(|f| now.saturating_sub(f) >= span)
    }

    pub fn knows_country(&self, country: &str, now: i64, cfg: &RiskConfig) -> bool {
        familiar(&self.countries, |v| v == country, now, cfg.familiar_ttl_secs())
    }

    pub fn knows_network(&self, net: &IpNet, now: i64, cfg: &RiskConfig) -> bool {
        familiar(&self.networks, |v| v == net, now, cfg.familiar_ttl_secs())
    }

    pub fn knows_client(&self, client: &str, now: i64, cfg: &RiskConfig) -> bool {
        familiar(&self.clients, |v| v == client, now, cfg.familiar_ttl_secs())
    }
}

/// One failed password from a source IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFailure {
    pub time: i64,
    pub account_key: String,
    /// `None` for usernames that do not exist: they count towards a spray but get no detection.
    pub user: Option<Uuid>,
}

/// An account already given a spray detection from this source, so it is reported once per wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    pub account_key: String,
    pub time: i64,
}

/// Recent failed passwords from one source IP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceWindow {
    pub failures: Vec<SourceFailure>,
    pub reported: Vec<Reported>,
    /// When this source last met the spray threshold; a success within the look-back after it
    /// is flagged.
    pub last_spray: Option<i64>,
}

/// A spray victim other than the current attempt's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SprayVictim {
    pub user: Uuid,
    pub account_key: String,
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SprayFinding {
    pub distinct_accounts: usize,
    pub others: Vec<SprayVictim>,
    /// The current attempt's user gets a detection (a real user not yet reported).
    pub current: bool,
}

impl SourceWindow {
    /// Adds a failed password attempt (other attempts only prune). Marks the accounts that
    /// [`crate::assess`] reported for this attempt, so each is reported once per spray wave;
    /// an account that keeps failing during an active spray stays marked.
    pub fn record(&mut self, attempt: &Attempt, cfg: &RiskConfig) {
        let now = attempt.time;
        let keep = cfg.source_retention_secs();
        self.failures.retain(|f| within(now, f.time, keep));
        self.reported.retain(|r| within(now, r.time, keep));
        if self.last_spray.is_some_and(|t| !within(now, t, keep)) {
            self.last_spray = None;
        }
        if attempt.success || !cfg.is_password_failure(attempt.failure_code) {
            return;
        }
        let key = attempt.key();
        if let Some(finding) = self.spray_finding(attempt, &key, cfg) {
            for v in finding.others {
                mark(&mut self.reported, v.account_key, now);
            }
            if attempt.user.is_some() {
                mark(&mut self.reported, key.clone(), now);
            }
            self.last_spray = Some(self.last_spray.map_or(now, |t| t.max(now)));
        }
        self.failures.push(SourceFailure { time: now, account_key: key, user: attempt.user });
        keep_newest(&mut self.failures, MAX_SOURCE_FAILURES, |f| f.time);
        keep_newest(&mut self.reported, MAX_SOURCE_REPORTED, |r| r.time);
    }

    /// The spray this failed attempt completes or joins, if the window (with it) has enough
    /// distinct accounts.
    pub(crate) fn spray_finding(&self, attempt: &Attempt, key: &str, cfg: &RiskConfig) -> Option<SprayFinding> {
        let now = attempt.time;
        let window = cfg.spray_window_secs();
        let mut in_window: Vec<&SourceFailure> = self.failures.iter().filter(|f| within(now, f.time, window)).collect();
        let mut distinct: HashSet<&str> = in_window.iter().map(|f| f.account_key.as_str()).collect();
        distinct.insert(key);
        if distinct.len() < cfg.spray_min_accounts as usize {
            return None;
        }
        let keep = cfg.source_retention_secs();
        let reported: HashSet<&str> =
            self.reported.iter().filter(|r| within(now, r.time, keep)).map(|r| r.account_key.as_str()).collect();
        // Newest first, so each victim's detection carries its latest failure.
        in_window.sort_by_key(|f| std::cmp::Reverse(f.time));
        let mut done: HashSet<&str> = HashSet::new();
        let mut others = Vec::new();
        for f in in_window {
            if f.account_key == key || reported.contains(f.account_key.as_str()) {
                continue;
            }
            if let Some(user) = f.user
                && done.insert(f.account_key.as_str())
            {
                others.push(SprayVictim { user, account_key: f.account_key.clone(), time: f.time });
            }
        }
        Some(SprayFinding {
            distinct_accounts: distinct.len(),
            others,
            current: attempt.user.is_some() && !reported.contains(key),
        })
    }

    /// For a success: `(distinct accounts that failed in the look-back, whether this account
    /// was one of them)` when a spray from this source was seen within the look-back.
    pub(crate) fn spray_before_success(&self, now: i64, key: &str, cfg: &RiskConfig) -> Option<(usize, bool)> {
        let lookback = cfg.spray_lookback_secs();
        if !self.last_spray.is_some_and(|t| within(now, t, lookback)) {
            return None;
        }
        let recent = self.failures.iter().filter(|f| within(now, f.time, lookback));
        let mut distinct: HashSet<&str> = HashSet::new();
        let mut targeted = false;
        for f in recent {
            distinct.insert(f.account_key.as_str());
            targeted |= f.account_key == key;
        }
        Some((distinct.len(), targeted))
    }
}

/// One failed password against an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailure {
    pub time: i64,
    pub ip: Option<IpAddr>,
}

/// Recent failed passwords against one account (known or not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountWindow {
    pub failures: Vec<AccountFailure>,
    /// When the last brute-force detection was raised: at most one per window, so a sustained
    /// attack is one detection per window, not one per guess.
    pub last_alert: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BruteForceFinding {
    pub failures: usize,
    pub distinct_ips: usize,
}

impl AccountWindow {
    /// Adds a failed password attempt (other attempts only prune). A success does not clear the
    /// window: a success right after many failures is exactly what should stay visible.
    pub fn record(&mut self, attempt: &Attempt, cfg: &RiskConfig) {
        let now = attempt.time;
        let window = cfg.brute_window_secs();
        self.failures.retain(|f| within(now, f.time, window));
        if self.last_alert.is_some_and(|t| !within(now, t, window)) {
            self.last_alert = None;
        }
        if attempt.success || !cfg.is_password_failure(attempt.failure_code) {
            return;
        }
        if self.brute_force_finding(attempt, cfg).is_some() {
            self.last_alert = Some(now);
        }
        self.failures.push(AccountFailure { time: now, ip: attempt.ip_norm() });
        keep_newest(&mut self.failures, MAX_ACCOUNT_FAILURES, |f| f.time);
    }

    pub(crate) fn brute_force_finding(&self, attempt: &Attempt, cfg: &RiskConfig) -> Option<BruteForceFinding> {
        if attempt.success || !cfg.is_password_failure(attempt.failure_code) {
            return None;
        }
        let now = attempt.time;
        let window = cfg.brute_window_secs();
        if self.last_alert.is_some_and(|t| within(now, t, window)) {
            return None;
        }
        let recent: Vec<&AccountFailure> = self.failures.iter().filter(|f| within(now, f.time, window)).collect();
        let failures = recent.len() + 1;
        if failures < cfg.brute_force_min_failures as usize {
            return None;
        }
        let mut ips: HashSet<Option<IpAddr>> = recent.iter().map(|f| f.ip).collect();
        ips.insert(attempt.ip_norm());
        Some(BruteForceFinding { failures, distinct_ips: ips.len() })
    }
}

/// `|now - t| <= span`, without overflow for any `i64` times.
pub(crate) fn within(now: i64, t: i64, span: i64) -> bool {
    now.abs_diff(t) <= span.unsigned_abs()
}

fn familiar<T>(list: &[Seen<T>], is: impl Fn(&T) -> bool, now: i64, ttl: i64) -> bool {
    list.iter().any(|s| is(&s.value) && within(now, s.last_seen, ttl))
}

fn prune_seen<T>(list: &mut Vec<Seen<T>>, now: i64, ttl: i64) {
    list.retain(|s| within(now, s.last_seen, ttl));
}

fn touch<T: PartialEq>(list: &mut Vec<Seen<T>>, value: T, now: i64, cap: usize) {
    if let Some(s) = list.iter_mut().find(|s| s.value == value) {
        s.last_seen = s.last_seen.max(now);
        s.first_seen = s.first_seen.min(now);
        s.count = s.count.saturating_add(1);
    } else {
        list.push(Seen { value, first_seen: now, last_seen: now, count: 1 });
    }
    if list.len() > cap {
        // Least recently seen goes first.
        list.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
        list.truncate(cap);
    }
}

fn mark(reported: &mut Vec<Reported>, account_key: String, now: i64) {
    if let Some(r) = reported.iter_mut().find(|r| r.account_key == account_key) {
        r.time = r.time.max(now);
    } else {
        reported.push(Reported { account_key, time: now });
    }
}

/// Keeps the `cap` entries with the latest times (also repairs oversized lists read back from
/// a store).
fn keep_newest<T>(list: &mut Vec<T>, cap: usize, time: impl Fn(&T) -> i64) {
    if list.len() > cap {
        list.sort_by_key(|e| time(e));
        let excess = list.len() - cap;
        list.drain(..excess);
    }
}
