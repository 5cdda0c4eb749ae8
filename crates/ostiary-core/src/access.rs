//! The access gate: after a user is identified in an interactive flow (and again at every token
//! redemption and refresh, and for every client-credentials request), Conditional Access and
//! Identity Protection decide whether to continue, ask for a second factor, ask for a password
//! change, or block; the outcome is written to the sign-in log as Entra does (an interrupt
//! record with AADSTS50074, then the final record with the applied policies).

use crate::Core;
use crate::ca::{AuthState, RequestFacts};
use crate::flow::Next;
use crate::logs::{RequestContext, SignInEvent, SignInKind};
use crate::mfa::MethodDoc;
use crate::signin::PendingFlow;
use ostiary_model::{DirectoryObject, TenantId, User};
use ostiary_oauth::OAuthError;
use ostiary_oauth::error::ErrorKind;
use ostiary_policy as policy;

/// Methods that count as a second factor when registered.
pub fn is_second_factor(method: &str) -> bool {
    matches!(method, "softwareOath" | "fido2")
}

/// Our second-factor methods an authentication-strength requirement accepts (empty: any).
pub fn strength_methods(r: &policy::Requirement) -> Vec<String> {
    let policy::Requirement::AuthenticationStrength { allowed_combinations, .. } = r else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for combo in allowed_combinations {
        for part in combo.split(',') {
            if let Some(m) = policy::AuthMethod::from_entra_mode(part.trim())
                && m != policy::AuthMethod::Password
                && !out.iter().any(|o| o == m.as_str())
            {
                out.push(m.as_str().to_string());
            }
        }
    }
    // A strength none of whose methods exist here still needs some answer: any second factor
    // is offered, and the policy keeps refusing until a qualifying one is used.
    out
}

/// Entra's name of one of our methods, for `authenticationDetails`.
pub fn method_display(method: &str) -> &'static str {
    match method {
        "password" => "Password",
        "softwareOath" => "OATH verification code",
        "fido2" => "Passkey",
        "recoveryCode" => "Recovery code",
        _ => "Other",
    }
}

/// Whether `methods` (proven in a session) make multifactor authentication.
pub fn is_multi_factor(methods: &[String]) -> bool {
    let has = |m: &str| methods.iter().any(|x| x == m);
    has("fido2") || (has("password") && (has("softwareOath") || has("recoveryCode")))
}

pub fn blocked() -> OAuthError {
    OAuthError::access_denied(
        53003,
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
    )
}

/// The requirement a flow should act on: of an `OR` grant, the one the user can meet here (a
/// second factor before a password change before anything else).
pub fn actionable(r: &policy::Requirement) -> policy::Requirement {
    match r {
        policy::Requirement::OneOf(options) => {
            let rank = |r: &policy::Requirement| match r {
                policy::Requirement::Mfa | policy::Requirement::AuthenticationStrength { .. } => 0,
                policy::Requirement::PasswordChange => 1,
                policy::Requirement::Reauthenticate { .. } => 2,
                policy::Requirement::OneOf(_) => 3,
                policy::Requirement::Unsatisfiable { .. } => 4,
            };
            options.iter().map(actionable).min_by_key(rank).unwrap_or(policy::Requirement::Mfa)
        }
        other => other.clone(),
    }
}

/// The token-endpoint error for a requirement a non-interactive request cannot satisfy.
pub fn requirement_error(r: &policy::Requirement, resource: &str) -> OAuthError {
    match &actionable(r) {
        policy::Requirement::Mfa | policy::Requirement::AuthenticationStrength { .. } => {
            OAuthError::interaction_required(
                50076,
                &format!(
                    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
                ),
            )
        }
        policy::Requirement::PasswordChange => {
            OAuthError::interaction_required(50142, "Password change is required due to a conditional access policy.")
        }
        policy::Requirement::Reauthenticate { factor: policy::ReauthFactor::Primary, .. } => {
            OAuthError::interaction_required(
                70044,
                "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
            )
        }
        policy::Requirement::Reauthenticate { factor: policy::ReauthFactor::Mfa, .. } => {
            OAuthError::interaction_required(
                50078,
                "Presented multi-factor authentication has expired due to policies configured by your administrator, you must refresh your multi-factor authentication to access the resource.",
            )
        }
        policy::Requirement::OneOf(_) => {
            OAuthError::interaction_required(50076, "Multi-factor authentication is required.")
        }
        policy::Requirement::Unsatisfiable { control } => OAuthError::new(
            ErrorKind::InvalidGrant,
            control.aadsts(),
            format!("Conditional Access requires '{}', which this sign-in cannot satisfy.", control.graph_name()),
        ),
    }
}

/// What the gate decided for an interactive flow.
enum Decision {
    Continue,
    Block,
    Interrupt(policy::Requirement),
}

impl Core {
    /// AADSTS50105 when the application requires assignment and neither the user nor one of
    /// the user's groups (transitively) is assigned to it.
    pub(crate) async fn assignment_error(
        &self,
        tenant: TenantId,
        client_id: uuid::Uuid,
        user: &ostiary_model::User,
    ) -> Result<Option<OAuthError>, OAuthError> {
        let state = self.tenant_state(tenant).await.map_err(|_| OAuthError::temporarily_unavailable())?;
        let Some(sp) = state.clients.get(&client_id).and_then(|c| c.sp.clone()) else { return Ok(None) };
        if !sp.app_role_assignment_required {
            return Ok(None);
        }
        if state.grants.contains_key(&(user.id, sp.id)) {
            return Ok(None);
        }
        let groups = self.transitive_groups(tenant, user.id).await?;
        if groups.iter().any(|g| state.grants.contains_key(&(*g, sp.id))) {
            return Ok(None);
        }
        Ok(Some(OAuthError::access_denied(
            50105,
            &format!(
                "Your administrator has configured the application {} ('{}') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '{}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator. Please contact your administrator to assign access to this application.",
                sp.display_name, sp.app_id, user.user_principal_name
            ),
        )))
    }

    /// Runs Conditional Access for an identified user in an interactive flow. Returns the page to
    /// show instead of continuing, if any; `flow` is updated (the caller saves it).
    pub(crate) async fn access_gate(
        &self,
        tenant: TenantId,
        flow: &mut PendingFlow,
        resource_app_id: uuid::Uuid,
        resource_name: &str,
        ctx: &RequestContext,
    ) -> Result<Option<Next>, OAuthError> {
        let unavailable = |_| OAuthError::temporarily_unavailable();
        let Some(user_id) = flow.user_id else { return Ok(Some(Next::SignIn)) };
        let user = match self.store.get_object(tenant, user_id).await.map_err(unavailable)? {
            Some(DirectoryObject::User(u)) => u,
            _ => return Ok(Some(Next::SignIn)),
        };
        if !user.account_enabled {
            return Ok(Some(Next::Fail(OAuthError::user_disabled())));
        }
        let auth = AuthState {
            methods: flow.methods.clone(),
            auth_time: flow.auth_time,
            mfa_time: flow.mfa_time,
            secure_password_change: flow.secure_password_change,
        };
        let req = RequestFacts {
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            browser: flow.platform != "publicClient" && flow.device_user_code.is_none(),
            resource_app_id: Some(resource_app_id),
            client_app_id: Some(flow.client_id),
            user_action: None,
            sign_in_risk: flow.sign_in_risk.clone(),
        };
        let eval = self.evaluate_user(tenant, &user, &req, &auth).await.map_err(unavailable)?;
        let decision = match &eval.outcome {
            policy::Outcome::Allow => Decision::Continue,
            policy::Outcome::Block { .. } => Decision::Block,
            policy::Outcome::Interrupt { requirements } => {
                // An unmeetable requirement decides first; then re-authentication; then MFA.
                let all: Vec<policy::Requirement> = requirements.iter().map(actionable).collect();
                let pick = all
                    .iter()
                    .find(|r| matches!(r, policy::Requirement::Unsatisfiable { .. }))
                    .or_else(|| {
                        all.iter().find(|r| {
                            matches!(
                                r,
                                policy::Requirement::Reauthenticate { factor: policy::ReauthFactor::Primary, .. }
                            )
                        })
                    })
                    .or_else(|| {
                        all.iter().find(|r| {
                            matches!(
                                r,
                                policy::Requirement::Mfa
                                    | policy::Requirement::AuthenticationStrength { .. }
                                    | policy::Requirement::Reauthenticate { .. }
                            )
                        })
                    })
                    .or_else(|| all.first());
                match pick {
                    Some(r) => Decision::Interrupt(r.clone()),
                    None => Decision::Continue,
                }
            }
        };
        // Methods the methods policy no longer allows for this user do not count.
        let mut registered = Vec::new();
        for m in self.methods_of(tenant, user_id).await.map_err(unavailable)? {
            if self.method_allowed(tenant, user_id, m.method()).await.map_err(unavailable)? {
                registered.push(m);
            }
        }
        let has_second = registered.iter().any(|m| is_second_factor(m.method()));
        let has_recovery =
            registered.iter().any(|m| matches!(m, MethodDoc::RecoveryCodes { hashes, .. } if !hashes.is_empty()));
        // An authentication strength narrows which second factors count (a phishing-resistant
        // strength accepts only passkeys): offer only those, or registration of one.
        let allowed = match &decision {
            Decision::Interrupt(r) => strength_methods(r),
            _ => Vec::new(),
        };
        let usable = if allowed.is_empty() {
            has_second || has_recovery
        } else {
            registered.iter().any(|m| {
                allowed.iter().any(|a| a == m.method())
                    && !matches!(m, MethodDoc::RecoveryCodes { hashes, .. } if hashes.is_empty())
            })
        };

        let next = match decision {
            Decision::Continue => None,
            Decision::Block => Some(Next::Fail(blocked())),
            Decision::Interrupt(policy::Requirement::Reauthenticate {
                factor: policy::ReauthFactor::Primary, ..
            }) => {
                flow.user_id = None;
                flow.auth_time = None;
                flow.methods.clear();
                flow.mfa_time = None;
                flow.log_pending = None;
                Some(Next::SignIn)
            }
            Decision::Interrupt(policy::Requirement::PasswordChange) => {
                // Entra asks for MFA before a risk-remediating password change.
                if !is_multi_factor(&flow.methods) && (has_second || has_recovery) {
                    Some(Next::Mfa {
                        reason: "Your organization requires you to verify your identity before changing your password."
                            .into(),
                        allowed: Vec::new(),
                    })
                } else {
                    flow.must_change_password = true;
                    Some(Next::ChangePassword)
                }
            }
            Decision::Interrupt(
                policy::Requirement::Mfa
                | policy::Requirement::AuthenticationStrength { .. }
                | policy::Requirement::Reauthenticate { .. }
                | policy::Requirement::OneOf(_),
            ) if usable => Some(Next::Mfa {
                reason: "Your organization requires additional verification to access this app.".into(),
                allowed: allowed.clone(),
            }),
            Decision::Interrupt(
                policy::Requirement::Mfa
                | policy::Requirement::AuthenticationStrength { .. }
                | policy::Requirement::Reauthenticate { .. }
                | policy::Requirement::OneOf(_),
            ) => Some(Next::RegisterMfa {
                reason: "Your organization requires you to set up a second way to verify your identity.".into(),
                can_skip: false,
                allowed: allowed.clone(),
            }),
            Decision::Interrupt(r @ policy::Requirement::Unsatisfiable { .. }) => {
                Some(Next::Fail(requirement_error(&r, resource_name)))
            }
        };

        // Assignment required (Entra's AADSTS50105) outranks every other outcome.
        let next = match self.assignment_error(tenant, flow.client_id, &user).await? {
            Some(e) => Some(Next::Fail(e)),
            None => next,
        };

        // The sign-in log: interrupts once, then the final outcome.
        if let Some(primary) = flow.log_pending.clone() {
            let (code, text): (u32, Option<String>) = match &next {
                None => (0, None),
                Some(Next::Fail(e)) => (e.code, Some(crate::logs::failure_reason(&e.description))),
                Some(Next::Mfa { .. }) => (50074, Some("Strong Authentication is required.".into())),
                Some(Next::RegisterMfa { .. }) => {
                    (50079, Some("User needs to enroll for second factor authentication.".into()))
                }
                Some(Next::ChangePassword) => {
                    (50142, Some("Password change is required due to a conditional access policy.".into()))
                }
                Some(_) => (u32::MAX, None),
            };
            let interrupt = matches!(&next, Some(Next::Mfa { .. } | Next::RegisterMfa { .. } | Next::ChangePassword));
            if code != u32::MAX && !(interrupt && flow.interrupt_logged) {
                let mut event = self.flow_event(tenant, flow, &user, &primary, (resource_app_id, resource_name), ctx);
                event.error_code = code;
                event.failure_reason = text;
                event.conditional_access = Some((eval.conditional_access_status(), crate::ca::logged_policies(&eval)));
                if matches!(next, Some(Next::Fail(_))) {
                    self.metrics.conditional_access_failures.inc(&[&tenant.to_string()]);
                }
                self.record_sign_in(event).await;
                if interrupt {
                    flow.interrupt_logged = true;
                } else {
                    flow.log_pending = None;
                }
            }
        }
        if next.is_some() {
            return Ok(next);
        }
        // Persistent browser session control: the web layer gives the cookie a lifetime only
        // for a session marked persistent.
        if let (Some(mode), Some(key)) = (eval.session.persistent_browser, flow.session_key.as_deref()) {
            let _ = self.session_set_persistent(tenant, key, mode == policy::BrowserPersistence::Always).await;
        }
        // Persistent browser session control, applied when the session cookie is (re)issued.
        // Registration campaign: ask users without a second factor to register one.
        let policy = self.tenant_settings(tenant).await.map_err(unavailable)?.methods_policy;
        // (A silent request is never nudged: the campaign is not a requirement.)
        if policy.campaign_enabled
            && flow.prompt.as_deref() != Some("none")
            && !has_second
            && !flow.campaign_snoozed
            && !self.campaign_snoozed(tenant, user_id).await
            && self.campaign_targets(tenant, &user, &policy).await
        {
            return Ok(Some(Next::RegisterMfa {
                reason: "Your organization asks you to set up a second way to verify your identity.".into(),
                can_skip: policy.campaign_snooze_days > 0,
                allowed: Vec::new(),
            }));
        }
        if flow.show_recovery_codes {
            return Ok(Some(Next::RecoveryCodes));
        }
        Ok(None)
    }

    /// "Not now" on a registration campaign: not asked again for the policy's snooze days.
    pub async fn snooze_campaign(
        &self,
        tenant: TenantId,
        user: ostiary_model::ObjectId,
    ) -> Result<(), ostiary_store::StoreError> {
        let days = self.tenant_settings(tenant).await?.methods_policy.campaign_snooze_days;
        let now = self.now();
        let e = ostiary_store::KvEntry {
            kind: "campaignSnooze".into(),
            key: user.to_string(),
            doc: serde_json::json!({}),
            version: 1,
            expires_at: Some(now + time::Duration::days(i64::from(days.max(1)))),
            user_id: Some(user),
            family_id: None,
        };
        let ops = [
            ostiary_store::KvOp::Delete { kind: "campaignSnooze".into(), key: user.to_string() },
            ostiary_store::KvOp::Insert(e),
        ];
        self.store.kv_apply(tenant, &ops, false, now).await
    }

    async fn campaign_snoozed(&self, tenant: TenantId, user: ostiary_model::ObjectId) -> bool {
        matches!(self.store.kv_get(tenant, "campaignSnooze", &user.to_string(), self.now()).await, Ok(Some(_)))
    }

    /// Conditional Access for the user action "register security info"
    /// (`urn:user:registersecurityinfo`): a policy may block registration, e.g. outside trusted
    /// locations, so that a stolen password cannot register the attacker's authenticator.
    pub async fn check_registration_allowed(
        &self,
        tenant: TenantId,
        user: ostiary_model::ObjectId,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let unavailable = |_| OAuthError::temporarily_unavailable();
        let Some(DirectoryObject::User(u)) = self.store.get_object(tenant, user).await.map_err(unavailable)? else {
            return Err(OAuthError::user_disabled());
        };
        let req = RequestFacts {
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            browser: true,
            resource_app_id: None,
            client_app_id: None,
            user_action: Some("urn:user:registersecurityinfo".into()),
            sign_in_risk: None,
        };
        let eval = self.evaluate_user(tenant, &u, &req, &AuthState::default()).await.map_err(unavailable)?;
        match eval.outcome {
            policy::Outcome::Block { .. } => Err(blocked()),
            _ => Ok(()),
        }
    }

    async fn campaign_targets(&self, tenant: TenantId, user: &User, policy: &crate::settings::MethodsPolicy) -> bool {
        if policy.campaign_groups.is_empty() {
            return true;
        }
        match self.user_subject(tenant, user).await {
            Ok(facts) => facts.group_ids.iter().any(|g| policy.campaign_groups.iter().any(|c| c.as_uuid() == *g)),
            Err(_) => false,
        }
    }

    /// The sign-in record of an interactive flow step.
    #[allow(clippy::too_many_arguments)]
    fn flow_event(
        &self,
        tenant: TenantId,
        flow: &PendingFlow,
        user: &User,
        primary: &str,
        resource: (uuid::Uuid, &str),
        ctx: &RequestContext,
    ) -> SignInEvent {
        let mut event = SignInEvent::new(tenant, SignInKind::Interactive, ctx.clone());
        event.resource_id = Some(resource.0.to_string());
        event.resource_display_name = Some(resource.1.to_string());
        event.user_id = Some(user.id);
        event.user_principal_name = Some(user.user_principal_name.clone());
        event.user_display_name = Some(user.display_name.clone());
        event.app_id = Some(flow.client_id.to_string());
        event.app_display_name = Some(flow.app_name.clone());
        event.auth_method = Some(match primary {
            "Password" => "Password",
            "Passkey" => "Passkey",
            _ => "Previously satisfied",
        });
        event.protocol = Some(if primary == "Previously satisfied" {
            "sso"
        } else if flow.device_user_code.is_some() {
            "deviceCode"
        } else {
            "authorizationCode"
        });
        // The second factor proven in this flow (not one inherited from the session).
        if let Some(m) = flow.second_factor_in_flow.as_deref() {
            event.second_factor = Some((method_display(m), true));
        }
        event.multi_factor = is_multi_factor(&flow.methods);
        event.risk = flow.sign_in_risk.as_ref().map(|level| crate::logs::RiskInfo {
            during: level.clone(),
            aggregated: "none".into(),
            state: if level == "none" { "none".into() } else { "atRisk".into() },
            detail: "none".into(),
            event_types: flow.risk_events.clone(),
        });
        event
    }

    /// Conditional Access at the token endpoint for a user grant (code redemption, refresh,
    /// device code, on-behalf-of): the methods proven at sign-in travel with the grant.
    pub async fn check_user_token_access(
        &self,
        tenant: TenantId,
        grant: &crate::usertokens::GrantContext,
        resource_app_id: uuid::Uuid,
        resource_name: &str,
        public_client: bool,
        ctx: &RequestContext,
    ) -> Result<(&'static str, serde_json::Value), (OAuthError, (&'static str, serde_json::Value))> {
        let none = || ("notApplied", serde_json::Value::Array(Vec::new()));
        let unavailable = |_| (OAuthError::temporarily_unavailable(), none());
        let user = match self.store.get_object(tenant, grant.user_id).await.map_err(unavailable)? {
            Some(DirectoryObject::User(u)) => u,
            _ => {
                return Err((
                    OAuthError::invalid_request(50034, "The user account does not exist in the directory."),
                    none(),
                ));
            }
        };
        let auth = AuthState {
            methods: grant.methods.clone(),
            auth_time: Some(grant.auth_time),
            mfa_time: grant.mfa_time,
            secure_password_change: false,
        };
        let req = RequestFacts {
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            browser: !public_client,
            resource_app_id: Some(resource_app_id),
            client_app_id: Some(grant.client_id),
            user_action: None,
            sign_in_risk: None,
        };
        let eval = self.evaluate_user(tenant, &user, &req, &auth).await.map_err(unavailable)?;
        let logged = (eval.conditional_access_status(), crate::ca::logged_policies(&eval));
        match &eval.outcome {
            policy::Outcome::Allow => Ok(logged),
            policy::Outcome::Block { .. } => {
                self.metrics.conditional_access_failures.inc(&[&tenant.to_string()]);
                Err((OAuthError::new(ErrorKind::InvalidGrant, 53003, blocked().description), logged))
            }
            policy::Outcome::Interrupt { requirements } => {
                self.metrics.conditional_access_failures.inc(&[&tenant.to_string()]);
                let e = requirements
                    .iter()
                    .find(|r| matches!(actionable(r), policy::Requirement::Unsatisfiable { .. }))
                    .or_else(|| requirements.first())
                    .map(|r| requirement_error(r, resource_name))
                    .unwrap_or_else(OAuthError::server_error);
                Err((e, logged))
            }
        }
    }
}
