//! SCIM 2.0 filters (RFC 7644 §3.4.2.2, ABNF in Figure 1) and PATCH paths (§3.5.2), parsed into
//! an AST (`ast`, by the grammar in `parse`, within `limits`), plus an in-memory evaluator of a
//! filter against a resource as JSON (`eval`).
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

mod ast;
mod eval;
mod limits;
mod parse;

pub use self::ast::*;
pub use self::eval::*;
pub use self::limits::*;
pub use self::parse::*;

#[cfg(test)]
mod tests;
