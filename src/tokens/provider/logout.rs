//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use crate::engine::jwt;
use crate::engine::url::append_query;
use crate::state::AppState;
use crate::store::{self};
use crate::web::html::{page, redirect};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct LogoutParams {
    /// An ID token idbridge signed, for the browser's session (or one that has ended): signs out
    /// without asking.
    pub id_token_hint: Option<String>,
    /// Where to go after: one of the hint's client's registered post-logout redirect URIs.
    pub post_logout_redirect_uri: Option<String>,
    /// Returned as it is with the redirect.
    pub state: Option<String>,
    /// When given, it must be the hint's client.
    pub client_id: Option<String>,
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an `id_token_hint` that
/// idbridge signed (for the session in the browser, or after it ended), the session ends and
/// the browser returns to a `post_logout_redirect_uri` registered for the hint's client. Without
/// a valid hint nothing happens on a GET (a cross-site link must neither sign anyone out nor
/// redirect anywhere): the user gets a confirmation form, and its same-origin POST signs out
/// and never redirects off idbridge.
#[utoipa::path(method(get, post), path = "/oauth2/logout", tag = "oidc",
    security(("session" = []), ()),
    params(LogoutParams),
    request_body(content = Option<LogoutParams>, content_type = "application/x-www-form-urlencoded",
        description = "POST only: the same fields as a form; a non-empty body replaces the query's fields"),
    responses(
        (status = 200, description = "An HTML page: the sign-out confirmation form (without a valid `id_token_hint`, on a GET), or \"signed out\" (with the session cookie cleared)", content_type = "text/html", body = String,
            headers(("Set-Cookie" = String, description = "Clears the session cookie, once signed out"))),
        (status = 302, description = "Signed out: back to `post_logout_redirect_uri` with `state`",
            headers(("Location" = String), ("Set-Cookie" = String, description = "Clears the session cookie"))),
        (status = 400, description = "The query does not parse (a field given twice)", content_type = "text/plain", body = String),
        (status = 403, description = "A cross-site POST without a valid `id_token_hint`: refused (an HTML page)", content_type = "text/html", body = String),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
    ))]
pub(super) async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    method: axum::http::Method,
    Query(q): Query<LogoutParams>,
    body: axum::body::Bytes,
) -> Response {
    // A POST carries its fields in the form body (OIDC allows both).
    let q = if method == axum::http::Method::POST && !body.is_empty() {
        serde_urlencoded::from_bytes::<LogoutParams>(&body).unwrap_or_default()
    } else {
        q
    };
    let current = crate::web::session::signed_in(&s, &headers).await;
    let hint = q
        .id_token_hint
        .as_deref()
        .and_then(|t| jwt::id_token_hint(&s.keys, t, &s.public_url))
        // The hint names the browser's session (or the browser has none any more).
        .filter(|(_, sid)| {
            current
                .as_ref()
                .is_none_or(|p| p.session_id.as_deref() == Some(sid))
        })
        .filter(|(aud, _)| q.client_id.as_deref().is_none_or(|c| c == aud));
    let confirmed =
        method == axum::http::Method::POST && !crate::web::csrf::cross_origin(&s, &headers);
    if hint.is_none() && !confirmed {
        if method == axum::http::Method::POST {
            return page(
                StatusCode::FORBIDDEN,
                "Sign out",
                "<p class=\"err\">Cross-site sign-out refused.</p>",
            );
        }
        return page(
            StatusCode::OK,
            "Sign out",
            "<p>Sign out of idbridge?</p><form method=\"post\" action=\"/oauth2/logout\"><button type=\"submit\">Sign out</button></form>",
        );
    }
    if let Some(p) = &current
        && let Err(e) = crate::auth::service::logout(&s, p, None).await
    {
        tracing::warn!(error = %e, "logout failed");
    }
    let client = match &hint {
        Some((aud, _)) => match s.store.acquire().await {
            Ok(mut c) => store::oauth::get(c.conn(), aud).await.ok().flatten(),
            Err(_) => None,
        },
        None => None,
    };
    let mut resp = match (&q.post_logout_redirect_uri, client) {
        (Some(uri), Some(client)) if client.post_logout_redirect_uris.has(uri) => {
            let mut p: Vec<(&str, &str)> = Vec::new();
            if let Some(st) = &q.state {
                p.push(("state", st));
            }
            redirect(&append_query(uri, &p))
        }
        _ => page(
            StatusCode::OK,
            "Signed out",
            "<p>You are signed out of idbridge.</p>",
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(&s, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
