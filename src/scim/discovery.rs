//! Discovery (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and `Schemas`, which
//! advertise exactly what is built. Other methods on these endpoints are 405 with a SCIM error.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::ScimClient;
use super::error::{CONTENT_TYPE, ScimError};
use super::list::{MAX_COUNT, list_response};
use super::schema;
use super::wire::{Base, MAX_PAYLOAD};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let refuse = || {
        axum::routing::post(not_allowed)
            .put(not_allowed)
            .patch(not_allowed)
            .delete(not_allowed)
    };
    Router::new()
        .route(
            "/ServiceProviderConfig",
            refuse().get(service_provider_config),
        )
        .route("/Schemas", refuse().get(schemas))
        .route("/Schemas/{id}", refuse().get(schema_by_id))
        .route("/ResourceTypes", refuse().get(resource_types))
        .route("/ResourceTypes/{id}", refuse().get(resource_type_by_id))
}

async fn not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "discovery endpoints are read-only: use GET",
    )
}

/// A SCIM JSON body with `application/scim+json`.
pub fn scim_json(body: Value) -> Response {
    let mut r = body.to_string().into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

async fn service_provider_config(_client: ScimClient, Base(base): Base) -> Response {
    scim_json(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/idbridge/idbridge/blob/main/docs/api.md#scim-20-provisioning",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": super::bulk::MAX_OPERATIONS, "maxPayloadSize": MAX_PAYLOAD},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A per-tenant SCIM token from POST /api/scim/tokens, sent as Authorization: Bearer <token>",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    }))
}

async fn schemas(_client: ScimClient, Base(base): Base) -> Response {
    let all = schema::schemas(&base);
    let n = all.len() as i64;
    scim_json(list_response(
        n,
        1,
        all.into_iter().filter_map(into_map).collect(),
    ))
}

fn into_map(v: Value) -> Option<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn find(all: Vec<Value>, id: &str, what: &str) -> Result<Response, ScimError> {
    all.into_iter()
        .find(|s| s["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
        .map(scim_json)
        .ok_or_else(|| ScimError::not_found(what))
}

async fn schema_by_id(
    _client: ScimClient,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(schema::schemas(&base), &id, "schema")
}

async fn resource_types(_client: ScimClient, Base(base): Base) -> Response {
    let all = schema::resource_types(&base);
    let n = all.len() as i64;
    scim_json(list_response(
        n,
        1,
        all.into_iter().filter_map(into_map).collect(),
    ))
}

async fn resource_type_by_id(
    _client: ScimClient,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(schema::resource_types(&base), &id, "resource type")
}
