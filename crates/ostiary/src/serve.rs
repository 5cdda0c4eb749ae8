//! `ostiary serve`: prepares the data directory, store, key-encryption key and TLS (a
//! development CA on first start unless a certificate is configured), bootstraps the first
//! tenant on an empty store, and runs the HTTPS server until SIGINT/SIGTERM.

use crate::config::{Config, ServeArgs, StoreArgs};
use crate::runtime::{
    AppError, SystemClock, core_config, credentials_json, ensure_private_dir, io_err, load_kek, open_store,
    require_current_schema, write_private,
};
use ostiary_core::Core;
use ostiary_core::bootstrap::NewTenant;
use ostiary_crypto::rand::SystemRandom;
use ostiary_store::SchemaState;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// The OTLP trace exporter started by `init_tracing` (feature `otlp` and `[tracing]`).
#[cfg(feature = "otlp")]
type Traces = Option<ostiary_export::TraceExporterHandle>;
#[cfg(not(feature = "otlp"))]
type Traces = Option<std::convert::Infallible>;

/// Logs to stderr as text or JSON, filtered by `OSTIARY_LOG` (default `info`). With feature
/// `otlp` and a `[tracing]` section, the spans that pass the same filter are also exported as
/// OTLP traces (real clock; ids seeded from the OS CSPRNG).
fn init_tracing(cfg: &Config) -> Result<Traces, AppError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_env("OSTIARY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a terminal: files and journald get plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = if cfg.log_format == "json" { fmt.json().boxed() } else { fmt.boxed() };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "otlp")]
    {
        use ostiary_core::Clock as _;
        let (layer, handle) = match &cfg.tracing {
            Some(t) => {
                let clock = SystemClock;
                let now: ostiary_export::Now = Arc::new(move || clock.now());
                let seed = ostiary_crypto::rand::random_bytes::<32>(&SystemRandom::new());
                let (layer, handle) = ostiary_export::OtlpTraceLayer::new(t.export_config(), now, seed)
                    .map_err(|e| AppError::Usage(format!("[tracing]: {e}")))?;
                (Some(layer), Some(handle))
            }
            None => (None, None),
        };
        let _ = registry.with(layer).try_init();
        if let Some(t) = &cfg.tracing {
            tracing::info!(endpoint = %t.otlp_endpoint, "OTLP trace export started");
        }
        Ok(handle)
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = registry.try_init();
        Ok(None)
    }
}

/// Sends the spans still queued, for at most 5 s (the collector may be down).
async fn stop_traces(traces: Traces) {
    #[cfg(feature = "otlp")]
    if let Some(t) = traces {
        if tokio::time::timeout(std::time::Duration::from_secs(5), t.shutdown()).await.is_err() {
            tracing::warn!("OTLP trace export: spans still queued at exit were dropped");
        }
        tracing::info!(exported = t.exported_spans(), dropped = t.dropped_spans(), "OTLP trace export stopped");
    }
    #[cfg(not(feature = "otlp"))]
    let _ = traces;
}

/// Loads the dev CA from the data dir or creates it, then issues a fresh server certificate for
/// the listener's names. Returns (cert chain PEM, key PEM).
#[allow(clippy::disallowed_methods, reason = "certificate validity is wall-clock time")]
fn dev_tls(cfg: &Config) -> Result<(String, String), AppError> {
    let ca_path = cfg.data_dir.join("dev-ca.pem");
    let key_path = cfg.data_dir.join("dev-ca.key");
    let now = OffsetDateTime::now_utc();
    let ca = match (std::fs::read_to_string(&ca_path), std::fs::read_to_string(&key_path)) {
        (Ok(cert_pem), Ok(key_pem)) => {
            ostiary_crypto::tls::DevCa { cert_pem, key_pem: ostiary_crypto::secret::Secret::new(key_pem) }
        }
        _ => {
            let ca = ostiary_crypto::tls::generate_dev_ca(
                "Ostiary Development CA",
                now - Duration::hours(1),
                now + Duration::days(3650),
            )
            .map_err(|e| AppError::Other(format!("cannot create the development CA: {e}")))?;
            write_private(&key_path, ca.key_pem.expose().as_bytes())?;
            std::fs::write(&ca_path, &ca.cert_pem).map_err(|e| io_err("cannot write dev-ca.pem", e))?;
            tracing::info!(path = %ca_path.display(), "created development CA (give this file to clients)");
            ca
        }
    };
    let mut dns = vec!["localhost".to_string()];
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)];
    if !cfg.listen.ip().is_unspecified() && !ips.contains(&cfg.listen.ip()) {
        ips.push(cfg.listen.ip());
    }
    if let Some(host) = cfg.public_url.strip_prefix("https://").and_then(|r| r.split(['/', ':']).next()) {
        match host.parse::<IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) if !host.is_empty() && !host.starts_with('[') && !dns.iter().any(|d| d == host) => {
                dns.push(host.to_string())
            }
            Err(_) => {}
        }
    }
    let (cert, key) =
        ostiary_crypto::tls::issue_server_cert(&ca, &dns, &ips, now - Duration::hours(1), now + Duration::days(90))
            .map_err(|e| AppError::Other(format!("cannot issue the server certificate: {e}")))?;
    Ok((format!("{cert}{}", ca.cert_pem), key.expose().clone()))
}

fn rustls_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, AppError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::Other(format!("invalid TLS certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| AppError::Other(format!("invalid TLS key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AppError::Other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| AppError::Other(format!("TLS certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn bootstrap_if_empty(core: &Core, cfg: &Config) -> Result<(), AppError> {
    if !core.store.list_tenants().await?.is_empty() {
        return Ok(());
    }
    let creds = core
        .create_tenant(NewTenant { display_name: cfg.tenant_name.clone(), domain: cfg.tenant_domain.clone() })
        .await
        .map_err(|e| AppError::Other(format!("bootstrap failed: {e}")))?;
    let json = credentials_json(core, cfg, &creds);
    let path = cfg.data_dir.join("bootstrap-credentials.json");
    write_private(&path, serde_json::to_string_pretty(&json).unwrap_or_default().as_bytes())?;
    let shown = std::path::absolute(&path).unwrap_or(path);
    tracing::info!(tenant = %creds.tenant.id, domain = %creds.tenant.initial_domain, "bootstrapped the first tenant");
    println!("Bootstrap credentials written to {} (mode 0600)", shown.display());
    Ok(())
}

async fn shutdown_signal(handle: axum_server::Handle<std::net::SocketAddr>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
}

pub async fn serve(store_args: &StoreArgs, args: &ServeArgs, env_kek: Option<String>) -> Result<(), AppError> {
    let started = Instant::now();
    let cfg = Config::load(store_args, args, env_kek)?;
    let traces = init_tracing(&cfg)?;
    ensure_private_dir(&cfg.data_dir)?;
    let store = open_store(&cfg).await?;
    if store.schema_state().await? == SchemaState::Empty {
        let applied = store.migrate().await?;
        tracing::info!(?applied, backend = store.backend(), "initialised an empty database");
    }
    require_current_schema(store.as_ref()).await?;
    let kek = load_kek(&cfg, true)?;
    let core = Core::new(store, Arc::new(SystemClock), Arc::new(SystemRandom::new()), kek, core_config(&cfg));
    // Fail fast on a wrong KEK rather than on the first token request.
    for t in core.store.list_tenants().await? {
        core.tenant_state(t.id).await.map_err(|e| AppError::Other(format!("tenant {}: {e}", t.id)))?;
    }
    let (cert_pem, key_pem) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => (read(c)?, read(k)?),
        (None, None) => dev_tls(&cfg)?,
        _ => return Err(AppError::Usage("tls_cert and tls_key must be set together".into())),
    };
    bootstrap_if_empty(&core, &cfg).await?;
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(rustls_config(&cert_pem, &key_pem)?));
    let app = ostiary_web::router(ostiary_web::AppState { core: core.clone() });
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_signal(handle.clone()));
    let listener =
        std::net::TcpListener::bind(cfg.listen).map_err(|e| io_err(&format!("cannot listen on {}", cfg.listen), e))?;
    listener.set_nonblocking(true).map_err(|e| io_err("listener", e))?;
    tracing::info!(
        listen = %cfg.listen,
        public_url = %cfg.public_url,
        backend = core.store.backend(),
        startup_ms = started.elapsed().as_millis() as u64,
        "Ostiary is ready"
    );
    core.graph_throttle.set_limit(cfg.graph_rate_limit);
    if let Some(path) = &cfg.geoip_database {
        let bytes = std::fs::read(path).map_err(|e| io_err(&format!("cannot read {}", path.display()), e))?;
        let db = ostiary_core::geo::GeoIp::from_bytes(bytes)
            .map_err(|e| AppError::Usage(format!("geoip_database {}: {e}", path.display())))?;
        core.set_geoip(db);
        tracing::info!(path = %path.display(), "GeoIP database loaded");
    }
    let breached = match &cfg.breached_passwords {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| io_err(&format!("cannot read {}", path.display()), e))?;
            let list = ostiary_risk::BreachedPasswords::from_bytes(&bytes);
            tracing::info!(path = %path.display(), entries = list.len(), "breached-password list loaded");
            Some(list)
        }
        None => None,
    };
    core.set_protection(ostiary_core::risk::Protection { config: cfg.identity_protection.clone(), breached });
    core.metrics.build_info.set(&[env!("CARGO_PKG_VERSION"), core.store.backend()], 1.0);
    core.metrics.process_start_time.set(process_start_unix_seconds());
    let jobs = tokio::spawn(run_jobs(core.clone(), cfg.retention));
    let provisioning = tokio::spawn(run_provisioning(core.clone()));
    let exporter = start_exporter(&core, &cfg)?;
    let served = axum_server::from_tcp_rustls(listener, tls)
        .map_err(|e| io_err("listener", e))?
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await
        .map_err(|e| io_err("server", e));
    jobs.abort();
    provisioning.abort();
    // Requests have drained: write every queued sign-in record before exiting.
    core.log_writer.shutdown().await;
    tracing::info!("sign-in log drained");
    if let Some(exporter) = exporter {
        // Give the sinks a moment to take what was just written; the rest waits in the store
        // behind each sink's cursor and goes out after the next start (at least once).
        exporter.wake();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while Instant::now() < deadline && exporter.status().await.iter().any(|s| s.backlog_records > 0) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        exporter.shutdown();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), exporter.join()).await;
    }
    stop_traces(traces).await;
    tracing::info!("stopped");
    served
}

/// Starts the SIEM exporters (if configured): woken after every appended batch of records,
/// and mirrored into the export metrics (M8) every second.
fn start_exporter(core: &Arc<Core>, cfg: &Config) -> Result<Option<ostiary_export::ExporterHandle>, AppError> {
    if cfg.export.sinks.is_empty() {
        return Ok(None);
    }
    let clock = core.clock.clone();
    let now: ostiary_export::Now = Arc::new(move || clock.now());
    let handle =
        ostiary_export::Exporter::start(core.store.clone(), cfg.export.sinks.clone(), now, std::future::pending())
            .map_err(|e| AppError::Usage(format!("export: {e}")))?;
    let appended = core.log_writer.appended.clone();
    let waker = handle.clone();
    tokio::spawn(async move {
        loop {
            appended.notified().await;
            waker.wake();
        }
    });
    let metrics = core.metrics.clone();
    let watched = handle.clone();
    tokio::spawn(async move {
        let mut seen: std::collections::HashMap<String, (u64, u64)> = std::collections::HashMap::new();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            for s in watched.status().await {
                let name = s.name.as_str();
                metrics.log_export_lag.set(&[name], s.lag_seconds);
                metrics.log_export_backlog.set(&[name], s.backlog_records as f64);
                let (d0, f0) = seen.get(name).copied().unwrap_or((0, 0));
                metrics.log_export_delivered.inc_by(&[name], s.delivered_total.saturating_sub(d0));
                metrics.log_export_failures.inc_by(&[name], s.failures_total.saturating_sub(f0));
                seen.insert(s.name.clone(), (s.delivered_total, s.failures_total));
            }
        }
    });
    tracing::info!(sinks = ?handle.sink_names(), "SIEM export started");
    Ok(Some(handle))
}

#[allow(clippy::disallowed_methods, reason = "the process start time is wall-clock time")]
fn process_start_unix_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Timers for the background jobs: log retention and the credential-expiry report, every
/// ten minutes (the first run shortly after start).
async fn run_jobs(core: Arc<Core>, retention: ostiary_core::jobs::Retention) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match core.purge_logs(retention, 20).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired log records"),
            Err(e) => tracing::warn!(error = %e, "log retention failed; retrying at the next tick"),
        }
        match core.report_expiring_credentials(Duration::days(30)).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(credentials = n, "application credentials expiring within 30 days (audited)"),
            Err(e) => tracing::warn!(error = %e, "credential expiry report failed"),
        }
    }
}

/// How often outbound provisioning jobs look for work: an idle job costs one read of the log
/// feed, so a short interval keeps targets close behind the directory.
const PROVISIONING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3);

/// The outbound provisioning loop: every active job whose backoff has passed runs its initial
/// or incremental cycle (`Core::run_provisioning_cycle`).
async fn run_provisioning(core: Arc<Core>) {
    let mut tick = tokio::time::interval(PROVISIONING_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match core.run_provisioning_cycle(core.now()).await {
            Ok(r) if r.records > 0 || r.jobs_quarantined > 0 => tracing::info!(
                jobs = r.jobs_run,
                records = r.records,
                backing_off = r.jobs_backing_off,
                quarantined = r.jobs_quarantined,
                "provisioning cycle"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "provisioning cycle failed; retrying at the next tick"),
        }
    }
}

fn read(p: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(p).map_err(|e| io_err(&format!("cannot read {}", p.display()), e))
}
