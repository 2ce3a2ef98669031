//! The browser's session: the one way a page reads "who is signed in here" from the session
//! cookie ([`signed_in`], [`Browser`]), and the one extractor of a form a signed-in browser
//! posts ([`BrowserForm`]: the session, then the same-origin and token rule of
//! [`super::csrf::refused`], then the fields). A missing, unknown, expired or revoked cookie is
//! "nobody": a page then sends the browser to the sign-in (it never fails the request for it).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::auth::principal::Principal;
use crate::state::AppState;

/// Who the session cookie signs in, if anyone.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let cookie = super::cookies::value(headers, &state.cookie_name)?;
    principal_of(state, cookie).await
}

/// The anti-forgery token of the browser's session cookie (empty without one), for a page's
/// forms.
pub fn csrf_of(state: &AppState, headers: &HeaderMap) -> String {
    super::cookies::value(headers, &state.cookie_name)
        .map(|c| super::csrf::token(&state.master_key, c))
        .unwrap_or_default()
}

/// The hidden field that carries [`csrf_of`] in a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"_csrf\" value=\"{}\">",
        crate::engine::markup::escape(token)
    )
}

async fn principal_of(state: &AppState, cookie: &str) -> Option<Principal> {
    use crate::auth::authenticate::{Credential, Scope, verified};
    let v = verified(state, Credential::Cookie(cookie), Scope::default())
        .await
        .ok()?;
    Some(v.principal(true))
}

/// A signed-in browser: its principal (the same one the API sees for this cookie, so every
/// service check applies unchanged) and the anti-forgery token its pages carry. Without a
/// session the request is answered with a redirect to the sign-in, back to this page after.
pub struct Browser {
    pub principal: Principal,
    pub csrf: String,
    cookie: String,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let cookie = super::cookies::value(&parts.headers, &state.cookie_name);
        let principal = match cookie {
            Some(c) => principal_of(state, c).await,
            None => None,
        };
        match (principal, cookie) {
            (Some(principal), Some(cookie)) => Ok(Browser {
                principal,
                csrf: super::csrf::token(&state.master_key, cookie),
                cookie: cookie.to_string(),
            }),
            _ => {
                let back = if parts.method == axum::http::Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/console")
                } else {
                    "/console"
                };
                Err(super::html::redirect(&format!(
                    "/login?rd={}",
                    crate::engine::url::url_encode(back)
                )))
            }
        }
    }
}

/// A form posted by a signed-in browser, after the one browser-write rule: `T` is read from the
/// same `application/x-www-form-urlencoded` body as the `_csrf` field (so `T` must not deny
/// unknown fields). Refusals are pages: 403 for a forged or cross-site post, 400 for a body
/// that does not parse.
pub struct BrowserForm<T> {
    pub browser: Browser,
    pub form: T,
}

/// A form with no fields of its own (only `_csrf`).
#[derive(serde::Deserialize)]
pub struct NoFields {}

#[derive(serde::Deserialize)]
struct Token {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for BrowserForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let limit = state.settings.server.body_limit_bytes;
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            super::html::page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "<p class=\"err\">The form is larger than this server accepts.</p>",
            )
        })?;
        let token: Token = serde_urlencoded::from_bytes(&bytes).unwrap_or(Token { csrf: None });
        if super::csrf::refused(
            state,
            &parts.headers,
            &browser.cookie,
            token.csrf.as_deref(),
        ) {
            return Err(super::html::page(
                StatusCode::FORBIDDEN,
                "Request refused",
                "<p class=\"err\">This form was not sent from an idbridge page of your session. Reload the page and try again.</p>",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            super::html::page(
                StatusCode::BAD_REQUEST,
                "Bad form",
                &format!(
                    "<p class=\"err\">The form could not be read: {}</p>",
                    crate::engine::markup::escape(&e.to_string())
                ),
            )
        })?;
        Ok(BrowserForm { browser, form })
    }
}
