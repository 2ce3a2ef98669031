//! Email addresses: trimmed, at most 254 characters, one `@`, a dotted domain. Uniqueness is on
//! the lower-cased form; the address as typed is kept for display.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = |m: &str| {
            Err(Error::invalid_field(
                "invalid_email",
                "email",
                m.to_string(),
            ))
        };
        let s = raw.trim();
        if s.is_empty() {
            return bad("email is required");
        }
        if s.chars().count() > 254 {
            return bad("email must be at most 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad("email must look like name@example.com");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !local_ok || !domain_ok {
            return bad("email must look like name@example.com");
        }
        Ok(Self {
            display: s.to_string(),
            normalized: s.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The lower-cased form that uniqueness and lookups use.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    pub fn domain(&self) -> &str {
        self.normalized
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let e = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@Example.COM");
        assert_eq!(e.normalized(), "ada.lovelace@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a@@x.com",
            "a b@x.com",
            "a@x..com",
            ".a@x.com",
            "a@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
