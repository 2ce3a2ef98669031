//! SCIM authentication: `Authorization: Bearer <SCIM token>` only. The token (stored as SHA-256,
//! looked up by its hash) decides the tenant; cookies, sessions, access tokens and integration
//! tokens are never accepted here, and SCIM tokens are never accepted by `/api`.

use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::engine::scim::error::ScimError;
use crate::state::AppState;

/// Filled by [`ScimClient`] when it authenticates (tenant, token name, state), read by the
/// request log.
#[derive(Clone, Default)]
pub struct LogSlot(pub Arc<Mutex<Option<(String, String, AppState)>>>);

/// The tenant a SCIM request acts on, and the token that authenticated it.
#[derive(Debug, Clone)]
pub struct ScimClient {
    pub tenant_id: String,
    pub token_id: String,
    pub token_name: String,
}

impl FromRequestParts<AppState> for ScimClient {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let addr = crate::http::client::client_addr(s, parts);
        s.throttle.client_auth_allowed(addr, &s.metrics)?;
        let token = crate::auth::bearer::of(&parts.headers).filter(|t| t.len() <= 256);
        let row = match token {
            Some(t) => crate::tokens::api_tokens::authenticate(s, t, &super::tokens::SCIM)
                .await
                .map_err(ScimError::from)?,
            None => None,
        };
        let Some(row) = row else {
            s.throttle.client_auth_failed(addr);
            return Err(ScimError::unauthorized());
        };
        s.throttle.scim_request(&row.id, &s.metrics)?;
        crate::http::access::RequestTenant::record(parts, &row.tenant_id);
        if let Some(slot) = parts.extensions.get::<LogSlot>()
            && let Ok(mut g) = slot.0.lock()
        {
            *g = Some((row.tenant_id.clone(), row.name.clone(), s.clone()));
        }
        Ok(ScimClient {
            tenant_id: row.tenant_id,
            token_id: row.id,
            token_name: row.name,
        })
    }
}
