//! OAuth clients and revoked token ids.

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub secret_hash: Option<String>,
    pub confidential: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub backchannel_logout_uri: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, tenant_id, name, secret_hash, confidential, redirect_uris, post_logout_redirect_uris, grant_types, scopes, backchannel_logout_uri, created_by, created_at, updated_at";

pub async fn insert(c: Conn<'_>, r: &ClientRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO oauth_clients ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    on_conn!(c, |c| sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.name)
        .bind(&r.secret_hash)
        .bind(r.confidential)
        .bind(&r.redirect_uris)
        .bind(&r.post_logout_redirect_uris)
        .bind(&r.grant_types)
        .bind(&r.scopes)
        .bind(&r.backchannel_logout_uri)
        .bind(&r.created_by)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<ClientRow>> {
    let sql = format!("SELECT {COLS} FROM oauth_clients WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ClientRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// The tenant's clients (or the global ones with `None`).
pub async fn list(c: Conn<'_>, tenant_id: Option<&str>) -> Result<Vec<ClientRow>> {
    let sql = format!(
        "SELECT {COLS} FROM oauth_clients WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY created_at, id"
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ClientRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}

pub async fn delete(c: Conn<'_>, id: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "DELETE FROM oauth_clients WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn revoke_jti(c: Conn<'_>, jti: &str, expires_at: i64) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    )
    .bind(jti)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn is_revoked(c: Conn<'_>, jti: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1"
    )
    .bind(jti)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}
