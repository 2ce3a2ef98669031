//! Sessions: one row per sign-in; the cookie carries a random token whose SHA-256 is stored.

use super::{Conn, Counter, Tx};
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub tenant_id: String,
    pub session_version: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `password`, `invite` or `sso`.
    pub method: String,
    /// The SSO connection of an `sso` session.
    pub connection_id: Option<String>,
}

/// What authenticating a request needs, in one query: the session, the user's state and the
/// RBAC generation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionAuth {
    pub session_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub session_version: i64,
    pub user_session_version: i64,
    pub user_status: crate::domain::UserStatus,
    pub platform_admin: bool,
    pub email: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub method: String,
}

const AUTH: &str = "SELECT s.id AS session_id, s.user_id, s.tenant_id, s.expires_at, s.revoked_at, s.session_version, \
     u.session_version AS user_session_version, u.status AS user_status, u.platform_admin, u.email, u.first_name, u.last_name, \
     s.method \
     FROM sessions s JOIN users u ON u.id = s.user_id";

pub async fn insert(c: Conn<'_>, s: &SessionRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, tenant_id, session_version, created_at, expires_at, last_seen_at, revoked_at, ip, user_agent, method, connection_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(&s.id)
    .bind(&s.token_hash)
    .bind(&s.user_id)
    .bind(&s.tenant_id)
    .bind(s.session_version)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.last_seen_at)
    .bind(s.revoked_at)
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(&s.method)
    .bind(&s.connection_id)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn auth_by_token(c: Conn<'_>, token_hash: &str) -> Result<Option<SessionAuth>> {
    let sql = format!("{AUTH} WHERE s.token_hash = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, SessionAuth>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await)?)
}

pub async fn auth_by_id(c: Conn<'_>, id: &str) -> Result<Option<SessionAuth>> {
    let sql = format!("{AUTH} WHERE s.id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, SessionAuth>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Revokes one session; queues back-channel logout tokens for the clients it signed in to.
pub async fn revoke(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    tx.bump(Counter::Auth).await?;
    super::backchannel::enqueue_for_session(tx.conn(), id, now).await?;
    let n = on_conn!(tx.conn(), |c| sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Revokes every session of the user; moves the `auth` generation so that forward auth on every
/// replica drops what it verified; queues back-channel logout tokens.
pub async fn revoke_all_for_user(tx: &mut Tx, user_id: &str, now: i64) -> Result<u64> {
    tx.bump(Counter::Auth).await?;
    super::backchannel::enqueue_for_user(tx.conn(), user_id, now).await?;
    let n = on_conn!(tx.conn(), |c| sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL"
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// Revokes the user's live sessions whose current tenant is one of `tenant_ids` (offboarding
/// from one organisation); returns how many.
pub async fn revoke_for_user_in(
    tx: &mut Tx,
    user_id: &str,
    tenant_ids: &[String],
    now: i64,
) -> Result<u64> {
    if tenant_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND tenant_id IN ({})",
        super::stmt::marks(2, tenant_ids.len())
    );
    let ids: Vec<String> = on_conn!(tx.conn(), |c| {
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.as_str())).bind(user_id);
        for t in tenant_ids {
            q = q.bind(t);
        }
        q.fetch_all(c).await
    })?;
    for id in &ids {
        revoke(tx, id, now).await?;
    }
    Ok(ids.len() as u64)
}

pub async fn set_tenant(tx: &mut Tx, id: &str, tenant_id: &str) -> Result<()> {
    tx.bump(Counter::Auth).await?;
    on_conn!(tx.conn(), |c| sqlx::query(
        "UPDATE sessions SET tenant_id = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes sessions that ended more than `before` ago (housekeeping).
pub async fn purge(c: Conn<'_>, before: i64) -> Result<u64> {
    let n = on_conn!(c, |c| {
        sqlx::query(
        "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)"
    )
    .bind(before)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// When the session signed in (OIDC `auth_time`).
pub async fn created_at(c: Conn<'_>, id: &str) -> Result<Option<i64>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT created_at FROM sessions WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}
