//! Outbound provisioning in Graph's shape: `/servicePrincipals/{id}/synchronization/…` (the job,
//! its secrets, start / pause / restart, provision on demand). One SCIM job per service principal;
//! the job's configuration (mappings, scope, retry policy) is an Ostiary extension,
//! `ostiaryConfiguration`, because Entra's `synchronizationSchema` is far larger than what it needs.

use super::{Ctx, no_content};
use crate::error::GraphErr;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::provisioning::JobConfig;
use ostiary_crypto::secret::Secret;
use ostiary_model::ObjectId;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyValue {
    name: Option<String>,
    key: Option<String>,
    value: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateJob {
    template_id: String,
    #[serde(default)]
    synchronization_job_settings: Vec<KeyValue>,
    #[serde(default)]
    ostiary_configuration: Option<JobConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateJob {
    #[serde(default)]
    synchronization_job_settings: Vec<KeyValue>,
    #[serde(default)]
    ostiary_configuration: Option<JobConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Secrets {
    value: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subject {
    object_id: String,
    #[serde(default)]
    object_type_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDemandParameter {
    #[serde(default)]
    subjects: Vec<Subject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDemand {
    parameters: Vec<OnDemandParameter>,
}

/// `SyncAll = true` means scope "all" (Entra's setting for "sync all users and groups").
fn scope_from_settings(settings: &[KeyValue], config: &mut JobConfig) -> Result<(), GraphErr> {
    for s in settings {
        let name = s.name.as_deref().or(s.key.as_deref()).unwrap_or("");
        if !name.eq_ignore_ascii_case("SyncAll") {
            return Err(GraphErr::bad(format!(
                "Unsupported synchronizationJobSettings entry '{}'.",
                ostiary_oauth::error::sanitize(name)
            )));
        }
        let all = match &s.value {
            Value::Bool(b) => *b,
            Value::String(v) => v.eq_ignore_ascii_case("true"),
            _ => return Err(GraphErr::bad("SyncAll must be true or false.")),
        };
        config.scope = Some(if all {
            ostiary_core::provisioning::Scope::All
        } else {
            ostiary_core::provisioning::Scope::AssignedOnly
        });
    }
    Ok(())
}

/// The Graph `synchronizationJob` around the core's job view.
fn job_json(ctx: &Ctx<'_>, sp: ObjectId, view: Value) -> Value {
    let state = view.get("state").and_then(Value::as_str).unwrap_or("");
    let code = match state {
        "active" => "Active",
        "paused" => "Paused",
        "quarantined" => "Quarantine",
        _ => "NotRun",
    };
    let scope_all = view.get("scope").and_then(Value::as_str) == Some("all");
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#servicePrincipals('{sp}')/synchronization/jobs/$entity", ctx.base()),
        "id": view.get("id"),
        "templateId": "scim",
        "schedule": {"interval": "PT10S", "state": if state == "paused" { "Paused" } else { "Active" }},
        "status": {
            "code": code,
            "countSuccessiveCompleteFailures": view.pointer("/health/consecutiveFailures"),
            "quarantine": view.get("quarantine"),
            "lastExecution": {"timeEnded": view.get("lastCycleDateTime")},
        },
        "synchronizationJobSettings": [{"name": "SyncAll", "value": scope_all.to_string()}],
        "ostiaryConfiguration": view,
    })
}

fn ok_json(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// The job of `sp`, refusing a job id that is not its own.
async fn check_job(ctx: &Ctx<'_>, sp: ObjectId, job_id: &str) -> Result<Value, GraphErr> {
    let view = ctx.core.get_provisioning_job(&ctx.caller, sp).await?;
    if view.get("id").and_then(Value::as_str) != Some(job_id) {
        return Err(GraphErr::not_found(job_id));
    }
    Ok(view)
}

/// `/servicePrincipals/{sp}/synchronization/…`.
pub(super) async fn synchronization(ctx: &mut Ctx<'_>, sp: ObjectId, rest: &[&str]) -> Result<Response, GraphErr> {
    match (ctx.method.clone(), rest) {
        (Method::PUT, ["secrets"]) => {
            let body: Secrets = ctx.json().await?;
            let (mut base, mut token) = (None, None);
            for kv in body.value {
                let key = kv.key.or(kv.name).unwrap_or_default();
                let Value::String(v) = kv.value else {
                    return Err(GraphErr::bad("Secret values must be strings."));
                };
                match key.as_str() {
                    "BaseAddress" => base = Some(v),
                    "SecretToken" => token = Some(Secret::new(v)),
                    other => {
                        return Err(GraphErr::bad(format!(
                            "Unsupported secret key '{}'; use BaseAddress and SecretToken.",
                            ostiary_oauth::error::sanitize(other)
                        )));
                    }
                }
            }
            ctx.core.set_provisioning_credentials(&ctx.caller, sp, base, token).await?;
            Ok(no_content())
        }
        (Method::GET, ["jobs"]) => {
            let value = match ctx.core.get_provisioning_job(&ctx.caller, sp).await {
                Ok(v) => vec![job_json(ctx, sp, v)],
                Err(ostiary_core::DirError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            Ok(ok_json(json!({
                "@odata.context": format!("{}/v1.0/$metadata#servicePrincipals('{sp}')/synchronization/jobs", ctx.base()),
                "value": value,
            })))
        }
        (Method::POST, ["jobs"]) => {
            let body: CreateJob = ctx.json().await?;
            if !body.template_id.eq_ignore_ascii_case("scim") {
                return Err(GraphErr::bad("Only the 'scim' template is available."));
            }
            let mut config = body.ostiary_configuration.unwrap_or_default();
            scope_from_settings(&body.synchronization_job_settings, &mut config)?;
            let view = ctx.core.configure_provisioning(&ctx.caller, sp, config).await?;
            Ok((StatusCode::CREATED, axum::Json(job_json(ctx, sp, view))).into_response())
        }
        (Method::GET, ["jobs", job]) => {
            let view = check_job(ctx, sp, job).await?;
            Ok(ok_json(job_json(ctx, sp, view)))
        }
        (Method::PATCH, ["jobs", job]) => {
            check_job(ctx, sp, job).await?;
            let body: UpdateJob = ctx.json().await?;
            let mut config = body.ostiary_configuration.unwrap_or_default();
            scope_from_settings(&body.synchronization_job_settings, &mut config)?;
            let view = ctx.core.configure_provisioning(&ctx.caller, sp, config).await?;
            Ok(ok_json(job_json(ctx, sp, view)))
        }
        (Method::DELETE, ["jobs", job]) => {
            check_job(ctx, sp, job).await?;
            ctx.core.delete_provisioning_job(&ctx.caller, sp).await?;
            Ok(no_content())
        }
        (Method::POST, ["jobs", job, action]) => {
            check_job(ctx, sp, job).await?;
            match *action {
                "start" => {
                    ctx.core.start_provisioning(&ctx.caller, sp).await?;
                    Ok(no_content())
                }
                "pause" => {
                    ctx.core.pause_provisioning(&ctx.caller, sp).await?;
                    Ok(no_content())
                }
                "restart" => {
                    // Entra's body (`criteria.resetScope`) is accepted and every restart is a full one.
                    ctx.core.restart_provisioning(&ctx.caller, sp).await?;
                    Ok(no_content())
                }
                "provisionOnDemand" => {
                    let body: OnDemand = ctx.json().await?;
                    let subjects: Vec<&Subject> = body.parameters.iter().flat_map(|p| p.subjects.iter()).collect();
                    let [subject] = subjects.as_slice() else {
                        return Err(GraphErr::bad("provisionOnDemand takes exactly one subject."));
                    };
                    if subject.object_type_name.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("User")) {
                        return Err(GraphErr::bad("Only users can be provisioned on demand."));
                    }
                    let user = super::parse_id(&subject.object_id)?;
                    let summaries = ctx.core.provision_on_demand(&ctx.caller, sp, user).await?;
                    if summaries.is_empty() {
                        // Nothing to report means no such user (never a silent 200 with no records).
                        return Err(GraphErr::not_found(&user.to_string()));
                    }
                    Ok(ok_json(json!({
                        "@odata.type": "#microsoft.graph.stringKeyStringValuePair",
                        "key": "provisioningObjectSummaries",
                        "value": Value::Array(summaries.clone()).to_string(),
                        "ostiaryProvisioningObjectSummaries": summaries,
                    })))
                }
                other => Err(GraphErr::segment(other)),
            }
        }
        (_, ["secrets" | "jobs"]) | (_, ["jobs", _]) => Err(GraphErr::method()),
        (_, [other, ..]) => Err(GraphErr::segment(other)),
        (_, []) => Err(GraphErr::segment("synchronization")),
    }
}
