//! Tenant slugs: 2 to 63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit;
//! usable as a DNS label (`<slug>.<domain>`).

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        let ok = (2..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(Error::invalid_field(
                "invalid_slug",
                "slug",
                "slug must be 2-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("acme-eu-2").is_ok());
        for bad in [
            "a",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "acmé",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}
