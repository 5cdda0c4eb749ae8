//! Country of an IP address from a MaxMind-format database (the CC0
//! `@ip-location-db/geo-whois-asn-country-mmdb`, or a GeoLite2/GeoIP2 Country or City file),
//! for `location.countryOrRegion` in sign-in records. The binary reads the file; this module
//! only parses bytes.

use serde::Deserialize;
use std::net::IpAddr;

/// A loaded database.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The fields we read, in both layouts: `country_code` (ip-location-db) and
/// `country.iso_code` (MaxMind).
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    country: Option<Country>,
}

#[derive(Deserialize)]
struct Country {
    #[serde(default)]
    iso_code: Option<String>,
}

impl GeoIp {
    /// Parses a database; refuses anything that is not one.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIp, String> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| format!("not a MaxMind database: {e}"))?;
        Ok(GeoIp { reader })
    }

    /// The ISO 3166-1 alpha-2 country of `ip`, if the database knows it. Private, loopback and
    /// malformed addresses have none.
    pub fn country(&self, ip: &str) -> Option<String> {
        let ip: IpAddr = ip.parse().ok()?;
        let found = self.reader.lookup(ip).ok()?;
        let rec: Record = found.decode().ok().flatten()?;
        rec.country_code
            .or_else(|| rec.country.and_then(|c| c.iso_code))
            .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase())
    }
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("database_type", &self.reader.metadata().database_type).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_database() {
        assert!(GeoIp::from_bytes(Vec::new()).is_err());
        assert!(GeoIp::from_bytes(b"\xab\xcd\xefMaxMind.com garbage".to_vec()).is_err());
        assert!(GeoIp::from_bytes(vec![0u8; 4096]).is_err());
    }
}
