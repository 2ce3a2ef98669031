//! Failures of browser SSO flows: one generic page with a correlation id; the cause goes to the
//! log (never to the page). 400 for a protocol failure, 403 for a policy refusal, 409 when an
//! account exists that may not be linked.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::Error;

#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    /// Stable cause code for logs and audit (`oidc.nonce_mismatch`).
    pub reason: &'static str,
    pub detail: String,
}

pub fn fail(reason: &'static str, detail: impl Into<String>) -> Fail {
    Fail {
        status: StatusCode::BAD_REQUEST,
        reason,
        detail: detail.into(),
    }
}

pub fn refuse(reason: &'static str, detail: impl Into<String>) -> Fail {
    Fail {
        status: StatusCode::FORBIDDEN,
        reason,
        detail: detail.into(),
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        Fail {
            status,
            reason: "sso.error",
            detail: e.to_string(),
        }
    }
}

impl Fail {
    /// Logs the cause and renders the generic page. The pre-auth cookie is always cleared.
    pub fn page(self, request_id: Option<&str>, clear_cookie: &str) -> Response {
        let id = request_id.unwrap_or("-");
        if self.status.is_server_error() {
            tracing::error!(reason = self.reason, detail = %self.detail, request_id = id, "SSO sign-in failed");
        } else {
            tracing::warn!(reason = self.reason, detail = %self.detail, request_id = id, "SSO sign-in refused");
        }
        let (title, text) = match self.status {
            StatusCode::FORBIDDEN => (
                "Access denied",
                "Your organization's sign-in worked, but this account may not use it here. Ask your administrator.",
            ),
            StatusCode::CONFLICT => (
                "Account needs linking",
                "An account with this email already exists and cannot be linked automatically. Ask your administrator to link it.",
            ),
            _ => (
                "Sign-in failed",
                "We could not complete the sign-in with your organization. Please try again; if it keeps failing, give your administrator the reference below.",
            ),
        };
        let body = format!(
            "<p>{text}</p><p>Reference: <code>{}</code></p><p><a href=\"/login\">Back to sign-in</a></p>",
            crate::engine::markup::escape(id)
        );
        let mut r = crate::web::html::page(self.status, title, &body);
        let h = r.headers_mut();
        if !clear_cookie.is_empty()
            && let Ok(v) = HeaderValue::from_str(clear_cookie)
        {
            h.append(header::SET_COOKIE, v);
        }
        r
    }
}
