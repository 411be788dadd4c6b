//! Short-lived access tokens renewed with a refresh token (Mentionlytics v2, Google
//! OAuth2): the current one is kept in memory until shortly before it expires.

use std::time::{Duration, Instant};

use warroom_engine::connectors::Secret;

use super::error::{excerpt, ConnectorError};
use super::http::{parse_json, Http};
use super::lenient;

/// Renew this long before the announced expiry, so a request never leaves with a token
/// that expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A token and when it stops being used.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub value: Secret,
    /// When it is renewed.
    pub renew_at: Instant,
}

impl AccessToken {
    /// Whether it is still good at `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        now < self.renew_at
    }
}

/// What a token endpoint answered.
#[derive(Debug)]
pub struct Grant {
    /// The new access token.
    pub token: AccessToken,
    /// A rotated refresh token, when the endpoint rotates them.
    pub refresh_token: Option<Secret>,
}

/// Posts the form `fields` to `url` and reads `access_token` (or `token` /
/// `bearer_token`), `expires_in` (seconds; `default_ttl` when absent) and an optional
/// rotated `refresh_token`. A 400/401/403 means the refresh token is no good.
pub async fn refresh(
    http: &Http,
    url: &str,
    fields: &[(&str, &str)],
    default_ttl: Duration,
) -> Result<Grant, ConnectorError> {
    let form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let url = url.to_owned();
    let build = move |client: &reqwest::Client| client.post(&url).form(&form);
    let response = http
        .send(&build, &|status, _, body| {
            matches!(status.as_u16(), 400 | 401 | 403).then(|| {
                ConnectorError::Unauthorized(format!(
                    "token endpoint refused the refresh token ({status}): {}",
                    excerpt(body, 200)
                ))
            })
        })
        .await?;
    let body = parse_json(&response.body)?;
    let value = lenient::first(&body, &["access_token", "token", "bearer_token"])
        .and_then(lenient::text)
        .ok_or_else(|| ConnectorError::Malformed("token response without access_token".into()))?;
    let ttl = lenient::first(&body, &["expires_in"])
        .and_then(lenient::count)
        .map(Duration::from_secs)
        .unwrap_or(default_ttl);
    let refresh_token = lenient::first(&body, &["refresh_token"])
        .and_then(lenient::text)
        .map(Secret::new);
    Ok(Grant {
        token: AccessToken {
            value: Secret::new(value),
            renew_at: Instant::now() + ttl.saturating_sub(EXPIRY_MARGIN),
        },
        refresh_token,
    })
}
