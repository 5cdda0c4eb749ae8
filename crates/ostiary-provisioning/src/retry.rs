//! What to do after a request to a SCIM target: `Retry-After` parsing (delta-seconds and
//! HTTP-date), classification of outcomes, exponential backoff with full jitter, and the job's
//! health state machine (backoff after failures, quarantine after too many or after an
//! authentication failure, resumable by the admin).
//!
//! Failures never drop work: a failing object stays behind the job's cursor (escrow) and is
//! retried in the next cycle; only the job's schedule changes here.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Longest wait a target can impose with `Retry-After`: a misconfigured target asking for a
/// week would otherwise silently stall the job.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as a wait from `now`: delta-seconds or an HTTP-date (IMF-fixdate, and the
/// obsolete RFC 850 form). A date in the past means "now" (zero). Capped at `MAX_RETRY_AFTER`.
pub fn parse_retry_after(header: &str, now: OffsetDateTime) -> Option<Duration> {
    let h = header.trim();
    if h.is_empty() {
        return None;
    }
    if h.bytes().all(|b| b.is_ascii_digit()) {
        // Many digits overflow u64: that is "a long time", so cap rather than refuse.
        let secs = h.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = parse_http_date(h)?;
    let delta = when - now;
    if delta.is_negative() {
        return Some(Duration::ZERO);
    }
    Some(Duration::try_from(delta).unwrap_or(MAX_RETRY_AFTER).min(MAX_RETRY_AFTER))
}

fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is RFC 2822 with the "GMT" zone.
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc2822) {
        return Some(t);
    }
    // RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"): rewrite to the fixdate form.
    let (day, rest) = s.split_once(", ")?;
    let rest = rest.strip_suffix(" GMT")?;
    let (date, clock) = rest.split_once(' ')?;
    let mut parts = date.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let y: i32 = y.parse().ok()?;
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    let year = if y < 100 { if y < 70 { 2000 + y } else { 1900 + y } } else { y };
    let short_day = day.get(..3)?;
    let fixed = format!("{short_day}, {d} {m} {year} {clock} GMT");
    OffsetDateTime::parse(&fixed, &Rfc2822).ok()
}

/// The request a status answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Get,
    Query,
    Patch,
    Delete,
}

/// What an HTTP outcome means for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx (and a 404 on delete: the object is already gone).
    Ok,
    /// 404 on get or patch: the target object vanished; the engine recreates it.
    Missing,
    /// 409 on create: the object exists; match it and update instead.
    Conflict,
    /// 429 or 503: the target asks us to slow down (`Retry-After` when it said how long).
    Throttled { retry_after: Option<Duration> },
    /// Other 5xx, timeouts, connection failures: retry later with backoff.
    Transient,
    /// 401/403: the credentials are wrong; retrying cannot help, the job is quarantined.
    AuthFailure,
    /// Other 4xx: this object's request is refused; logged as a failure and retried next cycle.
    Permanent,
}

impl Outcome {
    /// Whether the job as a whole should back off (as opposed to one object failing).
    pub fn is_job_failure(self) -> bool {
        matches!(self, Outcome::Throttled { .. } | Outcome::Transient | Outcome::AuthFailure)
    }
}

/// Classifies a response status, or a network failure (`None`).
pub fn classify(status: Option<u16>, op: Operation, retry_after: Option<Duration>) -> Outcome {
    let Some(s) = status else { return Outcome::Transient };
    match s {
        200..=299 => Outcome::Ok,
        404 if op == Operation::Delete => Outcome::Ok,
        404 if matches!(op, Operation::Get | Operation::Patch) => Outcome::Missing,
        409 if op == Operation::Create => Outcome::Conflict,
        401 | 403 => Outcome::AuthFailure,
        429 | 503 => Outcome::Throttled { retry_after },
        // 408 Request Timeout is the server giving up on us, not a refusal.
        408 | 500..=599 => Outcome::Transient,
        _ => Outcome::Permanent,
    }
}

/// Backoff and quarantine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// First backoff (before jitter), in milliseconds.
    pub base_ms: u64,
    /// Longest backoff, in milliseconds.
    pub cap_ms: u64,
    /// Consecutive job failures before quarantine (Entra: a job failing for a while).
    pub quarantine_after: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_ms: 1_000, cap_ms: 600_000, quarantine_after: 10 }
    }
}

/// Exponential backoff with full jitter: a uniform wait in `[0, min(cap, base·2^attempt)]`,
/// `jitter` in `[0, 1)` chosen by the caller's RNG. Full jitter spreads many jobs hitting one
/// target apart instead of retrying in lockstep.
pub fn backoff(attempt: u32, policy: &RetryPolicy, jitter: f64) -> Duration {
    let exp = policy.base_ms.saturating_mul(1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX));
    let ceiling = exp.min(policy.cap_ms);
    let j = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 };
    // u64 → f64 loses precision only above 2^53 ms, far beyond any cap.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (ceiling as f64 * j) as u64;
    Duration::from_millis(ms.min(ceiling))
}

/// Why a job is quarantined and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantine {
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// A job's health: consecutive failures, when it may run next, quarantine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub consecutive_failures: u32,
    /// Earliest time of the next attempt (None: now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    #[serde(default)]
    pub quarantine: Option<Quarantine>,
    /// The last failure's description, for the admin.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// What the job should do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Stop until an admin resumes the job.
    Quarantined(Quarantine),
}

impl Health {
    /// Whether the job may run at `now`.
    pub fn due(&self, now: OffsetDateTime) -> bool {
        self.quarantine.is_none() && self.next_attempt.is_none_or(|t| t <= now)
    }

    /// A cycle made progress without job-level failure.
    pub fn on_success(&mut self) {
        self.consecutive_failures = 0;
        self.next_attempt = None;
        self.last_error = None;
    }

    /// A job-level failure. Throttling with a `Retry-After` waits exactly that long and does not
    /// count toward quarantine (the target is alive and said when to come back); everything else
    /// counts, backs off exponentially, and quarantines after `quarantine_after` in a row or at
    /// once for an authentication failure.
    pub fn on_failure(
        &mut self,
        now: OffsetDateTime,
        outcome: Outcome,
        detail: &str,
        policy: &RetryPolicy,
        jitter: f64,
    ) -> Decision {
        self.last_error = Some(detail.to_string());
        if let Outcome::Throttled { retry_after: Some(wait) } = outcome {
            let at = now + wait;
            self.next_attempt = Some(at);
            return Decision::RetryAt(at);
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let reason = match outcome {
            Outcome::AuthFailure => Some(format!("The target refused the credentials: {detail}")),
            _ if self.consecutive_failures >= policy.quarantine_after => {
                Some(format!("{} consecutive failures; the last: {detail}", self.consecutive_failures))
            }
            _ => None,
        };
        if let Some(reason) = reason {
            let q = Quarantine { reason, since: now };
            self.quarantine = Some(q.clone());
            self.next_attempt = None;
            return Decision::Quarantined(q);
        }
        let at = now + backoff(self.consecutive_failures - 1, policy, jitter);
        self.next_attempt = Some(at);
        Decision::RetryAt(at)
    }

    /// The admin resumes a quarantined (or backing-off) job: it runs at once.
    pub fn resume(&mut self) {
        *self = Health::default();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00:00 UTC);

    #[test]
    fn retry_after_forms() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("5", Some(5)),
            (" 120 ", Some(120)),
            ("99999999999999999999999", Some(3600)),
            ("7200", Some(3600)),
            ("Thu, 26 Nov 2026 12:00:30 GMT", Some(30)),
            ("Thu, 26 Nov 2026 11:00:00 GMT", Some(0)),
            ("Thursday, 26-Nov-26 12:01:00 GMT", Some(60)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("Thu, 32 Nov 2026 12:00:30 GMT", None),
        ];
        for (h, want) in cases {
            assert_eq!(parse_retry_after(h, NOW), want.map(Duration::from_secs), "{h:?}");
        }
    }

    #[test]
    fn classification() {
        use Operation::*;
        let ra = Some(Duration::from_secs(3));
        let cases: &[(Option<u16>, Operation, Outcome)] = &[
            (Some(200), Get, Outcome::Ok),
            (Some(201), Create, Outcome::Ok),
            (Some(204), Patch, Outcome::Ok),
            (Some(404), Delete, Outcome::Ok),
            (Some(404), Patch, Outcome::Missing),
            (Some(404), Get, Outcome::Missing),
            (Some(404), Query, Outcome::Permanent),
            (Some(409), Create, Outcome::Conflict),
            (Some(409), Patch, Outcome::Permanent),
            (Some(429), Create, Outcome::Throttled { retry_after: ra }),
            (Some(503), Query, Outcome::Throttled { retry_after: ra }),
            (Some(500), Patch, Outcome::Transient),
            (Some(502), Patch, Outcome::Transient),
            (Some(408), Get, Outcome::Transient),
            (None, Get, Outcome::Transient),
            (Some(401), Query, Outcome::AuthFailure),
            (Some(403), Create, Outcome::AuthFailure),
            (Some(400), Create, Outcome::Permanent),
            (Some(422), Patch, Outcome::Permanent),
        ];
        for (status, op, want) in cases {
            assert_eq!(classify(*status, *op, ra), *want, "{status:?} {op:?}");
        }
        assert!(Outcome::Transient.is_job_failure());
        assert!(!Outcome::Permanent.is_job_failure());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy { base_ms: 1000, cap_ms: 60_000, quarantine_after: 10 };
        let cases: &[(u32, f64, u64)] = &[
            (0, 1.0, 1000),
            (1, 1.0, 2000),
            (3, 1.0, 8000),
            (3, 0.5, 4000),
            (3, 0.0, 0),
            (10, 1.0, 60_000),
            (200, 1.0, 60_000),
            (2, f64::NAN, 4000),
            (2, 7.0, 4000),
            (2, -1.0, 0),
        ];
        for (attempt, jitter, ms) in cases {
            assert_eq!(backoff(*attempt, &p, *jitter), Duration::from_millis(*ms), "{attempt} {jitter}");
        }
    }

    #[test]
    fn health_backs_off_then_quarantines_and_resumes() {
        let p = RetryPolicy { base_ms: 1000, cap_ms: 60_000, quarantine_after: 3 };
        let mut h = Health::default();
        assert!(h.due(NOW));
        assert_eq!(
            h.on_failure(NOW, Outcome::Transient, "500", &p, 1.0),
            Decision::RetryAt(NOW + Duration::from_secs(1))
        );
        assert!(!h.due(NOW));
        assert!(h.due(NOW + Duration::from_secs(1)));
        assert_eq!(
            h.on_failure(NOW, Outcome::Transient, "500", &p, 1.0),
            Decision::RetryAt(NOW + Duration::from_secs(2))
        );
        // Throttling with Retry-After waits as told and does not count.
        let throttled = Outcome::Throttled { retry_after: Some(Duration::from_secs(30)) };
        assert_eq!(h.on_failure(NOW, throttled, "429", &p, 1.0), Decision::RetryAt(NOW + Duration::from_secs(30)));
        assert_eq!(h.consecutive_failures, 2);
        let Decision::Quarantined(q) = h.on_failure(NOW, Outcome::Transient, "500 again", &p, 1.0) else {
            unreachable!("third failure quarantines")
        };
        assert!(q.reason.contains("3 consecutive failures"), "{}", q.reason);
        assert!(!h.due(NOW + Duration::from_secs(86_400)), "a quarantined job does not run");
        h.resume();
        assert!(h.due(NOW));
        assert_eq!(h.consecutive_failures, 0);
        // Success resets the count.
        h.on_failure(NOW, Outcome::Transient, "x", &p, 1.0);
        h.on_success();
        assert_eq!(h, Health::default());
    }

    #[test]
    fn auth_failure_quarantines_at_once() {
        let mut h = Health::default();
        let d = h.on_failure(NOW, Outcome::AuthFailure, "401 Unauthorized", &RetryPolicy::default(), 0.3);
        assert!(matches!(d, Decision::Quarantined(ref q) if q.reason.contains("credentials") && q.since == NOW));
        // The state round-trips through the job's JSON.
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(serde_json::from_value::<Health>(json).unwrap(), h);
    }
}
