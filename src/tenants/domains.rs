//! Verified domains (`/api/domains`): an organisation claims an email domain and proves it owns
//! it with a DNS TXT record `idbridge-verification=<token>` on the domain (looked up through
//! `dns.resolver`), or a platform admin verifies it. A domain is verified for one organisation
//! at a time.
//!
//! What verification decides, each in one place:
//! - [`require_may_create`]: once verified, only its organisation creates or invites accounts
//!   with that domain (others: 409 `domain_owned`), on every path that creates accounts;
//! - `sso::linking`: email linking needs the email's domain verified by the connection's
//!   organisation;
//! - home-realm discovery and a connection's `email_domains` (`sso::connections`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::domain::{DomainName, Email, new_id, parse_id};
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::domains::DomainRow;
use crate::store::tenants::TenantRow;
use crate::store::{self, AsConn, Tx};

/// The TXT value an organisation publishes for a claim.
pub fn txt_value(token: &str) -> String {
    format!("idbridge-verification={token}")
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DomainView {
    pub id: String,
    pub domain: String,
    /// The organisation's slug.
    pub tenant: String,
    pub verified: bool,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub verified_at: Option<i64>,
    /// `dns` or `admin`.
    pub verified_by: Option<String>,
    /// What to publish: a TXT record named `name` with the value `value`.
    pub txt_record: TxtRecord,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TxtRecord {
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub value: String,
}

fn view(r: DomainRow, org_slug: &str) -> DomainView {
    DomainView {
        txt_record: TxtRecord {
            name: r.domain.clone(),
            kind: "TXT",
            value: txt_value(&r.token),
        },
        verified: r.verified_at.is_some(),
        verified_at: r.verified_at,
        verified_by: r
            .verified_by
            .map(|b| if b == "dns" { b } else { "admin".into() }),
        tenant: org_slug.to_string(),
        id: r.id,
        domain: r.domain,
        created_at: r.created_at,
    }
}

/// The organisation of the tenant a request works in; `tenants:write` there is what managing
/// its domains needs.
async fn org_for(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    tenant: Option<&str>,
    permission: &[&str],
) -> Result<TenantRow> {
    let t = rbac::tenant_for(tx, p, tenant).await?;
    let org = match &t.parent_id {
        None => t,
        Some(_) => store::tenants::get(tx.conn(), &t.root_id)
            .await?
            .ok_or(Error::NotFound("tenant"))?,
    };
    rbac::require_any(state, tx, p, &org, permission).await?;
    Ok(org)
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<DomainView>> {
    let mut tx = state.store.read().await?;
    let org = org_for(
        state,
        &mut tx,
        p,
        tenant,
        &["tenants:write", "sso:read", "sso:manage"],
    )
    .await?;
    Ok(store::domains::list(tx.conn(), &org.id)
        .await?
        .into_iter()
        .map(|r| view(r, &org.slug))
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub domain: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// Claims a domain for the organisation (pending until verified).
pub async fn claim(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: Claim,
) -> Result<DomainView> {
    let domain = DomainName::parse(&req.domain, "domain")?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let org = org_for(state, &mut tx, p, req.tenant.as_deref(), &["tenants:write"]).await?;
    let row = DomainRow {
        id: new_id(),
        tenant_id: org.id.clone(),
        domain: domain.as_str().to_string(),
        token: crate::crypto::hex(&crate::crypto::random_bytes::<16>()),
        verified_at: None,
        verified_by: None,
        created_by: p.user_id().map(str::to_string),
        created_at: now,
    };
    store::domains::insert(tx.conn(), &row).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "domain.claim",
            target_type: "domain",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"domain": row.domain})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view(row, &org.slug))
}

/// A claim the caller may manage (404 otherwise: no oracle for other organisations' claims).
async fn load(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    id: &str,
) -> Result<(DomainRow, TenantRow)> {
    let id = parse_id(id, "domain")?;
    let row = store::domains::get(tx.conn(), &id)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    let org = store::tenants::get(tx.conn(), &row.tenant_id)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    rbac::require(state, tx, p, &org, "tenants:write")
        .await
        .map_err(|e| match e {
            Error::Forbidden { .. } => Error::NotFound("domain"),
            e => e,
        })?;
    Ok((row, org))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// `dns` (default): look the TXT record up. `admin`: a platform admin vouches for it.
    #[serde(default)]
    pub method: Option<String>,
}

pub async fn verify(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    req: Verify,
) -> Result<DomainView> {
    let (row, org) = {
        let mut tx = state.store.read().await?;
        load(state, &mut tx, p, id).await?
    };
    if row.verified_at.is_some() {
        return Ok(view(row, &org.slug));
    }
    let by = match req.method.as_deref().unwrap_or("dns") {
        "dns" => {
            // Outside any transaction: a DNS lookup may take seconds.
            let expected = txt_value(&row.token);
            let found = state.dns.txt(&row.domain).await.map_err(|e| {
                Error::rule(
                    "verification_failed",
                    format!("cannot look up the TXT records of {}: {e}", row.domain),
                )
            })?;
            if !found.iter().any(|t| t.trim() == expected) {
                return Err(Error::rule(
                    "verification_failed",
                    format!(
                        "no TXT record `{expected}` on {} yet ({} other TXT records found); publish it at your DNS provider and try again (DNS changes can take a while to appear)",
                        row.domain,
                        found.len()
                    ),
                ));
            }
            "dns".to_string()
        }
        "admin" if p.is_platform_admin() => format!("admin:{}", p.user_id().unwrap_or("")),
        "admin" => {
            return Err(Error::forbidden(
                "platform_admin_required",
                "only platform administrators verify a domain without DNS",
            ));
        }
        other => {
            return Err(Error::invalid_field(
                "invalid_method",
                "method",
                format!("method `{other}` is not dns or admin"),
            ));
        }
    };
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut row, org) = load(state, &mut tx, p, id).await?;
    if let Some(other) = store::domains::owner(tx.conn(), &row.domain).await?
        && other != org.id
    {
        return Err(Error::conflict(
            "domain_verified_elsewhere",
            format!(
                "{} is verified by another organisation; it must release it first (or a platform admin resolves it)",
                row.domain
            ),
        ));
    }
    store::domains::set_verified(tx.conn(), &row.id, now, &by).await?;
    row.verified_at = Some(now);
    row.verified_by = Some(by.clone());
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "domain.verify",
            target_type: "domain",
            target_id: Some(&row.id),
            before: None,
            after: Some(
                json!({"domain": row.domain, "method": if by == "dns" { "dns" } else { "admin" }}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view(row, &org.slug))
}

pub async fn delete(state: &AppState, p: &Principal, rid: Option<&str>, id: &str) -> Result<()> {
    let mut tx = state.store.begin().await?;
    let (row, org) = load(state, &mut tx, p, id).await?;
    store::domains::delete(tx.conn(), &row).await?;
    audit::record(
        tx.conn(),
        state.now_ms(),
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "domain.delete",
            target_type: "domain",
            target_id: Some(&row.id),
            before: Some(json!({"domain": row.domain, "verified": row.verified_at.is_some()})),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    pub domain: String,
    /// The organisation that verified the domain (slug).
    pub tenant: String,
    pub user_id: String,
    pub email: String,
    pub platform_admin: bool,
    /// The organisations the account belongs to (slugs).
    pub member_of: Vec<String>,
}

/// Accounts on a verified domain that belong to another organisation (or are platform admins):
/// the owner's SSO refuses to link them until a platform admin resolves it. Platform admins
/// only.
pub async fn conflicts(state: &AppState, p: &Principal) -> Result<Vec<Conflict>> {
    if !p.is_platform_admin() {
        return Err(Error::forbidden(
            "platform_admin_required",
            "only platform administrators see accounts across organisations",
        ));
    }
    let mut tx = state.store.read().await?;
    let mut out = Vec::new();
    for c in store::domains::conflicts(tx.conn()).await? {
        let tenant = store::tenants::get(tx.conn(), &c.tenant_id)
            .await?
            .map(|t| t.slug)
            .unwrap_or_default();
        let mut member_of: Vec<String> = store::tenants::of_user(tx.conn(), &c.user_id)
            .await?
            .into_iter()
            .map(|t| t.slug)
            .collect();
        member_of.sort();
        out.push(Conflict {
            domain: c.domain,
            tenant,
            user_id: c.user_id,
            email: c.email,
            platform_admin: c.platform_admin,
            member_of,
        });
    }
    Ok(out)
}

/// The organisation that verified the email's domain, if any.
pub async fn owner_of(db: &mut impl AsConn, email: &Email) -> Result<Option<String>> {
    store::domains::owner(db.conn(), email.domain()).await
}

/// Refuses (409 `domain_owned`) to create or invite an account with an email whose domain
/// another organisation than `tenant`'s verified.
pub async fn require_may_create(
    db: &mut impl AsConn,
    email: &Email,
    tenant: &TenantRow,
) -> Result<()> {
    match owner_of(db, email).await? {
        Some(org) if org != tenant.root_id => Err(Error::Conflict {
            code: "domain_owned".into(),
            message: format!(
                "{} is a verified domain of another organisation: only it can create accounts with this email",
                email.domain()
            ),
            field: Some("email".into()),
        }),
        _ => Ok(()),
    }
}
