//! SCIM 2.0 provisioning (RFC 7643, RFC 7644): identity providers push users and groups to
//! `/scim/v2` (also `/api/scim/v2`) with a per-tenant bearer token; the token decides the tenant
//! and no cookie ever authenticates SCIM.
//!
//! Protocol engines (`filter`, `patch`, `resource`, `schema`) know nothing of HTTP or SQL; the
//! services (`users`, `groups`, `list`) run one transaction per request; the handlers below only
//! parse and answer.

pub mod auth;
pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod groups;
pub mod keys;
pub mod list;
pub mod log;
pub mod patch;
pub mod resource;
pub mod roles;
pub mod schema;
pub mod tokens;
pub mod users;
pub mod wire;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use self::error::ScimError;
use self::schema::Kind;
use self::wire::{Call, Projection, ScimBody};
use crate::auth::principal::Principal;
use crate::http::{ApiResult, AppQuery};
use crate::state::AppState;
use crate::users::service::TenantParam;

pub fn routes() -> Router<AppState> {
    let scim = Router::new()
        .merge(discovery::routes())
        .route(
            "/Users",
            get(|State(s), call, RawQuery(q)| list_h(Kind::User, s, call, q)).post(users_create),
        )
        .route(
            "/Users/.search",
            post(|State(s), call, ScimBody(b)| search_h(Kind::User, s, call, b)),
        )
        .route(
            "/Users/{id}",
            get(users_get)
                .put(users_put)
                .patch(users_patch)
                .delete(users_delete),
        )
        .route(
            "/Groups",
            get(|State(s), call, RawQuery(q)| list_h(Kind::Group, s, call, q)).post(groups_create),
        )
        .route(
            "/Groups/.search",
            post(|State(s), call, ScimBody(b)| search_h(Kind::Group, s, call, b)),
        )
        .route(
            "/Groups/{id}",
            get(groups_get)
                .put(groups_put)
                .patch(groups_patch)
                .delete(groups_delete),
        )
        .route("/.search", post(search_all))
        .route("/Bulk", post(bulk_h))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(wire::MAX_PAYLOAD))
        .layer(middleware::from_fn(log_request));
    Router::new()
        .merge(tokens::routes())
        .merge(keys::routes())
        .route("/api/scim/log", get(log_h))
        .nest("/scim/v2", scim.clone())
        .nest("/api/scim/v2", scim)
}

async fn not_found() -> ScimError {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        "no such SCIM endpoint: see /ServiceProviderConfig, /ResourceTypes and /Schemas",
    )
}

/// Filled by [`auth::ScimClient`] when it authenticates (tenant, token name, state), read by the
/// request log.
#[derive(Clone, Default)]
pub struct LogSlot(pub Arc<Mutex<Option<(String, String, AppState)>>>);

/// The detail of a SCIM error response, for the request log.
#[derive(Clone)]
pub struct ErrorDetail(pub String);

async fn log_request(mut req: Request, next: Next) -> Response {
    let slot = LogSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let who = slot.0.lock().ok().and_then(|g| g.clone());
    if let Some((tenant, token, s)) = who {
        if method != "GET" {
            list::written(&tenant);
        }
        s.scim_log.push(
            &tenant,
            log::Entry {
                at: crate::clock::rfc3339(s.now_ms()),
                method,
                path,
                status: resp.status().as_u16(),
                detail: resp.extensions().get::<ErrorDetail>().map(|d| d.0.clone()),
                token,
            },
        );
    }
    resp
}

fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, ScimError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ScimError::invalid_value(format!("invalid query parameters: {e}"))),
    }
}

/// `GET /Users` or `/Groups` with query parameters.
async fn list_h(
    kind: Kind,
    s: AppState,
    call: Call,
    q: Option<String>,
) -> Result<Response, ScimError> {
    let q: list::Search = query(q.as_deref())?;
    Ok(json_response(
        StatusCode::OK,
        list::list(&s, &call.client, &call.base, kind, &q).await?,
    ))
}

/// `POST /Users/.search` or `/Groups/.search` with a SearchRequest.
async fn search_h(
    kind: Kind,
    s: AppState,
    call: Call,
    b: serde_json::Value,
) -> Result<Response, ScimError> {
    let q = list::Search::from_body(&b)?;
    Ok(json_response(
        StatusCode::OK,
        list::list(&s, &call.client, &call.base, kind, &q).await?,
    ))
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = discovery::scim_json(v);
    *r.status_mut() = status;
    r
}

async fn users_create(
    State(s): State<AppState>,
    call: Call,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    let (r, v) = users::create(&s, &call.client, call.rid.as_deref(), &call.base, &b, &p).await?;
    Ok(wire::resource(StatusCode::CREATED, r, v))
}

async fn users_get(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    if headers.contains_key(axum::http::header::IF_NONE_MATCH) {
        let v = users::version(&s, &call.client, &id).await?;
        if wire::not_modified(&headers, v) {
            return Ok(wire::not_modified_response(v));
        }
    }
    let (r, v) = users::get(&s, &call.client, &call.base, &id, &p).await?;
    Ok(wire::resource(StatusCode::OK, r, v))
}

async fn users_write(
    s: AppState,
    call: Call,
    id: String,
    headers: HeaderMap,
    q: Option<String>,
    change: users::Change<'_>,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    let (r, v) = users::update(
        &s,
        &call.client,
        call.rid.as_deref(),
        &call.base,
        &id,
        change,
        &headers,
        &p,
    )
    .await?;
    Ok(wire::resource(StatusCode::OK, r, v))
}

async fn users_put(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    users_write(s, call, id, headers, q, users::Change::Replace(&b)).await
}

async fn users_patch(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    users_write(s, call, id, headers, q, users::Change::Patch(&b)).await
}

async fn users_delete(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    users::delete(&s, &call.client, call.rid.as_deref(), &id, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn groups_create(
    State(s): State<AppState>,
    call: Call,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    let (r, v) = groups::create(&s, &call.client, call.rid.as_deref(), &call.base, &b, &p).await?;
    Ok(wire::resource(StatusCode::CREATED, r, v))
}

async fn groups_get(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    if headers.contains_key(axum::http::header::IF_NONE_MATCH) {
        let v = groups::version(&s, &call.client, &id).await?;
        if wire::not_modified(&headers, v) {
            return Ok(wire::not_modified_response(v));
        }
    }
    let (r, v) = groups::get(&s, &call.client, &call.base, &id, &p).await?;
    Ok(wire::resource(StatusCode::OK, r, v))
}

async fn groups_write(
    s: AppState,
    call: Call,
    id: String,
    headers: HeaderMap,
    q: Option<String>,
    change: users::Change<'_>,
) -> Result<Response, ScimError> {
    let p: Projection = query(q.as_deref())?;
    let out = groups::update(
        &s,
        &call.client,
        call.rid.as_deref(),
        &call.base,
        &id,
        change,
        &headers,
        &p,
    )
    .await?;
    Ok(match out {
        Some((r, v)) => wire::resource(StatusCode::OK, r, v),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn groups_put(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    groups_write(s, call, id, headers, q, users::Change::Replace(&b)).await
}

async fn groups_patch(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    groups_write(s, call, id, headers, q, users::Change::Patch(&b)).await
}

async fn groups_delete(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    groups::delete(&s, &call.client, call.rid.as_deref(), &id, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn search_all(
    State(s): State<AppState>,
    call: Call,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    let q = list::Search::from_body(&b)?;
    Ok(json_response(
        StatusCode::OK,
        list::search_all(&s, &call.client, &call.base, &q).await?,
    ))
}

async fn bulk_h(
    State(s): State<AppState>,
    call: Call,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    Ok(json_response(
        StatusCode::OK,
        bulk::run(&s, &call, &b).await?,
    ))
}

/// `GET /api/scim/log?tenant=`: the tenant's last SCIM requests, newest first (`scim:manage`).
async fn log_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut tx = s.store.read().await?;
    let t = crate::rbac::service::tenant_for(&mut tx, &p, q.tenant.as_deref()).await?;
    crate::rbac::service::require(&s, &mut tx, &p, &t, tokens::SCIM.permission).await?;
    Ok(Json(
        serde_json::json!({"items": s.scim_log.entries(&t.id), "next_cursor": null}),
    ))
}
