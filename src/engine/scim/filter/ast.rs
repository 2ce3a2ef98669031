//! The filter and PATCH-path tree: attribute paths, operators, literals, and their printing
//! back to text that parses to the same tree.

use serde_json::Number;
use std::fmt;

/// `[urn:]attr[.sub]` as written; names compare case-insensitively (RFC 7643 §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// Schema URN when the name was URN-qualified, e.g.
    /// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" (as written); None otherwise.
    pub urn: Option<String>,
    /// Attribute name as written (compare case-insensitively), e.g. "emails", "name".
    pub attr: String,
    /// Sub-attribute, e.g. Some("givenName") for name.givenName.
    pub sub: Option<String>,
}

impl AttrPath {
    /// An unqualified path without sub-attribute (convenience for callers and tests).
    pub fn new(attr: &str) -> Self {
        Self {
            urn: None,
            attr: attr.to_string(),
            sub: None,
        }
    }

    /// True for the top-level attribute `name` (any case, no sub-attribute; the URN is ignored).
    pub fn is(&self, name: &str) -> bool {
        self.sub.is_none() && self.attr.eq_ignore_ascii_case(name)
    }

    /// Lowercase "attr" or "attr.sub" without the URN: a stable key for mapping to columns.
    pub fn dotted(&self) -> String {
        match &self.sub {
            Some(sub) => format!(
                "{}.{}",
                self.attr.to_ascii_lowercase(),
                sub.to_ascii_lowercase()
            ),
            None => self.attr.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Operators are case-insensitive (RFC 7644 §3.4.2.2).
    pub(super) fn from_word(word: &str) -> Option<Self> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    pub(super) fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    pub(super) fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison literal (`compValue` in the RFC).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_json_string(f, s),
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
        }
    }
}

/// JSON string escaping, so that `Display` output parses back to the same value.
pub(super) fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// emails[type eq "work" and value co "@x.com"]: the inner filter's paths are relative to one
    /// element of the multi-valued attribute.
    ValuePath(AttrPath, Box<Filter>),
}

/// Canonical filter text with the fewest parentheses that keep the tree: parses back to an equal
/// `Filter` (used in logs and in the round-trip tests).
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn grouped(f: &mut fmt::Formatter<'_>, x: &Filter, paren: bool) -> fmt::Result {
            if paren {
                write!(f, "({x})")
            } else {
                write!(f, "{x}")
            }
        }
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            Filter::Or(a, b) => {
                write!(f, "{a} or ")?;
                grouped(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::And(a, b) => {
                grouped(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                grouped(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::ValuePath(p, x) => write!(f, "{p}[{x}]"),
        }
    }
}

/// A parse error; `message` already ends with "at <position>" (and what was found there), so it
/// can go into a SCIM `invalidFilter` detail as is.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub message: String,
    /// 0-based byte offset into the input.
    pub position: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

pub(super) fn err(position: usize, what: impl fmt::Display) -> FilterError {
    FilterError {
        message: format!("{what} at {position}"),
        position,
    }
}

/// `PATH = attrPath / valuePath [subAttr]` (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// e.g. emails (sub None), or name.givenName (sub Some).
    pub attr: AttrPath,
    /// emails[type eq "work"] / members[value eq "x"]; paths inside are relative to one element.
    pub filter: Option<Filter>,
    /// The .value after ]: emails[type eq "work"].value.
    pub sub: Option<String>,
}
