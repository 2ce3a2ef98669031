//! SCIM filters: any input either parses or errors (no panic, no stack overflow); a parsed
//! filter prints back to text that parses to the same tree; evaluation never panics.
#![no_main]

#[path = "../../src/engine/scim/filter/mod.rs"]
#[allow(dead_code, unused_imports)]
mod filter;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = filter::parse_filter(text) else {
        return;
    };
    let printed = f.to_string();
    let again = filter::parse_filter(&printed).expect("a printed filter parses");
    assert_eq!(f, again, "round trip of {printed}");
    let user = serde_json::json!({
        "id": "1", "userName": "Alice@example.com", "active": true, "externalId": "E1",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "meta": {"lastModified": "2026-11-23T09:40:34.123Z"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7", "manager": {"value": "m"}}
    });
    let _ = filter::matches(&f, &user, &|p| p.is("id") || p.is("externalId"));
});
