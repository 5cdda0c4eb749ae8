//! Read-side query types: list queries with a validated filter, sort keys and paging.

use crate::filter::{FieldType, Filter};
use ostiary_model::{ObjectId, ObjectKind};

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Graph property name (a key of the stored document), or a dotted path of identifiers
    /// into nested objects, like `Operand::Field::name`.
    pub field: &'static str,
    pub ty: FieldType,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// Applied in order, then `id` ascending as the tie-breaker so paging is stable.
    pub order_by: Vec<SortKey>,
    /// Page size, 1..=999.
    pub top: u32,
    /// Opaque token from a previous `Page::next`.
    pub skip_token: Option<String>,
    /// Also return the total number of matching objects.
    pub count: bool,
    /// For `list_related`: only objects of this kind (`/members/microsoft.graph.user`).
    pub cast: Option<ObjectKind>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { filter: None, order_by: Vec::new(), top: 100, skip_token: None, count: false, cast: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow.
    pub next: Option<String>,
    /// Total matching (ignoring paging) when `ListQuery::count` was set.
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Members of `group`; transitive follows nested groups.
    Members { group: ObjectId, transitive: bool },
    /// Groups that `object` is a member of; transitive follows parents of parents.
    MemberOf { object: ObjectId, transitive: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentsBy {
    Principal(ObjectId),
    Resource(ObjectId),
    Id(String),
    All,
}

/// Offset-based skip tokens shared by backends: `o<offset>` base64url-free plain text is
/// fine because the token is opaque to clients and validated on the way back in.
pub fn encode_offset_token(offset: u64) -> String {
    format!("o{offset}")
}

pub fn decode_offset_token(token: &str) -> Result<u64, crate::StoreError> {
    token
        .strip_prefix('o')
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n <= 10_000_000)
        .ok_or_else(|| crate::StoreError::InvalidQuery("invalid skip token".into()))
}
