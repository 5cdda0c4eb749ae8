//! The registry: families in registration order, rendered to the text exposition format 0.0.4.

use std::fmt;
use std::sync::Arc;

use crate::encode::{valid_label_name, valid_metric_name};
use crate::family::{DEFAULT_MAX_CHILDREN, Family};
use crate::value::{Buckets, Child, Counter, Gauge, Histogram};
use crate::vec::{CounterVec, GaugeVec, HistogramVec};

/// The `Content-Type` of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Anything the registry can render.
trait Collect: Send + Sync {
    fn name(&self) -> &'static str;
    fn encode(&self, out: &mut String);
}

impl<M: Child> Collect for Family<M> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn encode(&self, out: &mut String) {
        Family::encode(self, out);
    }
}

impl Collect for CounterVec {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn encode(&self, out: &mut String) {
        self.0.encode(out);
    }
}

impl Collect for GaugeVec {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn encode(&self, out: &mut String) {
        self.0.encode(out);
    }
}

impl Collect for HistogramVec {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn encode(&self, out: &mut String) {
        self.0.encode(out);
    }
}

/// A set of metric families. Registration happens once at start-up (`&mut self`); observing and
/// rendering are `&self` and thread-safe.
///
/// Names must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and be unique, label names `[a-zA-Z_][a-zA-Z0-9_]*`
/// (and not `le` for histograms); this is checked by `debug_assert!` since names are static.
#[derive(Default)]
pub struct Registry {
    families: Vec<Arc<dyn Collect>>,
    max_children: Option<usize>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("families", &self.names()).finish()
    }
}

impl Registry {
    /// An empty registry whose families hold up to [`DEFAULT_MAX_CHILDREN`] label sets each.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose labeled families hold up to `max` label sets each (plus the overflow set).
    pub fn with_max_children(max: usize) -> Self {
        Self { families: Vec::new(), max_children: Some(max) }
    }

    fn check(&self, name: &'static str, labels: &'static [&'static str], histogram: bool) {
        debug_assert!(valid_metric_name(name), "invalid metric name {name:?}");
        debug_assert!(!self.names().contains(&name), "metric {name:?} registered twice");
        for l in labels {
            debug_assert!(valid_label_name(l), "{name}: invalid label name {l:?}");
            debug_assert!(!(histogram && *l == "le"), "{name}: histograms cannot have an `le` label");
        }
        let _ = (name, labels, histogram);
    }

    fn family<M: Child>(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        opts: M::Opts,
    ) -> Family<M> {
        self.check(name, labels, M::TYPE == "histogram");
        Family::new(name, help, labels, opts, self.max_children.unwrap_or(DEFAULT_MAX_CHILDREN))
    }

    fn push<T: Collect + 'static>(&mut self, v: T) -> Arc<T> {
        let v = Arc::new(v);
        self.families.push(Arc::clone(&v) as Arc<dyn Collect>);
        v
    }

    fn single<M: Child>(&mut self, family: Family<M>) -> Arc<M> {
        let child = family.child(&[]);
        self.push(family);
        child
    }

    /// Registers an unlabeled counter.
    pub fn counter(&mut self, name: &'static str, help: &'static str) -> Arc<Counter> {
        let f = self.family(name, help, &[], ());
        self.single(f)
    }

    /// Registers a labeled counter family.
    pub fn counter_vec(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<CounterVec> {
        let f = self.family(name, help, labels, ());
        self.push(CounterVec(f))
    }

    /// Registers an unlabeled gauge.
    pub fn gauge(&mut self, name: &'static str, help: &'static str) -> Arc<Gauge> {
        let f = self.family(name, help, &[], ());
        self.single(f)
    }

    /// Registers a labeled gauge family.
    pub fn gauge_vec(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<GaugeVec> {
        let f = self.family(name, help, labels, ());
        self.push(GaugeVec(f))
    }

    /// Registers an unlabeled histogram with these bucket upper bounds (`+Inf` is implicit).
    pub fn histogram(&mut self, name: &'static str, help: &'static str, buckets: &[f64]) -> Arc<Histogram> {
        let f = self.family(name, help, &[], Buckets::new(buckets));
        self.single(f)
    }

    /// Registers a labeled histogram family with these bucket upper bounds (`+Inf` is implicit).
    pub fn histogram_vec(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &[f64],
    ) -> Arc<HistogramVec> {
        let f = self.family(name, help, labels, Buckets::new(buckets));
        self.push(HistogramVec(f))
    }

    /// The family names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.families.iter().map(|f| f.name()).collect()
    }

    /// Appends the exposition of every family, in registration order.
    pub fn render_into(&self, out: &mut String) {
        for f in &self.families {
            f.encode(out);
        }
    }

    /// The exposition of every family, in registration order ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_into(&mut out);
        out
    }
}
