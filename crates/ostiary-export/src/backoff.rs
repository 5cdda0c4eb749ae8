//! Exponential backoff with deterministic jitter.
//!
//! The nominal delay starts at `base` and doubles per consecutive failure up to `max`; the
//! actual delay is drawn from `[nominal/2, nominal]` ("equal jitter") by a SplitMix64 hash of
//! a per-sink seed and the attempt number. That decorrelates sinks (and nodes, whose seeds
//! differ) without a random number generator, and keeps tests reproducible.

use std::time::Duration;

/// Backoff state of one sink.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    seed: u64,
    attempt: u32,
}

/// SplitMix64 (Steele, Lea, Flood 2014): a bijective mixer with good avalanche.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string: a stable seed from a sink name.
pub fn seed_from(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff { base, max: max.max(base), seed, attempt: 0 }
    }

    /// 100 ms doubling to 30 s.
    pub fn standard(seed: u64) -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(30), seed)
    }

    /// The delay before the next retry without jitter: `base * 2^attempt`, at most `max`.
    pub fn nominal(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).unwrap_or(self.max).min(self.max)
    }

    /// The delay before the next retry, and advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal();
        let half = nominal / 2;
        let span = u64::try_from((nominal - half).as_micros()).unwrap_or(u64::MAX);
        let r = splitmix64(self.seed ^ u64::from(self.attempt).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let jitter = if span == 0 { 0 } else { r % (span + 1) };
        self.attempt = self.attempt.saturating_add(1);
        half + Duration::from_micros(jitter)
    }

    /// Back to `base` after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Consecutive failures so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn nominal_schedule_doubles_and_caps() {
        let mut b = Backoff::standard(1);
        let mut nominal = Vec::new();
        for _ in 0..14 {
            nominal.push(b.nominal().as_millis());
            b.next_delay();
        }
        assert_eq!(nominal, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000, 30000, 30000]);
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.nominal(), Duration::from_secs(30));
        b.reset();
        assert_eq!(b.nominal(), Duration::from_millis(100));
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn jitter_is_bounded_deterministic_and_seeded() {
        let mut a = Backoff::standard(seed_from("siem"));
        let mut a2 = Backoff::standard(seed_from("siem"));
        let mut c = Backoff::standard(seed_from("hook"));
        let mut differs = false;
        for _ in 0..20 {
            let nominal = a.nominal();
            let d = a.next_delay();
            assert!(d >= nominal / 2 && d <= nominal, "{d:?} vs {nominal:?}");
            assert_eq!(d, a2.next_delay());
            differs |= d != c.next_delay();
        }
        assert!(differs);
    }
}
