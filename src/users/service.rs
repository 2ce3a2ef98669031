//! User operations. Every function opens one transaction, checks the permission it needs in
//! the tenant it works in, and writes an audit event with the change.
//!
//! Business rules (004_*): you cannot delete yourself or change your own status; deactivating
//! or deleting ends every session at once; restore brings the account back active with its
//! profile; the last admin of a tenant cannot be removed (409).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{UserView, new_user_row, refresh_keys};
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::domain::{Email, PersonName, parse_id, validate_password};
use crate::error::{Error, Result};
use crate::http::page::Page;
use crate::rbac::ordering::{self, Reach};
use crate::rbac::roles::AdminGuard;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::users::{After, ListQuery, SortKey, UserRow};
use crate::store::{self, Tx};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Matches the email or the name (case-insensitive substring).
    pub search: Option<String>,
    /// `active`, `inactive` or `deleted`.
    pub status: Option<String>,
    /// Include deleted users.
    pub include_deleted: Option<bool>,
    /// `name` (the default), `email`, `created` or `last_login`.
    pub sort: Option<String>,
    /// `asc` (the default) or `desc`.
    pub order: Option<String>,
    /// 1 to 200 (default 50).
    pub page_size: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The tenant's slug; default: the caller's current tenant.
    pub tenant: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    s: String,
    o: String,
    t: Option<String>,
    i: Option<i64>,
    id: String,
}

pub async fn list(state: &AppState, p: &Principal, q: ListParams) -> Result<Page<UserView>> {
    let mut tx = state.store.read().await?;
    let tenant = rbac::tenant_for(&mut tx, p, q.tenant.as_deref()).await?;
    rbac::require_any(state, &mut tx, p, &tenant, &["users:read", "rbac:manage"]).await?;
    let sort_name = q.sort.as_deref().unwrap_or("name");
    let sort = match sort_name {
        "name" => SortKey::Name,
        "email" => SortKey::Email,
        "created" => SortKey::Created,
        "last_login" => SortKey::LastLogin,
        other => {
            return Err(Error::invalid_field(
                "invalid_sort",
                "sort",
                format!("sort `{other}` is not one of name, email, created, last_login"),
            ));
        }
    };
    let order = q.order.as_deref().unwrap_or("asc");
    let descending = match order {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(Error::invalid_field(
                "invalid_order",
                "order",
                format!("order `{other}` is not asc or desc"),
            ));
        }
    };
    if let Some(s) = &q.status
        && !["active", "inactive", "deleted"].contains(&s.as_str())
    {
        return Err(Error::invalid_field(
            "invalid_status",
            "status",
            "status must be active, inactive or deleted",
        ));
    }
    let limit = q.page_size.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid_field(
            "invalid_page_size",
            "page_size",
            "page_size must be between 1 and 200",
        ));
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let bad = || {
                Error::invalid_field(
                    "invalid_cursor",
                    "cursor",
                    "cursor is not valid for this sort and order: start again without it",
                )
            };
            let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
            let cur: Cursor = serde_json::from_slice(&raw).map_err(|_| bad())?;
            if cur.s != sort_name || cur.o != order {
                return Err(bad());
            }
            Some(match (cur.t, cur.i) {
                (Some(t), None) if sort.is_text() => After::Text(t, cur.id),
                (None, Some(i)) if !sort.is_text() => After::Int(i, cur.id),
                _ => return Err(bad()),
            })
        }
    };
    let search = q
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    if search.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(Error::invalid_field(
            "invalid_search",
            "search",
            "search must be at most 200 characters",
        ));
    }
    let query = ListQuery {
        tenant_id: tenant.id.clone(),
        search,
        status: q.status.clone(),
        include_deleted: q.include_deleted.unwrap_or(false),
        sort,
        descending,
        limit: limit + 1,
        after,
    };
    let mut rows = store::users::list(tx.conn(), &query).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|u| {
            let (t, i) = match sort {
                SortKey::Name => (Some(u.sort_name.clone()), None),
                SortKey::Email => (Some(u.email_norm.clone()), None),
                SortKey::Created => (None, Some(u.created_at)),
                SortKey::LastLogin => (None, Some(u.last_login_at.unwrap_or(0))),
            };
            let cur = Cursor {
                s: sort_name.into(),
                o: order.into(),
                t,
                i,
                id: u.id.clone(),
            };
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cur).unwrap_or_default())
        })
    } else {
        None
    };
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let roles = store::users::role_names(tx.conn(), &tenant.id, &ids).await?;
    let items = rows
        .into_iter()
        .map(|u| {
            let mine = roles
                .iter()
                .filter(|(uid, _)| *uid == u.id)
                .map(|(_, r)| r.clone())
                .collect();
            let mut v = UserView::from(u);
            v.roles = Some(mine);
            v
        })
        .collect();
    Ok(Page { items, next_cursor })
}

pub use super::stats_cache::Stats;

pub async fn stats(state: &AppState, p: &Principal, tenant: Option<&str>) -> Result<Stats> {
    let mut tx = state.store.read().await?;
    let tenant = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require_any(state, &mut tx, p, &tenant, &["users:read", "rbac:manage"]).await?;
    // Read before counting: a write committed meanwhile leaves the entry stale-stamped.
    let (writes, now) = (state.generations.writes(), state.now_ms());
    use super::stats_cache::Cached;
    match state.user_stats.lookup(&tenant.id, writes, now) {
        Cached::Fresh(s) => Ok(s),
        Cached::Stale(s) => {
            drop(tx);
            let (state, tenant_id) = (state.clone(), tenant.id.clone());
            tokio::spawn(async move {
                if let Err(e) = recount(&state, &tenant_id, writes, now).await {
                    state.user_stats.forget(&tenant_id);
                    tracing::warn!(error = %e, "recounting the users page's counts failed");
                }
            });
            Ok(s)
        }
        Cached::Missing => {
            drop(tx);
            recount(state, &tenant.id, writes, now).await
        }
    }
}

/// Counts a tenant's users for the stat cards and keeps the counts (`writes` and `now` read
/// before counting).
async fn recount(state: &AppState, tenant_id: &str, writes: i64, now: i64) -> Result<Stats> {
    let mut c = state.store.acquire().await?;
    let s = store::users::stats(c.conn(), tenant_id, now - 7 * 24 * 3_600_000).await?;
    let admins = store::roles::admin_count(c.conn(), tenant_id).await?;
    let out = Stats {
        total: s.total,
        admins,
        active: s.active,
        new_this_week: s.new_this_week,
    };
    state.user_stats.keep(tenant_id, writes, now, &out);
    Ok(out)
}

/// Whether `create` would take this email in the tenant: the same parse, domain-ownership and
/// uniqueness rules, answered before the form is sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailCheck {
    pub available: bool,
    /// Why not: `invalid`, `email_taken`, `domain_owned` (absent when available).
    pub code: Option<String>,
    /// What to tell the person typing (empty when available).
    pub message: String,
}

pub async fn email_check(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
    raw: &str,
) -> Result<EmailCheck> {
    let mut tx = state.store.read().await?;
    let tenant = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &tenant, "users:write").await?;
    let refused = |e: Error| match e {
        Error::Invalid { message, .. } => Ok(EmailCheck {
            available: false,
            code: Some("invalid".into()),
            message,
        }),
        Error::Conflict { code, message, .. } => Ok(EmailCheck {
            available: false,
            code: Some(code.into_owned()),
            message,
        }),
        e => Err(e),
    };
    let email = match Email::parse(raw) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    if let Err(e) = crate::tenants::domains::require_may_create(&mut tx, &email, &tenant).await {
        return refused(e);
    }
    if store::users::get_by_email(tx.conn(), email.normalized())
        .await?
        .is_some()
    {
        return Ok(EmailCheck {
            available: false,
            code: Some("email_taken".into()),
            message: "a user with this email already exists".into(),
        });
    }
    Ok(EmailCheck {
        available: true,
        code: None,
        message: String::new(),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateUser,
) -> Result<UserView> {
    let email = Email::parse(&req.email)?;
    let first = PersonName::parse(&req.first_name, "first_name")?;
    let last = optional_name(req.last_name.as_deref())?;
    validate_password(&req.password)?;
    {
        // Check the permission before spending a password hash on the request.
        let mut tx = state.store.read().await?;
        let tenant = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
        rbac::require(state, &mut tx, p, &tenant, "users:write").await?;
    }
    let hash = state.hasher.hash(req.password).await?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let tenant = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &tenant, "users:write").await?;
    crate::tenants::domains::require_may_create(&mut tx, &email, &tenant).await?;
    let user = new_user_row(&email, first, last, Some(hash), now);
    store::users::insert(tx.conn(), &user).await?;
    store::tenants::add_member(&mut tx, &tenant.id, &user.id, now).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&tenant.id),
            action: "user.create",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(snapshot(&user)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user.into())
}

fn optional_name(raw: Option<&str>) -> Result<Option<PersonName>> {
    raw.filter(|s| !s.trim().is_empty())
        .map(|s| PersonName::parse(s, "last_name"))
        .transpose()
}

/// What the audit log keeps of a user (never the password hash).
pub(super) fn snapshot(u: &UserRow) -> serde_json::Value {
    json!({"email": u.email, "first_name": u.first_name, "last_name": u.last_name, "status": u.status.as_str()})
}

/// Loads a user that the caller may see in `tenant` (404 otherwise: no existence oracle).
async fn load_visible(tx: &mut Tx, tenant_id: &str, user_id: &str) -> Result<UserRow> {
    let id = parse_id(user_id, "user")?;
    if !store::users::visible_in(tx.conn(), &id, tenant_id).await? {
        return Err(Error::NotFound("user"));
    }
    store::users::get(tx.conn(), &id)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// A user the caller may change, and the tenant the change is made in: visible there,
/// `users:write` held there, and the privilege-ordering rule over the whole account
/// (`rbac::ordering`).
async fn load_for_write(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    tenant: Option<&str>,
    user_id: &str,
) -> Result<(UserRow, TenantRow)> {
    let t = rbac::tenant_for(tx, p, tenant).await?;
    rbac::require(state, tx, p, &t, "users:write").await?;
    let user = load_visible(tx, &t.id, user_id).await?;
    ordering::require_may_act_on(state, tx, p, &t, &user, Reach::Account).await?;
    Ok((user, t))
}

/// For other features (admin reset link): the user, if the caller may change them, and the
/// tenant the caller acts in.
pub async fn load_visible_for_write(
    state: &AppState,
    p: &Principal,
    user_id: &str,
    tenant: Option<&str>,
) -> Result<(UserRow, TenantRow)> {
    let mut tx = state.store.read().await?;
    load_for_write(state, &mut tx, p, tenant, user_id).await
}

pub async fn get(
    state: &AppState,
    p: &Principal,
    id: &str,
    tenant: Option<&str>,
) -> Result<UserView> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    if p.user_id() != Some(id) {
        rbac::require_any(state, &mut tx, p, &t, &["users:read", "rbac:manage"]).await?;
    }
    let user = load_visible(&mut tx, &t.id, id).await?;
    let roles = store::users::role_names(tx.conn(), &t.id, std::slice::from_ref(&user.id)).await?;
    let mut v = UserView::from(user);
    v.roles = Some(roles.into_iter().map(|(_, r)| r).collect());
    Ok(v)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    pub first_name: Option<String>,
    /// Absent: unchanged; `null` (or `""`): cleared; a string: set.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Present only to refuse it with a clear error: email is immutable.
    #[serde(default)]
    #[schema(ignore)]
    pub email: Option<serde_json::Value>,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// Tells `null` apart from an absent field: a present field is always `Some` (serde's default
/// for `Option<Option<_>>` reads `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn patch(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    req: PatchUser,
) -> Result<UserView> {
    if req.email.is_some() {
        return Err(Error::invalid_field(
            "email_immutable",
            "email",
            "email cannot be changed after the user is created",
        ));
    }
    let first = req
        .first_name
        .as_deref()
        .map(|s| PersonName::parse(s, "first_name"))
        .transpose()?;
    let last = match &req.last_name {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(optional_name(Some(s))?),
    };
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut user, t) = load_for_write(state, &mut tx, p, req.tenant.as_deref(), id).await?;
    let before = snapshot(&user);
    if let Some(f) = first {
        user.first_name = f.into_inner();
    }
    if let Some(l) = last {
        user.last_name = l.map(PersonName::into_inner);
    }
    refresh_keys(&mut user);
    let mut guard = None;
    if let Some(active) = req.active {
        if p.user_id() == Some(user.id.as_str()) {
            return Err(Error::forbidden(
                "cannot_change_own_status",
                "you cannot activate or deactivate your own account",
            ));
        }
        match (active, user.status) {
            (_, crate::domain::UserStatus::Deleted) => {
                return Err(Error::conflict(
                    "user_deleted",
                    "this user is deleted: restore them with POST /api/users/{id}/restore",
                ));
            }
            (false, crate::domain::UserStatus::Active) => {
                guard = Some(AdminGuard::before(&mut tx, &user.id).await?);
                user.status = crate::domain::UserStatus::Inactive;
                end_sessions(&mut tx, &mut user, now).await?;
            }
            (true, crate::domain::UserStatus::Inactive) => {
                user.status = crate::domain::UserStatus::Active
            }
            _ => {}
        }
    }
    user.updated_at = now;
    store::users::update(tx.conn(), &user).await?;
    if let Some(g) = guard {
        g.check(&mut tx).await?;
    }
    let action = match req.active {
        Some(false) => "user.deactivate",
        Some(true) => "user.activate",
        None => "user.update",
    };
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action,
            target_type: "user",
            target_id: Some(&user.id),
            before: Some(before),
            after: Some(snapshot(&user)),
        },
    )
    .await?;
    tx.bump(store::Counter::Rbac).await?;
    tx.commit().await?;
    Ok(user.into())
}

/// Ends every session of the user at once: bumps the session version (which also voids every
/// access token bound to those sessions) and marks the sessions revoked.
async fn end_sessions(tx: &mut Tx, user: &mut UserRow, now: i64) -> Result<u64> {
    user.session_version += 1;
    store::sessions::revoke_all_for_user(tx, &user.id, now).await
}

pub async fn delete(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<()> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut user, t) = load_for_write(state, &mut tx, p, tenant, id).await?;
    if p.user_id() == Some(user.id.as_str()) {
        return Err(Error::forbidden(
            "cannot_delete_self",
            "you cannot delete your own account",
        ));
    }
    if user.status == crate::domain::UserStatus::Deleted {
        return Err(Error::NotFound("user"));
    }
    let before = snapshot(&user);
    let guard = AdminGuard::before(&mut tx, &user.id).await?;
    user.status = crate::domain::UserStatus::Deleted;
    user.deleted_at = Some(now);
    user.updated_at = now;
    end_sessions(&mut tx, &mut user, now).await?;
    store::users::update(tx.conn(), &user).await?;
    guard.check(&mut tx).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "user.delete",
            target_type: "user",
            target_id: Some(&user.id),
            before: Some(before),
            after: Some(snapshot(&user)),
        },
    )
    .await?;
    tx.bump(store::Counter::Rbac).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn restore(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<UserView> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut user, t) = load_for_write(state, &mut tx, p, tenant, id).await?;
    if user.status != crate::domain::UserStatus::Deleted {
        return Err(Error::conflict(
            "user_not_deleted",
            "only deleted users can be restored",
        ));
    }
    let before = snapshot(&user);
    user.status = crate::domain::UserStatus::Active;
    user.deleted_at = None;
    user.updated_at = now;
    store::users::update(tx.conn(), &user).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "user.restore",
            target_type: "user",
            target_id: Some(&user.id),
            before: Some(before),
            after: Some(snapshot(&user)),
        },
    )
    .await?;
    tx.bump(store::Counter::Rbac).await?;
    tx.commit().await?;
    Ok(user.into())
}

/// "Sign out everywhere": revokes every session of the user.
pub async fn revoke_sessions(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<u64> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut user, t) = if p.user_id() == Some(id) {
        let user = store::users::get(tx.conn(), id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        (user, rbac::tenant_for(&mut tx, p, tenant).await?)
    } else {
        load_for_write(state, &mut tx, p, tenant, id).await?
    };
    let n = end_sessions(&mut tx, &mut user, now).await?;
    user.updated_at = now;
    store::users::update(tx.conn(), &user).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "user.sessions_revoked",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(json!({"sessions": n})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
