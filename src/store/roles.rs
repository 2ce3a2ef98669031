//! Roles, their permissions, and role assignments (with source, assigned_by, assigned_at).

use super::stmt::Stmt;
use super::{Conn, Counter, Tx};
use crate::args;
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub name_norm: String,
    pub display_name: String,
    pub description: String,
    pub builtin: bool,
    pub is_admin: bool,
    pub is_default: bool,
    pub tier: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, tenant_id, name, name_norm, display_name, description, builtin, is_admin, is_default, tier, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RolePermissionRow {
    pub role_id: String,
    pub permission: String,
    pub scope_tenant_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub role_id: String,
    pub source: String,
    pub assigned_by: Option<String>,
    pub assigned_at: i64,
}

/// An assignment joined with its role's name (for listings).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentView {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub tenant_slug: String,
    pub role_id: String,
    pub role_name: String,
    pub source: String,
    pub assigned_by: Option<String>,
    pub assigned_at: i64,
}

pub async fn insert(tx: &mut Tx, r: &RoleRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO roles ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(AssertSqlSafe(
        sql.as_str()
    ))
    .bind(&r.id)
    .bind(&r.tenant_id)
    .bind(&r.name)
    .bind(&r.name_norm)
    .bind(&r.display_name)
    .bind(&r.description)
    .bind(r.builtin)
    .bind(r.is_admin)
    .bind(r.is_default)
    .bind(&r.tier)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update(tx: &mut Tx, r: &RoleRow) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| {
        sqlx::query(
        "UPDATE roles SET name = $2, name_norm = $3, display_name = $4, description = $5, updated_at = $6 WHERE id = $1"
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.name_norm)
    .bind(&r.display_name)
    .bind(&r.description)
    .bind(r.updated_at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(
        "DELETE FROM roles WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<RoleRow>> {
    let sql = format!("SELECT {COLS} FROM roles WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, RoleRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn get_by_name(c: Conn<'_>, tenant_id: &str, name_norm: &str) -> Result<Option<RoleRow>> {
    let sql = format!("SELECT {COLS} FROM roles WHERE tenant_id = $1 AND name_norm = $2");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, RoleRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(name_norm)
    .fetch_optional(c)
    .await)?)
}

pub async fn list(c: Conn<'_>, tenant_id: &str) -> Result<Vec<RoleRow>> {
    let sql =
        format!("SELECT {COLS} FROM roles WHERE tenant_id = $1 ORDER BY builtin DESC, name_norm");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, RoleRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}

/// Number of distinct users holding each role of the organisation (any source, any subtenant).
pub async fn holder_counts(c: Conn<'_>, tenant_id: &str) -> Result<Vec<(String, i64)>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, (String, i64)>(
        "SELECT ra.role_id, COUNT(DISTINCT ra.user_id) FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         JOIN users u ON u.id = ra.user_id WHERE r.tenant_id = $1 AND u.status <> 'deleted' GROUP BY ra.role_id"
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn permissions_of_tenant_roles(
    c: Conn<'_>,
    tenant_id: &str,
) -> Result<Vec<RolePermissionRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, RolePermissionRow>(
        "SELECT rp.role_id, rp.permission, rp.scope_tenant_id FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
         WHERE r.tenant_id = $1 ORDER BY rp.permission"
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn permissions(c: Conn<'_>, role_id: &str) -> Result<Vec<RolePermissionRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, RolePermissionRow>(
        "SELECT role_id, permission, scope_tenant_id FROM role_permissions WHERE role_id = $1 ORDER BY scope_tenant_id, permission"
    )
    .bind(role_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn clear_permissions(tx: &mut Tx, role_id: &str) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(
        "DELETE FROM role_permissions WHERE role_id = $1"
    )
    .bind(role_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn add_permission(
    tx: &mut Tx,
    role_id: &str,
    permission: &str,
    scope: &str,
) -> Result<()> {
    on_conn!(tx.changing(Counter::Rbac), |c| {
        sqlx::query(
        "INSERT INTO role_permissions (role_id, permission, scope_tenant_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    )
    .bind(role_id)
    .bind(permission)
    .bind(scope)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub fn assign_stmt(a: &AssignmentRow) -> Stmt {
    Stmt::new(
        "INSERT INTO role_assignments (id, user_id, tenant_id, role_id, source, assigned_by, assigned_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        args![
            &a.id,
            &a.user_id,
            &a.tenant_id,
            &a.role_id,
            &a.source,
            &a.assigned_by,
            a.assigned_at,
        ],
    )
    .moving(Counter::Rbac)
}

pub async fn assign(tx: &mut Tx, a: &AssignmentRow) -> Result<bool> {
    Ok(tx.exec(&assign_stmt(a)).await? > 0)
}

/// Removes a user's role in one tenant, from every source or from one.
pub fn unassign_stmt(user_id: &str, tenant_id: &str, role_id: &str, source: Option<&str>) -> Stmt {
    Stmt::new(
        "DELETE FROM role_assignments WHERE user_id = $1 AND tenant_id = $2 AND role_id = $3 AND ($4 IS NULL OR source = $4)",
        args![user_id, tenant_id, role_id, source],
    )
    .moving(Counter::Rbac)
}

pub async fn unassign(
    tx: &mut Tx,
    user_id: &str,
    tenant_id: &str,
    role_id: &str,
    source: Option<&str>,
) -> Result<u64> {
    tx.exec(&unassign_stmt(user_id, tenant_id, role_id, source))
        .await
}

/// Removes every assignment the user holds in these tenants (membership removal).
pub async fn unassign_all_in(tx: &mut Tx, user_id: &str, tenant_id: &str) -> Result<u64> {
    let n = on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(
        "DELETE FROM role_assignments WHERE user_id = $1 AND tenant_id = $2"
    )
    .bind(user_id)
    .bind(tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}

const VIEW: &str = "SELECT ra.id, ra.user_id, ra.tenant_id, t.slug AS tenant_slug, ra.role_id, r.name AS role_name, \
     ra.source, ra.assigned_by, ra.assigned_at FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
     JOIN tenants t ON t.id = ra.tenant_id";

/// The user's assignments in a tenant and its subtenants (organisation view).
pub async fn of_user_in_org(
    c: Conn<'_>,
    user_id: &str,
    root_id: &str,
) -> Result<Vec<AssignmentView>> {
    let sql =
        format!("{VIEW} WHERE ra.user_id = $1 AND t.root_id = $2 ORDER BY ra.assigned_at, ra.id");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, AssignmentView>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(user_id)
    .bind(root_id)
    .fetch_all(c)
    .await)?)
}

/// Holders of a role (non-deleted users), with where and how they got it.
pub async fn holders(c: Conn<'_>, role_id: &str) -> Result<Vec<AssignmentView>> {
    let sql = format!(
        "{VIEW} JOIN users u ON u.id = ra.user_id WHERE ra.role_id = $1 AND u.status <> 'deleted' ORDER BY ra.assigned_at, ra.id"
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, AssignmentView>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(role_id)
    .fetch_all(c)
    .await)?)
}

/// Active users holding an admin role in this tenant (for the last-admin rule).
pub async fn active_admins(c: Conn<'_>, tenant_id: &str) -> Result<Vec<String>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT ra.user_id FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         JOIN users u ON u.id = ra.user_id JOIN memberships m ON m.user_id = ra.user_id AND m.tenant_id = ra.tenant_id \
         WHERE ra.tenant_id = $1 AND r.is_admin = TRUE AND u.status = 'active'"
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await
    })?)
}

/// Number of non-deleted members holding an admin role in the tenant.
pub async fn admin_count(c: Conn<'_>, tenant_id: &str) -> Result<i64> {
    Ok(on_conn!(c, |c| {
        sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(DISTINCT ra.user_id) FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         JOIN users u ON u.id = ra.user_id JOIN memberships m ON m.user_id = ra.user_id AND m.tenant_id = ra.tenant_id \
         WHERE ra.tenant_id = $1 AND r.is_admin = TRUE AND u.status <> 'deleted'"
    )
    .bind(tenant_id)
    .fetch_one(c)
    .await
    })?)
}

/// One row per (role, permission) the user holds in `tenant_id` or `parent_id`: the input of
/// the RBAC compiler.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub role_id: String,
    pub role_name: String,
    pub tier: Option<String>,
    pub assigned_in: String,
    pub permission: Option<String>,
    pub scope_tenant_id: Option<String>,
}

pub async fn grants(
    c: Conn<'_>,
    user_id: &str,
    tenant_id: &str,
    parent_id: Option<&str>,
) -> Result<Vec<GrantRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, GrantRow>(
        "SELECT r.id AS role_id, r.name AS role_name, r.tier, ra.tenant_id AS assigned_in, rp.permission, rp.scope_tenant_id \
         FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         LEFT JOIN role_permissions rp ON rp.role_id = r.id \
         WHERE ra.user_id = $1 AND (ra.tenant_id = $2 OR ra.tenant_id = $3) ORDER BY r.name_norm"
    )
    .bind(user_id)
    .bind(tenant_id)
    .bind(parent_id)
    .fetch_all(c)
    .await
    })?)
}
