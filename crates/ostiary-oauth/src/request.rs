//! Token request parsing: form fields, duplicate detection and client authentication material
//! (body secret, HTTP Basic, or JWT client assertion).

use crate::error::OAuthError;
use std::collections::HashMap;

pub const ASSERTION_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client proved (or did not prove) who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Secret { client_id: String, secret: String },
    Assertion { client_id: Option<String>, assertion: String },
    None { client_id: String },
}

impl ClientAuth {
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Secret { client_id, .. } | ClientAuth::None { client_id } => Some(client_id),
            ClientAuth::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }
}

/// A parsed token request. Unknown parameters (`client_info`, `claims`, ...) are kept but
/// never cause errors, as Entra ignores them.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client: ClientAuth,
    pub scope: Option<String>,
    params: HashMap<String, String>,
}

/// Maximum number of form fields; a token request has a dozen at most.
const MAX_FIELDS: usize = 64;

impl TokenRequest {
    /// `fields` are the decoded form pairs in order; `basic` is the decoded HTTP Basic pair.
    pub fn parse(fields: &[(String, String)], basic: Option<(String, String)>) -> Result<Self, OAuthError> {
        Self::parse_inner(fields, basic, true)
    }

    /// The same parsing for endpoints that authenticate clients but take no grant
    /// (introspection, revocation); `grant_type` is then empty.
    pub fn parse_client_request(
        fields: &[(String, String)],
        basic: Option<(String, String)>,
    ) -> Result<Self, OAuthError> {
        Self::parse_inner(fields, basic, false)
    }

    fn parse_inner(
        fields: &[(String, String)],
        basic: Option<(String, String)>,
        needs_grant: bool,
    ) -> Result<Self, OAuthError> {
        if fields.len() > MAX_FIELDS {
            return Err(OAuthError::invalid_request(900144, "Too many request parameters."));
        }
        let mut params: HashMap<String, String> = HashMap::with_capacity(fields.len());
        for (k, v) in fields {
            if params.insert(k.clone(), v.clone()).is_some() {
                return Err(OAuthError::duplicate_parameter(k));
            }
        }
        let non_empty = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        let grant_type = match non_empty("grant_type") {
            Some(g) => g,
            None if !needs_grant => String::new(),
            None => return Err(OAuthError::missing_parameter("grant_type")),
        };
        let body_id = non_empty("client_id");
        let body_secret = non_empty("client_secret");
        let assertion = non_empty("client_assertion");
        let assertion_type = non_empty("client_assertion_type");

        let client = match (basic, body_secret, assertion) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
                // RFC 6749 2.3: a client MUST NOT use more than one authentication method.
                return Err(OAuthError::invalid_request(
                    90015,
                    "The request used more than one client authentication method.",
                ));
            }
            (Some((id, secret)), None, None) => {
                if let Some(b) = &body_id
                    && *b != id
                {
                    return Err(OAuthError::invalid_request(
                        700038,
                        "The client_id in the request body does not match the client_id in the Authorization header.",
                    ));
                }
                ClientAuth::Secret { client_id: id, secret }
            }
            (None, Some(secret), None) => {
                let client_id = body_id.ok_or_else(|| OAuthError::missing_parameter("client_id"))?;
                ClientAuth::Secret { client_id, secret }
            }
            (None, None, Some(assertion)) => {
                match assertion_type.as_deref() {
                    Some(ASSERTION_TYPE_JWT_BEARER) => {}
                    Some(_) => {
                        return Err(OAuthError::invalid_request(
                            50027,
                            "The client_assertion_type is not supported: only urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                        ));
                    }
                    None => return Err(OAuthError::missing_parameter("client_assertion_type")),
                }
                ClientAuth::Assertion { client_id: body_id, assertion }
            }
            (None, None, None) => {
                let client_id = body_id.ok_or_else(|| OAuthError::missing_parameter("client_id"))?;
                ClientAuth::None { client_id }
            }
        };
        let scope = non_empty("scope");
        Ok(TokenRequest { grant_type, client, scope, params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Decodes `Authorization: Basic ...` per RFC 6749 2.3.1 (id and secret are form-urlencoded
/// before base64). Returns `None` when the header is not Basic.
pub fn parse_basic_auth(header: &str) -> Option<Result<(String, String), OAuthError>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || OAuthError::new(crate::ErrorKind::InvalidClient, 7000216, "The Authorization header is malformed.");
    let decoded = match ostiary_crypto::b64::std_decode(rest.trim()) {
        Ok(d) => d,
        Err(_) => return Some(Err(bad())),
    };
    let Ok(text) = String::from_utf8(decoded) else { return Some(Err(bad())) };
    let Some((id, secret)) = text.split_once(':') else { return Some(Err(bad())) };
    let dec = |s: &str| form_decode(s);
    match (dec(id), dec(secret)) {
        (Some(i), Some(s)) if !i.is_empty() => Some(Ok((i, s))),
        _ => Some(Err(bad())),
    }
}

/// application/x-www-form-urlencoded decoding of one component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn secret_in_body_and_unknown_params_ignored() {
        let r = TokenRequest::parse(
            &f(&[
                ("grant_type", "client_credentials"),
                ("client_id", "c"),
                ("client_secret", "s"),
                ("client_info", "1"),
                ("claims", "{}"),
                ("scope", "api://x/.default"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(r.client, ClientAuth::Secret { client_id: "c".into(), secret: "s".into() });
        assert_eq!(r.scope.as_deref(), Some("api://x/.default"));
    }

    #[test]
    fn basic_auth_decodes_form_encoding() {
        let h = format!("Basic {}", ostiary_crypto::b64::std_encode(b"my%20id:s%3Acret+x"));
        assert_eq!(parse_basic_auth(&h).unwrap().unwrap(), ("my id".into(), "s:cret x".into()));
        assert!(parse_basic_auth("Bearer x").is_none());
        assert!(parse_basic_auth("Basic !!!").unwrap().is_err());
        assert!(parse_basic_auth(&format!("Basic {}", ostiary_crypto::b64::std_encode(b"nocolon"))).unwrap().is_err());
    }

    #[test]
    fn rejects_duplicates_and_mixed_auth() {
        let e = TokenRequest::parse(&f(&[("grant_type", "a"), ("grant_type", "b")]), None).unwrap_err();
        assert_eq!(e.code, 90014);
        let e = TokenRequest::parse(
            &f(&[("grant_type", "client_credentials"), ("client_id", "c"), ("client_secret", "s")]),
            Some(("c".into(), "s".into())),
        )
        .unwrap_err();
        assert_eq!(e.code, 90015);
        let e = TokenRequest::parse(&f(&[("client_id", "c")]), None).unwrap_err();
        assert_eq!(e.code, 900144);
        let e = TokenRequest::parse(&f(&[("grant_type", "client_credentials"), ("client_assertion", "x")]), None)
            .unwrap_err();
        assert!(e.description.contains("client_assertion_type"));
    }
}
