//! Person names and the password policy (004_*: names of at least 2 Unicode letters, spaces,
//! dots and hyphens; passwords of at least 8 with an upper, a lower and a digit).

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name; `field` names the input in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let s = raw.trim();
        let letters = s.chars().filter(|c| c.is_alphabetic()).count();
        let allowed = s
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '.' || c == '-' || c == '\'');
        if s.chars().count() < 2 || letters == 0 || !allowed || s.chars().count() > 100 {
            return Err(Error::invalid_field(
                "invalid_name",
                field,
                format!("{field} must be 2-100 characters of letters, spaces, dots and hyphens"),
            ));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// "First Last", or the first name alone.
pub fn display_name(first: &str, last: Option<&str>) -> String {
    match last {
        Some(l) if !l.is_empty() => format!("{first} {l}"),
        _ => first.to_string(),
    }
}

/// Checks the password policy; the error names what is missing.
pub fn validate_password(pw: &str) -> Result<()> {
    let mut missing = Vec::new();
    if pw.chars().count() < 8 {
        missing.push("at least 8 characters");
    }
    if !pw.chars().any(|c| c.is_uppercase()) {
        missing.push("an uppercase letter");
    }
    if !pw.chars().any(|c| c.is_lowercase()) {
        missing.push("a lowercase letter");
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if pw.len() > 1024 {
        missing.push("at most 1024 bytes");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "weak_password",
            "password",
            format!("password needs {}", missing.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(PersonName::parse("Zoë", "first_name").is_ok());
        assert!(PersonName::parse("Jean-Luc", "first_name").is_ok());
        assert!(PersonName::parse("J. R. R.", "first_name").is_ok());
        assert!(PersonName::parse("李雷", "first_name").is_ok());
        for bad in ["", "A", "R2D2", "<script>", "a_b"] {
            assert!(PersonName::parse(bad, "first_name").is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("Passw0rd").is_ok());
        for bad in ["Pass0rd", "password1", "PASSWORD1", "Password"] {
            assert!(validate_password(bad).is_err(), "{bad}");
        }
    }
}
