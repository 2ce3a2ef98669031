//! SCIM users, groups, members and the request log; SCIM filters compiled to SQL.
//!
//! A filter becomes a parameterised `WHERE` clause over indexed columns. Where an attribute has
//! no column, the clause is widened (`1 = 1`) and marked inexact: the caller then evaluates the
//! whole filter in memory on each candidate, so SQL only ever narrows, never decides wrongly.

use sqlx::AssertSqlSafe;

use super::stmt::{Stmt, marks};
use super::{Backend, Conn};
use crate::engine::scim::filter::{AttrPath, CompareOp, Filter, Value};
use crate::engine::scim::schema::Kind;
use crate::error::Result;
use crate::{args, bind_all, on_conn};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimUserRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub user_name: String,
    pub user_name_norm: String,
    pub external_id: Option<String>,
    pub display_name_norm: Option<String>,
    pub active: bool,
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const USER_COLS: &str = "id, tenant_id, user_id, user_name, user_name_norm, external_id, display_name_norm, active, resource, version, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub display_name_norm: String,
    pub external_id: Option<String>,
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const GROUP_COLS: &str = "id, tenant_id, display_name, display_name_norm, external_id, resource, version, created_at, updated_at";

pub use super::stmt::Arg;

pub fn insert_user_stmt(r: &ScimUserRow) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO scim_users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ),
        args![
            &r.id,
            &r.tenant_id,
            &r.user_id,
            &r.user_name,
            &r.user_name_norm,
            &r.external_id,
            &r.display_name_norm,
            r.active,
            &r.resource,
            r.version,
            r.created_at,
            r.updated_at,
        ],
    )
}

pub async fn insert_user(c: Conn<'_>, r: &ScimUserRow) -> Result<()> {
    insert_user_stmt(r).run(c).await.map(drop)
}

pub fn update_user_stmt(r: &ScimUserRow) -> Stmt {
    Stmt::new(
        "UPDATE scim_users SET user_id = $2, user_name = $3, user_name_norm = $4, external_id = $5, \
         display_name_norm = $6, active = $7, resource = $8, version = $9, updated_at = $10 WHERE id = $1",
        args![
            &r.id,
            &r.user_id,
            &r.user_name,
            &r.user_name_norm,
            &r.external_id,
            &r.display_name_norm,
            r.active,
            &r.resource,
            r.version,
            r.updated_at,
        ],
    )
}

/// Replaces the indexed email values of a SCIM user.
pub fn set_emails_stmts(tenant_id: &str, scim_user_id: &str, values: &[String]) -> Vec<Stmt> {
    let mut out = vec![Stmt::new(
        "DELETE FROM scim_emails WHERE scim_user_id = $1",
        args![scim_user_id],
    )];
    out.extend(add_emails_stmts(tenant_id, scim_user_id, values));
    out
}

/// Adds email values to a SCIM user (one statement per [`CHUNK`] values).
pub fn add_emails_stmts(tenant_id: &str, scim_user_id: &str, values: &[String]) -> Vec<Stmt> {
    values
        .chunks(CHUNK)
        .map(|chunk| {
            let mut sql = String::from(
                "INSERT INTO scim_emails (scim_user_id, tenant_id, value_norm) VALUES ",
            );
            let mut a = args![scim_user_id, tenant_id];
            for (i, v) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("($1, $2, ${})", i + 3));
                a.push(Arg::from(v));
            }
            Stmt::new(sql, a)
        })
        .collect()
}

/// A SCIM user of the tenant; `lock` takes a row lock on PostgreSQL (SQLite's write transaction
/// already serialises writers), so concurrent PATCHes never lose an update.
pub async fn get_user(
    c: Conn<'_>,
    tenant_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<ScimUserRow>> {
    let lock = if lock && matches!(c, Conn::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {USER_COLS} FROM scim_users WHERE tenant_id = $1 AND id = $2{lock}");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ScimUserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// The tenant's SCIM user with this (lower-cased) userName.
pub async fn user_by_name(
    c: Conn<'_>,
    tenant_id: &str,
    user_name_norm: &str,
) -> Result<Option<ScimUserRow>> {
    let sql =
        format!("SELECT {USER_COLS} FROM scim_users WHERE tenant_id = $1 AND user_name_norm = $2");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ScimUserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(user_name_norm)
    .fetch_optional(c)
    .await)?)
}

/// The tenant's group with this (lower-cased) displayName.
pub async fn group_by_name(
    c: Conn<'_>,
    tenant_id: &str,
    name_norm: &str,
) -> Result<Option<GroupRow>> {
    let sql =
        format!("SELECT {GROUP_COLS} FROM groups WHERE tenant_id = $1 AND display_name_norm = $2");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, GroupRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(name_norm)
    .fetch_optional(c)
    .await)?)
}

/// The SCIM record that provisioned this idbridge user in the tenant, if any.
pub async fn user_of(c: Conn<'_>, tenant_id: &str, user_id: &str) -> Result<Option<ScimUserRow>> {
    let sql =
        format!("SELECT {USER_COLS} FROM scim_users WHERE tenant_id = $1 AND user_id = $2 LIMIT 1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ScimUserRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(c)
    .await)?)
}

pub async fn delete_user(mut c: Conn<'_>, tenant_id: &str, id: &str) -> Result<bool> {
    on_conn!(c.reborrow(), |c| {
        sqlx::query(
        "DELETE FROM group_members WHERE member_id = $1 AND group_id IN (SELECT id FROM groups WHERE tenant_id = $2)"
    )
    .bind(id)
    .bind(tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    let n = on_conn!(c, |c| sqlx::query(
        "DELETE FROM scim_users WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn insert_group(c: Conn<'_>, r: &GroupRow) -> Result<()> {
    let sql =
        format!("INSERT INTO groups ({GROUP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
    on_conn!(c, |c| sqlx::query(AssertSqlSafe(sql.as_str()))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.display_name)
        .bind(&r.display_name_norm)
        .bind(&r.external_id)
        .bind(&r.resource)
        .bind(r.version)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_group(c: Conn<'_>, r: &GroupRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "UPDATE groups SET display_name = $2, display_name_norm = $3, external_id = $4, resource = $5, \
         version = $6, updated_at = $7 WHERE id = $1"
    )
    .bind(&r.id)
    .bind(&r.display_name)
    .bind(&r.display_name_norm)
    .bind(&r.external_id)
    .bind(&r.resource)
    .bind(r.version)
    .bind(r.updated_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn get_group(
    c: Conn<'_>,
    tenant_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<GroupRow>> {
    let lock = if lock && matches!(c, Conn::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {GROUP_COLS} FROM groups WHERE tenant_id = $1 AND id = $2{lock}");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, GroupRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn delete_group(mut c: Conn<'_>, tenant_id: &str, id: &str) -> Result<bool> {
    on_conn!(c.reborrow(), |c| {
        sqlx::query(
        "DELETE FROM group_members WHERE member_id = $1 AND group_id IN (SELECT id FROM groups WHERE tenant_id = $2)"
    )
    .bind(id)
    .bind(tenant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    let n = on_conn!(c, |c| sqlx::query(
        "DELETE FROM groups WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// A member of a group: id, `User` or `Group`, the display text the client sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub member_id: String,
    pub member_type: String,
    pub display: Option<String>,
}

/// The members of a group with their display names, in id order.
pub async fn members(c: Conn<'_>, group_id: &str) -> Result<Vec<MemberRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, MemberRow>(
        "SELECT member_id, member_type, display FROM group_members WHERE group_id = $1 ORDER BY member_id"
    )
    .bind(group_id)
    .fetch_all(c)
    .await
    })?)
}

/// Member ids of a group, in id order (no joins: for diffs on large groups).
pub async fn member_ids(c: Conn<'_>, group_id: &str) -> Result<Vec<String>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, String>(
        "SELECT member_id FROM group_members WHERE group_id = $1 ORDER BY member_id"
    )
    .bind(group_id)
    .fetch_all(c)
    .await)?)
}

/// Rows per multi-row statement: under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const CHUNK: usize = 500;

/// Adds members (id, `User`/`Group`, display); an existing member gets the new display.
pub async fn add_members(
    mut c: Conn<'_>,
    group_id: &str,
    members: &[(String, String, Option<String>)],
) -> Result<()> {
    for chunk in members.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, ${})", 3 * i + 2, 3 * i + 3, 3 * i + 4))
            .collect();
        let sql = format!(
            "INSERT INTO group_members (group_id, member_id, member_type, display) VALUES {} \
             ON CONFLICT (group_id, member_id) DO UPDATE SET display = excluded.display",
            values.join(", ")
        );
        macro_rules! run {
            ($c:ident) => {{
                let mut q = sqlx::query(AssertSqlSafe(sql.as_str())).bind(group_id);
                for (id, ty, display) in chunk {
                    q = q.bind(id).bind(ty).bind(display);
                }
                q.execute($c).await.map(|r| r.rows_affected())
            }};
        }
        on_conn!(c.reborrow(), |c| run!(c))?;
    }
    Ok(())
}

pub async fn remove_members(mut c: Conn<'_>, group_id: &str, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM group_members WHERE group_id = $1 AND member_id IN ({})",
            marks(2, chunk.len())
        );
        macro_rules! run {
            ($c:ident) => {{
                let mut q = sqlx::query(AssertSqlSafe(sql.as_str())).bind(group_id);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute($c).await.map(|r| r.rows_affected())
            }};
        }
        on_conn!(c.reborrow(), |c| run!(c))?;
    }
    Ok(())
}

/// Which of `ids` are SCIM users (`User`) or groups (`Group`) of the tenant.
pub async fn kinds_of(
    mut c: Conn<'_>,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let ids = marks(2, chunk.len());
        let sql = format!(
            "SELECT id, 'User' FROM scim_users WHERE tenant_id = $1 AND id IN ({ids}) \
             UNION ALL SELECT id, 'Group' FROM groups WHERE tenant_id = $1 AND id IN ({ids})"
        );
        macro_rules! run {
            ($c:ident) => {{
                let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.as_str()))
                    .bind(tenant_id);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all($c).await
            }};
        }
        out.extend(on_conn!(c.reborrow(), |c| run!(c))?);
    }
    Ok(out)
}

/// The groups a SCIM user or group is a direct member of: (id, displayName).
pub async fn direct_groups(c: Conn<'_>, member_id: &str) -> Result<Vec<(String, String)>> {
    Ok(direct_groups_of(c, &[member_id.to_string()])
        .await?
        .into_iter()
        .map(|(_, id, name)| (id, name))
        .collect())
}

/// The direct groups of many members at once (a page of a list): (member id, group id,
/// displayName), by displayName.
pub async fn direct_groups_of(
    mut c: Conn<'_>,
    member_ids: &[String],
) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT gm.member_id, g.id, g.display_name FROM group_members gm \
             JOIN groups g ON g.id = gm.group_id WHERE gm.member_id IN ({}) ORDER BY g.display_name",
            marks(1, chunk.len())
        );
        macro_rules! run {
            ($c:ident) => {{
                let mut q =
                    sqlx::query_as::<_, (String, String, String)>(AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all($c).await
            }};
        }
        out.extend(on_conn!(c.reborrow(), |c| run!(c))?);
    }
    Ok(out)
}

/// The role-mapping keys of many SCIM users' groups, direct or through nested groups:
/// (member id, key), one query per [`CHUNK`] members. A group maps by the keys it holds in
/// `scim_group_keys`, not by its current name. Cycles end (UNION removes repeats).
pub async fn effective_keys_of(
    mut c: Conn<'_>,
    member_ids: &[String],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        let sql = format!(
            "WITH RECURSIVE up(member, id) AS ( \
                 SELECT member_id, group_id FROM group_members WHERE member_id IN ({}) \
                 UNION SELECT up.member, gm.group_id FROM group_members gm JOIN up ON gm.member_id = up.id) \
             SELECT up.member, k.group_key FROM up JOIN scim_group_keys k ON k.group_id = up.id",
            marks(1, chunk.len())
        );
        let args: Vec<Arg> = chunk.iter().map(Arg::from).collect();
        out.extend(on_conn!(c.reborrow(), |c| bind_all!(
            sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.as_str())),
            &args
        )
        .fetch_all(c)
        .await)?);
    }
    Ok(out)
}

/// The role-mapping key of a group name or externalId.
pub fn group_key(s: &str) -> String {
    s.to_lowercase()
}

/// Gives `group` the keys it bears (its name and externalId) that no group holds yet, after
/// taking back the keys of a deleted group with the same externalId (the same IdP group,
/// provisioned again). Returns the keys it bears that another group holds.
pub async fn claim_group_keys(mut c: Conn<'_>, group: &GroupRow, now: i64) -> Result<Vec<String>> {
    let ext = group.external_id.as_deref().filter(|e| !e.is_empty());
    if let Some(e) = ext {
        on_conn!(c.reborrow(), |c| {
            sqlx::query(
            "UPDATE scim_group_keys SET group_id = $3 WHERE tenant_id = $1 AND owner_external_id = $2 \
             AND group_id <> $3 AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = scim_group_keys.group_id)"
        )
        .bind(&group.tenant_id)
        .bind(e)
        .bind(&group.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    on_conn!(c.reborrow(), |c| sqlx::query(
        "UPDATE scim_group_keys SET owner_external_id = $2 WHERE group_id = $1"
    )
    .bind(&group.id)
    .bind(ext)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let mut bears = vec![group.display_name_norm.clone()];
    bears.extend(ext.map(group_key));
    bears.dedup();
    let mut held = Vec::new();
    for key in bears {
        let owner = on_conn!(c.reborrow(), |c| {
            sqlx::query_scalar::<_, String>(
            "INSERT INTO scim_group_keys (tenant_id, group_key, group_id, owner_external_id, claimed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, group_key) \
             DO UPDATE SET claimed_at = scim_group_keys.claimed_at RETURNING group_id"
        )
        .bind(&group.tenant_id)
        .bind(&key)
        .bind(&group.id)
        .bind(ext)
        .bind(now)
        .fetch_one(c)
        .await
        })?;
        if owner != group.id {
            held.push(key);
        }
    }
    Ok(held)
}

/// A key held by a group that no longer bears it (renamed away, or deleted).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldKey {
    pub group_key: String,
    pub group_id: String,
    /// The holder's current displayName; None once it is deleted.
    pub display_name: Option<String>,
    pub owner_external_id: Option<String>,
    pub claimed_at: i64,
}

/// The tenant's keys whose holder no longer bears them, by key.
pub async fn held_keys(c: Conn<'_>, tenant_id: &str) -> Result<Vec<HeldKey>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, HeldKey>(
        "SELECT k.group_key, k.group_id, g.display_name, k.owner_external_id, k.claimed_at \
         FROM scim_group_keys k LEFT JOIN groups g ON g.id = k.group_id \
         WHERE k.tenant_id = $1 AND (g.id IS NULL OR (g.display_name_norm <> k.group_key \
         AND (g.external_id IS NULL OR LOWER(g.external_id) <> k.group_key))) \
         ORDER BY k.group_key"
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}

/// Deletes the tenant's key; returns the group that held it.
pub async fn release_group_key(c: Conn<'_>, tenant_id: &str, key: &str) -> Result<Option<String>> {
    Ok(on_conn!(c, |c| sqlx::query_scalar::<_, String>(
        "DELETE FROM scim_group_keys WHERE tenant_id = $1 AND group_key = $2 RETURNING group_id"
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_optional(c)
    .await)?)
}

/// The tenant's group that bears `key` now: by displayName, else by externalId.
pub async fn group_bearing(c: Conn<'_>, tenant_id: &str, key: &str) -> Result<Option<GroupRow>> {
    let sql = format!(
        "SELECT {GROUP_COLS} FROM groups WHERE tenant_id = $1 AND \
         (display_name_norm = $2 OR LOWER(external_id) = $2) \
         ORDER BY CASE WHEN display_name_norm = $2 THEN 0 ELSE 1 END, created_at LIMIT 1"
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, GroupRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_optional(c)
    .await)?)
}

/// Every SCIM user below a group (members, and members of nested groups), as (scim id, user id).
pub async fn users_below(c: Conn<'_>, group_id: &str) -> Result<Vec<(String, Option<String>)>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, (String, Option<String>)>(
        "WITH RECURSIVE down(id) AS ( \
             SELECT $1 UNION SELECT gm.member_id FROM group_members gm JOIN down ON gm.group_id = down.id \
             WHERE gm.member_type = 'Group') \
         SELECT DISTINCT u.id, u.user_id FROM group_members gm JOIN down ON gm.group_id = down.id \
         JOIN scim_users u ON u.id = gm.member_id"
    )
    .bind(group_id)
    .fetch_all(c)
    .await
    })?)
}

/// The sortable columns of a resource (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Id,
    Name,
    ExternalId,
    DisplayName,
    Created,
    Modified,
}

impl Sort {
    fn column(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Sort::Id, _) => "id",
            (Sort::Name, Kind::User) => "user_name_norm",
            (Sort::Name, Kind::Group) | (Sort::DisplayName, Kind::Group) => "display_name_norm",
            (Sort::DisplayName, Kind::User) => "COALESCE(display_name_norm, '')",
            (Sort::ExternalId, _) => "COALESCE(external_id, '')",
            (Sort::Created, _) => "created_at",
            (Sort::Modified, _) => "updated_at",
        }
    }

    pub fn is_int(self) -> bool {
        matches!(self, Sort::Created | Sort::Modified)
    }
}

/// A compiled filter: a WHERE fragment with its binds, and whether SQL decides it alone.
#[derive(Debug, Clone)]
pub struct Where {
    pub sql: String,
    pub args: Vec<Arg>,
    pub exact: bool,
    /// The clause reads SQLite's trigram index: the query should start from its few rowids,
    /// not from the tenant's index (`+tenant_id` keeps the planner off the latter).
    pub fts: bool,
}

/// Compiles a SCIM filter to SQL for `kind`; placeholders start after `first_arg`.
pub fn compile(kind: Kind, backend: Backend, f: &Filter, first_arg: usize) -> Where {
    let mut w = Where {
        sql: String::new(),
        args: Vec::new(),
        exact: true,
        fts: false,
    };
    let mut cx = Compile {
        kind,
        backend,
        next: first_arg,
        nullable: false,
        fts: false,
        under_or_not: 0,
    };
    w.sql = cx.node(f, &mut w.args, &mut w.exact);
    w.fts = cx.fts;
    w
}

struct Compile {
    kind: Kind,
    backend: Backend,
    next: usize,
    /// A comparison on a column that may be NULL was compiled (SQL's NOT of NULL is NULL, not
    /// true: such clauses cannot be negated in SQL).
    nullable: bool,
    /// A trigram clause every match must satisfy (reached through `and` only) was compiled.
    fts: bool,
    /// How many `or` / `not` the compiler is inside.
    under_or_not: u32,
}

const ANY: &str = "1 = 1";

impl Compile {
    fn arg(&mut self, args: &mut Vec<Arg>, a: Arg) -> String {
        args.push(a);
        self.next += 1;
        format!("${}", self.next)
    }

    fn node(&mut self, f: &Filter, args: &mut Vec<Arg>, exact: &mut bool) -> String {
        match f {
            Filter::And(a, b) => {
                let a = self.node(a, args, exact);
                let b = self.node(b, args, exact);
                format!("({a} AND {b})")
            }
            Filter::Or(a, b) => {
                self.under_or_not += 1;
                let a = self.node(a, args, exact);
                let b = self.node(b, args, exact);
                self.under_or_not -= 1;
                format!("({a} OR {b})")
            }
            Filter::Not(inner) => {
                let mut inner_exact = true;
                let mut inner_args = Vec::new();
                let saved = self.next;
                let saved_nullable = std::mem::replace(&mut self.nullable, false);
                self.under_or_not += 1;
                let sql = self.node(inner, &mut inner_args, &mut inner_exact);
                self.under_or_not -= 1;
                let nullable = std::mem::replace(&mut self.nullable, saved_nullable);
                if inner_exact && !nullable {
                    args.extend(inner_args);
                    format!("(NOT {sql})")
                } else {
                    // NOT of a widened clause would narrow wrongly: leave it to the evaluator.
                    self.next = saved;
                    *exact = false;
                    ANY.into()
                }
            }
            Filter::Present(p) => self.present(p, exact),
            Filter::Compare(p, op, v) => self.compare(p, *op, v, args, exact),
            Filter::ValuePath(p, inner) => {
                *exact = false;
                // emails[type eq "work" and value eq "x"]: the value comparison narrows.
                if self.kind == Kind::User
                    && p.is("emails")
                    && let Some(v) = value_eq(inner)
                {
                    let mut ignored = true;
                    return self.emails_eq(v, args, &mut ignored);
                }
                if self.kind == Kind::Group
                    && p.is("members")
                    && let Some(v) = value_eq(inner)
                {
                    let m = self.arg(args, Arg::Text(v.to_string()));
                    return format!(
                        "id IN (SELECT group_id FROM group_members WHERE member_id = {m})"
                    );
                }
                ANY.into()
            }
        }
    }

    fn present(&mut self, p: &AttrPath, exact: &mut bool) -> String {
        if !self.core(p) {
            *exact = false;
            return ANY.into();
        }
        match (p.dotted().as_str(), self.kind) {
            ("id", _) | ("meta.created", _) | ("meta.lastmodified", _) | ("meta", _) => {
                "1 = 1".into()
            }
            ("username", Kind::User) | ("active", Kind::User) | ("displayname", Kind::Group) => {
                "1 = 1".into()
            }
            ("externalid", _) => "(external_id IS NOT NULL AND external_id <> '')".into(),
            ("displayname", Kind::User) => {
                "(display_name_norm IS NOT NULL AND display_name_norm <> '')".into()
            }
            _ => {
                *exact = false;
                ANY.into()
            }
        }
    }

    /// Whether the path names the core schema (no URN, or the core URN).
    fn core(&self, p: &AttrPath) -> bool {
        p.urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(self.kind.core()))
    }

    fn compare(
        &mut self,
        p: &AttrPath,
        op: CompareOp,
        v: &Value,
        args: &mut Vec<Arg>,
        exact: &mut bool,
    ) -> String {
        if !self.core(p) {
            *exact = false;
            return ANY.into();
        }
        let dotted = p.dotted();
        match (dotted.as_str(), self.kind, v) {
            ("id", _, Value::Str(s)) => self.text("id", op, s, true, args, exact),
            ("externalid", _, Value::Str(s)) => self.text("external_id", op, s, true, args, exact),
            ("username", Kind::User, Value::Str(s)) => {
                self.text("user_name_norm", op, &s.to_lowercase(), false, args, exact)
            }
            ("displayname", Kind::User, Value::Str(s)) => self.text(
                "display_name_norm",
                op,
                &s.to_lowercase(),
                false,
                args,
                exact,
            ),
            ("displayname", Kind::Group, Value::Str(s)) => self.text(
                "display_name_norm",
                op,
                &s.to_lowercase(),
                false,
                args,
                exact,
            ),
            ("active", Kind::User, Value::Bool(b))
                if matches!(op, CompareOp::Eq | CompareOp::Ne) =>
            {
                let m = self.arg(args, Arg::Bool(*b));
                let cmp = if op == CompareOp::Eq { "=" } else { "<>" };
                format!("active {cmp} {m}")
            }
            ("emails" | "emails.value", Kind::User, Value::Str(s)) if op == CompareOp::Eq => {
                self.emails_eq(s, args, exact)
            }
            ("members" | "members.value", Kind::Group, Value::Str(s)) if op == CompareOp::Eq => {
                let m = self.arg(args, Arg::Text(s.clone()));
                format!("id IN (SELECT group_id FROM group_members WHERE member_id = {m})")
            }
            ("meta.created" | "meta.lastmodified", _, Value::Str(s)) => {
                let col = if dotted == "meta.created" {
                    "created_at"
                } else {
                    "updated_at"
                };
                match (parse_time(s), sql_cmp(op)) {
                    (Some(ms), Some(cmp)) => {
                        // Stored instants are whole milliseconds; so is the literal.
                        let m = self.arg(args, Arg::Int(ms));
                        format!("{col} {cmp} {m}")
                    }
                    _ => {
                        *exact = false;
                        ANY.into()
                    }
                }
            }
            _ => {
                *exact = false;
                ANY.into()
            }
        }
    }

    /// Any email value equal (case-insensitively); `$1` is the tenant in every list query.
    fn emails_eq(&mut self, s: &str, args: &mut Vec<Arg>, _exact: &mut bool) -> String {
        let m = self.arg(args, Arg::Text(s.to_lowercase()));
        format!(
            "id IN (SELECT scim_user_id FROM scim_emails WHERE tenant_id = $1 AND value_norm = {m})"
        )
    }

    /// A string comparison on a column; `value` is already lower-cased for case-insensitive
    /// columns. Substring operators on case-exact columns only narrow (SQLite's LIKE ignores
    /// ASCII case): the evaluator decides.
    fn text(
        &mut self,
        col: &str,
        op: CompareOp,
        value: &str,
        case_exact: bool,
        args: &mut Vec<Arg>,
        exact: &mut bool,
    ) -> String {
        if col != "id"
            && col != "user_name_norm"
            && !(col == "display_name_norm" && self.kind == Kind::Group)
        {
            self.nullable = true;
        }
        if let Some(cmp) = sql_cmp(op) {
            let m = self.arg(args, Arg::Text(value.to_string()));
            return if op == CompareOp::Ne {
                format!("({col} IS NULL OR {col} <> {m})")
            } else {
                format!("{col} {cmp} {m}")
            };
        }
        let pattern = match op {
            CompareOp::Co => format!("%{}%", super::like_escape(value)),
            CompareOp::Sw => format!("{}%", super::like_escape(value)),
            _ => format!("%{}", super::like_escape(value)),
        };
        if case_exact {
            *exact = false;
        }
        let plain = !value.contains(['%', '_', '\\']);
        let m = self.arg(args, Arg::Text(pattern));
        if self.backend == Backend::Sqlite
            && col == "user_name_norm"
            && plain
            && value.chars().count() >= 3
        {
            // The FTS5 trigram index answers LIKE on its column.
            if self.under_or_not == 0 {
                self.fts = true;
            }
            return format!(
                "rowid IN (SELECT rowid FROM scim_users_search WHERE user_name_norm LIKE {m})"
            );
        }
        if self.backend == Backend::Postgres && col == "user_name_norm" && op == CompareOp::Sw {
            // The range the prefix spans, in byte order: the "C"-collated index answers it
            // even in a generic plan, where the LIKE's pattern is unknown.
            let lo = self.arg(args, Arg::Text(value.to_string()));
            let range = match prefix_end(value) {
                Some(end) => {
                    let hi = self.arg(args, Arg::Text(end));
                    format!(" AND {col} COLLATE \"C\" >= {lo} AND {col} COLLATE \"C\" < {hi}")
                }
                None => format!(" AND {col} COLLATE \"C\" >= {lo}"),
            };
            return format!("({col} LIKE {m} ESCAPE '\\'{range})");
        }
        format!("{col} LIKE {m} ESCAPE '\\'")
    }
}

/// The least string above every string that starts with `prefix`, in code point (UTF-8 byte)
/// order: the prefix with its last character incremented. None when there is no such string.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `value eq "x"` inside a value path, alone or in an `and` chain.
fn value_eq(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare(p, CompareOp::Eq, Value::Str(s)) if p.is("value") => Some(s),
        Filter::And(a, b) => value_eq(a).or_else(|| value_eq(b)),
        _ => None,
    }
}

fn sql_cmp(op: CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        _ => return None,
    })
}

fn parse_time(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    // Only whole milliseconds compare exactly with the stored values.
    (t.unix_timestamp_nanos() % 1_000_000 == 0).then_some(ms as i64)
}

/// One list query: tenant, compiled filter, order, keyset position or offset, limit.
pub struct ListQuery<'a> {
    pub kind: Kind,
    pub tenant_id: &'a str,
    pub filter: Option<&'a Where>,
    pub sort: Sort,
    pub descending: bool,
    /// Rows after this (sort value, id) in the order.
    pub after: Option<(Arg, String)>,
    pub offset: i64,
    /// None: every row (the evaluator pages).
    pub limit: Option<i64>,
}

/// ` FROM table WHERE tenant and filter` of a list query.
fn from_where(q: &ListQuery<'_>) -> String {
    let table = match q.kind {
        Kind::User => "scim_users",
        Kind::Group => "groups",
    };
    // A trigram clause that every match satisfies: start from its rowids.
    let tenant = if q.filter.is_some_and(|w| w.fts) {
        "+tenant_id"
    } else {
        "tenant_id"
    };
    let mut sql = format!(" FROM {table} WHERE {tenant} = $1");
    if let Some(w) = q.filter {
        sql.push_str(" AND ");
        sql.push_str(&w.sql);
    }
    sql
}

fn list_sql(q: &ListQuery<'_>, count: bool) -> String {
    let cols = match q.kind {
        Kind::User => USER_COLS,
        Kind::Group => GROUP_COLS,
    };
    let mut sql = if count {
        "SELECT COUNT(*)".to_string()
    } else {
        format!("SELECT {cols}")
    };
    sql.push_str(&from_where(q));
    if count {
        return sql;
    }
    let col = q.sort.column(q.kind);
    let cmp = if q.descending { "<" } else { ">" };
    let n = 1 + q.filter.map_or(0, |w| w.args.len());
    if q.after.is_some() {
        if q.sort == Sort::Id {
            sql.push_str(&format!(" AND id {cmp} ${}", n + 1));
        } else {
            sql.push_str(&format!(
                " AND ({col} {cmp} ${a} OR ({col} = ${a} AND id {cmp} ${b}))",
                a = n + 1,
                b = n + 2
            ));
        }
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(&order(q));
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    if q.offset > 0 {
        sql.push_str(&format!(" OFFSET {}", q.offset));
    }
    sql
}

/// The ORDER BY terms of a list query (id breaks ties).
fn order(q: &ListQuery<'_>) -> String {
    let dir = if q.descending { "DESC" } else { "ASC" };
    if q.sort == Sort::Id {
        format!("id {dir}")
    } else {
        format!("{} {dir}, id {dir}", q.sort.column(q.kind))
    }
}

/// The (sort value, id) of every `step`-th row of a list query's order (positions `step`,
/// `2 * step`, ...): keyset positions from which a page at any `startIndex` is a short OFFSET
/// away. One pass over the matches, counted in the database.
pub async fn anchors(c: Conn<'_>, q: &ListQuery<'_>, step: i64) -> Result<Vec<(Arg, String)>> {
    let col = q.sort.column(q.kind);
    let sql = format!(
        "SELECT k, id FROM (SELECT {col} AS k, id, row_number() OVER (ORDER BY {order}) AS rn{from}) t \
         WHERE rn % {step} = 0 ORDER BY rn",
        order = order(q),
        from = from_where(q),
    );
    let args = binds(q);
    if q.sort.is_int() {
        let rows: Vec<(i64, String)> = on_conn!(c, |c| bind_all!(
            sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql.as_str())),
            &args
        )
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|(k, id)| (Arg::Int(k), id)).collect())
    } else {
        let rows: Vec<(String, String)> = on_conn!(c, |c| bind_all!(
            sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql.as_str())),
            &args
        )
        .fetch_all(c)
        .await)?;
        Ok(rows.into_iter().map(|(k, id)| (Arg::Text(k), id)).collect())
    }
}

fn binds(q: &ListQuery<'_>) -> Vec<Arg> {
    let mut args = vec![Arg::Text(q.tenant_id.to_string())];
    if let Some(w) = q.filter {
        args.extend(w.args.iter().cloned());
    }
    args
}

pub async fn count(c: Conn<'_>, q: &ListQuery<'_>) -> Result<i64> {
    let sql = list_sql(q, true);
    let args = binds(q);
    Ok(on_conn!(c, |c| bind_all!(
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.as_str())),
        &args
    )
    .fetch_one(c)
    .await)?)
}

fn page_args(q: &ListQuery<'_>) -> Vec<Arg> {
    let mut args = binds(q);
    if let Some((v, id)) = &q.after {
        if q.sort != Sort::Id {
            args.push(v.clone());
        }
        args.push(Arg::Text(id.clone()));
    }
    args
}

pub async fn list_users(c: Conn<'_>, q: &ListQuery<'_>) -> Result<Vec<ScimUserRow>> {
    let sql = list_sql(q, false);
    let args = page_args(q);
    Ok(on_conn!(c, |c| bind_all!(
        sqlx::query_as::<_, ScimUserRow>(AssertSqlSafe(sql.as_str())),
        &args
    )
    .fetch_all(c)
    .await)?)
}

pub async fn list_groups(c: Conn<'_>, q: &ListQuery<'_>) -> Result<Vec<GroupRow>> {
    let sql = list_sql(q, false);
    let args = page_args(q);
    Ok(on_conn!(c, |c| bind_all!(
        sqlx::query_as::<_, GroupRow>(AssertSqlSafe(sql.as_str())),
        &args
    )
    .fetch_all(c)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_range_ends_at_the_next_string_in_byte_order() {
        assert_eq!(prefix_end("load00123").as_deref(), Some("load00124"));
        assert_eq!(prefix_end("ab\u{10FFFF}").as_deref(), Some("ac"));
        // Past the surrogates, code point order is UTF-8 byte order.
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("zoë").unwrap();
        for s in ["zoë", "zoë@x", "zoë\u{10FFFF}"] {
            assert!(s.as_bytes() < end.as_bytes(), "{s}");
        }
        assert!("zoe".as_bytes() < "zoë".as_bytes());
    }
}
