//! The bounds every filter and PATCH path is held to, and the core schema URNs.

/// Longer filters (and PATCH paths) are refused before parsing: real filters are short and the
/// limit bounds the work (and AST size) an attacker can cause.
pub const MAX_FILTER_LEN: usize = 8 * 1024;

/// Maximum nesting of `( )` and `[ ]` (`not` needs its own `( )`, so it is counted there). Checked
/// by an iterative pre-scan, so deep input is refused without recursing.
pub const MAX_DEPTH: usize = 32;

pub(super) const CORE_USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const CORE_GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Maximum number of `and`/`or` operators in one filter. A chain `a and b and c ...` is a
/// left-deep tree as deep as it is long, and everything that walks the AST (derived `Clone`,
/// `PartialEq`, `Debug`, drop, SQL translation) recurses; without this bound 8 KiB allows ~900
/// levels, ~1 MiB of stack in a debug build. With it the AST is at most about
/// `MAX_OPERATORS + 2 * MAX_DEPTH` deep.
pub const MAX_OPERATORS: usize = 128;

/// How many characters of user input an error message quotes, so errors stay short.
pub(super) const QUOTE_MAX: usize = 40;
