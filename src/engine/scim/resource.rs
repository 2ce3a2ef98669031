//! SCIM resources as JSON: input canonicalisation (attribute names to their schema case, Entra's
//! string booleans, type checks, read-only and write-only attributes dropped, unknown extensions
//! kept) and output projection (`attributes`, `excludedAttributes`, `returned`). No axum, no SQL.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{Attr, Kind, Mutability, Returned, Type, find};

/// Turns a client's resource into the stored form: canonical names, checked and coerced values,
/// no `id`/`meta`/`schemas`/read-only or write-only attributes. `schemas`, when sent, must name
/// the resource's core schema.
pub fn canonicalize(kind: Kind, body: &Value) -> Result<Map<String, Value>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    if let Some(schemas) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
    {
        let names = schemas
            .as_array()
            .ok_or_else(|| ScimError::invalid_syntax("schemas must be an array of schema URNs"))?;
        let has_core = names.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(kind.core()))
        });
        if !has_core {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {}",
                kind.core()
            )));
        }
    }
    let mut out = Map::new();
    for (key, value) in obj {
        put_top(kind, &mut out, key, value)?;
    }
    check_required(kind, &out)?;
    Ok(out)
}

/// Stores one top-level key of a client's resource into `out`.
fn put_top(
    kind: Kind,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if is_urn(key) {
        if key.eq_ignore_ascii_case(kind.core()) {
            let inner = value.as_object().ok_or_else(|| {
                ScimError::invalid_value(format!("{key} must be an object of attributes"))
            })?;
            for (k, v) in inner {
                put_top(kind, out, k, v)?;
            }
            return Ok(());
        }
        if let Some(urn) = kind.extension_urn(key) {
            let attrs = kind.schema_attrs(urn).unwrap_or(&[]);
            let inner = value.as_object().ok_or_else(|| {
                ScimError::invalid_value(format!("{urn} must be an object of attributes"))
            })?;
            let mut ext = Map::new();
            for (k, v) in inner
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
            {
                put_attr(attrs, &mut ext, k, v)?;
            }
            if !ext.is_empty() {
                out.insert(urn.to_string(), Value::Object(ext));
            }
            return Ok(());
        }
        // An extension this server does not know: kept as sent.
        out.insert(key.to_string(), value.clone());
        return Ok(());
    }
    if ["id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return Ok(());
    }
    if key.eq_ignore_ascii_case("externalId") {
        return match value {
            Value::Null => Ok(()),
            Value::String(s) => {
                out.insert("externalId".into(), Value::String(s.clone()));
                Ok(())
            }
            _ => Err(ScimError::invalid_value("externalId must be a string")),
        };
    }
    put_attr(kind.attrs(), out, key, value)
}

fn put_attr(
    attrs: &[Attr],
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let Some(a) = find(attrs, key) else {
        // Unknown core attributes are kept as sent, like unknown extensions.
        out.insert(key.to_string(), value.clone());
        return Ok(());
    };
    if matches!(a.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        // RFC 7644 §3.3: read-only values sent on create or replace are ignored; write-only
        // ones (password) are accepted and discarded.
        return Ok(());
    }
    if value.is_null() {
        return Ok(());
    }
    let v = coerce(a, value)?;
    if !is_empty(&v) {
        out.insert(a.name.to_string(), v);
    }
    Ok(())
}

/// Coerces and checks a value for an attribute (multi-valued: every element).
pub fn coerce(a: &Attr, value: &Value) -> Result<Value, ScimError> {
    if a.multi {
        let items: Vec<Value> = match value {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            if item.is_null() {
                continue;
            }
            out.push(coerce_single(a, item)?);
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "{}: at most one value may be primary",
                a.name
            )));
        }
        return Ok(Value::Array(out));
    }
    coerce_single(a, value)
}

fn coerce_single(a: &Attr, value: &Value) -> Result<Value, ScimError> {
    let bad = |what: &str| ScimError::invalid_value(format!("{} must be {what}", a.name));
    match a.ty {
        Type::Complex => {
            let obj = value.as_object().ok_or_else(|| bad("an object"))?;
            let mut out = Map::new();
            for (k, v) in obj {
                match find(a.sub, k) {
                    Some(sub) => {
                        if v.is_null() {
                            continue;
                        }
                        out.insert(sub.name.to_string(), coerce_single(sub, v)?);
                    }
                    None => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Type::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            // Entra ID sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(bad("a boolean (true or false)")),
        },
        Type::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            _ => Err(bad("an integer")),
        },
        Type::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(bad("a number")),
        },
        Type::DateTime => match value {
            Value::String(s)
                if time::OffsetDateTime::parse(
                    s,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok() =>
            {
                Ok(value.clone())
            }
            _ => Err(bad("an RFC 3339 date-time")),
        },
        Type::String | Type::Reference | Type::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(bad("a string")),
        },
    }
}

pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether `key` starts with `urn:` (any case). Bytes, not a `str` slice: a key may begin with
/// a multi-byte character.
pub fn is_urn(key: &str) -> bool {
    key.len() > 4 && key.as_bytes()[..4].eq_ignore_ascii_case(b"urn:")
}

/// Required attributes (userName, displayName) present and non-empty strings.
pub fn check_required(kind: Kind, r: &Map<String, Value>) -> Result<(), ScimError> {
    for a in kind.attrs().iter().filter(|a| a.required) {
        let ok = r
            .get(a.name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !ok {
            return Err(ScimError::invalid_value(format!("{} is required", a.name)));
        }
    }
    Ok(())
}

/// A path of `attributes` / `excludedAttributes`: schema URN (None = core), attribute, sub.
#[derive(Debug, Clone)]
pub struct Selector {
    pub urn: Option<String>,
    pub attr: Option<String>,
    pub sub: Option<String>,
}

/// Parses a comma-separated `attributes` list; names are matched case-insensitively.
pub fn selectors(kind: Kind, list: Option<&str>) -> Result<Vec<Selector>, ScimError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if raw.len() > 512 {
            return Err(ScimError::invalid_value("an attribute name is too long"));
        }
        let (urn, rest) = if is_urn(raw) {
            if kind.extension_urn(raw).is_some() || raw.eq_ignore_ascii_case(kind.core()) {
                (Some(raw.to_string()), None)
            } else {
                match raw.rsplit_once(':') {
                    Some((u, r)) => (Some(u.to_string()), Some(r)),
                    None => (None, Some(raw)),
                }
            }
        } else {
            (None, Some(raw))
        };
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(kind.core()));
        let (attr, sub) = match rest {
            None => (None, None),
            Some(r) => match r.split_once('.') {
                Some((a, s)) => (Some(a.to_string()), Some(s.to_string())),
                None => (Some(r.to_string()), None),
            },
        };
        out.push(Selector { urn, attr, sub });
    }
    Ok(out)
}

fn always(key: &str) -> bool {
    key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("schemas")
}

fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<(&'a String, &'a Value)> {
    m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
}

/// Applies `attributes` (keep only these, plus `returned: always`) or `excludedAttributes`
/// (drop these, never `always` ones) to a rendered resource. Attributes `returned: request` are
/// kept only when asked for.
pub fn project(
    kind: Kind,
    r: Map<String, Value>,
    include: &[Selector],
    exclude: &[Selector],
) -> Map<String, Value> {
    let mut r = r;
    // `returned: request` attributes are only sent when named (none in the core schemas today,
    // but the schema table may mark some).
    for a in kind
        .attrs()
        .iter()
        .filter(|a| a.returned == Returned::Request)
    {
        let asked = include.iter().any(|s| {
            s.urn.is_none()
                && s.attr
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(a.name))
        });
        if !asked {
            r.remove(a.name);
        }
    }
    if !include.is_empty() {
        let mut out = Map::new();
        for (k, v) in &r {
            if always(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        for s in include {
            match (&s.urn, &s.attr) {
                (Some(urn), None) => {
                    if let Some((k, v)) = get_ci(&r, urn) {
                        out.insert(k.clone(), v.clone());
                    }
                }
                (Some(urn), Some(attr)) => {
                    if let Some((k, Value::Object(ext))) = get_ci(&r, urn)
                        && let Some((ak, av)) = get_ci(ext, attr)
                    {
                        let slot = out
                            .entry(k.clone())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(slot) = slot {
                            slot.insert(ak.clone(), pick(av, s.sub.as_deref()));
                        }
                    }
                }
                (None, Some(attr)) => {
                    if let Some((k, v)) = get_ci(&r, attr) {
                        let picked = pick(v, s.sub.as_deref());
                        match (out.get_mut(k.as_str()), &picked) {
                            (Some(Value::Object(have)), Value::Object(add)) => {
                                for (ak, av) in add {
                                    have.insert(ak.clone(), av.clone());
                                }
                            }
                            _ => {
                                out.insert(k.clone(), picked);
                            }
                        }
                    }
                }
                (None, None) => {}
            }
        }
        return out;
    }
    for s in exclude {
        match (&s.urn, &s.attr) {
            (Some(urn), None) => {
                let key = get_ci(&r, urn).map(|(k, _)| k.clone());
                if let Some(k) = key {
                    r.remove(&k);
                }
            }
            (Some(urn), Some(attr)) => {
                let key = get_ci(&r, urn).map(|(k, _)| k.clone());
                if let Some(k) = key
                    && let Some(Value::Object(ext)) = r.get_mut(&k)
                {
                    remove_ci(ext, attr, s.sub.as_deref());
                }
            }
            (None, Some(attr)) => {
                if !always(attr) {
                    remove_ci(&mut r, attr, s.sub.as_deref());
                }
            }
            (None, None) => {}
        }
    }
    r
}

/// `v` itself, or only sub-attribute `sub` of it (of each element when multi-valued).
fn pick(v: &Value, sub: Option<&str>) -> Value {
    let Some(sub) = sub else {
        return v.clone();
    };
    let one = |x: &Value| -> Option<Value> {
        let o = x.as_object()?;
        let (k, v) = get_ci(o, sub)?;
        let mut m = Map::new();
        m.insert(k.clone(), v.clone());
        Some(Value::Object(m))
    };
    match v {
        Value::Array(items) => Value::Array(items.iter().filter_map(one).collect()),
        other => one(other).unwrap_or(Value::Object(Map::new())),
    }
}

fn remove_ci(m: &mut Map<String, Value>, attr: &str, sub: Option<&str>) {
    let Some(key) = get_ci(m, attr).map(|(k, _)| k.clone()) else {
        return;
    };
    match sub {
        None => {
            m.remove(&key);
        }
        Some(sub) => match m.get_mut(&key) {
            Some(Value::Object(o)) => {
                if let Some(k) = get_ci(o, sub).map(|(k, _)| k.clone()) {
                    o.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(o) = item
                        && let Some(k) = get_ci(o, sub).map(|(k, _)| k.clone())
                    {
                        o.remove(&k);
                    }
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_attribute_name_that_begins_with_a_multi_byte_character_is_no_urn() {
        assert!(!is_urn("\u{c1}\u{5d72d}O"));
        assert!(!is_urn("é"));
        assert!(is_urn("URN:ietf:params:scim:schemas:core:2.0:User"));
        assert!(!is_urn("urn:"));
        assert!(selectors(Kind::User, Some("\u{c1}\u{5d72d}x,userName")).is_ok());
    }

    #[test]
    fn canonical_names_string_booleans_and_dropped_attributes() {
        let r = canonicalize(
            Kind::User,
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "USERNAME": "Alice@x.com", "Active": "False", "id": "forged", "password": "p",
                "groups": [{"value": "g"}], "EMAILS": [{"VALUE": "a@x.com", "Primary": "True"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "7"},
                "urn:example:custom": {"x": 1}
            }),
        )
        .unwrap();
        assert_eq!(r["userName"], "Alice@x.com");
        assert_eq!(r["active"], false);
        assert!(r.get("id").is_none() && r.get("password").is_none() && r.get("groups").is_none());
        assert_eq!(r["emails"][0]["value"], "a@x.com");
        assert_eq!(r["emails"][0]["primary"], true);
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            "7"
        );
        assert_eq!(r["urn:example:custom"]["x"], 1);
    }

    #[test]
    fn bad_values_are_invalid_value() {
        for body in [
            json!({"userName": "a", "active": "no"}),
            json!({"userName": 5}),
            json!({"displayName": "x"}),
            json!({"userName": "a", "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}),
            json!({"userName": "a", "name": "Alice"}),
        ] {
            let e = canonicalize(Kind::User, &body).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"), "{body}");
        }
        let e =
            canonicalize(Kind::User, &json!({"schemas": ["urn:x"], "userName": "a"})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }

    #[test]
    fn projection() {
        let r = json!({"id": "1", "schemas": ["s"], "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "costCenter": "C"}});
        let m = r.as_object().unwrap().clone();
        let inc = selectors(Kind::User, Some("userName,name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")).unwrap();
        let out = project(Kind::User, m.clone(), &inc, &[]);
        assert_eq!(
            Value::Object(out),
            json!({"id": "1", "schemas": ["s"], "userName": "a", "name": {"givenName": "A"},
                "emails": [{"value": "a@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}})
        );
        let exc = selectors(
            Kind::User,
            Some("ID,name,emails.type,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
        )
        .unwrap();
        let out = project(Kind::User, m, &[], &exc);
        assert_eq!(
            Value::Object(out),
            json!({"id": "1", "schemas": ["s"], "userName": "a", "emails": [{"value": "a@x"}]})
        );
    }
}
