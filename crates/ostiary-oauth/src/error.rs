//! OAuth errors with their Entra AADSTS codes. One constructor per code keeps the wording in
//! one place; the web layer renders them with trace and correlation ids.

use serde::Serialize;

/// The RFC 6749 / Entra `error` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidResource,
    InteractionRequired,
    ConsentRequired,
    TemporarilyUnavailable,
    ServerError,
    /// OIDC Core 3.1.2.6: `prompt=none` and no usable session.
    LoginRequired,
    /// RFC 6749 4.1.2.1: the user (or policy) denied the request.
    AccessDenied,
    /// RFC 6749 4.1.2.1: `response_type` not supported.
    UnsupportedResponseType,
    /// RFC 7009: the server cannot revoke this kind of token.
    UnsupportedTokenType,
    /// RFC 8628 3.5: the user has not finished yet; keep polling.
    AuthorizationPending,
    /// RFC 8628 3.5: polling too fast; add 5 s to the interval.
    SlowDown,
    /// Entra's device-flow value for "the user said no" (RFC 8628 uses `access_denied`).
    AuthorizationDeclined,
    /// RFC 8628 3.5: the device code expired.
    ExpiredToken,
    /// Entra's device-flow value for an unknown `device_code`.
    BadVerificationCode,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::InvalidGrant => "invalid_grant",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::InvalidScope => "invalid_scope",
            ErrorKind::InvalidResource => "invalid_resource",
            ErrorKind::InteractionRequired => "interaction_required",
            ErrorKind::ConsentRequired => "consent_required",
            ErrorKind::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorKind::ServerError => "server_error",
            ErrorKind::LoginRequired => "login_required",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::UnsupportedResponseType => "unsupported_response_type",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::AuthorizationPending => "authorization_pending",
            ErrorKind::SlowDown => "slow_down",
            ErrorKind::AuthorizationDeclined => "authorization_declined",
            ErrorKind::ExpiredToken => "expired_token",
            ErrorKind::BadVerificationCode => "bad_verification_code",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AADSTS{code}: {description}")]
pub struct OAuthError {
    pub kind: ErrorKind,
    /// The AADSTS number (without the prefix).
    pub code: u32,
    pub description: String,
    /// HTTP status: 400 for most, 401 for client authentication failures (as Entra).
    pub status: u16,
    /// Entra's optional `suberror` member (`consent_required`, `user_password_expired`, ...);
    /// rendered next to `error` when present.
    pub suberror: Option<&'static str>,
}

impl OAuthError {
    pub fn new(kind: ErrorKind, code: u32, description: impl Into<String>) -> Self {
        let status = match kind {
            ErrorKind::InvalidClient => 401,
            ErrorKind::ServerError => 500,
            ErrorKind::TemporarilyUnavailable => 503,
            _ => 400,
        };
        OAuthError { kind, code, description: description.into(), status, suberror: None }
    }

    /// Sets Entra's `suberror` member.
    pub fn with_suberror(mut self, suberror: &'static str) -> Self {
        self.suberror = Some(suberror);
        self
    }

    /// RFC 7009 §2.2.1: access tokens are self-contained and cannot be revoked one by one.
    pub fn unsupported_token_type() -> Self {
        Self::new(
            ErrorKind::UnsupportedTokenType,
            90014,
            "Access tokens cannot be revoked individually; revoke the refresh token or the user's sessions.",
        )
    }

    pub fn invalid_request(code: u32, d: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, code, d)
    }

    /// AADSTS900144: a required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::invalid_request(900144, format!("The request body must contain the following parameter: '{name}'."))
    }

    /// AADSTS90002: tenant not found.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::invalid_request(
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                sanitize(tenant)
            ),
        )
    }

    /// AADSTS700016: application not found in the tenant.
    pub fn application_not_found(client_id: &str) -> Self {
        Self::new(
            ErrorKind::UnauthorizedClient,
            700016,
            format!(
                "Application with identifier '{}' was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                sanitize(client_id)
            ),
        )
    }

    /// AADSTS7000215: wrong client secret.
    pub fn invalid_client_secret(client_id: &str) -> Self {
        Self::new(
            ErrorKind::InvalidClient,
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                sanitize(client_id)
            ),
        )
    }

    /// AADSTS7000222: the presented secret has expired.
    pub fn client_secret_expired(client_id: &str) -> Self {
        Self::new(
            ErrorKind::InvalidClient,
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Create new keys for your app, or consider using certificate credentials for added security.",
                sanitize(client_id)
            ),
        )
    }

    /// AADSTS7000218: confidential client without credentials.
    pub fn credentials_required() -> Self {
        Self::new(
            ErrorKind::InvalidClient,
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS700027: client assertion failed validation.
    pub fn assertion_invalid(reason: &str) -> Self {
        Self::new(ErrorKind::InvalidClient, 700027, format!("Client assertion failed signature validation. {reason}"))
    }

    /// AADSTS700024: client assertion outside its time range.
    pub fn assertion_time(reason: &str) -> Self {
        Self::new(
            ErrorKind::InvalidClient,
            700024,
            format!("Client assertion is not within its valid time range. {reason}"),
        )
    }

    /// AADSTS700023/AADSTS50027-like: the assertion itself is malformed.
    pub fn assertion_malformed(reason: &str) -> Self {
        Self::new(ErrorKind::InvalidClient, 50027, format!("JWT token is invalid or malformed. {reason}"))
    }

    /// AADSTS70011: bad scope.
    pub fn invalid_scope(reason: &str) -> Self {
        Self::new(
            ErrorKind::InvalidScope,
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. {reason}"
            ),
        )
    }

    /// AADSTS500011: the resource named by the scope does not exist in the tenant.
    pub fn resource_not_found(resource: &str) -> Self {
        Self::new(
            ErrorKind::InvalidResource,
            500011,
            format!(
                "The resource principal named {} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                sanitize(resource)
            ),
        )
    }

    /// AADSTS70000: grant not supported for this client, or unsupported grant type.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            ErrorKind::UnsupportedGrantType,
            70003,
            format!("The app requested an unsupported grant type '{}'.", sanitize(grant)),
        )
    }

    /// AADSTS7000112: the application or its service principal is disabled.
    pub fn application_disabled(client_id: &str) -> Self {
        Self::new(ErrorKind::UnauthorizedClient, 7000112, format!("Application '{}' is disabled.", sanitize(client_id)))
    }

    /// AADSTS9001023: client credentials on a multi-tenant alias.
    pub fn tenant_alias_not_allowed() -> Self {
        Self::invalid_request(
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        )
    }

    /// AADSTS90014 variant for duplicated parameters (RFC 6749 3.2: parameters MUST NOT repeat).
    pub fn duplicate_parameter(name: &str) -> Self {
        Self::invalid_request(90014, format!("The request parameter '{}' is duplicated.", sanitize(name)))
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new(ErrorKind::TemporarilyUnavailable, 90033, "A transient error has occurred. Please try again.")
    }

    pub fn server_error() -> Self {
        Self::new(ErrorKind::ServerError, 90100, "An unexpected error occurred while processing the request.")
    }

    // ----- user flows: /authorize, code and refresh redemption, device flow, OBO -----

    /// AADSTS90100: a parameter is present but its value is empty or not valid.
    pub fn invalid_parameter(name: &str, reason: &str) -> Self {
        Self::invalid_request(
            90100,
            format!("The request parameter '{}' is empty or not valid. {reason}", sanitize(name))
                .trim_end()
                .to_string(),
        )
    }

    /// AADSTS90102: a URI parameter is not a valid absolute URI.
    pub fn invalid_uri_parameter(name: &str) -> Self {
        Self::invalid_request(90102, format!("INVALID_URI: '{}' value must be a valid absolute URI.", sanitize(name)))
    }

    /// AADSTS50011: the redirect URI is not registered. Shown on the error page at /authorize,
    /// never redirected; at /token it means the code was issued to another redirect URI.
    pub fn redirect_uri_mismatch(uri: &str) -> Self {
        Self::invalid_request(
            50011,
            format!(
                "The redirect URI '{}' specified in the request does not match the redirect URIs configured for the application. Make sure the redirect URI sent in the request matches one added to your application.",
                sanitize(uri)
            ),
        )
    }

    /// AADSTS65001 as the token endpoint returns it: `invalid_grant` with `suberror`
    /// `consent_required`.
    pub fn consent_required() -> Self {
        Self::new(ErrorKind::InvalidGrant, 65001, CONSENT_TEXT).with_suberror("consent_required")
    }

    /// AADSTS65001 as /authorize returns it (e.g. with `prompt=none`): `consent_required`.
    pub fn consent_required_authorize() -> Self {
        Self::new(ErrorKind::ConsentRequired, 65001, CONSENT_TEXT)
    }

    /// AADSTS50058: `prompt=none` but nobody is signed in.
    pub fn login_required() -> Self {
        Self::new(
            ErrorKind::LoginRequired,
            50058,
            "A silent sign-in request was sent but no user is signed in. The cookies used to represent the user's session were not sent in the request or have expired.",
        )
    }

    /// `interaction_required` with a caller-chosen code (50076 MFA, 50079 MFA registration,
    /// 50055 password expired...).
    pub fn interaction_required(code: u32, text: &str) -> Self {
        Self::new(ErrorKind::InteractionRequired, code, text)
    }

    /// AADSTS65004: the user declined the consent prompt (`access_denied`).
    pub fn user_declined_consent() -> Self {
        Self::new(
            ErrorKind::AccessDenied,
            65004,
            "User declined to consent to access the app. Have the user retry the sign-in and consent to the app.",
        )
    }

    /// `access_denied` with a caller-chosen code (53003 blocked by policy, 50105 not assigned...).
    pub fn access_denied(code: u32, text: &str) -> Self {
        Self::new(ErrorKind::AccessDenied, code, text)
    }

    /// AADSTS50126: wrong user name or password (deliberately the same text for both).
    pub fn invalid_username_or_password() -> Self {
        Self::new(ErrorKind::InvalidGrant, 50126, "Error validating credentials due to invalid username or password.")
    }

    /// AADSTS50053: too many failed sign-ins.
    pub fn account_locked() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            50053,
            "Your account is locked because you tried to sign in too many times with an incorrect user ID or password.",
        )
    }

    /// AADSTS50057: the user account is disabled.
    pub fn user_disabled() -> Self {
        Self::new(ErrorKind::InvalidGrant, 50057, "The user account is disabled.")
    }

    /// AADSTS54005: the authorization code was already used.
    pub fn code_redeemed() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// AADSTS70008: the authorization code has expired.
    pub fn code_expired() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// AADSTS70000: the authorization code is unknown, malformed, or not for this client.
    pub fn code_invalid() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            70000,
            "The provided value for the 'code' parameter is not valid. The code may be malformed, issued to another client, or issued for another redirect URI.",
        )
    }

    /// AADSTS501481: `code_verifier` does not match the `code_challenge`.
    pub fn pkce_mismatch() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// AADSTS9002325: PKCE is required (SPA and public clients).
    pub fn pkce_required() -> Self {
        Self::invalid_request(
            9002325,
            "Proof Key for Code Exchange is required for this request. Send a 'code_challenge' with the authorization request and a 'code_verifier' with the token request.",
        )
    }

    /// AADSTS700082: the refresh token has expired (inactivity or maximum age).
    pub fn refresh_token_expired() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            700082,
            "The refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// AADSTS50173: the grant was revoked (sign-out everywhere, password reset, admin action).
    pub fn refresh_token_revoked() -> Self {
        Self::new(
            ErrorKind::InvalidGrant,
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        )
    }

    /// AADSTS70016: device flow, keep polling (HTTP 400 as RFC 8628 and MSAL expect).
    pub fn authorization_pending() -> Self {
        Self::new(
            ErrorKind::AuthorizationPending,
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// Device flow, polling faster than `interval`. Entra has no dedicated code; 70016 is reused
    /// because the authorization is still pending.
    pub fn slow_down() -> Self {
        Self::new(
            ErrorKind::SlowDown,
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Polling too frequently; increase the interval by 5 seconds.",
        )
    }

    /// Device flow, the user declined. Entra has no documented code for this value; 65004
    /// (UserDeclinedConsent) is the closest.
    pub fn authorization_declined() -> Self {
        Self::new(ErrorKind::AuthorizationDeclined, 65004, "The end user denied the authorization request.")
    }

    /// AADSTS70019: device flow, the device code expired.
    pub fn expired_token() -> Self {
        Self::new(ErrorKind::ExpiredToken, 70019, "Verification code expired. Have the user retry the sign-in.")
    }

    /// AADSTS70018 (BadVerificationCode): device flow, the `device_code` is unknown or belongs to
    /// another client.
    pub fn bad_verification_code() -> Self {
        Self::new(
            ErrorKind::BadVerificationCode,
            70018,
            "The device_code sent to the token endpoint was not recognized. Verify that the client is sending the correct device_code.",
        )
    }

    /// AADSTS700025: a public client sent a secret or an assertion.
    pub fn public_client_with_secret() -> Self {
        Self::new(
            ErrorKind::InvalidClient,
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// AADSTS50013: the on-behalf-of user assertion is not acceptable.
    pub fn obo_invalid_assertion(reason: &str) -> Self {
        Self::new(ErrorKind::InvalidGrant, 50013, format!("Assertion is invalid. {reason}").trim_end().to_string())
    }

    /// AADSTS70005 (UnsupportedResponseType): only `response_type=code` is supported.
    pub fn unsupported_response_type() -> Self {
        Self::new(
            ErrorKind::UnsupportedResponseType,
            70005,
            "The provided value for the input parameter 'response_type' is not supported. Only 'code' is supported.",
        )
    }

    /// AADSTS70007 (UnsupportedResponseMode): `response_mode` is not query, fragment or form_post.
    pub fn unsupported_response_mode() -> Self {
        Self::invalid_request(
            70007,
            "The provided value for the input parameter 'response_mode' is not supported. Use 'query', 'fragment' or 'form_post'.",
        )
    }
}

const CONSENT_TEXT: &str = "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.";

/// Keeps echoed client input short and printable so error texts can't carry injected markup
/// or log-forging line breaks.
pub fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_rfc_names() {
        let all = [
            (ErrorKind::LoginRequired, "login_required"),
            (ErrorKind::AccessDenied, "access_denied"),
            (ErrorKind::UnsupportedResponseType, "unsupported_response_type"),
            (ErrorKind::AuthorizationPending, "authorization_pending"),
            (ErrorKind::SlowDown, "slow_down"),
            (ErrorKind::AuthorizationDeclined, "authorization_declined"),
            (ErrorKind::ExpiredToken, "expired_token"),
            (ErrorKind::BadVerificationCode, "bad_verification_code"),
            (ErrorKind::ConsentRequired, "consent_required"),
            (ErrorKind::InteractionRequired, "interaction_required"),
        ];
        for (k, name) in all {
            assert_eq!(k.as_str(), name);
            assert_eq!(serde_json::to_value(k).ok(), Some(serde_json::Value::String(name.to_string())));
        }
    }

    #[test]
    fn user_flow_catalogue() {
        use ErrorKind::*;
        let cases: Vec<(OAuthError, ErrorKind, u32, u16)> = vec![
            (OAuthError::redirect_uri_mismatch("https://x.test/cb"), InvalidRequest, 50011, 400),
            (OAuthError::consent_required(), InvalidGrant, 65001, 400),
            (OAuthError::consent_required_authorize(), ConsentRequired, 65001, 400),
            (OAuthError::login_required(), LoginRequired, 50058, 400),
            (OAuthError::interaction_required(50076, "MFA required."), InteractionRequired, 50076, 400),
            (OAuthError::user_declined_consent(), AccessDenied, 65004, 400),
            (OAuthError::access_denied(53003, "Blocked by policy."), AccessDenied, 53003, 400),
            (OAuthError::invalid_username_or_password(), InvalidGrant, 50126, 400),
            (OAuthError::account_locked(), InvalidGrant, 50053, 400),
            (OAuthError::user_disabled(), InvalidGrant, 50057, 400),
            (OAuthError::code_redeemed(), InvalidGrant, 54005, 400),
            (OAuthError::code_expired(), InvalidGrant, 70008, 400),
            (OAuthError::code_invalid(), InvalidGrant, 70000, 400),
            (OAuthError::pkce_mismatch(), InvalidGrant, 501481, 400),
            (OAuthError::pkce_required(), InvalidRequest, 9002325, 400),
            (OAuthError::refresh_token_expired(), InvalidGrant, 700082, 400),
            (OAuthError::refresh_token_revoked(), InvalidGrant, 50173, 400),
            (OAuthError::authorization_pending(), AuthorizationPending, 70016, 400),
            (OAuthError::slow_down(), SlowDown, 70016, 400),
            (OAuthError::authorization_declined(), AuthorizationDeclined, 65004, 400),
            (OAuthError::expired_token(), ExpiredToken, 70019, 400),
            (OAuthError::bad_verification_code(), BadVerificationCode, 70018, 400),
            (OAuthError::public_client_with_secret(), InvalidClient, 700025, 401),
            (OAuthError::obo_invalid_assertion("Expired."), InvalidGrant, 50013, 400),
            (OAuthError::unsupported_response_type(), UnsupportedResponseType, 70005, 400),
            (OAuthError::unsupported_response_mode(), InvalidRequest, 70007, 400),
            (OAuthError::invalid_parameter("prompt", "Bad."), InvalidRequest, 90100, 400),
            (OAuthError::invalid_uri_parameter("redirect_uri"), InvalidRequest, 90102, 400),
        ];
        for (e, kind, code, status) in cases {
            assert_eq!((e.kind, e.code, e.status), (kind, code, status), "{e}");
            assert!(!e.description.is_empty() && !e.description.ends_with(' '), "{e}");
            assert!(e.to_string().starts_with(&format!("AADSTS{code}: ")));
        }
        assert_eq!(OAuthError::consent_required().suberror, Some("consent_required"));
        assert_eq!(OAuthError::consent_required_authorize().suberror, None);
        assert_eq!(OAuthError::code_invalid().suberror, None);
        assert!(OAuthError::consent_required().description.contains("has not consented"));
    }

    #[test]
    fn echoed_input_is_sanitised() {
        let e = OAuthError::redirect_uri_mismatch(&format!("https://x.test/\r\n{}", "a".repeat(1000)));
        assert!(!e.description.contains('\n') && e.description.len() < 600);
        let e = OAuthError::invalid_parameter("st\0ate", "");
        assert!(!e.description.contains('\0') && !e.description.ends_with(' '));
        assert_eq!(OAuthError::obo_invalid_assertion("").description, "Assertion is invalid.");
    }
}
