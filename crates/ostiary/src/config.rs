//! Effective configuration: defaults, then a TOML file (`--config`), then `OSTIARY_*`
//! environment variables and flags (clap reads both). Secrets are redacted when shown.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings shared by every command that opens the store.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Directory for the embedded database, keys and the development CA.
    #[arg(long, env = "OSTIARY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `postgres://...` selects PostgreSQL; `sqlite://PATH` a SQLite file elsewhere.
    #[arg(long, env = "OSTIARY_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "OSTIARY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address and port of the HTTPS listener.
    #[arg(long, env = "OSTIARY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Public base URL clients use (issuer prefix); default `https://<listen>`.
    #[arg(long, env = "OSTIARY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Display name of the tenant created on first start.
    #[arg(long, env = "OSTIARY_TENANT_NAME")]
    pub tenant_name: Option<String>,
    /// Initial domain of the tenant created on first start.
    #[arg(long, env = "OSTIARY_TENANT_DOMAIN")]
    pub tenant_domain: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "OSTIARY_LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// The file format; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub tenant_name: Option<String>,
    pub tenant_domain: Option<String>,
    pub log_format: Option<String>,
    /// Base64 of 32 bytes; default: `<data-dir>/kek.key`, generated on first start.
    pub kek: Option<String>,
    pub access_token_lifetime_secs: Option<i64>,
    pub key_rotation_overlap_secs: Option<i64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub password: Option<PasswordConfig>,
    /// Days to keep sign-in and audit records (`[retention]`).
    pub retention: Option<ostiary_core::jobs::Retention>,
    /// SIEM export (`[[export.sinks]]`).
    pub export: Option<ExportConfig>,
    /// Graph API limit per (tenant, app): `burst` requests, refilled at `per_second`.
    pub graph_rate_limit: Option<ostiary_core::throttle::RateLimit>,
    /// MaxMind-format IP-to-country database for sign-in locations.
    pub geoip_database: Option<PathBuf>,
    /// OpenTelemetry trace export (`[tracing]`; needs a build with `--features otlp`).
    pub tracing: Option<TracingConfig>,
    /// Identity Protection thresholds, anonymizing/malicious IP ranges (`[identity_protection]`).
    pub identity_protection: Option<ostiary_risk::RiskConfig>,
    /// A breached-password list: SHA-1 hex lines (`HASH[:count]`, as Have I Been Pwned) or
    /// plaintext passwords, one per line.
    pub breached_passwords: Option<PathBuf>,
}

/// `[tracing]`: the server's spans (one `request` span per HTTP request and its children)
/// exported as OTLP/HTTP traces with the JSON encoding, best-effort. Only in a binary built
/// with `--features otlp`; without it the section is a configuration error.
///
/// ```toml
/// [tracing]
/// otlp_endpoint = "http://127.0.0.1:4318"   # spans go to {otlp_endpoint}/v1/traces
/// headers = { authorization = "Bearer …" }  # optional; redacted by `config show`
/// ```
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    pub otlp_endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, ostiary_export::SecretString>,
}

#[cfg(feature = "otlp")]
impl TracingConfig {
    /// The trace exporter's configuration (`service.version` = this binary's version).
    pub fn export_config(&self) -> ostiary_export::TraceExportConfig {
        let mut c = ostiary_export::TraceExportConfig::new(self.otlp_endpoint.clone());
        c.headers = self.headers.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
        c.service_version = env!("CARGO_PKG_VERSION").to_string();
        c
    }
}

/// `[export]`: the SIEM sinks sign-in and audit records stream to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    #[serde(default)]
    pub sinks: Vec<ostiary_export::SinkConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    pub public_url: String,
    pub tenant_name: String,
    pub tenant_domain: Option<String>,
    pub log_format: String,
    #[serde(skip)]
    pub kek: Option<String>,
    pub kek_source: String,
    pub access_token_lifetime_secs: i64,
    pub key_rotation_overlap_secs: i64,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub password: PasswordConfig,
    pub retention: ostiary_core::jobs::Retention,
    pub export: ExportConfig,
    pub graph_rate_limit: ostiary_core::throttle::RateLimit,
    pub geoip_database: Option<PathBuf>,
    /// `[tracing]`, validated; always `None` without the `otlp` feature.
    pub tracing: Option<TracingConfig>,
    pub identity_protection: ostiary_risk::RiskConfig,
    pub breached_passwords: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid configuration file {0}: {1}")]
    Parse(PathBuf, String),
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Config {
    pub fn load(store: &StoreArgs, serve: &ServeArgs, env_kek: Option<String>) -> Result<Config, ConfigError> {
        let file = match &store.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.clone(), e))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse(p.clone(), e.to_string()))?
            }
            None => FileConfig::default(),
        };
        let listen = serve.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
        let default_host = if listen.ip().is_unspecified() { "127.0.0.1".to_string() } else { listen.ip().to_string() };
        let default_host =
            if listen.is_ipv6() && !listen.ip().is_unspecified() { format!("[{default_host}]") } else { default_host };
        let public_url = serve
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("https://{default_host}:{}", listen.port()))
            .trim_end_matches('/')
            .to_string();
        if !public_url.starts_with("https://") {
            return Err(ConfigError::Invalid(
                "public_url must be https:// (Microsoft clients refuse plain http authorities)".into(),
            ));
        }
        let log_format = serve.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
        if log_format != "text" && log_format != "json" {
            return Err(ConfigError::Invalid("log_format must be text or json".into()));
        }
        let (kek, kek_source) = match env_kek.or(file.kek) {
            Some(k) => (Some(k), "configuration (OSTIARY_KEK or file)".to_string()),
            None => (None, "<data-dir>/kek.key".to_string()),
        };
        let access_token_lifetime_secs = file.access_token_lifetime_secs.unwrap_or(3599);
        if !(300..=86_400).contains(&access_token_lifetime_secs) {
            return Err(ConfigError::Invalid("access_token_lifetime_secs must be between 300 and 86400".into()));
        }
        let key_rotation_overlap_secs = file.key_rotation_overlap_secs.unwrap_or(86_400);
        if !(0..=30 * 86_400).contains(&key_rotation_overlap_secs) {
            return Err(ConfigError::Invalid("key_rotation_overlap_secs must be between 0 and 30 days".into()));
        }
        let password = file.password.unwrap_or(PasswordConfig { memory_kib: 65536, iterations: 3, parallelism: 4 });
        if password.memory_kib < 7168 || password.iterations < 1 || password.parallelism < 1 {
            return Err(ConfigError::Invalid(
                "password parameters below the minimum (7 MiB, 1 iteration, 1 lane)".into(),
            ));
        }
        let retention = file.retention.unwrap_or_default();
        if [retention.sign_in_days, retention.audit_days, retention.provisioning_days]
            .iter()
            .any(|d| !(1..=3650).contains(d))
        {
            return Err(ConfigError::Invalid("retention days must be between 1 and 3650".into()));
        }
        let mut export = file.export.unwrap_or_default();
        for sink in &mut export.sinks {
            if let ostiary_export::TransportConfig::Webhook(w) = &mut sink.transport
                && let Some(var) = &w.secret_env
            {
                let value = env_secret(var)
                    .ok_or_else(|| ConfigError::Invalid(format!("export sink '{}': {var} is not set", sink.name)))?;
                w.secret = ostiary_export::SecretString::new(value);
            }
        }
        ostiary_export::validate_sinks(&export.sinks).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let graph_rate_limit = file.graph_rate_limit.unwrap_or_default();
        if graph_rate_limit.burst == 0 || !graph_rate_limit.per_second.is_finite() || graph_rate_limit.per_second < 0.0
        {
            return Err(ConfigError::Invalid("graph_rate_limit needs burst >= 1 and per_second >= 0".into()));
        }
        let tracing = file.tracing;
        #[cfg(not(feature = "otlp"))]
        if tracing.is_some() {
            return Err(ConfigError::Invalid(
                "[tracing] (OpenTelemetry trace export) needs a server built with `--features otlp` \
                 (cargo build --release -p ostiary --features otlp)"
                    .into(),
            ));
        }
        #[cfg(feature = "otlp")]
        if let Some(t) = &tracing {
            t.export_config().validate().map_err(|e| ConfigError::Invalid(format!("[tracing]: {}", e.0)))?;
        }
        Ok(Config {
            retention,
            export,
            graph_rate_limit,
            geoip_database: file.geoip_database,
            tracing,
            identity_protection: match file.identity_protection {
                Some(p) => {
                    p.validate().map_err(|e| ConfigError::Invalid(format!("[identity_protection]: {e}")))?;
                    p
                }
                None => ostiary_risk::RiskConfig::default(),
            },
            breached_passwords: file.breached_passwords,
            data_dir: store.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./ostiary-data")),
            database_url: store.database_url.clone().or(file.database_url).filter(|u| !u.is_empty()),
            listen,
            public_url,
            tenant_name: serve.tenant_name.clone().or(file.tenant_name).unwrap_or_else(|| "Ostiary".into()),
            tenant_domain: serve.tenant_domain.clone().or(file.tenant_domain),
            log_format,
            kek,
            kek_source,
            access_token_lifetime_secs,
            key_rotation_overlap_secs,
            tls_cert: file.tls_cert,
            tls_key: file.tls_key,
            password,
        })
    }

    /// The configuration as shown by `ostiary config show`: secrets replaced.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(url) = &self.database_url {
            v["database_url"] = serde_json::Value::String(redact_url(url));
        }
        v
    }
}

/// Reads a secret named by the configuration from the environment (only the binary may).
#[allow(clippy::disallowed_methods, reason = "configuration is read from the environment here")]
fn env_secret(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("ostiary-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ostiary.toml");
        std::fs::write(&path, toml).unwrap();
        let store = StoreArgs { config: Some(path), ..StoreArgs::default() };
        let result = Config::load(&store, &ServeArgs::default(), None);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    const TRACING: &str = "[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\n\
                           headers = { authorization = \"Bearer s3cret\" }\n";

    #[cfg(feature = "otlp")]
    #[test]
    fn tracing_section_is_validated_and_redacted() {
        let cfg = load(TRACING).unwrap();
        let t = cfg.tracing.as_ref().unwrap();
        let export = t.export_config();
        assert_eq!(export.endpoint, "http://127.0.0.1:4318");
        assert_eq!(export.headers["authorization"], "Bearer s3cret");
        assert_eq!(export.service_version, env!("CARGO_PKG_VERSION"));
        assert!(!cfg.redacted().to_string().contains("s3cret"));
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let err = load("[tracing]\notlp_endpoint = \"ftp://collector\"\n").unwrap_err().to_string();
        assert!(err.contains("[tracing]") && err.contains("ftp://collector"), "{err}");
        assert!(load("[tracing]\notlp_endpoint = \"http://x\"\nendpont = 1\n").is_err());
        assert!(load("").unwrap().tracing.is_none());
    }

    #[cfg(not(feature = "otlp"))]
    #[test]
    fn tracing_section_needs_the_otlp_feature() {
        let err = load(TRACING).unwrap_err().to_string();
        assert!(err.contains("[tracing]") && err.contains("--features otlp"), "{err}");
        assert!(load("").unwrap().tracing.is_none());
    }
}
