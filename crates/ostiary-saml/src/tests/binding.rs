//! HTTP-Redirect and HTTP-POST bindings: round trips, the exact signed octets, bombs and garbage.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::binding::{
    MAX_INFLATED, MAX_QUERY, decode_post, decode_redirect, encode_post, encode_redirect, inflate, url_encode,
};
use crate::dsig::ALG_RSA_SHA256;

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, 6)
}

#[test]
fn redirect_round_trip_signed() {
    let key = &idp_key().0;
    let relay = "https://sp.example.com/app?x=1&y=ä ö";
    let q = encode_redirect(AUTHN_REQUEST, "SAMLRequest", Some(relay), Some(key)).unwrap();
    assert!(q.starts_with("SAMLRequest="));
    assert!(q.contains("&RelayState="));
    assert!(q.contains("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="));
    let m = decode_redirect(&q, "SAMLRequest").unwrap();
    assert_eq!(m.xml, AUTHN_REQUEST);
    assert_eq!(m.relay_state.as_deref(), Some(relay));
    let sig = m.signature.unwrap();
    assert_eq!(sig.sig_alg, ALG_RSA_SHA256);
    assert_eq!(sig.signed_octets, q.rsplit_once("&Signature=").unwrap().0);
    sig.verify(&[idp_cert()]).unwrap();
    sig.verify(&[other_cert(), idp_cert()]).unwrap();
    assert_kind(sig.verify(&[other_cert()]), SamlErrorKind::Signature);
    assert_kind(sig.verify(&[]), SamlErrorKind::Signature);
    // A leading '?' is tolerated.
    assert!(decode_redirect(&format!("?{q}"), "SAMLRequest").is_ok());

    // Unsigned, without RelayState, as a response.
    let q = encode_redirect("<x/>", "SAMLResponse", None, None).unwrap();
    let m = decode_redirect(&q, "SAMLResponse").unwrap();
    assert_eq!((m.xml.as_str(), m.relay_state, m.signature), ("<x/>", None, None));
    assert_kind(decode_redirect(&q, "SAMLRequest"), SamlErrorKind::Malformed);
    assert_kind(encode_redirect("<x/>", "Other", None, None), SamlErrorKind::Malformed);
}

#[test]
fn signed_octets_use_the_received_encoding() {
    // The SP's encoder differs from ours (lowercase hex, '+' kept as %2B vs. unreserved '~' etc.):
    // the signature covers its octets, and we must rebuild exactly those.
    let key = &idp_key().0;
    let msg = STANDARD.encode(deflate(AUTHN_REQUEST.as_bytes()));
    let lower = |s: &str| {
        // Percent-encode with lowercase hex, leaving '/' encoded as %2f.
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        out
    };
    let relay = "state/with spaces+plus";
    let signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        lower(&msg),
        relay.replace(' ', "+").replace('/', "%2F").replacen("+plus", "%2Bplus", 1),
        lower(ALG_RSA_SHA256)
    );
    let sig = key.sign_rsa_sha256(signed.as_bytes()).unwrap();
    // Parameters in a different order on the wire, plus an unrelated one.
    let q = format!(
        "SigAlg={}&foo=bar&Signature={}&RelayState={}&SAMLRequest={}",
        lower(ALG_RSA_SHA256),
        lower(&STANDARD.encode(&sig)),
        relay.replace(' ', "+").replace('/', "%2F").replacen("+plus", "%2Bplus", 1),
        lower(&msg)
    );
    let m = decode_redirect(&q, "SAMLRequest").unwrap();
    assert_eq!(m.relay_state.as_deref(), Some(relay));
    let s = m.signature.unwrap();
    assert_eq!(s.signed_octets, signed);
    s.verify(&[idp_cert()]).unwrap();
    // Re-encoding (our uppercase encoder) would not match: the octets are not normalized.
    let reencoded = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        url_encode(&msg),
        url_encode(relay),
        url_encode(ALG_RSA_SHA256)
    );
    assert_ne!(reencoded, signed);
    assert!(idp_cert().public_key.verify(Alg::RS256, reencoded.as_bytes(), &sig).is_err());
    // Tampering with RelayState breaks the signature.
    let evil = q.replace("RelayState=state", "RelayState=evil");
    let s = decode_redirect(&evil, "SAMLRequest").unwrap().signature.unwrap();
    assert_kind(s.verify(&[idp_cert()]), SamlErrorKind::Signature);
    // Dropping RelayState too.
    let (before, after) = q.split_once("&RelayState=").unwrap();
    let without = format!("{before}&{}", after.split_once('&').unwrap().1);
    let s = decode_redirect(&without, "SAMLRequest").unwrap().signature.unwrap();
    assert_kind(s.verify(&[idp_cert()]), SamlErrorKind::Signature);
    // An unencoded '+' in base64 (sent raw by sloppy SPs) still decodes.
    let raw_plus = format!("SAMLRequest={}", msg.replace('/', "%2F").replace('=', "%3D"));
    assert_eq!(decode_redirect(&raw_plus, "SAMLRequest").unwrap().xml, AUTHN_REQUEST);
}

use ostiary_crypto::jws::Alg;

#[test]
fn weak_sig_alg_is_unsupported() {
    let key = &idp_key().0;
    let q = encode_redirect(AUTHN_REQUEST, "SAMLRequest", None, Some(key)).unwrap();
    let sha1 = q.replace(&url_encode(ALG_RSA_SHA256), &url_encode(crate::dsig::ALG_RSA_SHA1));
    let s = decode_redirect(&sha1, "SAMLRequest").unwrap().signature.unwrap();
    assert_kind(s.verify(&[idp_cert()]), SamlErrorKind::Unsupported);
    let other = q.replace(&url_encode(ALG_RSA_SHA256), "urn%3Anone");
    let s = decode_redirect(&other, "SAMLRequest").unwrap().signature.unwrap();
    assert_kind(s.verify(&[idp_cert()]), SamlErrorKind::Unsupported);
}

#[test]
fn deflate_bomb_is_too_large_and_quick() {
    // DEFLATE tops out near 1032:1, so 50 MiB of zeros is ~50 KB: over the query limit once
    // base64-encoded, so inflate() is tested directly and a 30 MiB bomb goes through the query.
    let bomb = deflate(&vec![0u8; 50 * 1024 * 1024]);
    let start = std::time::Instant::now();
    assert_kind(inflate(&bomb), SamlErrorKind::TooLarge);
    let q = format!("SAMLRequest={}", url_encode(&STANDARD.encode(&bomb)));
    assert_kind(decode_redirect(&q, "SAMLRequest"), SamlErrorKind::TooLarge);
    let bomb = deflate(&vec![0u8; 30 * 1024 * 1024]);
    let q = format!("SAMLRequest={}", url_encode(&STANDARD.encode(&bomb)));
    assert!(q.len() < MAX_QUERY, "{}", q.len());
    let e = decode_redirect(&q, "SAMLRequest").unwrap_err();
    assert_eq!(e.kind, SamlErrorKind::TooLarge);
    assert!(e.message.contains("inflated"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // Exactly at the limit is fine, one byte over is not.
    assert_eq!(inflate(&deflate(&vec![b'a'; MAX_INFLATED])).unwrap().len(), MAX_INFLATED);
    assert_kind(inflate(&deflate(&vec![b'a'; MAX_INFLATED + 1])), SamlErrorKind::TooLarge);
}

#[test]
fn garbage_is_malformed() {
    use SamlErrorKind::Malformed;
    let good = STANDARD.encode(deflate(b"<x/>"));
    for q in [
        String::new(),
        "SAMLRequest".to_owned(),
        "SAMLRequest=".to_owned(),
        "SAMLRequest=%%%".to_owned(),
        "SAMLRequest=%zz".to_owned(),
        "SAMLRequest=%4".to_owned(),
        "SAMLRequest=!!!!".to_owned(),
        format!("SAMLRequest={}", STANDARD.encode(b"not deflate at all, just text")),
        format!("SAMLRequest={}", STANDARD.encode(deflate(&[0xff, 0xfe, 0x00]))),
        // zlib-wrapped instead of raw DEFLATE.
        format!("SAMLRequest={}", url_encode(&STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(b"<x/>", 6)))),
        format!("SAMLRequest={good}&SAMLRequest={good}"),
        format!("SAMLRequest={good}&SAMLResponse={good}"),
        format!("SAMLRequest={good}&RelayState=a&RelayState=b"),
        format!("SAMLRequest={good}&SigAlg=x"),
        format!("SAMLRequest={good}&Signature=AAAA"),
        format!("SAMLRequest={good}&SigAlg=x&Signature=%%"),
        format!("SAMLRequest={good}&RelayState=%ff%fe"),
        format!("SAMLRequest={good}&%ff=1"),
    ] {
        let r = decode_redirect(&q, "SAMLRequest");
        assert!(matches!(&r, Err(e) if e.kind == Malformed), "{q}: {r:?}");
    }
    assert_kind(decode_redirect(&format!("SAMLRequest={good}"), "RelayState"), Malformed);
}

#[test]
fn oversized_inputs_are_too_large() {
    let q = format!("SAMLRequest={}", "A".repeat(MAX_QUERY));
    assert_kind(decode_redirect(&q, "SAMLRequest"), SamlErrorKind::TooLarge);
    assert_kind(decode_post(&"A".repeat(crate::binding::MAX_POST_B64 + 1)), SamlErrorKind::TooLarge);
    // Decodes to just over 256 KiB.
    let big = STANDARD.encode(vec![b'a'; crate::binding::MAX_POST_XML + 3]);
    assert_kind(decode_post(&big), SamlErrorKind::TooLarge);
}

#[test]
fn post_round_trip() {
    let b64 = encode_post(AUTHN_REQUEST);
    assert!(!b64.contains('\n'));
    assert_eq!(decode_post(&b64).unwrap(), AUTHN_REQUEST);
    // Line-wrapped (76 columns, CRLF) and unpadded input from SPs.
    let wrapped: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    assert_eq!(decode_post(&wrapped.join("\r\n")).unwrap(), AUTHN_REQUEST);
    let short = encode_post("<a/>1");
    assert!(short.ends_with('='));
    assert_eq!(decode_post(short.trim_end_matches('=')).unwrap(), "<a/>1");
    assert_kind(decode_post("!!!"), SamlErrorKind::Malformed);
    assert_kind(decode_post(&STANDARD.encode([0xff, 0xfe])), SamlErrorKind::Malformed);
}
