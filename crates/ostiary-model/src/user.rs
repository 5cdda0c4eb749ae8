//! Users and groups.

use crate::ids::ObjectId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A user account. Graph-visible properties use Graph's names; the password hash is internal
/// and never leaves the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: ObjectId,
    pub account_enabled: bool,
    pub display_name: String,
    pub user_principal_name: String,
    pub mail_nickname: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub street_address: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    /// "Member" or "Guest".
    pub user_type: String,
    #[serde(default)]
    pub other_mails: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    /// Argon2id PHC string; `None` for accounts that cannot sign in with a password.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub force_change_password_next_sign_in: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_password_change_date_time: Option<OffsetDateTime>,
    /// The provisioning client's identifier for this user (SCIM `externalId`), kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Set on every write through the directory use cases (SCIM `meta.lastModified`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// The SCIM resource as last written over SCIM (attributes Graph has no property for, and
    /// the exact values sent); internal, never shown by Graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ostiary_scim: Option<serde_json::Value>,
}

/// A group. Only security groups carry membership semantics today; `groupTypes` is stored
/// as given so that `groupTypes/any(c:c eq 'Unified')` filters behave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: ObjectId,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub mail_enabled: bool,
    pub mail_nickname: String,
    pub security_enabled: bool,
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub is_assignable_to_role: Option<bool>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    /// SCIM `externalId`, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub last_modified_date_time: Option<OffsetDateTime>,
}
