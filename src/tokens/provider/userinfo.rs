//! The userinfo endpoint (OIDC Core §5.3).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::grants::has_scope;
use crate::error::Error;
use crate::state::AppState;
use crate::store::{self};
use crate::web::html::no_store;

/// The userinfo answer (OIDC Core §5.3.2): the claims the token's scope grants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user's id.
    pub sub: String,
    /// The slug of the token's tenant.
    pub tenant: String,
    /// Scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Scope `profile`, when the user has a last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Scope `roles`: the user's roles in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Scope `groups`: the user's groups in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// A refused bearer token (RFC 6750 §3.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BearerError {
    /// `invalid_token`.
    pub error: &'static str,
}

/// Userinfo (OIDC Core §5.3): the signed-in user's claims, as the access token's scope allows.
///
/// Takes `Authorization: Bearer` with an access token idbridge issued (to a client, or
/// first-party: a first-party token, which has no scope, sees every claim) for a session that
/// is still live. API tokens (`idb_...`) are refused.
#[utoipa::path(method(get, post), path = "/oauth2/userinfo", tag = "oidc",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserInfo, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "`invalid_token`: no bearer token, or not a valid access token of a live session (with `WWW-Authenticate: Bearer error=\"invalid_token\"`)", body = BearerError),
    ))]
pub(super) async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let invalid = || {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(BearerError {
                error: "invalid_token",
            }),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        no_store(r)
    };
    let Some(token) = crate::auth::bearer::of(&headers) else {
        return invalid();
    };
    let Ok((p, claims)) = crate::auth::authenticate::authenticate_access_token(
        &s,
        token,
        crate::auth::authenticate::Audience::AnyOfOurs,
    )
    .await
    else {
        return invalid();
    };
    let result = async {
        let mut c = s.store.acquire().await?;
        let user = store::users::get(c.conn(), p.user_id().unwrap_or_default())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let groups = store::users::group_names(c.conn(), &user.id, &claims.tid).await?;
        Ok::<_, Error>((user, groups))
    }
    .await;
    let Ok((user, groups)) = result else {
        return invalid();
    };
    // First-party tokens (no scope) see everything; client tokens what their scope grants.
    let scope = claims.scope.clone();
    let has = |w: &str| scope.as_deref().is_none_or(|sc| has_scope(sc, w));
    let profile = has("profile");
    let body = UserInfo {
        email: has("email").then(|| user.email.clone()),
        name: profile.then(|| claims.name.clone()),
        given_name: profile.then(|| user.first_name.clone()),
        family_name: user.last_name.clone().filter(|_| profile),
        roles: has("roles").then(|| claims.roles.clone()),
        groups: has("groups").then_some(groups),
        sub: user.id,
        tenant: claims.tenant,
    };
    no_store(Json(body).into_response())
}
