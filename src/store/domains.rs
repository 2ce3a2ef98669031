//! Organisations' email domains and their verification.

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainRow {
    pub id: String,
    /// The organisation (root tenant).
    pub tenant_id: String,
    pub domain: String,
    pub token: String,
    pub verified_at: Option<i64>,
    pub verified_by: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

const COLS: &str = "id, tenant_id, domain, token, verified_at, verified_by, created_by, created_at";

pub async fn insert(c: Conn<'_>, r: &DomainRow) -> Result<()> {
    let sql = format!("INSERT INTO domains ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    on_conn!(c, |c| sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.domain)
        .bind(&r.token)
        .bind(r.verified_at)
        .bind(&r.verified_by)
        .bind(&r.created_by)
        .bind(r.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<DomainRow>> {
    let sql = format!("SELECT {COLS} FROM domains WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, DomainRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn list(c: Conn<'_>, org_id: &str) -> Result<Vec<DomainRow>> {
    let sql = format!("SELECT {COLS} FROM domains WHERE tenant_id = $1 ORDER BY domain");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, DomainRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(org_id)
    .fetch_all(c)
    .await)?)
}

/// The organisation that verified `domain`, if any.
pub async fn owner(c: Conn<'_>, domain: &str) -> Result<Option<String>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, String>(
        "SELECT tenant_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL"
    )
    .bind(domain)
    .fetch_optional(c)
    .await)?)
}

pub async fn set_verified(c: Conn<'_>, id: &str, at: i64, by: &str) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE domains SET verified_at = $2, verified_by = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(at)
    .bind(by)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes the claim and takes the domain off the organisation's connections.
pub async fn delete(mut c: Conn<'_>, r: &DomainRow) -> Result<()> {
    on_conn!(c.reborrow(), |c| {
        sqlx::query(
        "DELETE FROM sso_domains WHERE domain = $1 AND connection_id IN \
         (SELECT s.id FROM sso_connections s JOIN tenants t ON t.id = s.tenant_id WHERE t.root_id = $2)"
    )
    .bind(&r.domain)
    .bind(&r.tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    on_conn!(c, |c| sqlx::query("DELETE FROM domains WHERE id = $1")
        .bind(&r.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// An account on a verified domain that the owning organisation does not own alone.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConflictRow {
    pub domain: String,
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub platform_admin: bool,
}

/// Accounts whose email is on a domain verified by one organisation while they belong to
/// another (or are platform admins): the owner's SSO cannot sign them in until resolved.
pub async fn conflicts(c: Conn<'_>) -> Result<Vec<ConflictRow>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ConflictRow>(
        "SELECT d.domain, d.tenant_id, u.id AS user_id, u.email, u.platform_admin \
         FROM domains d JOIN users u ON u.email_norm LIKE '%@' || d.domain \
         WHERE d.verified_at IS NOT NULL AND u.status <> 'deleted' AND (u.platform_admin OR EXISTS \
           (SELECT 1 FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
            WHERE m.user_id = u.id AND t.root_id <> d.tenant_id)) \
         ORDER BY d.domain, u.email_norm LIMIT 1000"
    )
    .fetch_all(c)
    .await)?)
}
