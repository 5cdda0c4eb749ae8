//! SIEM export of sign-in and directory-audit records: syslog (RFC 5424 over TCP/TLS),
//! signed JSON webhooks and (feature `otlp`) OTLP/HTTP logs, with at-least-once delivery
//! and a cursor per sink persisted in the store. With feature `otlp` it also exports the
//! server's tracing spans as OTLP/HTTP traces (module `traces`, best-effort).
//!
//! The store numbers log records with a strictly increasing `seq` in commit order
//! (`ostiary_store::log`). Each sink runs in its own task: it reads the records after its
//! cursor (`Store::logs_after`), drops those its `kinds` / `tenants` filters exclude, sends
//! the rest, and only once the sink acknowledged them (2xx for HTTP; a complete write and
//! flush on a still-open connection for syslog) stores the last `seq` of the batch as its
//! cursor (`Store::set_export_cursor`, key `export:<name>`). A failure resends the whole
//! batch after an exponential backoff, so receivers see every record at least once, in `seq`
//! order, with duplicates possible only across a failure or a restart.
//!
//! Time is injected (`Now`); the crate reads no environment. It does read the `ca_file`s
//! named in the configuration, once, in [`Exporter::start`].

pub mod backoff;
pub mod config;
mod exporter;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod syslog;
#[cfg(feature = "otlp")]
pub mod traces;
pub mod webhook;

use std::sync::Arc;

#[cfg(feature = "otlp")]
pub use config::OtlpConfig;
pub use config::{
    ConfigError, SecretString, SinkConfig, StartAt, SyslogConfig, TransportConfig, WebhookConfig, validate_sinks,
};
pub use exporter::{ExportOptions, Exporter, ExporterHandle, SinkStatus};
#[cfg(feature = "otlp")]
pub use traces::{OtlpTraceLayer, TraceConfigError, TraceExportConfig, TraceExporterHandle};

/// The current time (the binary passes its `Clock`; tests a manual one).
pub type Now = Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// Why a batch was not delivered. Every kind is retried (at-least-once never skips a record);
/// `Rejected` is a response that usually means a misconfiguration and is logged as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Rejected(String),
}

impl SendError {
    pub(crate) fn retry(m: impl Into<String>) -> SendError {
        SendError::Retry(m.into())
    }

    pub(crate) fn rejected(m: impl Into<String>) -> SendError {
        SendError::Rejected(m.into())
    }
}
