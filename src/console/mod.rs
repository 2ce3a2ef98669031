//! The admin console: server-rendered pages over the same services, with the same principal and
//! permission checks, as the admin API (a console action can never do what its user could not do
//! through the API). Built on the `web` kit: one page frame, the browser-session extractor and
//! the one browser-write rule.
//!
//! `/` sends a browser to the console, to the sign-in, or, while there is no user yet, to the
//! first-run page, which creates the first admin only with the bootstrap token the server printed.

pub mod bulk;
pub mod frame;
pub mod import;
pub mod landing;
pub mod roles;
pub mod user;
pub mod users;

use std::collections::HashSet;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::web::html::{console, see_other};
use crate::web::session::{Browser, BrowserForm};
use frame::Frame;

/// The console's routes (left out of the OpenAPI document: they are for people).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/", get(landing::root))
        .route(
            "/setup",
            get(landing::setup_page).post(landing::setup_submit),
        )
        .route("/console", get(home))
        .route("/console/tenant", post(switch_tenant))
        .route("/console/users", get(users::page))
        .route(
            "/console/users/new",
            get(users::new_form).post(users::create),
        )
        .route(
            "/console/users/import",
            get(import::page).post(import::submit),
        )
        .route("/console/users/bulk", post(bulk::submit))
        .route("/console/users/{id}", get(user::page))
        .route("/console/users/{id}/profile", post(user::profile))
        .route("/console/users/{id}/reset-link", post(user::reset_link))
        .route("/console/users/{id}/roles", post(user::add_role))
        .route(
            "/console/users/{id}/roles/{role}/remove",
            post(user::remove_role),
        )
        .route("/console/users/{id}/{action}", post(users::action))
        .route("/console/roles", get(roles::list))
        .route("/console/roles/{id}", get(roles::detail))
}

/// The console's home: the users page (a signed-out browser is sent to the sign-in first).
async fn home(_: Browser) -> Response {
    see_other("/console/users")
}

#[derive(serde::Deserialize)]
struct SwitchForm {
    tenant: String,
}

async fn switch_tenant(
    State(s): State<AppState>,
    BrowserForm { browser: b, form }: BrowserForm<SwitchForm>,
) -> Response {
    let req = crate::auth::service::SwitchTenantRequest {
        tenant: form.tenant,
    };
    match crate::auth::service::switch_tenant(&s, &b.principal, req).await {
        Ok(_) => see_other("/console"),
        Err(e) => error_page(&s, &b, e).await,
    }
}

/// Which of the tenant's roles are admin roles (a red badge) and default roles.
pub struct TenantRoles {
    admin: HashSet<String>,
    default: HashSet<String>,
}

impl TenantRoles {
    pub fn class_of(&self, role: &str) -> &'static str {
        if self.admin.contains(role) {
            "admin"
        } else if self.default.contains(role) {
            "default"
        } else {
            ""
        }
    }
}

async fn roles_of_tenant(state: &AppState, p: &Principal) -> Result<TenantRoles> {
    // Only which roles are admin or default roles, for the badges of rows the caller may
    // already see: the organisation's role rows, without the holder counts the roles page
    // needs.
    let mut c = state.store.acquire().await?;
    let Some(tenant) = crate::store::tenants::get(c.conn(), &p.tenant_id).await? else {
        return Err(Error::Unauthenticated);
    };
    let roles = crate::store::roles::list(c.conn(), &tenant.root_id).await?;
    Ok(TenantRoles {
        admin: roles
            .iter()
            .filter(|r| r.is_admin)
            .map(|r| r.name.clone())
            .collect(),
        default: roles
            .iter()
            .filter(|r| r.is_default)
            .map(|r| r.name.clone())
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    frame: Frame,
    heading: &'static str,
    text: String,
}

/// A refusal or failure inside the console, in the console's frame (or, if even the frame
/// cannot be built, the plain page).
pub async fn error_page(state: &AppState, b: &Browser, e: Error) -> Response {
    let heading = match &e {
        Error::Forbidden { .. } => "Not allowed",
        Error::NotFound(_) => "Not found",
        Error::Invalid { .. } | Error::Conflict { .. } | Error::Rule { .. } => "Not done",
        _ => "Something went wrong",
    };
    let text = frame::message(&e);
    let status = crate::http::ApiError(e).status();
    match Frame::new(state, b, heading, "").await {
        Ok(frame) => console(
            status,
            &ErrorPage {
                frame,
                heading,
                text,
            },
        ),
        Err(_) => crate::web::html::page(
            status,
            heading,
            &format!(
                "<p class=\"err\">{}</p>",
                crate::engine::markup::escape(&text)
            ),
        ),
    }
}
