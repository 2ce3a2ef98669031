//! Users: profile, status, password hash, session version.

use super::Conn;
use super::stmt::Stmt;
use crate::args;
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_norm: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub sort_name: String,
    pub search_text: String,
    pub status: crate::domain::UserStatus,
    pub password_hash: Option<String>,
    pub platform_admin: bool,
    pub session_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

pub const COLS: &str = "id, email, email_norm, first_name, last_name, sort_name, search_text, status, password_hash, platform_admin, session_version, created_at, updated_at, last_login_at, deleted_at";

fn prefixed(p: &str) -> String {
    COLS.split(", ")
        .map(|c| format!("{p}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn insert_stmt(u: &UserRow) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO users ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        args![
            &u.id,
            &u.email,
            &u.email_norm,
            &u.first_name,
            &u.last_name,
            &u.sort_name,
            &u.search_text,
            &u.status,
            &u.password_hash,
            u.platform_admin,
            u.session_version,
            u.created_at,
            u.updated_at,
            u.last_login_at,
            u.deleted_at,
        ],
    )
}

pub async fn insert(c: Conn<'_>, u: &UserRow) -> Result<()> {
    insert_stmt(u).run(c).await.map(drop)
}

/// Writes every mutable column back (email is immutable and not written).
pub fn update_stmt(u: &UserRow) -> Stmt {
    Stmt::new(
        "UPDATE users SET first_name = $2, last_name = $3, sort_name = $4, search_text = $5, status = $6, \
         password_hash = $7, platform_admin = $8, session_version = $9, updated_at = $10, last_login_at = $11, \
         deleted_at = $12 WHERE id = $1",
        args![
            &u.id,
            &u.first_name,
            &u.last_name,
            &u.sort_name,
            &u.search_text,
            &u.status,
            &u.password_hash,
            u.platform_admin,
            u.session_version,
            u.updated_at,
            u.last_login_at,
            u.deleted_at,
        ],
    )
}

pub async fn update(c: Conn<'_>, u: &UserRow) -> Result<()> {
    update_stmt(u).run(c).await.map(drop)
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLS} FROM users WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, UserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn get_by_email(c: Conn<'_>, email_norm: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLS} FROM users WHERE email_norm = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, UserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(email_norm)
    .fetch_optional(c)
    .await)?)
}

/// The earliest active platform admin (whom a server-side command acts as by default).
pub async fn first_platform_admin(c: Conn<'_>) -> Result<Option<UserRow>> {
    let sql = format!(
        "SELECT {COLS} FROM users WHERE platform_admin = $1 AND status = 'active' ORDER BY created_at, id LIMIT 1"
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, UserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(true)
    .fetch_optional(c)
    .await)?)
}

pub async fn count(c: Conn<'_>) -> Result<i64> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)?)
}

pub async fn set_last_login(c: Conn<'_>, id: &str, now: i64) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE users SET last_login_at = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sort keys for the user list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Email,
    Created,
    LastLogin,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "u.sort_name",
            SortKey::Email => "u.email_norm",
            SortKey::Created => "u.created_at",
            SortKey::LastLogin => "COALESCE(u.last_login_at, 0)",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, SortKey::Name | SortKey::Email)
    }
}

/// A keyset position: the sort value of the last row seen and its id.
#[derive(Debug, Clone)]
pub enum After {
    Text(String, String),
    Int(i64, String),
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub tenant_id: String,
    /// Lower-cased search text, matched anywhere in name or email.
    pub search: Option<String>,
    pub status: Option<String>,
    pub include_deleted: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: i64,
    pub after: Option<After>,
}

/// Members from which a tenant's pages walk the users' sort index (see [`list`]).
const LARGE_TENANT: i64 = 1_000;

/// Whether `tenant_id` has at least `n` members (reads at most `n` index entries).
async fn has_at_least(c: Conn<'_>, tenant_id: &str, n: i64) -> Result<bool> {
    let hit = on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM memberships WHERE tenant_id = $1 LIMIT 1 OFFSET $2"
    )
    .bind(tenant_id)
    .bind(n - 1)
    .fetch_optional(c)
    .await)?;
    Ok(hit.is_some())
}

/// One page of the tenant's members (keyset pagination, never OFFSET).
pub async fn list(mut c: Conn<'_>, q: &ListQuery) -> Result<Vec<UserRow>> {
    // SQLite answers a plain substring of 3+ characters from the FTS5 trigram index
    // (migration 0005); shorter terms and terms with LIKE metacharacters scan with LIKE.
    // PostgreSQL's LIKE uses its pg_trgm index either way.
    let fts = matches!(c, Conn::Sqlite(_))
        && q.search
            .as_deref()
            .is_some_and(|t| t.chars().count() >= 3 && !t.contains(['%', '_', '\\']));
    // SQLite's planner has no per-tenant statistics: it starts from the tenant's memberships
    // and sorts them all, which costs tens of milliseconds for a tenant of 100,000. Walking the
    // users in the sort column's index and keeping the members stops after one page instead,
    // and is the better order whenever the tenant is large or a search narrows the users
    // first (`CROSS JOIN` fixes the order). PostgreSQL's planner chooses on its own.
    let users_first = matches!(c, Conn::Sqlite(_))
        && (fts || has_at_least(c.reborrow(), &q.tenant_id, LARGE_TENANT).await?);
    let join = if users_first { "CROSS JOIN" } else { "JOIN" };
    let mut sql = format!(
        "SELECT {} FROM users u {join} memberships m ON m.user_id = u.id AND m.tenant_id = $1 WHERE 1 = 1",
        prefixed("u")
    );
    if fts {
        sql.push_str(" AND u.rowid IN (SELECT rowid FROM users_search WHERE search_text LIKE $2)");
    } else if q.search.is_some() {
        sql.push_str(" AND u.search_text LIKE $2 ESCAPE '\\'");
    }
    if q.status.is_some() {
        sql.push_str(" AND u.status = $3");
    } else if !q.include_deleted {
        sql.push_str(" AND u.status <> 'deleted'");
    }
    let col = q.sort.column();
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if q.after.is_some() {
        sql.push_str(&format!(
            " AND ({col} {cmp} $4 OR ({col} = $4 AND u.id {cmp} $5))"
        ));
    }
    sql.push_str(&format!(" ORDER BY {col} {dir}, u.id {dir} LIMIT $6"));
    let pattern = q
        .search
        .as_ref()
        .map(|s| format!("%{}%", super::like_escape(s)));
    let status = q.status.clone();
    let limit = q.limit;
    let (after_text, after_int, after_id) = match &q.after {
        Some(After::Text(v, id)) => (Some(v.clone()), None, Some(id.clone())),
        Some(After::Int(v, id)) => (None, Some(*v), Some(id.clone())),
        None => (None, None, None),
    };
    macro_rules! run {
        ($c:ident) => {{
            let mut query = sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql.as_str()))
                .bind(&q.tenant_id)
                .bind(&pattern)
                .bind(&status);
            query = if q.sort.is_text() {
                query.bind(&after_text)
            } else {
                query.bind(after_int)
            };
            query.bind(&after_id).bind(limit).fetch_all($c).await
        }};
    }
    Ok(on_conn!(c, |c| run!(c))?)
}

#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize)]
pub struct Stats {
    pub total: i64,
    pub active: i64,
    pub new_this_week: i64,
}

/// Counts over the tenant's non-deleted members.
pub async fn stats(c: Conn<'_>, tenant_id: &str, week_ago: i64) -> Result<Stats> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, Stats>(
        "SELECT COUNT(*) AS total, \
                COALESCE(SUM(CASE WHEN u.status = 'active' THEN 1 ELSE 0 END), 0) AS active, \
                COALESCE(SUM(CASE WHEN u.created_at >= $2 THEN 1 ELSE 0 END), 0) AS new_this_week \
         FROM users u JOIN memberships m ON m.user_id = u.id AND m.tenant_id = $1 WHERE u.status <> 'deleted'"
    )
    .bind(tenant_id)
    .bind(week_ago)
    .fetch_one(c)
    .await
    })?)
}

/// Whether the user is a member of the tenant or of one of its subtenants.
pub async fn visible_in(c: Conn<'_>, user_id: &str, tenant_id: &str) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.user_id = $1 AND (t.id = $2 OR t.parent_id = $2)"
    )
    .bind(user_id)
    .bind(tenant_id)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

/// Role names per user for a page of users in one tenant (one query).
pub async fn role_names(
    c: Conn<'_>,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<(String, String)>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT ra.user_id, r.name FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         WHERE ra.tenant_id = $1 AND ra.user_id IN ({}) ORDER BY r.name",
        super::stmt::marks(2, user_ids.len())
    );
    macro_rules! run {
        ($c:ident) => {{
            let mut q =
                sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.as_str())).bind(tenant_id);
            for id in user_ids {
                q = q.bind(id);
            }
            q.fetch_all($c).await
        }};
    }
    Ok(on_conn!(c, |c| run!(c))?)
}

/// Names of the tenant's SCIM groups the user belongs to, directly or through nested groups.
pub async fn group_names(c: Conn<'_>, user_id: &str, tenant_id: &str) -> Result<Vec<String>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, String>(
        "WITH RECURSIVE up(id) AS ( \
             SELECT gm.group_id FROM group_members gm JOIN scim_users su ON su.id = gm.member_id \
             WHERE su.user_id = $1 AND su.tenant_id = $2 \
             UNION SELECT gm.group_id FROM group_members gm JOIN up ON gm.member_id = up.id) \
         SELECT g.display_name FROM groups g JOIN up ON up.id = g.id WHERE g.tenant_id = $2 \
         ORDER BY g.display_name"
    )
    .bind(user_id)
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}
