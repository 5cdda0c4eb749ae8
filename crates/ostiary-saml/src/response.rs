//! Building what the IdP sends: the `samlp:Response` with its `saml:Assertion` (shaped like
//! Entra's, element order per saml-schema-assertion-2.0), and IdP-initiated or answering
//! LogoutRequest / LogoutResponse messages.
//!
//! Trees are built with [`crate::xml::Element`]'s builder, signed in place with
//! [`crate::dsig::sign_enveloped`] and serialized once, so the signed canonical form and the bytes
//! sent describe the same tree.

use ostiary_crypto::jws::SigningKey;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::dsig::sign_enveloped;
use crate::error::{SamlError, clip};
use crate::request::{NameId, is_valid_id};
use crate::xml::{Element, serialize};
use crate::{CM_BEARER, NS_ASSERTION, NS_PROTOCOL, STATUS_SUCCESS};

/// One `saml:Attribute` with its values (each becomes an `AttributeValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub friendly_name: Option<String>,
    /// Omitted when `None` (the schema's default is `unspecified`).
    pub name_format: Option<String>,
    pub values: Vec<String>,
}

/// Everything in the assertion of a successful response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionSpec {
    pub id: String,
    pub issuer: String,
    pub subject: NameId,
    /// The ACS URL (`SubjectConfirmationData/@Recipient`).
    pub recipient: String,
    pub in_response_to: Option<String>,
    pub issue_instant: OffsetDateTime,
    pub not_before: OffsetDateTime,
    /// Ends both the Conditions and the bearer confirmation window.
    pub not_on_or_after: OffsetDateTime,
    pub audience: String,
    pub authn_instant: OffsetDateTime,
    pub session_index: String,
    pub session_not_on_or_after: Option<OffsetDateTime>,
    pub authn_context_class_ref: String,
    pub attributes: Vec<Attribute>,
}

/// A `samlp:Status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: String,
    pub sub_code: Option<String>,
    pub message: Option<String>,
}

impl Status {
    pub fn success() -> Self {
        Self { code: STATUS_SUCCESS.into(), sub_code: None, message: None }
    }
}

/// A `samlp:Response`; `assertion` must be present exactly when the status is Success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSpec {
    pub id: String,
    pub in_response_to: Option<String>,
    pub destination: String,
    pub issue_instant: OffsetDateTime,
    pub issuer: String,
    pub status: Status,
    pub assertion: Option<AssertionSpec>,
}

/// What [`build_response`] signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignWhat {
    Assertion,
    Response,
    Both,
}

/// An IdP-sent `samlp:LogoutRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequestSpec {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    pub destination: String,
    pub issuer: String,
    pub name_id: NameId,
    pub session_index: Option<String>,
    pub not_on_or_after: Option<OffsetDateTime>,
}

/// An IdP-sent `samlp:LogoutResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponseSpec {
    pub id: String,
    pub in_response_to: String,
    pub destination: String,
    pub issue_instant: OffsetDateTime,
    pub issuer: String,
    pub status: Status,
}

/// xsd:dateTime in UTC with millisecond precision and a trailing `Z`, as Entra writes them.
pub fn format_instant(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn samlp(local: &str) -> Element {
    Element::new(Some("samlp"), local, Some(NS_PROTOCOL))
}

fn saml(local: &str) -> Element {
    Element::new(Some("saml"), local, Some(NS_ASSERTION))
}

fn check_id(id: &str, what: &str) -> Result<(), SamlError> {
    if is_valid_id(id) { Ok(()) } else { Err(SamlError::malformed(format!("invalid {what} ID {:?}", clip(id)))) }
}

fn status_element(s: &Status) -> Element {
    let mut code = samlp("StatusCode").with_attr("Value", s.code.as_str());
    if let Some(sub) = &s.sub_code {
        code.push_child(samlp("StatusCode").with_attr("Value", sub.as_str()));
    }
    let mut status = samlp("Status").with_child(code);
    if let Some(m) = &s.message {
        status.push_child(samlp("StatusMessage").with_text(m.as_str()));
    }
    status
}

fn name_id_element(n: &NameId) -> Element {
    saml("NameID")
        .with_opt_attr("Format", n.format.as_deref())
        .with_opt_attr("NameQualifier", n.name_qualifier.as_deref())
        .with_opt_attr("SPNameQualifier", n.sp_name_qualifier.as_deref())
        .with_text(n.value.as_str())
}

/// The `saml:Assertion` tree, unsigned.
fn assertion_element(a: &AssertionSpec) -> Result<Element, SamlError> {
    check_id(&a.id, "assertion")?;
    let confirmation_data = saml("SubjectConfirmationData")
        .with_opt_attr("InResponseTo", a.in_response_to.as_deref())
        .with_attr("NotOnOrAfter", format_instant(a.not_on_or_after))
        .with_attr("Recipient", a.recipient.as_str());
    let subject = saml("Subject")
        .with_child(name_id_element(&a.subject))
        .with_child(saml("SubjectConfirmation").with_attr("Method", CM_BEARER).with_child(confirmation_data));
    let conditions = saml("Conditions")
        .with_attr("NotBefore", format_instant(a.not_before))
        .with_attr("NotOnOrAfter", format_instant(a.not_on_or_after))
        .with_child(saml("AudienceRestriction").with_child(saml("Audience").with_text(a.audience.as_str())));
    let mut assertion = saml("Assertion")
        .with_ns_decl(Some("saml"), NS_ASSERTION)
        .with_attr("ID", a.id.as_str())
        .with_attr("IssueInstant", format_instant(a.issue_instant))
        .with_attr("Version", "2.0")
        .with_child(saml("Issuer").with_text(a.issuer.as_str()))
        .with_child(subject)
        .with_child(conditions);
    if !a.attributes.is_empty() {
        let mut statement = saml("AttributeStatement");
        for at in &a.attributes {
            let mut el = saml("Attribute")
                .with_attr("Name", at.name.as_str())
                .with_opt_attr("NameFormat", at.name_format.as_deref())
                .with_opt_attr("FriendlyName", at.friendly_name.as_deref());
            for v in &at.values {
                el.push_child(saml("AttributeValue").with_text(v.as_str()));
            }
            statement.push_child(el);
        }
        assertion.push_child(statement);
    }
    let authn = saml("AuthnStatement")
        .with_attr("AuthnInstant", format_instant(a.authn_instant))
        .with_attr("SessionIndex", a.session_index.as_str())
        .with_opt_attr("SessionNotOnOrAfter", a.session_not_on_or_after.map(format_instant))
        .with_child(
            saml("AuthnContext").with_child(saml("AuthnContextClassRef").with_text(a.authn_context_class_ref.as_str())),
        );
    assertion.push_child(authn);
    Ok(assertion)
}

/// Builds and signs a `samlp:Response`. With [`SignWhat::Both`] the Assertion is signed first,
/// then the Response (whose digest covers the signed Assertion). When there is no assertion
/// (an error status), [`SignWhat::Assertion`] signs the Response instead, so nothing leaves
/// unsigned.
pub fn build_response(spec: &ResponseSpec, key: &SigningKey, sign: SignWhat) -> Result<String, SamlError> {
    check_id(&spec.id, "response")?;
    let success = spec.status.code == STATUS_SUCCESS;
    if success != spec.assertion.is_some() {
        return Err(SamlError::malformed("a Response carries an assertion exactly when its status is Success"));
    }
    let mut response = samlp("Response")
        .with_ns_decl(Some("samlp"), NS_PROTOCOL)
        .with_ns_decl(Some("saml"), NS_ASSERTION)
        .with_attr("ID", spec.id.as_str())
        .with_attr("Version", "2.0")
        .with_attr("IssueInstant", format_instant(spec.issue_instant))
        .with_attr("Destination", spec.destination.as_str())
        .with_opt_attr("InResponseTo", spec.in_response_to.as_deref())
        .with_child(saml("Issuer").with_text(spec.issuer.as_str()))
        .with_child(status_element(&spec.status));
    let (sign_assertion, sign_response) = match (sign, spec.assertion.is_some()) {
        (SignWhat::Assertion, true) => (true, false),
        (SignWhat::Assertion, false) | (SignWhat::Response, _) => (false, true),
        (SignWhat::Both, has) => (has, true),
    };
    if let Some(a) = &spec.assertion {
        let mut assertion = assertion_element(a)?;
        if sign_assertion {
            sign_enveloped(&mut assertion, &a.id, key, 1)?;
        }
        response.push_child(assertion);
    }
    if sign_response {
        sign_enveloped(&mut response, &spec.id, key, 1)?;
    }
    Ok(serialize(&response))
}

/// Builds a `samlp:LogoutRequest`; with a key it carries an enveloped signature (for the POST
/// binding; the Redirect binding signs the query string instead).
pub fn build_logout_request(spec: &LogoutRequestSpec, key: Option<&SigningKey>) -> Result<String, SamlError> {
    check_id(&spec.id, "logout request")?;
    let mut el = samlp("LogoutRequest")
        .with_ns_decl(Some("samlp"), NS_PROTOCOL)
        .with_ns_decl(Some("saml"), NS_ASSERTION)
        .with_attr("ID", spec.id.as_str())
        .with_attr("Version", "2.0")
        .with_attr("IssueInstant", format_instant(spec.issue_instant))
        .with_attr("Destination", spec.destination.as_str())
        .with_opt_attr("NotOnOrAfter", spec.not_on_or_after.map(format_instant))
        .with_child(saml("Issuer").with_text(spec.issuer.as_str()))
        .with_child(name_id_element(&spec.name_id));
    if let Some(s) = &spec.session_index {
        el.push_child(samlp("SessionIndex").with_text(s.as_str()));
    }
    if let Some(key) = key {
        sign_enveloped(&mut el, &spec.id, key, 1)?;
    }
    Ok(serialize(&el))
}

/// Builds a `samlp:LogoutResponse`; with a key it carries an enveloped signature.
pub fn build_logout_response(spec: &LogoutResponseSpec, key: Option<&SigningKey>) -> Result<String, SamlError> {
    check_id(&spec.id, "logout response")?;
    let mut el = samlp("LogoutResponse")
        .with_ns_decl(Some("samlp"), NS_PROTOCOL)
        .with_ns_decl(Some("saml"), NS_ASSERTION)
        .with_attr("ID", spec.id.as_str())
        .with_attr("Version", "2.0")
        .with_attr("IssueInstant", format_instant(spec.issue_instant))
        .with_attr("Destination", spec.destination.as_str())
        .with_attr("InResponseTo", spec.in_response_to.as_str())
        .with_child(saml("Issuer").with_text(spec.issuer.as_str()))
        .with_child(status_element(&spec.status));
    if let Some(key) = key {
        sign_enveloped(&mut el, &spec.id, key, 1)?;
    }
    Ok(serialize(&el))
}
