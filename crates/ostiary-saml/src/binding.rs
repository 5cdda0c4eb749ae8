//! The SAML HTTP-Redirect binding (DEFLATE + base64 + URL encoding, detached query-string
//! signature, SAML bindings §3.4) and the HTTP-POST binding (base64 form field, §3.5).
//!
//! Decoding is bounded at every step: the raw query length, the base64 length and the inflated
//! size (a DEFLATE bomb stops at [`MAX_INFLATED`] without allocating more).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use miniz_oxide::inflate::TINFLStatus;
use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_crypto::x509::Certificate;

use crate::dsig::{ALG_RSA_SHA1, ALG_RSA_SHA256};
use crate::error::{SamlError, clip};

/// Largest accepted inflated message (= the parser's default `max_bytes`).
pub const MAX_INFLATED: usize = 256 * 1024;
/// Largest accepted raw query string for the Redirect binding.
pub const MAX_QUERY: usize = 64 * 1024;
/// Largest accepted base64 form field for the POST binding (room for line breaks).
pub const MAX_POST_B64: usize = 400 * 1024;
/// Largest accepted decoded POST message.
pub const MAX_POST_XML: usize = 256 * 1024;

/// Base64 that accepts padded and unpadded input (some SPs strip `=`).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A message received with the HTTP-Redirect binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectMessage {
    /// The inflated XML.
    pub xml: String,
    pub relay_state: Option<String>,
    /// The detached signature, when the query carried one (verify it with [`RedirectSignature::verify`]).
    pub signature: Option<RedirectSignature>,
}

/// The detached signature of a Redirect-binding message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectSignature {
    /// The `SigAlg` URI (URL-decoded).
    pub sig_alg: String,
    /// The decoded `Signature` bytes.
    pub signature: Vec<u8>,
    /// `param=..[&RelayState=..]&SigAlg=..` exactly as received (still URL-encoded).
    pub signed_octets: String,
}

impl RedirectSignature {
    /// Verifies with any of `certs`. Only `rsa-sha256` is accepted (`rsa-sha1` and anything else
    /// is `Unsupported`).
    pub fn verify(&self, certs: &[Certificate]) -> Result<(), SamlError> {
        match self.sig_alg.as_str() {
            ALG_RSA_SHA256 => {}
            ALG_RSA_SHA1 => return Err(SamlError::unsupported("rsa-sha1 signatures are not accepted")),
            other => return Err(SamlError::unsupported(format!("signature algorithm {:?}", clip(other)))),
        }
        if certs.is_empty() {
            return Err(SamlError::signature("no certificate is trusted for this signature"));
        }
        for cert in certs {
            if cert.public_key.verify(Alg::RS256, self.signed_octets.as_bytes(), &self.signature).is_ok() {
                return Ok(());
            }
        }
        Err(SamlError::signature("the query signature does not verify with any trusted certificate"))
    }
}

/// Decodes `%XX` escapes and `+` (form encoding) into bytes.
fn percent_decode(s: &str) -> Result<Vec<u8>, SamlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|&c| char::from(c).to_digit(16));
                let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(SamlError::malformed("invalid percent-encoding in the query"));
                };
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn percent_decode_utf8(s: &str, what: &str) -> Result<String, SamlError> {
    String::from_utf8(percent_decode(s)?).map_err(|_| SamlError::malformed(format!("{what} is not UTF-8")))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so the result is the same
/// whatever encoder the receiving side would have used).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Base64 with whitespace removed; `' '` is read as `'+'` because a `+` sent unencoded in a
/// query turns into a space after form decoding, and base64 never contains spaces otherwise.
fn b64_decode_lenient(s: &[u8], what: &str) -> Result<Vec<u8>, SamlError> {
    let compact: Vec<u8> =
        s.iter().filter(|b| !matches!(b, b'\r' | b'\n' | b'\t')).map(|&b| if b == b' ' { b'+' } else { b }).collect();
    LENIENT.decode(&compact).map_err(|_| SamlError::malformed(format!("{what} is not valid base64")))
}

/// Inflates raw DEFLATE (RFC 1951) data, refusing more than [`MAX_INFLATED`] bytes of output.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, SamlError> {
    match miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_INFLATED) {
        Ok(v) => Ok(v),
        Err(e) if e.status == TINFLStatus::HasMoreOutput => {
            Err(SamlError::too_large(format!("inflated message exceeds {MAX_INFLATED} bytes")))
        }
        Err(_) => Err(SamlError::malformed("message is not valid DEFLATE data")),
    }
}

/// Decodes a Redirect-binding query. `raw_query` is the query string exactly as received (not
/// re-encoded); `param` is `SAMLRequest` or `SAMLResponse`. `signed_octets` is rebuilt from the
/// raw pieces `param=..&RelayState=..&SigAlg=..` in that order (bindings §3.4.4.1), so a
/// signature over the sender's own encoding verifies whatever case its hex digits use.
pub fn decode_redirect(raw_query: &str, param: &str) -> Result<RedirectMessage, SamlError> {
    if raw_query.len() > MAX_QUERY {
        return Err(SamlError::too_large(format!("query string exceeds {MAX_QUERY} bytes")));
    }
    let other = match param {
        "SAMLRequest" => "SAMLResponse",
        "SAMLResponse" => "SAMLRequest",
        _ => return Err(SamlError::malformed("param must be SAMLRequest or SAMLResponse")),
    };
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    // (decoded name, raw value)
    let mut pairs: Vec<(String, &str)> = Vec::new();
    for piece in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let name = percent_decode_utf8(k, "a query parameter name")?;
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(SamlError::malformed(format!("duplicate query parameter {:?}", clip(&name))));
        }
        pairs.push((name, v));
    }
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    if get(other).is_some() {
        return Err(SamlError::malformed("both SAMLRequest and SAMLResponse present"));
    }
    let raw_msg = get(param).ok_or_else(|| SamlError::malformed(format!("missing {param}")))?;
    let raw_relay = get("RelayState");
    let raw_sig_alg = get("SigAlg");
    let raw_sig = get("Signature");

    let deflated = b64_decode_lenient(&percent_decode(raw_msg)?, param)?;
    let xml = String::from_utf8(inflate(&deflated)?).map_err(|_| SamlError::malformed("message is not UTF-8"))?;
    let relay_state = raw_relay.map(|r| percent_decode_utf8(r, "RelayState")).transpose()?;

    let signature = match (raw_sig_alg, raw_sig) {
        (None, None) => None,
        (Some(alg), Some(sig)) => {
            let mut signed_octets = format!("{param}={raw_msg}");
            if let Some(r) = raw_relay {
                signed_octets.push_str("&RelayState=");
                signed_octets.push_str(r);
            }
            signed_octets.push_str("&SigAlg=");
            signed_octets.push_str(alg);
            Some(RedirectSignature {
                sig_alg: percent_decode_utf8(alg, "SigAlg")?,
                signature: b64_decode_lenient(&percent_decode(sig)?, "Signature")?,
                signed_octets,
            })
        }
        _ => return Err(SamlError::malformed("SigAlg and Signature must appear together")),
    };
    Ok(RedirectMessage { xml, relay_state, signature })
}

/// Decodes a POST-binding form field (base64, line breaks and spaces tolerated) into XML.
pub fn decode_post(b64: &str) -> Result<String, SamlError> {
    if b64.len() > MAX_POST_B64 {
        return Err(SamlError::too_large(format!("SAML form field exceeds {MAX_POST_B64} bytes")));
    }
    let compact: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = LENIENT.decode(&compact).map_err(|_| SamlError::malformed("SAML form field is not valid base64"))?;
    if bytes.len() > MAX_POST_XML {
        return Err(SamlError::too_large(format!("SAML message exceeds {MAX_POST_XML} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| SamlError::malformed("SAML message is not UTF-8"))
}

/// Encodes `xml` for the Redirect binding and returns the query string (without `?`):
/// `param=<urlencode(base64(deflate(xml)))>[&RelayState=..]`, then, with a key,
/// `&SigAlg=<rsa-sha256>&Signature=..` signed over exactly the preceding octets.
pub fn encode_redirect(
    xml: &str,
    param: &str,
    relay_state: Option<&str>,
    key: Option<&SigningKey>,
) -> Result<String, SamlError> {
    if !matches!(param, "SAMLRequest" | "SAMLResponse") {
        return Err(SamlError::malformed("param must be SAMLRequest or SAMLResponse"));
    }
    let deflated = miniz_oxide::deflate::compress_to_vec(xml.as_bytes(), 6);
    let mut q = format!("{param}={}", url_encode(&STANDARD.encode(deflated)));
    if let Some(r) = relay_state {
        q.push_str("&RelayState=");
        q.push_str(&url_encode(r));
    }
    if let Some(key) = key {
        q.push_str("&SigAlg=");
        q.push_str(&url_encode(ALG_RSA_SHA256));
        let sig =
            key.sign_rsa_sha256(q.as_bytes()).map_err(|e| SamlError::signature(format!("signing failed: {e}")))?;
        q.push_str("&Signature=");
        q.push_str(&url_encode(&STANDARD.encode(sig)));
    }
    Ok(q)
}

/// Encodes `xml` for the POST binding (plain base64, no line breaks).
pub fn encode_post(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}
