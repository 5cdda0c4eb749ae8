//! SAML 2.0 endpoints: `/{tenant}/saml2` (SSO and single logout, HTTP-Redirect and HTTP-POST
//! bindings), `/{tenant}/saml2/launch/{app}` (IdP-initiated sign-in) and the federation metadata
//! document. Validation lives in `ostiary_core::saml`; the sign-in itself is the shared flow.

use crate::AppState;
use crate::meta::RequestMeta;
use crate::pages;
use crate::signin::{PageCtx, cookie, form_fields_limited, query_param, run_new_flow, session_cookie_name, set_cookie};
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::saml::{SamlInbound, SamlIncoming};
use ostiary_oauth::OAuthError;

const TROUBLE: &str = "Sorry, but we're having trouble signing you in.";

/// Largest HTTP-POST binding form: a base64 message of `ostiary_saml::binding::MAX_POST_B64`
/// percent-encoded (up to three bytes per character), plus RelayState.
const MAX_SAML_FORM: usize = 1024 * 1024;

/// `GET|POST /{tenant}/saml2`: AuthnRequest, LogoutRequest or LogoutResponse.
pub async fn saml2(
    State(st): State<AppState>,
    Path(segment): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let core = &st.core;
    let tenant = core.resolve_tenant(&segment).await.ok();
    let mut page = PageCtx::new(core, &meta, tenant).await;
    let Some(tenant) = tenant else {
        return page.error_page(
            StatusCode::NOT_FOUND,
            "We couldn't find that organization.",
            &OAuthError::tenant_not_found(&segment),
        );
    };
    let fields;
    let incoming = if method == Method::POST {
        let Ok(f) = form_fields_limited(body, MAX_SAML_FORM).await else {
            let e = OAuthError::invalid_request(
                75005,
                format!("The SAML message is larger than {} KiB.", MAX_SAML_FORM / 1024),
            );
            return page.error_page(StatusCode::PAYLOAD_TOO_LARGE, TROUBLE, &e);
        };
        fields = f;
        SamlIncoming::Post { fields: &fields }
    } else {
        SamlIncoming::Redirect { raw_query: uri.query().unwrap_or_default() }
    };
    let endpoint = format!("{}/{}/saml2", core.config.public_base, segment);
    match core.saml_receive(tenant, incoming, &endpoint).await {
        Err(e) => page.error_page(StatusCode::BAD_REQUEST, TROUBLE, &e),
        Ok(SamlInbound::SignIn(flow)) => run_new_flow(&mut page, tenant, &headers, &meta, *flow).await,
        Ok(SamlInbound::Logout { sp_id, request, relay_state }) => {
            // The session ends (whatever the other applications answer) only when the request
            // names a sign-in of this session: a forged cross-site LogoutRequest from another
            // application cannot sign the user out.
            let cookie_value = cookie(&headers, &session_cookie_name(tenant));
            let ours = match &cookie_value {
                Some(c) => core
                    .session(tenant, c, None)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.saml.iter().any(|p| p.sp_id == sp_id && p.name_id == request.name_id.value)),
                None => false,
            };
            let ended = match (&cookie_value, ours) {
                (Some(c), true) => core.end_session(tenant, c).await.ok().flatten(),
                _ => None,
            };
            let plan =
                core.saml_logout_plan(tenant, ended.as_ref(), Some((sp_id, &request.id, relay_state.as_deref()))).await;
            signed_out(&mut page, tenant, plan.front_channel, plan.respond_to, ended.is_some())
        }
        Ok(SamlInbound::LoggedOut { .. }) => signed_out(&mut page, tenant, Vec::new(), None, false),
    }
}

fn signed_out(
    page: &mut PageCtx<'_>,
    tenant: ostiary_model::TenantId,
    front: Vec<String>,
    next: Option<String>,
    clear_cookie: bool,
) -> Response {
    page.allow_frames(&front);
    if let Some(n) = &next {
        page.allow_form_action(n);
    }
    let view = pages::SignedOutView { front_channel_urls: &front, continue_url: next.as_deref() };
    let mut resp = page.html(StatusCode::OK, pages::signed_out(&page.branding, &view, &page.nonce));
    if clear_cookie {
        set_cookie(&mut resp, &session_cookie_name(tenant), "", Some(0));
    }
    resp
}

/// `GET /{tenant}/saml2/launch/{app}`: IdP-initiated sign-in to a SAML application (appId or
/// service principal id), as the My Apps tile does.
pub async fn launch(
    State(st): State<AppState>,
    Path((segment, app)): Path<(String, String)>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
) -> Response {
    let core = &st.core;
    let tenant = core.resolve_tenant(&segment).await.ok();
    let mut page = PageCtx::new(core, &meta, tenant).await;
    let Some(tenant) = tenant else {
        return page.error_page(
            StatusCode::NOT_FOUND,
            "We couldn't find that organization.",
            &OAuthError::tenant_not_found(&segment),
        );
    };
    match core.saml_idp_initiated(tenant, &app).await {
        Ok(flow) => run_new_flow(&mut page, tenant, &headers, &meta, flow).await,
        Err(e) => page.error_page(StatusCode::BAD_REQUEST, TROUBLE, &e),
    }
}

/// `GET /{tenant}/federationmetadata/2007-06/federationmetadata.xml[?appid=]`.
pub async fn metadata(State(st): State<AppState>, Path(segment): Path<String>, uri: Uri) -> Response {
    let core = &st.core;
    let Ok(tenant) = core.resolve_tenant(&segment).await else {
        return (StatusCode::NOT_FOUND, "tenant not found").into_response();
    };
    let app = query_param(&uri, "appid");
    match core.saml_metadata(tenant, app.as_deref()).await {
        Ok(xml) => {
            let mut resp = (StatusCode::OK, xml).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
            resp
        }
        Err(e) => {
            let status = if e.code == 700016 { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            (status, format!("AADSTS{}: {}", e.code, e.description)).into_response()
        }
    }
}
