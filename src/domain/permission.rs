//! Permissions are `resource:action` strings (`users:read`, `itsm:*`, `*:read`, `*`).
//!
//! A pattern covers a requested permission when each of its two segments is `*` or equal to the
//! requested segment. `*` alone is `*:*`. Segments are lower-case `a-z 0-9 _ . -`.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermissionPattern {
    resource: String,
    action: String,
}

/// A requested permission has the same shape as a pattern; a request with `*` asks for the
/// whole wildcard.
pub type Permission = PermissionPattern;

fn segment_ok(s: &str) -> bool {
    s == "*"
        || (!s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)))
}

impl PermissionPattern {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        let (resource, action) = if s == "*" {
            ("*", "*")
        } else {
            s.split_once(':').unwrap_or((s, ""))
        };
        if !segment_ok(resource) || !segment_ok(action) {
            return Err(Error::invalid_field(
                "invalid_permission",
                "permission",
                format!(
                    "`{raw}` is not a permission: use resource:action, e.g. users:read, itsm:* or *"
                ),
            ));
        }
        Ok(Self {
            resource: resource.to_string(),
            action: action.to_string(),
        })
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn is_everything(&self) -> bool {
        self.resource == "*" && self.action == "*"
    }

    /// Whether this pattern grants `wanted`.
    pub fn covers(&self, wanted: &PermissionPattern) -> bool {
        (self.resource == "*" || self.resource == wanted.resource)
            && (self.action == "*" || self.action == wanted.action)
    }

    /// The canonical text (`*` for `*:*`).
    pub fn as_string(&self) -> String {
        if self.is_everything() {
            "*".to_string()
        } else {
            format!("{}:{}", self.resource, self.action)
        }
    }
}

impl std::fmt::Display for PermissionPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_everything() {
            f.write_str("*")
        } else {
            write!(f, "{}:{}", self.resource, self.action)
        }
    }
}

/// What a tenant's roles may ever grant: one or more patterns (`*` for no limit). Stored as a
/// JSON array of patterns and read back through [`Boundary::parse`], so a stored boundary is
/// either whole or refused: a pattern is never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary(Vec<PermissionPattern>);

impl Boundary {
    pub fn parse(raw: &[String]) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::invalid_field(
                "invalid_boundary",
                "boundary",
                "a boundary needs at least one pattern (use [\"*\"] for no limit)",
            ));
        }
        raw.iter()
            .map(|p| PermissionPattern::parse(p))
            .collect::<Result<Vec<_>>>()
            .map(Self)
    }

    pub fn patterns(&self) -> &[PermissionPattern] {
        &self.0
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(PermissionPattern::as_string).collect()
    }

    /// Whether some pattern of the boundary covers `wanted`.
    pub fn covers(&self, wanted: &PermissionPattern) -> bool {
        self.0.iter().any(|b| b.covers(wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PermissionPattern {
        PermissionPattern::parse(s).unwrap()
    }

    #[test]
    fn parses() {
        assert_eq!(p("*").as_string(), "*");
        assert_eq!(p("*:*").as_string(), "*");
        assert_eq!(p("itsm:*").to_string(), "itsm:*");
        for bad in [
            "",
            "users",
            "users:",
            ":read",
            "Users:read",
            "a:b:c",
            "a b:c",
            "x:y*",
        ] {
            assert!(PermissionPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage() {
        assert!(p("*").covers(&p("users:read")));
        assert!(p("users:*").covers(&p("users:read")));
        assert!(p("*:read").covers(&p("users:read")));
        assert!(!p("*:read").covers(&p("users:write")));
        assert!(!p("itsm:*").covers(&p("users:read")));
        assert!(p("users:read").covers(&p("users:read")));
        // A wildcard request is granted only by a pattern at least as wide.
        assert!(!p("users:read").covers(&p("users:*")));
        assert!(p("users:*").covers(&p("users:*")));
    }

    #[test]
    fn a_boundary_is_whole_or_refused() {
        let b = Boundary::parse(&["users:*".into(), "audit:read".into()]).unwrap();
        assert!(b.covers(&p("users:write")));
        assert!(!b.covers(&p("roles:write")));
        assert_eq!(b.to_strings(), ["users:*", "audit:read"]);
        assert!(Boundary::parse(&[]).is_err());
        assert!(Boundary::parse(&["users:*".into(), "Not A Pattern".into()]).is_err());
    }
}
