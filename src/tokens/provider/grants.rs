//! The token endpoint's `authorization_code` and `refresh_token` grants (called by
//! `tokens::oauth`): ID tokens, rotating refresh tokens with reuse detection.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::crypto;
use crate::domain::new_id;
use crate::engine::jwt;
use crate::state::AppState;
use crate::store::{self, oauth::ClientRow};
use crate::tokens::protocol::{OAuthError, OAuthForm, TokenResponse};

#[derive(Debug, Serialize, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    azp: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    tenant: String,
}

struct Grant<'a> {
    client: &'a ClientRow,
    user_id: String,
    session_id: String,
    tenant_id: String,
    scope: String,
    nonce: Option<String>,
    auth_time_ms: i64,
    family: Option<String>,
    /// Refresh grant: the presented token's hash, spent in the transaction that stores its
    /// successor (rotation is atomic).
    spend: Option<String>,
}

pub(super) fn has_scope(scope: &str, want: &str) -> bool {
    scope.split(' ').any(|x| x == want)
}

/// Issues the access token, the ID token (scope `openid`) and a new refresh token (when the
/// client may refresh) for a live session.
async fn issue(s: &AppState, g: Grant<'_>) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    // Plain pooled reads, no transaction: each row is read once and checked on its own.
    let rbac_generation = s.generations.rbac();
    let mut tx = s.store.acquire().await?;
    let auth = store::sessions::auth_by_id(tx.conn(), &g.session_id)
        .await?
        .ok_or_else(|| invalid("the sign-in session has ended"))?;
    let mut p = crate::auth::authenticate::principal_from_session(
        s,
        auth,
        Some(g.tenant_id.clone()),
        false,
        rbac_generation,
    )
    .map_err(|_| invalid("the sign-in session has ended"))?;
    p.tenant_id = g.tenant_id.clone();
    if p.user_id() != Some(g.user_id.as_str()) {
        return Err(invalid("the sign-in session has ended"));
    }
    let user = store::users::get(tx.conn(), &g.user_id)
        .await?
        .ok_or_else(|| invalid("unknown user"))?;
    let tenant = store::tenants::get(tx.conn(), &g.tenant_id)
        .await?
        .ok_or_else(|| invalid("unknown tenant"))?;
    let mut claims =
        crate::auth::service::access_claims_for(s, &mut tx, &p, &user, &tenant).await?;
    let groups = store::users::group_names(tx.conn(), &user.id, &tenant.id).await?;
    drop(tx);
    // Issued to the client, for the one tenant it was authorized in: never accepted by `/api`.
    claims.aud = g.client.id.clone();
    claims.client_id = Some(g.client.id.clone());
    claims.scope = Some(g.scope.clone());
    let access_token = jwt::mint(&s.keys, &claims)?;
    let mut body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: s.settings.session.access_token_ttl_secs,
        scope: g.scope.clone(),
        id_token: None,
        refresh_token: None,
    };
    if has_scope(&g.scope, "openid") {
        let profile = has_scope(&g.scope, "profile");
        let id = IdClaims {
            iss: s.public_url.clone(),
            sub: user.id.clone(),
            aud: g.client.id.clone(),
            azp: g.client.id.clone(),
            exp: claims.exp,
            iat: claims.iat,
            auth_time: g.auth_time_ms / 1000,
            nonce: g.nonce.clone(),
            sid: g.session_id.clone(),
            email: has_scope(&g.scope, "email").then(|| user.email.clone()),
            name: profile.then(|| claims.name.clone()),
            given_name: profile.then(|| user.first_name.clone()),
            family_name: if profile {
                user.last_name.clone()
            } else {
                None
            },
            roles: has_scope(&g.scope, "roles").then(|| claims.roles.clone()),
            groups: has_scope(&g.scope, "groups").then_some(groups),
            tenant: tenant.slug.clone(),
        };
        body.id_token = Some(jwt::mint_typed(&s.keys, &id, "JWT")?);
    }
    if g.client.grant_types.has("refresh_token") {
        let token = crypto::new_token("rt_");
        let now = s.now_ms();
        let row = store::oauth::RefreshRow {
            token_hash: crypto::token_hash(&token),
            family_id: g.family.clone().unwrap_or_else(new_id),
            client_id: g.client.id.clone(),
            user_id: user.id.clone(),
            session_id: g.session_id.clone(),
            tenant_id: tenant.id.clone(),
            scope: g.scope.clone(),
            auth_time: g.auth_time_ms,
            created_at: now,
            expires_at: now + s.settings.session.lifetime_secs * 1000,
            used_at: None,
            revoked_at: None,
        };
        let mut tx = s.store.begin().await?;
        if let Some(spent) = &g.spend
            && !store::oauth::spend_refresh(tx.conn(), spent, now).await?
        {
            drop(tx);
            return Err(reused(
                s,
                &row.family_id,
                &row.tenant_id,
                &row.user_id,
                &row.client_id,
            )
            .await);
        }
        store::oauth::insert_refresh(tx.conn(), &row).await?;
        tx.commit().await?;
        body.refresh_token = Some(token);
    }
    Ok(body)
}

/// `grant_type=authorization_code` (OIDC Core §3.1.3.2, RFC 7636 §4.6).
pub async fn exchange_code(
    s: &AppState,
    client: &ClientRow,
    form: &OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    if !client.grant_types.has("authorization_code") {
        return Err(OAuthError::from_parts(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::from_parts("invalid_request", "code is required"))?;
    let hash = crypto::token_hash(code);
    let row = {
        let mut c = s.store.acquire().await?;
        store::oauth::code(c.conn(), &hash).await?
    }
    .ok_or_else(|| invalid("unknown or expired code"))?;
    if row.client_id != client.id || row.expires_at <= s.now_ms() {
        return Err(invalid("unknown or expired code"));
    }
    if form.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&row.code_challenge, &form.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = crypto::b64url(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
            );
            if !(43..=128).contains(&verifier.len())
                || !crypto::ct_eq(computed.as_bytes(), challenge.as_bytes())
            {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid("code_verifier is required")),
        (None, Some(_)) => {
            return Err(invalid(
                "no code_challenge was sent with the authorization request",
            ));
        }
        (None, None) if !client.confidential => {
            return Err(invalid("PKCE is required for public clients"));
        }
        (None, None) => {}
    }
    {
        let mut tx = s.store.begin().await?;
        if !store::oauth::use_code(tx.conn(), &hash, s.now_ms()).await? {
            return Err(invalid("this code was already used"));
        }
        if has_scope(&row.scope, "openid") {
            // The client now holds an ID token for this session: tell it when the session ends.
            store::backchannel::record_client_session(
                tx.conn(),
                &row.session_id,
                &client.id,
                &row.user_id,
                s.now_ms(),
            )
            .await?;
        }
        tx.commit().await?;
    }
    issue(
        s,
        Grant {
            client,
            user_id: row.user_id,
            session_id: row.session_id,
            tenant_id: row.tenant_id,
            scope: row.scope,
            nonce: row.nonce,
            auth_time_ms: row.auth_time,
            family: None,
            spend: None,
        },
    )
    .await
}

/// `grant_type=refresh_token`: rotates; presenting a spent token revokes its whole family.
pub async fn refresh(
    s: &AppState,
    client: &ClientRow,
    form: &OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    let token = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::from_parts("invalid_request", "refresh_token is required"))?;
    let hash = crypto::token_hash(token);
    let now = s.now_ms();
    // Read first; the rotation itself (spend + successor) is one short write transaction in
    // `issue`, so the writer lock is held for two statements only.
    let row = {
        let mut c = s.store.acquire().await?;
        store::oauth::refresh(c.conn(), &hash).await?
    }
    .ok_or_else(|| invalid("unknown refresh token"))?;
    if row.client_id != client.id {
        return Err(invalid("unknown refresh token"));
    }
    if row.used_at.is_some() {
        return Err(reused(
            s,
            &row.family_id,
            &row.tenant_id,
            &row.user_id,
            &row.client_id,
        )
        .await);
    }
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(invalid("this refresh token is no longer valid"));
    }
    if !client.grant_types.has("refresh_token") {
        return Err(OAuthError::from_parts(
            "unauthorized_client",
            "this client may not use refresh tokens",
        ));
    }
    let scope = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        None => row.scope.clone(),
        Some(asked) => {
            if let Some(bad) = asked.split(' ').find(|x| !has_scope(&row.scope, x)) {
                return Err(OAuthError::from_parts(
                    "invalid_scope",
                    &format!("scope `{bad}` was not granted"),
                ));
            }
            asked.to_string()
        }
    };
    issue(
        s,
        Grant {
            client,
            user_id: row.user_id,
            session_id: row.session_id,
            tenant_id: row.tenant_id,
            scope,
            nonce: None,
            auth_time_ms: row.auth_time,
            family: Some(row.family_id),
            spend: Some(hash),
        },
    )
    .await
}

/// A spent refresh token came back: someone holds a copy. Ends the whole family (audited).
async fn reused(
    s: &AppState,
    family: &str,
    tenant_id: &str,
    user_id: &str,
    client_id: &str,
) -> OAuthError {
    let result = async {
        let now = s.now_ms();
        let mut tx = s.store.begin().await?;
        let n = store::oauth::revoke_family(tx.conn(), family, now).await?;
        audit::record(
            tx.conn(),
            now,
            &audit::Actor::system("oauth"),
            Event {
                tenant_id: Some(tenant_id),
                action: "oauth.refresh_reuse",
                target_type: "user",
                target_id: Some(user_id),
                before: None,
                after: Some(json!({"client_id": client_id, "family": family, "revoked": n})),
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        return e.into();
    }
    tracing::warn!(client = %client_id, user = %user_id, "refresh token reused: family revoked");
    OAuthError::from_parts("invalid_grant", "this refresh token was already used")
}
