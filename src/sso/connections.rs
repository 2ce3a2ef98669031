//! SSO connections per tenant (`/api/sso/connections`) and the tenant's SSO settings
//! (`/api/auth/sso-config`). OIDC connections are checked against the issuer's discovery
//! document before they are saved; the client secret is sealed with the master key and never
//! returned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, sso::ConnectionRow, tenants::TenantRow};

use super::connection::{
    ALGS, OidcConfig, check_fetch_url, check_name, config_of, domains, invalid, post_logout_uri,
    redirect_uri, refuse_insecure_flag,
};

/// A connection as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: String,
    /// The tenant's slug.
    pub tenant: String,
    /// `oidc` or `saml`.
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    /// The callback URL to register at the identity provider.
    pub redirect_uri: String,
    /// Where sign-in through this connection starts.
    pub start_url: String,
    /// The post-logout redirect URI to register at the IdP (RP-initiated logout).
    pub post_logout_redirect_uri: String,
    pub email_domains: Vec<String>,
    pub has_client_secret: bool,
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// The kind-specific half of a connection's view, flattened into it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Settings {
    Oidc(OidcConfig),
    Saml(super::saml_sp::SamlView),
}

/// A connection of either kind as the API shows it.
fn view(
    state: &AppState,
    row: ConnectionRow,
    tenant: &str,
    domains: Vec<String>,
) -> Result<ConnectionView> {
    let (settings, redirect) = if row.kind == crate::domain::ConnectionKind::Saml {
        let v = super::saml_sp::view(state, &row)?;
        let acs = v.acs_url.clone();
        (Settings::Saml(v), acs)
    } else {
        (
            Settings::Oidc(config_of(&row)?),
            redirect_uri(state, &row.id),
        )
    };
    Ok(ConnectionView {
        has_client_secret: row.kind == crate::domain::ConnectionKind::Oidc
            && row.secret_sealed.is_some(),
        redirect_uri: redirect,
        start_url: format!("{}/sso/{}/start", state.public_url, row.id),
        post_logout_redirect_uri: post_logout_uri(state),
        settings,
        tenant: tenant.to_string(),
        kind: row.kind.as_str().to_string(),
        name: row.name,
        enabled: row.enabled,
        email_domains: domains,
        created_at: row.created_at,
        updated_at: row.updated_at,
        id: row.id,
    })
}

/// Create body (`kind: "oidc"`); every OIDC setting may be given at the top level.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `oidc`.
    #[schema(pattern = "^oidc$")]
    pub kind: String,
    /// 1-100 characters, unique in the tenant.
    pub name: String,
    /// The tenant's slug; absent: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Sealed with the master key, never shown again; absent or empty: a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Verified domains of the organisation (`/api/domains`) whose emails sign in here
    /// (home-realm discovery).
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Default: `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(flatten)]
    #[schema(schema_with = flattened::<PatchOidc>)]
    pub settings: PatchOidc,
}

/// OIDC settings a create or PATCH may carry (absent = default or unchanged).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOidc {
    /// The IdP's issuer: an https URL without query or fragment, answering OpenID discovery
    /// (required at creation).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    pub given_name_claim: Option<String>,
    pub family_name_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub roles_claim: Option<String>,
    pub allow_email_linking: Option<bool>,
    /// At most 600.
    pub clock_skew_secs: Option<u32>,
    /// Refused (400 `deployment_setting`): plain http is the deployment's decision
    /// (`outbound.allow_private`).
    pub allow_insecure_http: Option<bool>,
    pub use_userinfo: Option<bool>,
    pub id_token_algs: Option<Vec<String>>,
    pub groups_endpoint: Option<Option<String>>,
}

impl PatchOidc {
    fn apply(self, c: &mut OidcConfig) {
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { c.$f = v; })* };
        }
        set!(
            issuer,
            client_id,
            scopes,
            email_claim,
            name_claim,
            given_name_claim,
            family_name_claim,
            groups_claim,
            roles_claim,
            allow_email_linking,
            clock_skew_secs,
            use_userinfo,
            id_token_algs,
            groups_endpoint
        );
    }
}

/// PATCH body of an OIDC connection (absent = unchanged).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchConnection {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub client_secret: Option<String>,
    pub email_domains: Option<Vec<String>>,
    #[serde(flatten)]
    #[schema(schema_with = flattened::<PatchOidc>)]
    pub settings: PatchOidc,
}

/// The schema of a struct flattened beside other fields (`#[serde(flatten)]`) as one part of
/// an `allOf`: without its `additionalProperties: false` (`deny_unknown_fields`), which would
/// refuse the fields beside it. Only for structs whose fields reference no other schema.
fn flattened<T: utoipa::PartialSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let mut schema = T::schema();
    if let utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(o)) = &mut schema {
        o.additional_properties = None;
    }
    schema
}

fn check(state: &AppState, c: &mut OidcConfig) -> Result<()> {
    let issuer = c.issuer.trim().trim_end_matches('/').to_string();
    if issuer.len() > 512 || issuer.contains(['?', '#', ' ']) {
        return Err(invalid(
            "issuer",
            "invalid_issuer",
            "issuer must be an absolute https URL without query or fragment",
        ));
    }
    check_fetch_url(state, "issuer", &issuer)?;
    c.issuer = issuer;
    if c.client_id.trim().is_empty() || c.client_id.len() > 512 {
        return Err(invalid(
            "client_id",
            "invalid_client_id",
            "client_id is required",
        ));
    }
    if !c.scopes.iter().any(|s| s == "openid") {
        c.scopes.insert(0, "openid".into());
    }
    if c.scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(' ') || s.len() > 128)
    {
        return Err(invalid(
            "scopes",
            "invalid_scopes",
            "scopes are single words",
        ));
    }
    if c.id_token_algs.is_empty() || c.id_token_algs.iter().any(|a| !ALGS.contains(&a.as_str())) {
        return Err(invalid(
            "id_token_algs",
            "invalid_algorithms",
            format!("id_token_algs must be some of {}", ALGS.join(", ")),
        ));
    }
    if c.clock_skew_secs > 600 {
        return Err(invalid(
            "clock_skew_secs",
            "invalid_clock_skew",
            "clock_skew_secs is at most 600",
        ));
    }
    for f in [&c.email_claim, &c.groups_claim, &c.name_claim] {
        if f.is_empty() || f.len() > 128 {
            return Err(invalid(
                "claims",
                "invalid_claim_name",
                "claim names are 1-128 characters",
            ));
        }
    }
    if let Some(u) = &c.groups_endpoint {
        check_fetch_url(state, "groups_endpoint", u)?;
    }
    Ok(())
}

pub(crate) async fn tenant_guard(
    state: &AppState,
    tx: &mut store::Tx,
    p: &Principal,
    slug: Option<&str>,
    perm: &str,
) -> Result<TenantRow> {
    let t = rbac::tenant_for(tx, p, slug).await?;
    rbac::require(state, tx, p, &t, perm).await?;
    Ok(t)
}

/// Reads a JSON body into `T`, as a 400 naming the problem when it does not fit.
fn body_as<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| Error::invalid("invalid_json", e.to_string()))
}

/// Creates a connection of the body's `kind` (`oidc` or `saml`).
pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    body: serde_json::Value,
) -> Result<ConnectionView> {
    match body.get("kind").and_then(serde_json::Value::as_str) {
        Some("oidc") => create_oidc(state, p, rid, body_as(body)?).await,
        Some("saml") => create_saml(state, p, rid, body_as(body)?).await,
        _ => Err(invalid(
            "kind",
            "unsupported_kind",
            "kind must be \"oidc\" or \"saml\"",
        )),
    }
}

/// Creates a SAML connection: metadata checked, SP key generated and sealed.
async fn create_saml(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    body: super::saml_sp::SamlBody,
) -> Result<ConnectionView> {
    let name = check_name(body.name.as_deref().unwrap_or(""))?;
    let domains = domains(body.email_domains.as_deref().unwrap_or(&[]))?;
    let cfg = super::saml_sp::config_from(&body)?;
    {
        // Permission first, so strangers cannot make us fetch URLs.
        let mut tx = state.store.read().await?;
        tenant_guard(state, &mut tx, p, body.tenant.as_deref(), "sso:manage").await?;
    }
    let now = state.now_ms();
    let (row, cfg, after) = super::saml_sp::new_row(state, &body, cfg, name, &domains, now).await?;
    let id = row.id.clone();
    let view = save_new(state, p, rid, body.tenant.as_deref(), row, domains, after).await?;
    super::saml_sp::warn_expiring(&id, &cfg, now);
    Ok(view)
}

async fn create_oidc(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateConnection,
) -> Result<ConnectionView> {
    let name = check_name(&req.name)?;
    let mut cfg = OidcConfig::default();
    refuse_insecure_flag(req.settings.allow_insecure_http)?;
    req.settings.apply(&mut cfg);
    check(state, &mut cfg)?;
    let domains = domains(&req.email_domains)?;
    let secret = req.client_secret.filter(|s| !s.is_empty());
    {
        // Permission first, so strangers cannot make us fetch URLs.
        let mut tx = state.store.read().await?;
        tenant_guard(state, &mut tx, p, req.tenant.as_deref(), "sso:manage").await?;
    }
    // The issuer must answer discovery before the connection is saved (outside any transaction).
    super::oidc::discover(state, &cfg, true).await?;
    let now = state.now_ms();
    let id = new_id();
    let row = ConnectionRow {
        secret_sealed: secret
            .map(|s| {
                state
                    .master_key
                    .seal(&format!("sso_secret:{id}"), s.as_bytes())
            })
            .transpose()?,
        id,
        tenant_id: String::new(),
        kind: crate::domain::ConnectionKind::Oidc,
        name,
        enabled: req.enabled.unwrap_or(true),
        config: serde_json::to_string(&cfg).map_err(Error::internal)?,
        created_at: now,
        updated_at: now,
        platform_managed: false,
    };
    let after = json!({"name": row.name, "kind": row.kind.as_str(), "issuer": cfg.issuer, "email_domains": domains});
    save_new(state, p, rid, req.tenant.as_deref(), row, domains, after).await
}

/// Stores a new connection of either kind in the caller's tenant (permission checked again in
/// the write transaction), with its email domains, audited.
pub(crate) async fn save_new(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    tenant: Option<&str>,
    row: ConnectionRow,
    domains: Vec<String>,
    after: serde_json::Value,
) -> Result<ConnectionView> {
    let mut tx = state.store.begin().await?;
    let t = tenant_guard(state, &mut tx, p, tenant, "sso:manage").await?;
    let row = ConnectionRow {
        tenant_id: t.id.clone(),
        platform_managed: p.is_platform_admin(),
        ..row
    };
    require_verified_domains(&mut tx, &t, &domains).await?;
    store::sso::insert(tx.conn(), &row).await?;
    store::sso::set_domains(tx.conn(), &row.id, &domains).await?;
    audit::record(
        tx.conn(),
        row.created_at,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "sso.connection_create",
            target_type: "sso_connection",
            target_id: Some(&row.id),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    view(state, row, &t.slug, domains)
}

/// A connection's email domains must be verified domains of its organisation
/// (`/api/domains`): home-realm discovery and email linking stand on them.
async fn require_verified_domains(
    tx: &mut store::Tx,
    t: &TenantRow,
    domains: &[String],
) -> Result<()> {
    for d in domains {
        if store::domains::owner(tx.conn(), d).await?.as_deref() != Some(t.root_id.as_str()) {
            return Err(invalid(
                "email_domains",
                "domain_not_verified",
                format!(
                    "`{d}` is not a verified domain of this organisation: claim it with POST /api/domains and verify it first"
                ),
            ));
        }
    }
    Ok(())
}

async fn load(
    state: &AppState,
    tx: &mut store::Tx,
    p: &Principal,
    id: &str,
    perm: &str,
) -> Result<(ConnectionRow, TenantRow)> {
    let row = store::sso::get(tx.conn(), id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    let t = store::tenants::get(tx.conn(), &row.tenant_id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    // Someone who may not read this tenant's SSO settings learns nothing: 404.
    rbac::require(state, tx, p, &t, perm)
        .await
        .map_err(|e| match e {
            Error::Forbidden { .. } => Error::NotFound("connection"),
            e => e,
        })?;
    Ok((row, t))
}

pub async fn get(state: &AppState, p: &Principal, id: &str) -> Result<ConnectionView> {
    let mut tx = state.store.read().await?;
    let (row, t) = load(state, &mut tx, p, id, "sso:read").await?;
    let d = store::sso::domains(tx.conn(), &row.id).await?;
    view(state, row, &t.slug, d)
}

/// Checks that the caller may manage the connection (404 otherwise).
pub async fn get_managed(state: &AppState, p: &Principal, id: &str) -> Result<()> {
    let mut tx = state.store.read().await?;
    load(state, &mut tx, p, id, "sso:manage").await?;
    Ok(())
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<ConnectionView>> {
    let mut tx = state.store.read().await?;
    let t = tenant_guard(state, &mut tx, p, tenant, "sso:read").await?;
    let mut out = Vec::new();
    for row in store::sso::list(tx.conn(), &t.id).await? {
        let d = store::sso::domains(tx.conn(), &row.id).await?;
        out.push(view(state, row, &t.slug, d)?);
    }
    Ok(out)
}

/// PATCH of either kind; the body's fields are those of the connection's kind.
pub async fn patch(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    body: serde_json::Value,
) -> Result<ConnectionView> {
    let (row, _) = {
        let mut tx = state.store.read().await?;
        load(state, &mut tx, p, id, "sso:manage").await?
    };
    if row.kind == crate::domain::ConnectionKind::Saml {
        return patch_saml(state, p, rid, row, body_as(body)?).await;
    }
    let req: PatchConnection = body_as(body)?;
    let mut cfg = config_of(&row)?;
    let before = cfg.clone();
    let issuer_changed = req
        .settings
        .issuer
        .as_ref()
        .is_some_and(|i| i.trim().trim_end_matches('/') != cfg.issuer);
    refuse_insecure_flag(req.settings.allow_insecure_http)?;
    req.settings.apply(&mut cfg);
    check(state, &mut cfg)?;
    if issuer_changed {
        super::oidc::discover(state, &cfg, true).await?;
    }
    let secret = req
        .client_secret
        .map(|s| {
            (!s.is_empty())
                .then(|| {
                    state
                        .master_key
                        .seal(&format!("sso_secret:{}", row.id), s.as_bytes())
                })
                .transpose()
        })
        .transpose()?;
    save(
        state,
        p,
        rid,
        Update {
            id,
            name: req.name.as_deref(),
            enabled: req.enabled,
            config: serde_json::to_string(&cfg).map_err(Error::internal)?,
            secret,
            domains: req.email_domains.as_deref(),
            before: serde_json::to_value(&before).map_err(Error::internal)?,
            after: serde_json::to_value(&cfg).map_err(Error::internal)?,
        },
    )
    .await
}

/// A PATCH's changes, checked and ready to store.
struct Update<'a> {
    id: &'a str,
    name: Option<&'a str>,
    enabled: Option<bool>,
    config: String,
    /// `Some(None)` removes the sealed secret.
    secret: Option<Option<String>>,
    domains: Option<&'a [String]>,
    before: serde_json::Value,
    after: serde_json::Value,
}

/// Stores a PATCH of either kind in one transaction (permission checked again), audited.
async fn save(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    u: Update<'_>,
) -> Result<ConnectionView> {
    let domains = u.domains.map(domains).transpose()?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (mut row, t) = load(state, &mut tx, p, u.id, "sso:manage").await?;
    if let Some(n) = u.name {
        row.name = check_name(n)?;
    }
    if let Some(e) = u.enabled {
        row.enabled = e;
    }
    if let Some(secret) = u.secret {
        row.secret_sealed = secret;
    }
    row.config = u.config;
    row.updated_at = now;
    // Whoever changes a connection now controls it: it stays platform-managed only while
    // platform admins alone change it.
    row.platform_managed = row.platform_managed && p.is_platform_admin();
    store::sso::update(tx.conn(), &row).await?;
    if let Some(d) = &domains {
        require_verified_domains(&mut tx, &t, d).await?;
        store::sso::set_domains(tx.conn(), &row.id, d).await?;
    }
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "sso.connection_update",
            target_type: "sso_connection",
            target_id: Some(&row.id),
            before: Some(u.before),
            after: Some(u.after),
        },
    )
    .await?;
    let d = store::sso::domains(tx.conn(), &row.id).await?;
    tx.commit().await?;
    state.sso.forget(&row.id);
    view(state, row, &t.slug, d)
}

async fn patch_saml(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    row: ConnectionRow,
    body: super::saml_sp::SamlBody,
) -> Result<ConnectionView> {
    if body.kind.as_deref().is_some_and(|k| k != "saml") || body.tenant.is_some() {
        return Err(invalid(
            "kind",
            "immutable_field",
            "a connection's kind and tenant cannot change",
        ));
    }
    let mut row = row;
    // Metadata may be fetched: outside the write transaction.
    let (before, after) = super::saml_sp::patch_row(state, &mut row, &body).await?;
    save(
        state,
        p,
        rid,
        Update {
            id: &row.id,
            name: body.name.as_deref(),
            enabled: body.enabled,
            config: row.config.clone(),
            secret: None,
            domains: body.email_domains.as_deref(),
            before: serde_json::to_value(&before).map_err(Error::internal)?,
            after: serde_json::to_value(&after).map_err(Error::internal)?,
        },
    )
    .await
}

pub async fn delete(state: &AppState, p: &Principal, rid: Option<&str>, id: &str) -> Result<()> {
    let mut tx = state.store.begin().await?;
    let (row, t) = load(state, &mut tx, p, id, "sso:manage").await?;
    store::sso::delete(tx.conn(), &row.id).await?;
    audit::record(
        tx.conn(),
        state.now_ms(),
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "sso.connection_delete",
            target_type: "sso_connection",
            target_id: Some(&row.id),
            before: Some(json!({"name": row.name})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.sso.forget(&row.id);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// /api/auth/sso-config: the tenant's SSO settings in one place.

/// A tenant's SSO settings and connections.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SsoConfigView {
    /// The tenant's slug.
    pub tenant: String,
    pub connections: Vec<ConnectionSummary>,
    /// IdP group -> role name.
    pub group_role_map: BTreeMap<String, String>,
    /// Empty: the global default, else the preset's.
    pub jit_default_role: String,
    /// `idp`, `local` or `scim`.
    pub role_source: String,
    pub password_login: bool,
    /// The deployment-wide map and default (`SSO_GROUP_ROLE_MAP`, `SSO_JIT_DEFAULT_ROLE`).
    pub global_group_role_map: BTreeMap<String, String>,
    pub global_jit_default_role: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionSummary {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub email_domains: Vec<String>,
}

/// A change of a tenant's SSO settings: `tenant` beside the settings' fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfigUpdate {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(flatten)]
    pub settings: crate::tenants::settings::SettingsPatch,
}

/// One object, `tenant` beside the settings' fields, refusing any other as serde does: a
/// derived schema would be an `allOf` whose settings half refuses `tenant`.
impl utoipa::PartialSchema for SsoConfigUpdate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
        let mut schema =
            <crate::tenants::settings::SettingsPatch as utoipa::PartialSchema>::schema();
        if let utoipa::openapi::RefOr::T(Schema::Object(o)) = &mut schema {
            o.description = Some(
                "A change of the tenant's SSO settings: absent fields stay as they are.".into(),
            );
            o.properties.insert(
                "tenant".into(),
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some(
                        "The tenant's slug; absent: the caller's current tenant.",
                    ))
                    .into(),
            );
        }
        schema
    }
}

impl utoipa::ToSchema for SsoConfigUpdate {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::Schema>)>) {
        <crate::tenants::settings::SettingsPatch as utoipa::ToSchema>::schemas(schemas);
    }
}

pub async fn sso_config(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<SsoConfigView> {
    let mut tx = state.store.read().await?;
    let t = tenant_guard(state, &mut tx, p, tenant, "sso:read").await?;
    config_view(state, &mut tx, &t).await
}

async fn config_view(state: &AppState, tx: &mut store::Tx, t: &TenantRow) -> Result<SsoConfigView> {
    let s = &t.settings;
    let (role_source, password_login) = (s.role_source(), s.password_login());
    let mut connections = Vec::new();
    for row in store::sso::list(tx.conn(), &t.id).await? {
        connections.push(ConnectionSummary {
            email_domains: store::sso::domains(tx.conn(), &row.id).await?,
            id: row.id,
            kind: row.kind.as_str().to_string(),
            name: row.name,
            enabled: row.enabled,
        });
    }
    Ok(SsoConfigView {
        tenant: t.slug.clone(),
        connections,
        group_role_map: s.group_role_map.clone(),
        jit_default_role: s.jit_default_role.clone(),
        role_source: role_source.as_str().to_string(),
        password_login,
        global_group_role_map: crate::engine::group_map::parse_global(
            &state.settings.sso.group_role_map,
        )
        .unwrap_or_default()
        .into_iter()
        .collect(),
        global_jit_default_role: state.settings.sso.jit_default_role.clone(),
    })
}

pub async fn update_sso_config(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: SsoConfigUpdate,
) -> Result<SsoConfigView> {
    let mut tx = state.store.begin().await?;
    let mut t = tenant_guard(state, &mut tx, p, req.tenant.as_deref(), "sso:manage").await?;
    let (before, after) =
        crate::tenants::settings_change::apply(state, &mut tx, p, &mut t, req.settings).await?;
    t.updated_at = state.now_ms();
    store::tenants::update(&mut tx, &t).await?;
    audit::record(
        tx.conn(),
        state.now_ms(),
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "sso.config_update",
            target_type: "tenant",
            target_id: Some(&t.id),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    let v = config_view(state, &mut tx, &t).await?;
    tx.commit().await?;
    Ok(v)
}
