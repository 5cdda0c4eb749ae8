//! The export loop: one task per sink, a persisted cursor, backoff, wake-ups and status.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ostiary_store::{LogRecord, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::backoff::{Backoff, seed_from};
use crate::config::{ConfigError, SinkConfig, StartAt, TransportConfig, validate_sinks};
use crate::{Now, SendError};

/// Tuning knobs; [`ExportOptions::default`] is what the server uses.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// How often a caught-up sink looks for new records when nobody calls
    /// [`ExporterHandle::wake`] (default 200 ms).
    pub poll_interval: Duration,
    /// First retry delay (default 100 ms); doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Largest retry delay (default 30 s).
    pub backoff_max: Duration,
    /// Mixed into each sink's jitter seed (e.g. a node id, so nodes retry at different times).
    pub jitter_seed: u64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            poll_interval: Duration::from_millis(200),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            jitter_seed: 0,
        }
    }
}

/// A sink's state as shown to operators (and turned into metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct SinkStatus {
    pub name: String,
    /// The last `seq` delivered (and persisted, or about to be); 0 before the first start.
    pub cursor: i64,
    /// Records after the cursor (`last_log_seq - cursor`; includes records the sink's
    /// filters will skip, until the sink passes them, and gaps in the sequence).
    pub backlog_records: u64,
    /// Age of the oldest record after the cursor, by the record's own time; 0 when caught up.
    pub lag_seconds: f64,
    /// Records delivered since this process started.
    pub delivered_total: u64,
    /// Failed attempts (deliveries and store operations) since this process started.
    pub failures_total: u64,
    /// The most recent error, cleared by the next successful delivery.
    pub last_error: Option<String>,
}

/// Starts exporters.
pub struct Exporter;

/// Controls running exporters; cheap to clone.
#[derive(Clone)]
pub struct ExporterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    now: Now,
    sinks: Vec<Arc<Shared>>,
    shutdown: Arc<watch::Sender<bool>>,
    tasks: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// What a sink task shares with the handle.
struct Shared {
    name: String,
    cursor_key: String,
    wake: Notify,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cursor: Option<i64>,
    /// Time of the first record of the batch being delivered (lag when the store is down).
    pending_since: Option<OffsetDateTime>,
    delivered_total: u64,
    failures_total: u64,
    last_error: Option<String>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failed(&self, what: &str, error: &str, retry_in: Duration, loud: bool) {
        let failures = {
            let mut s = self.state();
            s.failures_total += 1;
            s.last_error = Some(format!("{what}: {error}"));
            s.failures_total
        };
        let retry_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX);
        if loud {
            tracing::error!(sink = %self.name, %error, failures, retry_ms, "export {what} rejected; retrying (records are never skipped)");
        } else {
            tracing::warn!(sink = %self.name, %error, failures, retry_ms, "export {what} failed; retrying");
        }
    }
}

/// The transport of one sink.
enum Transport {
    Syslog(crate::syslog::SyslogSink),
    Webhook(crate::webhook::WebhookSink),
    #[cfg(feature = "otlp")]
    Otlp(crate::otlp::OtlpSink),
}

impl Transport {
    fn new(cfg: &SinkConfig, now: &Now) -> Result<Transport, ConfigError> {
        let err = |message: String| ConfigError { sink: cfg.name.clone(), message };
        Ok(match &cfg.transport {
            TransportConfig::Syslog(c) => Transport::Syslog(crate::syslog::SyslogSink::new(c).map_err(err)?),
            TransportConfig::Webhook(c) => {
                Transport::Webhook(crate::webhook::WebhookSink::new(c, now.clone()).map_err(err)?)
            }
            #[cfg(feature = "otlp")]
            TransportConfig::Otlp(c) => Transport::Otlp(crate::otlp::OtlpSink::new(c, now.clone()).map_err(err)?),
        })
    }

    async fn send(&mut self, records: &[&LogRecord]) -> Result<(), SendError> {
        match self {
            Transport::Syslog(s) => s.send(records).await,
            Transport::Webhook(s) => s.send(records).await,
            #[cfg(feature = "otlp")]
            Transport::Otlp(s) => s.send(records).await,
        }
    }
}

impl Exporter {
    /// Validates `sinks` (unique names, complete settings, readable `ca_file`s) and spawns one
    /// task per sink on the current Tokio runtime. The exporters stop, each after finishing
    /// the batch in flight, when `shutdown` completes or [`ExporterHandle::shutdown`] is
    /// called.
    pub fn start(
        store: Arc<dyn Store>,
        sinks: Vec<SinkConfig>,
        now: Now,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ExporterHandle, ConfigError> {
        Exporter::start_with(store, sinks, now, shutdown, ExportOptions::default())
    }

    /// [`Exporter::start`] with explicit [`ExportOptions`].
    pub fn start_with(
        store: Arc<dyn Store>,
        sinks: Vec<SinkConfig>,
        now: Now,
        shutdown: impl Future<Output = ()> + Send + 'static,
        options: ExportOptions,
    ) -> Result<ExporterHandle, ConfigError> {
        validate_sinks(&sinks)?;
        let transports = sinks.iter().map(|s| Transport::new(s, &now)).collect::<Result<Vec<_>, _>>()?;

        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let mut shared = Vec::with_capacity(sinks.len());
        let mut tasks = Vec::with_capacity(sinks.len() + 1);
        for (cfg, transport) in sinks.into_iter().zip(transports) {
            let sh = Arc::new(Shared {
                name: cfg.name.clone(),
                cursor_key: cfg.cursor_key(),
                wake: Notify::new(),
                state: Mutex::new(State::default()),
            });
            shared.push(sh.clone());
            let task = SinkTask { shared: sh, cfg, transport, store: store.clone(), options: options.clone() };
            tasks.push(tokio::spawn(task.run(rx.clone())));
        }
        let watcher_tx = tx.clone();
        // Not joined: it ends with `shutdown`, or never.
        tokio::spawn(async move {
            shutdown.await;
            watcher_tx.send_replace(true);
        });
        Ok(ExporterHandle {
            inner: Arc::new(Inner { store, now, sinks: shared, shutdown: tx, tasks: tokio::sync::Mutex::new(tasks) }),
        })
    }
}

impl ExporterHandle {
    /// Tells every sink that records were appended (call after `append_logs` / commits with
    /// audits). Cheap; a wake-up is remembered if the sink is busy.
    pub fn wake(&self) {
        for s in &self.inner.sinks {
            s.wake.notify_one();
        }
    }

    /// Asks every sink to stop after its current batch.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Waits until every sink task has stopped (after a shutdown).
    pub async fn join(&self) {
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().await);
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "export task ended abnormally");
            }
        }
    }

    /// The names of the configured sinks, in configuration order.
    pub fn sink_names(&self) -> Vec<String> {
        self.inner.sinks.iter().map(|s| s.name.clone()).collect()
    }

    /// Every sink's status, in configuration order. Backlog and lag are read from the store
    /// (one `last_log_seq` plus one single-row `logs_after` per sink that is behind); if the
    /// store fails, they fall back to what the sink task last saw.
    pub async fn status(&self) -> Vec<SinkStatus> {
        let store = &self.inner.store;
        let now = (self.inner.now)();
        let last = store.last_log_seq().await.ok();
        let mut out = Vec::with_capacity(self.inner.sinks.len());
        for sh in &self.inner.sinks {
            let (cursor, pending_since, delivered_total, failures_total, last_error) = {
                let s = sh.state();
                (s.cursor, s.pending_since, s.delivered_total, s.failures_total, s.last_error.clone())
            };
            let cursor = match cursor {
                Some(c) => c,
                None => store.export_cursor(&sh.cursor_key).await.ok().flatten().unwrap_or(0),
            };
            let backlog = last.map(|l| u64::try_from(l - cursor).unwrap_or(0));
            let oldest = match backlog {
                Some(0) => None,
                Some(_) => match store.logs_after(cursor, 1).await {
                    Ok(r) => r.first().map(|r| r.record.time),
                    Err(_) => pending_since,
                },
                None => pending_since,
            };
            let lag_seconds = oldest.map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
            out.push(SinkStatus {
                name: sh.name.clone(),
                cursor,
                backlog_records: backlog.unwrap_or(0),
                lag_seconds,
                delivered_total,
                failures_total,
                last_error,
            });
        }
        out
    }
}

/// Resolves when shutdown was requested; never if it cannot be any more.
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct SinkTask {
    shared: Arc<Shared>,
    cfg: SinkConfig,
    transport: Transport,
    store: Arc<dyn Store>,
    options: ExportOptions,
}

impl SinkTask {
    /// Sleeps for `d`; `true` if shutdown was requested meanwhile.
    async fn sleep_or_stop(rx: &mut watch::Receiver<bool>, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = shutdown_requested(rx) => true,
        }
    }

    async fn initial_cursor(&self) -> Result<i64, StoreError> {
        let key = &self.shared.cursor_key;
        if let Some(c) = self.store.export_cursor(key).await? {
            return Ok(c);
        }
        let c = match self.cfg.start {
            StartAt::Now => self.store.last_log_seq().await?,
            StartAt::Beginning => 0,
        };
        // Persisted at once: a restart before the first delivery must not move a "now"
        // sink past the records appended in between.
        self.store.set_export_cursor(key, c).await?;
        tracing::info!(sink = %self.shared.name, cursor = c, start = ?self.cfg.start, "export sink initialised");
        Ok(c)
    }

    async fn run(mut self, mut rx: watch::Receiver<bool>) {
        let seed = seed_from(&self.cfg.name) ^ self.options.jitter_seed;
        let mut backoff = Backoff::new(self.options.backoff_base, self.options.backoff_max, seed);
        let sh = self.shared.clone();

        let mut cursor = loop {
            if *rx.borrow() {
                return;
            }
            match self.initial_cursor().await {
                Ok(c) => break c,
                Err(e) => {
                    let d = backoff.next_delay();
                    sh.failed("cursor load", &e.to_string(), d, false);
                    if Self::sleep_or_stop(&mut rx, d).await {
                        return;
                    }
                }
            }
        };
        backoff.reset();
        sh.state().cursor = Some(cursor);
        let mut persisted = cursor;

        loop {
            if *rx.borrow() {
                break;
            }
            if persisted != cursor {
                match self.store.set_export_cursor(&sh.cursor_key, cursor).await {
                    Ok(()) => persisted = cursor,
                    Err(e) => {
                        let d = backoff.next_delay();
                        sh.failed("cursor save", &e.to_string(), d, false);
                        if Self::sleep_or_stop(&mut rx, d).await {
                            break;
                        }
                        continue;
                    }
                }
            }

            let batch = match self.store.logs_after(cursor, self.cfg.batch_size).await {
                Ok(b) => b,
                Err(e) => {
                    let d = backoff.next_delay();
                    sh.failed("read", &e.to_string(), d, false);
                    if Self::sleep_or_stop(&mut rx, d).await {
                        break;
                    }
                    continue;
                }
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                sh.state().pending_since = None;
                tokio::select! {
                    _ = sh.wake.notified() => {}
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = shutdown_requested(&mut rx) => {}
                }
                continue;
            };
            let last_seq = last.seq;
            sh.state().pending_since = Some(first.record.time);

            let selected: Vec<&LogRecord> =
                batch.iter().filter(|r| self.cfg.selects(r.record.kind, r.record.tenant)).collect();
            if !selected.is_empty() {
                // The batch in flight is finished even if shutdown is requested meanwhile;
                // only the waits between attempts are cut short.
                loop {
                    match self.transport.send(&selected).await {
                        Ok(()) => break,
                        Err(e) => {
                            let d = backoff.next_delay();
                            let loud = matches!(e, SendError::Rejected(_));
                            sh.failed("delivery", &e.to_string(), d, loud);
                            if Self::sleep_or_stop(&mut rx, d).await {
                                return;
                            }
                        }
                    }
                }
                backoff.reset();
            }

            cursor = last_seq;
            {
                let mut s = sh.state();
                s.cursor = Some(cursor);
                s.delivered_total += selected.len() as u64;
                s.pending_since = None;
                if !selected.is_empty() {
                    s.last_error = None;
                }
            }
            match self.store.set_export_cursor(&sh.cursor_key, cursor).await {
                Ok(()) => persisted = cursor,
                Err(e) => {
                    // Delivered but not recorded: retried at the top of the loop; a crash
                    // before that resends the batch (a duplicate, never a loss).
                    let d = backoff.next_delay();
                    sh.failed("cursor save", &e.to_string(), d, false);
                    if Self::sleep_or_stop(&mut rx, d).await {
                        break;
                    }
                }
            }
        }
        if persisted != cursor
            && let Err(e) = self.store.set_export_cursor(&sh.cursor_key, cursor).await
        {
            tracing::warn!(sink = %sh.name, error = %e, "export cursor not saved at shutdown; the last batch will be resent");
        }
        tracing::info!(sink = %sh.name, cursor, "export sink stopped");
    }
}
