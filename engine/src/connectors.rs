//! Configuration of the live connectors (issue 6): `[connectors]` holds what every
//! organisation shares (endpoints, API versions, schedules, rate limits, retry and
//! circuit-breaker settings); `[orgs.connectors.*]` holds one organisation's accounts and
//! credentials. Credentials are [`Secret`]s: never logged, never serialised.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A credential. Its `Debug` and `Serialize` show `***`, so it never reaches a log, the
/// API or `warroom config`. In the configuration, `"env:NAME"` reads it from the
/// environment variable `NAME` when the configuration is loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value` as is.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it to the vendor.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.strip_prefix("env:") {
            Some(name) => std::env::var(name).map(Secret).map_err(|_| {
                serde::de::Error::custom(format!(
                    "the environment variable {name} named by a credential is not set"
                ))
            }),
            None => Ok(Secret(raw)),
        }
    }
}

/// `[connectors]`: shared by every organisation's connectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Time allowed for one HTTP request, body included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Time allowed to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest accepted response body (bytes); a larger one is a malformed response.
    pub max_response_bytes: usize,
    /// Attempts per request (first try included) before the poll counts as failed.
    pub max_attempts: u32,
    /// First retry delay (doubled per attempt, with full jitter).
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Largest retry delay, and the longest `Retry-After` honoured inside one poll
    /// (a longer one ends the poll; the next poll waits for it).
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Consecutive failed polls that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before one half-open probe.
    #[serde(with = "humantime_serde")]
    pub breaker_cool_down: Duration,
    /// Mentionlytics.
    pub mentionlytics: MentionlyticsSettings,
    /// Meta Marketing API.
    pub meta: MetaSettings,
    /// Google Ads API.
    pub google_ads: GoogleAdsSettings,
}

/// `[connectors.mentionlytics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentionlyticsSettings {
    /// API v2 base URL (the mentions endpoint is `{base_url}/mentions`).
    pub base_url: String,
    /// Where the refresh token is exchanged for a one-hour access token.
    pub token_url: String,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Requests allowed per `rate_window` (seed: 100 per minute).
    pub rate_limit: u64,
    /// The rate-limit window.
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    /// Mentions per page.
    pub per_page: u32,
    /// Pages read per poll at most (the rest waits for the next poll).
    pub max_pages: u32,
    /// How far back the first poll of an organisation reaches (no stored cursor yet).
    #[serde(with = "humantime_serde")]
    pub initial_lookback: Duration,
}

/// `[connectors.meta]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// Graph API base URL, without the version.
    pub base_url: String,
    /// Graph API version, e.g. `v25.0`.
    pub api_version: String,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Calls allowed per `rate_window` (seed: 200 per hour).
    pub rate_limit: u64,
    /// The rate-limit window.
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    /// Days of insights read per poll (today included): platforms restate recent days.
    pub lookback_days: u32,
    /// Pages read per poll at most.
    pub max_pages: u32,
    /// Usage (percent, from `x-app-usage` / `x-business-use-case-usage`) at which the
    /// connector stops calling until the next poll.
    pub usage_throttle_percent: u32,
}

/// `[connectors.google_ads]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleAdsSettings {
    /// API base URL, without the version.
    pub base_url: String,
    /// API version, e.g. `v26`.
    pub api_version: String,
    /// OAuth2 token endpoint (refresh-token grant).
    pub token_url: String,
    /// Time between polls.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Requests allowed per `rate_window`.
    pub rate_limit: u64,
    /// The rate-limit window.
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    /// Days of metrics read per poll (today included).
    pub lookback_days: u32,
}

/// `[orgs.connectors]`: the live sources one organisation has; absent ones do not run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConnectors {
    /// Mentionlytics account.
    #[serde(default)]
    pub mentionlytics: Option<MentionlyticsAccount>,
    /// Meta ad account.
    #[serde(default)]
    pub meta: Option<MetaAccount>,
    /// Google Ads account.
    #[serde(default)]
    pub google_ads: Option<GoogleAdsAccount>,
}

impl OrgConnectors {
    /// Whether any connector is configured.
    pub fn any(&self) -> bool {
        self.mentionlytics.is_some() || self.meta.is_some() || self.google_ads.is_some()
    }
}

/// `[orgs.connectors.mentionlytics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentionlyticsAccount {
    /// Refresh token (renews the one-hour access token).
    pub refresh_token: Secret,
    /// A current access token, if one is at hand (else one is fetched first).
    #[serde(default)]
    pub access_token: Option<Secret>,
}

/// `[orgs.connectors.meta]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaAccount {
    /// Ad account, `act_<id>`.
    pub ad_account_id: String,
    /// A (long-lived or system-user) access token.
    pub access_token: Secret,
}

/// `[orgs.connectors.google_ads]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleAdsAccount {
    /// Customer id, digits only.
    pub customer_id: String,
    /// Manager account the request goes through, digits only.
    #[serde(default)]
    pub login_customer_id: Option<String>,
    /// Developer token.
    pub developer_token: Secret,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: Secret,
    /// OAuth2 refresh token.
    pub refresh_token: Secret,
}

impl ConnectorsConfig {
    /// Checks what the types alone cannot; `Err((field, reason))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let invalid = |field: &str, reason: &str| Err((field.to_owned(), reason.to_owned()));
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return invalid(
                "connectors.request_timeout/connect_timeout",
                "must be positive",
            );
        }
        if self.max_attempts == 0 || self.breaker_failures == 0 || self.max_response_bytes == 0 {
            return invalid(
                "connectors.max_attempts/breaker_failures/max_response_bytes",
                "must be positive",
            );
        }
        if self.backoff_initial.is_zero() || self.backoff_initial > self.backoff_max {
            return invalid(
                "connectors.backoff_initial",
                "must be positive and at most connectors.backoff_max",
            );
        }
        let schedules = [
            (
                "connectors.mentionlytics",
                &self.mentionlytics.base_url,
                self.mentionlytics.poll_interval,
                self.mentionlytics.rate_limit,
                self.mentionlytics.rate_window,
            ),
            (
                "connectors.meta",
                &self.meta.base_url,
                self.meta.poll_interval,
                self.meta.rate_limit,
                self.meta.rate_window,
            ),
            (
                "connectors.google_ads",
                &self.google_ads.base_url,
                self.google_ads.poll_interval,
                self.google_ads.rate_limit,
                self.google_ads.rate_window,
            ),
        ];
        for (section, base_url, poll, limit, window) in schedules {
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                return invalid(
                    &format!("{section}.base_url"),
                    "must be an http:// or https:// URL",
                );
            }
            if poll.is_zero() || limit == 0 || window.is_zero() {
                return invalid(
                    &format!("{section}.poll_interval/rate_limit/rate_window"),
                    "must be positive",
                );
            }
        }
        if self.mentionlytics.per_page == 0
            || self.mentionlytics.per_page > 10_000
            || self.mentionlytics.max_pages == 0
        {
            return invalid(
                "connectors.mentionlytics.per_page/max_pages",
                "per_page in 1..=10000 and max_pages positive",
            );
        }
        if self.meta.lookback_days == 0 || self.google_ads.lookback_days == 0 {
            return invalid("connectors.*.lookback_days", "must be positive");
        }
        if self.meta.max_pages == 0 || !(1..=100).contains(&self.meta.usage_throttle_percent) {
            return invalid(
                "connectors.meta.max_pages/usage_throttle_percent",
                "max_pages positive, usage_throttle_percent in 1..=100",
            );
        }
        Ok(())
    }
}

impl OrgConnectors {
    /// Checks the accounts; `Err((field, reason))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if let Some(meta) = &self.meta {
            if !meta.ad_account_id.starts_with("act_") || !digits(&meta.ad_account_id[4..]) {
                return Err((
                    "orgs.connectors.meta.ad_account_id".into(),
                    "must be act_ followed by digits".into(),
                ));
            }
        }
        if let Some(google) = &self.google_ads {
            if !digits(&google.customer_id)
                || google
                    .login_customer_id
                    .as_deref()
                    .is_some_and(|l| !digits(l))
            {
                return Err((
                    "orgs.connectors.google_ads.customer_id/login_customer_id".into(),
                    "must be digits only (no dashes)".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn connector_settings_are_checked() {
        let defaults = crate::Config::defaults().connectors;
        assert!(defaults.check().is_ok());
        assert_eq!(defaults.mentionlytics.rate_limit, 100);
        assert_eq!(defaults.mentionlytics.rate_window, Duration::from_secs(60));
        assert_eq!(defaults.meta.rate_limit, 200);
        assert_eq!(defaults.meta.rate_window, Duration::from_secs(3600));
        assert_eq!(defaults.meta.api_version, "v25.0");
        assert_eq!(defaults.google_ads.api_version, "v26");
        let mut bad = defaults.clone();
        bad.meta.rate_limit = 0;
        assert!(bad.check().unwrap_err().0.contains("connectors.meta"));
        let mut bad = defaults.clone();
        bad.google_ads.base_url = "ftp://example".into();
        assert!(bad.check().unwrap_err().0.contains("google_ads.base_url"));
        let mut bad = defaults.clone();
        bad.backoff_initial = Duration::from_secs(120);
        assert!(bad.check().unwrap_err().0.contains("backoff_initial"));
        let mut bad = defaults;
        bad.mentionlytics.per_page = 20_000;
        assert!(bad.check().unwrap_err().0.contains("per_page"));
        let google = OrgConnectors {
            google_ads: Some(GoogleAdsAccount {
                customer_id: "123-456-7890".into(),
                login_customer_id: None,
                developer_token: Secret::new("d"),
                client_id: "c".into(),
                client_secret: Secret::new("s"),
                refresh_token: Secret::new("r"),
            }),
            ..Default::default()
        };
        assert!(google.check().unwrap_err().0.contains("customer_id"));
    }

    #[test]
    fn secrets_read_from_the_environment() {
        std::env::set_var("WARROOM_TEST_SECRET_XYZ", "from-env");
        let secret: Secret = serde_json::from_str("\"env:WARROOM_TEST_SECRET_XYZ\"").unwrap();
        assert_eq!(secret.expose(), "from-env");
        let err = serde_json::from_str::<Secret>("\"env:WARROOM_TEST_SECRET_MISSING\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("WARROOM_TEST_SECRET_MISSING"), "{err}");
    }
}
