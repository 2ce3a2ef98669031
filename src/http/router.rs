//! The whole router: every feature's routes, then the middleware stack (request id, tracing,
//! metrics, body limit, timeout, panic catcher, sensitive headers).
//!
//! `/auth/verify` is the one exception: reverse proxies call it before every request they pass
//! on, so it gets a lean stack of its own (panic catcher, metrics, the caller's `x-request-id`
//! echoed back). It reads no body, its cache hits never wait on I/O, and its slow path is bounded
//! by the database pool's acquire timeout, so the timeout layer and the per-request trace span
//! would only cost it throughput. Its errors are still logged by `ApiError`.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::body;
use crate::state::AppState;

/// Operations served outside the feature router: forward auth has a lean stack of its own.
#[derive(OpenApi)]
#[openapi(paths(crate::tokens::forward_auth::verify))]
struct OutsideTheRouter;

/// Every feature's routes with their OpenAPI annotations (see [`super::openapi`]).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(
        super::openapi::ApiDoc::openapi().merge_from(OutsideTheRouter::openapi()),
    )
    .merge(super::health::routes())
    .merge(crate::auth::handlers::routes())
    .merge(crate::users::handlers::routes())
    .merge(crate::tenants::handlers::routes())
    .merge(crate::rbac::handlers::routes())
    .merge(crate::tokens::api_tokens::routes())
    .merge(crate::tokens::handlers::routes())
    .merge(crate::tokens::oauth::routes())
    .merge(crate::tokens::provider::routes())
    .merge(crate::web::routes())
    .merge(crate::console::routes())
    .merge(crate::audit::handlers::routes())
    .merge(crate::sso::handlers::routes())
    .merge(crate::scim::routes())
    .routes(routes!(document_json))
}

/// The whole OpenAPI document: the annotations of every route the router mounts.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let mut doc = api().split_for_parts().1;
        super::openapi::finish(&mut doc, &crate::auth::attempts::SIGN_IN_PATHS);
        doc
    });
    &DOC
}

/// This document, as JSON.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document_json() -> impl axum::response::IntoResponse {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string(document()).expect("the OpenAPI document serializes")
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        JSON.as_str(),
    )
}

pub fn build(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.settings.server.body_limit_bytes;
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let (api, _) = api().split_for_parts();
    let main = api
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        // Outside the timeout and the panic catcher: a 408 and a caught panic's 500 are counted
        // and logged like every other answer.
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // No raw path: it holds ids; the route template is recorded once known.
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                request_id = %id,
                route = tracing::field::Empty,
                status = tracing::field::Empty,
                tenant = tracing::field::Empty,
                otel.kind = "server",
            );
            crate::telemetry::continue_trace(&span, req.headers());
            span
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, CounterIds::shared()))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(state.clone());
    // `route_layer` wraps only the routes above it, never the fallback (everything else).
    Router::new()
        .route("/auth/verify", get(crate::tokens::forward_auth::verify))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe_lean))
        .route_layer(CatchPanicLayer::custom(|_| {
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        .fallback_service(main)
        .with_state(state)
}

/// What `axum::serve` runs per connection: answers `/auth/verify` for a cached caller before
/// any routing or middleware (no future, no boxing, no extensions), and hands every other
/// request (and every cache miss) to the router with the peer address as `ConnectInfo`.
#[derive(Clone)]
pub struct MakeDispatch {
    state: AppState,
    router: Router,
}

impl MakeDispatch {
    pub fn new(state: AppState) -> Self {
        let router = build(state.clone());
        Self { state, router }
    }
}

impl<'a> tower::Service<axum::serve::IncomingStream<'a, tokio::net::TcpListener>> for MakeDispatch {
    type Response = Dispatch;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Dispatch, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(
        &mut self,
        conn: axum::serve::IncomingStream<'a, tokio::net::TcpListener>,
    ) -> Self::Future {
        std::future::ready(Ok(Dispatch {
            state: self.state.clone(),
            router: self.router.clone(),
            peer: *conn.remote_addr(),
        }))
    }
}

/// One connection's service (see [`MakeDispatch`]).
#[derive(Clone)]
pub struct Dispatch {
    state: AppState,
    router: Router,
    peer: std::net::SocketAddr,
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        futures_util::future::Either<
            std::future::Ready<Result<Response, std::convert::Infallible>>,
            crate::auth::throttle::Delayed,
        >,
        <Router as tower::Service<Request>>::Future,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        use futures_util::future::Either;
        if let Some(mut resp) = crate::auth::attempts::refuse_early(&self.state, self.peer, &req) {
            if let Some(id) = req.headers().get(REQUEST_ID) {
                resp.headers_mut().insert(REQUEST_ID, id.clone());
            }
            self.state
                .metrics
                .observe(req.method().as_str(), req.uri().path(), 429, 0);
            // Held back before it is answered: a flood that waits for answers slows down.
            if let Some((delay, held)) = self.state.throttle.hold() {
                return Either::Left(Either::Right(crate::auth::throttle::Delayed::new(
                    resp, delay, held,
                )));
            }
            return Either::Left(Either::Left(std::future::ready(Ok(resp))));
        }
        if let Some(resp) = self.lean(&req) {
            return Either::Left(Either::Left(std::future::ready(Ok(resp))));
        }
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        Either::Right(tower::Service::call(&mut self.router, req))
    }
}

/// A route answered before any routing for a caller in the verified-credential cache: forward
/// auth (`/auth/verify`) and `/api/rbac/can-i`, which apps call on their own hot paths.
/// The answer and, for `/api`, the caller's verified entry (its tenant goes in the access log).
type LeanAnswer = fn(
    &AppState,
    std::net::SocketAddr,
    &Request,
) -> Option<(Response, Option<Arc<crate::auth::verified::Verified>>)>;

impl Dispatch {
    /// The answer from the cache, or `None`: the router answers (a miss, or anything the lean
    /// path does not decide, such as an error).
    fn lean(&self, req: &Request) -> Option<Response> {
        use axum::http::Method;
        let (route, answer, api): (&str, LeanAnswer, bool) = match (req.method(), req.uri().path())
        {
            (&Method::GET | &Method::HEAD, "/auth/verify") => (
                "/auth/verify",
                crate::tokens::forward_auth::answer_from_cache,
                false,
            ),
            (&Method::GET, "/api/rbac/can-i") => (
                "/api/rbac/can-i",
                crate::rbac::handlers::can_i_from_cache,
                true,
            ),
            (&Method::GET, "/api/me") => ("/api/me", crate::auth::handlers::me_from_cache, true),
            _ => return None,
        };
        // With tracing on, every `/api` request gets its span: the router answers.
        if api && crate::telemetry::enabled() {
            return None;
        }
        let start = Instant::now();
        // A panic here is a bug; the router then answers (and catches it).
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answer(&self.state, self.peer, req)
        }));
        let Ok(Some((mut resp, caller))) = answer else {
            return None;
        };
        // `/api` answers carry a request id (the caller's, else a new one) and are logged like
        // the router's; forward auth echoes the proxy's id only, and its log is the proxy's.
        let id = match req.headers().get(REQUEST_ID) {
            Some(id) => Some(id.clone()),
            None if api => CounterIds::shared()
                .make_request_id(req)
                .map(|id| id.header_value().clone()),
            None => None,
        };
        let micros = start.elapsed().as_micros() as u64;
        let status = resp.status().as_u16();
        self.state
            .metrics
            .observe(req.method().as_str(), route, status, micros);
        if api {
            let tenant = caller.as_ref().map_or("", |v| v.tenant_id());
            let id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
            super::access::log(id, req.method().as_str(), route, status, micros, tenant);
        }
        if let Some(id) = id {
            resp.headers_mut().insert(REQUEST_ID, id);
        }
        Some(resp)
    }
}

/// The lean stack's metrics and request id: counted under the route template like every other
/// request; an incoming `x-request-id` (nginx `$request_id`, Envoy) is echoed, none is minted.
async fn observe_lean(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let id = req.headers().get(REQUEST_ID).cloned();
    let mut resp = next.run(req).await;
    s.metrics.observe(
        method.as_str(),
        "/auth/verify",
        resp.status().as_u16(),
        start.elapsed().as_micros() as u64,
    );
    if let Some(id) = id {
        resp.headers_mut().insert(REQUEST_ID, id);
    }
    resp
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a random per-process prefix and a counter: unique across replicas and restarts
/// for all practical purposes, and no system call per request (a UUID v4 costs a `getrandom`).
#[derive(Clone)]
struct CounterIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CounterIds {
    /// The process's one sequence (the router's and the lean paths').
    fn shared() -> Self {
        static IDS: std::sync::OnceLock<CounterIds> = std::sync::OnceLock::new();
        IDS.get_or_init(CounterIds::new).clone()
    }

    fn new() -> Self {
        Self {
            prefix: crate::crypto::hex(&crate::crypto::random_bytes::<6>()).into(),
            next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for CounterIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n:010x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

async fn not_found() -> Response {
    body(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint: see docs/api.md",
    )
}

/// Counts and times every request by its route template (never the raw path: ids would
/// explode the label set).
async fn observe(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Method and MatchedPath clone cheaply (no allocation): the hot path stays lean.
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let id = req.headers().get(REQUEST_ID).cloned();
    let tenant = super::access::RequestTenant::default();
    req.extensions_mut().insert(tenant.clone());
    let resp = next.run(req).await;
    let route = route
        .as_ref()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let micros = start.elapsed().as_micros() as u64;
    let status = resp.status().as_u16();
    s.metrics.observe(method.as_str(), route, status, micros);
    let id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
    if crate::telemetry::enabled() {
        let span = tracing::Span::current();
        span.record("route", route);
        span.record("status", i64::from(status));
        span.record("tenant", tenant.get());
        crate::telemetry::name_span(&span, format!("{method} {route}"));
    }
    super::access::log(id, method.as_str(), route, status, micros, tenant.get());
    resp
}
