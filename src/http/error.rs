//! The one mapping from the domain error to `/api` responses:
//! `{"error": code, "message": ..., "field"?: ...}`. A 500 is logged once and says nothing more.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Gone { .. } => StatusCode::GONE,
            Error::Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Builds an error body outside the domain error (rejections, 404 fallback, 413).
pub fn body(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.0.retry_after();
        let (code, message, field) = match self.0 {
            Error::Invalid {
                code,
                message,
                field,
            } => (code.into_owned(), message, field),
            Error::Unauthenticated => (
                "unauthenticated".to_string(),
                "sign in first: send a session cookie or an Authorization: Bearer token"
                    .to_string(),
                None,
            ),
            Error::Forbidden { code, message } => (code.into_owned(), message, None),
            Error::NotFound(what) => ("not_found".to_string(), format!("{what} not found"), None),
            Error::Conflict {
                code,
                message,
                field,
            } => (code.into_owned(), message, field),
            Error::Gone { code, message } => (code.into_owned(), message, None),
            Error::Rule { code, message } => (code.into_owned(), message, None),
            Error::RateLimited { message, .. } => ("rate_limited".to_string(), message, None),
            Error::Overloaded => (
                "overloaded".to_string(),
                "the server is busy with sign-ins: try again in a moment".to_string(),
                None,
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    "internal".to_string(),
                    "internal error; the server log has the details".to_string(),
                    None,
                )
            }
        };
        let mut body = json!({"error": code, "message": message});
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"idbridge\""),
            );
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
