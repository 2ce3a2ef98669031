//! SCIM errors (RFC 7644 §3.12): `{"schemas": [...Error], "status": "401", "scimType"?, "detail"}`
//! with `application/scim+json`. The one error mapping of the SCIM protocol.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::scim::error::ScimError;
use crate::error::Error;

pub const CONTENT_TYPE: &str = "application/scim+json";

/// The detail of a SCIM error response, put in the response's extensions for the request log.
#[derive(Clone)]
pub struct ErrorDetail(pub String);

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
