//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): `filter`, `sortBy`/`sortOrder`,
//! `startIndex`/`count`, `attributes`/`excludedAttributes`, by GET or `POST .search`.
//!
//! Filters compile to SQL over indexed columns (`store::scim::compile`). When SQL decides a
//! filter alone, a page is a keyset query: the position after each page served is remembered,
//! so the next `startIndex` continues from there without an OFFSET scan (Okta and Entra page
//! forward with `count=100`). Otherwise the candidates SQL narrowed to are evaluated in memory
//! with the exact filter and paged there.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::ScimClient;
use super::list_cache::{ANCHOR_STEP, CountKey, ListCaches};
use super::users::Result;
use super::{groups, users};
use crate::engine::scim::error::ScimError;
use crate::engine::scim::filter::{self, Filter};
use crate::engine::scim::resource::{self, Selector};
use crate::engine::scim::schema::{self, Kind};
use crate::state::AppState;
use crate::store::{
    self,
    scim::{Arg, ListQuery, Sort, Where},
};

/// Default and largest page (advertised as `filter.maxResults`).
pub const DEFAULT_COUNT: i64 = 100;
pub const MAX_COUNT: i64 = 1_000;

/// A list request, from query parameters or a SearchRequest body.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct Search {
    /// An RFC 7644 §3.4.2.2 filter, e.g. `userName eq "alice@example.com"`.
    pub filter: Option<String>,
    /// `id` (the default), `userName` (Users), `displayName`, `externalId`, `meta.created` or
    /// `meta.lastModified`.
    pub sort_by: Option<String>,
    /// `ascending` (the default) or `descending`, in any case.
    pub sort_order: Option<String>,
    /// The 1-based index of the first result (default 1; below 1 is 1).
    #[serde(default, deserialize_with = "int_or_string")]
    pub start_index: Option<i64>,
    /// The page size (default 100; negative is 0; above 1000 is 1000).
    #[serde(default, deserialize_with = "int_or_string")]
    pub count: Option<i64>,
    /// Comma-separated attribute paths to return (`id` and `schemas` always are).
    #[serde(default, deserialize_with = "list_or_string")]
    pub attributes: Option<String>,
    /// Comma-separated attribute paths to leave out (`members` skips the member lists).
    #[serde(default, deserialize_with = "list_or_string")]
    pub excluded_attributes: Option<String>,
}

fn int_or_string<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an integer")))?,
        ),
        _ => None,
    })
}

/// `attributes` is a comma-separated string in a query and an array in a SearchRequest.
fn list_or_string<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    })
}

impl Search {
    /// From a SearchRequest body (`schemas` must name SearchRequest when present).
    pub fn from_body(body: &Value) -> Result<Search> {
        if let Some(s) = body.get("schemas") {
            let ok = s.as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x.as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(schema::SEARCH))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must be [\"{}\"]",
                    schema::SEARCH
                )));
            }
        }
        serde_json::from_value(body.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("invalid SearchRequest: {e}")))
    }
}

/// The anchors of a query: cached, built now, or none (built too recently to rebuild).
async fn anchors(
    caches: &ListCaches,
    tx: &mut store::Tx,
    key: CountKey,
    g: u64,
    q: &ListQuery<'_>,
) -> Result<Option<Arc<Vec<(Arg, String)>>>> {
    if let Some(known) = caches.anchors(&key, g) {
        return Ok(known);
    }
    let at = Arc::new(store::scim::anchors(tx.conn(), q, ANCHOR_STEP).await?);
    caches.keep_anchors(key, g, at.clone());
    Ok(Some(at))
}

/// Counts a query's matches and remembers the count (`g` as in [`ListCaches::remember_count`]).
async fn count_now(
    caches: &ListCaches,
    tx: &mut store::Tx,
    q: &ListQuery<'_>,
    key: CountKey,
    g: u64,
) -> Result<i64> {
    let n = store::scim::count(tx.conn(), q).await?;
    caches.remember_count(key, g, n);
    Ok(n)
}

fn sort_of(kind: Kind, by: Option<&str>) -> Result<Sort> {
    let Some(by) = by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Sort::Id);
    };
    let by = by
        .strip_prefix(kind.core())
        .and_then(|s| s.strip_prefix(':'))
        .unwrap_or(by)
        .to_ascii_lowercase();
    Ok(match (by.as_str(), kind) {
        ("id", _) => Sort::Id,
        ("username", Kind::User) => Sort::Name,
        ("displayname", Kind::User) => Sort::DisplayName,
        ("displayname", Kind::Group) => Sort::Name,
        ("externalid", _) => Sort::ExternalId,
        ("meta.created", _) => Sort::Created,
        ("meta.lastmodified", _) => Sort::Modified,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "sortBy `{by}` is not supported: use id, userName, displayName, externalId, meta.created or meta.lastModified"
            )));
        }
    })
}

fn sort_value(kind: Kind, sort: Sort, r: &Map<String, Value>, created: i64, modified: i64) -> Arg {
    let text = |k: &str| {
        Arg::Text(
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    match (sort, kind) {
        (Sort::Id, _) => Arg::Text(String::new()),
        (Sort::Name, Kind::User) => Arg::Text(
            r.get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase(),
        ),
        (Sort::Name | Sort::DisplayName, _) => Arg::Text(
            r.get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase(),
        ),
        (Sort::ExternalId, _) => text("externalId"),
        (Sort::Created, _) => Arg::Int(created),
        (Sort::Modified, _) => Arg::Int(modified),
    }
}

/// One rendered candidate: resource, sort key, id.
struct Item {
    r: Map<String, Value>,
    key: Arg,
    id: String,
}

/// A ListResponse for one resource type.
pub async fn list(
    state: &AppState,
    client: &ScimClient,
    base: &str,
    kind: Kind,
    q: &Search,
) -> Result<Value> {
    let (total, start, items) = page(state, client, base, kind, q).await?;
    Ok(list_response(total, start, items))
}

pub fn list_response(total: i64, start: i64, items: Vec<Map<String, Value>>) -> Value {
    let mut v = json!({
        "schemas": [schema::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": items.len(),
    });
    v["Resources"] = Value::Array(items.into_iter().map(Value::Object).collect());
    v
}

pub fn parse_filter(text: Option<&str>) -> Result<Option<Filter>> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => filter::parse_filter(t)
            .map(Some)
            .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}"))),
    }
}

/// (totalResults, startIndex, page).
pub async fn page(
    state: &AppState,
    client: &ScimClient,
    base: &str,
    kind: Kind,
    q: &Search,
) -> Result<(i64, i64, Vec<Map<String, Value>>)> {
    let include = resource::selectors(kind, q.attributes.as_deref())?;
    let exclude = resource::selectors(kind, q.excluded_attributes.as_deref())?;
    let f = parse_filter(q.filter.as_deref())?;
    let members = groups::wants_members(&include, &exclude);
    let sort = sort_of(kind, q.sort_by.as_deref())?;
    let descending = match q
        .sort_order
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("ascending") => false,
        Some("descending") => true,
        Some(o) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder `{o}` is not ascending or descending"
            )));
        }
    };
    // RFC 7644 §3.4.2.4: startIndex below 1 is 1; count below 0 is 0; above the maximum, the
    // maximum.
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT);
    let backend = state.store.backend();
    let compiled: Option<Where> = f
        .as_ref()
        .map(|f| store::scim::compile(kind, backend, f, 1));
    let exact = compiled.as_ref().is_none_or(|w| w.exact);
    let mut tx = state.store.read().await?;
    users::tenant(&mut tx, client).await?;
    let tenant_id = client.tenant_id.as_str();
    let base_query = |after: Option<(Arg, String)>, offset: i64, limit: Option<i64>| ListQuery {
        kind,
        tenant_id,
        filter: compiled.as_ref(),
        sort,
        descending,
        after,
        offset,
        limit,
    };
    let case_exact = |p: &filter::AttrPath| {
        schema::case_exact(kind, p.urn.as_deref(), &p.attr, p.sub.as_deref())
    };

    if exact {
        let count_key = (
            tenant_id.to_string(),
            format!("{:?}|{}", kind, q.filter.as_deref().unwrap_or("")),
        );
        // Read before any query: a write that lands meanwhile makes what is read stale.
        let caches = &state.scim_lists;
        let g = caches.generation(tenant_id);
        let every = base_query(None, 0, None);
        let mut total = caches.cached_count(&count_key);
        // A first page that comes back short holds every match: no count needed.
        if total.is_none() && (start > 1 || count == 0) {
            total = Some(count_now(caches, &mut tx, &every, count_key.clone(), g).await?);
        }
        if let Some(t) = total
            && (count == 0 || start > t)
        {
            return Ok((t, start, Vec::new()));
        }
        let query_key = format!(
            "{:?}|{:?}|{}|{:?}",
            kind,
            q.filter.as_deref().unwrap_or(""),
            descending,
            sort
        );
        let mut cursor = if start == 1 {
            None
        } else {
            caches.cursor(&(tenant_id.to_string(), query_key.clone(), start))
        };
        let mut offset = if cursor.is_some() { 0 } else { start - 1 };
        // No page ended there: start from the nearest anchor before it.
        if cursor.is_none() && offset >= ANCHOR_STEP {
            let key = (tenant_id.to_string(), query_key.clone());
            if let Some(a) = anchors(caches, &mut tx, key, g, &every).await? {
                let i = (offset / ANCHOR_STEP) as usize;
                if let Some(at) = a.get(i - 1) {
                    cursor = Some(at.clone());
                    offset -= i as i64 * ANCHOR_STEP;
                }
            }
        }
        let items = fetch(
            &mut tx,
            kind,
            base,
            &base_query(cursor, offset, Some(count)),
            sort,
            members,
        )
        .await?;
        if let Some(last) = items.last() {
            caches.keep_cursor(
                (tenant_id.to_string(), query_key, start + items.len() as i64),
                (last.key.clone(), last.id.clone()),
            );
        }
        let total = match total {
            Some(t) => t,
            None if (items.len() as i64) < count => {
                caches.remember_count(count_key, g, items.len() as i64);
                items.len() as i64
            }
            None => count_now(caches, &mut tx, &every, count_key, g).await?,
        };
        let page = project_all(kind, items, &include, &exclude);
        return Ok((total, start, page));
    }
    // SQL narrowed; the evaluator decides.
    let f = f.expect("an inexact query has a filter");
    // The evaluator may look at members: load them.
    let all = fetch(&mut tx, kind, base, &base_query(None, 0, None), sort, true).await?;
    let hits: Vec<Item> = all
        .into_iter()
        .filter(|it| filter::matches(&f, &Value::Object(it.r.clone()), &case_exact))
        .collect();
    let total = hits.len() as i64;
    let page: Vec<Item> = hits
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .collect();
    Ok((total, start, project_all(kind, page, &include, &exclude)))
}

fn project_all(
    kind: Kind,
    items: Vec<Item>,
    include: &[Selector],
    exclude: &[Selector],
) -> Vec<Map<String, Value>> {
    items
        .into_iter()
        .map(|it| resource::project(kind, it.r, include, exclude))
        .collect()
}

async fn fetch(
    tx: &mut store::Tx,
    kind: Kind,
    base: &str,
    q: &ListQuery<'_>,
    sort: Sort,
    members: bool,
) -> Result<Vec<Item>> {
    Ok(match kind {
        Kind::User => {
            let rows = store::scim::list_users(tx.conn(), q).await?;
            // One query for the whole page's groups, not one per user.
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let mut groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
            for (member, id, name) in store::scim::direct_groups_of(tx.conn(), &ids).await? {
                groups.entry(member).or_default().push((id, name));
            }
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mine = groups.remove(&row.id).unwrap_or_default();
                let r = users::render(&row, base, &mine)?;
                let key = match sort {
                    Sort::Id => Arg::Text(row.id.clone()),
                    s => sort_value(kind, s, &r, row.created_at, row.updated_at),
                };
                out.push(Item { r, key, id: row.id });
            }
            out
        }
        Kind::Group => {
            let rows = store::scim::list_groups(tx.conn(), q).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let list = if members {
                    Some(store::scim::members(tx.conn(), &row.id).await?)
                } else {
                    None
                };
                let r = groups::render(&row, base, list.as_deref())?;
                let key = match sort {
                    Sort::Id => Arg::Text(row.id.clone()),
                    s => sort_value(kind, s, &r, row.created_at, row.updated_at),
                };
                out.push(Item { r, key, id: row.id });
            }
            out
        }
    })
}

/// `POST /.search` at the root: Users then Groups, one ListResponse (RFC 7644 §3.4.3).
pub async fn search_all(
    state: &AppState,
    client: &ScimClient,
    base: &str,
    q: &Search,
) -> Result<Value> {
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT);
    // Each type answers its full match count; the page is cut across the concatenation.
    let all_q = Search {
        start_index: Some(1),
        count: Some(MAX_COUNT),
        ..q.clone()
    };
    let (tu, _, mut items) = page(state, client, base, Kind::User, &all_q).await?;
    let (tg, _, groups) = page(state, client, base, Kind::Group, &all_q).await?;
    items.extend(groups);
    let total = tu + tg;
    let page: Vec<_> = items
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .collect();
    Ok(list_response(total, start, page))
}
