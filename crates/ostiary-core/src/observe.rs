//! Scrape-time metrics: gauges computed from the tenant caches when `/metrics` is read
//! (credential and certificate expiry, queue depths), plus hooks for parts of the server the
//! core does not own (the SIEM exporters).

use crate::Core;
use ostiary_metrics::Metrics;
use std::sync::atomic::Ordering;

/// A function that updates metrics just before they are rendered.
pub type ScrapeHook = Box<dyn Fn(&Metrics) + Send + Sync>;

/// Seconds from `now` to `t` (negative when `t` has passed).
fn seconds_until(now: time::OffsetDateTime, t: time::OffsetDateTime) -> f64 {
    (t - now).as_seconds_f64()
}

/// The expiry that matters for an app: the soonest end among credentials still valid, or,
/// when every one has ended, the latest end (negative seconds: the app cannot authenticate).
/// An expired secret kept next to a valid one does not make the app look broken.
fn nearest_expiry(
    ends: impl Iterator<Item = time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> Option<time::OffsetDateTime> {
    let ends: Vec<_> = ends.collect();
    ends.iter().copied().filter(|e| *e > now).min().or_else(|| ends.iter().copied().max())
}

impl Core {
    /// Registers a hook run at every scrape.
    pub fn on_scrape(&self, hook: ScrapeHook) {
        if let Ok(mut hooks) = self.scrape_hooks.lock() {
            hooks.push(hook);
        }
    }

    /// Refreshes the computed gauges and renders the exposition text.
    pub async fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let now = self.now();
        m.signin_log_queue_depth.set_i64(self.log_writer.stats.depth.load(Ordering::Relaxed));
        m.password_hash_waiting.set_i64(self.hash_waiting.load(Ordering::Relaxed));
        let pool = self.store.pool_status();
        m.store_pool_connections.set(&["in_use"], f64::from(pool.size.saturating_sub(pool.idle)));
        m.store_pool_connections.set(&["idle"], f64::from(pool.idle));
        // Rebuilt from scratch each scrape, so deleted apps and retired keys disappear.
        m.credential_expiry.clear();
        m.certificate_expiry.clear();
        if let Ok(tenants) = self.store.list_tenants().await {
            for t in tenants {
                let Ok(state) = self.tenant_state(t.id).await else { continue };
                let tenant = t.id.to_string();
                for client in state.clients.values() {
                    let app = client.app.app_id.to_string();
                    let secrets = client.app.password_credentials.iter().map(|c| c.end_date_time);
                    if let Some(e) = nearest_expiry(secrets, now) {
                        m.credential_expiry.set(&[&tenant, &app, "password"], seconds_until(now, e));
                    }
                    let certs = client.app.key_credentials.iter().map(|c| c.end_date_time);
                    if let Some(e) = nearest_expiry(certs, now) {
                        m.credential_expiry.set(&[&tenant, &app, "certificate"], seconds_until(now, e));
                    }
                    // SAML token-signing certificates: the one that signs is what matters.
                    if let Some(c) = client
                        .sp
                        .as_ref()
                        .and_then(|sp| sp.ostiary_saml.as_ref())
                        .and_then(crate::saml::active_certificate)
                    {
                        m.credential_expiry
                            .set(&[&tenant, &app, "samlSigningCertificate"], seconds_until(now, c.end_date_time));
                    }
                }
                for (kid, not_after) in &state.keys.certificate_expiry {
                    m.certificate_expiry.set(&[&tenant, "signing_key", kid], seconds_until(now, *not_after));
                }
            }
        }
        if let Ok(hooks) = self.scrape_hooks.lock() {
            for h in hooks.iter() {
                h(m);
            }
        }
        m.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::{Duration, OffsetDateTime};

    #[test]
    fn nearest_expiry_ignores_ended_credentials_while_one_is_valid() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let d = |n: i64| now + Duration::days(n);
        assert_eq!(nearest_expiry([d(-5), d(40), d(10)].into_iter(), now), Some(d(10)));
        assert_eq!(nearest_expiry([d(-5), d(-2)].into_iter(), now), Some(d(-2)));
        assert_eq!(nearest_expiry(std::iter::empty(), now), None);
    }
}
