//! One sign-in attempt as the caller saw it, and the normalisation every detection applies to
//! its untrusted parts (country codes, coordinates, lengths, IPv4-mapped addresses).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::geo::valid_coordinates;

/// Longest account key or client string kept in state; longer ones are cut (at a character
/// boundary) so a hostile username cannot inflate stored windows. Cutting can merge two very
/// long keys, which only makes counting slightly conservative.
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_CLIENT_BYTES: usize = 128;

/// All facts are supplied by the caller; nothing here is looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds.
    pub time: i64,
    /// `None` when the username does not exist.
    pub user: Option<Uuid>,
    /// Normalised username, also for unknown users.
    pub account_key: String,
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2; anything else is ignored.
    pub country: Option<String>,
    /// `(latitude, longitude)` from city-level GeoIP; invalid values are ignored.
    pub coordinates: Option<(f64, f64)>,
    /// App id plus browser/OS family, e.g. `"<appId>|Edge|Windows"`.
    pub client: String,
    pub success: bool,
    /// AADSTS code of a failure (50126 = wrong password).
    pub failure_code: Option<u32>,
    pub interactive: bool,
}

impl Attempt {
    pub(crate) fn key(&self) -> String {
        clip(&self.account_key, MAX_KEY_BYTES)
    }

    pub(crate) fn client_norm(&self) -> Option<String> {
        let c = self.client.trim();
        (!c.is_empty()).then(|| clip(c, MAX_CLIENT_BYTES))
    }

    pub(crate) fn country_norm(&self) -> Option<String> {
        norm_country(self.country.as_deref())
    }

    pub(crate) fn coords_norm(&self) -> Option<(f64, f64)> {
        self.coordinates.filter(|&c| valid_coordinates(c))
    }

    pub(crate) fn ip_norm(&self) -> Option<IpAddr> {
        self.ip.map(|ip| ip.to_canonical())
    }

    pub(crate) fn network(&self) -> Option<IpNet> {
        self.ip.and_then(network_of)
    }
}

/// Two ASCII letters, upper-cased; anything else is `None`.
pub(crate) fn norm_country(c: Option<&str>) -> Option<String> {
    let c = c?.trim();
    (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
}

/// The /24 (IPv4) or /48 (IPv6) an address belongs to: the granularity of "the same network"
/// for familiarity and for the travel check's same-network exemption. /48 is the usual IPv6
/// site allocation; a /64 would change whenever privacy addressing picks a new prefix.
pub fn network_of(ip: IpAddr) -> Option<IpNet> {
    match ip.to_canonical() {
        IpAddr::V4(a) => Ipv4Net::new(a, 24).ok().map(|n| IpNet::V4(n.trunc())),
        IpAddr::V6(a) => Ipv6Net::new(a, 48).ok().map(|n| IpNet::V6(n.trunc())),
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn networks() {
        let cases = [
            ("192.0.2.77", "192.0.2.0/24"),
            ("::ffff:192.0.2.77", "192.0.2.0/24"),
            ("2001:db8:aa:bb::1", "2001:db8:aa::/48"),
        ];
        for (ip, want) in cases {
            assert_eq!(network_of(ip.parse().unwrap()).unwrap().to_string(), want);
        }
    }

    #[test]
    fn countries() {
        let cases = [
            (Some("fr"), Some("FR")),
            (Some(" US "), Some("US")),
            (Some("USA"), None),
            (Some("1A"), None),
            (Some("é"), None),
            (Some(""), None),
            (None, None),
        ];
        for (input, want) in cases {
            assert_eq!(norm_country(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abc", 2), "ab");
        assert_eq!(clip("éé", 3), "é");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip(&"x".repeat(1000), MAX_KEY_BYTES).len(), MAX_KEY_BYTES);
    }
}
