//! Role catalogs are data (`config/presets/*.toml`), compiled into the binary so it runs from
//! any folder. A tenant is created from one preset; its roles become the tenant's built-ins.

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use crate::domain::PermissionPattern;
use crate::error::{Error, Result};

const BUILTIN: &[(&str, &str)] = &[
    ("itsm", include_str!("../../config/presets/itsm.toml")),
    ("console", include_str!("../../config/presets/console.toml")),
    (
        "iam-tiers",
        include_str!("../../config/presets/iam-tiers.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub description: String,
    /// The least-privileged role: invites and JIT fall back to it.
    pub default_role: String,
    pub roles: Vec<PresetRole>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetRole {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub admin: bool,
    /// `basic` or `enterprise`: the lowest RBAC tier that exposes the role.
    #[serde(default)]
    pub tier: Option<String>,
    pub permissions: Vec<String>,
}

/// Every built-in preset, parsed and checked.
pub fn all() -> Result<Vec<Preset>> {
    BUILTIN
        .iter()
        .map(|(name, text)| parse(name, text))
        .collect()
}

pub fn get(name: &str) -> Result<Preset> {
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => parse(n, text),
        None => Err(Error::invalid_field(
            "unknown_preset",
            "preset",
            format!(
                "unknown preset `{name}`; use one of: {}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn parse(name: &str, text: &str) -> Result<Preset> {
    let preset: Preset = Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| Error::internal(format!("preset {name}: {e}")))?;
    if !preset.roles.iter().any(|r| r.name == preset.default_role) {
        return Err(Error::internal(format!(
            "preset {name}: default_role is not one of its roles"
        )));
    }
    for r in &preset.roles {
        for p in &r.permissions {
            PermissionPattern::parse(p)
                .map_err(|e| Error::internal(format!("preset {name}, role {}: {e}", r.name)))?;
        }
        if let Some(t) = &r.tier
            && t != "basic"
            && t != "enterprise"
        {
            return Err(Error::internal(format!(
                "preset {name}, role {}: tier must be basic or enterprise",
                r.name
            )));
        }
    }
    Ok(preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_parse_and_match_the_reference_catalogs() {
        let all = all().unwrap();
        let itsm = all.iter().find(|p| p.name == "itsm").unwrap();
        let names: Vec<_> = itsm.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["admin", "operator", "fulfiller", "requester"]);
        let console = all.iter().find(|p| p.name == "console").unwrap();
        assert_eq!(console.roles.len(), 5);
        let iam = all.iter().find(|p| p.name == "iam-tiers").unwrap();
        assert_eq!(iam.roles.len(), 14);
        let basic = iam
            .roles
            .iter()
            .filter(|r| r.tier.as_deref() != Some("enterprise"))
            .count();
        assert_eq!(basic, 7, "basic tier exposes 7 roles");
    }

    #[test]
    fn unknown_preset_names_the_choices() {
        let err = get("nope").unwrap_err().to_string();
        assert!(err.contains("itsm") && err.contains("iam-tiers"), "{err}");
    }
}
