//! Roles: the organisation's roles with search, holder counts, tier and lock badges; one role
//! with its permissions as a Create / Read / Update / Delete / Operate grid per entity, its
//! scoped permissions and its holders. The API's own `rbac::roles::list` and `get`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::frame::Frame;
use crate::error::Result;
use crate::rbac::roles::{self, RoleView};
use crate::state::AppState;
use crate::web::html::console;
use crate::web::session::Browser;

#[derive(Debug, Default, Deserialize)]
pub struct RolesQuery {
    #[serde(default)]
    search: String,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    frame: Frame,
    search: String,
    total: usize,
    roles: Vec<RoleView>,
    tier: String,
}

pub(super) async fn list(
    State(s): State<AppState>,
    b: Browser,
    Query(q): Query<RolesQuery>,
) -> Response {
    match render_list(&s, &b, q).await {
        Ok(r) => r,
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

async fn render_list(s: &AppState, b: &Browser, q: RolesQuery) -> Result<Response> {
    let all = roles::list(s, &b.principal, None).await?;
    let frame = Frame::new(s, b, "Roles", "/console/roles").await?;
    let needle = q.search.trim().to_lowercase();
    let total = all.len();
    let roles = all
        .into_iter()
        .filter(|r| {
            needle.is_empty()
                || r.name.to_lowercase().contains(&needle)
                || r.display_name.to_lowercase().contains(&needle)
                || r.description.to_lowercase().contains(&needle)
        })
        .collect();
    let tier = frame.tenant_tier.clone();
    Ok(console(
        StatusCode::OK,
        &RolesPage {
            frame,
            search: q.search,
            total,
            roles,
            tier,
        },
    ))
}

/// One row of the permission grid: an entity and which of the five kinds of action the role
/// holds on it (`*` holds them all; actions outside the four named ones are Operate).
pub struct GridRow {
    pub entity: String,
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    /// The other actions held (`run`, `assign`, ...), named.
    pub operate: Vec<String>,
    pub all: bool,
}

fn grid(by_entity: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<GridRow> {
    by_entity
        .iter()
        .map(|(entity, actions)| {
            let all = actions.iter().any(|a| a == "*");
            let has = |names: &[&str]| all || actions.iter().any(|a| names.contains(&a.as_str()));
            GridRow {
                entity: entity.clone(),
                create: has(&["create", "write", "manage"]),
                read: has(&["read", "list", "view", "write", "manage"]),
                update: has(&["update", "write", "edit", "manage"]),
                delete: has(&["delete", "remove", "write", "manage"]),
                operate: actions
                    .iter()
                    .filter(|a| {
                        ![
                            "*", "create", "read", "list", "view", "update", "write", "edit",
                            "delete", "remove",
                        ]
                        .contains(&a.as_str())
                    })
                    .cloned()
                    .collect(),
                all,
            }
        })
        .collect()
}

pub struct Holder {
    pub user_id: String,
    pub email: String,
    pub subtenant: Option<String>,
    pub source: String,
}

#[derive(Template)]
#[template(path = "console/role.html")]
struct RolePage {
    frame: Frame,
    role: RoleView,
    grid: Vec<GridRow>,
    scoped: Vec<(String, String)>,
    holders: Vec<Holder>,
    more_holders: usize,
}

/// Holders listed on the page (the count shows them all).
const HOLDERS_SHOWN: usize = 100;

pub(super) async fn detail(
    State(s): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
) -> Response {
    match render_detail(&s, &b, &id).await {
        Ok(r) => r,
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

async fn render_detail(s: &AppState, b: &Browser, id: &str) -> Result<Response> {
    let d = roles::get(s, &b.principal, id, None).await?;
    let frame = Frame::new(s, b, &d.role.name, "/console/roles").await?;
    let mut holders = Vec::new();
    {
        let mut c = s.store.acquire().await?;
        for a in d.holders.iter().take(HOLDERS_SHOWN) {
            let email = match crate::domain::parse_id(&a.user_id, "user") {
                Ok(uid) => crate::store::users::get(c.conn(), &uid)
                    .await?
                    .map(|u| u.email)
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            holders.push(Holder {
                user_id: a.user_id.clone(),
                email,
                subtenant: (a.tenant != frame.tenant_slug).then(|| a.tenant.clone()),
                source: a.source.clone(),
            });
        }
    }
    let page = RolePage {
        grid: grid(&d.permissions_by_entity),
        scoped: d
            .scoped_permissions
            .iter()
            .filter_map(|p| p.scope.clone().map(|sc| (p.permission.clone(), sc)))
            .collect(),
        more_holders: d.holders.len().saturating_sub(HOLDERS_SHOWN),
        holders,
        role: d.role,
        frame,
    };
    Ok(console(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_grid_reads_write_as_create_read_update_delete_and_names_other_actions() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("users".to_string(), vec!["read".to_string()]);
        m.insert("itsm".to_string(), vec!["*".to_string()]);
        m.insert(
            "runbooks".to_string(),
            vec!["run".to_string(), "write".to_string()],
        );
        let g = super::grid(&m);
        let row = |e: &str| g.iter().find(|r| r.entity == e).unwrap();
        let users = row("users");
        assert!(users.read && !users.create && !users.update && !users.delete);
        assert!(users.operate.is_empty());
        let itsm = row("itsm");
        assert!(itsm.all && itsm.create && itsm.delete);
        let runbooks = row("runbooks");
        assert!(runbooks.create && runbooks.update);
        assert_eq!(runbooks.operate, ["run"]);
    }
}
