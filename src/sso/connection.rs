//! One SSO connection as stored: the OIDC settings and their defaults, the URLs to register at
//! the IdP, the sealed client secret, and the checks every kind of connection shares.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::sso::ConnectionRow;

/// Settings of an OIDC connection (stored as JSON; no secrets). The API always shows every
/// field (`serde(default)` is for reading what is stored).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct OidcConfig {
    #[schema(required)]
    pub issuer: String,
    #[schema(required)]
    pub client_id: String,
    #[schema(required)]
    pub scopes: Vec<String>,
    #[schema(required)]
    pub email_claim: String,
    #[schema(required)]
    pub name_claim: String,
    #[schema(required)]
    pub given_name_claim: String,
    #[schema(required)]
    pub family_name_claim: String,
    /// Groups (names or ids); Entra sends object ids in `groups`, Okta and Keycloak names.
    #[schema(required)]
    pub groups_claim: String,
    /// Also read as groups (Entra app roles).
    #[schema(required)]
    pub roles_claim: String,
    #[schema(required)]
    pub allow_email_linking: bool,
    #[schema(required)]
    pub clock_skew_secs: u32,
    /// Merge the userinfo response into the ID token's claims.
    #[schema(required)]
    pub use_userinfo: bool,
    /// ID token signature algorithms accepted.
    #[schema(required)]
    pub id_token_algs: Vec<String>,
    /// Entra group overage: a Graph-style endpoint returning the user's groups, called with the
    /// access token when the ID token says the groups did not fit (`_claim_names.groups`).
    #[schema(required)]
    pub groups_endpoint: Option<String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            email_claim: "email".into(),
            name_claim: "name".into(),
            given_name_claim: "given_name".into(),
            family_name_claim: "family_name".into(),
            groups_claim: "groups".into(),
            roles_claim: "roles".into(),
            allow_email_linking: false,
            clock_skew_secs: 60,
            use_userinfo: false,
            id_token_algs: vec![
                "RS256".into(),
                "ES256".into(),
                "PS256".into(),
                "EdDSA".into(),
            ],
            groups_endpoint: None,
        }
    }
}

/// The ID token signing algorithms a connection may name.
pub const ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Where the IdP sends the browser after its logout (register it as a post-logout redirect URI).
pub fn post_logout_uri(state: &AppState) -> String {
    format!("{}/login", state.public_url)
}

/// The OIDC callback URL of a connection (register it at the IdP).
pub fn redirect_uri(state: &AppState, id: &str) -> String {
    format!("{}/sso/oidc/{id}/callback", state.public_url)
}

/// The stored OIDC settings of a connection.
pub fn config_of(row: &ConnectionRow) -> Result<OidcConfig> {
    serde_json::from_str(&row.config).map_err(Error::internal)
}

/// The client secret of a connection, unsealed.
pub fn client_secret(state: &AppState, row: &ConnectionRow) -> Result<Option<String>> {
    row.secret_sealed
        .as_deref()
        .map(|s| {
            state
                .master_key
                .open(&format!("sso_secret:{}", row.id), s)
                .and_then(|b| String::from_utf8(b).map_err(Error::internal))
        })
        .transpose()
}

/// A 400 naming the field.
pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Error {
    Error::invalid_field(code, field, message.into())
}

/// The per-connection `allow_insecure_http` of earlier versions is refused with the way out:
/// plain http and private addresses are the deployment's decision, never a tenant's.
pub fn refuse_insecure_flag(flag: Option<bool>) -> Result<()> {
    match flag {
        Some(_) => Err(invalid(
            "allow_insecure_http",
            "deployment_setting",
            "allow_insecure_http is not a connection setting: plain http and private addresses are allowed only by the deployment setting outbound.allow_private (tests and labs)",
        )),
        None => Ok(()),
    }
}

/// A URL idbridge will call: what the outbound client accepts (https, no credentials, no
/// private address literal), as a 400 naming the field.
pub fn check_fetch_url(state: &AppState, field: &str, url: &str) -> Result<()> {
    state
        .outbound
        .check_url(url)
        .map(|_| ())
        .map_err(|e| invalid(field, "url_refused", e.to_string()))
}

/// The email domains of a connection, normalised and without duplicates.
pub fn domains(list: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for d in list {
        let d = crate::domain::DomainName::parse(d, "email_domains")?;
        if !out.iter().any(|x| x == d.as_str()) {
            out.push(d.as_str().to_string());
        }
    }
    Ok(out)
}

/// A connection name: 1-100 characters, trimmed.
pub fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(invalid(
            "name",
            "invalid_name",
            "name must be 1-100 characters",
        ));
    }
    Ok(n.to_string())
}
