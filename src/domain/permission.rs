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
}
