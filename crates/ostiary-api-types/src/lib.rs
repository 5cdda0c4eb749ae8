//! Microsoft Graph v1.0 and Entra token-endpoint JSON shapes spoken by Ostiary's admin API.
//!
//! Request bodies (`*Create`, `*Update`, action bodies) are strict: they use
//! `deny_unknown_fields`, so a misspelt or unsupported property fails deserialisation with a
//! serde error that names it, and the server can answer a Graph-shaped `Request_BadRequest`.
//! They all accept the `@odata.type` annotation that kiota-based SDKs (msgraph-sdk) send.
//! Response shapes are lenient (unknown properties are ignored, missing ones default) so that
//! `$select`ed responses still parse.
//!
//! Nullable string properties of PATCH bodies are `Option<Option<T>>`: absent means "unchanged",
//! `null` means "clear" (see [`double_option`]).

mod application;
mod directory;
mod error;
mod group;
mod serde_util;
mod service_principal;
mod token;
mod user;

pub use application::{
    AddPasswordRequest, ApiApplication, AppRole, Application, ApplicationCreate, ApplicationUpdate,
    ImplicitGrantSettings, KeyCredential, PasswordCredential, PasswordCredentialInput, PermissionScope,
    PublicClientApplication, RedirectUriSetting, RemovePasswordRequest, RequiredResourceAccess, ResourceAccess,
    SpaApplication, WebApplication,
};
pub use directory::{Collection, DirectoryObject, ReferenceCreate};
pub use error::{GraphError, GraphErrorBody, InnerError, OAuthErrorBody};
pub use group::{Group, GroupCreate, GroupUpdate};
pub use serde_util::{Null, double_option};
pub use service_principal::{
    AppRoleAssignment, AppRoleAssignmentCreate, SamlSingleSignOnSettings, ServicePrincipal, ServicePrincipalCreate,
    ServicePrincipalUpdate,
};
pub use token::{BootstrapCredentials, TokenResponse};
pub use user::{ObjectIdentity, PasswordProfile, User, UserCreate, UserUpdate};

/// The scope a daemon requests to call Microsoft Graph (and Ostiary's Graph-shaped admin API).
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The `appId` of Microsoft Graph's own service principal.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The base that Graph clients use in `@odata.id` references (`…/directoryObjects/{id}`).
pub const GRAPH_DIRECTORY_OBJECTS_BASE: &str = "https://graph.microsoft.com/v1.0/directoryObjects/";

#[cfg(test)]
mod tests;
