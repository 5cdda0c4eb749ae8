//! The token endpoint's use case for applications: client credentials with a secret or a
//! certificate assertion, `<resource>/.default` scopes, roles from app-role assignments.
//! Runs from the tenant cache; the only store write is the replay record of an assertion.

use crate::Core;
use crate::cache::{CacheError, ClientEntry, TenantState};
use crate::ids::{TenantSegment, is_multi_tenant_alias, parse_tenant_segment};
use ostiary_crypto::jws::{Alg, decode_unverified};
use ostiary_model::{ObjectId, ServicePrincipal, TenantId};
use ostiary_oauth::{CertRef, ClientAuth, OAuthError, TokenRequest, check_client_assertion, parse_app_scope};
use serde_json::json;
use std::sync::Arc;

/// A successful token response.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub token_type: &'static str,
    /// For user grants: ID token, refresh token, scope, client_info.
    pub user: Option<crate::usertokens::UserTokens>,
}

pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Whether an application may use flows without a client credential.
pub fn is_public_client(app: &ostiary_model::Application) -> bool {
    app.is_fallback_public_client == Some(true)
        || !app.public_client.redirect_uris.is_empty()
        || !app.spa.redirect_uris.is_empty()
}

/// What the token endpoint learned about a request, for logs and metrics even on failure.
#[derive(Debug, Clone, Default)]
pub struct TokenAudit {
    pub tenant: Option<TenantId>,
    pub client_id: Option<String>,
    pub resource: Option<String>,
    pub client_display_name: Option<String>,
    pub client_sp: Option<ObjectId>,
    pub resource_app_id: Option<String>,
    pub resource_display_name: Option<String>,
    /// `azpacr`: "0" public client, "1" secret, "2" certificate.
    pub azpacr: Option<&'static str>,
    /// The user of a user grant, once known (also for refused requests).
    pub user: Option<(ObjectId, String, String)>,
    /// Conditional Access status and applied policies, once evaluated.
    pub conditional_access: Option<(&'static str, serde_json::Value)>,
    /// Where the request came from (the web layer sets it before calling `token`).
    pub ctx: crate::logs::RequestContext,
    /// Methods proven at the user's sign-in (a user grant carries them).
    pub methods: Vec<String>,
}

impl Core {
    /// Resolves the `{tenant}` path segment to a tenant that exists, from the tenant cache
    /// (the token endpoint must not query the store per request).
    pub async fn resolve_tenant(&self, segment: &str) -> Result<TenantId, OAuthError> {
        let id = match parse_tenant_segment(segment) {
            Some(TenantSegment::Id(id)) => id,
            Some(TenantSegment::Domain(d)) => self
                .tenant_by_domain(&d)
                .await
                .map_err(|_| OAuthError::temporarily_unavailable())?
                .ok_or_else(|| OAuthError::tenant_not_found(segment))?,
            None => return Err(OAuthError::tenant_not_found(segment)),
        };
        self.state_for(id, segment).await.map(|_| id)
    }

    pub(crate) async fn state_for(&self, tenant: TenantId, segment: &str) -> Result<Arc<TenantState>, OAuthError> {
        self.tenant_state(tenant).await.map_err(|e| match e {
            CacheError::NoTenant => OAuthError::tenant_not_found(segment),
            other => {
                tracing::error!(error = %other, %tenant, "cannot load tenant state");
                OAuthError::temporarily_unavailable()
            }
        })
    }

    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub async fn token(
        &self,
        segment: &str,
        req: &TokenRequest,
        audit: &mut TokenAudit,
    ) -> Result<IssuedToken, OAuthError> {
        audit.client_id = req.client.client_id().map(str::to_string);
        // The method the client attempted, known even when authentication then fails.
        audit.azpacr = Some(match &req.client {
            ClientAuth::Secret { .. } => "1",
            ClientAuth::Assertion { .. } => "2",
            ClientAuth::None { .. } => "0",
        });
        match req.grant_type.as_str() {
            "client_credentials" => {
                if is_multi_tenant_alias(segment) {
                    return Err(OAuthError::tenant_alias_not_allowed());
                }
                let tenant = self.resolve_tenant(segment).await?;
                audit.tenant = Some(tenant);
                self.client_credentials(tenant, segment, req, audit).await
            }
            "authorization_code" | "refresh_token" | GRANT_DEVICE_CODE | GRANT_JWT_BEARER => {
                let tenant = self.resolve_tenant(segment).await?;
                audit.tenant = Some(tenant);
                let state = self.state_for(tenant, segment).await?;
                let (client, azpacr) = self.authenticate_client(&state, tenant, segment, &req.client).await?;
                audit.client_id = Some(client.app.app_id.to_string());
                audit.client_display_name = Some(client.app.display_name.clone());
                audit.azpacr = Some(azpacr);
                if client.sp.as_ref().is_some_and(|sp| !sp.account_enabled) {
                    return Err(OAuthError::application_disabled(&client.app.app_id.to_string()));
                }
                let want_client_info = req.param("client_info") == Some("1");
                let scopes: Vec<String> = req
                    .scope
                    .as_deref()
                    .map(|s| s.split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default();
                let tokens = match req.grant_type.as_str() {
                    "authorization_code" => {
                        let code = req
                            .param("code")
                            .filter(|c| !c.is_empty())
                            .ok_or_else(|| OAuthError::missing_parameter("code"))?;
                        self.redeem_code(
                            &state,
                            client,
                            azpacr,
                            code,
                            req.param("redirect_uri"),
                            req.param("code_verifier"),
                            want_client_info,
                            audit,
                        )
                        .await?
                    }
                    "refresh_token" => {
                        let rt = req
                            .param("refresh_token")
                            .filter(|c| !c.is_empty())
                            .ok_or_else(|| OAuthError::missing_parameter("refresh_token"))?;
                        self.refresh(&state, client, azpacr, rt, Some(&scopes), want_client_info, audit).await?
                    }
                    GRANT_DEVICE_CODE => {
                        let dc = req
                            .param("device_code")
                            .filter(|c| !c.is_empty())
                            .ok_or_else(|| OAuthError::missing_parameter("device_code"))?;
                        self.poll_device(&state, client, dc, want_client_info, audit).await?
                    }
                    _ => {
                        if req.param("requested_token_use") != Some("on_behalf_of") {
                            return Err(OAuthError::invalid_request(
                                90014,
                                "The jwt-bearer grant requires requested_token_use=on_behalf_of.",
                            ));
                        }
                        if azpacr == "0" {
                            return Err(OAuthError::credentials_required());
                        }
                        let assertion = req
                            .param("assertion")
                            .filter(|c| !c.is_empty())
                            .ok_or_else(|| OAuthError::missing_parameter("assertion"))?;
                        self.on_behalf_of(&state, client, azpacr, assertion, &scopes, audit).await?
                    }
                };
                Ok(IssuedToken {
                    access_token: tokens.access_token.clone(),
                    expires_in: tokens.expires_in,
                    token_type: "Bearer",
                    user: Some(tokens),
                })
            }
            other => Err(OAuthError::unsupported_grant_type(other)),
        }
    }

    async fn client_credentials(
        &self,
        tenant: TenantId,
        segment: &str,
        req: &TokenRequest,
        audit: &mut TokenAudit,
    ) -> Result<IssuedToken, OAuthError> {
        let state = self.state_for(tenant, segment).await?;
        let (client, azpacr) = self.authenticate_client(&state, tenant, segment, &req.client).await?;
        audit.client_id = Some(client.app.app_id.to_string());
        audit.client_display_name = Some(client.app.display_name.clone());
        audit.client_sp = client.sp.as_ref().map(|sp| sp.id);
        audit.azpacr = Some(azpacr);
        if azpacr == "0" {
            return Err(OAuthError::credentials_required());
        }
        let client_sp = client.sp.as_ref().ok_or_else(|| {
            OAuthError::new(
                ostiary_oauth::ErrorKind::UnauthorizedClient,
                7000229,
                format!(
                    "The client application {} is missing service principal in the tenant {}.",
                    client.app.app_id, tenant
                ),
            )
        })?;
        if !client_sp.account_enabled {
            return Err(OAuthError::application_disabled(&client.app.app_id.to_string()));
        }
        let scope = parse_app_scope(req.scope.as_deref())?;
        audit.resource = Some(scope.resource.clone());
        let resource =
            state.resource(&scope.resource).ok_or_else(|| OAuthError::resource_not_found(&scope.resource))?;
        audit.resource_app_id = Some(resource.app_id.to_string());
        audit.resource_display_name = Some(resource.display_name.clone());
        if !resource.account_enabled {
            return Err(OAuthError::resource_not_found(&scope.resource));
        }
        // Conditional Access for workload identities (policies naming this service principal).
        let eval = self.evaluate_workload(
            &state,
            client_sp.id,
            client.app.app_id,
            Some(resource.app_id),
            audit.ctx.ip.as_deref(),
        );
        audit.conditional_access = Some((eval.conditional_access_status(), crate::ca::logged_policies(&eval)));
        if !matches!(eval.outcome, ostiary_policy::Outcome::Allow) {
            self.metrics.conditional_access_failures.inc(&[&tenant.to_string()]);
            return Err(OAuthError::new(
                ostiary_oauth::ErrorKind::InvalidGrant,
                53003,
                crate::access::blocked().description,
            ));
        }
        let roles = app_roles_granted(&state, client_sp, resource);
        self.sign_access_token(&state, tenant, client, client_sp, resource, azpacr, roles)
    }

    /// Checks the client's secret or assertion; returns the client and its `azpacr`.
    pub async fn authenticate_client<'s>(
        &self,
        state: &'s TenantState,
        tenant: TenantId,
        segment: &str,
        auth: &ClientAuth,
    ) -> Result<(&'s Arc<ClientEntry>, &'static str), OAuthError> {
        let now = self.now();
        let find = |id: &str| {
            uuid::Uuid::parse_str(id)
                .ok()
                .and_then(|u| state.clients.get(&u))
                .ok_or_else(|| OAuthError::application_not_found(id))
        };
        match auth {
            ClientAuth::Secret { client_id, secret } => {
                let client = find(client_id)?;
                let matched = client
                    .app
                    .password_credentials
                    .iter()
                    .find(|c| ostiary_crypto::secret::verify_client_secret(secret, &c.secret_hash));
                match matched {
                    Some(c) if c.end_date_time <= now => Err(OAuthError::client_secret_expired(client_id)),
                    Some(c) if c.start_date_time > now => Err(OAuthError::invalid_client_secret(client_id)),
                    Some(_) => Ok((client, "1")),
                    None => Err(OAuthError::invalid_client_secret(client_id)),
                }
            }
            ClientAuth::Assertion { client_id, assertion } => {
                let jwt = decode_unverified(assertion).map_err(|e| OAuthError::assertion_malformed(&e.to_string()))?;
                let audiences = vec![
                    self.config.token_endpoint(segment),
                    self.config.token_endpoint(&tenant.to_string()),
                    self.config.token_endpoint(&state.tenant.initial_domain),
                ];
                let check = check_client_assertion(&jwt, client_id.as_deref(), &audiences, now.unix_timestamp())?;
                let client = find(&check.client_id)?;
                let cert = client
                    .certs
                    .iter()
                    .find(|(_, c)| match &check.cert {
                        CertRef::Sha1(t) => c.sha1_thumbprint() == *t,
                        CertRef::Sha256(t) => c.sha256_thumbprint() == *t,
                    })
                    .ok_or_else(|| OAuthError::assertion_invalid("[Reason - The key was not found.]"))?;
                let (kc, certificate) = cert;
                if kc.end_date_time <= now || kc.start_date_time > now + time::Duration::minutes(5) {
                    return Err(OAuthError::assertion_invalid(
                        "[Reason - The certificate used is not within its validity period.]",
                    ));
                }
                if check.alg == Alg::ES256
                    && !matches!(certificate.public_key, ostiary_crypto::jws::PublicKey::EcP256 { .. })
                {
                    return Err(OAuthError::assertion_invalid("[Reason - The algorithm does not match the key.]"));
                }
                jwt.verify_with(&certificate.public_key)
                    .map_err(|_| OAuthError::assertion_invalid("[Reason - The signature is invalid.]"))?;
                let exp =
                    time::OffsetDateTime::from_unix_timestamp(check.exp).unwrap_or(now) + time::Duration::minutes(5);
                let fresh = self
                    .store
                    .record_assertion_jti(tenant, &check.client_id, &check.jti, exp, now)
                    .await
                    .map_err(|_| OAuthError::temporarily_unavailable())?;
                if !fresh {
                    return Err(OAuthError::assertion_invalid("[Reason - The assertion (jti) has already been used.]"));
                }
                Ok((client, "2"))
            }
            ClientAuth::None { client_id } => {
                let client = find(client_id)?;
                if is_public_client(&client.app) { Ok((client, "0")) } else { Err(OAuthError::credentials_required()) }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_access_token(
        &self,
        state: &TenantState,
        tenant: TenantId,
        client: &ClientEntry,
        client_sp: &ServicePrincipal,
        resource: &ServicePrincipal,
        azpacr: &str,
        roles: Vec<String>,
    ) -> Result<IssuedToken, OAuthError> {
        let now = self.now();
        let iat = now.unix_timestamp();
        let lifetime = self.config.access_token_lifetime;
        let alg = match resource.access_token_signing_algorithm.as_deref() {
            Some("ES256") => Alg::ES256,
            _ => Alg::RS256,
        };
        let key = state.keys.signer(alg, now).ok_or_else(|| {
            tracing::error!(%tenant, alg = alg.as_str(), "no signing key");
            OAuthError::server_error()
        })?;
        let uti = ostiary_crypto::rand::random_token(self.rng.as_ref(), 16);
        let mut claims = json!({
            "aud": resource.app_id.to_string(),
            "iss": self.config.issuer(tenant),
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime,
            "azp": client.app.app_id.to_string(),
            "azpacr": azpacr,
            "idtyp": "app",
            "oid": client_sp.id.to_string(),
            "sub": client_sp.id.to_string(),
            "tid": tenant.to_string(),
            "uti": uti,
            "ver": "2.0",
        });
        if !roles.is_empty() {
            claims["roles"] = json!(roles);
        }
        let payload = serde_json::to_vec(&claims).map_err(|_| OAuthError::server_error())?;
        let access_token = key.sign_jwt(&payload).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })?;
        Ok(IssuedToken { access_token, expires_in: lifetime, token_type: "Bearer", user: None })
    }
}

/// Values of the enabled application roles of `resource` granted to `client_sp`.
fn app_roles_granted(state: &TenantState, client_sp: &ServicePrincipal, resource: &ServicePrincipal) -> Vec<String> {
    let Some(ids) = state.grants.get(&(client_sp.id, resource.id)) else { return Vec::new() };
    let mut roles: Vec<String> = resource
        .app_roles
        .iter()
        .filter(|r| r.is_enabled && ids.contains(&r.id) && r.allowed_member_types.iter().any(|t| t == "Application"))
        .filter_map(|r| r.value.clone())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

impl Core {
    /// Logs and measures one token request: a service-principal sign-in for client
    /// credentials, a non-interactive user sign-in for the user grants (M1, M2).
    pub async fn record_token_request(
        &self,
        grant_type: &str,
        audit: &TokenAudit,
        result: Result<&IssuedToken, &OAuthError>,
        ctx: crate::logs::RequestContext,
        elapsed: std::time::Duration,
    ) {
        use crate::logs::{SignInEvent, SignInKind, failure_reason};
        let grant_label: &'static str = match grant_type {
            "client_credentials" => "client_credentials",
            "authorization_code" => "authorization_code",
            "refresh_token" => "refresh_token",
            GRANT_DEVICE_CODE => "device_code",
            GRANT_JWT_BEARER => "on_behalf_of",
            _ => "other",
        };
        self.metrics.token_issuance_duration.observe_duration(&[grant_label], elapsed);
        if result.is_ok() {
            self.metrics.tokens_issued.inc(&[grant_label]);
        }
        let Some(tenant) = audit.tenant else { return };
        // Device-code polling before the user has acted is not a sign-in attempt.
        if let Err(e) = result
            && e.code == 70016
            && grant_type == GRANT_DEVICE_CODE
        {
            return;
        }
        let kind =
            if grant_type == "client_credentials" { SignInKind::ServicePrincipal } else { SignInKind::NonInteractive };
        let mut ev = SignInEvent::new(tenant, kind, ctx);
        ev.app_id = audit.client_id.clone();
        ev.app_display_name = audit.client_display_name.clone();
        ev.service_principal_id = audit.client_sp;
        ev.resource_id = audit.resource_app_id.clone().or_else(|| audit.resource.clone());
        ev.resource_display_name = audit.resource_display_name.clone();
        ev.protocol = Some(grant_label);
        ev.client_credential_type = audit.azpacr.map(|a| match a {
            "1" => "clientSecret",
            "2" => "certificate",
            _ => "none",
        });
        ev.auth_method = Some(match (kind, audit.azpacr) {
            (SignInKind::ServicePrincipal, Some("2")) => "Client certificate",
            (SignInKind::ServicePrincipal, _) => "Client secret",
            _ => "Previously satisfied",
        });
        ev.conditional_access = audit.conditional_access.clone();
        ev.multi_factor = crate::access::is_multi_factor(&audit.methods);
        if let Some((id, upn, name)) = &audit.user {
            ev.user_id = Some(*id);
            ev.user_principal_name = Some(upn.clone());
            ev.user_display_name = Some(name.clone());
        }
        match result {
            Ok(t) => {
                if let Some(u) = &t.user {
                    ev.user_id = Some(u.user_id);
                    ev.user_principal_name = Some(u.user_principal_name.clone());
                    ev.user_display_name = Some(u.user_display_name.clone());
                    ev.resource_id = Some(u.resource_app_id.clone());
                    ev.resource_display_name = Some(u.resource_display_name.clone());
                }
            }
            Err(e) => {
                ev.error_code = e.code;
                ev.failure_reason = Some(failure_reason(&e.description));
            }
        }
        self.record_sign_in(ev).await;
    }
}
