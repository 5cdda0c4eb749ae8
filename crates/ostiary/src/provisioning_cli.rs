//! `ostiary provisioning …`: outbound SCIM provisioning of one application through Graph's
//! `/servicePrincipals/{id}/synchronization/…` — configure (target URL, bearer token, scope,
//! matching attribute, attribute mappings), status, start, pause, restart, provision one user
//! on demand, delete. The application is named by `--app APPID` or `--sp OBJECT_ID`.
//!
//! Security: the target's bearer token is read from a file (`--token-file`) or standard input
//! (`--token-stdin`), never from argv, and is never printed (the server never returns it).
//!
//! Exit codes: 0 success, 1 server/API error (including no job for the application), 2 usage
//! error.

use crate::admin::{
    CliError, CliResult, OutputFormat, connect, non_empty_secret, out, print_json, read_stdin_secret, usage,
};
use ostiary_client::{AdminClient, ClientError, HttpErrorBody};
use serde_json::{Value, json};
use std::path::PathBuf;
use uuid::Uuid;

/// Which application's job.
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["app", "sp"])))]
pub struct Which {
    /// The application's appId (client id).
    #[arg(long, value_name = "APPID")]
    pub app: Option<String>,
    /// The service principal's object id.
    #[arg(long, value_name = "ID")]
    pub sp: Option<String>,
}

/// Which users and groups a job provisions.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeArg {
    /// Users and groups assigned to the application (transitively through groups).
    Assigned,
    /// Every user and group of the tenant.
    All,
}

/// `ostiary provisioning configure`.
#[derive(clap::Args, Debug)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub which: Which,
    /// The SCIM target's base URL (https; http only to a loopback host). Required for a new job.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Read the target's bearer token from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "token_stdin")]
    pub token_file: Option<PathBuf>,
    /// Read the target's bearer token from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// The target attribute users are matched on (e.g. userName, externalId).
    #[arg(long, value_name = "ATTR")]
    pub matching_attribute: Option<String>,
    /// Attribute mappings: a JSON array of object mappings, or an object with `objectMappings`.
    #[arg(long, value_name = "FILE")]
    pub mappings_file: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ProvisioningCmd {
    /// Create or update an application's provisioning job (a new job starts paused).
    Configure(ConfigureArgs),
    /// Show the job: state, target, scope, counters, health, last error.
    Status(Which),
    /// Start or resume the job (also out of quarantine).
    Start(Which),
    /// Pause the job, keeping its progress.
    Pause(Which),
    /// Forget progress and counters and run a new initial cycle.
    Restart(Which),
    /// Provision one user now, whatever the job's state, and show what happened.
    OnDemand {
        #[command(flatten)]
        which: Which,
        /// The user's userPrincipalName or object id.
        #[arg(long, value_name = "UPN_OR_ID")]
        user: String,
    },
    /// Delete the job (objects already in the target stay there).
    Delete(Which),
}

/// The service principal's object id.
pub(crate) async fn resolve_sp(client: &AdminClient, which: &Which) -> CliResult<String> {
    match (&which.app, &which.sp) {
        (_, Some(sp)) => {
            let id = Uuid::parse_str(sp.trim()).map_err(|_| usage(format!("--sp `{sp}` is not an object id")))?;
            Ok(id.to_string())
        }
        (Some(app), None) => {
            let app_id =
                Uuid::parse_str(app.trim()).map_err(|_| usage(format!("--app `{app}` is not an appId (a GUID)")))?;
            match client.get_service_principal_by_app_id(app_id).await? {
                Some(sp) => Ok(sp.id.to_string()),
                None => Err(usage(format!("no service principal for appId {app_id}; create one with `ostiary apps`"))),
            }
        }
        (None, None) => Err(usage("give --app or --sp")),
    }
}

fn sync_path(sp: &str, rest: &str) -> String {
    format!("/servicePrincipals/{sp}/synchronization/{rest}")
}

/// The job of `sp`, if any.
async fn find_job(client: &AdminClient, sp: &str) -> CliResult<Option<Value>> {
    let list: Value = client.get(&sync_path(sp, "jobs")).await?;
    Ok(list.get("value").and_then(Value::as_array).and_then(|v| v.first()).cloned())
}

/// The job of `sp`, or an error saying there is none.
async fn job_of(client: &AdminClient, sp: &str) -> CliResult<Value> {
    find_job(client, sp).await?.ok_or_else(|| {
        let msg =
            format!("service principal {sp} has no provisioning job; create one with `ostiary provisioning configure`");
        CliError::Api(ClientError::Http(404, Box::new(HttpErrorBody::Text(msg))))
    })
}

fn job_id(job: &Value) -> String {
    job.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The bearer token from `--token-file` or `--token-stdin`.
fn read_token(a: &ConfigureArgs) -> CliResult<Option<String>> {
    if let Some(path) = &a.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        return non_empty_secret(text, "token file").map(Some);
    }
    if a.token_stdin {
        return read_stdin_secret("bearer token").map(Some);
    }
    Ok(None)
}

fn read_mappings(path: &PathBuf) -> CliResult<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| usage(format!("{} is not JSON: {e}", path.display())))?;
    match v {
        Value::Array(_) => Ok(v),
        Value::Object(mut o) => match o.remove("objectMappings") {
            Some(m @ Value::Array(_)) => Ok(m),
            _ => Err(usage(format!(
                "{}: expected an array of object mappings or {{\"objectMappings\": […]}}",
                path.display()
            ))),
        },
        _ => Err(usage(format!("{}: expected an array of object mappings", path.display()))),
    }
}

/// The `ostiaryConfiguration` of a configure command.
fn configuration(a: &ConfigureArgs) -> CliResult<Value> {
    let mut cfg = serde_json::Map::new();
    if let Some(url) = &a.url {
        cfg.insert("targetUrl".into(), json!(url.trim()));
    }
    if let Some(scope) = a.scope {
        cfg.insert("scope".into(), json!(if scope == ScopeArg::All { "all" } else { "assignedOnly" }));
    }
    if let Some(m) = &a.mappings_file {
        cfg.insert("objectMappings".into(), read_mappings(m)?);
    }
    if let Some(attr) = &a.matching_attribute {
        cfg.insert("matchingAttribute".into(), json!(attr.trim()));
    }
    Ok(Value::Object(cfg))
}

fn s(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A job as `KEY  value` lines.
fn status_text(job: &Value) -> String {
    let c = |k: &str| s(job, &format!("/ostiaryConfiguration/counters/{k}"));
    let matching = job
        .pointer("/ostiaryConfiguration/matchingAttributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(", ")
        })
        .unwrap_or_default();
    let initial = match job.pointer("/ostiaryConfiguration/initial") {
        Some(Value::Object(_)) => format!(
            "in progress ({} after {})",
            s(job, "/ostiaryConfiguration/initial/phase"),
            s(job, "/ostiaryConfiguration/initial/offset")
        ),
        _ if job.pointer("/ostiaryConfiguration/cursor").is_some_and(|c| !c.is_null()) => "done".into(),
        _ => "not run".into(),
    };
    let quarantine = match job.pointer("/status/quarantine") {
        Some(q @ Value::Object(_)) => q.to_string(),
        _ => "no".into(),
    };
    let rows: Vec<(&str, String)> = vec![
        ("JOB", job_id(job)),
        ("STATUS", s(job, "/status/code")),
        ("TARGET", s(job, "/ostiaryConfiguration/targetUrl")),
        (
            "SECRET",
            if job.pointer("/ostiaryConfiguration/secretConfigured") == Some(&Value::Bool(true)) {
                "configured".into()
            } else {
                "not set".into()
            },
        ),
        ("SCOPE", s(job, "/ostiaryConfiguration/scope")),
        ("MATCHING", matching),
        ("INITIAL CYCLE", initial),
        ("LAST CYCLE", s(job, "/status/lastExecution/timeEnded")),
        (
            "COUNTERS",
            format!(
                "created {} updated {} disabled {} deleted {} skipped {} failed {} cycles {}",
                c("created"),
                c("updated"),
                c("disabled"),
                c("deleted"),
                c("skipped"),
                c("failed"),
                c("cycles")
            ),
        ),
        ("FAILURES IN A ROW", s(job, "/status/countSuccessiveCompleteFailures")),
        ("NEXT ATTEMPT", s(job, "/ostiaryConfiguration/health/nextAttempt")),
        ("QUARANTINE", quarantine),
        ("LAST ERROR", s(job, "/ostiaryConfiguration/health/lastError")),
        (
            "ESCROWED",
            job.pointer("/ostiaryConfiguration/escrow")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0)
                .to_string(),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:width$}  {v}")).collect::<Vec<_>>().join("\n")
}

fn print_job(job: &Value, output: OutputFormat) -> CliResult {
    match output {
        OutputFormat::Json => print_json(job),
        OutputFormat::Table => {
            out(&status_text(job));
            Ok(())
        }
    }
}

async fn resolve_user(client: &AdminClient, key: &str) -> CliResult<String> {
    let key = key.trim();
    if key.is_empty() {
        return Err(usage("--user must not be empty"));
    }
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(id.to_string());
    }
    Ok(client.get_user(key).await?.id.to_string())
}

/// `start`, `pause` or `restart`; prints the job afterwards.
async fn action(client: &AdminClient, which: &Which, name: &str, output: OutputFormat) -> CliResult {
    let sp = resolve_sp(client, which).await?;
    let job = job_of(client, &sp).await?;
    client.post_empty(&sync_path(&sp, &format!("jobs/{}/{name}", job_id(&job)))).await?;
    print_job(&job_of(client, &sp).await?, output)
}

pub async fn run(cmd: ProvisioningCmd, output: OutputFormat) -> CliResult {
    // Read local inputs before connecting, so that usage errors need no server.
    let (token, config) = match &cmd {
        ProvisioningCmd::Configure(a) => (read_token(a)?, Some(configuration(a)?)),
        _ => (None, None),
    };
    let client = connect().await?;
    match cmd {
        ProvisioningCmd::Configure(a) => {
            let sp = resolve_sp(&client, &a.which).await?;
            let config = config.unwrap_or_else(|| json!({}));
            match find_job(&client, &sp).await? {
                None => {
                    if a.url.is_none() {
                        return Err(usage("--url is required to create a provisioning job"));
                    }
                    let body = json!({ "templateId": "scim", "ostiaryConfiguration": config });
                    let _: Value = client.post(&sync_path(&sp, "jobs"), &body).await?;
                }
                Some(job) => {
                    let body = json!({ "ostiaryConfiguration": config });
                    client.patch(&sync_path(&sp, &format!("jobs/{}", job_id(&job))), &body).await?;
                }
            }
            if let Some(t) = token {
                let body = json!({ "value": [{ "key": "SecretToken", "value": t }] });
                client.put_no_content(&sync_path(&sp, "secrets"), &body).await?;
            }
            print_job(&job_of(&client, &sp).await?, output)
        }
        ProvisioningCmd::Status(w) => {
            let sp = resolve_sp(&client, &w).await?;
            print_job(&job_of(&client, &sp).await?, output)
        }
        ProvisioningCmd::Start(w) => action(&client, &w, "start", output).await,
        ProvisioningCmd::Pause(w) => action(&client, &w, "pause", output).await,
        ProvisioningCmd::Restart(w) => action(&client, &w, "restart", output).await,
        ProvisioningCmd::OnDemand { which, user } => {
            let sp = resolve_sp(&client, &which).await?;
            let job = job_of(&client, &sp).await?;
            let user = resolve_user(&client, &user).await?;
            let body = json!({ "parameters": [{ "subjects": [{ "objectId": user, "objectTypeName": "User" }] }] });
            let resp: Value =
                client.post(&sync_path(&sp, &format!("jobs/{}/provisionOnDemand", job_id(&job))), &body).await?;
            let records = resp.get("ostiaryProvisioningObjectSummaries").cloned().unwrap_or_else(|| json!([]));
            if output == OutputFormat::Json {
                return print_json(&records);
            }
            let rows: Vec<Vec<String>> = records
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            vec![
                                s(r, "/provisioningAction"),
                                s(r, "/provisioningStatusInfo/status"),
                                s(r, "/sourceIdentity/displayName"),
                                s(r, "/targetIdentity/id"),
                                s(r, "/provisioningStatusInfo/errorInformation/reason"),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            out(&crate::admin::render_table(&["ACTION", "STATUS", "SOURCE", "TARGET ID", "REASON"], &rows));
            Ok(())
        }
        ProvisioningCmd::Delete(w) => {
            let sp = resolve_sp(&client, &w).await?;
            let job = job_of(&client, &sp).await?;
            client.delete(&sync_path(&sp, &format!("jobs/{}", job_id(&job)))).await?;
            if output == OutputFormat::Table {
                out(&format!("deleted provisioning job {}", job_id(&job)));
            }
            Ok(())
        }
    }
}
