//! Client assertion (private_key_jwt) checks per RFC 7523 as Entra applies them: `iss` = `sub`
//! = client id, `aud` = the token endpoint, a time window, a `jti`, and a certificate reference
//! (`x5t` SHA-1 or `x5t#S256`). The signature itself is checked by the caller with the
//! certificate the reference points to; replay of `jti` is checked against the store.

use crate::error::OAuthError;
use ostiary_crypto::jws::{Alg, Jwt};
use serde_json::Value;

/// Which registered certificate the assertion claims to be signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRef {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionCheck {
    pub client_id: String,
    pub jti: String,
    /// Seconds since the epoch.
    pub exp: i64,
    pub cert: CertRef,
    pub alg: Alg,
}

/// Allowed clock skew, as most IdPs.
const SKEW: i64 = 300;
/// Assertions valid for longer than this are refused so replay entries stay short-lived.
const MAX_LIFETIME: i64 = 24 * 3600;

/// Checks everything but the signature and replay. `audiences` are the token endpoint URLs the
/// assertion may name (tenant GUID and domain forms).
pub fn check_client_assertion(
    jwt: &Jwt<'_>,
    body_client_id: Option<&str>,
    audiences: &[String],
    now: i64,
) -> Result<AssertionCheck, OAuthError> {
    let alg = jwt
        .alg()
        .map_err(|_| OAuthError::assertion_malformed("The 'alg' header is not supported (RS256, PS256, ES256)."))?;
    let cert = cert_ref(jwt)?;
    let claim_str = |name: &str| jwt.claims.get(name).and_then(Value::as_str);
    let iss = claim_str("iss").ok_or_else(|| OAuthError::assertion_malformed("The 'iss' claim is missing."))?;
    let sub = claim_str("sub").ok_or_else(|| OAuthError::assertion_malformed("The 'sub' claim is missing."))?;
    if iss != sub {
        return Err(OAuthError::assertion_malformed("The 'iss' and 'sub' claims must both be the client id."));
    }
    if let Some(id) = body_client_id
        && id != iss
    {
        return Err(OAuthError::assertion_malformed("The 'iss' claim does not match the client_id parameter."));
    }
    let aud_ok = match jwt.claims.get("aud") {
        Some(Value::String(a)) => audiences.iter().any(|x| x == a.as_str()),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::assertion_malformed("The 'aud' claim must be the token endpoint URL."));
    }
    let exp = numeric_date(jwt.claims.get("exp"))
        .ok_or_else(|| OAuthError::assertion_malformed("The 'exp' claim is missing or not a number."))?;
    if exp + SKEW < now {
        return Err(OAuthError::assertion_time("The assertion has expired."));
    }
    if exp > now + MAX_LIFETIME {
        return Err(OAuthError::assertion_time("The assertion expires too far in the future."));
    }
    for name in ["nbf", "iat"] {
        if let Some(v) = jwt.claims.get(name) {
            let t = numeric_date(Some(v))
                .ok_or_else(|| OAuthError::assertion_malformed(&format!("The '{name}' claim is not a number.")))?;
            if t > now + SKEW {
                return Err(OAuthError::assertion_time(&format!("The '{name}' claim is in the future.")));
            }
        }
    }
    let jti = claim_str("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| OAuthError::assertion_malformed("The 'jti' claim is missing."))?;
    Ok(AssertionCheck { client_id: iss.to_string(), jti: jti.to_string(), exp, cert, alg })
}

/// NumericDate, accepting fractional seconds (MSAL Python sends floats).
fn numeric_date(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f.abs() < 1e15 { Some(f.floor() as i64) } else { None }
}

fn cert_ref(jwt: &Jwt<'_>) -> Result<CertRef, OAuthError> {
    let get = |n: &str| jwt.header.get(n).and_then(Value::as_str);
    let decode = |s: &str| {
        ostiary_crypto::b64::url_decode(s)
            .map_err(|_| OAuthError::assertion_malformed("The certificate thumbprint header is not base64url."))
    };
    if let Some(t) = get("x5t#S256") {
        let bytes = decode(t)?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| OAuthError::assertion_malformed("'x5t#S256' must be a SHA-256 thumbprint."))?;
        return Ok(CertRef::Sha256(arr));
    }
    if let Some(t) = get("x5t") {
        let bytes = decode(t)?;
        let arr: [u8; 20] =
            bytes.try_into().map_err(|_| OAuthError::assertion_malformed("'x5t' must be a SHA-1 thumbprint."))?;
        return Ok(CertRef::Sha1(arr));
    }
    Err(OAuthError::assertion_malformed(
        "The assertion header must carry 'x5t' or 'x5t#S256' naming a registered certificate.",
    ))
}
