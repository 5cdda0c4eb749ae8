//! Graph API throttling (seed F5/M6): a token bucket per (tenant, calling application), as
//! Graph limits per app per tenant. Over the limit a request gets 429 with `Retry-After`.
//! Time comes from the injected clock, so tests drive refills deterministically.

use ostiary_model::TenantId;
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Burst size and sustained rate (`[graph_rate_limit]` in the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl Default for RateLimit {
    /// Graph's published limit for many resources: 2,000 requests per 20 s per app per tenant.
    fn default() -> Self {
        RateLimit { burst: 2000, per_second: 100.0 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: OffsetDateTime,
}

/// Buckets are forgotten when the map grows past this (an idle bucket is full anyway), so
/// callers cannot grow memory without bound.
const MAX_BUCKETS: usize = 100_000;

/// The per-(tenant, app) token buckets.
#[derive(Debug, Default)]
pub struct Throttle {
    limit: Mutex<RateLimit>,
    buckets: Mutex<HashMap<(TenantId, String), Bucket>>,
}

impl Throttle {
    pub fn new(limit: RateLimit) -> Throttle {
        Throttle { limit: Mutex::new(limit), buckets: Mutex::new(HashMap::new()) }
    }

    /// Changes the limit (configuration reload, tests).
    pub fn set_limit(&self, limit: RateLimit) {
        if let Ok(mut l) = self.limit.lock() {
            *l = limit;
        }
    }

    /// Takes one token; `Err(seconds)` = refused, retry after that many whole seconds.
    pub fn check(&self, tenant: TenantId, app: &str, now: OffsetDateTime) -> Result<(), u64> {
        let limit = self.limit.lock().map(|l| *l).unwrap_or_default();
        if limit.per_second <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_BUCKETS {
            buckets.clear();
        }
        let burst = f64::from(limit.burst.max(1));
        let b = buckets.entry((tenant, app.to_string())).or_insert(Bucket { tokens: burst, at: now });
        let elapsed = (now - b.at).as_seconds_f64().max(0.0);
        b.tokens = (b.tokens + elapsed * limit.per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / limit.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn bucket_allows_burst_then_refuses_then_refills() {
        let t = Throttle::new(RateLimit { burst: 3, per_second: 0.5 });
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(7));
        let now = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..3 {
            assert!(t.check(tenant, "app", now).is_ok());
        }
        assert_eq!(t.check(tenant, "app", now), Err(2));
        // Other apps and tenants have their own buckets.
        assert!(t.check(tenant, "other", now).is_ok());
        assert!(t.check(TenantId::from_uuid(uuid::Uuid::from_u128(8)), "app", now).is_ok());
        assert!(t.check(tenant, "app", now + Duration::seconds(2)).is_ok());
        assert!(t.check(tenant, "app", now + Duration::seconds(2)).is_err());
        // A clock going backwards never mints tokens.
        assert!(t.check(tenant, "app", now).is_err());
        t.set_limit(RateLimit { burst: 1, per_second: 0.0 });
        assert!(t.check(tenant, "app", now).is_ok(), "rate 0 disables throttling");
    }
}
