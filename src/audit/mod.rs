//! The audit trail: every change writes an event in the same transaction as the change.

pub mod handlers;

use serde::Serialize;

use crate::auth::principal::Principal;
use crate::domain::new_id;
use crate::error::Result;
use crate::store::stmt::Stmt;
use crate::store::{Conn, audit::AuditRow};

/// What changed, by whom, from which surface.
pub struct Event<'a> {
    pub tenant_id: Option<&'a str>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Who did it.
pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub label: String,
    /// `api`, `ui`, `cli`, `scim`, `sso`, `system`.
    pub source: &'a str,
    pub request_id: Option<&'a str>,
}

impl<'a> Actor<'a> {
    pub fn of(p: &'a Principal, request_id: Option<&'a str>) -> Self {
        Self {
            id: p.user_id(),
            label: p.label(),
            source: "api",
            request_id,
        }
    }

    pub fn system(source: &'a str) -> Self {
        Self {
            id: None,
            label: "system".into(),
            source,
            request_id: None,
        }
    }
}

pub async fn record(c: Conn<'_>, now: i64, actor: &Actor<'_>, e: Event<'_>) -> Result<()> {
    record_stmt(now, actor, e).run(c).await.map(drop)
}

/// The statement that records an event, for a [`crate::store::stmt::Batch`].
pub fn record_stmt(now: i64, actor: &Actor<'_>, e: Event<'_>) -> Stmt {
    let row = AuditRow {
        id: new_id(),
        at: now,
        tenant_id: e.tenant_id.map(str::to_string),
        actor_id: actor.id.map(str::to_string),
        actor: actor.label.clone(),
        action: e.action.to_string(),
        target_type: e.target_type.to_string(),
        target_id: e.target_id.map(str::to_string),
        before_json: e.before.map(|v| v.to_string()),
        after_json: e.after.map(|v| v.to_string()),
        source: actor.source.to_string(),
        request_id: actor.request_id.map(str::to_string),
    };
    crate::store::audit::insert_stmt(&row)
}

/// JSON view of an audit event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub source: String,
    pub request_id: Option<String>,
}

impl From<AuditRow> for EventView {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Self {
            id: r.id,
            at: r.at,
            tenant_id: r.tenant_id,
            actor_id: r.actor_id,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: parse(r.before_json),
            after: parse(r.after_json),
            source: r.source,
            request_id: r.request_id,
        }
    }
}
