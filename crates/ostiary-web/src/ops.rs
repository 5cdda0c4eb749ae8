//! Operational endpoints: liveness, readiness, and the fallback for unknown paths.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
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

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "not_found", "error_description": "No such endpoint." })))
        .into_response()
}
