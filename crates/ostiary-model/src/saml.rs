//! SAML single sign-on settings of an enterprise application (service principal): NameID and
//! attribute mappings, signing certificates (private keys sealed with the key-encryption key),
//! what to sign, and the SP's request-signing certificates.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Per-application SAML settings; absent until SAML is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlSettings {
    /// Default `RelayState` of IdP-initiated sign-ins (Graph `samlSingleSignOnSettings.relayState`).
    #[serde(default)]
    pub relay_state: Option<String>,
    /// NameID format: "emailAddress", "persistent", "transient" or "unspecified" (Graph's
    /// `samlNameIdClaim.nameIdFormat`; "default" is stored as "emailAddress").
    #[serde(default = "default_name_id_format")]
    pub name_id_format: String,
    /// The user property the NameID carries ("userPrincipalName", "mail", "objectId",
    /// "employeeId", "onPremisesSamAccountName"); ignored for transient NameIDs.
    #[serde(default = "default_name_id_source")]
    pub name_id_source: String,
    /// Entra's basic claim set (name, emailaddress, givenname, surname, objectidentifier, tenantid,
    /// displayname, identityprovider, authnmethodsreferences).
    #[serde(default = "yes")]
    pub include_basic_claims: bool,
    /// Additional attributes (and overrides of basic ones with the same full name).
    #[serde(default)]
    pub claims: Vec<SamlClaim>,
    /// "TokenOnly" (sign the assertion; Entra's default), "ResponseOnly" or "ResponseAndToken".
    #[serde(default = "default_signing_option")]
    pub signing_option: String,
    #[serde(default)]
    pub certificates: Vec<SamlCertificate>,
    /// SHA-1 thumbprint (upper-case hex) of the certificate that signs; the others are
    /// published in metadata only (rotation overlap).
    #[serde(default)]
    pub preferred_thumbprint: Option<String>,
    /// Certificates the SP signs its requests with (base64 DER).
    #[serde(default)]
    pub request_signing_certificates: Vec<String>,
    /// Refuse unsigned AuthnRequests and LogoutRequests.
    #[serde(default)]
    pub require_signed_requests: bool,
}

fn default_name_id_format() -> String {
    "emailAddress".into()
}
fn default_name_id_source() -> String {
    "userPrincipalName".into()
}
fn default_signing_option() -> String {
    "TokenOnly".into()
}
fn yes() -> bool {
    true
}

impl Default for SamlSettings {
    fn default() -> Self {
        SamlSettings {
            relay_state: None,
            name_id_format: default_name_id_format(),
            name_id_source: default_name_id_source(),
            include_basic_claims: true,
            claims: Vec::new(),
            signing_option: default_signing_option(),
            certificates: Vec::new(),
            preferred_thumbprint: None,
            request_signing_certificates: Vec::new(),
            require_signed_requests: false,
        }
    }
}

/// One attribute of the AttributeStatement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlClaim {
    /// Attribute name; with a namespace the full name is `{namespace}/{name}`.
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// "user" (a user property), "constant", "groups" (object ids of the user's groups) or
    /// "roles" (values of the app roles assigned to the user, directly or through groups).
    pub source: String,
    /// The user property for "user", the literal for "constant".
    #[serde(default)]
    pub value: Option<String>,
}

impl SamlClaim {
    pub fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{}/{}", ns.trim_end_matches('/'), self.name),
            _ => self.name.clone(),
        }
    }
}

/// A SAML token-signing certificate of one application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlCertificate {
    pub key_id: Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    /// SHA-1 thumbprint, upper-case hex (as the Entra portal and Graph show it).
    pub thumbprint: String,
    /// Certificate DER, base64.
    pub cert: String,
    /// PKCS#8 private key sealed with the key-encryption key (base64).
    pub sealed_private_key: String,
    pub kek_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
}

/// A reply URL's index for `AssertionConsumerServiceIndex` (Graph `web.redirectUriSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectUriSetting {
    pub uri: String,
    #[serde(default)]
    pub index: Option<i32>,
}
