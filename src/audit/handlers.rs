//! `GET /api/audit`: the tenant's audit trail, newest first, keyset-paginated.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::EventView;
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::openapi::ErrorBody;
use crate::http::page::Page;
use crate::http::{ApiResult, AppQuery};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, audit::AuditQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_h))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The tenant's slug; default: the caller's current tenant.
    pub tenant: Option<String>,
    /// Only events of this action (`user.create`, `role.assign`, ...).
    pub action: Option<String>,
    /// Only events by this actor (a user or token id).
    pub actor_id: Option<String>,
    /// Only events about this target id.
    pub target_id: Option<String>,
    /// 1 to 500 (default 50).
    pub page_size: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    q: AuditParams,
) -> Result<(Vec<EventView>, Option<String>)> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, q.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &t, "audit:read").await?;
    let limit = q.page_size.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::invalid_field(
            "invalid_page_size",
            "page_size",
            "page_size must be between 1 and 500",
        ));
    }
    let before = match &q.cursor {
        None => None,
        Some(c) => {
            let bad = || Error::invalid_field("invalid_cursor", "cursor", "cursor is not valid");
            let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
            let s = String::from_utf8(raw).map_err(|_| bad())?;
            let (at, id) = s.split_once('|').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, id.to_string()))
        }
    };
    let query = AuditQuery {
        tenant_id: Some(t.id.clone()),
        action: q.action,
        actor_id: q.actor_id,
        target_id: q.target_id,
        before,
        limit: limit + 1,
    };
    let mut rows = store::audit::list(tx.conn(), &query).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last()
            .map(|r| URL_SAFE_NO_PAD.encode(format!("{}|{}", r.at, r.id)))
    } else {
        None
    };
    Ok((rows.into_iter().map(EventView::from).collect(), next))
}

/// The tenant's audit trail, newest first, a page at a time.
///
/// Permission: `audit:read` in the tenant.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, body = Page<EventView>),
        (status = 400, description = "`invalid_page_size`, `invalid_cursor`", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<AuditParams>,
) -> ApiResult<Json<Page<EventView>>> {
    let (items, next_cursor) = list(&s, &p, q).await?;
    Ok(Json(Page { items, next_cursor }))
}
