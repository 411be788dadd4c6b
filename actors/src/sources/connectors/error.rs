//! What can go wrong talking to a vendor, classified by what the connector does about it.

use std::time::Duration;

/// A failed request or poll.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// No answer in time (retried).
    #[error("timed out: {0}")]
    Timeout(String),
    /// Connection refused, reset, or the body broke off (retried).
    #[error("transport: {0}")]
    Transport(String),
    /// The vendor asks us to slow down: 429 or a throttling error code (retried after
    /// `retry_after` or the backoff).
    #[error("throttled by the vendor{}: {detail}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Throttled {
        /// What the vendor asked for (`Retry-After`, or its own estimate).
        retry_after: Option<Duration>,
        /// The vendor's words.
        detail: String,
    },
    /// The token is missing, expired or revoked (refreshed once, then a failure).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A 5xx (retried).
    #[error("server error {status}: {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Body excerpt.
        detail: String,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: the request is wrong; retrying will not help.
    #[error("request refused {status}: {detail}")]
    Client {
        /// HTTP status.
        status: u16,
        /// Body excerpt.
        detail: String,
    },
    /// The response is not what the documented shape allows (not JSON, truncated,
    /// too large, a required field of the envelope missing).
    #[error("malformed response: {0}")]
    Malformed(String),
    /// Our own rate limit for this vendor is used up for longer than one poll may wait.
    #[error("local rate limit reached; next call in {}s", .0.as_secs())]
    RateLimited(Duration),
}

impl ConnectorError {
    /// Whether trying the same request again may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Timeout(_)
                | ConnectorError::Transport(_)
                | ConnectorError::Throttled { .. }
                | ConnectorError::Server { .. }
        )
    }

    /// The delay the vendor asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Throttled { retry_after, .. }
            | ConnectorError::Server { retry_after, .. } => *retry_after,
            ConnectorError::RateLimited(wait) => Some(*wait),
            _ => None,
        }
    }

    /// A short name for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::Timeout(_) => "timeout",
            ConnectorError::Transport(_) => "transport",
            ConnectorError::Throttled { .. } => "throttled",
            ConnectorError::Unauthorized(_) => "unauthorized",
            ConnectorError::Server { .. } => "server",
            ConnectorError::Client { .. } => "client",
            ConnectorError::Malformed(_) => "malformed",
            ConnectorError::RateLimited(_) => "rate_limited",
        }
    }
}

/// At most `max` characters of a response body, for error messages (never the request,
/// which may hold credentials).
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}
