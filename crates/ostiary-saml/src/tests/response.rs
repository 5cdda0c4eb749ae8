//! The shape of what we send: element order per the schema, attributes SPs check, escaping.

use super::*;
use crate::response::{LogoutRequestSpec, SignWhat, Status, build_logout_request, build_response};
use crate::xml::{Element, Limits, parse};
use crate::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

fn names(e: &Element) -> Vec<&str> {
    e.elements().map(|c| c.local.as_str()).collect()
}

#[test]
fn success_response_shape() {
    let xml = signed_response(SignWhat::Assertion);
    assert!(xml.starts_with("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_resp-6e1c2f\" Version=\"2.0\" IssueInstant=\"2026-03-04T05:06:07.891Z\" Destination=\"https://sp.example.com/acs\" InResponseTo=\"ONELOGIN_"), "{xml}");
    let r = parse(&xml, &Limits::default()).unwrap().root;
    assert!(r.is(NS_PROTOCOL, "Response"));
    assert_eq!(names(&r), ["Issuer", "Status", "Assertion"]);
    let status = r.child(NS_PROTOCOL, "Status").unwrap();
    assert_eq!(status.child(NS_PROTOCOL, "StatusCode").unwrap().attr("Value"), Some(crate::STATUS_SUCCESS));
    let a = r.child(NS_ASSERTION, "Assertion").unwrap();
    assert_eq!(a.prefix.as_deref(), Some("saml"));
    assert_eq!(a.attr("ID"), Some("_assert-8d2a91"));
    assert_eq!(a.attr("Version"), Some("2.0"));
    assert_eq!(a.attr("IssueInstant"), Some("2026-03-04T05:06:07.891Z"));
    assert_eq!(names(a), ["Issuer", "Signature", "Subject", "Conditions", "AttributeStatement", "AuthnStatement"]);
    assert_eq!(a.child(NS_ASSERTION, "Issuer").unwrap().text(), "https://login.ostiary.example/tenant-1/");
    let subject = a.child(NS_ASSERTION, "Subject").unwrap();
    let name_id = subject.child(NS_ASSERTION, "NameID").unwrap();
    assert_eq!(name_id.text(), "alice@contoso.example");
    assert_eq!(name_id.attr("Format"), Some(crate::NAMEID_EMAIL));
    assert_eq!(name_id.attr("SPNameQualifier"), Some("https://sp.example.com/metadata"));
    let sc = subject.child(NS_ASSERTION, "SubjectConfirmation").unwrap();
    assert_eq!(sc.attr("Method"), Some(crate::CM_BEARER));
    let scd = sc.child(NS_ASSERTION, "SubjectConfirmationData").unwrap();
    assert_eq!(scd.attr("InResponseTo"), Some("ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24"));
    assert_eq!(scd.attr("NotOnOrAfter"), Some("2026-03-04T06:06:07.891Z"));
    assert_eq!(scd.attr("Recipient"), Some("https://sp.example.com/acs"));
    assert_eq!(scd.attr("NotBefore"), None, "bearer confirmations must not carry NotBefore");
    let cond = a.child(NS_ASSERTION, "Conditions").unwrap();
    assert_eq!(cond.attr("NotBefore"), Some("2026-03-04T05:01:07.891Z"));
    assert_eq!(cond.attr("NotOnOrAfter"), Some("2026-03-04T06:06:07.891Z"));
    let aud = cond.child(NS_ASSERTION, "AudienceRestriction").unwrap().child(NS_ASSERTION, "Audience").unwrap();
    assert_eq!(aud.text(), "https://sp.example.com/metadata");
    let attrs: Vec<&Element> =
        a.child(NS_ASSERTION, "AttributeStatement").unwrap().children_named(NS_ASSERTION, "Attribute").collect();
    assert_eq!(attrs.len(), 2);
    assert_eq!(attrs[1].attr("FriendlyName"), Some("groups"));
    assert_eq!(attrs[1].attr("NameFormat"), Some(crate::ATTRNAME_FORMAT_URI));
    assert_eq!(attrs[0].attr("NameFormat"), None);
    let values: Vec<String> = attrs[1].children_named(NS_ASSERTION, "AttributeValue").map(Element::text).collect();
    assert_eq!(values, ["g1", "g2 & <co>"]);
    assert!(xml.contains("<saml:AttributeValue>g2 &amp; &lt;co&gt;</saml:AttributeValue>"));
    let authn = a.child(NS_ASSERTION, "AuthnStatement").unwrap();
    assert_eq!(authn.attr("AuthnInstant"), Some("2026-03-04T05:05:37.891Z"));
    assert_eq!(authn.attr("SessionIndex"), Some("_sess-1234"));
    assert_eq!(authn.attr("SessionNotOnOrAfter"), Some("2026-03-04T13:06:07.891Z"));
    let class = authn.child(NS_ASSERTION, "AuthnContext").unwrap().child(NS_ASSERTION, "AuthnContextClassRef").unwrap();
    assert_eq!(class.text(), crate::AUTHN_CONTEXT_PASSWORD_PROTECTED);
    // Our serialization is already canonical for the parts we sign (no re-ordering surprises).
    let sig = a.child(NS_DSIG, "Signature").unwrap();
    assert_eq!(names(sig), ["SignedInfo", "SignatureValue", "KeyInfo"]);
}

#[test]
fn optional_parts_are_omitted() {
    let mut spec = response_spec();
    spec.in_response_to = None;
    let a = spec.assertion.as_mut().unwrap();
    a.in_response_to = None;
    a.attributes.clear();
    a.session_not_on_or_after = None;
    let xml = build_response(&spec, &idp_key().0, SignWhat::Response).unwrap();
    assert!(!xml.contains("InResponseTo"));
    assert!(!xml.contains("AttributeStatement"));
    assert!(!xml.contains("SessionNotOnOrAfter"));
    let r = parse(&xml, &Limits::default()).unwrap().root;
    assert_eq!(names(&r), ["Issuer", "Signature", "Status", "Assertion"]);
    assert_eq!(
        names(r.child(NS_ASSERTION, "Assertion").unwrap()),
        ["Issuer", "Subject", "Conditions", "AuthnStatement"]
    );
}

#[test]
fn error_response() {
    let mut spec = response_spec();
    spec.assertion = None;
    spec.status = Status {
        code: crate::STATUS_REQUESTER.into(),
        sub_code: Some(crate::STATUS_INVALID_NAMEID_POLICY.into()),
        message: Some("NameID format <x> not allowed".into()),
    };
    for sign in [SignWhat::Assertion, SignWhat::Response, SignWhat::Both] {
        let xml = build_response(&spec, &idp_key().0, sign).unwrap();
        let r = parse(&xml, &Limits::default()).unwrap().root;
        // Something is always signed: without an assertion, the Response.
        assert_eq!(names(&r), ["Issuer", "Signature", "Status"]);
        crate::dsig::verify_enveloped(&r, &r, &[idp_cert()]).unwrap();
        let status = r.child(NS_PROTOCOL, "Status").unwrap();
        let top = status.child(NS_PROTOCOL, "StatusCode").unwrap();
        assert_eq!(top.attr("Value"), Some(crate::STATUS_REQUESTER));
        assert_eq!(
            top.child(NS_PROTOCOL, "StatusCode").unwrap().attr("Value"),
            Some(crate::STATUS_INVALID_NAMEID_POLICY)
        );
        assert_eq!(status.child(NS_PROTOCOL, "StatusMessage").unwrap().text(), "NameID format <x> not allowed");
    }
    // Inconsistent specs are refused.
    let mut bad = response_spec();
    bad.status.code = crate::STATUS_RESPONDER.into();
    assert_kind(build_response(&bad, &idp_key().0, SignWhat::Response), SamlErrorKind::Malformed);
    let mut bad = response_spec();
    bad.assertion = None;
    assert_kind(build_response(&bad, &idp_key().0, SignWhat::Response), SamlErrorKind::Malformed);
    let mut bad = response_spec();
    bad.id = "1-not-an-ncname".into();
    assert_kind(build_response(&bad, &idp_key().0, SignWhat::Response), SamlErrorKind::Malformed);
}

#[test]
fn logout_request_shape() {
    let spec = LogoutRequestSpec {
        id: "_lr-7".into(),
        issue_instant: NOW,
        destination: "https://sp.example.com/slo".into(),
        issuer: "https://idp".into(),
        name_id: crate::request::NameId {
            value: "alice".into(),
            format: Some(crate::NAMEID_PERSISTENT.into()),
            name_qualifier: Some("https://idp".into()),
            sp_name_qualifier: None,
        },
        session_index: Some("_s1".into()),
        not_on_or_after: Some(NOW + time::Duration::minutes(5)),
    };
    let xml = build_logout_request(&spec, None).unwrap();
    let p = crate::request::parse_message(&xml).unwrap();
    assert!(!p.signed);
    let crate::request::Message::LogoutRequest(r) = p.message else { panic!() };
    assert_eq!(r.name_id, spec.name_id);
    assert_eq!(r.session_indexes, ["_s1"]);
    assert_eq!(r.not_on_or_after, Some(datetime_ms(NOW + time::Duration::minutes(5))));
    let signed = build_logout_request(&spec, Some(&idp_key().0)).unwrap();
    let p = crate::request::parse_message(&signed).unwrap();
    assert!(p.signed);
    p.verify_signature(&[idp_cert()]).unwrap();
    assert_eq!(names(&p.document.root), ["Issuer", "Signature", "NameID", "SessionIndex"]);
}

/// Truncates to milliseconds, as `format_instant` does.
fn datetime_ms(t: time::OffsetDateTime) -> time::OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap()
}
