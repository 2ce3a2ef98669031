//! SCIM 2.0 filters (RFC 7644 §3.4.2.2, ABNF in Figure 1) and PATCH paths (§3.5.2), parsed into
//! an AST, plus an in-memory evaluator of a filter against a resource as JSON.
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
    fn from_word(word: &str) -> Option<Self> {
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

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    fn is_substring(self) -> bool {
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
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
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

fn err(position: usize, what: impl fmt::Display) -> FilterError {
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

/// Parses a filter (the `filter` query parameter or a `/.search` body).
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    prescan(input)?;
    if input.bytes().all(is_space) {
        return Err(err(0, "the filter is empty"));
    }
    let mut p = Parser::new(input);
    let filter = p.parse_or(false)?;
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.err_found(p.pos, "expected \"and\", \"or\" or the end of the filter"));
    }
    Ok(filter)
}

/// Parses a PATCH operation `path`. No whitespace is allowed outside the brackets.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    prescan(input)?;
    let mut p = Parser::new(input);
    let word = p.scan_word();
    if word.is_empty() {
        return Err(p.err_found(0, "expected an attribute path"));
    }
    let attr = parse_attr_path(word, 0, false)?;
    match p.peek() {
        None => Ok(PatchPath {
            attr,
            filter: None,
            sub: None,
        }),
        Some(b'[') => {
            if attr.sub.is_some() {
                return Err(err(
                    p.pos,
                    "a [ ] filter must follow an attribute without sub-attribute",
                ));
            }
            let open = p.pos;
            p.pos += 1;
            let filter = p.parse_or(true)?;
            p.expect_close(b']', open)?;
            let sub = match p.peek() {
                None => None,
                Some(b'.') => {
                    p.pos += 1;
                    let start = p.pos;
                    let word = p.scan_word();
                    let name = parse_single_name(word, start)?;
                    if p.pos < input.len() {
                        return Err(p.err_found(p.pos, "expected the end of the path"));
                    }
                    Some(name)
                }
                Some(_) => {
                    return Err(p.err_found(
                        p.pos,
                        "expected \".\" and a sub-attribute, or the end of the path",
                    ));
                }
            };
            Ok(PatchPath {
                attr,
                filter: Some(filter),
                sub,
            })
        }
        Some(_) => Err(p.err_found(p.pos, "expected \"[\" or the end of the path")),
    }
}

/// Length, NUL and nesting checks in one iterative pass, before any recursive parsing: a
/// 100k-deep "((((" must be refused without recursion.
fn prescan(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(err(
            MAX_FILTER_LEN,
            format_args!(
                "the filter is longer than {MAX_FILTER_LEN} bytes ({} bytes)",
                input.len()
            ),
        ));
    }
    check_nul_and_depth(input)
}

/// Split from `prescan` so tests can run it on inputs above the length limit.
fn check_nul_and_depth(input: &str) -> Result<(), FilterError> {
    if let Some(pos) = input.find('\0') {
        return Err(err(pos, "a NUL character is not allowed"));
    }
    let b = input.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Skip the string so brackets inside it do not count; the parser reports
                // unterminated strings and bad escapes.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(err(
                        i,
                        format_args!(
                            "the filter is nested too deeply (more than {MAX_DEPTH} levels of ( ) and [ ])"
                        ),
                    ));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Bytes of an attribute path, operator or keyword (all ASCII, so word slices are always on
/// char boundaries). ':' and '.' are included so a URN-qualified path is one word.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'$')
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref` (used in `members[$ref eq ...]`).
fn is_valid_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A URN prefix: "urn" and at least one more non-empty segment of `[A-Za-z0-9._-]`.
fn is_valid_urn(urn: &str) -> bool {
    let mut segments = 0;
    for seg in urn.split(':') {
        if seg.is_empty()
            || !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return false;
        }
        segments += 1;
    }
    segments >= 2
}

/// Quotes (Debug-escaped) at most `QUOTE_MAX` characters of user input for an error message.
fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}...", s.get(..cut).unwrap_or("")),
        None => format!("{s:?}"),
    }
}

/// Splits one word into `[urn:]attr[.sub]`. A `urn:` name is split at its last ':' (the URN itself
/// contains dots, e.g. "2.0"); only the part after it is split at dots.
fn parse_attr_path(word: &str, start: usize, relative: bool) -> Result<AttrPath, FilterError> {
    let is_urn = word
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let (urn, rest, rest_start) = if is_urn {
        if relative {
            return Err(err(
                start,
                format_args!(
                    "a URN-qualified attribute ({}) is not allowed inside [ ], where paths are relative to one value",
                    quote(word)
                ),
            ));
        }
        let colon = word.rfind(':').unwrap_or(0);
        let urn = word.get(..colon).unwrap_or("");
        let rest = word.get(colon + 1..).unwrap_or("");
        if !is_valid_urn(urn) {
            return Err(err(
                start,
                format_args!("invalid schema URN in {}", quote(word)),
            ));
        }
        if rest.is_empty() {
            return Err(err(
                start + word.len(),
                format_args!(
                    "expected an attribute name after the schema URN in {}",
                    quote(word)
                ),
            ));
        }
        (Some(urn.to_string()), rest, start + colon + 1)
    } else {
        (None, word, start)
    };
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or("");
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(err(
            start,
            format_args!(
                "invalid attribute path {}: at most one sub-attribute (attr.sub) is allowed",
                quote(word)
            ),
        ));
    }
    if !is_valid_name(attr) {
        return Err(invalid_name(attr, rest_start));
    }
    if let Some(sub) = sub
        && !is_valid_name(sub)
    {
        return Err(invalid_name(sub, rest_start + attr.len() + 1));
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// The sub-attribute after `]` (a plain name).
fn parse_single_name(word: &str, start: usize) -> Result<String, FilterError> {
    if is_valid_name(word) {
        Ok(word.to_string())
    } else {
        Err(invalid_name(word, start))
    }
}

fn invalid_name(name: &str, pos: usize) -> FilterError {
    err(
        pos,
        format_args!(
            "invalid attribute name {} (expected a letter followed by letters, digits, \"-\" or \"_\")",
            quote(name)
        ),
    )
}

/// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`, checked here because serde_json's own
/// number parser is only reachable through `FromStr`, which we also use for the value.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i + 1),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

/// Recursive descent over the input; recursion happens only at `(` and `[`, which the pre-scan
/// has bounded.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// `and`/`or` operators seen so far (bounded by `MAX_OPERATORS`).
    operators: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            operators: 0,
        }
    }

    fn count_operator(&mut self, at: usize) -> Result<(), FilterError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(err(
                at,
                format_args!("too many \"and\"/\"or\" operators (more than {MAX_OPERATORS})"),
            ));
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn word_at(&self, pos: usize) -> &'a str {
        let b = self.src.as_bytes();
        let mut end = pos;
        while b.get(end).copied().is_some_and(is_word_byte) {
            end += 1;
        }
        self.src.get(pos..end).unwrap_or("")
    }

    fn scan_word(&mut self) -> &'a str {
        let word = self.word_at(self.pos);
        self.pos += word.len();
        word
    }

    /// Where a word may end: whitespace, a bracket or the end.
    fn at_delim(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'(' | b')' | b'[' | b']')
        )
    }

    fn found(&self, pos: usize) -> String {
        match self.src.as_bytes().get(pos) {
            None => "the end of the input".to_string(),
            Some(&b) if is_word_byte(b) => quote(self.word_at(pos)),
            Some(_) => match self.src.get(pos..).and_then(|s| s.chars().next()) {
                Some(c) => format!("{c:?}"),
                None => "an invalid character".to_string(),
            },
        }
    }

    fn err_found(&self, pos: usize, what: impl fmt::Display) -> FilterError {
        FilterError {
            message: format!("{what} at {pos}, found {}", self.found(pos)),
            position: pos,
        }
    }

    fn require_delim(&self, after: &str) -> Result<(), FilterError> {
        if self.at_delim() {
            Ok(())
        } else {
            Err(self.err_found(
                self.pos,
                format_args!("expected whitespace after {}", quote(after)),
            ))
        }
    }

    /// Consumes keyword `kw` (any case) if it is the next word.
    fn keyword(&mut self, kw: &str) -> bool {
        if self.word_at(self.pos).eq_ignore_ascii_case(kw) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// `or` is the loosest and left-associative.
    fn parse_or(&mut self, relative: bool) -> Result<Filter, FilterError> {
        let mut left = self.parse_and(relative)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let at = self.pos;
            if self.keyword("or") {
                self.count_operator(at)?;
                let right = self.parse_and(relative)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    /// `and` binds tighter than `or`, left-associative.
    fn parse_and(&mut self, relative: bool) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary(relative)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let at = self.pos;
            if self.keyword("and") {
                self.count_operator(at)?;
                let right = self.parse_unary(relative)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    /// `( filter )`, `not ( filter )` or an attribute expression.
    fn parse_unary(&mut self, relative: bool) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        let expected = "expected an attribute name, \"(\" or \"not\"";
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let inner = self.parse_or(relative)?;
                self.expect_close(b')', start)?;
                Ok(inner)
            }
            Some(b) if is_word_byte(b) => {
                let word = self.word_at(start);
                if word.eq_ignore_ascii_case("not") {
                    self.pos += word.len();
                    self.skip_ws();
                    if self.peek() != Some(b'(') {
                        return Err(self.err_found(self.pos, "expected \"(\" after \"not\""));
                    }
                    let open = self.pos;
                    self.pos += 1;
                    let inner = self.parse_or(relative)?;
                    self.expect_close(b')', open)?;
                    Ok(Filter::Not(Box::new(inner)))
                } else if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                    Err(self.err_found(start, expected))
                } else {
                    self.parse_attr_exp(relative)
                }
            }
            _ => Err(self.err_found(start, expected)),
        }
    }

    fn expect_close(&mut self, close: u8, open: usize) -> Result<(), FilterError> {
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        let (o, c) = if close == b')' {
            ('(', ')')
        } else {
            ('[', ']')
        };
        Err(self.err_found(
            self.pos,
            format_args!(
                "expected \"and\", \"or\" or \"{c}\" closing the \"{o}\" from position {open}"
            ),
        ))
    }

    /// `attrPath pr`, `attrPath op value`, `attr[valFilter]`, or Entra's
    /// `attr[valFilter].sub (pr | op value)`.
    fn parse_attr_exp(&mut self, relative: bool) -> Result<Filter, FilterError> {
        let start = self.pos;
        let word = self.scan_word();
        let path = parse_attr_path(word, start, relative)?;
        if self.peek() != Some(b'[') {
            return self.parse_operator_rest(path, word);
        }
        if relative {
            return Err(err(self.pos, "nested [ ] filters are not allowed"));
        }
        if path.sub.is_some() {
            return Err(err(
                self.pos,
                "a [ ] filter must follow an attribute without sub-attribute",
            ));
        }
        let open = self.pos;
        self.pos += 1;
        let inner = self.parse_or(true)?;
        self.expect_close(b']', open)?;
        if self.peek() != Some(b'.') {
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        // Not RFC filter syntax, but Entra ID sends it for uniqueness lookups.
        self.pos += 1;
        let sub_start = self.pos;
        let sub_word = self.scan_word();
        let sub = AttrPath::new(&parse_single_name(sub_word, sub_start)?);
        let last = self.parse_operator_rest(sub, sub_word)?;
        Ok(Filter::ValuePath(
            path,
            Box::new(Filter::And(Box::new(inner), Box::new(last))),
        ))
    }

    /// After an attribute path: ` pr` or ` op value`.
    fn parse_operator_rest(&mut self, path: AttrPath, after: &str) -> Result<Filter, FilterError> {
        let expected = format!(
            "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after {}",
            quote(after)
        );
        if !self.skip_ws() {
            return Err(self.err_found(self.pos, expected));
        }
        let op_pos = self.pos;
        let op_word = self.scan_word();
        if op_word.eq_ignore_ascii_case("pr") {
            self.require_delim(op_word)?;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_word(op_word) else {
            return Err(self.err_found(op_pos, expected));
        };
        self.require_delim(op_word)?;
        self.skip_ws();
        let value_pos = self.pos;
        let value = self.parse_value(op)?;
        let bad = match value {
            Value::Bool(_) | Value::Null if op.is_ordering() => {
                Some("cannot be used with true, false or null")
            }
            Value::Num(_) | Value::Bool(_) | Value::Null if op.is_substring() => {
                Some("needs a string value")
            }
            _ => None,
        };
        if let Some(why) = bad {
            return Err(err(value_pos, format_args!("\"{op}\" {why}")));
        }
        Ok(Filter::Compare(path, op, value))
    }

    /// `compValue = false / null / true / number / string`.
    fn parse_value(&mut self, op: CompareOp) -> Result<Value, FilterError> {
        let start = self.pos;
        let expected = format!(
            "expected a value (a \"double-quoted\" string, a number, true, false or null) after \"{op}\""
        );
        let value = match self.peek() {
            Some(b'"') => {
                let s = self.parse_string()?;
                self.require_delim("the string")?;
                return Ok(Value::Str(s));
            }
            Some(b'-' | b'0'..=b'9') => {
                let b = self.src.as_bytes();
                let mut end = start;
                while b.get(end).is_some_and(|&c| is_word_byte(c) || c == b'+') {
                    end += 1;
                }
                let text = self.src.get(start..end).unwrap_or("");
                self.pos = end;
                let number = if is_json_number(text) {
                    text.parse::<Number>().ok()
                } else {
                    None
                };
                match number {
                    Some(n) => Value::Num(n),
                    None => {
                        return Err(err(
                            start,
                            format_args!("invalid number {} (JSON number syntax)", quote(text)),
                        ));
                    }
                }
            }
            Some(b) if is_word_byte(b) => {
                let word = self.word_at(start);
                let value = if word.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if word.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else if word.eq_ignore_ascii_case("null") {
                    Value::Null
                } else {
                    return Err(self.err_found(start, expected));
                };
                self.pos += word.len();
                value
            }
            _ => return Err(self.err_found(start, expected)),
        };
        self.require_delim(self.src.get(start..self.pos).unwrap_or(""))?;
        Ok(value)
    }

    /// A JSON string (RFC 8259 §7): the only escapes are \" \\ \/ \b \f \n \r \t \uXXXX (with
    /// surrogate pairs); raw control characters are refused.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        let body = open + 1;
        let mut out = String::new();
        let mut chars = self.src.get(body..).unwrap_or("").char_indices();
        while let Some((i, c)) = chars.next() {
            let at = body + i;
            match c {
                '"' => {
                    self.pos = at + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(unicode_escape(&mut chars, at)?),
                        other => {
                            return Err(err(
                                at,
                                format_args!(
                                    "invalid escape \"\\{}\" in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                                    other.escape_debug()
                                ),
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(err(
                        at,
                        "a control character inside a string must be escaped (e.g. \\n)",
                    ));
                }
                c => out.push(c),
            }
        }
        Err(err(open, "unterminated string (no closing \") starting"))
    }
}

/// The rest of a `\u` escape (after "\u"), including a following low surrogate.
fn unicode_escape(chars: &mut std::str::CharIndices<'_>, at: usize) -> Result<char, FilterError> {
    fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + chars.next()?.1.to_digit(16)?;
        }
        Some(v)
    }
    let bad = |what: &str| err(at, format_args!("invalid \\u escape: {what}"));
    let hi = hex4(chars).ok_or_else(|| bad("expected 4 hex digits"))?;
    let cp = match hi {
        0xD800..=0xDBFF => {
            let lo = match (chars.next(), chars.next()) {
                (Some((_, '\\')), Some((_, 'u'))) => hex4(chars),
                _ => None,
            };
            match lo {
                Some(lo @ 0xDC00..=0xDFFF) => 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                _ => {
                    return Err(bad(
                        "a high surrogate must be followed by a \\u low surrogate",
                    ));
                }
            }
        }
        0xDC00..=0xDFFF => return Err(bad("lone low surrogate")),
        0 => return Err(bad("\\u0000 is not allowed")),
        cp => cp,
    };
    char::from_u32(cp).ok_or_else(|| bad("not a Unicode scalar value"))
}

/// True when `f` matches `resource`.
///
/// Semantics (RFC 7644 §3.4.2.2 where it is specific):
/// - Keys are matched case-insensitively. A URN-qualified path looks at the top level for the
///   core User/Group URNs, and inside `resource[<urn>]` otherwise; unqualified names only look at
///   the top level (they name core attributes).
/// - Multi-valued attributes match when ANY value matches; `emails eq "x"` (no sub-attribute)
///   compares each element's `value`, and so does a comparison on a single complex attribute.
/// - `ne` is the negation of `eq`: true when the attribute is missing, has a different type, or
///   no value equals the literal.
/// - `pr`: not null, not "", not [], not {} (an array or object whose members are all absent in
///   that sense does not count). `eq null` is `not pr`, `ne null` is `pr`.
/// - No type coercion: a string literal never matches a number or boolean, numbers compare
///   numerically, booleans only with eq/ne, strings (including dateTimes) lexicographically,
///   lowercased unless `case_exact` says so.
///
/// `case_exact` is asked about the attribute compared; inside a value path it gets the
/// multi-valued attribute with `sub` = the inner attribute (emails.type).
pub fn matches(f: &Filter, resource: &Json, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
    Eval { case_exact }.filter(f, resource, None)
}

struct Eval<'c> {
    case_exact: &'c dyn Fn(&AttrPath) -> bool,
}

impl Eval<'_> {
    /// `parent` is the multi-valued attribute when `ctx` is one of its elements.
    fn filter(&self, f: &Filter, ctx: &Json, parent: Option<&AttrPath>) -> bool {
        match f {
            // Left-deep chains ("a and b and c ...") are walked iteratively; evaluation has no
            // side effects, so the order does not matter.
            Filter::And(..) => {
                let mut cur = f;
                while let Filter::And(l, r) = cur {
                    if !self.filter(r, ctx, parent) {
                        return false;
                    }
                    cur = l;
                }
                self.filter(cur, ctx, parent)
            }
            Filter::Or(..) => {
                let mut cur = f;
                while let Filter::Or(l, r) = cur {
                    if self.filter(r, ctx, parent) {
                        return true;
                    }
                    cur = l;
                }
                self.filter(cur, ctx, parent)
            }
            Filter::Not(x) => !self.filter(x, ctx, parent),
            Filter::Present(p) => self
                .lookup(ctx, p, parent)
                .is_some_and(|v| present_at(v, p.sub.as_deref())),
            Filter::Compare(p, op, lit) => self.compare(ctx, p, parent, *op, lit),
            Filter::ValuePath(p, inner) => {
                let Some(mut v) = self.lookup(ctx, p, parent) else {
                    return false;
                };
                if let Some(sub) = &p.sub {
                    match get_ci(v, sub) {
                        Some(x) => v = x,
                        None => return false,
                    }
                }
                match v {
                    Json::Array(items) => items
                        .iter()
                        .any(|e| e.is_object() && self.filter(inner, e, Some(p))),
                    Json::Object(_) => self.filter(inner, v, Some(p)),
                    _ => false,
                }
            }
        }
    }

    /// The value of `p.attr` (sub-attributes are resolved by the callers, which handle arrays).
    fn lookup<'v>(
        &self,
        ctx: &'v Json,
        p: &AttrPath,
        parent: Option<&AttrPath>,
    ) -> Option<&'v Json> {
        let base = match (&p.urn, parent) {
            (Some(urn), None) if !is_core_urn(urn) => get_ci(ctx, urn)?,
            _ => ctx,
        };
        get_ci(base, &p.attr)
    }

    fn is_case_exact(&self, p: &AttrPath, parent: Option<&AttrPath>) -> bool {
        match parent {
            None => (self.case_exact)(p),
            Some(parent) => (self.case_exact)(&AttrPath {
                urn: parent.urn.clone(),
                attr: parent.attr.clone(),
                sub: Some(p.attr.clone()),
            }),
        }
    }

    fn compare(
        &self,
        ctx: &Json,
        p: &AttrPath,
        parent: Option<&AttrPath>,
        op: CompareOp,
        lit: &Value,
    ) -> bool {
        let v = self.lookup(ctx, p, parent);
        let sub = p.sub.as_deref();
        if *lit == Value::Null {
            let present = v.is_some_and(|v| present_at(v, sub));
            return match op {
                CompareOp::Eq => !present,
                CompareOp::Ne => present,
                _ => false,
            };
        }
        let (case_exact, lit_str): (bool, Cow<'_, str>) = match lit {
            Value::Str(s) => {
                let exact = self.is_case_exact(p, parent);
                (
                    exact,
                    if exact {
                        Cow::Borrowed(s.as_str())
                    } else {
                        Cow::Owned(s.to_lowercase())
                    },
                )
            }
            _ => (false, Cow::Borrowed("")),
        };
        // ne is evaluated as "no value is equal" (missing -> true).
        let test_op = if op == CompareOp::Ne {
            CompareOp::Eq
        } else {
            op
        };
        let pred = |j: &Json| scalar_matches(j, test_op, lit, &lit_str, case_exact);
        let any = v.is_some_and(|v| any_value(v, sub, &pred));
        if op == CompareOp::Ne { !any } else { any }
    }
}

fn is_core_urn(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(CORE_USER_URN) || urn.eq_ignore_ascii_case(CORE_GROUP_URN)
}

/// Case-insensitive key lookup (exact key first, which is the common case).
fn get_ci<'v>(v: &'v Json, key: &str) -> Option<&'v Json> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Whether any value of the attribute (`v`), or of its sub-attribute, satisfies `pred`.
fn any_value(v: &Json, sub: Option<&str>, pred: &dyn Fn(&Json) -> bool) -> bool {
    let leaf = |x: &Json| match x {
        Json::Array(items) => items.iter().any(|e| !e.is_object() && pred(e)),
        _ => pred(x),
    };
    match (sub, v) {
        (Some(s), Json::Array(items)) => items.iter().any(|e| get_ci(e, s).is_some_and(leaf)),
        (Some(s), Json::Object(_)) => get_ci(v, s).is_some_and(leaf),
        (Some(_), _) => false,
        (None, Json::Array(items)) => items.iter().any(|e| match e {
            Json::Object(_) => get_ci(e, "value").is_some_and(pred),
            _ => pred(e),
        }),
        (None, Json::Object(_)) => get_ci(v, "value").is_some_and(pred),
        (None, _) => pred(v),
    }
}

fn present_at(v: &Json, sub: Option<&str>) -> bool {
    match (sub, v) {
        (None, _) => present(v),
        (Some(s), Json::Array(items)) => items.iter().any(|e| get_ci(e, s).is_some_and(present)),
        (Some(s), Json::Object(_)) => get_ci(v, s).is_some_and(present),
        (Some(_), _) => false,
    }
}

/// Not null, "", [] or {}; an array or object counts only if some member is present. Looks at most
/// `LEVELS` deep, so caller-built JSON cannot make it recurse without bound.
fn present(v: &Json) -> bool {
    const LEVELS: usize = 4;
    fn at(v: &Json, level: usize) -> bool {
        match v {
            Json::Null => false,
            Json::String(s) => !s.is_empty(),
            Json::Bool(_) | Json::Number(_) => true,
            Json::Array(a) if level >= LEVELS => !a.is_empty(),
            Json::Object(o) if level >= LEVELS => !o.is_empty(),
            Json::Array(a) => a.iter().any(|x| at(x, level + 1)),
            Json::Object(o) => o.values().any(|x| at(x, level + 1)),
        }
    }
    at(v, 0)
}

fn scalar_matches(j: &Json, op: CompareOp, lit: &Value, lit_str: &str, case_exact: bool) -> bool {
    match (lit, j) {
        (Value::Str(_), Json::String(s)) => {
            let s: Cow<'_, str> = if case_exact {
                Cow::Borrowed(s)
            } else {
                Cow::Owned(s.to_lowercase())
            };
            let s = s.as_ref();
            match op {
                CompareOp::Eq => s == lit_str,
                CompareOp::Ne => s != lit_str,
                CompareOp::Co => s.contains(lit_str),
                CompareOp::Sw => s.starts_with(lit_str),
                CompareOp::Ew => s.ends_with(lit_str),
                CompareOp::Gt => s > lit_str,
                CompareOp::Ge => s >= lit_str,
                CompareOp::Lt => s < lit_str,
                CompareOp::Le => s <= lit_str,
            }
        }
        (Value::Num(n), Json::Number(m)) => {
            let Some(ord) = number_cmp(m, n) else {
                return false;
            };
            match op {
                CompareOp::Eq => ord == Ordering::Equal,
                CompareOp::Ne => ord != Ordering::Equal,
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        (Value::Bool(b), Json::Bool(c)) => match op {
            CompareOp::Eq => b == c,
            CompareOp::Ne => b != c,
            _ => false,
        },
        _ => false,
    }
}

/// Exact for integers (i64/u64 both fit i128), f64 otherwise (so 1.0 eq 1).
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn path(attr: &str) -> AttrPath {
        AttrPath::new(attr)
    }

    fn sub(attr: &str, s: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: Some(s.into()),
        }
    }

    fn cmp(p: AttrPath, op: CompareOp, v: Value) -> Filter {
        Filter::Compare(p, op, v)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn num(v: &str) -> Value {
        Value::Num(v.parse().expect("test number"))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn ok(input: &str) -> Filter {
        match parse_filter(input) {
            Ok(f) => f,
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn bad(input: &str) -> FilterError {
        match parse_filter(input) {
            Ok(f) => panic!("{input:?} should fail, got {f:?}"),
            Err(e) => e,
        }
    }

    fn bad_path(input: &str) -> FilterError {
        match parse_patch_path(input) {
            Ok(p) => panic!("{input:?} should fail, got {p:?}"),
            Err(e) => e,
        }
    }

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    // ---- parser: operators, precedence, grouping ----

    #[test]
    fn every_operator() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                ok(&format!("userName {word} \"bjensen\"")),
                cmp(path("userName"), op, s("bjensen"))
            );
            let upper = word.to_ascii_uppercase();
            assert_eq!(
                ok(&format!("userName {upper} \"bjensen\"")),
                cmp(path("userName"), op, s("bjensen"))
            );
        }
        assert_eq!(ok("title pr"), Filter::Present(path("title")));
        assert_eq!(ok("title PR"), Filter::Present(path("title")));
    }

    #[test]
    fn value_literals() {
        assert_eq!(
            ok("active eq true"),
            cmp(path("active"), CompareOp::Eq, Value::Bool(true))
        );
        assert_eq!(
            ok("active eq FALSE"),
            cmp(path("active"), CompareOp::Eq, Value::Bool(false))
        );
        assert_eq!(
            ok("title eq Null"),
            cmp(path("title"), CompareOp::Eq, Value::Null)
        );
        assert_eq!(
            ok("title ne null"),
            cmp(path("title"), CompareOp::Ne, Value::Null)
        );
        for n in [
            "0",
            "-0",
            "42",
            "-17",
            "1.5",
            "-0.25",
            "1e3",
            "1E+3",
            "2.5e-3",
            "12345678901234567890",
        ] {
            assert_eq!(
                ok(&format!("n ge {n}")),
                cmp(path("n"), CompareOp::Ge, num(n)),
                "{n}"
            );
        }
    }

    #[test]
    fn precedence_and_associativity() {
        let a = || cmp(path("a"), CompareOp::Eq, s("1"));
        let b = || cmp(path("b"), CompareOp::Eq, s("2"));
        let c = || cmp(path("c"), CompareOp::Eq, s("3"));
        assert_eq!(
            ok(r#"a eq "1" or b eq "2" and c eq "3""#),
            or(a(), and(b(), c()))
        );
        assert_eq!(
            ok(r#"a eq "1" and b eq "2" or c eq "3""#),
            or(and(a(), b()), c())
        );
        assert_eq!(
            ok(r#"(a eq "1" or b eq "2") and c eq "3""#),
            and(or(a(), b()), c())
        );
        assert_eq!(
            ok(r#"a eq "1" and b eq "2" and c eq "3""#),
            and(and(a(), b()), c())
        );
        assert_eq!(
            ok(r#"a eq "1" or b eq "2" or c eq "3""#),
            or(or(a(), b()), c())
        );
        assert_eq!(
            ok(r#"a eq "1" AND b eq "2" Or c eq "3""#),
            or(and(a(), b()), c())
        );
        assert_eq!(ok(r#"not (a eq "1") and b eq "2""#), and(not(a()), b()));
        assert_eq!(ok(r#"NOT(a eq "1" or b eq "2")"#), not(or(a(), b())));
        assert_eq!(ok(r#"not   (not (a eq "1"))"#), not(not(a())));
        assert_eq!(ok(r#"((a eq "1"))"#), a());
        assert_eq!(ok(r#"  (a eq "1")and(b eq "2")  "#), and(a(), b()));
        assert_eq!(ok("a eq \"1\"\tand\t\tb eq \"2\""), and(a(), b()));
    }

    #[test]
    fn case_insensitive_names_are_kept_as_written() {
        let f = ok(r#"USERNAME EQ "x""#);
        assert_eq!(f, cmp(path("USERNAME"), CompareOp::Eq, s("x")));
        let Filter::Compare(p, ..) = f else {
            unreachable!()
        };
        assert!(p.is("userName"));
        assert_eq!(p.dotted(), "username");
        assert_eq!(sub("Name", "GivenName").dotted(), "name.givenname");
        assert!(!sub("name", "givenName").is("name"));
    }

    #[test]
    fn urn_qualified_names() {
        let f = ok(&format!("{ENTERPRISE}:manager.value eq \"26118915\""));
        assert_eq!(
            f,
            cmp(
                AttrPath {
                    urn: Some(ENTERPRISE.into()),
                    attr: "manager".into(),
                    sub: Some("value".into())
                },
                CompareOp::Eq,
                s("26118915")
            )
        );
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw \"J\""),
            cmp(
                AttrPath {
                    urn: Some(CORE_USER_URN.into()),
                    attr: "name".into(),
                    sub: Some("familyName".into())
                },
                CompareOp::Sw,
                s("J")
            )
        );
        assert_eq!(
            ok(&format!("{ENTERPRISE}:employeeNumber pr")),
            Filter::Present(AttrPath {
                urn: Some(ENTERPRISE.into()),
                attr: "employeeNumber".into(),
                sub: None
            })
        );
        assert_eq!(
            ok("URN:acme:ext:costCenter eq \"x\""),
            cmp(
                AttrPath {
                    urn: Some("URN:acme:ext".into()),
                    attr: "costCenter".into(),
                    sub: None
                },
                CompareOp::Eq,
                s("x")
            )
        );
        let p = AttrPath {
            urn: Some(ENTERPRISE.into()),
            attr: "manager".into(),
            sub: Some("value".into()),
        };
        assert_eq!(p.dotted(), "manager.value");
        assert_eq!(p.to_string(), format!("{ENTERPRISE}:manager.value"));
        bad("urn: eq \"x\"");
        bad("urn:x: eq \"x\"");
        bad("urn:userName eq \"x\"");
        bad("urn::x:userName eq \"x\"");
        bad("foo:userName eq \"x\"");
        bad(&format!("{ENTERPRISE}:manager.value.x eq \"x\""));
    }

    #[test]
    fn attribute_names() {
        assert_eq!(
            ok(r#"x-y_z9 eq "1""#),
            cmp(path("x-y_z9"), CompareOp::Eq, s("1"))
        );
        assert_eq!(
            ok(r#"members[$ref eq "https://x/Users/1"]"#),
            Filter::ValuePath(
                path("members"),
                Box::new(cmp(path("$ref"), CompareOp::Eq, s("https://x/Users/1")))
            )
        );
        let e = bad(r#"a.b.c eq "x""#);
        assert!(e.message.contains("at most one sub-attribute"), "{e}");
        bad(r#"9abc eq "x""#);
        bad(r#"-abc eq "x""#);
        bad(r#"_abc eq "x""#);
        bad(r#"a..b eq "x""#);
        bad(r#"a. eq "x""#);
        bad(r#"$foo eq "x""#);
        bad(r#"ñame eq "x""#);
        bad(r#"not eq "x""#);
        bad(r#"and eq "x""#);
    }

    #[test]
    fn value_paths() {
        let work = || cmp(path("type"), CompareOp::Eq, s("work"));
        assert_eq!(
            ok(r#"emails[type eq "work" and value co "@x.com"]"#),
            Filter::ValuePath(
                path("emails"),
                Box::new(and(work(), cmp(path("value"), CompareOp::Co, s("@x.com"))))
            )
        );
        assert_eq!(
            ok(r#"emails[type eq "work"] and userName sw "a""#),
            and(
                Filter::ValuePath(path("emails"), Box::new(work())),
                cmp(path("userName"), CompareOp::Sw, s("a"))
            )
        );
        assert_eq!(
            ok(r#"emails[ not (type eq "work") or primary eq true ]"#),
            Filter::ValuePath(
                path("emails"),
                Box::new(or(
                    not(work()),
                    cmp(path("primary"), CompareOp::Eq, Value::Bool(true))
                ))
            )
        );
        // Entra ID's form.
        assert_eq!(
            ok(r#"emails[type eq "work"].value eq "x""#),
            ok(r#"emails[type eq "work" and value eq "x"]"#)
        );
        assert_eq!(
            ok(r#"EMAILS[TYPE EQ "work"].VALUE PR"#),
            Filter::ValuePath(
                path("EMAILS"),
                Box::new(and(
                    cmp(path("TYPE"), CompareOp::Eq, s("work")),
                    Filter::Present(path("VALUE"))
                ))
            )
        );
        assert_eq!(
            ok(&format!("{ENTERPRISE}:manager[value eq \"m\"]")),
            Filter::ValuePath(
                AttrPath {
                    urn: Some(ENTERPRISE.into()),
                    attr: "manager".into(),
                    sub: None
                },
                Box::new(cmp(path("value"), CompareOp::Eq, s("m")))
            )
        );
        bad(r#"emails[type eq "work"[value eq "x"]]"#);
        bad(r#"emails[addresses[type eq "x"]]"#);
        bad(r#"emails[]"#);
        bad(r#"emails[type eq "work""#);
        bad(r#"emails[type eq "work"))"#);
        bad(r#"emails [type eq "work"]"#);
        bad(r#"name.givenName[type eq "work"]"#);
        bad(r#"emails[urn:a:b:type eq "work"]"#);
        bad(r#"emails[type eq "work"].value.x eq "x""#);
        bad(r#"emails[type eq "work"]. eq "x""#);
        bad(r#"emails[type eq "work"].value"#);
        bad(r#"emails[type eq "work"] eq "x""#);
        bad(r#"[type eq "work"]"#);
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            ok(r#"userName eq "x\" or userName pr""#),
            cmp(path("userName"), CompareOp::Eq, s("x\" or userName pr"))
        );
        assert_eq!(
            ok(r#"a eq "\\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00 ü""#),
            cmp(
                path("a"),
                CompareOp::Eq,
                s("\\ / \u{8} \u{c} \n \r \t é 😀 ü")
            )
        );
        assert_eq!(
            ok(r#"a eq "O'Brien'; DROP TABLE users; --""#),
            cmp(
                path("a"),
                CompareOp::Eq,
                s("O'Brien'; DROP TABLE users; --")
            )
        );
        assert_eq!(ok(r#"a eq """#), cmp(path("a"), CompareOp::Eq, s("")));
        assert_eq!(
            ok(r#"a eq "((([[[""#),
            cmp(path("a"), CompareOp::Eq, s("((([[["))
        );
        for input in [
            r#"a eq "\x""#,
            r#"a eq "\u12""#,
            r#"a eq "\u12G4""#,
            r#"a eq "\uD83D""#,
            r#"a eq "\uD83Dx""#,
            r#"a eq "\uD83D\u0041""#,
            r#"a eq "\uDE00""#,
            r#"a eq "\u0000""#,
            "a eq \"tab\there\"",
            "a eq \"line\nbreak\"",
            r#"a eq "unterminated"#,
            r#"a eq "ends with backslash\"#,
            r#"a eq 'single'"#,
        ] {
            bad(input);
        }
    }

    #[test]
    fn errors_have_positions_and_say_what_was_expected() {
        let e = bad(r#"userName like "x""#);
        assert_eq!(e.position, 9);
        assert_eq!(
            e.message,
            r#"expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName" at 9, found "like""#
        );
        assert_eq!(e.to_string(), e.message);
        let e = bad(r#"userName eq "a" garbage"#);
        assert_eq!(e.position, 16);
        assert!(e.message.contains("found \"garbage\""), "{e}");
        let e = bad(r#"userName eq "a"#);
        assert_eq!(e.position, 12);
        assert!(e.message.starts_with("unterminated string"), "{e}");
        let e = bad(r#"(userName eq "a""#);
        assert!(
            e.message.contains("closing the \"(\" from position 0"),
            "{e}"
        );
        let e = bad(r#"a eq "\x""#);
        assert!(
            e.message.starts_with(r#"invalid escape "\x" in string"#),
            "{e}"
        );
        assert_eq!(e.position, 6);
        let e = bad("userName eq");
        assert!(e.message.contains("found the end of the input"), "{e}");
        let e = bad(&format!("userName eq {}", "a".repeat(500)));
        assert!(e.message.len() < 200, "long tokens are truncated: {e}");
        assert!(e.message.contains("..."), "{e}");
    }

    #[test]
    fn malformed_filters_are_errors() {
        for input in [
            "",
            "   ",
            "\t",
            "userName",
            "userName ",
            "userName eq",
            "userName eq ",
            r#"userName eq "a" garbage"#,
            r#"userName eq "a" and"#,
            r#"userName eq "a" or "#,
            r#"userName eq "a" and or b pr"#,
            r#"userName eq "a" userName pr"#,
            r#"userName eq "a")"#,
            r#"(userName eq "a""#,
            r#"((userName eq "a")"#,
            r#"()"#,
            r#"userName eq"a""#,
            r#"userName eq "a"and b pr"#,
            r#"userName eq "a" andb pr"#,
            r#"userNameeq "a""#,
            r#"userName == "a""#,
            r#"userName like "a""#,
            r#"userName eq bjensen"#,
            r#"userName pr "x""#,
            r#"userName pr"x""#,
            r#"userName eq ()"#,
            r#"not userName eq "a""#,
            r#"not"#,
            r#"not ()"#,
            r#"active gt true"#,
            r#"active ge false"#,
            r#"title lt null"#,
            r#"title le null"#,
            r#"a co 1"#,
            r#"a sw true"#,
            r#"a ew null"#,
            "a eq 01",
            "a eq 1.",
            "a eq .5",
            "a eq +1",
            "a eq -",
            "a eq 1e",
            "a eq 1e+",
            "a eq 0x10",
            "a eq 1.2.3",
            "a eq 12abc",
            "a eq 1e400",
            "a eq NaN",
            "a eq --1",
            "a eq \"x\"\0",
            "\0",
            "a\0 pr",
            "a pr\0",
            "a pr\n",
            "a.b.c pr",
        ] {
            bad(input);
        }
    }

    #[test]
    fn nul_is_refused_with_its_position() {
        assert_eq!(bad("a pr\0").position, 4);
        assert_eq!(bad("a eq \"x\0\"").position, 7);
        assert_eq!(bad_path("emails\0").position, 6);
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        ok(&nested(MAX_DEPTH));
        assert!(
            bad(&nested(MAX_DEPTH + 1))
                .message
                .contains("nested too deeply")
        );
        let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
        ok(&nots(MAX_DEPTH));
        assert!(
            bad(&nots(MAX_DEPTH + 1))
                .message
                .contains("nested too deeply")
        );
        // Within the length limit, refused by the depth pre-scan.
        let t = Instant::now();
        let e = bad(&nested(4000));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = bad(&"not (".repeat(1600));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = bad(&"(".repeat(8000));
        assert_eq!(e.position, MAX_DEPTH);
        // Brackets count too, and brackets inside strings do not.
        let e = bad(&format!(
            "{}emails[type eq \"x\"]{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        ));
        assert!(e.message.contains("nested too deeply"), "{e}");
        ok(&format!("a eq \"{}\"", "(".repeat(100)));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn huge_inputs_are_refused_fast_without_recursion() {
        let t = Instant::now();
        // 10,000 nested parens and a 100,000 "not (" chain: refused by length...
        let e = bad(&format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000)));
        assert_eq!(e.position, MAX_FILTER_LEN);
        let chain = format!("{}a pr{}", "not (".repeat(100_000), ")".repeat(100_000));
        assert!(bad(&chain).message.contains("longer than"));
        // ...and the depth pre-scan alone handles them iteratively too.
        assert!(check_nul_and_depth(&chain).is_err());
        assert!(check_nul_and_depth(&"(".repeat(1_000_000)).is_err());
        let mib = format!("userName eq \"{}\"", "x".repeat(1 << 20));
        assert!(bad(&mib).message.contains("longer than"));
        assert!(bad_path(&mib).message.contains("longer than"));
        ok(&format!(
            "userName eq \"{}\"",
            "x".repeat(MAX_FILTER_LEN - 14)
        ));
        bad(&format!(
            "userName eq \"{}\"",
            "x".repeat(MAX_FILTER_LEN - 13)
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn operator_limit() {
        let chain = |n: usize| format!("{}a pr", "a pr and ".repeat(n));
        ok(&chain(MAX_OPERATORS));
        let e = bad(&chain(MAX_OPERATORS + 1));
        assert!(e.message.contains("too many"), "{e}");
        assert_eq!(e.position, MAX_OPERATORS * 9 + 5);
        bad(&chain(900));
        bad(&format!("emails[{}]", chain(MAX_OPERATORS + 1)));
        ok(&format!("{} or a pr", chain(MAX_OPERATORS - 1)));
        bad(&format!("{} or a pr", chain(MAX_OPERATORS)));
    }

    /// The deepest AST the limits allow (MAX_DEPTH `not (` around the longest chain), and
    /// everything done with it, fits a small stack even in a debug build.
    #[test]
    fn deepest_ast_fits_a_small_stack() {
        let chain = format!("{}a pr", "a pr and ".repeat(MAX_OPERATORS));
        let deep_and = format!(
            "{}{chain}{}",
            "not (".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        let deep_or = deep_and.replace(" and ", " or ");
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let resource = json!({"a": "x"});
                for text in [deep_and, deep_or] {
                    let f = parse_filter(&text).expect("deep filter parses");
                    assert!(matches(&f, &resource, &|_| false));
                    let g = f.clone();
                    assert_eq!(g, f);
                    let printed = f.to_string();
                    assert_eq!(printed, text);
                    assert_eq!(parse_filter(&printed).as_ref(), Ok(&f));
                    assert!(!format!("{f:?}").is_empty());
                    drop(f);
                    drop(g);
                }
            })
            .expect("spawn");
        assert!(handle.join().is_ok());
    }

    // ---- PATCH paths ----

    #[test]
    fn patch_paths() {
        let p = |input: &str| match parse_patch_path(input) {
            Ok(p) => p,
            Err(e) => panic!("{input:?}: {e}"),
        };
        assert_eq!(
            p("userName"),
            PatchPath {
                attr: path("userName"),
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            p("name.givenName"),
            PatchPath {
                attr: sub("name", "givenName"),
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            p(r#"emails[type eq "work"].value"#),
            PatchPath {
                attr: path("emails"),
                filter: Some(cmp(path("type"), CompareOp::Eq, s("work"))),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            p(r#"members[value eq "2819c223"]"#),
            PatchPath {
                attr: path("members"),
                filter: Some(cmp(path("value"), CompareOp::Eq, s("2819c223"))),
                sub: None
            }
        );
        assert_eq!(
            p(&format!("{ENTERPRISE}:employeeNumber")),
            PatchPath {
                attr: AttrPath {
                    urn: Some(ENTERPRISE.into()),
                    attr: "employeeNumber".into(),
                    sub: None
                },
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            p(&format!("{ENTERPRISE}:manager.value")),
            PatchPath {
                attr: AttrPath {
                    urn: Some(ENTERPRISE.into()),
                    attr: "manager".into(),
                    sub: Some("value".into())
                },
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            p(r#"EMAILS[TYPE EQ "work"].VALUE"#),
            PatchPath {
                attr: path("EMAILS"),
                filter: Some(cmp(path("TYPE"), CompareOp::Eq, s("work"))),
                sub: Some("VALUE".into())
            }
        );
        assert_eq!(
            p(r#"emails[type eq "work" and (primary eq true or value ew "@x.com")]"#).filter,
            Some(ok(
                r#"type eq "work" and (primary eq true or value ew "@x.com")"#
            ))
        );
        assert_eq!(
            p("members[$ref pr]").filter,
            Some(Filter::Present(path("$ref")))
        );
    }

    #[test]
    fn bad_patch_paths() {
        for input in [
            "",
            " ",
            " userName",
            "userName ",
            "user Name",
            "name. givenName",
            "a.b.c",
            "1abc",
            "emails[",
            "emails[]",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]value"#,
            r#"emails[type eq "work"]."#,
            r#"emails[type eq "work"].value.display"#,
            r#"emails[type eq "work"].value "#,
            r#"emails[type eq "work"] .value"#,
            r#"emails [type eq "work"]"#,
            r#"emails[type eq "work"][value eq "x"]"#,
            r#"emails[type[value eq "x"]]"#,
            r#"name.givenName[type eq "work"]"#,
            r#"emails[type eq "work" garbage]"#,
            "urn:",
            "urn:foo",
            &format!("{ENTERPRISE}:"),
            "emails\0",
        ] {
            bad_path(input);
        }
        let t = Instant::now();
        let dots = vec!["a"; 4000].join(".");
        assert!(
            bad_path(&dots)
                .message
                .contains("at most one sub-attribute")
        );
        let dots = vec!["a"; 8000].join(".");
        assert!(bad_path(&dots).message.contains("longer than"));
        let dots = vec!["ab"; 8000].join(".");
        assert!(bad_path(&dots).message.contains("longer than"));
        let deep = format!("emails[{}a pr{}]", "(".repeat(40), ")".repeat(40));
        assert!(bad_path(&deep).message.contains("nested too deeply"));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    // ---- evaluator ----

    fn user() -> Json {
        json!({
            "schemas": [CORE_USER_URN, ENTERPRISE],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "bjensen-EXT",
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": null},
            "displayName": "Babs Jensen",
            "nickName": "",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [],
            "x509Certificates": [{"value": null}],
            "roles": ["admin", "Auditor"],
            "active": true,
            "loginCount": 42,
            "score": 7.5,
            "meta": {
                "resourceType": "User",
                "created": "2026-01-10T08:00:00Z",
                "lastModified": "2026-11-23T09:40:34.123Z"
            },
            ENTERPRISE: {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            }
        })
    }

    fn eval(filter: &str) -> bool {
        let case_exact = |p: &AttrPath| p.is("id") || p.is("externalId");
        matches(&ok(filter), &user(), &case_exact)
    }

    fn check(cases: &[(&str, bool)]) {
        for (filter, expected) in cases {
            assert_eq!(eval(filter), *expected, "{filter}");
        }
    }

    #[test]
    fn eval_strings_and_case_exactness() {
        check(&[
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"userName eq "BJensen@Example.COM""#, true),
            (r#"USERNAME EQ "bjensen@example.com""#, true),
            (r#"userName ne "bjensen@example.com""#, false),
            (r#"userName ne "other""#, true),
            (r#"userName co "JENSEN@""#, true),
            (r#"userName sw "BJ""#, true),
            (r#"userName ew ".COM""#, true),
            (r#"userName ew ".org""#, false),
            (r#"userName gt "a""#, true),
            (r#"userName gt "C""#, false),
            (r#"userName ge "BJENSEN@example.com""#, true),
            (r#"userName lt "c""#, true),
            (r#"userName le "bjensen@example.com""#, true),
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            (r#"ID eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"externalId eq "bjensen-EXT""#, true),
            (r#"externalId eq "bjensen-ext""#, false),
            (r#"externalId sw "bjensen-e""#, false),
            (r#"name.givenName eq "barbara""#, true),
            (r#"Name.GivenName sw "BAR""#, true),
            (r#"name.familyName ew "SEN""#, true),
            (r#"name.familyName co "ens""#, true),
            (r#"displayName eq "babs jensen""#, true),
            (r#"userName eq "x\" or userName pr""#, false),
        ]);
    }

    #[test]
    fn eval_multi_valued() {
        check(&[
            (r#"emails eq "babs@jensen.org""#, true),
            (r#"emails eq "BABS@jensen.org""#, true),
            (r#"emails co "@example""#, true),
            (r#"emails eq "nobody@x.com""#, false),
            (r#"emails ne "babs@jensen.org""#, false),
            (r#"emails ne "nobody@x.com""#, true),
            (r#"emails.value co "@jensen""#, true),
            (r#"emails.type eq "WORK""#, true),
            (r#"emails.primary eq true"#, true),
            (r#"emails.primary eq false"#, false),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "work" and value co "@jensen.org"]"#,
                false,
            ),
            (r#"emails[type eq "home" and primary eq true]"#, false),
            (r#"emails[type eq "home" and not (primary pr)]"#, true),
            (
                r#"emails[type eq "work"].value eq "bjensen@example.com""#,
                true,
            ),
            (
                r#"emails[type eq "home"].value eq "bjensen@example.com""#,
                false,
            ),
            (r#"emails[type eq "home"].value pr"#, true),
            (
                r#"EMAILS[TYPE EQ "WORK"].VALUE EQ "BJENSEN@EXAMPLE.COM""#,
                true,
            ),
            (r#"emails[type eq "work"] and userName sw "bj""#, true),
            (r#"emails[type eq "other"] or userName sw "bj""#, true),
            (r#"phoneNumbers[type eq "work"]"#, false),
            (r#"addresses[type eq "work"]"#, false),
            (r#"name[givenName eq "barbara"]"#, true),
            (r#"roles eq "auditor""#, true),
            (r#"roles co "dmi""#, true),
            (r#"roles eq "root""#, false),
            (r#"userName[value eq "x"]"#, false),
        ]);
    }

    #[test]
    fn eval_case_exact_gets_the_compared_attribute() {
        let seen = std::cell::RefCell::new(Vec::new());
        let case_exact = |p: &AttrPath| {
            seen.borrow_mut().push(p.to_string());
            p.sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("value"))
        };
        let user = user();
        let f = ok(r#"emails[type eq "WORK" and value eq "BJENSEN@example.com"]"#);
        assert!(!matches(&f, &user, &case_exact));
        let f = ok(r#"emails[type eq "WORK" and value eq "bjensen@example.com"]"#);
        assert!(matches(&f, &user, &case_exact));
        assert!(seen.borrow().contains(&"emails.type".to_string()));
        assert!(seen.borrow().contains(&"emails.value".to_string()));
        let f = ok(&format!(
            "{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87E4-49d8ca9f808d\""
        ));
        assert!(!matches(&f, &user, &case_exact));
        assert!(
            seen.borrow()
                .contains(&format!("{ENTERPRISE}:manager.value"))
        );
        // Not asked for non-string literals.
        seen.borrow_mut().clear();
        assert!(matches(
            &ok("active eq true and loginCount gt 1 and title eq null"),
            &user,
            &case_exact
        ));
        assert!(seen.borrow().is_empty());
    }

    #[test]
    fn eval_numbers_booleans_and_no_coercion() {
        check(&[
            ("active eq true", true),
            ("active eq false", false),
            ("active ne false", true),
            ("active ne true", false),
            ("ACTIVE EQ TRUE", true),
            (r#"active eq "true""#, false),
            (r#"active ne "true""#, true),
            ("loginCount eq 42", true),
            ("loginCount eq 42.0", true),
            ("loginCount eq 4.2e1", true),
            ("loginCount ne 42", false),
            ("loginCount gt 41", true),
            ("loginCount gt 42", false),
            ("loginCount ge 42", true),
            ("loginCount lt 42", false),
            ("loginCount lt 42.5", true),
            ("loginCount le 42", true),
            ("loginCount gt -1", true),
            (r#"loginCount eq "42""#, false),
            ("userName eq 42", false),
            ("score gt 7", true),
            ("score eq 7.5", true),
            ("score lt 7.25", false),
            ("active eq 1", false),
        ]);
    }

    #[test]
    fn eval_datetimes_compare_as_strings() {
        check(&[
            (r#"meta.lastModified gt "2026-11-01T00:00:00Z""#, true),
            (r#"meta.lastModified lt "2026-11-01T00:00:00Z""#, false),
            (r#"meta.lastModified ge "2026-11-23T09:40:34.123Z""#, true),
            (r#"meta.lastModified le "2026-11-23T09:40:34.122Z""#, false),
            (
                r#"meta.created ge "2026-01-01T00:00:00Z" and meta.created lt "2026-02-01T00:00:00Z""#,
                true,
            ),
            (r#"meta.resourceType eq "user""#, true),
        ]);
    }

    #[test]
    fn eval_presence_and_null() {
        check(&[
            ("userName pr", true),
            ("nickName pr", false),
            ("phoneNumbers pr", false),
            ("x509Certificates pr", false),
            ("name.middleName pr", false),
            ("name.givenName pr", true),
            ("title pr", false),
            ("emails pr", true),
            ("emails.type pr", true),
            ("emails.display pr", false),
            ("name pr", true),
            ("title eq null", true),
            ("nickName eq null", true),
            ("name.middleName eq null", true),
            ("userName eq null", false),
            ("userName ne null", true),
            ("title ne null", false),
            (r#"title ne "x""#, true),
            (r#"title eq "x""#, false),
            (r#"name.middleName ne "x""#, true),
            (r#"not (title pr)"#, true),
            (r#"not (userName pr)"#, false),
        ]);
    }

    #[test]
    fn eval_urn_qualified() {
        let ext = |rest: &str| format!("{ENTERPRISE}:{rest}");
        let core = |rest: &str| format!("{CORE_USER_URN}:{rest}");
        let cases = [
            (core("userName eq \"bjensen@example.com\""), true),
            (core("name.familyName eq \"jensen\""), true),
            (core("NAME.FAMILYNAME eq \"jensen\"").to_uppercase(), true),
            (ext("employeeNumber eq \"701984\""), true),
            (ext("employeeNumber eq \"7\""), false),
            (ext("employeeNumber pr"), true),
            (ext("costCenter pr"), false),
            (
                ext("manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""),
                true,
            ),
            (
                ext("manager eq \"26118915-6090-4610-87e4-49d8ca9f808d\""),
                true,
            ),
            (ext("manager[displayName co \"smith\"]"), true),
            (ext("manager.displayName sw \"john\"").to_lowercase(), true),
            ("employeeNumber eq \"701984\"".to_string(), false),
            (ext("userName pr"), false),
            ("urn:acme:ext:employeeNumber pr".to_string(), false),
            (
                format!(
                    "{} and {}",
                    ext("employeeNumber sw \"70\""),
                    core("userName pr")
                ),
                true,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(eval(&filter), expected, "{filter}");
        }
    }

    #[test]
    fn eval_logic() {
        check(&[
            (
                r#"userName eq "nobody" or name.givenName eq "barbara""#,
                true,
            ),
            (
                r#"userName eq "nobody" and name.givenName eq "barbara""#,
                false,
            ),
            (r#"userName pr and (title pr or active eq true)"#, true),
            (r#"userName pr and title pr or active eq true"#, true),
            (r#"title pr or userName pr and active eq false"#, false),
            (r#"not (userName eq "nobody") and not (title pr)"#, true),
            (r#"not (not (userName pr))"#, true),
        ]);
    }

    #[test]
    fn eval_group_members() {
        let group = json!({
            "schemas": [CORE_GROUP_URN],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs"},
                {"value": "902c246b", "display": "Mandy"}
            ]
        });
        let m = |f: &str| {
            matches(&ok(f), &group, &|p: &AttrPath| {
                p.is("id") || p.sub.as_deref() == Some("value")
            })
        };
        assert!(m(r#"displayName eq "tour guides""#));
        assert!(m(r#"members[value eq "2819c223"]"#));
        assert!(!m(r#"members[value eq "2819C223"]"#));
        assert!(m(r#"members eq "902c246b""#));
        assert!(m(r#"members[$ref co "/Users/2819c223"]"#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "tour""#
        ));
        assert!(!m(r#"members[value eq "2819c223" and display eq "mandy"]"#));
        // A JSON that is not an object never matches and never panics.
        for weird in [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, 2]),
            json!({"emails": 5}),
        ] {
            assert!(!matches(&ok(r#"emails[type eq "work"]"#), &weird, &|_| {
                false
            }));
            assert!(!matches(&ok(r#"emails.value eq "x""#), &weird, &|_| false));
            assert!(matches(&ok(r#"title ne "x""#), &weird, &|_| false));
        }
    }

    // ---- round trip and fuzz (no panics, Display parses back) ----

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'x>(&mut self, items: &[&'x str]) -> &'x str {
            items[self.below(items.len())]
        }
    }

    fn random_path(rng: &mut Rng, relative: bool) -> AttrPath {
        let names = [
            "userName", "emails", "value", "type", "$ref", "a-b_c1", "NAME",
        ];
        let urn = if !relative && rng.below(4) == 0 {
            Some(
                rng.pick(&[ENTERPRISE, CORE_USER_URN, "urn:x:y"])
                    .to_string(),
            )
        } else {
            None
        };
        AttrPath {
            urn,
            attr: rng.pick(&names).to_string(),
            sub: (rng.below(3) == 0).then(|| rng.pick(&names).to_string()),
        }
    }

    fn random_filter(rng: &mut Rng, depth: usize, relative: bool) -> Filter {
        let leaf = depth == 0 || rng.below(3) == 0;
        if leaf {
            let p = random_path(rng, relative);
            return match rng.below(5) {
                0 => Filter::Present(p),
                1 => cmp(p, CompareOp::Eq, Value::Bool(rng.below(2) == 0)),
                2 => cmp(p, CompareOp::Ne, Value::Null),
                3 => cmp(
                    p,
                    CompareOp::from_word(rng.pick(&["gt", "ge", "lt", "le", "eq", "ne"]))
                        .unwrap_or(CompareOp::Eq),
                    num(rng.pick(&["0", "-3", "1.5", "12345678901234567890", "2e-5"])),
                ),
                _ => cmp(
                    p,
                    CompareOp::from_word(rng.pick(&["eq", "ne", "co", "sw", "ew", "gt", "le"]))
                        .unwrap_or(CompareOp::Eq),
                    s(rng.pick(&["", "x\" or y pr", "a\\b", "é😀\n\t", "(", "]", "'--"])),
                ),
            };
        }
        let a = random_filter(rng, depth - 1, relative);
        match rng.below(if relative { 3 } else { 4 }) {
            0 => and(a, random_filter(rng, depth - 1, relative)),
            1 => or(a, random_filter(rng, depth - 1, relative)),
            2 => not(a),
            _ => {
                let mut p = random_path(rng, false);
                p.sub = None;
                Filter::ValuePath(p, Box::new(random_filter(rng, depth - 1, true)))
            }
        }
    }

    #[test]
    fn display_round_trips() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let f = random_filter(&mut rng, 5, false);
            let text = f.to_string();
            match parse_filter(&text) {
                Ok(back) => assert_eq!(back, f, "{text}"),
                Err(e) => assert!(
                    text.len() > MAX_FILTER_LEN || e.message.contains("nested too deeply"),
                    "{text}: {e}"
                ),
            }
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let tokens = [
            "userName",
            "emails",
            "name.givenName",
            ENTERPRISE,
            ":",
            ".",
            "value",
            " ",
            " ",
            "\t",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "\"x\"",
            "\\",
            "\\u",
            "D83D",
            "eq",
            "pr",
            "and",
            "or",
            "not",
            "true",
            "null",
            "1",
            "-",
            "e",
            "+",
            "0",
            "$ref",
            "é",
            "\0",
            "\n",
            "gt",
            "co",
        ];
        let mut rng = Rng(12345);
        let resource = user();
        for _ in 0..20_000 {
            let n = rng.below(12);
            let input: String = (0..n).map(|_| rng.pick(&tokens)).collect();
            if let Ok(f) = parse_filter(&input) {
                let _ = matches(&f, &resource, &|_| false);
                assert_eq!(parse_filter(&f.to_string()).as_ref(), Ok(&f), "{input:?}");
            }
            let _ = parse_patch_path(&input);
            // Random bytes cut at arbitrary (char) boundaries.
            let bytes: Vec<u8> = (0..rng.below(16))
                .map(|_| (rng.next() & 0xff) as u8)
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_filter(&text);
            let _ = parse_patch_path(&text);
        }
    }
}
