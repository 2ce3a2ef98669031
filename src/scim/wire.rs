//! SCIM request and response plumbing shared by the resource handlers: the absolute base URL of
//! the request, JSON bodies in `application/scim+json` or `application/json`, ETags and
//! `If-Match` / `If-None-Match`, and resource responses.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::CONTENT_TYPE;
use crate::engine::scim::error::ScimError;
use crate::state::AppState;

/// The largest SCIM request body (advertised as `bulk.maxPayloadSize`): a 15,000-member push
/// from Okta is about 1 MiB.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// The absolute SCIM base URL the request came in on (`/scim/v2` or `/api/scim/v2`), for
/// `meta.location` and `$ref`.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl FromRequestParts<AppState> for Base {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_string(), |u| u.path().to_string());
        let prefix = if path.starts_with("/api/scim/v2") {
            "/api/scim/v2"
        } else {
            "/scim/v2"
        };
        Ok(Base(format!("{}{prefix}", s.public_url)))
    }
}

/// Who calls and where: the authenticated SCIM client, the base URL, the request id.
pub struct Call {
    pub client: super::auth::ScimClient,
    pub base: String,
    pub rid: Option<String>,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let client = super::auth::ScimClient::from_request_parts(parts, s).await?;
        let Base(base) = Base::from_request_parts(parts, s).await?;
        let rid = crate::http::RequestId::from_request_parts(parts, s)
            .await
            .ok()
            .and_then(|r| r.0);
        Ok(Call { client, base, rid })
    }
}

/// A JSON request body. SCIM clients send `application/scim+json`; plain `application/json`
/// (and no content type, as some scripts do) is accepted too.
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if let Some(ct) = &ct
            && ct != CONTENT_TYPE
            && ct != "application/json"
        {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("Content-Type {ct} is not supported: send application/scim+json"),
            ));
        }
        let bytes = Bytes::from_request(req, s).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!("the request body is larger than {MAX_PAYLOAD} bytes"),
                )
            } else {
                ScimError::invalid_syntax(format!("could not read the request body: {e}"))
            }
        })?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
        })?;
        Ok(ScimBody(v))
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` / `If-None-Match` list names this version (`*` names any).
fn names_version(value: &str, version: i64) -> bool {
    let want = version.to_string();
    value
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).trim_matches('"') == want)
}

/// `If-Match` that does not name the current version: 412, and nothing changes.
pub fn check_if_match(headers: &HeaderMap, version: i64) -> Result<(), ScimError> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) if !names_version(v, version) => Err(ScimError::precondition_failed()),
        _ => Ok(()),
    }
}

/// `If-None-Match` naming the current version: the client's copy is current (304).
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| names_version(v, version))
}

/// A resource response with its ETag (and `Location` on 201).
pub fn resource(status: StatusCode, body: Map<String, Value>, version: i64) -> Response {
    let location = body
        .get("meta")
        .and_then(|m| m.get("location"))
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok());
    let mut r = (status, Value::Object(body).to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(l) = location
    {
        h.insert(header::LOCATION, l);
    }
    r
}

pub fn not_modified_response(version: i64) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `meta` of a resource.
pub fn meta(
    kind: &str,
    base: &str,
    endpoint: &str,
    id: &str,
    created: i64,
    modified: i64,
    version: i64,
) -> Value {
    serde_json::json!({
        "resourceType": kind,
        "created": crate::clock::rfc3339(created),
        "lastModified": crate::clock::rfc3339(modified),
        "location": format!("{base}/{endpoint}/{id}"),
        "version": etag(version),
    })
}

/// The `schemas` of a stored resource: the core URN first, then every extension it carries.
pub fn schemas_of(core: &str, r: &Map<String, Value>) -> Value {
    let mut out = vec![Value::String(core.to_string())];
    for (k, v) in r {
        if crate::engine::scim::resource::is_urn(k) && v.is_object() {
            out.push(Value::String(k.clone()));
        }
    }
    Value::Array(out)
}

/// Query parameters a single-resource GET (and writes) honour.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Projection {
    /// Comma-separated attribute paths to return (`id` and `schemas` always are), e.g.
    /// `userName,emails.value`.
    pub attributes: Option<String>,
    /// Comma-separated attribute paths to leave out.
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl Projection {
    /// The parsed `attributes` and `excludedAttributes` for a resource type.
    pub fn selectors(
        &self,
        kind: crate::engine::scim::schema::Kind,
    ) -> Result<
        (
            Vec<crate::engine::scim::resource::Selector>,
            Vec<crate::engine::scim::resource::Selector>,
        ),
        ScimError,
    > {
        Ok((
            crate::engine::scim::resource::selectors(kind, self.attributes.as_deref())?,
            crate::engine::scim::resource::selectors(kind, self.excluded_attributes.as_deref())?,
        ))
    }
}

/// A stored SCIM resource as JSON. A row that does not hold a JSON object is an internal error
/// (logged by the SCIM error mapping), never an empty resource that a PATCH would then write back.
pub fn stored(resource: &str) -> Result<Map<String, Value>, ScimError> {
    serde_json::from_str(resource).map_err(|e| {
        ScimError::from(crate::error::Error::internal(format!(
            "a stored SCIM resource is not a JSON object: {e}"
        )))
    })
}
