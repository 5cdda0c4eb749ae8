//! The Graph `conditionalAccessPolicy` resource, field for field. What this crate evaluates is
//! typed; everything else (`devices`, `authenticationFlows`, `cloudAppSecurity`, …) lands in the
//! `extra` map of the object it belongs to and is written back unchanged, nulls included.
//!
//! Known properties are written back the way Graph returns them: a property that was absent
//! comes back as `null` (Graph lists every property), one that was present comes back as it was.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::enums::{
    ConditionalAccessClientApp, ConditionalAccessDevicePlatform, ConditionalAccessGrantControl,
    ConditionalAccessRiskLevel, GrantOperator, PersistentBrowserMode, PolicyState, SignInFrequencyAuthenticationType,
    SignInFrequencyInterval, SignInFrequencyType,
};
use crate::error::PolicyError;

/// Properties this crate does not interpret, kept verbatim.
pub type Extra = Map<String, Value>;

/// `includeUsers` / `excludeUsers` special values.
pub const ALL: &str = "All";
pub const NONE: &str = "None";
pub const GUESTS_OR_EXTERNAL_USERS: &str = "GuestsOrExternalUsers";
/// `includeApplications` special values besides `All` and `None`.
pub const OFFICE_365: &str = "Office365";
pub const MICROSOFT_ADMIN_PORTALS: &str = "MicrosoftAdminPortals";
/// `includeLocations` special value besides `All`.
pub const ALL_TRUSTED: &str = "AllTrusted";
/// `includeServicePrincipals` special value.
pub const SERVICE_PRINCIPALS_IN_MY_TENANT: &str = "ServicePrincipalsInMyTenant";
/// `includeUserActions` values.
pub const REGISTER_SECURITY_INFO: &str = "urn:user:registersecurityinfo";
pub const REGISTER_DEVICE: &str = "urn:user:registerdevice";

/// The items of an optional Graph collection (`null` and absent read as empty).
pub fn items<T>(list: &Option<Vec<T>>) -> &[T] {
    list.as_deref().unwrap_or(&[])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessPolicy {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// Absent reads as `Unknown("")`, which validation reports as missing.
    #[serde(default)]
    pub state: PolicyState,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub modified_date_time: Option<String>,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
    #[serde(default)]
    pub session_controls: Option<SessionControls>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ConditionalAccessPolicy {
    /// Parses Graph JSON. Only malformed JSON or a wrong JSON type fails here; unknown enum
    /// values and the like are left for [`crate::validate_policy`] to report.
    pub fn from_json(json: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(json)
            .map_err(|e| PolicyError::InvalidJson { what: "conditionalAccessPolicy", message: e.to_string() })
    }

    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        serde_json::from_value(value)
            .map_err(|e| PolicyError::InvalidJson { what: "conditionalAccessPolicy", message: e.to_string() })
    }

    /// The Graph JSON of this policy.
    pub fn to_value(&self) -> Value {
        // Serializing these types cannot fail: string keys, no non-finite floats.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The built-in grant controls, empty when there are no grant controls.
    pub fn built_in_controls(&self) -> &[ConditionalAccessGrantControl] {
        self.grant_controls.as_ref().map(|g| items(&g.built_in_controls)).unwrap_or(&[])
    }

    /// A workload-identity policy targets service principals instead of users.
    pub fn targets_workload_identities(&self) -> bool {
        self.conditions.client_applications.as_ref().is_some_and(|c| !items(&c.include_service_principals).is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default)]
    pub users: Option<UsersCondition>,
    #[serde(default)]
    pub applications: Option<ApplicationsCondition>,
    #[serde(default)]
    pub client_applications: Option<ClientApplicationsCondition>,
    #[serde(default)]
    pub locations: Option<LocationsCondition>,
    #[serde(default)]
    pub platforms: Option<PlatformsCondition>,
    #[serde(default)]
    pub client_app_types: Option<Vec<ConditionalAccessClientApp>>,
    #[serde(default)]
    pub sign_in_risk_levels: Option<Vec<ConditionalAccessRiskLevel>>,
    #[serde(default)]
    pub user_risk_levels: Option<Vec<ConditionalAccessRiskLevel>>,
    #[serde(default)]
    pub service_principal_risk_levels: Option<Vec<ConditionalAccessRiskLevel>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Users, groups and directory roles (role *template* ids, as in `wids`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersCondition {
    #[serde(default)]
    pub include_users: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_users: Option<Vec<String>>,
    #[serde(default)]
    pub include_groups: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_groups: Option<Vec<String>>,
    #[serde(default)]
    pub include_roles: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_roles: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationsCondition {
    #[serde(default)]
    pub include_applications: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_applications: Option<Vec<String>>,
    #[serde(default)]
    pub include_user_actions: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApplicationsCondition {
    /// `includeAuthenticationContextClassReferences`, which Ostiary keeps but never matches.
    pub fn authentication_contexts(&self) -> usize {
        self.extra.get("includeAuthenticationContextClassReferences").and_then(Value::as_array).map_or(0, Vec::len)
    }
}

/// Workload identities (service principals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientApplicationsCondition {
    #[serde(default)]
    pub include_service_principals: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_service_principals: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationsCondition {
    #[serde(default)]
    pub include_locations: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_locations: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformsCondition {
    #[serde(default)]
    pub include_platforms: Option<Vec<ConditionalAccessDevicePlatform>>,
    #[serde(default)]
    pub exclude_platforms: Option<Vec<ConditionalAccessDevicePlatform>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantControls {
    #[serde(default)]
    pub operator: Option<GrantOperator>,
    #[serde(default)]
    pub built_in_controls: Option<Vec<ConditionalAccessGrantControl>>,
    #[serde(default)]
    pub authentication_strength: Option<AuthenticationStrengthRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reference to an `authenticationStrengthPolicy`: `{"id": …}` in a request, the whole policy
/// in a response. Only `id` is typed so that both shapes round-trip unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationStrengthRef {
    #[serde(default)]
    pub id: String,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AuthenticationStrengthRef {
    /// The inline `allowedCombinations`, when Graph expanded the strength.
    pub fn allowed_combinations(&self) -> Option<Vec<&str>> {
        let list = self.extra.get("allowedCombinations")?.as_array()?;
        Some(list.iter().filter_map(Value::as_str).collect())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionControls {
    #[serde(default)]
    pub sign_in_frequency: Option<SignInFrequency>,
    #[serde(default)]
    pub persistent_browser: Option<PersistentBrowser>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInFrequency {
    #[serde(default)]
    pub value: Option<i64>,
    #[serde(default, rename = "type")]
    pub kind: Option<SignInFrequencyType>,
    #[serde(default)]
    pub authentication_type: Option<SignInFrequencyAuthenticationType>,
    #[serde(default)]
    pub frequency_interval: Option<SignInFrequencyInterval>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentBrowser {
    #[serde(default)]
    pub mode: Option<PersistentBrowserMode>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}
