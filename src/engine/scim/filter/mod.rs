//! SCIM 2.0 filters (RFC 7644 §3.4.2.2, ABNF in Figure 1) and PATCH paths (§3.5.2), parsed into
//! an AST (`ast`, by the grammar in `parse`), plus an in-memory evaluator of a filter against a
//! resource as JSON (`eval`).
//!
//! Pure std + serde_json so that it can be tested (and fuzzed) without the server. Every input is
//! untrusted: the parser never panics, refuses oversized input before looking at it, and bounds
//! nesting with an iterative pre-scan before any recursion.
//!
//! Grammar decisions beyond the RFC:
//! - Whitespace (spaces or tabs, one or more) is required where the RFC has `SP` between two
//!   words (attribute, operator, value, `and`/`or`); around `(`, `)`, `[` and `]` it is optional.
//! - `emails[type eq "work"].value eq "x"` (Entra ID) is accepted in filters and read as
//!   `emails[type eq "work" and value eq "x"]`.
//! - Inside `[ ]` paths are relative to one element: URN-qualified names and nested `[ ]` are
//!   refused.
//! - At most `MAX_OPERATORS` (128) `and`/`or` per filter, which bounds the AST depth.
//! - `not`, `and` and `or` are not usable as attribute names; `\u0000` in a string is refused
//!   (databases refuse NUL in text).
//! - Error positions are 0-based byte offsets into the input.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value as Json};

/// Longer filters (and PATCH paths) are refused before parsing: real filters are short and the
/// limit bounds the work (and AST size) an attacker can cause.
pub const MAX_FILTER_LEN: usize = 8 * 1024;

/// Maximum nesting of `( )` and `[ ]` (`not` needs its own `( )`, so it is counted there). Checked
/// by an iterative pre-scan, so deep input is refused without recursing.
pub const MAX_DEPTH: usize = 32;

const CORE_USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Maximum number of `and`/`or` operators in one filter. A chain `a and b and c ...` is a
/// left-deep tree as deep as it is long, and everything that walks the AST (derived `Clone`,
/// `PartialEq`, `Debug`, drop, SQL translation) recurses; without this bound 8 KiB allows ~900
/// levels, ~1 MiB of stack in a debug build. With it the AST is at most about
/// `MAX_OPERATORS + 2 * MAX_DEPTH` deep.
pub const MAX_OPERATORS: usize = 128;

/// How many characters of user input an error message quotes, so errors stay short.
const QUOTE_MAX: usize = 40;

mod ast;
mod eval;
mod parse;

pub use self::ast::*;
pub use self::eval::*;
pub use self::parse::*;

#[cfg(test)]
mod tests;
