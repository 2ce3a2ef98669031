//! Pieces of the server-rendered sign-in page that depend on SSO: the tenant's connections as
//! buttons (tenant from `?tenant=` or from a `<slug>.<public host>` host name), and the tenant
//! switcher for a signed-in user who belongs to several tenants.

use crate::auth::principal::Principal;
use crate::engine::markup::escape;
use crate::state::AppState;
use crate::store;

/// The tenant a sign-in page is for: `?tenant=`, else the first label of a host that is a
/// subdomain of the public URL's host (`acme.id.example.com` with public URL `id.example.com`).
pub fn tenant_of_request(s: &AppState, asked: Option<&str>, host: &str) -> Option<String> {
    if let Some(t) = asked.map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t.to_ascii_lowercase());
    }
    let public_host = s
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let host = host.to_ascii_lowercase();
    let (label, rest) = host.split_once('.')?;
    (rest == public_host && !label.is_empty()).then(|| label.to_string())
}

/// Buttons for the tenant's enabled connections, and whether the tenant allows passwords.
pub async fn tenant_sign_in(s: &AppState, tenant: Option<&str>, rd: &str) -> (String, bool) {
    let Some(slug) = tenant else {
        return (String::new(), true);
    };
    let found: crate::error::Result<Option<_>> = async {
        let mut c = s.store.acquire().await?;
        let Some(t) = store::tenants::get_by_slug(c.conn(), slug).await? else {
            return Ok(None);
        };
        let conns = store::sso::list(c.conn(), &t.id).await?;
        Ok(Some((t, conns)))
    }
    .await;
    let (t, conns) = match found {
        Ok(Some(found)) => found,
        // An unknown tenant looks like any other (the password form, no buttons).
        Ok(None) => return (String::new(), true),
        // An unreadable tenant (a corrupt stored value): no password form (fail closed).
        Err(e) => {
            tracing::error!(error = %e, tenant = slug, "cannot read the tenant for its sign-in page");
            return (String::new(), false);
        }
    };
    let password = t.settings.password_login();
    let mut html = String::new();
    for c in conns.iter().filter(|c| c.enabled) {
        let mut href = format!("/sso/{}/start", c.id);
        if !rd.is_empty() {
            href.push_str("?rd=");
            href.push_str(&crate::engine::url::url_encode(rd));
        }
        html.push_str(&format!(
            "<p><a class=\"sso\" href=\"{}\">Sign in with {}</a></p>",
            escape(&href),
            escape(&c.name)
        ));
    }
    (html, password)
}

/// Forms to move the session to another of the user's tenants (`POST /login/tenant`).
/// `csrf_field` is the session's anti-forgery field ([`crate::web::session::csrf_field`]).
pub async fn tenant_switcher(s: &AppState, p: &Principal, csrf_field: &str) -> String {
    let Some(uid) = p.user_id() else {
        return String::new();
    };
    let tenants = match s.store.acquire().await {
        Ok(mut c) => store::tenants::of_user(c.conn(), uid)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if tenants.len() < 2 {
        return String::new();
    }
    let mut html = String::from("<h2>Switch organisation</h2>");
    for t in tenants {
        let current = t.id == p.tenant_id;
        html.push_str(&format!(
            "<form method=\"post\" action=\"/login/tenant\">{csrf_field}<input type=\"hidden\" name=\"tenant\" value=\"{}\">\
             <button type=\"submit\"{}>{}{}</button></form>",
            escape(&t.slug),
            if current { " disabled" } else { "" },
            escape(&t.name),
            if current { " (current)" } else { "" }
        ));
    }
    html
}
