//! The Graph `namedLocation` resources (IP ranges and countries), tagged by `@odata.type`, and
//! the ISO 3166-1 alpha-2 table that country locations are checked against.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enums::CountryLookupMethod;
use crate::error::PolicyError;
use crate::model::Extra;

pub const IP_NAMED_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
pub const COUNTRY_NAMED_LOCATION: &str = "#microsoft.graph.countryNamedLocation";
pub const IPV4_CIDR_RANGE: &str = "#microsoft.graph.iPv4CidrRange";
pub const IPV6_CIDR_RANGE: &str = "#microsoft.graph.iPv6CidrRange";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum NamedLocation {
    #[serde(rename = "#microsoft.graph.ipNamedLocation", alias = "microsoft.graph.ipNamedLocation")]
    Ip(IpNamedLocation),
    #[serde(rename = "#microsoft.graph.countryNamedLocation", alias = "microsoft.graph.countryNamedLocation")]
    Country(CountryNamedLocation),
}

impl NamedLocation {
    pub fn from_json(json: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(json)
            .map_err(|e| PolicyError::InvalidJson { what: "namedLocation", message: e.to_string() })
    }

    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        serde_json::from_value(value)
            .map_err(|e| PolicyError::InvalidJson { what: "namedLocation", message: e.to_string() })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Ip(l) => &l.id,
            Self::Country(l) => &l.id,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            Self::Ip(l) => &l.display_name,
            Self::Country(l) => &l.display_name,
        }
    }

    /// Whether `AllTrusted` covers this location.
    pub fn is_trusted(&self) -> bool {
        match self {
            Self::Ip(l) => l.is_trusted == Some(true),
            Self::Country(l) => l.is_trusted(),
        }
    }
}

/// `createdDateTime` / `modifiedDateTime` stay in `extra`: Graph sets them, Ostiary never reads them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpNamedLocation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub is_trusted: Option<bool>,
    #[serde(default)]
    pub ip_ranges: Option<Vec<IpRange>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `ipRange`: `{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": …}`. Both
/// members are optional on input and kept as given (absent stays absent, null stays null).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpRange {
    #[serde(flatten)]
    pub members: Extra,
}

impl IpRange {
    /// A range with the `@odata.type` that matches the address family of `cidr` (v6 if it has a colon).
    pub fn cidr(cidr: &str) -> Self {
        let odata_type = if cidr.contains(':') { IPV6_CIDR_RANGE } else { IPV4_CIDR_RANGE };
        let mut members = Extra::new();
        members.insert("@odata.type".into(), Value::String(odata_type.into()));
        members.insert("cidrAddress".into(), Value::String(cidr.into()));
        Self { members }
    }

    pub fn odata_type(&self) -> Option<&str> {
        self.members.get("@odata.type").and_then(Value::as_str)
    }

    pub fn cidr_address(&self) -> Option<&str> {
        self.members.get("cidrAddress").and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountryNamedLocation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub countries_and_regions: Option<Vec<String>>,
    #[serde(default)]
    pub include_unknown_countries_and_regions: Option<bool>,
    #[serde(default)]
    pub country_lookup_method: Option<CountryLookupMethod>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl CountryNamedLocation {
    /// Graph's country locations have no `isTrusted`; Ostiary honours one if an admin set it,
    /// kept in `extra` so that a location without it round-trips without it.
    pub fn is_trusted(&self) -> bool {
        self.extra.get("isTrusted").and_then(Value::as_bool) == Some(true)
    }
}

/// ISO 3166-1 alpha-2 codes (officially assigned) plus `XK` (Kosovo), which Entra's country
/// picker also offers.
pub const COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "XK", "YE", "YT",
    "ZA", "ZM", "ZW",
];

/// Whether `code` is an assigned alpha-2 code, in Entra's upper case.
pub fn is_country_code(code: &str) -> bool {
    COUNTRY_CODES.binary_search(&code).is_ok()
}

/// `AA`..`ZZ` as 0..676, for a country bit set; case-insensitive because the caller's geo-IP
/// lookup may not upper-case.
pub(crate) fn country_index(code: &str) -> Option<u16> {
    let [a, b] = code.as_bytes() else { return None };
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return None;
    }
    Some(u16::from(a - b'A') * 26 + u16::from(b - b'A'))
}

pub(crate) fn country_from_index(index: u16) -> [u8; 2] {
    // index < 676 by construction; the modulo keeps this total anyway.
    let index = index % 676;
    [b'A' + (index / 26) as u8, b'A' + (index % 26) as u8]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn country_table_is_sorted_and_complete() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        // 249 ISO 3166-1 alpha-2 assignments + XK.
        assert_eq!(COUNTRY_CODES.len(), 250);
        for good in ["US", "KP", "IR", "GB", "XK", "AX"] {
            assert!(is_country_code(good), "{good}");
        }
        for bad in ["UK", "us", "XX", "EU", "", "USA", "Z"] {
            assert!(!is_country_code(bad), "{bad}");
        }
    }

    #[test]
    fn country_index_round_trip() {
        for code in COUNTRY_CODES {
            let i = country_index(code).unwrap();
            assert!(i < 676);
            assert_eq!(&country_from_index(i), code.as_bytes());
        }
        assert_eq!(country_index("fr"), country_index("FR"));
        for bad in ["", "F", "FRA", "F1", "é", "\u{0}A"] {
            assert_eq!(country_index(bad), None, "{bad:?}");
        }
    }
}
