//! Enveloped XML Signatures as SAML uses them: RSA-SHA256 over exclusively canonicalized
//! SignedInfo, one SHA-256 Reference to the signed element by ID with the enveloped-signature and
//! exc-c14n transforms.
//!
//! Verification is deliberately narrow, because XML signature wrapping lives in the gap between
//! "some signature in the document is valid" and "the element I am about to trust is signed".
//! [`verify_enveloped`] answers only the second question: the signature must be a direct child of
//! the element, reference exactly that element through an ID that is unique in the whole
//! document, use exactly the expected transforms, and verify under one of the caller's
//! certificates (KeyInfo in the message is never trusted).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ostiary_crypto::digest::{ct_eq, sha256};
use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_crypto::x509::Certificate;

use crate::NS_DSIG;
use crate::c14n::{
    ALG_C14N10, ALG_C14N10_WITH_COMMENTS, ALG_EXC_C14N, ALG_EXC_C14N_WITH_COMMENTS, exclusive_c14n,
    exclusive_c14n_in_context, inclusive_c14n_in_context, inherited_xml_attrs, parse_prefix_list,
};
use crate::error::{SamlError, clip};
use crate::xml::{self, Element, Node};

pub const ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const ALG_RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const ALG_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const ALG_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Most prefixes accepted in an InclusiveNamespaces PrefixList.
pub const MAX_INCLUSIVE_PREFIXES: usize = 64;

fn ds(local: &str) -> Element {
    Element::new(Some("ds"), local, Some(NS_DSIG))
}

/// Signs `el` (whose `ID` attribute must equal `id`) with an enveloped signature inserted as
/// child node number `insert_at` (SAML wants it right after `Issuer`, i.e. 1 in trees we build).
pub fn sign_enveloped(el: &mut Element, id: &str, key: &SigningKey, insert_at: usize) -> Result<(), SamlError> {
    if el.attr("ID") != Some(id) {
        return Err(SamlError::malformed("the element to sign must carry ID equal to the reference id"));
    }
    if insert_at > el.children.len() {
        return Err(SamlError::malformed("signature position is past the element's children"));
    }
    if el.elements().any(|c| c.is(NS_DSIG, "Signature")) {
        return Err(SamlError::malformed("the element is already signed"));
    }
    let digest = sha256(exclusive_c14n(el, &[], None).as_bytes());

    let transforms = ds("Transforms")
        .with_child(ds("Transform").with_attr("Algorithm", ALG_ENVELOPED))
        .with_child(ds("Transform").with_attr("Algorithm", ALG_EXC_C14N));
    let reference = ds("Reference")
        .with_attr("URI", format!("#{id}"))
        .with_child(transforms)
        .with_child(ds("DigestMethod").with_attr("Algorithm", ALG_SHA256))
        .with_child(ds("DigestValue").with_text(STANDARD.encode(digest)));
    let signed_info = ds("SignedInfo")
        .with_child(ds("CanonicalizationMethod").with_attr("Algorithm", ALG_EXC_C14N))
        .with_child(ds("SignatureMethod").with_attr("Algorithm", ALG_RSA_SHA256))
        .with_child(reference);
    // Exclusive c14n of SignedInfo depends only on names used inside it, so computing it before
    // the Signature is placed gives the same octets as computing it in place.
    let signature_value = key
        .sign_rsa_sha256(exclusive_c14n(&signed_info, &[], None).as_bytes())
        .map_err(|e| SamlError::signature(format!("signing failed: {e}")))?;
    let signature =
        ds("Signature")
            .with_ns_decl(Some("ds"), NS_DSIG)
            .with_child(signed_info)
            .with_child(ds("SignatureValue").with_text(STANDARD.encode(signature_value)))
            .with_child(ds("KeyInfo").with_child(
                ds("X509Data").with_child(ds("X509Certificate").with_text(STANDARD.encode(key.cert_der()))),
            ));
    el.children.insert(insert_at, Node::Element(signature));
    Ok(())
}

/// The element children of `el`, refusing non-whitespace text between them (there is none in a
/// well-formed signature, and tolerating it would only widen what we accept).
fn element_children<'a>(el: &'a Element, what: &str) -> Result<Vec<&'a Element>, SamlError> {
    if el.has_non_whitespace_text() {
        return Err(SamlError::signature(format!("unexpected text in {what}")));
    }
    Ok(el.elements().collect())
}

fn algorithm<'a>(el: &'a Element, what: &str) -> Result<&'a str, SamlError> {
    el.attr("Algorithm").ok_or_else(|| SamlError::signature(format!("{what} has no Algorithm")))
}

fn decode_b64(text: &str, what: &str) -> Result<Vec<u8>, SamlError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact.as_bytes()).map_err(|_| SamlError::signature(format!("{what} is not base64")))
}

/// An InclusiveNamespaces PrefixList carried by a c14n algorithm element, if any.
fn inclusive_prefixes(method: &Element) -> Result<Vec<String>, SamlError> {
    let mut list = Vec::new();
    for c in element_children(method, "a transform")? {
        if c.is(ALG_EXC_C14N, "InclusiveNamespaces") {
            list.extend(parse_prefix_list(c.attr("PrefixList").unwrap_or_default()));
        } else {
            return Err(SamlError::signature("unexpected element in a c14n transform"));
        }
    }
    // Real lists name a handful of prefixes; a huge one would only multiply c14n work.
    if list.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(SamlError::signature("InclusiveNamespaces PrefixList is too long"));
    }
    Ok(list)
}

/// Counts elements in the subtree carrying an ID-like attribute (`ID`, `Id`, `id`, `xml:id`)
/// with value `id`. Different libraries treat different attributes as IDs; counting them all
/// leaves no second element a resolver could pick.
fn count_id(root: &Element, id: &str) -> usize {
    root.descendants()
        .into_iter()
        .filter(|e| {
            e.attrs.iter().any(|a| {
                a.value == id
                    && match a.ns.as_deref() {
                        None => matches!(a.local.as_str(), "ID" | "Id" | "id"),
                        Some(ns) => ns == crate::NS_XML && a.local == "id",
                    }
            })
        })
        .count()
}

/// Verifies that `target`, an element of the document rooted at `doc_root`, carries a valid
/// enveloped signature bound to itself, made by one of `certs` (compared by public key).
///
/// Algorithm errors (SHA-1, RSA-SHA1, c14n with comments, anything unknown) are `Unsupported`;
/// every other failure is `Signature`.
pub fn verify_enveloped(doc_root: &Element, target: &Element, certs: &[Certificate]) -> Result<(), SamlError> {
    let target_path = xml::ancestors(doc_root, target)
        .ok_or_else(|| SamlError::signature("the signed element is not part of the document"))?;
    let id = target.attr("ID").ok_or_else(|| SamlError::signature("the signed element has no ID"))?;
    if id.is_empty() || count_id(doc_root, id) != 1 {
        return Err(SamlError::signature("the signed element's ID is not unique in the document"));
    }

    let sigs: Vec<&Element> = target.children_named(NS_DSIG, "Signature").collect();
    let signature = match sigs.as_slice() {
        [] => return Err(SamlError::signature("the element is not signed")),
        [s] => *s,
        _ => return Err(SamlError::signature("more than one Signature on the element")),
    };
    let parts = element_children(signature, "Signature")?;
    let (signed_info, signature_value, rest) = match parts.as_slice() {
        [si, sv, rest @ ..] if si.is(NS_DSIG, "SignedInfo") && sv.is(NS_DSIG, "SignatureValue") => (*si, *sv, rest),
        _ => return Err(SamlError::signature("Signature must hold SignedInfo then SignatureValue")),
    };
    match rest {
        [] => {}
        [k] if k.is(NS_DSIG, "KeyInfo") => {}
        // ds:Object and friends are a classic hiding place for wrapped content.
        _ => return Err(SamlError::signature("unexpected content in Signature")),
    }

    let si = element_children(signed_info, "SignedInfo")?;
    let (c14n_method, sig_method, reference) = match si.as_slice() {
        [c, s, r]
            if c.is(NS_DSIG, "CanonicalizationMethod")
                && s.is(NS_DSIG, "SignatureMethod")
                && r.is(NS_DSIG, "Reference") =>
        {
            (*c, *s, *r)
        }
        _ => {
            return Err(SamlError::signature(
                "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
            ));
        }
    };
    match algorithm(sig_method, "SignatureMethod")? {
        ALG_RSA_SHA256 => {}
        ALG_RSA_SHA1 => return Err(SamlError::unsupported("rsa-sha1 signatures are not accepted")),
        other => return Err(SamlError::unsupported(format!("signature algorithm {:?}", clip(other)))),
    }
    if !element_children(sig_method, "SignatureMethod")?.is_empty() {
        return Err(SamlError::signature("unexpected content in SignatureMethod"));
    }
    let si_c14n = algorithm(c14n_method, "CanonicalizationMethod")?;
    let si_exclusive = match si_c14n {
        ALG_EXC_C14N => true,
        ALG_C14N10 => false,
        ALG_EXC_C14N_WITH_COMMENTS | ALG_C14N10_WITH_COMMENTS => {
            return Err(SamlError::unsupported("canonicalization with comments is not accepted"));
        }
        other => return Err(SamlError::unsupported(format!("canonicalization {:?}", clip(other)))),
    };
    let si_prefixes = inclusive_prefixes(c14n_method)?;
    if !si_exclusive && !si_prefixes.is_empty() {
        return Err(SamlError::signature("InclusiveNamespaces only applies to exclusive c14n"));
    }

    // The Reference must point at the target by its (unique) ID.
    if reference.attr("URI") != Some(&format!("#{id}")) {
        return Err(SamlError::signature("the Reference does not point at the signed element"));
    }
    let rparts = element_children(reference, "Reference")?;
    let (transforms, digest_method, digest_value) = match rparts.as_slice() {
        [t, m, v] if t.is(NS_DSIG, "Transforms") && m.is(NS_DSIG, "DigestMethod") && v.is(NS_DSIG, "DigestValue") => {
            (*t, *m, *v)
        }
        _ => return Err(SamlError::signature("Reference must hold Transforms, DigestMethod and DigestValue")),
    };
    let tlist = element_children(transforms, "Transforms")?;
    if tlist.iter().any(|t| !t.is(NS_DSIG, "Transform")) {
        return Err(SamlError::signature("unexpected element in Transforms"));
    }
    // Some(prefixes): exclusive c14n of the reference; None: only enveloped-signature, after
    // which XML-DSig canonicalizes the node-set with inclusive c14n 1.0.
    let ref_c14n: Option<Vec<String>> = match tlist.as_slice() {
        [env] => {
            check_enveloped(env)?;
            None
        }
        [env, c] => {
            check_enveloped(env)?;
            match algorithm(c, "Transform")? {
                ALG_EXC_C14N => Some(inclusive_prefixes(c)?),
                ALG_EXC_C14N_WITH_COMMENTS | ALG_C14N10_WITH_COMMENTS => {
                    return Err(SamlError::unsupported("canonicalization with comments is not accepted"));
                }
                other => return Err(SamlError::unsupported(format!("transform {:?}", clip(other)))),
            }
        }
        _ => {
            return Err(SamlError::signature("transforms must be enveloped-signature followed by exclusive c14n"));
        }
    };
    match algorithm(digest_method, "DigestMethod")? {
        ALG_SHA256 => {}
        ALG_SHA1 => return Err(SamlError::unsupported("SHA-1 digests are not accepted")),
        other => return Err(SamlError::unsupported(format!("digest algorithm {:?}", clip(other)))),
    }
    if !element_children(digest_method, "DigestMethod")?.is_empty()
        || digest_value.elements().next().is_some()
        || signature_value.elements().next().is_some()
    {
        return Err(SamlError::signature("unexpected element content in a signature value"));
    }
    let expected_digest = decode_b64(&digest_value.text(), "DigestValue")?;
    let signature_bytes = decode_b64(&signature_value.text(), "SignatureValue")?;

    // 1. The digest over the target without its Signature.
    let exclude = |e: &Element| std::ptr::eq(e, signature);
    let target_inherited = xml::in_scope_decls(&target_path);
    let canonical = match &ref_c14n {
        Some(prefixes) => exclusive_c14n_in_context(target, &target_inherited, prefixes, Some(&exclude)),
        None => {
            inclusive_c14n_in_context(target, &target_inherited, &inherited_xml_attrs(&target_path), Some(&exclude))
        }
    };
    if !ct_eq(&sha256(canonical.as_bytes()), &expected_digest) {
        return Err(SamlError::signature("digest mismatch: the signed element was modified"));
    }

    // 2. The signature over SignedInfo, canonicalized in its place in the document.
    let mut si_path = target_path.clone();
    si_path.push(target);
    si_path.push(signature);
    let si_inherited = xml::in_scope_decls(&si_path);
    let si_bytes = if si_exclusive {
        exclusive_c14n_in_context(signed_info, &si_inherited, &si_prefixes, None)
    } else {
        inclusive_c14n_in_context(signed_info, &si_inherited, &inherited_xml_attrs(&si_path), None)
    };
    if certs.is_empty() {
        return Err(SamlError::signature("no certificate is trusted for this signature"));
    }
    for cert in certs {
        if cert.public_key.verify(Alg::RS256, si_bytes.as_bytes(), &signature_bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SamlError::signature("the signature does not verify with any trusted certificate"))
}

fn check_enveloped(t: &Element) -> Result<(), SamlError> {
    if algorithm(t, "Transform")? != ALG_ENVELOPED || !element_children(t, "Transform")?.is_empty() {
        return Err(SamlError::signature("the first transform must be enveloped-signature"));
    }
    Ok(())
}
