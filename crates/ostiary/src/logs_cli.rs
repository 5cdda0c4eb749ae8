//! `ostiary logs signins|audits|provisioning`: query and follow the sign-in, directory audit
//! and outbound provisioning logs through Graph's `/auditLogs/signIns`,
//! `/auditLogs/directoryAudits` and `/auditLogs/provisioning` (needs AuditLog.Read.All or
//! Directory.Read.All on the logged-in admin application). For provisioning, `--app` names the
//! application whose job's records are shown (resolved to its `jobId`) and `--user` the source
//! user (a UPN is resolved to its object id).
//!
//! The flags are translated into one OData `$filter` conjunction that the server serves from
//! its indexes; `--filter` adds a raw clause to it. Results come newest first, following
//! `@odata.nextLink` until `--top` records. With `--follow` the command prints the latest
//! `--top` records oldest first and then polls every second for records at or after the
//! newest time seen (less a short overlap, since sign-ins are written in batches and may land
//! slightly out of time order), de-duplicated by `id`, until Ctrl-C. JSON output is an array
//! of the Graph records, or one record per line (NDJSON) with `--follow`.
//!
//! Relative times (`15m`, `2h`, `7d`) are computed from this machine's clock.
//!
//! Exit codes: 0 success (also on Ctrl-C while following), 1 server/API error (including a
//! `--filter` the server rejects), 2 usage error.

use crate::admin::{CliError, CliResult, OutputFormat, connect, out, print_json, render_table, usage};
use ostiary_api_types::Collection;
use ostiary_client::{AdminClient, ClientError, ListQuery, odata_quote};
use ostiary_core::Clock as _;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// Largest `$top` the server accepts on log collections.
const MAX_PAGE: u32 = 1000;
/// How often `--follow` polls.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How far before the newest time seen `--follow` looks again: records of one batch can be
/// committed slightly out of time order.
const FOLLOW_OVERLAP: Duration = Duration::seconds(2);
/// Most records one `--follow` poll reads (a burst larger than this is cut to its newest).
const MAX_PER_POLL: usize = 20_000;
/// Longest failure reason shown in a table cell.
const REASON_WIDTH: usize = 60;

// ==================================================================== command line

/// `ostiary logs …`.
#[derive(clap::Subcommand, Debug)]
pub enum LogsCmd {
    /// Sign-in attempts (Graph `auditLogs/signIns`), newest first.
    Signins(SignInArgs),
    /// Directory changes (Graph `auditLogs/directoryAudits`), newest first.
    Audits(AuditArgs),
    /// Outbound provisioning actions (Graph `auditLogs/provisioning`), newest first.
    Provisioning(ProvisioningArgs),
}

/// Options of both log commands.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Only records at or after this time: RFC 3339 (2026-01-31T12:00:00Z), a date
    /// (2026-01-31, midnight UTC) or an age such as 30s, 15m, 2h, 7d.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<TimeArg>,
    /// Only records at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "follow")]
    pub until: Option<TimeArg>,
    /// A user's principal name, or an object id (sign-ins: the user or service principal;
    /// audits: the initiating user).
    #[arg(long, value_name = "UPN_OR_ID")]
    pub user: Option<String>,
    /// The application's appId (sign-ins: the client; audits: the initiating application).
    #[arg(long, value_name = "APPID")]
    pub app: Option<String>,
    /// Only failures (sign-ins: status/errorCode ne 0; audits: result eq 'failure').
    #[arg(long)]
    pub failures: bool,
    /// Only records with this correlation id (a client's `client-request-id`).
    #[arg(long, value_name = "ID")]
    pub correlation_id: Option<String>,
    /// A raw OData $filter clause, ANDed with the other options.
    #[arg(long, value_name = "ODATA")]
    pub filter: Option<String>,
    /// Show at most N records (following pages as needed); with --follow, the N latest
    /// before following.
    #[arg(long, value_name = "N", default_value_t = 50, allow_negative_numbers = true, value_parser = parse_top)]
    pub top: u32,
    /// Keep polling for new records (oldest first as they arrive) until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// `ostiary logs signins`.
#[derive(clap::Args, Debug, Clone)]
pub struct SignInArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only this AADSTS error code (0 = successes).
    #[arg(long, value_name = "N", conflicts_with = "failures")]
    pub error_code: Option<u32>,
    /// Only this kind of sign-in.
    #[arg(long, value_enum)]
    pub kind: Option<SignInKind>,
}

/// `ostiary logs audits`.
#[derive(clap::Args, Debug, Clone)]
pub struct AuditArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only this category, e.g. UserManagement, ApplicationManagement, GroupManagement.
    #[arg(long)]
    pub category: Option<String>,
    /// Only this activity, e.g. "Add user".
    #[arg(long, value_name = "NAME")]
    pub activity: Option<String>,
}

/// `ostiary logs provisioning`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProvisioningArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only this action: create, update, delete, disable, stagedDelete, other.
    #[arg(long)]
    pub action: Option<String>,
    /// Only this status: success, failure, skipped, warning.
    #[arg(long, value_parser = ["success", "failure", "skipped", "warning"], conflicts_with = "failures")]
    pub status: Option<String>,
}

/// Entra's sign-in event types.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInKind {
    /// A user at a browser (`interactiveUser`).
    Interactive,
    /// A client acting for a user without prompting, e.g. refresh tokens (`nonInteractiveUser`).
    NonInteractive,
    /// An application with its own credentials (`servicePrincipal`).
    ServicePrincipal,
    /// A managed identity (`managedIdentity`).
    ManagedIdentity,
}

impl SignInKind {
    fn event_type(self) -> &'static str {
        match self {
            SignInKind::Interactive => "interactiveUser",
            SignInKind::NonInteractive => "nonInteractiveUser",
            SignInKind::ServicePrincipal => "servicePrincipal",
            SignInKind::ManagedIdentity => "managedIdentity",
        }
    }
}

/// A `--since`/`--until` value: a point in time, or an age relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    At(OffsetDateTime),
    Ago(Duration),
}

impl TimeArg {
    fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            TimeArg::At(t) => t,
            TimeArg::Ago(d) => now - d,
        }
    }
}

/// Parses RFC 3339, a bare date (midnight UTC), or `N` followed by `s`, `m`, `h`, `d` or `w`.
fn parse_time(s: &str) -> Result<TimeArg, String> {
    let t = s.trim();
    if let Ok(at) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(TimeArg::At(at));
    }
    if t.len() == 10
        && let Ok(at) = OffsetDateTime::parse(&format!("{t}T00:00:00Z"), &Rfc3339)
    {
        return Ok(TimeArg::At(at));
    }
    let bad = || {
        format!(
            "`{s}` is neither an RFC 3339 time (2026-01-31T12:00:00Z), a date (2026-01-31) nor an age such as 15m, 2h or 7d"
        )
    };
    let Some(unit) = t.chars().last() else {
        return Err(bad());
    };
    let digits = t.get(..t.len() - unit.len_utf8()).unwrap_or_default();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        'w' => n.checked_mul(7 * 86_400),
        _ => return Err(bad()),
    };
    match secs {
        // A century is plenty and keeps `now - age` far from overflowing.
        Some(secs) if secs <= 100 * 366 * 86_400 => Ok(TimeArg::Ago(Duration::seconds(secs))),
        _ => Err(format!("`{s}` is too far back")),
    }
}

/// `--top`: a positive whole number.
fn parse_top(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n >= 1 => u32::try_from(n).map_err(|_| format!("`{s}` is too large")),
        Ok(_) => Err(format!("`{s}` is not a positive number of records")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

// ==================================================================== queries

/// Which log collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Log {
    SignIns,
    Audits,
    Provisioning,
}

impl Log {
    fn path(self) -> &'static str {
        match self {
            Log::SignIns => "/auditLogs/signIns",
            Log::Audits => "/auditLogs/directoryAudits",
            Log::Provisioning => "/auditLogs/provisioning",
        }
    }

    /// The property holding a record's time.
    fn time_prop(self) -> &'static str {
        match self {
            Log::SignIns => "createdDateTime",
            Log::Audits | Log::Provisioning => "activityDateTime",
        }
    }

    fn time_of(self, record: &Value) -> Option<OffsetDateTime> {
        record.get(self.time_prop()).and_then(Value::as_str).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    }
}

/// An unquoted OData DateTimeOffset literal, in UTC.
fn odata_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

/// Joins clauses with `and`; `None` when there are none.
fn conjunction(clauses: &[String]) -> Option<String> {
    if clauses.is_empty() { None } else { Some(clauses.join(" and ")) }
}

fn non_empty(value: &Option<String>, flag: &str) -> CliResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(usage(format!("{flag} must not be empty"))),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// The clauses of the options both commands share.
fn common_clauses(log: Log, a: &CommonArgs, now: OffsetDateTime) -> CliResult<Vec<String>> {
    let mut clauses = Vec::new();
    let since = a.since.map(|t| t.resolve(now));
    let until = a.until.map(|t| t.resolve(now));
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(usage(format!("--since ({}) is after --until ({})", odata_time(s), odata_time(u))));
    }
    if let Some(s) = since {
        clauses.push(format!("{} ge {}", log.time_prop(), odata_time(s)));
    }
    if let Some(u) = until {
        clauses.push(format!("{} le {}", log.time_prop(), odata_time(u)));
    }
    if let Some(user) = non_empty(&a.user, "--user")? {
        let prop = match (log, Uuid::parse_str(&user).is_ok()) {
            (Log::SignIns, true) => "userId",
            (Log::SignIns, false) => "userPrincipalName",
            (Log::Audits, true) => "initiatedBy/user/id",
            (Log::Audits, false) => "initiatedBy/user/userPrincipalName",
            (Log::Provisioning, true) => "sourceIdentity/id",
            (Log::Provisioning, false) => {
                return Err(usage("--user: give the user's object id (resolved before this point)"));
            }
        };
        clauses.push(format!("{prop} eq {}", odata_quote(&user)));
    }
    if let Some(app) = non_empty(&a.app, "--app")? {
        let prop = match log {
            Log::SignIns => "appId",
            Log::Audits => "initiatedBy/app/appId",
            // The application's job id (resolved before this point).
            Log::Provisioning => "jobId",
        };
        clauses.push(format!("{prop} eq {}", odata_quote(&app)));
    }
    if let Some(c) = non_empty(&a.correlation_id, "--correlation-id")? {
        let prop = if log == Log::Provisioning { "cycleId" } else { "correlationId" };
        clauses.push(format!("{prop} eq {}", odata_quote(&c)));
    }
    if a.failures {
        clauses.push(
            match log {
                Log::SignIns => "status/errorCode ne 0",
                Log::Audits => "result eq 'failure'",
                Log::Provisioning => "provisioningStatusInfo/status eq 'failure'",
            }
            .to_owned(),
        );
    }
    Ok(clauses)
}

/// The raw `--filter`, parenthesised so that it binds as one operand of the conjunction.
fn raw_clause(a: &CommonArgs) -> CliResult<Option<String>> {
    Ok(non_empty(&a.filter, "--filter")?.map(|f| format!("({f})")))
}

/// The `$filter` of `logs signins`.
fn sign_in_filter(a: &SignInArgs, now: OffsetDateTime) -> CliResult<Option<String>> {
    let mut clauses = common_clauses(Log::SignIns, &a.common, now)?;
    if let Some(code) = a.error_code {
        clauses.push(format!("status/errorCode eq {code}"));
    }
    if let Some(kind) = a.kind {
        clauses.push(format!("signInEventTypes/any(t: t eq '{}')", kind.event_type()));
    }
    clauses.extend(raw_clause(&a.common)?);
    Ok(conjunction(&clauses))
}

/// The `$filter` of `logs audits`.
fn audit_filter(a: &AuditArgs, now: OffsetDateTime) -> CliResult<Option<String>> {
    let mut clauses = common_clauses(Log::Audits, &a.common, now)?;
    if let Some(c) = non_empty(&a.category, "--category")? {
        clauses.push(format!("category eq {}", odata_quote(&c)));
    }
    if let Some(act) = non_empty(&a.activity, "--activity")? {
        clauses.push(format!("activityDisplayName eq {}", odata_quote(&act)));
    }
    clauses.extend(raw_clause(&a.common)?);
    Ok(conjunction(&clauses))
}

/// The `$filter` of `logs provisioning`, once `--user` is an object id and `--app` a job id.
fn provisioning_filter(a: &ProvisioningArgs, now: OffsetDateTime) -> CliResult<Option<String>> {
    let mut clauses = common_clauses(Log::Provisioning, &a.common, now)?;
    if let Some(action) = non_empty(&a.action, "--action")? {
        clauses.push(format!("provisioningAction eq {}", odata_quote(&action)));
    }
    if let Some(status) = &a.status {
        clauses.push(format!("provisioningStatusInfo/status eq {}", odata_quote(status)));
    }
    clauses.extend(raw_clause(&a.common)?);
    Ok(conjunction(&clauses))
}

/// `--user` (a UPN becomes the user's object id) and `--app` (an appId becomes its service
/// principal's provisioning job id) as `logs provisioning` filters them.
async fn resolve_provisioning(client: &AdminClient, a: &ProvisioningArgs) -> CliResult<ProvisioningArgs> {
    let mut a = a.clone();
    if let Some(user) = non_empty(&a.common.user, "--user")?
        && Uuid::parse_str(&user).is_err()
    {
        a.common.user = Some(client.get_user(&user).await?.id.to_string());
    }
    if let Some(app) = non_empty(&a.common.app, "--app")? {
        let app_id = Uuid::parse_str(&app).map_err(|_| usage(format!("--app `{app}` is not an appId (a GUID)")))?;
        let sp = client
            .get_service_principal_by_app_id(app_id)
            .await?
            .ok_or_else(|| usage(format!("no service principal for appId {app_id}")))?;
        let jobs: Value = client.get(&format!("/servicePrincipals/{}/synchronization/jobs", sp.id)).await?;
        let job = jobs
            .pointer("/value/0/id")
            .and_then(Value::as_str)
            .ok_or_else(|| usage(format!("application {app_id} has no provisioning job")))?;
        a.common.app = Some(job.to_owned());
    }
    Ok(a)
}

/// The path (relative to `/v1.0`) of the page after the current one: the query of the
/// server's `@odata.nextLink` on this collection. Only the query is taken, so the token is
/// only ever sent to the logged-in server.
fn next_page_path(log: Log, next_link: &str) -> CliResult<String> {
    let query = reqwest::Url::parse(next_link).ok().and_then(|u| u.query().map(str::to_owned));
    match query {
        Some(q) if !q.is_empty() => Ok(format!("{}?{q}", log.path())),
        _ => Err(CliError::Api(ClientError::Decode(format!("invalid @odata.nextLink `{next_link}`")))),
    }
}

/// Up to `limit` records matching `filter`, newest first, following `@odata.nextLink`.
async fn fetch(client: &AdminClient, log: Log, filter: Option<String>, limit: usize) -> CliResult<Vec<Value>> {
    let page = u32::try_from(limit).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let mut path = ListQuery { filter, top: Some(page), select: Vec::new() }.apply(log.path());
    let mut records: Vec<Value> = Vec::new();
    loop {
        let collection: Collection<Value> = client.get(&path).await?;
        let got = collection.value.len();
        records.extend(collection.value);
        if records.len() >= limit || got == 0 {
            break;
        }
        match collection.next_link {
            Some(next) => path = next_page_path(log, &next)?,
            None => break,
        }
    }
    records.truncate(limit);
    Ok(records)
}

// ==================================================================== rendering

/// The non-empty string at a JSON pointer.
fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn first_text(v: &Value, pointers: &[&str]) -> String {
    pointers.iter().find_map(|p| text(v, p)).unwrap_or_default().to_owned()
}

/// A record time as `2026-01-31T12:00:00Z` (UTC, whole seconds), or the raw text.
fn display_time(raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return String::new();
    };
    match OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(UtcOffset::UTC);
            odata_time(t.replace_nanosecond(0).unwrap_or(t))
        }
        Err(_) => raw.to_owned(),
    }
}

/// At most `max` characters, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

const SIGN_IN_HEADERS: [&str; 7] = ["TIME", "USER", "APP", "IP", "RESULT", "FAILURE REASON", "CORRELATION ID"];
/// Column widths of streamed (`--follow`) sign-in rows; the last column is not padded.
const SIGN_IN_WIDTHS: [usize; 6] = [20, 32, 24, 15, 13, 40];
const AUDIT_HEADERS: [&str; 7] = ["TIME", "ACTIVITY", "CATEGORY", "RESULT", "INITIATED BY", "TARGET", "CORRELATION ID"];
const AUDIT_WIDTHS: [usize; 6] = [20, 28, 22, 7, 32, 32];
const PROVISIONING_HEADERS: [&str; 7] = ["TIME", "ACTION", "STATUS", "SOURCE", "TARGET ID", "REASON", "CYCLE ID"];
const PROVISIONING_WIDTHS: [usize; 6] = [20, 12, 8, 32, 24, 40];

fn sign_in_row(r: &Value, reason_width: usize) -> Vec<String> {
    let code = r.pointer("/status/errorCode").and_then(Value::as_i64);
    let result = match code {
        Some(0) => "success".to_owned(),
        Some(n) => format!("AADSTS{n}"),
        None => String::new(),
    };
    let reason = if code == Some(0) { String::new() } else { first_text(r, &["/status/failureReason"]) };
    vec![
        display_time(text(r, "/createdDateTime")),
        first_text(r, &["/userPrincipalName", "/servicePrincipalName", "/appDisplayName", "/userId"]),
        first_text(r, &["/appDisplayName", "/appId"]),
        first_text(r, &["/ipAddress"]),
        result,
        truncate(&reason, reason_width),
        first_text(r, &["/correlationId"]),
    ]
}

fn audit_row(r: &Value) -> Vec<String> {
    let target = r
        .get("targetResources")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .map(|t| first_text(t, &["/displayName", "/userPrincipalName", "/id"]))
        .unwrap_or_default();
    vec![
        display_time(text(r, "/activityDateTime")),
        first_text(r, &["/activityDisplayName"]),
        first_text(r, &["/category"]),
        first_text(r, &["/result"]),
        first_text(
            r,
            &[
                "/initiatedBy/user/userPrincipalName",
                "/initiatedBy/user/id",
                "/initiatedBy/app/displayName",
                "/initiatedBy/app/servicePrincipalName",
                "/initiatedBy/app/appId",
            ],
        ),
        target,
        first_text(r, &["/correlationId"]),
    ]
}

fn provisioning_row(r: &Value, reason_width: usize) -> Vec<String> {
    vec![
        display_time(text(r, "/activityDateTime")),
        first_text(r, &["/provisioningAction"]),
        first_text(r, &["/provisioningStatusInfo/status"]),
        first_text(r, &["/sourceIdentity/displayName", "/sourceIdentity/id"]),
        first_text(r, &["/targetIdentity/id"]),
        truncate(&first_text(r, &["/provisioningStatusInfo/errorInformation/reason"]), reason_width),
        first_text(r, &["/cycleId"]),
    ]
}

fn headers(log: Log) -> &'static [&'static str] {
    match log {
        Log::SignIns => &SIGN_IN_HEADERS,
        Log::Audits => &AUDIT_HEADERS,
        Log::Provisioning => &PROVISIONING_HEADERS,
    }
}

fn row(log: Log, r: &Value, reason_width: usize) -> Vec<String> {
    match log {
        Log::SignIns => sign_in_row(r, reason_width),
        Log::Audits => audit_row(r),
        Log::Provisioning => provisioning_row(r, reason_width),
    }
}

/// One line of a streamed table: cells padded to fixed widths (longer cells push the rest
/// right rather than being cut), the last cell unpadded.
fn stream_line<S: AsRef<str>>(cells: &[S], widths: &[usize]) -> String {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        line.push_str(cell);
        if i < last {
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
            line.push_str(&" ".repeat(pad + 2));
        }
    }
    line.trim_end().to_owned()
}

// ==================================================================== entry point

/// Runs `ostiary logs …`.
pub(crate) async fn run(cmd: LogsCmd, output: OutputFormat) -> CliResult {
    let now = crate::runtime::SystemClock.now();
    // Validate everything before connecting, so that usage errors need no server.
    let (log, mut filter, common) = match &cmd {
        LogsCmd::Signins(a) => (Log::SignIns, sign_in_filter(a, now)?, &a.common),
        LogsCmd::Audits(a) => (Log::Audits, audit_filter(a, now)?, &a.common),
        LogsCmd::Provisioning(a) => {
            // Checked with placeholders for the values resolved on the server.
            let mut probe = a.clone();
            if probe.common.user.as_deref().is_some_and(|u| !u.trim().is_empty()) {
                probe.common.user = Some(Uuid::nil().to_string());
            }
            (Log::Provisioning, provisioning_filter(&probe, now)?, &a.common)
        }
    };
    let top = usize::try_from(common.top).unwrap_or(usize::MAX);
    let client = connect().await?;
    if let LogsCmd::Provisioning(a) = &cmd {
        filter = provisioning_filter(&resolve_provisioning(&client, a).await?, now)?;
    }
    let records = fetch(&client, log, filter.clone(), top).await?;
    if common.follow {
        return tokio::select! {
            r = follow(&client, log, filter, records, top, output) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        };
    }
    match output {
        OutputFormat::Json => print_json(&records)?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = records.iter().map(|r| row(log, r, REASON_WIDTH)).collect();
            out(&render_table(headers(log), &rows));
        }
    }
    Ok(())
}

/// Writes one line to stdout; `false` once stdout is gone (a closed pipe ends `--follow`).
fn emit(line: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line.as_bytes()).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush()).is_ok()
}

/// The state of `--follow`: the newest time printed and the ids printed since shortly
/// before it.
#[derive(Debug, Default)]
struct Cursor {
    newest: Option<OffsetDateTime>,
    seen: HashMap<String, OffsetDateTime>,
}

impl Cursor {
    /// The records of a newest-first page not printed yet, oldest first; marks them seen and
    /// forgets ids older than the overlap window (records before it are ignored).
    fn take_new(&mut self, log: Log, newest_first: Vec<Value>) -> Vec<Value> {
        let mut fresh: Vec<(OffsetDateTime, Value)> = Vec::new();
        let horizon = self.newest.map(|n| n - FOLLOW_OVERLAP);
        for r in newest_first.into_iter().rev() {
            let t = log.time_of(&r).or(self.newest).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            if horizon.is_some_and(|h| t < h) {
                // Before the window: printed already, or older than anything still arriving.
                continue;
            }
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !id.is_empty() && self.seen.insert(id, t).is_some() {
                continue;
            }
            fresh.push((t, r));
        }
        // Stable: records with equal times keep the server's order.
        fresh.sort_by_key(|(t, _)| *t);
        if let Some((t, _)) = fresh.last() {
            self.newest = Some(self.newest.map_or(*t, |n| n.max(*t)));
        }
        if let Some(newest) = self.newest {
            let horizon = newest - FOLLOW_OVERLAP;
            self.seen.retain(|_, t| *t >= horizon);
        }
        fresh.into_iter().map(|(_, r)| r).collect()
    }

    /// Marks as seen, without printing, the records of `newest_first` that are not newer than
    /// the newest time seen: records that already existed but did not fit in `--top`.
    fn skip_existing(&mut self, log: Log, newest_first: Vec<Value>) {
        let Some(newest) = self.newest else {
            return;
        };
        for r in newest_first {
            if let (Some(t), Some(id)) = (log.time_of(&r), r.get("id").and_then(Value::as_str))
                && t <= newest
            {
                self.seen.insert(id.to_owned(), t);
            }
        }
    }

    /// The poll filter: `base` and, once something was seen, the time window.
    fn filter(&self, log: Log, base: Option<&str>) -> Option<String> {
        let mut clauses: Vec<String> = base.map(|b| vec![format!("({b})")]).unwrap_or_default();
        if let Some(newest) = self.newest {
            clauses.push(format!("{} ge {}", log.time_prop(), odata_time(newest - FOLLOW_OVERLAP)));
        }
        conjunction(&clauses)
    }
}

/// Whether a polling failure is worth retrying (the server restarting, overloaded or briefly
/// unreachable) rather than ending `--follow`.
fn transient(e: &CliError) -> bool {
    match e {
        CliError::Api(ClientError::Transport(_)) => true,
        CliError::Api(ClientError::Http(status, _)) => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// Prints `initial` (the `top` newest records) oldest first, then polls for newer records
/// until cancelled.
async fn follow(
    client: &AdminClient,
    log: Log,
    base: Option<String>,
    initial: Vec<Value>,
    top: usize,
    output: OutputFormat,
) -> CliResult {
    let widths: &[usize] = match log {
        Log::SignIns => &SIGN_IN_WIDTHS,
        Log::Audits => &AUDIT_WIDTHS,
        Log::Provisioning => &PROVISIONING_WIDTHS,
    };
    let print = |records: Vec<Value>| -> bool {
        records.iter().all(|r| match output {
            OutputFormat::Json => emit(&r.to_string()),
            OutputFormat::Table => emit(&stream_line(&row(log, r, widths.get(5).copied().unwrap_or(40)), widths)),
        })
    };
    if output == OutputFormat::Table && !emit(&stream_line(headers(log), widths)) {
        return Ok(());
    }
    let mut cursor = Cursor::default();
    let cut = initial.len() >= top;
    let first = cursor.take_new(log, initial);
    if cut {
        // Older records in the overlap window that --top left out are not news: note them
        // now so that the first poll does not print them.
        let window = fetch(client, log, cursor.filter(log, base.as_deref()), MAX_PER_POLL).await?;
        cursor.skip_existing(log, window);
    }
    if !print(first) {
        return Ok(());
    }
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        match fetch(client, log, cursor.filter(log, base.as_deref()), MAX_PER_POLL).await {
            Ok(records) => {
                if failing {
                    eprintln!("note: reading the log again");
                    failing = false;
                }
                if !print(cursor.take_new(log, records)) {
                    return Ok(());
                }
            }
            Err(e) if transient(&e) => {
                if !failing {
                    let msg = match &e {
                        CliError::Api(e) => e.to_string(),
                        CliError::Usage(m) => m.clone(),
                    };
                    eprintln!("warning: {msg}; retrying");
                    failing = true;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use clap::Parser as _;
    use serde_json::json;

    #[derive(clap::Parser, Debug)]
    struct TestCli {
        #[command(subcommand)]
        cmd: LogsCmd,
    }

    fn parse(args: &[&str]) -> Result<LogsCmd, clap::Error> {
        TestCli::try_parse_from(std::iter::once("logs").chain(args.iter().copied())).map(|c| c.cmd)
    }

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    fn filter_of(args: &[&str]) -> Option<String> {
        let now = at("2026-03-01T12:00:00Z");
        match parse(args).unwrap() {
            LogsCmd::Signins(a) => sign_in_filter(&a, now).unwrap(),
            LogsCmd::Audits(a) => audit_filter(&a, now).unwrap(),
            LogsCmd::Provisioning(a) => provisioning_filter(&a, now).unwrap(),
        }
    }

    #[test]
    fn command_line_surface() {
        use clap::CommandFactory as _;
        TestCli::command().debug_assert();
        assert!(parse(&["signins"]).is_ok());
        assert!(parse(&["signins", "--kind", "service-principal", "--error-code", "7000215", "--top", "5"]).is_ok());
        assert!(parse(&["signins", "--kind", "robot"]).is_err());
        assert!(parse(&["signins", "--top", "-3"]).is_err());
        assert!(parse(&["signins", "--top", "0"]).is_err());
        assert!(parse(&["signins", "--top", "many"]).is_err());
        assert!(parse(&["signins", "--since", "yesterday"]).is_err());
        assert!(parse(&["signins", "--failures", "--error-code", "50126"]).is_err());
        assert!(parse(&["signins", "--follow", "--until", "1h"]).is_err());
        assert!(parse(&["signins", "--category", "x"]).is_err(), "audit-only option");
        assert!(parse(&["audits", "--kind", "interactive"]).is_err(), "sign-in-only option");
        assert!(parse(&["audits", "--activity", "Add user", "--failures", "-f"]).is_ok());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2026-01-31T12:00:00+01:00"), Ok(TimeArg::At(at("2026-01-31T11:00:00Z"))));
        assert_eq!(parse_time("2026-01-31"), Ok(TimeArg::At(at("2026-01-31T00:00:00Z"))));
        assert_eq!(parse_time("15m"), Ok(TimeArg::Ago(Duration::minutes(15))));
        assert_eq!(parse_time(" 2h"), Ok(TimeArg::Ago(Duration::hours(2))));
        assert_eq!(parse_time("7d"), Ok(TimeArg::Ago(Duration::days(7))));
        assert_eq!(parse_time("30s"), Ok(TimeArg::Ago(Duration::seconds(30))));
        for bad in ["", "d", "-5m", "5x", "1.5h", "2026-13-01", "99999999999999999999d", "9999999w", "5 m", "5é"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeArg::Ago(Duration::hours(2)).resolve(at("2026-01-01T02:00:00Z")), at("2026-01-01T00:00:00Z"));
        assert_eq!(parse_top("7"), Ok(7));
        assert!(parse_top("-1").is_err() && parse_top("0").is_err() && parse_top("99999999999").is_err());
    }

    #[test]
    fn filters() {
        assert_eq!(filter_of(&["signins"]), None);
        assert_eq!(
            filter_of(&["signins", "--since", "2h", "--user", "O'Brien@contoso.test", "--failures"]).unwrap(),
            "createdDateTime ge 2026-03-01T10:00:00Z and userPrincipalName eq 'O''Brien@contoso.test' and status/errorCode ne 0"
        );
        assert_eq!(
            filter_of(&[
                "signins",
                "--user",
                "87D349ED-44D7-43E1-9A83-5F2406DEE5BD",
                "--app",
                "a1",
                "--error-code",
                "0",
                "--kind",
                "non-interactive",
                "--correlation-id",
                "c-1",
                "--until",
                "2026-03-01T11:00:00Z",
                "--filter",
                "isInteractive eq false or x eq 1",
            ])
            .unwrap(),
            "createdDateTime le 2026-03-01T11:00:00Z and userId eq '87D349ED-44D7-43E1-9A83-5F2406DEE5BD' \
             and appId eq 'a1' and correlationId eq 'c-1' and status/errorCode eq 0 \
             and signInEventTypes/any(t: t eq 'nonInteractiveUser') and (isInteractive eq false or x eq 1)"
        );
        assert_eq!(
            filter_of(&[
                "audits",
                "--activity",
                "Add user",
                "--category",
                "UserManagement",
                "--failures",
                "--user",
                "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                "--app",
                "b2",
                "--since",
                "2026-03-01",
            ])
            .unwrap(),
            "activityDateTime ge 2026-03-01T00:00:00Z and initiatedBy/user/id eq '87d349ed-44d7-43e1-9a83-5f2406dee5bd' \
             and initiatedBy/app/appId eq 'b2' and result eq 'failure' and category eq 'UserManagement' \
             and activityDisplayName eq 'Add user'"
        );
        assert_eq!(
            filter_of(&["audits", "--user", "ada@contoso.test"]).unwrap(),
            "initiatedBy/user/userPrincipalName eq 'ada@contoso.test'"
        );
        // Usage errors: an inverted range, empty values.
        let now = at("2026-03-01T12:00:00Z");
        let LogsCmd::Signins(a) = parse(&["signins", "--since", "1h", "--until", "2h"]).unwrap() else { panic!() };
        assert!(matches!(sign_in_filter(&a, now), Err(CliError::Usage(_))));
        let LogsCmd::Audits(a) = parse(&["audits", "--activity", " "]).unwrap() else { panic!() };
        assert!(matches!(audit_filter(&a, now), Err(CliError::Usage(_))));
        let LogsCmd::Audits(a) = parse(&["audits", "--filter", ""]).unwrap() else { panic!() };
        assert!(matches!(audit_filter(&a, now), Err(CliError::Usage(_))));
    }

    #[test]
    fn provisioning_filters() {
        assert_eq!(filter_of(&["provisioning"]), None);
        // `--user` and `--app` arrive here resolved: an object id and a job id.
        assert_eq!(
            filter_of(&[
                "provisioning",
                "--since",
                "15m",
                "--user",
                "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                "--app",
                "job-1",
                "--failures",
                "--correlation-id",
                "cycle-9",
                "--action",
                "create",
            ])
            .unwrap(),
            "activityDateTime ge 2026-03-01T11:45:00Z and sourceIdentity/id eq '87d349ed-44d7-43e1-9a83-5f2406dee5bd' \
             and jobId eq 'job-1' and cycleId eq 'cycle-9' and provisioningStatusInfo/status eq 'failure' \
             and provisioningAction eq 'create'"
        );
        assert_eq!(
            filter_of(&["provisioning", "--status", "skipped"]).unwrap(),
            "provisioningStatusInfo/status eq 'skipped'"
        );
        assert!(parse(&["provisioning", "--status", "meh"]).is_err());
        assert!(parse(&["provisioning", "--status", "failure", "--failures"]).is_err());
        assert!(parse(&["provisioning", "--kind", "interactive"]).is_err(), "sign-in-only option");
        let now = at("2026-03-01T12:00:00Z");
        let LogsCmd::Provisioning(a) = parse(&["provisioning", "--user", "ada@contoso.test"]).unwrap() else {
            panic!()
        };
        assert!(matches!(provisioning_filter(&a, now), Err(CliError::Usage(_))), "a UPN is resolved first");
        let LogsCmd::Provisioning(a) = parse(&["provisioning", "--action", ""]).unwrap() else { panic!() };
        assert!(matches!(provisioning_filter(&a, now), Err(CliError::Usage(_))));
        let row = provisioning_row(
            &json!({"activityDateTime": "2026-03-01T12:00:00.5Z", "provisioningAction": "create",
                "provisioningStatusInfo": {"status": "failure", "errorInformation": {"reason": "target said 400"}},
                "sourceIdentity": {"id": "u1", "displayName": "ada@contoso.test"}, "targetIdentity": {"id": ""},
                "cycleId": "c1"}),
            60,
        );
        assert_eq!(row, ["2026-03-01T12:00:00Z", "create", "failure", "ada@contoso.test", "", "target said 400", "c1"]);
    }

    #[test]
    fn next_links_keep_only_the_query() {
        assert_eq!(
            next_page_path(Log::SignIns, "https://elsewhere.test/v1.0/auditLogs/signIns?$top=5&$skiptoken=s9").unwrap(),
            "/auditLogs/signIns?$top=5&$skiptoken=s9"
        );
        assert!(next_page_path(Log::Audits, "not a url").is_err());
        assert!(next_page_path(Log::Audits, "https://h/v1.0/auditLogs/directoryAudits").is_err());
    }

    fn sign_in(id: &str, t: &str, code: i64) -> Value {
        json!({
            "id": id,
            "createdDateTime": t,
            "userPrincipalName": null,
            "servicePrincipalName": "Orders client",
            "appDisplayName": "Orders client",
            "appId": "a1",
            "ipAddress": "127.0.0.1",
            "correlationId": format!("corr-{id}"),
            "status": {"errorCode": code, "failureReason": if code == 0 { Value::Null } else { json!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.") }},
        })
    }

    #[test]
    fn rows() {
        let r = sign_in("1", "2026-03-01T10:00:00.123456789Z", 7000215);
        let cells = sign_in_row(&r, REASON_WIDTH);
        assert_eq!(cells[0], "2026-03-01T10:00:00Z");
        assert_eq!(cells[1], "Orders client");
        assert_eq!(cells[3], "127.0.0.1");
        assert_eq!(cells[4], "AADSTS7000215");
        assert_eq!(cells[5].chars().count(), REASON_WIDTH);
        assert!(cells[5].ends_with('…'));
        assert_eq!(cells[6], "corr-1");
        let ok = sign_in_row(&sign_in("2", "2026-03-01T10:00:00Z", 0), REASON_WIDTH);
        assert_eq!((ok[4].as_str(), ok[5].as_str()), ("success", ""));

        let audit = json!({
            "id": "x",
            "activityDateTime": "2026-03-01T10:00:00Z",
            "activityDisplayName": "Add user",
            "category": "UserManagement",
            "result": "success",
            "correlationId": "c",
            "initiatedBy": {"user": null, "app": {"appId": "a1", "displayName": "Admin app"}},
            "targetResources": [{"id": "u1", "displayName": null, "userPrincipalName": "ada@contoso.test"}],
        });
        assert_eq!(
            audit_row(&audit),
            ["2026-03-01T10:00:00Z", "Add user", "UserManagement", "success", "Admin app", "ada@contoso.test", "c"]
        );
        assert_eq!(stream_line(&["ab", "c", "d"], &[4, 1]), "ab    c  d");
        assert_eq!(stream_line(&["abcdef", "", ""], &[4, 1]), "abcdef");
    }

    #[test]
    fn follow_cursor_deduplicates_and_orders() {
        let mut c = Cursor::default();
        assert_eq!(c.filter(Log::SignIns, Some("appId eq 'a'")).as_deref(), Some("(appId eq 'a')"));
        // Newest first from the server; printed oldest first.
        let page = vec![sign_in("b", "2026-03-01T10:00:05Z", 0), sign_in("a", "2026-03-01T10:00:01Z", 0)];
        let ids = |v: Vec<Value>| v.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(c.take_new(Log::SignIns, page.clone())), ["a", "b"]);
        assert_eq!(
            c.filter(Log::SignIns, None).as_deref(),
            Some("createdDateTime ge 2026-03-01T10:00:03Z"),
            "the window starts shortly before the newest record"
        );
        // A repeat of the same page prints nothing; a late record inside the window and a new
        // one are printed once.
        assert!(c.take_new(Log::SignIns, page).is_empty());
        let next = vec![
            sign_in("d", "2026-03-01T10:00:09Z", 0),
            sign_in("b", "2026-03-01T10:00:05Z", 0),
            sign_in("c", "2026-03-01T10:00:04Z", 0),
        ];
        assert_eq!(ids(c.take_new(Log::SignIns, next)), ["c", "d"]);
        assert!(!c.seen.contains_key("a") && !c.seen.contains_key("c"), "old ids are forgotten");
        assert!(c.seen.contains_key("d"));

        // With --top 1: the window's older records existed already and are skipped; a newer
        // one that arrived meanwhile is printed at the next poll.
        let mut c = Cursor::default();
        assert_eq!(ids(c.take_new(Log::SignIns, vec![sign_in("y", "2026-03-01T10:00:05Z", 0)])), ["y"]);
        let window = vec![
            sign_in("z", "2026-03-01T10:00:06Z", 0),
            sign_in("y", "2026-03-01T10:00:05Z", 0),
            sign_in("x", "2026-03-01T10:00:05Z", 0),
            sign_in("w", "2026-03-01T10:00:04Z", 0),
        ];
        c.skip_existing(Log::SignIns, window.clone());
        assert_eq!(ids(c.take_new(Log::SignIns, window)), ["z"]);
    }

    #[test]
    fn transient_errors() {
        assert!(transient(&CliError::Api(ClientError::Transport("refused".into()))));
        assert!(transient(&CliError::Api(ClientError::from_response(503, b""))));
        assert!(!transient(&CliError::Api(ClientError::from_response(400, b""))));
        assert!(!transient(&usage("x")));
    }
}
