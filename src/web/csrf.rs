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

/// The anti-forgery token of a browser session: an HMAC of the session cookie under the master
/// key (nothing to store, the same on every replica, and useless without the cookie it is bound
/// to). Pages carry it in a `<meta name="csrf-token">` tag and in each form's `_csrf` field.
pub fn token(key: &crate::crypto::MasterKey, session_cookie: &str) -> String {
    let tag = key.derive(&format!("idbridge csrf v1:{session_cookie}"));
    crate::crypto::b64url(&tag[..24])
}

/// The one rule of a write that a session cookie authorises: it comes from idbridge's own
/// origin (see [`cross_origin`]) and presents the session's token (the `_csrf` form field or
/// the `x-csrf-token` header). `true`: refuse the request.
pub fn refused(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    session_cookie: &str,
    presented: Option<&str>,
) -> bool {
    if cross_origin(state, headers) {
        return true;
    }
    let expected = token(&state.master_key, session_cookie);
    !presented.is_some_and(|p| crate::crypto::ct_eq(p.as_bytes(), expected.as_bytes()))
}

/// The token a script sends with a cookie-authorised API write.
pub const HEADER: &str = "x-csrf-token";

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_is_bound_to_the_session_and_the_key() {
        let a = crate::crypto::MasterKey::generate();
        let b = crate::crypto::MasterKey::generate();
        let t = super::token;
        assert_ne!(t(&a, "s1"), t(&a, "s2"));
        assert_ne!(t(&a, "s1"), t(&b, "s1"));
        assert_eq!(t(&a, "s1"), t(&a, "s1"));
        assert_eq!(t(&a, "s1").len(), 32);
    }
}
