//! Ostiary's metrics: a small Prometheus registry (counters, gauges, fixed-bucket histograms, with or
//! without labels) rendered in the text exposition format 0.0.4, and [`Metrics`], the set of every
//! metric the server exports. Hand-written on `std` only.
//!
//! Values are atomics (f64 as bits in an `AtomicU64`); labeled children live in a
//! `RwLock<HashMap<..>>` looked up under the read lock without allocating. Each labeled family caps its
//! distinct label sets ([`DEFAULT_MAX_CHILDREN`]); beyond the cap new sets share one overflow child
//! labeled `"_overflow"`, so callers that put request-derived values in labels cannot exhaust memory.
//! Rendering is deterministic: families in registration order, children sorted by label values.

mod encode;
mod family;
mod metrics;
mod registry;
mod value;
mod vec;

#[cfg(test)]
mod tests;

pub use family::{DEFAULT_MAX_CHILDREN, MAX_LABEL_VALUE_LEN, OVERFLOW_LABEL_VALUE};
pub use metrics::{Metrics, buckets};
pub use registry::{CONTENT_TYPE, Registry};
pub use value::{Counter, Gauge, Histogram};
pub use vec::{CounterVec, GaugeVec, HistogramVec};
