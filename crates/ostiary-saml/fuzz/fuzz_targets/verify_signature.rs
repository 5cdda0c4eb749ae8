//! Fuzz target: parse a message and verify its enveloped signature (and, for a Response-shaped
//! document, every element carrying an ID) against a fixed certificate. The seeds are signed
//! with that certificate's key, so mutations reach digest and signature checking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ostiary_crypto::x509::Certificate;
use ostiary_saml::xml::{Limits, parse};

fn cert() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::from_pem(include_str!("fuzz_cert.pem")).expect("fuzz certificate"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let certs = std::slice::from_ref(cert());
    if let Ok(m) = ostiary_saml::request::parse_message(s) {
        let _ = m.verify_signature(certs);
    }
    if let Ok(doc) = parse(s, &Limits::default()) {
        for el in doc.root.descendants() {
            if el.attr("ID").is_some() {
                let _ = ostiary_saml::dsig::verify_enveloped(&doc.root, el, certs);
            }
        }
    }
});
