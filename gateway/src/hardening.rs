//! HTTP hardening: security headers on every response and the CORS allow-list, both from
//! `[http]` in the configuration.

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use warroom_engine::config::HttpConfig;

/// Adds the security headers and, when origins are configured, CORS.
pub fn apply(router: Router, http: &HttpConfig) -> Router {
    let mut router = router;
    let mut headers: Vec<(HeaderName, HeaderValue)> = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    match HeaderValue::from_str(&http.content_security_policy) {
        Ok(csp) => headers.push((header::CONTENT_SECURITY_POLICY, csp)),
        Err(_) => {
            tracing::warn!("http.content_security_policy is not a valid header value; not sent")
        }
    }
    if http.hsts {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    let origins: Vec<HeaderValue> = http
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static(crate::auth::CSRF_HEADER),
                    HeaderName::from_static(crate::auth::API_KEY_HEADER),
                ])
                .allow_credentials(true)
                .max_age(std::time::Duration::from_secs(600)),
        );
    }
    router
}
