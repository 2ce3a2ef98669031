//! Signing keys (private half sealed with the master key).

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_sealed: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

pub async fn insert(c: Conn<'_>, k: &KeyRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.state)
    .bind(&k.private_sealed)
    .bind(&k.public_jwk)
    .bind(k.created_at)
    .bind(k.activated_at)
    .bind(k.retired_at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Keys that are not retired, newest first.
pub async fn live(c: Conn<'_>) -> Result<Vec<KeyRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, KeyRow>(
        "SELECT kid, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at FROM signing_keys \
         WHERE state <> 'retired' ORDER BY created_at DESC"
    )
    .fetch_all(c)
    .await
    })?)
}

/// Keys in the JWKS: next, active and retired (not yet expired), newest first.
pub async fn published(c: Conn<'_>) -> Result<Vec<KeyRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, KeyRow>(
        "SELECT kid, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at FROM signing_keys \
         WHERE state IN ('next', 'active', 'retired') ORDER BY created_at DESC, kid DESC"
    )
    .fetch_all(c)
    .await
    })?)
}

/// Moves a key to `state`, stamping `activated_at` or `retired_at`.
pub async fn set_state(c: Conn<'_>, kid: &str, state: &str, now: i64) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE signing_keys SET state = $2, \
         activated_at = CASE WHEN $2 = 'active' THEN $3 ELSE activated_at END, \
         retired_at = CASE WHEN $2 = 'retired' THEN $3 ELSE retired_at END WHERE kid = $1"
    )
    .bind(kid)
    .bind(state)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Serialises key changes across replicas: a PostgreSQL transaction advisory lock (SQLite's
/// `BEGIN IMMEDIATE` already admits one writer).
pub async fn lock(c: Conn<'_>) -> Result<()> {
    if let Conn::Postgres(c) = c {
        sqlx::query("SELECT pg_advisory_xact_lock(7302)")
            .execute(c)
            .await?;
    }
    Ok(())
}
