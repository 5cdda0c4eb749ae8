//! Ostiary's use cases: tenant bootstrap, signing keys, token issuance, bearer-token
//! authentication of admin callers and directory administration. Owns transactions (through
//! `ChangeSet`s) and caches; takes time and randomness as injected services.

pub mod access;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod ca;
pub mod cache;
pub mod consent;
pub mod directory;
pub mod error;
pub mod flow;
pub mod geo;
pub mod graph;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod logquery;
pub mod logs;
pub mod metered;
pub mod mfa;
pub mod observe;
pub mod provisioning;
pub mod risk;
pub mod saml;
pub mod scim;
pub mod settings;
pub mod signin;
pub mod throttle;
pub mod token;
pub mod usertokens;

pub use auth::{Caller, Permission};
pub use error::DirError;

use ostiary_crypto::kek::Kek;
use ostiary_crypto::password::PasswordParams;
use ostiary_crypto::rand::Random;
use ostiary_store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

/// The source of "now"; the binary passes the system clock, tests a controllable one.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Settings the use cases need; the binary fills them from configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Scheme, host and port clients use, e.g. `https://127.0.0.1:8443`; issuers are
    /// `{public_base}/{tenant-id}/v2.0`.
    pub public_base: String,
    /// Lifetime of access tokens in seconds (Entra: 60-90 min; we default to 3599 s).
    pub access_token_lifetime: i64,
    /// How long a new signing key is published before it signs (`ostiary keys rotate`).
    pub key_rotation_overlap: time::Duration,
    pub password_params: PasswordParams,
    /// Concurrent Argon2 hashes; the rest wait, so a login storm cannot starve the runtime.
    pub hash_concurrency: usize,
    /// How often a cached tenant checks the store's version counter (multi-node coherence).
    pub cache_check_interval: std::time::Duration,
    /// Lifetime of generated client secrets when the caller gives none (Graph: 2 years).
    pub default_secret_lifetime: time::Duration,
}

impl CoreConfig {
    pub fn new(public_base: impl Into<String>) -> Self {
        CoreConfig {
            public_base: public_base.into().trim_end_matches('/').to_string(),
            access_token_lifetime: 3599,
            key_rotation_overlap: time::Duration::hours(24),
            password_params: PasswordParams::default(),
            hash_concurrency: 2,
            cache_check_interval: std::time::Duration::from_secs(1),
            default_secret_lifetime: time::Duration::days(730),
        }
    }

    pub fn issuer(&self, tenant: ostiary_model::TenantId) -> String {
        format!("{}/{}/v2.0", self.public_base, tenant)
    }

    pub fn token_endpoint(&self, tenant_segment: &str) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.public_base, tenant_segment)
    }
}

/// The use-case façade the web layer and the CLI call.
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub kek: Arc<Kek>,
    pub config: CoreConfig,
    pub(crate) cache: cache::TenantCache,
    pub(crate) hash_permits: Arc<tokio::sync::Semaphore>,
    pub(crate) dummy_hash: std::sync::OnceLock<String>,
    pub metrics: Arc<ostiary_metrics::Metrics>,
    /// The batched sign-in log writer.
    pub log_writer: logs::LogWriter,
    pub(crate) scrape_hooks: std::sync::Mutex<Vec<observe::ScrapeHook>>,
    /// Password hashes waiting for a hashing permit.
    pub(crate) hash_waiting: std::sync::atomic::AtomicI64,
    /// Graph API rate limits per (tenant, app).
    pub graph_throttle: throttle::Throttle,
    /// The GeoIP database, when one is configured (`set_geoip`).
    pub(crate) geoip: std::sync::OnceLock<geo::GeoIp>,
    /// Identity Protection's thresholds, IP lists and breached-password list (`set_protection`).
    pub(crate) protection: std::sync::OnceLock<risk::Protection>,
    /// Outbound provisioning: the SCIM connector and the run lock.
    pub(crate) provisioning: provisioning::Runtime,
    /// Unsealed SAML signing keys of applications.
    pub(crate) saml_keys: saml::SamlKeys,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        kek: Kek,
        config: CoreConfig,
    ) -> Arc<Core> {
        let permits = config.hash_concurrency.max(1);
        let metrics = Arc::new(ostiary_metrics::Metrics::new());
        let store: Arc<dyn Store> = Arc::new(metered::MeteredStore::new(store, &metrics));
        let log_writer = logs::LogWriter::start(store.clone(), metrics.clone());
        Arc::new(Core {
            store,
            clock,
            rng,
            kek: Arc::new(kek),
            cache: cache::TenantCache::new(config.cache_check_interval),
            config,
            hash_permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            dummy_hash: std::sync::OnceLock::new(),
            metrics,
            log_writer,
            scrape_hooks: std::sync::Mutex::new(Vec::new()),
            hash_waiting: std::sync::atomic::AtomicI64::new(0),
            graph_throttle: throttle::Throttle::new(throttle::RateLimit::default()),
            geoip: std::sync::OnceLock::new(),
            protection: std::sync::OnceLock::new(),
            provisioning: provisioning::Runtime::default(),
            saml_keys: saml::SamlKeys::default(),
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Installs the GeoIP database (once, at startup); sign-in records then carry the country.
    pub fn set_geoip(&self, db: geo::GeoIp) -> bool {
        self.geoip.set(db).is_ok()
    }

    /// The country of an address, when a GeoIP database is installed and knows it.
    pub fn country_of(&self, ip: Option<&str>) -> Option<String> {
        self.geoip.get().and_then(|g| g.country(ip?))
    }

    /// A permit of the bounded hashing pool; the wait is visible as a gauge.
    pub(crate) async fn hash_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError> {
        use std::sync::atomic::Ordering;
        self.hash_waiting.fetch_add(1, Ordering::Relaxed);
        let r = self.hash_permits.clone().acquire_owned().await;
        self.hash_waiting.fetch_sub(1, Ordering::Relaxed);
        r
    }

    /// A fresh random (v4) UUID from the injected randomness.
    pub fn new_uuid(&self) -> uuid::Uuid {
        uuid::Builder::from_random_bytes(ostiary_crypto::rand::random_bytes::<16>(self.rng.as_ref())).into_uuid()
    }

    /// Now, truncated to whole seconds: the precision of stored timestamps.
    pub fn now_seconds(&self) -> OffsetDateTime {
        let n = self.now();
        n.replace_nanosecond(0).unwrap_or(n)
    }
}
