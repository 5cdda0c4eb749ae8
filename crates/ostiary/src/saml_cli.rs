//! `ostiary saml …`: SAML single sign-on of one enterprise application through the Graph-shaped
//! API — show, configure (entity ID, reply URLs with indexes, sign-on and logout URLs, RelayState,
//! what to sign, signed requests, NameID, claims), import SP metadata, signing certificates (add,
//! activate, remove) and the IdP metadata URL. The application is named by `--app APPID` or
//! `--sp OBJECT_ID`.
//!
//! Exit codes: 0 success, 1 server/API error, 2 usage error.

use crate::admin::{CliResult, OutputFormat, connect, out, print_json, print_table, usage};
use crate::provisioning_cli::{Which, resolve_sp};
use ostiary_client::AdminClient;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// What the IdP signs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignArg {
    /// The assertion (Entra's default).
    Assertion,
    /// The response.
    Response,
    /// Both.
    Both,
}

#[derive(clap::Args, Debug)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub which: Which,
    /// The SP's entity ID (becomes the application's first identifier URI).
    #[arg(long, value_name = "URI")]
    pub entity_id: Option<String>,
    /// A reply (ACS) URL, optionally with its index: `URL` or `URL=INDEX`. Repeat for several;
    /// replaces the application's web reply URLs.
    #[arg(long = "reply-url", value_name = "URL[=INDEX]")]
    pub reply_urls: Vec<String>,
    #[arg(long, value_name = "URL")]
    pub sign_on_url: Option<String>,
    /// The SP's single-logout URL (HTTP-Redirect binding).
    #[arg(long, value_name = "URL")]
    pub logout_url: Option<String>,
    /// RelayState of IdP-initiated sign-in.
    #[arg(long, value_name = "TEXT")]
    pub relay_state: Option<String>,
    #[arg(long, value_enum)]
    pub sign: Option<SignArg>,
    /// Refuse unsigned AuthnRequests and LogoutRequests.
    #[arg(long, value_name = "BOOL")]
    pub require_signed_requests: Option<bool>,
    /// The SP's request-signing certificate (PEM file). Repeat for several; replaces the list.
    #[arg(long = "request-cert-file", value_name = "PEM")]
    pub request_cert_files: Vec<PathBuf>,
    /// emailAddress, persistent, transient or unspecified.
    #[arg(long, value_name = "FORMAT")]
    pub name_id_format: Option<String>,
    /// The user property the NameID carries (userPrincipalName, mail, objectId, employeeId, …).
    #[arg(long, value_name = "PROPERTY")]
    pub name_id_source: Option<String>,
    /// An attribute: `NAME=user:PROPERTY`, `NAME=constant:TEXT`, `NAME=groups` or `NAME=roles`
    /// (NAME may be a full URI). Repeat for several; replaces the custom claims.
    #[arg(long = "claim", value_name = "NAME=SOURCE[:VALUE]")]
    pub claims: Vec<String>,
    /// Leave out Entra's basic claim set.
    #[arg(long)]
    pub no_basic_claims: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum SamlCmd {
    /// Show the application's SAML configuration and certificates.
    Show(Which),
    /// Turn SAML sign-on on for the application and change its settings.
    Configure(Box<ConfigureArgs>),
    /// Configure the application from the SP's metadata XML.
    ImportMetadata {
        #[command(flatten)]
        which: Which,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Generate a signing certificate (the first becomes active; publish before activating).
    AddCert {
        #[command(flatten)]
        which: Which,
        /// Subject, e.g. `CN=Expense app`.
        #[arg(long)]
        name: Option<String>,
        /// Validity in years (1 to 10; default 3).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=10))]
        years: Option<u8>,
        /// Make it the active certificate at once.
        #[arg(long)]
        activate: bool,
    },
    /// Make a certificate (by thumbprint) the one that signs.
    ActivateCert {
        #[command(flatten)]
        which: Which,
        thumbprint: String,
    },
    /// Remove a certificate (by keyId); the active one only when it is the last.
    RemoveCert {
        #[command(flatten)]
        which: Which,
        key_id: uuid::Uuid,
    },
    /// Print the IdP metadata URL of the application (give it to the SP).
    Metadata(Which),
}

fn parse_reply_url(v: &str) -> CliResult<(String, Option<i64>)> {
    match v.rsplit_once('=') {
        Some((url, idx)) if idx.chars().all(|c| c.is_ascii_digit()) && !idx.is_empty() => {
            let i: i64 = idx.parse().map_err(|_| usage(format!("bad index in --reply-url `{v}`")))?;
            if i > 65_535 {
                return Err(usage(format!("--reply-url index {i} is above 65535")));
            }
            Ok((url.to_string(), Some(i)))
        }
        _ => Ok((v.to_string(), None)),
    }
}

/// `NAME=SOURCE[:VALUE]` as a customClaim of a claims policy.
fn parse_claim(v: &str) -> CliResult<Value> {
    let (name, spec) =
        v.split_once('=').ok_or_else(|| usage(format!("--claim `{v}`: expected NAME=SOURCE[:VALUE]")))?;
    if name.is_empty() {
        return Err(usage(format!("--claim `{v}`: empty name")));
    }
    let (source, value) = match spec.split_once(':') {
        Some((s, val)) => (s, Some(val)),
        None => (spec, None),
    };
    let attribute = match (source, value) {
        ("user", Some(p)) if !p.is_empty() => json!({"source": "user", "id": p}),
        ("constant", Some(c)) => json!({"source": "constant", "id": c}),
        ("groups", None) => json!({"source": "groups"}),
        ("roles", None) => json!({"source": "roles"}),
        _ => return Err(usage(format!("--claim `{v}`: SOURCE is user:PROPERTY, constant:TEXT, groups or roles"))),
    };
    // A full URI name keeps its last segment as the name, the rest as the namespace.
    let (namespace, short) = match name.rsplit_once('/') {
        Some((ns, n)) if name.contains("://") && !n.is_empty() => (Some(ns.to_string()), n.to_string()),
        _ => (None, name.to_string()),
    };
    Ok(json!({
        "@odata.type": "#microsoft.graph.customClaim",
        "name": short,
        "namespace": namespace,
        "configurations": [{"attribute": attribute}],
    }))
}

fn read_file(path: &PathBuf) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

pub async fn run(cmd: SamlCmd, output: OutputFormat) -> CliResult {
    // Local inputs first, so that usage errors need no server.
    let prepared = match &cmd {
        SamlCmd::Configure(a) => Some(prepare(a)?),
        _ => None,
    };
    let metadata_xml = match &cmd {
        SamlCmd::ImportMetadata { file, .. } => Some(read_file(file)?),
        _ => None,
    };
    let client = connect().await?;
    match cmd {
        SamlCmd::Show(which) => {
            let sp = resolve_sp(&client, &which).await?;
            show(&client, &sp, output).await
        }
        SamlCmd::Configure(a) => {
            let sp = resolve_sp(&client, &a.which).await?;
            let Some(p) = prepared else { return Err(usage("nothing to configure")) };
            configure(&client, &sp, p).await?;
            show(&client, &sp, output).await
        }
        SamlCmd::ImportMetadata { which, .. } => {
            let sp = resolve_sp(&client, &which).await?;
            let xml = metadata_xml.unwrap_or_default();
            let _: Value =
                client.post(&format!("/servicePrincipals/{sp}/importSamlMetadata"), &json!({"metadata": xml})).await?;
            show(&client, &sp, output).await
        }
        SamlCmd::AddCert { which, name, years, activate } => {
            let sp = resolve_sp(&client, &which).await?;
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("displayName".into(), json!(n));
            }
            if let Some(y) = years {
                let end = {
                    use ostiary_core::Clock as _;
                    crate::runtime::SystemClock.now()
                } + time::Duration::days(365 * i64::from(y));
                body.insert(
                    "endDateTime".into(),
                    json!(end.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
                );
            }
            let cert: Value = client
                .post(&format!("/servicePrincipals/{sp}/addTokenSigningCertificate"), &Value::Object(body))
                .await?;
            if activate {
                client
                    .patch(
                        &format!("/servicePrincipals/{sp}"),
                        &json!({"preferredTokenSigningKeyThumbprint": cert["thumbprint"]}),
                    )
                    .await?;
            }
            match output {
                OutputFormat::Json => print_json(&cert),
                OutputFormat::Table => {
                    out(&format!(
                        "Added signing certificate {} (thumbprint {}, ends {}){}",
                        cert["keyId"].as_str().unwrap_or_default(),
                        cert["thumbprint"].as_str().unwrap_or_default(),
                        cert["endDateTime"].as_str().unwrap_or_default(),
                        if activate { ", now active" } else { "" }
                    ));
                    Ok(())
                }
            }
        }
        SamlCmd::ActivateCert { which, thumbprint } => {
            let sp = resolve_sp(&client, &which).await?;
            client
                .patch(&format!("/servicePrincipals/{sp}"), &json!({"preferredTokenSigningKeyThumbprint": thumbprint}))
                .await?;
            show(&client, &sp, output).await
        }
        SamlCmd::RemoveCert { which, key_id } => {
            let sp = resolve_sp(&client, &which).await?;
            client
                .post_no_content(
                    &format!("/servicePrincipals/{sp}/removeTokenSigningCertificate"),
                    &json!({"keyId": key_id}),
                )
                .await?;
            show(&client, &sp, output).await
        }
        SamlCmd::Metadata(which) => {
            let sp = resolve_sp(&client, &which).await?;
            let spv: Value = client.get(&format!("/servicePrincipals/{sp}")).await?;
            out(&metadata_url(&client, &spv));
            Ok(())
        }
    }
}

/// The Graph calls of `configure`, computed before connecting.
struct Prepared {
    app: Map<String, Value>,
    sp: Map<String, Value>,
    claims: Option<Value>,
}

fn prepare(a: &ConfigureArgs) -> CliResult<Prepared> {
    let mut settings = Map::new();
    if let Some(r) = &a.relay_state {
        settings.insert("relayState".into(), json!(r));
    }
    if let Some(s) = a.sign {
        let v = match s {
            SignArg::Assertion => "TokenOnly",
            SignArg::Response => "ResponseOnly",
            SignArg::Both => "ResponseAndToken",
        };
        settings.insert("signingOption".into(), json!(v));
    }
    if let Some(b) = a.require_signed_requests {
        settings.insert("requireSignedRequests".into(), json!(b));
    }
    if !a.request_cert_files.is_empty() {
        let certs = a.request_cert_files.iter().map(read_file).collect::<CliResult<Vec<_>>>()?;
        settings.insert("requestSigningCertificates".into(), json!(certs));
    }
    let mut sp = Map::new();
    sp.insert("preferredSingleSignOnMode".into(), json!("saml"));
    if !settings.is_empty() {
        sp.insert("samlSingleSignOnSettings".into(), Value::Object(settings));
    }
    if let Some(u) = &a.sign_on_url {
        sp.insert("loginUrl".into(), json!(u));
    }
    if let Some(u) = &a.logout_url {
        sp.insert("logoutUrl".into(), json!(u));
    }
    let mut app = Map::new();
    if let Some(e) = &a.entity_id {
        app.insert("identifierUris".into(), json!([e]));
    }
    if !a.reply_urls.is_empty() {
        let parsed = a.reply_urls.iter().map(|r| parse_reply_url(r)).collect::<CliResult<Vec<_>>>()?;
        let uris: Vec<&str> = parsed.iter().map(|(u, _)| u.as_str()).collect();
        let settings: Vec<Value> =
            parsed.iter().filter(|(_, i)| i.is_some()).map(|(u, i)| json!({"uri": u, "index": i})).collect();
        app.insert("web".into(), json!({"redirectUris": uris, "redirectUriSettings": settings}));
    }
    let mut policy_claims = Vec::new();
    if a.name_id_format.is_some() || a.name_id_source.is_some() {
        let mut c = json!({"@odata.type": "#microsoft.graph.samlNameIdClaim"});
        if let Some(f) = &a.name_id_format {
            c["nameIdFormat"] = json!(f);
        }
        if let Some(s) = &a.name_id_source {
            c["configurations"] = json!([{"attribute": {"source": "user", "id": s}}]);
        }
        policy_claims.push(c);
    }
    for c in &a.claims {
        policy_claims.push(parse_claim(c)?);
    }
    let claims = if policy_claims.is_empty() && !a.no_basic_claims {
        None
    } else {
        let mut p = json!({"includeBasicClaimSet": !a.no_basic_claims});
        if !policy_claims.is_empty() {
            p["claims"] = Value::Array(policy_claims);
        }
        Some(p)
    };
    Ok(Prepared { app, sp, claims })
}

async fn configure(client: &AdminClient, sp: &str, p: Prepared) -> CliResult {
    if !p.app.is_empty() {
        let spv: Value = client.get(&format!("/servicePrincipals/{sp}")).await?;
        let app_id = spv["appId"].as_str().unwrap_or_default();
        let apps: Value = client.get(&format!("/applications(appId='{app_id}')")).await?;
        let app_object = apps["id"].as_str().ok_or_else(|| usage("the service principal has no application object"))?;
        client.patch(&format!("/applications/{app_object}"), &Value::Object(p.app)).await?;
    }
    client.patch(&format!("/servicePrincipals/{sp}"), &Value::Object(p.sp)).await?;
    if let Some(c) = p.claims {
        client.patch(&format!("/servicePrincipals/{sp}/claimsPolicy"), &c).await?;
    }
    Ok(())
}

fn metadata_url(client: &AdminClient, sp: &Value) -> String {
    let base = client.config().authority.trim_end_matches('/');
    format!(
        "{base}/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}",
        client.config().tenant,
        sp["appId"].as_str().unwrap_or_default()
    )
}

async fn show(client: &AdminClient, sp: &str, output: OutputFormat) -> CliResult {
    let spv: Value = client.get(&format!("/servicePrincipals/{sp}")).await?;
    let app_id = spv["appId"].as_str().unwrap_or_default().to_string();
    let app: Value = client.get(&format!("/applications(appId='{app_id}')")).await.unwrap_or(Value::Null);
    let claims: Value = client.get(&format!("/servicePrincipals/{sp}/claimsPolicy")).await?;
    let view = json!({
        "servicePrincipalId": spv["id"],
        "appId": app_id,
        "displayName": spv["displayName"],
        "preferredSingleSignOnMode": spv["preferredSingleSignOnMode"],
        "entityIds": app["identifierUris"],
        "replyUrls": app["web"]["redirectUris"],
        "replyUrlIndexes": app["web"]["redirectUriSettings"],
        "loginUrl": spv["loginUrl"],
        "logoutUrl": spv["logoutUrl"],
        "samlSingleSignOnSettings": spv["samlSingleSignOnSettings"],
        "preferredTokenSigningKeyThumbprint": spv["preferredTokenSigningKeyThumbprint"],
        "keyCredentials": spv["keyCredentials"],
        "claimsPolicy": claims,
        "metadataUrl": metadata_url(client, &spv),
    });
    match output {
        OutputFormat::Json => print_json(&view),
        OutputFormat::Table => {
            let s = |v: &Value| match v {
                Value::Null => "-".to_string(),
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            let rows: Vec<Vec<String>> = [
                "displayName",
                "appId",
                "preferredSingleSignOnMode",
                "entityIds",
                "replyUrls",
                "replyUrlIndexes",
                "loginUrl",
                "logoutUrl",
                "samlSingleSignOnSettings",
                "preferredTokenSigningKeyThumbprint",
                "metadataUrl",
            ]
            .iter()
            .map(|k| vec![(*k).to_string(), s(&view[*k])])
            .collect();
            print_table(&["SETTING", "VALUE"], &rows);
            let certs: Vec<Vec<String>> = spv["keyCredentials"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|k| k["usage"] == "Verify")
                        .map(|k| {
                            vec![
                                s(&k["keyId"]),
                                s(&k["displayName"]),
                                s(&k["customKeyIdentifier"]),
                                s(&k["endDateTime"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !certs.is_empty() {
                out("");
                print_table(&["CERTIFICATE KEY ID", "NAME", "THUMBPRINT (BASE64)", "ENDS (UTC)"], &certs);
            }
            let names: Vec<Vec<String>> = claims["claims"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            let attr = &c["configurations"][0]["attribute"];
                            let name = match (&c["namespace"], &c["name"]) {
                                (Value::String(ns), Value::String(n)) => format!("{ns}/{n}"),
                                (_, Value::String(n)) => n.clone(),
                                _ => format!("NameID ({})", s(&c["nameIdFormat"])),
                            };
                            vec![name, format!("{}:{}", s(&attr["source"]), s(&attr["id"]))]
                        })
                        .collect()
                })
                .unwrap_or_default();
            out("");
            print_table(&["CLAIM", "SOURCE"], &names);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn reply_urls_and_claims_parse() {
        assert_eq!(parse_reply_url("https://a/acs=3").unwrap(), ("https://a/acs".into(), Some(3)));
        assert_eq!(parse_reply_url("https://a/acs?x=y").unwrap(), ("https://a/acs?x=y".into(), None));
        assert!(parse_reply_url("https://a/acs=99999").is_err());
        let c = parse_claim("http://schemas.xmlsoap.org/claims/Group=groups").unwrap();
        assert_eq!(c["name"], "Group");
        assert_eq!(c["namespace"], "http://schemas.xmlsoap.org/claims");
        assert_eq!(c["configurations"][0]["attribute"]["source"], "groups");
        let c = parse_claim("dept=user:department").unwrap();
        assert_eq!((c["name"].as_str(), c["namespace"].is_null()), (Some("dept"), true));
        assert!(parse_claim("x=user").is_err());
        assert!(parse_claim("x=bogus:1").is_err());
        assert!(parse_claim("=groups").is_err());
    }
}
