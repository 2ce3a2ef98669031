//! `/api/keys` (signing keys, platform admins). `/auth/verify` is routed in `http::router`, on
//! its own lean stack.

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

use super::keys;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiResult, RequestId};
use crate::state::AppState;
use crate::store;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/keys", get(list_h))
        .route("/api/keys/rotate", post(rotate_h))
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: String,
    #[serde(with = "crate::clock::serde_rfc3339")]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    pub activated_at: Option<i64>,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    pub retired_at: Option<i64>,
}

fn platform_admin(p: &Principal) -> Result<()> {
    if p.is_platform_admin() {
        Ok(())
    } else {
        Err(Error::forbidden(
            "platform_admin_required",
            "only platform administrators manage signing keys",
        ))
    }
}

pub async fn list(state: &AppState, p: &Principal) -> Result<Vec<KeyView>> {
    platform_admin(p)?;
    let mut c = state.store.acquire().await?;
    Ok(store::keys::published(c.conn())
        .await?
        .into_iter()
        .map(|k| KeyView {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Promote the next key even if it was published less than one JWKS cache lifetime ago.
    #[serde(default)]
    pub force: bool,
}

pub async fn rotate(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: RotateRequest,
) -> Result<keys::Rotation> {
    platform_admin(p)?;
    let now = state.now_ms();
    let rotation = keys::rotate_now(
        &state.store,
        &state.master_key,
        &state.key_policy,
        now,
        req.force,
    )
    .await?;
    let mut tx = state.store.begin().await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: None,
            action: "keys.rotate",
            target_type: "signing_key",
            target_id: Some(&rotation.active),
            before: rotation
                .retired
                .as_ref()
                .map(|k| serde_json::json!({"active": k})),
            after: Some(serde_json::json!({"active": rotation.active, "next": rotation.next})),
        },
    )
    .await?;
    tx.commit().await?;
    state.keys.reload(&state.store, &state.master_key).await?;
    Ok(rotation)
}

async fn list_h(State(s): State<AppState>, p: Principal) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        serde_json::json!({"items": list(&s, &p).await?, "next_cursor": null}),
    ))
}

/// The body is optional: an empty POST rotates without `force`.
async fn rotate_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    body: axum::body::Bytes,
) -> ApiResult<Json<keys::Rotation>> {
    let req: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Error::invalid("invalid_json", e.to_string()))?
    };
    Ok(Json(rotate(&s, &p, rid.0.as_deref(), req).await?))
}
