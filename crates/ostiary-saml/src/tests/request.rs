//! Parsing SP messages: AuthnRequest variants, LogoutRequest, LogoutResponse, and refusals.

use time::macros::datetime;

use super::*;
use crate::request::{Message, parse_instant, parse_message};

fn authn(attrs: &str, body: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0" {attrs}>{body}</samlp:AuthnRequest>"#
    )
}

const ISSUER: &str = "<saml:Issuer> https://sp.example.com/metadata </saml:Issuer>";

fn parse_authn(attrs: &str, body: &str) -> Result<crate::request::AuthnRequest, SamlError> {
    match parse_message(&authn(attrs, body))?.message {
        Message::AuthnRequest(r) => Ok(r),
        other => panic!("{other:?}"),
    }
}

const BASE: &str = r#"ID="_a1" IssueInstant="2026-03-04T05:06:07Z""#;

#[test]
fn authn_request_python3_saml() {
    let p = parse_message(AUTHN_REQUEST).unwrap();
    assert!(!p.signed);
    let Message::AuthnRequest(r) = &p.message else { panic!() };
    assert_eq!(r.id, "ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24");
    assert_eq!(r.issue_instant, datetime!(2026-03-04 05:06:07 UTC));
    assert_eq!(r.destination.as_deref(), Some("https://idp.example.com/saml2/sso"));
    assert_eq!(r.issuer, "https://sp.example.com/metadata");
    assert_eq!(r.acs_url.as_deref(), Some("https://sp.example.com/acs"));
    assert_eq!(r.acs_index, None);
    assert_eq!(r.protocol_binding.as_deref(), Some(crate::BINDING_POST));
    assert!(!r.force_authn && !r.is_passive);
    assert_eq!(r.name_id_format.as_deref(), Some(crate::NAMEID_EMAIL));
    assert_eq!(r.allow_create, Some(true));
    assert_eq!(r.sp_name_qualifier, None);
    assert_eq!(r.requested_authn_contexts, [crate::AUTHN_CONTEXT_PASSWORD_PROTECTED]);
    assert_kind(p.verify_signature(&[idp_cert()]), SamlErrorKind::Signature);
}

#[test]
fn authn_request_variants() {
    // Minimal: only what is required.
    let r = parse_authn(BASE, ISSUER).unwrap();
    assert_eq!(r.issuer, "https://sp.example.com/metadata");
    assert_eq!((r.acs_url, r.acs_index, r.name_id_format, r.allow_create), (None, None, None, None));
    assert!(r.requested_authn_contexts.is_empty());
    // ACS by index, passive, forced, NameIDPolicy with SPNameQualifier, xsd booleans 1/0.
    let r = parse_authn(
        &format!(r#"{BASE} AssertionConsumerServiceIndex="3" IsPassive="1" ForceAuthn="true""#),
        &format!(
            r#"{ISSUER}<samlp:NameIDPolicy Format="{}" AllowCreate="0" SPNameQualifier="urn:sp"/><samlp:RequestedAuthnContext><saml:AuthnContextClassRef>a</saml:AuthnContextClassRef><saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
            crate::NAMEID_PERSISTENT,
            crate::AUTHN_CONTEXT_MS_MFA
        ),
    )
    .unwrap();
    assert_eq!(r.acs_index, Some(3));
    assert!(r.is_passive && r.force_authn);
    assert_eq!(r.name_id_format.as_deref(), Some(crate::NAMEID_PERSISTENT));
    assert_eq!(r.allow_create, Some(false));
    assert_eq!(r.sp_name_qualifier.as_deref(), Some("urn:sp"));
    assert_eq!(r.requested_authn_contexts, ["a", crate::AUTHN_CONTEXT_MS_MFA]);
    // Entra-style default-namespace request with fractional seconds and an offset.
    let xml = r#"<AuthnRequest xmlns="urn:oasis:names:tc:SAML:2.0:protocol" ID="id6c1c178c166d486687be4aaf5e482730" Version="2.0" IssueInstant="2026-03-04T06:06:07.1234567+01:00"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">https://www.contoso.com</Issuer></AuthnRequest>"#;
    let Message::AuthnRequest(r) = parse_message(xml).unwrap().message else { panic!() };
    assert_eq!(r.issue_instant, datetime!(2026-03-04 05:06:07.1234567 UTC));
    assert_eq!(r.issuer, "https://www.contoso.com");
}

#[test]
fn authn_request_refusals() {
    use SamlErrorKind::{Malformed, Unsupported};
    let both = format!(r#"{BASE} AssertionConsumerServiceURL="https://sp/acs" AssertionConsumerServiceIndex="1""#);
    assert_kind(parse_authn(&both, ISSUER), Malformed);
    assert_kind(parse_authn(BASE, ""), Malformed);
    assert_kind(parse_authn(BASE, "<saml:Issuer>  </saml:Issuer>"), Malformed);
    assert_kind(parse_authn(BASE, &format!("{ISSUER}{ISSUER}")), Malformed);
    // An Issuer nested elsewhere does not count.
    assert_kind(parse_authn(BASE, &format!("<samlp:Extensions>{ISSUER}</samlp:Extensions>")), Malformed);
    assert_kind(parse_authn(r#"IssueInstant="2026-03-04T05:06:07Z""#, ISSUER), Malformed);
    assert_kind(parse_authn(r#"ID="_a1""#, ISSUER), Malformed);
    for bad_id in ["1abc", "a b", "a<b", "", "a:b", &"a".repeat(257)] {
        let attrs = format!(r#"ID="{}" IssueInstant="2026-03-04T05:06:07Z""#, bad_id.replace('<', "&lt;"));
        assert_kind(parse_authn(&attrs, ISSUER), Malformed);
    }
    for bad in [
        r#"IsPassive="yes""#,
        r#"ForceAuthn="TRUE""#,
        r#"AssertionConsumerServiceIndex="-1""#,
        r#"AssertionConsumerServiceIndex="70000""#,
    ] {
        assert_kind(parse_authn(&format!("{BASE} {bad}"), ISSUER), Malformed);
    }
    assert_kind(parse_authn(BASE, &format!(r#"{ISSUER}<samlp:NameIDPolicy AllowCreate="maybe"/>"#)), Malformed);
    // Versions and message types.
    let v1 = authn(BASE, ISSUER).replace(r#"Version="2.0""#, r#"Version="1.1""#);
    assert_kind(parse_message(&v1), Unsupported);
    let none = authn(BASE, ISSUER).replace(r#"Version="2.0" "#, "");
    assert_kind(parse_message(&none), Malformed);
    let other = authn(BASE, ISSUER).replace("AuthnRequest", "ArtifactResolve");
    assert_kind(parse_message(&other), Unsupported);
    let wrong_ns = authn(BASE, ISSUER).replace("urn:oasis:names:tc:SAML:2.0:protocol", "urn:evil");
    assert_kind(parse_message(&wrong_ns), Unsupported);
    assert_kind(parse_message("<x"), Malformed);
    assert_kind(parse_message(&format!("<!DOCTYPE x>{}", authn(BASE, ISSUER))), SamlErrorKind::Forbidden);
}

#[test]
fn logout_request_with_session_indexes() {
    let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2026-03-04T05:06:07.5Z" Destination="https://idp/slo" NotOnOrAfter="2026-03-04T05:11:07Z"><saml:Issuer>https://sp.example.com/metadata</saml:Issuer><saml:NameID SPNameQualifier="https://sp.example.com/metadata" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="idp">_ce3d2948b4cf20146dee0a0b3dd6f69b6cf86f62d7</saml:NameID><samlp:SessionIndex>_s1</samlp:SessionIndex><samlp:SessionIndex> _s2 </samlp:SessionIndex></samlp:LogoutRequest>"#;
    let Message::LogoutRequest(r) = parse_message(xml).unwrap().message else { panic!() };
    assert_eq!(r.id, "_lr1");
    assert_eq!(r.issue_instant, datetime!(2026-03-04 05:06:07.5 UTC));
    assert_eq!(r.destination.as_deref(), Some("https://idp/slo"));
    assert_eq!(r.name_id.value, "_ce3d2948b4cf20146dee0a0b3dd6f69b6cf86f62d7");
    assert_eq!(r.name_id.format.as_deref(), Some(crate::NAMEID_TRANSIENT));
    assert_eq!(r.name_id.name_qualifier.as_deref(), Some("idp"));
    assert_eq!(r.name_id.sp_name_qualifier.as_deref(), Some("https://sp.example.com/metadata"));
    assert_eq!(r.session_indexes, ["_s1", "_s2"]);
    assert_eq!(r.not_on_or_after, Some(datetime!(2026-03-04 05:11:07 UTC)));
    // No NameID, two NameIDs, an EncryptedID.
    let no_id = xml
        .replace(r#"<saml:NameID SPNameQualifier"#, "<saml:X SPNameQualifier")
        .replace("</saml:NameID>", "</saml:X>");
    assert_kind(parse_message(&no_id), SamlErrorKind::Malformed);
    let two = xml.replace("<samlp:SessionIndex>_s1", "<saml:NameID>x</saml:NameID><samlp:SessionIndex>_s1");
    assert_kind(parse_message(&two), SamlErrorKind::Malformed);
    let enc = xml.replace("<samlp:SessionIndex>_s1", "<saml:EncryptedID/><samlp:SessionIndex>_s1");
    assert_kind(parse_message(&enc), SamlErrorKind::Unsupported);
    let bad_time = xml.replace("NotOnOrAfter=\"2026-03-04T05:11:07Z\"", "NotOnOrAfter=\"tomorrow\"");
    assert_kind(parse_message(&bad_time), SamlErrorKind::Malformed);
}

#[test]
fn logout_response() {
    let xml = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r2" Version="2.0" IssueInstant="2026-03-04T05:06:07Z" Destination="https://idp/slo" InResponseTo="_lr-9"><saml:Issuer>https://sp.example.com/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#;
    let Message::LogoutResponse(r) = parse_message(xml).unwrap().message else { panic!() };
    assert_eq!(r.id, "_r2");
    assert_eq!(r.in_response_to.as_deref(), Some("_lr-9"));
    assert_eq!(r.issuer, "https://sp.example.com/metadata");
    assert_eq!(r.destination.as_deref(), Some("https://idp/slo"));
    assert_eq!(r.status, crate::STATUS_SUCCESS);
    let no_status = xml.replace(r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#, "");
    assert_kind(parse_message(&no_status), SamlErrorKind::Malformed);
}

#[test]
fn our_own_signed_logout_messages_verify() {
    let spec = crate::response::LogoutResponseSpec {
        id: "_lresp-1".into(),
        in_response_to: "_lr-9".into(),
        destination: "https://sp.example.com/slo".into(),
        issue_instant: NOW,
        issuer: "https://idp".into(),
        status: crate::response::Status::success(),
    };
    let xml = crate::response::build_logout_response(&spec, Some(&idp_key().0)).unwrap();
    let p = parse_message(&xml).unwrap();
    assert!(p.signed);
    p.verify_signature(&[idp_cert()]).unwrap();
    let Message::LogoutResponse(r) = p.message else { panic!() };
    assert_eq!(
        (r.id.as_str(), r.in_response_to.as_deref(), r.status.as_str()),
        ("_lresp-1", Some("_lr-9"), crate::STATUS_SUCCESS)
    );
    let unsigned = crate::response::build_logout_response(&spec, None).unwrap();
    assert!(!parse_message(&unsigned).unwrap().signed);
}

#[test]
fn date_times() {
    for (s, t) in [
        ("2026-03-04T05:06:07Z", datetime!(2026-03-04 05:06:07 UTC)),
        ("2026-03-04T05:06:07", datetime!(2026-03-04 05:06:07 UTC)),
        ("2026-03-04T05:06:07.1Z", datetime!(2026-03-04 05:06:07.1 UTC)),
        ("2026-03-04T05:06:07.123456789123Z", datetime!(2026-03-04 05:06:07.123456789 UTC)),
        ("2026-03-04T00:30:00-05:30", datetime!(2026-03-04 06:00:00 UTC)),
        ("2024-02-29T23:59:59+00:00", datetime!(2024-02-29 23:59:59 UTC)),
    ] {
        assert_eq!(parse_instant(s).unwrap(), t, "{s}");
    }
    for s in [
        "",
        "2026-03-04",
        "2026-03-04 05:06:07Z",
        "2026-13-04T05:06:07Z",
        "2025-02-29T05:06:07Z",
        "2026-03-04T24:00:00Z",
        "2026-03-04T05:06:07.Z",
        "2026-03-04T05:06:07.1234567890123Z",
        "2026-03-04T05:06:07+5:00",
        "2026-03-04T05:06:07+15:00",
        "2026-03-04T05:06:07ZZ",
        "+2026-03-04T05:06:07Z",
        "9999-12-31T23:59:59-14:00",
        "２０２６-03-04T05:06:07Z",
    ] {
        assert_kind(parse_instant(s), SamlErrorKind::Malformed);
    }
    assert_eq!(crate::response::format_instant(datetime!(2026-03-04 05:06:07.1239 UTC)), "2026-03-04T05:06:07.123Z");
    assert_eq!(crate::response::format_instant(datetime!(2026-03-04 06:06:07 +01:00)), "2026-03-04T05:06:07.000Z");
}
