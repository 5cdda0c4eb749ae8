//! Authentication of admin-API callers by our own bearer tokens, and the permission model of
//! the Graph-shaped API (application permissions carried in `roles`).

use crate::Core;
use crate::error::DirError;
use crate::graph::{GRAPH_APP_ID, GRAPH_IDENTIFIER};
use ostiary_crypto::jws::decode_unverified;
use ostiary_model::{ObjectId, TenantId};
use serde_json::Value;

/// Who is calling the admin API, from a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: TenantId,
    /// `azp`: the calling application's appId.
    pub app_id: String,
    /// `oid`: the calling service principal (or user, for delegated tokens).
    pub object_id: ObjectId,
    pub roles: Vec<String>,
    pub is_app: bool,
    /// The signed-in user's name on delegated tokens (`preferred_username`), for audit records.
    pub user_principal_name: Option<String>,
    /// The calling application's display name (from the tenant cache), for audit records.
    pub app_display_name: Option<String>,
    /// Where the request came from; the HTTP layer fills it in.
    pub ctx: crate::logs::RequestContext,
}

/// What an operation needs. Each maps to the Graph permissions that grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadUsers,
    WriteUsers,
    ReadGroups,
    WriteGroups,
    WriteMembers,
    ReadApps,
    WriteApps,
    WriteAppRoleAssignments,
    ReadAuditLogs,
    ReadPolicies,
    WriteConditionalAccess,
    WriteAuthMethodsPolicy,
    ReadAuthMethods,
    WriteAuthMethods,
    ReadRisk,
    WriteRisk,
    /// Inbound provisioning: the SCIM server's users and groups.
    Provision,
    /// Outbound provisioning jobs of service principals.
    ReadSynchronization,
    WriteSynchronization,
}

impl Permission {
    /// Graph permissions any one of which grants this.
    pub fn granted_by(self) -> &'static [&'static str] {
        match self {
            Permission::ReadUsers => {
                &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]
            }
            Permission::WriteUsers => &["User.ReadWrite.All", "Directory.ReadWrite.All"],
            Permission::ReadGroups => &[
                "Group.Read.All",
                "Group.ReadWrite.All",
                "GroupMember.Read.All",
                "GroupMember.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Permission::WriteGroups => &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
            Permission::WriteMembers => {
                &["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"]
            }
            Permission::ReadApps => {
                &["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]
            }
            Permission::WriteApps => &["Application.ReadWrite.All"],
            Permission::WriteAppRoleAssignments => &["AppRoleAssignment.ReadWrite.All"],
            // Entra wants AuditLog.Read.All; directory readers may read the logs here too, so
            // tenants bootstrapped before the permission existed keep working.
            Permission::ReadAuditLogs => &["AuditLog.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"],
            Permission::ReadPolicies => &[
                "Policy.Read.All",
                "Policy.ReadWrite.ConditionalAccess",
                "Policy.ReadWrite.AuthenticationMethod",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Permission::WriteConditionalAccess => &["Policy.ReadWrite.ConditionalAccess"],
            Permission::WriteAuthMethodsPolicy => &["Policy.ReadWrite.AuthenticationMethod"],
            Permission::ReadAuthMethods => {
                &["UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"]
            }
            Permission::WriteAuthMethods => &["UserAuthenticationMethod.ReadWrite.All"],
            Permission::ReadRisk => {
                &["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All", "IdentityRiskEvent.Read.All"]
            }
            Permission::WriteRisk => &["IdentityRiskyUser.ReadWrite.All"],
            Permission::Provision => &["SynchronizationData-User.Upload", "Directory.ReadWrite.All"],
            Permission::ReadSynchronization => &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
            Permission::WriteSynchronization => &["Synchronization.ReadWrite.All"],
        }
    }
}

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), DirError> {
        if p.granted_by().iter().any(|g| self.roles.iter().any(|r| r == g)) { Ok(()) } else { Err(DirError::Forbidden) }
    }

    pub fn has(&self, p: Permission) -> bool {
        self.require(p).is_ok()
    }
}

/// Why a bearer token was refused; rendered as 401 `InvalidAuthenticationToken`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

const SKEW: i64 = 300;

impl Core {
    /// Verifies a Graph bearer token issued by this server: signature by a key of the tenant
    /// in `tid`, issuer, Graph audience, lifetime.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Caller, AuthError> {
        let bad = |m: &str| AuthError(m.to_string());
        let jwt = decode_unverified(token).map_err(|_| bad("Access token is malformed."))?;
        let claim = |n: &str| jwt.claims.get(n).and_then(Value::as_str);
        let tenant: TenantId =
            claim("tid").and_then(|t| t.parse().ok()).ok_or_else(|| bad("Access token has no valid tenant."))?;
        let state = self.tenant_state(tenant).await.map_err(|_| bad("Access token validation failure."))?;
        let kid = jwt.kid().ok_or_else(|| bad("Access token has no key id."))?;
        let (alg, key) = state.keys.verifier(kid).ok_or_else(|| bad("Access token signing key is not recognised."))?;
        if jwt.alg().ok() != Some(*alg) {
            return Err(bad("Access token algorithm does not match its key."));
        }
        jwt.verify_with(key).map_err(|_| bad("Access token signature is invalid."))?;
        if claim("iss") != Some(self.config.issuer(tenant).as_str()) {
            return Err(bad("Access token issuer is invalid."));
        }
        let graph_id = GRAPH_APP_ID.to_string();
        let aud_ok = matches!(claim("aud"), Some(a) if a == graph_id || a.trim_end_matches('/') == GRAPH_IDENTIFIER);
        if !aud_ok {
            return Err(bad("Access token audience is not Microsoft Graph."));
        }
        let now = self.now().unix_timestamp();
        let num = |n: &str| jwt.claims.get(n).and_then(Value::as_i64);
        match num("exp") {
            Some(exp) if exp + SKEW > now => {}
            _ => return Err(bad("Lifetime validation failed, the token is expired.")),
        }
        if num("nbf").is_some_and(|nbf| nbf > now + SKEW) {
            return Err(bad("Lifetime validation failed, the token is not yet valid."));
        }
        let object_id: ObjectId =
            claim("oid").and_then(|o| o.parse().ok()).ok_or_else(|| bad("Access token has no object id."))?;
        let roles = jwt
            .claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        Ok(Caller {
            tenant,
            app_id: claim("azp").unwrap_or_default().to_string(),
            object_id,
            roles,
            is_app: claim("idtyp") == Some("app"),
            user_principal_name: claim("preferred_username").or(claim("upn")).map(str::to_string),
            app_display_name: claim("azp")
                .and_then(|a| uuid::Uuid::parse_str(a).ok())
                .and_then(|a| state.clients.get(&a))
                .map(|c| c.app.display_name.clone()),
            ctx: crate::logs::RequestContext::default(),
        })
    }
}
