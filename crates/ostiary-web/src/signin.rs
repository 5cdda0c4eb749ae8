//! Interactive endpoints: `/authorize`, the sign-in, consent and change-password pages, the
//! device-login page, `/devicecode`, `/logout` and `/oidc/userinfo`. Cookies: a host-only
//! browser-binding cookie (flows can only be continued by the browser that started them) and a
//! per-tenant SSO session cookie, both `Secure; HttpOnly; SameSite=Lax`. Every page carries a
//! strict Content-Security-Policy with a per-response script nonce.

use crate::AppState;
use crate::error::oauth_error;
use crate::meta::RequestMeta;
use crate::pages;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::Core;
use ostiary_core::flow::Next;
use ostiary_core::logs::{SignInEvent, SignInKind};
use ostiary_core::signin::{PendingFlow, SignInError, secret_key};
use ostiary_model::TenantId;
use ostiary_oauth::{AuthorizeError, AuthorizeRequest, OAuthError, Platform, RegisteredRedirects, ResponseMode};
use serde_json::json;

pub(crate) const BROWSER_COOKIE: &str = "ostiary_browser";

pub(crate) fn session_cookie_name(tenant: TenantId) -> String {
    format!("ostiary_session_{}", tenant.as_uuid().simple())
}

/// Reads one cookie value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name && !v.is_empty() && v.len() <= 256).then(|| v.to_string())
    })
}

pub(crate) fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    // The SSO session cookie must reach us on an SP's cross-site form post (SAML HTTP-POST
    // binding, OIDC form_post), as Entra's is: SameSite=None. Everything it authorizes still needs
    // a registered reply URL; flows stay bound to the Lax browser cookie and CSRF tokens.
    let same_site = if name.starts_with("ostiary_session_") { "None" } else { "Lax" };
    if let Ok(v) =
        HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}{age}"))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(crate) async fn form_fields(body: Body) -> Vec<(String, String)> {
    form_fields_limited(body, crate::MAX_FORM_BODY).await.unwrap_or_default()
}

/// A form body of at most `limit` bytes, or `Err(())` when it is larger. A larger body is still
/// read (and dropped) up to [`DRAIN_LIMIT`], so that the client sees our answer rather than a
/// connection reset (RFC 9112 §9.6, lingering close).
pub(crate) async fn form_fields_limited(body: Body, limit: usize) -> Result<Vec<(String, String)>, ()> {
    use axum::body::HttpBody as _;
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(Ok(frame)) = frame else { break };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                kept.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > limit {
        return Err(());
    }
    Ok(form_urlencoded::parse(&kept).into_owned().collect())
}

/// How much of an oversized body is read and dropped before answering.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) struct PageCtx<'a> {
    pub(crate) core: &'a Core,
    pub(crate) meta: &'a RequestMeta,
    pub(crate) branding: pages::Branding,
    pub(crate) nonce: String,
    /// Extra `form-action` origins (the client's, for form_post responses).
    form_action: Vec<String>,
    frame_src: Vec<String>,
}

impl<'a> PageCtx<'a> {
    pub(crate) async fn new(core: &'a Core, meta: &'a RequestMeta, tenant: Option<TenantId>) -> PageCtx<'a> {
        let mut branding =
            pages::Branding { tenant_name: "Ostiary".into(), logo_url: None, accent_color: None, sign_in_text: None };
        if let Some(t) = tenant
            && let Ok(state) = core.tenant_state(t).await
        {
            branding.tenant_name = state.tenant.display_name.clone();
            branding.logo_url = state.settings.banner_logo_url.clone();
            branding.accent_color = state.settings.background_color.clone();
            branding.sign_in_text = state.settings.sign_in_page_text.clone();
        }
        PageCtx {
            core,
            meta,
            branding,
            nonce: ostiary_crypto::rand::random_token(core.rng.as_ref(), 16),
            form_action: vec![],
            frame_src: vec![],
        }
    }

    /// Allows iframes of these URLs' origins (front-channel logout).
    pub(crate) fn allow_frames(&mut self, urls: &[String]) {
        for o in urls.iter().filter_map(|u| origin(u)) {
            if !self.frame_src.contains(&o) {
                self.frame_src.push(o);
            }
        }
    }

    /// Allows navigation (a redirect after a form post) to this URL's origin.
    pub(crate) fn allow_form_action(&mut self, url: &str) {
        if let Some(o) = origin(url)
            && !self.form_action.contains(&o)
        {
            self.form_action.push(o);
        }
    }

    pub(crate) fn html(&self, status: StatusCode, body: String) -> Response {
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        let csp = format!(
            "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' https:; script-src 'nonce-{}'; form-action 'self' {}; frame-src {}; frame-ancestors 'none'; base-uri 'none'",
            self.nonce,
            self.form_action.join(" "),
            if self.frame_src.is_empty() { "'none'".to_string() } else { self.frame_src.join(" ") }
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        resp
    }

    pub(crate) fn error_page(&self, status: StatusCode, title: &str, e: &OAuthError) -> Response {
        let code = format!("AADSTS{}", e.code);
        let ts = self.core.now().unix_timestamp().to_string();
        let view = pages::ErrorView {
            title,
            message: &e.description,
            code: Some(&code),
            request_id: &self.meta.request_id,
            correlation_id: &self.meta.correlation_id,
            timestamp: &ts,
        };
        self.html(status, pages::error(&self.branding, &view, &self.nonce))
    }
}

/// Form pages of a flow may end in a redirect to the client, and CSP `form-action` applies to
/// redirects that follow a form submission: allow the flow's (validated) redirect origin.
pub(crate) fn allow_flow_redirect(page: &mut PageCtx<'_>, flow: &PendingFlow) {
    if let Some(o) = origin(&flow.redirect_uri)
        && !page.form_action.contains(&o)
    {
        page.form_action.push(o);
    }
}

/// Origin (`scheme://host[:port]`) of a URL, for CSP lists.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(['\'', ';', ' '])).then(|| format!("{scheme}://{host}"))
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn response_mode_str(m: ResponseMode) -> &'static str {
    match m {
        ResponseMode::Query => "query",
        ResponseMode::Fragment => "fragment",
        ResponseMode::FormPost => "form_post",
    }
}

fn parse_mode(s: &str) -> ResponseMode {
    match s {
        "fragment" => ResponseMode::Fragment,
        "form_post" => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    }
}

/// Sends the authorization response (code or error) to the validated redirect URI.
fn respond(page: &mut PageCtx<'_>, flow: &PendingFlow, params: &[(String, String)]) -> Response {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match ostiary_oauth::authorization_response(parse_mode(&flow.response_mode), &flow.redirect_uri, &pairs) {
        ostiary_oauth::AuthResponse::Redirect(url) => redirect(&url),
        ostiary_oauth::AuthResponse::FormPost { action, fields } => {
            if let Some(o) = origin(&action) {
                page.form_action.push(o);
            }
            let body = ostiary_oauth::form_post_html(&action, &fields, &page.nonce, "Working...");
            page.html(StatusCode::OK, body)
        }
    }
}

/// Turns the core's decision into an HTTP response.
pub(crate) async fn next_response(
    page: &mut PageCtx<'_>,
    tenant: TenantId,
    flow_id: &str,
    flow: &PendingFlow,
    next: Next,
) -> Response {
    let base = format!("/{tenant}");
    match next {
        Next::SignIn => redirect(&format!("{base}/login?flow={flow_id}")),
        Next::SelectAccount => redirect(&format!("{base}/selectaccount?flow={flow_id}")),
        Next::ChangePassword => redirect(&format!("{base}/changepassword?flow={flow_id}")),
        Next::Mfa { .. } => redirect(&format!("{base}/mfa?flow={flow_id}")),
        Next::RegisterMfa { .. } => redirect(&format!("{base}/mfa/register?flow={flow_id}")),
        Next::RecoveryCodes => redirect(&format!("{base}/mfa/codes?flow={flow_id}")),
        Next::Consent { .. } => redirect(&format!("{base}/consent?flow={flow_id}")),
        Next::Respond { params } => respond(page, flow, &params),
        Next::DeviceDone { approved } => {
            let body = pages::device_code_done(&page.branding, &flow.app_name, approved, &page.nonce);
            page.html(StatusCode::OK, body)
        }
        Next::Fail(e) => {
            page.error_page(StatusCode::BAD_REQUEST, "Sorry, but we're having trouble signing you in.", &e)
        }
        Next::SamlError { sub_code, message } => {
            match page.core.saml_error_response(tenant, flow, &sub_code, &message).await {
                Ok(params) => respond(page, flow, &params),
                Err(e) => {
                    page.error_page(StatusCode::BAD_REQUEST, "Sorry, but we're having trouble signing you in.", &e)
                }
            }
        }
    }
}

fn browser_cookie(headers: &HeaderMap, core: &Core) -> (String, bool) {
    match cookie(headers, BROWSER_COOKIE) {
        Some(c) => (c, false),
        None => (ostiary_crypto::rand::random_token(core.rng.as_ref(), 24), true),
    }
}

pub(crate) async fn current_session(
    core: &Core,
    headers: &HeaderMap,
    tenant: TenantId,
    app: Option<&str>,
) -> Option<ostiary_core::signin::Session> {
    let c = cookie(headers, &session_cookie_name(tenant))?;
    core.session(tenant, &c, app).await.ok().flatten()
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
pub async fn authorize(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let params: Vec<(String, String)> = if method == Method::POST {
        form_fields(body).await
    } else {
        uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
    };
    let tenant = if ostiary_core::ids::is_multi_tenant_alias(&segment) {
        // Home-tenant discovery: the UPN domain of the hints, else the client's tenant.
        let hint = field(&params, "domain_hint")
            .map(str::to_string)
            .or_else(|| field(&params, "login_hint").and_then(|h| h.rsplit_once('@')).map(|(_, d)| d.to_string()));
        core.tenant_for_alias(field(&params, "client_id").unwrap_or_default(), hint.as_deref()).await
    } else {
        core.resolve_tenant(&segment).await.ok()
    };
    let mut page = PageCtx::new(core, &meta, tenant).await;
    let Some(tenant) = tenant else {
        return page.error_page(
            StatusCode::BAD_REQUEST,
            "We couldn't find that organization.",
            &OAuthError::tenant_not_found(&segment),
        );
    };
    let req = match AuthorizeRequest::parse(&params) {
        Ok(r) => Some(r),
        Err(AuthorizeError::Fatal(e)) => {
            return page.error_page(StatusCode::BAD_REQUEST, "Sorry, but we're having trouble signing you in.", &e);
        }
        Err(AuthorizeError::Redirectable(e)) => {
            // Only usable once the client and redirect URI are validated.
            let Some(target) = AuthorizeRequest::error_redirect(&params) else {
                return page.error_page(StatusCode::BAD_REQUEST, "Sorry, but we're having trouble signing you in.", &e);
            };
            return authorize_redirectable_error(&mut page, core, tenant, &target, e).await;
        }
    };
    let Some(req) = req else { return StatusCode::BAD_REQUEST.into_response() };
    let Ok(state) = core.tenant_state(tenant).await else {
        return page.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
            &OAuthError::temporarily_unavailable(),
        );
    };
    let client = uuid::Uuid::parse_str(&req.client_id).ok().and_then(|id| state.clients.get(&id).cloned());
    let Some(client) = client.filter(|c| c.sp.is_some()) else {
        return page.error_page(
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in.",
            &OAuthError::application_not_found(&req.client_id),
        );
    };
    let app = &client.app;
    let reg = RegisteredRedirects {
        web: &app.web.redirect_uris,
        spa: &app.spa.redirect_uris,
        public_client: &app.public_client.redirect_uris,
    };
    let Some(redirect_uri) = req.redirect_uri.clone() else {
        return page.error_page(
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in.",
            &OAuthError::redirect_uri_mismatch(""),
        );
    };
    let Some(platform) = ostiary_oauth::match_redirect_uri(&redirect_uri, &reg) else {
        return page.error_page(
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in.",
            &OAuthError::redirect_uri_mismatch(&redirect_uri),
        );
    };
    let platform_name = match platform {
        Platform::Web => "web",
        Platform::Spa => "spa",
        Platform::PublicClient => "publicClient",
    };
    let flow = PendingFlow {
        client_id: app.app_id,
        app_name: app.display_name.clone(),
        redirect_uri,
        platform: platform_name.into(),
        response_mode: response_mode_str(req.response_mode).into(),
        state: req.state.clone(),
        nonce: req.nonce.clone(),
        scopes: req.scope.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.map(|m| match m {
            ostiary_oauth::PkceMethod::S256 => "S256".to_string(),
            ostiary_oauth::PkceMethod::Plain => "plain".to_string(),
        }),
        prompt: req.prompt.map(|p| {
            match p {
                ostiary_oauth::Prompt::Login => "login",
                ostiary_oauth::Prompt::None => "none",
                ostiary_oauth::Prompt::Consent => "consent",
                ostiary_oauth::Prompt::SelectAccount => "select_account",
            }
            .to_string()
        }),
        max_age: req.max_age,
        login_hint: req.login_hint.clone(),
        client_info: req.client_info,
        csrf: ostiary_crypto::rand::random_token(core.rng.as_ref(), 24),
        browser: String::new(),
        user_id: None,
        auth_time: None,
        device_user_code: None,
        must_change_password: false,
        ..Default::default()
    };
    // PKCE with S256 is mandatory for clients that cannot keep a secret (RFC 9700 §2.1.1).
    if matches!(platform, Platform::Spa | Platform::PublicClient)
        && flow.code_challenge_method.as_deref() != Some("S256")
    {
        let next = core.error_params(&flow, &OAuthError::pkce_required());
        return next_response(&mut page, tenant, "", &flow, next).await;
    }
    if req.scope.is_empty() {
        let next =
            core.error_params(&flow, &OAuthError::invalid_scope("The request must include a 'scope' parameter."));
        return next_response(&mut page, tenant, "", &flow, next).await;
    }
    run_new_flow(&mut page, tenant, &headers, &meta, flow).await
}

/// Stores a new flow bound to this browser and takes its first step (sign-in page, SSO, ...).
pub(crate) async fn run_new_flow(
    page: &mut PageCtx<'_>,
    tenant: TenantId,
    headers: &HeaderMap,
    meta: &RequestMeta,
    mut flow: PendingFlow,
) -> Response {
    let core = page.core;
    let (browser, new_cookie) = browser_cookie(headers, core);
    flow.browser = secret_key(&browser);
    let Ok(flow_id) = core.start_flow(tenant, &flow).await else {
        return page.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
            &OAuthError::temporarily_unavailable(),
        );
    };
    let session = current_session(core, headers, tenant, Some(&flow.client_id.to_string())).await;
    let Ok(Some((flow, entry))) = core.load_flow(tenant, &flow_id, Some(&browser), None).await else {
        return page.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
            &OAuthError::temporarily_unavailable(),
        );
    };
    let next = match core.advance_flow(tenant, &flow_id, flow.clone(), entry, session.as_ref(), &meta.context()).await {
        Ok(n) => n,
        Err(e) => Next::Fail(e),
    };
    let mut resp = next_response(page, tenant, &flow_id, &flow, next).await;
    if new_cookie {
        set_cookie(&mut resp, BROWSER_COOKIE, &browser, None);
    }
    resp
}

async fn authorize_redirectable_error(
    page: &mut PageCtx<'_>,
    core: &Core,
    tenant: TenantId,
    target: &ostiary_oauth::ErrorRedirect,
    e: OAuthError,
) -> Response {
    let (client_id, redirect_uri, state_param) =
        (target.client_id.as_str(), target.redirect_uri.as_deref(), target.state.as_deref());
    let Ok(state) = core.tenant_state(tenant).await else {
        return page.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
            &OAuthError::temporarily_unavailable(),
        );
    };
    let client = uuid::Uuid::parse_str(client_id).ok().and_then(|id| state.clients.get(&id).cloned());
    let Some(client) = client else {
        return page.error_page(
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in.",
            &OAuthError::application_not_found(client_id),
        );
    };
    let app = &client.app;
    let reg = RegisteredRedirects {
        web: &app.web.redirect_uris,
        spa: &app.spa.redirect_uris,
        public_client: &app.public_client.redirect_uris,
    };
    let Some(uri) = redirect_uri.filter(|u| ostiary_oauth::match_redirect_uri(u, &reg).is_some()) else {
        return page.error_page(StatusCode::BAD_REQUEST, "Sorry, but we're having trouble signing you in.", &e);
    };
    let mut params = vec![
        ("error", e.kind.as_str().to_string()),
        ("error_description", format!("AADSTS{}: {}", e.code, e.description)),
    ];
    if let Some(s) = state_param {
        params.push(("state", s.to_string()));
    }
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match ostiary_oauth::authorization_response(target.response_mode, uri, &pairs) {
        ostiary_oauth::AuthResponse::Redirect(url) => redirect(&url),
        ostiary_oauth::AuthResponse::FormPost { action, fields } => {
            if let Some(o) = origin(&action) {
                page.form_action.push(o);
            }
            let body = ostiary_oauth::form_post_html(&action, &fields, &page.nonce, "Working...");
            page.html(StatusCode::OK, body)
        }
    }
}

/// Loads the flow named in the query (GET) or form (POST) for this browser.
pub(crate) async fn flow_for(
    core: &Core,
    tenant: TenantId,
    headers: &HeaderMap,
    flow_id: &str,
    csrf: Option<&str>,
) -> Option<(PendingFlow, ostiary_store::KvEntry)> {
    let browser = cookie(headers, BROWSER_COOKIE)?;
    core.load_flow(tenant, flow_id, Some(&browser), csrf).await.ok().flatten()
}

pub(crate) fn expired_flow(page: &PageCtx<'_>) -> Response {
    page.error_page(
        StatusCode::BAD_REQUEST,
        "Your sign-in session has expired",
        &OAuthError::invalid_request(50089, "The sign-in took too long or the page was opened in another browser. Go back to the application and try again."),
    )
}

/// The flow id (query on GET, form on POST), the form fields, and the CSRF token a POST must carry.
pub(crate) async fn flow_form(
    method: &Method,
    uri: &Uri,
    body: Body,
) -> (String, Vec<(String, String)>, Option<String>) {
    if *method == Method::GET {
        return (query_param(uri, "flow").unwrap_or_default(), Vec::new(), None);
    }
    let fields = form_fields(body).await;
    let flow_id = field(&fields, "flow").unwrap_or_default().to_string();
    let csrf = Some(field(&fields, "csrf").unwrap_or_default().to_string());
    (flow_id, fields, csrf)
}

pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()))
}

/// Renders the sign-in page. When passkeys are enabled it also offers a username-less passkey
/// sign-in: the ceremony state goes into the (server-side) flow, the options into the page.
async fn render_sign_in(
    page: &mut PageCtx<'_>,
    tenant: TenantId,
    flow_id: &str,
    headers: &HeaderMap,
    username: Option<&str>,
    error: Option<&str>,
) -> Response {
    let core = page.core;
    let Some((mut flow, entry)) = flow_for(core, tenant, headers, flow_id, None).await else {
        return expired_flow(page);
    };
    let mut options = None;
    if let Ok(Some((opts, state))) = core.start_discoverable(tenant).await {
        flow.webauthn_state = Some(state);
        if core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
            options = Some(opts.to_string());
        }
    }
    allow_flow_redirect(page, &flow);
    let action = format!("/{tenant}/login");
    let view = pages::SignInView {
        action: &action,
        flow: flow_id,
        csrf: &flow.csrf,
        username: username.or(flow.login_hint.as_deref()),
        error,
        app_name: &flow.app_name,
        passkey_options: options.as_deref(),
    };
    page.html(StatusCode::OK, pages::sign_in(&page.branding, &view, &page.nonce))
}

/// `GET|POST /{tenant}/login`.
pub async fn login(
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
    if method == Method::GET {
        let flow_id = query_param(&uri, "flow").unwrap_or_default();
        return render_sign_in(&mut page, tenant, &flow_id, &headers, None, None).await;
    }
    let fields = form_fields(body).await;
    let flow_id = field(&fields, "flow").unwrap_or_default().to_string();
    let Some((mut flow, _)) =
        flow_for(core, tenant, &headers, &flow_id, Some(field(&fields, "csrf").unwrap_or_default())).await
    else {
        return expired_flow(&page);
    };
    let mut event = SignInEvent::new(tenant, SignInKind::Interactive, meta.context());
    event.protocol = Some("authorizationCode");
    if let Ok(state) = core.tenant_state(tenant).await
        && let Some(client) = state.clients.get(&flow.client_id)
    {
        event.app_id = Some(flow.client_id.to_string());
        event.app_display_name = Some(client.app.display_name.clone());
    }
    let (user, primary, methods) = if field(&fields, "method") == Some("passkey") {
        // Username-less passkey sign-in: the credential names the user.
        let credential = field(&fields, "credential").unwrap_or_default();
        let state = flow.webauthn_state.take();
        let result = match &state {
            Some(state) if !credential.is_empty() && credential.len() <= 64 * 1024 => {
                core.finish_passkey_authentication(tenant, None, state, credential).await.ok()
            }
            _ => None,
        };
        let user = match result {
            Some(id) => match core.store.get_object(tenant, id).await {
                Ok(Some(ostiary_model::DirectoryObject::User(u))) if u.account_enabled => Some(u),
                _ => None,
            },
            None => None,
        };
        event.auth_method = Some("Passkey");
        let Some(user) = user else {
            event.error_code = 500121;
            event.failure_reason = Some("Authentication failed during strong authentication request.".into());
            core.record_sign_in(event).await;
            return render_sign_in(
                &mut page,
                tenant,
                &flow_id,
                &headers,
                None,
                Some("The passkey could not be verified. Try again or sign in with your password."),
            )
            .await;
        };
        (user, "Passkey", vec!["fido2".to_string()])
    } else {
        let username = field(&fields, "username").unwrap_or_default().trim().to_string();
        let password = field(&fields, "password").unwrap_or_default().to_string();
        if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 256 {
            return render_sign_in(
                &mut page,
                tenant,
                &flow_id,
                &headers,
                Some(&username),
                Some("Enter your username and password."),
            )
            .await;
        }
        event.user_principal_name = Some(username.clone());
        event.auth_method = Some("Password");
        let result = core.password_sign_in(tenant, &username, &password, &meta.ip).await;
        let user = match result {
            Ok(u) => u,
            Err(e @ (SignInError::InvalidCredentials | SignInError::Locked | SignInError::Disabled)) => {
                event.error_code = e.aadsts();
                event.failure_reason = Some(e.to_string());
                let risk = core
                    .assess_sign_in_risk(tenant, &username, None, &password, &meta.context(), Some(e.aadsts()))
                    .await;
                event.risk = risk.map(|r| r.log);
                core.record_sign_in(event).await;
                tracing::debug!(tenant = %tenant, code = e.aadsts(), "interactive sign-in refused (in the sign-in log)");
                return render_sign_in(&mut page, tenant, &flow_id, &headers, Some(&username), Some(&e.to_string()))
                    .await;
            }
            Err(_) => {
                return page.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable.",
                    &OAuthError::temporarily_unavailable(),
                );
            }
        };
        // Identity Protection looks at every successful password sign-in; the sign-in risk
        // feeds Conditional Access in this flow.
        if let Some(r) =
            core.assess_sign_in_risk(tenant, &username, Some(&user), &password, &meta.context(), None).await
        {
            flow.sign_in_risk = Some(r.log.during.clone());
            flow.risk_events = r.log.event_types.clone();
        }
        (user, "Password", vec!["password".to_string()])
    };
    let now = core.now().unix_timestamp();
    // A new session id on every sign-in: a cookie planted before sign-in is worthless (fixation).
    let Ok(session_cookie) =
        core.create_session(tenant, user.id, now, Some(&flow.client_id.to_string()), &methods).await
    else {
        return page.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
            &OAuthError::temporarily_unavailable(),
        );
    };
    flow.user_id = Some(user.id);
    flow.auth_time = Some(now);
    flow.mfa_time = if primary == "Passkey" { Some(now) } else { None };
    if flow.mfa_time.is_some() {
        // A passkey is multifactor on its own: the session records when, as after a second factor.
        let _ = core.session_add_methods(tenant, &session_cookie, user.id, &methods, flow.mfa_time).await;
    }
    flow.methods = methods;
    flow.webauthn_state = None;
    flow.session_key = Some(secret_key(&session_cookie));
    // The sign-in record is written once Conditional Access has decided (the access gate).
    flow.log_pending = Some(primary.to_string());
    flow.interrupt_logged = false;
    flow.must_change_password = user.force_change_password_next_sign_in;
    if flow.prompt.as_deref() == Some("login") || flow.prompt.as_deref() == Some("select_account") {
        flow.prompt = None;
    }
    let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await else { return expired_flow(&page) };
    if !core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
        return expired_flow(&page);
    }
    let mut resp = continue_flow(&mut page, core, tenant, &headers, &flow_id).await;
    // A session cookie by default (gone with the browser); a persistent one when a policy's
    // `persistentBrowser: always` applied.
    let lifetime = match core.session(tenant, &session_cookie, None).await {
        Ok(Some(s)) if s.persistent => core.tenant_settings(tenant).await.ok().map(|t| t.session_lifetime_secs),
        _ => None,
    };
    set_cookie(&mut resp, &session_cookie_name(tenant), &session_cookie, lifetime);
    resp
}

pub(crate) async fn continue_flow(
    page: &mut PageCtx<'_>,
    core: &Core,
    tenant: TenantId,
    headers: &HeaderMap,
    flow_id: &str,
) -> Response {
    let Some((flow, entry)) = flow_for(core, tenant, headers, flow_id, None).await else { return expired_flow(page) };
    let ctx = page.meta.context();
    let next = match core.advance_flow(tenant, flow_id, flow.clone(), entry, None, &ctx).await {
        Ok(n) => n,
        Err(e) => Next::Fail(e),
    };
    next_response(page, tenant, flow_id, &flow, next).await
}

/// `GET|POST /{tenant}/consent`.
pub async fn consent(
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
    let Some((mut flow, entry)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    if flow.user_id.is_none() {
        return redirect(&format!("/{tenant}/login?flow={flow_id}"));
    }
    let next = match core.advance_flow(tenant, &flow_id, flow.clone(), entry, None, &meta.context()).await {
        Ok(n) => n,
        Err(e) => Next::Fail(e),
    };
    let Next::Consent { items, can_consent_for_org } = next else {
        return next_response(&mut page, tenant, &flow_id, &flow, next).await;
    };
    if method == Method::GET {
        allow_flow_redirect(&mut page, &flow);
        let user = match flow.user_id {
            Some(u) => core.user_label(tenant, u).await.map(|(_, upn)| upn).unwrap_or_default(),
            None => String::new(),
        };
        let perms: Vec<(String, String)> =
            items.iter().map(|i| (i.display_name.clone(), i.description.clone())).collect();
        let action = format!("/{tenant}/consent");
        let view = pages::ConsentView {
            action: &action,
            flow: &flow_id,
            csrf: &flow.csrf,
            app_name: &flow.app_name,
            publisher: None,
            user: &user,
            permissions: &perms,
            can_consent_for_org,
        };
        return page.html(StatusCode::OK, pages::consent(&page.branding, &view, &page.nonce));
    }
    if field(&fields, "decision") != Some("accept") {
        let _ = core.end_flow(tenant, &flow_id).await;
        if let Some(code) = &flow.device_user_code {
            let _ = core.decide_device(tenant, code, None).await;
            return page
                .html(StatusCode::OK, pages::device_code_done(&page.branding, &flow.app_name, false, &page.nonce));
        }
        let next = core.error_params(&flow, &OAuthError::user_declined_consent());
        return next_response(&mut page, tenant, &flow_id, &flow, next).await;
    }
    let values: Vec<String> = items.iter().map(|i| i.value.clone()).collect();
    let for_org = field(&fields, "admin_consent") == Some("true") && can_consent_for_org;
    if let Err(e) = core.record_consent(tenant, &flow, &values, for_org, meta.context()).await {
        return page.error_page(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.", &e);
    }
    // Consent given: `prompt=consent` is satisfied.
    flow.prompt = None;
    if let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await {
        let _ = core.save_flow(tenant, entry, &flow).await;
    }
    continue_flow(&mut page, core, tenant, &headers, &flow_id).await
}

/// `GET|POST /{tenant}/changepassword`: the forced password change during sign-in.
pub async fn change_password(
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
    let Some((mut flow, _)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    let Some(user_id) = flow.user_id else { return redirect(&format!("/{tenant}/login?flow={flow_id}")) };
    let settings = core.tenant_settings(tenant).await.unwrap_or_default();
    let upn = core.user_label(tenant, user_id).await.map(|(_, u)| u).unwrap_or_default();
    let render = |page: &PageCtx<'_>, error: Option<&str>| {
        let action = format!("/{tenant}/changepassword");
        let view = pages::ChangePasswordView {
            action: &action,
            flow: &flow_id,
            csrf: &flow.csrf,
            user: &upn,
            reason: "You need to update your password because this is the first time you are signing in, or because your password has expired.",
            error,
            min_length: settings.password_min_length,
        };
        page.html(StatusCode::OK, pages::change_password(&page.branding, &view, &page.nonce))
    };
    allow_flow_redirect(&mut page, &flow);
    if method == Method::GET {
        return render(&page, None);
    }
    let current = field(&fields, "current_password").unwrap_or_default().to_string();
    let new = field(&fields, "new_password").unwrap_or_default().to_string();
    if field(&fields, "confirm_password") != Some(new.as_str()) {
        return render(&page, Some("The passwords don't match."));
    }
    match core.change_own_password(tenant, user_id, &current, &new, meta.context()).await {
        Ok(()) => {}
        Err(msg) => return render(&page, Some(&msg)),
    }
    flow.must_change_password = false;
    // A password change after a second factor is a secure change: it satisfies a policy's
    // `passwordChange` control and remediates the user's risk (Entra's self-remediation).
    if ostiary_core::access::is_multi_factor(&flow.methods) {
        flow.secure_password_change = true;
        let actor = ostiary_core::audit::Actor::user(tenant, user_id, &upn, meta.context());
        let _ = core.remediate_user_risk(&actor, user_id).await;
    }
    if let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await {
        let _ = core.save_flow(tenant, entry, &flow).await;
    }
    continue_flow(&mut page, core, tenant, &headers, &flow_id).await
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    body: Body,
) -> Response {
    let core = &st.core;
    let fail = |e: OAuthError| oauth_error(&e, &meta, core.now());
    let fields = form_fields(body).await;
    let tenant = match core.resolve_tenant(&segment).await {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let Some(client_id) = field(&fields, "client_id").filter(|c| !c.is_empty()) else {
        return fail(OAuthError::missing_parameter("client_id"));
    };
    let scopes: Vec<String> =
        field(&fields, "scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let Ok(state) = core.tenant_state(tenant).await else { return fail(OAuthError::temporarily_unavailable()) };
    let Some(client) = uuid::Uuid::parse_str(client_id).ok().and_then(|id| state.clients.get(&id).cloned()) else {
        return fail(OAuthError::application_not_found(client_id));
    };
    let parsed = match ostiary_oauth::parse_delegated_scopes(&scopes) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(e) = ostiary_core::usertokens::resolve_resource(&state, &parsed) {
        return fail(e);
    }
    let Ok((device_code, user_code)) = core.start_device_flow(tenant, client.app.app_id, scopes).await else {
        return fail(OAuthError::temporarily_unavailable());
    };
    let uri = format!("{}/{tenant}/devicelogin", core.config.public_base);
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": uri,
        "expires_in": ostiary_core::usertokens::DEVICE_CODE_LIFETIME.whole_seconds(),
        "interval": ostiary_core::usertokens::DEVICE_POLL_INTERVAL,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    });
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    crate::error::no_store(&mut resp);
    resp
}

/// The device page's CSRF token is derived from the browser cookie (no flow exists yet).
fn device_csrf(browser: &str) -> String {
    secret_key(&format!("device-csrf/{browser}"))
}

/// `GET|POST /{tenant}/devicelogin`.
pub async fn devicelogin(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let page = PageCtx::new(core, &meta, Some(tenant)).await;
    let (browser, new_cookie) = browser_cookie(&headers, core);
    let csrf = device_csrf(&browser);
    let action = format!("/{tenant}/devicelogin");
    let entry_page = |page: &PageCtx<'_>, error: Option<&str>| {
        let view = pages::DeviceCodeView { action: &action, csrf: &csrf, error, prefill: None };
        page.html(StatusCode::OK, pages::device_code_entry(&page.branding, &view, &page.nonce))
    };
    let mut resp = if method == Method::GET {
        entry_page(&page, None)
    } else {
        let fields = form_fields(body).await;
        let csrf_ok = !new_cookie
            && ostiary_crypto::digest::ct_eq(field(&fields, "csrf").unwrap_or_default().as_bytes(), csrf.as_bytes());
        let code = field(&fields, "user_code").and_then(ostiary_oauth::normalize_user_code);
        let found = match (csrf_ok, code) {
            (true, Some(c)) => core
                .device_by_user_code(tenant, &c)
                .await
                .ok()
                .flatten()
                .filter(|(d, _)| d.status == "pending")
                .map(|(d, _)| (c, d)),
            _ => None,
        };
        match found {
            None => entry_page(&page, Some("That code didn't work. Check the code and try again.")),
            Some((user_code, doc)) => {
                let app_name = core
                    .tenant_state(tenant)
                    .await
                    .ok()
                    .and_then(|s| s.clients.get(&doc.client_id).map(|c| c.app.display_name.clone()))
                    .unwrap_or_default();
                let flow = PendingFlow {
                    client_id: doc.client_id,
                    app_name,
                    redirect_uri: String::new(),
                    platform: "device".into(),
                    response_mode: "query".into(),
                    state: None,
                    nonce: None,
                    scopes: doc.scopes.clone(),
                    code_challenge: None,
                    code_challenge_method: None,
                    // Entering a code on a shared or unfamiliar device always asks who is signing in.
                    prompt: Some("login".into()),
                    max_age: None,
                    login_hint: None,
                    client_info: false,
                    csrf: ostiary_crypto::rand::random_token(core.rng.as_ref(), 24),
                    browser: secret_key(&browser),
                    user_id: None,
                    auth_time: None,
                    device_user_code: Some(user_code),
                    must_change_password: false,
                    ..Default::default()
                };
                match core.start_flow(tenant, &flow).await {
                    Ok(flow_id) => redirect(&format!("/{tenant}/login?flow={flow_id}")),
                    Err(_) => page.error_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The service is temporarily unavailable.",
                        &OAuthError::temporarily_unavailable(),
                    ),
                }
            }
        }
    };
    if new_cookie {
        set_cookie(&mut resp, BROWSER_COOKIE, &browser, None);
    }
    resp
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the SSO session, front-channel logout of the
/// session's apps, and a continue link only to a registered post-logout URI (never an open
/// redirect).
pub async fn logout(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let params: Vec<(String, String)> = if method == Method::POST {
        form_fields(body).await
    } else {
        uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
    };
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let mut page = PageCtx::new(core, &meta, Some(tenant)).await;
    let state = core.tenant_state(tenant).await.ok();
    let mut front_channel = Vec::new();
    if let Some(c) = cookie(&headers, &session_cookie_name(tenant))
        && let Ok(Some(session)) = core.end_session(tenant, &c).await
        && let Some(state) = &state
    {
        let plan = core.saml_logout_plan(tenant, Some(&session), None).await;
        front_channel.extend(plan.front_channel);
        for app in &session.apps {
            let logout_url = uuid::Uuid::parse_str(app)
                .ok()
                .and_then(|id| state.clients.get(&id))
                .and_then(|c| c.app.web.logout_url.clone());
            if let Some(u) = logout_url.filter(|u| {
                u.starts_with("https://") || u.starts_with("http://localhost") || u.starts_with("http://127.0.0.1")
            }) {
                front_channel.push(u);
            }
        }
    }
    // The client: `client_id`, or the audience of `id_token_hint` (signature not required: it only narrows the check).
    let hinted_client = field(&params, "client_id").map(str::to_string).or_else(|| {
        field(&params, "id_token_hint")
            .and_then(|t| ostiary_crypto::jws::decode_unverified(t).ok())
            .and_then(|j| j.claims.get("aud").and_then(|a| a.as_str()).map(str::to_string))
    });
    let continue_url = field(&params, "post_logout_redirect_uri").filter(|target| {
        let Some(state) = &state else { return false };
        state.clients.values().any(|c| {
            let app = &c.app;
            let client_matches = hinted_client.as_deref().is_none_or(|h| h == app.app_id.to_string());
            client_matches
                && (app
                    .web
                    .redirect_uris
                    .iter()
                    .chain(&app.spa.redirect_uris)
                    .chain(&app.public_client.redirect_uris)
                    .any(|u| u == target)
                    || app.web.logout_url.as_deref() == Some(*target))
        })
    });
    let continue_url = continue_url.map(|u| match field(&params, "state") {
        Some(s) => {
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}state={}", form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())
        }
        None => u.to_string(),
    });
    page.frame_src = front_channel.iter().filter_map(|u| origin(u)).collect();
    let view = pages::SignedOutView { front_channel_urls: &front_channel, continue_url: continue_url.as_deref() };
    let mut resp = page.html(StatusCode::OK, pages::signed_out(&page.branding, &view, &page.nonce));
    set_cookie(&mut resp, &session_cookie_name(tenant), "", Some(0));
    resp
}

/// `GET|POST /oidc/userinfo`.
pub async fn userinfo(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let result = match token {
        Some(t) => st.core.userinfo(&t).await.map_err(|e| e.0),
        None => Err("Access token is missing.".to_string()),
    };
    match result {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(msg) => {
            let mut resp =
                (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_token", "error_description": msg })))
                    .into_response();
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            resp
        }
    }
}

/// `GET /static/ostiary.css`.
pub async fn stylesheet() -> Response {
    let mut resp = pages::STYLESHEET.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600, public"));
    resp
}

/// `GET|POST /{tenant}/selectaccount`: continue as the signed-in account or use another one.
pub async fn select_account(
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
    let Some((mut flow, _)) = flow_for(core, tenant, &headers, &flow_id, csrf.as_deref()).await else {
        return expired_flow(&page);
    };
    let session = current_session(core, &headers, tenant, None).await;
    let account = match &session {
        Some(s) => core.user_label(tenant, s.user_id).await,
        None => None,
    };
    let Some((display_name, username)) = account else {
        // No session any more: plain sign-in.
        return redirect(&format!("/{tenant}/login?flow={flow_id}"));
    };
    if method == Method::GET {
        allow_flow_redirect(&mut page, &flow);
        let action = format!("/{tenant}/selectaccount");
        let choices = [pages::AccountChoice { value: "current", display_name: &display_name, username: &username }];
        let view = pages::SelectAccountView { action: &action, flow: &flow_id, csrf: &flow.csrf, accounts: &choices };
        return page.html(StatusCode::OK, pages::select_account(&page.branding, &view, &page.nonce));
    }
    if field(&fields, "account") == Some("current") {
        if let Some(s) = &session {
            flow.user_id = Some(s.user_id);
            flow.auth_time = Some(s.auth_time);
        }
        flow.prompt = None;
    } else {
        // Another account: a fresh sign-in.
        flow.prompt = Some("login".into());
    }
    let Some((_, entry)) = flow_for(core, tenant, &headers, &flow_id, None).await else { return expired_flow(&page) };
    if !core.save_flow(tenant, entry, &flow).await.unwrap_or(false) {
        return expired_flow(&page);
    }
    if flow.user_id.is_none() {
        return redirect(&format!("/{tenant}/login?flow={flow_id}"));
    }
    continue_flow(&mut page, core, tenant, &headers, &flow_id).await
}

/// `GET|POST /{tenant}/account/password`: self-service password change for the signed-in user
/// (SSO session required; CSRF token derived from the browser cookie).
pub async fn my_password(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else { return StatusCode::NOT_FOUND.into_response() };
    let page = PageCtx::new(core, &meta, Some(tenant)).await;
    let Some(session) = current_session(core, &headers, tenant, None).await else {
        return page.error_page(StatusCode::UNAUTHORIZED, "Sign in first", &OAuthError::login_required());
    };
    let Some(browser) = cookie(&headers, BROWSER_COOKIE) else {
        return page.error_page(StatusCode::BAD_REQUEST, "Sign in first", &OAuthError::login_required());
    };
    let csrf = secret_key(&format!("password-csrf/{browser}"));
    let upn = core.user_label(tenant, session.user_id).await.map(|(_, u)| u).unwrap_or_default();
    let settings = core.tenant_settings(tenant).await.unwrap_or_default();
    let action = format!("/{tenant}/account/password");
    let render = |error: Option<&str>, done: bool| {
        if done {
            let view = pages::ErrorView {
                title: "Your password has been changed",
                message: "Use your new password the next time you sign in.",
                code: None,
                request_id: &meta.request_id,
                correlation_id: &meta.correlation_id,
                timestamp: "",
            };
            return page.html(StatusCode::OK, pages::error(&page.branding, &view, &page.nonce));
        }
        let view = pages::ChangePasswordView {
            action: &action,
            flow: "",
            csrf: &csrf,
            user: &upn,
            reason: "Choose a new password for your account.",
            error,
            min_length: settings.password_min_length,
        };
        page.html(StatusCode::OK, pages::change_password(&page.branding, &view, &page.nonce))
    };
    if method == Method::GET {
        return render(None, false);
    }
    let fields = form_fields(body).await;
    if !ostiary_crypto::digest::ct_eq(field(&fields, "csrf").unwrap_or_default().as_bytes(), csrf.as_bytes()) {
        return page.error_page(StatusCode::BAD_REQUEST, "Your session has expired", &OAuthError::login_required());
    }
    let new = field(&fields, "new_password").unwrap_or_default().to_string();
    if field(&fields, "confirm_password") != Some(new.as_str()) {
        return render(Some("The passwords don't match."), false);
    }
    match core
        .change_own_password(
            tenant,
            session.user_id,
            field(&fields, "current_password").unwrap_or_default(),
            &new,
            meta.context(),
        )
        .await
    {
        Ok(()) => render(None, true),
        Err(msg) => render(Some(&msg), false),
    }
}
