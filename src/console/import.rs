//! CSV import (`email,name,initial_roles`): paste or choose a file, preview with a dry run that
//! reports every row exactly as the import would, then import; the report lists each row's
//! outcome and error. The same service as `POST /api/users/import` and `idbridge import-users`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::frame::{Frame, message};
use crate::state::AppState;
use crate::users::import::{ImportParams, ImportReport, import};
use crate::web::html::console;
use crate::web::session::{Browser, BrowserForm};

#[derive(Template)]
#[template(path = "console/import.html")]
struct ImportPage {
    frame: Frame,
    csv: String,
    report: Option<ImportReport>,
    error: Option<String>,
}

pub(super) async fn page(State(s): State<AppState>, b: Browser) -> Response {
    match Frame::new(&s, &b, "Import users", "/console/users").await {
        Ok(frame) => console(
            StatusCode::OK,
            &ImportPage {
                frame,
                csv: String::new(),
                report: None,
                error: None,
            },
        ),
        Err(e) => super::error_page(&s, &b, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csv: String,
    /// `preview` (a dry run) or `import`.
    #[serde(default)]
    mode: String,
}

pub(super) async fn submit(
    State(s): State<AppState>,
    rid: crate::http::extract::RequestId,
    BrowserForm { browser: b, form }: BrowserForm<ImportForm>,
) -> Response {
    let q = ImportParams {
        dry_run: form.mode != "import",
        tenant: None,
    };
    let done = import(&s, &b.principal, rid.0.as_deref(), q, form.csv.as_bytes()).await;
    let Ok(frame) = Frame::new(&s, &b, "Import users", "/console/users").await else {
        return match done {
            Err(e) => super::error_page(&s, &b, e).await,
            Ok(_) => crate::web::html::see_other("/console/users"),
        };
    };
    match done {
        Ok(report) => console(
            StatusCode::OK,
            &ImportPage {
                frame,
                csv: form.csv,
                report: Some(report),
                error: None,
            },
        ),
        Err(e @ crate::error::Error::Forbidden { .. }) => super::error_page(&s, &b, e).await,
        Err(e) => {
            let status = match &e {
                crate::error::Error::Invalid { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            console(
                status,
                &ImportPage {
                    frame,
                    error: Some(message(&e)),
                    csv: form.csv,
                    report: None,
                },
            )
        }
    }
}
