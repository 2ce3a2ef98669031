//! Local sign-in and sessions: authenticate a request, register the first admin, log in and
//! out, switch tenant, invites and the signup exchange, password resets, `/api/me`.

use serde::{Deserialize, Serialize};

use super::principal::{Actor, Method, Principal};
use crate::audit::{self, Event};
use crate::crypto;
use crate::domain::{Email, PersonName, RoleSource, display_name, new_id, validate_password};
use crate::engine::jwt::{self, AccessClaims};
use crate::error::{Error, Result};
use crate::http::client::ClientInfo;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::roles::AssignmentRow;
use crate::store::sessions::SessionRow;
use crate::store::tenants::TenantRow;
use crate::store::tokens::ResetRow;
use crate::store::users::UserRow;
use crate::store::{self, AsConn, Tx};
use crate::tenants::TenantView;
use crate::users::{UserView, new_user_row};

/// `Set-Cookie` for a session (`max_age_secs = 0` clears it).
pub fn session_cookie(state: &AppState, value: &str, max_age_secs: i64) -> String {
    crate::web::cookies::set_cookie(
        &state.cookie_name,
        value,
        max_age_secs,
        crate::web::cookies::SameSite::Lax,
        &state.settings.session.cookie_domain,
        crate::web::cookies::secure(state),
    )
}

// ---------------------------------------------------------------------------------------------
// Sessions and tokens

/// What a successful sign-in returns (the session token goes into the cookie, not the body).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub access_token: String,
    #[schema(value_type = String)]
    pub token_type: &'static str,
    pub expires_in: i64,
    pub tenant: String,
    pub user: UserView,
    #[serde(skip)]
    pub session_token: String,
    #[serde(skip)]
    pub session_max_age: i64,
    #[serde(skip)]
    pub session_id: String,
}

/// Creates a session that signed in by `method` (`connection`: the SSO connection).
/// `with_access_token`: also mint an access token for the response (the JSON sign-in API);
/// browser flows that only set the cookie skip it.
#[allow(clippy::too_many_arguments)]
pub async fn start_session(
    state: &AppState,
    tx: &mut Tx,
    user: &UserRow,
    tenant: &TenantRow,
    client: &ClientInfo,
    method: Method,
    connection: Option<&str>,
    with_access_token: bool,
) -> Result<SignedIn> {
    let now = state.now_ms();
    let token = crypto::new_token("");
    let lifetime = state.settings.session.lifetime_secs;
    let session = SessionRow {
        id: new_id(),
        token_hash: crypto::token_hash(&token),
        user_id: user.id.clone(),
        tenant_id: tenant.id.clone(),
        session_version: user.session_version,
        created_at: now,
        expires_at: now + lifetime * 1000,
        last_seen_at: now,
        revoked_at: None,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        method: method.as_str().into(),
        connection_id: connection.map(str::to_string),
    };
    store::sessions::insert(tx.conn(), &session).await?;
    store::users::set_last_login(tx.conn(), &user.id, now).await?;
    let principal = Principal {
        actor: Actor::User {
            id: user.id.clone(),
            email: user.email.clone(),
            name: display_name(&user.first_name, user.last_name.as_deref()),
            platform_admin: user.platform_admin,
        },
        tenant_id: tenant.id.clone(),
        session_id: Some(session.id.clone()),
        via_cookie: false,
        rbac_generation: rbac::UNCACHED,
        method,
    };
    let access_token = if with_access_token {
        mint_for(state, tx, &principal, user, tenant).await?
    } else {
        String::new()
    };
    let mut view = UserView::from(user.clone());
    view.last_login_at = Some(now);
    Ok(SignedIn {
        access_token,
        token_type: "Bearer",
        expires_in: state.settings.session.access_token_ttl_secs,
        tenant: tenant.slug.clone(),
        user: view,
        session_token: token,
        session_id: session.id.clone(),
        session_max_age: lifetime,
    })
}

pub async fn access_claims_for(
    state: &AppState,
    db: &mut impl AsConn,
    p: &Principal,
    user: &UserRow,
    tenant: &TenantRow,
) -> Result<AccessClaims> {
    let compiled = rbac::compiled(state, db, p, tenant).await?;
    if let Some(r) = &compiled.refusal {
        // No token for a session the tenant refuses (a password session where SSO is required).
        return Err(Error::forbidden(
            "password_login_disabled",
            r.message(&tenant.slug, ""),
        ));
    }
    let now = state.clock.now_secs();
    let claims = AccessClaims {
        iss: state.public_url.clone(),
        sub: user.id.clone(),
        aud: state.settings.session.audience.clone(),
        exp: now + state.settings.session.access_token_ttl_secs,
        iat: now,
        nbf: now,
        jti: new_id(),
        sid: p.session_id.clone().unwrap_or_default(),
        tid: tenant.id.clone(),
        tenant: tenant.slug.clone(),
        email: user.email.clone(),
        name: display_name(&user.first_name, user.last_name.as_deref()),
        roles: compiled.roles.clone(),
        permissions: permissions_claim(
            &compiled.effective(),
            state.settings.session.max_permissions_claim_bytes,
        ),
        client_id: None,
        scope: None,
    };
    Ok(claims)
}

/// A signed access token for the principal's session in `tenant`.
pub async fn mint_for(
    state: &AppState,
    db: &mut impl AsConn,
    p: &Principal,
    user: &UserRow,
    tenant: &TenantRow,
) -> Result<String> {
    jwt::mint(
        &state.keys,
        &access_claims_for(state, db, p, user, tenant).await?,
    )
}

/// The permissions claim, or nothing when its JSON would exceed `max_bytes` (0 = never).
fn permissions_claim(effective: &[String], max_bytes: usize) -> Option<Vec<String>> {
    let size: usize = effective.iter().map(|p| p.len() + 3).sum::<usize>() + 2;
    (max_bytes > 0 && size <= max_bytes).then(|| effective.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Register, login, logout, switch tenant

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    /// Slug of the first tenant (default `default`).
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub tenant_name: Option<String>,
    #[serde(default)]
    pub preset: Option<String>,
    /// The bootstrap token of the first-run output; needed over HTTP, not by the CLI.
    #[serde(default)]
    pub bootstrap_token: Option<String>,
}

/// Who creates the first admin: the CLI on the server (it holds the database and the master key)
/// or an HTTP client, which must present the bootstrap token the server printed, so the first
/// caller to reach a fresh deployment over the network cannot claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterVia {
    Cli,
    Api,
}

impl RegisterVia {
    fn source(self) -> &'static str {
        match self {
            RegisterVia::Cli => "cli",
            RegisterVia::Api => "api",
        }
    }
}

/// The token that lets an HTTP client create the first admin: derived from the master key (the
/// same on every replica), printed by `idbridge serve` while there are no users, useless once
/// one exists.
pub fn bootstrap_token(state: &AppState) -> String {
    let derived = state.master_key.derive("idbridge bootstrap token v1");
    format!("bst_{}", crypto::b64url(&derived[..24]))
}

fn registration_closed() -> Error {
    Error::forbidden(
        "registration_closed",
        "registration is only open while there are no users: ask an admin for an invite, or sign in with SSO",
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub user: UserView,
    pub tenant: TenantView,
}

/// Creates the first platform admin and the first tenant; refused once any user exists.
pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    via: RegisterVia,
) -> Result<Registered> {
    let users = store::users::count(state.store.acquire().await?.conn()).await?;
    if users > 0 {
        return Err(registration_closed());
    }
    if via == RegisterVia::Api {
        let expected = bootstrap_token(state);
        let presented = req.bootstrap_token.as_deref().unwrap_or("");
        if !crypto::ct_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(Error::forbidden(
                "bootstrap_token_required",
                "creating the first admin over HTTP needs the `bootstrap_token` that `idbridge serve` printed at start (or run `idbridge bootstrap` on the server)",
            ));
        }
    }
    let source = via.source();
    let email = Email::parse(&req.email)?;
    let first = PersonName::parse(&req.first_name, "first_name")?;
    let last = req
        .last_name
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| PersonName::parse(s, "last_name"))
        .transpose()?;
    validate_password(&req.password)?;
    let slug = req.tenant.clone().unwrap_or_else(|| "default".into());
    let tenant_name = req.tenant_name.clone().unwrap_or_else(|| "Default".into());
    let preset = req
        .preset
        .clone()
        .unwrap_or_else(|| state.settings.auth.default_preset.clone());
    let hash = state.hasher.hash(req.password).await?;
    let now = state.now_ms();

    let mut tx = state.store.begin().await?;
    store::lock_bootstrap(tx.conn()).await?;
    if store::users::count(tx.conn()).await? > 0 {
        return Err(registration_closed());
    }
    let mut user = new_user_row(&email, first, last, Some(hash), now);
    user.platform_admin = true;
    store::users::insert(tx.conn(), &user).await?;
    let actor = audit::Actor {
        id: Some(&user.id),
        label: user.email.clone(),
        source,
        request_id: None,
    };
    let tenant = crate::tenants::service::create_in_tx(
        state,
        &mut tx,
        &actor,
        crate::tenants::service::NewTenant {
            slug,
            name: tenant_name,
            preset: Some(preset),
            parent: None,
            rbac_tier: None,
            boundary: None,
        },
    )
    .await?;
    store::tenants::add_member(&mut tx, &tenant.id, &user.id, now).await?;
    let admin = admin_role_of(&mut tx, &tenant).await?;
    store::roles::assign(
        &mut tx,
        &AssignmentRow {
            id: new_id(),
            user_id: user.id.clone(),
            tenant_id: tenant.id.clone(),
            role_id: admin.id.clone(),
            source: RoleSource::Manual.as_str().into(),
            assigned_by: Some(user.id.clone()),
            assigned_at: now,
        },
    )
    .await?;
    audit::record(
        tx.conn(),
        now,
        &actor,
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.register",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(serde_json::json!({"email": user.email, "platform_admin": true, "role": admin.name})),
        },
    )
    .await?;
    tx.commit().await?;
    // The token is spent: its file goes (other replicas remove theirs when they start).
    let _ = std::fs::remove_file(state.settings.bootstrap_token_path());
    Ok(Registered {
        user: user.into(),
        tenant: tenant.into(),
    })
}

async fn admin_role_of(tx: &mut Tx, tenant: &TenantRow) -> Result<crate::store::roles::RoleRow> {
    store::roles::list(tx.conn(), &tenant.root_id)
        .await?
        .into_iter()
        .find(|r| r.is_admin && r.builtin)
        .ok_or_else(|| Error::internal("the tenant's preset has no admin role"))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn login(
    state: &AppState,
    client: &ClientInfo,
    request_id: Option<&str>,
    req: LoginRequest,
) -> Result<SignedIn> {
    let bad = || Error::Invalid {
        code: "invalid_credentials".into(),
        message: "wrong email or password".into(),
        field: None,
    };
    let email = Email::parse(&req.email).map_err(|_| bad())?;
    // The account's back-off (kept in the database), before any hashing.
    super::attempts::account_allowed(state, email.normalized(), client.addr).await?;
    let user = {
        let mut c = state.store.acquire().await?;
        store::users::get_by_email(c.conn(), email.normalized()).await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = match state.hasher.verify(req.password, hash).await {
        Err(Error::Overloaded) => {
            state.metrics.count("overloaded_sign_in");
            return Err(Error::Overloaded);
        }
        other => other?,
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(
            event = "auth.login_failed",
            "sign-in refused: wrong email or password"
        );
        state.metrics.count("sign_in_failed");
        super::attempts::account_failed(state, email.normalized(), client.addr).await?;
        return Err(bad());
    };
    super::attempts::account_succeeded(state, email.normalized(), client.addr).await?;
    if user.status != crate::domain::UserStatus::Active {
        return Err(Error::forbidden(
            "account_disabled",
            "this account is deactivated: ask an administrator",
        ));
    }
    let mut tx = state.store.begin().await?;
    let tenant = pick_tenant(state, &mut tx, &user, req.tenant.as_deref()).await?;
    rbac::require_sign_in_allowed(state, &mut tx, &password_probe(&user), &tenant).await?;
    let signed = start_session(
        state,
        &mut tx,
        &user,
        &tenant,
        client,
        Method::Password,
        None,
        true,
    )
    .await?;
    let actor = audit::Actor {
        id: Some(&user.id),
        label: user.email.clone(),
        source: "api",
        request_id,
    };
    audit::record(
        tx.conn(),
        state.now_ms(),
        &actor,
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.login",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(signed)
}

/// The user as a password sign-in would be, for the sign-in rule of a tenant.
fn password_probe(user: &UserRow) -> Principal {
    Principal {
        actor: Actor::User {
            id: user.id.clone(),
            email: user.email.clone(),
            name: String::new(),
            platform_admin: user.platform_admin,
        },
        tenant_id: String::new(),
        session_id: None,
        via_cookie: false,
        rbac_generation: rbac::UNCACHED,
        method: Method::Password,
    }
}

/// The tenant a sign-in lands in: the one asked for (if the user belongs to it), else the
/// user's first tenant.
async fn pick_tenant(
    state: &AppState,
    tx: &mut Tx,
    user: &UserRow,
    wanted: Option<&str>,
) -> Result<TenantRow> {
    let probe = Principal {
        actor: Actor::User {
            id: user.id.clone(),
            email: user.email.clone(),
            name: String::new(),
            platform_admin: false,
        },
        tenant_id: String::new(),
        session_id: None,
        via_cookie: false,
        rbac_generation: rbac::UNCACHED,
        // Membership only: the sign-in rule is checked by the caller.
        method: Method::Sso,
    };
    if let Some(slug) = wanted.filter(|s| !s.is_empty()) {
        let t = store::tenants::get_by_slug(tx.conn(), slug).await?;
        if let Some(t) = t {
            let c = rbac::compiled(state, tx, &probe, &t).await?;
            if c.member || user.platform_admin {
                return Ok(t);
            }
        }
        return Err(Error::forbidden(
            "not_a_member",
            format!("you are not a member of tenant `{slug}`"),
        ));
    }
    store::tenants::of_user(tx.conn(), &user.id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::forbidden(
                "no_tenant",
                "this account belongs to no tenant yet: ask an administrator to add you",
            )
        })
}

pub async fn logout(state: &AppState, p: &Principal, request_id: Option<&str>) -> Result<()> {
    let Some(sid) = &p.session_id else {
        return Err(Error::invalid(
            "not_a_session",
            "integration tokens have no session to end: delete the token instead",
        ));
    };
    let mut tx = state.store.begin().await?;
    store::sessions::revoke(&mut tx, sid, state.now_ms()).await?;
    audit::record(
        tx.conn(),
        state.now_ms(),
        &audit::Actor::of(p, request_id),
        Event {
            tenant_id: Some(&p.tenant_id),
            action: "auth.logout",
            target_type: "session",
            target_id: Some(sid),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTenantRequest {
    pub tenant: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Switched {
    pub access_token: String,
    #[schema(value_type = String)]
    pub token_type: &'static str,
    pub expires_in: i64,
    pub tenant: String,
}

pub async fn switch_tenant(
    state: &AppState,
    p: &Principal,
    req: SwitchTenantRequest,
) -> Result<Switched> {
    let (Some(uid), Some(sid)) = (p.user_id(), p.session_id.as_deref()) else {
        return Err(Error::invalid(
            "not_a_session",
            "integration tokens are bound to one tenant",
        ));
    };
    let mut tx = state.store.begin().await?;
    let tenant = store::tenants::get_by_slug(tx.conn(), &req.tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    rbac::require_sign_in_allowed(state, &mut tx, p, &tenant).await?;
    let compiled = rbac::compiled(state, &mut tx, p, &tenant).await?;
    if !compiled.member && !p.is_platform_admin() {
        return Err(Error::NotFound("tenant"));
    }
    let user = store::users::get(tx.conn(), uid)
        .await?
        .ok_or(Error::Unauthenticated)?;
    store::sessions::set_tenant(&mut tx, sid, &tenant.id).await?;
    let mut switched = p.clone();
    switched.tenant_id = tenant.id.clone();
    let access_token = mint_for(state, &mut tx, &switched, &user, &tenant).await?;
    tx.commit().await?;
    Ok(Switched {
        access_token,
        token_type: "Bearer",
        expires_in: state.settings.session.access_token_ttl_secs,
        tenant: tenant.slug,
    })
}

// ---------------------------------------------------------------------------------------------
// Invites

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupExchangeRequest {
    pub token: String,
    pub password: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// Turns an invite into an account with the invited role, and signs the new user in.
pub async fn signup_exchange(
    state: &AppState,
    client: &ClientInfo,
    req: SignupExchangeRequest,
) -> Result<SignedIn> {
    let first = PersonName::parse(&req.first_name, "first_name")?;
    let last = req
        .last_name
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| PersonName::parse(s, "last_name"))
        .transpose()?;
    validate_password(&req.password)?;
    let now = state.now_ms();
    let hash_of = crypto::token_hash(req.token.trim());
    let invite = {
        let mut c = state.store.acquire().await?;
        store::tokens::invite_by_token(c.conn(), &hash_of).await?
    };
    let invite = check_one_time(invite.map(|i| (i.used_at, i.expires_at, i)), now, "invite")?;
    let hash = state.hasher.hash(req.password).await?;
    let mut tx = state.store.begin().await?;
    if !store::tokens::use_invite(tx.conn(), &invite.id, now).await? {
        return Err(Error::gone(
            "invite_used",
            "this invite link has already been used",
        ));
    }
    let email = Email::parse(&invite.email)?;
    if store::users::get_by_email(tx.conn(), email.normalized())
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "account_exists",
            format!(
                "this invite is for an existing account: sign in as {} and accept it with POST /api/auth/invites/accept",
                email.as_str()
            ),
        ));
    }
    let invited_to = store::tenants::get(tx.conn(), &invite.tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    // The domain may have been verified by another organisation since the invite was sent.
    crate::tenants::domains::require_may_create(&mut tx, &email, &invited_to).await?;
    let user = new_user_row(&email, first, last, Some(hash), now);
    store::users::insert(tx.conn(), &user).await?;
    store::tenants::add_member(&mut tx, &invite.tenant_id, &user.id, now).await?;
    store::roles::assign(
        &mut tx,
        &AssignmentRow {
            id: new_id(),
            user_id: user.id.clone(),
            tenant_id: invite.tenant_id.clone(),
            role_id: invite.role_id.clone(),
            source: RoleSource::Invite.as_str().into(),
            assigned_by: invite.created_by.clone(),
            assigned_at: now,
        },
    )
    .await?;
    let tenant = store::tenants::get(tx.conn(), &invite.tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let actor = audit::Actor {
        id: Some(&user.id),
        label: user.email.clone(),
        source: "api",
        request_id: None,
    };
    audit::record(
        tx.conn(),
        now,
        &actor,
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.signup",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(serde_json::json!({"email": user.email, "invite": invite.id})),
        },
    )
    .await?;
    let signed = start_session(
        state,
        &mut tx,
        &user,
        &tenant,
        client,
        Method::Invite,
        None,
        true,
    )
    .await?;
    tx.commit().await?;
    Ok(signed)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub token: String,
}

/// Joining a tenant is consented: the owner of an existing account, signed in as the invited
/// email, accepts an invite and becomes a member with the invited role.
pub async fn accept_invite(
    state: &AppState,
    p: &Principal,
    request_id: Option<&str>,
    req: AcceptInvite,
) -> Result<TenantView> {
    let Actor::User { id: uid, email, .. } = &p.actor else {
        return Err(Error::forbidden(
            "not_a_person",
            "invites are accepted by their person, signed in",
        ));
    };
    let now = state.now_ms();
    let found = {
        let mut c = state.store.acquire().await?;
        store::tokens::invite_by_token(c.conn(), &crypto::token_hash(req.token.trim())).await?
    };
    let invite = check_one_time(found.map(|i| (i.used_at, i.expires_at, i)), now, "invite")?;
    if Email::parse(email)?.normalized() != invite.email_norm {
        return Err(Error::forbidden(
            "invite_for_another_account",
            "this invite is for another email address: sign in as the invited person",
        ));
    }
    let mut tx = state.store.begin().await?;
    if !store::tokens::use_invite(tx.conn(), &invite.id, now).await? {
        return Err(Error::gone(
            "invite_used",
            "this invite link has already been used",
        ));
    }
    let tenant = store::tenants::get(tx.conn(), &invite.tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    store::tenants::ensure_member(&mut tx, &tenant.id, uid, now).await?;
    store::roles::assign(
        &mut tx,
        &AssignmentRow {
            id: new_id(),
            user_id: uid.clone(),
            tenant_id: tenant.id.clone(),
            role_id: invite.role_id.clone(),
            source: RoleSource::Invite.as_str().into(),
            assigned_by: invite.created_by.clone(),
            assigned_at: now,
        },
    )
    .await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, request_id),
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.invite_accepted",
            target_type: "user",
            target_id: Some(uid),
            before: None,
            after: Some(serde_json::json!({"invite": invite.id})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(tenant.into())
}

/// Cancels an open invite (410 for whoever uses its link afterwards).
pub async fn revoke_invite(
    state: &AppState,
    p: &Principal,
    request_id: Option<&str>,
    id: &str,
) -> Result<()> {
    let id = crate::domain::parse_id(id, "invite")?;
    let mut tx = state.store.begin().await?;
    let invite = store::tokens::get_invite(tx.conn(), &id)
        .await?
        .ok_or(Error::NotFound("invite"))?;
    let tenant = store::tenants::get(tx.conn(), &invite.tenant_id)
        .await?
        .ok_or(Error::NotFound("invite"))?;
    rbac::require_any(state, &mut tx, p, &tenant, &["users:write", "rbac:manage"])
        .await
        .map_err(|e| match e {
            Error::Forbidden { .. } => Error::NotFound("invite"),
            e => e,
        })?;
    let now = state.now_ms();
    store::tokens::void_invites(tx.conn(), &tenant.id, &invite.email_norm, now).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, request_id),
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.invite_revoked",
            target_type: "invite",
            target_id: Some(&invite.id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Shared checks of one-time links: unknown, used and expired are all 410.
fn check_one_time<T>(found: Option<(Option<i64>, i64, T)>, now: i64, what: &str) -> Result<T> {
    match found {
        None => Err(Error::gone(
            format!("{what}_invalid"),
            format!("this {what} link is not valid: ask for a new one"),
        )),
        Some((Some(_), _, _)) => Err(Error::gone(
            format!("{what}_used"),
            format!("this {what} link has already been used"),
        )),
        Some((None, exp, _)) if exp <= now => Err(Error::gone(
            format!("{what}_expired"),
            format!("this {what} link has expired: ask for a new one"),
        )),
        Some((None, _, v)) => Ok(v),
    }
}

// ---------------------------------------------------------------------------------------------
// Password resets

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    pub email: String,
}

/// Always the same answer, at once: the lookup, the link and the mail happen after it, so
/// neither the answer nor its timing tells whether the account exists. A link is mailed only
/// to an active account, at most `throttle.forgot_password_per_hour` times an hour (also
/// across replicas).
pub async fn forgot_password(state: &AppState, req: ForgotPasswordRequest) -> Result<()> {
    let Ok(email) = Email::parse(&req.email) else {
        return Ok(());
    };
    state
        .throttle
        .forgot_password(email.normalized(), &state.metrics)?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_reset(&state, &email).await {
            tracing::warn!(error = %e, "password reset request failed");
        }
    });
    Ok(())
}

async fn send_reset(state: &AppState, email: &Email) -> Result<()> {
    let user = {
        let mut c = state.store.acquire().await?;
        store::users::get_by_email(c.conn(), email.normalized()).await?
    };
    let Some(user) = user.filter(|u| u.status == crate::domain::UserStatus::Active) else {
        return Ok(());
    };
    let cap = i64::from(state.settings.throttle.forgot_password_per_hour);
    if cap > 0 {
        let recent = {
            let mut c = state.store.acquire().await?;
            store::tokens::resets_since(c.conn(), &user.id, state.now_ms() - 3_600_000).await?
        };
        if recent >= cap {
            state.metrics.count("throttled_forgot_password");
            tracing::info!(user = %user.id, "password reset not sent: the hourly cap for this account is reached");
            return Ok(());
        }
    }
    let url = create_reset(state, &user, None).await?;
    deliver_reset(state, &user, &url).await;
    Ok(())
}

async fn deliver_reset(state: &AppState, user: &UserRow, url: &str) {
    if state.mailer.is_configured() {
        let body = format!(
            "A password reset was asked for your idbridge account.\n\nSet a new password here (once, soon):\n{url}\n\nIf it was not you, ignore this mail.\n"
        );
        if let Err(e) = state
            .mailer
            .send(&user.email, "Reset your idbridge password", body)
            .await
        {
            tracing::warn!(error = %e, "password reset mail failed");
        }
    } else {
        // The link is a credential: never in a log line.
        tracing::warn!(
            event = "auth.password_reset_not_sent",
            user = %user.id,
            "mail is not configured ([mail] smtp_url): no reset link was sent; an administrator can create one with POST /api/users/{{id}}/password-reset-link"
        );
    }
}

/// A new reset link for `user`; `created_by`: the admin who asked for it and the tenant they
/// acted in (the audit event's tenant), `None` for the user's own request.
async fn create_reset(
    state: &AppState,
    user: &UserRow,
    created_by: Option<(&Principal, &str)>,
) -> Result<String> {
    let now = state.now_ms();
    let token = crypto::new_token("rst_");
    let row = ResetRow {
        id: new_id(),
        token_hash: crypto::token_hash(&token),
        user_id: user.id.clone(),
        created_by: created_by.and_then(|(p, _)| p.user_id().map(str::to_string)),
        created_at: now,
        expires_at: now + state.settings.auth.reset_ttl_minutes * 60_000,
        used_at: None,
    };
    let mut tx = state.store.begin().await?;
    store::tokens::insert_reset(tx.conn(), &row).await?;
    let actor = match created_by {
        Some((p, _)) => audit::Actor::of(p, None),
        None => audit::Actor::system("api"),
    };
    audit::record(
        tx.conn(),
        now,
        &actor,
        Event {
            tenant_id: created_by.map(|(_, t)| t),
            action: "auth.password_reset_requested",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(format!(
        "{}/reset-password?token={}",
        state.public_url, token
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetLink {
    pub url: String,
    pub expires_in: i64,
}

/// Whom a command run on the server (`idbridge import-users`) acts as, in tenant `slug`: the
/// account named by `as_email`, or else the earliest active platform admin. The services then
/// check that account's permissions as for any request, and the audit log names it.
pub async fn operator(state: &AppState, as_email: Option<&str>, slug: &str) -> Result<Principal> {
    let mut c = state.store.acquire().await?;
    let user = match as_email {
        Some(raw) => {
            let email = crate::domain::Email::parse(raw)?;
            store::users::get_by_email(c.conn(), email.normalized())
                .await?
                .filter(|u| u.status == crate::domain::UserStatus::Active)
                .ok_or_else(|| {
                    Error::invalid_field(
                        "unknown_operator",
                        "as",
                        format!("no active account {raw}: name an admin of the tenant with --as"),
                    )
                })?
        }
        None => store::users::first_platform_admin(c.conn()).await?.ok_or_else(|| {
            Error::invalid_field(
                "no_platform_admin",
                "as",
                "there is no platform admin yet: create one with `idbridge bootstrap`, or name an admin with --as",
            )
        })?,
    };
    let tenant = store::tenants::get_by_slug(c.conn(), slug)
        .await?
        .ok_or_else(|| {
            Error::invalid_field(
                "unknown_tenant",
                "tenant",
                format!("no tenant `{slug}`: `GET /api/tenants` lists them"),
            )
        })?;
    Ok(crate::rbac::ordering::as_principal(&user, &tenant))
}

/// An admin's reset link for a member of their tenant.
pub async fn admin_reset_link(
    state: &AppState,
    p: &Principal,
    user_id: &str,
    tenant: Option<&str>,
) -> Result<ResetLink> {
    let (user, t) =
        crate::users::service::load_visible_for_write(state, p, user_id, tenant).await?;
    if user.status != crate::domain::UserStatus::Active {
        return Err(Error::rule(
            "user_not_active",
            "activate the user before creating a reset link",
        ));
    }
    let url = create_reset(state, &user, Some((p, &t.id))).await?;
    Ok(ResetLink {
        url,
        expires_in: state.settings.auth.reset_ttl_minutes * 60,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub password: String,
}

/// Sets a new password from a one-time link and ends every session of the account.
pub async fn reset_password(state: &AppState, req: ResetPasswordRequest) -> Result<()> {
    validate_password(&req.password)?;
    let now = state.now_ms();
    let found = {
        let mut c = state.store.acquire().await?;
        store::tokens::reset_by_token(c.conn(), &crypto::token_hash(req.token.trim())).await?
    };
    let reset = check_one_time(found.map(|r| (r.used_at, r.expires_at, r)), now, "reset")?;
    let hash = state.hasher.hash(req.password).await?;
    let mut tx = state.store.begin().await?;
    if !store::tokens::use_reset(tx.conn(), &reset.id, now).await? {
        return Err(Error::gone(
            "reset_used",
            "this reset link has already been used",
        ));
    }
    let mut user = store::users::get(tx.conn(), &reset.user_id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if user.status != crate::domain::UserStatus::Active {
        return Err(Error::gone(
            "reset_invalid",
            "this reset link is not valid: ask for a new one",
        ));
    }
    user.password_hash = Some(hash);
    user.session_version += 1;
    user.updated_at = now;
    store::users::update(tx.conn(), &user).await?;
    store::sessions::revoke_all_for_user(&mut tx, &user.id, now).await?;
    // Any other link still out there is void now.
    store::tokens::void_resets(tx.conn(), &user.id, now).await?;
    let actor = audit::Actor {
        id: Some(&user.id),
        label: user.email.clone(),
        source: "api",
        request_id: None,
    };
    audit::record(
        tx.conn(),
        now,
        &actor,
        Event {
            tenant_id: None,
            action: "auth.password_reset",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

// ---------------------------------------------------------------------------------------------
// /api/me

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: Option<UserView>,
    pub token: Option<serde_json::Value>,
    pub tenant: TenantView,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    pub tenants: Vec<MeTenant>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeTenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent: Option<String>,
    pub current: bool,
}

pub async fn me(state: &AppState, p: &Principal) -> Result<Me> {
    let mut tx = state.store.read().await?;
    let tenant = store::tenants::get(tx.conn(), &p.tenant_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let compiled = rbac::compiled(state, &mut tx, p, &tenant).await?;
    let (user, token, tenants) = match &p.actor {
        Actor::User { id, .. } => {
            let user = store::users::get(tx.conn(), id)
                .await?
                .ok_or(Error::Unauthenticated)?;
            let mut tenants = Vec::new();
            for t in store::tenants::of_user(tx.conn(), id).await? {
                for sub in std::iter::once(t.clone())
                    .chain(store::tenants::children(tx.conn(), &t.id).await?)
                {
                    if !tenants.iter().any(|x: &MeTenant| x.id == sub.id) {
                        tenants.push(MeTenant {
                            current: sub.id == tenant.id,
                            parent: sub.parent_id.clone(),
                            id: sub.id,
                            slug: sub.slug,
                            name: sub.name,
                        });
                    }
                }
            }
            (Some(UserView::from(user)), None, tenants)
        }
        Actor::Token { id, name, .. } => (
            None,
            Some(serde_json::json!({"id": id, "name": name})),
            Vec::new(),
        ),
    };
    Ok(Me {
        user,
        token,
        roles: compiled.roles.clone(),
        permissions: compiled.effective(),
        tenant: tenant.into(),
        tenants,
    })
}
