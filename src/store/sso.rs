//! SSO connections, their email domains, external identities and sign-ins in flight.

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: crate::domain::ConnectionKind,
    pub name: String,
    pub enabled: bool,
    pub config: String,
    pub secret_sealed: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A platform admin configured it and nobody else changed it since.
    pub platform_managed: bool,
}

const COLS: &str = "id, tenant_id, kind, name, enabled, config, secret_sealed, created_at, updated_at, platform_managed";

pub async fn insert(c: Conn<'_>, r: &ConnectionRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO sso_connections ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    on_conn!(c, |c| sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(r.kind)
        .bind(&r.name)
        .bind(r.enabled)
        .bind(&r.config)
        .bind(&r.secret_sealed)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.platform_managed)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update(c: Conn<'_>, r: &ConnectionRow) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "UPDATE sso_connections SET name = $2, enabled = $3, config = $4, secret_sealed = $5, \
         updated_at = $6, platform_managed = $7 WHERE id = $1"
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(r.enabled)
    .bind(&r.config)
    .bind(&r.secret_sealed)
    .bind(r.updated_at)
    .bind(r.platform_managed)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get(c: Conn<'_>, id: &str) -> Result<Option<ConnectionRow>> {
    let sql = format!("SELECT {COLS} FROM sso_connections WHERE id = $1");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn list(c: Conn<'_>, tenant_id: &str) -> Result<Vec<ConnectionRow>> {
    let sql = format!("SELECT {COLS} FROM sso_connections WHERE tenant_id = $1 ORDER BY name");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}

pub async fn delete(mut c: Conn<'_>, id: &str) -> Result<bool> {
    for sql in [
        "DELETE FROM sso_pending WHERE connection_id = $1",
        "DELETE FROM sso_domains WHERE connection_id = $1",
        "DELETE FROM sso_identities WHERE connection_id = $1",
    ] {
        on_conn!(c.reborrow(), |c| sqlx::query(sql)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    let n = on_conn!(c, |c| sqlx::query(
        "DELETE FROM sso_connections WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Replaces the connection's email domains (a domain owned elsewhere is a 409).
pub async fn set_domains(mut c: Conn<'_>, id: &str, domains: &[String]) -> Result<()> {
    on_conn!(c.reborrow(), |c| sqlx::query(
        "DELETE FROM sso_domains WHERE connection_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    for d in domains {
        on_conn!(c.reborrow(), |c| sqlx::query(
            "INSERT INTO sso_domains (domain, connection_id) VALUES ($1, $2)"
        )
        .bind(d)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

pub async fn domains(c: Conn<'_>, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = on_conn!(c, |c| sqlx::query_as(
        "SELECT domain FROM sso_domains WHERE connection_id = $1 ORDER BY domain"
    )
    .bind(id)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The enabled connection listing an email domain that its organisation verified
/// (home-realm discovery).
pub async fn by_domain(c: Conn<'_>, domain: &str) -> Result<Option<ConnectionRow>> {
    let sql = format!(
        "SELECT {} FROM sso_connections c JOIN sso_domains d ON d.connection_id = c.id \
         JOIN tenants t ON t.id = c.tenant_id \
         JOIN domains v ON v.domain = d.domain AND v.tenant_id = t.root_id AND v.verified_at IS NOT NULL \
         WHERE d.domain = $1 AND c.enabled",
        COLS.split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(domain)
    .fetch_optional(c)
    .await)?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    pub connection_id: String,
    pub issuer: String,
    pub subject: String,
    pub user_id: String,
    pub email: Option<String>,
    pub groups: super::types::TextList,
    pub created_at: i64,
    pub last_login_at: i64,
}

pub async fn identity(
    c: Conn<'_>,
    connection_id: &str,
    issuer: &str,
    subject: &str,
) -> Result<Option<IdentityRow>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, IdentityRow>(
        "SELECT connection_id, issuer, subject, user_id, email, groups, created_at, last_login_at \
         FROM sso_identities WHERE connection_id = $1 AND issuer = $2 AND subject = $3"
    )
    .bind(connection_id)
    .bind(issuer)
    .bind(subject)
    .fetch_optional(c)
    .await)?)
}

pub async fn upsert_identity(c: Conn<'_>, r: &IdentityRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO sso_identities (connection_id, issuer, subject, user_id, email, groups, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (connection_id, issuer, subject) DO UPDATE SET email = $5, groups = $6, last_login_at = $8"
    )
    .bind(&r.connection_id)
    .bind(&r.issuer)
    .bind(&r.subject)
    .bind(&r.user_id)
    .bind(&r.email)
    .bind(&r.groups)
    .bind(r.created_at)
    .bind(r.last_login_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRow {
    pub state_hash: String,
    pub connection_id: String,
    pub binding_hash: String,
    pub nonce: String,
    pub pkce_sealed: String,
    pub issuer: String,
    pub return_to: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_pending(c: Conn<'_>, r: &PendingRow) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO sso_pending (state_hash, connection_id, binding_hash, nonce, pkce_sealed, issuer, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(&r.state_hash)
    .bind(&r.connection_id)
    .bind(&r.binding_hash)
    .bind(&r.nonce)
    .bind(&r.pkce_sealed)
    .bind(&r.issuer)
    .bind(&r.return_to)
    .bind(r.created_at)
    .bind(r.expires_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Takes a pending sign-in: single use, deleted as it is read (one statement).
pub async fn take_pending(c: Conn<'_>, state_hash: &str, now: i64) -> Result<Option<PendingRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, PendingRow>(
        "DELETE FROM sso_pending WHERE state_hash = $1 AND expires_at >= $2 \
         RETURNING state_hash, connection_id, binding_hash, nonce, pkce_sealed, issuer, return_to, created_at, expires_at"
    )
    .bind(state_hash)
    .bind(now)
    .fetch_optional(c)
    .await
    })?)
}

/// Reads a pending sign-in without taking it (the SAML ACS takes it in its final transaction).
pub async fn peek_pending(c: Conn<'_>, state_hash: &str, now: i64) -> Result<Option<PendingRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, PendingRow>(
        "SELECT state_hash, connection_id, binding_hash, nonce, pkce_sealed, issuer, return_to, created_at, expires_at \
         FROM sso_pending WHERE state_hash = $1 AND expires_at >= $2"
    )
    .bind(state_hash)
    .bind(now)
    .fetch_optional(c)
    .await
    })?)
}

/// Housekeeping: sign-ins that were never finished.
pub async fn purge_pending(c: Conn<'_>, now: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "DELETE FROM sso_pending WHERE expires_at < $1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// The user's assignments with one source (`sso`, `scim`) in a tenant: (role id, role name).
pub async fn roles_from(
    c: Conn<'_>,
    user_id: &str,
    tenant_id: &str,
    source: &str,
) -> Result<Vec<(String, String)>> {
    Ok(on_conn!(c, |c| sqlx::query_as(
        "SELECT r.id, r.name FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
         WHERE ra.user_id = $1 AND ra.tenant_id = $2 AND ra.source = $3 ORDER BY r.name"
    )
    .bind(user_id)
    .bind(tenant_id)
    .bind(source)
    .fetch_all(c)
    .await)?)
}

/// [`roles_from`] for many users: (user id, role id, role name), one query per 500 users.
pub async fn roles_from_many(
    mut c: Conn<'_>,
    user_ids: &[String],
    tenant_id: &str,
    source: &str,
) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for chunk in user_ids.chunks(500) {
        let sql = format!(
            "SELECT ra.user_id, r.id, r.name FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
             WHERE ra.tenant_id = $1 AND ra.source = $2 AND ra.user_id IN ({}) ORDER BY r.name",
            super::stmt::marks(3, chunk.len())
        );
        let mut args = crate::args![tenant_id, source];
        args.extend(chunk.iter().map(super::stmt::Arg::from));
        out.extend(on_conn!(c.reborrow(), |c| crate::bind_all!(
            sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql.as_str())),
            &args
        )
        .fetch_all(c)
        .await)?);
    }
    Ok(out)
}

/// Remembers the upstream sign-in behind an idbridge session.
/// The SAML subject of a session (NameID, its format, SessionIndex), for single logout.
#[derive(Debug, Clone, Default)]
pub struct SamlSubject {
    pub name_id: String,
    pub format: Option<String>,
    pub session_index: Option<String>,
}

pub async fn insert_session(
    c: Conn<'_>,
    session_id: &str,
    connection_id: &str,
    id_token_sealed: Option<&str>,
    saml: Option<&SamlSubject>,
    now: i64,
) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO sso_sessions (session_id, connection_id, id_token_sealed, created_at, saml_name_id, saml_name_id_format, saml_session_index) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(session_id)
    .bind(connection_id)
    .bind(id_token_sealed)
    .bind(now)
    .bind(saml.map(|x| x.name_id.as_str()))
    .bind(saml.and_then(|x| x.format.as_deref()))
    .bind(saml.and_then(|x| x.session_index.as_deref()))
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// (connection id, sealed ID token) of a session that came from SSO.
pub async fn session(c: Conn<'_>, session_id: &str) -> Result<Option<(String, Option<String>)>> {
    Ok(on_conn!(c, |c| sqlx::query_as(
        "SELECT connection_id, id_token_sealed FROM sso_sessions WHERE session_id = $1"
    )
    .bind(session_id)
    .fetch_optional(c)
    .await)?)
}

/// Housekeeping: forgets upstream sign-ins whose session row is gone.
pub async fn purge_sessions(c: Conn<'_>) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "DELETE FROM sso_sessions WHERE NOT EXISTS \
         (SELECT 1 FROM sessions s WHERE s.id = sso_sessions.session_id)"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Records a consumed SAML assertion id; `false` when it was already there (a replay).
pub async fn remember_assertion(
    c: Conn<'_>,
    connection_id: &str,
    assertion_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let n = on_conn!(c, |c| sqlx::query(
        "INSERT INTO saml_replay (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id, assertion_id) DO NOTHING"
    )
    .bind(connection_id)
    .bind(assertion_id)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Housekeeping: assertion ids past their expiry can no longer be replayed.
pub async fn purge_assertions(c: Conn<'_>, now: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "DELETE FROM saml_replay WHERE expires_at < $1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Every connection of a kind, across tenants (background refresh).
pub async fn list_kind(c: Conn<'_>, kind: &str) -> Result<Vec<ConnectionRow>> {
    let sql = format!("SELECT {COLS} FROM sso_connections WHERE kind = $1 ORDER BY id");
    Ok(on_conn!(c, |c| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .bind(kind)
    .fetch_all(c)
    .await)?)
}

/// The SAML subject of a session: NameID, its format, the IdP's SessionIndex.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SamlSessionRow {
    pub session_id: String,
    pub saml_name_id: Option<String>,
    pub saml_name_id_format: Option<String>,
    pub saml_session_index: Option<String>,
}

pub async fn saml_session(c: Conn<'_>, session_id: &str) -> Result<Option<SamlSessionRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, SamlSessionRow>(
        "SELECT session_id, saml_name_id, saml_name_id_format, saml_session_index FROM sso_sessions \
         WHERE session_id = $1 AND saml_name_id IS NOT NULL"
    )
    .bind(session_id)
    .fetch_optional(c)
    .await
    })?)
}

/// The sessions a connection's IdP knows by this NameID (IdP-initiated single logout).
pub async fn saml_sessions_of(
    c: Conn<'_>,
    connection_id: &str,
    name_id: &str,
) -> Result<Vec<SamlSessionRow>> {
    Ok(on_conn!(c, |c| {
        sqlx::query_as::<_, SamlSessionRow>(
        "SELECT session_id, saml_name_id, saml_name_id_format, saml_session_index FROM sso_sessions \
         WHERE connection_id = $1 AND saml_name_id = $2"
    )
    .bind(connection_id)
    .bind(name_id)
    .fetch_all(c)
    .await
    })?)
}
