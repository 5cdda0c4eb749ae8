//! A user's authentication methods (authenticator app, passkeys, recovery codes) in the KV store:
//! registration, verification with replay protection, listing and removal, all audited. TOTP
//! seeds are sealed with the KEK; recovery codes are kept as hashes; passkey ceremony state lives
//! server-side in the pending flow or a short-lived KV entry, never in a cookie.

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use crate::error::DirError;
use ostiary_model::{ObjectId, TenantId};
use ostiary_store::{KvEntry, KvOp, KvSelect, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;

pub const METHOD_KIND: &str = "authMethod";
const PENDING_TOTP_KIND: &str = "totpPending";
const CEREMONY_KIND: &str = "webauthnCeremony";
/// How long a started registration or ceremony stays valid.
const PENDING_LIFETIME: Duration = Duration::minutes(10);
/// At most this many methods per user (passkeys mostly): bounds the lists in every ceremony.
pub const MAX_METHODS: usize = 20;

/// One stored method. `id` is ours (a GUID, the Graph method id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MethodDoc {
    #[serde(rename_all = "camelCase")]
    SoftwareOath {
        id: String,
        created: i64,
        /// The seed sealed with the KEK (AAD binds it to tenant, user and method), base64url.
        sealed_secret: String,
        /// Highest accepted time step: codes of this step or older are replays.
        last_step: Option<u64>,
    },
    #[serde(rename_all = "camelCase")]
    Fido2 {
        id: String,
        created: i64,
        display_name: String,
        aaguid: Option<String>,
        passkey: Box<ostiary_mfa::StoredPasskey>,
    },
    #[serde(rename_all = "camelCase")]
    RecoveryCodes { id: String, created: i64, hashes: Vec<String> },
}

impl MethodDoc {
    pub fn id(&self) -> &str {
        match self {
            MethodDoc::SoftwareOath { id, .. } | MethodDoc::Fido2 { id, .. } | MethodDoc::RecoveryCodes { id, .. } => {
                id
            }
        }
    }

    /// Our method name, as `PendingFlow::methods` and Conditional Access use it.
    pub fn method(&self) -> &'static str {
        match self {
            MethodDoc::SoftwareOath { .. } => "softwareOath",
            MethodDoc::Fido2 { .. } => "fido2",
            MethodDoc::RecoveryCodes { .. } => "recoveryCode",
        }
    }

    /// The Graph `authenticationMethod` JSON (never any secret).
    pub fn to_graph(&self) -> Value {
        let when = |t: &i64| time::OffsetDateTime::from_unix_timestamp(*t).map(crate::ids::rfc3339).unwrap_or_default();
        match self {
            MethodDoc::SoftwareOath { id, created, .. } => serde_json::json!({
                "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
                "id": id, "createdDateTime": when(created), "secretKey": null,
            }),
            MethodDoc::Fido2 { id, created, display_name, aaguid, .. } => serde_json::json!({
                "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
                "id": id, "displayName": display_name, "createdDateTime": when(created),
                "aaGuid": aaguid, "model": null, "attestationCertificates": [], "attestationLevel": "notAttested",
            }),
            MethodDoc::RecoveryCodes { id, created, hashes } => serde_json::json!({
                "@odata.type": "#microsoft.graph.ostiaryRecoveryCodesAuthenticationMethod",
                "id": id, "createdDateTime": when(created), "remainingCodes": hashes.len(),
            }),
        }
    }
}

/// Why a second factor was refused. The texts are shown on the MFA page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MfaError {
    #[error("That code didn't work. Check the code and try again.")]
    WrongCode,
    #[error("That code was already used. Wait for the next code and try again.")]
    Replayed,
    #[error("The passkey could not be verified. Try again or choose another method.")]
    Passkey,
    #[error("The registration has expired. Start again.")]
    Expired,
    #[error("You can't register more methods; remove one first.")]
    TooMany,
    #[error("This method is not allowed by your organization.")]
    NotAllowed,
    #[error("The service is temporarily unavailable.")]
    Unavailable,
}

impl From<StoreError> for MfaError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error in an MFA operation");
        MfaError::Unavailable
    }
}

fn aad(tenant: TenantId, user: ObjectId, id: &str) -> Vec<u8> {
    format!("ostiary-totp/{tenant}/{user}/{id}").into_bytes()
}

fn method_entry(user: ObjectId, doc: &MethodDoc) -> KvEntry {
    KvEntry {
        kind: METHOD_KIND.into(),
        key: format!("{user}/{}", doc.id()),
        doc: serde_json::to_value(doc).unwrap_or(Value::Null),
        version: 1,
        expires_at: None,
        user_id: Some(user),
        family_id: None,
    }
}

impl Core {
    /// The relying party for passkeys: the public base URL's host and origin.
    pub fn passkeys(&self, policy: &crate::settings::MethodsPolicy) -> Result<ostiary_mfa::Passkeys, MfaError> {
        let attestation = ostiary_mfa::AttestationPolicy {
            conveyance: if policy.fido2_enforce_attestation {
                ostiary_mfa::Conveyance::Direct
            } else {
                ostiary_mfa::Conveyance::None
            },
            allowed_aaguids: policy
                .fido2_allowed_aaguids
                .iter()
                .filter_map(|a| uuid::Uuid::parse_str(a).ok())
                .collect(),
            trust_anchors_pem: Vec::new(),
        };
        let origin = self.config.public_base.trim_end_matches('/');
        let host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        // The RP id is the host without the port (WebAuthn scopes credentials to a domain).
        // (IP-literal hosts cannot be RP ids; webauthn-rs refuses them and passkeys are then off.)
        let rp_id = match host.rsplit_once(':') {
            Some((h, port)) if !host.starts_with('[') && port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        ostiary_mfa::Passkeys::new(rp_id, origin, "Ostiary", attestation).map_err(|e| {
            tracing::error!(error = %e, "passkeys unavailable for this public base URL");
            MfaError::NotAllowed
        })
    }

    /// Whether the authentication methods policy lets `user` register and use `method`
    /// (`softwareOath`, `fido2`; recovery codes always): enabled, and the user in a target group
    /// (transitively) when the method is limited to groups.
    pub async fn method_allowed(&self, tenant: TenantId, user: ObjectId, method: &str) -> Result<bool, StoreError> {
        let settings = self.tenant_settings(tenant).await?;
        let p = &settings.methods_policy;
        let (on, groups) = match method {
            "softwareOath" => (p.software_oath_enabled, &p.software_oath_groups),
            "fido2" => (p.fido2_enabled, &p.fido2_groups),
            "recoveryCode" => return Ok(true),
            _ => return Ok(false),
        };
        if !on {
            return Ok(false);
        }
        if groups.is_empty() {
            return Ok(true);
        }
        let Some(ostiary_model::DirectoryObject::User(u)) = self.store.get_object(tenant, user).await? else {
            return Ok(false);
        };
        let facts = self.user_subject(tenant, &u).await?;
        Ok(facts.group_ids.iter().any(|g| groups.iter().any(|t| t.as_uuid() == *g)))
    }

    /// The user's methods with their store entries.
    pub async fn method_entries(
        &self,
        tenant: TenantId,
        user: ObjectId,
    ) -> Result<Vec<(MethodDoc, KvEntry)>, StoreError> {
        let entries = self.store.kv_list(tenant, METHOD_KIND, &KvSelect::User(user), 100, self.now()).await?;
        Ok(entries.into_iter().filter_map(|e| serde_json::from_value(e.doc.clone()).ok().map(|d| (d, e))).collect())
    }

    pub async fn methods_of(&self, tenant: TenantId, user: ObjectId) -> Result<Vec<MethodDoc>, StoreError> {
        Ok(self.method_entries(tenant, user).await?.into_iter().map(|(d, _)| d).collect())
    }

    async fn add_method(
        &self,
        actor: &Actor,
        user: ObjectId,
        doc: MethodDoc,
        extra: Vec<KvOp>,
    ) -> Result<(), MfaError> {
        let tenant = actor.tenant;
        let existing = self.method_entries(tenant, user).await?;
        if existing.len() >= MAX_METHODS {
            return Err(MfaError::TooMany);
        }
        let mut ops = extra;
        // One set of recovery codes at a time: new codes replace the old ones.
        if matches!(doc, MethodDoc::RecoveryCodes { .. }) {
            for (d, e) in &existing {
                if matches!(d, MethodDoc::RecoveryCodes { .. }) {
                    ops.push(KvOp::Delete { kind: METHOD_KIND.into(), key: e.key.clone() });
                }
            }
        }
        ops.push(KvOp::Insert(method_entry(user, &doc)));
        let mut target = Target::new(user.to_string(), "User");
        target.display_name = Some(doc.method().to_string());
        let activity = Activity::new("User registered security info", "UserManagement", "Add")
            .target(target)
            .detail("AuthenticationMethod", doc.method());
        ops.push(self.audit_op(actor, &activity));
        self.store.kv_apply(tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }

    // --- authenticator app (TOTP) ----------------------------------------------------------

    /// Starts authenticator-app registration: a new seed kept (sealed) for ten minutes.
    /// Returns `(base32 secret, otpauth URI, QR code SVG)`.
    pub async fn start_totp_registration(
        &self,
        tenant: TenantId,
        user: ObjectId,
        account_name: &str,
        issuer: &str,
    ) -> Result<(String, String, String), MfaError> {
        let secret = ostiary_mfa::TotpSecret::generate(self.rng.as_ref());
        let sealed = self.kek.seal(secret.as_bytes(), &aad(tenant, user, "pending"), self.rng.as_ref());
        let now = self.now();
        let e = KvEntry {
            kind: PENDING_TOTP_KIND.into(),
            key: user.to_string(),
            doc: serde_json::json!({ "sealed": ostiary_crypto::b64::url_encode(&sealed) }),
            version: 1,
            expires_at: Some(now + PENDING_LIFETIME),
            user_id: Some(user),
            family_id: None,
        };
        self.store
            .kv_apply(
                tenant,
                &[KvOp::Delete { kind: PENDING_TOTP_KIND.into(), key: user.to_string() }, KvOp::Insert(e)],
                false,
                now,
            )
            .await?;
        let uri = secret.otpauth_uri(issuer, account_name);
        let svg = ostiary_mfa::qr_svg(&uri, "QR code for your authenticator app").map_err(|_| MfaError::Unavailable)?;
        Ok((secret.to_base32(), uri, svg))
    }

    /// Finishes authenticator-app registration with a code from the app.
    pub async fn finish_totp_registration(&self, actor: &Actor, user: ObjectId, code: &str) -> Result<(), MfaError> {
        let tenant = actor.tenant;
        if !self.method_allowed(tenant, user, "softwareOath").await? {
            return Err(MfaError::NotAllowed);
        }
        let now = self.now();
        let pending =
            self.store.kv_get(tenant, PENDING_TOTP_KIND, &user.to_string(), now).await?.ok_or(MfaError::Expired)?;
        let sealed = pending
            .doc
            .get("sealed")
            .and_then(Value::as_str)
            .and_then(|s| ostiary_crypto::b64::url_decode(s).ok())
            .ok_or(MfaError::Expired)?;
        let raw = self.kek.open(&sealed, &aad(tenant, user, "pending")).map_err(|_| MfaError::Expired)?;
        let secret = ostiary_mfa::TotpSecret::from_bytes(raw.expose().clone()).map_err(|_| MfaError::Expired)?;
        let step =
            ostiary_mfa::totp::verify(&secret, code, now.unix_timestamp(), None).map_err(|_| MfaError::WrongCode)?;
        let id = self.new_uuid().to_string();
        let sealed = self.kek.seal(secret.as_bytes(), &aad(tenant, user, &id), self.rng.as_ref());
        let doc = MethodDoc::SoftwareOath {
            id,
            created: now.unix_timestamp(),
            sealed_secret: ostiary_crypto::b64::url_encode(&sealed),
            last_step: Some(step),
        };
        let extra = vec![KvOp::Delete { kind: PENDING_TOTP_KIND.into(), key: user.to_string() }];
        self.add_method(actor, user, doc, extra).await?;
        self.metrics.mfa_challenges.inc(&["totp", "success"]);
        Ok(())
    }

    /// Verifies an authenticator-app code against every registered app; the matched time step
    /// is stored with compare-and-swap, so a code (or an older one) works once, even across nodes.
    pub async fn verify_totp(&self, tenant: TenantId, user: ObjectId, code: &str) -> Result<(), MfaError> {
        if !self.method_allowed(tenant, user, "softwareOath").await? {
            return Err(MfaError::NotAllowed);
        }
        let now = self.now();
        let mut replayed = false;
        for (doc, mut entry) in self.method_entries(tenant, user).await? {
            let MethodDoc::SoftwareOath { id, created, sealed_secret, last_step } = doc else { continue };
            let Ok(sealed) = ostiary_crypto::b64::url_decode(&sealed_secret) else { continue };
            let Ok(raw) = self.kek.open(&sealed, &aad(tenant, user, &id)) else { continue };
            let Ok(secret) = ostiary_mfa::TotpSecret::from_bytes(raw.expose().clone()) else { continue };
            match ostiary_mfa::totp::verify(&secret, code, now.unix_timestamp(), last_step) {
                Ok(step) => {
                    let updated = MethodDoc::SoftwareOath { id, created, sealed_secret, last_step: Some(step) };
                    entry.doc = serde_json::to_value(&updated).unwrap_or(Value::Null);
                    return match self.store.kv_apply(tenant, &[KvOp::Update(entry)], false, now).await {
                        Ok(()) => {
                            self.metrics.mfa_challenges.inc(&["totp", "success"]);
                            Ok(())
                        }
                        // Another request used a code of this secret at the same moment.
                        Err(StoreError::Conflict { .. }) => {
                            self.metrics.mfa_challenges.inc(&["totp", "failure"]);
                            Err(MfaError::Replayed)
                        }
                        Err(e) => Err(e.into()),
                    };
                }
                Err(ostiary_mfa::TotpError::Replayed) => replayed = true,
                Err(_) => {}
            }
        }
        self.metrics.mfa_challenges.inc(&["totp", "failure"]);
        Err(if replayed { MfaError::Replayed } else { MfaError::WrongCode })
    }

    // --- recovery codes ----------------------------------------------------------------------

    /// New recovery codes (replacing any old set); the plaintext is returned once.
    pub async fn create_recovery_codes(&self, actor: &Actor, user: ObjectId) -> Result<Vec<String>, MfaError> {
        let generated = ostiary_mfa::RecoveryCodes::generate(self.rng.as_ref(), 10);
        let doc = MethodDoc::RecoveryCodes {
            id: self.new_uuid().to_string(),
            created: self.now().unix_timestamp(),
            hashes: generated.hashes,
        };
        self.add_method(actor, user, doc, Vec::new()).await?;
        Ok(generated.codes)
    }

    /// Uses one recovery code (single use, compare-and-swap).
    pub async fn use_recovery_code(&self, tenant: TenantId, user: ObjectId, input: &str) -> Result<(), MfaError> {
        for (doc, mut entry) in self.method_entries(tenant, user).await? {
            let MethodDoc::RecoveryCodes { id, created, mut hashes } = doc else { continue };
            let Some(i) = ostiary_mfa::recovery::verify(input, &hashes) else { continue };
            hashes.remove(i);
            entry.doc = serde_json::to_value(MethodDoc::RecoveryCodes { id, created, hashes }).unwrap_or(Value::Null);
            return match self.store.kv_apply(tenant, &[KvOp::Update(entry)], false, self.now()).await {
                Ok(()) => {
                    self.metrics.mfa_challenges.inc(&["recovery_code", "success"]);
                    Ok(())
                }
                Err(StoreError::Conflict { .. }) => Err(MfaError::Replayed),
                Err(e) => Err(e.into()),
            };
        }
        self.metrics.mfa_challenges.inc(&["recovery_code", "failure"]);
        Err(MfaError::WrongCode)
    }

    // --- passkeys ----------------------------------------------------------------------------

    fn passkeys_of(docs: &[MethodDoc]) -> Vec<ostiary_mfa::StoredPasskey> {
        docs.iter()
            .filter_map(|d| match d {
                MethodDoc::Fido2 { passkey, .. } => Some((**passkey).clone()),
                _ => None,
            })
            .collect()
    }

    /// Starts passkey registration; returns `(options for the browser, server-side state)`.
    pub async fn start_passkey_registration(
        &self,
        tenant: TenantId,
        user: ObjectId,
        name: &str,
        display_name: &str,
    ) -> Result<(Value, Value), MfaError> {
        let settings = self.tenant_settings(tenant).await?;
        if !self.method_allowed(tenant, user, "fido2").await? {
            return Err(MfaError::NotAllowed);
        }
        let docs = self.methods_of(tenant, user).await?;
        let existing: Vec<String> = Self::passkeys_of(&docs).iter().map(|p| p.credential_id.clone()).collect();
        self.passkeys(&settings.methods_policy)?
            .start_registration(user.as_uuid(), name, display_name, &existing)
            .map_err(|_| MfaError::Passkey)
    }

    pub async fn finish_passkey_registration(
        &self,
        actor: &Actor,
        user: ObjectId,
        state: &Value,
        response: &str,
    ) -> Result<(), MfaError> {
        let settings = self.tenant_settings(actor.tenant).await?;
        let response: Value = serde_json::from_str(response).map_err(|_| MfaError::Passkey)?;
        let mut passkey =
            self.passkeys(&settings.methods_policy)?.finish_registration(state, &response).map_err(|e| {
                tracing::debug!(error = %e, "passkey registration refused");
                MfaError::Passkey
            })?;
        if passkey.user_id != user.as_uuid() {
            return Err(MfaError::Passkey);
        }
        let now = self.now().unix_timestamp();
        passkey.created_at = Some(now);
        let doc = MethodDoc::Fido2 {
            id: self.new_uuid().to_string(),
            created: now,
            display_name: "Passkey".into(),
            aaguid: passkey.aaguid.map(|a| a.to_string()),
            passkey: Box::new(passkey),
        };
        self.add_method(actor, user, doc, Vec::new()).await?;
        self.metrics.mfa_challenges.inc(&["fido2", "success"]);
        Ok(())
    }

    /// Starts a passkey sign-in for a known user (second factor); `None` if they have none.
    pub async fn start_passkey_authentication(
        &self,
        tenant: TenantId,
        user: ObjectId,
    ) -> Result<Option<(Value, Value)>, MfaError> {
        let settings = self.tenant_settings(tenant).await?;
        if !self.method_allowed(tenant, user, "fido2").await? {
            return Ok(None);
        }
        let keys = Self::passkeys_of(&self.methods_of(tenant, user).await?);
        if keys.is_empty() {
            return Ok(None);
        }
        self.passkeys(&settings.methods_policy)?.start_authentication(&keys).map(Some).map_err(|_| MfaError::Passkey)
    }

    /// Starts a username-less passkey sign-in (discoverable credentials).
    pub async fn start_discoverable(&self, tenant: TenantId) -> Result<Option<(Value, Value)>, MfaError> {
        let settings = self.tenant_settings(tenant).await?;
        if !settings.methods_policy.fido2_enabled {
            return Ok(None);
        }
        self.passkeys(&settings.methods_policy)?
            .start_discoverable_authentication()
            .map(Some)
            .map_err(|_| MfaError::Passkey)
    }

    /// Finishes a passkey ceremony. With `user = None` (username-less) the user is the
    /// credential's user handle, and must have registered that credential here.
    pub async fn finish_passkey_authentication(
        &self,
        tenant: TenantId,
        user: Option<ObjectId>,
        state: &Value,
        response: &str,
    ) -> Result<ObjectId, MfaError> {
        let settings = self.tenant_settings(tenant).await?;
        let pk = self.passkeys(&settings.methods_policy)?;
        let response: Value = serde_json::from_str(response).map_err(|_| MfaError::Passkey)?;
        let discoverable = user.is_none();
        let user = match user {
            Some(u) => u,
            None => {
                let (handle, _) = pk.identify_discoverable(&response).map_err(|_| MfaError::Passkey)?;
                ObjectId::from_uuid(handle)
            }
        };
        if !self.method_allowed(tenant, user, "fido2").await? {
            self.metrics.mfa_challenges.inc(&["fido2", "failure"]);
            return Err(MfaError::NotAllowed);
        }
        let entries = self.method_entries(tenant, user).await?;
        let docs: Vec<MethodDoc> = entries.iter().map(|(d, _)| d.clone()).collect();
        let keys = Self::passkeys_of(&docs);
        if keys.is_empty() {
            self.metrics.mfa_challenges.inc(&["fido2", "failure"]);
            return Err(MfaError::Passkey);
        }
        let result = if discoverable {
            pk.finish_discoverable_authentication(state, &response, &keys)
        } else {
            pk.finish_authentication(state, &response)
        };
        let outcome = result.map_err(|e| {
            tracing::debug!(error = %e, "passkey sign-in refused");
            self.metrics.mfa_challenges.inc(&["fido2", "failure"]);
            MfaError::Passkey
        })?;
        // A credential of another user (possible only if webauthn state were mixed up) never counts.
        if !keys.iter().any(|k| k.credential_id == outcome.credential_id && k.user_id == user.as_uuid()) {
            return Err(MfaError::Passkey);
        }
        // Keep the signature counter and backup state current (clone detection).
        for (doc, mut entry) in entries {
            if let MethodDoc::Fido2 { id, created, display_name, aaguid, mut passkey } = doc
                && passkey.credential_id == outcome.credential_id
            {
                if passkey.update_credential(&outcome) {
                    entry.doc = serde_json::to_value(MethodDoc::Fido2 { id, created, display_name, aaguid, passkey })
                        .unwrap_or(Value::Null);
                    let _ = self.store.kv_apply(tenant, &[KvOp::Update(entry)], false, self.now()).await;
                }
                break;
            }
        }
        self.metrics.mfa_challenges.inc(&["fido2", "success"]);
        Ok(user)
    }

    /// Stores WebAuthn ceremony state outside a flow (security-info page), keyed by a random id.
    pub async fn save_ceremony(&self, tenant: TenantId, state: Value) -> Result<String, StoreError> {
        let id = ostiary_crypto::rand::random_token(self.rng.as_ref(), 18);
        let now = self.now();
        let e = KvEntry {
            kind: CEREMONY_KIND.into(),
            key: id.clone(),
            doc: state,
            version: 1,
            expires_at: Some(now + PENDING_LIFETIME),
            user_id: None,
            family_id: None,
        };
        self.store.kv_apply(tenant, &[KvOp::Insert(e)], false, now).await?;
        Ok(id)
    }

    /// Takes (and deletes) ceremony state: each ceremony can be finished once.
    pub async fn take_ceremony(&self, tenant: TenantId, id: &str) -> Result<Option<Value>, StoreError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let now = self.now();
        let Some(e) = self.store.kv_get(tenant, CEREMONY_KIND, id, now).await? else { return Ok(None) };
        match self
            .store
            .kv_apply(tenant, &[KvOp::Delete { kind: CEREMONY_KIND.into(), key: id.into() }], false, now)
            .await
        {
            Ok(()) => Ok(Some(e.doc)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user of this tenant by object id or userPrincipalName (existence only: the caller
    /// checks the permission the operation needs).
    pub async fn resolve_user(&self, tenant: TenantId, key: &str) -> Result<ObjectId, DirError> {
        let found = match key.parse::<ObjectId>() {
            Ok(id) => self.store.get_object(tenant, id).await?,
            Err(_) => self.store.find_by_unique_key(tenant, "upn", &key.to_lowercase()).await?,
        };
        match found {
            Some(ostiary_model::DirectoryObject::User(u)) => Ok(u.id),
            _ => Err(DirError::NotFound(format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ))),
        }
    }

    // --- removal -----------------------------------------------------------------------------

    /// Deletes one method (`id`), or every method (`None`: an admin reset). Audited as the user's
    /// own change or an admin's.
    pub async fn delete_methods(&self, actor: &Actor, user: ObjectId, id: Option<&str>) -> Result<usize, DirError> {
        let tenant = actor.tenant;
        let entries = self.method_entries(tenant, user).await?;
        let chosen: Vec<&(MethodDoc, KvEntry)> =
            entries.iter().filter(|(d, _)| id.is_none_or(|want| d.id() == want)).collect();
        if chosen.is_empty() && id.is_some() {
            return Err(DirError::NotFound("The authentication method does not exist.".into()));
        }
        let by_self = actor.user_id == Some(user) && actor.app_id.is_none();
        let name = match (id, by_self) {
            (None, _) => "Admin reset security info",
            (Some(_), true) => "User deleted security info",
            (Some(_), false) => "Admin deleted security info",
        };
        let mut ops: Vec<KvOp> =
            chosen.iter().map(|(_, e)| KvOp::Delete { kind: METHOD_KIND.into(), key: e.key.clone() }).collect();
        let mut target = Target::new(user.to_string(), "User");
        target.display_name = Some(chosen.iter().map(|(d, _)| d.method()).collect::<Vec<_>>().join(", "));
        let activity = Activity::new(name, "UserManagement", "Delete").target(target);
        ops.push(self.audit_op(actor, &activity));
        self.store.kv_apply(tenant, &ops, false, self.now()).await?;
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(chosen.len())
    }
}
