//! Identity never crosses an organisation by email. The one rule for linking an SSO identity or
//! a SCIM record to an existing account by its email, used by the sign-in (`jit`), SCIM
//! (`scim::users`) and the explain dry run, so their answers cannot disagree.
//!
//! A link needs all of:
//! - every membership of the account is inside the connection's (or SCIM token's) scope: the
//!   organisation and its subtenants for an organisation, the subtenant itself for a subtenant;
//! - the account is not a platform admin (unless a platform admin configured the connection);
//! - either this tenant's own SCIM provisioned the account (the same directory, SSO only), or:
//!   the connection opts in, the IdP says the email is verified, and the email's domain is a
//!   verified domain of the organisation;
//! - an account in no tenant that has a password is never handed to an IdP (a local account
//!   left behind, or pre-created by someone who knows its password).
//!
//! Emails are unique across the deployment, so a refused link is a refusal, never a second
//! account.

use crate::error::Result;
use crate::store::tenants::TenantRow;
use crate::store::users::UserRow;
use crate::store::{self, AsConn};

/// Who asks for the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An SSO sign-in through a connection.
    Sso {
        allow_email_linking: bool,
        email_verified: bool,
        platform_managed: bool,
    },
    /// A SCIM create (`scim_email_linking` of the tenant).
    Scim { allow_email_linking: bool },
}

/// What is known about the account, gathered by [`facts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub platform_admin: bool,
    pub has_password: bool,
    pub memberships: usize,
    /// Memberships outside the scope.
    pub outside: usize,
    /// The email's domain is verified by the scope's organisation.
    pub domain_verified: bool,
    /// A SCIM record of the same tenant is linked to the account.
    pub provisioned_here: bool,
}

/// The outcome: link, or refuse with a stable reason (logged and audited) and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Link,
    Refuse {
        reason: &'static str,
        detail: &'static str,
    },
}

impl Verdict {
    /// A refusal that says nothing about other organisations: explain shows these as
    /// "create or refused" so that it never reveals accounts outside the caller's organisation.
    pub fn reveals_other_organisation(&self) -> bool {
        matches!(
            self,
            Verdict::Refuse {
                reason: "link.other_organisation" | "link.platform_admin",
                ..
            }
        )
    }
}

fn refuse(reason: &'static str, detail: &'static str) -> Verdict {
    Verdict::Refuse { reason, detail }
}

/// The rule, on facts (pure: every case has a table test below).
pub fn decide(f: &Facts, via: Via) -> Verdict {
    let platform_managed = matches!(
        via,
        Via::Sso {
            platform_managed: true,
            ..
        }
    );
    if f.platform_admin && !platform_managed {
        return refuse(
            "link.platform_admin",
            "the account is a platform admin: it signs in only with its own credentials or through a connection a platform admin configured",
        );
    }
    if f.outside > 0 {
        return refuse(
            "link.other_organisation",
            "the account belongs to tenants outside this connection's organisation",
        );
    }
    if f.provisioned_here && matches!(via, Via::Sso { .. }) {
        return Verdict::Link;
    }
    if f.memberships == 0 && f.has_password {
        return refuse(
            "link.local_account",
            "the account belongs to no tenant and has a password: it is not handed to an identity provider",
        );
    }
    let (opt_in, verified) = match via {
        Via::Sso {
            allow_email_linking,
            email_verified,
            ..
        } => (allow_email_linking, email_verified),
        Via::Scim {
            allow_email_linking,
        } => (allow_email_linking, true),
    };
    if !opt_in {
        return refuse(
            "link.not_allowed",
            "an account with this email exists and linking by email is off (allow_email_linking on the connection, scim_email_linking for SCIM)",
        );
    }
    if !verified {
        return refuse(
            "link.email_unverified",
            "the identity provider did not say the email is verified (email_verified)",
        );
    }
    if !f.domain_verified {
        return refuse(
            "link.domain_unverified",
            "the email's domain is not a verified domain of this organisation (POST /api/domains)",
        );
    }
    Verdict::Link
}

/// Whether a member of `member` is inside the scope of `scope` (an organisation: itself and
/// its subtenants; a subtenant: itself).
pub fn in_scope(scope: &TenantRow, member: &TenantRow) -> bool {
    match scope.parent_id {
        None => member.root_id == scope.id,
        Some(_) => member.id == scope.id,
    }
}

/// Gathers the facts about `account` for a link in `scope` (the connection's or token's tenant).
pub async fn facts(db: &mut impl AsConn, scope: &TenantRow, account: &UserRow) -> Result<Facts> {
    let tenants = store::tenants::of_user(db.conn(), &account.id).await?;
    let domain = account.email_norm.rsplit('@').next().unwrap_or("");
    let owner = store::domains::owner(db.conn(), domain).await?;
    Ok(Facts {
        platform_admin: account.platform_admin,
        has_password: account.password_hash.is_some(),
        memberships: tenants.len(),
        outside: tenants.iter().filter(|t| !in_scope(scope, t)).count(),
        domain_verified: owner.as_deref() == Some(scope.root_id.as_str()),
        provisioned_here: store::scim::user_of(db.conn(), &scope.id, &account.id)
            .await?
            .is_some(),
    })
}

/// The verdict for linking `account` in `scope`.
pub async fn check(
    db: &mut impl AsConn,
    scope: &TenantRow,
    account: &UserRow,
    via: Via,
) -> Result<Verdict> {
    Ok(decide(&facts(db, scope, account).await?, via))
}

/// Whether SCIM or SSO of `scope` may change the account itself (status, profile): all its
/// memberships are inside the scope. Otherwise they act only on its membership, roles and
/// sessions in the scope.
pub async fn owns_account(db: &mut impl AsConn, scope: &TenantRow, user_id: &str) -> Result<bool> {
    Ok(store::tenants::of_user(db.conn(), user_id)
        .await?
        .iter()
        .all(|t| in_scope(scope, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSO: Via = Via::Sso {
        allow_email_linking: true,
        email_verified: true,
        platform_managed: false,
    };

    fn member() -> Facts {
        Facts {
            memberships: 1,
            domain_verified: true,
            ..Default::default()
        }
    }

    fn reason(v: Verdict) -> &'static str {
        match v {
            Verdict::Link => "link",
            Verdict::Refuse { reason, .. } => reason,
        }
    }

    #[test]
    fn every_condition_of_the_linking_rule_is_needed() {
        assert_eq!(reason(decide(&member(), SSO)), "link");
        let cases: Vec<(Facts, Via, &str)> = vec![
            (
                Facts {
                    platform_admin: true,
                    ..member()
                },
                SSO,
                "link.platform_admin",
            ),
            (
                Facts {
                    outside: 1,
                    memberships: 2,
                    ..member()
                },
                SSO,
                "link.other_organisation",
            ),
            (
                Facts {
                    memberships: 0,
                    has_password: true,
                    ..member()
                },
                SSO,
                "link.local_account",
            ),
            (
                member(),
                Via::Sso {
                    allow_email_linking: false,
                    email_verified: true,
                    platform_managed: false,
                },
                "link.not_allowed",
            ),
            (
                member(),
                Via::Sso {
                    allow_email_linking: true,
                    email_verified: false,
                    platform_managed: false,
                },
                "link.email_unverified",
            ),
            (
                Facts {
                    domain_verified: false,
                    ..member()
                },
                SSO,
                "link.domain_unverified",
            ),
            (
                member(),
                Via::Scim {
                    allow_email_linking: false,
                },
                "link.not_allowed",
            ),
        ];
        for (f, via, want) in cases {
            assert_eq!(reason(decide(&f, via)), want, "{f:?} {via:?}");
        }
    }

    #[test]
    fn the_tenants_own_scim_record_links_for_sso_but_never_across_organisations() {
        let own = Facts {
            provisioned_here: true,
            domain_verified: false,
            ..member()
        };
        let no_opt_in = Via::Sso {
            allow_email_linking: false,
            email_verified: false,
            platform_managed: false,
        };
        assert_eq!(reason(decide(&own, no_opt_in)), "link");
        // SCIM adoption never takes the shortcut.
        assert_eq!(
            reason(decide(
                &own,
                Via::Scim {
                    allow_email_linking: true
                }
            )),
            "link.domain_unverified"
        );
        let elsewhere = Facts {
            outside: 1,
            ..own.clone()
        };
        assert_eq!(
            reason(decide(&elsewhere, no_opt_in)),
            "link.other_organisation"
        );
        let admin = Facts {
            platform_admin: true,
            ..own
        };
        assert_eq!(reason(decide(&admin, no_opt_in)), "link.platform_admin");
    }

    #[test]
    fn a_platform_admin_links_only_through_a_platform_managed_connection() {
        let f = Facts {
            platform_admin: true,
            ..member()
        };
        let managed = Via::Sso {
            allow_email_linking: true,
            email_verified: true,
            platform_managed: true,
        };
        assert_eq!(reason(decide(&f, managed)), "link");
        assert_eq!(reason(decide(&f, SSO)), "link.platform_admin");
    }
}
