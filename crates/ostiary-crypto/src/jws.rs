//! JWS/JWT signing and verification (RS256, PS256, ES256) on aws-lc-rs,
//! shaped like Entra ID tokens and JWKS (`kid` = `x5t`, `x5c` published).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rand::SystemRandom as LcRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::CryptoError;
use crate::b64::{self, URL_STRICT};
use crate::der::{self, Reader};
use crate::digest::sha1;
use crate::secret::Secret;
use crate::x509::Certificate;

/// Maximum accepted length of a compact JWS, bounding parse work on
/// attacker-supplied tokens.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
const P256_COORD_LEN: usize = 32;

/// Supported JWS algorithms. `none` and HMAC are deliberately absent.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 (MGF1-SHA-256, 32-byte salt).
    PS256,
    /// ECDSA P-256 with SHA-256, signature as raw `r || s`.
    ES256,
}

impl Alg {
    /// The JOSE name, e.g. `"RS256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "PS256" => Ok(Alg::PS256),
            "ES256" => Ok(Alg::ES256),
            other => Err(CryptoError::Unsupported(format!("JWS algorithm {:?}", truncate_for_message(other)))),
        }
    }
}

/// Keeps attacker-controlled strings in error messages short.
fn truncate_for_message(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => s.get(..i).unwrap_or_default(),
        None => s,
    }
}

/// Signature schemes used internally: JWS algorithms plus the DER-encoded
/// ECDSA and RSA variants that X.509 certificates are signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    EcdsaP256Sha256Fixed,
    EcdsaP256Sha256Asn1,
    EcdsaP256Sha384Asn1,
}

/// A public key able to verify signatures, from a certificate or a JWK.
///
/// RSA components are big-endian without leading zero bytes; EC coordinates
/// are the fixed 32-byte big-endian values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA public key.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// NIST P-256 public key (affine coordinates).
    EcP256 {
        /// X coordinate.
        x: [u8; 32],
        /// Y coordinate.
        y: [u8; 32],
    },
}

fn strip_leading_zeros(v: &[u8]) -> &[u8] {
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v.get(first..).unwrap_or_default()
}

fn bit_len(n: &[u8]) -> usize {
    match n.first() {
        Some(&b) => (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        None => 0,
    }
}

impl PublicKey {
    /// Builds an RSA key from raw components, normalising leading zeros and
    /// checking sizes (modulus at most 8192 bits, exponent at most 64 bits).
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<Self, CryptoError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.is_empty() || e.is_empty() {
            return Err(CryptoError::InvalidKey("empty RSA component".into()));
        }
        if bit_len(n) > MAX_RSA_BITS || e.len() > 8 {
            return Err(CryptoError::Unsupported("RSA key too large".into()));
        }
        Ok(PublicKey::Rsa { n: n.to_vec(), e: e.to_vec() })
    }

    /// Parses a PKCS#1 `RSAPublicKey` (as produced by aws-lc for key pairs).
    pub(crate) fn from_pkcs1_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        let invalid = |e: der::DerError| CryptoError::InvalidKey(format!("RSA public key: {}", e.0));
        let seq = der::parse_single(der_bytes).map_err(invalid)?;
        if seq.tag != der::SEQUENCE {
            return Err(CryptoError::InvalidKey("RSA public key: not a SEQUENCE".into()));
        }
        let mut r = Reader::inside(&seq);
        let n = r.read(der::INTEGER, "modulus").map_err(invalid)?;
        let e = r.read(der::INTEGER, "exponent").map_err(invalid)?;
        r.finish("trailing data").map_err(invalid)?;
        let n = der::unsigned_integer(n.value).map_err(invalid)?;
        let e = der::unsigned_integer(e.value).map_err(invalid)?;
        Self::rsa(n, e)
    }

    /// Builds a P-256 key from an uncompressed SEC1 point (`04 || x || y`).
    pub(crate) fn from_p256_point(point: &[u8]) -> Result<Self, CryptoError> {
        match point {
            [0x04, rest @ ..] if rest.len() == 2 * P256_COORD_LEN => {
                let (x, y) = rest.split_at(P256_COORD_LEN);
                Ok(PublicKey::EcP256 {
                    x: x.try_into().map_err(|_| CryptoError::InvalidKey("EC point".into()))?,
                    y: y.try_into().map_err(|_| CryptoError::InvalidKey("EC point".into()))?,
                })
            }
            [0x02 | 0x03, ..] => Err(CryptoError::Unsupported("compressed EC points".into())),
            _ => Err(CryptoError::InvalidKey("invalid P-256 point".into())),
        }
    }

    fn p256_point(x: &[u8; 32], y: &[u8; 32]) -> [u8; 65] {
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        point
    }

    /// Parses a public JWK (`kty` `RSA` or `EC` with `crv` `P-256`).
    ///
    /// RSA moduli must be 2048–8192 bits. Keys marked `"use": "enc"` are
    /// refused: a key published for encryption must not verify signatures.
    pub fn from_jwk(jwk: &Value) -> Result<Self, CryptoError> {
        let obj = jwk.as_object().ok_or_else(|| CryptoError::InvalidKey("JWK is not a JSON object".into()))?;
        let field = |name: &str| -> Result<Vec<u8>, CryptoError> {
            let s = obj
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::InvalidKey(format!("JWK is missing \"{name}\"")))?;
            b64::url_decode(s).map_err(|_| CryptoError::InvalidKey(format!("JWK \"{name}\" is not base64url")))
        };
        if let Some(u) = obj.get("use")
            && u.as_str() != Some("sig")
        {
            return Err(CryptoError::InvalidKey("JWK is not a signing key".into()));
        }
        match obj.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let key = Self::rsa(&field("n")?, &field("e")?)?;
                if let PublicKey::Rsa { n, .. } = &key
                    && bit_len(n) < MIN_RSA_BITS
                {
                    return Err(CryptoError::InvalidKey("RSA key smaller than 2048 bits".into()));
                }
                Ok(key)
            }
            Some("EC") => {
                if obj.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err(CryptoError::Unsupported("EC curve other than P-256".into()));
                }
                let x: [u8; 32] =
                    field("x")?.try_into().map_err(|_| CryptoError::InvalidKey("JWK \"x\" must be 32 bytes".into()))?;
                let y: [u8; 32] =
                    field("y")?.try_into().map_err(|_| CryptoError::InvalidKey("JWK \"y\" must be 32 bytes".into()))?;
                Ok(PublicKey::EcP256 { x, y })
            }
            Some(other) => Err(CryptoError::Unsupported(format!("JWK kty {:?}", truncate_for_message(other)))),
            None => Err(CryptoError::InvalidKey("JWK is missing \"kty\"".into())),
        }
    }

    /// Verifies a JWS signature over `signing_input`.
    ///
    /// The algorithm must fit the key type (RS256/PS256 need RSA of at least
    /// 2048 bits, ES256 needs P-256 with a 64-byte `r || s` signature).
    pub fn verify(&self, alg: Alg, signing_input: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        let scheme = match alg {
            Alg::RS256 => Scheme::RsaPkcs1Sha256,
            Alg::PS256 => Scheme::RsaPssSha256,
            Alg::ES256 => Scheme::EcdsaP256Sha256Fixed,
        };
        self.verify_scheme(scheme, signing_input, signature)
    }

    pub(crate) fn verify_scheme(&self, scheme: Scheme, msg: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        match (self, scheme) {
            (
                PublicKey::Rsa { n, e },
                Scheme::RsaPkcs1Sha256 | Scheme::RsaPkcs1Sha384 | Scheme::RsaPkcs1Sha512 | Scheme::RsaPssSha256,
            ) => {
                if bit_len(n) < MIN_RSA_BITS {
                    return Err(CryptoError::InvalidKey("RSA key smaller than 2048 bits".into()));
                }
                let params = match scheme {
                    Scheme::RsaPkcs1Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Scheme::RsaPkcs1Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Scheme::RsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
                    _ => &sig::RSA_PKCS1_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n, e }.verify(params, msg, signature).map_err(|_| CryptoError::BadSignature)
            }
            (
                PublicKey::EcP256 { x, y },
                Scheme::EcdsaP256Sha256Fixed | Scheme::EcdsaP256Sha256Asn1 | Scheme::EcdsaP256Sha384Asn1,
            ) => {
                let alg: &'static dyn sig::VerificationAlgorithm = match scheme {
                    Scheme::EcdsaP256Sha256Asn1 => &sig::ECDSA_P256_SHA256_ASN1,
                    Scheme::EcdsaP256Sha384Asn1 => &sig::ECDSA_P256_SHA384_ASN1,
                    _ => {
                        // JOSE ECDSA signatures are exactly r || s.
                        if signature.len() != 2 * P256_COORD_LEN {
                            return Err(CryptoError::BadSignature);
                        }
                        &sig::ECDSA_P256_SHA256_FIXED
                    }
                };
                UnparsedPublicKey::new(alg, Self::p256_point(x, y))
                    .verify(msg, signature)
                    .map_err(|_| CryptoError::BadSignature)
            }
            _ => Err(CryptoError::InvalidKey("algorithm does not match the key type".into())),
        }
    }
}

enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A parsed private signing key with its certificate and a pre-encoded JWS
/// header, so signing a token costs one signature and two base64 passes.
pub struct SigningKey {
    alg: Alg,
    pair: KeyPairKind,
    kid: String,
    cert_der: Vec<u8>,
    public_key: PublicKey,
    /// base64url of the protected header, followed by `.`.
    header_prefix: String,
    /// aws-lc ignores this for RSA/ECDSA (it draws its own randomness), but
    /// the API requires one.
    rng: LcRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Strips sub-second precision and normalises to UTC: certificates carry
/// whole seconds, and this keeps requested and encoded times identical.
pub(crate) fn cert_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

impl SigningKey {
    /// Generates a key pair (RSA-2048 for RS256/PS256, P-256 for ES256) and a
    /// self-signed certificate for it, so the JWKS can publish `x5c`.
    ///
    /// Returns the key and its PKCS#8 DER for persistence (encrypt it with a
    /// [`crate::kek::Kek`] before storing).
    pub fn generate(
        alg: Alg,
        subject_cn: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(SigningKey, Secret<Vec<u8>>), CryptoError> {
        let rc = |e: rcgen::Error| CryptoError::Internal(format!("certificate generation: {e}"));
        let key_pair = match alg {
            Alg::RS256 | Alg::PS256 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            Alg::ES256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        }
        .map_err(rc)?;
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, subject_cn);
        params.distinguished_name = dn;
        params.not_before = cert_time(not_before);
        params.not_after = cert_time(not_after);
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key_pair).map_err(rc)?;
        let pkcs8 = Secret::new(key_pair.serialize_der());
        let key = SigningKey::from_parts(alg, pkcs8.expose(), cert.der().to_vec())?;
        Ok((key, pkcs8))
    }

    /// Loads a key from PKCS#8 DER and its certificate. Fails if the
    /// certificate's public key is not the key pair's public key.
    pub fn from_parts(alg: Alg, pkcs8_der: &[u8], cert_der: Vec<u8>) -> Result<SigningKey, CryptoError> {
        let cert = Certificate::from_der(&cert_der)?;
        let (pair, public_key) = match alg {
            Alg::RS256 | Alg::PS256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8_der)
                    .map_err(|e| CryptoError::InvalidKey(format!("RSA private key: {e}")))?;
                let pk = PublicKey::from_pkcs1_der(kp.public_key().as_ref())?;
                if kp.public_modulus_len() * 8 < MIN_RSA_BITS {
                    return Err(CryptoError::InvalidKey("RSA key smaller than 2048 bits".into()));
                }
                (KeyPairKind::Rsa(kp), pk)
            }
            Alg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
                    .map_err(|e| CryptoError::InvalidKey(format!("P-256 private key: {e}")))?;
                let pk = PublicKey::from_p256_point(kp.public_key().as_ref())?;
                (KeyPairKind::Ec(kp), pk)
            }
        };
        if cert.public_key != public_key {
            return Err(CryptoError::InvalidKey("certificate does not match the private key".into()));
        }
        let kid = b64::url_encode(&sha1(&cert_der));
        // Same member order as Entra's headers; serde_json::Value keeps keys
        // sorted, so the JSON is written by hand (all values are base64url
        // or fixed names and need no escaping, but are escaped anyway).
        let header = format!(
            "{{\"typ\":\"JWT\",\"alg\":{},\"x5t\":{},\"kid\":{}}}",
            Value::from(alg.as_str()),
            Value::from(kid.as_str()),
            Value::from(kid.as_str()),
        );
        let mut header_prefix = b64::url_encode(header.as_bytes());
        header_prefix.push('.');
        Ok(SigningKey { alg, pair, kid, cert_der, public_key, header_prefix, rng: LcRandom::new() })
    }

    /// Key id: base64url SHA-1 thumbprint of the certificate (= `x5t`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// DER of the (self-signed) certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    /// The JWKS entry for this key, in Entra's shape (including `x5c`).
    pub fn public_jwk(&self) -> Value {
        let x5c = vec![b64::std_encode(&self.cert_der)];
        match &self.public_key {
            PublicKey::Rsa { n, e } => json!({
                "kty": "RSA",
                "use": "sig",
                "kid": self.kid,
                "x5t": self.kid,
                "n": b64::url_encode(n),
                "e": b64::url_encode(e),
                "x5c": x5c,
                "alg": self.alg.as_str(),
            }),
            PublicKey::EcP256 { x, y } => json!({
                "kty": "EC",
                "use": "sig",
                "crv": "P-256",
                "kid": self.kid,
                "x5t": self.kid,
                "x": b64::url_encode(x),
                "y": b64::url_encode(y),
                "x5c": x5c,
                "alg": self.alg.as_str(),
            }),
        }
    }

    /// Signs `payload_json` (the serialized claims object) as a compact JWS
    /// with header `{"typ":"JWT","alg":..,"x5t":..,"kid":..}`.
    pub fn sign_jwt(&self, payload_json: &[u8]) -> Result<String, CryptoError> {
        self.sign_with_prefix(&self.header_prefix, payload_json)
    }

    /// Signs with a caller-supplied protected header (e.g. a client assertion carrying
    /// `x5t#S256`). The header's `alg` must be this key's algorithm.
    pub fn sign_jwt_with_header(&self, header_json: &[u8], payload_json: &[u8]) -> Result<String, CryptoError> {
        let header: Value =
            serde_json::from_slice(header_json).map_err(|_| CryptoError::InvalidInput("header is not JSON".into()))?;
        if header.get("alg").and_then(Value::as_str) != Some(self.alg.as_str()) {
            return Err(CryptoError::InvalidInput("header alg does not match the key".into()));
        }
        let mut prefix = b64::url_encode(header_json);
        prefix.push('.');
        self.sign_with_prefix(&prefix, payload_json)
    }

    /// Raw RSASSA-PKCS1-v1_5 with SHA-256 over `msg`, for XML-DSig and the SAML
    /// HTTP-Redirect binding (`rsa-sha256`), which sign bytes rather than a JWS.
    /// Fails with [`CryptoError::InvalidInput`] for a non-RSA key. The key's
    /// configured [`Alg`] does not matter: an RSA key loaded for PS256 still
    /// signs PKCS#1 v1.5 here.
    pub fn sign_rsa_sha256(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let KeyPairKind::Rsa(kp) = &self.pair else {
            return Err(CryptoError::InvalidInput("rsa-sha256 needs an RSA key".into()));
        };
        let mut signature = vec![0u8; kp.public_modulus_len()];
        kp.sign(&sig::RSA_PKCS1_SHA256, &self.rng, msg, &mut signature)
            .map_err(|_| CryptoError::Internal("signing failed".into()))?;
        Ok(signature)
    }

    fn sign_with_prefix(&self, header_prefix: &str, payload_json: &[u8]) -> Result<String, CryptoError> {
        let sig_len = match &self.pair {
            KeyPairKind::Rsa(kp) => kp.public_modulus_len(),
            KeyPairKind::Ec(_) => 2 * P256_COORD_LEN,
        };
        let mut out = String::with_capacity(header_prefix.len() + 1 + (payload_json.len() + sig_len) * 4 / 3 + 4);
        out.push_str(header_prefix);
        URL_STRICT.encode_string(payload_json, &mut out);
        let failed = |_| CryptoError::Internal("signing failed".into());
        match &self.pair {
            KeyPairKind::Rsa(kp) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Alg::PS256 => &sig::RSA_PSS_SHA256,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0u8; sig_len];
                kp.sign(padding, &self.rng, out.as_bytes(), &mut signature).map_err(failed)?;
                out.push('.');
                URL_STRICT.encode_string(&signature, &mut out);
            }
            KeyPairKind::Ec(kp) => {
                let signature = kp.sign(&self.rng, out.as_bytes()).map_err(failed)?;
                out.push('.');
                URL_STRICT.encode_string(signature.as_ref(), &mut out);
            }
        }
        Ok(out)
    }
}

/// A decoded but not yet verified compact JWS.
#[derive(Clone, Debug)]
pub struct Jwt<'a> {
    /// Protected header.
    pub header: Map<String, Value>,
    /// Payload claims.
    pub claims: Map<String, Value>,
    /// `base64url(header) . base64url(payload)`, the signed bytes.
    pub signing_input: &'a str,
    /// Raw signature bytes.
    pub signature: Vec<u8>,
}

fn decode_object(segment: &str, what: &str) -> Result<Map<String, Value>, CryptoError> {
    let bytes =
        b64::url_decode_strict(segment).map_err(|_| CryptoError::InvalidToken(format!("{what} is not base64url")))?;
    serde_json::from_slice::<Map<String, Value>>(&bytes)
        .map_err(|_| CryptoError::InvalidToken(format!("{what} is not a JSON object")))
}

/// Splits and decodes a compact JWS without checking its signature.
///
/// Rejects: more than [`MAX_TOKEN_LEN`] bytes, anything but 3 segments,
/// padded or invalid base64url, non-object header/payload, missing or
/// non-string `alg`, `alg: none`, a non-empty `crit`, and an empty signature.
pub fn decode_unverified(token: &str) -> Result<Jwt<'_>, CryptoError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CryptoError::InvalidToken("token too long".into()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(CryptoError::InvalidToken("expected 3 segments".into()));
    };
    let signing_input =
        token.get(..h.len() + 1 + p.len()).ok_or_else(|| CryptoError::InvalidToken("malformed".into()))?;
    let header = decode_object(h, "header")?;
    match header.get("alg") {
        Some(Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(CryptoError::InvalidToken("unsigned tokens are not accepted".into()));
        }
        Some(Value::String(_)) => {}
        _ => {
            return Err(CryptoError::InvalidToken("header \"alg\" must be a string".into()));
        }
    }
    match header.get("crit") {
        None => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(_) => {
            return Err(CryptoError::Unsupported("critical header extensions".into()));
        }
    }
    let claims = decode_object(p, "payload")?;
    let signature =
        b64::url_decode_strict(s).map_err(|_| CryptoError::InvalidToken("signature is not base64url".into()))?;
    if signature.is_empty() {
        return Err(CryptoError::InvalidToken("empty signature".into()));
    }
    Ok(Jwt { header, claims, signing_input, signature })
}

impl Jwt<'_> {
    /// The header's `alg`, if supported.
    pub fn alg(&self) -> Result<Alg, CryptoError> {
        self.header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::InvalidToken("header \"alg\" must be a string".into()))?
            .parse()
    }

    /// The header's `kid`, if present and a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The header's `x5t`, if present and a string.
    pub fn x5t(&self) -> Option<&str> {
        self.header.get("x5t").and_then(Value::as_str)
    }

    /// Verifies the signature with `key` using the header's `alg`.
    pub fn verify_with(&self, key: &PublicKey) -> Result<(), CryptoError> {
        key.verify(self.alg()?, self.signing_input.as_bytes(), &self.signature)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::{NOT_AFTER, NOT_BEFORE, es256, rs256};

    const PAYLOAD: &[u8] = br#"{"aud":"api://x","sub":"user-1","tid":"t1"}"#;

    fn segments(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn check_round_trip(key: &SigningKey, alg: Alg) {
        let token = key.sign_jwt(PAYLOAD).unwrap();
        let jwt = decode_unverified(&token).unwrap();
        assert_eq!(jwt.alg().unwrap(), alg);
        assert_eq!(jwt.header["typ"], "JWT");
        assert_eq!(jwt.kid(), Some(key.kid()));
        assert_eq!(jwt.x5t(), Some(key.kid()));
        assert_eq!(jwt.claims["sub"], "user-1");
        assert_eq!(jwt.signing_input, token.rsplit_once('.').unwrap().0);
        jwt.verify_with(&key.public_key()).unwrap();
        let from_jwk = PublicKey::from_jwk(&key.public_jwk()).unwrap();
        assert_eq!(from_jwk, key.public_key());
        jwt.verify_with(&from_jwk).unwrap();

        // Tampered payload: same header and signature, different claims.
        let s = segments(&token);
        let other = b64::url_encode(br#"{"aud":"api://x","sub":"admin","tid":"t1"}"#);
        let forged = format!("{}.{}.{}", s[0], other, s[2]);
        let jwt = decode_unverified(&forged).unwrap();
        assert_eq!(jwt.verify_with(&key.public_key()), Err(CryptoError::BadSignature));

        // Tampered signature: flip one bit.
        let mut sig = b64::url_decode(&s[2]).unwrap();
        sig[10] ^= 0x01;
        let forged = format!("{}.{}.{}", s[0], s[1], b64::url_encode(&sig));
        let jwt = decode_unverified(&forged).unwrap();
        assert_eq!(jwt.verify_with(&key.public_key()), Err(CryptoError::BadSignature));

        // Truncated signature.
        let forged = format!("{}.{}.{}", s[0], s[1], b64::url_encode(&sig[..sig.len() - 1]));
        let jwt = decode_unverified(&forged).unwrap();
        assert!(jwt.verify_with(&key.public_key()).is_err());
    }

    #[test]
    fn rs256_round_trip() {
        let (key, _) = rs256();
        assert_eq!(key.alg(), Alg::RS256);
        check_round_trip(key, Alg::RS256);
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["x5c"][0], b64::std_encode(key.cert_der()));
        assert_eq!(b64::url_decode(jwk["n"].as_str().unwrap()).unwrap().len(), 256);
    }

    #[test]
    fn es256_round_trip() {
        let (key, _) = es256();
        assert_eq!(key.alg(), Alg::ES256);
        check_round_trip(key, Alg::ES256);
        let token = key.sign_jwt(PAYLOAD).unwrap();
        assert_eq!(decode_unverified(&token).unwrap().signature.len(), 64);
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        // ECDSA is randomised: two signatures over the same input differ.
        assert_ne!(token, key.sign_jwt(PAYLOAD).unwrap());
    }

    #[test]
    fn header_is_entra_shaped() {
        let (key, _) = rs256();
        let token = key.sign_jwt(b"{}").unwrap();
        let header = b64::url_decode(&segments(&token)[0]).unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            format!(r#"{{"typ":"JWT","alg":"RS256","x5t":"{0}","kid":"{0}"}}"#, key.kid())
        );
    }

    #[test]
    fn alg_mismatch_fails() {
        let (rsa, _) = rs256();
        let (ec, _) = es256();
        let rs_token = rsa.sign_jwt(PAYLOAD).unwrap();
        let es_token = ec.sign_jwt(PAYLOAD).unwrap();
        let rs = decode_unverified(&rs_token).unwrap();
        let es = decode_unverified(&es_token).unwrap();
        assert!(matches!(rs.verify_with(&ec.public_key()), Err(CryptoError::InvalidKey(_))));
        assert!(matches!(es.verify_with(&rsa.public_key()), Err(CryptoError::InvalidKey(_))));
        // RS256 signature presented as PS256 with the right key.
        assert_eq!(
            rsa.public_key().verify(Alg::PS256, rs.signing_input.as_bytes(), &rs.signature),
            Err(CryptoError::BadSignature)
        );
        // Re-labelled header: the signature no longer covers the input.
        let s = segments(&rs_token);
        let header = br#"{"typ":"JWT","alg":"PS256"}"#;
        let relabelled = format!("{}.{}.{}", b64::url_encode(header), s[1], s[2]);
        let jwt = decode_unverified(&relabelled).unwrap();
        assert_eq!(jwt.verify_with(&rsa.public_key()), Err(CryptoError::BadSignature));
    }

    fn token_with_header(header: &str) -> String {
        format!("{}.{}.{}", b64::url_encode(header.as_bytes()), b64::url_encode(PAYLOAD), b64::url_encode(&[1u8; 64]))
    }

    #[test]
    fn alg_none_and_bad_headers_rejected() {
        for h in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"None","typ":"JWT"}"#,
            r#"{"alg":"NONE"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":null}"#,
            r#"{"alg":"RS256","crit":["exp"]}"#,
            r#"{"alg":"RS256","crit":"exp"}"#,
            r#"["alg","RS256"]"#,
            r#""RS256""#,
            "null",
            "{",
        ] {
            assert!(decode_unverified(&token_with_header(h)).is_err(), "{h}");
        }
        let unsigned = format!("{}.{}.", b64::url_encode(br#"{"alg":"none"}"#), b64::url_encode(PAYLOAD));
        assert!(decode_unverified(&unsigned).is_err());
        // An empty crit is tolerated; an unknown alg decodes but cannot verify.
        assert!(decode_unverified(&token_with_header(r#"{"alg":"RS256","crit":[]}"#)).is_ok());
        let hs_token = token_with_header(r#"{"alg":"HS256"}"#);
        let hs = decode_unverified(&hs_token).unwrap();
        assert!(matches!(hs.alg(), Err(CryptoError::Unsupported(_))));
        assert!(hs.verify_with(&rs256().0.public_key()).is_err());
    }

    #[test]
    fn malformed_tokens_rejected() {
        let (key, _) = rs256();
        let token = key.sign_jwt(PAYLOAD).unwrap();
        let s = segments(&token);
        let big_claims = format!(r#"{{"x":"{}"}}"#, "a".repeat(20 * 1024));
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            format!("{}.{}", s[0], s[1]),
            format!("{}.{}.{}.{}", s[0], s[1], s[2], s[2]),
            format!("{}.{}.{}.{}.{}", s[0], s[1], s[2], s[2], s[2]),
            format!("{}.@@@.{}", s[0], s[2]),
            format!("{}.{}.@@@", s[0], s[1]),
            format!("!{}.{}.{}", s[0], s[1], s[2]),
            format!("{}=.{}.{}", s[0], s[1], s[2]),
            format!("{}.{}.{}=", s[0], s[1], s[2]),
            format!("{}.{}.{}", s[0], b64::url_encode(b"123"), s[2]),
            format!("{}.{}.{}", s[0], b64::url_encode(b"[1,2]"), s[2]),
            format!("{}.{}.{}", s[0], b64::url_encode(b"\"s\""), s[2]),
            format!("{}.{}.{}", s[0], b64::url_encode(&[0xff, 0xfe]), s[2]),
            format!("{}.{}.{}", s[0], b64::url_encode(big_claims.as_bytes()), s[2]),
            format!("{token}{}", "A".repeat(20 * 1024)),
            "a.b.c".into(),
        ];
        for c in &cases {
            let r = decode_unverified(c);
            assert!(r.is_err(), "accepted {:?}", c.get(..60.min(c.len())));
        }
        assert!(decode_unverified(&token).is_ok());
        assert!(token.len() < MAX_TOKEN_LEN);
    }

    #[test]
    fn sign_rsa_sha256_raw() {
        let (rsa, _) = rs256();
        let msg = b"SAMLRequest=abc&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256";
        let signature = rsa.sign_rsa_sha256(msg).unwrap();
        assert_eq!(signature.len(), 256);
        let cert = Certificate::from_der(rsa.cert_der()).unwrap();
        cert.public_key.verify(Alg::RS256, msg, &signature).unwrap();
        assert_eq!(cert.public_key.verify(Alg::RS256, b"other", &signature), Err(CryptoError::BadSignature));
        assert_eq!(cert.public_key.verify(Alg::PS256, msg, &signature), Err(CryptoError::BadSignature));
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(rsa.sign_rsa_sha256(msg).unwrap(), signature);
        let (ec, _) = es256();
        assert!(matches!(ec.sign_rsa_sha256(msg), Err(CryptoError::InvalidInput(_))));
    }

    #[test]
    fn ps256_verifies() {
        let (key, pkcs8) = rs256();
        let input = b"eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0";
        let kp = RsaKeyPair::from_pkcs8(pkcs8.expose()).unwrap();
        let mut signature = vec![0u8; kp.public_modulus_len()];
        kp.sign(&sig::RSA_PSS_SHA256, &LcRandom::new(), input, &mut signature).unwrap();
        let pk = key.public_key();
        pk.verify(Alg::PS256, input, &signature).unwrap();
        assert_eq!(pk.verify(Alg::RS256, input, &signature), Err(CryptoError::BadSignature));
        assert_eq!(pk.verify(Alg::PS256, b"other input", &signature), Err(CryptoError::BadSignature));
        // The same key material can sign PS256 tokens itself.
        let ps = SigningKey::from_parts(Alg::PS256, pkcs8.expose(), key.cert_der().to_vec()).unwrap();
        let token = ps.sign_jwt(PAYLOAD).unwrap();
        let jwt = decode_unverified(&token).unwrap();
        assert_eq!(jwt.alg().unwrap(), Alg::PS256);
        jwt.verify_with(&pk).unwrap();
    }

    #[test]
    fn from_parts_round_trip() {
        for (key, pkcs8) in [rs256(), es256()] {
            let reloaded = SigningKey::from_parts(key.alg(), pkcs8.expose(), key.cert_der().to_vec()).unwrap();
            assert_eq!(reloaded.kid(), key.kid());
            assert_eq!(reloaded.public_key(), key.public_key());
            assert_eq!(reloaded.public_jwk(), key.public_jwk());
            let token = reloaded.sign_jwt(PAYLOAD).unwrap();
            decode_unverified(&token).unwrap().verify_with(&key.public_key()).unwrap();
        }
        let (rsa, rsa_pkcs8) = rs256();
        let (ec, ec_pkcs8) = es256();
        // Key and certificate from different pairs.
        assert!(SigningKey::from_parts(Alg::RS256, rsa_pkcs8.expose(), ec.cert_der().to_vec()).is_err());
        assert!(SigningKey::from_parts(Alg::ES256, ec_pkcs8.expose(), rsa.cert_der().to_vec()).is_err());
        // Key type that does not fit the algorithm.
        assert!(SigningKey::from_parts(Alg::ES256, rsa_pkcs8.expose(), rsa.cert_der().to_vec()).is_err());
        assert!(SigningKey::from_parts(Alg::RS256, ec_pkcs8.expose(), ec.cert_der().to_vec()).is_err());
        assert!(SigningKey::from_parts(Alg::RS256, b"garbage", rsa.cert_der().to_vec()).is_err());
        assert!(SigningKey::from_parts(Alg::RS256, rsa_pkcs8.expose(), b"garbage".to_vec()).is_err());
        let (other, _) = SigningKey::generate(Alg::ES256, "other", NOT_BEFORE, NOT_AFTER).unwrap();
        assert!(SigningKey::from_parts(Alg::ES256, ec_pkcs8.expose(), other.cert_der().to_vec()).is_err());
    }

    #[test]
    fn kid_is_sha1_thumbprint() {
        for (key, _) in [rs256(), es256()] {
            assert_eq!(key.kid(), b64::url_encode(&sha1(key.cert_der())));
            assert_eq!(key.kid().len(), 27);
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn jwk_validation() {
        let (rsa, _) = rs256();
        let (ec, _) = es256();
        let mut j = rsa.public_jwk();
        j["use"] = "enc".into();
        assert!(PublicKey::from_jwk(&j).is_err());
        let mut j = rsa.public_jwk();
        j.as_object_mut().unwrap().remove("use");
        assert!(PublicKey::from_jwk(&j).is_ok());
        let mut j = rsa.public_jwk();
        j["n"] = b64::url_encode(&[0xc5; 128]).into();
        assert!(matches!(PublicKey::from_jwk(&j), Err(CryptoError::InvalidKey(_))));
        let mut j = rsa.public_jwk();
        j["n"] = "not base64!".into();
        assert!(PublicKey::from_jwk(&j).is_err());
        let mut j = rsa.public_jwk();
        j.as_object_mut().unwrap().remove("e");
        assert!(PublicKey::from_jwk(&j).is_err());
        let mut j = ec.public_jwk();
        j["x"] = b64::url_encode(&[1u8; 31]).into();
        assert!(PublicKey::from_jwk(&j).is_err());
        let mut j = ec.public_jwk();
        j["crv"] = "P-384".into();
        assert!(matches!(PublicKey::from_jwk(&j), Err(CryptoError::Unsupported(_))));
        assert!(PublicKey::from_jwk(&json!({"kty":"oct","k":"AAAA"})).is_err());
        assert!(PublicKey::from_jwk(&json!(["RSA"])).is_err());
        assert!(PublicKey::from_jwk(&json!({})).is_err());
        // A point that is not on the curve never verifies.
        let bogus = PublicKey::EcP256 { x: [1; 32], y: [2; 32] };
        let token = ec.sign_jwt(PAYLOAD).unwrap();
        assert!(decode_unverified(&token).unwrap().verify_with(&bogus).is_err());
        // Leading zero bytes in n are normalised away.
        let PublicKey::Rsa { n, e } = rsa.public_key() else { unreachable!("RSA key") };
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        let mut j = rsa.public_jwk();
        j["n"] = b64::url_encode(&padded).into();
        assert_eq!(PublicKey::from_jwk(&j).unwrap(), PublicKey::Rsa { n, e });
    }

    #[test]
    fn alg_names() {
        for alg in [Alg::RS256, Alg::PS256, Alg::ES256] {
            assert_eq!(alg.as_str().parse::<Alg>().unwrap(), alg);
            assert_eq!(serde_json::to_value(alg).unwrap(), alg.as_str());
        }
        assert!("none".parse::<Alg>().is_err());
        assert!("HS256".parse::<Alg>().is_err());
        assert!("rs256".parse::<Alg>().is_err());
    }

    /// Signing throughput. Run manually:
    /// `cargo test -p ostiary-crypto --release -- --ignored --nocapture sign_rate`
    #[test]
    #[ignore]
    fn sign_rate() {
        let payload = br#"{"aud":"00000003-0000-0000-c000-000000000000","iss":"https://login.example/t/v2.0","iat":1700000000,"nbf":1700000000,"exp":1700003600,"sub":"abc","tid":"t","oid":"o","scp":"User.Read"}"#;
        for (key, _) in [rs256(), es256()] {
            let n = 2000;
            let start = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(key.sign_jwt(payload).unwrap());
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{}: {:.0} signatures/s", key.alg(), f64::from(n) / secs);
            let token = key.sign_jwt(payload).unwrap();
            let jwt = decode_unverified(&token).unwrap();
            let pk = key.public_key();
            let start = std::time::Instant::now();
            for _ in 0..n {
                jwt.verify_with(std::hint::black_box(&pk)).unwrap();
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{}: {:.0} verifications/s", key.alg(), f64::from(n) / secs);
        }
    }
}
