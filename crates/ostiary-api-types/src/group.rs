//! `microsoft.graph.group`: the create and update bodies of `/groups` and the resource itself.

use crate::serde_util::double_option;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Body of `POST /groups`. The server enforces Graph's required properties (`displayName`,
/// `mailEnabled`, `mailNickname`, `securityEnabled`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupCreate {
    /// `@odata.type` annotation (`#microsoft.graph.group`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    /// `[]`, `["Unified"]`, `["DynamicMembership"]`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types: Option<Vec<String>>,
    /// `Public`, `Private`, `HiddenMembership`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_assignable_to_role: Option<bool>,
    /// Initial members as `@odata.id` URLs (`https://graph.microsoft.com/v1.0/directoryObjects/{id}`).
    #[serde(rename = "members@odata.bind", default, skip_serializing_if = "Option::is_none")]
    pub members_bind: Option<Vec<String>>,
    /// Initial owners as `@odata.id` URLs.
    #[serde(rename = "owners@odata.bind", default, skip_serializing_if = "Option::is_none")]
    pub owners_bind: Option<Vec<String>>,
}

/// Body of `PATCH /groups/{id}`. `description` and `visibility` are nullable (absent =
/// unchanged, `null` = clear).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupUpdate {
    /// `@odata.type` annotation (`#microsoft.graph.group`), ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
}

/// The `microsoft.graph.group` resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    /// `#microsoft.graph.group`.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub id: Uuid,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub mail_enabled: Option<bool>,
    pub mail_nickname: Option<String>,
    pub mail: Option<String>,
    pub security_enabled: Option<bool>,
    pub group_types: Vec<String>,
    pub membership_rule: Option<String>,
    pub membership_rule_processing_state: Option<String>,
    pub is_assignable_to_role: Option<bool>,
    pub visibility: Option<String>,
    pub proxy_addresses: Vec<String>,
    pub created_date_time: Option<String>,
    pub deleted_date_time: Option<String>,
}

impl Group {
    /// The `@odata.type` value of groups.
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.group";
}
