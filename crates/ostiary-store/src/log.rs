//! Sign-in, directory-audit and provisioning records: append-only, totally ordered by a store-assigned
//! sequence number that is also the SIEM exporters' cursor.
//!
//! Ordering guarantee every backend must keep: a record becomes visible to `logs_after` only
//! with a `seq` greater than every record already visible (sequence order = commit order), so
//! an exporter that remembers the last `seq` it delivered never skips a record.

use ostiary_model::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// Graph `signIn` (`/auditLogs/signIns`).
    SignIn,
    /// Graph `directoryAudit` (`/auditLogs/directoryAudits`).
    Audit,
    /// Graph `provisioningObjectSummary` (`/auditLogs/provisioning`).
    Provisioning,
}

impl LogKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::SignIn => "signIn",
            LogKind::Audit => "directoryAudit",
            LogKind::Provisioning => "provisioning",
        }
    }

    pub fn parse(s: &str) -> Option<LogKind> {
        match s {
            "signIn" => Some(LogKind::SignIn),
            "directoryAudit" => Some(LogKind::Audit),
            "provisioning" => Some(LogKind::Provisioning),
            _ => None,
        }
    }
}

/// A record to append. The indexed fields duplicate parts of `doc` (the Graph-shaped
/// JSON document, returned as stored) so queries can use indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogRecord {
    pub tenant: TenantId,
    pub kind: LogKind,
    /// The Graph `id` of the record.
    pub id: Uuid,
    /// `createdDateTime` (sign-ins) or `activityDateTime` (audits, provisioning).
    pub time: OffsetDateTime,
    /// Sign-ins: the user or service principal signing in. Audits: the initiating user or
    /// service principal.
    pub principal_id: Option<String>,
    /// Sign-ins: `userPrincipalName`. Audits: the initiator's UPN. Stored lowercased.
    pub principal_name: Option<String>,
    /// Sign-ins: `appId` of the client. Audits: the initiating app's `appId`.
    pub app_id: Option<String>,
    pub correlation_id: Option<String>,
    /// Sign-ins: `status.errorCode` (0 = success). Audits: 0 = success, 1 = failure.
    pub status: i64,
    /// Sign-ins: `interactive`, `nonInteractive` or `servicePrincipal`. Audits: `category`.
    pub category: String,
    /// Audits: `activityDisplayName`. Sign-ins: empty.
    pub activity: String,
    pub doc: serde_json::Value,
}

/// A stored record with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Strictly increasing across all tenants and kinds, in commit order; never reused.
    pub seq: i64,
    pub record: NewLogRecord,
}

/// A comparison on `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Eq(i64),
    Ne(i64),
}

/// Which records `query_logs` returns: all criteria must hold (a conjunction). Results are
/// newest first (`seq` descending).
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    pub kind: LogKind,
    /// The record's Graph `id`.
    pub id: Option<Uuid>,
    /// `time >= since`.
    pub since: Option<OffsetDateTime>,
    /// `time < until`.
    pub until: Option<OffsetDateTime>,
    pub principal_id: Option<String>,
    /// Compared with the lowercased stored name.
    pub principal_name: Option<String>,
    pub app_id: Option<String>,
    pub correlation_id: Option<String>,
    pub status: Option<StatusMatch>,
    pub category: Option<String>,
    pub activity: Option<String>,
    /// Only records with `seq < before_seq` (keyset paging).
    pub before_seq: Option<i64>,
    /// 1..=1000.
    pub limit: u32,
}

impl LogQuery {
    pub fn new(kind: LogKind) -> Self {
        LogQuery {
            kind,
            id: None,
            since: None,
            until: None,
            principal_id: None,
            principal_name: None,
            app_id: None,
            correlation_id: None,
            status: None,
            category: None,
            activity: None,
            before_seq: None,
            limit: 100,
        }
    }
}
