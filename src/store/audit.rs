//! Audit events: append-only.

use super::Conn;
use super::stmt::Stmt;
use crate::args;
use crate::error::Result;
use crate::on_conn;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub source: String,
    pub request_id: Option<String>,
}

const COLS: &str = "id, at, tenant_id, actor_id, actor, action, target_type, target_id, before_json, after_json, source, request_id";

pub fn insert_stmt(e: &AuditRow) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO audit_events ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ),
        args![
            &e.id,
            e.at,
            &e.tenant_id,
            &e.actor_id,
            &e.actor,
            &e.action,
            &e.target_type,
            &e.target_id,
            &e.before_json,
            &e.after_json,
            &e.source,
            &e.request_id,
        ],
    )
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub tenant_id: Option<String>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    /// Keyset: events strictly older than this (at, id).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(c: Conn<'_>, q: &AuditQuery) -> Result<Vec<AuditRow>> {
    let sql = format!(
        "SELECT {COLS} FROM audit_events WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR action = $2) \
         AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR target_id = $4) \
         AND ($5 IS NULL OR at < $5 OR (at = $5 AND id < $6)) ORDER BY at DESC, id DESC LIMIT $7"
    );
    let (before_at, before_id) = match &q.before {
        Some((at, id)) => (Some(*at), Some(id.clone())),
        None => (None, None),
    };
    Ok(on_conn!(c, |c| sqlx::query_as::<_, AuditRow>(
        AssertSqlSafe(sql.as_str())
    )
    .bind(&q.tenant_id)
    .bind(&q.action)
    .bind(&q.actor_id)
    .bind(&q.target_id)
    .bind(before_at)
    .bind(&before_id)
    .bind(q.limit)
    .fetch_all(c)
    .await)?)
}
