//! Development CA and TLS server certificates (ECDSA P-256, via rcgen), so
//! a fresh install can serve HTTPS without external tooling.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::CryptoError;
use crate::jws::cert_time;
use crate::secret::Secret;
use crate::x509::Certificate;

/// A development certificate authority: certificate and PKCS#8 key in PEM.
#[derive(Clone, Debug)]
pub struct DevCa {
    /// CA certificate (PEM).
    pub cert_pem: String,
    /// CA private key (PKCS#8 PEM).
    pub key_pem: Secret<String>,
}

fn rc(e: rcgen::Error) -> CryptoError {
    CryptoError::Internal(format!("certificate generation: {e}"))
}

fn cn_only(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

const CA_KEY_USAGES: [KeyUsagePurpose; 2] = [KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

/// Creates a self-signed CA (CA:TRUE, pathlen 0, keyCertSign + cRLSign).
pub fn generate_dev_ca(
    common_name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<DevCa, CryptoError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rc)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = cn_only(common_name);
    params.not_before = cert_time(not_before);
    params.not_after = cert_time(not_after);
    // Path length 0: this CA only ever issues leaf certificates.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = CA_KEY_USAGES.to_vec();
    let cert = params.self_signed(&key).map_err(rc)?;
    Ok(DevCa { cert_pem: cert.pem(), key_pem: Secret::new(key.serialize_pem()) })
}

/// Issues a server certificate (EKU serverAuth, the given SANs) signed by
/// `ca`, with a fresh P-256 key. Returns the certificate PEM and the PKCS#8
/// key PEM.
///
/// The issuer is rebuilt from the CA's parsed certificate (subject CN and
/// SubjectKeyIdentifier) because rcgen cannot parse certificates without
/// its x509-parser feature; the result is checked to chain to the CA.
pub fn issue_server_cert(
    ca: &DevCa,
    dns_names: &[String],
    ips: &[IpAddr],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(String, Secret<String>), CryptoError> {
    if dns_names.is_empty() && ips.is_empty() {
        return Err(CryptoError::InvalidInput("a server certificate needs at least one DNS name or IP address".into()));
    }
    let ca_cert = Certificate::from_pem(&ca.cert_pem)?;
    let ca_cn =
        ca_cert.subject_cn.clone().ok_or_else(|| CryptoError::InvalidCertificate("CA certificate has no CN".into()))?;
    let ca_key = KeyPair::from_pem(ca.key_pem.expose()).map_err(|e| CryptoError::InvalidKey(format!("CA key: {e}")))?;

    let mut issuer_params = CertificateParams::default();
    issuer_params.distinguished_name = cn_only(&ca_cn);
    issuer_params.key_usages = CA_KEY_USAGES.to_vec();
    if let Some(ski) = ca_cert.subject_key_id() {
        issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(ski.to_vec());
    }
    let issuer = Issuer::new(issuer_params, ca_key);

    let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
    for name in dns_names {
        let ia5 =
            name.as_str().try_into().map_err(|_| CryptoError::InvalidInput(format!("invalid DNS name {name:?}")))?;
        sans.push(SanType::DnsName(ia5));
    }
    sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));

    let mut params = CertificateParams::default();
    let cn = dns_names.first().cloned().or_else(|| ips.first().map(ToString::to_string)).unwrap_or_default();
    params.distinguished_name = cn_only(&cn);
    params.subject_alt_names = sans;
    params.not_before = cert_time(not_before);
    params.not_after = cert_time(not_after);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rc)?;
    let cert = params.signed_by(&key, &issuer).map_err(rc)?;

    // The issuer DN was reconstructed from the CN alone; a CA with a richer
    // subject (or a key that does not match its certificate) would produce
    // a certificate that does not chain, so refuse to return it.
    Certificate::from_der(cert.der())?
        .verify_signed_by(&ca_cert)
        .map_err(|e| CryptoError::InvalidInput(format!("issued certificate does not chain to the CA: {e}")))?;

    Ok((cert.pem(), Secret::new(key.serialize_pem())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::jws::PublicKey;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use time::macros::datetime;

    const NB: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);
    const NA: OffsetDateTime = datetime!(2035-01-01 0:00 UTC);

    /// DER of the serverAuth EKU OID (1.3.6.1.5.5.7.3.1).
    const SERVER_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn server_cert_chains_to_ca() {
        let ca = generate_dev_ca("Ostiary Dev CA", NB, NA).unwrap();
        assert!(ca.key_pem.expose().contains("BEGIN PRIVATE KEY"));
        assert_eq!(format!("{:?}", ca.key_pem), "Secret(***)");
        let dns = vec!["localhost".to_string(), "ostiary.test".to_string()];
        let ips = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        let snb = datetime!(2025-02-01 12:00 UTC);
        let sna = datetime!(2026-02-01 12:00 UTC);
        let (cert_pem, key_pem) = issue_server_cert(&ca, &dns, &ips, snb, sna).unwrap();

        let ca_cert = Certificate::from_pem(&ca.cert_pem).unwrap();
        let server = Certificate::from_pem(&cert_pem).unwrap();
        assert!(ca_cert.is_ca());
        assert!(!server.is_ca());
        assert_eq!(server.subject_cn.as_deref(), Some("localhost"));
        assert_eq!((server.not_before, server.not_after), (snb, sna));
        assert_eq!(server.issuer_der(), ca_cert.subject_der());
        server.verify_signed_by(&ca_cert).unwrap();
        assert!(contains(&server.der, SERVER_AUTH));
        assert!(contains(&server.der, b"ostiary.test"));
        assert!(contains(&server.der, &[0x87, 0x04, 127, 0, 0, 1]));
        // AuthorityKeyIdentifier carries the CA's SubjectKeyIdentifier.
        assert!(contains(&server.der, ca_cert.subject_key_id().unwrap()));

        // The returned key is the certificate's key.
        let key = KeyPair::from_pem(key_pem.expose()).unwrap();
        assert!(key_pem.expose().contains("BEGIN PRIVATE KEY"));
        let PublicKey::EcP256 { x, y } = &server.public_key else { unreachable!("server key must be P-256") };
        let raw = key.public_key_raw();
        assert_eq!(&raw[1..33], x);
        assert_eq!(&raw[33..], y);

        // Not signed by an unrelated CA.
        let other = generate_dev_ca("Ostiary Dev CA", NB, NA).unwrap();
        let other = Certificate::from_pem(&other.cert_pem).unwrap();
        assert!(server.verify_signed_by(&other).is_err());
    }

    #[test]
    fn ip_only_and_invalid_arguments() {
        let ca = generate_dev_ca("CA", NB, NA).unwrap();
        let ips = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))];
        let (pem, _) = issue_server_cert(&ca, &[], &ips, NB, NA).unwrap();
        let cert = Certificate::from_pem(&pem).unwrap();
        assert_eq!(cert.subject_cn.as_deref(), Some("10.0.0.7"));

        assert!(matches!(issue_server_cert(&ca, &[], &[], NB, NA), Err(CryptoError::InvalidInput(_))));
        assert!(issue_server_cert(&ca, &["bad\u{e9}name".to_string()], &[], NB, NA).is_err());
        let broken = DevCa { cert_pem: ca.cert_pem.clone(), key_pem: Secret::new("not a key".to_string()) };
        assert!(issue_server_cert(&broken, &["a.test".to_string()], &[], NB, NA).is_err());
        // A CA key that does not belong to the CA certificate is detected.
        let other = generate_dev_ca("CA", NB, NA).unwrap();
        let mismatched = DevCa { cert_pem: ca.cert_pem.clone(), key_pem: other.key_pem.clone() };
        assert!(issue_server_cert(&mismatched, &["a.test".to_string()], &[], NB, NA).is_err());
    }
}
