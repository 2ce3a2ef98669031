//! Invitations: a one-time link that lets a person join a tenant with one role (mailed when
//! mail is set up). The invitee turns it into an account (`service::signup_exchange`) or, with
//! an account already, accepts it signed in (`service::accept_invite`).

use super::principal::Principal;
use crate::audit::{self, Event};
use crate::crypto;
use crate::domain::{Email, new_id};
use crate::error::{Error, Result};
use crate::rbac::roles;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;
use crate::store::tokens::InviteRow;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_id: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InviteCreated {
    pub id: String,
    pub email: String,
    pub tenant: String,
    pub role: String,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
    pub mail_sent: bool,
    /// The one-time link; present only when it was not mailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

pub async fn invite(
    state: &AppState,
    p: &Principal,
    request_id: Option<&str>,
    req: InviteRequest,
) -> Result<InviteCreated> {
    let email = Email::parse(&req.email)?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let tenant = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require_any(state, &mut tx, p, &tenant, &["users:write", "rbac:manage"]).await?;
    crate::tenants::domains::require_may_create(&mut tx, &email, &tenant).await?;
    let role = match roles::resolve(
        &mut tx,
        &tenant,
        req.role_id.as_deref(),
        req.role.as_deref(),
    )
    .await?
    {
        Some(r) => r,
        None => roles::default_role(&mut tx, &tenant).await?,
    };
    // An invite's role is a grant, the default role included: the inviter must hold all of it.
    crate::rbac::grant::require_may_grant(
        state,
        &mut tx,
        p,
        &tenant,
        &role,
        &["users:write", "rbac:manage"],
    )
    .await?;
    // An existing account is invited like a new person (the same answer: no enumeration); it
    // joins only when its owner, signed in, accepts (POST /api/auth/invites/accept).
    if let Some(u) = store::users::get_by_email(tx.conn(), email.normalized()).await?
        && store::tenants::is_member(tx.conn(), &tenant.id, &u.id).await?
    {
        return Err(Error::conflict(
            "already_member",
            "this person is already a member of the tenant",
        ));
    }
    // A new invite replaces the open ones for the same person and tenant.
    store::tokens::void_invites(tx.conn(), &tenant.id, email.normalized(), now).await?;
    let token = crypto::new_token("inv_");
    let row = InviteRow {
        id: new_id(),
        token_hash: crypto::token_hash(&token),
        tenant_id: tenant.id.clone(),
        email: email.as_str().to_string(),
        email_norm: email.normalized().to_string(),
        role_id: role.id.clone(),
        created_by: p.user_id().map(str::to_string),
        created_at: now,
        expires_at: now + state.settings.auth.invite_ttl_hours * 3_600_000,
        used_at: None,
    };
    store::tokens::insert_invite(tx.conn(), &row).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, request_id),
        Event {
            tenant_id: Some(&tenant.id),
            action: "auth.invite",
            target_type: "invite",
            target_id: Some(&row.id),
            before: None,
            after: Some(serde_json::json!({"email": row.email, "role": role.name})),
        },
    )
    .await?;
    tx.commit().await?;
    let url = format!("{}/signup?token={}", state.public_url, token);
    let mail_sent = if state.mailer.is_configured() {
        let body = format!(
            "You have been invited to {} on idbridge.\n\nSet your password here (valid for {} hours, once):\n{}\n",
            tenant.name, state.settings.auth.invite_ttl_hours, url
        );
        match state
            .mailer
            .send(
                email.as_str(),
                &format!("Invitation to {}", tenant.name),
                body,
            )
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, invite = %row.id, "invite mail failed; the link is in the API response");
                false
            }
        }
    } else {
        false
    };
    Ok(InviteCreated {
        id: row.id,
        email: row.email,
        tenant: tenant.slug,
        role: role.name,
        expires_at: row.expires_at,
        mail_sent,
        invite_url: (!mail_sent).then(|| url.clone()),
        token: (!mail_sent).then_some(token),
    })
}
