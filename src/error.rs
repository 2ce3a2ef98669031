//! The domain error. Services return it; each protocol maps it to a response exactly once
//! (`http::error` for `/api`).

use std::borrow::Cow;

/// Stable, machine-readable error code (`"email_taken"`, `"last_admin"`, ...).
pub type Code = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or invalid input (400).
    #[error("{message}")]
    Invalid {
        code: Code,
        message: String,
        field: Option<String>,
    },
    /// No or bad credentials (401).
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, not allowed (403).
    #[error("{message}")]
    Forbidden { code: Code, message: String },
    /// Not there, or not visible to the caller (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Conflicts with existing state (409).
    #[error("{message}")]
    Conflict {
        code: Code,
        message: String,
        field: Option<String>,
    },
    /// Was valid once, no longer (410): used or expired one-time links.
    #[error("{message}")]
    Gone { code: Code, message: String },
    /// Well-formed but breaks a business rule (422).
    #[error("{message}")]
    Rule { code: Code, message: String },
    /// Too many attempts (429): retry after this many seconds (`Retry-After`).
    #[error("{message}")]
    RateLimited {
        retry_after_secs: u64,
        message: String,
    },
    /// The password-hash queue is full (503): retry in a moment.
    #[error("the server is busy: try again in a moment")]
    Overloaded,
    /// Anything else: logged once, never shown (500).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(
        code: impl Into<Code>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            code: code.into(),
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn forbidden(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn conflict(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self::Conflict {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn gone(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self::Gone {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn rule(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self::Rule {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    /// A 429 with the wait, in whole seconds (at least 1).
    pub fn rate_limited(wait: std::time::Duration, message: impl Into<String>) -> Self {
        Self::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            message: message.into(),
        }
    }

    /// The seconds a client should wait before trying again, for 429 and 503.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::Overloaded => Some(1),
            _ => None,
        }
    }

    /// The 403 for a missing permission, naming it.
    pub fn missing_permission(permission: &str) -> Self {
        Self::forbidden(
            "permission_denied",
            format!("this needs the permission `{permission}` in the selected tenant"),
        )
    }
}

/// Unique constraints, by PostgreSQL constraint name and SQLite `table.column` list, with the
/// conflict they mean. Migrations name every unique constraint; this is the one place that
/// turns them into 409s.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str, &str, &str)] = &[
    // (pg constraint, sqlite columns, code, field, message)
    (
        "sso_connections_name_key",
        "sso_connections.tenant_id, sso_connections.name",
        "name_taken",
        "name",
        "this tenant already has a connection with this name",
    ),
    (
        "sso_domains_pkey",
        "sso_domains.domain",
        "domain_taken",
        "email_domains",
        "another connection already owns this email domain",
    ),
    (
        "domains_tenant_domain_key",
        "domains.tenant_id, domains.domain",
        "domain_claimed",
        "domain",
        "this organisation has already claimed this domain",
    ),
    (
        "domains_verified_key",
        "domains.domain",
        "domain_verified_elsewhere",
        "domain",
        "this domain is verified by another organisation",
    ),
    (
        "users_email_key",
        "users.email_norm",
        "email_taken",
        "email",
        "a user with this email already exists",
    ),
    (
        "tenants_slug_key",
        "tenants.slug",
        "slug_taken",
        "slug",
        "a tenant with this slug already exists",
    ),
    (
        "roles_tenant_name_key",
        "roles.tenant_id, roles.name_norm",
        "role_name_taken",
        "name",
        "a role with this name already exists in the tenant",
    ),
    (
        "memberships_pkey",
        "memberships.tenant_id, memberships.user_id",
        "already_member",
        "user_id",
        "the user is already a member of the tenant",
    ),
    (
        "role_assignments_key",
        "role_assignments.user_id, role_assignments.tenant_id, role_assignments.role_id, role_assignments.source",
        "role_already_assigned",
        "role",
        "the user already has this role here",
    ),
    (
        "api_tokens_tenant_name_key",
        "api_tokens.tenant_id, api_tokens.kind, api_tokens.name",
        "token_name_taken",
        "name",
        "a token with this name already exists in the tenant",
    ),
    (
        "scim_users_user_name_key",
        "scim_users.tenant_id, scim_users.user_name_norm",
        "user_name_taken",
        "userName",
        "a user with this userName already exists in the tenant",
    ),
    (
        "groups_tenant_name_key",
        "groups.tenant_id, groups.display_name_norm",
        "group_name_taken",
        "display_name",
        "a group with this name already exists in the tenant",
    ),
];

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            let message = db.message();
            for (pg, sqlite, code, field, text) in UNIQUE_CONSTRAINTS {
                let hit = db.constraint() == Some(*pg)
                    || message.strip_prefix("UNIQUE constraint failed: ") == Some(*sqlite);
                if hit {
                    return Error::Conflict {
                        code: Cow::Borrowed(*code),
                        message: (*text).to_string(),
                        field: Some((*field).to_string()),
                    };
                }
            }
            return Error::conflict("conflict", "this conflicts with an existing record");
        }
        Error::Internal(format!("database: {err}"))
    }
}
