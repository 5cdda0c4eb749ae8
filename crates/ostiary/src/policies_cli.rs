//! `ostiary policies …`: Conditional Access from the command line through Graph's
//! `/identity/conditionalAccess/*` — list, show, create (from Entra policy JSON), enable/disable,
//! delete, named locations, emergency-access accounts, and What-If: evaluate a hypothetical
//! sign-in and explain, policy by policy, what applied and why.
//!
//! Exit codes: 0 success, 1 server/API error (including a policy the lockout guard refuses),
//! 2 usage error.

use crate::admin::{CliResult, OutputFormat, connect, out, print_json, render_table, usage};
use ostiary_client::AdminClient;
use serde_json::{Value, json};
use std::path::PathBuf;

const BASE: &str = "/identity/conditionalAccess";

#[derive(clap::Subcommand, Debug)]
pub enum PoliciesCmd {
    /// List the tenant's Conditional Access policies.
    List,
    /// Show one policy as Entra JSON.
    Show { id: String },
    /// Create a policy from a file of Entra `conditionalAccessPolicy` JSON.
    Create {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Save even if the lockout guard says it would lock every administrator out.
        #[arg(long)]
        allow_lockout: bool,
    },
    /// Set a policy's state: enabled, disabled or report-only.
    SetState {
        id: String,
        #[arg(value_parser = ["enabled", "disabled", "report-only"])]
        state: String,
        #[arg(long)]
        allow_lockout: bool,
    },
    /// Delete a policy.
    Delete { id: String },
    /// Named locations (IP ranges, countries).
    Locations {
        #[command(subcommand)]
        cmd: LocationsCmd,
    },
    /// Emergency-access ("break-glass") accounts the lockout guard and What-If name.
    EmergencyAccess {
        #[command(subcommand)]
        cmd: EmergencyCmd,
    },
    /// Evaluate a hypothetical sign-in against the policies and explain each one.
    WhatIf(WhatIfArgs),
}

#[derive(clap::Subcommand, Debug)]
pub enum LocationsCmd {
    List,
    /// Create from a file of Entra `ipNamedLocation` / `countryNamedLocation` JSON.
    Create {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    Delete {
        id: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum EmergencyCmd {
    List,
    Add { user: String },
    Remove { user: String },
}

#[derive(clap::Args, Debug)]
pub struct WhatIfArgs {
    /// The user (object id or userPrincipalName); or use --service-principal.
    #[arg(long, conflicts_with = "service_principal")]
    pub user: Option<String>,
    /// A service principal's object id (workload identity, client credentials).
    #[arg(long)]
    pub service_principal: Option<String>,
    /// The cloud app (appId) being accessed; omit with --user-action.
    #[arg(long)]
    pub app: Option<String>,
    /// A user action instead of an app: registerSecurityInformation or registerOrJoinDevices.
    #[arg(long, conflicts_with = "app")]
    pub user_action: Option<String>,
    #[arg(long)]
    pub ip: Option<String>,
    /// ISO country code (otherwise looked up from --ip when the server has a GeoIP database).
    #[arg(long)]
    pub country: Option<String>,
    /// android, iOS, windows, windowsPhone, macOS, linux.
    #[arg(long)]
    pub platform: Option<String>,
    /// browser or mobileAppsAndDesktopClients.
    #[arg(long, default_value = "browser")]
    pub client_app_type: String,
    #[arg(long, default_value = "none")]
    pub sign_in_risk: String,
    #[arg(long, default_value = "none")]
    pub user_risk: String,
    /// Only policies that apply.
    #[arg(long)]
    pub applied_only: bool,
}

fn read_json(path: &PathBuf) -> CliResult<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{} is not JSON: {e}", path.display())))
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

async fn resolve_user(client: &AdminClient, key: &str) -> CliResult<String> {
    if uuid::Uuid::parse_str(key).is_ok() {
        return Ok(key.to_string());
    }
    let u = client.get_user(key).await?;
    Ok(u.id.to_string())
}

const LOCKOUT_HEADER: (&str, &str) = ("Ostiary-Allow-Lockout", "true");

pub async fn run(cmd: PoliciesCmd, output: OutputFormat) -> CliResult {
    let client = connect().await?;
    match cmd {
        PoliciesCmd::List => {
            let list: Vec<Value> = client.list_all(&format!("{BASE}/policies")).await?;
            if output == OutputFormat::Json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> =
                list.iter().map(|p| vec![s(p, "id"), s(p, "state"), s(p, "displayName")]).collect();
            out(&render_table(&["ID", "STATE", "NAME"], &rows));
            Ok(())
        }
        PoliciesCmd::Show { id } => {
            let p: Value = client.get(&format!("{BASE}/policies/{id}")).await?;
            print_json(&p)
        }
        PoliciesCmd::Create { file, allow_lockout } => {
            let body = read_json(&file)?;
            let created = if allow_lockout {
                client.send_json_with_header(false, &format!("{BASE}/policies"), &body, LOCKOUT_HEADER).await?
            } else {
                Some(client.post::<_, Value>(&format!("{BASE}/policies"), &body).await?)
            };
            let created = created.unwrap_or(Value::Null);
            if output == OutputFormat::Json {
                return print_json(&created);
            }
            out(&format!("created {} ({})", s(&created, "id"), s(&created, "state")));
            Ok(())
        }
        PoliciesCmd::SetState { id, state, allow_lockout } => {
            let state = if state == "report-only" { "enabledForReportingButNotEnforced".to_string() } else { state };
            let body = json!({ "state": state });
            let path = format!("{BASE}/policies/{id}");
            if allow_lockout {
                client.send_json_with_header(true, &path, &body, LOCKOUT_HEADER).await?;
            } else {
                client.patch(&path, &body).await?;
            }
            Ok(())
        }
        PoliciesCmd::Delete { id } => Ok(client.delete(&format!("{BASE}/policies/{id}")).await?),
        PoliciesCmd::Locations { cmd } => match cmd {
            LocationsCmd::List => {
                let list: Vec<Value> = client.list_all(&format!("{BASE}/namedLocations")).await?;
                if output == OutputFormat::Json {
                    return print_json(&list);
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|l| {
                        let what = match l.get("ipRanges").and_then(Value::as_array) {
                            Some(r) => r.iter().map(|x| s(x, "cidrAddress")).collect::<Vec<_>>().join(","),
                            None => l
                                .get("countriesAndRegions")
                                .and_then(Value::as_array)
                                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                                .unwrap_or_default(),
                        };
                        let trusted = l.get("isTrusted").and_then(Value::as_bool).unwrap_or(false);
                        vec![s(l, "id"), s(l, "displayName"), trusted.to_string(), what]
                    })
                    .collect();
                out(&render_table(&["ID", "NAME", "TRUSTED", "RANGES/COUNTRIES"], &rows));
                Ok(())
            }
            LocationsCmd::Create { file } => {
                let body = read_json(&file)?;
                let created: Value = client.post(&format!("{BASE}/namedLocations"), &body).await?;
                if output == OutputFormat::Json {
                    return print_json(&created);
                }
                out(&format!("created {}", s(&created, "id")));
                Ok(())
            }
            LocationsCmd::Delete { id } => Ok(client.delete(&format!("{BASE}/namedLocations/{id}")).await?),
        },
        PoliciesCmd::EmergencyAccess { cmd } => match cmd {
            EmergencyCmd::List => {
                let v: Value = client.get(&format!("{BASE}/ostiaryEmergencyAccessAccounts")).await?;
                print_json(&v)
            }
            EmergencyCmd::Add { user } => {
                let id = resolve_user(&client, &user).await?;
                Ok(client
                    .post_no_content(&format!("{BASE}/ostiaryEmergencyAccessAccounts"), &json!({ "id": id }))
                    .await?)
            }
            EmergencyCmd::Remove { user } => {
                let id = resolve_user(&client, &user).await?;
                Ok(client.delete(&format!("{BASE}/ostiaryEmergencyAccessAccounts/{id}")).await?)
            }
        },
        PoliciesCmd::WhatIf(args) => what_if(&client, args, output).await,
    }
}

async fn what_if(client: &AdminClient, a: WhatIfArgs, output: OutputFormat) -> CliResult {
    let identity = match (&a.user, &a.service_principal) {
        (Some(u), _) => {
            json!({ "@odata.type": "#microsoft.graph.userSignIn", "userId": resolve_user(client, u).await? })
        }
        (None, Some(sp)) => {
            json!({ "@odata.type": "#microsoft.graph.servicePrincipalSignIn", "servicePrincipalId": sp })
        }
        (None, None) => return Err(usage("give --user or --service-principal")),
    };
    let context = match (&a.app, &a.user_action) {
        (Some(app), _) => json!({ "@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app] }),
        (None, Some(action)) => json!({ "@odata.type": "#microsoft.graph.userActionContext", "userAction": action }),
        (None, None) => return Err(usage("give --app or --user-action")),
    };
    let mut conditions = json!({
        "clientAppType": a.client_app_type,
        "signInRiskLevel": a.sign_in_risk,
        "userRiskLevel": a.user_risk,
    });
    if let Some(o) = conditions.as_object_mut() {
        if let Some(ip) = &a.ip {
            o.insert("ipAddress".into(), json!(ip));
        }
        if let Some(c) = &a.country {
            o.insert("country".into(), json!(c));
        }
        if let Some(p) = &a.platform {
            o.insert("devicePlatform".into(), json!(p));
        }
    }
    let body = json!({
        "signInIdentity": identity,
        "signInContext": context,
        "signInConditions": conditions,
        "appliedPoliciesOnly": a.applied_only,
    });
    let resp: Value = client.post(&format!("{BASE}/evaluate"), &body).await?;
    let list = resp.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    if output == OutputFormat::Json {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let applies = p.get("policyApplies").and_then(Value::as_bool).unwrap_or(false);
            let why = p
                .get("ostiaryExplanation")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                .unwrap_or_default();
            vec![
                s(p, "displayName"),
                s(p, "state"),
                if applies { "yes".into() } else { "no".into() },
                s(p, "ostiaryResult"),
                why,
            ]
        })
        .collect();
    out(&render_table(&["POLICY", "STATE", "APPLIES", "RESULT", "WHY"], &rows));
    if let Some(outcome) = resp.get("ostiaryOutcome") {
        out(&format!("outcome: {}", outcome.as_str().unwrap_or_default()));
    }
    Ok(())
}
