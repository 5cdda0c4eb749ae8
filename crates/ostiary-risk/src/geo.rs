//! Approximate country positions and great-circle distances, for impossible-travel checks when
//! the caller has only country-level GeoIP.
//!
//! The table gives one point per ISO 3166-1 alpha-2 code (all 249 assigned codes, plus `XK`
//! for Kosovo, which GeoIP databases use). Points are approximate, written from general
//! geographic knowledge, and good to a few hundred kilometres. For very large countries (RU,
//! CA, US, CN, BR, AU, ...) the point sits nearer where most people live than the geometric
//! centre, because sign-ins come from cities: Canada's point is in the Ontario-Quebec corridor,
//! not in the Arctic. The travel check ignores distances under 500 km by default, which absorbs
//! this error for neighbouring countries; it cannot make two sign-ins in one country look far apart.

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// `(code, latitude, longitude)`, sorted by code for binary search.
pub const COUNTRY_CENTROIDS: &[(&str, f64, f64)] = &[
    ("AD", 42.5, 1.5),
    ("AE", 24.0, 54.0),
    ("AF", 33.0, 65.0),
    ("AG", 17.05, -61.8),
    ("AI", 18.25, -63.17),
    ("AL", 41.0, 20.0),
    ("AM", 40.0, 45.0),
    ("AO", -12.5, 18.5),
    ("AQ", -75.0, 0.0),
    ("AR", -34.0, -64.0),
    ("AS", -14.33, -170.0),
    ("AT", 47.33, 13.33),
    ("AU", -33.0, 146.0),
    ("AW", 12.5, -69.97),
    ("AX", 60.12, 19.9),
    ("AZ", 40.5, 47.5),
    ("BA", 44.0, 18.0),
    ("BB", 13.17, -59.53),
    ("BD", 24.0, 90.0),
    ("BE", 50.83, 4.0),
    ("BF", 13.0, -2.0),
    ("BG", 43.0, 25.0),
    ("BH", 26.0, 50.55),
    ("BI", -3.5, 30.0),
    ("BJ", 9.5, 2.25),
    ("BL", 17.9, -62.83),
    ("BM", 32.33, -64.75),
    ("BN", 4.5, 114.67),
    ("BO", -17.0, -65.0),
    ("BQ", 12.18, -68.25),
    ("BR", -18.0, -46.0),
    ("BS", 24.25, -76.0),
    ("BT", 27.5, 90.5),
    ("BV", -54.43, 3.4),
    ("BW", -22.0, 24.0),
    ("BY", 53.0, 28.0),
    ("BZ", 17.25, -88.75),
    ("CA", 45.5, -77.0),
    ("CC", -12.17, 96.83),
    ("CD", -2.5, 23.5),
    ("CF", 7.0, 21.0),
    ("CG", -1.0, 15.0),
    ("CH", 46.8, 8.2),
    ("CI", 7.5, -5.5),
    ("CK", -21.23, -159.77),
    ("CL", -33.0, -71.0),
    ("CM", 6.0, 12.0),
    ("CN", 32.0, 112.0),
    ("CO", 4.0, -73.0),
    ("CR", 10.0, -84.0),
    ("CU", 21.5, -79.5),
    ("CV", 16.0, -24.0),
    ("CW", 12.17, -69.0),
    ("CX", -10.5, 105.67),
    ("CY", 35.0, 33.0),
    ("CZ", 49.75, 15.5),
    ("DE", 51.0, 10.0),
    ("DJ", 11.5, 43.0),
    ("DK", 56.0, 10.0),
    ("DM", 15.42, -61.33),
    ("DO", 19.0, -70.67),
    ("DZ", 32.0, 3.0),
    ("EC", -2.0, -78.5),
    ("EE", 59.0, 26.0),
    ("EG", 29.0, 31.0),
    ("EH", 24.5, -13.0),
    ("ER", 15.0, 39.0),
    ("ES", 40.0, -4.0),
    ("ET", 9.0, 39.0),
    ("FI", 62.0, 25.0),
    ("FJ", -18.0, 178.0),
    ("FK", -51.75, -59.0),
    ("FM", 6.92, 158.25),
    ("FO", 62.0, -7.0),
    ("FR", 46.5, 2.5),
    ("GA", -1.0, 11.75),
    ("GB", 53.0, -1.5),
    ("GD", 12.12, -61.67),
    ("GE", 42.0, 43.5),
    ("GF", 4.0, -53.0),
    ("GG", 49.47, -2.58),
    ("GH", 7.0, -1.5),
    ("GI", 36.13, -5.35),
    ("GL", 66.0, -45.0),
    ("GM", 13.47, -16.57),
    ("GN", 10.5, -11.0),
    ("GP", 16.25, -61.58),
    ("GQ", 2.0, 10.0),
    ("GR", 39.0, 22.0),
    ("GS", -54.5, -37.0),
    ("GT", 15.5, -90.25),
    ("GU", 13.47, 144.78),
    ("GW", 12.0, -15.0),
    ("GY", 5.0, -59.0),
    ("HK", 22.3, 114.17),
    ("HM", -53.1, 72.52),
    ("HN", 15.0, -86.5),
    ("HR", 45.17, 15.5),
    ("HT", 19.0, -72.42),
    ("HU", 47.0, 19.5),
    ("ID", -6.0, 110.0),
    ("IE", 53.0, -8.0),
    ("IL", 31.5, 34.9),
    ("IM", 54.23, -4.55),
    ("IN", 23.0, 79.0),
    ("IO", -6.0, 71.5),
    ("IQ", 33.0, 44.0),
    ("IR", 33.0, 53.0),
    ("IS", 64.5, -19.0),
    ("IT", 42.83, 12.83),
    ("JE", 49.21, -2.13),
    ("JM", 18.1, -77.3),
    ("JO", 31.5, 36.0),
    ("JP", 36.0, 138.0),
    ("KE", 0.0, 37.5),
    ("KG", 41.5, 74.5),
    ("KH", 12.5, 105.0),
    ("KI", 1.42, 173.0),
    ("KM", -12.17, 44.25),
    ("KN", 17.33, -62.75),
    ("KP", 40.0, 127.0),
    ("KR", 36.5, 127.8),
    ("KW", 29.3, 47.7),
    ("KY", 19.3, -81.25),
    ("KZ", 48.0, 68.0),
    ("LA", 18.0, 104.0),
    ("LB", 33.85, 35.85),
    ("LC", 13.9, -60.97),
    ("LI", 47.15, 9.55),
    ("LK", 7.5, 80.7),
    ("LR", 6.5, -9.5),
    ("LS", -29.5, 28.25),
    ("LT", 55.5, 24.0),
    ("LU", 49.75, 6.15),
    ("LV", 57.0, 25.0),
    ("LY", 27.0, 17.0),
    ("MA", 32.0, -6.0),
    ("MC", 43.73, 7.42),
    ("MD", 47.0, 28.5),
    ("ME", 42.7, 19.3),
    ("MF", 18.08, -63.05),
    ("MG", -20.0, 47.0),
    ("MH", 7.1, 171.2),
    ("MK", 41.6, 21.7),
    ("ML", 17.0, -4.0),
    ("MM", 21.0, 96.0),
    ("MN", 47.0, 104.0),
    ("MO", 22.17, 113.55),
    ("MP", 15.2, 145.75),
    ("MQ", 14.65, -61.0),
    ("MR", 20.0, -11.0),
    ("MS", 16.75, -62.2),
    ("MT", 35.9, 14.45),
    ("MU", -20.3, 57.55),
    ("MV", 3.2, 73.2),
    ("MW", -13.5, 34.0),
    ("MX", 21.0, -100.0),
    ("MY", 3.5, 102.5),
    ("MZ", -18.25, 35.0),
    ("NA", -22.0, 17.0),
    ("NC", -21.5, 165.5),
    ("NE", 16.0, 8.0),
    ("NF", -29.03, 167.95),
    ("NG", 9.0, 8.0),
    ("NI", 12.9, -85.0),
    ("NL", 52.3, 5.5),
    ("NO", 61.0, 9.0),
    ("NP", 28.0, 84.0),
    ("NR", -0.53, 166.92),
    ("NU", -19.05, -169.87),
    ("NZ", -40.0, 175.0),
    ("OM", 21.0, 57.0),
    ("PA", 8.8, -80.0),
    ("PE", -10.0, -76.0),
    ("PF", -17.65, -149.45),
    ("PG", -6.0, 146.0),
    ("PH", 13.0, 122.0),
    ("PK", 30.0, 70.0),
    ("PL", 52.0, 19.5),
    ("PM", 46.9, -56.3),
    ("PN", -25.07, -130.1),
    ("PR", 18.25, -66.5),
    ("PS", 31.9, 35.2),
    ("PT", 39.5, -8.0),
    ("PW", 7.5, 134.55),
    ("PY", -23.5, -58.0),
    ("QA", 25.3, 51.2),
    ("RE", -21.1, 55.55),
    ("RO", 46.0, 25.0),
    ("RS", 44.0, 20.9),
    ("RU", 56.0, 50.0),
    ("RW", -2.0, 30.0),
    ("SA", 24.0, 45.0),
    ("SB", -9.0, 160.0),
    ("SC", -4.65, 55.45),
    ("SD", 15.0, 30.0),
    ("SE", 60.0, 15.0),
    ("SG", 1.35, 103.82),
    ("SH", -15.95, -5.7),
    ("SI", 46.1, 14.8),
    ("SJ", 78.0, 16.0),
    ("SK", 48.7, 19.5),
    ("SL", 8.5, -11.8),
    ("SM", 43.94, 12.46),
    ("SN", 14.5, -14.5),
    ("SO", 5.0, 46.0),
    ("SR", 4.0, -56.0),
    ("SS", 7.0, 30.0),
    ("ST", 0.25, 6.6),
    ("SV", 13.8, -88.9),
    ("SX", 18.03, -63.07),
    ("SY", 35.0, 38.0),
    ("SZ", -26.5, 31.5),
    ("TC", 21.75, -71.8),
    ("TD", 15.0, 19.0),
    ("TF", -49.3, 69.2),
    ("TG", 8.0, 1.1),
    ("TH", 15.0, 101.0),
    ("TJ", 39.0, 71.0),
    ("TK", -9.2, -171.8),
    ("TL", -8.8, 125.9),
    ("TM", 39.0, 59.5),
    ("TN", 34.5, 9.5),
    ("TO", -21.1, -175.2),
    ("TR", 39.0, 35.0),
    ("TT", 10.5, -61.3),
    ("TV", -8.5, 179.2),
    ("TW", 23.7, 121.0),
    ("TZ", -6.5, 35.0),
    ("UA", 49.0, 31.5),
    ("UG", 1.3, 32.4),
    ("UM", 19.28, 166.63),
    ("US", 38.0, -92.0),
    ("UY", -33.0, -56.0),
    ("UZ", 41.0, 64.5),
    ("VA", 41.9, 12.45),
    ("VC", 13.25, -61.2),
    ("VE", 8.0, -66.0),
    ("VG", 18.45, -64.6),
    ("VI", 18.34, -64.9),
    ("VN", 16.0, 106.5),
    ("VU", -16.0, 167.0),
    ("WF", -13.3, -176.2),
    ("WS", -13.75, -172.1),
    ("XK", 42.6, 20.9),
    ("YE", 15.5, 47.5),
    ("YT", -12.83, 45.15),
    ("ZA", -29.0, 25.0),
    ("ZM", -14.0, 28.0),
    ("ZW", -19.0, 30.0),
];

/// The approximate `(latitude, longitude)` of a country by ISO alpha-2 code (case-insensitive).
pub fn country_centroid(code: &str) -> Option<(f64, f64)> {
    let code = code.trim();
    if code.len() != 2 || !code.is_ascii() {
        return None;
    }
    let upper = code.to_ascii_uppercase();
    COUNTRY_CENTROIDS
        .binary_search_by(|(c, _, _)| (*c).cmp(upper.as_str()))
        .ok()
        .and_then(|i| COUNTRY_CENTROIDS.get(i))
        .map(|&(_, lat, lon)| (lat, lon))
}

/// `true` for finite coordinates inside [-90, 90] x [-180, 180].
pub fn valid_coordinates((lat, lon): (f64, f64)) -> bool {
    lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

/// Great-circle distance in km (haversine). Invalid input (NaN, out of range) gives `None`.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> Option<f64> {
    if !valid_coordinates(a) || !valid_coordinates(b) {
        return None;
    }
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let dlat = lat2 - lat1;
    let dlon = lon2 - lon1;
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // Rounding can push h a hair outside [0, 1] for antipodal points; asin would return NaN.
    let h = h.clamp(0.0, 1.0);
    Some(2.0 * EARTH_RADIUS_KM * h.sqrt().asin())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table_sanity() {
        assert!(COUNTRY_CENTROIDS.len() >= 240, "{}", COUNTRY_CENTROIDS.len());
        assert_eq!(COUNTRY_CENTROIDS.len(), 250);
        for w in COUNTRY_CENTROIDS.windows(2) {
            assert!(w[0].0 < w[1].0, "not sorted or duplicate: {} {}", w[0].0, w[1].0);
        }
        for &(code, lat, lon) in COUNTRY_CENTROIDS {
            assert_eq!(code.len(), 2, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!((-90.0..=90.0).contains(&lat), "{code} lat {lat}");
            assert!((-180.0..=180.0).contains(&lon), "{code} lon {lon}");
            assert_eq!(country_centroid(code), Some((lat, lon)));
        }
    }

    #[test]
    fn hemispheres_spot_checks() {
        // (code, north?, east?) for places whose hemispheres are unambiguous.
        let cases = [
            ("FR", true, true),
            ("US", true, false),
            ("BR", false, false),
            ("AU", false, true),
            ("JP", true, true),
            ("AR", false, false),
            ("ZA", false, true),
            ("NZ", false, true),
            ("CA", true, false),
            ("IS", true, false),
        ];
        for (code, north, east) in cases {
            let (lat, lon) = country_centroid(code).unwrap();
            assert_eq!(lat > 0.0, north, "{code}");
            assert_eq!(lon > 0.0, east, "{code}");
        }
    }

    #[test]
    fn distances() {
        let d = |a: &str, b: &str| haversine_km(country_centroid(a).unwrap(), country_centroid(b).unwrap()).unwrap();
        // (a, b, min km, max km): real capital-to-capital distances with room for centroid error.
        let cases = [
            ("FR", "US", 5_000.0, 9_000.0),
            ("GB", "AU", 15_000.0, 18_000.0),
            ("DE", "JP", 8_000.0, 10_500.0),
            ("FR", "DE", 300.0, 1_000.0),
            ("BE", "NL", 0.0, 300.0),
            ("US", "CA", 500.0, 2_500.0),
            ("BR", "AR", 1_500.0, 3_500.0),
            ("IN", "CN", 2_500.0, 4_500.0),
        ];
        for (a, b, lo, hi) in cases {
            let km = d(a, b);
            assert!((lo..=hi).contains(&km), "{a}-{b}: {km}");
            assert!((km - d(b, a)).abs() < 1e-6);
        }
        assert_eq!(d("FR", "FR"), 0.0);
    }

    #[test]
    fn haversine_reference_points() {
        // Paris to New York is about 5,837 km.
        let km = haversine_km((48.8566, 2.3522), (40.7128, -74.0060)).unwrap();
        assert!((km - 5837.0).abs() < 20.0, "{km}");
        // Antipodes: half the circumference, no NaN.
        let km = haversine_km((0.0, 0.0), (0.0, 180.0)).unwrap();
        assert!((km - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
        let km = haversine_km((90.0, 0.0), (-90.0, 0.0)).unwrap();
        assert!(km.is_finite());
    }

    #[test]
    fn invalid_inputs() {
        let bad =
            [(f64::NAN, 0.0), (0.0, f64::NAN), (f64::INFINITY, 0.0), (91.0, 0.0), (0.0, -180.5), (f64::MAX, f64::MIN)];
        for b in bad {
            assert_eq!(haversine_km(b, (0.0, 0.0)), None, "{b:?}");
            assert_eq!(haversine_km((0.0, 0.0), b), None, "{b:?}");
        }
        for code in ["", "F", "fra", "ZZ", "é1", "xx", "  ", "\u{1F600}"] {
            assert_eq!(country_centroid(code), None, "{code:?}");
        }
        assert_eq!(country_centroid("fr"), country_centroid("FR"));
        assert_eq!(country_centroid("xk"), Some((42.6, 20.9)));
    }
}
