//! The browser's session: the one way a page reads "who is signed in here" from the session
//! cookie. A missing, unknown, expired or revoked cookie is "nobody"; the page then shows the
//! sign-in (it never fails the request for it).

use axum::http::HeaderMap;

use crate::auth::principal::Principal;
use crate::state::AppState;

/// Who the session cookie signs in, if anyone.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    use crate::auth::authenticate::{Credential, Scope, verified};
    let cookie = super::cookies::value(headers, &state.cookie_name)?;
    let v = verified(state, Credential::Cookie(cookie), Scope::default())
        .await
        .ok()?;
    Some(v.principal(true))
}
