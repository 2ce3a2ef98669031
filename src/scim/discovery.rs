//! `ServiceProviderConfig` (RFC 7643 §5): what this server supports, and nothing it does not.
//! Each capability is switched on here when it lands.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::auth::ScimClient;
use super::error::CONTENT_TYPE;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ServiceProviderConfig", get(service_provider_config))
}

/// A SCIM JSON body with `application/scim+json`.
pub fn scim_json(body: serde_json::Value) -> Response {
    let mut r = body.to_string().into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

async fn service_provider_config(_client: ScimClient) -> Response {
    scim_json(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/idbridge/idbridge/blob/main/docs/api.md",
        "patch": {"supported": false},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": false, "maxResults": 0},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A per-tenant SCIM token from POST /api/scim/tokens, sent as Authorization: Bearer <token>",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": "/scim/v2/ServiceProviderConfig"}
    }))
}
