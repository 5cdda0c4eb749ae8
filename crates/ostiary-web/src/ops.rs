//! Operational endpoints: liveness, readiness, Prometheus metrics, the per-request HTTP
//! metrics layer, and the fallback for unknown paths.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ostiary_store::SchemaState;
use serde_json::json;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

/// The store answers, its schema is current, and every tenant's keys load.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let core = &st.core;
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    match core.store.schema_state().await {
        Ok(SchemaState::Current(v)) => {
            checks.insert("store".into(), json!("ok"));
            checks.insert("schemaVersion".into(), json!(v));
        }
        Ok(other) => {
            ready = false;
            checks.insert("store".into(), json!(format!("schema not current: {other:?}")));
        }
        Err(_) => {
            ready = false;
            checks.insert("store".into(), json!("unreachable"));
        }
    }
    if ready {
        match core.store.list_tenants().await {
            Ok(tenants) => {
                for t in tenants {
                    if core.tenant_state(t.id).await.is_err() {
                        ready = false;
                        checks.insert("keys".into(), json!(format!("tenant {} keys not loadable", t.id)));
                        break;
                    }
                }
                if ready {
                    checks.insert("keys".into(), json!("ok"));
                }
            }
            Err(_) => ready = false,
        }
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(json!({ "status": if ready { "ready" } else { "not ready" }, "checks": checks })))
        .into_response()
}

/// `GET /metrics`: Prometheus text exposition (unauthenticated, like most exporters: bind the
/// listener or filter at the proxy if it must not be public; it holds ids, never secrets).
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.core.render_metrics().await;
    ([(axum::http::header::CONTENT_TYPE, ostiary_metrics::CONTENT_TYPE)], body).into_response()
}

/// Counts and times every request by its route template (never the raw path, which would
/// explode cardinality), method and status; 429s also count as throttled (M6).
pub async fn http_metrics(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let m = &st.core.metrics;
    let status = resp.status();
    m.http_requests.inc(&[&route, method, status.as_str()]);
    m.http_request_duration.observe_duration(&[&route], started.elapsed());
    if status == StatusCode::TOO_MANY_REQUESTS {
        m.throttled_responses.inc(&[&route]);
    }
    resp
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "not_found", "error_description": "No such endpoint." })))
        .into_response()
}
