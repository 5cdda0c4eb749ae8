//! OTLP/HTTP log sink with the JSON encoding (no protobuf dependency): each batch is one
//! `ExportLogsServiceRequest` POSTed to `{endpoint}/v1/logs`.
//!
//! Mapping: one resource (`service.name` = `ostiary`), one scope (`ostiary-export`), one
//! log record per store record: `timeUnixNano` = the record's time, `observedTimeUnixNano`
//! = export time (64-bit integers as decimal strings, per the proto3 JSON mapping),
//! `severityNumber` 9 / `severityText` `INFO` for success and 13 / `WARN` for a failure
//! (`status != 0`), `body.stringValue` = the Graph JSON document, attributes `tenantId`,
//! `seq` (intValue), `kind`, `id` and `correlationId` (when present).
//!
//! A 2xx response is delivery, including a `partialSuccess` with rejected records (the
//! collector refused them permanently; retrying cannot help, so they are logged and
//! skipped). Every other outcome is retried.

use ostiary_store::LogRecord;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::OtlpConfig;
use crate::webhook::{error_chain, http_client, status_error};
use crate::{Now, SendError};

fn nanos(t: OffsetDateTime) -> String {
    t.unix_timestamp_nanos().max(0).to_string()
}

fn string_attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// The `ExportLogsServiceRequest` JSON for a batch, observed at `observed`.
pub fn request(records: &[&LogRecord], observed: OffsetDateTime) -> Value {
    let observed = nanos(observed);
    let log_records: Vec<Value> = records
        .iter()
        .map(|rec| {
            let r = &rec.record;
            let (number, text) = if r.status == 0 { (9, "INFO") } else { (13, "WARN") };
            let mut attributes = vec![
                string_attr("tenantId", &r.tenant.to_string()),
                json!({"key": "seq", "value": {"intValue": rec.seq.to_string()}}),
                string_attr("kind", r.kind.as_str()),
                string_attr("id", &r.id.hyphenated().to_string()),
            ];
            if let Some(c) = &r.correlation_id {
                attributes.push(string_attr("correlationId", c));
            }
            json!({
                "timeUnixNano": nanos(r.time),
                "observedTimeUnixNano": observed,
                "severityNumber": number,
                "severityText": text,
                "body": {"stringValue": serde_json::to_string(&r.doc).unwrap_or_default()},
                "attributes": attributes,
            })
        })
        .collect();
    json!({
        "resourceLogs": [{
            "resource": {"attributes": [string_attr("service.name", "ostiary")]},
            "scopeLogs": [{
                "scope": {"name": "ostiary-export", "version": env!("CARGO_PKG_VERSION")},
                "logRecords": log_records,
            }],
        }],
    })
}

pub(crate) struct OtlpSink {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    now: Now,
}

impl OtlpSink {
    pub(crate) fn new(cfg: &OtlpConfig, now: Now) -> Result<OtlpSink, String> {
        let url = reqwest::Url::parse(&format!("{}/v1/logs", cfg.endpoint.trim_end_matches('/')))
            .map_err(|e| format!("`endpoint`: {e}"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("header `{k}`"))?;
            let mut value = reqwest::header::HeaderValue::from_str(v.expose()).map_err(|_| format!("header `{k}`"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(OtlpSink { client: http_client(cfg.ca_file.as_deref(), cfg.timeout_ms)?, url, headers, now })
    }

    pub(crate) async fn send(&mut self, records: &[&LogRecord]) -> Result<(), SendError> {
        let body = serde_json::to_vec(&request(records, (self.now)())).unwrap_or_default();
        let resp = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::retry(format!("otlp: {}", error_chain(&e))))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(status_error("otlp", status, &text));
        }
        if let Ok(v) = serde_json::from_str::<Value>(&text)
            && let Some(p) = v.get("partialSuccess")
        {
            let rejected = match p.get("rejectedLogRecords") {
                Some(Value::String(s)) => s.parse::<i64>().unwrap_or(0),
                Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                _ => 0,
            };
            if rejected > 0 {
                let message = p.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("");
                tracing::warn!(
                    rejected,
                    error = %message,
                    "otlp collector rejected log records permanently"
                );
            }
        }
        Ok(())
    }
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
    fn request_shape() {
        let rec = LogRecord {
            seq: 9,
            record: NewLogRecord {
                tenant: TenantId::from_uuid(Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap()),
                kind: LogKind::SignIn,
                id: Uuid::parse_str("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee").unwrap(),
                time: datetime!(2024-01-01 00:00:01.5 UTC),
                principal_id: None,
                principal_name: None,
                app_id: None,
                correlation_id: Some("corr".into()),
                status: 50126,
                category: "interactive".into(),
                activity: String::new(),
                doc: serde_json::json!({"id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}),
            },
        };
        let v = request(&[&rec], datetime!(2024-01-01 00:00:02 UTC));
        let rl = &v["resourceLogs"][0];
        assert_eq!(
            rl["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "ostiary"}})
        );
        let lr = &rl["scopeLogs"][0]["logRecords"][0];
        assert_eq!(lr["timeUnixNano"], "1704067201500000000");
        assert_eq!(lr["observedTimeUnixNano"], "1704067202000000000");
        assert_eq!(lr["severityNumber"], 13);
        assert_eq!(lr["severityText"], "WARN");
        assert_eq!(lr["body"]["stringValue"], r#"{"id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}"#);
        assert_eq!(
            lr["attributes"],
            json!([
                {"key": "tenantId", "value": {"stringValue": "11111111-2222-3333-4444-555555555555"}},
                {"key": "seq", "value": {"intValue": "9"}},
                {"key": "kind", "value": {"stringValue": "signIn"}},
                {"key": "id", "value": {"stringValue": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}},
                {"key": "correlationId", "value": {"stringValue": "corr"}},
            ])
        );
    }
}
