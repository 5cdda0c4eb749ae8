//! Tokens for users: ID tokens, delegated access tokens (`scp`, user `roles`, `wids`,
//! `groups` with overage), refresh tokens rotated on every use with reuse detection that
//! revokes the whole family, authorization-code redemption (single use, PKCE), the device-code
//! grant, on-behalf-of, and UserInfo. Codes, refresh tokens and device codes are stored only as
//! hashes (`signin::secret_key`).

use crate::Core;
use crate::cache::{ClientEntry, TenantState};
use crate::signin::secret_key;
use ostiary_crypto::jws::Alg;
use ostiary_model::{DirectoryObject, ObjectId, ObjectKind, ServicePrincipal, TenantId, User};
use ostiary_oauth::{DelegatedScopes, OAuthError};
use ostiary_store::{KvEntry, KvOp, ListQuery, Relation, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Lifetime of authorization codes (Entra: about 10 minutes).
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// Device codes (Entra default: 15 minutes) and the polling interval clients are told.
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(15);
pub const DEVICE_POLL_INTERVAL: i64 = 5;
/// Above this many groups, tokens carry the overage form instead of `groups` (JWT limit).
pub const GROUPS_OVERAGE_LIMIT: usize = 200;

/// What a user authorised a client to do on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantContext {
    pub client_id: uuid::Uuid,
    pub user_id: ObjectId,
    /// Resource service principal object id.
    pub resource: ObjectId,
    /// Scope values on the resource (never `.default`: resolved at grant time).
    pub scopes: Vec<String>,
    /// OIDC scopes requested (openid, profile, email, offline_access).
    pub oidc: Vec<String>,
    pub auth_time: i64,
    pub nonce: Option<String>,
    /// Family of refresh tokens this grant starts or continues.
    pub family_id: String,
    /// Unix time the family started (absolute refresh lifetime counts from here).
    pub family_created: i64,
    /// Authentication methods proven at sign-in (`password`, `softwareOath`, `fido2`,
    /// `recoveryCode`): Conditional Access re-evaluates every redemption and refresh against them.
    #[serde(default)]
    pub methods: Vec<String>,
    /// When multifactor authentication last succeeded (unix seconds).
    #[serde(default)]
    pub mfa_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeDoc {
    grant: GrantContext,
    redirect_uri: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    redeemed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshDoc {
    grant: GrantContext,
    /// Set once this token has been exchanged; presenting it again is reuse.
    rotated: bool,
    /// SPA refresh tokens have a fixed 24 h lifetime, as in Entra.
    spa: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDoc {
    pub client_id: uuid::Uuid,
    pub scopes: Vec<String>,
    pub user_code: String,
    /// "pending", "approved", "denied", "redeemed".
    pub status: String,
    pub grant: Option<GrantContext>,
    pub last_poll: i64,
}

/// The token endpoint's answer for user grants.
#[derive(Debug, Clone)]
pub struct UserTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    /// Space-separated, resource-qualified scopes as Entra returns them.
    pub scope: String,
    pub client_info: Option<String>,
    /// Who the tokens are for, and the resource (for the sign-in log; never sent).
    pub user_id: ObjectId,
    pub user_principal_name: String,
    pub user_display_name: String,
    pub resource_app_id: String,
    pub resource_display_name: String,
}

/// Entra's pairwise `sub`: stable per (user, application), different across applications.
pub fn pairwise_sub(tenant: TenantId, user: ObjectId, app_id: &str) -> String {
    let h = ostiary_crypto::digest::sha256(format!("{tenant}/{user}/{app_id}").as_bytes());
    ostiary_crypto::b64::url_encode(&h)
}

/// MSAL's `client_info`: base64url of `{"uid": oid, "utid": tid}`.
pub fn client_info(tenant: TenantId, user: ObjectId) -> String {
    ostiary_crypto::b64::url_encode(
        json!({ "uid": user.to_string(), "utid": tenant.to_string() }).to_string().as_bytes(),
    )
}

fn store_err(e: StoreError) -> OAuthError {
    tracing::error!(error = %e, "store error on the token path");
    OAuthError::temporarily_unavailable()
}

fn kv(kind: &str, key: String, doc: Value, expires_at: OffsetDateTime, user: ObjectId, family: &str) -> KvEntry {
    KvEntry {
        kind: kind.into(),
        key,
        doc,
        version: 1,
        expires_at: Some(expires_at),
        user_id: Some(user),
        family_id: Some(family.to_string()),
    }
}

/// Resolves requested scopes to a resource service principal and validated scope values.
pub fn resolve_resource(state: &TenantState, parsed: &DelegatedScopes) -> Result<Arc<ServicePrincipal>, OAuthError> {
    let name = parsed.resource.clone().unwrap_or_else(|| crate::graph::GRAPH_IDENTIFIER.to_string());
    let sp = state.resource(&name).cloned().ok_or_else(|| OAuthError::resource_not_found(&name))?;
    if !sp.account_enabled {
        return Err(OAuthError::resource_not_found(&name));
    }
    for v in &parsed.scopes {
        let known = v == ".default"
            || crate::graph::OIDC_SCOPES.contains(&v.as_str())
            || sp.oauth2_permission_scopes.iter().any(|s| s.is_enabled && s.value.as_deref() == Some(v.as_str()));
        if !known {
            return Err(OAuthError::invalid_scope(&format!(
                "The scope '{}' does not exist on resource '{}'.",
                ostiary_oauth::error::sanitize(v),
                sp.display_name
            )));
        }
    }
    Ok(sp)
}

impl Core {
    async fn user(&self, tenant: TenantId, id: ObjectId) -> Result<User, OAuthError> {
        match self.store.get_object(tenant, id).await.map_err(store_err)? {
            Some(DirectoryObject::User(u)) if u.account_enabled => Ok(u),
            Some(DirectoryObject::User(_)) => Err(OAuthError::user_disabled()),
            _ => Err(OAuthError::new(
                ostiary_oauth::ErrorKind::InvalidGrant,
                50034,
                "The user account does not exist in the directory.",
            )),
        }
    }

    /// Values of the resource's enabled user roles granted to the user, directly or via groups.
    pub(crate) fn user_roles(state: &TenantState, resource: &ServicePrincipal, principals: &[ObjectId]) -> Vec<String> {
        let mut roles = BTreeSet::new();
        for p in principals {
            if let Some(ids) = state.grants.get(&(*p, resource.id)) {
                for r in &resource.app_roles {
                    if r.is_enabled
                        && ids.contains(&r.id)
                        && r.allowed_member_types.iter().any(|t| t == "User")
                        && let Some(v) = &r.value
                    {
                        roles.insert(v.clone());
                    }
                }
            }
        }
        roles.into_iter().collect()
    }

    pub(crate) async fn transitive_groups(
        &self,
        tenant: TenantId,
        user: ObjectId,
    ) -> Result<Vec<ObjectId>, OAuthError> {
        let mut out = Vec::new();
        let mut q = ListQuery { top: 999, cast: Some(ObjectKind::Group), ..ListQuery::default() };
        loop {
            let page = self
                .store
                .list_related(tenant, Relation::MemberOf { object: user, transitive: true }, &q)
                .await
                .map_err(store_err)?;
            out.extend(page.items.iter().map(DirectoryObject::id));
            match page.next {
                Some(n) if out.len() < 5000 => q.skip_token = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// Adds `groups` (or the overage form) and `wids` per `groupMembershipClaims`.
    async fn group_claims(
        &self,
        tenant: TenantId,
        user: ObjectId,
        setting: Option<&str>,
        groups: &[ObjectId],
        claims: &mut Value,
    ) -> Result<(), OAuthError> {
        let setting = setting.unwrap_or("None");
        if matches!(setting, "SecurityGroup" | "All" | "ApplicationGroup") {
            if groups.len() > GROUPS_OVERAGE_LIMIT {
                claims["_claim_names"] = json!({ "groups": "src1" });
                claims["_claim_sources"] = json!({ "src1": { "endpoint": format!("{}/v1.0/users/{user}/getMemberObjects", self.config.public_base) } });
            } else {
                claims["groups"] = json!(groups.iter().map(ObjectId::to_string).collect::<Vec<_>>());
            }
        }
        if matches!(setting, "DirectoryRole" | "All") {
            let wids = self.directory_roles(tenant, user).await.map_err(store_err)?;
            if !wids.is_empty() {
                claims["wids"] = json!(wids);
            }
        }
        Ok(())
    }

    /// Issues the access token (and ID token when `openid` was granted) for `grant`, plus a new
    /// refresh token of the family when `offline_access` was granted; returns the KV insert of
    /// that refresh token so callers commit it atomically with whatever consumed the grant.
    #[allow(clippy::too_many_arguments)]
    async fn issue_user_tokens(
        &self,
        state: &TenantState,
        client: &ClientEntry,
        grant: &GrantContext,
        azpacr: &str,
        want_client_info: bool,
        spa: bool,
        audit: &mut crate::token::TokenAudit,
    ) -> Result<(UserTokens, Option<KvOp>), OAuthError> {
        let tenant = state.tenant.id;
        let now = self.now();
        let iat = now.unix_timestamp();
        let user = self.user(tenant, grant.user_id).await?;
        audit.user = Some((user.id, user.user_principal_name.clone(), user.display_name.clone()));
        audit.methods = grant.methods.clone();
        let resource = state
            .service_principals
            .get(&grant.resource)
            .cloned()
            .ok_or_else(|| OAuthError::resource_not_found(&grant.resource.to_string()))?;
        audit.resource_app_id = Some(resource.app_id.to_string());
        audit.resource_display_name = Some(resource.display_name.clone());
        // Conditional Access on every issuance: a policy added (or a location left) after
        // sign-in takes effect at the next refresh.
        let ctx = audit.ctx.clone();
        let ca = self
            .check_user_token_access(tenant, grant, resource.app_id, &resource.display_name, azpacr == "0", &ctx)
            .await;
        match ca {
            Ok(logged) => audit.conditional_access = Some(logged),
            Err((e, logged)) => {
                audit.conditional_access = Some(logged);
                return Err(e);
            }
        }
        let app_id = client.app.app_id.to_string();
        let lifetime = self.config.access_token_lifetime;

        // Groups only when some claim or a group-based role assignment could need them.
        let needs_groups = client.app.group_membership_claims.is_some()
            || state.grants.keys().any(|(p, r)| *r == resource.id && *p != user.id);
        let groups = if needs_groups { self.transitive_groups(tenant, user.id).await? } else { Vec::new() };
        let mut principals = vec![user.id];
        principals.extend(groups.iter().copied());

        let mut at = json!({
            "aud": resource.app_id.to_string(),
            "iss": self.config.issuer(tenant),
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime,
            "azp": app_id,
            "azpacr": azpacr,
            "name": user.display_name,
            "oid": user.id.to_string(),
            "preferred_username": user.user_principal_name,
            "sub": pairwise_sub(tenant, user.id, &app_id),
            "tid": tenant.to_string(),
            "uti": ostiary_crypto::rand::random_token(self.rng.as_ref(), 16),
            "ver": "2.0",
        });
        let mut scp: Vec<String> = grant.scopes.clone();
        if resource.app_id == crate::graph::GRAPH_APP_ID {
            // Graph tokens carry the OIDC scopes too, which UserInfo checks.
            for s in &grant.oidc {
                if s != "offline_access" && !scp.contains(s) {
                    scp.push(s.clone());
                }
            }
        }
        if !scp.is_empty() {
            at["scp"] = json!(scp.join(" "));
        }
        // RFC 8176 `amr` (Entra's v1 tokens carry it): an API calling on-behalf-of passes on
        // how the user signed in, so Conditional Access downstream sees the second factor.
        let amr = crate::ca::amr_values(&grant.methods, crate::access::is_multi_factor(&grant.methods));
        if !amr.is_empty() {
            at["amr"] = json!(amr);
        }
        let roles = Self::user_roles(state, &resource, &principals);
        if !roles.is_empty() {
            at["roles"] = json!(roles);
        }
        let resource_app_claims =
            state.clients.get(&resource.app_id).and_then(|c| c.app.group_membership_claims.clone());
        self.group_claims(tenant, user.id, resource_app_claims.as_deref(), &groups, &mut at).await?;
        let alg =
            if resource.access_token_signing_algorithm.as_deref() == Some("ES256") { Alg::ES256 } else { Alg::RS256 };
        let access_token = self.sign(state, alg, &at)?;

        let id_token = if grant.oidc.iter().any(|s| s == "openid") {
            let mut id = json!({
                "aud": app_id,
                "iss": self.config.issuer(tenant),
                "iat": iat,
                "nbf": iat,
                "exp": iat + 3600,
                "auth_time": grant.auth_time,
                "oid": user.id.to_string(),
                "sub": pairwise_sub(tenant, user.id, &app_id),
                "tid": tenant.to_string(),
                "uti": ostiary_crypto::rand::random_token(self.rng.as_ref(), 16),
                "ver": "2.0",
            });
            if let Some(n) = &grant.nonce {
                id["nonce"] = json!(n);
            }
            if !amr.is_empty() {
                id["amr"] = json!(amr);
            }
            if grant.oidc.iter().any(|s| s == "profile") {
                id["name"] = json!(user.display_name);
                id["preferred_username"] = json!(user.user_principal_name);
            }
            if grant.oidc.iter().any(|s| s == "email")
                && let Some(m) = &user.mail
            {
                id["email"] = json!(m);
            }
            let client_roles =
                client.sp.as_ref().map(|sp| Self::user_roles(state, sp, &principals)).unwrap_or_default();
            if !client_roles.is_empty() {
                id["roles"] = json!(client_roles);
            }
            self.group_claims(tenant, user.id, client.app.group_membership_claims.as_deref(), &groups, &mut id).await?;
            Some(self.sign(state, Alg::RS256, &id)?)
        } else {
            None
        };

        let (refresh_token, rt_op) = if grant.oidc.iter().any(|s| s == "offline_access") {
            let settings = self.tenant_settings(tenant).await.map_err(store_err)?;
            let token = format!("1.{}", ostiary_crypto::rand::random_token(self.rng.as_ref(), 48));
            let absolute = if spa { iat + 24 * 3600 } else { grant.family_created + settings.refresh_absolute_secs };
            let sliding = if spa { absolute } else { iat + settings.refresh_inactive_secs };
            let expires = OffsetDateTime::from_unix_timestamp(absolute.min(sliding)).unwrap_or(now);
            if expires <= now {
                return Err(OAuthError::refresh_token_expired());
            }
            let doc = serde_json::to_value(RefreshDoc { grant: grant.clone(), rotated: false, spa })
                .map_err(|_| OAuthError::server_error())?;
            let op = KvOp::Insert(kv("refresh", secret_key(&token), doc, expires, user.id, &grant.family_id));
            (Some(token), Some(op))
        } else {
            (None, None)
        };

        let mut scope: Vec<String> = grant
            .scopes
            .iter()
            .map(|s| {
                let ident = resource
                    .service_principal_names
                    .iter()
                    .find(|n| n.contains("://"))
                    .cloned()
                    .unwrap_or_else(|| resource.app_id.to_string());
                format!("{}/{s}", ident.trim_end_matches('/'))
            })
            .collect();
        scope.extend(grant.oidc.iter().cloned());
        Ok((
            UserTokens {
                access_token,
                expires_in: lifetime,
                id_token,
                refresh_token,
                scope: scope.join(" "),
                client_info: want_client_info.then(|| client_info(tenant, user.id)),
                user_id: user.id,
                user_principal_name: user.user_principal_name.clone(),
                user_display_name: user.display_name.clone(),
                resource_app_id: resource.app_id.to_string(),
                resource_display_name: resource.display_name.clone(),
            },
            rt_op,
        ))
    }

    fn sign(&self, state: &TenantState, alg: Alg, claims: &Value) -> Result<String, OAuthError> {
        let key = state.keys.signer(alg, self.now()).ok_or_else(OAuthError::server_error)?;
        let payload = serde_json::to_vec(claims).map_err(|_| OAuthError::server_error())?;
        key.sign_jwt(&payload).map_err(|_| OAuthError::server_error())
    }

    /// Stores a new authorization code for a completed flow; returns the code.
    pub async fn issue_code(
        &self,
        tenant: TenantId,
        grant: GrantContext,
        redirect_uri: &str,
        code_challenge: Option<String>,
        code_challenge_method: Option<String>,
    ) -> Result<String, StoreError> {
        let now = self.now();
        let code = ostiary_crypto::rand::random_token(self.rng.as_ref(), 32);
        let doc = CodeDoc {
            grant: grant.clone(),
            redirect_uri: redirect_uri.into(),
            code_challenge,
            code_challenge_method,
            redeemed: false,
        };
        let e = kv(
            "code",
            secret_key(&code),
            serde_json::to_value(doc).unwrap_or_default(),
            now + CODE_LIFETIME,
            grant.user_id,
            &grant.family_id,
        );
        self.store.kv_apply(tenant, &[KvOp::Insert(e)], false, now).await?;
        Ok(code)
    }

    /// `grant_type=authorization_code`. `client` is authenticated by the caller (or public).
    #[allow(clippy::too_many_arguments)]
    pub async fn redeem_code(
        &self,
        state: &TenantState,
        client: &ClientEntry,
        azpacr: &str,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        want_client_info: bool,
        audit: &mut crate::token::TokenAudit,
    ) -> Result<UserTokens, OAuthError> {
        let tenant = state.tenant.id;
        let now = self.now();
        let key = secret_key(code);
        let entry = self
            .store
            .kv_get(tenant, "code", &key, now)
            .await
            .map_err(store_err)?
            .ok_or_else(OAuthError::code_invalid)?;
        let mut doc: CodeDoc = serde_json::from_value(entry.doc.clone()).map_err(|_| OAuthError::code_invalid())?;
        if doc.redeemed {
            // Replay: revoke what the first redemption produced (RFC 6749 §4.1.2).
            self.revoke_family(tenant, &doc.grant.family_id).await?;
            return Err(OAuthError::code_redeemed());
        }
        if doc.grant.client_id != client.app.app_id {
            return Err(OAuthError::code_invalid());
        }
        if redirect_uri != Some(doc.redirect_uri.as_str()) {
            return Err(OAuthError::new(
                ostiary_oauth::ErrorKind::InvalidGrant,
                500112,
                "The reply address does not match the reply address that was used to obtain the authorization code.",
            ));
        }
        if let Some(challenge) = &doc.code_challenge {
            let method = match doc.code_challenge_method.as_deref() {
                Some("plain") => ostiary_oauth::PkceMethod::Plain,
                _ => ostiary_oauth::PkceMethod::S256,
            };
            let ok = code_verifier.is_some_and(|v| ostiary_oauth::verify_pkce(method, challenge, v));
            if !ok {
                return Err(OAuthError::pkce_mismatch());
            }
        }
        doc.redeemed = true;
        let spa = client.app.spa.redirect_uris.contains(&doc.redirect_uri);
        let (tokens, rt_op) =
            self.issue_user_tokens(state, client, &doc.grant, azpacr, want_client_info, spa, audit).await?;
        let mut consumed = entry;
        consumed.doc = serde_json::to_value(&doc).map_err(|_| OAuthError::server_error())?;
        let mut ops = vec![KvOp::Update(consumed)];
        ops.extend(rt_op);
        match self.store.kv_apply(tenant, &ops, false, now).await {
            Ok(()) => Ok(tokens),
            // Someone redeemed it between our read and write: treat as replay.
            Err(StoreError::Conflict { .. }) => {
                self.revoke_family(tenant, &doc.grant.family_id).await?;
                Err(OAuthError::code_redeemed())
            }
            Err(e) => Err(store_err(e)),
        }
    }

    pub async fn revoke_family(&self, tenant: TenantId, family: &str) -> Result<(), OAuthError> {
        let ops = [KvOp::DeleteByFamily { kind: "refresh".into(), family_id: family.to_string() }];
        self.store.kv_apply(tenant, &ops, false, self.now()).await.map_err(store_err)
    }

    /// `grant_type=refresh_token`: rotation with reuse detection. `scope` may name another
    /// resource the client has consent for (as MSAL does when it refreshes for a new API).
    #[allow(clippy::too_many_arguments)]
    pub async fn refresh(
        &self,
        state: &TenantState,
        client: &ClientEntry,
        azpacr: &str,
        refresh_token: &str,
        scope: Option<&[String]>,
        want_client_info: bool,
        audit: &mut crate::token::TokenAudit,
    ) -> Result<UserTokens, OAuthError> {
        let tenant = state.tenant.id;
        let now = self.now();
        let entry = self
            .store
            .kv_get(tenant, "refresh", &secret_key(refresh_token), now)
            .await
            .map_err(store_err)?
            .ok_or_else(OAuthError::refresh_token_expired)?;
        let mut doc: RefreshDoc =
            serde_json::from_value(entry.doc.clone()).map_err(|_| OAuthError::refresh_token_expired())?;
        if doc.rotated {
            self.revoke_family(tenant, &doc.grant.family_id).await?;
            return Err(OAuthError::refresh_token_revoked());
        }
        if doc.grant.client_id != client.app.app_id {
            return Err(OAuthError::refresh_token_revoked());
        }
        let mut grant = doc.grant.clone();
        grant.nonce = None;
        if let Some(requested) = scope.filter(|s| !s.is_empty()) {
            let parsed = ostiary_oauth::parse_delegated_scopes(requested)?;
            let resource = resolve_resource(state, &parsed)?;
            let client_sp =
                client.sp.as_ref().ok_or_else(|| OAuthError::application_not_found(&client.app.app_id.to_string()))?;
            let consented =
                self.consented_scopes(tenant, client_sp.id, resource.id, grant.user_id).await.map_err(store_err)?;
            let values: Vec<String> = if parsed.scopes.iter().any(|s| s == ".default") {
                consented.iter().cloned().collect()
            } else {
                parsed.scopes.iter().filter(|s| !crate::graph::OIDC_SCOPES.contains(&s.as_str())).cloned().collect()
            };
            if values.iter().any(|v| !consented.contains(v)) {
                return Err(OAuthError::consent_required());
            }
            grant.resource = resource.id;
            grant.scopes = values;
            // The OIDC scopes of a family never grow on refresh.
            grant.oidc.retain(|s| parsed.oidc.contains(s) || s == "offline_access");
        }
        let (tokens, rt_op) =
            self.issue_user_tokens(state, client, &grant, azpacr, want_client_info, doc.spa, audit).await?;
        doc.rotated = true;
        let mut old = entry;
        old.doc = serde_json::to_value(&doc).map_err(|_| OAuthError::server_error())?;
        let mut ops = vec![KvOp::Update(old)];
        ops.extend(rt_op);
        match self.store.kv_apply(tenant, &ops, false, now).await {
            Ok(()) => Ok(tokens),
            Err(StoreError::Conflict { .. }) => {
                self.revoke_family(tenant, &doc.grant.family_id).await?;
                Err(OAuthError::refresh_token_revoked())
            }
            Err(e) => Err(store_err(e)),
        }
    }

    /// `POST /devicecode`: returns (device_code, user_code).
    pub async fn start_device_flow(
        &self,
        tenant: TenantId,
        client_id: uuid::Uuid,
        scopes: Vec<String>,
    ) -> Result<(String, String), StoreError> {
        let now = self.now();
        let device_code = ostiary_crypto::rand::random_token(self.rng.as_ref(), 32);
        for _ in 0..5 {
            let user_code = ostiary_oauth::generate_user_code(&ostiary_crypto::rand::random_bytes(self.rng.as_ref()));
            let doc = DeviceDoc {
                client_id,
                scopes: scopes.clone(),
                user_code: user_code.clone(),
                status: "pending".into(),
                grant: None,
                last_poll: 0,
            };
            let dev_key = secret_key(&device_code);
            let mk = |kind: &str, key: String, doc: Value| KvEntry {
                kind: kind.into(),
                key,
                doc,
                version: 1,
                expires_at: Some(now + DEVICE_CODE_LIFETIME),
                user_id: None,
                family_id: None,
            };
            let ops = [
                KvOp::Insert(mk("device", dev_key.clone(), serde_json::to_value(&doc).unwrap_or_default())),
                KvOp::Insert(mk("userCode", user_code.clone(), json!({ "device": dev_key }))),
            ];
            match self.store.kv_apply(tenant, &ops, false, now).await {
                Ok(()) => return Ok((device_code, user_code)),
                Err(StoreError::Conflict { .. }) => continue, // user-code collision: draw again
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { key: "userCode".into() })
    }

    /// The pending device request behind a user code, for the device-login page.
    pub async fn device_by_user_code(
        &self,
        tenant: TenantId,
        user_code: &str,
    ) -> Result<Option<(DeviceDoc, KvEntry)>, StoreError> {
        let now = self.now();
        let Some(idx) = self.store.kv_get(tenant, "userCode", user_code, now).await? else { return Ok(None) };
        let Some(dev_key) = idx.doc.get("device").and_then(Value::as_str) else { return Ok(None) };
        let Some(e) = self.store.kv_get(tenant, "device", dev_key, now).await? else { return Ok(None) };
        let doc: DeviceDoc = serde_json::from_value(e.doc.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((doc, e)))
    }

    /// Records the user's decision on the device-login page.
    pub async fn decide_device(
        &self,
        tenant: TenantId,
        user_code: &str,
        grant: Option<GrantContext>,
    ) -> Result<bool, StoreError> {
        let Some((mut doc, mut e)) = self.device_by_user_code(tenant, user_code).await? else { return Ok(false) };
        if doc.status != "pending" {
            return Ok(false);
        }
        doc.status = if grant.is_some() { "approved".into() } else { "denied".into() };
        doc.grant = grant;
        e.doc = serde_json::to_value(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match self.store.kv_apply(tenant, &[KvOp::Update(e)], false, self.now()).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
    pub async fn poll_device(
        &self,
        state: &TenantState,
        client: &ClientEntry,
        device_code: &str,
        want_client_info: bool,
        audit: &mut crate::token::TokenAudit,
    ) -> Result<UserTokens, OAuthError> {
        let tenant = state.tenant.id;
        let now = self.now();
        let entry = self
            .store
            .kv_get(tenant, "device", &secret_key(device_code), now)
            .await
            .map_err(store_err)?
            .ok_or_else(OAuthError::expired_token)?;
        let mut doc: DeviceDoc = serde_json::from_value(entry.doc.clone()).map_err(|_| OAuthError::expired_token())?;
        if doc.client_id != client.app.app_id {
            return Err(OAuthError::bad_verification_code());
        }
        match doc.status.as_str() {
            "pending" => {
                // One second of tolerance: clients sleep exactly `interval`, and clocks jitter.
                let too_fast = now.unix_timestamp() - doc.last_poll < DEVICE_POLL_INTERVAL - 1;
                doc.last_poll = now.unix_timestamp();
                let mut e = entry;
                e.doc = serde_json::to_value(&doc).map_err(|_| OAuthError::server_error())?;
                let raced = matches!(
                    self.store.kv_apply(tenant, &[KvOp::Update(e)], false, now).await,
                    Err(StoreError::Conflict { .. })
                );
                Err(if too_fast || raced { OAuthError::slow_down() } else { OAuthError::authorization_pending() })
            }
            "denied" => Err(OAuthError::authorization_declined()),
            "approved" => {
                let grant = doc.grant.clone().ok_or_else(OAuthError::server_error)?;
                let (tokens, rt_op) =
                    self.issue_user_tokens(state, client, &grant, "0", want_client_info, false, audit).await?;
                doc.status = "redeemed".into();
                let mut e = entry;
                e.doc = serde_json::to_value(&doc).map_err(|_| OAuthError::server_error())?;
                let mut ops = vec![KvOp::Update(e)];
                ops.extend(rt_op);
                match self.store.kv_apply(tenant, &ops, false, now).await {
                    Ok(()) => Ok(tokens),
                    Err(StoreError::Conflict { .. }) => Err(OAuthError::code_redeemed()),
                    Err(e) => Err(store_err(e)),
                }
            }
            _ => Err(OAuthError::expired_token()),
        }
    }

    /// On-behalf-of: exchanges a user's access token for the calling API (`assertion`) for a
    /// token for a downstream resource, for the same user.
    pub async fn on_behalf_of(
        &self,
        state: &TenantState,
        client: &ClientEntry,
        azpacr: &str,
        assertion: &str,
        scopes: &[String],
        audit: &mut crate::token::TokenAudit,
    ) -> Result<UserTokens, OAuthError> {
        let tenant = state.tenant.id;
        let bad = |r: &str| OAuthError::obo_invalid_assertion(r);
        let jwt =
            ostiary_crypto::jws::decode_unverified(assertion).map_err(|_| bad("The assertion is not a valid JWT."))?;
        let claim = |n: &str| jwt.claims.get(n).and_then(Value::as_str);
        if claim("tid") != Some(tenant.to_string().as_str())
            || claim("iss") != Some(self.config.issuer(tenant).as_str())
        {
            return Err(bad("The assertion was not issued by this tenant."));
        }
        let (alg, key) = jwt
            .kid()
            .and_then(|k| state.keys.verifier(k))
            .ok_or_else(|| bad("The assertion's signing key is unknown."))?;
        if jwt.alg().ok() != Some(*alg) || jwt.verify_with(key).is_err() {
            return Err(bad("The assertion's signature is invalid."));
        }
        let exp = jwt.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= self.now().unix_timestamp() {
            return Err(bad("The assertion has expired."));
        }
        if claim("aud") != Some(client.app.app_id.to_string().as_str()) {
            return Err(bad("The assertion's audience is not the calling application."));
        }
        if claim("idtyp") == Some("app") || claim("scp").is_none() {
            return Err(bad("Only user tokens can be exchanged on behalf of a user."));
        }
        let user: ObjectId =
            claim("oid").and_then(|o| o.parse().ok()).ok_or_else(|| bad("The assertion has no user."))?;
        let parsed = ostiary_oauth::parse_delegated_scopes(scopes)?;
        let resource = resolve_resource(state, &parsed)?;
        let client_sp =
            client.sp.as_ref().ok_or_else(|| OAuthError::application_not_found(&client.app.app_id.to_string()))?;
        let consented = self.consented_scopes(tenant, client_sp.id, resource.id, user).await.map_err(store_err)?;
        let values: Vec<String> = if parsed.scopes.iter().any(|s| s == ".default") {
            consented.iter().cloned().collect()
        } else {
            parsed.scopes.clone()
        };
        if values.is_empty() || values.iter().any(|v| !consented.contains(v)) {
            return Err(OAuthError::consent_required());
        }
        let now = self.now().unix_timestamp();
        let grant = GrantContext {
            client_id: client.app.app_id,
            user_id: user,
            resource: resource.id,
            scopes: values,
            oidc: parsed
                .oidc
                .iter()
                .filter(|s| *s == "offline_access" || *s == "openid" || *s == "profile")
                .cloned()
                .collect(),
            auth_time: jwt.claims.get("iat").and_then(Value::as_i64).unwrap_or(now),
            nonce: None,
            family_id: ostiary_crypto::rand::random_token(self.rng.as_ref(), 16),
            family_created: now,
            // The user's authentication happened at the caller's sign-in; Entra carries it in the
            // assertion's `amr`. Keep what the assertion says.
            methods: jwt
                .claims
                .get("amr")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(crate::ca::method_from_amr)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            // `mfa` in the assertion: the second factor was proven no later than it was issued.
            mfa_time: jwt
                .claims
                .get("amr")
                .and_then(Value::as_array)
                .filter(|a| a.iter().any(|v| v.as_str() == Some("mfa")))
                .and_then(|_| jwt.claims.get("iat").and_then(Value::as_i64)),
        };
        let (mut tokens, rt_op) = self.issue_user_tokens(state, client, &grant, azpacr, false, false, audit).await?;
        tokens.id_token = None;
        if let Some(op) = rt_op {
            self.store.kv_apply(tenant, &[op], false, self.now()).await.map_err(store_err)?;
        }
        Ok(tokens)
    }

    /// `/oidc/userinfo`: the profile of the user behind an access token of this server that
    /// was granted `openid`.
    pub async fn userinfo(&self, token: &str) -> Result<Value, crate::auth::AuthError> {
        use crate::auth::AuthError;
        let bad = |m: &str| AuthError(m.to_string());
        let jwt = ostiary_crypto::jws::decode_unverified(token).map_err(|_| bad("Access token is malformed."))?;
        let claim = |n: &str| jwt.claims.get(n).and_then(Value::as_str);
        let tenant: TenantId =
            claim("tid").and_then(|t| t.parse().ok()).ok_or_else(|| bad("Access token has no tenant."))?;
        let state = self.tenant_state(tenant).await.map_err(|_| bad("Access token validation failure."))?;
        let (alg, key) = jwt.kid().and_then(|k| state.keys.verifier(k)).ok_or_else(|| bad("Unknown signing key."))?;
        if jwt.alg().ok() != Some(*alg)
            || jwt.verify_with(key).is_err()
            || claim("iss") != Some(self.config.issuer(tenant).as_str())
        {
            return Err(bad("Access token validation failure."));
        }
        if jwt.claims.get("exp").and_then(Value::as_i64).unwrap_or(0) <= self.now().unix_timestamp() {
            return Err(bad("Lifetime validation failed, the token is expired."));
        }
        if !claim("scp").is_some_and(|s| s.split(' ').any(|x| x == "openid")) {
            return Err(bad("The access token was not granted the openid scope."));
        }
        let user: ObjectId = claim("oid").and_then(|o| o.parse().ok()).ok_or_else(|| bad("No user in token."))?;
        let Ok(Some(DirectoryObject::User(u))) = self.store.get_object(tenant, user).await else {
            return Err(bad("The user no longer exists."));
        };
        let azp = claim("azp").unwrap_or_default();
        let mut out = json!({
            "sub": pairwise_sub(tenant, user, azp),
            "oid": user.to_string(),
            "tid": tenant.to_string(),
            "name": u.display_name,
            "preferred_username": u.user_principal_name,
        });
        if let Some(g) = &u.given_name {
            out["given_name"] = json!(g);
        }
        if let Some(s) = &u.surname {
            out["family_name"] = json!(s);
        }
        if let Some(m) = &u.mail {
            out["email"] = json!(m);
        }
        Ok(out)
    }

    /// Signs a user out everywhere: sessions, codes and refresh tokens (Graph `revokeSignInSessions`).
    pub async fn revoke_user_sessions(&self, actor: &crate::audit::Actor, user: ObjectId) -> Result<(), StoreError> {
        let activity =
            crate::audit::Activity::new("Invalidate all refresh tokens for user", "UserManagement", "Update")
                .target(crate::audit::Target::new(user.to_string(), "User"));
        let ops = [
            KvOp::DeleteByUser { kinds: vec!["session".into(), "refresh".into(), "code".into()], user_id: user },
            self.audit_op(actor, &activity),
        ];
        self.store.kv_apply(actor.tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }
}

impl Core {
    /// RFC 7662 introspection for a confidential client. Only the client a token was issued to
    /// (or, for access tokens, the resource it was issued for) learns anything; every other
    /// caller gets `{"active": false}`, so the endpoint cannot be used to scan tokens.
    pub async fn introspect(&self, state: &TenantState, client: &ClientEntry, token: &str) -> Value {
        let inactive = json!({ "active": false });
        let tenant = state.tenant.id;
        let now = self.now();
        let caller = client.app.app_id.to_string();
        if let Ok(jwt) = ostiary_crypto::jws::decode_unverified(token) {
            let claim = |n: &str| jwt.claims.get(n).and_then(Value::as_str);
            let Some((alg, key)) = jwt.kid().and_then(|k| state.keys.verifier(k)) else { return inactive };
            if jwt.alg().ok() != Some(*alg)
                || jwt.verify_with(key).is_err()
                || claim("iss") != Some(self.config.issuer(tenant).as_str())
            {
                return inactive;
            }
            let exp = jwt.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
            let entitled = claim("azp") == Some(caller.as_str()) || claim("aud") == Some(caller.as_str());
            if exp <= now.unix_timestamp() || !entitled {
                return inactive;
            }
            let mut out = json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": claim("azp"),
                "aud": claim("aud"),
                "iss": claim("iss"),
                "sub": claim("sub"),
                "exp": exp,
                "iat": jwt.claims.get("iat"),
                "nbf": jwt.claims.get("nbf"),
                "oid": claim("oid"),
                "tid": claim("tid"),
            });
            if let Some(s) = claim("scp") {
                out["scope"] = json!(s);
            }
            if let Some(u) = claim("preferred_username") {
                out["username"] = json!(u);
            }
            if let Some(r) = jwt.claims.get("roles") {
                out["roles"] = r.clone();
            }
            return out;
        }
        let Ok(Some(entry)) = self.store.kv_get(tenant, "refresh", &secret_key(token), now).await else {
            return inactive;
        };
        let Ok(doc) = serde_json::from_value::<RefreshDoc>(entry.doc) else { return inactive };
        if doc.rotated || doc.grant.client_id != client.app.app_id {
            return inactive;
        }
        let mut scope = doc.grant.scopes.clone();
        scope.extend(doc.grant.oidc.iter().cloned());
        json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": caller,
            "scope": scope.join(" "),
            "sub": pairwise_sub(tenant, doc.grant.user_id, &caller),
            "oid": doc.grant.user_id.to_string(),
            "exp": entry.expires_at.map(|e| e.unix_timestamp()),
        })
    }

    /// RFC 7009 revocation. A refresh token of this client revokes its whole family; unknown
    /// tokens succeed silently; access tokens are self-contained and short-lived, so they
    /// cannot be revoked one by one (`unsupported_token_type`).
    pub async fn revoke(&self, state: &TenantState, client: &ClientEntry, token: &str) -> Result<(), OAuthError> {
        if ostiary_crypto::jws::decode_unverified(token).is_ok() {
            return Err(OAuthError::unsupported_token_type());
        }
        let tenant = state.tenant.id;
        let entry = self.store.kv_get(tenant, "refresh", &secret_key(token), self.now()).await.map_err(store_err)?;
        if let Some(doc) = entry.and_then(|e| serde_json::from_value::<RefreshDoc>(e.doc).ok())
            && doc.grant.client_id == client.app.app_id
        {
            self.revoke_family(tenant, &doc.grant.family_id).await?;
        }
        Ok(())
    }
}
