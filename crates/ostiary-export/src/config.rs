//! Sink configuration as it appears in the server's TOML file (`[[export.sinks]]`), with
//! validation that runs when the configuration is parsed.
//!
//! ```toml
//! [[export.sinks]]
//! type = "syslog"                 # "syslog" | "webhook" | "otlp" (feature `otlp`)
//! name = "siem"                   # unique; the cursor is stored under "export:siem"
//! kinds = ["signIn", "directoryAudit"]   # optional, default every kind (also "provisioning")
//! tenants = ["6f1c0f3e-8a4e-4a57-9c55-0b7f4f3b1d11"]  # optional, default all tenants
//! start = "now"                   # "now" (default) | "beginning"; only used without a cursor
//! batch_size = 1000               # optional, 1..=10000
//! address = "siem.example.net:6514"
//! tls = true
//! ca_file = "/etc/ostiary/siem-ca.pem"   # required with tls = true
//! server_name = "siem.example.net"      # optional, default: host part of address
//! app_name = "ostiary"            # optional
//! hostname = "idp1.example.net"   # optional, default "-" (NILVALUE)
//! facility = 10                   # optional, default 10 (authpriv)
//!
//! [[export.sinks]]
//! type = "webhook"
//! name = "hook"
//! url = "https://collector.example.net/ostiary"
//! secret = "…"                    # HMAC-SHA256 key (the binary may fill it from `secret_env`)
//! ca_file = "/etc/ostiary/hook-ca.pem"  # optional extra trust anchor
//! timeout_ms = 10000
//! ```

#[cfg(feature = "otlp")]
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ostiary_crypto::secret::Secret;
use ostiary_model::TenantId;
use ostiary_store::LogKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default number of records fetched and sent per batch.
/// Large enough that one sink keeps up with a login storm (a batch costs one store read, one
/// send and one cursor write, whatever its size: at 100 a syslog sink fell behind at ~16k
/// sign-ins/s, at 1,000 it kept export lag p99 near 0.1 s; see bench/README.md).
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
/// Upper bound of `batch_size` (the store's `logs_after` limit).
pub const MAX_BATCH_SIZE: u32 = 10_000;
/// Default `facility`: 10 = authpriv ("security/authorization messages, private").
pub const DEFAULT_FACILITY: u8 = 10;
/// Default network timeout (connect, write, HTTP request) in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Where a sink without a persisted cursor starts.
///
/// The default is [`StartAt::Now`]: adding a SIEM sink to a running server should not replay
/// months of history into the SIEM (which already has its own retention, and whose ingest may
/// be metered); an administrator who wants a backfill says `start = "beginning"`. Either way
/// the initial cursor is persisted before the first delivery, so a restart never skips the
/// records appended in between, and the setting is ignored once a cursor exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Only records appended after the sink was first started.
    #[default]
    Now,
    /// Every record still in the store.
    Beginning,
}

/// One `[[export.sinks]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Unique among the sinks; the cursor key is `export:<name>`.
    pub name: String,
    /// Record kinds to export (`None` = both).
    pub kinds: Option<Vec<LogKind>>,
    /// Tenants to export (`None` = all).
    pub tenants: Option<Vec<TenantId>>,
    pub start: StartAt,
    /// Records fetched (and sent) per batch, 1..=10000.
    pub batch_size: u32,
    pub transport: TransportConfig,
}

/// The per-type part of a sink.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportConfig {
    Syslog(SyslogConfig),
    Webhook(WebhookConfig),
    #[cfg(feature = "otlp")]
    Otlp(OtlpConfig),
}

/// RFC 5424 over TCP (RFC 6587 octet counting), optionally TLS (RFC 5425).
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    /// `host:port`.
    pub address: String,
    pub tls: bool,
    /// PEM file with the CA certificate(s) to trust; required when `tls` (there are no
    /// built-in roots).
    pub ca_file: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host part of `address`.
    pub server_name: Option<String>,
    /// APP-NAME, default `ostiary` (PRINTUSASCII, at most 48 characters).
    pub app_name: String,
    /// HOSTNAME, default `-` (NILVALUE; PRINTUSASCII, at most 255 characters).
    pub hostname: String,
    /// 0..=23; default 10 (authpriv).
    pub facility: u8,
    pub timeout_ms: u64,
}

/// JSON batches POSTed with an HMAC signature.
#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    /// `http://` or `https://`.
    pub url: String,
    /// The HMAC-SHA256 key.
    pub secret: SecretString,
    /// Name of an environment variable holding the key instead of `secret`. Only the binary
    /// reads the environment: it must copy the variable into `secret` before
    /// [`crate::Exporter::start`] (which rejects an empty secret).
    pub secret_env: Option<String>,
    /// Extra trust anchor(s) (PEM), added to the platform's roots.
    pub ca_file: Option<PathBuf>,
    pub timeout_ms: u64,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"***")
            .field("secret_env", &self.secret_env)
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// OTLP/HTTP logs, JSON encoding.
#[cfg(feature = "otlp")]
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// Base URL; records are POSTed to `{endpoint}/v1/logs`.
    pub endpoint: String,
    /// Extra request headers (e.g. `Authorization`); values are treated as secrets.
    pub headers: BTreeMap<String, SecretString>,
    pub ca_file: Option<PathBuf>,
    pub timeout_ms: u64,
}

#[cfg(feature = "otlp")]
impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A configured secret string: redacted in `Debug` and `Serialize`, zeroized on drop.
#[derive(Clone)]
pub struct SecretString(Secret<String>);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(Secret::new(s.into()))
    }

    /// The secret value. Named loudly so uses are easy to audit.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        ostiary_crypto::digest::ct_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// An invalid sink configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("export sink `{sink}`: {message}")]
pub struct ConfigError {
    pub sink: String,
    pub message: String,
}

impl ConfigError {
    fn new(sink: &str, message: impl Into<String>) -> Self {
        ConfigError { sink: sink.to_string(), message: message.into() }
    }
}

// --- the file format ----------------------------------------------------------------------
//
// An internally tagged enum of flat structs: every variant denies unknown fields (a typo in
// `ca_file` must not silently disable anything), which `#[serde(flatten)]` would prevent.

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum RawSink {
    Syslog(RawSyslog),
    Webhook(RawWebhook),
    #[cfg(feature = "otlp")]
    Otlp(RawOtlp),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSyslog {
    name: String,
    kinds: Option<Vec<String>>,
    tenants: Option<Vec<TenantId>>,
    #[serde(default)]
    start: StartAt,
    batch_size: Option<u32>,
    address: String,
    #[serde(default)]
    tls: bool,
    ca_file: Option<PathBuf>,
    server_name: Option<String>,
    app_name: Option<String>,
    hostname: Option<String>,
    facility: Option<u8>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    kinds: Option<Vec<String>>,
    tenants: Option<Vec<TenantId>>,
    #[serde(default)]
    start: StartAt,
    batch_size: Option<u32>,
    url: String,
    secret: Option<SecretString>,
    secret_env: Option<String>,
    ca_file: Option<PathBuf>,
    timeout_ms: Option<u64>,
}

#[cfg(feature = "otlp")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOtlp {
    name: String,
    kinds: Option<Vec<String>>,
    tenants: Option<Vec<TenantId>>,
    #[serde(default)]
    start: StartAt,
    batch_size: Option<u32>,
    endpoint: String,
    #[serde(default)]
    headers: BTreeMap<String, SecretString>,
    ca_file: Option<PathBuf>,
    timeout_ms: Option<u64>,
}

impl<'de> Deserialize<'de> for SinkConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawSink::deserialize(d)?;
        SinkConfig::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

fn kinds(sink: &str, raw: Option<Vec<String>>) -> Result<Option<Vec<LogKind>>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(ConfigError::new(sink, "`kinds` is empty (omit it to export every kind)"));
    }
    raw.iter()
        .map(|k| {
            LogKind::parse(k).ok_or_else(|| {
                ConfigError::new(
                    sink,
                    format!("unknown kind `{k}` (expected `signIn`, `directoryAudit` or `provisioning`)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl SinkConfig {
    fn from_raw(raw: RawSink) -> Result<SinkConfig, ConfigError> {
        let cfg = match raw {
            RawSink::Syslog(r) => SinkConfig {
                kinds: kinds(&r.name, r.kinds)?,
                tenants: r.tenants,
                start: r.start,
                batch_size: r.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
                transport: TransportConfig::Syslog(SyslogConfig {
                    address: r.address,
                    tls: r.tls,
                    ca_file: r.ca_file,
                    server_name: r.server_name,
                    app_name: r.app_name.unwrap_or_else(|| "ostiary".to_string()),
                    hostname: r.hostname.unwrap_or_else(|| "-".to_string()),
                    facility: r.facility.unwrap_or(DEFAULT_FACILITY),
                    timeout_ms: r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                }),
                name: r.name,
            },
            RawSink::Webhook(r) => {
                if r.secret.is_some() && r.secret_env.is_some() {
                    return Err(ConfigError::new(&r.name, "set `secret` or `secret_env`, not both"));
                }
                SinkConfig {
                    kinds: kinds(&r.name, r.kinds)?,
                    tenants: r.tenants,
                    start: r.start,
                    batch_size: r.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
                    transport: TransportConfig::Webhook(WebhookConfig {
                        url: r.url,
                        // An empty secret is rejected by `validate` unless the binary fills it
                        // from `secret_env` first.
                        secret: r.secret.unwrap_or_else(|| SecretString::new(String::new())),
                        secret_env: r.secret_env,
                        ca_file: r.ca_file,
                        timeout_ms: r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                    }),
                    name: r.name,
                }
            }
            #[cfg(feature = "otlp")]
            RawSink::Otlp(r) => SinkConfig {
                kinds: kinds(&r.name, r.kinds)?,
                tenants: r.tenants,
                start: r.start,
                batch_size: r.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
                transport: TransportConfig::Otlp(OtlpConfig {
                    endpoint: r.endpoint,
                    headers: r.headers,
                    ca_file: r.ca_file,
                    timeout_ms: r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                }),
                name: r.name,
            },
        };
        cfg.validate_shape()?;
        Ok(cfg)
    }

    /// The store key of this sink's cursor.
    pub fn cursor_key(&self) -> String {
        format!("export:{}", self.name)
    }

    /// Whether a record of this kind and tenant is exported by this sink.
    pub fn selects(&self, kind: LogKind, tenant: TenantId) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
            && self.tenants.as_ref().is_none_or(|t| t.contains(&tenant))
    }

    /// Checks everything that can be checked without IO, except the webhook secret, which
    /// the binary may still have to fill in from the environment ([`SinkConfig::validate`]
    /// checks it).
    fn validate_shape(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(ConfigError::new(name, "`name` must be 1-64 characters of A-Z a-z 0-9 - _ ."));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(ConfigError::new(name, format!("`batch_size` must be between 1 and {MAX_BATCH_SIZE}")));
        }
        if self.tenants.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::new(name, "`tenants` is empty (omit it to export all tenants)"));
        }
        match &self.transport {
            TransportConfig::Syslog(s) => {
                crate::syslog::split_address(&s.address).map_err(|m| ConfigError::new(name, m))?;
                if s.tls && s.ca_file.is_none() {
                    return Err(ConfigError::new(
                        name,
                        "`tls = true` requires `ca_file` (there are no built-in roots)",
                    ));
                }
                if !s.tls && (s.ca_file.is_some() || s.server_name.is_some()) {
                    return Err(ConfigError::new(name, "`ca_file` and `server_name` need `tls = true`"));
                }
                if s.facility > 23 {
                    return Err(ConfigError::new(name, "`facility` must be between 0 and 23"));
                }
                crate::syslog::check_header_field("app_name", &s.app_name, 48)
                    .map_err(|m| ConfigError::new(name, m))?;
                crate::syslog::check_header_field("hostname", &s.hostname, 255)
                    .map_err(|m| ConfigError::new(name, m))?;
                if s.timeout_ms == 0 {
                    return Err(ConfigError::new(name, "`timeout_ms` must be positive"));
                }
            }
            TransportConfig::Webhook(w) => {
                check_http_url(name, "url", &w.url)?;
                if w.timeout_ms == 0 {
                    return Err(ConfigError::new(name, "`timeout_ms` must be positive"));
                }
            }
            #[cfg(feature = "otlp")]
            TransportConfig::Otlp(o) => {
                check_http_url(name, "endpoint", &o.endpoint)?;
                if o.timeout_ms == 0 {
                    return Err(ConfigError::new(name, "`timeout_ms` must be positive"));
                }
                for (k, v) in &o.headers {
                    if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                        || reqwest::header::HeaderValue::from_str(v.expose()).is_err()
                    {
                        return Err(ConfigError::new(name, format!("invalid header `{k}`")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Full validation (run by [`crate::Exporter::start`]): the shape checks plus a non-empty
    /// webhook secret.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_shape()?;
        if let TransportConfig::Webhook(w) = &self.transport
            && w.secret.expose().is_empty()
        {
            return Err(ConfigError::new(&self.name, "`secret` is missing or empty"));
        }
        Ok(())
    }
}

/// Validates a list of sinks as a whole: each one, and unique names.
pub fn validate_sinks(sinks: &[SinkConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for s in sinks {
        s.validate()?;
        if !seen.insert(s.name.as_str()) {
            return Err(ConfigError::new(&s.name, "duplicate sink name"));
        }
    }
    Ok(())
}

fn check_http_url(sink: &str, field: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::new(sink, format!("`{field}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ConfigError::new(sink, format!("`{field}` must be an http:// or https:// URL")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(sink, format!("`{field}` must not carry credentials")));
    }
    Ok(())
}

// `SinkConfig` is shown by `ostiary config show`: serialize it with secrets redacted, in the
// same shape as the file.
impl Serialize for SinkConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        let ty = match &self.transport {
            TransportConfig::Syslog(_) => "syslog",
            TransportConfig::Webhook(_) => "webhook",
            #[cfg(feature = "otlp")]
            TransportConfig::Otlp(_) => "otlp",
        };
        m.serialize_entry("type", ty)?;
        m.serialize_entry("name", &self.name)?;
        if let Some(k) = &self.kinds {
            m.serialize_entry("kinds", &k.iter().map(|k| k.as_str()).collect::<Vec<_>>())?;
        }
        if let Some(t) = &self.tenants {
            m.serialize_entry("tenants", t)?;
        }
        m.serialize_entry("start", &self.start)?;
        m.serialize_entry("batch_size", &self.batch_size)?;
        match &self.transport {
            TransportConfig::Syslog(c) => {
                m.serialize_entry("address", &c.address)?;
                m.serialize_entry("tls", &c.tls)?;
                m.serialize_entry("ca_file", &c.ca_file)?;
                m.serialize_entry("server_name", &c.server_name)?;
                m.serialize_entry("app_name", &c.app_name)?;
                m.serialize_entry("hostname", &c.hostname)?;
                m.serialize_entry("facility", &c.facility)?;
                m.serialize_entry("timeout_ms", &c.timeout_ms)?;
            }
            TransportConfig::Webhook(c) => {
                m.serialize_entry("url", &c.url)?;
                m.serialize_entry("secret", &c.secret)?;
                m.serialize_entry("secret_env", &c.secret_env)?;
                m.serialize_entry("ca_file", &c.ca_file)?;
                m.serialize_entry("timeout_ms", &c.timeout_ms)?;
            }
            #[cfg(feature = "otlp")]
            TransportConfig::Otlp(c) => {
                m.serialize_entry("endpoint", &c.endpoint)?;
                m.serialize_entry("headers", &c.headers)?;
                m.serialize_entry("ca_file", &c.ca_file)?;
                m.serialize_entry("timeout_ms", &c.timeout_ms)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        export: Export,
    }
    #[derive(Deserialize)]
    struct Export {
        sinks: Vec<SinkConfig>,
    }

    fn parse(toml_text: &str) -> Result<Vec<SinkConfig>, String> {
        toml::from_str::<File>(toml_text).map(|f| f.export.sinks).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_syslog_with_defaults() {
        let sinks = parse(
            r#"
            [[export.sinks]]
            type = "syslog"
            name = "siem"
            address = "127.0.0.1:514"
            "#,
        )
        .unwrap();
        let s = &sinks[0];
        assert_eq!(s.name, "siem");
        assert_eq!(s.cursor_key(), "export:siem");
        assert_eq!(s.start, StartAt::Now);
        assert_eq!(s.batch_size, 1000);
        assert!(s.kinds.is_none() && s.tenants.is_none());
        let TransportConfig::Syslog(c) = &s.transport else { panic!() };
        assert_eq!((c.app_name.as_str(), c.hostname.as_str(), c.facility, c.tls), ("ostiary", "-", 10, false));
        validate_sinks(&sinks).unwrap();
    }

    #[test]
    fn parses_the_documented_example() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .map(|l| format!("{l}\n"))
            .collect();
        let sinks = parse(&example).unwrap();
        assert_eq!(sinks.len(), 2);
        validate_sinks(&sinks).unwrap();
        let TransportConfig::Syslog(c) = &sinks[0].transport else { panic!() };
        assert!(c.tls);
        assert_eq!(sinks[0].kinds.as_deref(), Some(&[LogKind::SignIn, LogKind::Audit][..]));
    }

    #[test]
    fn parses_webhook_and_filters() {
        let t = TenantId::from_uuid(uuid::Uuid::new_v4());
        let sinks = parse(&format!(
            r#"
            [[export.sinks]]
            type = "webhook"
            name = "hook"
            url = "https://h.example/x"
            secret = "k3y"
            kinds = ["signIn"]
            tenants = ["{t}"]
            start = "beginning"
            batch_size = 7
            "#
        ))
        .unwrap();
        let s = &sinks[0];
        assert_eq!(s.start, StartAt::Beginning);
        assert_eq!(s.batch_size, 7);
        assert!(s.selects(LogKind::SignIn, t));
        assert!(!s.selects(LogKind::Audit, t));
        assert!(!s.selects(LogKind::SignIn, TenantId::from_uuid(uuid::Uuid::new_v4())));
        assert!(!format!("{s:?}").contains("k3y"));
        let shown = serde_json::to_value(s).unwrap();
        assert_eq!(shown["secret"], "***");
        assert_eq!(shown["type"], "webhook");
        validate_sinks(&sinks).unwrap();
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = [
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\nca_flie = \"x\"",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1\"",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\ntls = true",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\nfacility = 24",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\napp_name = \"has space\"",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\nbatch_size = 0",
            "type = \"syslog\"\nname = \"a b\"\naddress = \"127.0.0.1:514\"",
            "type = \"syslog\"\nname = \"a\"\naddress = \"127.0.0.1:514\"\nkinds = [\"signins\"]",
            "type = \"webhook\"\nname = \"a\"\nurl = \"ftp://x/\"\nsecret = \"k\"",
            "type = \"webhook\"\nname = \"a\"\nurl = \"https://u:p@x/\"\nsecret = \"k\"",
            "type = \"carrier-pigeon\"\nname = \"a\"",
        ];
        for b in bad {
            assert!(parse(&format!("[[export.sinks]]\n{b}\n")).is_err(), "{b}");
        }
        // Parses (the binary may fill the secret from `secret_env`), but does not validate.
        let s = parse("[[export.sinks]]\ntype = \"webhook\"\nname = \"a\"\nurl = \"http://x/\"\nsecret_env = \"E\"\n")
            .unwrap();
        assert!(validate_sinks(&s).is_err());
        let dup = parse(
            "[[export.sinks]]\ntype = \"syslog\"\nname = \"a\"\naddress = \"h:1\"\n\
             [[export.sinks]]\ntype = \"syslog\"\nname = \"a\"\naddress = \"h:2\"\n",
        )
        .unwrap();
        assert_eq!(validate_sinks(&dup).unwrap_err().message, "duplicate sink name");
    }
}
