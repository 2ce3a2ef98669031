//! The wire shapes of the OAuth 2.0 endpoints: RFC 6749 errors (the one error mapping of
//! `/oauth2/*`), the form every endpoint may carry, and the token response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// An RFC 6749 §5.2 error.
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
    pub(super) basic_challenge: bool,
    pub(super) retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with a code from RFC 6749 §5.2 and a description for the developer.
    pub fn from_parts(error: &'static str, description: &str) -> Self {
        Self::new(error, description)
    }

    pub(super) fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
        }
    }

    pub(super) fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
            retry_after: None,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error at the token endpoint");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "internal error".into(),
                    basic_challenge: false,
                    retry_after: None,
                }
            }
            e @ (Error::RateLimited { .. } | Error::Overloaded) => Self {
                status: if matches!(e, Error::Overloaded) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::TOO_MANY_REQUESTS
                },
                // RFC 6749 has no code for it; `temporarily_unavailable` is the closest (§4.1.2.1).
                error: "temporarily_unavailable",
                retry_after: e.retry_after(),
                description: e.to_string(),
                basic_challenge: false,
            },
            other => Self::new("invalid_request", other.to_string()),
        }
    }
}

/// The body of an RFC 6749 §5.2 error (also used by introspection and revocation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `temporarily_unavailable` (429) or
    /// `server_error` (500).
    pub error: &'static str,
    /// What went wrong, for the client's developer.
    pub error_description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(OAuthErrorBody {
                error: self.error,
                error_description: self.description,
            }),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"idbridge\""),
            );
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The form fields every `/oauth2/*` endpoint may carry.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct OAuthForm {
    /// Token endpoint: `authorization_code`, `refresh_token` or `client_credentials`
    /// (required there).
    pub grant_type: Option<String>,
    /// Token endpoint: space-separated scopes (`client_credentials`: default every scope of
    /// the client; `refresh_token`: at most the granted ones).
    pub scope: Option<String>,
    /// `client_secret_post` and public clients (`none`): the client's id.
    pub client_id: Option<String>,
    /// `client_secret_post`: the client's secret (not together with HTTP Basic).
    pub client_secret: Option<String>,
    /// Introspection and revocation: the token (required there).
    pub token: Option<String>,
    /// Introspection and revocation: accepted and ignored (both kinds of token are tried).
    pub token_type_hint: Option<String>,
    /// `authorization_code`: the code from the redirect.
    pub code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request, exactly.
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636), 43-128 characters.
    pub code_verifier: Option<String>,
    /// `refresh_token`: the refresh token (each is used once: a new one comes back).
    pub refresh_token: Option<String>,
}

/// A token endpoint answer (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`) whose audience is the client.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires (`session.access_token_ttl_secs`).
    pub expires_in: i64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The ID token (OIDC Core §2), when the scope has `openid` (code and refresh grants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// A new refresh token, when the client may use `refresh_token` (code and refresh grants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}
