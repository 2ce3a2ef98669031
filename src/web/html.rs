//! The HTML kit of every page idbridge shows people: one page frame, and the `no-store` and
//! redirect answers. Pages build their bodies from parts escaped with `engine::markup::escape`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::engine::markup::escape;

/// Marks an answer as never to be cached (sign-in pages, tokens, redirects with state).
pub fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An HTML page for people: errors that must not redirect (bad client or redirect URI), the
/// sign-in form, "signed out".
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t} - idbridge</title><style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}\
         input,button{{display:block;width:100%;margin:.4rem 0 1rem;padding:.5rem;font-size:1rem}}.err{{color:#b00020}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    no_store((status, Html(html)).into_response())
}

/// A `302 Found` to `to`, not cached.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}
