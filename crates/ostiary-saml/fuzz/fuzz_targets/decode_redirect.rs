//! Fuzz target: `decode_redirect` on an arbitrary query string, then `parse_message` on what it
//! inflated (and the detached-signature check against a fixed certificate).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ostiary_crypto::x509::Certificate;

fn cert() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::from_pem(include_str!("fuzz_cert.pem")).expect("fuzz certificate"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    for param in ["SAMLRequest", "SAMLResponse"] {
        if let Ok(m) = ostiary_saml::binding::decode_redirect(q, param) {
            if let Some(sig) = &m.signature {
                let _ = sig.verify(std::slice::from_ref(cert()));
            }
            let _ = ostiary_saml::request::parse_message(&m.xml);
        }
    }
    let _ = ostiary_saml::binding::decode_post(q);
});
