//! Fuzz target: `parse_message` on arbitrary text must return, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ostiary_saml::request::parse_message(s);
    }
});
