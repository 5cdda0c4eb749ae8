//! A metric family: a name, help, label names and one child per distinct label-value set, with a
//! lock-free-ish read path (a shared read lock and a hash lookup that borrows the caller's `&[&str]`)
//! and a cap on distinct label sets.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use crate::encode::{escape_help, escape_label_value};
use crate::value::Child;

/// The default cap on distinct label sets per family.
pub const DEFAULT_MAX_CHILDREN: usize = 10_000;

/// The label value given to every label of the overflow child.
pub const OVERFLOW_LABEL_VALUE: &str = "_overflow";

/// Label values longer than this (in bytes) are truncated at a character boundary.
pub const MAX_LABEL_VALUE_LEN: usize = 256;

/// The owned key of a child: its label values, in declaration order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct LabelKey(pub(crate) Vec<String>);

/// A view of label values shared by the owned key and a borrowed `&[&str]`, so lookups need no
/// allocation. Hash and equality are defined on the view, identically for both.
pub(crate) trait KeyView {
    fn parts(&self) -> usize;
    fn part(&self, i: usize) -> &str;
}

impl KeyView for LabelKey {
    fn parts(&self) -> usize {
        self.0.len()
    }
    fn part(&self, i: usize) -> &str {
        self.0.get(i).map_or("", String::as_str)
    }
}

struct Lookup<'a>(&'a [&'a str]);

impl KeyView for Lookup<'_> {
    fn parts(&self) -> usize {
        self.0.len()
    }
    fn part(&self, i: usize) -> &str {
        self.0.get(i).copied().unwrap_or("")
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.parts());
        for i in 0..self.parts() {
            self.part(i).hash(state);
        }
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts() && (0..self.parts()).all(|i| self.part(i) == other.part(i))
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for LabelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state);
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for LabelKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_LABEL_VALUE_LEN {
        return s;
    }
    let mut end = MAX_LABEL_VALUE_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) struct Family<M: Child> {
    pub(crate) name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    opts: M::Opts,
    max_children: usize,
    children: RwLock<HashMap<LabelKey, Arc<M>>>,
}

impl<M: Child> Family<M> {
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
        opts: M::Opts,
        max_children: usize,
    ) -> Self {
        let family = Self { name, help, label_names, opts, max_children, children: RwLock::new(HashMap::new()) };
        if label_names.is_empty() {
            // An unlabeled metric is the family's only child and always exists, so it renders its 0.
            family.child(&[]);
        }
        family
    }

    pub(crate) fn label_names(&self) -> &'static [&'static str] {
        self.label_names
    }

    /// Runs `f` on the child for `labels`, creating it if needed (or using the overflow child when the
    /// family is full or `labels` has the wrong arity).
    pub(crate) fn with_child<R>(&self, labels: &[&str], f: impl FnOnce(&M) -> R) -> R {
        {
            let map = self.children.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(child) = map.get(&Lookup(labels) as &dyn KeyView) {
                return f(child);
            }
        }
        f(&self.insert(labels))
    }

    /// The child for `labels`, creating it if needed (see [`Self::with_child`]).
    pub(crate) fn child(&self, labels: &[&str]) -> Arc<M> {
        {
            let map = self.children.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(child) = map.get(&Lookup(labels) as &dyn KeyView) {
                return Arc::clone(child);
            }
        }
        self.insert(labels)
    }

    /// The child for `labels` if it exists.
    pub(crate) fn get(&self, labels: &[&str]) -> Option<Arc<M>> {
        let map = self.children.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&Lookup(labels) as &dyn KeyView).cloned()
    }

    fn overflow_key(&self) -> LabelKey {
        LabelKey(vec![OVERFLOW_LABEL_VALUE.to_owned(); self.label_names.len()])
    }

    #[cold]
    fn insert(&self, labels: &[&str]) -> Arc<M> {
        debug_assert_eq!(
            labels.len(),
            self.label_names.len(),
            "{}: label values {labels:?} do not match label names {:?}",
            self.name,
            self.label_names
        );
        let mut map = self.children.write().unwrap_or_else(PoisonError::into_inner);
        let key = if labels.len() == self.label_names.len() {
            let key = LabelKey(labels.iter().map(|v| truncate(v).to_owned()).collect());
            if let Some(child) = map.get(&key) {
                return Arc::clone(child);
            }
            let overflow = self.overflow_key();
            let regular = map.len() - usize::from(map.contains_key(&overflow));
            if regular >= self.max_children { overflow } else { key }
        } else {
            self.overflow_key()
        };
        Arc::clone(map.entry(key).or_insert_with(|| Arc::new(M::create(&self.opts))))
    }

    /// Removes the child for `labels`; true if it existed.
    pub(crate) fn remove(&self, labels: &[&str]) -> bool {
        let mut map = self.children.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(&Lookup(labels) as &dyn KeyView).is_some()
    }

    /// Keeps only the children whose label values satisfy `keep`.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&[String]) -> bool) {
        let mut map = self.children.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|k, _| keep(&k.0));
    }

    /// Removes every child (an unlabeled family keeps its single child).
    pub(crate) fn clear(&self) {
        if self.label_names.is_empty() {
            return;
        }
        self.children.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The number of children (label sets), including the overflow child if present.
    pub(crate) fn len(&self) -> usize {
        self.children.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Appends HELP, TYPE and every child's samples, children sorted by label values.
    pub(crate) fn encode(&self, out: &mut String) {
        out.push_str("# HELP ");
        out.push_str(self.name);
        out.push(' ');
        escape_help(out, self.help);
        out.push_str("\n# TYPE ");
        out.push_str(self.name);
        out.push(' ');
        out.push_str(M::TYPE);
        out.push('\n');
        let mut children: Vec<(LabelKey, Arc<M>)> = {
            let map = self.children.read().unwrap_or_else(PoisonError::into_inner);
            map.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect()
        };
        children.sort_by(|a, b| a.0.cmp(&b.0));
        let mut labels = String::new();
        for (key, child) in children {
            labels.clear();
            for (i, (name, value)) in self.label_names.iter().zip(&key.0).enumerate() {
                if i > 0 {
                    labels.push(',');
                }
                labels.push_str(name);
                labels.push_str("=\"");
                escape_label_value(&mut labels, value);
                labels.push('"');
            }
            child.encode(self.name, &labels, out);
        }
    }
}
