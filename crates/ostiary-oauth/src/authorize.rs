//! `/authorize` request parsing (authorization code flow, OIDC and PKCE parameters as Entra
//! accepts them) and the split between errors that may be redirected to the client and errors
//! that must only be shown on our own error page.
//!
//! Which errors are which:
//!
//! | problem | error |
//! |---|---|
//! | more than [`MAX_PARAMS`] parameters | `Fatal`, invalid_request AADSTS90015 |
//! | `client_id` or `redirect_uri` duplicated | `Fatal`, invalid_request AADSTS90014 |
//! | `client_id` missing or empty | `Fatal`, invalid_request AADSTS900144 |
//! | `client_id` longer than 256 or with control characters | `Fatal`, unauthorized_client AADSTS700016 |
//! | `redirect_uri` not `scheme://authority...` (see [`crate::redirect`]) | `Fatal`, invalid_request AADSTS90102 |
//! | any other parameter duplicated | `Redirectable`, invalid_request AADSTS90014 |
//! | `response_type` missing | `Redirectable`, invalid_request AADSTS900144 |
//! | `response_type` other than `code` | `Redirectable`, unsupported_response_type AADSTS70005 |
//! | `response_mode` not query/fragment/form_post | `Redirectable`, invalid_request AADSTS70007 |
//! | `scope` missing | `Redirectable`, invalid_request AADSTS900144 |
//! | `scope`, `state`, `nonce`, `login_hint`, `domain_hint`, `prompt`, `max_age` bad | `Redirectable`, invalid_request AADSTS90100 |
//! | PKCE parameters bad | `Redirectable`, invalid_request AADSTS90100 / AADSTS501491 |
//!
//! `parse` cannot know whether the client exists or the redirect URI is registered: the caller
//! checks `client_id` and `redirect_uri` against the registration first (AADSTS700016 /
//! AADSTS50011 are fatal), and only then may send a `Redirectable` error to the redirect URI,
//! using [`AuthorizeRequest::error_redirect`] to recover `state` and `response_mode` from the
//! raw parameters. Unknown parameters (`claims`, `x-client-*`, `client-request-id`, `sso_reload`,
//! ...) are ignored; parameter names are case-sensitive.

use crate::error::OAuthError;
use crate::pkce;
use crate::redirect;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// More parameters than this is not a real client.
pub const MAX_PARAMS: usize = 128;
pub const MAX_CLIENT_ID: usize = 256;
pub const MAX_STATE: usize = 2048;
pub const MAX_NONCE: usize = 1024;
pub const MAX_LOGIN_HINT: usize = 256;
pub const MAX_DOMAIN_HINT: usize = 256;
/// Total length of the `scope` parameter.
pub const MAX_SCOPE: usize = 8192;

/// `response_type`. Only the authorization code flow is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    Code,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
        }
    }
}

/// `response_mode`; `query` is the default for `response_type=code`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// Exact, case-sensitive: `query`, `fragment`, `form_post`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }
}

/// `prompt` (one value; Entra does not accept space-separated combinations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Login,
    None,
    Consent,
    SelectAccount,
}

impl Prompt {
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::None => "none",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "login" => Some(Prompt::Login),
            "none" => Some(Prompt::None),
            "consent" => Some(Prompt::Consent),
            "select_account" => Some(Prompt::SelectAccount),
            _ => None,
        }
    }
}

/// `code_challenge_method` (RFC 7636 4.3; case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    #[serde(rename = "S256")]
    S256,
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S256" => Some(PkceMethod::S256),
            "plain" => Some(PkceMethod::Plain),
            _ => None,
        }
    }
}

/// Why an `/authorize` request was refused, and where the error may go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Must be shown on an error page, never redirected (no/unknown client_id, missing or
    /// malformed redirect_uri...).
    #[error("{0}")]
    Fatal(OAuthError),
    /// May be sent to the (already validated) redirect URI.
    #[error("{0}")]
    Redirectable(OAuthError),
}

impl AuthorizeError {
    pub fn error(&self) -> &OAuthError {
        match self {
            AuthorizeError::Fatal(e) | AuthorizeError::Redirectable(e) => e,
        }
    }

    pub fn into_error(self) -> OAuthError {
        match self {
            AuthorizeError::Fatal(e) | AuthorizeError::Redirectable(e) => e,
        }
    }

    pub fn is_fatal(&self) -> bool {
        matches!(self, AuthorizeError::Fatal(_))
    }
}

/// A syntactically valid `/authorize` request. Empty parameter values count as absent
/// (RFC 6749 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub response_type: ResponseType,
    /// Not yet checked against the registration. `None`: the caller picks the registered one
    /// (Entra does this when an app has a single redirect URI) or refuses.
    pub redirect_uri: Option<String>,
    /// Split on spaces, empties dropped, order kept, exact duplicates removed. Never empty.
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: ResponseMode,
    pub prompt: Option<Prompt>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
    /// 43..=128 characters of `[A-Za-z0-9-._~]`; exactly 43 for `S256`.
    pub code_challenge: Option<String>,
    /// `Some` exactly when `code_challenge` is; defaults to `Plain` when the client sent a
    /// challenge without a method (RFC 7636 4.3). Callers may refuse `Plain` by policy.
    pub code_challenge_method: Option<PkceMethod>,
    /// `client_info=1` (MSAL): return `client_info` with the code and tokens.
    pub client_info: bool,
}

/// What is needed to redirect a `Redirectable` error back to the client, recovered leniently
/// from the raw parameters: the caller still validates `client_id` and `redirect_uri` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub client_id: String,
    pub redirect_uri: Option<String>,
    /// Only when present once, short enough and free of control characters.
    pub state: Option<String>,
    /// The requested mode when valid, else `query`.
    pub response_mode: ResponseMode,
}

/// The raw parameter values, looked up by name, with duplicates recorded.
struct Params<'a> {
    items: &'a [(String, String)],
    fatal_duplicate: Option<&'a str>,
    duplicate: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn new(items: &'a [(String, String)]) -> Self {
        let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
        let mut fatal_duplicate = None;
        let mut duplicate = None;
        for (k, _) in items {
            if !seen.insert(k.as_str()) {
                if k == "client_id" || k == "redirect_uri" {
                    fatal_duplicate = fatal_duplicate.or(Some(k.as_str()));
                } else {
                    duplicate = duplicate.or(Some(k.as_str()));
                }
            }
        }
        Params { items, fatal_duplicate, duplicate }
    }

    /// The first value of `name`, `None` when absent or empty.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.items.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn count(&self, name: &str) -> usize {
        self.items.iter().filter(|(k, _)| k == name).count()
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Checks an optional free-text parameter: at most `max` characters, no control characters.
fn bounded(p: &Params<'_>, name: &str, max: usize) -> Result<Option<String>, AuthorizeError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) if v.len() > max * 4 || v.chars().count() > max => Err(AuthorizeError::Redirectable(
            OAuthError::invalid_parameter(name, &format!("The value is longer than {max} characters.")),
        )),
        Some(v) if has_control(v) => Err(AuthorizeError::Redirectable(OAuthError::invalid_parameter(
            name,
            "The value contains control characters.",
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

impl AuthorizeRequest {
    /// Parses the query (GET) or form (POST) parameters of an `/authorize` request. See the
    /// module docs for which errors are fatal.
    pub fn parse(params: &[(String, String)]) -> Result<AuthorizeRequest, AuthorizeError> {
        use AuthorizeError::{Fatal, Redirectable};
        if params.len() > MAX_PARAMS {
            return Err(Fatal(OAuthError::invalid_request(90015, "The query string is too long.")));
        }
        let p = Params::new(params);
        if let Some(name) = p.fatal_duplicate {
            return Err(Fatal(OAuthError::duplicate_parameter(name)));
        }
        let client_id = p.get("client_id").ok_or_else(|| Fatal(OAuthError::missing_parameter("client_id")))?;
        if client_id.len() > MAX_CLIENT_ID || has_control(client_id) {
            return Err(Fatal(OAuthError::application_not_found(client_id)));
        }
        let redirect_uri = p.get("redirect_uri");
        if let Some(uri) = redirect_uri
            && !redirect::is_valid_redirect_uri(uri)
        {
            return Err(Fatal(OAuthError::invalid_uri_parameter("redirect_uri")));
        }

        // From here on, errors may be redirected once the caller has validated the client.
        if let Some(name) = p.duplicate {
            return Err(Redirectable(OAuthError::duplicate_parameter(name)));
        }
        let response_type =
            p.get("response_type").ok_or_else(|| Redirectable(OAuthError::missing_parameter("response_type")))?;
        let mut types = response_type.split(' ').filter(|t| !t.is_empty()).peekable();
        if types.peek().is_none() || !types.all(|t| t == "code") {
            return Err(Redirectable(OAuthError::unsupported_response_type()));
        }
        let response_mode = match p.get("response_mode") {
            None => ResponseMode::Query,
            Some(m) => ResponseMode::parse(m).ok_or_else(|| Redirectable(OAuthError::unsupported_response_mode()))?,
        };
        let scope_raw = p.get("scope").ok_or_else(|| Redirectable(OAuthError::missing_parameter("scope")))?;
        if scope_raw.len() > MAX_SCOPE {
            return Err(Redirectable(OAuthError::invalid_parameter("scope", "The value is too long.")));
        }
        let mut scope: Vec<String> = Vec::new();
        for s in scope_raw.split(' ').filter(|s| !s.is_empty()) {
            if !scope.iter().any(|x| x == s) {
                scope.push(s.to_string());
            }
        }
        if scope.is_empty() {
            return Err(Redirectable(OAuthError::missing_parameter("scope")));
        }
        let state = bounded(&p, "state", MAX_STATE)?;
        let nonce = bounded(&p, "nonce", MAX_NONCE)?;
        let login_hint = bounded(&p, "login_hint", MAX_LOGIN_HINT)?;
        let domain_hint = bounded(&p, "domain_hint", MAX_DOMAIN_HINT)?;
        let prompt = match p.get("prompt") {
            None => None,
            Some(v) => Some(Prompt::parse(v).ok_or_else(|| {
                Redirectable(OAuthError::invalid_parameter(
                    "prompt",
                    "Use one of 'login', 'none', 'consent' or 'select_account'.",
                ))
            })?),
        };
        let max_age = match p.get("max_age") {
            None => None,
            Some(v) => Some(parse_max_age(v).ok_or_else(|| {
                Redirectable(OAuthError::invalid_parameter("max_age", "The value must be a non-negative integer."))
            })?),
        };
        let (code_challenge, code_challenge_method) = parse_pkce(&p).map_err(Redirectable)?;
        let client_info = p.get("client_info") == Some("1");
        Ok(AuthorizeRequest {
            client_id: client_id.to_string(),
            response_type: ResponseType::Code,
            redirect_uri: redirect_uri.map(str::to_string),
            scope,
            state,
            nonce,
            response_mode,
            prompt,
            max_age,
            login_hint,
            domain_hint,
            code_challenge,
            code_challenge_method,
            client_info,
        })
    }

    /// For a `Redirectable` error: the client, redirect URI, `state` and `response_mode` as far
    /// as they can be recovered. `None` exactly when `parse` would fail with a `Fatal` error
    /// (nothing may be redirected then).
    pub fn error_redirect(params: &[(String, String)]) -> Option<ErrorRedirect> {
        if params.len() > MAX_PARAMS {
            return None;
        }
        let p = Params::new(params);
        if p.fatal_duplicate.is_some() {
            return None;
        }
        let client_id = p.get("client_id")?;
        if client_id.len() > MAX_CLIENT_ID || has_control(client_id) {
            return None;
        }
        let redirect_uri = p.get("redirect_uri");
        if redirect_uri.is_some_and(|u| !redirect::is_valid_redirect_uri(u)) {
            return None;
        }
        let state = if p.count("state") == 1 { bounded(&p, "state", MAX_STATE).ok().flatten() } else { None };
        let response_mode = if p.count("response_mode") == 1 {
            p.get("response_mode").and_then(ResponseMode::parse).unwrap_or_default()
        } else {
            ResponseMode::Query
        };
        Some(ErrorRedirect {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.map(str::to_string),
            state,
            response_mode,
        })
    }

    /// `true` when `scope` (as parsed) contains `name`.
    pub fn has_scope(&self, name: &str) -> bool {
        self.scope.iter().any(|s| s == name)
    }
}

/// Decimal digits only (no sign, no spaces), fitting in a `u64`.
fn parse_max_age(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn parse_pkce(p: &Params<'_>) -> Result<(Option<String>, Option<PkceMethod>), OAuthError> {
    let challenge = p.get("code_challenge");
    let method = p.get("code_challenge_method");
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(OAuthError::missing_parameter("code_challenge"));
        }
        return Ok((None, None));
    };
    let method = match method {
        None => PkceMethod::Plain,
        Some(m) => PkceMethod::parse(m).ok_or_else(|| {
            OAuthError::invalid_parameter("code_challenge_method", "Use 'S256' (recommended) or 'plain'.")
        })?,
    };
    let size_ok = match method {
        // BASE64URL(SHA256(...)) without padding is always 43 characters.
        PkceMethod::S256 => challenge.len() == 43,
        PkceMethod::Plain => true,
    };
    if !size_ok || !pkce::is_valid_verifier(challenge) {
        return Err(OAuthError::invalid_request(
            501491,
            "Invalid size of Code_Challenge parameter. It must be 43 to 128 characters of [A-Za-z0-9-._~] (43 for S256).",
        ));
    }
    Ok((Some(challenge.to_string()), Some(method)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn base() -> Vec<(String, String)> {
        f(&[
            ("client_id", "6e74172b-be56-4843-9ff4-e66a39bb12e3"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:38211"),
            ("scope", "User.Read openid profile offline_access"),
        ])
    }

    fn with(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v = base();
        v.extend(f(extra));
        v
    }

    fn without(name: &str) -> Vec<(String, String)> {
        base().into_iter().filter(|(k, _)| k != name).collect()
    }

    fn replace(name: &str, value: &str) -> Vec<(String, String)> {
        base().into_iter().map(|(k, v)| if k == name { (k, value.to_string()) } else { (k, v) }).collect()
    }

    fn redirectable(params: &[(String, String)]) -> OAuthError {
        match AuthorizeRequest::parse(params) {
            Err(AuthorizeError::Redirectable(e)) => e,
            other => panic!("expected a redirectable error, got {other:?}"),
        }
    }

    fn fatal(params: &[(String, String)]) -> OAuthError {
        match AuthorizeRequest::parse(params) {
            Err(AuthorizeError::Fatal(e)) => e,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn msal_python_interactive_request() {
        let r = AuthorizeRequest::parse(&with(&[
            ("response_mode", "form_post"),
            ("state", "aBcD"),
            ("nonce", "4f1c0c2e8b9d"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("client_info", "1"),
            ("prompt", "select_account"),
            ("claims", "{\"access_token\":{\"xms_cc\":{\"values\":[\"CP1\"]}}}"),
            ("x-client-SKU", "MSAL.Python"),
            ("x-client-Ver", "1.39.0"),
            ("client-request-id", "x"),
            ("sso_reload", "true"),
        ]))
        .unwrap();
        assert_eq!(r.client_id, "6e74172b-be56-4843-9ff4-e66a39bb12e3");
        assert_eq!(r.response_type, ResponseType::Code);
        assert_eq!(r.redirect_uri.as_deref(), Some("http://localhost:38211"));
        assert_eq!(r.scope, vec!["User.Read", "openid", "profile", "offline_access"]);
        assert_eq!(r.response_mode, ResponseMode::FormPost);
        assert_eq!(r.state.as_deref(), Some("aBcD"));
        assert_eq!(r.nonce.as_deref(), Some("4f1c0c2e8b9d"));
        assert_eq!(r.prompt, Some(Prompt::SelectAccount));
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(r.code_challenge_method, Some(PkceMethod::S256));
        assert!(r.client_info);
        assert!(r.has_scope("openid"));
        assert!(!r.has_scope("email"));
    }

    #[test]
    fn minimal_request_defaults() {
        let r = AuthorizeRequest::parse(&without("redirect_uri")).unwrap();
        assert_eq!(r.redirect_uri, None);
        assert_eq!(r.response_mode, ResponseMode::Query);
        assert_eq!((r.state, r.nonce, r.prompt, r.max_age), (None, None, None, None));
        assert_eq!((r.code_challenge, r.code_challenge_method), (None, None));
        assert!(!r.client_info);
        // client_info other than "1" is ignored.
        assert!(!AuthorizeRequest::parse(&with(&[("client_info", "true")])).unwrap().client_info);
    }

    #[test]
    fn empty_values_are_absent() {
        let r = AuthorizeRequest::parse(&with(&[("state", ""), ("prompt", ""), ("response_mode", "")])).unwrap();
        assert_eq!((r.state, r.prompt, r.response_mode), (None, None, ResponseMode::Query));
        assert_eq!(fatal(&replace("client_id", "")).code, 900144);
        assert_eq!(redirectable(&replace("response_type", "")).code, 900144);
        assert_eq!(redirectable(&replace("scope", "")).code, 900144);
        assert_eq!(redirectable(&replace("scope", "   ")).code, 900144);
        assert_eq!(AuthorizeRequest::parse(&replace("redirect_uri", "")).unwrap().redirect_uri, None);
    }

    #[test]
    fn scope_split_dedup_order() {
        let r = AuthorizeRequest::parse(&replace("scope", "  openid  api://x/a openid api://x/a  api://x/b ")).unwrap();
        assert_eq!(r.scope, vec!["openid", "api://x/a", "api://x/b"]);
        assert_eq!(redirectable(&replace("scope", &"a".repeat(MAX_SCOPE + 1))).code, 90100);
    }

    #[test]
    fn fatal_errors() {
        let e = fatal(&without("client_id"));
        assert_eq!((e.kind, e.code), (ErrorKind::InvalidRequest, 900144));
        assert!(e.description.contains("client_id"));
        assert_eq!(fatal(&with(&[("client_id", "other")])).code, 90014);
        assert_eq!(fatal(&with(&[("redirect_uri", "http://localhost:1")])).code, 90014);
        // A fatal duplicate wins over a redirectable one listed before it.
        assert_eq!(fatal(&with(&[("state", "a"), ("state", "b"), ("redirect_uri", "x://y")])).code, 90014);
        assert_eq!(fatal(&replace("client_id", &"a".repeat(257))).code, 700016);
        assert_eq!(fatal(&replace("client_id", "abc\ndef")).code, 700016);
        for bad in [
            "not a uri",
            "https://app.test/cb#frag",
            "https://user@app.test/cb",
            "javascript://x/%0aalert(1)",
            "/relative",
            "https://app.test/\u{0}",
            "https://app.test/ é",
        ] {
            let e = fatal(&replace("redirect_uri", bad));
            assert_eq!(e.code, 90102, "{bad}");
        }
        let many: Vec<(String, String)> = (0..=MAX_PARAMS).map(|i| (format!("x{i}"), "v".to_string())).collect();
        assert_eq!(fatal(&many).code, 90015);
        // Fatal checks come before redirectable ones.
        let e = fatal(&f(&[("response_type", "token")]));
        assert_eq!(e.code, 900144);
        let e = fatal(&f(&[("client_id", "c"), ("response_type", "token"), ("redirect_uri", "nope")]));
        assert_eq!(e.code, 90102);
    }

    #[test]
    fn response_type_rules() {
        let e = redirectable(&without("response_type"));
        assert_eq!((e.kind, e.code), (ErrorKind::InvalidRequest, 900144));
        for bad in [
            "id_token",
            "token",
            "code id_token",
            "id_token code",
            "code token",
            "CODE",
            "Code",
            "none",
            "code,id_token",
        ] {
            let e = redirectable(&replace("response_type", bad));
            assert_eq!(e.kind, ErrorKind::UnsupportedResponseType, "{bad}");
            assert_eq!(e.kind.as_str(), "unsupported_response_type");
        }
        // Extra spaces and repeats of `code` are harmless.
        assert!(AuthorizeRequest::parse(&replace("response_type", " code ")).is_ok());
        assert!(AuthorizeRequest::parse(&replace("response_type", "code code")).is_ok());
    }

    #[test]
    fn response_mode_rules() {
        for (v, m) in [
            ("query", ResponseMode::Query),
            ("fragment", ResponseMode::Fragment),
            ("form_post", ResponseMode::FormPost),
        ] {
            assert_eq!(AuthorizeRequest::parse(&with(&[("response_mode", v)])).unwrap().response_mode, m);
            assert_eq!(ResponseMode::parse(m.as_str()), Some(m));
        }
        for bad in ["Query", "form-post", "web_message", "jwt", "query.jwt"] {
            let e = redirectable(&with(&[("response_mode", bad)]));
            assert_eq!((e.kind, e.code), (ErrorKind::InvalidRequest, 70007), "{bad}");
        }
    }

    #[test]
    fn prompt_and_max_age() {
        for (v, p) in [
            ("login", Prompt::Login),
            ("none", Prompt::None),
            ("consent", Prompt::Consent),
            ("select_account", Prompt::SelectAccount),
        ] {
            assert_eq!(AuthorizeRequest::parse(&with(&[("prompt", v)])).unwrap().prompt, Some(p));
            assert_eq!(Prompt::parse(p.as_str()), Some(p));
        }
        for bad in ["Login", "login consent", "create", "none "] {
            assert_eq!(redirectable(&with(&[("prompt", bad)])).code, 90100, "{bad}");
        }
        assert_eq!(AuthorizeRequest::parse(&with(&[("max_age", "0")])).unwrap().max_age, Some(0));
        assert_eq!(AuthorizeRequest::parse(&with(&[("max_age", "3600")])).unwrap().max_age, Some(3600));
        assert_eq!(
            AuthorizeRequest::parse(&with(&[("max_age", "18446744073709551615")])).unwrap().max_age,
            Some(u64::MAX)
        );
        for bad in ["-1", "+5", " 5", "5s", "1e3", "18446744073709551616", "99999999999999999999999", "０"] {
            let e = redirectable(&with(&[("max_age", bad)]));
            assert_eq!((e.kind, e.code), (ErrorKind::InvalidRequest, 90100), "{bad}");
        }
    }

    #[test]
    fn length_limits() {
        let ok = |name: &str, len: usize| AuthorizeRequest::parse(&with(&[(name, &"x".repeat(len))])).is_ok();
        assert!(ok("state", MAX_STATE) && !ok("state", MAX_STATE + 1));
        assert!(ok("nonce", MAX_NONCE) && !ok("nonce", MAX_NONCE + 1));
        assert!(ok("login_hint", MAX_LOGIN_HINT) && !ok("login_hint", MAX_LOGIN_HINT + 1));
        assert!(ok("domain_hint", MAX_DOMAIN_HINT) && !ok("domain_hint", MAX_DOMAIN_HINT + 1));
        // Limits count characters, not bytes.
        let r = AuthorizeRequest::parse(&with(&[("state", &"é".repeat(MAX_STATE))])).unwrap();
        assert_eq!(r.state.unwrap().chars().count(), MAX_STATE);
        assert!(AuthorizeRequest::parse(&with(&[("login_hint", "ünïcødé@exämple.test")])).is_ok());
        // Huge values are refused without trouble.
        assert_eq!(redirectable(&with(&[("state", &"x".repeat(1 << 20))])).code, 90100);
    }

    #[test]
    fn control_characters_refused() {
        for name in ["state", "nonce", "login_hint", "domain_hint"] {
            for bad in ["a\0b", "a\nb", "a\rb", "\u{7f}", "a\u{85}b"] {
                let e = redirectable(&with(&[(name, bad)]));
                assert_eq!(e.code, 90100, "{name} {bad:?}");
                assert!(!e.description.contains('\0'));
            }
        }
        // Markup is not a control character: it is kept and escaped where it is written out.
        let r = AuthorizeRequest::parse(&with(&[("state", "\"><script>alert(1)</script>")])).unwrap();
        assert_eq!(r.state.as_deref(), Some("\"><script>alert(1)</script>"));
    }

    #[test]
    fn duplicates() {
        for name in ["state", "scope", "response_type", "nonce", "prompt", "code_challenge", "x-client-SKU"] {
            let e = redirectable(&with(&[(name, "a"), (name, "b")]));
            assert_eq!(e.code, 90014, "{name}");
        }
        // Even with an empty value, a repeated name is a duplicate.
        assert_eq!(redirectable(&with(&[("state", ""), ("state", "b")])).code, 90014);
        // Names are case-sensitive: `State` is just an unknown parameter.
        assert!(AuthorizeRequest::parse(&with(&[("state", "a"), ("State", "b")])).is_ok());
    }

    #[test]
    fn pkce_rules() {
        let r = AuthorizeRequest::parse(&with(&[("code_challenge", CHALLENGE)])).unwrap();
        assert_eq!(r.code_challenge_method, Some(PkceMethod::Plain), "RFC 7636: method defaults to plain");
        let long = "A".repeat(128);
        let r =
            AuthorizeRequest::parse(&with(&[("code_challenge", &long), ("code_challenge_method", "plain")])).unwrap();
        assert_eq!(r.code_challenge.as_deref(), Some(long.as_str()));
        let bad_cases: [(&str, Option<&str>); 10] = [
            (&CHALLENGE[..42], Some("S256")),
            ("short", None),
            ("bad+chars/==============================================", Some("plain")),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=", Some("S256")),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMX", Some("S256")),
            (CHALLENGE, Some("s256")),
            (CHALLENGE, Some("SHA256")),
            (CHALLENGE, Some("PLAIN")),
            (&"a".repeat(129), Some("plain")),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw cM", Some("S256")),
        ];
        for (challenge, method) in bad_cases {
            let mut extra = vec![("code_challenge", challenge)];
            if let Some(m) = method {
                extra.push(("code_challenge_method", m));
            }
            let e = redirectable(&with(&extra));
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{challenge} {method:?}");
        }
        // A method without a challenge is refused.
        let e = redirectable(&with(&[("code_challenge_method", "S256")]));
        assert_eq!(e.code, 900144);
        assert!(e.description.contains("code_challenge"));
    }

    #[test]
    fn error_redirect_context() {
        let params = with(&[("state", "s1"), ("response_mode", "fragment"), ("response_type", "token")]);
        // (response_type duplicated on purpose: parse fails, the context is still recoverable.)
        assert!(!AuthorizeRequest::parse(&params).unwrap_err().is_fatal());
        let ctx = AuthorizeRequest::error_redirect(&params).unwrap();
        assert_eq!(ctx.client_id, "6e74172b-be56-4843-9ff4-e66a39bb12e3");
        assert_eq!(ctx.redirect_uri.as_deref(), Some("http://localhost:38211"));
        assert_eq!(ctx.state.as_deref(), Some("s1"));
        assert_eq!(ctx.response_mode, ResponseMode::Fragment);
        // Invalid or repeated state/response_mode fall back to none/query.
        let ctx = AuthorizeRequest::error_redirect(&with(&[("state", "a\0"), ("response_mode", "bogus")])).unwrap();
        assert_eq!((ctx.state, ctx.response_mode), (None, ResponseMode::Query));
        let ctx = AuthorizeRequest::error_redirect(&with(&[("state", "a"), ("state", "b")])).unwrap();
        assert_eq!(ctx.state, None);
        let ctx = AuthorizeRequest::error_redirect(&with(&[("state", &"x".repeat(MAX_STATE + 1))])).unwrap();
        assert_eq!(ctx.state, None);
        // Fatal cases have no context.
        assert!(AuthorizeRequest::error_redirect(&without("client_id")).is_none());
        assert!(AuthorizeRequest::error_redirect(&replace("redirect_uri", "https://a.test/#x")).is_none());
        assert!(AuthorizeRequest::error_redirect(&with(&[("client_id", "c")])).is_none());
    }

    #[test]
    fn error_accessors_and_serde_names() {
        let e = AuthorizeError::Fatal(OAuthError::missing_parameter("client_id"));
        assert!(e.is_fatal());
        assert_eq!(e.error().code, 900144);
        assert!(e.to_string().starts_with("AADSTS900144: "));
        assert_eq!(e.into_error().code, 900144);
        assert_eq!(serde_json::to_string(&ResponseMode::FormPost).unwrap(), "\"form_post\"");
        assert_eq!(serde_json::to_string(&Prompt::SelectAccount).unwrap(), "\"select_account\"");
        assert_eq!(serde_json::to_string(&PkceMethod::S256).unwrap(), "\"S256\"");
        assert_eq!(serde_json::from_str::<PkceMethod>("\"plain\"").unwrap(), PkceMethod::Plain);
        assert_eq!(serde_json::to_string(&ResponseType::Code).unwrap(), "\"code\"");
        assert_eq!(PkceMethod::parse("S256").map(PkceMethod::as_str), Some("S256"));
        assert_eq!(ResponseType::Code.as_str(), "code");
    }
}
