//! `microsoft.graph.application` and the value types it shares with service principals:
//! app roles, permission scopes, credentials and platform settings.
//!
//! The nested value types are used in both directions and are strict (`deny_unknown_fields`)
//! so that they can be embedded in request bodies; they accept an optional `@odata.type`.

use crate::serde_util::{Null, double_option, must_be_null};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// `appRole`: a role that an application defines and that can be assigned to users, groups or
/// service principals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppRole {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub id: Uuid,
    /// `User` and/or `Application`.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    pub is_enabled: bool,
    /// The value that appears in the `roles` claim.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
}

/// `permissionScope`: a delegated permission (`scp` claim value) that an API exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PermissionScope {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
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
    /// `User` or `Admin` (JSON `type`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
}

/// `apiApplication`: settings of an application that exposes an API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiApplication {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// `1`, `2` or `null` (v1 tokens).
    #[serde(default)]
    pub requested_access_token_version: Option<i32>,
    #[serde(default)]
    pub oauth2_permission_scopes: Option<Vec<PermissionScope>>,
    #[serde(default)]
    pub accept_mapped_claims: Option<bool>,
    #[serde(default)]
    pub known_client_applications: Option<Vec<Uuid>>,
    #[serde(default)]
    pub pre_authorized_applications: Option<Vec<serde_json::Value>>,
    /// Ostiary extension: signing algorithm of access tokens issued for this API, `RS256`
    /// (default) or `ES256`.
    #[serde(default)]
    pub access_token_signing_algorithm: Option<String>,
}

/// `keyCredential`: a certificate credential. `key` (base64 DER of the certificate) is
/// write-only on Graph and `null` in responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyCredential {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub key_id: Option<Uuid>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `AsymmetricX509Cert` (JSON `type`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `Verify`.
    #[serde(default)]
    pub usage: Option<String>,
    /// Base64 (standard alphabet) of the certificate DER.
    #[serde(default)]
    pub key: Option<String>,
    /// Base64 of the SHA-1 thumbprint, as Graph reports it.
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
}

impl KeyCredential {
    /// The `type` of X.509 certificate credentials.
    pub const KIND_X509: &'static str = "AsymmetricX509Cert";
    /// The `usage` of credentials that verify client assertions.
    pub const USAGE_VERIFY: &'static str = "Verify";
}

/// `passwordCredential`: a client secret. `secretText` is returned only by `addPassword`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordCredential {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// `@odata.context`, present when the credential is a whole response (`addPassword`).
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(default)]
    pub key_id: Option<Uuid>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The first characters of the secret.
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    /// The secret itself, present only in the `addPassword` response.
    #[serde(default)]
    pub secret_text: Option<String>,
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
}

impl fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("hint", &self.hint)
            .field("start_date_time", &self.start_date_time)
            .field("end_date_time", &self.end_date_time)
            .field("secret_text", &self.secret_text.as_ref().map(|_| "<redacted>"))
            .field("custom_key_identifier", &self.custom_key_identifier)
            .finish()
    }
}

/// `implicitGrantSettings` of the web platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImplicitGrantSettings {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub enable_id_token_issuance: Option<bool>,
    #[serde(default)]
    pub enable_access_token_issuance: Option<bool>,
}

/// `webApplication`: redirect URIs and settings of confidential web apps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebApplication {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub logout_url: Option<String>,
    #[serde(default)]
    pub home_page_url: Option<String>,
    #[serde(default)]
    pub implicit_grant_settings: Option<ImplicitGrantSettings>,
    /// Reply URLs with an index (SAML `AssertionConsumerServiceIndex`).
    #[serde(default)]
    pub redirect_uri_settings: Option<Vec<RedirectUriSetting>>,
}

/// `redirectUriSettings` entry: a reply URL and its optional index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectUriSetting {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub uri: String,
    #[serde(default)]
    pub index: Option<i32>,
}

/// `spaApplication`: redirect URIs of single-page apps (PKCE, CORS-enabled token endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpaApplication {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
}

/// `publicClientApplication`: redirect URIs of native/desktop/mobile apps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublicClientApplication {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
}

/// `resourceAccess`: one permission of a [`RequiredResourceAccess`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceAccess {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The id of the app role or permission scope.
    pub id: Uuid,
    /// `Scope` (delegated) or `Role` (application) (JSON `type`).
    #[serde(rename = "type")]
    pub kind: String,
}

/// `requiredResourceAccess`: the permissions an application requires from one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The `appId` of the resource application.
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// Body of `POST /applications`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplicationCreate {
    /// `@odata.type` annotation (`#microsoft.graph.application`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `AzureADMyOrg` and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    /// Accepted only if empty: secrets are added with `addPassword`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spa: Option<SpaApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<PublicClientApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_fallback_public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// `None`, `SecurityGroup`, `All`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_membership_claims: Option<String>,
}

/// Body of `PATCH /applications/{id}`. Complex properties and collections replace the current
/// value whole; nullable strings are double options (absent = unchanged, `null` = clear).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplicationUpdate {
    /// `@odata.type` annotation (`#microsoft.graph.application`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    /// The full list: entries with a known `keyId` and no `key` keep the stored certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    /// Accepted only if it leaves the secrets unchanged: use `addPassword`/`removePassword`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spa: Option<SpaApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<PublicClientApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_fallback_public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub group_membership_claims: Option<Option<String>>,
}

/// The `microsoft.graph.application` resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Application {
    /// `#microsoft.graph.application`.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// The object id.
    pub id: Uuid,
    /// The client id.
    pub app_id: Uuid,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub sign_in_audience: Option<String>,
    pub identifier_uris: Vec<String>,
    pub app_roles: Vec<AppRole>,
    pub api: Option<ApiApplication>,
    pub key_credentials: Vec<KeyCredential>,
    pub password_credentials: Vec<PasswordCredential>,
    pub web: Option<WebApplication>,
    pub spa: Option<SpaApplication>,
    pub public_client: Option<PublicClientApplication>,
    pub is_fallback_public_client: Option<bool>,
    pub required_resource_access: Vec<RequiredResourceAccess>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub group_membership_claims: Option<String>,
    pub publisher_domain: Option<String>,
    pub created_date_time: Option<String>,
    pub deleted_date_time: Option<String>,
}

impl Application {
    /// The `@odata.type` value of applications.
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.application";
}

/// Body of `POST /applications/{id}/addPassword`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddPasswordRequest {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credential: Option<PasswordCredentialInput>,
}

must_be_null!(null_key_id, "keyId");
must_be_null!(null_secret_text, "secretText");
must_be_null!(null_hint, "hint");
must_be_null!(null_custom_key_identifier, "customKeyIdentifier");

/// The `passwordCredential` of an `addPassword` body. Graph clients sometimes serialise the
/// read-only `keyId`, `secretText`, `hint` and `customKeyIdentifier` as `null`: those keys are
/// accepted, but only with a `null` value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordCredentialInput {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// Read-only; always `None` after successful deserialisation.
    #[serde(default, deserialize_with = "null_key_id", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Null>,
    /// Read-only; always `None` after successful deserialisation.
    #[serde(default, deserialize_with = "null_secret_text", skip_serializing_if = "Option::is_none")]
    pub secret_text: Option<Null>,
    /// Read-only; always `None` after successful deserialisation.
    #[serde(default, deserialize_with = "null_hint", skip_serializing_if = "Option::is_none")]
    pub hint: Option<Null>,
    /// Read-only; always `None` after successful deserialisation.
    #[serde(default, deserialize_with = "null_custom_key_identifier", skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<Null>,
}

/// Body of `POST /applications/{id}/removePassword`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemovePasswordRequest {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub key_id: Uuid,
}
