//! The metric values — one counter, gauge or histogram per label set — built on lock-free atomics.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::encode::write_f64;

/// What a family needs from its children: how to make one and how to print one.
pub(crate) trait Child: Send + Sync + 'static {
    /// Construction parameters shared by every child of a family (the buckets of a histogram).
    type Opts: Send + Sync;
    /// The `# TYPE` word.
    const TYPE: &'static str;
    fn create(opts: &Self::Opts) -> Self;
    /// Appends the sample lines. `labels` is the already escaped `k="v",...` list (empty when unlabeled).
    fn encode(&self, name: &str, labels: &str, out: &mut String);
}

/// Adds `delta` to an f64 stored as bits.
fn add_f64(cell: &AtomicU64, delta: f64) {
    let _ =
        cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
}

fn write_sample(out: &mut String, name: &str, suffix: &str, labels: &str, value: impl FnOnce(&mut String)) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    value(out);
    out.push('\n');
}

/// A monotonically increasing integer count.
#[derive(Default)]
pub struct Counter {
    value: AtomicU64,
}

impl Counter {
    /// A counter at 0 (not registered anywhere; see [`crate::Registry::counter`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds 1.
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter").field("value", &self.get()).finish()
    }
}

impl Child for Counter {
    type Opts = ();
    const TYPE: &'static str = "counter";

    fn create((): &()) -> Self {
        Self::new()
    }

    fn encode(&self, name: &str, labels: &str, out: &mut String) {
        write_sample(out, name, "", labels, |out| out.push_str(&self.get().to_string()));
    }
}

/// A value that goes up and down; an f64 stored as bits in an `AtomicU64`.
pub struct Gauge {
    bits: AtomicU64,
}

impl Default for Gauge {
    fn default() -> Self {
        Self { bits: AtomicU64::new(0.0_f64.to_bits()) }
    }
}

impl Gauge {
    /// A gauge at 0 (not registered anywhere; see [`crate::Registry::gauge`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Sets an integer value (exact up to 2^53 in magnitude).
    #[allow(clippy::cast_precision_loss)]
    pub fn set_i64(&self, v: i64) {
        self.set(v as f64);
    }

    /// Adds 1.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts 1.
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Adds `delta` (which may be negative).
    pub fn add(&self, delta: f64) {
        add_f64(&self.bits, delta);
    }

    /// Subtracts `delta`.
    pub fn sub(&self, delta: f64) {
        add_f64(&self.bits, -delta);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

impl Child for Gauge {
    type Opts = ();
    const TYPE: &'static str = "gauge";

    fn create((): &()) -> Self {
        Self::new()
    }

    fn encode(&self, name: &str, labels: &str, out: &mut String) {
        write_sample(out, name, "", labels, |out| write_f64(out, self.get()));
    }
}

/// Bucket upper bounds: finite, strictly increasing, without the implicit `+Inf`.
#[derive(Clone, Debug)]
pub(crate) struct Buckets(pub(crate) std::sync::Arc<[f64]>);

impl Buckets {
    /// Drops non-finite bounds (`+Inf` is always implicit), sorts and de-duplicates.
    pub(crate) fn new(bounds: &[f64]) -> Self {
        let mut b: Vec<f64> = bounds.iter().copied().filter(|v| v.is_finite()).collect();
        b.sort_by(f64::total_cmp);
        b.dedup();
        Self(b.into())
    }
}

/// A histogram with fixed buckets: a count per bucket (cumulated when rendered), a sum and a count.
pub struct Histogram {
    bounds: std::sync::Arc<[f64]>,
    /// One slot per bound plus a final `+Inf` slot; not cumulative.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with these bucket upper bounds (not registered anywhere; see
    /// [`crate::Registry::histogram`]). Non-finite bounds are ignored; order does not matter.
    pub fn new(buckets: &[f64]) -> Self {
        Self::with_buckets(&Buckets::new(buckets))
    }

    fn with_buckets(b: &Buckets) -> Self {
        let counts = (0..=b.0.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds: b.0.clone(), counts, sum: AtomicU64::new(0.0_f64.to_bits()) }
    }

    /// Records one observation. NaN is ignored.
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(slot) = self.counts.get(i) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, v);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The sum of all observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// The bucket upper bounds (without `+Inf`).
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("bounds", &self.bounds)
            .field("count", &self.count())
            .field("sum", &self.sum())
            .finish()
    }
}

impl Child for Histogram {
    type Opts = Buckets;
    const TYPE: &'static str = "histogram";

    fn create(opts: &Buckets) -> Self {
        Self::with_buckets(opts)
    }

    fn encode(&self, name: &str, labels: &str, out: &mut String) {
        // Counts are read once so `+Inf` and `_count` agree even while observations race the render.
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let sum = self.sum();
        let mut cumulative = 0u64;
        let mut bucket_labels = String::with_capacity(labels.len() + 16);
        let bounds = self.bounds.iter().map(Some).chain(std::iter::once(None));
        for (bound, n) in bounds.zip(counts) {
            cumulative += n;
            bucket_labels.clear();
            bucket_labels.push_str(labels);
            if !labels.is_empty() {
                bucket_labels.push(',');
            }
            bucket_labels.push_str("le=\"");
            match bound {
                Some(b) => write_f64(&mut bucket_labels, *b),
                None => bucket_labels.push_str("+Inf"),
            }
            bucket_labels.push('"');
            write_sample(out, name, "_bucket", &bucket_labels, |out| out.push_str(&cumulative.to_string()));
        }
        write_sample(out, name, "_sum", labels, |out| write_f64(out, sum));
        write_sample(out, name, "_count", labels, |out| out.push_str(&cumulative.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_arithmetic() {
        let g = Gauge::new();
        g.set(2.5);
        g.inc();
        g.dec();
        g.dec();
        g.add(0.25);
        g.sub(1.0);
        assert_eq!(g.get(), 0.75);
        g.set_i64(-42);
        assert_eq!(g.get(), -42.0);
    }

    #[test]
    fn histogram_buckets_are_le_and_sanitised() {
        let h = Histogram::new(&[1.0, f64::INFINITY, 0.5, 1.0, f64::NAN]);
        assert_eq!(h.bounds(), &[0.5, 1.0]);
        for v in [0.5, 0.50001, 1.0, 7.0, f64::NAN, -1.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum(), 0.5 + 0.50001 + 1.0 + 7.0 - 1.0);
        let mut s = String::new();
        h.encode("h", "", &mut s);
        assert_eq!(
            s,
            "h_bucket{le=\"0.5\"} 2\nh_bucket{le=\"1\"} 4\nh_bucket{le=\"+Inf\"} 5\nh_sum 8.00001\nh_count 5\n"
        );
    }
}
