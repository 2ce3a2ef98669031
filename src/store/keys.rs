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
