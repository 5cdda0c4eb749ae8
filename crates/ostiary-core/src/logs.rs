//! Sign-in records: the Graph `signIn` document of each attempt, and the bounded, batched
//! writer that turns a login storm into a few large appends instead of one write per request.
//!
//! What a hard crash can lose: records still queued in memory (at most `QUEUE_CAPACITY`, in
//! practice the last ~20 ms: the writer lingers that long for a fuller batch). Sign-in records
//! are evidence, not state: no token, session or lockout depends on them, so losing the last
//! moments before a crash is accepted (Entra's own sign-in logs are eventually consistent).
//! Directory audits are never queued: they commit in the transaction of their change.

use crate::Core;
use ostiary_model::{ObjectId, TenantId};
use ostiary_store::{LogKind, NewLogRecord, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, mpsc};

/// Records waiting for the writer; a full queue makes sign-ins wait (back-pressure), it
/// never drops records while the writer runs.
pub const QUEUE_CAPACITY: usize = 65_536;
/// Largest batch appended in one transaction.
pub const MAX_BATCH: usize = 1_000;
/// How long the writer waits for more records before appending a small batch: bounds the
/// delay a record adds to the log (and to SIEM export) while keeping transactions large.
pub const LINGER: Duration = Duration::from_millis(20);

/// Where a request came from, for logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The client's `client-request-id`, or our request id.
    pub correlation_id: String,
}

/// Entra's sign-in event types (`signInEventTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    Interactive,
    NonInteractive,
    ServicePrincipal,
    ManagedIdentity,
}

impl SignInKind {
    /// The stored `category` and Graph `signInEventTypes` value.
    pub fn event_type(self) -> &'static str {
        match self {
            SignInKind::Interactive => "interactiveUser",
            SignInKind::NonInteractive => "nonInteractiveUser",
            SignInKind::ServicePrincipal => "servicePrincipal",
            SignInKind::ManagedIdentity => "managedIdentity",
        }
    }

    /// The metric label value.
    pub fn metric_label(self) -> &'static str {
        match self {
            SignInKind::Interactive => "interactive",
            SignInKind::NonInteractive => "non_interactive",
            SignInKind::ServicePrincipal => "service_principal",
            SignInKind::ManagedIdentity => "managed_identity",
        }
    }
}

/// One sign-in attempt, successful or not.
#[derive(Debug, Clone)]
pub struct SignInEvent {
    pub tenant: TenantId,
    pub kind: SignInKind,
    pub user_id: Option<ObjectId>,
    pub user_principal_name: Option<String>,
    pub user_display_name: Option<String>,
    /// The client application.
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    /// For service-principal sign-ins: the client's service principal.
    pub service_principal_id: Option<ObjectId>,
    /// The resource's appId (Graph: `resourceId`) and display name.
    pub resource_id: Option<String>,
    pub resource_display_name: Option<String>,
    /// 0 on success, else the AADSTS number.
    pub error_code: u32,
    pub failure_reason: Option<String>,
    /// e.g. "Password", "Client secret", "Client certificate", "Refresh token".
    pub auth_method: Option<&'static str>,
    /// Graph `clientCredentialType` for service principals: clientSecret, certificate, none.
    pub client_credential_type: Option<&'static str>,
    /// Grant or page that produced the attempt (`authorization_code`, `password`, ...).
    pub protocol: Option<&'static str>,
    /// ISO country of `ctx.ip` (GeoIP), filled in when recorded.
    pub country: Option<String>,
    /// Conditional Access: `conditionalAccessStatus` and `appliedConditionalAccessPolicies`
    /// (absent: no evaluation happened, "notApplied").
    pub conditional_access: Option<(&'static str, Value)>,
    /// The second factor of this attempt (Entra's method name) and whether it succeeded.
    pub second_factor: Option<(&'static str, bool)>,
    /// The session or flow satisfied multifactor authentication.
    pub multi_factor: bool,
    /// Identity Protection's view of this attempt.
    pub risk: Option<RiskInfo>,
    pub ctx: RequestContext,
}

/// The risk fields of a sign-in record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskInfo {
    /// `riskLevelDuringSignIn`: none, low, medium, high.
    pub during: String,
    /// `riskLevelAggregated`: the user's risk after this attempt.
    pub aggregated: String,
    /// `riskState`: none, atRisk, remediated, ...
    pub state: String,
    pub detail: String,
    /// `riskEventTypes_v2`.
    pub event_types: Vec<String>,
}

impl SignInEvent {
    pub fn new(tenant: TenantId, kind: SignInKind, ctx: RequestContext) -> Self {
        SignInEvent {
            tenant,
            kind,
            user_id: None,
            user_principal_name: None,
            user_display_name: None,
            app_id: None,
            app_display_name: None,
            service_principal_id: None,
            resource_id: None,
            resource_display_name: None,
            error_code: 0,
            failure_reason: None,
            auth_method: None,
            client_credential_type: None,
            protocol: None,
            country: None,
            conditional_access: None,
            second_factor: None,
            multi_factor: false,
            risk: None,
            ctx,
        }
    }

    /// The Graph `signIn` record (v1.0 shape plus beta's `signInEventTypes`,
    /// `servicePrincipalId` and `clientCredentialType`, which SIEM rules key on).
    pub fn to_record(&self, id: uuid::Uuid, time: OffsetDateTime) -> NewLogRecord {
        let when = time.format(&Rfc3339).unwrap_or_default();
        let ok = self.error_code == 0;
        let client_app_used = match self.kind {
            SignInKind::Interactive => "Browser",
            SignInKind::NonInteractive => "Mobile Apps and Desktop clients",
            SignInKind::ServicePrincipal | SignInKind::ManagedIdentity => "Other clients",
        };
        let (browser, os) = self.ctx.user_agent.as_deref().map(device_from_user_agent).unwrap_or(("", ""));
        // The primary step failed only if the failure is its own (a blocked or interrupted
        // sign-in still had the right password).
        let primary_ok = ok || !matches!(self.error_code, 50126 | 50053 | 50057 | 50055 | 50144);
        let mut auth_details: Vec<Value> = self
            .auth_method
            .map(|m| {
                vec![json!({
                    "authenticationStepDateTime": when,
                    "authenticationMethod": m,
                    "authenticationMethodDetail": null,
                    "succeeded": primary_ok,
                    "authenticationStepResultDetail": match (primary_ok, m) {
                        (true, "Password") => "Correct password",
                        (true, _) => "Correct credential",
                        (false, _) => "Other",
                    },
                    "authenticationStepRequirement": "Primary authentication",
                })]
            })
            .unwrap_or_default();
        if let Some((method, succeeded)) = self.second_factor {
            auth_details.push(json!({
                "authenticationStepDateTime": when,
                "authenticationMethod": method,
                "authenticationMethodDetail": null,
                "succeeded": succeeded,
                "authenticationStepResultDetail": if succeeded { "MFA successfully completed" } else { "MFA failed" },
                "authenticationStepRequirement": "Multifactor authentication",
            }));
        }
        let (ca_status, ca_policies) =
            self.conditional_access.clone().unwrap_or(("notApplied", Value::Array(Vec::new())));
        let risk = self.risk.clone().unwrap_or_else(|| RiskInfo {
            during: "none".into(),
            aggregated: "none".into(),
            state: "none".into(),
            detail: "none".into(),
            event_types: Vec::new(),
        });
        let doc = json!({
            "id": id.to_string(),
            "createdDateTime": when,
            "userDisplayName": self.user_display_name,
            "userPrincipalName": self.user_principal_name,
            "userId": self.user_id.map(|u| u.to_string()).unwrap_or_default(),
            "appId": self.app_id,
            "appDisplayName": self.app_display_name,
            "ipAddress": self.ctx.ip,
            "clientAppUsed": client_app_used,
            "userAgent": self.ctx.user_agent,
            "correlationId": self.ctx.correlation_id,
            "conditionalAccessStatus": ca_status,
            "appliedConditionalAccessPolicies": ca_policies,
            "isInteractive": self.kind == SignInKind::Interactive,
            "resourceDisplayName": self.resource_display_name,
            "resourceId": self.resource_id,
            "resourceTenantId": self.tenant.to_string(),
            "homeTenantId": self.tenant.to_string(),
            "servicePrincipalId": self.service_principal_id.map(|s| s.to_string()),
            "servicePrincipalName": if self.kind == SignInKind::ServicePrincipal { self.app_display_name.clone() } else { None },
            "signInEventTypes": [self.kind.event_type()],
            "clientCredentialType": self.client_credential_type,
            "authenticationProtocol": self.protocol,
            "tokenIssuerType": "AzureAD",
            "authenticationRequirement": if self.multi_factor { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
            "authenticationDetails": auth_details,
            "mfaDetail": self.second_factor.map(|(m, _)| json!({ "authMethod": m, "authDetail": null })),
            "status": {
                "errorCode": self.error_code,
                "failureReason": if ok { None } else { Some(self.failure_reason.clone().unwrap_or_else(|| "Other.".into())) },
                "additionalDetails": null,
            },
            "deviceDetail": {
                "deviceId": "", "displayName": "", "operatingSystem": os, "browser": browser,
                "isCompliant": false, "isManaged": false, "trustType": "",
            },
            "location": { "city": null, "state": null, "countryOrRegion": self.country, "geoCoordinates": null },
            "riskDetail": risk.detail,
            "riskLevelAggregated": risk.aggregated,
            "riskLevelDuringSignIn": risk.during,
            "riskState": risk.state,
            "riskEventTypes_v2": risk.event_types,
        });
        NewLogRecord {
            tenant: self.tenant,
            kind: LogKind::SignIn,
            id,
            time,
            principal_id: self
                .user_id
                .map(|u| u.to_string())
                .or_else(|| self.service_principal_id.map(|s| s.to_string())),
            principal_name: self.user_principal_name.as_ref().map(|n| n.to_lowercase()),
            app_id: self.app_id.clone(),
            correlation_id: Some(self.ctx.correlation_id.clone()).filter(|c| !c.is_empty()),
            status: i64::from(self.error_code),
            category: self.kind.event_type().to_string(),
            activity: String::new(),
            doc,
        }
    }
}

/// The failure text of an AADSTS description: its first line without the code prefix.
pub fn failure_reason(description: &str) -> String {
    let line = description.lines().next().unwrap_or_default();
    let line = match line.split_once(": ") {
        Some((code, rest)) if code.starts_with("AADSTS") => rest,
        _ => line,
    };
    line.chars().take(512).collect()
}

/// A coarse (browser, operating system) from a User-Agent, as Entra's `deviceDetail` shows.
pub fn device_from_user_agent(ua: &str) -> (&'static str, &'static str) {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Chrome/") || ua.contains("HeadlessChrome/") {
        "Chrome"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("python-requests") || ua.contains("MSAL.Python") || ua.contains("azsdk-python") {
        "Python"
    } else if ua.contains("node") || ua.contains("undici") {
        "Node"
    } else {
        ""
    };
    let os = if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "MacOs"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    (browser, os)
}

/// Counters of the writer, read by `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub depth: AtomicI64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

/// The batched sign-in log writer: a bounded queue and one task that appends whatever has
/// accumulated, up to `MAX_BATCH` records per transaction.
pub struct LogWriter {
    tx: mpsc::Sender<NewLogRecord>,
    pub stats: Arc<WriterStats>,
    /// Woken after every appended batch (exporters and `--follow` wait on it).
    pub appended: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    stop: Arc<Notify>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LogWriter {
    /// Starts the writer task on the current tokio runtime. Outside a runtime (a plain unit
    /// test) there is no task and records are counted as dropped.
    pub fn start(store: Arc<dyn Store>, metrics: Arc<ostiary_metrics::Metrics>) -> LogWriter {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let appended = Arc::new(Notify::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(Notify::new());
        let task = tokio::runtime::Handle::try_current().ok().map(|h| {
            h.spawn(run_writer(store, metrics, rx, stats.clone(), appended.clone(), stopping.clone(), stop.clone()))
        });
        LogWriter { tx, stats, appended, stopping, stop, task: std::sync::Mutex::new(task) }
    }

    /// Queues a record; waits only when the queue is full (back-pressure).
    pub async fn push(&self, record: NewLogRecord) {
        if self.stopping.load(Ordering::SeqCst) || self.task.lock().map(|t| t.is_none()).unwrap_or(true) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
        let r = match self.tx.try_send(record) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(r)) => self.tx.send(r).await.map_err(|_| ()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
        };
        if r.is_err() {
            self.stats.depth.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every record queued so far is written (or `timeout` passes); for tests
    /// and for `--follow`-style readers that must see their own writes.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.stats.depth.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    /// Stops accepting records and drains the queue into the store; returns when every
    /// queued record is written (or the store kept failing for the drain deadline).
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_one();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

async fn run_writer(
    store: Arc<dyn Store>,
    metrics: Arc<ostiary_metrics::Metrics>,
    mut rx: mpsc::Receiver<NewLogRecord>,
    stats: Arc<WriterStats>,
    appended: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    stop: Arc<Notify>,
) {
    let mut batch: Vec<NewLogRecord> = Vec::with_capacity(MAX_BATCH);
    loop {
        if batch.is_empty() {
            if stopping.load(Ordering::SeqCst) {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => return,
                }
            } else {
                tokio::select! {
                    r = rx.recv() => match r {
                        Some(r) => batch.push(r),
                        None => return,
                    },
                    _ = stop.notified() => continue,
                }
            }
        }
        // Linger briefly for company: at moderate rates the queue is nearly empty whenever the
        // writer looks, and one transaction per record or two (each several hand-offs to the
        // database thread) cost more CPU than the records themselves.
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0u32;
        loop {
            match store.append_logs(&batch).await {
                Ok(()) => {
                    let n = batch.len() as u64;
                    stats.written.fetch_add(n, Ordering::Relaxed);
                    metrics.signin_log_written.inc_by(n);
                    stats.depth.fetch_sub(n as i64, Ordering::Relaxed);
                    appended.notify_waiters();
                    batch.clear();
                    break;
                }
                Err(e) => {
                    attempts += 1;
                    tracing::warn!(error = %e, records = batch.len(), attempts, "cannot write sign-in records; retrying");
                    // While stopping, give the store a bounded chance (about 10 s), then give up
                    // and count the loss rather than hang the shutdown.
                    if stopping.load(Ordering::SeqCst) && attempts >= 8 {
                        let n = batch.len() as u64;
                        stats.dropped.fetch_add(n, Ordering::Relaxed);
                        metrics.signin_log_dropped.inc_by(n);
                        stats.depth.fetch_sub(n as i64, Ordering::Relaxed);
                        tracing::error!(records = n, "dropping sign-in records at shutdown: the store is unavailable");
                        batch.clear();
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

impl Core {
    /// Counts a sign-in attempt (M1) by tenant, app, kind and error code.
    fn observe_sign_in(&self, e: &SignInEvent) {
        let tenant = e.tenant.to_string();
        let code = e.error_code.to_string();
        let result = if e.error_code == 0 { "success" } else { "failure" };
        let app = e.app_id.as_deref().unwrap_or("");
        self.metrics.signin_attempts.inc(&[&tenant, app, e.kind.metric_label(), result, &code]);
        if e.kind == SignInKind::ManagedIdentity {
            self.metrics.managed_identity_auth_attempts.inc(&[&tenant]);
            if e.error_code != 0 {
                self.metrics.managed_identity_auth_failures.inc(&[&tenant]);
            }
        }
        // F4: a pipeline still using an expired secret or certificate.
        if matches!(e.error_code, 7000222 | 700027) {
            self.metrics.expired_credential_failures.inc(&[&tenant, app]);
        }
    }

    /// Records a sign-in attempt: counts it (M1) and queues its record.
    pub async fn record_sign_in(&self, mut event: SignInEvent) {
        if event.country.is_none() {
            event.country = self.country_of(event.ctx.ip.as_deref());
        }
        let id = self.new_uuid();
        let record = event.to_record(id, self.now());
        self.observe_sign_in(&event);
        self.log_writer.push(record).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failure_reason_strips_code_and_trace() {
        assert_eq!(
            failure_reason("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"),
            "Invalid client secret provided."
        );
        assert_eq!(failure_reason("plain"), "plain");
        assert_eq!(failure_reason(""), "");
        assert_eq!(failure_reason(&"x".repeat(2000)).len(), 512);
    }

    #[test]
    fn user_agents() {
        assert_eq!(
            device_from_user_agent(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36"
            ),
            ("Chrome", "Linux")
        );
        assert_eq!(device_from_user_agent("python-requests/2.32"), ("Python", ""));
        assert_eq!(device_from_user_agent(""), ("", ""));
    }

    #[test]
    fn record_shape() {
        let t = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let mut e = SignInEvent::new(
            t,
            SignInKind::Interactive,
            RequestContext { ip: Some("203.0.113.5".into()), user_agent: None, correlation_id: "c-1".into() },
        );
        e.user_principal_name = Some("Ada@Contoso.test".into());
        e.error_code = 50126;
        e.failure_reason = Some("Invalid username or password.".into());
        e.auth_method = Some("Password");
        let r = e.to_record(uuid::Uuid::from_u128(2), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(r.status, 50126);
        assert_eq!(r.category, "interactiveUser");
        assert_eq!(r.principal_name.as_deref(), Some("ada@contoso.test"));
        assert_eq!(r.doc["status"]["errorCode"], 50126);
        assert_eq!(r.doc["status"]["failureReason"], "Invalid username or password.");
        assert_eq!(r.doc["isInteractive"], true);
        assert_eq!(r.doc["ipAddress"], "203.0.113.5");
        assert_eq!(r.doc["correlationId"], "c-1");
        assert_eq!(r.doc["createdDateTime"], "1970-01-01T00:00:00Z");
        assert_eq!(r.doc["authenticationDetails"][0]["succeeded"], false);
        assert_eq!(r.doc["userPrincipalName"], "Ada@Contoso.test");
    }
}
