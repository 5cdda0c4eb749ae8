//! Short-lived and grant state (sign-in sessions, authorization codes, refresh-token families,
//! device codes, lockout counters, consent grants, tenant settings) as typed JSON entries in one
//! tenant-scoped table, written atomically with preconditions. The core gives each `kind` its
//! meaning; backends only guarantee the conditions below, on both SQLite and PostgreSQL.

use ostiary_model::ObjectId;
use time::OffsetDateTime;

/// One entry. `(tenant, kind, key)` is unique.
#[derive(Debug, Clone, PartialEq)]
pub struct KvEntry {
    /// e.g. "session", "code", "refresh", "device", "userCode", "lockout", "grant", "settings".
    pub kind: String,
    /// Unique within the kind; secrets are never keys — callers key by a hash of the secret.
    pub key: String,
    pub doc: serde_json::Value,
    /// Starts at 1; every successful `Update` increments it (compare-and-swap).
    pub version: i64,
    /// After this instant the entry is dead: `kv_get`/`kv_list` with `now` skip it, and
    /// `kv_purge_expired` deletes it. `None` = never expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Secondary index: the user the entry belongs to (for "sign this user out everywhere").
    pub user_id: Option<ObjectId>,
    /// Secondary index: a family (e.g. all refresh tokens descended from one sign-in).
    pub family_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KvOp {
    /// Fails (`Conflict { key: "kv" }`) if a live entry with this kind and key exists; an
    /// expired one is replaced. The stored version is 1 whatever `entry.version` says.
    Insert(KvEntry),
    /// Replaces the entry if its stored version equals `entry.version` and it is live; the
    /// stored version becomes `entry.version + 1`. Otherwise `Conflict { key: "kv" }`.
    Update(KvEntry),
    /// Deletes if present; never fails for a missing entry.
    Delete { kind: String, key: String },
    /// Deletes every entry of these kinds that belongs to the user.
    DeleteByUser { kinds: Vec<String>, user_id: ObjectId },
    /// Deletes every entry of the kind in the family.
    DeleteByFamily { kind: String, family_id: String },
    /// Appends a log record (its tenant must be the batch's tenant) in the same transaction,
    /// so audited settings and grant changes cannot commit without their record.
    AppendLog(Box<crate::log::NewLogRecord>),
}

/// Which entries `kv_list` returns (at most `limit`, ordered by key).
#[derive(Debug, Clone, PartialEq)]
pub enum KvSelect {
    /// Keys starting with the prefix ("" = all of the kind).
    Prefix(String),
    User(ObjectId),
    Family(String),
}
