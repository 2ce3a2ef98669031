//! SCIM PATCH (RFC 7644 §3.5.2) on a stored resource, with the Entra ID and Okta forms:
//! capitalised `Add`/`Replace`/`Remove`, `"True"`/`"False"`, pathless replace with dotted or
//! URN-qualified keys, member removal by `value` array, `replace` on a filtered path that matches
//! nothing creating the element (Entra). All operations apply to a copy; the caller stores it
//! only when every operation succeeded. Group `members` are not edited in JSON: they come back as
//! [`MemberChange`]s for the store, so a 10,000-member PATCH is set work, not list scans.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, AttrPath, CompareOp, Filter, PatchPath};
use super::resource::{self, is_urn};
use super::schema::{self, Attr, Kind, Mutability};

/// At most this many operations in one PATCH.
pub const MAX_OPERATIONS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    /// The path as sent (a bare extension URN is not an attribute path).
    pub raw_path: Option<String>,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A member as a client sent it: the member's id and the display text to echo back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub display: Option<String>,
}

/// A change to a group's members, applied by the store in order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Add(Vec<Member>),
    Remove(Vec<String>),
    /// The member list becomes exactly these.
    Replace(Vec<Member>),
    RemoveAll,
}

/// Members from `[{"value": id, "display": ...}]` (a single object or a bare id string also do).
pub fn members_of(v: Option<&Value>) -> Result<Vec<Member>, ScimError> {
    let mut out = Vec::new();
    for it in as_items(v.cloned().unwrap_or(Value::Null)) {
        let field = |o: &Map<String, Value>, name: &str| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string)
        };
        let m = match &it {
            Value::Object(o) => field(o, "value").map(|id| Member {
                id,
                display: field(o, "display"),
            }),
            Value::String(s) => Some(Member {
                id: s.clone(),
                display: None,
            }),
            _ => None,
        }
        .ok_or_else(|| {
            ScimError::invalid_value("each member needs a string `value` (the member's id)")
        })?;
        out.push(m);
    }
    Ok(out)
}

/// Parses a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Op>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a PatchOp object"))?;
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    if let Some(schemas) = get("schemas") {
        let ok = schemas.as_array().is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP))
            })
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{}\"]",
                schema::PATCH_OP
            )));
        }
    }
    let ops = get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array of operations"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::too_many(format!(
            "at most {MAX_OPERATIONS} operations per PATCH"
        )));
    }
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let o = op.as_object().ok_or_else(|| {
            ScimError::invalid_syntax(format!("Operations[{i}] must be an object"))
        })?;
        let field = |name: &str| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let kind = match field("op").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
            Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
            Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{i}].op `{s}` is not add, remove or replace"
                )));
            }
            None => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{i}].op is required (add, remove or replace)"
                )));
            }
        };
        let raw_path = field("path")
            .and_then(Value::as_str)
            .map(|p| p.trim().to_string());
        let path = match field("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            // A bare schema URN names a whole extension: resolved in `apply`.
            Some(Value::String(p)) if is_urn(p.trim()) && looks_like_schema(p.trim()) => None,
            Some(Value::String(p)) => Some(
                filter::parse_patch_path(p.trim())
                    .map_err(|e| ScimError::invalid_path(format!("Operations[{i}].path: {e}")))?,
            ),
            Some(_) => {
                return Err(ScimError::invalid_path(format!(
                    "Operations[{i}].path must be a string"
                )));
            }
        };
        let value = field("value").cloned();
        if kind != OpKind::Remove && value.is_none() {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}] needs a value"
            )));
        }
        if kind == OpKind::Remove
            && raw_path.as_deref().is_none_or(str::is_empty)
            && value.is_none()
        {
            return Err(ScimError::no_target(format!(
                "Operations[{i}]: remove needs a path"
            )));
        }
        out.push(Op {
            kind,
            raw_path,
            path,
            value,
        });
    }
    Ok(out)
}

/// Applies the operations to `r` (the stored form). `id` is the resource id (Okta sends it in
/// pathless group replaces; any other value is a mutability error).
pub fn apply(
    kind: Kind,
    id: &str,
    r: &mut Map<String, Value>,
    ops: &[Op],
) -> Result<Vec<MemberChange>, ScimError> {
    let mut members = Vec::new();
    for op in ops {
        match &op.path {
            Some(p) => apply_path(kind, r, op.kind, p, op.value.as_ref(), &mut members)?,
            None if op.raw_path.as_deref().is_some_and(|p| !p.is_empty()) => {
                let urn = op.raw_path.as_deref().unwrap_or_default();
                let known = kind.extension_urn(urn).ok_or_else(|| {
                    ScimError::invalid_path(format!(
                        "`{urn}` is not an extension of {}",
                        kind.resource_type()
                    ))
                })?;
                match op.kind {
                    OpKind::Remove => {
                        if let Some(k) = key_ci(r, known) {
                            r.remove(&k);
                        }
                    }
                    OpKind::Add | OpKind::Replace => {
                        let value = op.value.clone().unwrap_or(Value::Null);
                        let mut wrapped = Map::new();
                        wrapped.insert(known.to_string(), value);
                        if op.kind == OpKind::Replace
                            && let Some(k) = key_ci(r, known)
                        {
                            r.remove(&k);
                        }
                        for (key, v) in &wrapped {
                            pathless_key(kind, id, r, OpKind::Add, key, v, &mut members)?;
                        }
                    }
                }
            }
            None => {
                let value = op.value.as_ref().unwrap_or(&Value::Null);
                let obj = value.as_object().ok_or_else(|| {
                    ScimError::invalid_value("an operation without a path needs an object value")
                })?;
                if op.kind == OpKind::Remove {
                    // Entra: remove members by value array needs a path; pathless remove has none.
                    return Err(ScimError::no_target("remove needs a path"));
                }
                for (key, v) in obj {
                    pathless_key(kind, id, r, op.kind, key, v, &mut members)?;
                }
            }
        }
    }
    // Whatever the operations did, the result must be a valid resource.
    let again = resource::canonicalize(kind, &Value::Object(r.clone()))?;
    *r = again;
    Ok(members)
}

fn pathless_key(
    kind: Kind,
    id: &str,
    r: &mut Map<String, Value>,
    op: OpKind,
    key: &str,
    v: &Value,
    members: &mut Vec<MemberChange>,
) -> Result<(), ScimError> {
    if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
        return Ok(());
    }
    if key.eq_ignore_ascii_case("id") {
        // Okta repeats the id in group renames; it may not change.
        return if v.as_str() == Some(id) {
            Ok(())
        } else {
            Err(ScimError::mutability("id is read-only"))
        };
    }
    let whole_schema = kind
        .extension_urn(key)
        .or_else(|| key.eq_ignore_ascii_case(kind.core()).then_some(kind.core()));
    if v.is_object()
        && let Some(urn) = whole_schema
    {
        for (k, sv) in v.as_object().into_iter().flatten() {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let path = filter::parse_patch_path(&format!("{urn}:{k}"))
                .map_err(|e| ScimError::invalid_path(e.to_string()))?;
            apply_path(kind, r, op, &path, Some(sv), members)?;
        }
        return Ok(());
    }
    let path = filter::parse_patch_path(key)
        .map_err(|e| ScimError::invalid_path(format!("`{key}`: {e}")))?;
    apply_path(kind, r, op, &path, Some(v), members)
}

/// Where a path points: the container object (top level or an extension) and the attribute.
struct Target {
    /// Canonical extension URN, None for the core schema.
    urn: Option<String>,
    attr: Option<&'static Attr>,
    /// The attribute name to use as the key (canonical when known).
    name: String,
}

fn resolve(kind: Kind, p: &AttrPath) -> Result<Target, ScimError> {
    let core = p
        .urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(kind.core()));
    if core {
        let attr = kind.core_attr(&p.attr);
        let Some(a) = attr else {
            return Err(ScimError::invalid_path(format!(
                "`{}` is not an attribute of {}",
                p.attr,
                kind.resource_type()
            )));
        };
        return Ok(Target {
            urn: None,
            attr: Some(a),
            name: a.name.to_string(),
        });
    }
    let urn = p.urn.clone().unwrap_or_default();
    match kind.extension_urn(&urn) {
        Some(known) => {
            let attrs = kind.schema_attrs(known).unwrap_or(&[]);
            let a = schema::find(attrs, &p.attr).ok_or_else(|| {
                ScimError::invalid_path(format!("`{}` is not an attribute of {known}", p.attr))
            })?;
            Ok(Target {
                urn: Some(known.to_string()),
                attr: Some(a),
                name: a.name.to_string(),
            })
        }
        // Unknown extensions are kept as sent; their attributes are plain JSON.
        None => Ok(Target {
            urn: Some(urn),
            attr: None,
            name: p.attr.clone(),
        }),
    }
}

fn container<'a>(r: &'a mut Map<String, Value>, urn: Option<&str>) -> &'a mut Map<String, Value> {
    match urn {
        None => r,
        Some(u) => {
            let key = r
                .keys()
                .find(|k| k.eq_ignore_ascii_case(u))
                .cloned()
                .unwrap_or_else(|| u.to_string());
            let slot = r.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().expect("just made an object")
        }
    }
}

fn key_ci(m: &Map<String, Value>, name: &str) -> Option<String> {
    m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn apply_path(
    kind: Kind,
    r: &mut Map<String, Value>,
    op: OpKind,
    p: &PatchPath,
    value: Option<&Value>,
    members: &mut Vec<MemberChange>,
) -> Result<(), ScimError> {
    let t = resolve(kind, &p.attr)?;
    if let Some(a) = t.attr {
        if a.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!("{} is read-only", a.name)));
        }
        if a.required && op == OpKind::Remove && p.attr.sub.is_none() && p.filter.is_none() {
            return Err(ScimError::mutability(format!(
                "{} is required and cannot be removed",
                a.name
            )));
        }
    }
    if kind == Kind::Group && t.urn.is_none() && t.name == "members" {
        return member_op(op, p, value, members);
    }
    let value = value.map(|v| coerce_for(t.attr, p, v)).transpose()?;
    let case_exact =
        |q: &AttrPath| schema::case_exact(kind, t.urn.as_deref(), &t.name, Some(&q.attr));
    let c = container(r, t.urn.as_deref());
    let key = key_ci(c, &t.name).unwrap_or_else(|| t.name.clone());
    let multi = t.attr.is_some_and(|a| a.multi) || c.get(&key).is_some_and(Value::is_array);
    let sub = p.attr.sub.as_deref();

    if let Some(f) = &p.filter {
        if !multi {
            return Err(ScimError::invalid_path(format!(
                "{} is not multi-valued: a value filter does not apply",
                t.name
            )));
        }
        let items = c
            .entry(key.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !items.is_array() {
            *items = Value::Array(Vec::new());
        }
        let items = items.as_array_mut().expect("array");
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| filter::matches(f, it, &case_exact))
            .map(|(i, _)| i)
            .collect();
        match op {
            OpKind::Remove => {
                if let Some(sub) = &p.sub {
                    for &i in &hits {
                        if let Some(Value::Object(o)) = items.get_mut(i)
                            && let Some(k) = key_ci(o, sub)
                        {
                            o.remove(&k);
                        }
                    }
                } else {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            OpKind::Add | OpKind::Replace => {
                let v = value.unwrap_or(Value::Null);
                if hits.is_empty() {
                    // Entra: replace emails[type eq "work"].value when there is no work email
                    // creates it (a documented deviation from RFC 7644 noTarget).
                    let mut fresh = Map::new();
                    if !seed_from_filter(f, &mut fresh) {
                        return Err(ScimError::no_target(format!(
                            "no {} value matches the filter",
                            t.name
                        )));
                    }
                    set_element(&mut fresh, p.sub.as_deref(), v)?;
                    items.push(Value::Object(fresh));
                } else {
                    for &i in &hits {
                        if let Some(Value::Object(o)) = items.get_mut(i) {
                            set_element(o, p.sub.as_deref(), v.clone())?;
                        }
                    }
                }
                let keep = hits.last().copied().unwrap_or(items.len() - 1);
                one_primary(items, keep);
            }
        }
        return Ok(());
    }

    match (op, sub) {
        (OpKind::Remove, None) => {
            if multi && let Some(v) = value {
                // Entra: remove with a value array removes those values only.
                let drop: Vec<Value> = as_items(v);
                if let Some(Value::Array(items)) = c.get_mut(&key) {
                    items.retain(|it| !drop.iter().any(|d| same_value(it, d)));
                }
            } else {
                c.remove(&key);
            }
        }
        (OpKind::Remove, Some(sub)) => match c.get_mut(&key) {
            Some(Value::Object(o)) => {
                if let Some(k) = key_ci(o, sub) {
                    o.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for it in items {
                    if let Value::Object(o) = it
                        && let Some(k) = key_ci(o, sub)
                    {
                        o.remove(&k);
                    }
                }
            }
            _ => {}
        },
        (OpKind::Add | OpKind::Replace, Some(sub)) => {
            let v = value.unwrap_or(Value::Null);
            let sub_name = t
                .attr
                .and_then(|a| schema::find(a.sub, sub))
                .map_or_else(|| sub.to_string(), |s| s.name.to_string());
            match c.get_mut(&key) {
                Some(Value::Array(items)) => {
                    for it in items.iter_mut() {
                        if let Value::Object(o) = it {
                            let k = key_ci(o, &sub_name).unwrap_or_else(|| sub_name.clone());
                            o.insert(k, v.clone());
                        }
                    }
                }
                Some(Value::Object(o)) => {
                    let k = key_ci(o, &sub_name).unwrap_or_else(|| sub_name.clone());
                    o.insert(k, v);
                }
                _ => {
                    let mut o = Map::new();
                    o.insert(sub_name, v);
                    c.insert(key, Value::Object(o));
                }
            }
        }
        (OpKind::Add, None) if multi => {
            let add = as_items(value.unwrap_or(Value::Null));
            let slot = c
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let items = slot.as_array_mut().expect("array");
            let mut last = None;
            for v in add {
                if !items.iter().any(|it| it == &v) {
                    items.push(v);
                    last = Some(items.len() - 1);
                }
            }
            if let Some(i) = last {
                one_primary(items, i);
            }
        }
        (OpKind::Replace, None) if multi => {
            c.insert(key, Value::Array(as_items(value.unwrap_or(Value::Null))));
        }
        (OpKind::Add | OpKind::Replace, None) => {
            let v = value.unwrap_or(Value::Null);
            let complex = t.attr.is_some_and(|a| a.ty == schema::Type::Complex);
            match (c.get_mut(&key), v) {
                // A complex attribute: sub-attributes merge (RFC 7644 §3.5.2.1, .3).
                (Some(Value::Object(have)), Value::Object(add)) if complex => {
                    for (k, sv) in add {
                        let k2 = key_ci(have, &k).unwrap_or(k);
                        have.insert(k2, sv);
                    }
                }
                (_, v) => {
                    c.insert(key, v);
                }
            }
        }
    }
    Ok(())
}

/// Coerces a PATCH value to the attribute (or sub-attribute) type, so `"False"` becomes false.
fn coerce_for(attr: Option<&Attr>, p: &PatchPath, v: &Value) -> Result<Value, ScimError> {
    let Some(a) = attr else {
        return Ok(v.clone());
    };
    let sub = p.sub.as_deref().or(p.attr.sub.as_deref());
    match sub {
        Some(s) => match schema::find(a.sub, s) {
            Some(sa) => resource::coerce(sa, v),
            None => Ok(v.clone()),
        },
        None if p.filter.is_some() => {
            // A whole element of a multi-valued attribute.
            let mut one = a_single(a);
            one.multi = false;
            resource::coerce(&one, v)
        }
        None => resource::coerce(a, v),
    }
}

/// A copy of an attribute's definition, to coerce one element of a multi-valued one.
fn a_single(a: &Attr) -> Attr {
    Attr {
        name: a.name,
        ty: a.ty,
        multi: false,
        required: false,
        case_exact: a.case_exact,
        mutability: a.mutability,
        returned: a.returned,
        uniqueness: a.uniqueness,
        canonical: a.canonical,
        reference_types: a.reference_types,
        sub: a.sub,
        description: a.description,
    }
}

fn as_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Two elements of a multi-valued attribute are the same value when their `value`s are equal
/// (or, without `value`, when they are equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn set_element(o: &mut Map<String, Value>, sub: Option<&str>, v: Value) -> Result<(), ScimError> {
    match sub {
        Some(sub) => {
            let k = key_ci(o, sub).unwrap_or_else(|| sub.to_string());
            o.insert(k, v);
        }
        None => {
            let add = v.as_object().ok_or_else(|| {
                ScimError::invalid_value(
                    "a filtered path without a sub-attribute needs an object value",
                )
            })?;
            for (k, sv) in add {
                let k2 = key_ci(o, k).unwrap_or_else(|| k.clone());
                o.insert(k2, sv.clone());
            }
        }
    }
    Ok(())
}

/// Fills a new element from `a eq "x"` clauses of a filter; false when the filter says more.
fn seed_from_filter(f: &Filter, o: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, v) if p.sub.is_none() && p.urn.is_none() => {
            let v = match v {
                filter::Value::Str(s) => Value::String(s.clone()),
                filter::Value::Bool(b) => Value::Bool(*b),
                filter::Value::Num(n) => Value::Number(n.clone()),
                filter::Value::Null => return false,
            };
            o.insert(p.attr.clone(), v);
            true
        }
        Filter::And(a, b) => seed_from_filter(a, o) && seed_from_filter(b, o),
        _ => false,
    }
}

/// Only element `keep` may stay primary after it was set.
fn one_primary(items: &mut [Value], keep: usize) {
    let keep_primary = items
        .get(keep)
        .and_then(|v| v.get("primary"))
        .is_some_and(|p| {
            p == &Value::Bool(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        });
    if !keep_primary {
        return;
    }
    for (i, it) in items.iter_mut().enumerate() {
        if i != keep
            && let Value::Object(o) = it
            && o.contains_key("primary")
        {
            o.insert("primary".into(), Value::Bool(false));
        }
    }
}

/// Group members: ids from `[{"value": id}]`, a filter `members[value eq "id"]` (or `or`-ed
/// `value eq` clauses), or the whole list.
fn member_op(
    op: OpKind,
    p: &PatchPath,
    value: Option<&Value>,
    out: &mut Vec<MemberChange>,
) -> Result<(), ScimError> {
    if p.attr.sub.is_some() || p.sub.is_some() {
        return Err(ScimError::invalid_path(
            "members sub-attributes are immutable; add or remove whole members",
        ));
    }
    match (op, &p.filter) {
        (OpKind::Remove, Some(f)) => {
            let mut ids = Vec::new();
            if !value_ids(f, &mut ids) {
                return Err(ScimError::invalid_filter(
                    "members can be selected by `value eq \"id\"` (joined with or)",
                ));
            }
            out.push(MemberChange::Remove(ids));
        }
        (OpKind::Remove, None) => match value {
            Some(v) if !v.is_null() => out.push(MemberChange::Remove(
                members_of(Some(v))?.into_iter().map(|m| m.id).collect(),
            )),
            _ => out.push(MemberChange::RemoveAll),
        },
        (OpKind::Add, None) => out.push(MemberChange::Add(members_of(value)?)),
        (OpKind::Replace, None) => out.push(MemberChange::Replace(members_of(value)?)),
        (OpKind::Add | OpKind::Replace, Some(_)) => {
            return Err(ScimError::invalid_path(
                "members are added or replaced whole: use path \"members\"",
            ));
        }
    }
    Ok(())
}

/// A schema URN such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`: its last
/// segment starts with an upper-case letter (a resource type), not an attribute name.
fn looks_like_schema(p: &str) -> bool {
    p.rsplit(':')
        .next()
        .and_then(|last| last.chars().next())
        .is_some_and(|c| c.is_ascii_uppercase())
}

fn value_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, filter::Value::Str(s)) if p.is("value") => {
            out.push(s.clone());
            true
        }
        Filter::Or(a, b) => value_ids(a, out) && value_ids(b, out),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        resource::canonicalize(
            Kind::User,
            &json!({"userName": "alice@x.com", "active": true, "name": {"givenName": "Alice", "familyName": "A"},
                "emails": [{"value": "alice@x.com", "type": "work", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Eng"}}),
        )
        .unwrap()
    }

    fn run(r: &mut Map<String, Value>, body: Value) -> Result<Vec<MemberChange>, ScimError> {
        let ops = parse(&body)?;
        apply(Kind::User, "id1", r, &ops)
    }

    #[test]
    fn entra_legacy_shapes() {
        let mut r = user();
        run(&mut r, json!({"schemas": [schema::PATCH_OP], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Al"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "m1"}}
        ]})).unwrap();
        assert_eq!(r["active"], false);
        assert_eq!(
            r["emails"],
            json!([{"value": "new@x.com", "type": "work", "primary": true}])
        );
        assert_eq!(r["name"]["givenName"], "Al");
        assert_eq!(r["name"]["familyName"], "A");
        let ent = &r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(ent["employeeNumber"], "42");
        assert_eq!(ent["department"], "Eng");
        assert_eq!(ent["manager"]["value"], "m1");
    }

    #[test]
    fn entra_compliant_dotted_keys_and_okta_deactivate() {
        let mut r = user();
        run(&mut r, json!({"Operations": [{"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}]})).unwrap();
        assert_eq!(r["displayName"], "Bjfe");
        assert_eq!(
            r["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            "Aklq"
        );
        run(
            &mut r,
            json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
        )
        .unwrap();
        assert_eq!(r["active"], false);
    }

    #[test]
    fn filtered_replace_without_a_match_creates_the_element() {
        let mut r = resource::canonicalize(Kind::User, &json!({"userName": "a"})).unwrap();
        run(&mut r, json!({"Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}]})).unwrap();
        run(&mut r, json!({"Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w2@x.com"}]})).unwrap();
        assert_eq!(r["emails"], json!([{"type": "work", "value": "w2@x.com"}]));
    }

    #[test]
    fn errors_and_atomicity() {
        let base = user();
        for (body, t) in [
            (
                json!({"Operations": [{"op": "merge", "path": "active", "value": true}]}),
                "invalidValue",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "active", "value": "no"}]}),
                "invalidValue",
            ),
            (json!({"Operations": [{"op": "remove"}]}), "noTarget"),
            (
                json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
                "mutability",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "meta.created", "value": "x"}]}),
                "mutability",
            ),
            (
                json!({"Operations": [{"op": "add", "path": "groups", "value": [{"value": "g"}]}]}),
                "mutability",
            ),
            (
                json!({"Operations": [{"op": "remove", "path": "userName"}]}),
                "mutability",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "nope", "value": 1}]}),
                "invalidPath",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": 1}]}),
                "invalidPath",
            ),
        ] {
            let mut r = base.clone();
            let e = run(&mut r, body.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(t), "{body}");
        }
        // The first operation is valid, the second is not: the caller keeps `base`.
        let mut r = base.clone();
        assert!(
            run(
                &mut r,
                json!({"Operations": [
            {"op": "replace", "path": "displayName", "value": "X"},
            {"op": "replace", "path": "active", "value": "maybe"}]})
            )
            .is_err()
        );
    }

    #[test]
    fn case_insensitive_paths_and_ops() {
        let mut r = user();
        run(
            &mut r,
            json!({"Operations": [
            {"op": "REPLACE", "path": "UserName", "value": "b@x.com"},
            {"op": "Replace", "path": "EMAILS[TYPE EQ \"work\"].VALUE", "value": "b@x.com"},
            {"op": "replace", "path": "name.GivenName", "value": "B"}]}),
        )
        .unwrap();
        assert_eq!(r["userName"], "b@x.com");
        assert_eq!(r["emails"][0]["value"], "b@x.com");
        assert_eq!(r["name"]["givenName"], "B");
    }

    #[test]
    fn group_members() {
        let mut g = resource::canonicalize(Kind::Group, &json!({"displayName": "G"})).unwrap();
        let ops = parse(&json!({"Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u3", "display": "U3"}]},
            {"op": "replace", "path": "members", "value": [{"value": "u4"}]},
            {"op": "replace", "value": {"id": "g1", "displayName": "G2"}}]}))
        .unwrap();
        let changes = apply(Kind::Group, "g1", &mut g, &ops).unwrap();
        assert_eq!(
            changes,
            vec![
                MemberChange::Remove(vec!["u1".into()]),
                MemberChange::Remove(vec!["u2".into()]),
                MemberChange::Add(vec![Member {
                    id: "u3".into(),
                    display: Some("U3".into())
                }]),
                MemberChange::Replace(vec![Member {
                    id: "u4".into(),
                    display: None
                }]),
            ]
        );
        assert_eq!(g["displayName"], "G2");
        assert!(g.get("members").is_none());
        let ops =
            parse(&json!({"Operations": [{"op": "replace", "value": {"id": "other"}}]})).unwrap();
        assert_eq!(
            apply(Kind::Group, "g1", &mut g, &ops)
                .unwrap_err()
                .scim_type,
            Some("mutability")
        );
    }
}
