//! Wiring shared by the commands that open the store: the real clock, the KEK, backend
//! choice, the core, and the store-level commands (`migrate`, `tenant`, `keys`, `config`).

use crate::config::{Config, ServeArgs, StoreArgs};
use ostiary_core::bootstrap::{NewTenant, TenantCredentials};
use ostiary_core::{Clock, Core, CoreConfig};
use ostiary_crypto::kek::Kek;
use ostiary_crypto::rand::SystemRandom;
use ostiary_model::TenantId;
use ostiary_store::{SchemaState, Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// The only clock that reads the system time.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "the one real clock")]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Other(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) | AppError::Usage(_) => 2,
            AppError::Schema(_) => 3,
            _ => 1,
        }
    }
}

pub fn io_err(what: &str, e: std::io::Error) -> AppError {
    AppError::Io(format!("{what}: {e}"))
}

/// Creates `dir` (and parents) readable by the owner only.
pub fn ensure_private_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(&format!("cannot create {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes a file with mode 0600 from the start (no window where it is world-readable).
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), AppError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io_err(&format!("cannot write {}", path.display()), e))?;
    f.write_all(data).map_err(|e| io_err(&format!("cannot write {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| io_err("chmod", e))?;
    }
    Ok(())
}

pub async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>, AppError> {
    match cfg.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(ostiary_store_postgres::PostgresStore::connect(url).await?))
        }
        Some(url) if url.starts_with("sqlite://") || url.starts_with("sqlite:") => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            Ok(Arc::new(ostiary_store_sqlite::SqliteStore::open(Path::new(path)).await?))
        }
        Some(other) => Err(AppError::Usage(format!(
            "unsupported database URL scheme in '{}': use postgres:// or sqlite://",
            crate::config::redact_url(other)
        ))),
        None => {
            ensure_private_dir(&cfg.data_dir)?;
            Ok(Arc::new(ostiary_store_sqlite::SqliteStore::open(&cfg.data_dir.join("ostiary.db")).await?))
        }
    }
}

/// The key-encryption key: from configuration, else `<data-dir>/kek.key` (created 0600).
pub fn load_kek(cfg: &Config, create: bool) -> Result<Kek, AppError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(k) = &cfg.kek {
        let bytes =
            b64.decode(k.trim()).map_err(|_| AppError::Usage("OSTIARY_KEK must be base64 of 32 bytes".into()))?;
        return Kek::from_bytes(&bytes).map_err(|_| AppError::Usage("OSTIARY_KEK must be base64 of 32 bytes".into()));
    }
    let path = cfg.data_dir.join("kek.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes =
                b64.decode(text.trim()).map_err(|_| AppError::Other(format!("{} is corrupt", path.display())))?;
            Kek::from_bytes(&bytes).map_err(|_| AppError::Other(format!("{} is corrupt", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            ensure_private_dir(&cfg.data_dir)?;
            let kek = Kek::generate(&SystemRandom::new());
            write_private(&path, b64.encode(kek.to_bytes().expose()).as_bytes())?;
            Ok(kek)
        }
        Err(e) => Err(io_err(
            &format!(
                "cannot read the key-encryption key {} (set OSTIARY_KEK or use the data dir of the server)",
                path.display()
            ),
            e,
        )),
    }
}

pub fn core_config(cfg: &Config) -> CoreConfig {
    let mut c = CoreConfig::new(cfg.public_url.clone());
    c.access_token_lifetime = cfg.access_token_lifetime_secs;
    c.key_rotation_overlap = time::Duration::seconds(cfg.key_rotation_overlap_secs);
    c.password_params = ostiary_crypto::password::PasswordParams {
        memory_kib: cfg.password.memory_kib,
        iterations: cfg.password.iterations,
        parallelism: cfg.password.parallelism,
    };
    c.hash_concurrency = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    c
}

/// Refuses to go on unless the schema matches this binary.
pub async fn require_current_schema(store: &dyn Store) -> Result<(), AppError> {
    match store.schema_state().await? {
        SchemaState::Current(_) => Ok(()),
        SchemaState::Empty => Err(AppError::Schema("the database is empty: run `ostiary migrate` first".into())),
        SchemaState::Older { db, binary } => Err(AppError::Schema(format!(
            "the database schema is at version {db} but this binary needs {binary}: run `ostiary migrate` (with the same --data-dir/--database-url) and start again"
        ))),
        SchemaState::Newer { db, binary } => Err(AppError::Schema(format!(
            "the database schema is at version {db}, newer than this binary supports ({binary}): run a newer ostiary, or restore a backup taken before `ostiary migrate` ran"
        ))),
    }
}

/// Opens everything a store-level command needs.
pub async fn open_core(
    store_args: &StoreArgs,
    serve_args: &ServeArgs,
    env_kek: Option<String>,
    create_kek: bool,
) -> Result<(Config, Arc<Core>), AppError> {
    let cfg = Config::load(store_args, serve_args, env_kek)?;
    let store = open_store(&cfg).await?;
    require_current_schema(store.as_ref()).await?;
    let kek = load_kek(&cfg, create_kek)?;
    let core = Core::new(store, Arc::new(SystemClock), Arc::new(SystemRandom::new()), kek, core_config(&cfg));
    Ok((cfg, core))
}

/// The bootstrap-credentials JSON (exact keys fixed by the issue and the README).
pub fn credentials_json(core: &Core, cfg: &Config, creds: &TenantCredentials) -> serde_json::Value {
    serde_json::json!({
        "tenantId": creds.tenant.id.to_string(),
        "tenantDomain": creds.tenant.initial_domain,
        "issuer": core.config.issuer(creds.tenant.id),
        "clientId": creds.client_id.to_string(),
        "clientSecret": creds.client_secret.expose(),
        "adminUserPrincipalName": creds.admin_user_principal_name,
        "adminPassword": creds.admin_password.expose(),
        "caCertificate": std::path::absolute(cfg.data_dir.join("dev-ca.pem")).unwrap_or_else(|_| cfg.data_dir.join("dev-ca.pem")),
    })
}

pub async fn migrate(store_args: &StoreArgs, env_kek: Option<String>) -> Result<(), AppError> {
    let cfg = Config::load(store_args, &ServeArgs::default(), env_kek)?;
    let store = open_store(&cfg).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("schema is current; nothing to apply");
    } else {
        println!("applied migrations: {}", applied.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}

pub async fn tenant_create(
    store_args: &StoreArgs,
    env_kek: Option<String>,
    name: String,
    domain: Option<String>,
) -> Result<(), AppError> {
    let (cfg, core) = open_core(store_args, &ServeArgs::default(), env_kek, false).await?;
    let creds = core
        .create_tenant(NewTenant { display_name: name, domain })
        .await
        .map_err(|e| AppError::Other(e.to_string()))?;
    let json = credentials_json(&core, &cfg, &creds);
    println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    Ok(())
}

pub async fn tenant_list(store_args: &StoreArgs, env_kek: Option<String>) -> Result<(), AppError> {
    let cfg = Config::load(store_args, &ServeArgs::default(), env_kek)?;
    let store = open_store(&cfg).await?;
    require_current_schema(store.as_ref()).await?;
    for t in store.list_tenants().await? {
        println!("{}  {}  {}", t.id, t.initial_domain, t.display_name);
    }
    Ok(())
}

async fn tenants_for(core: &Core, tenant: Option<String>) -> Result<Vec<TenantId>, AppError> {
    match tenant {
        Some(t) => Ok(vec![core.resolve_tenant(&t).await.map_err(|e| AppError::Usage(e.description))?]),
        None => Ok(core.store.list_tenants().await?.into_iter().map(|t| t.id).collect()),
    }
}

pub async fn keys_rotate(
    store_args: &StoreArgs,
    env_kek: Option<String>,
    tenant: Option<String>,
    overlap: Option<i64>,
) -> Result<(), AppError> {
    let (_, core) = open_core(store_args, &ServeArgs::default(), env_kek, false).await?;
    let overlap = overlap.map(time::Duration::seconds).unwrap_or(core.config.key_rotation_overlap);
    if overlap.is_negative() {
        return Err(AppError::Usage("--overlap-secs must not be negative".into()));
    }
    for t in tenants_for(&core, tenant).await? {
        let kids = core.rotate_keys(t, overlap).await.map_err(|e| AppError::Other(e.to_string()))?;
        println!("tenant {t}: published {} (signing from {})", kids.join(", "), core.now() + overlap);
    }
    Ok(())
}

pub async fn keys_list(
    store_args: &StoreArgs,
    env_kek: Option<String>,
    tenant: Option<String>,
) -> Result<(), AppError> {
    let (_, core) = open_core(store_args, &ServeArgs::default(), env_kek, false).await?;
    for t in tenants_for(&core, tenant).await? {
        for k in core.store.list_signing_keys(t).await? {
            let retire = k.retire_at.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
            println!("{t}  {}  {}  sign_from={}  retire_at={}", k.kid, k.alg, k.sign_from, retire);
        }
    }
    Ok(())
}

pub fn config_show(store_args: &StoreArgs, env_kek: Option<String>) -> Result<(), AppError> {
    let cfg = Config::load(store_args, &ServeArgs::default(), env_kek)?;
    println!("{}", serde_json::to_string_pretty(&cfg.redacted()).unwrap_or_default());
    Ok(())
}

/// Prints the mean time of one Argon2id hash at the configured parameters, on one core.
pub fn bench_hash(store_args: &StoreArgs, env_kek: Option<String>, count: u32) -> Result<(), AppError> {
    let cfg = Config::load(store_args, &ServeArgs::default(), env_kek)?;
    let params = core_config(&cfg).password_params;
    let rng = SystemRandom::new();
    let count = count.max(1);
    let started = std::time::Instant::now();
    for _ in 0..count {
        ostiary_crypto::password::hash_password("Benchmark-Password-1!", &params, &rng)
            .map_err(|e| AppError::Other(e.to_string()))?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(count);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "{}",
        serde_json::json!({
            "memory_kib": params.memory_kib, "iterations": params.iterations, "parallelism": params.parallelism,
            "ms_per_hash": (ms * 100.0).round() / 100.0, "cores": cores,
            "hash_limit_per_s": ((cores as f64 * 1000.0 / ms) * 10.0).round() / 10.0,
        })
    );
    Ok(())
}

/// `ostiary bench-log-ingest` (hidden): sustained sign-in record ingest through the real
/// batched writer into the configured store, from `tasks` concurrent producers. Prints JSON.
pub async fn bench_log_ingest(
    store_args: &StoreArgs,
    env_kek: Option<String>,
    records: u64,
    tasks: u32,
) -> Result<(), AppError> {
    use ostiary_core::logs::{RequestContext, SignInEvent, SignInKind};
    let cfg = Config::load(store_args, &ServeArgs::default(), env_kek)?;
    ensure_private_dir(&cfg.data_dir)?;
    let store = open_store(&cfg).await?;
    if store.schema_state().await? == SchemaState::Empty {
        store.migrate().await?;
    }
    require_current_schema(store.as_ref()).await?;
    let kek = load_kek(&cfg, true)?;
    let core = Core::new(store, Arc::new(SystemClock), Arc::new(SystemRandom::new()), kek, core_config(&cfg));
    let tenant = match core.store.list_tenants().await?.first() {
        Some(t) => t.id,
        None => {
            core.create_tenant(NewTenant { display_name: "Bench".into(), domain: None })
                .await
                .map_err(|e| AppError::Other(e.to_string()))?
                .tenant
                .id
        }
    };
    let tasks = tasks.max(1);
    let per_task = records / u64::from(tasks);
    let before = core.store.last_log_seq().await?;
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let core = core.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let ctx = RequestContext {
                    ip: Some("203.0.113.10".into()),
                    user_agent: Some("bench/1.0".into()),
                    correlation_id: format!("bench-{t}-{i}"),
                };
                let mut e = SignInEvent::new(tenant, SignInKind::ServicePrincipal, ctx);
                e.app_id = Some("6a1b8d2e-0000-4000-8000-00000000b3c4".into());
                e.app_display_name = Some("Bench client".into());
                e.resource_id = Some("00000003-0000-0000-c000-000000000000".into());
                e.resource_display_name = Some("Microsoft Graph".into());
                e.auth_method = Some("Client secret");
                e.client_credential_type = Some("clientSecret");
                if i % 10 == 0 {
                    e.error_code = 7000215;
                    e.failure_reason = Some("Invalid client secret provided.".into());
                }
                core.record_sign_in(e).await;
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let queued = started.elapsed();
    core.log_writer.shutdown().await;
    let elapsed = started.elapsed();
    let written = core.store.last_log_seq().await? - before;
    let total = per_task * u64::from(tasks);
    println!(
        "{}",
        serde_json::json!({
            "backend": core.store.backend(),
            "records": total,
            "written": written,
            "producers": tasks,
            "queue_seconds": (queued.as_secs_f64() * 1000.0).round() / 1000.0,
            "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "records_per_s": (total as f64 / elapsed.as_secs_f64()).round(),
        })
    );
    if written < total as i64 {
        return Err(AppError::Other(format!("only {written} of {total} records were written")));
    }
    Ok(())
}
