//! Per-request metadata: a request id we generate, the client's `client-request-id` (echoed
//! back, and used as the correlation id as Entra does), and security headers on every reply.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    /// The client's `client-request-id` when it is a sane token, else our request id.
    pub correlation_id: String,
    pub client_request_id: Option<String>,
}

fn sane(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

pub async fn request_meta(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = state.core.new_uuid().to_string();
    let client_request_id =
        req.headers().get("client-request-id").and_then(|v| v.to_str().ok()).filter(|v| sane(v)).map(str::to_string);
    let meta = RequestMeta {
        correlation_id: client_request_id.clone().unwrap_or_else(|| request_id.clone()),
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
    };
    req.extensions_mut().insert(meta);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("request-id"), v.clone());
        h.insert(HeaderName::from_static("x-ms-request-id"), v);
    }
    if let Some(c) = client_request_id.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(HeaderName::from_static("client-request-id"), c);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    resp
}
