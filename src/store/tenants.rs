//! Tenants (with subtenants) and memberships.

use super::stmt::Stmt;
use super::{Conn, Counter, Tx};
use crate::args;
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub root_id: String,
    pub status: crate::domain::TenantStatus,
    pub preset: String,
    pub rbac_tier: crate::domain::RbacTier,
    pub boundary: crate::domain::Boundary,
    pub settings: crate::domain::tenant_settings::TenantSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, slug, name, parent_id, root_id, status, preset, rbac_tier, boundary, settings, created_at, updated_at";

pub async fn insert(tx: &mut Tx, t: &TenantRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO tenants ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(AssertSqlSafe(
        sql.as_str()
    ))
    .bind(&t.id)
    .bind(&t.slug)
    .bind(&t.name)
    .bind(&t.parent_id)
    .bind(&t.root_id)
    .bind(t.status)
    .bind(&t.preset)
    .bind(t.rbac_tier)
    .bind(&t.boundary)
    .bind(&t.settings)
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update(tx: &mut Tx, t: &TenantRow) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| {
        sqlx::query(
        "UPDATE tenants SET name = $2, status = $3, rbac_tier = $4, boundary = $5, settings = $6, updated_at = $7 WHERE id = $1"
    )
    .bind(&t.id)
    .bind(&t.name)
    .bind(t.status)
    .bind(t.rbac_tier)
    .bind(&t.boundary)
    .bind(&t.settings)
    .bind(t.updated_at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<TenantRow>> {
    let sql = format!("SELECT {COLS} FROM tenants WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn get_by_slug(c: Conn<'_>, slug: &str) -> Result<Option<TenantRow>> {
    let sql = format!("SELECT {COLS} FROM tenants WHERE slug = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(slug)
    .fetch_optional(c)
    .await)?)
}

pub async fn list(c: Conn<'_>) -> Result<Vec<TenantRow>> {
    let sql = format!("SELECT {COLS} FROM tenants ORDER BY slug");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .fetch_all(c)
    .await)?)
}

pub async fn children(c: Conn<'_>, parent_id: &str) -> Result<Vec<TenantRow>> {
    let sql = format!("SELECT {COLS} FROM tenants WHERE parent_id = $1 ORDER BY slug");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(parent_id)
    .fetch_all(c)
    .await)?)
}

/// Tenants the user is a direct member of.
/// The tenants a user belongs to or holds a role in (a role in a subtenant reached through the
/// organisation's membership), each once.
pub async fn reach_of(c: Conn<'_>, user_id: &str) -> Result<Vec<TenantRow>> {
    let sql = format!(
        "SELECT {} FROM tenants t WHERE t.id IN \
         (SELECT tenant_id FROM memberships WHERE user_id = $1 \
          UNION SELECT tenant_id FROM role_assignments WHERE user_id = $1) ORDER BY t.slug",
        COLS.split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?)
}

/// Serialises changes that could remove a tenant's last admin: PostgreSQL locks the tenant's
/// row until the transaction ends (two admins demoting each other wait for one another);
/// SQLite's single writer already does.
pub async fn lock_for_admin_change(c: Conn<'_>, tenant_id: &str) -> Result<()> {
    if let Conn::Postgres(c) = c {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant_id)
            .fetch_optional(c)
            .await?;
    }
    Ok(())
}

pub async fn of_user(c: Conn<'_>, user_id: &str) -> Result<Vec<TenantRow>> {
    let sql = format!(
        "SELECT {} FROM tenants t JOIN memberships m ON m.tenant_id = t.id WHERE m.user_id = $1 ORDER BY t.slug",
        COLS.split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, TenantRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?)
}

pub async fn add_member(tx: &mut Tx, tenant_id: &str, user_id: &str, now: i64) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, created_at) VALUES ($1, $2, $3)"
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Adds the membership unless it exists; returns whether it was added.
pub fn ensure_member_stmt(tenant_id: &str, user_id: &str, now: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO memberships (tenant_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        args![tenant_id, user_id, now],
    )
    .moving(Counter::Rbac)
}

pub async fn ensure_member(tx: &mut Tx, tenant_id: &str, user_id: &str, now: i64) -> Result<bool> {
    Ok(tx
        .exec(&ensure_member_stmt(tenant_id, user_id, now))
        .await?
        > 0)
}

pub async fn remove_member(tx: &mut Tx, tenant_id: &str, user_id: &str) -> Result<bool> {
    let n = on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(
        "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2"
    )
    .bind(tenant_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn is_member(c: Conn<'_>, tenant_id: &str, user_id: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND user_id = $2"
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}
