//! HTTP surface of Ostiary: the Entra-shaped OAuth endpoints, the Graph-shaped admin API and
//! the operational endpoints, as one axum router. The only crate that knows about HTTP; it
//! maps core errors to wire errors in exactly one place per protocol (`error.rs`).

pub mod error;
pub mod graph;
pub mod meta;
pub mod mfa;
pub mod oauth;
pub mod ops;
pub mod pages;
pub mod saml;
pub mod scim;
pub mod signin;

use axum::Router;
use axum::routing::{any, get, post};
use ostiary_core::Core;
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
}

/// Largest JSON body the admin API accepts (Graph's own limit is 4 MB; ours is lower because
/// no directory object needs more).
pub const MAX_JSON_BODY: usize = 1024 * 1024;
/// Largest form body of the token endpoint.
pub const MAX_FORM_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oauth::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(oauth::jwks))
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(signin::authorize).post(signin::authorize))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(signin::devicecode))
        .route("/{tenant}/oauth2/v2.0/introspect", post(oauth::introspect))
        .route("/{tenant}/oauth2/v2.0/revoke", post(oauth::revoke))
        .route("/{tenant}/oauth2/v2.0/logout", get(signin::logout).post(signin::logout))
        .route("/{tenant}/saml2", get(saml::saml2).post(saml::saml2))
        .route("/{tenant}/saml2/launch/{app}", get(saml::launch))
        .route("/{tenant}/federationmetadata/2007-06/federationmetadata.xml", get(saml::metadata))
        .route("/{tenant}/login", get(signin::login).post(signin::login))
        .route("/{tenant}/consent", get(signin::consent).post(signin::consent))
        .route("/{tenant}/selectaccount", get(signin::select_account).post(signin::select_account))
        .route("/{tenant}/mfa", get(mfa::challenge).post(mfa::challenge))
        .route("/{tenant}/mfa/register", get(mfa::register).post(mfa::register))
        .route("/{tenant}/mfa/codes", get(mfa::codes).post(mfa::codes))
        .route("/static/webauthn.js", get(mfa::script))
        .route("/{tenant}/changepassword", get(signin::change_password).post(signin::change_password))
        .route("/{tenant}/account/password", get(signin::my_password).post(signin::my_password))
        .route("/{tenant}/devicelogin", get(signin::devicelogin).post(signin::devicelogin))
        .route("/oidc/userinfo", get(signin::userinfo).post(signin::userinfo))
        .route("/static/ostiary.css", get(signin::stylesheet))
        .route("/v1.0", any(graph::dispatch_root))
        .route("/v1.0/{*path}", any(graph::dispatch))
        .route("/scim/v2/{*path}", any(scim::dispatch))
        .fallback(ops::not_found)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::http_metrics))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(state.clone(), meta::request_meta))
        .with_state(state)
}
