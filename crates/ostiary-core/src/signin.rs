//! Interactive sign-in state: pending authorization flows (what the browser asked for, bound
//! to the browser by a cookie hash and a CSRF token), password verification with smart lockout,
//! and SSO sessions. All of it lives in the KV store, so any node can continue any flow.

use crate::Core;
use ostiary_crypto::digest::{ct_eq, sha256};
use ostiary_model::{DirectoryObject, ObjectId, TenantId, User};
use ostiary_store::{KvEntry, KvOp, StoreError};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a user has to finish signing in after `/authorize`.
pub const FLOW_LIFETIME: Duration = Duration::minutes(15);

/// Hash used as the store key of a bearer secret (cookie, code, refresh token, device code).
pub fn secret_key(secret: &str) -> String {
    ostiary_crypto::b64::url_encode(&sha256(secret.as_bytes()))
}

/// What an `/authorize` request (or a device-code approval) is waiting to complete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingFlow {
    pub client_id: uuid::Uuid,
    pub app_name: String,
    pub redirect_uri: String,
    /// "web", "spa" or "publicClient".
    pub platform: String,
    /// "query", "fragment" or "form_post".
    pub response_mode: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// "login", "none", "consent", "select_account".
    pub prompt: Option<String>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub client_info: bool,
    /// Form CSRF token.
    pub csrf: String,
    /// SHA-256 of the browser-binding cookie: a flow can only be continued by the browser that started it.
    pub browser: String,
    /// Set once the user has authenticated within this flow.
    pub user_id: Option<ObjectId>,
    pub auth_time: Option<i64>,
    /// Device-code flows: the user code being approved.
    pub device_user_code: Option<String>,
    /// The user must change the password before the flow continues.
    pub must_change_password: bool,
    /// Authentication methods proven in this flow (or by the SSO session it used).
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub mfa_time: Option<i64>,
    /// Server-side WebAuthn ceremony state (never sent to the browser).
    #[serde(default)]
    pub webauthn_state: Option<serde_json::Value>,
    /// The primary authentication whose sign-in record is still to be written once Conditional
    /// Access has decided ("Password", "Passkey", "Previously satisfied").
    #[serde(default)]
    pub log_pending: Option<String>,
    /// An MFA interrupt (AADSTS50074) was already recorded for this flow.
    #[serde(default)]
    pub interrupt_logged: bool,
    /// The user changed the password in this flow after proving a second factor (risk remediation).
    #[serde(default)]
    pub secure_password_change: bool,
    /// Identity Protection's sign-in risk for this attempt and the detections behind it.
    #[serde(default)]
    pub sign_in_risk: Option<String>,
    #[serde(default)]
    pub risk_events: Vec<String>,
    /// The user chose "Not now" on a registration campaign.
    #[serde(default)]
    pub campaign_snoozed: bool,
    /// Show freshly generated recovery codes before continuing.
    #[serde(default)]
    pub show_recovery_codes: bool,
    /// Store key of the SSO session this flow signed in (the `persistentBrowser` control marks it).
    #[serde(default)]
    pub session_key: Option<String>,
    /// A SAML sign-in: the application, request and RelayState the Response answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<crate::saml::SamlFlow>,
    /// The second factor proven in this flow (for the sign-in record; the session's earlier
    /// factors are "Previously satisfied").
    #[serde(default)]
    pub second_factor_in_flow: Option<String>,
}

/// An SSO session, keyed by the hash of its cookie value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user_id: ObjectId,
    pub auth_time: i64,
    pub created: i64,
    pub last_seen: i64,
    /// Client ids signed in through this session (front-channel logout targets).
    pub apps: Vec<String>,
    /// Methods proven in this session; an SSO sign-in inherits them (MFA once per session).
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub mfa_time: Option<i64>,
    /// `persistentBrowser` session control: the cookie outlives the browser only when allowed.
    #[serde(default)]
    pub persistent: bool,
    /// SAML applications signed in through this session (single-logout targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saml: Vec<crate::saml::SamlParticipant>,
    /// The session's store key (not stored: filled in when the session is read).
    #[serde(skip)]
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignInError {
    /// AADSTS50126, deliberately the same for unknown users and wrong passwords.
    #[error("Your account or password is incorrect.")]
    InvalidCredentials,
    /// AADSTS50053: also shown for unknown usernames, so lockout never reveals an account.
    #[error("Your account is temporarily locked to prevent unauthorized use. Try again later.")]
    Locked,
    /// AADSTS50057.
    #[error("Your account has been disabled. Contact your administrator.")]
    Disabled,
    #[error("The service is temporarily unavailable.")]
    Unavailable,
}

impl SignInError {
    pub fn aadsts(&self) -> u32 {
        match self {
            SignInError::InvalidCredentials => 50126,
            SignInError::Locked => 50053,
            SignInError::Disabled => 50057,
            SignInError::Unavailable => 90033,
        }
    }
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error during sign-in");
        SignInError::Unavailable
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Lockout {
    failures: u32,
    lockouts: u32,
    locked_until: i64,
}

fn entry(kind: &str, key: String, doc: serde_json::Value, expires_at: Option<OffsetDateTime>) -> KvEntry {
    KvEntry { kind: kind.into(), key, doc, version: 1, expires_at, user_id: None, family_id: None }
}

fn to_doc<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl Core {
    /// Stores a pending flow; returns its id (random, unguessable).
    pub async fn start_flow(&self, tenant: TenantId, flow: &PendingFlow) -> Result<String, StoreError> {
        let id = ostiary_crypto::rand::random_token(self.rng.as_ref(), 18);
        let now = self.now();
        self.store
            .kv_apply(
                tenant,
                &[KvOp::Insert(entry("flow", id.clone(), to_doc(flow), Some(now + FLOW_LIFETIME)))],
                false,
                now,
            )
            .await?;
        Ok(id)
    }

    /// Loads a flow and checks that it belongs to this browser (and, for form posts, the CSRF token).
    pub async fn load_flow(
        &self,
        tenant: TenantId,
        id: &str,
        browser_cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<Option<(PendingFlow, KvEntry)>, StoreError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let Some(e) = self.store.kv_get(tenant, "flow", id, self.now()).await? else { return Ok(None) };
        let Ok(flow) = serde_json::from_value::<PendingFlow>(e.doc.clone()) else { return Ok(None) };
        let bound = browser_cookie.is_some_and(|c| ct_eq(secret_key(c).as_bytes(), flow.browser.as_bytes()));
        let csrf_ok = csrf.is_none_or(|c| ct_eq(c.as_bytes(), flow.csrf.as_bytes()));
        if !bound || !csrf_ok {
            return Ok(None);
        }
        Ok(Some((flow, e)))
    }

    /// Saves changes to a flow (compare-and-swap: a double-submitted form cannot act twice).
    pub async fn save_flow(&self, tenant: TenantId, mut e: KvEntry, flow: &PendingFlow) -> Result<bool, StoreError> {
        e.doc = to_doc(flow);
        match self.store.kv_apply(tenant, &[KvOp::Update(e)], false, self.now()).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    pub async fn end_flow(&self, tenant: TenantId, id: &str) -> Result<(), StoreError> {
        self.store.kv_apply(tenant, &[KvOp::Delete { kind: "flow".into(), key: id.into() }], false, self.now()).await
    }

    /// Verifies a password with Argon2 on the bounded blocking pool.
    pub async fn verify_password(&self, password: String, phc: String) -> bool {
        let Ok(_permit) = self.hash_permit().await else { return false };
        let password = ostiary_crypto::secret::Secret::new(password);
        tokio::task::spawn_blocking(move || ostiary_crypto::password::verify_password(password.expose(), &phc))
            .await
            .unwrap_or(false)
    }

    /// Username/password sign-in with smart lockout. Counters are kept per username (hashed,
    /// whether or not the account exists) and per kind of source: a source from which the
    /// account signed in successfully before is "familiar", so an attacker elsewhere cannot
    /// lock the user out of their usual location.
    pub async fn password_sign_in(
        &self,
        tenant: TenantId,
        username: &str,
        password: &str,
        source_ip: &str,
    ) -> Result<User, SignInError> {
        let now = self.now();
        let settings = self.tenant_settings(tenant).await?;
        let name = username.trim().to_lowercase();
        let name_key = secret_key(&format!("{tenant}/{name}"));
        let familiar_key = format!("{name_key}:{}", secret_key(source_ip));
        let familiar = self.store.kv_get(tenant, "familiar", &familiar_key, now).await?.is_some();
        let lock_key = format!("{name_key}:{}", if familiar { "familiar" } else { "unfamiliar" });
        let lock_entry = self.store.kv_get(tenant, "lockout", &lock_key, now).await?;
        let mut lock: Lockout =
            lock_entry.as_ref().and_then(|e| serde_json::from_value(e.doc.clone()).ok()).unwrap_or_default();
        if lock.locked_until > now.unix_timestamp() {
            return Err(SignInError::Locked);
        }

        let user = match self.store.find_by_unique_key(tenant, "upn", &name).await? {
            Some(DirectoryObject::User(u)) => Some(u),
            _ => None,
        };
        // Unknown users cost the same Argon2 work as known ones, so timing does not enumerate.
        let phc = user.as_ref().and_then(|u| u.password_hash.clone()).unwrap_or_else(|| self.dummy_hash().to_string());
        let ok = self.verify_password(password.to_string(), phc).await
            && user.as_ref().is_some_and(|u| u.password_hash.is_some());

        if !ok {
            lock.failures += 1;
            if lock.failures >= settings.lockout_threshold.max(1) {
                let factor = 1i64 << lock.lockouts.min(10);
                lock.locked_until = now.unix_timestamp() + settings.lockout_duration_secs * factor;
                lock.lockouts += 1;
                lock.failures = 0;
                self.metrics.account_lockouts.inc(&[&tenant.to_string()]);
            }
            let op = match lock_entry {
                Some(mut e) => {
                    e.doc = to_doc(&lock);
                    e.expires_at = Some(now + Duration::days(1));
                    KvOp::Update(e)
                }
                None => KvOp::Insert(entry("lockout", lock_key, to_doc(&lock), Some(now + Duration::days(1)))),
            };
            // A lost race only loses one count; it never admits the attacker.
            let _ = self.store.kv_apply(tenant, &[op], false, now).await;
            return Err(if lock.locked_until > now.unix_timestamp() {
                SignInError::Locked
            } else {
                SignInError::InvalidCredentials
            });
        }
        let Some(user) = user else { return Err(SignInError::InvalidCredentials) };
        if !user.account_enabled {
            return Err(SignInError::Disabled);
        }
        let mut ops = vec![KvOp::Delete { kind: "lockout".into(), key: lock_key }];
        ops.push(KvOp::Delete { kind: "familiar".into(), key: familiar_key.clone() });
        ops.push(KvOp::Insert(entry("familiar", familiar_key, serde_json::json!({}), Some(now + Duration::days(90)))));
        self.store.kv_apply(tenant, &ops, false, now).await?;
        Ok(user)
    }

    /// A valid Argon2 hash of a random password, computed once, for the unknown-user path.
    fn dummy_hash(&self) -> &str {
        self.dummy_hash
            .get_or_init(|| {
                let pw = ostiary_crypto::rand::random_token(self.rng.as_ref(), 16);
                ostiary_crypto::password::hash_password(&pw, &self.config.password_params, self.rng.as_ref())
                    .unwrap_or_default()
            })
            .as_str()
    }

    /// Starts a session for `user`; returns the cookie value (shown to the browser only).
    pub async fn create_session(
        &self,
        tenant: TenantId,
        user: ObjectId,
        auth_time: i64,
        app: Option<&str>,
        methods: &[String],
    ) -> Result<String, StoreError> {
        let now = self.now();
        let settings = self.tenant_settings(tenant).await?;
        let cookie = ostiary_crypto::rand::random_token(self.rng.as_ref(), 32);
        let s = Session {
            user_id: user,
            auth_time,
            created: now.unix_timestamp(),
            last_seen: now.unix_timestamp(),
            apps: app.map(|a| vec![a.to_string()]).unwrap_or_default(),
            methods: methods.to_vec(),
            mfa_time: None,
            persistent: false,
            saml: Vec::new(),
            key: String::new(),
        };
        let mut e = entry("session", secret_key(&cookie), to_doc(&s), Some(session_expiry(&s, &settings)));
        e.user_id = Some(user);
        self.store.kv_apply(tenant, &[KvOp::Insert(e)], false, now).await?;
        Ok(cookie)
    }

    /// Adds methods proven later in the flow (a second factor) to the browser's session, so
    /// single sign-on to other apps carries them. Only the session of the same user is touched.
    pub async fn session_add_methods(
        &self,
        tenant: TenantId,
        cookie: &str,
        user: ObjectId,
        methods: &[String],
        mfa_time: Option<i64>,
    ) -> Result<(), StoreError> {
        if cookie.is_empty() || cookie.len() > 128 {
            return Ok(());
        }
        let now = self.now();
        let Some(mut e) = self.store.kv_get(tenant, "session", &secret_key(cookie), now).await? else { return Ok(()) };
        let Ok(mut s) = serde_json::from_value::<Session>(e.doc.clone()) else { return Ok(()) };
        if s.user_id != user {
            return Ok(());
        }
        for m in methods {
            if !s.methods.contains(m) {
                s.methods.push(m.clone());
            }
        }
        if mfa_time.is_some() {
            s.mfa_time = mfa_time;
        }
        e.doc = to_doc(&s);
        match self.store.kv_apply(tenant, &[KvOp::Update(e)], false, now).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Applies the `persistentBrowser` session control to a session (by store key).
    pub async fn session_set_persistent(
        &self,
        tenant: TenantId,
        key: &str,
        persistent: bool,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let Some(mut e) = self.store.kv_get(tenant, "session", key, now).await? else { return Ok(()) };
        let Ok(mut s) = serde_json::from_value::<Session>(e.doc.clone()) else { return Ok(()) };
        if s.persistent == persistent {
            return Ok(());
        }
        s.persistent = persistent;
        e.doc = to_doc(&s);
        match self.store.kv_apply(tenant, &[KvOp::Update(e)], false, now).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The live session for a cookie, refreshing its idle timer (at most once a minute) and
    /// recording `app` for front-channel logout.
    pub async fn session(
        &self,
        tenant: TenantId,
        cookie: &str,
        app: Option<&str>,
    ) -> Result<Option<Session>, StoreError> {
        if cookie.is_empty() || cookie.len() > 128 {
            return Ok(None);
        }
        let now = self.now();
        let Some(mut e) = self.store.kv_get(tenant, "session", &secret_key(cookie), now).await? else {
            return Ok(None);
        };
        let Ok(mut s) = serde_json::from_value::<Session>(e.doc.clone()) else { return Ok(None) };
        s.key = e.key.clone();
        let new_app = app.filter(|a| !s.apps.iter().any(|x| x == a));
        if new_app.is_some() || now.unix_timestamp() - s.last_seen >= 60 {
            if let Some(a) = new_app {
                s.apps.push(a.to_string());
            }
            s.last_seen = now.unix_timestamp();
            let settings = self.tenant_settings(tenant).await?;
            e.doc = to_doc(&s);
            e.expires_at = Some(session_expiry(&s, &settings));
            // Losing a concurrent touch is harmless.
            let _ = self.store.kv_apply(tenant, &[KvOp::Update(e)], false, now).await;
        }
        Ok(Some(s))
    }

    pub async fn end_session(&self, tenant: TenantId, cookie: &str) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        let key = secret_key(cookie);
        let found = self.store.kv_get(tenant, "session", &key, now).await?;
        self.store.kv_apply(tenant, &[KvOp::Delete { kind: "session".into(), key }], false, now).await?;
        Ok(found.and_then(|e| serde_json::from_value(e.doc).ok()))
    }
}

fn session_expiry(s: &Session, settings: &crate::settings::TenantSettings) -> OffsetDateTime {
    let end = (s.created + settings.session_lifetime_secs).min(s.last_seen + settings.session_idle_secs);
    OffsetDateTime::from_unix_timestamp(end).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A small built-in list of passwords too common to allow (tenants add their own).
const BANNED: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "qwerty123",
    "123456789",
    "12345678",
    "letmein1",
    "welcome1",
    "welcome123",
    "iloveyou1",
    "admin123",
    "changeme",
    "changeme1",
    "summer2026",
    "winter2026",
];

impl Core {
    /// The tenant's password rules: Entra complexity, minimum length, banned passwords (built-in
    /// and tenant list, compared case-insensitively, also with the tenant name removed), no
    /// silent truncation (Argon2 takes the whole password; over 256 characters is refused).
    pub async fn check_password(&self, tenant: TenantId, password: &str) -> Result<(), crate::DirError> {
        crate::directory::check_password_policy(password)?;
        let settings = self.tenant_settings(tenant).await?;
        if password.chars().count() < settings.password_min_length {
            return Err(crate::DirError::bad(format!(
                "The password must have at least {} characters.",
                settings.password_min_length
            )));
        }
        let lower = password.to_lowercase();
        let banned =
            BANNED.iter().map(|s| s.to_string()).chain(settings.banned_passwords.iter().map(|s| s.to_lowercase()));
        for b in banned {
            if !b.is_empty() && (lower == b || (b.len() >= 5 && lower.contains(&b))) {
                return Err(crate::DirError::bad(
                    "The password contains a word or phrase that is not allowed. Choose a different password.",
                ));
            }
        }
        Ok(())
    }

    /// Self-service password change (and the forced change during sign-in). The message of
    /// the error is shown on the page.
    pub async fn change_own_password(
        &self,
        tenant: TenantId,
        user_id: ObjectId,
        current: &str,
        new: &str,
        ctx: crate::logs::RequestContext,
    ) -> Result<(), String> {
        let unavailable = || "The service is temporarily unavailable. Try again.".to_string();
        let Ok(Some(DirectoryObject::User(mut user))) = self.store.get_object(tenant, user_id).await else {
            return Err(unavailable());
        };
        let Some(phc) = user.password_hash.clone() else {
            return Err("Your account cannot change its password here.".into());
        };
        if !self.verify_password(current.to_string(), phc).await {
            return Err("Your current password is incorrect.".into());
        }
        if current == new {
            return Err("Your new password must be different from your current password.".into());
        }
        self.check_password(tenant, new).await.map_err(|e| e.to_string())?;
        let hash = self.hash_password(new.to_string()).await.map_err(|_| unavailable())?;
        user.password_hash = Some(hash);
        user.force_change_password_next_sign_in = false;
        user.last_password_change_date_time = Some(self.now_seconds());
        let actor = crate::audit::Actor::user(tenant, user_id, &user.user_principal_name, ctx);
        let mut cs = ostiary_store::ChangeSet::one(ostiary_store::Change::UpdateObject(DirectoryObject::User(user)));
        let activity = crate::audit::Activity::new("Change user password", "UserManagement", "Update")
            .target(crate::audit::Target::new(user_id.to_string(), "User"));
        cs.audit.push(activity.to_record(&actor, self.new_uuid(), self.now()));
        self.store.commit(tenant, &cs).await.map_err(|_| unavailable())?;
        self.cache.invalidate(tenant);
        self.audit_committed(std::slice::from_ref(&activity));
        Ok(())
    }
}
