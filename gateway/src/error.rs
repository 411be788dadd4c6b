//! The one error type of the gateway: a status, a machine-readable code and a message,
//! rendered as `{"error": {"code", "message"}}`. Internal detail is logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warroom_engine::ValidationIssue;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `org_not_found`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Per-record problems (422 on ingest).
    pub issues: Vec<ValidationIssue>,
    /// Seconds after which a retry makes sense (429/503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[ValidationIssue]>::is_empty")]
    issues: &'a [ValidationIssue],
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            issues: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401: no valid credential.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: a valid credential that does not allow this.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 429 with a Retry-After of `retry_after`, rounded up to whole seconds.
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<String>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self {
            retry_after: Some(crate::auth::routes::retry_secs(retry_after).max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    /// 500 with a code; the message is logged, not sent.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(code, %message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "internal error; see the server log",
        )
    }

    /// A store failure: 503 when the database is unavailable, else 500. The driver's
    /// message is logged, not sent.
    pub fn from_store(error: warroom_storage::StoreError) -> Self {
        if error.is_transient() {
            tracing::warn!(error = %error, "database unavailable");
            Self::unavailable(
                "database_unavailable",
                "the database is unavailable; retry shortly",
                1,
            )
        } else {
            Self::internal("storage_error", error.to_string())
        }
    }

    /// 503 with a Retry-After.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 422 listing each invalid record.
    pub fn invalid_records(issues: Vec<ValidationIssue>) -> Self {
        let message = format!(
            "{} invalid record(s); nothing from this request was applied",
            issues
                .iter()
                .map(|i| i.index)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
        Self {
            issues,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_records", message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, message = %self.message, "request failed");
        }
        let body = Body {
            error: ErrorBody {
                code: self.code,
                message: &self.message,
                issues: &self.issues,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warroom\""),
            );
        }
        if let Some(secs) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<warroom_actors::push::directory::CallError> for ApiError {
    fn from(error: warroom_actors::push::directory::CallError) -> Self {
        match error {
            warroom_actors::push::directory::CallError::UnknownOrg => {
                ApiError::not_found("org_not_found", "no such organisation")
            }
            warroom_actors::push::directory::CallError::Unavailable => ApiError::unavailable(
                "org_unavailable",
                "the organisation's state is restarting or busy; retry shortly",
                1,
            ),
        }
    }
}

/// Longest plain-text rejection kept as an error message.
const MAX_REJECTION_BYTES: usize = 1024;

/// Middleware: rewrites an error answered in plain text by axum itself (an extractor's
/// rejection, such as a body over the limit, a missing content type or an unreadable
/// path) as our JSON error, so every 4xx/5xx has the same shape. Our own errors are JSON
/// already and pass through untouched, and so do the web app's pages ([`crate::web::AppPage`]).
pub async fn json_rejections(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The web app's own 404 page is HTML on purpose.
    let is_page = response.extensions().get::<crate::web::AppPage>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_page {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REJECTION_BYTES).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut rewritten = ApiError::new(status, code, text).into_response();
    // Keep what the original answer said besides its body (Allow, Retry-After, CORS…).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten
                .headers_mut()
                .entry(name)
                .or_insert_with(|| value.clone());
        }
    }
    rewritten
}
