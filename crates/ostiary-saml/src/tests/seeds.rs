//! The fuzz seeds double as interop fixtures: the signed messages were made by `xmlsec1 --sign`
//! and the signed Redirect queries by Python + `openssl dgst -sha256 -sign`, all with the key of
//! `fuzz/fuzz_targets/fuzz_cert.pem`. They must keep verifying.

use super::*;
use ostiary_crypto::x509::Certificate;

fn fuzz_cert() -> Certificate {
    Certificate::from_pem(include_str!("../../fuzz/fuzz_targets/fuzz_cert.pem")).unwrap()
}

#[test]
fn xmlsec1_signed_seeds_verify() {
    for xml in [
        include_str!("../../fuzz/seeds/verify_signature/signed0.xml"),
        include_str!("../../fuzz/seeds/verify_signature/signed1.xml"),
        include_str!("../../fuzz/seeds/verify_signature/signed2.xml"),
    ] {
        let m = crate::request::parse_message(xml).unwrap();
        assert!(m.signed);
        m.verify_signature(&[fuzz_cert()]).unwrap();
        assert_kind(m.verify_signature(&[idp_cert()]), SamlErrorKind::Signature);
    }
}

#[test]
fn openssl_signed_redirect_seeds_verify() {
    for (q, param) in [
        (include_str!("../../fuzz/seeds/decode_redirect/q1.txt"), "SAMLRequest"),
        (include_str!("../../fuzz/seeds/decode_redirect/q2.txt"), "SAMLRequest"),
    ] {
        let m = crate::binding::decode_redirect(q.trim(), param).unwrap();
        m.signature.as_ref().unwrap().verify(&[fuzz_cert()]).unwrap();
        crate::request::parse_message(&m.xml).unwrap();
    }
    let m = crate::binding::decode_redirect(include_str!("../../fuzz/seeds/decode_redirect/q3.txt"), "SAMLResponse")
        .unwrap();
    assert_eq!(m.relay_state.as_deref(), Some("rs"));
    assert!(m.signature.is_none());
}

#[test]
fn metadata_seeds_parse() {
    for xml in [
        include_str!("../../fuzz/seeds/parse_sp_metadata/md0.xml"),
        include_str!("../../fuzz/seeds/parse_sp_metadata/md1.xml"),
    ] {
        let md = crate::metadata::parse_sp_metadata(xml).unwrap();
        assert_eq!(md.signing_certs, [fuzz_cert().der]);
        assert_eq!(md.acs.len(), 2);
    }
}
