//! The second-factor steps of an interactive flow: `/{tenant}/mfa` (answer with an authenticator
//! code, a passkey or a recovery code), `/{tenant}/mfa/register` (register an authenticator app or
//! a passkey when a policy or a registration campaign asks) and `/{tenant}/mfa/codes` (recovery
//! codes shown once). Every decision is the core's; these handlers read forms and render pages.

use crate::AppState;
use crate::meta::RequestMeta;
use crate::pages;
use crate::signin::{
    PageCtx, allow_flow_redirect, continue_flow, cookie, expired_flow, field, flow_for, flow_form, next_response,
    redirect, session_cookie_name,
};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::Core;
use ostiary_core::audit::Actor;
use ostiary_core::flow::Next;
use ostiary_core::logs::{SignInEvent, SignInKind};
use ostiary_core::mfa::{MethodDoc, MfaError};
use ostiary_core::signin::PendingFlow;
use ostiary_model::TenantId;
use ostiary_oauth::OAuthError;

/// Largest WebAuthn response we accept in a form field.
const MAX_CREDENTIAL: usize = 64 * 1024;

fn unavailable(page: &PageCtx<'_>) -> Response {
    page.error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable.",
        &OAuthError::temporarily_unavailable(),
    )
}

/// Records that a second factor was proven: the flow, and the browser's session (so SSO to other
/// apps carries MFA), then continues the flow.
async fn proven(
    page: &mut PageCtx<'_>,
    core: &Core,
    tenant: TenantId,
    headers: &HeaderMap,
    flow_id: &str,
    mut flow: PendingFlow,
    method: &str,
) -> Response {
    let now = core.now().unix_timestamp();
    if !flow.methods.iter().any(|m| m == method) {
        flow.methods.push(method.to_string());
    }
    flow.mfa_time = Some(now);
    flow.second_factor_in_flow = Some(method.to_string());
    flow.webauthn_state = None;
    let Some((_, entry)) = flow_for(core, tenant, headers, flow_id, None).await else { return expired_flow(page) };
    if !core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
        return expired_flow(page);
    }
    let session_cookie = cookie(headers, &session_cookie_name(tenant));
    if let (Some(user), Some(c)) = (flow.user_id, session_cookie.as_deref()) {
        let _ = core.session_add_methods(tenant, c, user, &flow.methods, flow.mfa_time).await;
    }
    let mut resp = continue_flow(page, core, tenant, headers, flow_id).await;
    // The access gate may have marked the session persistent (`persistentBrowser: always`).
    if let Some(c) = session_cookie
        && let Ok(Some(s)) = core.session(tenant, &c, None).await
        && s.persistent
        && let Ok(settings) = core.tenant_settings(tenant).await
    {
        crate::signin::set_cookie(&mut resp, &session_cookie_name(tenant), &c, Some(settings.session_lifetime_secs));
    }
    resp
}

/// A failed second factor: in the sign-in log (AADSTS500121) and counted.
async fn record_failure(core: &Core, tenant: TenantId, flow: &PendingFlow, meta: &RequestMeta, method: &'static str) {
    let mut event = SignInEvent::new(tenant, SignInKind::Interactive, meta.context());
    event.user_id = flow.user_id;
    if let Some(u) = flow.user_id
        && let Some((name, upn)) = core.user_label(tenant, u).await
    {
        event.user_display_name = Some(name);
        event.user_principal_name = Some(upn);
    }
    event.app_id = Some(flow.client_id.to_string());
    event.app_display_name = Some(flow.app_name.clone());
    event.auth_method =
        Some(if flow.methods.iter().any(|m| m == "password") { "Password" } else { "Previously satisfied" });
    event.second_factor = Some((method, false));
    event.error_code = 500121;
    event.failure_reason = Some("Authentication failed during strong authentication request.".into());
    event.protocol = Some(if flow.device_user_code.is_some() { "deviceCode" } else { "authorizationCode" });
    core.record_sign_in(event).await;
}

/// `GET|POST /{tenant}/mfa`.
pub async fn challenge(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let mut page = PageCtx::new(core, &meta, Some(tenant)).await;
    let (flow_id, fields, csrf) = flow_form(&method, &uri, body).await;
    let Some((flow, entry)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    let Some(user_id) = flow.user_id else { return redirect(&format!("/{tenant}/login?flow={flow_id}")) };
    // Only when the flow really is at this step (a policy asks for MFA).
    let next = match core.advance_flow(tenant, &flow_id, flow.clone(), entry, None, &meta.context()).await {
        Ok(n) => n,
        Err(e) => Next::Fail(e),
    };
    let Next::Mfa { reason, allowed } = next else {
        return next_response(&mut page, tenant, &flow_id, &flow, next).await;
    };
    let offers = |m: &str| allowed.is_empty() || allowed.iter().any(|a| a == m);
    // The gate may have saved the flow (the interrupt record): continue from the stored one.
    let Some((mut flow, _)) = flow_for(core, tenant, &headers, &flow_id, None).await else {
        return expired_flow(&page);
    };
    let mut error: Option<String> = None;
    if method == Method::POST {
        let result = match field(&fields, "method") {
            Some("totp") if offers("softwareOath") => {
                let code = field(&fields, "otp").unwrap_or_default();
                core.verify_totp(tenant, user_id, code).await.map(|()| ("softwareOath", "OATH verification code"))
            }
            Some("recovery") if offers("recoveryCode") => {
                let code = field(&fields, "recovery_code").unwrap_or_default();
                core.use_recovery_code(tenant, user_id, code).await.map(|()| ("recoveryCode", "Recovery code"))
            }
            Some("passkey") if offers("fido2") => {
                let credential = field(&fields, "credential").unwrap_or_default();
                match flow.webauthn_state.clone() {
                    Some(state) if !credential.is_empty() && credential.len() <= MAX_CREDENTIAL => core
                        .finish_passkey_authentication(tenant, Some(user_id), &state, credential)
                        .await
                        .map(|_| ("fido2", "Passkey")),
                    _ => Err(MfaError::Passkey),
                }
            }
            _ => Err(MfaError::WrongCode),
        };
        match result {
            Ok((m, _)) => return proven(&mut page, core, tenant, &headers, &flow_id, flow, m).await,
            Err(MfaError::Unavailable) => return unavailable(&page),
            Err(e) => {
                let label = match field(&fields, "method") {
                    Some("recovery") => "Recovery code",
                    Some("passkey") => "Passkey",
                    _ => "OATH verification code",
                };
                record_failure(core, tenant, &flow, &meta, label).await;
                error = Some(e.to_string());
            }
        }
    }
    let Ok(methods) = core.methods_of(tenant, user_id).await else { return unavailable(&page) };
    let totp = offers("softwareOath")
        && core.method_allowed(tenant, user_id, "softwareOath").await.unwrap_or(false)
        && methods.iter().any(|m| matches!(m, MethodDoc::SoftwareOath { .. }));
    let recovery = offers("recoveryCode")
        && methods.iter().any(|m| matches!(m, MethodDoc::RecoveryCodes { hashes, .. } if !hashes.is_empty()));
    let mut options = None;
    if offers("fido2")
        && let Ok(Some((opts, state))) = core.start_passkey_authentication(tenant, user_id).await
        && let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await
    {
        flow.webauthn_state = Some(state);
        if core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
            options = Some(opts.to_string());
        }
    }
    let upn = core.user_label(tenant, user_id).await.map(|(_, u)| u).unwrap_or_default();
    allow_flow_redirect(&mut page, &flow);
    let action = format!("/{tenant}/mfa");
    let view = pages::MfaChallengeView {
        action: &action,
        flow: &flow_id,
        csrf: &flow.csrf,
        user: &upn,
        reason: &reason,
        totp,
        passkey_options: options.as_deref(),
        recovery,
        error: error.as_deref(),
    };
    page.html(StatusCode::OK, pages::mfa_challenge(&page.branding, &view, &page.nonce))
}

/// `GET|POST /{tenant}/mfa/register`.
pub async fn register(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let mut page = PageCtx::new(core, &meta, Some(tenant)).await;
    let (flow_id, fields, csrf) = flow_form(&method, &uri, body).await;
    let Some((flow, entry)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    let Some(user_id) = flow.user_id else { return redirect(&format!("/{tenant}/login?flow={flow_id}")) };
    let next = match core.advance_flow(tenant, &flow_id, flow.clone(), entry, None, &meta.context()).await {
        Ok(n) => n,
        Err(e) => Next::Fail(e),
    };
    let Next::RegisterMfa { reason, can_skip, allowed } = next else {
        return next_response(&mut page, tenant, &flow_id, &flow, next).await;
    };
    let offers = |m: &str| allowed.is_empty() || allowed.iter().any(|a| a == m);
    let Some((mut flow, _)) = flow_for(core, tenant, &headers, &flow_id, None).await else {
        return expired_flow(&page);
    };
    // Registering security info is a user action Conditional Access can restrict.
    if let Err(e) = core.check_registration_allowed(tenant, user_id, &meta.context()).await {
        return page.error_page(StatusCode::FORBIDDEN, "You can't register security info from here", &e);
    }
    let Some((display, upn)) = core.user_label(tenant, user_id).await else { return unavailable(&page) };
    let actor = Actor::user(tenant, user_id, &upn, meta.context());
    let mut error: Option<String> = None;
    if method == Method::POST {
        let result = match field(&fields, "method") {
            Some("totp") => core
                .finish_totp_registration(&actor, user_id, field(&fields, "otp").unwrap_or_default())
                .await
                .map(|()| "softwareOath"),
            Some("passkey") => {
                let credential = field(&fields, "credential").unwrap_or_default();
                match flow.webauthn_state.clone() {
                    Some(state) if !credential.is_empty() && credential.len() <= MAX_CREDENTIAL => {
                        core.finish_passkey_registration(&actor, user_id, &state, credential).await.map(|()| "fido2")
                    }
                    _ => Err(MfaError::Passkey),
                }
            }
            Some("skip") if can_skip => {
                let _ = core.snooze_campaign(tenant, user_id).await;
                flow.campaign_snoozed = true;
                let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await else {
                    return expired_flow(&page);
                };
                if !core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
                    return expired_flow(&page);
                }
                return continue_flow(&mut page, core, tenant, &headers, &flow_id).await;
            }
            _ => Err(MfaError::WrongCode),
        };
        match result {
            Ok(m) => {
                // First second factor: hand out recovery codes too.
                let has_codes = core
                    .methods_of(tenant, user_id)
                    .await
                    .map(|ms| ms.iter().any(|d| matches!(d, MethodDoc::RecoveryCodes { .. })))
                    .unwrap_or(true);
                flow.show_recovery_codes = !has_codes;
                return proven(&mut page, core, tenant, &headers, &flow_id, flow, m).await;
            }
            Err(MfaError::Unavailable) => return unavailable(&page),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let totp = if offers("softwareOath") && core.method_allowed(tenant, user_id, "softwareOath").await.unwrap_or(false)
    {
        match core.start_totp_registration(tenant, user_id, &upn, &page.branding.tenant_name).await {
            Ok(t) => Some(t),
            Err(_) => return unavailable(&page),
        }
    } else {
        None
    };
    let mut options = None;
    if offers("fido2")
        && let Ok((opts, state)) = core.start_passkey_registration(tenant, user_id, &upn, &display).await
        && let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await
    {
        flow.webauthn_state = Some(state);
        if core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
            options = Some(opts.to_string());
        }
    }
    allow_flow_redirect(&mut page, &flow);
    let action = format!("/{tenant}/mfa/register");
    let view = pages::MfaRegisterView {
        action: &action,
        flow: &flow_id,
        csrf: &flow.csrf,
        user: &upn,
        reason: &reason,
        totp: totp.as_ref().map(|(secret, _, svg)| (svg.as_str(), secret.as_str())),
        passkey_options: options.as_deref(),
        can_skip,
        error: error.as_deref(),
    };
    page.html(StatusCode::OK, pages::mfa_register(&page.branding, &view, &page.nonce))
}

/// `GET|POST /{tenant}/mfa/codes`.
pub async fn codes(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let mut page = PageCtx::new(core, &meta, Some(tenant)).await;
    let (flow_id, _fields, csrf) = flow_form(&method, &uri, body).await;
    let Some((mut flow, entry)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    let Some(user_id) = flow.user_id else { return redirect(&format!("/{tenant}/login?flow={flow_id}")) };
    if !flow.show_recovery_codes {
        return continue_flow(&mut page, core, tenant, &headers, &flow_id).await;
    }
    if method == Method::POST {
        flow.show_recovery_codes = false;
        if !core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
            return expired_flow(&page);
        }
        return continue_flow(&mut page, core, tenant, &headers, &flow_id).await;
    }
    let Some((_, upn)) = core.user_label(tenant, user_id).await else { return unavailable(&page) };
    let actor = Actor::user(tenant, user_id, &upn, meta.context());
    let Ok(codes) = core.create_recovery_codes(&actor, user_id).await else { return unavailable(&page) };
    allow_flow_redirect(&mut page, &flow);
    let action = format!("/{tenant}/mfa/codes");
    let view = pages::RecoveryCodesView { action: &action, flow: &flow_id, csrf: &flow.csrf, codes: &codes };
    page.html(StatusCode::OK, pages::recovery_codes(&page.branding, &view, &page.nonce))
}

/// `GET /static/webauthn.js`.
pub async fn script() -> Response {
    let mut resp = pages::WEBAUTHN_SCRIPT.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}
