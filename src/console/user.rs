//! One user: the profile (email shown, never editable; no password field), a reset link shown
//! once, and Manage roles (each assignment with where, its source, who assigned it and when;
//! Add role offering only what the signed-in admin may grant here; Remove). Every read and write
//! is the API's service call with the browser's principal.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::frame::{Frame, initials, message};
use crate::error::{Error, Result};
use crate::rbac::roles::{self, AddRole, RemoveRoleParams};
use crate::state::AppState;
use crate::users::UserView;
use crate::users::service::{self, PatchUser};
use crate::web::html::{console, see_other};
use crate::web::session::{Browser, BrowserForm, NoFields};

pub struct AssignmentRow {
    pub role: String,
    pub role_id: String,
    pub class: &'static str,
    /// The subtenant's slug when the role is held there, not in the current tenant.
    pub subtenant: Option<String>,
    pub source: &'static str,
    pub assigned_by: String,
    pub assigned_at: String,
    pub assigned_iso: String,
}

pub struct Choice {
    pub name: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    frame: Frame,
    user: UserView,
    initials: String,
    created: String,
    created_iso: String,
    last_login: Option<String>,
    is_self: bool,
    deleted: bool,
    can_write: bool,
    can_assign: bool,
    assignments: Vec<AssignmentRow>,
    choices: Vec<Choice>,
    error: Option<String>,
    field: String,
    reset_link: Option<String>,
    reset_minutes: i64,
}

/// What a source code reads as on the page.
fn source_label(source: &str) -> &'static str {
    match source {
        "manual" => "Manual",
        "sso" => "SSO",
        "scim" => "SCIM",
        "csv" => "CSV import",
        "invite" => "Invite",
        _ => "Other",
    }
}

struct Extra {
    error: Option<String>,
    field: String,
    reset: Option<crate::auth::service::ResetLink>,
}

impl Extra {
    fn none() -> Self {
        Self {
            error: None,
            field: String::new(),
            reset: None,
        }
    }
}

async fn render(
    s: &AppState,
    b: &Browser,
    id: &str,
    status: StatusCode,
    flash: Option<&str>,
    extra: Extra,
) -> Result<Response> {
    let p = &b.principal;
    let user = service::get(s, p, id, None).await?;
    let frame = Frame::new(s, b, &user.name, "/console/users")
        .await?
        .with_flash(flash);
    let tenant_roles = super::roles_of_tenant(s, p).await?;
    let held = roles::user_roles(s, p, &user.id, None).await?;
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut assignments = Vec::with_capacity(held.len());
    for a in held {
        let by = match a.assigned_by.as_deref() {
            None => "idbridge".to_string(),
            Some(uid) => match names.get(uid) {
                Some(n) => n.clone(),
                None => {
                    let n = assigner_name(s, uid).await?;
                    names.insert(uid.to_string(), n.clone());
                    n
                }
            },
        };
        assignments.push(AssignmentRow {
            class: tenant_roles.class_of(&a.role),
            subtenant: (a.tenant != frame.tenant_slug).then(|| a.tenant.clone()),
            source: source_label(&a.source),
            assigned_by: by,
            assigned_at: crate::clock::rfc3339(a.assigned_at)[..10].to_string(),
            assigned_iso: crate::clock::rfc3339(a.assigned_at),
            role: a.role,
            role_id: a.role_id,
        });
    }
    let can_assign = frame.allows("rbac:assign") || frame.allows("rbac:manage");
    let choices = if can_assign && user.deleted_at.is_none() {
        roles::grantable(s, p, None)
            .await?
            .into_iter()
            .filter(|r| {
                !assignments
                    .iter()
                    .any(|a| a.subtenant.is_none() && a.role_id == r.id)
            })
            .map(|r| Choice {
                label: if r.display_name.is_empty() {
                    r.name.clone()
                } else {
                    r.display_name.clone()
                },
                name: r.name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = UserPage {
        initials: initials(&user.name),
        created: crate::clock::rfc3339(user.created_at)[..10].to_string(),
        created_iso: crate::clock::rfc3339(user.created_at),
        last_login: user
            .last_login_at
            .map(|t| crate::clock::rfc3339(t)[..10].to_string()),
        is_self: p.user_id() == Some(user.id.as_str()),
        deleted: user.deleted_at.is_some(),
        can_write: frame.allows("users:write"),
        can_assign,
        assignments,
        choices,
        error: extra.error,
        field: extra.field,
        reset_minutes: extra.reset.as_ref().map_or(0, |r| r.expires_in / 60),
        reset_link: extra.reset.map(|r| r.url),
        frame,
        user,
    };
    Ok(console(status, &page))
}

/// Who assigned a role, as the page names them (an account since deleted keeps its email).
async fn assigner_name(s: &AppState, uid: &str) -> Result<String> {
    let Ok(id) = crate::domain::parse_id(uid, "user") else {
        return Ok("unknown".into());
    };
    let mut c = s.store.acquire().await?;
    Ok(crate::store::users::get(c.conn(), &id)
        .await?
        .map_or_else(|| "unknown".into(), |u| u.email))
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub(super) async fn page(
    State(s): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DoneQuery>,
) -> Response {
    match render(
        &s,
        &b,
        &id,
        StatusCode::OK,
        q.done.as_deref(),
        Extra::none(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

/// A refused form comes back on the same page, saying why.
async fn refused(s: &AppState, b: &Browser, id: &str, e: Error) -> Response {
    let field = match &e {
        Error::Invalid { field, .. } | Error::Conflict { field, .. } => {
            field.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    let text = message(&e);
    let api = crate::http::ApiError(e);
    let status = api.status();
    // A refusal that hides the user (not found, not visible) is the plain error page.
    if status == StatusCode::NOT_FOUND {
        return super::error_page(s, b, api.0).await;
    }
    let extra = Extra {
        error: Some(text),
        field,
        reset: None,
    };
    match render(s, b, id, status, None, extra).await {
        Ok(r) => r,
        Err(e) => super::error_page(s, b, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

pub(super) async fn profile(
    State(s): State<AppState>,
    Path(id): Path<String>,
    BrowserForm { browser: b, form }: BrowserForm<ProfileForm>,
) -> Response {
    let change = PatchUser {
        first_name: Some(form.first_name),
        last_name: Some(Some(form.last_name).filter(|l| !l.trim().is_empty())),
        active: None,
        email: None,
        tenant: None,
    };
    match service::patch(&s, &b.principal, None, &id, change).await {
        Ok(_) => see_other(&format!("/console/users/{id}?done=updated")),
        Err(e) => refused(&s, &b, &id, e).await,
    }
}

pub(super) async fn reset_link(
    State(s): State<AppState>,
    Path(id): Path<String>,
    BrowserForm { browser: b, .. }: BrowserForm<NoFields>,
) -> Response {
    match crate::auth::service::admin_reset_link(&s, &b.principal, &id, None).await {
        // Shown once, on this response only (never in a redirect's URL or a later page).
        Ok(link) => {
            let extra = Extra {
                error: None,
                field: String::new(),
                reset: Some(link),
            };
            match render(&s, &b, &id, StatusCode::OK, None, extra).await {
                Ok(r) => r,
                Err(e) => super::error_page(&s, &b, e).await,
            }
        }
        Err(e) => refused(&s, &b, &id, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct AddRoleForm {
    #[serde(default)]
    role: String,
}

pub(super) async fn add_role(
    State(s): State<AppState>,
    Path(id): Path<String>,
    rid: crate::http::extract::RequestId,
    BrowserForm { browser: b, form }: BrowserForm<AddRoleForm>,
) -> Response {
    let req = AddRole {
        role: Some(form.role).filter(|r| !r.is_empty()),
        role_id: None,
        subtenant: None,
        tenant: None,
    };
    match roles::add_user_role(&s, &b.principal, rid.0.as_deref(), &id, req).await {
        Ok(_) => see_other(&format!("/console/users/{id}?done=role_added#roles")),
        Err(e) => refused(&s, &b, &id, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RemoveRoleForm {
    #[serde(default)]
    subtenant: Option<String>,
}

pub(super) async fn remove_role(
    State(s): State<AppState>,
    Path((id, role)): Path<(String, String)>,
    rid: crate::http::extract::RequestId,
    BrowserForm { browser: b, form }: BrowserForm<RemoveRoleForm>,
) -> Response {
    let q = RemoveRoleParams {
        subtenant: form.subtenant.filter(|s| !s.is_empty()),
        tenant: None,
    };
    match roles::remove_user_role(&s, &b.principal, rid.0.as_deref(), &id, &role, q).await {
        Ok(()) => see_other(&format!("/console/users/{id}?done=role_removed#roles")),
        Err(e) => refused(&s, &b, &id, e).await,
    }
}
