//! The grammar: the bounded pre-scan, then a recursive-descent parser over the checked input.

use super::{ast::*, limits::*};
use serde_json::Number;
use std::fmt;

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
pub(super) fn prescan(input: &str) -> Result<(), FilterError> {
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
pub(super) fn check_nul_and_depth(input: &str) -> Result<(), FilterError> {
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

pub(super) fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Bytes of an attribute path, operator or keyword (all ASCII, so word slices are always on
/// char boundaries). ':' and '.' are included so a URN-qualified path is one word.
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'$')
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref` (used in `members[$ref eq ...]`).
pub(super) fn is_valid_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A URN prefix: "urn" and at least one more non-empty segment of `[A-Za-z0-9._-]`.
pub(super) fn is_valid_urn(urn: &str) -> bool {
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
pub(super) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}...", s.get(..cut).unwrap_or("")),
        None => format!("{s:?}"),
    }
}

/// Splits one word into `[urn:]attr[.sub]`. A `urn:` name is split at its last ':' (the URN itself
/// contains dots, e.g. "2.0"); only the part after it is split at dots.
pub(super) fn parse_attr_path(
    word: &str,
    start: usize,
    relative: bool,
) -> Result<AttrPath, FilterError> {
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
pub(super) fn parse_single_name(word: &str, start: usize) -> Result<String, FilterError> {
    if is_valid_name(word) {
        Ok(word.to_string())
    } else {
        Err(invalid_name(word, start))
    }
}

pub(super) fn invalid_name(name: &str, pos: usize) -> FilterError {
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
pub(super) fn is_json_number(s: &str) -> bool {
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
pub(super) struct Parser<'a> {
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
pub(super) fn unicode_escape(
    chars: &mut std::str::CharIndices<'_>,
    at: usize,
) -> Result<char, FilterError> {
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
