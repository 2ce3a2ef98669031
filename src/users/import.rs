//! CSV import of users (003_*): `email,name,initial_roles`, one person per row, roles by name
//! (several in one quoted cell, comma-separated). In one transaction: each row is checked whole
//! first (email, name, every role resolved and grantable by the importer, the person reachable),
//! then written; a row that fails is reported and writes nothing, the rows that pass are
//! committed. A dry run does the same and rolls back, so its report is exactly what the import
//! would do. Re-running a file changes nothing.
//!
//! - A new email becomes a placeholder profile (no password): the person signs in by SSO, where
//!   the tenant-isolation linking rule joins it (same organisation, verified domain), or by a
//!   reset link an admin sends. Creating one follows the verified-domain rules like any
//!   creation (`tenants::domains::require_may_create`).
//! - An existing account of the same organisation joins the tenant and gets the roles, if the
//!   importer may act on it (`rbac::ordering`). An account of another organisation is never
//!   added: the row fails and names the invite endpoint.
//! - Roles are granted with source `csv`, under the same grant rule as every other grant.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::new_user_row;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::domain::{Email, PersonName, RoleSource, UserStatus, new_id};
use crate::error::{Error, Result};
use crate::rbac::ordering::{self, Reach};
use crate::rbac::roles;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::roles::{AssignmentRow, RoleRow};
use crate::store::tenants::TenantRow;
use crate::store::{self, Tx};

/// Most rows one import takes.
pub const MAX_ROWS: usize = 10_000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check every row and report, then roll back: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    pub tenant: Option<String>,
}

/// What an import did (or, in a dry run, would do), row by row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub tenant: String,
    /// Data rows read (the header aside).
    pub rows: usize,
    pub created: usize,
    pub added: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub roles_assigned: usize,
    pub results: Vec<RowResult>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowResult {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    pub email: String,
    /// `created` (a new placeholder profile), `added` (an existing account joined the tenant or
    /// got roles), `unchanged` (nothing to do), `failed`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles_added: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RowError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A refusal that belongs to one row; anything else (a database failure) ends the request.
fn row_error(e: Error) -> Result<RowError> {
    let (code, message, field) = match e {
        Error::Invalid {
            code,
            message,
            field,
        }
        | Error::Conflict {
            code,
            message,
            field,
        } => (code.into_owned(), message, field),
        Error::Forbidden { code, message }
        | Error::Rule { code, message }
        | Error::Gone { code, message } => (code.into_owned(), message, None),
        Error::NotFound(what) => ("not_found".into(), format!("{what} not found"), None),
        other => return Err(other),
    };
    Ok(RowError {
        code,
        message,
        field,
    })
}

/// One data row as read.
struct Row {
    line: u64,
    email: String,
    name: String,
    roles: Vec<String>,
}

/// Reads the file: a header naming `email` and `name` (and `initial_roles`, optional), in any
/// order and case; every row the same width.
fn read_rows(csv_text: &[u8]) -> Result<Vec<Row>> {
    let bad = |m: String| Error::invalid_field("invalid_csv", "file", m);
    // CRLF (what a browser's form sends, and Excel writes) as LF: the reader's line count is off
    // by one after a CRLF header otherwise, and every reported line would be wrong.
    let unix: Vec<u8>;
    let csv_text = if csv_text.windows(2).any(|w| w == b"\r\n") {
        let mut out = Vec::with_capacity(csv_text.len());
        for (i, &b) in csv_text.iter().enumerate() {
            if !(b == b'\r' && csv_text.get(i + 1) == Some(&b'\n')) {
                out.push(b);
            }
        }
        unix = out;
        &unix[..]
    } else {
        csv_text
    };
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text);
    let header = r
        .headers()
        .map_err(|e| bad(format!("the header cannot be read: {e}")))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let (Some(email), Some(name)) = (col("email"), col("name")) else {
        return Err(bad(
            "the first line must name the columns: email,name,initial_roles".into(),
        ));
    };
    let roles = col("initial_roles");
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(format!("the file is not valid CSV: {e}")))?;
        if out.len() == MAX_ROWS {
            return Err(bad(format!(
                "at most {MAX_ROWS} rows per import: split the file"
            )));
        }
        let line = rec.position().map(|p| p.line()).unwrap_or_default();
        let cell = |i: usize| rec.get(i).unwrap_or("").to_string();
        out.push(Row {
            line,
            email: cell(email),
            name: cell(name),
            roles: roles
                .map(|i| {
                    cell(i)
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `Jane Smith` -> (`Jane`, `Smith`); a single word is a first name.
fn split_name(raw: &str) -> Result<(PersonName, Option<PersonName>)> {
    let raw = raw.trim();
    let (first, last) = match raw.split_once(char::is_whitespace) {
        Some((f, l)) => (f, Some(l.trim())),
        None => (raw, None),
    };
    Ok((
        PersonName::parse(first, "name")?,
        last.filter(|l| !l.is_empty())
            .map(|l| PersonName::parse(l, "name"))
            .transpose()?,
    ))
}

/// What one row will do, decided before anything is written.
enum Plan {
    Create {
        email: Email,
        first: PersonName,
        last: Option<PersonName>,
    },
    Existing(Box<crate::store::users::UserRow>),
}

pub async fn import(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    q: ImportParams,
    csv_text: &[u8],
) -> Result<ImportReport> {
    import_with_progress(state, p, rid, q, csv_text, &|_, _| {}).await
}

/// [`import`], calling `progress(rows checked, rows in the file)` after each row (the CLI's
/// progress bar).
pub async fn import_with_progress(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    q: ImportParams,
    csv_text: &[u8],
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportReport> {
    let rows = read_rows(csv_text)?;
    let total = rows.len();
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let tenant = rbac::tenant_for(&mut tx, p, q.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &tenant, "users:write").await?;
    // Each role named in the file, resolved and checked once.
    let mut grantable: HashMap<String, std::result::Result<RoleRow, String>> = HashMap::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut report = ImportReport {
        dry_run: q.dry_run,
        tenant: tenant.slug.clone(),
        rows: rows.len(),
        created: 0,
        added: 0,
        unchanged: 0,
        failed: 0,
        roles_assigned: 0,
        results: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        let result = match one_row(
            state,
            &mut tx,
            p,
            rid,
            &tenant,
            &row,
            &mut grantable,
            &mut seen,
            now,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => RowResult {
                line: row.line,
                email: row.email.clone(),
                outcome: "failed",
                user_id: None,
                roles_added: Vec::new(),
                error: Some(row_error(e)?),
            },
        };
        match result.outcome {
            "created" => report.created += 1,
            "added" => report.added += 1,
            "unchanged" => report.unchanged += 1,
            _ => report.failed += 1,
        }
        report.roles_assigned += result.roles_added.len();
        report.results.push(result);
        progress(report.results.len(), total);
    }
    if !q.dry_run {
        tx.commit().await?;
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn one_row(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    rid: Option<&str>,
    tenant: &TenantRow,
    row: &Row,
    grantable: &mut HashMap<String, std::result::Result<RoleRow, String>>,
    seen: &mut BTreeMap<String, u64>,
    now: i64,
) -> Result<RowResult> {
    let email = Email::parse(&row.email)?;
    if let Some(first) = seen.get(email.normalized()) {
        return Err(Error::invalid_field(
            "duplicate_row",
            "email",
            format!("this email is also on line {first}; each person once per file"),
        ));
    }
    seen.insert(email.normalized().to_string(), row.line);
    // Every role of the row, before any write.
    let mut wanted = Vec::new();
    for name in &row.roles {
        let key = name.to_lowercase();
        if !grantable.contains_key(&key) {
            let checked = match roles::resolve(tx, tenant, None, Some(name)).await {
                Ok(Some(role)) => {
                    match crate::rbac::grant::require_may_grant(
                        state,
                        tx,
                        p,
                        tenant,
                        &role,
                        &["users:write"],
                    )
                    .await
                    {
                        Ok(()) => Ok(role),
                        Err(e) => Err(row_error(e)?.message),
                    }
                }
                Ok(None) | Err(Error::NotFound(_)) => {
                    Err(format!("`{name}` is not a role of this tenant"))
                }
                Err(e) => Err(row_error(e)?.message),
            };
            grantable.insert(key.clone(), checked);
        }
        match &grantable[&key] {
            Ok(role) => wanted.push(role.clone()),
            Err(why) => {
                return Err(Error::invalid_field(
                    "role_refused",
                    "initial_roles",
                    why.clone(),
                ));
            }
        }
    }
    let plan = match store::users::get_by_email(tx.conn(), email.normalized()).await? {
        None => {
            let (first, last) = split_name(&row.name)?;
            crate::tenants::domains::require_may_create(tx, &email, tenant).await?;
            Plan::Create { email, first, last }
        }
        Some(u) if u.status == UserStatus::Deleted => {
            return Err(Error::conflict(
                "account_deleted",
                "this account is deleted: restore it (POST /api/users/{id}/restore) and import again",
            ));
        }
        Some(u) if !store::users::visible_in(tx.conn(), &u.id, &tenant.root_id).await? => {
            return Err(Error::conflict(
                "other_organisation",
                "this person has an account outside this organisation: invite them (POST /api/auth/invite); an import never adds them",
            ));
        }
        Some(u) => {
            ordering::require_may_act_on(state, tx, p, tenant, &u, Reach::Scope).await?;
            Plan::Existing(Box::new(u))
        }
    };
    let mut joined = false;
    let (user_id, created) = match plan {
        Plan::Create { email, first, last } => {
            let user = new_user_row(&email, first, last, None, now);
            store::users::insert(tx.conn(), &user).await?;
            store::tenants::add_member(tx, &tenant.id, &user.id, now).await?;
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
                    after: Some({
                        let mut after = super::service::snapshot(&user);
                        after["source"] = json!("csv");
                        after
                    }),
                },
            )
            .await?;
            (user.id, true)
        }
        Plan::Existing(u) => {
            // A member of the organisation above reaches a subtenant already.
            let reach_parent = match &tenant.parent_id {
                Some(parent) => store::tenants::is_member(tx.conn(), parent, &u.id).await?,
                None => false,
            };
            if !reach_parent && !store::tenants::is_member(tx.conn(), &tenant.id, &u.id).await? {
                store::tenants::ensure_member(tx, &tenant.id, &u.id, now).await?;
                joined = true;
            }
            (u.id, false)
        }
    };
    let mut roles_added = Vec::new();
    for role in wanted {
        let a = AssignmentRow {
            id: new_id(),
            user_id: user_id.clone(),
            tenant_id: tenant.id.clone(),
            role_id: role.id.clone(),
            source: RoleSource::Csv.as_str().into(),
            assigned_by: p.user_id().map(str::to_string),
            assigned_at: now,
        };
        if store::roles::assign(tx, &a).await? {
            audit::record(
                tx.conn(),
                now,
                &audit::Actor::of(p, rid),
                Event {
                    tenant_id: Some(&tenant.id),
                    action: "role.assign",
                    target_type: "user",
                    target_id: Some(&user_id),
                    before: None,
                    after: Some(json!({"role": role.name, "tenant": tenant.slug, "source": "csv"})),
                },
            )
            .await?;
            roles_added.push(role.name.clone());
        }
    }
    let outcome = if created {
        "created"
    } else if joined || !roles_added.is_empty() {
        "added"
    } else {
        "unchanged"
    };
    Ok(RowResult {
        line: row.line,
        email: row.email.clone(),
        outcome,
        user_id: Some(user_id),
        roles_added,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_the_files_own_with_lf_or_crlf() {
        for text in [
            "email,name\na@example.com,A A\nb@example.com,B B\n",
            "email,name\r\na@example.com,A A\r\nb@example.com,B B\r\n",
        ] {
            let rows = super::read_rows(text.as_bytes()).unwrap();
            let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, [2, 3], "{text:?}");
        }
    }
}
