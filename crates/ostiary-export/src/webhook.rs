//! Webhook sink: batches of records POSTed as JSON, signed with HMAC-SHA256.
//!
//! Request:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! X-Ostiary-Timestamp: 1717000000
//! X-Ostiary-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "1717000000." + body)>
//!
//! {"records":[{"seq":17,"kind":"signIn","tenantId":"…","record":{…Graph signIn…}}, …]}
//! ```
//!
//! The signed string is the decimal timestamp, a dot, and the exact body bytes, so a receiver
//! can reject replays of old requests (compare the timestamp with its clock) as well as
//! forgeries; it must compare signatures in constant time. Records are in ascending `seq`
//! order; delivery is at-least-once, so a receiver deduplicates on `seq` (a batch is resent
//! whole after any failure).
//!
//! Responses: 2xx = delivered. Anything else (and every transport error or timeout) is
//! retried with backoff, never skipped; 4xx other than 408/429 are logged as errors because
//! they usually mean a misconfiguration (wrong URL or secret) that retrying will not fix.

use std::time::Duration;

use ostiary_store::LogRecord;
use serde::Serialize;

use crate::config::{SecretString, WebhookConfig};
use crate::{Now, SendError};

/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Ostiary-Signature";
/// Header carrying the signing time in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Ostiary-Timestamp";

#[derive(Serialize)]
struct Body<'a> {
    records: Vec<Item<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    seq: i64,
    kind: &'static str,
    tenant_id: String,
    record: &'a serde_json::Value,
}

/// The JSON body for a batch.
pub fn body(records: &[&LogRecord]) -> Vec<u8> {
    let body = Body {
        records: records
            .iter()
            .map(|r| Item {
                seq: r.seq,
                kind: r.record.kind.as_str(),
                tenant_id: r.record.tenant.to_string(),
                record: &r.record.doc,
            })
            .collect(),
    };
    // Serializing strings, integers and an existing `Value` cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut msg = Vec::with_capacity(body.len() + 21);
    msg.extend_from_slice(timestamp.to_string().as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    format!("sha256={}", hex(&ostiary_crypto::digest::hmac_sha256(secret, &msg)))
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// An HTTP client with the given timeout, no redirects, and `ca_file` added to the trust
/// anchors.
pub(crate) fn http_client(ca_file: Option<&std::path::Path>, timeout_ms: u64) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("ostiary-export/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_millis(timeout_ms))
        .timeout(Duration::from_millis(timeout_ms));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read `ca_file` {}: {e}", path.display()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("`ca_file` {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("`ca_file` {} holds no certificate", path.display()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Classifies a non-2xx response.
pub(crate) fn status_error(what: &str, status: reqwest::StatusCode, body: &str) -> SendError {
    let snippet: String = body.chars().take(200).collect();
    let message = format!("{what}: HTTP {status}: {snippet}");
    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS && status.as_u16() != 408 {
        SendError::rejected(message)
    } else {
        SendError::retry(message)
    }
}

pub(crate) struct WebhookSink {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: SecretString,
    now: Now,
}

impl WebhookSink {
    pub(crate) fn new(cfg: &WebhookConfig, now: Now) -> Result<WebhookSink, String> {
        if cfg.secret.expose().is_empty() {
            return Err("`secret` is missing or empty".to_string());
        }
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| format!("`url`: {e}"))?;
        Ok(WebhookSink {
            client: http_client(cfg.ca_file.as_deref(), cfg.timeout_ms)?,
            url,
            secret: cfg.secret.clone(),
            now,
        })
    }

    pub(crate) async fn send(&mut self, records: &[&LogRecord]) -> Result<(), SendError> {
        let body = body(records);
        let ts = (self.now)().unix_timestamp();
        let sig = signature(self.secret.expose().as_bytes(), ts, &body);
        let resp = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::retry(format!("webhook: {}", error_chain(&e))))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(status_error("webhook", status, &text))
    }
}

/// An error with its sources (reqwest's `Display` alone says little: "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ostiary_model::TenantId;
    use ostiary_store::{LogKind, NewLogRecord};
    use time::macros::datetime;
    use uuid::Uuid;

    #[test]
    fn signature_known_answer() {
        // printf '%s' '1700000000.{"records":[]}' | openssl dgst -sha256 -hmac 'webhook-secret'
        assert_eq!(
            signature(b"webhook-secret", 1_700_000_000, br#"{"records":[]}"#),
            "sha256=c2cfe61d772be4ef2a0cac83630b878ba3e4642bac627e5e5d754daa7f4383eb"
        );
    }

    #[test]
    fn body_shape() {
        let t = TenantId::from_uuid(Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap());
        let r = LogRecord {
            seq: 7,
            record: NewLogRecord {
                tenant: t,
                kind: LogKind::Audit,
                id: Uuid::new_v4(),
                time: datetime!(2024-01-01 00:00:00 UTC),
                principal_id: None,
                principal_name: None,
                app_id: None,
                correlation_id: None,
                status: 0,
                category: "UserManagement".into(),
                activity: "Add user".into(),
                doc: serde_json::json!({"activityDisplayName": "Add user"}),
            },
        };
        let v: serde_json::Value = serde_json::from_slice(&body(&[&r])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"records": [{
                "seq": 7,
                "kind": "directoryAudit",
                "tenantId": "11111111-2222-3333-4444-555555555555",
                "record": {"activityDisplayName": "Add user"}
            }]})
        );
    }

    #[test]
    fn classifies_statuses() {
        use reqwest::StatusCode;
        assert!(matches!(status_error("w", StatusCode::SERVICE_UNAVAILABLE, ""), SendError::Retry(_)));
        assert!(matches!(status_error("w", StatusCode::TOO_MANY_REQUESTS, ""), SendError::Retry(_)));
        assert!(matches!(status_error("w", StatusCode::REQUEST_TIMEOUT, ""), SendError::Retry(_)));
        assert!(matches!(status_error("w", StatusCode::UNAUTHORIZED, ""), SendError::Rejected(_)));
        assert!(matches!(status_error("w", StatusCode::MOVED_PERMANENTLY, ""), SendError::Retry(_)));
    }
}
