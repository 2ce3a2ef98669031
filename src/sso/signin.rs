//! The sign-in and sign-out transactions of the browser flows, for OIDC and SAML alike: the
//! connection a flow may use, JIT and roles and the idbridge session in one transaction, and the
//! IdP's end-session address at sign-out.

use super::fail::{Fail, fail};
use super::{ExternalIdentity, connection, jit, oidc};
use crate::auth::principal::Principal;
use crate::http::client::ClientInfo;
use crate::state::AppState;
use crate::store;

/// The enabled connection `id` (of `kind` when given), for a browser flow: anything else is
/// "unknown".
pub async fn enabled_connection(
    s: &AppState,
    id: &str,
    kind: Option<crate::domain::ConnectionKind>,
) -> std::result::Result<store::sso::ConnectionRow, Fail> {
    if id.len() > 64 {
        return Err(fail("sso.connection_unknown", "connection id too long"));
    }
    let mut c = s.store.acquire().await?;
    let row = store::sso::get(c.conn(), id)
        .await?
        .filter(|r| r.enabled)
        .ok_or_else(|| {
            fail(
                "sso.connection_unknown",
                format!("no enabled connection {id}"),
            )
        })?;
    if let Some(kind) = kind
        && row.kind != kind
    {
        return Err(fail(
            "sso.connection_unknown",
            format!("not a {} connection", kind.as_str().to_uppercase()),
        ));
    }
    Ok(row)
}

/// Whether an identity the IdP sent belongs to another user than the one this browser is
/// signed in as (an unknown identity counts as another).
pub async fn is_another_user(
    s: &AppState,
    current: &Principal,
    identity: &ExternalIdentity,
) -> std::result::Result<bool, Fail> {
    let mut c = s.store.acquire().await?;
    let incoming = store::sso::identity(
        c.conn(),
        &identity.connection_id,
        &identity.issuer,
        &identity.subject,
    )
    .await?
    .map(|i| i.user_id);
    Ok(incoming.as_deref() != current.user_id())
}

/// JIT, roles and the idbridge session, in one transaction (shared with SAML).
pub async fn complete(
    s: &AppState,
    rid: Option<&str>,
    client: &ClientInfo,
    ext: &ExternalIdentity,
    return_to: Option<String>,
    id_token: Option<&str>,
    saml: Option<&super::saml_sp::Consume>,
) -> std::result::Result<(crate::auth::service::SignedIn, String), Fail> {
    let sealed = id_token
        .map(|t| s.master_key.seal("sso_id_token", t.as_bytes()))
        .transpose()?;
    let mut tx = s.store.begin().await?;
    if let Some(c) = saml {
        // Single use, in the transaction that signs in: the pending request and the assertion.
        c.consume(s, &mut tx).await?;
    }
    let out = jit::sign_in(s, &mut tx, ext, rid).await?;
    let signed = crate::auth::service::start_session(
        s,
        &mut tx,
        &out.user,
        &out.tenant,
        client,
        crate::auth::principal::Method::Sso,
        Some(&ext.connection_id),
        false,
    )
    .await?;
    store::sso::insert_session(
        tx.conn(),
        &signed.session_id,
        &ext.connection_id,
        sealed.as_deref(),
        saml.map(|c| &c.subject),
        s.now_ms(),
    )
    .await?;
    tx.commit().await?;
    s.metrics.count(if out.created {
        "sso_jit_user_created"
    } else {
        "sso_login"
    });
    Ok((signed, return_to.unwrap_or_else(|| "/login".into())))
}

/// The IdP's end-session URL for a session that came from an OIDC connection whose IdP
/// announces `end_session_endpoint`.
pub async fn idp_logout_url(s: &AppState, session_id: &str) -> Option<String> {
    let (sealed, row) = {
        let mut c = s.store.acquire().await.ok()?;
        let (conn_id, sealed) = store::sso::session(c.conn(), session_id).await.ok()??;
        (sealed, store::sso::get(c.conn(), &conn_id).await.ok()??)
    };
    if row.kind == crate::domain::ConnectionKind::Saml {
        return super::saml_sp::logout_url(s, &row, session_id).await;
    }
    let cfg = connection::config_of(&row).ok()?;
    let end = oidc::end_session_endpoint(s, &row, &cfg).await?;
    let mut url = format!(
        "{end}{}client_id={}&post_logout_redirect_uri={}",
        if end.contains('?') { '&' } else { '?' },
        crate::engine::url::url_encode(&cfg.client_id),
        crate::engine::url::url_encode(&connection::post_logout_uri(s)),
    );
    if let Some(t) = sealed
        .and_then(|x| s.master_key.open("sso_id_token", &x).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        url.push_str("&id_token_hint=");
        url.push_str(&crate::engine::url::url_encode(&t));
    }
    Some(url)
}
