//! The explain dry run: what a sign-in through a connection would do with these claims (the
//! identity, the account, the roles and the rule behind each), decided by the same functions as
//! the sign-in and writing nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{connection, jit};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;
use crate::tenants::settings::RoleSource;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The connection's id.
    pub connection: String,
    /// Claims as the IdP would send them (ID token or userinfo), with the connection's names.
    /// SAML: the attributes by name (a string or a list of strings each) and the NameID as
    /// `name_id`.
    #[schema(value_type = Object)]
    pub claims: Value,
}

/// What a sign-in through a connection would do with these claims.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explained {
    /// The connection's id.
    pub connection: String,
    /// The slug of the connection's tenant.
    pub tenant: String,
    pub issuer: String,
    pub subject: String,
    /// The groups read from the claims (the groups and roles claims, or the groups attribute).
    pub groups: Vec<String>,
    /// `idp`, `local` or `scim`.
    pub role_source: &'static str,
    pub user: ExplainedUser,
    pub roles: Vec<ExplainedRole>,
}

/// The account a sign-in would use. An account outside the caller's organisation is never
/// revealed to a tenant admin (`create_or_refused`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "match", rename_all = "snake_case")]
pub enum ExplainedUser {
    /// The connection already knows this identity: its user signs in.
    Identity { user_id: String },
    /// An account with the email may be linked: it is linked and signs in.
    EmailLink { user_id: String },
    /// No account has the email: the sign-in creates one (shown to platform admins).
    Create { email: String },
    /// No account of this organisation has the email: the sign-in creates one, unless the
    /// email belongs to an account outside the organisation.
    CreateOrRefused { email: String, reason: String },
    /// The sign-in is refused; `reason` starts with the stable cause (`sso.email_missing`,
    /// `sso.domain_owned`, ...).
    Refused {
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        reason: String,
    },
}

/// A role the sign-in would give, and the rule behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedRole {
    /// The role's name; absent when sign-in does not decide roles (`role_source` `local` or
    /// `scim`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub rule: String,
}

pub async fn explain(s: &AppState, p: &Principal, req: ExplainRequest) -> Result<Explained> {
    let mut tx = s.store.read().await?;
    let row = store::sso::get(tx.conn(), &req.connection)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    let tenant = store::tenants::get(tx.conn(), &row.tenant_id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    crate::rbac::service::require(s, &mut tx, p, &tenant, "sso:read").await?;
    let c = &req.claims;
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| match c.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(x)) => vec![x.clone()],
        _ => Vec::<String>::new(),
    };
    // The same identity the sign-in would build, from claims (OIDC) or attributes (SAML).
    let (subject, issuer, email, verified, groups, allow_linking) =
        if row.kind == crate::domain::ConnectionKind::Saml {
            let cfg = super::saml_sp::config_of(&row)?;
            let name_id = text("name_id").or_else(|| text("sub")).ok_or_else(|| {
                Error::invalid_field(
                    "invalid_claims",
                    "claims",
                    "claims.name_id (the NameID) is required",
                )
            })?;
            let attributes = c
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "name_id" && *k != "sub")
                .map(|(k, _)| (k.clone(), list(k)))
                .collect();
            let asserted = crate::engine::saml::Asserted {
                id: String::new(),
                remember_until_ms: 0,
                name_id,
                name_id_format: None,
                session_index: None,
                attributes,
            };
            let ext = super::saml_sp::identity(&row, &cfg, &asserted);
            (
                ext.subject,
                ext.issuer,
                ext.email,
                ext.email_verified,
                ext.groups.unwrap_or_default(),
                cfg.allow_email_linking,
            )
        } else {
            let cfg = connection::config_of(&row)?;
            let mut groups = list(&cfg.groups_claim);
            groups.extend(list(&cfg.roles_claim));
            let subject = text("sub").ok_or_else(|| {
                Error::invalid_field("invalid_claims", "claims", "claims.sub is required")
            })?;
            let verified = matches!(c.get("email_verified"), Some(Value::Bool(true)))
                || text("email_verified").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            (
                subject,
                text("iss").unwrap_or_else(|| cfg.issuer.clone()),
                text(&cfg.email_claim),
                verified,
                groups,
                cfg.allow_email_linking,
            )
        };
    let via = super::linking::Via::Sso {
        allow_email_linking: allow_linking,
        email_verified: verified,
        platform_managed: row.platform_managed,
    };
    let user = explain_user(&mut tx, p, &row, &tenant, &issuer, &subject, email, via).await?;
    let source = jit::role_source(&tenant)?;
    let roles = match source {
        RoleSource::Idp => jit::decide_roles(s, &mut tx, &tenant, &groups)
            .await?
            .into_iter()
            .map(|m| ExplainedRole {
                role: Some(m.role),
                rule: m.rule,
            })
            .collect(),
        RoleSource::Local => vec![ExplainedRole {
            role: None,
            rule: "role_source local: roles are managed in idbridge; a new user gets the default role once".into(),
        }],
        RoleSource::Scim => vec![ExplainedRole {
            role: None,
            rule: "role_source scim: SCIM decides roles; sign-in never changes them".into(),
        }],
    };
    Ok(Explained {
        connection: row.id,
        tenant: tenant.slug,
        issuer,
        subject,
        groups,
        role_source: source.as_str(),
        user,
        roles,
    })
}

/// Why an explanation cannot say more about an account (see [`explain_user`]).
const HIDDEN: &str = "no account of this organisation has this email: a sign-in creates one, unless the email belongs to an account outside the organisation (then it is refused)";

/// What a sign-in would do with the account, decided by the same functions as the sign-in
/// (`sso::linking`, domain ownership). An account outside the caller's organisation is never
/// revealed: "no account of yours" and "an account elsewhere" read the same to a tenant admin.
#[allow(clippy::too_many_arguments)]
async fn explain_user(
    tx: &mut store::Tx,
    p: &Principal,
    row: &store::sso::ConnectionRow,
    tenant: &store::tenants::TenantRow,
    issuer: &str,
    subject: &str,
    email: Option<String>,
    via: super::linking::Via,
) -> Result<ExplainedUser> {
    if let Some(i) = store::sso::identity(tx.conn(), &row.id, issuer, subject).await? {
        return Ok(ExplainedUser::Identity { user_id: i.user_id });
    }
    let Some((email, e)) =
        email.and_then(|raw| crate::domain::Email::parse(&raw).ok().map(|e| (raw, e)))
    else {
        return Ok(ExplainedUser::Refused {
            user_id: None,
            reason: "sso.email_missing: the IdP sent no usable email".into(),
        });
    };
    let hidden = || ExplainedUser::CreateOrRefused {
        email: email.clone(),
        reason: HIDDEN.into(),
    };
    // Domain ownership is public (DNS says it): a refusal for it reveals no account.
    if let Err(err) = crate::tenants::domains::require_may_create(tx, &e, tenant).await {
        return Ok(ExplainedUser::Refused {
            user_id: None,
            reason: format!("sso.domain_owned: {err}"),
        });
    }
    let Some(u) = store::users::get_by_email(tx.conn(), e.normalized()).await? else {
        return Ok(if p.is_platform_admin() {
            ExplainedUser::Create {
                email: email.clone(),
            }
        } else {
            hidden()
        });
    };
    let verdict = super::linking::check(tx, tenant, &u, via).await?;
    Ok(match verdict {
        super::linking::Verdict::Link => ExplainedUser::EmailLink { user_id: u.id },
        v if v.reveals_other_organisation() && !p.is_platform_admin() => hidden(),
        super::linking::Verdict::Refuse { reason, detail } => ExplainedUser::Refused {
            user_id: Some(u.id),
            reason: format!("{reason}: {detail}"),
        },
    })
}
