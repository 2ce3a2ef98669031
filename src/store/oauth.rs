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
    pub redirect_uris: super::types::TextList,
    pub post_logout_redirect_uris: super::types::TextList,
    pub grant_types: super::types::TextList,
    pub scopes: super::types::TextList,
    pub backchannel_logout_uri: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Marked by a platform admin: signs users in without a consent screen.
    pub first_party: bool,
}

const COLS: &str = "id, tenant_id, name, secret_hash, confidential, redirect_uris, post_logout_redirect_uris, grant_types, scopes, backchannel_logout_uri, created_by, created_at, updated_at, first_party";

pub async fn insert(c: Conn<'_>, r: &ClientRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO oauth_clients ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
        .bind(r.first_party)
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

pub async fn set_first_party(c: Conn<'_>, id: &str, first_party: bool, now: i64) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE oauth_clients SET first_party = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(first_party)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The scopes a user granted a client in a tenant, space-separated.
pub async fn consent(
    c: Conn<'_>,
    user_id: &str,
    client_id: &str,
    tenant_id: &str,
) -> Result<Option<String>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, String>(
        "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2 AND tenant_id = $3"
    )
    .bind(user_id)
    .bind(client_id)
    .bind(tenant_id)
    .fetch_optional(c)
    .await)?)
}

/// Records (or widens) a consent.
pub async fn grant_consent(
    mut c: Conn<'_>,
    user_id: &str,
    client_id: &str,
    tenant_id: &str,
    scope: &str,
    now: i64,
) -> Result<()> {
    on_conn!(c.reborrow(), |c| sqlx::query(
        "DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2 AND tenant_id = $3"
    )
    .bind(user_id)
    .bind(client_id)
    .bind(tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, tenant_id, scope, granted_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(user_id)
    .bind(client_id)
    .bind(tenant_id)
    .bind(scope)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_code(c: Conn<'_>, r: &CodeRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, session_id, tenant_id, redirect_uri, scope, nonce, code_challenge, auth_time, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(&r.code_hash)
    .bind(&r.client_id)
    .bind(&r.user_id)
    .bind(&r.session_id)
    .bind(&r.tenant_id)
    .bind(&r.redirect_uri)
    .bind(&r.scope)
    .bind(&r.nonce)
    .bind(&r.code_challenge)
    .bind(r.auth_time)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.used_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn code(c: Conn<'_>, code_hash: &str) -> Result<Option<CodeRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, CodeRow>(
        "SELECT code_hash, client_id, user_id, session_id, tenant_id, redirect_uri, scope, nonce, code_challenge, auth_time, created_at, expires_at, used_at \
         FROM oauth_codes WHERE code_hash = $1"
    )
    .bind(code_hash)
    .fetch_optional(c)
    .await
    })?)
}

/// Marks a code used; false when it already was (a replay).
pub async fn use_code(c: Conn<'_>, code_hash: &str, now: i64) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL"
    )
    .bind(code_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub tenant_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn insert_refresh(c: Conn<'_>, r: &RefreshRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, family_id, client_id, user_id, session_id, tenant_id, scope, auth_time, created_at, expires_at, used_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )
    .bind(&r.token_hash)
    .bind(&r.family_id)
    .bind(&r.client_id)
    .bind(&r.user_id)
    .bind(&r.session_id)
    .bind(&r.tenant_id)
    .bind(&r.scope)
    .bind(r.auth_time)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.used_at)
    .bind(r.revoked_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn refresh(c: Conn<'_>, token_hash: &str) -> Result<Option<RefreshRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, RefreshRow>(
        "SELECT token_hash, family_id, client_id, user_id, session_id, tenant_id, scope, auth_time, created_at, expires_at, used_at, revoked_at \
         FROM oauth_refresh_tokens WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await
    })?)
}

/// Marks a refresh token spent; false when it already was (reuse).
pub async fn spend_refresh(c: Conn<'_>, token_hash: &str, now: i64) -> Result<bool> {
    let n = on_conn!(c, |c| {
        sqlx::query(
        "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL"
    )
    .bind(token_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

pub async fn revoke_family(c: Conn<'_>, family_id: &str, now: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| {
        sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL"
    )
    .bind(family_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?)
}
