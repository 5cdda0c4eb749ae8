//! The Graph `provisioningObjectSummary` record of one provisioning action (what
//! `/auditLogs/provisioning` returns): who was provisioned where, the steps taken (import,
//! scoping, matching, processing, export) with their status, the properties changed, and the
//! error when it failed. Every action the engine takes, skips or fails produces one.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `provisioningAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Disable,
    StagedDelete,
    Other,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Disable => "disable",
            Action::StagedDelete => "stagedDelete",
            Action::Other => "other",
        }
    }
}

/// `provisioningResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failure,
    Skipped,
    Warning,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
        }
    }
}

/// `provisioningStepType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepType {
    Import,
    Scoping,
    Matching,
    Processing,
    Export,
}

impl StepType {
    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Import => "import",
            StepType::Scoping => "scoping",
            StepType::Matching => "matching",
            StepType::Processing => "processing",
            StepType::Export => "export",
        }
    }

    /// Entra's step names.
    fn step_name(self) -> &'static str {
        match self {
            StepType::Import => "EntryImport",
            StepType::Scoping => "EntrySynchronizationScoping",
            StepType::Matching => "EntryMatching",
            StepType::Processing => "EntrySynchronizationAction",
            StepType::Export => "EntryExport",
        }
    }
}

/// An identity as `sourceIdentity` / `targetIdentity` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub display_name: Option<String>,
    /// "User" or "Group".
    pub identity_type: String,
}

/// One `provisioningStep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ty: StepType,
    pub status: Status,
    pub description: String,
    /// `details` as key/value pairs.
    pub details: Vec<(String, String)>,
}

/// A record under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub id: String,
    pub activity: OffsetDateTime,
    pub job_id: String,
    pub cycle_id: String,
    pub change_id: String,
    pub duration_ms: u64,
    pub action: Action,
    pub status: Status,
    /// (errorCode, reason) when not successful.
    pub error: Option<(String, String)>,
    /// `provisioningSteps`: type, status, description, details (key/value).
    pub steps: Vec<Step>,
    /// `modifiedProperties`: name, old, new.
    pub modified: Vec<(String, Option<String>, Option<String>)>,
    pub service_principal: (String, String),
    pub source: Identity,
    pub target: Identity,
    pub source_system: (String, String),
    pub target_system: (String, String),
    /// `initiatedBy`: id, displayName, and whether a user (on-demand) or the system started it.
    pub initiated_by: (String, String, bool),
}

impl Summary {
    /// A record of `action` with success status and no steps yet.
    pub fn new(id: impl Into<String>, activity: OffsetDateTime, action: Action) -> Summary {
        Summary {
            id: id.into(),
            activity,
            job_id: String::new(),
            cycle_id: String::new(),
            change_id: String::new(),
            duration_ms: 0,
            action,
            status: Status::Success,
            error: None,
            steps: Vec::new(),
            modified: Vec::new(),
            service_principal: (String::new(), String::new()),
            source: Identity::default(),
            target: Identity::default(),
            source_system: (String::new(), "Azure Active Directory".into()),
            target_system: (String::new(), "SCIM target".into()),
            initiated_by: (String::new(), "Azure AD Provisioning Service".into(), false),
        }
    }

    pub fn step(mut self, ty: StepType, status: Status, description: impl Into<String>) -> Summary {
        self.steps.push(Step { ty, status, description: description.into(), details: Vec::new() });
        self
    }

    /// Adds a detail to the last step.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Summary {
        if let Some(last) = self.steps.last_mut() {
            last.details.push((key.into(), value.into()));
        }
        self
    }

    /// Marks the record failed (or skipped/warning) with Entra-style error information.
    pub fn outcome(mut self, status: Status, code: impl Into<String>, reason: impl Into<String>) -> Summary {
        self.status = status;
        self.error = Some((code.into(), reason.into()));
        self
    }

    /// The Graph JSON document.
    pub fn to_json(&self) -> Value {
        let when = self.activity.format(&Rfc3339).unwrap_or_default();
        let error = self.error.as_ref().map(|(code, reason)| {
            json!({
                "errorCode": code,
                "reason": reason,
                "errorCategory": if self.status == Status::Failure { "NonServiceFailure" } else { "Unknown" },
                "additionalDetails": null,
                "recommendedAction": null,
            })
        });
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|Step { ty, status, description, details }| {
                let mut d = serde_json::Map::new();
                for (k, v) in details {
                    d.insert(k.clone(), Value::String(v.clone()));
                }
                json!({
                    "name": ty.step_name(),
                    "provisioningStepType": ty.as_str(),
                    "status": status.as_str(),
                    "description": description,
                    "details": d,
                })
            })
            .collect();
        let modified: Vec<Value> = self
            .modified
            .iter()
            .map(|(name, old, new)| json!({ "displayName": name, "oldValue": old, "newValue": new }))
            .collect();
        let identity = |i: &Identity| {
            json!({
                "id": i.id,
                "displayName": i.display_name,
                "identityType": i.identity_type,
                "details": {},
            })
        };
        let system = |(id, name): &(String, String)| json!({ "id": id, "displayName": name, "details": {} });
        json!({
            "id": self.id,
            "activityDateTime": when,
            "jobId": self.job_id,
            "cycleId": self.cycle_id,
            "changeId": self.change_id,
            "durationInMilliseconds": self.duration_ms,
            "provisioningAction": self.action.as_str(),
            "provisioningStatusInfo": { "status": self.status.as_str(), "errorInformation": error },
            "provisioningSteps": steps,
            "modifiedProperties": modified,
            "servicePrincipal": { "id": self.service_principal.0, "displayName": self.service_principal.1 },
            "sourceIdentity": identity(&self.source),
            "targetIdentity": identity(&self.target),
            "sourceSystem": system(&self.source_system),
            "targetSystem": system(&self.target_system),
            "initiatedBy": {
                "id": self.initiated_by.0,
                "displayName": self.initiated_by.1,
                "initiatorType": if self.initiated_by.2 { "user" } else { "system" },
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn graph_shape() {
        let mut s = Summary::new("rec-1", datetime!(2026-11-26 12:00:00 UTC), Action::Update)
            .step(StepType::Import, Status::Success, "Received User 'ada@contoso.com'")
            .detail("ObjectId", "u1")
            .step(StepType::Export, Status::Failure, "Target said 400")
            .outcome(Status::Failure, "SystemForCrossDomainIdentityManagementBadRequest", "invalid value");
        s.job_id = "job".into();
        s.cycle_id = "cycle".into();
        s.change_id = "change".into();
        s.duration_ms = 12;
        s.modified.push(("displayName".into(), Some("Ada".into()), Some("Ada L".into())));
        s.service_principal = ("sp".into(), "SCIM app".into());
        s.source = Identity { id: "u1".into(), display_name: Some("Ada".into()), identity_type: "User".into() };
        s.target = Identity { id: "t1".into(), display_name: None, identity_type: "User".into() };
        s.initiated_by = ("admin".into(), "admin@contoso.com".into(), true);
        let j = s.to_json();
        let checks: &[(&str, Value)] = &[
            ("/id", json!("rec-1")),
            ("/activityDateTime", json!("2026-11-26T12:00:00Z")),
            ("/jobId", json!("job")),
            ("/cycleId", json!("cycle")),
            ("/changeId", json!("change")),
            ("/durationInMilliseconds", json!(12)),
            ("/provisioningAction", json!("update")),
            ("/provisioningStatusInfo/status", json!("failure")),
            (
                "/provisioningStatusInfo/errorInformation/errorCode",
                json!("SystemForCrossDomainIdentityManagementBadRequest"),
            ),
            ("/provisioningStatusInfo/errorInformation/reason", json!("invalid value")),
            ("/provisioningSteps/0/provisioningStepType", json!("import")),
            ("/provisioningSteps/0/name", json!("EntryImport")),
            ("/provisioningSteps/0/details/ObjectId", json!("u1")),
            ("/provisioningSteps/1/provisioningStepType", json!("export")),
            ("/provisioningSteps/1/status", json!("failure")),
            ("/modifiedProperties/0/displayName", json!("displayName")),
            ("/modifiedProperties/0/oldValue", json!("Ada")),
            ("/modifiedProperties/0/newValue", json!("Ada L")),
            ("/servicePrincipal/displayName", json!("SCIM app")),
            ("/sourceIdentity/identityType", json!("User")),
            ("/targetIdentity/id", json!("t1")),
            ("/sourceSystem/displayName", json!("Azure Active Directory")),
            ("/initiatedBy/initiatorType", json!("user")),
        ];
        for (ptr, want) in checks {
            assert_eq!(j.pointer(ptr), Some(want), "{ptr}");
        }
    }

    #[test]
    fn success_has_no_error_and_system_initiator() {
        let j = Summary::new("r", datetime!(2026-01-01 00:00:00 UTC), Action::Create).to_json();
        assert_eq!(j["provisioningStatusInfo"], json!({"status": "success", "errorInformation": null}));
        assert_eq!(j["initiatedBy"]["initiatorType"], "system");
        for (a, s) in [
            (Action::Create, "create"),
            (Action::Update, "update"),
            (Action::Delete, "delete"),
            (Action::Disable, "disable"),
            (Action::StagedDelete, "stagedDelete"),
            (Action::Other, "other"),
        ] {
            assert_eq!(a.as_str(), s);
        }
    }
}
