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
}

impl OAuthError {
    pub fn new(kind: ErrorKind, code: u32, description: impl Into<String>) -> Self {
        let status = match kind {
            ErrorKind::InvalidClient => 401,
            ErrorKind::ServerError => 500,
            ErrorKind::TemporarilyUnavailable => 503,
            _ => 400,
        };
        OAuthError { kind, code, description: description.into(), status }
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
}

/// Keeps echoed client input short and printable so error texts can't carry injected markup
/// or log-forging line breaks.
pub fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}
