//! The OpenAPI document of the REST surface (`GET /api/v1/openapi.json`, public) and an
//! interactive page that renders it (`GET /api/v1/docs`).
//!
//! Each handler carries its own `#[utoipa::path]`; [`ApiDoc`] lists them. A test in
//! `tests/api/e2e.rs` compares the document with the routes registered in `router.rs`, so a
//! new route without a description fails the build's tests.
//!
//! The page is served from this crate (HTML, a small script and a stylesheet, compiled in)
//! rather than by utoipa-redoc, -scalar or -rapidoc: all three load their viewer from a
//! CDN, so their pages do not work offline, and the CSP would have to allow that CDN.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{HttpMethod, OpenApi as Document, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Schemas that narrow an engine type for the document only.
pub mod params {
    #![allow(dead_code)] // Only their schemas are used.
    use utoipa::ToSchema;

    /// A role within an organisation: what users and API keys may be given
    /// (`warroom_engine::Role` without `platform_admin`).
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum OrgRole {
        /// Reads.
        Readonly,
        /// Reads and responds to crises.
        User,
        /// Also ingests.
        Manager,
        /// Also administers the organisation.
        Admin,
    }

    /// A table `POST /api/v1/reports/export/{format}` exports
    /// (`warroom_storage::archive::Table`).
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum ExportTable {
        /// Scored mentions, on event time.
        Mentions,
        /// Daily campaign reports, on their day.
        CampaignData,
        /// Closed KPI buckets, on bucket start.
        KpiBuckets,
    }

    /// A file format of `POST /api/v1/reports/export/{format}`.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum ExportFormatName {
        /// Apache Parquet (zstd).
        Parquet,
        /// CSV with a header row.
        Csv,
        /// One JSON array.
        Json,
        /// One JSON object per line.
        Ndjson,
    }
}

/// The error body every 4xx/5xx carries (`crate::error::ApiError`).
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used: `ApiError` renders the same shape.
pub struct ErrorResponse {
    /// The error.
    error: ErrorDetail,
}

/// `error` of [`ErrorResponse`].
#[derive(ToSchema)]
#[allow(dead_code)] // Schema only, as above.
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `org_not_found`.
    code: String,
    /// Human-readable message.
    message: String,
    /// Per-record problems (422 on ingest): `{index, field?, reason}`.
    issues: Option<Vec<serde_json::Value>>,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "War Room API",
        description = "Real-time campaign war room. Every route but health, auth/login, \
                       auth/refresh, openapi.json and docs needs a credential: an access \
                       token or API key as `Authorization: Bearer`, an API key as \
                       `X-API-Key`, or the access cookie (with `X-CSRF-Token` on changes). \
                       The organisation always comes from the credential. See docs/api.md \
                       and docs/security.md."
    ),
    paths(
        crate::rest::health,
        crate::rest::orgs,
        crate::rest::dashboard,
        crate::rest::mentions,
        crate::rest::mentions_sentiment,
        crate::rest::mentions_geo,
        crate::rest::mentions_influencers,
        crate::rest::mentions_trending,
        crate::rest::campaigns,
        crate::rest::campaign_performance,
        crate::rest::alerts,
        crate::rest::acknowledge,
        crate::rest::resolve,
        crate::ingest::mentions,
        crate::ingest::campaign_metrics,
        crate::export::export,
        crate::auth::routes::login,
        crate::auth::routes::refresh,
        crate::auth::routes::logout,
        crate::auth::routes::me,
        crate::auth::routes::change_password,
        crate::admin::list_users,
        crate::admin::create_user,
        crate::admin::update_user,
        crate::admin::list_api_keys,
        crate::admin::create_api_key,
        crate::admin::revoke_api_key,
        crate::admin::audit,
        crate::admin::list_connectors,
        crate::admin::overview,
        crate::webhooks::admin::list,
        crate::webhooks::admin::create,
        crate::webhooks::admin::delete,
        crate::webhooks::admin::deliveries,
        crate::webhooks::incoming::receive,
        crate::metrics::metrics,
        crate::data_mode::get,
        crate::data_mode::put,
        openapi_json,
        docs_page,
        docs_script,
        docs_style,
        crate::web::asset,
        crate::web::favicon,
    ),
    components(schemas(
        ErrorResponse,
        ErrorDetail,
        params::OrgRole,
        params::ExportFormatName,
        warroom_engine::Window,
        warroom_engine::Source,
        warroom_engine::SentimentClass,
        warroom_engine::Platform,
        warroom_engine::CrisisStatus,
        warroom_engine::DataMode
    )),
    modifiers(&Security, &WebSocket, &Corrections),
    security(("bearer" = []), ("api_key" = []), ("cookie" = []))
)]
pub struct ApiDoc;

/// Declares the credentials and adds the 401 every protected operation can answer.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or an API key (wrk_…)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("warroom_access"))),
        );
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                // `security(())` marks the public operations; the rest inherit the
                // document's requirement and can answer 401.
                let public = op.security.as_ref().is_some_and(|s| {
                    s.iter()
                        .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
                });
                if !public {
                    op.responses
                        .responses
                        .entry("401".into())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(
                                    "no credential, or an invalid, expired or revoked one \
                                 (WWW-Authenticate: Bearer); 429 with Retry-After when an \
                                 API key is over its hourly limit",
                                )
                                .into()
                        });
                }
            }
        }
    }
}

/// The WebSocket route: described here rather than on its handler (`ws.rs`), whose
/// signature is an upgrade, not a request/response pair.
struct WebSocket;

impl Modify for WebSocket {
    fn modify(&self, doc: &mut Document) {
        let query = |name: &str, schema: ObjectBuilder, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(schema))
                .description(Some(description))
                .build()
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let operation = OperationBuilder::new()
            .tag("websocket")
            .summary(Some(
                "WebSocket push (docs/protocol.md): authenticates with a credential on the \
                 upgrade, or with an `auth` command as its first frame",
            ))
            .parameter(query(
                "org",
                string().pattern(Some("^[a-z0-9_-]{1,64}$")),
                "subscribe at once (needs a credential on the upgrade); must be the credential's organisation",
            ))
            .parameter(query(
                "channels",
                string(),
                "comma-separated channels (default: all)",
            ))
            .parameter(query(
                "last_seq",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0)),
                "resume after this sequence number",
            ))
            .parameter(query("epoch", string(), "the epoch of last_seq"))
            .response("101", ResponseBuilder::new().description("switching protocols"))
            .response(
                "400",
                ResponseBuilder::new().description("not a WebSocket upgrade (websocket_required)"),
            )
            .response(
                "401",
                ResponseBuilder::new()
                    .description("invalid credential, or ?org= without a credential"),
            )
            .build();
        doc.paths
            .add_path_operation("/api/v1/ws", vec![HttpMethod::Get], operation);
    }
}

/// What the derive macros get wrong, set right after they ran.
struct Corrections;

impl Modify for Corrections {
    fn modify(&self, doc: &mut Document) {
        // utoipa-gen 5.5 writes `#[schema(min_properties = n)]` as `maxProperties`, so
        // the one object that needs at least one property gets it here.
        let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
        if let Some(RefOr::T(Schema::Object(update_user))) = schemas.get_mut("UpdateUser") {
            update_user.min_properties = Some(1);
            update_user.max_properties = None;
        }
    }
}

/// The document as JSON, built once.
pub fn document_json() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| {
        // Cannot fail: the document is plain data built from literals.
        serde_json::to_vec(&ApiDoc::openapi()).expect("the OpenAPI document serialises")
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "docs",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3.1 JSON", content_type = "application/json")),
    security(())
)]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

/// The docs page's Content-Security-Policy: its own script and stylesheet, and requests
/// to this origin only (the global policy allows no script at all).
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                        connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                        base-uri 'none'; form-action 'none'";

fn docs_asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/v1/docs`: the API reference, Swagger UI over this document (vendored in
/// `gateway/web/vendor/swagger-ui-dist-*`, served from the web app's assets).
#[utoipa::path(
    get,
    path = "/api/v1/docs",
    tag = "docs",
    summary = "Interactive API reference, Swagger UI (works offline)",
    responses((status = 200, description = "HTML page", content_type = "text/html")),
    security(())
)]
pub async fn docs_page() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| {
        include_str!("openapi/docs.html").replace("{{assets}}", &crate::web::asset_prefix())
    });
    docs_asset("text/html; charset=utf-8", page.as_str())
}

/// `GET /api/v1/docs/docs.js`: the page's script (starts Swagger UI).
#[utoipa::path(
    get,
    path = "/api/v1/docs/docs.js",
    tag = "docs",
    summary = "Script of the docs page",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript")),
    security(())
)]
pub async fn docs_script() -> Response {
    docs_asset(
        "text/javascript; charset=utf-8",
        include_str!("openapi/docs.js"),
    )
}

/// `GET /api/v1/docs/docs.css`: the page's stylesheet.
#[utoipa::path(
    get,
    path = "/api/v1/docs/docs.css",
    tag = "docs",
    summary = "Stylesheet of the docs page",
    responses((status = 200, description = "CSS", content_type = "text/css")),
    security(())
)]
pub async fn docs_style() -> Response {
    docs_asset("text/css; charset=utf-8", include_str!("openapi/docs.css"))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_slice(super::document_json()).unwrap()
    }

    #[test]
    fn the_audit_cursor_pattern_is_the_one_the_store_reads() {
        let doc = document();
        let cursor = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "cursor")
            .unwrap()
            .clone();
        assert_eq!(
            cursor["schema"]["pattern"],
            warroom_storage::accounts::AuditCursor::PATTERN
        );
    }

    #[test]
    fn a_user_update_needs_at_least_one_property() {
        let doc = document();
        let update = &doc["components"]["schemas"]["UpdateUser"];
        assert_eq!(update["minProperties"], 1, "{update}");
        assert!(update.get("maxProperties").is_none(), "{update}");
    }

    #[test]
    fn every_websocket_parameter_has_a_schema() {
        let doc = document();
        let parameters = doc["paths"]["/api/v1/ws"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert_eq!(parameters.len(), 4);
        for parameter in parameters {
            assert!(parameter["schema"].is_object(), "{parameter}");
        }
    }
}
