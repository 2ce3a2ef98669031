//! The same-origin rule of browser writes.

use axum::http::header;

use crate::engine::url::origin_of;
use crate::state::AppState;

/// The one same-origin rule for every browser write that a cookie authorises (the API, the
/// sign-in, sign-out, tenant switch and consent forms), after OWASP's CSRF cheat sheet: Fetch
/// Metadata first (`Sec-Fetch-Site: cross-site` is refused), then `Origin`, which must be
/// idbridge's own (`null`, a sibling subdomain or any other origin is refused). A request with
/// neither header comes from a non-browser client or an old browser, and passes.
pub fn cross_origin(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => false,
        Some(Ok(origin)) => !origin.eq_ignore_ascii_case(origin_of(&state.public_url)),
        Some(Err(_)) => true,
    }
}
