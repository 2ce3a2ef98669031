//! SCIM errors (RFC 7644 §3.12): `{"schemas": [...Error], "status": "401", "scimType"?, "detail"}`
//! with `application/scim+json`. The one error mapping of the SCIM protocol.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

pub const CONTENT_TYPE: &str = "application/scim+json";

/// The detail of a SCIM error response, put in the response's extensions for the request log.
#[derive(Clone)]
pub struct ErrorDetail(pub String);

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    /// `Retry-After` seconds of a 429 or 503.
    pub retry_after: Option<u64>,
    /// RFC 7644 Table 9 (`invalidFilter`, `uniqueness`, `mutability`, ...).
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            retry_after: None,
            scim_type,
            detail: detail.into(),
        }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad("invalidSyntax", detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad("invalidFilter", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad("invalidPath", detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad("noTarget", detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad("mutability", detail)
    }

    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad("tooMany", detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            None,
            format!("{what} not found in this tenant"),
        )
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource changed: its ETag no longer matches If-Match; read it again",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "a SCIM bearer token is required (Authorization: Bearer <token> from POST /api/scim/tokens)",
        )
    }
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        if let Some(secs) = e.retry_after() {
            let status = match e {
                Error::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut out = Self::new(status, None, e.to_string());
            out.retry_after = Some(secs);
            return out;
        }
        let status = match &e {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "SCIM request failed");
            return Self::new(status, None, "internal error");
        }
        let scim_type = match status {
            StatusCode::BAD_REQUEST => Some("invalidValue"),
            StatusCode::CONFLICT => Some("uniqueness"),
            _ => None,
        };
        Self::new(status, scim_type, e.to_string())
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut r = (self.status, body.to_string()).into_response();
        r.extensions_mut().insert(ErrorDetail(self.detail.clone()));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}
