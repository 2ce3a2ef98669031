//! The users page: stat cards, the table (search, status filter, deleted toggle, sort both ways,
//! keyset paging, the user's saved table settings), the row actions, and the New User form.
//! Every read and write is the API's own service call with the browser's principal.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::frame::{Frame, initials, message};
use crate::domain::preferences::{PAGE_SIZES, TableLayout};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::users::UserView;
use crate::users::service::{self, ListParams, Stats};
use crate::web::html::{console, see_other};
use crate::web::session::{Browser, BrowserForm};

/// The table's columns: id (as kept in the table settings), header, sort key.
const COLUMNS: [(&str, &str, Option<&str>); 6] = [
    ("user", "User", Some("name")),
    ("email", "Email", Some("email")),
    ("roles", "Roles", None),
    ("status", "Status", None),
    ("created", "Created", Some("created")),
    ("last_login", "Last login", Some("last_login")),
];
/// Shown until the user's settings say otherwise (the User column already shows the email).
const HIDDEN_BY_DEFAULT: [&str; 1] = ["email"];
const DEFAULT_PAGE_SIZE: u32 = 25;
/// The table settings' key in `/api/me/preferences`.
pub const TABLE: &str = "users";

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    include_deleted: Option<String>,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    cursor: Option<String>,
    fragment: Option<String>,
    done: Option<String>,
}

/// What the filter form shows back.
pub struct Shown {
    pub search: String,
    pub status: String,
    pub include_deleted: bool,
    pub sort: String,
    pub order: String,
}

pub struct ColumnView {
    pub id: &'static str,
    pub label: &'static str,
    pub width: Option<u32>,
    pub visible: bool,
    pub sort_href: Option<String>,
    pub aria_sort: &'static str,
}

pub struct Badge {
    pub name: String,
    pub class: &'static str,
}

pub struct RowView {
    pub id: String,
    pub initials: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<Badge>,
    pub status: String,
    pub status_label: &'static str,
    pub active: bool,
    pub deleted: bool,
    pub is_self: bool,
    pub created: String,
    pub created_iso: String,
    pub last_login: Option<String>,
}

#[derive(Template)]
#[template(path = "console/users_table.html")]
pub struct UsersTable {
    pub query: Shown,
    pub columns: Vec<ColumnView>,
    pub all_columns: Vec<ColumnView>,
    pub rows: Vec<RowView>,
    pub table_empty: bool,
    pub page_size: u32,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_write: bool,
    /// May assign roles: the rows get checkboxes for a bulk change.
    pub can_assign: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    frame: Frame,
    stats: Stats,
    table: UsersTable,
    can_write: bool,
    page_sizes: [u32; 5],
    /// The roles a bulk change may add (what the admin may grant here).
    bulk_roles: Vec<String>,
}

type Column = (
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    Option<u32>,
);

/// The columns in the user's saved order (unknown ids dropped, columns added since appended).
fn layout_columns(layout: Option<&TableLayout>) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    if let Some(l) = layout {
        for c in &l.columns {
            if let Some(&(id, label, sort)) = COLUMNS.iter().find(|(id, ..)| *id == c.id)
                && !out.iter().any(|(i, ..)| *i == id)
            {
                out.push((id, label, sort, c.visible, c.width));
            }
        }
    }
    for &(id, label, sort) in &COLUMNS {
        if !out.iter().any(|(i, ..)| *i == id) {
            out.push((id, label, sort, !HIDDEN_BY_DEFAULT.contains(&id), None));
        }
    }
    // The User column carries the row's link: it is never hidden.
    for c in &mut out {
        if c.0 == "user" {
            c.3 = true;
        }
    }
    out
}

fn href(q: &Shown, sort: &str, order: &str, cursor: Option<&str>) -> String {
    let mut params: Vec<(&str, &str)> = Vec::new();
    if !q.search.is_empty() {
        params.push(("search", &q.search));
    }
    if !q.status.is_empty() {
        params.push(("status", &q.status));
    }
    if q.include_deleted {
        params.push(("include_deleted", "true"));
    }
    if !sort.is_empty() {
        params.push(("sort", sort));
    }
    if !order.is_empty() {
        params.push(("order", order));
    }
    if let Some(c) = cursor {
        params.push(("cursor", c));
    }
    crate::engine::url::append_query("/console/users", &params)
}

fn date(ms: i64) -> String {
    crate::clock::rfc3339(ms)[..10].to_string()
}

pub async fn table(
    state: &AppState,
    b: &Browser,
    frame: &Frame,
    q: &UsersQuery,
) -> Result<UsersTable> {
    let p = &b.principal;
    let prefs = crate::users::preferences::get(state, p).await?;
    let layout = prefs.tables.get(TABLE);
    let page_size = layout
        .and_then(|l| l.page_size)
        .filter(|n| PAGE_SIZES.contains(n))
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let (mut sort, mut order) = (q.sort.clone(), q.order.clone());
    if sort.is_empty()
        && let Some(s) = layout.and_then(|l| l.sort.as_ref())
    {
        sort = s.column.clone();
        order = match s.order {
            crate::domain::preferences::Order::Asc => "asc".into(),
            crate::domain::preferences::Order::Desc => "desc".into(),
        };
    }
    let shown = Shown {
        search: q.search.clone(),
        status: q.status.clone(),
        include_deleted: q.include_deleted.as_deref() == Some("true"),
        sort: sort.clone(),
        order: order.clone(),
    };
    let page = service::list(
        state,
        p,
        ListParams {
            search: Some(q.search.clone()).filter(|s| !s.trim().is_empty()),
            status: Some(q.status.clone()).filter(|s| !s.is_empty()),
            include_deleted: Some(shown.include_deleted),
            sort: Some(sort.clone()).filter(|s| !s.is_empty()),
            order: Some(order.clone()).filter(|s| !s.is_empty()),
            page_size: Some(i64::from(page_size)),
            cursor: q.cursor.clone(),
            tenant: None,
        },
    )
    .await?;
    let admin_roles = super::roles_of_tenant(state, p).await?;
    let me = p.user_id().unwrap_or("");
    let current_sort = if sort.is_empty() {
        "name"
    } else {
        sort.as_str()
    };
    let descending = order == "desc";
    let all_columns: Vec<ColumnView> = layout_columns(layout)
        .into_iter()
        .map(|(id, label, key, visible, width)| {
            let (sort_href, aria_sort) = match key {
                Some(k) => {
                    let here = k == current_sort;
                    let next_order = if here && !descending { "desc" } else { "asc" };
                    (
                        Some(href(&shown, k, next_order, None)),
                        match (here, descending) {
                            (true, false) => "ascending",
                            (true, true) => "descending",
                            _ => "none",
                        },
                    )
                }
                None => (None, "none"),
            };
            ColumnView {
                id,
                label,
                width,
                visible,
                sort_href,
                aria_sort,
            }
        })
        .collect();
    let columns = all_columns
        .iter()
        .filter(|c| c.visible)
        .map(|c| ColumnView {
            id: c.id,
            label: c.label,
            width: c.width,
            visible: true,
            sort_href: c.sort_href.clone(),
            aria_sort: c.aria_sort,
        })
        .collect();
    let rows: Vec<RowView> = page
        .items
        .into_iter()
        .map(|u| row(u, me, &admin_roles))
        .collect();
    Ok(UsersTable {
        table_empty: rows.is_empty(),
        next_href: page
            .next_cursor
            .as_deref()
            .map(|c| href(&shown, &sort, &order, Some(c))),
        first_href: q.cursor.as_ref().map(|_| href(&shown, &sort, &order, None)),
        query: shown,
        columns,
        all_columns,
        rows,
        page_size,
        can_write: frame.allows("users:write"),
        can_assign: frame.allows("rbac:assign") || frame.allows("rbac:manage"),
        csrf: b.csrf.clone(),
    })
}

fn row(u: UserView, me: &str, roles: &super::TenantRoles) -> RowView {
    let deleted = u.deleted_at.is_some();
    let (status, status_label) = if deleted {
        ("deleted", "Deleted")
    } else if u.active {
        ("active", "Active")
    } else {
        ("inactive", "Inactive")
    };
    RowView {
        initials: initials(&u.name),
        is_self: u.id == me,
        roles: u
            .roles
            .unwrap_or_default()
            .into_iter()
            .map(|name| Badge {
                class: roles.class_of(&name),
                name,
            })
            .collect(),
        status: status.into(),
        status_label,
        active: u.active,
        deleted,
        created: date(u.created_at),
        created_iso: crate::clock::rfc3339(u.created_at),
        last_login: u.last_login_at.map(date),
        name: u.name,
        email: u.email,
        id: u.id,
    }
}

pub(super) async fn page(
    State(s): State<AppState>,
    b: Browser,
    Query(q): Query<UsersQuery>,
) -> Response {
    match render(&s, &b, &q).await {
        Ok(r) => r,
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

async fn render(s: &AppState, b: &Browser, q: &UsersQuery) -> Result<Response> {
    let frame = Frame::new(s, b, "Users", "/console/users")
        .await?
        .with_flash(q.done.as_deref());
    let table = match table(s, b, &frame, q).await {
        Ok(t) => t,
        // A bad filter or a stale cursor: start again from the first page, saying why.
        Err(Error::Invalid { .. }) if q.cursor.is_some() || !q.sort.is_empty() => {
            return Ok(see_other("/console/users"));
        }
        Err(e) => return Err(e),
    };
    if q.fragment.as_deref() == Some("table") {
        return Ok(console(StatusCode::OK, &table));
    }
    let stats = service::stats(s, &b.principal, None).await?;
    let bulk_roles = if table.can_assign {
        crate::rbac::roles::grantable(s, &b.principal, None)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect()
    } else {
        Vec::new()
    };
    Ok(console(
        StatusCode::OK,
        &UsersPage {
            bulk_roles,
            can_write: frame.allows("users:write"),
            frame,
            stats,
            table,
            page_sizes: PAGE_SIZES,
        },
    ))
}

/// A row action: its service call, then back to the table with what happened.
pub(super) async fn action(
    State(s): State<AppState>,
    Path((id, verb)): Path<(String, String)>,
    BrowserForm { browser: b, .. }: BrowserForm<crate::web::session::NoFields>,
) -> Response {
    let p = &b.principal;
    let active = |on: bool| service::PatchUser {
        first_name: None,
        last_name: None,
        active: Some(on),
        email: None,
        tenant: None,
    };
    let done = match verb.as_str() {
        "deactivate" => service::patch(&s, p, None, &id, active(false))
            .await
            .map(|_| "deactivated"),
        "activate" => service::patch(&s, p, None, &id, active(true))
            .await
            .map(|_| "activated"),
        "delete" => service::delete(&s, p, None, &id, None)
            .await
            .map(|_| "deleted"),
        "restore" => service::restore(&s, p, None, &id, None)
            .await
            .map(|_| "restored"),
        _ => Err(Error::NotFound("action")),
    };
    match done {
        Ok(code) => see_other(&format!("/console/users?done={code}")),
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

#[derive(Template)]
#[template(path = "console/user_new.html")]
struct NewUserPage {
    frame: Frame,
    form: NewUser,
    error: Option<String>,
    field: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewUser {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn new_form(State(s): State<AppState>, b: Browser) -> Response {
    match Frame::new(&s, &b, "New user", "/console/users").await {
        Ok(frame) => console(
            StatusCode::OK,
            &NewUserPage {
                frame,
                form: NewUser::default(),
                error: None,
                field: String::new(),
            },
        ),
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

pub(super) async fn create(
    State(s): State<AppState>,
    BrowserForm { browser: b, form }: BrowserForm<NewUser>,
) -> Response {
    let req = service::CreateUser {
        email: form.email.clone(),
        password: form.password.clone(),
        first_name: form.first_name.clone(),
        last_name: Some(form.last_name.clone()).filter(|s| !s.trim().is_empty()),
        tenant: None,
    };
    match service::create(&s, &b.principal, None, req).await {
        Ok(_) => see_other("/console/users?done=created"),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            let field = match &e {
                Error::Invalid { field, .. } | Error::Conflict { field, .. } => {
                    field.clone().unwrap_or_default()
                }
                _ => String::new(),
            };
            let Ok(frame) = Frame::new(&s, &b, "New user", "/console/users").await else {
                return super::error_page(&s, &b, e).await;
            };
            let mut form = form;
            form.password.clear();
            console(
                StatusCode::BAD_REQUEST,
                &NewUserPage {
                    frame,
                    form,
                    error: Some(message(&e)),
                    field: field.to_string(),
                },
            )
        }
        Err(e) => super::error_page(&s, &b, e).await,
    }
}
