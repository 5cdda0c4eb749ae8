//! Admin CLI subcommands (`ostiary login|users|groups|apps|logs`): administer a running server
//! through its Graph-shaped admin API with `ostiary-client`. `logs` lives in
//! [`crate::logs_cli`] and shares this module's profile, errors and output helpers.
//!
//! Security: secrets are never taken from argv. `login` reads the client secret from stdin or
//! from the bootstrap credentials file and stores it in a profile file created with mode 0600
//! (directory 0700). Generated passwords and new client secrets are printed once on stdout and
//! never logged.
//!
//! Exit codes: 0 success, 1 server/API error, 2 usage or configuration error. `apps expiring`
//! exits 0 whether or not any credential expires (it is a report, not a check).

use base64::Engine as _;
use ostiary_api_types::{
    AppRole, Application, ApplicationCreate, BootstrapCredentials, DirectoryObject, Group, GroupCreate, KeyCredential,
    PasswordCredential, PasswordProfile, ServicePrincipal, ServicePrincipalCreate, User, UserCreate, UserUpdate,
};
use ostiary_client::{AdminClient, ClientConfig, ClientError, ListQuery};
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

// ==================================================================== command line

/// Output format of admin commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for humans.
    #[default]
    Table,
    /// Pretty-printed Graph JSON.
    Json,
}

/// Admin commands, run against a server through its admin API.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Check admin-application credentials against a server and save them as the login profile.
    Login(LoginArgs),
    /// Manage users.
    Users {
        #[command(subcommand)]
        cmd: UsersCmd,
    },
    /// Manage groups and their members.
    Groups {
        #[command(subcommand)]
        cmd: GroupsCmd,
    },
    /// Manage applications, their credentials and app role grants.
    Apps {
        #[command(subcommand)]
        cmd: AppsCmd,
    },
    /// Read and follow the sign-in and directory audit logs.
    Logs {
        #[command(subcommand)]
        cmd: crate::logs_cli::LogsCmd,
    },
    /// Conditional Access policies, named locations, emergency-access accounts and What-If.
    Policies {
        #[command(subcommand)]
        cmd: crate::policies_cli::PoliciesCmd,
    },
    /// Outbound SCIM provisioning of an application: configure, status, start, pause, restart,
    /// provision one user on demand, delete.
    Provisioning {
        #[command(subcommand)]
        cmd: crate::provisioning_cli::ProvisioningCmd,
    },
    /// SAML single sign-on of an application: show, configure, import SP metadata, signing
    /// certificates (add, activate, remove), IdP metadata URL.
    Saml {
        #[command(subcommand)]
        cmd: crate::saml_cli::SamlCmd,
    },
}

/// `ostiary login`: from a bootstrap credentials file, or from explicit values with the secret on
/// stdin.
#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["bootstrap_file", "authority"])
))]
pub struct LoginArgs {
    /// Bootstrap credentials JSON written by `ostiary serve` or `ostiary tenant create`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["authority", "tenant", "client_id", "client_secret_stdin"])]
    pub bootstrap_file: Option<PathBuf>,
    /// Server base URL, e.g. https://127.0.0.1:8443.
    #[arg(long, value_name = "URL", requires_all = ["tenant", "client_id", "client_secret_stdin"])]
    pub authority: Option<String>,
    /// Tenant id or domain.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Client id of an application with Graph application permissions.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Read the client secret from standard input (it is never accepted as an argument).
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// PEM file of the CA that issued the server's TLS certificate (overrides the bootstrap
    /// file's `caCertificate`).
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// `ostiary users …`.
#[derive(clap::Subcommand, Debug)]
pub enum UsersCmd {
    /// List users.
    List {
        /// OData $filter, e.g. "startswith(displayName,'A')".
        #[arg(long)]
        filter: Option<String>,
        /// Return at most N users (one page).
        #[arg(long, value_name = "N")]
        top: Option<u32>,
    },
    /// Show a user.
    Get {
        /// Object id or user principal name.
        id_or_upn: String,
    },
    /// Create a user.
    #[command(group(
        clap::ArgGroup::new("password")
            .required(true)
            .args(["password_stdin", "password_generate"])
    ))]
    Create {
        /// User principal name (user@domain).
        #[arg(long)]
        upn: String,
        /// Display name.
        #[arg(long)]
        display_name: String,
        /// Mail nickname (default: the local part of the UPN).
        #[arg(long)]
        mail_nickname: Option<String>,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Generate a random 16-character password and print it once.
        #[arg(long)]
        password_generate: bool,
        /// Require a password change at the next sign-in.
        #[arg(long)]
        force_change_password: bool,
        /// Create the account disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Update a user's properties (an empty string clears job title or department).
    Update {
        /// Object id or user principal name.
        id: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        job_title: Option<String>,
        #[arg(long)]
        department: Option<String>,
        /// Enable or disable sign-in.
        #[arg(long, value_name = "true|false")]
        enabled: Option<bool>,
    },
    /// Delete a user.
    Delete {
        /// Object id or user principal name.
        id: String,
    },
}

/// `ostiary groups …`.
#[derive(clap::Subcommand, Debug)]
pub enum GroupsCmd {
    /// List groups.
    List {
        /// OData $filter.
        #[arg(long)]
        filter: Option<String>,
        /// Return at most N groups (one page).
        #[arg(long, value_name = "N")]
        top: Option<u32>,
    },
    /// Show a group.
    Get {
        /// Object id.
        id: Uuid,
    },
    /// Create a security group.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Mail nickname (default: derived from the name).
        #[arg(long)]
        mail_nickname: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group.
    Delete {
        /// Object id.
        id: Uuid,
    },
    /// List a group's members.
    Members {
        /// Group object id.
        id: Uuid,
        /// Include members of nested groups.
        #[arg(long)]
        transitive: bool,
    },
    /// Add a user, group or service principal to a group.
    AddMember {
        /// Group object id.
        group: Uuid,
        /// Object id of the member.
        member_id: Uuid,
    },
    /// Remove a member from a group.
    RemoveMember {
        /// Group object id.
        group: Uuid,
        /// Object id of the member.
        member_id: Uuid,
    },
}

/// `ostiary apps …`. `APP` is an application object id or its appId (client id).
#[derive(clap::Subcommand, Debug)]
pub enum AppsCmd {
    /// List applications.
    List {
        /// OData $filter.
        #[arg(long)]
        filter: Option<String>,
        /// Return at most N applications (one page).
        #[arg(long, value_name = "N")]
        top: Option<u32>,
    },
    /// Show an application.
    Get {
        /// Object id or appId.
        app: Uuid,
    },
    /// Register an application (and, by default, its service principal).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Application ID URI, e.g. api://orders (repeatable).
        #[arg(long = "identifier-uri", value_name = "URI")]
        identifier_uris: Vec<String>,
        /// An application-type app role with this value (repeatable).
        #[arg(long = "app-role", value_name = "VALUE")]
        app_roles: Vec<String>,
        /// Do not create the service principal.
        #[arg(long)]
        no_service_principal: bool,
    },
    /// Delete an application.
    Delete {
        /// Object id or appId.
        app: Uuid,
    },
    /// Add a client secret; prints it once.
    AddSecret {
        /// Object id or appId.
        app: Uuid,
        /// Display name of the secret.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in days (default: the server's).
        #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: Option<u32>,
    },
    /// Remove a client secret.
    RemoveSecret {
        /// Object id or appId.
        app: Uuid,
        /// keyId of the secret.
        key_id: Uuid,
    },
    /// Add an X.509 certificate credential from a PEM file (a private key in the file is
    /// ignored).
    AddCert {
        /// Object id or appId.
        app: Uuid,
        /// PEM file holding the certificate.
        #[arg(long, value_name = "PEM")]
        cert_file: PathBuf,
        /// Display name of the credential.
        #[arg(long)]
        name: Option<String>,
    },
    /// Grant an application role of a resource to a client application.
    GrantRole {
        /// The client: appId or service principal object id.
        #[arg(long, value_name = "APPID_OR_SPID")]
        client: Uuid,
        /// The resource: appId or service principal object id.
        #[arg(long, value_name = "APPID_OR_SPID")]
        resource: Uuid,
        /// The role's value, e.g. User.Read.All.
        #[arg(long, value_name = "VALUE")]
        role: String,
    },
    /// List client secrets and certificates of every application that expire within a window
    /// or have already expired (expired first). Exits 0 whether or not any are found.
    Expiring {
        /// The window from now: `Nd` (days) or `Nh` (hours).
        #[arg(long, value_name = "Nd|Nh", default_value = "30d", value_parser = parse_window)]
        within: time::Duration,
    },
}

// ==================================================================== errors and output

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad input or local configuration (exit 2).
    Usage(String),
    /// The server refused or could not be reached (exit 1).
    Api(ClientError),
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Config(m) => CliError::Usage(m),
            other => CliError::Api(other),
        }
    }
}

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

pub(crate) fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Writes to stdout, ignoring errors such as a closed pipe.
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> CliResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Api(ClientError::Decode(e.to_string())))?;
    out(&text);
    Ok(())
}

/// Renders rows under headers with columns padded to their widest cell; the last column is not
/// padded.
pub(crate) fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let len = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(len),
                None => widths.push(len),
            }
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            l.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push_str(l.trim_end());
        text.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    out(&render_table(headers, rows));
}

/// Renders `key: value` lines with aligned values.
fn render_kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (k, v) in pairs {
        let pad = width - k.chars().count();
        let line = format!("{k}:{} {v}", " ".repeat(pad));
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn print_kv(pairs: &[(&str, String)]) {
    out(&render_kv(pairs));
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn opt_bool(v: Option<bool>) -> String {
    v.map(|b| b.to_string()).unwrap_or_default()
}

// ==================================================================== profile

/// The saved login: everything needed to get a token. Stored as JSON with mode 0600.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    authority: String,
    tenant: String,
    client_id: String,
    client_secret: String,
    /// PEM of the CA to trust exclusively, if the server's certificate is self-issued.
    #[serde(default)]
    ca_pem: Option<String>,
}

impl Profile {
    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            authority: self.authority.clone(),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            ca_pem: self.ca_pem.clone(),
        }
    }
}

/// `$OSTIARY_CONFIG_DIR`, else `$HOME/.config/ostiary`.
#[allow(clippy::disallowed_methods, reason = "the binary reads its environment; this is the admin CLI's single place")]
fn config_dir() -> CliResult<PathBuf> {
    if let Some(dir) = std::env::var_os("OSTIARY_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("ostiary")),
        None => Err(usage("cannot locate the profile: set OSTIARY_CONFIG_DIR or HOME")),
    }
}

fn profile_path() -> CliResult<PathBuf> {
    Ok(config_dir()?.join("profile.json"))
}

fn load_profile() -> CliResult<Profile> {
    let path = profile_path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage("not logged in: run `ostiary login`"));
        }
        Err(e) => return Err(usage(format!("cannot read {}: {e}", path.display()))),
    };
    serde_json::from_str(&text)
        .map_err(|e| usage(format!("invalid profile {}: {e}; run `ostiary login` again", path.display())))
}

/// Writes the profile atomically: a new 0600 file in a 0700 directory, renamed into place.
fn save_profile(profile: &Profile) -> CliResult<PathBuf> {
    let dir = config_dir()?;
    create_private_dir(&dir).map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("profile.json");
    let tmp = dir.join(format!(".profile.json.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(profile).map_err(|e| usage(format!("cannot encode the profile: {e}")))?;
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = create_private_file(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        usage(format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

pub(crate) async fn connect() -> CliResult<AdminClient> {
    let profile = load_profile()?;
    Ok(AdminClient::connect(profile.client_config()).await?)
}

// ==================================================================== helpers

/// Reads standard input to the end and trims the trailing newline; refuses an empty value.
pub(crate) fn read_stdin_secret(what: &str) -> CliResult<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "{what} (input is visible; end with Enter): ");
        let _ = stderr.flush();
        let mut line = String::new();
        stdin.read_line(&mut line).map_err(|e| usage(format!("cannot read {what} from stdin: {e}")))?;
        return non_empty_secret(line, what);
    }
    let mut buf = String::new();
    stdin.lock().read_to_string(&mut buf).map_err(|e| usage(format!("cannot read {what} from stdin: {e}")))?;
    non_empty_secret(buf, what)
}

pub(crate) fn non_empty_secret(mut s: String, what: &str) -> CliResult<String> {
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
    if s.is_empty() {
        return Err(usage(format!("{what} on stdin is empty")));
    }
    Ok(s)
}

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-=?@^_~";

/// Draws uniformly distributed indices below `n` from random bytes (rejection sampling).
struct ByteDice {
    bytes: Vec<u8>,
    pos: usize,
}

impl ByteDice {
    fn below(&mut self, n: usize) -> Option<usize> {
        // `n` is at most 256, so the accepted range is a multiple of `n` within a byte.
        let limit = 256 - (256 % n);
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if usize::from(b) < limit {
                return Some(usize::from(b) % n);
            }
        }
        None
    }
}

/// A 16-character password with at least one upper-case letter, lower-case letter, digit and
/// symbol, from random bytes (see [`generate_password`]).
fn password_from_bytes(bytes: Vec<u8>) -> Option<String> {
    let classes: [&[u8]; 4] = [UPPER, LOWER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    let mut dice = ByteDice { bytes, pos: 0 };
    let mut chars: Vec<u8> = Vec::with_capacity(16);
    for class in classes {
        chars.push(*class.get(dice.below(class.len())?)?);
    }
    while chars.len() < 16 {
        chars.push(*all.get(dice.below(all.len())?)?);
    }
    // Fisher–Yates shuffle so that the guaranteed classes are not always first.
    for i in (1..chars.len()).rev() {
        let j = dice.below(i + 1)?;
        chars.swap(i, j);
    }
    String::from_utf8(chars).ok()
}

/// Generates a password from /dev/urandom.
fn generate_password() -> CliResult<String> {
    let mut f = std::fs::File::open("/dev/urandom").map_err(|e| usage(format!("cannot open /dev/urandom: {e}")))?;
    // 16 characters and 15 shuffle draws need 31 bytes; rejection sampling needs a few more.
    let mut bytes = vec![0u8; 256];
    f.read_exact(&mut bytes).map_err(|e| usage(format!("cannot read /dev/urandom: {e}")))?;
    password_from_bytes(bytes).ok_or_else(|| usage("cannot generate a password"))
}

/// The base64 (standard alphabet) of the DER of the first `CERTIFICATE` block of a PEM text.
/// Other blocks (private keys, further certificates) are ignored.
fn pem_certificate_der_b64(pem: &str) -> Result<String, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or_else(|| "no `-----BEGIN CERTIFICATE-----` block found".to_owned())? + BEGIN.len();
    let rest = pem.get(start..).unwrap_or_default();
    let end = rest.find(END).ok_or_else(|| "the CERTIFICATE block is not terminated".to_owned())?;
    let body: String = rest.get(..end).unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("the CERTIFICATE block is not valid base64: {e}"))?;
    // A certificate is a DER SEQUENCE.
    if der.first() != Some(&0x30) || der.len() < 64 {
        return Err("the CERTIFICATE block does not hold a DER certificate".to_owned());
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// The default mail nickname for a group: the name's ASCII letters, digits, `-`, `_` and `.`.
fn nickname_from_name(name: &str) -> String {
    let nick: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(64).collect();
    if nick.is_empty() { "group".to_owned() } else { nick }
}

/// `scheme://host[:port]` of a URL such as the issuer `https://h:8443/{tenant}/v2.0`.
fn authority_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

fn read_ca(path: &Path) -> CliResult<String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read CA certificate {}: {e}", path.display())))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(usage(format!("{} does not contain a PEM certificate", path.display())));
    }
    Ok(pem)
}

#[allow(
    clippy::disallowed_methods,
    reason = "the binary owns the real clock; a secret's expiry is computed from it here only"
)]
fn rfc3339_days_from_now(days: u32) -> CliResult<String> {
    let end = time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days));
    end.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| usage(format!("cannot format the expiry: {e}")))
}

/// `--within` of `apps expiring`: `Nd` (days) or `Nh` (hours), N from 0 to 36500 days.
fn parse_window(s: &str) -> Result<time::Duration, String> {
    let bad = || format!("`{s}` is not a window such as 30d or 12h");
    let t = s.trim();
    let Some(unit) = t.chars().last() else {
        return Err(bad());
    };
    let n = t.get(..t.len() - unit.len_utf8()).unwrap_or_default();
    let n: i64 = if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
        n.parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    let d = match unit {
        'd' | 'D' => time::Duration::days(n.min(36_501)),
        'h' | 'H' => time::Duration::hours(n.min(36_501 * 24)),
        _ => return Err(bad()),
    };
    if d > time::Duration::days(36_500) {
        return Err(format!("`{s}` is longer than 36500 days"));
    }
    Ok(d)
}

// ==================================================================== entry point

/// Runs an admin command and returns the process exit code (0 success, 1 server/API error,
/// 2 usage or configuration error). Errors are printed to stderr.
pub async fn run(cmd: AdminCommand, output: OutputFormat) -> ExitCode {
    let result = match cmd {
        AdminCommand::Login(args) => login(args, output).await,
        AdminCommand::Users { cmd } => users(cmd, output).await,
        AdminCommand::Groups { cmd } => groups(cmd, output).await,
        AdminCommand::Apps { cmd } => apps(cmd, output).await,
        AdminCommand::Logs { cmd } => crate::logs_cli::run(cmd, output).await,
        AdminCommand::Policies { cmd } => crate::policies_cli::run(cmd, output).await,
        AdminCommand::Provisioning { cmd } => crate::provisioning_cli::run(cmd, output).await,
        AdminCommand::Saml { cmd } => crate::saml_cli::run(cmd, output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Api(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

// ==================================================================== login

async fn login(args: LoginArgs, output: OutputFormat) -> CliResult {
    let mut profile = if let Some(file) = &args.bootstrap_file {
        let text = std::fs::read_to_string(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        let creds: BootstrapCredentials = serde_json::from_str(&text)
            .map_err(|e| usage(format!("{} is not a bootstrap credentials file: {e}", file.display())))?;
        let authority = authority_of(&creds.issuer)
            .ok_or_else(|| usage(format!("invalid issuer `{}` in {}", creds.issuer, file.display())))?;
        let ca_pem = match (&args.ca_cert, &creds.ca_certificate) {
            (Some(_), _) | (None, None) => None,
            (None, Some(ca)) => {
                let mut ca_path = PathBuf::from(ca);
                if ca_path.is_relative()
                    && let Some(dir) = file.parent()
                {
                    ca_path = dir.join(ca_path);
                }
                if ca_path.exists() {
                    Some(read_ca(&ca_path)?)
                } else {
                    eprintln!(
                        "warning: CA certificate {} not found; trusting the system's root certificates",
                        ca_path.display()
                    );
                    None
                }
            }
        };
        Profile {
            authority,
            tenant: creds.tenant_id,
            client_id: creds.client_id,
            client_secret: creds.client_secret,
            ca_pem,
        }
    } else {
        let (Some(authority), Some(tenant), Some(client_id)) = (&args.authority, &args.tenant, &args.client_id) else {
            return Err(usage(
                "pass --bootstrap-file, or --authority, --tenant, --client-id and --client-secret-stdin",
            ));
        };
        if !args.client_secret_stdin {
            return Err(usage("--client-secret-stdin is required with --authority"));
        }
        let client_secret = read_stdin_secret("client secret")?;
        Profile {
            authority: authority.trim_end_matches('/').to_owned(),
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            client_secret,
            ca_pem: None,
        }
    };
    if let Some(ca) = &args.ca_cert {
        profile.ca_pem = Some(read_ca(ca)?);
    }

    let client = AdminClient::connect(profile.client_config()).await?;
    client.fetch_token().await?;
    let path = save_profile(&profile)?;
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "authority": profile.authority,
            "tenant": profile.tenant,
            "clientId": profile.client_id,
            "profile": path,
        }))?,
        OutputFormat::Table => {
            out(&format!("Logged in to tenant {} as {}", profile.tenant, profile.client_id));
            eprintln!("profile saved to {}", path.display());
        }
    }
    Ok(())
}

// ==================================================================== users

fn list_query(filter: Option<String>, top: Option<u32>) -> ListQuery {
    ListQuery { filter, top, select: Vec::new() }
}

fn user_row(u: &User) -> Vec<String> {
    vec![u.id.to_string(), opt(&u.user_principal_name), opt(&u.display_name), opt_bool(u.account_enabled)]
}

const USER_HEADERS: [&str; 4] = ["ID", "USER PRINCIPAL NAME", "DISPLAY NAME", "ENABLED"];

fn print_user(u: &User) {
    print_kv(&[
        ("ID", u.id.to_string()),
        ("User principal name", opt(&u.user_principal_name)),
        ("Display name", opt(&u.display_name)),
        ("Enabled", opt_bool(u.account_enabled)),
        ("Mail nickname", opt(&u.mail_nickname)),
        ("Mail", opt(&u.mail)),
        ("Job title", opt(&u.job_title)),
        ("Department", opt(&u.department)),
        ("User type", opt(&u.user_type)),
        ("Created", opt(&u.created_date_time)),
    ]);
}

/// A user's object id: the argument itself if it is a GUID, else looked up by UPN.
async fn resolve_user_id(client: &AdminClient, id_or_upn: &str) -> CliResult<Uuid> {
    match Uuid::parse_str(id_or_upn.trim()) {
        Ok(id) => Ok(id),
        Err(_) => Ok(client.get_user(id_or_upn).await?.id),
    }
}

async fn users(cmd: UsersCmd, output: OutputFormat) -> CliResult {
    let client = connect().await?;
    match cmd {
        UsersCmd::List { filter, top } => {
            let users = client.list_users(&list_query(filter, top)).await?;
            match output {
                OutputFormat::Json => print_json(&users)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = users.iter().map(user_row).collect();
                    print_table(&USER_HEADERS, &rows);
                }
            }
        }
        UsersCmd::Get { id_or_upn } => {
            let user = client.get_user(&id_or_upn).await?;
            match output {
                OutputFormat::Json => print_json(&user)?,
                OutputFormat::Table => print_user(&user),
            }
        }
        UsersCmd::Create {
            upn,
            display_name,
            mail_nickname,
            password_stdin,
            password_generate,
            force_change_password,
            disabled,
        } => {
            let Some((local, _domain)) = upn.split_once('@') else {
                return Err(usage(format!("`{upn}` is not a user principal name (user@domain)")));
            };
            let mail_nickname = mail_nickname.unwrap_or_else(|| local.to_owned());
            let (password, generated) = if password_generate {
                (generate_password()?, true)
            } else if password_stdin {
                (read_stdin_secret("password")?, false)
            } else {
                return Err(usage("pass --password-stdin or --password-generate"));
            };
            let body = UserCreate {
                account_enabled: Some(!disabled),
                display_name: Some(display_name),
                user_principal_name: Some(upn),
                mail_nickname: Some(mail_nickname),
                password_profile: Some(PasswordProfile {
                    password: Some(password.clone()),
                    force_change_password_next_sign_in: Some(force_change_password),
                    ..PasswordProfile::default()
                }),
                ..UserCreate::default()
            };
            let user = client.create_user(&body).await?;
            match output {
                OutputFormat::Json if generated => print_json(&serde_json::json!({
                    "user": user,
                    "generatedPassword": password,
                }))?,
                OutputFormat::Json => print_json(&user)?,
                OutputFormat::Table => {
                    print_table(&USER_HEADERS, &[user_row(&user)]);
                    if generated {
                        out(&format!("Generated password: {password}"));
                        eprintln!("note: the password is shown only once");
                    }
                }
            }
        }
        UsersCmd::Update { id, display_name, job_title, department, enabled } => {
            let clearable = |v: Option<String>| v.map(|s| if s.is_empty() { None } else { Some(s) });
            let body = UserUpdate {
                display_name,
                job_title: clearable(job_title),
                department: clearable(department),
                account_enabled: enabled,
                ..UserUpdate::default()
            };
            if body == UserUpdate::default() {
                return Err(usage("nothing to update: pass --display-name, --job-title, --department or --enabled"));
            }
            let id = resolve_user_id(&client, &id).await?;
            client.update_user(id, &body).await?;
            match output {
                OutputFormat::Json => print_json(&client.get_user(&id.to_string()).await?)?,
                OutputFormat::Table => out(&format!("Updated user {id}")),
            }
        }
        UsersCmd::Delete { id } => {
            let id = resolve_user_id(&client, &id).await?;
            client.delete_user(id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"deleted": id}))?,
                OutputFormat::Table => out(&format!("Deleted user {id}")),
            }
        }
    }
    Ok(())
}

// ==================================================================== groups

fn group_row(g: &Group) -> Vec<String> {
    vec![
        g.id.to_string(),
        opt(&g.display_name),
        opt(&g.mail_nickname),
        opt_bool(g.security_enabled),
        g.group_types.join(","),
    ]
}

const GROUP_HEADERS: [&str; 5] = ["ID", "DISPLAY NAME", "MAIL NICKNAME", "SECURITY", "TYPES"];

fn print_group(g: &Group) {
    print_kv(&[
        ("ID", g.id.to_string()),
        ("Display name", opt(&g.display_name)),
        ("Description", opt(&g.description)),
        ("Mail nickname", opt(&g.mail_nickname)),
        ("Security enabled", opt_bool(g.security_enabled)),
        ("Mail enabled", opt_bool(g.mail_enabled)),
        ("Group types", g.group_types.join(",")),
        ("Created", opt(&g.created_date_time)),
    ]);
}

fn member_row(m: &DirectoryObject) -> Vec<String> {
    let detail = m
        .extra_str("userPrincipalName")
        .or_else(|| m.extra_str("appId"))
        .or_else(|| m.extra_str("mailNickname"))
        .unwrap_or_default();
    vec![m.kind().unwrap_or("directoryObject").to_owned(), m.id.to_string(), opt(&m.display_name), detail.to_owned()]
}

async fn groups(cmd: GroupsCmd, output: OutputFormat) -> CliResult {
    let client = connect().await?;
    match cmd {
        GroupsCmd::List { filter, top } => {
            let groups = client.list_groups(&list_query(filter, top)).await?;
            match output {
                OutputFormat::Json => print_json(&groups)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = groups.iter().map(group_row).collect();
                    print_table(&GROUP_HEADERS, &rows);
                }
            }
        }
        GroupsCmd::Get { id } => {
            let group = client.get_group(id).await?;
            match output {
                OutputFormat::Json => print_json(&group)?,
                OutputFormat::Table => print_group(&group),
            }
        }
        GroupsCmd::Create { name, mail_nickname, description } => {
            let body = GroupCreate {
                mail_nickname: Some(mail_nickname.unwrap_or_else(|| nickname_from_name(&name))),
                display_name: Some(name),
                description,
                mail_enabled: Some(false),
                security_enabled: Some(true),
                group_types: Some(Vec::new()),
                ..GroupCreate::default()
            };
            let group = client.create_group(&body).await?;
            match output {
                OutputFormat::Json => print_json(&group)?,
                OutputFormat::Table => print_table(&GROUP_HEADERS, &[group_row(&group)]),
            }
        }
        GroupsCmd::Delete { id } => {
            client.delete_group(id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"deleted": id}))?,
                OutputFormat::Table => out(&format!("Deleted group {id}")),
            }
        }
        GroupsCmd::Members { id, transitive } => {
            let members =
                if transitive { client.list_transitive_members(id).await? } else { client.list_members(id).await? };
            match output {
                OutputFormat::Json => print_json(&members)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = members.iter().map(member_row).collect();
                    print_table(&["TYPE", "ID", "DISPLAY NAME", "UPN / APP ID"], &rows);
                }
            }
        }
        GroupsCmd::AddMember { group, member_id } => {
            client.add_member(group, member_id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"group": group, "added": member_id}))?,
                OutputFormat::Table => out(&format!("Added {member_id} to group {group}")),
            }
        }
        GroupsCmd::RemoveMember { group, member_id } => {
            client.remove_member(group, member_id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"group": group, "removed": member_id}))?,
                OutputFormat::Table => out(&format!("Removed {member_id} from group {group}")),
            }
        }
    }
    Ok(())
}

// ==================================================================== apps

fn app_row(a: &Application) -> Vec<String> {
    vec![
        a.id.to_string(),
        a.app_id.to_string(),
        opt(&a.display_name),
        a.password_credentials.len().to_string(),
        a.key_credentials.len().to_string(),
    ]
}

const APP_HEADERS: [&str; 5] = ["ID", "APP ID", "DISPLAY NAME", "SECRETS", "CERTS"];

fn print_app(a: &Application) {
    print_kv(&[
        ("ID", a.id.to_string()),
        ("App ID", a.app_id.to_string()),
        ("Display name", opt(&a.display_name)),
        ("Sign-in audience", opt(&a.sign_in_audience)),
        ("Identifier URIs", a.identifier_uris.join(", ")),
        ("App roles", a.app_roles.iter().filter_map(|r| r.value.clone()).collect::<Vec<_>>().join(", ")),
        ("Created", opt(&a.created_date_time)),
    ]);
    if !a.password_credentials.is_empty() {
        out("\nSecrets:");
        print_secrets(&a.password_credentials);
    }
    if !a.key_credentials.is_empty() {
        out("\nCertificates:");
        print_certs(&a.key_credentials);
    }
}

fn print_secrets(creds: &[PasswordCredential]) {
    let rows: Vec<Vec<String>> = creds
        .iter()
        .map(|c| {
            vec![
                c.key_id.map(|k| k.to_string()).unwrap_or_default(),
                opt(&c.display_name),
                opt(&c.hint),
                opt(&c.end_date_time),
            ]
        })
        .collect();
    print_table(&["KEY ID", "DISPLAY NAME", "HINT", "EXPIRES"], &rows);
}

fn print_certs(creds: &[KeyCredential]) {
    let rows: Vec<Vec<String>> = creds
        .iter()
        .map(|c| {
            vec![
                c.key_id.map(|k| k.to_string()).unwrap_or_default(),
                opt(&c.display_name),
                opt(&c.custom_key_identifier),
                opt(&c.end_date_time),
            ]
        })
        .collect();
    print_table(&["KEY ID", "DISPLAY NAME", "THUMBPRINT", "EXPIRES"], &rows);
}

/// Resolves a client or resource argument (appId or service principal object id) to a service
/// principal.
async fn resolve_sp(client: &AdminClient, id: Uuid, role: &str) -> CliResult<ServicePrincipal> {
    match client.find_service_principal(id).await {
        Ok(sp) => Ok(sp),
        Err(e) if e.is_not_found() => Err(CliError::Api(ClientError::Http(
            404,
            Box::new(ostiary_client::HttpErrorBody::Graph(ostiary_api_types::GraphError {
                code: "Request_ResourceNotFound".to_owned(),
                message: format!("no service principal with object id or appId {id} ({role}); create it first"),
                target: None,
                inner_error: None,
            })),
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn apps(cmd: AppsCmd, output: OutputFormat) -> CliResult {
    // Read local inputs before connecting so that usage errors need no server.
    let cert_b64 = match &cmd {
        AppsCmd::AddCert { cert_file, .. } => {
            let pem = std::fs::read_to_string(cert_file)
                .map_err(|e| usage(format!("cannot read {}: {e}", cert_file.display())))?;
            Some(pem_certificate_der_b64(&pem).map_err(|e| usage(format!("{}: {e}", cert_file.display())))?)
        }
        _ => None,
    };
    let client = connect().await?;
    match cmd {
        AppsCmd::List { filter, top } => {
            let apps = client.list_applications(&list_query(filter, top)).await?;
            match output {
                OutputFormat::Json => print_json(&apps)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = apps.iter().map(app_row).collect();
                    print_table(&APP_HEADERS, &rows);
                }
            }
        }
        AppsCmd::Get { app } => {
            let app = client.find_application(app).await?;
            match output {
                OutputFormat::Json => print_json(&app)?,
                OutputFormat::Table => print_app(&app),
            }
        }
        AppsCmd::Create { name, identifier_uris, app_roles, no_service_principal } => {
            let roles: Vec<AppRole> = app_roles
                .iter()
                .map(|value| AppRole {
                    odata_type: None,
                    id: Uuid::new_v4(),
                    allowed_member_types: vec!["Application".to_owned()],
                    description: Some(value.clone()),
                    display_name: Some(value.clone()),
                    is_enabled: true,
                    value: Some(value.clone()),
                    origin: None,
                })
                .collect();
            let body = ApplicationCreate {
                display_name: Some(name),
                sign_in_audience: Some("AzureADMyOrg".to_owned()),
                identifier_uris: (!identifier_uris.is_empty()).then_some(identifier_uris),
                app_roles: (!roles.is_empty()).then_some(roles),
                ..ApplicationCreate::default()
            };
            let app = client.create_application(&body).await?;
            let sp = if no_service_principal {
                None
            } else {
                let sp_body =
                    ServicePrincipalCreate { app_id: app.app_id.to_string(), ..ServicePrincipalCreate::default() };
                match client.create_service_principal(&sp_body).await {
                    Ok(sp) => Some(sp),
                    Err(e) => {
                        eprintln!(
                            "application {} (appId {}) was created, but its service principal was not",
                            app.id, app.app_id
                        );
                        return Err(e.into());
                    }
                }
            };
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "application": app,
                    "servicePrincipal": sp,
                }))?,
                OutputFormat::Table => {
                    let mut pairs = vec![
                        ("Application object id", app.id.to_string()),
                        ("App (client) id", app.app_id.to_string()),
                    ];
                    if let Some(sp) = &sp {
                        pairs.push(("Service principal id", sp.id.to_string()));
                    }
                    print_kv(&pairs);
                }
            }
        }
        AppsCmd::Delete { app } => {
            let app = client.find_application(app).await?;
            client.delete_application(app.id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"deleted": app.id}))?,
                OutputFormat::Table => out(&format!("Deleted application {} (appId {})", app.id, app.app_id)),
            }
        }
        AppsCmd::AddSecret { app, name, days } => {
            let end = days.map(rfc3339_days_from_now).transpose()?;
            let app = client.find_application(app).await?;
            let cred = client.add_password(app.id, name.as_deref(), end.as_deref()).await?;
            match output {
                OutputFormat::Json => print_json(&cred)?,
                OutputFormat::Table => {
                    print_kv(&[
                        ("Secret", opt(&cred.secret_text)),
                        ("Key ID", cred.key_id.map(|k| k.to_string()).unwrap_or_default()),
                        ("Expires", opt(&cred.end_date_time)),
                    ]);
                    eprintln!("note: the secret is shown only once");
                }
            }
        }
        AppsCmd::RemoveSecret { app, key_id } => {
            let app = client.find_application(app).await?;
            client.remove_password(app.id, key_id).await?;
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({"application": app.id, "removed": key_id}))?,
                OutputFormat::Table => out(&format!("Removed secret {key_id} from application {}", app.id)),
            }
        }
        AppsCmd::AddCert { app, name, .. } => {
            let Some(cert_b64) = cert_b64 else {
                return Err(usage("no certificate read"));
            };
            let app = client.find_application(app).await?;
            let updated = client.add_certificate(app.id, &cert_b64, name.as_deref()).await?;
            match output {
                OutputFormat::Json => print_json(&updated.key_credentials)?,
                OutputFormat::Table => {
                    out(&format!("Added certificate to application {}", app.id));
                    print_certs(&updated.key_credentials);
                }
            }
        }
        AppsCmd::Expiring { within } => apps_expiring(&client, within, output).await?,
        AppsCmd::GrantRole { client: client_id, resource, role } => {
            let client_sp = resolve_sp(&client, client_id, "client").await?;
            let resource_sp = resolve_sp(&client, resource, "resource").await?;
            let Some(app_role) = resource_sp.app_roles.iter().find(|r| r.value.as_deref() == Some(role.as_str()))
            else {
                let available: Vec<&str> = resource_sp.app_roles.iter().filter_map(|r| r.value.as_deref()).collect();
                return Err(usage(format!(
                    "`{}` has no app role `{role}`; available: {}",
                    resource_sp.display_name.as_deref().unwrap_or("the resource"),
                    if available.is_empty() { "none".to_owned() } else { available.join(", ") }
                )));
            };
            let assignment = client.grant_app_role(client_sp.id, resource_sp.id, app_role.id).await?;
            match output {
                OutputFormat::Json => print_json(&assignment)?,
                OutputFormat::Table => out(&format!(
                    "Granted {role} on {} to {} (assignment {})",
                    resource_sp.display_name.as_deref().unwrap_or("resource"),
                    client_sp.display_name.as_deref().unwrap_or("client"),
                    assignment.id
                )),
            }
        }
    }
    Ok(())
}

// ==================================================================== apps expiring

/// One credential in the `apps expiring` report (JSON shape of `--output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExpiringCredential {
    app_display_name: Option<String>,
    app_id: Uuid,
    /// `secret` or `certificate`.
    credential_type: &'static str,
    key_id: Option<Uuid>,
    display_name: Option<String>,
    end_date_time: String,
    /// Whole days from now to `end_date_time`, rounded down: negative once expired, 0 within
    /// the last day.
    days_left: i64,
    expired: bool,
    #[serde(skip)]
    end: time::OffsetDateTime,
}

/// The credentials of `apps` that end at or before `now + within`, earliest (so the expired
/// ones) first. Credentials without a readable `endDateTime` are returned in the second list.
fn expiring_credentials(
    apps: &[Application],
    now: time::OffsetDateTime,
    within: time::Duration,
) -> (Vec<ExpiringCredential>, Vec<String>) {
    let limit = now + within;
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    let secrets = apps.iter().flat_map(|a| {
        a.password_credentials.iter().map(move |c| (a, "secret", c.key_id, &c.display_name, &c.end_date_time))
    });
    let certs = apps.iter().flat_map(|a| {
        a.key_credentials.iter().map(move |c| (a, "certificate", c.key_id, &c.display_name, &c.end_date_time))
    });
    for (app, kind, key_id, display_name, end) in secrets.chain(certs) {
        let parsed = end.as_deref().and_then(|e| time::OffsetDateTime::parse(e, &Rfc3339).ok());
        let Some(end_time) = parsed else {
            unreadable.push(format!(
                "{kind} {} of application {} has no valid endDateTime ({})",
                key_id.map(|k| k.to_string()).unwrap_or_default(),
                app.app_id,
                end.as_deref().unwrap_or("none")
            ));
            continue;
        };
        if end_time > limit {
            continue;
        }
        let secs = (end_time - now).whole_seconds();
        found.push(ExpiringCredential {
            app_display_name: app.display_name.clone(),
            app_id: app.app_id,
            credential_type: kind,
            key_id,
            display_name: display_name.clone(),
            end_date_time: end_time.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default(),
            days_left: secs.div_euclid(86_400),
            expired: end_time <= now,
            end: end_time,
        });
    }
    found.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.app_display_name.cmp(&b.app_display_name)));
    (found, unreadable)
}

/// SAML token-signing certificates (the `Verify` key credentials of service principals) that
/// end at or before `now + within`.
fn expiring_saml_certificates(
    sps: &[ostiary_api_types::ServicePrincipal],
    now: time::OffsetDateTime,
    within: time::Duration,
) -> Vec<ExpiringCredential> {
    let limit = now + within;
    let mut found = Vec::new();
    for sp in sps {
        for c in sp.key_credentials.iter().filter(|c| c.usage.as_deref() == Some("Verify")) {
            let Some(end) = c.end_date_time.as_deref().and_then(|e| time::OffsetDateTime::parse(e, &Rfc3339).ok())
            else {
                continue;
            };
            if end > limit {
                continue;
            }
            found.push(ExpiringCredential {
                app_display_name: sp.display_name.clone(),
                app_id: sp.app_id,
                credential_type: "samlSigningCertificate",
                key_id: c.key_id,
                display_name: c.display_name.clone(),
                end_date_time: end.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default(),
                days_left: (end - now).whole_seconds().div_euclid(86_400),
                expired: end <= now,
                end,
            });
        }
    }
    found
}

/// The table rows of the `apps expiring` report.
fn expiring_rows(creds: &[ExpiringCredential]) -> Vec<Vec<String>> {
    creds
        .iter()
        .map(|c| {
            vec![
                if c.expired { "EXPIRED" } else { "expiring" }.to_owned(),
                opt(&c.app_display_name),
                c.app_id.to_string(),
                c.credential_type.to_owned(),
                c.key_id.map(|k| k.to_string()).unwrap_or_default(),
                opt(&c.display_name),
                c.end_date_time.clone(),
                c.days_left.to_string(),
            ]
        })
        .collect()
}

const EXPIRING_HEADERS: [&str; 8] =
    ["STATUS", "APP", "APP ID", "TYPE", "KEY ID", "CREDENTIAL NAME", "END DATE (UTC)", "DAYS LEFT"];

/// `apps expiring`: every application (all pages), credentials ending within the window.
async fn apps_expiring(client: &AdminClient, within: time::Duration, output: OutputFormat) -> CliResult {
    use ostiary_core::Clock as _;
    let query = ListQuery {
        filter: None,
        top: None,
        select: ["id", "appId", "displayName", "passwordCredentials", "keyCredentials"].map(str::to_owned).to_vec(),
    };
    let apps = client.list_applications(&query).await?;
    let sp_query = ListQuery {
        filter: None,
        top: None,
        select: ["id", "appId", "displayName", "keyCredentials"].map(str::to_owned).to_vec(),
    };
    let sps = client.list_service_principals(&sp_query).await?;
    let now = crate::runtime::SystemClock.now();
    let (mut found, unreadable) = expiring_credentials(&apps, now, within);
    found.extend(expiring_saml_certificates(&sps, now, within));
    found.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.app_display_name.cmp(&b.app_display_name)));
    for warning in &unreadable {
        eprintln!("warning: {warning}");
    }
    match output {
        OutputFormat::Json => print_json(&found)?,
        OutputFormat::Table => {
            print_table(&EXPIRING_HEADERS, &expiring_rows(&found));
            let expired = found.iter().filter(|c| c.expired).count();
            eprintln!(
                "{} credential(s) of {} application(s) expire within {} day(s) ({expired} already expired)",
                found.len(),
                apps.len(),
                within.whole_hours() as f64 / 24.0
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser, Debug)]
    struct TestCli {
        #[arg(long, global = true, value_enum, default_value_t)]
        output: OutputFormat,
        #[command(subcommand)]
        cmd: AdminCommand,
    }

    fn parse(args: &[&str]) -> Result<TestCli, clap::Error> {
        TestCli::try_parse_from(std::iter::once("ostiary").chain(args.iter().copied()))
    }

    #[test]
    fn command_line_surface() {
        use clap::CommandFactory as _;
        TestCli::command().debug_assert();

        assert!(parse(&["login", "--bootstrap-file", "b.json"]).is_ok());
        assert!(
            parse(&[
                "login",
                "--authority",
                "https://h:8443",
                "--tenant",
                "t",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--ca-cert",
                "ca.pem"
            ])
            .is_ok()
        );
        // The secret is never an argument, and a source is required.
        assert!(parse(&["login", "--authority", "https://h", "--tenant", "t", "--client-id", "c"]).is_err());
        assert!(parse(&["login", "--client-secret", "x"]).is_err());
        assert!(parse(&["login"]).is_err());
        assert!(parse(&["login", "--bootstrap-file", "b", "--authority", "https://h"]).is_err());

        assert!(parse(&["users", "list", "--filter", "x", "--top", "5", "--output", "json"]).is_ok());
        assert!(parse(&["users", "create", "--upn", "a@b", "--display-name", "A"]).is_err());
        assert!(
            parse(&[
                "users",
                "create",
                "--upn",
                "a@b",
                "--display-name",
                "A",
                "--password-stdin",
                "--password-generate"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "users",
                "create",
                "--upn",
                "a@b",
                "--display-name",
                "A",
                "--password-generate",
                "--force-change-password",
                "--disabled"
            ])
            .is_ok()
        );
        assert!(parse(&["users", "update", "a@b", "--enabled", "false", "--job-title", ""]).is_ok());
        assert!(parse(&["users", "update", "a@b", "--enabled", "maybe"]).is_err());
        assert!(parse(&["groups", "members", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "--transitive"]).is_ok());
        assert!(parse(&["groups", "add-member", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "not-a-guid"]).is_err());
        assert!(
            parse(&[
                "apps",
                "create",
                "--name",
                "N",
                "--identifier-uri",
                "api://n",
                "--app-role",
                "A.Read",
                "--app-role",
                "A.Write",
                "--no-service-principal"
            ])
            .is_ok()
        );
        assert!(parse(&["apps", "add-secret", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "--days", "30"]).is_ok());
        assert!(parse(&["apps", "add-secret", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "--days", "0"]).is_err());
        assert!(
            parse(&[
                "apps",
                "grant-role",
                "--client",
                "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                "--resource",
                "00000003-0000-0000-c000-000000000000",
                "--role",
                "User.Read.All"
            ])
            .is_ok()
        );
    }

    #[test]
    fn table_rendering() {
        let t = render_table(
            &["ID", "NAME", "ENABLED"],
            &[vec!["1".into(), "Ada Lovelace".into(), "true".into()], vec!["22".into(), "Bob".into(), "".into()]],
        );
        assert_eq!(t, "ID  NAME          ENABLED\n1   Ada Lovelace  true\n22  Bob\n");
        assert_eq!(
            render_kv(&[("ID", "x".into()), ("Display name", "y".into())]),
            "ID:           x\nDisplay name: y\n"
        );
    }

    #[test]
    fn passwords_mix_character_classes() {
        for seed in 0u8..50 {
            let bytes: Vec<u8> =
                (0..256u32).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed.wrapping_mul(11))).collect();
            let p = password_from_bytes(bytes).unwrap();
            assert_eq!(p.chars().count(), 16);
            assert!(p.bytes().any(|b| UPPER.contains(&b)), "{p}");
            assert!(p.bytes().any(|b| LOWER.contains(&b)), "{p}");
            assert!(p.bytes().any(|b| DIGITS.contains(&b)), "{p}");
            assert!(p.bytes().any(|b| SYMBOLS.contains(&b)), "{p}");
        }
        // Too few usable bytes is an error, not a panic.
        assert_eq!(password_from_bytes(vec![255; 8]), None);
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn pem_parsing() {
        let der: Vec<u8> = std::iter::once(0x30u8).chain((0..100).map(|i| i as u8)).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let wrapped: Vec<String> = b64.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI=\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\n",
            wrapped.join("\r\n")
        );
        assert_eq!(pem_certificate_der_b64(&pem).unwrap(), b64);
        assert!(pem_certificate_der_b64("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----").is_err());
        assert!(pem_certificate_der_b64("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----").is_err());
        assert!(pem_certificate_der_b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
    }

    #[test]
    fn small_helpers() {
        assert_eq!(authority_of("https://127.0.0.1:8443/0b8e/v2.0").as_deref(), Some("https://127.0.0.1:8443"));
        assert_eq!(authority_of("https://login.test").as_deref(), Some("https://login.test"));
        assert_eq!(authority_of("no-scheme"), None);
        assert_eq!(nickname_from_name("Sales & Marketing (EU)"), "SalesMarketingEU");
        assert_eq!(nickname_from_name("É"), "group");
        assert!(rfc3339_days_from_now(30).unwrap().ends_with('Z'));
    }

    #[test]
    fn expiring_window_and_report() {
        assert_eq!(parse_window("30d"), Ok(time::Duration::days(30)));
        assert_eq!(parse_window("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_window("0d"), Ok(time::Duration::ZERO));
        for bad in ["", "d", "30", "-1d", "1.5d", "3w", "36501d", "99999999999999999999d", "1é"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
        assert!(parse_window("36500d").is_ok());

        let now = time::OffsetDateTime::parse("2026-03-01T12:00:00Z", &Rfc3339).unwrap();
        let secret = |name: &str, end: Option<&str>| PasswordCredential {
            key_id: Some(Uuid::new_v4()),
            display_name: Some(name.to_owned()),
            end_date_time: end.map(str::to_owned),
            ..PasswordCredential::default()
        };
        let app = Application {
            id: Uuid::new_v4(),
            app_id: Uuid::new_v4(),
            display_name: Some("Orders".into()),
            password_credentials: vec![
                secret("soon", Some("2026-03-11T12:00:00Z")),
                secret("later", Some("2027-04-05T12:00:00Z")),
                secret("gone", Some("2026-02-28T11:00:00Z")),
                secret("broken", Some("never")),
            ],
            key_credentials: vec![KeyCredential {
                key_id: Some(Uuid::new_v4()),
                display_name: Some("cert".into()),
                end_date_time: Some("2026-03-01T18:00:00+02:00".into()),
                ..KeyCredential::default()
            }],
            ..Application::default()
        };
        let (found, unreadable) = expiring_credentials(std::slice::from_ref(&app), now, time::Duration::days(30));
        let names: Vec<&str> = found.iter().map(|c| c.display_name.as_deref().unwrap()).collect();
        assert_eq!(names, ["gone", "cert", "soon"], "earliest (expired) first; `later` is outside the window");
        let days: Vec<i64> = found.iter().map(|c| c.days_left).collect();
        assert_eq!(days, [-2, 0, 10]);
        assert_eq!(found.iter().map(|c| c.expired).collect::<Vec<_>>(), [true, false, false]);
        assert_eq!(found[1].credential_type, "certificate");
        assert_eq!(found[1].end_date_time, "2026-03-01T16:00:00Z");
        assert_eq!(unreadable.len(), 1);
        let json = serde_json::to_value(&found[2]).unwrap();
        assert_eq!(json["appDisplayName"], "Orders");
        assert_eq!(json["appId"], app.app_id.to_string());
        assert_eq!(json["credentialType"], "secret");
        assert_eq!(json["daysLeft"], 10);
        assert_eq!(json["endDateTime"], "2026-03-11T12:00:00Z");
        assert_eq!(expiring_rows(&found)[0][0], "EXPIRED");
        let (all, _) = expiring_credentials(&[app], now, time::Duration::days(500));
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn profile_roundtrip_is_private() {
        let dir = std::env::temp_dir().join(format!("ostiary-admin-test-{}", Uuid::new_v4()));
        let profile = Profile {
            authority: "https://h:8443".into(),
            tenant: "t".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            ca_pem: None,
        };
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["clientSecret"], "s");
        create_private_dir(&dir).unwrap();
        let path = dir.join("p.json");
        let mut f = create_private_file(&path).unwrap();
        f.write_all(b"{}").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
