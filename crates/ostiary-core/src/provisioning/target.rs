//! The HTTP side of outbound provisioning behind a small trait: a SCIM target can create, get,
//! query, patch and delete Users and Groups. The real one speaks SCIM 2.0 over reqwest (rustls)
//! with the job's bearer secret; tests inject their own to simulate failures.

use async_trait::async_trait;
use ostiary_crypto::secret::Secret;
use ostiary_provisioning::retry::{self, Operation, Outcome};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Users or Groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The endpoint path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    /// The value in provisioning records (`identityType`).
    pub fn identity_type(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// A failed request: the status (None for network failures and timeouts), the target's
/// `Retry-After` header as sent (a date needs the engine's clock to become a wait), and a short
/// description for the record (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    pub detail: String,
}

impl TargetError {
    pub fn network(detail: impl Into<String>) -> TargetError {
        TargetError { status: None, retry_after: None, detail: detail.into() }
    }

    /// What this failure means for `op` at `now`.
    pub fn outcome(&self, op: Operation, now: time::OffsetDateTime) -> Outcome {
        let wait = self.retry_after.as_deref().and_then(|h| retry::parse_retry_after(h, now));
        retry::classify(self.status, op, wait)
    }

    /// Entra-style error code for the record.
    pub fn error_code(&self) -> String {
        match self.status {
            None => "SystemForCrossDomainIdentityManagementServiceUnavailable".into(),
            Some(401 | 403) => "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable".into(),
            Some(409) => "SystemForCrossDomainIdentityManagementConflict".into(),
            Some(429) => "SystemForCrossDomainIdentityManagementThrottled".into(),
            Some(s) if s >= 500 => "SystemForCrossDomainIdentityManagementServiceUnavailable".into(),
            Some(_) => "SystemForCrossDomainIdentityManagementBadRequest".into(),
        }
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.detail),
            None => write!(f, "{}", self.detail),
        }
    }
}

/// A SCIM service provider as the engine sees it.
#[async_trait]
pub trait ScimTarget: Send + Sync {
    /// POST; returns the created resource (with its `id`).
    async fn create(&self, kind: ResourceKind, resource: &Value) -> Result<Value, TargetError>;
    /// GET by id (groups without members).
    async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, TargetError>;
    /// GET with a `filter`; returns the `Resources`.
    async fn query(&self, kind: ResourceKind, filter: &str) -> Result<Vec<Value>, TargetError>;
    /// PATCH with these `Operations`.
    async fn patch(&self, kind: ResourceKind, id: &str, operations: &[Value]) -> Result<(), TargetError>;
    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), TargetError>;
}

/// Builds the target of a job from its base URL and (opened) bearer secret.
pub trait ScimConnector: Send + Sync {
    fn connect(&self, base_url: &str, bearer: Option<&Secret<String>>) -> Result<Arc<dyn ScimTarget>, String>;
}

/// The real connector: one shared reqwest client (connection pool, rustls), per-job targets.
pub struct HttpConnector {
    client: reqwest::Client,
}

impl HttpConnector {
    /// A client with `timeout` per request and no redirects (a redirect could carry the bearer
    /// token to another host).
    pub fn new(timeout: Duration) -> Result<HttpConnector, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("ostiary-provisioning/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpConnector { client })
    }
}

impl ScimConnector for HttpConnector {
    fn connect(&self, base_url: &str, bearer: Option<&Secret<String>>) -> Result<Arc<dyn ScimTarget>, String> {
        let base = reqwest::Url::parse(base_url.trim_end_matches('/')).map_err(|e| e.to_string())?;
        let auth = match bearer {
            Some(s) => {
                let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", s.expose()))
                    .map_err(|_| "the secret token holds characters a header cannot carry".to_string())?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Arc::new(HttpTarget { client: self.client.clone(), base: base.to_string(), auth }))
    }
}

struct HttpTarget {
    client: reqwest::Client,
    base: String,
    auth: Option<reqwest::header::HeaderValue>,
}

const SCIM_JSON: &str = "application/scim+json";
/// Largest response body read from a target.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl HttpTarget {
    fn url(&self, kind: ResourceKind, id: Option<&str>) -> String {
        let base = self.base.trim_end_matches('/');
        match id {
            Some(id) => format!("{base}/{}/{}", kind.endpoint(), segment(id)),
            None => format!("{base}/{}", kind.endpoint()),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), TargetError> {
        let mut req = req.header(reqwest::header::ACCEPT, SCIM_JSON);
        if let Some(a) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let resp = req.send().await.map_err(|e| TargetError::network(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        // A target's answer is small (one resource or a page); a huge one is a broken or hostile
        // target, and must not exhaust memory.
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| TargetError::network(error_chain(&e)))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TargetError::network(format!("the response is larger than {MAX_RESPONSE_BYTES} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            let body =
                if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
            return Ok((status, body));
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(TargetError { status: Some(status), retry_after, detail })
    }

    fn json_body(&self, req: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
        req.header(reqwest::header::CONTENT_TYPE, SCIM_JSON).body(serde_json::to_vec(body).unwrap_or_default())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[async_trait]
impl ScimTarget for HttpTarget {
    async fn create(&self, kind: ResourceKind, resource: &Value) -> Result<Value, TargetError> {
        let req = self.json_body(self.client.post(self.url(kind, None)), resource);
        Ok(self.send(req).await?.1)
    }

    async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, TargetError> {
        let mut url = self.url(kind, Some(id));
        if kind == ResourceKind::Group {
            url.push_str("?excludedAttributes=members");
        }
        Ok(self.send(self.client.get(url)).await?.1)
    }

    async fn query(&self, kind: ResourceKind, filter: &str) -> Result<Vec<Value>, TargetError> {
        let mut url = format!("{}?filter={}", self.url(kind, None), segment(filter));
        if kind == ResourceKind::Group {
            url.push_str("&excludedAttributes=members");
        }
        let body = self.send(self.client.get(url)).await?.1;
        Ok(body.get("Resources").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    async fn patch(&self, kind: ResourceKind, id: &str, operations: &[Value]) -> Result<(), TargetError> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        let req = self.json_body(self.client.patch(self.url(kind, Some(id))), &body);
        self.send(req).await.map(|_| ())
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), TargetError> {
        self.send(self.client.delete(self.url(kind, Some(id)))).await.map(|_| ())
    }
}
