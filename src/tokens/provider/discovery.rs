//! OpenID Connect Discovery 1.0 §3 and RFC 8414: the provider metadata.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovery {
    /// `server.public_url`.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    /// `keys.algorithm`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

/// The OpenID Connect discovery document: endpoints, supported grants, scopes and claims.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc", security(()),
    responses(
        (status = 200, body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    ))]
pub(super) async fn discovery(State(s): State<AppState>) -> Response {
    let u = |p: &str| format!("{}{p}", s.public_url);
    let alg = s.settings.keys.algorithm.clone();
    let doc = Discovery {
        issuer: s.public_url.clone(),
        authorization_endpoint: u("/oauth2/authorize"),
        token_endpoint: u("/oauth2/token"),
        userinfo_endpoint: u("/oauth2/userinfo"),
        jwks_uri: u("/.well-known/jwks.json"),
        introspection_endpoint: u("/oauth2/introspect"),
        revocation_endpoint: u("/oauth2/revoke"),
        end_session_endpoint: u("/oauth2/logout"),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec![alg],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported: vec!["S256"],
        scopes_supported: vec![
            "openid",
            "profile",
            "email",
            "roles",
            "groups",
            "offline_access",
        ],
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "email",
            "name",
            "given_name",
            "family_name",
            "roles",
            "groups",
            "tenant",
        ],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    };
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response()
}
