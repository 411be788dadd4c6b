//! War Room gateway: REST under `/api/v1/` (axum) and WebSocket push at `/api/v1/ws`
//! (fastwebsockets). It speaks to the engine only through [`Runtime`]: it never touches
//! the dataflow's state or SQL (accounts go through `warroom_storage::accounts`).
//!
//! Every `/api/v1/*` route but `health`, `auth/login`, `auth/refresh`, `openapi.json`,
//! `docs` and `webhooks/{service}` (signed instead, [`webhooks::incoming`]) requires a
//! credential ([`auth`]); every route is described in [`openapi`]; the WebSocket
//! authenticates on the upgrade or with its first frame. `GET /metrics` (Prometheus) is at
//! the root, unauthenticated, loopback-only by default. The web app ([`web`]) is served at
//! `/`.

pub mod admin;
pub mod auth;
pub mod data_mode;
pub mod error;
pub mod export;
pub mod hardening;
pub mod ingest;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod rest;
pub mod web;
pub mod webhooks;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use tokio::net::TcpListener;
use warroom_actors::runtime::Runtime;

use crate::error::ApiError;

/// What every handler can reach.
pub struct AppState {
    /// The engine.
    pub runtime: Arc<Runtime>,
    /// Authentication, accounts and rate limits.
    pub auth: Arc<auth::Auth>,
    /// Timeout of a call to an organisation actor.
    pub call_timeout: Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most records per ingest request.
    pub max_records: usize,
    /// Flips to true when the server starts shutting down (sockets close with 1001).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.runtime.config().server.request_timeout;
    let protected = Router::new()
        .route("/orgs", get(rest::orgs))
        .route("/auth/logout", post(auth::routes::logout))
        .route("/auth/me", get(auth::routes::me))
        .route("/auth/password", post(auth::routes::change_password))
        .route(
            "/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route("/admin/users/{id}", patch(admin::update_user))
        .route("/admin/connectors", get(admin::list_connectors))
        .route("/admin/overview", get(admin::overview))
        .route(
            "/admin/api-keys",
            get(admin::list_api_keys).post(admin::create_api_key),
        )
        .route(
            "/admin/api-keys/{id}",
            axum::routing::delete(admin::revoke_api_key),
        )
        .route("/admin/data-mode", get(data_mode::get).put(data_mode::put))
        .route(
            "/admin/webhooks",
            get(webhooks::admin::list).post(webhooks::admin::create),
        )
        .route(
            "/admin/webhooks/{id}",
            axum::routing::delete(webhooks::admin::delete),
        )
        .route(
            "/admin/webhooks/{id}/deliveries",
            get(webhooks::admin::deliveries),
        )
        .route("/audit", get(admin::audit))
        .route("/metrics/dashboard", get(rest::dashboard))
        .route("/mentions", get(rest::mentions))
        .route("/mentions/sentiment", get(rest::mentions_sentiment))
        .route("/mentions/geo", get(rest::mentions_geo))
        .route("/mentions/influencers", get(rest::mentions_influencers))
        .route("/mentions/trending", get(rest::mentions_trending))
        .route("/campaigns", get(rest::campaigns))
        .route(
            "/campaigns/{id}/performance",
            get(rest::campaign_performance),
        )
        .route("/alerts", get(rest::alerts))
        .route("/alerts/{id}/acknowledge", post(rest::acknowledge))
        .route("/alerts/{id}/resolve", post(rest::resolve))
        .route("/ingest/mentions", post(ingest::mentions))
        .route("/ingest/campaign-metrics", post(ingest::campaign_metrics))
        .route("/reports/export/{format}", post(export::export))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_auth,
        ));
    let api = Router::new()
        .route("/health", get(rest::health))
        .route("/auth/login", post(auth::routes::login))
        .route("/auth/refresh", post(auth::routes::refresh))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/docs.js", get(openapi::docs_script))
        .route("/docs/docs.css", get(openapi::docs_style))
        // Authenticated by its signature, not by a credential (webhooks::incoming).
        .route("/webhooks/{service}", post(webhooks::incoming::receive))
        .merge(protected)
        .layer(middleware::from_fn(move |req, next| {
            with_timeout(timeout, req, next)
        }))
        // The socket route is outside the timeout: an upgraded connection lives on.
        .route("/ws", get(ws::upgrade))
        .method_not_allowed_fallback(method_not_allowed);
    let http = state.runtime.config().http.clone();
    let max_body = state.max_body_bytes;
    let router = Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::metrics))
        .route("/assets/{version}/{*path}", get(web::asset))
        .route("/favicon.ico", get(web::favicon))
        .fallback(fallback)
        // Bodies read whole by any route (ingest enforces the same limit itself).
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(error::json_rejections))
        .with_state(state);
    hardening::apply(router, &http)
}

async fn with_timeout(
    timeout: Duration,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    tokio::time::timeout(timeout, next.run(request))
        .await
        .map_err(|_| {
            ApiError::unavailable(
                "timeout",
                format!("the request took longer than {}ms", timeout.as_millis()),
                1,
            )
        })
}

/// Unknown paths: JSON errors under `/api/`, the web app (its page or its 404 page)
/// for a browser's GET elsewhere.
async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let api = path == "/api" || path.starts_with("/api/");
    if !api && (method == Method::GET || method == Method::HEAD) {
        return web::page(path, &headers);
    }
    ApiError::not_found("not_found", "no such endpoint; see docs/api.md").into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// Serves the API on an already bound listener until `shutdown` resolves, then closes
/// sockets (1001) and waits up to the configured grace for in-flight requests.
///
/// Logins and API keys are rate limited by the runtime's limiter
/// ([`Runtime::cache`]): in Redis when configured, so every node counts together.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let server = &runtime.config().server;
    let auth = Arc::new(auth::Auth::new(
        runtime.config(),
        Arc::clone(runtime.store()),
        runtime.cache(),
    ));
    // Revocations made on other nodes close this node's sockets too.
    tokio::spawn(auth::Auth::follow_revocations(Arc::downgrade(&auth)));
    let grace = server.shutdown_grace;
    let state = Arc::new(AppState {
        call_timeout: server.actor_call_timeout,
        max_body_bytes: server.max_body_bytes,
        max_records: server.max_records_per_request,
        runtime: Arc::clone(&runtime),
        auth,
        shutdown: shutdown_rx,
    });
    let app = router(state);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets and draining requests");
        let _ = shutdown_tx.send(true);
        let _ = done_tx.send(());
    };
    let limits = crate::listener::ConnectionLimits {
        header_read_timeout: server.header_read_timeout,
        max_per_ip: server.max_connections_per_ip,
        exempt: server.ip_limits_exempt.clone(),
    };
    let serving = crate::listener::serve(listener, app, limits, graceful);
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => Ok(()),
        _ = async {
            let _ = done_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; dropping remaining connections");
            Ok(())
        }
    }
}
