//! Sets of IP ranges (Tor exits, VPN and hosting ranges, threat-intel lists) with O(log n)
//! membership: CIDRs are merged into sorted, disjoint integer intervals.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::error::RiskError;

/// A list of CIDRs (or single addresses) as configured, plus the merged intervals used for
/// lookups. Serialises as the configured strings. IPv4-mapped IPv6 addresses and ranges
/// (`::ffff:a.b.c.d`) are treated as IPv4 on both sides, so a dual-stack listener's mapped
/// client addresses still match IPv4 lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct IpRangeSet {
    nets: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpRangeSet {
    /// Builds the set from parsed networks. Host bits are ignored (`10.0.0.7/8` is `10.0.0.0/8`).
    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let nets: Vec<IpNet> = nets.into_iter().map(canonical_net).collect();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in &nets {
            match n {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpRangeSet { nets, v4: merge(v4), v6: merge(v6) }
    }

    /// Parses each string as a CIDR (`192.0.2.0/24`, `2001:db8::/32`) or a single address.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, RiskError> {
        let mut nets = Vec::with_capacity(items.len());
        for (i, s) in items.iter().enumerate() {
            nets.push(parse_net(s.as_ref()).ok_or(RiskError::BadIpRange { line: i + 1 })?);
        }
        Ok(Self::from_nets(nets))
    }

    /// Parses a downloaded list: one address or CIDR per line; blank lines and `#` comments
    /// (whole-line or trailing) are skipped. The first bad line is an error rather than being
    /// skipped, so a truncated or wrong file is noticed instead of silently shrinking the list.
    pub fn from_lines(text: &str) -> Result<Self, RiskError> {
        let mut nets = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            nets.push(parse_net(content).ok_or(RiskError::BadIpRange { line: i + 1 })?);
        }
        Ok(Self::from_nets(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }

    /// The configured networks (canonicalised).
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl TryFrom<Vec<String>> for IpRangeSet {
    type Error = RiskError;

    fn try_from(items: Vec<String>) -> Result<Self, RiskError> {
        Self::parse(&items)
    }
}

impl From<IpRangeSet> for Vec<String> {
    fn from(set: IpRangeSet) -> Vec<String> {
        set.nets.iter().map(ToString::to_string).collect()
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = IpNet::from_str(s) {
        return Some(n);
    }
    IpAddr::from_str(s).ok().map(IpNet::from)
}

/// Network address, host bits cleared; IPv4-mapped IPv6 ranges of /96 or longer become IPv4.
fn canonical_net(n: IpNet) -> IpNet {
    if let IpNet::V6(v6) = n
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(net.trunc());
    }
    n.trunc()
}

/// Sorts and merges overlapping or adjacent intervals so a lookup is one binary search.
fn merge<T: Copy + Ord + num::Succ>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = out.last_mut()
            && (start <= last.1 || last.1.succ() == Some(start))
        {
            if end > last.1 {
                last.1 = end;
            }
            continue;
        }
        out.push((start, end));
    }
    out.shrink_to_fit();
    out
}

fn in_ranges<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let idx = ranges.partition_point(|&(start, _)| start <= x);
    idx > 0 && ranges.get(idx - 1).is_some_and(|&(_, end)| x <= end)
}

mod num {
    /// `x + 1` without overflow, for adjacency checks.
    pub trait Succ: Sized {
        fn succ(self) -> Option<Self>;
    }
    impl Succ for u32 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn membership_table() {
        let set = IpRangeSet::parse(&[
            "192.0.2.0/24",
            "198.51.100.7",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "2001:db8::/32",
            "203.0.113.0/25",
            "203.0.113.128/25",
            "::ffff:100.64.0.0/112",
        ])
        .unwrap();
        let cases = [
            ("192.0.2.0", true),
            ("192.0.2.255", true),
            ("192.0.3.0", false),
            ("192.0.1.255", false),
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("10.255.255.255", true),
            ("11.0.0.0", false),
            ("203.0.113.200", true),
            ("2001:db8:1::1", true),
            ("2001:db9::1", false),
            ("::ffff:192.0.2.9", true),
            ("100.64.3.4", true),
            ("100.65.0.0", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("::", false),
        ];
        for (addr, want) in cases {
            assert_eq!(set.contains(ip(addr)), want, "{addr}");
        }
        // Adjacent /25s and the nested /16 merge away.
        assert_eq!(set.v4.len(), 5);
    }

    #[test]
    fn extremes_and_empty() {
        let all = IpRangeSet::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let none = IpRangeSet::default();
        assert!(!none.contains(ip("1.2.3.4")));
        assert!(none.is_empty());
    }

    #[test]
    fn from_lines_and_errors() {
        let set = IpRangeSet::from_lines("# Tor exits\n\n185.220.101.1\n185.220.102.0/24 # relay family\r\n").unwrap();
        assert!(set.contains(ip("185.220.101.1")));
        assert!(set.contains(ip("185.220.102.77")));
        assert!(!set.contains(ip("185.220.101.2")));
        assert_eq!(IpRangeSet::from_lines("1.2.3.4\nnot-an-ip\n"), Err(RiskError::BadIpRange { line: 2 }));
        assert_eq!(IpRangeSet::parse(&["1.2.3.4/33"]), Err(RiskError::BadIpRange { line: 1 }));
    }

    #[test]
    fn serde_round_trip() {
        let set: IpRangeSet = serde_json::from_str(r#"["10.0.0.7/8","2001:db8::1"]"#).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["10.0.0.0/8","2001:db8::1/128"]"#);
        assert!(serde_json::from_str::<IpRangeSet>(r#"["nope"]"#).is_err());
    }
}
