//! Background jobs the server runs on a timer: log retention (bounded purge batches) and the
//! credential-expiry report (seed F4), which records one audit event per credential when it
//! enters the warning window.

use crate::Core;
use crate::audit::{Activity, Actor, Target};
use ostiary_store::{KvEntry, KvOp, LogKind, StoreError};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// Retention per log type, in days (Entra keeps each for 30 days on P1/P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "thirty")]
    pub sign_in_days: u32,
    #[serde(default = "thirty")]
    pub audit_days: u32,
    /// `provisioningObjectSummary` records (`/auditLogs/provisioning`).
    #[serde(default = "thirty")]
    pub provisioning_days: u32,
}

fn thirty() -> u32 {
    30
}

impl Default for Retention {
    fn default() -> Self {
        Retention { sign_in_days: 30, audit_days: 30, provisioning_days: 30 }
    }
}

/// Rows deleted per purge statement: small enough that a purge never holds the writer for
/// long (SQLite has one), large enough to keep up with 20k sign-ins/s.
pub const PURGE_BATCH: u32 = 5_000;

/// A credential close to (or past) its end date.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiringCredential {
    pub tenant: ostiary_model::TenantId,
    pub app_object_id: ostiary_model::ObjectId,
    pub app_id: String,
    pub app_display_name: String,
    /// "password" or "certificate".
    pub credential_type: &'static str,
    pub key_id: uuid::Uuid,
    pub display_name: Option<String>,
    pub end_date_time: OffsetDateTime,
}

impl Core {
    /// Deletes records older than the retention, in bounded batches, until none are left or
    /// `max_batches` ran (the next tick continues). Returns how many were deleted.
    pub async fn purge_logs(&self, retention: Retention, max_batches: u32) -> Result<u64, StoreError> {
        let now = self.now();
        let mut total = 0;
        for (kind, days) in [
            (LogKind::SignIn, retention.sign_in_days),
            (LogKind::Audit, retention.audit_days),
            (LogKind::Provisioning, retention.provisioning_days),
        ] {
            let before = now - Duration::days(i64::from(days));
            for _ in 0..max_batches {
                let n = self.store.purge_logs(kind, before, PURGE_BATCH).await?;
                total += n;
                if n < u64::from(PURGE_BATCH) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(total)
    }

    /// Every application credential of every tenant that ends before `now + within`.
    pub async fn expiring_credentials(&self, within: Duration) -> Result<Vec<ExpiringCredential>, StoreError> {
        let limit = self.now() + within;
        let mut out = Vec::new();
        for t in self.store.list_tenants().await? {
            let Ok(state) = self.tenant_state(t.id).await else { continue };
            for client in state.clients.values() {
                let app = &client.app;
                let base = |kind: &'static str, key_id, display_name: &Option<String>, end| ExpiringCredential {
                    tenant: t.id,
                    app_object_id: app.id,
                    app_id: app.app_id.to_string(),
                    app_display_name: app.display_name.clone(),
                    credential_type: kind,
                    key_id,
                    display_name: display_name.clone(),
                    end_date_time: end,
                };
                for c in app.password_credentials.iter().filter(|c| c.end_date_time <= limit) {
                    out.push(base("password", c.key_id, &c.display_name, c.end_date_time));
                }
                for c in app.key_credentials.iter().filter(|c| c.end_date_time <= limit) {
                    out.push(base("certificate", c.key_id, &c.display_name, c.end_date_time));
                }
                let saml = client.sp.as_ref().and_then(|sp| sp.ostiary_saml.as_ref());
                for c in saml.iter().flat_map(|s| s.certificates.iter()).filter(|c| c.end_date_time <= limit) {
                    out.push(base("samlSigningCertificate", c.key_id, &c.display_name, c.end_date_time));
                }
            }
        }
        out.sort_by_key(|c| c.end_date_time);
        Ok(out)
    }

    /// Records "Application credential expiring" (once per credential, remembered in the KV
    /// store until the credential's end) for credentials ending within `within`, and
    /// "Application credential expired" once they have ended. Returns how many were recorded.
    pub async fn report_expiring_credentials(&self, within: Duration) -> Result<usize, StoreError> {
        let now = self.now();
        let mut recorded = 0;
        for c in self.expiring_credentials(within).await? {
            let expired = c.end_date_time <= now;
            let stage = if expired { "expired" } else { "expiring" };
            let key = format!("{}:{}:{stage}", c.app_object_id, c.key_id);
            let actor = Actor::system(c.tenant, "Ostiary credential monitor", self.new_uuid().to_string());
            let mut target = Target::new(c.app_object_id.to_string(), "Application");
            target.display_name = Some(c.app_display_name.clone());
            let activity = Activity::new(
                if expired { "Application credential expired" } else { "Application credential expiring" },
                "ApplicationManagement",
                "Other",
            )
            .target(target)
            .detail("AppId", c.app_id.clone())
            .detail("CredentialType", c.credential_type)
            .detail("KeyId", c.key_id.to_string())
            .detail(
                "EndDateTime",
                c.end_date_time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            );
            let marker = KvEntry {
                kind: "expiryNotice".into(),
                key,
                doc: json!({ "keyId": c.key_id }),
                version: 1,
                // Kept a while after the end so the "expired" notice is not repeated either.
                expires_at: Some(c.end_date_time.max(now) + Duration::days(400)),
                user_id: None,
                family_id: None,
            };
            let ops = [KvOp::Insert(marker), self.audit_op(&actor, &activity)];
            match self.store.kv_apply(c.tenant, &ops, false, now).await {
                Ok(()) => {
                    recorded += 1;
                    self.audit_committed(std::slice::from_ref(&activity));
                }
                // Already reported (the marker exists): nothing to do.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(recorded)
    }
}
