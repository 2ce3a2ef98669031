//! Discovery (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and `Schemas`, which
//! advertise exactly what is built. Other methods on these endpoints are 405 with a SCIM error.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::doc::{ScimResourceType, ScimSchema, ScimServiceProviderConfig};
use super::auth::ScimClient;
use super::doc::ScimListResponse;
use super::error::CONTENT_TYPE;
use super::list::{MAX_COUNT, list_response};
use super::wire::{Base, MAX_PAYLOAD};
use crate::engine::scim::error::ScimError;
use crate::engine::scim::schema;
use crate::http::openapi::ScimErrorBody;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    // The GET of each path is documented; the other methods answer 405 with a SCIM error on the
    // same path (axum merges the two method routers).
    let refuse = || {
        post(not_allowed)
            .put(not_allowed)
            .patch(not_allowed)
            .delete(not_allowed)
    };
    OpenApiRouter::new()
        .routes(routes!(service_provider_config))
        .route("/ServiceProviderConfig", refuse())
        .routes(routes!(schemas))
        .route("/Schemas", refuse())
        .routes(routes!(schema_by_id))
        .route("/Schemas/{id}", refuse())
        .routes(routes!(resource_types))
        .route("/ResourceTypes", refuse())
        .routes(routes!(resource_type_by_id))
        .route("/ResourceTypes/{id}", refuse())
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

/// What this SCIM service supports (RFC 7644 §4), with its limits.
///
/// PATCH, Bulk (`maxOperations`, `maxPayloadSize`), filters (`maxResults`), sorting and ETags;
/// no password changes.
#[utoipa::path(get, path = "/ServiceProviderConfig", tag = "scim", security(("scim_token" = [])),
    responses((status = 200, description = "The ServiceProviderConfig", body = ScimServiceProviderConfig,
        content_type = "application/scim+json")))]
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

/// The schemas this service serves (RFC 7643 §7).
///
/// Core User, the Enterprise User extension and Group, with every attribute's characteristics.
#[utoipa::path(get, path = "/Schemas", tag = "scim", security(("scim_token" = [])),
    responses((status = 200, description = "A ListResponse of the schemas", body = ScimListResponse<ScimSchema>,
        content_type = "application/scim+json")))]
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

/// One schema, by its URN.
#[utoipa::path(get, path = "/Schemas/{id}", tag = "scim", security(("scim_token" = [])),
    params(("id" = String, Path, description = "The schema's URN (case-insensitive), e.g. `urn:ietf:params:scim:schemas:core:2.0:User`")),
    responses(
        (status = 200, description = "The schema", body = ScimSchema, content_type = "application/scim+json"),
        (status = 404, description = "No such schema", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
async fn schema_by_id(
    _client: ScimClient,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(schema::schemas(&base), &id, "schema")
}

/// The resource types this service serves (RFC 7643 §6): User and Group.
#[utoipa::path(get, path = "/ResourceTypes", tag = "scim", security(("scim_token" = [])),
    responses((status = 200, description = "A ListResponse of the resource types", body = ScimListResponse<ScimResourceType>,
        content_type = "application/scim+json")))]
async fn resource_types(_client: ScimClient, Base(base): Base) -> Response {
    let all = schema::resource_types(&base);
    let n = all.len() as i64;
    scim_json(list_response(
        n,
        1,
        all.into_iter().filter_map(into_map).collect(),
    ))
}

/// One resource type, by name.
#[utoipa::path(get, path = "/ResourceTypes/{id}", tag = "scim", security(("scim_token" = [])),
    params(("id" = String, Path, description = "`User` or `Group` (case-insensitive)")),
    responses(
        (status = 200, description = "The resource type", body = ScimResourceType, content_type = "application/scim+json"),
        (status = 404, description = "No such resource type", body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
async fn resource_type_by_id(
    _client: ScimClient,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    find(schema::resource_types(&base), &id, "resource type")
}

/// The discovery documents as the OpenAPI document describes them (the handlers build them as
/// JSON above and in `schema`).
#[allow(dead_code)]
pub mod doc {
    use serde::Serialize;
    use utoipa::ToSchema;

    /// `{"supported": ...}`.
    #[derive(Serialize, ToSchema)]
    pub struct ScimSupported {
        supported: bool,
    }

    /// Bulk support and its limits.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimBulkConfig {
        supported: bool,
        /// Operations per BulkRequest.
        max_operations: i64,
        /// Bytes per request body.
        max_payload_size: i64,
    }

    /// Filter support and the largest page.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimFilterConfig {
        supported: bool,
        max_results: i64,
    }

    /// How a client authenticates.
    #[derive(Serialize, ToSchema)]
    pub struct ScimAuthenticationScheme {
        /// `oauthbearertoken`.
        #[serde(rename = "type")]
        kind: String,
        name: String,
        description: String,
        primary: bool,
    }

    /// The metadata of a discovery document.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimDiscoveryMeta {
        /// `ServiceProviderConfig`, `Schema` or `ResourceType`.
        resource_type: String,
        /// The document's URL.
        location: String,
    }

    /// The ServiceProviderConfig (RFC 7643 §5).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimServiceProviderConfig {
        /// `["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]`.
        schemas: Vec<String>,
        documentation_uri: String,
        patch: ScimSupported,
        bulk: ScimBulkConfig,
        filter: ScimFilterConfig,
        change_password: ScimSupported,
        sort: ScimSupported,
        etag: ScimSupported,
        authentication_schemes: Vec<ScimAuthenticationScheme>,
        meta: ScimDiscoveryMeta,
    }

    /// An attribute of a schema, with its characteristics (RFC 7643 §7).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimAttribute {
        name: String,
        /// `string`, `boolean`, `decimal`, `integer`, `dateTime`, `reference`, `complex` or
        /// `binary`.
        #[serde(rename = "type")]
        kind: String,
        multi_valued: bool,
        description: String,
        required: bool,
        case_exact: bool,
        /// `readOnly`, `readWrite`, `immutable` or `writeOnly`.
        mutability: String,
        /// `always`, `never`, `default` or `request`.
        returned: String,
        /// `none` or `server`.
        uniqueness: String,
        #[schema(required = false)]
        canonical_values: Vec<String>,
        #[schema(required = false)]
        reference_types: Vec<String>,
        /// The sub-attributes of a complex attribute.
        #[schema(required = false, no_recursion)]
        sub_attributes: Vec<ScimAttribute>,
    }

    /// A schema (RFC 7643 §7).
    #[derive(Serialize, ToSchema)]
    pub struct ScimSchema {
        /// `["urn:ietf:params:scim:schemas:core:2.0:Schema"]`.
        schemas: Vec<String>,
        /// The schema's URN.
        id: String,
        name: String,
        description: String,
        attributes: Vec<ScimAttribute>,
        meta: ScimDiscoveryMeta,
    }

    /// An extension a resource type may carry.
    #[derive(Serialize, ToSchema)]
    pub struct ScimSchemaExtension {
        /// The extension's URN.
        schema: String,
        required: bool,
    }

    /// A resource type (RFC 7643 §6).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimResourceType {
        /// `["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]`.
        schemas: Vec<String>,
        /// `User` or `Group`.
        id: String,
        name: String,
        /// `/Users` or `/Groups`, relative to the SCIM base URL.
        endpoint: String,
        description: String,
        /// The core schema's URN.
        schema: String,
        schema_extensions: Vec<ScimSchemaExtension>,
        meta: ScimDiscoveryMeta,
    }
}
