//! Behaviour tests for the detections, driven the way the caller will drive them: assess, then
//! observe/record, with one state record per user, source IP and account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::IpAddr;

use uuid::Uuid;

use crate::*;

const T0: i64 = 1_700_000_000;
const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn uid(n: u32) -> Uuid {
    Uuid::from_u128(0x1000 + u128::from(n))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A successful interactive sign-in of user 1 from France.
fn ok(time: i64) -> Attempt {
    Attempt {
        time,
        user: Some(uid(1)),
        account_key: "alice@contoso.com".into(),
        ip: Some(ip("192.0.2.10")),
        country: Some("FR".into()),
        coordinates: None,
        client: "app1|Edge|Windows".into(),
        success: true,
        failure_code: None,
        interactive: true,
    }
}

/// A wrong password for account `n` (user `n` when `real`) from `src`.
fn bad(time: i64, n: u32, real: bool, src: &str) -> Attempt {
    Attempt {
        time,
        user: real.then(|| uid(n)),
        account_key: format!("user{n}@contoso.com"),
        ip: Some(ip(src)),
        country: Some("NL".into()),
        coordinates: None,
        client: "app1|python|Linux".into(),
        success: false,
        failure_code: Some(50126),
        interactive: true,
    }
}

/// The caller: state keyed by user, source IP and account.
#[derive(Default)]
struct World {
    cfg: RiskConfig,
    profiles: HashMap<Uuid, UserProfile>,
    sources: HashMap<Option<IpAddr>, SourceWindow>,
    accounts: HashMap<String, AccountWindow>,
}

impl World {
    fn with(cfg: RiskConfig) -> Self {
        World { cfg, ..Default::default() }
    }

    fn step_breached(&mut self, a: &Attempt, breached: bool) -> Vec<Detection> {
        let empty = UserProfile::default();
        let profile = a.user.and_then(|u| self.profiles.get(&u)).unwrap_or(&empty);
        let source = self.sources.get(&a.ip).cloned().unwrap_or_default();
        let account = self.accounts.get(&a.account_key).cloned().unwrap_or_default();
        let out = assess(a, profile, &source, &account, &self.cfg, breached);
        if let Some(u) = a.user {
            self.profiles.entry(u).or_default().observe(a, &self.cfg);
        }
        self.sources.entry(a.ip).or_default().record(a, &self.cfg);
        self.accounts.entry(a.account_key.clone()).or_default().record(a, &self.cfg);
        out
    }

    fn step(&mut self, a: &Attempt) -> Vec<Detection> {
        self.step_breached(a, false)
    }

    /// Five successes over six days from FR / 192.0.2.0/24 / app1|Edge|Windows.
    fn learned() -> Self {
        let mut w = World::default();
        for i in 0..5 {
            assert!(w.step(&ok(T0 + i * 36 * HOUR)).is_empty());
        }
        w
    }
}

fn of_type(ds: &[Detection], t: RiskEventType) -> Vec<&Detection> {
    ds.iter().filter(|d| d.event_type == t).collect()
}

fn info(d: &Detection) -> HashMap<String, String> {
    let v: Vec<serde_json::Value> = serde_json::from_str(&d.additional_info).unwrap();
    v.iter().map(|kv| (kv["Key"].as_str().unwrap().to_string(), kv["Value"].as_str().unwrap().to_string())).collect()
}

// ---------------------------------------------------------------- password spray

#[test]
fn spray_table() {
    // (name, attempts, spray detections on the last attempt, total over the run)
    let src = "203.0.113.9";
    let cases: Vec<(&str, Vec<Attempt>, usize, usize)> = vec![
        ("nine accounts: below threshold", (0..9).map(|n| bad(T0 + n, n as u32, true, src)).collect(), 0, 0),
        (
            "ten real accounts: all ten reported at the tenth",
            (0..10).map(|n| bad(T0 + n, n as u32, true, src)).collect(),
            10,
            10,
        ),
        ("ten unknown accounts: nobody to report", (0..10).map(|n| bad(T0 + n, n as u32, false, src)).collect(), 0, 0),
        ("nine unknown then a real one", (0..10).map(|n| bad(T0 + n, n as u32, n == 9, src)).collect(), 1, 1),
        (
            "one real among unknowns, reported when the threshold is met later",
            (0..10).map(|n| bad(T0 + n, n as u32, n == 0, src)).collect(),
            1,
            1,
        ),
        ("eleventh account joins an active spray", (0..11).map(|n| bad(T0 + n, n as u32, true, src)).collect(), 1, 11),
        (
            "same ten accounts retried: each reported once",
            (0..30).map(|n| bad(T0 + n, (n % 10) as u32, true, src)).collect(),
            0,
            10,
        ),
        (
            "ten accounts over 20 minutes: window expiry",
            (0..10).map(|n| bad(T0 + n * 2 * MIN, n as u32, true, src)).collect(),
            0,
            0,
        ),
        (
            "ten accounts from ten IPs",
            (0..10).map(|n| bad(T0 + n, n as u32, true, &format!("198.51.100.{n}"))).collect(),
            0,
            0,
        ),
        (
            "lockout failures (50053) do not count",
            (0..10).map(|n| Attempt { failure_code: Some(50053), ..bad(T0 + n, n as u32, true, src) }).collect(),
            0,
            0,
        ),
        ("one account failing ten times is not a spray", (0..10).map(|n| bad(T0 + n, 1, true, src)).collect(), 0, 0),
    ];
    for (name, attempts, last_want, total_want) in cases {
        let mut w = World::default();
        let mut total = 0;
        let mut last = 0;
        for a in &attempts {
            let ds = w.step(a);
            last = of_type(&ds, RiskEventType::PasswordSpray).len();
            total += last;
        }
        assert_eq!(last, last_want, "{name}: last");
        assert_eq!(total, total_want, "{name}: total");
    }
}

#[test]
fn spray_detections_shape() {
    let mut w = World::default();
    let mut last = vec![];
    for n in 0..10 {
        last = w.step(&bad(T0 + i64::from(n), n, true, "203.0.113.9"));
    }
    let spray = of_type(&last, RiskEventType::PasswordSpray);
    let current: Vec<_> = spray.iter().filter(|d| d.timing == DetectionTiming::Realtime).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].user_id, uid(9));
    assert_eq!(current[0].level, RiskLevel::High);
    assert_eq!(current[0].ip, Some(ip("203.0.113.9")));
    let offline: Vec<_> = spray.iter().filter(|d| d.timing == DetectionTiming::Offline).collect();
    assert_eq!(offline.len(), 9);
    // Each earlier victim is attributed to its own failure.
    for d in offline {
        let n = (d.user_id.as_u128() - 0x1000) as i64;
        assert_eq!(d.activity_time, T0 + n);
        assert_eq!(d.account_key, format!("user{n}@contoso.com"));
    }
    assert_eq!(info(current[0])["accountsTargeted"], "10");
    // Only the realtime one is this sign-in's risk.
    assert_eq!(sign_in_risk(&last), RiskLevel::High);
}

#[test]
fn success_after_spray() {
    let src = "203.0.113.9";
    // (name, success attempt, expected level or None)
    let spray_end = T0 + 9;
    let cases: Vec<(&str, Attempt, Option<RiskLevel>)> = vec![
        (
            "targeted account guessed",
            Attempt {
                ip: Some(ip(src)),
                account_key: "user3@contoso.com".into(),
                user: Some(uid(3)),
                ..ok(spray_end + 5 * MIN)
            },
            Some(RiskLevel::High),
        ),
        (
            "bystander behind the same IP",
            Attempt { ip: Some(ip(src)), ..ok(spray_end + 5 * MIN) },
            Some(RiskLevel::Medium),
        ),
        ("after the look-back", Attempt { ip: Some(ip(src)), ..ok(spray_end + 61 * MIN) }, None),
        ("from another IP", Attempt { ip: Some(ip("198.51.100.1")), ..ok(spray_end + MIN) }, None),
    ];
    for (name, success, want) in cases {
        let mut w = World::default();
        for n in 0..10 {
            w.step(&bad(T0 + i64::from(n), n, true, src));
        }
        let ds = w.step(&success);
        let got = of_type(&ds, RiskEventType::PasswordSpray).first().map(|d| d.level);
        assert_eq!(got, want, "{name}");
    }
    // Ten distinct failures spread over an hour (never a spray) do not taint a success.
    let mut w = World::default();
    for n in 0..10 {
        w.step(&bad(T0 + i64::from(n) * 5 * MIN, n, true, src));
    }
    let ds = w.step(&Attempt { ip: Some(ip(src)), ..ok(T0 + 50 * MIN) });
    assert!(of_type(&ds, RiskEventType::PasswordSpray).is_empty());
}

#[test]
fn spray_window_cap() {
    let mut w = World::default();
    let src = "203.0.113.9";
    let mut reported = 0;
    for n in 0..1000u32 {
        reported += of_type(&w.step(&bad(T0 + i64::from(n) / 10, n, true, src)), RiskEventType::PasswordSpray).len();
    }
    let s = &w.sources[&Some(ip(src))];
    assert_eq!(s.failures.len(), state::MAX_SOURCE_FAILURES);
    assert!(s.reported.len() <= state::MAX_SOURCE_REPORTED);
    // The newest are kept.
    assert_eq!(s.failures.iter().map(|f| f.time).max(), Some(T0 + 99));
    // Every account was reported exactly once: none lost to the cap while it was fresh.
    assert_eq!(reported, 1000);
}

// ---------------------------------------------------------------- brute force

#[test]
fn brute_force_table() {
    let src = "203.0.113.9";
    // (name, attempts, bruteForce detections in total)
    let cases: Vec<(&str, Vec<Attempt>, usize)> = vec![
        ("nine failures", (0..9).map(|i| bad(T0 + i, 1, true, src)).collect(), 0),
        ("ten failures", (0..10).map(|i| bad(T0 + i, 1, true, src)).collect(), 1),
        ("thirty failures in one window: one detection", (0..30).map(|i| bad(T0 + i, 1, true, src)).collect(), 1),
        (
            "two waves an hour apart",
            (0..20).map(|i| bad(T0 + i + if i >= 10 { HOUR } else { 0 }, 1, true, src)).collect(),
            2,
        ),
        ("unknown account", (0..10).map(|i| bad(T0 + i, 1, false, src)).collect(), 0),
        ("ten failures over 20 minutes", (0..10).map(|i| bad(T0 + i * 2 * MIN, 1, true, src)).collect(), 0),
        (
            "ten failures from ten IPs still count",
            (0..10).map(|i| bad(T0 + i, 1, true, &format!("198.51.100.{i}"))).collect(),
            1,
        ),
        (
            "non-password failures do not count",
            (0..10).map(|i| Attempt { failure_code: Some(50053), ..bad(T0 + i, 1, true, src) }).collect(),
            0,
        ),
    ];
    for (name, attempts, want) in cases {
        let mut w = World::default();
        let total: usize = attempts.iter().map(|a| of_type(&w.step(a), RiskEventType::BruteForce).len()).sum();
        assert_eq!(total, want, "{name}");
    }
}

#[test]
fn brute_force_shape_and_cap() {
    let mut w = World::default();
    let mut found = None;
    for i in 0..100 {
        let src = if i % 2 == 0 { "203.0.113.9" } else { "203.0.113.10" };
        let ds = w.step(&bad(T0 + i, 1, true, src));
        if let Some(d) = of_type(&ds, RiskEventType::BruteForce).first() {
            found.get_or_insert((*d).clone());
        }
    }
    let d = found.unwrap();
    assert_eq!(d.level, RiskLevel::Medium);
    assert_eq!(d.user_id, uid(1));
    assert_eq!(info(&d)["failedAttempts"], "10");
    assert_eq!(info(&d)["distinctSourceIps"], "2");
    assert_eq!(w.accounts["user1@contoso.com"].failures.len(), state::MAX_ACCOUNT_FAILURES);
}

// ---------------------------------------------------------------- unlikely travel

#[test]
fn travel_table() {
    // Previous success: FR, 192.0.2.10, at T0 (one success only: travel needs no learning).
    // (name, next success, fires)
    let us = |dt: i64| Attempt { country: Some("US".into()), ip: Some(ip("198.51.100.20")), ..ok(T0 + dt) };
    let cases: Vec<(&str, Attempt, bool)> = vec![
        ("FR to US in one hour", us(HOUR), true),
        ("FR to US in seven hours (about 1,050 km/h)", us(7 * HOUR), true),
        ("FR to US in ten hours (about 740 km/h)", us(10 * HOUR), false),
        ("FR to US at the same second", us(0), true),
        ("FR to US, delivered out of order", us(-HOUR), true),
        (
            "FR to BE: under 500 km",
            Attempt { country: Some("BE".into()), ip: Some(ip("198.51.100.20")), ..ok(T0 + MIN) },
            false,
        ),
        (
            "same /24, GeoIP says US",
            Attempt { country: Some("US".into()), ip: Some(ip("192.0.2.99")), ..ok(T0 + MIN) },
            false,
        ),
        ("same country", Attempt { ip: Some(ip("198.51.100.20")), ..ok(T0 + MIN) }, false),
        (
            "unknown location",
            Attempt { country: None, coordinates: None, ip: Some(ip("198.51.100.20")), ..ok(T0 + MIN) },
            false,
        ),
        ("invalid country code", Attempt { country: Some("U$".into()), ..us(HOUR) }, false),
        ("NaN coordinates fall back to the country", Attempt { coordinates: Some((f64::NAN, 1.0)), ..us(HOUR) }, true),
        ("non-interactive", Attempt { interactive: false, ..us(HOUR) }, false),
        ("failed attempt", Attempt { success: false, failure_code: Some(50126), ..us(HOUR) }, false),
    ];
    for (name, next, want) in cases {
        let mut w = World::default();
        w.step(&ok(T0));
        let ds = w.step(&next);
        let got = of_type(&ds, RiskEventType::UnlikelyTravel);
        assert_eq!(!got.is_empty(), want, "{name}: {ds:?}");
        if want {
            assert_eq!(got[0].level, RiskLevel::Medium, "{name}");
        }
    }
}

#[test]
fn travel_with_coordinates() {
    let mut w = World::default();
    let paris = Attempt { coordinates: Some((48.8566, 2.3522)), ..ok(T0) };
    w.step(&paris);
    // Paris to New York (5,837 km) in 5 hours: 1,167 km/h.
    let ny = Attempt {
        country: Some("US".into()),
        coordinates: Some((40.7128, -74.006)),
        ip: Some(ip("198.51.100.20")),
        ..ok(T0 + 5 * HOUR)
    };
    let ds = w.step(&ny);
    let d = of_type(&ds, RiskEventType::UnlikelyTravel)[0].clone();
    let i = info(&d);
    assert_eq!(i["locationSource"], "coordinates");
    assert_eq!(i["distanceKm"], "5837");
    assert_eq!(i["hours"], "5.00");
    assert_eq!(i["speedKmh"], "1167");
    assert_eq!(i["previousCountry"], "FR");
    // Lyon to Paris (390 km) in 10 minutes: too short a distance to judge.
    let mut w = World::default();
    w.step(&Attempt { coordinates: Some((45.764, 4.8357)), ..ok(T0) });
    let ds = w.step(&Attempt { ip: Some(ip("198.51.100.20")), ..paris.clone() }.with_time(T0 + 10 * MIN));
    assert!(of_type(&ds, RiskEventType::UnlikelyTravel).is_empty());
}

#[test]
fn travel_suppressed_by_familiar_network_and_anonymizer() {
    // The user's VPN exit in the US is a familiar network.
    let us = Attempt { country: Some("US".into()), ip: Some(ip("198.51.100.20")), ..ok(T0) };
    let mut w = World::default();
    w.step(&us);
    w.step(&ok(T0 + DAY));
    let ds = w.step(&us.clone().with_time(T0 + DAY + HOUR));
    assert!(of_type(&ds, RiskEventType::UnlikelyTravel).is_empty());
    // From a Tor exit: anonymized, not travel.
    let cfg =
        RiskConfig { anonymizing_ranges: IpRangeSet::parse(&["185.220.101.0/24"]).unwrap(), ..RiskConfig::default() };
    let mut w = World::with(cfg);
    w.step(&ok(T0));
    let ds = w.step(&Attempt { country: Some("US".into()), ip: Some(ip("185.220.101.4")), ..ok(T0 + HOUR) });
    assert!(of_type(&ds, RiskEventType::UnlikelyTravel).is_empty());
    assert_eq!(of_type(&ds, RiskEventType::AnonymizedIpAddress).len(), 1);
}

trait WithTime {
    fn with_time(self, t: i64) -> Self;
}

impl WithTime for Attempt {
    fn with_time(mut self, t: i64) -> Self {
        self.time = t;
        self
    }
}

// ---------------------------------------------------------------- unfamiliar features

#[test]
fn unfamiliar_table() {
    let t = T0 + 7 * DAY;
    // (name, success after the learning period, expected level)
    let cases: Vec<(&str, Attempt, Option<RiskLevel>)> = vec![
        ("all familiar", ok(t), None),
        ("new network only", Attempt { ip: Some(ip("192.0.3.10")), ..ok(t) }, None),
        ("new client only", Attempt { client: "app2|Firefox|Linux".into(), ..ok(t) }, None),
        (
            "new network and client",
            Attempt { ip: Some(ip("192.0.3.10")), client: "app2|Firefox|Linux".into(), ..ok(t) },
            Some(RiskLevel::Low),
        ),
        (
            "new country and network (BE is near: no travel)",
            Attempt { ip: Some(ip("192.0.3.10")), country: Some("BE".into()), ..ok(t) },
            Some(RiskLevel::Low),
        ),
        (
            "everything new",
            Attempt {
                ip: Some(ip("2001:db8:1::5")),
                country: Some("BE".into()),
                client: "x|curl|Linux".into(),
                ..ok(t)
            },
            Some(RiskLevel::Medium),
        ),
        ("unknown facts are not new", Attempt { ip: None, country: None, client: String::new(), ..ok(t) }, None),
        (
            "IPv4-mapped form of a familiar address",
            Attempt { ip: Some(ip("::ffff:192.0.2.200")), client: "app2|Firefox|Linux".into(), ..ok(t) },
            None,
        ),
        (
            "non-interactive",
            Attempt {
                interactive: false,
                ip: Some(ip("2001:db8:1::5")),
                country: Some("BE".into()),
                client: "x|curl|Linux".into(),
                ..ok(t)
            },
            None,
        ),
        (
            "everything forgotten after 90 days",
            Attempt { country: Some("FR".into()), ..ok(T0 + 200 * DAY) },
            Some(RiskLevel::Medium),
        ),
    ];
    for (name, a, want) in cases {
        let mut w = World::learned();
        let ds = w.step(&a);
        let got = of_type(&ds, RiskEventType::UnfamiliarFeatures).first().map(|d| d.level);
        assert_eq!(got, want, "{name}: {ds:?}");
    }
}

#[test]
fn unfamiliar_learning_period() {
    let everything_new = |t| Attempt {
        ip: Some(ip("2001:db8:1::5")),
        country: Some("BE".into()),
        client: "x|curl|Linux".into(),
        ..ok(t)
    };
    // (name, number of prior successes, spacing, fires)
    let cases = [
        ("four successes over a week", 4, 2 * DAY, false),
        ("five successes in one day", 5, HOUR, false),
        ("five successes over six days", 5, 36 * HOUR, true),
        ("no history", 0, DAY, false),
    ];
    for (name, n, spacing, want) in cases {
        let mut w = World::default();
        for i in 0..n {
            w.step(&ok(T0 + i * spacing));
        }
        let t = T0 + n * spacing;
        let ds = w.step(&everything_new(t));
        assert_eq!(!of_type(&ds, RiskEventType::UnfamiliarFeatures).is_empty(), want, "{name}");
    }
    // Configurable: no learning period at all.
    let cfg = RiskConfig { unfamiliar_min_successes: 1, unfamiliar_min_days: 0, ..RiskConfig::default() };
    let mut w = World::with(cfg);
    w.step(&ok(T0));
    let ds = w.step(&everything_new(T0 + DAY));
    assert_eq!(of_type(&ds, RiskEventType::UnfamiliarFeatures).len(), 1);
}

#[test]
fn unfamiliar_info_lists_the_new_features() {
    let mut w = World::learned();
    let ds = w.step(&Attempt { ip: Some(ip("192.0.3.10")), client: "app2|Firefox|Linux".into(), ..ok(T0 + 7 * DAY) });
    let d = of_type(&ds, RiskEventType::UnfamiliarFeatures)[0];
    let i = info(d);
    assert_eq!(i["unfamiliarFeatures"], "client,network");
    assert_eq!(i["network"], "192.0.3.0/24");
    assert_eq!(i["client"], "app2|Firefox|Linux");
}

#[test]
fn profile_caps_and_failures_teach_nothing() {
    let cfg = RiskConfig::default();
    let mut p = UserProfile::default();
    for i in 0..100u32 {
        let a = Attempt {
            ip: Some(IpAddr::from([10, (i / 256) as u8, (i % 256) as u8, 1])),
            country: Some(format!("A{}", char::from(b'A' + (i % 26) as u8))),
            client: format!("client{i}"),
            ..ok(T0 + i64::from(i))
        };
        p.observe(&a, &cfg);
    }
    assert_eq!(p.networks.len(), state::MAX_NETWORKS);
    assert_eq!(p.countries.len(), state::MAX_COUNTRIES);
    assert_eq!(p.clients.len(), state::MAX_CLIENTS);
    assert_eq!(p.successes, 100);
    // The most recent are the ones kept.
    assert!(p.knows_client("client99", T0 + 100, &cfg));
    assert!(!p.knows_client("client0", T0 + 100, &cfg));
    let before = p.clone();
    p.observe(&Attempt { success: false, failure_code: Some(50126), client: "evil".into(), ..ok(T0 + 200) }, &cfg);
    assert_eq!(p.successes, before.successes);
    assert!(!p.knows_client("evil", T0 + 200, &cfg));
    // An older success delivered late does not replace the latest "from" point.
    p.observe(&Attempt { country: Some("JP".into()), ..ok(T0 - DAY) }, &cfg);
    assert_eq!(p.last_success.as_ref().map(|l| l.time), Some(T0 + 99));
    // JSON round trip (the caller's store format).
    let back: UserProfile = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

// ---------------------------------------------------------------- IP lists, leaked credentials

#[test]
fn ip_lists_and_leaked_table() {
    let cfg = RiskConfig {
        anonymizing_ranges: IpRangeSet::parse(&["185.220.101.0/24"]).unwrap(),
        malicious_ranges: IpRangeSet::parse(&["203.0.113.0/24", "2001:db8:bad::/48"]).unwrap(),
        ..RiskConfig::default()
    };
    let tor = Some(ip("185.220.101.4"));
    let evil = Some(ip("203.0.113.66"));
    let failed = |a: Attempt| Attempt { success: false, failure_code: Some(50126), ..a };
    // (name, attempt, password_breached, expected detection types)
    let cases: Vec<(&str, Attempt, bool, Vec<RiskEventType>)> = vec![
        ("clean", ok(T0), false, vec![]),
        ("tor success", Attempt { ip: tor, ..ok(T0) }, false, vec![RiskEventType::AnonymizedIpAddress]),
        ("tor failure", failed(Attempt { ip: tor, ..ok(T0) }), false, vec![]),
        ("malicious success", Attempt { ip: evil, ..ok(T0) }, false, vec![RiskEventType::MaliciousIpAddress]),
        ("malicious failure", failed(Attempt { ip: evil, ..ok(T0) }), false, vec![RiskEventType::MaliciousIpAddress]),
        (
            "malicious IPv6",
            Attempt { ip: Some(ip("2001:db8:bad:1::1")), ..ok(T0) },
            false,
            vec![RiskEventType::MaliciousIpAddress],
        ),
        ("malicious, unknown user", failed(Attempt { ip: evil, user: None, ..ok(T0) }), false, vec![]),
        ("leaked password, success", ok(T0), true, vec![RiskEventType::LeakedCredentials]),
        ("leaked password, failure", failed(ok(T0)), true, vec![]),
        ("leaked password, unknown user", Attempt { user: None, ..ok(T0) }, true, vec![]),
        (
            "everything at once",
            Attempt { ip: Some(ip("185.220.101.9")), ..ok(T0) },
            true,
            vec![RiskEventType::AnonymizedIpAddress, RiskEventType::LeakedCredentials],
        ),
    ];
    for (name, a, breached, want) in cases {
        let mut w = World::with(cfg.clone());
        let ds = w.step_breached(&a, breached);
        let got: Vec<RiskEventType> = ds.iter().map(|d| d.event_type).collect();
        assert_eq!(got, want, "{name}");
    }
    let mut w = World::with(cfg);
    let ds = w.step_breached(&Attempt { ip: evil, ..ok(T0) }, true);
    assert_eq!(sign_in_risk(&ds), RiskLevel::High);
    for d in &ds {
        assert_eq!(d.timing, DetectionTiming::Realtime);
        let v: serde_json::Value = serde_json::from_str(&d.additional_info).unwrap();
        assert!(v.is_array());
    }
}

#[test]
fn sign_in_risk_table() {
    let d = |level, timing| Detection {
        user_id: uid(1),
        account_key: "a".into(),
        event_type: RiskEventType::PasswordSpray,
        level,
        timing,
        activity_time: T0,
        ip: Option::None,
        additional_info: "[]".into(),
    };
    use DetectionTiming::*;
    use RiskLevel::*;
    let cases = [
        (vec![], RiskLevel::None),
        (vec![d(Low, Realtime)], Low),
        (vec![d(Low, Realtime), d(Medium, Realtime)], Medium),
        (vec![d(Medium, Realtime), d(Medium, Realtime)], Medium),
        (vec![d(High, Offline), d(Low, Realtime)], Low),
        (vec![d(High, Realtime), d(Low, Realtime)], High),
    ];
    for (ds, want) in cases {
        assert_eq!(sign_in_risk(&ds), want, "{ds:?}");
    }
}

// ---------------------------------------------------------------- aggregation and transitions

fn stored(n: u32, level: RiskLevel, state: RiskState) -> StoredDetection {
    StoredDetection {
        id: uid(100 + n),
        event_type: RiskEventType::UnfamiliarFeatures,
        level,
        state,
        detail: RiskDetail::None,
        time: T0 + i64::from(n),
        last_updated: T0 + i64::from(n),
    }
}

#[test]
fn user_risk_table() {
    use RiskLevel::*;
    use RiskState::*;
    let cases: Vec<(&str, Vec<StoredDetection>, RiskLevel, RiskState)> = vec![
        ("nothing", vec![], RiskLevel::None, RiskState::None),
        ("one low", vec![stored(1, Low, AtRisk)], Low, AtRisk),
        ("two mediums stay medium", vec![stored(1, Medium, AtRisk), stored(2, Medium, AtRisk)], Medium, AtRisk),
        ("max of at-risk", vec![stored(1, Low, AtRisk), stored(2, High, AtRisk)], High, AtRisk),
        ("dismissed high ignored", vec![stored(1, High, Dismissed), stored(2, Low, AtRisk)], Low, AtRisk),
        ("remediated ignored", vec![stored(1, High, Remediated)], RiskLevel::None, Remediated),
        ("confirmed safe ignored", vec![stored(1, High, ConfirmedSafe)], RiskLevel::None, ConfirmedSafe),
        ("confirmed compromised is high", vec![stored(1, Low, ConfirmedCompromised)], High, ConfirmedCompromised),
    ];
    for (name, ds, level, state) in cases {
        assert_eq!(user_risk(&ds), level, "{name}");
        let u = risky_user_state(&ds);
        assert_eq!((u.level, u.state), (level, state), "{name}");
    }
}

#[test]
fn transitions() {
    use RiskLevel::*;
    use RiskState::*;
    let ds = vec![stored(1, Medium, AtRisk), stored(2, Low, Dismissed), stored(3, High, AtRisk)];
    let now = T0 + DAY;

    let t = confirm_compromised(&ds, Target::All, now, uid(999));
    assert_eq!(t.changed, 3);
    assert_eq!(t.detections.len(), 4);
    assert_eq!(t.detections[0].state, ConfirmedCompromised);
    assert_eq!(t.detections[0].level, High);
    assert_eq!(t.detections[0].detail, RiskDetail::AdminConfirmedUserCompromised);
    assert_eq!(t.detections[0].last_updated, now);
    assert_eq!(t.detections[1].state, Dismissed, "closed detections untouched");
    assert_eq!(t.detections[3].id, uid(999));
    assert_eq!(t.detections[3].event_type, RiskEventType::AdminConfirmedUserCompromised);
    assert_eq!(
        (t.user.level, t.user.state, t.user.detail),
        (High, ConfirmedCompromised, RiskDetail::AdminConfirmedUserCompromised)
    );
    // Idempotent: confirming again adds nothing.
    let again = confirm_compromised(&t.detections, Target::All, now + 1, uid(998));
    assert_eq!(again.changed, 0);
    assert_eq!(again.detections.len(), 4);
    // With no detections at all the user still becomes high.
    let empty = confirm_compromised(&[], Target::All, now, uid(999));
    assert_eq!(empty.user.level, High);
    assert_eq!(user_risk(&empty.detections), High);

    // Remediation closes compromised and at-risk detections alike.
    let r = remediate_by_secure_password_change(&t.detections, now + 2);
    assert_eq!(r.changed, 3);
    assert!(r.detections.iter().all(|d| !d.state.is_open()));
    assert_eq!(
        (r.user.level, r.user.state, r.user.detail),
        (RiskLevel::None, Remediated, RiskDetail::UserPerformedSecuredPasswordChange)
    );
    assert_eq!(r.user.last_updated, Some(now + 2));

    let d = dismiss(&ds, now);
    assert_eq!(d.changed, 2);
    assert_eq!(
        (d.user.level, d.user.state, d.user.detail),
        (RiskLevel::None, Dismissed, RiskDetail::AdminDismissedAllRiskForUser)
    );

    // Confirm one sign-in safe: the other keeps the user at risk.
    let ids = [uid(103)];
    let s = confirm_safe(&ds, Target::Only(&ids), now);
    assert_eq!(s.changed, 1);
    assert_eq!(s.detections[2].state, ConfirmedSafe);
    assert_eq!(s.detections[2].detail, RiskDetail::AdminConfirmedSigninSafe);
    assert_eq!((s.user.level, s.user.state), (Medium, AtRisk));
    let s = confirm_safe(&ds, Target::All, now);
    assert_eq!(s.changed, 2);
    assert_eq!((s.user.level, s.user.state), (RiskLevel::None, ConfirmedSafe));

    // Confirm one sign-in compromised, even a dismissed one.
    let ids = [uid(102)];
    let c = confirm_compromised(&ds, Target::Only(&ids), now, uid(999));
    assert_eq!(c.changed, 1);
    assert_eq!(c.detections.len(), 3);
    assert_eq!(c.detections[1].detail, RiskDetail::AdminConfirmedSigninCompromised);
    assert_eq!(c.user.level, High);

    // Unknown ids change nothing.
    let ids = [uid(555)];
    assert_eq!(confirm_safe(&ds, Target::Only(&ids), now).changed, 0);
    assert_eq!(confirm_safe(&ds, Target::Only(&ids), now).detections, ds);
}

#[test]
fn stored_from_detection() {
    let mut w = World::default();
    let ds = w.step_breached(&ok(T0), true);
    let s = StoredDetection::new(uid(7), &ds[0], T0 + 1);
    assert_eq!((s.state, s.detail, s.level), (RiskState::AtRisk, RiskDetail::None, RiskLevel::High));
    assert_eq!(s.time, T0);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["event_type"], "leakedCredentials");
    assert_eq!(json["state"], "atRisk");
}
