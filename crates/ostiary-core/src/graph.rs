//! The built-in Microsoft Graph resource: its well-known appId, identifier, and the
//! application permissions it exposes as app roles (Microsoft's own role ids, so that
//! `requiredResourceAccess` copied from Entra keeps meaning the same thing).

use ostiary_model::{AppRole, ObjectId, ServicePrincipal, TenantId};
use time::OffsetDateTime;
use uuid::{Uuid, uuid};

pub const GRAPH_APP_ID: Uuid = uuid!("00000003-0000-0000-c000-000000000000");
pub const GRAPH_IDENTIFIER: &str = "https://graph.microsoft.com";
/// Microsoft's tenant id, owner of first-party apps.
pub const MICROSOFT_TENANT: Uuid = uuid!("f8cdef31-a31e-4b4a-93e4-5f571e91255a");

/// (permission, Microsoft's app-role id, description)
pub const GRAPH_APP_PERMISSIONS: &[(&str, Uuid, &str)] = &[
    ("User.Read.All", uuid!("df021288-bdef-4463-88db-98f22de89214"), "Read all users' full profiles"),
    ("User.ReadWrite.All", uuid!("741f803b-c850-494e-b5df-cde7c675a1ca"), "Read and write all users' full profiles"),
    ("Group.Read.All", uuid!("5b567255-7703-4780-807c-7be8301ae99b"), "Read all groups"),
    ("Group.ReadWrite.All", uuid!("62a82d76-70ea-41e2-9197-370581804d09"), "Read and write all groups"),
    ("GroupMember.Read.All", uuid!("98830695-27a2-44f7-8c18-0c3ebc9698f6"), "Read all group memberships"),
    (
        "GroupMember.ReadWrite.All",
        uuid!("dbaae8cf-10b5-4b86-a4a1-f871c94c6695"),
        "Read and write all group memberships",
    ),
    ("Application.Read.All", uuid!("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"), "Read all applications"),
    ("Application.ReadWrite.All", uuid!("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"), "Read and write all applications"),
    (
        "AppRoleAssignment.ReadWrite.All",
        uuid!("06b708a9-e830-4db3-a914-8e69da51d44f"),
        "Manage app permission grants and app role assignments",
    ),
    ("Directory.Read.All", uuid!("7ab1d382-f21e-4acd-a863-ba3e13f7da61"), "Read directory data"),
    ("Directory.ReadWrite.All", uuid!("19dbc75e-c2e2-444c-a770-ec69d8559fc7"), "Read and write directory data"),
    (
        "DelegatedPermissionGrant.ReadWrite.All",
        uuid!("8e8e4742-1d95-4f68-9d56-6ee75648c72a"),
        "Manage all delegated permission grants",
    ),
    ("AuditLog.Read.All", uuid!("b0afded3-3588-46d8-8b3d-9842eddd2f6e"), "Read all audit log data"),
    ("Policy.Read.All", uuid!("246dd0d5-5bd0-4def-940b-0421030a5b68"), "Read your organization's policies"),
    (
        "Policy.ReadWrite.ConditionalAccess",
        uuid!("01c0a623-fc9b-48e9-b794-0756f8e8f067"),
        "Read and write your organization's conditional access policies",
    ),
    (
        "Policy.ReadWrite.AuthenticationMethod",
        uuid!("29c18626-4985-4dcd-85c0-193eef327366"),
        "Read and write all authentication method policies",
    ),
    (
        "UserAuthenticationMethod.Read.All",
        uuid!("38d9df27-64da-44fd-b7c5-a6fbac20248f"),
        "Read all users' authentication methods",
    ),
    (
        "UserAuthenticationMethod.ReadWrite.All",
        uuid!("50483e42-d915-4231-9639-7fdb7fd190e5"),
        "Read and write all users' authentication methods",
    ),
    (
        "IdentityRiskEvent.Read.All",
        uuid!("6e472fd1-ad78-48da-a0f0-97ab2c6b769e"),
        "Read all identity risk event information",
    ),
    (
        "IdentityRiskyUser.Read.All",
        uuid!("dc5007c0-2d7d-4c42-879c-2dab87571379"),
        "Read all identity risky user information",
    ),
    (
        "IdentityRiskyUser.ReadWrite.All",
        uuid!("656f6061-f9fe-4807-9708-6a2e0934df76"),
        "Read and write all risky user information",
    ),
    // Ids as published in Microsoft Graph's permissions reference.
    (
        "SynchronizationData-User.Upload",
        uuid!("db31e92a-b9ea-4d87-bf6a-75a37a9ca35a"),
        "Upload user data to the identity synchronization service",
    ),
    ("Synchronization.Read.All", uuid!("5ba43d2f-fa88-4db2-bd1c-a67c5f0fb1ce"), "Read all AAD synchronization data"),
    (
        "Synchronization.ReadWrite.All",
        uuid!("9b50c33d-700f-43b1-b2eb-87e89b703581"),
        "Read and write all AAD synchronization data",
    ),
];

/// OIDC scopes every resource accepts in grants (Entra models them as Graph scopes).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Delegated permissions of Microsoft Graph (Microsoft's scope ids).
pub const GRAPH_DELEGATED_SCOPES: &[(&str, Uuid, &str)] = &[
    ("User.Read", uuid!("e1fe6dd8-ba31-4d61-89e7-88639da4683d"), "Sign in and read user profile"),
    ("User.ReadBasic.All", uuid!("b340eb25-3456-403f-be2f-af7a0d370277"), "Read all users' basic profiles"),
    ("openid", uuid!("37f7f235-527c-4136-accd-4a02d197296e"), "Sign users in"),
    ("profile", uuid!("14dad69e-099b-42c9-810b-d002981feec1"), "View users' basic profile"),
    ("email", uuid!("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"), "View users' email address"),
    (
        "offline_access",
        uuid!("7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
        "Maintain access to data you have given it access to",
    ),
];

/// The permissions the bootstrap admin application is granted.
pub const BOOTSTRAP_PERMISSIONS: &[&str] = &[
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Directory.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AuditLog.Read.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod",
    "UserAuthenticationMethod.ReadWrite.All",
    "IdentityRiskEvent.Read.All",
    "IdentityRiskyUser.ReadWrite.All",
    "SynchronizationData-User.Upload",
    "Synchronization.ReadWrite.All",
];

pub fn role_id(permission: &str) -> Option<Uuid> {
    GRAPH_APP_PERMISSIONS.iter().find(|(p, _, _)| *p == permission).map(|(_, id, _)| *id)
}

/// The tenant's service principal for Microsoft Graph (first-party: no application object).
pub fn graph_service_principal(id: ObjectId, _tenant: TenantId, now: OffsetDateTime) -> ServicePrincipal {
    ServicePrincipal {
        id,
        app_id: GRAPH_APP_ID,
        display_name: "Microsoft Graph".into(),
        account_enabled: true,
        service_principal_type: "Application".into(),
        app_role_assignment_required: false,
        app_owner_organization_id: Some(MICROSOFT_TENANT),
        service_principal_names: vec![
            GRAPH_APP_ID.to_string(),
            GRAPH_IDENTIFIER.into(),
            format!("{GRAPH_IDENTIFIER}/"),
        ],
        tags: vec![],
        app_roles: GRAPH_APP_PERMISSIONS
            .iter()
            .map(|(value, id, desc)| AppRole {
                id: *id,
                allowed_member_types: vec!["Application".into()],
                description: Some(format!("Allows the app to {}.", desc.to_lowercase())),
                display_name: Some((*desc).into()),
                is_enabled: true,
                value: Some((*value).into()),
                origin: Some("Application".into()),
            })
            .collect(),
        oauth2_permission_scopes: GRAPH_DELEGATED_SCOPES
            .iter()
            .map(|(value, id, desc)| ostiary_model::PermissionScope {
                id: *id,
                admin_consent_description: Some(format!("Allows the app to {}.", desc.to_lowercase())),
                admin_consent_display_name: Some((*desc).into()),
                user_consent_description: Some(format!("Allows the app to {}.", desc.to_lowercase())),
                user_consent_display_name: Some((*desc).into()),
                is_enabled: true,
                kind: Some("User".into()),
                value: Some((*value).into()),
            })
            .collect(),
        sign_in_audience: Some("AzureADMultipleOrgs".into()),
        description: None,
        notes: None,
        access_token_signing_algorithm: None,
        preferred_single_sign_on_mode: None,
        login_url: None,
        logout_url: None,
        ostiary_saml: None,
        created_date_time: now,
    }
}
