//! Reading the sign-in, audit and provisioning logs: Graph `$filter` on `/auditLogs/*`
//! translated into the store's indexed `LogQuery` (a conjunction of supported comparisons;
//! anything else is a clear 400), newest first, with keyset paging.

use crate::Core;
use crate::auth::Caller;
use crate::error::DirError;
use ostiary_odata::{CmpOp, Expr, Literal, PropPath};
use ostiary_store::{LogKind, LogQuery, LogRecord, StatusMatch};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest page of log records.
pub const MAX_TOP: u32 = 1000;

fn unsupported(what: impl std::fmt::Display) -> DirError {
    DirError::bad(format!("Invalid filter clause: {what} is not supported on this resource."))
}

fn path(p: &PropPath) -> String {
    p.0.join("/")
}

fn text(v: &Literal, prop: &str) -> Result<String, DirError> {
    match v {
        Literal::String(s) | Literal::Guid(s) => Ok(s.clone()),
        _ => Err(DirError::bad(format!("Invalid filter clause: {prop} must be compared with a string."))),
    }
}

fn timestamp(v: &Literal, prop: &str) -> Result<OffsetDateTime, DirError> {
    let s = match v {
        Literal::DateTime(s) | Literal::String(s) => s,
        _ => {
            return Err(DirError::bad(format!(
                "Invalid filter clause: {prop} must be compared with a DateTimeOffset."
            )));
        }
    };
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| DirError::bad(format!("Invalid filter clause: '{s}' is not a valid DateTimeOffset.")))
}

/// Adds one comparison to `q`, or explains why it cannot be served.
fn apply(kind: LogKind, e: &Expr, q: &mut LogQuery) -> Result<(), DirError> {
    let time_prop = match kind {
        LogKind::SignIn => "createdDateTime",
        LogKind::Audit | LogKind::Provisioning => "activityDateTime",
    };
    match e {
        Expr::And(a, b) => {
            apply(kind, a, q)?;
            apply(kind, b, q)
        }
        Expr::Compare { prop, op, value } => {
            let p = path(prop);
            let set_once = |slot: &mut Option<String>, v: String| -> Result<(), DirError> {
                if slot.as_ref().is_some_and(|old| *old != v) {
                    // Two different equalities on one property can never both hold.
                    return Err(DirError::bad(format!("Invalid filter clause: conflicting conditions on {p}.")));
                }
                *slot = Some(v);
                Ok(())
            };
            if p == time_prop {
                let t = timestamp(value, &p)?;
                let tick = time::Duration::nanoseconds(1);
                match op {
                    CmpOp::Ge => q.since = Some(q.since.map_or(t, |s| s.max(t))),
                    CmpOp::Gt => q.since = Some(q.since.map_or(t + tick, |s| s.max(t + tick))),
                    CmpOp::Lt => q.until = Some(q.until.map_or(t, |u| u.min(t))),
                    CmpOp::Le => q.until = Some(q.until.map_or(t + tick, |u| u.min(t + tick))),
                    CmpOp::Eq => {
                        q.since = Some(t);
                        q.until = Some(t + tick);
                    }
                    CmpOp::Ne => return Err(unsupported(format!("'ne' on {p}"))),
                }
                return Ok(());
            }
            let eq = *op == CmpOp::Eq;
            match (kind, p.as_str()) {
                (_, "correlationId") if eq => set_once(&mut q.correlation_id, text(value, &p)?.to_lowercase()),
                (LogKind::SignIn, "userId" | "servicePrincipalId") | (LogKind::Audit, "initiatedBy/user/id") if eq => {
                    set_once(&mut q.principal_id, text(value, &p)?.to_lowercase())
                }
                (LogKind::SignIn, "userPrincipalName") | (LogKind::Audit, "initiatedBy/user/userPrincipalName")
                    if eq =>
                {
                    set_once(&mut q.principal_name, text(value, &p)?.to_lowercase())
                }
                (LogKind::SignIn, "appId") | (LogKind::Audit, "initiatedBy/app/appId") if eq => {
                    set_once(&mut q.app_id, text(value, &p)?.to_lowercase())
                }
                (LogKind::SignIn, "status/errorCode") => {
                    let Literal::Int(n) = value else {
                        return Err(DirError::bad(
                            "Invalid filter clause: status/errorCode must be compared with a number.",
                        ));
                    };
                    q.status = Some(match op {
                        CmpOp::Eq => StatusMatch::Eq(*n),
                        CmpOp::Ne => StatusMatch::Ne(*n),
                        _ => return Err(unsupported(format!("this operator on {p}"))),
                    });
                    Ok(())
                }
                (LogKind::SignIn, "isInteractive") if eq => {
                    let Literal::Bool(b) = value else {
                        return Err(DirError::bad(
                            "Invalid filter clause: isInteractive must be compared with a boolean.",
                        ));
                    };
                    let c = if *b { "interactiveUser" } else { "nonInteractiveUser" };
                    set_once(&mut q.category, c.to_string())
                }
                (LogKind::Audit, "category") if eq => set_once(&mut q.category, text(value, &p)?),
                (LogKind::Audit, "activityDisplayName") if eq => set_once(&mut q.activity, text(value, &p)?),
                (LogKind::Provisioning, "sourceIdentity/id") if eq => {
                    set_once(&mut q.principal_id, text(value, &p)?.to_lowercase())
                }
                (LogKind::Provisioning, "provisioningAction") if eq => {
                    let v = text(value, &p)?;
                    match v.as_str() {
                        "create" | "update" | "delete" | "disable" | "stagedDelete" | "other" => {
                            set_once(&mut q.category, v)
                        }
                        _ => Err(DirError::bad(format!(
                            "Invalid filter clause: unknown provisioningAction '{}'.",
                            ostiary_oauth::error::sanitize(&v)
                        ))),
                    }
                }
                (LogKind::Provisioning, "provisioningStatusInfo/status") if eq => {
                    let v = text(value, &p)?;
                    let n = match v.as_str() {
                        "success" => 0,
                        "failure" => 1,
                        "skipped" => 2,
                        "warning" => 3,
                        _ => {
                            return Err(DirError::bad(format!(
                                "Invalid filter clause: unknown provisioning status '{}'.",
                                ostiary_oauth::error::sanitize(&v)
                            )));
                        }
                    };
                    if q.status.is_some_and(|s| s != StatusMatch::Eq(n)) {
                        return Err(DirError::bad(format!("Invalid filter clause: conflicting conditions on {p}.")));
                    }
                    q.status = Some(StatusMatch::Eq(n));
                    Ok(())
                }
                (LogKind::Provisioning, "jobId") if eq => set_once(&mut q.activity, text(value, &p)?),
                (LogKind::Provisioning, "cycleId") if eq => {
                    set_once(&mut q.correlation_id, text(value, &p)?.to_lowercase())
                }
                (LogKind::Provisioning, "servicePrincipal/id") => {
                    Err(unsupported(format!("'{p}' (filter on jobId, which names the service principal's job)")))
                }
                (LogKind::Audit, "result") if eq => {
                    let v = text(value, &p)?;
                    q.status = Some(match v.as_str() {
                        "success" => StatusMatch::Eq(0),
                        "failure" => StatusMatch::Eq(1),
                        _ => return Err(DirError::bad(format!("Invalid filter clause: unknown result '{v}'."))),
                    });
                    Ok(())
                }
                _ => Err(unsupported(format!("this comparison on '{p}'"))),
            }
        }
        // `signInEventTypes/any(t: t eq 'servicePrincipal')`, as Entra's beta API filters kinds.
        Expr::Any { collection, var, predicate }
            if kind == LogKind::SignIn && path(collection) == "signInEventTypes" =>
        {
            match predicate.as_ref() {
                Expr::Compare { prop, op: CmpOp::Eq, value: Literal::String(v) } if path(prop) == *var => {
                    match v.as_str() {
                        "interactiveUser" | "nonInteractiveUser" | "servicePrincipal" | "managedIdentity" => {
                            if q.category.as_ref().is_some_and(|c| c != v) {
                                return Err(DirError::bad("Invalid filter clause: conflicting signInEventTypes."));
                            }
                            q.category = Some(v.clone());
                            Ok(())
                        }
                        _ => Err(DirError::bad(format!("Invalid filter clause: unknown sign-in event type '{v}'."))),
                    }
                }
                _ => Err(unsupported("this lambda on signInEventTypes")),
            }
        }
        Expr::Or(..) => Err(unsupported("'or'")),
        Expr::Not(..) => Err(unsupported("'not'")),
        _ => Err(unsupported("this expression")),
    }
}

/// The store query for a `$filter` (already parsed), `$top` and skip token.
pub fn log_query(
    kind: LogKind,
    filter: Option<&Expr>,
    top: Option<u32>,
    skip_token: Option<&str>,
) -> Result<LogQuery, DirError> {
    let mut q = LogQuery::new(kind);
    if let Some(e) = filter {
        apply(kind, e, &mut q)?;
    }
    q.limit = top.unwrap_or(100).clamp(1, MAX_TOP);
    if let Some(t) = skip_token {
        let seq = t
            .strip_prefix('s')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| DirError::bad("The skip token is invalid."))?;
        q.before_seq = Some(seq);
    }
    Ok(q)
}

/// The skip token that continues after `last`.
pub fn skip_token_after(last: &LogRecord) -> String {
    format!("s{}", last.seq)
}

impl Core {
    /// `GET /auditLogs/signIns` and `/auditLogs/directoryAudits`: one page, newest first,
    /// and whether more may follow.
    pub async fn list_logs(&self, caller: &Caller, q: &LogQuery) -> Result<(Vec<LogRecord>, Option<String>), DirError> {
        caller.require(crate::Permission::ReadAuditLogs)?;
        // One more than asked, to know whether a next page exists without a count query.
        let mut probe = q.clone();
        probe.limit = q.limit.saturating_add(1).min(MAX_TOP + 1);
        let mut records = self.store.query_logs(caller.tenant, &probe).await?;
        let more = records.len() > q.limit as usize;
        records.truncate(q.limit as usize);
        let next = if more { records.last().map(skip_token_after) } else { None };
        Ok((records, next))
    }

    /// One record by its Graph id.
    pub async fn get_log(&self, caller: &Caller, kind: LogKind, id: &str) -> Result<LogRecord, DirError> {
        caller.require(crate::Permission::ReadAuditLogs)?;
        let id = uuid::Uuid::parse_str(id).map_err(|_| DirError::NotFound(id.to_string()))?;
        let mut q = LogQuery::new(kind);
        q.id = Some(id);
        q.limit = 1;
        self.store.query_logs(caller.tenant, &q).await?.pop().ok_or_else(|| DirError::NotFound(id.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ostiary_odata::parse_filter;

    fn q(kind: LogKind, f: &str) -> Result<LogQuery, DirError> {
        log_query(kind, Some(&parse_filter(f).unwrap()), None, None)
    }

    #[test]
    fn time_ranges() {
        let r =
            q(LogKind::SignIn, "createdDateTime ge 2026-01-01T00:00:00Z and createdDateTime lt 2026-01-02T00:00:00Z")
                .unwrap();
        assert_eq!(r.since.unwrap().unix_timestamp(), 1_767_225_600);
        assert_eq!(r.until.unwrap().unix_timestamp(), 1_767_312_000);
        let r = q(LogKind::SignIn, "createdDateTime gt 2026-01-01T00:00:00Z").unwrap();
        assert_eq!(r.since.unwrap().nanosecond(), 1);
        let r = q(LogKind::Audit, "activityDateTime le 2026-01-01T00:00:00Z").unwrap();
        assert_eq!(r.until.unwrap().nanosecond(), 1);
        assert!(q(LogKind::Audit, "createdDateTime ge 2026-01-01T00:00:00Z").is_err());
        assert!(q(LogKind::SignIn, "createdDateTime ne 2026-01-01T00:00:00Z").is_err());
        assert!(q(LogKind::SignIn, "createdDateTime ge 'yesterday'").is_err());
    }

    #[test]
    fn sign_in_criteria() {
        let r = q(
            LogKind::SignIn,
            "userPrincipalName eq 'Ada@Contoso.test' and appId eq '00000003-0000-0000-c000-000000000000' and status/errorCode eq 50126 and correlationId eq 'abc'",
        )
        .unwrap();
        assert_eq!(r.principal_name.as_deref(), Some("ada@contoso.test"));
        assert_eq!(r.app_id.as_deref(), Some("00000003-0000-0000-c000-000000000000"));
        assert_eq!(r.status, Some(StatusMatch::Eq(50126)));
        assert_eq!(r.correlation_id.as_deref(), Some("abc"));
        let r = q(LogKind::SignIn, "status/errorCode ne 0").unwrap();
        assert_eq!(r.status, Some(StatusMatch::Ne(0)));
        let r = q(LogKind::SignIn, "signInEventTypes/any(t: t eq 'servicePrincipal')").unwrap();
        assert_eq!(r.category.as_deref(), Some("servicePrincipal"));
        let r = q(LogKind::SignIn, "isInteractive eq true").unwrap();
        assert_eq!(r.category.as_deref(), Some("interactiveUser"));
        assert!(q(LogKind::SignIn, "userId eq 'a' and userId eq 'b'").is_err());
        assert!(q(LogKind::SignIn, "userId eq 'a' or userId eq 'b'").is_err());
        assert!(q(LogKind::SignIn, "not (userId eq 'a')").is_err());
        assert!(q(LogKind::SignIn, "ipAddress eq '1.2.3.4'").is_err());
        assert!(q(LogKind::SignIn, "status/errorCode eq '0'").is_err());
        assert!(q(LogKind::SignIn, "signInEventTypes/any(t: t eq 'bogus')").is_err());
    }

    #[test]
    fn audit_criteria() {
        let r = q(
            LogKind::Audit,
            "category eq 'UserManagement' and activityDisplayName eq 'Add user' and result eq 'failure' and initiatedBy/app/appId eq 'X'",
        )
        .unwrap();
        assert_eq!(r.category.as_deref(), Some("UserManagement"));
        assert_eq!(r.activity.as_deref(), Some("Add user"));
        assert_eq!(r.status, Some(StatusMatch::Eq(1)));
        assert_eq!(r.app_id.as_deref(), Some("x"));
        assert!(q(LogKind::Audit, "result eq 'maybe'").is_err());
        assert!(q(LogKind::Audit, "userId eq 'a'").is_err());
    }

    #[test]
    fn provisioning_criteria() {
        let r = q(
            LogKind::Provisioning,
            "activityDateTime ge 2026-01-01T00:00:00Z and activityDateTime lt 2026-01-02T00:00:00Z and sourceIdentity/id eq 'ABC' and provisioningAction eq 'create' and provisioningStatusInfo/status eq 'failure' and jobId eq 'Job-1' and cycleId eq 'C1'",
        )
        .unwrap();
        assert_eq!(r.since.unwrap().unix_timestamp(), 1_767_225_600);
        assert_eq!(r.until.unwrap().unix_timestamp(), 1_767_312_000);
        assert_eq!(r.principal_id.as_deref(), Some("abc"));
        assert_eq!(r.category.as_deref(), Some("create"));
        assert_eq!(r.status, Some(StatusMatch::Eq(1)));
        assert_eq!(r.activity.as_deref(), Some("Job-1"), "job ids are kept as given");
        assert_eq!(r.correlation_id.as_deref(), Some("c1"));
        for (status, n) in [("success", 0), ("failure", 1), ("skipped", 2), ("warning", 3)] {
            let r = q(LogKind::Provisioning, &format!("provisioningStatusInfo/status eq '{status}'")).unwrap();
            assert_eq!(r.status, Some(StatusMatch::Eq(n)), "{status}");
        }
        let r = q(LogKind::Provisioning, "provisioningAction eq 'stagedDelete'").unwrap();
        assert_eq!(r.category.as_deref(), Some("stagedDelete"));
        for bad in [
            "provisioningStatusInfo/status eq 'maybe'",
            "provisioningStatusInfo/status ne 'failure'",
            "provisioningStatusInfo/status eq 'success' and provisioningStatusInfo/status eq 'failure'",
            "provisioningAction eq 'explode'",
            "provisioningAction eq 'create' and provisioningAction eq 'update'",
            "jobId eq 'a' or jobId eq 'b'",
            "jobId ne 'a'",
            "sourceIdentity/id eq 5",
            "servicePrincipal/id eq 'x'",
            "targetIdentity/id eq 'x'",
            "result eq 'failure'",
            "userId eq 'a'",
            "createdDateTime ge 2026-01-01T00:00:00Z",
        ] {
            let e = q(LogKind::Provisioning, bad).unwrap_err();
            assert!(matches!(e, DirError::BadRequest(_)), "{bad}: {e:?}");
        }
        // The provisioning properties mean nothing on the other logs.
        assert!(q(LogKind::Audit, "jobId eq 'a'").is_err());
        assert!(q(LogKind::SignIn, "provisioningAction eq 'create'").is_err());
    }

    #[test]
    fn paging() {
        let r = log_query(LogKind::SignIn, None, Some(5000), Some("s42")).unwrap();
        assert_eq!((r.limit, r.before_seq), (1000, Some(42)));
        assert_eq!(log_query(LogKind::SignIn, None, Some(0), None).unwrap().limit, 1);
        for bad in ["", "s", "s-1", "s0", "o5", "s99999999999999999999"] {
            assert!(log_query(LogKind::SignIn, None, None, Some(bad)).is_err(), "{bad}");
        }
    }
}
