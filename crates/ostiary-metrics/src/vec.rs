//! Labeled families: `CounterVec`, `GaugeVec`, `HistogramVec`. Label values are passed per call as
//! `&[&str]` in the order of the declared label names.
//!
//! A family holds at most [`crate::DEFAULT_MAX_CHILDREN`] distinct label sets (configurable per
//! registration); observations for further new sets — and, in release builds, calls with the wrong
//! number of label values — go to one overflow child whose every label value is `"_overflow"`. Label
//! values longer than [`crate::MAX_LABEL_VALUE_LEN`] bytes are truncated.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::family::Family;
use crate::value::{Counter, Gauge, Histogram};

macro_rules! common {
    ($vec:ident, $child:ident) => {
        impl $vec {
            /// The child for these label values, created if needed; keep it to skip the lookup on a hot path.
            pub fn with(&self, labels: &[&str]) -> Arc<$child> {
                self.0.child(labels)
            }

            /// The declared label names.
            pub fn label_names(&self) -> &'static [&'static str] {
                self.0.label_names()
            }

            /// The family name.
            pub fn name(&self) -> &'static str {
                self.0.name
            }

            /// The number of distinct label sets present (including the overflow set, if used).
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// True when no label set has been observed yet.
            pub fn is_empty(&self) -> bool {
                self.0.len() == 0
            }
        }

        impl fmt::Debug for $vec {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($vec))
                    .field("name", &self.0.name)
                    .field("label_names", &self.0.label_names())
                    .field("children", &self.0.len())
                    .finish()
            }
        }
    };
}

/// A counter per label set.
pub struct CounterVec(pub(crate) Family<Counter>);

common!(CounterVec, Counter);

impl CounterVec {
    /// Adds 1 to the counter for these label values.
    pub fn inc(&self, labels: &[&str]) {
        self.0.with_child(labels, Counter::inc);
    }

    /// Adds `n` to the counter for these label values.
    pub fn inc_by(&self, labels: &[&str], n: u64) {
        self.0.with_child(labels, |c| c.inc_by(n));
    }

    /// The current count for these label values (0, without creating the child, when absent).
    pub fn get(&self, labels: &[&str]) -> u64 {
        self.0.get(labels).map_or(0, |c| c.get())
    }
}

/// A gauge per label set.
pub struct GaugeVec(pub(crate) Family<Gauge>);

common!(GaugeVec, Gauge);

impl GaugeVec {
    /// Sets the gauge for these label values.
    pub fn set(&self, labels: &[&str], v: f64) {
        self.0.with_child(labels, |g| g.set(v));
    }

    /// Sets the gauge for these label values to an integer.
    pub fn set_i64(&self, labels: &[&str], v: i64) {
        self.0.with_child(labels, |g| g.set_i64(v));
    }

    /// Adds 1 to the gauge for these label values.
    pub fn inc(&self, labels: &[&str]) {
        self.0.with_child(labels, Gauge::inc);
    }

    /// Subtracts 1 from the gauge for these label values.
    pub fn dec(&self, labels: &[&str]) {
        self.0.with_child(labels, Gauge::dec);
    }

    /// Adds `delta` (which may be negative) to the gauge for these label values.
    pub fn add(&self, labels: &[&str], delta: f64) {
        self.0.with_child(labels, |g| g.add(delta));
    }

    /// The current value for these label values (`None`, without creating the child, when absent).
    pub fn get(&self, labels: &[&str]) -> Option<f64> {
        self.0.get(labels).map(|g| g.get())
    }

    /// Removes the gauge for these label values (e.g. a deleted credential); true if it existed.
    pub fn remove(&self, labels: &[&str]) -> bool {
        self.0.remove(labels)
    }

    /// Keeps only the gauges whose label values (in declaration order) satisfy `keep`.
    pub fn retain(&self, keep: impl FnMut(&[String]) -> bool) {
        self.0.retain(keep);
    }

    /// Removes every gauge.
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// A histogram per label set, all with the family's buckets.
pub struct HistogramVec(pub(crate) Family<Histogram>);

common!(HistogramVec, Histogram);

impl HistogramVec {
    /// Records `v` in the histogram for these label values.
    pub fn observe(&self, labels: &[&str], v: f64) {
        self.0.with_child(labels, |h| h.observe(v));
    }

    /// Records a duration in seconds in the histogram for these label values.
    pub fn observe_duration(&self, labels: &[&str], d: Duration) {
        self.observe(labels, d.as_secs_f64());
    }
}
