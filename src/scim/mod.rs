//! SCIM 2.0 provisioning (RFC 7643, RFC 7644): identity providers push users and groups to
//! `/scim/v2` (also `/api/scim/v2`) with a per-tenant bearer token; the token decides the tenant
//! and no cookie ever authenticates SCIM.
//!
//! The protocol engines (`engine::scim`: filter, patch, resource, schema) know nothing of HTTP
//! or SQL; the services (`users`, `groups`, `list`) run one transaction per request; the handlers
//! below only parse and answer.

pub mod auth;
pub mod bulk;
pub mod discovery;
pub mod error;
pub mod groups;
pub mod keys;
pub mod list;
pub mod list_cache;
pub mod log;
pub mod roles;
pub mod tokens;
pub mod users;
pub mod wire;

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::auth::LogSlot;
use self::doc::{
    ScimBulkRequest, ScimBulkResponse, ScimGroup, ScimGroupRequest, ScimListResponse, ScimPatchOp,
    ScimResource, ScimSearchRequest, ScimUser, ScimUserRequest,
};
use self::error::ErrorDetail;
use self::wire::{Call, Projection, ScimBody};
use crate::auth::principal::Principal;
use crate::engine::scim::error::ScimError;
use crate::engine::scim::schema::Kind;
use crate::http::openapi::{ErrorBody, ScimErrorBody};
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppQuery};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    let scim = OpenApiRouter::new()
        .merge(discovery::routes())
        .routes(routes!(users_list, users_create))
        .routes(routes!(users_search))
        .routes(routes!(users_get, users_put, users_patch, users_delete))
        .routes(routes!(groups_list, groups_create))
        .routes(routes!(groups_search))
        .routes(routes!(groups_get, groups_put, groups_patch, groups_delete))
        .routes(routes!(search_all))
        .routes(routes!(bulk_h))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(wire::MAX_PAYLOAD))
        .layer(middleware::from_fn(log_request));
    // `/api/scim/v2` is the same service under the API prefix, for proxies that pass only
    // `/api`: left out of the document, which lists each operation once.
    let (alias, _) = scim.clone().split_for_parts();
    OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(keys::routes())
        .routes(routes!(log_h))
        .nest("/scim/v2", scim)
        .nest("/api/scim/v2", OpenApiRouter::from(alias))
}

async fn not_found() -> ScimError {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        "no such SCIM endpoint: see /ServiceProviderConfig, /ResourceTypes and /Schemas",
    )
}

/// Every SCIM request ends here: its entry in the request log and, for a write, the mark that
/// the tenant's list caches are stale (after the write committed).
async fn log_request(mut req: Request, next: Next) -> Response {
    let slot = LogSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let who = slot.0.lock().ok().and_then(|g| g.clone());
    if let Some((tenant, token, s)) = who {
        // After the write's commit: what list pages remembered of the tenant is stale.
        if method != "GET" {
            s.scim_lists.written(&tenant);
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

/// Lists the tenant's SCIM users, a page at a time.
///
/// RFC 7644 §3.4.2: `filter`, `sortBy` / `sortOrder`, `startIndex` / `count` (100 by default,
/// at most 1000), `attributes` / `excludedAttributes`.
#[utoipa::path(get, path = "/Users", tag = "scim", security(("scim_token" = [])),
    params(list::Search),
    responses(
        (status = 200, description = "A ListResponse of Users", body = ScimListResponse<ScimUser>,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`: the filter does not parse; `invalidValue`: a query parameter does not parse (`startIndex` and `count` are integers), `sortBy` names no sortable attribute, `sortOrder` is not `ascending` or `descending`, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
async fn users_list(
    State(s): State<AppState>,
    call: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ScimError> {
    list_h(Kind::User, s, call, q).await
}

/// Lists the tenant's SCIM groups, a page at a time.
///
/// RFC 7644 §3.4.2: `filter`, `sortBy` / `sortOrder`, `startIndex` / `count` (100 by default,
/// at most 1000), `attributes` / `excludedAttributes` (`excludedAttributes=members` skips the
/// member lists).
#[utoipa::path(get, path = "/Groups", tag = "scim", security(("scim_token" = [])),
    params(list::Search),
    responses(
        (status = 200, description = "A ListResponse of Groups", body = ScimListResponse<ScimGroup>,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`: the filter does not parse; `invalidValue`: a query parameter does not parse (`startIndex` and `count` are integers), `sortBy` names no sortable attribute, `sortOrder` is not `ascending` or `descending`, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
async fn groups_list(
    State(s): State<AppState>,
    call: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ScimError> {
    list_h(Kind::Group, s, call, q).await
}

/// Searches the tenant's SCIM users with a SearchRequest body (RFC 7644 §3.4.3).
///
/// The same search as `GET /Users`, with the parameters in the body, which keeps filters out of
/// URLs and logs.
#[utoipa::path(post, path = "/Users/.search", tag = "scim", security(("scim_token" = [])),
    request_body(content(
        (ScimSearchRequest = "application/scim+json"),
        (ScimSearchRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A ListResponse of Users", body = ScimListResponse<ScimUser>,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`: `schemas` does not name SearchRequest, or a field has the wrong type; `invalidFilter`: the filter does not parse; `invalidValue`: `sortBy` names no sortable attribute, `sortOrder` is not `ascending` or `descending`, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
async fn users_search(
    State(s): State<AppState>,
    call: Call,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    search_h(Kind::User, s, call, b).await
}

/// Searches the tenant's SCIM groups with a SearchRequest body (RFC 7644 §3.4.3).
///
/// The same search as `GET /Groups`, with the parameters in the body.
#[utoipa::path(post, path = "/Groups/.search", tag = "scim", security(("scim_token" = [])),
    request_body(content(
        (ScimSearchRequest = "application/scim+json"),
        (ScimSearchRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A ListResponse of Groups", body = ScimListResponse<ScimGroup>,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`: `schemas` does not name SearchRequest, or a field has the wrong type; `invalidFilter`: the filter does not parse; `invalidValue`: `sortBy` names no sortable attribute, `sortOrder` is not `ascending` or `descending`, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
async fn groups_search(
    State(s): State<AppState>,
    call: Call,
    ScimBody(b): ScimBody,
) -> Result<Response, ScimError> {
    search_h(Kind::Group, s, call, b).await
}

/// Provisions a user (RFC 7644 §3.3).
///
/// The record links to the idbridge account with its email (primary, else work, else first,
/// else a `userName` that is an email): a new account is created when none exists; an existing
/// one is linked only when the tenant's organisation owns it. A record without a usable or
/// linkable email is kept unlinked. Read-only attributes sent (`id`, `meta`, `groups`) are
/// ignored and `password` is discarded.
#[utoipa::path(post, path = "/Users", tag = "scim", security(("scim_token" = [])),
    params(Projection),
    request_body(content(
        (ScimUserRequest = "application/scim+json"),
        (ScimUserRequest = "application/json"),
    )),
    responses(
        (status = 201, description = "The new User", body = ScimUser, content_type = "application/scim+json",
            headers(
                ("ETag" = String, description = "The resource's version, `W/\"1\"`"),
                ("Location" = String, description = "The resource's URL"),
            )),
        (status = 400, description = "`invalidSyntax`: the body is not a JSON object, or `schemas` is not an array with the core User URN; `invalidValue`: `userName` is missing or blank, an attribute has the wrong type, `externalId` is not a string, more than one value is primary, a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: the `userName` is taken in the tenant (case-insensitively)",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// One SCIM user, with its direct groups.
///
/// With `If-None-Match` naming its current version, 304 and no body.
#[utoipa::path(get, path = "/Users/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The User's id"),
        Projection,
        ("If-None-Match" = Option<String>, Header, description = "ETags of copies the client has (`*`: any)"),
    ),
    responses(
        (status = 200, description = "The User", body = ScimUser, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's version, `W/\"n\"`"))),
        (status = 304, description = "The client's copy is current",
            headers(("ETag" = String, description = "The resource's version"))),
        (status = 400, description = "`invalidValue`: a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such User in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
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

/// Replaces a SCIM user (RFC 7644 §3.5.1).
///
/// Attributes the body leaves out are cleared, except `active` (a PUT without it suspends
/// no one). `active: false` deactivates the linked account and ends its sessions at once.
#[utoipa::path(put, path = "/Users/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The User's id"),
        Projection,
        ("If-Match" = Option<String>, Header, description = "Change only this version (an ETag; `*`: any)"),
    ),
    request_body(content(
        (ScimUserRequest = "application/scim+json"),
        (ScimUserRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "The User as stored", body = ScimUser, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's new version"))),
        (status = 400, description = "`invalidSyntax`: the body is not a JSON object, or `schemas` is not an array with the core User URN; `invalidValue`: `userName` is missing or blank, an attribute has the wrong type, `externalId` is not a string, more than one value is primary, a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such User in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: another User of the tenant has the `userName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// Changes a SCIM user with a PatchOp (RFC 7644 §3.5.2).
///
/// `add`, `remove` and `replace` (any case, as Entra ID sends them), with or without a path;
/// every operation applies or none does.
#[utoipa::path(patch, path = "/Users/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The User's id"),
        Projection,
        ("If-Match" = Option<String>, Header, description = "Change only this version (an ETag; `*`: any)"),
    ),
    request_body(content(
        (ScimPatchOp = "application/scim+json"),
        (ScimPatchOp = "application/json"),
    )),
    responses(
        (status = 200, description = "The User as stored", body = ScimUser, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's new version"))),
        (status = 400, description = "`invalidSyntax`: the body is not a PatchOp (`schemas` without the PatchOp URN, `Operations` missing, empty or with an operation that is not an object or has no `op`); `tooMany`: more than 1000 operations; `invalidValue`: an `op` other than add, remove or replace, an operation without the `value` it needs, a value of the wrong type, a blank `userName`, or a query parameter that does not parse; `invalidPath`: a path that does not parse or names no attribute; `invalidFilter`: a value filter in a path that does not parse; `noTarget`: a remove without a path, or a path whose filter matches nothing; `mutability`: a change to a read-only attribute such as `id`, or removing `userName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such User in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: another User of the tenant has the new `userName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// Deprovisions a SCIM user (RFC 7644 §3.6).
///
/// The record goes (a later GET is 404); the linked account leaves the tenant with its roles
/// and sessions, and is deactivated when the tenant's organisation owns it.
#[utoipa::path(delete, path = "/Users/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The User's id"),
        ("If-Match" = Option<String>, Header, description = "Delete only this version (an ETag; `*`: any)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such User in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
async fn users_delete(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    users::delete(&s, &call.client, call.rid.as_deref(), &id, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Provisions a group (RFC 7644 §3.3), with its members.
///
/// `displayName` is unique per tenant, case-insensitively. Members are users and groups of the
/// same tenant, by id; the roles of every user below the group follow its role map.
#[utoipa::path(post, path = "/Groups", tag = "scim", security(("scim_token" = [])),
    params(Projection),
    request_body(content(
        (ScimGroupRequest = "application/scim+json"),
        (ScimGroupRequest = "application/json"),
    )),
    responses(
        (status = 201, description = "The new Group", body = ScimGroup, content_type = "application/scim+json",
            headers(
                ("ETag" = String, description = "The resource's version, `W/\"1\"`"),
                ("Location" = String, description = "The resource's URL"),
            )),
        (status = 400, description = "`invalidSyntax`: the body is not a JSON object, or `schemas` is not an array with the core Group URN; `invalidValue`: `displayName` is missing or blank, an attribute has the wrong type, `externalId` is not a string, a member has no string `value` or is not a user or group of this tenant, a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: a group of the tenant has the `displayName` (case-insensitively)",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// One SCIM group, with its members (unless `excludedAttributes=members`).
///
/// With `If-None-Match` naming its current version, 304 and no body.
#[utoipa::path(get, path = "/Groups/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The Group's id"),
        Projection,
        ("If-None-Match" = Option<String>, Header, description = "ETags of copies the client has (`*`: any)"),
    ),
    responses(
        (status = 200, description = "The Group", body = ScimGroup, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's version, `W/\"n\"`"))),
        (status = 304, description = "The client's copy is current",
            headers(("ETag" = String, description = "The resource's version"))),
        (status = 400, description = "`invalidValue`: a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such Group in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
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

/// Replaces a SCIM group (RFC 7644 §3.5.1), members included.
///
/// The member list becomes exactly the one sent (none sent: none kept); the roles of every user
/// that gained or lost the group are reconciled.
#[utoipa::path(put, path = "/Groups/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The Group's id"),
        Projection,
        ("If-Match" = Option<String>, Header, description = "Change only this version (an ETag; `*`: any)"),
    ),
    request_body(content(
        (ScimGroupRequest = "application/scim+json"),
        (ScimGroupRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "The Group as stored", body = ScimGroup, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's new version"))),
        (status = 400, description = "`invalidSyntax`: the body is not a JSON object, or `schemas` is not an array with the core Group URN; `invalidValue`: `displayName` is missing or blank, an attribute has the wrong type, `externalId` is not a string, a member has no string `value`, is not a user or group of this tenant or is the group itself, a query parameter does not parse, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such Group in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: another group of the tenant has the `displayName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// Changes a SCIM group with a PatchOp (RFC 7644 §3.5.2): attributes and member changes.
///
/// Member additions and removals are set operations (removing a non-member is no error). A
/// PATCH that changes only members answers 204 without a body, unless `attributes` or
/// `excludedAttributes` asks for the group.
#[utoipa::path(patch, path = "/Groups/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The Group's id"),
        Projection,
        ("If-Match" = Option<String>, Header, description = "Change only this version (an ETag; `*`: any)"),
    ),
    request_body(content(
        (ScimPatchOp = "application/scim+json"),
        (ScimPatchOp = "application/json"),
    )),
    responses(
        (status = 200, description = "The Group as stored", body = ScimGroup, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The resource's new version"))),
        (status = 204, description = "Only members changed: the group is not sent back"),
        (status = 400, description = "`invalidSyntax`: the body is not a PatchOp (`schemas` without the PatchOp URN, `Operations` missing, empty or with an operation that is not an object or has no `op`); `tooMany`: more than 1000 operations; `invalidValue`: an `op` other than add, remove or replace, an operation without the `value` it needs, a value of the wrong type, a member without a string `value`, not of this tenant or the group itself, a blank `displayName`, or a query parameter that does not parse; `invalidPath`: a path that does not parse or names no attribute; `invalidFilter`: a value filter in a path that does not parse; `noTarget`: a remove without a path, or a path whose filter matches nothing; `mutability`: a change to a read-only attribute such as `id`, or removing `displayName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such Group in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: another group of the tenant has the new `displayName`",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
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

/// Deletes a SCIM group (RFC 7644 §3.6).
///
/// The roles of every user below it are reconciled; the keys it held stay with it until an
/// admin releases them (`POST /api/scim/group-keys/release`).
#[utoipa::path(delete, path = "/Groups/{id}", tag = "scim", security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The Group's id"),
        ("If-Match" = Option<String>, Header, description = "Delete only this version (an ETag; `*`: any)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 404, description = "No such Group in the tenant", body = ScimErrorBody,
            content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` does not name the current version: nothing changed",
            body = ScimErrorBody, content_type = "application/scim+json"),
    ))]
async fn groups_delete(
    State(s): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    groups::delete(&s, &call.client, call.rid.as_deref(), &id, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Searches users and groups at once (RFC 7644 §3.4.3): Users first, then Groups.
///
/// `totalResults` counts both; `startIndex` and `count` page through the two lists in turn.
#[utoipa::path(post, path = "/.search", tag = "scim", security(("scim_token" = [])),
    request_body(content(
        (ScimSearchRequest = "application/scim+json"),
        (ScimSearchRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A ListResponse of Users, then Groups", body = ScimListResponse<ScimResource>,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`: `schemas` does not name SearchRequest, or a field has the wrong type; `invalidFilter`: the filter does not parse; `invalidValue`: `sortBy` is not sortable for both Users and Groups (`id`, `displayName`, `externalId`, `meta.created`, `meta.lastModified`), `sortOrder` is not `ascending` or `descending`, or an attribute name is longer than 512 characters",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, description = "The token's tenant is suspended or gone", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
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

/// Runs many user and group operations in one request (RFC 7644 §3.7).
///
/// Each operation runs as its own request would, in one transaction of its own; `bulkId:`
/// references resolve to resources created earlier in the request, whatever the order.
/// `failOnErrors` stops after that many failures. Each operation's outcome (its status, and a
/// SCIM error when it failed) is in the 200 answer.
#[utoipa::path(post, path = "/Bulk", tag = "scim", security(("scim_token" = [])),
    request_body(content(
        (ScimBulkRequest = "application/scim+json"),
        (ScimBulkRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A BulkResponse: one result per operation run", body = ScimBulkResponse,
            content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`: the body is not a BulkRequest (not an object, `schemas` without the BulkRequest URN, `Operations` not an array), or an operation has no valid `method` or no `path`, a POST has no `bulkId`, or a `bulkId` is used twice; `invalidValue`: `failOnErrors` is not a positive integer",
            body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 413, description = "More than 1000 operations (`bulk.maxOperations`)", body = ScimErrorBody,
            content_type = "application/scim+json"),
    ))]
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

/// The tenant's last SCIM requests, newest first.
///
/// Method, path, status and error detail of the last 200 requests, so an operator can see why
/// an identity provider reports a failure. No bodies, query strings or tokens; kept in memory on
/// the replica that served the requests.
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(get, path = "/api/scim/log", tag = "scim-admin", params(TenantParam),
    responses(
        (status = 200, body = Page<log::Entry>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn log_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<log::Entry>>> {
    let mut tx = s.store.read().await?;
    let t = crate::rbac::service::tenant_for(&mut tx, &p, q.tenant.as_deref()).await?;
    crate::rbac::service::require(&s, &mut tx, &p, &t, tokens::SCIM.permission).await?;
    Ok(Json(Page::all(s.scim_log.entries(&t.id))))
}

/// The SCIM bodies as the OpenAPI document describes them (RFC 7643 §4, RFC 7644 §3). The
/// handlers work on JSON values (`resource`, `wire`); these types only document them. Attribute
/// names are matched case-insensitively on input; attributes and extensions this server does
/// not know are kept as sent, so every resource allows further properties. In a response, every
/// attribute but `id` and `schemas` can be left out by `attributes` / `excludedAttributes`.
#[allow(dead_code)]
pub mod doc {
    use serde::Serialize;
    use serde_json::Value;
    use utoipa::ToSchema;

    use crate::http::openapi::ScimErrorBody;

    /// A schema URN a client names in a User's `schemas`.
    #[derive(Serialize, ToSchema)]
    pub enum ScimUserUrn {
        #[serde(rename = "urn:ietf:params:scim:schemas:core:2.0:User")]
        User,
        #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
        EnterpriseUser,
    }

    /// The schema URN of a Group.
    #[derive(Serialize, ToSchema)]
    pub enum ScimGroupUrn {
        #[serde(rename = "urn:ietf:params:scim:schemas:core:2.0:Group")]
        Group,
    }

    /// The components of a user's real name.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimName {
        formatted: Option<String>,
        family_name: Option<String>,
        given_name: Option<String>,
        middle_name: Option<String>,
        honorific_prefix: Option<String>,
        honorific_suffix: Option<String>,
    }

    /// One value of a multi-valued attribute (`emails`, `phoneNumbers`, `ims`, `photos`,
    /// `entitlements`, `roles`, `x509Certificates`).
    #[derive(Serialize, ToSchema)]
    pub struct ScimMultiValue {
        value: Option<String>,
        display: Option<String>,
        /// A label such as `work`, `home` or `other`.
        #[serde(rename = "type")]
        kind: Option<String>,
        /// At most one value of an attribute is primary. Entra ID's `"True"` / `"False"` are
        /// accepted too.
        primary: Option<bool>,
    }

    /// A physical mailing address.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimAddress {
        formatted: Option<String>,
        street_address: Option<String>,
        locality: Option<String>,
        region: Option<String>,
        postal_code: Option<String>,
        country: Option<String>,
        /// `work`, `home` or `other`.
        #[serde(rename = "type")]
        kind: Option<String>,
        primary: Option<bool>,
    }

    /// A user's manager (Enterprise User extension).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimManager {
        /// The id of the manager's User.
        value: Option<String>,
        #[serde(rename = "$ref")]
        reference: Option<String>,
        /// Read-only.
        display_name: Option<String>,
    }

    /// The Enterprise User extension (RFC 7643 §4.3).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimEnterpriseUser {
        employee_number: Option<String>,
        cost_center: Option<String>,
        organization: Option<String>,
        division: Option<String>,
        department: Option<String>,
        manager: Option<ScimManager>,
    }

    /// The attributes of a User that a client writes (RFC 7643 §4.1), besides `userName`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimUserAttributes {
        /// The client's identifier of the user (case-exact).
        external_id: Option<String>,
        name: Option<ScimName>,
        display_name: Option<String>,
        nick_name: Option<String>,
        profile_url: Option<String>,
        title: Option<String>,
        user_type: Option<String>,
        preferred_language: Option<String>,
        locale: Option<String>,
        /// An IANA time zone, e.g. `Europe/Paris`.
        timezone: Option<String>,
        /// The user's administrative status (default true): false deactivates the linked
        /// account and ends its sessions at once. Entra ID's `"True"` / `"False"` are accepted
        /// too.
        active: Option<bool>,
        /// The primary one (else the `work` one, else the first) links the record to an
        /// idbridge account.
        emails: Option<Vec<ScimMultiValue>>,
        phone_numbers: Option<Vec<ScimMultiValue>>,
        ims: Option<Vec<ScimMultiValue>>,
        photos: Option<Vec<ScimMultiValue>>,
        addresses: Option<Vec<ScimAddress>>,
        /// Stored, never turned into permissions.
        entitlements: Option<Vec<ScimMultiValue>>,
        /// Stored, never turned into permissions: roles come from groups.
        roles: Option<Vec<ScimMultiValue>>,
        x509_certificates: Option<Vec<ScimMultiValue>>,
        #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
        enterprise_user: Option<ScimEnterpriseUser>,
    }

    /// A User as a client sends it (`POST /Users`, `PUT /Users/{id}`). Read-only attributes sent
    /// (`id`, `meta`, `groups`) are ignored.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[schema(example = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "alice@example.com",
        "externalId": "00u1a2b3c4",
        "name": {"givenName": "Alice", "familyName": "Martin"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "active": true
    }))]
    pub struct ScimUserRequest {
        /// Optional; when sent, it contains the core User URN.
        #[schema(required = false, min_items = 1)]
        schemas: Vec<ScimUserUrn>,
        /// Unique in the tenant, case-insensitively; not blank.
        #[schema(min_length = 1, pattern = r"\S")]
        user_name: String,
        /// Accepted and discarded: idbridge users sign in through SSO.
        #[schema(write_only)]
        password: Option<String>,
        #[serde(flatten)]
        attributes: ScimUserAttributes,
    }

    /// A group a user is a direct member of.
    #[derive(Serialize, ToSchema)]
    pub struct ScimGroupRef {
        /// The Group's id.
        #[schema(required = false)]
        value: String,
        #[serde(rename = "$ref")]
        #[schema(required = false)]
        reference: String,
        /// The Group's displayName.
        #[schema(required = false)]
        display: String,
        /// `direct`.
        #[serde(rename = "type")]
        #[schema(required = false)]
        kind: String,
    }

    /// The metadata of a resource.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimMeta {
        /// `User` or `Group`.
        #[schema(required = false)]
        resource_type: String,
        #[schema(required = false, format = DateTime)]
        created: String,
        #[schema(required = false, format = DateTime)]
        last_modified: String,
        /// The resource's URL.
        #[schema(required = false)]
        location: String,
        /// The resource's ETag, `W/"n"`.
        #[schema(required = false)]
        version: String,
    }

    /// A User as the gateway returns it.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimUser {
        /// The core User URN, then the URN of every extension the resource carries.
        schemas: Vec<String>,
        id: String,
        #[schema(required = false)]
        user_name: String,
        #[serde(flatten)]
        attributes: ScimUserAttributes,
        /// The groups the user is a direct member of (read-only; nested groups still give their
        /// roles).
        #[schema(required = false)]
        groups: Vec<ScimGroupRef>,
        #[schema(required = false)]
        meta: ScimMeta,
    }

    /// A member as a client sends it.
    #[derive(Serialize, ToSchema)]
    pub struct ScimMemberRequest {
        /// The id of a User or Group of the tenant.
        value: String,
        /// Echoed back as sent.
        display: Option<String>,
    }

    /// A Group as a client sends it (`POST /Groups`, `PUT /Groups/{id}`).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[schema(example = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "externalId": "a1b2c3",
        "members": []
    }))]
    pub struct ScimGroupRequest {
        /// Optional; when sent, it contains the core Group URN.
        #[schema(required = false, min_items = 1)]
        schemas: Vec<ScimGroupUrn>,
        /// Unique in the tenant, case-insensitively; not blank. Group role maps match it.
        #[schema(min_length = 1, pattern = r"\S")]
        display_name: String,
        /// The client's identifier of the group (case-exact). Group role maps match it too.
        external_id: Option<String>,
        /// Users and groups of the tenant. On PUT, the whole member list (none sent: none kept).
        members: Option<Vec<ScimMemberRequest>>,
    }

    /// A member of a group.
    #[derive(Serialize, ToSchema)]
    pub struct ScimMember {
        /// The member's id.
        #[schema(required = false)]
        value: String,
        #[serde(rename = "$ref")]
        #[schema(required = false)]
        reference: String,
        /// `User` or `Group`.
        #[serde(rename = "type")]
        #[schema(required = false)]
        kind: String,
        /// The display text the client sent with the member.
        #[schema(required = false)]
        display: String,
    }

    /// A Group as the gateway returns it.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimGroup {
        /// `["urn:ietf:params:scim:schemas:core:2.0:Group"]`, with the URN of any extension the
        /// resource carries.
        schemas: Vec<String>,
        id: String,
        #[schema(required = false)]
        display_name: String,
        #[schema(required = false)]
        external_id: String,
        /// Left out when the group has none.
        #[schema(required = false)]
        members: Vec<ScimMember>,
        #[schema(required = false)]
        meta: ScimMeta,
    }

    /// A User or a Group (see `ScimUser` and `ScimGroup`).
    #[derive(Serialize, ToSchema)]
    pub struct ScimResource {
        schemas: Vec<String>,
        id: String,
        #[schema(required = false)]
        meta: ScimMeta,
    }

    /// A ListResponse (RFC 7644 §3.4.2).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimListResponse<T> {
        /// `["urn:ietf:params:scim:api:messages:2.0:ListResponse"]`.
        schemas: Vec<String>,
        /// How many resources match, on every page.
        total_results: i64,
        /// The 1-based index of the first resource of this page.
        start_index: i64,
        /// How many resources this page holds.
        items_per_page: i64,
        #[serde(rename = "Resources")]
        resources: Vec<T>,
    }

    /// The SearchRequest URN.
    #[derive(Serialize, ToSchema)]
    pub enum ScimSearchUrn {
        #[serde(rename = "urn:ietf:params:scim:api:messages:2.0:SearchRequest")]
        SearchRequest,
    }

    /// The order of a search's results.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum ScimSortOrder {
        Ascending,
        Descending,
    }

    /// A SearchRequest (RFC 7644 §3.4.3): the list query parameters, in a body.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[schema(example = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName eq \"alice@example.com\"",
        "attributes": ["userName", "emails"],
        "startIndex": 1,
        "count": 10
    }))]
    pub struct ScimSearchRequest {
        /// Optional; when sent, it contains the SearchRequest URN.
        #[schema(required = false, min_items = 1)]
        schemas: Vec<ScimSearchUrn>,
        /// Attribute paths to return (with `id` and `schemas`); a comma-separated string is
        /// accepted too.
        attributes: Option<Vec<String>>,
        /// Attribute paths to leave out; a comma-separated string is accepted too.
        excluded_attributes: Option<Vec<String>>,
        /// An RFC 7644 §3.4.2.2 filter, e.g. `userName eq "alice@example.com"`.
        filter: Option<String>,
        /// `id` (the default), `userName` (Users), `displayName`, `externalId`, `meta.created`
        /// or `meta.lastModified`.
        sort_by: Option<String>,
        /// `ascending` (the default) or `descending`, in any case.
        sort_order: Option<ScimSortOrder>,
        /// The 1-based index of the first result (default 1; below 1 is 1).
        start_index: Option<i64>,
        /// The page size (default 100; negative is 0; above 1000 is 1000).
        count: Option<i64>,
    }

    /// The PatchOp URN.
    #[derive(Serialize, ToSchema)]
    pub enum ScimPatchUrn {
        #[serde(rename = "urn:ietf:params:scim:api:messages:2.0:PatchOp")]
        PatchOp,
    }

    /// A PATCH operation's kind, in any case (`Add`, `Replace` and `Remove` from Entra ID).
    #[derive(Serialize, ToSchema)]
    pub enum ScimPatchKind {
        #[serde(rename = "add")]
        Add,
        #[serde(rename = "remove")]
        Remove,
        #[serde(rename = "replace")]
        Replace,
        #[serde(rename = "Add")]
        AddCapitalised,
        #[serde(rename = "Remove")]
        RemoveCapitalised,
        #[serde(rename = "Replace")]
        ReplaceCapitalised,
    }

    /// One PATCH operation (RFC 7644 §3.5.2).
    #[derive(Serialize, ToSchema)]
    pub struct ScimPatchOperation {
        op: ScimPatchKind,
        /// An attribute path, e.g. `name.givenName`, `emails[type eq "work"].value`, `members`,
        /// or an extension URN. Without one, `value` is an object of attributes to set.
        path: Option<String>,
        /// The new value (needed by add and replace); for `remove` of members, the members to
        /// remove.
        value: Option<Value>,
    }

    /// A PatchOp body (RFC 7644 §3.5.2).
    #[derive(Serialize, ToSchema)]
    #[schema(example = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]
    }))]
    pub struct ScimPatchOp {
        /// Optional; when sent, it contains the PatchOp URN.
        #[schema(required = false, min_items = 1)]
        schemas: Vec<ScimPatchUrn>,
        /// Applied in order; all or none. At most 1000.
        #[serde(rename = "Operations")]
        #[schema(min_items = 1, max_items = 1000)]
        operations: Vec<ScimPatchOperation>,
    }

    /// The BulkRequest URN.
    #[derive(Serialize, ToSchema)]
    pub enum ScimBulkUrn {
        #[serde(rename = "urn:ietf:params:scim:api:messages:2.0:BulkRequest")]
        BulkRequest,
    }

    /// The method of a bulk operation, in any case.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum ScimBulkMethod {
        Post,
        Put,
        Patch,
        Delete,
    }

    /// One operation of a BulkRequest.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimBulkOperation {
        method: ScimBulkMethod,
        /// `/Users`, `/Groups` (POST) or `/Users/{id}`, `/Groups/{id}`; `bulkId:<id>` names a
        /// resource created by this request.
        path: String,
        /// Needed by POST, unique in the request: other operations refer to the created
        /// resource as `bulkId:<bulkId>`.
        bulk_id: Option<String>,
        /// An ETag the resource must have (as `If-Match`).
        version: Option<String>,
        /// The body of the operation (a User, a Group or a PatchOp); needed by POST, PUT and
        /// PATCH.
        data: Option<Value>,
    }

    /// A BulkRequest (RFC 7644 §3.7).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[schema(example = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{
            "method": "POST", "path": "/Users", "bulkId": "u1",
            "data": {"userName": "bob@example.com"}
        }]
    }))]
    pub struct ScimBulkRequest {
        #[schema(min_items = 1)]
        schemas: Vec<ScimBulkUrn>,
        /// Stop after this many failed operations (default: run them all).
        #[schema(minimum = 1)]
        fail_on_errors: Option<i64>,
        /// At most 1000 (`bulk.maxOperations`).
        #[serde(rename = "Operations")]
        operations: Vec<ScimBulkOperation>,
    }

    /// The outcome of one bulk operation.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScimBulkResult {
        /// The method, upper-cased.
        method: String,
        #[schema(required = false)]
        bulk_id: String,
        /// The resource's URL.
        #[schema(required = false)]
        location: String,
        /// The resource's new ETag.
        #[schema(required = false)]
        version: String,
        /// The HTTP status the operation had, as a string (`"201"`, `"409"`, ...).
        status: String,
        /// The SCIM error of a failed operation.
        #[schema(required = false)]
        response: ScimErrorBody,
    }

    /// A BulkResponse (RFC 7644 §3.7): the result of every operation run, in request order.
    /// Operations not run because `failOnErrors` was reached are left out.
    #[derive(Serialize, ToSchema)]
    pub struct ScimBulkResponse {
        /// `["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]`.
        schemas: Vec<String>,
        #[serde(rename = "Operations")]
        operations: Vec<ScimBulkResult>,
    }
}
