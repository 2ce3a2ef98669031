//! `GET /api/audit`: the tenant's audit trail, newest first, keyset-paginated.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::EventView;
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppQuery};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, audit::AuditQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/api/audit", get(list_h))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub tenant: Option<String>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub page_size: Option<i64>,
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

async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<AuditParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let (items, next) = list(&s, &p, q).await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}
