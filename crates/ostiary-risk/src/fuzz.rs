//! Deterministic hostile-input loops (xorshift): random bytes into every parser, absurd times,
//! NaN and infinite coordinates, oversized strings and corrupted state through the detections.
//! Nothing may panic, and the state caps must hold afterwards.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::net::IpAddr;

use uuid::Uuid;

use crate::state::{MAX_ACCOUNT_FAILURES, MAX_CLIENTS, MAX_COUNTRIES, MAX_NETWORKS, MAX_SOURCE_FAILURES};
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

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"\n",
            b"\r\n",
            b":",
            b"#",
            b"/",
            b" ",
            b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8",
            b"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:",
            b"99999999999999999999999999",
            b"10.0.0.0/8",
            b"::ffff:1.2.3.4/200",
            b"2001:db8::/129",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"\0",
            "é".as_bytes(),
        ];
        let n = self.below(max);
        let mut out = Vec::with_capacity(n * 4);
        for _ in 0..n {
            if self.below(3) == 0 {
                out.extend_from_slice(PIECES[self.below(PIECES.len())]);
            } else {
                out.push(self.next() as u8);
            }
        }
        out
    }

    fn f64(&mut self) -> f64 {
        const SPECIAL: &[f64] = &[
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            -0.0,
            90.0,
            -90.0,
            180.0,
            -180.0,
            90.000001,
            48.85,
            2.35,
        ];
        if self.below(2) == 0 { SPECIAL[self.below(SPECIAL.len())] } else { f64::from_bits(self.next()) }
    }

    fn time(&mut self) -> i64 {
        const SPECIAL: &[i64] = &[i64::MIN, i64::MAX, 0, -1, 1_700_000_000, i64::MIN + 1, i64::MAX - 1];
        match self.below(3) {
            0 => SPECIAL[self.below(SPECIAL.len())],
            1 => 1_700_000_000 + (self.next() % 10_000) as i64,
            _ => self.next() as i64,
        }
    }

    fn ip(&mut self) -> Option<IpAddr> {
        match self.below(4) {
            0 => None,
            1 => Some(IpAddr::from([203, 0, 113, self.below(4) as u8])),
            2 => Some(IpAddr::from(std::net::Ipv6Addr::from((self.next() as u128) << 64 | u128::from(self.next())))),
            _ => Some(IpAddr::from((self.next() as u32).to_be_bytes())),
        }
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    fn attempt(&mut self) -> Attempt {
        let success = self.below(2) == 0;
        Attempt {
            time: self.time(),
            user: if self.below(3) == 0 { None } else { Some(Uuid::from_u128(self.below(5) as u128)) },
            account_key: if self.below(10) == 0 { "x".repeat(10_000) } else { format!("u{}", self.below(30)) },
            ip: self.ip(),
            country: match self.below(4) {
                0 => None,
                1 => Some(["FR", "US", "JP", "AU", "fr"][self.below(5)].to_string()),
                _ => Some(self.text(4)),
            },
            coordinates: if self.below(2) == 0 { None } else { Some((self.f64(), self.f64())) },
            client: if self.below(10) == 0 { "é".repeat(5_000) } else { self.text(12) },
            success,
            failure_code: if success { None } else { Some([50126, 50053, 0, u32::MAX][self.below(4)]) },
            interactive: self.below(4) != 0,
        }
    }
}

#[test]
fn breached_list_random_bytes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let bytes = rng.bytes(200);
        let a = BreachedPasswords::from_bytes(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let b = BreachedPasswords::from_lines(&text);
        let _ = BreachedPasswords::from_sha1_lines(&text);
        let _ = BreachedPasswords::load(&bytes, ListFormat::Sha1Hex);
        let c = BreachedPasswords::load(&bytes, ListFormat::Plaintext);
        assert!(a.len() <= bytes.len() + 1);
        assert!(c.len() <= bytes.len() + 1);
        let _ = b.contains(&text);
        // Every non-empty plaintext line is found again.
        for line in bytes.split(|&x| x == b'\n') {
            let pw = line.strip_suffix(b"\r").unwrap_or(line);
            if !pw.is_empty() {
                assert!(c.contains_digest(&breached::sha1(pw)));
            }
        }
    }
}

#[test]
fn ip_lists_random_bytes() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    for _ in 0..3_000 {
        let text = rng.text(60);
        if let Ok(set) = IpRangeSet::from_lines(&text) {
            for _ in 0..4 {
                if let Some(ip) = rng.ip() {
                    let _ = set.contains(ip);
                }
            }
        }
        let _ = serde_json::from_str::<IpRangeSet>(&text);
        let _ = serde_json::from_str::<RiskConfig>(&text);
    }
}

#[test]
fn geo_random_floats() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for _ in 0..20_000 {
        let a = (rng.f64(), rng.f64());
        let b = (rng.f64(), rng.f64());
        if let Some(d) = haversine_km(a, b) {
            assert!(d.is_finite() && (0.0..=20_040.0).contains(&d), "{a:?} {b:?} {d}");
        }
        let code = rng.text(3);
        let _ = country_centroid(&code);
    }
}

/// Random attempts through assess/observe/record with shared state: no panic, caps hold, every
/// detection belongs to a real user and carries JSON evidence.
#[test]
fn detections_random_attempts() {
    let mut rng = Rng(0x0BAD_5EED_0BAD_5EED);
    let cfg = RiskConfig {
        spray_min_accounts: 3,
        brute_force_min_failures: 3,
        unfamiliar_min_successes: 1,
        unfamiliar_min_days: 0,
        anonymizing_ranges: IpRangeSet::parse(&["203.0.113.0/30"]).unwrap(),
        malicious_ranges: IpRangeSet::parse(&["203.0.113.2", "::/1"]).unwrap(),
        ..RiskConfig::default()
    };
    let mut profile = UserProfile::default();
    let mut source = SourceWindow::default();
    let mut account = AccountWindow::default();
    for i in 0..20_000 {
        let a = rng.attempt();
        let ds = assess(&a, &profile, &source, &account, &cfg, rng.below(2) == 0);
        for d in &ds {
            assert!(d.user_id.as_u128() < 5);
            let v: serde_json::Value = serde_json::from_str(&d.additional_info).unwrap();
            assert!(v.is_array());
        }
        let _ = sign_in_risk(&ds);
        profile.observe(&a, &cfg);
        source.record(&a, &cfg);
        account.record(&a, &cfg);
        assert!(profile.countries.len() <= MAX_COUNTRIES);
        assert!(profile.networks.len() <= MAX_NETWORKS);
        assert!(profile.clients.len() <= MAX_CLIENTS);
        assert!(source.failures.len() <= MAX_SOURCE_FAILURES);
        assert!(account.failures.len() <= MAX_ACCOUNT_FAILURES);
        assert!(source.failures.iter().all(|f| f.account_key.len() <= attempt::MAX_KEY_BYTES));
        assert!(profile.clients.iter().all(|c| c.value.len() <= attempt::MAX_CLIENT_BYTES));
        // Now and then the store hands back something odd.
        if i % 5_000 == 4_999 {
            profile =
                serde_json::from_str(r#"{"successes":18446744073709551615,"first_success":-9223372036854775808}"#)
                    .unwrap();
        }
    }
}

/// A corrupted or hand-edited state record (oversized lists, absurd times) is still safe to
/// use, and one `record` brings it back under its caps.
#[test]
fn oversized_state_is_repaired() {
    let cfg = RiskConfig::default();
    let now = 1_700_000_000;
    let mut source = SourceWindow {
        failures: (0..5_000)
            .map(|i| state::SourceFailure {
                time: now - i % 30,
                account_key: format!("a{i}"),
                user: Some(Uuid::from_u128(i as u128)),
            })
            .collect(),
        reported: vec![],
        last_spray: Some(i64::MIN),
    };
    let mut account = AccountWindow {
        failures: (0..5_000).map(|i| state::AccountFailure { time: now - i % 30, ip: None }).collect(),
        last_alert: Some(i64::MAX),
    };
    let a = Attempt {
        time: now,
        user: Some(Uuid::from_u128(1)),
        account_key: "a1".into(),
        ip: None,
        country: None,
        coordinates: None,
        client: String::new(),
        success: false,
        failure_code: Some(50126),
        interactive: true,
    };
    let ds = assess(&a, &UserProfile::default(), &source, &account, &cfg, false);
    assert!(!ds.is_empty());
    source.record(&a, &cfg);
    account.record(&a, &cfg);
    assert_eq!(source.failures.len(), MAX_SOURCE_FAILURES);
    assert_eq!(account.failures.len(), MAX_ACCOUNT_FAILURES);
}
