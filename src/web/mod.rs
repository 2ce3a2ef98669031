//! What a browser touches: the HTML kit every page is built with, the same-origin rule of
//! cookie-authorised writes, redirect targets a sign-in may continue to, URL helpers, the
//! browser's session and cookies, and the sign-in page.

pub mod assets;
pub mod cookies;
pub mod csrf;
pub mod html;
pub mod login;
pub mod redirect;
pub mod session;

use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The browser pages' routes (left out of the OpenAPI document: they are for people).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/assets/{name}", get(assets::asset))
}
