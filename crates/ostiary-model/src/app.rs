//! Applications (the global definition of an app), service principals (its instance in a
//! tenant), the permissions they define, their credentials and app-role assignments.

use crate::ids::ObjectId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: Uuid,
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    pub is_enabled: bool,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: Uuid,
    #[serde(default)]
    pub admin_consent_description: Option<String>,
    #[serde(default)]
    pub admin_consent_display_name: Option<String>,
    #[serde(default)]
    pub user_consent_description: Option<String>,
    #[serde(default)]
    pub user_consent_display_name: Option<String>,
    pub is_enabled: bool,
    /// "User" or "Admin".
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    #[serde(default)]
    pub requested_access_token_version: Option<i32>,
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    #[serde(default)]
    pub accept_mapped_claims: Option<bool>,
    #[serde(default)]
    pub known_client_applications: Vec<Uuid>,
    /// Ostiary extension: algorithm for access tokens issued *for* this API ("RS256" default, "ES256").
    #[serde(default)]
    pub access_token_signing_algorithm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    /// First three characters of the secret, as Graph shows.
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
    /// Salted SHA-256 of the secret (see `ostiary_crypto::secret`). Never serialised to clients.
    pub secret_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    /// "AsymmetricX509Cert".
    #[serde(rename = "type")]
    pub kind: String,
    /// "Verify".
    pub usage: String,
    /// Base64 of the SHA-1 thumbprint, as Graph reports it.
    pub custom_key_identifier: String,
    /// Base64url SHA-256 thumbprint, for `x5t#S256` lookups.
    pub sha256_thumbprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
    /// Certificate DER, base64 (standard alphabet).
    pub key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub logout_url: Option<String>,
    #[serde(default)]
    pub home_page_url: Option<String>,
    /// Reply URLs with an index (SAML `AssertionConsumerServiceIndex`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uri_settings: Vec<crate::saml::RedirectUriSetting>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaApplication {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicClientApplication {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccess {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: ObjectId,
    pub app_id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub sign_in_audience: String,
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    #[serde(default)]
    pub api: ApiApplication,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    #[serde(default)]
    pub web: WebApplication,
    #[serde(default)]
    pub spa: SpaApplication,
    #[serde(default)]
    pub public_client: PublicClientApplication,
    #[serde(default)]
    pub is_fallback_public_client: Option<bool>,
    #[serde(default)]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub group_membership_claims: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: ObjectId,
    pub app_id: Uuid,
    pub display_name: String,
    pub account_enabled: bool,
    /// "Application" or "ManagedIdentity".
    pub service_principal_type: String,
    pub app_role_assignment_required: bool,
    pub app_owner_organization_id: Option<Uuid>,
    #[serde(default)]
    pub service_principal_names: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Copied from the application (kept in sync on application updates); first-party
    /// resources such as Microsoft Graph have no application object in the tenant.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    #[serde(default)]
    pub sign_in_audience: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Ostiary extension copied from the application's `api`.
    #[serde(default)]
    pub access_token_signing_algorithm: Option<String>,
    /// "saml", "oidc", "password", "notSupported" or none.
    #[serde(default)]
    pub preferred_single_sign_on_mode: Option<String>,
    /// Sign-on URL (where SP-initiated sign-in starts, for the My Apps link).
    #[serde(default)]
    pub login_url: Option<String>,
    /// The SP's SAML single-logout URL (HTTP-Redirect binding).
    #[serde(default)]
    pub logout_url: Option<String>,
    /// SAML settings; never shown as such (Graph renders the Entra-shaped parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ostiary_saml: Option<crate::saml::SamlSettings>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

/// A grant of an app role of a resource service principal to a user, group or service principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: String,
    pub app_role_id: Uuid,
    pub principal_id: ObjectId,
    pub resource_id: ObjectId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    /// Filled in by the store on reads ("User", "Group", "ServicePrincipal").
    #[serde(default)]
    pub principal_type: String,
    #[serde(default)]
    pub principal_display_name: String,
    #[serde(default)]
    pub resource_display_name: String,
}
