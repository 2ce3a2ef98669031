//! The in-memory evaluator of a filter against a resource as JSON.

use super::{ast::*, limits::*};
use serde_json::{Number, Value as Json};
use std::borrow::Cow;
use std::cmp::Ordering;

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

pub(super) struct Eval<'c> {
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

pub(super) fn is_core_urn(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(CORE_USER_URN) || urn.eq_ignore_ascii_case(CORE_GROUP_URN)
}

/// Case-insensitive key lookup (exact key first, which is the common case).
pub(super) fn get_ci<'v>(v: &'v Json, key: &str) -> Option<&'v Json> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Whether any value of the attribute (`v`), or of its sub-attribute, satisfies `pred`.
pub(super) fn any_value(v: &Json, sub: Option<&str>, pred: &dyn Fn(&Json) -> bool) -> bool {
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

pub(super) fn present_at(v: &Json, sub: Option<&str>) -> bool {
    match (sub, v) {
        (None, _) => present(v),
        (Some(s), Json::Array(items)) => items.iter().any(|e| get_ci(e, s).is_some_and(present)),
        (Some(s), Json::Object(_)) => get_ci(v, s).is_some_and(present),
        (Some(_), _) => false,
    }
}

/// Not null, "", [] or {}; an array or object counts only if some member is present. Looks at most
/// `LEVELS` deep, so caller-built JSON cannot make it recurse without bound.
pub(super) fn present(v: &Json) -> bool {
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

pub(super) fn scalar_matches(
    j: &Json,
    op: CompareOp,
    lit: &Value,
    lit_str: &str,
    case_exact: bool,
) -> bool {
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
pub(super) fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
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
