//! IdP metadata (built, then read back with our parser) and SP metadata as pysaml2 and
//! python3-saml write it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::metadata::{IdpMetadata, build_idp_metadata, parse_sp_metadata};
use crate::xml::{Limits, parse};
use crate::{BINDING_POST, BINDING_REDIRECT, NS_DSIG, NS_METADATA};

#[test]
fn idp_metadata_round_trip_and_order() {
    let m = IdpMetadata {
        entity_id: "https://login.ostiary.example/tenant-1/".into(),
        signing_certs: vec![idp_key().0.cert_der().to_vec(), other_key().0.cert_der().to_vec()],
        sso_url: "https://login.ostiary.example/tenant-1/saml2".into(),
        slo_url: Some("https://login.ostiary.example/tenant-1/saml2/logout".into()),
        name_id_formats: vec![crate::NAMEID_EMAIL.into(), crate::NAMEID_PERSISTENT.into()],
        want_authn_requests_signed: true,
    };
    let xml = build_idp_metadata(&m, "_md-1");
    let root = parse(&xml, &Limits::default()).unwrap().root;
    assert!(root.is(NS_METADATA, "EntityDescriptor"));
    assert_eq!(root.attr("ID"), Some("_md-1"));
    assert_eq!(root.attr("entityID"), Some("https://login.ostiary.example/tenant-1/"));
    let idp = root.child(NS_METADATA, "IDPSSODescriptor").unwrap();
    assert_eq!(idp.attr("protocolSupportEnumeration"), Some(crate::NS_PROTOCOL));
    assert_eq!(idp.attr("WantAuthnRequestsSigned"), Some("true"));
    let order: Vec<&str> = idp.elements().map(|e| e.local.as_str()).collect();
    assert_eq!(
        order,
        [
            "KeyDescriptor",
            "KeyDescriptor",
            "SingleLogoutService",
            "SingleLogoutService",
            "NameIDFormat",
            "NameIDFormat",
            "SingleSignOnService",
            "SingleSignOnService"
        ]
    );
    let certs: Vec<Vec<u8>> = idp
        .children_named(NS_METADATA, "KeyDescriptor")
        .map(|kd| {
            assert_eq!(kd.attr("use"), Some("signing"));
            let c = kd.child(NS_DSIG, "KeyInfo").unwrap().child(NS_DSIG, "X509Data").unwrap();
            STANDARD.decode(c.child(NS_DSIG, "X509Certificate").unwrap().text()).unwrap()
        })
        .collect();
    assert_eq!(certs, m.signing_certs);
    let sso: Vec<(&str, &str)> = idp
        .children_named(NS_METADATA, "SingleSignOnService")
        .map(|e| (e.attr("Binding").unwrap(), e.attr("Location").unwrap()))
        .collect();
    assert_eq!(sso, [(BINDING_REDIRECT, m.sso_url.as_str()), (BINDING_POST, m.sso_url.as_str())]);
    let formats: Vec<String> = idp.children_named(NS_METADATA, "NameIDFormat").map(|e| e.text()).collect();
    assert_eq!(formats, m.name_id_formats);

    // Without SLO and with request signing off.
    let m2 = IdpMetadata { slo_url: None, want_authn_requests_signed: false, ..m };
    let xml = build_idp_metadata(&m2, "_md-2");
    assert!(!xml.contains("SingleLogoutService"));
    assert!(xml.contains(r#"WantAuthnRequestsSigned="false""#));
}

fn cert_b64(k: &ostiary_crypto::jws::SigningKey, wrap: bool) -> String {
    let b = STANDARD.encode(k.cert_der());
    if wrap {
        let lines: Vec<&str> = b.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("\n{}\n", lines.join("\n"))
    } else {
        b
    }
}

/// python3-saml's `OneLogin_Saml2_Metadata::builder` output (signing + encryption keys).
fn python3_saml_metadata() -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
                     validUntil="2026-03-06T05:06:07Z"
                     cacheDuration="PT518400S"
                     entityID="https://sp.example.com/metadata/">
    <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        <md:KeyDescriptor use="signing">
            <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
                <ds:X509Data>
                    <ds:X509Certificate>{sig}</ds:X509Certificate>
                </ds:X509Data>
            </ds:KeyInfo>
        </md:KeyDescriptor>
        <md:KeyDescriptor use="encryption">
            <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
                <ds:X509Data>
                    <ds:X509Certificate>{enc}</ds:X509Certificate>
                </ds:X509Data>
            </ds:KeyInfo>
        </md:KeyDescriptor>
        <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
                                Location="https://sp.example.com/?sls" />
        <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
        <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
                                     Location="https://sp.example.com/?acs"
                                     index="1" />
        <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
                                     Location="https://sp.example.com/acs-redirect"
                                     index="2" isDefault="true" />
    </md:SPSSODescriptor>
    <md:Organization>
        <md:OrganizationName xml:lang="en-US">SP</md:OrganizationName>
        <md:OrganizationDisplayName xml:lang="en-US">SP &amp; Co</md:OrganizationDisplayName>
        <md:OrganizationURL xml:lang="en-US">https://sp.example.com</md:OrganizationURL>
    </md:Organization>
</md:EntityDescriptor>"#,
        sig = cert_b64(&other_key().0, false),
        enc = cert_b64(&idp_key().0, false),
    )
}

/// pysaml2's `create_metadata_string` output: default-namespace `ns0`-style prefixes, a
/// KeyDescriptor without `use`, wrapped base64, an extension element and an EntitiesDescriptor.
fn pysaml2_metadata() -> String {
    format!(
        r#"<?xml version='1.0' encoding='UTF-8'?>
<ns0:EntitiesDescriptor xmlns:ns0="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ns1="http://www.w3.org/2000/09/xmldsig#" xmlns:ns2="urn:oasis:names:tc:SAML:metadata:ui" Name="urn:example:federation"><ns0:EntityDescriptor entityID="https://idp.other.example/idp.xml"><ns0:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><ns0:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.other.example/sso"/></ns0:IDPSSODescriptor></ns0:EntityDescriptor><ns0:EntityDescriptor entityID="https://pysaml2.example/sp.xml"><ns0:SPSSODescriptor AuthnRequestsSigned="1" WantAssertionsSigned="0" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><ns0:Extensions><ns2:UIInfo><ns2:DisplayName xml:lang="en">pysaml2 SP</ns2:DisplayName></ns2:UIInfo></ns0:Extensions><ns0:KeyDescriptor><ns1:KeyInfo><ns1:X509Data><ns1:X509Certificate>{sig}</ns1:X509Certificate></ns1:X509Data></ns1:KeyInfo></ns0:KeyDescriptor><ns0:KeyDescriptor use="encryption"><ns1:KeyInfo><ns1:X509Data><ns1:X509Certificate>{enc}</ns1:X509Certificate></ns1:X509Data></ns1:KeyInfo></ns0:KeyDescriptor><ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://pysaml2.example/slo/redirect" ResponseLocation="https://pysaml2.example/slo/response"/><ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://pysaml2.example/slo/post"/><ns0:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</ns0:NameIDFormat><ns0:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</ns0:NameIDFormat><ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://pysaml2.example/acs/post" index="1"/><ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://pysaml2.example/acs/redirect" index="2"/></ns0:SPSSODescriptor></ns0:EntityDescriptor></ns0:EntitiesDescriptor>"#,
        sig = cert_b64(&idp_key().0, true),
        enc = cert_b64(&other_key().0, true),
    )
}

#[test]
fn python3_saml_sp_metadata() {
    let md = parse_sp_metadata(&python3_saml_metadata()).unwrap();
    assert_eq!(md.entity_id, "https://sp.example.com/metadata/");
    assert!(md.authn_requests_signed && md.want_assertions_signed);
    // Only the signing certificate, not the encryption one.
    assert_eq!(md.signing_certs, [other_key().0.cert_der().to_vec()]);
    assert_eq!(md.acs.len(), 2);
    assert_eq!(md.acs[0].binding, BINDING_POST);
    assert_eq!(md.acs[0].location, "https://sp.example.com/?acs");
    assert_eq!((md.acs[0].index, md.acs[0].is_default), (Some(1), false));
    assert_eq!((md.acs[1].index, md.acs[1].is_default), (Some(2), true));
    assert_eq!(md.slo.len(), 1);
    assert_eq!(md.slo[0].binding, BINDING_REDIRECT);
    assert_eq!(md.slo[0].location, "https://sp.example.com/?sls");
    assert_eq!(md.slo[0].response_location, None);
    assert_eq!(md.name_id_formats, [crate::NAMEID_UNSPECIFIED]);
    // Serde round trip of the stored shape.
    let json = serde_json_like(&md);
    assert!(json.contains("sp.example.com"));
}

/// `SpMetadata` derives Serialize/Deserialize; check through the `time`-free `serde` test
/// double of a debug print (serde_json is not a dependency of this crate).
fn serde_json_like(md: &crate::metadata::SpMetadata) -> String {
    fn assert_serde<T: serde::Serialize + serde::de::DeserializeOwned>(_: &T) {}
    assert_serde(md);
    assert_serde(&md.acs[0]);
    format!("{md:?}")
}

#[test]
fn pysaml2_sp_metadata_in_entities_descriptor() {
    let md = parse_sp_metadata(&pysaml2_metadata()).unwrap();
    assert_eq!(md.entity_id, "https://pysaml2.example/sp.xml");
    assert!(md.authn_requests_signed);
    assert!(!md.want_assertions_signed);
    // A KeyDescriptor without `use` counts as signing; wrapped base64 is fine.
    assert_eq!(md.signing_certs, [idp_key().0.cert_der().to_vec()]);
    assert_eq!(
        md.acs.iter().map(|e| e.location.as_str()).collect::<Vec<_>>(),
        ["https://pysaml2.example/acs/post", "https://pysaml2.example/acs/redirect"]
    );
    assert_eq!(md.slo[0].response_location.as_deref(), Some("https://pysaml2.example/slo/response"));
    assert_eq!(md.slo[1].binding, BINDING_POST);
    assert_eq!(md.name_id_formats, [crate::NAMEID_PERSISTENT, crate::NAMEID_TRANSIENT]);
}

#[test]
fn sp_metadata_refusals() {
    use SamlErrorKind::{Forbidden, Malformed};
    let good = python3_saml_metadata();
    for (from, to) in [
        ("https://sp.example.com/?acs", "javascript:alert(1)"),
        ("https://sp.example.com/?acs", "https://"),
        ("https://sp.example.com/?acs", "ftp://sp.example.com/acs"),
        ("https://sp.example.com/?acs", "/relative/acs"),
        ("https://sp.example.com/?acs", "https://sp.example.com/a cs"),
        (r#"index="1""#, r#"index="x""#),
        (r#"isDefault="true""#, r#"isDefault="yes""#),
        (r#"AuthnRequestsSigned="true""#, r#"AuthnRequestsSigned="TRUE""#),
        (r#"entityID="https://sp.example.com/metadata/""#, ""),
        ("urn:oasis:names:tc:SAML:2.0:protocol\">", "urn:oasis:names:tc:SAML:1.1:protocol\">"),
        ("SPSSODescriptor", "IDPSSODescriptor"),
        ("EntityDescriptor", "Entity"),
        (r#"use="signing""#, r#"use="other""#),
    ] {
        let bad = good.replace(from, to);
        assert_ne!(bad, good, "{from}");
        let r = parse_sp_metadata(&bad);
        assert!(matches!(&r, Err(e) if e.kind == Malformed), "{from} -> {to}: {r:?}");
    }
    // A certificate that does not parse.
    let sig = cert_b64(&other_key().0, false);
    let broken = good.replacen(&sig, &STANDARD.encode(b"not a certificate"), 1);
    assert_kind(parse_sp_metadata(&broken), Malformed);
    let broken = good.replacen(&sig, "%%%", 1);
    assert_kind(parse_sp_metadata(&broken), Malformed);
    // No ACS at all.
    let no_acs: String = good
        .lines()
        .filter(|l| {
            !l.contains("AssertionConsumerService")
                && !l.contains("index=")
                && !l.contains("https://sp.example.com/?acs")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_kind(parse_sp_metadata(&no_acs), Malformed);
    // Hostile XML is refused by the parser.
    assert_kind(parse_sp_metadata(&format!("<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>{good}")), Forbidden);
    // An EntitiesDescriptor with no SP.
    let only_idp = pysaml2_metadata().replace("SPSSODescriptor", "AttributeAuthorityDescriptor");
    assert_kind(parse_sp_metadata(&only_idp), Malformed);
    // Metadata above the parser limit.
    let huge =
        good.replace("</md:EntityDescriptor>", &format!("<!--{}--></md:EntityDescriptor>", "x".repeat(1024 * 1024)));
    assert_kind(parse_sp_metadata(&huge), SamlErrorKind::TooLarge);
}
