//! Parsing of the messages an SP sends to the IdP: AuthnRequest, LogoutRequest and
//! LogoutResponse.
//!
//! Only the root element's own attributes and direct children are read (plus the fixed children
//! of those, like `NameIDPolicy`); nothing is looked up by searching the document, so content an
//! attacker wraps elsewhere is never picked up. A signature on the root is reported in
//! [`ParsedMessage::signed`] and checked by [`ParsedMessage::verify_signature`]; whether one is
//! required is the caller's policy.

use ostiary_crypto::x509::Certificate;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use crate::error::{SamlError, clip};
use crate::xml::{Document, Element, Limits, parse};
use crate::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

/// Longest accepted `ID`.
pub const MAX_ID_LEN: usize = 256;

/// An `<samlp:AuthnRequest>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    pub destination: Option<String>,
    pub issuer: String,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    /// `NameIDPolicy/@Format`.
    pub name_id_format: Option<String>,
    /// `NameIDPolicy/@AllowCreate`.
    pub allow_create: Option<bool>,
    /// `NameIDPolicy/@SPNameQualifier`.
    pub sp_name_qualifier: Option<String>,
    /// `RequestedAuthnContext/AuthnContextClassRef` values, in order.
    pub requested_authn_contexts: Vec<String>,
}

/// A `<saml:NameID>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameId {
    pub value: String,
    pub format: Option<String>,
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
}

/// A `<samlp:LogoutRequest>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    pub destination: Option<String>,
    pub issuer: String,
    pub name_id: NameId,
    pub session_indexes: Vec<String>,
    pub not_on_or_after: Option<OffsetDateTime>,
}

/// A `<samlp:LogoutResponse>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    pub id: String,
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub destination: Option<String>,
    /// The top-level `StatusCode/@Value`.
    pub status: String,
}

/// One of the messages an SP sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    AuthnRequest(AuthnRequest),
    LogoutRequest(LogoutRequest),
    LogoutResponse(LogoutResponse),
}

/// A parsed message with its document (kept for signature verification).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMessage {
    pub message: Message,
    pub document: Document,
    /// Whether the root element has a `ds:Signature` child (not yet verified).
    pub signed: bool,
}

impl ParsedMessage {
    /// Verifies the enveloped signature on the root element against `certs`.
    pub fn verify_signature(&self, certs: &[Certificate]) -> Result<(), SamlError> {
        crate::dsig::verify_enveloped(&self.document.root, &self.document.root, certs)
    }
}

/// Parses an AuthnRequest, LogoutRequest or LogoutResponse under [`Limits::default`].
pub fn parse_message(xml: &str) -> Result<ParsedMessage, SamlError> {
    let document = parse(xml, &Limits::default())?;
    let root = &document.root;
    if root.ns.as_deref() != Some(NS_PROTOCOL) {
        return Err(SamlError::unsupported("the root element is not in the SAML 2.0 protocol namespace"));
    }
    match root.attr("Version") {
        Some("2.0") => {}
        Some(v) => return Err(SamlError::unsupported(format!("SAML version {:?}", clip(v)))),
        None => return Err(SamlError::malformed("missing Version")),
    }
    let id = message_id(root)?;
    let issuer = issuer(root)?;
    let destination = root.attr("Destination").map(str::to_owned);
    let signed = root.children_named(NS_DSIG, "Signature").next().is_some();
    let message = match root.local.as_str() {
        "AuthnRequest" => Message::AuthnRequest(authn_request(root, id, issuer, destination)?),
        "LogoutRequest" => Message::LogoutRequest(logout_request(root, id, issuer, destination)?),
        "LogoutResponse" => Message::LogoutResponse(LogoutResponse {
            id,
            in_response_to: root.attr("InResponseTo").map(str::to_owned),
            issuer,
            destination,
            status: status_code(root)?,
        }),
        other => return Err(SamlError::unsupported(format!("unsupported message type {:?}", clip(other)))),
    };
    Ok(ParsedMessage { message, document, signed })
}

/// Whether `s` is an acceptable message ID: an NCName-ish token of at most [`MAX_ID_LEN`] chars.
pub fn is_valid_id(s: &str) -> bool {
    s.len() <= MAX_ID_LEN
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn message_id(root: &Element) -> Result<String, SamlError> {
    let id = root.attr("ID").ok_or_else(|| SamlError::malformed("missing ID"))?;
    if !is_valid_id(id) {
        return Err(SamlError::malformed(format!("invalid ID {:?}", clip(id))));
    }
    let instant = root.attr("IssueInstant").ok_or_else(|| SamlError::malformed("missing IssueInstant"))?;
    parse_instant(instant)?;
    Ok(id.to_owned())
}

fn issue_instant(root: &Element) -> Result<OffsetDateTime, SamlError> {
    parse_instant(root.attr("IssueInstant").unwrap_or_default())
}

/// The root's single `saml:Issuer`, trimmed and non-empty (required even for AuthnRequest, where
/// the schema makes it optional, as Entra does).
fn issuer(root: &Element) -> Result<String, SamlError> {
    let mut it = root.children_named(NS_ASSERTION, "Issuer");
    let (Some(i), None) = (it.next(), it.next()) else {
        return Err(SamlError::malformed("exactly one Issuer is required"));
    };
    let v = i.text().trim().to_owned();
    if v.is_empty() {
        return Err(SamlError::malformed("empty Issuer"));
    }
    Ok(v)
}

/// xsd:boolean.
pub fn parse_bool(s: &str) -> Result<bool, SamlError> {
    match s.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(SamlError::malformed(format!("invalid boolean {:?}", clip(other)))),
    }
}

fn opt_bool(el: &Element, name: &str) -> Result<Option<bool>, SamlError> {
    el.attr(name).map(parse_bool).transpose()
}

fn authn_request(
    root: &Element,
    id: String,
    issuer: String,
    destination: Option<String>,
) -> Result<AuthnRequest, SamlError> {
    let acs_url = root.attr("AssertionConsumerServiceURL").map(str::to_owned);
    let acs_index = root
        .attr("AssertionConsumerServiceIndex")
        .map(|s| s.trim().parse::<u16>().map_err(|_| SamlError::malformed("invalid AssertionConsumerServiceIndex")))
        .transpose()?;
    if acs_url.is_some() && acs_index.is_some() {
        return Err(SamlError::malformed(
            "AssertionConsumerServiceURL and AssertionConsumerServiceIndex are mutually exclusive",
        ));
    }
    let policy = root.child(NS_PROTOCOL, "NameIDPolicy");
    let requested_authn_contexts = match root.child(NS_PROTOCOL, "RequestedAuthnContext") {
        Some(r) => r.children_named(NS_ASSERTION, "AuthnContextClassRef").map(|c| c.text().trim().to_owned()).collect(),
        None => Vec::new(),
    };
    Ok(AuthnRequest {
        issue_instant: issue_instant(root)?,
        id,
        destination,
        issuer,
        acs_url,
        acs_index,
        protocol_binding: root.attr("ProtocolBinding").map(str::to_owned),
        force_authn: opt_bool(root, "ForceAuthn")?.unwrap_or(false),
        is_passive: opt_bool(root, "IsPassive")?.unwrap_or(false),
        name_id_format: policy.and_then(|p| p.attr("Format")).map(str::to_owned),
        allow_create: policy.map(|p| opt_bool(p, "AllowCreate")).transpose()?.flatten(),
        sp_name_qualifier: policy.and_then(|p| p.attr("SPNameQualifier")).map(str::to_owned),
        requested_authn_contexts,
    })
}

/// Reads a `saml:NameID` element.
pub fn name_id(el: &Element) -> NameId {
    NameId {
        value: el.text().trim().to_owned(),
        format: el.attr("Format").map(str::to_owned),
        name_qualifier: el.attr("NameQualifier").map(str::to_owned),
        sp_name_qualifier: el.attr("SPNameQualifier").map(str::to_owned),
    }
}

fn logout_request(
    root: &Element,
    id: String,
    issuer: String,
    destination: Option<String>,
) -> Result<LogoutRequest, SamlError> {
    if root.child(NS_ASSERTION, "EncryptedID").is_some() || root.child(NS_ASSERTION, "BaseID").is_some() {
        return Err(SamlError::unsupported("only a plain NameID is supported in LogoutRequest"));
    }
    let mut ids = root.children_named(NS_ASSERTION, "NameID");
    let (Some(n), None) = (ids.next(), ids.next()) else {
        return Err(SamlError::malformed("LogoutRequest needs exactly one NameID"));
    };
    let name_id = name_id(n);
    if name_id.value.is_empty() {
        return Err(SamlError::malformed("empty NameID"));
    }
    Ok(LogoutRequest {
        issue_instant: issue_instant(root)?,
        id,
        destination,
        issuer,
        name_id,
        session_indexes: root.children_named(NS_PROTOCOL, "SessionIndex").map(|s| s.text().trim().to_owned()).collect(),
        not_on_or_after: root.attr("NotOnOrAfter").map(parse_instant).transpose()?,
    })
}

/// The top-level `Status/StatusCode/@Value`.
fn status_code(root: &Element) -> Result<String, SamlError> {
    root.child(NS_PROTOCOL, "Status")
        .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attr("Value"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SamlError::malformed("missing Status/StatusCode/@Value"))
}

/// Parses an xsd:dateTime: `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`. A missing zone is read as
/// UTC (SAML requires UTC; some SPs omit the `Z`). Fractions beyond nanoseconds are truncated.
pub fn parse_instant(s: &str) -> Result<OffsetDateTime, SamlError> {
    let bad = || SamlError::malformed(format!("invalid dateTime {:?}", clip(s)));
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Result<u32, SamlError> {
        let part = b.get(from..from + len).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Ok(part.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let sep = |at: usize, c: u8| if b.get(at) == Some(&c) { Ok(()) } else { Err(bad()) };
    let year = num(0, 4)?;
    sep(4, b'-')?;
    let month = num(5, 2)?;
    sep(7, b'-')?;
    let day = num(8, 2)?;
    sep(10, b'T')?;
    let hour = num(11, 2)?;
    sep(13, b':')?;
    let minute = num(14, 2)?;
    sep(16, b':')?;
    let second = num(17, 2)?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b.get(i).copied().unwrap_or(b'0') - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i..).unwrap_or_default() {
        b"" | b"Z" => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| if c.is_ascii_digit() { Ok(i8::try_from(c - b'0').unwrap_or(0)) } else { Err(bad()) };
            let h = digit(h1)? * 10 + digit(h2)?;
            let m = digit(m1)? * 10 + digit(m2)?;
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            if h.abs() > 14 || m.abs() > 59 {
                return Err(bad());
            }
            UtcOffset::from_hms(h, m, 0).map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    let month = Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date =
        Date::from_calendar_date(i32::try_from(year).map_err(|_| bad())?, month, u8::try_from(day).map_err(|_| bad())?)
            .map_err(|_| bad())?;
    let time = Time::from_hms_nano(
        u8::try_from(hour).map_err(|_| bad())?,
        u8::try_from(minute).map_err(|_| bad())?,
        u8::try_from(second).map_err(|_| bad())?,
        nanos,
    )
    .map_err(|_| bad())?;
    date.with_time(time).assume_offset(offset).checked_to_offset(UtcOffset::UTC).ok_or_else(bad)
}
