//! Where a browser arrives: `/` (the console, the sign-in, or the first-run page), and the
//! first-run page itself, which creates the first admin with the bootstrap token that
//! `idbridge serve` printed, then signs them in.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::service::{self as auth, RegisterRequest, RegisterVia};
use crate::error::Error;
use crate::http::client::ClientInfo;
use crate::state::AppState;
use crate::web::html::{console, no_store, redirect};

/// Whether the request comes from a browser navigating (it accepts HTML); API clients asking
/// for JSON keep getting JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

async fn has_users(state: &AppState) -> crate::error::Result<bool> {
    let mut c = state.store.acquire().await?;
    Ok(crate::store::users::count(c.conn()).await? > 0)
}

pub(super) async fn root(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !wants_html(&headers) {
        return crate::http::error::body(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint: see docs/api.md (browsers get the console here)",
        );
    }
    match has_users(&s).await {
        Ok(false) => redirect("/setup"),
        Ok(true) if crate::web::session::signed_in(&s, &headers).await.is_some() => {
            redirect("/console")
        }
        Ok(true) => redirect("/login?rd=/console"),
        Err(e) => crate::http::ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    form: SetupForm,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    bootstrap_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    tenant_name: String,
}

pub(super) async fn setup_page(State(s): State<AppState>) -> Response {
    match has_users(&s).await {
        Ok(true) => redirect("/login?rd=/console"),
        Ok(false) => console(
            StatusCode::OK,
            &SetupPage {
                form: SetupForm::default(),
                error: None,
            },
        ),
        Err(e) => crate::http::ApiError(e).into_response(),
    }
}

pub(super) async fn setup_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Form(mut f): Form<SetupForm>,
) -> Response {
    // No session to bind a token to yet: the bootstrap token is the secret, and the post must
    // come from this origin.
    if crate::web::csrf::cross_origin(&s, &headers) {
        return crate::web::html::page(
            StatusCode::FORBIDDEN,
            "First run",
            "<p class=\"err\">Cross-site request refused.</p>",
        );
    }
    let req = RegisterRequest {
        email: f.email.clone(),
        password: f.password.clone(),
        first_name: f.first_name.clone(),
        last_name: Some(f.last_name.clone()).filter(|s| !s.trim().is_empty()),
        tenant: None,
        tenant_name: Some(f.tenant_name.clone()).filter(|s| !s.trim().is_empty()),
        preset: None,
        bootstrap_token: Some(f.bootstrap_token.trim().to_string()),
    };
    let failed = |f: &mut SetupForm, status: StatusCode, text: String| {
        f.password.clear();
        f.bootstrap_token.clear();
        console(
            status,
            &SetupPage {
                form: std::mem::take(f),
                error: Some(text),
            },
        )
    };
    match auth::register(&s, req, RegisterVia::Api).await {
        Ok(_) => {}
        Err(Error::Forbidden { code, .. }) if code == "registration_closed" => {
            return redirect("/login?rd=/console");
        }
        Err(e) => {
            let status = match &e {
                Error::Forbidden { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let text = match &e {
                Error::Forbidden { code, .. } if code == "bootstrap_token_required" => {
                    "That bootstrap token does not match. Copy it from what `idbridge serve` \
                     printed at start, or from the file bootstrap.token in the data directory."
                        .to_string()
                }
                e => super::frame::message(e),
            };
            return failed(&mut f, status, text);
        }
    }
    let login = auth::LoginRequest {
        email: f.email.clone(),
        password: f.password.clone(),
        tenant: None,
    };
    match auth::login(&s, &client, None, login).await {
        Ok(signed) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/console"));
            if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(
                &s,
                &signed.session_token,
                signed.session_max_age,
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            no_store(r)
        }
        // The admin exists; signing in is the next step.
        Err(_) => redirect("/login?rd=/console"),
    }
}
