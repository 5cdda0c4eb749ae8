//! The token endpoint's success response and the bootstrap credentials file written by
//! `ostiary serve` on first start.

use crate::serde_util::{opt_u64_or_string, u64_or_string};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A successful token response (`POST /{tenant}/oauth2/v2.0/token`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[serde(deserialize_with = "u64_or_string")]
    pub expires_in: u64,
    /// Extended lifetime (Entra resilience feature).
    #[serde(default, deserialize_with = "opt_u64_or_string", skip_serializing_if = "Option::is_none")]
    pub ext_expires_in: Option<u64>,
    /// The access token.
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Space-separated granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// base64url(`{"uid":…,"utid":…}`), when the request carried `client_info=1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ext_expires_in", &self.ext_expires_in)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("scope", &self.scope)
            .finish()
    }
}

/// The bootstrap credentials file: what an operator needs to administer a fresh tenant.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapCredentials {
    /// The tenant id (GUID).
    pub tenant_id: String,
    /// The tenant's primary domain.
    pub tenant_domain: String,
    /// The v2.0 issuer (`https://host:port/{tenant}/v2.0`).
    pub issuer: String,
    /// Client id of the bootstrap admin application.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// UPN of the bootstrap admin user.
    pub admin_user_principal_name: String,
    /// Its initial password.
    pub admin_password: String,
    /// Path of the PEM file of the CA that signed the server's TLS certificate, when it is
    /// self-issued.
    #[serde(default)]
    pub ca_certificate: Option<String>,
}

impl fmt::Debug for BootstrapCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("tenant_domain", &self.tenant_domain)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("admin_user_principal_name", &self.admin_user_principal_name)
            .field("admin_password", &"<redacted>")
            .field("ca_certificate", &self.ca_certificate)
            .finish()
    }
}
