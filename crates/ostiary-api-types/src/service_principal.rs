//! `microsoft.graph.servicePrincipal` and `microsoft.graph.appRoleAssignment`.

use crate::application::{AppRole, KeyCredential, PasswordCredential, PermissionScope};
use crate::serde_util::double_option;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Body of `POST /servicePrincipals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicePrincipalCreate {
    /// `@odata.type` annotation (`#microsoft.graph.servicePrincipal`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The `appId` of the application to instantiate.
    pub app_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_assignment_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Body of `PATCH /servicePrincipals/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicePrincipalUpdate {
    /// `@odata.type` annotation (`#microsoft.graph.servicePrincipal`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_assignment_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// "saml", "oidc", "password", "notSupported" or null.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub preferred_single_sign_on_mode: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub login_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<Option<String>>,
    /// Which SAML signing certificate signs (SHA-1 thumbprint, hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_token_signing_key_thumbprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml_single_sign_on_settings: Option<SamlSingleSignOnSettings>,
}

/// `samlSingleSignOnSettings`: Graph's `relayState`, plus Ostiary's extensions (Entra keeps
/// these in the portal or in token-issuance policies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SamlSingleSignOnSettings {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<Option<String>>,
    /// "TokenOnly" (sign the assertion), "ResponseOnly" or "ResponseAndToken".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_option: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_requests: Option<bool>,
    /// The SP's request-signing certificates (base64 DER or PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signing_certificates: Option<Vec<String>>,
}

/// The `microsoft.graph.servicePrincipal` resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// `#microsoft.graph.servicePrincipal`.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The object id of the service principal.
    pub id: Uuid,
    /// The client id of its application.
    pub app_id: Uuid,
    pub app_display_name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub account_enabled: Option<bool>,
    /// `Application`, `ManagedIdentity`, …
    pub service_principal_type: Option<String>,
    pub app_role_assignment_required: Option<bool>,
    pub app_owner_organization_id: Option<Uuid>,
    pub service_principal_names: Vec<String>,
    pub app_roles: Vec<AppRole>,
    pub oauth2_permission_scopes: Vec<PermissionScope>,
    pub tags: Vec<String>,
    pub reply_urls: Vec<String>,
    pub sign_in_audience: Option<String>,
    pub key_credentials: Vec<KeyCredential>,
    pub password_credentials: Vec<PasswordCredential>,
    pub created_date_time: Option<String>,
    pub deleted_date_time: Option<String>,
}

impl ServicePrincipal {
    /// The `@odata.type` value of service principals.
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.servicePrincipal";
}

/// Body of `POST /servicePrincipals/{resource}/appRoleAssignedTo` (and
/// `/users/{id}/appRoleAssignments`, `/groups/{id}/appRoleAssignments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppRoleAssignmentCreate {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The user, group or service principal being granted the role.
    pub principal_id: Uuid,
    /// The resource service principal that defines the role.
    pub resource_id: Uuid,
    /// The app role id; the nil GUID means default access.
    pub app_role_id: Uuid,
}

/// The `microsoft.graph.appRoleAssignment` resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppRoleAssignment {
    /// `#microsoft.graph.appRoleAssignment`.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// Opaque id.
    pub id: String,
    pub app_role_id: Uuid,
    pub principal_id: Uuid,
    /// `User`, `Group` or `ServicePrincipal`.
    pub principal_type: Option<String>,
    pub principal_display_name: Option<String>,
    pub resource_id: Uuid,
    pub resource_display_name: Option<String>,
    pub created_date_time: Option<String>,
    pub deleted_date_time: Option<String>,
}

impl AppRoleAssignment {
    /// The `@odata.type` value of app role assignments.
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.appRoleAssignment";
}
