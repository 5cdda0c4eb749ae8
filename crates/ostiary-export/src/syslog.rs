//! Syslog sink: RFC 5424 messages over TCP with RFC 6587 octet-counting framing, optionally
//! inside TLS (RFC 5425).
//!
//! One message per record:
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [ostiary@32473 tenantId="…" seq="…" id="…" correlationId="…"] {json}
//! ```
//!
//! PRI = facility × 8 + severity, severity 6 (informational) for a successful sign-in or
//! audit and 4 (warning) for a failed one (`status != 0`); TIMESTAMP is the record's time in
//! UTC with microseconds; PROCID is the NILVALUE; MSGID is the record kind (`signIn` or
//! `directoryAudit`); MSG is the record's Graph JSON, compact, UTF-8 without a BOM (serde
//! escapes control characters, so a message never contains a raw line break). 32473 is the
//! IANA "example" enterprise number reserved for documentation (RFC 5612); an SD-ID with a
//! private enterprise number is how RFC 5424 §7.2.2 wants vendor parameters named.
//!
//! Delivery: syslog over TCP has no application-level acknowledgement, so a batch counts as
//! delivered once it was written and flushed in full and the connection still looks alive
//! (a non-blocking read that sees neither EOF nor an error). Any error drops the connection
//! and the exporter resends the batch from its cursor, so duplicates are possible; what a
//! receiver had accepted into its socket buffer but not yet processed when it crashed can
//! still be lost, which is inherent to RFC 6587/5425 (only RELP closes that gap).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ostiary_store::LogRecord;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use time::UtcOffset;
use time::macros::format_description;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::SendError;
use crate::config::SyslogConfig;

/// The SD-ID of the structured-data element every message carries.
pub const SD_ID: &str = "ostiary@32473";

const SEVERITY_WARNING: u8 = 4;
const SEVERITY_INFO: u8 = 6;

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub(crate) fn split_address(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("`address` {addr:?} is not host:port"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| format!("`address` {addr:?} has an invalid port"))?;
    if host.is_empty() || port == 0 || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!("`address` {addr:?} is not host:port"));
    }
    Ok((host.to_string(), port))
}

/// RFC 5424 header fields: 1..=`max` PRINTUSASCII characters (`%d33-126`).
pub(crate) fn check_header_field(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!("`{field}` must be 1-{max} printable US-ASCII characters without spaces"));
    }
    Ok(())
}

/// Appends `value` escaped as an RFC 5424 PARAM-VALUE (§6.3.3: `"`, `\` and `]` are
/// preceded by a backslash).
pub fn escape_param_value(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The record's time as an RFC 5424 TIMESTAMP (UTC, microseconds), or the NILVALUE for a
/// year RFC 3339 cannot express.
fn timestamp(t: time::OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&utc.year()) {
        return "-".to_string();
    }
    utc.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"))
        .unwrap_or_else(|_| "-".to_string())
}

/// Header values that do not change per record (validated by the configuration).
#[derive(Debug, Clone)]
pub struct Header {
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
}

impl Header {
    /// Checks the RFC 5424 constraints on the fields.
    pub fn new(facility: u8, hostname: &str, app_name: &str) -> Result<Header, String> {
        if facility > 23 {
            return Err("`facility` must be between 0 and 23".to_string());
        }
        check_header_field("hostname", hostname, 255)?;
        check_header_field("app_name", app_name, 48)?;
        Ok(Header { facility, hostname: hostname.to_string(), app_name: app_name.to_string() })
    }
}

/// One RFC 5424 message (without framing) for `rec`.
pub fn format_message(h: &Header, rec: &LogRecord) -> String {
    let r = &rec.record;
    let severity = if r.status == 0 { SEVERITY_INFO } else { SEVERITY_WARNING };
    let pri = u16::from(h.facility) * 8 + u16::from(severity);
    // MSGID: `signIn` / `directoryAudit` are PRINTUSASCII and well within 32 characters.
    let msgid = r.kind.as_str();
    let body = serde_json::to_string(&r.doc).unwrap_or_else(|_| "null".to_string());
    let mut m = String::with_capacity(160 + body.len());
    m.push('<');
    m.push_str(&pri.to_string());
    m.push_str(">1 ");
    m.push_str(&timestamp(r.time));
    m.push(' ');
    m.push_str(&h.hostname);
    m.push(' ');
    m.push_str(&h.app_name);
    m.push_str(" - ");
    m.push_str(msgid);
    m.push_str(" [");
    m.push_str(SD_ID);
    for (name, value) in [
        ("tenantId", Some(r.tenant.to_string())),
        ("seq", Some(rec.seq.to_string())),
        ("id", Some(r.id.hyphenated().to_string())),
        ("correlationId", r.correlation_id.clone()),
    ] {
        if let Some(v) = value {
            m.push(' ');
            m.push_str(name);
            m.push_str("=\"");
            escape_param_value(&mut m, &v);
            m.push('"');
        }
    }
    m.push_str("] ");
    m.push_str(&body);
    m
}

/// RFC 6587 §3.4.1 octet-counting framing: `MSG-LEN SP SYSLOG-MSG`, the length in bytes.
pub fn frame_octet_counted(out: &mut Vec<u8>, msg: &str) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg.as_bytes());
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// A live TCP (or TLS) connection to the collector, reopened on demand.
pub(crate) struct SyslogSink {
    header: Header,
    host: String,
    port: u16,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    conn: Option<Box<dyn Stream>>,
}

impl SyslogSink {
    /// Builds the sink; reads `ca_file` when TLS is on.
    pub(crate) fn new(cfg: &SyslogConfig) -> Result<SyslogSink, String> {
        let header = Header::new(cfg.facility, &cfg.hostname, &cfg.app_name)?;
        let (host, port) = split_address(&cfg.address)?;
        let tls = if cfg.tls {
            let ca_file = cfg.ca_file.as_ref().ok_or("`tls = true` requires `ca_file`")?;
            let pem =
                std::fs::read(ca_file).map_err(|e| format!("cannot read `ca_file` {}: {e}", ca_file.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("`ca_file` {}: {e}", ca_file.display()))?;
                roots.add(cert).map_err(|e| format!("`ca_file` {}: {e}", ca_file.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("`ca_file` {} holds no certificate", ca_file.display()));
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = cfg.server_name.clone().unwrap_or_else(|| host.clone());
            let server_name = ServerName::try_from(name).map_err(|e| format!("`server_name`: {e}"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), server_name))
        } else {
            None
        };
        Ok(SyslogSink { header, host, port, tls, timeout: Duration::from_millis(cfg.timeout_ms), conn: None })
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, SendError> {
        let addr = (self.host.as_str(), self.port);
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| SendError::retry("syslog: connect timed out"))?
            .map_err(|e| SendError::retry(format!("syslog: connect to {}:{}: {e}", self.host, self.port)))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| SendError::retry("syslog: TLS handshake timed out"))?
                    .map_err(|e| SendError::retry(format!("syslog: TLS handshake: {e}")))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Writes every record of the batch; `Ok` means written, flushed and the connection
    /// still open.
    pub(crate) async fn send(&mut self, records: &[&LogRecord]) -> Result<(), SendError> {
        let mut buf = Vec::with_capacity(records.len() * 512);
        for rec in records {
            frame_octet_counted(&mut buf, &format_message(&self.header, rec));
        }
        if let Some(conn) = self.conn.as_mut()
            && !still_open(conn.as_mut()).await
        {
            // The collector closed the connection while we were idle (restart): reconnect
            // rather than writing into a socket whose peer is gone.
            self.conn = None;
        }
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let written = tokio::time::timeout(self.timeout, async {
            conn.write_all(&buf).await?;
            conn.flush().await
        })
        .await;
        match written {
            Err(_) => return Err(SendError::retry("syslog: write timed out")),
            Ok(Err(e)) => return Err(SendError::retry(format!("syslog: write: {e}"))),
            Ok(Ok(())) => {}
        }
        if !still_open(conn.as_mut()).await {
            return Err(SendError::retry("syslog: connection closed by the collector"));
        }
        self.conn = Some(conn);
        Ok(())
    }
}

/// Polls the stream for reading exactly once: a collector never sends anything, so a ready
/// read means EOF, a reset, a TLS alert, or stray data (tolerated).
async fn still_open(conn: &mut dyn Stream) -> bool {
    let mut scratch = [0u8; 512];
    poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut scratch);
        match Pin::new(&mut *conn).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Ready(true),
            Poll::Ready(Ok(())) => Poll::Ready(!rb.filled().is_empty()),
            Poll::Ready(Err(_)) => Poll::Ready(false),
        }
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ostiary_model::TenantId;
    use ostiary_store::{LogKind, NewLogRecord};
    use time::macros::datetime;
    use uuid::Uuid;

    fn rec(status: i64, doc: serde_json::Value, correlation: Option<&str>) -> LogRecord {
        LogRecord {
            seq: 42,
            record: NewLogRecord {
                tenant: TenantId::from_uuid(Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap()),
                kind: LogKind::SignIn,
                id: Uuid::parse_str("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee").unwrap(),
                time: datetime!(2024-03-05 01:02:03.456789123 +02:00),
                principal_id: None,
                principal_name: None,
                app_id: None,
                correlation_id: correlation.map(str::to_string),
                status,
                category: "interactive".into(),
                activity: String::new(),
                doc,
            },
        }
    }

    #[test]
    fn formats_rfc5424() {
        let h = Header::new(10, "idp1.example", "ostiary").unwrap();
        let m = format_message(&h, &rec(0, serde_json::json!({"id": "x", "n": 1}), Some("c-1")));
        assert_eq!(
            m,
            "<86>1 2024-03-04T23:02:03.456789Z idp1.example ostiary - signIn [ostiary@32473 \
             tenantId=\"11111111-2222-3333-4444-555555555555\" seq=\"42\" \
             id=\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\" correlationId=\"c-1\"] {\"id\":\"x\",\"n\":1}"
        );
        // Failure → warning (10*8+4); no correlation id → parameter omitted; audit MSGID.
        let mut r = rec(50126, serde_json::json!({}), None);
        r.record.kind = LogKind::Audit;
        let m = format_message(&Header::new(13, "-", "ostiary").unwrap(), &r);
        assert!(m.starts_with("<108>1 2024-03-04T23:02:03.456789Z - ostiary - directoryAudit [ostiary@32473 "), "{m}");
        assert!(m.ends_with("id=\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"] {}"), "{m}");
    }

    #[test]
    fn escapes_param_values() {
        let mut s = String::new();
        escape_param_value(&mut s, r#"a"b\c]d[e=f é"#);
        assert_eq!(s, r#"a\"b\\c\]d[e=f é"#);
        let m = format_message(&Header::new(10, "h", "a").unwrap(), &rec(0, serde_json::json!(null), Some(r#"x"]\y"#)));
        assert!(m.contains(r#"correlationId="x\"\]\\y"] null"#), "{m}");
    }

    #[test]
    fn frames_by_byte_length() {
        let h = Header::new(10, "h", "a").unwrap();
        let msg = format_message(&h, &rec(0, serde_json::json!({"displayName": "Zoë 日本 🎉", "nl": "a\nb"}), None));
        assert!(!msg.contains('\n'));
        assert_ne!(msg.len(), msg.chars().count());
        let mut out = Vec::new();
        frame_octet_counted(&mut out, &msg);
        frame_octet_counted(&mut out, "x");
        let text = String::from_utf8(out).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert_eq!(len, msg.len());
        assert_eq!(&rest.as_bytes()[..len], msg.as_bytes());
        assert_eq!(&rest[len..], "1 x");
        assert!(!rest.starts_with('\u{feff}'));
    }

    #[test]
    fn validates_header_fields() {
        assert!(Header::new(24, "h", "a").is_err());
        assert!(Header::new(10, "", "a").is_err());
        assert!(Header::new(10, "h h", "a").is_err());
        assert!(Header::new(10, "hé", "a").is_err());
        assert!(Header::new(10, &"h".repeat(255), &"a".repeat(48)).is_ok());
        assert!(Header::new(10, &"h".repeat(256), "a").is_err());
        assert!(Header::new(10, "h", &"a".repeat(49)).is_err());
        assert!(Header::new(10, "h", "a\u{7f}").is_err());
        assert!(check_header_field("msgid", "directoryAudit", 32).is_ok());
        assert_eq!(split_address("[::1]:6514").unwrap(), ("::1".to_string(), 6514));
        assert_eq!(split_address("siem.example:514").unwrap(), ("siem.example".to_string(), 514));
        assert!(split_address("siem.example").is_err());
        assert!(split_address(":514").is_err());
        assert!(split_address("h:0").is_err());
    }

    #[test]
    fn timestamp_edge_cases() {
        assert_eq!(timestamp(datetime!(2024-01-01 00:00:00 UTC)), "2024-01-01T00:00:00.000000Z");
        assert_eq!(timestamp(datetime!(2024-01-01 00:59:59.999999999 -01:00)), "2024-01-01T01:59:59.999999Z");
    }
}
