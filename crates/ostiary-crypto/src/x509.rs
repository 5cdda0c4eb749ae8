//! Minimal, strict X.509 certificate reader: validity, subject CN, public
//! key, thumbprints and issuer-signature checks. Not a path validator.

use std::fmt;
use std::ops::Range;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::CryptoError;
use crate::b64;
use crate::der::{self, DerError, Reader, Tlv};
use crate::digest::{sha1, sha256};
use crate::jws::{PublicKey, Scheme};

/// Largest certificate accepted; real ones are a few KiB.
pub const MAX_CERT_LEN: usize = 64 * 1024;
/// Most extensions accepted (duplicate detection is quadratic).
const MAX_EXTENSIONS: usize = 64;

// OID contents (DER value bytes, without tag and length).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// A parsed X.509 certificate.
///
/// Parsing checks DER structure, not trust: use [`Certificate::verify_signed_by`]
/// and [`Certificate::is_valid_at`] for those.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The full certificate DER.
    pub der: Vec<u8>,
    /// Start of the validity period.
    pub not_before: OffsetDateTime,
    /// End of the validity period.
    pub not_after: OffsetDateTime,
    /// Subject public key.
    pub public_key: PublicKey,
    /// Last CommonName attribute of the subject, if any.
    pub subject_cn: Option<String>,
    tbs: Range<usize>,
    sig_alg_oid: Range<usize>,
    sig_scheme: Option<Scheme>,
    signature: Range<usize>,
    serial: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    subject_key_id: Option<Range<usize>>,
    is_ca: bool,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject_cn", &self.subject_cn)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("sha1", &b64::url_encode(&self.sha1_thumbprint()))
            .finish_non_exhaustive()
    }
}

fn bad(e: DerError) -> CryptoError {
    CryptoError::InvalidCertificate(e.0.into())
}

fn invalid(msg: &str) -> CryptoError {
    CryptoError::InvalidCertificate(msg.into())
}

/// AlgorithmIdentifier: the OID element and the optional parameters.
fn algorithm_identifier<'a>(tlv: &Tlv<'a>) -> Result<(Tlv<'a>, Option<Tlv<'a>>), CryptoError> {
    let mut r = Reader::inside(tlv);
    let oid = r.read(der::OID, "algorithm OID expected").map_err(bad)?;
    let params = if r.is_empty() { None } else { Some(r.read_any().map_err(bad)?) };
    r.finish("trailing data in AlgorithmIdentifier").map_err(bad)?;
    Ok((oid, params))
}

fn params_are_null_or_absent(params: Option<&Tlv<'_>>) -> bool {
    params.is_none_or(|p| p.tag == der::NULL)
}

fn signature_scheme(oid: &[u8], params: Option<&Tlv<'_>>) -> Result<Option<Scheme>, CryptoError> {
    let rsa = [
        (OID_SHA256_WITH_RSA, Scheme::RsaPkcs1Sha256),
        (OID_SHA384_WITH_RSA, Scheme::RsaPkcs1Sha384),
        (OID_SHA512_WITH_RSA, Scheme::RsaPkcs1Sha512),
    ];
    if let Some((_, s)) = rsa.iter().find(|(o, _)| *o == oid) {
        if !params_are_null_or_absent(params) {
            return Err(invalid("RSA signature parameters must be NULL"));
        }
        return Ok(Some(*s));
    }
    let ecdsa = [(OID_ECDSA_SHA256, Scheme::EcdsaP256Sha256Asn1), (OID_ECDSA_SHA384, Scheme::EcdsaP256Sha384Asn1)];
    if let Some((_, s)) = ecdsa.iter().find(|(o, _)| *o == oid) {
        if params.is_some() {
            return Err(invalid("ECDSA signature parameters must be absent"));
        }
        return Ok(Some(*s));
    }
    // Unknown algorithms still parse; only verification needs to know them.
    Ok(None)
}

fn two_digits(b: &[u8], i: usize) -> Result<u32, CryptoError> {
    match (b.get(i), b.get(i + 1)) {
        (Some(&h), Some(&l)) if h.is_ascii_digit() && l.is_ascii_digit() => {
            Ok(u32::from(h - b'0') * 10 + u32::from(l - b'0'))
        }
        _ => Err(invalid("invalid time digits")),
    }
}

/// UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, the only
/// forms RFC 5280 allows.
fn parse_time(tlv: &Tlv<'_>) -> Result<OffsetDateTime, CryptoError> {
    let v = tlv.value;
    let (year, rest) = match (tlv.tag, v.len()) {
        (der::UTC_TIME, 13) => {
            let yy = two_digits(v, 0)?;
            // RFC 5280 §4.1.2.5.1: 50..99 are 19xx, 00..49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..))
        }
        (der::GENERALIZED_TIME, 15) => (two_digits(v, 0)? * 100 + two_digits(v, 2)?, v.get(4..)),
        _ => return Err(invalid("unsupported time encoding")),
    };
    let rest = rest.ok_or_else(|| invalid("invalid time"))?;
    if rest.last() != Some(&b'Z') {
        return Err(invalid("time must be UTC (Z)"));
    }
    let field = |i: usize| -> Result<u8, CryptoError> {
        u8::try_from(two_digits(rest, i)?).map_err(|_| invalid("invalid time"))
    };
    let month = Month::try_from(field(0)?).map_err(|_| invalid("invalid month"))?;
    let year = i32::try_from(year).map_err(|_| invalid("invalid year"))?;
    let date = Date::from_calendar_date(year, month, field(2)?).map_err(|_| invalid("invalid date"))?;
    let time = Time::from_hms(field(4)?, field(6)?, field(8)?).map_err(|_| invalid("invalid time of day"))?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Decodes the directory-string types seen in CNs.
fn directory_string(tlv: &Tlv<'_>) -> Result<String, CryptoError> {
    let v = tlv.value;
    match tlv.tag {
        // UTF8String
        0x0c => std::str::from_utf8(v).map(str::to_owned).map_err(|_| invalid("invalid UTF8String")),
        // PrintableString, IA5String
        0x13 | 0x16 => {
            if v.is_ascii() {
                Ok(v.iter().map(|&b| char::from(b)).collect())
            } else {
                Err(invalid("non-ASCII in ASCII string"))
            }
        }
        // TeletexString: treated as Latin-1, as most software does.
        0x14 => Ok(v.iter().map(|&b| char::from(b)).collect()),
        // BMPString (UTF-16BE)
        0x1e => {
            if !v.len().is_multiple_of(2) {
                return Err(invalid("odd-length BMPString"));
            }
            let units = v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().map_err(|_| invalid("invalid BMPString"))
        }
        // UniversalString (UTF-32BE)
        0x1c => {
            if !v.len().is_multiple_of(4) {
                return Err(invalid("invalid UniversalString"));
            }
            v.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or_else(|| invalid("invalid UniversalString"))
        }
        _ => Err(invalid("unsupported string type in name")),
    }
}

/// Walks a Name and returns its last CommonName.
fn common_name(name: &Tlv<'_>) -> Result<Option<String>, CryptoError> {
    let mut cn = None;
    let mut rdns = Reader::inside(name);
    while !rdns.is_empty() {
        let rdn = rdns.read(der::SET, "RDN must be a SET").map_err(bad)?;
        let mut attrs = Reader::inside(&rdn);
        if attrs.is_empty() {
            return Err(invalid("empty RDN"));
        }
        while !attrs.is_empty() {
            let atv = attrs.read(der::SEQUENCE, "attribute must be a SEQUENCE").map_err(bad)?;
            let mut a = Reader::inside(&atv);
            let oid = a.read(der::OID, "attribute type expected").map_err(bad)?;
            let value = a.read_any().map_err(bad)?;
            a.finish("trailing data in attribute").map_err(bad)?;
            if oid.value == OID_COMMON_NAME {
                cn = Some(directory_string(&value)?);
            }
        }
    }
    Ok(cn)
}

fn subject_public_key(spki: &Tlv<'_>) -> Result<PublicKey, CryptoError> {
    let mut r = Reader::inside(spki);
    let alg = r.read(der::SEQUENCE, "SPKI algorithm expected").map_err(bad)?;
    let key = r.read(der::BIT_STRING, "SPKI key expected").map_err(bad)?;
    r.finish("trailing data in SPKI").map_err(bad)?;
    let (oid, params) = algorithm_identifier(&alg)?;
    let key_bytes = der::bit_string_bytes(key.value).map_err(bad)?;
    if oid.value == OID_RSA_ENCRYPTION {
        if !params_are_null_or_absent(params.as_ref()) {
            return Err(invalid("RSA key parameters must be NULL"));
        }
        PublicKey::from_pkcs1_der(key_bytes)
    } else if oid.value == OID_EC_PUBLIC_KEY {
        match params {
            Some(p) if p.tag == der::OID && p.value == OID_P256 => PublicKey::from_p256_point(key_bytes),
            _ => Err(CryptoError::Unsupported("EC curve other than P-256".into())),
        }
    } else {
        Err(CryptoError::Unsupported("public key algorithm".into()))
    }
}

/// Parsed extension data this crate uses.
struct Extensions {
    subject_key_id: Option<Range<usize>>,
    is_ca: bool,
}

fn parse_extensions(outer: &Tlv<'_>) -> Result<Extensions, CryptoError> {
    let mut r = Reader::inside(outer);
    let list = r.read(der::SEQUENCE, "Extensions must be a SEQUENCE").map_err(bad)?;
    r.finish("trailing data after Extensions").map_err(bad)?;
    let mut out = Extensions { subject_key_id: None, is_ca: false };
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut exts = Reader::inside(&list);
    if exts.is_empty() {
        return Err(invalid("empty Extensions"));
    }
    while !exts.is_empty() {
        let ext = exts.read(der::SEQUENCE, "Extension must be a SEQUENCE").map_err(bad)?;
        let mut e = Reader::inside(&ext);
        let oid = e.read(der::OID, "extension OID expected").map_err(bad)?;
        if let Some(critical) = e.read_optional(der::BOOLEAN).map_err(bad)? {
            // DER omits DEFAULT values, so an explicit FALSE is invalid.
            if critical.value != [0xff] {
                return Err(invalid("explicit default criticality"));
            }
        }
        let value = e.read(der::OCTET_STRING, "extension value expected").map_err(bad)?;
        e.finish("trailing data in Extension").map_err(bad)?;
        if seen.len() >= MAX_EXTENSIONS {
            return Err(invalid("too many extensions"));
        }
        if seen.contains(&oid.value) {
            return Err(invalid("duplicate extension"));
        }
        seen.push(oid.value);
        if oid.value == OID_SUBJECT_KEY_ID {
            let inner = der::parse_single(value.value).map_err(bad)?;
            if inner.tag != der::OCTET_STRING {
                return Err(invalid("SubjectKeyIdentifier must be an OCTET STRING"));
            }
            // `inner` offsets are relative to the extension value.
            let start = value.value_start + inner.value_start;
            out.subject_key_id = Some(start..start + inner.value.len());
        } else if oid.value == OID_BASIC_CONSTRAINTS {
            let bc = der::parse_single(value.value).map_err(bad)?;
            if bc.tag != der::SEQUENCE {
                return Err(invalid("BasicConstraints must be a SEQUENCE"));
            }
            let mut b = Reader::inside(&bc);
            if let Some(ca) = b.read_optional(der::BOOLEAN).map_err(bad)? {
                if ca.value != [0xff] {
                    return Err(invalid("explicit default cA flag"));
                }
                out.is_ca = true;
            }
            if let Some(len) = b.read_optional(der::INTEGER).map_err(bad)? {
                der::small_integer(len.value).map_err(bad)?;
            }
            b.finish("trailing data in BasicConstraints").map_err(bad)?;
        }
    }
    Ok(out)
}

impl Certificate {
    /// Parses a DER certificate (at most 64 KiB).
    pub fn from_der(input: &[u8]) -> Result<Self, CryptoError> {
        if input.len() > MAX_CERT_LEN {
            return Err(invalid("certificate too large"));
        }
        let cert = der::parse_single(input).map_err(bad)?;
        if cert.tag != der::SEQUENCE {
            return Err(invalid("certificate must be a SEQUENCE"));
        }
        let mut c = Reader::inside(&cert);
        let tbs = c.read(der::SEQUENCE, "TBSCertificate expected").map_err(bad)?;
        let outer_alg = c.read(der::SEQUENCE, "signatureAlgorithm expected").map_err(bad)?;
        let sig = c.read(der::BIT_STRING, "signatureValue expected").map_err(bad)?;
        c.finish("trailing data in certificate").map_err(bad)?;

        let mut t = Reader::inside(&tbs);
        let version = match t.read_optional(0xa0).map_err(bad)? {
            Some(v) => {
                let mut vr = Reader::inside(&v);
                let n = vr.read(der::INTEGER, "version INTEGER expected").map_err(bad)?;
                vr.finish("trailing data in version").map_err(bad)?;
                match der::small_integer(n.value).map_err(bad)? {
                    // v1 is the DEFAULT and must be omitted in DER.
                    1 => 2,
                    2 => 3,
                    _ => return Err(invalid("unsupported certificate version")),
                }
            }
            None => 1,
        };
        let serial = t.read(der::INTEGER, "serialNumber expected").map_err(bad)?;
        if serial.value.len() > 21 {
            return Err(invalid("serial number too long"));
        }
        let inner_alg = t.read(der::SEQUENCE, "signature algorithm expected").map_err(bad)?;
        let issuer = t.read(der::SEQUENCE, "issuer expected").map_err(bad)?;
        let validity = t.read(der::SEQUENCE, "validity expected").map_err(bad)?;
        let subject = t.read(der::SEQUENCE, "subject expected").map_err(bad)?;
        let spki = t.read(der::SEQUENCE, "subjectPublicKeyInfo expected").map_err(bad)?;
        let issuer_uid = t.read_optional(0x81).map_err(bad)?;
        let subject_uid = t.read_optional(0x82).map_err(bad)?;
        let extensions = t.read_optional(0xa3).map_err(bad)?;
        t.finish("trailing data in TBSCertificate").map_err(bad)?;
        if (issuer_uid.is_some() || subject_uid.is_some()) && version < 2 {
            return Err(invalid("unique identifiers require v2 or later"));
        }
        if extensions.is_some() && version < 3 {
            return Err(invalid("extensions require v3"));
        }

        // RFC 5280 §4.1.1.2: both algorithm identifiers must be identical.
        if inner_alg.value != outer_alg.value {
            return Err(invalid("signature algorithm mismatch"));
        }
        let (sig_oid, sig_params) = algorithm_identifier(&outer_alg)?;
        let sig_scheme = signature_scheme(sig_oid.value, sig_params.as_ref())?;
        if sig.value.first() != Some(&0) {
            return Err(invalid("signature BIT STRING with unused bits"));
        }

        let mut v = Reader::inside(&validity);
        let not_before = parse_time(&v.read_any().map_err(bad)?)?;
        let not_after = parse_time(&v.read_any().map_err(bad)?)?;
        v.finish("trailing data in validity").map_err(bad)?;

        // Parse the issuer name for well-formedness only.
        common_name(&issuer)?;
        let subject_cn = common_name(&subject)?;
        let public_key = subject_public_key(&spki)?;
        let ext = match &extensions {
            Some(e) => parse_extensions(e)?,
            None => Extensions { subject_key_id: None, is_ca: false },
        };

        Ok(Certificate {
            der: input.to_vec(),
            not_before,
            not_after,
            public_key,
            subject_cn,
            tbs: tbs.full_range(),
            sig_alg_oid: sig_oid.value_range(),
            sig_scheme,
            signature: sig.value_start + 1..sig.end,
            serial: serial.value_range(),
            issuer: issuer.full_range(),
            subject: subject.full_range(),
            subject_key_id: ext.subject_key_id,
            is_ca: ext.is_ca,
        })
    }

    /// Parses the first `CERTIFICATE` block of a PEM string.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let start = pem.find(BEGIN).ok_or_else(|| invalid("no CERTIFICATE block in PEM"))? + BEGIN.len();
        let rest = pem.get(start..).unwrap_or_default();
        let body =
            rest.find(END).and_then(|end| rest.get(..end)).ok_or_else(|| invalid("unterminated CERTIFICATE block"))?;
        // Enough for 64 KiB of DER plus line breaks; checked before decoding.
        if body.len() > MAX_CERT_LEN * 3 / 2 {
            return Err(invalid("certificate too large"));
        }
        let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der_bytes = b64::std_decode(&compact).map_err(|_| invalid("invalid base64 in PEM"))?;
        Self::from_der(&der_bytes)
    }

    /// PEM encoding (`CERTIFICATE` block, 64-column lines).
    pub fn to_pem(&self) -> String {
        let b64 = b64::std_encode(&self.der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.extend(line.iter().map(|&b| char::from(b)));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    fn slice(&self, r: &Range<usize>) -> &[u8] {
        self.der.get(r.clone()).unwrap_or_default()
    }

    /// SHA-1 of the DER (`x5t`, Entra's certificate thumbprint).
    pub fn sha1_thumbprint(&self) -> [u8; 20] {
        sha1(&self.der)
    }

    /// SHA-256 of the DER (`x5t#S256`).
    pub fn sha256_thumbprint(&self) -> [u8; 32] {
        sha256(&self.der)
    }

    /// The signed TBSCertificate bytes, the signature algorithm OID (DER
    /// value bytes) and the signature bytes.
    pub fn tbs_and_signature(&self) -> (&[u8], &[u8], &[u8]) {
        (self.slice(&self.tbs), self.slice(&self.sig_alg_oid), self.slice(&self.signature))
    }

    /// DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        self.slice(&self.issuer)
    }

    /// DER of the subject Name.
    pub fn subject_der(&self) -> &[u8] {
        self.slice(&self.subject)
    }

    /// Serial number (INTEGER value bytes as encoded).
    pub fn serial(&self) -> &[u8] {
        self.slice(&self.serial)
    }

    /// SubjectKeyIdentifier extension value, if present.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_ref().map(|r| self.slice(r))
    }

    /// True if BasicConstraints has `cA: TRUE`.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// True if `now` is within `[not_before, not_after]`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Checks that `issuer`'s subject is this certificate's issuer and that
    /// `issuer`'s key signed it. Supports ECDSA (P-256) with SHA-256/384 and
    /// RSA PKCS#1 v1.5 with SHA-256/384/512. Validity periods and CA flags
    /// are not checked here.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CryptoError> {
        if self.issuer_der() != issuer.subject_der() {
            return Err(invalid("issuer name does not match"));
        }
        let scheme =
            self.sig_scheme.ok_or_else(|| CryptoError::Unsupported("certificate signature algorithm".into()))?;
        let (tbs, _, signature) = self.tbs_and_signature();
        issuer.public_key.verify_scheme(scheme, tbs, signature)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::jws::decode_unverified;
    use crate::test_support::{NOT_AFTER, NOT_BEFORE, XorShift, es256, rs256};
    use crate::tls::generate_dev_ca;
    use time::macros::datetime;

    fn all_fixture_ders() -> Vec<Vec<u8>> {
        let ca = generate_dev_ca("Fixture CA", NOT_BEFORE, NOT_AFTER).unwrap();
        vec![
            rs256().0.cert_der().to_vec(),
            es256().0.cert_der().to_vec(),
            Certificate::from_pem(&ca.cert_pem).unwrap().der,
        ]
    }

    #[test]
    fn parses_signing_certificates() {
        for ((key, _), cn) in [(rs256(), "ostiary-test-rsa"), (es256(), "ostiary-test-ec")] {
            let cert = Certificate::from_der(key.cert_der()).unwrap();
            assert_eq!(cert.subject_cn.as_deref(), Some(cn));
            assert_eq!(cert.not_before, NOT_BEFORE);
            // 2051: encoded as GeneralizedTime; 2025 as UTCTime.
            assert_eq!(cert.not_after, NOT_AFTER);
            assert_eq!(cert.sha1_thumbprint(), sha1(key.cert_der()));
            assert_eq!(cert.sha256_thumbprint(), sha256(key.cert_der()));
            assert_eq!(cert.public_key, key.public_key());
            assert!(!cert.is_ca());
            // Self-signed: issuer equals subject and the signature verifies.
            assert_eq!(cert.issuer_der(), cert.subject_der());
            cert.verify_signed_by(&cert).unwrap();
            assert!(cert.is_valid_at(datetime!(2030-01-01 0:00 UTC)));
            assert!(!cert.is_valid_at(datetime!(2025-03-04 05:06:06 UTC)));
            assert!(!cert.is_valid_at(datetime!(2051-06-30 23:59:59 UTC)));
            // A token signed by the key verifies with the certificate's key.
            let token = key.sign_jwt(br#"{"sub":"x"}"#).unwrap();
            decode_unverified(&token).unwrap().verify_with(&cert.public_key).unwrap();
            // PEM round trip.
            let again = Certificate::from_pem(&cert.to_pem()).unwrap();
            assert_eq!(again, cert);
        }
    }

    #[test]
    fn parses_dev_ca() {
        let nb = datetime!(2024-12-31 23:59:59 UTC);
        let na = datetime!(2049-12-31 23:59:59 UTC);
        let ca = generate_dev_ca("Ostiary Dev CA", nb, na).unwrap();
        let cert = Certificate::from_pem(&ca.cert_pem).unwrap();
        assert_eq!(cert.subject_cn.as_deref(), Some("Ostiary Dev CA"));
        assert_eq!((cert.not_before, cert.not_after), (nb, na));
        assert!(cert.is_ca());
        assert_eq!(cert.subject_key_id().map(<[u8]>::len), Some(20));
        assert!(matches!(cert.public_key, PublicKey::EcP256 { .. }));
        cert.verify_signed_by(&cert).unwrap();
        let (tbs, oid, signature) = cert.tbs_and_signature();
        assert_eq!(oid, OID_ECDSA_SHA256);
        assert_eq!(tbs.first(), Some(&0x30));
        assert!(cert.der.windows(tbs.len()).any(|w| w == tbs));
        assert_eq!(signature.first(), Some(&0x30), "DER ECDSA signature");
        assert_eq!(cert.sha1_thumbprint(), sha1(&cert.der));
        // A different CA with the same name does not verify it.
        let other = generate_dev_ca("Ostiary Dev CA", nb, na).unwrap();
        let other = Certificate::from_pem(&other.cert_pem).unwrap();
        assert_eq!(cert.verify_signed_by(&other), Err(CryptoError::BadSignature));
        // Names differ: rejected before any signature check.
        let rsa = Certificate::from_der(rs256().0.cert_der()).unwrap();
        assert!(cert.verify_signed_by(&rsa).is_err());
        assert!(rsa.verify_signed_by(&cert).is_err());
    }

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn time_encodings() {
        let utc = |s: &str| parse_time(&der::parse_single(&tlv(der::UTC_TIME, s.as_bytes())).unwrap());
        let gt = |s: &str| parse_time(&der::parse_single(&tlv(der::GENERALIZED_TIME, s.as_bytes())).unwrap());
        assert_eq!(utc("491231235959Z").unwrap(), datetime!(2049-12-31 23:59:59 UTC));
        assert_eq!(utc("500101000000Z").unwrap(), datetime!(1950-01-01 0:00 UTC));
        assert_eq!(gt("20500101000000Z").unwrap(), datetime!(2050-01-01 0:00 UTC));
        assert_eq!(gt("99991231235959Z").unwrap(), datetime!(9999-12-31 23:59:59 UTC));
        for bad in [
            "4912312359Z",
            "491231235959",
            "491231235959+0100",
            "491331235959Z",
            "490230000000Z",
            "4912312359590Z",
            "49123123595aZ",
            "491231246000Z",
        ] {
            assert!(utc(bad).is_err(), "{bad}");
        }
        for bad in ["20500101000000.5Z", "2050010100000Z", "205001010000000", "20501301000000Z"] {
            assert!(gt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn truncated_der_never_parses() {
        for der in all_fixture_ders() {
            for len in 0..der.len() {
                assert!(Certificate::from_der(&der[..len]).is_err(), "len {len}");
            }
            let mut longer = der.clone();
            longer.push(0);
            assert!(Certificate::from_der(&longer).is_err());
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for i in 0..3000 {
            let len = (rng.next() % 600) as usize;
            let mut input = rng.bytes(len);
            // Half the inputs start like a certificate to get past the first check.
            if i % 2 == 0 && input.len() > 4 {
                input[0] = 0x30;
                input[1] = 0x82;
                input[2] = ((len - 4) >> 8) as u8;
                input[3] = (len - 4) as u8;
            }
            assert!(Certificate::from_der(&input).is_err());
        }
        // Single-byte mutations of real certificates: may parse (e.g. a flip
        // inside the signature), but must never panic.
        let mut parsed = 0usize;
        for der in all_fixture_ders() {
            for _ in 0..2000 {
                let mut m = der.clone();
                let pos = (rng.next() as usize) % m.len();
                m[pos] ^= 1 << (rng.next() % 8);
                if Certificate::from_der(&m).is_ok() {
                    parsed += 1;
                }
            }
        }
        assert!(parsed < 6000);
    }

    #[test]
    fn length_bombs_and_limits() {
        let bombs: Vec<Vec<u8>> = vec![
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00],
            vec![0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00],
            vec![0x30, 0x83, 0x01, 0x00, 0x00, 0x30, 0x00],
            vec![0x30, 0x02, 0x30, 0x84, 0x7f, 0xff, 0xff, 0xff],
            vec![0x30],
            vec![],
        ];
        for b in &bombs {
            assert!(Certificate::from_der(b).is_err(), "{b:02x?}");
        }
        // Deep nesting with consistent lengths.
        let mut deep = vec![0x05, 0x00];
        for _ in 0..5000 {
            deep = tlv(0x30, &deep);
            if deep.len() > 60_000 {
                break;
            }
        }
        assert!(Certificate::from_der(&deep).is_err());
        // Over the size limit, even if otherwise well-formed.
        let big = tlv(0x30, &tlv(0x04, &vec![0u8; 70 * 1024]));
        assert!(matches!(Certificate::from_der(&big), Err(CryptoError::InvalidCertificate(_))));
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", b64::std_encode(&big));
        assert!(Certificate::from_pem(&pem).is_err());
    }

    #[test]
    fn pem_handling() {
        let der = rs256().0.cert_der().to_vec();
        let body = b64::std_encode(&der);
        let crlf: String =
            body.as_bytes().chunks(64).map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap())).collect();
        let bundle = format!(
            "junk\n-----BEGIN CERTIFICATE-----\r\n{crlf}-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(Certificate::from_pem(&bundle).unwrap().der, der);
        for bad in [
            String::new(),
            "-----BEGIN CERTIFICATE-----\nAAAA".into(),
            format!("-----BEGIN CERTIFICATE-----\n{}!\n-----END CERTIFICATE-----", body),
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"),
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----".into(),
        ] {
            assert!(Certificate::from_pem(&bad).is_err());
        }
    }
}
