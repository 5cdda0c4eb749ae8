//! Domain types of the directory: tenants, users, groups, applications, service principals and
//! their relationships, with validating helpers. Serde names follow Microsoft Graph so that stored
//! documents and `$filter` property names line up.

pub mod app;
pub mod error;
pub mod ids;
pub mod keys;
pub mod saml;
pub mod tenant;
pub mod user;
pub mod validate;

pub use app::{
    ApiApplication, AppRole, AppRoleAssignment, Application, KeyCredential, PasswordCredential, PermissionScope,
    PublicClientApplication, RequiredResourceAccess, ResourceAccess, ServicePrincipal, SpaApplication, WebApplication,
};
pub use error::ModelError;
pub use ids::{ObjectId, TenantId};
pub use keys::StoredSigningKey;
pub use saml::{RedirectUriSetting, SamlCertificate, SamlClaim, SamlSettings};
pub use tenant::Tenant;
pub use user::{Group, User};

use serde::{Deserialize, Serialize};

/// The kinds of directory object the store keeps in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    User,
    Group,
    Application,
    ServicePrincipal,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 4] =
        [ObjectKind::User, ObjectKind::Group, ObjectKind::Application, ObjectKind::ServicePrincipal];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
            ObjectKind::Application => "application",
            ObjectKind::ServicePrincipal => "servicePrincipal",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The `@odata.type` Graph puts on polymorphic directory objects.
    pub fn odata_type(self) -> &'static str {
        match self {
            ObjectKind::User => "#microsoft.graph.user",
            ObjectKind::Group => "#microsoft.graph.group",
            ObjectKind::Application => "#microsoft.graph.application",
            ObjectKind::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        }
    }
}

/// One directory object as stored. The variant decides the kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "object", rename_all = "camelCase")]
pub enum DirectoryObject {
    User(User),
    Group(Group),
    Application(Application),
    ServicePrincipal(ServicePrincipal),
}

impl DirectoryObject {
    pub fn id(&self) -> ObjectId {
        match self {
            DirectoryObject::User(u) => u.id,
            DirectoryObject::Group(g) => g.id,
            DirectoryObject::Application(a) => a.id,
            DirectoryObject::ServicePrincipal(s) => s.id,
        }
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            DirectoryObject::User(_) => ObjectKind::User,
            DirectoryObject::Group(_) => ObjectKind::Group,
            DirectoryObject::Application(_) => ObjectKind::Application,
            DirectoryObject::ServicePrincipal(_) => ObjectKind::ServicePrincipal,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            DirectoryObject::User(u) => &u.display_name,
            DirectoryObject::Group(g) => &g.display_name,
            DirectoryObject::Application(a) => &a.display_name,
            DirectoryObject::ServicePrincipal(s) => &s.display_name,
        }
    }

    /// The body stored in the `doc` column: the inner object alone, so JSON paths equal Graph names.
    pub fn to_doc(&self) -> serde_json::Value {
        let r = match self {
            DirectoryObject::User(u) => serde_json::to_value(u),
            DirectoryObject::Group(g) => serde_json::to_value(g),
            DirectoryObject::Application(a) => serde_json::to_value(a),
            DirectoryObject::ServicePrincipal(s) => serde_json::to_value(s),
        };
        r.unwrap_or(serde_json::Value::Null)
    }

    pub fn from_doc(kind: ObjectKind, doc: serde_json::Value) -> Result<Self, ModelError> {
        let bad = |e: serde_json::Error| ModelError::Corrupt(format!("{} document: {e}", kind.as_str()));
        Ok(match kind {
            ObjectKind::User => DirectoryObject::User(serde_json::from_value(doc).map_err(bad)?),
            ObjectKind::Group => DirectoryObject::Group(serde_json::from_value(doc).map_err(bad)?),
            ObjectKind::Application => DirectoryObject::Application(serde_json::from_value(doc).map_err(bad)?),
            ObjectKind::ServicePrincipal => {
                DirectoryObject::ServicePrincipal(serde_json::from_value(doc).map_err(bad)?)
            }
        })
    }

    /// Values that must be unique within a tenant, as (namespace, normalised value).
    /// The store enforces them in one table, so no backend needs to know the object types.
    pub fn unique_keys(&self) -> Vec<(&'static str, String)> {
        match self {
            DirectoryObject::User(u) => vec![("upn", u.user_principal_name.to_lowercase())],
            DirectoryObject::Group(_) => vec![],
            DirectoryObject::Application(a) => {
                let mut v = vec![("appId", a.app_id.to_string())];
                for uri in &a.identifier_uris {
                    v.push(("identifierUri", uri.to_lowercase()));
                }
                v
            }
            DirectoryObject::ServicePrincipal(s) => vec![("spAppId", s.app_id.to_string())],
        }
    }
}
