//! SCIM Bulk (RFC 7644 §3.7): many operations in one request, each run as its own request
//! would be (one transaction each), in order. `bulkId:` references in `data` (a group member
//! created in the same request, a manager) resolve to the ids created earlier in the request;
//! an operation whose reference is not created yet waits until it is, so the order in the
//! request does not matter. `failOnErrors` stops after that many errors. Limits are advertised
//! in `ServiceProviderConfig`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::users::{Change, Result};
use super::wire::{Call, Projection};
use super::{groups, users};
use crate::engine::scim::error::ScimError;
use crate::engine::scim::schema::{BULK_REQUEST, BULK_RESPONSE};
use crate::state::AppState;

pub const MAX_OPERATIONS: usize = 1_000;

struct Op {
    index: usize,
    method: String,
    bulk_id: Option<String>,
    path: String,
    version: Option<String>,
    data: Option<Value>,
}

pub async fn run(state: &AppState, call: &Call, body: &Value) -> Result<Value> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::invalid_syntax("the request body must be a BulkRequest object")
    })?;
    let ok_schema = obj
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
    if !ok_schema {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be [\"{BULK_REQUEST}\"]"
        )));
    }
    let fail_on = match obj.get("failOnErrors") {
        None | Some(Value::Null) => usize::MAX,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
            n.as_u64().unwrap_or(1) as usize
        }
        Some(_) => {
            return Err(ScimError::invalid_value(
                "failOnErrors must be a positive integer",
            ));
        }
    };
    let list = obj
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
    if list.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("at most {MAX_OPERATIONS} operations per Bulk request"),
        ));
    }
    let mut ops = Vec::with_capacity(list.len());
    let mut seen_ids = std::collections::HashSet::new();
    for (index, o) in list.iter().enumerate() {
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let method = s("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "Operations[{index}].method must be POST, PUT, PATCH or DELETE"
                ))
            })?;
        let path = s("path").ok_or_else(|| {
            ScimError::invalid_syntax(format!("Operations[{index}].path is required"))
        })?;
        let bulk_id = s("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: POST needs a bulkId"
            )));
        }
        if let Some(b) = &bulk_id
            && !seen_ids.insert(b.clone())
        {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: bulkId {b} is used twice"
            )));
        }
        ops.push(Op {
            index,
            method,
            bulk_id,
            path,
            version: s("version"),
            data: o.get("data").cloned(),
        });
    }

    let mut created: HashMap<String, String> = HashMap::new();
    let mut results: Vec<Option<Value>> = vec![None; ops.len()];
    let mut errors = 0usize;
    let mut pending: Vec<Op> = ops;
    // Each pass runs every operation whose references are resolved; stops when none can run.
    while !pending.is_empty() && errors < fail_on {
        let mut waiting = Vec::new();
        let mut progressed = false;
        for op in pending {
            if errors >= fail_on {
                waiting.push(op);
                continue;
            }
            let mut unresolved = None;
            let data = op
                .data
                .as_ref()
                .map(|d| resolve(d, &created, &mut unresolved));
            let path = resolve_str(&op.path, &created, &mut unresolved);
            if unresolved.is_some() {
                waiting.push(op);
                continue;
            }
            progressed = true;
            let out = one(state, call, &op, &path, data.as_ref()).await;
            let (status, location, version, response) = match out {
                Ok((status, resource)) => {
                    let location = resource
                        .as_ref()
                        .and_then(|r| r.get("meta"))
                        .and_then(|m| m.get("location"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let version = resource
                        .as_ref()
                        .and_then(|r| r.get("meta"))
                        .and_then(|m| m.get("version"))
                        .cloned();
                    if let (Some(b), Some(id)) = (
                        &op.bulk_id,
                        resource
                            .as_ref()
                            .and_then(|r| r.get("id"))
                            .and_then(Value::as_str),
                    ) {
                        created.insert(b.clone(), id.to_string());
                    }
                    (status, location, version, None)
                }
                Err(e) => {
                    errors += 1;
                    (e.status, None, None, Some(error_json(&e)))
                }
            };
            let mut r = json!({"method": op.method, "status": status.as_u16().to_string()});
            if let Some(b) = &op.bulk_id {
                r["bulkId"] = json!(b);
            }
            if let Some(l) =
                location.or_else(|| (op.method != "POST").then(|| format!("{}{}", call.base, path)))
            {
                r["location"] = json!(l);
            }
            if let Some(v) = version {
                r["version"] = v;
            }
            if let Some(resp) = response {
                r["response"] = resp;
            }
            results[op.index] = Some(r);
        }
        pending = waiting;
        if !progressed {
            break;
        }
    }
    // What never ran: a reference to a bulkId that failed or does not exist (409), or
    // operations after failOnErrors was reached (not run, not reported, as RFC 7644 §3.7.3).
    if errors < fail_on {
        for op in pending {
            let e = ScimError::new(
                StatusCode::CONFLICT,
                Some("invalidValue"),
                format!(
                    "Operations[{}] refers to a bulkId that was not created in this request",
                    op.index
                ),
            );
            let mut r = json!({"method": op.method, "status": "409", "response": error_json(&e)});
            if let Some(b) = &op.bulk_id {
                r["bulkId"] = json!(b);
            }
            results[op.index] = Some(r);
        }
    }
    Ok(json!({
        "schemas": [BULK_RESPONSE],
        "Operations": results.into_iter().flatten().collect::<Vec<_>>(),
    }))
}

fn error_json(e: &ScimError) -> Value {
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": e.status.as_u16().to_string(),
        "detail": e.detail,
    });
    if let Some(t) = e.scim_type {
        v["scimType"] = json!(t);
    }
    v
}

fn resolve_str(
    s: &str,
    created: &HashMap<String, String>,
    unresolved: &mut Option<String>,
) -> String {
    if !s.contains("bulkId:") {
        return s.to_string();
    }
    let mut out = String::new();
    for (i, part) in s.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match part.strip_prefix("bulkId:") {
            Some(b) => match created.get(b) {
                Some(id) => out.push_str(id),
                None => {
                    *unresolved = Some(b.to_string());
                    out.push_str(part);
                }
            },
            None => out.push_str(part),
        }
    }
    out
}

/// Replaces every `"bulkId:x"` string with the id created for x.
fn resolve(v: &Value, created: &HashMap<String, String>, unresolved: &mut Option<String>) -> Value {
    match v {
        Value::String(s) => match s.strip_prefix("bulkId:") {
            Some(b) => match created.get(b) {
                Some(id) => Value::String(id.clone()),
                None => {
                    *unresolved = Some(b.to_string());
                    v.clone()
                }
            },
            None => v.clone(),
        },
        Value::Array(a) => {
            Value::Array(a.iter().map(|x| resolve(x, created, unresolved)).collect())
        }
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.insert(k.clone(), resolve(x, created, unresolved));
            }
            Value::Object(m)
        }
        other => other.clone(),
    }
}

/// Runs one operation; returns its status and the resource it produced, if any.
async fn one(
    state: &AppState,
    call: &Call,
    op: &Op,
    path: &str,
    data: Option<&Value>,
) -> Result<(StatusCode, Option<Map<String, Value>>)> {
    let rid = call.rid.as_deref();
    let p = Projection::default();
    let mut headers = HeaderMap::new();
    if let Some(v) = op
        .version
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_MATCH, v);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let empty = Value::Null;
    let data = data.unwrap_or(&empty);
    let need_data = || {
        if data.is_null() {
            Err(ScimError::invalid_syntax(format!(
                "Operations[{}]: {} needs data",
                op.index, op.method
            )))
        } else {
            Ok(())
        }
    };
    match (op.method.as_str(), segments.as_slice()) {
        ("POST", ["Users"]) => {
            need_data()?;
            let (r, _) = users::create(state, &call.client, rid, &call.base, data, &p).await?;
            Ok((StatusCode::CREATED, Some(r)))
        }
        ("POST", ["Groups"]) => {
            need_data()?;
            let (r, _) = groups::create(state, &call.client, rid, &call.base, data, &p).await?;
            Ok((StatusCode::CREATED, Some(r)))
        }
        ("PUT" | "PATCH", ["Users", id]) => {
            need_data()?;
            let change = if op.method == "PUT" {
                Change::Replace(data)
            } else {
                Change::Patch(data)
            };
            let (r, _) = users::update(
                state,
                &call.client,
                rid,
                &call.base,
                id,
                change,
                &headers,
                &p,
            )
            .await?;
            Ok((StatusCode::OK, Some(r)))
        }
        ("PUT" | "PATCH", ["Groups", id]) => {
            need_data()?;
            let change = if op.method == "PUT" {
                Change::Replace(data)
            } else {
                Change::Patch(data)
            };
            let out = groups::update(
                state,
                &call.client,
                rid,
                &call.base,
                id,
                change,
                &headers,
                &p,
            )
            .await?;
            Ok(match out {
                Some((r, _)) => (StatusCode::OK, Some(r)),
                None => (StatusCode::NO_CONTENT, None),
            })
        }
        ("DELETE", ["Users", id]) => {
            users::delete(state, &call.client, rid, id, &headers).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ("DELETE", ["Groups", id]) => {
            groups::delete(state, &call.client, rid, id, &headers).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        _ => Err(ScimError::invalid_path(format!(
            "Operations[{}]: {} {path} is not a Users or Groups operation",
            op.index, op.method
        ))),
    }
}
