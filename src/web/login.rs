//! The sign-in page (`/login`) the authorization flow and forward auth send browsers to:
//! email and password where the tenant allows it, the tenant's SSO buttons, home-realm
//! discovery by work email.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::engine::markup::escape;
use crate::error::Error;
use crate::http::client::ClientInfo;
use crate::state::AppState;
use crate::web::html::{no_store, page, redirect};
use crate::web::redirect::safe_rd;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub rd: Option<String>,
    pub force: Option<String>,
    /// Show this tenant's SSO connections (also taken from a `<slug>.<public host>` host name).
    pub tenant: Option<String>,
}

fn login_form(rd: &str, error: Option<&str>) -> String {
    format!(
        "{err}<form method=\"post\" action=\"/login\"><label>Email<input name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus></label>\
         <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\"><button type=\"submit\">Sign in</button></form>\
         <h2>Single sign-on</h2><form method=\"post\" action=\"/sso/discover\"><label>Work email<input name=\"email\" type=\"email\" required></label>\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\"><button type=\"submit\">Continue with SSO</button></form>",
        err = error
            .map(|e| format!("<p class=\"err\">{}</p>", escape(e)))
            .unwrap_or_default(),
        rd = escape(rd)
    )
}

pub(super) async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let rd = safe_rd(&s, q.rd.as_deref()).unwrap_or_default();
    if q.force.is_none()
        && let Some(p) = crate::web::session::signed_in(&s, &headers).await
    {
        if !rd.is_empty() {
            return redirect(&rd);
        }
        let who = match &p.actor {
            crate::auth::principal::Actor::User { email, .. } => email.clone(),
            _ => String::new(),
        };
        let field = crate::web::session::csrf_field(&crate::web::session::csrf_of(&s, &headers));
        let switcher = crate::sso::pages::tenant_switcher(&s, &p, &field).await;
        return page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "<p>You are signed in as {}.</p>{switcher}<form method=\"post\" action=\"/logout\">{field}<button type=\"submit\">Sign out</button></form>",
                escape(&who)
            ),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let tenant = crate::sso::pages::tenant_of_request(&s, q.tenant.as_deref(), host);
    let (buttons, password) = crate::sso::pages::tenant_sign_in(&s, tenant.as_deref(), &rd).await;
    let form = if password {
        login_form(&rd, None)
    } else {
        String::new()
    };
    page(StatusCode::OK, "Sign in", &format!("{buttons}{form}"))
}

#[derive(Debug, Deserialize)]
pub struct LoginSubmit {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub rd: String,
}

pub(super) async fn login_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Form(f): Form<LoginSubmit>,
) -> Response {
    // Login CSRF: a cross-site form must not sign the browser into someone else's account.
    if crate::web::csrf::cross_origin(&s, &headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Sign in",
            "<p class=\"err\">Cross-site sign-in refused.</p>",
        );
    }
    let rd = safe_rd(&s, Some(&f.rd)).unwrap_or_default();
    let req = crate::auth::service::LoginRequest {
        email: f.email,
        password: f.password,
        tenant: None,
    };
    match crate::auth::service::login(&s, &client, None, req).await {
        Ok(signed) => {
            let target = if rd.is_empty() {
                "/login".to_string()
            } else {
                rd
            };
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(
                &s,
                &signed.session_token,
                signed.session_max_age,
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            no_store(r)
        }
        Err(e) => {
            let retry = e.retry_after();
            let (status, msg) = match &e {
                Error::Invalid { .. } => (
                    StatusCode::BAD_REQUEST,
                    "Wrong email or password.".to_string(),
                ),
                Error::Forbidden { message, .. } => (StatusCode::FORBIDDEN, message.clone()),
                Error::RateLimited { message, .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, message.clone())
                }
                Error::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                other => {
                    tracing::error!(error = %other, "sign-in failed");
                    (
                        StatusCode::BAD_REQUEST,
                        "Sign-in failed; try again.".to_string(),
                    )
                }
            };
            let mut r = page(status, "Sign in", &login_form(&f.rd, Some(&msg)));
            if let Some(secs) = retry {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        }
    }
}
