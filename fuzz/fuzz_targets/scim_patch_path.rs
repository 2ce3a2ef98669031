//! SCIM PATCH paths: any input either parses or errors, without panicking.
#![no_main]

#[path = "../../src/engine/scim/filter/mod.rs"]
#[allow(dead_code, unused_imports)]
mod filter;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = filter::parse_patch_path(text);
    }
});
