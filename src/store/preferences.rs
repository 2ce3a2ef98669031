//! Console preferences, one document per user.

use super::Conn;
use crate::domain::Preferences;
use crate::error::{Error, Result};
use crate::on_conn;

/// The user's stored preferences, checked as a client's would be; `None` when none are stored.
pub async fn get(c: Conn<'_>, user_id: &str) -> Result<Option<Preferences>> {
    let row: Option<(String,)> = on_conn!(c, |c| sqlx::query_as(
        "SELECT preferences FROM user_preferences WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    row.map(|(text,)| Preferences::from_stored(&text))
        .transpose()
}

/// Replaces the user's preferences.
pub async fn put(c: Conn<'_>, user_id: &str, p: &Preferences, now_ms: i64) -> Result<()> {
    let text = serde_json::to_string(p).map_err(Error::internal)?;
    on_conn!(c, |c| sqlx::query(
        "INSERT INTO user_preferences (user_id, preferences, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET preferences = $2, updated_at = $3"
    )
    .bind(user_id)
    .bind(&text)
    .bind(now_ms)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}
