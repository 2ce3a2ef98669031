//! An email domain an organisation claims: lower-case ASCII labels (IDNs in their `xn--` form),
//! at least two, each 1-63 letters, digits or dashes not at either end, 253 bytes at most.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Parses `raw` (`@` prefix and case forgiven); `field` names the input in the error.
    pub fn parse(raw: &str, field: &str) -> Result<Self> {
        let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            });
        if ok {
            Ok(Self(d))
        } else {
            Err(Error::invalid_field(
                "invalid_domain",
                field,
                format!("`{}` is not a domain such as example.com", raw.trim()),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_parse_lower_cased_and_refuse_what_is_not_one() {
        assert_eq!(
            DomainName::parse(" @Acme.Example ", "d").unwrap().as_str(),
            "acme.example"
        );
        assert!(DomainName::parse("xn--bcher-kva.example", "d").is_ok());
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.b",
            "a-.b",
            "a b.c",
            "ünï.com",
            "a.b/c",
        ] {
            assert!(DomainName::parse(bad, "d").is_err(), "{bad}");
        }
    }
}
