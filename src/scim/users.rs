//! SCIM Users: create, read, replace, patch, delete, one transaction per request.
//!
//! A SCIM user is the IdP's record in one tenant. On create it links to the idbridge user with
//! its email (primary, else work, else first, else a userName that is an email): a new user is
//! created when none exists; an existing one is linked only when all its memberships are in this
//! tenant's organisation and it is not a platform admin, so an IdP can never take over another
//! tenant's account. A record without a usable or linkable email is kept unlinked.
//!
//! `active: false` deactivates the linked user and ends every session at once; DELETE
//! deprovisions: the record goes (later GET 404), the user leaves the tenant with its roles and
//! sessions, and is deactivated. Roles come from groups (see `roles`).

use serde_json::{Map, Value, json};

use super::auth::ScimClient;
use super::roles;
use super::wire;
use crate::audit::{self, Event};
use crate::domain::{Email, PersonName, new_id};
use crate::engine::group_map::Mapped;
use crate::engine::scim::error::ScimError;
use crate::engine::scim::patch;
use crate::engine::scim::resource::{self, Selector};
use crate::engine::scim::schema::{self, Kind};
use crate::sso::{jit, linking};
use crate::state::AppState;
use crate::store::stmt::Batch;
use crate::store::{self, AsConn, Tx, scim::ScimUserRow, tenants::TenantRow, users::UserRow};

pub type Result<T> = std::result::Result<T, ScimError>;

/// The columns derived from a stored resource.
struct Derived {
    user_name: String,
    external_id: Option<String>,
    display_name_norm: Option<String>,
    active: bool,
    emails: Vec<String>,
}

fn derive(r: &Map<String, Value>) -> Derived {
    let user_name = r
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut emails: Vec<String> = r
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect();
    emails.sort();
    emails.dedup();
    Derived {
        user_name,
        external_id: r
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string),
        display_name_norm: r
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        active: r.get("active").and_then(Value::as_bool).unwrap_or(true),
        emails,
    }
}

/// The email that identifies the person: primary, else work, else first, else the userName.
fn identity_email(r: &Map<String, Value>) -> Option<Email> {
    let emails: Vec<&Value> = r
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let pick = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
        })
        .or_else(|| emails.first())
        .and_then(|e| e.get("value").and_then(Value::as_str));
    pick.and_then(|e| Email::parse(e).ok()).or_else(|| {
        r.get("userName")
            .and_then(Value::as_str)
            .and_then(|u| Email::parse(u).ok())
    })
}

/// First and last name for the idbridge user, from `name`, else `displayName`, else the email.
fn person_names(r: &Map<String, Value>, email: &Email) -> (PersonName, Option<PersonName>) {
    let get = |k: &str| {
        r.get("name")
            .and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .and_then(|s| PersonName::parse(s, "first_name").ok())
    };
    let mut first = get("givenName");
    let mut last = get("familyName");
    if first.is_none()
        && let Some(d) = r.get("displayName").and_then(Value::as_str)
    {
        let (f, l) = d.trim().split_once(' ').unwrap_or((d.trim(), ""));
        first = PersonName::parse(f, "first_name").ok();
        if last.is_none() {
            last = PersonName::parse(l, "last_name").ok();
        }
    }
    let first = first.unwrap_or_else(|| {
        let local = email.as_str().split('@').next().unwrap_or("user");
        PersonName::parse(local, "first_name")
            .unwrap_or_else(|_| PersonName::parse("User", "first_name").expect("valid name"))
    });
    (first, last)
}

pub(crate) fn actor<'a>(client: &ScimClient, rid: Option<&'a str>) -> audit::Actor<'a> {
    audit::Actor {
        id: None,
        label: format!("scim:{}", client.token_name),
        source: "scim",
        request_id: rid,
    }
}

pub(crate) async fn tenant(db: &mut impl AsConn, client: &ScimClient) -> Result<TenantRow> {
    store::tenants::get(db.conn(), &client.tenant_id)
        .await?
        .filter(|t| t.status == crate::domain::TenantStatus::Active)
        .ok_or_else(|| {
            ScimError::new(
                axum::http::StatusCode::FORBIDDEN,
                None,
                "this SCIM token's tenant is suspended or gone",
            )
        })
}

/// Renders a stored SCIM user with `id`, `schemas`, `meta` and its groups.
pub fn render(
    row: &ScimUserRow,
    base: &str,
    groups: &[(String, String)],
) -> Result<Map<String, Value>> {
    let mut r = wire::stored(&row.resource)?;
    let schemas = wire::schemas_of(schema::USER, &r);
    r.insert("schemas".into(), schemas);
    r.insert("id".into(), Value::String(row.id.clone()));
    if !groups.is_empty() {
        r.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|(id, name)| {
                        json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name, "type": "direct"})
                    })
                    .collect(),
            ),
        );
    }
    r.insert(
        "meta".into(),
        wire::meta(
            "User",
            base,
            "Users",
            &row.id,
            row.created_at,
            row.updated_at,
            row.version,
        ),
    );
    Ok(r)
}

async fn respond(
    tx: &mut impl AsConn,
    row: &ScimUserRow,
    base: &str,
    include: &[Selector],
    exclude: &[Selector],
) -> Result<Map<String, Value>> {
    let groups = store::scim::direct_groups(tx.conn(), &row.id).await?;
    Ok(resource::project(
        Kind::User,
        render(row, base, &groups)?,
        include,
        exclude,
    ))
}

/// The idbridge user to create for a new SCIM record (not written yet: its row goes into the
/// create's batch); None without an identity email.
fn new_user(r: &Map<String, Value>, active: bool, now: i64) -> Option<UserRow> {
    let email = identity_email(r)?;
    let (first, last) = person_names(r, &email);
    let mut u = crate::users::new_user_row(&email, first, last, None, now);
    if !active {
        u.status = crate::domain::UserStatus::Inactive;
    }
    Some(u)
}

/// Links or creates the idbridge user for a new SCIM record; None when it stays unlinked. A
/// user to create (`true`) is not written yet (see [`new_user`]).
async fn link(
    tx: &mut Tx,
    tenant: &TenantRow,
    r: &Map<String, Value>,
    active: bool,
    now: i64,
) -> Result<Option<(UserRow, bool)>> {
    let Some(email) = identity_email(r) else {
        return Ok(None);
    };
    match store::users::get_by_email(tx.conn(), email.normalized()).await? {
        None => {
            // Only the organisation that verified the domain creates its accounts.
            if let Err(e) = crate::tenants::domains::require_may_create(tx, &email, tenant).await {
                tracing::info!(tenant = %tenant.slug, reason = "domain_owned", "SCIM user not linked: {e}");
                return Ok(None);
            }
            Ok(new_user(r, active, now).map(|u| (u, true)))
        }
        Some(mut u) => {
            let taken = store::scim::user_of(tx.conn(), &tenant.id, &u.id)
                .await?
                .is_some();
            let via = linking::Via::Scim {
                allow_email_linking: tenant.settings.scim_email_linking,
            };
            let verdict = linking::check(tx, tenant, &u, via).await?;
            if let linking::Verdict::Refuse { reason, detail } = verdict {
                tracing::info!(tenant = %tenant.slug, user = %u.id, reason,
                    "SCIM user not linked to the existing account with its email: {detail}");
                return Ok(None);
            }
            if taken {
                tracing::info!(tenant = %tenant.slug, user = %u.id,
                    "SCIM user not linked: another SCIM record of this tenant has the account");
                return Ok(None);
            }
            // Adopted by the IdP: its status follows `active` (a deleted user comes back).
            u.status = if active {
                crate::domain::UserStatus::Active
            } else {
                crate::domain::UserStatus::Inactive
            };
            u.deleted_at = None;
            u.updated_at = now;
            store::users::update(tx.conn(), &u).await?;
            Ok(Some((u, false)))
        }
    }
}

/// What of a resource the linked idbridge user follows: name parts, displayName, active.
fn person_inputs(r: &Map<String, Value>) -> [Option<&Value>; 4] {
    let name = r.get("name");
    [
        name.and_then(|n| n.get("givenName")),
        name.and_then(|n| n.get("familyName")),
        r.get("displayName"),
        r.get("active"),
    ]
}

/// Carries a SCIM change to the linked idbridge user: names, and `active` (false ends every
/// session at once, as the admin deactivate does).
///
/// Only an account whose memberships are all inside the token's scope is the directory's to
/// change; for any other, `active: false` ends its membership, roles and sessions in the scope
/// (and `active: true` brings the membership back), never the account.
///
/// The user's row is read now; its update joins `batch`.
async fn sync_user(
    tx: &mut Tx,
    batch: &mut Batch,
    tenant: &TenantRow,
    user_id: &str,
    r: &Map<String, Value>,
    now: i64,
) -> Result<()> {
    let Some(mut u) = store::users::get(tx.conn(), user_id).await? else {
        return Ok(());
    };
    let active = r.get("active").and_then(Value::as_bool).unwrap_or(true);
    if !linking::owns_account(tx, tenant, user_id).await? {
        if active {
            store::tenants::ensure_member(tx, &tenant.id, user_id, now).await?;
        } else {
            crate::tenants::service::offboard_in_scope(tx, tenant, user_id, now).await?;
        }
        return Ok(());
    }
    let before = (u.first_name.clone(), u.last_name.clone(), u.status);
    if let Ok(email) = Email::parse(&u.email) {
        let (first, last) = person_names(r, &email);
        u.first_name = first.into_inner();
        u.last_name = last.map(PersonName::into_inner);
        crate::users::refresh_keys(&mut u);
    }
    match (active, u.status) {
        (false, crate::domain::UserStatus::Active) => {
            u.status = crate::domain::UserStatus::Inactive;
            u.session_version += 1;
            store::sessions::revoke_all_for_user(tx, &u.id, now).await?;
        }
        (true, crate::domain::UserStatus::Inactive) => u.status = crate::domain::UserStatus::Active,
        _ => {}
    }
    if (u.first_name.clone(), u.last_name.clone(), u.status) != before {
        u.updated_at = now;
        batch.push(store::users::update_stmt(&u));
        batch.bump_counter(store::Counter::Rbac);
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    base: &str,
    body: &Value,
    p: &wire::Projection,
) -> Result<(Map<String, Value>, i64)> {
    let r = resource::canonicalize(Kind::User, body)?;
    let (include, exclude) = p.selectors(Kind::User)?;
    let d = derive(&r);
    let now = state.now_ms();
    // Reads before the write turn: the turn is the write path's bottleneck.
    let (tenant, known, defaults) = {
        let mut c = state.store.acquire().await?;
        let tenant = tenant(&mut c, client).await?;
        let known = match identity_email(&r) {
            Some(e) => store::users::get_by_email(c.conn(), e.normalized())
                .await?
                .is_some(),
            None => false,
        };
        let defaults = roles::defaults(state, &mut c, &tenant).await?;
        (tenant, known, defaults)
    };
    let new = New {
        client,
        rid,
        tenant: &tenant,
        r: &r,
        d: &d,
        defaults: defaults.as_deref(),
        now,
    };
    let row = match write_new(state, &new, known).await? {
        Some(row) => row,
        // A user with the email was created meanwhile: link to it.
        None => write_new(state, &new, true).await?.ok_or_else(|| {
            ScimError::from(crate::error::Error::Internal(
                "the user with this email could not be linked".into(),
            ))
        })?,
    };
    // A new record is in no group yet.
    let out = resource::project(Kind::User, render(&row, base, &[])?, &include, &exclude);
    Ok((out, row.version))
}

/// What a create writes.
struct New<'a> {
    client: &'a ScimClient,
    rid: Option<&'a str>,
    tenant: &'a TenantRow,
    r: &'a Map<String, Value>,
    d: &'a Derived,
    /// The roles of a record in no group; None when SCIM changes no roles.
    defaults: Option<&'a [Mapped]>,
    now: i64,
}

/// One write of a create: the user to link (read in the write turn) or create, then every
/// insert in one batch. `known` says a user with the email existed when read before: without
/// one the write reads nothing, and the batch's insert finds out on the unique key if one came
/// meanwhile (then None: link instead).
async fn write_new(state: &AppState, n: &New<'_>, known: bool) -> Result<Option<ScimUserRow>> {
    let (tenant, d, now) = (n.tenant, n.d, n.now);
    let mut tx = match known {
        true => Some(state.store.begin().await?),
        false => None,
    };
    let user = match &mut tx {
        Some(tx) => link(tx, tenant, n.r, d.active, now).await?,
        None => new_user(n.r, d.active, now).map(|u| (u, true)),
    };
    let row = ScimUserRow {
        // A user created for this record shares its id; a linked one gets a new id (a record
        // deleted and created again is a new resource).
        id: match &user {
            Some((u, true)) => u.id.clone(),
            _ => new_id(),
        },
        tenant_id: tenant.id.clone(),
        user_id: user.as_ref().map(|(u, _)| u.id.clone()),
        user_name_norm: d.user_name.to_lowercase(),
        user_name: d.user_name.clone(),
        external_id: d.external_id.clone(),
        display_name_norm: d.display_name_norm.clone(),
        active: d.active,
        resource: Value::Object(n.r.clone()).to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut batch = Batch::default();
    if let Some((u, true)) = &user {
        batch.push(store::users::insert_stmt(u));
    }
    // A taken userName fails this insert on the unique key (no statement asks first).
    batch.push(store::scim::insert_user_stmt(&row));
    batch.extend(store::scim::add_emails_stmts(
        &tenant.id, &row.id, &d.emails,
    ));
    if let Some((u, created)) = &user {
        let member = store::tenants::ensure_member_stmt(&tenant.id, &u.id, now);
        batch.push(if *created {
            member.for_user_created_here()
        } else {
            member
        });
    }
    batch.push(audit::record_stmt(
        now,
        &actor(n.client, n.rid),
        Event {
            tenant_id: Some(&tenant.id),
            action: "scim.user_created",
            target_type: "scim_user",
            target_id: Some(&row.id),
            before: None,
            after: Some(
                json!({"userName": row.user_name, "externalId": row.external_id,
                "active": row.active, "user_id": row.user_id}),
            ),
        },
    ));
    // The record is in no group: its user gets the defaults.
    if let (Some((u, true)), Some(wanted)) = (&user, n.defaults) {
        batch.extend(jit::role_changes(&u.id, tenant, wanted, &[], now, "scim").stmts);
    }
    let written = match tx {
        Some(mut tx) => {
            // A linked user keeps the roles it has from other sources.
            if let (Some((u, false)), Some(wanted)) = (&user, n.defaults) {
                jit::reconcile(&mut tx, &u.id, tenant, wanted, now, false, "scim").await?;
            }
            match tx.run(batch).await {
                Ok(()) => tx.commit().await,
                Err(e) => Err(e),
            }
        }
        None => state.store.write(batch).await,
    };
    match written {
        Ok(()) => {}
        Err(crate::error::Error::Conflict { code, .. }) if code == "user_name_taken" => {
            return Err(ScimError::uniqueness(format!(
                "userName {} is already taken in this tenant",
                row.user_name
            )));
        }
        Err(crate::error::Error::Conflict { code, .. }) if code == "email_taken" && !known => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Some(row))
}

async fn load(tx: &mut Tx, tenant_id: &str, id: &str, lock: bool) -> Result<ScimUserRow> {
    store::scim::get_user(tx.conn(), tenant_id, id, lock)
        .await?
        .ok_or_else(|| ScimError::not_found("User"))
}

pub async fn get(
    state: &AppState,
    client: &ScimClient,
    base: &str,
    id: &str,
    p: &wire::Projection,
) -> Result<(Map<String, Value>, i64)> {
    let (include, exclude) = p.selectors(Kind::User)?;
    let mut tx = state.store.read().await?;
    tenant(&mut tx, client).await?;
    let row = load(&mut tx, &client.tenant_id, id, false).await?;
    let out = respond(&mut tx, &row, base, &include, &exclude).await?;
    Ok((out, row.version))
}

/// The current version of a user, for `If-None-Match`.
pub async fn version(state: &AppState, client: &ScimClient, id: &str) -> Result<i64> {
    let mut c = state.store.acquire().await?;
    Ok(
        store::scim::get_user(c.conn(), &client.tenant_id, id, false)
            .await?
            .ok_or_else(|| ScimError::not_found("User"))?
            .version,
    )
}

/// How a write changes the stored resource.
pub enum Change<'a> {
    /// PUT: the new resource (attributes it omits are cleared, except `active`: Okta's PUT
    /// without `active` must not suspend anyone).
    Replace(&'a Value),
    Patch(&'a Value),
}

#[allow(clippy::too_many_arguments)]
pub async fn update(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    base: &str,
    id: &str,
    change: Change<'_>,
    headers: &axum::http::HeaderMap,
    p: &wire::Projection,
) -> Result<(Map<String, Value>, i64)> {
    let (include, exclude) = p.selectors(Kind::User)?;
    // Parse before taking the write lock: bad input costs nothing.
    let (new_body, ops) = match change {
        Change::Replace(b) => (Some(resource::canonicalize(Kind::User, b)?), None),
        Change::Patch(b) => (None, Some(patch::parse(b)?)),
    };
    let now = state.now_ms();
    // Read before the write turn: the turn is the write path's bottleneck.
    let tenant = tenant(&mut state.store.acquire().await?, client).await?;
    let mut tx = state.store.begin().await?;
    let mut row = load(&mut tx, &tenant.id, id, true).await?;
    wire::check_if_match(headers, row.version)?;
    let old = wire::stored(&row.resource)?;
    let r = match (new_body, ops) {
        (Some(mut r), _) => {
            if !r.contains_key("active")
                && let Some(a) = old.get("active")
            {
                r.insert("active".into(), a.clone());
            }
            r
        }
        (None, Some(ops)) => {
            let mut r = old.clone();
            patch::apply(Kind::User, &row.id, &mut r, &ops)?;
            r
        }
        (None, None) => old.clone(),
    };
    if r != old {
        let d = derive(&r);
        let renamed = d.user_name.to_lowercase() != row.user_name_norm;
        if renamed {
            let clash =
                store::scim::user_by_name(tx.conn(), &tenant.id, &d.user_name.to_lowercase())
                    .await?;
            if clash.is_some_and(|c| c.id != row.id) {
                return Err(ScimError::uniqueness(format!(
                    "userName {} is already taken in this tenant",
                    d.user_name
                )));
            }
        }
        row.user_name_norm = d.user_name.to_lowercase();
        row.user_name = d.user_name;
        row.external_id = d.external_id;
        row.display_name_norm = d.display_name_norm;
        row.active = d.active;
        row.resource = Value::Object(r.clone()).to_string();
        row.version += 1;
        row.updated_at = now;
        // Every write of the change in one batch (one round trip to SQLite's writer).
        let mut batch = Batch::default();
        batch.push(store::scim::update_user_stmt(&row));
        if d.emails != derive(&old).emails {
            batch.extend(store::scim::set_emails_stmts(
                &tenant.id, &row.id, &d.emails,
            ));
        }
        let was_active = old.get("active").and_then(Value::as_bool).unwrap_or(true);
        // A deactivation is never refused (the directory decides), but a tenant it leaves
        // without an active admin is reported below.
        let guard = match &row.user_id {
            Some(uid) if was_active && !d.active => {
                Some(crate::rbac::roles::AdminGuard::before(&mut tx, uid).await?)
            }
            _ => None,
        };
        // Only what the IdP changed is carried over: an unrelated change does not undo an
        // admin's deactivation.
        if let Some(uid) = &row.user_id
            && person_inputs(&r) != person_inputs(&old)
        {
            sync_user(&mut tx, &mut batch, &tenant, uid, &r, now).await?;
        }
        let action = match (was_active, row.active) {
            (true, false) => "scim.user_deactivated",
            (false, true) => "scim.user_activated",
            _ => "scim.user_updated",
        };
        batch.push(audit::record_stmt(
            now,
            &actor(client, rid),
            Event {
                tenant_id: Some(&tenant.id),
                action,
                target_type: "scim_user",
                target_id: Some(&row.id),
                before: Some(json!({"userName": old.get("userName"), "active": was_active})),
                after: Some(json!({"userName": row.user_name, "active": row.active})),
            },
        ));
        tx.run(batch).await?;
        if let Some(g) = guard {
            report_orphaned(&mut tx, g, client, rid, row.user_id.as_deref(), now).await?;
        }
    }
    tx.commit().await?;
    // Read after the write turn: the groups as they are now.
    let out = respond(
        &mut state.store.acquire().await?,
        &row,
        base,
        &include,
        &exclude,
    )
    .await?;
    Ok((out, row.version))
}

pub async fn delete(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    id: &str,
    headers: &axum::http::HeaderMap,
) -> Result<()> {
    let now = state.now_ms();
    // Read before the write turn: the turn is the write path's bottleneck.
    let tenant = tenant(&mut state.store.acquire().await?, client).await?;
    let mut tx = state.store.begin().await?;
    let row = load(&mut tx, &tenant.id, id, true).await?;
    wire::check_if_match(headers, row.version)?;
    store::scim::delete_user(tx.conn(), &tenant.id, &row.id).await?;
    if let Some(uid) = &row.user_id {
        let guard = crate::rbac::roles::AdminGuard::before(&mut tx, uid).await?;
        deprovision(&mut tx, &tenant, uid, now).await?;
        report_orphaned(&mut tx, guard, client, rid, Some(uid), now).await?;
    }
    audit::record(
        tx.conn(),
        now,
        &actor(client, rid),
        Event {
            tenant_id: Some(&tenant.id),
            action: "scim.user_deleted",
            target_type: "scim_user",
            target_id: Some(&row.id),
            before: Some(json!({"userName": row.user_name, "user_id": row.user_id})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Audits every tenant a SCIM change left without an active admin (`tenant.admin_orphaned`):
/// SCIM wins for who works there; a platform admin assigns a new admin (break-glass).
async fn report_orphaned(
    tx: &mut Tx,
    guard: crate::rbac::roles::AdminGuard,
    client: &ScimClient,
    rid: Option<&str>,
    user_id: Option<&str>,
    now: i64,
) -> Result<()> {
    for t in guard.orphaned(tx).await? {
        tracing::warn!(tenant = %t, "a SCIM change left the tenant without an active admin: a platform admin must assign one");
        audit::record(
            tx.conn(),
            now,
            &actor(client, rid),
            Event {
                tenant_id: Some(&t),
                action: "tenant.admin_orphaned",
                target_type: "tenant",
                target_id: Some(&t),
                before: Some(json!({"last_admin": user_id})),
                after: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The user leaves the tenant: roles and membership go, sessions end, and the account is
/// deactivated when the token's scope owns it (otherwise only the scope is left).
async fn deprovision(tx: &mut Tx, tenant: &TenantRow, user_id: &str, now: i64) -> Result<()> {
    if !linking::owns_account(tx, tenant, user_id).await? {
        crate::tenants::service::offboard_in_scope(tx, tenant, user_id, now).await?;
        return Ok(());
    }
    store::roles::unassign_all_in(tx, user_id, &tenant.id).await?;
    store::tenants::remove_member(tx, &tenant.id, user_id).await?;
    if let Some(mut u) = store::users::get(tx.conn(), user_id).await? {
        if u.status == crate::domain::UserStatus::Active {
            u.status = crate::domain::UserStatus::Inactive;
        }
        u.session_version += 1;
        u.updated_at = now;
        store::sessions::revoke_all_for_user(tx, user_id, now).await?;
        store::users::update(tx.conn(), &u).await?;
    }
    Ok(())
}
