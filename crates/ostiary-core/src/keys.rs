//! Tenant signing keys: generation (sealed with the KEK at rest), the in-memory key ring used
//! to sign and verify, the pre-rendered JWKS, and rotation with an overlap window.

use crate::Core;
use ostiary_crypto::CryptoError;
use ostiary_crypto::jws::{Alg, PublicKey, SigningKey};
use ostiary_crypto::kek::Kek;
use ostiary_crypto::rand::Random;
use ostiary_model::{StoredSigningKey, TenantId};
use std::collections::HashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Algorithms every tenant has a key for.
pub const TENANT_ALGS: [Alg; 2] = [Alg::RS256, Alg::ES256];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "signing keys of tenant {tenant} were sealed with key-encryption key {stored}, but this server has {ours}; configure the original key (OSTIARY_KEK or <data-dir>/kek.key)"
    )]
    WrongKek { tenant: TenantId, stored: String, ours: String },
    #[error("tenant {0} has no usable {1} signing key")]
    NoKey(TenantId, &'static str),
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    #[error("store: {0}")]
    Store(#[from] ostiary_store::StoreError),
}

fn aad(tenant: TenantId, kid: &str) -> Vec<u8> {
    format!("ostiary-signing-key/{tenant}/{kid}").into_bytes()
}

/// Creates a key and its stored form. The certificate's validity covers the key's whole life.
pub fn new_signing_key(
    tenant: TenantId,
    alg: Alg,
    kek: &Kek,
    rng: &dyn Random,
    now: OffsetDateTime,
    sign_from: OffsetDateTime,
) -> Result<(Arc<SigningKey>, StoredSigningKey), KeyError> {
    let (key, pkcs8) = SigningKey::generate(
        alg,
        &format!("Ostiary token signing {tenant}"),
        now - Duration::minutes(5),
        now + Duration::days(3650),
    )?;
    let kid = key.kid().to_string();
    let sealed = kek.seal(pkcs8.expose(), &aad(tenant, &kid), rng);
    let stored = StoredSigningKey {
        kid,
        alg: alg.as_str().to_string(),
        cert_der: key.cert_der().to_vec(),
        sealed_private_key: sealed,
        kek_id: kek.id(),
        created_at: now,
        sign_from,
        retire_at: None,
    };
    Ok((Arc::new(key), stored))
}

/// The keys of one tenant, parsed once.
pub struct KeyRing {
    /// Per algorithm, keys ordered by `sign_from` ascending.
    signers: HashMap<Alg, Vec<(OffsetDateTime, Arc<SigningKey>)>>,
    verifiers: HashMap<String, (Alg, PublicKey)>,
    /// The JWKS document, rendered once per load.
    pub jwks: Arc<Vec<u8>>,
    /// The next instant a key retires; the ring must be reloaded then to drop it from JWKS.
    pub next_retirement: Option<OffsetDateTime>,
    /// (kid, certificate notAfter) of every published key, for the expiry metric (M10).
    pub certificate_expiry: Vec<(String, OffsetDateTime)>,
}

impl KeyRing {
    pub fn load(
        tenant: TenantId,
        stored: &[StoredSigningKey],
        kek: &Kek,
        now: OffsetDateTime,
    ) -> Result<KeyRing, KeyError> {
        let mut signers: HashMap<Alg, Vec<(OffsetDateTime, Arc<SigningKey>)>> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        let mut next_retirement: Option<OffsetDateTime> = None;
        let mut certificate_expiry = Vec::new();
        for s in stored {
            if s.retire_at.is_some_and(|r| r <= now) {
                continue;
            }
            if let Some(r) = s.retire_at {
                next_retirement = Some(next_retirement.map_or(r, |n| n.min(r)));
            }
            if s.kek_id != kek.id() {
                return Err(KeyError::WrongKek { tenant, stored: s.kek_id.clone(), ours: kek.id() });
            }
            let alg: Alg = s.alg.parse().map_err(|_| CryptoError::Unsupported(s.alg.clone()))?;
            let pkcs8 = kek.open(&s.sealed_private_key, &aad(tenant, &s.kid))?;
            let key = Arc::new(SigningKey::from_parts(alg, pkcs8.expose(), s.cert_der.clone())?);
            if let Ok(cert) = ostiary_crypto::x509::Certificate::from_der(&s.cert_der) {
                certificate_expiry.push((s.kid.clone(), cert.not_after));
            }
            verifiers.insert(key.kid().to_string(), (alg, key.public_key()));
            jwks.push(key.public_jwk());
            signers.entry(alg).or_default().push((s.sign_from, key));
        }
        for v in signers.values_mut() {
            v.sort_by_key(|(from, _)| *from);
        }
        let doc = serde_json::json!({ "keys": jwks });
        Ok(KeyRing {
            signers,
            verifiers,
            jwks: Arc::new(serde_json::to_vec(&doc).unwrap_or_default()),
            next_retirement,
            certificate_expiry,
        })
    }

    /// The key that signs now: the newest whose `sign_from` has passed (before any has, the
    /// oldest, so a fresh tenant can sign at once).
    pub fn signer(&self, alg: Alg, now: OffsetDateTime) -> Option<&Arc<SigningKey>> {
        let keys = self.signers.get(&alg)?;
        keys.iter().rev().find(|(from, _)| *from <= now).or_else(|| keys.first()).map(|(_, k)| k)
    }

    pub fn verifier(&self, kid: &str) -> Option<&(Alg, PublicKey)> {
        self.verifiers.get(kid)
    }
}

impl Core {
    /// Generates keys for a new tenant (signing immediately).
    pub fn initial_keys(&self, tenant: TenantId) -> Result<Vec<StoredSigningKey>, KeyError> {
        let now = self.now_seconds();
        TENANT_ALGS
            .iter()
            .map(|alg| new_signing_key(tenant, *alg, &self.kek, self.rng.as_ref(), now, now).map(|(_, s)| s))
            .collect()
    }

    /// Publishes a new key per algorithm now; it signs after `overlap`. The previous keys keep
    /// signing until then and stay published until every token they signed has expired.
    /// Returns the new key ids.
    pub async fn rotate_keys(&self, tenant: TenantId, overlap: Duration) -> Result<Vec<String>, KeyError> {
        let now = self.now_seconds();
        let sign_from = now + overlap;
        let token_life = Duration::seconds(self.config.access_token_lifetime) + Duration::minutes(5);
        let existing = self.store.list_signing_keys(tenant).await?;
        // Keys retired long ago are no longer needed by anyone.
        for k in &existing {
            if k.retire_at.is_some_and(|r| r < now) {
                self.store.delete_signing_key(tenant, &k.kid).await?;
            }
        }
        let mut kids = Vec::new();
        for alg in TENANT_ALGS {
            for old in existing.iter().filter(|k| k.alg == alg.as_str() && k.retire_at.is_none()) {
                let mut old = old.clone();
                old.retire_at = Some(sign_from + token_life);
                self.store.put_signing_key(tenant, &old).await?;
            }
            let (_, stored) = new_signing_key(tenant, alg, &self.kek, self.rng.as_ref(), now, sign_from)?;
            kids.push(stored.kid.clone());
            self.store.put_signing_key(tenant, &stored).await?;
        }
        self.cache.invalidate(tenant);
        // Key writes are not `ChangeSet`s, so this record follows the change rather than
        // sharing its transaction: a crash between the two loses the record, not the keys.
        let actor = crate::audit::Actor::system(tenant, "Ostiary key rotation", self.new_uuid().to_string());
        let mut target = crate::audit::Target::new(tenant.to_string(), "Directory");
        target.modified = vec![serde_json::json!({
            "displayName": "SigningKeys",
            "oldValue": "[]",
            "newValue": format!("[{}]", serde_json::json!(kids)),
        })];
        let activity = crate::audit::Activity::new("Rotate signing keys", "KeyManagement", "Add")
            .target(target)
            .detail("SignFrom", sign_from.to_string());
        self.record_audit(&actor, activity).await;
        Ok(kids)
    }
}
