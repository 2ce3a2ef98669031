//! The one reading of `Authorization: Bearer <token>` (RFC 6750 §2.1): the scheme is matched
//! without regard to case (RFC 7235 §2.1), one or more spaces follow it, and the token is what
//! remains, trimmed. Any other scheme, or an empty token, is no bearer token.

use axum::http::{HeaderMap, header};

/// The bearer token of an `Authorization` header value.
pub fn token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(rest.trim()).filter(|t| !t.is_empty())
}

/// The bearer token of a request, if its `Authorization` header carries one.
pub fn of(headers: &HeaderMap) -> Option<&str> {
    token(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_trimmed() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc  "] {
            assert_eq!(token(v), Some("abc"), "{v:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_bearer_token() {
        for v in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearerabc",
            "",
            "Token abc",
        ] {
            assert_eq!(token(v), None, "{v:?}");
        }
    }
}
