//! Bulk role assignment from the users table: the users ticked (or every user matching the
//! table's filter), Add / Remove / Replace with the roles picked, a confirmation that names how
//! many users change (the service's dry run), then all of it or nothing
//! (`rbac::roles::bulk_assign`, as `POST /api/roles/bulk-assign`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::frame::Frame;
use crate::error::{Error, Result};
use crate::rbac::roles::{BulkAssign, BulkMode, BulkResult, bulk_assign};
use crate::state::AppState;
use crate::users::service::{self, ListParams};
use crate::web::html::{console, see_other};
use crate::web::session::{Browser, BrowserForm};

/// The most users one bulk change takes (the service's own limit).
const MAX_USERS: usize = 10_000;

/// What the form sent: repeated `user` and `role` fields, the mode, and for "all matching" the
/// table's filter.
#[derive(Default)]
struct Request {
    users: Vec<String>,
    roles: Vec<String>,
    mode: String,
    all_matching: bool,
    search: String,
    status: String,
    step: String,
}

impl Request {
    fn read(pairs: Vec<(String, String)>) -> Self {
        let mut r = Request::default();
        for (k, v) in pairs {
            match k.as_str() {
                "user" => r.users.push(v),
                "role" => r.roles.push(v),
                "mode" => r.mode = v,
                "all_matching" => r.all_matching = v == "true",
                "search" => r.search = v,
                "status" => r.status = v,
                "step" => r.step = v,
                _ => {}
            }
        }
        r
    }

    fn mode(&self) -> Result<BulkMode> {
        match self.mode.as_str() {
            "add" => Ok(BulkMode::Add),
            "remove" => Ok(BulkMode::Remove),
            "replace" => Ok(BulkMode::Replace),
            _ => Err(Error::invalid_field(
                "invalid_mode",
                "mode",
                "choose Add, Remove or Replace",
            )),
        }
    }
}

/// The users the change is for: those ticked, or every (non-deleted) user matching the filter.
async fn user_ids(s: &AppState, b: &Browser, r: &Request) -> Result<Vec<String>> {
    if !r.all_matching {
        return Ok(r.users.clone());
    }
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = service::list(
            s,
            &b.principal,
            ListParams {
                search: Some(r.search.clone()).filter(|s| !s.trim().is_empty()),
                status: Some(r.status.clone()).filter(|s| !s.is_empty()),
                include_deleted: Some(false),
                sort: None,
                order: None,
                page_size: Some(200),
                cursor,
                tenant: None,
            },
        )
        .await?;
        ids.extend(page.items.into_iter().map(|u| u.id));
        if ids.len() > MAX_USERS {
            return Err(Error::invalid_field(
                "too_many_users",
                "user_ids",
                format!("more than {MAX_USERS} users match: narrow the search first"),
            ));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(ids),
        }
    }
}

#[derive(Template)]
#[template(path = "console/bulk_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    result: BulkResult,
    mode: String,
    mode_label: &'static str,
    roles: Vec<String>,
    users: Vec<String>,
    all_matching: bool,
    search: String,
    status: String,
}

pub(super) async fn submit(
    State(s): State<AppState>,
    rid: crate::http::extract::RequestId,
    BrowserForm { browser: b, form }: BrowserForm<Vec<(String, String)>>,
) -> Response {
    let r = Request::read(form);
    match run(&s, &b, rid.0.as_deref(), r).await {
        Ok(resp) => resp,
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

async fn run(s: &AppState, b: &Browser, rid: Option<&str>, r: Request) -> Result<Response> {
    let mode = r.mode()?;
    let users = user_ids(s, b, &r).await?;
    if users.is_empty() {
        return Err(Error::invalid_field(
            "invalid_user_ids",
            "user_ids",
            "tick at least one user, or choose all users matching the search",
        ));
    }
    if r.roles.is_empty() && mode != BulkMode::Replace {
        return Err(Error::invalid_field(
            "role_required",
            "roles",
            "choose at least one role",
        ));
    }
    let apply = r.step == "apply";
    let req = BulkAssign {
        user_ids: users.clone(),
        role_ids: Vec::new(),
        roles: r.roles.clone(),
        mode,
        subtenant: None,
        tenant: None,
        dry_run: !apply,
    };
    let result = bulk_assign(s, &b.principal, rid, req).await?;
    if apply {
        return Ok(see_other("/console/users?done=bulk_done"));
    }
    let frame = Frame::new(s, b, "Assign roles", "/console/users").await?;
    let mode_label = match mode {
        BulkMode::Add => "Add",
        BulkMode::Remove => "Remove",
        BulkMode::Replace => "Replace",
    };
    Ok(console(
        StatusCode::OK,
        &ConfirmPage {
            frame,
            result,
            mode: r.mode,
            mode_label,
            roles: r.roles,
            users: if r.all_matching { Vec::new() } else { users },
            all_matching: r.all_matching,
            search: r.search,
            status: r.status,
        },
    ))
}
