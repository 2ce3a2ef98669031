//! The OpenAPI 3.1 document of every API route, built from the handlers' own `#[utoipa::path]`
//! annotations as the router mounts them (`utoipa_axum::routes!` takes the path and method from
//! the annotation, so a documented route and its handler cannot disagree), served at
//! `/api/openapi.json`.
//!
//! What every operation shares is added here once, from the operation's own shape, rather than
//! repeated on each handler:
//! - an operation that needs a caller (has a `security` requirement) answers 401
//!   `unauthenticated`;
//! - a JSON body can be malformed (400 `invalid_json`), too large (413 `payload_too_large`) or of
//!   another media type (415 `unsupported_media_type`);
//! - query parameters can fail to parse (400 `invalid_query`);
//! - a write with the session cookie from another origin is refused (403 `csrf`);
//! - a sign-in attempt (`auth::attempts::SIGN_IN_PATHS`) can be over its address's limit (429);
//!
//! SCIM operations (`/scim/v2`) speak RFC 7644 errors instead (`application/scim+json`).

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Security scheme names, as handlers name them in `security(...)`.
pub const SESSION: &str = "session";
pub const BEARER: &str = "bearer";
pub const SCIM_TOKEN: &str = "scim_token";
pub const CLIENT: &str = "client_credentials";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idbridge",
        description = "SSO and SCIM identity bridge gateway: the admin API, sign-in, SCIM 2.0 \
            and the OAuth 2.0 / OpenID Connect provider.\n\n\
            Errors of `/api` are `{\"error\": code, \"message\": text, \"field\"?: name}` with a \
            stable `code`; SCIM errors follow RFC 7644 section 3.12. Every `/api` operation \
            that needs a caller takes a session cookie or an `Authorization: Bearer` token (an \
            API token `idb_...` or a first-party access token); what it further needs is named \
            in its description (`Permission:`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security),
    // The default: an operation needs a caller unless it says otherwise (`security(())`).
    security(("session" = []), ("bearer" = [])),
    components(schemas(ErrorBody, ScimErrorBody)),
    tags(
        (name = "health", description = "Liveness, readiness, metrics and the public key set"),
        (name = "auth", description = "Registration, sign-in, invitations and password reset"),
        (name = "users", description = "Users of a tenant"),
        (name = "tenants", description = "Tenants, subtenants and memberships"),
        (name = "domains", description = "Email domains a tenant claims and verifies"),
        (name = "roles", description = "Roles, permissions and authorization checks"),
        (name = "tokens", description = "API tokens and the signing keys"),
        (name = "oauth", description = "OAuth 2.0 clients and the token, introspection and revocation endpoints"),
        (name = "oidc", description = "The OpenID Connect provider"),
        (name = "audit", description = "The audit log"),
        (name = "sso", description = "SSO connections toward each tenant's identity provider, and the sign-in flows"),
        (name = "scim-admin", description = "SCIM bearer tokens, the provisioning log and held group keys"),
        (name = "scim", description = "SCIM 2.0 (RFC 7643, RFC 7644) for identity providers"),
    )
)]
pub struct ApiDoc;

/// The error body of every `/api` refusal.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code (`invalid_json`, `forbidden`, `not_found`, `email_taken`, ...).
    pub error: String,
    /// What went wrong and how to fix it, for a person.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An RFC 7644 section 3.12 error.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimErrorBody {
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    /// `invalidFilter`, `tooMany`, `uniqueness`, `mutability`, `invalidSyntax`, `invalidPath`,
    /// `noTarget`, `invalidValue`, `invalidVers`, `sensitive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Adds what every operation shares (see the module's comment) once the routes are in:
/// `ApiDoc`'s own modifiers run before any path exists. `sign_in`: the `POST` paths whose
/// per-address limit is checked before routing (429 `rate_limited`).
pub fn finish(doc: &mut Document, sign_in: &[&str]) {
    SharedRefusals.modify(doc);
    for path in sign_in {
        if let Some(op) = doc.paths.paths.get_mut(*path).and_then(|i| i.post.as_mut()) {
            add(
                op,
                "429",
                "`rate_limited`: too many sign-in attempts from the caller's address; \
                 `Retry-After` says when to try again"
                    .into(),
                "ErrorBody",
                "application/json",
            );
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-idbridge_session",
                "The session cookie set by sign-in (named after `session.cookie_name`; without \
                 the `__Host-` prefix when `session.cookie_domain` is set). A write with it must \
                 come from idbridge's own origin.",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            bearer(
                "An API token (`idb_...`) or a first-party access token bound to a live session.",
            ),
        );
        components.add_security_scheme(
            SCIM_TOKEN,
            bearer("A tenant's SCIM bearer token (`POST /api/scim/tokens`)."),
        );
        components.add_security_scheme(
            CLIENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An OAuth client's id and secret (`client_secret_basic`); \
                         `client_secret_post` sends them as form fields instead.",
                    ))
                    .build(),
            ),
        );
    }
}

struct SharedRefusals;

impl Modify for SharedRefusals {
    fn modify(&self, doc: &mut Document) {
        unique_operation_ids(doc);
        for (path, item) in doc.paths.paths.iter_mut() {
            // The admin API and forward auth share the `/api` refusals (`http::extract`); the
            // OAuth and OIDC endpoints speak their own protocol and document their answers.
            let scim = path.starts_with("/scim/");
            for (write, op) in [
                (false, &mut item.get),
                (true, &mut item.put),
                (true, &mut item.post),
                (true, &mut item.delete),
                (true, &mut item.patch),
            ] {
                let Some(op) = op else { continue };
                if scim {
                    scim_refusals(op);
                } else if path.starts_with("/api/") || path.starts_with("/auth/") {
                    api_refusals(op, write);
                }
                described(op);
                deduplicated(op);
            }
        }
    }
}

/// No `security` of its own: the document's default (a session or a bearer token).
fn needs_caller(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_none_or(|s| !s.is_empty() && !s.iter().any(is_empty_requirement))
}

/// `{}` in a `security` list means "or no credentials at all".
fn is_empty_requirement(r: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}

fn json_body(op: &Operation) -> bool {
    op.request_body
        .as_ref()
        .is_some_and(|b| matches!(b, RefOr::T(b) if b.content.contains_key("application/json")))
}

/// An optional body is read as raw bytes (empty means the defaults), so its content type is
/// never refused.
fn body_required(op: &Operation) -> bool {
    op.request_body.as_ref().is_some_and(
        |b| matches!(b, RefOr::T(b) if matches!(b.required, Some(utoipa::openapi::Required::True))),
    )
}

fn has_query(op: &Operation) -> bool {
    op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)))
    })
}

fn add(op: &mut Operation, status: &str, description: String, schema: &str, media: &str) {
    let responses = &mut op.responses.responses;
    if let Some(RefOr::T(existing)) = responses.get_mut(status) {
        // The handler documented this status with its own codes: the shared ones are added to
        // its description.
        if !existing.description.contains(&description) {
            existing.description = format!("{}; {description}", existing.description);
        }
        if existing.content.is_empty() {
            existing.content.insert(
                media.to_string(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                ),
            );
        }
        return;
    }
    responses.insert(
        status.to_string(),
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    media,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build(),
        ),
    );
}

/// An operation id is its handler's name; handlers of different modules share names
/// (`list_h`), and ids must be unique: a shared one becomes `<method>_<path>` instead
/// (`get_api_sso_connections_id`).
fn unique_operation_ids(doc: &mut Document) {
    let mut count = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values() {
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            if let Some(id) = &op.operation_id {
                *count.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ] {
            let Some(op) = op else { continue };
            if op.operation_id.as_ref().is_none_or(|id| count[id] > 1) {
                let words: Vec<&str> = path
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                op.operation_id = Some(format!("{method}_{}", words.join("_")).to_lowercase());
            }
        }
    }
}

/// OpenAPI requires a description on every response: one the handler left empty gets the
/// status's reason phrase.
fn described(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(r) = response
            && r.description.is_empty()
        {
            r.description = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Response")
                .to_string();
        }
    }
}

/// `axum_extras` infers a path parameter from a `Path<String>` argument even when the
/// annotation declares it: the declared one (first, with its description) is kept.
fn deduplicated(op: &mut Operation) {
    if let Some(params) = op.parameters.as_mut() {
        let mut seen = std::collections::HashSet::new();
        params.retain(|p| match p {
            RefOr::T(p) => seen.insert((
                p.name.clone(),
                serde_json::to_string(&p.parameter_in).unwrap_or_default(),
            )),
            RefOr::Ref(_) => true,
        });
    }
}

fn api_refusals(op: &mut Operation, write: bool) {
    let json = "application/json";
    if needs_caller(op) {
        add(
            op,
            "401",
            "`unauthenticated`: no valid session cookie or bearer token".into(),
            "ErrorBody",
            json,
        );
        if write {
            add(
                op,
                "403",
                "`csrf`: a write with the session cookie from another origin".into(),
                "ErrorBody",
                json,
            );
        }
    }
    if json_body(op) {
        add(
            op,
            "400",
            "`invalid_json`: the body is not the JSON this operation takes".into(),
            "ErrorBody",
            json,
        );
        add(
            op,
            "413",
            "`payload_too_large`: the body is larger than `server.body_limit_bytes`".into(),
            "ErrorBody",
            json,
        );
        if body_required(op) {
            add(
                op,
                "415",
                "`unsupported_media_type`: send the body with `Content-Type: application/json`"
                    .into(),
                "ErrorBody",
                json,
            );
        }
    }
    if has_query(op) {
        add(
            op,
            "400",
            "`invalid_query`: a query parameter does not parse".into(),
            "ErrorBody",
            json,
        );
    }
}

fn scim_refusals(op: &mut Operation) {
    let scim = "application/scim+json";
    if needs_caller(op) {
        add(
            op,
            "401",
            "no valid SCIM bearer token (with `WWW-Authenticate: Bearer realm=\"scim\"`)".into(),
            "ScimErrorBody",
            scim,
        );
        // `auth::ScimClient`: before the token is looked up, and per token after.
        add(
            op,
            "429",
            "too many failed authentications from the caller's address, or too many requests \
             with this token (`throttle.scim_requests_per_second`); `Retry-After` says when to \
             try again"
                .into(),
            "ScimErrorBody",
            scim,
        );
    }
    if op.request_body.is_some() {
        add(
            op,
            "400",
            "`invalidSyntax`: the body is not SCIM JSON".into(),
            "ScimErrorBody",
            scim,
        );
        add(
            op,
            "413",
            "the body is larger than the advertised `maxPayloadSize`".into(),
            "ScimErrorBody",
            scim,
        );
        // `wire::ScimBody`: no content type is accepted too.
        add(
            op,
            "415",
            "the body's `Content-Type` is neither `application/scim+json` nor `application/json`"
                .into(),
            "ScimErrorBody",
            scim,
        );
    }
}
