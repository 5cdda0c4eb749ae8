//! Interop with xmlsec1 (libxmlsec1 on libxml2/OpenSSL), the reference most SAML SPs sit on:
//! xmlsec1 must verify what we sign, and we must verify what xmlsec1 signs. Also, when xmllint
//! is installed, our canonical forms are compared with libxml2's.
//!
//! Tests skip (with a message) when the tools are missing, unless `OSTIARY_REQUIRE_TOOLS=1`,
//! in which case a missing xmlsec1 fails them (CI installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

use super::*;
use crate::request::parse_message;
use crate::response::SignWhat;
use crate::xml::{Limits, parse};
use crate::{NS_ASSERTION, NS_DSIG};

const XMLSEC1: &str = "/usr/bin/xmlsec1";
const XMLLINT: &str = "/usr/bin/xmllint";

#[allow(clippy::disallowed_methods)] // tests decide their own tool policy
fn tool(path: &str, required: bool) -> Option<&str> {
    if Path::new(path).exists() {
        return Some(path);
    }
    if required && std::env::var("OSTIARY_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{path} is missing and OSTIARY_REQUIRE_TOOLS=1");
    }
    println!("skipping: {path} is not installed");
    None
}

/// A fresh scratch directory per call.
fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ostiary-saml-xmlsec-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn cert_pem(key: &SigningKey) -> String {
    cert_of(key).to_pem()
}

fn key_pem(pkcs8: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

const ID_ATTRS: [&str; 8] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
];

/// Runs `xmlsec1 --verify` on `xml`, optionally starting at the signature matched by `xpath`.
fn xmlsec_verify(bin: &str, xml: &str, cert: &str, xpath: Option<&str>) -> (bool, String) {
    let dir = scratch();
    let file = write(&dir, "msg.xml", xml);
    let cert = write(&dir, "cert.pem", cert);
    let mut cmd = Command::new(bin);
    cmd.arg("--verify").arg("--pubkey-cert-pem").arg(&cert).args(ID_ATTRS);
    if let Some(x) = xpath {
        cmd.arg("--node-xpath").arg(x);
    }
    let out = cmd.arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), log)
}

const RESPONSE_SIG: &str = "/*[local-name()='Response']/*[local-name()='Signature']";
const ASSERTION_SIG: &str = "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']";

#[test]
fn xmlsec1_verifies_our_responses() {
    let Some(bin) = tool(XMLSEC1, true) else { return };
    let pem = cert_pem(&idp_key().0);
    for sign in [SignWhat::Assertion, SignWhat::Response, SignWhat::Both] {
        let xml = signed_response(sign);
        // xmlsec1 verifies the first Signature it finds.
        let (ok, log) = xmlsec_verify(bin, &xml, &pem, None);
        assert!(ok, "{sign:?}: xmlsec1 rejected our signature:\n{log}\n{xml}");
        if sign == SignWhat::Both {
            let (ok, log) = xmlsec_verify(bin, &xml, &pem, Some(ASSERTION_SIG));
            assert!(ok, "assertion signature of Both:\n{log}");
            let (ok, log) = xmlsec_verify(bin, &xml, &pem, Some(RESPONSE_SIG));
            assert!(ok, "response signature of Both:\n{log}");
        }
        // Tampered: xmlsec1 must reject too (sanity check of the harness).
        let tampered = xml.replacen("alice@contoso.example</saml:NameID>", "mallory@contoso.example</saml:NameID>", 1);
        let (ok, _) = xmlsec_verify(bin, &tampered, &pem, None);
        assert!(!ok, "{sign:?}: xmlsec1 accepted a tampered response");
        // Wrong certificate.
        let (ok, _) = xmlsec_verify(bin, &xml, &cert_pem(&other_key().0), None);
        assert!(!ok, "{sign:?}: xmlsec1 accepted the wrong key");
    }
}

#[test]
fn xmlsec1_verifies_our_logout_messages() {
    let Some(bin) = tool(XMLSEC1, true) else { return };
    let spec = crate::response::LogoutRequestSpec {
        id: "_lr-1".into(),
        issue_instant: NOW,
        destination: "https://sp.example.com/slo".into(),
        issuer: "https://login.ostiary.example/tenant-1/".into(),
        name_id: crate::request::NameId {
            value: "alice@contoso.example".into(),
            format: Some(crate::NAMEID_EMAIL.into()),
            name_qualifier: None,
            sp_name_qualifier: None,
        },
        session_index: Some("_sess-1".into()),
        not_on_or_after: None,
    };
    let xml = crate::response::build_logout_request(&spec, Some(&idp_key().0)).unwrap();
    let (ok, log) = xmlsec_verify(bin, &xml, &cert_pem(&idp_key().0), None);
    assert!(ok, "{log}\n{xml}");
}

/// An AuthnRequest template for `xmlsec1 --sign`: `{transforms}` and `{c14n}` are filled in.
fn authn_template(c14n: &str, transforms: &str) -> String {
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_req-3f9a" Version="2.0" IssueInstant="2026-03-04T05:06:07.123Z" Destination="https://idp.example.com/sso" AssertionConsumerServiceURL="https://sp.example.com/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">
  <saml:Issuer>https://sp.example.com/metadata</saml:Issuer>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="{c14n}"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <ds:Reference URI="#_req-3f9a">
        <ds:Transforms>{transforms}</ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
  </ds:Signature>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>
  <!-- a comment, which the canonical form drops -->
  <samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>
</samlp:AuthnRequest>
"##
    )
}

const ENVELOPED: &str = r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;
const EXC: &str = r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;
const EXC_WITH_LIST: &str = r##"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs #default"/></ds:Transform>"##;

fn xmlsec_sign(bin: &str, template: &str, key: &(SigningKey, ostiary_crypto::secret::Secret<Vec<u8>>)) -> String {
    xmlsec_sign_at(bin, template, key, None)
}

fn xmlsec_sign_at(
    bin: &str,
    template: &str,
    key: &(SigningKey, ostiary_crypto::secret::Secret<Vec<u8>>),
    xpath: Option<&str>,
) -> String {
    let dir = scratch();
    let tmpl = write(&dir, "tmpl.xml", template);
    let k = write(&dir, "key.pem", &key_pem(key.1.expose()));
    let c = write(&dir, "cert.pem", &cert_pem(&key.0));
    let out = dir.join("signed.xml");
    let mut cmd = Command::new(bin);
    cmd.arg("--sign").arg("--privkey-pem").arg(format!("{},{}", k.display(), c.display())).args(ID_ATTRS);
    if let Some(x) = xpath {
        cmd.arg("--node-xpath").arg(x);
    }
    let res = cmd.arg("--output").arg(&out).arg(&tmpl).output().unwrap();
    assert!(
        res.status.success(),
        "xmlsec1 --sign failed: {}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    let signed = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    signed
}

#[test]
fn we_verify_xmlsec1_signed_authn_requests() {
    let Some(bin) = tool(XMLSEC1, true) else { return };
    let sp = other_key();
    let sp_cert = cert_of(&sp.0);
    let variants = [
        ("exc-c14n", crate::c14n::ALG_EXC_C14N, format!("{ENVELOPED}{EXC}")),
        ("exc-c14n + PrefixList", crate::c14n::ALG_EXC_C14N, format!("{ENVELOPED}{EXC_WITH_LIST}")),
        ("enveloped only (inclusive c14n)", crate::c14n::ALG_EXC_C14N, ENVELOPED.to_owned()),
        ("inclusive c14n of SignedInfo", crate::c14n::ALG_C14N10, format!("{ENVELOPED}{EXC}")),
    ];
    for (name, c14n, transforms) in variants {
        let signed = xmlsec_sign(bin, &authn_template(c14n, &transforms), sp);
        let parsed = parse_message(&signed).unwrap();
        assert!(parsed.signed, "{name}");
        parsed.verify_signature(std::slice::from_ref(&sp_cert)).unwrap_or_else(|e| panic!("{name}: {e}\n{signed}"));
        // Not trusted: the IdP's own certificate.
        assert_kind(parsed.verify_signature(&[idp_cert()]), SamlErrorKind::Signature);
        // Tampered after signing.
        let tampered = signed.replacen("https://sp.example.com/acs", "https://evil.example/acs", 1);
        assert_ne!(tampered, signed);
        let p = parse_message(&tampered).unwrap();
        assert_kind(p.verify_signature(std::slice::from_ref(&sp_cert)), SamlErrorKind::Signature);
        let tampered = signed.replacen("AllowCreate=\"true\"", "AllowCreate=\"false\"", 1);
        let p = parse_message(&tampered).unwrap();
        assert_kind(p.verify_signature(std::slice::from_ref(&sp_cert)), SamlErrorKind::Signature);
        // Comments and whitespace between attributes do not matter (not part of the c14n).
        let cosmetic = signed.replacen("<saml:Issuer>", "<!-- x --><saml:Issuer  >", 1);
        parse_message(&cosmetic).unwrap().verify_signature(std::slice::from_ref(&sp_cert)).unwrap();
    }
}

#[test]
fn we_verify_xmlsec1_signed_nested_assertion() {
    // An assertion signed in place inside a Response whose root declares saml:, with the
    // assertion namespace also used as a default namespace and an xs: QName in a value.
    let Some(bin) = tool(XMLSEC1, true) else { return };
    let template = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_r1" Version="2.0" IssueInstant="2026-03-04T05:06:07Z"><saml:Issuer>https://idp.example</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
<saml:Assertion ID="_a1" Version="2.0" IssueInstant="2026-03-04T05:06:07Z"><saml:Issuer>https://idp.example</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>
  <saml:Subject><saml:NameID>bob</saml:NameID></saml:Subject>
  <AttributeStatement xmlns="urn:oasis:names:tc:SAML:2.0:assertion"><Attribute Name="n"><AttributeValue xsi:type="xs:string">v &amp; w</AttributeValue></Attribute></AttributeStatement>
</saml:Assertion></samlp:Response>"##;
    let signed = xmlsec_sign_at(bin, template, idp_key(), Some(ASSERTION_SIG));
    let root = parse(&signed, &Limits::default()).unwrap().root;
    let a = root.child(NS_ASSERTION, "Assertion").unwrap();
    crate::dsig::verify_enveloped(&root, a, &[idp_cert()]).unwrap_or_else(|e| panic!("{e}\n{signed}"));
    // The Response itself is not signed.
    assert_kind(crate::dsig::verify_enveloped(&root, &root, &[idp_cert()]), SamlErrorKind::Signature);
    // Changing the in-scope xs binding (used only inside a value, covered via the PrefixList)
    // breaks the digest.
    let moved = signed.replacen(
        r#"xmlns:xs="http://www.w3.org/2001/XMLSchema""#,
        r#"xmlns:xs="http://www.w3.org/2001/XMLSchema-evil""#,
        1,
    );
    let root = parse(&moved, &Limits::default()).unwrap().root;
    let a = root.child(NS_ASSERTION, "Assertion").unwrap();
    assert_kind(crate::dsig::verify_enveloped(&root, a, &[idp_cert()]), SamlErrorKind::Signature);
    assert!(a.elements().any(|e| e.is(NS_DSIG, "Signature")));
}

/// Compares our canonical forms of whole documents with libxml2's (`xmllint --exc-c14n` and
/// `--c14n`, which keep comments, so the documents have none), when xmllint is installed (not
/// required by CI).
#[test]
fn canonical_forms_match_libxml2() {
    let Some(bin) = tool(XMLLINT, false) else { return };
    let docs = [
        signed_response(SignWhat::Both),
        AUTHN_REQUEST.to_owned(),
        r#"<doc>
   <e1   />
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org" xmlns:a="http://www.w3.org" xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org"><e7 xmlns="http://www.ietf.org"><e8 xmlns="" xmlns:a="http://www.w3.org"><e9 xmlns="" xmlns:a="http://www.ietf.org"/></e8></e7></e6>
   <text>First line&#x0d;&#10;Second line &lt;&gt;&amp;&quot;&apos;</text>
   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; ' b="a&#9;b&#10;c&#13;d&lt;&gt;&amp;&quot;"/>
   <p:x xmlns:p="urn:p" xmlns:q="urn:q" q:z="1" p:y="2" xml:lang="en"><![CDATA[<cdata & more>]]></p:x>
</doc>"#
            .to_owned(),
        "<a xmlns:p=\"urn:1\"><p:b/><p:c xmlns:p=\"urn:2\"><p:d/></p:c><p:e/>\r\n\u{e9}\u{1F600}</a>".to_owned(),
    ];
    for (i, d) in docs.iter().enumerate() {
        let dir = scratch();
        let f = write(&dir, "doc.xml", d);
        for (flag, ours) in [
            ("--exc-c14n", {
                let r = parse(d, &Limits::default()).unwrap().root;
                crate::c14n::exclusive_c14n(&r, &[], None)
            }),
            ("--c14n", {
                let r = parse(d, &Limits::default()).unwrap().root;
                crate::c14n::inclusive_c14n_in_context(&r, &[], &[], None)
            }),
        ] {
            let out = Command::new(bin).arg(flag).arg(&f).output().unwrap();
            assert!(out.status.success(), "xmllint {flag} failed on doc {i}");
            let theirs = String::from_utf8(out.stdout).unwrap();
            assert_eq!(ours, theirs, "doc {i} {flag}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn missing_optional_tool_skips() {
    assert_eq!(tool("/nonexistent/xmlsec1", false), None);
    assert_eq!(tool(XMLSEC1, false).is_some(), Path::new(XMLSEC1).exists());
}
