//! Cookies: the one `Set-Cookie` builder and the one reader. Every cookie idbridge sets is
//! `HttpOnly` with `Path=/`, and `Secure` unless `server.insecure_dev_cookies` (local development
//! over plain http); a `__Host-` name also needs that no `Domain` is set.

use axum::http::{HeaderMap, header};

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites (a sign-in redirect back), not on their
    /// subrequests or posts.
    Lax,
    /// Sent on cross-site posts too (a SAML IdP posting back). Needs `Secure`: without it the
    /// attribute is left out and the browser's default (`Lax`) applies.
    None,
}

/// A `Set-Cookie` value; `max_age_secs = 0` clears the cookie. `domain`: empty for a host-only
/// cookie.
/// Whether idbridge's cookies are `Secure` and `__Host-` prefixed: always, unless
/// `server.insecure_dev_cookies` (local development over plain HTTP).
pub fn secure(state: &crate::state::AppState) -> bool {
    !state.settings.server.insecure_dev_cookies
}

pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    same_site: SameSite,
    domain: &str,
    secure: bool,
) -> String {
    let mut c = format!(
        "{name}={value}; Path=/; HttpOnly; Max-Age={}",
        max_age_secs.max(0)
    );
    match (same_site, secure) {
        (SameSite::Lax, _) => c.push_str("; SameSite=Lax"),
        (SameSite::None, true) => c.push_str("; SameSite=None"),
        (SameSite::None, false) => {}
    }
    if secure {
        c.push_str("; Secure");
    }
    if !domain.is_empty() {
        c.push_str("; Domain=");
        c.push_str(domain);
    }
    c
}

/// The value of the cookie `name`, if the request carries one that is not empty and at most
/// 128 bytes (every cookie idbridge sets is shorter).
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_has_every_attribute() {
        let c = set_cookie("__Host-s", "v", 60, SameSite::Lax, "", true);
        for attr in [
            "__Host-s=v",
            "; Path=/",
            "; HttpOnly",
            "; Max-Age=60",
            "; SameSite=Lax",
            "; Secure",
        ] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        let c = set_cookie("s", "", -5, SameSite::Lax, "example.com", false);
        assert!(
            c.contains("; Max-Age=0") && c.contains("; Domain=example.com"),
            "{c}"
        );
        assert!(!c.contains("Secure"), "{c}");
    }

    #[test]
    fn same_site_none_is_only_sent_with_secure() {
        assert!(
            set_cookie("a", "v", 1, SameSite::None, "", true).contains("; SameSite=None; Secure")
        );
        assert!(!set_cookie("a", "v", 1, SameSite::None, "", false).contains("SameSite"));
    }

    #[test]
    fn the_reader_finds_the_named_cookie_only() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; s=token; b=".parse().unwrap());
        h.append(header::COOKIE, "c=3".parse().unwrap());
        assert_eq!(value(&h, "s"), Some("token"));
        assert_eq!(value(&h, "c"), Some("3"));
        assert_eq!(value(&h, "b"), None);
        assert_eq!(value(&h, "x"), None);
        let mut long = HeaderMap::new();
        long.insert(
            header::COOKIE,
            format!("s={}", "x".repeat(129)).parse().unwrap(),
        );
        assert_eq!(value(&long, "s"), None);
    }
}
