//! Fuzz target: `parse_sp_metadata` on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ostiary_saml::metadata::parse_sp_metadata(s);
    }
});
