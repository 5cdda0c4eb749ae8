//! Orchestration of interactive flows: given a pending flow and the browser's session, decide
//! the next step (sign in, change password, consent, or done) and, when done, mint the
//! authorization code (or approve the device code). The web layer renders pages and sets
//! cookies; every decision lives here so it is tested once.

use crate::Core;
use crate::consent::GLOBAL_ADMIN_ROLE;
use crate::signin::{PendingFlow, Session};
use crate::usertokens::{GrantContext, resolve_resource};
use ostiary_model::{DirectoryObject, ObjectId, TenantId};
use ostiary_oauth::OAuthError;
use ostiary_store::KvEntry;

/// A permission shown on the consent page.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentItem {
    pub value: String,
    pub display_name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Show the sign-in page.
    SignIn,
    /// Show the account picker (`prompt=select_account` with an SSO session).
    SelectAccount,
    /// Show the change-password page (forceChangePasswordNextSignIn, or required by a policy).
    ChangePassword,
    /// Ask for a second factor (Conditional Access requires MFA).
    /// `allowed`: the methods an authentication strength accepts (empty: any second factor).
    Mfa { reason: String, allowed: Vec<String> },
    /// Ask the user to register a second factor (required, or a campaign that may be snoozed).
    RegisterMfa { reason: String, can_skip: bool, allowed: Vec<String> },
    /// Show freshly generated recovery codes once.
    RecoveryCodes,
    /// Show the consent page.
    Consent { items: Vec<ConsentItem>, can_consent_for_org: bool },
    /// Send the authorization response (or the error) to the client.
    Respond { params: Vec<(String, String)> },
    /// The device-code request was approved or declined.
    DeviceDone { approved: bool },
    /// Show an error page (nothing can be sent to the client).
    Fail(OAuthError),
    /// Send a SAML error Response (second-level status code, message) to the validated ACS.
    SamlError { sub_code: String, message: String },
}

/// Why the flow needs a fresh sign-in despite a session.
fn session_usable(flow: &PendingFlow, session: Option<&Session>, now: i64) -> bool {
    let Some(s) = session else { return false };
    if matches!(flow.prompt.as_deref(), Some("login") | Some("select_account")) {
        return false;
    }
    if let Some(max_age) = flow.max_age
        && now - s.auth_time > i64::try_from(max_age).unwrap_or(i64::MAX)
    {
        return false;
    }
    true
}

impl Core {
    /// Decides the next step of a flow and performs it when it needs no page.
    pub async fn advance_flow(
        &self,
        tenant: TenantId,
        flow_id: &str,
        mut flow: PendingFlow,
        entry: KvEntry,
        session: Option<&Session>,
        ctx: &crate::logs::RequestContext,
    ) -> Result<Next, OAuthError> {
        let now = self.now().unix_timestamp();
        if let Some(reject) = flow.saml.as_ref().and_then(|s| s.reject.clone()) {
            let _ = self.end_flow(tenant, flow_id).await;
            return Ok(Next::SamlError { sub_code: reject.0, message: reject.1 });
        }
        if flow.user_id.is_none() {
            if flow.prompt.as_deref() == Some("select_account") && session.is_some() {
                return Ok(Next::SelectAccount);
            }
            if session_usable(&flow, session, now) {
                if let Some(s) = session {
                    flow.user_id = Some(s.user_id);
                    flow.auth_time = Some(s.auth_time);
                    // Single sign-on: the session's methods (MFA once per session) and a
                    // sign-in record "Previously satisfied" once Conditional Access decided.
                    flow.methods = s.methods.clone();
                    flow.mfa_time = s.mfa_time;
                    flow.log_pending = Some("Previously satisfied".into());
                }
            } else if flow.prompt.as_deref() == Some("none") {
                let _ = self.end_flow(tenant, flow_id).await;
                return Ok(self.error_params(&flow, &OAuthError::login_required()));
            } else {
                return Ok(Next::SignIn);
            }
        }
        let Some(user_id) = flow.user_id else { return Ok(Next::SignIn) };
        if flow.must_change_password {
            return Ok(Next::ChangePassword);
        }
        let state = self.state_for(tenant, &tenant.to_string()).await?;
        let Some(client) = state.clients.get(&flow.client_id).cloned() else {
            return Ok(Next::Fail(OAuthError::application_not_found(&flow.client_id.to_string())));
        };
        let Some(client_sp) = client.sp.clone() else {
            return Ok(Next::Fail(OAuthError::application_not_found(&flow.client_id.to_string())));
        };
        if flow.saml.is_some() {
            // A SAML sign-in: the application is its own resource, and there is no consent.
            let _entry = match self
                .run_gate(tenant, flow_id, &mut flow, entry, client.app.app_id, &client_sp.display_name, ctx)
                .await?
            {
                Ok(entry) => entry,
                Err(next) => return Ok(next),
            };
            self.end_flow(tenant, flow_id).await.map_err(|_| OAuthError::temporarily_unavailable())?;
            let key = flow.session_key.clone().or_else(|| session.map(|s| s.key.clone()).filter(|k| !k.is_empty()));
            return self.finish_saml_flow(tenant, &flow, key.as_deref()).await;
        }
        let parsed = match ostiary_oauth::parse_delegated_scopes(&flow.scopes) {
            Ok(p) => p,
            Err(e) => return Ok(self.error_params(&flow, &e)),
        };
        let resource = match resolve_resource(&state, &parsed) {
            Ok(r) => r,
            Err(e) => return Ok(self.error_params(&flow, &e)),
        };
        let entry =
            match self.run_gate(tenant, flow_id, &mut flow, entry, resource.app_id, &resource.display_name, ctx).await?
            {
                Ok(entry) => entry,
                Err(next) => return Ok(next),
            };
        let consented = self
            .consented_scopes(tenant, client_sp.id, resource.id, user_id)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let is_default = parsed.scopes.iter().any(|s| s == ".default");
        let requested: Vec<String> = if is_default {
            // `.default`: the statically declared permissions for this resource, or what was granted.
            let declared: Vec<String> = client
                .app
                .required_resource_access
                .iter()
                .filter(|r| r.resource_app_id.eq_ignore_ascii_case(&resource.app_id.to_string()))
                .flat_map(|r| r.resource_access.iter().filter(|a| a.kind == "Scope"))
                .filter_map(|a| {
                    resource.oauth2_permission_scopes.iter().find(|s| s.id == a.id).and_then(|s| s.value.clone())
                })
                .collect();
            if declared.is_empty() { consented.iter().cloned().collect() } else { declared }
        } else {
            parsed.scopes.iter().filter(|s| !crate::graph::OIDC_SCOPES.contains(&s.as_str())).cloned().collect()
        };
        let missing: Vec<String> = requested.iter().filter(|s| !consented.contains(*s)).cloned().collect();
        let force_consent = flow.prompt.as_deref() == Some("consent");
        if !missing.is_empty() || force_consent {
            if flow.prompt.as_deref() == Some("none") {
                let _ = self.end_flow(tenant, flow_id).await;
                return Ok(self.error_params(&flow, &OAuthError::consent_required_authorize()));
            }
            let settings = self.tenant_settings(tenant).await.map_err(|_| OAuthError::temporarily_unavailable())?;
            let is_admin = self
                .directory_roles(tenant, user_id)
                .await
                .map_err(|_| OAuthError::temporarily_unavailable())?
                .iter()
                .any(|r| r == GLOBAL_ADMIN_ROLE);
            if !settings.users_can_consent && !is_admin {
                let _ = self.end_flow(tenant, flow_id).await;
                return Ok(self.error_params(&flow, &OAuthError::consent_required_authorize()));
            }
            let show = if missing.is_empty() { requested.clone() } else { missing };
            let items = show
                .iter()
                .map(|v| {
                    let s = resource.oauth2_permission_scopes.iter().find(|s| s.value.as_deref() == Some(v.as_str()));
                    ConsentItem {
                        value: v.clone(),
                        display_name: s
                            .and_then(|s| s.user_consent_display_name.clone().or(s.admin_consent_display_name.clone()))
                            .unwrap_or_else(|| v.clone()),
                        description: s
                            .and_then(|s| s.user_consent_description.clone().or(s.admin_consent_description.clone()))
                            .unwrap_or_default(),
                    }
                })
                .collect();
            // Remember who signed in, so the consent page can continue.
            if !self.save_flow(tenant, entry, &flow).await.map_err(|_| OAuthError::temporarily_unavailable())? {
                return Ok(Next::Fail(OAuthError::invalid_request(
                    50089,
                    "The sign-in flow was already completed or has expired.",
                )));
            }
            return Ok(Next::Consent { items, can_consent_for_org: is_admin });
        }

        let grant = GrantContext {
            client_id: flow.client_id,
            user_id,
            resource: resource.id,
            scopes: requested,
            oidc: parsed.oidc.clone(),
            auth_time: flow.auth_time.unwrap_or(now),
            nonce: flow.nonce.clone(),
            family_id: ostiary_crypto::rand::random_token(self.rng.as_ref(), 16),
            family_created: now,
            methods: flow.methods.clone(),
            mfa_time: flow.mfa_time,
        };
        // Ending the flow first makes a double submission unable to mint two codes.
        self.end_flow(tenant, flow_id).await.map_err(|_| OAuthError::temporarily_unavailable())?;
        if let Some(user_code) = &flow.device_user_code {
            let ok = self
                .decide_device(tenant, user_code, Some(grant))
                .await
                .map_err(|_| OAuthError::temporarily_unavailable())?;
            return Ok(if ok { Next::DeviceDone { approved: true } } else { Next::Fail(OAuthError::expired_token()) });
        }
        let code = self
            .issue_code(
                tenant,
                grant,
                &flow.redirect_uri,
                flow.code_challenge.clone(),
                flow.code_challenge_method.clone(),
            )
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let mut params = vec![("code".to_string(), code)];
        if let Some(s) = &flow.state {
            params.push(("state".into(), s.clone()));
        }
        if flow.client_info {
            params.push(("client_info".into(), crate::usertokens::client_info(tenant, user_id)));
        }
        params.push((
            "session_state".into(),
            ostiary_crypto::b64::url_encode(&ostiary_crypto::digest::sha256(format!("{tenant}/{user_id}").as_bytes()))
                [..22]
                .to_string(),
        ));
        Ok(Next::Respond { params })
    }

    /// Runs the access gate (Conditional Access, assignment, MFA) for an identified user: the
    /// page or response to show instead of continuing, or the flow's entry to go on with.
    #[allow(clippy::too_many_arguments)]
    async fn run_gate(
        &self,
        tenant: TenantId,
        flow_id: &str,
        flow: &mut PendingFlow,
        entry: KvEntry,
        resource_app_id: uuid::Uuid,
        resource_name: &str,
        ctx: &crate::logs::RequestContext,
    ) -> Result<Result<KvEntry, Next>, OAuthError> {
        if let Some(next) = self.access_gate(tenant, flow, resource_app_id, resource_name, ctx).await? {
            let next = match next {
                // Blocked: the client hears `access_denied` (AADSTS53003) when it can be told.
                // A SAML application is not told: Entra shows the error page, so does Ostiary.
                Next::Fail(e) if !flow.redirect_uri.is_empty() && flow.saml.is_none() => {
                    let _ = self.end_flow(tenant, flow_id).await;
                    self.error_params(flow, &e)
                }
                Next::Fail(e) => {
                    let _ = self.end_flow(tenant, flow_id).await;
                    Next::Fail(e)
                }
                // A silent request cannot show a page: the client must come back interactively.
                Next::Mfa { .. } | Next::RegisterMfa { .. } | Next::ChangePassword | Next::SignIn
                    if flow.prompt.as_deref() == Some("none") =>
                {
                    let _ = self.end_flow(tenant, flow_id).await;
                    // The error names what the interactive request will ask for.
                    use ostiary_policy::{ReauthFactor, Requirement};
                    let e = match &next {
                        Next::RegisterMfa { .. } => OAuthError::interaction_required(
                            50079,
                            &format!(
                                "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '{}'.",
                                resource_name
                            ),
                        ),
                        Next::ChangePassword => {
                            crate::access::requirement_error(&Requirement::PasswordChange, resource_name)
                        }
                        // The gate sends a flow back to sign-in only for the sign-in frequency.
                        Next::SignIn => crate::access::requirement_error(
                            &Requirement::Reauthenticate { factor: ReauthFactor::Primary, max_age_secs: 0 },
                            resource_name,
                        ),
                        _ => crate::access::requirement_error(&Requirement::Mfa, resource_name),
                    };
                    self.error_params(flow, &e)
                }
                other => {
                    if !self.save_flow(tenant, entry, flow).await.map_err(|_| OAuthError::temporarily_unavailable())? {
                        return Ok(Err(Next::Fail(OAuthError::invalid_request(
                            50089,
                            "The sign-in flow was already completed or has expired.",
                        ))));
                    }
                    other
                }
            };
            return Ok(Err(next));
        }
        Ok(Ok(entry))
    }

    /// The error response for a flow whose redirect URI is already validated.
    pub fn error_params(&self, flow: &PendingFlow, e: &OAuthError) -> Next {
        if flow.saml.is_some() {
            // SAML: a Responder status with the closest second-level code, AADSTS text kept.
            let sub = match e.kind {
                ostiary_oauth::ErrorKind::LoginRequired | ostiary_oauth::ErrorKind::InteractionRequired => {
                    ostiary_saml::STATUS_NO_PASSIVE
                }
                ostiary_oauth::ErrorKind::AccessDenied => ostiary_saml::STATUS_REQUEST_DENIED,
                _ => ostiary_saml::STATUS_AUTHN_FAILED,
            };
            return Next::SamlError { sub_code: sub.into(), message: format!("AADSTS{}: {}", e.code, e.description) };
        }
        let mut params = vec![
            ("error".to_string(), e.kind.as_str().to_string()),
            ("error_description".to_string(), format!("AADSTS{}: {}", e.code, e.description)),
        ];
        if let Some(s) = &flow.state {
            params.push(("state".into(), s.clone()));
        }
        Next::Respond { params }
    }

    /// Records consent from the consent page (personal, or tenant-wide by an administrator).
    pub async fn record_consent(
        &self,
        tenant: TenantId,
        flow: &PendingFlow,
        items: &[String],
        for_org: bool,
        ctx: crate::logs::RequestContext,
    ) -> Result<(), OAuthError> {
        let user_id = flow.user_id.ok_or_else(OAuthError::login_required)?;
        let upn = self.user_label(tenant, user_id).await.map(|(_, upn)| upn).unwrap_or_default();
        let flow_ctx = Some((upn, ctx));
        let state = self.state_for(tenant, &tenant.to_string()).await?;
        let client = state
            .clients
            .get(&flow.client_id)
            .ok_or_else(|| OAuthError::application_not_found(&flow.client_id.to_string()))?;
        let client_sp =
            client.sp.as_ref().ok_or_else(|| OAuthError::application_not_found(&flow.client_id.to_string()))?;
        let parsed = ostiary_oauth::parse_delegated_scopes(&flow.scopes)?;
        let resource = resolve_resource(&state, &parsed)?;
        let admin = self
            .directory_roles(tenant, user_id)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?
            .iter()
            .any(|r| r == GLOBAL_ADMIN_ROLE);
        let principal = if for_org && admin { None } else { Some(user_id) };
        let mut scopes: Vec<String> = items.to_vec();
        scopes.extend(parsed.oidc.iter().cloned());
        let (upn, ctx) = match &flow_ctx {
            Some(c) => (c.0.clone(), c.1.clone()),
            None => (String::new(), crate::logs::RequestContext::default()),
        };
        let actor = crate::audit::Actor::user(tenant, user_id, &upn, ctx);
        self.add_consent(&actor, client_sp.id, resource.id, principal, &scopes)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        Ok(())
    }

    /// The tenant an `/authorize` on `common` or `organizations` belongs to: the home tenant of
    /// the hinted user's domain when it registered the client, else the tenant that did.
    pub async fn tenant_for_alias(&self, client_id: &str, hint_domain: Option<&str>) -> Option<TenantId> {
        let client = uuid::Uuid::parse_str(client_id).ok()?;
        if let Some(d) = hint_domain
            && let Ok(Some(t)) = self.tenant_by_domain(d).await
            && self.tenant_state(t).await.is_ok_and(|s| s.clients.contains_key(&client))
        {
            return Some(t);
        }
        let mut found = None;
        for t in self.store.list_tenants().await.ok()? {
            if self.tenant_state(t.id).await.is_ok_and(|s| s.clients.contains_key(&client)) {
                if found.is_some() {
                    // Registered in several tenants: only a hint can decide.
                    return None;
                }
                found = Some(t.id);
            }
        }
        found
    }

    /// Display name of a user, for pages.
    pub async fn user_label(&self, tenant: TenantId, user: ObjectId) -> Option<(String, String)> {
        match self.store.get_object(tenant, user).await.ok()? {
            Some(DirectoryObject::User(u)) => Some((u.display_name, u.user_principal_name)),
            _ => None,
        }
    }
}
