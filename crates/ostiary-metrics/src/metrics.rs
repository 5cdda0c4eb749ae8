//! Every metric Ostiary exports, as named fields of one [`Metrics`] (one per server, shared as
//! `Arc<Metrics>`). M1–M10 are the service level indicators of the seed; the rest are operations
//! metrics. Dashboards and alerts under `deploy/` may only use these names (`tests/deploy.rs`).

use std::fmt;
use std::sync::Arc;

use crate::registry::Registry;
use crate::value::{Counter, Gauge, Histogram};
use crate::vec::{CounterVec, GaugeVec, HistogramVec};

/// Bucket upper bounds (seconds) of the histograms.
pub mod buckets {
    /// Token issuance (M2) and HTTP request latency.
    pub const REQUEST: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    /// Conditional Access evaluation (M3).
    pub const CONDITIONAL_ACCESS: &[f64] = &[1e-5, 5e-5, 1e-4, 5e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5];
    /// Privileged role activation (M7), request to active.
    pub const ROLE_ACTIVATION: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];
    /// Store operations.
    pub const STORE: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
}

/// Every Ostiary metric. Label values are passed per call in the order listed on each field, e.g.
/// `m.signin_attempts.inc(&[tenant, app, "interactive", "failure", "50126"])`.
pub struct Metrics {
    registry: Registry,

    /// M1 `ostiary_signin_attempts_total` {tenant_id, app_id, kind, result, error_code}: kind is
    /// `interactive|non_interactive|service_principal|managed_identity`, result `success|failure`,
    /// error_code `"0"` on success, else the AADSTS number.
    pub signin_attempts: Arc<CounterVec>,
    /// M2 `ostiary_token_issuance_duration_seconds` {grant_type}.
    pub token_issuance_duration: Arc<HistogramVec>,
    /// M3 `ostiary_conditional_access_evaluation_duration_seconds`.
    pub conditional_access_evaluation_duration: Arc<Histogram>,
    /// M3 `ostiary_conditional_access_failures_total` {tenant_id}.
    pub conditional_access_failures: Arc<CounterVec>,
    /// M4 `ostiary_managed_identity_auth_failures_total` {tenant_id}.
    pub managed_identity_auth_failures: Arc<CounterVec>,
    /// M4 `ostiary_managed_identity_auth_attempts_total` {tenant_id}.
    pub managed_identity_auth_attempts: Arc<CounterVec>,
    /// M5 `ostiary_credential_expiry_seconds` {tenant_id, app_id, credential_type (`password|certificate`)}:
    /// seconds until the app's nearest expiry of that type, negative once expired.
    pub credential_expiry: Arc<GaugeVec>,
    /// M5 `ostiary_expired_credential_failures_total` {tenant_id, app_id}.
    pub expired_credential_failures: Arc<CounterVec>,
    /// M6 `ostiary_throttled_responses_total` {route}.
    pub throttled_responses: Arc<CounterVec>,
    /// M7 `ostiary_role_activation_duration_seconds`.
    pub role_activation_duration: Arc<Histogram>,
    /// M7 `ostiary_role_activations_total` {tenant_id}.
    pub role_activations: Arc<CounterVec>,
    /// M8 `ostiary_log_export_lag_seconds` {sink}: age of the oldest record not yet delivered, 0 when
    /// caught up.
    pub log_export_lag: Arc<GaugeVec>,
    /// M8 `ostiary_log_export_backlog_records` {sink}.
    pub log_export_backlog: Arc<GaugeVec>,
    /// M8 `ostiary_log_export_delivered_total` {sink}.
    pub log_export_delivered: Arc<CounterVec>,
    /// M8 `ostiary_log_export_failures_total` {sink}.
    pub log_export_failures: Arc<CounterVec>,
    /// M9 `ostiary_mfa_challenges_total` {method, result (`success|failure`)}.
    pub mfa_challenges: Arc<CounterVec>,
    /// M10 `ostiary_certificate_expiry_seconds` {tenant_id, kind (`signing_key|saml_signing|federation_metadata`), kid}.
    pub certificate_expiry: Arc<GaugeVec>,
    /// `ostiary_http_requests_total` {route, method, status}.
    pub http_requests: Arc<CounterVec>,
    /// `ostiary_http_request_duration_seconds` {route}.
    pub http_request_duration: Arc<HistogramVec>,
    /// `ostiary_store_operation_duration_seconds` {op}.
    pub store_operation_duration: Arc<HistogramVec>,
    /// `ostiary_store_pool_connections` {state (`idle|in_use`)}.
    pub store_pool_connections: Arc<GaugeVec>,
    /// `ostiary_signin_log_queue_depth`.
    pub signin_log_queue_depth: Arc<Gauge>,
    /// `ostiary_signin_log_written_total`.
    pub signin_log_written: Arc<Counter>,
    /// `ostiary_signin_log_dropped_total`.
    pub signin_log_dropped: Arc<Counter>,
    /// `ostiary_password_hash_waiting`.
    pub password_hash_waiting: Arc<Gauge>,
    /// `ostiary_account_lockouts_total` {tenant_id}.
    pub account_lockouts: Arc<CounterVec>,
    /// `ostiary_audit_events_total` {category}.
    pub audit_events: Arc<CounterVec>,
    /// `ostiary_provisioning_actions_total` {action, result}: outbound SCIM provisioning actions
    /// (create, update, disable, delete, other) by result (success, failure, skipped, warning).
    pub provisioning_actions: Arc<CounterVec>,
    /// `ostiary_provisioning_quarantined_jobs`: provisioning jobs stopped after repeated failures.
    pub provisioning_quarantined_jobs: Arc<Gauge>,
    /// `ostiary_tokens_issued_total` {grant_type}.
    pub tokens_issued: Arc<CounterVec>,
    /// `ostiary_build_info` {version, backend}, set to 1.
    pub build_info: Arc<GaugeVec>,
    /// `ostiary_process_start_time_seconds` (Unix time; set by the binary, which owns the clock).
    pub process_start_time: Arc<Gauge>,
}

impl Metrics {
    /// Every metric at zero, with no label sets yet.
    pub fn new() -> Self {
        Self::with_registry(Registry::new())
    }

    /// As [`Metrics::new`], with a cap of `max` label sets per family.
    pub fn with_max_children(max: usize) -> Self {
        Self::with_registry(Registry::with_max_children(max))
    }

    fn with_registry(mut r: Registry) -> Self {
        use buckets::{CONDITIONAL_ACCESS, REQUEST, ROLE_ACTIVATION, STORE};
        Self {
            signin_attempts: r.counter_vec(
                "ostiary_signin_attempts_total",
                "Sign-in attempts by tenant, application, kind, result and AADSTS error code (M1).",
                &["tenant_id", "app_id", "kind", "result", "error_code"],
            ),
            token_issuance_duration: r.histogram_vec(
                "ostiary_token_issuance_duration_seconds",
                "Time to issue a token at the token endpoint, by grant type (M2).",
                &["grant_type"],
                REQUEST,
            ),
            conditional_access_evaluation_duration: r.histogram(
                "ostiary_conditional_access_evaluation_duration_seconds",
                "Time to evaluate Conditional Access policies for one sign-in (M3).",
                CONDITIONAL_ACCESS,
            ),
            conditional_access_failures: r.counter_vec(
                "ostiary_conditional_access_failures_total",
                "Sign-ins blocked or failed by Conditional Access (M3).",
                &["tenant_id"],
            ),
            managed_identity_auth_failures: r.counter_vec(
                "ostiary_managed_identity_auth_failures_total",
                "Failed managed identity authentications (M4).",
                &["tenant_id"],
            ),
            managed_identity_auth_attempts: r.counter_vec(
                "ostiary_managed_identity_auth_attempts_total",
                "Managed identity authentication attempts (M4).",
                &["tenant_id"],
            ),
            credential_expiry: r.gauge_vec(
                "ostiary_credential_expiry_seconds",
                "Seconds until an application's nearest credential expiry, negative once expired (M5).",
                &["tenant_id", "app_id", "credential_type"],
            ),
            expired_credential_failures: r.counter_vec(
                "ostiary_expired_credential_failures_total",
                "Authentications that failed because the presented credential had expired (M5).",
                &["tenant_id", "app_id"],
            ),
            throttled_responses: r.counter_vec(
                "ostiary_throttled_responses_total",
                "Responses with status 429 Too Many Requests, by route (M6).",
                &["route"],
            ),
            role_activation_duration: r.histogram(
                "ostiary_role_activation_duration_seconds",
                "Time from a privileged role activation request to the role being active (M7).",
                ROLE_ACTIVATION,
            ),
            role_activations: r.counter_vec(
                "ostiary_role_activations_total",
                "Privileged role activations (M7).",
                &["tenant_id"],
            ),
            log_export_lag: r.gauge_vec(
                "ostiary_log_export_lag_seconds",
                "Age of the oldest log record not yet delivered to the sink, 0 when caught up (M8).",
                &["sink"],
            ),
            log_export_backlog: r.gauge_vec(
                "ostiary_log_export_backlog_records",
                "Log records waiting to be delivered to the sink (M8).",
                &["sink"],
            ),
            log_export_delivered: r.counter_vec(
                "ostiary_log_export_delivered_total",
                "Log records delivered to the sink (M8).",
                &["sink"],
            ),
            log_export_failures: r.counter_vec(
                "ostiary_log_export_failures_total",
                "Failed delivery attempts to the sink (M8).",
                &["sink"],
            ),
            mfa_challenges: r.counter_vec(
                "ostiary_mfa_challenges_total",
                "Multi-factor authentication challenges by method and result (M9).",
                &["method", "result"],
            ),
            certificate_expiry: r.gauge_vec(
                "ostiary_certificate_expiry_seconds",
                "Seconds until a signing key, SAML signing certificate or federation metadata expires (M10).",
                &["tenant_id", "kind", "kid"],
            ),
            http_requests: r.counter_vec(
                "ostiary_http_requests_total",
                "HTTP requests by route template, method and status code.",
                &["route", "method", "status"],
            ),
            http_request_duration: r.histogram_vec(
                "ostiary_http_request_duration_seconds",
                "HTTP request duration by route template.",
                &["route"],
                REQUEST,
            ),
            store_operation_duration: r.histogram_vec(
                "ostiary_store_operation_duration_seconds",
                "Store operation duration by operation.",
                &["op"],
                STORE,
            ),
            store_pool_connections: r.gauge_vec(
                "ostiary_store_pool_connections",
                "Store connection pool connections by state.",
                &["state"],
            ),
            signin_log_queue_depth: r.gauge(
                "ostiary_signin_log_queue_depth",
                "Sign-in log records queued in memory, not yet written to the store.",
            ),
            signin_log_written: r
                .counter("ostiary_signin_log_written_total", "Sign-in log records written to the store."),
            signin_log_dropped: r
                .counter("ostiary_signin_log_dropped_total", "Sign-in log records dropped because the queue was full."),
            password_hash_waiting: r
                .gauge("ostiary_password_hash_waiting", "Password hash verifications waiting for a hashing slot."),
            account_lockouts: r.counter_vec(
                "ostiary_account_lockouts_total",
                "Accounts locked out by smart lockout.",
                &["tenant_id"],
            ),
            audit_events: r.counter_vec("ostiary_audit_events_total", "Audit log events by category.", &["category"]),
            provisioning_actions: r.counter_vec(
                "ostiary_provisioning_actions_total",
                "Outbound SCIM provisioning actions by action and result.",
                &["action", "result"],
            ),
            provisioning_quarantined_jobs: r.gauge(
                "ostiary_provisioning_quarantined_jobs",
                "Provisioning jobs quarantined after repeated failures.",
            ),
            tokens_issued: r.counter_vec(
                "ostiary_tokens_issued_total",
                "Tokens issued by grant type.",
                &["grant_type"],
            ),
            build_info: r.gauge_vec(
                "ostiary_build_info",
                "Build information; the value is always 1.",
                &["version", "backend"],
            ),
            process_start_time: r.gauge(
                "ostiary_process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
            ),
            registry: r,
        }
    }

    /// The exposition of every metric (text format 0.0.4, [`crate::CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.registry.render()
    }

    /// Appends the exposition of every metric to `out`.
    pub fn render_into(&self, out: &mut String) {
        self.registry.render_into(out);
    }

    /// The family names, in exposition order.
    pub fn names() -> Vec<&'static str> {
        Self::new().registry.names()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").field("families", &self.registry.names()).finish_non_exhaustive()
    }
}
