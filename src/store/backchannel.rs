//! Back-channel logout bookkeeping: which clients hold an ID token for a session, and the outbox
//! of logout tokens to deliver when sessions end.

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub session_id: String,
    pub client_id: String,
    pub user_id: String,
    pub uri: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// Remembers that `client_id` received an ID token for the session (idempotent).
pub async fn record_client_session(
    c: Conn<'_>,
    session_id: &str,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "INSERT INTO oidc_client_sessions (session_id, client_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
    )
    .bind(session_id)
    .bind(client_id)
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

const ENQUEUE: &str = "INSERT INTO backchannel_outbox \
     (session_id, client_id, user_id, uri, attempts, next_attempt_at, created_at) \
     SELECT cs.session_id, cs.client_id, cs.user_id, c.backchannel_logout_uri, 0, $2, $2 \
     FROM oidc_client_sessions cs \
     JOIN sessions s ON s.id = cs.session_id \
     JOIN oauth_clients c ON c.id = cs.client_id \
     WHERE s.revoked_at IS NULL AND c.backchannel_logout_uri IS NOT NULL AND ";

/// Queues a logout token for every client of a live session about to be revoked. Called in the
/// revoking transaction, before the revocation itself.
pub async fn enqueue_for_session(c: Conn<'_>, session_id: &str, now: i64) -> Result<u64> {
    let sql = format!("{ENQUEUE} s.id = $1 ON CONFLICT DO NOTHING");
    Ok(on_conn!(c, |c| sqlx::query(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(session_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// The same for every live session of a user ("sign out everywhere", deactivation, deletion).
pub async fn enqueue_for_user(c: Conn<'_>, user_id: &str, now: i64) -> Result<u64> {
    let sql = format!("{ENQUEUE} s.user_id = $1 ON CONFLICT DO NOTHING");
    Ok(on_conn!(c, |c| sqlx::query(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Deliveries that are due (index on `next_attempt_at`).
pub async fn due(c: Conn<'_>, now: i64, limit: i64) -> Result<Vec<OutboxRow>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, OutboxRow>(
        "SELECT session_id, client_id, user_id, uri, attempts, next_attempt_at \
         FROM backchannel_outbox WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// Claims a due row for one attempt: moves it to `lease_until` unless another replica already
/// did (optimistic: the row must still carry the `next_attempt_at` it was read with).
pub async fn claim(c: Conn<'_>, row: &OutboxRow, lease_until: i64) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "UPDATE backchannel_outbox SET next_attempt_at = $4, attempts = attempts + 1 \
         WHERE session_id = $1 AND client_id = $2 AND next_attempt_at = $3"
    )
    .bind(&row.session_id)
    .bind(&row.client_id)
    .bind(row.next_attempt_at)
    .bind(lease_until)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Removes a delivered (or abandoned) row.
pub async fn remove(c: Conn<'_>, session_id: &str, client_id: &str) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "DELETE FROM backchannel_outbox WHERE session_id = $1 AND client_id = $2"
    )
    .bind(session_id)
    .bind(client_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Schedules the next attempt after a failure.
pub async fn reschedule(
    c: Conn<'_>,
    session_id: &str,
    client_id: &str,
    next_attempt_at: i64,
    error: &str,
) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE backchannel_outbox SET next_attempt_at = $3, last_error = $4 \
         WHERE session_id = $1 AND client_id = $2"
    )
    .bind(session_id)
    .bind(client_id)
    .bind(next_attempt_at)
    .bind(error)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Housekeeping: forgets client sessions whose session row is gone.
pub async fn purge_orphans(c: Conn<'_>) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "DELETE FROM oidc_client_sessions WHERE NOT EXISTS \
         (SELECT 1 FROM sessions s WHERE s.id = oidc_client_sessions.session_id)"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}
