//! A person's console preferences (`/api/me/preferences`): read and replaced by that person only,
//! whatever their role; an integration token, which is nobody, has none.

use crate::auth::principal::Principal;
use crate::domain::Preferences;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

fn person(p: &Principal) -> Result<&str> {
    p.user_id().ok_or_else(|| {
        Error::forbidden(
            "user_required",
            "preferences belong to a person: call with a user's session or access token, not an integration token",
        )
    })
}

/// The caller's preferences; an empty document when none are stored.
pub async fn get(state: &AppState, p: &Principal) -> Result<Preferences> {
    let user = person(p)?;
    let mut c = state.store.acquire().await?;
    Ok(store::preferences::get(c.conn(), user)
        .await?
        .unwrap_or_default())
}

/// Replaces the caller's preferences with `body`, parsed whole first.
pub async fn put(state: &AppState, p: &Principal, body: serde_json::Value) -> Result<Preferences> {
    let user = person(p)?;
    let prefs = Preferences::parse(body)?;
    let mut tx = state.store.begin().await?;
    store::preferences::put(tx.conn(), user, &prefs, state.now_ms()).await?;
    tx.commit().await?;
    Ok(prefs)
}
