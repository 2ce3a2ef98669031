//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636 PKCE, RFC 9207 `iss`)
//! and the consent page a third-party client is shown.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::grants::has_scope;
use crate::audit::{self, Event};
use crate::crypto;
use crate::engine::markup::escape;
use crate::engine::url::{append_query, url_encode};
use crate::error::Error;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, oauth::ClientRow};
use crate::web::html::{page, redirect};

const CODE_TTL_MS: i64 = 60_000;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeParams {
    /// The client; an unknown one gets an error page.
    pub client_id: Option<String>,
    /// One of the client's registered redirect URIs, exactly; another gets an error page.
    pub redirect_uri: Option<String>,
    /// `code`, the only one supported.
    pub response_type: Option<String>,
    /// Space-separated scopes the client may ask for (plus `offline_access`); default `openid`.
    pub scope: Option<String>,
    /// Returned as it is with the code or the error.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636): the S256 challenge, 43-128 characters; required for public clients.
    pub code_challenge: Option<String>,
    /// `S256`, the only one supported.
    pub code_challenge_method: Option<String>,
    /// Space-separated: `none` (never show a page: fail with `login_required` or
    /// `consent_required`), `login` (sign in again), `consent` (ask again).
    pub prompt: Option<String>,
    /// Accepted and not used.
    pub login_hint: Option<String>,
    /// Seconds: an older sign-in must be repeated.
    pub max_age: Option<i64>,
}

impl AuthorizeParams {
    /// The same request as a relative URL (for `/login?rd=`), without `prompt`.
    fn retry_url(&self) -> String {
        let mut again = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = again.as_object_mut() {
            o.remove("prompt");
            o.retain(|_, v| !v.is_null());
        }
        let pairs: Vec<(String, String)> = again
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        append_query("/oauth2/authorize", &refs)
    }
}

/// The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): the code flow with PKCE.
///
/// A signed-in browser (the session cookie) goes back to the client's redirect URI with a code
/// (valid one minute) and `iss` (RFC 9207), after a consent page when the client is not
/// first-party and the user has not yet allowed these scopes in the tenant. A browser that is
/// not signed in (or must sign in again: `prompt=login`, `max_age`) goes to `/login` and
/// returns here after. The tenant is the client's, or the session's for a global client.
/// Errors about the client or the redirect URI are shown, never redirected (RFC 6749
/// §4.1.2.1).
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oidc",
    security(("session" = []), ()),
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The consent page (Allow / Deny)", content_type = "text/html", body = String,
            headers(("X-Frame-Options" = String, description = "`DENY`"), ("Content-Security-Policy" = String, description = "`frame-ancestors 'none'`"))),
        (status = 302, description = "To the redirect URI with `code`, `state` and `iss`; or with `error` (`unsupported_response_type`, `unauthorized_client`, `invalid_scope`, `invalid_request`, `login_required`, `consent_required`, `access_denied`), `error_description`, `state` and `iss`; or to `/login?rd=...` to sign in first (`/login?force=1&rd=...` to sign in again)",
            headers(("Location" = String))),
        (status = 400, description = "An HTML error page: the query does not parse, the client is unknown, or the redirect URI is not registered for it", content_type = "text/html", body = String),
    ))]
pub(super) async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in request not valid",
            "<p>The application sent a malformed sign-in request.</p>",
        );
    };
    match authorize_inner(&s, &headers, q).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "authorize failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Please try again.</p>",
            )
        }
    }
}

/// Why an authorization request stops.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// Shown to the person, never redirected (RFC 6749 §4.1.2.1): the client is unknown or the
    /// redirect URI is not registered for it.
    Shown {
        title: &'static str,
        text: &'static str,
    },
    /// Returned to the client's redirect URI (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
    ToClient {
        error: &'static str,
        description: String,
    },
}

fn to_client(error: &'static str, description: impl Into<String>) -> Refused {
    Refused::ToClient {
        error,
        description: description.into(),
    }
}

/// A request that passed steps 1 and 2: where to answer, and the scopes asked for.
#[derive(Debug, PartialEq, Eq)]
struct Checked<'a> {
    redirect_uri: &'a str,
    scope: String,
}

/// Steps 1 and 2, on the request alone: the client and its redirect URI, then the request.
fn check_request<'a>(
    client: Option<&ClientRow>,
    q: &'a AuthorizeParams,
) -> Result<Checked<'a>, Refused> {
    // 1. Client and redirect URI: errors here are shown, never redirected (RFC 6749 §4.1.2.1).
    let Some(client) = client else {
        return Err(Refused::Shown {
            title: "Unknown application",
            text: "<p>This sign-in request names an application idbridge does not know.</p>",
        });
    };
    let redirect_uri = q.redirect_uri.as_deref().unwrap_or_default();
    if !client.redirect_uris.has(redirect_uri) {
        return Err(Refused::Shown {
            title: "Redirect address not registered",
            text: "<p>The application asked to return to an address that is not registered for it. Its administrator must register the exact redirect URI.</p>",
        });
    }
    // 2. The request itself.
    if q.response_type.as_deref() != Some("code") {
        return Err(to_client(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !client.grant_types.has("authorization_code") {
        return Err(to_client(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let scope = q.scope.clone().unwrap_or_else(|| "openid".into());
    let allowed = &client.scopes;
    if let Some(bad) = scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .find(|x| !allowed.iter().any(|a| a == x) && *x != "offline_access")
    {
        return Err(to_client(
            "invalid_scope",
            format!("scope `{bad}` is not allowed for this client"),
        ));
    }
    // PKCE (RFC 7636 §4.4.1): S256 only; required of public clients.
    match (&q.code_challenge, q.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => {}
        (Some(_), _) => {
            return Err(to_client(
                "invalid_request",
                "code_challenge_method must be S256 with a valid challenge",
            ));
        }
        (None, _) if !client.confidential => {
            return Err(to_client(
                "invalid_request",
                "PKCE (code_challenge with S256) is required",
            ));
        }
        (None, _) => {}
    }
    Ok(Checked {
        redirect_uri,
        scope,
    })
}

fn prompts(q: &AuthorizeParams, which: &str) -> bool {
    q.prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|x| x == which))
}

/// Step 3's outcome.
#[derive(Debug, PartialEq, Eq)]
enum SignIn {
    Proceed,
    /// To `/login`, back here after (`force`: sign in again although signed in).
    Login {
        force: bool,
    },
}

/// Step 3, who is signed in: `session_age_ms` is the age of the browser's session, `None` when
/// nobody is signed in (OIDC Core §3.1.2.1 `prompt` and `max_age`).
fn sign_in_step(session_age_ms: Option<i64>, q: &AuthorizeParams) -> Result<SignIn, Refused> {
    let none = prompts(q, "none");
    let Some(age) = session_age_ms else {
        if none {
            return Err(to_client("login_required", "the user is not signed in"));
        }
        return Ok(SignIn::Login { force: false });
    };
    let too_old = q.max_age.is_some_and(|max| age > max.max(0) * 1000);
    if prompts(q, "login") || too_old {
        if none {
            return Err(to_client("login_required", "a fresh sign-in is required"));
        }
        return Ok(SignIn::Login { force: true });
    }
    Ok(SignIn::Proceed)
}

/// Step 4, the tenant: the signed-in user must be allowed in it (the sign-in rule, membership).
fn tenant_step(compiled: &crate::engine::rbac::Compiled, slug: &str) -> Result<(), Refused> {
    if let Some(reason) = &compiled.refusal {
        return Err(to_client("access_denied", reason.message(slug, "")));
    }
    if !compiled.member && !compiled.platform_admin {
        return Err(to_client(
            "access_denied",
            "you are not a member of this application's tenant",
        ));
    }
    Ok(())
}

/// Step 4b, consent: a client a platform admin did not mark first-party asks the user once for
/// its scopes in the tenant (again when it asks for more, or with `prompt=consent`). `granted`:
/// the scopes the user allowed it there before. `Ok(true)`: show the consent page.
fn consent_step(
    client: &ClientRow,
    granted: Option<&str>,
    scope: &str,
    q: &AuthorizeParams,
) -> Result<bool, Refused> {
    if client.first_party {
        return Ok(false);
    }
    let covered = granted.is_some_and(|g| {
        scope
            .split(' ')
            .filter(|x| !x.is_empty())
            .all(|x| has_scope(g, x))
    });
    if covered && !prompts(q, "consent") {
        return Ok(false);
    }
    if prompts(q, "none") {
        return Err(to_client(
            "consent_required",
            "the user has not allowed this application yet",
        ));
    }
    Ok(true)
}

/// The endpoint's steps over the store: one read transaction for what they decide on, one
/// write for the code.
async fn authorize_inner(
    s: &AppState,
    headers: &HeaderMap,
    q: AuthorizeParams,
) -> Result<Response, Error> {
    let state = q.state.clone().unwrap_or_default();
    let answer = |first: &[(&str, &str)], redirect_uri: &str| {
        let mut p: Vec<(&str, &str)> = first.to_vec();
        if !state.is_empty() {
            p.push(("state", state.as_str()));
        }
        p.push(("iss", s.public_url.as_str()));
        redirect(&append_query(redirect_uri, &p))
    };
    let refused = |r: Refused, redirect_uri: &str| match r {
        Refused::Shown { title, text } => page(StatusCode::BAD_REQUEST, title, text),
        Refused::ToClient { error, description } => answer(
            &[("error", error), ("error_description", &description)],
            redirect_uri,
        ),
    };
    let mut tx = s.store.read().await?;
    let client = match &q.client_id {
        Some(id) => store::oauth::get(tx.conn(), id).await?,
        None => None,
    };
    let checked = match check_request(client.as_ref(), &q) {
        Ok(c) => c,
        Err(r) => return Ok(refused(r, q.redirect_uri.as_deref().unwrap_or_default())),
    };
    let Some(client) = client else {
        return Err(Error::internal("a checked request has a client"));
    };
    let to = checked.redirect_uri;
    // 3. Who is signed in, and since when.
    let now = s.now_ms();
    let signed_in = match crate::web::session::signed_in(s, headers).await {
        Some(p) => {
            let sid = p.session_id.clone().unwrap_or_default();
            store::sessions::created_at(tx.conn(), &sid)
                .await?
                .map(|created| (p, sid, created))
        }
        None => None,
    };
    match sign_in_step(signed_in.as_ref().map(|(_, _, c)| now - c), &q) {
        Ok(SignIn::Proceed) => {}
        Ok(SignIn::Login { force }) => {
            let again = if force { "force=1&" } else { "" };
            return Ok(redirect(&format!(
                "/login?{again}rd={}",
                url_encode(&q.retry_url())
            )));
        }
        Err(r) => return Ok(refused(r, to)),
    }
    let Some((principal, session_id, auth_time)) = signed_in else {
        return Err(Error::internal("a signed-in step without a session"));
    };
    // 4. The tenant the tokens are for: the client's, or the session's for a global client.
    let tenant_id = client
        .tenant_id
        .clone()
        .unwrap_or(principal.tenant_id.clone());
    let tenant = store::tenants::get(tx.conn(), &tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let mut as_tenant = principal.clone();
    as_tenant.tenant_id = tenant.id.clone();
    let compiled = rbac::compiled(s, &mut tx, &as_tenant, &tenant).await?;
    if let Err(r) = tenant_step(&compiled, &tenant.slug) {
        return Ok(refused(r, to));
    }
    // 4b. Consent.
    let uid = principal.user_id().unwrap_or_default().to_string();
    let granted = if client.first_party {
        None
    } else {
        store::oauth::consent(tx.conn(), &uid, &client.id, &tenant.id).await?
    };
    drop(tx);
    match consent_step(&client, granted.as_deref(), &checked.scope, &q) {
        Ok(false) => {}
        Ok(true) => {
            let ticket = ConsentTicket {
                sid: session_id,
                client_id: client.id.clone(),
                tenant_id: tenant.id.clone(),
                scope: checked.scope,
                redirect_uri: to.to_string(),
                state: state.clone(),
                retry: q.retry_url(),
                exp: now + CONSENT_TTL_MS,
            };
            return consent_page(s, &client, &tenant, &ticket);
        }
        Err(r) => return Ok(refused(r, to)),
    }
    // 5. The code (RFC 6749 §4.1.2), single use, valid one minute.
    let code = crypto::new_token("ac_");
    let row = store::oauth::CodeRow {
        code_hash: crypto::token_hash(&code),
        client_id: client.id.clone(),
        user_id: uid,
        session_id,
        tenant_id: tenant.id.clone(),
        redirect_uri: to.to_string(),
        scope: checked.scope,
        nonce: q.nonce.clone(),
        code_challenge: q.code_challenge.clone(),
        auth_time,
        created_at: now,
        expires_at: now + CODE_TTL_MS,
        used_at: None,
    };
    let mut tx = s.store.begin().await?;
    store::oauth::insert_code(tx.conn(), &row).await?;
    tx.commit().await?;
    Ok(answer(&[("code", &code)], to))
}

const CONSENT_TTL_MS: i64 = 10 * 60_000;

/// What a consent form carries, sealed with the master key: the form can only answer the one
/// request it was shown for, in the session that saw it, for ten minutes.
#[derive(Debug, Serialize, Deserialize)]
struct ConsentTicket {
    sid: String,
    client_id: String,
    tenant_id: String,
    scope: String,
    redirect_uri: String,
    state: String,
    /// The authorization request again (a path on idbridge).
    retry: String,
    exp: i64,
}

fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in (your idbridge user id)",
        "email" => "Your email address",
        "profile" => "Your name",
        "roles" => "Your roles in this organisation",
        "groups" => "Your groups in this organisation",
        "offline_access" => "Stay signed in when you are away (refresh tokens)",
        _ => "An application-defined permission",
    }
}

fn consent_page(
    s: &AppState,
    client: &ClientRow,
    tenant: &store::tenants::TenantRow,
    t: &ConsentTicket,
) -> Result<Response, Error> {
    let sealed = s.master_key.seal(
        "oauth_consent",
        &serde_json::to_vec(t).map_err(Error::internal)?,
    )?;
    let items: String = t
        .scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(|x| {
            format!(
                "<li><code>{}</code>: {}</li>",
                escape(x),
                escape(scope_text(x))
            )
        })
        .collect();
    let body = format!(
        "<p><strong>{client}</strong> wants to use your account in <strong>{tenant}</strong>. It will get:</p>\
         <ul>{items}</ul><form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(&client.name),
        tenant = escape(&tenant.name),
        ticket = escape(&sealed),
    );
    // Never framed (clickjacking): every page carries `frame-ancestors 'none'` and
    // `X-Frame-Options: DENY` (`web::html`).
    Ok(page(StatusCode::OK, "Allow access?", &body))
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    pub ticket: String,
    pub decision: String,
}

/// The consent form's answer: same-origin only, from the session that was shown the form.
pub(super) async fn consent_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> Response {
    let refused = |m: &str| {
        page(
            StatusCode::FORBIDDEN,
            "Allow access?",
            &format!("<p class=\"err\">{}</p>", escape(m)),
        )
    };
    if crate::web::csrf::cross_origin(&s, &headers) {
        return refused("Cross-site request refused.");
    }
    let Some(t) = s
        .master_key
        .open("oauth_consent", &f.ticket)
        .ok()
        .and_then(|b| serde_json::from_slice::<ConsentTicket>(&b).ok())
        .filter(|t| t.exp > s.now_ms() && t.retry.starts_with("/oauth2/authorize?"))
    else {
        return refused(
            "This consent form has expired: go back to the application and sign in again.",
        );
    };
    let principal = crate::web::session::signed_in(&s, &headers).await;
    let Some(p) = principal.filter(|p| p.session_id.as_deref() == Some(t.sid.as_str())) else {
        return refused("Sign in again: this form belongs to another sign-in.");
    };
    if f.decision != "allow" {
        let mut q: Vec<(&str, &str)> = vec![
            ("error", "access_denied"),
            ("error_description", "the user denied access"),
        ];
        if !t.state.is_empty() {
            q.push(("state", &t.state));
        }
        q.push(("iss", &s.public_url));
        return redirect(&append_query(&t.redirect_uri, &q));
    }
    let result = async {
        let now = s.now_ms();
        let mut tx = s.store.begin().await?;
        store::oauth::grant_consent(
            tx.conn(),
            p.user_id().unwrap_or_default(),
            &t.client_id,
            &t.tenant_id,
            &t.scope,
            now,
        )
        .await?;
        audit::record(
            tx.conn(),
            now,
            &audit::Actor::of(&p, None),
            Event {
                tenant_id: Some(&t.tenant_id),
                action: "oauth.consent",
                target_type: "oauth_client",
                target_id: Some(&t.client_id),
                before: None,
                after: Some(json!({"scope": t.scope})),
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => redirect(&t.retry),
        Err(e) => {
            tracing::error!(error = %e, "recording a consent failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Please try again.</p>",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(confidential: bool, first_party: bool) -> ClientRow {
        ClientRow {
            id: "c1".into(),
            tenant_id: None,
            name: "App".into(),
            secret_hash: None,
            confidential,
            redirect_uris: vec!["https://app.example/cb".to_string()].into(),
            post_logout_redirect_uris: vec![].into(),
            grant_types: vec!["authorization_code".to_string(), "refresh_token".into()].into(),
            scopes: vec!["openid".to_string(), "email".into()].into(),
            backchannel_logout_uri: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
            first_party,
        }
    }

    fn request() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("c1".into()),
            redirect_uri: Some("https://app.example/cb".into()),
            response_type: Some("code".into()),
            scope: Some("openid email".into()),
            code_challenge: Some("a".repeat(43)),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        }
    }

    fn error_of(r: Result<Checked<'_>, Refused>) -> &'static str {
        match r {
            Err(Refused::ToClient { error, .. }) => error,
            Err(Refused::Shown { title, .. }) => title,
            Ok(_) => "accepted",
        }
    }

    #[test]
    fn the_client_and_redirect_uri_errors_are_shown_and_the_rest_go_back_to_the_client() {
        let public = client(false, true);
        let ok = request();
        assert_eq!(
            check_request(Some(&public), &ok),
            Ok(Checked {
                redirect_uri: "https://app.example/cb",
                scope: "openid email".into()
            })
        );
        assert_eq!(error_of(check_request(None, &ok)), "Unknown application");
        for uri in ["https://app.example/cb/", "https://evil.example/cb", ""] {
            let q = AuthorizeParams {
                redirect_uri: Some(uri.into()),
                ..request()
            };
            assert_eq!(
                error_of(check_request(Some(&public), &q)),
                "Redirect address not registered",
                "{uri}"
            );
        }
        let cases = [
            (
                AuthorizeParams {
                    response_type: Some("token".into()),
                    ..request()
                },
                "unsupported_response_type",
            ),
            (
                AuthorizeParams {
                    scope: Some("openid admin".into()),
                    ..request()
                },
                "invalid_scope",
            ),
            (
                AuthorizeParams {
                    code_challenge_method: Some("plain".into()),
                    ..request()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    code_challenge: Some("short".into()),
                    ..request()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    code_challenge: None,
                    code_challenge_method: None,
                    ..request()
                },
                "invalid_request",
            ),
        ];
        for (q, want) in cases {
            assert_eq!(error_of(check_request(Some(&public), &q)), want, "{q:?}");
        }
        // offline_access is always askable; a confidential client may skip PKCE.
        let q = AuthorizeParams {
            scope: Some("openid offline_access".into()),
            code_challenge: None,
            code_challenge_method: None,
            ..request()
        };
        assert_eq!(
            error_of(check_request(Some(&client(true, true)), &q)),
            "accepted"
        );
        let no_code_grant = ClientRow {
            grant_types: vec!["client_credentials".to_string()].into(),
            ..client(true, true)
        };
        assert_eq!(
            error_of(check_request(Some(&no_code_grant), &request())),
            "unauthorized_client"
        );
    }

    #[test]
    fn prompt_and_max_age_decide_whether_to_sign_in_again() {
        let with = |prompt: Option<&str>, max_age: Option<i64>| AuthorizeParams {
            prompt: prompt.map(str::to_string),
            max_age,
            ..request()
        };
        assert_eq!(
            sign_in_step(None, &with(None, None)),
            Ok(SignIn::Login { force: false })
        );
        assert_eq!(
            sign_in_step(None, &with(Some("none"), None)),
            Err(to_client("login_required", "the user is not signed in"))
        );
        assert_eq!(
            sign_in_step(Some(5_000), &with(None, None)),
            Ok(SignIn::Proceed)
        );
        assert_eq!(
            sign_in_step(Some(5_000), &with(Some("consent login"), None)),
            Ok(SignIn::Login { force: true })
        );
        assert_eq!(
            sign_in_step(Some(5_000), &with(None, Some(4))),
            Ok(SignIn::Login { force: true })
        );
        assert_eq!(
            sign_in_step(Some(5_000), &with(None, Some(5))),
            Ok(SignIn::Proceed)
        );
        assert_eq!(
            sign_in_step(Some(5_000), &with(Some("none"), Some(0))),
            Err(to_client("login_required", "a fresh sign-in is required"))
        );
    }

    #[test]
    fn a_third_party_client_needs_consent_for_every_scope_it_asks() {
        let third = client(false, false);
        let q = request();
        assert_eq!(
            consent_step(&client(false, true), None, "openid email", &q),
            Ok(false)
        );
        assert_eq!(consent_step(&third, None, "openid email", &q), Ok(true));
        assert_eq!(
            consent_step(&third, Some("openid"), "openid email", &q),
            Ok(true)
        );
        assert_eq!(
            consent_step(&third, Some("email openid"), "openid email", &q),
            Ok(false)
        );
        let again = AuthorizeParams {
            prompt: Some("consent".into()),
            ..request()
        };
        assert_eq!(
            consent_step(&third, Some("email openid"), "openid email", &again),
            Ok(true)
        );
        let silent = AuthorizeParams {
            prompt: Some("none".into()),
            ..request()
        };
        assert!(matches!(
            consent_step(&third, Some("openid"), "openid email", &silent),
            Err(Refused::ToClient {
                error: "consent_required",
                ..
            })
        ));
    }
}
