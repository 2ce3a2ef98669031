//! `/api/keys` (signing keys, platform admins). `/auth/verify` is routed in `http::router`, on
//! its own lean stack.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::keys;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::openapi::ErrorBody;
use crate::http::page::Page;
use crate::http::{ApiResult, RequestId};
use crate::state::AppState;
use crate::store;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_h))
        .routes(routes!(rotate_h))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// The key id (`kid` of the JWK and of the tokens it signs).
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// `next` (published, not signing yet), `active` (signing) or `retired` (published until
    /// the tokens it signed expire).
    pub state: String,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub activated_at: Option<i64>,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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

/// The published signing keys: the next, the active and the retired ones, newest first.
///
/// Permission: platform administrators only.
#[utoipa::path(get, path = "/api/keys", tag = "tokens",
    responses(
        (status = 200, body = Page<KeyView>),
        (status = 403, description = "`platform_admin_required`", body = ErrorBody),
    ))]
async fn list_h(State(s): State<AppState>, p: Principal) -> ApiResult<Json<Page<KeyView>>> {
    Ok(Json(Page::all(list(&s, &p).await?)))
}

/// Rotates the signing keys now: the next key signs, the active one retires, a new next key is
/// published.
///
/// The body is optional: an empty POST rotates without `force`. Without `force` the rotation
/// is refused while the next key is younger than one JWKS cache lifetime (verifiers may not
/// know it yet). The body is parsed as JSON whatever its `Content-Type`.
///
/// Permission: platform administrators only.
#[utoipa::path(post, path = "/api/keys/rotate", tag = "tokens",
    request_body(content = Option<RotateRequest>, description = "Optional: `{\"force\": true}` promotes the next key even if verifiers may not have fetched it yet"),
    responses(
        (status = 200, body = keys::Rotation),
        (status = 400, description = "`invalid_json`: the body is neither empty nor the JSON of this operation", body = ErrorBody),
        (status = 403, description = "`platform_admin_required`", body = ErrorBody),
        (status = 409, description = "`next_key_too_new`: the next key was published less than one JWKS cache lifetime ago; rotate later, or with `force`", body = ErrorBody),
        (status = 413, description = "The body is larger than `server.body_limit_bytes` (a plain-text answer: the body is read as bytes)", content_type = "text/plain", body = String),
    ))]
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
