//! The HTTP side every connector shares: one `reqwest` client with timeouts, the
//! per-connector rate limit (counted in the shared limiter, so several nodes share the
//! vendor's quota), retries with exponential backoff and jitter that honour
//! `Retry-After`, a cap on body size, and the classification of failures.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use warroom_engine::connectors::ConnectorsConfig;
use warroom_engine::OrgId;
use warroom_storage::cache::{read_through, Cache, RateLimiter};

use super::backoff::{parse_retry_after, retry_delay};
use super::error::{excerpt, ConnectorError};

/// A successful response, read in full.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status (2xx).
    pub status: StatusCode,
    /// Headers (usage headers are read from here).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Turns a non-2xx response the generic rules do not cover into a vendor-specific error
/// (e.g. Meta's throttling codes in a 400 body); `None` keeps the generic one.
pub type Classify = dyn Fn(StatusCode, &HeaderMap, &[u8]) -> Option<ConnectorError> + Send + Sync;

/// The rate limit of one connector.
#[derive(Clone)]
pub struct RateLimit {
    /// The shared limiter (Redis or in process).
    pub limiter: Arc<dyn RateLimiter>,
    /// The counter's key, per organisation and vendor.
    pub key: String,
    /// Requests per window.
    pub limit: u64,
    /// Window.
    pub window: Duration,
}

/// Where a connector's vendor responses are cached (the seed's per-vendor TTLs), so
/// that several nodes polling the same account share one vendor call per TTL.
#[derive(Clone)]
pub struct ResponseCache {
    /// The shared cache (Redis or in process).
    pub cache: Arc<dyn Cache>,
    /// The organisation whose entries these are (invalidated with it).
    pub org: OrgId,
    /// How long a response is reused.
    pub ttl: Duration,
}

/// A cached successful response: its body and its `x-*` headers (usage reports).
#[derive(Serialize, Deserialize)]
struct CachedResponse {
    body: String,
    headers: Vec<(String, String)>,
}

/// One connector's HTTP client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    rate: RateLimit,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_body: usize,
    cache: Option<ResponseCache>,
}

impl Http {
    /// A client with the shared settings and this connector's rate limit.
    pub fn new(settings: &ConnectorsConfig, rate: RateLimit) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            // Redirects could carry the Authorization header to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            rate,
            max_attempts: settings.max_attempts,
            backoff_initial: settings.backoff_initial,
            backoff_max: settings.backoff_max,
            max_body: settings.max_response_bytes,
            cache: None,
        })
    }

    /// Caches the responses of [`Http::send_cached`] in `cache`.
    pub fn with_cache(mut self, cache: ResponseCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// As [`Http::send`], but a successful JSON response is kept in the response cache
    /// under `key` (which must name everything the request asks for) and reused while
    /// fresh. Errors and unparsable bodies are never cached.
    pub async fn send_cached(
        &self,
        key: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
        classify: &Classify,
    ) -> Result<HttpResponse, ConnectorError> {
        let Some(cache) = &self.cache else {
            return self.send(build, classify).await;
        };
        let cached: CachedResponse =
            read_through(cache.cache.as_ref(), &cache.org, key, cache.ttl, || async {
                let response = self.send(build, classify).await?;
                parse_json(&response.body)?;
                Ok::<_, ConnectorError>(CachedResponse {
                    body: String::from_utf8_lossy(&response.body).into_owned(),
                    headers: response
                        .headers
                        .iter()
                        .filter(|(name, _)| name.as_str().starts_with("x-"))
                        .filter_map(|(name, value)| {
                            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                        })
                        .collect(),
                })
            })
            .await?;
        let mut headers = HeaderMap::new();
        for (name, value) in cached.headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        Ok(HttpResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(cached.body),
        })
    }

    /// The underlying client, to build requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes, retrying what may succeed on a retry. A delay
    /// longer than `backoff_max` (a long `Retry-After`, an exhausted local rate limit)
    /// ends the attempt with the error, whose `retry_after` the caller honours before
    /// its next poll. A 401 is returned at once: the caller refreshes its token.
    pub async fn send(
        &self,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
        classify: &Classify,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.acquire().await?;
            let error = match self.once(build(&self.client), classify).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if !error.retryable() || attempt >= self.max_attempts {
                return Err(error);
            }
            let delay = retry_delay(
                self.backoff_initial,
                self.backoff_max,
                attempt,
                error.retry_after(),
            );
            if delay > self.backoff_max {
                return Err(error);
            }
            tracing::debug!(%error, attempt, delay_ms = delay.as_millis() as u64, "vendor call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts one call against the rate limit, waiting for the window when that is short.
    async fn acquire(&self) -> Result<(), ConnectorError> {
        loop {
            let decision = self
                .rate
                .limiter
                .hit(&self.rate.key, self.rate.limit, self.rate.window)
                .await;
            if decision.allowed {
                return Ok(());
            }
            if decision.retry_after > self.backoff_max {
                return Err(ConnectorError::RateLimited(decision.retry_after));
            }
            tokio::time::sleep(decision.retry_after.max(Duration::from_millis(10))).await;
        }
    }

    async fn once(
        &self,
        request: reqwest::RequestBuilder,
        classify: &Classify,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body as u64)
        {
            return Err(ConnectorError::Malformed(format!(
                "body larger than {} bytes",
                self.max_body
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(ConnectorError::Malformed(format!(
                    "body larger than {} bytes",
                    self.max_body
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(HttpResponse {
                status,
                headers,
                body: Bytes::from(body),
            });
        }
        if let Some(error) = classify(status, &headers, &body) {
            return Err(error);
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let detail = excerpt(&body, 300);
        Err(match status.as_u16() {
            401 => ConnectorError::Unauthorized(detail),
            429 => ConnectorError::Throttled {
                retry_after,
                detail,
            },
            code @ 500..=599 => ConnectorError::Server {
                status: code,
                detail,
                retry_after,
            },
            code => ConnectorError::Client {
                status: code,
                detail,
            },
        })
    }
}

fn transport(error: reqwest::Error) -> ConnectorError {
    // reqwest's message names the URL; ours never carry credentials (tokens go in headers
    // or bodies), so it is safe to keep.
    if error.is_timeout() {
        ConnectorError::Timeout(error.to_string())
    } else {
        ConnectorError::Transport(format!("{error}{}", source_chain(&error)))
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// No vendor-specific classification.
pub fn generic(_: StatusCode, _: &HeaderMap, _: &[u8]) -> Option<ConnectorError> {
    None
}

/// Parses a JSON body, calling anything unparsable (truncated included) malformed.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ConnectorError> {
    serde_json::from_slice(body)
        .map_err(|e| ConnectorError::Malformed(format!("{e} in {}", excerpt(body, 120))))
}
