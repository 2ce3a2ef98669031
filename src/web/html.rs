//! The HTML kit of every page idbridge shows people: one page frame (`templates/page.html`
//! for the public pages, `templates/console/layout.html` for the console), the security headers
//! every page carries, and the `no-store` and redirect answers.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The Content-Security-Policy of every page: scripts and styles only from idbridge's own
/// embedded assets (no inline script or style), no plugins, never framed. `form-action` is left
/// to the console's policy: a sign-in form may continue to an IdP on another origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The console's policy: the above, and forms post only to idbridge.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Marks an answer as never to be cached (sign-in pages, tokens, redirects with state).
pub fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The headers of every HTML page: the policy above, no framing for old browsers, no MIME
/// sniffing, and no Referer with paths and ids to other sites.
fn secured(mut r: Response, csp: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    no_store(r)
}

#[derive(Template)]
#[template(path = "page.html")]
struct PublicPage<'a> {
    title: &'a str,
    body: &'a str,
}

/// An HTML page for people: errors that must not redirect (bad client or redirect URI), the
/// sign-in form, "signed out". `body` is markup its caller built from parts escaped with
/// `engine::markup::escape`; the title is escaped here.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    render(status, &PublicPage { title, body }, CSP)
}

/// A console page (or a fragment of one) rendered from its template.
pub fn console(status: StatusCode, t: &impl Template) -> Response {
    render(status, t, CONSOLE_CSP)
}

fn render(status: StatusCode, t: &impl Template, csp: &'static str) -> Response {
    match t.render() {
        Ok(html) => secured((status, Html(html)).into_response(), csp),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            secured(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error - idbridge</title><p>This page could not be shown.</p>"),
                )
                    .into_response(),
                csp,
            )
        }
    }
}

/// A `302 Found` to `to`, not cached.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}

/// A `303 See Other` to `to`: where a posted form continues (the browser then GETs it).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}
