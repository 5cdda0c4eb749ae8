//! Enveloped signatures: round trips, tampering, and the signature-wrapping family.

use super::*;
use crate::dsig::{sign_enveloped, verify_enveloped};
use crate::response::SignWhat;
use crate::xml::{Element, Limits, Node, parse};
use crate::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};
use ostiary_crypto::jws::{Alg, SigningKey};

fn doc(s: &str) -> Element {
    parse(s, &Limits::default()).unwrap().root
}

fn assertion(r: &Element) -> &Element {
    r.child(NS_ASSERTION, "Assertion").unwrap()
}

fn verify_response(xml: &str) -> Result<(), SamlError> {
    let r = doc(xml);
    verify_enveloped(&r, &r, &[idp_cert()])
}

fn verify_assertion(xml: &str) -> Result<(), SamlError> {
    let r = doc(xml);
    verify_enveloped(&r, assertion(&r), &[idp_cert()])
}

#[test]
fn round_trip_each_variant() {
    let a = signed_response(SignWhat::Assertion);
    verify_assertion(&a).unwrap();
    assert_kind(verify_response(&a), SamlErrorKind::Signature);

    let r = signed_response(SignWhat::Response);
    verify_response(&r).unwrap();
    assert_kind(verify_assertion(&r), SamlErrorKind::Signature);

    let b = signed_response(SignWhat::Both);
    verify_response(&b).unwrap();
    verify_assertion(&b).unwrap();
    // Signature right after Issuer in both places.
    let root = doc(&b);
    let kids: Vec<_> = root.elements().map(|e| e.local.as_str()).collect();
    assert_eq!(kids, ["Issuer", "Signature", "Status", "Assertion"]);
    let kids: Vec<_> = assertion(&root).elements().map(|e| e.local.as_str()).collect();
    assert_eq!(kids, ["Issuer", "Signature", "Subject", "Conditions", "AttributeStatement", "AuthnStatement"]);
    // Several trusted certificates: any one may match.
    verify_enveloped(&root, &root, &[other_cert(), idp_cert()]).unwrap();
}

#[test]
fn sign_in_tree_verify_in_tree() {
    let mut el = Element::new(Some("samlp"), "LogoutResponse", Some(NS_PROTOCOL))
        .with_attr("ID", "_x1")
        .with_child(Element::new(Some("saml"), "Issuer", Some(NS_ASSERTION)).with_text("me"));
    sign_enveloped(&mut el, "_x1", &idp_key().0, 1).unwrap();
    verify_enveloped(&el, &el, &[idp_cert()]).unwrap();
    // Wrong id, position past the end, already signed.
    let mut e2 = el.clone();
    assert_kind(sign_enveloped(&mut e2, "_x1", &idp_key().0, 0), SamlErrorKind::Malformed);
    let mut e3 = Element::new(None, "a", None).with_attr("ID", "_a");
    assert_kind(sign_enveloped(&mut e3, "_b", &idp_key().0, 0), SamlErrorKind::Malformed);
    assert_kind(sign_enveloped(&mut e3, "_a", &idp_key().0, 5), SamlErrorKind::Malformed);
    // An EC key cannot make rsa-sha256 signatures.
    let (ec, _) = SigningKey::generate(Alg::ES256, "ec", NOT_BEFORE, NOT_AFTER).unwrap();
    assert!(sign_enveloped(&mut e3, "_a", &ec, 0).is_err());
}

#[test]
fn tampering_breaks_the_digest() {
    for sign in [SignWhat::Assertion, SignWhat::Both] {
        let xml = signed_response(sign);
        let tampered = xml.replacen("alice@contoso.example</saml:NameID>", "alicf@contoso.example</saml:NameID>", 1);
        assert_ne!(tampered, xml);
        assert_kind(verify_assertion(&tampered), SamlErrorKind::Signature);
    }
    let xml = signed_response(SignWhat::Response);
    for (from, to) in [
        ("alice@contoso.example</saml:NameID>", "alice@contoso.exampl</saml:NameID>"),
        ("<saml:AttributeValue>g1<", "<saml:AttributeValue>g0<"),
        (r#"Version="2.0""#, r#"Version="2.0" Extra="1""#),
        ("</samlp:Response>", "<saml:Assertion ID=\"_evil\"/></samlp:Response>"),
    ] {
        let t = xml.replacen(from, to, 1);
        assert_ne!(t, xml, "{from}");
        assert_kind(verify_response(&t), SamlErrorKind::Signature);
    }
    // Tampered SignedInfo (the digest itself) and SignatureValue.
    let r = doc(&xml);
    let sig = r.child(NS_DSIG, "Signature").unwrap();
    let dv = sig.descendants().into_iter().find(|e| e.local == "DigestValue").unwrap().text();
    let mut dv_bytes = dv.into_bytes();
    dv_bytes[3] = if dv_bytes[3] == b'A' { b'B' } else { b'A' };
    let t = xml.replacen(&doc_text(&xml, "DigestValue"), std::str::from_utf8(&dv_bytes).unwrap(), 1);
    assert_kind(verify_response(&t), SamlErrorKind::Signature);
    let sv = doc_text(&xml, "SignatureValue");
    let t = xml.replacen(&sv, &format!("{}A{}", &sv[..10], &sv[11..]), 1);
    if t != xml {
        assert_kind(verify_response(&t), SamlErrorKind::Signature);
    }
    let t = xml.replacen(&sv, "!!!", 1);
    assert_kind(verify_response(&t), SamlErrorKind::Signature);
}

fn doc_text(xml: &str, local: &str) -> String {
    doc(xml).descendants().into_iter().find(|e| e.local == local).unwrap().text()
}

#[test]
fn comment_in_name_id_does_not_truncate() {
    // CVE-2017-11427 family: a comment splits the NameID text; c14n drops the comment, so the
    // signature still verifies, and the value read must be the whole text.
    let mut spec = response_spec();
    spec.assertion.as_mut().unwrap().subject.value = "alice@contoso.example.evil.example".into();
    let xml = crate::response::build_response(&spec, &idp_key().0, SignWhat::Assertion).unwrap();
    let with_comment = xml.replacen("alice@contoso.example.evil", "alice@contoso.example<!---->.evil", 1);
    assert_ne!(with_comment, xml);
    verify_assertion(&with_comment).unwrap();
    let r = doc(&with_comment);
    let name_id = assertion(&r).child(NS_ASSERTION, "Subject").unwrap().child(NS_ASSERTION, "NameID").unwrap();
    assert_eq!(name_id.text(), "alice@contoso.example.evil.example");
}

#[test]
fn signature_moved_to_another_element() {
    // A Response-level signature pasted into the Assertion: the Reference points elsewhere.
    let xml = signed_response(SignWhat::Response);
    let mut r = doc(&xml);
    let sig = take_signature(&mut r);
    let a = assertion_mut(&mut r);
    a.children.insert(1, Node::Element(sig));
    assert_kind(verify_enveloped(&r, assertion(&r), &[idp_cert()]), SamlErrorKind::Signature);
    assert_kind(verify_enveloped(&r, &r, &[idp_cert()]), SamlErrorKind::Signature);

    // An Assertion signature lifted to the Response.
    let xml = signed_response(SignWhat::Assertion);
    let mut r = doc(&xml);
    let sig = take_signature(assertion_mut(&mut r));
    r.children.insert(1, Node::Element(sig));
    assert_kind(verify_enveloped(&r, &r, &[idp_cert()]), SamlErrorKind::Signature);

    // The signature nested deeper than a direct child does not count.
    let xml = signed_response(SignWhat::Assertion);
    let mut r = doc(&xml);
    let a = assertion_mut(&mut r);
    let sig = take_signature(a);
    a.children.push(Node::Element(Element::new(Some("saml"), "Advice", Some(NS_ASSERTION)).with_child(sig)));
    assert_kind(verify_enveloped(&r, assertion(&r), &[idp_cert()]), SamlErrorKind::Signature);
}

fn assertion_mut(r: &mut Element) -> &mut Element {
    r.children
        .iter_mut()
        .find_map(|n| match n {
            Node::Element(e) if e.is(NS_ASSERTION, "Assertion") => Some(e),
            _ => None,
        })
        .unwrap()
}

fn take_signature(el: &mut Element) -> Element {
    let i = el.children.iter().position(|n| matches!(n, Node::Element(e) if e.is(NS_DSIG, "Signature"))).unwrap();
    match el.children.remove(i) {
        Node::Element(e) => e,
        Node::Text(_) => unreachable!(),
    }
}

fn evil_copy(a: &Element) -> Element {
    let mut evil = a.clone();
    for e in evil.children.iter_mut() {
        if let Node::Element(s) = e
            && s.is(NS_ASSERTION, "Subject")
        {
            for n in s.children.iter_mut() {
                if let Node::Element(id) = n
                    && id.local == "NameID"
                {
                    id.children = vec![Node::Text("admin@contoso.example".into())];
                }
            }
        }
    }
    evil
}

#[test]
fn wrapping_duplicate_id() {
    let xml = signed_response(SignWhat::Assertion);
    let mut r = doc(&xml);
    let genuine = assertion(&r).clone();
    let evil = evil_copy(&genuine);
    // Evil assertion first (where a naive SP reads), genuine second.
    let i = r.children.iter().position(|n| matches!(n, Node::Element(e) if e.local == "Assertion")).unwrap();
    r.children.insert(i, Node::Element(evil));
    let evil_ref = assertion(&r);
    assert_eq!(evil_ref.attr("ID"), genuine.attr("ID"));
    assert_kind(verify_enveloped(&r, evil_ref, &[idp_cert()]), SamlErrorKind::Signature);
    let genuine_ref = r.children_named(NS_ASSERTION, "Assertion").nth(1).unwrap();
    // Even the genuine one fails: a document with duplicate IDs is refused outright.
    assert_kind(verify_enveloped(&r, genuine_ref, &[idp_cert()]), SamlErrorKind::Signature);

    // Same ID under a different attribute spelling (`Id`, `xml:id`) counts as a duplicate too.
    for (attr, ns) in [("Id", None), ("id", Some(crate::NS_XML))] {
        let mut r = doc(&xml);
        let id = assertion(&r).attr("ID").unwrap().to_owned();
        let mut extra = Element::new(None, "Extra", None);
        match ns {
            None => extra.set_attr(attr, id),
            Some(ns) => extra = extra.with_ns_attr("xml", attr, ns, id),
        }
        r.children.push(Node::Element(extra));
        assert_kind(verify_enveloped(&r, assertion(&r), &[idp_cert()]), SamlErrorKind::Signature);
    }
}

#[test]
fn wrapping_moved_under_extensions_or_object() {
    let xml = signed_response(SignWhat::Assertion);
    for container in ["Extensions", "Object"] {
        let mut r = doc(&xml);
        let i = r.children.iter().position(|n| matches!(n, Node::Element(e) if e.local == "Assertion")).unwrap();
        let Node::Element(genuine) = r.children.remove(i) else { unreachable!() };
        let mut evil = evil_copy(&genuine);
        // Evil: unsigned, new ID, but carrying a copy of the genuine signature.
        evil.set_attr("ID", "_evil");
        r.children.insert(i, Node::Element(evil));
        let holder = if container == "Extensions" {
            Element::new(Some("samlp"), "Extensions", Some(NS_PROTOCOL)).with_child(genuine)
        } else {
            Element::new(Some("ds"), "Object", Some(NS_DSIG)).with_child(genuine)
        };
        r.children.insert(1, Node::Element(holder));
        let evil_ref = assertion(&r);
        assert_eq!(evil_ref.attr("ID"), Some("_evil"));
        assert_kind(verify_enveloped(&r, evil_ref, &[idp_cert()]), SamlErrorKind::Signature);

        // Evil keeps the genuine ID: duplicate.
        let mut r2 = r.clone();
        assertion_mut(&mut r2).set_attr("ID", "_assert-8d2a91");
        assert_kind(verify_enveloped(&r2, assertion(&r2), &[idp_cert()]), SamlErrorKind::Signature);
    }

    // The genuine assertion tucked inside the evil one's own Signature/Object.
    let mut r = doc(&xml);
    let genuine = assertion(&r).clone();
    let a = assertion_mut(&mut r);
    a.set_attr("ID", "_evil2");
    let sig = a
        .children
        .iter_mut()
        .find_map(|n| match n {
            Node::Element(e) if e.is(NS_DSIG, "Signature") => Some(e),
            _ => None,
        })
        .unwrap();
    sig.push_child(Element::new(Some("ds"), "Object", Some(NS_DSIG)).with_child(genuine));
    assert_kind(verify_enveloped(&r, assertion(&r), &[idp_cert()]), SamlErrorKind::Signature);
}

/// Rewrites the Signature of the signed element (the Response if it is signed, else the
/// Assertion) with `f`, then verifies that element.
fn verify_modified(xml: &str, f: impl Fn(&mut Element)) -> Result<(), SamlError> {
    let mut r = doc(xml);
    let on_root = r.child(NS_DSIG, "Signature").is_some();
    {
        let target: &mut Element = if on_root { &mut r } else { assertion_mut(&mut r) };
        let sig = target
            .children
            .iter_mut()
            .find_map(|n| match n {
                Node::Element(e) if e.is(NS_DSIG, "Signature") => Some(e),
                _ => None,
            })
            .unwrap();
        f(sig);
    }
    if on_root { verify_enveloped(&r, &r, &[idp_cert()]) } else { verify_enveloped(&r, assertion(&r), &[idp_cert()]) }
}

fn find_mut<'a>(el: &'a mut Element, local: &str) -> Option<&'a mut Element> {
    if el.local == local {
        return Some(el);
    }
    for n in el.children.iter_mut() {
        if let Node::Element(c) = n
            && let Some(f) = find_mut(c, local)
        {
            return Some(f);
        }
    }
    None
}

#[test]
fn structural_attacks_on_signed_info() {
    let xml = signed_response(SignWhat::Response);
    // Unmodified passes through the helper.
    verify_modified(&xml, |_| {}).unwrap();
    // Reference URI pointing to another element (the assertion) or empty (whole document).
    for uri in ["#_assert-8d2a91", "", "#", "#_RESP-6E1C2F"] {
        let r = verify_modified(&xml, |s| find_mut(s, "Reference").unwrap().set_attr("URI", uri));
        assert_kind(r, SamlErrorKind::Signature);
    }
    // No URI.
    assert_kind(
        verify_modified(&xml, |s| find_mut(s, "Reference").unwrap().attrs.retain(|a| a.local != "URI")),
        SamlErrorKind::Signature,
    );
    // Two References.
    assert_kind(
        verify_modified(&xml, |s| {
            let si = find_mut(s, "SignedInfo").unwrap();
            let r = si.elements().find(|e| e.local == "Reference").unwrap().clone();
            si.push_child(r);
        }),
        SamlErrorKind::Signature,
    );
    // Two Signatures on the element.
    let mut r = doc(&xml);
    let sig = r.child(NS_DSIG, "Signature").unwrap().clone();
    r.children.insert(2, Node::Element(sig));
    assert_kind(verify_enveloped(&r, &r, &[idp_cert()]), SamlErrorKind::Signature);
    // Extra transforms (XPath, XSLT) or a missing enveloped transform.
    assert_kind(
        verify_modified(&xml, |s| {
            let t = find_mut(s, "Transforms").unwrap();
            t.push_child(
                Element::new(Some("ds"), "Transform", Some(NS_DSIG))
                    .with_attr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116"),
            );
        }),
        SamlErrorKind::Signature,
    );
    assert_kind(
        verify_modified(&xml, |s| {
            let t = find_mut(s, "Transforms").unwrap();
            t.children
                .retain(|n| !matches!(n, Node::Element(e) if e.attr("Algorithm") == Some(crate::dsig::ALG_ENVELOPED)));
        }),
        SamlErrorKind::Signature,
    );
    // A ds:Object inside the Signature.
    assert_kind(
        verify_modified(&xml, |s| s.push_child(Element::new(Some("ds"), "Object", Some(NS_DSIG)))),
        SamlErrorKind::Signature,
    );
    // Text smuggled into SignedInfo.
    assert_kind(verify_modified(&xml, |s| find_mut(s, "SignedInfo").unwrap().push_text("x")), SamlErrorKind::Signature);
}

#[test]
fn weak_or_unknown_algorithms_are_unsupported() {
    let xml = signed_response(SignWhat::Assertion);
    for (el, alg) in [
        ("DigestMethod", crate::dsig::ALG_SHA1),
        ("SignatureMethod", crate::dsig::ALG_RSA_SHA1),
        ("SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
        ("DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5"),
        ("CanonicalizationMethod", crate::c14n::ALG_EXC_C14N_WITH_COMMENTS),
        ("CanonicalizationMethod", "urn:unknown"),
    ] {
        let r = verify_modified(&xml, |s| find_mut(s, el).unwrap().set_attr("Algorithm", alg));
        assert_kind(r, SamlErrorKind::Unsupported);
    }
    // Signing with SHA-1 end to end is refused too (this is what an SP configured for SHA-1 sends).
    let sha1 = xml
        .replace(crate::dsig::ALG_SHA256, crate::dsig::ALG_SHA1)
        .replace(crate::dsig::ALG_RSA_SHA256, crate::dsig::ALG_RSA_SHA1);
    assert_kind(verify_assertion(&sha1), SamlErrorKind::Unsupported);
}

#[test]
fn untrusted_certificates() {
    let xml = signed_response(SignWhat::Response);
    let r = doc(&xml);
    assert_kind(verify_enveloped(&r, &r, &[other_cert()]), SamlErrorKind::Signature);
    assert_kind(verify_enveloped(&r, &r, &[]), SamlErrorKind::Signature);
    // An attacker signs with their own key and ships their certificate in KeyInfo: ignored.
    let forged = crate::response::build_response(&response_spec(), &other_key().0, SignWhat::Response).unwrap();
    let r = doc(&forged);
    assert!(forged.contains(&base64_cert(&other_key().0)));
    assert_kind(verify_enveloped(&r, &r, &[idp_cert()]), SamlErrorKind::Signature);
    // Same attack with the genuine IdP certificate pasted into KeyInfo.
    let pasted = forged.replace(&base64_cert(&other_key().0), &base64_cert(&idp_key().0));
    let r = doc(&pasted);
    assert_kind(verify_enveloped(&r, &r, &[idp_cert()]), SamlErrorKind::Signature);
    // Target outside the document.
    let elsewhere = doc(&xml);
    assert_kind(verify_enveloped(&r, &elsewhere, &[idp_cert()]), SamlErrorKind::Signature);
}

fn base64_cert(k: &SigningKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(k.cert_der())
}

#[test]
fn whitespace_in_base64_values_is_tolerated() {
    let xml = signed_response(SignWhat::Response);
    let sv = doc_text(&xml, "SignatureValue");
    let wrapped: String =
        sv.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n");
    let t = xml.replacen(&sv, &format!("\n{wrapped}\n"), 1);
    verify_response(&t).unwrap();
}

#[test]
fn oversized_prefix_list_is_refused() {
    let xml = signed_response(SignWhat::Response);
    let list: Vec<String> = (0..65).map(|i| format!("p{i}")).collect();
    let r = verify_modified(&xml, |s| {
        let t = find_mut(s, "Transforms").unwrap();
        let exc = t
            .children
            .iter_mut()
            .find_map(|n| match n {
                Node::Element(e) if e.attr("Algorithm") == Some(crate::c14n::ALG_EXC_C14N) => Some(e),
                _ => None,
            })
            .unwrap();
        exc.push_child(
            Element::new(Some("ec"), "InclusiveNamespaces", Some(crate::c14n::ALG_EXC_C14N))
                .with_attr("PrefixList", list.join(" ")),
        );
    });
    let e = r.unwrap_err();
    assert_eq!(e.kind, SamlErrorKind::Signature);
    assert!(e.message.contains("PrefixList"), "{e}");
}
