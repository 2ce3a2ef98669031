//! The OpenID Connect provider for apps, browser side: discovery, the authorization code flow
//! with PKCE (OIDC Core §3.1, RFC 7636, RFC 9207 `iss`), ID tokens, rotating refresh tokens with
//! reuse detection, userinfo and RP-initiated logout. The token endpoint itself lives in
//! `tokens::oauth` and calls [`exchange_code`] and [`refresh`] here; the sign-in page the flow
//! sends browsers to is `web::login`.

mod authorize;
mod discovery;
mod grants;
mod logout;
mod userinfo;

use axum::routing::post;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use grants::{exchange_code, refresh};

use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery::discovery))
        .routes(routes!(authorize::authorize))
        // HTML pages for people, left out of the OpenAPI document on purpose.
        .route("/oauth2/consent", post(authorize::consent_submit))
        .routes(routes!(userinfo::userinfo))
        .routes(routes!(logout::logout))
}
