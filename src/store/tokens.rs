//! Hashed one-time links (invites, password resets) and long-lived API tokens.

use super::Conn;
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: String,
    pub token_hash: String,
    pub tenant_id: String,
    pub email: String,
    pub email_norm: String,
    pub role_id: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_invite(c: Conn<'_>, i: &InviteRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO invites (id, token_hash, tenant_id, email, email_norm, role_id, created_by, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(&i.id)
    .bind(&i.token_hash)
    .bind(&i.tenant_id)
    .bind(&i.email)
    .bind(&i.email_norm)
    .bind(&i.role_id)
    .bind(&i.created_by)
    .bind(i.created_at)
    .bind(i.expires_at)
    .bind(i.used_at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn invite_by_token(c: Conn<'_>, token_hash: &str) -> Result<Option<InviteRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, InviteRow>(
        "SELECT id, token_hash, tenant_id, email, email_norm, role_id, created_by, created_at, expires_at, used_at \
         FROM invites WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await
    })?)
}

pub async fn get_invite(c: Conn<'_>, id: &str) -> Result<Option<InviteRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, InviteRow>(
        "SELECT id, token_hash, tenant_id, email, email_norm, role_id, created_by, created_at, expires_at, used_at \
         FROM invites WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?)
}

/// Ends every open invite of `email_norm` to the tenant (a new invite replaces them).
pub async fn void_invites(c: Conn<'_>, tenant_id: &str, email_norm: &str, now: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| {
        sqlx::query(
        "UPDATE invites SET used_at = $3 WHERE tenant_id = $1 AND email_norm = $2 AND used_at IS NULL"
    )
    .bind(tenant_id)
    .bind(email_norm)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?)
}

/// Ends every open reset link of the user (after a reset, the older links are void).
pub async fn void_resets(c: Conn<'_>, user_id: &str, now: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL"
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// How many reset links the user asked for since `since` (the cross-replica cap).
pub async fn resets_since(c: Conn<'_>, user_id: &str, since: i64) -> Result<i64> {
    Ok(on_conn!(c, |c| {
        sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at >= $2 AND created_by IS NULL"
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(c)
    .await
    })?)
}

/// Marks an invite used; false when someone else used it first.
pub async fn use_invite(c: Conn<'_>, id: &str, now: i64) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "UPDATE invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResetRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_reset(c: Conn<'_>, r: &ResetRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO password_resets (id, token_hash, user_id, created_by, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&r.id)
    .bind(&r.token_hash)
    .bind(&r.user_id)
    .bind(&r.created_by)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.used_at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn reset_by_token(c: Conn<'_>, token_hash: &str) -> Result<Option<ResetRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, ResetRow>(
        "SELECT id, token_hash, user_id, created_by, created_at, expires_at, used_at FROM password_resets WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await
    })?)
}

pub async fn use_reset(c: Conn<'_>, id: &str, now: i64) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub name: String,
    pub token_hash: String,
    pub role_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const TOKEN_COLS: &str =
    "id, tenant_id, kind, name, token_hash, role_id, created_by, created_at, last_used_at";

pub async fn insert_api_token(c: Conn<'_>, t: &ApiTokenRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on_conn!(c, |c| sqlx::query(AssertSqlSafe(sql.as_str()))
        .bind(&t.id)
        .bind(&t.tenant_id)
        .bind(&t.kind)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(&t.role_id)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.last_used_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn api_token_by_hash(c: Conn<'_>, token_hash: &str) -> Result<Option<ApiTokenRow>> {
    let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ApiTokenRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await)?)
}

pub async fn list_api_tokens(c: Conn<'_>, tenant_id: &str, kind: &str) -> Result<Vec<ApiTokenRow>> {
    let sql = format!(
        "SELECT {TOKEN_COLS} FROM api_tokens WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at, id"
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ApiTokenRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(kind)
    .fetch_all(c)
    .await)?)
}

pub async fn get_api_token(c: Conn<'_>, id: &str) -> Result<Option<ApiTokenRow>> {
    let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ApiTokenRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn delete_api_token(c: Conn<'_>, id: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn touch_api_token(c: Conn<'_>, id: &str, now: i64) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A new secret for a token (rotation): the old one stops working at once.
pub async fn set_api_token_hash(c: Conn<'_>, id: &str, token_hash: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "UPDATE api_tokens SET token_hash = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(token_hash)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
