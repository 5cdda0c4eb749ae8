//! OpenTelemetry traces (feature `otlp`): a `tracing_subscriber` layer that turns tracing
//! spans into OTLP spans and ships them in batches as `ExportTraceServiceRequest` JSON to
//! `POST {endpoint}/v1/traces`.
//!
//! Mapping (OTLP/HTTP with the JSON encoding, no protobuf dependency): one resource
//! (`service.name` = `ostiary`, `service.version`), one scope (`ostiary`), one span per
//! closed tracing span: `traceId` / `spanId` / `parentSpanId` as lowercase hex (the OTLP JSON
//! mapping's exception to base64 for bytes), `name` = the span's name, `kind` 2 (SERVER) for a
//! root span named `request` and 1 (INTERNAL) otherwise, `startTimeUnixNano` /
//! `endTimeUnixNano` as decimal strings (int64 in proto3 JSON), `attributes` from the span's
//! fields (`stringValue`, `intValue` as a string, `boolValue`, `doubleValue`), the tracing
//! events recorded inside the span as span `events` (name = the event's message), and
//! `status.code` 2 (ERROR) when the field `otel.status_code = "ERROR"` or an `error` field was
//! recorded (1 for `otel.status_code = "OK"`, else 0 = unset; `otel.status_message` or the
//! `error` value become `status.message`).
//!
//! Trace context: a span with a parent continues its parent's trace; a root span starts a new
//! trace unless it carries a field `traceparent` holding a valid W3C trace context
//! (`00-<32 hex>-<16 hex>-<2 hex>`), in which case it joins that trace as a child of the
//! caller's span. The `traceparent` and `otel.*` fields are not exported as attributes.
//!
//! Ids come from a counter mixed with a seed given at construction (SplitMix64, twice, with
//! different key words: a bijection of the counter, so ids never repeat within a process, and
//! never all-zero); they are unpredictable only as far as the seed is (not a CSPRNG, and trace
//! ids are not secrets). Time comes from the injected [`Now`].
//!
//! Export is best-effort and never blocks the traced code: a closed span is `try_send`-ed into
//! a bounded channel ([`QUEUE_CAPACITY`]; when it is full the span is dropped and counted); a
//! Tokio task batches up to [`MAX_BATCH`] spans or whatever arrived within
//! [`FLUSH_INTERVAL`], and POSTs the batch, trying up to [`MAX_ATTEMPTS`] times in all
//! with the crate's [`Backoff`] in between before dropping it (unlike the logs, which are delivered at
//! least once from the store). A 4xx other than 408/429 is dropped at once. The task starts
//! when the layer is built inside a Tokio runtime, else on [`TraceExporterHandle::start`] (or
//! the first `flush`); until then spans queue. Spans opened by the export task itself are not
//! traced (no feedback loop).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::{mpsc, oneshot};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::backoff::{Backoff, splitmix64};
use crate::config::DEFAULT_TIMEOUT_MS;
use crate::webhook::{error_chain, http_client, status_error};
use crate::{Now, SendError};

/// Closed spans waiting for the export task; more are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 8192;
/// Spans per request.
pub const MAX_BATCH: usize = 512;
/// A partial batch is sent after at most this long.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Tries per batch (the first send and the retries) before it is dropped.
pub const MAX_ATTEMPTS: u32 = 4;
/// Attributes kept per span or event; more are counted in `droppedAttributesCount`.
pub const MAX_ATTRIBUTES: usize = 64;
/// Events kept per span; more are counted in `droppedEventsCount`.
pub const MAX_EVENTS: usize = 128;
/// String attribute values are cut to this many bytes (at a character boundary).
pub const MAX_VALUE_LEN: usize = 4096;

/// OTLP `SpanKind`.
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
/// OTLP `StatusCode`.
const STATUS_UNSET: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_service_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Where and how spans are exported.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceExportConfig {
    /// Base URL of the collector; spans are POSTed to `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// Extra request headers (e.g. `Authorization`); values are redacted in `Debug`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Connect and request timeout in milliseconds (default 10 000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The resource's `service.version` (default: this crate's version).
    #[serde(default = "default_service_version")]
    pub service_version: String,
}

impl TraceExportConfig {
    /// `endpoint` with no headers and the default timeout and version.
    pub fn new(endpoint: impl Into<String>) -> TraceExportConfig {
        TraceExportConfig {
            endpoint: endpoint.into(),
            headers: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            service_version: default_service_version(),
        }
    }

    /// Checks the endpoint (an `http://` or `https://` URL), the headers and the timeout.
    pub fn validate(&self) -> Result<(), TraceConfigError> {
        self.url()?;
        self.header_map()?;
        if self.timeout_ms == 0 {
            return Err(TraceConfigError("`timeout_ms` must be at least 1".into()));
        }
        Ok(())
    }

    fn url(&self) -> Result<reqwest::Url, TraceConfigError> {
        let invalid = |e: &dyn fmt::Display| TraceConfigError(format!("endpoint `{}`: {e}", self.endpoint));
        let base = reqwest::Url::parse(&self.endpoint).map_err(|e| invalid(&e))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.host_str().is_none_or(str::is_empty)
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(invalid(&"must be an http:// or https:// URL without query or fragment"));
        }
        let base = self.endpoint.trim_end_matches('/');
        reqwest::Url::parse(&format!("{base}/v1/traces")).map_err(|e| invalid(&e))
    }

    fn header_map(&self) -> Result<reqwest::header::HeaderMap, TraceConfigError> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &self.headers {
            let invalid = || TraceConfigError(format!("invalid header `{k}`"));
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| invalid())?;
            let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| invalid())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(headers)
    }
}

impl fmt::Debug for TraceExportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceExportConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout_ms", &self.timeout_ms)
            .field("service_version", &self.service_version)
            .finish()
    }
}

/// An invalid [`TraceExportConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trace export: {0}")]
pub struct TraceConfigError(pub String);

// --- ids ------------------------------------------------------------------------------------

/// Trace and span ids from counters mixed with a seed.
struct IdGenerator {
    keys: [u64; 4],
    spans: AtomicU64,
    traces: AtomicU64,
}

impl IdGenerator {
    fn new(seed: [u8; 32]) -> IdGenerator {
        let mut keys = [0u64; 4];
        for (k, chunk) in keys.iter_mut().zip(seed.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *k = u64::from_le_bytes(b);
        }
        IdGenerator { keys, spans: AtomicU64::new(0), traces: AtomicU64::new(0) }
    }

    /// A bijection of `n` for a fixed key pair.
    fn mix(n: u64, k0: u64, k1: u64) -> u64 {
        splitmix64(splitmix64(n ^ k0) ^ k1)
    }

    fn span_id(&self) -> [u8; 8] {
        loop {
            let n = self.spans.fetch_add(1, Ordering::Relaxed);
            let id = Self::mix(n, self.keys[0], self.keys[1]);
            if id != 0 {
                return id.to_be_bytes();
            }
        }
    }

    fn trace_id(&self) -> [u8; 16] {
        loop {
            let n = self.traces.fetch_add(1, Ordering::Relaxed);
            let hi = Self::mix(n, self.keys[2], self.keys[3]);
            let lo = Self::mix(n.rotate_left(32), self.keys[3], self.keys[0]);
            if hi != 0 || lo != 0 {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&hi.to_be_bytes());
                id[8..].copy_from_slice(&lo.to_be_bytes());
                return id;
            }
        }
    }
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

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// The trace id and parent span id of a W3C `traceparent` (version `00`:
/// `00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>`, neither id all-zero).
pub fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8])> {
    if value.len() != 55 {
        return None;
    }
    let mut parts = value.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() {
        return None;
    }
    let trace = unhex::<16>(trace)?;
    let parent = unhex::<8>(parent)?;
    unhex::<1>(flags)?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent))
}

// --- span data ------------------------------------------------------------------------------

/// An attribute value (OTLP `AnyValue`).
#[derive(Debug, Clone, PartialEq, Serialize)]
enum AttrValue {
    #[serde(rename = "stringValue")]
    Str(String),
    #[serde(rename = "intValue", serialize_with = "int_as_string")]
    Int(i64),
    #[serde(rename = "boolValue")]
    Bool(bool),
    #[serde(rename = "doubleValue")]
    Double(f64),
}

fn int_as_string<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl AttrValue {
    /// A string value, cut to [`MAX_VALUE_LEN`] bytes at a character boundary.
    fn str(s: &str) -> AttrValue {
        let mut end = s.len().min(MAX_VALUE_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        AttrValue::Str(s[..end].to_owned())
    }

    fn as_string(&self) -> String {
        match self {
            AttrValue::Str(s) => s.clone(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Double(d) => d.to_string(),
        }
    }
}

/// Fields of a span or an event.
#[derive(Debug, Default)]
struct Fields {
    attributes: Vec<(&'static str, AttrValue)>,
    dropped_attributes: u32,
    /// `otel.status_code`, when given.
    status: Option<u8>,
    /// An `error` field other than `false` was recorded.
    error: bool,
    status_message: Option<String>,
    traceparent: Option<([u8; 16], [u8; 8])>,
    /// The `message` of an event.
    message: Option<String>,
}

impl Fields {
    fn put(&mut self, name: &'static str, value: AttrValue, is_event: bool) {
        match name {
            "traceparent" if !is_event => {
                self.traceparent = match &value {
                    AttrValue::Str(s) => parse_traceparent(s),
                    _ => None,
                };
                return;
            }
            "otel.status_code" if !is_event => {
                let s = value.as_string();
                self.status = if s.eq_ignore_ascii_case("error") {
                    Some(STATUS_ERROR)
                } else if s.eq_ignore_ascii_case("ok") {
                    Some(STATUS_OK)
                } else {
                    None
                };
                return;
            }
            "otel.status_message" if !is_event => {
                self.status_message = Some(value.as_string());
                return;
            }
            "message" if is_event => {
                self.message = Some(value.as_string());
                return;
            }
            "error" if !is_event => {
                self.error = value != AttrValue::Bool(false);
                if self.error && self.status_message.is_none() {
                    self.status_message = Some(value.as_string());
                }
            }
            _ => {}
        }
        if let Some(slot) = self.attributes.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else if self.attributes.len() < MAX_ATTRIBUTES {
            self.attributes.push((name, value));
        } else {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
        }
    }

    fn status_code(&self) -> u8 {
        match self.status {
            Some(code) => code,
            None if self.error => STATUS_ERROR,
            None => STATUS_UNSET,
        }
    }
}

/// Records tracing fields into [`Fields`].
struct Visitor<'a> {
    fields: &'a mut Fields,
    is_event: bool,
}

impl Visitor<'_> {
    fn put(&mut self, field: &Field, value: AttrValue) {
        self.fields.put(field.name(), value, self.is_event);
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, AttrValue::str(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AttrValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let v = i64::try_from(value).map(AttrValue::Int).unwrap_or_else(|_| AttrValue::Str(value.to_string()));
        self.put(field, v);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value).map(AttrValue::Int).unwrap_or_else(|_| AttrValue::Str(value.to_string()));
        self.put(field, v);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = i64::try_from(value).map(AttrValue::Int).unwrap_or_else(|_| AttrValue::Str(value.to_string()));
        self.put(field, v);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinities.
        let v = if value.is_finite() { AttrValue::Double(value) } else { AttrValue::Str(value.to_string()) };
        self.put(field, v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AttrValue::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, AttrValue::str(&value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, AttrValue::str(&format!("{value:?}")));
    }
}

#[derive(Debug)]
struct SpanEvent {
    time: i128,
    name: Cow<'static, str>,
    fields: Fields,
}

/// What the layer keeps in an open span's extensions.
#[derive(Debug)]
struct SpanData {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    kind: u8,
    start: i128,
    fields: Fields,
    events: Vec<SpanEvent>,
    dropped_events: u32,
}

/// A closed span on its way to the collector.
#[derive(Debug)]
struct FinishedSpan {
    name: &'static str,
    end: i128,
    data: SpanData,
}

// --- the layer ------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn drop_spans(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

thread_local! {
    /// Set while this thread polls the export task: its own spans are not traced.
    static EXPORTING: Cell<bool> = const { Cell::new(false) };
}

fn exporting() -> bool {
    EXPORTING.with(Cell::get)
}

/// The `tracing_subscriber` layer; see the module documentation.
pub struct OtlpTraceLayer {
    tx: mpsc::Sender<FinishedSpan>,
    ids: IdGenerator,
    now: Now,
    counters: Arc<Counters>,
}

impl fmt::Debug for OtlpTraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpTraceLayer").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl OtlpTraceLayer {
    /// The layer and the handle of its export task. Inside a Tokio runtime the task starts
    /// now; otherwise spans queue until [`TraceExporterHandle::start`] (or `flush`) is called
    /// inside one. `seed` keys the id generator (the binary passes OS randomness).
    pub fn new(
        config: TraceExportConfig,
        now: Now,
        seed: [u8; 32],
    ) -> Result<(OtlpTraceLayer, TraceExporterHandle), TraceConfigError> {
        config.validate()?;
        let url = config.url()?;
        let headers = config.header_map()?;
        let client = http_client(None, config.timeout_ms).map_err(TraceConfigError)?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let ids = IdGenerator::new(seed);
        let backoff_seed = splitmix64(ids.keys[0] ^ ids.keys[2]);
        let worker = Worker {
            rx,
            ctrl: ctrl_rx,
            client,
            url,
            headers,
            service_version: config.service_version,
            counters: counters.clone(),
            backoff: Backoff::standard(backoff_seed),
            failing: false,
        };
        let handle = TraceExporterHandle {
            inner: Arc::new(HandleInner { ctrl: ctrl_tx, pending: Mutex::new(Some(worker)) }),
            counters: counters.clone(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            handle.start();
        }
        Ok((OtlpTraceLayer { tx, ids, now, counters }, handle))
    }

    /// Spans delivered to the collector (2xx, minus those it rejected in a partial success).
    pub fn exported_spans(&self) -> u64 {
        self.counters.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped: queue full, export task stopped, or batch not delivered after retries.
    pub fn dropped_spans(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    fn now_nanos(&self) -> i128 {
        (self.now)().unix_timestamp_nanos()
    }
}

impl<S> Layer<S> for OtlpTraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if exporting() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut Visitor { fields: &mut fields, is_event: false });
        let (trace_id, parent_span_id, kind) = match span.parent() {
            Some(parent) => {
                let ext = parent.extensions();
                // A parent without data was opened by the export task: not traced.
                let Some(p) = ext.get::<SpanData>() else { return };
                (p.trace_id, Some(p.span_id), KIND_INTERNAL)
            }
            None => {
                let kind = if span.name() == "request" { KIND_SERVER } else { KIND_INTERNAL };
                match fields.traceparent {
                    Some((trace, parent)) => (trace, Some(parent), kind),
                    None => (self.ids.trace_id(), None, kind),
                }
            }
        };
        let data = SpanData {
            trace_id,
            span_id: self.ids.span_id(),
            parent_span_id,
            kind,
            start: self.now_nanos(),
            fields,
            events: Vec::new(),
            dropped_events: 0,
        };
        span.extensions_mut().replace(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            values.record(&mut Visitor { fields: &mut data.fields, is_event: false });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if exporting() {
            return;
        }
        let Some(span) = ctx.event_span(event) else { return };
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else { return };
        if data.events.len() >= MAX_EVENTS {
            data.dropped_events = data.dropped_events.saturating_add(1);
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut Visitor { fields: &mut fields, is_event: true });
        let level = event.metadata().level().as_str();
        fields.put("level", AttrValue::Str(level.to_string()), true);
        let name = match fields.message.take() {
            Some(m) => Cow::Owned(m),
            None => Cow::Borrowed(event.metadata().name()),
        };
        data.events.push(SpanEvent { time: self.now_nanos(), name, fields });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else { return };
        let end = self.now_nanos().max(data.start);
        let finished = FinishedSpan { name: span.name(), end, data };
        if self.tx.try_send(finished).is_err() {
            // Full, or the export task stopped: tracing never waits.
            self.counters.drop_spans(1);
        }
    }
}

// --- the request body -----------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportRequest<'a> {
    resource_spans: [ResourceSpans<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    resource: Resource<'a>,
    scope_spans: [ScopeSpans<'a>; 1],
}

#[derive(Serialize)]
struct Resource<'a> {
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans<'a> {
    scope: Scope,
    spans: Vec<JsonSpan<'a>>,
}

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct KeyValue<'a> {
    key: &'a str,
    value: Cow<'a, AttrValue>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan<'a> {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: &'a str,
    kind: u8,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<JsonEvent<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_events_count: u32,
    status: JsonStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonEvent<'a> {
    time_unix_nano: String,
    name: &'a str,
    attributes: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize)]
struct JsonStatus<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    code: u8,
}

fn nanos(t: i128) -> String {
    t.max(0).to_string()
}

fn attributes(fields: &Fields) -> Vec<KeyValue<'_>> {
    fields.attributes.iter().map(|(k, v)| KeyValue { key: k, value: Cow::Borrowed(v) }).collect()
}

fn json_span(s: &FinishedSpan) -> JsonSpan<'_> {
    let d = &s.data;
    let code = d.fields.status_code();
    JsonSpan {
        trace_id: hex(&d.trace_id),
        span_id: hex(&d.span_id),
        parent_span_id: d.parent_span_id.map(|p| hex(&p)),
        name: s.name,
        kind: d.kind,
        start_time_unix_nano: nanos(d.start),
        end_time_unix_nano: nanos(s.end),
        attributes: attributes(&d.fields),
        dropped_attributes_count: d.fields.dropped_attributes,
        events: d
            .events
            .iter()
            .map(|e| JsonEvent {
                time_unix_nano: nanos(e.time),
                name: &e.name,
                attributes: attributes(&e.fields),
                dropped_attributes_count: e.fields.dropped_attributes,
            })
            .collect(),
        dropped_events_count: d.dropped_events,
        status: JsonStatus {
            message: if code == STATUS_ERROR { d.fields.status_message.as_deref() } else { None },
            code,
        },
    }
}

/// The `ExportTraceServiceRequest` JSON for a batch.
fn request_body(spans: &[FinishedSpan], service_version: &str) -> Vec<u8> {
    let resource = Resource {
        attributes: vec![
            KeyValue { key: "service.name", value: Cow::Owned(AttrValue::Str("ostiary".into())) },
            KeyValue { key: "service.version", value: Cow::Owned(AttrValue::Str(service_version.into())) },
        ],
    };
    let body = ExportRequest {
        resource_spans: [ResourceSpans {
            resource,
            scope_spans: [ScopeSpans {
                scope: Scope { name: "ostiary", version: env!("CARGO_PKG_VERSION") },
                spans: spans.iter().map(json_span).collect(),
            }],
        }],
    };
    // Strings, integers, booleans and finite floats: serialization cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

// --- the export task ------------------------------------------------------------------------

enum Command {
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

struct Worker {
    rx: mpsc::Receiver<FinishedSpan>,
    ctrl: mpsc::UnboundedReceiver<Command>,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    service_version: String,
    counters: Arc<Counters>,
    backoff: Backoff,
    /// The last batch was dropped (warn once per outage).
    failing: bool,
}

impl Worker {
    async fn run(mut self) {
        let mut batch: Vec<FinishedSpan> = Vec::with_capacity(MAX_BATCH);
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut spans_open, mut ctrl_open) = (true, true);
        while spans_open || ctrl_open {
            let room = MAX_BATCH - batch.len();
            tokio::select! {
                biased;
                cmd = self.ctrl.recv(), if ctrl_open => match cmd {
                    Some(Command::Flush(done)) => {
                        self.drain(&mut batch).await;
                        let _ = done.send(());
                    }
                    Some(Command::Shutdown(done)) => {
                        self.rx.close();
                        self.drain(&mut batch).await;
                        let _ = done.send(());
                        return;
                    }
                    // The handle is gone: keep exporting until the layer is gone too.
                    None => ctrl_open = false,
                },
                n = self.rx.recv_many(&mut batch, room), if spans_open => {
                    if n == 0 {
                        spans_open = false;
                    } else if batch.len() >= MAX_BATCH {
                        self.export(std::mem::take(&mut batch)).await;
                    }
                }
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.export(std::mem::take(&mut batch)).await;
                    }
                }
            }
        }
        self.drain(&mut batch).await;
    }

    /// Exports `batch` and everything queued right now.
    async fn drain(&mut self, batch: &mut Vec<FinishedSpan>) {
        while let Ok(span) = self.rx.try_recv() {
            batch.push(span);
            if batch.len() >= MAX_BATCH {
                self.export(std::mem::take(batch)).await;
            }
        }
        if !batch.is_empty() {
            self.export(std::mem::take(batch)).await;
        }
    }

    async fn export(&mut self, spans: Vec<FinishedSpan>) {
        let n = spans.len() as u64;
        let body = request_body(&spans, &self.service_version);
        drop(spans);
        self.backoff.reset();
        let mut attempt = 1;
        let error = loop {
            match self.send(&body).await {
                Ok(rejected) => {
                    let rejected = rejected.min(n);
                    self.counters.exported.fetch_add(n - rejected, Ordering::Relaxed);
                    self.counters.drop_spans(rejected);
                    if self.failing {
                        self.failing = false;
                        tracing::info!("otlp trace export recovered");
                    }
                    return;
                }
                Err(e @ SendError::Rejected(_)) => break e,
                Err(e) if attempt >= MAX_ATTEMPTS => break e,
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
            }
        };
        self.counters.drop_spans(n);
        if !self.failing {
            self.failing = true;
            tracing::warn!(error = %error, spans = n, attempts = attempt, "otlp trace export failed; dropping spans");
        }
    }

    /// Sends one body; `Ok` carries the number of spans the collector rejected permanently.
    async fn send(&self, body: &[u8]) -> Result<u64, SendError> {
        let resp = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| SendError::retry(format!("otlp traces: {}", error_chain(&e))))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(status_error("otlp traces", status, &text));
        }
        let rejected = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| match v.get("partialSuccess")?.get("rejectedSpans")? {
                serde_json::Value::String(s) => s.parse::<u64>().ok(),
                serde_json::Value::Number(n) => n.as_u64(),
                _ => None,
            })
            .unwrap_or(0);
        Ok(rejected)
    }
}

/// Polls the export task with [`EXPORTING`] set, so spans opened while sending (HTTP client
/// internals, at a verbose filter) are not traced and exported in turn.
struct Untraced(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for Untraced {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                EXPORTING.with(|e| e.set(self.0));
            }
        }
        let _reset = Reset(EXPORTING.with(|e| e.replace(true)));
        self.get_mut().0.as_mut().poll(cx)
    }
}

// --- the handle -----------------------------------------------------------------------------

struct HandleInner {
    ctrl: mpsc::UnboundedSender<Command>,
    /// The export task until it is spawned.
    pending: Mutex<Option<Worker>>,
}

/// Controls the export task of an [`OtlpTraceLayer`]. Cheap to clone.
#[derive(Clone)]
pub struct TraceExporterHandle {
    inner: Arc<HandleInner>,
    counters: Arc<Counters>,
}

impl fmt::Debug for TraceExporterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceExporterHandle").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl TraceExporterHandle {
    /// Spawns the export task on the current Tokio runtime, unless it runs already. Panics
    /// outside a Tokio runtime (like `tokio::spawn`).
    pub fn start(&self) {
        let worker = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            tokio::spawn(Untraced(Box::pin(worker.run())));
        }
    }

    /// Sends every span closed before the call (retrying as usual) and returns when that is
    /// done or given up. Starts the task if needed.
    pub async fn flush(&self) {
        self.command(Command::Flush).await;
    }

    /// Flushes, then stops the task; spans closed afterwards are dropped (and counted).
    pub async fn shutdown(&self) {
        self.command(Command::Shutdown).await;
    }

    async fn command(&self, make: fn(oneshot::Sender<()>) -> Command) {
        self.start();
        let (tx, rx) = oneshot::channel();
        if self.inner.ctrl.send(make(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Spans delivered to the collector.
    pub fn exported_spans(&self) -> u64 {
        self.counters.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped: queue full, export task stopped, or batch not delivered after retries.
    pub fn dropped_spans(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_nonzero_and_seeded() {
        let a = IdGenerator::new([7; 32]);
        let b = IdGenerator::new([7; 32]);
        let c = IdGenerator::new([8; 32]);
        let mut spans = std::collections::HashSet::new();
        let mut traces = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let s = a.span_id();
            let t = a.trace_id();
            assert_ne!(s, [0; 8]);
            assert_ne!(t, [0; 16]);
            assert!(spans.insert(s));
            assert!(traces.insert(t));
        }
        assert_eq!(b.span_id(), IdGenerator::new([7; 32]).span_id());
        assert_ne!(b.trace_id(), c.trace_id());
        // Even the all-zero seed gives non-zero, distinct ids.
        let z = IdGenerator::new([0; 32]);
        assert_ne!(z.span_id(), z.span_id());
        assert_ne!(hex(&z.trace_id()), "0".repeat(32));
    }

    #[test]
    fn traceparent_parsing() {
        let (t, p) = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex(&t), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p), "00f067aa0ba902b7");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736x00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_follow_the_otlp_json_mapping() {
        let v = |a: AttrValue| serde_json::to_value(a).unwrap();
        assert_eq!(v(AttrValue::Str("x".into())), serde_json::json!({"stringValue": "x"}));
        assert_eq!(v(AttrValue::Int(-5)), serde_json::json!({"intValue": "-5"}));
        assert_eq!(v(AttrValue::Bool(true)), serde_json::json!({"boolValue": true}));
        assert_eq!(v(AttrValue::Double(1.5)), serde_json::json!({"doubleValue": 1.5}));
        let long = "é".repeat(MAX_VALUE_LEN);
        let AttrValue::Str(s) = AttrValue::str(&long) else { panic!() };
        assert!(s.len() <= MAX_VALUE_LEN && s.len() >= MAX_VALUE_LEN - 1);
    }

    #[test]
    fn status_from_fields() {
        let mut f = Fields::default();
        assert_eq!(f.status_code(), STATUS_UNSET);
        f.put("error", AttrValue::Bool(false), false);
        assert_eq!(f.status_code(), STATUS_UNSET);
        f.put("error", AttrValue::Str("boom".into()), false);
        assert_eq!(f.status_code(), STATUS_ERROR);
        assert_eq!(f.status_message.as_deref(), Some("boom"));
        f.put("otel.status_code", AttrValue::Str("OK".into()), false);
        assert_eq!(f.status_code(), STATUS_OK);
        let mut g = Fields::default();
        g.put("otel.status_code", AttrValue::Str("ERROR".into()), false);
        assert_eq!(g.status_code(), STATUS_ERROR);
        assert!(g.attributes.is_empty());
        for i in 0..MAX_ATTRIBUTES + 3 {
            g.put(Box::leak(format!("k{i}").into_boxed_str()), AttrValue::Int(1), false);
        }
        assert_eq!(g.attributes.len(), MAX_ATTRIBUTES);
        assert_eq!(g.dropped_attributes, 3);
    }

    #[test]
    fn config_parsing_and_validation() {
        let c: TraceExportConfig =
            toml::from_str("endpoint = \"http://127.0.0.1:4318/\"\nheaders = { authorization = \"Bearer s3cret\" }\n")
                .unwrap();
        assert_eq!(c.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(c.service_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(c.url().unwrap().as_str(), "http://127.0.0.1:4318/v1/traces");
        assert!(!format!("{c:?}").contains("s3cret"));
        c.validate().unwrap();
        assert!(toml::from_str::<TraceExportConfig>("endpoint = \"http://x\"\nendpont = 1\n").is_err());
        for bad in ["ftp://x", "not a url", "http://", "http:", "http://x/?q=1"] {
            assert!(TraceExportConfig::new(bad).validate().is_err(), "{bad}");
        }
        let mut h = TraceExportConfig::new("http://x");
        h.headers.insert("bad header".into(), "v".into());
        assert!(h.validate().is_err());
        h.headers.clear();
        h.timeout_ms = 0;
        assert!(h.validate().is_err());
    }
}
