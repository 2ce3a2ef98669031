//! Group -> role mapping, a pure function shared by OIDC, SAML and SCIM.
//!
//! For each group the IdP sent (by name or by id: Entra sends object ids), the tenant's
//! `group_role_map` is consulted first and the global `sso.group_role_map`
//! (`SSO_GROUP_ROLE_MAP=Helpdesk:fulfiller,Employees:requester`) second; group names match
//! case-insensitively. The user gets the union of the roles of all matching groups. When no group
//! matches: the tenant's `jit_default_role`, else the global `SSO_JIT_DEFAULT_ROLE`, else the
//! preset's least-privileged role. Every role comes with the rule that gave it, for the explain API
//! and the audit trail.

use std::collections::BTreeMap;

use serde::Serialize;

/// A role the mapping gives, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapped {
    pub role: String,
    pub rule: String,
    /// The tenant's role (id, name) this names, once resolved against the tenant's roles.
    #[serde(skip)]
    pub resolved: Option<(String, String)>,
}

/// The global map, parsed from `Group:role,Group 2:role`. The last `:` separates the role, so
/// group names may contain colons (URNs); they may not contain commas.
pub fn parse_global(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (group, role) = entry
            .rsplit_once(':')
            .map(|(g, r)| (g.trim(), r.trim()))
            .filter(|(g, r)| !g.is_empty() && !r.is_empty())
            .ok_or_else(|| {
                format!("`{entry}` is not `Group:role` (example: Helpdesk:fulfiller,Employees:requester)")
            })?;
        out.push((group.to_string(), role.to_string()));
    }
    Ok(out)
}

pub struct Maps<'a> {
    pub tenant: &'a BTreeMap<String, String>,
    pub global: &'a [(String, String)],
    pub tenant_default: &'a str,
    pub global_default: &'a str,
    /// The preset's least-privileged role of the tenant.
    pub preset_default: &'a str,
}

/// The roles (lower-cased) one group gives, with the rule: the tenant's map entries for it, else
/// the global map's; none when neither names it.
pub fn roles_of_group(g: &str, maps: &Maps<'_>) -> Vec<(String, String)> {
    let from_tenant: Vec<(String, String)> = maps
        .tenant
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(g))
        .map(|(_, r)| (r.to_lowercase(), format!("tenant group_role_map: {g}")))
        .collect();
    if !from_tenant.is_empty() {
        return from_tenant;
    }
    maps.global
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(g))
        .map(|(_, r)| (r.to_lowercase(), format!("global SSO_GROUP_ROLE_MAP: {g}")))
        .collect()
}

/// The roles a set of groups gives (sorted by role, deduplicated; the first rule wins).
pub fn map_groups(groups: &[String], maps: &Maps<'_>) -> Vec<Mapped> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for g in groups {
        for (role, rule) in roles_of_group(g, maps) {
            out.entry(role).or_insert(rule);
        }
    }
    if out.is_empty() {
        let (role, rule) = if !maps.tenant_default.is_empty() {
            (
                maps.tenant_default,
                "tenant jit_default_role (no group matched)",
            )
        } else if !maps.global_default.is_empty() {
            (
                maps.global_default,
                "global SSO_JIT_DEFAULT_ROLE (no group matched)",
            )
        } else {
            (
                maps.preset_default,
                "the preset's default role (no group matched)",
            )
        };
        out.insert(role.to_lowercase(), rule.to_string());
    }
    out.into_iter()
        .map(|(role, rule)| Mapped {
            role,
            rule,
            resolved: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps<'a>(tenant: &'a BTreeMap<String, String>, global: &'a [(String, String)]) -> Maps<'a> {
        Maps {
            tenant,
            global,
            tenant_default: "",
            global_default: "",
            preset_default: "requester",
        }
    }

    fn roles(m: &[Mapped]) -> Vec<&str> {
        m.iter().map(|x| x.role.as_str()).collect()
    }

    #[test]
    fn global_map_parses_and_reports_bad_entries() {
        let g =
            parse_global("Helpdesk:fulfiller, Employees:requester,urn:grp:ops:operator").unwrap();
        assert_eq!(g[0], ("Helpdesk".into(), "fulfiller".into()));
        assert_eq!(g[2], ("urn:grp:ops".into(), "operator".into()));
        assert!(parse_global("").unwrap().is_empty());
        assert!(parse_global("Helpdesk").unwrap_err().contains("Group:role"));
        assert!(parse_global("Helpdesk:").is_err());
    }

    #[test]
    fn union_of_matches_tenant_map_first_case_insensitive() {
        let tenant = BTreeMap::from([("IdP-Helpdesk".to_string(), "fulfiller".to_string())]);
        let global =
            parse_global("Helpdesk:operator,idp-helpdesk:admin,Employees:requester").unwrap();
        let m = map_groups(
            &["idp-HELPDESK".into(), "Employees".into()],
            &maps(&tenant, &global),
        );
        assert_eq!(roles(&m), ["fulfiller", "requester"]);
        assert_eq!(m[0].rule, "tenant group_role_map: idp-HELPDESK");
        assert_eq!(m[1].rule, "global SSO_GROUP_ROLE_MAP: Employees");
    }

    #[test]
    fn defaults_in_order_when_nothing_matches() {
        let empty = BTreeMap::new();
        let mut m = maps(&empty, &[]);
        assert_eq!(roles(&map_groups(&["x".into()], &m)), ["requester"]);
        m.global_default = "Fulfiller";
        assert_eq!(roles(&map_groups(&[], &m)), ["fulfiller"]);
        m.tenant_default = "operator";
        let got = map_groups(&[], &m);
        assert_eq!(roles(&got), ["operator"]);
        assert!(got[0].rule.contains("tenant jit_default_role"));
    }

    #[test]
    fn entra_object_ids_match_like_names() {
        let tenant = BTreeMap::from([(
            "5F1E0AB8-2C7E-4C35-9F0E-1A2B3C4D5E6F".to_string(),
            "operator".to_string(),
        )]);
        let m = map_groups(
            &["5f1e0ab8-2c7e-4c35-9f0e-1a2b3c4d5e6f".into()],
            &maps(&tenant, &[]),
        );
        assert_eq!(roles(&m), ["operator"]);
    }
}
