//! User lifecycle: list and search, create, edit, activate/deactivate, soft delete and restore,
//! role assignments, sessions.

pub mod handlers;
pub mod import;
pub mod preferences;
pub mod service;
pub mod stats_cache;

use serde::Serialize;

use crate::domain::{Email, PersonName};
use crate::store::users::UserRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub name: String,
    pub status: String,
    pub active: bool,
    pub platform_admin: bool,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<i64>,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            name: crate::domain::display_name(&u.first_name, u.last_name.as_deref()),
            active: u.status == crate::domain::UserStatus::Active,
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            status: u.status.as_str().to_string(),
            platform_admin: u.platform_admin,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
            deleted_at: u.deleted_at,
            roles: None,
        }
    }
}

/// A new active user row; sort and search keys derived from the names and email.
pub fn new_user_row(
    email: &Email,
    first: PersonName,
    last: Option<PersonName>,
    password_hash: Option<String>,
    now: i64,
) -> UserRow {
    let mut row = UserRow {
        id: crate::domain::new_id(),
        email: email.as_str().to_string(),
        email_norm: email.normalized().to_string(),
        first_name: first.into_inner(),
        last_name: last.map(PersonName::into_inner),
        sort_name: String::new(),
        search_text: String::new(),
        status: crate::domain::UserStatus::Active,
        password_hash,
        platform_admin: false,
        session_version: 0,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        deleted_at: None,
    };
    refresh_keys(&mut row);
    row
}

/// Recomputes the lower-cased sort and search keys after a name change.
pub fn refresh_keys(u: &mut UserRow) {
    let full = crate::domain::display_name(&u.first_name, u.last_name.as_deref());
    u.sort_name = full.to_lowercase();
    u.search_text = format!("{} {}", full.to_lowercase(), u.email_norm);
}
