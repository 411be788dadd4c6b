//! The whole HTTP surface: which handler answers which path, and the layers around them
//! (authentication, timeout, body limit, JSON rejections, security headers).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;

use crate::error::{self, ApiError};
use crate::state::AppState;
use crate::{
    admin, auth, data_mode, export, extract, hardening, ingest, metrics, openapi, rest, web,
    webhooks, ws,
};

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
            extract::require_auth,
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
