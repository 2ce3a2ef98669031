//! Tenants, subtenants, boundaries and memberships.

pub mod domains;
pub mod handlers;
pub mod service;
pub mod settings;
pub mod settings_change;

use serde::Serialize;

use crate::store::tenants::TenantRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub status: String,
    pub preset: String,
    pub rbac_tier: String,
    pub boundary: Vec<String>,
    /// The stored settings as they are (see `settings::TenantSettings`).
    pub settings: serde_json::Value,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

impl From<TenantRow> for TenantView {
    fn from(t: TenantRow) -> Self {
        Self {
            boundary: t.boundary.to_strings(),
            settings: serde_json::to_value(&t.settings).unwrap_or(serde_json::Value::Null),
            id: t.id,
            slug: t.slug,
            name: t.name,
            parent_id: t.parent_id,
            status: t.status.as_str().to_string(),
            preset: t.preset,
            rbac_tier: t.rbac_tier.as_str().to_string(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}
