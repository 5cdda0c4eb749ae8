//! Per-tenant settings that shape sign-in: branding, password policy, consent policy, session
//! and refresh-token lifetimes. Stored as one KV entry that bumps the tenant version, so the
//! tenant cache (and every node) picks changes up.

use crate::Core;
use ostiary_model::TenantId;
use ostiary_store::{KvEntry, KvOp, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSettings {
    /// Graph organizationalBranding-like fields.
    pub sign_in_page_text: Option<String>,
    /// Accent colour `#rrggbb` (Graph: `backgroundColor`).
    pub background_color: Option<String>,
    /// An https logo URL (Ostiary extension; Graph uploads logo streams instead).
    pub banner_logo_url: Option<String>,
    pub password_min_length: usize,
    /// Tenant-specific banned passwords, compared case-insensitively (in addition to the built-in list).
    pub banned_passwords: Vec<String>,
    /// Whether users may consent to apps themselves (Entra's default user consent setting).
    pub users_can_consent: bool,
    /// Absolute lifetime of a sign-in session, seconds.
    pub session_lifetime_secs: i64,
    /// A session unused this long ends, seconds.
    pub session_idle_secs: i64,
    /// Refresh tokens unused this long expire (sliding), seconds.
    pub refresh_inactive_secs: i64,
    /// No refresh token outlives this from the sign-in that started its family, seconds.
    pub refresh_absolute_secs: i64,
    /// Smart lockout: failures before a lockout.
    pub lockout_threshold: u32,
    /// First lockout duration, seconds; doubles with each further lockout.
    pub lockout_duration_secs: i64,
    /// Emergency-access ("break-glass") accounts: named by the lockout guard and What-If.
    pub emergency_access_accounts: Vec<ostiary_model::ObjectId>,
    /// Authentication methods policy: which methods users may register and use.
    pub methods_policy: MethodsPolicy,
}

/// Graph `authenticationMethodsPolicy`, reduced to what Ostiary enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MethodsPolicy {
    /// Authenticator apps (`softwareOath`).
    pub software_oath_enabled: bool,
    /// Passkeys (`fido2`).
    pub fido2_enabled: bool,
    /// Attestation: `none` (any authenticator), or `direct` with `fido2_allowed_aaguids`.
    pub fido2_enforce_attestation: bool,
    pub fido2_allowed_aaguids: Vec<String>,
    /// Who may register and use each method: groups (transitive); empty = all users.
    pub software_oath_groups: Vec<ostiary_model::ObjectId>,
    pub fido2_groups: Vec<ostiary_model::ObjectId>,
    /// Registration campaign: users without a second factor are asked to register one at sign-in.
    pub campaign_enabled: bool,
    /// Groups the campaign targets (empty: all users).
    pub campaign_groups: Vec<ostiary_model::ObjectId>,
    /// Users may postpone ("Not now") this many days; 0 = registration is enforced.
    pub campaign_snooze_days: u32,
}

impl Default for MethodsPolicy {
    fn default() -> Self {
        MethodsPolicy {
            software_oath_enabled: true,
            fido2_enabled: true,
            fido2_enforce_attestation: false,
            fido2_allowed_aaguids: Vec::new(),
            software_oath_groups: Vec::new(),
            fido2_groups: Vec::new(),
            campaign_enabled: false,
            campaign_groups: Vec::new(),
            campaign_snooze_days: 1,
        }
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            sign_in_page_text: None,
            background_color: None,
            banner_logo_url: None,
            password_min_length: 8,
            banned_passwords: Vec::new(),
            users_can_consent: true,
            session_lifetime_secs: 24 * 3600,
            session_idle_secs: 8 * 3600,
            refresh_inactive_secs: 14 * 24 * 3600,
            refresh_absolute_secs: 90 * 24 * 3600,
            lockout_threshold: 10,
            lockout_duration_secs: 60,
            emergency_access_accounts: Vec::new(),
            methods_policy: MethodsPolicy::default(),
        }
    }
}

const KIND: &str = "settings";
const KEY: &str = "tenant";

impl Core {
    /// The tenant's settings, from the tenant cache (the sign-in and refresh paths read them
    /// on every request).
    pub async fn tenant_settings(&self, tenant: TenantId) -> Result<TenantSettings, StoreError> {
        match self.tenant_state(tenant).await {
            Ok(state) => Ok(state.settings.clone()),
            Err(_) => self.load_tenant_settings(tenant).await,
        }
    }

    /// Reads the settings from the store (cache loads and fallbacks).
    pub async fn load_tenant_settings(&self, tenant: TenantId) -> Result<TenantSettings, StoreError> {
        let entry = self.store.kv_get(tenant, KIND, KEY, self.now()).await?;
        Ok(entry.and_then(|e| serde_json::from_value(e.doc).ok()).unwrap_or_default())
    }

    /// Replaces the settings (read-modify-write with compare-and-swap against concurrent admins).
    /// Applies `f` to the tenant's settings, audited as `activity` ("Update company settings",
    /// "Update authorization policy", ...) in the same transaction.
    pub async fn update_tenant_settings<F>(
        &self,
        actor: &crate::audit::Actor,
        activity: &str,
        f: F,
    ) -> Result<TenantSettings, crate::DirError>
    where
        F: FnOnce(&mut TenantSettings) -> Result<(), crate::DirError>,
    {
        let tenant = actor.tenant;
        let now = self.now();
        let current = self.store.kv_get(tenant, KIND, KEY, now).await?;
        let mut settings: TenantSettings =
            current.as_ref().and_then(|e| serde_json::from_value(e.doc.clone()).ok()).unwrap_or_default();
        let before = serde_json::to_value(&settings).unwrap_or_default();
        f(&mut settings)?;
        let doc = serde_json::to_value(&settings).map_err(|e| crate::DirError::Internal(e.to_string()))?;
        let doc_after = doc.clone();
        let op = match current {
            Some(mut e) => {
                e.doc = doc;
                KvOp::Update(e)
            }
            None => KvOp::Insert(KvEntry {
                kind: KIND.into(),
                key: KEY.into(),
                doc,
                version: 1,
                expires_at: None,
                user_id: None,
                family_id: None,
            }),
        };
        let mut target = crate::audit::Target::new(tenant.to_string(), "Directory");
        if let (Some(old), Some(new)) = (before.as_object(), doc_after.as_object()) {
            target.modified = crate::audit::diff(old, new);
        }
        let activity = crate::audit::Activity::new(activity, "Policy", "Update").target(target);
        let ops = [op, self.audit_op(actor, &activity)];
        self.store.kv_apply(tenant, &ops, true, now).await.map_err(|e| match e {
            StoreError::Conflict { .. } => {
                crate::DirError::Conflict("The settings were changed concurrently; retry.".into())
            }
            other => other.into(),
        })?;
        self.cache.invalidate(tenant);
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(settings)
    }
}
