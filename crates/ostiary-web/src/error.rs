//! The one mapping from errors to wire responses: OAuth error JSON (Entra shape, with AADSTS
//! code, trace and correlation ids) for protocol endpoints, Graph error JSON for the admin API.

use crate::meta::RequestMeta;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::DirError;
use ostiary_oauth::OAuthError;
use serde_json::json;

fn timestamp(now: time::OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Entra's error body: the description carries the AADSTS code and three trailer lines.
pub fn oauth_error(e: &OAuthError, meta: &RequestMeta, now: time::OffsetDateTime) -> Response {
    let ts = timestamp(now);
    let description = format!(
        "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
        e.code, e.description, meta.request_id, meta.correlation_id, ts
    );
    let body = json!({
        "error": e.kind.as_str(),
        "error_description": description,
        "error_codes": [e.code],
        "timestamp": ts,
        "trace_id": meta.request_id,
        "correlation_id": meta.correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={}", e.code),
    });
    let mut body = body;
    if let Some(sub) = e.suberror {
        body["suberror"] = json!(sub);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, axum::Json(body)).into_response();
    no_store(&mut resp);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}

pub fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A Graph error: status, code, message.
#[derive(Debug, Clone)]
pub struct GraphErr {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

impl GraphErr {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphErr { status, code, message: message.into(), retry_after: None }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::from(DirError::NotFound(what.to_string()))
    }
    pub fn segment(seg: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{}'.", ostiary_oauth::error::sanitize(seg)),
        )
    }
    pub fn method() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The HTTP method is not allowed on this resource.",
        )
    }
    /// 429: the calling application exceeded its Graph rate limit.
    pub fn throttled(retry_after: u64) -> Self {
        GraphErr {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests are being made by this application. Retry after the time in the Retry-After header.",
            )
        }
    }
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request_EntityTooLarge",
            "The request body is larger than the allowed 1 MB.",
        )
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    pub fn render(&self, meta: &RequestMeta, now: time::OffsetDateTime) -> Response {
        let date = {
            let t = now.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let mut inner = json!({ "date": date, "request-id": meta.request_id });
        if let Some(c) = &meta.client_request_id {
            inner["client-request-id"] = json!(c);
        }
        let body = json!({ "error": { "code": self.code, "message": self.message, "innerError": inner } });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"\", error=\"invalid_token\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

impl From<DirError> for GraphErr {
    fn from(e: DirError) -> Self {
        let msg = e.to_string();
        match e {
            DirError::BadRequest(_) | DirError::Conflict(_) => GraphErr::bad(msg),
            DirError::UnsupportedQuery(_) => GraphErr::unsupported(msg),
            DirError::NotFound(_) => GraphErr::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", msg),
            DirError::Forbidden => GraphErr::new(StatusCode::FORBIDDEN, "Authorization_RequestDenied", msg),
            DirError::Unavailable => GraphErr::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", msg),
            DirError::PreconditionFailed => GraphErr::new(StatusCode::PRECONDITION_FAILED, "preconditionFailed", msg),
            DirError::Internal(detail) => {
                tracing::error!(%detail, "internal error in admin API");
                GraphErr::new(StatusCode::INTERNAL_SERVER_ERROR, "generalException", msg)
            }
        }
    }
}
