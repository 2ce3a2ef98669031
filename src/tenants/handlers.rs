//! `/api/tenants/*`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::TenantView;
use super::{domains, service};
use crate::auth::principal::Principal;
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/tenants", get(list).post(create))
        .route("/api/tenants/{slug}", get(detail).patch(patch))
        .route("/api/tenants/{slug}/members", get(members).post(add_member))
        .route(
            "/api/tenants/{slug}/members/{user_id}",
            delete(remove_member),
        )
        .route("/api/domains", get(domains_list).post(domains_claim))
        .route("/api/domains/conflicts", get(domains_conflicts))
        .route("/api/domains/{id}", delete(domains_delete))
        .route("/api/domains/{id}/verify", post(domains_verify))
}

async fn domains_list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<crate::users::service::TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": domains::list(&s, &p, q.tenant.as_deref()).await?, "next_cursor": null}),
    ))
}

async fn domains_claim(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<domains::Claim>,
) -> ApiResult<(StatusCode, Json<domains::DomainView>)> {
    Ok((
        StatusCode::CREATED,
        Json(domains::claim(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// The body is optional (`{"method": "admin"}` for a platform admin's verification).
async fn domains_verify(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<domains::DomainView>> {
    let req: domains::Verify = if body.iter().all(u8::is_ascii_whitespace) {
        domains::Verify::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| crate::error::Error::invalid("invalid_json", e.to_string()))?
    };
    Ok(Json(
        domains::verify(&s, &p, rid.0.as_deref(), &id, req).await?,
    ))
}

async fn domains_delete(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    domains::delete(&s, &p, rid.0.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn domains_conflicts(
    State(s): State<AppState>,
    p: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": domains::conflicts(&s, &p).await?, "next_cursor": null}),
    ))
}

async fn list(State(s): State<AppState>, p: Principal) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": service::list(&s, &p).await?, "next_cursor": null}),
    ))
}

async fn create(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<service::CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(slug): Path<String>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(service::get(&s, &p, &slug).await?))
}

async fn patch(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(slug): Path<String>,
    AppJson(body): AppJson<service::PatchTenant>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(
        service::patch(&s, &p, rid.0.as_deref(), &slug, body).await?,
    ))
}

async fn members(
    State(s): State<AppState>,
    p: Principal,
    Path(slug): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": service::members(&s, &p, &slug).await?, "next_cursor": null}),
    ))
}

async fn add_member(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(slug): Path<String>,
    AppJson(body): AppJson<service::AddMember>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    Ok(
        match service::add_member(&s, &p, rid.0.as_deref(), &slug, body).await? {
            service::Added::Member(v) => (StatusCode::CREATED, Json(v)).into_response(),
            service::Added::Invited(i) => (StatusCode::ACCEPTED, Json(i)).into_response(),
        },
    )
}

async fn remove_member(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path((slug, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    service::remove_member(&s, &p, rid.0.as_deref(), &slug, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
