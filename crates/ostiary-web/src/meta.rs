//! Per-request metadata: a request id we generate, the client's `client-request-id` (echoed
//! back, and used as the correlation id as Entra does), the client's address and user agent
//! (for sign-in and audit records), and security headers on every reply.

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    /// The client's `client-request-id` when it is a sane token, else our request id.
    pub correlation_id: String,
    pub client_request_id: Option<String>,
    /// The client's address: the TCP peer, or the first `X-Forwarded-For` hop when the peer is
    /// a trusted proxy (loopback), or when there is no peer (in-process tests).
    pub ip: String,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// The request's context for sign-in and audit records.
    pub fn context(&self) -> ostiary_core::logs::RequestContext {
        ostiary_core::logs::RequestContext {
            ip: Some(self.ip.clone()),
            user_agent: self.user_agent.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// The client address for `req` (see `RequestMeta::ip`).
fn client_ip(req: &Request) -> String {
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let forwarded = || {
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string)
    };
    match peer {
        Some(ip) if !ip.is_loopback() => ip.to_string(),
        Some(ip) => forwarded().unwrap_or_else(|| ip.to_string()),
        None => forwarded().unwrap_or_else(|| "local".into()),
    }
}

/// A W3C trace context (`traceparent`, version 00: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase,
/// neither id all zeros), exactly 55 characters.
fn valid_traceparent(v: &str) -> bool {
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    if v.len() != 55 {
        return false;
    }
    let mut parts = v.split('-');
    let (Some("00"), Some(trace), Some(parent), Some(flags), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    hex(trace, 32) && nonzero(trace) && hex(parent, 16) && nonzero(parent) && hex(flags, 2)
}

fn sane(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

pub async fn request_meta(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = state.core.new_uuid().to_string();
    let client_request_id =
        req.headers().get("client-request-id").and_then(|v| v.to_str().ok()).filter(|v| sane(v)).map(str::to_string);
    let user_agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(512).collect::<String>());
    let meta = RequestMeta {
        ip: client_ip(&req),
        user_agent,
        correlation_id: client_request_id.clone().unwrap_or_else(|| request_id.clone()),
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
    };
    // The caller's W3C trace context, when valid: the OTLP trace layer (feature `otlp` of the
    // binary) joins the caller's trace with it.
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).filter(|v| valid_traceparent(v));
    // Every log line of the request carries its ids (JSON logs put span fields on each event).
    let span = tracing::info_span!(
        "request",
        request_id = %meta.request_id,
        correlation_id = %meta.correlation_id,
        method = %req.method(),
        path = %req.uri().path(),
        traceparent,
    );
    req.extensions_mut().insert(meta);
    let mut resp = tracing::Instrument::instrument(next.run(req), span).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_validation() {
        assert!(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        ] {
            assert!(!valid_traceparent(bad), "{bad:?}");
        }
    }
}
