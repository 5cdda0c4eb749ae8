//! Identity Protection in the directory: runs the pure detections of `ostiary-risk` on each
//! interactive password sign-in, keeps their state (per-user profile, per-source and per-account
//! failure windows) in the KV store, stores detections as Graph `riskDetection`s, aggregates them
//! into `riskyUser`s, and applies the admin and self-remediation transitions, audited.

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use crate::auth::{Caller, Permission};
use crate::error::DirError;
use crate::logs::{RequestContext, RiskInfo};
use ostiary_model::{DirectoryObject, ObjectId, TenantId, User};
use ostiary_risk::{RiskLevel, RiskState};
use ostiary_store::{KvEntry, KvOp, KvSelect, StoreError};
use serde_json::{Value, json};
use time::Duration;

pub const DETECTION_KIND: &str = "riskDetection";
pub const RISKY_USER_KIND: &str = "riskyUser";
const PROFILE_KIND: &str = "riskProfile";
const SOURCE_KIND: &str = "riskSource";
const ACCOUNT_KIND: &str = "riskAccount";
/// Entra keeps detections for 90 days.
const DETECTION_LIFETIME: Duration = Duration::days(90);
/// Failure windows are minutes long; a day bounds a forgotten window.
const WINDOW_LIFETIME: Duration = Duration::days(1);

/// Identity Protection's settings: thresholds and IP lists, and the breached-password list.
#[derive(Debug, Default)]
pub struct Protection {
    pub config: ostiary_risk::RiskConfig,
    pub breached: Option<ostiary_risk::BreachedPasswords>,
}

/// What Identity Protection concluded about one attempt.
#[derive(Debug, Clone)]
pub struct RiskOutcome {
    pub log: RiskInfo,
}

fn level_of(v: &Value) -> RiskLevel {
    v.get("riskLevel").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default()
}

fn state_of(v: &Value) -> RiskState {
    v.get("riskState").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default()
}

fn kv(kind: &str, key: String, doc: Value, expires: Option<time::OffsetDateTime>, user: Option<ObjectId>) -> KvEntry {
    KvEntry { kind: kind.into(), key, doc, version: 1, expires_at: expires, user_id: user, family_id: None }
}

impl Core {
    /// Installs Identity Protection's configuration (at startup).
    pub fn set_protection(&self, p: Protection) -> bool {
        self.protection.set(p).is_ok()
    }

    fn protection(&self) -> &Protection {
        self.protection.get_or_init(Protection::default)
    }

    /// The user's aggregated risk level (`none` unless at risk or confirmed compromised).
    pub async fn user_risk_level(&self, tenant: TenantId, user: ObjectId) -> Result<String, StoreError> {
        let Some(e) = self.store.kv_get(tenant, RISKY_USER_KIND, &user.to_string(), self.now()).await? else {
            return Ok("none".into());
        };
        Ok(match state_of(&e.doc) {
            RiskState::AtRisk | RiskState::ConfirmedCompromised => level_of(&e.doc).as_str().to_string(),
            _ => "none".into(),
        })
    }

    async fn load_state<T: serde::de::DeserializeOwned + Default>(
        &self,
        tenant: TenantId,
        kind: &str,
        key: &str,
    ) -> Result<(T, Option<KvEntry>), StoreError> {
        let e = self.store.kv_get(tenant, kind, key, self.now()).await?;
        let v = e.as_ref().and_then(|e| serde_json::from_value(e.doc.clone()).ok()).unwrap_or_default();
        Ok((v, e))
    }

    fn upsert(&self, existing: Option<KvEntry>, fresh: KvEntry) -> KvOp {
        match existing {
            Some(mut e) => {
                e.doc = fresh.doc;
                e.expires_at = fresh.expires_at;
                KvOp::Update(e)
            }
            None => KvOp::Insert(fresh),
        }
    }

    /// Runs the detections for one interactive password attempt and records the outcome.
    /// `failure` is the attempt's AADSTS code (None on success). Errors are logged, never
    /// returned: Identity Protection must not make sign-in fail.
    pub async fn assess_sign_in_risk(
        &self,
        tenant: TenantId,
        username: &str,
        user: Option<&User>,
        password: &str,
        ctx: &RequestContext,
        failure: Option<u32>,
    ) -> Option<RiskOutcome> {
        match self.assess_inner(tenant, username, user, password, ctx, failure).await {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %e, "identity protection could not assess a sign-in");
                None
            }
        }
    }

    async fn assess_inner(
        &self,
        tenant: TenantId,
        username: &str,
        user: Option<&User>,
        password: &str,
        ctx: &RequestContext,
        failure: Option<u32>,
    ) -> Result<RiskOutcome, StoreError> {
        // A failed attempt does not identify its user to the caller (the sign-in page must not
        // reveal whether an account exists), but detections are per user: a spray or brute
        // force against a real account must flag that account.
        let named;
        let user = match user {
            Some(u) => Some(u),
            None => {
                named = match self.store.find_by_unique_key(tenant, "upn", &username.trim().to_lowercase()).await? {
                    Some(DirectoryObject::User(u)) => Some(u),
                    _ => None,
                };
                named.as_ref()
            }
        };
        let p = self.protection();
        let cfg = &p.config;
        let now = self.now();
        let (browser, os) = ctx.user_agent.as_deref().map(crate::logs::device_from_user_agent).unwrap_or(("", ""));
        let attempt = ostiary_risk::Attempt {
            time: now.unix_timestamp(),
            user: user.map(|u| u.id.as_uuid()),
            account_key: username.trim().to_lowercase(),
            ip: ctx.ip.as_deref().and_then(|i| i.parse().ok()),
            country: self.country_of(ctx.ip.as_deref()),
            coordinates: None,
            client: format!("{browser}|{os}"),
            success: failure.is_none(),
            failure_code: failure,
            interactive: true,
        };
        let source_key = crate::signin::secret_key(&format!("{tenant}/{}", ctx.ip.as_deref().unwrap_or("")));
        let account_key = crate::signin::secret_key(&format!("{tenant}/{}", attempt.account_key));
        let (mut source, source_e): (ostiary_risk::SourceWindow, _) =
            self.load_state(tenant, SOURCE_KIND, &source_key).await?;
        let (mut account, account_e): (ostiary_risk::AccountWindow, _) =
            self.load_state(tenant, ACCOUNT_KIND, &account_key).await?;
        let (mut profile, profile_e): (ostiary_risk::UserProfile, _) = match user {
            Some(u) => self.load_state(tenant, PROFILE_KIND, &u.id.to_string()).await?,
            None => (ostiary_risk::UserProfile::default(), None),
        };
        let breached = failure.is_none() && p.breached.as_ref().is_some_and(|b| b.contains(password));
        let detections = ostiary_risk::assess(&attempt, &profile, &source, &account, cfg, breached);
        if user.is_some() && failure.is_none() {
            profile.observe(&attempt, cfg);
        }
        source.record(&attempt, cfg);
        account.record(&attempt, cfg);
        let expires = Some(now + WINDOW_LIFETIME);
        let mut ops = Vec::new();
        if attempt.ip.is_some() {
            let doc = serde_json::to_value(&source).unwrap_or(Value::Null);
            ops.push(self.upsert(source_e, kv(SOURCE_KIND, source_key, doc, expires, None)));
        }
        let doc = serde_json::to_value(&account).unwrap_or(Value::Null);
        ops.push(self.upsert(account_e, kv(ACCOUNT_KIND, account_key, doc, expires, None)));
        if let Some(u) = user
            && failure.is_none()
        {
            let doc = serde_json::to_value(&profile).unwrap_or(Value::Null);
            ops.push(self.upsert(profile_e, kv(PROFILE_KIND, u.id.to_string(), doc, None, Some(u.id))));
        }
        // A concurrent attempt updated the same window: its count wins, ours is lost (a
        // detection threshold is then reached one attempt later, never earlier).
        match self.store.kv_apply(tenant, &ops, false, now).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
        let during = ostiary_risk::sign_in_risk(&detections);
        let mut affected: Vec<ObjectId> = Vec::new();
        if !detections.is_empty() {
            let mut ops = Vec::new();
            for d in &detections {
                let id = self.new_uuid().to_string();
                let uid = ObjectId::from_uuid(d.user_id);
                // The user's names (another spray victim is looked up).
                let (upn, display) = match user.filter(|u| u.id.as_uuid() == d.user_id) {
                    Some(u) => (Some(u.user_principal_name.clone()), Some(u.display_name.clone())),
                    None => match self.store.get_object(tenant, uid).await? {
                        Some(DirectoryObject::User(u)) => (Some(u.user_principal_name), Some(u.display_name)),
                        _ => (None, None),
                    },
                };
                let when =
                    |t: i64| time::OffsetDateTime::from_unix_timestamp(t).map(crate::ids::rfc3339).unwrap_or_default();
                let doc = json!({
                    "id": id,
                    "requestId": ctx.correlation_id,
                    "correlationId": ctx.correlation_id,
                    "riskEventType": d.event_type.as_str(),
                    "riskState": "atRisk",
                    "riskLevel": d.level.as_str(),
                    "riskDetail": "none",
                    "source": "IdentityProtection",
                    "detectionTimingType": d.timing.as_str(),
                    "activity": "signin",
                    "tokenIssuerType": "AzureAD",
                    "ipAddress": d.ip.map(|i| i.to_string()),
                    "location": { "countryOrRegion": attempt.country, "city": null, "state": null, "geoCoordinates": null },
                    "activityDateTime": when(d.activity_time),
                    "detectedDateTime": crate::ids::rfc3339(now),
                    "lastUpdatedDateTime": crate::ids::rfc3339(now),
                    "userId": d.user_id.to_string(),
                    "userDisplayName": display,
                    "userPrincipalName": upn.unwrap_or_else(|| d.account_key.clone()),
                    "additionalInfo": d.additional_info,
                });
                ops.push(KvOp::Insert(kv(DETECTION_KIND, id, doc, Some(now + DETECTION_LIFETIME), Some(uid))));
                if !affected.contains(&uid) {
                    affected.push(uid);
                }
            }
            self.store.kv_apply(tenant, &ops, false, now).await?;
            for uid in &affected {
                self.refresh_risky_user(tenant, *uid, None).await?;
            }
        }
        let aggregated = match user {
            Some(u) => self.user_risk_level(tenant, u.id).await?,
            None => "none".into(),
        };
        let event_types: Vec<String> = detections
            .iter()
            .filter(|d| Some(d.user_id) == user.map(|u| u.id.as_uuid()))
            .map(|d| d.event_type.as_str().to_string())
            .collect();
        Ok(RiskOutcome {
            log: RiskInfo {
                during: during.as_str().into(),
                aggregated,
                state: if event_types.is_empty() { "none".into() } else { "atRisk".into() },
                detail: "none".into(),
                event_types,
            },
        })
    }

    /// Recomputes a user's `riskyUser` from their detections; `override_state` applies an admin
    /// or remediation decision (state and detail) to the user and to their open detections.
    async fn refresh_risky_user(
        &self,
        tenant: TenantId,
        user: ObjectId,
        decision: Option<(RiskState, &str)>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let detections = self.store.kv_list(tenant, DETECTION_KIND, &KvSelect::User(user), 1000, now).await?;
        let mut ops = Vec::new();
        let mut level = RiskLevel::None;
        for mut d in detections {
            let state = state_of(&d.doc);
            if let Some((new_state, detail)) = decision
                && state == RiskState::AtRisk
            {
                if let Some(o) = d.doc.as_object_mut() {
                    o.insert("riskState".into(), json!(new_state.as_str()));
                    o.insert("riskDetail".into(), json!(detail));
                    o.insert("lastUpdatedDateTime".into(), json!(crate::ids::rfc3339(now)));
                }
                ops.push(KvOp::Update(d));
                continue;
            }
            if state == RiskState::AtRisk {
                level = level.max(level_of(&d.doc));
            }
        }
        let (state, detail) = match decision {
            Some((RiskState::ConfirmedCompromised, d)) => {
                level = RiskLevel::High;
                (RiskState::ConfirmedCompromised, d.to_string())
            }
            Some((s, d)) => {
                level = RiskLevel::None;
                (s, d.to_string())
            }
            None if level == RiskLevel::None => (RiskState::None, "none".to_string()),
            None => (RiskState::AtRisk, "none".to_string()),
        };
        let (name, upn) = match self.store.get_object(tenant, user).await? {
            Some(DirectoryObject::User(u)) => (Some(u.display_name), Some(u.user_principal_name)),
            _ => (None, None),
        };
        let existing = self.store.kv_get(tenant, RISKY_USER_KIND, &user.to_string(), now).await?;
        // Without detections or a decision there is no risky user to keep.
        if existing.is_none() && state == RiskState::None {
            if !ops.is_empty() {
                self.store.kv_apply(tenant, &ops, false, now).await?;
            }
            return Ok(());
        }
        let doc = json!({
            "id": user.to_string(),
            "isDeleted": false,
            "isProcessing": false,
            "riskLevel": level.as_str(),
            "riskState": state.as_str(),
            "riskDetail": detail,
            "riskLastUpdatedDateTime": crate::ids::rfc3339(now),
            "userDisplayName": name,
            "userPrincipalName": upn,
        });
        ops.push(self.upsert(existing, kv(RISKY_USER_KIND, user.to_string(), doc, None, Some(user))));
        self.store.kv_apply(tenant, &ops, false, now).await
    }

    /// A secure password change (after MFA) remediates the user's risk.
    pub async fn remediate_user_risk(&self, actor: &Actor, user: ObjectId) -> Result<(), StoreError> {
        if self.user_risk_level(actor.tenant, user).await? == "none" {
            return Ok(());
        }
        self.refresh_risky_user(
            actor.tenant,
            user,
            Some((RiskState::Remediated, "userPerformedSecuredPasswordChange")),
        )
        .await?;
        let mut target = Target::new(user.to_string(), "User");
        target.display_name = Some("userPerformedSecuredPasswordChange".into());
        self.record_audit(actor, Activity::new("Remediate user risk", "IdentityProtection", "Update").target(target))
            .await;
        Ok(())
    }

    // --- Graph: /identityProtection ---------------------------------------------------------

    pub async fn list_risk_docs(&self, caller: &Caller, kind: &str) -> Result<Vec<Value>, DirError> {
        caller.require(Permission::ReadRisk)?;
        let mut docs: Vec<Value> = self
            .store
            .kv_list(caller.tenant, kind, &KvSelect::Prefix(String::new()), 1000, self.now())
            .await?
            .into_iter()
            .map(|e| e.doc)
            .collect();
        let key = if kind == DETECTION_KIND { "detectedDateTime" } else { "riskLastUpdatedDateTime" };
        docs.sort_by(|a, b| {
            let k = |v: &Value| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
            k(b).cmp(&k(a))
        });
        Ok(docs)
    }

    pub async fn get_risk_doc(&self, caller: &Caller, kind: &str, id: &str) -> Result<Value, DirError> {
        caller.require(Permission::ReadRisk)?;
        self.store
            .kv_get(caller.tenant, kind, id, self.now())
            .await?
            .map(|e| e.doc)
            .ok_or_else(|| DirError::NotFound(format!("Resource '{id}' does not exist.")))
    }

    /// `confirmCompromised` (`compromised = true`) or `dismiss` for a list of users.
    pub async fn decide_user_risk(
        &self,
        caller: &Caller,
        users: &[ObjectId],
        compromised: bool,
    ) -> Result<(), DirError> {
        caller.require(Permission::WriteRisk)?;
        if users.is_empty() || users.len() > 60 {
            return Err(DirError::BadRequest("userIds must name between 1 and 60 users.".into()));
        }
        for u in users {
            match self.store.get_object(caller.tenant, *u).await? {
                Some(DirectoryObject::User(_)) => {}
                _ => return Err(DirError::NotFound(format!("Resource '{u}' does not exist."))),
            }
        }
        let (decision, name) = if compromised {
            ((RiskState::ConfirmedCompromised, "adminConfirmedUserCompromised"), "Confirm user compromised")
        } else {
            ((RiskState::Dismissed, "adminDismissedAllRiskForUser"), "Dismiss user risk")
        };
        let actor = Actor::from_caller(caller);
        for u in users {
            self.refresh_risky_user(caller.tenant, *u, Some(decision)).await?;
            let mut target = Target::new(u.to_string(), "User");
            target.display_name = Some(decision.1.to_string());
            self.record_audit(&actor, Activity::new(name, "IdentityProtection", "Update").target(target)).await;
        }
        Ok(())
    }
}
