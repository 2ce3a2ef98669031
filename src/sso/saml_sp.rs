//! SAML connections: their settings, IdP metadata by upload or URL, the SP key and metadata, and
//! the browser flow (AuthnRequest out, assertion in). The protocol checks live in [`crate::engine::saml`];
//! the identity that comes out goes through the same JIT and role mapping as OIDC
//! ([`super::ExternalIdentity`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::fail::{Fail, fail};
use crate::audit::{self, Event};
use crate::crypto;
use crate::domain::new_id;
use crate::engine::saml::{self, IdpMetadata, SpUrls};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, sso::ConnectionRow, sso::PendingRow};

const PENDING_TTL_MS: i64 = 10 * 60_000;
/// Certificates expiring within this window are flagged in the API, the log and `/metrics`.
pub const CERT_WARNING_MS: i64 = 30 * 24 * 3_600_000;

const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Attribute names tried for each field when the connection names none (Entra ID / ADFS claim
/// URIs, Okta and Google custom names, the LDAP OIDs of eduPerson/InCommon IdPs).
const EMAIL_ATTRS: [&str; 6] = [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "email",
    "Email",
    "mail",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
];
const FIRST_NAME_ATTRS: [&str; 5] = [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "firstName",
    "givenName",
    "first_name",
    "urn:oid:2.5.4.42",
];
const LAST_NAME_ATTRS: [&str; 5] = [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "lastName",
    "sn",
    "last_name",
    "urn:oid:2.5.4.4",
];
const GROUP_ATTRS: [&str; 6] = [
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "groups",
    "Groups",
    "memberOf",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
];

/// Settings of a SAML connection (stored as JSON; the SP private key is sealed separately).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SamlConfig {
    /// What the IdP's metadata says.
    pub idp: IdpMetadata,
    /// Signing certificates an admin added (base64 DER), trusted besides the metadata's: the
    /// IdP's next certificate during a rollover. Kept across metadata refreshes.
    pub extra_certificates: Vec<String>,
    /// Where the metadata came from (refreshed on a schedule), or `None` for an upload.
    pub idp_metadata_url: Option<String>,
    pub metadata_refreshed_at: Option<i64>,
    /// Attribute names; `None` tries the usual names of Entra ID, ADFS, Okta and Google.
    pub email_attribute: Option<String>,
    pub first_name_attribute: Option<String>,
    pub last_name_attribute: Option<String>,
    pub groups_attribute: Option<String>,
    /// NameIDPolicy Format asked for in AuthnRequests.
    pub name_id_format: String,
    /// Accept unsolicited responses (IdP-initiated sign-in). Off by default.
    pub allow_idp_initiated: bool,
    pub allow_email_linking: bool,
    pub clock_skew_secs: u32,
    /// Sign AuthnRequests (HTTP-Redirect query signature, RSA-SHA256) with the SP key.
    pub sign_authn_requests: bool,
    /// Refuse a response whose assertion is not signed itself (a response signature covering
    /// it is otherwise accepted: what it covers is all that is read). Published in the SP
    /// metadata as `WantAssertionsSigned`.
    pub want_assertions_signed: bool,
    /// The SP certificate (base64 DER), published in the SP metadata.
    pub sp_certificate: String,
}

impl Default for SamlConfig {
    fn default() -> Self {
        Self {
            idp: IdpMetadata::default(),
            extra_certificates: Vec::new(),
            idp_metadata_url: None,
            metadata_refreshed_at: None,
            email_attribute: None,
            first_name_attribute: None,
            last_name_attribute: None,
            groups_attribute: None,
            name_id_format: NAMEID_UNSPECIFIED.into(),
            allow_idp_initiated: false,
            allow_email_linking: false,
            clock_skew_secs: 60,
            sign_authn_requests: false,
            want_assertions_signed: false,
            sp_certificate: String::new(),
        }
    }
}

pub fn config_of(row: &ConnectionRow) -> Result<SamlConfig> {
    serde_json::from_str(&row.config).map_err(Error::internal)
}

impl SamlConfig {
    /// The IdP as responses are checked against it: the metadata's signing certificates plus
    /// the admin's extra ones.
    pub fn trusted_idp(&self) -> IdpMetadata {
        let mut idp = self.idp.clone();
        for c in &self.extra_certificates {
            if !idp.certs.contains(c) {
                idp.certs.push(c.clone());
            }
        }
        idp
    }
}

pub fn sp_urls(state: &AppState, id: &str) -> SpUrls {
    let base = format!("{}/sso/saml/{id}", state.public_url);
    SpUrls {
        entity_id: format!("{base}/metadata"),
        acs_url: format!("{base}/acs"),
        slo_url: format!("{base}/slo"),
    }
}

/// The SAML part of a connection as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SamlView {
    /// SP values to register at the IdP.
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_metadata_url: String,
    pub slo_url: String,
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub idp_slo_url: Option<String>,
    pub idp_metadata_url: Option<String>,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub metadata_refreshed_at: Option<i64>,
    pub idp_certificates: Vec<saml::CertInfo>,
    /// Human-readable warnings (a certificate expiring within 30 days, ...).
    pub warnings: Vec<String>,
    pub email_attribute: Option<String>,
    pub first_name_attribute: Option<String>,
    pub last_name_attribute: Option<String>,
    pub groups_attribute: Option<String>,
    pub name_id_format: String,
    pub allow_idp_initiated: bool,
    pub allow_email_linking: bool,
    pub clock_skew_secs: u32,
    pub sign_authn_requests: bool,
    pub want_assertions_signed: bool,
}

pub fn view(state: &AppState, row: &ConnectionRow) -> Result<SamlView> {
    let c = config_of(row)?;
    let urls = sp_urls(state, &row.id);
    let now = state.now_ms();
    let certs: Vec<saml::CertInfo> = c
        .trusted_idp()
        .certs
        .iter()
        .filter_map(|b| saml::cert_info(b).ok())
        .collect();
    let warnings = cert_warnings(&certs, now);
    Ok(SamlView {
        sp_metadata_url: urls.entity_id.clone(),
        sp_entity_id: urls.entity_id,
        acs_url: urls.acs_url,
        slo_url: urls.slo_url,
        idp_entity_id: c.idp.entity_id,
        idp_sso_url: c.idp.sso_url,
        idp_slo_url: c.idp.slo_url,
        idp_metadata_url: c.idp_metadata_url,
        metadata_refreshed_at: c.metadata_refreshed_at,
        idp_certificates: certs,
        warnings,
        email_attribute: c.email_attribute,
        first_name_attribute: c.first_name_attribute,
        last_name_attribute: c.last_name_attribute,
        groups_attribute: c.groups_attribute,
        name_id_format: c.name_id_format,
        allow_idp_initiated: c.allow_idp_initiated,
        allow_email_linking: c.allow_email_linking,
        clock_skew_secs: c.clock_skew_secs,
        sign_authn_requests: c.sign_authn_requests,
        want_assertions_signed: c.want_assertions_signed,
    })
}

fn cert_warnings(certs: &[saml::CertInfo], now: i64) -> Vec<String> {
    certs
        .iter()
        .filter(|c| c.not_after_ms - now < CERT_WARNING_MS)
        .map(|c| {
            if c.not_after_ms <= now {
                format!(
                    "IdP signing certificate {} ({}) expired on {}; sign-ins fail until the IdP's new certificate is added",
                    c.subject, c.sha256, c.not_after
                )
            } else {
                format!(
                    "IdP signing certificate {} ({}) expires on {}; add the IdP's next certificate before then",
                    c.subject, c.sha256, c.not_after
                )
            }
        })
        .collect()
}

/// Create or PATCH body of a SAML connection (absent = default or unchanged).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamlBody {
    /// `saml`: required at creation; a PATCH may repeat it, never change it.
    #[serde(default)]
    #[schema(pattern = "^saml$")]
    pub kind: Option<String>,
    /// 1-100 characters, unique in the tenant (required at creation).
    pub name: Option<String>,
    /// The tenant's slug, at creation only; absent: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Default: `true`.
    pub enabled: Option<bool>,
    /// Verified domains of the organisation (`/api/domains`) whose emails sign in here
    /// (home-realm discovery).
    pub email_domains: Option<Vec<String>>,
    /// The IdP's metadata document (an `EntityDescriptor`); give it or `idp_metadata_url`
    /// (one of them at creation), not both.
    pub idp_metadata_xml: Option<String>,
    /// Where to fetch the IdP's metadata (https), refetched on a schedule.
    pub idp_metadata_url: Option<String>,
    /// Extra IdP signing certificates (PEM or base64 DER) trusted besides the metadata's, e.g.
    /// the IdP's next one during a rollover. Replaces the previous extra list.
    pub idp_certificates: Option<Vec<String>>,
    pub email_attribute: Option<Option<String>>,
    pub first_name_attribute: Option<Option<String>>,
    pub last_name_attribute: Option<Option<String>>,
    pub groups_attribute: Option<Option<String>>,
    pub name_id_format: Option<String>,
    pub allow_idp_initiated: Option<bool>,
    pub allow_email_linking: Option<bool>,
    /// At most 600.
    pub clock_skew_secs: Option<u32>,
    pub sign_authn_requests: Option<bool>,
    pub want_assertions_signed: Option<bool>,
    /// Refused (400 `deployment_setting`): plain http is the deployment's decision
    /// (`outbound.allow_private`).
    pub allow_insecure_http: Option<bool>,
}

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Error {
    Error::invalid_field(code, field, message.into())
}

fn saml_invalid(field: &str, e: saml::SamlError) -> Error {
    Error::invalid_field(
        "invalid_metadata",
        field,
        format!("{} ({})", e.detail, e.reason),
    )
}

impl SamlBody {
    /// Applies the settings (not the metadata) and checks them.
    fn apply(&self, c: &mut SamlConfig) -> Result<()> {
        let attr = |v: &Option<Option<String>>, field: &str, cur: &mut Option<String>| {
            if let Some(v) = v {
                let v = v.as_deref().map(str::trim).filter(|s| !s.is_empty());
                if v.is_some_and(|s| s.len() > 256) {
                    return Err(invalid(
                        field,
                        "invalid_attribute",
                        "attribute names are at most 256 characters",
                    ));
                }
                *cur = v.map(str::to_string);
            }
            Ok(())
        };
        attr(
            &self.email_attribute,
            "email_attribute",
            &mut c.email_attribute,
        )?;
        attr(
            &self.first_name_attribute,
            "first_name_attribute",
            &mut c.first_name_attribute,
        )?;
        attr(
            &self.last_name_attribute,
            "last_name_attribute",
            &mut c.last_name_attribute,
        )?;
        attr(
            &self.groups_attribute,
            "groups_attribute",
            &mut c.groups_attribute,
        )?;
        if let Some(f) = &self.name_id_format {
            if !f.starts_with("urn:oasis:names:tc:SAML:") || f.len() > 256 {
                return Err(invalid(
                    "name_id_format",
                    "invalid_name_id_format",
                    "name_id_format is a SAML NameID format URN (urn:oasis:names:tc:SAML:...)",
                ));
            }
            c.name_id_format = f.clone();
        }
        if let Some(v) = self.allow_idp_initiated {
            c.allow_idp_initiated = v;
        }
        if let Some(v) = self.allow_email_linking {
            c.allow_email_linking = v;
        }
        if let Some(v) = self.clock_skew_secs {
            if v > 600 {
                return Err(invalid(
                    "clock_skew_secs",
                    "invalid_clock_skew",
                    "clock_skew_secs is at most 600",
                ));
            }
            c.clock_skew_secs = v;
        }
        if let Some(v) = self.sign_authn_requests {
            c.sign_authn_requests = v;
        }
        if let Some(v) = self.want_assertions_signed {
            c.want_assertions_signed = v;
        }
        super::connection::refuse_insecure_flag(self.allow_insecure_http)?;
        Ok(())
    }
}

/// The IdP metadata of a create or PATCH: the uploaded XML, else the URL's document. `None` when
/// the body gives neither.
async fn metadata_of(state: &AppState, body: &SamlBody) -> Result<Option<IdpMetadata>> {
    let md = match (&body.idp_metadata_xml, &body.idp_metadata_url) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "idp_metadata_xml",
                "ambiguous_metadata",
                "give idp_metadata_xml or idp_metadata_url, not both",
            ));
        }
        (Some(xml), None) => {
            Some(saml::parse_idp_metadata(xml).map_err(|e| saml_invalid("idp_metadata_xml", e))?)
        }
        (None, Some(url)) => Some(fetch_metadata(state, url).await?),
        (None, None) => None,
    };
    Ok(md)
}

/// The admin's extra certificates of a create or PATCH, normalized (`None`: unchanged).
fn extra_certs(body: &SamlBody) -> Result<Option<Vec<String>>> {
    let Some(list) = &body.idp_certificates else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for pem in list {
        let b64 = saml::normalize_cert(pem).map_err(|e| saml_invalid("idp_certificates", e))?;
        if !out.contains(&b64) {
            out.push(b64);
        }
    }
    Ok(Some(out))
}

/// Fetches IdP metadata through the outbound client (https, public addresses, no redirects,
/// size and time caps), at most 1 MiB.
pub async fn fetch_metadata(state: &AppState, url: &str) -> Result<IdpMetadata> {
    let field = "idp_metadata_url";
    let checked = state
        .outbound
        .check_url(url)
        .map_err(|e| invalid(field, "url_refused", e.to_string()))?;
    let a = state
        .outbound
        .send(
            state
                .outbound
                .request(reqwest::Method::GET, checked)
                .header(
                    "accept",
                    "application/samlmetadata+xml, application/xml, text/xml",
                ),
        )
        .await
        .map_err(|e| match e {
            crate::net::OutboundError::Refused(m) => invalid(field, "url_refused", m),
            crate::net::OutboundError::Failed(m) => invalid(
                field,
                "metadata_unreachable",
                format!("cannot fetch {url}: {m}"),
            ),
        })?;
    if !a.status.is_success() {
        return Err(invalid(
            field,
            "metadata_unreachable",
            format!("cannot fetch {url}: it answered {}", a.status),
        ));
    }
    if a.body.len() > saml::MAX_METADATA_BYTES {
        return Err(invalid(
            field,
            "metadata_unreachable",
            "the document is larger than 1 MiB",
        ));
    }
    let xml = String::from_utf8(a.body)
        .map_err(|_| invalid(field, "invalid_metadata", "the metadata is not UTF-8"))?;
    saml::parse_idp_metadata(&xml).map_err(|e| saml_invalid(field, e))
}

/// A new SAML connection's settings from its create body (checked before anything is
/// fetched).
pub fn config_from(body: &SamlBody) -> Result<SamlConfig> {
    let mut cfg = SamlConfig::default();
    body.apply(&mut cfg)?;
    Ok(cfg)
}

/// The row of a new SAML connection named `name`: the IdP metadata read (fetched from its URL
/// when given), the endpoints checked, an SP key generated and sealed. Also returns what the
/// audit event shows.
pub async fn new_row(
    state: &AppState,
    body: &SamlBody,
    mut cfg: SamlConfig,
    name: String,
    domains: &[String],
    now: i64,
) -> Result<(ConnectionRow, SamlConfig, serde_json::Value)> {
    cfg.idp = metadata_of(state, body).await?.ok_or_else(|| {
        invalid(
            "idp_metadata_xml",
            "metadata_required",
            "a SAML connection needs the IdP's metadata: idp_metadata_xml or idp_metadata_url",
        )
    })?;
    if body.idp_metadata_url.is_some() {
        cfg.idp_metadata_url = body.idp_metadata_url.clone();
        cfg.metadata_refreshed_at = Some(now);
    }
    if let Some(extra) = extra_certs(body)? {
        cfg.extra_certificates = extra;
    }
    check_endpoints(state, &cfg)?;
    let id = new_id();
    let (key_pem, cert) = tokio::task::spawn_blocking({
        let cn = format!("idbridge SAML SP {id}");
        move || saml::generate_sp_key(&cn)
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(e.detail))?;
    cfg.sp_certificate = cert;
    let row = ConnectionRow {
        secret_sealed: Some(state.master_key.seal(&key_label(&id), &key_pem)?),
        id,
        tenant_id: String::new(),
        kind: crate::domain::ConnectionKind::Saml,
        name,
        enabled: body.enabled.unwrap_or(true),
        config: serde_json::to_string(&cfg).map_err(Error::internal)?,
        created_at: now,
        updated_at: now,
        platform_managed: false,
    };
    let after = json!({"name": row.name, "kind": "saml", "idp_entity_id": cfg.idp.entity_id, "email_domains": domains});
    Ok((row, cfg, after))
}

/// Applies a PATCH to a SAML connection's row (called by `connections::patch` with the row
/// loaded and the caller's permission checked). Returns the config before and after.
pub async fn patch_row(
    state: &AppState,
    row: &mut ConnectionRow,
    body: &SamlBody,
) -> Result<(SamlConfig, SamlConfig)> {
    let before = config_of(row)?;
    let mut cfg = before.clone();
    body.apply(&mut cfg)?;
    if let Some(md) = metadata_of(state, body).await? {
        cfg.idp = md;
        if body.idp_metadata_xml.is_some() {
            cfg.idp_metadata_url = None;
            cfg.metadata_refreshed_at = None;
        }
        if body.idp_metadata_url.is_some() {
            cfg.idp_metadata_url = body.idp_metadata_url.clone();
            cfg.metadata_refreshed_at = Some(state.now_ms());
        }
    }
    if let Some(extra) = extra_certs(body)? {
        cfg.extra_certificates = extra;
    }
    check_endpoints(state, &cfg)?;
    warn_expiring(&row.id, &cfg, state.now_ms());
    row.config = serde_json::to_string(&cfg).map_err(Error::internal)?;
    Ok((before, cfg))
}

/// The IdP's endpoints are where browsers are sent: https only (http only where the deployment
/// allows it, `outbound.allow_private`); never `javascript:`, `data:` or anything else.
fn check_endpoints(state: &AppState, c: &SamlConfig) -> Result<()> {
    for (what, url) in [
        ("SingleSignOnService", Some(&c.idp.sso_url)),
        ("SingleLogoutService", c.idp.slo_url.as_ref()),
    ] {
        let Some(url) = url else { continue };
        let ok = match reqwest::Url::parse(url) {
            Ok(u) => {
                u.scheme() == "https" || (state.outbound.allows_private() && u.scheme() == "http")
            }
            Err(_) => false,
        };
        if !ok {
            return Err(invalid(
                "idp_metadata_xml",
                "invalid_metadata",
                format!("the IdP's {what} location `{url}` is not an https URL"),
            ));
        }
    }
    Ok(())
}

pub fn warn_expiring(id: &str, cfg: &SamlConfig, now: i64) {
    let certs: Vec<saml::CertInfo> = cfg
        .trusted_idp()
        .certs
        .iter()
        .filter_map(|b| saml::cert_info(b).ok())
        .collect();
    for w in cert_warnings(&certs, now) {
        tracing::warn!(connection = %id, "{w}");
    }
}

/// Refetches the metadata of one URL-configured connection and stores it when it parses. A
/// failure keeps the last good metadata. Returns whether anything changed.
pub async fn refresh_metadata(state: &AppState, id: &str) -> Result<bool> {
    let row = {
        let mut c = state.store.acquire().await?;
        store::sso::get(c.conn(), id)
            .await?
            .ok_or(Error::NotFound("connection"))?
    };
    let c = config_of(&row)?;
    let Some(url) = c.idp_metadata_url.clone() else {
        return Err(invalid(
            "idp_metadata_url",
            "no_metadata_url",
            "this connection's metadata was uploaded; upload the new document with PATCH idp_metadata_xml",
        ));
    };
    let fetched = fetch_metadata(state, &url).await?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    // Re-read under the write lock: an admin's PATCH in between wins.
    let Some(mut current) = store::sso::get(tx.conn(), id).await? else {
        return Ok(false);
    };
    let mut cfg = config_of(&current)?;
    if cfg.idp_metadata_url.as_deref() != Some(url.as_str()) {
        return Ok(false);
    }
    let changed = cfg.idp != fetched;
    cfg.idp = fetched;
    cfg.metadata_refreshed_at = Some(now);
    check_endpoints(state, &cfg)?;
    current.config = serde_json::to_string(&cfg).map_err(Error::internal)?;
    current.updated_at = now;
    store::sso::update(tx.conn(), &current).await?;
    if changed {
        audit::record(
            tx.conn(),
            now,
            &audit::Actor {
                id: None,
                label: "idbridge".into(),
                source: "system",
                request_id: None,
            },
            Event {
                tenant_id: Some(&current.tenant_id),
                action: "sso.metadata_refreshed",
                target_type: "sso_connection",
                target_id: Some(&current.id),
                before: Some(serde_json::to_value(&c.idp).map_err(Error::internal)?),
                after: Some(serde_json::to_value(&cfg.idp).map_err(Error::internal)?),
            },
        )
        .await?;
    }
    tx.commit().await?;
    if changed {
        tracing::info!(connection = %id, "SAML IdP metadata changed at {url}; stored");
    }
    Ok(changed)
}

/// The background check of every SAML connection: refetches URL metadata older than the
/// configured interval, warns about signing certificates that expire within 30 days (log and
/// the `idbridge_saml_certificates_expiring` gauge). Returns the number of such certificates.
pub async fn check_all(state: &AppState) -> Result<u64> {
    let rows = {
        let mut c = state.store.acquire().await?;
        store::sso::list_kind(c.conn(), "saml").await?
    };
    let every = i64::from(state.settings.sso.saml_metadata_refresh_hours) * 3_600_000;
    let mut expiring = 0u64;
    for row in rows {
        let Ok(c) = config_of(&row) else { continue };
        let due = every > 0
            && c.idp_metadata_url.is_some()
            && c.metadata_refreshed_at
                .is_none_or(|t| state.now_ms() - t >= every);
        if due && let Err(e) = refresh_metadata(state, &row.id).await {
            state.metrics.count("saml_metadata_refresh_failed");
            tracing::warn!(connection = %row.id, error = %e, "SAML metadata refresh failed; keeping the last good metadata");
        }
        let c = {
            let mut conn = state.store.acquire().await?;
            store::sso::get(conn.conn(), &row.id)
                .await?
                .and_then(|r| config_of(&r).ok())
        };
        let Some(c) = c else { continue };
        let now = state.now_ms();
        let certs: Vec<saml::CertInfo> = c
            .trusted_idp()
            .certs
            .iter()
            .filter_map(|b| saml::cert_info(b).ok())
            .collect();
        for w in cert_warnings(&certs, now) {
            expiring += 1;
            tracing::warn!(connection = %row.id, "{w}");
        }
    }
    state.metrics.set_gauge(
        "saml_certificates_expiring",
        "SAML IdP signing certificates that expire within 30 days.",
        expiring,
    );
    Ok(expiring)
}

fn key_label(id: &str) -> String {
    format!("sso_sp_key:{id}")
}

fn sp_key(state: &AppState, row: &ConnectionRow) -> Result<Vec<u8>> {
    let sealed = row
        .secret_sealed
        .as_deref()
        .ok_or_else(|| Error::internal("SAML connection without an SP key"))?;
    state.master_key.open(&key_label(&row.id), sealed)
}

/// The SP metadata document of a connection.
pub fn sp_metadata(state: &AppState, row: &ConnectionRow) -> Result<String> {
    let c = config_of(row)?;
    Ok(saml::sp_metadata(
        &sp_urls(state, &row.id),
        &c.sp_certificate,
        c.sign_authn_requests,
        c.want_assertions_signed,
        &c.name_id_format,
    ))
}

/// Starts an SP-initiated sign-in: the AuthnRequest URL and the browser binding.
pub async fn begin(
    state: &AppState,
    row: &ConnectionRow,
    return_to: Option<String>,
) -> Result<super::oidc::Begun> {
    let c = config_of(row)?;
    let relay = crypto::new_token("");
    let binding = crypto::new_token("");
    let key = if c.sign_authn_requests || c.idp.want_authn_requests_signed {
        Some(sp_key(state, row)?)
    } else {
        None
    };
    let now = state.now_ms();
    let urls = sp_urls(state, &row.id);
    // Signing (RSA) runs on the blocking pool, like every other SAML crypto step.
    let req = tokio::task::spawn_blocking({
        let (idp, format, relay) = (c.idp.clone(), c.name_id_format.clone(), relay.clone());
        move || saml::authn_request(&urls, &idp, Some(&format), &relay, key.as_deref(), now)
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(format!("{}: {}", e.reason, e.detail)))?;
    let pending = PendingRow {
        state_hash: crypto::token_hash(&relay),
        connection_id: row.id.clone(),
        binding_hash: crypto::token_hash(&binding),
        // The AuthnRequest ID the response must answer (InResponseTo).
        nonce: req.id,
        pkce_sealed: String::new(),
        issuer: c.idp.entity_id.clone(),
        return_to,
        created_at: now,
        expires_at: now + PENDING_TTL_MS,
    };
    let mut tx = state.store.begin().await?;
    store::sso::insert_pending(tx.conn(), &pending).await?;
    tx.commit().await?;
    Ok(super::oidc::Begun {
        authorize_url: req.url,
        binding,
    })
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AcsForm {
    /// The IdP's `Response`, base64.
    #[serde(rename = "SAMLResponse")]
    pub saml_response: String,
    /// The value of the AuthnRequest's RelayState; for an unsolicited response, the target.
    #[serde(rename = "RelayState", default)]
    pub relay_state: Option<String>,
}

/// A checked assertion turned into an identity, and where to go afterwards.
pub struct Finished {
    pub identity: super::ExternalIdentity,
    pub return_to: Option<String>,
    /// What the sign-in's transaction must consume and record.
    pub consume: Consume,
}

/// The single-use parts of a checked response, consumed in the transaction that signs the user
/// in (one write transaction per ACS post): the pending request (SP-initiated) and the
/// assertion id (replay cache), plus the SAML subject recorded with the session.
pub struct Consume {
    pub connection_id: String,
    pub pending_state_hash: Option<String>,
    pub assertion_id: String,
    pub remember_until_ms: i64,
    pub subject: store::sso::SamlSubject,
}

impl Consume {
    pub async fn consume(
        &self,
        state: &AppState,
        tx: &mut store::Tx,
    ) -> std::result::Result<(), Fail> {
        if let Some(h) = &self.pending_state_hash
            && store::sso::take_pending(tx.conn(), h, state.now_ms())
                .await?
                .is_none()
        {
            return Err(fail(
                "saml.state_unknown",
                "the pending request was already used",
            ));
        }
        let fresh = store::sso::remember_assertion(
            tx.conn(),
            &self.connection_id,
            &self.assertion_id,
            self.remember_until_ms,
        )
        .await?;
        if !fresh {
            return Err(fail(
                "saml.replay",
                format!("assertion {} was already used", self.assertion_id),
            ));
        }
        Ok(())
    }
}

/// Checks an assertion posted to the ACS: the pending request it answers (or the connection's
/// permission for unsolicited ones), the response itself, and the replay cache.
pub async fn finish(
    state: &AppState,
    row: &ConnectionRow,
    form: AcsForm,
    binding: Option<&str>,
) -> std::result::Result<Finished, Fail> {
    let c = config_of(row)?;
    let relay = form.relay_state.as_deref().filter(|r| !r.is_empty());
    // Read here, taken (single use) in the sign-in's transaction.
    let pending = match relay {
        Some(r) if r.len() <= 128 => {
            let mut c = state.store.acquire().await?;
            store::sso::peek_pending(c.conn(), &crypto::token_hash(r), state.now_ms()).await?
        }
        _ => None,
    };
    let pending_state_hash = pending.as_ref().map(|p| p.state_hash.clone());
    let (request_id, return_to) = match pending {
        Some(p) => {
            if p.connection_id != row.id {
                return Err(fail(
                    "saml.state_mismatch",
                    "the RelayState belongs to another connection",
                ));
            }
            let bound = binding.is_some_and(|b| {
                crypto::ct_eq(crypto::token_hash(b).as_bytes(), p.binding_hash.as_bytes())
            });
            if !bound {
                return Err(fail(
                    "saml.browser_mismatch",
                    "the response came to another browser than the one that started",
                ));
            }
            (Some(p.nonce), p.return_to)
        }
        None if c.allow_idp_initiated => {
            // RelayState of an unsolicited response is only a target, and only an allowed one.
            (None, crate::web::redirect::safe_rd(state, relay))
        }
        None => {
            return Err(fail(
                "saml.unsolicited",
                "an unsolicited response (IdP-initiated sign-in), and the connection does not allow them",
            ));
        }
    };
    let xml = saml::decode_post(&form.saml_response).map_err(to_fail)?;
    let key = sp_key(state, row)?;
    let urls = sp_urls(state, &row.id);
    let now = state.now_ms();
    let skew = i64::from(c.clock_skew_secs);
    let idp = c.trusted_idp();
    let want_assertions_signed = c.want_assertions_signed;
    let asserted = tokio::task::spawn_blocking(move || {
        saml::validate(
            &xml,
            &saml::Expect {
                sp: &urls,
                idp: &idp,
                request_id: request_id.as_deref(),
                now_ms: now,
                skew_secs: skew,
                sp_key_pem: Some(&key),
                want_assertions_signed,
            },
        )
    })
    .await
    .map_err(|e| Fail::from(Error::internal(e)))?
    .map_err(to_fail)?;
    // The identity key is the NameID: a transient one changes at every sign-in and would make a
    // new user each time.
    if asserted.name_id_format.as_deref()
        == Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
    {
        return Err(fail(
            "saml.transient_name_id",
            "the IdP sent a transient NameID; configure it to send a persistent or email NameID",
        ));
    }
    Ok(Finished {
        identity: identity(row, &c, &asserted),
        return_to,
        consume: Consume {
            connection_id: row.id.clone(),
            pending_state_hash,
            assertion_id: asserted.id,
            remember_until_ms: asserted.remember_until_ms,
            subject: store::sso::SamlSubject {
                name_id: asserted.name_id,
                format: asserted.name_id_format,
                session_index: asserted.session_index,
            },
        },
    })
}

fn to_fail(e: saml::SamlError) -> Fail {
    fail(e.reason, e.detail)
}

fn first<'a>(
    attrs: &'a BTreeMap<String, Vec<String>>,
    configured: &Option<String>,
    defaults: &[&str],
) -> Option<&'a String> {
    match configured {
        Some(name) => attrs.get(name).and_then(|v| v.first()),
        None => defaults
            .iter()
            .find_map(|n| attrs.get(*n).and_then(|v| v.first())),
    }
}

/// The protocol-neutral identity of a verified assertion. The subject is the NameID; the email
/// comes from the email attribute, else from an email-shaped NameID. An IdP's assertion of an
/// email counts as verified (SAML has no `email_verified`); linking still needs the connection's
/// `allow_email_linking`.
pub fn identity(
    row: &ConnectionRow,
    c: &SamlConfig,
    a: &saml::Asserted,
) -> super::ExternalIdentity {
    let email = first(&a.attributes, &c.email_attribute, &EMAIL_ATTRS)
        .cloned()
        .or_else(|| a.name_id.contains('@').then(|| a.name_id.clone()));
    let groups: Vec<String> = match &c.groups_attribute {
        Some(name) => a.attributes.get(name).cloned().unwrap_or_default(),
        None => GROUP_ATTRS
            .iter()
            .find_map(|n| a.attributes.get(*n).cloned())
            .unwrap_or_default(),
    };
    let given = first(&a.attributes, &c.first_name_attribute, &FIRST_NAME_ATTRS).cloned();
    let family = first(&a.attributes, &c.last_name_attribute, &LAST_NAME_ATTRS).cloned();
    let name = match (&given, &family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(g), None) => Some(g.clone()),
        _ => None,
    };
    super::ExternalIdentity {
        connection_id: row.id.clone(),
        tenant_id: row.tenant_id.clone(),
        issuer: c.idp.entity_id.clone(),
        subject: a.name_id.clone(),
        email,
        email_verified: true,
        allow_email_linking: c.allow_email_linking,
        platform_managed: row.platform_managed,
        name,
        given_name: given,
        family_name: family,
        groups: Some(groups),
    }
}

// ---------------------------------------------------------------------------------------------
// Single logout

/// The IdP's LogoutRequest URL for a session that came from a SAML connection whose IdP has a
/// SingleLogoutService (SP-initiated single logout).
pub async fn logout_url(state: &AppState, row: &ConnectionRow, session_id: &str) -> Option<String> {
    let c = config_of(row).ok()?;
    let slo = c.idp.slo_url.clone()?;
    let sess = {
        let mut conn = state.store.acquire().await.ok()?;
        store::sso::saml_session(conn.conn(), session_id)
            .await
            .ok()??
    };
    let key = sp_key(state, row).ok()?;
    let (urls, now) = (sp_urls(state, &row.id), state.now_ms());
    tokio::task::spawn_blocking(move || {
        saml::logout_request(
            &urls,
            &slo,
            sess.saml_name_id.as_deref().unwrap_or_default(),
            sess.saml_name_id_format.as_deref(),
            sess.saml_session_index.as_deref(),
            &key,
            now,
        )
    })
    .await
    .ok()?
    .map(|(url, _)| url)
    .map_err(|e| tracing::warn!(connection = %row.id, reason = e.reason, detail = %e.detail, "cannot build the SAML LogoutRequest"))
    .ok()
}

/// What the SLO endpoint does next.
pub enum SloOutcome {
    /// Answer the IdP (LogoutResponse over HTTP-Redirect).
    Redirect(String),
    /// The IdP confirmed (or refused) our logout: the local session is already gone.
    Done,
}

/// Handles a logout message from the IdP (HTTP-Redirect query or HTTP-POST form): verifies it,
/// ends the sessions a LogoutRequest names (every replica sees it within the revocation poll
/// interval) and answers with a signed LogoutResponse.
pub async fn handle_logout(
    state: &AppState,
    row: &ConnectionRow,
    raw_query: Option<&str>,
    posted: Option<(String, Option<String>)>,
    request_id: Option<&str>,
) -> std::result::Result<SloOutcome, Fail> {
    let c = config_of(row)?;
    let idp = c.trusted_idp();
    let urls = sp_urls(state, &row.id);
    let now = state.now_ms();
    let skew = i64::from(c.clock_skew_secs);
    let (logout, relay) = tokio::task::spawn_blocking({
        let idp = idp.clone();
        let urls = urls.clone();
        let raw = raw_query.map(str::to_string);
        move || -> std::result::Result<(saml::Logout, Option<String>), saml::SamlError> {
            let (xml, relay) = match (raw, posted) {
                (_, Some((b64, relay))) => {
                    let xml = saml::decode_post(&b64)?;
                    (saml::verify_post(&xml, &idp)?, relay)
                }
                (Some(q), None) => saml::verify_redirect(&q, &idp)?,
                (None, None) => {
                    return Err(saml::SamlError {
                        reason: "saml.malformed",
                        detail: "no SAML message".into(),
                    });
                }
            };
            Ok((saml::parse_logout(&xml, &idp, &urls, now, skew)?, relay))
        }
    })
    .await
    .map_err(|e| Fail::from(Error::internal(e)))?
    .map_err(to_fail)?;
    match logout {
        saml::Logout::Response { success, .. } => {
            if !success {
                tracing::warn!(connection = %row.id, "the IdP reported that single logout did not complete");
            }
            Ok(SloOutcome::Done)
        }
        saml::Logout::Request {
            id,
            name_id,
            session_indexes,
        } => {
            let mut tx = state.store.begin().await?;
            let sessions = store::sso::saml_sessions_of(tx.conn(), &row.id, &name_id).await?;
            let mut ended = 0;
            for s in sessions.iter().filter(|s| {
                session_indexes.is_empty()
                    || s.saml_session_index
                        .as_ref()
                        .is_some_and(|i| session_indexes.contains(i))
            }) {
                if store::sessions::revoke(&mut tx, &s.session_id, now).await? {
                    ended += 1;
                }
            }
            audit::record(
                tx.conn(),
                now,
                &audit::Actor {
                    id: None,
                    label: c.idp.entity_id.clone(),
                    source: "sso",
                    request_id,
                },
                Event {
                    tenant_id: Some(&row.tenant_id),
                    action: "sso.idp_logout",
                    target_type: "sso_connection",
                    target_id: Some(&row.id),
                    before: None,
                    after: Some(json!({"name_id": name_id, "sessions_ended": ended})),
                },
            )
            .await?;
            tx.commit().await?;
            let slo = c.idp.slo_url.clone().ok_or_else(|| {
                fail(
                    "saml.no_slo_url",
                    "the IdP sent a LogoutRequest but publishes no SingleLogoutService to answer",
                )
            })?;
            let key = sp_key(state, row)?;
            let url = tokio::task::spawn_blocking(move || {
                saml::logout_response(&urls, &slo, &id, relay.as_deref(), &key, now)
            })
            .await
            .map_err(|e| Fail::from(Error::internal(e)))?
            .map_err(to_fail)?;
            Ok(SloOutcome::Redirect(url))
        }
    }
}
