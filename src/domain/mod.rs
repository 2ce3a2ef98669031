//! Domain newtypes and entities. Each newtype has a private field and a `parse`; holding one
//! means it is valid.

mod domain_name;
mod email;
mod names;
mod permission;
pub mod preferences;
mod slug;
pub mod tenant_settings;

pub use domain_name::DomainName;
pub use email::Email;
pub use names::{PersonName, display_name, validate_password};
pub use permission::{Boundary, Permission, PermissionPattern};
pub use preferences::Preferences;
pub use slug::Slug;

use serde::{Deserialize, Serialize};

/// Generates a fresh id: UUID v7, time-ordered so indexes stay compact.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Parses an id from a path or body, refusing anything but a UUID.
pub fn parse_id(raw: &str, what: &'static str) -> crate::error::Result<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| crate::error::Error::NotFound(what))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Inactive,
    Deleted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// Whether a tenant works: a suspended tenant refuses its members (platform admins pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// The protocol of an upstream SSO connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Oidc,
    Saml,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(Self::Oidc),
            "saml" => Some(Self::Saml),
            _ => None,
        }
    }
}

/// Where a role assignment came from; group-derived sources are reconciled, manual never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleSource {
    Manual,
    Sso,
    Scim,
    Csv,
    Invite,
}

impl RoleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Sso => "sso",
            Self::Scim => "scim",
            Self::Csv => "csv",
            Self::Invite => "invite",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(Self::Manual),
            "sso" => Some(Self::Sso),
            "scim" => Some(Self::Scim),
            "csv" => Some(Self::Csv),
            "invite" => Some(Self::Invite),
            _ => None,
        }
    }
}

/// RBAC tier of a tenant (004_*): `none` = every member may do everything the boundary allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RbacTier {
    None,
    Basic,
    Enterprise,
}

impl RbacTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic => "basic",
            Self::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "basic" => Some(Self::Basic),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }

    /// Whether a role of the given preset tier is usable in a tenant of this tier.
    pub fn exposes(self, role_tier: Option<&str>) -> bool {
        match (self, role_tier) {
            (_, None) => true,
            (Self::Basic, Some("enterprise")) => false,
            _ => true,
        }
    }
}
